// Correctness M1 (regression): a start job's waits fit in the invocation's remaining time, and a
// window moved by a later close is postponed to its new due, never a failure: a link that keeps
// closing neither keeps one invocation asleep past its timeout nor spends the retry budget.
import { expect, it } from 'vitest';
import { linkClosed } from '../../../lib/app/link';
import { runRound } from '../../../lib/app/round';
import { HOST, nextSeq, REMOTE, roundWorld, seedJoins } from '../../support/fakes';

/** A link that closes every `periodMs` until `stopAt`, emulated inside the fake clock's sleeps. */
function flapping(w: ReturnType<typeof roundWorld>, periodMs: number, stopAt: number) {
  let next = w.clock.now() + periodMs;
  const flapUntil = async (t: number) => {
    while (next <= t && next <= stopAt) {
      w.clock.t = Math.max(w.clock.t, next);
      await linkClosed(w.deps, HOST, REMOTE, nextSeq());
      next += periodMs;
    }
  };
  const sleep = w.clock.sleep;
  w.clock.sleep = async (ms: number) => {
    const wake = w.clock.now() + ms;
    await flapUntil(wake);
    return sleep(Math.max(0, wake - w.clock.now()));
  };
  return flapUntil;
}

it('(a) delay 120 s with a close every 110 s: the start invocation postpones itself within its timeout', async () => {
  const w = roundWorld({ PING_MUC_DELAY_SECONDS: '120' });
  await seedJoins(w, 1);
  await linkClosed(w.deps, HOST, REMOTE, nextSeq());
  const start = w.scheduler.takeNext()!;
  const began = start.job.at! - 115_000; // EventBridge fires within the minute that ends by the due time
  w.clock.t = began;
  const flapUntil = flapping(w, 110_000, Infinity);
  const timeoutMs = 600_000;
  let asked = 0;
  await runRound(w.deps, start.job, () => {
    asked++;
    return timeoutMs - (w.clock.now() - began);
  });
  expect(asked).toBeGreaterThanOrEqual(1);
  // Delivered 115 s early: armed again for its due time at once, nothing sleeps.
  expect(w.clock.now() - began).toBe(0);
  expect(w.logs.some((l) => l.message === 'round job early, scheduled again')).toBe(true);
  // At that time a later close has moved the window: the start is postponed to its new due.
  const again = w.scheduler.takeNext()!;
  await flapUntil(again.at);
  w.clock.t = Math.max(w.clock.t, again.at);
  const ranFrom = w.clock.now();
  await runRound(w.deps, again.job, () => timeoutMs - (w.clock.now() - ranFrom));
  expect(w.clock.now() - ranFrom).toBeLessThanOrEqual(1_000);
  const pending = [...w.scheduler.pending.values()];
  expect(pending.map((p) => [p.job.kind, p.job.attempt])).toEqual([['start', undefined]]);
  expect((await w.store.pendingClose(HOST, REMOTE))!.lastCloseAt + 120_000).toBe(pending[0]!.job.at);
  expect(w.logs.some((l) => l.message === 'round postponed')).toBe(true);
});

it('(b) delay 60 s with a close every 30 s for three hours: the start waits out the flapping without giving up', async () => {
  const w = roundWorld();
  const [ghost] = await seedJoins(w, 1);
  w.api.answers.set(ghost!.occupant, 'not-acceptable');
  await linkClosed(w.deps, HOST, REMOTE, nextSeq());
  const t0 = w.clock.now();
  const stopAt = t0 + 180 * 60_000;
  const flapUntil = flapping(w, 30_000, stopAt);
  let failures = 0;
  for (let i = 0; i < 1000; i++) {
    const next = w.scheduler.takeNext();
    if (!next) break;
    await flapUntil(next.at);
    w.clock.t = Math.max(w.clock.t, next.at);
    await runRound(w.deps, next.job).catch(() => failures++);
  }
  expect(failures).toBe(0);
  expect(w.scheduler.created.filter((c) => c.job.attempt)).toEqual([]);
  expect(await w.store.pendingClose(HOST, REMOTE)).toBeUndefined();
  expect(w.api.notifications).toHaveLength(1);
  expect(w.api.notifications[0]!.at).toBeGreaterThanOrEqual(stopAt);
});
