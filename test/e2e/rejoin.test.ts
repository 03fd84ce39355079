// A client told it fell out of a room rejoins at once (status 333 says: the server lost you).
// The module posts no leave for our notification and ping-muc writes nothing after it: the
// rejoin's join overwrites the told one, and the next loss of the link heals it again. A told
// client that does not rejoin keeps its join in the store until a later round, answered
// no-session, drops it without telling it twice.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from './stack';
import { DOMAINS } from '../../harness/testbed';
import { isNotification, type User } from '../../harness/users';

const ROOM1 = `room1@${DOMAINS.mucB}`;
const ROOM2 = `room2@${DOMAINS.mucB}`;

async function crashB(stack: Stack): Promise<void> {
  await stack.bed.b.kill();
  await stack.bed.b.start();
}

describe('a client that rejoins as soon as it is told', () => {
  let stack: Stack;
  let alice: User, bob: User;

  beforeAll(async () => {
    stack = await Stack.start({ delaySeconds: 2, rechecks: 1, recheckBaseSeconds: 1 });
    [alice, bob] = await Promise.all([stack.user('alice'), stack.user('bob')]);
    await alice.join(ROOM1, 'Alice');
    await bob.join(ROOM2, 'Bob');
    await stack.waitForJoins(DOMAINS.mucB, (j) => j.length === 2);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('keeps the rejoin in the store without a leave for either notification', async () => {
    const before = (await stack.waitForJoins(DOMAINS.mucB, (j) => j.length === 2)).find((j) => j.user === alice.jid)!;
    const rejoined = alice.waitFor(isNotification, 20_000).then(() => alice.join(ROOM1, 'Alice'));
    await crashB(stack);
    await Promise.all([rejoined, bob.waitFor(isNotification, 20_000)]);
    await stack.waitForLog('round done', 1);
    // Alice's join is her rejoin (a newer one); Bob's is the one he was told about.
    await stack.waitForJoins(DOMAINS.mucB, (j) => j.some((x) => x.user === alice.jid && x.seq > before.seq));
    const joins = await stack.joins(DOMAINS.mucB);
    expect(joins.map((j) => `${j.user} ${j.room}`).sort()).toEqual([`${alice.jid} ${ROOM1}`, `${bob.jid} ${ROOM2}`]);
    expect(stack.events.events.filter((e) => e.type === 'leave')).toEqual([]);
  });

  it('heals the rejoined client again at the next loss without telling the other twice', async () => {
    const mark = alice.received.length;
    await crashB(stack);
    await alice.waitFor(isNotification, 20_000, mark);
    await stack.waitForLog('round done', 2);
    await new Promise((r) => setTimeout(r, 500)); // room for (unwanted) duplicates
    expect(alice.notifications()).toHaveLength(2);
    expect(bob.notifications()).toHaveLength(1);
    // Bob's told join was answered no-session and dropped; Alice's, just told, stays in turn.
    const joins = await stack.waitForJoins(DOMAINS.mucB, (j) => j.length === 1);
    expect(joins.map((j) => j.user)).toEqual([alice.jid]);
  });
});
