// A counting stanza API stub for benchmarks: the same wire format as test/support/stanza-api-stub.ts
// (docs/stanza-api.md), but it keeps counters instead of arrays, and counts duplicates (the same
// occupant pinged, or the same user notified for the same occupant, more than once).
// Runs in-process (smoke test) or as its own child process (bench/stub-server.ts), so that its
// CPU and memory do not count against the round being measured.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse } from 'ltx';
import { secretKey, verify } from '../lib/domain/signature';
import { NS_API } from '../lib/domain/stanzas';

export type Answer = 'result' | 'not-acceptable' | 'item-not-found-room' | 'item-not-found-service';

/** The realistic mix of the round benchmark: mostly joined, some gone, some nick changes. */
export const MIX: ReadonlyArray<readonly [Answer, number]> = [
  ['result', 0.9],
  ['not-acceptable', 0.05],
  ['item-not-found-room', 0.03],
  ['item-not-found-service', 0.02],
];

/** Deterministic answer for the i-th join of a benchmark, following MIX. */
export function answerFor(i: number): Answer {
  // A fixed permutation of 0..99 so that the answers are spread over the pages.
  const slot = (i * 37) % 100;
  let acc = 0;
  for (const [answer, share] of MIX) {
    acc += Math.round(share * 100);
    if (slot < acc) return answer;
  }
  return 'result';
}

export interface StubCounts {
  requests: number;
  pings: number;
  notifications: number;
  duplicatePings: number;
  duplicateNotifications: number;
  refused: number;
  byAnswer: Record<string, number>;
  /** CPU time of this process since the last reset (ms): the stub's share of the machine. */
  cpuMs: number;
}

export interface CountingStub {
  url: string;
  counts(): StubCounts;
  reset(): void;
  close(): Promise<void>;
}

const errorIq = (iq: { id: string; from: string; to: string }, condition: string, by: string) =>
  `<iq type="error" id="${iq.id}" from="${iq.to}" to="${iq.from}"><error type="cancel" by="${by}"><${condition} xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`;

function answerXml(answer: Answer, iq: { id: string; from: string; to: string }): string {
  const room = iq.to.split('/')[0] ?? '';
  const service = room.split('@')[1] ?? '';
  switch (answer) {
    case 'result':
      return `<iq type="result" id="${iq.id}" from="${iq.to}" to="${iq.from}"/>`;
    case 'item-not-found-room':
      return errorIq(iq, 'item-not-found', room);
    case 'item-not-found-service':
      return errorIq(iq, 'item-not-found', service);
    case 'not-acceptable':
      return errorIq(iq, 'not-acceptable', room);
  }
}

/**
 * `answerOf(occupant)` picks the answer; occupants are `room/nick`. Every request is answered
 * after `latencyMs` (pings and notifications alike, as a real server's round trip would be).
 */
export async function startCountingStub(secret: string, latencyMs: number, answerOf: (occupant: string) => Answer): Promise<CountingStub> {
  const key = secretKey(secret);
  let c: StubCounts;
  let pinged: Set<string>;
  let notified: Set<string>;
  let cpu0 = process.cpuUsage();
  const reset = () => {
    cpu0 = process.cpuUsage();
    c = { requests: 0, pings: 0, notifications: 0, duplicatePings: 0, duplicateNotifications: 0, refused: 0, byAnswer: {}, cpuMs: 0 };
    pinged = new Set();
    notified = new Set();
  };
  reset();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const send = (status: number, text: string) => {
        res.writeHead(status, { 'content-type': 'application/xml' });
        res.end(text);
      };
      const respond = () => {
        c.requests++;
        try {
          verify(key, req.headers as Record<string, string>, body);
        } catch {
          c.refused++;
          return send(401, 'bad signature');
        }
        const el = parse(body.toString('utf8'));
        if (el.name === 'presence') {
          c.notifications++;
          const id = `${el.attrs.to}\u0000${el.attrs.from}`;
          if (notified.has(id)) c.duplicateNotifications++;
          else notified.add(id);
          return send(200, `<sent xmlns="${NS_API}"/>`);
        }
        const iq = { id: el.attrs.id ?? '', from: el.attrs.from ?? '', to: el.attrs.to ?? '' };
        const answer = answerOf(iq.to);
        c.pings++;
        c.byAnswer[answer] = (c.byAnswer[answer] ?? 0) + 1;
        const id = `${iq.from}\u0000${iq.to}`;
        if (pinged.has(id)) c.duplicatePings++;
        else pinged.add(id);
        send(200, answerXml(answer, iq));
      };
      if (latencyMs > 0) setTimeout(respond, latencyMs);
      else respond();
    });
  });
  server.keepAliveTimeout = 60_000;
  server.maxRequestsPerSocket = 0;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/ping_muc_cloud/stanza`,
    counts: () => {
      const cpu = process.cpuUsage(cpu0);
      return { ...c, byAnswer: { ...c.byAnswer }, cpuMs: Math.round((cpu.user + cpu.system) / 1000) };
    },
    reset,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
