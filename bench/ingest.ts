// Part 2, ingest: signed join/leave events through the events handler (lib/app/ingest.ts), one
// request at a time, into a store. CPU per event is process CPU ÷ events; with MemoryStore
// the store I/O is out of the picture and what remains is our own code (signature check, parsing,
// validation, dispatch). With DynamoStore it adds the AWS SDK client (and, when dynalite runs
// in the same process, the DynamoDB server too).
import { secretKey, sign } from '../lib/domain/signature';
import { ingestDeps, WEBHOOK_SECRET } from '../harness/ingest';
import { APPLY_PARALLELISM, handleEvents } from '../lib/app/ingest';
import type { HttpRequest } from '../lib/ports';
import type { JoinStore, RoundStore } from '../lib/ports';

const HOST = 'a.example';
const REMOTE = 'muc.remote.example';

export interface IngestParams {
  /** Events per request (the Prosody module sends up to 100, default). */
  batch: number;
  events: number;
  /** Keys applied at once within a request; default the handler's (APPLY_PARALLELISM). */
  parallelism?: number;
}

export interface IngestResult extends IngestParams {
  setup: string;
  requests: number;
  wallMs: number;
  eventsPerSec: number;
  cpuMs: number;
  cpuMsPerEvent: number;
  joins: number;
  leaves: number;
}

/** Two joins then a leave of the first, repeated: 2/3 joins, 1/3 leaves; each event a new seq. */
export function makeEvents(count: number, seq0: number): object[] {
  const events: object[] = [];
  for (let i = 0; events.length < count; i++) {
    const seq = seq0 + events.length;
    const user = `u${i % 1000}@${HOST}/res${i % 3}`;
    const room = `room${i % 997}@${REMOTE}`;
    if (events.length % 3 === 2) {
      const prev = i - 2;
      events.push({
        type: 'leave',
        seq,
        host: HOST,
        user: `u${prev % 1000}@${HOST}/res${prev % 3}`,
        room: `room${prev % 997}@${REMOTE}`,
      });
    } else {
      events.push({ type: 'join', seq, host: HOST, user, room, nick: `nick ${i}` });
    }
  }
  return events;
}

/** The requests as the Prosody module would send them (signed now; valid for 5 minutes). */
export function makeRequests(p: IngestParams, seq0 = Date.now() * 1000): HttpRequest[] {
  const key = secretKey(WEBHOOK_SECRET);
  const events = makeEvents(p.events, seq0);
  const requests: HttpRequest[] = [];
  for (let i = 0; i < events.length; i += p.batch) {
    const body = Buffer.from(JSON.stringify({ v: 1, events: events.slice(i, i + p.batch) }));
    const headers: Record<string, string> = { 'content-type': 'application/json', ...sign(key, body) };
    requests.push({ method: 'POST', headers, body });
  }
  return requests;
}

/** Sends the requests one after the other through handleEvents; a short warm-up is not counted. */
export async function measureIngest(
  setup: string,
  store: JoinStore & RoundStore,
  p: IngestParams,
): Promise<IngestResult> {
  const deps = ingestDeps(store);
  const warm = makeRequests({ batch: p.batch, events: Math.min(p.events, 300) }, Date.now() * 1000 - 10_000_000);
  const options = { parallelism: p.parallelism };
  for (const req of warm) await handleEvents(deps, req, options);
  const requests = makeRequests(p);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (const req of requests) {
    const res = await handleEvents(deps, req, options);
    if (res.status !== 200) throw new Error(`ingest: handler answered ${res.status}: ${JSON.stringify(res.body)}`);
  }
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const leaves = Math.floor(p.events / 3);
  return {
    setup,
    ...p,
    parallelism: p.parallelism ?? APPLY_PARALLELISM,
    requests: requests.length,
    wallMs: Math.round(wallMs),
    eventsPerSec: Math.round((p.events / wallMs) * 1000),
    cpuMs: Math.round(cpuMs),
    cpuMsPerEvent: Math.round((cpuMs / p.events) * 1000) / 1000,
    joins: p.events - leaves,
    leaves,
  };
}
