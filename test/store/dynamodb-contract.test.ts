// The store contract of lib/ports.ts that came with join refreshes (`since`), O(1) host-start,
// previousCloseAt, guarded round claims, whole-round persistence and server slots, against a
// real (embedded) dynalite.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GetItemCommand, PutItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { startDynalite, type RunningDynalite } from '../support/dynalite';
import { ensureTable } from '../../lib/adapters/dynamodb/table';
import { CorruptItemError, DynamoStore } from '../../lib/adapters/dynamodb/store';
import { joinKey, roundKey } from '../../lib/adapters/dynamodb/keys';
import type { Join, Round } from '../../lib/domain/model';
import { countRequests } from '../../bench/count-requests';

const T0 = Date.UTC(2026, 10, 25, 12, 0, 0); // ms
const H = 'a.example';
const R = 'b.example';
const USER = 'u@a.example/r';
const ROOM = 'room@b.example';

let db: RunningDynalite;
let tableNo = 0;
let table: string;
let nowMs: number;
let store: DynamoStore;

const exp = () => Math.floor(nowMs / 1000) + 30 * 86_400;
const join = (seq: number, since?: number, nick = 'u'): Join => ({
  host: H,
  user: USER,
  room: ROOM,
  nick,
  remote: R,
  seq,
  ...(since === undefined ? {} : { since }),
});
const joins = async () => (await store.joinsOf(H, R, 100)).items;

async function raw(key: { pk: string; sk: string }): Promise<Record<string, unknown> | undefined> {
  const out = await db.client.send(new GetItemCommand({ TableName: table, Key: marshall(key), ConsistentRead: true }));
  return out.Item && unmarshall(out.Item);
}
const putRaw = (item: Record<string, unknown>) =>
  db.client.send(new PutItemCommand({ TableName: table, Item: marshall(item) as Record<string, AttributeValue> }));

beforeAll(async () => {
  db = await startDynalite();
});
afterAll(async () => {
  await db?.close();
});
beforeEach(async () => {
  table = `contract-${++tableNo}`;
  nowMs = T0;
  await ensureTable(db.client, table);
  store = new DynamoStore({ client: db.client, table, now: () => nowMs });
});

describe('join refresh (since)', () => {
  it('a join without since stores since = seq and reads back without it', async () => {
    await store.putJoin(join(10), exp());
    expect((await raw(joinKey(USER, ROOM)))?.since).toBe(10);
    expect(await joins()).toEqual([join(10)]);
  });

  it('a refresh updates the same join in place, in one request, keeping its round marks', async () => {
    await store.putJoin(join(10), exp());
    expect(await store.markRecheck(join(10), 'g1.1')).toBe(true);
    const counter = countRequests(db.client);
    try {
      await store.putJoin(join(20, 10, 'renamed'), exp() + 5);
      expect(counter.byCommand).toEqual({ UpdateItemCommand: 1 });
    } finally {
      counter.remove();
    }
    expect(await joins()).toEqual([{ ...join(20, 10, 'renamed'), recheck: 'g1.1' }]);
    const item = await raw(joinKey(USER, ROOM));
    expect(item).toMatchObject({ seq: 20, since: 10, recheck: 'g1.1', expiresAt: exp() + 5 });
  });

  it('an older or equal refresh of the same join changes nothing', async () => {
    await store.putJoin(join(20, 10, 'new'), exp());
    await store.putJoin(join(15, 10, 'old'), exp());
    await store.putJoin(join(20, 10, 'same'), exp());
    expect(await joins()).toEqual([join(20, 10, 'new')]);
  });

  it('a refresh of another join (other since) replaces it, dropping its marks', async () => {
    await store.putJoin(join(5), exp());
    expect(await store.markRecheck(join(5), 'g1.1')).toBe(true);
    await store.putJoin(join(20, 10), exp());
    expect(await joins()).toEqual([join(20, 10)]);
    expect(await raw(joinKey(USER, ROOM))).not.toHaveProperty('recheck');
    // ...but never a newer one.
    await store.putJoin(join(30), exp());
    await store.putJoin(join(25, 10), exp());
    expect(await joins()).toEqual([join(30)]);
  });

  it('a refresh with nothing stored creates the join', async () => {
    await store.putJoin(join(20, 10), exp());
    expect(await joins()).toEqual([join(20, 10)]);
  });

  it('a refresh never revives a newer leave, but a newer refresh replaces an older tombstone', async () => {
    await store.putJoin(join(10), exp());
    await store.leave(H, USER, ROOM, 30, exp());
    await store.putJoin(join(20, 10), exp());
    expect(await joins()).toEqual([]);
    await store.putJoin(join(40, 10), exp());
    expect(await joins()).toEqual([join(40, 10)]);
  });

  it('an item written before `since` existed counts its seq as since', async () => {
    await putRaw({
      ...joinKey(USER, ROOM),
      gpk: H,
      gsk: `${R}|${ROOM}|${USER}`,
      host: H,
      user: USER,
      room: ROOM,
      nick: 'u',
      remote: R,
      seq: 10,
      recheck: 'g1.1',
      expiresAt: exp(),
    });
    expect(await joins()).toEqual([{ ...join(10), recheck: 'g1.1' }]);
    expect(await store.sameJoin(join(10))).toBe(true);
    expect(await store.sameJoin(join(9))).toBe(false);
    await store.putJoin(join(20, 10), exp());
    expect(await joins()).toEqual([{ ...join(20, 10), recheck: 'g1.1' }]);
    expect(await raw(joinKey(USER, ROOM))).toMatchObject({ since: 10 });
  });
});

describe('the same join: deleteJoinIf, markRecheck, sameJoin', () => {
  it('act on a join refreshed since it was read', async () => {
    await store.putJoin(join(10), exp());
    const read = (await joins())[0] as Join;
    await store.putJoin(join(20, 10), exp());
    expect(await store.markRecheck(read, 'g1.1')).toBe(true);
    expect(await store.sameJoin(read)).toBe(true);
    expect(await store.deleteJoinIf(read)).toBe(true);
    expect(await joins()).toEqual([]);
  });

  it('compare since when the join read was itself a refresh', async () => {
    await store.putJoin(join(20, 10), exp());
    const read = (await joins())[0] as Join;
    expect(read).toEqual(join(20, 10));
    await store.putJoin(join(30, 10), exp());
    expect(await store.sameJoin(read)).toBe(true);
    expect(await store.deleteJoinIf(read)).toBe(true);
  });

  it('refuse a rejoin (new since) or a leave since the read', async () => {
    await store.putJoin(join(10), exp());
    await store.putJoin(join(20), exp()); // rejoin: a new join
    expect(await store.markRecheck(join(10), 'g1.1')).toBe(false);
    expect(await store.sameJoin(join(10))).toBe(false);
    expect(await store.deleteJoinIf(join(10))).toBe(false);
    expect(await joins()).toEqual([join(20)]);

    await store.leave(H, USER, ROOM, 30, exp());
    expect(await store.markRecheck(join(30), 'g1.1')).toBe(false);
    expect(await store.sameJoin(join(30))).toBe(false);
    expect(await store.deleteJoinIf(join(30))).toBe(false);
    expect(await raw(joinKey(USER, ROOM))).toMatchObject({ left: true, seq: 30 });
  });
});

describe('host-start at scale', () => {
  it('costs one request with many joins and leaves them for the rounds', async () => {
    for (let i = 0; i < 200; i++) await store.putJoin({ ...join(100 + i), user: `u${i}@a.example/r` }, exp());
    const counter = countRequests(db.client);
    try {
      await store.startHost(H, 1000);
      expect(counter.total).toBe(1);
    } finally {
      counter.remove();
    }
    expect(await store.hostStartSeq(H)).toBe(1000);
    expect((await store.joinsOf(H, R, 500)).items).toHaveLength(200);
  });
});

describe('recordClose: previousCloseAt', () => {
  it('is the window’s last close before this one, only when this close joined an open window', async () => {
    expect(await store.recordClose(H, R, 100, T0, 'g1')).toEqual({ gen: 'g1', opened: true, lastCloseAt: T0 });
    expect(await store.recordClose(H, R, 101, T0 + 500, 'g2')).toEqual({
      gen: 'g1',
      opened: false,
      lastCloseAt: T0 + 500,
      previousCloseAt: T0,
    });
    expect(await store.recordClose(H, R, 102, T0 + 900, 'g3')).toEqual({
      gen: 'g1',
      opened: false,
      lastCloseAt: T0 + 900,
      previousCloseAt: T0 + 500,
    });
    // The same close again (a retry after a lost answer): the same previous close.
    expect(await store.recordClose(H, R, 102, T0 + 905, 'g3')).toEqual({
      gen: 'g1',
      opened: false,
      lastCloseAt: T0 + 900,
      previousCloseAt: T0 + 500,
    });
    // Not recorded (older): no previous close to speak of.
    expect(await store.recordClose(H, R, 99, T0 + 950, 'g4')).toEqual({
      gen: 'g1',
      opened: false,
      lastCloseAt: T0 + 900,
    });
    // After the claim, the next close opens a new window: nothing before it.
    const round: Round = { host: H, remote: R, gen: 'g1', cutoffSeq: 102, pass: 0, state: 'running' };
    expect(await store.claimRound(round, T0 + 900)).toBe(true);
    expect(await store.recordClose(H, R, 200, T0 + 60_000, 'g5')).toEqual({
      gen: 'g5',
      opened: true,
      lastCloseAt: T0 + 60_000,
    });
  });
});

describe('claimRound never overwrites a further round', () => {
  const base: Round = { host: H, remote: R, gen: 'g1', cutoffSeq: 101, pass: 0, state: 'running' };

  it('keeps a stored round of the same or a higher cutoff, and still claims the window', async () => {
    await store.recordClose(H, R, 101, T0, 'g1');
    const progress: Round = { ...base, cursor: 'page-7', marked: 2 };
    await store.saveRound(progress);
    expect(await store.claimRound(base, T0)).toBe(true);
    expect(await store.getRound(H, R, 'g1')).toEqual(progress);
    expect(await store.claimRound({ ...base, cutoffSeq: 100 }, T0)).toBe(false);
    expect(await store.getRound(H, R, 'g1')).toEqual(progress);
  });

  it('replaces a stored round of a lower cutoff', async () => {
    await store.saveRound({ ...base, cutoffSeq: 50, cursor: 'old' });
    await store.recordClose(H, R, 101, T0, 'g1');
    expect(await store.claimRound(base, T0)).toBe(true);
    expect(await store.getRound(H, R, 'g1')).toEqual(base);
  });
});

describe('roundsOf', () => {
  it('reads every stored round of (host, remote), with its probe join, and no other link’s', async () => {
    const base = { host: H, remote: R, cutoffSeq: 7, pass: 1, marked: 0 };
    const waiting: Round = {
      ...base,
      gen: 'g1',
      notBefore: T0 + 60_000,
      state: 'waiting',
      probe: { user: `u@${H}/r`, occupant: `room@${R}/u` },
    };
    await store.saveRound(waiting);
    await store.saveRound({ ...base, gen: 'g2', state: 'done' });
    await store.saveRound({ ...base, remote: 'other.example', gen: 'g3', state: 'waiting' });
    const rounds = await store.roundsOf(H, R);
    expect(rounds.map((r) => r.gen).sort()).toEqual(['g1', 'g2']);
    expect(rounds.find((r) => r.gen === 'g1')).toEqual(waiting);
  });
});

describe('rounds: every field persisted, shape checked on read', () => {
  it('keeps notBefore and every other Round field', async () => {
    const round: Round = {
      host: H,
      remote: R,
      gen: 'g1',
      cutoffSeq: 7,
      pass: 1,
      cursor: 'c',
      marked: 3,
      notBefore: T0 + 90_000,
      state: 'waiting',
    };
    await store.saveRound(round);
    expect(await store.getRound(H, R, 'g1')).toEqual(round);
  });

  it('a damaged item throws a clear error', async () => {
    await putRaw({
      ...roundKey(H, R, 'g1'),
      host: H,
      remote: R,
      gen: 'g1',
      cutoffSeq: 'seven',
      pass: 0,
      state: 'running',
    });
    await expect(store.getRound(H, R, 'g1')).rejects.toThrow(CorruptItemError);
    await putRaw({ ...roundKey(H, R, 'g2'), host: H, remote: R, gen: 'g2', cutoffSeq: 7, pass: 0, state: 'lost' });
    await expect(store.getRound(H, R, 'g2')).rejects.toThrow(/corrupt store item: round/);
    await putRaw({
      ...joinKey(USER, ROOM),
      gpk: H,
      gsk: `${R}|${ROOM}|${USER}`,
      host: H,
      user: USER,
      room: ROOM,
      remote: R,
      seq: 10,
      expiresAt: exp(),
    });
    await expect(joins()).rejects.toThrow(/corrupt store item: join .* nick/);
  });
});

describe('server slots', () => {
  const until = (s: number) => T0 + s * 1000;

  it('hands out at most `slots` leases per host, and tells when the first one ends', async () => {
    expect(await store.leaseServerSlot(H, 2, 'a', until(60))).toBeUndefined();
    expect(await store.leaseServerSlot(H, 2, 'b', until(30))).toBeUndefined();
    expect(await store.leaseServerSlot(H, 2, 'c', until(90))).toBe(until(30));
    // Another host has its own slots.
    expect(await store.leaseServerSlot('other.example', 2, 'c', until(90))).toBeUndefined();
    // A holder renews its own slot rather than taking a second one.
    expect(await store.leaseServerSlot(H, 3, 'b', until(120))).toBeUndefined();
    expect(await store.leaseServerSlot(H, 2, 'c', until(90))).toBe(until(60));
    // Release frees the holder's slot only.
    await store.releaseServerSlot(H, 2, 'nobody');
    expect(await store.leaseServerSlot(H, 2, 'c', until(90))).toBe(until(60));
    await store.releaseServerSlot(H, 2, 'a');
    expect(await store.leaseServerSlot(H, 2, 'c', until(90))).toBeUndefined();
    expect(await store.leaseServerSlot(H, 2, 'd', until(90))).toBe(until(90));
    // An expired lease is free.
    nowMs = until(100);
    expect(await store.leaseServerSlot(H, 2, 'd', until(200))).toBeUndefined();
    await expect(store.leaseServerSlot(H, 0, 'e', until(200))).rejects.toThrow(RangeError);
  });

  it('usually costs one query and one put', async () => {
    await store.leaseServerSlot(H, 4, 'a', until(60));
    const counter = countRequests(db.client);
    try {
      expect(await store.leaseServerSlot(H, 4, 'b', until(60))).toBeUndefined();
      expect(counter.byCommand).toEqual({ QueryCommand: 1, PutItemCommand: 1 });
    } finally {
      counter.remove();
    }
  });
});
