// Secrets: a plain env value locally, a Secrets Manager ARN on AWS, read once per cold start.
import { secretKey } from '../domain/signature';

type Env = Record<string, string | undefined>;
export type SecretFetcher = (arn: string) => Promise<string>;

const cache = new Map<string, Promise<Buffer>>();

async function fetchFromSecretsManager(arn: string): Promise<string> {
  const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
  const out = await new SecretsManagerClient({}).send(new GetSecretValueCommand({ SecretId: arn }));
  if (!out.SecretString) throw new Error(`secret ${arn} has no SecretString`);
  return out.SecretString;
}

/** The HMAC key named by `valueVar` (plain value) or `arnVar` (Secrets Manager). Fails loudly. */
export function loadKey(
  valueVar: string,
  arnVar: string,
  env: Env = process.env,
  fetch: SecretFetcher = fetchFromSecretsManager,
): Promise<Buffer> {
  const value = env[valueVar];
  if (value) return Promise.resolve(secretKey(value, valueVar));
  const arn = env[arnVar];
  if (!arn) return Promise.reject(new Error(`${valueVar} or ${arnVar} must be set`));
  let key = cache.get(arn);
  if (!key) {
    key = fetch(arn).then((s) => secretKey(s, arnVar));
    key.catch(() => cache.delete(arn));
    cache.set(arn, key);
  }
  return key;
}
