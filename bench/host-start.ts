// Host-start cost as a function of the number of joins: `npx tsx bench/host-start.ts
// [--n=1000,20000,100000] [--store=lib/adapters/dynamodb/store.ts]`. For each N, a fresh
// in-memory dynalite (in this process) gets N joins of one host (written 25 per BatchWriteItem,
// the items putJoin builds), then one startHost of that host is timed and its DynamoDB requests
// counted. `--store` loads another DynamoStore module (e.g. an older one, to compare).
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { startDynalite } from '../lib/adapters/dynamodb/dynalite';
import { ensureTable } from '../lib/adapters/dynamodb/table';
import type { JoinStore } from '../lib/ports';
import { countRequests } from './count-requests';
import { HOST, REMOTE, seedBatched, TABLE } from './round';
import { table } from './table';

type StoreClass = new (options: { client: DynamoDBClient; table: string }) => JoinStore;

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const sizes = (arg('n') ?? '1000,20000,100000').split(',').map(Number);
const storeFile = path.resolve(arg('store') ?? 'lib/adapters/dynamodb/store.ts');
const { DynamoStore } = (await import(pathToFileURL(storeFile).href)) as { DynamoStore: StoreClass };

const rows: Array<Array<string | number>> = [];
for (const n of sizes) {
  const db = await startDynalite();
  try {
    await ensureTable(db.client, TABLE);
    const t0 = performance.now();
    const lastSeq = await seedBatched(db.client, { n, noise: 0 });
    const seedMs = performance.now() - t0;
    const store = new DynamoStore({ client: db.client, table: TABLE });
    const counter = countRequests(db.client);
    const t1 = performance.now();
    await store.startHost(HOST, lastSeq + 1);
    const ms = performance.now() - t1;
    counter.remove();
    const left = await countLive(store, n);
    rows.push([
      n,
      Math.round(seedMs),
      Math.round(ms * 10) / 10,
      counter.total,
      JSON.stringify(counter.byCommand),
      left,
    ]);
    console.error(`n=${n}: startHost ${ms.toFixed(1)} ms, ${counter.total} requests`);
  } finally {
    await db.close();
  }
}
console.log(`store: ${path.relative(process.cwd(), storeFile)}`);
console.log(table(['joins', 'seed ms', 'startHost ms', 'requests', 'by command', 'joins left'], rows));

/** Joins of the host still stored after the host-start (the rounds drop them as they read them). */
async function countLive(store: JoinStore, limit: number): Promise<number> {
  let count = 0;
  let cursor: string | undefined;
  do {
    const page = await store.joinsOf(HOST, REMOTE, Math.min(1000, Math.max(1, limit)), cursor);
    count += page.items.length;
    cursor = page.next;
  } while (cursor);
  return count;
}
