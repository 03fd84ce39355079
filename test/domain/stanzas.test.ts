import { describe, expect, it } from 'vitest';
import { parseXml, selfPing, unavailable, XmlError } from '../../lib/domain/stanzas';

describe('stanzas', () => {
  it('builds the exact unavailable notification', () => {
    const el = unavailable('lobby@muc.b.example/Alice', 'alice@a.example/phone', 'Connection to remote server lost', 'n1');
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
  ])('refuses %s', (_name, text) => {
    expect(() => parseXml(text, 1024)).toThrow(XmlError);
  });

  it('parses a plain stanza', () => {
    expect(parseXml('<iq type="result" id="1"/>', 1024).attrs.type).toBe('result');
  });
});
