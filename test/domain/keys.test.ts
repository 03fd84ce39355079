// Per-server keys from the master key: pinned vectors (docs/hosts.md quotes them; the module only
// receives the derived keys), the master key's format, and the host-keys script's lines.
import { describe, expect, it } from 'vitest';
import { deriveKey, keyText, MasterKeyError, parseMasterKey, serverKeys } from '../../lib/domain/keys';
import { secretKey } from '../../lib/domain/signature';
import { keyTarget, prosodyLines } from '../../scripts/host-keys';

const CURRENT = 'ping-muc test master key 0123456789';
const PREVIOUS = 'ping-muc previous master key 98765';
const MASTER = JSON.stringify({ current: CURRENT, previous: PREVIOUS });

// HKDF-SHA256(ikm = the value's UTF-8 bytes, salt "ping-muc", info "<kind>|<server id>", 32
// bytes), recomputed with an independent RFC 5869 implementation written on Python's hmac and
// hashlib (PRK = HMAC(salt, ikm); T(1) = HMAC(PRK, info | 0x01)). Without a registry the server
// id is the host's name: the last two vectors.
const VECTORS = [
  [CURRENT, 'webhook', 'xmpp1', 'whsec_HyF3a0hkOCXU8XzbE9gAmCxIQDq3zCc4u9NVK1t4eKk='],
  [CURRENT, 'stanza-api', 'xmpp1', 'whsec_qLNkKcBW1CN++DGW4znXYLLKcQYF9ilPj27ChdmRQ10='],
  [CURRENT, 'webhook', 'xmpp2', 'whsec_WmWDnXQNSNPzx5Y57ATtFooTuNDh7l9FPUJsxhT4r7c='],
  [PREVIOUS, 'webhook', 'xmpp1', 'whsec_FSfvRyFKbwSfBnTvMMkA6c+Z997C6KpO3Lw8GGsxeG8='],
  [PREVIOUS, 'stanza-api', 'xmpp1', 'whsec_kPk3WjPTiXtvp62rencuSce6XIaawIa4nnHyN2uAW74='],
  [CURRENT, 'webhook', 'a.example', 'whsec_RbAOQ66eib0RIWY249JLz1zTqpXy0wBt+0BVyOUGoBA='],
  [CURRENT, 'webhook', 'संगणक.भारत', 'whsec_Z7Y6fphm91EQ9Qxe0316+Y8gA7VnT6FRaWAWVKfKSq8='],
] as const;

describe('derived keys', () => {
  it.each(VECTORS)('pins the key derived from master %s for %s|%s', (master, kind, server, expected) => {
    expect(keyText(deriveKey(Buffer.from(master, 'utf8'), kind, server))).toBe(expected);
  });

  it('derives the previous key after the current one during a rotation', () => {
    const keys = serverKeys(parseMasterKey(MASTER), 'webhook', 'xmpp1').map(keyText);
    expect(keys).toEqual([VECTORS[0][3], VECTORS[3][3]]);
  });

  it('derives one key from a master key without a previous value', () => {
    expect(serverKeys(parseMasterKey(JSON.stringify({ current: CURRENT })), 'webhook', 'xmpp1')).toHaveLength(1);
  });

  it('prints keys the module accepts: whsec_ text of 32 bytes', () => {
    expect(secretKey(VECTORS[0][3])).toHaveLength(32);
  });
});

describe('parseMasterKey', () => {
  const raw = Buffer.alloc(32, 7);
  const mixed = () => parseMasterKey(JSON.stringify({ current: `whsec_${raw.toString('base64')}`, previous: CURRENT }));

  it('reads a whsec_ value as its bytes', () => {
    expect(mixed().current).toEqual(raw);
  });

  it('reads any other value as UTF-8', () => {
    expect(mixed().previous).toEqual(Buffer.from(CURRENT, 'utf8'));
  });

  it.each([
    ['not JSON', CURRENT, /not JSON/],
    ['an array', '[]', /JSON object/],
    ['no current', '{}', /master key.current must be a string/],
    ['a weak current', '{"current":"short"}', /too weak/],
    ['a weak previous', JSON.stringify({ current: CURRENT, previous: 'short' }), /previous is too weak/],
    ['an unknown field', JSON.stringify({ current: CURRENT, next: CURRENT }), /unknown fields: next/],
  ])('refuses %s', (_what, text, message) => {
    expect(() => parseMasterKey(text)).toThrow(MasterKeyError);
    expect(() => parseMasterKey(text)).toThrow(message);
  });
});

describe('npm run host-keys', () => {
  const SERVERS = [
    { id: 'xmpp1', hosts: ['a.example', 'b.example'], apiUrl: 'https://xmpp1/' },
    { id: 'xmpp2', hosts: ['c.example'], apiUrl: 'https://xmpp2/' },
  ];

  it('prints the global lines of a server during a rotation', () => {
    expect(prosodyLines(parseMasterKey(MASTER), keyTarget('xmpp1', SERVERS), 'https://events.example/')).toEqual([
      '-- server xmpp1: the keys of its VirtualHosts a.example, b.example',
      '-- with "ping_muc_cloud" in the global modules_enabled',
      'ping_muc_cloud_events_url = "https://events.example/"',
      `ping_muc_cloud_webhook_secret = "${VECTORS[0][3]}"`,
      `ping_muc_cloud_webhook_secret_previous = "${VECTORS[3][3]}"`,
      `ping_muc_cloud_api_secret = "${VECTORS[1][3]}"`,
      `ping_muc_cloud_api_secret_previous = "${VECTORS[4][3]}"`,
    ]);
  });

  it('takes a host of the registry for its server', () => {
    expect(keyTarget('B.Example', SERVERS)).toEqual({ server: 'xmpp1', hosts: ['a.example', 'b.example'] });
    expect(keyTarget('c.example', SERVERS)).toEqual({ server: 'xmpp2', hosts: ['c.example'] });
  });

  it('refuses a name the registry does not know', () => {
    expect(() => keyTarget('xmpp3', SERVERS)).toThrow(/neither a server id nor a host of the registry/);
  });

  it('derives a host’s keys from its name in any form when no registry lists it', () => {
    const master = parseMasterKey(JSON.stringify({ current: CURRENT }));
    expect(keyTarget('A.Example')).toEqual({ server: 'a.example' });
    expect(keyTarget('a.example', [])).toEqual({ server: 'a.example' });
    const lines = prosodyLines(master, keyTarget('xn--i1b2bf2c1f.xn--h2brj9c'));
    expect(lines[0]).toBe('-- VirtualHost संगणक.भारत (no host registry: the host is its own server)');
    expect(lines).toContain(`ping_muc_cloud_webhook_secret = "${VECTORS[6][3]}"`);
  });
});
