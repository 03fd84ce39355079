// npm test is reproducible: the seeded suites run pinned seeds, and no test draws its own.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PINNED, seedsOf } from './seeds';

const REPO = join(import.meta.dirname, '../..');

/**
 * Math.random in test code that draws no test case: the e2e testbed's pick of a loopback subnet,
 * npm run sim's seed (printed), store latency jitter in app/ingest.test.ts, and this file.
 */
const NOT_A_SEED = ['harness/testbed.ts', 'test/sim/run.ts', 'test/app/ingest.test.ts', 'test/support/seeds.test.ts'];

describe('seeds of the default run', () => {
  it('are the pinned lists when PING_MUC_SEEDS is unset', () => {
    console.log(
      `[seeds] ${Object.entries(PINNED)
        .map(([suite, seeds]) => `${suite}: ${seeds.join(', ')}`)
        .join('; ')}`,
    );
    for (const suite of Object.keys(PINNED) as Array<keyof typeof PINNED>) {
      expect(seedsOf(suite, {})).toEqual(PINNED[suite]);
      expect(seedsOf(suite, { PING_MUC_SEEDS: '' })).toEqual(PINNED[suite]);
    }
  });

  it('are the given ones under PING_MUC_SEEDS (a replay or npm run fuzz)', () => {
    expect(seedsOf('faults', { PING_MUC_SEEDS: '5, 6' })).toEqual([5, 6]);
  });

  it('are refused when PING_MUC_SEEDS is not a list of numbers', () => {
    expect(() => seedsOf('faults', { PING_MUC_SEEDS: 'x' })).toThrow(/PING_MUC_SEEDS=x/);
  });

  it('come from no random source in the test code', () => {
    const drawn = ['test', 'harness']
      .flatMap((dir) => readdirSync(join(REPO, dir), { recursive: true, encoding: 'utf8' }).map((f) => `${dir}/${f}`))
      .filter(
        (file) =>
          file.endsWith('.ts') &&
          !NOT_A_SEED.includes(file) &&
          /Math\.random\(\)/.test(readFileSync(join(REPO, file), 'utf8')),
      );
    expect(
      drawn,
      'test and harness files that call Math.random(): seed a mulberry32 (test/support/rng.ts) instead',
    ).toEqual([]);
  });
});
