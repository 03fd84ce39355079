// The one place where the Lambda bundles are defined. The CDK stack (NodejsFunction),
// scripts/bundle-size.ts and the benchmarks all build the functions from these settings,
// so the sizes we print are the sizes we deploy.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BuildOptions } from 'esbuild';
import { OutputFormat, SourceMapMode, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';

/** Repository root (this file lives in infra/). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The Lambda functions: name → entry file, relative to the repository root. */
export const FUNCTIONS = {
  events: 'functions/events.ts',
  round: 'functions/round.ts',
} as const;

export type FunctionName = keyof typeof FUNCTIONS;

/** The exported handler of every entry file. */
export const HANDLER_EXPORT = 'handler';

/** Node.js version of the Lambda runtime (nodejs22.x); esbuild targets the same. */
export const NODE_TARGET = 'node22';

/**
 * Modules left out of the bundle. The nodejs22.x runtime ships AWS SDK for JavaScript v3,
 * so bundling it would only add ~1 MB per function and slow cold starts.
 */
export const EXTERNAL_MODULES = ['@aws-sdk/*'];

/**
 * ESM output needs `require` for any CommonJS dependency that requires a Node.js built-in;
 * esbuild's ESM output has none, so we define it. Harmless when unused.
 */
export const ESM_REQUIRE_SHIM =
  "import { createRequire as __pmCreateRequire } from 'node:module'; const require = __pmCreateRequire(import.meta.url);";

/** Prefer the ESM entry points of dependencies (smaller, tree-shakeable). */
export const MAIN_FIELDS = ['module', 'main'];

/**
 * Source maps: an external `index.mjs.map` next to the bundle, linked by a
 * `//# sourceMappingURL=index.mjs.map` comment, read by Node with NODE_OPTIONS=--enable-source-maps
 * (infra/function.ts), so stack traces name our files and lines. No sources inside the map: only
 * the mappings are needed, and the bundle's size (what bundle-size reports) is the code's.
 */
export const SOURCE_MAP_FILE = 'index.mjs.map';

/** Bundle budget per function (bytes), checked by scripts/bundle-size.ts and test/infra. */
export const BUNDLE_BUDGET_BYTES = 250 * 1024;

/**
 * Options for NodejsFunction (which always bundles for platform node): local esbuild only,
 * never Docker, so synth works offline.
 */
export function lambdaBundling(): BundlingOptions {
  return {
    format: OutputFormat.ESM,
    target: NODE_TARGET,
    minify: true,
    sourceMap: true,
    sourceMapMode: SourceMapMode.DEFAULT,
    sourcesContent: false,
    externalModules: [...EXTERNAL_MODULES],
    mainFields: [...MAIN_FIELDS],
    banner: ESM_REQUIRE_SHIM,
    forceDockerBundling: false,
    metafile: false,
  };
}

/** The same settings for esbuild's JS API (scripts/bundle-size.ts, benchmarks). */
export function esbuildOptions(name: FunctionName, outdir: string): BuildOptions & { outfile: string } {
  return {
    entryPoints: [path.join(REPO_ROOT, FUNCTIONS[name])],
    outfile: path.join(outdir, name, 'index.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: NODE_TARGET,
    minify: true,
    sourcemap: 'linked',
    sourcesContent: false,
    external: [...EXTERNAL_MODULES],
    mainFields: [...MAIN_FIELDS],
    banner: { js: ESM_REQUIRE_SHIM },
    logLevel: 'warning',
  };
}
