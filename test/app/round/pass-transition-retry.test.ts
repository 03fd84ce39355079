// Correctness H1 (regression): the schedule of the next pass's job fails at a pass boundary. The
// self-retry must go on with the pass the round is at (p+1), not the pass that ended (p), which
// the round ignores as "a job for another pass". Without the reconciler: the retry alone heals.
import { expect, it } from 'vitest';
import { closeLink, drive, roundWorld, seedJoins } from '../../support/fakes';

it('a failed schedule of the next pass is retried for the new pass', async () => {
  const w = roundWorld({ PING_MUC_RECHECKS: '1' });
  const [j] = await seedJoins(w, 1);
  w.api.answers.set(j!.occupant, 'timeout'); // indeterminate: re-check once, then notify
  await closeLink(w);
  // Fail the first scheduler call made by a round (the p1 follow-up after pass 0 ended).
  const schedule = w.scheduler.schedule.bind(w.scheduler);
  let failed = false;
  w.scheduler.schedule = async (name, at, job) => {
    if (!failed && job.kind === 'continue') {
      failed = true;
      throw new Error('ThrottlingException: Rate exceeded');
    }
    return schedule(name, at, job);
  };
  await drive(w);
  const retries = w.scheduler.created.filter((c) => c.job.attempt);
  expect(retries.map((c) => c.job.pass)).toEqual([1]);
  expect(w.logs.some((l) => l.message === 'round job for another pass ignored')).toBe(false);
  const round = w.store.allRounds()[0]!;
  expect([round.state, round.pass]).toEqual(['done', 1]);
  expect(w.api.notifications.map((n) => n.occupant)).toEqual([j!.occupant]);
});

it('control: without the scheduler failure the join is notified after its re-check', async () => {
  const w = roundWorld({ PING_MUC_RECHECKS: '1' });
  const [j] = await seedJoins(w, 1);
  w.api.answers.set(j!.occupant, 'timeout');
  await closeLink(w);
  await drive(w);
  expect(w.store.allRounds()[0]!.state).toBe('done');
  expect(w.api.notifications).toHaveLength(1);
});

it("a job for the pass that ended meets the round waiting for the next: it arms that pass's job again", async () => {
  const w = roundWorld({ PING_MUC_RECHECKS: '1' });
  const [j] = await seedJoins(w, 1);
  w.api.answers.set(j!.occupant, 'timeout');
  await closeLink(w);
  const start = w.scheduler.takeNext()!;
  w.clock.t = start.at;
  const { runRound } = await import('../../../lib/app/round');
  await runRound(w.deps, start.job);
  w.scheduler.pending.clear(); // the p1 job is lost
  await runRound(w.deps, { ...start.job, kind: 'continue', pass: 0 }); // a late job of pass 0
  expect([...w.scheduler.pending.values()].map((p) => p.job.pass)).toEqual([1]);
  await drive(w);
  expect(w.api.notifications.map((n) => n.occupant)).toEqual([j!.occupant]);
});
