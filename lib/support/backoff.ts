// One backoff rule for every retry and follow-up: base · 2^attempt, capped.

/**
 * Wait before try `attempt` (0 for the first retry): `base · 2^attempt`, at most `max`. With
 * `jitter`, a uniform draw in [half, whole] of that, so that many callers failing together do
 * not retry together.
 */
export function backoffMs(attempt: number, baseMs: number, maxMs = Infinity, jitter?: () => number): number {
  const whole = Math.min(baseMs * 2 ** Math.min(Math.max(attempt, 0), 52), maxMs);
  return jitter ? whole / 2 + jitter() * (whole / 2) : whole;
}
