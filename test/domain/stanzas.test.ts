import { describe, expect, it } from 'vitest';
import {
  batchItems,
  batchOf,
  heal,
  notifyItem,
  parseXml,
  selfPing,
  serverPing,
  stanzaId,
  unavailable,
  XmlError,
} from '../../lib/domain/stanzas';
import { unsupportedVersion } from '../../lib/adapters/stanza-api/answers';

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

  it('reads the items of an answer of version 3 only', () => {
    const answer = (attrs: string, items = '<item id="a"><x/></item>') =>
      parseXml(`<batch xmlns="${NS}"${attrs}>${items}</batch>`, 4096);
    expect(batchItems(answer(' version="3"'), ['a', 'b']).map((i) => (typeof i === 'string' ? i : i.name))).toEqual([
      'x',
      'no item for this request',
    ]);
    for (const attrs of [
      '',
      ' version="2"',
      ' version="4"',
      ' version=""',
      ' version="3" extra="1"',
      ' xmlns:v="urn:v" v:version="3"',
    ]) {
      expect(() => batchItems(answer(attrs), ['a']), attrs).toThrow(XmlError);
    }
  });

  it('reads the versions of an <unsupported-version/>', () => {
    expect(unsupportedVersion(parseXml(`<unsupported-version xmlns="${NS}" supported="3"/>`, 1024))).toBe('3');
    expect(unsupportedVersion(parseXml(`<unsupported-version xmlns="${NS}"/>`, 1024))).toBe('');
    expect(unsupportedVersion(parseXml('<unsupported-version/>', 1024))).toBeUndefined();
    expect(unsupportedVersion(parseXml(`<batch xmlns="${NS}" version="3"/>`, 1024))).toBeUndefined();
  });

  it('gives every stanza a fresh id', () => {
    expect(selfPing('a@a/b', 'r@m/n').attrs.id).not.toBe(selfPing('a@a/b', 'r@m/n').attrs.id);
  });

  it.each([
    ['DOCTYPE', '<!DOCTYPE x [<!ENTITY e "boom">]><iq>&e;</iq>'],
    ['entity expansion', '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><x>&lol2;</x>'],
    ['processing instruction', '<?xml-stylesheet href="x"?><iq/>'],
    ['comment', '<iq><!-- hi --></iq>'],
    ['malformed', '<iq><ping></iq>'],
    ['oversize', `<iq>${'x'.repeat(2000)}</iq>`],
    // What ltx 3.1.2 accepts silently (it keeps one of the two, or drops the rest):
    ['a duplicate attribute', '<iq type="result" type="error" id="1"/>'],
    ['a duplicate attribute by expanded name', '<iq xmlns:a="urn:x" xmlns:b="urn:x" a:t="1" b:t="2"/>'],
    ['two root elements', '<iq type="result" id="1"/><iq type="error" id="1"/>'],
    ['<no-session/> followed by more content', '<no-session xmlns="urn:ping-muc:stanza-api:1"/><iq type="result"/>'],
    ['a trailing NUL', '<iq type="result" id="1"/>\u0000'],
    ['text after the root', '<iq type="result" id="1"/>junk'],
    ['text before the root', 'junk<iq type="result" id="1"/>'],
    ['an end tag that does not match', '<iq><a></b></iq>'],
    ['an extra end tag', '<iq/></iq>'],
    ['an undeclared prefix', '<x:iq type="result"/>'],
    ['CDATA', '<iq><![CDATA[x]]></iq>'],
    ['an unknown entity', '<iq>&nbsp;</iq>'],
    ['a bare "&"', '<iq>a & b</iq>'],
    ['a reference to a NUL', '<iq>&#0;</iq>'],
    ['a reference to U+FFFE', '<iq id="&#xFFFE;"/>'],
    ['a control character', '<iq>\u0001</iq>'],
    ['U+FFFF', '<iq>\uffff</iq>'],
    ['a lone surrogate', '<iq id="\ud800"/>'],
    ['"<" in an attribute value', '<iq a="<"/>'],
    ['attributes without whitespace between', '<iq a="1"b="2"/>'],
    ['an unquoted attribute', '<iq a=1/>'],
    ['xmlns=""', '<iq><error xmlns=""/></iq>'],
    ['"]]>" in text', '<iq>]]></iq>'],
    ['deep nesting', `${'<a>'.repeat(70)}${'</a>'.repeat(70)}`],
    ['an unclosed element', '<iq type="result">'],
    ['nothing', ''],
  ])('refuses %s', (_name, text) => {
    expect(() => parseXml(text, 1024)).toThrow(XmlError);
  });

  it('parses a plain stanza', () => {
    expect(parseXml('<iq type="result" id="1"/>', 1024).attrs.type).toBe('result');
  });

  it('parses references, namespaces, text and surrounding whitespace', () => {
    const el = parseXml(
      '\n<iq type="error" id="a&amp;b" from=\'r@m/n&#x41;&#66;\'><error type="cancel" by="r@m"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>' +
        '<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas" xml:lang="en">x &lt; y &gt; &quot;z&apos;</text></error></iq>\n',
      4096,
    );
    expect(el.attrs).toEqual({ type: 'error', id: 'a&b', from: 'r@m/nAB' });
    const error = el.getChild('error')!;
    expect(error.getChildElements().map((c) => [c.getName(), c.getNS()])).toEqual([
      ['item-not-found', 'urn:ietf:params:xml:ns:xmpp-stanzas'],
      ['text', 'urn:ietf:params:xml:ns:xmpp-stanzas'],
    ]);
    expect(error.getChildText('text')).toBe('x < y > "z\'');
    expect(parseXml('<x:iq xmlns:x="jabber:client" type="result"/>', 1024).getNS()).toBe('jabber:client');
  });
});
