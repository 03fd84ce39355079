// The stack's outputs: the events URL, the master key's ARN and the command that prints a host's
// Prosody configuration lines from it (never a key in the template), and names for operations.
import { Aws, CfnOutput, type CfnResource, Fn } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { AlarmTopic } from './alarms';
import { dashboardUrl } from './dashboard';

export interface OutputSources {
  readonly functionUrl: lambda.FunctionUrl;
  readonly masterKey: secretsmanager.ISecret;
  readonly eventsFunction: lambda.IFunction;
  readonly roundFunction: lambda.IFunction;
  readonly table: dynamodb.ITable;
  readonly scheduleGroup: scheduler.IScheduleGroup;
  readonly deadLetterQueue: sqs.IQueue;
  readonly dashboard: cloudwatch.Dashboard;
}

/** The AlarmNotifications output when AlarmEmail is empty. */
export const ALARMS_UNSET =
  'WARNING: NOBODY IS PAGED. AlarmEmail is empty: alarms change state and notify no one. Deploy again with --parameters AlarmEmail=you@example.com';

export function declareOutputs(scope: Construct, s: OutputSources, alarms: AlarmTopic): void {
  const masterKeyArn = s.masterKey.secretArn;
  new CfnOutput(scope, 'EventsUrl', {
    description: 'Function URL of the events function: the ping_muc_cloud_events_url of Prosody',
    value: s.functionUrl.url,
  });
  new CfnOutput(scope, 'MasterKeyArn', {
    value: masterKeyArn,
    description: "Secret: the master key every server's keys are derived from",
  });
  new CfnOutput(scope, 'HostKeysCommand', {
    description:
      "Prints a server's lines for prosody.cfg.lua (its keys derived from the master key, shared by its VirtualHosts): run it in a checkout of ping-muc with AWS credentials, naming the registry's server id(s), or the host without a registry",
    value: Fn.join('', [
      'npm run host-keys -- --region ',
      Aws.REGION,
      ' --secret ',
      masterKeyArn,
      ' --events-url ',
      s.functionUrl.url,
      ' --table ',
      s.table.tableName,
      ' <server id> [<server id> ...]',
    ]),
  });
  new CfnOutput(scope, 'EventsFunctionName', { value: s.eventsFunction.functionName });
  new CfnOutput(scope, 'RoundFunctionName', { value: s.roundFunction.functionName });
  new CfnOutput(scope, 'TableName', {
    value: s.table.tableName,
    description: 'Join store (retained on stack deletion)',
  });
  new CfnOutput(scope, 'ScheduleGroupName', { value: s.scheduleGroup.scheduleGroupName });
  new CfnOutput(scope, 'DeadLetterQueueUrl', { value: s.deadLetterQueue.queueUrl });
  const dashboardOutput = new CfnOutput(scope, 'DashboardUrl', {
    value: dashboardUrl(s.dashboard),
    description: 'CloudWatch dashboard of this stack (docs/operations.md)',
  });
  dashboardOutput.condition = (s.dashboard.node.defaultChild as CfnResource).cfnOptions.condition;
  // cdk deploy prints every output: an operator who left AlarmEmail empty reads this after each deploy.
  new CfnOutput(scope, 'AlarmNotifications', {
    description: 'Who the alarms page (docs/operations.md, "Alarms")',
    value: Fn.conditionIf(
      alarms.enabled.logicalId,
      'e-mail to AlarmEmail, once its subscription is confirmed (the smoke test checks it)',
      ALARMS_UNSET,
    ).toString(),
  });
  const topicOutput = new CfnOutput(scope, 'AlarmTopicArn', {
    value: alarms.topic.topicArn,
    description: 'Alarm notifications',
  });
  topicOutput.condition = alarms.enabled;
}
