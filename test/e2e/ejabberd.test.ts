// ejabberd 23.01 as the MUC server (issue 18 §3). Its errors carry no `by`: a lost room and an
// old nick after a nick change are both item-not-found without `by`. One short re-check of the
// join on the module's tracked nick tells a lost room within the delay + 5 s (not after the
// whole re-check budget: base 10 s here), and never tells a nick change.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Element } from 'ltx';
import { Stack } from './stack';
import { DOMAINS, sleep } from '../../harness/testbed';
import { isNotification, NS_MUC_USER, type User } from '../../harness/users';

const ROOM1 = `room1@${DOMAINS.mucB}`;
const ROOM2 = `room2@${DOMAINS.mucB}`;
const OPTS = { bEjabberd: {}, delaySeconds: 3, rechecks: 2, recheckBaseSeconds: 10 } as const;

/** An unavailable self-presence from the room (ours, or ejabberd's own 332 at shutdown). */
function isSelfUnavailable(el: Element, room: string): boolean {
  const codes = (el.getChild('x', NS_MUC_USER)?.getChildren('status') ?? []).map((s) => s.attrs.code);
  return (
    el.name === 'presence' &&
    el.attrs.type === 'unavailable' &&
    !!el.attrs.from?.startsWith(`${room}/`) &&
    codes.includes('110')
  );
}

describe('ejabberd: kill -9 with non-persistent rooms', () => {
  let stack: Stack;
  let alice: User, dave: User, bob: User;
  let killedAt = 0;

  beforeAll(async () => {
    stack = await Stack.start(OPTS);
    [alice, dave, bob] = await Promise.all([stack.user('alice'), stack.user('dave'), stack.user('bob')]);
    await alice.join(ROOM1, 'Alice');
    await dave.join(ROOM1, 'Dave');
    await bob.join(ROOM2, 'Bob');
    await bob.changeNick(ROOM2, 'Robert');
    await stack.waitForJoins(DOMAINS.mucB, (j) => j.length === 3 && j.some((x) => x.nick === 'Robert'));

    killedAt = Date.now();
    await stack.bed.ejabberd!.kill();
    await stack.bed.ejabberd!.start();
    await Promise.all([alice, dave, bob].map((u) => u.waitFor(isNotification, 20_000)));
    await sleep(2500); // room for (unwanted) duplicates and late re-checks
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('tells every ghost once from its current nick within the delay + 5 s', () => {
    for (const [user, from] of [
      [alice, `${ROOM1}/Alice`],
      [dave, `${ROOM1}/Dave`],
      [bob, `${ROOM2}/Robert`],
    ] as const) {
      const notes = user.notifications();
      expect(notes.map((n) => n.el.attrs.from)).toEqual([from]);
      const elapsed = notes[0]!.at - killedAt;
      console.log(`[e2e] ejabberd kill -9 -> notification for ${user.jid}: ${elapsed} ms (delay ${stack.delayMs} ms)`);
      expect(elapsed).toBeGreaterThanOrEqual(stack.delayMs);
      expect(elapsed).toBeLessThan(stack.delayMs + 5000);
    }
  });

  it('re-pings each join once instead of a separate notification (item-not-found without by)', () => {
    const pings = stack.api.pings().map((c) => c.to);
    expect(pings.sort()).toEqual(
      [
        `${ROOM1}/Alice`,
        `${ROOM1}/Alice`,
        `${ROOM1}/Dave`,
        `${ROOM1}/Dave`,
        `${ROOM2}/Robert`,
        `${ROOM2}/Robert`,
      ].sort(),
    );
    expect(stack.api.calls.some((c) => /item-not-found/.test(c.answer) && !/ by=/.test(c.answer))).toBe(true);
    expect(stack.api.notifies()).toHaveLength(3);
  });
});

describe('ejabberd: a nick change during the delay', () => {
  let stack: Stack;
  let alice: User, carol: User;

  beforeAll(async () => {
    stack = await Stack.start(OPTS);
    [alice, carol] = await Promise.all([stack.user('alice'), stack.user('carol')]);
    await alice.join(ROOM1, 'Alice');
    await carol.join(ROOM1, 'Carol');
    await stack.waitForJoins(DOMAINS.mucB, (j) => j.length === 2);
    // The link breaks, the room survives (ejabberd keeps running).
    await stack.bed.a.shell('s2s', 'close', DOMAINS.a, DOMAINS.mucB);
    await stack.events.waitFor((e) => e.type === 's2s-close' && !!e.remotes?.includes(DOMAINS.mucB));
    const closedAt = Date.now();
    await alice.changeNick(ROOM1, 'Alicia'); // over a fresh link, within the delay
    expect(Date.now() - closedAt).toBeLessThan(stack.delayMs);
    const deadline = Date.now() + stack.delayMs + 10_000;
    while (stack.api.pings().length < 2 && Date.now() < deadline) await sleep(50);
    await sleep(3000);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('keeps both joins untold (alice under her new nick)', async () => {
    expect(alice.notifications()).toEqual([]);
    expect(carol.notifications()).toEqual([]);
    expect(stack.api.notifies()).toEqual([]);
    const joins = await stack.joins(DOMAINS.mucB);
    expect(joins.map((j) => `${j.user} ${j.nick}`).sort()).toEqual(
      [`${alice.jid} Alicia`, `${carol.jid} Carol`].sort(),
    );
  });
});

describe('ejabberd: graceful stop (it sends status 332 itself)', () => {
  let stack: Stack;
  let users: User[] = [];

  beforeAll(async () => {
    stack = await Stack.start(OPTS);
    users = await Promise.all(['u1', 'u2', 'u3', 'u4'].map((n) => stack.user(n)));
    for (const [i, u] of users.entries()) await u.join(i % 2 ? ROOM1 : ROOM2, `U${i}`);
    await stack.waitForJoins(DOMAINS.mucB, (j) => j.length === 4);
    await stack.bed.ejabberd!.stop();
    await stack.bed.ejabberd!.start();
    await sleep(stack.delayMs + 6000); // the round and a short re-check, and room for duplicates
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('tells nobody twice: each user gets one unavailable self-presence (ejabberd’s or ours)', () => {
    const counts = users.map((u, i) => u.received.filter((r) => isSelfUnavailable(r.el, i % 2 ? ROOM1 : ROOM2)).length);
    console.log(`[e2e] ejabberd graceful stop: unavailable self-presences per user ${counts.join(',')}`);
    expect(counts).toEqual([1, 1, 1, 1]);
    for (const u of users) expect(u.notifications().length).toBeLessThanOrEqual(1);
  });
});
