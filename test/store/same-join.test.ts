// sameJoin on a real (embedded) dynalite: the round's check before each notification. Calls made
// together share BatchGetItem requests of up to 100 keys; UnprocessedKeys, which dynalite never
// returns, are faked by a middleware.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type BatchGetItemCommandInput, type DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { joinKey } from '../../lib/adapters/dynamodb/keys';
import { startDynalite, type RunningDynalite } from '../support/dynalite';
import { localDynamoClient } from '../../lib/adapters/dynamodb/dynalite';
import { ensureTable } from '../../lib/adapters/dynamodb/table';
import { CorruptItemError, DynamoStore, UnprocessedItemsError } from '../../lib/adapters/dynamodb/store';
import { countRequests } from '../../bench/count-requests';
import type { Join } from '../../lib/domain/model';

const NOW = Date.UTC(2026, 11, 1, 12, 0, 0);
const EXP = Math.floor(NOW / 1000) + 86_400;
let db: RunningDynalite;
let table: string;
let tableNo = 0;
let store: DynamoStore;

const join = (i: number, seq = 10, since?: number): Join => ({
  host: 'a.example',
  user: `u${i}@a.example/r`,
  room: `room${i}@muc.b.example`,
  nick: `n${i}`,
  remote: 'muc.b.example',
  seq,
  ...(since === undefined ? {} : { since }),
});

/** A client whose first `times` BatchGetItem calls leave every other key (or every key) unprocessed. */
function unprocessedClient(times: number, everyKey = false): { client: DynamoDBClient; calls: { get: number } } {
  const client = localDynamoClient(db.endpoint);
  const calls = { get: 0 };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'BatchGetItemCommand') return next(args);
      calls.get++;
      if (calls.get > times) return next(args);
      const input = args.input as BatchGetItemCommandInput;
      const asked = input.RequestItems?.[table];
      const keys = asked?.Keys ?? [];
      const done = keys.filter((_, i) => !everyKey && i % 2 === 0);
      const left = keys.filter((_, i) => everyKey || i % 2 === 1);
      const unprocessed = left.length ? { [table]: { ...asked, Keys: left } } : {};
      if (done.length === 0) {
        const output = { $metadata: {}, Responses: { [table]: [] }, UnprocessedKeys: unprocessed };
        return { output, response: {} } as unknown as Awaited<ReturnType<typeof next>>;
      }
      const out = await next({ ...args, input: { RequestItems: { [table]: { ...asked, Keys: done } } } });
      (out.output as { UnprocessedKeys?: unknown }).UnprocessedKeys = unprocessed;
      return out;
    },
    { step: 'initialize', name: 'fakeUnprocessedKeys' },
  );
  return { client, calls };
}

beforeAll(async () => {
  db = await startDynalite();
});
afterAll(async () => {
  await db?.close();
});
beforeEach(async () => {
  table = `same-join-${++tableNo}`;
  await ensureTable(db.client, table);
  store = new DynamoStore({ client: db.client, table, now: () => NOW });
});

describe('sameJoin', () => {
  it('answers each of 250 concurrent calls from 3 BatchGetItem requests', async () => {
    const joins = Array.from({ length: 250 }, (_, i) => join(i));
    for (const j of joins) await store.putJoin(j, EXP);
    // Changed since read: a rejoin (0), a refresh of the same join (1), a leave (2), gone (3).
    await store.putJoin(join(0, 20), EXP);
    await store.putJoin(join(1, 20, 10), EXP);
    await store.leave('a.example', join(2).user, join(2).room, 20, EXP);
    await store.deleteJoinIf(join(3));
    const counter = countRequests(db.client);
    let answers: boolean[];
    try {
      answers = await Promise.all(joins.map((j) => store.sameJoin(j)));
      expect(counter.byCommand).toEqual({ BatchGetItemCommand: 3 });
    } finally {
      counter.remove();
    }
    expect(answers.slice(0, 5)).toEqual([false, true, false, false, true]);
    expect(answers.filter((a) => !a)).toHaveLength(3);
  });

  it('reads a key asked twice in one batch once', async () => {
    await store.putJoin(join(1), EXP);
    const answers = await Promise.all([store.sameJoin(join(1)), store.sameJoin(join(1)), store.sameJoin(join(1, 9))]);
    expect(answers).toEqual([true, true, false]);
  });

  it('fails only the call whose item is damaged, never answering "changed" for it', async () => {
    await store.putJoin(join(1), EXP);
    await store.putJoin(join(2), EXP);
    await db.client.send(
      new UpdateItemCommand({
        TableName: table,
        Key: marshall(joinKey(join(2).user, join(2).room)),
        UpdateExpression: 'SET #seq = :bad',
        ExpressionAttributeNames: { '#seq': 'seq' },
        ExpressionAttributeValues: { ':bad': { S: 'ten' } },
      }),
    );
    const [one, two] = await Promise.allSettled([store.sameJoin(join(1)), store.sameJoin(join(2))]);
    expect(one).toEqual({ status: 'fulfilled', value: true });
    expect(two.status).toBe('rejected');
    expect((two as PromiseRejectedResult).reason).toBeInstanceOf(CorruptItemError);
  });

  it('retries UnprocessedKeys until every key is read', async () => {
    const joins = Array.from({ length: 8 }, (_, i) => join(i));
    for (const j of joins) await store.putJoin(j, EXP);
    const { client, calls } = unprocessedClient(2);
    try {
      const s = new DynamoStore({ client, table, now: () => NOW, batchRetry: { baseMs: 1 } });
      expect(await Promise.all(joins.map((j) => s.sameJoin(j)))).toEqual(joins.map(() => true));
      expect(calls.get).toBe(3);
    } finally {
      client.destroy();
    }
  });

  it('fails every call of the batch when keys stay unprocessed, and never answers "changed"', async () => {
    const joins = Array.from({ length: 4 }, (_, i) => join(i));
    for (const j of joins) await store.putJoin(j, EXP);
    const { client, calls } = unprocessedClient(100, true);
    try {
      const s = new DynamoStore({ client, table, now: () => NOW, batchRetry: { attempts: 3, baseMs: 1 } });
      const settled = await Promise.allSettled(joins.map((j) => s.sameJoin(j)));
      expect(settled.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
      expect((settled[0] as PromiseRejectedResult).reason).toBeInstanceOf(UnprocessedItemsError);
      expect(calls.get).toBe(3);
    } finally {
      client.destroy();
    }
  });
});
