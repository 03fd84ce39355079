// A ping-muc Lambda function: its bundle (infra/bundling.ts), size, environment, own log group
// and own role holding exactly the grants it is given, and Lambda's JSON log format.
import path from 'node:path';
import { Aws, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { FUNCTIONS, HANDLER_EXPORT, lambdaBundling, type FunctionName } from './bundling';
import { allow } from './iam';

/**
 * Sizing. The round function's timeout is what lib's checkpointing works within (its deadline
 * margin with the defaults, batches of 100 and ten in flight, is 100 s: lib checks it at cold
 * start). 512 MB: a 100,000-join round at batches of 100 peaks at 155 MB (docs/benchmarks.md §7),
 * and Lambda gives CPU in proportion to memory.
 */
export const SIZING = {
  events: { memoryMb: 256, timeoutSeconds: 20 },
  round: { memoryMb: 512, timeoutSeconds: 600 },
} as const;

export interface PingMucFunctionProps {
  readonly description: string;
  /** The settings it reads, nothing more (names: lib/support/config.ts ENV). */
  readonly environment: Record<string, string>;
  /** Its policy, besides writing to its own log group. */
  readonly grants: iam.PolicyStatement[];
  /** Retention of its log group (a parameter's value). */
  readonly logRetentionDays: number;
  /** Application log level, DEBUG or INFO (a parameter's value): LOG_LEVEL and Lambda's filter. */
  readonly logLevel: string;
  /** Project root for bundling (must contain the entry and a package-lock.json). */
  readonly projectRoot: string;
  /** Entry file, relative to projectRoot or absolute; default FUNCTIONS[name] (tests may substitute stubs). */
  readonly entry?: string;
}

/**
 * Node.js 22 on arm64, bundled with the local esbuild. Its log group and role are declared next
 * to it, in the same scope, not inside it: every resource keeps the logical ID it had before this
 * construct existed (`<Name>Logs`, `<Name>Role`, `<Name>Function`), so a deployed stack replaces
 * nothing, least of all the events Function URL that Prosody is configured with.
 */
export class PingMucFunction extends NodejsFunction {
  constructor(scope: Construct, name: FunctionName, props: PingMucFunctionProps) {
    const prefix = name.charAt(0).toUpperCase() + name.slice(1);
    const logGroup = ownLogGroup(scope, `${prefix}Logs`, props.logRetentionDays);
    const role = new iam.Role(scope, `${prefix}Role`, {
      description: `ping-muc: ${name} function`,
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    });
    super(scope, `${prefix}Function`, {
      description: props.description,
      entry: path.resolve(props.projectRoot, props.entry ?? FUNCTIONS[name]),
      handler: HANDLER_EXPORT,
      projectRoot: props.projectRoot,
      depsLockFilePath: path.join(props.projectRoot, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: SIZING[name].memoryMb,
      timeout: Duration.seconds(SIZING[name].timeoutSeconds),
      role,
      logGroup,
      environment: { ...props.environment, ...commonEnvironment(props.logLevel) },
      bundling: lambdaBundling(),
      // Our lines are JSON already (stdout, passed through as they are); the platform's own
      // START/END/REPORT lines are INFO, so only its warnings and errors are kept.
      loggingFormat: lambda.LoggingFormat.JSON,
      systemLogLevelV2: lambda.SystemLogLevel.WARN,
      applicationLogLevelV2: props.logLevel as lambda.ApplicationLogLevel,
    });
    // Instead of AWSLambdaBasicExecutionRole (logs:* on *): write to its own log group only.
    role.addToPolicy(allow('WriteOwnLogs', ['logs:CreateLogStream', 'logs:PutLogEvents'], [logGroup.logGroupArn]));
    for (const statement of props.grants) role.addToPolicy(statement);
  }
}

/** What both functions are given besides their own settings. */
export function commonEnvironment(logLevel: string): Record<string, string> {
  return {
    // The dimension Stack of every EMF metric (the alarms and the dashboard select on it).
    PING_MUC_STACK: Aws.STACK_NAME,
    LOG_LEVEL: logLevel,
    // The bundles ship an external source map (infra/bundling.ts): readable stack traces.
    NODE_OPTIONS: '--enable-source-maps',
  };
}

/** Deleted with the stack; retention from a parameter, hence set on the L1. */
function ownLogGroup(scope: Construct, id: string, retentionDays: number): logs.LogGroup {
  const logGroup = new logs.LogGroup(scope, id, { removalPolicy: RemovalPolicy.DESTROY });
  (logGroup.node.defaultChild as logs.CfnLogGroup).retentionInDays = retentionDays;
  return logGroup;
}
