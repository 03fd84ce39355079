// `npm start` on a fresh machine: the embedded defaults, a config summary, a graceful stop.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';

it('serves on its defaults from a fresh data directory until SIGTERM', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ping-muc-start-'));
  const env: NodeJS.ProcessEnv = { ...process.env, PING_MUC_DATA_DIR: dataDir, PING_MUC_PORT: '0' };
  delete env.PORT;
  delete env.PING_MUC_API_URL;
  delete env.PING_MUC_WEBHOOK_SECRET;
  delete env.PING_MUC_API_SECRET;
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/local.ts'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  try {
    const until = Date.now() + 20_000;
    while (!out.includes('ping_muc_cloud_api_secret')) {
      if (Date.now() > until || child.exitCode !== null) throw new Error(`no start-up summary:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
    expect(url).toBeDefined();
    expect((await fetch(`${url}/health`)).status).toBe(200);
    expect(out).toContain('PING_MUC_API_URL');
    const secrets = JSON.parse(readFileSync(join(dataDir, 'secrets.json'), 'utf8'));
    expect(secrets.webhook).toMatch(/^whsec_/);
    // Secrets kept on disk are not printed.
    expect(out).not.toContain(secrets.webhook);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toContain('shutting down');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
});
