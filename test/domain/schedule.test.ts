import { describe, expect, it } from 'vitest';
import { atExpression, NAME_PATTERN, scheduledMinute, scheduleName, scheduleTag } from '../../lib/domain/schedule';
import type { RoundJob } from '../../lib/domain/model';
import { mulberry32 } from '../support/rng';

const base: RoundJob = { host: 'example.org', remote: 'conference.remote.net', gen: 'g1', kind: 'start' };

describe('scheduledMinute and atExpression', () => {
  const t = (iso: string) => Date.parse(iso);
  const FAR = 0; // no lower bound from "now"

  it.each([
    ['2030-03-04T05:06:00.000Z', 'at(2030-03-04T05:05:00)'], // due on a whole minute: the minute before ends by it
    ['2030-03-04T05:06:00.001Z', 'at(2030-03-04T05:05:00)'],
    ['2030-03-04T05:06:07.123Z', 'at(2030-03-04T05:05:00)'],
    ['2030-03-04T05:06:59.999Z', 'at(2030-03-04T05:05:00)'],
    ['2030-03-04T06:00:30.000Z', 'at(2030-03-04T05:59:00)'], // hour carry
    ['2031-01-01T00:00:59.000Z', 'at(2030-12-31T23:59:00)'], // year carry
    ['2028-02-29T00:00:30.000Z', 'at(2028-02-28T23:59:00)'], // leap day
  ])('due %s → %s', (iso, expected) => {
    expect(atExpression(scheduledMinute(t(iso), FAR))).toBe(expected);
  });

  it('is UTC whatever the offset of the input notation', () => {
    expect(atExpression(scheduledMinute(t('2030-03-04T07:06:30+02:00'), FAR))).toBe('at(2030-03-04T05:05:00)');
  });

  it('names the latest minute that ends by the due time, so the whole firing window is before it', () => {
    const random = mulberry32(2030); // the same 1,000 due times on every run
    for (let i = 0; i < 1000; i++) {
      const at = t('2030-01-01T00:00:00Z') + Math.floor(random() * 86_400_000 * 365);
      const m = scheduledMinute(at, FAR);
      expect(m % 60_000).toBe(0);
      expect(m + 60_000).toBeLessThanOrEqual(at); // fires within [m, m + 60 s): never after the due time
      expect(at - m).toBeLessThan(120_000); // and at most 2 minutes before it
    }
  });

  it('a minute already past moves to the first whole minute after "now": then it can only be late', () => {
    const now = t('2030-03-04T05:06:10Z');
    expect(scheduledMinute(now + 30_000, now)).toBe(t('2030-03-04T05:07:00Z'));
    expect(scheduledMinute(now - 3_600_000, now)).toBe(t('2030-03-04T05:07:00Z'));
  });

  it.each([NaN, Infinity, -Infinity, 1.5, 30_000])('atExpression rejects %s', (v) => {
    expect(() => atExpression(v)).toThrow(RangeError);
  });
});

describe('scheduleName', () => {
  it('tells apart jobs that differ only in their pass or probe mark, for the same tag', () => {
    const job: RoundJob = { host: 'a.example', remote: 'muc.b.example', gen: 'g1', kind: 'continue' };
    const names = [job, { ...job, pass: 0 }, { ...job, pass: 1 }, { ...job, pass: 1, probe: true as const }].map((j) =>
      scheduleName(j, scheduleTag.slot(123)),
    );
    expect(new Set(names).size).toBe(4);
    expect(scheduleName({ ...job, pass: 1 }, scheduleTag.slot(123))).toBe(names[2]);
  });

  it('gives every tag of a round its own valid name, and the reconciler one per due time', () => {
    const job: RoundJob = { host: 'a.example', remote: 'muc.b.example', gen: 'g1', kind: 'continue', pass: 1 };
    const tags = [
      scheduleTag.start(),
      scheduleTag.postponed(1_000),
      scheduleTag.slot(1_000),
      scheduleTag.checkpoint(1, '7'),
      scheduleTag.probe(1, 1_000),
      scheduleTag.recheck(1),
      scheduleTag.retry(1, 60_000),
      scheduleTag.reconciled(1_000),
      scheduleTag.reconciled(2_000),
    ];
    const names = tags.map((tag) => scheduleName(job, tag));
    for (const name of names) expect(name).toMatch(NAME_PATTERN);
    expect(new Set(names).size).toBe(tags.length);
    expect(scheduleName(job, scheduleTag.reconciled(1_000))).toBe(names[7]);
  });

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
