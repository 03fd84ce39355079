// EventBridge Scheduler: the group that holds lib's one-time schedules, the role Scheduler
// invokes the round function with, and the dead-letter queue of rounds that never ran.
import { ArnFormat, Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { allow } from './iam';

/**
 * Receives (a) schedules EventBridge Scheduler could not deliver after its retry policy and
 * (b) round invocations that still failed after Lambda's async retries.
 */
export function deadLetterQueue(scope: Construct, id: string): sqs.Queue {
  return new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    retentionPeriod: Duration.days(14),
    // Scheduler and Lambda send over TLS; the policy refuses anything else.
    enforceSSL: true,
  });
}

/** Deleted with the stack, pending schedules included. */
export function scheduleGroup(scope: Construct, id: string): scheduler.ScheduleGroup {
  return new scheduler.ScheduleGroup(scope, id, { removalPolicy: RemovalPolicy.DESTROY });
}

/** ARN of every schedule in the group (what the functions may create and delete). */
export function schedulesArn(group: scheduler.IScheduleGroup): string {
  return Stack.of(group).formatArn({
    service: 'scheduler',
    resource: 'schedule',
    resourceName: `${group.scheduleGroupName}/*`,
    arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
  });
}

/** Assumable only by Scheduler on behalf of this account's schedule group (no confused deputy). */
export function schedulerRole(scope: Construct, id: string, group: scheduler.IScheduleGroup): iam.Role {
  return new iam.Role(scope, id, {
    description: 'ping-muc: EventBridge Scheduler invokes the round function with this role',
    assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
      conditions: {
        StringEquals: {
          'aws:SourceAccount': Aws.ACCOUNT_ID,
          'aws:SourceArn': group.scheduleGroupArn,
        },
      },
    }),
  });
}

/** The execution role may only invoke the round function and dead-letter to the DLQ. */
export function allowSchedulerToRun(role: iam.Role, round: lambda.IFunction, dlq: sqs.IQueue): void {
  role.addToPolicy(allow('InvokeRoundFunction', ['lambda:InvokeFunction'], [round.functionArn]));
  role.addToPolicy(allow('DeadLetterToDlq', ['sqs:SendMessage'], [dlq.queueArn]));
}

/** Lets a function pass the execution role to Scheduler (and to nothing else). */
export function passSchedulerRole(role: iam.IRole): iam.PolicyStatement {
  return allow('PassSchedulerRole', ['iam:PassRole'], [role.roleArn], {
    StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' },
  });
}

/** How often the reconciler runs: lib's RECONCILE_PERIOD_MS (lib/app/reconcile.ts), as a rate. */
export const RECONCILE_RATE = 'rate(1 minute)';

/**
 * The reconciler: every minute, the round function is invoked with `{ "reconcile": true }` and
 * re-arms each window and round whose due time has passed without a job (lib/app/reconcile.ts).
 * No retry and no dead-letter: the next minute's run is the retry.
 */
export function reconcilerSchedule(
  scope: Construct,
  id: string,
  group: scheduler.IScheduleGroup,
  role: iam.IRole,
  round: lambda.IFunction,
): scheduler.CfnSchedule {
  return new scheduler.CfnSchedule(scope, id, {
    description: 'ping-muc: the reconciler re-arms overdue windows and rounds (docs/operations.md)',
    groupName: group.scheduleGroupName,
    scheduleExpression: RECONCILE_RATE,
    flexibleTimeWindow: { mode: 'OFF' },
    state: 'ENABLED',
    target: {
      arn: round.functionArn,
      roleArn: role.roleArn,
      input: JSON.stringify({ reconcile: true }),
      retryPolicy: { maximumRetryAttempts: 0, maximumEventAgeInSeconds: 60 },
    },
  });
}
