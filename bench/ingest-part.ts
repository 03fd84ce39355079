// Part 2 driver: the same events against an in-memory store, dynalite in this process (the
// issue's single-process set-up) and dynalite in a child process (client-side CPU only).
import { localDynamoClient, startDynalite } from '../lib/adapters/dynamodb/dynalite';
import { DynamoStore } from '../lib/adapters/dynamodb/store';
import { ensureTable } from '../lib/adapters/dynamodb/table';
import { forkChild } from './children';
import { measureIngest, type IngestResult } from './ingest';
import { MemoryStore } from '../test/support/memory-store';
import { TABLE } from './round';

export async function ingestPart(events: number, log: (s: string) => void): Promise<IngestResult[]> {
  const rows: IngestResult[] = [];
  const run = async (setup: string, store: () => Promise<{ store: DynamoStore | MemoryStore; close(): Promise<void> }>, batch: number) => {
    const s = await store();
    try {
      const r = await measureIngest(setup, s.store, { batch, events });
      rows.push(r);
      log(`ingest ${setup} batch ${batch}: ${r.eventsPerSec} events/s, ${r.cpuMsPerEvent} ms CPU/event`);
    } finally {
      await s.close();
    }
  };
  const memory = async () => ({ store: new MemoryStore(), close: async () => undefined });
  const inProcess = async () => {
    const d = await startDynalite();
    await ensureTable(d.client, TABLE);
    return { store: new DynamoStore({ client: d.client, table: TABLE }), close: () => d.close() };
  };
  const child = async () => {
    const dyn = forkChild<{ endpoint: string }>(new URL('./dynalite-server.ts', import.meta.url).pathname, {});
    const { endpoint } = await dyn.ready;
    const client = localDynamoClient(endpoint);
    return {
      store: new DynamoStore({ client, table: TABLE }),
      close: async () => {
        client.destroy();
        await dyn.stop();
      },
    };
  };
  await run('memory', memory, 100);
  await run('memory', memory, 1);
  await run('dynalite-same-process', inProcess, 100);
  await run('dynalite-child-process', child, 100);
  await run('dynalite-child-process', child, 1);
  return rows;
}
