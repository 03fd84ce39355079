// The self-ping round: one per (local host, remote domain, lost link). This file is one
// invocation of it: claim the round, hold its lease and a slot of the server, run a pass
// (./pass.ts), and schedule what comes next.
import { randomUUID } from 'node:crypto';
import type { Round, RoundJob } from '../domain/model';
import { scheduleName, scheduleTag } from '../domain/schedule';
import { backoffMs } from '../support/backoff';
import { ConfigError, ENV, type Config } from '../support/config';
import type { RoundDeps } from './deps';
import { deadlineMarginMs, type FollowUp, type PassPrefetch, prefetchPass, type Progress, runPass } from './pass';
import { probeRemote, probeWanted } from './probe';

export type { RoundDeps } from './deps';
export { deadlineMarginMs, pageSize } from './pass';

/**
 * A woken-early round waits this long at most before re-scheduling itself instead. On AWS every
 * job is scheduled to fire up to two minutes before its time (see `scheduledMinute`), or invoked
 * at once when it is due sooner than that, so that it starts on the due second: the wait is part
 * of the plan, not a stray.
 */
const MAX_EARLY_WAIT_MS = 130_000;
const CLAIM_ATTEMPTS = 5;
const RETRY_BASE_MS = 30_000;
const RETRY_MAX_MS = 15 * 60_000;
/** Lease for a round invocation without a deadline (the local service). */
const UNBOUNDED_LEASE_MS = 10 * 60_000;
/** When every slot of the server is taken, look again this soon (slots free as rounds end). */
const SLOT_RETRY_MS = 10_000;
/**
 * A start job woken early brings the link to its remote up this long before its due time (at
 * most half the delay after the close: the remote needs that time to come back), so that the
 * first self-pings do not wait for a new s2s connection (DNS, TCP, TLS, dialback).
 */
export const LINK_LEAD_MS = 2_000;

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

const continuation = (round: Pick<Round, 'host' | 'remote' | 'gen'>, next: FollowUp): RoundJob => ({
  host: round.host,
  remote: round.remote,
  gen: round.gen,
  kind: 'continue',
  ...(next.pass !== undefined ? { pass: next.pass } : {}),
  ...(next.probe && next.pass !== undefined ? { probe: true as const } : {}),
});

/** Runs (part of) a round. Our own failures are retried, never read as an outcome. */
export async function runRound(
  deps: RoundDeps,
  job: RoundJob,
  remainingMs: () => number = () => Infinity,
): Promise<void> {
  const progress: Progress = { advanced: false };
  try {
    const early = await waitForJobTime(deps, job);
    if (!early) return;
    const claimed = job.kind === 'start' ? await claim(deps, job) : undefined;
    if (claimed === 'postponed') return;
    await runHoldingLease(deps, job, remainingMs, progress, { ...early, fresh: claimed === 'claimed' });
  } catch (err) {
    deps.metrics.count('RoundFailures', 'Kind', job.kind);
    // An invocation that saved progress is not a failed attempt: the count starts again.
    const attempt = progress.advanced ? 1 : (job.attempt ?? 0) + 1;
    if (!deps.selfRetry || attempt > deps.config.retryAttempts) throw err;
    const wait = backoffMs(attempt - 1, RETRY_BASE_MS, RETRY_MAX_MS);
    // If even this fails, the error goes to Lambda's retries and then the DLQ.
    const now = deps.clock.now();
    const retry = { ...job, attempt, ...(progress.pass !== undefined ? { pass: progress.pass } : {}) };
    const created = await deps.scheduler.schedule(
      scheduleName(job, scheduleTag.retry(attempt, now)),
      now + wait,
      retry,
    );
    deps.log.error(created ? 'round failed, retry scheduled' : 'round failed, retry already scheduled', {
      ...retry,
      waitMs: wait,
      error: (err as Error).message,
    });
  }
}

/** What a start job did before its due time, for its run. */
interface Ahead {
  /** The first pass's reads, made while the link came up. */
  prefetch?: PassPrefetch;
  /** This invocation claimed the round just now: it is stored as claimed, nothing to look at. */
  fresh?: boolean;
}

/**
 * Waits for the job's own time when it was delivered early (by design on AWS). False when it is
 * far earlier than any delivery should be: it is scheduled again for its time instead.
 */
async function waitForJobTime(deps: RoundDeps, job: RoundJob): Promise<Ahead | false> {
  const early = (job.at ?? 0) - deps.clock.now();
  if (early > MAX_EARLY_WAIT_MS) {
    const at = job.at as number;
    await deps.scheduler.schedule(scheduleName(job, scheduleTag.postponed(at)), at, job);
    deps.log.info('round job early, scheduled again', { ...job });
    return false;
  }
  if (early > 0 && job.kind === 'start') return { prefetch: await bringLinkUp(deps, job, early) };
  if (early > 0) await deps.clock.sleep(early);
  return {};
}

/**
 * Sleeps `early` ms, and LINK_LEAD_MS before the end has the server ping the remote (a server
 * ping names no user: a self-ping would come before the delay). Not awaited: it must not hold
 * the round, and it is only a hint (the self-pings bring the link up anyway). The first pass's
 * reads are started then too.
 */
async function bringLinkUp(deps: RoundDeps, job: RoundJob, early: number): Promise<PassPrefetch> {
  const lead = Math.min(LINK_LEAD_MS, deps.config.delayMs / 2);
  if (early > lead) await deps.clock.sleep(early - lead);
  deps.api.serverPing?.(job.host, job.remote).catch((err: unknown) => {
    deps.log.debug('server ping failed', { ...job, error: (err as Error).message });
  });
  const prefetch = prefetchPass(deps, job.host, job.remote);
  await deps.clock.sleep(Math.min(early, lead));
  return prefetch;
}

/**
 * Runs a pass while holding the round's lease: an at-least-once duplicate of the invocation
 * finds it taken and comes back when the lease ends (in case the holder died). The round is
 * read only once the lease is held, so the pass goes on from the latest saved progress. The
 * follow-up is scheduled only after the lease is released, so that it never finds the round busy.
 */
async function runHoldingLease(
  deps: RoundDeps,
  job: RoundJob,
  remainingMs: () => number,
  progress: Progress,
  ahead: Ahead = {},
): Promise<void> {
  const { rounds, clock } = deps;
  // Looked at before the lease too: a job with nothing to do must not come back when the lease
  // is busy, or at-least-once delivery of come-backs would keep them alive forever. A round this
  // invocation has just claimed has something to do.
  let next: FollowUp[] | undefined = ahead.fresh ? undefined : await jobIsIdle(deps, job);
  if (next === undefined) {
    const owner = randomUUID();
    const until = clock.now() + Math.min(remainingMs(), UNBOUNDED_LEASE_MS);
    const heldUntil = await rounds.leaseRound(job.host, job.remote, job.gen, owner, until);
    if (heldUntil !== undefined) {
      deps.log.info('round busy elsewhere', { ...job, until: new Date(heldUntil).toISOString() });
      // A probe that finds the round busy is not needed: the round is running.
      next = job.probe ? [] : [{ tag: scheduleTag.busy(heldUntil), at: heldUntil + 1000, pass: job.pass }];
    } else {
      try {
        next = await runIfDue(deps, job, owner, until, remainingMs, progress, ahead.prefetch);
      } finally {
        await rounds.releaseRound(job.host, job.remote, job.gen, owner).catch(() => undefined);
      }
    }
  }
  for (const f of next) {
    const follow = continuation(job, f);
    await deps.scheduler.schedule(scheduleName(follow, f.tag), f.at, follow);
  }
}

/** A job that must do nothing. */
const NOTHING: FollowUp[] = [];

/**
 * Whether the job has nothing to do with the round as stored: the round is gone or done, the
 * job is for another pass than the round's, or it is a re-check pass before its time (a
 * duplicate delivery, a lease come-back, a self-retry, a DLQ replay); then it only makes sure
 * the pass's own job exists. Undefined when the job may run the round.
 */
async function jobIsIdle(deps: RoundDeps, job: RoundJob, stored?: Round): Promise<FollowUp[] | undefined> {
  const round = stored ?? (await deps.rounds.getRound(job.host, job.remote, job.gen));
  if (!round || round.state === 'done') return NOTHING;
  if (job.pass !== undefined && job.pass !== round.pass) {
    deps.log.info('round job for another pass ignored', { ...job, roundPass: round.pass });
    return NOTHING;
  }
  if (job.probe) return probeWanted(deps, round) ? undefined : NOTHING;
  const early = round.state === 'waiting' && round.notBefore !== undefined ? round.notBefore - deps.clock.now() : 0;
  if (early > MAX_EARLY_WAIT_MS) {
    deps.log.info('round job early for its pass', {
      ...job,
      roundPass: round.pass,
      notBefore: new Date(round.notBefore as number).toISOString(),
    });
    return [{ tag: scheduleTag.recheck(round.pass), at: round.notBefore as number, pass: round.pass }];
  }
  return undefined;
}

/** Runs the round's pass, read again now that the lease is held, in a slot of its server. */
async function runIfDue(
  deps: RoundDeps,
  job: RoundJob,
  owner: string,
  until: number,
  remainingMs: () => number,
  progress: Progress,
  prefetch?: PassPrefetch,
): Promise<FollowUp[]> {
  const { rounds, clock, config } = deps;
  let stored = await rounds.getRound(job.host, job.remote, job.gen);
  const idle = await jobIsIdle(deps, job, stored);
  if (idle !== undefined || !stored) return idle ?? NOTHING;
  if (job.probe) {
    const { back, next } = await probeRemote(deps, stored);
    if (!back) return next;
    stored = { ...stored, notBefore: clock.now() };
  }
  if (stored.state === 'waiting' && stored.notBefore !== undefined && stored.notBefore > clock.now())
    await clock.sleep(stored.notBefore - clock.now());
  const slots = serverSlots(config);
  const slotBusy = await rounds.leaseServerSlot(stored.host, slots, owner, until);
  if (slotBusy !== undefined) {
    const at = Math.min(slotBusy, clock.now() + SLOT_RETRY_MS);
    deps.log.info('round waits for a slot of its server', { ...job, slots, at: new Date(at).toISOString() });
    return [{ tag: scheduleTag.slot(at), at, pass: stored.pass }];
  }
  try {
    // A new pass looks for its own probe join; a continuation keeps what the pass found so far.
    const round: Round = { ...stored, state: 'running', ...(stored.cursor === undefined ? { probe: undefined } : {}) };
    progress.pass = round.pass;
    const started = clock.now();
    try {
      return await runPass(deps, round, remainingMs, progress, prefetch);
    } finally {
      deps.metrics.measure('RoundDurationMs', clock.now() - started, 'Milliseconds');
    }
  } finally {
    await rounds.releaseServerSlot(stored.host, slots, owner).catch(() => undefined);
  }
}

/**
 * Takes the pending close window of `job` as a new round, once its delay has passed: `claimed`
 * by this invocation, `taken` already (by another, or by this one in an earlier try), or
 * `postponed` (a later close).
 */
async function claim(deps: RoundDeps, job: RoundJob): Promise<'claimed' | 'taken' | 'postponed'> {
  const { rounds, config, clock } = deps;
  for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
    const pending = await rounds.pendingClose(job.host, job.remote);
    // Already claimed: a retried invocation resumes the round, a duplicate one finds it done.
    if (!pending || pending.gen !== job.gen) return 'taken';
    const due = pending.lastCloseAt + config.delayMs;
    const early = due - clock.now();
    if (early > MAX_EARLY_WAIT_MS) {
      // A close arrived after this round was scheduled: never ping earlier than the delay after it.
      await deps.scheduler.schedule(scheduleName(job, scheduleTag.postponed(due)), due, job);
      deps.log.info('round postponed', { ...job, due: new Date(due).toISOString() });
      return 'postponed';
    }
    if (early > 0) await clock.sleep(early);
    const round: Round = {
      host: job.host,
      remote: job.remote,
      gen: job.gen,
      cutoffSeq: pending.lastCloseSeq,
      pass: 0,
      marked: 0,
      state: 'running',
    };
    if (await rounds.claimRound(round, pending.lastCloseAt)) {
      deps.log.info('round started', { host: round.host, remote: round.remote, gen: round.gen });
      deps.metrics.count('Rounds', 'State', 'started');
      deps.metrics.measure('CloseToStartMs', clock.now() - pending.lastCloseAt, 'Milliseconds');
      return 'claimed';
    }
  }
  throw new Error(`could not claim round ${job.host}/${job.remote}/${job.gen}: closes keep arriving`);
}
