// Issue 19: stale joins never slow a heal. After a server restart its module posts under a new
// epoch; a round of a close of that epoch reads only that epoch's joins, whatever the number of
// joins the old epoch left behind (they are never pinged, read or deleted: they expire).
import { describe, expect, it } from 'vitest';
import { applyEvents } from '../../../lib/app/ingest';
import { parseEvents } from '../../../lib/domain/events';
import { drive, HOST, nextSeq, REMOTE, roundWorld, type RoundWorld } from '../../support/fakes';
import { oneKeyRegistry } from '../../support/registry';

const apply = (w: RoundWorld, events: object[]) =>
  applyEvents({ ...w.deps, hosts: oneKeyRegistry(Buffer.alloc(32)) }, parseEvents(JSON.stringify({ v: 1, events })));

const joinEvent = (i: number, epoch: number, kind: string) => ({
  type: 'join',
  seq: nextSeq(),
  epoch,
  host: HOST,
  user: `${kind}${i}@${HOST}/r`,
  room: `room${i % 50}@${REMOTE}`,
  nick: `${kind}${i}`,
});

describe('a round of a new epoch', () => {
  it('pings only the live joins beside 5,000 stale joins of the old epoch', async () => {
    const w = roundWorld({ PING_MUC_CONCURRENCY: '64' });
    const oldEpoch = nextSeq();
    for (let i = 0; i < 5_000; i += 500)
      await apply(
        w,
        Array.from({ length: 500 }, (_, k) => joinEvent(i + k, oldEpoch, 'stale')),
      );
    // The server restarts: its module resyncs under a new epoch and re-posts its live joins.
    const newEpoch = nextSeq();
    await apply(w, [
      { type: 'host-start', seq: newEpoch, host: HOST, epoch: newEpoch },
      ...Array.from({ length: 20 }, (_, i) => joinEvent(i, newEpoch, 'live')),
    ]);
    const reads: number[] = [];
    const joinsOf = w.store.joinsOf.bind(w.store);
    w.store.joinsOf = async (host, epoch, remote, limit, cursor) => {
      reads.push(epoch);
      return joinsOf(host, epoch, remote, limit, cursor);
    };
    await apply(w, [
      { type: 's2s-close', seq: nextSeq(), host: HOST, epoch: newEpoch, remotes: [REMOTE], direction: 'out' },
    ]);
    await drive(w);
    const pinged = new Set(w.api.pings.map((p) => p.occupant.split('/')[1]));
    expect([...pinged].sort()).toEqual(Array.from({ length: 20 }, (_, i) => `live${i}`).sort());
    expect(reads).toEqual([newEpoch]);
    // The stale joins stay, unread, until they expire.
    expect(w.store.allJoins().filter((j) => j.epoch === oldEpoch)).toHaveLength(5_000);
    expect(w.store.allRounds().map((r) => [r.state, r.epoch])).toEqual([['done', newEpoch]]);
  });

  it('a close of the old epoch (posted before the restart) still reads the old epoch', async () => {
    const w = roundWorld();
    const oldEpoch = nextSeq();
    const first = joinEvent(1, oldEpoch, 'before');
    await apply(w, [first]);
    await apply(w, [
      { type: 's2s-close', seq: nextSeq(), host: HOST, epoch: oldEpoch, remotes: [REMOTE], direction: 'in' },
    ]);
    // A reload re-posts the join under the new epoch, the same join (since = its first seq).
    const newEpoch = nextSeq();
    await apply(w, [{ ...joinEvent(1, newEpoch, 'before'), since: first.seq }]);
    await drive(w);
    expect(w.api.pings.map((p) => p.occupant)).toEqual([`room1@${REMOTE}/before1`]);
    expect(w.store.allRounds()[0]?.epoch).toBe(oldEpoch);
  });
});
