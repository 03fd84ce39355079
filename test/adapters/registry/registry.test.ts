// The registry at run time: the cache with its last good copy, keys derived from the master key,
// listed hosts with refused records, the wiring that logs and counts every refresh failure
// (infra-cost F16), and the Secrets Manager source.
import { writeFileSync, mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Refreshing } from '../../../lib/adapters/registry/cache';
import { FixedKeys, MasterKeys } from '../../../lib/adapters/registry/keys';
import { ListedHosts, Registry } from '../../../lib/adapters/registry/registry';
import { secretsManagerSource } from '../../../lib/adapters/secrets';
import { deriveKey, serverKeys, parseMasterKey } from '../../../lib/domain/keys';
import type { RegistryRead } from '../../../lib/ports';
import { loadConfig } from '../../../lib/support/config';
import { createLogger, Metrics } from '../../../lib/support/observability';
import { hostRegistry } from '../../../lib/wiring/registry';

const CURRENT = 'ping-muc test master key 0123456789';
const NEXT = 'ping-muc next master key 0123456789';
const URL_A = 'https://a.example/stanza';
const master = (current: string, previous?: string) => JSON.stringify({ current, previous });
const derived = (text: string, kind: 'webhook' | 'stanza-api', server: string) =>
  serverKeys(parseMasterKey(text), kind, server);

describe('Refreshing', () => {
  it('keeps the last good value while refreshes fail (retried after 30 s)', async () => {
    let now = 0;
    let reads = 0;
    let value: string | Error = 'one';
    const stale: string[] = [];
    const cache = new Refreshing({
      read: async () => {
        reads++;
        if (value instanceof Error) throw value;
        return value;
      },
      ttlMs: 300_000,
      now: () => now,
      onStale: (err) => stale.push(err.message),
    });
    expect(await cache.get()).toBe('one');
    expect(await cache.get()).toBe('one');
    now = 300_000;
    value = new Error('throttled');
    expect(await cache.get()).toBe('one');
    expect(stale).toEqual(['throttled']);
    now = 329_000;
    expect(await cache.get()).toBe('one');
    expect(reads).toBe(2);
    now = 330_000;
    value = 'two';
    expect(await cache.get()).toBe('two');
  });

  it('fails only until a first read succeeds', async () => {
    let fail = true;
    const cache = new Refreshing({
      read: async () => {
        if (fail) throw new Error('AccessDenied');
        return 1;
      },
      ttlMs: 1000,
    });
    await expect(cache.get()).rejects.toThrow('AccessDenied');
    fail = false;
    expect(await cache.get()).toBe(1);
  });
});

describe('Registry', () => {
  const read = (servers: RegistryRead['servers'], refused: RegistryRead['refused'] = []): RegistryRead => ({
    servers,
    refused,
  });

  it('serves only listed hosts with their server’s keys', async () => {
    const text = master(CURRENT, NEXT);
    const keys = new MasterKeys({ source: async () => text, name: 'k', ttlMs: 1000 });
    const listed = new ListedHosts({
      source: async () => read([{ id: 's1', hosts: ['a.example', 'b.example'], apiUrl: URL_A }]),
      name: 't',
      ttlMs: 1000,
    });
    const registry = new Registry(keys, listed);
    expect(registry.multiHost).toBe(true);
    expect(await registry.webhookKeys('A.Example')).toEqual(derived(text, 'webhook', 's1'));
    expect(await registry.api('b.example')).toEqual({ url: URL_A, keys: derived(text, 'stanza-api', 's1') });
    expect(await registry.webhookKeys('c.example')).toBeUndefined();
    expect(await registry.api('not a domain')).toBeUndefined();
  });

  describe('two servers', () => {
    // One pair of key lines in a global Prosody configuration serves all the server's VirtualHosts.
    const registry = () =>
      new Registry(
        new MasterKeys({ source: async () => master(CURRENT), name: 'k', ttlMs: 1000 }),
        new ListedHosts({
          source: async () =>
            read([
              { id: 'xmpp1', hosts: ['a.example', 'b.example'], apiUrl: URL_A },
              { id: 'xmpp2', hosts: ['c.example'], apiUrl: 'https://c/' },
            ]),
          name: 't',
          ttlMs: 1000,
        }),
      );
    const serverKey = (kind: 'webhook' | 'stanza-api', id: string) => deriveKey(Buffer.from(CURRENT), kind, id);

    it('gives every host of a server the keys derived for the server', async () => {
      const hosts = registry();
      for (const host of ['a.example', 'b.example']) {
        expect(await hosts.webhookKeys(host)).toEqual([serverKey('webhook', 'xmpp1')]);
        expect((await hosts.api(host))?.keys).toEqual([serverKey('stanza-api', 'xmpp1')]);
      }
    });

    it('gives a host of another server that server’s keys', async () => {
      const hosts = registry();
      expect(await hosts.webhookKeys('c.example')).toEqual([serverKey('webhook', 'xmpp2')]);
      expect((await hosts.api('c.example'))?.keys).toEqual([serverKey('stanza-api', 'xmpp2')]);
      expect(serverKey('webhook', 'xmpp2')).not.toEqual(serverKey('webhook', 'xmpp1'));
    });
  });

  it('without a list serves every host on one URL as its own server', async () => {
    const text = master(CURRENT);
    const derivedKeys = new Registry(new MasterKeys({ source: async () => text, name: 'k', ttlMs: 0 }), {
      apiUrl: URL_A,
    });
    expect(derivedKeys.multiHost).toBe(true);
    expect(await derivedKeys.api('any.example')).toEqual({
      url: URL_A,
      keys: derived(text, 'stanza-api', 'any.example'),
    });
    const k = Buffer.alloc(32, 1);
    const fixed = new Registry(new FixedKeys({ webhook: [k], 'stanza-api': [k] }), { apiUrl: '' });
    expect(fixed.multiHost).toBe(false);
    expect(await fixed.webhookKeys('')).toEqual([k]);
    await expect(fixed.api('a.example')).rejects.toThrow(/PING_MUC_API_URL is not set/);
  });

  it('keeps a refused server’s last good record beside the other servers', async () => {
    let now = 0;
    let next = read([
      { id: 's1', hosts: ['a.example'], apiUrl: URL_A },
      { id: 's2', hosts: ['b.example'], apiUrl: 'https://b/' },
    ]);
    const refused: string[] = [];
    const listed = new ListedHosts({
      source: async () => next,
      name: 't',
      ttlMs: 1000,
      now: () => now,
      onRefused: (server, error, kept) => refused.push(`${server} ${kept} ${error}`),
    });
    expect((await listed.hosts()).size).toBe(2);
    now = 1000;
    next = read(
      [{ id: 's1', hosts: ['a.example', 'c.example'], apiUrl: URL_A }],
      [
        { id: 's2', error: 'bad apiUrl' },
        { id: 's3', error: 'not an object' },
      ],
    );
    const hosts = await listed.hosts();
    expect([...hosts.keys()].sort()).toEqual(['a.example', 'b.example', 'c.example']);
    expect(hosts.get('b.example')?.apiUrl).toBe('https://b/');
    expect(refused).toEqual(['s2 true bad apiUrl', 's3 false not an object']);
  });
});

describe('the wiring’s registry (infra-cost F16: no silent stale key)', () => {
  it('counts every failed refresh in the log with RefreshFailures', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ping-muc-keys-'));
    const keyFile = join(dir, 'master.json');
    const hostsFile = join(dir, 'hosts.json');
    writeFileSync(keyFile, master(CURRENT));
    writeFileSync(hostsFile, JSON.stringify({ servers: [{ id: 's1', hosts: ['a.example'], apiUrl: URL_A }] }));
    const logs: Array<Record<string, unknown>> = [];
    const emf: string[] = [];
    const metrics = new Metrics('PingMuc', (line) => emf.push(line), 'test', 'detailed');
    const registry = hostRegistry({
      config: loadConfig({
        PING_MUC_MASTER_KEY_FILE: keyFile,
        PING_MUC_HOSTS_FILE: hostsFile,
        PING_MUC_CACHE_SECONDS: '0',
      }),
      log: createLogger('t', 'info', (line) => logs.push(JSON.parse(line))),
      metrics,
    });
    const before = await registry.webhookKeys('a.example');
    writeFileSync(keyFile, '{"current": "short"}');
    writeFileSync(hostsFile, '{');
    expect(await registry.webhookKeys('a.example')).toEqual(before);
    expect(logs.map((l) => [l.level, l.message])).toEqual([
      ['error', 'host registry refresh failed, keeping the last one'],
      ['error', 'master key refresh failed, keeping the last one'],
    ]);
    expect(String(logs[1]?.error)).toMatch(/master\.json.current is too weak/);
    metrics.flush();
    // By default one metric, [Stack]; PING_MUC_METRICS=detailed adds the Source.
    const counted = emf.map((l) => JSON.parse(l)).filter((d) => d.RefreshFailures !== undefined);
    expect(counted.map((d) => [d.Source, d.RefreshFailures]).sort()).toEqual([
      [undefined, 2],
      ['host-registry', 1],
      ['master-key', 1],
    ]);
  });

  it('refuses a host registry with the local fixed keys: keys are per host', () => {
    const config = loadConfig({ PING_MUC_HOSTS_FILE: 'h.json' });
    const log = createLogger('t', 'error', () => undefined);
    expect(() =>
      hostRegistry({
        config,
        log,
        metrics: new Metrics('t', () => undefined),
        fixed: { webhook: 'x'.repeat(32), api: 'y'.repeat(32) },
      }),
    ).toThrow(/a host registry needs the master key/);
  });
});

describe('the Secrets Manager source', () => {
  let server: Server;
  const seen: Array<{ target: string; body: Record<string, unknown> }> = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        seen.push({ target: String(req.headers['x-amz-target']), body: JSON.parse(body) });
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify({ ARN: 'arn:k', Name: 'k', SecretString: master(CURRENT) }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('reads the secret’s current version with GetSecretValue', async () => {
    const client = new SecretsManagerClient({
      region: 'eu-west-1',
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    expect(await secretsManagerSource('arn:aws:secretsmanager:eu-west-1:123456789012:secret:k', client)()).toBe(
      master(CURRENT),
    );
    expect(seen).toEqual([
      {
        target: 'secretsmanager.GetSecretValue',
        body: { SecretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:k' },
      },
    ]);
    client.destroy();
  });
});
