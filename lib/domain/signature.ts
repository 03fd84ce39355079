// Standard Webhooks signatures (webhook-id, webhook-timestamp, webhook-signature: v1,<b64>).
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';

export const TOLERANCE_SECONDS = 5 * 60;
const MIN_KEY_BYTES = 24;

export class SignatureError extends Error {
  override name = 'SignatureError';
}

/** `whsec_<base64>` is decoded; any other secret is taken as UTF-8. Weak keys are refused. */
export function secretKey(secret: string | undefined, what = 'secret'): Buffer {
  if (!secret) throw new SignatureError(`${what} is not set`);
  const key = secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret, 'utf8');
  if (key.length < MIN_KEY_BYTES) {
    throw new SignatureError(`${what} is too weak: ${key.length} bytes, at least ${MIN_KEY_BYTES} needed`);
  }
  return key;
}

export interface SignedHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

function mac(key: Buffer, id: string, timestamp: string, body: string | Buffer): Buffer {
  return createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest();
}

/** One key, or several (current first, then previous: a rotation); a list is never empty. */
export type Keys = Buffer | readonly Buffer[];

const keyList = (keys: Keys): readonly Buffer[] => (Buffer.isBuffer(keys) ? [keys] : keys);

/** Signs with each key: several space-separated signatures during a rotation, one match is enough. */
export function sign(
  keys: Keys,
  body: string | Buffer,
  nowSeconds = Math.floor(Date.now() / 1000),
  id: string = `msg_${randomUUID()}`,
): SignedHeaders {
  const timestamp = String(nowSeconds);
  const list = keyList(keys);
  if (list.length === 0) throw new SignatureError('no key to sign with');
  return {
    'webhook-id': id,
    'webhook-timestamp': timestamp,
    'webhook-signature': list.map((key) => `v1,${mac(key, id, timestamp, body).toString('base64')}`).join(' '),
  };
}

type Headers = Record<string, string | undefined>;

/**
 * Checks the signature against each key (current and previous during a rotation) and the
 * timestamp; returns the webhook id. Header names are lower-case.
 */
export function verify(
  keys: Keys,
  headers: Headers,
  body: string | Buffer,
  nowSeconds = Math.floor(Date.now() / 1000),
): string {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signatures = headers['webhook-signature'];
  if (!id || !timestamp || !signatures)
    throw new SignatureError('missing webhook-id, webhook-timestamp or webhook-signature');
  if (id.length > 256) throw new SignatureError('webhook-id too long');
  if (!/^\d{1,12}$/.test(timestamp)) throw new SignatureError('webhook-timestamp is not Unix seconds');
  if (Math.abs(nowSeconds - Number(timestamp)) > TOLERANCE_SECONDS) {
    throw new SignatureError('webhook-timestamp outside the 5 minute tolerance');
  }
  const expected = keyList(keys).map((key) => mac(key, id, timestamp, body));
  for (const candidate of signatures.split(' ')) {
    const [version, b64] = candidate.split(',', 2);
    if (version !== 'v1' || !b64) continue;
    const given = Buffer.from(b64, 'base64');
    for (const want of expected) if (given.length === want.length && timingSafeEqual(given, want)) return id;
  }
  throw new SignatureError('bad webhook-signature');
}
