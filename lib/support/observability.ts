// Structured JSON logs and CloudWatch EMF metrics, in one place, without a dependency.
//
// Both are written with process.stdout.write, one JSON object per line. With Lambda's JSON log
// format the runtime rewrites console.* calls into its own object and nests our line, as a
// string, in its `message` (EMF metrics would then be lost); lines written to stdout are passed
// through as they are, so each line carries its own `requestId` (see Logger.child).
export type Level = 'debug' | 'info' | 'warn' | 'error';
const LEVELS: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(message: string, data?: object): void;
  info(message: string, data?: object): void;
  warn(message: string, data?: object): void;
  error(message: string, data?: object): void;
  /** A logger that adds `fields` (e.g. requestId, host, remote, gen) to every line. */
  child(fields: object): Logger;
}

export type Sink = (line: string) => void;

const stdout: Sink = (l) => process.stdout.write(`${l}\n`);

/** Lines: `{"level","timestamp","service",…bound fields,"message",…data}`. */
export function createLogger(service: string, level: Level = 'info', sink: Sink = stdout, fields: object = {}): Logger {
  const min = LEVELS[level] ?? LEVELS.info;
  const emit = (lvl: Level) => (message: string, data?: object) => {
    if (LEVELS[lvl] < min) return;
    sink(JSON.stringify({ level: lvl, timestamp: new Date().toISOString(), service, ...fields, message, ...data }));
  };
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (more) => createLogger(service, level, sink, { ...fields, ...more }),
  };
}

export function levelFromEnv(env: Record<string, string | undefined> = process.env): Level {
  const raw = (env.LOG_LEVEL ?? 'info').toLowerCase();
  return raw in LEVELS ? (raw as Level) : 'info';
}

/** The stack every metric is recorded for: PING_MUC_STACK (set by the CDK stack), else 'local'. */
export function stackFromEnv(env: Record<string, string | undefined> = process.env): string {
  return env.PING_MUC_STACK || 'local';
}

export type Unit = 'Milliseconds' | 'Seconds' | 'Count';

/**
 * The metric contract (docs/operations.md, "Metrics"; the alarms and the dashboard are built on
 * it). Each count has one dimension and its values. By default a count is published only as
 * `total` ([Stack]: the sum over its values) and for its `kept` values ([Stack, <dimension>]),
 * because CloudWatch bills each published dimension combination as one metric.
 * `PING_MUC_METRICS=detailed` adds every value, and per Host for the `perHost` metrics of a round.
 * Measures have [Stack] only (and [Stack, Host] when detailed and `perHost`).
 */
export const COUNTS = {
  Events: {
    dimension: 'EventType',
    values: ['join', 'leave', 'session-end', 'host-start', 's2s-close', 's2s-up', 'heartbeat', 'refused'],
    total: true,
    kept: ['refused'],
    perHost: false,
  },
  Pings: {
    dimension: 'Outcome',
    values: ['joined', 'nick-changed', 'not-joined', 'unconfirmed', 'indeterminate', 'gone', 'failed'],
    total: false,
    kept: ['failed'],
    perHost: true,
  },
  Notifications: { dimension: 'Result', values: ['sent', 'no-session'], total: false, kept: ['sent'], perHost: true },
  RoundFailures: {
    dimension: 'Kind',
    values: ['start', 'continue', 'reconcile'],
    total: true,
    kept: [],
    perHost: true,
  },
  Rounds: { dimension: 'State', values: ['started', 'done'], total: false, kept: ['started'], perHost: true },
  /** Overdue work the reconciler re-armed (lib/app/reconcile.ts). */
  Reconciled: { dimension: 'Kind', values: ['window', 'round'], total: true, kept: [], perHost: false },
  /** A waiting round's probe of its remote (lib/app/probe.ts). */
  Probes: { dimension: 'Result', values: ['back', 'down'], total: false, kept: [], perHost: true },
} as const;

/** Measured values, [Stack] only; `detailed`: published only with PING_MUC_METRICS=detailed. */
export const MEASURES = {
  RoundDurationMs: { unit: 'Milliseconds', detailed: true, perHost: true },
  CloseToStartMs: { unit: 'Milliseconds', detailed: true, perHost: true },
  /** Known hosts without a heartbeat for PING_MUC_SILENT_SECONDS, published by the reconciler. */
  SilentHosts: { unit: 'Count', detailed: false, perHost: false },
} as const;

export type CountName = keyof typeof COUNTS;
export type CountValue<N extends CountName> = (typeof COUNTS)[N]['values'][number];
export type MeasureName = keyof typeof MEASURES;

/** `default`: the small set the alarms need; `detailed`: every value, per Host too. */
export type MetricsLevel = 'default' | 'detailed';

/** EMF accepts at most 100 values per metric in one document. */
const MAX_VALUES = 100;

/**
 * Counters per name and dimension value, and measured values per name, flushed as EMF documents
 * as the contract above says. Every document carries the dimension `Stack`.
 */
export class Metrics {
  private counts = new Map<CountName, Map<string, number>>();
  private values = new Map<MeasureName, number[]>();

  constructor(
    private readonly namespace = 'PingMuc',
    private readonly sink: Sink = stdout,
    private readonly stack = stackFromEnv(),
    private readonly level: MetricsLevel = 'default',
    private readonly host?: string,
  ) {}

  /**
   * Fresh metrics for one XMPP host: with `detailed`, each per-value document also carries the
   * set ["Stack", "Host", …], so an operator can split pings and notifications by VirtualHost.
   * By default the host is not a dimension (one metric per host would be billed). Flush them yourself.
   */
  forHost(host: string): Metrics {
    return new Metrics(this.namespace, this.sink, this.stack, this.level, host);
  }

  /** e.g. count('Events', 'EventType', 'join') or count('Pings', 'Outcome', 'joined'). */
  count<N extends CountName>(
    metric: N,
    _dimension: (typeof COUNTS)[N]['dimension'],
    value: CountValue<N>,
    n = 1,
  ): void {
    const byValue = this.counts.get(metric) ?? new Map<string, number>();
    byValue.set(value, (byValue.get(value) ?? 0) + n);
    this.counts.set(metric, byValue);
  }

  /** e.g. measure('RoundDurationMs', 1234, 'Milliseconds'); dimension set [["Stack"]]. */
  measure<N extends MeasureName>(metric: N, value: number, _unit: (typeof MEASURES)[N]['unit']): void {
    if (!Number.isFinite(value)) return;
    if (MEASURES[metric].detailed && this.level !== 'detailed') return;
    const values = this.values.get(metric) ?? [];
    values.push(value);
    this.values.set(metric, values);
  }

  flush(): void {
    const timestamp = Date.now();
    const detailed = this.level === 'detailed';
    for (const [metric, byValue] of this.counts) {
      const { dimension, total, kept, perHost } = COUNTS[metric];
      const spec = { Name: metric, Unit: 'Count' as const };
      if (total) {
        const sum = [...byValue.values()].reduce((a, b) => a + b, 0);
        this.emit(timestamp, [['Stack']], spec, { [metric]: sum });
      }
      for (const [value, n] of byValue) {
        const sets: string[][] = [];
        if (detailed || (kept as readonly string[]).includes(value)) sets.push(['Stack', dimension]);
        if (detailed && perHost && this.host) sets.push(['Stack', 'Host', dimension]);
        if (sets.length > 0) this.emit(timestamp, sets, spec, { [dimension]: value, [metric]: n });
      }
    }
    for (const [metric, values] of this.values) {
      const sets = detailed && MEASURES[metric].perHost && this.host ? [['Stack'], ['Stack', 'Host']] : [['Stack']];
      const spec = { Name: metric, Unit: MEASURES[metric].unit };
      for (let i = 0; i < values.length; i += MAX_VALUES) {
        const chunk = values.slice(i, i + MAX_VALUES);
        this.emit(timestamp, sets, spec, { [metric]: chunk.length === 1 ? chunk[0] : chunk });
      }
    }
    this.counts.clear();
    this.values.clear();
  }

  private emit(timestamp: number, sets: string[][], spec: { Name: string; Unit: Unit }, fields: object): void {
    const withHost = sets.some((set) => set.includes('Host'));
    this.sink(
      JSON.stringify({
        _aws: {
          Timestamp: timestamp,
          CloudWatchMetrics: [{ Namespace: this.namespace, Dimensions: sets, Metrics: [spec] }],
        },
        Stack: this.stack,
        ...(withHost ? { Host: this.host } : {}),
        ...fields,
      }),
    );
  }
}
