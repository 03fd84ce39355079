import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

// One behaviour per test name (issue 20): a name that joins clauses with " and ", "; " or lists
// them with ", " usually hides two tests. Folders join this list once their names are one behaviour each.
// No joined name is allowed here but those in ALLOWED.
const ROOT = join(import.meta.dirname, '..', '..');
const FOLDERS = [
  'prosody',
  'adapters',
  'fuzz',
  'runtime',
  'docs',
  'e2e',
  'support',
  'bench',
  'sim',
  'smoke',
  'functions',
  'infra',
  'domain',
  'app',
  'wiring',
].map((f) => join('test', f));

// Single behaviours whose wording needs " and ": a pair that is one thing, not two claims.
const ALLOWED = new Set<string>([
  'joins and leaves wait out the linger to be posted together in order',
  'holds joins and leaves for the linger to post them in one request in order',
]);

const TEST_CALLS = new Set(['it', 'test']);

function calleeRoot(node: ts.Expression): string | undefined {
  if (ts.isIdentifier(node)) return node.text;
  if (ts.isPropertyAccessExpression(node)) return calleeRoot(node.expression);
  if (ts.isCallExpression(node)) return calleeRoot(node.expression); // it.each(rows)('name', …)
  return undefined;
}

function titleOf(arg: ts.Expression | undefined): string | undefined {
  if (!arg) return undefined;
  if (ts.isStringLiteral(arg) || ts.isNoSubstitutionTemplateLiteral(arg)) return arg.text;
  if (ts.isTemplateExpression(arg)) {
    return arg.head.text + arg.templateSpans.map((s) => `{…}${s.literal.text}`).join('');
  }
  return undefined;
}

function testNames(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const names: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node)) {
      const root = calleeRoot(node.expression);
      // A call whose callee is itself a call (it.each(rows)) names nothing; its outer call does.
      if (root && TEST_CALLS.has(root) && !ts.isCallExpression(node.parent)) {
        const title = titleOf(node.arguments[0]);
        if (title !== undefined) names.push(title);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return names;
}

function joinsBehaviours(name: string): boolean {
  return !ALLOWED.has(name) && / and |, |; /.test(name);
}

function testFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return testFiles(path);
    return e.name.endsWith('.test.ts') ? [path] : [];
  });
}

describe('test names', () => {
  const named = FOLDERS.flatMap(testFiles).flatMap((file) =>
    testNames(join(ROOT, file)).map((name) => ({ file: relative(ROOT, join(ROOT, file)), name })),
  );

  it('finds the test names of every folder it checks', () => {
    expect(named.length).toBeGreaterThan(200);
  });

  it('states one behaviour per name in the checked folders', () => {
    expect(named.filter((t) => joinsBehaviours(t.name))).toEqual([]);
  });

  it('allows only joined names that still exist', () => {
    const names = new Set(named.map((t) => t.name));
    expect([...ALLOWED].filter((n) => !names.has(n))).toEqual([]);
  });
});
