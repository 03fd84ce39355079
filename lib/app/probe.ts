// While a round waits for its next pass because its remote was unreachable, one join is
// self-pinged at a short interval (PING_MUC_PROBE_SECONDS): as soon as the remote answers
// anything but remote-server-*, the re-check runs at once instead of after the backoff. A probe
// costs one self-ping per waiting (host, remote) per interval. An s2s-up of the link asks for one
// at once (./link.ts). When probes run is decided in ./next.ts.
import type { Round } from '../domain/model';
import { remoteUnreachable } from '../domain/outcome';
import type { RoundDeps } from './deps';

/**
 * Self-pings the round's probe join (read only: nobody is told). True when the remote answered:
 * the caller runs the pass now.
 */
export async function probeRemote(deps: RoundDeps, round: Round): Promise<boolean> {
  const { api, metrics, log } = deps;
  const { user, occupant, since } = round.probe as NonNullable<Round['probe']>;
  let back = false;
  try {
    const reply = await api.selfPing({ user, occupant, since });
    // A timeout, an unusable answer or a session gone says nothing about the remote.
    back =
      reply.kind === 'reply' && !remoteUnreachable(reply, { host: round.host, room: occupant.split('/')[0] as string });
  } catch (err) {
    log.warn('probe failed', { host: round.host, remote: round.remote, error: (err as Error).message });
  }
  metrics.count('Probes', 'Result', back ? 'back' : 'down');
  if (back)
    log.info('remote back: re-check now', { host: round.host, remote: round.remote, gen: round.gen, pass: round.pass });
  return back;
}
