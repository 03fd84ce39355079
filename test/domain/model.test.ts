import { describe, expect, it } from 'vitest';
import { CLOSE_DATING_MAX_MS, closedAt } from '../../lib/domain/model';

describe('closedAt', () => {
  const arrived = Date.UTC(2026, 11, 1, 8, 0, 0);
  const us = (ms: number) => ms * 1000;

  it("takes the server's time of the close within a tenth of the delay before its arrival", () => {
    expect(closedAt(us(arrived - 45) + 999, arrived, 2_000)).toBe(arrived - 45);
    expect(closedAt(us(arrived - 200), arrived, 2_000)).toBe(arrived - 200);
    expect(closedAt(us(arrived - CLOSE_DATING_MAX_MS), arrived, 60_000)).toBe(arrived - CLOSE_DATING_MAX_MS);
  });

  it('takes the arrival for a server clock too far off', () => {
    expect(closedAt(us(arrived - 201), arrived, 2_000)).toBe(arrived);
    expect(closedAt(us(arrived - CLOSE_DATING_MAX_MS - 1), arrived, 600_000)).toBe(arrived);
    expect(closedAt(us(arrived + 1), arrived, 2_000)).toBe(arrived);
    expect(closedAt(1_000_001, arrived, 60_000)).toBe(arrived);
  });

  it('takes the arrival with no delay', () => {
    expect(closedAt(us(arrived - 1), arrived, 0)).toBe(arrived);
  });
});
