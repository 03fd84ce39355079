// The model ping-muc reasons about: joins (who is in which room, as the user's server said),
// rounds (one per lost link of a local host to a remote domain) and the jobs that drive them.
import type { Element } from 'ltx';

/** A user's full JID present in a room under a nick, as the user's server reported it. */
export interface Join {
  host: string;
  user: string;
  room: string;
  nick: string;
  /** Domain of the room, i.e. the remote side of the s2s link. */
  remote: string;
  /**
   * The epoch of the event that wrote it (docs/events.md; absent = 0): part of the join's key, so
   * a round reads the joins of its close's epoch only.
   */
  epoch?: number;
  /** Server sequence (µs) of the event that wrote this join. */
  seq: number;
  /**
   * Server sequence (µs) at which the user joined, when earlier than `seq`: a join re-posted by
   * the server (a module reload, a refresh of a quiet session) keeps the time it was made, so
   * a round still finds it made before the close. Identifies the join: same `since`, same join.
   */
  since?: number;
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
  /** The epoch of the window's last close (absent = 0): the round reads that epoch's joins. */
  epoch?: number;
  /** Follow-up pass: 0 is the first round, 1..rechecks are re-checks. */
  pass: number;
  /** Store cursor of the next page; undefined at the start of a pass. */
  cursor?: string;
  /** Joins marked for a re-check during this pass. */
  marked?: number;
  /** While waiting: the pass may not start before this time (ms). */
  notBefore?: number;
  /**
   * A join the last pass found behind an unreachable remote (remote-server-* from our own
   * server): while the round waits, it is self-pinged every PING_MUC_PROBE_SECONDS, and the
   * re-check runs as soon as the remote answers.
   */
  probe?: { user: string; occupant: string; since: number };
  state: 'running' | 'waiting' | 'done';
  /**
   * When the round's next invocation must have started (ms): running, the holding invocation's
   * deadline; waiting, notBefore; done, none. Past it, the reconciler re-arms the round.
   */
  due?: number;
}

/** One page of a paged read. */
export interface Page<T> {
  items: T[];
  /** Opaque; absent on the last page. */
  next?: string;
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
  /** For 'continue': the pass this job goes on with; a job for another pass does nothing. */
  pass?: number;
  /** While the round waits for `pass` because its remote was unreachable: self-ping one join to see if it is back. */
  probe?: true;
  /**
   * Not before this time (ms). A scheduler may deliver a job early (EventBridge Scheduler fires
   * within the minute before, an async invocation at once), so the round waits for it itself.
   */
  at?: number;
}

/** The most a close is dated before its arrival by the server's clock (below: a tenth of the delay). */
export const CLOSE_DATING_MAX_MS = 2_000;

/**
 * When an s2s link closed, on our clock: the server's own time of the close (its event's `seq`,
 * µs, docs/events.md), so that the delay counts from the close as mod_ping_muc's does, and not
 * from the event's arrival (its post, queue and transit: 40-60 ms on the testbed, more through
 * a cold function). Trusted only within a tenth of the delay (at most CLOSE_DATING_MAX_MS)
 * before its arrival: a server clock behind ours can shorten the delay by no more than that.
 * Otherwise, and when the server's clock is ahead, the arrival: a close that waited out an
 * outage of ping-muc, or carried over a module reload, is dated as it always was.
 */
export function closedAt(seq: number, arrivedAt: number, delayMs: number): number {
  const serverTime = Math.floor(seq / 1000);
  const earliest = arrivedAt - Math.min(CLOSE_DATING_MAX_MS, delayMs / 10);
  return serverTime >= earliest ? Math.min(serverTime, arrivedAt) : arrivedAt;
}

/** What names a join in the store (its key): a leave names one, a round's writes the one it read. */
export type JoinKey = Pick<Join, 'host' | 'epoch' | 'remote' | 'room' | 'user'>;

/** When the join was made: `since`, else the seq that wrote it. */
export const joinedAt = (join: Join): number => join.since ?? join.seq;

/** What the XMPP server said about a self-ping. */
export type PingReply =
  | { kind: 'reply'; iq: Element }
  | { kind: 'timeout' }
  | { kind: 'no-session' }
  /**
   * A heal (docs/stanza-api.md): the reply said the room no longer has the user, and the server
   * delivered the notification to the session, still in the join pinged, itself.
   */
  | { kind: 'notified' }
  /** The API answered this one request with something we cannot use: our failure, never a fact about the room. */
  | { kind: 'bad-answer'; reason: string };
