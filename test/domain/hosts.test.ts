// The host registry: its document, the caches of the registry and the secrets, the SSM source,
// and the signatures with several keys.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ssmRegistrySource } from '../../lib/adapters/registry-ssm';
import { hostName, parseHosts, RegistryError } from '../../lib/domain/hosts';
import { SignatureError, secretKey, sign, verify } from '../../lib/domain/signature';
import { ConfigError, loadConfig, requireAws } from '../../lib/support/config';
import { DocumentRegistry, EnvRegistry } from '../../lib/support/registry';
import { SecretCache } from '../../lib/support/secrets';

const K1 = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
const K2 = `whsec_${Buffer.alloc(32, 2).toString('base64')}`;
const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:ping-muc/a-AbCdEf';
const doc = (servers: unknown[]) => JSON.stringify({ v: 1, servers });
const URL_A = 'https://a.example:5281/ping_muc_cloud/stanza';

describe('parseHosts', () => {
  it('gives each host its server’s keys unless it has its own, and normalizes the host', () => {
    const hosts = parseHosts(
      doc([
        {
          name: 'one',
          webhookSecret: K1,
          apiSecret: K1,
          hosts: { 'A.Example.': { apiUrl: URL_A }, 'b.example': { apiUrl: URL_A, apiSecret: K2 } },
        },
      ]),
      { arnsOnly: false },
    );
    expect(hosts.get('a.example')).toEqual({
      host: 'a.example',
      server: 'one',
      apiUrl: URL_A,
      webhookSecret: K1,
      apiSecret: K1,
    });
    expect(hosts.get('b.example')?.apiSecret).toBe(K2);
  });

  it('on AWS takes Secrets Manager ARNs only, with an optional version stage', () => {
    const server = { webhookSecret: ARN, previousWebhookSecret: `${ARN}#AWSPREVIOUS`, apiSecret: ARN };
    const hosts = parseHosts(doc([{ ...server, hosts: { 'a.example': { apiUrl: URL_A } } }]), { arnsOnly: true });
    expect(hosts.get('a.example')?.previousWebhookSecret).toBe(`${ARN}#AWSPREVIOUS`);
    expect(() =>
      parseHosts(doc([{ ...server, apiSecret: K1, hosts: { 'a.example': { apiUrl: URL_A } } }]), { arnsOnly: true }),
    ).toThrow(/must be a Secrets Manager ARN/);
  });

  it.each([
    ['not JSON', '{', /not JSON/],
    ['another version', JSON.stringify({ v: 2, servers: [] }), /"v": 1/],
    ['no servers', doc([]), /non-empty array/],
    ['no hosts', doc([{ webhookSecret: K1, apiSecret: K1, hosts: {} }]), /hosts must be a non-empty object/],
    ['no API URL', doc([{ webhookSecret: K1, apiSecret: K1, hosts: { 'a.example': {} } }]), /apiUrl/],
    ['no webhook key', doc([{ apiSecret: K1, hosts: { 'a.example': { apiUrl: URL_A } } }]), /no webhookSecret/],
    [
      'a weak key',
      doc([{ webhookSecret: 'short', apiSecret: K1, hosts: { 'a.example': { apiUrl: URL_A } } }]),
      /too weak/,
    ],
    [
      'a bad ARN',
      doc([{ webhookSecret: 'arn:aws:s3:::bucket', apiSecret: K1, hosts: { 'a.example': { apiUrl: URL_A } } }]),
      /not a Secrets Manager secret ARN/,
    ],
    [
      'a host twice',
      doc([
        { webhookSecret: K1, apiSecret: K1, hosts: { 'a.example': { apiUrl: URL_A } } },
        { webhookSecret: K1, apiSecret: K1, hosts: { 'A.EXAMPLE': { apiUrl: URL_A } } },
      ]),
      /listed twice/,
    ],
    ['a bad host', doc([{ webhookSecret: K1, apiSecret: K1, hosts: { 'a b': { apiUrl: URL_A } } }]), /invalid domain/],
  ])('refuses %s', (_what, text, message) => {
    expect(() => parseHosts(text, { arnsOnly: false })).toThrow(RegistryError);
    expect(() => parseHosts(text, { arnsOnly: false })).toThrow(message);
  });
});

describe('hostName', () => {
  it('maps A-labels to Unicode and normalizes like a JID domain', () => {
    expect(hostName('xn--i1b2bf2c1f.XN--H2BRJ9C.')).toBe('संगणक.भारत');
    expect(hostName('संगणक.भारत')).toBe('संगणक.भारत');
    expect(hostName('A.Example')).toBe('a.example');
    expect(() => hostName('xn--zz.example')).toThrow(/bad A-label/);
    expect(() => hostName('a b')).toThrow(/invalid domain/);
  });

  it('lets the registry list an IDN host in either form', () => {
    const hosts = parseHosts(
      doc([{ webhookSecret: K1, apiSecret: K1, hosts: { 'xn--i1b2bf2c1f.xn--h2brj9c': { apiUrl: URL_A } } }]),
      { arnsOnly: false },
    );
    expect([...hosts.keys()]).toEqual(['संगणक.भारत']);
  });
});

describe('signatures with several keys', () => {
  it('signs with each key and verifies with any', () => {
    const [k1, k2] = [secretKey(K1), secretKey(K2)];
    const headers = sign([k1, k2], 'body', 1000);
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(verify(k2, { ...headers }, 'body', 1000)).toBe(headers['webhook-id']);
    const k3 = secretKey(`whsec_${Buffer.alloc(32, 3).toString('base64')}`);
    const one = sign(k1, 'b', 5);
    expect(verify([k3, k1], { ...one }, 'b', 5)).toBe(one['webhook-id']);
    expect(() => verify(k1, { ...sign(k2, 'b', 5) }, 'b', 5)).toThrow(SignatureError);
  });
});

describe('SecretCache', () => {
  it('fetches an ARN once per TTL, and keeps the last key while a refresh fails', async () => {
    let now = 0;
    let calls = 0;
    let value: string | Error = K1;
    const cache = new SecretCache(
      1000,
      async (ref) => {
        calls++;
        expect(ref).toBe(`${ARN}#AWSPREVIOUS`);
        if (value instanceof Error) throw value;
        return value;
      },
      () => now,
    );
    const ref = `${ARN}#AWSPREVIOUS`;
    expect(await cache.key(ref, 'k')).toEqual(secretKey(K1));
    expect(await cache.key(ref, 'k')).toEqual(secretKey(K1));
    expect(calls).toBe(1);
    now = 1500;
    value = K2;
    expect(await cache.key(ref, 'k')).toEqual(secretKey(K2));
    now = 3000;
    value = new Error('Secrets Manager down');
    expect(await cache.key(ref, 'k')).toEqual(secretKey(K2));
    expect(calls).toBe(3);
    expect(await cache.key(K1, 'plain')).toEqual(secretKey(K1));
  });

  it('fails when it has nothing to fall back on, and tries again next time', async () => {
    let fail = true;
    const cache = new SecretCache(1000, async () => {
      if (fail) throw new Error('denied');
      return K1;
    });
    await expect(cache.key(ARN, 'k')).rejects.toThrow('denied');
    fail = false;
    expect(await cache.key(ARN, 'k')).toEqual(secretKey(K1));
  });
});

describe('DocumentRegistry', () => {
  const one = (apiUrl: string, extra: object = {}) =>
    doc([{ webhookSecret: K1, apiSecret: K1, ...extra, hosts: { 'a.example': { apiUrl } } }]);

  it('re-reads its source after the TTL, keeps the last good document after a bad one', async () => {
    let now = 0;
    let text = one(URL_A);
    let reads = 0;
    const stale: string[] = [];
    const registry = new DocumentRegistry({
      source: async () => {
        reads++;
        return text;
      },
      name: 'test',
      arnsOnly: false,
      ttlMs: 60_000,
      secrets: new SecretCache(),
      now: () => now,
      onStale: (err) => stale.push(err.message),
    });
    expect(await registry.api('A.example')).toEqual({ url: URL_A, keys: [secretKey(K1)] });
    expect(await registry.webhookKeys('b.example')).toBeUndefined();
    expect(reads).toBe(1);
    now = 61_000;
    text = one('https://new.example/stanza', { previousApiSecret: K2 });
    expect(await registry.api('a.example')).toEqual({
      url: 'https://new.example/stanza',
      keys: [secretKey(K1), secretKey(K2)],
    });
    now = 122_000;
    text = '{"v":1';
    expect((await registry.api('a.example'))?.url).toBe('https://new.example/stanza');
    expect(stale).toEqual([expect.stringMatching(/host registry test: host registry is not JSON/)]);
    // Tried again after 30 s, not on every call.
    await registry.api('a.example');
    expect(reads).toBe(3);
    now = 152_000;
    text = one(URL_A);
    expect((await registry.api('a.example'))?.url).toBe(URL_A);
  });

  it('fails when the first read fails', async () => {
    const registry = new DocumentRegistry({
      source: async () => {
        throw new Error('AccessDenied');
      },
      name: 'p',
      arnsOnly: true,
      ttlMs: 1,
      secrets: new SecretCache(),
    });
    await expect(registry.webhookKeys('a.example')).rejects.toThrow(/host registry p: AccessDenied/);
  });
});

describe('EnvRegistry', () => {
  it('serves every host from the environment, with the previous keys when set', async () => {
    const env = { PING_MUC_WEBHOOK_SECRET: K1, PING_MUC_API_SECRET: K2, PING_MUC_API_SECRET_PREVIOUS: K1 };
    const registry = new EnvRegistry(env, URL_A, new SecretCache());
    expect(registry.multiHost).toBe(false);
    expect(await registry.webhookKeys('any.example')).toEqual([secretKey(K1)]);
    expect(await registry.api('other.example')).toEqual({ url: URL_A, keys: [secretKey(K2), secretKey(K1)] });
    await expect(new EnvRegistry({}, '', new SecretCache()).webhookKeys('a')).rejects.toThrow(
      /PING_MUC_WEBHOOK_SECRET or PING_MUC_WEBHOOK_SECRET_ARN must be set/,
    );
    await expect(new EnvRegistry(env, '', new SecretCache()).api('a')).rejects.toThrow(/PING_MUC_API_URL is not set/);
  });
});

describe('the SSM source', () => {
  let server: Server;
  const seen: Array<{ target: string; body: Record<string, unknown> }> = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        seen.push({ target: String(req.headers['x-amz-target']), body: JSON.parse(body) });
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify({ Parameter: { Name: 'ping-muc-hosts', Type: 'String', Value: '{"v":1}' } }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('reads the parameter with GetParameter', async () => {
    const client = new SSMClient({
      region: 'eu-west-1',
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    expect(await ssmRegistrySource('ping-muc-hosts', client)()).toBe('{"v":1}');
    expect(seen).toEqual([{ target: 'AmazonSSM.GetParameter', body: { Name: 'ping-muc-hosts' } }]);
    client.destroy();
  });
});

describe('registry settings', () => {
  it('reads the registry and the cache TTL, and refuses two registries', () => {
    expect(loadConfig({})).toMatchObject({ cacheTtlMs: 300_000, hostsFile: undefined, hostsParameter: undefined });
    expect(loadConfig({ PING_MUC_HOSTS_FILE: 'h.json', PING_MUC_CACHE_SECONDS: '0' })).toMatchObject({
      hostsFile: 'h.json',
      cacheTtlMs: 0,
    });
    expect(() => loadConfig({ PING_MUC_HOSTS_FILE: 'h.json', PING_MUC_HOSTS_PARAMETER: 'p' })).toThrow(ConfigError);
  });

  it('on AWS, the round needs the API URL or the registry parameter', () => {
    const aws = {
      PING_MUC_SCHEDULER_ROLE_ARN: 'r',
      PING_MUC_DLQ_ARN: 'd',
      PING_MUC_ROUND_QUEUE_URL: 'q',
      PING_MUC_ROUND_QUEUE_ARN: 'qa',
    };
    expect(() => requireAws(loadConfig(aws), 'round')).toThrow(/PING_MUC_API_URL or PING_MUC_HOSTS_PARAMETER/);
    expect(() => requireAws(loadConfig({ ...aws, PING_MUC_HOSTS_PARAMETER: 'ping-muc-hosts' }), 'round')).not.toThrow();
  });
});
