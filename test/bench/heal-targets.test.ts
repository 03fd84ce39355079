// The issue-11 targets as `npm run bench` judges them, on made-up rows.
import { describe, expect, it } from 'vitest';
import type { E2eResult } from '../../bench/e2e';
import { healTargets } from '../../bench/heal-targets';
import type { RoundRow } from '../../bench/round-part';

const e2e = (variant: E2eResult['variant'], p50Ms: number, maxMs: number, a: number): E2eResult =>
  ({ variant, m: 500, p50Ms, maxMs, cpuMs: { a, b: 0, service: 0, store: 0, clients: 0 } }) as E2eResult;

describe('healTargets', () => {
  it("judges ping-muc's e2e figures against mod_ping_muc's from the same run", () => {
    const t = healTargets([], [e2e('ping-muc', 700, 900, 480), e2e('debian-mod_ping_muc', 400, 1000, 870)], 50);
    expect(t.map((x) => [x.target, x.met])).toEqual([
      ['100,000-join round ≤ 10 s at L = 50 ms', undefined],
      ["e2e M = 500: ping-muc p50 ≤ mod_ping_muc's", false],
      ["e2e M = 500: ping-muc max ≤ mod_ping_muc's", true],
      ["e2e M = 500: Prosody A's CPU per lost join ≤ mod_ping_muc's", true],
    ]);
    expect(t[1]?.measured).toBe('700 vs 400 ms (1.75×)');
  });

  it('judges the round only at L = 50 ms', () => {
    const row = { n: 100_000, wallMs: 9_500, batch: 100, concurrency: 1000 } as RoundRow;
    expect(healTargets([row], undefined, 50)[0]).toMatchObject({ met: true, measured: '9.50 s (batch 100, C = 1000)' });
    expect(healTargets([row], undefined, 20)[0]?.met).toBeUndefined();
  });
});
