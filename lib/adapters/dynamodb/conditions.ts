// Conditional writes: the one place that tells a failed condition (an expected outcome, e.g. an
// older event than what is stored) from a real error (network, throttling, validation), which
// must propagate so that the caller retries.

/** A ConditionalCheckFailedException, by name: the class differs across SDK copies and bundles. */
export function isConditionFailed(err: unknown): boolean {
  return (err as { name?: unknown } | null)?.name === 'ConditionalCheckFailedException';
}

/** Run a conditional write: true if applied, false if its condition failed; throws otherwise. */
export async function conditional(send: () => Promise<unknown>): Promise<boolean> {
  try {
    await send();
    return true;
  } catch (err) {
    if (isConditionFailed(err)) return false;
    throw err;
  }
}
