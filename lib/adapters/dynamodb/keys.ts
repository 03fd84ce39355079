// Keys of the single table (docs/data-model.md): one builder per item type, each with its own
// pk prefix (J#, B#, L#, R#, K#, S#) so that item types never collide.
import { createHash } from 'node:crypto';
import type { JoinKey } from '../../domain/model';
import { DUE_SHARDS, KEYS } from './table';

/** The primary key of an item, as plain strings (marshalled by the store). */
export type Key = { [KEYS.pk]: string; [KEYS.sk]: string };

// DynamoDB key limits (base table and index alike): partition key 2048 bytes, sort key 1024 bytes.
// Valid JIDs can exceed them (each JID part may be 1023 bytes), and one such join must not make
// a whole events request fail forever. So an over-long key value is cut and suffixed with a
// hash of the whole value: still deterministic (leave/delete find it again), still unique. Item
// attributes (user, room…) always hold the full values; reads never parse keys.
const MAX_PK_BYTES = 2048;
const MAX_SK_BYTES = 1024;
const HASH_CHARS = 43; // sha256, base64url

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

/** `value` if it fits in `max` UTF-8 bytes, else a prefix of it + '#' + sha256(value). */
export function fitKey(value: string, max: number): string {
  if (bytes(value) <= max) return value;
  const room = max - 1 - HASH_CHARS;
  if (room < 0) throw new RangeError(`key part too long for DynamoDB (${bytes(value)} bytes, ${max} allowed)`);
  let prefix = '';
  let used = 0;
  for (const ch of value) {
    const n = bytes(ch);
    if (used + n > room) break;
    prefix += ch;
    used += n;
  }
  return `${prefix}#${createHash('sha256').update(value, 'utf8').digest('base64url')}`;
}

const key = (pk: string, sk: string): Key => ({
  [KEYS.pk]: fitKey(pk, MAX_PK_BYTES),
  [KEYS.sk]: fitKey(sk, MAX_SK_BYTES),
});

/**
 * Partition of the joins of (host, epoch, remote): `J#<host>|<epoch>|<remote>`. Domains never
 * contain '|', and a round reads exactly one partition.
 */
export const joinPk = (host: string, epoch: number | undefined, remote: string): string =>
  fitKey(`J#${host}|${epoch ?? 0}|${remote}`, MAX_PK_BYTES);
/** A join's key: its partition, then `<room>|<user>` (the order a round pages through). */
export const joinKey = (join: JoinKey): Key => ({
  [KEYS.pk]: joinPk(join.host, join.epoch, join.remote),
  [KEYS.sk]: fitKey(`${join.room}|${join.user}`, MAX_SK_BYTES),
});
/** The partition of every host's last heartbeat, one item per host. */
export const BEATS_PK = 'B#';
export const beatKey = (host: string): Key => key(BEATS_PK, host);
export const linkKey = (host: string, remote: string): Key => key(`L#${host}|${remote}`, 'link');
export const roundKey = (host: string, remote: string, gen: string): Key => key(`R#${host}|${remote}`, gen);
export const leaseKey = (host: string, remote: string, gen: string): Key => key(`K#${host}|${remote}`, gen);
/** Partition of a host's self-ping slots; one item per slot number. */
export const slotPk = (host: string): string => fitKey(`S#${host}`, MAX_PK_BYTES);
export const slotKey = (host: string, slot: number): Key => key(`S#${host}`, String(slot));

/** The byDue partition of shard `n`. */
export const dueShardKey = (n: number): string => `due#${n}`;

/**
 * The byDue partition of (host, remote)'s window and rounds: a hash of the pair, so that a burst of
 * closes (a host losing every link at once) spreads over DUE_SHARDS partitions.
 */
export function dueShard(host: string, remote: string): string {
  const digest = createHash('sha256').update(`${host}|${remote}`, 'utf8').digest();
  return dueShardKey(digest.readUInt32BE(0) % DUE_SHARDS);
}
