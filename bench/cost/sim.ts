// Child process of the cost benchmark: one scenario, scaled down, through the real Lambda
// handlers (functions/events.ts, functions/round.ts) with the environment the synthesized
// template gives them, the real DynamoDB store on dynalite, and every other AWS service answered
// in process (./aws.ts). Time is virtual: Date.now and the code's clock read it, and a sleep
// moves it (and is billed). Reports what it counted; ./part.ts scales and prices it.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { startDynalite } from '../../lib/adapters/dynamodb/dynalite';
import { ensureTable, KEYS } from '../../lib/adapters/dynamodb/table';
import { sign } from '../../lib/domain/signature';
import { systemClock } from '../../lib/support/clock';
import { evaluate } from '../../harness/cfn-eval';
import type { CfnTemplate } from '../../harness/synth';
import { serveStanzaApi, type Answer } from '../../harness/stanza-api-stub';
import { childParam, tell } from '../children';
import { type Call, DynamoSide, hookSdk, storedBytes, type TableShape, type Units } from './aws';
import { deployment } from './deployment';
import { eventsPerRequest, extrapolate } from './model';

export interface SimParams {
  name: string;
  hosts: string[];
  /** Join and leave events a day, all hosts together (half joins, half leaves). */
  eventsPerDay: number;
  heartbeatSeconds: number;
  lingerSeconds: number;
  batchMaxItems: number;
  /** Joins per lost link. */
  joinsPerLink: number;
  /** Simulated window of steady traffic (after the warm-up), minutes. */
  windowMinutes: number;
  /**
   * Hosts posting in the two steady windows (each counted, then extrapolated linearly to all
   * hosts: ./model.ts extrapolate); both all hosts when they are few.
   */
  activeHosts: [number, number];
  warmupMinutes: number;
  /** Lost links run one after the other, on hosts in turn. */
  sampleLinks: number;
  /** Live joins seeded to measure the storage of one. */
  storageJoins: number;
  templateFile: string;
  latency: LatencyModel;
}

/** Billed time the code spends waiting for what the benchmark answers in process. */
export interface LatencyModel {
  /** Per DynamoDB request (dynalite answers at once), on the invocation's critical path. */
  dynamodbMs: number;
  /** Per other AWS request (Invoke, SendMessage, CreateSchedule, GetSecretValue…). */
  awsMs: number;
  /** Per stanza API request (a batch of up to 100 self-pings across s2s), one after the other. */
  stanzaRequestMs: number;
  /** The handler's own work per invocation. */
  handlerMs: number;
  /** INIT of a round invocation that starts a round (billed; rounds are rare enough to be cold). */
  roundInitMs: number;
}

/** What one phase counted. */
export interface Counts {
  invocations: Record<string, number>;
  /** Billed ms per function (virtual time of the invocations, INIT included). */
  billedMs: Record<string, number>;
  /** Of billedMs, ms spent in the code's own sleeps. */
  sleptMs: Record<string, number>;
  calls: Record<string, number>;
  /** DynamoDB units. */
  rru: number;
  wru: number;
  gsiWru: number;
  logLines: Record<string, number>;
  logBytes: Record<string, number>;
  emfBytes: number;
  /** EMF documents per metric (namespace|name|dimensions=values, host values as <host>), and whether one dimension value is a host. */
  metrics: Record<string, { documents: number; perHost: boolean }>;
  /** Distinct secret ids read (host names as <host>). */
  secretIds: string[];
  stanzaRequests: number;
  /** Messages the round function received from SQS (each a receive and a delete by the event source mapping). */
  sqsDelivered: number;
  schedulesFired: number;
  handlerErrors: number;
  eventsSent: number;
  requestsSent: number;
  events: Record<string, number>;
}

export interface SimResult {
  name: string;
  /** Phase A: steady traffic for windowMinutes. */
  steady: Counts;
  /** Phase B: sampleLinks lost links, start to end. */
  links: Counts;
  sampleLinks: number;
  windowMinutes: number;
  eventsPerRequestModel: number;
  eventsPerRequestSimulated: number;
  /** Stored bytes per live join (table and index copies), measured by seeding. */
  bytesPerJoin: number;
  /** Stored bytes of short-lived items (TTL within 3 days) written per hour of steady traffic, and their mean lifetime in hours (TTL lag of 48 h included). */
  shortLived: { bytesPerHour: number; lifetimeHours: number };
  memoryMb: Record<string, number>;
  ssmParameterBytes: number[];
  tableIndexes: string[];
  hookedClients: string[];
  logRetentionDays: number;
}

const p = childParam<SimParams>();
const log = (s: string) => process.stderr.write(`[cost ${p.name}] ${s}\n`);

// ---- virtual time ----------------------------------------------------------------------------
let vt = Date.UTC(2026, 11, 1, 0, 0, 0);
const realNow = Date.now;
Date.now = () => vt;
let slept = 0;
/** As the test fake clock: sleepers started together wake together; time moves once. */
async function vsleep(ms: number): Promise<void> {
  const wake = vt + Math.max(0, ms);
  await new Promise<void>((r) => setImmediate(r));
  vt = Math.max(vt, wake);
}
const codeClock = systemClock as { now: () => number; sleep: (ms: number) => Promise<void> };
codeClock.now = () => vt;
codeClock.sleep = async (ms) => {
  slept += Math.max(0, ms);
  await vsleep(ms);
};

// ---- counting -----------------------------------------------------------------------------------
const empty = (): Counts => ({
  invocations: {},
  billedMs: {},
  sleptMs: {},
  calls: {},
  rru: 0,
  wru: 0,
  gsiWru: 0,
  logLines: {},
  logBytes: {},
  emfBytes: 0,
  metrics: {},
  secretIds: [],
  stanzaRequests: 0,
  sqsDelivered: 0,
  schedulesFired: 0,
  handlerErrors: 0,
  eventsSent: 0,
  requestsSent: 0,
  events: {},
});
let counts = empty();
let counting = false;
let currentFn = 'none';
const inc = (r: Record<string, number>, k: string, n = 1) => {
  r[k] = (r[k] ?? 0) + n;
};
const secretIds = new Set<string>();

const hostRe = new RegExp(p.hosts.map((h) => h.replace(/[.]/g, '\\.')).join('|'), 'g');
const normalize = (s: string) => s.replace(hostRe, '<host>');

// Lines the functions write (JSON logs and EMF) are captured per function, not printed.
process.stdout.write = ((chunk: string | Uint8Array) => {
  const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
  if (!counting) return true;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    inc(counts.logLines, currentFn);
    inc(counts.logBytes, currentFn, Buffer.byteLength(line));
    if (!line.includes('"_aws"')) continue;
    counts.emfBytes += Buffer.byteLength(line);
    const doc = JSON.parse(line) as Record<string, unknown> & {
      _aws: {
        CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string }> }>;
      };
    };
    for (const d of doc._aws.CloudWatchMetrics) {
      for (const set of d.Dimensions) {
        const dims = set.map((k) => `${k}=${String(doc[k])}`).join(',');
        const perHost = set.some((k) => p.hosts.includes(String(doc[k])));
        for (const m of d.Metrics) {
          const id = `${d.Namespace}|${m.Name}|${normalize(dims)}`;
          const e = (counts.metrics[id] ??= { documents: 0, perHost });
          e.documents++;
        }
      }
    }
  }
  return true;
}) as typeof process.stdout.write;

// ---- jobs for the round function -----------------------------------------------------------
interface Job {
  at: number;
  event: unknown;
  via: 'invoke' | 'sqs' | 'schedule';
}
const jobs: Job[] = [];
const schedules = new Set<string>();
const pushJob = (job: Job) => {
  jobs.push(job);
  jobs.sort((a, b) => a.at - b.at);
};
const sqsEvent = (body: string, queue: string) => ({
  Records: [
    {
      messageId: randomUUID(),
      receiptHandle: randomUUID(),
      body,
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: String(vt),
        SenderId: 'bench',
        ApproximateFirstReceiveTimestamp: String(vt),
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: queue.startsWith('arn:') ? queue : `arn:aws:sqs:us-east-1:123456789012:${queue.split('/').pop()}`,
      awsRegion: 'us-east-1',
    },
  ],
});

/** `at(yyyy-mm-ddThh:mm:ss)`: fires within that minute, on average half-way. */
function scheduleTime(expression: string): number | undefined {
  const m = /^at\((.+)\)$/.exec(expression);
  return m ? Date.parse(`${m[1]}Z`) + 30_000 : undefined;
}

// ---- the fake AWS ------------------------------------------------------------------------------
let templateEnv: Record<string, string> = {};
const dep = deployment(p.hosts, () => templateEnv);

function answer(call: Call): Record<string, unknown> {
  const i = call.input;
  switch (`${call.service}:${call.command}`) {
    case 'Lambda:Invoke': {
      const payload = Buffer.from(i.Payload as Uint8Array).toString('utf8');
      pushJob({ at: vt, event: JSON.parse(payload), via: 'invoke' });
      return { StatusCode: i.InvocationType === 'Event' ? 202 : 200 };
    }
    case 'SQS:SendMessage': {
      pushJob({
        at: vt + Number(i.DelaySeconds ?? 0) * 1000,
        event: sqsEvent(i.MessageBody as string, i.QueueUrl as string),
        via: 'sqs',
      });
      return { MessageId: randomUUID() };
    }
    case 'SQS:SendMessageBatch': {
      const entries = i.Entries as Array<{ Id: string; MessageBody: string; DelaySeconds?: number }>;
      for (const e of entries)
        pushJob({
          at: vt + Number(e.DelaySeconds ?? 0) * 1000,
          event: sqsEvent(e.MessageBody, i.QueueUrl as string),
          via: 'sqs',
        });
      return { Successful: entries.map((e) => ({ Id: e.Id, MessageId: randomUUID() })), Failed: [] };
    }
    case 'Scheduler:CreateSchedule': {
      const name = `${String(i.GroupName)}/${String(i.Name)}`;
      if (schedules.has(name)) {
        const err = new Error(`schedule ${name} exists`);
        err.name = 'ConflictException';
        throw err;
      }
      schedules.add(name);
      const target = i.Target as { Arn: string; Input?: string };
      const at = scheduleTime(String(i.ScheduleExpression)) ?? vt;
      const input = target.Input ?? '{}';
      pushJob(
        target.Arn.includes(':sqs:')
          ? { at, event: sqsEvent(input, target.Arn), via: 'schedule' }
          : { at, event: JSON.parse(input), via: 'schedule' },
      );
      return { ScheduleArn: `arn:aws:scheduler:us-east-1:123456789012:schedule/${name}` };
    }
    case 'Scheduler:DeleteSchedule':
      return {};
    case 'SecretsManager:GetSecretValue': {
      const id = String(i.SecretId);
      const value = dep.secret(id);
      if (value === undefined) {
        const err = new Error(`Secrets Manager can't find the specified secret ${id}`);
        err.name = 'ResourceNotFoundException';
        throw err;
      }
      return { ARN: id, Name: id, SecretString: value, VersionId: 'v1', VersionStages: ['AWSCURRENT'] };
    }
    case 'SSM:GetParameter': {
      const value = dep.ssm.get(String(i.Name));
      if (value === undefined) {
        const err = new Error(`parameter ${String(i.Name)} not found`);
        err.name = 'ParameterNotFound';
        throw err;
      }
      return { Parameter: { Name: i.Name, Type: 'String', Value: value, Version: 1 } };
    }
    case 'SNS:Publish':
      return { MessageId: randomUUID() };
    default:
      log(`unmodelled AWS command ${call.service}:${call.command}: answered {}`);
      return {};
  }
}

function onCall(call: Call, units?: Units): void {
  if (!counting) return;
  inc(counts.calls, `${currentFn}:${call.service}:${call.command}`);
  if (units) {
    counts.rru += units.rru;
    counts.wru += units.wru;
    counts.gsiWru += units.gsiWru;
  }
  if (call.service === 'DynamoDB') for (const k of writtenKeys(call)) windowKeys.add(k);
  if (call.service === 'SecretsManager' && call.command === 'GetSecretValue')
    secretIds.add(normalize(String(call.input.SecretId).split('#')[0] as string));
}

/** Keys of the items a DynamoDB write touches (for the short-lived items written in the window). */
function writtenKeys(call: Call): string[] {
  const i = call.input;
  const keyOf = (item: Record<string, AttributeValue>) => JSON.stringify(side.keyOf(shape, item));
  if (call.command === 'PutItem') return [keyOf(i.Item as Record<string, AttributeValue>)];
  if (call.command === 'UpdateItem') return [keyOf(i.Key as Record<string, AttributeValue>)];
  if (call.command === 'BatchWriteItem')
    return Object.values(i.RequestItems as Record<string, Array<Record<string, { Item?: never; Key?: never }>>>)
      .flat()
      .flatMap((r) => (r.PutRequest?.Item ? [keyOf(r.PutRequest.Item)] : []));
  return [];
}
const windowKeys = new Set<string>();

// ---- setup ------------------------------------------------------------------------------------
const template = JSON.parse(readFileSync(p.templateFile, 'utf8')) as CfnTemplate;
const dyn = await startDynalite();
const side = new DynamoSide(dyn.endpoint);

// One stanza API stub per host that has rounds: 80 % still joined, 10 % ghosts (the server
// heals them: a notification), 10 % whose session is gone (no-session).
let stanzaRequests = 0;
const stubs = new Map<string, { url: string; close(): Promise<void> }>();
const answerOf = (occupant: string): Answer => (/#1$/.test(occupant) ? 'not-acceptable' : 'result');
async function stubFor(host: string) {
  let s = stubs.get(host);
  if (!s) {
    s = await serveStanzaApi(dep.apiSecret(host), {
      ping: (iq) => answerOf(iq.to),
      notify: () => undefined,
      current: (_user, occupant) => !/#2$/.test(occupant),
      refused: () => log(`stanza API request refused for ${host}`),
      latencyMs: () => 0,
      batch: () => {
        stanzaRequests++;
      },
    });
    stubs.set(host, s);
    dep.setApiUrl(host, s.url);
  }
  return s;
}
const PLACEHOLDER_API_URL = 'https://stanza-api.placeholder.example/api';
const ctx = {
  template,
  parameters: { ...dep.parameters, ApiUrl: PLACEHOLDER_API_URL },
  region: 'us-east-1',
};
const functions = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
const fnName = (id: string) =>
  /^Events/.test(id) ? 'events' : /^Round/.test(id) ? 'round' : id.replace(/[A-F0-9]{8}$/, '');
const memoryMb: Record<string, number> = {};
const envs: Record<string, Record<string, string>> = {};
for (const [id, r] of functions) {
  const props = evaluate(ctx, r.Properties ?? {}) as {
    MemorySize?: number;
    Environment?: { Variables?: Record<string, string> };
  };
  memoryMb[fnName(id)] = Number(props.MemorySize ?? 128);
  envs[fnName(id)] = props.Environment?.Variables ?? {};
}
templateEnv = Object.assign({}, ...Object.values(envs)) as Record<string, string>;
const table = templateEnv.PING_MUC_TABLE ?? 'ping-muc';
Object.assign(process.env, templateEnv, {
  PING_MUC_DYNAMODB_ENDPOINT: dyn.endpoint,
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
});
delete process.env.NODE_OPTIONS;
{
  // The stubs of every host with a sampled lost link run from the start, so the registry names them.
  for (let k = 1; k < Math.min(p.sampleLinks, p.hosts.length); k++) await stubFor(p.hosts[k] as string);
  const stub = await stubFor(p.hosts[0] as string);
  // The stack's ApiUrl parameter: the first host's stub.
  for (const [k, v] of Object.entries(process.env)) if (v === PLACEHOLDER_API_URL) process.env[k] = stub.url;
}
const logRetentionDays = Number(
  (Object.values(template.Resources)
    .filter((r) => r.Type === 'AWS::Logs::LogGroup')
    .map((r) => evaluate(ctx, r.Properties?.RetentionInDays))[0] as string | undefined) ?? 30,
);
const roundTimeoutMs =
  1000 *
  Number(
    (evaluate(ctx, functions.find(([id]) => fnName(id) === 'round')?.[1].Properties?.Timeout ?? 600) as number) ?? 600,
  );
const roundArn = templateEnv.PING_MUC_ROUND_FUNCTION_ARN ?? 'arn:aws:lambda:us-east-1:123456789012:function:round';

{
  const saved = Date.now;
  Date.now = realNow;
  await ensureTable(dyn.client, table);
  Date.now = saved;
}
// Through the raw client: what the deployment holds before the run is not counted.
await dep.seed(side.raw, table);
const shape: TableShape = await side.shape(table);
const hooked = await hookSdk(side, {
  onCall,
  answer,
  latency: (call) => vsleep(call.service === 'DynamoDB' ? p.latency.dynamodbMs : p.latency.awsMs),
});

const events = (await import('../../functions/events')) as {
  handler: (e: unknown, c: unknown) => Promise<{ statusCode: number; body: string }>;
};
const round = (await import('../../functions/round')) as { handler: (e: unknown, c: unknown) => Promise<unknown> };

// ---- invocations --------------------------------------------------------------------------------
async function invoke(fn: string, run: () => Promise<unknown>, extraMs = 0): Promise<unknown> {
  const t0 = vt;
  const s0 = slept;
  const r0 = stanzaRequests;
  currentFn = fn;
  let result: unknown;
  try {
    result = await run();
  } catch (err) {
    if (counting) counts.handlerErrors++;
    log(`${fn} failed: ${(err as Error).message}`);
  }
  await vsleep(p.latency.handlerMs);
  const stanza = stanzaRequests - r0;
  if (stanza > 0) await vsleep(stanza * p.latency.stanzaRequestMs);
  currentFn = 'none';
  if (counting) {
    inc(counts.invocations, fn);
    inc(counts.billedMs, fn, vt - t0 + extraMs);
    inc(counts.sleptMs, fn, slept - s0);
    counts.stanzaRequests += stanza;
  }
  return result;
}

let seqLast = 0;
const nextSeq = () => {
  seqLast = Math.max(seqLast + 1, Math.floor(vt) * 1000);
  return seqLast;
};
const epochOf = new Map<string, number>();

async function post(host: string, batch: Array<Record<string, unknown>>): Promise<void> {
  const body = JSON.stringify({ v: 1, events: batch });
  const headers = {
    'content-type': 'application/json',
    // As the module: every request names its VirtualHost.
    'ping-muc-host': host,
    ...sign(dep.webhookKey(host), body, Math.floor(vt / 1000)),
  };
  if (counting) {
    counts.requestsSent++;
    counts.eventsSent += batch.length;
    for (const e of batch) inc(counts.events, String(e.type));
  }
  const res = (await invoke('events', () =>
    events.handler(
      {
        version: '2.0',
        rawPath: '/',
        headers,
        body,
        isBase64Encoded: false,
        requestContext: { http: { method: 'POST', path: '/' }, requestId: randomUUID() },
      },
      { awsRequestId: randomUUID() },
    ),
  )) as { statusCode: number; body: string } | undefined;
  // A refused request would be billed as a cheap one: the run stops instead.
  if (res?.statusCode !== 200) throw new Error(`events answered ${res?.statusCode}: ${res?.body}`);
  if (/refused/.test(res.body)) throw new Error(`events refused in a batch: ${res.body.slice(0, 300)}`);
}

async function runJob(job: Job): Promise<void> {
  vt = Math.max(vt, job.at);
  if (counting) {
    if (job.via === 'sqs' || (job.via === 'schedule' && 'Records' in (job.event as object))) counts.sqsDelivered++;
    if (job.via === 'schedule') counts.schedulesFired++;
  }
  const starts = JSON.stringify(job.event).includes('"kind":"start"');
  const deadline = vt + roundTimeoutMs;
  const out = await invoke(
    'round',
    () =>
      round.handler(job.event, {
        invokedFunctionArn: roundArn,
        getRemainingTimeInMillis: () => Math.max(0, deadline - vt),
        awsRequestId: randomUUID(),
      }),
    starts ? p.latency.roundInitMs : 0,
  );
  // A queued job that failed is reported, not thrown (partial batch responses).
  const failures = (out as { batchItemFailures?: unknown[] } | undefined)?.batchItemFailures ?? [];
  if (failures.length > 0) {
    if (counting) counts.handlerErrors += failures.length;
    log(`round: ${failures.length} queued job(s) failed`);
  }
}

async function drain(until = Number.POSITIVE_INFINITY): Promise<void> {
  while (jobs.length > 0 && (jobs[0] as Job).at <= until) await runJob(jobs.shift() as Job);
}

// ---- traffic ------------------------------------------------------------------------------------
let rand = 0x9e3779b9;
const random = () => {
  rand ^= rand << 13;
  rand ^= rand >>> 17;
  rand ^= rand << 5;
  return (rand >>> 0) / 4294967296;
};
const userOf = (host: string, i: number) => `user.name${i}@${host}/Conversations.Ab12Xy`;
const roomOf = (i: number, remote: string) => `team-room-${i}@conference.${remote}`;

interface Live {
  user: string;
  room: string;
}
const live = new Map<string, Live[]>();
let joinCounter = 0;

function joinEvent(host: string, user: string, room: string, nick: string): Record<string, unknown> {
  return { type: 'join', seq: nextSeq(), host, user, room, nick, epoch: epochOf.get(host) };
}

/** A join or a leave of `host`, half and half (a leave of one of its live joins). */
function churn(host: string): Record<string, unknown> {
  const mine = live.get(host) ?? [];
  live.set(host, mine);
  if (mine.length > 0 && random() < 0.5) {
    const j = mine.splice(Math.floor(random() * mine.length), 1)[0] as Live;
    return { type: 'leave', seq: nextSeq(), host, user: j.user, room: j.room, epoch: epochOf.get(host) };
  }
  const n = joinCounter++;
  const j = { user: userOf(host, n % 5000), room: roomOf(n % 400, `remote-${n % 50}.example.org`) };
  mine.push(j);
  return joinEvent(host, j.user, j.room, `nick ${n}`);
}

interface Request {
  at: number;
  host: string;
  kinds: Array<'churn' | 'heartbeat'>;
}

/** The module's requests of `host` from `t0` for `ms`: events at uniform random times, batched by the linger. */
function requestsOf(host: string, t0: number, ms: number): Request[] {
  const perHostPerDay = p.eventsPerDay / p.hosts.length;
  const n = Math.round((perHostPerDay * ms) / 86_400_000);
  const arrivals: Array<{ t: number; kind: 'churn' | 'heartbeat' }> = [];
  for (let i = 0; i < n; i++) arrivals.push({ t: t0 + random() * ms, kind: 'churn' });
  const phase = random() * p.heartbeatSeconds * 1000;
  for (let t = t0 + phase; t < t0 + ms; t += p.heartbeatSeconds * 1000) arrivals.push({ t, kind: 'heartbeat' });
  arrivals.sort((a, b) => a.t - b.t);
  const out: Request[] = [];
  let open: Request | undefined;
  for (const a of arrivals) {
    if (open && (a.t > open.at || open.kinds.length >= p.batchMaxItems)) {
      out.push(open);
      open = undefined;
    }
    open ??= { at: Math.ceil(a.t + p.lingerSeconds * 1000), host, kinds: [] };
    open.kinds.push(a.kind);
  }
  if (open) out.push(open);
  return out;
}

async function tableBytes(): Promise<number> {
  return (await side.scan(table)).reduce((n, item) => n + storedBytes(shape, item), 0);
}

// ---- phase 0: storage of a live join -----------------------------------------------------------
log(
  `hooked ${hooked.length} clients; table ${table} with indexes ${shape.indexes.map((i) => i.name).join(', ') || 'none'}`,
);
for (const h of p.hosts) epochOf.set(h, Math.floor(vt) * 1000);
const before = await tableBytes();
{
  const host = p.hosts[0] as string;
  const batch: Array<Record<string, unknown>> = [];
  for (let i = 0; i < p.storageJoins; i++)
    batch.push(joinEvent(host, userOf(host, 90_000 + i), roomOf(9_000 + i, 'storage.example.org'), `nick ${i}`));
  for (let i = 0; i < batch.length; i += 100) await post(host, batch.slice(i, i + 100));
}
const bytesPerJoin = ((await tableBytes()) - before) / p.storageJoins;
log(`${Math.round(bytesPerJoin)} stored bytes per live join`);

// ---- phase A: steady traffic ---------------------------------------------------------------------
async function steady(minutes: number, active: number): Promise<void> {
  const t0 = vt;
  const ms = minutes * 60_000;
  const reqs = p.hosts
    .slice(0, active)
    .flatMap((h) => requestsOf(h, t0, ms))
    .sort((a, b) => a.at - b.at);
  let nextReconcile = t0 + 60_000;
  for (const r of reqs) {
    while (nextReconcile <= r.at) {
      vt = Math.max(vt, nextReconcile);
      await drain(vt);
      await invoke('round', () =>
        round.handler(
          { reconcile: true },
          { invokedFunctionArn: roundArn, getRemainingTimeInMillis: () => roundTimeoutMs, awsRequestId: randomUUID() },
        ),
      );
      nextReconcile += 60_000;
    }
    vt = Math.max(vt, r.at);
    await drain(vt);
    await post(
      r.host,
      r.kinds.map((k) =>
        k === 'heartbeat'
          ? { type: 'heartbeat', seq: nextSeq(), host: r.host, epoch: epochOf.get(r.host) }
          : churn(r.host),
      ),
    );
  }
  vt = Math.max(vt, t0 + ms);
  await drain(vt);
}

const [s1, s2] = p.activeHosts;
log(`warm-up ${p.warmupMinutes} min`);
await steady(p.warmupMinutes, s2);
const windows: Counts[] = [];
for (const active of s1 === s2 ? [s2] : [s1, s2]) {
  counts = empty();
  counting = true;
  log(`steady traffic ${p.windowMinutes} min, ${active} of ${p.hosts.length} hosts posting`);
  const wall0 = realNow();
  await steady(p.windowMinutes, active);
  counting = false;
  windows.push(counts);
  log(`steady done in ${((realNow() - wall0) / 1000).toFixed(1)} s wall: ${counts.requestsSent} requests`);
}
const steadyCounts = {
  ...extrapolate(windows[0] as Counts, windows.at(-1) as Counts, s1, s2, p.hosts.length),
  secretIds: [...secretIds],
};
// The short-lived items below are those of the last window, at its number of hosts.
const shortScale = p.hosts.length / s2;

// Short-lived items (tombstones, markers): written during the window, expiring within 3 days.
const nowS = vt / 1000;
let shortBytes = 0;
let shortLife = 0;
let shortN = 0;
for (const item of await side.scan(table)) {
  const exp = Number((item[KEYS.ttl] as AttributeValue | undefined)?.N ?? Number.NaN);
  if (!(exp > nowS && exp < nowS + 3 * 86_400)) continue;
  if (!windowKeys.has(JSON.stringify(side.keyOf(shape, item)))) continue;
  shortBytes += storedBytes(shape, item);
  shortLife += (exp - nowS) / 3600 + 48;
  shortN++;
}

// ---- phase B: lost links ------------------------------------------------------------------------
secretIds.clear();
const linkCounts: Counts[] = [];
for (let k = 0; k < p.sampleLinks; k++) {
  const host = p.hosts[k % p.hosts.length] as string;
  await stubFor(host);
  // The s2s link is to the MUC service's domain (the rooms' domain).
  const domain = `lost-${k}.example.org`;
  const remote = `conference.${domain}`;
  // The joins of the link (not counted: they are part of the steady traffic).
  const batch: Array<Record<string, unknown>> = [];
  for (let i = 0; i < p.joinsPerLink; i++) {
    // Occupant nicks carry #<i % 10> so the stub answers 10 % ghosts (#1) and 10 % gone sessions (#2).
    batch.push(joinEvent(host, userOf(host, 50_000 + i), roomOf(i % 40, domain), `n${i}#${i % 10}`));
  }
  for (let i = 0; i < batch.length; i += 100) await post(host, batch.slice(i, i + 100));
  vt += 1000;
  counts = empty();
  counting = true;
  const closedAt = vt;
  for (const direction of ['in', 'out']) {
    await post(host, [
      { type: 's2s-close', seq: nextSeq(), host, remotes: [remote], direction, epoch: epochOf.get(host) },
    ]);
    vt += 5;
  }
  // The link is back when the round's server ping brings it up, at about the delay.
  const upAt = closedAt + Number(process.env.PING_MUC_DELAY_SECONDS ?? 60) * 1000 + 1000;
  let upSent = false;
  while (jobs.length > 0 || !upSent) {
    const nextJob = jobs[0]?.at ?? Number.POSITIVE_INFINITY;
    if (!upSent && upAt <= nextJob) {
      vt = Math.max(vt, upAt);
      await post(host, [
        { type: 's2s-up', seq: nextSeq(), host, remotes: [remote], direction: 'out', epoch: epochOf.get(host) },
      ]);
      upSent = true;
      continue;
    }
    await runJob(jobs.shift() as Job);
  }
  counting = false;
  linkCounts.push(counts);
  log(`lost link ${k + 1}/${p.sampleLinks} on ${host}: ${counts.invocations.round ?? 0} round invocations`);
}
const links = empty();
for (const c of linkCounts) {
  for (const key of ['invocations', 'billedMs', 'sleptMs', 'calls', 'logLines', 'logBytes', 'events'] as const)
    for (const [k, v] of Object.entries(c[key])) inc(links[key], k, v);
  for (const key of [
    'rru',
    'wru',
    'gsiWru',
    'emfBytes',
    'stanzaRequests',
    'sqsDelivered',
    'schedulesFired',
    'handlerErrors',
    'eventsSent',
    'requestsSent',
  ] as const)
    links[key] += c[key];
  for (const [id, m] of Object.entries(c.metrics)) {
    const e = (links.metrics[id] ??= { documents: 0, perHost: m.perHost });
    e.documents += m.documents;
  }
}
links.secretIds = [...secretIds];

const perHostRate = (p.eventsPerDay / p.hosts.length + 86_400 / p.heartbeatSeconds) / 86_400;
const result: SimResult = {
  name: p.name,
  steady: steadyCounts,
  links,
  sampleLinks: p.sampleLinks,
  windowMinutes: p.windowMinutes,
  eventsPerRequestModel: eventsPerRequest(perHostRate, p.lingerSeconds, p.batchMaxItems),
  eventsPerRequestSimulated: steadyCounts.eventsSent / Math.max(1, steadyCounts.requestsSent),
  bytesPerJoin,
  shortLived: {
    bytesPerHour: (shortBytes * shortScale) / (p.windowMinutes / 60),
    lifetimeHours: shortN > 0 ? shortLife / shortN : 0,
  },
  memoryMb,
  ssmParameterBytes: [...dep.ssm.values()].map((v) => Buffer.byteLength(v)),
  tableIndexes: shape.indexes.map((i) => i.name),
  hookedClients: hooked,
  logRetentionDays,
};
for (const s of stubs.values()) await s.close();
await dyn.close();
await tell(result);
process.exit(0);
