// The single DynamoDB table of ping-muc (docs/data-model.md). The CDK stack reads its keys,
// indexes and TTL attribute from KEYS and INDEXES, so the two cannot drift apart.
import {
  CreateTableCommand,
  DescribeTableCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  type CreateTableCommandInput,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';

export const KEYS = {
  pk: 'pk',
  sk: 'sk',
  /** Pending windows and unfinished rounds by due time: what the reconciler pages through. */
  dueGsi: 'byDue',
  /** `due#<shard>` while the item has a due, absent otherwise (so the index is sparse). */
  dpk: 'dpk',
  /** The item's due time (ms), N: the window's, or the Round's own `due` field. */
  due: 'due',
  ttl: 'expiresAt',
} as const;

/**
 * Partitions of the byDue index: an item's shard comes from its (host, remote), and the reconciler
 * queries every shard and merges them. It may grow (old items stay in shards still queried),
 * never shrink without rewriting the items of the dropped shards.
 */
export const DUE_SHARDS = 8;

/** A global secondary index of the table, as both tableDefinition and the CDK stack build it. */
export interface IndexSpec {
  name: string;
  partitionKey: string;
  sortKey: { name: string; type: 'S' | 'N' };
  /** Non-key attributes projected (INCLUDE); absent: ALL. */
  include?: readonly string[];
}

export const INDEXES: readonly IndexSpec[] = [
  // Only what an Overdue needs: a round item holds its cursor (kilobytes with long JIDs),
  // which this index need not store nor pay a write for.
  {
    name: KEYS.dueGsi,
    partitionKey: KEYS.dpk,
    sortKey: { name: KEYS.due, type: 'N' },
    include: ['host', 'remote', 'gen', 'pass', 'state', KEYS.ttl],
  },
];

export function tableDefinition(name: string): CreateTableCommandInput {
  return {
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: KEYS.pk, AttributeType: 'S' },
      { AttributeName: KEYS.sk, AttributeType: 'S' },
      ...INDEXES.flatMap((index) => [
        { AttributeName: index.partitionKey, AttributeType: 'S' as const },
        { AttributeName: index.sortKey.name, AttributeType: index.sortKey.type },
      ]),
    ],
    KeySchema: [
      { AttributeName: KEYS.pk, KeyType: 'HASH' },
      { AttributeName: KEYS.sk, KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: INDEXES.map((index) => ({
      IndexName: index.name,
      KeySchema: [
        { AttributeName: index.partitionKey, KeyType: 'HASH' },
        { AttributeName: index.sortKey.name, KeyType: 'RANGE' },
      ],
      Projection: index.include
        ? { ProjectionType: 'INCLUDE', NonKeyAttributes: [...index.include] }
        : { ProjectionType: 'ALL' },
    })),
  };
}

/**
 * Create the table if it is missing and wait until it (and its GSI) is ACTIVE. For dynalite and
 * tests; on AWS the CDK stack owns the table (and its TTL setting, which dynalite lacks).
 */
export async function ensureTable(client: DynamoDBClient, name: string, timeoutMs = 30_000): Promise<void> {
  try {
    await client.send(new CreateTableCommand(tableDefinition(name)));
  } catch (err) {
    if (!(err instanceof ResourceInUseException)) throw err;
  }
  const deadline = Date.now() + timeoutMs;
  for (let delay = 20; ; delay = Math.min(delay * 2, 1000)) {
    try {
      const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
      const indexesActive = (Table?.GlobalSecondaryIndexes ?? []).every((i) => i.IndexStatus === 'ACTIVE');
      if (Table?.TableStatus === 'ACTIVE' && indexesActive) return;
    } catch (err) {
      if (!(err instanceof ResourceNotFoundException)) throw err;
    }
    if (Date.now() > deadline) throw new Error(`DynamoDB table ${name} not ACTIVE after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, delay));
  }
}
