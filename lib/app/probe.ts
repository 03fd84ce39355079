// While a round waits for its next pass because its remote was unreachable, one join is
// self-pinged at a short interval (PING_MUC_PROBE_SECONDS): as soon as the remote answers
// anything but remote-server-*, the re-check runs at once instead of after the backoff. A probe
// costs one self-ping per waiting (host, remote) per interval. An s2s-up of the link asks for one
// at once (./link.ts).
import type { Round } from '../domain/model';
import { remoteUnreachable } from '../domain/outcome';
import { scheduleTag } from '../domain/schedule';
import type { RoundDeps } from './deps';
import { type FollowUp, storeCall } from './pass';

/** Whether a probe job has a round to probe: waiting for its pass, with a probe join, not about to run anyway. */
export function probeWanted(deps: RoundDeps, round: Round): boolean {
  if (round.state !== 'waiting' || !round.probe || round.notBefore === undefined) return false;
  return round.notBefore - deps.clock.now() > deps.config.probeMs / 2;
}

/** The probe at `at` of a round waiting for `pass`. */
export function probeFollowUp(pass: number, at: number): FollowUp {
  return { tag: scheduleTag.probe(pass, at), at, pass, probe: true };
}

/**
 * Self-pings the round's probe join. When the remote answers, the round's pass is due now (saved)
 * and true is returned: the caller runs it. Otherwise the next probe, if it comes before the pass.
 */
export async function probeRemote(deps: RoundDeps, round: Round): Promise<{ back: boolean; next: FollowUp[] }> {
  const { api, clock, config, metrics, log } = deps;
  const { user, occupant } = round.probe as NonNullable<Round['probe']>;
  let back = false;
  try {
    const reply = await api.selfPing(user, occupant);
    // A timeout, an unusable answer or a session gone says nothing about the remote.
    back =
      reply.kind === 'reply' && !remoteUnreachable(reply, { host: round.host, room: occupant.split('/')[0] as string });
  } catch (err) {
    log.warn('probe failed', { host: round.host, remote: round.remote, error: (err as Error).message });
  }
  metrics.count('Probes', 'Result', back ? 'back' : 'down');
  if (back) {
    log.info('remote back: re-check now', { host: round.host, remote: round.remote, gen: round.gen, pass: round.pass });
    await storeCall(deps, () => deps.rounds.saveRound({ ...round, notBefore: clock.now() }));
    return { back, next: [] };
  }
  const at = clock.now() + config.probeMs;
  const before = (round.notBefore ?? 0) - config.probeMs / 2;
  return { back, next: at < before ? [probeFollowUp(round.pass, at)] : [] };
}
