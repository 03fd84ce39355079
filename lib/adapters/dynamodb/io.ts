// The table as the store's modules use it: requests with the table name filled in, expiry
// filtering and paged queries. No knowledge of item kinds.
import { GetItemCommand, QueryCommand, type DynamoDBClient, type QueryCommandInput } from '@aws-sdk/client-dynamodb';
import { toItem, type Item } from './items';
import type { Key } from './keys';
import { KEYS } from './table';

export interface TableIoOptions {
  client: DynamoDBClient;
  table: string;
  /** Clock in ms (for expiry filtering and round expiry). */
  now?: () => number;
}

export class TableIo {
  readonly client: DynamoDBClient;
  readonly table: string;
  readonly now: () => number;

  constructor(options: TableIoOptions) {
    this.client = options.client;
    this.table = options.table;
    this.now = options.now ?? Date.now;
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
}

/** The key attributes of an item read by a query (to delete it). */
export function keyOf(item: Item): Item {
  const pk = item[KEYS.pk];
  const sk = item[KEYS.sk];
  if (!pk || !sk) throw new Error('query result without its key attributes');
  return { [KEYS.pk]: pk, [KEYS.sk]: sk };
}
