// Secrets: a plain value locally, a Secrets Manager ARN on AWS. Fetched secrets are cached for a
// few minutes (PING_MUC_CACHE_SECONDS), so a rotation reaches warm functions without a cold start.
import { secretKey } from '../domain/signature';
import { SDK_CLIENT } from './config';

type Env = Record<string, string | undefined>;
/** Fetches a secret's string: `arn`, or `arn#STAGE` for that version stage (e.g. AWSPREVIOUS). */
export type SecretFetcher = (ref: string) => Promise<string>;

export const DEFAULT_SECRET_TTL_MS = 5 * 60_000;

let client: import('@aws-sdk/client-secrets-manager').SecretsManagerClient | undefined;

async function fetchFromSecretsManager(ref: string): Promise<string> {
  const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
  client ??= new SecretsManagerClient({ ...SDK_CLIENT });
  const [arn, stage] = ref.split('#', 2);
  const out = await client.send(new GetSecretValueCommand({ SecretId: arn, VersionStage: stage || undefined }));
  if (!out.SecretString) throw new Error(`secret ${ref} has no SecretString`);
  return out.SecretString;
}

interface Cached {
  key: Promise<Buffer>;
  at: number;
  /** The last key fetched, served while a refresh fails (Secrets Manager briefly down). */
  last?: Buffer;
}

/** Keys by reference, each fetched at most once per TTL; a failed refresh keeps the last key. */
export class SecretCache {
  private readonly cache = new Map<string, Cached>();

  constructor(
    private readonly ttlMs = DEFAULT_SECRET_TTL_MS,
    private readonly fetch: SecretFetcher = fetchFromSecretsManager,
    private readonly now: () => number = Date.now,
  ) {}

  /** The HMAC key of `ref`: an ARN (fetched), else the value itself. `what` names it in errors. */
  key(ref: string, what: string): Promise<Buffer> {
    if (!ref.startsWith('arn:')) return Promise.resolve(secretKey(ref, what));
    const cached = this.cache.get(ref);
    if (cached && this.now() - cached.at < this.ttlMs) return cached.key;
    const last = cached?.last;
    const entry: Cached = { key: Promise.resolve(Buffer.alloc(0)), at: this.now(), last };
    entry.key = this.fetch(ref)
      .then((s) => secretKey(s, what))
      .then(
        (key) => {
          entry.last = key;
          return key;
        },
        (err) => {
          if (last) return last;
          // Nothing to fall back on: the next call tries again.
          if (this.cache.get(ref) === entry) this.cache.delete(ref);
          throw err;
        },
      );
    this.cache.set(ref, entry);
    return entry.key;
  }
}

const shared = new SecretCache();

/** The secret reference named by `valueVar` (plain value) or `arnVar` (Secrets Manager), if any. */
export function secretRef(valueVar: string, arnVar: string, env: Env = process.env): string | undefined {
  return env[valueVar] || env[arnVar] || undefined;
}

/** The HMAC key named by `valueVar` (plain value) or `arnVar` (Secrets Manager). Fails loudly. */
export function loadKey(valueVar: string, arnVar: string, env: Env = process.env, cache = shared): Promise<Buffer> {
  const value = env[valueVar];
  if (value) return Promise.resolve(secretKey(value, valueVar));
  const arn = env[arnVar];
  if (!arn) return Promise.reject(new Error(`${valueVar} or ${arnVar} must be set`));
  return cache.key(arn, arnVar);
}
