// The local service: the same handlers behind a small HTTP server, on embedded dynalite and the
// local durable scheduler (both kept under the data directory), or on a DynamoDB endpoint given
// by the caller (the benchmark's store in a process of its own).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENV, loadConfig, type Config } from '../support/config';
import { localDynamoClient, type RunningDynalite, startDynalite } from '../adapters/dynamodb/dynalite';
import { ensureTable } from '../adapters/dynamodb/table';
import { DynamoStore } from '../adapters/dynamodb/store';
import { LocalScheduler } from '../adapters/scheduler-local';
import { StanzaApiError } from '../support/errors';
import { fileRegistrySource } from '../adapters/registry-file';
import { type AnyIngestDeps, handleEvents, type HttpRequest, type RegistryIngestDeps } from '../app/ingest';
import type { AppDeps } from '../app/deps';
import { reconcile, RECONCILE_PERIOD_MS } from '../app/reconcile';
import { runRound, type RoundDeps } from '../app/round';
import { createLogger, levelFromEnv, Metrics, type Logger } from '../support/observability';
import { DocumentRegistry, EnvRegistry, type HostRegistry, knownHosts } from '../support/registry';
import { SecretCache } from '../support/secrets';
import { routedStanzaApi } from './stanza-api';
import { systemClock } from '../support/clock';
import type { StanzaApi } from '../ports';

export const MEMORY = ':memory:';

export interface LocalServiceOptions {
  port?: number;
  host?: string;
  /** Where dynalite keeps its data; MEMORY for an in-memory store (tests). */
  dataDir?: string;
  /** PING_MUC_* settings; default process.env. */
  env?: Record<string, string | undefined>;
  log?: (line: string) => void;
  /** Replace the HTTP stanza API (benchmarks, tests). */
  api?: StanzaApi;
  /** Local scheduler poll interval (firing precision), default 200 ms. */
  pollMs?: number;
  /** Time budget of one round invocation, to exercise checkpoints locally; default unlimited. */
  roundBudgetMs?: number;
  /** How often the reconciler runs, default RECONCILE_PERIOD_MS; 0: never (tests that drive it). */
  reconcileMs?: number;
  /**
   * A DynamoDB endpoint to use instead of the embedded dynalite (e.g. a dynalite in another
   * process): none is started, the table is still ensured, and close() leaves that server running.
   */
  dynamodbEndpoint?: string;
}

export interface LocalService {
  url: string;
  eventsUrl: string;
  store: DynamoStore;
  /** Endpoint of the store: the embedded dynalite's, or the one given in the options. */
  dynamodbEndpoint: string;
  config: Config;
  metrics: Metrics;
  /** The keys of the one entry when no host registry is set (from the env, or generated). */
  webhookSecret?: string;
  apiSecret?: string;
  /** The host registry in use (the hosts file, or the one entry). */
  hosts: HostRegistry;
  /** Runs the reconciler once now (the timer does it every reconcileMs). */
  reconcile(): Promise<{ windows: number; rounds: number }>;
  close(): Promise<void>;
}

/** Until the stanza API URL is set, rounds fail (and are retried), never guess. */
const unset = () => Promise.reject(new StanzaApiError(`${ENV.apiUrl} is not set`));
const unconfiguredApi: StanzaApi = { heal: unset, selfPing: unset, notify: unset, serverPing: unset };

function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** Secrets: the environment's, else generated once and kept in the data directory. */
function localSecrets(env: Record<string, string | undefined>, dataDir: string): { webhook: string; api: string } {
  const file = dataDir === MEMORY ? undefined : join(dataDir, 'secrets.json');
  let stored: { webhook?: string; api?: string } = {};
  if (file && existsSync(file)) stored = JSON.parse(readFileSync(file, 'utf8'));
  const secrets = {
    webhook: env[ENV.webhookSecret] || stored.webhook || newSecret(),
    api: env[ENV.apiSecret] || stored.api || newSecret(),
  };
  if (file && (!stored.webhook || !stored.api)) writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}

/**
 * The hosts file (PING_MUC_HOSTS_FILE: plain keys or ARNs, re-read after PING_MUC_CACHE_SECONDS),
 * else the environment's one entry with the secrets given or generated. Read once here, so a bad
 * file or a weak key stops the start.
 */
async function localRegistry(
  config: Config,
  env: Record<string, string | undefined>,
  dataDir: string,
  log: Logger,
): Promise<{ hosts: HostRegistry; secrets?: { webhook: string; api: string } }> {
  const cache = new SecretCache(config.cacheTtlMs);
  if (config.hostsFile) {
    const hosts = new DocumentRegistry({
      source: fileRegistrySource(config.hostsFile),
      name: config.hostsFile,
      arnsOnly: false,
      ttlMs: config.cacheTtlMs,
      secrets: cache,
      onStale: (err) => log.error('host registry refresh failed, keeping the last one', { error: err.message }),
    });
    await hosts.hosts();
    return { hosts };
  }
  const secrets = localSecrets(env, dataDir);
  const hosts = new EnvRegistry(
    { ...env, [ENV.webhookSecret]: secrets.webhook, [ENV.apiSecret]: secrets.api },
    config.apiUrl,
    cache,
  );
  await hosts.webhookKeys('');
  if (config.apiUrl) await hosts.api('');
  return { hosts, secrets };
}

/**
 * The body, or undefined when it is over `limit`: from the declared content-length before
 * reading anything, else as soon as the bytes read pass the limit. The caller then answers 413
 * at once with `connection: close`; the client reads that answer before the socket closes (the
 * unread rest is never buffered). The promise always settles: an aborted request rejects, so no
 * request is left pending in `inflight` (close() would wait for it).
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      fn();
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return settle(() => resolve(undefined));
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => settle(() => resolve(Buffer.concat(chunks))));
    req.on('error', (err) => settle(() => reject(err)));
    req.on('close', () => settle(() => reject(new Error('request aborted before its end'))));
  });
}

/** One HTTP request to the local service: /health, or POST /events through handleEvents. */
async function serveRequest(
  req: IncomingMessage,
  res: ServerResponse,
  ingest: AnyIngestDeps,
  maxBodyBytes: number,
  log: Logger,
): Promise<void> {
  const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/health') return send(200, { ok: true });
  if (path !== '/events') return send(404, { error: 'not found: POST /events' });
  try {
    const body = await readBody(req, maxBodyBytes);
    if (!body) {
      // Answered before the rest is read; Node closes the socket once the answer is out.
      return send(413, { error: `body larger than ${maxBodyBytes} bytes` }, { connection: 'close' });
    }
    const request: HttpRequest = { method: req.method ?? 'GET', headers: req.headers as Record<string, string>, body };
    const out = await handleEvents(ingest, request);
    send(out.status, out.body, out.headers);
  } catch (err) {
    log.error('events request failed', { error: (err as Error).message });
    if (!res.headersSent) send(500, { error: 'internal error' });
  }
}

/** A store server run by someone else: closing drops only our client, never the server. */
function externalDynamo(endpoint: string): RunningDynalite {
  const client = localDynamoClient(endpoint);
  return {
    endpoint,
    client,
    close: async () => client.destroy(),
  };
}

function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server.address() as AddressInfo));
  });
}

const writeLine = (line: string) => void process.stdout.write(`${line}\n`);

/**
 * The HTTP server of the service. close() stops accepting, lets the requests in progress finish
 * (bounded) before the store goes away, then drops what is left.
 */
async function serveEvents(
  ingest: AnyIngestDeps,
  maxBodyBytes: number,
  log: Logger,
  port: number,
  host: string,
): Promise<{ address: AddressInfo; close(): Promise<void> }> {
  const inflight = new Set<Promise<unknown>>();
  const server = createServer((req, res) => {
    const handling = serveRequest(req, res, ingest, maxBodyBytes, log);
    inflight.add(handling);
    void handling.finally(() => inflight.delete(handling));
  });
  const address = await listen(server, port, host);
  return {
    address,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await Promise.race([Promise.allSettled([...inflight]), new Promise((r) => setTimeout(r, 5_000).unref())]);
      server.closeAllConnections();
      await closed;
    },
  };
}

/**
 * The reconciler every `periodMs` (as the stack's schedule does on AWS), one run at a time; a
 * failed run is logged and left to the next. stop() waits for a run in progress.
 */
function startReconciler(deps: AppDeps, periodMs: number): { stop(): Promise<void> } {
  if (periodMs <= 0) return { stop: async () => undefined };
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (running) return;
    running = reconcile(deps)
      .then(
        () => undefined,
        (err: Error) => deps.log.error('reconciler failed', { error: err.message }),
      )
      .finally(() => {
        running = undefined;
      });
  }, periodMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

export async function startLocalService(options: LocalServiceOptions = {}): Promise<LocalService> {
  const env = options.env ?? process.env;
  const dataDir = options.dataDir ?? MEMORY;
  if (dataDir !== MEMORY) mkdirSync(dataDir, { recursive: true });
  const config = loadConfig(env);
  const log: Logger = createLogger('ping-muc', levelFromEnv(env), options.log ?? writeLine);
  const metrics = new Metrics('PingMuc', () => undefined);
  const { hosts, secrets } = await localRegistry(config, env, dataDir, log);
  const routed = config.apiUrl || config.hostsFile;
  if (!routed && !options.api) log.warn(`${ENV.apiUrl} is not set: rounds will fail until it is`);

  const dynalite = options.dynamodbEndpoint
    ? externalDynamo(options.dynamodbEndpoint)
    : await startDynalite(dataDir === MEMORY ? {} : { path: join(dataDir, 'dynalite') });
  await ensureTable(dynalite.client, config.table);
  const clock = systemClock;
  const store = new DynamoStore({ client: dynalite.client, table: config.table, now: clock.now });
  const api = options.api ?? (routed ? routedStanzaApi(config, hosts) : unconfiguredApi);
  const budget = options.roundBudgetMs ?? Infinity;
  let roundDeps: RoundDeps;
  const scheduler = new LocalScheduler({
    client: dynalite.client,
    table: config.table,
    pollMs: options.pollMs ?? 200,
    now: clock.now,
    run: async (job) => {
      const started = clock.now();
      try {
        await runRound(roundDeps, job, () => budget - (clock.now() - started));
      } catch (err) {
        log.error('round failed, will retry', { ...job, error: (err as Error).message });
        throw err;
      }
    },
    log: (message, data) => log.warn(message, data),
  });
  const base: AppDeps = { joins: store, rounds: store, scheduler, config, log, metrics, clock };
  base.knownHosts = knownHosts(hosts);
  roundDeps = { ...base, api };
  const ingest: RegistryIngestDeps = { ...base, hosts };
  const http = await serveEvents(ingest, config.maxBodyBytes, log, options.port ?? 0, options.host ?? '127.0.0.1');
  const { address } = http;
  scheduler.start();
  const reconciler = startReconciler(base, options.reconcileMs ?? RECONCILE_PERIOD_MS);
  const url = `http://${address.address}:${address.port}`;
  return {
    url,
    eventsUrl: `${url}/events`,
    store,
    dynamodbEndpoint: dynalite.endpoint,
    config,
    metrics,
    webhookSecret: secrets?.webhook,
    apiSecret: secrets?.api,
    hosts,
    reconcile: () => reconcile(base),
    async close() {
      await reconciler.stop();
      await http.close();
      await scheduler.stop();
      await dynalite.close();
    },
  };
}
