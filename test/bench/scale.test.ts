// Smoke run of the scale benchmark's code (issue 19 item 6) at small sizes, so that it cannot rot:
// the ingest of many hosts' joins into dynalite (every join found again by the round's read), the
// e2e tallies (told once/twice/never, replies leaked), the options and the tables. No figure is
// checked: this is not a benchmark run.
import { describe, expect, it } from 'vitest';
import { isPingReply, OCCUPANTS_PER_ROOM, roomOf, toldCounts } from '../../bench/e2e';
import { scaleIngest } from '../../bench/ingest-scale';
import { machine, parseArgs, render, SCALE_PARTS, scaleTargets, type Results } from '../../bench/run';

describe('scale bench smoke', () => {
  const scaleArgs = () => parseArgs(['--only=scale', '--scale-m=20,50', '--scale-joins=500', '--scale-hosts=5']);

  it('parses the scale options', () => {
    const o = scaleArgs();
    expect([...o.parts]).toEqual(SCALE_PARTS);
    expect(o.scale).toEqual({ joins: 500, hosts: 5, roundN: 100_000, ms: [20, 50] });
  });

  it('runs the round of a scale part at L = 50 ms unless --latency says otherwise', () => {
    expect(scaleArgs().latencyMs).toBe(50);
    expect(parseArgs(['--only=scale-e2e', '--latency=20']).latencyMs).toBe(20);
    expect(parseArgs([]).latencyMs).toBe(20);
  });

  it('tallies how often each lost join was told', () => {
    expect(toldCounts([[1], [1, 2], [], [1, 2, 3], [5]])).toEqual({ once: 2, twice: 1, more: 1, never: 1 });
  });

  it('counts only iq answers from an occupant JID as leaked ping replies', () => {
    const iq = (type: string, from: string) => ({ name: 'iq', attrs: { type, from } });
    expect(isPingReply(iq('error', 'bench0@muc.b.test/u0'))).toBe(true);
    expect(isPingReply(iq('result', 'bench0@muc.b.test/u0'))).toBe(true);
    expect(isPingReply(iq('get', 'bench0@muc.b.test/u0'))).toBe(false);
    expect(isPingReply(iq('result', 'a.test'))).toBe(false);
  });

  it('caps the occupants per room', () => {
    const rooms = new Map<string, number>();
    for (let c = 0; c < 100; c++)
      for (let r = 0; r < 50; r++) rooms.set(roomOf(c, r, 50), (rooms.get(roomOf(c, r, 50)) ?? 0) + 1);
    expect(Math.max(...rooms.values())).toBe(OCCUPANTS_PER_ROOM);
    expect(rooms.size).toBe(5000 / OCCUPANTS_PER_ROOM);
  });

  it('finds again every join it ingested for many hosts', async () => {
    const r = await scaleIngest({ joins: 600, hosts: 6, batch: 25 }, () => undefined);
    expect(r.joins).toBe(600);
    expect(r.requests).toBe(24);
    expect(r.verified.found).toBe(r.verified.expected);
    expect(r.verified.expected).toBeGreaterThan(0);
    const results: Results = {
      machine: machine(),
      options: {
        full: false,
        parts: ['scale-ingest'],
        latencyMs: 50,
        concurrency: 8,
        batch: 0,
        coldRuns: 1,
        ablationN: 50,
      },
      round: [],
      ablation: { calibration: [], variants: [] },
      ingest: [],
      cold: [],
      scale: { ingest: r, round: [] },
      targets: [],
      totalSeconds: 0,
    };
    expect(render(results, true)).toContain('Scale: ingest of 600 joins of 6 hosts');
  }, 120_000);

  it('judges "every lost join told once" on ping-muc rows only', () => {
    const row = {
      variant: 'ping-muc' as const,
      m: 10,
      told: { once: 10, twice: 0, more: 0, never: 0 },
      leakedReplies: 0,
    };
    const debian = { ...row, variant: 'debian-mod_ping_muc' as const, told: { once: 0, twice: 10, more: 0, never: 0 } };
    type Row = Parameters<typeof scaleTargets>[0][number];
    const t = scaleTargets([row as Row, debian as Row]);
    expect(t).toHaveLength(1);
    expect(t[0]?.met).toBe(true);
    expect(scaleTargets([{ ...row, told: { ...row.told, once: 9, never: 1 } } as Row])[0]?.met).toBe(false);
  });
});
