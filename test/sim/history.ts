// Histories as fast-check arbitraries, and the shrunk counterexample printed for people.
// A history is a list of commands (./world.ts Cmd) and five fault tapes; fast-check shrinks both:
// fewer, simpler commands, and tapes towards 0 (no fault), so what is printed is a minimal story.
import fc from 'fast-check';
import { type Cmd, describeCmd, type Faults, type History, type Outcome, runHistory, type SimOptions } from './world';

const user = fc.integer({ min: 0, max: 2 });
const room = fc.integer({ min: 0, max: 2 });
const remote = fc.integer({ min: 0, max: 1 });

/** The commands a history is made of, by kind, with their weights. */
const commands: Record<Cmd['c'], { weight: number; arbitrary: fc.Arbitrary<Cmd> }> = {
  join: { weight: 30, arbitrary: fc.record({ c: fc.constant('join' as const), user, room, alt: fc.boolean() }) },
  leave: { weight: 4, arbitrary: fc.record({ c: fc.constant('leave' as const), user, room }) },
  end: { weight: 3, arbitrary: fc.record({ c: fc.constant('end' as const), user }) },
  wait: {
    weight: 25,
    arbitrary: fc.record({
      c: fc.constant('wait' as const),
      ms: fc.constantFrom(200, 2_000, 10_000, 30_000, 58_000, 61_000, 120_000, 300_000),
    }),
  },
  close: {
    weight: 12,
    arbitrary: fc.record({ c: fc.constant('close' as const), remote, lose: fc.integer({ min: 0, max: 7 }) }),
  },
  'muc-restart': {
    weight: 5,
    arbitrary: fc.record({
      c: fc.constant('muc-restart' as const),
      remote,
      kill: fc.boolean(),
      downMs: fc.constantFrom(0, 30_000, 200_000),
    }),
  },
  up: { weight: 3, arbitrary: fc.record({ c: fc.constant('up' as const), remote }) },
  reload: { weight: 4, arbitrary: fc.record({ c: fc.constant('reload' as const) }) },
  restart: { weight: 3, arbitrary: fc.record({ c: fc.constant('restart' as const), kill: fc.boolean() }) },
  // Within the 300 s the service accepts: a clock further ahead has its events refused.
  skew: {
    weight: 3,
    arbitrary: fc.record({ c: fc.constant('skew' as const), ms: fc.constantFrom(0, -60_000, 200_000, 240_000) }),
  },
};

export const cmdArb = (kinds: Array<Cmd['c']> = Object.keys(commands) as Array<Cmd['c']>): fc.Arbitrary<Cmd> =>
  fc.oneof(...kinds.map((k) => commands[k]));

const tape = (max: number) => fc.array(fc.integer({ min: 0, max: 99 }), { maxLength: max, size: 'max' });

const FAULT_KINDS = ['store', 'sched', 'api', 'post', 'inv'] as const;

/** The fault tapes; kinds left out stay empty (no such fault). */
export const faultsArb = (kinds: ReadonlyArray<keyof Faults> = FAULT_KINDS): fc.Arbitrary<Faults> => {
  const arb = (k: keyof Faults, length: number): fc.Arbitrary<number[]> =>
    kinds.includes(k) ? tape(length) : fc.constant<number[]>([]);
  return fc.record({
    store: arb('store', 80),
    sched: arb('sched', 40),
    api: arb('api', 40),
    post: arb('post', 20),
    inv: arb('inv', 20),
  });
};

/** What histories are made of: every command and fault kind unless narrowed. */
export interface Shape {
  maxCmds?: number;
  kinds?: Array<Cmd['c']>;
  faults?: Array<keyof Faults>;
}

export const historyArb = (shape: Shape = {}): fc.Arbitrary<History> =>
  fc.record({
    seed: fc.integer({ min: 0, max: 0x7fffffff }),
    cmds: fc.array(cmdArb(shape.kinds), { minLength: 1, maxLength: shape.maxCmds ?? 30, size: 'max' }),
    faults: faultsArb(shape.faults),
    storeLatency: fc.boolean(),
  });

/** The faults a tape holds, for the printout (0 is none; shrinking removes the rest). */
function describeFaults(f: Faults): string {
  const parts = Object.entries(f)
    .map(([k, v]) => [k, (v as number[]).map((x, i) => [i, x] as const).filter(([, x]) => x >= 90)] as const)
    .filter(([, v]) => v.length > 0)
    .map(([k, v]) => `${k}: ${v.map(([i, x]) => `#${i}=${x}`).join(' ')}`);
  return parts.length ? parts.join('; ') : 'none';
}

/** The history as a numbered story, its violation, and the trace's end. */
export function formatFailure(h: History, o: Outcome, traceLines = 80): string {
  const lines = [
    `violation: ${o.violation}`,
    `history (seed ${h.seed}, ${h.cmds.length} commands${h.storeLatency ? ', store calls 1–16 ms' : ''}; fault tape entries ≥ 90: ${describeFaults(h.faults)}):`,
    ...h.cmds.map((c, i) => `  ${String(i + 1).padStart(2)}. ${describeCmd(c)}`),
    `trace (last ${Math.min(traceLines, o.trace.length)} of ${o.trace.length} lines):`,
    ...o.trace.slice(-traceLines).map((l) => `  ${l}`),
  ];
  return lines.join('\n');
}

export interface Found {
  history: History;
  outcome: Outcome;
  text: string;
  runs: number;
}

/**
 * Runs `numRuns` generated histories from `seed`; the shrunk failing history, if any, run once
 * more with its whole trace for the printout.
 */
export async function search(
  opts: SimOptions & Shape & { seed: number; numRuns: number; examples?: History[]; only?: RegExp },
): Promise<Found | undefined> {
  const details = await fc.check(
    fc.asyncProperty(historyArb(opts), async (h) => {
      const o = await runHistory(h, opts);
      // `only`: look for one kind of violation (shrinking keeps that kind).
      return o.violation === undefined || (opts.only !== undefined && !opts.only.test(o.violation));
    }),
    { seed: opts.seed, numRuns: opts.numRuns, examples: (opts.examples ?? []).map((h) => [h]) },
  );
  return shrunk(details, opts);
}

/**
 * A history that breaks an invariant with `opts.switches` on and keeps every invariant with
 * them off: what the switched-on old behaviour alone costs. Shrinking keeps both sides.
 */
export async function searchDifference(
  opts: SimOptions & Shape & { seed: number; numRuns: number; examples?: History[] },
): Promise<Found | undefined> {
  const off: SimOptions = { ...opts, switches: {} };
  const details = await fc.check(
    fc.asyncProperty(historyArb(opts), async (h) => {
      const on = await runHistory(h, opts);
      if (on.violation === undefined) return true;
      return (await runHistory(h, off)).violation !== undefined;
    }),
    { seed: opts.seed, numRuns: opts.numRuns, examples: (opts.examples ?? []).map((h) => [h]) },
  );
  return shrunk(details, opts);
}

/** The shrunk counterexample of a failed check, run again with its whole trace. */
export async function shrunk(
  details: fc.RunDetails<[History]> | fc.RunDetails<History[]>,
  opts: SimOptions,
): Promise<Found | undefined> {
  if (!details.failed) return undefined;
  const history = details.counterexample?.[0];
  if (!history) throw details.errorInstance ?? new Error('fast-check failed without a counterexample');
  const outcome = await runHistory(history, { ...opts, traceAll: true });
  return { history, outcome, text: formatFailure(history, outcome), runs: details.numRuns };
}
