// The alarms (docs/operations.md): each one says what failed silently, and notifies an SNS topic
// that exists only when the AlarmEmail parameter is set. The topic's policy (enforceSSL) replaces
// SNS's default one, so it also lets CloudWatch alarms of this account publish.
import { Aws, Duration, Fn, type CfnCondition, type CfnParameter } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { FIVE_MINUTES, count, lambdaMetric, measure, tableThrottles, total } from './metrics';
import { unlessEquals } from './parameters';

export interface AlarmSources {
  readonly deadLetterQueue: sqs.IQueue;
  readonly scheduleGroup: scheduler.IScheduleGroup;
  readonly eventsFunction: lambda.IFunction;
  readonly roundFunction: lambda.IFunction;
  readonly table: dynamodb.ITable;
}

export interface AlarmTopic {
  readonly topic: sns.Topic;
  /** Holds when AlarmEmail is set: the topic, its policy and subscription exist. */
  readonly enabled: CfnCondition;
}

/** One alarm: by default any value above 0 in 5 minutes, missing data OK. */
export interface AlarmSpec {
  readonly id: string;
  readonly description: string;
  readonly metric: cloudwatch.IMetric;
  readonly threshold?: number;
  readonly comparison?: cloudwatch.ComparisonOperator;
  readonly evaluationPeriods?: number;
  /** Of evaluationPeriods (default: all of them). */
  readonly datapointsToAlarm?: number;
  readonly missing?: cloudwatch.TreatMissingData;
}

/**
 * The events URL's 4xx alarm: at least this many refused requests in REJECTED_PERIODS.of of its
 * 5-minute periods. A module retrying a 401 posts about one request a minute (4 or 5 a period),
 * which then keeps the alarm in ALARM instead of flapping; a single stray request never fires it.
 */
export const REJECTED_THRESHOLD = 3;
export const REJECTED_PERIODS = { alarm: 2, of: 3 } as const;
/**
 * SilentHosts is published every minute by the reconciler; a silent host, or no value at all (the
 * reconciler or the metric pipeline broken), for this many minutes fires.
 */
export const SILENT_MINUTES = 3;

/** The reconciler re-arming work this many minutes in a row fires its alarm. */
export const RECONCILED_MINUTES = 3;

/** The alarms on ping-muc's own metrics: each reads one that lib publishes by default. */
function ownMetricAlarms(): AlarmSpec[] {
  return [
    // Inside a 200: the module does not retry refused events, so their joins are not tracked.
    {
      id: 'EventsRefusedAlarm',
      description:
        'events refused inside an accepted batch (Events, EventType=refused): their joins or closes were not recorded. The events logs (events refused in a batch) say why; an older stack refuses newer event types',
      metric: count('Events', 'refused'),
    },
    // One alarm for every host: the reconciler counts the known hosts without a recent heartbeat.
    // Missing data breaches: no value means the reconciler or the metric pipeline is down.
    {
      id: 'SilentHostsAlarm',
      description: `a known XMPP host posted no heartbeat for PING_MUC_SILENT_SECONDS (SilentHosts > 0 for ${SILENT_MINUTES} minutes), or the reconciler stopped publishing it: Prosody down, the module not loaded, or its events refused. The reconciler's log names the hosts (docs/operations.md)`,
      metric: measure('SilentHosts', 'Maximum', { period: Duration.minutes(1) }),
      evaluationPeriods: SILENT_MINUTES,
      missing: cloudwatch.TreatMissingData.BREACHING,
    },
    {
      id: 'RoundFailuresAlarm',
      description: 'a round invocation failed on our side (stanza API, store): it retries itself, long before the DLQ',
      metric: total('RoundFailures'),
    },
    // Per join, inside a round that goes on: without this alarm, heals stop with no other signal.
    {
      id: 'UnusableAnswersAlarm',
      description:
        'stanza-API answers a round could not use (Pings, Outcome=failed: refused or malformed per-item answers): those joins are re-checked, then kept unchecked. Check the module version and the round logs (self-ping answer unusable)',
      metric: count('Pings', 'failed'),
    },
    // One re-armed item now and then is a lost job healed; every minute, jobs keep being lost.
    {
      id: 'ReconciledAlarm',
      description: `the reconciler re-armed overdue windows or rounds ${RECONCILED_MINUTES} minutes in a row: their jobs keep getting lost or cannot run (see docs/operations.md)`,
      metric: total('Reconciled', { period: Duration.minutes(1) }),
      evaluationPeriods: RECONCILED_MINUTES,
    },
  ];
}

/** Every alarm of the stack, by logical ID. */
export function alarmSpecs(s: AlarmSources): AlarmSpec[] {
  const perFunction = (name: string, fn: lambda.IFunction): AlarmSpec[] => [
    {
      id: `${name}ErrorsAlarm`,
      description: `${name.toLowerCase()} function errors`,
      metric: lambdaMetric(fn, 'Errors'),
    },
    {
      id: `${name}ThrottlesAlarm`,
      description: `${name.toLowerCase()} function throttles`,
      metric: lambdaMetric(fn, 'Throttles'),
    },
  ];
  return [
    {
      id: 'DeadLetterQueueAlarm',
      description:
        'messages in the dead-letter queue: a self-ping round was not delivered or failed after retries (rounds lost; see docs/operations.md)',
      metric: s.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: FIVE_MINUTES,
        statistic: 'Maximum',
      }),
      // SQS stops publishing a queue's metrics after hours without API activity, while messages
      // can sit there 14 days: missing data keeps the last state instead of sending OK.
      missing: cloudwatch.TreatMissingData.IGNORE,
    },
    {
      id: 'DeadLetterDeliveryFailedAlarm',
      description: 'EventBridge Scheduler could not even send a failed round to the dead-letter queue',
      metric: s.scheduleGroup.metricFailedToBeSentToDLQ(undefined, { period: FIVE_MINUTES, statistic: 'Sum' }),
    },
    // The module drops a batch that gets a 4xx: a wrong webhook secret (e.g. after a rotation)
    // or a contract mismatch would otherwise go unnoticed while joins stop being tracked.
    {
      id: 'EventsRejectedAlarm',
      description: `at least ${REJECTED_THRESHOLD} events requests refused with 4xx in ${REJECTED_PERIODS.alarm} of 3 periods of 5 minutes (bad signature, invalid or oversize body): check ping_muc_cloud_webhook_secret and the module version`,
      metric: lambdaMetric(s.eventsFunction, 'Url4xxCount'),
      threshold: REJECTED_THRESHOLD,
      comparison: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: REJECTED_PERIODS.of,
      datapointsToAlarm: REJECTED_PERIODS.alarm,
    },
    {
      id: 'EventsServerErrorsAlarm',
      description:
        'events requests answered with 5xx (a store or scheduling failure answers 503, not a Lambda error): the module retries, check the events logs',
      metric: lambdaMetric(s.eventsFunction, 'Url5xxCount'),
    },
    {
      id: 'RoundDestinationFailuresAlarm',
      description: 'Lambda could not deliver a failed round to the dead-letter queue (the round is lost)',
      metric: lambdaMetric(s.roundFunction, 'DestinationDeliveryFailures'),
    },
    {
      id: 'RoundEventsDroppedAlarm',
      description:
        'Lambda dropped round invocations (too old after throttling, or retries exhausted without a destination)',
      metric: lambdaMetric(s.roundFunction, 'AsyncEventsDropped'),
    },
    {
      id: 'TableThrottlesAlarm',
      description: 'DynamoDB throttled reads or writes of the join table or its indexes',
      metric: tableThrottles(s.table),
    },
    ...ownMetricAlarms(),
    ...perFunction('Events', s.eventsFunction),
    ...perFunction('Round', s.roundFunction),
  ];
}

/** The topic and the e-mail subscription, both only when AlarmEmail is set. */
export function alarmTopic(scope: Construct, alarmEmail: CfnParameter): AlarmTopic {
  const enabled = unlessEquals(scope, 'HasAlarmEmail', alarmEmail, '');
  const topic = new sns.Topic(scope, 'AlarmTopic', { displayName: 'ping-muc alarms', enforceSSL: true });
  // The policy replaces the default one (which lets the account publish): CloudWatch needs its own
  // statement, limited to alarms of this account (no confused deputy).
  topic.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'CloudWatchAlarmsPublish',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [topic.topicArn],
      conditions: {
        StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
        ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:*` },
      },
    }),
  );
  (topic.node.defaultChild as sns.CfnTopic).cfnOptions.condition = enabled;
  const topicPolicy = topic.node.tryFindChild('Policy')?.node.defaultChild;
  if (topicPolicy instanceof sns.CfnTopicPolicy) topicPolicy.cfnOptions.condition = enabled;
  const subscription = new sns.CfnSubscription(scope, 'AlarmEmailSubscription', {
    topicArn: topic.topicArn,
    protocol: 'email',
    endpoint: alarmEmail.valueAsString,
  });
  subscription.cfnOptions.condition = enabled;
  return { topic, enabled };
}

/** Declares every alarm in `scope`, notifying the topic on ALARM and OK when it exists. */
export function declareAlarms(scope: Construct, topic: AlarmTopic, sources: AlarmSources): cloudwatch.Alarm[] {
  const actions = Fn.conditionIf(topic.enabled.logicalId, [topic.topic.topicArn], Aws.NO_VALUE);
  return alarmSpecs(sources).map((spec) => {
    const alarm = new cloudwatch.Alarm(scope, spec.id, {
      alarmDescription: `ping-muc: ${spec.description}`,
      metric: spec.metric,
      threshold: spec.threshold ?? 0,
      comparisonOperator: spec.comparison ?? cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: spec.evaluationPeriods ?? 1,
      datapointsToAlarm: spec.datapointsToAlarm ?? spec.evaluationPeriods ?? 1,
      treatMissingData: spec.missing ?? cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const cfn = alarm.node.defaultChild as cloudwatch.CfnAlarm;
    cfn.addPropertyOverride('AlarmActions', actions);
    cfn.addPropertyOverride('OKActions', actions);
    return alarm;
  });
}
