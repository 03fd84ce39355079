// Correctness M2, the round's side: a stanza API call is tried once more in place only after a
// failure that may cure itself; one that already waited out our timeout (`retry: false`, kept by
// every wrapping: lib/support/errors.ts) is not, so the deadline margin counts one timeout per call.
import { expect, it } from 'vitest';
import { StanzaApiError, TransportError } from '../../../lib/support/errors';
import { closeLink, roundWorld, seedJoins } from '../../support/fakes';

for (const [what, error, calls] of [
  [
    'our own timeout, wrapped',
    () => new StanzaApiError('no answer', { cause: new TransportError('timed out', { retry: false }) }),
    1,
  ],
  ['a reset connection', () => new StanzaApiError('socket hang up'), 2],
] as const) {
  it(`${what}: ${calls} call${calls > 1 ? 's' : ''} in the invocation`, async () => {
    const w = roundWorld({ PING_MUC_RETRY_ATTEMPTS: '1' });
    await seedJoins(w, 1);
    await closeLink(w);
    let n = 0;
    w.api.heal = async () => {
      n++;
      throw error();
    };
    const start = w.scheduler.takeNext()!;
    w.clock.t = start.at;
    const { runRound } = await import('../../../lib/app/round');
    await runRound(w.deps, start.job);
    expect(n).toBe(calls);
    expect(w.logs.some((l) => l.message === 'round failed, retry scheduled')).toBe(true);
  });
}
