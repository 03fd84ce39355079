// Heals against real servers: the server pings a join (named by its since) and tells a ghost
// itself, exactly once; anything else about the join, or a reply that says joined, is answered
// as a self-ping's.
import { batch, heal, items, kind, kinds, NS_BATCH, notify, only, ping, unavailable } from './batch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callApi, EventsReceiver } from './http';
import { DOMAINS, HTTP_PORT, sleep, Testbed } from '../../harness/testbed';
import { isNotification, NS_MUC_USER, User } from '../../harness/users';

/** Joined after B's restart: B knows the occupant. */
const ROOM = `heal@${DOMAINS.mucB}`;
/** Joined before B's kill -9: B forgot its occupants, A still tracks the joins (ghosts). */
const GHOSTS = `ghosts@${DOMAINS.mucB}`;
const REASON = 'Connection to remote server lost';

describe('stanza API: heal', () => {
  let bed: Testbed;
  let rx: EventsReceiver;
  let alice: User, bob: User, dave: User, carol: User;
  const users: User[] = [];
  const call = (body: string) => callApi(bed.apiUrl, bed.apiSecret, body);
  const since = () => Date.now();
  const arrived = (u: User, t: number) => u.received.filter((r) => r.at > t);
  const unexpected = (u: User, t: number) => arrived(u, t).map((r) => r.el.toString());
  /** The identity of `u`'s current join of `room`, from the events the module posted. */
  const sinceOf = (u: User, room: string) => rx.joinSince(u.jid, room);

  beforeAll(async () => {
    bed = await Testbed.create({
      aModules: ['ping_muc_cloud', 'http_openmetrics'],
      aOptions: {
        ping_muc_cloud_ping_timeout: 3,
        ping_muc_cloud_batch_max_items: 16,
        openmetrics_allow_cidr: '127.0.0.0/8',
      },
    });
    rx = new EventsReceiver(bed.webhookSecret);
    await rx.start();
    await bed.start(rx.url);
    const connect = (name: string) => User.connect(bed.a, DOMAINS.a, name);
    [alice, bob, dave, carol] = await Promise.all([
      connect('alice'),
      connect('bob'),
      connect('dave'),
      connect('carol'),
    ]);
    users.push(alice, bob, dave, carol);
    // The ghosts: joined, then B dies (kill -9) and comes back without its occupants.
    await bob.join(GHOSTS, 'Bob');
    await dave.join(GHOSTS, 'Dave');
    await carol.join(GHOSTS, 'Carol');
    for (const u of [bob, dave, carol]) await rx.waitFor((e) => e.type === 'join' && e.user === u.jid);
    await bed.b.kill();
    await rx.waitFor((e) => e.type === 's2s-close' && !!e.remotes?.includes(DOMAINS.mucB));
    await bed.b.start();
    await alice.join(ROOM, 'Alice');
    await rx.waitFor((e) => e.type === 'join' && e.user === alice.jid);
  });

  afterAll(async () => {
    await bed?.stop();
    await Promise.all(users.map((u) => u.stop()));
    await rx?.close();
  });

  it('heals the ghosts while answering the others as a self-ping', async () => {
    const t = since();
    const bobs = sinceOf(bob, GHOSTS);
    const res = await call(
      batch([
        heal('joined', sinceOf(alice, ROOM), ping('p-joined', alice.jid, `${ROOM}/Alice`)),
        heal('ghost', bobs, ping('p-ghost', bob.jid, `${GHOSTS}/Bob`)),
        heal('wrong-nick', bobs, ping('p-wrong', bob.jid, `${GHOSTS}/Nobody`)),
        heal('ghost2', sinceOf(dave, GHOSTS), ping('p-ghost2', dave.jid, `${GHOSTS}/Dave`)),
        heal('no-session', bobs, ping('p-none', `ghost@${DOMAINS.a}/phone`, `${GHOSTS}/Bob`)),
        // Carol's ghost, named by another join's identity: not pinged, not told.
        heal('older', sinceOf(carol, GHOSTS) - 1, ping('p-older', carol.jid, `${GHOSTS}/Carol`)),
        heal('newer', sinceOf(carol, GHOSTS) + 1, ping('p-newer', carol.jid, `${GHOSTS}/Carol`)),
      ]),
    );
    expect(res.status).toBe(200);
    const got = items(res.body);
    expect(got.map((i) => [i.id, kind(i.el)])).toEqual([
      ['joined', 'iq result'],
      ['ghost', 'sent'],
      ['wrong-nick', 'no-session'],
      ['ghost2', 'sent'],
      ['no-session', 'no-session'],
      ['older', 'no-session'],
      ['newer', 'no-session'],
    ]);
    // The joined user's reply is relayed: jabber:client, the inner iq's id.
    expect(got[0]!.el.attrs).toMatchObject({
      xmlns: 'jabber:client',
      id: 'p-joined',
      from: `${ROOM}/Alice`,
      to: alice.jid,
    });

    // Each ghost's client gets exactly one presence: the notification from room/nick.
    for (const user of [bob, dave]) {
      await user.waitFor(isNotification, 5_000);
    }
    await sleep(500); // room for (unwanted) duplicates, and for a leave the module must not post
    for (const [user, nick] of [
      [bob, 'Bob'],
      [dave, 'Dave'],
    ] as const) {
      const got = arrived(user, t);
      expect(got.map((r) => r.el.toString())).toHaveLength(1);
      const el = got[0]!.el;
      expect(isNotification(el)).toBe(true);
      expect(el.attrs).toMatchObject({ type: 'unavailable', from: `${GHOSTS}/${nick}`, to: user.jid });
      const x = el.getChild('x', NS_MUC_USER)!;
      expect(x.getChild('item')!.attrs).toMatchObject({ affiliation: 'none', role: 'none' });
      expect(x.getChild('item')!.getChildText('reason')).toBe(REASON);
      expect(
        x
          .getChildren('status')
          .map((s) => s.attrs.code)
          .sort(),
      ).toEqual(['110', '333']);
      // The module forgot the join as it delivered, and posts no leave for it: the round
      // knows from <sent/> (lib/app/pass.ts, above notifyUnjoined).
      expect(rx.events.filter((e) => e.type === 'leave' && e.user === user.jid)).toEqual([]);
    }
    // The joined user and the others get nothing.
    expect(unexpected(alice, t)).toEqual([]);
    expect(unexpected(carol, t)).toEqual([]);
  });

  it('answers <no-session/> without a second notification to a ghost healed again', async () => {
    const t = since();
    const res = await call(batch([heal('again', sinceOf(bob, GHOSTS), ping('p-again', bob.jid, `${GHOSTS}/Bob`))]));
    expect(res.status).toBe(200);
    expect(kinds(res.body)).toEqual([['again', 'no-session']]);
    await sleep(500);
    expect(unexpected(bob, t)).toEqual([]);
    expect(bob.notifications()).toHaveLength(1);
    expect(rx.events.filter((e) => e.type === 'leave' && e.user === bob.jid)).toEqual([]);
  });

  it('refuses malformed heals per item (403 or 400 for its since)', async () => {
    const t = since();
    const s = sinceOf(alice, ROOM);
    const ok = (id: string) => ping(id, alice.jid, `${ROOM}/Alice`);
    const res = await call(
      batch([
        heal('heal-ok', s, ok('h1')),
        `<heal xmlns="${NS_BATCH}" id="heal-ws" since="${s}">\n  ${ok('h2')}\n</heal>`,
        heal('two', s, ok('t1') + ok('t2')),
        `<heal xmlns="${NS_BATCH}" id="empty" since="${s}"/>`,
        heal('presence', s, unavailable(`${ROOM}/Alice`, alice.jid)),
        heal('text', s, `hello${ok('x1')}`),
        `<heal xmlns="${NS_BATCH}" id="attr" since="${s}" to="${ROOM}/Alice">${ok('a1')}</heal>`,
        heal('not-ping', s, ping('s1', alice.jid, `${ROOM}/Alice`, 'set')),
        heal('nested', s, heal('inner', s, ok('n1'))),
        `<heal xmlns="urn:example:other" id="foreign" since="${s}">${ok('f1')}</heal>`,
        `<heal xmlns="${NS_BATCH}" id="no-since">${ok('ns1')}</heal>`,
        heal('bad-since', `${s}x`, ok('bs1')),
        heal('long-since', '9'.repeat(17), ok('ls1')),
        ok('plain'),
      ]),
    );
    expect(res.status).toBe(200);
    expect(kinds(res.body)).toEqual([
      ['heal-ok', 'iq result'],
      ['heal-ws', 'iq result'],
      ['two', 'refused 403'],
      ['empty', 'refused 403'],
      ['presence', 'refused 403'],
      ['text', 'refused 403'],
      ['attr', 'refused 403'],
      ['not-ping', 'refused 403'],
      ['nested', 'refused 403'],
      ['foreign', 'refused 403'],
      ['no-since', 'refused 400'],
      ['bad-since', 'refused 400'],
      ['long-since', 'refused 400'],
      ['plain', 'iq result'],
    ]);
    await sleep(500);
    expect(unexpected(alice, t)).toEqual([]);
  });

  it('answers <no-session/> when the join changed while the heal waited for its reply', async () => {
    const t = since();
    bed.b.pause();
    let res: { status: number; body: string };
    let notified: { status: number; body: string };
    try {
      const carols = sinceOf(carol, GHOSTS);
      const pending = call(batch([heal('raced', carols, ping('p-raced', carol.jid, `${GHOSTS}/Carol`))]));
      await sleep(300);
      // ping-muc's own notification ends the join first: joins.lib forgets it.
      notified = await call(batch([notify('n-raced', carols, unavailable(`${GHOSTS}/Carol`, carol.jid))]));
      await carol.waitFor(isNotification, 5_000);
      bed.b.resume();
      res = await pending;
    } finally {
      bed.b.resume();
    }
    expect(only(notified)).toBe('sent');
    expect(res.status).toBe(200);
    expect(kinds(res.body)).toEqual([['raced', 'no-session']]);
    await sleep(500);
    expect(arrived(carol, t).map((r) => isNotification(r.el))).toEqual([true]);
  });

  it('relays without notifying the error of a heal to a room on a remote that is down', async () => {
    const killedUs = Date.now() * 1000;
    await bed.b.kill();
    await rx.waitFor((e) => e.type === 's2s-close' && e.seq > killedUs && !!e.remotes?.includes(DOMAINS.mucB));
    const t = since();
    const res = await call(batch([heal('down', sinceOf(alice, ROOM), ping('p-down', alice.jid, `${ROOM}/Alice`))]));
    expect(res.status).toBe(200);
    const [answer] = items(res.body);
    expect(answer!.id).toBe('down');
    expect(['iq error', 'timeout']).toContain(kind(answer!.el));
    if (answer!.el.name === 'iq') {
      expect(answer!.el.attrs).toMatchObject({ xmlns: 'jabber:client', id: 'p-down', from: `${ROOM}/Alice` });
      const error = answer!.el.getChild('error')!;
      const condition = error.getChildElements()[0]!.name;
      expect(['remote-server-not-found', 'remote-server-timeout']).toContain(condition);
    }
    await sleep(500);
    expect(unexpected(alice, t)).toEqual([]);
    expect(alice.notifications()).toEqual([]);
    expect(rx.events.filter((e) => e.type === 'leave' && e.user === alice.jid)).toEqual([]);
  });

  it('counts the delivered heals', async () => {
    const res = await fetch(`http://${bed.ip(1)}:${HTTP_PORT}/metrics`, { headers: { host: DOMAINS.a } });
    const text = await res.text();
    const value = (name: string) =>
      Number(
        new RegExp(`^prosody_mod_ping_muc_cloud__${name}(?:_total)?\\{host="${DOMAINS.a}"\\} (\\S+)`, 'm').exec(
          text,
        )?.[1],
      );
    // bob and dave; not carol (no-session), nor the healed-again bob, nor alice.
    expect(value('heal_notified')).toBe(2);
    expect(value('pings_inflight')).toBe(0);
  });
});
