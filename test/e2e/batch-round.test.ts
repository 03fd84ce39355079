// The round against real Prosody: after a hard kill of the MUC server, the self-pings go out as
// heals in batches of version 3, each naming its join's since, and the server notifies each ghost
// itself, exactly once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from './stack';
import { DOMAINS } from '../../harness/testbed';
import { isNotification, type User } from '../../harness/users';

const USERS = 6;

describe('a round in batches of heals', () => {
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

  it('notifies every ghost exactly once from its room/nick', () => {
    for (const [i, u] of users.entries()) {
      expect(u.notifications().map((n) => n.el.attrs.from)).toEqual([`room${i}@${DOMAINS.mucB}/Nick${i}`]);
    }
  });

  it('sent heals as version 3 batches carrying each join’s since', () => {
    // Every request was a batch of version 3.
    expect(stack.api.requests.filter((r) => r.version !== '3')).toEqual([]);
    const batches = stack.api.requests.filter((r) => r.status === 200 && r.answer.includes('<batch'));
    expect(batches.length).toBeGreaterThanOrEqual(1);
    expect(batches.length).toBeLessThan(USERS * 2);
    const count = (text: string, part: string) => text.split(part).length - 1;
    // Every self-ping went as a heal, and no notification went as a request of its own.
    expect(batches.map((c) => count(c.body, '<heal ')).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(USERS);
    expect(batches.filter((c) => c.body.includes('<presence'))).toEqual([]);
    const pings = stack.api.pings();
    expect(pings.filter((c) => c.via !== 'heal')).toEqual([]);
    // Each heal named the join the module posted: its since.
    expect(pings.filter((c) => c.since !== String(stack.events.joinSince(c.from, c.to.split('/')[0]!)))).toEqual([]);
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
