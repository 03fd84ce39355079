// Every setting ping-muc reads from the environment is read here, with its default and its range.
// Key values are not held here: the master key is read through lib/adapters/secrets.ts (docs/hosts.md).
import type { Level } from './observability';

export interface Config {
  /** Lowest level of the log lines written. */
  logLevel: Level;
  /** The stack every metric is recorded for (the `Stack` dimension); set by the CDK stack. */
  stack: string;
  /** Without a master key, the one key pair that serves every host (the local service). */
  fixedKeys: { webhook?: string; api?: string; webhookPrevious?: string; apiPrevious?: string };
  /** Stanza API URL of the XMPP server (docs/stanza-api.md), when no host registry is set. */
  apiUrl: string;
  /** Host registry in a local JSON file (docs/hosts.md); none: PING_MUC_API_URL serves every host. */
  hostsFile?: string;
  /** Host registry in the table's REG partition (PING_MUC_REGISTRY=table; the stack's HostRegistry). */
  hostsInTable: boolean;
  /** Where the master key is read (docs/hosts.md); none: the local service's fixed keys. */
  masterKey?: { value: string } | { file: string } | { secretId: string };
  /** How long the host registry and the master key are cached, so a rotation needs no cold start. */
  cacheTtlMs: number;
  /** Per-request timeout towards the stanza API; must exceed the server's ping timeout. */
  apiTimeoutMs: number;
  /** Wait after an s2s close before the self-ping round (mod_ping_muc's ping_muc_delay). */
  delayMs: number;
  /** Self-pings in flight at once during a round (default ten batches, 10 × apiBatch, at most 1,024). */
  concurrency: number;
  /** Follow-up rounds for indeterminate outcomes before notifying anyway. */
  rechecks: number;
  /** A known host whose last heartbeat is older than this is counted in SilentHosts (ms). */
  silentMs: number;
  /** Base of the follow-up backoff: base, 2·base, 4·base… */
  recheckBaseMs: number;
  /** Retries of a round after our own failures, 30 s doubling to 15 min, before the DLQ. */
  retryAttempts: number;
  /** Safety-net lifetime of a join item; a join is refreshed on every join event. */
  joinTtlSeconds: number;
  /** Largest events body accepted. */
  maxBodyBytes: number;
  /** Joins read per store page in a round. */
  pageSize: number;
  /** While a round waits because its remote was unreachable, self-ping one join this often (0: never). */
  probeMs: number;
  /** Heals, self-pings, notifications and server pings per stanza API batch request (default 100). */
  apiBatch: number;
  /** Self-pings in flight towards one XMPP server across all its rounds (a multiple of concurrency). */
  serverMaxInflight: number;
  /** The round function's own timeout (AWS), so a margin that cannot fit is refused at start. */
  roundTimeoutMs?: number;
  /** `default`: the metrics the alarms need; `detailed`: per type, outcome and host too (billed per metric). */
  metrics: 'default' | 'detailed';
  /** DynamoDB table. */
  table: string;
  /** Optional DynamoDB endpoint (dynalite locally). */
  dynamodbEndpoint?: string;
  scheduler: {
    group: string;
    roleArn: string;
    dlqArn: string;
    /** ARN of the round function, invoked for a job due now. */
    roundFunctionArn: string;
    /** URL of the round queue: a job due within 15 minutes waits there (docs/scheduling.md). */
    queueUrl: string;
    /** ARN of the round queue: the target of the schedules (jobs due later). */
    queueArn: string;
  };
}

export const ENV = {
  logLevel: 'LOG_LEVEL',
  stack: 'PING_MUC_STACK',
  apiUrl: 'PING_MUC_API_URL',
  hostsFile: 'PING_MUC_HOSTS_FILE',
  registry: 'PING_MUC_REGISTRY',
  masterKey: 'PING_MUC_MASTER_KEY',
  masterKeyFile: 'PING_MUC_MASTER_KEY_FILE',
  masterKeyArn: 'PING_MUC_MASTER_KEY_ARN',
  cacheSeconds: 'PING_MUC_CACHE_SECONDS',
  apiTimeoutMs: 'PING_MUC_API_TIMEOUT_MS',
  delaySeconds: 'PING_MUC_DELAY_SECONDS',
  concurrency: 'PING_MUC_CONCURRENCY',
  rechecks: 'PING_MUC_RECHECKS',
  recheckBaseSeconds: 'PING_MUC_RECHECK_BASE_SECONDS',
  retryAttempts: 'PING_MUC_RETRY_ATTEMPTS',
  joinTtlDays: 'PING_MUC_JOIN_TTL_DAYS',
  maxBodyBytes: 'PING_MUC_MAX_BODY_BYTES',
  pageSize: 'PING_MUC_PAGE_SIZE',
  probeSeconds: 'PING_MUC_PROBE_SECONDS',
  silentSeconds: 'PING_MUC_SILENT_SECONDS',
  apiBatch: 'PING_MUC_API_BATCH',
  serverMaxInflight: 'PING_MUC_SERVER_MAX_INFLIGHT',
  roundTimeoutSeconds: 'PING_MUC_ROUND_TIMEOUT_SECONDS',
  metrics: 'PING_MUC_METRICS',
  table: 'PING_MUC_TABLE',
  dynamodbEndpoint: 'PING_MUC_DYNAMODB_ENDPOINT',
  scheduleGroup: 'PING_MUC_SCHEDULE_GROUP',
  schedulerRoleArn: 'PING_MUC_SCHEDULER_ROLE_ARN',
  dlqArn: 'PING_MUC_DLQ_ARN',
  roundFunctionArn: 'PING_MUC_ROUND_FUNCTION_ARN',
  roundQueueUrl: 'PING_MUC_ROUND_QUEUE_URL',
  roundQueueArn: 'PING_MUC_ROUND_QUEUE_ARN',
  webhookSecret: 'PING_MUC_WEBHOOK_SECRET',
  apiSecret: 'PING_MUC_API_SECRET',
  webhookSecretPrevious: 'PING_MUC_WEBHOOK_SECRET_PREVIOUS',
  apiSecretPrevious: 'PING_MUC_API_SECRET_PREVIOUS',
} as const;

export const DEFAULTS = {
  logLevel: 'info',
  stack: 'local',
  apiTimeoutMs: 15_000,
  // Batches of 100, ten in flight (1,000 self-pings): the fastest on our testbed (docs/benchmarks.md, Batch size).
  apiBatch: 100,
  cacheSeconds: 300,
  delaySeconds: 60,
  rechecks: 3,
  retryAttempts: 8,
  joinTtlDays: 30,
  maxBodyBytes: 256 * 1024,
  pageSize: 500,
  probeSeconds: 10,
  // Five heartbeats of the module's default interval (60 s).
  silentSeconds: 300,
  table: 'ping-muc',
  scheduleGroup: 'ping-muc',
  metrics: 'default',
} as const;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

/** An empty setting is no setting. */
const isSet = (env: Env, name: string) => env[name] !== undefined && env[name] !== '';

function num(env: Env, name: string, def: number, min: number, max: number, integer = false): number {
  const raw = env[name];
  if (!isSet(env, name)) return def;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    throw new ConfigError(`${name}=${raw}: expected ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}`);
  }
  return n;
}

const int = (env: Env, name: string, def: number, min: number, max: number) => num(env, name, def, min, max, true);

/**
 * Pings in flight per round and per server. A round keeps ten batches in flight (a batch costs
 * one request whatever its size, so the first answers come back while the rest are out), never
 * more than an explicit server bound. An explicit concurrency above the server bound is refused.
 */
function inflight(env: Env, apiBatch: number): { concurrency: number; serverMax: number } {
  const bound = isSet(env, ENV.serverMaxInflight) ? int(env, ENV.serverMaxInflight, 0, 1, 65_536) : undefined;
  const derived = Math.min(1024, 10 * apiBatch);
  const concurrency = int(env, ENV.concurrency, Math.min(derived, bound ?? derived), 1, 1024);
  // Default: four rounds at the configured concurrency.
  const serverMax = bound ?? 4 * concurrency;
  if (serverMax < concurrency) {
    throw new ConfigError(
      `${ENV.serverMaxInflight}=${serverMax} is below ${ENV.concurrency}=${concurrency}: one round alone would exceed it`,
    );
  }
  return { concurrency, serverMax };
}

const LEVELS: readonly Level[] = ['debug', 'info', 'warn', 'error'];

/** Case-insensitive: the stack's LogLevel parameter is DEBUG or INFO. */
function logLevelOf(env: Env): Level {
  if (!isSet(env, ENV.logLevel)) return DEFAULTS.logLevel;
  const raw = (env[ENV.logLevel] as string).toLowerCase();
  if ((LEVELS as readonly string[]).includes(raw)) return raw as Level;
  throw new ConfigError(`${ENV.logLevel}=${env[ENV.logLevel]}: expected one of ${LEVELS.join(', ')}`);
}

function metricsLevel(env: Env): Config['metrics'] {
  const raw = env[ENV.metrics];
  if (!isSet(env, ENV.metrics)) return DEFAULTS.metrics;
  if (raw === 'default' || raw === 'detailed') return raw;
  throw new ConfigError(`${ENV.metrics}=${raw}: expected default or detailed`);
}

/** The master key's place: a value (local), a file (local), or a Secrets Manager secret (AWS); at most one. */
function masterKeyOf(env: Env): Config['masterKey'] {
  const set = [ENV.masterKey, ENV.masterKeyFile, ENV.masterKeyArn].filter((name) => isSet(env, name));
  if (set.length > 1) throw new ConfigError(`${set.join(' and ')} are all set: choose one place for the master key`);
  if (isSet(env, ENV.masterKey)) return { value: env[ENV.masterKey] as string };
  if (isSet(env, ENV.masterKeyFile)) return { file: env[ENV.masterKeyFile] as string };
  if (isSet(env, ENV.masterKeyArn)) return { secretId: env[ENV.masterKeyArn] as string };
  return undefined;
}

export function loadConfig(env: Env = process.env): Config {
  const delaySeconds = num(env, ENV.delaySeconds, DEFAULTS.delaySeconds, 0, 86_400);
  const apiUrl = env[ENV.apiUrl] ?? '';
  if (apiUrl && !/^https?:\/\//.test(apiUrl)) {
    throw new ConfigError(`${ENV.apiUrl}=${apiUrl}: expected an http(s) URL`);
  }
  const apiBatch = int(env, ENV.apiBatch, DEFAULTS.apiBatch, 1, 5000);
  const { concurrency, serverMax } = inflight(env, apiBatch);
  const registry = env[ENV.registry] || undefined;
  if (registry !== undefined && registry !== 'table') {
    throw new ConfigError(`${ENV.registry}=${registry}: expected "table" or nothing`);
  }
  if (env[ENV.hostsFile] && registry) {
    throw new ConfigError(`${ENV.hostsFile} and ${ENV.registry} are both set: choose one host registry`);
  }
  return {
    logLevel: logLevelOf(env),
    stack: env[ENV.stack] || DEFAULTS.stack,
    fixedKeys: {
      webhook: env[ENV.webhookSecret] || undefined,
      api: env[ENV.apiSecret] || undefined,
      webhookPrevious: env[ENV.webhookSecretPrevious] || undefined,
      apiPrevious: env[ENV.apiSecretPrevious] || undefined,
    },
    apiUrl,
    hostsFile: env[ENV.hostsFile] || undefined,
    hostsInTable: registry === 'table',
    masterKey: masterKeyOf(env),
    cacheTtlMs: num(env, ENV.cacheSeconds, DEFAULTS.cacheSeconds, 0, 3600) * 1000,
    apiTimeoutMs: num(env, ENV.apiTimeoutMs, DEFAULTS.apiTimeoutMs, 100, 300_000),
    delayMs: delaySeconds * 1000,
    concurrency,
    rechecks: int(env, ENV.rechecks, DEFAULTS.rechecks, 0, 20),
    silentMs: num(env, ENV.silentSeconds, DEFAULTS.silentSeconds, 60, 86_400) * 1000,
    recheckBaseMs: num(env, ENV.recheckBaseSeconds, delaySeconds, 0, 86_400) * 1000,
    retryAttempts: int(env, ENV.retryAttempts, DEFAULTS.retryAttempts, 0, 20),
    joinTtlSeconds: num(env, ENV.joinTtlDays, DEFAULTS.joinTtlDays, 1, 3650) * 86_400,
    maxBodyBytes: int(env, ENV.maxBodyBytes, DEFAULTS.maxBodyBytes, 1024, 6 * 1024 * 1024),
    pageSize: int(env, ENV.pageSize, DEFAULTS.pageSize, 1, 10_000),
    probeMs: num(env, ENV.probeSeconds, DEFAULTS.probeSeconds, 0, 3600) * 1000,
    apiBatch,
    serverMaxInflight: serverMax,
    roundTimeoutMs: env[ENV.roundTimeoutSeconds] ? int(env, ENV.roundTimeoutSeconds, 0, 1, 900) * 1000 : undefined,
    metrics: metricsLevel(env),
    table: env[ENV.table] ?? DEFAULTS.table,
    dynamodbEndpoint: env[ENV.dynamodbEndpoint] || undefined,
    scheduler: {
      group: env[ENV.scheduleGroup] ?? DEFAULTS.scheduleGroup,
      roleArn: env[ENV.schedulerRoleArn] ?? '',
      dlqArn: env[ENV.dlqArn] ?? '',
      roundFunctionArn: env[ENV.roundFunctionArn] ?? '',
      queueUrl: env[ENV.roundQueueUrl] ?? '',
      queueArn: env[ENV.roundQueueArn] ?? '',
    },
  };
}

/** Settings of the local service only (`npm start`), named in the README below its table. */
export const LOCAL_ENV = {
  dataDir: 'PING_MUC_DATA_DIR',
  port: 'PING_MUC_PORT',
  /** The port a platform assigns; wins over PING_MUC_PORT. */
  platformPort: 'PORT',
  listen: 'PING_MUC_LISTEN',
} as const;

export const LOCAL_DEFAULTS = { dataDir: '.data', port: 8787, listen: '127.0.0.1' } as const;

export interface LocalSettings {
  /** Where the local service keeps its data, as given (`:memory:` keeps nothing). */
  dataDir: string;
  port: number;
  /** Address the HTTP server listens on. */
  listen: string;
}

export function loadLocalSettings(env: Env = process.env): LocalSettings {
  const port = isSet(env, LOCAL_ENV.platformPort) ? LOCAL_ENV.platformPort : LOCAL_ENV.port;
  return {
    dataDir: env[LOCAL_ENV.dataDir] || LOCAL_DEFAULTS.dataDir,
    port: int(env, port, LOCAL_DEFAULTS.port, 0, 65_535),
    listen: env[LOCAL_ENV.listen] || LOCAL_DEFAULTS.listen,
  };
}

/**
 * The settings that only the AWS deployment needs; checked at cold start there. The round
 * function targets itself (its invoked ARN), so only the events function needs the round ARN.
 */
export function requireAws(config: Config, fn: 'events' | 'round'): void {
  const missing: string[] = [];
  if (fn === 'round' && !config.apiUrl && !config.hostsInTable) missing.push(`${ENV.apiUrl} or ${ENV.registry}`);
  if (!config.masterKey) missing.push(ENV.masterKeyArn);
  if (!config.scheduler.roleArn) missing.push(ENV.schedulerRoleArn);
  if (!config.scheduler.dlqArn) missing.push(ENV.dlqArn);
  if (fn === 'events' && !config.scheduler.roundFunctionArn) missing.push(ENV.roundFunctionArn);
  if (!config.scheduler.queueUrl) missing.push(ENV.roundQueueUrl);
  if (!config.scheduler.queueArn) missing.push(ENV.roundQueueArn);
  if (missing.length) throw new ConfigError(`missing configuration: ${missing.join(', ')}`);
}

/**
 * Settings of every AWS SDK client (DynamoDB, Scheduler, SQS, Secrets Manager, Lambda): a connection
 * that does not open in 3 s or a socket silent for 5 s fails the try, and a call makes at most 3
 * tries, so a hung endpoint costs a call ~15 s rather than the function's whole timeout.
 */
export const SDK_CLIENT = {
  maxAttempts: 3,
  requestHandler: { connectionTimeout: 3_000, requestTimeout: 5_000 },
} as const;
