// The join identity end to end (issue 17 §3): the module gives every join its own `since`, a
// same-nick rejoin included, and acts on a heal or a notification only for the session's current
// join with that identity; a heal acts only on the reply of the occupant it pinged.
import { xml } from '@xmpp/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batch, heal, notify, only, ping, unavailable } from './batch';
import { callApi, EventsReceiver } from './http';
import { DOMAINS, sleep, Testbed } from '../../harness/testbed';
import { isNotification, User } from '../../harness/users';

/** Joined before B's kill -9: B forgot its occupants, A still tracks the joins (ghosts). */
const GHOSTS = `ghosts@${DOMAINS.mucB}`;
const ROOM2 = `room2@${DOMAINS.mucB}`;
const ROOM3 = `room3@${DOMAINS.mucB}`;
const S = 'urn:ietf:params:xml:ns:xmpp-stanzas';

describe('join identity', () => {
  let bed: Testbed;
  let rx: EventsReceiver;
  let alice: User, bob: User, carol: User, dave: User;
  const users: User[] = [];
  const call = (body: string) => callApi(bed.apiUrl, bed.apiSecret, body);
  const joinsOf = (u: User, room: string) =>
    rx.events.filter((e) => e.type === 'join' && e.user === u.jid && e.room === room);

  beforeAll(async () => {
    // debug: the module's ping ids are read from A's log (the forged reply).
    bed = await Testbed.create({ logLevel: 'debug', aOptions: { ping_muc_cloud_ping_timeout: 5 } });
    rx = new EventsReceiver(bed.webhookSecret);
    await rx.start();
    await bed.start(rx.url);
    const connect = (name: string) => User.connect(bed.a, DOMAINS.a, name);
    [alice, bob, carol, dave] = await Promise.all([
      connect('alice'),
      connect('bob'),
      connect('carol'),
      connect('dave'),
    ]);
    users.push(alice, bob, carol, dave);
    await alice.join(GHOSTS, 'Alice');
    await rx.waitFor((e) => e.type === 'join' && e.user === alice.jid);
    await bed.b.kill();
    await rx.waitFor((e) => e.type === 's2s-close' && !!e.remotes?.includes(DOMAINS.mucB));
    await bed.b.start();
  });

  afterAll(async () => {
    await bed?.stop();
    await Promise.all(users.map((u) => u.stop()));
    await rx?.close();
  });

  it('a same-nick rejoin is a new join that a notification for the old one misses', async () => {
    const [first] = joinsOf(alice, GHOSTS);
    expect(first).toBeDefined();
    const old = rx.joinSince(alice.jid, GHOSTS);
    // The ghost's client finds out by itself (its own XEP-0410 ping) and rejoins under the same nick.
    await alice.join(GHOSTS, 'Alice');
    const rejoin = await rx.waitFor(
      (e) => e.type === 'join' && e.user === alice.jid && e.room === GHOSTS && e !== first,
      5000,
    );
    expect(rejoin).toMatchObject({ nick: 'Alice' });
    expect(rejoin.since).toBeUndefined(); // a fresh join: its identity is its own seq
    expect(rejoin.seq).toBeGreaterThan(old);
    // A notification the round decided before the rejoin names the old join: nobody is told.
    const t = Date.now();
    const res = await call(batch([notify('n-old', old, unavailable(`${GHOSTS}/Alice`, alice.jid, 'n-old'))]));
    expect(only(res)).toBe('no-session');
    // So does a heal of the old join: not even pinged.
    const healed = await call(batch([heal('h-old', old, ping('p-old', alice.jid, `${GHOSTS}/Alice`))]));
    expect(only(healed)).toBe('no-session');
    await sleep(500);
    expect(alice.received.filter((r) => r.at > t).map((r) => r.el.toString())).toEqual([]);
    // The new join is the one the module knows: a heal of it finds alice joined.
    expect(only(await call(batch([heal('h-new', rejoin.seq, ping('p-new', alice.jid, `${GHOSTS}/Alice`))])))).toBe(
      'iq result',
    );
    expect(alice.notifications()).toEqual([]);
  });

  it('a notification retried after the told client rejoined is not delivered again', async () => {
    await dave.join(ROOM2, 'Dave');
    await rx.waitFor((e) => e.type === 'join' && e.user === dave.jid);
    const since = rx.joinSince(dave.jid, ROOM2);
    const body = batch([notify('n-dave', since, unavailable(`${ROOM2}/Dave`, dave.jid, 'n-dave'))]);
    expect(only(await call(body))).toBe('sent');
    await dave.waitFor(isNotification, 5_000);
    await dave.join(ROOM2, 'Dave'); // status 333: the client rejoins at once
    await rx.waitFor((e) => e.type === 'join' && e.user === dave.jid && e.seq > since, 5000);
    // The same request again, signed anew: an in-place retry of an answer that was lost.
    expect(only(await call(body))).toBe('no-session');
    await sleep(500);
    expect(dave.notifications()).toHaveLength(1);
  });

  it('a heal acts only on the reply of the occupant it pinged', async () => {
    await carol.join(ROOM3, 'Carol');
    await rx.waitFor((e) => e.type === 'join' && e.user === carol.jid);
    const since = rx.joinSince(carol.jid, ROOM3);
    const t = Date.now();
    bed.b.pause(); // the ping goes out; B's reply (carol is joined: a result) waits
    let res: { status: number; body: string };
    try {
      const pending = call(batch([heal('h-carol', since, ping('p-carol', carol.jid, `${ROOM3}/Carol`))]));
      const pingId = await moduleIdOfPing(bed, `${ROOM3}/Carol`);
      // Bob, a local user, answers in the room's place: "not an occupant" by the room, which from
      // the room would mean carol is gone (XEP-0410 §3.2).
      await bob.send(
        xml(
          'iq',
          { type: 'error', id: pingId, to: carol.jid },
          xml('error', { type: 'cancel', by: ROOM3 }, xml('not-acceptable', { xmlns: S })),
        ),
      );
      await sleep(500);
      bed.b.resume();
      res = await pending;
    } finally {
      bed.b.resume();
    }
    // The heal took B's own reply: carol is joined, and nobody told her otherwise.
    expect(only(res)).toBe('iq result');
    await sleep(500);
    expect(carol.notifications()).toEqual([]);
    expect(carol.received.filter((r) => r.at > t && r.el.name === 'presence').map((r) => r.el.toString())).toEqual([]);
  });
});

/** The module's own id of its self-ping to `occupant`, from A's debug log (a test-only way to learn it). */
async function moduleIdOfPing(bed: Testbed, occupant: string): Promise<string> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const log = bed.a.log();
    const id =
      new RegExp(`<iq[^>]*id=['"](pmc-[^'"]+)['"][^>]*to=['"]${occupant}['"]`).exec(log)?.[1] ??
      new RegExp(`<iq[^>]*to=['"]${occupant}['"][^>]*id=['"](pmc-[^'"]+)['"]`).exec(log)?.[1];
    if (id) return id;
    if (Date.now() > deadline) throw new Error(`no self-ping to ${occupant} in A's debug log`);
    await sleep(50);
  }
}
