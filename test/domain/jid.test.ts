import { describe, expect, it } from 'vitest';
import { formatJid, JidError, parseBareJid, parseFullJid, parseJid } from '../../lib/domain/jid';

describe('JID normalization', () => {
  it.each([
    ['Alice@A.Example/Phone', 'alice@a.example/Phone'],
    ['alice@a.example./res', 'alice@a.example/res'],
    ['ALICE@a.example/Res/With/Slashes', 'alice@a.example/Res/With/Slashes'],
    ['Lobby@MUC.B.Example', 'lobby@muc.b.example'],
    ['muc.b.example', 'muc.b.example'],
    ['Ünïcode@Exämple.org/Résumé', 'ünïcode@exämple.org/Résumé'],
    ['a@[::1]/r', 'a@[::1]/r'],
    // IDN domains whose script needs combining marks (Devanagari vowel signs are Mc/Mn).
    ['chat@संगणक.भारत', 'chat@संगणक.भारत'],
    ['Chat@संगणक.भारत/नाम', 'chat@संगणक.भारत/नाम'],
    // Prosody accepts labels with '_' (and starting with it).
    ['room@_muc.example', 'room@_muc.example'],
    ['room@muc_1.example', 'room@muc_1.example'],
  ])('%s → %s', (raw, normalized) => {
    expect(formatJid(parseJid(raw))).toBe(normalized);
  });

  it.each([
    ['empty', ''],
    ['empty localpart', '@a.example'],
    ['empty resource', 'a@a.example/'],
    ['bad localpart char', 'a"b@a.example'],
    ['space in localpart', 'a b@a.example'],
    ['bad domain', 'a@exa mple'],
    ['empty domain label', 'a@a..example'],
    ['control char', 'a@a.example/\u0001'],
    ['long localpart', `${'x'.repeat(1024)}@a.example`],
    ['NUL in the resource', 'a@a.example/x\u0000'],
    ['U+001F in the localpart', 'a\u001fb@a.example'],
    ['U+FFFE in the resource', 'a@a.example/\ufffe'],
    ['U+FFFF in the domain', 'a@a\uffff.example'],
    ['a lone high surrogate', 'a@a.example/\ud800'],
    ['a lone low surrogate', 'a\udc00@a.example'],
    ['a C1 control', 'a@a.example/\u0085'],
    // RFC 7622: 1023 octets of UTF-8, not UTF-16 units.
    ['a resource of 1025 UTF-8 bytes in 513 UTF-16 units', `a@a.example/a${'é'.repeat(512)}`],
    ['a localpart of 1024 UTF-8 bytes', `${'é'.repeat(512)}@a.example`],
    ['a domain over 1023 bytes', `a@${'é'.repeat(600)}.example`],
    ['a space in an IDN label', 'a@संगणक भारत'],
    ['an ideographic full stop', 'a@b\u3002example'],
    ['a lone dot', 'a@.'],
  ])('refuses %s', (_name, raw) => {
    expect(() => parseJid(raw)).toThrow(JidError);
  });

  it('tells full JIDs from bare ones', () => {
    expect(() => parseFullJid('a@a.example')).toThrow(/full JID/);
    expect(() => parseFullJid('a.example/r')).toThrow(/full JID/);
    expect(() => parseBareJid('r@muc.example/nick')).toThrow(/bare JID/);
    expect(formatJid(parseBareJid('R@Muc.Example'))).toBe('r@muc.example');
  });
});
