// The README's configuration table is held to the code: every variable lib/support/config.ts reads
// has a row, every row names a variable the code reads, and every default the table states is the
// one the code applies (setting the variable to it changes nothing; setting another value does).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { DEFAULTS, ENV, loadConfig } from '../../lib/support/config';
import { levelFromEnv, stackFromEnv } from '../../lib/support/observability';

const ROOT = join(import.meta.dirname, '../..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

interface Row {
  names: string[];
  default: string;
  meaning: string;
}

/** The rows of the table headed `| variable | default | meaning |`. */
function configTable(markdown: string): Row[] {
  const lines = markdown.split('\n');
  const head = lines.findIndex((l) => /^\|\s*variable\s*\|\s*default\s*\|/.test(l));
  if (head < 0) throw new Error('README.md has no `| variable | default | meaning |` table');
  const rows: Row[] = [];
  for (const line of lines.slice(head + 2)) {
    if (!line.startsWith('|')) break;
    const [variable = '', def = '', meaning = ''] = line.split('|').slice(1, -1);
    // `X` / `…_ARN` names X and X_ARN.
    const names: string[] = [];
    for (const [, name = ''] of variable.matchAll(/`([^`]+)`/g)) {
      names.push(name.startsWith('…') ? `${names.at(-1)}${name.slice(1)}` : name);
    }
    rows.push({ names, default: def.trim(), meaning });
  }
  return rows;
}

const rows = configTable(README);
const documented = new Map(rows.flatMap((r) => r.names.map((n) => [n, r] as const)));

/** ping-muc's own variables read anywhere in the shipped code (not the AWS SDK's). */
function readByCode(): Set<string> {
  const names = new Set<string>(Object.values(ENV));
  for (const dir of ['lib', 'bin', 'functions']) {
    for (const file of readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })) {
      if (!file.endsWith('.ts')) continue;
      const source = readFileSync(join(ROOT, dir, file), 'utf8');
      for (const [, name = ''] of source.matchAll(/\benv(?:\.|\[['"])([A-Z][A-Z0-9_]+)/g)) {
        if (!name.startsWith('AWS_')) names.add(name);
      }
    }
  }
  return names;
}

/** Variables read outside config.ts, each by the function that reads it (issue 20 moves them in). */
const OUTSIDE_CONFIG: Record<string, (value: string | undefined) => unknown> = {
  LOG_LEVEL: (v) => levelFromEnv({ LOG_LEVEL: v }),
  PING_MUC_STACK: (v) => stackFromEnv({ PING_MUC_STACK: v }),
};

/**
 * The default a cell states: a number or a `value` at its start, or "(N by default)" for a
 * default derived from other settings; undefined for "—" (no default).
 */
function statedDefault(cell: string): string | undefined {
  if (cell.startsWith('—')) return undefined;
  const derived = /\(([\d,.]+) by default\)/.exec(cell);
  if (derived) return derived[1]?.replaceAll(',', '');
  const literal = /^(?:`([^`]+)`|([\d,.]+)(?!\s*×))/.exec(cell);
  if (literal) return literal[1] ?? literal[2]?.replaceAll(',', '');
  throw new Error(`default "${cell}": state it as a number, a \`value\`, "(N by default)" or "—"`);
}

/** Other values than `value`: the next number, or the string with a suffix, and the `values` the meaning names. */
function others(value: string, meaning: string): string[] {
  const named = [...meaning.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? '');
  return [/^\d+$/.test(value) ? String(Number(value) + 1) : `${value}-other`, ...named].filter((v) => v !== value);
}

/** What the code makes of the variable set to `value` (an error counts as a distinct result). */
function effect(name: string, value: string | undefined): unknown {
  const read = OUTSIDE_CONFIG[name] ?? ((v) => loadConfig(v === undefined ? {} : { [name]: v }));
  try {
    return read(value);
  } catch (err) {
    return { error: (err as Error).message };
  }
}

describe('README configuration table', () => {
  it('has a row for every variable config.ts reads', () => {
    const missing = Object.values(ENV).filter((name) => !documented.has(name));
    expect(missing, 'variables of lib/support/config.ts ENV missing from the README table').toEqual([]);
  });

  it('names only variables the code reads', () => {
    const read = readByCode();
    const unread = [...documented.keys()].filter((name) => !read.has(name));
    expect(unread, 'README rows for variables no code reads').toEqual([]);
  });

  it('documents every variable the code reads in the table or the local-service line', () => {
    const undocumented = [...readByCode()].filter((name) => !documented.has(name) && !README.includes(`\`${name}\``));
    expect(undocumented, 'variables read by lib/, bin/ or functions/ and named nowhere in README.md').toEqual([]);
  });

  // One test per row, so a failure names the variable.
  for (const [name, row] of documented) {
    it(`states the default of ${name} that the code applies`, () => {
      const stated = statedDefault(row.default);
      const key = Object.entries(ENV).find(([, n]) => n === name)?.[0];
      if (stated === undefined) {
        expect(key !== undefined && key in DEFAULTS, `${name}: the README says no default, config.ts has one`).toBe(
          false,
        );
        return;
      }
      if (key !== undefined && key in DEFAULTS) {
        expect(String(DEFAULTS[key as keyof typeof DEFAULTS]), `${name}: README default vs config.ts DEFAULTS`).toBe(
          stated,
        );
      }
      const unset = effect(name, undefined);
      expect(effect(name, stated), `${name}=${stated} (the README's default) should change nothing`).toEqual(unset);
      const alternatives = others(stated, row.meaning);
      const changes = alternatives.some((v) => !isDeepStrictEqual(effect(name, v), unset));
      expect(changes, `${name}=${alternatives.join(' / ')} change nothing: is the variable read?`).toBe(true);
    });
  }
});
