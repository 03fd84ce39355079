import { describe, expect, it } from 'vitest';
import { batchOf, heal, notifyItem, selfPing, serverPing, stanzaId, unavailable } from '../../lib/domain/stanzas';

const NS = 'urn:ping-muc:stanza-api:2';

describe('stanzas', () => {
  it('gives random ids of 72 bits, none twice, across refills of its pool', () => {
    const ids = Array.from({ length: 5_000 }, () => stanzaId());
    for (const id of ids) expect(id).toMatch(/^pm-[A-Za-z0-9_-]{12}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('builds the exact unavailable notification', () => {
    const el = unavailable(
      'lobby@muc.b.example/Alice',
      'alice@a.example/phone',
      'Connection to remote server lost',
      'n1',
    );
    expect(el.toString()).toBe(
      '<presence type="unavailable" id="n1" from="lobby@muc.b.example/Alice" to="alice@a.example/phone">' +
        '<x xmlns="http://jabber.org/protocol/muc#user">' +
        '<item affiliation="none" role="none"><reason>Connection to remote server lost</reason></item>' +
        '<status code="110"/><status code="333"/></x></presence>',
    );
  });

  it('escapes the reason and JIDs', () => {
    const el = unavailable('r@muc.b.example/<&>', 'a@a.example/x', 'a < b & "c"', 'n2');
    expect(el.toString()).toContain('from="r@muc.b.example/&lt;&amp;&gt;"');
    expect(el.toString()).toContain('<reason>a &lt; b &amp; "c"</reason>');
  });

  it('builds the XEP-0410 self-ping', () => {
    expect(selfPing('alice@a.example/phone', 'lobby@muc.b.example/Alice', 'p1').toString()).toBe(
      '<iq type="get" id="p1" from="alice@a.example/phone" to="lobby@muc.b.example/Alice"><ping xmlns="urn:xmpp:ping"/></iq>',
    );
  });

  it('writes the fixed reason when none is given: the server writes its own', () => {
    expect(unavailable('r@m/n', 'a@a/b', undefined, 'n3').toString()).toContain(
      '<reason>Connection to remote server lost</reason>',
    );
  });

  it('builds the items of a request, each in a <batch> of version 3', () => {
    const iq = selfPing('alice@a.example/phone', 'lobby@muc.b.example/Alice', 'p1');
    const note = unavailable('lobby@muc.b.example/Bob', 'bob@a.example/pc', undefined, 'p2');
    expect(
      batchOf([
        iq,
        heal(selfPing('a@a/b', 'r@m/n', 'p3'), 1733580000000000),
        notifyItem(note, 0),
        serverPing('muc.b.example', 'p4'),
      ]),
    ).toBe(
      `<batch xmlns="${NS}" version="3">${iq}` +
        `<heal xmlns="${NS}" id="p3" since="1733580000000000"><iq type="get" id="p3" from="a@a/b" to="r@m/n"><ping xmlns="urn:xmpp:ping"/></iq></heal>` +
        `<notify xmlns="${NS}" id="p2" since="0">${note}</notify>` +
        `<server-ping xmlns="${NS}" id="p4" to="muc.b.example"/></batch>`,
    );
    for (const since of [-1, 1.5, Number.NaN, 2 ** 53]) {
      expect(() => heal(iq, since)).toThrow(RangeError);
      expect(() => notifyItem(note, since)).toThrow(RangeError);
    }
  });

  it('gives every stanza a fresh id', () => {
    expect(selfPing('a@a/b', 'r@m/n').attrs.id).not.toBe(selfPing('a@a/b', 'r@m/n').attrs.id);
  });
});
