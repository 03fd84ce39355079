// The AWS side of the cost benchmark, inside its child process: every AWS SDK client's `send`
// gets a recording middleware. DynamoDB commands go on to dynalite, each with
// ReturnConsumedCapacity and with its write units counted by DynamoDB's rules (base item and
// every GSI copy: dynalite omits the GSI writes and the units of failed conditional writes).
// Every other service (Lambda, SQS, Scheduler, Secrets Manager, SSM, SNS…) is answered in
// process with a minimal response, and what it was asked is handed to `onCall` (the driver
// delivers invocations, messages and schedules to the round function from it). Counting is by
// client and command, so the benchmark needs to know no item type nor which calls the code makes.
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import {
  type AttributeValue,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { REPO_ROOT } from '../children';

/** One AWS request, as the recorder saw it. */
export interface Call {
  /** e.g. `DynamoDB`, `Lambda`, `SQS`, `Scheduler`, `SecretsManager`, `SSM`. */
  service: string;
  /** e.g. `PutItem`, `Invoke`, `SendMessage`. */
  command: string;
  input: Record<string, unknown>;
}

/** DynamoDB units of one command. */
export interface Units {
  rru: number;
  /** Base table writes, by DynamoDB's rule (failed conditional writes included). */
  wru: number;
  /** Writes to global secondary indexes, by DynamoDB's rule. */
  gsiWru: number;
}

export interface Recorder {
  /** Called for every command before it runs (all services). */
  onCall(call: Call, units?: Units): void;
  /** The answer of a non-DynamoDB command; throw to fail it. */
  answer(call: Call): Promise<Record<string, unknown>> | Record<string, unknown>;
  /** Virtual latency of a command (the driver's clock), before it runs. */
  latency(call: Call): Promise<void>;
}

type Item = Record<string, AttributeValue>;

/** Size of an attribute value by DynamoDB's rule (names counted by the caller). */
export function valueSize(v: AttributeValue): number {
  if (v.S !== undefined) return Buffer.byteLength(v.S);
  if (v.N !== undefined) {
    const digits = v.N.replace(/^-/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
    return Math.ceil(Math.max(1, digits.length) / 2) + 1;
  }
  if (v.B !== undefined) return v.B.length;
  if (v.BOOL !== undefined || v.NULL !== undefined) return 1;
  if (v.SS) return v.SS.reduce((n, s) => n + Buffer.byteLength(s), 0);
  if (v.NS) return v.NS.reduce((n, s) => n + valueSize({ N: s }), 0);
  if (v.BS) return v.BS.reduce((n, b) => n + b.length, 0);
  if (v.L) return 3 + v.L.reduce((n, x) => n + 1 + valueSize(x), 0);
  if (v.M) return 3 + itemSize(v.M) + Object.keys(v.M).length;
  return 0;
}

/** Item size by DynamoDB's rule: attribute names plus values (what a write unit is counted on). */
export function itemSize(item: Item): number {
  let n = 0;
  for (const [name, v] of Object.entries(item)) n += Buffer.byteLength(name) + valueSize(v);
  return n;
}

export interface IndexShape {
  name: string;
  keys: string[];
  /** undefined: ALL; else the projected non-key attributes (KEYS_ONLY: []). */
  include?: string[];
}

export interface TableShape {
  keys: string[];
  indexes: IndexShape[];
}

/** The copy of `item` an index holds, or undefined when the item is not in it (sparse). */
export function indexCopy(table: TableShape, index: IndexShape, item: Item | undefined): Item | undefined {
  if (!item || index.keys.some((k) => item[k] === undefined)) return undefined;
  if (index.include === undefined) return item;
  const copy: Item = {};
  for (const k of [...table.keys, ...index.keys, ...index.include]) if (item[k] !== undefined) copy[k] = item[k];
  return copy;
}

const units = (bytes: number) => Math.max(1, Math.ceil(bytes / 1024));
const same = (a: AttributeValue | undefined, b: AttributeValue | undefined) => JSON.stringify(a) === JSON.stringify(b);

/** GSI write units of one base write from `before` to `after`, by DynamoDB's rule. */
export function gsiWriteUnits(table: TableShape, before: Item | undefined, after: Item | undefined): number {
  let wru = 0;
  for (const index of table.indexes) {
    const a = indexCopy(table, index, before);
    const b = indexCopy(table, index, after);
    if (!a && !b) continue;
    if (a && !b) wru += units(itemSize(a));
    else if (!a && b) wru += units(itemSize(b));
    else if (a && b) {
      const keyChanged = index.keys.some((k) => !same(a[k], b[k]));
      if (keyChanged) wru += units(itemSize(a)) + units(itemSize(b));
      else if (JSON.stringify(a) !== JSON.stringify(b)) wru += units(Math.max(itemSize(a), itemSize(b)));
    }
  }
  return wru;
}

/** Storage of an item and its index copies (100 bytes of overhead each, DynamoDB's rule). */
export function storedBytes(table: TableShape, item: Item): number {
  let n = itemSize(item) + 100;
  for (const index of table.indexes) {
    const copy = indexCopy(table, index, item);
    if (copy) n += itemSize(copy) + 100;
  }
  return n;
}

const RAW = Symbol('cost-bench-raw');
const HOOKED = Symbol('cost-bench-hooked');

/** The DynamoDB side: shapes of tables, and a raw (unrecorded) client for the rule's reads. */
export class DynamoSide {
  readonly raw: DynamoDBClient;
  private shapes = new Map<string, TableShape>();

  constructor(endpoint: string) {
    this.raw = new DynamoDBClient({
      endpoint,
      region: 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    (this.raw as unknown as Record<symbol, boolean>)[RAW] = true;
  }

  async shape(table: string): Promise<TableShape> {
    let s = this.shapes.get(table);
    if (!s) {
      const { Table } = await this.raw.send(new DescribeTableCommand({ TableName: table }));
      const keysOf = (schema: Array<{ AttributeName?: string }> | undefined) =>
        (schema ?? []).map((k) => k.AttributeName as string);
      s = {
        keys: keysOf(Table?.KeySchema),
        indexes: (Table?.GlobalSecondaryIndexes ?? []).map((g) => ({
          name: g.IndexName as string,
          keys: keysOf(g.KeySchema),
          include:
            g.Projection?.ProjectionType === 'ALL'
              ? undefined
              : g.Projection?.ProjectionType === 'KEYS_ONLY'
                ? []
                : (g.Projection?.NonKeyAttributes ?? []),
        })),
      };
      this.shapes.set(table, s);
    }
    return s;
  }

  async get(table: string, key: Item): Promise<Item | undefined> {
    const out = await this.raw.send(new GetItemCommand({ TableName: table, Key: key, ConsistentRead: true }));
    this.mirror.set(JSON.stringify([table, key]), out.Item);
    return out.Item;
  }

  /**
   * Items as the last write left them: every write goes through the recorder, so the item before
   * a write is known without reading it again (read once when never seen).
   */
  private mirror = new Map<string, Item | undefined>();

  async before(table: string, key: Item): Promise<Item | undefined> {
    const k = JSON.stringify([table, key]);
    return this.mirror.has(k) ? this.mirror.get(k) : this.get(table, key);
  }

  /** Every item of `table` (a scan through the raw client). */
  async scan(table: string): Promise<Item[]> {
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const out = await this.raw.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start }));
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  }

  keyOf(shape: TableShape, item: Item): Item {
    return Object.fromEntries(shape.keys.map((k) => [k, item[k] as AttributeValue]));
  }
}

interface Write {
  table: string;
  key: Item;
  /** The item a Put writes (for the size of a failed conditional Put). */
  put?: Item;
}

function writesOf(command: string, input: Record<string, unknown>, keyOf: (t: string, i: Item) => Item): Write[] {
  const table = input.TableName as string;
  switch (command) {
    case 'PutItem':
      return [{ table, key: keyOf(table, input.Item as Item), put: input.Item as Item }];
    case 'UpdateItem':
    case 'DeleteItem':
      return [{ table, key: input.Key as Item }];
    case 'BatchWriteItem': {
      const out: Write[] = [];
      for (const [t, reqs] of Object.entries(input.RequestItems as Record<string, Array<Record<string, unknown>>>)) {
        for (const r of reqs) {
          const put = (r.PutRequest as { Item: Item } | undefined)?.Item;
          const del = (r.DeleteRequest as { Key: Item } | undefined)?.Key;
          out.push(put ? { table: t, key: keyOf(t, put), put } : { table: t, key: del as Item });
        }
      }
      return out;
    }
    default:
      return [];
  }
}

function readUnits(out: Record<string, unknown>): number {
  const cc = out.ConsumedCapacity as
    | { CapacityUnits?: number; ReadCapacityUnits?: number }
    | Array<{ CapacityUnits?: number; ReadCapacityUnits?: number }>
    | undefined;
  const list = Array.isArray(cc) ? cc : cc ? [cc] : [];
  return list.reduce((n, c) => n + (c.ReadCapacityUnits ?? c.CapacityUnits ?? 0), 0);
}

const READS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']);

/** The DynamoDB middleware's work: reads billed as dynalite reports them, writes by the rule. */
async function dynamo(
  side: DynamoSide,
  command: string,
  input: Record<string, unknown>,
  run: (input: Record<string, unknown>) => Promise<{ output: Record<string, unknown> }>,
): Promise<{ result: { output: Record<string, unknown> }; units: Units }> {
  const tables = new Map<string, TableShape>();
  const shapeOf = async (t: string) => {
    const s = tables.get(t) ?? (await side.shape(t));
    tables.set(t, s);
    return s;
  };
  const names = [
    ...(input.TableName ? [input.TableName as string] : []),
    ...Object.keys((input.RequestItems as object | undefined) ?? {}),
  ];
  for (const t of names) await shapeOf(t);
  const writes = writesOf(command, input, (t, i) => side.keyOf(tables.get(t) as TableShape, i));
  const before = await Promise.all(writes.map((w) => side.before(w.table, w.key)));
  const withCapacity = READS.has(command) ? { ...input, ReturnConsumedCapacity: 'TOTAL' } : input;
  const units: Units = { rru: 0, wru: 0, gsiWru: 0 };
  try {
    const result = await run(withCapacity);
    if (READS.has(command)) units.rru = readUnits(result.output);
    const after = await Promise.all(writes.map((w) => side.get(w.table, w.key)));
    writes.forEach((w, i) => {
      const a = before[i];
      const b = after[i];
      const size = Math.max(a ? itemSize(a) : 0, b ? itemSize(b) : 0, w.put ? itemSize(w.put) : 0);
      units.wru += units1(size);
      units.gsiWru += gsiWriteUnits(tables.get(w.table) as TableShape, a, b);
    });
    return { result, units };
  } catch (err) {
    // A failed condition is billed as the write it would have been (no index is written).
    if ((err as { name?: string }).name === 'ConditionalCheckFailedException') {
      writes.forEach((w, i) => {
        const a = before[i];
        units.wru += units1(Math.max(a ? itemSize(a) : 0, w.put ? itemSize(w.put) : 0));
      });
    }
    (err as { costUnits?: Units }).costUnits = units;
    throw err;
  }
}

const units1 = (bytes: number) => Math.max(1, Math.ceil(bytes / 1024));

/** `DynamoDBClient` → `DynamoDB`, `SecretsManagerClient` → `SecretsManager`. */
const serviceOf = (clientName: string) => clientName.replace(/Client$/, '');
const commandOf = (commandName: string) => commandName.replace(/Command$/, '');

/**
 * Hooks `send` of every AWS SDK client package installed (node_modules/@aws-sdk/client-*), so
 * that a client the code creates later, or a service it starts to use, is recorded too.
 */
export async function hookSdk(side: DynamoSide, recorder: Recorder): Promise<string[]> {
  const dir = path.join(REPO_ROOT, 'node_modules', '@aws-sdk');
  const require = createRequire(path.join(REPO_ROOT, 'package.json'));
  const hooked: string[] = [];
  for (const pkg of readdirSync(dir).filter((d) => d.startsWith('client-'))) {
    const mod = (await import(require.resolve(`@aws-sdk/${pkg}`))) as Record<string, unknown>;
    for (const [name, value] of Object.entries(mod)) {
      if (!/Client$/.test(name) || typeof value !== 'function') continue;
      const proto = (value as { prototype?: Record<string, unknown> }).prototype;
      if (!proto || typeof proto.send !== 'function' || Object.hasOwn(proto, 'send')) continue;
      const send = proto.send as (this: unknown, ...args: unknown[]) => unknown;
      proto.send = function (this: Record<symbol, boolean> & ClientLike, ...args: unknown[]) {
        if (!this[RAW] && !this[HOOKED]) {
          this[HOOKED] = true;
          this.middlewareStack.add(middleware(side, recorder), {
            step: 'initialize',
            name: 'costBenchRecorder',
            priority: 'high',
          });
        }
        return send.apply(this, args);
      };
      hooked.push(name);
    }
  }
  return hooked;
}

interface ClientLike {
  middlewareStack: { add(mw: unknown, options: Record<string, unknown>): void };
}

type Next = (args: { input: Record<string, unknown> }) => Promise<{ output: Record<string, unknown> }>;

function middleware(side: DynamoSide, recorder: Recorder) {
  return (next: Next, context: { clientName?: string; commandName?: string }) =>
    async (args: { input: Record<string, unknown> }) => {
      const call: Call = {
        service: serviceOf(String(context.clientName ?? 'Unknown')),
        command: commandOf(String(context.commandName ?? 'Unknown')),
        input: args.input,
      };
      await recorder.latency(call);
      if (call.service === 'DynamoDB') {
        try {
          const { result, units } = await dynamo(side, call.command, args.input, (input) => next({ ...args, input }));
          recorder.onCall(call, units);
          return result;
        } catch (err) {
          recorder.onCall(call, (err as { costUnits?: Units }).costUnits ?? { rru: 0, wru: 0, gsiWru: 0 });
          throw err;
        }
      }
      recorder.onCall(call);
      const output = await recorder.answer(call);
      return { output: { $metadata: {}, ...output }, response: {} };
    };
}
