// Prints the size of each Lambda bundle, built with exactly the settings the CDK stack deploys
// (infra/bundling.ts): `npm run bundle-size`. `--json` prints machine-readable figures.
// Exits 1 when a bundle exceeds the budget.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build, version as esbuildVersion } from 'esbuild';
import { BUNDLE_BUDGET_BYTES, FUNCTIONS, esbuildOptions, type FunctionName } from '../infra/bundling';

export interface BundleSize {
  name: FunctionName;
  entry: string;
  bytes: number;
  gzipBytes: number;
  /** Bytes of the bundle per input package ("(project)" for our own files). */
  byPackage: Record<string, number>;
}

function packageOf(input: string): string {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
  return m ? m[1]! : '(project)';
}

export async function bundleSizes(): Promise<BundleSize[]> {
  const outdir = mkdtempSync(path.join(os.tmpdir(), 'ping-muc-bundle-'));
  try {
    const out: BundleSize[] = [];
    for (const name of Object.keys(FUNCTIONS) as FunctionName[]) {
      const options = esbuildOptions(name, outdir);
      const result = await build({ ...options, metafile: true });
      const byPackage: Record<string, number> = {};
      for (const output of Object.values(result.metafile.outputs)) {
        for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
          const pkg = packageOf(input);
          byPackage[pkg] = (byPackage[pkg] ?? 0) + bytesInOutput;
        }
      }
      out.push({
        name,
        entry: FUNCTIONS[name],
        bytes: statSync(options.outfile).size,
        gzipBytes: gzipSync(readFileSync(options.outfile)).length,
        byPackage,
      });
    }
    return out;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;

async function main(): Promise<void> {
  const sizes = await bundleSizes();
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(sizes, null, 2));
  } else {
    console.log(
      `function  bundle      gzip      budget ${kb(BUNDLE_BUDGET_BYTES)}  (esbuild ${esbuildVersion}, ESM, node22, minified, @aws-sdk/* external)`,
    );
    for (const s of sizes) {
      const top = Object.entries(s.byPackage)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 4)
        .map(([p, b]) => `${p} ${kb(b)}`)
        .join(', ');
      console.log(
        `${s.name.padEnd(9)} ${kb(s.bytes).padStart(9)} ${kb(s.gzipBytes).padStart(9)}   ${s.bytes <= BUNDLE_BUDGET_BYTES ? 'ok  ' : 'OVER'}  ${top}`,
      );
    }
  }
  if (sizes.some((s) => s.bytes > BUNDLE_BUDGET_BYTES)) process.exitCode = 1;
}

// Run as a script, not when imported (e.g. by the benchmarks).
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
