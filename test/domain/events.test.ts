import { describe, expect, it } from 'vitest';
import { EventError, MAX_SEQ_AHEAD_SECONDS, maxSeqAt, parseBatch, parseEvents } from '../../lib/domain/events';

const body = (...events: unknown[]) => JSON.stringify({ v: 1, events });
const join = {
  type: 'join',
  seq: 10,
  host: 'A.example',
  user: 'Alice@A.example/Phone',
  room: 'Lobby@MUC.b.example',
  nick: 'Alice',
};

describe('parseEvents', () => {
  it('normalizes every event type', () => {
    const events = parseEvents(
      body(
        join,
        { type: 'leave', seq: 11, host: 'a.example', user: 'alice@a.example/Phone', room: 'lobby@muc.b.example' },
        { type: 'session-end', seq: 12, host: 'a.example', user: 'alice@a.example/Phone' },
        { type: 'host-start', seq: 13, host: 'a.example', extra: 'ignored' },
        {
          type: 's2s-close',
          seq: 14,
          host: 'a.example',
          remotes: ['MUC.b.example', 'muc.b.example', 'c.example'],
          direction: 'in',
        },
      ),
    );
    expect(events).toEqual([
      {
        type: 'join',
        seq: 10,
        host: 'a.example',
        user: 'alice@a.example/Phone',
        room: 'lobby@muc.b.example',
        remote: 'muc.b.example',
        nick: 'Alice',
      },
      {
        type: 'leave',
        seq: 11,
        host: 'a.example',
        user: 'alice@a.example/Phone',
        room: 'lobby@muc.b.example',
        remote: 'muc.b.example',
      },
      { type: 'session-end', seq: 12, host: 'a.example', user: 'alice@a.example/Phone' },
      { type: 'host-start', seq: 13, host: 'a.example' },
      { type: 's2s-close', seq: 14, host: 'a.example', remotes: ['muc.b.example', 'c.example'], direction: 'in' },
    ]);
  });

  it('reads an optional epoch on every event (0 when absent)', () => {
    const events = parseEvents(
      body(
        { ...join, epoch: 1_764_075_600_000_000 },
        { type: 'heartbeat', seq: 2, host: 'a.example', epoch: 5 },
        { type: 's2s-close', seq: 3, host: 'a.example', remotes: ['b.example'], direction: 'out', epoch: 5 },
        { ...join, epoch: 0 },
        { ...join, epoch: null },
        join,
      ),
    );
    expect(events.map((e) => e.epoch)).toEqual([1_764_075_600_000_000, 5, 5, undefined, undefined, undefined]);
    expect(events.slice(3).every((e) => !('epoch' in e))).toBe(true);
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
    [
      'bad direction',
      body({ type: 's2s-close', seq: 1, host: 'a.example', remotes: ['b.example'], direction: 'up' }),
      /direction/,
    ],
    ['no remotes', body({ type: 's2s-close', seq: 1, host: 'a.example', remotes: [], direction: 'in' }), /remotes/],
    ['bad host', body({ type: 'host-start', seq: 1, host: 'not a domain' }), /domain/],
    ['negative epoch', body({ ...join, epoch: -1 }), /"epoch" must be a positive integer/],
    ['float epoch', body({ ...join, epoch: 1.5 }), /"epoch"/],
    ['string epoch', body({ ...join, epoch: '7' }), /"epoch"/],
  ])('refuses %s with a clear message', (_name, text, message) => {
    expect(() => parseEvents(text)).toThrow(EventError);
    expect(() => parseEvents(text)).toThrow(message);
  });

  it.each([
    ['NUL in the nick', { ...join, nick: 'a\u0000b' }],
    ['U+0001 in the nick', { ...join, nick: '\u0001' }],
    ['U+001F in the nick', { ...join, nick: 'x\u001f' }],
    ['U+FFFE in the nick', { ...join, nick: '\ufffe' }],
    ['U+FFFF in the nick', { ...join, nick: 'x\uffff' }],
    ['a lone surrogate in the nick', { ...join, nick: 'x\ud83d' }],
    ['a nick of 1025 UTF-8 bytes (513 UTF-16 units)', { ...join, nick: `a${'é'.repeat(512)}` }],
    ['a lone surrogate in the user', { ...join, user: 'alice@a.example/\udfff' }],
    ['U+FFFF in the room', { ...join, room: 'lob\uffffby@muc.b.example' }],
    [
      'a NUL in a remote',
      { type: 's2s-close', seq: 1, host: 'a.example', remotes: ['b.example\u0000'], direction: 'in' },
    ],
  ])('refuses %s (XML 1.0 Char, RFC 7622)', (_name, event) => {
    expect(() => parseEvents(body(event))).toThrow(EventError);
    expect(parseBatch(body(event)).refused).toHaveLength(1);
  });

  it('accepts a nick of exactly 1023 UTF-8 bytes', () => {
    const nick = `a${'é'.repeat(511)}`;
    expect(Buffer.byteLength(nick)).toBe(1023);
    expect(parseEvents(body({ ...join, nick }))[0]).toMatchObject({ nick });
  });

  it('accepts IDN rooms with combining marks and labels with "_"', () => {
    const events = parseEvents(body({ ...join, room: 'chat@संगणक.भारत' }, { ...join, room: 'room@_muc.b.example' }));
    expect(events.map((e) => (e as { room: string }).room)).toEqual(['chat@संगणक.भारत', 'room@_muc.b.example']);
  });

  it('keeps a join\'s "since" (µs, positive, at most seq)', () => {
    expect(parseEvents(body({ ...join, since: 7 }))[0]).toMatchObject({ type: 'join', seq: 10, since: 7 });
    expect(parseEvents(body({ ...join, since: 10 }))[0]).toMatchObject({ since: 10 });
    expect(parseEvents(body({ ...join, since: null }))[0]).not.toHaveProperty('since');
    expect(parseEvents(body(join))[0]).not.toHaveProperty('since');
    for (const since of [0, -1, 1.5, 11, '7', true]) {
      expect(parseBatch(body({ ...join, since })).refused, String(since)).toEqual([
        { index: 0, type: 'join', error: expect.stringMatching(/since/) },
      ]);
    }
  });

  it('validates per event: the valid ones are kept in order, the refused ones reported', () => {
    const batch = parseBatch(
      body(
        join,
        { ...join, user: 'not a jid' },
        { type: 'kick', seq: 1, host: 'a.example' },
        42,
        { type: 7, seq: 1, host: 'a.example' },
        { type: 'host-start', seq: 13, host: 'a.example' },
      ),
    );
    expect(batch.events.map((e) => [e.index, e.event.type])).toEqual([
      [0, 'join'],
      [5, 'host-start'],
    ]);
    expect(batch.refused).toEqual([
      { index: 1, type: 'join', error: expect.stringMatching(/JID/) },
      { index: 2, type: 'kick', error: 'unknown type "kick"' },
      { index: 3, type: null, error: 'must be an object' },
      { index: 4, type: null, error: 'unknown type 7' },
    ]);
  });

  it('refuses, per event, a seq more than 300 s ahead of the clock it is read at', () => {
    const now = Date.UTC(2026, 11, 7, 12);
    const limit = now * 1000 + MAX_SEQ_AHEAD_SECONDS * 1e6;
    expect(maxSeqAt(now)).toBe(limit);
    const batch = parseBatch(
      body(
        { ...join, seq: limit },
        { ...join, seq: limit + 1 },
        { type: 'host-start', seq: now * 1000 + 3_600e6, host: 'a.example' },
        { ...join, seq: now * 1000 - 86_400e6 },
      ),
      now,
    );
    expect(batch.events.map((e) => e.index)).toEqual([0, 3]);
    expect(batch.refused).toEqual([
      {
        index: 1,
        type: 'join',
        error: `"seq" is 301 s ahead of ping-muc's clock (at most 300 s): check the server's clock`,
      },
      { index: 2, type: 'host-start', error: expect.stringMatching(/"seq" is 3600 s ahead/) },
    ]);
    // Read without a clock (tests, tools), any positive seq passes.
    expect(parseBatch(body({ ...join, seq: limit + 1 })).refused).toEqual([]);
  });

  it('bounds what a refusal echoes back', () => {
    const batch = parseBatch(body({ ...join, type: 'x'.repeat(5000), user: 'y'.repeat(5000) }));
    expect(batch.refused[0]!.type!.length).toBeLessThanOrEqual(65);
    expect(batch.refused[0]!.error.length).toBeLessThan(200);
  });

  it('still refuses a bad envelope whole', () => {
    for (const text of [
      '{',
      '[]',
      JSON.stringify({ v: 2, events: [join] }),
      JSON.stringify({ v: 1, events: [] }),
      JSON.stringify({ v: 1, events: Array(501).fill(join) }),
    ]) {
      expect(() => parseBatch(text)).toThrow(EventError);
    }
  });
});
