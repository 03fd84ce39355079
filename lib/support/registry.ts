// The host registry at run time (docs/hosts.md): for a VirtualHost, the keys that sign its events
// and its stanza API with its keys. Either a document (a file locally, an SSM parameter on AWS),
// cached for a few minutes, or, when none is configured, today's environment as the one entry
// that serves every host.
import { type HostEntry, hostName, parseHosts, RegistryError } from '../domain/hosts';
import { ENV } from './config';
import type { SecretCache } from './secrets';

export { RegistryError } from '../domain/hosts';

export interface HostApi {
  url: string;
  /** The current key, then the previous one during a rotation: each signs every call. */
  keys: Buffer[];
}

export interface HostRegistry {
  /** A registry is configured: a request must name its host, and a host not listed is refused. */
  readonly multiHost: boolean;
  /**
   * The keys that may sign `host`'s events (current, then previous), or undefined when the host
   * is not listed. Throws when the registry or a secret cannot be read (our failure).
   */
  webhookKeys(host: string): Promise<Buffer[] | undefined>;
  /** The stanza API serving `host`'s sessions, or undefined when the host is not listed. */
  api(host: string): Promise<HostApi | undefined>;
}

/** The registry document's text. */
export type RegistrySource = () => Promise<string>;

type Env = Record<string, string | undefined>;

/** A domain as the store and the events hold it; undefined when it is no domain at all. */
function domainKey(host: string): string | undefined {
  try {
    return hostName(host);
  } catch {
    return undefined;
  }
}

export interface DocumentRegistryOptions {
  source: RegistrySource;
  /** The source, for messages (a file path, a parameter name). */
  name: string;
  /** AWS: secret fields must be Secrets Manager ARNs. */
  arnsOnly: boolean;
  ttlMs: number;
  secrets: SecretCache;
  now?: () => number;
  /** A refresh failed: the last good document is kept and retried after at most 30 s. */
  onStale?: (err: Error) => void;
}

/** A registry document, re-read once its TTL has passed; a bad or unreadable refresh keeps the last good one. */
export class DocumentRegistry implements HostRegistry {
  readonly multiHost = true;
  private doc?: { hosts: Map<string, HostEntry>; at: number };
  private loading?: Promise<Map<string, HostEntry>>;
  private readonly now: () => number;

  constructor(private readonly options: DocumentRegistryOptions) {
    this.now = options.now ?? Date.now;
  }

  /** The current document's hosts (read now if never read or expired). */
  hosts(): Promise<Map<string, HostEntry>> {
    if (this.doc && this.now() - this.doc.at < this.options.ttlMs) return Promise.resolve(this.doc.hosts);
    this.loading ??= this.load().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async load(): Promise<Map<string, HostEntry>> {
    const { source, name, arnsOnly, ttlMs } = this.options;
    try {
      const hosts = parseHosts(await source(), { arnsOnly });
      this.doc = { hosts, at: this.now() };
      return hosts;
    } catch (err) {
      const message = `host registry ${name}: ${(err as Error).message}`;
      if (!this.doc) throw new RegistryError(message);
      this.options.onStale?.(new RegistryError(message));
      // Try again soon, not on every request: the source may be throttled or down.
      this.doc.at = this.now() - ttlMs + Math.min(ttlMs, 30_000);
      return this.doc.hosts;
    }
  }

  private async entry(host: string): Promise<HostEntry | undefined> {
    const key = domainKey(host);
    return key === undefined ? undefined : (await this.hosts()).get(key);
  }

  private keys(entry: HostEntry, refs: Array<string | undefined>, what: string): Promise<Buffer[]> {
    const present = refs.filter((r): r is string => !!r);
    return Promise.all(present.map((ref, i) => this.options.secrets.key(ref, `${entry.host}: ${what}[${i}]`)));
  }

  async webhookKeys(host: string): Promise<Buffer[] | undefined> {
    const e = await this.entry(host);
    return e && this.keys(e, [e.webhookSecret, e.previousWebhookSecret], 'webhook secret');
  }

  async api(host: string): Promise<HostApi | undefined> {
    const e = await this.entry(host);
    return e && { url: e.apiUrl, keys: await this.keys(e, [e.apiSecret, e.previousApiSecret], 'API secret') };
  }
}

/**
 * No registry: the environment is the one entry and serves every host, as before the registry
 * (PING_MUC_API_URL, PING_MUC_WEBHOOK_SECRET[_ARN], PING_MUC_API_SECRET[_ARN], and the
 * …_PREVIOUS[_ARN] keys during a rotation).
 */
export class EnvRegistry implements HostRegistry {
  readonly multiHost = false;

  constructor(
    private readonly env: Env,
    private readonly apiUrl: string,
    private readonly secrets: SecretCache,
  ) {}

  private async keys(current: [string, string], previous: [string, string]): Promise<Buffer[]> {
    const [valueVar, arnVar] = current;
    const ref = this.env[valueVar] || this.env[arnVar];
    if (!ref) throw new RegistryError(`${valueVar} or ${arnVar} must be set`);
    const keys = [this.secrets.key(ref, this.env[valueVar] ? valueVar : arnVar)];
    const [prevVar, prevArnVar] = previous;
    const prev = this.env[prevVar] || this.env[prevArnVar];
    if (prev) keys.push(this.secrets.key(prev, this.env[prevVar] ? prevVar : prevArnVar));
    return Promise.all(keys);
  }

  webhookKeys(_host: string): Promise<Buffer[]> {
    return this.keys(
      [ENV.webhookSecret, ENV.webhookSecretArn],
      [ENV.webhookSecretPrevious, ENV.webhookSecretPreviousArn],
    );
  }

  async api(_host: string): Promise<HostApi> {
    if (!this.apiUrl) throw new RegistryError(`${ENV.apiUrl} is not set`);
    const keys = await this.keys([ENV.apiSecret, ENV.apiSecretArn], [ENV.apiSecretPrevious, ENV.apiSecretPreviousArn]);
    return { url: this.apiUrl, keys };
  }
}

/** The registry's hosts, for the reconciler's SilentHosts; none without a registry (the beats name them). */
export function knownHosts(hosts: HostRegistry): (() => Promise<string[]>) | undefined {
  if (!(hosts instanceof DocumentRegistry)) return undefined;
  return async () => [...(await hosts.hosts()).keys()];
}
