// Histories replayed through the module's real libraries (replay.ts): the decisions a model of
// the module must make the same way.
import { describe, expect, it } from 'vitest';
import { PROSODY_LIBS, type ProsodyVersion } from './lua';
import { type ModuleOp, replayModule } from './replay';

const user = 'alice@a.example/phone';
const room = 'lobby@muc.b.example';
const GONE =
  '<error type="cancel" by="muc.b.example"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>';

describe.each(Object.keys(PROSODY_LIBS) as ProsodyVersion[])('replay through the module (Prosody %s)', (prosody) => {
  const join: ModuleOp = { op: 'join', user, room, nick: 'Alice' };
  /** A join, a presence update in the room, and a rejoin under the same nick. */
  const rejoined = () => {
    const [first, update, rejoin] = replayModule([join, { ...join, request: false }, join], prosody);
    return { first: first!, update, rejoin: rejoin!, old: first!.result! };
  };

  it('a rejoin under the same nick is a new join', () => {
    const { first, update, rejoin, old } = rejoined();
    const since = rejoin.result!;
    expect(first.events.map((e) => e.type)).toEqual(['join']);
    expect(update).toEqual({ result: old, events: [] });
    expect(since).not.toBe(old);
    expect(rejoin.events).toEqual([expect.objectContaining({ type: 'join', user, room, nick: 'Alice' })]);
  });

  it('a heal reaches only the identity of the live join once', () => {
    const { old } = rejoined();
    const steps = replayModule(
      [
        join,
        { op: 'notify', user, room, nick: 'Alice', since: '1' },
        { op: 'heal', user, room, nick: 'Alice', since: '1', reply: GONE },
        { op: 'heal', user, room, nick: 'Alice', since: old, reply: GONE },
        { op: 'notify', user, room, nick: 'Alice', since: old },
        { op: 'heal', user, room, nick: 'Alice', since: old, reply: GONE },
      ],
      prosody,
    );
    // The same history gives the same since (the harness's clock).
    expect(steps.map((s) => s.result)).toEqual([old, 'no-session', 'no-session', 'sent', 'no-session', 'no-session']);
  });

  it("a heal's decision follows the join it pinged across a reload", () => {
    const [joined] = replayModule([join], prosody);
    const since = joined!.result!;
    // The seq clock is the harness's, so the same history gives the same since.
    const steps = replayModule(
      [
        join,
        { op: 'heal', user, room, nick: 'Alice', since, reply: '' },
        { op: 'heal', user, room, nick: 'Alice', since },
        { op: 'reload' },
        { op: 'heal', user, room, nick: 'Alice', since, reply: GONE },
        { op: 'notify', user, room, nick: 'Alice', since },
        { op: 'join', user, room, nick: 'Alice' },
      ],
      prosody,
    );
    expect(steps.map((s) => s.result)).toEqual([
      since,
      'relayed',
      'timeout',
      null,
      'sent',
      'no-session',
      expect.any(String),
    ]);
    expect(steps[3]!.events.map((e) => [e.type, e.since])).toEqual([['join', Number(since)]]);
    const before = steps[0]!.events[0]!.epoch!;
    const after = steps[3]!.events[0]!.epoch!;
    expect(before).toBeGreaterThan(0);
    expect(after).toBeGreaterThan(before);
    expect(after).toBeLessThan(steps[3]!.events[0]!.seq);
    expect(steps[4]!.events).toEqual([]); // no leave posted for a join the module's own notification ended
    expect(steps[6]!.events).toEqual([expect.objectContaining({ type: 'join', epoch: after })]);
  });

  it('a session that ends posts a leave under its epoch for each join it tracks', () => {
    const other = 'bob@a.example/desk';
    const steps = replayModule(
      [
        { op: 'join', user, room, nick: 'Alice' },
        { op: 'join', user, room: 'kitchen@muc.c.example', nick: 'Al' },
        { op: 'join', user: other, room, nick: 'Bob' },
        { op: 'leave', user, room: 'kitchen@muc.c.example', nick: 'Al' },
        { op: 'join', user, room: 'hall@muc.c.example', nick: 'Al' },
        { op: 'end', user },
        { op: 'end', user: other },
      ],
      prosody,
    );
    const epoch = steps[0]!.events[0]!.epoch;
    expect(epoch).toBeGreaterThan(0);
    const ended = steps[5]!.events;
    expect(ended.map((e) => [e.type, e.user, e.room]).sort()).toEqual([
      ['leave', user, 'hall@muc.c.example'],
      ['leave', user, room],
    ]);
    for (const e of ended) expect(e.epoch).toBe(epoch);
    expect(steps[6]!.events.map((e) => [e.type, e.user, e.room])).toEqual([['leave', other, room]]);
  });
});
