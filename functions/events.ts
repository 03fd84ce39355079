// Events function (Lambda Function URL): signed server events → join store and rounds.
import type { Context, LambdaFunctionURLEvent } from 'aws-lambda';
import { handleEvents } from '../lib/app/ingest';
import { fromFunctionUrl, toFunctionUrl, type FunctionUrlResponse } from '../lib/adapters/function-url';
import { awsIngestDeps } from '../lib/wiring/aws';

export async function handler(
  event: LambdaFunctionURLEvent,
  context?: Pick<Context, 'awsRequestId'>,
): Promise<FunctionUrlResponse> {
  const shared = await awsIngestDeps();
  // The deps are shared by the invocations of a cold start: this invocation gets its own logger.
  const requestId = context?.awsRequestId ?? event.requestContext?.requestId;
  const deps = { ...shared, log: shared.log.child({ requestId }) };
  try {
    return toFunctionUrl(await handleEvents(deps, fromFunctionUrl(event)));
  } finally {
    deps.metrics.flush();
  }
}
