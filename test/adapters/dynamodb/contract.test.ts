// The store contract of lib/ports.ts (JoinStore, RoundStore), run against both stores:
// the DynamoDB store on a real (embedded) dynalite, and the in-memory store that the round's unit
// tests and the simulator trust. What only the DynamoDB store has (its items, request counts,
// key limits, failures) is in store.test.ts.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startDynalite, type RunningDynalite } from '../../support/dynalite';
import { MemoryStore } from '../../../harness/memory-store';
import { ensureTable } from '../../../lib/adapters/dynamodb/table';
import { DynamoStore } from '../../../lib/adapters/dynamodb/store';
import type { Join, JoinKey, Page, Round } from '../../../lib/domain/model';
import type { JoinStore, Overdue, RoundStore } from '../../../lib/ports';

type Store = JoinStore & RoundStore;

/** The key of `user`'s join of `room` (its remote: the room's domain), of epoch `epoch`. */
function keyOf(host: string, user: string, room: string, epoch?: number): JoinKey {
  return { host, user, room, remote: room.split('@')[1] ?? room, ...(epoch ? { epoch } : {}) };
}

const T0 = Date.UTC(2026, 10, 25, 12, 0, 0); // ms
const DAY = 86_400;
const H = 'a.example';
const R = 'b.example';
const USER = 'u@a.example/r';
const ROOM = 'room@b.example';
const DELAY = 20_000;

let db: RunningDynalite;
let tableNo = 0;

const subjects: Array<{ name: string; make: (now: () => number) => Promise<Store> }> = [
  {
    name: 'DynamoStore on dynalite',
    make: async (now) => {
      const table = `contract-${++tableNo}`;
      await ensureTable(db.client, table);
      return new DynamoStore({ client: db.client, table, now });
    },
  },
  { name: 'MemoryStore', make: async (now) => new MemoryStore(now) },
];

beforeAll(async () => {
  db = await startDynalite();
});
afterAll(async () => {
  await db?.close();
});

describe.each(subjects)('$name', ({ make }) => {
  let nowMs: number;
  let store: Store;

  beforeEach(async () => {
    nowMs = T0;
    store = await make(() => nowMs);
  });

  const nowS = () => Math.floor(nowMs / 1000);
  const exp = () => nowS() + 30 * DAY;
  const join = (seq: number, since?: number, nick = 'u'): Join => ({
    host: H,
    user: USER,
    room: ROOM,
    nick,
    remote: R,
    seq,
    ...(since === undefined ? {} : { since }),
  });
  function j(user: string, room: string, seq: number, nick = user.split('@')[0] ?? 'n'): Join {
    const host = user.split('@')[1]?.split('/')[0] ?? 'a.example';
    const remote = room.split('@')[1] ?? room;
    return { host, user, room, nick, remote, seq };
  }
  async function all(host = H, remote = R, limit = 100, epoch = 0): Promise<Join[]> {
    const out: Join[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.joinsOf(host, epoch, remote, limit, cursor);
      out.push(...page.items);
      cursor = page.next;
    } while (cursor);
    return out;
  }
  const joins = () => all();
  const running = (gen: string, cutoffSeq: number, extra: Partial<Round> = {}): Round => ({
    host: H,
    remote: R,
    gen,
    cutoffSeq,
    pass: 0,
    state: 'running',
    ...extra,
  });

  describe('join ordering', () => {
    const room = 'lobby@muc.b.example';
    const user = 'alice@a.example/phone';
    const here = () => all('a.example', 'muc.b.example');

    it('a leave that arrives before an older join wins', async () => {
      await store.leave(keyOf('a.example', user, room), 20, exp());
      await store.putJoin(j(user, room, 10), exp());
      expect(await here()).toEqual([]);
    });

    it('a join no newer than the stored one changes nothing', async () => {
      await store.putJoin(j(user, room, 20, 'New'), exp());
      await store.putJoin(j(user, room, 10, 'Old'), exp());
      await store.putJoin(j(user, room, 20, 'Same'), exp());
      expect(await here()).toEqual([j(user, room, 20, 'New')]);
    });

    it('an older leave after a newer join is ignored', async () => {
      await store.putJoin(j(user, room, 20), exp());
      await store.leave(keyOf('a.example', user, room), 10, exp());
      expect(await here()).toEqual([j(user, room, 20)]);
    });

    it('a join newer than the tombstone re-creates the join', async () => {
      await store.putJoin(j(user, room, 10), exp());
      await store.leave(keyOf('a.example', user, room), 20, exp());
      expect(await here()).toEqual([]);
      await store.putJoin(j(user, room, 30), exp());
      expect(await here()).toEqual([j(user, room, 30)]);
    });

    it('a nick change overwrites the join: one join per full JID per room', async () => {
      await store.putJoin(j(user, room, 10, 'Alice'), exp());
      await store.putJoin(j(user, room, 11, 'Alicia'), exp());
      expect(await here()).toEqual([j(user, room, 11, 'Alicia')]);
    });

    it('a join stored with a recheck mark keeps the mark', async () => {
      await store.putJoin({ ...j(user, room, 10), recheck: 'g1.1' }, exp());
      expect(await here()).toEqual([{ ...j(user, room, 10), recheck: 'g1.1' }]);
    });
  });

  describe('join refresh (since)', () => {
    it('a join without since reads back without it', async () => {
      await store.putJoin(join(10), exp());
      expect(await joins()).toEqual([join(10)]);
      // Its joinedAt is its seq, so since = seq names the same join.
      expect(await store.markRecheck(join(10), 'g1.1')).toBe(true);
      expect(await store.markRecheck(join(10, 10), 'g1.2')).toBe(true);
      expect(await store.deleteJoinIf(join(10, 10))).toBe(true);
    });

    it('a refresh keeps the round marks of the join it updates', async () => {
      await store.putJoin(join(10), exp());
      expect(await store.markRecheck(join(10), 'g1.1')).toBe(true);
      await store.putJoin(join(20, 10, 'renamed'), exp() + 5);
      expect(await joins()).toEqual([{ ...join(20, 10, 'renamed'), recheck: 'g1.1' }]);
    });

    it('a refresh never sets a mark of its own', async () => {
      await store.putJoin(join(10), exp());
      await store.putJoin({ ...join(20, 10), recheck: 'g9.1' }, exp());
      expect(await joins()).toEqual([join(20, 10)]);
    });

    it('an older or equal refresh of the same join changes nothing', async () => {
      await store.putJoin(join(20, 10, 'new'), exp());
      await store.putJoin(join(15, 10, 'old'), exp());
      await store.putJoin(join(20, 10, 'same'), exp());
      expect(await joins()).toEqual([join(20, 10, 'new')]);
    });

    it('a refresh of an older other join (other since) replaces it without its marks', async () => {
      await store.putJoin(join(5), exp());
      expect(await store.markRecheck(join(5), 'g1.1')).toBe(true);
      await store.putJoin(join(20, 10), exp());
      expect(await joins()).toEqual([join(20, 10)]);
    });

    it('a refresh never replaces a newer other join', async () => {
      await store.putJoin(join(30), exp());
      await store.putJoin(join(25, 10), exp());
      expect(await joins()).toEqual([join(30)]);
    });

    it('a refresh with nothing stored creates the join', async () => {
      await store.putJoin(join(20, 10), exp());
      expect(await joins()).toEqual([join(20, 10)]);
    });

    /** The join of seq 10, then its leave at seq 30. */
    const joinedThenLeft = async () => {
      await store.putJoin(join(10), exp());
      await store.leave(keyOf(H, USER, ROOM), 30, exp());
    };

    it('a refresh never revives a newer leave', async () => {
      await joinedThenLeft();
      await store.putJoin(join(20, 10), exp());
      expect(await joins()).toEqual([]);
    });

    it('a refresh newer than the tombstone re-creates the join', async () => {
      await joinedThenLeft();
      await store.putJoin(join(40, 10), exp());
      expect(await joins()).toEqual([join(40, 10)]);
    });
  });

  describe('the same join: deleteJoinIf, markRecheck', () => {
    it('act on a join refreshed since it was read', async () => {
      await store.putJoin(join(10), exp());
      const read = (await joins())[0] as Join;
      await store.putJoin(join(20, 10), exp());
      expect(await store.markRecheck(read, 'g1.1')).toBe(true);
      expect(await store.deleteJoinIf(read)).toBe(true);
      expect(await joins()).toEqual([]);
    });

    it('compare since when the join read was itself a refresh', async () => {
      await store.putJoin(join(20, 10), exp());
      const read = (await joins())[0] as Join;
      expect(read).toEqual(join(20, 10));
      await store.putJoin(join(30, 10), exp());
      expect(await store.markRecheck(read, 'g1.1')).toBe(true);
      expect(await store.deleteJoinIf(read)).toBe(true);
    });

    it('refuse a rejoin (new since) or a leave since the read', async () => {
      await store.putJoin(join(10), exp());
      await store.putJoin(join(20), exp()); // rejoin: a new join
      expect(await store.markRecheck(join(10), 'g1.1')).toBe(false);
      expect(await store.deleteJoinIf(join(10))).toBe(false);
      expect(await joins()).toEqual([join(20)]);

      await store.leave(keyOf(H, USER, ROOM), 30, exp());
      expect(await store.markRecheck(join(30), 'g1.1')).toBe(false);
      expect(await store.deleteJoinIf(join(30))).toBe(false);
      // The tombstone stays: an older join is still refused.
      await store.putJoin(join(25), exp());
      expect(await joins()).toEqual([]);
    });

    /** The join of seq 10, marked for re-check g1. */
    const marked = async () => {
      await store.putJoin(join(10), exp());
      await store.markRecheck(join(10), 'g1');
      return { ...join(10), recheck: 'g1' };
    };

    it('markRecheck marks only an unchanged join', async () => {
      await store.putJoin(join(10), exp());
      expect(await store.markRecheck(join(9), 'g1')).toBe(false);
      expect(await store.markRecheck(join(10), 'g1')).toBe(true);
      expect(await joins()).toEqual([{ ...join(10), recheck: 'g1' }]);
    });

    it('deleteJoinIf deletes once', async () => {
      const read = await marked();
      expect(await store.deleteJoinIf(read)).toBe(true);
      expect(await store.deleteJoinIf(join(10))).toBe(false);
    });

    it('markRecheck never marks a missing join', async () => {
      await store.deleteJoinIf(await marked());
      expect(await store.markRecheck(join(10), 'g1')).toBe(false);
      expect(await joins()).toEqual([]);
    });
  });

  describe('joinsOf', () => {
    /** Nine joins of b.example from a.example, and joins of other links around them; returns the nine. */
    const seedLinks = async () => {
      const wanted: Join[] = [];
      let seq = 1;
      for (const room of ['a@b.example', 'z@b.example', 'm@b.example']) {
        for (const user of ['x@a.example/1', 'y@a.example/2', 'x@a.example/3']) {
          const one = j(user, room, seq++);
          wanted.push(one);
          await store.putJoin(one, exp());
        }
      }
      await store.putJoin(j('x@a.example/1', 'a@b.example.org', seq++), exp());
      await store.putJoin(j('x@a.example/1', 'a@xb.example', seq++), exp());
      await store.putJoin(j('x@a.example/1', 'a@b.exampl', seq++), exp());
      await store.putJoin(j('x@other.example/1', 'a@b.example', seq++), exp());
      await store.leave(keyOf('a.example', 'gone@a.example/1', 'a@b.example'), seq++, exp());
      return wanted;
    };

    it('pages over one remote in a stable order', async () => {
      const wanted = await seedLinks();
      const walk = async () => {
        const pages: Join[][] = [];
        let cursor: string | undefined;
        do {
          const page = await store.joinsOf('a.example', 0, 'b.example', 2, cursor);
          expect(page.items.length).toBeLessThanOrEqual(2);
          pages.push(page.items);
          cursor = page.next;
        } while (cursor);
        return pages;
      };
      const pages = await walk();
      expect(pages.length).toBeGreaterThanOrEqual(5);
      const order = (x: Join) => `${x.room}|${x.user}`;
      expect(pages.flat()).toEqual([...wanted].sort((p, q) => (order(p) < order(q) ? -1 : 1)));
      expect(await walk()).toEqual(pages);
    });

    it('keeps the joins of other links out of a remote’s pages', async () => {
      await seedLinks();
      expect(await all('a.example', 'b.example.org')).toHaveLength(1);
      expect(await all('a.example', 'xb.example')).toHaveLength(1);
      expect(await all('other.example', 'b.example')).toHaveLength(1);
      expect(await all('nobody.example', 'b.example')).toEqual([]);
    });

    it('resumes after the last join read despite writes between pages', async () => {
      for (const room of ['b@b.example', 'd@b.example', 'f@b.example', 'h@b.example'])
        await store.putJoin(j(USER, room, 10), exp());
      const first = await store.joinsOf(H, 0, R, 2);
      expect(first.items.map((x) => x.room)).toEqual(['b@b.example', 'd@b.example']);
      // A round deletes one join it read, and new joins land before and after the cursor.
      expect(await store.deleteJoinIf(j(USER, 'b@b.example', 10))).toBe(true);
      await store.putJoin(j(USER, 'a@b.example', 20), exp());
      await store.putJoin(j(USER, 'c@b.example', 20), exp());
      await store.putJoin(j(USER, 'g@b.example', 20), exp());
      const rest: string[] = [];
      let cursor = first.next;
      while (cursor) {
        const page = await store.joinsOf(H, 0, R, 2, cursor);
        rest.push(...page.items.map((x) => x.room));
        cursor = page.next;
      }
      expect(rest).toEqual(['f@b.example', 'g@b.example', 'h@b.example']);
    });

    it('refuses a malformed or foreign cursor', async () => {
      for (let i = 0; i < 3; i++) await store.putJoin(j(`u${i}@a.example/r`, 'room@b.example', i + 1), exp());
      const first = await store.joinsOf(H, 0, R, 1);
      const next = first.next as string;
      expect(next).toBeDefined();
      await expect(store.joinsOf(H, 0, R, 1, 'bm90IGEgY3Vyc29y')).rejects.toThrow(/invalid store cursor/);
      await expect(store.joinsOf(H, 0, 'c.example', 1, next)).rejects.toThrow(/invalid store cursor/);
      await expect(store.joinsOf('z.example', 0, R, 1, next)).rejects.toThrow(/invalid store cursor/);
      expect((await store.joinsOf(H, 0, R, 5, next)).items).toHaveLength(2);
    });

    it('refuses a limit below 1', async () => {
      await expect(store.joinsOf(H, 0, R, 0)).rejects.toThrow(RangeError);
    });
  });

  describe('epochs', () => {
    const E1 = 1_000;
    const E2 = 2_000;
    it('a round reads only the joins of its epoch', async () => {
      await store.putJoin({ ...join(10), epoch: E1 }, exp());
      await store.putJoin(j('v@a.example/r', ROOM, 11), exp());
      await store.putJoin({ ...join(20, 10), epoch: E2 }, exp());
      expect(await all(H, R, 100, E1)).toEqual([{ ...join(10), epoch: E1 }]);
      expect(await all(H, R, 100, E2)).toEqual([{ ...join(20, 10), epoch: E2 }]);
      expect(await all(H, R, 100, 0)).toEqual([j('v@a.example/r', ROOM, 11)]);
      expect(await all(H, R, 100, 3_000)).toEqual([]);
      // A leave of one epoch leaves the others alone, and refuses an older join of its own.
      await store.leave(keyOf(H, USER, ROOM, E2), 30, exp());
      await store.putJoin({ ...join(25, 10), epoch: E2 }, exp());
      expect(await all(H, R, 100, E2)).toEqual([]);
      expect(await all(H, R, 100, E1)).toHaveLength(1);
      // A round's writes act on the epoch of the join it read.
      const [read] = await all(H, R, 100, E1);
      expect(await store.markRecheck(read as Join, 'g.1')).toBe(true);
      expect((await all(H, R, 100, E1))[0]?.recheck).toBe('g.1');
      expect(await store.deleteJoinIf({ ...(read as Join), epoch: E2 })).toBe(false);
      expect(await store.deleteJoinIf(read as Join)).toBe(true);
      expect(await all(H, R, 100, E1)).toEqual([]);
    });

    it('a cursor of one epoch is refused by another', async () => {
      for (let i = 0; i < 3; i++) await store.putJoin({ ...j(`u${i}@a.example/r`, ROOM, i + 1), epoch: E1 }, exp());
      const first = await store.joinsOf(H, E1, R, 1);
      await expect(store.joinsOf(H, E2, R, 1, first.next)).rejects.toThrow(/invalid store cursor/);
      expect((await store.joinsOf(H, E1, R, 5, first.next)).items).toHaveLength(2);
    });

    it('a claimed round keeps the epoch of the window’s last close', async () => {
      await store.recordClose(H, R, 100, T0, 'g1', T0 + DELAY, E1);
      expect((await store.pendingClose(H, R))?.epoch).toBe(E1);
      await store.recordClose(H, R, 102, T0 + 1, 'g2', T0 + 1 + DELAY, E2);
      expect((await store.pendingClose(H, R))?.epoch).toBe(E2);
      // An older close (of the old epoch) arriving late changes nothing.
      await store.recordClose(H, R, 101, T0 + 2, 'g3', T0 + 2 + DELAY, E1);
      expect(await store.pendingClose(H, R)).toEqual({ gen: 'g1', lastCloseAt: T0 + 1, lastCloseSeq: 102, epoch: E2 });
      expect(await store.claimRound(running('g1', 102, { epoch: E2 }))).toBe(true);
      expect(await store.getRound(H, R, 'g1')).toEqual(running('g1', 102, { epoch: E2 }));
      // A close without an epoch: 0.
      await store.recordClose(H, R, 200, T0 + 3, 'g4', T0 + 3 + DELAY);
      expect((await store.pendingClose(H, R))?.epoch).toBe(0);
    });
  });

  describe('heartbeats', () => {
    it('keeps the newest beat of each host', async () => {
      expect(await store.beats()).toEqual(new Map());
      await store.beat('a.example', 10, T0);
      await store.beat('c.example', 10, T0 + 5);
      await store.beat('a.example', 20, T0 + 60_000);
      // An older or equal seq (a retried or late request) changes nothing.
      await store.beat('a.example', 15, T0 + 90_000);
      await store.beat('a.example', 20, T0 + 90_000);
      expect(await store.beats()).toEqual(
        new Map([
          ['a.example', T0 + 60_000],
          ['c.example', T0 + 5],
        ]),
      );
    });
  });

  describe('expiry', () => {
    it('hides every expired item from every read', async () => {
      await store.putJoin(j('old@a.example/r', 'room@b.example', 1), nowS() + 10);
      await store.putJoin(j('new@a.example/r', 'room@b.example', 2), nowS() + 1000);
      await store.recordClose(H, R, 5, nowMs, 'g1', nowMs + DELAY);
      await store.saveRound({ ...running('g0', 1), state: 'waiting', due: nowMs + 60_000 });
      expect(await joins()).toHaveLength(2);

      nowMs += 11_000;
      expect((await joins()).map((x) => x.user)).toEqual(['new@a.example/r']);

      nowMs += 8 * DAY * 1000;
      expect(await joins()).toEqual([]);
      expect(await store.pendingClose(H, R)).toBeUndefined();
      expect(await store.getRound(H, R, 'g0')).toBeUndefined();
      expect(await store.roundsOf(H, R)).toEqual([]);
      expect(await overdueAll(nowMs)).toEqual([]);
    });

    it('never returns a tombstone as a join', async () => {
      await store.leave(keyOf(H, USER, ROOM), 20, nowS() + 60);
      await store.putJoin(join(10), exp());
      expect(await joins()).toEqual([]);
    });
  });

  describe('lost links: recordClose and claimRound', () => {
    it('keeps one pending window per link from its first close to its claim', async () => {
      expect(await store.pendingClose(H, R)).toBeUndefined();
      expect(await store.recordClose(H, R, 100, T0, 'g1', T0 + DELAY)).toEqual({
        gen: 'g1',
        opened: true,
        lastCloseAt: T0,
      });
      // The other direction of the same link, a bit later: same window, pushed back.
      expect(await store.recordClose(H, R, 101, T0 + 500, 'g2', T0 + 500 + DELAY)).toEqual({
        gen: 'g1',
        opened: false,
        lastCloseAt: T0 + 500,
      });
      // The same close again (a retry after a lost answer).
      expect(await store.recordClose(H, R, 101, T0 + 900, 'g3', T0 + 900 + DELAY)).toEqual({
        gen: 'g1',
        opened: false,
        lastCloseAt: T0 + 500,
      });
      // Not recorded (older).
      expect(await store.recordClose(H, R, 99, T0 + 900, 'g4', T0 + 900 + DELAY)).toEqual({
        gen: 'g1',
        opened: false,
        lastCloseAt: T0 + 500,
      });
      expect(await store.pendingClose(H, R)).toEqual({ gen: 'g1', lastCloseAt: T0 + 500, lastCloseSeq: 101, epoch: 0 });
      expect((await store.recordClose(H, 'c.example', 100, T0, 'g9', T0 + DELAY)).opened).toBe(true);

      // A claim of a stale cutoff (a close came after it was read) fails, but the round is saved anyway.
      expect(await store.claimRound(running('g1', 100))).toBe(false);
      expect(await store.getRound(H, R, 'g1')).toEqual(running('g1', 100));
      expect(await store.claimRound(running('gX', 101))).toBe(false);
      expect(await store.claimRound(running('g1', 101))).toBe(true);
      expect(await store.pendingClose(H, R)).toBeUndefined();
      expect(await store.claimRound(running('g1', 101))).toBe(false);

      // A close at or below the claimed cutoff belongs to the claimed round.
      const late = await store.recordClose(H, R, 101, T0 + 1000, 'g5', T0 + 1000 + DELAY);
      expect(late).toEqual({ gen: undefined, opened: false, lastCloseAt: T0 + 1000 });
      expect(await store.pendingClose(H, R)).toBeUndefined();
      // A later close opens a new window, with nothing before it.
      expect(await store.recordClose(H, R, 200, T0 + 60_000, 'g6', T0 + 60_000 + DELAY)).toEqual({
        gen: 'g6',
        opened: true,
        lastCloseAt: T0 + 60_000,
      });
      expect(await store.pendingClose(H, R)).toEqual({
        gen: 'g6',
        lastCloseAt: T0 + 60_000,
        lastCloseSeq: 200,
        epoch: 0,
      });
    });

    it('a retry of the opening close with the same gen reports opened again', async () => {
      expect((await store.recordClose(H, R, 100, T0, 'g1', T0 + DELAY)).opened).toBe(true);
      expect((await store.recordClose(H, R, 101, T0 + 1, 'g1', T0 + 1 + DELAY)).opened).toBe(true);
    });

    it('claimRound claims the window without overwriting a round of the same or a higher cutoff', async () => {
      const base = running('g1', 101, { due: T0 + 90_000 });
      await store.recordClose(H, R, 101, T0, 'g1', T0 + DELAY);
      const progress: Round = { ...base, cursor: 'page-7', marked: 2 };
      await store.saveRound(progress);
      expect(await store.claimRound(base)).toBe(true);
      expect(await store.getRound(H, R, 'g1')).toEqual(progress);
      expect(await store.claimRound({ ...base, cutoffSeq: 100 })).toBe(false);
      expect(await store.getRound(H, R, 'g1')).toEqual(progress);
    });

    it('claimRound fails for a close recorded after its read even within the same millisecond', async () => {
      await store.recordClose(H, R, 100, T0, 'g1', T0 + DELAY);
      await store.recordClose(H, R, 101, T0, 'g1', T0 + DELAY);
      expect(await store.claimRound(running('g1', 100))).toBe(false);
      expect(await store.claimRound(running('g1', 101))).toBe(true);
    });

    it('claimRound replaces a stored round of a lower cutoff', async () => {
      await store.saveRound(running('g1', 50, { cursor: 'old' }));
      await store.recordClose(H, R, 101, T0, 'g1', T0 + DELAY);
      expect(await store.claimRound(running('g1', 101))).toBe(true);
      expect(await store.getRound(H, R, 'g1')).toEqual(running('g1', 101));
    });
  });

  describe('rounds: every field persisted', () => {
    /** A waiting round with every optional field set. */
    const fullRound = (): Round => ({
      ...running('g1', 7),
      pass: 1,
      cursor: 'c',
      marked: 3,
      notBefore: T0 + 90_000,
      due: T0 + 90_000,
      probe: { user: `u@${H}/r`, occupant: `room@${R}/u`, since: 5 },
      state: 'waiting',
    });

    it('keeps every Round field through a save', async () => {
      const round = fullRound();
      await store.saveRound(round);
      expect(await store.getRound(H, R, 'g1')).toEqual(round);
      expect(await store.roundsOf(H, R)).toEqual([round]);
    });

    it('drops a field the next save leaves out', async () => {
      const round = fullRound();
      await store.saveRound(round);
      const { cursor: _c, probe: _p, notBefore: _n, ...bare } = round;
      await store.saveRound({ ...bare, state: 'running', due: T0 + 30_000 });
      expect(await store.getRound(H, R, 'g1')).toEqual({ ...bare, state: 'running', due: T0 + 30_000 });
      expect(await store.getRound(H, R, 'g2')).toBeUndefined();
    });

    it('a stored round is a copy: changing the caller’s object changes nothing', async () => {
      const round: Round = { ...running('g1', 7), probe: { user: 'u', occupant: 'o', since: 5 } };
      await store.saveRound(round);
      round.pass = 5;
      (round.probe as { user: string }).user = 'changed';
      expect(await store.getRound(H, R, 'g1')).toEqual({
        ...running('g1', 7),
        probe: { user: 'u', occupant: 'o', since: 5 },
      });
    });

    it('a done round keeps no due', async () => {
      await store.saveRound(running('g1', 7, { due: T0 + 1000 }));
      await store.saveRound(running('g1', 7, { state: 'done', due: T0 + 1000 }));
      expect(await store.getRound(H, R, 'g1')).toEqual(running('g1', 7, { state: 'done' }));
      expect(await store.roundsOf(H, R)).toEqual([running('g1', 7, { state: 'done' })]);
    });

    it('roundsOf reads the stored rounds of one link only', async () => {
      await store.saveRound(running('g1', 7, { state: 'waiting' }));
      await store.saveRound(running('g2', 8, { state: 'done' }));
      await store.saveRound({ ...running('g3', 9), remote: 'other.example' });
      expect((await store.roundsOf(H, R)).map((r) => r.gen).sort()).toEqual(['g1', 'g2']);
    });
  });

  async function overdueAll(before: number, limit = 100): Promise<Overdue[]> {
    const out: Overdue[] = [];
    let cursor: string | undefined;
    for (let pages = 0; ; pages++) {
      expect(pages).toBeLessThan(1000);
      const page: Page<Overdue> = await store.overdue(before, limit, cursor);
      expect(page.items.length).toBeLessThanOrEqual(limit);
      out.push(...page.items);
      if (!page.next) return out;
      cursor = page.next;
    }
  }

  describe('due and overdue', () => {
    const window = (due: number): Overdue => ({ kind: 'window', host: H, remote: R, gen: 'g1', due });
    const openWindow = () => store.recordClose(H, R, 100, T0, 'g1', T0 + DELAY);

    it('a pending window is overdue strictly past its due', async () => {
      await openWindow();
      expect(await overdueAll(T0 + DELAY)).toEqual([]);
      expect(await overdueAll(T0 + DELAY + 1)).toEqual([window(T0 + DELAY)]);
    });

    it('a pending window keeps the due of its last recorded close', async () => {
      await openWindow();
      // A later close moves it, even to an earlier due.
      await store.recordClose(H, R, 101, T0 + 500, 'g2', T0 + 500 + DELAY);
      expect(await overdueAll(T0 + DELAY + 1)).toEqual([]);
      expect(await overdueAll(T0 + 500 + DELAY + 1)).toEqual([window(T0 + 500 + DELAY)]);
      await store.recordClose(H, R, 102, T0 + 600, 'g3', T0 + 100);
      expect(await overdueAll(T0 + 101)).toEqual([window(T0 + 100)]);
      // A close not recorded (older, or a retry) leaves it.
      await store.recordClose(H, R, 102, T0 + 600, 'g3', T0 + 9_000_000);
      await store.recordClose(H, R, 50, T0 + 700, 'g4', T0 + 9_000_000);
      expect(await overdueAll(T0 + 101)).toEqual([window(T0 + 100)]);
    });

    it('a claimed window is overdue only as the round it became', async () => {
      await store.recordClose(H, R, 100, T0, 'g1', T0 + DELAY);
      expect(await store.claimRound(running('g1', 100, { due: T0 + DELAY + 60_000 }))).toBe(true);
      expect(await overdueAll(T0 + DELAY + 60_000)).toEqual([]);
      expect(await overdueAll(T0 + DELAY + 60_001)).toEqual([
        { kind: 'round', host: H, remote: R, gen: 'g1', pass: 0, due: T0 + DELAY + 60_000 },
      ]);
      // A claim refused (a newer close moved the window) leaves the window overdue.
      await store.recordClose(H, R, 200, T0 + 100_000, 'g2', T0 + 100_000 + DELAY);
      expect(await store.claimRound(running('g2', 150, { due: T0 + 500_000 }))).toBe(false);
      expect((await overdueAll(T0 + 1_000_000)).map((o) => `${o.kind} ${o.gen}`)).toEqual([
        'round g1',
        'window g2',
        'round g2',
      ]);
    });

    it('lists the rounds that have a due in order of due', async () => {
      await store.saveRound(running('g1', 1, { due: T0 + 3000, pass: 2 }));
      await store.saveRound(running('g2', 2, { state: 'waiting', notBefore: T0 + 1000, due: T0 + 1000, pass: 1 }));
      await store.saveRound(running('g3', 3, { state: 'done', due: T0 }));
      await store.saveRound(running('g4', 4)); // no due
      expect(await overdueAll(T0 + 10_000)).toEqual([
        { kind: 'round', host: H, remote: R, gen: 'g2', pass: 1, due: T0 + 1000 },
        { kind: 'round', host: H, remote: R, gen: 'g1', pass: 2, due: T0 + 3000 },
      ]);
      // A round that finishes leaves; one saved with a later due moves.
      await store.saveRound(running('g1', 1, { state: 'done', pass: 2 }));
      await store.saveRound(running('g2', 2, { due: T0 + 20_000, pass: 1 }));
      expect(await overdueAll(T0 + 10_000)).toEqual([]);
      expect(await overdueAll(T0 + 20_001)).toEqual([
        { kind: 'round', host: H, remote: R, gen: 'g2', pass: 1, due: T0 + 20_000 },
      ]);
    });

    it('pages all overdue work oldest first at any page size', async () => {
      const expected: Overdue[] = [];
      // Distinct dues, in an order unrelated to the links, over many (host, remote) pairs.
      for (let i = 0; i < 40; i++) {
        const host = `h${i % 5}.example`;
        const remote = `r${i}.example`;
        const due = T0 + ((i * 7919) % 40) * 1000;
        if (i % 2 === 0) {
          await store.recordClose(host, remote, 100, T0, `w${i}`, due);
          expected.push({ kind: 'window', host, remote, gen: `w${i}`, due });
        } else {
          await store.saveRound({ host, remote, gen: `r${i}`, cutoffSeq: 1, pass: i % 3, state: 'running', due });
          expected.push({ kind: 'round', host, remote, gen: `r${i}`, pass: i % 3, due });
        }
      }
      // Not overdue yet, done, claimed: never listed.
      await store.recordClose(H, R, 100, T0, 'late', T0 + 1_000_000);
      await store.saveRound(running('done', 1, { state: 'done', due: T0 }));
      await store.recordClose(H, 'claimed.example', 100, T0, 'c1', T0);
      await store.claimRound({ ...running('c1', 100), remote: 'claimed.example', state: 'done' });
      expected.sort((a, b) => a.due - b.due);
      const before = T0 + 100_000;
      expect(await overdueAll(before)).toEqual(expected);
      for (const limit of [1, 3, 7, 40]) expect(await overdueAll(before, limit)).toEqual(expected);
      // Only what is due before `before`.
      expect(await overdueAll(T0 + 10_000, 4)).toEqual(expected.filter((o) => o.due < T0 + 10_000));
    });

    it('a page resumes after its last item despite changes in between', async () => {
      for (let i = 0; i < 6; i++) await store.recordClose(H, `r${i}.example`, 100, T0, `w${i}`, T0 + i * 1000);
      const first = await store.overdue(T0 + 100_000, 3);
      expect(first.items.map((o) => o.gen)).toEqual(['w0', 'w1', 'w2']);
      // The reconciler's work lands meanwhile: a window read is claimed, one not yet read too.
      expect(await store.claimRound({ ...running('w1', 100), remote: 'r1.example', state: 'done' })).toBe(true);
      expect(await store.claimRound({ ...running('w4', 100), remote: 'r4.example', state: 'done' })).toBe(true);
      const rest: string[] = [];
      let cursor = first.next;
      while (cursor) {
        const page = await store.overdue(T0 + 100_000, 3, cursor);
        rest.push(...page.items.map((o) => o.gen));
        cursor = page.next;
      }
      expect(rest).toEqual(['w3', 'w5']);
    });

    it('refuses a malformed cursor', async () => {
      await expect(store.overdue(T0, 10, 'bm90IGEgY3Vyc29y')).rejects.toThrow(/invalid store cursor/);
    });

    it('refuses a limit below 1', async () => {
      await expect(store.overdue(T0, 0)).rejects.toThrow(RangeError);
    });

    it('answers an empty page when nothing is overdue', async () => {
      expect(await store.overdue(T0, 10)).toEqual({ items: [] });
    });
  });

  describe('leases', () => {
    const until = (s: number) => T0 + s * 1000;

    it('a round lease is held by one owner until it ends or is released', async () => {
      expect(await store.leaseRound(H, R, 'g1', 'a', until(60))).toBeUndefined();
      expect(await store.leaseRound(H, R, 'g1', 'b', until(90))).toBe(until(60));
      expect(await store.leaseRound(H, R, 'g1', 'a', until(120))).toBeUndefined(); // renewal
      expect(await store.leaseRound(H, R, 'g2', 'b', until(90))).toBeUndefined();
      await store.releaseRound(H, R, 'g1', 'b'); // not b's: stays
      expect(await store.leaseRound(H, R, 'g1', 'b', until(90))).toBe(until(120));
      await store.releaseRound(H, R, 'g1', 'a');
      expect(await store.leaseRound(H, R, 'g1', 'b', until(90))).toBeUndefined();
      nowMs = until(91);
      expect(await store.leaseRound(H, R, 'g1', 'c', until(200))).toBeUndefined();
    });

    it('hands out at most `slots` server slots per host telling a refused caller when the first ends', async () => {
      expect(await store.leaseServerSlot(H, 2, 'a', until(60))).toBeUndefined();
      expect(await store.leaseServerSlot(H, 2, 'b', until(30))).toBeUndefined();
      expect(await store.leaseServerSlot(H, 2, 'c', until(90))).toBe(until(30));
      expect(await store.leaseServerSlot('other.example', 2, 'c', until(90))).toBeUndefined();
      expect(await store.leaseServerSlot(H, 3, 'b', until(120))).toBeUndefined();
      expect(await store.leaseServerSlot(H, 2, 'c', until(90))).toBe(until(60));
      await store.releaseServerSlot(H, 2, 'nobody');
      expect(await store.leaseServerSlot(H, 2, 'c', until(90))).toBe(until(60));
      await store.releaseServerSlot(H, 2, 'a');
      expect(await store.leaseServerSlot(H, 2, 'c', until(90))).toBeUndefined();
      expect(await store.leaseServerSlot(H, 2, 'd', until(90))).toBe(until(90));
      nowMs = until(100);
      expect(await store.leaseServerSlot(H, 2, 'd', until(200))).toBeUndefined();
      await expect(store.leaseServerSlot(H, 0, 'e', until(200))).rejects.toThrow(RangeError);
    });

    it('a holder holds at most one slot from its lease to its release', async () => {
      expect(await store.leaseServerSlot(H, 2, 'a', until(60))).toBeUndefined();
      expect(await store.leaseServerSlot(H, 2, 'b', until(60))).toBeUndefined();
      await store.releaseServerSlot(H, 2, 'a'); // slot 0 frees; b holds slot 1
      expect(await store.leaseServerSlot(H, 2, 'b', until(90))).toBeUndefined(); // renews slot 1
      expect(await store.leaseServerSlot(H, 2, 'c', until(60))).toBeUndefined(); // slot 0 was still free
      expect(await store.leaseServerSlot(H, 2, 'd', until(60))).toBe(until(60));
      // b's slot 1 is released even when asked with slots = 1.
      await store.releaseServerSlot(H, 1, 'b');
      expect(await store.leaseServerSlot(H, 2, 'd', until(60))).toBeUndefined();
    });
  });
});
