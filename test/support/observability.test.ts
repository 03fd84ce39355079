// Log lines and EMF documents as CloudWatch reads them, and the metric contract of
// docs/operations.md checked against what the code publishes.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  COUNTS,
  createLogger,
  MEASURES,
  Metrics,
  type MetricsLevel,
  stackFromEnv,
} from '../../lib/support/observability';

const collect = () => {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, sink: (l: string) => void lines.push(JSON.parse(l)) };
};

describe('logger', () => {
  /** A debug entry and an info entry, logged at the info level. */
  const logged = () => {
    const { lines, sink } = collect();
    const log = createLogger('ping-muc', 'info', sink);
    log.debug('hidden');
    log.info('shown', { n: 1 });
    return lines;
  };

  it('writes nothing below its level', () => {
    expect(logged()).toHaveLength(1);
  });

  it('writes an entry as one JSON object holding its fields', () => {
    expect(logged()[0]).toMatchObject({ level: 'info', service: 'ping-muc', message: 'shown', n: 1 });
  });

  it('stamps an entry with an ISO 8601 timestamp', () => {
    const [line] = logged();
    expect(new Date(String(line!.timestamp)).toISOString()).toBe(line!.timestamp);
  });

  it('child loggers bind fields without touching their parent', () => {
    const { lines, sink } = collect();
    const log = createLogger('ping-muc', 'warn', sink);
    const child = log.child({ requestId: 'r1' }).child({ host: 'a.example', gen: 'g1' });
    child.info('below the level');
    child.warn('bound', { extra: true });
    log.error('parent');
    expect(lines).toEqual([
      expect.objectContaining({ requestId: 'r1', host: 'a.example', gen: 'g1', message: 'bound', extra: true }),
      expect.not.objectContaining({ requestId: expect.anything() }),
    ]);
  });
});

describe('metrics', () => {
  type Doc = Record<string, unknown> & { _aws: { CloudWatchMetrics: Array<{ Dimensions: string[][] }> } };
  const dims = (lines: Array<Record<string, unknown>>) =>
    (lines as Doc[]).map((l) => l._aws.CloudWatchMetrics[0]!.Dimensions);

  /** Counts at the default level, flushed once. */
  const defaultCounts = () => {
    const { lines, sink } = collect();
    const m = new Metrics('PingMuc', sink, 'Prod');
    m.count('Events', 'EventType', 'join');
    m.count('Events', 'EventType', 'join', 2);
    m.count('Events', 'EventType', 'refused');
    m.count('Pings', 'Outcome', 'joined');
    m.count('Pings', 'Outcome', 'failed');
    m.flush();
    return { lines, m };
  };

  it('by default publishes a count per Stack plus the values an alarm reads per dimension', () => {
    const { lines } = defaultCounts();
    expect(lines).toEqual([
      {
        _aws: {
          Timestamp: expect.any(Number),
          CloudWatchMetrics: [
            { Namespace: 'PingMuc', Dimensions: [['Stack']], Metrics: [{ Name: 'Events', Unit: 'Count' }] },
          ],
        },
        Stack: 'Prod',
        Events: 4,
      },
      {
        _aws: {
          Timestamp: expect.any(Number),
          CloudWatchMetrics: [
            {
              Namespace: 'PingMuc',
              Dimensions: [['Stack', 'EventType']],
              Metrics: [{ Name: 'Events', Unit: 'Count' }],
            },
          ],
        },
        Stack: 'Prod',
        EventType: 'refused',
        Events: 1,
      },
      expect.objectContaining({ Stack: 'Prod', Outcome: 'failed', Pings: 1 }),
    ]);
  });

  it('publishes nothing again on a second flush', () => {
    const { lines, m } = defaultCounts();
    m.flush();
    expect(lines).toHaveLength(3);
  });

  /** Counts and measures of a host at the default level. */
  const defaultForHost = () => {
    const { lines, sink } = collect();
    const m = new Metrics('PingMuc', sink, 'Prod').forHost('a.example');
    m.count('Notifications', 'Result', 'sent');
    m.count('Notifications', 'Result', 'no-session');
    m.measure('RoundDurationMs', 12, 'Milliseconds');
    m.measure('SilentHosts', 2, 'Count');
    m.flush();
    return lines;
  };

  it('by default publishes no Host dimension even for metrics recorded for a host', () => {
    const lines = defaultForHost();
    expect(dims(lines)).toEqual([[['Stack', 'Result']], [['Stack']]]);
    expect(lines.some((l) => 'Host' in l)).toBe(false);
  });

  it('by default publishes no measure but SilentHosts', () => {
    expect(defaultForHost()[1]).toMatchObject({
      _aws: { CloudWatchMetrics: [{ Metrics: [{ Name: 'SilentHosts', Unit: 'Count' }] }] },
      SilentHosts: 2,
    });
  });

  it('detailed publishes every value per dimension plus per Host for a host', () => {
    const { lines, sink } = collect();
    const m = new Metrics('PingMuc', sink, 'Prod', 'detailed').forHost('a.example');
    m.count('Notifications', 'Result', 'no-session');
    m.count('RoundFailures', 'Kind', 'start');
    m.measure('RoundDurationMs', 12, 'Milliseconds');
    m.flush();
    expect(dims(lines)).toEqual([
      [
        ['Stack', 'Result'],
        ['Stack', 'Host', 'Result'],
      ],
      [['Stack']],
      [
        ['Stack', 'Kind'],
        ['Stack', 'Host', 'Kind'],
      ],
      [['Stack'], ['Stack', 'Host']],
    ]);
    expect(lines.filter((l) => 'Host' in l).every((l) => l.Host === 'a.example')).toBe(true);
    expect(lines[1]).not.toHaveProperty('Host');
  });

  /** One RoundDurationMs and 150 CloseToStartMs (plus a NaN) at the detailed level. */
  const detailedMeasures = () => {
    const { lines, sink } = collect();
    const m = new Metrics('PingMuc', sink, 'Prod', 'detailed');
    m.measure('RoundDurationMs', 1500, 'Milliseconds');
    for (let i = 0; i < 150; i++) m.measure('CloseToStartMs', i, 'Milliseconds');
    m.measure('CloseToStartMs', Number.NaN, 'Milliseconds');
    m.flush();
    return lines;
  };

  it('detailed measures carry [["Stack"]] with their unit', () => {
    expect(detailedMeasures()[0]).toEqual({
      _aws: {
        Timestamp: expect.any(Number),
        CloudWatchMetrics: [
          {
            Namespace: 'PingMuc',
            Dimensions: [['Stack']],
            Metrics: [{ Name: 'RoundDurationMs', Unit: 'Milliseconds' }],
          },
        ],
      },
      Stack: 'Prod',
      RoundDurationMs: 1500,
    });
  });

  it('detailed measures hold at most 100 values per document', () => {
    const lines = detailedMeasures();
    expect(lines).toHaveLength(3);
    expect(lines[1]!.CloseToStartMs).toHaveLength(100);
    expect(lines[2]!.CloseToStartMs).toHaveLength(50);
  });

  it('the stack comes from PING_MUC_STACK', () => {
    expect(stackFromEnv({ PING_MUC_STACK: 'PingMucB' })).toBe('PingMucB');
  });

  it('the stack is "local" without PING_MUC_STACK', () => {
    expect(stackFromEnv({})).toBe('local');
    expect(stackFromEnv({ PING_MUC_STACK: '' })).toBe('local');
  });
});

describe('the metric table of docs/operations.md', () => {
  const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  /** `Name[Dim,…]=value,…:Unit` for every metric the code can publish at `level`. */
  function published(level: MetricsLevel): Set<string> {
    const out = new Set<string>();
    const sink = (line: string) => {
      const doc = JSON.parse(line) as Record<string, unknown> & {
        _aws: { CloudWatchMetrics: Array<{ Dimensions: string[][]; Metrics: Array<{ Name: string; Unit: string }> }> };
      };
      const {
        Dimensions,
        Metrics: [spec],
      } = doc._aws.CloudWatchMetrics[0]!;
      for (const set of Dimensions) {
        const own = set.filter((d) => d !== 'Stack');
        const values = own.filter((d) => d !== 'Host').map((d) => String(doc[d]));
        out.add(`${spec!.Name}[${own.join(',')}]=${values.join(',')}:${spec!.Unit}`);
      }
    };
    // Every value of every count, and every measure, in a round's metrics (a host) and outside one.
    for (const m of [new Metrics('PingMuc', sink, 'S', level), new Metrics('PingMuc', sink, 'S', level).forHost('h')]) {
      for (const [name, { dimension, values }] of Object.entries(COUNTS))
        for (const v of values) m.count(name as 'Events', dimension as 'EventType', v as 'join');
      for (const [name, { unit }] of Object.entries(MEASURES)) m.measure(name as 'SilentHosts', 1, unit as 'Count');
      m.flush();
    }
    return out;
  }

  /** The same keys from the table's rows (by default / with detailed columns). */
  function documented(): Record<MetricsLevel, Set<string>> {
    const text = readFileSync(path.join(ROOT, 'docs/operations.md'), 'utf8');
    const section = text.slice(text.indexOf('## Metrics'), text.indexOf('\n## ', text.indexOf('## Metrics') + 1));
    const rows = section.split('\n').filter((l) => l.startsWith('| `'));
    const out = { default: new Set<string>(), detailed: new Set<string>() };
    const names = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    for (const row of rows) {
      const [metric, dims, byDefault, detailed, unit] = row
        .split('|')
        .slice(1)
        .map((c) => c.trim());
      const own = names(dims!).filter((d) => d !== 'Stack');
      for (const [level, cell] of [
        ['default', byDefault],
        ['detailed', detailed],
      ] as const) {
        if (cell === '—') continue;
        const values = cell === '✓' ? [''] : names(cell!);
        for (const v of values) out[level].add(`${names(metric!)[0]}[${own.join(',')}]=${v}:${unit}`);
      }
    }
    return out;
  }

  it.each(['default', 'detailed'] as const)('lists exactly what the code can publish at the %s level', (level) => {
    const docs = documented();
    const code = published(level);
    expect(
      [...code].filter((k) => !docs[level].has(k)),
      `${level}: published, not in the table`,
    ).toEqual([]);
    expect(
      [...docs[level]].filter((k) => !code.has(k)),
      `${level}: in the table, never published`,
    ).toEqual([]);
  });

  it('the default set is at most 8 metrics', () => {
    expect(published('default').size).toBeLessThanOrEqual(8);
  });

  it('the default set has no metric per host (each one is billed per stack)', () => {
    const byDefault = published('default');
    expect([...byDefault].filter((k) => /[[,]Host[,\]]/.test(k))).toEqual([]);
  });

  it("the README's metric list names exactly the metrics the code can publish", () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const paragraph = readme.slice(readme.indexOf('metrics are CloudWatch EMF'), readme.indexOf('## Layout'));
    // Backticked capitalized words, but the namespace and the Stack dimension.
    const listed = new Set(
      [...paragraph.matchAll(/`([A-Z][A-Za-z]+)`/g)].map((m) => m[1]!).filter((w) => w !== 'PingMuc' && w !== 'Stack'),
    );
    const code = new Set([...published('detailed')].map((k) => k.slice(0, k.indexOf('['))));
    expect([...listed].sort()).toEqual([...code].sort());
  });
});
