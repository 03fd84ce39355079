// The single DynamoDB table of ping-muc (docs/data-model.md). The CDK stack reads its keys, GSI
// and TTL attribute from KEYS, so the two cannot drift apart.
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
  gsi: 'byHost',
  gpk: 'gpk',
  gsk: 'gsk',
  ttl: 'expiresAt',
} as const;

export function tableDefinition(name: string): CreateTableCommandInput {
  return {
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: KEYS.pk, AttributeType: 'S' },
      { AttributeName: KEYS.sk, AttributeType: 'S' },
      { AttributeName: KEYS.gpk, AttributeType: 'S' },
      { AttributeName: KEYS.gsk, AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: KEYS.pk, KeyType: 'HASH' },
      { AttributeName: KEYS.sk, KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: KEYS.gsi,
        KeySchema: [
          { AttributeName: KEYS.gpk, KeyType: 'HASH' },
          { AttributeName: KEYS.gsk, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ],
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
