// Child: runs one measured round in a fresh process (bundled by esbuild like the Lambda code,
// so that its peak RSS is the round's and not the TypeScript loader's).
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { childParam, tell } from './children';
import { MemoryStore } from '../harness/memory-store';
import {
  type CalibrationResult,
  calibrate,
  measureRound,
  type RoundParams,
  type RoundResult,
  seed,
  type Variant,
} from './round';

const p = childParam<
  RoundParams & { endpoint?: string; stubUrl: string; closeSeq: number; variant: Variant; calibrate?: boolean }
>();
const params = { n: p.n, noise: p.noise, concurrency: p.concurrency, latencyMs: p.latencyMs, batch: p.batch };
let result: RoundResult | CalibrationResult;
if (p.calibrate) {
  result = await calibrate(p.stubUrl, params);
} else if (p.variant.store === 'memory') {
  // The joins live in this process: seeded here (this RSS then includes them).
  const store = new MemoryStore();
  const last = await seed(store, params);
  result = await measureRound(store, p.stubUrl, params, last + 1);
} else {
  // As lib/adapters/dynamodb/dynalite.ts's localDynamoClient, without importing dynalite into the bundle.
  const client = new DynamoDBClient({
    endpoint: p.endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 3,
  });
  result = await measureRound(client, p.stubUrl, params, p.closeSeq);
  client.destroy();
}
await tell(result);
process.exit(0);
