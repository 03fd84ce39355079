// Two VirtualHosts on A with one shared configuration, as most operators write it: the module
// in the global modules_enabled, one pair of keys at the top level. ping-muc serves it without a
// host registry (one API URL, a.test's, and one fixed key for both hosts), and with a registry and
// a master key (one server listing both hosts: the pair derived for that server, as on AWS). A
// kill -9 of the MUC server B heals the users of both hosts: a.test's endpoint runs a2.test's
// batches as a2.test, whose module holds the very same API key (prosody/README.md, "Several
// VirtualHosts").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batch, kinds, ping } from './batch';
import { callApi } from './http';
import { Stack } from './stack';
import { DOMAINS, SERVERS } from '../../harness/testbed';
import { isNotification, type User } from '../../harness/users';

const ROOM1 = `room1@${DOMAINS.mucB}`;
const ROOM2 = `room2@${DOMAINS.mucB}`;

describe.each([
  { registry: false, title: 'no host registry' },
  { registry: true, title: 'one registry server listing both hosts' },
])('two VirtualHosts, the module enabled globally with one pair of keys, $title', ({ registry }) => {
  let stack: Stack;
  let alice: User, dave: User, zoe: User, yan: User;

  beforeAll(async () => {
    stack = await Stack.start({
      aSecondHost: true,
      sharedConfig: true,
      registry,
      delaySeconds: 2,
      rechecks: 1,
      recheckBaseSeconds: 1,
    });
    [alice, dave, zoe, yan] = await Promise.all([
      stack.user('alice'),
      stack.user('dave'),
      stack.user('zoe', 'e2e', DOMAINS.a2),
      stack.user('yan', 'e2e', DOMAINS.a2),
    ]);
    await alice.join(ROOM1, 'Alice');
    await dave.join(ROOM2, 'Dave');
    await zoe.join(ROOM1, 'Zoe');
    await zoe.join(ROOM2, 'Zoe');
    await yan.join(ROOM2, 'Yan');
    await stack.waitForJoins(DOMAINS.mucB, (j) => j.length === 2);
    await stack.waitForJoins(DOMAINS.mucB, (j) => j.length === 3, 10_000, DOMAINS.a2);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('serves both hosts at one API URL with one pair of keys', () => {
    expect(stack.api2).toBeUndefined();
    if (registry) {
      expect(stack.registry).toEqual([{ id: SERVERS.a, hosts: [DOMAINS.a, DOMAINS.a2], apiUrl: stack.api.url }]);
      expect(stack.service.hosts.multiHost).toBe(true);
    } else {
      expect(stack.registryFile).toBeUndefined();
      expect(stack.service.hosts.multiHost).toBe(false);
    }
    // Both hosts' events were accepted under the one webhook key.
    expect(new Set(stack.events.events.map((e) => e.host))).toEqual(new Set([DOMAINS.a, DOMAINS.a2]));
  });

  it('serves a2.test’s users at a.test’s stanza API run as a2.test', async () => {
    const res = await callApi(stack.bed.apiUrl, stack.bed.apiSecret, batch([ping('z1', zoe.jid, `${ROOM1}/Zoe`)]));
    expect({ status: res.status, answer: kinds(res.body) }).toEqual({ status: 200, answer: [['z1', 'iq result']] });
    expect(zoe.notifications()).toEqual([]);
  });

  it('heals the users of both hosts after a kill -9 of B telling each ghost once', async () => {
    await stack.bed.b.kill();
    await stack.bed.b.start();
    const expected: Array<[User, string[]]> = [
      [alice, [`${ROOM1}/Alice`]],
      [dave, [`${ROOM2}/Dave`]],
      [zoe, [`${ROOM1}/Zoe`, `${ROOM2}/Zoe`]],
      [yan, [`${ROOM2}/Yan`]],
    ];
    await Promise.all(
      expected.flatMap(([user, froms]) =>
        froms.map((from) => user.waitFor((el) => isNotification(el) && el.attrs.from === from, 20_000)),
      ),
    );
    await new Promise((r) => setTimeout(r, 1500)); // room for (unwanted) duplicates
    for (const [user, froms] of expected) {
      expect(
        user
          .notifications()
          .map((n) => n.el.attrs.from)
          .sort(),
      ).toEqual(froms);
    }
    // Every call went to a.test's endpoint, a2.test's users among them, and none was refused.
    expect(new Set(stack.api.pings().map((c) => c.from))).toEqual(new Set([alice.jid, dave.jid, zoe.jid, yan.jid]));
    expect(stack.api.requests.filter((r) => r.status !== 200 || r.answer.includes('refused'))).toEqual([]);
    stack.expectNoLeaves([
      [alice, ROOM1],
      [dave, ROOM2],
      [zoe, ROOM1],
      [zoe, ROOM2],
      [yan, ROOM2],
    ]);
  });
});
