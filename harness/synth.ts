// Shared by the infra tests and the cost benchmark: synthesize the real app once per caller (local
// esbuild bundling of the real functions, offline) and small helpers over the template JSON.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { buildApp, type PingMucStack } from '../infra/stack';

export interface Synth {
  stack: PingMucStack;
  template: Template;
  json: CfnTemplate;
  assembly: CloudAssembly;
  outdir: string;
  ms: number;
  cleanup(): void;
}

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Condition?: string;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
  DependsOn?: string | string[];
}
export interface CfnTemplate {
  Parameters?: Record<string, Record<string, unknown>>;
  Conditions?: Record<string, unknown>;
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, { Value: unknown; Condition?: string; Description?: string }>;
}

export function synth(): Synth {
  const outdir = mkdtempSync(path.join(os.tmpdir(), 'ping-muc-cdk-'));
  const t0 = performance.now();
  const { app, stack } = buildApp({ outdir });
  const assembly = app.synth();
  const ms = performance.now() - t0;
  const template = Template.fromJSON(assembly.getStackByName(stack.stackName).template as Record<string, unknown>);
  return {
    stack,
    template,
    json: template.toJSON() as CfnTemplate,
    assembly,
    outdir,
    ms,
    cleanup: () => rmSync(outdir, { recursive: true, force: true }),
  };
}

/** The one resource of `type` whose logical id starts with `prefix`. */
export function resource(json: CfnTemplate, type: string, prefix: string): [string, CfnResource] {
  const found = Object.entries(json.Resources).filter(([id, r]) => r.Type === type && id.startsWith(prefix));
  if (found.length !== 1)
    throw new Error(`expected one ${type} ${prefix}*, found ${found.map(([id]) => id).join(', ') || 'none'}`);
  return found[0]!;
}

export function props(r: CfnResource): Record<string, unknown> {
  return r.Properties ?? {};
}

export interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource?: unknown;
  Condition?: unknown;
  Principal?: unknown;
}

/** Every permission statement granted to a role: its inline policies and attached AWS::IAM::Policy. */
export function roleStatements(json: CfnTemplate, roleId: string): Statement[] {
  const role = json.Resources[roleId];
  if (role?.Type !== 'AWS::IAM::Role') throw new Error(`no role ${roleId}`);
  const out: Statement[] = [];
  const inline = (props(role).Policies ?? []) as Array<{ PolicyDocument: { Statement: Statement[] } }>;
  for (const p of inline) out.push(...p.PolicyDocument.Statement);
  for (const r of Object.values(json.Resources)) {
    if (r.Type !== 'AWS::IAM::Policy') continue;
    const roles = (props(r).Roles ?? []) as unknown[];
    if (roles.some((x) => JSON.stringify(x) === JSON.stringify({ Ref: roleId }))) {
      out.push(...(props(r).PolicyDocument as { Statement: Statement[] }).Statement);
    }
  }
  return out;
}

export const asArray = <T>(x: T | T[] | undefined): T[] => (x === undefined ? [] : Array.isArray(x) ? x : [x]);

/** Every value under a key named `key`, anywhere in `value`, with its JSON path. */
export function findKeys(value: unknown, key: string, at = '$'): Array<{ path: string; value: unknown }> {
  const out: Array<{ path: string; value: unknown }> = [];
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) out.push(...findKeys(v, key, `${at}[${i}]`));
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === key) out.push({ path: `${at}.${k}`, value: v });
      out.push(...findKeys(v, key, `${at}.${k}`));
    }
  }
  return out;
}

export const ref = (id: string) => ({ Ref: id });
export const getAtt = (id: string, attr: string) => ({ 'Fn::GetAtt': [id, attr] });
