// Per-host keys from the master key: pinned vectors (docs/hosts.md quotes them; the module only
// receives the derived keys), the master key's format, and the host-keys script's lines.
import { describe, expect, it } from 'vitest';
import { deriveKey, hostKeys, keyText, MasterKeyError, parseMasterKey } from '../../lib/domain/keys';
import { secretKey } from '../../lib/domain/signature';
import { prosodyLines } from '../../scripts/host-keys';

const CURRENT = 'ping-muc test master key 0123456789';
const PREVIOUS = 'ping-muc previous master key 98765';
const MASTER = JSON.stringify({ current: CURRENT, previous: PREVIOUS });

// HKDF-SHA256(ikm = the value's UTF-8 bytes, salt "ping-muc", info "<kind>|<host>", 32 bytes),
// checked against an independent RFC 5869 implementation (Python hmac/hashlib).
const VECTORS = [
  [CURRENT, 'webhook', 'a.example', 'whsec_RbAOQ66eib0RIWY249JLz1zTqpXy0wBt+0BVyOUGoBA='],
  [CURRENT, 'stanza-api', 'a.example', 'whsec_uDzVuSQA5ddXadnWzp3ZWozqNNMEaWAgaDXSK82jF1s='],
  [CURRENT, 'webhook', 'b.example', 'whsec_UfFuIvOa+3PfUetjOyxkW295DH3SfBJ/5PF3DCdc2xA='],
  [PREVIOUS, 'webhook', 'a.example', 'whsec_6Xqk6yE6+qLv36VCLi+zmZI/d1R5jSiR8pvYF+4WmQk='],
  [CURRENT, 'webhook', 'संगणक.भारत', 'whsec_Z7Y6fphm91EQ9Qxe0316+Y8gA7VnT6FRaWAWVKfKSq8='],
] as const;

describe('derived keys', () => {
  it.each(VECTORS)('HKDF(%s, %s|%s) is pinned', (master, kind, host, expected) => {
    expect(keyText(deriveKey(Buffer.from(master, 'utf8'), kind, host))).toBe(expected);
  });

  it('derives the current key, then the previous one during a rotation', () => {
    const keys = hostKeys(parseMasterKey(MASTER), 'webhook', 'a.example').map(keyText);
    expect(keys).toEqual([VECTORS[0][3], VECTORS[3][3]]);
    expect(hostKeys(parseMasterKey(JSON.stringify({ current: CURRENT })), 'webhook', 'a.example')).toHaveLength(1);
  });

  it('gives keys the module accepts as they are printed (whsec_, 32 bytes)', () => {
    expect(secretKey(VECTORS[0][3])).toHaveLength(32);
  });
});

describe('parseMasterKey', () => {
  it('reads whsec_ values as their bytes, others as UTF-8', () => {
    const raw = Buffer.alloc(32, 7);
    const key = parseMasterKey(JSON.stringify({ current: `whsec_${raw.toString('base64')}`, previous: CURRENT }));
    expect(key.current).toEqual(raw);
    expect(key.previous).toEqual(Buffer.from(CURRENT, 'utf8'));
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
  it('prints the VirtualHost lines with both keys of each kind during a rotation', () => {
    expect(prosodyLines(parseMasterKey(MASTER), 'A.Example', 'https://events.example/')).toEqual([
      'VirtualHost "A.Example"',
      '    modules_enabled = { "ping_muc_cloud" }',
      '    ping_muc_cloud_events_url = "https://events.example/"',
      `    ping_muc_cloud_webhook_secret = "${VECTORS[0][3]}"`,
      `    ping_muc_cloud_webhook_secret_previous = "${VECTORS[3][3]}"`,
      `    ping_muc_cloud_api_secret = "${VECTORS[1][3]}"`,
      `    ping_muc_cloud_api_secret_previous = "${keyText(deriveKey(Buffer.from(PREVIOUS), 'stanza-api', 'a.example'))}"`,
    ]);
  });

  it('derives an IDN host’s keys from its Unicode name, whichever form is given', () => {
    const master = parseMasterKey(JSON.stringify({ current: CURRENT }));
    const lines = prosodyLines(master, 'xn--i1b2bf2c1f.xn--h2brj9c');
    expect(lines).toContain(`    ping_muc_cloud_webhook_secret = "${VECTORS[4][3]}"`);
  });
});
