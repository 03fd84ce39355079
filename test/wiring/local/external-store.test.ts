// The local service on an external DynamoDB endpoint (the e2e benchmark's store in its own
// process): no embedded dynalite, the table ensured there, and close() leaves that server running.
import { DescribeTableCommand, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type RunningDynalite, startDynalite } from '../../../lib/adapters/dynamodb/dynalite';
import { type LocalService, MEMORY, startLocalService } from '../../../lib/wiring/local';

let dynalite: RunningDynalite;
let service: LocalService;
let closed = false;
beforeAll(async () => {
  dynalite = await startDynalite();
  service = await startLocalService({
    dataDir: MEMORY,
    env: { PING_MUC_TABLE: 'external-store-test' },
    dynamodbEndpoint: dynalite.endpoint,
    log: () => undefined,
  });
});
afterAll(async () => {
  if (!closed) await service?.close();
  await dynalite.close();
});

it('serves on a given DynamoDB endpoint with its table ensured there', async () => {
  expect(service.dynamodbEndpoint).toBe(dynalite.endpoint);
  expect((await fetch(`${service.url}/health`)).status).toBe(200);
  const { Table } = await dynalite.client.send(new DescribeTableCommand({ TableName: 'external-store-test' }));
  expect(Table?.TableStatus).toBe('ACTIVE');
});

it('leaves the external DynamoDB server running on close', async () => {
  await service.close();
  closed = true;
  const { TableNames } = await dynalite.client.send(new ListTablesCommand({}));
  expect(TableNames).toContain('external-store-test');
});
