// Correctness M4 (regression): a lost `continue` job (a checkpoint continuation, a re-check pass)
// is re-armed by the reconciler once the round's due has passed: the rest of the pass runs and
// the marked joins are re-checked and notified, with no later close of the link.
import { expect, it } from 'vitest';
import { closeLink, drive, roundWorld, seedJoins } from '../../support/fakes';

/** The first `continue` job scheduled is lost (ends up in the DLQ). */
function loseFirstContinue(w: ReturnType<typeof roundWorld>) {
  const schedule = w.scheduler.schedule.bind(w.scheduler);
  let lost = false;
  w.scheduler.schedule = async (name, at, job) => {
    if (job.kind === 'continue' && !lost) {
      lost = true;
      return true;
    }
    return schedule(name, at, job);
  };
}

it('a lost checkpoint continuation: the reconciler re-arms the round to finish the pass', async () => {
  const w = roundWorld({ PING_MUC_PAGE_SIZE: '4' });
  const joins = await seedJoins(w, 12);
  for (const j of joins) w.api.answers.set(j.occupant, 'not-acceptable');
  await closeLink(w);
  let fed = 0;
  loseFirstContinue(w);
  await drive(w, { reconcile: true, remainingMs: () => () => (fed++ === 0 ? Infinity : 0) }); // time for one page
  expect(w.api.notifications).toHaveLength(joins.length);
  expect(w.store.allRounds().map((r) => r.state)).toEqual(['done']);
  expect(w.logs.filter((l) => l.message === 'overdue round: continuation re-armed')).toHaveLength(1);
});

it('a lost re-check job: the reconciler re-arms it to notify the marked join', async () => {
  const w = roundWorld();
  const [j] = await seedJoins(w, 1);
  w.api.answers.set(j!.occupant, 'timeout');
  await closeLink(w);
  loseFirstContinue(w);
  await drive(w, { reconcile: true });
  const round = w.store.allRounds()[0]!;
  expect(round.state).toBe('done');
  expect(w.api.notifications.map((n) => n.occupant)).toEqual([j!.occupant]);
});
