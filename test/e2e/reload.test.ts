// Reloading mod_ping_muc_cloud on a running Prosody (prosodyctl shell: module:reload):
// joins survive it however many there are (re-posted under a new epoch), a reload during a
// pending window still heals the ghosts, and the unloaded instance neither leaks self-ping
// replies nor keeps posting.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batch, only, ping } from './batch';
import { type ApiAnswer, callApi, EventsReceiver, type ReceivedEvent } from './http';
import { Stack } from './stack';
import { DOMAINS, sleep, Testbed } from '../../harness/testbed';
import { isNotification, User } from '../../harness/users';

const reload = (bed: Testbed) => bed.a.reloadModule('ping_muc_cloud', DOMAINS.a);

describe('reload with more joins than the queue holds', () => {
  let stack: Stack;
  const USERS = 4;
  const ROOMS = 50; // per user: 200 joins, queue of 50

  beforeAll(async () => {
    stack = await Stack.start({ aOptions: { ping_muc_cloud_queue_size: 50 } });
    const users = await Promise.all(Array.from({ length: USERS }, (_, i) => stack.user(`many${i}`)));
    // One join at a time: four users joining at once outran the local service on a busy machine
    // and overflowed the queue of 50 before the reload this test is about.
    for (const [i, u] of users.entries())
      for (let r = 0; r < ROOMS; r++) await u.join(`r${r}@${DOMAINS.mucB}`, `U${i}`);
    await stack.waitForJoins(DOMAINS.mucB, (j) => j.length === USERS * ROOMS, 30_000);
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('keeps all 200 joins in the store by posting each again under a new epoch', async () => {
    // The tap records a request's events when ping-muc's answer passes back through it, just after
    // the store was written: wait for the tap itself, not for the store.
    const joinsSeen = () =>
      new Map(stack.events.events.filter((e) => e.type === 'join').map((e) => [`${e.user} ${e.room}`, e.seq]));
    const until = Date.now() + 10_000;
    while (joinsSeen().size < USERS * ROOMS && Date.now() < until) await sleep(50);
    const firstSeq = joinsSeen();
    expect(firstSeq.size).toBe(USERS * ROOMS);
    const mark = stack.events.events.length;
    const loadEpoch = stack.events.events[mark - 1]!.epoch as number;
    await reload(stack.bed);
    const until2 = Date.now() + 30_000;
    const reposts = () => stack.events.events.slice(mark).filter((e) => e.type === 'join');
    while (reposts().length < USERS * ROOMS && Date.now() < until2) await sleep(50);
    // Re-posted under the reload's epoch (a seq taken as its resync began), each with its since.
    const reposted = reposts();
    expect(reposted).toHaveLength(USERS * ROOMS);
    const epoch = reposted[0]!.epoch as number;
    expect(epoch).toBeGreaterThan(loadEpoch);
    for (const e of reposted) {
      expect(e.since).toBe(firstSeq.get(`${e.user} ${e.room}`));
      expect(e.epoch).toBe(epoch);
      expect(e.seq).toBeGreaterThan(epoch);
    }
    expect(stack.events.events.filter((e) => e.type === 'host-start')).toEqual([]);
    await sleep(500);
    expect(stack.events.events.slice(mark).filter((e) => e.type === 'join')).toHaveLength(USERS * ROOMS);
    const joins = await stack.waitForJoins(DOMAINS.mucB, (j) => j.length === USERS * ROOMS, 10_000);
    expect(new Set(joins.map((j) => `${j.user} ${j.room}`)).size).toBe(USERS * ROOMS);
    expect(stack.bed.a.log()).not.toMatch(/Event queue full/);
  }, 60_000);
});

describe('reload between a lost link and its round', () => {
  let stack: Stack;
  let alice: User;

  beforeAll(async () => {
    stack = await Stack.start({ delaySeconds: 4 });
    alice = await stack.user('alice');
    await alice.join(`ghost@${DOMAINS.mucB}`, 'Alice');
    await stack.waitForJoins(DOMAINS.mucB, (j) => j.length === 1);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  // Needs the service to keep `since` and compare it with the close (issue 9.14, being built):
  // until then the round skips the re-announced join and this test fails for that reason only.
  it('still heals the ghost of a re-announced join', async () => {
    await stack.bed.b.kill(); // B forgets its occupants: alice becomes a ghost
    await stack.bed.b.start();
    const close = await stack.events.waitFor((e) => e.type === 's2s-close' && !!e.remotes?.includes(DOMAINS.mucB));
    await reload(stack.bed);
    const rejoin = await stack.events.waitFor((e) => e.type === 'join' && e.user === alice.jid && e.seq > close.seq);
    expect(rejoin.since).toBeLessThan(close.seq);
    const note = await alice.waitFor(isNotification, 20_000);
    expect(note.el.attrs.from).toBe(`ghost@${DOMAINS.mucB}/Alice`);
    expect(stack.api.pings().map((c) => [c.from, c.to])).toEqual([[alice.jid, `ghost@${DOMAINS.mucB}/Alice`]]);
  }, 40_000);
});

describe('the unloaded instance', () => {
  let bed: Testbed;
  let rx: EventsReceiver;
  let alice: User;
  const ROOM = `unload@${DOMAINS.mucB}`;

  beforeAll(async () => {
    bed = await Testbed.create({ aOptions: { ping_muc_cloud_ping_timeout: 5, ping_muc_cloud_batch_size: 1 } });
    rx = new EventsReceiver(bed.webhookSecret);
    await rx.start();
    await bed.start(rx.url);
    alice = await User.connect(bed.a, DOMAINS.a, 'alice');
    await alice.join(ROOM, 'Alice');
    await rx.waitFor((e) => e.type === 'join' && e.user === alice.jid);
  });

  afterAll(async () => {
    await bed?.stop();
    await alice?.stop();
    await rx?.close();
  });

  it('answers 503 to a self-ping in flight whose late reply never reaches the client', async () => {
    const since = Date.now();
    bed.b.pause(); // the ping goes out, the reply waits
    let answer: ApiAnswer | undefined;
    try {
      const call = callApi(bed.apiUrl, bed.apiSecret, batch([ping('u-1', alice.jid, `${ROOM}/Alice`)]));
      await sleep(300);
      await reload(bed);
      answer = await call;
    } finally {
      bed.b.resume(); // now B answers
    }
    expect(answer.status).toBe(503);
    await sleep(1500);
    const leaked = alice.received.filter((r) => r.at > since && r.el.name === 'iq').map((r) => r.el.toString());
    expect(leaked).toEqual([]);
    // The API of the new instance works.
    expect(only(await callApi(bed.apiUrl, bed.apiSecret, batch([ping('u-2', alice.jid, `${ROOM}/Alice`)])))).toBe(
      'iq result',
    );
  }, 30_000);

  it('stops posting in favour of the new instance whose joins carry since', async () => {
    rx.answer = 503;
    for (const r of ['s1', 's2', 's3']) await alice.join(`${r}@${DOMAINS.mucB}`, 'Alice');
    await sleep(500);
    // Let the next retry in and hold its answer: it is in flight while the module reloads.
    rx.delayMs = 1500;
    rx.answer = 200;
    const before = rx.requests.length;
    const deadline = Date.now() + 5000;
    while (rx.requests.length === before && Date.now() < deadline) await sleep(20);
    const seen = rx.events.length;
    const oldEpoch = (rx.requests.at(-1)?.events[0]?.epoch ?? 0) as number;
    await reload(bed);
    const reloadedAt = Date.now();
    const first = await rx.waitFor((e) => e.type === 'join' && (e.epoch as number) > oldEpoch, 15_000);
    const epoch = first.epoch as number;
    rx.delayMs = 0;
    await sleep(4000);
    // Every request after the reload comes from the new instance: all under its epoch, nothing older.
    const old: ReceivedEvent[] = rx.requests
      .filter((r) => r.at > reloadedAt)
      .flatMap((r) => r.events.filter((e) => e.epoch !== epoch || e.seq < epoch));
    expect(old).toEqual([]);
    expect(rx.events.slice(seen).filter((e) => e.type === 'host-start')).toEqual([]);
    const reposted = rx.events.filter((e) => e.type === 'join' && e.epoch === epoch);
    for (const e of reposted) expect(e.since).toBeLessThan(epoch);
    const rooms = reposted.map((e) => e.room).sort();
    expect(rooms).toEqual([ROOM, `s1@${DOMAINS.mucB}`, `s2@${DOMAINS.mucB}`, `s3@${DOMAINS.mucB}`].sort());
  }, 40_000);
});
