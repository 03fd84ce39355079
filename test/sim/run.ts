// The simulator's long run: `npm run sim -- --runs=100000 [--seed=N] [--workers=N] [--switches=JSON]`.
// Each worker checks its share of generated histories from its own seed (seed + worker index);
// the first failure is shrunk and printed. Prints seed, count, time and what the histories did.
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { formatFailure, historyArb, shrunk } from './history';
import { runHistory, type SimOptions } from './world';

const arg = (name: string): string | undefined =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

const runs = Number(arg('runs') ?? 100_000);
const seed = Number(arg('seed') ?? Math.floor(Math.random() * 2 ** 31));
const workers = Number(arg('workers') ?? Math.max(1, cpus().length));
const switches = JSON.parse(arg('switches') ?? '{}') as SimOptions['switches'];
const worker = arg('worker');

interface Figures {
  runs: number;
  steps: number;
  told: number;
  invocations: number;
  simHours: number;
  failed?: string;
  seed: number;
}

async function check(seed: number, runs: number): Promise<Figures> {
  const figures: Figures = { runs: 0, steps: 0, told: 0, invocations: 0, simHours: 0, seed };
  const opts: SimOptions = { requireReconciler: true, switches };
  const details = await fc.check(
    fc.asyncProperty(historyArb(), async (h) => {
      const o = await runHistory(h, opts);
      figures.runs++;
      figures.steps += o.steps;
      figures.told += o.told;
      figures.invocations += o.invocations;
      figures.simHours += o.simMs / 3_600_000;
      return o.violation === undefined;
    }),
    { seed, numRuns: runs },
  );
  const found = await shrunk(details, opts);
  if (found) figures.failed = formatFailure(found.history, found.outcome, 120);
  figures.runs = details.numRuns;
  return figures;
}

if (worker !== undefined) {
  const f = await check(seed, runs);
  process.stdout.write(`${JSON.stringify(f)}\n`);
} else {
  const started = Date.now();
  const self = fileURLToPath(import.meta.url);
  const share = Math.ceil(runs / workers);
  console.log(`[sim] ${runs} histories from seed ${seed}, ${workers} worker(s) (seeds ${seed}..${seed + workers - 1})`);
  const results = await Promise.all(
    Array.from(
      { length: workers },
      (_, i) =>
        new Promise<Figures>((resolve, reject) => {
          const child = spawn(
            process.execPath,
            [
              ...process.execArgv,
              self,
              `--worker=${i}`,
              `--seed=${seed + i}`,
              `--runs=${share}`,
              `--switches=${JSON.stringify(switches ?? {})}`,
            ],
            { stdio: ['ignore', 'pipe', 'inherit'] },
          );
          let out = '';
          child.stdout.on('data', (d) => (out += d));
          child.on('exit', (code) => {
            const line = out.trim().split('\n').at(-1) ?? '';
            try {
              resolve(JSON.parse(line) as Figures);
            } catch {
              reject(new Error(`worker ${i} exited ${code}: ${out.slice(-2000)}`));
            }
          });
        }),
    ),
  );
  const seconds = (Date.now() - started) / 1000;
  const sum = (k: 'runs' | 'steps' | 'told' | 'invocations' | 'simHours') => results.reduce((a, r) => a + r[k], 0);
  console.log(
    `[sim] ${sum('runs')} histories in ${seconds.toFixed(1)} s (${(sum('runs') / seconds).toFixed(0)}/s): ` +
      `${sum('steps')} simulated steps, ${sum('invocations')} round invocations, ${sum('told')} ghosts told, ` +
      `${sum('simHours').toFixed(0)} simulated hours`,
  );
  const failed = results.filter((r) => r.failed);
  for (const r of failed)
    console.log(`[sim] worker seed ${r.seed} (replay: --seed=${r.seed} --workers=1):\n${r.failed}`);
  if (failed.length === 0) console.log('[sim] every invariant held');
  process.exitCode = failed.length ? 1 : 0;
}
