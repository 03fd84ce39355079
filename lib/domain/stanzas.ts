// Stanza builders (@xmpp/xml) and a guarded parser (ltx) for what the stanza API answers.
import { randomBytes } from 'node:crypto';
import { xml } from '@xmpp/xml';
import { parse, type Element } from 'ltx';

export const NS_PING = 'urn:xmpp:ping';
export const NS_MUC_USER = 'http://jabber.org/protocol/muc#user';
export const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
export const NS_API = 'urn:ping-muc:stanza-api:1';

export function stanzaId(): string {
  return `pm-${randomBytes(9).toString('base64url')}`;
}

/** XEP-0410 self-ping from the user's session to its own occupant JID. */
export function selfPing(user: string, occupant: string, id = stanzaId()): Element {
  return xml('iq', { type: 'get', id, from: user, to: occupant }, xml('ping', { xmlns: NS_PING }));
}

/** What mod_ping_muc sends a user who is no longer joined: 110 (self) + 333 (technical reasons). */
export function unavailable(occupant: string, user: string, reason: string, id = stanzaId()): Element {
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

export class XmlError extends Error {
  override name = 'XmlError';
}

/** Parses one element; refuses DOCTYPE, entities declarations, PIs, comments and oversize input. */
export function parseXml(text: string, maxBytes: number): Element {
  if (Buffer.byteLength(text, 'utf8') > maxBytes) throw new XmlError(`XML larger than ${maxBytes} bytes`);
  if (/<!|<\?/.test(text)) throw new XmlError('XML with DOCTYPE, comments, CDATA or processing instructions is refused');
  let el: Element;
  try {
    el = parse(text);
  } catch (err) {
    throw new XmlError(`malformed XML: ${(err as Error).message}`);
  }
  if (!el || typeof el.getName !== 'function') throw new XmlError('malformed XML');
  return el;
}
