// The master key's text from Secrets Manager (AWS) or from a file (local use). The SDK client is
// loaded on first use and shared by the process.
import { readFile } from 'node:fs/promises';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SDK_CLIENT } from '../support/config';

/** Reads a secret's text, whole, each time it is called (the caller caches). */
export type SecretSource = () => Promise<string>;

let shared: SecretsManagerClient | undefined;

/** GetSecretValue of `secretId` (name or ARN), its AWSCURRENT version. */
export function secretsManagerSource(secretId: string, client?: SecretsManagerClient): SecretSource {
  return async () => {
    const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
    const sm = client ?? (shared ??= new SecretsManagerClient({ ...SDK_CLIENT }));
    const out = await sm.send(new GetSecretValueCommand({ SecretId: secretId }));
    if (!out.SecretString) throw new Error(`secret ${secretId} has no SecretString`);
    return out.SecretString;
  };
}

/** A file's text (the local service's master key file). */
export function fileSecretSource(path: string): SecretSource {
  return () => readFile(path, 'utf8');
}
