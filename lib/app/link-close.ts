// A lost s2s link: the first close of a window schedules its round, later ones coalesce.
import type { RoundJob } from '../domain/model';
import { scheduleName, scheduleTag } from '../domain/schedule';
import type { AppDeps } from './deps';

/** Records that the link of `host` to `remote` closed; true if this close scheduled a round. */
export async function linkClosed(deps: Pick<AppDeps, 'rounds' | 'scheduler' | 'config' | 'clock'>, host: string, remote: string, seq: number): Promise<boolean> {
  const now = deps.clock.now();
  const gen = seq.toString(36);
  const window = await deps.rounds.recordClose(host, remote, seq, now, gen);
  // Opened by this close, or by this same close in an earlier try: the name makes it idempotent.
  if (!window.opened) return false;
  const job: RoundJob = { host, remote, gen, kind: 'start' };
  await deps.scheduler.schedule(scheduleName(job, scheduleTag.start()), window.lastCloseAt + deps.config.delayMs, job);
  return true;
}
