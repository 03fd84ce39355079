// What a round does next, decided here and nowhere else: which job follows an invocation, when,
// under which schedule name, and what a job does with the round as stored. round.ts, pass.ts,
// probe.ts, link.ts and reconcile.ts ask this module and schedule only the steps it returns.
// The decisions are pure (no I/O, no clock: `now` is an argument); `arm` is the one schedule call.
//
// The steps: a window's start; a job delivered before its time, armed again for it (postponed:
// no invocation sleeps for a due second); a checkpoint's continuation; the re-check pass after a pass
// with marked joins; a probe of an unreachable remote; a wait for a slot of the server; a retry
// after our own failure; and the re-arming of an overdue window or round by the reconciler.
// Every step names its schedule deterministically (../domain/schedule.ts), so arming a step
// twice is one job.
import type { Round, RoundJob } from '../domain/model';
import { scheduleName, scheduleTag } from '../domain/schedule';
import type { Overdue, Scheduler } from '../ports';
import { backoffMs } from '../support/backoff';
import type { Config } from '../support/config';

/** A job to schedule at `at`, under the name `tag` gives it. */
export interface Step {
  job: RoundJob;
  tag: string;
  at: number;
}

/** Schedules `step`; false if a job of that name is already scheduled. */
export function arm(deps: { scheduler: Scheduler }, step: Step): Promise<boolean> {
  return deps.scheduler.schedule(scheduleName(step.job, step.tag), step.at, step.job);
}

/**
 * An invocation waits in place for its job's time only when it is this near: the rounding of a
 * delivery to whole seconds (an SQS message's DelaySeconds), and a start's LINK_LEAD_MS. A job
 * delivered earlier is armed again for its time and the invocation returns: the wait is held by
 * the queue or the schedule, which cost nothing while they wait, never by a running function.
 */
export const IN_PLACE_MS = 1_000;
/**
 * A start job is delivered this long before its due time, carrying its due time (`at`): the
 * round brings the link to its remote up and reads ahead meanwhile (./round.ts). At most
 * IN_PLACE_MS, so that the job waits in place rather than being armed again.
 */
export const LINK_LEAD_MS = IN_PLACE_MS;
/** Self-retries after our own failure: 30 s doubling to 15 min. */
export const RETRY_BASE_MS = 30_000;
export const RETRY_MAX_MS = 15 * 60_000;
/** When every slot of the server is taken, look again this soon (slots free as rounds end). */
export const SLOT_RETRY_MS = 10_000;
/** How long after an s2s-up a waiting round probes its remote: the remote's MUC may still be starting. */
export const S2S_UP_GRACE_MS = 5_000;

type RoundKey = Pick<Round, 'host' | 'remote' | 'gen'>;

const startJob = (host: string, remote: string, gen: string): RoundJob => ({ host, remote, gen, kind: 'start' });

const continueJob = (round: RoundKey, pass: number, probe = false): RoundJob => ({
  host: round.host,
  remote: round.remote,
  gen: round.gen,
  kind: 'continue',
  pass,
  ...(probe ? { probe: true as const } : {}),
});

/**
 * The first close of a window: its round starts at `due`, the delay after the window's last
 * close. Delivered LINK_LEAD_MS before, carrying `due`.
 */
export function start(host: string, remote: string, gen: string, due: number): Step {
  return { job: { ...startJob(host, remote, gen), at: due }, tag: scheduleTag.start(), at: due - LINK_LEAD_MS };
}

/**
 * How long to wait in place for `at`: 0 when it has come; the wait when it is at most
 * IN_PLACE_MS; otherwise undefined: the job is armed again for its time (`postpone`).
 */
export function waitInPlace(now: number, at: number): number | undefined {
  const wait = at - now;
  if (wait <= 0) return 0;
  return wait <= IN_PLACE_MS ? wait : undefined;
}

/**
 * `job` again at `at` (a start LINK_LEAD_MS before, carrying `at`): a job delivered before its
 * time, a window moved by a later close, a re-check pass not yet due. Never a failure: the retry
 * count is not touched.
 */
export function postpone(job: RoundJob, at: number): Step {
  const { attempt: _a, at: _t, ...same } = job;
  if (job.kind === 'start') return { job: { ...same, at }, tag: scheduleTag.postponed(at), at: at - LINK_LEAD_MS };
  return { job: same, tag: scheduleTag.postponed(at), at };
}

/** What a job does with the round as stored: run it, or only arm `steps` (none: nothing to do). */
export type ForRound = ({ run: true } | { run: false; steps: Step[] }) & { why?: string };

const NOTHING: ForRound = { run: false, steps: [] };

/**
 * A job meets the round: gone or done, nothing; a job for another pass, nothing but, for a
 * waiting round, its pass's own job armed again by name (had it come while this job held the
 * lease, it did nothing); a probe the round no longer wants, nothing; a re-check pass before
 * its time (by more than IN_PLACE_MS), its job at that time. Anything else runs the round.
 */
export function forRound(config: Config, job: RoundJob, round: Round | undefined, now: number): ForRound {
  if (!round || round.state === 'done') return NOTHING;
  if (job.pass !== undefined && job.pass !== round.pass)
    return {
      run: false,
      steps: round.state === 'waiting' ? [recheck(round)] : [],
      why: 'round job for another pass ignored',
    };
  if (job.probe) return probeWanted(config, round, now) ? { run: true } : NOTHING;
  if (round.state === 'waiting' && round.notBefore !== undefined && round.notBefore - now > IN_PLACE_MS)
    return { run: false, steps: [recheck(round)], why: 'round job early for its pass' };
  return { run: true };
}

/** The continuation of a pass from its saved cursor, now. */
export function checkpoint(round: Round, now: number): Step {
  return { job: continueJob(round, round.pass), tag: scheduleTag.checkpoint(round.pass, round.cursor), at: now };
}

/** The job of the re-check pass a waiting round waits for, at its time. */
export function recheck(round: Round): Step {
  return { job: continueJob(round, round.pass), tag: scheduleTag.recheck(round.pass), at: round.notBefore ?? 0 };
}

/**
 * The end of a pass: the round to save and what follows. Joins marked for a re-check, with
 * budget left: the next pass after base·2^pass, and while it waits a probe every
 * PING_MUC_PROBE_SECONDS when the remote was unreachable. Otherwise the round is done.
 */
export function afterPass(config: Config, round: Round, now: number): { round: Round; steps: Step[] } {
  if ((round.marked ?? 0) > 0 && round.pass < config.rechecks) {
    const notBefore = now + backoffMs(round.pass, config.recheckBaseMs);
    const next: Round = {
      ...round,
      pass: round.pass + 1,
      cursor: undefined,
      marked: 0,
      notBefore,
      state: 'waiting',
      due: notBefore,
    };
    const steps = [recheck(next)];
    if (next.probe && config.probeMs > 0 && notBefore - now > 2 * config.probeMs)
      steps.push(probe(next, now + config.probeMs));
    return { round: next, steps };
  }
  const { notBefore: _n, probe: _p, due: _d, ...rest } = round;
  return { round: { ...rest, cursor: undefined, state: 'done' }, steps: [] };
}

/** Whether a probe has a round to probe: waiting for its pass, with a probe join, not about to run anyway. */
export function probeWanted(config: Config, round: Round, now: number): boolean {
  if (round.state !== 'waiting' || !round.probe || round.notBefore === undefined) return false;
  return round.notBefore - now > config.probeMs / 2;
}

/** A probe at `at` of the round waiting for its pass. */
export function probe(round: Round, at: number): Step {
  return { job: continueJob(round, round.pass, true), tag: scheduleTag.probe(round.pass, at), at };
}

/**
 * After a probe that found the remote still unreachable: the next probe if it comes well before
 * the pass, else the pass's own job (armed again by name: had it come while this probe held the
 * lease, it did nothing).
 */
export function afterProbe(config: Config, round: Round, now: number): Step[] {
  const at = now + config.probeMs;
  if (round.notBefore !== undefined && at < round.notBefore - config.probeMs / 2) return [probe(round, at)];
  return [recheck(round)];
}

/** An s2s-up of the link: a round waiting for its unreachable remote probes it after a short grace. */
export function linkUp(round: Round, now: number): Step | undefined {
  const at = now + S2S_UP_GRACE_MS;
  if (round.state !== 'waiting' || !round.probe || (round.notBefore ?? 0) <= at) return undefined;
  return probe(round, at);
}

/**
 * Every self-ping slot of the server is taken: look again when one frees, at most SLOT_RETRY_MS
 * from now. The round's due moves to that time (saved by the caller), so the reconciler does not
 * start a second chain of these.
 */
export function slotWait(round: Round, busyUntil: number, now: number): Step {
  const at = Math.min(busyUntil, now + SLOT_RETRY_MS);
  return { job: continueJob(round, round.pass), tag: scheduleTag.slot(at), at };
}

/**
 * A retry after our own failure (the stanza API or the store down), with backoff: undefined when
 * the budget is spent (Lambda's retries and the reconciler take over). It goes on with the pass
 * the round is at (`pass`, when this invocation knows it), not the pass the job was for: a pass
 * that ended before the failure must not leave the retry behind it. A probe is never retried:
 * the round's re-check job comes anyway.
 */
export function retry(
  config: Config,
  job: RoundJob,
  pass: number | undefined,
  attempt: number,
  now: number,
): Step | undefined {
  if (job.probe || attempt > config.retryAttempts) return undefined;
  const { at: _t, probe: _p, ...same } = job;
  const again: RoundJob = { ...same, attempt, ...(pass !== undefined ? { pass } : {}) };
  return {
    job: again,
    tag: scheduleTag.retry(attempt, now),
    at: now + backoffMs(attempt - 1, RETRY_BASE_MS, RETRY_MAX_MS),
  };
}

/**
 * The reconciler's step for an overdue window (its start) or round (a continuation of its pass),
 * now. Named by the due time it was found at: re-arming the same overdue item again is one job.
 */
export function reconciled(item: Overdue, now: number): Step {
  const job = item.kind === 'window' ? startJob(item.host, item.remote, item.gen) : continueJob(item, item.pass ?? 0);
  return { job, tag: scheduleTag.reconciled(item.due), at: now };
}

/** A round saved while an invocation holds it: running, due at the invocation's deadline. */
export function running(round: Round, until: number): Round {
  const { notBefore: _n, ...rest } = round;
  return { ...rest, state: 'running', due: until };
}
