// A lost s2s link: the first close of a window schedules its round, later ones coalesce.
import type { RoundJob } from './ports';
import type { RoundDeps } from './round';
import { scheduleName } from './domain/schedule';

export async function recordClose(deps: Pick<RoundDeps, 'store' | 'scheduler' | 'config' | 'now'>, host: string, remote: string, seq: number): Promise<boolean> {
  const now = (deps.now ?? Date.now)();
  const gen = seq.toString(36);
  const window = await deps.store.recordClose(host, remote, seq, now, gen);
  // Opened by this close, or by this same close in an earlier try: the name makes it idempotent.
  if (!window.opened) return false;
  const job: RoundJob = { host, remote, gen, kind: 'start' };
  await deps.scheduler.schedule(scheduleName(job, 'start'), window.lastCloseAt + deps.config.delayMs, job);
  return true;
}
