// An in-memory store (plain Maps) with the same ordering rules as the DynamoDB store: the fake
// behind the round's unit tests, and the benchmark's way to measure our own CPU per event with
// the store I/O taken out. Not a production adapter.
import type { Join, Page, Round } from '../../lib/domain/model';
import type { JoinStore, PendingClose, RoundStore, WebhookLog } from '../../lib/ports';

interface Entry {
  join?: Join;
  left?: boolean;
  seq: number;
  expiresAt: number;
}

export class MemoryStore implements JoinStore, RoundStore, WebhookLog {
  private joins = new Map<string, Entry>();
  private hosts = new Map<string, number>();
  private links = new Map<string, { gen?: string; lastCloseAt?: number; lastCloseSeq?: number; claimedSeq?: number }>();
  private rounds = new Map<string, Round>();
  private webhooks = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  private key(user: string, room: string): string {
    return `${user}\u0000${room}`;
  }

  private newer(key: string, seq: number): boolean {
    const e = this.joins.get(key);
    return !e || e.seq < seq;
  }

  /** Live joins stored (for checks). */
  get size(): number {
    let n = 0;
    for (const e of this.joins.values()) if (e.join) n++;
    return n;
  }

  async putJoin(join: Join, expiresAt: number): Promise<void> {
    const key = this.key(join.user, join.room);
    if (!this.newer(key, join.seq)) return;
    if (!this.joins.get(key)?.join) this.sorted.delete(`${join.host}|${join.remote}`);
    this.joins.set(key, { join: { ...join }, seq: join.seq, expiresAt });
  }

  async leave(_host: string, user: string, room: string, seq: number, expiresAt: number): Promise<void> {
    const key = this.key(user, room);
    if (this.newer(key, seq)) this.joins.set(key, { left: true, seq, expiresAt });
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

  async startHost(host: string, seq: number): Promise<number> {
    if ((this.hosts.get(host) ?? 0) < seq) this.hosts.set(host, seq);
    let n = 0;
    for (const [key, e] of this.joins) {
      if (e.join && e.join.host === host && e.seq < seq) {
        this.joins.delete(key);
        n++;
      }
    }
    return n;
  }

  async hostStartSeq(host: string): Promise<number> {
    return this.hosts.get(host) ?? 0;
  }

  /** Sorted keys per host|remote, rebuilt only when a join key is added (deletes are skipped on read). */
  private sorted = new Map<string, string[]>();

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
      if (e?.join && e.join.host === host && e.join.remote === remote && e.expiresAt > nowS) items.push({ ...e.join });
    }
    const page: Page<Join> = { items };
    if (i < keys.length) page.next = String(i);
    return page;
  }

  async deleteJoinIf(join: Join): Promise<boolean> {
    const key = this.key(join.user, join.room);
    const e = this.joins.get(key);
    if (!e?.join || e.seq !== join.seq) return false;
    this.joins.delete(key);
    return true;
  }

  async markNotifying(join: Join): Promise<boolean> {
    const e = this.joins.get(this.key(join.user, join.room));
    return Boolean(e?.join) && e?.seq === join.seq;
  }

  async markRecheck(join: Join, gen: string): Promise<boolean> {
    const e = this.joins.get(this.key(join.user, join.room));
    if (!e?.join || e.seq !== join.seq) return false;
    e.join.recheck = gen;
    return true;
  }

  async recordClose(host: string, remote: string, seq: number, now: number, gen: string): Promise<{ gen?: string; opened: boolean; lastCloseAt: number }> {
    const key = `${host}|${remote}`;
    const link = this.links.get(key) ?? {};
    if ((link.lastCloseSeq !== undefined && link.lastCloseSeq >= seq) || (link.claimedSeq !== undefined && link.claimedSeq >= seq)) {
      return { gen: link.gen, opened: link.gen === gen, lastCloseAt: link.lastCloseAt ?? now };
    }
    link.gen ??= gen;
    link.lastCloseAt = now;
    link.lastCloseSeq = seq;
    this.links.set(key, link);
    return { gen: link.gen, opened: link.gen === gen, lastCloseAt: now };
  }

  async pendingClose(host: string, remote: string): Promise<PendingClose | undefined> {
    const link = this.links.get(`${host}|${remote}`);
    if (!link?.gen || link.lastCloseAt === undefined || link.lastCloseSeq === undefined) return undefined;
    return { gen: link.gen, lastCloseAt: link.lastCloseAt, lastCloseSeq: link.lastCloseSeq };
  }

  async claimRound(round: Round, lastCloseAt: number): Promise<boolean> {
    await this.saveRound(round);
    const link = this.links.get(`${round.host}|${round.remote}`);
    if (!link || link.gen !== round.gen || link.lastCloseAt !== lastCloseAt) return false;
    this.links.set(`${round.host}|${round.remote}`, { claimedSeq: round.cutoffSeq });
    return true;
  }

  private leases = new Map<string, { owner: string; until: number }>();

  async leaseRound(host: string, remote: string, gen: string, owner: string, until: number): Promise<number | undefined> {
    const key = `${host}|${remote}|${gen}`;
    const held = this.leases.get(key);
    if (held && held.until >= this.now() && held.owner !== owner) return held.until;
    this.leases.set(key, { owner, until });
    return undefined;
  }

  async releaseRound(host: string, remote: string, gen: string, owner: string): Promise<void> {
    const key = `${host}|${remote}|${gen}`;
    if (this.leases.get(key)?.owner === owner) this.leases.delete(key);
  }

  async getRound(host: string, remote: string, gen: string): Promise<Round | undefined> {
    const r = this.rounds.get(`${host}|${remote}|${gen}`);
    return r && { ...r };
  }

  async saveRound(round: Round): Promise<void> {
    this.rounds.set(`${round.host}|${round.remote}|${round.gen}`, { ...round });
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
