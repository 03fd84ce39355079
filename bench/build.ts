// esbuild for the benchmark: the Lambda functions with infra's own settings (cold start), and the
// round worker with the same settings so that it runs as plain `node` like the deployed code.
import { mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { esbuildOptions, type FunctionName } from '../infra/bundling';
import { BENCH_DIR, RESULTS_DIR } from './children';

/** Inside the repository, so that the external @aws-sdk/* resolve from its node_modules. */
export const BUILD_DIR = path.join(RESULTS_DIR, 'build');

export async function bundleFunction(name: FunctionName): Promise<{ file: string; bytes: number }> {
  const options = esbuildOptions(name, BUILD_DIR);
  await build(options);
  return { file: options.outfile, bytes: statSync(options.outfile).size };
}

export async function bundleWorker(entry: string): Promise<string> {
  mkdirSync(BUILD_DIR, { recursive: true });
  const outfile = path.join(BUILD_DIR, `${path.basename(entry, '.ts')}.mjs`);
  // Infra's settings, with another entry and unminified (readable profiles).
  await build({
    ...esbuildOptions('round', BUILD_DIR),
    entryPoints: [path.join(BENCH_DIR, entry)],
    outfile,
    minify: false,
  });
  return outfile;
}
