// Items to and from DynamoDB attribute values. Writes marshall whole objects (so a field added
// to Round is persisted without touching this file); reads unmarshall and check the item's shape
// once per item kind, so a damaged item fails loudly ("corrupt store item") instead of flowing
// on as undefined.
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { joinedAt, type Join, type Round } from '../../domain/model';
import { dueShard, joinKey, roundKey } from './keys';
import { KEYS } from './table';

export type Item = Record<string, AttributeValue>;

/** An item read from the table does not have the shape its kind requires. */
export class CorruptItemError extends Error {
  override name = 'CorruptItemError';
}

/** Marshall a plain object; undefined fields are left out (DynamoDB has no undefined). */
export const toItem = (value: Record<string, unknown>): Item => marshall(value, { removeUndefinedValues: true });

type Spec = Record<string, 'string' | 'number' | 'string?' | 'number?'>;
type Required<S extends Spec> = {
  [K in keyof S as S[K] extends `${string}?` ? never : K]: S[K] extends 'string' ? string : number;
};
type Optional<S extends Spec> = {
  [K in keyof S as S[K] extends `${string}?` ? K : never]?: S[K] extends 'string?' ? string : number;
};
export type Shaped<S extends Spec> = Required<S> & Optional<S> & Record<string, unknown>;

/** Unmarshall `item` and check every field of `spec`; throws CorruptItemError naming the kind and field. */
export function shaped<S extends Spec>(kind: string, item: Item, spec: S): Shaped<S> {
  const value = unmarshall(item);
  for (const [name, want] of Object.entries(spec)) {
    const v = value[name];
    const optional = want.endsWith('?');
    if (v === undefined && optional) continue;
    const type = optional ? want.slice(0, -1) : want;
    if (typeof v !== type || (type === 'number' && !Number.isFinite(v))) {
      throw new CorruptItemError(
        `corrupt store item: ${kind} ${item[KEYS.pk]?.S ?? '?'} has ${name} = ${String(v)}, expected ${want}`,
      );
    }
  }
  return value as Shaped<S>;
}

// --- joins --------------------------------------------------------------------------------

const JOIN = {
  host: 'string',
  user: 'string',
  room: 'string',
  nick: 'string',
  remote: 'string',
  epoch: 'number?',
  seq: 'number',
  since: 'number?',
  recheck: 'string?',
} as const;

/**
 * The attributes of a live join item but its key and its round marks: what a join event sets.
 * `since` is always stored (= seq for a new join), so that the writes acting on "the same join"
 * compare one attribute. `epoch` is always stored too (0 when the event had none).
 */
export function joinAttributes(join: Join, expiresAt: number): Record<string, string | number> {
  return {
    host: join.host,
    user: join.user,
    room: join.room,
    nick: join.nick,
    remote: join.remote,
    epoch: join.epoch ?? 0,
    seq: join.seq,
    since: joinedAt(join),
    [KEYS.ttl]: expiresAt,
  };
}

/** The whole item of a join that replaces what is stored (a recheck mark it carries is kept). */
export function joinItem(join: Join, expiresAt: number): Item {
  return toItem({ ...joinKey(join), ...joinAttributes(join, expiresAt), recheck: join.recheck });
}

/**
 * A live join item as a Join: `since` only when earlier than seq, `epoch` only when not 0 (as the
 * model defines them).
 */
export function toJoin(item: Item): Join {
  const v = shaped('join', item, JOIN);
  const join: Join = { host: v.host, user: v.user, room: v.room, nick: v.nick, remote: v.remote, seq: v.seq };
  if (v.epoch) join.epoch = v.epoch;
  if (v.since !== undefined && v.since !== v.seq) join.since = v.since;
  if (v.recheck !== undefined) join.recheck = v.recheck;
  return join;
}

// --- rounds -------------------------------------------------------------------------------

const ROUND = {
  host: 'string',
  remote: 'string',
  gen: 'string',
  cutoffSeq: 'number',
  epoch: 'number?',
  pass: 'number',
  state: 'string',
  cursor: 'string?',
  marked: 'number?',
  notBefore: 'number?',
  due: 'number?',
} as const;

const STATES: ReadonlySet<string> = new Set<Round['state']>(['running', 'waiting', 'done']);

/**
 * The whole Round, plus its key and expiry. A round not done with a `due` is in the byDue index
 * (its shard in KEYS.dpk, `due` being the index's sort key); a done round has no due.
 */
export function roundItem(round: Round, expiresAt: number): Item {
  const { due, ...rest } = round;
  const open = round.state !== 'done' && due !== undefined;
  return toItem({
    ...rest,
    ...(open ? { [KEYS.due]: due, [KEYS.dpk]: dueShard(round.host, round.remote) } : {}),
    ...roundKey(round.host, round.remote, round.gen),
    [KEYS.ttl]: expiresAt,
  });
}

/** Every stored field but the key, the index partition and expiry: what roundItem wrote. */
export function toRound(item: Item): Round {
  const { [KEYS.pk]: _pk, [KEYS.sk]: _sk, [KEYS.ttl]: _ttl, [KEYS.dpk]: _dpk, ...round } = shaped('round', item, ROUND);
  if (!STATES.has(round.state))
    throw new CorruptItemError(`corrupt store item: round ${item[KEYS.pk]?.S ?? '?'} has state = ${round.state}`);
  return round as unknown as Round;
}
