// Applying a batch: parallel across (user, room) keys, in order within a key, fences in place.
import { describe, expect, it } from 'vitest';
import { applyEvents, APPLY_PARALLELISM, handleEvents } from '../../lib/app/ingest';
import { maxSeqAt, parseEvents, type Event } from '../../lib/domain/events';
import { sign } from '../../lib/domain/signature';
import { ingestDeps, WEBHOOK_KEY } from '../../harness/ingest';
import { oneKeyRegistry } from '../support/registry';
import { MemoryStore } from '../../harness/memory-store';
import { drive, REMOTE, roundWorld, type RoundWorld } from '../support/fakes';

const HOST = 'a.example';
let seq = 1_000_000;
const join = (u: number, r: number, extra: object = {}) => ({
  type: 'join',
  seq: ++seq,
  host: HOST,
  user: `u${u}@${HOST}/r`,
  room: `room${r}@muc.b.example`,
  nick: `n${u}`,
  ...extra,
});
const leave = (u: number, r: number) => ({
  type: 'leave',
  seq: ++seq,
  host: HOST,
  user: `u${u}@${HOST}/r`,
  room: `room${r}@muc.b.example`,
});
const events = (...raw: object[]): Event[] => parseEvents(JSON.stringify({ v: 1, events: raw }));

/** A MemoryStore whose writes take a random while and are logged (start/end, by event seq). */
function slowStore(fail?: (seq: number) => boolean) {
  const store = new MemoryStore();
  const log: Array<{ at: 'start' | 'end'; seq: number }> = [];
  let running = 0;
  let maxRunning = 0;
  const wrap =
    <A extends unknown[], R>(fn: (...a: A) => Promise<R>, seqOf: (...a: A) => number) =>
    async (...a: A): Promise<R> => {
      const s = seqOf(...a);
      log.push({ at: 'start', seq: s });
      maxRunning = Math.max(maxRunning, ++running);
      await new Promise((r) => setTimeout(r, Math.random() * 4));
      try {
        if (fail?.(s)) throw new Error(`store down at ${s}`);
        return await fn(...a);
      } finally {
        running--;
        log.push({ at: 'end', seq: s });
      }
    };
  store.putJoin = wrap(store.putJoin.bind(store), (j) => j.seq);
  store.leave = wrap(store.leave.bind(store), (_k, s) => s);
  store.beat = wrap(store.beat.bind(store), (_h, s) => s);
  store.recordClose = wrap(store.recordClose.bind(store), (_h, _r, s) => s);
  return { store, log, maxRunning: () => maxRunning };
}

describe('applyEvents', () => {
  it('keeps the order within a key whatever the parallelism', async () => {
    const raw: object[] = [];
    for (let i = 0; i < 60; i++) raw.push(join(i, i % 7), leave(i, i % 7), join(i, i % 7, { nick: `again${i}` }));
    for (let i = 60; i < 90; i++) raw.push(join(i, 1), leave(i, 1));
    const { store } = slowStore();
    await applyEvents(ingestDeps(store), events(...raw));
    const joins = [];
    for (let r = 0; r < 7; r++)
      joins.push(
        ...(await store.joinsOf(HOST, 0, 'muc.b.example', 1000)).items.filter(
          (j) => j.room === `room${r}@muc.b.example`,
        ),
      );
    const byUser = new Map(joins.map((j) => [j.user, j.nick]));
    for (let i = 0; i < 60; i++) expect(byUser.get(`u${i}@${HOST}/r`)).toBe(`again${i}`);
    for (let i = 60; i < 90; i++) expect(byUser.has(`u${i}@${HOST}/r`)).toBe(false);
  });

  it('runs keys in parallel within the given bound', async () => {
    const raw: object[] = [];
    for (let i = 0; i < 100; i++) raw.push(join(i, i));
    const { store, maxRunning } = slowStore();
    await applyEvents(ingestDeps(store), events(...raw));
    expect(maxRunning()).toBeGreaterThan(1);
    expect(maxRunning()).toBeLessThanOrEqual(APPLY_PARALLELISM);
    const one = slowStore();
    await applyEvents(ingestDeps(one.store), events(...raw.map((e) => ({ ...e, seq: ++seq }))), 1);
    expect(one.maxRunning()).toBe(1);
  });

  it('treats s2s-close as a fence while host-start or session-end write nothing', async () => {
    const raw: object[] = [];
    const fences: number[] = [];
    const counted: number[] = [];
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 20; i++) raw.push(join(i, round));
      raw.push({ type: 'session-end', seq: ++seq, host: HOST, user: `u0@${HOST}/r` });
      counted.push(seq);
      for (let i = 0; i < 20; i++) raw.push(leave(i, round));
      raw.push({ type: 'host-start', seq: ++seq, host: HOST });
      counted.push(seq);
      raw.push({ type: 's2s-close', seq: ++seq, host: HOST, remotes: ['muc.b.example'], direction: 'out' });
      fences.push(seq);
    }
    const { store, log } = slowStore();
    const deps = ingestDeps(store);
    const seen: string[] = [];
    deps.metrics.count = (metric, dimension, value) => void seen.push(`${metric}.${dimension}.${value}`);
    await applyEvents(deps, events(...raw));
    for (const s of counted) expect(log.some((l) => l.seq === s)).toBe(false);
    expect(seen.filter((x) => x === 'Events.EventType.host-start')).toHaveLength(3);
    expect(seen.filter((x) => x === 'Events.EventType.session-end')).toHaveLength(3);
    for (const fence of fences) {
      const start = log.findIndex((l) => l.at === 'start' && l.seq === fence);
      const end = log.findIndex((l) => l.at === 'end' && l.seq === fence);
      expect(start).toBeGreaterThanOrEqual(0);
      // Nothing else runs while a fence runs; everything before it ended before it started.
      expect(end).toBe(start + 1);
      for (const l of log.slice(0, start)) expect(l.seq).toBeLessThan(fence);
      for (const l of log.slice(end + 1)) expect(l.seq).toBeGreaterThan(fence);
    }
  });

  /** A request of 100 keys whose eleventh write fails. */
  async function failingRequest() {
    const raw: object[] = [];
    for (let i = 0; i < 100; i++) raw.push(join(i, i));
    const failAt = (raw[10] as { seq: number }).seq;
    const { store, log } = slowStore((s) => s === failAt);
    const deps = ingestDeps(store);
    const body = Buffer.from(JSON.stringify({ v: 1, events: raw }));
    const res = await handleEvents(deps, { method: 'POST', headers: { ...sign(WEBHOOK_KEY, body) }, body });
    return { res, log };
  }

  it('answers 503 on a failure', async () => {
    const { res } = await failingRequest();
    expect(res.status).toBe(503);
  });

  it('on a failure starts no more keys but lets the running ones end', async () => {
    const { log } = await failingRequest();
    // Every write that started has ended (none left running), and not all 100 were started.
    const started = log.filter((l) => l.at === 'start').length;
    expect(log.filter((l) => l.at === 'end').length).toBe(started);
    expect(started).toBeLessThan(100);
  });

  it('applies the closes of distinct remotes side by side (bounded) in order per link', async () => {
    // An uplink that dropped: every link closes in both directions, then comes up again. Each
    // close is a store write and a scheduler call (a Lambda Invoke on AWS) that takes a while.
    const store = new MemoryStore();
    const deps = ingestDeps(store);
    const LATENCY_MS = 5;
    const calls: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const recordClose = store.recordClose.bind(store);
    const seen: Array<{ remote: string; seq: number }> = [];
    store.recordClose = (async (...args: Parameters<typeof store.recordClose>) => {
      seen.push({ remote: args[1], seq: args[2] });
      return recordClose(...args);
    }) as typeof store.recordClose;
    deps.scheduler = {
      async schedule(name) {
        calls.push(name);
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        await new Promise((r) => setTimeout(r, LATENCY_MS));
        inFlight--;
        return true;
      },
    };
    const N = 100;
    const raw: object[] = [];
    for (let i = 0; i < N; i++)
      raw.push({ type: 's2s-close', seq: ++seq, host: HOST, remotes: [`muc${i}.example`], direction: 'out' });
    for (let i = 0; i < N; i++)
      raw.push({ type: 's2s-close', seq: ++seq, host: HOST, remotes: [`muc${i}.example`], direction: 'in' });
    const t0 = Date.now();
    await applyEvents(deps, events(...raw));
    const ms = Date.now() - t0;
    // One start per link (the second close coalesces into the window), several at once, bounded.
    expect(calls).toHaveLength(N);
    expect(maxInFlight).toBeGreaterThan(1);
    expect(maxInFlight).toBeLessThanOrEqual(APPLY_PARALLELISM);
    expect(ms).toBeLessThan((N * LATENCY_MS) / 2);
    // Per link, its closes in the order sent.
    for (let i = 0; i < N; i++) {
      const mine = seen.filter((c) => c.remote === `muc${i}.example`).map((c) => c.seq);
      expect(mine).toHaveLength(2);
      expect(mine[0]!).toBeLessThan(mine[1]!);
    }
  });

  it('fences a run of closes off from the events around it', async () => {
    const { store, log } = slowStore();
    const raw: object[] = [];
    for (let i = 0; i < 10; i++) raw.push(join(i, i));
    const closes: number[] = [];
    for (let i = 0; i < 10; i++) {
      raw.push({
        type: 's2s-close',
        seq: ++seq,
        host: HOST,
        remotes: [`muc${i}.example`, 'muc.b.example'],
        direction: 'out',
      });
      closes.push(seq);
    }
    for (let i = 0; i < 10; i++) raw.push(leave(i, i));
    await applyEvents(ingestDeps(store), events(...raw));
    const first = log.findIndex((l) => closes.includes(l.seq));
    const last = log.length - 1 - [...log].reverse().findIndex((l) => closes.includes(l.seq));
    // Every join ended before the first close started, every leave started after the last close ended.
    for (const l of log.slice(0, first)) expect(closes.includes(l.seq) || l.seq < closes[0]!).toBe(true);
    for (const l of log.slice(first, last + 1)) expect(closes).toContain(l.seq);
    for (const l of log.slice(last + 1)) expect(l.seq).toBeGreaterThan(closes[9]!);
    // The remote every close names: its closes one after the other, in their order.
    const shared = log.filter((l) => closes.includes(l.seq));
    expect(shared.filter((l) => l.at === 'start').length).toBe(20);
  });
});

describe('a server clock that ran ahead, corrected, then a restart', () => {
  const MIN = 60_000;
  const KEY = Buffer.alloc(32, 5);

  /**
   * The module's seq: its clock in µs, strictly increasing, and kept across a restart unless it
   * is beyond what ping-muc accepts at that time (such seqs were refused: none is stored).
   */
  class ModuleSeq {
    private last = 0;
    next(clockMs: number): number {
      this.last = Math.max(Math.floor(clockMs * 1000), this.last + 1);
      return this.last;
    }
    restart(clockMs: number): void {
      if (this.last > maxSeqAt(clockMs)) this.last = 0;
    }
  }

  /** Posts events as the module does: signed at its own clock's time, with its seqs. */
  async function post(w: RoundWorld, clockMs: number, events: object[]) {
    const deps = { ...w.deps, hosts: oneKeyRegistry(KEY) };
    const body = Buffer.from(JSON.stringify({ v: 1, events }));
    const headers = { ...sign(KEY, body, Math.floor(clockMs / 1000)) };
    return handleEvents(deps, { method: 'POST', headers, body });
  }

  /**
   * The server's clock runs `aheadMs` ahead from boot; its events of that time reach ping-muc
   * after the clock is corrected (`correctAfterMs`; they were queued, or signed within the
   * tolerance). Prosody restarts at `restartAfterMs`: three users join, ghosts at once (their
   * MUC restarts), and the link closes. Every one of them must be pinged and told.
   */
  async function scenario(aheadMs: number, correctAfterMs: number, restartAfterMs: number) {
    const w = roundWorld();
    const seq = new ModuleSeq();
    const boot = w.clock.now();
    const ahead = () => w.clock.now() + aheadMs;
    const early = [
      { type: 'host-start', seq: seq.next(ahead()), host: HOST },
      { type: 'join', seq: seq.next(ahead()), host: HOST, user: `old@${HOST}/r`, room: `old@${REMOTE}`, nick: 'old' },
      { type: 's2s-close', seq: seq.next(ahead()), host: HOST, remotes: [REMOTE], direction: 'out' },
    ];
    // Signed within the tolerance: posted at once; else queued until the clock is right.
    const withinTolerance = aheadMs <= 300_000;
    const answers = [];
    if (withinTolerance) answers.push(await post(w, ahead(), early));
    w.clock.t = boot + correctAfterMs;
    if (!withinTolerance) answers.push(await post(w, w.clock.now(), early));
    await drive(w);

    w.clock.t = boot + restartAfterMs;
    seq.restart(w.clock.now());
    const fresh = [0, 1, 2].map((i) => ({ user: `u${i}@${HOST}/r`, room: `room${i}@${REMOTE}`, nick: `u${i}` }));
    answers.push(
      await post(w, w.clock.now(), [
        { type: 'host-start', seq: seq.next(w.clock.now()), host: HOST },
        ...fresh.map((j) => ({ type: 'join', seq: seq.next(w.clock.now()), host: HOST, ...j })),
      ]),
    );
    for (const j of fresh) w.api.answers.set(`${j.room}/${j.nick}`, 'not-acceptable');
    w.clock.advance(MIN);
    answers.push(
      await post(w, w.clock.now(), [
        { type: 's2s-close', seq: seq.next(w.clock.now()), host: HOST, remotes: [REMOTE], direction: 'in' },
      ]),
    );
    await drive(w);
    // An hour and more later, any round of the link (a close past every old seq) finds them still.
    w.clock.advance(2 * 60 * MIN);
    answers.push(
      await post(w, w.clock.now(), [
        { type: 's2s-close', seq: seq.next(w.clock.now()), host: HOST, remotes: [REMOTE], direction: 'out' },
      ]),
    );
    await drive(w);
    const told = new Set(w.api.notifications.map((n) => n.occupant));
    return {
      answers,
      fresh: fresh.map((j) => `${j.room}/${j.nick}`),
      told,
      pinged: new Set(w.api.pings.map((p) => p.occupant)),
    };
  }

  it('an hour ahead: the fresh joins after the restart are told despite the refused seqs', async () => {
    const r = await scenario(60 * MIN, 10 * MIN, 20 * MIN);
    for (const o of r.fresh) expect(r.pinged).toContain(o);
    for (const o of r.fresh) expect(r.told).toContain(o);
    // The three events of the ahead time were refused, one by one (the request itself is fine).
    expect(r.answers[0]).toMatchObject({ status: 200, body: { applied: 0 } });
    expect((r.answers[0]!.body.refused as Array<{ error: string }>).map((x) => x.error)).toEqual(
      Array(3).fill(expect.stringMatching(/"seq" is \d+ s ahead of ping-muc's clock \(at most 300 s\)/)),
    );
    for (const a of r.answers.slice(1)) expect(a.body).not.toHaveProperty('refused');
  });

  it('four minutes ahead (accepted): the module’s seq kept across the restart outranks them', async () => {
    const r = await scenario(4 * MIN, 2 * MIN, 3 * MIN);
    for (const a of r.answers) expect(a).toMatchObject({ status: 200, body: { ok: true } });
    for (const a of r.answers) expect(a.body).not.toHaveProperty('refused');
    for (const o of r.fresh) expect(r.told).toContain(o);
  });
});
