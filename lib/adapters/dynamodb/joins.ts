// JoinStore on the table: join items (live or tombstone), the host marker, and the byHost GSI
// that rounds page through. Every event write is one conditional request ordered by `seq`.
import { DeleteItemCommand, PutItemCommand, QueryCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { joinedAt, type Join, type Page } from '../../domain/model';
import type { JoinStore } from '../../ports';
import { conditional } from './conditions';
import { decodeCursor, encodeCursor } from './cursor';
import { keyOf, type TableIo } from './io';
import { joinAttributes, joinItem, shaped, toItem, toJoin, type Item } from './items';
import { gskPrefix, hostKey, joinKey, joinPk } from './keys';
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
          Key: toItem(joinKey(join.user, join.room)),
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

  async leave(host: string, user: string, room: string, seq: number, expiresAt: number): Promise<void> {
    // A tombstone, not a delete: it carries `seq`, so an older join arriving late is refused by
    // the same condition. No GSI keys and no `since`: rounds never see it, and it is no join.
    await conditional(() =>
      this.io.client.send(
        new PutItemCommand({
          TableName: this.io.table,
          Item: toItem({ ...joinKey(user, room), host, user, room, left: true, seq, [KEYS.ttl]: expiresAt }),
          ConditionExpression: NEWER,
          ExpressionAttributeNames: { '#pk': KEYS.pk, '#seq': 'seq' },
          ExpressionAttributeValues: toItem({ ':seq': seq }),
        }),
      ),
    );
  }

  async endSession(host: string, user: string, seq: number): Promise<number> {
    const keys: Item[] = [];
    let counted = 0;
    await this.io.queryAll(
      {
        ConsistentRead: true,
        KeyConditionExpression: '#pk = :pk',
        // Live joins only: tombstones stay, to keep refusing older joins.
        FilterExpression: `#host = :host AND #seq < :seq AND ${NOT_LEFT}`,
        ProjectionExpression: '#pk, #sk, #seq, #exp',
        ExpressionAttributeNames: {
          '#pk': KEYS.pk,
          '#sk': KEYS.sk,
          '#host': 'host',
          '#seq': 'seq',
          '#left': 'left',
          '#exp': KEYS.ttl,
        },
        ExpressionAttributeValues: toItem({ ':pk': joinPk(user), ':host': host, ':seq': seq }),
      },
      (item) => {
        keys.push(keyOf(item));
        if (this.io.live(item)) counted++;
      },
    );
    await this.io.batchDelete(keys);
    return counted;
  }

  async startHost(host: string, seq: number): Promise<void> {
    // The marker only, one write whatever the number of joins: rounds drop the joins older than
    // it as they read them (hostStartSeq), and expiry removes the ones no round reads.
    await conditional(() =>
      this.io.client.send(
        new PutItemCommand({
          TableName: this.io.table,
          Item: toItem({ ...hostKey(host), host, seq }),
          ConditionExpression: NEWER,
          ExpressionAttributeNames: { '#pk': KEYS.pk, '#seq': 'seq' },
          ExpressionAttributeValues: toItem({ ':seq': seq }),
        }),
      ),
    );
  }

  async hostStartSeq(host: string): Promise<number> {
    const item = await this.io.get(hostKey(host));
    return item ? shaped('host marker', item, { seq: 'number' }).seq : 0;
  }

  async joinsOf(host: string, remote: string, limit: number, cursor?: string): Promise<Page<Join>> {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`joinsOf: limit must be a positive integer, got ${limit}`);
    const prefix = gskPrefix(remote);
    const start = cursor === undefined ? undefined : decodeCursor(cursor, host, prefix);
    // Limit applies before the expiry filter: a page may hold fewer than `limit` items (even
    // none) and still have a `next`. Callers page until `next` is absent.
    const out = await this.io.client.send(
      new QueryCommand({
        TableName: this.io.table,
        IndexName: KEYS.gsi,
        KeyConditionExpression: '#gpk = :host AND begins_with(#gsk, :prefix)',
        FilterExpression: '#exp > :now',
        ExpressionAttributeNames: { '#gpk': KEYS.gpk, '#gsk': KEYS.gsk, '#exp': KEYS.ttl },
        ExpressionAttributeValues: toItem({ ':host': host, ':prefix': prefix, ':now': this.io.nowSeconds() }),
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
          Key: toItem(joinKey(join.user, join.room)),
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
          Key: toItem(joinKey(join.user, join.room)),
          UpdateExpression: 'SET #recheck = :gen',
          ConditionExpression: `${SAME_JOIN} AND ${NOT_LEFT}`,
          ExpressionAttributeNames: { '#recheck': 'recheck', '#since': 'since', '#seq': 'seq', '#left': 'left' },
          ExpressionAttributeValues: toItem({ ':gen': gen, ':at': joinedAt(join) }),
        }),
      ),
    );
  }
}
