import { describe, expect, it } from 'vitest';
import { parseXml, XmlError } from '../../../lib/adapters/stanza-api/xml';

describe('parseXml', () => {
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

  it('parses references in namespaced elements with text amid whitespace', () => {
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
