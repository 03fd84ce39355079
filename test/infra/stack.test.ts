// The synthesized CloudFormation template of infra/ (real app, real bundling, offline).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { DEFAULTS, ENV, loadConfig, requireAws } from '../../lib/support/config';
import { parseMasterKey } from '../../lib/domain/keys';
import { prosodyLines } from '../../scripts/host-keys';
import { checkRoundTimeout, deadlineMarginMs } from '../../lib/app/round';
import { RECONCILE_PERIOD_MS } from '../../lib/app/reconcile';
import { isReconcile } from '../../functions/round';
import { INDEXES, KEYS, tableDefinition } from '../../lib/adapters/dynamodb/table';
import { SOURCE_MAP_FILE, esbuildOptions, type FunctionName } from '../../infra/bundling';
import { SIZING } from '../../infra/function';
import { COUNTS, MEASURES } from '../../infra/metrics';
import { PARAMETER_DEFAULTS } from '../../infra/parameters';
import { ROUND_QUEUE_MAX_RECEIVES, ROUND_QUEUE_VISIBILITY_SECONDS } from '../../infra/queue';
import { ROUND_ASYNC } from '../../infra/stack';
import { DYNAMODB_INDEX_ACTIONS, DYNAMODB_TABLE_ACTIONS } from '../../infra/table';
import { evaluate, type EvalContext } from '../../harness/cfn-eval';
import {
  asArray,
  findKeys,
  getAtt,
  props,
  ref,
  resource,
  roleStatements,
  synth,
  type CfnTemplate,
  type Statement,
  type Synth,
} from '../../harness/synth';

let s: Synth;
let json: CfnTemplate;
const ids = {} as Record<
  | 'table'
  | 'events'
  | 'round'
  | 'eventsRole'
  | 'roundRole'
  | 'schedulerRole'
  | 'group'
  | 'dlq'
  | 'roundQueue'
  | 'masterKey'
  | 'eventsLogs'
  | 'roundLogs'
  | 'url'
  | 'topic',
  string
>;

beforeAll(() => {
  s = synth();
  json = s.json;
  ids.table = resource(json, 'AWS::DynamoDB::Table', 'Table')[0];
  ids.events = resource(json, 'AWS::Lambda::Function', 'EventsFunction')[0];
  ids.round = resource(json, 'AWS::Lambda::Function', 'RoundFunction')[0];
  ids.eventsRole = resource(json, 'AWS::IAM::Role', 'EventsRole')[0];
  ids.roundRole = resource(json, 'AWS::IAM::Role', 'RoundRole')[0];
  ids.schedulerRole = resource(json, 'AWS::IAM::Role', 'SchedulerRole')[0];
  ids.group = resource(json, 'AWS::Scheduler::ScheduleGroup', 'ScheduleGroup')[0];
  ids.dlq = resource(json, 'AWS::SQS::Queue', 'DeadLetterQueue')[0];
  ids.roundQueue = resource(json, 'AWS::SQS::Queue', 'RoundQueue')[0];
  ids.masterKey = resource(json, 'AWS::SecretsManager::Secret', 'MasterKey')[0];
  ids.eventsLogs = resource(json, 'AWS::Logs::LogGroup', 'EventsLogs')[0];
  ids.roundLogs = resource(json, 'AWS::Logs::LogGroup', 'RoundLogs')[0];
  ids.url = resource(json, 'AWS::Lambda::Url', 'EventsFunction')[0];
  ids.topic = resource(json, 'AWS::SNS::Topic', 'AlarmTopic')[0];
}, 120_000);

afterAll(() => s?.cleanup());

const fn = (id: string) => props(json.Resources[id]!);
const tableArn = () => getAtt(ids.table, 'Arn');
const indexArns = () => {
  const arns = INDEXES.map((index) => ({ 'Fn::Join': ['', [tableArn(), `/index/${index.name}`]] }));
  // One index: IAM's Resource is that one ARN, not a list.
  return arns.length === 1 ? arns[0] : arns;
};
const schedulesArn = () => ({
  'Fn::Join': [
    '',
    [
      'arn:',
      ref('AWS::Partition'),
      ':scheduler:',
      ref('AWS::Region'),
      ':',
      ref('AWS::AccountId'),
      `:schedule/${String(props(json.Resources[ids.group]!).Name)}/*`,
    ],
  ],
});

/** Statements normalized for comparison: sorted actions, no Sid. */
function normalize(statements: Statement[]) {
  return statements
    .map(({ Sid: _sid, ...st }) => ({
      ...st,
      Action: asArray(st.Action).slice().sort(),
      ...(Array.isArray(st.Resource)
        ? { Resource: [...st.Resource].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))) }
        : {}),
    }))
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

describe('resources', () => {
  it('has exactly the expected resources', () => {
    const counts: Record<string, number> = {};
    for (const r of Object.values(json.Resources)) counts[r.Type] = (counts[r.Type] ?? 0) + 1;
    expect(counts).toEqual({
      'AWS::DynamoDB::Table': 1,
      // The master key: every server's keys are derived from it.
      'AWS::SecretsManager::Secret': 1,
      // The DLQ and the round queue, each with its TLS-only policy.
      'AWS::SQS::Queue': 2,
      'AWS::SQS::QueuePolicy': 2,
      'AWS::Scheduler::ScheduleGroup': 1,
      // The reconciler's: lib's own schedules are created at run time.
      'AWS::Scheduler::Schedule': 1,
      'AWS::IAM::Role': 3,
      // The two functions' default policies, the round invoking itself, the scheduler role's,
      // the round consuming the round queue and the events function sending to it.
      'AWS::IAM::Policy': 6,
      'AWS::Logs::LogGroup': 2,
      'AWS::Lambda::Function': 2,
      'AWS::Lambda::EventInvokeConfig': 1,
      'AWS::Lambda::EventSourceMapping': 1,
      'AWS::Lambda::Url': 1,
      'AWS::Lambda::Permission': 2,
      'AWS::SNS::Topic': 1,
      'AWS::SNS::TopicPolicy': 1,
      'AWS::SNS::Subscription': 1,
      'AWS::CloudWatch::Alarm': 16,
      // Only with Dashboard=true.
      'AWS::CloudWatch::Dashboard': 1,
      // TableBilling provisioned only (test/infra/table-billing.test.ts): reads and writes of the table and its index.
      'AWS::ApplicationAutoScaling::ScalableTarget': 4,
      'AWS::ApplicationAutoScaling::ScalingPolicy': 4,
    });
  });

  it('the table: configured as lib declares it (retained except on a failed create)', () => {
    const def = tableDefinition('x');
    s.template.hasResource('AWS::DynamoDB::Table', {
      // Kept on stack deletion and replacement; deleted when the first create rolls back.
      DeletionPolicy: 'RetainExceptOnCreate',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        BillingMode: { 'Fn::If': ['IsTableProvisioned', 'PROVISIONED', 'PAY_PER_REQUEST'] },
        ProvisionedThroughput: Match.anyValue(),
        KeySchema: def.KeySchema,
        AttributeDefinitions: Match.arrayEquals(def.AttributeDefinitions!),
        GlobalSecondaryIndexes: Match.arrayEquals(
          def.GlobalSecondaryIndexes!.map((g) => ({
            IndexName: g.IndexName,
            KeySchema: g.KeySchema,
            Projection: g.Projection,
            ProvisionedThroughput: Match.anyValue(),
          })),
        ),
        TimeToLiveSpecification: { AttributeName: KEYS.ttl, Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: { 'Fn::If': ['IsTableDeletionProtected', true, false] },
      },
    });
    // Off by default, so that the rollback of a failed first create can delete the table; on
    // when the operator sets it after the first deploy.
    const protectedWith = (p?: string) =>
      (evaluate(ctx(p ? { TableDeletionProtection: p } : {}), fn(ids.table)) as Record<string, unknown>)
        .DeletionProtectionEnabled;
    expect([protectedWith(), protectedWith('false'), protectedWith('true')]).toEqual([false, false, true]);
    // No fixed name: a retained table never blocks a redeploy.
    expect(fn(ids.table).TableName).toBeUndefined();
  });

  it('the functions: each runs Node.js 22 on arm64 as SIZING says with its own log group', () => {
    for (const [id, size, logs] of [
      [ids.events, SIZING.events, ids.eventsLogs],
      [ids.round, SIZING.round, ids.roundLogs],
    ] as const) {
      expect(fn(id)).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        MemorySize: size.memoryMb,
        Timeout: size.timeoutSeconds,
        LoggingConfig: {
          LogGroup: ref(logs),
          LogFormat: 'JSON',
          SystemLogLevel: 'WARN',
          ApplicationLogLevel: ref('LogLevel'),
        },
      });
      // Lambda gives EMF lines (no level) the level INFO: a higher filter would drop every metric.
      expect(json.Parameters!.LogLevel).toMatchObject({ Default: 'INFO', AllowedValues: ['DEBUG', 'INFO'] });
      expect(fn(logs)).toEqual(expect.objectContaining({ RetentionInDays: ref('LogRetentionDays') }));
    }
    expect(SIZING.events.timeoutSeconds).toBeGreaterThanOrEqual(10);
    expect(SIZING.events.timeoutSeconds).toBeLessThanOrEqual(30);
    expect(SIZING.round.memoryMb).toBeGreaterThanOrEqual(512);
  });

  it("the round function's timeout leaves room for lib's checkpoint margin", () => {
    // lib stops starting pages when less than deadlineMarginMs is left; with the largest margin
    // any concurrency can give (a join costs up to three calls: a self-ping, its short re-check
    // when unconfirmed, a notification), at least a third of every invocation still does work,
    // and half of it with the defaults (below).
    for (const concurrency of [1, 8, 32, 100, 1024]) {
      for (const apiBatch of ['1', String(DEFAULTS.apiBatch), '500']) {
        const config = loadConfig({ [ENV.concurrency]: String(concurrency), [ENV.apiBatch]: apiBatch });
        expect(deadlineMarginMs(config) * 3).toBeLessThanOrEqual(SIZING.round.timeoutSeconds * 1000 * 2);
      }
    }
    // The template's defaults (batches of 100, ten in flight: C = 1,000), the smallest and the
    // largest batches: lib's start-up check passes with the function's own timeout.
    for (const ApiBatch of [undefined, '1', '500']) {
      const config = loadConfig(envOf(ids.round, ApiBatch === undefined ? {} : { ApiBatch }));
      expect(config.roundTimeoutMs).toBe(SIZING.round.timeoutSeconds * 1000);
      expect(() => checkRoundTimeout(config)).not.toThrow();
      expect(deadlineMarginMs(config) * 3).toBeLessThanOrEqual(SIZING.round.timeoutSeconds * 1000 * 2);
      if (ApiBatch === undefined) {
        expect(deadlineMarginMs(config) * 2).toBeLessThanOrEqual(SIZING.round.timeoutSeconds * 1000);
      }
    }
    expect(deadlineMarginMs(loadConfig(envOf(ids.round)))).toBe(3 * (3 * DEFAULTS.apiTimeoutMs + 1_000) + 10_000);
  });

  it('the events function: Function URL with auth NONE', () => {
    expect(fn(ids.url)).toEqual({ AuthType: 'NONE', TargetFunctionArn: getAtt(ids.events, 'Arn') });
    s.template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunctionUrl',
      FunctionName: getAtt(ids.events, 'Arn'),
      FunctionUrlAuthType: 'NONE',
      Principal: '*',
    });
    s.template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: getAtt(ids.events, 'Arn'),
      InvokedViaFunctionUrl: true,
      Principal: '*',
    });
  });

  it('reserved concurrency of each function comes from a parameter (by default 20 for the public events URL only)', () => {
    for (const [id, param, condition, byDefault] of [
      [ids.events, 'EventsReservedConcurrency', 'IsEventsConcurrencyReserved', '20'],
      [ids.round, 'RoundReservedConcurrency', 'IsRoundConcurrencyReserved', undefined],
    ] as const) {
      expect(fn(id).ReservedConcurrentExecutions).toEqual({ 'Fn::If': [condition, ref(param), ref('AWS::NoValue')] });
      const reserved = (p?: string) =>
        (evaluate(ctx(p === undefined ? {} : { [param]: p }), fn(id)) as Record<string, unknown>)
          .ReservedConcurrentExecutions;
      expect(reserved(), param).toBe(byDefault);
      // New accounts: a quota of 10, and Lambda keeps 10 unreserved: 0 deploys there.
      expect(reserved('0'), param).toBeUndefined();
      expect(reserved('5'), param).toBe('5');
    }
  });

  it('the master key: generated as {"current": ≥ 32 alphanumerics} outside the template', () => {
    const p = fn(ids.masterKey);
    expect(p.SecretString).toBeUndefined();
    expect(p.GenerateSecretString).toMatchObject({
      SecretStringTemplate: '{}',
      GenerateStringKey: 'current',
      ExcludePunctuation: true,
      IncludeSpace: false,
    });
    expect((p.GenerateSecretString as { PasswordLength: number }).PasswordLength).toBeGreaterThanOrEqual(32);
    expect(findKeys(json, 'SecretString')).toEqual([]);
  });

  it('failed round invocations land in the DLQ after Lambda retries', () => {
    s.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: ref(ids.round),
      MaximumRetryAttempts: ROUND_ASYNC.retryAttempts,
      MaximumEventAgeInSeconds: ROUND_ASYNC.maxEventAgeSeconds,
      DestinationConfig: { OnFailure: { Destination: getAtt(ids.dlq, 'Arn') } },
    });
  });

  it('the DLQ keeps its messages 14 days encrypted behind TLS', () => {
    expect(fn(ids.dlq)).toEqual({
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 1_209_600,
      Tags: expect.any(Array),
    });
    // TLS only (Scheduler and Lambda send over TLS).
    s.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [ref(ids.dlq)],
      PolicyDocument: {
        Statement: [Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })],
      },
    });
  });

  it('the round queue hides a received job 6 x the round timeout before the DLQ takes it', () => {
    expect(ROUND_QUEUE_VISIBILITY_SECONDS).toBeGreaterThanOrEqual(6 * SIZING.round.timeoutSeconds);
    expect(fn(ids.roundQueue)).toEqual({
      SqsManagedSseEnabled: true,
      VisibilityTimeout: ROUND_QUEUE_VISIBILITY_SECONDS,
      MessageRetentionPeriod: 4 * 86_400,
      RedrivePolicy: { deadLetterTargetArn: getAtt(ids.dlq, 'Arn'), maxReceiveCount: ROUND_QUEUE_MAX_RECEIVES },
      Tags: expect.any(Array),
    });
    expect(ROUND_QUEUE_MAX_RECEIVES).toBeGreaterThanOrEqual(5);
    s.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [ref(ids.roundQueue)],
      PolicyDocument: {
        Statement: [Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })],
      },
    });
  });

  it('the round function takes one job per invocation from the round queue (capped by RoundQueueConcurrency)', () => {
    const [id, mapping] = resource(json, 'AWS::Lambda::EventSourceMapping', 'RoundQueueSource');
    expect(props(mapping)).toEqual({
      EventSourceArn: getAtt(ids.roundQueue, 'Arn'),
      FunctionName: ref(ids.round),
      BatchSize: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: ref('RoundQueueConcurrency') },
      Tags: expect.any(Array),
    });
    // Created once the round function may receive from the queue.
    expect(asArray(json.Resources[id]!.DependsOn as string | string[])).toEqual(
      expect.arrayContaining([resource(json, 'AWS::IAM::Policy', 'RoundQueueConsumer')[0]]),
    );
    // Lambda's range for MaximumConcurrency; the default is its ceiling (no cap in practice).
    expect(json.Parameters!.RoundQueueConcurrency).toMatchObject({ Type: 'Number', MinValue: 2, MaxValue: 1000 });
    expect(json.Parameters!.RoundQueueConcurrency!.Default).toBe(1000);
  });

  it('the parameters: each default is the one lib documents (ApiUrl: https or empty)', () => {
    const p = json.Parameters!;
    expect(p.ApiUrl!.Default).toBeUndefined();
    expect(new RegExp(String(p.ApiUrl!.AllowedPattern)).test('https://xmpp.example.com/api')).toBe(true);
    expect(new RegExp(String(p.ApiUrl!.AllowedPattern)).test('http://xmpp.example.com/api')).toBe(false);
    expect(new RegExp(String(p.ApiUrl!.AllowedPattern)).test('')).toBe(true);
    expect(p.HostRegistry!.AllowedValues).toEqual(['none', 'table']);
    expect(p.DelaySeconds!.Default).toBe(DEFAULTS.delaySeconds);
    // Unset by default: lib's default (which follows ApiBatch) applies.
    expect(p.Concurrency!.Default).toBe('');
    expect(p.ApiBatch!.Default).toBe('100');
    expect(p.ApiBatch!.Default).toBe(String(DEFAULTS.apiBatch));
    expect(p.Rechecks!.Default).toBe(DEFAULTS.rechecks);
    expect(p.RetryAttempts!.Default).toBe(DEFAULTS.retryAttempts);
    for (const [name, def] of Object.entries(PARAMETER_DEFAULTS))
      expect(String(p[name]?.Default), name).toBe(String(def));
    expect(Object.keys(p).sort()).toEqual([...Object.keys(PARAMETER_DEFAULTS), 'ApiUrl', 'BootstrapVersion'].sort());
  });
});

describe('scheduling', () => {
  it('the execution role: only scheduler.amazonaws.com of this account or group may assume it', () => {
    const role = props(json.Resources[ids.schedulerRole]!);
    expect(role.AssumeRolePolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: 'sts:AssumeRole',
          Principal: { Service: 'scheduler.amazonaws.com' },
          Condition: {
            StringEquals: { 'aws:SourceAccount': ref('AWS::AccountId'), 'aws:SourceArn': getAtt(ids.group, 'Arn') },
          },
        },
      ],
    });
    expect(role.ManagedPolicyArns).toBeUndefined();
  });

  it('the execution role: may only start round jobs or dead-letter them', () => {
    expect(normalize(roleStatements(json, ids.schedulerRole))).toEqual(
      normalize([
        { Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: getAtt(ids.round, 'Arn') },
        { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: getAtt(ids.dlq, 'Arn') },
        { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: getAtt(ids.roundQueue, 'Arn') },
      ]),
    );
  });
});

describe('the reconciler', () => {
  it('a schedule in the group invokes the round function with {"reconcile":true} every minute', () => {
    const [, schedule] = resource(json, 'AWS::Scheduler::Schedule', 'Reconciler');
    const p = props(schedule);
    expect(p.ScheduleExpression).toBe('rate(1 minute)');
    expect(`rate(${RECONCILE_PERIOD_MS / 60_000} minute)`).toBe(p.ScheduleExpression);
    expect(p.GroupName).toEqual(props(json.Resources[ids.group]!).Name);
    expect(p.State).toBe('ENABLED');
    expect(p.FlexibleTimeWindow).toEqual({ Mode: 'OFF' });
    const target = p.Target as Record<string, unknown>;
    expect(target.Arn).toEqual(getAtt(ids.round, 'Arn'));
    expect(target.RoleArn).toEqual(getAtt(ids.schedulerRole, 'Arn'));
    expect(JSON.parse(target.Input as string)).toEqual({ reconcile: true });
    expect(isReconcile(JSON.parse(target.Input as string))).toBe(true);
    // No retry and no dead-letter: the next minute's run is the retry.
    expect(target.RetryPolicy).toEqual({ MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 });
    expect(target.DeadLetterConfig).toBeUndefined();
    // The execution role's trust (this group only) and its one invoke grant cover it.
    const trust = props(json.Resources[ids.schedulerRole]!).AssumeRolePolicyDocument as { Statement: Statement[] };
    expect(JSON.stringify(trust.Statement[0]!.Condition)).toContain(JSON.stringify(getAtt(ids.group, 'Arn')));
    expect(roleStatements(json, ids.schedulerRole)).toContainEqual(
      expect.objectContaining({ Action: 'lambda:InvokeFunction', Resource: getAtt(ids.round, 'Arn') }),
    );
  });

  it('an alarm when it re-arms work three minutes in a row (windows plus rounds per minute)', () => {
    const p = props(resource(json, 'AWS::CloudWatch::Alarm', 'ReconciledAlarm')[1]);
    expect([p.EvaluationPeriods, p.DatapointsToAlarm, p.Threshold, p.ComparisonOperator, p.TreatMissingData]).toEqual([
      3,
      3,
      0,
      'GreaterThanThreshold',
      'notBreaching',
    ]);
    // The total per Stack that lib publishes by default.
    expect([p.Namespace, p.MetricName, p.Dimensions, p.Statistic, p.Period]).toEqual([
      'PingMuc',
      'Reconciled',
      [{ Name: 'Stack', Value: ref('AWS::StackName') }],
      'Sum',
      60,
    ]);
    expect(String(p.AlarmDescription)).toMatch(/docs\/operations\.md/);
  });
});

describe('least privilege', () => {
  const common = (name: FunctionName) => [
    { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'] },
    { Effect: 'Allow', Action: [...DYNAMODB_TABLE_ACTIONS[name]], Resource: tableArn() },
    { Effect: 'Allow', Action: [...DYNAMODB_INDEX_ACTIONS], Resource: indexArns() },
    {
      Effect: 'Allow',
      Action: 'iam:PassRole',
      Resource: getAtt(ids.schedulerRole, 'Arn'),
      Condition: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
    },
  ];

  it('the events function: exactly the grants its work needs', () => {
    const [logs, ...rest] = common('events');
    expect(normalize(roleStatements(json, ids.eventsRole))).toEqual(
      normalize([
        { ...logs!, Resource: getAtt(ids.eventsLogs, 'Arn') } as Statement,
        ...(rest as Statement[]),
        { Effect: 'Allow', Action: 'scheduler:CreateSchedule', Resource: schedulesArn() },
        { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: ref(ids.masterKey) },
        // A round due within a second is invoked at once; within 15 minutes it waits in the queue.
        { Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: getAtt(ids.round, 'Arn') },
        { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: getAtt(ids.roundQueue, 'Arn') },
      ]),
    );
  });

  it('the round function: exactly the grants its work needs (no DeleteSchedule: lib never deletes one)', () => {
    const [logs, ...rest] = common('round');
    expect(normalize(roleStatements(json, ids.roundRole))).toEqual(
      normalize([
        { ...logs!, Resource: getAtt(ids.roundLogs, 'Arn') } as Statement,
        ...(rest as Statement[]),
        { Effect: 'Allow', Action: 'scheduler:CreateSchedule', Resource: schedulesArn() },
        { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: ref(ids.masterKey) },
        { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: getAtt(ids.dlq, 'Arn') },
        { Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: getAtt(ids.round, 'Arn') },
        { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: getAtt(ids.roundQueue, 'Arn') },
        {
          Effect: 'Allow',
          Action: ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage'],
          Resource: getAtt(ids.roundQueue, 'Arn'),
        },
      ]),
    );
  });

  it('one secret for all hosts: no grant on any other secret or SSM', () => {
    const actions = [ids.eventsRole, ids.roundRole].flatMap((role) =>
      roleStatements(json, role).filter((st) => asArray(st.Action).some((a) => /^(secretsmanager|ssm):/.test(a))),
    );
    expect(actions.map((st) => st.Resource)).toEqual([ref(ids.masterKey), ref(ids.masterKey)]);
  });

  it('each function is granted exactly the AWS SDK commands its deployed bundle sends', () => {
    const used: Record<FunctionName, Set<string>> = {
      events: sdkActions(bundleOf(ids.events)),
      round: sdkActions(bundleOf(ids.round)),
    };
    const granted = (roleId: string) => new Set(roleStatements(json, roleId).flatMap((st) => asArray(st.Action)));
    for (const [name, roleId] of [
      ['events', ids.eventsRole],
      ['round', ids.roundRole],
    ] as const) {
      expect(used[name].size, name).toBeGreaterThan(5);
      for (const action of used[name]) expect(granted(roleId).has(action), `${name} calls ${action}`).toBe(true);
    }
    // Conversely, per function: no SDK-level grant its own bundle does not call (logs, PassRole,
    // the DLQ destination and consuming the round queue are the Lambda service's, not our code's).
    const byLambda = new Set([
      'sqs:ReceiveMessage',
      'sqs:DeleteMessage',
      'sqs:ChangeMessageVisibility',
      'sqs:GetQueueAttributes',
    ]);
    for (const [name, roleId] of [
      ['events', ids.eventsRole],
      ['round', ids.roundRole],
    ] as const) {
      const sdkGrants = [...granted(roleId)].filter(
        (a) => /^(dynamodb|scheduler|secretsmanager|ssm|lambda|sqs):/.test(a) && !byLambda.has(a),
      );
      expect(sdkGrants.sort(), name).toEqual([...used[name]].sort());
    }
  });

  it('no role has a managed policy (no AWSLambdaBasicExecutionRole: logs on *)', () => {
    for (const r of Object.values(json.Resources).filter((r) => r.Type === 'AWS::IAM::Role')) {
      expect(props(r).ManagedPolicyArns).toBeUndefined();
    }
    expect(Object.values(json.Resources).some((r) => r.Type === 'AWS::IAM::ManagedPolicy')).toBe(false);
  });

  it('no Allow in the template has a wildcard action or a "*" resource', () => {
    // A Deny may cover a whole service: the TLS-only policies (enforceSSL) deny sqs:* and sns:Publish.
    const statements = findKeys(json, 'Statement').flatMap(({ path, value }) =>
      asArray(value as Statement | Statement[]).map((st, i) => ({ path: `${path}[${i}]`, st })),
    );
    const allowed = statements.filter(({ st }) => st.Effect === 'Allow');
    const denied = statements.filter(({ st }) => st.Effect === 'Deny');
    expect(allowed.length).toBeGreaterThan(10);
    expect(allowed.length + denied.length).toBe(statements.length);
    for (const { path, st } of allowed) {
      expect((st as { NotAction?: unknown }).NotAction, path).toBeUndefined();
      for (const a of asArray(st.Action)) {
        expect(typeof a, path).toBe('string');
        expect(a, `${path}: ${a}`).toMatch(/^[a-z0-9-]+:[A-Za-z0-9]+$/); // service:Action, no * or ?
      }
    }
    for (const { path, st } of denied) {
      for (const a of asArray(st.Action)) expect(a, path).toMatch(/^[a-z0-9-]+:([A-Za-z0-9]+|\*)$/);
      expect(st.Condition, path).toEqual({ Bool: { 'aws:SecureTransport': 'false' } });
    }
    for (const { path, value } of [...findKeys(json, 'Resource'), ...findKeys(json, 'NotResource')]) {
      for (const r of asArray(value)) expect(r, path).not.toBe('*');
    }
    // The only principal "*" is the Function URL (auth NONE: the signature is checked in code).
    for (const r of Object.values(json.Resources).filter((r) => r.Type === 'AWS::Lambda::Permission')) {
      expect(props(r).FunctionName).toEqual(getAtt(ids.events, 'Arn'));
      expect(props(r).Action === 'lambda:InvokeFunctionUrl' || props(r).InvokedViaFunctionUrl === true).toBe(true);
    }
  });
});

// Fake deployment values: every Ref/GetAtt becomes a plausible physical id or ARN.
const ctx = (parameters: Record<string, string> = {}): EvalContext => ({
  template: json,
  parameters: { ApiUrl: 'https://xmpp.example.com:5281/ping_muc_cloud', ...parameters },
});
const envOf = (id: string, parameters?: Record<string, string>) =>
  (evaluate(ctx(parameters), fn(id).Environment) as { Variables: Record<string, string> }).Variables;

describe('environment wiring (names from lib/support/config.ts ENV)', () => {
  const scheduling = () => ({
    [ENV.registry]: { 'Fn::If': ['HasHostRegistry', 'table', ref('AWS::NoValue')] },
    [ENV.masterKeyArn]: ref(ids.masterKey),
    [ENV.table]: ref(ids.table),
    [ENV.delaySeconds]: ref('DelaySeconds'),
    [ENV.scheduleGroup]: props(json.Resources[ids.group]!).Name,
    [ENV.schedulerRoleArn]: getAtt(ids.schedulerRole, 'Arn'),
    [ENV.dlqArn]: getAtt(ids.dlq, 'Arn'),
    [ENV.metrics]: ref('Metrics'),
    [ENV.roundQueueUrl]: ref(ids.roundQueue),
    [ENV.roundQueueArn]: getAtt(ids.roundQueue, 'Arn'),
  });
  // Both functions: the metrics' Stack dimension, the log level, source-mapped stack traces.
  const common = () => ({
    PING_MUC_STACK: ref('AWS::StackName'),
    LOG_LEVEL: ref('LogLevel'),
    NODE_OPTIONS: '--enable-source-maps',
  });

  it('the events function: its environment is what its wiring reads', () => {
    expect(fn(ids.events).Environment).toEqual({
      Variables: {
        ...scheduling(),
        [ENV.roundFunctionArn]: getAtt(ids.round, 'Arn'),
        ...common(),
      },
    });
  });

  it('the round function: its environment is what its wiring reads (its own ARN comes from the context)', () => {
    expect(fn(ids.round).Environment).toEqual({
      Variables: {
        ...scheduling(),
        [ENV.apiUrl]: ref('ApiUrl'),
        [ENV.apiBatch]: ref('ApiBatch'),
        [ENV.concurrency]: { 'Fn::If': ['HasConcurrency', ref('Concurrency'), ref('AWS::NoValue')] },
        [ENV.serverMaxInflight]: { 'Fn::If': ['HasServerMaxInflight', ref('ServerMaxInflight'), ref('AWS::NoValue')] },
        [ENV.rechecks]: ref('Rechecks'),
        [ENV.retryAttempts]: ref('RetryAttempts'),
        [ENV.roundTimeoutSeconds]: String(SIZING.round.timeoutSeconds),
        ...common(),
      },
    });
  });

  it('ServerMaxInflight: reaches the round function when set (lib: 4 × concurrency otherwise)', () => {
    expect(json.Parameters!.ServerMaxInflight!.Default).toBe('');
    const pattern = new RegExp(String(json.Parameters!.ServerMaxInflight!.AllowedPattern));
    expect(['', '1', '64', '65536'].every((v) => pattern.test(v))).toBe(true);
    expect(['0', '-1', '4x', ' 8'].some((v) => pattern.test(v))).toBe(false);
    expect(envOf(ids.round)[ENV.serverMaxInflight]).toBeUndefined();
    expect(loadConfig(envOf(ids.round, { Concurrency: '16' })).serverMaxInflight).toBe(64);
    expect(loadConfig(envOf(ids.round, { Concurrency: '16', ServerMaxInflight: '40' })).serverMaxInflight).toBe(40);
    expect(envOf(ids.events, { ServerMaxInflight: '40' })[ENV.serverMaxInflight]).toBeUndefined();
  });

  it('ServerMaxInflight: lib refuses one below the concurrency', () => {
    expect(() => loadConfig(envOf(ids.round, { Concurrency: '16', ServerMaxInflight: '8' }))).toThrow(
      /PING_MUC_SERVER_MAX_INFLIGHT/,
    );
  });

  it('ApiBatch: reaches the round function only (100 by default)', () => {
    expect(envOf(ids.round)[ENV.apiBatch]).toBe('100');
    expect(loadConfig(envOf(ids.round)).apiBatch).toBe(100);
    expect(envOf(ids.round, { ApiBatch: '1' })[ENV.apiBatch]).toBe('1');
    expect(loadConfig(envOf(ids.round, { ApiBatch: '1' })).apiBatch).toBe(1);
    expect(envOf(ids.round, { ApiBatch: '250' })[ENV.apiBatch]).toBe('250');
    expect(loadConfig(envOf(ids.round, { ApiBatch: '250' })).apiBatch).toBe(250);
    expect(envOf(ids.events, { ApiBatch: '100' })[ENV.apiBatch]).toBeUndefined();
    expect(envOf(ids.events)[ENV.apiBatch]).toBeUndefined();
  });

  it('ApiBatch: allows the whole numbers from 1 to 500 that lib accepts (the module takes at most 500 a batch)', () => {
    const pattern = new RegExp(String(json.Parameters!.ApiBatch!.AllowedPattern));
    const range = Array.from({ length: 500 }, (_, i) => String(i + 1));
    expect(range.filter((v) => !pattern.test(v))).toEqual([]);
    expect(
      ['', '0', '501', '1000', '-1', '01', '00', '1.5', '1e2', ' 100', '100 '].filter((v) => pattern.test(v)),
    ).toEqual([]);
    for (const v of range) expect(loadConfig({ [ENV.apiBatch]: v }).apiBatch, v).toBe(Number(v));
  });

  it("Concurrency: reaches the round function when set (lib's default of ten batches otherwise)", () => {
    expect(envOf(ids.round)[ENV.concurrency]).toBeUndefined();
    expect(loadConfig(envOf(ids.round)).concurrency).toBe(1000);
    expect(loadConfig(envOf(ids.round, { ApiBatch: '3' })).concurrency).toBe(30);
    expect(loadConfig(envOf(ids.round, { ApiBatch: '100' })).concurrency).toBe(1000);
    expect(loadConfig(envOf(ids.round, { ApiBatch: '500' })).concurrency).toBe(1024);
    expect(envOf(ids.round, { Concurrency: '64' })[ENV.concurrency]).toBe('64');
    expect(loadConfig(envOf(ids.round, { Concurrency: '64' })).concurrency).toBe(64);
    expect(loadConfig(envOf(ids.round, { Concurrency: '64', ApiBatch: '100' })).concurrency).toBe(64);
    // With lib's default, ServerMaxInflight's default follows it: four rounds.
    expect(loadConfig(envOf(ids.round)).serverMaxInflight).toBe(4000);
    expect(loadConfig(envOf(ids.round, { ApiBatch: '100' })).serverMaxInflight).toBe(4000);
    expect(loadConfig(envOf(ids.round, { ApiBatch: '3' })).serverMaxInflight).toBe(120);
    expect(envOf(ids.events, { Concurrency: '64' })[ENV.concurrency]).toBeUndefined();
  });

  it('Concurrency: allows empty or 1 to 1024 so a stack deployed with any whole Number keeps it', () => {
    const pattern = new RegExp(String(json.Parameters!.Concurrency!.AllowedPattern));
    const range = Array.from({ length: 1024 }, (_, i) => String(i + 1));
    expect(['', ...range].filter((v) => !pattern.test(v))).toEqual([]);
    expect(['0', '1025', '2048', '-1', '032', '1.5', '1e2', ' 32', '32 '].filter((v) => pattern.test(v))).toEqual([]);
    // A previous value (cdk deploy keeps it) is passed on as it was.
    for (const v of range) expect(loadConfig(envOf(ids.round, { Concurrency: v })).concurrency, v).toBe(Number(v));
  });

  it('the stack name with the logging settings reaches both functions', () => {
    for (const id of [ids.events, ids.round]) {
      const vars = envOf(id, { LogLevel: 'DEBUG' });
      expect(vars).toMatchObject({
        PING_MUC_STACK: 'PingMuc',
        LOG_LEVEL: 'DEBUG',
        NODE_OPTIONS: '--enable-source-maps',
      });
    }
  });

  it('the round function: knows its own timeout so lib can refuse a margin that cannot fit', () => {
    expect(ENV.roundTimeoutSeconds).toBe('PING_MUC_ROUND_TIMEOUT_SECONDS');
    const vars = envOf(ids.round);
    expect(vars[ENV.roundTimeoutSeconds]).toBe(String(fn(ids.round).Timeout));
    expect(Number(vars[ENV.roundTimeoutSeconds])).toBe(SIZING.round.timeoutSeconds);
    expect(loadConfig(vars).roundTimeoutMs).toBe(SIZING.round.timeoutSeconds * 1000);
    // Only the round function checks a deadline margin.
    expect(envOf(ids.events)[ENV.roundTimeoutSeconds]).toBeUndefined();
  });

  it('no plain secret in any environment', () => {
    for (const id of [ids.events, ids.round]) {
      const vars = Object.keys((fn(id).Environment as { Variables: object }).Variables);
      expect(vars).not.toContain(ENV.webhookSecret);
      expect(vars).not.toContain(ENV.apiSecret);
      expect(vars).not.toContain(ENV.masterKey);
    }
  });

  it("a deployment's environment is what lib's loadConfig/requireAws accept (events)", () => {
    const env = envOf(ids.events, { DelaySeconds: '90' });
    const config = loadConfig(env);
    expect(() => requireAws(config, 'events')).not.toThrow();
    expect(config).toMatchObject({
      delayMs: 90_000,
      table: `${ids.table}-physical`,
      scheduler: {
        group: props(json.Resources[ids.group]!).Name,
        roleArn: expect.stringMatching(/^arn:aws:iam::\d{12}:role\//),
        dlqArn: expect.stringMatching(/^arn:aws:sqs:/),
        roundFunctionArn: expect.stringMatching(/^arn:aws:lambda:.*:function:/),
      },
    });
    expect(config.masterKey).toEqual({ secretId: expect.stringMatching(/^arn:aws:secretsmanager:/) });
    expect(config.hostsInTable).toBe(false);
    expect(loadConfig(envOf(ids.events, { HostRegistry: 'table' })).hostsInTable).toBe(true);
  });

  it("a deployment's environment is what lib's loadConfig/requireAws accept (round)", () => {
    const params = { DelaySeconds: '90', Concurrency: '16', Rechecks: '2', RetryAttempts: '5' };
    const config = loadConfig(envOf(ids.round, params));
    expect(() => requireAws(config, 'round')).not.toThrow();
    expect(config).toMatchObject({
      apiUrl: 'https://xmpp.example.com:5281/ping_muc_cloud',
      delayMs: 90_000,
      concurrency: 16,
      rechecks: 2,
      retryAttempts: 5,
      table: `${ids.table}-physical`,
      scheduler: { group: props(json.Resources[ids.group]!).Name },
    });
    expect(config.masterKey).toEqual({ secretId: expect.stringMatching(/^arn:aws:secretsmanager:/) });
    // With the table registry the round needs no ApiUrl.
    const listed = loadConfig(envOf(ids.round, { ApiUrl: '', HostRegistry: 'table' }));
    expect(() => requireAws(listed, 'round')).not.toThrow();

    const defaults = loadConfig(envOf(ids.round));
    expect(defaults).toMatchObject({
      delayMs: DEFAULTS.delaySeconds * 1000,
      apiBatch: DEFAULTS.apiBatch,
      concurrency: Math.min(1024, 10 * DEFAULTS.apiBatch),
      rechecks: DEFAULTS.rechecks,
      retryAttempts: DEFAULTS.retryAttempts,
    });
  });

  it("the round function's environment passes lib's start-up check (lib/wiring/aws.ts awsShared)", () => {
    // The round function cannot hold its own ARN; lib must take it from context.invokedFunctionArn.
    expect(() => requireAws(loadConfig(envOf(ids.round)), 'round')).not.toThrow();
  });
});

describe('alarms', () => {
  const alarms = () => Object.entries(json.Resources).filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm');
  const alarm = (prefix: string) => props(resource(json, 'AWS::CloudWatch::Alarm', prefix)[1]);
  const actions = () => ({ 'Fn::If': ['HasAlarmEmail', [ref(ids.topic)], ref('AWS::NoValue')] });
  const stackDim = { Name: 'Stack', Value: ref('AWS::StackName') };
  const byFunction = (id: string) => [{ Name: 'FunctionName', Value: ref(id) }];
  /** Dimensions in a fixed order (CDK sorts them by name). */
  const sorted = (dims: unknown) => [...(dims as Array<{ Name: string }>)].sort((a, b) => a.Name.localeCompare(b.Name));
  /** A single-metric alarm, as the template states it. */
  const single = (prefix: string) => {
    const p = alarm(prefix);
    return {
      ns: p.Namespace,
      metric: p.MetricName,
      dims: sorted(p.Dimensions),
      stat: p.Statistic,
      period: p.Period,
      threshold: p.Threshold,
      op: p.ComparisonOperator,
      evaluation: [p.EvaluationPeriods, p.DatapointsToAlarm],
      missing: p.TreatMissingData,
    };
  };
  /** The metrics a math alarm sums: [namespace, name, dimensions] and its expression. */
  const math = (prefix: string) => {
    const p = alarm(prefix);
    const rows = p.Metrics as Array<{ Id: string; Expression?: string; MetricStat?: Record<string, unknown> }>;
    const expression = rows.find((r) => r.Expression)!;
    const stats = rows.filter((r) => r.MetricStat).map((r) => r.MetricStat!);
    return {
      expression: expression.Expression,
      metrics: stats.map((st) => {
        const m = st.Metric as { Namespace: string; MetricName: string; Dimensions: unknown[] };
        return [m.Namespace, m.MetricName, sorted(m.Dimensions), st.Stat, st.Period];
      }),
      threshold: p.Threshold,
      op: p.ComparisonOperator,
      missing: p.TreatMissingData,
    };
  };
  const gt0 = { threshold: 0, op: 'GreaterThanThreshold', evaluation: [1, 1], missing: 'notBreaching' };
  const sum5 = { stat: 'Sum', period: 300 };

  it('sixteen alarms notify the topic on ALARM or OK', () => {
    expect(
      alarms()
        .map(([id]) => id.replace(/[0-9A-F]{8}$/, ''))
        .sort(),
    ).toEqual(
      [
        'DeadLetterQueueAlarm',
        'DeadLetterDeliveryFailedAlarm',
        'EventsRejectedAlarm',
        'EventsServerErrorsAlarm',
        'EventsRefusedAlarm',
        'SilentHostsAlarm',
        'UnusableAnswersAlarm',
        'RoundFailuresAlarm',
        'ReconciledAlarm',
        'RoundDestinationFailuresAlarm',
        'RoundEventsDroppedAlarm',
        'TableThrottlesAlarm',
        'EventsErrorsAlarm',
        'EventsThrottlesAlarm',
        'RoundErrorsAlarm',
        'RoundThrottlesAlarm',
      ].sort(),
    );
    for (const [id, r] of alarms()) {
      expect(props(r).AlarmActions, id).toEqual(actions());
      expect(props(r).OKActions, id).toEqual(actions());
      expect(String(props(r).AlarmDescription), id).toMatch(/^ping-muc: /);
    }
  });

  it('the failure alarms of the queues or the functions: any value above 0', () => {
    expect(single('DeadLetterQueueAlarm')).toEqual({
      ns: 'AWS/SQS',
      metric: 'ApproximateNumberOfMessagesVisible',
      dims: [{ Name: 'QueueName', Value: getAtt(ids.dlq, 'QueueName') }],
      stat: 'Maximum',
      period: 300,
      ...gt0,
      missing: 'ignore',
    });
    expect(single('DeadLetterDeliveryFailedAlarm')).toEqual({
      ns: 'AWS/Scheduler',
      metric: 'InvocationsFailedToBeSentToDeadLetterCount',
      dims: [{ Name: 'ScheduleGroup', Value: props(json.Resources[ids.group]!).Name }],
      ...sum5,
      ...gt0,
    });
    for (const [prefix, id, metric] of [
      ['EventsErrorsAlarm', ids.events, 'Errors'],
      ['EventsThrottlesAlarm', ids.events, 'Throttles'],
      ['RoundErrorsAlarm', ids.round, 'Errors'],
      ['RoundThrottlesAlarm', ids.round, 'Throttles'],
    ] as const) {
      expect(single(prefix), prefix).toEqual({ ns: 'AWS/Lambda', metric, dims: byFunction(id), ...sum5, ...gt0 });
    }
  });

  it('the events URL: 5xx alarm on the first (a store or scheduling failure answers 503)', () => {
    expect(single('EventsServerErrorsAlarm')).toEqual({
      ns: 'AWS/Lambda',
      metric: 'Url5xxCount',
      dims: byFunction(ids.events),
      ...sum5,
      ...gt0,
    });
  });

  it('the events URL: 4xx alarm from 3 in 2 of 3 periods', () => {
    expect(single('EventsRejectedAlarm')).toEqual({
      ns: 'AWS/Lambda',
      metric: 'Url4xxCount',
      dims: byFunction(ids.events),
      ...sum5,
      ...gt0,
      threshold: 3,
      op: 'GreaterThanOrEqualToThreshold',
      evaluation: [3, 2],
    });
  });

  it("lost round work of any kind alarms on the first one (the reconciler's too)", () => {
    // Every kind summed: the total per Stack that lib publishes by default.
    expect(single('RoundFailuresAlarm')).toEqual({
      ns: 'PingMuc',
      metric: 'RoundFailures',
      dims: [stackDim],
      ...sum5,
      ...gt0,
    });
    for (const [prefix, metric] of [
      ['RoundDestinationFailuresAlarm', 'DestinationDeliveryFailures'],
      ['RoundEventsDroppedAlarm', 'AsyncEventsDropped'],
    ] as const) {
      expect(single(prefix), prefix).toEqual({
        ns: 'AWS/Lambda',
        metric,
        dims: byFunction(ids.round),
        ...sum5,
        ...gt0,
      });
    }
  });

  it('DynamoDB throttles: one alarm sums the throttle events of the table with its indexes', () => {
    const table = { Name: 'TableName', Value: ref(ids.table) };
    const got = math('TableThrottlesAlarm');
    expect(got.expression).toMatch(new RegExp(`^SUM\\(\\[\\w+(,\\w+){${2 * (INDEXES.length + 1) - 1}}\\]\\)$`));
    expect(got.metrics).toEqual(
      expect.arrayContaining(
        ['ReadThrottleEvents', 'WriteThrottleEvents'].flatMap((m) => [
          ['AWS/DynamoDB', m, [table], 'Sum', 300],
          ...INDEXES.map((index) => [
            'AWS/DynamoDB',
            m,
            sorted([table, { Name: 'GlobalSecondaryIndexName', Value: index.name }]),
            'Sum',
            300,
          ]),
        ]),
      ),
    );
    expect(got.metrics).toHaveLength(2 * (INDEXES.length + 1));
    expect([got.threshold, got.op, got.missing]).toEqual([0, 'GreaterThanThreshold', 'notBreaching']);
  });

  it("the topic's policy lets CloudWatch alarms of this account publish (it replaces the default policy)", () => {
    const policy = Object.values(json.Resources).find((r) => r.Type === 'AWS::SNS::TopicPolicy')!;
    const statements = (props(policy).PolicyDocument as { Statement: Statement[] }).Statement;
    expect(props(policy).Topics).toEqual([ref(ids.topic)]);
    const cw = statements.filter((st) => JSON.stringify(st.Principal).includes('cloudwatch'));
    expect(cw).toHaveLength(1);
    expect(cw[0]).toMatchObject({
      Effect: 'Allow',
      Principal: { Service: 'cloudwatch.amazonaws.com' },
      Action: 'sns:Publish',
      Resource: ref(ids.topic),
      Condition: { StringEquals: { 'aws:SourceAccount': ref('AWS::AccountId') } },
    });
    const arnLike = evaluate(ctx(), (cw[0]!.Condition as { ArnLike: unknown }).ArnLike);
    expect(arnLike).toEqual({ 'aws:SourceArn': 'arn:aws:cloudwatch:eu-west-1:123456789012:alarm:*' });
    // enforceSSL's deny stays.
    expect(statements).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
  });

  it('the alarm e-mail exists only when AlarmEmail is set', () => {
    for (const r of Object.values(json.Resources).filter((r) => r.Type.startsWith('AWS::SNS::'))) {
      expect(r.Condition).toBe('HasAlarmEmail');
    }
    s.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: ref('AlarmEmail') });
    const withEmail = evaluate(ctx({ AlarmEmail: 'ops@example.com' }), { Condition: 'HasAlarmEmail' });
    const without = evaluate(ctx(), { Condition: 'HasAlarmEmail' });
    expect([withEmail, without]).toEqual([true, false]);
  });
});

describe('dashboard', () => {
  type Widget = { type: string; properties: { title: string; metrics?: unknown[][]; alarms?: unknown[] } };
  const body = () => {
    const id = resource(json, 'AWS::CloudWatch::Dashboard', 'Dashboard')[0];
    return JSON.parse(evaluate(ctx(), fn(id).DashboardBody) as string) as { widgets: Widget[] };
  };
  /** Every metric row as `namespace metric name=value…` (dimensions sorted, options dropped). */
  const rows = () =>
    body().widgets.flatMap((w) =>
      (w.properties.metrics ?? []).map((m) => {
        const [ns, name, ...rest] = m.filter((x) => typeof x === 'string') as string[];
        const pairs = [];
        for (let i = 0; i + 1 < rest.length; i += 2) pairs.push(`${rest[i]}=${rest[i + 1]}`);
        return [ns, name, ...pairs.sort()].join(' ');
      }),
    );
  const row = (ns: string, name: string, ...dims: string[]) => [ns, name, ...dims.sort()].join(' ');

  it('graphs the operator’s signals in a fixed order', () => {
    const titles = body().widgets.map((w) => w.properties.title);
    expect(titles).toEqual([
      'Alarms',
      'Silent hosts (no heartbeat for PING_MUC_SILENT_SECONDS)',
      'Events in: all, refused, by type (detailed)',
      'Events URL: 4xx and 5xx',
      'Rounds: started, done, failed',
      'Self-pings, by outcome',
      'Notifications',
      'Round duration (ms, per finished invocation)',
      'Last close of the window → round start (ms)',
      'Reconciled: overdue work re-armed',
      'Waiting rounds: probes of their remote',
      'Refresh failures: master key, host registry, refused server records',
      'Dead-letter queue: depth, and age of the oldest message (s)',
      'Round function: duration and async event age (ms)',
      'Throttles',
      'Function errors',
    ]);
    // The status of every alarm of the stack.
    const status = body().widgets[0]!;
    expect([status.type, status.properties.alarms]).toEqual([
      'alarm',
      Object.entries(json.Resources)
        .filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm')
        .map(([id]) => `arn:aws:cloudwatch:eu-west-1:123456789012:alarm:${id}-physical`),
    ]);
    const r = rows();
    // Every ping-muc metric of the contract, each value of its dimension, with Stack = the stack name.
    for (const [name, { dimension, values, total }] of Object.entries(COUNTS)) {
      for (const v of values)
        expect(r, `${name} ${v}`).toContain(row('PingMuc', name, 'Stack=PingMuc', `${dimension}=${v}`));
      if (total) expect(r, `${name} total`).toContain(row('PingMuc', name, 'Stack=PingMuc'));
    }
    for (const name of Object.keys(MEASURES)) expect(r, name).toContain(row('PingMuc', name, 'Stack=PingMuc'));
    const own = r.filter((x) => x.startsWith('PingMuc '));
    expect(own.length).toBeGreaterThan(20);
    for (const x of own) expect(x).toContain(' Stack=PingMuc');
    const events = `${ids.events}-physical`;
    const table = `${ids.table}-physical`;
    for (const expected of [
      row('AWS/Lambda', 'Url4xxCount', `FunctionName=${events}`),
      row('AWS/Lambda', 'Url5xxCount', `FunctionName=${events}`),
      row('AWS/Lambda', 'Throttles', `FunctionName=${ids.round}-physical`),
      row('AWS/SQS', 'ApproximateNumberOfMessagesVisible', `QueueName=${ids.dlq}`),
      row('AWS/SQS', 'ApproximateAgeOfOldestMessage', `QueueName=${ids.dlq}`),
      row('AWS/Lambda', 'Duration', `FunctionName=${ids.round}-physical`),
      row('AWS/Lambda', 'AsyncEventAge', `FunctionName=${ids.round}-physical`),
      row('AWS/DynamoDB', 'WriteThrottleEvents', `TableName=${table}`),
      row('AWS/DynamoDB', 'ReadThrottleEvents', `TableName=${table}`, `GlobalSecondaryIndexName=${KEYS.dueGsi}`),
    ])
      expect(r).toContain(expected);
  });

  it('its URL is an output', () => {
    const id = resource(json, 'AWS::CloudWatch::Dashboard', 'Dashboard')[0];
    expect(evaluate(ctx(), json.Outputs!.DashboardUrl!.Value)).toBe(
      `https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards/dashboard/${id}-physical`,
    );
  });
});

describe('outputs', () => {
  it('exports what an operator needs to set up a host without any secret value', () => {
    const o = json.Outputs!;
    expect(Object.keys(o).sort()).toEqual(
      [
        'EventsUrl',
        'MasterKeyArn',
        'HostKeysCommand',
        'EventsFunctionName',
        'RoundFunctionName',
        'TableName',
        'ScheduleGroupName',
        'DeadLetterQueueUrl',
        'DashboardUrl',
        'AlarmTopicArn',
        'AlarmNotifications',
      ].sort(),
    );
    expect(o.AlarmTopicArn!.Condition).toBe('HasAlarmEmail');
    expect(o.EventsUrl!.Value).toEqual(getAtt(ids.url, 'FunctionUrl'));
    expect(o.MasterKeyArn!.Value).toEqual(ref(ids.masterKey));
    const cmd = evaluate(ctx(), o.HostKeysCommand!.Value) as string;
    expect(cmd).toMatch(
      /^npm run host-keys -- --region eu-west-1 --secret arn:aws:secretsmanager:\S+ --events-url https:\/\/\S+\.lambda-url\.eu-west-1\.on\.aws\/ --table \S+ <server id> \[<server id> \.\.\.\]$/,
    );
  });

  it('the host-keys lines are valid Lua (luac -p: npm test makes sure a luac exists)', () => {
    const luac = ['luac', 'luac5.4', 'luac5.3', 'luac5.2', 'luac5.1'].find((c) => {
      try {
        execFileSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    });
    expect(luac, 'no luac found: run scripts/ensure-prosody.sh').toBeDefined();
    const file = path.join(s.outdir, 'prosody-snippet.cfg.lua');
    const master = parseMasterKey(JSON.stringify({ current: 'x'.repeat(32), previous: 'y'.repeat(32) }));
    const eventsUrl = 'https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/';
    const lines = [
      ...prosodyLines(master, { server: 'xmpp1', hosts: ['a.example', 'b.example'] }, eventsUrl),
      ...prosodyLines(master, { server: 'a.example' }, eventsUrl),
    ];
    writeFileSync(file, `${lines.join('\n')}\n`);
    expect(() => execFileSync(luac!, ['-p', file], { stdio: 'pipe' })).not.toThrow();
  });
});

describe('synth', () => {
  it('deploys exactly the bundles that infra/bundling.ts (and npm run bundle-size) builds', async () => {
    for (const [name, id] of [
      ['events', ids.events],
      ['round', ids.round],
    ] as const) {
      const options = esbuildOptions(name, path.join(s.outdir, 'check'));
      await build(options);
      expect(readFileSync(options.outfile, 'utf8') === bundleOf(id), name).toBe(true);
      // The source map ships next to the bundle (linked from it; NODE_OPTIONS reads it). Its
      // `sources` are relative to where it was built; the mappings are the same.
      const mappings = (file: string) => (JSON.parse(readFileSync(file, 'utf8')) as { mappings: string }).mappings;
      expect(mappings(path.join(assetDir(id), SOURCE_MAP_FILE)) === mappings(`${options.outfile}.map`), name).toBe(
        true,
      );
    }
  });

  it('has no synthesis warnings or errors', () => {
    const annotations = Annotations.fromStack(s.stack);
    expect(annotations.findWarning('*', Match.anyValue())).toEqual([]);
    expect(annotations.findError('*', Match.anyValue())).toEqual([]);
  });

  it('is env-agnostic', () => {
    expect(s.stack.account).toEqual(expect.stringContaining('${Token'));
    expect(s.stack.region).toEqual(expect.stringContaining('${Token'));
  });

  it('needs no context lookups', () => {
    const missing = s.assembly.manifest.missing ?? [];
    expect(missing).toEqual([]);
  });
});

const IAM_PREFIX: Record<string, string> = {
  '@aws-sdk/client-dynamodb': 'dynamodb',
  '@aws-sdk/client-scheduler': 'scheduler',
  '@aws-sdk/client-secrets-manager': 'secretsmanager',
  '@aws-sdk/client-lambda': 'lambda',
  '@aws-sdk/client-sqs': 'sqs',
};

/** The deployed asset directory of a function: the CDK asset its Code points to. */
function assetDir(functionId: string): string {
  const key = String((fn(functionId).Code as { S3Key: string }).S3Key).replace(/\.zip$/, '');
  return path.join(s.outdir, `asset.${key}`);
}

/** The deployed bundle of a function. */
function bundleOf(functionId: string): string {
  return readFileSync(path.join(assetDir(functionId), 'index.mjs'), 'utf8');
}

/** IAM actions of the AWS SDK commands a (minified ESM) bundle constructs. */
function sdkActions(code: string): Set<string> {
  const out = new Set<string>();
  const add = (pkg: string, command: string) => {
    const prefix = IAM_PREFIX[pkg];
    if (!prefix) throw new Error(`bundle uses ${pkg}: map it in IAM_PREFIX and grant what it needs`);
    // IAM names Lambda's Invoke API lambda:InvokeFunction.
    const action = `${prefix}:${command.replace(/Command$/, '')}`;
    out.add(action === 'lambda:Invoke' ? 'lambda:InvokeFunction' : action);
  };
  // Static imports: import{GetItemCommand as x,...}from"@aws-sdk/client-dynamodb" — count only
  // the ones constructed somewhere (esbuild keeps unused bindings of external imports).
  for (const m of code.matchAll(/import\{([^{}]*)\}from"(@aws-sdk\/[a-z0-9-]+)"/g)) {
    for (const binding of m[1]!.split(',')) {
      const [name, alias = name] = binding.trim().split(/\s+as\s+/) as [string, string?];
      if (!name.endsWith('Command')) continue;
      const escaped = alias!.replace(/\$/g, '\\$');
      if (new RegExp(`new ${escaped}\\(`).test(code)) add(m[2]!, name);
    }
  }
  // Dynamic imports: let{GetSecretValueCommand:t,...}=await import("@aws-sdk/client-secrets-manager")
  for (const m of code.matchAll(/\{([^{}]*)\}=await import\("(@aws-sdk\/[a-z0-9-]+)"\)/g)) {
    for (const binding of m[1]!.split(',')) {
      const name = binding.split(':')[0]!.trim();
      if (name.endsWith('Command')) add(m[2]!, name);
    }
  }
  return out;
}
