// The events mod_ping_muc_cloud POSTs, checked by a receiver that verifies every signature
// with lib/domain/signature.ts: what is sent, in which order, and the retries.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml } from '@xmpp/client';
import { EventsReceiver, type ReceivedEvent } from './http';
import { DOMAINS, sleep, Testbed } from '../../harness/testbed';
import { User } from '../../harness/users';

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

  it('posts a join once on the reflected self-presence only', async () => {
    await alice.join(ROOM, 'Alice');
    await rx.waitFor((e) => e.type === 'join' && e.user === alice.jid);
    await alice.send(xml('presence', { to: `${ROOM}/Alice` }, xml('show', {}, 'away')));
    await alice.waitFor((el) => el.name === 'presence' && el.getChildText('show') === 'away');
    await sleep(300);
    expect(of('join', alice.jid).map((e) => [e.room, e.nick])).toEqual([[ROOM, 'Alice']]);
  });

  it('posts a nick change as a join with the new nick without a leave', async () => {
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

  it('posts s2s-close for each direction of a lost link only', async () => {
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

  it('retries on 5xx with the same webhook-id in order', async () => {
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

  it('posts a leave for each room of a session that goes away instead of a session-end', async () => {
    const rooms = [`ev2@${DOMAINS.mucB}`, `ev3@${DOMAINS.mucB}`];
    for (const room of rooms) await bob.join(room, 'Bob');
    for (const room of rooms) await rx.waitFor((e) => e.type === 'join' && e.user === bob.jid && e.room === room);
    const from = rx.events.length;
    await bob.stop();
    for (const room of rooms) await rx.waitFor((e) => e.type === 'leave' && e.user === bob.jid && e.room === room);
    await sleep(500);
    expect(
      rx.events
        .slice(from)
        .filter((e) => e.user === bob.jid)
        .map((e) => [e.type, e.room])
        .sort(),
    ).toEqual(rooms.map((room) => ['leave', room]));
    expect(rx.events.filter((e) => e.type === 'session-end' || e.type === 'host-start')).toEqual([]);
  });

  it('gives every event a strictly increasing microsecond seq', () => {
    const seqs = rx.events.map((e: ReceivedEvent) => e.seq);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]!).toBeGreaterThan(seqs[i - 1]!);
    expect(Math.abs(seqs[0]! / 1000 - Date.now())).toBeLessThan(120_000);
  });

  it("gives every event the epoch of the module's load below its seq", () => {
    const epoch = rx.events[0]!.epoch as number;
    expect(typeof epoch).toBe('number');
    for (const e of rx.events) {
      expect(e.epoch, `${e.type} ${e.seq}`).toBe(epoch);
      expect(e.seq).toBeGreaterThan(epoch);
    }
  });

  it('signs every request it posts', () => {
    expect(rx.requests.every((r) => r.status === 200 || r.status === 503)).toBe(true);
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

  it('on overflow keeps every s2s-close for a resync under a new epoch', async () => {
    // In flight: the link's s2s-up (at once). Queued: the joins until the queue overflows; the
    // next ones find a resync pending.
    for (const room of ROOMS) await carol.join(room, 'Carol');
    const deadline = Date.now() + 5000;
    while (!/Event queue full \(3\)/.test(bed.a.log()) && Date.now() < deadline) await sleep(50);
    expect(bed.a.log()).toMatch(
      /Event queue full \(3\): dropped \d+ event\(s\), latest: join carol@a\.test\/e2e; will resync/,
    );
    // The link to B is lost while the queue is full: its closes are kept.
    await bed.b.kill();
    await sleep(500);
    expect(rx.events).toEqual([]);
    rx.answer = 200;
    for (const room of ROOMS) await rx.waitFor((e) => e.type === 'join' && e.room === room, 15_000);
    await rx.waitFor((e) => e.type === 's2s-close' && e.direction === 'out');
    await rx.waitFor((e) => e.type === 's2s-close' && e.direction === 'in');
    const load = rx.events[0]!.epoch as number; // the first request, in flight when the queue overflowed
    const joins = rx.events.filter((e) => e.type === 'join');
    const resync = joins[0]!.epoch as number;
    expect(resync).toBeGreaterThan(load);
    // Each once, under the resync's epoch, with a seq after it (taken as the resync began).
    expect(joins.map((e) => e.room).sort()).toEqual(ROOMS);
    // Their since values keep the order in which carol joined.
    expect([...joins].sort((a, b) => (a.since as number) - (b.since as number)).map((e) => e.room)).toEqual(ROOMS);
    for (const j of joins) {
      expect(j.epoch).toBe(resync);
      expect(j.seq).toBeGreaterThan(resync);
      // Posted again: since is the seq the join got when the room reflected it (never delivered).
      expect(typeof j.since).toBe('number');
      expect(j.since as number).toBeLessThan(resync);
      expect(j.since as number).toBeGreaterThan(load);
    }
    // The closes kept through the overflow went with the resync, under its epoch, before its joins.
    for (const c of rx.events.filter((e) => e.type === 's2s-close')) {
      expect(c.epoch).toBe(resync);
      expect(rx.events.indexOf(c)).toBeLessThan(rx.events.indexOf(joins[0]!));
    }
    expect(rx.events.filter((e) => e.type === 'host-start')).toEqual([]);
    expect(bed.a.log()).toMatch(
      /Delivery resumed; \d+ event\(s\) had been dropped while the queue was full, resyncing/,
    );
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
  });

  afterAll(async () => {
    await bed?.stop();
    await erin?.stop();
    await rx?.close();
  });

  it('is dropped with its s2s-closes kept for a resync of its joins (module M2)', async () => {
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
    for (const room of ROOMS) await rx.waitFor((e) => e.type === 'join' && e.room === room, 15_000);
    // The closes were kept, and every live join was posted again, all under the resync's epoch.
    const closes = rx.events.filter((e) => e.type === 's2s-close');
    expect(new Set(closes.map((e) => e.direction))).toEqual(new Set(['in', 'out']));
    const joins = rx.events.filter((e) => e.type === 'join');
    expect(joins.map((e) => e.room).sort()).toEqual(ROOMS);
    for (const e of [...closes, ...joins]) expect(e.epoch).toBe(joins[0]!.epoch);
    for (const j of joins) expect(typeof j.since).toBe('number');
    expect(rx.events.filter((e) => e.type === 'host-start')).toEqual([]);
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

  it('logs each refused event as an error instead of retrying it', async () => {
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

  it('posts a join again with its first since after ping_muc_cloud_join_refresh', async () => {
    await dave.join(`quiet@${DOMAINS.mucB}`, 'Dave');
    const first = await rx.waitFor((e) => e.type === 'join' && e.user === dave.jid);
    expect(first.since).toBeUndefined(); // a fresh join
    const again = await rx.waitFor((e) => e.type === 'join' && e.user === dave.jid && e !== first, 8000);
    expect(again).toMatchObject({ room: `quiet@${DOMAINS.mucB}`, nick: 'Dave', since: first.seq });
    expect(again.seq).toBeGreaterThan(first.seq);
  });
});

describe('the linger', () => {
  let bed: Testbed;
  let rx: EventsReceiver;
  let fay: User;

  beforeAll(async () => {
    bed = await Testbed.create({ aOptions: { ping_muc_cloud_linger: 4 } });
    rx = new EventsReceiver(bed.webhookSecret);
    await rx.start();
    await bed.start(rx.url);
    fay = await User.connect(bed.a, DOMAINS.a, 'fay');
  });

  afterAll(async () => {
    await bed?.stop();
    await fay?.stop();
    await rx?.close();
  });

  it('holds joins and leaves for the linger to post them in one request in order', async () => {
    await fay.join(`l1@${DOMAINS.mucB}`, 'Fay'); // opens the link: its s2s-up goes at once
    await sleep(300);
    const from = rx.requests.length;
    const t0 = Date.now();
    await fay.join(`l2@${DOMAINS.mucB}`, 'Fay');
    await fay.leave(`l1@${DOMAINS.mucB}`, 'Fay');
    await sleep(2000);
    expect(rx.requests.slice(from).filter((r) => r.events.some((e) => e.room === `l2@${DOMAINS.mucB}`))).toEqual([]);
    const join = await rx.waitFor((e) => e.type === 'join' && e.room === `l2@${DOMAINS.mucB}`, 8000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(3000);
    const request = rx.requests.find((r) => r.events.some((e) => e.seq === join.seq))!;
    const mine = request.events.filter((e) => e.user === fay.jid).map((e) => [e.type, e.room]);
    expect(mine.slice(-2)).toEqual([
      ['join', `l2@${DOMAINS.mucB}`],
      ['leave', `l1@${DOMAINS.mucB}`],
    ]);
  });

  it('posts a lingering join at once ahead of an s2s-close in its request', async () => {
    await fay.join(`l3@${DOMAINS.mucB}`, 'Fay');
    await sleep(300);
    const t0 = Date.now();
    await bed.b.kill();
    const close = await rx.waitFor((e) => e.type === 's2s-close', 3000);
    expect(Date.now() - t0).toBeLessThan(3000);
    const request = rx.requests.find((r) => r.events.some((e) => e.seq === close.seq))!;
    const types = request.events.map((e) => (e.type === 'join' ? `join ${e.room}` : e.type));
    expect(types.indexOf(`join l3@${DOMAINS.mucB}`)).toBeGreaterThanOrEqual(0);
    expect(types.indexOf(`join l3@${DOMAINS.mucB}`)).toBeLessThan(types.indexOf('s2s-close'));
    await bed.b.start();
  });
});
