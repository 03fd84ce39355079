// The ports of ping-muc, small and split by what they keep or reach. Each has one adapter per
// backend in lib/adapters/ (one DynamoDB class implements the three store ports).
import type { Join, JoinKey, Page, PingReply, Round, RoundJob } from './domain/model';

/**
 * Joins, written by events, keyed by (host, epoch, remote, room, user). Each write is ordered by
 * seq: an older event than what is stored changes nothing. expiresAt arguments are Unix seconds
 * (the TTL attribute); expired items are filtered on read. Also the hosts' last heartbeats.
 */
export interface JoinStore {
  /**
   * A join with `since` below `seq` re-posts the stored join of the same `since` (a refresh):
   * it keeps the join's round marks. Any other join replaces what is stored.
   */
  putJoin(join: Join, expiresAt: number): Promise<void>;
  /** Leaves a short-lived tombstone on the join's key so that an older, late join cannot resurrect it. */
  leave(key: JoinKey, seq: number, expiresAt: number): Promise<void>;

  /** Live joins of `host` of epoch `epoch` in rooms on `remote`, paged in a stable order. */
  joinsOf(host: string, epoch: number, remote: string, limit: number, cursor?: string): Promise<Page<Join>>;
  // The calls below act only on the same join as was read: same `joinedAt` (a refresh in
  // between does not count as a change; a rejoin or a leave does).
  /** Delete only if it is the same join. */
  deleteJoinIf(join: Join): Promise<boolean>;
  /** Mark for a follow-up self-ping, only if it is the same join. */
  markRecheck(join: Join, gen: string): Promise<boolean>;

  /** Records `host`'s heartbeat of `seq`, arrived at `at` (ms, our clock), unless a newer one is stored. */
  beat(host: string, seq: number, at: number): Promise<void>;
  /** Every host's last beat (ms, our clock when it arrived), in one read. */
  beats(): Promise<Map<string, number>>;
}

/** A close window as the store keeps it until a round claims it. */
export interface PendingClose {
  gen: string;
  lastCloseAt: number;
  lastCloseSeq: number;
  /** The epoch of the last close (0 when it carried none). */
  epoch: number;
}

/** Close windows of lost links, the rounds that claim them, and the rounds' leases. */
export interface RoundStore {
  /**
   * Record an s2s close. Returns the generation of the pending window (none once claimed) and
   * whether this close opened it, now or in an earlier try (so it must be scheduled), rather
   * than joined a window opened by another close (coalesced). `at` is when the link closed, on
   * our clock (domain/model.ts closedAt); `due` when the window's round is due (`at` + the delay):
   * the window keeps the due and the `epoch` (absent: 0) of its last recorded close.
   */
  recordClose(
    host: string,
    remote: string,
    seq: number,
    at: number,
    gen: string,
    due: number,
    epoch?: number,
  ): Promise<RecordedClose>;
  /**
   * Every pending close window and every round not done whose `due` (ms) is before `before`,
   * oldest first, paged: what the reconciler re-arms (lib/app/reconcile.ts).
   */
  overdue(before: number, limit: number, cursor?: string): Promise<Page<Overdue>>;
  /** The pending close window of (host, remote), if any. */
  pendingClose(host: string, remote: string): Promise<PendingClose | undefined>;
  /**
   * Save `round` unless a round of that gen is stored with the same or a higher cutoffSeq (a
   * duplicate invocation must never overwrite the winner's progress), then close the pending
   * window `round.gen` whose last close is `round.cutoffSeq`. False if the window is gone or a
   * newer close arrived meanwhile, even within the same millisecond (the caller re-reads and
   * retries). A later close opens a new window.
   */
  claimRound(round: Round): Promise<boolean>;
  getRound(host: string, remote: string, gen: string): Promise<Round | undefined>;
  /**
   * Take the round for `owner` until `until` (ms), so that a duplicate invocation does not run
   * it at the same time. Returns undefined when taken, else when the holder's lease ends.
   */
  leaseRound(host: string, remote: string, gen: string, owner: string, until: number): Promise<number | undefined>;
  releaseRound(host: string, remote: string, gen: string, owner: string): Promise<void>;
  saveRound(round: Round): Promise<void>;
  /** The stored rounds of (host, remote), any generation and state (an s2s-up looks for a waiting one). */
  roundsOf(host: string, remote: string): Promise<Round[]>;
  /**
   * Take one of `slots` self-ping slots of the XMPP server `host` for `owner` until `until`
   * (ms), so that rounds of one server, whatever their remote, keep at most slots × C pings in
   * flight. Returns undefined when a slot was taken, else the earliest time one frees.
   */
  leaseServerSlot(host: string, slots: number, owner: string, until: number): Promise<number | undefined>;
  releaseServerSlot(host: string, slots: number, owner: string): Promise<void>;
}

/** A window or a round whose next invocation is overdue. */
export interface Overdue {
  kind: 'window' | 'round';
  host: string;
  remote: string;
  gen: string;
  /** For a round: the pass its next invocation goes on with. */
  pass?: number;
  due: number;
}

/** What recordClose found and did. */
export interface RecordedClose {
  /** Generation of the pending window; none when a round already claimed past this close. */
  gen?: string;
  /** This close opened the window, now or in an earlier try: its start must be scheduled. */
  opened: boolean;
  /** The window's last close (ms), this one included when it was recorded. */
  lastCloseAt: number;
}

export interface Scheduler {
  /**
   * Run `job` at or after `at` (ms), or early carrying its time in `job.at` (the round arms a job
   * more than a second early again). `name` is deterministic: a scheduler that keeps names makes
   * scheduling the same name twice a no-op that returns false; the round queue keeps none.
   */
  schedule(name: string, at: number, job: RoundJob): Promise<boolean>;
}

/**
 * A join as the stanza API names it: the session, its occupant JID (room/nick), and the join's
 * identity (`joinedAt` in ./domain/model.ts, µs). The server acts only on the session's current
 * join of that room when it has this identity (docs/stanza-api.md).
 */
export interface JoinRef {
  user: string;
  occupant: string;
  since: number;
}

/** The user's XMPP server, as the round needs it (docs/stanza-api.md). Throws on the API's own failures. */
export interface StanzaApi {
  /**
   * The round's self-ping (XEP-0410). When the reply says the room no longer has the user
   * (./domain/outcome.ts) and the session is still in the join `join.since`, the server tells the
   * user at once and the reply is `notified`; any other reply is the self-ping's.
   */
  heal(join: JoinRef): Promise<PingReply>;
  /** A self-ping whose reply is only read: nobody is told (a probe of an unreachable remote). */
  selfPing(join: JoinRef): Promise<PingReply>;
  /** The unavailable notification (status 110 and 333), delivered only to the session's join `join.since`. */
  notify(join: JoinRef): Promise<'sent' | 'no-session'>;
  /**
   * The server of `host` pings the domain `remote` (XEP-0199 §4.2), which brings their s2s link
   * up before a round's self-pings need it. Best effort: resolves once the API took it.
   */
  serverPing(host: string, remote: string): Promise<void>;
}
