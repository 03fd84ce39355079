// Round function: a RoundJob from the round queue (an SQS event: each failed record is reported
// and received again, then goes to the DLQ) or invoked asynchronously with one (throws to be
// retried), or every minute by the stack's reconciler schedule with `{ "reconcile": true }`.
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { reconcile } from '../lib/app/reconcile';
import { runRound } from '../lib/app/round';
import type { RoundDeps } from '../lib/app/deps';
import { parseRoundJob } from '../lib/domain/round-job';
import { awsRoundDeps } from '../lib/wiring/aws-round';

/** The part of Lambda's context a round uses: its ARN (the target of its follow-ups), its deadline, its request id. */
export type RoundContext = Pick<Context, 'invokedFunctionArn' | 'getRemainingTimeInMillis'> &
  Partial<Pick<Context, 'awsRequestId'>>;

/** The input of the reconciler's schedule (infra/scheduling.ts). */
export const RECONCILE_INPUT = { reconcile: true } as const;

export function isReconcile(event: unknown): boolean {
  return typeof event === 'object' && event !== null && (event as { reconcile?: unknown }).reconcile === true;
}

/**
 * `arn:aws:lambda:region:account:function:name[:qualifier]` without the qualifier: follow-ups
 * target the function itself, so a round started through a version or an alias goes on with
 * the code deployed when its next schedule fires, never with a version that may be deleted.
 */
export function unqualifiedArn(arn: string): string {
  const parts = arn.split(':');
  return parts.length > 7 && parts[5] === 'function' ? parts.slice(0, 7).join(':') : arn;
}

/**
 * One reconciler pass. A failure is logged and counted (RoundFailures, Kind=reconcile: an alarm),
 * not thrown: the next minute's run is its retry, and Lambda's retries would only pile a
 * `{ "reconcile": true }` into the dead-letter queue.
 */
async function reconcileOnce(shared: RoundDeps, requestId: string | undefined): Promise<void> {
  const log = shared.log.child({ requestId, job: 'reconcile' });
  try {
    const { windows, rounds } = await reconcile({ ...shared, log });
    if (windows + rounds > 0) log.info('reconciler re-armed overdue work', { windows, rounds });
  } catch (err) {
    log.error('reconciler failed', { error: (err as Error).message });
    shared.metrics.count('RoundFailures', 'Kind', 'reconcile');
  } finally {
    shared.metrics.flush();
  }
}

/** Whether `event` is a batch from the round queue's event source mapping. */
export function isQueueBatch(event: unknown): event is SQSEvent {
  const records = (event as { Records?: unknown } | null)?.Records;
  return (
    Array.isArray(records) && records.every((r) => (r as { eventSource?: unknown } | null)?.eventSource === 'aws:sqs')
  );
}

/** One round job (an invocation's event, or a queued message's body). */
async function runJob(shared: RoundDeps, input: unknown, context: RoundContext): Promise<void> {
  let metrics = shared.metrics;
  try {
    const job = parseRoundJob(input);
    metrics = shared.metrics.forHost(job.host);
    // The deps are shared by the invocations of a cold start: this invocation gets its own logger.
    const log = shared.log.child({
      requestId: context.awsRequestId,
      host: job.host,
      remote: job.remote,
      gen: job.gen,
      ...(job.pass !== undefined ? { pass: job.pass } : {}),
    });
    await runRound({ ...shared, log, metrics }, job, () => context.getRemainingTimeInMillis());
  } finally {
    metrics.flush();
    shared.metrics.flush();
  }
}

/**
 * The round queue's batch (batch size 1 in the stack; more run side by side): the records that
 * failed are reported, so that only they are received again (ReportBatchItemFailures).
 */
async function runBatch(shared: RoundDeps, event: SQSEvent, context: RoundContext): Promise<SQSBatchResponse> {
  const results = await Promise.allSettled(event.Records.map((r) => runJob(shared, r.body, context)));
  const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
  for (const [i, result] of results.entries()) {
    if (result.status === 'fulfilled') continue;
    const record = event.Records[i]!;
    shared.log.error('queued round job failed, received again later', {
      requestId: context.awsRequestId,
      messageId: record.messageId,
      receiveCount: record.attributes?.ApproximateReceiveCount,
      error: (result.reason as Error)?.message,
    });
    batchItemFailures.push({ itemIdentifier: record.messageId });
  }
  return { batchItemFailures };
}

export async function handler(event: unknown, context: RoundContext): Promise<SQSBatchResponse | undefined> {
  const shared = await awsRoundDeps(unqualifiedArn(context.invokedFunctionArn));
  if (isReconcile(event)) {
    await reconcileOnce(shared, context.awsRequestId);
    return undefined;
  }
  if (isQueueBatch(event)) return runBatch(shared, event, context);
  await runJob(shared, event, context);
  return undefined;
}
