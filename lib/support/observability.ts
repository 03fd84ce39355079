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

/** EMF accepts at most 100 values per metric in one document. */
const MAX_VALUES = 100;

/**
 * Counters per name and dimension, and measured values per name, flushed as EMF documents.
 * Metric contract (alarms and dashboards are built on it): every document carries the
 * dimension `Stack`; a count has the dimension set [["Stack", <its dimension>]], a measure
 * [["Stack"]].
 */
export class Metrics {
  private counts = new Map<string, Map<string, number>>();
  private values = new Map<string, { unit: Unit; values: number[] }>();

  constructor(
    private readonly namespace = 'PingMuc',
    private readonly sink: Sink = stdout,
    private readonly stack = stackFromEnv(),
    private readonly host?: string,
  ) {}

  /**
   * Fresh metrics recorded per XMPP host as well: each document gains the dimension set
   * ["Stack", "Host", …] beside ["Stack", …], so the alarms keep their sets and an operator can
   * split pings and notifications by VirtualHost. Flush them yourself.
   */
  forHost(host: string): Metrics {
    return new Metrics(this.namespace, this.sink, this.stack, host);
  }

  /** e.g. count('Events', 'EventType', 'join') or count('Pings', 'Outcome', 'joined'). */
  count(metric: string, dimension: string, value: string, n = 1): void {
    const key = `${metric}\u0000${dimension}`;
    const byValue = this.counts.get(key) ?? new Map<string, number>();
    byValue.set(value, (byValue.get(value) ?? 0) + n);
    this.counts.set(key, byValue);
  }

  /** e.g. measure('RoundDurationMs', 1234, 'Milliseconds'); dimension set [["Stack"]]. */
  measure(metric: string, value: number, unit: Unit): void {
    if (!Number.isFinite(value)) return;
    const entry = this.values.get(metric) ?? { unit, values: [] };
    entry.values.push(value);
    this.values.set(metric, entry);
  }

  flush(): void {
    const timestamp = Date.now();
    for (const [key, byValue] of this.counts) {
      const [metric, dimension] = key.split('\u0000') as [string, string];
      for (const [value, n] of byValue) {
        this.emit(timestamp, [dimension], { Name: metric, Unit: 'Count' }, { [dimension]: value, [metric]: n });
      }
    }
    for (const [metric, { unit, values }] of this.values) {
      for (let i = 0; i < values.length; i += MAX_VALUES) {
        const chunk = values.slice(i, i + MAX_VALUES);
        this.emit(timestamp, [], { Name: metric, Unit: unit }, { [metric]: chunk.length === 1 ? chunk[0] : chunk });
      }
    }
    this.counts.clear();
    this.values.clear();
  }

  private emit(timestamp: number, dimensions: string[], spec: { Name: string; Unit: Unit }, fields: object): void {
    this.sink(
      JSON.stringify({
        _aws: {
          Timestamp: timestamp,
          CloudWatchMetrics: [
            {
              Namespace: this.namespace,
              Dimensions: this.host
                ? [
                    ['Stack', ...dimensions],
                    ['Stack', 'Host', ...dimensions],
                  ]
                : [['Stack', ...dimensions]],
              Metrics: [spec],
            },
          ],
        },
        Stack: this.stack,
        ...(this.host ? { Host: this.host } : {}),
        ...fields,
      }),
    );
  }
}
