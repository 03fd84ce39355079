// Builds the dependencies of the handlers, once per process: one place for shared clients.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { ENV, loadConfig, requireAws, type Config } from './config';
import { DynamoJoinStore } from './adapters/dynamodb-store';
import { EventBridgeScheduler } from './adapters/scheduler-eventbridge';
import { createLogger, levelFromEnv, Metrics, type Logger } from './observability';
import { loadKey } from './secrets';
import type { IngestDeps } from './ingest';
import type { RoundDeps } from './round';
import type { Scheduler, JoinStore } from './ports';

export interface Shared {
  config: Config;
  store: JoinStore;
  log: Logger;
  metrics: Metrics;
}

let shared: Shared | undefined;

/** AWS: config from the environment (checked), DynamoDB and the logger, per cold start. */
export function awsShared(fn: 'events' | 'round'): Shared {
  if (!shared) {
    const config = loadConfig();
    requireAws(config, fn);
    const client = new DynamoDBClient(config.dynamodbEndpoint ? { endpoint: config.dynamodbEndpoint } : {});
    shared = {
      config,
      store: new DynamoJoinStore({ client, table: config.table }),
      log: createLogger('ping-muc', levelFromEnv()),
      metrics: new Metrics(),
    };
  }
  return shared;
}

const schedulers = new Map<string, Scheduler>();
let schedulerClient: SchedulerClient | undefined;

/** EventBridge Scheduler targeting the round function `targetArn`. */
export function awsScheduler(config: Config, targetArn: string): Scheduler {
  let scheduler = schedulers.get(targetArn);
  if (!scheduler) {
    schedulerClient ??= new SchedulerClient({});
    const { group, roleArn, dlqArn } = config.scheduler;
    scheduler = new EventBridgeScheduler({ client: schedulerClient, group, roleArn, dlqArn, targetArn });
    schedulers.set(targetArn, scheduler);
  }
  return scheduler;
}

export async function awsIngestDeps(): Promise<IngestDeps> {
  const s = awsShared('events');
  const webhookKey = await loadKey(ENV.webhookSecret, ENV.webhookSecretArn);
  return { ...s, scheduler: awsScheduler(s.config, s.config.scheduler.roundFunctionArn), webhookKey };
}
