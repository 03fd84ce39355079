// Structured JSON logs and CloudWatch EMF metrics, in one place, without a dependency.
export type Level = 'debug' | 'info' | 'warn' | 'error';
const LEVELS: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(message: string, data?: object): void;
  info(message: string, data?: object): void;
  warn(message: string, data?: object): void;
  error(message: string, data?: object): void;
}

export type Sink = (line: string) => void;

export function createLogger(
  service: string,
  level: Level = 'info',
  sink: Sink = (l) => process.stdout.write(`${l}\n`),
): Logger {
  const min = LEVELS[level] ?? LEVELS.info;
  const emit = (lvl: Level) => (message: string, data?: object) => {
    if (LEVELS[lvl] < min) return;
    sink(JSON.stringify({ level: lvl, time: new Date().toISOString(), service, message, ...data }));
  };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

export function levelFromEnv(env: Record<string, string | undefined> = process.env): Level {
  const raw = (env.LOG_LEVEL ?? 'info').toLowerCase();
  return raw in LEVELS ? (raw as Level) : 'info';
}

/** Counters per name and dimension, flushed as one EMF document per (dimension name, value). */
export class Metrics {
  private counts = new Map<string, Map<string, number>>();

  constructor(
    private readonly namespace = 'PingMuc',
    private readonly sink: Sink = (l) => process.stdout.write(`${l}\n`),
  ) {}

  /** e.g. count('Events', 'EventType', 'join') or count('Pings', 'Outcome', 'joined'). */
  count(metric: string, dimension: string, value: string, n = 1): void {
    const key = `${metric}\u0000${dimension}`;
    const byValue = this.counts.get(key) ?? new Map<string, number>();
    byValue.set(value, (byValue.get(value) ?? 0) + n);
    this.counts.set(key, byValue);
  }

  flush(): void {
    const timestamp = Date.now();
    for (const [key, byValue] of this.counts) {
      const [metric, dimension] = key.split('\u0000') as [string, string];
      for (const [value, n] of byValue) {
        this.sink(
          JSON.stringify({
            _aws: {
              Timestamp: timestamp,
              CloudWatchMetrics: [
                { Namespace: this.namespace, Dimensions: [[dimension]], Metrics: [{ Name: metric, Unit: 'Count' }] },
              ],
            },
            [dimension]: value,
            [metric]: n,
          }),
        );
      }
    }
    this.counts.clear();
  }
}
