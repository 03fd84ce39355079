// Part 2 driver: the same events against an in-memory store, dynalite in this process (the
// issue's single-process set-up) and dynalite in a child process (client-side CPU only). The
// DynamoDB runs go once one event at a time (parallelism 1, as before issue #9.10) and once with
// the handler's parallelism, so both figures come from one run.
//
// Alone: npx tsx bench/ingest-part.ts [events=5000]
import { pathToFileURL } from 'node:url';
import os from 'node:os';
import { localDynamoClient, startDynalite } from '../lib/adapters/dynamodb/dynalite';
import { DynamoStore } from '../lib/adapters/dynamodb/store';
import { ensureTable } from '../lib/adapters/dynamodb/table';
import { APPLY_PARALLELISM } from '../lib/app/ingest';
import { forkChild } from './children';
import { measureIngest, type IngestResult } from './ingest';
import { MemoryStore } from '../harness/memory-store';
import { TABLE } from './round';

type Store = DynamoStore | MemoryStore;

export async function ingestPart(events: number, log: (s: string) => void): Promise<IngestResult[]> {
  const rows: IngestResult[] = [];
  const run = async (
    setup: string,
    store: () => Promise<{ store: Store; close(): Promise<void> }>,
    batch: number,
    parallelism = APPLY_PARALLELISM,
  ) => {
    const s = await store();
    try {
      const label = parallelism === 1 ? `${setup}, 1 at a time` : setup;
      const r = await measureIngest(label, s.store, { batch, events, parallelism });
      rows.push(r);
      log(
        `ingest ${label} batch ${batch} parallelism ${parallelism}: ${r.eventsPerSec} events/s, ${r.cpuMsPerEvent} ms CPU/event`,
      );
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
  await run('dynalite-same-process', inProcess, 100, 1);
  await run('dynalite-same-process', inProcess, 100);
  await run('dynalite-child-process', child, 100, 1);
  await run('dynalite-child-process', child, 100);
  await run('dynalite-child-process', child, 1);
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const events = Number(process.argv[2] ?? 5000);
  console.log(
    `${new Date().toISOString()} node ${process.version}, ${os.cpus()[0]?.model} × ${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
  );
  const rows = await ingestPart(events, (s) => console.log(s));
  console.table(
    rows.map((r) => ({
      setup: r.setup,
      batch: r.batch,
      parallelism: r.parallelism,
      events: r.events,
      'events/s': r.eventsPerSec,
      'CPU ms/event': r.cpuMsPerEvent,
    })),
  );
  process.exit(0);
}
