// Schedule naming and timing rules shared by both Scheduler adapters (docs/scheduling.md).
// Pure: no I/O, no clock.
import { createHash } from 'node:crypto';
import type { RoundJob } from './model';

/** EventBridge Scheduler's limits on a schedule name. */
export const NAME_MAX = 64;
export const NAME_PATTERN = /^[0-9A-Za-z_.-]{1,64}$/;

/** Hex digits of sha256 kept in a name: 80 bits, so distinct jobs never collide in practice. */
const HASH_CHARS = 20;
const PREFIX = 'pm';

function readable(s: string): string {
  // Domains are mostly [a-z0-9.-] already; anything else (IDN, odd characters) becomes '_'.
  return s.replace(/[^0-9A-Za-z_.-]/g, '_');
}

/**
 * Why a round job is scheduled: the tag that, with the job, names its schedule. This is the
 * whole set; a name is made from one of these and nothing else.
 */
export const scheduleTag = {
  /** The first close of a window schedules the round's start. */
  start: (): string => 'start',
  /** A close arrived after the start was scheduled: start no earlier than `due` (ms). */
  postponed: (due: number): string => `at${due}`,
  /** Every self-ping slot of the XMPP server is taken: look again at `at` (ms). */
  slot: (at: number): string => `slot${at}`,
  /** The invocation ran short of time: go on from the saved `cursor` of `pass`. */
  checkpoint: (pass: number, cursor: string | undefined): string => `p${pass}c${cursor}`,
  /** While waiting for pass `pass`, self-ping one join of the unreachable remote at `at` (ms). */
  probe: (pass: number, at: number): string => `p${pass}probe${at}`,
  /** Re-check pass `pass` of the joins whose outcome was indeterminate. */
  recheck: (pass: number): string => `p${pass}`,
  /**
   * Retry `attempt` after our own failure. Per minute: a duplicate invocation failing alike
   * coalesces, a later failure gets its own.
   */
  retry: (attempt: number, now: number): string => `retry${attempt}m${Math.floor(now / 60_000)}`,
  /**
   * The reconciler re-arms a window or round found overdue at its `due` (ms): found again before
   * that job ran, it is the same schedule.
   */
  reconciled: (due: number): string => `due${due}`,
} as const;

/**
 * Deterministic schedule name of `job` for `tag` (one of `scheduleTag`): the same job and tag
 * always give the same name, different ones never collide. The readable part (prefix, kind, host,
 * remote) is for operators listing schedules and may be truncated; uniqueness comes from the hash
 * over all of host, remote, gen, kind, tag, pass and probe (JSON-encoded, so no separator can be
 * forged).
 * Always 1–64 characters of [0-9A-Za-z-_.].
 */
export function scheduleName(job: RoundJob, tag: string): string {
  // The pass and the probe mark too: the same tag (a slot wait, a retry) for two passes of one
  // round, or for a probe and its pass, must not be one schedule.
  const which = [...(job.pass !== undefined ? [job.pass] : []), ...(job.probe ? ['probe'] : [])];
  const hash = createHash('sha256')
    .update(JSON.stringify([job.host, job.remote, job.gen, job.kind, tag, ...which]))
    .digest('hex')
    .slice(0, HASH_CHARS);
  const head = readable(`${PREFIX}-${job.kind === 'start' ? 's' : 'c'}-${job.host}_${job.remote}`);
  return `${head.slice(0, NAME_MAX - HASH_CHARS - 1)}-${hash}`;
}

const MINUTE_MS = 60_000;

/**
 * The minute a one-time schedule names, so that its job runs on time. EventBridge Scheduler
 * fires an at() schedule somewhere within the minute it names (set for 1:00, it fires between
 * 1:00:00 and 1:00:59), so the latest minute that still ends by `atMs` is named: the job comes
 * early, and the round arms it again on the round queue for its due second (it starts 0–2 s
 * after `atMs` instead of 0–119 s). A minute before `notBeforeMs` (a schedule must lie in the
 * future) is replaced by the first whole minute after it: then the job can only be late.
 */
export function scheduledMinute(atMs: number, notBeforeMs: number): number {
  if (!Number.isFinite(atMs) || !Number.isFinite(notBeforeMs))
    throw new RangeError(`scheduledMinute: not a time: ${atMs}`);
  const endsByDue = Math.floor((atMs - MINUTE_MS) / MINUTE_MS) * MINUTE_MS;
  const firstAllowed = Math.ceil(notBeforeMs / MINUTE_MS) * MINUTE_MS;
  return Math.max(endsByDue, firstAllowed);
}

/** `at(yyyy-mm-ddThh:mm:ss)` in UTC for a one-time schedule at the whole minute `minuteMs`. */
export function atExpression(minuteMs: number): string {
  if (!Number.isFinite(minuteMs) || minuteMs % MINUTE_MS !== 0)
    throw new RangeError(`atExpression: not a whole minute: ${minuteMs}`);
  const iso = new Date(minuteMs).toISOString(); // yyyy-mm-ddThh:mm:ss.sssZ, always UTC
  if (!/^\d{4}-/.test(iso)) throw new RangeError(`atExpression: year out of range: ${iso}`);
  return `at(${iso.slice(0, 19)})`;
}
