// What the stanza API answered, checked (docs/stanza-api.md): a 200 answer read strictly, a
// batch item, a self-ping reply, a notification's. Pure: the client (./client.ts) does the HTTP.
import { TextDecoder } from 'node:util';
import type { Element } from '@xmpp/xml';
import type { PingReply } from '../../domain/model';
import { sameJid } from '../../domain/jid';
import { whyUnusable } from '../../domain/outcome';
import { API_VERSION, NS_API, NS_BATCH } from '../../domain/stanzas';
import { PingMucError, StanzaApiError } from '../../support/errors';
import { parseXml } from './xml';

/** Largest answer read (a whole answer before its per-item room). */
export const MAX_RESPONSE_BYTES = 64 * 1024;
/** The stanza namespace of the client-to-server stream (RFC 6120 §4.8.3), the only one an IQ reply may have. */
const NS_CLIENT = 'jabber:client';

/** What one item of a batch came back with. */
export type ItemAnswer =
  /** The answer element; `ns` is the namespace an unqualified element inherits there (the batch's). */
  { el: Element; ns?: string } | { refused: '503' | '403' | '400'; reason: string } | { bad: string };

/** An HTTP answer, read whole (up to MAX_RESPONSE_BYTES). */
export interface Answer {
  status: number;
  contentType: string;
  retryAfter?: string;
  body?: Buffer;
  /** Why the body could not be read, when it could not (oversize). */
  unreadable?: string;
}

/** The API refused this one request: its items' problem (a self-ping's bad answer), never the round's. */
export const REQUEST_STATUS = new Set([400, 403, 404, 413]);

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A 200 answer to one request that we cannot use: a bad answer for that request. */
export class Unusable extends PingMucError {
  override name = 'Unusable';
}

/**
 * The root element of a usable 200 answer. Throws StanzaApiError for the API's failure (5xx,
 * 401, 429, other statuses, a 400 `<unsupported-version/>`: not retried) and Unusable for a
 * bad answer to this one request.
 */
export function readAnswer(answer: Answer, maxBytes: number): Element {
  const { status } = answer;
  const excerpt = () => (answer.body ? answer.body.toString('utf8', 0, 200) : '');
  if (status === 400) {
    const supported = versionRefused(answer, maxBytes);
    if (supported !== undefined)
      throw new StanzaApiError(
        `the stanza API speaks version ${JSON.stringify(supported)}, ping-muc speaks version ${API_VERSION}: upgrade one of them`,
        { retry: false },
      );
  }
  if (REQUEST_STATUS.has(status)) throw new Unusable(`stanza API refused the request: ${status} ${excerpt()}`);
  if (status !== 200) throw new StanzaApiError(`stanza API answered ${status}: ${excerpt()}`);
  return readXml(answer, maxBytes);
}

/** The versions a 400 answer's `<unsupported-version/>` names, else undefined (any other 400). */
function versionRefused(answer: Answer, maxBytes: number): string | undefined {
  try {
    return unsupportedVersion(readXml(answer, maxBytes));
  } catch (err) {
    if (err instanceof Unusable) return undefined;
    throw err;
  }
}

/**
 * The versions a server names in `<unsupported-version xmlns="urn:ping-muc:stanza-api:2"
 * supported="…"/>` (its answer to a request of a version it does not speak), else undefined.
 */
export function unsupportedVersion(root: Element): string | undefined {
  if (root.getName() !== 'unsupported-version' || root.getNS() !== NS_BATCH) return undefined;
  const supported = root.attrs.supported;
  return typeof supported === 'string' ? supported.slice(0, 40) : '';
}

/** The body's one element: application/xml, UTF-8, strict XML; else Unusable. */
function readXml(answer: Answer, maxBytes: number): Element {
  if (answer.unreadable || !answer.body) throw new Unusable(answer.unreadable ?? 'no body');
  // application/xml, UTF-8 (the only charset we read; RFC 7303 §3.2 lets the XML itself say more).
  const [type, ...params] = answer.contentType
    .toLowerCase()
    .split(';')
    .map((p) => p.trim());
  if (type !== 'application/xml')
    throw new Unusable(`content type "${answer.contentType.slice(0, 100)}", not application/xml`);
  const charset = params
    .find((p) => p.startsWith('charset='))
    ?.slice(8)
    .replace(/"/g, '');
  if (charset !== undefined && charset !== 'utf-8') throw new Unusable(`charset ${charset.slice(0, 40)}, not utf-8`);
  let text: string;
  try {
    text = utf8.decode(answer.body);
  } catch {
    throw new Unusable('answer is not valid UTF-8');
  }
  try {
    return parseXml(text, maxBytes);
  } catch (err) {
    throw new Unusable(`bad XML: ${(err as Error).message}`, { cause: err });
  }
}

/** Only whitespace beside the elements of `el`. */
const onlyElements = (el: Element): boolean =>
  el.children.every((c) => typeof c !== 'string' || /^[ \t\r\n]*$/.test(c));

/** Attributes other than namespace declarations. */
const plainAttrs = (el: Element): string[] =>
  Object.keys(el.attrs).filter((a) => a !== 'xmlns' && !a.startsWith('xmlns:'));

/**
 * The answer element of each request id of an answer, in the order of `ids`, or why there is
 * none: no item, several items, or an item that does not hold exactly one element. Items of ids
 * that were not asked are ignored. Throws Unusable when the root is not a `<batch>` of this
 * version: the whole answer is unusable.
 */
export function batchItems(root: Element, ids: readonly string[]): Array<Element | string> {
  if (root.getName() !== 'batch' || root.getNS() !== NS_BATCH)
    throw new Unusable(`<${root.name.slice(0, 40)}> is not a <batch xmlns="${NS_BATCH}">`);
  const version = root.attrs.version;
  if (version !== API_VERSION)
    throw new Unusable(
      version === undefined
        ? `<batch> without a version (ping-muc speaks ${API_VERSION})`
        : `<batch> of version ${JSON.stringify(String(version).slice(0, 20))}, not ${API_VERSION}`,
    );
  if (plainAttrs(root).some((a) => a !== 'version')) throw new Unusable('<batch> with other attributes than version');
  if (!onlyElements(root)) throw new Unusable('text in <batch>');
  const found = new Map<string, Element[]>();
  for (const item of root.getChildElements()) {
    if (item.getName() !== 'item' || item.getNS() !== NS_BATCH)
      throw new Unusable(`<${item.name.slice(0, 40)}> in <batch>, not an <item>`);
    const id = item.attrs.id;
    if (typeof id !== 'string') throw new Unusable('<item> without an id');
    found.set(id, [...(found.get(id) ?? []), item]);
  }
  return ids.map((id) => {
    const items = found.get(id) ?? [];
    if (items.length === 0) return 'no item for this request';
    if (items.length > 1) return `${items.length} items for this request`;
    const item = items[0] as Element;
    if (plainAttrs(item).some((a) => a !== 'id')) return '<item> with other attributes than id';
    const answers = item.getChildElements();
    if (answers.length !== 1 || !onlyElements(item)) return '<item> without exactly one element';
    return answers[0] as Element;
  });
}

/** An item's answer: a per-item refusal, else the answer element. */
export function readItem(el: Element): ItemAnswer {
  if (el.getName() !== 'refused' || el.getNS() !== NS_BATCH) return { el, ns: NS_BATCH };
  const { code, reason } = el.attrs as Record<string, string | undefined>;
  const known = Object.keys(el.attrs).every((a) => a === 'xmlns' || a === 'code' || a === 'reason');
  if (!known || el.getChildElements().length > 0 || (code !== '503' && code !== '403' && code !== '400'))
    return { bad: 'malformed <refused/>' };
  return { refused: code, reason: String(reason ?? '').slice(0, 200) };
}

/** A self-ping's reply from its item; never a reply but from a usable, matching answer. */
export function pingReply(a: ItemAnswer, iq: Element): PingReply {
  if ('bad' in a) return { kind: 'bad-answer', reason: a.bad };
  if ('refused' in a) return { kind: 'bad-answer', reason: `refused ${a.refused}: ${a.reason}` };
  try {
    return readPingAnswer(a.el, iq, a.ns);
  } catch (err) {
    if (err instanceof Unusable) return { kind: 'bad-answer', reason: err.message };
    throw err;
  }
}

/** A heal's reply from its item: `<sent/>` when the server notified the user itself, else a self-ping's. */
export function healReply(a: ItemAnswer, iq: Element): PingReply {
  if ('el' in a && isApiSignal(a.el, 'sent')) return { kind: 'notified' };
  return pingReply(a, iq);
}

/** A 403 or 400 refusal would be given again at once; a 503 (busy, refused twice) may pass later. */
const refusal = (code: string) => (code === '503' ? {} : { retry: false });

/**
 * A notification's outcome from its item: `<sent/>` or `<no-session/>`. Anything else is the
 * API's failure (StanzaApiError), never "sent"; a 403 or 400 refusal is not retried in place.
 */
export function notifyReply(a: ItemAnswer): 'sent' | 'no-session' {
  if ('el' in a && isApiSignal(a.el, 'sent')) return 'sent';
  if ('el' in a && isApiSignal(a.el, 'no-session')) return 'no-session';
  if ('refused' in a)
    throw new StanzaApiError(`stanza API refused a notification (${a.refused}): ${a.reason}`, refusal(a.refused));
  const why = 'bad' in a ? a.bad : `<${a.el.name.slice(0, 40)}> is no answer to a notification`;
  throw new StanzaApiError(`stanza API answered a notification badly: ${why}`);
}

/** A server ping's item: `<sent/>`, else the API's failure. */
export function serverPingReply(a: ItemAnswer): void {
  if ('el' in a && isApiSignal(a.el, 'sent')) return;
  if ('refused' in a)
    throw new StanzaApiError(`stanza API refused a server ping (${a.refused}): ${a.reason}`, refusal(a.refused));
  const why = 'bad' in a ? a.bad : `<${a.el.name.slice(0, 40)}> is no answer to a server ping`;
  throw new StanzaApiError(`stanza API answered a server ping badly: ${why}`);
}

/** `<name xmlns="urn:ping-muc:stanza-api:1"/>` and nothing else: no other attribute, no content. */
export function isApiSignal(el: Element, name: string): boolean {
  return (
    el.name === name &&
    el.getNS() === NS_API &&
    Object.keys(el.attrs).every((a) => a === 'xmlns') &&
    el.children.every((c) => typeof c === 'string' && c.trim() === '')
  );
}

/** What a usable self-ping answer says, or Unusable: the IQ reply must answer our IQ (docs/stanza-api.md). */
export function readPingAnswer(answer: Element, iq: Element, inherited?: string): PingReply {
  if (isApiSignal(answer, 'timeout')) return { kind: 'timeout' };
  if (isApiSignal(answer, 'no-session')) return { kind: 'no-session' };
  const { type, id, from, to } = answer.attrs as Record<string, string | undefined>;
  const ns = answer.getNS();
  // Written without a namespace, as a stanza often is: in a batch item it inherits the batch's
  // namespace, yet it is the same jabber:client stanza.
  const unqualified = answer.name === 'iq' && answer.attrs.xmlns === undefined && ns === inherited;
  if (answer.getName() !== 'iq' || (ns !== undefined && ns !== NS_CLIENT && !unqualified)) {
    throw new Unusable(
      `unexpected <${answer.name.slice(0, 40)}${ns ? ` xmlns="${ns.slice(0, 60)}"` : ''}> to a self-ping`,
    );
  }
  if (type !== 'result' && type !== 'error') throw new Unusable(`IQ of type ${JSON.stringify(type ?? null)}`);
  // RFC 6120 §8.2.3: the reply carries the request's id; it comes from where the ping went, to
  // the session that sent it (the module relays the reply it received, `from`/`to` as sent).
  if (id !== iq.attrs.id) throw new Unusable('IQ reply with another id');
  if (!from || !sameJid(from, String(iq.attrs.to)))
    throw new Unusable('IQ reply from another JID than the occupant pinged');
  if (!to || !sameJid(to, String(iq.attrs.from))) throw new Unusable('IQ reply to another JID than the session');
  if (type === 'error') {
    const why = whyUnusable(answer);
    if (why) throw new Unusable(why);
  }
  return { kind: 'reply', iq: answer };
}

/** retry-after (RFC 9110 §10.2.3): delay-seconds or an HTTP-date; ms from now, undefined if absent or unparsable. */
export function retryAfterMs(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
