// The cost benchmark's arithmetic, pure: the module's batching, scaling a sample to a month,
// metric-hours, provisioned capacity, and pricing (bench/cost/prices.ts). Tested by
// test/bench/cost.test.ts.
import { DAYS_PER_MONTH, FREE_TIER, HOURS_PER_MONTH, PRICES } from './prices';

/**
 * Events per request of the module's batching: events arrive at `ratePerSecond` (Poisson); the
 * first one opens a batch, which is posted `lingerSeconds` later with everything that arrived
 * meanwhile, or at once when full: n = min(maxItems, 1 + λ·L). With no linger, one event per
 * request (the module posts as soon as it has one).
 */
export function eventsPerRequest(ratePerSecond: number, lingerSeconds: number, maxItems = 500): number {
  return Math.min(maxItems, 1 + Math.max(0, ratePerSecond) * Math.max(0, lingerSeconds));
}

/** `count` observed in `windowHours` of simulated time, per month. */
export function perMonthFromWindow(count: number, windowHours: number): number {
  if (windowHours <= 0) throw new RangeError('window must be positive');
  return (count * HOURS_PER_MONTH) / windowHours;
}

/** `perUnit` (e.g. per lost link) × units a day, per month. */
export function perMonthFromDaily(perUnit: number, unitsPerDay: number): number {
  return perUnit * unitsPerDay * DAYS_PER_MONTH;
}

/**
 * A metric (name + dimension set + dimension values) published at `ratePerHour` documents
 * (Poisson) is billed for the fraction 1 − e^(−rate) of the hours; `copies` such metrics (one
 * per host when a dimension value is the host). Returns metric-months.
 */
export function metricMonths(metrics: Array<{ ratePerHour: number; copies: number }>): number {
  return metrics.reduce((n, m) => n + m.copies * (1 - Math.exp(-Math.max(0, m.ratePerHour))), 0);
}

/**
 * Provisioned capacity with auto-scaling at `utilization` (target tracking): it follows the
 * average consumption, so capacity = max(min, average per second ÷ utilization). Bursts above it
 * draw on burst capacity (300 s of unused capacity) or are throttled until it scales up.
 */
export function provisionedUnits(averagePerSecond: number, utilization: number, min = 1): number {
  if (utilization <= 0 || utilization > 1) throw new RangeError('utilization must be in (0, 1]');
  return Math.max(min, averagePerSecond / utilization);
}

export type Billing = 'on-demand' | 'provisioned';

/** What a scenario uses in a month: every quantity the price table has a price for. */
export interface Usage {
  lambda: Array<{ fn: string; requests: number; gbSeconds: number }>;
  dynamodb: {
    rru: number;
    /** Base table writes. */
    wru: number;
    /** GSI writes. */
    gsiWru: number;
    storageGb: number;
    pitr: boolean;
    /** Provisioned capacity units of the table and its indexes, under the stated model. */
    provisioned: { wcu: number; rcu: number };
  };
  sqsRequests: number;
  schedulerInvocations: number;
  logsGb: number;
  /** Log retention in days: the log groups hold that many days of logs. */
  logRetentionDays: number;
  metricMonths: number;
  alarmMetrics: number;
  dashboards: number;
  secrets: number;
  secretCalls: number;
  ssmAdvancedParameters: number;
  ssmAdvancedCalls: number;
}

export interface Line {
  item: string;
  quantity: string;
  usd: number;
  /** The same with the always-free tiers taken off. */
  usdFree: number;
}

const fmt = (n: number) =>
  n >= 100 ? Math.round(n).toLocaleString('en') : n >= 1 ? n.toFixed(1) : n === 0 ? '0' : n.toPrecision(2);
const less = (n: number, free: number) => Math.max(0, n - free);

/** The monthly bill, line by line, at list prices and with the always-free tiers. */
export function price(u: Usage, billing: Billing): Line[] {
  const P = PRICES;
  const lines: Line[] = [];
  const add = (item: string, quantity: string, usd: number, usdFree = usd) =>
    lines.push({ item, quantity, usd, usdFree });
  // Lambda's free tier is per account: shared by the functions in proportion to their use.
  const requests = u.lambda.reduce((n, f) => n + f.requests, 0);
  const gbs = u.lambda.reduce((n, f) => n + f.gbSeconds, 0);
  for (const f of u.lambda) {
    const rShare = requests > 0 ? f.requests / requests : 0;
    const gShare = gbs > 0 ? f.gbSeconds / gbs : 0;
    add(
      `Lambda ${f.fn}: requests`,
      fmt(f.requests),
      f.requests * P.lambda.request,
      less(requests, FREE_TIER.lambdaRequests) * rShare * P.lambda.request,
    );
    add(
      `Lambda ${f.fn}: GB-s`,
      fmt(f.gbSeconds),
      f.gbSeconds * P.lambda.gbSecondArm,
      less(gbs, FREE_TIER.lambdaGbSeconds) * gShare * P.lambda.gbSecondArm,
    );
  }
  const d = u.dynamodb;
  if (billing === 'on-demand') {
    add('DynamoDB reads (on demand)', `${fmt(d.rru)} RRU`, d.rru * P.dynamodb.rru);
    add('DynamoDB writes, table (on demand)', `${fmt(d.wru)} WRU`, d.wru * P.dynamodb.wru);
    add('DynamoDB writes, GSIs (on demand)', `${fmt(d.gsiWru)} WRU`, d.gsiWru * P.dynamodb.wru);
  } else {
    const { wcu, rcu } = d.provisioned;
    add(
      'DynamoDB provisioned WCU (table + GSIs)',
      `${fmt(wcu)} WCU`,
      wcu * HOURS_PER_MONTH * P.dynamodb.wcuHour,
      less(wcu, FREE_TIER.dynamodbWcu) * HOURS_PER_MONTH * P.dynamodb.wcuHour,
    );
    add(
      'DynamoDB provisioned RCU (table + GSIs)',
      `${fmt(rcu)} RCU`,
      rcu * HOURS_PER_MONTH * P.dynamodb.rcuHour,
      less(rcu, FREE_TIER.dynamodbRcu) * HOURS_PER_MONTH * P.dynamodb.rcuHour,
    );
  }
  add(
    'DynamoDB storage',
    `${d.storageGb.toFixed(3)} GB`,
    d.storageGb * P.dynamodb.storageGbMonth,
    less(d.storageGb, FREE_TIER.dynamodbStorageGb) * P.dynamodb.storageGbMonth,
  );
  if (d.pitr)
    add('DynamoDB point-in-time recovery', `${d.storageGb.toFixed(3)} GB`, d.storageGb * P.dynamodb.pitrGbMonth);
  add(
    'SQS requests',
    fmt(u.sqsRequests),
    u.sqsRequests * P.sqs.request,
    less(u.sqsRequests, FREE_TIER.sqsRequests) * P.sqs.request,
  );
  add(
    'EventBridge Scheduler invocations',
    fmt(u.schedulerInvocations),
    u.schedulerInvocations * P.scheduler.invocation,
    less(u.schedulerInvocations, FREE_TIER.schedulerInvocations) * P.scheduler.invocation,
  );
  // Stored: the retention's worth of ingestion once the log groups have filled (steady state),
  // at the ingested size (stored logs are compressed: an upper bound).
  const storedGb = (u.logsGb * u.logRetentionDays) / DAYS_PER_MONTH;
  add(
    'CloudWatch Logs ingestion',
    `${u.logsGb.toFixed(3)} GB`,
    u.logsGb * P.logs.ingestGb,
    less(u.logsGb, FREE_TIER.logsGb) * P.logs.ingestGb,
  );
  add('CloudWatch Logs storage', `${storedGb.toFixed(3)} GB`, storedGb * P.logs.storageGbMonth);
  add(
    'CloudWatch custom metrics',
    `${u.metricMonths.toFixed(1)} metric-months`,
    u.metricMonths * P.cloudwatch.metricMonth,
    less(u.metricMonths, FREE_TIER.metrics) * P.cloudwatch.metricMonth,
  );
  add(
    'CloudWatch alarms',
    `${u.alarmMetrics} alarm metrics`,
    u.alarmMetrics * P.cloudwatch.alarmMetricMonth,
    less(u.alarmMetrics, FREE_TIER.alarmMetrics) * P.cloudwatch.alarmMetricMonth,
  );
  add(
    'CloudWatch dashboards',
    String(u.dashboards),
    u.dashboards * P.cloudwatch.dashboardMonth,
    less(u.dashboards, FREE_TIER.dashboards) * P.cloudwatch.dashboardMonth,
  );
  add('Secrets Manager secrets', String(u.secrets), u.secrets * P.secretsManager.secretMonth);
  add('Secrets Manager API calls', fmt(u.secretCalls), u.secretCalls * P.secretsManager.call);
  if (u.ssmAdvancedParameters > 0 || u.ssmAdvancedCalls > 0)
    add(
      'SSM advanced parameter + calls',
      `${u.ssmAdvancedParameters} + ${fmt(u.ssmAdvancedCalls)} calls`,
      u.ssmAdvancedParameters * P.ssm.advancedParameterMonth + u.ssmAdvancedCalls * P.ssm.advancedCall,
    );
  return lines;
}

export function total(lines: Line[]): { usd: number; usdFree: number } {
  return {
    usd: lines.reduce((n, l) => n + l.usd, 0),
    usdFree: lines.reduce((n, l) => n + l.usdFree, 0),
  };
}

/**
 * Counts at `n` active hosts from counts measured at `s1` and `s2` hosts (same window): each
 * number is a + b·hosts (a: what the stack does whatever its hosts, such as the reconciler or a
 * registry refresh; b: per host), fitted through the two points and never below 0. Objects are
 * taken key by key (a key missing on one side is 0); strings and arrays come from the larger run.
 */
export function extrapolate<T>(c1: T, c2: T, s1: number, s2: number, n: number): T {
  if (s1 === s2) return c2;
  const f = (n - s1) / (s2 - s1);
  const go = (a: unknown, b: unknown): unknown => {
    if (typeof a === 'number' || typeof b === 'number') {
      const x = typeof a === 'number' ? a : 0;
      const y = typeof b === 'number' ? b : 0;
      return Math.max(0, x + (y - x) * f);
    }
    if (Array.isArray(b) || typeof b !== 'object' || b === null) return b ?? a;
    if (typeof a !== 'object' || a === null || Array.isArray(a)) return b;
    const out: Record<string, unknown> = {};
    const ra = a as Record<string, unknown>;
    const rb = b as Record<string, unknown>;
    for (const k of new Set([...Object.keys(ra), ...Object.keys(rb)])) out[k] = go(ra[k], rb[k]);
    return out;
  };
  return go(c1, c2) as T;
}
