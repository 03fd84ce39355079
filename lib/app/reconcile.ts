// The reconciler: once a period, every close window and every round whose next invocation is
// overdue (its `due` more than RECONCILE_GRACE_MS past, with no live lease: a holder's lease
// ends at its due) is re-armed. A window gets its start job, a round a continuation of its pass.
// So no heal depends on one schedule call or one delivered job: a failed schedule, a job lost in
// the DLQ, a function killed mid-round are all found here. One store query per period when
// nothing is overdue (docs/scheduling.md). It also publishes SilentHosts: how many known hosts
// sent no heartbeat for PING_MUC_SILENT_SECONDS (one alarm for every host).
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
  // After the re-arming, which must not wait on it; a failure is the reconciler's failure too.
  try {
    metrics.measure('SilentHosts', await silentHosts(deps, now), 'Count');
  } catch (err) {
    failure ??= err;
    log.error('silent hosts not counted', { error: (err as Error).message });
  }
  if (failure !== undefined) throw failure;
  return counts;
}

/**
 * The known hosts (the registry's, else every host that ever beat) whose last heartbeat is older
 * than config.silentMs. A host with no beat at all counts only once the watch has run that long:
 * the watch's start is kept in the store as the beat of host '*' (no domain), written
 * by the first reconciler run, so a new stack does not count hosts that never had time to beat.
 */
export async function silentHosts(deps: AppDeps, now: number): Promise<number> {
  const { joins, config } = deps;
  const beats = await joins.beats();
  let watching = beats.get(WATCH);
  if (watching === undefined) {
    await joins.beat(WATCH, 1, now);
    watching = now;
  }
  const known = deps.knownHosts ? await deps.knownHosts() : [...beats.keys()].filter((host) => host !== WATCH);
  const since = now - config.silentMs;
  let silent = 0;
  for (const host of new Set(known)) {
    const beat = beats.get(host);
    if (beat === undefined ? watching < since : beat < since) silent++;
  }
  return silent;
}

/** The host under which the store keeps when the reconciler began watching heartbeats. */
const WATCH = '*';
