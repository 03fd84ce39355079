// The host registry's records (one per server, no secrets), the host table, the registry file,
// host names, signatures with several keys and the registry settings.
import { describe, expect, it } from 'vitest';
import { hostName, hostTable, parseRegistryFile, parseServer, RegistryError } from '../../lib/domain/hosts';
import { SignatureError, secretKey, sign, verify } from '../../lib/domain/signature';
import { ConfigError, loadConfig, requireAws } from '../../lib/support/config';

const K1 = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
const K2 = `whsec_${Buffer.alloc(32, 2).toString('base64')}`;
const URL_A = 'https://a.example:5281/ping_muc_cloud/stanza';
const server = (id: string, hosts: string[], apiUrl = URL_A) => ({ id, hosts, apiUrl });

describe('parseServer', () => {
  it('normalizes the hosts including IDN ones given as A-labels', () => {
    expect(parseServer(server('one', ['A.Example.', 'xn--i1b2bf2c1f.xn--h2brj9c']))).toEqual({
      id: 'one',
      hosts: ['a.example', 'संगणक.भारत'],
      apiUrl: URL_A,
    });
  });

  it.each([
    ['not an object', [], /must be an object/],
    ['a bad id', server('a b', ['a.example']), /id must be/],
    ['no hosts', server('one', []), /hosts must be a non-empty array/],
    ['a bad host', server('one', ['a b']), /host "a b": invalid domain/],
    ['a host twice', server('one', ['a.example', 'A.EXAMPLE']), /host a.example is listed twice/],
    ['no API URL', { id: 'one', hosts: ['a.example'] }, /apiUrl must be an http\(s\) URL/],
    [
      'a key',
      { ...server('one', ['a.example']), webhookSecret: K1 },
      /unknown fields webhookSecret \(the registry holds no keys/,
    ],
    [
      'too many hosts',
      server(
        'one',
        Array.from({ length: 2001 }, (_, i) => `h${i}.example`),
      ),
      /at most 2000/,
    ],
  ])('refuses %s', (_what, raw, message) => {
    expect(() => parseServer(raw)).toThrow(RegistryError);
    expect(() => parseServer(raw)).toThrow(message);
  });
});

describe('hostTable', () => {
  it('reports a host listed by two servers while keeping it with the first', () => {
    const conflicts: string[] = [];
    const table = hostTable(
      [
        parseServer(server('a', ['x.example', 'y.example'])),
        parseServer(server('b', ['y.example', 'z.example'], 'https://b/')),
      ],
      (id, error) => conflicts.push(`${id}: ${error}`),
    );
    expect(table.get('y.example')).toEqual({ host: 'y.example', server: 'a', apiUrl: URL_A });
    expect(table.get('z.example')?.server).toBe('b');
    expect(conflicts).toEqual(['b: host y.example is listed by server a too: kept there']);
  });
});

describe('parseRegistryFile', () => {
  it('reads {"servers": [...]}', () => {
    const servers = parseRegistryFile(JSON.stringify({ servers: [server('a', ['a.example'])] }));
    expect(servers).toEqual([{ id: 'a', hosts: ['a.example'], apiUrl: URL_A }]);
  });

  it.each([
    ['not JSON', '{', /not JSON/],
    ['no servers', '{"servers":[]}', /at least one server/],
    [
      'a server twice',
      JSON.stringify({ servers: [server('a', ['a.example']), server('a', ['b.example'])] }),
      /server a is listed twice/,
    ],
    [
      'a host on two servers',
      JSON.stringify({ servers: [server('a', ['a.example']), server('b', ['a.example'])] }),
      /listed by server a too/,
    ],
  ])('refuses %s as a whole', (_what, text, message) => {
    expect(() => parseRegistryFile(text)).toThrow(message);
  });
});

describe('hostName', () => {
  it('normalizes a host like a JID domain with A-labels mapped to Unicode', () => {
    expect(hostName('xn--i1b2bf2c1f.XN--H2BRJ9C.')).toBe('संगणक.भारत');
    expect(hostName('संगणक.भारत')).toBe('संगणक.भारत');
    expect(hostName('A.Example')).toBe('a.example');
    expect(() => hostName('xn--zz.example')).toThrow(/bad A-label/);
    expect(() => hostName('a b')).toThrow(/invalid domain/);
  });
});

describe('signatures with several keys', () => {
  const [k1, k2] = [secretKey(K1), secretKey(K2)];
  const headers = sign([k1, k2], 'body', 1000);

  it('signs with each key', () => {
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
  });

  it('verifies with any of its keys', () => {
    expect(verify(k2, { ...headers }, 'body', 1000)).toBe(headers['webhook-id']);
    const k3 = secretKey(`whsec_${Buffer.alloc(32, 3).toString('base64')}`);
    const one = sign(k1, 'b', 5);
    expect(verify([k3, k1], { ...one }, 'b', 5)).toBe(one['webhook-id']);
    expect(() => verify(k1, { ...sign(k2, 'b', 5) }, 'b', 5)).toThrow(SignatureError);
  });
});

describe('registry settings', () => {
  it('reads the registry settings from the environment', () => {
    expect(loadConfig({})).toMatchObject({ cacheTtlMs: 300_000, hostsFile: undefined, hostsInTable: false });
    expect(loadConfig({ PING_MUC_HOSTS_FILE: 'h.json', PING_MUC_CACHE_SECONDS: '0' })).toMatchObject({
      hostsFile: 'h.json',
      cacheTtlMs: 0,
    });
    expect(loadConfig({ PING_MUC_REGISTRY: 'table', PING_MUC_MASTER_KEY_ARN: 'arn:x' })).toMatchObject({
      hostsInTable: true,
      masterKey: { secretId: 'arn:x' },
    });
    expect(loadConfig({ PING_MUC_MASTER_KEY_FILE: 'k.json' }).masterKey).toEqual({ file: 'k.json' });
  });

  it('refuses registry settings it cannot use', () => {
    expect(() => loadConfig({ PING_MUC_HOSTS_FILE: 'h.json', PING_MUC_REGISTRY: 'table' })).toThrow(ConfigError);
    expect(() => loadConfig({ PING_MUC_REGISTRY: 'ssm' })).toThrow(/expected "table"/);
    expect(() => loadConfig({ PING_MUC_MASTER_KEY: '{}', PING_MUC_MASTER_KEY_FILE: 'k' })).toThrow(/choose one place/);
  });

  it('on AWS needs the master key secret with the round’s API URL or registry', () => {
    const aws = {
      PING_MUC_SCHEDULER_ROLE_ARN: 'r',
      PING_MUC_DLQ_ARN: 'd',
      PING_MUC_ROUND_QUEUE_URL: 'https://sqs/q',
      PING_MUC_ROUND_QUEUE_ARN: 'arn:q',
      PING_MUC_MASTER_KEY_ARN: 'arn:k',
    };
    expect(() => requireAws(loadConfig(aws), 'round')).toThrow(/PING_MUC_API_URL or PING_MUC_REGISTRY/);
    expect(() => requireAws(loadConfig({ ...aws, PING_MUC_REGISTRY: 'table' }), 'round')).not.toThrow();
    const { PING_MUC_MASTER_KEY_ARN: _, ...noKey } = aws;
    expect(() => requireAws(loadConfig({ ...noKey, PING_MUC_API_URL: URL_A }), 'round')).toThrow(
      /PING_MUC_MASTER_KEY_ARN/,
    );
  });
});
