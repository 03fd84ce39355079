// The round on stanza API v2 against real Prosody: after a hard kill of the MUC server, the
// self-pings go out as heals in batches, the server notifies each ghost itself, exactly once.
// And the same on stanza API v1 (PING_MUC_API_BATCH=0), no longer the default: one request per
// self-ping and per notification, ping-muc notifying each ghost itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from './stack';
import { DOMAINS } from './testbed';
import { isNotification, type User } from './users';

const USERS = 6;

describe('a round with PING_MUC_API_BATCH (stanza API v2)', () => {
  let stack: Stack;
  let users: User[] = [];

  beforeAll(async () => {
    stack = await Stack.start({
      delaySeconds: 2,
      rechecks: 1,
      recheckBaseSeconds: 1,
      env: { PING_MUC_API_BATCH: '500', PING_MUC_CONCURRENCY: '64' },
    });
    users = await Promise.all(Array.from({ length: USERS }, (_, i) => stack.user(`batch${i}`)));
    await Promise.all(users.map((u, i) => u.join(`room${i}@${DOMAINS.mucB}`, `Nick${i}`)));
    await stack.waitForJoins(DOMAINS.mucB, (j) => j.length === USERS);
    await stack.bed.b.kill();
    await stack.bed.b.start();
    await Promise.all(users.map((u) => u.waitFor(isNotification, 30_000)));
    await stack.waitForLog('round done', 1, 15_000);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('notifies every ghost exactly once, from its room/nick', () => {
    for (const [i, u] of users.entries()) {
      expect(u.notifications().map((n) => n.el.attrs.from)).toEqual([`room${i}@${DOMAINS.mucB}/Nick${i}`]);
    }
  });

  it('sent heals as batches, none as a version 1 request: the server told the ghosts itself', () => {
    // No request was a version 1 one: every self-ping and notification went in a batch.
    expect(stack.api.requests.filter((r) => r.version === 1)).toEqual([]);
    const batches = stack.api.requests.filter((r) => r.status === 200 && r.answer.includes('<batch'));
    expect(batches.length).toBeGreaterThanOrEqual(1);
    expect(batches.length).toBeLessThan(USERS * 2);
    const count = (text: string, part: string) => text.split(part).length - 1;
    // Every self-ping went as a heal, and no notification went as a request of its own.
    expect(batches.map((c) => count(c.body, '<heal ')).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(USERS);
    expect(batches.filter((c) => c.body.includes('<presence'))).toEqual([]);
    const pings = stack.api.pings();
    expect(pings.filter((c) => c.via !== 'heal')).toEqual([]);
    expect(new Set(pings.map((c) => `${c.from} ${c.to}`))).toEqual(
      new Set(users.map((u, i) => `${u.jid} room${i}@${DOMAINS.mucB}/Nick${i}`)),
    );
    // Each ghost told once, by the server: its heal answered <sent/>, no notification of ping-muc's own.
    expect(stack.api.notifies().every((c) => c.via === 'heal' && c.status === 200 && c.answer.includes('<sent '))).toBe(
      true,
    );
    expect(
      stack.api
        .notifies()
        .map((c) => `${c.to} ${c.from}`)
        .sort(),
    ).toEqual(users.map((u, i) => `${u.jid} room${i}@${DOMAINS.mucB}/Nick${i}`).sort());
  });
});

describe('a round with PING_MUC_API_BATCH=0 (stanza API v1)', () => {
  let stack: Stack;
  let users: User[] = [];
  const occupant = (i: number) => `room${i}@${DOMAINS.mucB}/Nick${i}`;

  beforeAll(async () => {
    stack = await Stack.start({
      delaySeconds: 2,
      rechecks: 1,
      recheckBaseSeconds: 1,
      // v1 is an explicit choice now (the default batches): its round still heals every ghost.
      env: { PING_MUC_API_BATCH: '0' },
    });
    users = await Promise.all(Array.from({ length: USERS }, (_, i) => stack.user(`v1u${i}`)));
    await Promise.all(users.map((u, i) => u.join(`room${i}@${DOMAINS.mucB}`, `Nick${i}`)));
    await stack.waitForJoins(DOMAINS.mucB, (j) => j.length === USERS);
    await stack.bed.b.kill();
    await stack.bed.b.start();
    await Promise.all(users.map((u) => u.waitFor(isNotification, 30_000)));
    await stack.waitForLog('round done', 1, 15_000);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('notifies every ghost exactly once, from its room/nick', () => {
    for (const [i, u] of users.entries()) {
      expect(u.notifications().map((n) => n.el.attrs.from)).toEqual([occupant(i)]);
    }
  });

  it('sent each self-ping and each notification as a request of its own', () => {
    const pings = stack.api.pings();
    expect(pings.filter((c) => c.via !== 'v1')).toEqual([]);
    expect(pings.map((c) => `${c.from} ${c.to}`).sort()).toEqual(users.map((u, i) => `${u.jid} ${occupant(i)}`).sort());
    const notifies = stack.api.notifies();
    expect(notifies.filter((c) => c.via !== 'v1' || !c.answer.includes('<sent '))).toEqual([]);
    expect(notifies.map((c) => `${c.to} ${c.from}`).sort()).toEqual(
      users.map((u, i) => `${u.jid} ${occupant(i)}`).sort(),
    );
    // A batch only for a server ping, which names no user (it brings the link up before the round).
    expect(stack.api.calls.filter((c) => c.via !== 'v1' && c.kind !== 'server-ping')).toEqual([]);
  });
});
