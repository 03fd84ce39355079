// The README's layout rules, read from the tree: test/ mirrors lib/ beside a fixed list of other
// kinds, and what tests and benchmarks share lives in harness/, so neither imports the other
// (test/bench/ tests the benchmark's own code and alone imports bench/).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.join(import.meta.dirname, '../..');

/** Folders of test/ that mirror no lib/ folder: each holds one kind of test. */
const KINDS = ['e2e', 'prosody', 'sim', 'fuzz', 'infra', 'runtime', 'smoke', 'docs', 'bench', 'functions'];

function files(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(dir, e.name);
    return e.isDirectory() ? files(rel) : e.name.endsWith('.ts') ? [rel] : [];
  });
}

/** Every relative module a file imports (static or dynamic), as a path from the repository root. */
function imports(file: string): string[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  const specs = [...text.matchAll(/(?:from|import\()\s*['"](\.[^'"]+)['"]/g)].map((m) => m[1] ?? '');
  return specs.map((s) => path.relative(ROOT, path.resolve(ROOT, path.dirname(file), s)));
}

function crossings(dir: string, forbidden: (target: string) => boolean, skip = (_file: string) => false): string[] {
  return files(dir)
    .filter((f) => !skip(f))
    .flatMap((f) =>
      imports(f)
        .filter(forbidden)
        .map((t) => `${f} -> ${t}`),
    );
}

const under = (dir: string) => (target: string) => target.startsWith(`${dir}/`);

describe('folders', () => {
  it('bench/ imports nothing from test/', () => {
    expect(crossings('bench', under('test'))).toEqual([]);
  });

  it('test/ imports bench/ only from test/bench/', () => {
    expect(crossings('test', under('bench'), under('test/bench'))).toEqual([]);
  });

  it('harness/ imports neither test/ nor bench/', () => {
    expect(crossings('harness', (t) => under('test')(t) || under('bench')(t))).toEqual([]);
  });

  it('test/ holds a mirror of a lib/ folder or one of the other kinds', () => {
    const lib = readdirSync(path.join(ROOT, 'lib'), { withFileTypes: true }).filter((e) => e.isDirectory());
    const allowed = new Set([...lib.map((e) => e.name), ...KINDS]);
    const folders = readdirSync(path.join(ROOT, 'test'), { withFileTypes: true }).filter((e) => e.isDirectory());
    expect(folders.map((e) => e.name).filter((name) => !allowed.has(name))).toEqual([]);
  });

  it('test/adapters/ holds a mirror of a lib/adapters/ folder', () => {
    const folders = readdirSync(path.join(ROOT, 'test/adapters'), { withFileTypes: true }).filter((e) =>
      e.isDirectory(),
    );
    const lib = new Set(readdirSync(path.join(ROOT, 'lib/adapters')));
    expect(folders.map((e) => e.name).filter((name) => !lib.has(name))).toEqual([]);
  });
});
