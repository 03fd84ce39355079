// The round queue: a round job due within 15 minutes waits here as an SQS message with a delay
// (lib/adapters/scheduler-sqs.ts), and the round function takes it when it is due, so no function
// runs while a round waits. Later jobs are schedules that send them here (./scheduling.ts).
import { Duration, type CfnParameter } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { SIZING } from './function';
import { allow } from './iam';

/**
 * A message is hidden this long once received: six times the round function's timeout, as AWS
 * advises for a Lambda event source, so that a message is never received twice while its
 * invocation (and Lambda's throttling retries of it) may still run.
 */
export const ROUND_QUEUE_VISIBILITY_SECONDS = 6 * SIZING.round.timeoutSeconds;
/**
 * Receives of a job before it goes to the DLQ: each is an invocation that failed after the
 * round's own retries (or a throttle: AWS advises at least 5 for a Lambda event source).
 */
export const ROUND_QUEUE_MAX_RECEIVES = 5;

/** The round queue, SSE, TLS only (as the DLQ), dead-lettering to `dlq`. */
export function roundQueue(scope: Construct, id: string, dlq: sqs.IQueue): sqs.Queue {
  return new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    visibilityTimeout: Duration.seconds(ROUND_QUEUE_VISIBILITY_SECONDS),
    // A job is due within 15 minutes of its send; one still here after days is in the DLQ's hands.
    retentionPeriod: Duration.days(4),
    deadLetterQueue: { queue: dlq, maxReceiveCount: ROUND_QUEUE_MAX_RECEIVES },
  });
}

export interface RoundQueueUsers {
  round: lambda.IFunction;
  events: lambda.IFunction;
  /** The role of the schedules of jobs due beyond 15 minutes: they send to the queue. */
  schedulerRole: iam.Role;
  /** MaximumConcurrency of the event source mapping (2–1000). */
  maxConcurrency: CfnParameter;
}

/**
 * The round function consumes the queue one job per invocation (partial batch responses all
 * the same), at most `maxConcurrency` at once; both functions and the scheduler role send to it.
 */
export function connectRoundQueue(scope: Construct, queue: sqs.Queue, users: RoundQueueUsers): void {
  const { round, events, schedulerRole, maxConcurrency } = users;
  const consume = new iam.Policy(scope, 'RoundQueueConsumer', {
    roles: [round.role as iam.IRole],
    statements: [
      allow(
        'ConsumeRoundQueue',
        ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes'],
        [queue.queueArn],
      ),
      allow('SendToRoundQueue', ['sqs:SendMessage'], [queue.queueArn]),
    ],
  });
  new iam.Policy(scope, 'EventsSendsToRoundQueue', {
    roles: [events.role as iam.IRole],
    statements: [allow('SendToRoundQueue', ['sqs:SendMessage'], [queue.queueArn])],
  });
  schedulerRole.addToPolicy(allow('SendToRoundQueue', ['sqs:SendMessage'], [queue.queueArn]));
  const mapping = new lambda.EventSourceMapping(scope, 'RoundQueueSource', {
    target: round,
    eventSourceArn: queue.queueArn,
    batchSize: 1,
    reportBatchItemFailures: true,
  });
  // Lambda checks at creation that the role may receive from the queue.
  mapping.node.addDependency(consume);
  // On the L1: the value is a parameter.
  (mapping.node.defaultChild as lambda.CfnEventSourceMapping).scalingConfig = {
    maximumConcurrency: maxConcurrency.valueAsNumber,
  };
}
