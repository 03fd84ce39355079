// The cursors of the paged queries: joinsOf's is base64url(JSON(LastEvaluatedKey)) of its join
// partition's query, overdue's the same of one position per byDue shard. Opaque to callers, but
// validated on use, so that a malformed or foreign cursor throws instead of silently restarting
// or skipping a round (or the reconciler's walk).
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { dueShardKey } from './keys';
import { DUE_SHARDS, KEYS } from './table';

type Item = Record<string, AttributeValue>;

export class InvalidCursorError extends Error {
  override name = 'InvalidCursorError';
}

/** The key attributes a table LastEvaluatedKey holds. */
const CURSOR_KEYS = [KEYS.pk, KEYS.sk] as const;

export function encodeCursor(key: Item): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

const bad = (why: string) => new InvalidCursorError(`invalid store cursor: ${why}`);

function parse(cursor: string): unknown {
  if (!/^[A-Za-z0-9_-]{1,65536}$/.test(cursor)) throw bad('not base64url');
  try {
    return JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad('not JSON');
  }
}

/** The ExclusiveStartKey of `cursor`, which must belong to the query of the join partition `pk`. */
export function decodeCursor(cursor: string, pk: string): Item {
  const parsed = parse(cursor);
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
  if (values[KEYS.pk] !== pk) throw bad('belongs to another query');
  return Object.fromEntries(CURSOR_KEYS.map((name) => [name, { S: values[name] as string }]));
}

/**
 * Where the overdue walk stands in each byDue shard: `true` not read yet, `null` read to its end,
 * else the ExclusiveStartKey (the last item taken from it).
 */
export type DuePositions = Array<Item | true | null>;

/** The four key attributes of a byDue LastEvaluatedKey (table key + index key). */
const DUE_CURSOR_KEYS = [KEYS.pk, KEYS.sk, KEYS.dpk, KEYS.due] as const;

export function encodeDueCursor(positions: DuePositions): string {
  return Buffer.from(JSON.stringify(positions), 'utf8').toString('base64url');
}

export function decodeDueCursor(cursor: string): DuePositions {
  const parsed = parse(cursor);
  if (!Array.isArray(parsed) || parsed.length !== DUE_SHARDS) throw bad(`not ${DUE_SHARDS} shard positions`);
  return parsed.map((position: unknown, shard): Item | true | null => {
    if (position === true || position === null) return position;
    if (typeof position !== 'object' || Array.isArray(position)) throw bad(`bad shard ${shard}`);
    const obj = position as Record<string, unknown>;
    if (Object.keys(obj).length !== DUE_CURSOR_KEYS.length) throw bad('unexpected keys');
    const value = (name: string, type: 'S' | 'N'): string => {
      const v = obj[name];
      const s =
        typeof v === 'object' && v !== null && Object.keys(v).length === 1
          ? (v as Record<string, unknown>)[type]
          : undefined;
      if (typeof s !== 'string') throw bad(`bad ${name}`);
      return s;
    };
    const key: Item = {
      [KEYS.pk]: { S: value(KEYS.pk, 'S') },
      [KEYS.sk]: { S: value(KEYS.sk, 'S') },
      [KEYS.dpk]: { S: value(KEYS.dpk, 'S') },
      [KEYS.due]: { N: value(KEYS.due, 'N') },
    };
    if (key[KEYS.dpk]?.S !== dueShardKey(shard) || !Number.isFinite(Number(key[KEYS.due]?.N)))
      throw bad('belongs to another query');
    return key;
  });
}
