// Round function: invoked by EventBridge Scheduler with a RoundJob; throws to be retried.
import type { Context } from 'aws-lambda';
import { parseRoundJob } from '../lib/domain/round-job';
import { runRound } from '../lib/app/round';
import { awsRoundDeps } from '../lib/wiring/aws-round';

/** The part of Lambda's context a round uses: its ARN (the target of its follow-ups), its deadline, its request id. */
export type RoundContext = Pick<Context, 'invokedFunctionArn' | 'getRemainingTimeInMillis'> &
  Partial<Pick<Context, 'awsRequestId'>>;

/**
 * `arn:aws:lambda:region:account:function:name[:qualifier]` without the qualifier: follow-ups
 * target the function itself, so a round started through a version or an alias goes on with
 * the code deployed when its next schedule fires, never with a version that may be deleted.
 */
export function unqualifiedArn(arn: string): string {
  const parts = arn.split(':');
  return parts.length > 7 && parts[5] === 'function' ? parts.slice(0, 7).join(':') : arn;
}

export async function handler(event: unknown, context: RoundContext): Promise<void> {
  const shared = await awsRoundDeps(unqualifiedArn(context.invokedFunctionArn));
  let metrics = shared.metrics;
  try {
    const job = parseRoundJob(event);
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
