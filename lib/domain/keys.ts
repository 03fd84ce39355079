// Per-server keys from one master key (docs/hosts.md): HKDF-SHA256(master, salt "ping-muc",
// info "<kind>|<server id>"), 32 bytes. Every VirtualHost of a server shares its keys, so one
// global Prosody configuration serves them all. Rotating the master rotates every server's keys:
// a master holds its current value and, during a rotation, the previous one, and both derive.
import { hkdfSync } from 'node:crypto';
import { SignatureError, secretKey } from './signature';

export const KEY_SALT = 'ping-muc';
export const KEY_BYTES = 32;

/** What a derived key signs: the module's events, or ping-muc's calls to the stanza API. */
export type KeyKind = 'webhook' | 'stanza-api';

/** The master key's values as bytes: the current one, then the previous one during a rotation. */
export interface MasterKey {
  current: Buffer;
  previous?: Buffer;
}

export class MasterKeyError extends Error {
  override name = 'MasterKeyError';
}

function value(raw: unknown, where: string): Buffer {
  if (typeof raw !== 'string') throw new MasterKeyError(`${where} must be a string`);
  try {
    return secretKey(raw, where);
  } catch (err) {
    if (err instanceof SignatureError) throw new MasterKeyError(err.message, { cause: err });
    throw err;
  }
}

/**
 * The master key secret: JSON `{"current": "…", "previous"?: "…"}`, each value `whsec_<base64>`
 * or a string of at least 24 bytes (as any ping-muc secret). Throws MasterKeyError.
 */
export function parseMasterKey(text: string, name = 'master key'): MasterKey {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new MasterKeyError(`${name} is not JSON: expected {"current": "…", "previous"?: "…"}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new MasterKeyError(`${name} must be a JSON object {"current": "…", "previous"?: "…"}`);
  }
  const { current, previous, ...rest } = doc as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) throw new MasterKeyError(`${name} has unknown fields: ${extra.join(', ')}`);
  const key: MasterKey = { current: value(current, `${name}.current`) };
  if (previous !== undefined && previous !== null && previous !== '') {
    key.previous = value(previous, `${name}.previous`);
  }
  return key;
}

/**
 * One derived key. `server` is the registry's server id (ServerRecord.id, as written); without a
 * registry each host is its own server, named as ping-muc names the host (hostName).
 */
export function deriveKey(master: Buffer, kind: KeyKind, server: string): Buffer {
  return Buffer.from(hkdfSync('sha256', master, KEY_SALT, `${kind}|${server}`, KEY_BYTES));
}

/** The server's keys of `kind`: from the current master value, then from the previous one. */
export function serverKeys(master: MasterKey, kind: KeyKind, server: string): Buffer[] {
  const keys = [deriveKey(master.current, kind, server)];
  if (master.previous) keys.push(deriveKey(master.previous, kind, server));
  return keys;
}

/** A key as Prosody's configuration holds it (the module decodes `whsec_<base64>`). */
export const keyText = (key: Buffer): string => `whsec_${key.toString('base64')}`;
