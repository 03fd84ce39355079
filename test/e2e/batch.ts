// Stanza API version 2 on the wire, for the e2e tests of its batches, heals and server pings:
// the items a test sends, and the answers it reads (docs/stanza-api.md).
import { type Element, parse } from 'ltx';
import { expect } from 'vitest';

export const NS_API = 'urn:ping-muc:stanza-api:1';
export const NS_BATCH = 'urn:ping-muc:stanza-api:2';

export const ping = (id: string, from: string, to: string, type = 'get') =>
  `<iq type="${type}" id="${id}" from="${from}" to="${to}"><ping xmlns="urn:xmpp:ping"/></iq>`;
export const heal = (id: string, inner: string) => `<heal xmlns="${NS_BATCH}" id="${id}">${inner}</heal>`;
export const serverPing = (id: string, to: string, extra = '') =>
  `<server-ping xmlns="${NS_BATCH}" id="${id}" to="${to}"${extra}/>`;
export const batch = (items: string[]) => `<batch xmlns="${NS_BATCH}">${items.join('')}</batch>`;

/** The items of a batch answer: id and its one answer element. */
export function items(body: string): Array<{ id: string; el: Element }> {
  const root = parse(body);
  expect(root.name).toBe('batch');
  expect(root.attrs.xmlns).toBe(NS_BATCH);
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
