import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULTS, loadConfig } from '../../lib/support/config';

describe('loadConfig', () => {
  it('has documented defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      delayMs: 60_000,
      concurrency: 32,
      rechecks: 3,
      recheckBaseMs: 60_000,
      retryAttempts: 8,
      reason: DEFAULTS.reason,
      table: 'ping-muc',
    });
  });

  it('keeps ten batches in flight by default when the stanza API is batched', () => {
    expect(loadConfig({ PING_MUC_API_BATCH: '100' })).toMatchObject({ apiBatch: 100, concurrency: 1000 });
    expect(loadConfig({ PING_MUC_API_BATCH: '500' }).concurrency).toBe(1024);
    expect(loadConfig({ PING_MUC_API_BATCH: '100', PING_MUC_CONCURRENCY: '64' }).concurrency).toBe(64);
  });

  it('never derives more pings in flight than an explicit server bound (a setting from before batches still works)', () => {
    const c = loadConfig({ PING_MUC_API_BATCH: '100', PING_MUC_SERVER_MAX_INFLIGHT: '512' });
    expect(c).toMatchObject({ concurrency: 512, serverMaxInflight: 512 });
    expect(() => loadConfig({ PING_MUC_CONCURRENCY: '1000', PING_MUC_SERVER_MAX_INFLIGHT: '512' })).toThrow(
      /PING_MUC_SERVER_MAX_INFLIGHT=512 is below PING_MUC_CONCURRENCY=1000/,
    );
  });

  it('takes fractional seconds for delays', () => {
    expect(loadConfig({ PING_MUC_DELAY_SECONDS: '0.5' }).delayMs).toBe(500);
  });

  it.each([
    ['PING_MUC_CONCURRENCY', '2.5'],
    ['PING_MUC_PAGE_SIZE', '2.5'],
    ['PING_MUC_RECHECKS', '-1'],
    ['PING_MUC_DELAY_SECONDS', 'soon'],
    ['PING_MUC_API_URL', 'ftp://x'],
  ])('refuses %s=%s with a clear error', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(name);
  });
});
