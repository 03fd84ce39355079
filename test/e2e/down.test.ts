// B is killed and stays down past ping-muc's re-check budget: every self-ping fails with our
// own server's remote-server-not-found (indeterminate), re-checks are bounded, and then each
// join gets exactly one notification.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from './stack';
import { DOMAINS } from '../../harness/testbed';
import { isNotification, type User } from '../../harness/users';

const ROOM1 = `down1@${DOMAINS.mucB}`;
const ROOM2 = `down2@${DOMAINS.mucB}`;
const RECHECKS = 2;

describe('MUC server down past the retry budget', () => {
  let stack: Stack;
  let alice: User, bob: User;
  let killedAt = 0;

  beforeAll(async () => {
    stack = await Stack.start({ delaySeconds: 1, rechecks: RECHECKS, recheckBaseSeconds: 1 });
    [alice, bob] = await Promise.all([stack.user('alice'), stack.user('bob')]);
    await alice.join(ROOM1, 'Alice');
    await alice.join(ROOM2, 'Alice');
    await bob.join(ROOM1, 'Bob');
    await stack.waitForJoins(DOMAINS.mucB, (j) => j.length === 3);
    killedAt = Date.now();
    await stack.bed.b.kill(); // and not restarted
    await Promise.all([
      alice.waitFor((el) => alice.notifications().length >= 2 && isNotification(el), 30_000),
      bob.waitFor(isNotification, 30_000),
    ]);
    await new Promise((r) => setTimeout(r, 2000));
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('bounds the self-pings to 1 + re-checks per join', () => {
    const perJoin = new Map<string, number>();
    for (const c of stack.api.pings()) perJoin.set(`${c.from} ${c.to}`, (perJoin.get(`${c.from} ${c.to}`) ?? 0) + 1);
    expect(perJoin.size).toBe(3);
    for (const n of perJoin.values()) expect(n).toBe(1 + RECHECKS);
    for (const c of stack.api.pings()) expect(c.answer).toMatch(/remote-server-not-found|timeout/);
  });

  it('notifies each join exactly once without a leave posted for it', async () => {
    expect(
      alice
        .notifications()
        .map((n) => n.el.attrs.from)
        .sort(),
    ).toEqual([`${ROOM1}/Alice`, `${ROOM2}/Alice`]);
    expect(bob.notifications().map((n) => n.el.attrs.from)).toEqual([`${ROOM1}/Bob`]);
    expect(stack.api.notifies()).toHaveLength(3);
    // The round's own notifications (its re-checks spent), each naming the join it read: its since.
    for (const n of stack.api.notifies()) {
      expect(n).toMatchObject({ via: 'item', since: String(stack.events.joinSince(n.to, n.from.split('/')[0]!)) });
      expect(n.answer).toContain('<sent ');
    }
    // The module forgets a join as it delivers our notification, and posts no leave for it.
    stack.expectNoLeaves([
      [alice, ROOM1],
      [alice, ROOM2],
      [bob, ROOM1],
    ]);
    const last = Math.max(...[...alice.notifications(), ...bob.notifications()].map((n) => n.at));
    console.log(
      `[e2e] B down: kill -9 -> last notification ${last - killedAt} ms (delay ${stack.delayMs} ms, ${RECHECKS} re-checks)`,
    );
  });
});
