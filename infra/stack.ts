// The ping-muc stack: table, two functions, scheduling, secrets, alarms, outputs.
// Everything is configured by CloudFormation parameters, so one synthesized template serves
// every account and region (no lookups, no context needed: synth works offline).
import path from 'node:path';
import {
  App,
  ArnFormat,
  Aws,
  CfnCondition,
  CfnOutput,
  CfnParameter,
  Duration,
  Fn,
  RemovalPolicy,
  Stack,
  Tags,
  type StackProps,
} from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { DEFAULTS, ENV } from '../lib/support/config';
import { FUNCTIONS, HANDLER_EXPORT, REPO_ROOT, lambdaBundling, type FunctionName } from './bundling';

/** Data model of the join store (see lib/adapters): one table, one GSI. */
export const TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  gsiName: 'byHost',
  gsiPartitionKey: 'gpk',
  gsiSortKey: 'gsk',
  ttlAttribute: 'expiresAt',
} as const;

/** Exactly the DynamoDB calls lib/ makes (test/infra checks lib/ against this list). */
export const DYNAMODB_TABLE_ACTIONS = [
  'dynamodb:BatchWriteItem',
  'dynamodb:DeleteItem',
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:Query',
  'dynamodb:UpdateItem',
] as const;
/** On the GSI only Query is meaningful. */
export const DYNAMODB_INDEX_ACTIONS = ['dynamodb:Query'] as const;

/** Sizing. The round function's timeout is what lib's checkpointing works within. */
export const SIZING = {
  events: { memoryMb: 256, timeoutSeconds: 20 },
  round: { memoryMb: 512, timeoutSeconds: 600 },
} as const;

/** Async invocation of the round function (EventBridge Scheduler invokes Lambda asynchronously). */
export const ROUND_ASYNC = { retryAttempts: 2, maxEventAgeSeconds: 3600 } as const;

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

const LOG_RETENTION_VALUES = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

export interface PingMucStackProps extends StackProps {
  /** Entry files, relative to the repository root or absolute (tests may substitute stubs). */
  readonly entries?: Partial<Record<FunctionName, string>>;
  /** Project root for bundling (must contain the entries and a package-lock.json). */
  readonly projectRoot?: string;
}

export class PingMucStack extends Stack {
  readonly table: dynamodb.Table;
  readonly eventsFunction: NodejsFunction;
  readonly roundFunction: NodejsFunction;
  readonly schedulerRole: iam.Role;
  readonly scheduleGroup: scheduler.ScheduleGroup;
  readonly deadLetterQueue: sqs.Queue;
  readonly webhookSecret: secretsmanager.Secret;
  readonly apiSecret: secretsmanager.Secret;
  readonly functionUrl: lambda.FunctionUrl;

  constructor(scope: Construct, id: string, props: PingMucStackProps = {}) {
    super(scope, id, props);
    const projectRoot = props.projectRoot ?? REPO_ROOT;

    // ---------------------------------------------------------------- parameters
    const apiUrl = new CfnParameter(this, 'ApiUrl', {
      type: 'String',
      description:
        'Stanza API URL of your XMPP server (mod_ping_muc_cloud on Prosody), e.g. https://xmpp.example.com:5281/ping_muc_cloud/stanza. Required.',
      allowedPattern: '^https://\\S+$',
      constraintDescription: 'must be an https:// URL (the stanza API crosses the internet)',
    });
    const delay = new CfnParameter(this, 'DelaySeconds', {
      type: 'Number',
      default: PARAMETER_DEFAULTS.DelaySeconds,
      minValue: 0,
      maxValue: 86400,
      description: 'Wait after a lost s2s link before the self-ping round (EventBridge Scheduler adds up to ~60 s).',
    });
    const concurrency = new CfnParameter(this, 'Concurrency', {
      type: 'Number',
      default: PARAMETER_DEFAULTS.Concurrency,
      minValue: 1,
      maxValue: 1024,
      description: 'Self-pings in flight at once during a round.',
    });
    const rechecks = new CfnParameter(this, 'Rechecks', {
      type: 'Number',
      default: PARAMETER_DEFAULTS.Rechecks,
      minValue: 0,
      maxValue: 20,
      description: 'Follow-up rounds for indeterminate self-ping outcomes before notifying anyway.',
    });
    const retryAttempts = new CfnParameter(this, 'RetryAttempts', {
      type: 'Number',
      default: PARAMETER_DEFAULTS.RetryAttempts,
      minValue: 0,
      maxValue: 20,
      description:
        'Retries of a round that failed on our side (stanza API down, store error), rescheduled with backoff (30 s doubling, at most 15 min) before the error goes to Lambda retries and the DLQ.',
    });
    const reason = new CfnParameter(this, 'Reason', {
      type: 'String',
      default: PARAMETER_DEFAULTS.Reason,
      description: `<reason> of the unavailable notification; empty means ping-muc's default ("${DEFAULTS.reason}").`,
    });
    const reserved = new CfnParameter(this, 'EventsReservedConcurrency', {
      type: 'Number',
      default: PARAMETER_DEFAULTS.EventsReservedConcurrency,
      minValue: 0,
      maxValue: 1000,
      description:
        'Reserved concurrency of the events function, so a flood cannot starve the account; 0 = no reservation (accounts with a low concurrency quota).',
    });
    const logRetention = new CfnParameter(this, 'LogRetentionDays', {
      type: 'Number',
      // A string, like the allowed values (cfn-lint E2015 otherwise).
      default: String(PARAMETER_DEFAULTS.LogRetentionDays),
      allowedValues: LOG_RETENTION_VALUES.map(String),
      description: 'Retention of the functions\' CloudWatch log groups, in days.',
    });
    const alarmEmail = new CfnParameter(this, 'AlarmEmail', {
      type: 'String',
      default: PARAMETER_DEFAULTS.AlarmEmail,
      allowedPattern: '^$|^[^@\\s]+@[^@\\s]+$',
      constraintDescription: 'must be empty or an e-mail address',
      description: 'If set, an SNS topic is created with this e-mail subscribed, and every alarm notifies it.',
    });
    this.templateOptions.metadata = {
      'AWS::CloudFormation::Interface': {
        ParameterGroups: [
          { Label: { default: 'XMPP server' }, Parameters: ['ApiUrl'] },
          { Label: { default: 'Self-ping rounds' }, Parameters: ['DelaySeconds', 'Concurrency', 'Rechecks', 'RetryAttempts', 'Reason'] },
          { Label: { default: 'Operations' }, Parameters: ['EventsReservedConcurrency', 'LogRetentionDays', 'AlarmEmail'] },
        ],
      },
    };

    const hasReason = new CfnCondition(this, 'HasReason', { expression: Fn.conditionNot(Fn.conditionEquals(reason.valueAsString, '')) });
    const isReserved = new CfnCondition(this, 'IsEventsConcurrencyReserved', {
      expression: Fn.conditionNot(Fn.conditionEquals(reserved.valueAsString, '0')),
    });
    const hasAlarmEmail = new CfnCondition(this, 'HasAlarmEmail', {
      expression: Fn.conditionNot(Fn.conditionEquals(alarmEmail.valueAsString, '')),
    });

    // ---------------------------------------------------------------- state
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: TABLE.ttlAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: TABLE.gsiName,
      partitionKey: { name: TABLE.gsiPartitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE.gsiSortKey, type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
    const indexArn = `${this.table.tableArn}/index/${TABLE.gsiName}`;

    const secret = (cid: string, description: string) =>
      new secretsmanager.Secret(this, cid, {
        description,
        // Used as-is as the HMAC key (raw UTF-8): 48 alphanumerics, ~285 bits.
        generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
      });
    this.webhookSecret = secret('WebhookSecret', 'ping-muc: signs the XMPP server\'s webhook events (ping_muc_cloud_webhook_secret)');
    this.apiSecret = secret('ApiSecret', 'ping-muc: signs requests to the XMPP server\'s stanza API (ping_muc_cloud_api_secret)');

    // Receives (a) schedules EventBridge Scheduler could not deliver after its retry policy and
    // (b) round invocations that still failed after Lambda's async retries.
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      retentionPeriod: Duration.days(14),
    });

    // ---------------------------------------------------------------- scheduling
    this.scheduleGroup = new scheduler.ScheduleGroup(this, 'ScheduleGroup', {
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const groupName = this.scheduleGroup.scheduleGroupName;
    const schedulesArn = this.formatArn({
      service: 'scheduler',
      resource: 'schedule',
      resourceName: `${groupName}/*`,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });

    this.schedulerRole = new iam.Role(this, 'SchedulerRole', {
      description: 'ping-muc: EventBridge Scheduler invokes the round function with this role',
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: {
          StringEquals: {
            'aws:SourceAccount': Aws.ACCOUNT_ID,
            'aws:SourceArn': this.scheduleGroup.scheduleGroupArn,
          },
        },
      }),
    });

    // ---------------------------------------------------------------- functions
    // Each function gets the settings it reads, nothing more (names: lib/config.ts ENV).
    const schedulingEnv: Record<string, string> = {
      [ENV.table]: this.table.tableName,
      [ENV.delaySeconds]: delay.valueAsString,
      [ENV.scheduleGroup]: groupName,
      [ENV.schedulerRoleArn]: this.schedulerRole.roleArn,
      [ENV.dlqArn]: this.deadLetterQueue.queueArn,
    };

    const makeFunction = (name: FunctionName, description: string, environment: Record<string, string>) => {
      const logGroup = new logs.LogGroup(this, `${cap(name)}Logs`, {
        removalPolicy: RemovalPolicy.DESTROY,
      });
      (logGroup.node.defaultChild as logs.CfnLogGroup).retentionInDays = logRetention.valueAsNumber;
      const role = new iam.Role(this, `${cap(name)}Role`, {
        description: `ping-muc: ${name} function`,
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      });
      // Instead of AWSLambdaBasicExecutionRole (logs:* on *): write to its own log group only.
      role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'WriteOwnLogs',
          actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          resources: [logGroup.logGroupArn],
        }),
      );
      role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'JoinStoreTable',
          actions: [...DYNAMODB_TABLE_ACTIONS],
          resources: [this.table.tableArn],
        }),
      );
      role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'JoinStoreIndex',
          actions: [...DYNAMODB_INDEX_ACTIONS],
          resources: [indexArn],
        }),
      );
      role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'PassSchedulerRole',
          actions: ['iam:PassRole'],
          resources: [this.schedulerRole.roleArn],
          conditions: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
        }),
      );
      const entry = props.entries?.[name] ?? FUNCTIONS[name];
      const fn = new NodejsFunction(this, `${cap(name)}Function`, {
        description,
        entry: path.resolve(projectRoot, entry),
        handler: HANDLER_EXPORT,
        projectRoot,
        depsLockFilePath: path.join(projectRoot, 'package-lock.json'),
        runtime: lambda.Runtime.NODEJS_22_X,
        architecture: lambda.Architecture.ARM_64,
        memorySize: SIZING[name].memoryMb,
        timeout: Duration.seconds(SIZING[name].timeoutSeconds),
        role,
        logGroup,
        environment,
        bundling: lambdaBundling(),
      });
      return { fn, role };
    };

    const round = makeFunction('round', 'ping-muc: self-ping round for one lost s2s link (invoked by EventBridge Scheduler)', {
      ...schedulingEnv,
      [ENV.apiUrl]: apiUrl.valueAsString,
      [ENV.concurrency]: concurrency.valueAsString,
      [ENV.rechecks]: rechecks.valueAsString,
      [ENV.retryAttempts]: retryAttempts.valueAsString,
      [ENV.reason]: Fn.conditionIf(hasReason.logicalId, reason.valueAsString, Aws.NO_VALUE).toString(),
      [ENV.apiSecretArn]: this.apiSecret.secretArn,
    });
    this.roundFunction = round.fn;
    round.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ManageRoundSchedules',
        actions: ['scheduler:CreateSchedule', 'scheduler:DeleteSchedule'],
        resources: [schedulesArn],
      }),
    );
    round.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReadApiSecret',
        actions: ['secretsmanager:GetSecretValue'],
        resources: [this.apiSecret.secretArn],
      }),
    );
    // Scheduler invokes Lambda asynchronously: a round that throws is retried by Lambda, then
    // lands in the DLQ (the Scheduler DLQ only sees invocations it could not deliver).
    round.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'FailedRoundsToDlq',
        actions: ['sqs:SendMessage'],
        resources: [this.deadLetterQueue.queueArn],
      }),
    );
    const dlqArn = this.deadLetterQueue.queueArn;
    this.roundFunction.configureAsyncInvoke({
      retryAttempts: ROUND_ASYNC.retryAttempts,
      maxEventAge: Duration.seconds(ROUND_ASYNC.maxEventAgeSeconds),
      onFailure: { bind: () => ({ destination: dlqArn }) },
    });

    const events = makeFunction('events', 'ping-muc: signed webhook events of the XMPP server (Function URL)', {
      ...schedulingEnv,
      [ENV.roundFunctionArn]: this.roundFunction.functionArn,
      [ENV.webhookSecretArn]: this.webhookSecret.secretArn,
    });
    this.eventsFunction = events.fn;
    events.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'CreateRoundSchedules',
        actions: ['scheduler:CreateSchedule'],
        resources: [schedulesArn],
      }),
    );
    events.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReadWebhookSecret',
        actions: ['secretsmanager:GetSecretValue'],
        resources: [this.webhookSecret.secretArn],
      }),
    );
    const cfnEvents = this.eventsFunction.node.defaultChild as lambda.CfnFunction;
    cfnEvents.reservedConcurrentExecutions = Fn.conditionIf(
      isReserved.logicalId,
      reserved.valueAsNumber,
      Aws.NO_VALUE,
    ) as unknown as number;

    // The request signature is verified in code (Standard Webhooks HMAC), hence auth NONE.
    this.functionUrl = this.eventsFunction.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });

    // The execution role may only invoke the round function and dead-letter to the DLQ.
    this.schedulerRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'InvokeRoundFunction',
        actions: ['lambda:InvokeFunction'],
        resources: [this.roundFunction.functionArn],
      }),
    );
    this.schedulerRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'DeadLetterToDlq',
        actions: ['sqs:SendMessage'],
        resources: [this.deadLetterQueue.queueArn],
      }),
    );

    // ---------------------------------------------------------------- alarms
    const topic = new sns.Topic(this, 'AlarmTopic', { displayName: 'ping-muc alarms', enforceSSL: true });
    (topic.node.defaultChild as sns.CfnTopic).cfnOptions.condition = hasAlarmEmail;
    const topicPolicy = topic.node.tryFindChild('Policy')?.node.defaultChild;
    if (topicPolicy instanceof sns.CfnTopicPolicy) topicPolicy.cfnOptions.condition = hasAlarmEmail;
    const subscription = new sns.CfnSubscription(this, 'AlarmEmailSubscription', {
      topicArn: topic.topicArn,
      protocol: 'email',
      endpoint: alarmEmail.valueAsString,
    });
    subscription.cfnOptions.condition = hasAlarmEmail;
    const alarmActions = Fn.conditionIf(hasAlarmEmail.logicalId, [topic.topicArn], Aws.NO_VALUE);

    const period = Duration.minutes(5);
    const alarm = (cid: string, description: string, metric: cloudwatch.IMetric) => {
      const a = new cloudwatch.Alarm(this, cid, {
        alarmDescription: `ping-muc: ${description}`,
        metric,
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      const cfn = a.node.defaultChild as cloudwatch.CfnAlarm;
      cfn.addPropertyOverride('AlarmActions', alarmActions);
      cfn.addPropertyOverride('OKActions', alarmActions);
      return a;
    };
    alarm(
      'DeadLetterQueueAlarm',
      'messages in the dead-letter queue: a self-ping round was not delivered or failed after retries (rounds lost; see docs/deploy.md)',
      this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' }),
    );
    alarm(
      'DeadLetterDeliveryFailedAlarm',
      'EventBridge Scheduler could not even send a failed round to the dead-letter queue',
      this.scheduleGroup.metricFailedToBeSentToDLQ(undefined, { period, statistic: 'Sum' }),
    );
    // The module drops a batch that gets a 4xx: a wrong webhook secret (e.g. after a rotation)
    // or a contract mismatch would otherwise go unnoticed while joins stop being tracked.
    alarm(
      'EventsRejectedAlarm',
      'events requests refused with 4xx (bad signature, invalid or oversize body): check ping_muc_cloud_webhook_secret and the module version',
      this.eventsFunction.metric('Url4xxCount', { period, statistic: 'Sum' }),
    );
    for (const [name, fn] of [
      ['Events', this.eventsFunction],
      ['Round', this.roundFunction],
    ] as const) {
      alarm(`${name}ErrorsAlarm`, `${name.toLowerCase()} function errors`, fn.metricErrors({ period, statistic: 'Sum' }));
      alarm(`${name}ThrottlesAlarm`, `${name.toLowerCase()} function throttles`, fn.metricThrottles({ period, statistic: 'Sum' }));
    }

    // ---------------------------------------------------------------- outputs
    const fetch = (arn: string) =>
      `aws secretsmanager get-secret-value --region ${Aws.REGION} --secret-id ${arn} --query SecretString --output text`;
    new CfnOutput(this, 'EventsUrl', {
      description: 'Function URL of the events function: the ping_muc_cloud_events_url of Prosody',
      value: this.functionUrl.url,
    });
    new CfnOutput(this, 'WebhookSecretArn', { value: this.webhookSecret.secretArn, description: 'Secret: webhook signing key' });
    new CfnOutput(this, 'ApiSecretArn', { value: this.apiSecret.secretArn, description: 'Secret: stanza API signing key' });
    new CfnOutput(this, 'GetWebhookSecretCommand', { value: fetch(this.webhookSecret.secretArn), description: 'Prints the webhook secret' });
    new CfnOutput(this, 'GetApiSecretCommand', { value: fetch(this.apiSecret.secretArn), description: 'Prints the stanza API secret' });
    new CfnOutput(this, 'ProsodyConfig', {
      description: 'Lines for the VirtualHost section of prosody.cfg.lua (secret values: run the two Get*SecretCommand outputs)',
      value: Fn.join('\n', [
        'modules_enabled = { "ping_muc_cloud" } -- in the VirtualHost section; Prosody adds it to the global list',
        Fn.join('', ['ping_muc_cloud_events_url = "', this.functionUrl.url, '"']),
        Fn.join('', ['ping_muc_cloud_webhook_secret = "<output of: ', fetch(this.webhookSecret.secretArn), '>"']),
        Fn.join('', ['ping_muc_cloud_api_secret = "<output of: ', fetch(this.apiSecret.secretArn), '>"']),
      ]),
    });
    new CfnOutput(this, 'EventsFunctionName', { value: this.eventsFunction.functionName });
    new CfnOutput(this, 'RoundFunctionName', { value: this.roundFunction.functionName });
    new CfnOutput(this, 'TableName', { value: this.table.tableName, description: 'Join store (retained on stack deletion)' });
    new CfnOutput(this, 'ScheduleGroupName', { value: groupName });
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: this.deadLetterQueue.queueUrl });
    const topicOutput = new CfnOutput(this, 'AlarmTopicArn', { value: topic.topicArn, description: 'Alarm notifications' });
    topicOutput.condition = hasAlarmEmail;

    Tags.of(this).add('project', 'ping-muc');
  }
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Feature flags of a current `cdk init` that affect this stack (no cdk.json needed). */
export const APP_CONTEXT: Record<string, unknown> = {
  '@aws-cdk/core:target-partitions': ['aws', 'aws-cn', 'aws-us-gov'],
  '@aws-cdk/aws-iam:minimizePolicies': true,
  '@aws-cdk/core:enablePartitionLiterals': true,
  '@aws-cdk/aws-iam:standardizedServicePrincipals': true,
  '@aws-cdk/aws-lambda:recognizeLayerVersion': true,
  '@aws-cdk/aws-lambda:recognizeVersionProps': true,
  '@aws-cdk/core:checkSecretUsage': true,
};

export interface BuildOptions extends PingMucStackProps {
  readonly outdir?: string;
  readonly stackName?: string;
}

/** The app with its one stack, as `npm run synth`/`deploy` and the tests build it. */
export function buildApp(options: BuildOptions = {}): { app: App; stack: PingMucStack } {
  const app = new App({ outdir: options.outdir, context: APP_CONTEXT });
  const stackName = options.stackName ?? (app.node.tryGetContext('stackName') as string | undefined) ?? 'PingMuc';
  const stack = new PingMucStack(app, stackName, {
    ...options,
    description: 'ping-muc: heals MUC ghosts after lost s2s links (XEP-0410 self-pings)',
  });
  return { app, stack };
}
