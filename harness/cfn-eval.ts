// A tiny CloudFormation evaluator for tests: resolves Ref, Fn::GetAtt, Fn::Join, Fn::Sub (no
// variables map), Fn::If/Not/Equals/And/Or and AWS::NoValue with given parameter values and
// fake physical ids, so the functions' environment can be fed to lib's loadConfig().
import type { CfnTemplate } from './synth';

export const NO_VALUE = Symbol('AWS::NoValue');

export interface EvalContext {
  template: CfnTemplate;
  parameters: Record<string, string>;
  account?: string;
  region?: string;
}

const pseudo = (ctx: EvalContext): Record<string, string> => ({
  'AWS::AccountId': ctx.account ?? '123456789012',
  'AWS::Region': ctx.region ?? 'eu-west-1',
  'AWS::Partition': 'aws',
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::StackName': 'PingMuc',
});

/** What Ref returns for a resource of this type (a plausible fake). */
function refOf(ctx: EvalContext, id: string): string {
  const r = ctx.template.Resources[id];
  if (!r) throw new Error(`Ref to unknown ${id}`);
  const { 'AWS::AccountId': acct, 'AWS::Region': region } = pseudo(ctx);
  switch (r.Type) {
    case 'AWS::SecretsManager::Secret':
      return `arn:aws:secretsmanager:${region}:${acct}:secret:${id}-AbCdEf`;
    case 'AWS::SQS::Queue':
      return `https://sqs.${region}.amazonaws.com/${acct}/${id}`;
    case 'AWS::SNS::Topic':
      return `arn:aws:sns:${region}:${acct}:${id}`;
    default:
      return `${id}-physical`;
  }
}

function getAtt(ctx: EvalContext, id: string, attr: string): string {
  const r = ctx.template.Resources[id];
  if (!r) throw new Error(`GetAtt of unknown ${id}`);
  const { 'AWS::AccountId': acct, 'AWS::Region': region } = pseudo(ctx);
  const key = `${r.Type}.${attr}`;
  switch (key) {
    case 'AWS::IAM::Role.Arn':
      return `arn:aws:iam::${acct}:role/${id}-physical`;
    case 'AWS::SQS::Queue.Arn':
      return `arn:aws:sqs:${region}:${acct}:${id}`;
    case 'AWS::SQS::Queue.QueueName':
      return id;
    case 'AWS::Lambda::Function.Arn':
      return `arn:aws:lambda:${region}:${acct}:function:${id}-physical`;
    case 'AWS::DynamoDB::Table.Arn':
      return `arn:aws:dynamodb:${region}:${acct}:table/${id}-physical`;
    case 'AWS::Scheduler::ScheduleGroup.Arn':
      return `arn:aws:scheduler:${region}:${acct}:schedule-group/${String(r.Properties?.Name)}`;
    case 'AWS::CloudWatch::Alarm.Arn':
      return `arn:aws:cloudwatch:${region}:${acct}:alarm:${id}-physical`;
    case 'AWS::Logs::LogGroup.Arn':
      return `arn:aws:logs:${region}:${acct}:log-group:${id}-physical:*`;
    case 'AWS::Lambda::Url.FunctionUrl':
      return `https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.${region}.on.aws/`;
    default:
      throw new Error(`GetAtt ${key} not modelled`);
  }
}

function condition(ctx: EvalContext, name: string): boolean {
  const c = ctx.template.Conditions?.[name];
  if (c === undefined) throw new Error(`unknown condition ${name}`);
  return Boolean(evaluate(ctx, c));
}

export function evaluate(ctx: EvalContext, v: unknown): unknown {
  if (Array.isArray(v)) return v.map((x) => evaluate(ctx, x)).filter((x) => x !== NO_VALUE);
  if (!v || typeof v !== 'object') return v;
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length === 1) {
    const [[fn, arg]] = entries as [[string, unknown]];
    switch (fn) {
      case 'Ref': {
        const name = arg as string;
        if (name === 'AWS::NoValue') return NO_VALUE;
        const p = pseudo(ctx)[name];
        if (p !== undefined) return p;
        if (ctx.template.Parameters?.[name]) {
          const given = ctx.parameters[name];
          const def = ctx.template.Parameters[name]!.Default;
          if (given === undefined && def === undefined) throw new Error(`parameter ${name} has no value`);
          return given ?? String(def);
        }
        return refOf(ctx, name);
      }
      case 'Fn::GetAtt': {
        const [id, attr] = arg as [string, string];
        return getAtt(ctx, id, attr);
      }
      case 'Fn::Join': {
        const [sep, parts] = arg as [string, unknown[]];
        return (evaluate(ctx, parts) as unknown[]).map(String).join(sep);
      }
      case 'Fn::Sub':
        return (arg as string).replace(/\$\{([^}]+)\}/g, (_, name: string) => String(evaluate(ctx, { Ref: name })));
      case 'Fn::If': {
        const [cond, a, b] = arg as [string, unknown, unknown];
        return evaluate(ctx, condition(ctx, cond) ? a : b);
      }
      case 'Fn::Equals': {
        const [a, b] = arg as [unknown, unknown];
        return String(evaluate(ctx, a)) === String(evaluate(ctx, b));
      }
      case 'Fn::Not':
        return !evaluate(ctx, (arg as unknown[])[0]);
      case 'Fn::And':
        return (arg as unknown[]).every((x) => evaluate(ctx, x));
      case 'Fn::Or':
        return (arg as unknown[]).some((x) => evaluate(ctx, x));
      case 'Condition':
        return condition(ctx, arg as string);
      default:
        if (fn.startsWith('Fn::')) throw new Error(`${fn} not modelled`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of entries) {
    const e = evaluate(ctx, x);
    if (e !== NO_VALUE) out[k] = e;
  }
  return out;
}
