// Correctness H3 (regression): the first page read ahead by a start job woken early is used only
// for the close the round claims. A later close moves the cutoff past joins that page may not
// have: the pass reads the page again, and a join made before the window's last close is pinged.
import { expect, it } from 'vitest';
import { runRound } from '../../../lib/app/round';
import { closeLink, drive, HOST, nextSeq, REMOTE, roundWorld, seedJoins } from '../../support/fakes';

const newcomer = { user: `late@${HOST}/r`, room: `aaa@${REMOTE}`, nick: 'late' };
const late = `${newcomer.room}/${newcomer.nick}`;

it('a join made after the read-ahead but before the last close of the window is pinged', async () => {
  const w = roundWorld();
  const old = await seedJoins(w, 2);
  await closeLink(w); // close 1
  const [start] = [...w.scheduler.pending.values()];
  w.scheduler.pending.clear();
  const due = start!.at;
  const expires = Math.floor(w.clock.now() / 1000) + 86_400;
  // Delivered 30 s early, the start is armed again for LINK_LEAD_MS before its due time; that
  // invocation's one sleep is the lead (the read-ahead done just before it).
  const sleep = w.clock.sleep;
  let n = 0;
  w.clock.sleep = async (ms: number) => {
    n++;
    if (n === 1) {
      const wake = w.clock.now() + ms;
      await new Promise((r) => setImmediate(r)); // the read-ahead is done
      // Within the lead: the link comes up, a user joins a room there, the link closes again.
      w.clock.advance(500);
      await w.store.putJoin({ host: HOST, ...newcomer, remote: REMOTE, seq: nextSeq() }, expires);
      w.clock.advance(500);
      await closeLink(w); // close 2: the window's last close, after the join
      return sleep(wake - w.clock.now());
    }
    return sleep(ms);
  };
  for (const o of [...old.map((j) => j.occupant), late]) w.api.answers.set(o, 'not-acceptable');
  w.clock.t = due - 30_000; // delivered 30 s early
  await runRound(w.deps, start!.job);
  await drive(w);
  const round = w.store.allRounds()[0]!;
  expect(round.state).toBe('done');
  expect(w.store.joinOf(newcomer.user, newcomer.room)!.seq).toBeLessThan(round.cutoffSeq);
  expect(w.api.pings.map((p) => p.occupant)).toContain(late);
  expect(w.api.notifications).toHaveLength(3);
});

it('the same with a close while a postponed start reads ahead', async () => {
  const w = roundWorld();
  const old = await seedJoins(w, 2);
  const t0 = w.clock.now();
  await closeLink(w); // close 1 at t0: start due t0 + 60 s
  const [start] = [...w.scheduler.pending.values()];
  w.scheduler.pending.clear();
  w.clock.t = t0 + 30_000;
  await closeLink(w); // close 2 at t0 + 30 s (joins the window: due t0 + 90 s)
  const expires = Math.floor(w.clock.now() / 1000) + 86_400;
  const sleep = w.clock.sleep;
  let n = 0;
  w.clock.sleep = async (ms: number) => {
    n++;
    if (n === 1) {
      // The lead of the start delivered for t0 + 60 s: a join, then close 3, before claim finds
      // the window moved to t0 + 90 s (and then to close 3 + 60 s).
      const wake = w.clock.now() + ms;
      await new Promise((r) => setImmediate(r)); // the read-ahead is done
      w.clock.advance(400);
      await w.store.putJoin({ host: HOST, ...newcomer, remote: REMOTE, seq: nextSeq() }, expires);
      w.clock.advance(400);
      await closeLink(w);
      return sleep(wake - w.clock.now());
    }
    return sleep(ms);
  };
  for (const o of [...old.map((j) => j.occupant), late]) w.api.answers.set(o, 'not-acceptable');
  w.clock.t = start!.at; // the start job, LINK_LEAD_MS before t0 + 60 s
  await runRound(w.deps, start!.job);
  await drive(w);
  const round = w.store.allRounds()[0]!;
  expect(round.state).toBe('done');
  expect(w.store.joinOf(newcomer.user, newcomer.room)!.seq).toBeLessThan(round.cutoffSeq);
  expect(w.api.pings.map((p) => p.occupant)).toContain(late);
  expect(w.api.notifications).toHaveLength(3);
});
