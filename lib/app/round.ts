// The self-ping round: one per (local host, remote domain, lost link). This file is one
// invocation of it: claim the round, hold its lease and a slot of the server, run a pass
// (./pass.ts), and arm the steps ./next.ts decides come next.
import { randomUUID } from 'node:crypto';
import type { Round, RoundJob } from '../domain/model';
import { ConfigError, ENV, type Config } from '../support/config';
import type { RoundDeps } from './deps';
import * as next from './next';
import { deadlineMarginMs, type PassPrefetch, prefetchPass, type Progress, runPass, storeCall } from './pass';
import { probeRemote } from './probe';

export type { RoundDeps } from './deps';
export { deadlineMarginMs, pageSize } from './pass';
export { LINK_LEAD_MS } from './next';

/** Tries to claim a window whose last close keeps moving, before the start is postponed to its new due. */
const CLAIM_ATTEMPTS = 5;
/**
 * Deadline of an invocation that has none (the local service): it is also its lease, so the
 * invocation stops feeding work before it as a function does before its timeout, and no
 * reconciled job can run the round beside it.
 */
export const UNBOUNDED_LEASE_MS = 10 * 60_000;
/** Refuses, at start, a round function whose timeout cannot hold the deadline margin. */
export function checkRoundTimeout(config: Config): void {
  if (config.roundTimeoutMs === undefined) return;
  const margin = deadlineMarginMs(config);
  if (margin >= config.roundTimeoutMs) {
    throw new ConfigError(
      `the round's deadline margin (${margin} ms, from ${ENV.apiTimeoutMs}, ${ENV.pageSize} and ${ENV.concurrency}) does not fit in the function timeout (${ENV.roundTimeoutSeconds}=${config.roundTimeoutMs / 1000})`,
    );
  }
}

/** Self-pings in flight per round times slots stays within the server's bound. */
export const serverSlots = (config: Config): number =>
  Math.max(1, Math.floor(config.serverMaxInflight / config.concurrency));

/** One invocation: its job, its deadline (the lease's end), the time left, and what it achieved. */
interface Invocation {
  job: RoundJob;
  until: number;
  left: () => number;
  progress: Progress;
  /** The retry after a failure, decided while the lease was held. */
  retry?: next.Step;
}

/** Runs (part of) a round. Our own failures are retried, never read as an outcome. */
export async function runRound(
  deps: RoundDeps,
  job: RoundJob,
  remainingMs: () => number = () => Infinity,
): Promise<void> {
  const { clock } = deps;
  const until = clock.now() + Math.min(remainingMs(), UNBOUNDED_LEASE_MS);
  const run: Invocation = {
    job,
    until,
    left: () => Math.min(remainingMs(), until - clock.now()),
    progress: { advanced: false },
  };
  try {
    const ahead = await waitForJobTime(deps, run);
    if (!ahead) return;
    if (job.kind === 'start' && (await claim(deps, run)) === 'postponed') return;
    await runHoldingLease(deps, run, ahead);
  } catch (err) {
    deps.metrics.count('RoundFailures', 'Kind', job.kind);
    if (job.probe) {
      // Best effort: the round's re-check job comes anyway.
      deps.log.warn('probe failed', { ...job, error: (err as Error).message });
      return;
    }
    const retry = run.retry ?? retryOf(deps, run);
    // Budget spent (or locally, where the durable scheduler retries): Lambda's retries, then the reconciler.
    if (!retry) throw err;
    const created = await next.arm(deps, retry);
    deps.log.error(created ? 'round failed, retry scheduled' : 'round failed, retry already scheduled', {
      ...retry.job,
      waitMs: retry.at - clock.now(),
      error: (err as Error).message,
    });
  }
}

/** The self-retry of a failed invocation. One that saved progress is not a failed attempt: the count starts again. */
function retryOf(deps: RoundDeps, run: Invocation): next.Step | undefined {
  if (!deps.selfRetry) return undefined;
  const attempt = run.progress.advanced ? 1 : (run.job.attempt ?? 0) + 1;
  return next.retry(deps.config, run.job, run.progress.pass, attempt, deps.clock.now());
}

/** What a start job did before its due time, for its run. */
interface Ahead {
  /** The first pass's reads, made while the link came up. */
  prefetch?: PassPrefetch;
}

/**
 * Waits for the job's own time when it was delivered at most IN_PLACE_MS early (a start job
 * brings the link up meanwhile); false when it came earlier: the job is armed again for its time
 * and the invocation returns, so that no function sleeps for a due second.
 */
async function waitForJobTime(deps: RoundDeps, run: Invocation): Promise<Ahead | false> {
  const { job } = run;
  const at = job.at ?? 0;
  const wait = next.waitInPlace(deps.clock.now(), at);
  if (wait === undefined) {
    await next.arm(deps, next.postpone(job, at));
    deps.log.info('round job early, scheduled again', { ...job });
    return false;
  }
  if (wait > 0 && job.kind === 'start') return { prefetch: await bringLinkUp(deps, job, wait) };
  if (wait > 0) await deps.clock.sleep(wait);
  return {};
}

/**
 * Sleeps `early` ms (at most IN_PLACE_MS), and LINK_LEAD_MS before the end has the server ping
 * the remote (a server ping names no user: a self-ping would come before the delay). Not awaited:
 * it must not hold the round, and it is only a hint (the self-pings bring the link up anyway).
 * The first pass's reads are started then too.
 */
async function bringLinkUp(deps: RoundDeps, job: RoundJob, early: number): Promise<PassPrefetch> {
  const lead = Math.min(next.LINK_LEAD_MS, deps.config.delayMs / 2);
  if (early > lead) await deps.clock.sleep(early - lead);
  deps.api.serverPing(job.host, job.remote).catch((err: unknown) => {
    deps.log.debug('server ping failed', { ...job, error: (err as Error).message });
  });
  const prefetch = prefetchPass(deps, job.host, job.remote);
  await deps.clock.sleep(Math.min(early, lead));
  return prefetch;
}

/**
 * Runs the job while holding the round's lease. A job that finds the lease taken does nothing:
 * the holder runs the round and arms what follows, and if the holder died, the reconciler
 * re-arms the round once its due (the holder's deadline) has passed. The round is read only once
 * the lease is held, so the pass goes on from the latest saved progress. What follows is armed
 * only after the lease is released, so that it never finds the round busy.
 */
async function runHoldingLease(deps: RoundDeps, run: Invocation, ahead: Ahead): Promise<void> {
  const { rounds } = deps;
  const { job } = run;
  const owner = randomUUID();
  const holder = await storeCall(deps, () => rounds.leaseRound(job.host, job.remote, job.gen, owner, run.until));
  if (holder !== undefined) {
    deps.log.info('round busy elsewhere', { ...job, until: new Date(holder).toISOString() });
    return;
  }
  let steps: next.Step[];
  try {
    steps = await runIfDue(deps, run, owner, ahead.prefetch);
  } catch (err) {
    // Still holding the lease: the round's due moves to the retry, so the reconciler keeps its backoff.
    run.retry = retryOf(deps, run);
    if (run.retry) await dueAt(deps, job, run.retry.at).catch(() => undefined);
    throw err;
  } finally {
    await rounds.releaseRound(job.host, job.remote, job.gen, owner).catch(() => undefined);
  }
  for (const step of steps) await next.arm(deps, step);
}

/** Moves the stored round's due to `at` (not earlier), unless it is done. Only while holding its lease. */
async function dueAt(deps: RoundDeps, job: RoundJob, at: number): Promise<void> {
  const round = await deps.rounds.getRound(job.host, job.remote, job.gen);
  if (round && round.state !== 'done' && (round.due ?? 0) < at) await deps.rounds.saveRound({ ...round, due: at });
}

/** Runs the round's pass, read now that the lease is held, in a slot of its server. */
async function runIfDue(
  deps: RoundDeps,
  run: Invocation,
  owner: string,
  prefetch?: PassPrefetch,
): Promise<next.Step[]> {
  const { rounds, clock, config } = deps;
  const { job, until } = run;
  let stored = await storeCall(deps, () => rounds.getRound(job.host, job.remote, job.gen));
  const verdict = next.forRound(config, job, stored, clock.now());
  if (verdict.why) deps.log.info(verdict.why, { ...job, roundPass: stored?.pass, notBefore: stored?.notBefore });
  if (!verdict.run) return verdict.steps;
  if (!stored) return [];
  if (job.probe) {
    if (!(await probeRemote(deps, stored))) return next.afterProbe(config, stored, clock.now());
    stored = { ...stored, notBefore: clock.now() };
  }
  if (stored.state === 'waiting' && stored.notBefore !== undefined) {
    const wait = next.waitInPlace(clock.now(), stored.notBefore);
    if (wait === undefined) return [next.postpone(next.recheck(stored).job, stored.notBefore)];
    if (wait > 0) await clock.sleep(wait);
  }
  const slots = serverSlots(config);
  const slotBusy = await storeCall(deps, () => rounds.leaseServerSlot(job.host, slots, owner, until));
  if (slotBusy !== undefined) {
    const step = next.slotWait(stored, slotBusy, clock.now());
    const waiting = { ...stored, due: step.at };
    await storeCall(deps, () => rounds.saveRound(waiting));
    deps.log.info('round waits for a slot of its server', { ...job, slots, at: new Date(step.at).toISOString() });
    return [step];
  }
  try {
    // A new pass looks for its own probe join; a continuation keeps what the pass found so far.
    const { probe, ...rest } = stored;
    const round = next.running(stored.cursor === undefined ? rest : { ...rest, ...(probe ? { probe } : {}) }, until);
    // Saved as running until this invocation's deadline: the reconciler leaves it alone meanwhile.
    if (stored.state !== 'running' || stored.due !== until) await storeCall(deps, () => rounds.saveRound(round));
    run.progress.pass = round.pass;
    const started = clock.now();
    try {
      return await runPass(deps, round, run.left, run.progress, prefetch);
    } finally {
      deps.metrics.measure('RoundDurationMs', clock.now() - started, 'Milliseconds');
    }
  } finally {
    await rounds.releaseServerSlot(job.host, slots, owner).catch(() => undefined);
  }
}

/**
 * Takes the pending close window of the start job as a new round, once its delay has passed:
 * `claimed` by this invocation, `taken` already (by another, or by this one in an earlier try),
 * or `postponed`: a later close moved the window's due more than IN_PLACE_MS away, and the
 * start is armed again for it (not a failure: a link that keeps closing spends no
 * retry).
 */
async function claim(deps: RoundDeps, run: Invocation): Promise<'claimed' | 'taken' | 'postponed'> {
  const { rounds, config, clock } = deps;
  const { job } = run;
  const postponed = async (due: number) => {
    await next.arm(deps, next.postpone(job, due));
    deps.log.info('round postponed', { ...job, due: new Date(due).toISOString() });
    return 'postponed' as const;
  };
  for (let attempt = 0; attempt <= CLAIM_ATTEMPTS; attempt++) {
    const pending = await storeCall(deps, () => rounds.pendingClose(job.host, job.remote));
    // Already claimed: a retried invocation resumes the round, a duplicate one finds it done.
    if (!pending || pending.gen !== job.gen) return 'taken';
    const due = pending.lastCloseAt + config.delayMs;
    const wait = next.waitInPlace(clock.now(), due);
    if (wait === undefined || attempt === CLAIM_ATTEMPTS) return postponed(due);
    if (wait > 0) await clock.sleep(wait);
    const round: Round = {
      host: job.host,
      remote: job.remote,
      gen: job.gen,
      cutoffSeq: pending.lastCloseSeq,
      // The joins this round reads: those of its last close's epoch.
      ...(pending.epoch ? { epoch: pending.epoch } : {}),
      pass: 0,
      marked: 0,
      state: 'running',
      due: run.until,
    };
    if (await storeCall(deps, () => rounds.claimRound(round))) {
      deps.log.info('round started', { host: round.host, remote: round.remote, gen: round.gen });
      deps.metrics.count('Rounds', 'State', 'started');
      deps.metrics.measure('CloseToStartMs', clock.now() - pending.lastCloseAt, 'Milliseconds');
      return 'claimed';
    }
  }
  return 'taken'; // not reached: the last attempt postpones
}
