// Scheduler port on Amazon EventBridge Scheduler: one one-time schedule per round job, which
// sends it to its target (the round queue, for jobs due beyond SQS's 15-minute delay: see
// ./scheduler-sqs.ts) and then deletes itself (docs/scheduling.md).
import { createHash } from 'node:crypto';
import { ConflictException, CreateScheduleCommand, type SchedulerClient } from '@aws-sdk/client-scheduler';
import type { RoundJob } from '../domain/model';
import type { Scheduler } from '../ports';
import { serializeRoundJob } from '../domain/round-job';
import { atExpression, NAME_PATTERN, scheduledMinute } from '../domain/schedule';

export interface EventBridgeSchedulerOptions {
  client: SchedulerClient;
  /** Dedicated schedule group (config.scheduler.group). */
  group: string;
  /** Role EventBridge Scheduler assumes to invoke the target. */
  roleArn: string;
  /** SQS queue receiving invocations that failed after all retries. */
  dlqArn: string;
  /** ARN of the target: the round queue (or the round function). */
  targetArn: string;
  retry?: {
    /** 0–185; default 5. */
    maximumRetryAttempts?: number;
    /** 60–86400; default 3600. */
    maximumEventAgeInSeconds?: number;
  };
  /** Clock (ms), for tests. */
  now?: () => number;
}

/**
 * An `at` already in the past (a late retry of the caller) is moved this far into the future
 * before rounding up: a one-time schedule must lie in the future, and the job must still run.
 */
const MIN_LEAD_MS = 5_000;

function checkRange(name: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`EventBridgeScheduler: ${name}=${v}: expected an integer from ${min} to ${max}`);
  }
  return v;
}

export class EventBridgeScheduler implements Scheduler {
  private readonly client: SchedulerClient;
  private readonly group: string;
  private readonly roleArn: string;
  private readonly dlqArn: string;
  private readonly targetArn: string;
  private readonly maximumRetryAttempts: number;
  private readonly maximumEventAgeInSeconds: number;
  private readonly now: () => number;

  constructor(options: EventBridgeSchedulerOptions) {
    for (const key of ['group', 'roleArn', 'dlqArn', 'targetArn'] as const) {
      if (!options[key]) throw new Error(`EventBridgeScheduler: ${key} is required`);
    }
    this.client = options.client;
    this.group = options.group;
    this.roleArn = options.roleArn;
    this.dlqArn = options.dlqArn;
    this.targetArn = options.targetArn;
    this.maximumRetryAttempts = checkRange('maximumRetryAttempts', options.retry?.maximumRetryAttempts ?? 5, 0, 185);
    this.maximumEventAgeInSeconds = checkRange(
      'maximumEventAgeInSeconds',
      options.retry?.maximumEventAgeInSeconds ?? 3600,
      60,
      86_400,
    );
    this.now = options.now ?? Date.now;
  }

  /**
   * Create the one-time schedule `name`. True if created, false if a schedule of that name
   * already exists in the group (ConflictException: already scheduled). Other errors propagate.
   */
  async schedule(name: string, at: number, job: RoundJob): Promise<boolean> {
    if (!NAME_PATTERN.test(name))
      throw new Error(`EventBridgeScheduler: invalid schedule name ${JSON.stringify(name)}`);
    const minute = scheduledMinute(at, this.now() + MIN_LEAD_MS);
    // Only the job's own fields, and its time (its own when it carries one): delivered early by
    // design, the round arms it again for that time.
    const input = serializeRoundJob({ ...job, at: job.at ?? Math.ceil(at) });
    const expression = atExpression(minute);
    // Idempotency token of this exact request (ClientToken: 1–64 of [a-zA-Z0-9-_]), so the SDK's
    // own retries of a create that did succeed do not fail. It covers the expression and input as
    // well as the name: once a fired schedule has deleted itself, a new schedule reusing the name
    // for another time or job is a new request, never mistaken for a replay of the old one.
    const clientToken = createHash('sha256')
      .update(JSON.stringify([this.group, name, expression, input, this.targetArn]))
      .digest('hex');
    try {
      await this.client.send(
        new CreateScheduleCommand({
          Name: name,
          GroupName: this.group,
          ScheduleExpression: expression,
          ScheduleExpressionTimezone: 'UTC',
          FlexibleTimeWindow: { Mode: 'OFF' },
          ActionAfterCompletion: 'DELETE',
          State: 'ENABLED',
          Target: {
            Arn: this.targetArn,
            RoleArn: this.roleArn,
            Input: input,
            DeadLetterConfig: { Arn: this.dlqArn },
            RetryPolicy: {
              MaximumRetryAttempts: this.maximumRetryAttempts,
              MaximumEventAgeInSeconds: this.maximumEventAgeInSeconds,
            },
          },
          ClientToken: clientToken,
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConflictException || (err as { name?: unknown } | null)?.name === 'ConflictException') {
        return false;
      }
      throw err;
    }
  }
}
