// What only the DynamoDB store has, against a real (embedded) dynalite: its table, items, request
// counts, key limits, cursors and failures. The ports' contract, shared with the in-memory store,
// is contract.test.ts. No mocks.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as pathJoin } from 'node:path';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import {
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { startDynalite, type RunningDynalite } from '../../support/dynalite';
import { localDynamoClient } from '../../../lib/adapters/dynamodb/dynalite';
import { DUE_SHARDS, ensureTable, tableDefinition } from '../../../lib/adapters/dynamodb/table';
import { CorruptItemError, DynamoStore, InvalidCursorError } from '../../../lib/adapters/dynamodb/store';
import { beatKey, dueShard, joinKey, linkKey, roundKey } from '../../../lib/adapters/dynamodb/keys';
import { countRequests } from '../../../harness/count-requests';
import { handleEvents, type IngestDeps } from '../../../lib/app/ingest';
import { secretKey, sign } from '../../../lib/domain/signature';
import { loadConfig } from '../../../lib/support/config';
import { createLogger, Metrics } from '../../../lib/support/observability';
import type { Join, JoinKey, Round } from '../../../lib/domain/model';
import { oneKeyRegistry } from '../../support/registry';

const T0 = Date.UTC(2026, 10, 25, 12, 0, 0); // ms
const DAY = 86_400;

let db: RunningDynalite;
let tableNo = 0;
let table: string;
let nowMs: number;
let store: DynamoStore;

const nowS = () => Math.floor(nowMs / 1000);
const exp = () => nowS() + 30 * DAY;

function newStore(
  client: DynamoDBClient = db.client,
  extra: Partial<ConstructorParameters<typeof DynamoStore>[0]> = {},
) {
  return new DynamoStore({ client, table, now: () => nowMs, ...extra });
}

function j(user: string, room: string, seq: number, nick = user.split('@')[0] ?? 'n'): Join {
  const host = user.split('@')[1]?.split('/')[0] ?? 'a.example';
  const remote = room.split('@')[1] ?? room;
  return { host, user, room, nick, remote, seq };
}

/** The key of `user`'s join of `room` (remote: the room's domain). */
function keyOf(user: string, room: string, epoch?: number): JoinKey {
  const host = user.split('@')[1]?.split('/')[0] ?? 'a.example';
  return { host, user, room, remote: room.split('@')[1] ?? room, ...(epoch ? { epoch } : {}) };
}

async function all(s: DynamoStore, host: string, remote: string, limit = 100, epoch = 0): Promise<Join[]> {
  const out: Join[] = [];
  let cursor: string | undefined;
  do {
    const page = await s.joinsOf(host, epoch, remote, limit, cursor);
    out.push(...page.items);
    cursor = page.next;
  } while (cursor);
  return out;
}

async function raw(key: { pk: string; sk: string }): Promise<Record<string, unknown> | undefined> {
  const out = await db.client.send(new GetItemCommand({ TableName: table, Key: marshall(key), ConsistentRead: true }));
  return out.Item && unmarshall(out.Item);
}
const putRaw = (item: Record<string, unknown>) =>
  db.client.send(new PutItemCommand({ TableName: table, Item: marshall(item) as Record<string, AttributeValue> }));

async function scanAll(): Promise<number> {
  const out = await db.client.send(new ScanCommand({ TableName: table }));
  return out.Count ?? 0;
}

beforeAll(async () => {
  db = await startDynalite();
});

afterAll(async () => {
  await db?.close();
});

beforeEach(async () => {
  table = `ping-muc-${++tableNo}`;
  nowMs = T0;
  await ensureTable(db.client, table);
  store = newStore();
});

describe('table', () => {
  const def = tableDefinition('x');

  it('defines an on-demand table with a pk·sk key', () => {
    expect(def.BillingMode).toBe('PAY_PER_REQUEST');
    expect(def.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    expect(def.AttributeDefinitions).toEqual([
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
      { AttributeName: 'dpk', AttributeType: 'S' },
      { AttributeName: 'due', AttributeType: 'N' },
    ]);
  });

  it('indexes only due work in the sparse byDue index', () => {
    expect(def.GlobalSecondaryIndexes).toEqual([
      {
        IndexName: 'byDue',
        KeySchema: [
          { AttributeName: 'dpk', KeyType: 'HASH' },
          { AttributeName: 'due', KeyType: 'RANGE' },
        ],
        Projection: {
          ProjectionType: 'INCLUDE',
          NonKeyAttributes: ['host', 'remote', 'gen', 'pass', 'state', 'expiresAt'],
        },
      },
    ]);
  });

  it('ensureTable is idempotent', async () => {
    await ensureTable(db.client, table);
    await ensureTable(db.client, table);
  });
});

describe('join items', () => {
  const USER = 'u@a.example/r';
  const ROOM = 'room@b.example';
  const KEY = keyOf(USER, ROOM);
  const join = (seq: number, since?: number, nick = 'u'): Join => ({
    ...j(USER, ROOM, seq, nick),
    ...(since === undefined ? {} : { since }),
  });

  it('keys a join by J#<host>|<epoch>|<remote>', async () => {
    await store.putJoin(join(10), exp());
    expect(joinKey(KEY)).toEqual({ pk: 'J#a.example|0|b.example', sk: `${ROOM}|${USER}` });
    expect(await raw(joinKey(KEY))).toMatchObject({ seq: 10, since: 10, epoch: 0 });
    await store.putJoin({ ...join(11), epoch: 77 }, exp());
    expect(await raw({ pk: 'J#a.example|77|b.example', sk: `${ROOM}|${USER}` })).toMatchObject({ seq: 11, epoch: 77 });
    expect(await scanAll()).toBe(2);
  });

  /** Refreshes a marked join with a later expiry; returns the requests the refresh cost. */
  const refreshMarked = async () => {
    await store.putJoin(join(10), exp());
    expect(await store.markRecheck(join(10), 'g1.1')).toBe(true);
    const counter = countRequests(db.client);
    try {
      await store.putJoin(join(20, 10, 'renamed'), exp() + 5);
      return counter.byCommand;
    } finally {
      counter.remove();
    }
  };

  it('a refresh is one UpdateItem', async () => {
    expect(await refreshMarked()).toEqual({ UpdateItemCommand: 1 });
  });

  it('a refresh keeps the marks of the item it gives a new expiry', async () => {
    await refreshMarked();
    expect(await raw(joinKey(KEY))).toMatchObject({ seq: 20, since: 10, recheck: 'g1.1', expiresAt: exp() + 5 });
  });

  it('a refresh of another join drops its marks from the item', async () => {
    await store.putJoin(join(5), exp());
    expect(await store.markRecheck(join(5), 'g1.1')).toBe(true);
    await store.putJoin(join(20, 10), exp());
    expect(await raw(joinKey(KEY))).not.toHaveProperty('recheck');
  });

  it('an item written before `since` existed counts its seq as since', async () => {
    await putRaw({
      ...joinKey(KEY),
      host: 'a.example',
      user: USER,
      room: ROOM,
      nick: 'u',
      remote: 'b.example',
      seq: 10,
      recheck: 'g1.1',
      expiresAt: exp(),
    });
    expect(await all(store, 'a.example', 'b.example')).toEqual([{ ...join(10), recheck: 'g1.1' }]);
    expect(await store.markRecheck(join(9), 'g2.1')).toBe(false);
    expect(await store.markRecheck(join(10), 'g1.1')).toBe(true);
    await store.putJoin(join(20, 10), exp());
    expect(await all(store, 'a.example', 'b.example')).toEqual([{ ...join(20, 10), recheck: 'g1.1' }]);
    expect(await raw(joinKey(KEY))).toMatchObject({ since: 10 });
  });

  it('a leave is a tombstone on the join key that no read returns', async () => {
    await store.leave(KEY, 30, exp());
    const item = await raw(joinKey(KEY));
    expect(item).toMatchObject({ left: true, seq: 30 });
    expect(await all(store, 'a.example', 'b.example')).toEqual([]);
    expect(await store.markRecheck(join(40), 'g1')).toBe(false);
    await store.deleteJoinIf(join(30));
    expect(await scanAll()).toBe(1);
  });

  it('one write per join or leave even when refused', async () => {
    const counter = countRequests(db.client);
    try {
      await store.putJoin(join(10), exp());
      await store.leave(KEY, 11, exp());
      await store.putJoin(join(5), exp()); // refused, still one request
      await store.putJoin(join(12, undefined, 'x'), exp());
      await store.putJoin(join(13, undefined, 'y'), exp()); // a nick change: the same item
      expect(counter.byCommand).toEqual({ PutItemCommand: 5 });
      expect(counter.attempts).toBe(5);
    } finally {
      counter.remove();
    }
    expect(await scanAll()).toBe(1);
  });

  it('a damaged item throws a clear error', async () => {
    await putRaw({
      ...joinKey(KEY),
      host: 'a.example',
      user: USER,
      room: ROOM,
      remote: 'b.example',
      seq: 10,
      expiresAt: exp(),
    });
    await expect(all(store, 'a.example', 'b.example')).rejects.toThrow(/corrupt store item: join .* nick/);
  });
});

describe('heartbeats', () => {
  it('a beat is one PutItem on its host’s B# item', async () => {
    const counter = countRequests(db.client);
    try {
      await store.beat('a.example', 10, T0);
      await store.beat('a.example', 5, T0 + 1); // refused, still one request
      expect(counter.byCommand).toEqual({ PutItemCommand: 2 });
      expect(await store.beats()).toEqual(new Map([['a.example', T0]]));
      expect(counter.byCommand).toEqual({ PutItemCommand: 2, QueryCommand: 1 });
    } finally {
      counter.remove();
    }
    expect(await raw(beatKey('a.example'))).toEqual({
      pk: 'B#',
      sk: 'a.example',
      host: 'a.example',
      seq: 10,
      beat: T0,
    });
  });
});

describe('an events request', () => {
  const SECRET = 'test-webhook-secret-0123456789abcdef';
  const request = (events: object[]) => {
    const body = Buffer.from(JSON.stringify({ v: 1, events }));
    return {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...sign(secretKey(SECRET), body, nowS()) },
      body,
    };
  };
  const deps = (): IngestDeps => ({
    joins: store,
    rounds: store,
    clock: { now: () => nowMs, sleep: async () => undefined },
    scheduler: { schedule: async () => true },
    config: loadConfig({ PING_MUC_DELAY_SECONDS: '60' }),
    log: createLogger('test', 'error', () => undefined),
    metrics: new Metrics('Test', () => undefined),
    hosts: oneKeyRegistry(secretKey(SECRET)),
  });
  const seq = () => nowMs * 1000;
  const base = { host: 'a.example', epoch: 1_000 };
  const join = { ...base, type: 'join', user: 'u@a.example/r', room: 'room@b.example', nick: 'u' };

  it('costs one PutItem per event that writes (no replay marker)', async () => {
    const cases: Array<[object, Record<string, number>]> = [
      [{ ...join, seq: seq() }, { PutItemCommand: 1 }],
      [{ ...base, type: 'leave', user: join.user, room: join.room, seq: seq() + 1 }, { PutItemCommand: 1 }],
      [{ ...base, type: 'heartbeat', seq: seq() + 2 }, { PutItemCommand: 1 }],
      [{ ...base, type: 'host-start', seq: seq() + 3 }, {}],
      [{ ...base, type: 'session-end', user: join.user, seq: seq() + 4 }, {}],
    ];
    for (const [event, requests] of cases) {
      const counter = countRequests(db.client);
      try {
        const req = request([event]);
        expect((await handleEvents(deps(), req)).status).toBe(200);
        expect(counter.byCommand).toEqual(requests);
        // The same signed request again (a replay within the tolerance): the same writes, refused by seq.
        expect((await handleEvents(deps(), req)).body).toEqual({ ok: true, applied: 1 });
      } finally {
        counter.remove();
      }
    }
    // The tombstone and the beat: nothing else was written.
    expect(await scanAll()).toBe(2);
  });
});

describe('joinsOf', () => {
  it('rejects a bad or foreign cursor with InvalidCursorError', async () => {
    for (let i = 0; i < 3; i++) await store.putJoin(j(`u${i}@a.example/r`, 'room@b.example', i + 1), exp());
    const next = (await store.joinsOf('a.example', 0, 'b.example', 1)).next as string;
    await expect(store.joinsOf('a.example', 0, 'b.example', 1, 'not a cursor!')).rejects.toThrow(InvalidCursorError);
    await expect(
      store.joinsOf('a.example', 0, 'b.example', 1, Buffer.from('{"pk":1}').toString('base64url')),
    ).rejects.toThrow(InvalidCursorError);
    await expect(store.joinsOf('a.example', 0, 'c.example', 1, next)).rejects.toThrow(InvalidCursorError);
    await expect(store.joinsOf('a.example', 5, 'b.example', 1, next)).rejects.toThrow(InvalidCursorError);
  });

  it('is one strongly consistent Query of the join partition', async () => {
    await store.putJoin(j('u@a.example/r', 'room@b.example', 1), exp());
    await store.leave(keyOf('v@a.example/r', 'room@b.example'), 2, exp());
    const sent: unknown[] = [];
    db.client.middlewareStack.add(
      (next) => async (args) => {
        sent.push(args.input);
        return next(args);
      },
      { step: 'initialize', name: 'spyJoinsOf' },
    );
    try {
      expect((await store.joinsOf('a.example', 0, 'b.example', 10)).items).toHaveLength(1);
    } finally {
      db.client.middlewareStack.remove('spyJoinsOf');
    }
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ ConsistentRead: true, KeyConditionExpression: '#pk = :pk', Limit: 10 });
    expect(sent[0]).not.toHaveProperty('IndexName');
  });
});

describe('due items and the byDue index', () => {
  const H = 'a.example';
  const R = 'b.example';
  const round = (gen: string, extra: Partial<Round> = {}): Round => ({
    host: H,
    remote: R,
    gen,
    cutoffSeq: 100,
    pass: 0,
    state: 'running',
    ...extra,
  });

  const openWindow = () => store.recordClose(H, R, 100, T0, 'g1', T0 + 20_000);

  it('a pending window item carries its due in its shard', async () => {
    await openWindow();
    const link = await raw(linkKey(H, R));
    expect(link).toMatchObject({ due: T0 + 20_000, dpk: dueShard(H, R) });
  });

  it('the claim moves the due from the window item to the round item', async () => {
    await openWindow();
    expect(await store.claimRound(round('g1', { due: T0 + 80_000 }))).toBe(true);
    const claimed = await raw(linkKey(H, R));
    expect(claimed).not.toHaveProperty('due');
    expect(claimed).not.toHaveProperty('dpk');
    expect(await raw(roundKey(H, R, 'g1'))).toMatchObject({ due: T0 + 80_000, dpk: dueShard(H, R) });
  });

  it('a done round item leaves the byDue index', async () => {
    await store.saveRound(round('g1', { due: T0 }));
    await store.saveRound(round('g1', { state: 'done', due: T0 }));
    const item = await raw(roundKey(H, R, 'g1'));
    expect(item).not.toHaveProperty('due');
    expect(item).not.toHaveProperty('dpk');
  });

  it('a window or round written without a due is never overdue', async () => {
    await putRaw({
      ...linkKey(H, R),
      host: H,
      remote: R,
      gen: 'g1',
      lastCloseAt: T0,
      lastCloseSeq: 100,
      expiresAt: exp(),
    });
    await putRaw({
      ...roundKey(H, R, 'g2'),
      host: H,
      remote: R,
      gen: 'g2',
      cutoffSeq: 1,
      pass: 0,
      state: 'running',
      expiresAt: exp(),
    });
    expect(await store.pendingClose(H, R)).toEqual({ gen: 'g1', lastCloseAt: T0, lastCloseSeq: 100, epoch: 0 });
    expect(await store.overdue(T0 + 1e12, 10)).toEqual({ items: [] });
  });

  it('recordClose stays one UpdateItem', async () => {
    const counter = countRequests(db.client);
    try {
      await store.recordClose(H, R, 100, T0, 'g1', T0 + 20_000);
      await store.recordClose(H, R, 101, T0 + 1, 'g2', T0 + 20_001);
      expect(counter.byCommand).toEqual({ UpdateItemCommand: 2 });
    } finally {
      counter.remove();
    }
  });

  it('spreads links over the due shards', () => {
    const shards = new Set<string>();
    for (let i = 0; i < 64; i++) shards.add(dueShard(H, `r${i}.example`));
    expect(shards.size).toBe(DUE_SHARDS);
  });

  it('a page queries each shard not yet read to its end', async () => {
    for (let i = 0; i < 3; i++) await store.recordClose(H, `r${i}.example`, 100, T0, `w${i}`, T0 + i);
    const counter = countRequests(db.client);
    try {
      const page = await store.overdue(T0 + 10, 100);
      expect(page.items).toHaveLength(3);
      expect(page.next).toBeUndefined();
      expect(counter.byCommand).toEqual({ QueryCommand: DUE_SHARDS });
    } finally {
      counter.remove();
    }
    // Page by page, shards read to their end are not queried again.
    const first = await store.overdue(T0 + 10, 1);
    const counter2 = countRequests(db.client);
    try {
      await store.overdue(T0 + 10, 1, first.next);
      expect(counter2.byCommand.QueryCommand).toBeLessThanOrEqual(3);
    } finally {
      counter2.remove();
    }
  });

  it('rejects a malformed or foreign overdue cursor with InvalidCursorError', async () => {
    for (let i = 0; i < 20; i++) await store.recordClose(H, `r${i}.example`, 100, T0, `w${i}`, T0 + i);
    const next = (await store.overdue(T0 + 100, 1)).next as string;
    const positions = JSON.parse(Buffer.from(next, 'base64url').toString('utf8')) as unknown[];
    const taken = positions.findIndex((p) => typeof p === 'object' && p !== null);
    const moved = [...positions];
    moved[(taken + 1) % DUE_SHARDS] = positions[taken];
    moved[taken] = true;
    const encode = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    await expect(store.overdue(T0 + 100, 1, encode(moved))).rejects.toThrow(InvalidCursorError);
    await expect(store.overdue(T0 + 100, 1, encode(positions.slice(1)))).rejects.toThrow(InvalidCursorError);
    await expect(store.overdue(T0 + 100, 1, 'not a cursor!')).rejects.toThrow(InvalidCursorError);
    expect((await store.overdue(T0 + 100, 100, next)).items).toHaveLength(19);
  });
});

describe('rounds', () => {
  it('a damaged item throws a clear error', async () => {
    const H = 'a.example';
    const R = 'b.example';
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
    // A due that is not a number cannot even be written: it is the byDue index's sort key (N).
    await expect(
      putRaw({
        ...roundKey(H, R, 'g3'),
        host: H,
        remote: R,
        gen: 'g3',
        cutoffSeq: 7,
        pass: 0,
        state: 'running',
        dpk: 'due#0',
        due: 'soon',
      }),
    ).rejects.toThrow(/Type mismatch/i);
  });
});

describe('server slots', () => {
  it('a lease usually costs one query plus one put', async () => {
    await store.leaseServerSlot('a.example', 4, 'a', T0 + 60_000);
    const counter = countRequests(db.client);
    try {
      expect(await store.leaseServerSlot('a.example', 4, 'b', T0 + 60_000)).toBeUndefined();
      expect(counter.byCommand).toEqual({ QueryCommand: 1, PutItemCommand: 1 });
    } finally {
      counter.remove();
    }
  });
});

describe('key size limits', () => {
  /** Joins of two 2.1 kB JIDs with one key prefix, and a short one. */
  const seedLongJids = async () => {
    const user = `${'u'.repeat(1023)}@a.example/${'é'.repeat(511)}`; // 2.1 kB full JID
    const room = `${'r'.repeat(1023)}@b.example`;
    const other = `${'u'.repeat(1023)}@a.example/${'é'.repeat(510)}x`; // same key prefix, other JID
    const join = j(user, room, 10);
    await store.putJoin(join, exp());
    await store.putJoin(j(other, room, 11), exp());
    await store.putJoin(j('short@a.example/r', 'room@b.example', 12), exp());
    return { user, room, other, join };
  };

  it('keeps the keys of JIDs beyond DynamoDB key limits within them', async () => {
    await seedLongJids();
    const items = (await db.client.send(new ScanCommand({ TableName: table }))).Items ?? [];
    expect(items).toHaveLength(3);
    for (const item of items) {
      expect(Buffer.byteLength(item.pk?.S ?? '')).toBeLessThanOrEqual(2048);
      expect(Buffer.byteLength(item.sk?.S ?? '')).toBeLessThanOrEqual(1024);
      expect(item.pk?.S).toBe('J#a.example|0|b.example');
    }
  });

  it('still stores joins with JIDs beyond DynamoDB key limits', async () => {
    const { user, room, other, join } = await seedLongJids();
    expect((await all(store, 'a.example', 'b.example', 1)).map((x) => x.user).sort()).toEqual(
      [user, other, 'short@a.example/r'].sort(),
    );
    expect(await store.markRecheck(join, 'g')).toBe(true);
    await store.leave(keyOf(user, room), 20, exp());
    await store.putJoin(join, exp()); // older: refused by the tombstone
    expect(await store.deleteJoinIf(j(other, room, 11))).toBe(true);
    expect((await all(store, 'a.example', 'b.example')).map((x) => x.user)).toEqual(['short@a.example/r']);
  });
});

describe('failures', () => {
  it('propagates the errors of an unreachable endpoint', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = createServer();
      srv.listen(0, '127.0.0.1', () => {
        const p = (srv.address() as AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    const client = localDynamoClient(`http://127.0.0.1:${port}`);
    try {
      const s = newStore(client);
      const join = j('u@a.example/r', 'r@b.example', 10);
      await expect(s.putJoin(join, exp())).rejects.toThrow();
      await expect(s.leave(join, 11, exp())).rejects.toThrow();
      await expect(s.deleteJoinIf(join)).rejects.toThrow();
      await expect(s.recordClose('a.example', 'b.example', 1, T0, 'g', T0)).rejects.toThrow();
      await expect(s.overdue(T0, 10)).rejects.toThrow();
      await expect(s.beat('a.example', 1, T0)).rejects.toThrow();
    } finally {
      client.destroy();
    }
  });

  it('propagates the errors of a missing table', async () => {
    const missing = new DynamoStore({ client: db.client, table: 'no-such-table', now: () => nowMs });
    await expect(missing.putJoin(j('u@a.example/r', 'r@b.example', 10), exp())).rejects.toThrow(
      /non-existent table|not found/i,
    );
    await expect(missing.markRecheck(j('u@a.example/r', 'r@b.example', 10), 'g')).rejects.toThrow();
    await expect(missing.claimRound(round0())).rejects.toThrow();
  });
});

function round0(): Round {
  return { host: 'a.example', remote: 'b.example', gen: 'g', cutoffSeq: 1, pass: 0, state: 'running' };
}

describe('on disk', () => {
  it('keeps data across a dynalite restart', async () => {
    const dir = mkdtempSync(pathJoin(tmpdir(), 'ping-muc-dynalite-'));
    try {
      const first = await startDynalite({ path: dir });
      await ensureTable(first.client, 'persist');
      const s1 = new DynamoStore({ client: first.client, table: 'persist', now: () => nowMs });
      await s1.putJoin(j('u@a.example/r', 'r@b.example', 10), exp());
      await s1.recordClose('a.example', 'b.example', 11, T0, 'g1', T0 + 20_000);
      await first.close();

      const second = await startDynalite({ path: dir });
      try {
        await ensureTable(second.client, 'persist');
        const s2 = new DynamoStore({ client: second.client, table: 'persist', now: () => nowMs });
        expect(await all(s2, 'a.example', 'b.example')).toEqual([j('u@a.example/r', 'r@b.example', 10)]);
        expect(await s2.pendingClose('a.example', 'b.example')).toEqual({
          gen: 'g1',
          lastCloseAt: T0,
          lastCloseSeq: 11,
          epoch: 0,
        });
        expect((await s2.overdue(T0 + 20_001, 10)).items).toEqual([
          { kind: 'window', host: 'a.example', remote: 'b.example', gen: 'g1', due: T0 + 20_000 },
        ]);
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
