// Smoke test after a deploy (docs/deploy.md, "Smoke test"): `npx tsx scripts/smoke.ts --help`.
//
// 1. an unsigned POST to the events URL gets 401;
// 2. a signed `join` and a signed `s2s-close` get 200;
// 3. a schedule for that lost link appears (AWS: Scheduler ListSchedules in the group, or, for a
//    round due within 15 minutes, which waits in the round queue, its "round started" line; local:
//    the local scheduler's item, pk SCHED, in dynalite);
// 4. the round logs `round done` (AWS: CloudWatch Logs FilterLogEvents on the round function's
//    log group; local: the service's log lines);
// then a signed `leave` removes the test join; on AWS, last,
// 5. the alarm topic has a confirmed subscription (SNS ListSubscriptionsByTopic): without one
//    every alarm pages nobody, so the smoke test fails until someone confirmed the e-mail.
// The test user and the remote domain are made up
// for this run (`ping-muc-smoke-<id>@<host>`, `smoke-<id>.invalid`), so the round pings nothing
// but that one join: the user has no session, the answer is "gone", nobody is notified.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { QueryCommand } from '@aws-sdk/client-dynamodb';
import { ListSchedulesCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { ListSubscriptionsByTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { SignatureV4 } from '@smithy/signature-v4';
import { localDynamoClient } from '../lib/adapters/dynamodb/dynalite';
import { SCHED_PK } from '../lib/adapters/scheduler-local';
import { scheduleName } from '../lib/domain/schedule';
import { secretKey, sign } from '../lib/domain/signature';

/** Where the smoke test looks for the schedule and the round's log line. */
export interface Probe {
  /** The name of a schedule of the round (host, remote) created since `sinceMs`, if any. */
  schedule(host: string, remote: string, sinceMs: number): Promise<string | undefined>;
  /** Whether the round of (host, remote) has logged `round done` since `sinceMs`. */
  roundDone(host: string, remote: string, sinceMs: number): Promise<boolean>;
  close(): Promise<void>;
}

export interface SmokeOptions {
  eventsUrl: string;
  webhookSecret: string;
  /** The XMPP VirtualHost whose stanza API the deployment calls. */
  host: string;
  probe: Probe;
  /** How long to wait for the schedule and for the round, ms. */
  timeoutMs: number;
  pollMs?: number;
  say?: (line: string) => void;
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

async function post(url: string, body: string, headers: Record<string, string>): Promise<number> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  await res.arrayBuffer();
  return res.status;
}

let lastSeq = 0;
const nextSeq = () => (lastSeq = Math.max(Date.now() * 1000, lastSeq + 1));

function postEvents(options: SmokeOptions, events: object[]): Promise<number> {
  const body = JSON.stringify({ v: 1, events: events.map((e) => ({ seq: nextSeq(), host: options.host, ...e })) });
  // The header names the host, as the module does: a stack with a host registry needs it.
  return post(options.eventsUrl, body, {
    ...sign(secretKey(options.webhookSecret), body),
    'ping-muc-host': options.host,
  });
}

async function poll<T>(what: () => Promise<T | undefined | false>, timeoutMs: number, pollMs: number) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const found = await what();
    if (found) return found;
    if (Date.now() >= until) return undefined;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** Runs the checks in order; stops at the first failure. */
export async function runSmoke(options: SmokeOptions): Promise<Check[]> {
  const say = options.say ?? (() => undefined);
  const pollMs = options.pollMs ?? 2_000;
  const id = randomBytes(5).toString('hex');
  const user = `ping-muc-smoke-${id}@${options.host}/smoke`;
  const remote = `smoke-${id}.invalid`;
  const room = `smoke@${remote}`;
  const checks: Check[] = [];
  const check = (name: string, ok: boolean, detail: string) => {
    checks.push({ name, ok, detail });
    say(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${detail}`);
    return ok;
  };
  const since = Date.now() - 60_000;
  say(`smoke test ${id}: user ${user}, room ${room}`);
  const unsigned = await post(options.eventsUrl, '{"v":1,"events":[]}', {});
  if (!check('unsigned request', unsigned === 401, `HTTP ${unsigned} (expected 401)`)) return checks;
  const join = await postEvents(options, [{ type: 'join', user, room, nick: 'smoke' }]);
  if (!check('signed join', join === 200, `HTTP ${join} (expected 200)`)) return checks;
  const close = await postEvents(options, [{ type: 's2s-close', remotes: [remote], direction: 'out' }]);
  if (!check('signed s2s-close', close === 200, `HTTP ${close} (expected 200)`)) return checks;
  try {
    const name = await poll(() => options.probe.schedule(options.host, remote, since), options.timeoutMs, pollMs);
    if (!check('schedule', name !== undefined, name ?? `none within ${options.timeoutMs / 1000} s`)) return checks;
    const done = await poll(() => options.probe.roundDone(options.host, remote, since), options.timeoutMs, pollMs);
    check('round done', done === true, done ? 'logged' : `not logged within ${options.timeoutMs / 1000} s`);
  } finally {
    // The round deleted the join if the user had no session; a leave removes it otherwise.
    const leave = await postEvents(options, [{ type: 'leave', user, room }]).catch(() => 0);
    if (leave !== 200) say(`note: the cleanup leave got HTTP ${leave}`);
  }
  return checks;
}

/** The part of an SNS client the alarm check uses. */
export type SnsLike = Pick<SNSClient, 'send'>;

/**
 * Check 5 (AWS): someone is paged. The topic exists only when the stack's AlarmEmail is set, and
 * an e-mail subscription delivers nothing until its confirmation link was followed (its ARN is
 * then a real ARN, not `PendingConfirmation`).
 */
export async function checkAlarmSubscription(sns: SnsLike, topicArn: string | undefined): Promise<Check> {
  const name = 'alarm subscription';
  if (!topicArn || topicArn === 'None') {
    return {
      name,
      ok: false,
      detail:
        'no alarm topic: AlarmEmail is empty, so no alarm pages anyone (deploy with --parameters AlarmEmail=…, then pass --alarm-topic <AlarmTopicArn output>)',
    };
  }
  let pending = 0;
  let nextToken: string | undefined;
  do {
    const out = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topicArn, NextToken: nextToken }));
    for (const sub of out.Subscriptions ?? []) {
      if (sub.SubscriptionArn?.startsWith('arn:')) {
        return { name, ok: true, detail: `${sub.Protocol} ${sub.Endpoint} confirmed` };
      }
      if (sub.SubscriptionArn === 'PendingConfirmation') pending++;
    }
    nextToken = out.NextToken;
  } while (nextToken);
  return {
    name,
    ok: false,
    detail: pending
      ? `${pending} subscription(s) of ${topicArn} not confirmed: follow the link in the e-mail "AWS Notification - Subscription Confirmation"`
      : `no subscription on ${topicArn}: nobody is paged`,
  };
}

/** The readable head of the round's schedule names (scheduleName without its hash). */
function schedulePrefix(host: string, remote: string): string {
  const name = scheduleName({ host, remote, gen: '0', kind: 'start' }, 'start');
  return name.slice(0, name.lastIndexOf('-'));
}

/** The local service: its dynalite (the local scheduler's SCHED items) and its log lines. */
export function localProbe(dynamodbEndpoint: string, table: string, logLines: () => string[]): Probe {
  const client = localDynamoClient(dynamodbEndpoint);
  return {
    async schedule(host, remote) {
      const out = await client.send(
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': { S: SCHED_PK } },
        }),
      );
      const item = (out.Items ?? []).find((i) => {
        const job = JSON.parse(i.job?.S ?? '{}') as { host?: string; remote?: string };
        return job.host === host && job.remote === remote;
      });
      return item?.sk?.S;
    },
    async roundDone(host, remote) {
      return logLines().some((line) => {
        if (!line.includes('round done')) return false;
        try {
          const l = JSON.parse(line) as Record<string, unknown>;
          return l.message === 'round done' && l.host === host && l.remote === remote;
        } catch {
          return false;
        }
      });
    },
    async close() {
      client.destroy();
    },
  };
}

/** CloudWatch Logs FilterLogEvents, signed with the Scheduler client's region and credentials. */
async function filterLogEvents(client: SchedulerClient, input: object): Promise<{ events?: unknown[] }> {
  const region = await client.config.region();
  const signer = new SignatureV4({
    service: 'logs',
    region,
    credentials: client.config.credentials,
    sha256: client.config.sha256,
  });
  const endpoint = new URL(process.env.AWS_ENDPOINT_URL_CLOUDWATCH_LOGS ?? `https://logs.${region}.amazonaws.com/`);
  const body = JSON.stringify(input);
  const signed = await signer.sign({
    method: 'POST',
    protocol: endpoint.protocol,
    hostname: endpoint.hostname,
    port: endpoint.port ? Number(endpoint.port) : undefined,
    path: '/',
    query: {},
    headers: {
      host: endpoint.host,
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'Logs_20140328.FilterLogEvents',
    },
    body,
  });
  return new Promise((resolve, reject) => {
    const request = endpoint.protocol === 'http:' ? httpRequest : httpsRequest;
    const req = request(endpoint, { method: 'POST', headers: signed.headers }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () =>
        res.statusCode === 200
          ? resolve(JSON.parse(text))
          : reject(new Error(`FilterLogEvents: ${res.statusCode} ${text}`)),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** AWS: Scheduler ListSchedules in the group, FilterLogEvents on the round function's log group. */
export function awsProbe(group: string, logGroup: string): Probe {
  const client = new SchedulerClient({});
  return {
    async schedule(host, remote, sinceMs) {
      const out = await client.send(
        new ListSchedulesCommand({ GroupName: group, NamePrefix: schedulePrefix(host, remote), MaxResults: 100 }),
      );
      const found = (out.Schedules ?? []).find((s) => (s.CreationDate?.getTime() ?? 0) >= sinceMs);
      if (found?.Name) return found.Name;
      // A round due within 15 minutes (DelaySeconds up to 900, the default 60 included) gets no
      // schedule: it waits in the round queue (docs/scheduling.md).
      const started = await filterLogEvents(client, {
        logGroupName: logGroup,
        startTime: sinceMs,
        filterPattern: `{ $.message = "round started" && $.remote = "${remote}" }`,
        limit: 1,
      });
      return (started.events ?? []).length > 0 ? 'none needed: invoked at once, round started' : undefined;
    },
    async roundDone(_host, remote, sinceMs) {
      const out = await filterLogEvents(client, {
        logGroupName: logGroup,
        startTime: sinceMs,
        filterPattern: `{ $.message = "round done" && $.remote = "${remote}" }`,
        limit: 10,
      });
      return (out.events ?? []).length > 0;
    },
    async close() {
      client.destroy();
    },
  };
}

const USAGE = `Usage: npx tsx scripts/smoke.ts --url <events URL> --host <XMPP VirtualHost> [options]

  --url <url>                events URL (env PING_MUC_SMOKE_URL)
  --secret <secret>          webhook secret (env PING_MUC_WEBHOOK_SECRET)
  --host <domain>            the VirtualHost whose stanza API the deployment calls (env PING_MUC_SMOKE_HOST)
  --timeout <seconds>        wait for the schedule, then for the round (default 240)
AWS (default):
  --schedule-group <name>    Scheduler group (stack output ScheduleGroupName; env PING_MUC_SCHEDULE_GROUP)
  --log-group <name>         the round function's log group (env PING_MUC_SMOKE_LOG_GROUP)
  --alarm-topic <arn>        the alarm topic (stack output AlarmTopicArn; env PING_MUC_ALARM_TOPIC_ARN):
                             the test fails until it has a confirmed subscription
Local service (npm start):
  --local                    look in dynalite and in the service's log instead
  --dynamodb-endpoint <url>  the service's dynalite endpoint
  --table <name>             its table (default ping-muc)
  --log-file <path>          the service's output (e.g. npm start | tee service.log)`;

const OPTIONS = {
  url: { type: 'string' },
  secret: { type: 'string' },
  host: { type: 'string' },
  timeout: { type: 'string' },
  'schedule-group': { type: 'string' },
  'log-group': { type: 'string' },
  'alarm-topic': { type: 'string' },
  local: { type: 'boolean' },
  'dynamodb-endpoint': { type: 'string' },
  table: { type: 'string' },
  'log-file': { type: 'string' },
  'poll-ms': { type: 'string' },
  help: { type: 'boolean' },
} as const;

function probeFrom(values: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv): Probe {
  const need = (key: string, fallback?: string): string => {
    const v = (values[key] as string | undefined) ?? fallback;
    if (!v) throw new Error(`--${key} is required\n\n${USAGE}`);
    return v;
  };
  if (values.local) {
    const file = need('log-file');
    return localProbe(need('dynamodb-endpoint'), (values.table as string) ?? 'ping-muc', () =>
      readFileSync(file, 'utf8').split('\n'),
    );
  }
  return awsProbe(need('schedule-group', env.PING_MUC_SCHEDULE_GROUP), need('log-group', env.PING_MUC_SMOKE_LOG_GROUP));
}

/** Runs the smoke test; 0 when every check passed, 1 when one failed, 2 on a usage error. */
export async function main(
  argv: string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
  say: (line: string) => void = (l) => console.log(l),
  sns: () => SnsLike = () => new SNSClient({}),
): Promise<number> {
  let probe: Probe;
  let options: Omit<SmokeOptions, 'probe'>;
  let alarmTopic: string | undefined;
  let local = false;
  try {
    const { values } = parseArgs({ args: argv, options: OPTIONS, strict: true });
    if (values.help) {
      say(USAGE);
      return 0;
    }
    const eventsUrl = values.url ?? env.PING_MUC_SMOKE_URL;
    const webhookSecret = values.secret ?? env.PING_MUC_WEBHOOK_SECRET;
    const host = values.host ?? env.PING_MUC_SMOKE_HOST;
    if (!eventsUrl || !webhookSecret || !host) throw new Error(`--url, --secret and --host are required\n\n${USAGE}`);
    const timeoutMs = Number(values.timeout ?? 240) * 1000;
    const pollMs = values['poll-ms'] ? Number(values['poll-ms']) : undefined;
    options = { eventsUrl, webhookSecret, host, timeoutMs, say, ...(pollMs ? { pollMs } : {}) };
    probe = probeFrom(values, env);
    local = values.local === true;
    alarmTopic = values['alarm-topic'] ?? env.PING_MUC_ALARM_TOPIC_ARN;
  } catch (err) {
    say((err as Error).message);
    return 2;
  }
  try {
    const checks = await runSmoke({ ...options, probe });
    let ok = checks.length === 5 && checks.every((c) => c.ok);
    // Asked even when a check above failed: an operator fixing that wants to know this too.
    if (!local) {
      const client = sns();
      try {
        const alarm = await checkAlarmSubscription(client, alarmTopic);
        say(`${alarm.ok ? 'ok  ' : 'FAIL'} ${alarm.name}: ${alarm.detail}`);
        ok &&= alarm.ok;
      } finally {
        (client as { destroy?: () => void }).destroy?.();
      }
    }
    say(ok ? 'smoke test passed' : 'smoke test FAILED');
    return ok ? 0 : 1;
  } finally {
    await probe.close();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main();
}
