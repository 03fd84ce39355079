// Child: the counting stanza API stub; tells its URL, answers 'counts' and 'reset' messages.
import { childParam, tell } from './children';
import { answerOfOccupant, API_SECRET } from './round';
import { startCountingStub } from './stanza-stub';

const { latencyMs } = childParam<{ latencyMs: number }>();
const stub = await startCountingStub(API_SECRET, latencyMs, answerOfOccupant);
process.on('message', (m) => {
  if (m === 'reset') stub.reset();
  void tell(stub.counts());
});
await tell({ url: stub.url });
process.on('SIGTERM', () => void stub.close().finally(() => process.exit(0)));
process.on('disconnect', () => void stub.close().finally(() => process.exit(0)));
