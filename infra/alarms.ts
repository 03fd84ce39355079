// The alarms (docs/deploy.md, "Alarms and the dead-letter queue"): every one fires on any value
// above 0 in 5 minutes and treats missing data as OK; they notify an SNS topic that exists only
// when the AlarmEmail parameter is set.
import { Aws, Duration, Fn, type CfnCondition, type CfnParameter } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { unlessEquals } from './parameters';

export interface AlarmSources {
  readonly deadLetterQueue: sqs.IQueue;
  readonly scheduleGroup: scheduler.IScheduleGroup;
  readonly eventsFunction: lambda.IFunction;
  readonly roundFunction: lambda.IFunction;
}

export interface AlarmTopic {
  readonly topic: sns.Topic;
  /** Holds when AlarmEmail is set: the topic, its policy and subscription exist. */
  readonly enabled: CfnCondition;
}

const period = Duration.minutes(5);

/** Logical ID → description and metric of every alarm. */
function alarmList(s: AlarmSources): Array<[string, string, cloudwatch.IMetric]> {
  const perFunction = (name: string, fn: lambda.IFunction): Array<[string, string, cloudwatch.IMetric]> => [
    [`${name}ErrorsAlarm`, `${name.toLowerCase()} function errors`, fn.metricErrors({ period, statistic: 'Sum' })],
    [
      `${name}ThrottlesAlarm`,
      `${name.toLowerCase()} function throttles`,
      fn.metricThrottles({ period, statistic: 'Sum' }),
    ],
  ];
  return [
    [
      'DeadLetterQueueAlarm',
      'messages in the dead-letter queue: a self-ping round was not delivered or failed after retries (rounds lost; see docs/deploy.md)',
      s.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' }),
    ],
    [
      'DeadLetterDeliveryFailedAlarm',
      'EventBridge Scheduler could not even send a failed round to the dead-letter queue',
      s.scheduleGroup.metricFailedToBeSentToDLQ(undefined, { period, statistic: 'Sum' }),
    ],
    // The module drops a batch that gets a 4xx: a wrong webhook secret (e.g. after a rotation)
    // or a contract mismatch would otherwise go unnoticed while joins stop being tracked.
    [
      'EventsRejectedAlarm',
      'events requests refused with 4xx (bad signature, invalid or oversize body): check ping_muc_cloud_webhook_secret and the module version',
      s.eventsFunction.metric('Url4xxCount', { period, statistic: 'Sum' }),
    ],
    ...perFunction('Events', s.eventsFunction),
    ...perFunction('Round', s.roundFunction),
  ];
}

/** The topic and the e-mail subscription, both only when AlarmEmail is set. */
export function alarmTopic(scope: Construct, alarmEmail: CfnParameter): AlarmTopic {
  const enabled = unlessEquals(scope, 'HasAlarmEmail', alarmEmail, '');
  const topic = new sns.Topic(scope, 'AlarmTopic', { displayName: 'ping-muc alarms', enforceSSL: true });
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
export function declareAlarms(scope: Construct, topic: AlarmTopic, sources: AlarmSources): void {
  const actions = Fn.conditionIf(topic.enabled.logicalId, [topic.topic.topicArn], Aws.NO_VALUE);
  for (const [id, description, metric] of alarmList(sources)) {
    const alarm = new cloudwatch.Alarm(scope, id, {
      alarmDescription: `ping-muc: ${description}`,
      metric,
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const cfn = alarm.node.defaultChild as cloudwatch.CfnAlarm;
    cfn.addPropertyOverride('AlarmActions', actions);
    cfn.addPropertyOverride('OKActions', actions);
  }
}
