// The host registry at run time (docs/hosts.md): the listed servers (a file locally, the table's
// REG partition on AWS), cached for PING_MUC_CACHE_SECONDS with the last good copy kept, and each
// host's keys: its server's (./keys.ts). Without a list, every host is served by PING_MUC_API_URL
// and is its own server.
import { type HostEntry, hostName, hostTable, RegistryError, type ServerRecord } from '../../domain/hosts';
import type { HostApi, HostRegistry, RegistrySource } from '../../ports';
import { Refreshing } from './cache';
import type { HostKeys } from './keys';

export interface ListedHostsOptions {
  source: RegistrySource;
  /** The source, for messages (a file path, a table). */
  name: string;
  ttlMs: number;
  now?: () => number;
  /** The registry could not be read: the last good one is served. */
  onStale?: (err: Error) => void;
  /**
   * A server's record was refused (bad item, or a host another server lists): the others are
   * served, and so is this server's last good record when there is one (`kept`).
   */
  onRefused?: (server: string, error: string, kept: boolean) => void;
}

/** The listed hosts, re-read whole once their TTL has passed. */
export class ListedHosts {
  private readonly table: Refreshing<Map<string, HostEntry>>;
  private lastGood = new Map<string, ServerRecord>();

  constructor(private readonly options: ListedHostsOptions) {
    const { name, ttlMs, now, onStale } = options;
    this.table = new Refreshing({
      read: () =>
        this.read().catch((err: Error) => {
          throw err instanceof RegistryError
            ? err
            : new RegistryError(`host registry ${name}: ${err.message}`, { cause: err });
        }),
      ttlMs,
      now,
      onStale,
    });
  }

  private async read(): Promise<Map<string, HostEntry>> {
    const { source, onRefused } = this.options;
    const { servers, refused } = await source();
    const next = new Map(servers.map((s) => [s.id, s]));
    for (const { id, error } of refused) {
      const last = this.lastGood.get(id);
      if (last) next.set(id, last);
      onRefused?.(id, error, last !== undefined);
    }
    this.lastGood = next;
    const ordered = [...next.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return hostTable(ordered, (server, error) => onRefused?.(server, error, true));
  }

  /** Every listed host (read now if never read or expired). Throws RegistryError when never read. */
  hosts(): Promise<Map<string, HostEntry>> {
    return this.table.get();
  }
}

/** A VirtualHost as the registry and the keys name it; undefined when it is no domain at all. */
function domainKey(host: string): string | undefined {
  try {
    return hostName(host);
  } catch {
    return undefined;
  }
}

export class Registry implements HostRegistry {
  /**
   * `hosts`: the listed hosts, or the one stanza API URL that serves every host (empty: not set,
   * an API call fails).
   */
  constructor(
    private readonly keys: HostKeys,
    private readonly hosts: ListedHosts | { apiUrl: string },
  ) {}

  get multiHost(): boolean {
    return this.keys.perHost || this.hosts instanceof ListedHosts;
  }

  /** The listed hosts, for the reconciler's SilentHosts; none without a list (the beats name the hosts). */
  listed(): (() => Promise<string[]>) | undefined {
    const { hosts } = this;
    if (!(hosts instanceof ListedHosts)) return undefined;
    return async () => [...(await hosts.hosts()).keys()];
  }

  /**
   * The host's server (whose keys it holds) and stanza API URL; undefined when the host is not
   * served. A listed host's server is its registry record; an unlisted host is its own server.
   */
  private async serverOf(host: string): Promise<{ server: string; url: string } | undefined> {
    const name = domainKey(host);
    if (this.hosts instanceof ListedHosts) {
      const entry = name === undefined ? undefined : (await this.hosts.hosts()).get(name);
      return entry && { server: entry.server, url: entry.apiUrl };
    }
    if (name === undefined && this.keys.perHost) return undefined;
    return { server: name ?? '', url: this.hosts.apiUrl };
  }

  async webhookKeys(host: string): Promise<Buffer[] | undefined> {
    const served = await this.serverOf(host);
    return served && this.keys.keys('webhook', served.server);
  }

  async api(host: string): Promise<HostApi | undefined> {
    const served = await this.serverOf(host);
    if (!served) return undefined;
    if (!served.url) throw new RegistryError('PING_MUC_API_URL is not set');
    return { url: served.url, keys: await this.keys.keys('stanza-api', served.server) };
  }
}
