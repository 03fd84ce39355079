// A client that goes offline with a broadcast <presence type='unavailable'/> and comes back with
// <presence/>, on the same stream: Prosody sends the unavailable to every room it had joined and
// forgets its directed presence (mod_presence sets session.directed = nil). The room's reflected
// leave must still end the join in the module (a leave event) and so in ping-muc's store, and
// the stanza API must then answer <no-session/> for that room.
import { xml } from '@xmpp/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batch, kinds, notify, ping, unavailable } from './batch';
import { callApi } from './http';
import { Stack } from './stack';
import { DOMAINS } from '../../harness/testbed';
import { isSelfPresence, type User } from '../../harness/users';

const ROOM = `away@${DOMAINS.mucB}`;

describe('a broadcast unavailable presence on a connected session', () => {
  let stack: Stack;
  let alice: User;

  beforeAll(async () => {
    stack = await Stack.start();
    alice = await stack.user('alice');
    await alice.join(ROOM, 'Alice');
    await stack.waitForJoins(DOMAINS.mucB, (j) => j.length === 1);
    const mark = alice.received.length;
    await alice.send(xml('presence', { type: 'unavailable' }));
    // The room got it: its reflected leave (unavailable + 110) comes back.
    await alice.waitFor((el) => isSelfPresence(el, `${ROOM}/Alice`) && el.attrs.type === 'unavailable', 10_000, mark);
    const back = alice.received.length;
    await alice.send(xml('presence'));
    await alice.waitFor((el) => el.name === 'presence' && !el.attrs.type && el.attrs.from === alice.jid, 10_000, back);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('posts a leave that makes ping-muc forget the join', async () => {
    const leave = await stack.events.waitFor((e) => e.type === 'leave' && e.user === alice.jid);
    expect(leave).toMatchObject({ host: DOMAINS.a, room: ROOM });
    await stack.waitForJoins(DOMAINS.mucB, (j) => j.length === 0);
    // The one leave: the session stays connected (a session's end would post its leaves too).
    expect(stack.events.events.filter((e) => e.type === 'leave' && e.user === alice.jid)).toHaveLength(1);
  });

  it('answers <no-session/> to any call for that room', async () => {
    const since = Date.now();
    const call = (body: string) => callApi(stack.bed.apiUrl, stack.bed.apiSecret, body);
    // The notification names the join that ended, as a round that read it before the leave would.
    const res = await call(
      batch([
        ping('p-1', alice.jid, `${ROOM}/Alice`),
        notify('n-1', stack.events.joinSince(alice.jid, ROOM), unavailable(`${ROOM}/Alice`, alice.jid)),
      ]),
    );
    expect(res.status).toBe(200);
    expect(kinds(res.body)).toEqual([
      ['p-1', 'no-session'],
      ['n-1', 'no-session'],
    ]);
    await new Promise((r) => setTimeout(r, 300));
    expect(alice.received.filter((r) => r.at >= since).map((r) => r.el.toString())).toEqual([]);
  });
});
