// The post-deploy smoke test (scripts/smoke.ts), run against the local service the way an
// operator runs it against `npm start`: its log in a file, its dynalite for the schedule.
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MEMORY, startLocalService, type LocalService } from '../../lib/wiring/local';
import { ListSubscriptionsByTopicCommand, type ListSubscriptionsByTopicCommandOutput } from '@aws-sdk/client-sns';
import { awsProbe, checkAlarmSubscription, main, type SnsLike } from '../../scripts/smoke';
import { API_SECRET, WEBHOOK_SECRET } from '../support/service';
import { startStanzaApiStub, type StanzaApiStub } from '../../harness/stanza-api-stub';

let stub: StanzaApiStub;
let service: LocalService;
let dir: string;
let logFile: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ping-muc-smoke-'));
  logFile = path.join(dir, 'service.log');
  // The smoke user has no session on the XMPP server: the round drops it quietly.
  stub = await startStanzaApiStub(API_SECRET, { fallback: 'no-session' });
  service = await startLocalService({
    dataDir: MEMORY,
    pollMs: 25,
    log: (line) => appendFileSync(logFile, `${line}\n`),
    env: {
      PING_MUC_API_URL: stub.url,
      PING_MUC_WEBHOOK_SECRET: WEBHOOK_SECRET,
      PING_MUC_API_SECRET: API_SECRET,
      // Long enough for the smoke test to see the schedule before it fires.
      PING_MUC_DELAY_SECONDS: '2',
      LOG_LEVEL: 'info',
    },
  });
});

afterAll(async () => {
  await service?.close();
  await stub?.close();
  rmSync(dir, { recursive: true, force: true });
});

const args = (secret: string, timeout = '15') => [
  '--url',
  service.eventsUrl,
  '--secret',
  secret,
  '--host',
  'a.example',
  '--local',
  '--dynamodb-endpoint',
  service.dynamodbEndpoint,
  '--table',
  service.config.table,
  '--log-file',
  logFile,
  '--timeout',
  timeout,
  '--poll-ms',
  '100',
];

describe('against the local service', () => {
  const lines: string[] = [];
  let code: number;
  beforeAll(async () => {
    code = await main(args(WEBHOOK_SECRET), {}, (l) => lines.push(l));
  });

  it('passes every step', () => {
    expect(code).toBe(0);
    expect(lines.filter((l) => l.startsWith('ok'))).toEqual([
      expect.stringMatching(/^ok {3}unsigned request: HTTP 401/),
      expect.stringMatching(/^ok {3}signed join: HTTP 200/),
      expect.stringMatching(/^ok {3}signed s2s-close: HTTP 200/),
      expect.stringMatching(/^ok {3}schedule: pm-s-a\.example_smoke-/),
      expect.stringMatching(/^ok {3}round done: logged/),
    ]);
    expect(lines.at(-1)).toBe('smoke test passed');
  });

  it('self-pings only its own user', () => {
    expect(stub.pings).toHaveLength(1);
    expect(stub.pings[0]!.user).toMatch(/^ping-muc-smoke-[0-9a-f]{10}@a\.example\/smoke$/);
  });

  it('notifies nobody', () => {
    expect(stub.notifications).toHaveLength(0);
  });

  it('leaves no join behind', async () => {
    const remote = stub.pings[0]!.occupant.split('@')[1]!.split('/')[0]!;
    expect((await service.store.joinsOf('a.example', 0, remote, 10)).items).toHaveLength(0);
  });
});

it('names the failing step when the webhook secret is wrong', async () => {
  const lines: string[] = [];
  const wrong = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
  expect(await main(args(wrong), {}, (l) => lines.push(l))).toBe(1);
  expect(lines).toContainEqual(expect.stringMatching(/^FAIL signed join: HTTP 401 \(expected 200\)/));
  expect(lines.at(-1)).toBe('smoke test FAILED');
});

it('refuses to run without its arguments', async () => {
  const lines: string[] = [];
  expect(await main(['--local'], {}, (l) => lines.push(l))).toBe(2);
  expect(lines[0]).toMatch(/--url, --secret and --host are required/);
});

type Seen = { method: string; url: string; target?: string; auth?: string; body: string };

/**
 * Scheduler and CloudWatch Logs stand-ins that find the schedule `scheduleName` and the round at
 * once, with the AWS SDK pointed at them; `seen` records each request, `close` restores the env.
 */
async function awsStandIns(scheduleName: string) {
  const seen: Seen[] = [];
  const fake = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const target = req.headers['x-amz-target'] as string | undefined;
      seen.push({ method: req.method ?? '', url: req.url ?? '', target, auth: req.headers.authorization, body });
      res.writeHead(200, { 'content-type': 'application/json' });
      if (target === 'Logs_20140328.FilterLogEvents') return res.end(JSON.stringify({ events: [{ message: '{}' }] }));
      res.end(JSON.stringify({ Schedules: [{ Name: scheduleName, CreationDate: Date.now() / 1000 }] }));
    });
  });
  await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
  const saved = { ...process.env };
  Object.assign(process.env, {
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_ENDPOINT_URL_SCHEDULER: endpoint,
    AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: endpoint,
  });
  const close = async () => {
    process.env = saved;
    await new Promise<void>((r) => fake.close(() => r()));
  };
  return { seen, close };
}

describe('the AWS probe (against stand-ins)', () => {
  let aws: Awaited<ReturnType<typeof awsStandIns>>;
  let probe: ReturnType<typeof awsProbe>;
  beforeAll(async () => {
    aws = await awsStandIns('pm-s-a.example_smoke-x-0123');
    probe = awsProbe('ping-muc-group', '/ping-muc/round');
  });
  afterAll(async () => {
    await probe?.close();
    await aws?.close();
  });
  beforeEach(() => {
    aws.seen.length = 0;
  });

  it('finds the schedule with a signed Scheduler request', async () => {
    expect(await probe.schedule('a.example', 'smoke-x.invalid', Date.now() - 60_000)).toBe(
      'pm-s-a.example_smoke-x-0123',
    );
    const seen = aws.seen;
    expect(seen[0]).toMatchObject({ method: 'GET', auth: expect.stringMatching(/^AWS4-HMAC-SHA256 /) });
    expect(seen[0]!.url).toMatch(/ScheduleGroup=ping-muc-group/);
    expect(seen[0]!.url).toMatch(/NamePrefix=pm-s-a.example_smoke-x.invalid/);
  });

  it('finds the round done with a signed CloudWatch Logs query', async () => {
    expect(await probe.roundDone('a.example', 'smoke-x.invalid', 1_000)).toBe(true);
    const seen = aws.seen;
    expect(seen[0]).toMatchObject({
      method: 'POST',
      target: 'Logs_20140328.FilterLogEvents',
      auth: expect.stringMatching(/^AWS4-HMAC-SHA256 Credential=test\/\d{8}\/eu-west-1\/logs\/aws4_request/),
    });
    expect(JSON.parse(seen[0]!.body)).toEqual({
      logGroupName: '/ping-muc/round',
      startTime: 1_000,
      filterPattern: '{ $.message = "round done" && $.remote = "smoke-x.invalid" }',
      limit: 10,
    });
  });
});

const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:PingMuc-AlarmTopic';

/** An SNS client stand-in answering ListSubscriptionsByTopic with `pages`, recording each command. */
function fakeSns(pages: Array<ListSubscriptionsByTopicCommandOutput['Subscriptions']>) {
  const sent: ListSubscriptionsByTopicCommand[] = [];
  const client = {
    send: async (command: ListSubscriptionsByTopicCommand) => {
      sent.push(command);
      const i = sent.length - 1;
      return { Subscriptions: pages[i] ?? [], NextToken: i + 1 < pages.length ? `page${i + 1}` : undefined };
    },
  } as unknown as SnsLike;
  return { client, sent };
}

const email = (arn: string) => ({
  SubscriptionArn: arn,
  Protocol: 'email',
  Endpoint: 'ops@example.com',
  TopicArn: TOPIC,
});

it('the alarm check fails without a topic: AlarmEmail empty pages nobody', async () => {
  const { client, sent } = fakeSns([]);
  for (const topic of [undefined, '', 'None']) {
    const check = await checkAlarmSubscription(client, topic);
    expect(check).toMatchObject({ name: 'alarm subscription', ok: false });
    expect(check.detail).toMatch(/AlarmEmail is empty/);
  }
  expect(sent).toHaveLength(0);
});

it('the alarm check fails while the only subscription awaits its confirmation', async () => {
  const { client, sent } = fakeSns([[email('PendingConfirmation')]]);
  const check = await checkAlarmSubscription(client, TOPIC);
  expect(check.ok).toBe(false);
  expect(check.detail).toMatch(/not confirmed/);
  expect(sent).toHaveLength(1);
  expect(sent[0]).toBeInstanceOf(ListSubscriptionsByTopicCommand);
  expect(sent[0]!.input).toEqual({ TopicArn: TOPIC, NextToken: undefined });
});

it('the alarm check fails on a topic with no subscription', async () => {
  expect((await checkAlarmSubscription(fakeSns([[]]).client, TOPIC)).detail).toMatch(/no subscription/);
});

it('the alarm check passes on a confirmed subscription on a later page', async () => {
  const { client, sent } = fakeSns([[email('PendingConfirmation')], [email(`${TOPIC}:0f3c2a`)]]);
  expect(await checkAlarmSubscription(client, TOPIC)).toEqual({
    name: 'alarm subscription',
    ok: true,
    detail: 'email ops@example.com confirmed',
  });
  expect(sent.map((c) => c.input)).toEqual([
    { TopicArn: TOPIC, NextToken: undefined },
    { TopicArn: TOPIC, NextToken: 'page1' },
  ]);
});

it('fails on AWS until the alarm topic has a confirmed subscription', async () => {
  const standIns = await awsStandIns('pm-s-a.example_smoke');
  const aws = (...more: string[]) => [
    '--url',
    service.eventsUrl,
    '--secret',
    WEBHOOK_SECRET,
    '--host',
    'a.example',
    '--schedule-group',
    'g',
    '--log-group',
    '/l',
    '--poll-ms',
    '100',
    ...more,
  ];
  try {
    const run = async (argv: string[], sns: SnsLike) => {
      const lines: string[] = [];
      return {
        code: await main(
          argv,
          {},
          (l) => lines.push(l),
          () => sns,
        ),
        lines,
      };
    };
    const none = await run(aws(), fakeSns([]).client);
    expect(none.code).toBe(1);
    expect(none.lines).toContainEqual(expect.stringMatching(/^FAIL alarm subscription: no alarm topic/));
    expect(none.lines.at(-1)).toBe('smoke test FAILED');
    const pending = await run(aws('--alarm-topic', TOPIC), fakeSns([[email('PendingConfirmation')]]).client);
    expect(pending.code).toBe(1);
    expect(pending.lines).toContainEqual(expect.stringMatching(/^FAIL alarm subscription: 1 subscription/));
    const confirmed = await run(aws('--alarm-topic', TOPIC), fakeSns([[email(`${TOPIC}:0f3c2a`)]]).client);
    expect(confirmed.lines).toContainEqual('ok   alarm subscription: email ops@example.com confirmed');
    expect(confirmed.code).toBe(0);
  } finally {
    await standIns.close();
  }
});
