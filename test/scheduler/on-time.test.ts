// Rounds start on time on AWS: the real EventBridge adapter names the minute, the schedule fires
// anywhere in that minute (EventBridge Scheduler's documented window), and the round, run on
// fakes with an injected clock, starts within 2 s after its due time, never before it.
import type { CreateScheduleCommandInput, SchedulerClient } from '@aws-sdk/client-scheduler';
import { describe, expect, it } from 'vitest';
import { runRound } from '../../lib/app/round';
import { EventBridgeScheduler } from '../../lib/adapters/scheduler-eventbridge';
import type { RoundJob } from '../../lib/domain/model';
import { closeLink, roundWorld, seedJoins } from '../support/fakes';

/** Fires each created schedule at a random second of the minute its expression names. */
function eventBridgeWorld(random: () => number, delaySeconds = 60) {
  const w = roundWorld({ PING_MUC_DELAY_SECONDS: String(delaySeconds), PING_MUC_RECHECKS: '2' });
  const fired: Array<{ at: number; job: RoundJob }> = [];
  const client = {
    send: async (cmd: { input: CreateScheduleCommandInput }) => {
      const minute = Date.parse(`${/^at\((.*)\)$/.exec(cmd.input.ScheduleExpression ?? '')![1]}Z`);
      fired.push({ at: minute + Math.floor(random() * 60_000), job: JSON.parse(cmd.input.Target!.Input!) });
      return {};
    },
  } as unknown as SchedulerClient;
  // Lambda's async invoke: runs at once (a few ms later).
  const invokeNow = async (input: string) => void fired.push({ at: w.clock.now() + 50, job: JSON.parse(input) });
  w.deps.scheduler = new EventBridgeScheduler({
    client,
    group: 'g',
    roleArn: 'arn:r',
    dlqArn: 'arn:q',
    targetArn: 'arn:f',
    now: w.clock.now,
    invokeNow,
  });
  return { w, fired };
}

describe('rounds on AWS start on time', () => {
  it.each([60, 90, 180, 600])(
    'with a %i s delay, starts each round 0–2 s after its due time, wherever the schedule fires in its minute',
    async (delay) => {
      let seed = 7;
      const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
      const lateness: number[] = [];
      const waits: number[] = [];
      for (let i = 0; i < 200; i++) {
        const { w, fired } = eventBridgeWorld(random, delay);
        w.clock.advance(Math.floor(random() * 3_600_000)); // any second of the hour
        await seedJoins(w, 2);
        const closedAt = w.clock.now();
        await closeLink(w);
        const start = fired.shift()!;
        waits.push(closedAt + delay * 1000 - start.at);
        w.clock.t = start.at;
        await runRound(w.deps, start.job);
        const pinged = Math.min(...w.api.pings.map((p) => p.at));
        lateness.push(pinged - (closedAt + delay * 1000));
      }
      expect(Math.min(...lateness)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...lateness)).toBeLessThanOrEqual(2_000);
      const mean = waits.reduce((a, b) => a + b, 0) / waits.length / 1000;
      expect(Math.max(...waits)).toBeLessThanOrEqual(130_000);
      console.log(
        `[on-time] delay ${delay} s, ${lateness.length} rounds: start ${Math.min(...lateness)}–${Math.max(...lateness)} ms after the due time; ` +
          `the function waited ${(Math.min(...waits) / 1000).toFixed(1)}–${(Math.max(...waits) / 1000).toFixed(1)} s (mean ${mean.toFixed(1)} s)`,
      );
    },
  );

  it('a re-check pass fired early by its schedule waits for its time instead of rescheduling', async () => {
    let seed = 11;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const { w, fired } = eventBridgeWorld(random);
    const [j] = await seedJoins(w, 1);
    w.api.answers.set(j!.occupant, 'remote-down');
    const closedAt = w.clock.now();
    await closeLink(w);
    for (let step = 0; step < 10 && fired.length; step++) {
      fired.sort((a, b) => a.at - b.at);
      const next = fired.shift()!;
      w.clock.t = Math.max(w.clock.t, next.at);
      await runRound(w.deps, next.job);
    }
    const times = w.api.pings.map((p) => (p.at - closedAt) / 1000);
    expect(times).toEqual([60, 120, 240]);
    expect(w.api.notifications).toHaveLength(1);
  });
});
