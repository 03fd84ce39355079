// Builds the dependencies of the Lambda handlers, once per process: one configured client per
// backend, shared by the handler invocations of a cold start.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { DynamoStore } from '../adapters/dynamodb/store';
import { EventBridgeScheduler } from '../adapters/scheduler-eventbridge';
import type { AppDeps, IngestDeps } from '../app/deps';
import type { Scheduler } from '../ports';
import { systemClock } from '../support/clock';
import { ENV, loadConfig, requireAws } from '../support/config';
import { createLogger, levelFromEnv, Metrics } from '../support/observability';
import { loadKey } from '../support/secrets';

/** Everything but the scheduler, whose target differs per function. */
export type Shared = Omit<AppDeps, 'scheduler'> & { store: DynamoStore };

let shared: Shared | undefined;

/** AWS: config from the environment (checked), DynamoDB and the logger, per cold start. */
export function awsShared(fn: 'events' | 'round'): Shared {
  if (!shared) {
    const config = loadConfig();
    requireAws(config, fn);
    const client = new DynamoDBClient(config.dynamodbEndpoint ? { endpoint: config.dynamodbEndpoint } : {});
    const store = new DynamoStore({ client, table: config.table });
    shared = {
      config,
      store,
      joins: store,
      rounds: store,
      clock: systemClock,
      log: createLogger('ping-muc', levelFromEnv()),
      metrics: new Metrics(),
    };
  }
  return shared;
}

const schedulers = new Map<string, Scheduler>();
let schedulerClient: SchedulerClient | undefined;

/** EventBridge Scheduler targeting the round function `targetArn`. */
export function awsScheduler(shared: Shared, targetArn: string): Scheduler {
  let scheduler = schedulers.get(targetArn);
  if (!scheduler) {
    schedulerClient ??= new SchedulerClient({});
    const { group, roleArn, dlqArn } = shared.config.scheduler;
    scheduler = new EventBridgeScheduler({
      client: schedulerClient,
      group,
      roleArn,
      dlqArn,
      targetArn,
      now: shared.clock.now,
    });
    schedulers.set(targetArn, scheduler);
  }
  return scheduler;
}

export async function awsIngestDeps(): Promise<IngestDeps> {
  const s = awsShared('events');
  const webhookKey = await loadKey(ENV.webhookSecret, ENV.webhookSecretArn);
  return { ...s, webhooks: s.store, scheduler: awsScheduler(s, s.config.scheduler.roundFunctionArn), webhookKey };
}
