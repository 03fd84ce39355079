// Stanza builders (@xmpp/xml): the self-ping, the notification, and the stanza API items that carry them.
import { randomBytes } from 'node:crypto';
import { type Element, xml } from '@xmpp/xml';

export const NS_PING = 'urn:xmpp:ping';
export const NS_MUC_USER = 'http://jabber.org/protocol/muc#user';
export const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
/** The stanza API's signals: `<timeout/>`, `<no-session/>`, `<sent/>` (docs/stanza-api.md). */
export const NS_API = 'urn:ping-muc:stanza-api:1';
/** The stanza API's requests and answers: `<batch>`, its items, `<refused/>`, `<unsupported-version/>`. */
export const NS_BATCH = 'urn:ping-muc:stanza-api:2';
/** The protocol version every request and answer names on its `<batch>`. */
export const API_VERSION = '3';
/** The notification's `<reason>`: the server writes its own, so this text is only a placeholder. */
export const NOTIFY_REASON = 'Connection to remote server lost';

/** Ids are cut from a pool of random bytes: one call to the system's generator per id costs 8 % of a round's CPU. */
const ID_BYTES = 9;
const POOL_IDS = 512;
let pool = Buffer.alloc(0);
let used = 0;

/** A random stanza id (72 bits): no other request's id, nor one a remote could guess. */
export function stanzaId(): string {
  if (used + ID_BYTES > pool.length) {
    pool = randomBytes(ID_BYTES * POOL_IDS);
    used = 0;
  }
  used += ID_BYTES;
  return `pm-${pool.toString('base64url', used - ID_BYTES, used)}`;
}

/** XEP-0410 self-ping from the user's session to its own occupant JID. */
export function selfPing(user: string, occupant: string, id = stanzaId()): Element {
  return xml('iq', { type: 'get', id, from: user, to: occupant }, xml('ping', { xmlns: NS_PING }));
}

/** `since` as the API writes it: a decimal integer (the join's identity, µs). */
function sinceAttr(since: number): string {
  if (!Number.isSafeInteger(since) || since < 0)
    throw new RangeError(`join identity ${since} is not a non-negative integer`);
  return String(since);
}

/**
 * A heal (docs/stanza-api.md): a self-ping the server acts on itself when its reply says the
 * room no longer has the user, for the join `since` only. It carries the self-ping's id.
 */
export function heal(ping: Element, since: number): Element {
  return xml('heal', { xmlns: NS_BATCH, id: ping.attrs.id, since: sinceAttr(since) }, ping);
}

/** A notification item: the unavailable presence, delivered only to the join `since`. It carries the presence's id. */
export function notifyItem(presence: Element, since: number): Element {
  return xml('notify', { xmlns: NS_BATCH, id: presence.attrs.id, since: sinceAttr(since) }, presence);
}

/**
 * A server ping (docs/stanza-api.md): the user's server pings the remote domain (XEP-0199
 * §4.2), which brings their s2s link up. It names no user.
 */
export function serverPing(remote: string, id = stanzaId()): Element {
  return xml('server-ping', { xmlns: NS_BATCH, id, to: remote });
}

/** What mod_ping_muc sends a user who is no longer joined: 110 (self) + 333 (technical reasons). */
export function unavailable(occupant: string, user: string, reason = NOTIFY_REASON, id = stanzaId()): Element {
  return xml(
    'presence',
    { type: 'unavailable', id, from: occupant, to: user },
    xml(
      'x',
      { xmlns: NS_MUC_USER },
      xml('item', { affiliation: 'none', role: 'none' }, xml('reason', {}, reason)),
      xml('status', { code: '110' }),
      xml('status', { code: '333' }),
    ),
  );
}

/**
 * A request body: `<batch xmlns="urn:ping-muc:stanza-api:2" version="3">` around the items,
 * whose ids are unique. Serialized, not built: the items stay unchanged (no new parent).
 */
export function batchOf(items: Element[]): string {
  return `<batch xmlns="${NS_BATCH}" version="${API_VERSION}">${items.map((s) => s.toString()).join('')}</batch>`;
}
