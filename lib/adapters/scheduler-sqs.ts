// Scheduler port on AWS: the round queue holds a job's wait (docs/scheduling.md). A job due within
// IN_PLACE_MS is invoked now; one due within 15 minutes is an SQS message whose DelaySeconds ends
// at its time; a later one is a one-time schedule (`later`, EventBridge Scheduler) that sends it
// to the queue. Nothing runs while a job waits: a function runs only once the job is due.
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { RoundJob } from '../domain/model';
import { serializeRoundJob } from '../domain/round-job';
import { NAME_PATTERN } from '../domain/schedule';
import type { Scheduler } from '../ports';

/** SQS's cap on a message's DelaySeconds. */
export const MAX_DELAY_SECONDS = 900;
/**
 * A job due this soon is invoked now rather than queued: the round waits the rest in place (a
 * round waits at most this long, lib/app/next.ts IN_PLACE_MS).
 */
export const INVOKE_NOW_MS = 1_000;

export interface QueueSchedulerOptions {
  client: SQSClient;
  /** URL of the round queue (config.scheduler.queueUrl). */
  queueUrl: string;
  /** Jobs due later than SQS can delay a message: a schedule that sends them to the queue. */
  later: Scheduler;
  /**
   * Invokes the round function asynchronously now with a job's input (Lambda InvokeCommand,
   * Event). Without it a job due now is a message with no delay.
   */
  invokeNow?: (input: string) => Promise<void>;
  /** Clock (ms), for tests. */
  now?: () => number;
}

export class QueueScheduler implements Scheduler {
  private readonly client: SQSClient;
  private readonly queueUrl: string;
  private readonly later: Scheduler;
  private readonly invokeNow: ((input: string) => Promise<void>) | undefined;
  private readonly now: () => number;

  constructor(options: QueueSchedulerOptions) {
    if (!options.queueUrl) throw new Error('QueueScheduler: queueUrl is required');
    this.client = options.client;
    this.queueUrl = options.queueUrl;
    this.later = options.later;
    this.invokeNow = options.invokeNow;
    this.now = options.now ?? Date.now;
  }

  /**
   * Sends `job` to arrive at `at`, never before (DelaySeconds rounded up), carrying its time.
   * Always true within 15 minutes: a queue dedupes no name, and a duplicate job finds the round
   * claimed, leased, done or at another pass (delivery is at-least-once anyway).
   */
  async schedule(name: string, at: number, job: RoundJob): Promise<boolean> {
    if (!NAME_PATTERN.test(name)) throw new Error(`QueueScheduler: invalid schedule name ${JSON.stringify(name)}`);
    if (!Number.isFinite(at)) throw new RangeError(`QueueScheduler: invalid time ${at}`);
    const now = this.now();
    const delaySeconds = Math.max(0, Math.ceil((at - now) / 1000));
    if (delaySeconds > MAX_DELAY_SECONDS) return this.later.schedule(name, at, job);
    // The job's own time when it carries one (a start: LINK_LEAD_MS after `at`), else `at`.
    const due = job.at ?? Math.ceil(at);
    const input = serializeRoundJob({ ...job, at: due });
    // Judged by the job's own time: invoked now, it must not arrive more than IN_PLACE_MS early.
    if (this.invokeNow && due - now <= INVOKE_NOW_MS) {
      await this.invokeNow(input);
      return true;
    }
    await this.client.send(
      new SendMessageCommand({ QueueUrl: this.queueUrl, DelaySeconds: delaySeconds, MessageBody: input }),
    );
    return true;
  }
}
