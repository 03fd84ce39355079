// Child: an in-memory dynalite with one table (param `table`, default the round bench's TABLE);
// tells its endpoint, runs until killed.
import { startDynalite } from '../lib/adapters/dynamodb/dynalite';
import { ensureTable } from '../lib/adapters/dynamodb/table';
import { childParam, tell } from './children';
import { TABLE } from './round';

const { table = TABLE } = childParam<{ table?: string }>();
const d = await startDynalite();
await ensureTable(d.client, table);
// Any message: answer this process's CPU time (ms) since the previous message.
let cpu0 = process.cpuUsage();
process.on('message', () => {
  const cpu = process.cpuUsage(cpu0);
  cpu0 = process.cpuUsage();
  void tell({ cpuMs: Math.round((cpu.user + cpu.system) / 1000) });
});
await tell({ endpoint: d.endpoint });
process.on('SIGTERM', () => void d.close().finally(() => process.exit(0)));
process.on('disconnect', () => void d.close().finally(() => process.exit(0)));
