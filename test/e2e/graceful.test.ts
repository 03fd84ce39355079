// Graceful restart of the MUC server B: Prosody keeps its occupants across the restart, so
// the self-ping says "joined" and nobody is notified. A user who leaves during the delay is
// not pinged at all.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from './stack';
import { DOMAINS } from '../../harness/testbed';
import type { User } from '../../harness/users';

const ROOM_STAY = `stay@${DOMAINS.mucB}`;
const ROOM_LEAVE = `leave@${DOMAINS.mucB}`;

describe('graceful restart of the MUC server', () => {
  let stack: Stack;
  let alice: User, bob: User;

  beforeAll(async () => {
    stack = await Stack.start({ delaySeconds: 3 });
    [alice, bob] = await Promise.all([stack.user('alice'), stack.user('bob')]);
    await alice.join(ROOM_STAY, 'Alice');
    await bob.join(ROOM_LEAVE, 'Bob');
    await stack.waitForJoins(DOMAINS.mucB, (j) => j.length === 2);

    const stoppedAt = Date.now();
    await stack.bed.b.stop();
    await stack.bed.b.start();
    await stack.events.waitFor((e) => e.type === 's2s-close' && !!e.remotes?.includes(DOMAINS.mucB));
    await bob.leave(ROOM_LEAVE, 'Bob'); // within the delay, over a fresh link
    expect(Date.now() - stoppedAt).toBeLessThan(stack.delayMs);
    await stack.waitForJoins(DOMAINS.mucB, (j) => j.length === 1);
    // Wait for the round: the ping for alice is answered.
    const deadline = Date.now() + stack.delayMs + 10_000;
    while (!stack.api.pings().some((c) => c.status === 200) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 1500));
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('keeps the join of a surviving occupant whose self-ping gets a result', async () => {
    expect(stack.api.pings().map((c) => [c.from, c.to, /type=.result./.test(c.answer)])).toEqual([
      [alice.jid, `${ROOM_STAY}/Alice`, true],
    ]);
    expect(stack.api.notifies()).toEqual([]);
    expect(alice.notifications()).toEqual([]);
    expect(bob.notifications()).toEqual([]);
    const joins = await stack.joins(DOMAINS.mucB);
    expect(joins.map((j) => [j.user, j.room, j.nick])).toEqual([[alice.jid, ROOM_STAY, 'Alice']]);
  });

  it('does not ping a room the user left before the delay', () => {
    expect(stack.events.events.some((e) => e.type === 'leave' && e.user === bob.jid && e.room === ROOM_LEAVE)).toBe(
      true,
    );
    expect(stack.api.calls.filter((c) => c.to.startsWith(ROOM_LEAVE) || c.from.startsWith(ROOM_LEAVE))).toEqual([]);
  });
});
