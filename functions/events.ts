// Events function (Lambda Function URL): signed server events → join store and rounds.
import { handleEvents } from '../lib/app/ingest';
import { fromFunctionUrl, toFunctionUrl, type FunctionUrlEvent, type FunctionUrlResult } from '../lib/adapters/function-url';
import { awsIngestDeps } from '../lib/wiring/aws';

export async function handler(event: FunctionUrlEvent): Promise<FunctionUrlResult> {
  const deps = await awsIngestDeps();
  try {
    return toFunctionUrl(await handleEvents(deps, fromFunctionUrl(event)));
  } finally {
    deps.metrics.flush();
  }
}
