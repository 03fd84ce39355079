// The joinsOf cursor: base64url(JSON(LastEvaluatedKey)) of the GSI query. Opaque to callers, but
// validated on use, so that a malformed or foreign cursor throws instead of silently restarting
// or skipping a round.
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { KEYS } from './table';

type Item = Record<string, AttributeValue>;

export class InvalidCursorError extends Error {
  override name = 'InvalidCursorError';
}

/** The four key attributes a GSI LastEvaluatedKey holds (table key + GSI key). */
const CURSOR_KEYS = [KEYS.pk, KEYS.sk, KEYS.gpk, KEYS.gsk] as const;

export function encodeCursor(key: Item): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/** The ExclusiveStartKey of `cursor`, which must belong to the query of `host` and `gskPrefix`. */
export function decodeCursor(cursor: string, host: string, gskPrefix: string): Item {
  const bad = (why: string) => new InvalidCursorError(`invalid store cursor: ${why}`);
  if (!/^[A-Za-z0-9_-]{1,65536}$/.test(cursor)) throw bad('not base64url');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad('not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw bad('not an object');
  const obj = parsed as Record<string, unknown>;
  if (Object.keys(obj).length !== CURSOR_KEYS.length) throw bad('unexpected keys');
  const values: Record<string, string> = {};
  for (const name of CURSOR_KEYS) {
    const v = obj[name];
    const s = typeof v === 'object' && v !== null && Object.keys(v).length === 1 ? (v as { S?: unknown }).S : undefined;
    if (typeof s !== 'string') throw bad(`bad ${name}`);
    values[name] = s;
  }
  if (values[KEYS.gpk] !== host || !values[KEYS.gsk]?.startsWith(gskPrefix) || !values[KEYS.pk]?.startsWith('J#')) {
    throw bad('belongs to another query');
  }
  return Object.fromEntries(CURSOR_KEYS.map((name) => [name, { S: values[name] as string }]));
}
