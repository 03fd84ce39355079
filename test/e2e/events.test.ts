// The events mod_ping_muc_cloud POSTs, checked by a receiver that verifies every signature
// with lib/domain/signature.ts: what is sent, in which order, and the retries.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml } from '@xmpp/client';
import { EventsReceiver, type ReceivedEvent } from './http';
import { DOMAINS, sleep, Testbed } from './testbed';
import { User } from './users';

const ROOM = `ev@${DOMAINS.mucB}`;

describe('events posted by the module', () => {
  let bed: Testbed;
  let rx: EventsReceiver;
  let alice: User, bob: User;
  const of = (type: string, user?: string) => rx.events.filter((e) => e.type === type && (!user || e.user === user));

  beforeAll(async () => {
    bed = await Testbed.create();
    rx = new EventsReceiver(bed.webhookSecret);
    await rx.start();
    await bed.start(rx.url);
    [alice, bob] = await Promise.all([User.connect(bed.a, DOMAINS.a, 'alice'), User.connect(bed.a, DOMAINS.a, 'bob')]);
  });

  afterAll(async () => {
    await bed?.stop();
    await Promise.all([alice, bob].map((u) => u?.stop()));
    await rx?.close();
  });

  it('starts with host-start, and every request is signed (the receiver refused none)', async () => {
    await rx.waitFor((e) => e.type === 'host-start');
    expect(rx.events[0]).toMatchObject({ type: 'host-start', host: DOMAINS.a });
    expect(rx.requests.every((r) => r.status === 200)).toBe(true);
  });

  it('posts a join on the reflected self-presence, once, not on every presence update', async () => {
    await alice.join(ROOM, 'Alice');
    await rx.waitFor((e) => e.type === 'join' && e.user === alice.jid);
    await alice.send(xml('presence', { to: `${ROOM}/Alice` }, xml('show', {}, 'away')));
    await alice.waitFor((el) => el.name === 'presence' && el.getChildText('show') === 'away');
    await sleep(300);
    expect(of('join', alice.jid).map((e) => [e.room, e.nick])).toEqual([[ROOM, 'Alice']]);
  });

  it('posts a join with the new nick on a nick change, and no leave', async () => {
    await alice.changeNick(ROOM, 'Alicia');
    await rx.waitFor((e) => e.type === 'join' && e.nick === 'Alicia');
    expect(of('leave', alice.jid)).toEqual([]);
  });

  it('posts a leave on the unavailable self-presence', async () => {
    await bob.join(ROOM, 'Bob');
    await bob.leave(ROOM, 'Bob');
    const leave = await rx.waitFor((e) => e.type === 'leave' && e.user === bob.jid);
    expect(leave).toMatchObject({ host: DOMAINS.a, room: ROOM });
  });

  it('ignores MUC errors (no join for a refused nick)', async () => {
    await bob.send(xml('presence', { to: `${ROOM}/Alicia` }, xml('x', { xmlns: 'http://jabber.org/protocol/muc' })));
    await bob.waitFor((el) => el.name === 'presence' && el.attrs.type === 'error');
    await sleep(300);
    expect(of('join', bob.jid).map((e) => e.nick)).toEqual(['Bob']);
  });

  it('posts s2s-close for both directions of a lost link, and nothing for a failed attempt', async () => {
    await bed.b.kill();
    await rx.waitFor((e) => e.type === 's2s-close' && e.direction === 'in');
    await rx.waitFor((e) => e.type === 's2s-close' && e.direction === 'out');
    const before = of('s2s-close').length;
    // B is down: the attempt to reach it fails (s2sout_unauthed), which is not a lost link.
    await alice.send(xml('presence', { to: `${ROOM}/Alicia` }));
    await alice.waitFor((el) => el.name === 'presence' && el.attrs.type === 'error', 10_000);
    await sleep(300);
    expect(of('s2s-close')).toHaveLength(before);
    for (const e of of('s2s-close')) expect(e.remotes).toEqual([DOMAINS.mucB]);
    await bed.b.start();
  });

  it('retries on 5xx with the same webhook-id, keeping the order', async () => {
    rx.answer = 503;
    await bob.join(ROOM, 'Bob2');
    await bob.leave(ROOM, 'Bob2');
    await sleep(800);
    const failed = rx.requests.filter((r) => r.status === 503);
    expect(failed.length).toBeGreaterThanOrEqual(2);
    expect(new Set(failed.map((r) => r.id)).size).toBe(1);
    rx.answer = 200;
    const join = await rx.waitFor((e) => e.type === 'join' && e.nick === 'Bob2');
    const leave = await rx.waitFor(
      (e) => e.type === 'leave' && e.user === bob.jid && rx.events.indexOf(e) > rx.events.indexOf(join),
    );
    expect(rx.requests.find((r) => r.status === 200 && r.id === failed[0]!.id)).toBeTruthy();
    expect(leave.seq).toBeGreaterThan(join.seq);
  });

  it('posts session-end when a session that joined rooms goes away', async () => {
    await bob.stop();
    await rx.waitFor((e) => e.type === 'session-end' && e.user === bob.jid);
  });

  it('gives every event a strictly increasing microsecond seq', () => {
    const seqs = rx.events.map((e: ReceivedEvent) => e.seq);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]!).toBeGreaterThan(seqs[i - 1]!);
    expect(Math.abs(seqs[0]! / 1000 - Date.now())).toBeLessThan(120_000);
  });
});

describe('the bounded event queue', () => {
  let bed: Testbed;
  let rx: EventsReceiver;
  let carol: User;
  const ROOMS = ['q1', 'q2', 'q3', 'q4', 'q5'].map((r) => `${r}@${DOMAINS.mucB}`);

  beforeAll(async () => {
    bed = await Testbed.create({ aOptions: { ping_muc_cloud_queue_size: 3 } });
    rx = new EventsReceiver(bed.webhookSecret);
    rx.answer = 503; // ping-muc unreachable from the start
    await rx.start();
    await bed.start(rx.url);
    carol = await User.connect(bed.a, DOMAINS.a, 'carol');
  });

  afterAll(async () => {
    await bed?.stop();
    await carol?.stop();
    await rx?.close();
  });

  it('on overflow keeps every s2s-close, and once ping-muc answers resyncs: every live join, then host-start', async () => {
    // In flight: host-start. Queued: the link's two s2s-up, q1; q2 overflows the queue, q3 to q5
    // find a resync pending.
    for (const room of ROOMS) await carol.join(room, 'Carol');
    const deadline = Date.now() + 5000;
    while (!/Event queue full \(3\)/.test(bed.a.log()) && Date.now() < deadline) await sleep(50);
    expect(bed.a.log()).toMatch(
      /Event queue full \(3\): dropped 4 event\(s\), latest: join carol@a\.test\/e2e; will resync/,
    );
    // The link to B is lost while the queue is full: its closes are kept.
    await bed.b.kill();
    await sleep(500);
    expect(rx.events).toEqual([]);
    rx.answer = 200;
    for (const room of ROOMS) await rx.waitFor((e) => e.type === 'join' && e.room === room, 15_000);
    await rx.waitFor((e) => e.type === 's2s-close' && e.direction === 'out');
    await rx.waitFor((e) => e.type === 's2s-close' && e.direction === 'in');
    await rx.waitFor((e) => e.type === 'host-start' && rx.events.indexOf(e) > 0, 15_000);
    const starts = rx.events.filter((e) => e.type === 'host-start');
    expect(starts).toHaveLength(2); // the one of the load, then the resync's
    const resync = rx.events.indexOf(starts[1]!);
    const joins = rx.events.filter((e) => e.type === 'join');
    // Each once, before the resync's host-start (which drops only what was not re-posted) and
    // with a seq after it: the host-start's seq is taken as the resync begins.
    expect(joins.map((e) => e.room).sort()).toEqual(ROOMS);
    // Their since values keep the order in which carol joined.
    expect([...joins].sort((a, b) => (a.since as number) - (b.since as number)).map((e) => e.room)).toEqual(ROOMS);
    for (const j of joins) {
      expect(rx.events.indexOf(j)).toBeLessThan(resync);
      expect(j.seq).toBeGreaterThan(starts[1]!.seq);
      // Posted again: since is the seq the join got when the room reflected it (never delivered).
      expect(typeof j.since).toBe('number');
      expect(j.since as number).toBeLessThan(starts[1]!.seq);
      expect(j.since as number).toBeGreaterThan(starts[0]!.seq);
    }
    // Dropped: the 5 joins and the 2 s2s-up of the link carol's first join opened (queued before q1).
    expect(bed.a.log()).toMatch(/Delivery resumed; 7 event\(s\) had been dropped while the queue was full, resyncing/);
  });
});

describe('a batch ping-muc refuses with a 4xx', () => {
  let bed: Testbed;
  let rx: EventsReceiver;
  let erin: User;
  const ROOMS = ['m1', 'm2'].map((r) => `${r}@${DOMAINS.mucB}`);

  beforeAll(async () => {
    bed = await Testbed.create();
    rx = new EventsReceiver(bed.webhookSecret);
    await rx.start();
    await bed.start(rx.url);
    erin = await User.connect(bed.a, DOMAINS.a, 'erin');
    await rx.waitFor((e) => e.type === 'host-start');
  });

  afterAll(async () => {
    await bed?.stop();
    await erin?.stop();
    await rx?.close();
  });

  it('is dropped, but its s2s-closes are kept and the joins it carried come back by a resync (module M2)', async () => {
    rx.answer = 403; // e.g. the host not yet in ping-muc's registry
    const from = rx.requests.length;
    for (const room of ROOMS) await erin.join(room, 'Erin');
    await bed.b.kill(); // the link to B closes while ping-muc refuses
    const deadline = Date.now() + 5000;
    const closesRefused = () =>
      rx.requests.slice(from).some((r) => r.status === 403 && r.events.some((e) => e.type === 's2s-close'));
    while (!closesRefused() && Date.now() < deadline) await sleep(50);
    expect(closesRefused()).toBe(true);
    expect(rx.events.filter((e) => e.type === 'join')).toEqual([]);
    expect(bed.a.log()).toMatch(/ping-muc refused \d+ event\(s\) with HTTP 403/);
    rx.answer = 200;
    const start = await rx.waitFor((e) => e.type === 'host-start' && rx.events.indexOf(e) > 0, 15_000);
    // The closes were kept, and every live join was posted again before the resync's host-start.
    expect(new Set(rx.events.filter((e) => e.type === 's2s-close').map((e) => e.direction))).toEqual(
      new Set(['in', 'out']),
    );
    const joins = rx.events.filter((e) => e.type === 'join');
    expect(joins.map((e) => e.room).sort()).toEqual(ROOMS);
    for (const j of joins) {
      expect(rx.events.indexOf(j)).toBeLessThan(rx.events.indexOf(start));
      expect(typeof j.since).toBe('number');
    }
    await bed.b.start();
  });
});

describe('events ping-muc refused in a 200 answer', () => {
  let bed: Testbed;
  let rx: EventsReceiver;
  let erin: User;

  beforeAll(async () => {
    bed = await Testbed.create({ aOptions: { ping_muc_cloud_batch_size: 1 } });
    rx = new EventsReceiver(bed.webhookSecret);
    rx.refuse = (events) =>
      events.flatMap((e, index) =>
        e.room === `refused@${DOMAINS.mucB}` ? [{ index, type: e.type, error: 'test refusal' }] : [],
      );
    await rx.start();
    await bed.start(rx.url);
    erin = await User.connect(bed.a, DOMAINS.a, 'erin');
  });

  afterAll(async () => {
    await bed?.stop();
    await erin?.stop();
    await rx?.close();
  });

  it('logs each refused event as an error with its index, type and error, and does not retry it', async () => {
    await erin.join(`refused@${DOMAINS.mucB}`, 'Erin');
    await erin.join(`fine@${DOMAINS.mucB}`, 'Erin');
    await rx.waitFor((e) => e.room === `fine@${DOMAINS.mucB}`);
    expect(bed.a.log()).toMatch(/error\tping-muc refused event 0 \(join\) of a batch of 1: test refusal/);
    const refusedIds = rx.requests
      .filter((r) => r.events.some((e) => e.room === `refused@${DOMAINS.mucB}`))
      .map((r) => r.id);
    expect(refusedIds).toHaveLength(1);
  });
});

describe('quiet sessions', () => {
  let bed: Testbed;
  let rx: EventsReceiver;
  let dave: User;

  beforeAll(async () => {
    bed = await Testbed.create({ aOptions: { ping_muc_cloud_join_refresh: 2 } });
    rx = new EventsReceiver(bed.webhookSecret);
    await rx.start();
    await bed.start(rx.url);
    dave = await User.connect(bed.a, DOMAINS.a, 'dave');
  });

  afterAll(async () => {
    await bed?.stop();
    await dave?.stop();
    await rx?.close();
  });

  it('posts a join again after ping_muc_cloud_join_refresh without any presence, with since = its first seq', async () => {
    await dave.join(`quiet@${DOMAINS.mucB}`, 'Dave');
    const first = await rx.waitFor((e) => e.type === 'join' && e.user === dave.jid);
    expect(first.since).toBeUndefined(); // a fresh join
    const again = await rx.waitFor((e) => e.type === 'join' && e.user === dave.jid && e !== first, 8000);
    expect(again).toMatchObject({ room: `quiet@${DOMAINS.mucB}`, nick: 'Dave', since: first.seq });
    expect(again.seq).toBeGreaterThan(first.seq);
  });
});
