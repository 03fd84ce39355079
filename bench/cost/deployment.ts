// How a scenario's deployment is configured: the stack's parameters, what the fake AWS services
// hold (Secrets Manager values) and what the table holds before the run (the host registry), and
// the keys a host's module signs with and its stanza API verifies with. The one file of the cost
// benchmark that knows how hosts and keys are configured (docs/hosts.md).
import { createHash } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { RegistryTable } from '../../lib/adapters/registry/dynamodb';
import { deriveKey, keyText } from '../../lib/domain/keys';
import { secretKey } from '../../lib/domain/signature';

export interface Deployment {
  /** CloudFormation parameters beside the defaults (ApiUrl is set by the driver). */
  parameters: Record<string, string>;
  /** SSM parameters by name (none: the registry is in the table). */
  ssm: Map<string, string>;
  /** The value Secrets Manager holds for a SecretId (ARN or name, `#stage` ignored), or undefined. */
  secret(id: string): string | undefined;
  /** The key the host's module signs its events with. */
  webhookKey(host: string): Buffer;
  /** The stanza API key of the host, as its stub reads it (`whsec_…`). */
  apiSecret(host: string): string;
  /** Where the host's stanza API is reached, once its stub runs. */
  setApiUrl(host: string, url: string): void;
  /** Writes what the table holds before the run (the registry's servers), not counted. */
  seed(client: DynamoDBClient, table: string): Promise<void>;
}

/** A deterministic secret value per secret id (the fake Secrets Manager's content). */
export function fakeSecretValue(id: string): string {
  const base = id.split('#')[0] as string;
  return `bench-secret-${createHash('sha256').update(base).digest('hex').slice(0, 40)}`;
}

/**
 * One master key secret (the template's, `PING_MUC_MASTER_KEY_ARN`); each host's keys derived from
 * it. One host: no registry, ApiUrl serves it. Several: the registry in the table (the stack's
 * HostRegistry = table), one server per host, written before the run as the registry CLI does.
 */
export function deploymentParameters(hosts: string[]): Record<string, string> {
  return hosts.length > 1 ? { HostRegistry: 'table' } : {};
}

export function deployment(hosts: string[], env: () => Record<string, string | undefined>): Deployment {
  const urls = new Map<string, string>();
  const registry = hosts.length > 1;
  const masterArn = () => {
    const arn = env().PING_MUC_MASTER_KEY_ARN;
    if (!arn) throw new Error('the template gives no PING_MUC_MASTER_KEY_ARN');
    return arn;
  };
  const master = () => secretKey(fakeSecretValue(masterArn()));
  return {
    parameters: deploymentParameters(hosts),
    ssm: new Map(),
    secret: (id) => {
      if (id.split('#')[0] === masterArn()) return JSON.stringify({ current: fakeSecretValue(masterArn()) });
      return id.includes(':secretsmanager:') ? fakeSecretValue(id) : undefined;
    },
    webhookKey: (host) => deriveKey(master(), 'webhook', host),
    apiSecret: (host) => keyText(deriveKey(master(), 'stanza-api', host)),
    setApiUrl: (host, url) => {
      urls.set(host, url);
    },
    seed: async (client, table) => {
      if (!registry) return;
      const reg = new RegistryTable({ client, table });
      for (const host of hosts) {
        const apiUrl = urls.get(host) ?? `https://${host}:5281/ping_muc_cloud/stanza`;
        await reg.put({ id: host, hosts: [host], apiUrl });
      }
    },
  };
}
