// JoinStore on DynamoDB: one table, one GSI (docs/data-model.md). Also runs on dynalite, so it
// uses neither transactions nor TTL deletion: every read filters expired items, and ordering is
// enforced by conditional writes on `seq`.
import {
  BatchWriteItemCommand,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
  type QueryCommandInput,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { createHash } from 'node:crypto';
import type { Join, Page, Round } from '../../domain/model';
import type { JoinStore, PendingClose, RoundStore, WebhookLog } from '../../ports';
import { backoffMs } from '../../support/backoff';
import { KEYS } from './table';

type Item = Record<string, AttributeValue>;

/** Lifetime of round items and link items (refreshed on every close). */
const ROUND_TTL_SECONDS = 7 * 86_400;
const LINK_TTL_SECONDS = 7 * 86_400;
const BATCH_SIZE = 25;

/**
 * Every Round field that saveRound/getRound persist. Typed so that a field added to Round in
 * lib/ports.ts breaks the build here until it is persisted too.
 */
export const ROUND_FIELDS: Record<keyof Round, true> = {
  host: true,
  remote: true,
  gen: true,
  cutoffSeq: true,
  pass: true,
  cursor: true,
  marked: true,
  state: true,
};

export class InvalidCursorError extends Error {
  override name = 'InvalidCursorError';
}

/** UnprocessedItems remained after every retry of a BatchWriteItem. */
export class UnprocessedItemsError extends Error {
  override name = 'UnprocessedItemsError';
}

export interface DynamoStoreOptions {
  client: DynamoDBClient;
  table: string;
  /** Clock in ms (for expiry filtering and round/webhook expiry). */
  now?: () => number;
  /** Retries of BatchWriteItem UnprocessedItems: attempts in all (default 8), first backoff (default 50 ms, doubling, capped at 2 s). */
  batchRetry?: { attempts?: number; baseMs?: number };
}

// --- attribute helpers -------------------------------------------------------------------

const S = (s: string): AttributeValue => ({ S: s });
const N = (n: number): AttributeValue => ({ N: String(n) });

function str(item: Item, name: string): string | undefined {
  const v = item[name];
  return v && 'S' in v && typeof v.S === 'string' ? v.S : undefined;
}

function num(item: Item, name: string): number | undefined {
  const v = item[name];
  if (!v || !('N' in v) || typeof v.N !== 'string') return undefined;
  const n = Number(v.N);
  return Number.isFinite(n) ? n : undefined;
}

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`corrupt store item: missing ${what}`);
  return value;
}

function isConditionFailed(err: unknown): boolean {
  return err instanceof Error && err.name === 'ConditionalCheckFailedException';
}

// --- keys ---------------------------------------------------------------------------------

// DynamoDB key limits (base table and GSI alike): partition key 2048 bytes, sort key 1024 bytes.
// Valid JIDs can exceed them (each JID part may be 1023 bytes), and one such join must not make
// a whole events request fail forever. So an over-long key value is cut and suffixed with a
// hash of the whole value: still deterministic (leave/delete find it again), still unique. Item
// attributes (user, room…) always hold the full values; reads never parse keys.
const MAX_PK_BYTES = 2048;
const MAX_SK_BYTES = 1024;
const HASH_CHARS = 43; // sha256, base64url

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

/** `value` if it fits in `max` UTF-8 bytes, else a prefix of it + '#' + sha256(value). */
export function fitKey(value: string, max: number): string {
  if (bytes(value) <= max) return value;
  const room = max - 1 - HASH_CHARS;
  if (room < 0) throw new RangeError(`key part too long for DynamoDB (${bytes(value)} bytes, ${max} allowed)`);
  let prefix = '';
  let used = 0;
  for (const ch of value) {
    const n = bytes(ch);
    if (used + n > room) break;
    prefix += ch;
    used += n;
  }
  return `${prefix}#${createHash('sha256').update(value, 'utf8').digest('base64url')}`;
}

const pk = (value: string): AttributeValue => S(fitKey(value, MAX_PK_BYTES));
const sk = (value: string): AttributeValue => S(fitKey(value, MAX_SK_BYTES));

const joinPk = (user: string) => pk(`J#${user}`);
const joinKey = (user: string, room: string): Item => ({ [KEYS.pk]: joinPk(user), [KEYS.sk]: sk(room) });
const hostKey = (host: string): Item => ({ [KEYS.pk]: pk(`H#${host}`), [KEYS.sk]: S('host') });
const linkKey = (host: string, remote: string): Item => ({ [KEYS.pk]: pk(`L#${host}|${remote}`), [KEYS.sk]: S('link') });
const roundKey = (host: string, remote: string, gen: string): Item => ({
  [KEYS.pk]: pk(`R#${host}|${remote}`),
  [KEYS.sk]: sk(gen),
});
const leaseKey = (host: string, remote: string, gen: string): Item => ({
  [KEYS.pk]: pk(`K#${host}|${remote}`),
  [KEYS.sk]: sk(gen),
});
const webhookKey = (id: string): Item => ({ [KEYS.pk]: pk(`W#${id}`), [KEYS.sk]: S('webhook') });

/**
 * GSI sort key of a live join: `<remote>|<room>|<user>`. Domains never contain '|', so the
 * prefix `<remote>|` selects exactly one remote; only the `<room>|<user>` tail is ever shortened.
 */
function gsk(remote: string, room: string, user: string): string {
  const head = gskPrefix(remote);
  return head + fitKey(`${room}|${user}`, MAX_SK_BYTES - bytes(head));
}

/** `<remote>|`; a (never seen) remote domain over 512 bytes is shortened too, never to contain '|'. */
const gskPrefix = (remote: string) => `${fitKey(remote, 512)}|`;

/** Newer-seq condition of every event write. */
const NEWER = {
  ConditionExpression: 'attribute_not_exists(#pk) OR #seq < :seq',
  names: { '#pk': KEYS.pk, '#seq': 'seq' },
};

function toJoin(item: Item): Join {
  const join: Join = {
    host: need(str(item, 'host'), 'host'),
    user: need(str(item, 'user'), 'user'),
    room: need(str(item, 'room'), 'room'),
    nick: need(str(item, 'nick'), 'nick'),
    remote: need(str(item, 'remote'), 'remote'),
    seq: need(num(item, 'seq'), 'seq'),
  };
  const recheck = str(item, 'recheck');
  if (recheck !== undefined) join.recheck = recheck;
  return join;
}

// --- cursor -------------------------------------------------------------------------------

function encodeCursor(key: Item): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string, host: string, prefix: string): Item {
  const bad = (why: string) => new InvalidCursorError(`invalid store cursor: ${why}`);
  if (!/^[A-Za-z0-9_-]{1,65536}$/.test(cursor)) throw bad('not base64url');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad('not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw bad('not an object');
  const expected = [KEYS.pk, KEYS.sk, KEYS.gpk, KEYS.gsk] as const;
  const obj = parsed as Record<string, unknown>;
  if (Object.keys(obj).length !== expected.length) throw bad('unexpected keys');
  const key: Item = {};
  for (const name of expected) {
    const v = obj[name];
    if (typeof v !== 'object' || v === null || typeof (v as { S?: unknown }).S !== 'string' || Object.keys(v).length !== 1) {
      throw bad(`bad ${name}`);
    }
    key[name] = S((v as { S: string }).S);
  }
  if (str(key, KEYS.gpk) !== host || !str(key, KEYS.gsk)?.startsWith(prefix) || !str(key, KEYS.pk)?.startsWith('J#')) {
    throw bad('belongs to another query');
  }
  return key;
}

// --- request counting (benchmarks) --------------------------------------------------------

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

// --- the store ----------------------------------------------------------------------------

export class DynamoStore implements JoinStore, RoundStore, WebhookLog {
  private readonly client: DynamoDBClient;
  private readonly table: string;
  private readonly now: () => number;
  private readonly batchAttempts: number;
  private readonly batchBaseMs: number;

  constructor(options: DynamoStoreOptions) {
    this.client = options.client;
    this.table = options.table;
    this.now = options.now ?? Date.now;
    this.batchAttempts = Math.max(1, options.batchRetry?.attempts ?? 8);
    this.batchBaseMs = Math.max(0, options.batchRetry?.baseMs ?? 50);
  }

  private nowSeconds(): number {
    return Math.floor(this.now() / 1000);
  }

  /** Item not expired (the TTL attribute is only a safety net: TTL deletion lags, dynalite has none). */
  private live(item: Item): boolean {
    const exp = num(item, KEYS.ttl);
    return exp === undefined || exp > this.nowSeconds();
  }

  /** Run a conditional write: true if applied, false on ConditionalCheckFailed, throws otherwise. */
  private async conditional(send: () => Promise<unknown>): Promise<boolean> {
    try {
      await send();
      return true;
    } catch (err) {
      if (isConditionFailed(err)) return false;
      throw err;
    }
  }

  private async get(key: Item): Promise<Item | undefined> {
    const { Item: item } = await this.client.send(new GetItemCommand({ TableName: this.table, Key: key, ConsistentRead: true }));
    return item && this.live(item) ? item : undefined;
  }

  // Events --------------------------------------------------------------------------------

  async putJoin(join: Join, expiresAt: number): Promise<void> {
    const item: Item = {
      ...joinKey(join.user, join.room),
      [KEYS.gpk]: S(join.host),
      [KEYS.gsk]: S(gsk(join.remote, join.room, join.user)),
      host: S(join.host),
      user: S(join.user),
      room: S(join.room),
      nick: S(join.nick),
      remote: S(join.remote),
      seq: N(join.seq),
      [KEYS.ttl]: N(expiresAt),
    };
    if (join.recheck !== undefined) item.recheck = S(join.recheck);
    await this.conditional(() =>
      this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: item,
          ConditionExpression: NEWER.ConditionExpression,
          ExpressionAttributeNames: NEWER.names,
          ExpressionAttributeValues: { ':seq': N(join.seq) },
        }),
      ),
    );
  }

  async leave(host: string, user: string, room: string, seq: number, expiresAt: number): Promise<void> {
    // A tombstone, not a delete: it carries `seq`, so an older join arriving late is refused by
    // the same condition. No GSI keys: rounds never see it.
    await this.conditional(() =>
      this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: {
            ...joinKey(user, room),
            host: S(host),
            user: S(user),
            room: S(room),
            left: { BOOL: true },
            seq: N(seq),
            [KEYS.ttl]: N(expiresAt),
          },
          ConditionExpression: NEWER.ConditionExpression,
          ExpressionAttributeNames: NEWER.names,
          ExpressionAttributeValues: { ':seq': N(seq) },
        }),
      ),
    );
  }

  async endSession(host: string, user: string, seq: number): Promise<number> {
    const keys: Item[] = [];
    let counted = 0;
    await this.queryAll(
      {
        TableName: this.table,
        ConsistentRead: true,
        KeyConditionExpression: '#pk = :pk',
        // Live joins only: tombstones stay, to keep refusing older joins.
        FilterExpression: '#host = :host AND #seq < :seq AND attribute_not_exists(#left)',
        ProjectionExpression: '#pk, #sk, #seq, #exp',
        ExpressionAttributeNames: { '#pk': KEYS.pk, '#sk': KEYS.sk, '#host': 'host', '#seq': 'seq', '#left': 'left', '#exp': KEYS.ttl },
        ExpressionAttributeValues: { ':pk': joinPk(user), ':host': S(host), ':seq': N(seq) },
      },
      (item) => {
        keys.push({ [KEYS.pk]: need(item[KEYS.pk], KEYS.pk), [KEYS.sk]: need(item[KEYS.sk], KEYS.sk) });
        if (this.live(item)) counted++;
      },
    );
    await this.batchDelete(keys);
    return counted;
  }

  async startHost(host: string, seq: number): Promise<number> {
    // The marker is conditional, the purge is not: a retry of the same event (marker already
    // written, purge interrupted) must still purge. Purging below an older seq is a no-op anyway.
    await this.conditional(() =>
      this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: { ...hostKey(host), host: S(host), seq: N(seq) },
          ConditionExpression: NEWER.ConditionExpression,
          ExpressionAttributeNames: NEWER.names,
          ExpressionAttributeValues: { ':seq': N(seq) },
        }),
      ),
    );
    const keys: Item[] = [];
    let counted = 0;
    await this.queryAll(
      {
        TableName: this.table,
        IndexName: KEYS.gsi,
        KeyConditionExpression: '#gpk = :host',
        FilterExpression: '#seq < :seq',
        ProjectionExpression: '#pk, #sk, #seq, #exp',
        ExpressionAttributeNames: { '#gpk': KEYS.gpk, '#pk': KEYS.pk, '#sk': KEYS.sk, '#seq': 'seq', '#exp': KEYS.ttl },
        ExpressionAttributeValues: { ':host': S(host), ':seq': N(seq) },
      },
      (item) => {
        keys.push({ [KEYS.pk]: need(item[KEYS.pk], KEYS.pk), [KEYS.sk]: need(item[KEYS.sk], KEYS.sk) });
        if (this.live(item)) counted++;
      },
    );
    await this.batchDelete(keys);
    return counted;
  }

  async hostStartSeq(host: string): Promise<number> {
    const { Item: item } = await this.client.send(
      new GetItemCommand({ TableName: this.table, Key: hostKey(host), ConsistentRead: true }),
    );
    return (item && num(item, 'seq')) ?? 0;
  }

  private async queryAll(input: QueryCommandInput, each: (item: Item) => void): Promise<void> {
    let start: Item | undefined;
    do {
      const out = await this.client.send(new QueryCommand({ ...input, ...(start ? { ExclusiveStartKey: start } : {}) }));
      for (const item of out.Items ?? []) each(item);
      start = out.LastEvaluatedKey;
    } while (start);
  }

  /** Delete by key, 25 per BatchWriteItem, retrying UnprocessedItems with backoff. */
  private async batchDelete(keys: Item[]): Promise<void> {
    for (let i = 0; i < keys.length; i += BATCH_SIZE) {
      let pending: WriteRequest[] = keys.slice(i, i + BATCH_SIZE).map((Key) => ({ DeleteRequest: { Key } }));
      for (let attempt = 1; ; attempt++) {
        const out = await this.client.send(new BatchWriteItemCommand({ RequestItems: { [this.table]: pending } }));
        pending = out.UnprocessedItems?.[this.table] ?? [];
        if (pending.length === 0) break;
        if (attempt >= this.batchAttempts) {
          throw new UnprocessedItemsError(
            `BatchWriteItem: ${pending.length} deletes still unprocessed after ${attempt} attempts`,
          );
        }
        await new Promise((r) => setTimeout(r, backoffMs(attempt - 1, this.batchBaseMs, 2000, Math.random)));
      }
    }
  }

  // Rounds' reads and writes ----------------------------------------------------------------

  async joinsOf(host: string, remote: string, limit: number, cursor?: string): Promise<Page<Join>> {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`joinsOf: limit must be a positive integer, got ${limit}`);
    const prefix = gskPrefix(remote);
    const start = cursor === undefined ? undefined : decodeCursor(cursor, host, prefix);
    // Limit applies before the expiry filter: a page may hold fewer than `limit` items (even
    // none) and still have a `next`. Callers page until `next` is absent.
    const out = await this.client.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: KEYS.gsi,
        KeyConditionExpression: '#gpk = :host AND begins_with(#gsk, :prefix)',
        FilterExpression: '#exp > :now',
        ExpressionAttributeNames: { '#gpk': KEYS.gpk, '#gsk': KEYS.gsk, '#exp': KEYS.ttl },
        ExpressionAttributeValues: { ':host': S(host), ':prefix': S(prefix), ':now': N(this.nowSeconds()) },
        Limit: limit,
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    const page: Page<Join> = { items: (out.Items ?? []).map(toJoin) };
    if (out.LastEvaluatedKey) page.next = encodeCursor(out.LastEvaluatedKey);
    return page;
  }

  deleteJoinIf(join: Join): Promise<boolean> {
    return this.conditional(() =>
      this.client.send(
        new DeleteItemCommand({
          TableName: this.table,
          Key: joinKey(join.user, join.room),
          ConditionExpression: '#seq = :seq',
          ExpressionAttributeNames: { '#seq': 'seq' },
          ExpressionAttributeValues: { ':seq': N(join.seq) },
        }),
      ),
    );
  }

  markRecheck(join: Join, gen: string): Promise<boolean> {
    return this.markIf(join, 'recheck', gen);
  }

  markNotifying(join: Join, gen: string): Promise<boolean> {
    return this.markIf(join, 'notifying', gen);
  }

  /** Sets one attribute of a live join, only if it is unchanged (same seq) since it was read. */
  private markIf(join: Join, name: 'recheck' | 'notifying', value: string): Promise<boolean> {
    return this.conditional(() =>
      this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: joinKey(join.user, join.room),
          UpdateExpression: 'SET #name = :value',
          ConditionExpression: '#seq = :seq AND attribute_not_exists(#left)',
          ExpressionAttributeNames: { '#name': name, '#seq': 'seq', '#left': 'left' },
          ExpressionAttributeValues: { ':value': S(value), ':seq': N(join.seq) },
        }),
      ),
    );
  }

  // Lost links and rounds ---------------------------------------------------------------------

  async recordClose(host: string, remote: string, seq: number, now: number, gen: string): Promise<{ gen?: string; opened: boolean; lastCloseAt: number }> {
    try {
      const out = await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: linkKey(host, remote),
          UpdateExpression:
            'SET #gen = if_not_exists(#gen, :gen), #lastCloseAt = :now, #lastCloseSeq = :seq, #exp = :exp, #host = :host, #remote = :remote',
          ConditionExpression:
            '(attribute_not_exists(#lastCloseSeq) OR #lastCloseSeq < :seq) AND (attribute_not_exists(#claimedSeq) OR #claimedSeq < :seq)',
          ExpressionAttributeNames: {
            '#gen': 'gen',
            '#lastCloseAt': 'lastCloseAt',
            '#lastCloseSeq': 'lastCloseSeq',
            '#claimedSeq': 'claimedSeq',
            '#exp': KEYS.ttl,
            '#host': 'host',
            '#remote': 'remote',
          },
          ExpressionAttributeValues: {
            ':gen': S(gen),
            ':now': N(now),
            ':seq': N(seq),
            ':exp': N(Math.floor(now / 1000) + LINK_TTL_SECONDS),
            ':host': S(host),
            ':remote': S(remote),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      const attrs = out.Attributes ?? {};
      const current = need(str(attrs, 'gen'), 'gen');
      return { gen: current, opened: current === gen, lastCloseAt: num(attrs, 'lastCloseAt') ?? now };
    } catch (err) {
      if (!isConditionFailed(err)) throw err;
      // An equal or newer close is already recorded, or a round already claimed past this seq.
      const { Item: item } = await this.client.send(
        new GetItemCommand({ TableName: this.table, Key: linkKey(host, remote), ConsistentRead: true }),
      );
      // No pending window means the round was claimed already: nothing to schedule.
      const pending = item && str(item, 'gen');
      return {
        gen: pending,
        // The caller's own window (a retried request): it may schedule again, idempotently.
        opened: pending === gen,
        lastCloseAt: (item && num(item, 'lastCloseAt')) ?? now,
      };
    }
  }

  async pendingClose(host: string, remote: string): Promise<PendingClose | undefined> {
    const item = await this.get(linkKey(host, remote));
    const gen = item && str(item, 'gen');
    if (!item || gen === undefined) return undefined;
    return { gen, lastCloseAt: need(num(item, 'lastCloseAt'), 'lastCloseAt'), lastCloseSeq: need(num(item, 'lastCloseSeq'), 'lastCloseSeq') };
  }

  async claimRound(round: Round, lastCloseAt: number): Promise<boolean> {
    await this.saveRound(round);
    return this.conditional(() =>
      this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: linkKey(round.host, round.remote),
          UpdateExpression: 'REMOVE #gen, #lastCloseAt, #lastCloseSeq SET #claimedSeq = :cutoff',
          ConditionExpression: '#gen = :gen AND #lastCloseAt = :lastCloseAt',
          ExpressionAttributeNames: {
            '#gen': 'gen',
            '#lastCloseAt': 'lastCloseAt',
            '#lastCloseSeq': 'lastCloseSeq',
            '#claimedSeq': 'claimedSeq',
          },
          ExpressionAttributeValues: { ':gen': S(round.gen), ':lastCloseAt': N(lastCloseAt), ':cutoff': N(round.cutoffSeq) },
        }),
      ),
    );
  }

  async leaseRound(host: string, remote: string, gen: string, owner: string, until: number): Promise<number | undefined> {
    const now = this.now();
    const taken = await this.conditional(() =>
      this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: { ...leaseKey(host, remote, gen), owner: S(owner), until: N(until), [KEYS.ttl]: N(Math.ceil(until / 1000) + 3600) },
          ConditionExpression: 'attribute_not_exists(#pk) OR #until < :now OR #owner = :owner',
          ExpressionAttributeNames: { '#pk': KEYS.pk, '#until': 'until', '#owner': 'owner' },
          ExpressionAttributeValues: { ':now': N(now), ':owner': S(owner) },
        }),
      ),
    );
    if (taken) return undefined;
    const { Item: item } = await this.client.send(new GetItemCommand({ TableName: this.table, Key: leaseKey(host, remote, gen), ConsistentRead: true }));
    return (item && num(item, 'until')) ?? now;
  }

  async releaseRound(host: string, remote: string, gen: string, owner: string): Promise<void> {
    await this.conditional(() =>
      this.client.send(
        new DeleteItemCommand({
          TableName: this.table,
          Key: leaseKey(host, remote, gen),
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': S(owner) },
        }),
      ),
    );
  }

  async getRound(host: string, remote: string, gen: string): Promise<Round | undefined> {
    const item = await this.get(roundKey(host, remote, gen));
    if (!item) return undefined;
    const state = str(item, 'state');
    if (state !== 'running' && state !== 'waiting' && state !== 'done') throw new Error(`corrupt round item: state ${state}`);
    const round: Round = {
      host: need(str(item, 'host'), 'host'),
      remote: need(str(item, 'remote'), 'remote'),
      gen: need(str(item, 'gen'), 'gen'),
      cutoffSeq: need(num(item, 'cutoffSeq'), 'cutoffSeq'),
      pass: need(num(item, 'pass'), 'pass'),
      state,
    };
    const cursor = str(item, 'cursor');
    if (cursor !== undefined) round.cursor = cursor;
    const marked = num(item, 'marked');
    if (marked !== undefined) round.marked = marked;
    return round;
  }

  async saveRound(round: Round): Promise<void> {
    const item: Item = {
      ...roundKey(round.host, round.remote, round.gen),
      host: S(round.host),
      remote: S(round.remote),
      gen: S(round.gen),
      cutoffSeq: N(round.cutoffSeq),
      pass: N(round.pass),
      state: S(round.state),
      [KEYS.ttl]: N(this.nowSeconds() + ROUND_TTL_SECONDS),
    };
    if (round.cursor !== undefined) item.cursor = S(round.cursor);
    if (round.marked !== undefined) item.marked = N(round.marked);
    await this.client.send(new PutItemCommand({ TableName: this.table, Item: item }));
  }

  // Webhook replay ------------------------------------------------------------------------------

  rememberWebhook(id: string, expiresAt: number): Promise<boolean> {
    return this.conditional(() =>
      this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: { ...webhookKey(id), [KEYS.ttl]: N(expiresAt) },
          ConditionExpression: 'attribute_not_exists(#pk) OR #exp <= :now',
          ExpressionAttributeNames: { '#pk': KEYS.pk, '#exp': KEYS.ttl },
          ExpressionAttributeValues: { ':now': N(this.nowSeconds()) },
        }),
      ),
    );
  }

  async webhookApplied(id: string): Promise<boolean> {
    return (await this.get(webhookKey(id))) !== undefined;
  }
}
