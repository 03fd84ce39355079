// One ping-muc, one Prosody A with two VirtualHosts (a.test and a2.test, each with its own
// module config, secrets and stanza API), users of both in rooms on B: a kill -9 of B heals
// the users of both hosts, each through its own stanza API. ping-muc picks a request's keys by
// its ping-muc-host header, so a.test's key cannot post events for a2.test.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretKey, sign } from '../../lib/domain/signature';
import { batch, kinds, ping } from './batch';
import { callApi } from './http';
import { Stack } from './stack';
import { DOMAINS } from '../../harness/testbed';
import { isNotification, type User } from '../../harness/users';

const ROOM1 = `room1@${DOMAINS.mucB}`;
const ROOM2 = `room2@${DOMAINS.mucB}`;

describe('two VirtualHosts on A, one ping-muc', () => {
  let stack: Stack;
  let alice: User, zoe: User;

  /** POSTs one batch to ping-muc directly, signed with `secret`, naming `host` in ping-muc-host. */
  const post = async (secret: string, host: string, events: object[]) => {
    const body = JSON.stringify({ v: 1, events });
    const res = await fetch(stack.service.eventsUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'ping-muc-host': host, ...sign(secretKey(secret), body) },
      body,
    });
    return { status: res.status, body: await res.text() };
  };

  beforeAll(async () => {
    stack = await Stack.start({ aSecondHost: true, delaySeconds: 2, rechecks: 1, recheckBaseSeconds: 1 });
    [alice, zoe] = await Promise.all([stack.user('alice'), stack.user('zoe', 'e2e', DOMAINS.a2)]);
    await alice.join(ROOM1, 'Alice');
    await zoe.join(ROOM1, 'Zoe');
    await zoe.join(ROOM2, 'Zoe');
    await stack.waitForJoins(DOMAINS.mucB, (j) => j.length === 1);
    await stack.waitForJoins(DOMAINS.mucB, (j) => j.length === 2, 10_000, DOMAINS.a2);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('keeps each host’s joins under the host named in their ping-muc-host', async () => {
    const hosts = new Set(stack.events.events.map((e) => e.host));
    expect(hosts).toEqual(new Set([DOMAINS.a, DOMAINS.a2]));
    expect((await stack.joins(DOMAINS.mucB)).map((j) => j.user)).toEqual([alice.jid]);
    expect((await stack.joins(DOMAINS.mucB, DOMAINS.a2)).map((j) => [j.user, j.room]).sort()).toEqual(
      [
        [zoe.jid, ROOM1],
        [zoe.jid, ROOM2],
      ].sort(),
    );
  });

  it('changes nothing for an event of a2.test signed with a.test’s key', async () => {
    const seq = Date.now() * 1000 + 999;
    const leave = { type: 'leave', seq, host: DOMAINS.a2, user: zoe.jid, room: ROOM1 };
    const end = { type: 'session-end', seq: seq + 1, host: DOMAINS.a2, user: zoe.jid };
    // Naming a2.test: a.test's key is not a2.test's.
    expect((await post(stack.bed.webhookSecret, DOMAINS.a2, [leave, end])).status).toBe(401);
    // Naming a.test (its key is good): events for a2.test are refused, one by one.
    const asA = await post(stack.bed.webhookSecret, DOMAINS.a, [leave, end]);
    expect(asA.status).toBe(200);
    expect(JSON.parse(asA.body)).toMatchObject({ ok: true, applied: 0 });
    expect(JSON.parse(asA.body).refused).toHaveLength(2);
    // A start of a2.test too: not with a.test's key.
    const start = { type: 'host-start', seq: seq + 2, host: DOMAINS.a2 };
    expect((await post(stack.bed.webhookSecret, DOMAINS.a2, [start])).status).toBe(401);
    expect(await stack.joins(DOMAINS.mucB, DOMAINS.a2)).toHaveLength(2);
    // The same events under a2.test's own key would apply: the refusal was the key's.
    expect(
      (await post(stack.bed.webhookSecret2, DOMAINS.a2, [{ ...leave, seq: seq + 3, room: `x@${DOMAINS.mucB}` }]))
        .status,
    ).toBe(200);
  });

  it('refuses a2.test’s users at a.test’s stanza API: a2.test holds keys of its own', async () => {
    const body = batch([ping('z1', zoe.jid, `${ROOM1}/Zoe`)]);
    // a.test's key at a.test's endpoint: the batch is a2.test's, whose module does not hold that key.
    for (const host of [undefined, DOMAINS.a2]) {
      const headers = { ...sign(secretKey(stack.bed.apiSecret), body), ...(host && { 'ping-muc-host': host }) };
      const res = await callApi(stack.bed.apiUrl, stack.bed.apiSecret, body, headers);
      expect({ host, status: res.status, answer: kinds(res.body) }).toEqual({
        host,
        status: 200,
        answer: [['z1', 'refused 403']],
      });
    }
    // a2.test's key at a.test's endpoint: not a.test's key.
    expect((await callApi(stack.bed.apiUrl, stack.bed.apiSecret2, body)).status).toBe(401);
    expect(zoe.notifications()).toEqual([]);
  });

  it('heals the users of both hosts after a kill -9 of B through each host’s stanza API', async () => {
    await stack.bed.b.kill();
    await stack.bed.b.start();
    await Promise.all([alice, zoe].map((u) => u.waitFor(isNotification, 20_000)));
    await zoe.waitFor((el) => isNotification(el) && el.attrs.from === `${ROOM2}/Zoe`, 10_000);
    await new Promise((r) => setTimeout(r, 1000)); // room for (unwanted) duplicates
    expect(alice.notifications().map((n) => n.el.attrs.from)).toEqual([`${ROOM1}/Alice`]);
    expect(
      zoe
        .notifications()
        .map((n) => n.el.attrs.from)
        .sort(),
    ).toEqual([`${ROOM1}/Zoe`, `${ROOM2}/Zoe`]);
    expect(stack.api.pings().map((c) => c.from)).toEqual([alice.jid]);
    expect(stack.api2!.pings().map((c) => c.from)).toEqual([zoe.jid, zoe.jid]);
    expect(stack.api2!.notifies()).toHaveLength(2);
    stack.expectNoLeaves([
      [alice, ROOM1],
      [zoe, ROOM1],
      [zoe, ROOM2],
    ]);
  });
});
