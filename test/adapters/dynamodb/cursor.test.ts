import { describe, expect, it } from 'vitest';
import { decodeCursor, InvalidCursorError } from '../../../lib/adapters/dynamodb/cursor';

describe('store cursor', () => {
  it('a cursor that is not JSON keeps the SyntaxError as cause', () => {
    const cursor = Buffer.from('{', 'utf8').toString('base64url');
    let err: unknown;
    try {
      decodeCursor(cursor, 'J#a.example|0|b.example');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidCursorError);
    expect((err as Error).cause).toBeInstanceOf(SyntaxError);
  });
});
