// Child: the ping-muc local service (lib/wiring/local.ts: events endpoint, store, local scheduler,
// rounds) in a process of its own, as the functions are on Lambda, so that the e2e clients and
// taps in the parent do not share its CPU. Its store is the DynamoDB endpoint given as
// `dynamodbEndpoint` (a dynalite in yet another process, as DynamoDB is a service of its own on
// AWS), else an embedded dynalite. Tells its events URL; answers
// { op: 'joins', host, remote, epoch? } with the count of stored joins, and { op: 'log' } with the log
// lines (JSON) it wrote.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { MEMORY, startLocalService } from '../lib/wiring/local';
import { childParam, tell } from './children';

const { env, dynamodbEndpoint } = childParam<{ env: Record<string, string>; dynamodbEndpoint?: string }>();
const lines: string[] = [];
const service = await startLocalService({
  dataDir: MEMORY,
  env,
  dynamodbEndpoint,
  log: (line) => lines.push(line),
  // As `npm start`: the rounds' own jobs fire on their timers, the poll is only a safety net.
  pollMs: 200,
});
// { op: 'profile-start' } / { op: 'profile-stop', file }: a CPU profile of a window (e.g. the round).
let session: Session | undefined;
process.on('message', (m: { op: string; host?: string; epoch?: number; remote?: string; file?: string }) => {
  void (async () => {
    if (m.op === 'profile-start') {
      session = new Session();
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
      await tell({ ok: true });
    } else if (m.op === 'profile-stop' && session && m.file) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(m.file, JSON.stringify(profile));
      session.disconnect();
      await tell({ ok: true });
    } else if (m.op === 'joins' && m.host && m.remote) {
      let count = 0;
      let cursor: string | undefined;
      do {
        const page = await service.store.joinsOf(m.host, m.epoch ?? 0, m.remote, 500, cursor);
        count += page.items.length;
        cursor = page.next;
      } while (cursor);
      await tell({ count });
    } else {
      await tell({ lines });
    }
  })();
});
await tell({ eventsUrl: service.eventsUrl, pid: process.pid });
const close = () => void service.close().finally(() => process.exit(0));
process.on('SIGTERM', close);
process.on('disconnect', close);
