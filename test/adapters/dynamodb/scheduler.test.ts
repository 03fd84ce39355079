// The local durable scheduler on a real (embedded) dynalite.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GetItemCommand, QueryCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SCHED_PK } from '../../../lib/adapters/dynamodb/keys';
import { LocalScheduler, type LocalSchedulerOptions } from '../../../lib/adapters/dynamodb/scheduler';
import { ensureTable } from '../../../lib/adapters/dynamodb/table';
import { scheduleName } from '../../../lib/domain/schedule';
import type { RoundJob } from '../../../lib/domain/model';
import { startDynalite, type RunningDynalite } from '../../support/dynalite';
import { sleep, waitFor } from '../../support/wait';

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
const logs: { msg: string; data?: object }[] = [];

function make(
  table: string,
  opts: Partial<LocalSchedulerOptions> & Pick<LocalSchedulerOptions, 'run'>,
  client: DynamoDBClient = db.client,
) {
  const s = new LocalScheduler({
    client,
    table,
    pollMs: 20,
    log: (msg, data) => logs.push({ msg, ...(data ? { data } : {}) }),
    ...opts,
  });
  schedulers.push(s);
  return s;
}

async function freshTable(client: DynamoDBClient = db.client): Promise<string> {
  const name = `sched-${++tableN}`;
  await ensureTable(client, name);
  return name;
}

async function pending(table: string, client: DynamoDBClient = db.client) {
  const r = await client.send(
    new QueryCommand({
      TableName: table,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': { S: SCHED_PK } },
    }),
  );
  return (r.Items ?? []).map((i) => ({
    name: i.sk!.S!,
    at: Number(i.at!.N),
    attempts: Number(i.attempts!.N),
    job: JSON.parse(i.job!.S!) as RoundJob,
  }));
}

beforeAll(async () => {
  db = await startDynalite();
});
afterEach(async () => {
  await Promise.all(schedulers.splice(0).map((s) => s.stop()));
  logs.length = 0;
});
afterAll(async () => {
  await db.close();
});

describe('LocalScheduler', () => {
  it('stores a job as one item keyed by its name', async () => {
    const table = await freshTable();
    const s = make(table, { run: async () => {} });
    const j = job('g1');
    const name = scheduleName(j, 'start');
    expect(await s.schedule(name, 1234.5, j)).toBe(true);
    const { Item } = await db.client.send(
      new GetItemCommand({ TableName: table, Key: { pk: { S: 'SCHED' }, sk: { S: name } } }),
    );
    expect(Item).toEqual({
      pk: { S: 'SCHED' },
      sk: { S: name },
      at: { N: '1235' },
      job: { S: JSON.stringify(j) },
      attempts: { N: '0' },
    });
    expect(Item).not.toHaveProperty('expiresAt');
  });

  it('fires each job within a second after its `at`', async () => {
    const table = await freshTable();
    const fired: { gen: string; t: number }[] = [];
    const s = make(table, { run: async (j) => void fired.push({ gen: j.gen, t: Date.now() }) });
    s.start();
    const t0 = Date.now();
    const ats = { a: t0 + 700, b: t0 + 200, c: t0 + 1200 };
    for (const [gen, at] of Object.entries(ats)) await s.schedule(scheduleName(job(gen), 'start'), at, job(gen));
    await until(() => fired.length === 3);
    expect(fired.map((f) => f.gen)).toEqual(['b', 'a', 'c']);
    for (const f of fired) {
      const at = ats[f.gen as keyof typeof ats];
      expect(f.t).toBeGreaterThanOrEqual(at);
      expect(f.t - at).toBeLessThan(1000); // poll 20 ms: seconds precision with room for a slow CI
    }
    await until(async () => (await pending(table)).length === 0); // deleted after success
  });

  it('fires a job scheduled here on its own timer without waiting for the next poll', async () => {
    const table = await freshTable();
    const fired: number[] = [];
    const s = make(table, { pollMs: 3_000, run: async () => void fired.push(Date.now()) });
    s.start();
    // Due between two polls (at about +3 s and +6 s after the start), at a fractional ms, as a
    // delay of 1.1 s is (1100.0000000000002): the table keeps it rounded up.
    const at = Date.now() + 3_500.4;
    await s.schedule(scheduleName(job('timer'), 'start'), at, job('timer'));
    await until(() => fired.length === 1, 10_000);
    expect(fired[0]).toBeGreaterThanOrEqual(at);
    expect(fired[0]! - at).toBeLessThan(1_500); // the poll would be 2.5 s late
  });

  it('holds one pending job per name', async () => {
    const table = await freshTable();
    const runs: RoundJob[] = [];
    const s = make(table, { run: async (j) => void runs.push(j) });
    const j = job('dup');
    const name = scheduleName(j, 'start');
    const at = Date.now() + 100;
    const results = await Promise.all([
      s.schedule(name, at, j),
      s.schedule(name, at, j),
      s.schedule(name, at + 5000, { ...j, gen: 'x' }),
    ]);
    expect(results.filter(Boolean)).toHaveLength(1);
    s.start();
    await until(async () => runs.length === 1 && (await pending(table)).length === 0);
    await sleep(150);
    expect(runs).toEqual([j]);
    // Like ActionAfterCompletion DELETE: once run, the name is free again.
    expect(await s.schedule(name, Date.now(), j)).toBe(true);
    await until(() => runs.length === 2);
  });

  describe('a job that fails three times', () => {
    const name = scheduleName(job('retry'), 'start');
    const times: number[] = [];
    let mid: Awaited<ReturnType<typeof pending>>;
    let failures: typeof logs;
    beforeAll(async () => {
      const table = await freshTable();
      let fail = 3;
      const s = make(table, {
        retryBaseMs: 100,
        run: async () => {
          times.push(Date.now());
          if (fail-- > 0) throw new Error('stanza API down');
        },
      });
      const j = job('retry');
      await s.schedule(name, Date.now(), j);
      s.start();
      await until(() => times.length >= 2);
      mid = await pending(table);
      // Deleted once it succeeds.
      await until(async () => times.length === 4 && (await pending(table)).length === 0, 5000);
      failures = logs.filter((l) => l.msg.includes('failed; retrying'));
    });

    it('stays pending between its attempts', () => {
      expect(mid).toHaveLength(1);
      expect(mid[0]!.attempts).toBeGreaterThanOrEqual(1);
    });

    it('is retried with doubling backoff', () => {
      const gaps = times.slice(1).map((t, i) => t - times[i]!);
      expect(gaps[0]).toBeGreaterThanOrEqual(100);
      expect(gaps[1]).toBeGreaterThanOrEqual(200);
      expect(gaps[2]).toBeGreaterThanOrEqual(400);
    });

    it('logs each failed attempt with its count', () => {
      expect(failures).toHaveLength(3);
      expect(failures.map((l) => (l.data as { attempts: number }).attempts)).toEqual([1, 2, 3]);
      expect(failures[0]!.data).toMatchObject({ name, error: 'stanza API down', retryInMs: 100 });
    });
  });

  it('caps the backoff', async () => {
    const table = await freshTable();
    let now = 1_000_000;
    const s = make(table, {
      retryBaseMs: 1000,
      retryMaxMs: 5000,
      now: () => now,
      run: async () => Promise.reject(new Error('x')),
    });
    const j = job('cap');
    await s.schedule('cap', now, j);
    s.start();
    for (const expected of [1000, 2000, 4000, 5000, 5000]) {
      const before = (await pending(table))[0]!.attempts;
      await until(async () => (await pending(table))[0]!.attempts === before + 1);
      const [p] = await pending(table);
      expect(p!.at - now).toBe(expected);
      now = p!.at; // make it due again
    }
  });

  it('survives a restart: pending jobs on disk run in a new instance', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ping-muc-sched-'));
    try {
      const first = await startDynalite({ path: dir });
      const table = await freshTable(first.client);
      const runsA: string[] = [];
      const a = make(table, { run: async (j) => void runsA.push(j.gen) }, first.client);
      a.start();
      const soon = Date.now() + 1000;
      for (const gen of ['r1', 'r2', 'r3']) await a.schedule(scheduleName(job(gen), 'start'), soon, job(gen));
      await a.stop();
      expect(runsA).toEqual([]);
      await first.close();

      const second = await startDynalite({ path: dir });
      try {
        expect((await pending(table, second.client)).map((p) => p.job.gen).sort()).toEqual(['r1', 'r2', 'r3']);
        const runsB: string[] = [];
        const b = make(table, { run: async (j) => void runsB.push(j.gen) }, second.client);
        b.start();
        await until(async () => runsB.length === 3 && (await pending(table, second.client)).length === 0);
        expect(runsB.sort()).toEqual(['r1', 'r2', 'r3']);
        expect(Date.now()).toBeGreaterThanOrEqual(soon);
        await b.stop();
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('ten due jobs at concurrency 3', () => {
    let active = 0;
    let peak = 0;
    const runs = new Map<string, number>();
    beforeAll(async () => {
      const table = await freshTable();
      const s = make(table, {
        concurrency: 3,
        run: async (j) => {
          runs.set(j.gen, (runs.get(j.gen) ?? 0) + 1);
          active++;
          peak = Math.max(peak, active);
          await sleep(150); // several polls happen meanwhile
          active--;
        },
      });
      const now = Date.now();
      for (let i = 0; i < 10; i++) await s.schedule(`c${i}`, now, job(`c${i}`));
      s.start();
      await until(async () => runs.size === 10 && active === 0 && (await pending(table)).length === 0, 10_000);
    });

    it('run at most `concurrency` at once', () => {
      expect(peak).toBe(3);
    });

    it('run once each', () => {
      expect([...runs.values()].every((n) => n === 1)).toBe(true);
    });
  });

  it('two instances on the same table do not run the same job twice', async () => {
    const table = await freshTable();
    const runs: string[] = [];
    const run = async (j: RoundJob) => {
      runs.push(j.gen);
      await sleep(50);
    };
    const a = make(table, { run });
    const b = make(table, { run });
    const now = Date.now();
    for (let i = 0; i < 8; i++) await a.schedule(`t${i}`, now, job(`t${i}`));
    a.start();
    b.start();
    await until(async () => (await pending(table)).length === 0 && a.active === 0 && b.active === 0, 10_000);
    expect(runs.sort()).toEqual(['t0', 't1', 't2', 't3', 't4', 't5', 't6', 't7']);
  });

  it('a job whose runner died runs again once its lease expires (at least once)', async () => {
    const table = await freshTable();
    let release!: () => void;
    const hung = new Promise<void>((r) => (release = r));
    const runsA: string[] = [];
    const runsB: string[] = [];
    const a = make(table, {
      leaseMs: 150,
      run: async (j) => {
        runsA.push(j.gen);
        return hung;
      },
    });
    await a.schedule('lease', Date.now(), job('lease'));
    a.start();
    await until(() => runsA.length === 1);
    // A looks dead (its run never returns). B, on the same table, takes over after the lease.
    const b = make(table, { leaseMs: 150, run: async (j) => void runsB.push(j.gen) });
    b.start();
    await sleep(50);
    expect(runsB).toEqual([]); // still leased
    await until(async () => runsB.length === 1 && (await pending(table)).length === 0);
    release();
    await a.stop();
    expect(runsA).toEqual(['lease']);
    expect(logs.some((l) => l.msg.includes('after its lease expired'))).toBe(true);
    expect(await pending(table)).toEqual([]);
  });

  describe('stop()', () => {
    let finished = false;
    let left: string[];
    beforeAll(async () => {
      const table = await freshTable();
      const s = make(table, {
        run: async () => {
          await sleep(200);
          finished = true;
        },
      });
      await s.schedule('now', Date.now(), job('now'));
      await s.schedule('later', Date.now() + 60_000, job('later'));
      s.start();
      await until(() => s.active === 1);
      await s.stop();
      left = (await pending(table)).map((p) => p.name);
    });

    it('waits for running jobs', () => {
      expect(finished).toBe(true);
    });

    it('leaves the jobs not yet due pending', () => {
      expect(left).toEqual(['later']);
    });
  });

  it('keeps a malformed stored job to retry it', async () => {
    const table = await freshTable();
    const runs: RoundJob[] = [];
    const s = make(table, { retryBaseMs: 10_000, run: async (j) => void runs.push(j) });
    await s.schedule('ok', Date.now(), job('ok'));
    const { PutItemCommand } = await import('@aws-sdk/client-dynamodb');
    await db.client.send(
      new PutItemCommand({
        TableName: table,
        Item: {
          pk: { S: 'SCHED' },
          sk: { S: 'bad' },
          at: { N: String(Date.now()) },
          job: { S: '{"host":1}' },
          attempts: { N: '0' },
        },
      }),
    );
    s.start();
    await until(
      async () => runs.length === 1 && (await pending(table)).some((p) => p.name === 'bad' && p.attempts === 1),
    );
    expect(logs.some((l) => l.msg.includes('failed; retrying') && (l.data as { name: string }).name === 'bad')).toBe(
      true,
    );
  });

  it('rejects invalid names', async () => {
    const table = await freshTable();
    const s = make(table, { run: async () => {} });
    await expect(s.schedule('a b', Date.now(), job('x'))).rejects.toThrow(/invalid schedule name/);
  });
});
