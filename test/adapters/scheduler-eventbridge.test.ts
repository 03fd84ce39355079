// The EventBridge adapter against an in-process HTTP server playing the Scheduler endpoint: the
// real @aws-sdk/client-scheduler sends real requests, and we assert on exactly what it sent.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { EventBridgeScheduler } from '../../lib/adapters/scheduler-eventbridge';
import { scheduleName } from '../../lib/domain/schedule';
import type { RoundJob } from '../../lib/domain/model';

interface Captured {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

type Reply = { status: number; headers?: Record<string, string>; body: string };

let server: Server;
let endpoint: string;
let requests: Captured[] = [];
let reply: (req: Captured) => Reply;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const raw = Buffer.concat(chunks).toString('utf8');
      const captured: Captured = {
        method: req.method ?? '',
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body: raw ? (JSON.parse(raw) as Record<string, unknown>) : {},
      };
      requests.push(captured);
      const r = reply(captured);
      res.writeHead(r.status, { 'content-type': 'application/json', ...r.headers });
      res.end(r.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  requests = [];
  reply = (req) => ({
    status: 200,
    body: JSON.stringify({
      ScheduleArn: `arn:aws:scheduler:us-east-1:123456789012:schedule/ping-muc${req.path.slice('/schedules'.length)}`,
    }),
  });
});

function client(maxAttempts = 3): SchedulerClient {
  return new SchedulerClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' },
    maxAttempts,
  });
}

const T0 = Date.parse('2030-03-04T05:06:07.123Z');
const ARNS = {
  group: 'ping-muc',
  roleArn: 'arn:aws:iam::123456789012:role/ping-muc-scheduler',
  dlqArn: 'arn:aws:sqs:us-east-1:123456789012:ping-muc-dlq',
  targetArn: 'arn:aws:lambda:us-east-1:123456789012:function:ping-muc-round',
};
const job: RoundJob = { host: 'example.org', remote: 'conference.remote.net', gen: 'g-01HXYZ', kind: 'start' };

function adapter(
  opts: { maxAttempts?: number; retry?: { maximumRetryAttempts?: number; maximumEventAgeInSeconds?: number } } = {},
) {
  return new EventBridgeScheduler({
    client: client(opts.maxAttempts),
    ...ARNS,
    ...(opts.retry ? { retry: opts.retry } : {}),
    now: () => T0 - 60_000,
  });
}

describe('EventBridgeScheduler', () => {
  const name = scheduleName(job, 'start');
  /** Schedules the start of `job` at T0 through a fresh adapter; returns the result and the one request. */
  const scheduleStart = async () => ({ created: await adapter().schedule(name, T0, job), req: requests[0]! });

  it('sends one signed CreateSchedule request under the name', async () => {
    const { created, req } = await scheduleStart();
    expect(created).toBe(true);
    expect(requests).toHaveLength(1);
    expect(req.method).toBe('POST');
    expect(req.path).toBe(`/schedules/${name}`);
    expect([...req.query.keys()]).toEqual([]);
    expect(req.headers['content-type']).toMatch(/^application\/json/);
    // SigV4 for the scheduler service in the configured region.
    expect(req.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDTEST\/\d{8}\/us-east-1\/scheduler\/aws4_request/,
    );
  });

  it('describes the whole schedule in the request body', async () => {
    const { req } = await scheduleStart();
    const { ClientToken, ...rest } = req.body;
    expect(rest).toEqual({
      GroupName: 'ping-muc',
      // Due 05:06:07.123, scheduled at 05:05:07: no minute that surely ends by the due time lies in the
      // future, so the first one after now + 5 s (the round waits, or is late by < 1 min).
      ScheduleExpression: 'at(2030-03-04T05:06:00)',
      ScheduleExpressionTimezone: 'UTC',
      FlexibleTimeWindow: { Mode: 'OFF' },
      ActionAfterCompletion: 'DELETE',
      State: 'ENABLED',
      Target: {
        Arn: ARNS.targetArn,
        RoleArn: ARNS.roleArn,
        Input: JSON.stringify({ ...job, at: T0 }), // the job's own time: delivered early, the round waits
        DeadLetterConfig: { Arn: ARNS.dlqArn },
        RetryPolicy: { MaximumRetryAttempts: 5, MaximumEventAgeInSeconds: 3600 },
      },
    });
    // The name travels in the path only, not in the body.
    expect(rest).not.toHaveProperty('Name');
    expect(JSON.parse((rest.Target as { Input: string }).Input)).toEqual({ ...job, at: T0 });
    expect(ClientToken).toMatch(/^[0-9a-f]{64}$/);
  });

  /** Schedules a job with a field beyond RoundJob's at an exact whole minute; returns the body sent. */
  const scheduleOnTheMinute = async () => {
    const at = Date.parse('2030-03-04T05:06:00.000Z');
    const extra = { ...job, kind: 'continue' as const, secret: 'x' } as RoundJob;
    await adapter().schedule('n1', at, extra);
    return { at, body: requests[0]!.body as { ScheduleExpression: string; Target: { Input: string } } };
  };

  it('keeps an exact whole minute', async () => {
    const { body } = await scheduleOnTheMinute();
    expect(body.ScheduleExpression).toBe('at(2030-03-04T05:06:00)');
  });

  it('puts only the job fields in Input', async () => {
    const { at, body } = await scheduleOnTheMinute();
    expect(JSON.parse(body.Target.Input)).toEqual({
      host: job.host,
      remote: job.remote,
      gen: job.gen,
      kind: 'continue',
      at,
    });
  });

  it('moves an at() already in the past into the near future instead of sending a past time', async () => {
    const s = new EventBridgeScheduler({ client: client(), ...ARNS, now: () => Date.parse('2030-03-04T05:06:58Z') });
    await s.schedule('late', Date.parse('2030-03-04T05:00:00Z'), job);
    // 05:06:58 + 5 s lead = 05:07:03, rounded up.
    expect(requests[0]!.body.ScheduleExpression).toBe('at(2030-03-04T05:08:00)');
  });

  it('passes the configured retry policy', async () => {
    await adapter({ retry: { maximumRetryAttempts: 0, maximumEventAgeInSeconds: 60 } }).schedule('n2', T0, job);
    expect((requests[0]!.body.Target as { RetryPolicy: unknown }).RetryPolicy).toEqual({
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 60,
    });
  });

  /** The ClientTokens of a request, its retry, and three requests that differ in time, job or name. */
  const clientTokens = async () => {
    const s = adapter();
    await s.schedule('same', T0, job);
    await s.schedule('same', T0, job); // the same request again (a retry of the caller)
    await s.schedule('same', T0 + 600_000, job); // another minute: another request
    await s.schedule('same', T0, { ...job, gen: 'other' });
    await s.schedule('other', T0, job);
    return requests.map((r) => r.body.ClientToken);
  };

  it('gives the same request the same ClientToken', async () => {
    const tokens = await clientTokens();
    expect(tokens[0]).toBe(tokens[1]);
  });

  it('gives a request for another time or job or name another ClientToken', async () => {
    const tokens = await clientTokens();
    expect(new Set(tokens).size).toBe(4);
  });

  it('returns false on ConflictException (already scheduled)', async () => {
    reply = () => ({
      status: 409,
      headers: { 'x-amzn-errortype': 'ConflictException' },
      body: JSON.stringify({ Message: 'Schedule ping-muc/x already exists.' }),
    });
    const created = await adapter().schedule(scheduleName(job, 'start'), T0, job);
    expect(created).toBe(false);
    expect(requests).toHaveLength(1); // a conflict is not retried
  });

  it('recognizes the conflict from the body type alone too', async () => {
    reply = () => ({
      status: 409,
      body: JSON.stringify({ __type: 'ConflictException', Message: 'exists' }),
    });
    expect(await adapter().schedule('n3', T0, job)).toBe(false);
  });

  it('throws on a 500 after the SDK retries', async () => {
    reply = () => ({
      status: 500,
      headers: { 'x-amzn-errortype': 'InternalServerException' },
      body: JSON.stringify({ Message: 'boom' }),
    });
    await expect(adapter({ maxAttempts: 2 }).schedule('n4', T0, job)).rejects.toMatchObject({
      name: 'InternalServerException',
      $metadata: { httpStatusCode: 500 },
    });
    expect(requests).toHaveLength(2);
    // The SDK's retry carries the same ClientToken: the create stays idempotent.
    expect(requests[0]!.body.ClientToken).toBe(requests[1]!.body.ClientToken);
  });

  it('rethrows any other client error such as a ValidationException', async () => {
    reply = () => ({
      status: 400,
      headers: { 'x-amzn-errortype': 'ValidationException' },
      body: JSON.stringify({ Message: 'bad' }),
    });
    await expect(adapter().schedule('n5', T0, job)).rejects.toMatchObject({ name: 'ValidationException' });
  });

  it('rejects an invalid name before sending anything', async () => {
    await expect(adapter().schedule('has space', T0, job)).rejects.toThrow(/invalid schedule name/);
    await expect(adapter().schedule('x'.repeat(65), T0, job)).rejects.toThrow(/invalid schedule name/);
    expect(requests).toHaveLength(0);
  });

  it('validates its configuration', () => {
    expect(() => new EventBridgeScheduler({ client: client(), ...ARNS, dlqArn: '' })).toThrow(/dlqArn/);
    expect(() => new EventBridgeScheduler({ client: client(), ...ARNS, retry: { maximumRetryAttempts: 186 } })).toThrow(
      /maximumRetryAttempts/,
    );
    expect(
      () => new EventBridgeScheduler({ client: client(), ...ARNS, retry: { maximumEventAgeInSeconds: 59 } }),
    ).toThrow(/maximumEventAgeInSeconds/);
  });
});
