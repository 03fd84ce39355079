// The ping-muc stack: table, secrets, scheduling, two functions, alarms, dashboard, outputs.
// Everything is configured by CloudFormation parameters, so one synthesized template serves
// every account and region (no lookups, no context needed: synth works offline).
// Every resource is declared with the stack as its scope, under the logical ID it has always
// had, so an update of a deployed stack replaces nothing.
import {
  App,
  Aws,
  type CfnCondition,
  Duration,
  Fn,
  Stack,
  Tags,
  type CfnParameter,
  type StackProps,
} from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { ENV } from '../lib/support/config';
import { alarmTopic, declareAlarms } from './alarms';
import { REPO_ROOT, type FunctionName } from './bundling';
import { acknowledgeChecks } from './checks';
import { declareDashboard } from './dashboard';
import { PingMucFunction, SIZING } from './function';
import { allow } from './iam';
import { declareOutputs } from './outputs';
import { declareParameters, unlessEquals, type Parameters } from './parameters';
import { connectRoundQueue, roundQueue } from './queue';
import {
  allowSchedulerToRun,
  deadLetterQueue,
  passSchedulerRole,
  reconcilerSchedule,
  scheduleGroup,
  schedulerRole,
  schedulesArn,
} from './scheduling';
import { joinStoreGrants, joinTable } from './table';

/** Async invocation of the round function (EventBridge Scheduler invokes Lambda asynchronously). */
export const ROUND_ASYNC = { retryAttempts: 2, maxEventAgeSeconds: 3600 } as const;

export interface PingMucStackProps extends StackProps {
  /** Entry files, relative to the repository root or absolute (tests may substitute stubs). */
  readonly entries?: Partial<Record<FunctionName, string>>;
  /** Project root for bundling (must contain the entries and a package-lock.json). */
  readonly projectRoot?: string;
}

export class PingMucStack extends Stack {
  readonly table: dynamodb.Table;
  readonly eventsFunction: PingMucFunction;
  readonly roundFunction: PingMucFunction;
  readonly schedulerRole: iam.Role;
  readonly scheduleGroup: scheduler.ScheduleGroup;
  readonly reconciler: scheduler.CfnSchedule;
  readonly deadLetterQueue: sqs.Queue;
  readonly roundQueue: sqs.Queue;
  readonly webhookSecret: secretsmanager.Secret;
  readonly apiSecret: secretsmanager.Secret;
  readonly functionUrl: lambda.FunctionUrl;
  readonly dashboard: cloudwatch.Dashboard;
  readonly alarms: cloudwatch.Alarm[];
  private hasHostRegistry: CfnCondition | undefined;

  constructor(scope: Construct, id: string, props: PingMucStackProps = {}) {
    super(scope, id, props);
    const params = declareParameters(this);
    this.table = joinTable(
      this,
      'Table',
      unlessEquals(this, 'IsTableDeletionProtected', params.TableDeletionProtection, 'false'),
      {
        provisioned: unlessEquals(this, 'IsTableProvisioned', params.TableBilling, 'on-demand'),
        minWrite: params.TableMinWriteCapacity,
        maxWrite: params.TableMaxWriteCapacity,
        minRead: params.TableMinReadCapacity,
        maxRead: params.TableMaxReadCapacity,
      },
    );
    this.webhookSecret = signingSecret(
      this,
      'WebhookSecret',
      "signs the XMPP server's webhook events (ping_muc_cloud_webhook_secret)",
    );
    this.apiSecret = signingSecret(
      this,
      'ApiSecret',
      "signs requests to the XMPP server's stanza API (ping_muc_cloud_api_secret)",
    );
    this.deadLetterQueue = deadLetterQueue(this, 'DeadLetterQueue');
    this.roundQueue = roundQueue(this, 'RoundQueue', this.deadLetterQueue);
    this.scheduleGroup = scheduleGroup(this, 'ScheduleGroup');
    this.schedulerRole = schedulerRole(this, 'SchedulerRole', this.scheduleGroup);

    const shared = {
      projectRoot: props.projectRoot ?? REPO_ROOT,
      logRetentionDays: params.LogRetentionDays.valueAsNumber,
      logLevel: params.LogLevel.valueAsString,
    };
    this.roundFunction = this.declareRound(params, { ...shared, entry: props.entries?.round });
    this.eventsFunction = this.declareEvents(params, { ...shared, entry: props.entries?.events });
    // The request signature is verified in code (Standard Webhooks HMAC), hence auth NONE.
    this.functionUrl = this.eventsFunction.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });
    allowSchedulerToRun(this.schedulerRole, this.roundFunction, this.deadLetterQueue);
    this.reconciler = reconcilerSchedule(
      this,
      'Reconciler',
      this.scheduleGroup,
      this.schedulerRole,
      this.roundFunction,
    );
    connectRoundQueue(this, this.roundQueue, {
      round: this.roundFunction,
      events: this.eventsFunction,
      schedulerRole: this.schedulerRole,
      maxConcurrency: params.RoundQueueConcurrency,
    });
    // A job due within a second is invoked at once (lib/adapters/scheduler-sqs.ts).
    new iam.Policy(this, 'RoundInvokesItself', {
      roles: [this.roundFunction.role as iam.IRole],
      statements: [allow('InvokeRoundNow', ['lambda:InvokeFunction'], [this.roundFunction.functionArn])],
    });
    this.readHostRegistry(params);

    // The alarms, dashboard and outputs read the resources above from the stack itself.
    const alarms = alarmTopic(this, params.AlarmEmail);
    this.alarms = declareAlarms(this, alarms, this);
    this.dashboard = declareDashboard(
      this,
      'DashboardView',
      this,
      unlessEquals(this, 'HasDashboard', params.Dashboard, 'false'),
    );
    declareOutputs(this, this, alarms);
    // cfn-lint's schemas of these types have no Tags.
    Tags.of(this).add('project', 'ping-muc', {
      excludeResourceTypes: ['AWS::CloudWatch::Dashboard', 'AWS::ApplicationAutoScaling::ScalableTarget'],
    });
    acknowledgeChecks(this);
  }

  /**
   * With a host registry (HostRegistryParameter set): both functions read it, the events function
   * the webhook keys it names and the round function the API keys, by the naming convention of
   * docs/hosts.md (ping-muc/webhook/*, ping-muc/api/*). Without one these policies do not exist.
   */
  private readHostRegistry(params: Parameters): void {
    const name = params.HostRegistryParameter.valueAsString;
    const parameterArn = `arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:parameter${name}`;
    const secrets = (kind: string) =>
      `arn:${Aws.PARTITION}:secretsmanager:${Aws.REGION}:${Aws.ACCOUNT_ID}:secret:ping-muc/${kind}/*`;
    const grants: Array<[string, PingMucFunction, string]> = [
      ['EventsReadsHostRegistry', this.eventsFunction, secrets('webhook')],
      ['RoundReadsHostRegistry', this.roundFunction, secrets('api')],
    ];
    for (const [id, fn, secretArns] of grants) {
      const policy = new iam.Policy(this, id, {
        roles: [fn.role as iam.IRole],
        statements: [
          allow('ReadHostRegistry', ['ssm:GetParameter'], [parameterArn]),
          allow('ReadHostKeys', ['secretsmanager:GetSecretValue'], [secretArns]),
        ],
      });
      (policy.node.defaultChild as iam.CfnPolicy).cfnOptions.condition = this.hasHostRegistry;
    }
  }

  /** Settings both functions read: the join store, how to schedule a round, the host registry. */
  private schedulingEnv(params: Parameters): Record<string, string> {
    this.hasHostRegistry ??= unlessEquals(this, 'HasHostRegistry', params.HostRegistryParameter, '');
    return {
      [ENV.hostsParameter]: Fn.conditionIf(
        this.hasHostRegistry.logicalId,
        params.HostRegistryParameter.valueAsString,
        Aws.NO_VALUE,
      ).toString(),
      [ENV.table]: this.table.tableName,
      [ENV.delaySeconds]: params.DelaySeconds.valueAsString,
      [ENV.scheduleGroup]: this.scheduleGroup.scheduleGroupName,
      [ENV.schedulerRoleArn]: this.schedulerRole.roleArn,
      [ENV.dlqArn]: this.deadLetterQueue.queueArn,
      [ENV.metrics]: params.Metrics.valueAsString,
      [ENV.roundQueueUrl]: this.roundQueue.queueUrl,
      [ENV.roundQueueArn]: this.roundQueue.queueArn,
    };
  }

  /** Grants both functions need: the join store, and passing the execution role to Scheduler. */
  private sharedGrants(fn: FunctionName): iam.PolicyStatement[] {
    return [...joinStoreGrants(this.table, fn), passSchedulerRole(this.schedulerRole)];
  }

  /**
   * Reserved concurrency from a parameter, 0 meaning none (set on the L1: the value is a
   * parameter). A new account (quota 10, all of it kept unreserved) accepts only 0.
   */
  private reserve(fn: PingMucFunction, param: CfnParameter, conditionId: string): void {
    const isReserved = unlessEquals(this, conditionId, param, '0');
    (fn.node.defaultChild as lambda.CfnFunction).reservedConcurrentExecutions = Fn.conditionIf(
      isReserved.logicalId,
      param.valueAsNumber,
      Aws.NO_VALUE,
    ) as unknown as number;
  }

  /**
   * An optional parameter's value, or no variable at all when it is empty (lib's default then
   * applies), under a condition `conditionId`.
   */
  private ifSet(conditionId: string, param: CfnParameter): string {
    const isSet = unlessEquals(this, conditionId, param, '');
    return Fn.conditionIf(isSet.logicalId, param.valueAsString, Aws.NO_VALUE).toString();
  }

  private declareRound(params: Parameters, shared: FunctionBasics): PingMucFunction {
    const dlqArn = this.deadLetterQueue.queueArn;
    const round = new PingMucFunction(this, 'round', {
      ...shared,
      description: 'ping-muc: self-ping round for one lost s2s link (jobs from the round queue)',
      environment: {
        ...this.schedulingEnv(params),
        [ENV.apiUrl]: params.ApiUrl.valueAsString,
        [ENV.apiBatch]: params.ApiBatch.valueAsString,
        // Unset by default: lib's default then follows ApiBatch (ten batches).
        [ENV.concurrency]: this.ifSet('HasConcurrency', params.Concurrency),
        [ENV.serverMaxInflight]: this.ifSet('HasServerMaxInflight', params.ServerMaxInflight),
        [ENV.rechecks]: params.Rechecks.valueAsString,
        [ENV.retryAttempts]: params.RetryAttempts.valueAsString,
        [ENV.apiSecretArn]: this.apiSecret.secretArn,
        // Its own timeout: lib refuses at cold start a deadline margin that cannot fit in it.
        [ENV.roundTimeoutSeconds]: String(SIZING.round.timeoutSeconds),
      },
      grants: [
        ...this.sharedGrants('round'),
        // Its own continuations and retries (lib never deletes a schedule: they delete themselves).
        allow('CreateRoundSchedules', ['scheduler:CreateSchedule'], [schedulesArn(this.scheduleGroup)]),
        allow('ReadApiSecret', ['secretsmanager:GetSecretValue'], [this.apiSecret.secretArn]),
        // Scheduler invokes Lambda asynchronously: a round that throws is retried by Lambda, then
        // lands in the DLQ (the Scheduler DLQ only sees invocations it could not deliver).
        allow('FailedRoundsToDlq', ['sqs:SendMessage'], [dlqArn]),
      ],
    });
    round.configureAsyncInvoke({
      retryAttempts: ROUND_ASYNC.retryAttempts,
      maxEventAge: Duration.seconds(ROUND_ASYNC.maxEventAgeSeconds),
      onFailure: { bind: () => ({ destination: dlqArn }) },
    });
    // Also a cap: at most this many rounds at once towards the XMPP server (a flapping link).
    this.reserve(round, params.RoundReservedConcurrency, 'IsRoundConcurrencyReserved');
    return round;
  }

  private declareEvents(params: Parameters, shared: FunctionBasics): PingMucFunction {
    const events = new PingMucFunction(this, 'events', {
      ...shared,
      description: 'ping-muc: signed webhook events of the XMPP server (Function URL)',
      environment: {
        ...this.schedulingEnv(params),
        [ENV.roundFunctionArn]: this.roundFunction.functionArn,
        [ENV.webhookSecretArn]: this.webhookSecret.secretArn,
      },
      grants: [
        ...this.sharedGrants('events'),
        allow('InvokeRoundNow', ['lambda:InvokeFunction'], [this.roundFunction.functionArn]),
        allow('CreateRoundSchedules', ['scheduler:CreateSchedule'], [schedulesArn(this.scheduleGroup)]),
        allow('ReadWebhookSecret', ['secretsmanager:GetSecretValue'], [this.webhookSecret.secretArn]),
      ],
    });
    // A reservation, so a flood of forged requests cannot starve the account's other functions.
    this.reserve(events, params.EventsReservedConcurrency, 'IsEventsConcurrencyReserved');
    return events;
  }
}

type FunctionBasics = { projectRoot: string; logRetentionDays: number; logLevel: string; entry: string | undefined };

/** A generated key, shared with Prosody: the template and the environment hold only its ARN. */
function signingSecret(scope: Construct, id: string, purpose: string): secretsmanager.Secret {
  return new secretsmanager.Secret(scope, id, {
    description: `ping-muc: ${purpose}`,
    // Used as-is as the HMAC key (raw UTF-8): 48 alphanumerics, ~285 bits.
    generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
  });
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
