import { parse } from 'ltx';
import { describe, expect, it } from 'vitest';
import { readPingAnswer, Unusable } from '../../lib/adapters/stanza-api-answers';
import { classify } from '../../lib/domain/outcome';
import { selfPing } from '../../lib/domain/stanzas';
import { ctx, malformed, occupant, table, user } from '../support/xep0410-replies';

describe('classify', () => {
  it.each(table)('%s', (_name, reply, outcome) => {
    expect(classify(reply, ctx)).toBe(outcome);
  });
});

// The same vector file holds the module's reader (test/prosody/outcome.test.ts) to these: a
// malformed error is never an outcome, so that no heal acts on it.
describe('readPingAnswer', () => {
  it.each(malformed)('a bad answer: %s', (_name, xml) => {
    expect(() => readPingAnswer(parse(xml), selfPing(user, occupant, 'x'))).toThrow(Unusable);
  });
});
