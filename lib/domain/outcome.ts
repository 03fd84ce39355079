// XEP-0410 self-ping outcomes, classified in this one place.
import type { Element } from 'ltx';
import type { PingReply } from './model';
import { NS_STANZAS } from './stanzas';

export type Outcome =
  /** Joined: keep the join. */
  | 'joined'
  /** item-not-found from the room itself: the occupant changed nick, still joined. */
  | 'nick-changed'
  /** Any other error: the room no longer has the user. Notify and delete. */
  | 'not-joined'
  /** Says nothing about the room (timeout, our own server's s2s error). Re-check later. */
  | 'indeterminate'
  /** The user's session is gone from the server: delete the join quietly. */
  | 'gone';

const JOINED_ERRORS = new Set(['service-unavailable', 'feature-not-implemented']);
const LINK_ERRORS = new Set(['remote-server-not-found', 'remote-server-timeout']);

export interface PingContext {
  /** The user's server (our own side of the link). */
  host: string;
  /** Room bare JID. */
  room: string;
}

export function errorCondition(iq: Element): { condition: string; by?: string } {
  const error = iq.getChild('error');
  const condition = error?.getChildElements().find((c) => c.getNS() === NS_STANZAS)?.getName() ?? 'undefined-condition';
  return { condition, by: error?.attrs.by };
}

function bare(jid: string | undefined): string | undefined {
  return jid?.split('/')[0]?.toLowerCase();
}

/** The room's bare JID itself, not an occupant JID (room/nick). */
function isRoom(jid: string | undefined, room: string): boolean {
  return jid !== undefined && !jid.includes('/') && jid.toLowerCase() === room;
}

export function classify(reply: PingReply, ctx: PingContext): Outcome {
  if (reply.kind === 'timeout') return 'indeterminate';
  if (reply.kind === 'no-session') return 'gone';
  const { iq } = reply;
  if (iq.attrs.type === 'result') return 'joined';
  const { condition, by } = errorCondition(iq);
  if (JOINED_ERRORS.has(condition)) return 'joined';
  if (condition === 'item-not-found') {
    return isRoom(by ?? iq.attrs.from, ctx.room) ? 'nick-changed' : 'not-joined';
  }
  // Our own server could not reach the remote: that says nothing about the room.
  if (LINK_ERRORS.has(condition) && (by === undefined || bare(by) === ctx.host)) return 'indeterminate';
  return 'not-joined';
}
