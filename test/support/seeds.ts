// The seeds of the seeded suites. npm test runs the pinned lists, so two runs execute the same
// cases and a failure is a change in the code. `npm run fuzz` draws random seeds and prints them
// (scripts/fuzz.ts); PING_MUC_SEEDS=<seed>[,<seed>…] runs those instead (a replay).
export const PINNED = {
  /** test/app/round/faults.test.ts: 20,000 joins under injected faults per seed. */
  faults: [1, 2, 3, 7, 42, 1234, 400725702, 2026, 99991, 31337],
  /** test/fuzz/events.fuzz.test.ts */
  eventsFuzz: [568078495, 20261207, 7],
  /** test/fuzz/stanza-api.fuzz.test.ts */
  stanzaApiFuzz: [1989306404, 20261207, 11, 4242],
  /** test/fuzz/stanza-api-batch.fuzz.test.ts */
  stanzaApiBatchFuzz: [639577427, 20261207, 13],
} as const;

export type Suite = keyof typeof PINNED;

/** The seeds a suite runs: PING_MUC_SEEDS when set, else its pinned list. */
export function seedsOf(suite: Suite, env: Record<string, string | undefined> = process.env): number[] {
  const given = env.PING_MUC_SEEDS;
  if (!given) return [...PINNED[suite]];
  const seeds = given.split(',').map((s) => Number(s.trim()));
  if (seeds.some((s) => !Number.isSafeInteger(s))) throw new Error(`PING_MUC_SEEDS=${given}: expected integers`);
  return seeds;
}
