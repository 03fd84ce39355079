// npm run bench [-- --full] [-- --only=round,ingest,cold,e2e,host-start] [-- --latency=20 --concurrency=32 --batch=100]
// Quick mode (default): round at N = 1,000 and 10,000, ingest, cold start, e2e with M = 100.
// --full: round also at N = 100,000, more ingest events, e2e with M = 500 and M = 1,000.
// host-start (only when asked): the stale-join benchmark, 0, 20,000 and 100,000 stale joins of an
// older epoch beside 200 live ones (bench/host-start.ts).
// e2e runs the variants ping-muc and debian-mod_ping_muc at each M; BENCH_E2E_VARIANTS
// (comma-separated) runs only those named.
// Issue 11's targets (bench/heal-targets.ts): --full --latency=50 --batch=100 (the 100,000-join
// round at L = 50 ms, and the e2e rows of ping-muc beside Debian's mod_ping_muc).
// --only=cost: the monthly AWS bill of issue 19's scenarios (a) and (b) (bench/cost/part.ts).
// Scale (issue 19 item 6): --only=scale runs scale-ingest (1,000,000 joins of 100 hosts into
// dynalite), scale-round (the 100,000-join round) and scale-e2e (M = 2,000 and 5,000 lost joins,
// ping-muc beside Debian's mod_ping_muc); each also alone. Sizes: --scale-joins, --scale-hosts,
// --scale-round-n, --scale-m=2000,5000; with a scale part L defaults to 50 ms.
// Prints the tables and writes bench/results/bench-<time>.json (+ latest.json, latest.md).
import { execSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BUNDLE_BUDGET_BYTES } from '../infra/bundling';
import { ENV, loadConfig } from '../lib/support/config';
import { RESULTS_DIR } from './children';
import { coldStartPart, type ColdRow } from './cold-start';
import { type CostResult, costPart, costTargets, renderCost } from './cost/part';
import type { E2eResult } from './e2e';
import { healTargets, type Target } from './heal-targets';
import { renderStaleJoins, type StaleJoinRow } from './host-start';
import type { IngestResult } from './ingest';
import { ingestPart } from './ingest-part';
import type { ScaleIngestResult } from './ingest-scale';
import { calibrationPart, roundPart, type RoundRow } from './round-part';
import type { CalibrationResult } from './round';
import { markdown, table, type Cell } from './table';

export interface Options {
  full: boolean;
  parts: Set<string>;
  latencyMs: number;
  concurrency: number;
  /** Stanza API batch size of the round part (the service's default unless --batch). */
  batch: number;
  coldRuns: number;
  /** N of the ablation runs (what limits the round): transport ceiling and round variants. */
  ablationN: number;
  scale: ScaleOptions;
}

export interface ScaleOptions {
  /** Joins ingested, and the hosts they belong to. */
  joins: number;
  hosts: number;
  /** N of the scale round. */
  roundN: number;
  /** M of the scale e2e runs. */
  ms: number[];
}

export const SCALE_PARTS = ['scale-ingest', 'scale-round', 'scale-e2e'];

export function parseArgs(argv: string[]): Options {
  const get = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const known = [
    '--full',
    '--only',
    '--latency',
    '--concurrency',
    '--batch',
    '--cold-runs',
    '--ablation-n',
    '--scale-joins',
    '--scale-hosts',
    '--scale-round-n',
    '--scale-m',
  ];
  for (const a of argv)
    if (!known.some((k) => a === k || a.startsWith(`${k}=`)))
      throw new Error(`unknown argument ${a}; known: ${known.join(' ')}`);
  const full = argv.includes('--full');
  // As the service: its batch size, ten batches in flight unless --concurrency says otherwise.
  const config = loadConfig({
    ...(get('batch') ? { [ENV.apiBatch]: get('batch') } : {}),
    ...(get('concurrency') ? { [ENV.concurrency]: get('concurrency') } : {}),
  });
  const { concurrency, apiBatch: batch } = config;
  const parts = new Set(
    (get('only') ?? 'round,ablation,ingest,cold,e2e').split(',').flatMap((p) => (p === 'scale' ? SCALE_PARTS : [p])),
  );
  const scaled = SCALE_PARTS.some((p) => parts.has(p));
  return {
    full,
    parts,
    ablationN: Number(get('ablation-n') ?? 10_000),
    // Issue 19's round is at L = 50 ms.
    latencyMs: Number(get('latency') ?? (scaled ? 50 : 20)),
    concurrency,
    batch,
    coldRuns: Number(get('cold-runs') ?? 9),
    scale: {
      joins: Number(get('scale-joins') ?? 1_000_000),
      hosts: Number(get('scale-hosts') ?? 100),
      roundN: Number(get('scale-round-n') ?? 100_000),
      ms: (get('scale-m') ?? '2000,5000').split(',').map(Number),
    },
  };
}

function sh(cmd: string): string {
  try {
    return execSync(cmd, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '(unavailable)';
  }
}

export function machine() {
  const cpuinfo = (() => {
    try {
      return readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return '';
    }
  })();
  return {
    date: new Date().toISOString(),
    commit: sh('git rev-parse --short HEAD'),
    nproc: sh('nproc'),
    cpuModel: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? '?',
    memory: sh('free -h').split('\n')[1]?.replace(/\s+/g, ' ') ?? '?',
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    /** Load average at the start: other work on the machine skews every figure. */
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

export function targets(round: RoundRow[], ingest: IngestResult[], cold: ColdRow[], full: boolean): Target[] {
  const t: Target[] = [];
  for (const n of [10_000, 100_000]) {
    const r = round.find((x) => x.n === n);
    t.push({
      target: `round efficiency ≥ 0.8 at N=${n.toLocaleString('en')}`,
      measured: r ? String(r.efficiency) : n === 100_000 && !full ? 'not run (quick mode; use --full)' : 'not run',
      met: r ? r.efficiency >= 0.8 : undefined,
    });
  }
  const big = round.find((x) => x.n === 100_000);
  t.push({
    target: 'peak RSS ≤ 256 MB at N=100,000',
    measured: big ? `${big.peakRssMb} MB` : full ? 'not run' : 'not run (quick mode; use --full)',
    met: big ? big.peakRssMb <= 256 : undefined,
  });
  if (round.length) {
    t.push({
      target: '1 schedule per round',
      measured: round.map((r) => `${r.schedules} (N=${r.n})`).join(', '),
      met: round.every((r) => r.schedules === 1),
    });
    t.push({
      target: 'round correct (every join pinged once, every gone user notified once)',
      measured: round.map((r) => `${r.correct ? 'yes' : 'NO'} (N=${r.n})`).join(', '),
      met: round.every((r) => r.correct),
    });
  }
  for (const i of ingest.filter((x) => x.setup === 'memory')) {
    t.push({
      target: `ingest ≤ 0.3 ms CPU/event (store I/O out, batch ${i.batch})`,
      measured: `${i.cpuMsPerEvent} ms`,
      met: i.cpuMsPerEvent <= 0.3,
    });
  }
  for (const fn of ['events', 'round']) {
    const rows = cold.filter((c) => c.fn === fn);
    const first = rows[0];
    if (!first) continue;
    t.push({
      target: `${fn} bundle ≤ 250 KB`,
      measured: `${(first.bytes / 1024).toFixed(1)} KB`,
      met: first.bytes <= BUNDLE_BUDGET_BYTES,
    });
    for (const r of rows)
      t.push({ target: `${fn} cold start ≤ 150 ms: ${r.call}`, measured: `${r.totalMs} ms`, met: r.totalMs <= 150 });
  }
  return t;
}

/** Issue 19's done-when: ping-muc tells every lost join once (and none twice, none never). */
export function scaleTargets(rows: E2eResult[]): Target[] {
  return rows
    .filter((r) => r.variant === 'ping-muc')
    .map((r) => ({
      target: `e2e M = ${r.m.toLocaleString('en')}: ping-muc tells every lost join once`,
      measured: `once ${r.told.once}, twice ${r.told.twice}, more ${r.told.more}, never ${r.told.never}; ${r.leakedReplies} replies leaked`,
      met: r.told.once === r.m && r.leakedReplies === 0,
    }));
}

export function render(results: Results, md: boolean): string {
  const tab = md ? markdown : table;
  const out: string[] = [];
  const h = (s: string) => out.push(md ? `\n#### ${s}\n` : `\n== ${s} ==`);
  if (results.round.length) {
    h(
      `Round fan-out (C=${results.options.concurrency}, L=${results.options.latencyMs} ms, noise = N/2 joins on 3 other remote domains)`,
    );
    out.push(
      tab(
        [
          'N',
          'wall s',
          'ideal N·L/C s',
          'efficiency',
          'eff. incl. notifications',
          'pings/s',
          'API RTT mean/p99 ms',
          'in flight (of C)',
          'round CPU s',
          'stub CPU s',
          'dynalite CPU s',
          'peak RSS MB',
          'DynamoDB req/join',
          'HTTP req/join',
          'schedules',
          'correct',
        ],
        results.round.map((r): Cell[] => [
          r.n.toLocaleString('en'),
          (r.wallMs / 1000).toFixed(2),
          (r.idealMs / 1000).toFixed(2),
          r.efficiency,
          r.efficiencyAllRequests,
          r.pingsPerSec,
          `${r.rtt.mean}/${r.rtt.p99}`,
          r.meanInFlight,
          (r.cpuMs / 1000).toFixed(2),
          (r.stub.cpuMs / 1000).toFixed(2),
          (r.dynaliteCpuMs / 1000).toFixed(2),
          r.peakRssMb,
          r.dynamoPerJoin,
          r.httpPerJoin,
          r.schedules,
          r.correct,
        ]),
      ),
    );
  }
  const { calibration, variants } = results.ablation;
  if (calibration.length || variants.length) {
    const baseline = results.round.find((r) => r.n === variants[0]?.n);
    h(
      `What limits the round (N=${(variants[0]?.n ?? calibration[0]?.n ?? 0).toLocaleString('en')}): transport ceiling without any round logic, and the round with its store swapped`,
    );
    out.push(
      tab(
        [
          'run',
          'API client',
          'store',
          'wall s',
          'efficiency',
          'eff. incl. notifications',
          'API RTT mean/p99 ms',
          'in flight (of C)',
          'process CPU s',
          'peak RSS MB',
        ],
        [
          ...calibration.map((c): Cell[] => [
            'ceiling: C loops of pings, no round',
            'lib (node:http)',
            '-',
            (c.wallMs / 1000).toFixed(2),
            c.efficiency,
            '',
            `${c.rtt.mean}/${c.rtt.p99}`,
            '',
            (c.cpuMs / 1000).toFixed(2),
            '',
          ]),
          ...[...(baseline ? [baseline] : []), ...variants].map((r): Cell[] => [
            r === baseline ? 'round (as shipped, = table above)' : 'round',
            'lib (node:http)',
            r.variant.store === 'dynamodb' ? 'DynamoDB (dynalite)' : 'in-memory (bench)',
            (r.wallMs / 1000).toFixed(2),
            r.efficiency,
            r.efficiencyAllRequests,
            `${r.rtt.mean}/${r.rtt.p99}`,
            r.meanInFlight,
            (r.cpuMs / 1000).toFixed(2),
            r.variant.store === 'memory' ? `${r.peakRssMb} (incl. the joins)` : r.peakRssMb,
          ]),
        ],
      ),
    );
  }
  if (results.ingest.length) {
    h('Ingest (signed join/leave events through the events handler, one request at a time)');
    out.push(
      tab(
        ['store', 'events/request', 'events', 'events/s', 'CPU ms/event', 'CPU ms/request'],
        results.ingest.map((r): Cell[] => [
          r.setup,
          r.batch,
          r.events,
          r.eventsPerSec,
          r.cpuMsPerEvent,
          Math.round((r.cpuMs / r.requests) * 100) / 100,
        ]),
      ),
    );
  }
  if (results.cold.length) {
    h(
      `Cold start (a fresh node process per run, under Node 20 and Node 22: each row names its runtime; median of ${results.cold[0]?.runs} runs)`,
    );
    out.push(
      tab(
        [
          'function',
          'first call',
          'bundle KB',
          'import ms',
          'first call ms',
          'import + call ms',
          'min import + call ms',
          'from process start ms',
        ],
        results.cold.map((r): Cell[] => [
          r.fn,
          r.call,
          (r.bytes / 1024).toFixed(1),
          r.importMs,
          r.callMs,
          r.totalMs,
          r.minTotalMs,
          r.sinceProcessStartMs,
        ]),
      ),
    );
  }
  if (results.cost) {
    h('Cost a month on AWS (issue 19 scenarios)');
    out.push(renderCost(results.cost, md));
  }
  if (results.staleJoins?.length) {
    h('Stale joins (an older epoch) beside 200 live ones on one remote, delay 1 s, dynalite');
    out.push(renderStaleJoins(results.staleJoins, md));
  }
  if (results.e2e) {
    h('End to end on the real testbed');
    out.push(results.e2e.rendered(md));
  }
  const scale = results.scale ?? { round: [] };
  if (scale.ingest) {
    const i = scale.ingest;
    h(
      `Scale: ingest of ${i.joins.toLocaleString('en')} joins of ${i.hosts} hosts into DynamoStore on dynalite (child process), ${i.batch} events/request, ${i.concurrency} requests in flight`,
    );
    out.push(
      tab(
        [
          'joins',
          'hosts',
          'wall s',
          'events/s',
          'events/s by tenth',
          'CPU s handler / store',
          'handler CPU ms/event',
          'store peak RSS MB',
          'sample found',
        ],
        [
          [
            i.joins.toLocaleString('en'),
            i.hosts,
            (i.wallMs / 1000).toFixed(1),
            i.eventsPerSec,
            i.tenths.join(' '),
            `${(i.cpuMs.handler / 1000).toFixed(1)} / ${(i.cpuMs.store / 1000).toFixed(1)}`,
            i.handlerCpuMsPerEvent,
            i.storePeakRssMb,
            `${i.verified.found}/${i.verified.expected} (${i.verified.pairs} host-remote pairs)`,
          ],
        ],
      ),
    );
  }
  if (scale.round.length) {
    h(
      `Scale: round (C=${results.options.concurrency}, L=${results.options.latencyMs} ms, batch ${results.options.batch})`,
    );
    out.push(
      tab(
        [
          'N',
          'wall s',
          'ideal N·L/C s',
          'efficiency',
          'pings/s',
          'round CPU s',
          'dynalite CPU s',
          'peak RSS MB',
          'correct',
        ],
        scale.round.map((r): Cell[] => [
          r.n.toLocaleString('en'),
          (r.wallMs / 1000).toFixed(2),
          (r.idealMs / 1000).toFixed(2),
          r.efficiency,
          r.pingsPerSec,
          (r.cpuMs / 1000).toFixed(2),
          (r.dynaliteCpuMs / 1000).toFixed(2),
          r.peakRssMb,
          r.correct,
        ]),
      ),
    );
  }
  if (scale.e2e) {
    h("Scale: lost joins on the real testbed, ping-muc beside Debian's mod_ping_muc");
    out.push(scale.e2e.rendered(md));
  }
  h('Targets');
  out.push(
    tab(
      ['target', 'measured', 'met'],
      results.targets.map((t): Cell[] => [t.target, t.measured, t.met === undefined ? 'not measured' : t.met]),
    ),
  );
  return out.join('\n');
}

export interface Results {
  machine: ReturnType<typeof machine>;
  options: Omit<Options, 'parts' | 'scale'> & { parts: string[]; scale?: ScaleOptions };
  round: RoundRow[];
  /** What limits the round: the transport's ceiling, and the round with one part swapped out. */
  ablation: { calibration: CalibrationResult[]; variants: RoundRow[] };
  ingest: IngestResult[];
  cold: ColdRow[];
  cost?: CostResult;
  /** The stale-join benchmark (--only=host-start). */
  staleJoins?: StaleJoinRow[];
  e2e?: { rows: E2eResult[] | { measured: false; reason: string }; rendered(md: boolean): string };
  scale?: {
    ingest?: ScaleIngestResult;
    round: RoundRow[];
    e2e?: { rows: E2eResult[] | { measured: false; reason: string }; rendered(md: boolean): string };
  };
  targets: Target[];
  totalSeconds: number;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const t0 = performance.now();
  const log = (s: string) =>
    process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(0).padStart(3)}s] ${s}\n`);
  const scale: NonNullable<Results['scale']> = { round: [] };
  const results: Results = {
    machine: machine(),
    options: { ...opts, parts: [...opts.parts] },
    round: [],
    ablation: { calibration: [], variants: [] },
    ingest: [],
    cold: [],
    scale,
    targets: [],
    totalSeconds: 0,
  };
  log(`${opts.full ? 'full' : 'quick'} mode: ${[...opts.parts].join(', ')}`);
  if (opts.parts.has('round')) {
    const sizes = opts.full ? [1_000, 10_000, 100_000] : [1_000, 10_000];
    results.round = await roundPart(
      sizes,
      { concurrency: opts.concurrency, latencyMs: opts.latencyMs, batch: opts.batch },
      log,
    );
  }
  if (opts.parts.has('ablation')) {
    const base = { concurrency: opts.concurrency, latencyMs: opts.latencyMs };
    results.ablation.calibration = await calibrationPart(opts.ablationN, base, log);
    const n = opts.ablationN;
    results.ablation.variants = await roundPart([{ n, variant: { store: 'memory' } }], base, log);
  }
  if (opts.parts.has('ingest')) results.ingest = await ingestPart(opts.full ? 20_000 : 5_000, log);
  if (opts.parts.has('cold')) results.cold = await coldStartPart(opts.coldRuns, log);
  if (opts.parts.has('cost')) results.cost = await costPart(log);
  if (opts.parts.has('host-start')) {
    const { staleJoinPart } = await import('./host-start');
    results.staleJoins = await staleJoinPart([0, 20_000, 100_000], log);
  }
  if (opts.parts.has('e2e')) {
    const { e2ePart } = await import('./e2e-part');
    results.e2e = await e2ePart(opts.full ? [500, 1_000] : [100], log);
  }
  if (opts.parts.has('scale-ingest')) {
    const { scaleIngest } = await import('./ingest-scale');
    scale.ingest = await scaleIngest({ joins: opts.scale.joins, hosts: opts.scale.hosts }, log);
  }
  if (opts.parts.has('scale-round'))
    scale.round = await roundPart(
      [opts.scale.roundN],
      { concurrency: opts.concurrency, latencyMs: opts.latencyMs, batch: opts.batch },
      log,
    );
  if (opts.parts.has('scale-e2e')) {
    const { e2ePart } = await import('./e2e-part');
    scale.e2e = await e2ePart(opts.scale.ms, log);
  }
  const e2eRows = [results.e2e?.rows, scale.e2e?.rows].flatMap((r) => (Array.isArray(r) ? r : []));
  results.targets = [
    ...targets(results.round, results.ingest, results.cold, opts.full),
    ...healTargets([...results.round, ...scale.round], e2eRows.length ? e2eRows : undefined, opts.latencyMs),
    ...scaleTargets(Array.isArray(scale.e2e?.rows) ? scale.e2e.rows : []),
    ...(results.cost ? costTargets(results.cost) : []),
  ];
  results.totalSeconds = Math.round((performance.now() - t0) / 1000);
  console.log(`ping-muc benchmarks, ${opts.full ? 'full' : 'quick'} mode, ${results.machine.date}`);
  console.log(
    `machine: ${results.machine.nproc} CPUs (${results.machine.cpuModel}), memory ${results.machine.memory}, node ${results.machine.node}, commit ${results.machine.commit}, load average at start ${results.machine.loadavg.join(' ')}`,
  );
  console.log(render(results, false));
  console.log(`\ntotal ${results.totalSeconds} s`);
  mkdirSync(RESULTS_DIR, { recursive: true });
  const stamp = results.machine.date.replace(/[:.]/g, '-');
  const json = JSON.stringify(
    { ...results, e2e: results.e2e?.rows, scale: { ...results.scale, e2e: scale.e2e?.rows } },
    null,
    2,
  );
  writeFileSync(path.join(RESULTS_DIR, `bench-${stamp}.json`), json);
  writeFileSync(path.join(RESULTS_DIR, 'latest.json'), json);
  writeFileSync(path.join(RESULTS_DIR, 'latest.md'), render(results, true) + '\n');
  log(`results: bench/results/bench-${stamp}.json (and latest.json, latest.md)`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
