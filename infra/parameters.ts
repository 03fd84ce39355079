// The stack's CloudFormation parameters: one synthesized template serves every deployment, and
// these are what a deployment chooses (documented in docs/deploy.md).
import { CfnCondition, CfnParameter, Fn, type CfnParameterProps, type Stack } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { DEFAULTS } from '../lib/support/config';

/** Parameter defaults, documented in docs/deploy.md. */
export const PARAMETER_DEFAULTS = {
  DelaySeconds: DEFAULTS.delaySeconds,
  // lib's default: batches of 100.
  ApiBatch: String(DEFAULTS.apiBatch),
  // Empty = unset: lib's default applies (ten batches, 10 x ApiBatch).
  Concurrency: '',
  Rechecks: DEFAULTS.rechecks,
  RetryAttempts: DEFAULTS.retryAttempts,
  HostRegistryParameter: '',
  ServerMaxInflight: '',
  // 0 = no reservation: a new account (concurrency quota 10, of which Lambda keeps 10 unreserved)
  // accepts no reservation at all. The round function's stays 0 by default for that reason.
  RoundReservedConcurrency: 0,
  // Lambda's own ceiling for an SQS event source: in practice no cap.
  RoundQueueConcurrency: 1000,
  LogLevel: 'INFO',
  LogRetentionDays: 30,
  TableDeletionProtection: 'false',
  AlarmEmail: '',
  // Operations (ops): the public events URL capped by default (a forged flood costs at most this
  // many concurrent invocations), the small metric set, no dashboard ($3 a month each).
  EventsReservedConcurrency: 20,
  Metrics: DEFAULTS.metrics,
  Dashboard: 'false',
  // Table billing (infra/table.ts): on demand, or provisioned with auto-scaling between these.
  TableBilling: 'on-demand',
  TableMinWriteCapacity: 5,
  TableMaxWriteCapacity: 500,
  TableMinReadCapacity: 5,
  TableMaxReadCapacity: 500,
} as const;

const LOG_RETENTION_VALUES = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

/** Every parameter, in template order (the console shows them grouped, see GROUPS). */
const SPECS = {
  ApiUrl: {
    type: 'String',
    description:
      'Stanza API URL of your XMPP server (mod_ping_muc_cloud on Prosody), e.g. https://xmpp.example.com:5281/ping_muc_cloud/stanza. Required.',
    allowedPattern: '^https://\\S+$',
    constraintDescription: 'must be an https:// URL (the stanza API crosses the internet)',
  },
  HostRegistryParameter: {
    type: 'String',
    default: PARAMETER_DEFAULTS.HostRegistryParameter,
    allowedPattern: '^$|^/[A-Za-z0-9_.\\-/]{1,1000}$',
    constraintDescription: 'must be empty or an SSM parameter name starting with /',
    description:
      'Several VirtualHosts or servers: the SSM String parameter holding the host registry (docs/hosts.md), read without a redeploy. Empty = one host: ApiUrl and the two generated secrets.',
  },
  DelaySeconds: {
    type: 'Number',
    default: PARAMETER_DEFAULTS.DelaySeconds,
    minValue: 0,
    maxValue: 86400,
    description: 'Wait after a lost s2s link before the self-ping round (it starts within 2 s of it).',
  },
  ApiBatch: {
    type: 'String',
    default: PARAMETER_DEFAULTS.ApiBatch,
    allowedPattern: '^([1-9][0-9]?|[1-4][0-9]{2}|500)$',
    constraintDescription: 'must be a whole number from 1 to 500',
    description:
      "Heals, self-pings, notifications and server pings per stanza API batch request (PING_MUC_API_BATCH), 100 by default. At most the module's ping_muc_cloud_batch_max_items (default 500).",
  },
  Concurrency: {
    type: 'String',
    default: PARAMETER_DEFAULTS.Concurrency,
    allowedPattern: '^$|^([1-9][0-9]{0,2}|10[01][0-9]|102[0-4])$',
    constraintDescription: 'must be empty or a whole number from 1 to 1024',
    description: `Self-pings in flight at once during a round (PING_MUC_CONCURRENCY), 1 to 1024; empty = ten batches (10 x ApiBatch, at most 1024: ${Math.min(1024, 10 * DEFAULTS.apiBatch)} with the default ApiBatch).`,
  },
  Rechecks: {
    type: 'Number',
    default: PARAMETER_DEFAULTS.Rechecks,
    minValue: 0,
    maxValue: 20,
    description: 'Follow-up rounds for indeterminate self-ping outcomes before notifying anyway.',
  },
  RetryAttempts: {
    type: 'Number',
    default: PARAMETER_DEFAULTS.RetryAttempts,
    minValue: 0,
    maxValue: 20,
    description:
      'Retries of a round that failed on our side (stanza API down, store error), rescheduled with backoff (30 s doubling, at most 15 min) before the error goes to Lambda retries and the DLQ.',
  },
  ServerMaxInflight: {
    type: 'String',
    default: PARAMETER_DEFAULTS.ServerMaxInflight,
    allowedPattern: '^$|^[1-9][0-9]{0,4}$',
    constraintDescription: 'must be empty or a whole number from 1 to 99999',
    description:
      'Self-pings in flight towards the XMPP server across all its rounds (PING_MUC_SERVER_MAX_INFLIGHT); empty = 4 x the concurrency of a round. At least that concurrency (Concurrency, or its default), or the round function refuses to start.',
  },
  EventsReservedConcurrency: {
    type: 'Number',
    default: PARAMETER_DEFAULTS.EventsReservedConcurrency,
    minValue: 0,
    maxValue: 1000,
    description:
      'Reserved concurrency of the events function, which also caps it: a flood of forged requests runs at most this many at once and cannot starve the account (docs/operations.md). 0 = no reservation and no cap, for a new account whose quota (10) allows no reservation.',
  },
  RoundReservedConcurrency: {
    type: 'Number',
    default: PARAMETER_DEFAULTS.RoundReservedConcurrency,
    minValue: 0,
    maxValue: 1000,
    description:
      'Reserved concurrency of the round function, which also caps it: at most this many rounds working at once (a waiting round holds none: the round queue holds its wait), so a flapping link cannot hammer the XMPP server; 0 = no reservation and no cap (the default: a new account cannot reserve any).',
  },
  RoundQueueConcurrency: {
    type: 'Number',
    default: PARAMETER_DEFAULTS.RoundQueueConcurrency,
    minValue: 2,
    maxValue: 1000,
    description:
      'MaximumConcurrency of the round queue: at most this many round jobs from the queue at once (the default, 1000, is no cap in practice). With RoundReservedConcurrency set, keep this at most that: jobs beyond it are throttled, received again, and after 5 receives dead-lettered.',
  },
  LogLevel: {
    type: 'String',
    default: PARAMETER_DEFAULTS.LogLevel,
    // Not WARN or ERROR: Lambda would drop the EMF lines (no level, hence INFO), so every metric,
    // the heartbeat alarm and the dashboard with them.
    allowedValues: ['DEBUG', 'INFO'],
    description: "Application log level of both functions (LOG_LEVEL and Lambda's applicationLogLevel).",
  },
  LogRetentionDays: {
    type: 'Number',
    // A string, like the allowed values (cfn-lint E2015 otherwise).
    default: String(PARAMETER_DEFAULTS.LogRetentionDays),
    allowedValues: LOG_RETENTION_VALUES.map(String),
    description: "Retention of the functions' CloudWatch log groups, in days.",
  },
  TableDeletionProtection: {
    type: 'String',
    default: PARAMETER_DEFAULTS.TableDeletionProtection,
    allowedValues: ['false', 'true'],
    description:
      'DynamoDB deletion protection of the join table. Leave false on the first deploy (a failed first create must be able to delete the table), then set true.',
  },
  AlarmEmail: {
    type: 'String',
    default: PARAMETER_DEFAULTS.AlarmEmail,
    allowedPattern: '^$|^[^@\\s]+@[^@\\s]+$',
    constraintDescription: 'must be empty or an e-mail address',
    description:
      'If set, an SNS topic is created with this e-mail subscribed, and every alarm notifies it. Empty = nobody is paged (the AlarmNotifications output says so).',
  },
  Metrics: {
    type: 'String',
    default: PARAMETER_DEFAULTS.Metrics,
    allowedValues: ['default', 'detailed'],
    description:
      'PING_MUC_METRICS of both functions: default = the few metrics the alarms need; detailed = every event type, outcome and result, per XMPP host too (each published combination is billed as a custom metric).',
  },
  Dashboard: {
    type: 'String',
    default: PARAMETER_DEFAULTS.Dashboard,
    allowedValues: ['false', 'true'],
    description:
      'true = a CloudWatch dashboard of the stack ($3 a month). Its per-type graphs fill with Metrics=detailed.',
  },
  // Table billing: one block (infra/table.ts).
  TableBilling: {
    type: 'String',
    default: PARAMETER_DEFAULTS.TableBilling,
    allowedValues: ['on-demand', 'provisioned'],
    description:
      'DynamoDB billing of the join table: on-demand (pay per request, no capacity to plan) or provisioned with auto-scaling (70 % target utilization between the Table*Capacity bounds; cheaper at a steady provider load, throttles a burst above the capacity until it scales).',
  },
  TableMinWriteCapacity: {
    type: 'Number',
    default: PARAMETER_DEFAULTS.TableMinWriteCapacity,
    minValue: 1,
    maxValue: 40000,
    description: 'TableBilling provisioned: the least write capacity units of the table.',
  },
  TableMaxWriteCapacity: {
    type: 'Number',
    default: PARAMETER_DEFAULTS.TableMaxWriteCapacity,
    minValue: 1,
    maxValue: 40000,
    description: 'TableBilling provisioned: the most write capacity units of the table (and of its index).',
  },
  TableMinReadCapacity: {
    type: 'Number',
    default: PARAMETER_DEFAULTS.TableMinReadCapacity,
    minValue: 1,
    maxValue: 40000,
    description: 'TableBilling provisioned: the least read capacity units of the table.',
  },
  TableMaxReadCapacity: {
    type: 'Number',
    default: PARAMETER_DEFAULTS.TableMaxReadCapacity,
    minValue: 1,
    maxValue: 40000,
    description: 'TableBilling provisioned: the most read capacity units of the table (and of its index).',
  },
} satisfies Record<string, CfnParameterProps>;

export type ParameterName = keyof typeof SPECS;
export type Parameters = Record<ParameterName, CfnParameter>;

const GROUPS: Array<{ label: string; parameters: ParameterName[] }> = [
  { label: 'XMPP server', parameters: ['ApiUrl', 'HostRegistryParameter'] },
  {
    label: 'Self-ping rounds',
    parameters: ['DelaySeconds', 'ApiBatch', 'Concurrency', 'ServerMaxInflight', 'Rechecks', 'RetryAttempts'],
  },
  {
    label: 'Operations',
    parameters: [
      'EventsReservedConcurrency',
      'RoundReservedConcurrency',
      'RoundQueueConcurrency',
      'LogLevel',
      'LogRetentionDays',
      'TableDeletionProtection',
      'AlarmEmail',
      'Metrics',
      'Dashboard',
    ],
  },
  {
    label: 'Table billing',
    parameters: [
      'TableBilling',
      'TableMinWriteCapacity',
      'TableMaxWriteCapacity',
      'TableMinReadCapacity',
      'TableMaxReadCapacity',
    ],
  },
];

/** Declares every parameter on the stack (logical ID = name) and their console grouping. */
export function declareParameters(stack: Stack): Parameters {
  const params = {} as Parameters;
  for (const [name, props] of Object.entries(SPECS) as Array<[ParameterName, CfnParameterProps]>) {
    params[name] = new CfnParameter(stack, name, props);
  }
  stack.templateOptions.metadata = {
    'AWS::CloudFormation::Interface': {
      ParameterGroups: GROUPS.map((g) => ({ Label: { default: g.label }, Parameters: g.parameters })),
    },
  };
  return params;
}

/** A condition that holds when `param` is not `value` (e.g. an optional parameter is set). */
export function unlessEquals(scope: Construct, id: string, param: CfnParameter, value: string): CfnCondition {
  return new CfnCondition(scope, id, { expression: Fn.conditionNot(Fn.conditionEquals(param.valueAsString, value)) });
}
