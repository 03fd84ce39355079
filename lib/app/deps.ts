// What the use cases need, as ports: the composition roots (lib/wiring/) fill these in.
import type { HostRegistry, JoinStore, RoundStore, Scheduler, StanzaApi } from '../ports';
import type { Config } from '../support/config';
import type { Clock } from '../support/clock';
import type { Logger, Metrics } from '../support/observability';

/** What a round invocation achieved, even when it fails: progress resets the retry count. */
export interface Progress {
  /** A checkpoint or the end of a pass was saved. */
  advanced: boolean;
  /** The pass the round is at: the one the invocation ran, or the next once it ended. */
  pass?: number;
}

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

/** The events endpoint: verifies with the keys of the request's host in `hosts`. */
export interface IngestDeps extends AppDeps {
  hosts: HostRegistry;
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
