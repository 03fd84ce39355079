// The three ports of ping-muc. Each has one adapter per backend in lib/adapters/.
import type { Element } from 'ltx';

/** A user's full JID present in a room under a nick, as the user's server reported it. */
export interface Join {
  host: string;
  user: string;
  room: string;
  nick: string;
  /** Domain of the room, i.e. the remote side of the s2s link. */
  remote: string;
  /** Server sequence (µs) of the event that wrote this join. */
  seq: number;
  /** Set while the join awaits a follow-up self-ping: `<round gen>.<pass>` of the pass that must re-check it. */
  recheck?: string;
}

/** A pending or running self-ping round for one (host, remote domain). */
export interface Round {
  host: string;
  remote: string;
  /** Generation: unique per lost link of this (host, remote). */
  gen: string;
  /** Joins with seq above this were made after the close: they need no ping. */
  cutoffSeq: number;
  /** Follow-up pass: 0 is the first round, 1..rechecks are re-checks. */
  pass: number;
  /** Store cursor of the next page; undefined at the start of a pass. */
  cursor?: string;
  /** Joins marked for a re-check during this pass. */
  marked?: number;
  state: 'running' | 'waiting' | 'done';
}

export interface Page<T> {
  items: T[];
  /** Opaque; absent on the last page. */
  next?: string;
}

export interface JoinStore {
  // Events. Each is ordered by seq: an older event than what is stored changes nothing.
  // expiresAt arguments are Unix seconds (the TTL attribute); expired items are filtered on read.
  putJoin(join: Join, expiresAt: number): Promise<void>;
  /** Leaves a short-lived tombstone so that an older, late join cannot resurrect the join. */
  leave(host: string, user: string, room: string, seq: number, expiresAt: number): Promise<void>;
  endSession(host: string, user: string, seq: number): Promise<number>;
  startHost(host: string, seq: number): Promise<number>;
  /** seq of the host's last host-start, 0 if none. */
  hostStartSeq(host: string): Promise<number>;

  /** Live joins of `host` in rooms on `remote`, paged in a stable order. */
  joinsOf(host: string, remote: string, limit: number, cursor?: string): Promise<Page<Join>>;
  /** Delete only if the join is unchanged (same seq) since it was read. */
  deleteJoinIf(join: Join): Promise<boolean>;
  /** Mark for a follow-up self-ping, only if unchanged since read. */
  markRecheck(join: Join, gen: string): Promise<boolean>;
  /** Mark as being notified, only if unchanged since read: false means it changed (a rejoin). */
  markNotifying(join: Join, gen: string): Promise<boolean>;

  // Lost links and rounds.
  /**
   * Record an s2s close. Returns the generation of the pending window (none once claimed) and
   * whether this close opened it, now or in an earlier try (so it must be scheduled), rather
   * than joined a window opened by another close (coalesced).
   */
  recordClose(host: string, remote: string, seq: number, now: number, gen: string): Promise<{ gen?: string; opened: boolean; lastCloseAt: number }>;
  /** The pending close window of (host, remote), if any. */
  pendingClose(host: string, remote: string): Promise<{ gen: string; lastCloseAt: number; lastCloseSeq: number } | undefined>;
  /**
   * Save `round`, then close the pending window `round.gen` whose last close is `lastCloseAt`.
   * False if the window is gone or a newer close arrived meanwhile (the round is saved anyway;
   * the caller re-reads and retries). A later close then opens a new window.
   */
  claimRound(round: Round, lastCloseAt: number): Promise<boolean>;
  getRound(host: string, remote: string, gen: string): Promise<Round | undefined>;
  /**
   * Take the round for `owner` until `until` (ms), so that a duplicate invocation does not run
   * it at the same time. Returns undefined when taken, else when the holder's lease ends.
   */
  leaseRound(host: string, remote: string, gen: string, owner: string, until: number): Promise<number | undefined>;
  releaseRound(host: string, remote: string, gen: string, owner: string): Promise<void>;
  saveRound(round: Round): Promise<void>;

  /** Whether a webhook id was applied (and remembered) already. */
  webhookApplied(id: string): Promise<boolean>;
  /** Remember an applied webhook id until `expiresAt`; false if it was already there. */
  rememberWebhook(id: string, expiresAt: number): Promise<boolean>;
}

/** What a round invocation must do. Serialized as the schedule's input. */
export interface RoundJob {
  host: string;
  remote: string;
  gen: string;
  /** 'start' claims the pending window; 'continue' resumes a round (checkpoint or re-check). */
  kind: 'start' | 'continue';
  /** Retries so far after our own failures (stanza API or store down). */
  attempt?: number;
}

export interface Scheduler {
  /**
   * Run `job` at or after `at` (ms). `name` is deterministic: scheduling the same name twice
   * is a no-op that returns false.
   */
  schedule(name: string, at: number, job: RoundJob): Promise<boolean>;
}

/** What the XMPP server said about a self-ping. */
export type PingReply =
  | { kind: 'reply'; iq: Element }
  | { kind: 'timeout' }
  | { kind: 'no-session' };

export interface StanzaApi {
  /** Send a self-ping as `user` to `occupant`. Throws on the API's own failures. */
  selfPing(user: string, occupant: string): Promise<PingReply>;
  /** Deliver an unavailable notification. Returns false if the session is gone. Throws on failure. */
  notify(presence: Element): Promise<boolean>;
}
