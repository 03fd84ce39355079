// A counting stanza API stub for benchmarks: the wire format of harness/stanza-api-stub.ts
// (docs/stanza-api.md), keeping counters instead of arrays and counting duplicates (the same
// occupant pinged, or the same user notified for the same occupant, more than once). It keeps no
// join table: every heal and notification names the current join, so that a duplicate is counted
// rather than answered <no-session/>. `requests` counts items (self-pings, heals, notifications).
// Runs in-process (smoke test) or as its own child process (bench/stub-server.ts), so that its
// CPU and memory do not count against the round being measured.
import { serveStanzaApi } from '../harness/stanza-api-stub';

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

/**
 * `answerOf(occupant)` picks the answer; occupants are `room/nick`. Every request is answered
 * after `latencyMs` (pings and notifications alike, as a real server's round trip would be).
 */
export async function startCountingStub(
  secret: string,
  latencyMs: number,
  answerOf: (occupant: string) => Answer,
): Promise<CountingStub> {
  let c: StubCounts;
  let pinged: Set<string>;
  let notified: Set<string>;
  let cpu0 = process.cpuUsage();
  const reset = () => {
    cpu0 = process.cpuUsage();
    c = {
      requests: 0,
      pings: 0,
      notifications: 0,
      duplicatePings: 0,
      duplicateNotifications: 0,
      refused: 0,
      byAnswer: {},
      cpuMs: 0,
    };
    pinged = new Set();
    notified = new Set();
  };
  reset();
  const served = await serveStanzaApi(secret, {
    latencyMs: () => latencyMs,
    refused: () => {
      c.requests++;
      c.refused++;
    },
    notify: (el) => {
      c.requests++;
      c.notifications++;
      const id = `${el.attrs.to}\u0000${el.attrs.from}`;
      if (notified.has(id)) c.duplicateNotifications++;
      else notified.add(id);
    },
    ping: (iq) => {
      c.requests++;
      const answer = answerOf(iq.to);
      c.pings++;
      c.byAnswer[answer] = (c.byAnswer[answer] ?? 0) + 1;
      const id = `${iq.from}\u0000${iq.to}`;
      if (pinged.has(id)) c.duplicatePings++;
      else pinged.add(id);
      return answer;
    },
  });
  return {
    url: served.url,
    counts: () => {
      const cpu = process.cpuUsage(cpu0);
      return { ...c, byAnswer: { ...c.byAnswer }, cpuMs: Math.round((cpu.user + cpu.system) / 1000) };
    },
    reset,
    close: served.close,
  };
}
