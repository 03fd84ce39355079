// Log lines and EMF documents as CloudWatch reads them (the metric contract of docs/deploy.md).
import { describe, expect, it } from 'vitest';
import { createLogger, Metrics, stackFromEnv } from '../../lib/support/observability';

const collect = () => {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, sink: (l: string) => void lines.push(JSON.parse(l)) };
};

describe('logger', () => {
  it('writes one JSON object per line with level, timestamp, service and message', () => {
    const { lines, sink } = collect();
    const log = createLogger('ping-muc', 'info', sink);
    log.debug('hidden');
    log.info('shown', { n: 1 });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'info', service: 'ping-muc', message: 'shown', n: 1 });
    expect(new Date(String(lines[0]!.timestamp)).toISOString()).toBe(lines[0]!.timestamp);
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
  it('counts carry the dimension set [["Stack", <dimension>]]', () => {
    const { lines, sink } = collect();
    const m = new Metrics('PingMuc', sink, 'Prod');
    m.count('Pings', 'Outcome', 'joined');
    m.count('Pings', 'Outcome', 'joined', 2);
    m.count('Pings', 'Outcome', 'gone');
    m.flush();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toEqual({
      _aws: {
        Timestamp: expect.any(Number),
        CloudWatchMetrics: [
          { Namespace: 'PingMuc', Dimensions: [['Stack', 'Outcome']], Metrics: [{ Name: 'Pings', Unit: 'Count' }] },
        ],
      },
      Stack: 'Prod',
      Outcome: 'joined',
      Pings: 3,
    });
    m.flush();
    expect(lines).toHaveLength(2);
  });

  it('per host: the same documents also carry ["Stack", "Host", …] and the host', () => {
    const { lines, sink } = collect();
    const m = new Metrics('PingMuc', sink, 'Prod').forHost('a.example');
    m.count('Notifications', 'Result', 'sent');
    m.measure('RoundDurationMs', 12, 'Milliseconds');
    m.flush();
    expect(
      lines.map(
        (l) => (l._aws as { CloudWatchMetrics: Array<{ Dimensions: unknown }> }).CloudWatchMetrics[0]!.Dimensions,
      ),
    ).toEqual([
      [
        ['Stack', 'Result'],
        ['Stack', 'Host', 'Result'],
      ],
      [['Stack'], ['Stack', 'Host']],
    ]);
    expect(lines.every((l) => l.Host === 'a.example' && l.Stack === 'Prod')).toBe(true);
  });

  it('measures carry [["Stack"]], their unit, and at most 100 values per document', () => {
    const { lines, sink } = collect();
    const m = new Metrics('PingMuc', sink, 'Prod');
    m.measure('RoundDurationMs', 1500, 'Milliseconds');
    for (let i = 0; i < 150; i++) m.measure('CloseToStartMs', i, 'Milliseconds');
    m.measure('CloseToStartMs', Number.NaN, 'Milliseconds');
    m.flush();
    expect(lines).toHaveLength(3);
    expect(lines[0]).toEqual({
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
    expect(lines[1]!.CloseToStartMs).toHaveLength(100);
    expect(lines[2]!.CloseToStartMs).toHaveLength(50);
  });

  it('the stack comes from PING_MUC_STACK, else "local"', () => {
    expect(stackFromEnv({ PING_MUC_STACK: 'PingMucB' })).toBe('PingMucB');
    expect(stackFromEnv({})).toBe('local');
    expect(stackFromEnv({ PING_MUC_STACK: '' })).toBe('local');
  });
});
