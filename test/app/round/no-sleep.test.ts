// Infra-cost F7 and correctness M3 (regression): no invocation sleeps for a job's due second, a
// re-check's notBefore, a probe interval, a slot come-back or a retry backoff. A job delivered
// more than IN_PLACE_MS early (as an async invoke at once, or a schedule firing in the minute
// before) is armed again for its time and the invocation returns; the wait is then held by the
// scheduler (on AWS the round queue's DelaySeconds), which costs nothing while it waits.
import type { SendMessageCommandInput, SQSClient } from '@aws-sdk/client-sqs';
import { beforeAll, describe, expect, it } from 'vitest';
import { IN_PLACE_MS, LINK_LEAD_MS } from '../../../lib/app/next';
import { runRound } from '../../../lib/app/round';
import { QueueScheduler } from '../../../lib/adapters/scheduler-sqs';
import type { RoundJob } from '../../../lib/domain/model';
import type { Scheduler } from '../../../lib/ports';
import { closeLink, HOST, REMOTE, roundWorld, type RoundWorld, seedJoins } from '../../support/fakes';

/** Sums the fake-clock time the round sleeps in place. */
function sleeps(w: RoundWorld): () => number {
  let slept = 0;
  const sleep = w.clock.sleep;
  w.clock.sleep = (ms: number) => {
    slept += ms;
    return sleep(ms);
  };
  return () => slept;
}

/** Runs `job` delivered `early` ms before its time, as an async invoke at once would. */
async function deliveredEarly(w: RoundWorld, job: RoundJob, due: number, early: number) {
  const slept = sleeps(w);
  w.scheduler.pending.clear();
  w.clock.t = due - early;
  await runRound(w.deps, { ...job, at: due });
  return { slept: slept(), armed: [...w.scheduler.pending.values()] };
}

describe('a job delivered early is armed again for its time, and the invocation returns', () => {
  it('a start job 60 s early', async () => {
    const w = roundWorld();
    await seedJoins(w, 2);
    await closeLink(w);
    const [start] = [...w.scheduler.pending.values()];
    const due = start!.job.at!;
    const { slept, armed } = await deliveredEarly(w, start!.job, due, 60_000);
    expect(slept).toBe(0);
    expect(w.api.pings).toEqual([]);
    expect(armed.map((a) => [a.job.kind, a.job.at, a.at])).toEqual([['start', due, due - LINK_LEAD_MS]]);
    expect(w.logs.filter((l) => l.message === 'round job early, scheduled again')).toHaveLength(1);
  });

  it('a re-check pass 60 s early', async () => {
    const w = roundWorld({ PING_MUC_RECHECK_BASE_SECONDS: '120' });
    const [j] = await seedJoins(w, 1);
    w.api.answers.set(j!.occupant, 'timeout');
    await closeLink(w);
    const start = w.scheduler.takeNext()!;
    w.clock.t = start.job.at!;
    await runRound(w.deps, start.job);
    const recheck = w.scheduler.takeNext()!;
    const { slept, armed } = await deliveredEarly(w, recheck.job, recheck.at, 60_000);
    expect(slept).toBe(0);
    expect(armed.map((a) => [a.job.kind, a.job.pass, a.at])).toEqual([['continue', 1, recheck.at]]);
  });

  it('runs a follow-up delivered at once for a time 10–30 s away without sleeping', async () => {
    const w = roundWorld({ PING_MUC_PROBE_SECONDS: '10', PING_MUC_RECHECK_BASE_SECONDS: '300' });
    const [j] = await seedJoins(w, 1);
    w.api.answers.set(j!.occupant, 'remote-down');
    await closeLink(w);
    const start = w.scheduler.takeNext()!;
    w.clock.t = start.job.at!;
    await runRound(w.deps, start.job);
    const probe = [...w.scheduler.pending.values()].find((p) => p.job.probe)!;
    const base = { host: HOST, remote: REMOTE, gen: probe.job.gen, kind: 'continue' as const, pass: 1 };
    for (const [job, wait] of [
      [probe.job, 10_000],
      [base, 10_000], // a slot come-back (next.slotWait: at most SLOT_RETRY_MS)
      [{ ...base, attempt: 1 }, 30_000], // the first retry's backoff (next.RETRY_BASE_MS)
    ] as const) {
      const due = w.clock.now() + wait;
      const { slept, armed } = await deliveredEarly(w, job, due, wait);
      expect(slept).toBe(0);
      expect(armed.map((a) => a.at)).toEqual([due]);
      w.clock.t = due - wait;
    }
  });

  it('a job at most IN_PLACE_MS early waits in place', async () => {
    const w = roundWorld();
    await seedJoins(w, 2);
    await closeLink(w);
    const [start] = [...w.scheduler.pending.values()];
    const due = start!.job.at!;
    const { slept, armed } = await deliveredEarly(w, start!.job, due, IN_PLACE_MS);
    expect(slept).toBe(IN_PLACE_MS);
    expect(armed).toEqual([]);
    expect(Math.min(...w.api.pings.map((p) => p.at))).toBe(due);
  });
});

describe('on the round queue, a round whose remote stays down sleeps nowhere', () => {
  let w: ReturnType<typeof roundWorld>;
  const sent: SendMessageCommandInput[] = [];
  let slept: () => number;
  beforeAll(async () => {
    w = roundWorld({ PING_MUC_PROBE_SECONDS: '10', PING_MUC_RECHECKS: '3' });
    const [j] = await seedJoins(w, 1);
    w.api.answers.set(j!.occupant, 'remote-down');
    const queue: Array<{ at: number; job: RoundJob }> = [];
    const client = {
      send: async (cmd: { input: SendMessageCommandInput }) => {
        sent.push(cmd.input);
        queue.push({ at: w.clock.now() + cmd.input.DelaySeconds! * 1000, job: JSON.parse(cmd.input.MessageBody!) });
        return {};
      },
    } as unknown as SQSClient;
    const later: Scheduler = { schedule: async () => expect.fail('nothing is due beyond 15 minutes') };
    w.deps.scheduler = new QueueScheduler({ client, queueUrl: 'https://sqs.example/q', later, now: w.clock.now });
    slept = sleeps(w);
    await closeLink(w);
    let invocations = 0;
    let busy = 0;
    while (queue.length && invocations < 200) {
      queue.sort((a, b) => a.at - b.at);
      const next = queue.shift()!;
      w.clock.t = Math.max(w.clock.t, next.at);
      const began = w.clock.now();
      await runRound(w.deps, next.job);
      busy += w.clock.now() - began;
      invocations++;
    }
    console.log(
      `[no-sleep] remote down, probes every 10 s: ${invocations} invocations, ${(busy / 1000).toFixed(1)} s in functions (of which ${(slept() / 1000).toFixed(1)} s waiting), ${sent.length} messages`,
    );
  });

  it('queues a probe every 10 s with DelaySeconds 10', () => {
    const probes = sent.filter((s) => JSON.parse(s.MessageBody!).probe);
    expect(probes.length).toBeGreaterThan(10);
    for (const p of probes) {
      expect(p.QueueUrl).toBe('https://sqs.example/q');
      expect(p.DelaySeconds).toBe(10);
    }
  });

  it('finishes the round', () => {
    expect(w.store.allRounds()[0]!.state).toBe('done');
  });

  it('waits in all its invocations at most the start lead', () => {
    expect(slept()).toBeLessThanOrEqual(LINK_LEAD_MS);
  });
});
