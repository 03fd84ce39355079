// The local service on an external DynamoDB endpoint (the e2e benchmark's store in its own
// process): no embedded dynalite, the table ensured there, and close() leaves that server running.
import { DescribeTableCommand, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type RunningDynalite, startDynalite } from '../../lib/adapters/dynamodb/dynalite';
import { MEMORY, startLocalService } from '../../lib/wiring/local';

let dynalite: RunningDynalite;
beforeAll(async () => {
  dynalite = await startDynalite();
});
afterAll(() => dynalite.close());

it('starts on a given DynamoDB endpoint, ensures its table there, and leaves that server running on close', async () => {
  const service = await startLocalService({
    dataDir: MEMORY,
    env: { PING_MUC_TABLE: 'external-store-test' },
    dynamodbEndpoint: dynalite.endpoint,
    log: () => undefined,
  });
  let closed = false;
  try {
    expect(service.dynamodbEndpoint).toBe(dynalite.endpoint);
    expect((await fetch(`${service.url}/health`)).status).toBe(200);
    const { Table } = await dynalite.client.send(new DescribeTableCommand({ TableName: 'external-store-test' }));
    expect(Table?.TableStatus).toBe('ACTIVE');
    await service.close();
    closed = true;
    // The server is still there, with the table.
    const { TableNames } = await dynalite.client.send(new ListTablesCommand({}));
    expect(TableNames).toContain('external-store-test');
  } finally {
    if (!closed) await service.close();
  }
});
