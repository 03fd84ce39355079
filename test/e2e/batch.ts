// The stanza API on the wire (docs/stanza-api.md), for the e2e tests that call it themselves:
// the items a test sends in a `<batch version="3">`, and the answers it reads.
import { type Element, parse } from 'ltx';
import { expect } from 'vitest';

export const NS_API = 'urn:ping-muc:stanza-api:1';
export const NS_BATCH = 'urn:ping-muc:stanza-api:2';
export const NS_MUC_USER = 'http://jabber.org/protocol/muc#user';
/** The protocol version every request and answer names. */
export const VERSION = '3';

/** A self-ping iq (`extra` goes inside the iq, after the ping). */
export const ping = (id: string, from: string, to: string, type = 'get', extra = '') =>
  `<iq type="${type}" id="${id}" from="${from}" to="${to}"><ping xmlns="urn:xmpp:ping"/>${extra}</iq>`;

/** The muc#user payload of a notification: item none/none, status 110 and 333. */
export const NOTIFICATION_X = '<item affiliation="none" role="none"/><status code="110"/><status code="333"/>';

/** The unavailable presence a `<notify>` carries, from room/nick to the session (`x`: the muc#user children). */
export const unavailable = (from: string, to: string, id = 'n-1', x = NOTIFICATION_X) =>
  `<presence type="unavailable" id="${id}" from="${from}" to="${to}"><x xmlns="${NS_MUC_USER}">${x}</x></presence>`;

/** A heal: the self-ping `inner` of the join `since`, acted on by the server. */
export const heal = (id: string, since: number | string, inner: string) =>
  `<heal xmlns="${NS_BATCH}" id="${id}" since="${since}">${inner}</heal>`;

/** The round's own notification `inner` (an unavailable presence) for the join `since`. */
export const notify = (id: string, since: number | string, inner: string) =>
  `<notify xmlns="${NS_BATCH}" id="${id}" since="${since}">${inner}</notify>`;

export const serverPing = (id: string, to: string, extra = '') =>
  `<server-ping xmlns="${NS_BATCH}" id="${id}" to="${to}"${extra}/>`;

/** A request body: `<batch version="3">` around the items. */
export const batch = (items: string[]) => `<batch xmlns="${NS_BATCH}" version="${VERSION}">${items.join('')}</batch>`;

/** The 400 answer to a body that is not a `<batch version="3">`: [status, root name, attributes]. */
export function expectUnsupported(res: { status: number; body: string }): void {
  expect(res.status, res.body).toBe(400);
  const root = parse(res.body);
  expect([root.name, root.attrs]).toEqual(['unsupported-version', { xmlns: NS_BATCH, supported: VERSION }]);
}

/** The items of a batch answer (which names version 3): id and its one answer element. */
export function items(body: string): Array<{ id: string; el: Element }> {
  const root = parse(body);
  expect(root.name).toBe('batch');
  expect(root.attrs.xmlns).toBe(NS_BATCH);
  expect(root.attrs.version).toBe(VERSION);
  return root.getChildElements().map((item) => {
    expect(item.name).toBe('item');
    expect(item.getChildElements()).toHaveLength(1);
    return { id: String(item.attrs.id), el: item.getChildElements()[0]! };
  });
}

/** A short text per answer: `iq result`, `timeout`, `sent`, `no-session`, `refused 403`… */
export function kind(el: Element): string {
  if (el.name === 'iq') return `iq ${el.attrs.type}`;
  if (el.name === 'refused') {
    expect(el.attrs.xmlns).toBe(NS_BATCH);
    expect(el.attrs.reason).toBeTruthy();
    return `refused ${el.attrs.code}`;
  }
  expect(el.attrs.xmlns).toBe(NS_API);
  return el.name;
}

/** Every answer of a batch as [id, kind]. */
export const kinds = (body: string) => items(body).map((i) => [i.id, kind(i.el)]);

/** The one answer of a one-item batch, as `kind` names it. */
export function only(res: { status: number; body: string }): string {
  expect(res.status, res.body).toBe(200);
  const got = items(res.body);
  expect(got).toHaveLength(1);
  return kind(got[0]!.el);
}
