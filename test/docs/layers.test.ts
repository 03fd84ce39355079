// The hexagon's rules, read from the imports: the app reaches adapters only through lib/ports.ts,
// adapters never import the app, the domain imports nothing outside itself, and no SDK client
// lives in lib/support (issue 20).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const LIB = path.join(__dirname, '../../lib');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}

/** Every module a file imports, resolved to a path under lib/ when relative, else the package name. */
function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/g)].map(
    (m) => m[1] ?? '',
  );
  return specs.map((s) => (s.startsWith('.') ? path.relative(LIB, path.resolve(path.dirname(file), s)) : s));
}

function crossings(layer: string, forbidden: (target: string) => boolean): string[] {
  return files(path.join(LIB, layer)).flatMap((f) =>
    imports(f)
      .filter(forbidden)
      .map((t) => `${path.relative(LIB, f)} -> ${t}`),
  );
}

describe('layers', () => {
  it('lib/app imports no adapter', () => {
    expect(crossings('app', (t) => t.startsWith('adapters/'))).toEqual([]);
  });

  it('lib/adapters import nothing from lib/app', () => {
    expect(crossings('adapters', (t) => t.startsWith('app/'))).toEqual([]);
  });

  it('lib/domain imports nothing outside itself but node built-ins or XML libraries', () => {
    expect(
      crossings(
        'domain',
        (t) => !t.startsWith('domain/') && !t.startsWith('node:') && t !== 'ltx' && t !== '@xmpp/xml',
      ),
    ).toEqual([]);
  });

  it('lib/support holds no AWS SDK client', () => {
    expect(crossings('support', (t) => t.startsWith('@aws-sdk/'))).toEqual([]);
  });
});
