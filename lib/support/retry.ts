// In-place retries of one call to a backend (the store, the stanza API): a transient failure of
// one call must not fail a whole round invocation. Bounded and jittered (one backoff rule).
import { backoffMs } from './backoff';
import type { Clock } from './clock';
import { mayRetry } from './errors';

export interface RetryPolicy {
  /** Tries in all, the first included. */
  tries: number;
  baseMs: number;
  maxMs: number;
  /** Whether an error may be cured by trying again at once (default: every error not marked `retry: false`). */
  retryable?: (err: unknown) => boolean;
}

export const IN_PLACE: RetryPolicy = { tries: 3, baseMs: 100, maxMs: 2_000 };

/** Calls `fn` up to `policy.tries` times while it throws; the last error propagates. */
export async function retrying<T>(
  clock: Clock,
  fn: () => Promise<T>,
  policy: RetryPolicy = IN_PLACE,
  random: () => number = Math.random,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt + 1 >= policy.tries || !(policy.retryable ?? mayRetry)(err)) throw err;
      await clock.sleep(backoffMs(attempt, policy.baseMs, policy.maxMs, random));
    }
  }
}
