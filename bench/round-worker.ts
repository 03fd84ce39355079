// Child: runs one measured round in a fresh process (bundled by esbuild like the Lambda code,
// so that its peak RSS is the round's and not the TypeScript loader's).
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { childParam, tell } from './children';
import { measureRound, type RoundParams } from './round';

const p = childParam<RoundParams & { endpoint: string; stubUrl: string; closeSeq: number }>();
// As lib/adapters/dynalite.ts's localDynamoClient, without importing dynalite into the bundle.
const client = new DynamoDBClient({ endpoint: p.endpoint, region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 3 });
const result = await measureRound(client, p.stubUrl, { n: p.n, noise: p.noise, concurrency: p.concurrency, latencyMs: p.latencyMs }, p.closeSeq);
client.destroy();
await tell(result);
process.exit(0);
