// Close windows of lost links (link items) and the rounds that claim them (round items). Each
// decision is one conditional request on one item: no transactions (dynalite has none).
import { PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { Round } from '../../domain/model';
import type { PendingClose, RecordedClose } from '../../ports';
import { conditional, isConditionFailed } from './conditions';
import type { TableIo } from './io';
import { CorruptItemError, roundItem, shaped, toItem, toRound, type Item } from './items';
import { linkKey, roundKey } from './keys';
import { KEYS } from './table';

/** Lifetime of round items and link items (refreshed on every close). */
const ROUND_TTL_SECONDS = 7 * 86_400;
const LINK_TTL_SECONDS = 7 * 86_400;

const LINK = {
  gen: 'string?',
  lastCloseAt: 'number?',
  lastCloseSeq: 'number?',
  /** The window's close before its last one (0: none), for a retry of the last close. */
  prevCloseAt: 'number?',
  claimedSeq: 'number?',
} as const;

const link = (item: Item) => shaped('link', item, LINK);

export class DynamoRounds {
  constructor(private readonly io: TableIo) {}

  async recordClose(host: string, remote: string, seq: number, at: number, gen: string): Promise<RecordedClose> {
    let old: Item | undefined;
    try {
      // ALL_OLD: the window as it was, to tell whether this close opened it or joined it (and
      // when the window's previous close was); the new state follows from the SET below.
      const out = await this.io.client.send(
        new UpdateItemCommand({
          TableName: this.io.table,
          Key: toItem(linkKey(host, remote)),
          UpdateExpression:
            'SET #gen = if_not_exists(#gen, :gen), #prevCloseAt = if_not_exists(#lastCloseAt, :none), #lastCloseAt = :at, #lastCloseSeq = :seq, #exp = :exp, #host = :host, #remote = :remote',
          ConditionExpression:
            '(attribute_not_exists(#lastCloseSeq) OR #lastCloseSeq < :seq) AND (attribute_not_exists(#claimedSeq) OR #claimedSeq < :seq)',
          ExpressionAttributeNames: {
            '#gen': 'gen',
            '#lastCloseAt': 'lastCloseAt',
            '#lastCloseSeq': 'lastCloseSeq',
            '#prevCloseAt': 'prevCloseAt',
            '#claimedSeq': 'claimedSeq',
            '#exp': KEYS.ttl,
            '#host': 'host',
            '#remote': 'remote',
          },
          ExpressionAttributeValues: toItem({
            ':gen': gen,
            ':at': at,
            ':seq': seq,
            ':none': 0,
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
      return this.notRecorded(host, remote, seq, at, gen);
    }
    const before = old ? link(old) : undefined;
    const current = before?.gen ?? gen;
    const recorded: RecordedClose = { gen: current, opened: current === gen, lastCloseAt: at };
    if (before?.gen !== undefined && before.lastCloseAt !== undefined) recorded.previousCloseAt = before.lastCloseAt;
    return recorded;
  }

  /** An equal or newer close is already recorded, or a round already claimed past this seq. */
  private async notRecorded(
    host: string,
    remote: string,
    seq: number,
    at: number,
    gen: string,
  ): Promise<RecordedClose> {
    const item = await this.io.getAny(linkKey(host, remote));
    const window = item ? link(item) : undefined;
    // No pending window means the round was claimed already: nothing to schedule. The caller's
    // own window (a retried request) is reported opened again: it schedules again, idempotently.
    const recorded: RecordedClose = {
      gen: window?.gen,
      opened: window?.gen === gen,
      lastCloseAt: window?.lastCloseAt ?? at,
    };
    // This very close, recorded by a try whose answer was lost: the same previous close, so that
    // a window whose start was lost is still found overdue (../../app/link.ts).
    if (window?.gen !== undefined && window.lastCloseSeq === seq && window.prevCloseAt)
      recorded.previousCloseAt = window.prevCloseAt;
    return recorded;
  }

  async pendingClose(host: string, remote: string): Promise<PendingClose | undefined> {
    const item = await this.io.get(linkKey(host, remote));
    const window = item && link(item);
    if (!window || window.gen === undefined) return undefined;
    if (window.lastCloseAt === undefined || window.lastCloseSeq === undefined) {
      throw new CorruptItemError(`corrupt store item: link ${host}|${remote} has a window without its last close`);
    }
    return { gen: window.gen, lastCloseAt: window.lastCloseAt, lastCloseSeq: window.lastCloseSeq };
  }

  async claimRound(round: Round, lastCloseAt: number): Promise<boolean> {
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
          UpdateExpression: 'REMOVE #gen, #lastCloseAt, #lastCloseSeq SET #claimedSeq = :cutoff',
          ConditionExpression: '#gen = :gen AND #lastCloseAt = :lastCloseAt',
          ExpressionAttributeNames: {
            '#gen': 'gen',
            '#lastCloseAt': 'lastCloseAt',
            '#lastCloseSeq': 'lastCloseSeq',
            '#claimedSeq': 'claimedSeq',
          },
          ExpressionAttributeValues: toItem({
            ':gen': round.gen,
            ':lastCloseAt': lastCloseAt,
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
}
