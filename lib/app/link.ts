// An s2s link of a host to a remote domain: the first close of a window arms its round's start,
// later ones coalesce (the window's due moves with its last close); a link that comes back makes
// a round waiting for that remote look at once. A start that is lost is re-armed by the
// reconciler (./reconcile.ts), from the window's due.
import { closedAt } from '../domain/model';
import type { AppDeps } from './deps';
import * as next from './next';

export { S2S_UP_GRACE_MS } from './next';

/**
 * Records that the link of `host` to `remote` closed (its event's `epoch`: the joins its round
 * reads); true if this close opened a window (its start is armed).
 */
export async function linkClosed(
  deps: Pick<AppDeps, 'rounds' | 'scheduler' | 'config' | 'clock' | 'log'>,
  host: string,
  remote: string,
  seq: number,
  epoch = 0,
): Promise<boolean> {
  const { rounds, config, clock } = deps;
  const at = closedAt(seq, clock.now(), config.delayMs);
  const window = await rounds.recordClose(host, remote, seq, at, seq.toString(36), at + config.delayMs, epoch);
  // Opened by this close, or by this same close in an earlier try: the name makes it idempotent.
  if (window.gen === undefined || !window.opened) return false;
  await next.arm(deps, next.start(host, remote, window.gen, window.lastCloseAt + config.delayMs));
  return true;
}

/**
 * The link of `host` to `remote` is up again: a round waiting for its next pass because that
 * remote was unreachable probes it after a short grace instead of waiting out its backoff.
 */
export async function linkUp(
  deps: Pick<AppDeps, 'rounds' | 'scheduler' | 'clock' | 'log'>,
  host: string,
  remote: string,
): Promise<number> {
  const now = deps.clock.now();
  let asked = 0;
  for (const round of await deps.rounds.roundsOf(host, remote)) {
    const step = next.linkUp(round, now);
    if (!step) continue;
    await next.arm(deps, step);
    deps.log.info('link up: waiting round probes now', { host, remote, gen: round.gen, pass: round.pass });
    asked++;
  }
  return asked;
}
