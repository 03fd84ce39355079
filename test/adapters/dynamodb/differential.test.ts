// The two stores side by side: random histories of every store call (fast-check, pinned seed),
// applied to the DynamoDB store on dynalite and to the in-memory store, must answer alike at
// every step. The contract suite names the rules; this finds the cases it does not name, so that
// the simulator's store is not a fiction. A longer hunt: STORE_DIFF_SEED=<n> STORE_DIFF_RUNS=<n>.
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startDynalite, type RunningDynalite } from '../../support/dynalite';
import { MemoryStore } from '../../../harness/memory-store';
import { ensureTable } from '../../../lib/adapters/dynamodb/table';
import { DynamoStore } from '../../../lib/adapters/dynamodb/store';
import type { Join, Page, Round } from '../../../lib/domain/model';
import type { JoinStore, Overdue, RoundStore } from '../../../lib/ports';

type Store = JoinStore & RoundStore;

const T0 = Date.UTC(2026, 10, 25, 12, 0, 0);
const H = 'a.example';
const USERS = ['u1@a.example/r', 'u2@a.example/r', 'u1@a.example/s'];
const ROOMS = ['r1@b.example', 'r2@b.example', 'r1@c.example'];
const REMOTES = ['b.example', 'c.example'];
const GENS = ['g1', 'g2', 'g3'];
const OWNERS = ['o1', 'o2'];
const STATES: Round['state'][] = ['running', 'waiting', 'done'];

const pick = <T>(xs: readonly T[]) => fc.constantFrom(...xs);
const seq = fc.integer({ min: 1, max: 30 });
const offset = fc.integer({ min: -60_000, max: 120_000 }); // ms around the clock
const EPOCHS = [0, 5, 9];
const joinArb = fc.record({
  epoch: pick(EPOCHS),
  user: pick(USERS),
  room: pick(ROOMS),
  seq,
  since: fc.option(seq, { nil: undefined }),
  nick: pick(['n', 'm']),
  recheck: fc.option(pick(['g1.1', 'g2.1']), { nil: undefined }),
});

const op = fc.oneof(
  fc.record({ op: fc.constant('putJoin' as const), join: joinArb, ttl: fc.constantFrom(10, 3600, 30 * 86_400) }),
  fc.record({ op: fc.constant('leave' as const), epoch: pick(EPOCHS), user: pick(USERS), room: pick(ROOMS), seq }),
  fc.record({ op: fc.constant('beat' as const), host: pick(['a.example', 'c.example']), seq, at: offset }),
  fc.record({ op: fc.constant('beats' as const) }),
  fc.record({ op: fc.constant('deleteJoinIf' as const), join: joinArb }),
  fc.record({ op: fc.constant('markRecheck' as const), join: joinArb, gen: pick(['g1.1', 'g2.2']) }),
  fc.record({
    op: fc.constant('joinsOf' as const),
    epoch: pick(EPOCHS),
    remote: pick(REMOTES),
    limit: fc.integer({ min: 1, max: 3 }),
  }),
  fc.record({
    op: fc.constant('recordClose' as const),
    remote: pick(REMOTES),
    seq,
    at: offset,
    gen: pick(GENS),
    due: offset,
    epoch: pick(EPOCHS),
  }),
  fc.record({ op: fc.constant('pendingClose' as const), remote: pick(REMOTES) }),
  fc.record({
    op: fc.constant('claimRound' as const),
    remote: pick(REMOTES),
    gen: fc.option(pick(GENS), { nil: undefined }), // undefined: the pending window's
    cutoff: seq,
    state: pick(STATES),
    due: fc.option(offset, { nil: undefined }),
  }),
  fc.record({
    op: fc.constant('saveRound' as const),
    remote: pick(REMOTES),
    gen: pick(GENS),
    cutoff: seq,
    pass: fc.integer({ min: 0, max: 2 }),
    state: pick(STATES),
    due: fc.option(offset, { nil: undefined }),
    cursor: fc.option(fc.constant('c'), { nil: undefined }),
  }),
  fc.record({ op: fc.constant('getRound' as const), remote: pick(REMOTES), gen: pick(GENS) }),
  fc.record({ op: fc.constant('roundsOf' as const), remote: pick(REMOTES) }),
  fc.record({
    op: fc.constant('overdue' as const),
    before: offset,
    limit: fc.integer({ min: 1, max: 3 }),
  }),
  fc.record({
    op: fc.constant('leaseRound' as const),
    remote: pick(REMOTES),
    gen: pick(GENS),
    owner: pick(OWNERS),
    until: offset,
  }),
  fc.record({ op: fc.constant('releaseRound' as const), remote: pick(REMOTES), gen: pick(GENS), owner: pick(OWNERS) }),
  fc.record({
    op: fc.constant('leaseServerSlot' as const),
    slots: fc.integer({ min: 1, max: 2 }),
    owner: pick(OWNERS),
    until: offset,
  }),
  fc.record({
    op: fc.constant('releaseServerSlot' as const),
    slots: fc.integer({ min: 1, max: 2 }),
    owner: pick(OWNERS),
  }),
  fc.record({ op: fc.constant('advance' as const), ms: fc.constantFrom(1000, 60_000, 3_600_000, 8 * 86_400_000) }),
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

const toJoin = (j: Extract<Op, { op: 'putJoin' }>['join']): Join => ({
  host: H,
  user: j.user,
  room: j.room,
  nick: j.nick,
  remote: j.room.split('@')[1] as string,
  ...(j.epoch ? { epoch: j.epoch } : {}),
  seq: j.seq,
  ...(j.since !== undefined && j.since <= j.seq ? { since: j.since } : {}),
  ...(j.recheck !== undefined ? { recheck: j.recheck } : {}),
});

async function pages<T>(read: (cursor?: string) => Promise<Page<T>>): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  for (let n = 0; n < 200; n++) {
    const page = await read(cursor);
    out.push(...page.items);
    if (!page.next) return out;
    cursor = page.next;
  }
  throw new Error('paging did not end');
}

/** Overdue items of the same due come in no defined order: compare them sorted by key. */
function normalizeOverdue(items: Overdue[]): Overdue[] {
  for (let i = 1; i < items.length; i++)
    expect((items[i] as Overdue).due).toBeGreaterThanOrEqual((items[i - 1] as Overdue).due);
  const key = (o: Overdue) => `${o.due}|${o.kind}|${o.host}|${o.remote}|${o.gen}`;
  return [...items].sort((a, b) => (key(a) < key(b) ? -1 : 1));
}

/** One call on one store; what it answered (or the error's name). */
async function apply(store: Store, o: Op, now: number): Promise<unknown> {
  const nowS = Math.floor(now / 1000);
  try {
    switch (o.op) {
      case 'putJoin':
        return await store.putJoin(toJoin(o.join), nowS + o.ttl);
      case 'leave': {
        const remote = o.room.split('@')[1] as string;
        return await store.leave({ host: H, epoch: o.epoch, remote, user: o.user, room: o.room }, o.seq, nowS + 86_400);
      }
      case 'beat':
        return await store.beat(o.host, o.seq, now + o.at);
      case 'beats':
        return [...(await store.beats())].sort();
      case 'deleteJoinIf':
        return await store.deleteJoinIf(toJoin(o.join));
      case 'markRecheck':
        return await store.markRecheck(toJoin(o.join), o.gen);
      case 'joinsOf':
        return await pages((c) => store.joinsOf(H, o.epoch, o.remote, o.limit, c));
      case 'recordClose':
        return await store.recordClose(H, o.remote, o.seq, now + o.at, o.gen, now + o.due, o.epoch);
      case 'pendingClose':
        return await store.pendingClose(H, o.remote);
      case 'claimRound': {
        const pending = await store.pendingClose(H, o.remote);
        const gen = o.gen ?? pending?.gen ?? 'g1';
        const round: Round = { host: H, remote: o.remote, gen, cutoffSeq: o.cutoff, pass: 0, state: o.state };
        if (o.due !== undefined) round.due = now + o.due;
        return await store.claimRound(round);
      }
      case 'saveRound': {
        const round: Round = {
          host: H,
          remote: o.remote,
          gen: o.gen,
          cutoffSeq: o.cutoff,
          pass: o.pass,
          state: o.state,
        };
        if (o.due !== undefined) round.due = now + o.due;
        if (o.cursor !== undefined) round.cursor = o.cursor;
        return await store.saveRound(round);
      }
      case 'getRound':
        return await store.getRound(H, o.remote, o.gen);
      case 'roundsOf':
        return await store.roundsOf(H, o.remote);
      case 'overdue':
        return normalizeOverdue(await pages((c) => store.overdue(now + o.before, o.limit, c)));
      case 'leaseRound':
        return await store.leaseRound(H, o.remote, o.gen, o.owner, now + o.until);
      case 'releaseRound':
        return await store.releaseRound(H, o.remote, o.gen, o.owner);
      case 'leaseServerSlot':
        return await store.leaseServerSlot(H, o.slots, o.owner, now + o.until);
      case 'releaseServerSlot':
        return await store.releaseServerSlot(H, o.slots, o.owner);
      case 'advance':
        return undefined;
    }
  } catch (err) {
    return { threw: (err as Error).name };
  }
}

let db: RunningDynalite;
let tableNo = 0;
beforeAll(async () => {
  db = await startDynalite();
});
afterAll(async () => {
  await db?.close();
});

it('both stores answer every random history alike', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), async (ops) => {
      let now = T0;
      const table = `diff-${++tableNo}`;
      await ensureTable(db.client, table);
      const dynamo = new DynamoStore({ client: db.client, table, now: () => now });
      const memory = new MemoryStore(() => now);
      for (const [i, o] of ops.entries()) {
        if (o.op === 'advance') now += o.ms;
        const want = await apply(dynamo, o, now);
        const got = await apply(memory, o, now);
        expect(got, `step ${i}: ${JSON.stringify(o)}`).toEqual(want);
      }
    }),
    { seed: Number(process.env.STORE_DIFF_SEED ?? 17), numRuns: Number(process.env.STORE_DIFF_RUNS ?? 100) },
  );
}, 120_000);
