// What the use cases need, as ports: the composition roots (lib/wiring/) fill these in.
import type { JoinStore, RoundStore, Scheduler, StanzaApi } from '../ports';
import type { Config } from '../support/config';
import type { Clock } from '../support/clock';
import type { Logger, Metrics } from '../support/observability';

/** Shared by every use case. */
export interface AppDeps {
  joins: JoinStore;
  rounds: RoundStore;
  scheduler: Scheduler;
  config: Config;
  log: Logger;
  metrics: Metrics;
  clock: Clock;
  /**
   * The hosts served, when a host registry lists them (the reconciler counts the silent ones);
   * absent without a registry: the hosts that sent a heartbeat are the known ones.
   */
  knownHosts?: () => Promise<string[]>;
}

/** The events endpoint: verifies with `webhookKey`. */
export interface IngestDeps extends AppDeps {
  webhookKey: Buffer;
}

/** A round invocation: pings and notifies through `api`. */
export interface RoundDeps extends AppDeps {
  api: StanzaApi;
  /**
   * On AWS a failed round schedules its own retry with backoff: Lambda's two async retries are
   * too short for an XMPP server's outage. Locally the durable scheduler retries instead.
   */
  selfRetry?: boolean;
}
