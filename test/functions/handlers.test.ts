// The Lambda handlers as AWS would call them: Function URL payload 2.0, Scheduler input and the
// round queue's SQS events, against dynalite and a local endpoint that plays EventBridge
// Scheduler, SQS's SendMessage and Lambda's Invoke.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Handler, LambdaFunctionURLEvent, LambdaFunctionURLHandler, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { startDynalite, type RunningDynalite } from '../../lib/adapters/dynamodb/dynalite';
import { ensureTable } from '../../lib/adapters/dynamodb/table';
import { signed, nextSeq } from '../support/events';
import { API_SECRET, WEBHOOK_SECRET } from '../support/service';

const ROUND_ARN = 'arn:aws:lambda:eu-west-1:123456789012:function:ping-muc-round';
const QUEUE_ARN = 'arn:aws:sqs:eu-west-1:123456789012:ping-muc-round';
const requests: Array<{ path: string; headers: Record<string, unknown>; body: Record<string, unknown> }> = [];
const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;
const isSend = (r: (typeof requests)[number]) => r.headers['x-amz-target'] === 'AmazonSQS.SendMessage';
/** The round job a request carries: a schedule's Target.Input, a message's body, or an async invocation's payload. */
const jobOf = (r: (typeof requests)[number]) =>
  INVOKE_PATH.test(r.path)
    ? r.body
    : JSON.parse(isSend(r) ? (r.body.MessageBody as string) : (r.body.Target as { Input: string }).Input);
/** What a request targets: the function invoked, the queue sent to, or the schedule's target. */
const targetOf = (r: (typeof requests)[number]) =>
  INVOKE_PATH.test(r.path)
    ? decodeURIComponent(INVOKE_PATH.exec(r.path)![1]!)
    : isSend(r)
      ? (r.body.QueueUrl as string)
      : (r.body.Target as { Arn: string }).Arn;
/** The round queue's URL: the fake endpoint's (the SQS client sends to the QueueUrl's host). */
const queueUrl = () => `http://127.0.0.1:${(scheduler.address() as AddressInfo).port}/123456789012/ping-muc-round`;
/** A batch of the round queue's event source mapping. */
const sqsEvent = (bodies: unknown[]): SQSEvent => ({
  Records: bodies.map((body, i) => ({
    messageId: `m${i}`,
    receiptHandle: `h${i}`,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: '0',
      SenderId: 'x',
      ApproximateFirstReceiveTimestamp: '0',
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: QUEUE_ARN,
    awsRegion: 'eu-west-1',
  })),
});
let dynalite: RunningDynalite;
let scheduler: Server;
const saved = { ...process.env };

beforeAll(async () => {
  dynalite = await startDynalite();
  await ensureTable(dynalite.client, 'ping-muc-test');
  scheduler = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const request = { path: req.url ?? '', headers: req.headers, body: JSON.parse(body || '{}') };
      requests.push(request);
      if (isSend(request)) {
        // SQS's JSON protocol; the client checks the body's MD5.
        const md5 = createHash('md5').update(String(request.body.MessageBody)).digest('hex');
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(JSON.stringify({ MessageId: `id-${requests.length}`, MD5OfMessageBody: md5 }));
        return;
      }
      if (INVOKE_PATH.test(req.url ?? '')) {
        res.writeHead(202).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ScheduleArn: 'arn:aws:scheduler:eu-west-1:123456789012:schedule/ping-muc/x' }));
    });
  });
  await new Promise<void>((r) => scheduler.listen(0, '127.0.0.1', r));
});

afterAll(async () => {
  process.env = saved;
  await dynalite.close();
  await new Promise<void>((r) => scheduler.close(() => r()));
});

beforeEach(() => {
  vi.restoreAllMocks();
  vi.resetModules();
  process.env = {
    ...saved,
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_ENDPOINT_URL_SCHEDULER: `http://127.0.0.1:${(scheduler.address() as AddressInfo).port}`,
    AWS_ENDPOINT_URL_LAMBDA: `http://127.0.0.1:${(scheduler.address() as AddressInfo).port}`,
    PING_MUC_DYNAMODB_ENDPOINT: dynalite.endpoint,
    PING_MUC_TABLE: 'ping-muc-test',
    PING_MUC_API_URL: 'http://127.0.0.1:9/stanza',
    PING_MUC_SCHEDULER_ROLE_ARN: 'arn:aws:iam::123456789012:role/ping-muc-scheduler',
    PING_MUC_DLQ_ARN: 'arn:aws:sqs:eu-west-1:123456789012:ping-muc-dlq',
    PING_MUC_ROUND_FUNCTION_ARN: ROUND_ARN,
    PING_MUC_SCHEDULE_GROUP: 'ping-muc',
    PING_MUC_ROUND_QUEUE_URL: queueUrl(),
    PING_MUC_ROUND_QUEUE_ARN: QUEUE_ARN,
    PING_MUC_WEBHOOK_SECRET: WEBHOOK_SECRET,
    PING_MUC_API_SECRET: API_SECRET,
    LOG_LEVEL: 'error',
  };
  requests.length = 0;
});

type Line = Record<string, unknown> & { message?: string; _aws?: unknown };

/** Captures the JSON lines written to stdout (logs and EMF) until the test ends. */
function captureStdout(): { (): Line[]; clear(): void } {
  const captured: Line[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    for (const line of String(chunk).split('\n')) if (line.startsWith('{')) captured.push(JSON.parse(line));
    return true;
  });
  return Object.assign(() => captured, { clear: () => void captured.splice(0) });
}

/** A Function URL request as Lambda delivers it (payload 2.0). */
function urlEvent(body: string, headers: Record<string, string>, base64 = false): LambdaFunctionURLEvent {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: '/',
    rawQueryString: '',
    headers,
    requestContext: {
      accountId: 'anonymous',
      apiId: 'abcdefghijklmnopqrstuvwxyz012345',
      domainName: 'abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws',
      domainPrefix: 'abcdefghijklmnopqrstuvwxyz012345',
      http: { method: 'POST', path: '/', protocol: 'HTTP/1.1', sourceIp: '192.0.2.1', userAgent: 'prosody' },
      requestId: 'c0ffee00-0000-4000-8000-000000000000',
      routeKey: '$default',
      stage: '$default',
      time: '01/Dec/2026:00:00:00 +0000',
      timeEpoch: 1_796_083_200_000,
    },
    body: base64 ? Buffer.from(body).toString('base64') : body,
    isBase64Encoded: base64,
  };
}

it('the handlers have the signatures Lambda calls them with', async () => {
  const events = await import('../../functions/events');
  const round = await import('../../functions/round');
  expectTypeOf(events.handler).toExtend<LambdaFunctionURLHandler>();
  expectTypeOf(round.handler).toExtend<Handler<unknown, SQSBatchResponse | undefined>>();
});

describe('events function', () => {
  it('applies a signed base64 body and schedules one round for an s2s close', async () => {
    const { handler } = await import('../../functions/events');
    const body = JSON.stringify({
      v: 1,
      events: [
        {
          type: 'join',
          seq: nextSeq(),
          host: 'a.example',
          user: 'alice@a.example/r',
          room: 'lobby@muc.b.example',
          nick: 'alice',
        },
        { type: 's2s-close', seq: nextSeq(), host: 'a.example', remotes: ['muc.b.example'], direction: 'out' },
        { type: 's2s-close', seq: nextSeq(), host: 'a.example', remotes: ['muc.b.example'], direction: 'in' },
      ],
    });
    // Due within 15 minutes: the round queue holds the wait.
    process.env.PING_MUC_DELAY_SECONDS = '600';
    const res = await handler(urlEvent(body, signed(WEBHOOK_SECRET, body), true));
    expect(res).toMatchObject({ statusCode: 200, headers: { 'content-type': 'application/json' } });
    expect(JSON.parse(res.body)).toEqual({ ok: true, applied: 3 });
    expect(requests).toHaveLength(1);
    expect(isSend(requests[0]!)).toBe(true);
    // Delivered LINK_LEAD_MS (1 s) before the due time it carries.
    expect(requests[0]!.body).toMatchObject({ QueueUrl: queueUrl(), DelaySeconds: 599 });
    const job = jobOf(requests[0]!);
    expect(job).toMatchObject({ host: 'a.example', remote: 'muc.b.example', kind: 'start' });
    expect(job.at - Date.now()).toBeGreaterThan(598_000);
  });

  it('a start due beyond 15 minutes is a schedule that sends it to the round queue', async () => {
    const { handler } = await import('../../functions/events');
    const body = JSON.stringify({
      v: 1,
      events: [
        { type: 's2s-close', seq: nextSeq(), host: 'a.example', remotes: ['muc.far.example'], direction: 'out' },
      ],
    });
    process.env.PING_MUC_DELAY_SECONDS = '1800';
    expect((await handler(urlEvent(body, signed(WEBHOOK_SECRET, body)))).statusCode).toBe(200);
    expect(requests).toHaveLength(1);
    expect(requests[0]!.path).toMatch(/^\/schedules\/pm-/);
    expect(requests[0]!.body).toMatchObject({
      GroupName: 'ping-muc',
      FlexibleTimeWindow: { Mode: 'OFF' },
      ActionAfterCompletion: 'DELETE',
      Target: {
        Arn: QUEUE_ARN,
        RoleArn: process.env.PING_MUC_SCHEDULER_ROLE_ARN,
        DeadLetterConfig: { Arn: process.env.PING_MUC_DLQ_ARN },
      },
    });
    expect(jobOf(requests[0]!)).toMatchObject({ remote: 'muc.far.example', kind: 'start' });
  });

  it('logs with the request id, and metrics carry the Stack dimension', async () => {
    process.env.LOG_LEVEL = 'warn';
    process.env.PING_MUC_STACK = 'PingMucTest';
    const lines = captureStdout();
    const { handler } = await import('../../functions/events');
    const body = JSON.stringify({
      v: 1,
      events: [
        { type: 'join', seq: nextSeq(), host: 'a.example', user: 'x@a.example/r', room: 'r@muc.c.example', nick: 'x' },
      ],
    });
    expect((await handler(urlEvent('{}', {}), { awsRequestId: 'req-401' })).statusCode).toBe(401);
    expect((await handler(urlEvent(body, signed(WEBHOOK_SECRET, body)), { awsRequestId: 'req-200' })).statusCode).toBe(
      200,
    );
    const refused = lines().find((l) => l.message === 'events refused');
    expect(refused).toMatchObject({ level: 'warn', service: 'ping-muc', requestId: 'req-401', status: 401 });
    expect(Date.parse(String(refused?.timestamp))).toBeGreaterThan(0);
    // By default the events are counted in all, per Stack only (docs/operations.md, "Metrics").
    const emf = lines().filter((l) => l._aws);
    expect(emf).toEqual([
      expect.objectContaining({
        Stack: 'PingMucTest',
        Events: 1,
        _aws: expect.objectContaining({
          CloudWatchMetrics: [
            { Namespace: 'PingMuc', Dimensions: [['Stack']], Metrics: [{ Name: 'Events', Unit: 'Count' }] },
          ],
        }),
      }),
    ]);
    // Without a context (local tools), the Function URL's own request id is used.
    lines.clear();
    await handler(urlEvent('{}', {}));
    expect(lines().find((l) => l.message === 'events refused')).toMatchObject({
      requestId: 'c0ffee00-0000-4000-8000-000000000000',
    });
  });

  it('answers 401 to a bad signature and 400 to bad JSON', async () => {
    const { handler } = await import('../../functions/events');
    expect((await handler(urlEvent('{}', {}))).statusCode).toBe(401);
    expect((await handler(urlEvent('{', signed(WEBHOOK_SECRET, '{')))).statusCode).toBe(400);
    expect(requests).toHaveLength(0);
  });

  it('fails to start with a clear error when the secret is missing or weak', async () => {
    delete process.env.PING_MUC_WEBHOOK_SECRET;
    const { handler } = await import('../../functions/events');
    await expect(handler(urlEvent('{}', {}))).rejects.toThrow(
      /PING_MUC_WEBHOOK_SECRET or PING_MUC_WEBHOOK_SECRET_ARN must be set/,
    );
    vi.resetModules();
    process.env.PING_MUC_WEBHOOK_SECRET = 'short';
    const again = await import('../../functions/events');
    await expect(again.handler(urlEvent('{}', {}))).rejects.toThrow(/too weak/);
  });

  it('fails to start with a clear error when configuration is missing', async () => {
    delete process.env.PING_MUC_DLQ_ARN;
    const { handler } = await import('../../functions/events');
    await expect(handler(urlEvent('{}', {}))).rejects.toThrow(/missing configuration: PING_MUC_DLQ_ARN/);
  });
});

describe('round function', () => {
  const context = { invokedFunctionArn: ROUND_ARN, getRemainingTimeInMillis: () => 300_000 };

  it('treats a job with no pending window as already done (idempotent retries)', async () => {
    const { handler } = await import('../../functions/round');
    await expect(
      handler({ host: 'a.example', remote: 'muc.z.example', gen: 'abc', kind: 'start' }, context),
    ).resolves.toBeUndefined();
    expect(requests).toHaveLength(0);
  });

  it('schedules its own retry with backoff when the stanza API is down, and never notifies', async () => {
    process.env.PING_MUC_DELAY_SECONDS = '0';
    const events = await import('../../functions/events');
    const body = JSON.stringify({
      v: 1,
      events: [
        {
          type: 'join',
          seq: nextSeq(),
          host: 'a.example',
          user: 'bob@a.example/r',
          room: 'lobby@muc.down.example',
          nick: 'bob',
        },
        { type: 's2s-close', seq: nextSeq(), host: 'a.example', remotes: ['muc.down.example'], direction: 'out' },
      ],
    });
    expect((await events.handler(urlEvent(body, signed(WEBHOOK_SECRET, body)))).statusCode).toBe(200);
    // Due at once: the round function is invoked now.
    expect(requests[0]!.path).toMatch(INVOKE_PATH);
    expect(requests[0]!.headers['x-amz-invocation-type']).toBe('Event');
    expect(targetOf(requests[0]!)).toBe(ROUND_ARN);
    const job = jobOf(requests[0]!);
    expect(job).toMatchObject({ host: 'a.example', remote: 'muc.down.example', kind: 'start' });

    const { handler } = await import('../../functions/round');
    await expect(handler(job, context)).resolves.toBeUndefined();
    expect(requests).toHaveLength(2);
    const { at: _startAt, ...started } = job;
    const retryJob = jobOf(requests[1]!);
    expect(retryJob).toEqual({ ...started, attempt: 1, pass: 0, at: expect.any(Number) });
    // The retry's 30 s backoff waits in the round queue, not in a function.
    expect(isSend(requests[1]!)).toBe(true);
    expect(requests[1]!.body).toMatchObject({ QueueUrl: queueUrl(), DelaySeconds: 30 });
    expect(retryJob.at - Date.now()).toBeGreaterThan(25_000);

    // The retry budget spent: the error goes to Lambda's retries and the DLQ.
    process.env.PING_MUC_RETRY_ATTEMPTS = '1';
    vi.resetModules();
    const again = await import('../../functions/round');
    await expect(again.handler({ ...job, attempt: 1 }, context)).rejects.toThrow(/stanza API unreachable/);
  });

  it('logs a failure with the job and its request id, and counts it', async () => {
    process.env.PING_MUC_DELAY_SECONDS = '0';
    process.env.PING_MUC_STACK = 'PingMucTest';
    const events = await import('../../functions/events');
    const body = JSON.stringify({
      v: 1,
      events: [
        {
          type: 'join',
          seq: nextSeq(),
          host: 'a.example',
          user: 'c@a.example/r',
          room: 'r@muc.alias.example',
          nick: 'c',
        },
        { type: 's2s-close', seq: nextSeq(), host: 'a.example', remotes: ['muc.alias.example'], direction: 'out' },
      ],
    });
    expect((await events.handler(urlEvent(body, signed(WEBHOOK_SECRET, body)))).statusCode).toBe(200);
    const job = jobOf(requests[0]!);

    const lines = captureStdout();
    const { handler } = await import('../../functions/round');
    const aliased = { ...context, invokedFunctionArn: `${ROUND_ARN}:live`, awsRequestId: 'req-round' };
    await expect(handler(job, aliased)).resolves.toBeUndefined();
    expect(requests).toHaveLength(2);
    expect(targetOf(requests[1]!)).toBe(queueUrl()); // the retry, queued
    const failed = lines().find((l) => l.message === 'round failed, retry scheduled');
    expect(failed).toMatchObject({
      level: 'error',
      requestId: 'req-round',
      host: 'a.example',
      remote: 'muc.alias.example',
      gen: job.gen,
    });
    // Per stack, all kinds summed (what the alarm reads); no Host dimension by default.
    const emf = lines().filter((l) => l._aws && 'RoundFailures' in l);
    expect(emf).toEqual([
      expect.objectContaining({
        Stack: 'PingMucTest',
        RoundFailures: 1,
        _aws: expect.objectContaining({
          CloudWatchMetrics: [
            { Namespace: 'PingMuc', Dimensions: [['Stack']], Metrics: [{ Name: 'RoundFailures', Unit: 'Count' }] },
          ],
        }),
      }),
    ]);
    expect(lines().some((l) => l._aws && 'Host' in l)).toBe(false);
  });

  it('strips only a qualifier from its ARN', async () => {
    const { unqualifiedArn } = await import('../../functions/round');
    expect(unqualifiedArn(`${ROUND_ARN}:live`)).toBe(ROUND_ARN);
    expect(unqualifiedArn(`${ROUND_ARN}:$LATEST`)).toBe(ROUND_ARN);
    expect(unqualifiedArn(`${ROUND_ARN}:12`)).toBe(ROUND_ARN);
    expect(unqualifiedArn(ROUND_ARN)).toBe(ROUND_ARN);
    expect(unqualifiedArn('arn:aws-cn:lambda:cn-north-1:123456789012:function:f:blue')).toBe(
      'arn:aws-cn:lambda:cn-north-1:123456789012:function:f',
    );
  });

  it('runs the reconciler on { "reconcile": true }: an overdue window gets its start again', async () => {
    const { DynamoStore } = await import('../../lib/adapters/dynamodb/store');
    const store = new DynamoStore({ client: dynalite.client, table: 'ping-muc-test' });
    const at = Date.now() - 10 * 60_000;
    // A close recorded ten minutes ago whose start job was lost (nothing scheduled).
    await store.recordClose('a.example', 'muc.lost.example', at * 1000, at, 'lost1', at + 60_000);
    const lines = captureStdout();
    const { handler, RECONCILE_INPUT } = await import('../../functions/round');
    // Through an alias: the function invoked is its unqualified ARN.
    const aliased = { ...context, invokedFunctionArn: `${ROUND_ARN}:live`, awsRequestId: 'req-reconcile' };
    await expect(handler(RECONCILE_INPUT, aliased)).resolves.toBeUndefined();
    // Overdue: invoked at once, as any job due now.
    const rearmed = requests.filter((r) => jobOf(r).remote === 'muc.lost.example');
    expect(rearmed).toHaveLength(1);
    expect(targetOf(rearmed[0]!)).toBe(ROUND_ARN);
    expect(jobOf(rearmed[0]!)).toMatchObject({
      host: 'a.example',
      remote: 'muc.lost.example',
      gen: 'lost1',
      kind: 'start',
    });
    // Both kinds summed, per Stack (the alarm's metric).
    expect(lines().find((l) => l._aws && 'Reconciled' in l)).toMatchObject({ Reconciled: 1 });
  });

  it('logs and counts a failed reconciler run, and does not throw (the next minute is its retry)', async () => {
    process.env.PING_MUC_TABLE = 'no-such-table';
    const lines = captureStdout();
    const { handler } = await import('../../functions/round');
    await expect(handler({ reconcile: true }, context)).resolves.toBeUndefined();
    expect(lines().find((l) => l.message === 'reconciler failed')).toMatchObject({ level: 'error', job: 'reconcile' });
    expect(lines().find((l) => l._aws && 'RoundFailures' in l)).toMatchObject({ RoundFailures: 1 });
    expect(requests).toHaveLength(0);
  });

  it('runs a batch of the round queue and reports only the records that failed', async () => {
    const { handler } = await import('../../functions/round');
    const done = { host: 'a.example', remote: 'muc.z.example', gen: 'abc', kind: 'start' };
    const lines = captureStdout();
    await expect(handler(sqsEvent([done]), context)).resolves.toEqual({ batchItemFailures: [] });
    const out = await handler(sqsEvent([done, '{"host":"a.example"}', 'not json']), context);
    expect(out).toEqual({ batchItemFailures: [{ itemIdentifier: 'm1' }, { itemIdentifier: 'm2' }] });
    expect(lines().filter((l) => l.message === 'queued round job failed, received again later')).toHaveLength(2);
    expect(requests).toHaveLength(0);
  });

  it('refuses a malformed job', async () => {
    const { handler } = await import('../../functions/round');
    await expect(handler({ host: 'a.example', kind: 'start' }, context)).rejects.toThrow(/invalid round job/);
  });
});
