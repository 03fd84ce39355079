// Round function: invoked by EventBridge Scheduler with a RoundJob; throws to be retried.
import type { Context } from 'aws-lambda';
import { parseRoundJob } from '../lib/domain/round-job';
import { runRound } from '../lib/app/round';
import { awsRoundDeps } from '../lib/wiring/aws-round';

/** The part of Lambda's context a round uses: its own ARN (the target of its follow-ups) and its deadline. */
export type RoundContext = Pick<Context, 'invokedFunctionArn' | 'getRemainingTimeInMillis'>;

export async function handler(event: unknown, context: RoundContext): Promise<void> {
  const deps = await awsRoundDeps(context.invokedFunctionArn);
  try {
    await runRound(deps, parseRoundJob(event), () => context.getRemainingTimeInMillis());
  } finally {
    deps.metrics.flush();
  }
}
