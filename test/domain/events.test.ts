import { describe, expect, it } from 'vitest';
import { EventError, parseEvents } from '../../lib/domain/events';

const body = (...events: unknown[]) => JSON.stringify({ v: 1, events });
const join = { type: 'join', seq: 10, host: 'A.example', user: 'Alice@A.example/Phone', room: 'Lobby@MUC.b.example', nick: 'Alice' };

describe('parseEvents', () => {
  it('normalizes every event type', () => {
    const events = parseEvents(body(
      join,
      { type: 'leave', seq: 11, host: 'a.example', user: 'alice@a.example/Phone', room: 'lobby@muc.b.example' },
      { type: 'session-end', seq: 12, host: 'a.example', user: 'alice@a.example/Phone' },
      { type: 'host-start', seq: 13, host: 'a.example', extra: 'ignored' },
      { type: 's2s-close', seq: 14, host: 'a.example', remotes: ['MUC.b.example', 'muc.b.example', 'c.example'], direction: 'in' },
    ));
    expect(events).toEqual([
      { type: 'join', seq: 10, host: 'a.example', user: 'alice@a.example/Phone', room: 'lobby@muc.b.example', remote: 'muc.b.example', nick: 'Alice' },
      { type: 'leave', seq: 11, host: 'a.example', user: 'alice@a.example/Phone', room: 'lobby@muc.b.example' },
      { type: 'session-end', seq: 12, host: 'a.example', user: 'alice@a.example/Phone' },
      { type: 'host-start', seq: 13, host: 'a.example' },
      { type: 's2s-close', seq: 14, host: 'a.example', remotes: ['muc.b.example', 'c.example'], direction: 'in' },
    ]);
  });

  it.each([
    ['malformed JSON', '{"v":1,', /malformed JSON/],
    ['not an object', '[1]', /JSON object/],
    ['wrong version', JSON.stringify({ v: 2, events: [join] }), /version/],
    ['no events', JSON.stringify({ v: 1, events: [] }), /non-empty/],
    ['too many events', JSON.stringify({ v: 1, events: Array(501).fill(join) }), /too many/],
    ['unknown type', body({ ...join, type: 'kick' }), /unknown type "kick"/],
    ['missing seq', body({ ...join, seq: undefined }), /seq/],
    ['float seq', body({ ...join, seq: 1.5 }), /seq/],
    ['negative seq', body({ ...join, seq: -1 }), /seq/],
    ['bare user', body({ ...join, user: 'alice@a.example' }), /events\[0\].*full JID/],
    ['user on another host', body({ ...join, user: 'alice@z.example/r' }), /not on host/],
    ['room with nick', body({ ...join, room: 'lobby@muc.b.example/nick' }), /bare JID/],
    ['room on the local host', body({ ...join, room: 'lobby@a.example' }), /local host/],
    ['invalid JID', body({ ...join, user: 'al ice@a.example/r' }), /events\[0\].*localpart/],
    ['missing nick', body({ ...join, nick: '' }), /nick/],
    ['bad direction', body({ type: 's2s-close', seq: 1, host: 'a.example', remotes: ['b.example'], direction: 'up' }), /direction/],
    ['no remotes', body({ type: 's2s-close', seq: 1, host: 'a.example', remotes: [], direction: 'in' }), /remotes/],
    ['bad host', body({ type: 'host-start', seq: 1, host: 'not a domain' }), /domain/],
  ])('refuses %s with a clear message', (_name, text, message) => {
    expect(() => parseEvents(text)).toThrow(EventError);
    expect(() => parseEvents(text)).toThrow(message);
  });
});
