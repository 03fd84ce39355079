// The Lambda bundles, built with infra/bundling.ts (the stack deploys byte-identical ones, see
// stack.test.ts): small, ESM, AWS SDK left to the runtime, and loadable with a `handler` export.
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BUNDLE_BUDGET_BYTES,
  FUNCTIONS,
  REPO_ROOT,
  SOURCE_MAP_FILE,
  esbuildOptions,
  type FunctionName,
} from '../../infra/bundling';
import { bundleSizes } from '../../scripts/bundle-size';

// Inside the repository, so that the external @aws-sdk/* imports resolve to node_modules.
const outdir = path.join(REPO_ROOT, 'node_modules', '.cache', `ping-muc-bundle-test-${process.pid}`);
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

const names = Object.keys(FUNCTIONS) as FunctionName[];

describe('bundles', () => {
  it(`each is at most ${BUNDLE_BUDGET_BYTES / 1024} KB (npm run bundle-size)`, async () => {
    const sizes = await bundleSizes();
    expect(sizes.map((s) => s.name)).toEqual(names);
    for (const s of sizes) {
      expect(s.bytes, s.name).toBeGreaterThan(1000);
      expect(s.bytes, s.name).toBeLessThanOrEqual(BUNDLE_BUDGET_BYTES);
      expect(
        Object.keys(s.byPackage).filter((p) => p.startsWith('@aws-sdk/')),
        s.name,
      ).toEqual([]);
    }
  });

  it.each(names)('%s: builds an ESM bundle for node22 that loads with its handler', async (name) => {
    mkdirSync(outdir, { recursive: true });
    const options = esbuildOptions(name, outdir);
    const result = await build({ ...options, metafile: true });
    expect(options).toMatchObject({ format: 'esm', platform: 'node', target: 'node22', minify: true, bundle: true });
    expect(options.outfile.endsWith('.mjs')).toBe(true);
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((i) => i.includes('node_modules/@aws-sdk/'))).toBe(false);
    expect(inputs.some((i) => i.includes('node_modules/@smithy/'))).toBe(false);
    const code = readFileSync(options.outfile, 'utf8');
    expect(code).toMatch(/from"@aws-sdk\/client-dynamodb"/);
    // An external source map, linked (NODE_OPTIONS=--enable-source-maps reads it): mappings to
    // our own files, no sources inside (the bundle's size stays the code's).
    expect(code.trimEnd().endsWith(`//# sourceMappingURL=${SOURCE_MAP_FILE}`)).toBe(true);
    const map = JSON.parse(readFileSync(path.join(path.dirname(options.outfile), SOURCE_MAP_FILE), 'utf8')) as {
      sources: string[];
      sourcesContent?: unknown;
      mappings: string;
    };
    expect(map.sourcesContent).toBeUndefined();
    expect(map.mappings.length).toBeGreaterThan(1000);
    expect(map.sources.some((src) => src.endsWith(FUNCTIONS[name]))).toBe(true);
    expect(map.sources.some((src) => src.includes('lib/app/'))).toBe(true);
    const mod = (await import(pathToFileURL(options.outfile).href)) as Record<string, unknown>;
    expect(typeof mod.handler).toBe('function');
  });
});
