// The round on stanza API v2 against real Prosody: after a hard kill of the MUC server, the
// self-pings go out as heals in batches, the server notifies each ghost itself, exactly once.
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
    await stack.waitForJoins(DOMAINS.mucB, (j) => j.length === 0, 15_000);
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
    const batches = stack.api.calls.filter(
      (c) => c.kind === 'other' && c.status === 200 && c.answer.includes('<batch'),
    );
    expect(batches.length).toBeGreaterThanOrEqual(1);
    expect(batches.length).toBeLessThan(USERS * 2);
    const count = (text: string, part: string) => text.split(part).length - 1;
    // Every self-ping went as a heal, and no notification went as a request of its own.
    expect(batches.map((c) => count(c.body, '<heal ')).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(USERS);
    expect(batches.filter((c) => c.body.includes('<presence'))).toEqual([]);
    expect(batches.map((c) => count(c.answer, '<sent ')).reduce((a, b) => a + b, 0)).toBe(USERS);
    expect(stack.api.pings()).toEqual([]);
    expect(stack.api.notifies()).toEqual([]);
  });
});
