// The round queue adapter (lib/adapters/scheduler-sqs.ts) on a mocked SQS client: the exact
// SendMessage input of each job, and which jobs go elsewhere (invoked now, or a schedule).
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import * as next from '../../lib/app/next';
import { MAX_DELAY_SECONDS, QueueScheduler } from '../../lib/adapters/scheduler-sqs';
import type { RoundJob } from '../../lib/domain/model';
import type { Scheduler } from '../../lib/ports';

const URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/ping-muc-round';
const NOW = Date.UTC(2026, 11, 1, 12, 0, 0, 250);
const job: RoundJob = { host: 'a.example', remote: 'muc.b.example', gen: 'g1', kind: 'continue', pass: 1 };

function make(invoke = true) {
  const sent: SendMessageCommand[] = [];
  const invoked: string[] = [];
  const later: Array<{ name: string; at: number; job: RoundJob }> = [];
  const client = { send: async (cmd: SendMessageCommand) => void sent.push(cmd) } as unknown as SQSClient;
  const laterScheduler: Scheduler = {
    schedule: async (name, at, j) => {
      later.push({ name, at, job: j });
      return true;
    },
  };
  const s = new QueueScheduler({
    client,
    queueUrl: URL,
    later: laterScheduler,
    now: () => NOW,
    ...(invoke ? { invokeNow: async (input: string) => void invoked.push(input) } : {}),
  });
  return { s, sent, invoked, later };
}

describe('QueueScheduler', () => {
  it('sends a job due within 15 minutes as one message delayed until its time', async () => {
    const { s, sent, later } = make();
    for (const wait of [1_001, 10_000, 10_001, 59_750, 900_000]) await s.schedule('pm-x', NOW + wait, job);
    expect(sent.every((c) => c instanceof SendMessageCommand)).toBe(true);
    expect(sent.map((c) => c.input)).toEqual(
      [2, 10, 11, 60, 900].map((DelaySeconds, i) => ({
        QueueUrl: URL,
        DelaySeconds,
        MessageBody: JSON.stringify({ ...job, at: NOW + [1_001, 10_000, 10_001, 59_750, 900_000][i]! }),
      })),
    );
    expect(later).toEqual([]);
  });

  it('sends a start to arrive at most LINK_LEAD_MS before the due time it carries', async () => {
    const { s, sent } = make();
    const step = next.start('a.example', 'muc.b.example', 'g1', NOW + 60_000);
    expect(await s.schedule('pm-s', step.at, step.job)).toBe(true);
    expect(sent.map((c) => c.input)).toEqual([
      {
        QueueUrl: URL,
        DelaySeconds: 59,
        MessageBody: JSON.stringify({
          host: 'a.example',
          remote: 'muc.b.example',
          gen: 'g1',
          kind: 'start',
          at: NOW + 60_000,
        }),
      },
    ]);
  });

  it('invokes a job due within a second now', async () => {
    const { s, sent, invoked } = make();
    await s.schedule('pm-x', NOW + 1_000, job);
    await s.schedule('pm-x', NOW - 5_000, job);
    expect(sent).toEqual([]);
    expect(invoked).toEqual([JSON.stringify({ ...job, at: NOW + 1_000 }), JSON.stringify({ ...job, at: NOW - 5_000 })]);
  });

  it('sends a job due within a second with the shortest delay when there is no invoker', async () => {
    const bare = make(false);
    await bare.s.schedule('pm-x', NOW + 400, job);
    expect(bare.sent.map((c) => c.input)).toEqual([
      { QueueUrl: URL, DelaySeconds: 1, MessageBody: JSON.stringify({ ...job, at: NOW + 400 }) },
    ]);
  });

  it('hands a job due beyond the SQS delay to a schedule under its name', async () => {
    const { s, sent, later } = make();
    const at = NOW + (MAX_DELAY_SECONDS + 1) * 1000;
    expect(await s.schedule('pm-later', at, job)).toBe(true);
    expect(sent).toEqual([]);
    expect(later).toEqual([{ name: 'pm-later', at, job }]);
  });

  it('refuses a bad name or time', async () => {
    const { s } = make();
    await expect(s.schedule('bad name', NOW, job)).rejects.toThrow(/invalid schedule name/);
    await expect(s.schedule('pm-x', Number.NaN, job)).rejects.toThrow(/invalid time/);
  });

  it('needs a queue URL', () => {
    expect(() => new QueueScheduler({ client: {} as SQSClient, queueUrl: '', later: make().s })).toThrow(/queueUrl/);
  });
});
