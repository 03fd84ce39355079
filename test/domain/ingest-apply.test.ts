// Applying a batch: parallel across (user, room) keys, in order within a key, fences in place.
import { describe, expect, it } from 'vitest';
import { applyEvents, APPLY_PARALLELISM, handleEvents } from '../../lib/app/ingest';
import { parseEvents, type Event } from '../../lib/domain/events';
import { sign } from '../../lib/domain/signature';
import { ingestDeps } from '../../bench/ingest';
import { MemoryStore } from '../support/memory-store';

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
  store.leave = wrap(store.leave.bind(store), (_h, _u, _r, s) => s);
  store.endSession = wrap(store.endSession.bind(store), (_h, _u, s) => s);
  store.startHost = wrap(store.startHost.bind(store), (_h, s) => s) as typeof store.startHost;
  store.recordClose = wrap(store.recordClose.bind(store), (_h, _r, s) => s);
  return { store, log, maxRunning: () => maxRunning };
}

describe('applyEvents', () => {
  it('keeps the order within a key, whatever the parallelism', async () => {
    const raw: object[] = [];
    for (let i = 0; i < 60; i++) raw.push(join(i, i % 7), leave(i, i % 7), join(i, i % 7, { nick: `again${i}` }));
    for (let i = 60; i < 90; i++) raw.push(join(i, 1), leave(i, 1));
    const { store } = slowStore();
    await applyEvents(ingestDeps(store), events(...raw));
    const joins = [];
    for (let r = 0; r < 7; r++)
      joins.push(
        ...(await store.joinsOf(HOST, 'muc.b.example', 1000)).items.filter((j) => j.room === `room${r}@muc.b.example`),
      );
    const byUser = new Map(joins.map((j) => [j.user, j.nick]));
    for (let i = 0; i < 60; i++) expect(byUser.get(`u${i}@${HOST}/r`)).toBe(`again${i}`);
    for (let i = 60; i < 90; i++) expect(byUser.has(`u${i}@${HOST}/r`)).toBe(false);
  });

  it('runs keys in parallel, bounded', async () => {
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

  it('treats host-start, session-end and s2s-close as fences', async () => {
    const raw: object[] = [];
    const fences: number[] = [];
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 20; i++) raw.push(join(i, round));
      raw.push({ type: 'session-end', seq: ++seq, host: HOST, user: `u0@${HOST}/r` });
      fences.push(seq);
      for (let i = 0; i < 20; i++) raw.push(leave(i, round));
      raw.push({ type: 'host-start', seq: ++seq, host: HOST });
      fences.push(seq);
      raw.push({ type: 's2s-close', seq: ++seq, host: HOST, remotes: ['muc.b.example'], direction: 'out' });
      fences.push(seq);
    }
    const { store, log } = slowStore();
    await applyEvents(ingestDeps(store), events(...raw));
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

  it('on a failure starts no more keys, lets the running ones end, and answers 503', async () => {
    const raw: object[] = [];
    for (let i = 0; i < 100; i++) raw.push(join(i, i));
    const failAt = (raw[10] as { seq: number }).seq;
    const { store, log } = slowStore((s) => s === failAt);
    const deps = ingestDeps(store);
    const body = Buffer.from(JSON.stringify({ v: 1, events: raw }));
    const res = await handleEvents(deps, { method: 'POST', headers: { ...sign(deps.webhookKey, body) }, body });
    expect(res.status).toBe(503);
    // Every write that started has ended (none left running), and not all 100 were started.
    const started = log.filter((l) => l.at === 'start').length;
    expect(log.filter((l) => l.at === 'end').length).toBe(started);
    expect(started).toBeLessThan(100);
  });
});
