// Scale, ingest (issue 19 item 6): a provider's joins (default 1,000,000 across 100 hosts) sent
// as signed requests of one host's joins each through the events handler (lib/app/ingest.ts)
// into DynamoStore on dynalite in a child process, `concurrency` requests in flight (the hosts'
// modules post independently). Requests are built and signed as they are sent, so memory stays
// flat; signing is in this process's CPU column (it is the sender's work, about 1 % of it).
// Afterwards the round's own read (joinsOf) counts a sample of (host, remote) pairs: every join
// must be there.
//
// Alone: npx tsx bench/ingest-scale.ts [joins=1000000] [hosts=100]
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import { localDynamoClient } from '../lib/adapters/dynamodb/dynalite';
import { DynamoStore } from '../lib/adapters/dynamodb/store';
import { handleEvents } from '../lib/app/ingest';
import type { HttpRequest } from '../lib/ports';
import { secretKey, sign } from '../lib/domain/signature';
import { forkChild } from './children';
import { ingestDeps, WEBHOOK_SECRET } from '../harness/ingest';
import { TABLE } from './round';

export interface ScaleIngestParams {
  joins: number;
  hosts: number;
  /** Events per request (the module's batch_max_items default is 100). */
  batch: number;
  /** Requests in flight at once. */
  concurrency: number;
  /** Remote MUC domains each host's users are in. */
  remotesPerHost: number;
}

export interface ScaleIngestResult extends ScaleIngestParams {
  requests: number;
  wallMs: number;
  eventsPerSec: number;
  /** CPU (ms) of this process (handler + AWS SDK client + signing) and of dynalite's process. */
  cpuMs: { handler: number; store: number };
  handlerCpuMsPerEvent: number;
  /** Peak RSS (MB) of dynalite's process once it holds every join. */
  storePeakRssMb: number;
  /** The (host, remote) pairs counted afterwards through joinsOf, and the joins they should hold. */
  verified: { pairs: number; expected: number; found: number };
  /** Rate over each tenth of the run (events/s): does the store slow down as it fills? */
  tenths: number[];
}

export const SCALE_INGEST_DEFAULTS: ScaleIngestParams = {
  joins: 1_000_000,
  hosts: 100,
  batch: 100,
  concurrency: 4,
  remotesPerHost: 20,
};

const USERS_PER_HOST = 1000;
export const hostName = (h: number) => `h${h}.provider.example`;
export const remoteName = (h: number, r: number) => `muc${r}.s${h % 7}.remote.example`;

/**
 * The k-th join of host h: user u(k mod 1000), each user in joins/hosts/1000 rooms spread over
 * `remotesPerHost` remote domains. (user, room) is unique per k.
 */
export function joinOf(h: number, k: number, p: ScaleIngestParams, seq: number, epoch: number): object {
  const slot = Math.floor(k / USERS_PER_HOST);
  const r = (k + slot) % p.remotesPerHost;
  return {
    type: 'join',
    seq,
    epoch,
    host: hostName(h),
    user: `u${k % USERS_PER_HOST}@${hostName(h)}/res`,
    room: `room${slot}-${k % 50}@${remoteName(h, r)}`,
    nick: `nick ${k % USERS_PER_HOST}`,
  };
}

/** Request i: host i mod hosts, that host's joins [off, off + batch). */
function request(i: number, p: ScaleIngestParams, key: Buffer, seq0: number, epoch: number): HttpRequest {
  const h = i % p.hosts;
  const perHost = Math.ceil(p.joins / p.hosts);
  const off = Math.floor(i / p.hosts) * p.batch;
  const events: object[] = [];
  for (let k = off; k < Math.min(off + p.batch, perHost); k++)
    events.push(joinOf(h, k, p, seq0 + i * p.batch + (k - off), epoch));
  const body = Buffer.from(JSON.stringify({ v: 1, events }));
  return { method: 'POST', headers: { 'content-type': 'application/json', ...sign(key, body) }, body };
}

function peakRssMb(pid: number | undefined): number {
  try {
    const kb = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return Math.round(Number(kb) / 102.4) / 10;
  } catch {
    return Number.NaN;
  }
}

export async function scaleIngest(
  params: Partial<ScaleIngestParams>,
  log: (s: string) => void,
): Promise<ScaleIngestResult> {
  const p = { ...SCALE_INGEST_DEFAULTS, ...params };
  const dyn = forkChild<{ endpoint: string } | { cpuMs: number }>(
    new URL('./dynalite-server.ts', import.meta.url).pathname,
    {},
  );
  const { endpoint } = (await dyn.ready) as { endpoint: string };
  const client = localDynamoClient(endpoint);
  try {
    const store = new DynamoStore({ client, table: TABLE });
    const deps = ingestDeps(store);
    const key = secretKey(WEBHOOK_SECRET);
    const perHost = Math.ceil(p.joins / p.hosts);
    const requests = p.hosts * Math.ceil(perHost / p.batch);
    // seqs of the run lie in the past (a µs each), so none is ahead of the handler's clock; the
    // epoch is the seq the hosts' modules started at.
    const seq0 = (Date.now() - 3_600_000) * 1000;
    const epoch = seq0 - 1;
    await dyn.ask({ op: 'cpu' });
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let next = 0;
    let done = 0;
    const tenthAt: number[] = [];
    const worker = async () => {
      while (next < requests) {
        const i = next++;
        const res = await handleEvents(deps, request(i, p, key, seq0, epoch));
        if (res.status !== 200 || (Array.isArray(res.body.refused) && res.body.refused.length))
          throw new Error(`ingest: request ${i} answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
        done++;
        if (done % Math.ceil(requests / 10) === 0 || done === requests) {
          tenthAt.push(performance.now());
          const s = (performance.now() - t0) / 1000;
          // A run cut short still tells its rate so far.
          log(
            `scale ingest: ${done}/${requests} requests, ${Math.round(s)} s, ${Math.round((done * p.batch) / s)} events/s so far`,
          );
        }
      }
    };
    await Promise.all(Array.from({ length: p.concurrency }, worker));
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const storeCpu = ((await dyn.ask({ op: 'cpu' })) as { cpuMs: number }).cpuMs;
    const handlerCpu = (cpu.user + cpu.system) / 1000;
    // Every join there: count a sample of pairs through the round's read.
    const pairs = [0, Math.floor(p.hosts / 2), p.hosts - 1].flatMap((h) =>
      [0, p.remotesPerHost - 1].map((r) => [h, r]),
    );
    let expected = 0;
    let found = 0;
    for (const [h, r] of pairs as Array<[number, number]>) {
      for (let k = 0; k < perHost; k++)
        if ((k + Math.floor(k / USERS_PER_HOST)) % p.remotesPerHost === r && h * perHost + k < p.joins) expected++;
      let cursor: string | undefined;
      do {
        const page = await store.joinsOf(hostName(h), epoch, remoteName(h, r), 1000, cursor);
        found += page.items.length;
        cursor = page.next;
      } while (cursor);
    }
    const events = p.hosts * perHost;
    const tenths = tenthAt.map((t, i) => {
      const from = i === 0 ? t0 : (tenthAt[i - 1] as number);
      const n = Math.min(Math.ceil(requests / 10), requests - i * Math.ceil(requests / 10)) * p.batch;
      return Math.round((n / (t - from)) * 1000);
    });
    const result: ScaleIngestResult = {
      ...p,
      joins: events,
      requests,
      wallMs: Math.round(wallMs),
      eventsPerSec: Math.round((events / wallMs) * 1000),
      cpuMs: { handler: Math.round(handlerCpu), store: storeCpu },
      handlerCpuMsPerEvent: Math.round((handlerCpu / events) * 1000) / 1000,
      storePeakRssMb: peakRssMb(dyn.proc.pid),
      verified: { pairs: pairs.length, expected, found },
      tenths,
    };
    log(
      `scale ingest: ${events} joins of ${p.hosts} hosts in ${(wallMs / 1000).toFixed(1)} s, ${result.eventsPerSec} events/s; sample ${found}/${expected} found`,
    );
    if (found !== expected) throw new Error(`scale ingest: the sample holds ${found} joins, expected ${expected}`);
    return result;
  } finally {
    client.destroy();
    await dyn.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const joins = Number(process.argv[2] ?? SCALE_INGEST_DEFAULTS.joins);
  const hosts = Number(process.argv[3] ?? SCALE_INGEST_DEFAULTS.hosts);
  console.log(`${new Date().toISOString()} node ${process.version}, ${os.cpus()[0]?.model} × ${os.cpus().length}`);
  console.log(JSON.stringify(await scaleIngest({ joins, hosts }, (s) => console.log(s)), null, 2));
  process.exit(0);
}
