// Embedded dynalite (a DynamoDB-compatible server on LevelDB) for the local service and tests.
// Not for AWS: there the real DynamoDB is used. Note what dynalite lacks and ping-muc therefore
// never relies on: TTL deletion and transactions (see docs/data-model.md).
import type { AddressInfo } from 'node:net';
import { mkdirSync } from 'node:fs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';

export interface DynaliteOptions {
  /** LevelDB directory (created if missing); in-memory when absent. */
  path?: string;
  /** Port on 127.0.0.1; 0 (default) picks a free ephemeral port. */
  port?: number;
  host?: string;
}

export interface RunningDynalite {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  /** A client for this endpoint (region 'local', dummy credentials). */
  client: DynamoDBClient;
  /** Destroys the client and stops the server (flushing LevelDB when on disk). */
  close(): Promise<void>;
}

/** A DynamoDB client for a local endpoint such as dynalite: region 'local', dummy credentials. */
export function localDynamoClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 3,
  });
}

export async function startDynalite(options: DynaliteOptions = {}): Promise<RunningDynalite> {
  if (options.path) mkdirSync(options.path, { recursive: true });
  const server = dynalite({
    ...(options.path ? { path: options.path } : {}),
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://${host}:${port}`;
  const client = localDynamoClient(endpoint);
  let closed: Promise<void> | undefined;
  return {
    endpoint,
    client,
    close() {
      closed ??= new Promise<void>((resolve, reject) => {
        client.destroy();
        server.closeAllConnections();
        server.close((err?: Error) => (err ? reject(err) : resolve()));
      });
      return closed;
    },
  };
}
