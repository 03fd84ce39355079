// Server pings against real servers: a host pings a remote domain to bring its s2s link up;
// it names no user and reaches no client. And each VirtualHost's stanza API (a.test, a2.test on
// one server) acts for its own users only, under its own key.
import {
  batch,
  expectUnsupported,
  heal,
  items,
  kind,
  kinds,
  notify,
  NS_API,
  NS_BATCH,
  only,
  ping,
  serverPing,
  unavailable,
} from './batch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpStanzaApi } from '../../lib/adapters/stanza-api/client';
import { secretKey } from '../../lib/domain/signature';
import { callApi, EventsReceiver, type ReceivedEvent } from './http';
import { DOMAINS, sleep, Testbed } from '../../harness/testbed';
import { User } from '../../harness/users';

const ROOM = `serverping@${DOMAINS.mucB}`;

describe('stanza API: server pings', () => {
  let bed: Testbed;
  let rx: EventsReceiver;
  let alice: User, eve: User, carol: User;
  const users: User[] = [];
  const call = (body: string) => callApi(bed.apiUrl, bed.apiSecret, body);

  beforeAll(async () => {
    // a2.test: another host of the same server, which a server ping must not name either.
    bed = await Testbed.create({ aSecondHost: true });
    rx = new EventsReceiver(bed.webhookSecret);
    await rx.start();
    await bed.start(rx.url);
    alice = await User.connect(bed.a, DOMAINS.a, 'alice');
    eve = await User.connect(bed.a, DOMAINS.a, 'eve');
    carol = await User.connect(bed.a, DOMAINS.a2, 'carol');
    users.push(alice, eve, carol);
    // A link to muc.b.test, as a round's remote has had.
    await alice.join(ROOM, 'Alice');
    await rx.waitFor((e) => e.type === 'join' && e.user === alice.jid);
  });

  afterAll(async () => {
    await bed?.stop();
    await Promise.all(users.map((u) => u.stop()));
    await rx?.close();
  });

  /** What any client of A received after `t`. */
  const received = (t: number) =>
    users.flatMap((u) => u.received.filter((r) => r.at > t).map((r) => `${u.jid}: ${r.el.toString()}`));
  const linkUp = (remote: string, direction: string, afterUs: number) => (e: ReceivedEvent) =>
    e.type === 's2s-up' && e.direction === direction && e.seq > afterUs && !!e.remotes?.includes(remote);

  /** Kills B, waits for the close of A's link to muc.b.test, starts B again; the µs clock of the restart. */
  async function restartB(): Promise<number> {
    const killedUs = Date.now() * 1000;
    await bed.b.kill();
    await rx.waitFor((e) => e.type === 's2s-close' && e.seq > killedUs && !!e.remotes?.includes(DOMAINS.mucB));
    const restartedUs = Date.now() * 1000;
    await bed.b.start();
    // Nothing talks to B: the link stays down until something sends to it.
    await sleep(500);
    expect(rx.events.filter(linkUp(DOMAINS.mucB, 'out', restartedUs))).toEqual([]);
    return restartedUs;
  }

  it('brings the closed link to the remote up at once without a stanza to any client', async () => {
    const restartedUs = await restartB();
    const t = Date.now();
    const res = await call(batch([serverPing('up', DOMAINS.mucB)]));
    const answeredMs = Date.now() - t;
    expect(res.status).toBe(200);
    const got = items(res.body);
    expect(got.map((i) => [i.id, kind(i.el)])).toEqual([['up', 'sent']]);
    expect(got[0]!.el.attrs).toEqual({ xmlns: NS_API });
    expect(got[0]!.el.children).toEqual([]);
    // At once: it does not wait for the link or the pong.
    expect(answeredMs).toBeLessThan(1000);
    // Our ping goes out on A's link; B's pong comes in on B's.
    const out = await rx.waitFor(linkUp(DOMAINS.mucB, 'out', restartedUs));
    expect(out).toMatchObject({ host: DOMAINS.a, remotes: [DOMAINS.mucB] });
    await rx.waitFor(linkUp(DOMAINS.mucB, 'in', restartedUs));
    // The pong came to the host and was dropped: no client of A saw anything.
    await sleep(500);
    expect(received(t)).toEqual([]);
    expect(bed.a.log()).not.toMatch(/traceback/i);
  });

  it('refuses per item with 403 any item but a remote domain', async () => {
    const t = Date.now();
    const sinceUs = t * 1000;
    const bare = alice.jid.split('/')[0]!;
    const res = await call(
      batch([
        serverPing('full', alice.jid),
        serverPing('valid', DOMAINS.b),
        serverPing('bare', bare),
        serverPing('remote-user', `someone@${DOMAINS.b}`),
        serverPing('resource', `${DOMAINS.mucB}/x`),
        serverPing('own', DOMAINS.a),
        serverPing('own-upper', 'A.TEST'),
        serverPing('other-local', DOMAINS.a2),
        `<server-ping xmlns="${NS_BATCH}" id="no-to"/>`,
        serverPing('empty-to', ''),
        serverPing('bad-jid', 'a@b@c'),
        `<server-ping xmlns="${NS_BATCH}" id="child" to="${DOMAINS.mucB}"><ping xmlns="urn:xmpp:ping"/></server-ping>`,
        serverPing('extra', DOMAINS.mucB, ' type="get"'),
        serverPing('from', DOMAINS.mucB, ` from="${alice.jid}"`),
      ]),
    );
    expect(res.status).toBe(200);
    expect(items(res.body).map((i) => [i.id, kind(i.el)])).toEqual([
      ['full', 'refused 403'],
      ['valid', 'sent'],
      ['bare', 'refused 403'],
      ['remote-user', 'refused 403'],
      ['resource', 'refused 403'],
      ['own', 'refused 403'],
      ['own-upper', 'refused 403'],
      ['other-local', 'refused 403'],
      ['no-to', 'refused 403'],
      ['empty-to', 'refused 403'],
      ['bad-jid', 'refused 403'],
      ['child', 'refused 403'],
      ['extra', 'refused 403'],
      ['from', 'refused 403'],
    ]);
    // The valid item went: A's link to b.test comes up.
    await rx.waitFor(linkUp(DOMAINS.b, 'out', sinceUs));
    await sleep(500);
    expect(received(t)).toEqual([]);
  });

  it('refuses an item that holds text as it refuses one that holds an element', async () => {
    const res = await call(
      batch([
        `<server-ping xmlns="${NS_BATCH}" id="text" to="${DOMAINS.mucB}">hello</server-ping>`,
        `<server-ping xmlns="${NS_BATCH}" id="space" to="${DOMAINS.mucB}"> </server-ping>`,
      ]),
    );
    expect(res.status).toBe(200);
    expect(items(res.body).map((i) => [i.id, kind(i.el)])).toEqual([
      ['text', 'refused 403'],
      ['space', 'sent'],
    ]);
  });

  it('refuses a server ping outside a batch: 400 unsupported-version', async () => {
    const t = Date.now();
    expectUnsupported(await call(serverPing('alone', DOMAINS.mucB)));
    await sleep(300);
    expect(received(t)).toEqual([]);
  });

  it('HttpStanzaApi.serverPing brings the link up', async () => {
    const restartedUs = await restartB();
    const t = Date.now();
    // As lib/wiring/stanza-api.ts builds it: the host's API URL and key.
    const api = new HttpStanzaApi({ url: bed.apiUrl, key: secretKey(bed.apiSecret), timeoutMs: 5_000 });
    await expect(api.serverPing(DOMAINS.a, DOMAINS.mucB)).resolves.toBeUndefined();
    const out = await rx.waitFor(linkUp(DOMAINS.mucB, 'out', restartedUs));
    expect(out).toMatchObject({ host: DOMAINS.a, remotes: [DOMAINS.mucB] });
    await sleep(500);
    expect(received(t)).toEqual([]);
  });

  it('keeps each VirtualHost’s stanza API to its own users under its own key', async () => {
    await carol.join(ROOM, 'Carol');
    const t = Date.now();
    const probe = (id: string) => batch([ping(id, carol.jid, `${ROOM}/Carol`)]);
    // a2.test's own key on a2.test's API: carol is joined.
    expect(only(await callApi(bed.apiUrl2, bed.apiSecret2, probe('own')))).toBe('iq result');
    // a.test's key on a2.test's API: not a2.test's key.
    expect((await callApi(bed.apiUrl2, bed.apiSecret, probe('key-of-a'))).status).toBe(401);
    // a.test's API for a user of a2.test: refused per item, whatever the join's identity.
    const viaA = await call(
      batch([
        ping('probe', carol.jid, `${ROOM}/Carol`),
        heal('heal', 1, ping('p-heal', carol.jid, `${ROOM}/Carol`)),
        notify('notify', 1, unavailable(`${ROOM}/Carol`, carol.jid)),
      ]),
    );
    expect(kinds(viaA.body)).toEqual([
      ['probe', 'refused 403'],
      ['heal', 'refused 403'],
      ['notify', 'refused 403'],
    ]);
    await sleep(300);
    expect(received(t)).toEqual([]);
  });
});
