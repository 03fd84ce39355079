// The stack's outputs: the events URL and the Prosody config lines to paste, the secrets' ARNs
// and the commands that print them (never a value), and names for operations.
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
  readonly webhookSecret: secretsmanager.ISecret;
  readonly apiSecret: secretsmanager.ISecret;
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

/** The AWS CLI command that prints a secret's value. */
const fetchCommand = (arn: string) =>
  `aws secretsmanager get-secret-value --region ${Aws.REGION} --secret-id ${arn} --query SecretString --output text`;

export function declareOutputs(scope: Construct, s: OutputSources, alarms: AlarmTopic): void {
  const webhookSecretArn = s.webhookSecret.secretArn;
  const apiSecretArn = s.apiSecret.secretArn;
  new CfnOutput(scope, 'EventsUrl', {
    description: 'Function URL of the events function: the ping_muc_cloud_events_url of Prosody',
    value: s.functionUrl.url,
  });
  new CfnOutput(scope, 'WebhookSecretArn', { value: webhookSecretArn, description: 'Secret: webhook signing key' });
  new CfnOutput(scope, 'ApiSecretArn', { value: apiSecretArn, description: 'Secret: stanza API signing key' });
  new CfnOutput(scope, 'GetWebhookSecretCommand', {
    value: fetchCommand(webhookSecretArn),
    description: 'Prints the webhook secret',
  });
  new CfnOutput(scope, 'GetApiSecretCommand', {
    value: fetchCommand(apiSecretArn),
    description: 'Prints the stanza API secret',
  });
  new CfnOutput(scope, 'ProsodyConfig', {
    description:
      'Lines for the VirtualHost section of prosody.cfg.lua (secret values: run the two Get*SecretCommand outputs)',
    value: Fn.join('\n', [
      'modules_enabled = { "ping_muc_cloud" } -- in the VirtualHost section; Prosody adds it to the global list',
      Fn.join('', ['ping_muc_cloud_events_url = "', s.functionUrl.url, '"']),
      Fn.join('', ['ping_muc_cloud_webhook_secret = "<output of: ', fetchCommand(webhookSecretArn), '>"']),
      Fn.join('', ['ping_muc_cloud_api_secret = "<output of: ', fetchCommand(apiSecretArn), '>"']),
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
