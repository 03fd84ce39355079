// `npm run synth` itself (the CDK CLI running infra/app.ts), offline, into a temp directory.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { REPO_ROOT } from '../../infra/bundling';

const outdir = mkdtempSync(path.join(os.tmpdir(), 'ping-muc-synth-cli-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

it('npm run synth writes a deployable assembly', async () => {
  const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  const script = pkg.scripts.synth ?? '';
  expect(script).toContain('--output cdk.out');
  const command = script.replace('--output cdk.out', `--output '${outdir}'`);
  const env = {
    ...process.env,
    PATH: `${path.join(REPO_ROOT, 'node_modules', '.bin')}${path.delimiter}${process.env.PATH ?? ''}`,
  };
  const t0 = performance.now();
  await promisify(execFile)('sh', ['-c', command], { cwd: REPO_ROOT, env, timeout: 120_000 });
  const seconds = (performance.now() - t0) / 1000;
  expect(seconds).toBeLessThan(90);

  const template = JSON.parse(readFileSync(path.join(outdir, 'PingMuc.template.json'), 'utf8')) as {
    Resources: Record<string, { Type: string; Properties: { Code?: { S3Key?: string } } }>;
  };
  const functions = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
  expect(functions).toHaveLength(2);
  for (const f of functions) {
    const asset = `asset.${String(f.Properties.Code?.S3Key).replace(/\.zip$/, '')}`;
    expect(existsSync(path.join(outdir, asset, 'index.mjs')), asset).toBe(true);
  }
  expect(readdirSync(outdir)).toContain('manifest.json');
  // No lookups were needed (a fresh clone has no cdk.context.json).
  expect(existsSync(path.join(REPO_ROOT, 'cdk.context.json'))).toBe(false);
}, 120_000);
