// Part 1 driver: for each N a fresh dynalite (child), seeding, then the round in a fresh worker.
import { SIZING } from '../infra/function';
import { localDynamoClient } from '../lib/adapters/dynamodb/dynalite';
import { bundleWorker } from './build';
import { forkChild, type Child } from './children';
import {
  BASELINE,
  expected,
  seedBatched,
  type CalibrationResult,
  type RoundParams,
  type RoundResult,
  type Variant,
} from './round';
import type { StubCounts } from './stanza-stub';

export interface RoundRow extends RoundResult {
  variant: Variant;
  seedMs: number;
  stub: StubCounts;
  /** CPU of the store server (dynalite) during the round, ms; the stub's is stub.cpuMs. */
  dynaliteCpuMs: number;
  /** What a correct round must have done, and whether it did. */
  expected: { pings: number; notifications: number };
  correct: boolean;
}

/**
 * The V8 heap flags Lambda's Node.js bootstrap gives a function of `memoryMb` (by third-party
 * copies of /var/runtime/bootstrap; not verifiable here): a semi-space of 5 % of the memory, the
 * old space 90 %. The round worker runs with the round function's, so that its GC is Lambda's
 * and not that of a Node process on a 24 GB machine (16 MB of semi-space).
 */
export function lambdaHeapFlags(memoryMb: number): string[] {
  return [`--max-semi-space-size=${Math.floor(memoryMb * 0.05)}`, `--max-old-space-size=${Math.floor(memoryMb * 0.9)}`];
}

export interface RoundRun {
  n: number;
  variant?: Variant;
}

export async function roundPart(
  runs: Array<number | RoundRun>,
  base: Omit<RoundParams, 'n' | 'noise'>,
  log: (s: string) => void,
  workerArgv: string[] = lambdaHeapFlags(SIZING.round.memoryMb),
): Promise<RoundRow[]> {
  const worker = await bundleWorker('round-worker.ts');
  const stub = forkChild<{ url: string }>(new URL('./stub-server.ts', import.meta.url).pathname, {
    latencyMs: base.latencyMs,
  });
  const rows: RoundRow[] = [];
  try {
    const { url } = await stub.ready;
    for (const run of runs) {
      const { n, variant = BASELINE } = typeof run === 'number' ? { n: run } : run;
      const label = `round N=${n}${variant === BASELINE ? '' : ` (store ${variant.store})`}`;
      const noise = Math.floor(n / 2);
      let dyn: Child<{ endpoint: string }> | undefined;
      try {
        let endpoint: string | undefined;
        let last = Date.now() * 1000;
        let seedMs = 0;
        if (variant.store === 'dynamodb') {
          dyn = forkChild<{ endpoint: string }>(new URL('./dynalite-server.ts', import.meta.url).pathname, {});
          ({ endpoint } = await dyn.ready);
          const client = localDynamoClient(endpoint);
          const t0 = performance.now();
          last = await seedBatched(client, { n, noise });
          seedMs = Math.round(performance.now() - t0);
          client.destroy();
          log(`${label}: seeded ${n} + ${noise} noise joins in ${seedMs} ms; running the round…`);
          await dyn.ask('cpu');
        } else {
          log(`${label}: seeding in the worker, then the round…`);
        }
        await stub.ask('reset');
        const w = forkChild<RoundResult>(
          worker,
          { ...base, n, noise, endpoint, stubUrl: url, closeSeq: last + 1, variant },
          { execArgv: workerArgv },
        );
        const result = await w.ready;
        await w.exited; // (exits by itself: lets --cpu-prof write its profile)
        const counts = await stub.ask<StubCounts>('counts');
        const dynaliteCpuMs = dyn ? (await dyn.ask<{ cpuMs: number }>('cpu')).cpuMs : 0;
        const exp = expected(n);
        const correct =
          counts.pings === exp.pings &&
          counts.notifications === exp.notifications &&
          counts.duplicatePings === 0 &&
          counts.duplicateNotifications === 0 &&
          result.schedules === 1;
        rows.push({
          ...result,
          variant,
          seedMs,
          stub: counts,
          dynaliteCpuMs,
          expected: { pings: exp.pings, notifications: exp.notifications },
          correct,
        });
        log(
          `${label}: ${result.wallMs} ms, efficiency ${result.efficiency}, peak RSS ${result.peakRssMb} MB${correct ? '' : ' (INCORRECT: see JSON)'}`,
        );
      } finally {
        await dyn?.stop();
      }
    }
  } finally {
    await stub.stop();
  }
  return rows;
}

/** The transport ceiling (see calibrate in bench/round.ts), in a fresh worker. */
export async function calibrationPart(
  n: number,
  base: Omit<RoundParams, 'n' | 'noise'>,
  log: (s: string) => void,
): Promise<CalibrationResult[]> {
  const worker = await bundleWorker('round-worker.ts');
  const stub = forkChild<{ url: string }>(new URL('./stub-server.ts', import.meta.url).pathname, {
    latencyMs: base.latencyMs,
  });
  const rows: CalibrationResult[] = [];
  try {
    const { url } = await stub.ready;
    const w = forkChild<CalibrationResult>(worker, {
      ...base,
      n,
      noise: 0,
      stubUrl: url,
      closeSeq: 0,
      variant: { store: 'memory' },
      calibrate: true,
    });
    const r = await w.ready;
    await w.exited;
    rows.push(r);
    log(
      `calibration (no round logic): ${n} pings in ${r.wallMs} ms, efficiency ${r.efficiency}, RTT mean ${r.rtt.mean} ms`,
    );
  } finally {
    await stub.stop();
  }
  return rows;
}
