// The table as the store's modules use it: requests with the table name filled in, expiry
// filtering, paged queries and batched deletes. No knowledge of item kinds.
import {
  BatchWriteItemCommand,
  GetItemCommand,
  QueryCommand,
  type DynamoDBClient,
  type QueryCommandInput,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { backoffMs } from '../../support/backoff';
import { toItem, type Item } from './items';
import type { Key } from './keys';
import { KEYS } from './table';

const BATCH_SIZE = 25;

/** UnprocessedItems (or UnprocessedKeys) remained after every retry of a batch request. */
export class UnprocessedItemsError extends Error {
  override name = 'UnprocessedItemsError';
}

export interface TableIoOptions {
  client: DynamoDBClient;
  table: string;
  /** Clock in ms (for expiry filtering and round/webhook expiry). */
  now?: () => number;
  /** Retries of BatchWriteItem UnprocessedItems: attempts in all (default 8), first backoff (default 50 ms, doubling, capped at 2 s). */
  batchRetry?: { attempts?: number; baseMs?: number };
}

export class TableIo {
  readonly client: DynamoDBClient;
  readonly table: string;
  readonly now: () => number;
  private readonly batchAttempts: number;
  private readonly batchBaseMs: number;

  constructor(options: TableIoOptions) {
    this.client = options.client;
    this.table = options.table;
    this.now = options.now ?? Date.now;
    this.batchAttempts = Math.max(1, options.batchRetry?.attempts ?? 8);
    this.batchBaseMs = Math.max(0, options.batchRetry?.baseMs ?? 50);
  }

  nowSeconds(): number {
    return Math.floor(this.now() / 1000);
  }

  /** Item not expired (the TTL attribute is only a safety net: TTL deletion lags, dynalite has none). */
  live(item: Item): boolean {
    const exp = item[KEYS.ttl]?.N;
    return exp === undefined || Number(exp) > this.nowSeconds();
  }

  /** Consistent read of one item, expired or not. */
  async getAny(key: Key): Promise<Item | undefined> {
    const out = await this.client.send(
      new GetItemCommand({ TableName: this.table, Key: toItem(key), ConsistentRead: true }),
    );
    return out.Item;
  }

  /** Consistent read of one unexpired item. */
  async get(key: Key): Promise<Item | undefined> {
    const item = await this.getAny(key);
    return item && this.live(item) ? item : undefined;
  }

  /** Every page of a query (TableName filled in). */
  async queryAll(input: Omit<QueryCommandInput, 'TableName'>, each: (item: Item) => void): Promise<void> {
    let start: Item | undefined;
    do {
      const out = await this.client.send(
        new QueryCommand({ ...input, TableName: this.table, ...(start ? { ExclusiveStartKey: start } : {}) }),
      );
      for (const item of out.Items ?? []) each(item);
      start = out.LastEvaluatedKey;
    } while (start);
  }

  /** Delete by key, 25 per BatchWriteItem, retrying UnprocessedItems with backoff. */
  async batchDelete(keys: Item[]): Promise<void> {
    for (let i = 0; i < keys.length; i += BATCH_SIZE) {
      let pending: WriteRequest[] = keys.slice(i, i + BATCH_SIZE).map((Key) => ({ DeleteRequest: { Key } }));
      for (let attempt = 1; ; attempt++) {
        const out = await this.client.send(new BatchWriteItemCommand({ RequestItems: { [this.table]: pending } }));
        pending = out.UnprocessedItems?.[this.table] ?? [];
        if (pending.length === 0) break;
        if (attempt >= this.batchAttempts) {
          throw new UnprocessedItemsError(
            `BatchWriteItem: ${pending.length} deletes still unprocessed after ${attempt} attempts`,
          );
        }
        await this.pause(attempt);
      }
    }
  }

  /** The backoff before retrying what a batch request left unprocessed. */
  private pause(retry: number): Promise<void> {
    return new Promise((r) => setTimeout(r, backoffMs(retry - 1, this.batchBaseMs, 2000, Math.random)));
  }
}

/** The key attributes of an item read by a query (to delete it). */
export function keyOf(item: Item): Item {
  const pk = item[KEYS.pk];
  const sk = item[KEYS.sk];
  if (!pk || !sk) throw new Error('query result without its key attributes');
  return { [KEYS.pk]: pk, [KEYS.sk]: sk };
}
