// The metrics the alarms and the dashboard are built on: ping-muc's own EMF metrics (namespace
// PingMuc, every one with the dimension Stack = the stack name, see lib/support/observability.ts)
// and the AWS metrics of the stack's resources.
import { Aws, Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { INDEXES } from '../lib/adapters/dynamodb/table';

export const NAMESPACE = 'PingMuc';

/** The metric contract: each count's dimension and its values; measures have only Stack. */
export const COUNTS = {
  Events: {
    dimension: 'EventType',
    values: ['join', 'leave', 'session-end', 'host-start', 's2s-close', 'heartbeat', 'refused'],
  },
  Pings: { dimension: 'Outcome', values: ['joined', 'nick-changed', 'not-joined', 'indeterminate', 'gone', 'failed'] },
  Notifications: { dimension: 'Result', values: ['sent', 'no-session'] },
  RoundFailures: { dimension: 'Kind', values: ['start', 'continue', 'reconcile'] },
  Rounds: { dimension: 'State', values: ['started', 'done'] },
  /** Overdue work the reconciler re-armed (lib/app/reconcile.ts). */
  Reconciled: { dimension: 'Kind', values: ['window', 'round'] },
} as const;
export const MEASURES = ['RoundDurationMs', 'CloseToStartMs'] as const;

export type CountName = keyof typeof COUNTS;
export type MeasureName = (typeof MEASURES)[number];

export const FIVE_MINUTES = Duration.minutes(5);

/** A count of one dimension value, e.g. count('Events', 'heartbeat'): a Sum. */
export function count(name: CountName, value: string, options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
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

/** A count summed over all its dimension values (a metric math SUM; missing values count as none). */
export function countTotal(name: CountName, options: cloudwatch.MetricOptions = {}): cloudwatch.MathExpression {
  const usingMetrics = Object.fromEntries(
    COUNTS[name].values.map((v, i) => [`${name.toLowerCase()}${i}`, count(name, v, options)]),
  );
  return new cloudwatch.MathExpression({
    expression: `SUM([${Object.keys(usingMetrics).join(',')}])`,
    usingMetrics,
    period: options.period ?? FIVE_MINUTES,
    label: `${name} (all)`,
  });
}

/** A measure (Milliseconds), e.g. measure('RoundDurationMs', 'p90'). */
export function measure(name: MeasureName, statistic: string): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: NAMESPACE,
    metricName: name,
    dimensionsMap: { Stack: Aws.STACK_NAME },
    statistic,
    period: FIVE_MINUTES,
    label: `${name} ${statistic}`,
    unit: cloudwatch.Unit.MILLISECONDS,
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
