// The reconciler: once a period, every close window and every round whose next invocation is
// overdue (its `due` more than RECONCILE_GRACE_MS past, with no live lease: a holder's lease
// ends at its due) is re-armed. A window gets its start job, a round a continuation of its pass.
// So no heal depends on one schedule call or one delivered job: a failed schedule, a job lost in
// the DLQ, a function killed mid-round are all found here. One store query per period when
// nothing is overdue (docs/scheduling.md).
import type { Overdue } from '../ports';
import type { AppDeps } from './deps';
import * as next from './next';

/** How often the reconciler runs (AWS: EventBridge Scheduler rate(1 minute); local: a timer). */
export const RECONCILE_PERIOD_MS = 60_000;
/**
 * How far past its due an item must be: a job fires up to a minute late (EventBridge Scheduler's
 * minute), then waits for its due second, so a due less than two periods old is still on its way.
 */
export const RECONCILE_GRACE_MS = 2 * RECONCILE_PERIOD_MS;
/** Overdue items read per store page, and re-armed at once. */
const PAGE = 100;

/** Re-arms every overdue window and round; returns how many of each. */
export async function reconcile(deps: AppDeps): Promise<{ windows: number; rounds: number }> {
  const { rounds, clock, log, metrics } = deps;
  const now = clock.now();
  const counts = { windows: 0, rounds: 0 };
  let failure: unknown;
  let cursor: string | undefined;
  do {
    const page = await rounds.overdue(now - RECONCILE_GRACE_MS, PAGE, cursor);
    await Promise.all(
      page.items.map(async (item: Overdue) => {
        const step = next.reconciled(item, now);
        try {
          const created = await next.arm(deps, step);
          counts[item.kind === 'window' ? 'windows' : 'rounds']++;
          metrics.count('Reconciled', 'Kind', item.kind);
          log.warn(item.kind === 'window' ? 'overdue window: start re-armed' : 'overdue round: continuation re-armed', {
            ...step.job,
            due: new Date(item.due).toISOString(),
            overdueMs: now - item.due,
            created,
          });
        } catch (err) {
          // The others are still re-armed; this one is found again next period.
          failure ??= err;
          log.error('overdue item not re-armed', { ...step.job, error: (err as Error).message });
        }
      }),
    );
    cursor = page.next;
  } while (cursor !== undefined);
  if (failure !== undefined) throw failure;
  return counts;
}
