// A room on an IDN domain with combining marks (संगणक.भारत): Prosody accepts it, so ping-muc must
// store the join, ping it after a hard kill of the MUC server and notify the ghost.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from './stack';
import { isNotification, type User } from '../../harness/users';

const IDN_MUC = 'संगणक.भारत';
const ROOM = `chat@${IDN_MUC}`;

describe('a room on an IDN domain', () => {
  let stack: Stack;
  let alice: User;

  beforeAll(async () => {
    stack = await Stack.start({ delaySeconds: 2, rechecks: 1, recheckBaseSeconds: 1, bMucs: [IDN_MUC] });
    alice = await stack.user('alice');
    await alice.join(ROOM, 'Alice');
    await stack.waitForJoins(IDN_MUC, (j) => j.length === 1);
    await stack.bed.b.kill();
    await stack.bed.b.start();
    await alice.waitFor(isNotification, 20_000);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('heals once the ghost of a join stored under its Unicode domain', async () => {
    const notes = alice.notifications();
    expect(notes.map((n) => n.el.attrs.from)).toEqual([`${ROOM}/Alice`]);
    stack.expectNoLeaves([[alice, ROOM]]);
    // The store keeps the told join until a rejoin, the session's end, expiry or a later no-session.
    expect((await stack.joins(IDN_MUC)).map((j) => j.room)).toEqual([ROOM]);
  });
});
