// A round's calls to its ports, retried in place: one transient failure does not fail the invocation.
import { mayRetry } from '../support/errors';
import { retrying, type RetryPolicy } from '../support/retry';
import type { RoundDeps } from './deps';

/** Store calls are cheap, and their conditional writes safe to repeat. */
const STORE_RETRY: RetryPolicy = { tries: 3, baseMs: 100, maxMs: 1_000 };

/**
 * A stanza API call is tried once more only after a failure that did not wait out its timeout
 * (the client's timeouts carry `retry: false`, lib/support/errors.ts), so the deadline margin
 * counts one timeout per call.
 */
const API_RETRY: RetryPolicy = { tries: 2, baseMs: 500, maxMs: 500, retryable: mayRetry };

/** One store call of a round, retried in place. */
export function storeCall<T>(deps: Pick<RoundDeps, 'clock'>, fn: () => Promise<T>): Promise<T> {
  return retrying(deps.clock, fn, STORE_RETRY);
}

/** One stanza API call of a round, retried in place when that may help. */
export function apiCall<T>(deps: Pick<RoundDeps, 'clock'>, fn: () => Promise<T>): Promise<T> {
  return retrying(deps.clock, fn, API_RETRY);
}
