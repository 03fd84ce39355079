// The targets of issue 11 (heal faster than in-process mod_ping_muc), read off one run: the
// 100,000-join round against the stub at L = 50 ms, and the e2e rows of ping-muc beside Debian's
// mod_ping_muc at the same M.
import type { E2eResult } from './e2e';
import type { RoundRow } from './round-part';

export interface Target {
  target: string;
  measured: string;
  met: boolean | undefined;
}

const ROUND_N = 100_000;
const ROUND_LATENCY_MS = 50;
const ROUND_WALL_MS = 10_000;

export function healTargets(round: RoundRow[], e2e: E2eResult[] | undefined, latencyMs: number): Target[] {
  const t: Target[] = [];
  const big = round.find((r) => r.n === ROUND_N);
  t.push({
    target: `100,000-join round ≤ ${ROUND_WALL_MS / 1000} s at L = ${ROUND_LATENCY_MS} ms`,
    measured: !big
      ? 'not run (use --full)'
      : latencyMs !== ROUND_LATENCY_MS
        ? `not at L = ${ROUND_LATENCY_MS} ms (use --latency=${ROUND_LATENCY_MS})`
        : `${(big.wallMs / 1000).toFixed(2)} s (batch ${big.batch}, C = ${big.concurrency})`,
    met: big && latencyMs === ROUND_LATENCY_MS ? big.wallMs <= ROUND_WALL_MS : undefined,
  });
  for (const m of [...new Set((e2e ?? []).map((r) => r.m))]) {
    const ours = e2e?.find((r) => r.m === m && r.variant === 'ping-muc');
    const theirs = e2e?.find((r) => r.m === m && r.variant === 'debian-mod_ping_muc');
    if (!ours || !theirs) continue;
    const pair = (name: string, a: number, b: number) => ({
      target: `e2e M = ${m}: ping-muc ${name} ≤ mod_ping_muc's`,
      measured: `${a} vs ${b} ms (${(a / b).toFixed(2)}×)`,
      met: a <= b,
    });
    t.push(pair('p50', ours.p50Ms, theirs.p50Ms), pair('max', ours.maxMs, theirs.maxMs));
    t.push({
      target: `e2e M = ${m}: Prosody A's CPU per lost join ≤ mod_ping_muc's`,
      measured: `${(ours.cpuMs.a / m).toFixed(2)} vs ${(theirs.cpuMs.a / m).toFixed(2)} ms`,
      met: ours.cpuMs.a <= theirs.cpuMs.a,
    });
  }
  return t;
}
