// All configuration is read here, once, from the environment, with defaults.
// Secrets are not read here: see lib/support/secrets.ts (env value locally, Secrets Manager on AWS).

export interface Config {
  /** Stanza API URL of the XMPP server (docs/stanza-api.md), when no host registry is set. */
  apiUrl: string;
  /** Host registry in a local JSON file (docs/hosts.md); none: the env's one entry serves every host. */
  hostsFile?: string;
  /** Host registry in an SSM parameter (String, JSON), on AWS. */
  hostsParameter?: string;
  /** How long the host registry and the secrets are cached, so a rotation needs no cold start. */
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
  apiUrl: 'PING_MUC_API_URL',
  hostsFile: 'PING_MUC_HOSTS_FILE',
  hostsParameter: 'PING_MUC_HOSTS_PARAMETER',
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
  webhookSecretArn: 'PING_MUC_WEBHOOK_SECRET_ARN',
  apiSecret: 'PING_MUC_API_SECRET',
  apiSecretArn: 'PING_MUC_API_SECRET_ARN',
  webhookSecretPrevious: 'PING_MUC_WEBHOOK_SECRET_PREVIOUS',
  webhookSecretPreviousArn: 'PING_MUC_WEBHOOK_SECRET_PREVIOUS_ARN',
  apiSecretPrevious: 'PING_MUC_API_SECRET_PREVIOUS',
  apiSecretPreviousArn: 'PING_MUC_API_SECRET_PREVIOUS_ARN',
} as const;

export const DEFAULTS = {
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

function metricsLevel(env: Env): Config['metrics'] {
  const raw = env[ENV.metrics];
  if (!isSet(env, ENV.metrics)) return DEFAULTS.metrics;
  if (raw === 'default' || raw === 'detailed') return raw;
  throw new ConfigError(`${ENV.metrics}=${raw}: expected default or detailed`);
}

export function loadConfig(env: Env = process.env): Config {
  const delaySeconds = num(env, ENV.delaySeconds, DEFAULTS.delaySeconds, 0, 86_400);
  const apiUrl = env[ENV.apiUrl] ?? '';
  if (apiUrl && !/^https?:\/\//.test(apiUrl)) {
    throw new ConfigError(`${ENV.apiUrl}=${apiUrl}: expected an http(s) URL`);
  }
  const apiBatch = int(env, ENV.apiBatch, DEFAULTS.apiBatch, 1, 5000);
  const { concurrency, serverMax } = inflight(env, apiBatch);
  if (env[ENV.hostsFile] && env[ENV.hostsParameter]) {
    throw new ConfigError(`${ENV.hostsFile} and ${ENV.hostsParameter} are both set: choose one host registry`);
  }
  return {
    apiUrl,
    hostsFile: env[ENV.hostsFile] || undefined,
    hostsParameter: env[ENV.hostsParameter] || undefined,
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

/**
 * The settings that only the AWS deployment needs; checked at cold start there. The round
 * function targets itself (its invoked ARN), so only the events function needs the round ARN.
 */
export function requireAws(config: Config, fn: 'events' | 'round'): void {
  const missing: string[] = [];
  if (fn === 'round' && !config.apiUrl && !config.hostsParameter)
    missing.push(`${ENV.apiUrl} or ${ENV.hostsParameter}`);
  if (!config.scheduler.roleArn) missing.push(ENV.schedulerRoleArn);
  if (!config.scheduler.dlqArn) missing.push(ENV.dlqArn);
  if (fn === 'events' && !config.scheduler.roundFunctionArn) missing.push(ENV.roundFunctionArn);
  if (!config.scheduler.queueUrl) missing.push(ENV.roundQueueUrl);
  if (!config.scheduler.queueArn) missing.push(ENV.roundQueueArn);
  if (missing.length) throw new ConfigError(`missing configuration: ${missing.join(', ')}`);
}

/**
 * Settings of every AWS SDK client (DynamoDB, Scheduler, SQS, Secrets Manager, SSM): a connection
 * that does not open in 3 s or a socket silent for 5 s fails the try, and a call makes at most 3
 * tries, so a hung endpoint costs a call ~15 s rather than the function's whole timeout.
 */
export const SDK_CLIENT = {
  maxAttempts: 3,
  requestHandler: { connectionTimeout: 3_000, requestTimeout: 5_000 },
} as const;
