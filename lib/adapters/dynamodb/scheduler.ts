// Scheduler port for the local service (`npm start`): a durable scheduler kept in the same
// DynamoDB table as the join store (dynalite locally), polled every `pollMs` (docs/scheduling.md).
//
// Items: pk='SCHED', sk=<schedule name>, at (N, ms: when the job is due), job (S, RoundJob JSON),
// attempts (N, failed runs so far). No expiresAt: a pending job never expires.
//
// Life of a job: schedule() puts it if the name is free. When due, the poller claims it by moving
// `at` forward by a lease (conditional on the `at` it read), so a second scheduler on the same
// table, or the next poll, does not start it again. Success deletes it (like EventBridge's
// ActionAfterCompletion DELETE: the name can be used again). A thrown error moves `at` to now +
// backoff and counts the attempt: a job is never dropped. If the process dies mid-run, or the
// bookkeeping write fails, the lease simply expires and the job runs again: at least once, so
// the round handler must be idempotent (as it must be on AWS anyway).
import {
  DeleteItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import type { RoundJob } from '../../domain/model';
import type { Scheduler } from '../../ports';
import { parseRoundJob, serializeRoundJob } from '../../domain/round-job';
import { backoffMs } from '../../support/backoff';
import { NAME_PATTERN } from '../../domain/schedule';
import { isConditionFailed } from './conditions';
import { SCHED_PK } from './keys';

/** Jobs due within this are also woken for by a timer of their own (longer ones by the poll). */
const TIMER_HORIZON_MS = 15 * 60_000;

export interface LocalSchedulerOptions {
  client: DynamoDBClient;
  table: string;
  /** Runs one job; a throw means "retry later". */
  run: (job: RoundJob) => Promise<void>;
  /**
   * Poll interval, default 500 ms: the firing precision of jobs scheduled by other processes or
   * before a restart. A job scheduled here (due within 15 min) fires on its own timer.
   */
  pollMs?: number;
  /** First retry delay after a failure, doubling per attempt. Default 1000 ms. */
  retryBaseMs?: number;
  /** Cap of the retry delay. Default 5 min. */
  retryMaxMs?: number;
  /** Jobs running at once. Default 4. */
  concurrency?: number;
  /**
   * Run a job this long before its time, carrying its time (`at`), as EventBridge Scheduler is
   * used (../domain/schedule.ts): the round waits to its due second, and brings the link to its
   * remote up meanwhile. Default 0.
   */
  leadMs?: number;
  /**
   * How long a claimed job is hidden from other pollers while it runs. If the process dies, the
   * job runs again once this has passed. Default 60 s.
   */
  leaseMs?: number;
  log?: (msg: string, data?: object) => void;
  now?: () => number;
}

interface Due {
  name: string;
  at: number;
  attempts: number;
  job: string;
}

function defaultLog(msg: string, data?: object): void {
  console.error(
    JSON.stringify({ level: 'WARN', service: 'ping-muc', component: 'local-scheduler', message: msg, ...data }),
  );
}

function positive(name: string, v: number, min: number): number {
  if (!Number.isFinite(v) || v < min) throw new RangeError(`LocalScheduler: ${name}=${v}: expected a number ≥ ${min}`);
  return v;
}

export class LocalScheduler implements Scheduler {
  private readonly client: DynamoDBClient;
  private readonly table: string;
  private readonly runJob: (job: RoundJob) => Promise<void>;
  private readonly pollMs: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly concurrency: number;
  private readonly leaseMs: number;
  private readonly log: (msg: string, data?: object) => void;
  private readonly now: () => number;
  private readonly leadMs: number;

  /** Jobs running in this instance, by name. */
  private readonly running = new Map<string, Promise<void>>();
  private started = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private again = false;

  constructor(options: LocalSchedulerOptions) {
    this.client = options.client;
    this.table = options.table;
    this.runJob = options.run;
    this.pollMs = positive('pollMs', options.pollMs ?? 500, 1);
    this.retryBaseMs = positive('retryBaseMs', options.retryBaseMs ?? 1000, 0);
    this.retryMaxMs = positive('retryMaxMs', options.retryMaxMs ?? 5 * 60_000, 0);
    this.concurrency = Math.floor(positive('concurrency', options.concurrency ?? 4, 1));
    this.leaseMs = positive('leaseMs', options.leaseMs ?? 60_000, 1);
    this.log = options.log ?? defaultLog;
    this.leadMs = options.leadMs ?? 0;
    this.now = options.now ?? Date.now;
  }

  /** Store the job under `name` unless that name is pending already (then false). */
  async schedule(name: string, at: number, job: RoundJob): Promise<boolean> {
    if (!NAME_PATTERN.test(name)) throw new Error(`LocalScheduler: invalid schedule name ${JSON.stringify(name)}`);
    if (!Number.isFinite(at)) throw new RangeError(`LocalScheduler: invalid time ${at}`);
    const lead = Math.max(0, this.leadMs);
    const input = serializeRoundJob(lead > 0 ? { ...job, at: Math.ceil(at) } : job);
    at -= lead;
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: {
            pk: { S: SCHED_PK },
            sk: { S: name },
            at: { N: String(Math.ceil(at)) },
            job: { S: input },
            attempts: { N: '0' },
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (err) {
      if (isConditionFailed(err)) return false;
      throw err;
    }
    // A job of this process is looked for at its own time, not at the next poll after it (the
    // poll is for jobs of other processes or earlier runs): at its stored, rounded-up time plus
    // 1 ms, since a timer may fire a ms early and the poll would not find the job due yet.
    const delay = Math.max(0, Math.ceil(at) - this.now() + 1);
    if (this.started && !this.stopped && delay <= TIMER_HORIZON_MS) {
      const t = setTimeout(() => this.wake(), delay);
      t.unref?.();
    }
    return true;
  }

  /** Start polling. Pending jobs from earlier runs (a restart) are picked up on the first poll. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.wake();
  }

  /** Stop polling and wait for the running jobs to finish. Pending jobs stay in the table. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.polling;
    await Promise.allSettled([...this.running.values()]);
  }

  /** Jobs running in this instance now. */
  get active(): number {
    return this.running.size;
  }

  private wake(): void {
    if (this.stopped || !this.started) return;
    if (this.polling) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.polling = this.poll()
      .catch((err: unknown) => this.log('scheduler poll failed', { error: String(err) }))
      .finally(() => {
        this.polling = undefined;
        if (this.stopped) return;
        if (this.again) {
          this.again = false;
          this.wake();
        } else {
          this.timer = setTimeout(() => this.wake(), this.pollMs);
        }
      });
  }

  private async poll(): Promise<void> {
    const free = this.concurrency - this.running.size;
    if (free <= 0) return;
    const now = this.now();
    const due: Due[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk',
          FilterExpression: '#at <= :now',
          ExpressionAttributeNames: { '#at': 'at' },
          ExpressionAttributeValues: { ':pk': { S: SCHED_PK }, ':now': { N: String(now) } },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) {
        const name = item.sk?.S;
        if (name === undefined || this.running.has(name)) continue;
        due.push({
          name,
          at: Number(item.at?.N),
          attempts: Number(item.attempts?.N ?? '0'),
          job: item.job?.S ?? '',
        });
      }
      start = page.LastEvaluatedKey;
    } while (start);
    due.sort((a, b) => a.at - b.at);
    for (const d of due.slice(0, free)) this.launch(d);
  }

  private launch(d: Due): void {
    const p = this.execute(d)
      .catch((err: unknown) =>
        this.log('scheduler bookkeeping failed; the job runs again after its lease', {
          name: d.name,
          error: String(err),
        }),
      )
      .finally(() => {
        this.running.delete(d.name);
        this.wake(); // a slot is free: more due jobs may be waiting
      });
    this.running.set(d.name, p);
  }

  private key(name: string): Record<string, AttributeValue> {
    return { pk: { S: SCHED_PK }, sk: { S: name } };
  }

  private async execute(d: Due): Promise<void> {
    // Claim: hide the job for the lease, only if nobody changed it since we read it.
    const lease = this.now() + this.leaseMs;
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: this.key(d.name),
          UpdateExpression: 'SET #at = :lease',
          ConditionExpression: '#at = :at AND attempts = :attempts',
          ExpressionAttributeNames: { '#at': 'at' },
          ExpressionAttributeValues: {
            ':lease': { N: String(lease) },
            ':at': { N: String(d.at) },
            ':attempts': { N: String(d.attempts) },
          },
        }),
      );
    } catch (err) {
      if (isConditionFailed(err)) return; // taken or changed meanwhile
      throw err;
    }

    let failure: unknown;
    try {
      // A malformed job fails like any other and is retried, never dropped.
      await this.runJob(parseRoundJob(d.job));
    } catch (err) {
      failure = err ?? new Error('job failed');
    }

    if (failure === undefined) {
      try {
        await this.client.send(
          new DeleteItemCommand({
            TableName: this.table,
            Key: this.key(d.name),
            ConditionExpression: '#at = :lease',
            ExpressionAttributeNames: { '#at': 'at' },
            ExpressionAttributeValues: { ':lease': { N: String(lease) } },
          }),
        );
      } catch (err) {
        // Lease expired and someone else took the job: it is theirs to finish.
        if (!isConditionFailed(err)) throw err;
        this.log('scheduler job finished after its lease expired', { name: d.name });
      }
      return;
    }

    const attempts = d.attempts + 1;
    const delay = backoffMs(d.attempts, this.retryBaseMs, this.retryMaxMs);
    const retryAt = this.now() + delay;
    this.log('scheduler job failed; retrying later', {
      name: d.name,
      attempts,
      retryInMs: delay,
      error: failure instanceof Error ? failure.message : String(failure),
    });
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: this.key(d.name),
          UpdateExpression: 'SET #at = :retry, attempts = :attempts',
          ConditionExpression: '#at = :lease',
          ExpressionAttributeNames: { '#at': 'at' },
          ExpressionAttributeValues: {
            ':retry': { N: String(retryAt) },
            ':attempts': { N: String(attempts) },
            ':lease': { N: String(lease) },
          },
        }),
      );
    } catch (err) {
      if (!isConditionFailed(err)) throw err;
      this.log('scheduler job failed after its lease expired', { name: d.name });
    }
  }
}
