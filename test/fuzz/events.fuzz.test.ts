// Fuzz of the event contract (docs/events.md): hundreds of signed but hostile bodies through
// handleEvents on the in-memory store. No 5xx, no crash; every event the generator made invalid
// is refused and stored nowhere; every valid one is applied.
// Seeds: test/support/seeds.ts (PING_MUC_SEEDS=<seed> replays one).
import { describe, expect, it } from 'vitest';
import { handleEvents } from '../../lib/app/ingest';
import { sign } from '../../lib/domain/signature';
import { ingestDeps, WEBHOOK_KEY } from '../../harness/ingest';
import { MemoryStore } from '../../harness/memory-store';
import { rng } from '../support/rng';
import { seedsOf } from '../support/seeds';

/** Cases per seed (test/support/seeds.ts). */
const CASES = 100;
const HOST = 'a.example';
const REMOTES = ['muc.b.example', 'संगणक.भारत', '_muc.c.example', 'xn--80ak6aa92e.example'];

/** Characters XML 1.0 or RFC 7622 forbid in a nick or a JID. */
const FORBIDDEN = [
  '\u0000',
  '\u0001',
  '\u0008',
  '\u000b',
  '\u001f',
  '\ufffe',
  '\uffff',
  '\ud800',
  '\udfff',
  '\u007f',
  '\u0085',
];
const NICE = [
  'a',
  'Z',
  '9',
  'é',
  'ß',
  'ä',
  'ñ',
  'न',
  'ि',
  '中',
  '😀',
  ' ',
  '-',
  '.',
  "'",
  '"',
  '<',
  '&',
  '/',
  '@',
  '_',
  'İ',
  'ﬁ',
  '\u0301',
];

const TITLE = `${CASES} hostile batches from seed %i: no 5xx, invalid events refused and never stored`;

describe('events fuzz', () => {
  it.for(seedsOf('eventsFuzz'))(TITLE, async (seed) => {
    const r = rng(seed);
    const store = new MemoryStore();
    const deps = ingestDeps(store);
    let seq = Date.now() * 1000;
    let n = 0;
    const text = (len: number, alphabet = NICE) => Array.from({ length: len }, () => r.pick(alphabet)).join('');
    const nick = () => (r.chance(0.05) ? `a${'é'.repeat(511)}` : text(1 + r.int(12)).trim() || 'x');
    /** A valid event of user `u<id>` (so that where it went can be checked). */
    const valid = (id: number): Record<string, unknown> => {
      const user = `u${id}@${r.chance(0.5) ? HOST : HOST.toUpperCase()}/${text(1 + r.int(6)).trim() || 'r'}`;
      const room = `${r.pick(['lobby', 'Room', 'чат', 'x_y'])}${id}@${r.pick(REMOTES)}`;
      const s = ++seq;
      switch (r.int(4)) {
        case 0:
          return { type: 'leave', seq: s, host: HOST, user, room };
        case 1:
          return {
            type: 'join',
            seq: s,
            host: HOST,
            user,
            room,
            nick: nick(),
            since: s - r.int(1000),
            extra: { ignored: true },
          };
        default:
          return { type: 'join', seq: s, host: HOST, user, room, nick: nick() };
      }
    };
    /** Makes a valid join or leave invalid, in one of many ways. */
    const spoil = (e: Record<string, unknown>): Record<string, unknown> => {
      const bad = r.pick(FORBIDDEN);
      const at = (s: string) => {
        const i = r.int(s.length + 1);
        return s.slice(0, i) + bad + s.slice(i);
      };
      const ways: Array<() => Record<string, unknown>> = [
        () => ({ ...e, nick: at(String(e.nick ?? 'n')), type: 'join' }),
        () => ({ ...e, user: at(String(e.user)) }),
        () => ({ ...e, room: at(String(e.room)) }),
        () => ({ ...e, type: 'join', nick: `a${'é'.repeat(512)}` }),
        () => ({ ...e, type: 'join', nick: '' }),
        () => ({ ...e, user: String(e.user).split('/')[0] }),
        () => ({ ...e, user: String(e.user).replace(/@a\.example\//i, '@z.example/') }),
        () => ({ ...e, room: `${String(e.room).split('@')[0]}@${HOST}` }),
        () => ({ ...e, room: `${String(e.room)}/nick` }),
        () => ({ ...e, room: String(e.room).replace('@', '@a..') }),
        () => ({ ...e, user: `${'x'.repeat(1024)}@${HOST}/r` }),
        () => ({ ...e, user: `u@${HOST}/${'é'.repeat(512)}` }),
        () => ({ ...e, seq: r.pick([0, -1, 1.5, '12', null, 2 ** 60, Number.NaN]) }),
        () => ({ ...e, type: r.pick(['kick', '', 'JOIN', 7, null, ['join']]) }),
        () => ({ ...e, type: 'join', nick: 'n', since: r.pick([0, -3, 0.5, Number(e.seq) + 1, '1', {}]) }),
        () => ({ ...e, host: r.pick(['', 'a b', 'a..b', 7, 'x\u0000']) }),
        () => ({ ...e, user: r.pick([42, {}, [], '', null]) }),
        () => ({ ...e, room: 'a@exa mple.org' }),
      ];
      return r.pick(ways)();
    };

    const validUsers = new Set<string>();
    const invalidIds = new Set<number>();
    for (let c = 0; c < CASES; c++) {
      const kind = r.int(20);
      let body: Buffer;
      let envelopeOk = true;
      const events: unknown[] = [];
      const expected: Array<'ok' | 'refused'> = [];
      for (let i = 0, count = 1 + r.int(30); i < count; i++) {
        const id = ++n;
        const e = valid(id);
        if (r.chance(0.4)) {
          events.push(spoil(e));
          expected.push('refused');
          invalidIds.add(id);
        } else {
          events.push(e);
          expected.push('ok');
          if (e.type === 'join') validUsers.add(`u${id}@`);
        }
        if (r.chance(0.05)) {
          // Fences among the events.
          events.push(
            r.pick([
              { type: 's2s-close', seq: ++seq, host: HOST, remotes: [r.pick(REMOTES)], direction: 'in' },
              { type: 'session-end', seq: ++seq, host: HOST, user: `nobody@${HOST}/r` },
            ]),
          );
          expected.push('ok');
        }
      }
      let text = JSON.stringify({ v: 1, events });
      if (kind === 0) {
        // A bad envelope: the whole request is refused.
        envelopeOk = false;
        text = r.pick([
          text.slice(0, r.int(text.length)),
          JSON.stringify({ v: 2, events }),
          JSON.stringify({ v: 1, events: {} }),
          JSON.stringify({ v: 1, events: Array(501).fill(events[0]) }),
          '[]',
          'null',
          '"x"',
          '{"v":1,"events":[]}',
        ]);
      }
      body = Buffer.from(text, 'utf8');
      if (kind === 1) {
        // Bytes that are not UTF-8.
        envelopeOk = false;
        const b = Buffer.from(text, 'utf8');
        b[r.int(b.length)] = r.pick([0x80, 0xff, 0xc0, 0xfe]);
        body = b;
        if (Buffer.from(b.toString('utf8'), 'utf8').equals(b)) continue; // still valid by chance
      }
      const res = await handleEvents(deps, { method: 'POST', headers: { ...sign(WEBHOOK_KEY, body) }, body });
      const where = `case ${c} (PING_MUC_SEEDS=${r.seed}): ${body.toString('utf8').slice(0, 300)}`;
      expect(res.status, where).toBeLessThan(500);
      if (!envelopeOk) {
        // 413 when the bad envelope is also over the size limit (501 large events).
        expect([400, 413], where).toContain(res.status);
        for (const e of events) {
          const m = /^u(\d+)@/.exec(String((e as { user?: unknown }).user ?? ''));
          if (m) {
            invalidIds.add(Number(m[1]));
            validUsers.delete(`u${m[1]}@`);
          }
        }
        continue;
      }
      expect(res.status, where).toBe(200);
      const refused = ((res.body.refused ?? []) as Array<{ index: number; type: unknown; error: string }>).map(
        (x) => x.index,
      );
      const wanted = expected.flatMap((x, i) => (x === 'refused' ? [i] : []));
      const diff = events.filter((_e, i) => refused.includes(i) !== wanted.includes(i));
      expect(diff, `${where}\nmisjudged: ${JSON.stringify(diff)}`).toEqual([]);
      expect(refused, where).toEqual(wanted);
      expect(res.body.applied, where).toBe(events.length - wanted.length);
    }

    // Nothing of an invalid event was stored; every valid join that was not left is there, and
    // everything stored is within the contract.
    const stored = [];
    for (const remote of REMOTES) stored.push(...(await store.joinsOf(HOST, 0, remote, 100_000)).items);
    const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
    for (const j of stored) {
      const id = Number(/^u(\d+)@/.exec(j.user)?.[1]);
      expect(invalidIds.has(id), `stored an invalid event's join: ${JSON.stringify(j)}`).toBe(false);
      expect(/[\u0000-\u001f\u007f-\u009f\ufffe\uffff]|\p{Cs}/u.test(j.user + j.room + j.nick), JSON.stringify(j)).toBe(
        false,
      );
      expect(bytes(j.nick)).toBeLessThanOrEqual(1023);
      expect(j.nick.length).toBeGreaterThan(0);
      expect(j.user.split('@')[1]?.split('/')[0]).toBe(HOST);
      expect(j.room.split('@')[1]).toBe(j.remote);
      expect(Number.isSafeInteger(j.seq) && j.seq > 0).toBe(true);
      if (j.since !== undefined) expect(j.since > 0 && j.since <= j.seq).toBe(true);
    }
    expect(stored.length).toBeGreaterThan(0);
  });
});
