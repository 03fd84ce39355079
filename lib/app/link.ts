// An s2s link of a host to a remote domain: the first close of a window schedules its round,
// later ones coalesce; a link that comes back makes a round waiting for that remote look at once.
import { closedAt, type RoundJob } from '../domain/model';
import { scheduleName, scheduleTag } from '../domain/schedule';
import type { AppDeps } from './deps';

/**
 * A window still open this long after its round was due has lost its start job (a schedule
 * that failed into the DLQ, a round function that never ran): the next close schedules it again.
 * Longer than the Scheduler's lateness (about a minute) plus Lambda's async retries.
 */
export const LOST_START_AFTER_MS = 5 * 60_000;

/** Records that the link of `host` to `remote` closed; true if this close scheduled a start. */
export async function linkClosed(
  deps: Pick<AppDeps, 'rounds' | 'scheduler' | 'config' | 'clock' | 'log'>,
  host: string,
  remote: string,
  seq: number,
): Promise<boolean> {
  const { rounds, scheduler, config, clock } = deps;
  const now = clock.now();
  const at = closedAt(seq, now, config.delayMs);
  const window = await rounds.recordClose(host, remote, seq, at, seq.toString(36));
  if (window.gen === undefined) return false;
  // Opened by this close, or by this same close in an earlier try: the name makes it idempotent.
  // A close into a window long overdue schedules the same start again (idempotent by name too),
  // so a window whose start was lost does not absorb every later close of a flapping link.
  const overdue =
    window.previousCloseAt !== undefined && now > window.previousCloseAt + config.delayMs + LOST_START_AFTER_MS;
  if (!window.opened && !overdue) return false;
  const job: RoundJob = { host, remote, gen: window.gen, kind: 'start' };
  const created = await scheduler.schedule(
    scheduleName(job, scheduleTag.start()),
    window.lastCloseAt + config.delayMs,
    job,
  );
  if (overdue && created)
    deps.log.warn('round start was lost: scheduled again', {
      ...job,
      previousCloseAt: new Date(window.previousCloseAt as number).toISOString(),
    });
  return created || window.opened;
}

/** How long after an s2s-up the waiting round looks: the remote's MUC may still be starting. */
export const S2S_UP_GRACE_MS = 5_000;

/**
 * The link of `host` to `remote` is up again: a round waiting for its next pass because that
 * remote was unreachable probes it after a short grace instead of waiting out its backoff.
 */
export async function linkUp(
  deps: Pick<AppDeps, 'rounds' | 'scheduler' | 'clock' | 'log'>,
  host: string,
  remote: string,
): Promise<number> {
  const now = deps.clock.now();
  let asked = 0;
  for (const round of await deps.rounds.roundsOf(host, remote)) {
    if (round.state !== 'waiting' || !round.probe || (round.notBefore ?? 0) <= now + S2S_UP_GRACE_MS) continue;
    const at = now + S2S_UP_GRACE_MS;
    const job: RoundJob = { host, remote, gen: round.gen, kind: 'continue', pass: round.pass, probe: true };
    await deps.scheduler.schedule(scheduleName(job, scheduleTag.probe(round.pass, at)), at, job);
    deps.log.info('link up: waiting round probes now', { host, remote, gen: round.gen, pass: round.pass });
    asked++;
  }
  return asked;
}
