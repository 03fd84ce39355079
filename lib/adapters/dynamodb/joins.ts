// JoinStore on the table: join items (live or tombstone) in one partition per (host, epoch,
// remote), which a round pages through, and the hosts' last beats. Every event write is one
// conditional request ordered by `seq`.
import { DeleteItemCommand, PutItemCommand, QueryCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { joinedAt, type Join, type JoinKey, type Page } from '../../domain/model';
import type { JoinStore } from '../../ports';
import { conditional } from './conditions';
import { decodeCursor, encodeCursor } from './cursor';
import type { TableIo } from './io';
import { joinAttributes, joinItem, shaped, toItem, toJoin } from './items';
import { BEATS_PK, beatKey, joinKey, joinPk } from './keys';
import { KEYS } from './table';

/** Newer-seq condition of every event write: an equal or newer event already applied wins. */
const NEWER = 'attribute_not_exists(#pk) OR #seq < :seq';

/**
 * "The same join" as the one read or refreshed: same joinedAt. An item written before `since`
 * existed has none; its seq is then when it joined.
 */
const SAME_JOIN = '(#since = :at OR (attribute_not_exists(#since) AND #seq = :at))';
const NOT_LEFT = 'attribute_not_exists(#left)';

export class DynamoJoinStore implements JoinStore {
  constructor(private readonly io: TableIo) {}

  async putJoin(join: Join, expiresAt: number): Promise<void> {
    // A refresh (the server re-posting a join it made earlier) keeps the stored join's round
    // marks; if the stored item is another join (or none), the join replaces it like any join.
    if (join.since !== undefined && join.since < join.seq && (await this.refresh(join, expiresAt))) return;
    await conditional(() =>
      this.io.client.send(
        new PutItemCommand({
          TableName: this.io.table,
          Item: joinItem(join, expiresAt),
          ConditionExpression: NEWER,
          ExpressionAttributeNames: { '#pk': KEYS.pk, '#seq': 'seq' },
          ExpressionAttributeValues: toItem({ ':seq': join.seq }),
        }),
      ),
    );
  }

  /** SET the join's attributes in place (never recheck), only on the same, older join. */
  private refresh(join: Join, expiresAt: number): Promise<boolean> {
    const attributes = joinAttributes(join, expiresAt);
    const names = Object.keys(attributes);
    return conditional(() =>
      this.io.client.send(
        new UpdateItemCommand({
          TableName: this.io.table,
          Key: toItem(joinKey(join)),
          UpdateExpression: `SET ${names.map((_, i) => `#a${i} = :a${i}`).join(', ')}`,
          ConditionExpression: `attribute_exists(#pk) AND ${NOT_LEFT} AND #seq < :seq AND ${SAME_JOIN}`,
          ExpressionAttributeNames: {
            ...Object.fromEntries(names.map((name, i) => [`#a${i}`, name])),
            '#pk': KEYS.pk,
            '#seq': 'seq',
            '#since': 'since',
            '#left': 'left',
          },
          ExpressionAttributeValues: toItem({
            ...Object.fromEntries(names.map((name, i) => [`:a${i}`, attributes[name]])),
            ':seq': join.seq,
            ':at': joinedAt(join),
          }),
        }),
      ),
    );
  }

  async leave(key: JoinKey, seq: number, expiresAt: number): Promise<void> {
    // A tombstone, not a delete: it carries `seq`, so an older join arriving late is refused by
    // the same condition. No `since`: it is no join, and a round's read filters it out.
    const { host, user, room, remote } = key;
    await conditional(() =>
      this.io.client.send(
        new PutItemCommand({
          TableName: this.io.table,
          Item: toItem({ ...joinKey(key), host, user, room, remote, left: true, seq, [KEYS.ttl]: expiresAt }),
          ConditionExpression: NEWER,
          ExpressionAttributeNames: { '#pk': KEYS.pk, '#seq': 'seq' },
          ExpressionAttributeValues: toItem({ ':seq': seq }),
        }),
      ),
    );
  }

  async joinsOf(host: string, epoch: number, remote: string, limit: number, cursor?: string): Promise<Page<Join>> {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`joinsOf: limit must be a positive integer, got ${limit}`);
    const pk = joinPk(host, epoch, remote);
    const start = cursor === undefined ? undefined : decodeCursor(cursor, pk);
    // Limit applies before the filter (expired joins, tombstones): a page may hold fewer than
    // `limit` items (even none) and still have a `next`. Callers page until `next` is absent.
    const out = await this.io.client.send(
      new QueryCommand({
        TableName: this.io.table,
        ConsistentRead: true,
        KeyConditionExpression: '#pk = :pk',
        FilterExpression: `#exp > :now AND ${NOT_LEFT}`,
        ExpressionAttributeNames: { '#pk': KEYS.pk, '#exp': KEYS.ttl, '#left': 'left' },
        ExpressionAttributeValues: toItem({ ':pk': pk, ':now': this.io.nowSeconds() }),
        Limit: limit,
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    const page: Page<Join> = { items: (out.Items ?? []).map(toJoin) };
    if (out.LastEvaluatedKey) page.next = encodeCursor(out.LastEvaluatedKey);
    return page;
  }

  deleteJoinIf(join: Join): Promise<boolean> {
    // Not a tombstone either: deleting one would let an older, late join come back.
    return conditional(() =>
      this.io.client.send(
        new DeleteItemCommand({
          TableName: this.io.table,
          Key: toItem(joinKey(join)),
          ConditionExpression: `${SAME_JOIN} AND ${NOT_LEFT}`,
          ExpressionAttributeNames: { '#since': 'since', '#seq': 'seq', '#left': 'left' },
          ExpressionAttributeValues: toItem({ ':at': joinedAt(join) }),
        }),
      ),
    );
  }

  /** Marks a live join for the next pass, only if it is the same join (never creates an item). */
  markRecheck(join: Join, gen: string): Promise<boolean> {
    return conditional(() =>
      this.io.client.send(
        new UpdateItemCommand({
          TableName: this.io.table,
          Key: toItem(joinKey(join)),
          UpdateExpression: 'SET #recheck = :gen',
          ConditionExpression: `${SAME_JOIN} AND ${NOT_LEFT}`,
          ExpressionAttributeNames: { '#recheck': 'recheck', '#since': 'since', '#seq': 'seq', '#left': 'left' },
          ExpressionAttributeValues: toItem({ ':gen': gen, ':at': joinedAt(join) }),
        }),
      ),
    );
  }

  async beat(host: string, seq: number, at: number): Promise<void> {
    await conditional(() =>
      this.io.client.send(
        new PutItemCommand({
          TableName: this.io.table,
          Item: toItem({ ...beatKey(host), host, seq, beat: at }),
          ConditionExpression: NEWER,
          ExpressionAttributeNames: { '#pk': KEYS.pk, '#seq': 'seq' },
          ExpressionAttributeValues: toItem({ ':seq': seq }),
        }),
      ),
    );
  }

  async beats(): Promise<Map<string, number>> {
    const beats = new Map<string, number>();
    await this.io.queryAll(
      {
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': KEYS.pk },
        ExpressionAttributeValues: toItem({ ':pk': BEATS_PK }),
      },
      (item) => {
        const v = shaped('beat', item, { host: 'string', beat: 'number' });
        beats.set(v.host, v.beat);
      },
    );
    return beats;
  }
}
