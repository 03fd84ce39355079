// Close windows of lost links (link items) and the rounds that claim them (round items). Each
// decision is one conditional request on one item: no transactions (dynalite has none). Both
// kinds are in the sparse byDue index while they have a due time: what `overdue` reads.
import { PutItemCommand, QueryCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { Page, Round } from '../../domain/model';
import type { Overdue, PendingClose, RecordedClose } from '../../ports';
import { conditional, isConditionFailed } from './conditions';
import { decodeDueCursor, encodeDueCursor, type DuePositions } from './cursor';
import type { TableIo } from './io';
import { CorruptItemError, roundItem, shaped, toItem, toRound, type Item } from './items';
import { dueShard, dueShardKey, linkKey, roundKey } from './keys';
import { DUE_SHARDS, KEYS } from './table';

/** Lifetime of round items and link items (refreshed on every close). */
const ROUND_TTL_SECONDS = 7 * 86_400;
const LINK_TTL_SECONDS = 7 * 86_400;

const LINK = {
  gen: 'string?',
  lastCloseAt: 'number?',
  lastCloseSeq: 'number?',
  claimedSeq: 'number?',
  /** While a window is pending: its last recorded close's epoch (absent in older items: 0). */
  epoch: 'number?',
  /** While a window is pending: its last recorded close's due (ms). */
  due: 'number?',
} as const;

const link = (item: Item) => shaped('link', item, LINK);

/** What the byDue index projects: a round has `state` and `pass`, a window neither. */
const DUE_ITEM = {
  host: 'string',
  remote: 'string',
  gen: 'string',
  due: 'number',
  pass: 'number?',
  state: 'string?',
} as const;

export class DynamoRounds {
  constructor(private readonly io: TableIo) {}

  async recordClose(
    host: string,
    remote: string,
    seq: number,
    at: number,
    gen: string,
    due: number,
    epoch = 0,
  ): Promise<RecordedClose> {
    let old: Item | undefined;
    try {
      // ALL_OLD: the window as it was, to tell whether this close opened it or joined it; the
      // new state follows from the SET below.
      const out = await this.io.client.send(
        new UpdateItemCommand({
          TableName: this.io.table,
          Key: toItem(linkKey(host, remote)),
          UpdateExpression:
            'SET #gen = if_not_exists(#gen, :gen), #lastCloseAt = :at, #lastCloseSeq = :seq, #epoch = :epoch, #due = :due, #dpk = :dpk, #exp = :exp, #host = :host, #remote = :remote',
          ConditionExpression:
            '(attribute_not_exists(#lastCloseSeq) OR #lastCloseSeq < :seq) AND (attribute_not_exists(#claimedSeq) OR #claimedSeq < :seq)',
          ExpressionAttributeNames: {
            '#gen': 'gen',
            '#lastCloseAt': 'lastCloseAt',
            '#lastCloseSeq': 'lastCloseSeq',
            '#claimedSeq': 'claimedSeq',
            '#epoch': 'epoch',
            '#due': KEYS.due,
            '#dpk': KEYS.dpk,
            '#exp': KEYS.ttl,
            '#host': 'host',
            '#remote': 'remote',
          },
          ExpressionAttributeValues: toItem({
            ':gen': gen,
            ':at': at,
            ':seq': seq,
            ':epoch': epoch,
            ':due': due,
            ':dpk': dueShard(host, remote),
            ':exp': Math.floor(at / 1000) + LINK_TTL_SECONDS,
            ':host': host,
            ':remote': remote,
          }),
          ReturnValues: 'ALL_OLD',
        }),
      );
      old = out.Attributes;
    } catch (err) {
      if (!isConditionFailed(err)) throw err;
      return this.notRecorded(host, remote, at, gen);
    }
    const before = old ? link(old) : undefined;
    const current = before?.gen ?? gen;
    return { gen: current, opened: current === gen, lastCloseAt: at };
  }

  /** An equal or newer close is already recorded, or a round already claimed past this seq. */
  private async notRecorded(host: string, remote: string, at: number, gen: string): Promise<RecordedClose> {
    const item = await this.io.getAny(linkKey(host, remote));
    const window = item ? link(item) : undefined;
    // No pending window means the round was claimed already: nothing to schedule. The caller's
    // own window (a retried request) is reported opened again: it schedules again, idempotently.
    return { gen: window?.gen, opened: window?.gen === gen, lastCloseAt: window?.lastCloseAt ?? at };
  }

  async pendingClose(host: string, remote: string): Promise<PendingClose | undefined> {
    const item = await this.io.get(linkKey(host, remote));
    const window = item && link(item);
    if (!window || window.gen === undefined) return undefined;
    if (window.lastCloseAt === undefined || window.lastCloseSeq === undefined) {
      throw new CorruptItemError(`corrupt store item: link ${host}|${remote} has a window without its last close`);
    }
    return {
      gen: window.gen,
      lastCloseAt: window.lastCloseAt,
      lastCloseSeq: window.lastCloseSeq,
      epoch: window.epoch ?? 0,
    };
  }

  async claimRound(round: Round): Promise<boolean> {
    // A duplicate invocation may claim the same window: it saves its round only over none or an
    // older cutoff, never over the winner's progress. A refused save is not an error.
    await conditional(() =>
      this.io.client.send(
        new PutItemCommand({
          TableName: this.io.table,
          Item: roundItem(round, this.io.nowSeconds() + ROUND_TTL_SECONDS),
          ConditionExpression: 'attribute_not_exists(#pk) OR #cutoffSeq < :cutoff',
          ExpressionAttributeNames: { '#pk': KEYS.pk, '#cutoffSeq': 'cutoffSeq' },
          ExpressionAttributeValues: toItem({ ':cutoff': round.cutoffSeq }),
        }),
      ),
    );
    return conditional(() =>
      this.io.client.send(
        new UpdateItemCommand({
          TableName: this.io.table,
          Key: toItem(linkKey(round.host, round.remote)),
          // The window leaves the byDue index with its due: the round's own due takes over.
          UpdateExpression: 'REMOVE #gen, #lastCloseAt, #lastCloseSeq, #epoch, #due, #dpk SET #claimedSeq = :cutoff',
          // By seq: two closes dated in the same millisecond have one lastCloseAt.
          ConditionExpression: '#gen = :gen AND #lastCloseSeq = :cutoff',
          ExpressionAttributeNames: {
            '#gen': 'gen',
            '#lastCloseAt': 'lastCloseAt',
            '#lastCloseSeq': 'lastCloseSeq',
            '#epoch': 'epoch',
            '#due': KEYS.due,
            '#dpk': KEYS.dpk,
            '#claimedSeq': 'claimedSeq',
          },
          ExpressionAttributeValues: toItem({
            ':gen': round.gen,
            ':cutoff': round.cutoffSeq,
          }),
        }),
      ),
    );
  }

  async getRound(host: string, remote: string, gen: string): Promise<Round | undefined> {
    const item = await this.io.get(roundKey(host, remote, gen));
    return item && toRound(item);
  }

  async roundsOf(host: string, remote: string): Promise<Round[]> {
    const out: Round[] = [];
    await this.io.queryAll(
      {
        ConsistentRead: true,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': KEYS.pk },
        ExpressionAttributeValues: toItem({ ':pk': roundKey(host, remote, '')[KEYS.pk] }),
      },
      (item) => {
        if (this.io.live(item)) out.push(toRound(item));
      },
    );
    return out;
  }

  async saveRound(round: Round): Promise<void> {
    await this.io.client.send(
      new PutItemCommand({
        TableName: this.io.table,
        Item: roundItem(round, this.io.nowSeconds() + ROUND_TTL_SECONDS),
      }),
    );
  }

  /**
   * One Query per byDue shard not read to its end (up to `limit` items each, due < before), merged
   * oldest first; the page takes the `limit` oldest and the cursor remembers, per shard, the last
   * one taken. Expired items are dropped after the merge, so a page may hold fewer than `limit`.
   */
  async overdue(before: number, limit: number, cursor?: string): Promise<Page<Overdue>> {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`overdue: limit must be a positive integer, got ${limit}`);
    const positions: DuePositions = cursor === undefined ? Array(DUE_SHARDS).fill(true) : decodeDueCursor(cursor);
    const read = await Promise.all(
      positions.map(async (position, shard) => {
        if (position === null) return { items: [] as Item[], last: undefined };
        const out = await this.io.client.send(
          new QueryCommand({
            TableName: this.io.table,
            IndexName: KEYS.dueGsi,
            KeyConditionExpression: '#dpk = :shard AND #due < :before',
            ExpressionAttributeNames: { '#dpk': KEYS.dpk, '#due': KEYS.due },
            ExpressionAttributeValues: toItem({ ':shard': dueShardKey(shard), ':before': before }),
            Limit: limit,
            ...(position === true ? {} : { ExclusiveStartKey: position }),
          }),
        );
        return { items: out.Items ?? [], last: out.LastEvaluatedKey };
      }),
    );
    const dueOf = (item: Item) => Number(item[KEYS.due]?.N);
    // Each shard's items come oldest first; a stable sort keeps that order among equal dues.
    const merged = read
      .flatMap(({ items }, shard) => items.map((item) => ({ item, shard })))
      .sort((a, b) => dueOf(a.item) - dueOf(b.item))
      .slice(0, limit);
    // Per shard: past its last item taken, else where it stood (nothing taken), else done.
    const next: DuePositions = positions.map((position, shard) => {
      if (position === null) return null;
      const { items, last } = read[shard] as { items: Item[]; last?: Item };
      const taken = merged.filter((m) => m.shard === shard).length;
      if (taken === items.length) return last ?? null;
      return taken === 0 ? position : dueKey(items[taken - 1] as Item);
    });
    const page: Page<Overdue> = {
      items: merged.filter(({ item }) => this.io.live(item)).flatMap(({ item }) => toOverdue(item)),
    };
    if (next.some((p) => p !== null)) page.next = encodeDueCursor(next);
    return page;
  }
}

/** The byDue key of an item read from the index: where the shard's next Query starts. */
function dueKey(item: Item): Item {
  const key: Item = {};
  for (const name of [KEYS.pk, KEYS.sk, KEYS.dpk, KEYS.due]) {
    const value = item[name];
    if (!value) throw new Error(`byDue item without its key attribute ${name}`);
    key[name] = value;
  }
  return key;
}

/** A byDue item as an Overdue; a done round there (never written so) is skipped. */
function toOverdue(item: Item): Overdue[] {
  const v = shaped('overdue item', item, DUE_ITEM);
  if (v.state === undefined) return [{ kind: 'window', host: v.host, remote: v.remote, gen: v.gen, due: v.due }];
  if (v.state === 'done') return [];
  if (v.pass === undefined)
    throw new CorruptItemError(`corrupt store item: round ${item[KEYS.pk]?.S ?? '?'} in byDue has no pass`);
  return [{ kind: 'round', host: v.host, remote: v.remote, gen: v.gen, pass: v.pass, due: v.due }];
}
