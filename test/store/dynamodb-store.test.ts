// What only the DynamoDB store has, against a real (embedded) dynalite: its table, items, request
// counts, key limits, cursors and failures. The ports' contract, shared with the in-memory store,
// is contract.test.ts. No mocks, except a client middleware that fakes UnprocessedItems, which
// dynalite never returns.
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
  type BatchWriteItemCommandInput,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { startDynalite, type RunningDynalite } from '../support/dynalite';
import { localDynamoClient } from '../../lib/adapters/dynamodb/dynalite';
import { DUE_SHARDS, ensureTable, tableDefinition } from '../../lib/adapters/dynamodb/table';
import {
  CorruptItemError,
  DynamoStore,
  InvalidCursorError,
  UnprocessedItemsError,
} from '../../lib/adapters/dynamodb/store';
import { dueShard, joinKey, linkKey, roundKey } from '../../lib/adapters/dynamodb/keys';
import { countRequests } from '../../bench/count-requests';
import type { Join, Round } from '../../lib/domain/model';

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

async function all(s: DynamoStore, host: string, remote: string, limit = 100): Promise<Join[]> {
  const out: Join[] = [];
  let cursor: string | undefined;
  do {
    const page = await s.joinsOf(host, remote, limit, cursor);
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
  it('defines the keys, the byHost index of joins and the sparse byDue index of due work', () => {
    const def = tableDefinition('x');
    expect(def.BillingMode).toBe('PAY_PER_REQUEST');
    expect(def.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    expect(def.AttributeDefinitions).toEqual([
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
      { AttributeName: 'gpk', AttributeType: 'S' },
      { AttributeName: 'gsk', AttributeType: 'S' },
      { AttributeName: 'dpk', AttributeType: 'S' },
      { AttributeName: 'due', AttributeType: 'N' },
    ]);
    expect(def.GlobalSecondaryIndexes).toEqual([
      {
        IndexName: 'byHost',
        KeySchema: [
          { AttributeName: 'gpk', KeyType: 'HASH' },
          { AttributeName: 'gsk', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
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
  const join = (seq: number, since?: number, nick = 'u'): Join => ({
    ...j(USER, ROOM, seq, nick),
    ...(since === undefined ? {} : { since }),
  });

  it('a join without since stores since = seq', async () => {
    await store.putJoin(join(10), exp());
    expect(await raw(joinKey(USER, ROOM))).toMatchObject({ seq: 10, since: 10 });
  });

  it('a refresh is one UpdateItem that keeps the marks and sets the expiry', async () => {
    await store.putJoin(join(10), exp());
    expect(await store.markRecheck(join(10), 'g1.1')).toBe(true);
    const counter = countRequests(db.client);
    try {
      await store.putJoin(join(20, 10, 'renamed'), exp() + 5);
      expect(counter.byCommand).toEqual({ UpdateItemCommand: 1 });
    } finally {
      counter.remove();
    }
    expect(await raw(joinKey(USER, ROOM))).toMatchObject({ seq: 20, since: 10, recheck: 'g1.1', expiresAt: exp() + 5 });
  });

  it('a refresh of another join drops its marks from the item', async () => {
    await store.putJoin(join(5), exp());
    expect(await store.markRecheck(join(5), 'g1.1')).toBe(true);
    await store.putJoin(join(20, 10), exp());
    expect(await raw(joinKey(USER, ROOM))).not.toHaveProperty('recheck');
  });

  it('an item written before `since` existed counts its seq as since', async () => {
    await putRaw({
      ...joinKey(USER, ROOM),
      gpk: 'a.example',
      gsk: `b.example|${ROOM}|${USER}`,
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
    expect(await raw(joinKey(USER, ROOM))).toMatchObject({ since: 10 });
  });

  it('a leave is a tombstone outside the byHost index; a failed mark creates no item', async () => {
    await store.leave('a.example', USER, ROOM, 30, exp());
    const item = await raw(joinKey(USER, ROOM));
    expect(item).toMatchObject({ left: true, seq: 30 });
    expect(item).not.toHaveProperty('gpk');
    expect(await store.markRecheck(join(40), 'g1')).toBe(false);
    await store.deleteJoinIf(join(30));
    expect(await scanAll()).toBe(1);
  });

  it('one write per join and per leave, refused or not', async () => {
    const counter = countRequests(db.client);
    try {
      await store.putJoin(join(10), exp());
      await store.leave('a.example', USER, ROOM, 11, exp());
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
      ...joinKey(USER, ROOM),
      gpk: 'a.example',
      gsk: `b.example|${ROOM}|${USER}`,
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

describe('session-end', () => {
  it('costs one query page and a BatchWriteItem per 25 joins', async () => {
    const phone = 'alice@a.example/phone';
    for (let i = 0; i < 30; i++) await store.putJoin(j(phone, `r${i}@muc.b.example`, 100 + i), exp());
    await store.leave('a.example', phone, 'gone@muc.b.example', 50, exp());
    const counter = countRequests(db.client);
    try {
      expect(await store.endSession('a.example', phone, 400)).toBe(30);
      expect(counter.byCommand).toEqual({ QueryCommand: 1, BatchWriteItemCommand: 2 });
    } finally {
      counter.remove();
    }
    expect(await scanAll()).toBe(1); // the tombstone
  });
});

describe('host-start', () => {
  it('writes the marker only, in one request whatever the number of joins', async () => {
    for (let i = 0; i < 200; i++) await store.putJoin(j(`u${i}@a.example/r`, 'room@b.example', 100 + i), exp());
    const counter = countRequests(db.client);
    try {
      await store.startHost('a.example', 1000);
      await store.startHost('a.example', 900); // refused, one request
      expect(counter.byCommand).toEqual({ PutItemCommand: 2 });
    } finally {
      counter.remove();
    }
    expect(await scanAll()).toBe(201);
  });
});

describe('joinsOf', () => {
  it('rejects a bad or foreign cursor with InvalidCursorError', async () => {
    for (let i = 0; i < 3; i++) await store.putJoin(j(`u${i}@a.example/r`, 'room@b.example', i + 1), exp());
    const next = (await store.joinsOf('a.example', 'b.example', 1)).next as string;
    await expect(store.joinsOf('a.example', 'b.example', 1, 'not a cursor!')).rejects.toThrow(InvalidCursorError);
    await expect(
      store.joinsOf('a.example', 'b.example', 1, Buffer.from('{"pk":1}').toString('base64url')),
    ).rejects.toThrow(InvalidCursorError);
    await expect(store.joinsOf('a.example', 'c.example', 1, next)).rejects.toThrow(InvalidCursorError);
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

  it('a pending window carries its due and shard; the claim removes both', async () => {
    await store.recordClose(H, R, 100, T0, 'g1', T0 + 20_000);
    const link = await raw(linkKey(H, R));
    expect(link).toMatchObject({ due: T0 + 20_000, dpk: dueShard(H, R) });
    expect(await store.claimRound(round('g1', { due: T0 + 80_000 }))).toBe(true);
    const claimed = await raw(linkKey(H, R));
    expect(claimed).not.toHaveProperty('due');
    expect(claimed).not.toHaveProperty('dpk');
    expect(await raw(roundKey(H, R, 'g1'))).toMatchObject({ due: T0 + 80_000, dpk: dueShard(H, R) });
  });

  it('a done round item has neither due nor shard, so it leaves the index', async () => {
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
    expect(await store.pendingClose(H, R)).toEqual({ gen: 'g1', lastCloseAt: T0, lastCloseSeq: 100 });
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

  it('spreads links over the shards; a page queries each shard not yet read to its end, in parallel', async () => {
    const shards = new Set<string>();
    for (let i = 0; i < 64; i++) shards.add(dueShard(H, `r${i}.example`));
    expect(shards.size).toBe(DUE_SHARDS);

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
  it('usually cost one query and one put', async () => {
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
  it('joins with JIDs beyond DynamoDB key limits still work, with bounded keys', async () => {
    const user = `${'u'.repeat(1023)}@a.example/${'é'.repeat(511)}`; // 2.1 kB full JID
    const room = `${'r'.repeat(1023)}@b.example`;
    const other = `${'u'.repeat(1023)}@a.example/${'é'.repeat(510)}x`; // same key prefix, other JID
    const join = j(user, room, 10);
    await store.putJoin(join, exp());
    await store.putJoin(j(other, room, 11), exp());
    await store.putJoin(j('short@a.example/r', 'room@b.example', 12), exp());
    const items = (await db.client.send(new ScanCommand({ TableName: table }))).Items ?? [];
    expect(items).toHaveLength(3);
    for (const item of items) {
      expect(Buffer.byteLength(item.pk?.S ?? '')).toBeLessThanOrEqual(2048);
      expect(Buffer.byteLength(item.sk?.S ?? '')).toBeLessThanOrEqual(1024);
      expect(Buffer.byteLength(item.gsk?.S ?? '')).toBeLessThanOrEqual(1024);
      expect(item.gsk?.S?.startsWith('b.example|')).toBe(true);
    }
    expect((await all(store, 'a.example', 'b.example', 1)).map((x) => x.user).sort()).toEqual(
      [user, other, 'short@a.example/r'].sort(),
    );
    expect(await store.markRecheck(join, 'g')).toBe(true);
    await store.leave('a.example', user, room, 20, exp());
    await store.putJoin(join, exp()); // older: refused by the tombstone
    expect(await store.endSession('a.example', other, 99)).toBe(1);
    expect((await all(store, 'a.example', 'b.example')).map((x) => x.user)).toEqual(['short@a.example/r']);
  });
});

describe('failures', () => {
  /** A client whose first `times` BatchWriteItem calls come back with every item unprocessed. */
  function unprocessedClient(times: number) {
    const client = localDynamoClient(db.endpoint);
    const calls = { batch: 0 };
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'BatchWriteItemCommand') {
          calls.batch++;
          if (calls.batch <= times) {
            const input = args.input as BatchWriteItemCommandInput;
            return {
              output: { $metadata: {}, UnprocessedItems: input.RequestItems },
              response: {},
            } as unknown as Awaited<ReturnType<typeof next>>;
          }
        }
        return next(args);
      },
      { step: 'initialize', name: 'fakeUnprocessed' },
    );
    return { client, calls };
  }

  it('retries UnprocessedItems', async () => {
    for (let i = 0; i < 3; i++) await store.putJoin(j('u@a.example/r', `r${i}@b.example`, 10 + i), exp());
    const { client, calls } = unprocessedClient(2);
    try {
      const s = newStore(client, { batchRetry: { baseMs: 1 } });
      expect(await s.endSession('a.example', 'u@a.example/r', 99)).toBe(3);
      expect(calls.batch).toBe(3);
      expect(await all(store, 'a.example', 'b.example')).toEqual([]);
    } finally {
      client.destroy();
    }
  });

  it('throws when items stay unprocessed', async () => {
    await store.putJoin(j('u@a.example/r', 'r@b.example', 10), exp());
    const { client, calls } = unprocessedClient(100);
    try {
      const s = newStore(client, { batchRetry: { attempts: 3, baseMs: 1 } });
      await expect(s.endSession('a.example', 'u@a.example/r', 99)).rejects.toThrow(UnprocessedItemsError);
      expect(calls.batch).toBe(3);
    } finally {
      client.destroy();
    }
  });

  it('propagates non-conditional errors (unreachable endpoint, missing table)', async () => {
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
      await expect(s.leave('a.example', join.user, join.room, 11, exp())).rejects.toThrow();
      await expect(s.deleteJoinIf(join)).rejects.toThrow();
      await expect(s.recordClose('a.example', 'b.example', 1, T0, 'g', T0)).rejects.toThrow();
      await expect(s.overdue(T0, 10)).rejects.toThrow();
      await expect(s.rememberWebhook('id', nowS() + 60)).rejects.toThrow();
    } finally {
      client.destroy();
    }

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
