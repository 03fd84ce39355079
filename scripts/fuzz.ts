// `npm run fuzz [-- --runs=N] [--seeds=a,b]`: the fuzz suites (test/fuzz/) and the fault suite
// (test/app/round/faults.test.ts) on random seeds, where npm test runs pinned ones
// (test/support/seeds.ts). Prints the seeds first; `--seeds=` (or PING_MUC_SEEDS) replays them.
import { spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';

const arg = (name: string): string | undefined =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

const runs = Number(arg('runs') ?? 1);
const given = arg('seeds') ?? process.env.PING_MUC_SEEDS;
const seeds = given ? given.split(',').map(Number) : Array.from({ length: runs }, () => randomInt(2 ** 31));
console.log(`[fuzz] seeds ${seeds.join(',')} (replay: npm run fuzz -- --seeds=${seeds.join(',')})`);

const run = spawnSync('npx', ['vitest', 'run', '--project', 'ping-muc', 'test/fuzz', 'test/app/round/faults.test.ts'], {
  stdio: 'inherit',
  env: { ...process.env, PING_MUC_SEEDS: seeds.join(',') },
});
console.log(`[fuzz] seeds ${seeds.join(',')}: ${run.status === 0 ? 'passed' : 'FAILED'}`);
process.exit(run.status ?? 1);
