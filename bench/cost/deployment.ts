// How a scenario's deployment is configured: the stack's parameters, what the fake AWS services
// hold (SSM parameters, Secrets Manager values) and the keys a host's module signs with and the
// stanza API verifies with. The one file of the cost benchmark that knows how hosts and keys are
// configured (docs/hosts.md).
import { createHash } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { secretKey } from '../../lib/domain/signature';

export interface Deployment {
  /** CloudFormation parameters beside the defaults (ApiUrl is set by the driver). */
  parameters: Record<string, string>;
  /** SSM parameters by name. */
  ssm: Map<string, string>;
  /** The value Secrets Manager holds for a SecretId (ARN or name, `#stage` ignored), or undefined. */
  secret(id: string): string | undefined;
  /** The key the host's module signs its events with. */
  webhookKey(host: string): Buffer;
  /** The stanza API key of the host (its stub verifies with it) and the host's stanza API URL. */
  apiSecret(host: string): string;
  /** Where the host's stanza API is reached, once its stub runs. */
  setApiUrl(host: string, url: string): void;
  /** Writes what the table holds before the run (a registry in the table), not counted. */
  seed(client: DynamoDBClient, table: string): Promise<void>;
}

const ACCOUNT = '123456789012';
const REGION = 'us-east-1';

/** A deterministic secret value per secret id (the fake Secrets Manager's content). */
export function fakeSecretValue(id: string): string {
  const base = id.split('#')[0] as string;
  return `bench-secret-${createHash('sha256').update(base).digest('hex').slice(0, 40)}`;
}

/**
 * One host: ApiUrl and the stack's two generated secrets (webhook, stanza API), whose ARNs the
 * template gives the functions. Several hosts: the host registry in an SSM parameter, one server
 * per host with its own webhook and API secret (the layout of docs/hosts.md).
 */
export function deployment(hosts: string[], env: () => Record<string, string | undefined>): Deployment {
  const urls = new Map<string, string>();
  const ssm = new Map<string, string>();
  const registry = hosts.length > 1;
  const arn = (name: string) => `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}-AbCdEf`;
  const webhookRef = (host: string) =>
    registry ? arn(`ping-muc/webhook/${host}`) : (env().PING_MUC_WEBHOOK_SECRET_ARN as string);
  const apiRef = (host: string) => (registry ? arn(`ping-muc/api/${host}`) : (env().PING_MUC_API_SECRET_ARN as string));
  const PARAM = '/ping-muc/hosts';
  const writeRegistry = () => {
    if (!registry) return;
    ssm.set(
      PARAM,
      JSON.stringify({
        v: 1,
        servers: hosts.map((host) => ({
          name: host,
          webhookSecret: webhookRef(host),
          apiSecret: apiRef(host),
          hosts: { [host]: { apiUrl: urls.get(host) ?? `https://${host}:5281/ping_muc_cloud/stanza` } },
        })),
      }),
    );
  };
  writeRegistry();
  return {
    parameters: registry ? { HostRegistryParameter: PARAM } : {},
    ssm,
    secret: (id) => (id.includes(':secretsmanager:') || id.startsWith('ping-muc') ? fakeSecretValue(id) : undefined),
    webhookKey: (host) => secretKey(fakeSecretValue(webhookRef(host))),
    apiSecret: (host) => fakeSecretValue(apiRef(host)),
    setApiUrl: (host, url) => {
      urls.set(host, url);
      writeRegistry();
    },
    seed: async () => undefined,
  };
}
