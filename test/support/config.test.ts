import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULTS, loadConfig } from '../../lib/support/config';

describe('loadConfig', () => {
  it('has documented defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      delayMs: 60_000,
      apiBatch: 100,
      concurrency: 1000,
      serverMaxInflight: 4000,
      rechecks: 3,
      recheckBaseMs: 60_000,
      retryAttempts: 8,
      table: 'ping-muc',
    });
    // The notification's <reason> is the module's own (ping_muc_cloud_reason).
    expect(c).not.toHaveProperty('reason');
  });

  it('batches the stanza API by 100 items by default', () => {
    expect(DEFAULTS.apiBatch).toBe(100);
    expect(loadConfig({ PING_MUC_API_BATCH: '' }).apiBatch).toBe(100);
  });

  it('keeps four rounds of batches in flight per server', () => {
    expect(loadConfig({ PING_MUC_API_BATCH: '1' })).toMatchObject({
      apiBatch: 1,
      concurrency: 10,
      serverMaxInflight: 40,
    });
  });

  it('refuses a batch of no items', () => {
    expect(() => loadConfig({ PING_MUC_API_BATCH: '0' })).toThrow(ConfigError);
  });

  it('keeps ten batches in flight by default when the stanza API is batched', () => {
    expect(loadConfig({ PING_MUC_API_BATCH: '100' })).toMatchObject({ apiBatch: 100, concurrency: 1000 });
    expect(loadConfig({ PING_MUC_API_BATCH: '20' }).concurrency).toBe(200);
    expect(loadConfig({ PING_MUC_API_BATCH: '500' }).concurrency).toBe(1024);
    expect(loadConfig({ PING_MUC_API_BATCH: '100', PING_MUC_CONCURRENCY: '64' }).concurrency).toBe(64);
    expect(loadConfig({ PING_MUC_CONCURRENCY: '64' })).toMatchObject({ concurrency: 64, serverMaxInflight: 256 });
  });

  it('never derives more pings in flight than an explicit server bound (a setting from before batches still works)', () => {
    const c = loadConfig({ PING_MUC_API_BATCH: '100', PING_MUC_SERVER_MAX_INFLIGHT: '512' });
    expect(c).toMatchObject({ concurrency: 512, serverMaxInflight: 512 });
    // The same by default (batches of 100).
    expect(loadConfig({ PING_MUC_SERVER_MAX_INFLIGHT: '512' })).toMatchObject({ concurrency: 512 });
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
