// The one price table of the cost benchmark (`npm run bench -- --only=cost`), us-east-1 list
// prices in US dollars. Change a price here, with PRICES_DATE and PRICES_SOURCE.

/** The date these prices are known to hold from. */
export const PRICES_DATE = '2024-11-01';

/**
 * Where they come from. They were not looked up online when the benchmark was written (no
 * network there): check them against aws.amazon.com/pricing before quoting a figure.
 */
export const PRICES_SOURCE =
  'AWS us-east-1 list prices as published on the AWS pricing pages from 1 Nov 2024 (the DynamoDB on-demand cut), ' +
  "from the author's knowledge, not re-checked online; the same figures as the infra cost review " +
  '(../shared/reviews/infra-cost.md §4)';

export const PRICES = {
  lambda: {
    /** Per request. */
    request: 0.2 / 1e6,
    /** Per GB-second, arm64 (the stack's architecture; x86 is $0.0000166667). */
    gbSecondArm: 0.0000133334,
  },
  dynamodb: {
    /** On demand, per write request unit. */
    wru: 0.625 / 1e6,
    /** On demand, per read request unit. */
    rru: 0.125 / 1e6,
    /** Provisioned, per WCU-hour. */
    wcuHour: 0.00065,
    /** Provisioned, per RCU-hour. */
    rcuHour: 0.00013,
    /** Per GB-month of table storage (standard table class). */
    storageGbMonth: 0.25,
    /** Point-in-time recovery (continuous backups), per GB-month. */
    pitrGbMonth: 0.2,
  },
  sqs: {
    /** Standard queue, per request (a request carries up to 10 messages). */
    request: 0.4 / 1e6,
  },
  scheduler: {
    /** EventBridge Scheduler, per invocation. */
    invocation: 1.0 / 1e6,
  },
  logs: {
    /** CloudWatch Logs, per GB ingested (standard class). */
    ingestGb: 0.5,
    /** Per GB-month stored (compressed; counted here at the ingested size, an upper bound). */
    storageGbMonth: 0.03,
  },
  cloudwatch: {
    /** Custom metric, per metric-month (prorated by the hours it is published). */
    metricMonth: 0.3,
    /** Standard-resolution alarm, per alarm metric-month (a math alarm counts each metric). */
    alarmMetricMonth: 0.1,
    dashboardMonth: 3.0,
  },
  secretsManager: {
    secretMonth: 0.4,
    /** Per API call. */
    call: 0.05 / 10_000,
  },
  ssm: {
    /** Advanced parameter, per parameter-month (standard parameters are free). */
    advancedParameterMonth: 0.05,
    /** API interactions on advanced parameters (standard throughput is free). */
    advancedCall: 0.05 / 10_000,
  },
  sns: {
    /** Email notifications beyond the free 1,000 a month; alarms send a few. */
    email: 2.0 / 100_000,
  },
} as const;

/**
 * The always-free tiers (not the 12-month ones), per account and month. The totals "with free
 * tiers" assume ping-muc is the only user of the account's free tier.
 */
export const FREE_TIER = {
  lambdaRequests: 1_000_000,
  lambdaGbSeconds: 400_000,
  dynamodbStorageGb: 25,
  /** Provisioned capacity only (not on-demand requests). */
  dynamodbWcu: 25,
  dynamodbRcu: 25,
  sqsRequests: 1_000_000,
  schedulerInvocations: 14_000_000,
  logsGb: 5,
  metrics: 10,
  alarmMetrics: 10,
  /** Dashboards of up to 50 metrics each. */
  dashboards: 3,
  snsEmails: 1_000,
} as const;

/** A month, as AWS bills hourly items: 730 hours. */
export const HOURS_PER_MONTH = 730;
export const DAYS_PER_MONTH = HOURS_PER_MONTH / 24;
