import { describe, expect, it } from 'vitest';
import { classify } from '../../lib/domain/outcome';
import { ctx, table } from '../support/xep0410-replies';

describe('classify', () => {
  it.each(table)('%s', (_name, reply, outcome) => {
    expect(classify(reply, ctx)).toBe(outcome);
  });
});
