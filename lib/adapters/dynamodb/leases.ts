// Leases: a round's (one invocation runs it at a time) and a host's self-ping slots (rounds of
// one XMPP server, whatever their remote, share `slots` of them). A lease item holds `owner`
// and `until` (ms); it is taken by one conditional put: free, expired, or already the owner's.
import { DeleteItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { conditional } from './conditions';
import { keyOf, type TableIo } from './io';
import { shaped, toItem, type Item } from './items';
import { leaseKey, slotKey, slotPk, type Key } from './keys';
import { KEYS } from './table';

/** A lease item outlives its `until` by an hour, then expiry may remove it. */
const LEASE_GRACE_SECONDS = 3600;

const LEASE = { owner: 'string', until: 'number' } as const;

export class DynamoLeases {
  constructor(private readonly io: TableIo) {}

  /** One conditional put: true if `owner` now holds `key` until `until`. */
  private take(key: Key, owner: string, until: number, now: number): Promise<boolean> {
    return conditional(() =>
      this.io.client.send(
        new PutItemCommand({
          TableName: this.io.table,
          Item: toItem({ ...key, owner, until, [KEYS.ttl]: Math.ceil(until / 1000) + LEASE_GRACE_SECONDS }),
          ConditionExpression: 'attribute_not_exists(#pk) OR #until < :now OR #owner = :owner',
          ExpressionAttributeNames: { '#pk': KEYS.pk, '#until': 'until', '#owner': 'owner' },
          ExpressionAttributeValues: toItem({ ':now': now, ':owner': owner }),
        }),
      ),
    );
  }

  /** Delete `key` only if `owner` holds it (a lease taken over after expiry stays). */
  private drop(key: Item, owner: string): Promise<boolean> {
    return conditional(() =>
      this.io.client.send(
        new DeleteItemCommand({
          TableName: this.io.table,
          Key: key,
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: toItem({ ':owner': owner }),
        }),
      ),
    );
  }

  async leaseRound(
    host: string,
    remote: string,
    gen: string,
    owner: string,
    until: number,
  ): Promise<number | undefined> {
    const now = this.io.now();
    if (await this.take(leaseKey(host, remote, gen), owner, until, now)) return undefined;
    const item = await this.io.get(leaseKey(host, remote, gen));
    // Released meanwhile: free now, the caller may try again at once.
    return item ? shaped('lease', item, LEASE).until : now;
  }

  async releaseRound(host: string, remote: string, gen: string, owner: string): Promise<void> {
    await this.drop(toItem(leaseKey(host, remote, gen)), owner);
  }

  async leaseServerSlot(host: string, slots: number, owner: string, until: number): Promise<number | undefined> {
    if (!Number.isInteger(slots) || slots < 1)
      throw new RangeError(`leaseServerSlot: slots must be a positive integer, got ${slots}`);
    const now = this.io.now();
    const held = await this.slotsOf(host);
    // The owner's own slot first (a renewal must not take a second slot), then the free or
    // expired ones in order. One Query, then usually one put.
    const mine = (i: number) => held.get(i)?.owner === owner;
    const candidates = [...Array(slots).keys()]
      .filter((i) => mine(i) || (held.get(i)?.until ?? -Infinity) < now)
      .sort((a, b) => Number(mine(b)) - Number(mine(a)));
    for (const i of candidates) if (await this.take(slotKey(host, i), owner, until, now)) return undefined;
    // Every slot is held. If a put lost a race, re-read: the slot's new holder decides when it frees.
    const now2 = candidates.length > 0 ? await this.slotsOf(host) : held;
    return Math.min(...[...Array(slots).keys()].map((i) => now2.get(i)?.until ?? now));
  }

  async releaseServerSlot(host: string, _slots: number, owner: string): Promise<void> {
    // Every slot the owner holds, whatever `slots` is now (it may have been lowered meanwhile).
    const mine: Item[] = [];
    await this.io.queryAll(
      {
        ConsistentRead: true,
        KeyConditionExpression: '#pk = :pk',
        FilterExpression: '#owner = :owner',
        ExpressionAttributeNames: { '#pk': KEYS.pk, '#owner': 'owner' },
        ExpressionAttributeValues: toItem({ ':pk': slotPk(host), ':owner': owner }),
      },
      (item) => mine.push(keyOf(item)),
    );
    for (const key of mine) await this.drop(key, owner);
  }

  /** The host's slot leases by slot number (one consistent Query). */
  private async slotsOf(host: string): Promise<Map<number, { owner: string; until: number }>> {
    const held = new Map<number, { owner: string; until: number }>();
    await this.io.queryAll(
      {
        ConsistentRead: true,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': KEYS.pk },
        ExpressionAttributeValues: toItem({ ':pk': slotPk(host) }),
      },
      (item) => {
        const { owner, until } = shaped('slot', item, LEASE);
        held.set(Number(item[KEYS.sk]?.S), { owner, until });
      },
    );
    return held;
  }
}
