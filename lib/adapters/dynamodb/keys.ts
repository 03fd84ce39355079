// Keys of the single table (docs/data-model.md): one builder per item type, each with its own
// pk prefix (J#, H#, L#, R#, K#, S#, W#) so that item types never collide.
import { createHash } from 'node:crypto';
import { DUE_SHARDS, KEYS } from './table';

/** The primary key of an item, as plain strings (marshalled by the store). */
export type Key = { [KEYS.pk]: string; [KEYS.sk]: string };

// DynamoDB key limits (base table and GSI alike): partition key 2048 bytes, sort key 1024 bytes.
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

/** Partition key of a full JID's joins (session-end queries it). */
export const joinPk = (user: string): string => fitKey(`J#${user}`, MAX_PK_BYTES);
export const joinKey = (user: string, room: string): Key => key(`J#${user}`, room);
export const hostKey = (host: string): Key => key(`H#${host}`, 'host');
export const linkKey = (host: string, remote: string): Key => key(`L#${host}|${remote}`, 'link');
export const roundKey = (host: string, remote: string, gen: string): Key => key(`R#${host}|${remote}`, gen);
export const leaseKey = (host: string, remote: string, gen: string): Key => key(`K#${host}|${remote}`, gen);
/** Partition of a host's self-ping slots; one item per slot number. */
export const slotPk = (host: string): string => fitKey(`S#${host}`, MAX_PK_BYTES);
export const slotKey = (host: string, slot: number): Key => key(`S#${host}`, String(slot));
export const webhookKey = (id: string): Key => key(`W#${id}`, 'webhook');

/**
 * GSI sort key of a live join: `<remote>|<room>|<user>`. Domains never contain '|', so the
 * prefix `<remote>|` selects exactly one remote; only the `<room>|<user>` tail is ever shortened.
 */
export function gsk(remote: string, room: string, user: string): string {
  const head = gskPrefix(remote);
  return head + fitKey(`${room}|${user}`, MAX_SK_BYTES - bytes(head));
}

/** `<remote>|`; a (never seen) remote domain over 512 bytes is shortened too, never to contain '|'. */
export const gskPrefix = (remote: string): string => `${fitKey(remote, 512)}|`;

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
