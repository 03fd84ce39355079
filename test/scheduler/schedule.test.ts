import { describe, expect, it } from 'vitest';
import { NAME_PATTERN, atExpression, atRoundedUp, scheduleName } from '../../lib/domain/schedule';
import type { RoundJob } from '../../lib/domain/model';

const base: RoundJob = { host: 'example.org', remote: 'conference.remote.net', gen: 'g1', kind: 'start' };

describe('atExpression', () => {
  it.each([
    ['2030-03-04T05:06:00.000Z', 'at(2030-03-04T05:06:00)'], // exact whole minute stays
    ['2030-03-04T05:06:00.001Z', 'at(2030-03-04T05:07:00)'], // 1 ms past: next minute
    ['2030-03-04T05:06:07.123Z', 'at(2030-03-04T05:07:00)'],
    ['2030-03-04T05:06:59.999Z', 'at(2030-03-04T05:07:00)'],
    ['2030-03-04T05:59:30.000Z', 'at(2030-03-04T06:00:00)'], // hour carry
    ['2030-12-31T23:59:01.000Z', 'at(2031-01-01T00:00:00)'], // year carry
    ['2028-02-28T23:59:59.000Z', 'at(2028-02-29T00:00:00)'], // leap day
    ['2030-01-01T00:00:00.000Z', 'at(2030-01-01T00:00:00)'],
  ])('%s → %s', (iso, expected) => {
    expect(atExpression(Date.parse(iso))).toBe(expected);
  });

  it('is UTC whatever the offset of the input notation', () => {
    expect(atExpression(Date.parse('2030-03-04T07:06:30+02:00'))).toBe('at(2030-03-04T05:07:00)');
  });

  it('never fires early: the expressed time is ≥ at and < at + 60 s', () => {
    for (let i = 0; i < 1000; i++) {
      const at = Date.parse('2030-01-01T00:00:00Z') + Math.floor(Math.random() * 86_400_000 * 365);
      const m = /^at\((.*)\)$/.exec(atExpression(at));
      const t = Date.parse(`${m![1]}Z`);
      expect(t).toBe(atRoundedUp(at));
      expect(t).toBeGreaterThanOrEqual(at);
      expect(t - at).toBeLessThan(60_000);
      expect(t % 60_000).toBe(0);
    }
  });

  it.each([NaN, Infinity, -Infinity])('rejects %s', (v) => {
    expect(() => atExpression(v)).toThrow(RangeError);
  });
});

describe('scheduleName', () => {
  const longHost = `${'a'.repeat(60)}.example.org`;
  it.each<[string, RoundJob, string]>([
    ['plain', base, 'start'],
    ['continue', { ...base, kind: 'continue' }, 'p1'],
    ['long host and remote', { ...base, host: longHost, remote: `muc.${longHost}` }, 'start'],
    ['IDN and odd characters', { ...base, host: 'bücher.example', remote: 'räume.example/x y' }, 'c#1'],
    ['empty tag', base, ''],
    ['very long tag', base, 'x'.repeat(1000)],
  ])('%s: 1–64 chars of [0-9A-Za-z-_.], readable prefix, deterministic', (_, job, tag) => {
    const name = scheduleName(job, tag);
    expect(name).toMatch(NAME_PATTERN);
    expect(name.length).toBeLessThanOrEqual(64);
    expect(name.startsWith(job.kind === 'start' ? 'pm-s-' : 'pm-c-')).toBe(true);
    expect(scheduleName({ ...job }, tag)).toBe(name);
  });

  it('shows host and remote when they fit', () => {
    expect(scheduleName(base, 'start')).toMatch(/^pm-s-example\.org_conference\.remote\.net-[0-9a-f]{20}$/);
  });

  it('differs whenever any of host, remote, gen, kind or tag differs', () => {
    const variants: [RoundJob, string][] = [
      [base, 'start'],
      [{ ...base, host: 'example.com' }, 'start'],
      [{ ...base, remote: 'conference.remote.org' }, 'start'],
      [{ ...base, gen: 'g2' }, 'start'],
      [{ ...base, kind: 'continue' }, 'start'],
      [base, 'p1'],
      // Separator games: the same characters split differently between fields.
      [{ ...base, host: 'example.org|conference.remote.net', remote: '' }, 'start'],
      [{ ...base, host: 'example.org_conference', remote: 'remote.net' }, 'start'],
      [{ ...base, gen: 'g1|start', kind: 'start' }, ''],
      // Truncated readable part identical, only the tail differs.
      [{ ...base, host: longHost, remote: 'x1' }, 'start'],
      [{ ...base, host: longHost, remote: 'x2' }, 'start'],
    ];
    const names = variants.map(([j, t]) => scheduleName(j, t));
    expect(new Set(names).size).toBe(variants.length);
  });

  it('does not collide over many generations', () => {
    const names = new Set<string>();
    for (let i = 0; i < 20_000; i++) names.add(scheduleName({ ...base, gen: `g${i}` }, 'start'));
    expect(names.size).toBe(20_000);
  });
});
