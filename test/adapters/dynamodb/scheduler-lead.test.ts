// The local scheduler's lead (`leadMs`, docs/scheduling.md): a job runs that long before its time
// and carries its time as `at`. The local service sets none: next.start arms a start
// LINK_LEAD_MS early itself, and the scheduler never runs a job before the time it is given.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { IN_PLACE_MS, LINK_LEAD_MS } from '../../../lib/app/next';
import * as next from '../../../lib/app/next';
import { SCHED_PK } from '../../../lib/adapters/dynamodb/keys';
import { LocalScheduler, type LocalSchedulerOptions } from '../../../lib/adapters/dynamodb/scheduler';
import { ensureTable } from '../../../lib/adapters/dynamodb/table';
import { scheduleName } from '../../../lib/domain/schedule';
import type { RoundJob } from '../../../lib/domain/model';
import { startDynalite, type RunningDynalite } from '../../support/dynalite';
import { waitFor } from '../../support/wait';

/** Polls `cond` every 10 ms, up to `timeoutMs`. */
const until = (cond: () => boolean | Promise<boolean>, timeoutMs = 5000) =>
  waitFor('the condition', cond, timeoutMs, 10);

const job = (gen: string, kind: RoundJob['kind'] = 'start'): RoundJob => ({
  host: 'example.org',
  remote: 'muc.remote.net',
  gen,
  kind,
});

let db: RunningDynalite;
let tableN = 0;
const schedulers: LocalScheduler[] = [];

async function make(opts: Partial<LocalSchedulerOptions> & Pick<LocalSchedulerOptions, 'run'>) {
  const table = `lead-${++tableN}`;
  await ensureTable(db.client, table);
  const s = new LocalScheduler({ client: db.client, table, pollMs: 20, log: () => {}, ...opts });
  schedulers.push(s);
  return { s, table };
}

/** The stored item of a pending job: its `at` (when it runs) and its job. */
async function stored(table: string, name: string): Promise<{ at: number; job: RoundJob }> {
  const { Item } = await db.client.send(
    new GetItemCommand({ TableName: table, Key: { pk: { S: SCHED_PK }, sk: { S: name } } }),
  );
  if (!Item) throw new Error(`no item ${name}`);
  return { at: Number(Item.at?.N), job: JSON.parse(Item.job?.S ?? '') as RoundJob };
}

beforeAll(async () => {
  db = await startDynalite();
});
afterEach(async () => {
  await Promise.all(schedulers.splice(0).map((s) => s.stop()));
});
afterAll(async () => {
  await db.close();
});

describe('LocalScheduler leadMs', () => {
  it('stores a job due leadMs early with its rounded-up time as `at`', async () => {
    const { s, table } = await make({ leadMs: 2_000, run: async () => {} });
    const j = job('stored');
    const name = scheduleName(j, 'start');
    const at = Date.now() + 60_000.4;
    expect(await s.schedule(name, at, j)).toBe(true);
    expect(await stored(table, name)).toEqual({ at: Math.ceil(at - 2_000), job: { ...j, at: Math.ceil(at) } });
  });

  it('runs a job leadMs before the time it carries as `at`', async () => {
    const lead = 1_000;
    const fired: Array<{ job: RoundJob; t: number }> = [];
    const { s } = await make({ leadMs: lead, run: async (j) => void fired.push({ job: j, t: Date.now() }) });
    s.start();
    const t0 = Date.now();
    const ats = { a: t0 + 1_800.5, b: t0 + 1_300 };
    for (const [gen, at] of Object.entries(ats)) await s.schedule(scheduleName(job(gen), 'start'), at, job(gen));
    await until(() => fired.length === 2);
    expect(fired.map((f) => f.job.gen)).toEqual(['b', 'a']);
    for (const f of fired) {
      const at = ats[f.job.gen as keyof typeof ats];
      expect(f.job).toEqual({ ...job(f.job.gen), at: Math.ceil(at) });
      expect(f.t).toBeGreaterThanOrEqual(at - lead);
      expect(f.t).toBeLessThan(at); // early: the round waits to `at` itself
    }
  });

  it('gives a job that carries its own `at` (a postponed one) the time it is scheduled for', async () => {
    const { s, table } = await make({ leadMs: 500, run: async () => {} });
    const at = Date.now() + 60_000;
    const j = { ...job('postponed', 'continue'), pass: 1, at: Math.ceil(at) };
    const name = scheduleName(j, `at${Math.ceil(at)}`);
    await s.schedule(name, at, j);
    expect(await stored(table, name)).toEqual({ at: Math.ceil(at) - 500, job: j });
    // A retry scheduled later than the delivery it carries: `at` is the retry's own time.
    const retryAt = Date.now() + 90_000;
    const retry = { ...job('retry'), attempt: 1, at: Math.ceil(at) };
    const retryName = scheduleName(retry, 'retry1');
    await s.schedule(retryName, retryAt, retry);
    expect((await stored(table, retryName)).job.at).toBe(Math.ceil(retryAt));
  });

  it('runs a job unchanged at its time when leadMs is 0 (the default)', async () => {
    for (const leadMs of [undefined, 0]) {
      const fired: Array<{ job: RoundJob; t: number }> = [];
      const { s, table } = await make({
        ...(leadMs === undefined ? {} : { leadMs }),
        run: async (j) => void fired.push({ job: j, t: Date.now() }),
      });
      const j = job(`nolead${leadMs ?? 'd'}`);
      const name = scheduleName(j, 'start');
      const at = Date.now() + 600.3;
      await s.schedule(name, at, j);
      expect(await stored(table, name)).toEqual({ at: Math.ceil(at), job: j });
      // A job that carries `at` keeps it as it is.
      const carried = { ...job(`carried${leadMs ?? 'd'}`), at: 1_700_000_000_000 };
      const carriedName = scheduleName(carried, 'start');
      await s.schedule(carriedName, Date.now() + 60_000, carried);
      expect((await stored(table, carriedName)).job).toEqual(carried);
      s.start();
      await until(() => fired.length === 1);
      expect(fired[0]?.job).toEqual(j);
      expect(fired[0]?.job).not.toHaveProperty('at');
      expect(fired[0]?.t).toBeGreaterThanOrEqual(at);
      await s.stop();
    }
  });
});

describe('the local service (no leadMs): through the port, no round sleeps for its due second', () => {
  let fired: Array<{ job: RoundJob; t: number }>;
  let due: number;
  let recheckAt: number;
  beforeAll(async () => {
    fired = [];
    const { s } = await make({ run: async (j) => void fired.push({ job: j, t: Date.now() }) });
    s.start();
    due = Date.now() + 1_500;
    const step = next.start('example.org', 'muc.remote.net', 'local', due);
    await s.schedule(scheduleName(step.job, step.tag), step.at, step.job);
    recheckAt = Date.now() + 1_200;
    const recheck = { ...job('local', 'continue'), pass: 1 };
    await s.schedule(scheduleName(recheck, 'p1'), recheckAt, recheck);
    await until(() => fired.length === 2);
  });

  it('runs a start armed by next.start LINK_LEAD_MS before the due time it carries', () => {
    const start = fired.find((f) => f.job.kind === 'start')!;
    expect(start.job.at).toBe(due);
    expect(start.t).toBeGreaterThanOrEqual(due - LINK_LEAD_MS);
    // The round waits the rest in place.
    expect(due - start.t).toBeLessThanOrEqual(IN_PLACE_MS);
  });

  it('never runs a re-check before the time it is armed for', () => {
    const again = fired.find((f) => f.job.kind === 'continue')!;
    expect(again.job.at).toBeUndefined();
    expect(again.t).toBeGreaterThanOrEqual(recheckAt);
  });
});
