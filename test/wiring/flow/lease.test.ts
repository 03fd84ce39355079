// At-least-once delivery: two invocations of the same round job at once ping each join once; the
// one that finds the round's lease taken does nothing (the holder runs the round).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startDynalite, type RunningDynalite } from '../../../lib/adapters/dynamodb/dynalite';
import { ensureTable } from '../../../lib/adapters/dynamodb/table';
import { DynamoStore } from '../../../lib/adapters/dynamodb/store';
import { HttpStanzaApi } from '../../../lib/adapters/stanza-api/client';
import { loadConfig } from '../../../lib/support/config';
import { systemClock } from '../../../lib/support/clock';
import { linkClosed } from '../../../lib/app/link';
import { runRound, type RoundDeps } from '../../../lib/app/round';
import { createLogger, Metrics } from '../../../lib/support/observability';
import { secretKey } from '../../../lib/domain/signature';
import type { RoundJob } from '../../../lib/domain/model';
import type { Scheduler } from '../../../lib/ports';
import { startStanzaApiStub, type StanzaApiStub } from '../../../harness/stanza-api-stub';
import { API_SECRET } from '../../support/service';

let dynalite: RunningDynalite;
let stub: StanzaApiStub;
beforeAll(async () => {
  dynalite = await startDynalite();
  await ensureTable(dynalite.client, 'lease');
  stub = await startStanzaApiStub(API_SECRET, { latencyMs: 5 });
});
afterAll(async () => {
  await stub.close();
  await dynalite.close();
});

it('a duplicate invocation does nothing while the round is busy', async () => {
  const store = new DynamoStore({ client: dynalite.client, table: 'lease' });
  const scheduled: Array<{ name: string; at: number; job: RoundJob }> = [];
  const scheduler: Scheduler = {
    schedule: async (name, at, job) => {
      scheduled.push({ name, at, job });
      return true;
    },
  };
  const config = loadConfig({ PING_MUC_DELAY_SECONDS: '0', PING_MUC_CONCURRENCY: '2', PING_MUC_API_URL: stub.url });
  const deps: RoundDeps = {
    joins: store,
    rounds: store,
    clock: systemClock,
    scheduler,
    config,
    api: new HttpStanzaApi({ url: stub.url, key: secretKey(API_SECRET), timeoutMs: 2000 }),
    log: createLogger('test', 'error', () => undefined),
    metrics: new Metrics('Test', () => undefined),
  };
  for (let i = 0; i < 20; i++) {
    await store.putJoin(
      {
        host: 'a.example',
        user: `u${i}@a.example/r`,
        room: `r${i}@muc.b.example`,
        nick: `n${i}`,
        remote: 'muc.b.example',
        seq: 10 + i,
      },
      2e9,
    );
  }
  await linkClosed(deps, 'a.example', 'muc.b.example', 100);
  const start = scheduled[0]!.job;

  await Promise.all([runRound(deps, start, () => Infinity), runRound(deps, start, () => Infinity)]);
  expect(stub.pings).toHaveLength(20);
  expect(new Set(stub.pings.map((p) => p.user)).size).toBe(20);
  expect(scheduled.map((s) => s.job.kind)).toEqual(['start']); // no come-back
  const [round] = await store.roundsOf('a.example', 'muc.b.example');
  expect([round!.state, round!.due]).toEqual(['done', undefined]);
  // A late duplicate finds the round done: nothing more.
  await runRound(deps, start, () => Infinity);
  expect(stub.pings).toHaveLength(20);
});
