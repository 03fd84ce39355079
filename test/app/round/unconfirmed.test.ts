// item-not-found without `by` (issue 18, ejabberd): one short re-check of the same join decides.
// Twice on the module's tracked nick is "not joined", told in the same pass; a nick change in
// flight (the module's join moved to the new nick before the re-check) is never told. Fakes,
// injected clock.
import { describe, expect, it } from 'vitest';
import { CONFIRM_MS } from '../../../lib/domain/outcome';
import { closeLink, drive, roundWorld, seedJoins } from '../../support/fakes';

describe('item-not-found without by (unconfirmed)', () => {
  it('twice on the tracked nick: told once after one short re-check', async () => {
    const w = roundWorld();
    const joins = await seedJoins(w, 3);
    const closedAt = w.clock.now();
    await closeLink(w);
    for (const j of joins.slice(0, 2)) w.api.answers.set(j.occupant, 'no-by');
    await drive(w);
    expect(w.api.notifications.map((n) => n.occupant).sort()).toEqual(joins.slice(0, 2).map((j) => j.occupant));
    for (const j of joins.slice(0, 2)) expect(w.api.pingsOf(j.occupant)).toBe(2);
    expect(w.api.pingsOf(joins[2]!.occupant)).toBe(1);
    // Told within the delay and the one short re-check, not after the re-check budget.
    for (const n of w.api.notifications) {
      expect(n.at - closedAt).toBeLessThanOrEqual(w.deps.config.delayMs + CONFIRM_MS + 5_000);
    }
    const [first, second] = w.api.pings.filter((p) => p.occupant === joins[0]!.occupant);
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(CONFIRM_MS);
  });

  it('a nick change in flight (the module tracks the new nick by the re-check): nobody told', async () => {
    const w = roundWorld();
    const [j] = await seedJoins(w, 1);
    await closeLink(w);
    w.api.answers.set(j!.occupant, () => {
      // The reflected presence of the new nick reaches the module meanwhile: a new join.
      w.api.joinOf = () => ({ nick: 'Renamed', since: Number.MAX_SAFE_INTEGER });
      return 'no-by';
    });
    await drive(w);
    expect(w.api.notifications).toEqual([]);
    expect(w.api.pingsOf(j!.occupant)).toBe(1);
  });

  it('answered `joined` on the re-check: kept untold', async () => {
    const w = roundWorld();
    const [j] = await seedJoins(w, 1);
    await closeLink(w);
    let n = 0;
    w.api.answers.set(j!.occupant, () => (n++ === 0 ? 'no-by' : 'joined'));
    await drive(w);
    expect(w.api.notifications).toEqual([]);
    expect(w.api.pingsOf(j!.occupant)).toBe(2);
  });
});
