// The metrics the alarms and the dashboard are built on: ping-muc's own EMF metrics (namespace
// PingMuc, every one with the dimension Stack = the stack name, see lib/support/observability.ts)
// and the AWS metrics of the stack's resources.
import { Aws, Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { INDEXES } from '../lib/adapters/dynamodb/table';
import { COUNTS, MEASURES, type CountName, type CountValue, type MeasureName } from '../lib/support/observability';

export const NAMESPACE = 'PingMuc';

/**
 * The metric contract is lib's (every metric lib can emit, and which are published by default):
 * the alarms and the dashboard read only these.
 */
export { COUNTS, MEASURES } from '../lib/support/observability';
export type { CountName, CountValue, MeasureName } from '../lib/support/observability';

export const FIVE_MINUTES = Duration.minutes(5);

/** A count of one dimension value, e.g. count('Events', 'refused'): a Sum. */
export function count<N extends CountName>(
  name: N,
  value: CountValue<N>,
  options: cloudwatch.MetricOptions = {},
): cloudwatch.Metric {
  const { dimension } = COUNTS[name];
  return new cloudwatch.Metric({
    namespace: NAMESPACE,
    metricName: name,
    dimensionsMap: { Stack: Aws.STACK_NAME, [dimension]: value },
    statistic: 'Sum',
    period: FIVE_MINUTES,
    ...options,
  });
}

/** A count's total over all its values, published per Stack (only counts with `total`). */
export function total(name: CountName, options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
  if (!COUNTS[name].total) throw new Error(`${name} has no total in the metric contract`);
  return new cloudwatch.Metric({
    namespace: NAMESPACE,
    metricName: name,
    dimensionsMap: { Stack: Aws.STACK_NAME },
    statistic: 'Sum',
    period: FIVE_MINUTES,
    ...options,
  });
}

/** A measure, e.g. measure('RoundDurationMs', 'p90') or measure('SilentHosts', 'Maximum'). */
export function measure(
  name: MeasureName,
  statistic: string,
  options: cloudwatch.MetricOptions = {},
): cloudwatch.Metric {
  const unit = MEASURES[name].unit === 'Count' ? cloudwatch.Unit.COUNT : cloudwatch.Unit.MILLISECONDS;
  return new cloudwatch.Metric({
    namespace: NAMESPACE,
    metricName: name,
    dimensionsMap: { Stack: Aws.STACK_NAME },
    statistic,
    period: FIVE_MINUTES,
    unit,
    ...options,
  });
}

/** A Lambda metric of one function (Sum over 5 minutes). */
export function lambdaMetric(fn: lambda.IFunction, metricName: string, label?: string): cloudwatch.Metric {
  return fn.metric(metricName, { period: FIVE_MINUTES, statistic: 'Sum', ...(label ? { label } : {}) });
}

/** Read and write throttle events of the table and of each index, summed (throttled requests are retried by the SDK). */
export function tableThrottles(table: dynamodb.ITable): cloudwatch.MathExpression {
  const usingMetrics: Record<string, cloudwatch.IMetric> = {};
  for (const [key, kind] of [
    ['r', 'ReadThrottleEvents'],
    ['w', 'WriteThrottleEvents'],
  ] as const) {
    const base = { namespace: 'AWS/DynamoDB', metricName: kind, statistic: 'Sum', period: FIVE_MINUTES };
    usingMetrics[`${key}table`] = new cloudwatch.Metric({ ...base, dimensionsMap: { TableName: table.tableName } });
    INDEXES.forEach((index, i) => {
      usingMetrics[`${key}gsi${i}`] = new cloudwatch.Metric({
        ...base,
        dimensionsMap: { TableName: table.tableName, GlobalSecondaryIndexName: index.name },
      });
    });
  }
  return new cloudwatch.MathExpression({
    expression: `SUM([${Object.keys(usingMetrics).join(',')}])`,
    usingMetrics,
    period: FIVE_MINUTES,
    label: 'DynamoDB throttle events (table and indexes)',
  });
}
