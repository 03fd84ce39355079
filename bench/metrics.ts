// The metrics a benchmark run emitted, read back from the EMF documents that Metrics.flush
// writes (the same lines CloudWatch gets), so the benchmarks need no extra API on Metrics.
import { Metrics } from '../lib/support/observability';

export interface CapturedMetrics {
  metrics: Metrics;
  /** Flushes, then the counts so far as `<metric>.<dimension value>`, e.g. `Pings.joined`. */
  snapshot(): Record<string, number>;
}

export function captureMetrics(namespace = 'PingMucBench'): CapturedMetrics {
  const counts: Record<string, number> = {};
  const sink = (line: string) => {
    const doc = JSON.parse(line) as {
      _aws: { CloudWatchMetrics: Array<{ Dimensions: string[][]; Metrics: Array<{ Name: string }> }> };
    } & Record<string, unknown>;
    const spec = doc._aws.CloudWatchMetrics[0];
    const metric = spec?.Metrics[0]?.Name;
    // The metric's own dimension comes after `Stack` ([["Stack", <dimension>]]).
    const dimension = spec?.Dimensions[0]?.at(-1);
    // Totals ([["Stack"]]) repeat the per-value counts.
    if (metric === undefined || dimension === undefined || dimension === 'Stack') return;
    const key = `${metric}.${String(doc[dimension])}`;
    counts[key] = (counts[key] ?? 0) + Number(doc[metric]);
  };
  const metrics = new Metrics(namespace, sink, 'local', 'detailed');
  return {
    metrics,
    snapshot() {
      metrics.flush();
      return { ...counts };
    },
  };
}
