import { describe, expect, it } from 'vitest';
import type { RoundJob } from '../../lib/domain/model';
import { parseRoundJob, serializeRoundJob } from '../../lib/domain/round-job';

const base: RoundJob = { host: 'a.example', remote: 'muc.b.example', gen: 'abc1', kind: 'continue' };

describe('round jobs as schedule input', () => {
  it.each<RoundJob>([
    { ...base, kind: 'start' },
    base,
    { ...base, attempt: 3 },
    { ...base, pass: 0 },
    { ...base, pass: 2, attempt: 1 },
    { ...base, pass: 1, probe: true },
  ])('survives the round trip: %j', (job) => {
    expect(parseRoundJob(serializeRoundJob(job))).toEqual(job);
  });

  it('accepts the jobs of older versions without pass or probe', () => {
    expect(parseRoundJob('{"host":"a.example","remote":"muc.b.example","gen":"abc1","kind":"continue"}')).toEqual(base);
  });

  it.each([
    ['a negative pass', { ...base, pass: -1 }],
    ['a fractional pass', { ...base, pass: 1.5 }],
    ['a probe that is not true', { ...base, pass: 1, probe: 'yes' }],
    ['a probe without a pass', { ...base, probe: true }],
  ])('refuses %s', (_what, raw) => {
    expect(() => parseRoundJob(raw)).toThrow(/invalid round job/);
  });

  it('carries only the job fields', () => {
    expect(JSON.parse(serializeRoundJob({ ...base, extra: 1 } as RoundJob))).toEqual(base);
  });
});
