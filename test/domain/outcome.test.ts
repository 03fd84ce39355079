import { parse } from 'ltx';
import { describe, expect, it } from 'vitest';
import { classify, confirm, type Outcome, whyUnusable } from '../../lib/domain/outcome';
import { ctx, malformed, table, user } from '../support/xep0410-replies';

describe('classify', () => {
  it.each(table)('%s', (_name, reply, outcome) => {
    expect(classify(reply, ctx)).toBe(outcome);
  });

  // Prosody's jid.prep folds ß to ss, so the module reads these as the room and our host: a
  // reading of its own would make the round notify a user the module kept (a false kick).
  const errorBy = (condition: string, by: string, room: string) =>
    parse(
      `<iq type="error" id="x" from="${room}/Alice" to="${user}"><error type="cancel" by="${by}"><${condition} xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`,
    );
  it('item-not-found by the room in another full case folding (STRASSE for straße): nick changed', () => {
    const room = 'straße@muc.b.example';
    const reply = { kind: 'reply' as const, iq: errorBy('item-not-found', 'STRASSE@muc.b.example', room) };
    expect(classify(reply, { host: ctx.host, room })).toBe('nick-changed');
  });
  it('remote-server-timeout by our IDN host in non-ASCII upper case: indeterminate', () => {
    const reply = { kind: 'reply' as const, iq: errorBy('remote-server-timeout', 'BÜCHER.example', ctx.room) };
    expect(classify(reply, { host: 'bücher.example', room: ctx.room })).toBe('indeterminate');
  });
});

// ejabberd answers item-not-found without `by` both for a lost room and for an old nick: one
// short re-check of the same join (the module answers no-session once it tracks another nick).
describe('confirm (one short re-check of an unconfirmed join)', () => {
  const cases: Array<[Outcome, Outcome, Outcome]> = [
    ['unconfirmed', 'unconfirmed', 'not-joined'],
    ['unconfirmed', 'gone', 'gone'],
    ['unconfirmed', 'joined', 'joined'],
    ['unconfirmed', 'nick-changed', 'nick-changed'],
    ['unconfirmed', 'indeterminate', 'indeterminate'],
    ['unconfirmed', 'not-joined', 'not-joined'],
    ['joined', 'unconfirmed', 'joined'],
  ];
  it.each(cases)('%s then %s: %s', (first, second, outcome) => {
    expect(confirm(first, second)).toBe(outcome);
  });
});

// The same vectors hold the module's reader (test/prosody/outcome.test.ts): a malformed error is
// never an outcome, so that no heal acts on it.
describe('whyUnusable', () => {
  it.each(malformed)('refuses %s', (_name, xml) => {
    expect(whyUnusable(parse(xml))).toEqual(expect.any(String));
  });
  const errors = table.flatMap(([name, reply]) =>
    reply.kind === 'reply' && reply.iq.attrs.type === 'error' ? [[name, reply.iq] as const] : [],
  );
  it.each(errors)('accepts %s', (_name, iq) => {
    expect(whyUnusable(iq)).toBeUndefined();
  });
});
