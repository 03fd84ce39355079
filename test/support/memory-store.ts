// An in-memory store (plain Maps) with the same rules as the DynamoDB store (lib/ports.ts): the
// fake behind the round's unit tests and fault-injection suite, and the benchmark's way to take
// the store I/O out of a measurement. Not a production adapter.
import { joinedAt, type Join, type Page, type Round } from '../../lib/domain/model';
import type { JoinStore, PendingClose, RecordedClose, RoundStore, WebhookLog } from '../../lib/ports';

interface Entry {
  join?: Join;
  left?: boolean;
  seq: number;
  expiresAt: number;
}

interface Link {
  gen?: string;
  lastCloseAt?: number;
  lastCloseSeq?: number;
  /** The window's close before its last one. */
  prevCloseAt?: number;
  claimedSeq?: number;
}

interface Lease {
  owner: string;
  until: number;
}

export class MemoryStore implements JoinStore, RoundStore, WebhookLog {
  private joins = new Map<string, Entry>();
  private hosts = new Map<string, number>();
  private links = new Map<string, Link>();
  private rounds = new Map<string, Round>();
  private leases = new Map<string, Lease>();
  private webhooks = new Map<string, number>();
  /** Sorted keys per host|remote, rebuilt only when a join key is added (deletes are skipped on read). */
  private sorted = new Map<string, string[]>();

  constructor(private readonly now: () => number = Date.now) {}

  private key(user: string, room: string): string {
    return `${user}\u0000${room}`;
  }

  /** The stored join if it is the same join as `join` (same joinedAt), not a tombstone. */
  private same(join: Join): Join | undefined {
    const e = this.joins.get(this.key(join.user, join.room));
    return e?.join && joinedAt(e.join) === joinedAt(join) ? e.join : undefined;
  }

  /** Live joins stored (for checks). */
  get size(): number {
    let n = 0;
    for (const e of this.joins.values()) if (e.join) n++;
    return n;
  }

  /** The live join of `user` in `room`, if any (a copy). */
  joinOf(user: string, room: string): Join | undefined {
    const join = this.joins.get(this.key(user, room))?.join;
    return join && { ...join };
  }

  /** Every live join, for assertions. */
  allJoins(): Join[] {
    return [...this.joins.values()].flatMap((e) => (e.join ? [{ ...e.join }] : []));
  }

  async putJoin(join: Join, expiresAt: number): Promise<void> {
    const key = this.key(join.user, join.room);
    const stored = this.joins.get(key);
    if (stored && stored.seq >= join.seq) return;
    const since = joinedAt(join);
    if (since < join.seq && stored?.join && joinedAt(stored.join) === since) {
      // A refresh of the same join: keep its round marks.
      const { recheck } = stored.join;
      stored.join = { ...join, since, ...(recheck ? { recheck } : {}) };
      stored.seq = join.seq;
      stored.expiresAt = expiresAt;
      return;
    }
    if (!stored?.join) this.sorted.delete(`${join.host}|${join.remote}`);
    const { recheck: _r, ...fresh } = join;
    this.joins.set(key, { join: { ...fresh, since }, seq: join.seq, expiresAt });
  }

  async leave(_host: string, user: string, room: string, seq: number, expiresAt: number): Promise<void> {
    const key = this.key(user, room);
    const stored = this.joins.get(key);
    if (!stored || stored.seq < seq) this.joins.set(key, { left: true, seq, expiresAt });
  }

  async endSession(host: string, user: string, seq: number): Promise<number> {
    let n = 0;
    for (const [key, e] of this.joins) {
      if (e.join && e.join.user === user && e.join.host === host && e.seq < seq) {
        this.joins.delete(key);
        n++;
      }
    }
    return n;
  }

  async startHost(host: string, seq: number): Promise<void> {
    if ((this.hosts.get(host) ?? 0) < seq) this.hosts.set(host, seq);
  }

  async hostStartSeq(host: string): Promise<number> {
    return this.hosts.get(host) ?? 0;
  }

  async joinsOf(host: string, remote: string, limit: number, cursor?: string): Promise<Page<Join>> {
    const nowS = Math.floor(this.now() / 1000);
    const id = `${host}|${remote}`;
    let keys = this.sorted.get(id);
    if (!keys) {
      keys = [];
      for (const [key, e] of this.joins) if (e.join && e.join.host === host && e.join.remote === remote) keys.push(key);
      const roomUser = (k: string) => {
        const j = this.joins.get(k)?.join;
        return j ? `${j.room}|${j.user}` : k;
      };
      keys.sort((a, b) => (roomUser(a) < roomUser(b) ? -1 : 1));
      this.sorted.set(id, keys);
    }
    let i = cursor ? Number(cursor) : 0;
    const items: Join[] = [];
    for (; i < keys.length && items.length < limit; i++) {
      const e = this.joins.get(keys[i] as string);
      if (e?.join && e.join.host === host && e.join.remote === remote && e.expiresAt > nowS) {
        items.push({ ...e.join });
      }
    }
    const page: Page<Join> = { items };
    if (i < keys.length) page.next = String(i);
    return page;
  }

  async deleteJoinIf(join: Join): Promise<boolean> {
    if (!this.same(join)) return false;
    this.joins.delete(this.key(join.user, join.room));
    return true;
  }

  async sameJoin(join: Join): Promise<boolean> {
    return this.same(join) !== undefined;
  }

  async markRecheck(join: Join, gen: string): Promise<boolean> {
    const stored = this.same(join);
    if (!stored) return false;
    stored.recheck = gen;
    return true;
  }

  async recordClose(host: string, remote: string, seq: number, at: number, gen: string): Promise<RecordedClose> {
    const key = `${host}|${remote}`;
    const link = this.links.get(key) ?? {};
    if (
      (link.lastCloseSeq !== undefined && link.lastCloseSeq >= seq) ||
      (link.claimedSeq !== undefined && link.claimedSeq >= seq)
    ) {
      const again = link.gen !== undefined && link.lastCloseSeq === seq && link.prevCloseAt !== undefined;
      return {
        gen: link.gen,
        opened: link.gen === gen,
        lastCloseAt: link.lastCloseAt ?? at,
        ...(again ? { previousCloseAt: link.prevCloseAt } : {}),
      };
    }
    const previousCloseAt = link.gen !== undefined ? link.lastCloseAt : undefined;
    link.prevCloseAt = previousCloseAt;
    link.gen ??= gen;
    link.lastCloseAt = at;
    link.lastCloseSeq = seq;
    this.links.set(key, link);
    return {
      gen: link.gen,
      opened: link.gen === gen,
      lastCloseAt: at,
      ...(previousCloseAt !== undefined ? { previousCloseAt } : {}),
    };
  }

  async pendingClose(host: string, remote: string): Promise<PendingClose | undefined> {
    const link = this.links.get(`${host}|${remote}`);
    if (!link?.gen || link.lastCloseAt === undefined || link.lastCloseSeq === undefined) return undefined;
    return { gen: link.gen, lastCloseAt: link.lastCloseAt, lastCloseSeq: link.lastCloseSeq };
  }

  async claimRound(round: Round, lastCloseAt: number): Promise<boolean> {
    const roundKey = `${round.host}|${round.remote}|${round.gen}`;
    const stored = this.rounds.get(roundKey);
    if (!stored || stored.cutoffSeq < round.cutoffSeq) this.rounds.set(roundKey, { ...round });
    const link = this.links.get(`${round.host}|${round.remote}`);
    if (!link || link.gen !== round.gen || link.lastCloseAt !== lastCloseAt) return false;
    this.links.set(`${round.host}|${round.remote}`, { claimedSeq: round.cutoffSeq });
    return true;
  }

  private takeLease(key: string, owner: string, until: number): number | undefined {
    const held = this.leases.get(key);
    if (held && held.until >= this.now() && held.owner !== owner) return held.until;
    this.leases.set(key, { owner, until });
    return undefined;
  }

  private dropLease(key: string, owner: string): void {
    if (this.leases.get(key)?.owner === owner) this.leases.delete(key);
  }

  async leaseRound(
    host: string,
    remote: string,
    gen: string,
    owner: string,
    until: number,
  ): Promise<number | undefined> {
    return this.takeLease(`R|${host}|${remote}|${gen}`, owner, until);
  }

  async releaseRound(host: string, remote: string, gen: string, owner: string): Promise<void> {
    this.dropLease(`R|${host}|${remote}|${gen}`, owner);
  }

  async leaseServerSlot(host: string, slots: number, owner: string, until: number): Promise<number | undefined> {
    let earliest = Infinity;
    for (let slot = 0; slot < slots; slot++) {
      const busy = this.takeLease(`S|${host}|${slot}`, owner, until);
      if (busy === undefined) return undefined;
      earliest = Math.min(earliest, busy);
    }
    return earliest;
  }

  async releaseServerSlot(host: string, slots: number, owner: string): Promise<void> {
    for (let slot = 0; slot < slots; slot++) this.dropLease(`S|${host}|${slot}`, owner);
  }

  /** Server slots held now, for assertions. */
  slotsHeld(host: string): number {
    let n = 0;
    for (const [key, lease] of this.leases) if (key.startsWith(`S|${host}|`) && lease.until >= this.now()) n++;
    return n;
  }

  async getRound(host: string, remote: string, gen: string): Promise<Round | undefined> {
    const r = this.rounds.get(`${host}|${remote}|${gen}`);
    return r && { ...r };
  }

  async saveRound(round: Round): Promise<void> {
    this.rounds.set(`${round.host}|${round.remote}|${round.gen}`, { ...round });
  }

  async roundsOf(host: string, remote: string): Promise<Round[]> {
    return [...this.rounds.values()].filter((r) => r.host === host && r.remote === remote).map((r) => ({ ...r }));
  }

  /** Every round, for assertions. */
  allRounds(): Round[] {
    return [...this.rounds.values()].map((r) => ({ ...r }));
  }

  async rememberWebhook(id: string, expiresAt: number): Promise<boolean> {
    const nowS = Math.floor(this.now() / 1000);
    const exp = this.webhooks.get(id);
    if (exp !== undefined && exp > nowS) return false;
    this.webhooks.set(id, expiresAt);
    return true;
  }

  async webhookApplied(id: string): Promise<boolean> {
    return (this.webhooks.get(id) ?? 0) > this.now() / 1000;
  }
}
