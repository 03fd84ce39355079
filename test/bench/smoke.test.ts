// Smoke run of the benchmark code (bench/) at N = 50 so that it cannot rot: the round in its own
// worker process against dynalite and the counting stub, the ingest set-ups, the tables. The
// figures are not checked (this is not a benchmark run); correctness of the round is.
import { beforeAll, describe, expect, it } from 'vitest';
import { calibrationPart, roundPart } from '../../bench/round-part';
import { ingestPart } from '../../bench/ingest-part';
import { machine, parseArgs, render, targets, type Results } from '../../bench/run';
import { answerFor, MIX } from '../../bench/stanza-stub';
import { expected } from '../../bench/round';

describe('bench smoke (N = 50)', () => {
  it('the answer mix follows MIX', () => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < 100; i++) counts[answerFor(i)] = (counts[answerFor(i)] ?? 0) + 1;
    for (const [answer, share] of MIX) expect(counts[answer]).toBe(Math.round(share * 100));
  });

  it('parses its arguments', () => {
    expect(parseArgs(['--full']).full).toBe(true);
    expect([...parseArgs([]).parts]).toEqual(['round', 'ablation', 'ingest', 'cold', 'e2e']);
    expect(() => parseArgs(['--fulll'])).toThrow(/unknown argument/);
  });

  describe('its parts', () => {
    const options = { concurrency: 8, latencyMs: 2 };
    let round: Awaited<ReturnType<typeof roundPart>>;
    let variants: Awaited<ReturnType<typeof roundPart>>;
    let calibration: Awaited<ReturnType<typeof calibrationPart>>;
    let ingest: Awaited<ReturnType<typeof ingestPart>>;

    beforeAll(async () => {
      round = await roundPart([50], options, () => undefined);
      // The variant (in-memory store) and the transport ceiling run too.
      variants = await roundPart([{ n: 50, variant: { store: 'memory' } }], options, () => undefined);
      calibration = await calibrationPart(50, options, () => undefined);
      ingest = await ingestPart(60, () => undefined);
    }, 120_000);

    it('runs a correct round', () => {
      const r = round[0]!;
      const exp = expected(50);
      expect(r.stub.pings).toBe(exp.pings);
      expect(r.stub.notifications).toBe(exp.notifications);
      expect(r.stub.duplicatePings + r.stub.duplicateNotifications).toBe(0);
      expect(r.schedules).toBe(1);
      expect(r.correct).toBe(true);
      // Each self-ping a heal, one per request (batch 0): the server tells a ghost itself, no request more.
      expect(r.httpRequests).toBe(exp.pings);
      expect(r.dynamoRequests).toBeGreaterThan(0);
      expect(r.peakRssMb).toBeGreaterThan(0);
    });

    it('runs a correct round on the in-memory store', () => {
      expect(variants[0]!.correct).toBe(true);
    });

    it('measures the transport ceiling', () => {
      expect(calibration).toHaveLength(1);
    });

    it('measures the CPU per event of every ingest set-up', () => {
      expect(ingest.map((i) => i.setup)).toContain('memory');
      for (const i of ingest) expect(i.cpuMsPerEvent).toBeGreaterThan(0);
    });

    it('renders the tables', () => {
      const results: Results = {
        machine: machine(),
        options: {
          full: false,
          parts: ['round', 'ingest'],
          latencyMs: 2,
          concurrency: 8,
          batch: 0,
          coldRuns: 1,
          ablationN: 50,
        },
        round,
        ablation: { calibration, variants },
        ingest,
        cold: [],
        targets: targets(round, ingest, [], false),
        totalSeconds: 0,
      };
      expect(render(results, false)).toContain('Round fan-out');
      expect(render(results, false)).toContain('What limits the round');
      expect(render(results, true)).toContain('| target | measured | met |');
    });
  });
});
