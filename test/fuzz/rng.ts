// A small seeded PRNG for the fuzz tests: FUZZ_SEED=<n> replays a run (the seed is printed).
export interface Rng {
  seed: number;
  next(): number;
  int(n: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
}

/** mulberry32: fast, 32-bit state, good enough to pick test cases. */
export function rng(seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31))): Rng {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    seed,
    next,
    int: (n) => Math.floor(next() * n),
    pick: (items) => items[Math.floor(next() * items.length)] as (typeof items)[number],
    chance: (p) => next() < p,
  };
}
