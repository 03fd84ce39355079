// The store ports on DynamoDB: one table, two GSIs (docs/data-model.md). Also runs on dynalite,
// so it uses neither transactions nor TTL deletion: every read filters expired items, and
// ordering is enforced by conditional writes. This class only assembles the item kinds' modules
// (joins.ts, rounds.ts, leases.ts) and keeps the webhook replay markers.
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { Join, Page, Round } from '../../domain/model';
import type { JoinStore, Overdue, PendingClose, RecordedClose, RoundStore, WebhookLog } from '../../ports';
import { conditional } from './conditions';
import { TableIo, type TableIoOptions } from './io';
import { toItem } from './items';
import { DynamoJoinStore } from './joins';
import { webhookKey } from './keys';
import { DynamoLeases } from './leases';
import { DynamoRounds } from './rounds';
import { KEYS } from './table';

export { InvalidCursorError } from './cursor';
export { UnprocessedItemsError } from './io';
export { CorruptItemError } from './items';

export type DynamoStoreOptions = TableIoOptions;

export class DynamoStore implements JoinStore, RoundStore, WebhookLog {
  private readonly io: TableIo;
  private readonly joins: DynamoJoinStore;
  private readonly rounds: DynamoRounds;
  private readonly leases: DynamoLeases;

  constructor(options: DynamoStoreOptions) {
    this.io = new TableIo(options);
    this.joins = new DynamoJoinStore(this.io);
    this.rounds = new DynamoRounds(this.io);
    this.leases = new DynamoLeases(this.io);
  }

  // JoinStore ------------------------------------------------------------------------------

  putJoin(join: Join, expiresAt: number): Promise<void> {
    return this.joins.putJoin(join, expiresAt);
  }
  leave(host: string, user: string, room: string, seq: number, expiresAt: number): Promise<void> {
    return this.joins.leave(host, user, room, seq, expiresAt);
  }
  endSession(host: string, user: string, seq: number): Promise<number> {
    return this.joins.endSession(host, user, seq);
  }
  startHost(host: string, seq: number): Promise<void> {
    return this.joins.startHost(host, seq);
  }
  hostStartSeq(host: string): Promise<number> {
    return this.joins.hostStartSeq(host);
  }
  joinsOf(host: string, remote: string, limit: number, cursor?: string): Promise<Page<Join>> {
    return this.joins.joinsOf(host, remote, limit, cursor);
  }
  deleteJoinIf(join: Join): Promise<boolean> {
    return this.joins.deleteJoinIf(join);
  }
  markRecheck(join: Join, gen: string): Promise<boolean> {
    return this.joins.markRecheck(join, gen);
  }

  // RoundStore -----------------------------------------------------------------------------

  recordClose(host: string, remote: string, seq: number, at: number, gen: string, due: number): Promise<RecordedClose> {
    return this.rounds.recordClose(host, remote, seq, at, gen, due);
  }
  overdue(before: number, limit: number, cursor?: string): Promise<Page<Overdue>> {
    return this.rounds.overdue(before, limit, cursor);
  }
  pendingClose(host: string, remote: string): Promise<PendingClose | undefined> {
    return this.rounds.pendingClose(host, remote);
  }
  claimRound(round: Round): Promise<boolean> {
    return this.rounds.claimRound(round);
  }
  getRound(host: string, remote: string, gen: string): Promise<Round | undefined> {
    return this.rounds.getRound(host, remote, gen);
  }
  saveRound(round: Round): Promise<void> {
    return this.rounds.saveRound(round);
  }
  roundsOf(host: string, remote: string): Promise<Round[]> {
    return this.rounds.roundsOf(host, remote);
  }
  leaseRound(host: string, remote: string, gen: string, owner: string, until: number): Promise<number | undefined> {
    return this.leases.leaseRound(host, remote, gen, owner, until);
  }
  releaseRound(host: string, remote: string, gen: string, owner: string): Promise<void> {
    return this.leases.releaseRound(host, remote, gen, owner);
  }
  leaseServerSlot(host: string, slots: number, owner: string, until: number): Promise<number | undefined> {
    return this.leases.leaseServerSlot(host, slots, owner, until);
  }
  releaseServerSlot(host: string, slots: number, owner: string): Promise<void> {
    return this.leases.releaseServerSlot(host, slots, owner);
  }

  // WebhookLog -----------------------------------------------------------------------------

  rememberWebhook(id: string, expiresAt: number): Promise<boolean> {
    // An expired marker still in the table (TTL lags) counts as absent.
    return conditional(() =>
      this.io.client.send(
        new PutItemCommand({
          TableName: this.io.table,
          Item: toItem({ ...webhookKey(id), [KEYS.ttl]: expiresAt }),
          ConditionExpression: 'attribute_not_exists(#pk) OR #exp <= :now',
          ExpressionAttributeNames: { '#pk': KEYS.pk, '#exp': KEYS.ttl },
          ExpressionAttributeValues: toItem({ ':now': this.io.nowSeconds() }),
        }),
      ),
    );
  }
  async webhookApplied(id: string): Promise<boolean> {
    return (await this.io.get(webhookKey(id))) !== undefined;
  }
}
