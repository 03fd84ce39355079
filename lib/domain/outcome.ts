// XEP-0410 self-ping outcomes, classified in this one place.
//
// XEP-0410 §3.2 ("Interpreting the result") and what Prosody 0.12.3 answers:
//
//   answer                                             outcome        why
//   result                                             joined         §3.2 success
//   service-unavailable, feature-not-implemented       joined         §3.2: the ping reached the client, which lacks XEP-0199
//   item-not-found by the room (bare room JID)         nick-changed   §3.2: joined, the nick changed meanwhile
//   item-not-found by anyone else (the MUC service)    not-joined     the room (or the occupant) does not exist
//   item-not-found without `by`                        unconfirmed    origin unknown (ejabberd answers so both for "room
//                                                                     gone" and for "nick changed"): §3.2 allows a nick
//                                                                     change, so one reply is never "not joined". The
//                                                                     heal named the module's tracked nick (else it is
//                                                                     answered no-session); re-pinged once after a short
//                                                                     wait (confirm, below), the same answer again is
//                                                                     "not joined": a nick change in flight has reached
//                                                                     the module by then, and the re-ping (or the
//                                                                     notification) is answered no-session
//   remote-server-not-found/-timeout by our own server indeterminate  our side of the link, nothing about the room
//     (or without `by`)
//   any other error                                    not-joined     §3.2: "any other error: not joined"
//   no answer (the API's <timeout/>)                   indeterminate  §3.2: the service is unreachable
//   the API's <no-session/>                            gone           the user's session is gone: drop quietly
//   an error without one <error/>, one defined         unusable       whyUnusable, below: never classified, a bad
//     condition and at most one <text/>                               answer (the module never acts on it either)
//
// Error syntax (RFC 6120 §8.3.2): <error type by?> holds one defined condition in the
// urn:ietf:params:xml:ns:xmpp-stanzas namespace, an optional <text/> in that same namespace, and
// an optional application-specific condition in another namespace, so the condition is the first
// stanzas-namespace child that is not <text/>. `by` (§8.3.1) names the entity that generated the
// error; `from` of an error reply is only the address the request was sent to, not its origin.
import type { Element } from 'ltx';
import type { PingReply } from './model';
import { NS_STANZAS } from './stanzas';

export type Outcome =
  /** Joined: keep the join. */
  | 'joined'
  /** item-not-found from the room itself: the occupant changed nick, still joined. */
  | 'nick-changed'
  /** Any other error: the room no longer has the user. Notify (the module then ends the join). */
  | 'not-joined'
  /**
   * item-not-found without `by`, on the nick the module tracks for the join: re-ping once after a
   * short wait (confirm). The same answer again is "not joined".
   */
  | 'unconfirmed'
  /** Says nothing about the room (timeout, our own server's s2s error). Re-check later. */
  | 'indeterminate'
  /** The user's session is gone from the server: delete the join quietly. */
  | 'gone';

/** The defined stanza error conditions (RFC 6120 §8.3.3). */
const DEFINED_CONDITIONS: ReadonlySet<string> = new Set([
  'bad-request',
  'conflict',
  'feature-not-implemented',
  'forbidden',
  'gone',
  'internal-server-error',
  'item-not-found',
  'jid-malformed',
  'not-acceptable',
  'not-allowed',
  'not-authorized',
  'policy-violation',
  'recipient-unavailable',
  'redirect',
  'registration-required',
  'remote-server-not-found',
  'remote-server-timeout',
  'resource-constraint',
  'service-unavailable',
  'subscription-required',
  'undefined-condition',
  'unexpected-request',
]);

const JOINED_ERRORS = new Set(['service-unavailable', 'feature-not-implemented']);
const LINK_ERRORS = new Set(['remote-server-not-found', 'remote-server-timeout']);

export interface PingContext {
  /** The user's server (our own side of the link). */
  host: string;
  /** Room bare JID. */
  room: string;
}

/** The defined condition of an error stanza (RFC 6120 §8.3.2), and who generated it (§8.3.1). */
export function errorCondition(iq: Element): { condition: string; by?: string } {
  // The <error/> child in the stanza's own namespace (jabber:client), not an extension's.
  const error = iq.getChildElements().find((c) => c.getName() === 'error' && c.getNS() === iq.getNS());
  const condition =
    error
      ?.getChildElements()
      .find((c) => c.getNS() === NS_STANZAS && c.getName() !== 'text')
      ?.getName() ?? 'undefined-condition';
  const by = error?.attrs.by;
  return { condition, by: typeof by === 'string' && by !== '' ? by : undefined };
}

/**
 * Why an error reply is unusable, else undefined. RFC 6120 §8.3.1–8.3.3: one <error/>, holding
 * exactly one defined condition and at most one <text/>. A malformed error must never be read as
 * "any other error" (§3.2: not joined), so it is never classified.
 */
export function whyUnusable(iq: Element): string | undefined {
  const errors = iq.getChildElements().filter((c) => c.getName() === 'error' && c.getNS() === iq.getNS());
  if (errors.length !== 1) return 'IQ error without exactly one <error/>';
  const children = (errors[0] as Element).getChildElements().filter((c) => c.getNS() === NS_STANZAS);
  const conditions = children.filter((c) => c.getName() !== 'text');
  if (conditions.length !== 1 || !DEFINED_CONDITIONS.has((conditions[0] as Element).getName()))
    return 'IQ error without exactly one defined condition (RFC 6120 §8.3.3)';
  // Prosody's get_error takes a second <text/> for the condition: the module would read it otherwise.
  if (children.length - conditions.length > 1) return 'IQ error with several <text/>';
  return undefined;
}

/**
 * Case-folded as Prosody's nodeprep and nameprep fold (stringprep B.2): compatibility forms
 * composed, and full case folding (ß and SS are one letter pair), so that the module's copy of
 * this rule (outcome.lib.lua, after jid.prep) and this one read the same `by` the same way.
 */
function fold(s: string): string {
  return s.normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC');
}

function bare(jid: string): string {
  return fold(jid.split('/')[0] ?? '');
}

/** The room's bare JID itself, not an occupant JID (room/nick) nor the service. */
function isRoom(jid: string, room: string): boolean {
  return !jid.includes('/') && fold(jid) === fold(room);
}

/**
 * Our own server could not reach the remote (remote-server-not-found/-timeout by our host, or
 * without `by`): the answer of a remote that is down, which a probe waits to see change.
 */
export function remoteUnreachable(reply: PingReply, ctx: PingContext): boolean {
  if (reply.kind !== 'reply' || reply.iq.attrs.type !== 'error') return false;
  const { condition, by } = errorCondition(reply.iq);
  return LINK_ERRORS.has(condition) && (by === undefined || bare(by) === fold(ctx.host));
}

/**
 * A bad answer never reaches here (nor an error whyUnusable refuses): it is our failure, handled by
 * the round (re-check, never notify).
 */
export function classify(reply: Exclude<PingReply, { kind: 'bad-answer' }>, ctx: PingContext): Outcome {
  if (reply.kind === 'timeout') return 'indeterminate';
  if (reply.kind === 'no-session') return 'gone';
  // The server applied this very rule to the reply (outcome.lib.lua), and acted on it.
  if (reply.kind === 'notified') return 'not-joined';
  const { iq } = reply;
  if (iq.attrs.type === 'result') return 'joined';
  const { condition, by } = errorCondition(iq);
  if (JOINED_ERRORS.has(condition)) return 'joined';
  if (condition === 'item-not-found') {
    // Without `by` the origin is unknown (a reply's `from` is just where we sent the ping).
    if (by === undefined) return 'unconfirmed';
    return isRoom(by, ctx.room) ? 'nick-changed' : 'not-joined';
  }
  // Our own server could not reach the remote: that says nothing about the room.
  if (LINK_ERRORS.has(condition) && (by === undefined || bare(by) === fold(ctx.host))) return 'indeterminate';
  return 'not-joined';
}

/** The short wait before the one re-check of an `unconfirmed` join (confirm). */
export const CONFIRM_MS = 1_000;

/**
 * The outcome of an `unconfirmed` first reply, given the outcome of the one short re-check of the
 * same join (the same nick and since: the module answers no-session once its tracked nick or join
 * differs). Unconfirmed twice on the tracked nick is "not joined"; anything else is read as it is,
 * and an unconfirmed reply never re-checked stays unconfirmed.
 */
export function confirm(first: Outcome, second: Outcome): Outcome {
  if (first !== 'unconfirmed') return first;
  return second === 'unconfirmed' ? 'not-joined' : second;
}
