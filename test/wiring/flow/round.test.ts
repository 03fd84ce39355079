// Flow tests through the local service over HTTP: signed events → round → pings → notifications.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'ltx';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../../support/service';
import { nextSeq, postEvents } from '../../support/events';
import { waitFor } from '../../support/wait';
import type { Answer } from '../../../harness/stanza-api-stub';

const HOST = 'a.example';
const REMOTE = 'muc.b.example';
const OTHER = 'muc.c.example';

const join = (nick: string, room = `room-${nick}@${REMOTE}`, user = `${nick}@${HOST}/res`) => ({
  type: 'join',
  seq: nextSeq(),
  host: HOST,
  user,
  room,
  nick,
});
const close = (direction: 'in' | 'out', remotes = [REMOTE]) => ({
  type: 's2s-close',
  seq: nextSeq(),
  host: HOST,
  remotes,
  direction,
});
const occupant = (nick: string, remote = REMOTE) => `room-${nick}@${remote}/${nick}`;

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

async function post(events: object[], id?: string) {
  const res = await postEvents(h.service.eventsUrl, WEBHOOK_SECRET, events, id);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res;
}

const pingsOf = (occ: string) => h.stub.pings.filter((p) => p.occupant === occ).length;

describe('a round over every XEP-0410 answer', () => {
  it('settles each join by the answer to its one ping', async () => {
    const answers: Record<string, Answer> = {
      joined: 'result',
      kicked: 'not-acceptable',
      renamed: 'item-not-found-room',
      roomgone: 'item-not-found-service',
      noping: 'service-unavailable',
      slow: 'timeout',
      gone: 'no-session',
    };
    for (const [nick, answer] of Object.entries(answers)) h.stub.answers.set(occupant(nick), answer);
    await post([...Object.keys(answers).map((n) => join(n)), join('elsewhere', `room-elsewhere@${OTHER}`)]);
    await post([close('out')]);

    // Timeouts are re-checked twice (0.3 s, 0.6 s) before notifying.
    await waitFor(
      'the timeout join to be notified',
      () => h.stub.notifications.some((n) => n.occupant === occupant('slow')),
      10_000,
    );
    await h.logged('round done');

    for (const nick of ['joined', 'kicked', 'renamed', 'roomgone', 'noping', 'gone'])
      expect(pingsOf(occupant(nick)), nick).toBe(1);
    expect(pingsOf(occupant('slow'))).toBe(3);
    expect(h.stub.pings.some((p) => p.occupant.includes(OTHER))).toBe(false);

    const notified = h.stub.notifications.map((n) => n.occupant).sort();
    expect(notified).toEqual([occupant('kicked'), occupant('roomgone'), occupant('slow')].sort());
    const kicked = h.stub.notifications.find((n) => n.occupant === occupant('kicked'))!;
    expect(kicked.user).toBe(`kicked@${HOST}/res`);
    const presence = parse(kicked.xml);
    expect(presence.attrs).toMatchObject({ type: 'unavailable', from: occupant('kicked'), to: `kicked@${HOST}/res` });
    const x = presence.getChild('x', 'http://jabber.org/protocol/muc#user')!;
    expect(x.getChild('item')!.attrs).toEqual({ affiliation: 'none', role: 'none' });
    expect(x.getChild('item')!.getChildText('reason')).toBe('Connection to remote server lost');
    expect(x.getChildren('status').map((s) => s.attrs.code)).toEqual(['110', '333']);

    // The gone user's join is dropped. The told ghosts' stay (the module posts no leave for our
    // notification) until a rejoin, the session's end, expiry, or a later round's no-session.
    const kept = (await h.joins(HOST, REMOTE)).map((j) => j.nick).sort();
    expect(kept).toEqual(['joined', 'kicked', 'noping', 'renamed', 'roomgone', 'slow']);
    expect((await h.joins(HOST, OTHER)).length).toBe(1);
  });
});

describe('coalescing', () => {
  it('gives one ping per join despite duplicate webhooks or an in+out double close', async () => {
    await post([join('a'), join('b')]);
    const out = [close('out')];
    await post(out, 'msg_dup');
    // The same request again (a retry): applied again, the close already recorded.
    const replay = await post(out, 'msg_dup');
    expect(replay.body).toMatchObject({ ok: true, applied: 1 });
    await post([close('in')]);
    await post([close('in')]);
    await h.logged('round done');
    expect(pingsOf(occupant('a'))).toBe(1);
    expect(pingsOf(occupant('b'))).toBe(1);
  });

  it('does not ping a join made after the close', async () => {
    await post([join('before')]);
    await post([close('out')]);
    await post([join('after')]);
    await h.logged('round done');
    expect(h.stub.pings.map((p) => p.occupant)).toEqual([occupant('before')]);
  });

  it('pings no earlier than the delay after the last close of the window', async () => {
    await post([join('a')]);
    const first = Date.now();
    await post([close('out')]);
    await waitFor('a moment after the first close', async () => Date.now() - first >= 300);
    const last = Date.now();
    await post([close('in')]);
    await waitFor('the ping', () => h.stub.pings.length >= 1);
    const pingedAt = Date.now();
    expect(pingedAt - last).toBeGreaterThanOrEqual(500 - 25);
    expect(pingedAt - first).toBeGreaterThanOrEqual(800 - 25);
  });
});

describe('events during the delay', () => {
  it('a leave during the delay means no ping', async () => {
    await post([join('stays'), join('leaves')]);
    await post([close('out')]);
    await post([
      { type: 'leave', seq: nextSeq(), host: HOST, user: `leaves@${HOST}/res`, room: `room-leaves@${REMOTE}` },
    ]);
    await h.logged('round done');
    expect(h.stub.pings.map((p) => p.occupant)).toEqual([occupant('stays')]);
  });

  it('a session end during the delay means no ping (a leave per join)', async () => {
    await post([join('a'), join('b', `room-b@${REMOTE}`, `a@${HOST}/res`)]);
    await post([close('out')]);
    const user = `a@${HOST}/res`;
    await post([
      { type: 'leave', seq: nextSeq(), host: HOST, user, room: `room-a@${REMOTE}` },
      { type: 'leave', seq: nextSeq(), host: HOST, user, room: `room-b@${REMOTE}` },
      { type: 'session-end', seq: nextSeq(), host: HOST, user },
    ]);
    await h.logged('round done');
    expect(h.stub.pings).toEqual([]);
    expect(await h.joins(HOST, REMOTE)).toEqual([]);
  });
});

describe('our own failures never kick a user', () => {
  it('a stanza API that is down means a retry later instead of a notification', async () => {
    h.stub.answers.set(occupant('ghost'), 'not-acceptable');
    await post([join('ghost'), join('fine')]);
    h.stub.down = true;
    await post([close('out')]);
    await h.logged('round failed, will retry', 2);
    expect(h.stub.notifications).toEqual([]);
    expect((await h.joins(HOST, REMOTE)).length).toBe(2);
    h.stub.down = false;
    await h.logged('round done', 1, 15_000);
    expect(h.stub.notifications.map((n) => n.occupant)).toEqual([occupant('ghost')]);
  });

  it('an HTTP 500 from the API is retried rather than read as "not joined"', async () => {
    h.stub.answers.set(occupant('a'), 'http-500');
    await post([join('a')]);
    await post([close('out')]);
    await h.logged('round failed, will retry');
    expect(h.stub.notifications).toEqual([]);
    h.stub.answers.set(occupant('a'), 'result');
    await waitFor('the retry', () => h.stub.pings.some((p) => p.answer === 'result'), 10_000);
    expect(h.stub.notifications).toEqual([]);
    expect((await h.joins(HOST, REMOTE)).length).toBe(1);
  });
});

describe('the re-check budget', () => {
  it('an unreachable remote is notified once after its re-check', async () => {
    h.stub.fallback = 'remote-server-not-found';
    await post([join('a'), join('b')]);
    await post([close('out')]);
    await h.logged('round done');
    expect(pingsOf(occupant('a'))).toBe(3);
    expect(pingsOf(occupant('b'))).toBe(3);
    expect(h.stub.notifications.length).toBe(2);
  });

  it('a join found joined in a re-check is not pinged again by later re-checks', async () => {
    h.stub.answers.set(occupant('recovers'), 'timeout');
    h.stub.answers.set(occupant('stuck'), 'timeout');
    await post([join('recovers'), join('stuck')]);
    await post([close('out')]);
    await waitFor('the first pass', () => pingsOf(occupant('recovers')) === 1);
    h.stub.answers.set(occupant('recovers'), 'result');
    await h.logged('round done');
    expect(pingsOf(occupant('recovers'))).toBe(2);
    expect(pingsOf(occupant('stuck'))).toBe(3);
    expect(h.stub.notifications.map((n) => n.occupant)).toEqual([occupant('stuck')]);
  });
});
