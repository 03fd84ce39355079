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
  ])('refuses %s', (_name, raw) => {
    expect(() => parseJid(raw)).toThrow(JidError);
  });

  it('full and bare JIDs', () => {
    expect(() => parseFullJid('a@a.example')).toThrow(/full JID/);
    expect(() => parseFullJid('a.example/r')).toThrow(/full JID/);
    expect(() => parseBareJid('r@muc.example/nick')).toThrow(/bare JID/);
    expect(formatJid(parseBareJid('R@Muc.Example'))).toBe('r@muc.example');
  });
});
