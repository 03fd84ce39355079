// Part 3, cold start: each function bundled with infra's esbuild settings (infra/bundling.ts),
// then, in a fresh `node` process each time, import the bundle and complete a first handler call.
// @aws-sdk/* is external in the bundle (the Lambda runtime provides it); here it resolves from
// the repository's node_modules, which is why the bundles are written inside the repository.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { startDynalite } from '../lib/adapters/dynamodb/dynalite';
import { ensureTable } from '../lib/adapters/dynamodb/table';
import { secretKey, sign } from '../lib/domain/signature';
import { BUNDLE_BUDGET_BYTES } from '../infra/bundling';
import { BUILD_DIR, bundleFunction } from './build';
import { API_SECRET, TABLE } from './round';
import { WEBHOOK_SECRET } from './ingest';

const run = promisify(execFile);

/** The probe: plain JS, run by a fresh node; prints its timings as the last line of stdout. */
const PROBE = `
const t0 = performance.now();
const [file, kind] = process.argv.slice(2);
const mod = await import(file);
const t1 = performance.now();
let status;
if (kind === 'round') {
  await mod.handler(JSON.parse(process.env.BENCH_INPUT), { invokedFunctionArn: process.env.PING_MUC_ROUND_FUNCTION_ARN, getRemainingTimeInMillis: () => 900000 });
  status = 'ok';
} else {
  const r = await mod.handler(JSON.parse(process.env.BENCH_INPUT));
  status = r.statusCode;
}
const t2 = performance.now();
console.log(JSON.stringify({ status, importMs: t1 - t0, callMs: t2 - t1, totalMs: t2 - t0, sinceProcessStartMs: t2 }));
`;

export interface ColdRow {
  fn: string;
  call: string;
  bytes: number;
  status: string;
  runs: number;
  /** Medians over the runs (ms): import of the bundle, the first call, both, and from process start. */
  importMs: number;
  callMs: number;
  totalMs: number;
  /** Fastest run's import + call (ms): what the machine does when nothing else runs. */
  minTotalMs: number;
  sinceProcessStartMs: number;
  /** Every run's totalMs. */
  totals: number[];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return Math.round((s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2) * 10) / 10;
};

export async function coldStartPart(runs: number, log: (s: string) => void): Promise<ColdRow[]> {
  const bundles = { events: await bundleFunction('events'), round: await bundleFunction('round') };
  const probe = path.join(BUILD_DIR, 'cold-probe.mjs');
  writeFileSync(probe, PROBE);
  const d = await startDynalite();
  await ensureTable(d.client, TABLE);
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    NODE_NO_WARNINGS: '1',
    LOG_LEVEL: 'error',
    AWS_REGION: 'local',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    PING_MUC_TABLE: TABLE,
    PING_MUC_DYNAMODB_ENDPOINT: d.endpoint,
    PING_MUC_WEBHOOK_SECRET: WEBHOOK_SECRET,
    PING_MUC_API_SECRET: API_SECRET,
    PING_MUC_API_URL: 'http://127.0.0.1:9/ping_muc_cloud/stanza',
    PING_MUC_SCHEDULER_ROLE_ARN: 'arn:aws:iam::000000000000:role/bench-scheduler',
    PING_MUC_DLQ_ARN: 'arn:aws:sqs:local:000000000000:bench-dlq',
    PING_MUC_ROUND_FUNCTION_ARN: 'arn:aws:lambda:local:000000000000:function:bench-round',
  };
  const calls: Array<{ fn: 'events' | 'round'; call: string; input: () => unknown; expect: string }> = [
    {
      fn: 'events',
      call: 'bad signature (401, no AWS call)',
      input: () => ({
        requestContext: { http: { method: 'POST' } },
        headers: {
          'webhook-id': 'msg_x',
          'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
          'webhook-signature': 'v1,AAAA',
        },
        body: '{"v":1,"events":[]}',
      }),
      expect: '401',
    },
    {
      fn: 'events',
      call: 'one signed join (2 DynamoDB writes)',
      input: () => {
        const body = JSON.stringify({
          v: 1,
          events: [
            {
              type: 'join',
              seq: Date.now() * 1000,
              host: 'a.example',
              user: 'u@a.example/r',
              room: 'r@muc.remote.example',
              nick: 'n',
            },
          ],
        });
        return {
          requestContext: { http: { method: 'POST' } },
          headers: { 'content-type': 'application/json', ...sign(secretKey(WEBHOOK_SECRET), body) },
          body,
        };
      },
      expect: '200',
    },
    {
      fn: 'round',
      call: 'round job, nothing pending (2 DynamoDB reads)',
      input: () => ({ host: 'a.example', remote: 'muc.remote.example', gen: 'bench', kind: 'start' }),
      expect: 'ok',
    },
  ];
  const rows: ColdRow[] = [];
  type Sample = { status: unknown; importMs: number; callMs: number; totalMs: number; sinceProcessStartMs: number };
  const probeOnce = async (c: (typeof calls)[number]): Promise<Sample> => {
    const { stdout } = await run(process.execPath, [probe, pathToFileURL(bundles[c.fn].file).href, c.fn], {
      env: { ...env, BENCH_INPUT: JSON.stringify(c.input()) },
      cwd: BUILD_DIR,
    });
    const s = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Sample;
    if (String(s.status) !== c.expect)
      throw new Error(`cold start ${c.fn}: expected ${c.expect}, got ${String(s.status)}: ${stdout}`);
    return s;
  };
  try {
    // One discarded run each (file cache), then the calls interleaved run by run, so that a
    // burst of load on the machine spreads over all of them instead of hitting one.
    for (const c of calls) await probeOnce(c);
    const samples = calls.map((): Sample[] => []);
    for (let i = 0; i < runs; i++) for (const [k, c] of calls.entries()) samples[k]?.push(await probeOnce(c));
    for (const [k, c] of calls.entries()) {
      const ss = samples[k] ?? [];
      const row: ColdRow = {
        fn: c.fn,
        call: c.call,
        bytes: bundles[c.fn].bytes,
        status: c.expect,
        runs,
        importMs: median(ss.map((s) => s.importMs)),
        callMs: median(ss.map((s) => s.callMs)),
        totalMs: median(ss.map((s) => s.totalMs)),
        minTotalMs: Math.round(Math.min(...ss.map((s) => s.totalMs)) * 10) / 10,
        sinceProcessStartMs: median(ss.map((s) => s.sinceProcessStartMs)),
        totals: ss.map((s) => Math.round(s.totalMs * 10) / 10),
      };
      rows.push(row);
      log(
        `cold start ${c.fn} (${c.call}): ${(row.bytes / 1024).toFixed(1)} KB, import + first call ${row.totalMs} ms (median of ${runs}, min ${row.minTotalMs})`,
      );
    }
  } finally {
    await d.close();
  }
  return rows;
}

export { BUNDLE_BUDGET_BYTES };
