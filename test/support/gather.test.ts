// lib/support/gather.ts: concurrent one-item calls sent as one batch.
import { describe, expect, it } from 'vitest';
import { Gatherer } from '../../lib/support/gather';

describe('Gatherer', () => {
  it('answers the calls made together from one batch', async () => {
    const sent: number[][] = [];
    const g = new Gatherer<number, number>(
      async (items) => {
        sent.push(items);
        return items.map((i) => i * 10);
      },
      100,
      2,
    );
    expect(await Promise.all([1, 2, 3].map((i) => g.call(i)))).toEqual([10, 20, 30]);
    expect(sent).toEqual([[1, 2, 3]]);
  });

  it('sends at once when maxItems are waiting', async () => {
    const sent: number[][] = [];
    const g = new Gatherer<number, number>(
      async (items) => {
        sent.push(items);
        return items;
      },
      2,
      60_000,
    );
    expect(await Promise.all([1, 2, 3, 4].map((i) => g.call(i)))).toEqual([1, 2, 3, 4]);
    expect(sent).toEqual([
      [1, 2],
      [3, 4],
    ]);
  });

  it('fails every call of a batch whose send throws at once', async () => {
    const g = new Gatherer<number, number>(
      () => {
        throw new Error('send refused');
      },
      3,
      60_000,
    );
    const settled = await Promise.allSettled([1, 2, 3].map((i) => g.call(i)));
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'rejected']);
  });

  it('fails every call when the batch is answered with another number of outputs', async () => {
    const g = new Gatherer<number, number>(async () => [1], 100, 1);
    const settled = await Promise.allSettled([1, 2].map((i) => g.call(i)));
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected']);
  });
});
