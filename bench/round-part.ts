// Part 1 driver: for each N a fresh dynalite (child), seeding, then the round in a fresh worker.
import { localDynamoClient } from '../lib/adapters/dynalite';
import { bundleWorker } from './build';
import { forkChild } from './children';
import { expected, seedBatched, type RoundParams, type RoundResult } from './round';
import type { StubCounts } from './stanza-stub';

export interface RoundRow extends RoundResult {
  seedMs: number;
  stub: StubCounts;
  /** CPU of the store server (dynalite) during the round, ms; the stub's is stub.cpuMs. */
  dynaliteCpuMs: number;
  /** What a correct round must have done, and whether it did. */
  expected: { pings: number; notifications: number };
  correct: boolean;
}

export async function roundPart(sizes: number[], base: Omit<RoundParams, 'n' | 'noise'>, log: (s: string) => void, workerArgv: string[] = []): Promise<RoundRow[]> {
  const worker = await bundleWorker('round-worker.ts');
  const stub = forkChild<{ url: string }>(new URL('./stub-server.ts', import.meta.url).pathname, { latencyMs: base.latencyMs });
  const rows: RoundRow[] = [];
  try {
    const { url } = await stub.ready;
    for (const n of sizes) {
      const noise = Math.floor(n / 2);
      const dyn = forkChild<{ endpoint: string }>(new URL('./dynalite-server.ts', import.meta.url).pathname, {});
      try {
        const { endpoint } = await dyn.ready;
        const client = localDynamoClient(endpoint);
        const t0 = performance.now();
        const last = await seedBatched(client, { n, noise });
        const seedMs = Math.round(performance.now() - t0);
        client.destroy();
        log(`round N=${n}: seeded ${n} + ${noise} noise joins in ${seedMs} ms; running the round…`);
        await stub.ask('reset');
        await dyn.ask('cpu');
        const w = forkChild<RoundResult>(worker, { ...base, n, noise, endpoint, stubUrl: url, closeSeq: last + 1 }, { execArgv: workerArgv });
        const result = await w.ready;
        await w.exited; // (exits by itself: lets --cpu-prof write its profile)
        const counts = await stub.ask<StubCounts>('counts');
        const { cpuMs: dynaliteCpuMs } = await dyn.ask<{ cpuMs: number }>('cpu');
        const exp = expected(n);
        const correct = counts.pings === exp.pings && counts.notifications === exp.notifications && counts.duplicatePings === 0 && counts.duplicateNotifications === 0 && result.schedules === 1;
        rows.push({ ...result, seedMs, stub: counts, dynaliteCpuMs, expected: { pings: exp.pings, notifications: exp.notifications }, correct });
        log(`round N=${n}: ${result.wallMs} ms, efficiency ${result.efficiency}, peak RSS ${result.peakRssMb} MB${correct ? '' : ' (INCORRECT: see JSON)'}`);
      } finally {
        await dyn.stop();
      }
    }
  } finally {
    await stub.stop();
  }
  return rows;
}
