// The local service on an in-memory store, wired to a stanza API stub.
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { localDynamoClient } from '../../lib/adapters/dynamodb/dynalite';
import { MEMORY, startLocalService, type LocalService } from '../../lib/wiring/local';
import { startStanzaApiStub, type StanzaApiStub } from '../../harness/stanza-api-stub';
import { waitFor } from './wait';
import type { Join } from '../../lib/domain/model';

export const WEBHOOK_SECRET = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
export const API_SECRET = `whsec_${Buffer.alloc(32, 2).toString('base64')}`;

export interface Harness {
  service: LocalService;
  stub: StanzaApiStub;
  /** Every item of the table, sorted, for "nothing changed" assertions. */
  snapshot(): Promise<string[]>;
  joins(host: string, remote: string): Promise<Join[]>;
  /** The service's log lines, parsed. */
  logs: Array<{ level: string; message: string; [k: string]: unknown }>;
  /** Waits until the service has logged `message` at least `count` times: a signal, not a sleep. */
  logged(message: string, count?: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startHarness(env: Record<string, string> = {}): Promise<Harness> {
  const stub = await startStanzaApiStub(API_SECRET);
  const logs: Harness['logs'] = [];
  const service = await startLocalService({
    dataDir: MEMORY,
    pollMs: 25,
    log: (line) => logs.push(JSON.parse(line)),
    env: {
      PING_MUC_API_URL: stub.url,
      PING_MUC_WEBHOOK_SECRET: WEBHOOK_SECRET,
      PING_MUC_API_SECRET: API_SECRET,
      PING_MUC_DELAY_SECONDS: '0.5',
      PING_MUC_RECHECK_BASE_SECONDS: '0.3',
      PING_MUC_RECHECKS: '2',
      PING_MUC_API_TIMEOUT_MS: '2000',
      LOG_LEVEL: 'info',
      ...env,
    },
  });
  const client = localDynamoClient(service.dynamodbEndpoint);
  return {
    service,
    stub,
    logs,
    logged: (message, count = 1, timeoutMs = 10_000) =>
      waitFor(
        `${count}× "${message}" in the log`,
        () => logs.filter((l) => l.message === message).length >= count,
        timeoutMs,
      ),
    async snapshot() {
      const out = await client.send(new ScanCommand({ TableName: service.config.table }));
      return (out.Items ?? []).map((i) => JSON.stringify(i)).sort();
    },
    async joins(host, remote) {
      return (await service.store.joinsOf(host, 0, remote, 1000)).items;
    },
    async close() {
      client.destroy();
      await service.close();
      await stub.close();
    },
  };
}
