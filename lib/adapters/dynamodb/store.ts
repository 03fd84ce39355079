// The store ports on DynamoDB: one table, one GSI (docs/data-model.md). Also runs on dynalite,
// so it uses neither transactions nor TTL deletion: every read filters expired items, and
// ordering is enforced by conditional writes. This class only assembles the item kinds' modules
// (joins.ts, rounds.ts, leases.ts).
import type { Join, JoinKey, Page, Round } from '../../domain/model';
import type { JoinStore, Overdue, PendingClose, RecordedClose, RoundStore } from '../../ports';
import { TableIo, type TableIoOptions } from './io';
import { DynamoJoinStore } from './joins';
import { DynamoLeases } from './leases';
import { DynamoRounds } from './rounds';

export { InvalidCursorError } from './cursor';
export { CorruptItemError } from './items';

export type DynamoStoreOptions = TableIoOptions;

export class DynamoStore implements JoinStore, RoundStore {
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
  leave(key: JoinKey, seq: number, expiresAt: number): Promise<void> {
    return this.joins.leave(key, seq, expiresAt);
  }
  joinsOf(host: string, epoch: number, remote: string, limit: number, cursor?: string): Promise<Page<Join>> {
    return this.joins.joinsOf(host, epoch, remote, limit, cursor);
  }
  deleteJoinIf(join: Join): Promise<boolean> {
    return this.joins.deleteJoinIf(join);
  }
  markRecheck(join: Join, gen: string): Promise<boolean> {
    return this.joins.markRecheck(join, gen);
  }
  beat(host: string, seq: number, at: number): Promise<void> {
    return this.joins.beat(host, seq, at);
  }
  beats(): Promise<Map<string, number>> {
    return this.joins.beats();
  }

  // RoundStore -----------------------------------------------------------------------------

  recordClose(
    host: string,
    remote: string,
    seq: number,
    at: number,
    gen: string,
    due: number,
    epoch = 0,
  ): Promise<RecordedClose> {
    return this.rounds.recordClose(host, remote, seq, at, gen, due, epoch);
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
}
