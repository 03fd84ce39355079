// kill -9 of the MUC server B, then B restarts with its occupants lost. One lost link, seen
// by several users at once: plain joins, a nick change, a user who disconnected before, and
// a room on a second remote domain (C) whose link never broke.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Join } from '../../lib/domain/model';
import { Stack } from './stack';
import { DOMAINS } from '../../harness/testbed';
import { isNotification, type User } from '../../harness/users';

const ROOM1 = `room1@${DOMAINS.mucB}`;
const ROOM2 = `room2@${DOMAINS.mucB}`;
const ROOM3 = `room3@${DOMAINS.mucB}`;
const LOBBY_C = `lobby@${DOMAINS.mucC}`;

describe('hard kill of the MUC server', () => {
  let stack: Stack;
  let alice: User, dave: User, bob: User, carol: User;
  let killedAt = 0;
  let afterDisconnect: Join[] = [];

  beforeAll(async () => {
    stack = await Stack.start({ withC: true, delaySeconds: 2, rechecks: 2, recheckBaseSeconds: 1 });
    [alice, dave, bob, carol] = await Promise.all([
      stack.user('alice'),
      stack.user('dave'),
      stack.user('bob'),
      stack.user('carol'),
    ]);
    await alice.join(ROOM1, 'Alice');
    await alice.join(LOBBY_C, 'Alice');
    await dave.join(ROOM1, 'Dave');
    await bob.join(ROOM2, 'Bob');
    await bob.changeNick(ROOM2, 'Robert');
    await carol.join(ROOM3, 'Carol');
    await stack.waitForJoins(DOMAINS.mucB, (j) => j.length === 4 && j.some((x) => x.nick === 'Robert'));
    await carol.stop(); // disconnect: a leave for her join removes it
    afterDisconnect = await stack.waitForJoins(DOMAINS.mucB, (j) => j.length === 3);
    await stack.waitForJoins(DOMAINS.mucC, (j) => j.length === 1);

    killedAt = Date.now();
    await stack.bed.b.kill();
    await stack.bed.b.start();
    await Promise.all([alice, dave, bob].map((u) => u.waitFor(isNotification, 20_000)));
    await new Promise((r) => setTimeout(r, 1500)); // room for (unwanted) duplicates to show up
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('notifies each affected client exactly once after the delay with mod_ping_muc’s presence', () => {
    for (const [user, from] of [
      [alice, `${ROOM1}/Alice`],
      [dave, `${ROOM1}/Dave`],
    ] as const) {
      const notes = user.notifications();
      expect(notes.map((n) => n.el.attrs.from)).toEqual([from]);
      const x = notes[0]!.el.getChild('x', 'http://jabber.org/protocol/muc#user')!;
      expect(x.getChild('item')!.attrs).toMatchObject({ affiliation: 'none', role: 'none' });
      expect(x.getChild('item')!.getChildText('reason')).toBe('Connection to remote server lost');
      expect(
        x
          .getChildren('status')
          .map((s) => s.attrs.code)
          .sort(),
      ).toEqual(['110', '333']);
      const elapsed = notes[0]!.at - killedAt;
      console.log(
        `[e2e] kill -9 -> notification for ${user.jid}: ${elapsed} ms (configured delay ${stack.delayMs} ms)`,
      );
      expect(elapsed).toBeGreaterThanOrEqual(stack.delayMs);
      expect(elapsed).toBeLessThan(stack.delayMs + 5000);
    }
  });

  it('posts no leave for the told joins kept in the store for a later round', async () => {
    // The module forgets a join as it delivers our notification; ping-muc writes nothing.
    const told = [
      [alice, ROOM1],
      [dave, ROOM1],
      [bob, ROOM2],
    ] as const;
    stack.expectNoLeaves(told);
    const joins = await stack.waitForJoins(DOMAINS.mucB, (j) => j.length === 3);
    expect(joins.map((j) => `${j.user} ${j.room}`).sort()).toEqual(told.map(([u, r]) => `${u.jid} ${r}`).sort());
  });

  it('pings the new nick after a nick change', () => {
    expect(bob.notifications().map((n) => n.el.attrs.from)).toEqual([`${ROOM2}/Robert`]);
    const toRoom2 = stack.api.pings().filter((c) => c.to.startsWith(ROOM2));
    expect(toRoom2.map((c) => c.to)).toEqual([`${ROOM2}/Robert`]);
  });

  it('pings nothing for a user who disconnected before', () => {
    const carols = stack.events.events.filter((e) => e.user === carol.jid).map((e) => [e.type, e.room]);
    expect(carols).toEqual([
      ['join', ROOM3],
      ['leave', ROOM3],
    ]);
    expect(afterDisconnect.filter((j) => j.user === carol.jid)).toEqual([]);
    expect(afterDisconnect.map((j) => j.user).sort()).toEqual([alice.jid, bob.jid, dave.jid].sort());
    expect(stack.api.calls.filter((c) => c.from === carol.jid || c.to === carol.jid)).toEqual([]);
  });

  it('pings only the domain whose link broke', async () => {
    expect(stack.api.calls.filter((c) => c.to.includes(DOMAINS.mucC) || c.from.includes(DOMAINS.mucC))).toEqual([]);
    expect(alice.notifications().filter((n) => n.el.attrs.from?.startsWith(LOBBY_C))).toEqual([]);
    const onC = await stack.joins(DOMAINS.mucC);
    expect(onC.map((j) => [j.user, j.room, j.nick])).toEqual([[alice.jid, LOBBY_C, 'Alice']]);
  });

  it('sends one ping per join although both directions of the link closed', () => {
    const closes = stack.events.events.filter((e) => e.type === 's2s-close' && e.remotes?.includes(DOMAINS.mucB));
    expect(new Set(closes.map((e) => e.direction))).toEqual(new Set(['in', 'out']));
    const pings = stack.api
      .pings()
      .map((c) => `${c.from} ${c.to}`)
      .sort();
    expect(pings).toEqual(
      [`${alice.jid} ${ROOM1}/Alice`, `${bob.jid} ${ROOM2}/Robert`, `${dave.jid} ${ROOM1}/Dave`].sort(),
    );
    expect(stack.api.notifies()).toHaveLength(3);
  });
});
