import { describe, expect, it } from 'vitest';
import { parse } from 'ltx';
import { batchItems, readPingAnswer, Unusable, unsupportedVersion } from '../../../lib/adapters/stanza-api/answers';
import { parseXml } from '../../../lib/adapters/stanza-api/xml';
import { selfPing } from '../../../lib/domain/stanzas';
import { malformed, occupant, user } from '../../support/xep0410-replies';

const NS = 'urn:ping-muc:stanza-api:2';

describe('answers', () => {
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
      expect(() => batchItems(answer(attrs), ['a']), attrs).toThrow(Unusable);
    }
  });

  it('reads the versions of an <unsupported-version/>', () => {
    expect(unsupportedVersion(parseXml(`<unsupported-version xmlns="${NS}" supported="3"/>`, 1024))).toBe('3');
    expect(unsupportedVersion(parseXml(`<unsupported-version xmlns="${NS}"/>`, 1024))).toBe('');
    expect(unsupportedVersion(parseXml('<unsupported-version/>', 1024))).toBeUndefined();
    expect(unsupportedVersion(parseXml(`<batch xmlns="${NS}" version="3"/>`, 1024))).toBeUndefined();
  });
});

describe('readPingAnswer', () => {
  it.each(malformed)('a bad answer: %s', (_name, xml) => {
    expect(() => readPingAnswer(parse(xml), selfPing(user, occupant, 'x'))).toThrow(Unusable);
  });
});
