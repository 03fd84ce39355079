// The keys of each server: derived from the master key (docs/hosts.md), or, for the local service
// without a master key, one fixed pair that serves every host.
import { serverKeys, type KeyKind, type MasterKey, parseMasterKey } from '../../domain/keys';
import type { SecretSource } from '../secrets';
import { Refreshing } from './cache';

export interface HostKeys {
  /** Keys differ per server: a request must name its host, which names its server. */
  readonly perHost: boolean;
  /**
   * The server's keys (its registry id; without a registry, the host's name): current key first,
   * then the previous one during a rotation. Throws when the keys cannot be read.
   */
  keys(kind: KeyKind, server: string): Promise<Buffer[]>;
}

export interface MasterKeysOptions {
  source: SecretSource;
  /** The secret or file, for messages. */
  name: string;
  ttlMs: number;
  now?: () => number;
  onStale?: (err: Error) => void;
}

/** Per-server keys derived from the master key, re-read after its TTL (a rotation needs no cold start). */
export class MasterKeys implements HostKeys {
  readonly perHost = true;
  private readonly master: Refreshing<MasterKey>;
  private readonly derived = new Map<string, Buffer[]>();
  private derivedFrom?: MasterKey;

  constructor(options: MasterKeysOptions) {
    const { source, name } = options;
    this.master = new Refreshing({
      read: async () => parseMasterKey(await source(), name),
      ttlMs: options.ttlMs,
      now: options.now,
      onStale: options.onStale,
    });
  }

  async keys(kind: KeyKind, server: string): Promise<Buffer[]> {
    const master = await this.master.get();
    // HKDF costs microseconds, but a busy events function asks for the same few servers all day.
    if (this.derivedFrom !== master) {
      this.derived.clear();
      this.derivedFrom = master;
    }
    const id = `${kind}|${server}`;
    let keys = this.derived.get(id);
    if (!keys) {
      if (this.derived.size >= 10_000) this.derived.clear();
      keys = serverKeys(master, kind, server);
      this.derived.set(id, keys);
    }
    return keys;
  }
}

/** One webhook key and one API key (each with an optional previous one) for every host: local use. */
export class FixedKeys implements HostKeys {
  readonly perHost = false;

  constructor(private readonly byKind: Record<KeyKind, Buffer[]>) {}

  async keys(kind: KeyKind): Promise<Buffer[]> {
    return this.byKind[kind];
  }
}
