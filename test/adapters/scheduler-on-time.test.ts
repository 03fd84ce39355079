// Rounds start on time on AWS, and no function sleeps for a due second: the real adapters
// (the round queue, EventBridge Scheduler beyond 15 minutes) on fake clients that deliver as the
// services do (an SQS message after its DelaySeconds and a poll's latency, a schedule anywhere in
// the minute it names, an async invoke at once), and the round, run on fakes with an injected
// clock, starts within 2 s after its due time, never before it.
import type { CreateScheduleCommandInput, SchedulerClient } from '@aws-sdk/client-scheduler';
import type { SendMessageCommandInput, SQSClient } from '@aws-sdk/client-sqs';
import { beforeAll, describe, expect, it } from 'vitest';
import { runRound } from '../../lib/app/round';
import { EventBridgeScheduler } from '../../lib/adapters/scheduler-eventbridge';
import { QueueScheduler } from '../../lib/adapters/scheduler-sqs';
import type { RoundJob } from '../../lib/domain/model';
import { closeLink, roundWorld, seedJoins } from '../support/fakes';

/** Delivers each job as the AWS services would; `slept` sums the round's in-place waits. */
function awsWorld(random: () => number, env: Record<string, string> = {}) {
  const w = roundWorld({ PING_MUC_RECHECKS: '2', ...env });
  const fired: Array<{ at: number; job: RoundJob; via: string }> = [];
  const scheduler = {
    send: async (cmd: { input: CreateScheduleCommandInput }) => {
      const minute = Date.parse(`${/^at\((.*)\)$/.exec(cmd.input.ScheduleExpression ?? '')![1]}Z`);
      // Sent to the queue within the named minute, then received at once.
      fired.push({ at: minute + Math.floor(random() * 60_000), job: JSON.parse(cmd.input.Target!.Input!), via: 'at' });
      return {};
    },
  } as unknown as SchedulerClient;
  const sqs = {
    send: async (cmd: { input: SendMessageCommandInput }) => {
      // Visible after its delay; the event source mapping's long poll takes it within 300 ms.
      const at = w.clock.now() + cmd.input.DelaySeconds! * 1000 + Math.floor(random() * 300);
      fired.push({ at, job: JSON.parse(cmd.input.MessageBody!), via: 'sqs' });
      return {};
    },
  } as unknown as SQSClient;
  const later = new EventBridgeScheduler({
    client: scheduler,
    group: 'g',
    roleArn: 'arn:r',
    dlqArn: 'arn:q',
    targetArn: 'arn:aws:sqs:us-east-1:1:round',
    now: w.clock.now,
  });
  // Lambda's async invoke: runs at once (a few ms later).
  const invokeNow = async (input: string) =>
    void fired.push({ at: w.clock.now() + 50, job: JSON.parse(input), via: 'invoke' });
  w.deps.scheduler = new QueueScheduler({ client: sqs, queueUrl: 'https://q', later, invokeNow, now: w.clock.now });
  let slept = 0;
  const sleep = w.clock.sleep;
  w.clock.sleep = (ms: number) => {
    slept += ms;
    return sleep(ms);
  };
  /** Runs the fired jobs in time order until none is left; returns the invocations. */
  const deliver = async (max = 100) => {
    let n = 0;
    for (; n < max && fired.length; n++) {
      fired.sort((a, b) => a.at - b.at);
      const next = fired.shift()!;
      w.clock.t = Math.max(w.clock.t, next.at);
      await runRound(w.deps, next.job);
    }
    return n;
  };
  return { w, fired, deliver, slept: () => slept };
}

const lcg = (seed: number) => () => (seed = (seed * 16807) % 2147483647) / 2147483647;

describe('rounds on AWS start on time, and no function sleeps for its due second', () => {
  describe.each([60, 90, 180, 600, 1800])('with a %i s delay', (delay) => {
    const lateness: number[] = [];
    const waits: number[] = [];
    beforeAll(async () => {
      const random = lcg(7);
      for (let i = 0; i < 100; i++) {
        const { w, deliver, slept } = awsWorld(random, { PING_MUC_DELAY_SECONDS: String(delay) });
        w.clock.advance(Math.floor(random() * 3_600_000)); // any second of the hour
        await seedJoins(w, 2);
        const closedAt = w.clock.now();
        await closeLink(w);
        await deliver();
        const pinged = Math.min(...w.api.pings.map((p) => p.at));
        lateness.push(pinged - (closedAt + delay * 1000));
        waits.push(slept());
      }
      const mean = waits.reduce((a, b) => a + b, 0) / waits.length / 1000;
      console.log(
        `[on-time] delay ${delay} s, ${lateness.length} rounds: start ${Math.min(...lateness)}–${Math.max(...lateness)} ms after the due time; ` +
          `the function waited ${(Math.min(...waits) / 1000).toFixed(1)}–${(Math.max(...waits) / 1000).toFixed(1)} s (mean ${mean.toFixed(2)} s)`,
      );
    });

    it('starts each round 0–2 s after its due time', () => {
      expect(Math.min(...lateness)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...lateness)).toBeLessThanOrEqual(2_000);
    });

    it('waits at most 1 s in place', () => {
      expect(Math.max(...waits)).toBeLessThanOrEqual(1_000);
    });
  });

  describe('re-check passes', () => {
    let via: string[];
    let times: number[];
    let slept: number;
    let notifications: unknown[];
    beforeAll(async () => {
      const world = awsWorld(lcg(11), { PING_MUC_RECHECK_BASE_SECONDS: '60' });
      const { w, fired, deliver } = world;
      const [j] = await seedJoins(w, 1);
      w.api.answers.set(j!.occupant, 'remote-down');
      const closedAt = w.clock.now();
      await closeLink(w);
      via = fired.map((f) => f.via);
      await deliver();
      times = w.api.pings.map((p) => (p.at - closedAt) / 1000);
      slept = world.slept();
      notifications = w.api.notifications;
    });

    it('go through the queue', () => {
      expect(via).toEqual(['sqs']);
    });

    it('run 0–2 s after their time', () => {
      expect(times).toHaveLength(3);
      for (const [i, due] of [60, 120, 240].entries()) {
        expect(times[i]).toBeGreaterThanOrEqual(due);
        expect(times[i]).toBeLessThanOrEqual(due + 2 * (i + 1)); // each pass's lateness adds up
      }
    });

    it("wait in place no longer than the start's lead", () => {
      expect(slept).toBeLessThanOrEqual(1_000); // the start's lead only
    });

    it('end in one notification', () => {
      expect(notifications).toHaveLength(1);
    });
  });
});
