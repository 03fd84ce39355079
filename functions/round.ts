// Round function: invoked by EventBridge Scheduler with a RoundJob; throws to be retried.
import { parseRoundJob } from '../lib/domain/round-job';
import { runRound } from '../lib/app/round';
import { awsRoundDeps } from '../lib/wiring/aws-round';

interface Context {
  invokedFunctionArn: string;
  getRemainingTimeInMillis(): number;
}

export async function handler(event: unknown, context: Context): Promise<void> {
  const deps = await awsRoundDeps(context.invokedFunctionArn);
  try {
    await runRound(deps, parseRoundJob(event), () => context.getRemainingTimeInMillis());
  } finally {
    deps.metrics.flush();
  }
}
