// Counts the DynamoDB requests a client sends: the benchmarks' and the store tests' measure of
// what an operation costs. A measuring tool, so it lives in harness/ and not in the store adapter.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

export interface RequestCounter {
  /** Commands sent (one per client.send, whatever its retries). */
  total: number;
  /** Commands by name, e.g. { PutItemCommand: 3, QueryCommand: 1 }. */
  byCommand: Record<string, number>;
  /** HTTP attempts, including the SDK's own retries. */
  attempts: number;
  reset(): void;
  /** Detach from the client. */
  remove(): void;
}

let counterSeq = 0;

/**
 * Count the DynamoDB requests sent through `client` (middleware on client.middlewareStack).
 * Note that BatchWriteItemCommand counts as one request for up to 25 writes.
 */
export function countRequests(client: DynamoDBClient): RequestCounter {
  const id = ++counterSeq;
  const names = [`pingMucCountCommands${id}`, `pingMucCountAttempts${id}`];
  const counter: RequestCounter = {
    total: 0,
    byCommand: {},
    attempts: 0,
    reset() {
      counter.total = 0;
      counter.attempts = 0;
      counter.byCommand = {};
    },
    remove() {
      for (const name of names) client.middlewareStack.remove(name);
    },
  };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      counter.total++;
      const name = String(context.commandName ?? 'unknown');
      counter.byCommand[name] = (counter.byCommand[name] ?? 0) + 1;
      return next(args);
    },
    { step: 'initialize', name: names[0] },
  );
  client.middlewareStack.add(
    (next) => async (args) => {
      counter.attempts++;
      return next(args);
    },
    { step: 'deserialize', name: names[1] },
  );
  return counter;
}
