// The reconciler (lib/app/reconcile.ts): every window and round whose due passed more than
// RECONCILE_GRACE_MS ago is re-armed by name, whatever job was lost; a round whose holder is
// alive is never touched. Lost checkpoint continuations and re-check jobs: ./lost-continue.test.ts.
import { describe, expect, it } from 'vitest';
import { reconcile, RECONCILE_GRACE_MS } from '../../../lib/app/reconcile';
import { runRound, UNBOUNDED_LEASE_MS } from '../../../lib/app/round';
import type { PingReply } from '../../../lib/domain/model';
import { closeLink, drive, HOST, REMOTE, replyFor, roundWorld, seedJoins } from '../../support/fakes';

const MINUTE = 60_000;

describe('due times', () => {
  /** One join that times out, to be re-checked once. */
  const oneTimeout = async () => {
    const w = roundWorld({ PING_MUC_RECHECKS: '1' });
    const [j] = await seedJoins(w, 1);
    w.api.answers.set(j!.occupant, 'timeout');
    return w;
  };

  it('a window is due its delay after its last close', async () => {
    const w = await oneTimeout();
    const dues: number[] = [];
    const record = w.store.recordClose.bind(w.store);
    w.store.recordClose = async (...args) => {
      dues.push(args[5]);
      return record(...args);
    };
    const closed = w.clock.now();
    await closeLink(w);
    expect(dues).toEqual([closed + MINUTE]);
  });

  it('a round’s due follows its state', async () => {
    const w = await oneTimeout();
    await closeLink(w);
    const start = w.scheduler.takeNext()!;
    w.clock.t = start.at;
    const saved: Array<[string, number | undefined]> = [];
    const save = w.store.saveRound.bind(w.store);
    w.store.saveRound = async (round) => {
      saved.push([round.state, round.due]);
      return save(round);
    };
    await runRound(w.deps, start.job, () => 300_000);
    const waiting = w.store.allRounds()[0]!;
    expect([waiting.state, waiting.due]).toEqual(['waiting', waiting.notBefore]);
    const recheck = w.scheduler.takeNext()!;
    w.clock.t = recheck.at;
    const began = w.clock.now();
    await runRound(w.deps, recheck.job, () => 300_000);
    expect(saved).toEqual([
      ['waiting', waiting.notBefore],
      ['running', began + 300_000], // the re-check pass, saved as held until the deadline
      ['done', undefined],
    ]);
  });
});

describe('reconciler', () => {
  it('a lost start job: the window is re-armed after the grace to tell its ghost', async () => {
    const w = roundWorld();
    const [j] = await seedJoins(w, 1);
    w.api.answers.set(j!.occupant, 'not-acceptable');
    await closeLink(w);
    const lost = w.scheduler.takeNext()!; // the start job is lost
    w.clock.t = lost.job.at! + RECONCILE_GRACE_MS - 1;
    expect(await reconcile(w.deps)).toEqual({ windows: 0, rounds: 0 });
    w.clock.t = lost.job.at! + RECONCILE_GRACE_MS + 1;
    expect(await reconcile(w.deps)).toEqual({ windows: 1, rounds: 0 });
    expect(w.logs.filter((l) => l.message === 'overdue window: start re-armed')).toHaveLength(1);
    await drive(w);
    expect(w.api.notifications.map((n) => n.occupant)).toEqual([j!.occupant]);
    await w.deps.metrics.flush();
    expect(w.emf.some((d) => d.Reconciled === 1 && d.Kind === 'window')).toBe(true);
  });

  it('re-arming an item found again before its job ran is idempotent', async () => {
    const w = roundWorld();
    await seedJoins(w, 1);
    await closeLink(w);
    const lost = w.scheduler.takeNext()!;
    w.clock.t = lost.job.at! + RECONCILE_GRACE_MS + 1;
    await reconcile(w.deps);
    w.clock.advance(MINUTE);
    await reconcile(w.deps);
    const rearmed = w.scheduler.created.slice(1);
    expect(rearmed).toHaveLength(1);
    expect(w.scheduler.pending.size).toBe(1);
    expect(w.logs.filter((l) => l.message === 'overdue window: start re-armed').map((l) => l.created)).toEqual([
      true,
      false,
    ]);
  });

  it('without self-retry the reconciler re-arms a re-check whose schedule failed', async () => {
    const w = roundWorld({ PING_MUC_RECHECKS: '1' });
    w.deps.selfRetry = false;
    const [j] = await seedJoins(w, 1);
    w.api.answers.set(j!.occupant, 'timeout');
    await closeLink(w);
    const start = w.scheduler.takeNext()!;
    w.clock.t = start.at;
    w.scheduler.failNext = 1; // the p1 job
    await expect(runRound(w.deps, start.job)).rejects.toThrow('scheduler unavailable');
    expect(w.scheduler.pending.size).toBe(0);
    await drive(w, { reconcile: true });
    expect(w.api.notifications.map((n) => n.occupant)).toEqual([j!.occupant]);
    expect(w.logs.filter((l) => l.message === 'overdue round: continuation re-armed')).toHaveLength(1);
  });

  it('a holder that died mid-pass: its round goes on from its cursor once its deadline plus the grace has passed', async () => {
    const w = roundWorld({ PING_MUC_PAGE_SIZE: '4' });
    const joins = await seedJoins(w, 12);
    for (const j of joins) w.api.answers.set(j.occupant, 'not-acceptable');
    await closeLink(w);
    const start = w.scheduler.takeNext()!;
    w.clock.t = start.at;
    // The function is killed after its first page's checkpoint: no catch, no release, no follow-up.
    const deadline = w.clock.now() + 300_000;
    const heal = w.api.heal.bind(w.api);
    let healed = 0;
    const killed = new Promise<never>(() => undefined);
    w.api.heal = async (join) => (++healed > 4 ? killed : heal(join));
    void runRound(w.deps, start.job, () => deadline - w.clock.now());
    while (w.store.allRounds()[0]?.cursor === undefined) await new Promise((r) => setImmediate(r));
    w.api.heal = heal;
    const round = w.store.allRounds()[0]!;
    expect([round.state, round.due]).toEqual(['running', deadline]);
    w.clock.t = deadline + RECONCILE_GRACE_MS - 1;
    expect(await reconcile(w.deps)).toEqual({ windows: 0, rounds: 0 });
    w.clock.t = deadline + RECONCILE_GRACE_MS + 1;
    expect(await reconcile(w.deps)).toEqual({ windows: 0, rounds: 1 });
    await drive(w);
    expect(w.api.notifications).toHaveLength(12);
    expect(new Set(w.api.notifications.map((n) => n.occupant)).size).toBe(12);
    expect(w.store.allRounds().map((r) => r.state)).toEqual(['done']);
  });

  it('nothing is re-armed while a holder is alive even through a long pass', async () => {
    const w = roundWorld();
    const [j] = await seedJoins(w, 1);
    await closeLink(w);
    const start = w.scheduler.takeNext()!;
    w.clock.t = start.at;
    let answer!: (reply: PingReply) => void;
    const slow = new Promise<PingReply>((r) => (answer = r));
    w.api.heal = async () => slow;
    const running = runRound(w.deps, start.job); // the local service: held for UNBOUNDED_LEASE_MS
    while (w.store.allRounds()[0]?.state !== 'running') await new Promise((r) => setImmediate(r));
    for (const t of [MINUTE, 5 * MINUTE, UNBOUNDED_LEASE_MS + RECONCILE_GRACE_MS - 1]) {
      w.clock.t = start.at + t;
      expect(await reconcile(w.deps)).toEqual({ windows: 0, rounds: 0 });
    }
    answer(replyFor('joined', j!.user, j!.occupant));
    await running;
    expect(w.scheduler.created).toHaveLength(1); // the start only
    expect(w.store.allRounds().map((r) => r.state)).toEqual(['done']);
    expect((await w.store.overdue(Number.MAX_SAFE_INTEGER, 10)).items).toEqual([]);
    void HOST;
    void REMOTE;
  });
});
