// The self-ping round: one per (local host, remote domain, lost link). This file is one
// invocation of it: claim or resume the round, hold its lease, run a pass (./pass.ts), and
// schedule what comes next.
import { randomUUID } from 'node:crypto';
import type { Round, RoundJob } from '../domain/model';
import { scheduleName, scheduleTag } from '../domain/schedule';
import { backoffMs } from '../support/backoff';
import type { RoundDeps } from './deps';
import { runPass, type FollowUp } from './pass';

export type { RoundDeps } from './deps';
export { deadlineMarginMs, pageSize } from './pass';

/** A woken-early round waits this long at most before re-scheduling itself instead. */
const MAX_EARLY_WAIT_MS = 5_000;
const CLAIM_ATTEMPTS = 5;
const RETRY_BASE_MS = 30_000;
const RETRY_MAX_MS = 15 * 60_000;
/** Lease for a round invocation without a deadline (the local service). */
const UNBOUNDED_LEASE_MS = 10 * 60_000;

/** Runs (part of) a round. Our own failures are retried, never read as an outcome. */
export async function runRound(deps: RoundDeps, job: RoundJob, remainingMs: () => number = () => Infinity): Promise<void> {
  try {
    const round = job.kind === 'start' ? await claim(deps, job) : await resume(deps, job);
    if (round) await runHoldingLease(deps, round, remainingMs);
  } catch (err) {
    deps.metrics.count('RoundFailures', 'Kind', job.kind);
    const attempt = (job.attempt ?? 0) + 1;
    if (!deps.selfRetry || attempt > deps.config.retryAttempts) throw err;
    const wait = backoffMs(attempt - 1, RETRY_BASE_MS, RETRY_MAX_MS);
    // If even this fails, the error goes to Lambda's retries and then the DLQ.
    const now = deps.clock.now();
    const created = await deps.scheduler.schedule(scheduleName(job, scheduleTag.retry(attempt, now)), now + wait, { ...job, attempt });
    deps.log.error(created ? 'round failed, retry scheduled' : 'round failed, retry already scheduled', { ...job, attempt, waitMs: wait, error: (err as Error).message });
  }
}

/**
 * Runs a pass while holding the round's lease: an at-least-once duplicate of the invocation
 * finds it taken and comes back when the lease ends (in case the holder died). The follow-up
 * is scheduled only after the lease is released, so that it never finds the round busy.
 */
async function runHoldingLease(deps: RoundDeps, round: Round, remainingMs: () => number): Promise<void> {
  const owner = randomUUID();
  const until = deps.clock.now() + Math.min(remainingMs(), UNBOUNDED_LEASE_MS);
  const heldUntil = await deps.rounds.leaseRound(round.host, round.remote, round.gen, owner, until);
  let next: FollowUp | undefined;
  if (heldUntil !== undefined) {
    deps.log.info('round busy elsewhere', { host: round.host, remote: round.remote, gen: round.gen, until: new Date(heldUntil).toISOString() });
    next = { tag: scheduleTag.busy(heldUntil), at: heldUntil + 1000 };
  } else {
    try {
      next = await runPass(deps, round, remainingMs);
    } finally {
      await deps.rounds.releaseRound(round.host, round.remote, round.gen, owner).catch(() => undefined);
    }
  }
  if (next) {
    const job: RoundJob = { host: round.host, remote: round.remote, gen: round.gen, kind: 'continue' };
    await deps.scheduler.schedule(scheduleName(job, next.tag), next.at, job);
  }
}

/** Takes the pending close window of `job` as a new round, once its delay has passed. */
async function claim(deps: RoundDeps, job: RoundJob): Promise<Round | undefined> {
  const { rounds, config, clock } = deps;
  for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
    const pending = await rounds.pendingClose(job.host, job.remote);
    if (!pending || pending.gen !== job.gen) {
      // Already claimed: a retried invocation resumes the round, a duplicate one finds it done.
      return resume(deps, { ...job, kind: 'continue' });
    }
    const due = pending.lastCloseAt + config.delayMs;
    const early = due - clock.now();
    if (early > MAX_EARLY_WAIT_MS) {
      // A close arrived after this round was scheduled: never ping earlier than the delay after it.
      await deps.scheduler.schedule(scheduleName(job, scheduleTag.postponed(due)), due, job);
      deps.log.info('round postponed', { ...job, due: new Date(due).toISOString() });
      return undefined;
    }
    if (early > 0) await clock.sleep(early);
    const round: Round = { host: job.host, remote: job.remote, gen: job.gen, cutoffSeq: pending.lastCloseSeq, pass: 0, marked: 0, state: 'running' };
    if (await rounds.claimRound(round, pending.lastCloseAt)) {
      deps.log.info('round started', { host: round.host, remote: round.remote, gen: round.gen });
      return round;
    }
  }
  throw new Error(`could not claim round ${job.host}/${job.remote}/${job.gen}: closes keep arriving`);
}

async function resume(deps: RoundDeps, job: RoundJob): Promise<Round | undefined> {
  const round = await deps.rounds.getRound(job.host, job.remote, job.gen);
  if (!round || round.state === 'done') return undefined;
  return round.state === 'waiting' ? { ...round, state: 'running' } : round;
}
