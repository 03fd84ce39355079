// An in-memory store (plain Maps) with the same rules as the DynamoDB store (lib/ports.ts), held
// to the same contract suite (test/adapters/dynamodb/contract.test.ts): the fake behind the round's unit
// tests, the fault-injection suite and the simulator, and the benchmark's way to take the store
// I/O out of a measurement. Not a production adapter.
import { joinedAt, type Join, type JoinKey, type Page, type Round } from '../lib/domain/model';
import type { JoinStore, Overdue, PendingClose, RecordedClose, RoundStore } from '../lib/ports';

/** Lifetime of rounds and of windows (from their last close), as the DynamoDB store's. */
const ROUND_TTL_SECONDS = 7 * 86_400;
const LINK_TTL_SECONDS = 7 * 86_400;

/** A malformed or foreign cursor (the DynamoDB store throws its InvalidCursorError, same message). */
export class InvalidCursorError extends Error {
  override name = 'InvalidCursorError';
}

/**
 * UTF-8 byte order, as DynamoDB sorts strings: code point order. UTF-16 code units differ from it
 * only where a surrogate (a code point past U+FFFF) meets U+E000-U+FFFF, so surrogates are moved
 * up; no allocation, since a benchmark's rounds sort 100,000 joins with it.
 */
function utf8Order(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return (x >= 0xd800 && x <= 0xdfff ? x + 0x2800 : x) - (y >= 0xd800 && y <= 0xdfff ? y + 0x2800 : y);
  }
  return a.length - b.length;
}

const encode = (value: unknown): string => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
function decode(cursor: string): unknown {
  try {
    return JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidCursorError('invalid store cursor: not JSON');
  }
}

/** A stored join as a read returns it: `since` only when earlier than seq, `epoch` only when not 0. */
function readJoin(join: Join): Join {
  const { since, epoch, ...rest } = join;
  return {
    ...rest,
    ...(epoch ? { epoch } : {}),
    ...(since !== undefined && since !== join.seq ? { since } : {}),
  };
}

/** The partition of a join (as DynamoDB's `J#<host>|<epoch>|<remote>`) and its sort key. */
const partition = (host: string, epoch: number | undefined, remote: string) => `${host}|${epoch ?? 0}|${remote}`;
const sortKey = (key: Pick<JoinKey, 'room' | 'user'>) => `${key.room}|${key.user}`;

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
  claimedSeq?: number;
  /** While a window is pending: its last recorded close's due (ms) and epoch. */
  due?: number;
  epoch?: number;
  expiresAt: number;
}

interface StoredRound {
  round: Round;
  expiresAt: number;
}

interface Lease {
  owner: string;
  until: number;
}

export class MemoryStore implements JoinStore, RoundStore {
  /** Per partition (host|epoch|remote), the entries by `<room>|<user>`. */
  private joins = new Map<string, Map<string, Entry>>();
  private beatsOf = new Map<string, { seq: number; beat: number }>();
  private links = new Map<string, Link>();
  private rounds = new Map<string, StoredRound>();
  private leases = new Map<string, Lease>();
  /**
   * Per partition, the sorted `<room>|<user>` keys (DynamoDB's order), rebuilt only when a key is
   * added (deletes are skipped on read). A cursor names the last key read, never an index, so
   * that writes between pages neither repeat nor skip a join.
   */
  private sorted = new Map<string, string[]>();

  constructor(private readonly now: () => number = Date.now) {}

  private entries(pk: string): Map<string, Entry> {
    let entries = this.joins.get(pk);
    if (!entries) {
      entries = new Map();
      this.joins.set(pk, entries);
    }
    return entries;
  }

  private entry(key: JoinKey): Entry | undefined {
    return this.joins.get(partition(key.host, key.epoch, key.remote))?.get(sortKey(key));
  }

  private setEntry(key: JoinKey, entry: Entry): void {
    const entries = this.entries(partition(key.host, key.epoch, key.remote));
    const sk = sortKey(key);
    if (!entries.has(sk)) this.sorted.delete(partition(key.host, key.epoch, key.remote));
    entries.set(sk, entry);
  }

  /** The stored join if it is the same join as `join` (same joinedAt), not a tombstone. */
  private same(join: Join): Join | undefined {
    const e = this.entry(join);
    return e?.join && joinedAt(e.join) === joinedAt(join) ? e.join : undefined;
  }

  private *all(): Iterable<Entry> {
    for (const entries of this.joins.values()) yield* entries.values();
  }

  /** Live joins stored (for checks). */
  get size(): number {
    let n = 0;
    for (const e of this.all()) if (e.join) n++;
    return n;
  }

  /** The live join of `user` in `room`, of any epoch (the newest write), if any (a copy, as a read returns it). */
  joinOf(user: string, room: string): Join | undefined {
    // One lookup per partition (a few: host × epoch × remote), not a scan of every join.
    let found: Join | undefined;
    const sk = sortKey({ user, room });
    for (const entries of this.joins.values()) {
      const join = entries.get(sk)?.join;
      if (join && join.user === user && join.room === room && (!found || join.seq > found.seq)) found = join;
    }
    return found && readJoin(found);
  }

  /** Every live join, for assertions. */
  allJoins(): Join[] {
    return [...this.all()].flatMap((e) => (e.join ? [readJoin(e.join)] : []));
  }

  private nowSeconds(): number {
    return Math.floor(this.now() / 1000);
  }

  async putJoin(join: Join, expiresAt: number): Promise<void> {
    const stored = this.entry(join);
    if (stored && stored.seq >= join.seq) return;
    const since = joinedAt(join);
    if (since < join.seq && stored?.join && joinedAt(stored.join) === since) {
      // A refresh of the same join: keep its round marks.
      const { recheck } = stored.join;
      const { recheck: _ignored, ...attributes } = join;
      stored.join = { ...attributes, since, ...(recheck ? { recheck } : {}) };
      stored.seq = join.seq;
      stored.expiresAt = expiresAt;
      return;
    }
    // The whole join replaces what is stored (a recheck mark it carries too).
    this.setEntry(join, { join: { ...join, since }, seq: join.seq, expiresAt });
  }

  async leave(key: JoinKey, seq: number, expiresAt: number): Promise<void> {
    const stored = this.entry(key);
    if (!stored || stored.seq < seq) this.setEntry(key, { left: true, seq, expiresAt });
  }

  async beat(host: string, seq: number, at: number): Promise<void> {
    if ((this.beatsOf.get(host)?.seq ?? 0) < seq) this.beatsOf.set(host, { seq, beat: at });
  }

  async beats(): Promise<Map<string, number>> {
    return new Map([...this.beatsOf].map(([host, { beat }]) => [host, beat]));
  }

  async joinsOf(host: string, epoch: number, remote: string, limit: number, cursor?: string): Promise<Page<Join>> {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`joinsOf: limit must be a positive integer, got ${limit}`);
    const nowS = this.nowSeconds();
    const pk = partition(host, epoch, remote);
    const entries = this.joins.get(pk) ?? new Map<string, Entry>();
    let keys = this.sorted.get(pk);
    if (!keys) {
      keys = [...entries.keys()].sort(utf8Order);
      this.sorted.set(pk, keys);
    }
    let i = 0;
    if (cursor !== undefined) {
      const after = decode(cursor);
      if (!Array.isArray(after) || after.length !== 2 || after.some((x) => typeof x !== 'string'))
        throw new InvalidCursorError('invalid store cursor: not a position');
      if (after[0] !== pk) throw new InvalidCursorError('invalid store cursor: belongs to another query');
      // The first key after the last one read (binary search: the order is sorted).
      let hi = keys.length;
      while (i < hi) {
        const mid = (i + hi) >> 1;
        if (utf8Order(keys[mid] as string, after[1] as string) <= 0) i = mid + 1;
        else hi = mid;
      }
    }
    const items: Join[] = [];
    let last: string | undefined;
    for (; i < keys.length && items.length < limit; i++) {
      const sk = keys[i] as string;
      last = sk;
      const e = entries.get(sk);
      if (e?.join && e.expiresAt > nowS) items.push(readJoin(e.join));
    }
    const page: Page<Join> = { items };
    if (i < keys.length && last !== undefined) page.next = encode([pk, last]);
    return page;
  }

  async deleteJoinIf(join: Join): Promise<boolean> {
    if (!this.same(join)) return false;
    this.joins.get(partition(join.host, join.epoch, join.remote))?.delete(sortKey(join));
    return true;
  }

  async markRecheck(join: Join, gen: string): Promise<boolean> {
    const stored = this.same(join);
    if (!stored) return false;
    stored.recheck = gen;
    return true;
  }

  async recordClose(
    host: string,
    remote: string,
    seq: number,
    at: number,
    gen: string,
    due: number,
    epoch = 0,
  ): Promise<RecordedClose> {
    const key = `${host}|${remote}`;
    const link: Link = this.links.get(key) ?? { expiresAt: 0 };
    if (
      (link.lastCloseSeq !== undefined && link.lastCloseSeq >= seq) ||
      (link.claimedSeq !== undefined && link.claimedSeq >= seq)
    ) {
      return { gen: link.gen, opened: link.gen === gen, lastCloseAt: link.lastCloseAt ?? at };
    }
    link.gen ??= gen;
    link.lastCloseAt = at;
    link.lastCloseSeq = seq;
    link.due = due;
    link.epoch = epoch;
    link.expiresAt = Math.floor(at / 1000) + LINK_TTL_SECONDS;
    this.links.set(key, link);
    return { gen: link.gen, opened: link.gen === gen, lastCloseAt: at };
  }

  async pendingClose(host: string, remote: string): Promise<PendingClose | undefined> {
    const link = this.links.get(`${host}|${remote}`);
    if (!link?.gen || link.lastCloseAt === undefined || link.lastCloseSeq === undefined) return undefined;
    if (link.expiresAt <= this.nowSeconds()) return undefined;
    return { gen: link.gen, lastCloseAt: link.lastCloseAt, lastCloseSeq: link.lastCloseSeq, epoch: link.epoch ?? 0 };
  }

  async claimRound(round: Round): Promise<boolean> {
    const roundKey = `${round.host}|${round.remote}|${round.gen}`;
    const stored = this.rounds.get(roundKey);
    if (!stored || stored.round.cutoffSeq < round.cutoffSeq) this.store(round);
    const link = this.links.get(`${round.host}|${round.remote}`);
    if (!link || link.gen !== round.gen || link.lastCloseSeq !== round.cutoffSeq) return false;
    // The window's due goes with it: the round's own due takes over.
    this.links.set(`${round.host}|${round.remote}`, { claimedSeq: round.cutoffSeq, expiresAt: link.expiresAt });
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
    if (!Number.isInteger(slots) || slots < 1)
      throw new RangeError(`leaseServerSlot: slots must be a positive integer, got ${slots}`);
    // The owner's own slot first: a renewal never takes a second slot.
    const numbers = [...Array(slots).keys()];
    const own = numbers.find((slot) => this.leases.get(`S|${host}|${slot}`)?.owner === owner);
    let earliest = Infinity;
    for (const slot of own === undefined ? numbers : [own, ...numbers.filter((n) => n !== own)]) {
      const busy = this.takeLease(`S|${host}|${slot}`, owner, until);
      if (busy === undefined) return undefined;
      earliest = Math.min(earliest, busy);
    }
    return earliest;
  }

  async releaseServerSlot(host: string, _slots: number, owner: string): Promise<void> {
    // Every slot the owner holds, whatever `slots` is now (it may have been lowered meanwhile).
    for (const key of [...this.leases.keys()]) if (key.startsWith(`S|${host}|`)) this.dropLease(key, owner);
  }

  /** Server slots held now, for assertions. */
  slotsHeld(host: string): number {
    let n = 0;
    for (const [key, lease] of this.leases) if (key.startsWith(`S|${host}|`) && lease.until >= this.now()) n++;
    return n;
  }

  /** Store a copy of `round`; a done round keeps no due (it is never overdue). */
  private store(round: Round): void {
    const copy = structuredClone(round);
    if (copy.state === 'done') delete copy.due;
    this.rounds.set(`${round.host}|${round.remote}|${round.gen}`, {
      round: copy,
      expiresAt: this.nowSeconds() + ROUND_TTL_SECONDS,
    });
  }

  private liveRound(stored: StoredRound | undefined): Round | undefined {
    return stored && stored.expiresAt > this.nowSeconds() ? structuredClone(stored.round) : undefined;
  }

  async getRound(host: string, remote: string, gen: string): Promise<Round | undefined> {
    return this.liveRound(this.rounds.get(`${host}|${remote}|${gen}`));
  }

  async saveRound(round: Round): Promise<void> {
    this.store(round);
  }

  async roundsOf(host: string, remote: string): Promise<Round[]> {
    // In gen order, as DynamoDB returns a partition by sort key.
    return [...this.rounds.values()]
      .flatMap((stored) => {
        const round = stored.round.host === host && stored.round.remote === remote ? this.liveRound(stored) : undefined;
        return round ? [round] : [];
      })
      .sort((a, b) => utf8Order(a.gen, b.gen));
  }

  /** Every round, for assertions. */
  allRounds(): Round[] {
    return [...this.rounds.values()].map((stored) => structuredClone(stored.round));
  }

  /**
   * A scan, ordered by (due, kind, host, remote, gen); the cursor is the last item returned, so a
   * page resumes after it whatever changed in between (as DynamoDB's ExclusiveStartKey does).
   */
  async overdue(before: number, limit: number, cursor?: string): Promise<Page<Overdue>> {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`overdue: limit must be a positive integer, got ${limit}`);
    const nowS = this.nowSeconds();
    const all: Overdue[] = [];
    for (const [key, link] of this.links) {
      if (link.gen === undefined || link.due === undefined || link.expiresAt <= nowS || link.due >= before) continue;
      // Keys are `<host>|<remote>`, and domains never contain '|'.
      const [host, remote] = key.split('|') as [string, string];
      all.push({ kind: 'window', host, remote, gen: link.gen, due: link.due });
    }
    for (const { round, expiresAt } of this.rounds.values()) {
      if (round.state === 'done' || round.due === undefined || expiresAt <= nowS || round.due >= before) continue;
      const { host, remote, gen, pass, due } = round;
      all.push({ kind: 'round', host, remote, gen, pass, due });
    }
    const order = (o: Overdue): [number, string] => [o.due, `${o.kind}|${o.host}|${o.remote}|${o.gen}`];
    const compare = (a: [number, string], b: [number, string]) => a[0] - b[0] || utf8Order(a[1], b[1]);
    all.sort((a, b) => compare(order(a), order(b)));
    let rest = all;
    if (cursor !== undefined) {
      const after = decode(cursor);
      if (!Array.isArray(after) || after.length !== 2 || typeof after[0] !== 'number' || typeof after[1] !== 'string')
        throw new InvalidCursorError('invalid store cursor: not a position');
      rest = all.filter((o) => compare(order(o), after as [number, string]) > 0);
    }
    const items = rest.slice(0, limit);
    const page: Page<Overdue> = { items };
    if (rest.length > limit) page.next = encode(order(items[items.length - 1] as Overdue));
    return page;
  }
}
