// The simulator's long run: `npm run sim -- --runs=100000 [--seed=N] [--workers=N] [--max-cmds=30] [--kinds=join,close,...] [--switches=JSON]`.
// Each worker runs its share of generated histories (fast-check, from seed + worker index) and
// goes on past a failure, counting the violations by kind; the first history of each kind is
// then shrunk and printed. Prints seed, count, time and what the histories did.
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { formatFailure, historyArb, type Shape, shrunk } from './history';
import { type History, runHistory, type SimOptions } from './world';

const arg = (name: string): string | undefined =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

const runs = Number(arg('runs') ?? 100_000);
const seed = Number(arg('seed') ?? Math.floor(Math.random() * 2 ** 31));
const workers = Number(arg('workers') ?? Math.max(1, cpus().length));
const switches = JSON.parse(arg('switches') ?? '{}') as SimOptions['switches'];
const maxCmds = Number(arg('max-cmds') ?? 30);
/** Only these commands (comma-separated, e.g. `--kinds=join,close,wait`): a narrower search. */
const only = arg('kinds')?.split(',') as Shape['kinds'];
const shape: Shape = { maxCmds, ...(only ? { kinds: only } : {}) };
const worker = arg('worker');

interface Figures {
  runs: number;
  steps: number;
  told: number;
  invocations: number;
  simHours: number;
  /** Violations by kind: how many histories, and the first one. */
  kinds: Record<string, { count: number; first: History }>;
  seed: number;
}

/** The kind of a violation: its words without times, seqs, JIDs and names. */
export function kindOf(violation: string): string {
  return violation
    .replace(/^\+[\d.]+s /, '')
    .replace(/\([^)]*\)/g, '')
    .replace(/\S+@\S+?(\/\w+)?('s)?(?=[\s)])/g, '<jid>')
    .replace(/\b(gen|as|since|pass) \S+/g, '$1 <x>')
    .replace(/[+-]?\d[\d.]*\s?[a-z]*/g, '<n>')
    .replace(/\s+/g, ' ')
    .trim();
}

async function check(seed: number, runs: number): Promise<Figures> {
  const figures: Figures = { runs: 0, steps: 0, told: 0, invocations: 0, simHours: 0, kinds: {}, seed };
  const opts: SimOptions = { requireReconciler: true, switches };
  // Generated as the pinned seeds' are (fast-check's biased generation); the property never
  // fails, so the run goes on past a violation and counts it.
  await fc.assert(
    fc.asyncProperty(historyArb(shape), async (h) => {
      const o = await runHistory(h, opts);
      figures.runs++;
      figures.steps += o.steps;
      figures.told += o.told;
      figures.invocations += o.invocations;
      figures.simHours += o.simMs / 3_600_000;
      if (o.violation !== undefined) {
        const k = (figures.kinds[kindOf(o.violation)] ??= { count: 0, first: h });
        k.count++;
      }
      return true;
    }),
    { seed, numRuns: runs },
  );
  return figures;
}

/** Shrinks a failing history (given as fast-check's example) to a minimal one of the same kind. */
async function shrink(h: History, kind: string): Promise<string> {
  const opts: SimOptions = { requireReconciler: true, switches };
  const details = await fc.check(
    fc.asyncProperty(historyArb(shape), async (x) => {
      const o = await runHistory(x, opts);
      return o.violation === undefined || kindOf(o.violation) !== kind;
    }),
    { examples: [[h]], numRuns: 1 },
  );
  const found = await shrunk(details, opts);
  return found ? formatFailure(found.history, found.outcome, 60) : '(did not fail again)';
}

if (worker !== undefined) {
  const f = await check(seed, runs);
  process.stdout.write(`${JSON.stringify(f)}\n`);
} else {
  const started = Date.now();
  const self = fileURLToPath(import.meta.url);
  const share = Math.ceil(runs / workers);
  console.log(
    `[sim] ${share * workers} histories of up to ${maxCmds} commands from seed ${seed}, ${workers} worker(s) (seeds ${seed}..${seed + workers - 1})`,
  );
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
              `--max-cmds=${maxCmds}`,
              ...(only ? [`--kinds=${only.join(',')}`] : []),
              `--switches=${JSON.stringify(switches ?? {})}`,
            ],
            { stdio: ['ignore', 'pipe', 'inherit'] },
          );
          let out = '';
          child.stdout.on('data', (d) => {
            out += d;
          });
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
  const kinds = new Map<string, { count: number; first: History }>();
  for (const r of results)
    for (const [kind, k] of Object.entries(r.kinds)) {
      const seen = kinds.get(kind);
      if (seen) seen.count += k.count;
      else kinds.set(kind, { ...k });
    }
  const failed = [...kinds.values()].reduce((a, k) => a + k.count, 0);
  console.log(`[sim] ${failed} of ${sum('runs')} histories broke an invariant, ${kinds.size} kind(s)`);
  for (const [kind, k] of [...kinds].sort((a, b) => b[1].count - a[1].count)) {
    console.log(`\n[sim] ${k.count} × ${kind}; the first, shrunk:`);
    console.log(await shrink(k.first, kind));
  }
  if (failed === 0) console.log('[sim] every invariant held');
  process.exitCode = failed ? 1 : 0;
}
