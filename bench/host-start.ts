// The stale-join benchmark (issue 19): after a user server restarts, its module resyncs under a
// new epoch; the joins of the old epoch stay in the table until their TTL. One remote holds
// `stale` joins of the old epoch and LIVE joins of the new one; an s2s-close of the new epoch
// with a 1 s delay starts a round on dynalite (in this process) against an in-process stanza API
// answering after 20 ms. Measured: when the live joins are pinged after the close (goal: the
// delay + 2 s, as with no stale joins), and the round's DynamoDB requests.
//   npx tsx bench/host-start.ts [--n=0,20000,100000]      (npm run bench -- --only=host-start)
import { BatchWriteItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type Element, parse } from 'ltx';
import { startDynalite } from '../lib/adapters/dynamodb/dynalite';
import { DynamoStore } from '../lib/adapters/dynamodb/store';
import { ensureTable } from '../lib/adapters/dynamodb/table';
import { linkClosed } from '../lib/app/link';
import { runRound, type RoundDeps } from '../lib/app/round';
import type { Join } from '../lib/domain/model';
import type { StanzaApi } from '../lib/ports';
import { systemClock } from '../lib/support/clock';
import { loadConfig } from '../lib/support/config';
import { createLogger, Metrics } from '../lib/support/observability';
import { countRequests } from '../harness/count-requests';
import { HOST, REMOTE, TABLE } from './round';
import { CountingScheduler } from '../harness/counting-scheduler';
import { markdown, table } from './table';

export const LIVE = 200;
const DELAY_S = 1;
const API_LATENCY_MS = 20;
/** What the goal allows after the close: the delay + 2 s. */
export const GOAL_MS = DELAY_S * 1000 + 2000;

export interface StaleJoinRow {
  stale: number;
  live: number;
  delayS: number;
  seedS: number;
  /** From the close to the first and the last self-ping of a live join. */
  firstLiveMs: number;
  lastLiveMs: number;
  livePinged: number;
  stalePinged: number;
  roundRequests: number;
  roundByCommand: Record<string, number>;
  withinGoal: boolean;
}

const join = (i: number, epoch: number, seq: number, kind: 'stale' | 'live'): Join => ({
  host: HOST,
  user: `${kind}${Math.floor(i / 5)}@${HOST}/r`,
  room: `room${i % 400}@${REMOTE}`,
  remote: REMOTE,
  nick: `${kind}${i}`,
  epoch,
  seq,
});

/** Writes the joins as putJoin builds them (captured, not sent), 25 per BatchWriteItem. */
async function seed(client: DynamoDBClient, joins: Join[]): Promise<void> {
  const items: Array<Record<string, AttributeValue>> = [];
  const capture = {
    send: async (cmd: { input: { Item?: Record<string, AttributeValue> } }) => {
      if (cmd.input.Item) items.push(cmd.input.Item);
      return {};
    },
  };
  const builder = new DynamoStore({ client: capture as unknown as DynamoDBClient, table: TABLE });
  const expiresAt = Math.floor(Date.now() / 1000) + 86_400;
  for (const j of joins) await builder.putJoin(j, expiresAt);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      let pending = items.slice(next, next + 25).map((Item) => ({ PutRequest: { Item } }));
      next += 25;
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > 20) throw new Error('seeding: BatchWriteItem keeps leaving items unprocessed');
        const out = await client.send(new BatchWriteItemCommand({ RequestItems: { [TABLE]: pending } }));
        pending = (out.UnprocessedItems?.[TABLE] ?? []) as typeof pending;
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

/** One run: `stale` joins of the old epoch, LIVE of the new one, a close of the new epoch. */
export async function staleJoinRun(stale: number): Promise<StaleJoinRow> {
  const db = await startDynalite();
  try {
    await ensureTable(db.client, TABLE);
    const t0 = Date.now();
    const oldEpoch = (t0 - 3_600_000) * 1000;
    const newEpoch = (t0 - 60_000) * 1000;
    const joins: Join[] = [];
    for (let i = 0; i < stale; i++) joins.push(join(i, oldEpoch, oldEpoch + 1 + i, 'stale'));
    for (let i = 0; i < LIVE; i++) joins.push(join(i, newEpoch, newEpoch + 1 + i, 'live'));
    await seed(db.client, joins);
    const seedS = Math.round((Date.now() - t0) / 100) / 10;

    const config = loadConfig({ PING_MUC_DELAY_SECONDS: String(DELAY_S), PING_MUC_API_URL: 'http://stub.invalid/' });
    const pinged: Array<{ nick: string; at: number }> = [];
    const answer = async (occupant: string) => {
      // The occupant answers the self-ping: joined.
      const joined = { kind: 'reply' as const, iq: parse(`<iq type="result" from="${occupant}"/>`) as Element };
      pinged.push({ nick: occupant.slice(occupant.indexOf('/') + 1), at: Date.now() });
      await new Promise((r) => setTimeout(r, API_LATENCY_MS));
      return joined;
    };
    const api: StanzaApi = {
      heal: (j) => answer(j.occupant),
      selfPing: (j) => answer(j.occupant),
      notify: async () => 'sent',
      serverPing: async () => undefined,
    };
    const store = new DynamoStore({ client: db.client, table: TABLE });
    const scheduler = new CountingScheduler();
    const deps: RoundDeps = {
      joins: store,
      rounds: store,
      clock: systemClock,
      api,
      scheduler,
      config,
      log: createLogger('bench', 'warn', () => undefined),
      metrics: new Metrics('PingMucBench', () => undefined),
    };
    const counter = countRequests(db.client);
    const closedAt = Date.now();
    await linkClosed(deps, HOST, REMOTE, closedAt * 1000, newEpoch);
    for (let s = scheduler.take(); s; s = scheduler.take()) {
      const wait = s.at - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await runRound(deps, s.job, () => 300_000);
    }
    counter.remove();
    const live = pinged.filter((p) => p.nick.startsWith('live'));
    const lastLiveMs = Math.max(...live.map((p) => p.at)) - closedAt;
    return {
      stale,
      live: LIVE,
      delayS: DELAY_S,
      seedS,
      firstLiveMs: Math.min(...live.map((p) => p.at)) - closedAt,
      lastLiveMs,
      livePinged: new Set(live.map((p) => p.nick)).size,
      stalePinged: pinged.length - live.length,
      roundRequests: counter.total,
      roundByCommand: { ...counter.byCommand },
      withinGoal: live.length === LIVE && lastLiveMs <= GOAL_MS,
    };
  } finally {
    await db.close();
  }
}

/** The part of `npm run bench` (--only=host-start): each stale count in turn. */
export async function staleJoinPart(sizes: number[], log: (s: string) => void): Promise<StaleJoinRow[]> {
  const rows: StaleJoinRow[] = [];
  for (const n of sizes) {
    log(`stale joins: ${n} stale + ${LIVE} live, delay ${DELAY_S} s`);
    rows.push(await staleJoinRun(n));
  }
  return rows;
}

export function renderStaleJoins(rows: StaleJoinRow[], md: boolean): string {
  return (md ? markdown : table)(
    [
      'stale joins (old epoch)',
      'live joins',
      'delay',
      'close → first live ping',
      'close → last live ping',
      `within delay + 2 s`,
      'stale pinged',
      'round DynamoDB requests',
    ],
    rows.map((r) => [
      r.stale,
      `${r.livePinged} / ${r.live}`,
      `${r.delayS} s`,
      `${(r.firstLiveMs / 1000).toFixed(2)} s`,
      `${(r.lastLiveMs / 1000).toFixed(2)} s`,
      r.withinGoal ? 'yes' : 'NO',
      r.stalePinged,
      `${r.roundRequests} ${JSON.stringify(r.roundByCommand)}`,
    ]),
  );
}

if (process.argv[1]?.endsWith('host-start.ts')) {
  const arg = process.argv.find((a) => a.startsWith('--n='))?.split('=')[1];
  const sizes = (arg ?? '0,20000,100000').split(',').map(Number);
  const rows = await staleJoinPart(sizes, (s) => process.stderr.write(`${s}\n`));
  console.log(renderStaleJoins(rows, false));
  process.exit(rows.every((r) => r.withinGoal) ? 0 : 1);
}
