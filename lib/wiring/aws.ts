// Builds the dependencies of the Lambda handlers, once per process: one configured client per
// backend, shared by the handler invocations of a cold start.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoStore } from '../adapters/dynamodb/store';
import { ssmRegistrySource } from '../adapters/registry-ssm';
import { EventBridgeScheduler } from '../adapters/scheduler-eventbridge';
import { QueueScheduler } from '../adapters/scheduler-sqs';
import type { AppDeps } from '../app/deps';
import type { RegistryIngestDeps } from '../app/ingest';
import type { Scheduler } from '../ports';
import { systemClock } from '../support/clock';
import { loadConfig, requireAws, SDK_CLIENT } from '../support/config';
import { createLogger, levelFromEnv, Metrics } from '../support/observability';
import { DocumentRegistry, EnvRegistry, type HostRegistry } from '../support/registry';
import { SecretCache } from '../support/secrets';

/** Everything but the scheduler, whose target differs per function. */
export type Shared = Omit<AppDeps, 'scheduler'> & { store: DynamoStore };

let shared: Shared | undefined;

/** AWS: config from the environment (checked), DynamoDB and the logger, per cold start. */
export function awsShared(fn: 'events' | 'round'): Shared {
  if (!shared) {
    const config = loadConfig();
    requireAws(config, fn);
    const client = new DynamoDBClient({
      ...SDK_CLIENT,
      ...(config.dynamodbEndpoint ? { endpoint: config.dynamodbEndpoint } : {}),
    });
    const store = new DynamoStore({ client, table: config.table });
    shared = {
      config,
      store,
      joins: store,
      rounds: store,
      clock: systemClock,
      log: createLogger('ping-muc', levelFromEnv()),
      metrics: new Metrics('PingMuc', undefined, undefined, config.metrics),
    };
  }
  return shared;
}

let registry: HostRegistry | undefined;

/**
 * The host registry: the SSM parameter PING_MUC_HOSTS_PARAMETER (secrets as Secrets Manager
 * ARNs), else the environment's one entry. Both cached for PING_MUC_CACHE_SECONDS.
 */
export function awsRegistry(s: Shared): HostRegistry {
  if (!registry) {
    const { config, log } = s;
    const secrets = new SecretCache(config.cacheTtlMs);
    const name = config.hostsParameter;
    registry = name
      ? new DocumentRegistry({
          source: ssmRegistrySource(name),
          name,
          arnsOnly: true,
          ttlMs: config.cacheTtlMs,
          secrets,
          onStale: (err) => log.error('host registry refresh failed, keeping the last one', { error: err.message }),
        })
      : new EnvRegistry(process.env, config.apiUrl, secrets);
  }
  return registry;
}

const schedulers = new Map<string, Scheduler>();
let schedulerClient: SchedulerClient | undefined;
let sqsClient: SQSClient | undefined;
let lambdaClient: LambdaClient | undefined;

/**
 * An asynchronous invocation of the round function now, for a job due within a second (the round
 * waits the rest in place). Lambda's own async retries and on-failure destination apply.
 */
function invokerOf(targetArn: string): (input: string) => Promise<void> {
  return async (input) => {
    // Imported when first needed: most invocations never invoke, and the SDK's import is most of a cold start.
    const { InvokeCommand, LambdaClient } = await import('@aws-sdk/client-lambda');
    lambdaClient ??= new LambdaClient({ ...SDK_CLIENT });
    await lambdaClient.send(
      new InvokeCommand({ FunctionName: targetArn, InvocationType: 'Event', Payload: Buffer.from(input) }),
    );
  };
}

/**
 * The round queue for jobs due within 15 minutes, EventBridge Scheduler (sending to the queue)
 * for later ones, and an invocation of the round function `targetArn` for a job due now.
 */
export function awsScheduler(shared: Shared, targetArn: string): Scheduler {
  let scheduler = schedulers.get(targetArn);
  if (!scheduler) {
    schedulerClient ??= new SchedulerClient({ ...SDK_CLIENT });
    sqsClient ??= new SQSClient({ ...SDK_CLIENT });
    const { group, roleArn, dlqArn, queueUrl, queueArn } = shared.config.scheduler;
    const later = new EventBridgeScheduler({
      client: schedulerClient,
      group,
      roleArn,
      dlqArn,
      targetArn: queueArn,
      now: shared.clock.now,
    });
    scheduler = new QueueScheduler({
      client: sqsClient,
      queueUrl,
      later,
      invokeNow: invokerOf(targetArn),
      now: shared.clock.now,
    });
    schedulers.set(targetArn, scheduler);
  }
  return scheduler;
}

export async function awsIngestDeps(): Promise<RegistryIngestDeps> {
  const s = awsShared('events');
  const hosts = awsRegistry(s);
  // Without a registry, a missing or weak key stops the function at once, as before.
  if (!hosts.multiHost) await hosts.webhookKeys('');
  return { ...s, scheduler: awsScheduler(s, s.config.scheduler.roundFunctionArn), hosts };
}
