import { describe, expect, it } from 'vitest';
import { secretKey, sign, SignatureError, verify } from '../../lib/domain/signature';

const key = secretKey('whsec_' + Buffer.alloc(32, 7).toString('base64'));
const now = 1_764_000_000;

describe('Standard Webhooks signatures', () => {
  it('matches the reference vector of the Standard Webhooks spec', () => {
    // From the spec's test vector (whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, msg_p5jXN8AQM9LWM0D4loKWxJek).
    const k = secretKey('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    const h = sign(k, '{"test": 2432232314}', 1614265330, 'msg_p5jXN8AQM9LWM0D4loKWxJek');
    expect(h['webhook-signature']).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('round-trips', () => {
    const h = sign(key, 'body', now, 'msg_1');
    expect(verify(key, { ...h }, 'body', now)).toBe('msg_1');
  });

  it('accepts one matching signature among several (rotation)', () => {
    const h = sign(key, 'body', now, 'msg_1');
    expect(verify(key, { ...h, 'webhook-signature': `v1,AAAA ${h['webhook-signature']}` }, 'body', now)).toBe('msg_1');
  });

  it.each([
    ['tampered body', (h: Record<string, string>) => h, 'bodY', now],
    ['missing signature', (h: Record<string, string>) => ({ ...h, 'webhook-signature': undefined }), 'body', now],
    [
      'other version',
      (h: Record<string, string>) => ({ ...h, 'webhook-signature': h['webhook-signature']!.replace('v1,', 'v2,') }),
      'body',
      now,
    ],
    ['old timestamp', (h: Record<string, string>) => h, 'body', now + 301],
    ['future timestamp', (h: Record<string, string>) => h, 'body', now - 301],
    ['changed id', (h: Record<string, string>) => ({ ...h, 'webhook-id': 'msg_2' }), 'body', now],
  ])('refuses %s', (_name, change, body, at) => {
    const h = change({ ...sign(key, 'body', now, 'msg_1') });
    expect(() => verify(key, h, body, at)).toThrow(SignatureError);
  });

  it('refuses weak or missing secrets', () => {
    expect(() => secretKey(undefined)).toThrow(/not set/);
    expect(() => secretKey('short')).toThrow(/too weak/);
    expect(() => secretKey('whsec_' + Buffer.alloc(16).toString('base64'))).toThrow(/too weak/);
    expect(secretKey('x'.repeat(24)).length).toBe(24);
  });
});
