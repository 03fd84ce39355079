// The host registry as configured (docs/hosts.md): which hosts are listed (a file, the table, or
// none: PING_MUC_API_URL serves every host) and where their keys come from (the master key, or
// the local service's fixed pair). Shared by the AWS and the local composition roots.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { fileRegistrySource } from '../adapters/registry/file';
import { RegistryTable } from '../adapters/registry/dynamodb';
import { FixedKeys, type HostKeys, MasterKeys } from '../adapters/registry/keys';
import { ListedHosts, Registry } from '../adapters/registry/registry';
import { fileSecretSource, type SecretSource, secretsManagerSource } from '../adapters/secrets';
import { secretKey } from '../domain/signature';
import { type Config, ConfigError, ENV } from '../support/config';
import type { CountValue, Logger, Metrics } from '../support/observability';

/** The metric of refresh failures: a stale master key or registry, a refused server record. */
export const REFRESH_FAILURES = { metric: 'RefreshFailures', dimension: 'Source' } as const;

/** The local service's keys when no master key is set: one pair (and previous ones) for every host. */
export interface FixedSecrets {
  webhook: string;
  api: string;
  webhookPrevious?: string;
  apiPrevious?: string;
}

export interface RegistryWiring {
  config: Config;
  log: Logger;
  metrics: Metrics;
  /** The table's client, for PING_MUC_REGISTRY=table. */
  dynamo?: DynamoDBClient;
  fixed?: FixedSecrets;
}

function masterSource(master: NonNullable<Config['masterKey']>): { source: SecretSource; name: string } {
  if ('value' in master) return { source: async () => master.value, name: ENV.masterKey };
  if ('file' in master) return { source: fileSecretSource(master.file), name: master.file };
  return { source: secretsManagerSource(master.secretId), name: master.secretId };
}

function hostKeys({ config, log, metrics, fixed }: RegistryWiring): HostKeys {
  if (config.masterKey) {
    return new MasterKeys({
      ...masterSource(config.masterKey),
      ttlMs: config.cacheTtlMs,
      onStale: (err) => {
        log.error('master key refresh failed, keeping the last one', { error: err.message });
        metrics.count(REFRESH_FAILURES.metric, REFRESH_FAILURES.dimension, 'master-key');
      },
    });
  }
  if (!fixed) throw new ConfigError(`no master key: set ${ENV.masterKey}, ${ENV.masterKeyFile} or ${ENV.masterKeyArn}`);
  const keys = (current: string, previous: string | undefined, name: string, previousName: string) => [
    secretKey(current, name),
    ...(previous ? [secretKey(previous, previousName)] : []),
  ];
  return new FixedKeys({
    webhook: keys(fixed.webhook, fixed.webhookPrevious, ENV.webhookSecret, ENV.webhookSecretPrevious),
    'stanza-api': keys(fixed.api, fixed.apiPrevious, ENV.apiSecret, ENV.apiSecretPrevious),
  });
}

export function hostRegistry(w: RegistryWiring): Registry {
  const { config, log, metrics, dynamo } = w;
  const keys = hostKeys(w);
  let listed: ListedHosts | undefined;
  if (config.hostsFile || config.hostsInTable) {
    if (!keys.perHost)
      throw new ConfigError(`a host registry needs the master key (${ENV.masterKey}, …): keys are per host`);
    let source = config.hostsFile && fileRegistrySource(config.hostsFile);
    if (!source) {
      if (!dynamo) throw new ConfigError(`${ENV.registry}=table needs the table's client`);
      source = new RegistryTable({ client: dynamo, table: config.table }).source();
    }
    const count = (source: CountValue<'RefreshFailures'>) =>
      metrics.count(REFRESH_FAILURES.metric, REFRESH_FAILURES.dimension, source);
    listed = new ListedHosts({
      source,
      name: config.hostsFile ?? `${config.table} (REG)`,
      ttlMs: config.cacheTtlMs,
      onStale: (err) => {
        log.error('host registry refresh failed, keeping the last one', { error: err.message });
        count('host-registry');
      },
      onRefused: (server, error, kept) => {
        log.error('host registry: server record refused', { server, error, kept });
        count('registry-item');
      },
    });
  }
  return new Registry(keys, listed ?? { apiUrl: config.apiUrl });
}
