// Findings of the cdk-nag packs (AwsSolutions, Serverless; applied in test/infra/checks.test.ts)
// that this stack accepts, each acknowledged on its construct with the reason. CDK's own
// Validations API: the deployed app needs no cdk-nag, and the template does not change.
import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import type { PingMucStack } from './stack';

const ack = (scope: IConstruct, id: string, reason: string) => Validations.of(scope).acknowledge({ id, reason });

/** The IAM5 finding id of a schedule ARN pattern, as cdk-nag prints it. */
const schedulesFinding = (groupName: string) =>
  `AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/${groupName}/*]`;

export function acknowledgeChecks(stack: PingMucStack): void {
  const runtime =
    'nodejs22.x is the runtime ping-muc targets and is tested on (infra/bundling.ts NODE_TARGET); moving to a newer one is a deliberate change';
  for (const fn of [stack.eventsFunction, stack.roundFunction]) {
    ack(fn, 'AwsSolutions::AwsSolutions-L1', runtime);
    ack(fn, 'Serverless::Serverless-LambdaLatestVersion', runtime);
    ack(
      fn,
      'Serverless::Serverless-LambdaTracing',
      'no X-Ray: the functions log JSON lines with a requestId and publish EMF metrics; tracing would need xray:PutTraceSegments on "*", which this stack grants nowhere',
    );
    // The schedule names are generated per lost link; the grant is limited to the stack's group.
    ack(
      fn.role!,
      schedulesFinding(stack.scheduleGroup.scheduleGroupName),
      "CreateSchedule on the stack's own schedule group only: schedule names are generated per lost link (lib/domain/schedule.ts)",
    );
  }
  ack(
    stack.eventsFunction,
    'Serverless::Serverless-LambdaDLQ',
    'invoked synchronously through its Function URL: the module gets the error and retries; a DLQ only applies to asynchronous invocations',
  );
  ack(
    stack.roundFunction,
    'Serverless::Serverless-LambdaDLQ',
    'its failed asynchronous invocations go to the dead-letter queue through an on-failure destination (EventInvokeConfig), which carries more than a DLQ would',
  );
  const isDlq =
    'this queue is the dead-letter queue itself (Scheduler DeadLetterConfig and Lambda on-failure destination); a queue behind it would only move the problem';
  ack(stack.deadLetterQueue, 'AwsSolutions::AwsSolutions-SQS3', isDlq);
  ack(stack.deadLetterQueue, 'Serverless::Serverless-SQSRedrivePolicy', isDlq);
  ack(
    stack.node.findChild('RoundQueueSource'),
    'Serverless::Serverless-LambdaEventSourceMappingDestination',
    "an SQS event source takes no on-failure destination: the round queue's redrive policy moves a job received ROUND_QUEUE_MAX_RECEIVES times to the dead-letter queue",
  );
  for (const secret of [stack.webhookSecret, stack.apiSecret]) {
    ack(
      secret,
      'AwsSolutions::AwsSolutions-SMG4',
      "shared with Prosody's configuration by hand: an automatic rotation would break the XMPP server's signatures; rotate as docs/deploy.md describes",
    );
  }
  for (const [id, kind] of [
    ['EventsReadsHostRegistry', 'webhook'],
    ['RoundReadsHostRegistry', 'api'],
  ] as const) {
    ack(
      stack.node.findChild(id),
      `AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:ping-muc/${kind}/*]`,
      `the host registry names one ${kind} key per server or host, added without a redeploy (docs/hosts.md): the grant covers the ping-muc/${kind}/ names only, and exists only when a registry is configured`,
    );
  }
  const subscription = stack.node.findChild('AlarmEmailSubscription');
  ack(
    subscription,
    'Serverless::Serverless-SNSRedrivePolicy',
    'an e-mail subscription for alarms: SNS retries delivery, and the alarm state stays visible in CloudWatch and on the dashboard',
  );
}
