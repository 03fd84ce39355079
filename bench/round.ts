// Part 1, round fan-out: N joins of one host in rooms of one remote domain (plus noise joins of
// the same host on other remote domains) in DynamoDB (dynalite), one s2s close, one round against
// a stanza API that answers after L ms. The round itself runs in `measureRound`, in whatever
// process calls it: bench/run.ts gives it a fresh process of its own (bench/round-worker.ts) so
// that its peak RSS is the round's alone; the smoke test calls it in-process.
import {
  BatchWriteItemCommand,
  type AttributeValue,
  type DynamoDBClient,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadConfig } from '../lib/support/config';
import { DynamoStore } from '../lib/adapters/dynamodb/store';
import { HttpStanzaApi } from '../lib/adapters/stanza-api/client';
import { secretKey } from '../lib/domain/signature';
import { createLogger } from '../lib/support/observability';
import type { Join } from '../lib/domain/model';
import type { JoinStore, RoundStore, StanzaApi } from '../lib/ports';
import { systemClock } from '../lib/support/clock';
import { linkClosed } from '../lib/app/link';
import { pageSize, runRound, type RoundDeps } from '../lib/app/round';
import { countRequests } from '../harness/count-requests';
import { captureMetrics } from './metrics';
import { CountingScheduler } from '../harness/counting-scheduler';
import { answerFor, MIX, type Answer } from './stanza-stub';

export const HOST = 'a.example';
export const REMOTE = 'muc.remote.example';
/** Noise: the same host's joins in rooms of other remote domains, sorting before and after REMOTE. */
export const NOISE_REMOTES = ['muc.a-noise.example', 'muc.z-noise.example', 'conference.other.example'];
export const TABLE = 'ping-muc-bench';
/** Test secret for the stanza API (not a real one). */
export const API_SECRET = 'bench-stanza-api-secret-0123456789abcdef';

export interface RoundParams {
  n: number;
  noise: number;
  concurrency: number;
  latencyMs: number;
  /** The round's calls in batches of at most this many (PING_MUC_API_BATCH); 0/absent: one item per request. */
  batch?: number;
}

const roomsFor = (n: number) => Math.max(5, Math.ceil(n / 25));

/** The i-th benchmark join: users hold 5 joins each, 25 occupants a room; nick `n<i>`. */
export function benchJoin(i: number, n: number, seq: number): Join {
  return {
    host: HOST,
    user: `u${Math.floor(i / 5)}@${HOST}/bench`,
    room: `room${i % roomsFor(n)}@${REMOTE}`,
    remote: REMOTE,
    nick: `n${i}`,
    seq,
  };
}

export function noiseJoin(j: number, noise: number, seq: number): Join {
  const remote = NOISE_REMOTES[j % NOISE_REMOTES.length] as string;
  return {
    host: HOST,
    user: `x${Math.floor(j / 5)}@${HOST}/bench`,
    room: `room${Math.floor(j / NOISE_REMOTES.length) % roomsFor(noise)}@${remote}`,
    remote,
    nick: `x${j}`,
    seq,
  };
}

/** The stub's answer for an occupant `room/nick` of the benchmark. */
export function answerOfOccupant(occupant: string): Answer {
  const nick = occupant.slice(occupant.indexOf('/') + 1);
  return nick.startsWith('n') ? answerFor(Number(nick.slice(1))) : 'result';
}

/** What a correct round must do for N joins. */
export function expected(n: number): { pings: number; notifications: number; kept: number } {
  let notifications = 0;
  for (let i = 0; i < n; i++) {
    const a = answerFor(i);
    if (a === 'not-acceptable' || a === 'item-not-found-service') notifications++;
  }
  return { pings: n, notifications, kept: n - notifications };
}

async function pool(count: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, count) }, async () => {
      while (next < count) await fn(next++);
    }),
  );
}

/** Writes the joins through the store port (the same writes as join events). Returns the last seq. */
export async function seed(
  store: JoinStore,
  p: Pick<RoundParams, 'n' | 'noise'>,
  seq0 = Date.now() * 1000,
  parallel = 48,
): Promise<number> {
  if (p.noise > p.n)
    throw new RangeError('seed: at most as many noise joins as joins (they are interleaved one for one)');
  const expiresAt = Math.floor(Date.now() / 1000) + 86_400;
  const total = p.n + p.noise;
  await pool(total, parallel, (k) => {
    // Interleave noise and benchmark joins, as a server's event stream would.
    const join = k % 2 === 1 && (k - 1) / 2 < p.noise ? noiseJoin((k - 1) / 2, p.noise, seq0 + k) : undefined;
    if (join) return store.putJoin(join, expiresAt);
    const i = k < 2 * p.noise ? k / 2 : k - p.noise;
    return store.putJoin(benchJoin(i, p.n, seq0 + k), expiresAt);
  });
  return seq0 + total;
}

/**
 * Fast seeding for large N: the store's own putJoin builds the items (captured, not sent), then
 * they are written 25 per BatchWriteItem. Same items as join events write; only the benchmark's
 * set-up uses this.
 */
export async function seedBatched(
  client: DynamoDBClient,
  p: Pick<RoundParams, 'n' | 'noise'>,
  seq0 = Date.now() * 1000,
  parallel = 8,
): Promise<number> {
  const items: Array<Record<string, AttributeValue>> = [];
  const capture = {
    send: async (cmd: { input: { Item?: Record<string, AttributeValue> } }) => {
      if (cmd.input.Item) items.push(cmd.input.Item);
      return {};
    },
  };
  const last = await seed(new DynamoStore({ client: capture as unknown as DynamoDBClient, table: TABLE }), p, seq0, 1);
  const batches = Math.ceil(items.length / 25);
  await pool(batches, parallel, async (b) => {
    let pending: WriteRequest[] = items.slice(b * 25, b * 25 + 25).map((Item) => ({ PutRequest: { Item } }));
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > 20) throw new Error('seeding: BatchWriteItem keeps leaving items unprocessed');
      const out = await client.send(new BatchWriteItemCommand({ RequestItems: { [TABLE]: pending } }));
      pending = out.UnprocessedItems?.[TABLE] ?? [];
    }
  });
  return last;
}

export interface RoundResult extends RoundParams {
  pageSize: number;
  wallMs: number;
  /** N·L/C: the wall time of a round that did nothing but wait for pings, C at a time. */
  idealMs: number;
  /** idealMs ÷ wallMs (the definition). */
  efficiency: number;
  /** The same counting the notifications' round trips too: (N + notifications)·L/C ÷ wallMs. */
  efficiencyAllRequests: number;
  pingsPerSec: number;
  /** API round trips as the round saw them (ms). */
  rtt: { mean: number; p50: number; p99: number; max: number };
  /** Mean API calls in flight over the round (C at best). */
  meanInFlight: number;
  /** Event-loop delay of the round's process (a busy loop delays every completion). */
  eventLoopDelayMs: { p50: number; p99: number };
  /** CPU time of the round's process during the round (ms). */
  cpuMs: number;
  rssBeforeMb: number;
  peakRssMb: number;
  peakHeapMb: number;
  dynamoRequests: number;
  dynamoByCommand: Record<string, number>;
  dynamoAttempts: number;
  dynamoPerJoin: number;
  httpRequests: number;
  httpPerJoin: number;
  schedules: number;
  scheduleCalls: number;
  outcomes: Record<string, number>;
}

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

/** Peak RSS of this process so far (MB). */
export function maxRssMb(): number {
  return mb(process.resourceUsage().maxRSS * 1024);
}

/** Ablation: the store (DynamoDB on dynalite, or Maps). */
export interface Variant {
  store: 'dynamodb' | 'memory';
}
export const BASELINE: Variant = { store: 'dynamodb' };

/**
 * Runs one round over the seeded joins and measures it: `target` is the DynamoDB client that
 * reaches the seeded table, or a (seeded) store.
 */
export async function measureRound(
  target: DynamoDBClient | JoinStore,
  stubUrl: string,
  p: RoundParams,
  closeSeq: number,
): Promise<RoundResult> {
  const client = 'send' in target ? target : undefined;
  const config = loadConfig({
    PING_MUC_DELAY_SECONDS: '0',
    PING_MUC_CONCURRENCY: String(p.concurrency),
    PING_MUC_API_URL: stubUrl,
    PING_MUC_TABLE: TABLE,
    PING_MUC_API_TIMEOUT_MS: '15000',
  });
  const counter = client ? countRequests(client) : undefined;
  let httpRequests = 0;
  const apiOptions = {
    url: stubUrl,
    key: secretKey(API_SECRET),
    timeoutMs: config.apiTimeoutMs,
    onRequest: () => httpRequests++,
  };
  // Batches of p.batch items (one item per request when 0).
  const transport: StanzaApi = new HttpStanzaApi({ ...apiOptions, gatherMaxItems: Math.max(1, p.batch ?? 0) });
  // Round trip of every API call as the round sees it: tells a slow API (or a busy event loop)
  // apart from a round that does not keep C requests in flight.
  const rtts: number[] = [];
  let inFlight = 0;
  let inFlightArea = 0;
  let lastChange = performance.now();
  const track = async <T>(call: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    inFlightArea += inFlight * (t - lastChange);
    lastChange = t;
    inFlight++;
    try {
      return await call();
    } finally {
      const e = performance.now();
      inFlightArea += inFlight * (e - lastChange);
      lastChange = e;
      inFlight--;
      rtts.push(e - t);
    }
  };
  const timedApi: StanzaApi = {
    heal: (join) => track(() => transport.heal(join)),
    selfPing: (join) => track(() => transport.selfPing(join)),
    notify: (join) => track(() => transport.notify(join)),
    serverPing: (host, remote) => transport.serverPing(host, remote),
  };
  const scheduler = new CountingScheduler();
  const captured = captureMetrics();
  const metrics = captured.metrics;
  const store = client ? new DynamoStore({ client, table: TABLE }) : (target as JoinStore & RoundStore);
  const deps: RoundDeps = {
    joins: store,
    rounds: store,
    clock: systemClock,
    api: timedApi,
    scheduler,
    config,
    log: createLogger('bench', 'warn', () => undefined),
    metrics,
  };
  const rssBeforeMb = mb(process.memoryUsage().rss);
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  let peakHeap = 0;
  const sampler = setInterval(() => {
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  }, 250);
  await linkClosed(deps, HOST, REMOTE, closeSeq);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  // Run every job the round schedules for itself (checkpoints, re-checks) until none is left.
  for (let s = scheduler.take(); s; s = scheduler.take()) {
    const wait = s.at - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    await runRound(deps, s.job);
  }
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  loop.disable();
  peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  counter?.remove();
  const snap = captured.snapshot();
  const outcomes: Record<string, number> = {};
  for (const [k, v] of Object.entries(snap)) outcomes[k.replace(/^[^.]*\./, '')] = v;
  const notifications = snap['Notifications.sent'] ?? 0;
  const idealMs = (p.n * p.latencyMs) / p.concurrency;
  return {
    ...p,
    pageSize: pageSize(config),
    wallMs: Math.round(wallMs),
    idealMs: Math.round(idealMs),
    efficiency: round3(idealMs / wallMs),
    efficiencyAllRequests: round3(((p.n + notifications) * p.latencyMs) / p.concurrency / wallMs),
    pingsPerSec: Math.round((p.n / wallMs) * 1000),
    rtt: stats(rtts),
    meanInFlight: Math.round((inFlightArea / wallMs) * 10) / 10,
    eventLoopDelayMs: {
      p50: Math.round(loop.percentile(50) / 1e5) / 10,
      p99: Math.round(loop.percentile(99) / 1e5) / 10,
    },
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    rssBeforeMb,
    peakRssMb: maxRssMb(),
    peakHeapMb: mb(peakHeap),
    dynamoRequests: counter?.total ?? 0,
    dynamoByCommand: { ...counter?.byCommand },
    dynamoAttempts: counter?.attempts ?? 0,
    dynamoPerJoin: round3((counter?.total ?? 0) / p.n),
    httpRequests,
    httpPerJoin: round3(httpRequests / p.n),
    schedules: scheduler.created.length,
    scheduleCalls: scheduler.calls,
    outcomes,
  };
}

function stats(xs: number[]): { mean: number; p50: number; p99: number; max: number } {
  if (xs.length === 0) return { mean: 0, p50: 0, p99: 0, max: 0 };
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
  const r1 = (x: number) => Math.round(x * 10) / 10;
  return {
    mean: r1(s.reduce((a, b) => a + b, 0) / s.length),
    p50: r1(at(0.5)),
    p99: r1(at(0.99)),
    max: r1(s[s.length - 1] as number),
  };
}

export const round3 = (x: number) => Math.round(x * 1000) / 1000;

export { MIX };

export interface CalibrationResult {
  n: number;
  concurrency: number;
  latencyMs: number;
  wallMs: number;
  idealMs: number;
  efficiency: number;
  cpuMs: number;
  rtt: { mean: number; p50: number; p99: number; max: number };
}

/**
 * The ceiling this machine and stub allow: C loops sending N self-pings back to back through
 * the stanza API client, with no store, no paging and no round logic. A round cannot beat it.
 */
export async function calibrate(
  stubUrl: string,
  p: Pick<RoundParams, 'n' | 'concurrency' | 'latencyMs'>,
): Promise<CalibrationResult> {
  const options = { url: stubUrl, key: secretKey(API_SECRET), timeoutMs: 15_000 };
  const transport: StanzaApi = new HttpStanzaApi(options);
  const rtts: number[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await pool(p.n, p.concurrency, async (i) => {
    const j = benchJoin(i, p.n, 1);
    const t = performance.now();
    await transport.selfPing({ user: j.user, occupant: `${j.room}/${j.nick}`, since: j.seq });
    rtts.push(performance.now() - t);
  });
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const idealMs = (p.n * p.latencyMs) / p.concurrency;
  return {
    n: p.n,
    concurrency: p.concurrency,
    latencyMs: p.latencyMs,
    wallMs: Math.round(wallMs),
    idealMs: Math.round(idealMs),
    efficiency: round3(idealMs / wallMs),
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    rtt: stats(rtts),
  };
}
