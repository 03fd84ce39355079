// Events function (Lambda Function URL): signed server events → join store and rounds.
import type { LambdaFunctionURLEvent } from 'aws-lambda';
import { handleEvents } from '../lib/app/ingest';
import { fromFunctionUrl, toFunctionUrl, type FunctionUrlResponse } from '../lib/adapters/function-url';
import { awsIngestDeps } from '../lib/wiring/aws';

export async function handler(event: LambdaFunctionURLEvent): Promise<FunctionUrlResponse> {
  const deps = await awsIngestDeps();
  try {
    return toFunctionUrl(await handleEvents(deps, fromFunctionUrl(event)));
  } finally {
    deps.metrics.flush();
  }
}
