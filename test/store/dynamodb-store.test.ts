// The DynamoDB JoinStore against a real (embedded) dynalite: no mocks, except a client
// middleware that fakes UnprocessedItems, which dynalite never returns.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as pathJoin } from 'node:path';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { ScanCommand, type BatchWriteItemCommandInput, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { startDynalite, type RunningDynalite } from '../support/dynalite';
import { localDynamoClient } from '../../lib/adapters/dynamodb/dynalite';
import { ensureTable, tableDefinition } from '../../lib/adapters/dynamodb/table';
import { DynamoStore, InvalidCursorError, UnprocessedItemsError } from '../../lib/adapters/dynamodb/store';
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
  it('defines the keys and the byHost GSI of the design', () => {
    const def = tableDefinition('x');
    expect(def.BillingMode).toBe('PAY_PER_REQUEST');
    expect(def.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
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
    ]);
  });

  it('ensureTable is idempotent', async () => {
    await ensureTable(db.client, table);
    await ensureTable(db.client, table);
  });
});

describe('join ordering', () => {
  const room = 'lobby@muc.b.example';
  const user = 'alice@a.example/phone';

  it('a leave that arrives before an older join wins', async () => {
    await store.leave('a.example', user, room, 20, exp());
    await store.putJoin(j(user, room, 10), exp());
    expect(await all(store, 'a.example', 'muc.b.example')).toEqual([]);
  });

  it('an older join after a newer join is ignored; an equal seq is a no-op', async () => {
    await store.putJoin(j(user, room, 20, 'New'), exp());
    await store.putJoin(j(user, room, 10, 'Old'), exp());
    await store.putJoin(j(user, room, 20, 'Same'), exp());
    expect(await all(store, 'a.example', 'muc.b.example')).toEqual([j(user, room, 20, 'New')]);
  });

  it('an older leave after a newer join is ignored', async () => {
    await store.putJoin(j(user, room, 20), exp());
    await store.leave('a.example', user, room, 10, exp());
    expect(await all(store, 'a.example', 'muc.b.example')).toEqual([j(user, room, 20)]);
  });

  it('a join newer than the tombstone re-creates the join', async () => {
    await store.putJoin(j(user, room, 10), exp());
    await store.leave('a.example', user, room, 20, exp());
    expect(await all(store, 'a.example', 'muc.b.example')).toEqual([]);
    await store.putJoin(j(user, room, 30), exp());
    expect(await all(store, 'a.example', 'muc.b.example')).toEqual([j(user, room, 30)]);
  });

  it('a nick change overwrites the join (one item per full JID and room)', async () => {
    await store.putJoin(j(user, room, 10, 'Alice'), exp());
    await store.putJoin(j(user, room, 11, 'Alicia'), exp());
    expect(await all(store, 'a.example', 'muc.b.example')).toEqual([j(user, room, 11, 'Alicia')]);
    expect(await scanAll()).toBe(1);
  });

  it('one write per join and per leave', async () => {
    const counter = countRequests(db.client);
    try {
      await store.putJoin(j(user, room, 10), exp());
      await store.leave('a.example', user, room, 11, exp());
      await store.putJoin(j(user, room, 5), exp()); // refused, still one request
      expect(counter.byCommand).toEqual({ PutItemCommand: 3 });
      expect(counter.total).toBe(3);
      expect(counter.attempts).toBe(3);
    } finally {
      counter.remove();
    }
  });
});

describe('session-end', () => {
  it('removes only that full JID’s joins older than the event', async () => {
    const phone = 'alice@a.example/phone';
    for (let i = 0; i < 30; i++) await store.putJoin(j(phone, `r${i}@muc.b.example`, 100 + i), exp());
    await store.putJoin(j(phone, 'late@muc.b.example', 500), exp()); // newer than the session-end
    await store.putJoin(j('alice@a.example/laptop', 'r0@muc.b.example', 101), exp());
    await store.putJoin(j('bob@a.example/phone', 'r0@muc.b.example', 101), exp());
    await store.leave('a.example', phone, 'gone@muc.b.example', 50, exp());

    const counter = countRequests(db.client);
    expect(await store.endSession('a.example', phone, 400)).toBe(30);
    // One query page, then 2 batches of at most 25.
    expect(counter.byCommand).toEqual({ QueryCommand: 1, BatchWriteItemCommand: 2 });
    counter.remove();

    const left = await all(store, 'a.example', 'muc.b.example');
    expect(left.map((x) => `${x.user} ${x.room}`).sort()).toEqual([
      'alice@a.example/laptop r0@muc.b.example',
      'alice@a.example/phone late@muc.b.example',
      'bob@a.example/phone r0@muc.b.example',
    ]);
    // The tombstone stays: an older join of that room is still refused.
    await store.putJoin(j(phone, 'gone@muc.b.example', 40), exp());
    expect((await all(store, 'a.example', 'muc.b.example')).length).toBe(3);
    // A repeat is a no-op.
    expect(await store.endSession('a.example', phone, 400)).toBe(0);
  });

  it('only deletes items of the event’s host', async () => {
    await store.putJoin(j('alice@a.example/phone', 'r@muc.b.example', 10), exp());
    expect(await store.endSession('other.example', 'alice@a.example/phone', 99)).toBe(0);
    expect((await all(store, 'a.example', 'muc.b.example')).length).toBe(1);
  });
});

describe('host-start', () => {
  it('writes the marker only, in one request whatever the number of joins', async () => {
    for (let i = 0; i < 30; i++)
      await store.putJoin(j(`u${i}@a.example/r`, `room@muc${i % 3}.b.example`, 100 + i), exp());
    expect(await store.hostStartSeq('a.example')).toBe(0);

    const counter = countRequests(db.client);
    try {
      await store.startHost('a.example', 800);
      expect(counter.byCommand).toEqual({ PutItemCommand: 1 });
    } finally {
      counter.remove();
    }
    expect(await store.hostStartSeq('a.example')).toBe(800);
    expect(await store.hostStartSeq('c.example')).toBe(0);
    // No purge: the rounds drop joins older than the marker as they read them.
    expect(await all(store, 'a.example', 'muc0.b.example')).toHaveLength(10);

    // An older host-start does not lower the marker; a retry changes nothing.
    await store.startHost('a.example', 700);
    await store.startHost('a.example', 800);
    expect(await store.hostStartSeq('a.example')).toBe(800);
    await store.startHost('a.example', 900);
    expect(await store.hostStartSeq('a.example')).toBe(900);
  });
});

describe('joinsOf', () => {
  it('pages over one remote in a stable order, without noise from other remotes and hosts', async () => {
    const wanted: Join[] = [];
    let seq = 1;
    for (const room of ['a@b.example', 'z@b.example', 'm@b.example']) {
      for (const user of ['x@a.example/1', 'y@a.example/2', 'x@a.example/3']) {
        const join = { ...j(user, room, seq++), remote: 'b.example' };
        wanted.push(join);
        await store.putJoin(join, exp());
      }
    }
    // Noise: other remotes sharing a prefix or suffix, another host on the same remote.
    await store.putJoin(j('x@a.example/1', 'a@b.example.org', seq++), exp());
    await store.putJoin(j('x@a.example/1', 'a@xb.example', seq++), exp());
    await store.putJoin(j('x@a.example/1', 'a@b.exampl', seq++), exp());
    await store.putJoin(j('x@other.example/1', 'a@b.example', seq++), exp());
    // A tombstone on the remote.
    await store.leave('a.example', 'gone@a.example/1', 'a@b.example', seq++, exp());

    const pages: Join[][] = [];
    let cursor: string | undefined;
    do {
      const page = await store.joinsOf('a.example', 'b.example', 2, cursor);
      pages.push(page.items);
      expect(page.items.length).toBeLessThanOrEqual(2);
      cursor = page.next;
    } while (cursor);
    expect(pages.length).toBeGreaterThanOrEqual(5);
    const got = pages.flat();
    const order = (x: Join) => `${x.remote}|${x.room}|${x.user}`;
    expect(got).toEqual([...wanted].sort((p, q) => (order(p) < order(q) ? -1 : 1)));

    // The same walk again gives the same pages.
    const again: Join[][] = [];
    cursor = undefined;
    do {
      const page = await store.joinsOf('a.example', 'b.example', 2, cursor);
      again.push(page.items);
      cursor = page.next;
    } while (cursor);
    expect(again).toEqual(pages);

    expect(await all(store, 'a.example', 'b.example.org')).toHaveLength(1);
    expect(await all(store, 'a.example', 'xb.example')).toHaveLength(1);
    expect(await all(store, 'other.example', 'b.example')).toHaveLength(1);
    expect(await all(store, 'nobody.example', 'b.example')).toEqual([]);
  });

  it('rejects a bad or foreign cursor with a clear error', async () => {
    for (let i = 0; i < 3; i++) await store.putJoin(j(`u${i}@a.example/r`, 'room@b.example', i + 1), exp());
    const first = await store.joinsOf('a.example', 'b.example', 1);
    expect(first.next).toBeDefined();
    const next = first.next as string;
    await expect(store.joinsOf('a.example', 'b.example', 1, 'not a cursor!')).rejects.toThrow(InvalidCursorError);
    await expect(
      store.joinsOf('a.example', 'b.example', 1, Buffer.from('{"pk":1}').toString('base64url')),
    ).rejects.toThrow(/invalid store cursor/);
    await expect(store.joinsOf('a.example', 'c.example', 1, next)).rejects.toThrow(InvalidCursorError);
    await expect(store.joinsOf('z.example', 'b.example', 1, next)).rejects.toThrow(InvalidCursorError);
    await expect(store.joinsOf('a.example', 'b.example', 0)).rejects.toThrow(RangeError);
    expect((await store.joinsOf('a.example', 'b.example', 5, next)).items).toHaveLength(2);
  });
});

describe('expiry (TTL is only a safety net)', () => {
  it('filters expired joins, windows, rounds and webhooks on read', async () => {
    await store.putJoin(j('old@a.example/r', 'room@b.example', 1), nowS() + 10);
    await store.putJoin(j('new@a.example/r', 'room@b.example', 2), nowS() + 1000);
    await store.recordClose('a.example', 'b.example', 5, nowMs, 'g1');
    await store.saveRound({ host: 'a.example', remote: 'b.example', gen: 'g0', cutoffSeq: 1, pass: 0, state: 'done' });
    expect(await all(store, 'a.example', 'b.example')).toHaveLength(2);

    nowMs += 11_000;
    expect((await all(store, 'a.example', 'b.example')).map((x) => x.user)).toEqual(['new@a.example/r']);
    // Deleted-or-not, an expired join does not count for session-end.
    expect(await store.endSession('a.example', 'old@a.example/r', 99)).toBe(0);

    nowMs += 8 * DAY * 1000;
    expect(await all(store, 'a.example', 'b.example')).toEqual([]);
    expect(await store.pendingClose('a.example', 'b.example')).toBeUndefined();
    expect(await store.getRound('a.example', 'b.example', 'g0')).toBeUndefined();
  });

  it('a tombstone is never returned as a join', async () => {
    await store.leave('a.example', 'u@a.example/r', 'room@b.example', 20, nowS() + 60);
    await store.putJoin(j('u@a.example/r', 'room@b.example', 10), exp());
    expect(await all(store, 'a.example', 'b.example')).toEqual([]);
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

describe('conditional delete and re-check mark', () => {
  it('deleteJoinIf only deletes an unchanged join', async () => {
    const read = j('u@a.example/r', 'room@b.example', 10);
    await store.putJoin(read, exp());
    await store.putJoin({ ...read, seq: 11, nick: 'renamed' }, exp());
    expect(await store.deleteJoinIf(read)).toBe(false);
    expect(await all(store, 'a.example', 'b.example')).toHaveLength(1);
    expect(await store.deleteJoinIf({ ...read, seq: 11 })).toBe(true);
    expect(await all(store, 'a.example', 'b.example')).toEqual([]);
    expect(await store.deleteJoinIf({ ...read, seq: 11 })).toBe(false);
  });

  it('markRecheck only marks an unchanged join, never a tombstone or a missing item', async () => {
    const read = j('u@a.example/r', 'room@b.example', 10);
    await store.putJoin(read, exp());
    expect(await store.markRecheck({ ...read, seq: 9 }, 'g1')).toBe(false);
    expect(await store.markRecheck(read, 'g1')).toBe(true);
    expect(await all(store, 'a.example', 'b.example')).toEqual([{ ...read, recheck: 'g1' }]);
    // deleteJoinIf still matches the marked join (same seq).
    expect(await store.deleteJoinIf({ ...read, recheck: 'g1' })).toBe(true);
    expect(await store.markRecheck(read, 'g1')).toBe(false);
    expect(await scanAll()).toBe(0); // no item was created by the failed update

    await store.leave('a.example', read.user, read.room, 10, exp());
    expect(await store.markRecheck(read, 'g1')).toBe(false);
  });

  it('sameJoin is false for a join that changed since it was read (a rejoin)', async () => {
    const read = j('u@a.example/r', 'room@b.example', 10);
    await store.putJoin(read, exp());
    expect(await store.sameJoin(read)).toBe(true);
    await store.putJoin({ ...read, seq: 11 }, exp());
    expect(await store.sameJoin(read)).toBe(false);
    expect(await store.deleteJoinIf(read)).toBe(false);
    expect((await all(store, 'a.example', 'b.example')).map((x) => x.seq)).toEqual([11]);
  });
});

describe('lost links', () => {
  const H = 'a.example';
  const R = 'b.example';
  const round = (gen: string, cutoffSeq: number): Round => ({
    host: H,
    remote: R,
    gen,
    cutoffSeq,
    pass: 0,
    state: 'running',
  });

  it('coalesces closes into one pending window, then claims it', async () => {
    expect(await store.pendingClose(H, R)).toBeUndefined();
    const first = await store.recordClose(H, R, 100, T0, 'g1');
    expect(first).toEqual({ gen: 'g1', opened: true, lastCloseAt: T0 });
    // The other direction of the same link, a bit later: same window, pushed back.
    const second = await store.recordClose(H, R, 101, T0 + 500, 'g2');
    expect(second).toEqual({ gen: 'g1', opened: false, lastCloseAt: T0 + 500, previousCloseAt: T0 });
    // A duplicate or older close changes nothing.
    const dup = await store.recordClose(H, R, 101, T0 + 900, 'g3');
    expect(dup).toEqual({ gen: 'g1', opened: false, lastCloseAt: T0 + 500, previousCloseAt: T0 });
    const older = await store.recordClose(H, R, 99, T0 + 900, 'g4');
    expect(older).toEqual({ gen: 'g1', opened: false, lastCloseAt: T0 + 500 });
    expect(await store.pendingClose(H, R)).toEqual({ gen: 'g1', lastCloseAt: T0 + 500, lastCloseSeq: 101 });
    // Other (host, remote) pairs are independent.
    expect((await store.recordClose(H, 'c.example', 100, T0, 'g9')).opened).toBe(true);

    // A claim with a stale lastCloseAt fails, but the round is saved anyway.
    expect(await store.claimRound(round('g1', 101), T0)).toBe(false);
    expect(await store.getRound(H, R, 'g1')).toEqual(round('g1', 101));
    // A claim of another generation fails.
    expect(await store.claimRound(round('gX', 101), T0 + 500)).toBe(false);
    expect(await store.claimRound(round('g1', 101), T0 + 500)).toBe(true);
    expect(await store.pendingClose(H, R)).toBeUndefined();
    expect(await store.claimRound(round('g1', 101), T0 + 500)).toBe(false);

    // A close at or below the claimed cutoff belongs to the claimed round.
    const late = await store.recordClose(H, R, 101, T0 + 1000, 'g5');
    expect(late.opened).toBe(false);
    expect(await store.pendingClose(H, R)).toBeUndefined();
    // A later close opens a new window.
    const next = await store.recordClose(H, R, 200, T0 + 60_000, 'g6');
    expect(next).toEqual({ gen: 'g6', opened: true, lastCloseAt: T0 + 60_000 });
    expect(await store.pendingClose(H, R)).toEqual({ gen: 'g6', lastCloseAt: T0 + 60_000, lastCloseSeq: 200 });
  });

  it('a retry of the opening close with the same gen reports opened again', async () => {
    expect((await store.recordClose(H, R, 100, T0, 'g1')).opened).toBe(true);
    expect((await store.recordClose(H, R, 101, T0 + 1, 'g1')).opened).toBe(true);
  });

  it('saves and reads rounds', async () => {
    const r: Round = { ...round('g1', 5), pass: 2, cursor: 'abc', marked: 3, state: 'waiting' };
    await store.saveRound(r);
    expect(await store.getRound(H, R, 'g1')).toEqual(r);
    const { cursor: _dropped, ...noCursor } = r;
    await store.saveRound({ ...noCursor, state: 'done' });
    expect(await store.getRound(H, R, 'g1')).toEqual({ ...noCursor, state: 'done' });
    expect(await store.getRound(H, R, 'g2')).toBeUndefined();
  });
});

describe('webhook replay', () => {
  it('remembers an applied id until it expires', async () => {
    expect(await store.rememberWebhook('id-1', nowS() + 600)).toBe(true);
    expect(await store.rememberWebhook('id-1', nowS() + 600)).toBe(false);
    expect(await store.rememberWebhook('id-2', nowS() + 600)).toBe(true);
    nowMs += 601_000;
    expect(await store.rememberWebhook('id-1', nowS() + 600)).toBe(true);
    expect(await store.webhookApplied('id-1')).toBe(true);
    expect(await store.webhookApplied('id-3')).toBe(false);
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
      await expect(s.recordClose('a.example', 'b.example', 1, T0, 'g')).rejects.toThrow();
      await expect(s.rememberWebhook('id', nowS() + 60)).rejects.toThrow();
    } finally {
      client.destroy();
    }

    const missing = new DynamoStore({ client: db.client, table: 'no-such-table', now: () => nowMs });
    await expect(missing.putJoin(j('u@a.example/r', 'r@b.example', 10), exp())).rejects.toThrow(
      /non-existent table|not found/i,
    );
    await expect(missing.markRecheck(j('u@a.example/r', 'r@b.example', 10), 'g')).rejects.toThrow();
    await expect(missing.claimRound(round0(), T0)).rejects.toThrow();
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
      await s1.recordClose('a.example', 'b.example', 11, T0, 'g1');
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
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
