// The stack's CloudFormation parameters: one synthesized template serves every deployment, and
// these are what a deployment chooses (documented in docs/deploy.md).
import { CfnCondition, CfnParameter, Fn, type CfnParameterProps, type Stack } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { DEFAULTS } from '../lib/support/config';

/** Parameter defaults, documented in docs/deploy.md. */
export const PARAMETER_DEFAULTS = {
  DelaySeconds: DEFAULTS.delaySeconds,
  Concurrency: DEFAULTS.concurrency,
  Rechecks: DEFAULTS.rechecks,
  RetryAttempts: DEFAULTS.retryAttempts,
  Reason: '',
  EventsReservedConcurrency: 20,
  LogRetentionDays: 30,
  AlarmEmail: '',
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
  DelaySeconds: {
    type: 'Number',
    default: PARAMETER_DEFAULTS.DelaySeconds,
    minValue: 0,
    maxValue: 86400,
    description: 'Wait after a lost s2s link before the self-ping round (EventBridge Scheduler adds up to ~60 s).',
  },
  Concurrency: {
    type: 'Number',
    default: PARAMETER_DEFAULTS.Concurrency,
    minValue: 1,
    maxValue: 1024,
    description: 'Self-pings in flight at once during a round.',
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
  Reason: {
    type: 'String',
    default: PARAMETER_DEFAULTS.Reason,
    description: `<reason> of the unavailable notification; empty means ping-muc's default ("${DEFAULTS.reason}").`,
  },
  EventsReservedConcurrency: {
    type: 'Number',
    default: PARAMETER_DEFAULTS.EventsReservedConcurrency,
    minValue: 0,
    maxValue: 1000,
    description:
      'Reserved concurrency of the events function, so a flood cannot starve the account; 0 = no reservation (accounts with a low concurrency quota).',
  },
  LogRetentionDays: {
    type: 'Number',
    // A string, like the allowed values (cfn-lint E2015 otherwise).
    default: String(PARAMETER_DEFAULTS.LogRetentionDays),
    allowedValues: LOG_RETENTION_VALUES.map(String),
    description: "Retention of the functions' CloudWatch log groups, in days.",
  },
  AlarmEmail: {
    type: 'String',
    default: PARAMETER_DEFAULTS.AlarmEmail,
    allowedPattern: '^$|^[^@\\s]+@[^@\\s]+$',
    constraintDescription: 'must be empty or an e-mail address',
    description: 'If set, an SNS topic is created with this e-mail subscribed, and every alarm notifies it.',
  },
} satisfies Record<string, CfnParameterProps>;

export type ParameterName = keyof typeof SPECS;
export type Parameters = Record<ParameterName, CfnParameter>;

const GROUPS: Array<{ label: string; parameters: ParameterName[] }> = [
  { label: 'XMPP server', parameters: ['ApiUrl'] },
  { label: 'Self-ping rounds', parameters: ['DelaySeconds', 'Concurrency', 'Rechecks', 'RetryAttempts', 'Reason'] },
  { label: 'Operations', parameters: ['EventsReservedConcurrency', 'LogRetentionDays', 'AlarmEmail'] },
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
