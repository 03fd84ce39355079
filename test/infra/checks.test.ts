// Infra checks on the synthesized template: the cdk-nag packs AwsSolutions and Serverless (every
// finding fixed or acknowledged with its reason in infra/checks.ts), and cfn-lint when installed.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../infra/stack';

interface Report {
  pluginReports: Array<{
    pluginName: string;
    conclusion: string;
    violations: Array<{ ruleName: string; severity: string; violatingConstructs: Array<{ constructPath: string }> }>;
  }>;
}

/**
 * cfn-lint checks that do not hold for CDK output, each with why:
 * W3005: CDK makes a function depend on its role and the role's policy, so that the policy exists
 * before the first invocation; the DependsOn on the role is redundant with the GetAtt, not wrong.
 */
const CFN_LINT_IGNORED = ['W3005'];

const outdir = mkdtempSync(path.join(os.tmpdir(), 'ping-muc-checks-'));
let stackName = '';
let synthError: unknown;
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

beforeAll(() => {
  const { app, stack } = buildApp({ outdir });
  stackName = stack.stackName;
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  try {
    app.synth();
  } catch (err) {
    synthError = err; // the report below says which rules failed
  }
}, 120_000);

describe('cdk-nag', () => {
  it('cdk-nag reports no unacknowledged finding', () => {
    const report = JSON.parse(readFileSync(path.join(outdir, 'validation-report.json'), 'utf8')) as Report;
    expect(report.pluginReports.map((p) => p.pluginName).sort()).toEqual(['AwsSolutions', 'Serverless']);
    const findings = report.pluginReports.flatMap((p) =>
      p.violations.map(
        (v) => `${v.severity} ${v.ruleName}: ${v.violatingConstructs.map((c) => c.constructPath).join(', ')}`,
      ),
    );
    expect(findings).toEqual([]);
    expect(report.pluginReports.every((p) => p.conclusion === 'success')).toBe(true);
    expect(synthError).toBeUndefined();
  });

  it('every acknowledgement gives its reason', () => {
    const manifest = JSON.parse(readFileSync(path.join(outdir, `${stackName}.metadata.json`), 'utf8')) as Record<
      string,
      Array<{ type: string; data: unknown }>
    >;
    const acks = Object.values(manifest)
      .flat()
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY);
    // Both functions (runtime ×2, tracing, DLQ), both roles, the queue ×2, both secrets, the subscription.
    expect(acks.length).toBeGreaterThanOrEqual(10);
    for (const a of acks) {
      for (const [id, reason] of Object.entries(a.data as Record<string, string>)) {
        expect(reason.length, id).toBeGreaterThan(40);
      }
    }
  });
});

describe('cfn-lint', () => {
  it('passes on the synthesized template (when cfn-lint is installed)', () => {
    const found = spawnSync('sh', ['-c', 'command -v cfn-lint'], { encoding: 'utf8' });
    if (found.status !== 0) {
      console.warn(
        'cfn-lint was NOT run: no cfn-lint on PATH (it is a Python tool: pip install cfn-lint). The template was checked by the other infra tests only.',
      );
      return;
    }
    const template = path.join(outdir, `${stackName}.template.json`);
    const version = execFileSync('cfn-lint', ['--version'], { encoding: 'utf8' }).trim();
    const run = spawnSync('cfn-lint', ['--ignore-checks', ...CFN_LINT_IGNORED, '--', template], { encoding: 'utf8' });
    expect(`${version}: exit ${run.status}\n${run.stdout}${run.stderr}`).toBe(`${version}: exit 0\n`);
  }, 120_000);
});
