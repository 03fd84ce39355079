// A tiny in-memory Scheduler for the benchmark and the ingest tests: counts the schedules created
// and hands the jobs back, to be run directly (no EventBridge, no local scheduler loop).
import type { RoundJob } from '../lib/domain/model';
import type { Scheduler } from '../lib/ports';

export interface Scheduled {
  name: string;
  at: number;
  job: RoundJob;
}

export class CountingScheduler implements Scheduler {
  /** Every schedule created (a repeated name creates nothing, as on EventBridge). */
  readonly created: Scheduled[] = [];
  /** Calls, including the idempotent repeats. */
  calls = 0;
  private readonly names = new Set<string>();
  private readonly queue: Scheduled[] = [];

  async schedule(name: string, at: number, job: RoundJob): Promise<boolean> {
    this.calls++;
    if (this.names.has(name)) return false;
    this.names.add(name);
    const s = { name, at, job: { ...job } };
    this.created.push(s);
    this.queue.push(s);
    return true;
  }

  /** The oldest scheduled job not yet taken. */
  take(): Scheduled | undefined {
    return this.queue.shift();
  }
}
