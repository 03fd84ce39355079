// Heals (stanza API v2, issue 11): the server acts on a self-ping's "not joined" reply itself,
// so the round neither touches the join in the store nor sends the notification. Fakes, injected clock.
import { beforeAll, describe, expect, it } from 'vitest';
import { IN_PLACE_MS } from '../../../lib/app/next';
import { LINK_LEAD_MS, runRound } from '../../../lib/app/round';
import type { Join } from '../../../lib/domain/model';
import { closeLink, drive, HOST, REMOTE, roundWorld, seedJoins } from '../../support/fakes';

/** Counts the calls of the store methods that act on one join, passing them through. */
function counted(w: ReturnType<typeof roundWorld>, name: 'deleteJoinIf' | 'markRecheck'): { n: number } {
  const calls = { n: 0 };
  const real = w.store[name].bind(w.store) as (join: Join, gen?: string) => Promise<boolean>;
  w.store[name] = async (join: Join, gen?: string) => {
    calls.n++;
    return real(join, gen);
  };
  return calls;
}

/**
 * Delivers the pending start job `early` ms before its due time, carrying it: more than
 * IN_PLACE_MS early, it is armed again for LINK_LEAD_MS before its time and the invocation
 * returns at once; the re-armed job then runs at its time. `before` runs just before the first
 * invocation (to wrap the store). Returns the due time.
 */
async function startEarly(w: ReturnType<typeof roundWorld>, early: number, before?: () => void): Promise<number> {
  const [start] = [...w.scheduler.pending.values()];
  w.scheduler.pending.clear();
  const due = start!.job.at!;
  before?.();
  w.clock.t = due - early;
  await runRound(w.deps, start!.job);
  if (early > IN_PLACE_MS) {
    expect(w.clock.now()).toBe(due - early); // it did not sleep
    const again = w.scheduler.takeNext()!;
    expect([again.job.kind, again.job.at, again.at]).toEqual(['start', due, due - LINK_LEAD_MS]);
    w.clock.t = again.at;
    await runRound(w.deps, again.job);
  }
  return due;
}

describe('heals', () => {
  describe('two ghosts among four joins', () => {
    let w: ReturnType<typeof roundWorld>;
    let joins: Awaited<ReturnType<typeof seedJoins>>;
    let deletes: { n: number };
    let marks: { n: number };
    let notifyCalls = 0;
    beforeAll(async () => {
      w = roundWorld();
      joins = await seedJoins(w, 4);
      await closeLink(w);
      for (const j of joins.slice(0, 2)) w.api.answers.set(j.occupant, 'not-acceptable');
      deletes = counted(w, 'deleteJoinIf');
      marks = counted(w, 'markRecheck');
      const notify = w.api.notify.bind(w.api);
      w.api.notify = async (presence) => {
        notifyCalls++;
        return notify(presence);
      };
      await drive(w);
      await w.deps.metrics.flush();
    });

    it('are told by the server as their replies come', () => {
      expect(w.api.notifications.map((n) => n.occupant).sort()).toEqual(joins.slice(0, 2).map((j) => j.occupant));
      const sent = w.emf.filter((d) => d.Notifications !== undefined && d.Result === 'sent');
      expect(sent.reduce((n, d) => n + Number(d.Notifications), 0)).toBe(2);
    });

    it('cost no store call on their joins', () => {
      expect(deletes.n).toBe(0);
      expect(marks.n).toBe(0);
      // The round writes nothing: the told ghosts' joins stay until a rejoin or a later no-session.
      expect(w.store.allJoins()).toHaveLength(joins.length);
    });

    it('cost no notification call', () => {
      expect(notifyCalls).toBe(0);
    });
  });

  it("a heal whose answer is lost after the server told the user: the retry's no-session tells nobody twice", async () => {
    const w = roundWorld();
    const [ghost] = await seedJoins(w, 1);
    await closeLink(w);
    w.api.answers.set(ghost!.occupant, 'not-acceptable');
    const heal = w.api.heal.bind(w.api);
    let lost = false;
    w.api.heal = async (join) => {
      const reply = await heal(join);
      if (reply.kind === 'notified' && !lost) {
        lost = true;
        throw new Error('socket hang up'); // after the module delivered
      }
      return reply;
    };
    const deletes = counted(w, 'deleteJoinIf');
    await drive(w);
    expect(w.api.notifications).toHaveLength(1);
    // The retry's heal: the module, which forgot the join, answers no-session without a ping.
    expect(w.api.pings).toHaveLength(1);
    // The retry found the join gone from the server and dropped it from the store.
    expect(deletes.n).toBe(1);
    expect(w.store.allJoins()).toEqual([]);
  });

  it('the last pass notifies a join it could never check (as mod_ping_muc does)', async () => {
    const w = roundWorld({ PING_MUC_RECHECKS: '1' });
    const [join] = await seedJoins(w, 1);
    await closeLink(w);
    // A heal never acts on a timeout: the round does, once its re-check budget is spent.
    w.api.answers.set(join!.occupant, 'timeout');
    await drive(w);
    expect(w.api.notifications.map((n) => n.occupant)).toEqual([join!.occupant]);
    expect(w.api.pings).toHaveLength(2);
  });

  it('heals only ghosts: other answers are left to the round', async () => {
    const w = roundWorld({ PING_MUC_RECHECKS: '0' });
    const joins = await seedJoins(w, 3);
    await closeLink(w);
    const answers = ['joined', 'nick-changed', 'remote-down'] as const;
    for (const [i, j] of joins.entries()) w.api.answers.set(j.occupant, answers[i]!);
    await drive(w);
    // With no re-check left, only the unreachable one is notified, by the round's own call.
    expect(w.api.notifications.map((n) => n.occupant)).toEqual([joins[2]!.occupant]);
  });
});

describe('the link comes up before the due time', () => {
  const EARLY = [
    [30_000, 60],
    [3_000, 60],
    [1_500, 60],
    [30_000, 2],
  ] as const;
  /** Three joins whose start job is woken `early` ms before its due time. */
  const wokenEarly = async (early: number, delaySeconds: number) => {
    const w = roundWorld({ PING_MUC_DELAY_SECONDS: String(delaySeconds) });
    await seedJoins(w, 3);
    await closeLink(w);
    return { w, due: await startEarly(w, early) };
  };

  it.each(EARLY)(
    'a start job woken %i ms early (delay %i s) has the server ping the remote LINK_LEAD_MS or half the delay before',
    async (early, delaySeconds) => {
      const { w, due } = await wokenEarly(early, delaySeconds);
      const lead = Math.min(early, LINK_LEAD_MS, (delaySeconds * 1000) / 2);
      expect(w.api.serverPings).toEqual([{ at: due - lead, host: HOST, remote: REMOTE }]);
    },
  );

  it.each(EARLY)(
    'a start job woken %i ms early (delay %i s) self-pings at its due time',
    async (early, delaySeconds) => {
      const { w, due } = await wokenEarly(early, delaySeconds);
      expect(w.api.pings).toHaveLength(3);
      expect(Math.min(...w.api.pings.map((p) => p.at))).toBe(due);
    },
  );

  /** A start job woken 10 s early whose server ping fails; its join times out, to be re-checked. */
  const failedServerPing = async () => {
    const w = roundWorld({ PING_MUC_RECHECK_BASE_SECONDS: '60' });
    const [j] = await seedJoins(w, 1);
    await closeLink(w);
    w.api.answers.set(j!.occupant, 'timeout');
    w.api.serverPing = async () => {
      throw new Error('stanza API answered 503');
    };
    return { w, due: await startEarly(w, 10_000) };
  };

  it('a failed server ping holds nothing up', async () => {
    const { w, due } = await failedServerPing();
    expect(w.api.pings.map((p) => p.at)).toEqual([due]);
    expect(w.logs.some((l) => l.message === 'server ping failed')).toBe(true);
  });

  it('a job delivered on time sends no server ping', async () => {
    const { w } = await failedServerPing();
    // The re-check passes run at their time (drive delivers on time): no server ping.
    const pinged: unknown[] = [];
    w.api.serverPing = async (host, remote) => void pinged.push({ host, remote });
    await drive(w);
    expect(w.api.pings.length).toBeGreaterThan(1);
    expect(pinged).toEqual([]);
  });
});

describe('the first pass reads ahead while the link comes up', () => {
  /** Join reads of a pass by time: joinsOf calls made from now on. */
  function readsFrom(w: ReturnType<typeof roundWorld>, failFirstPage = false) {
    const at: Array<{ name: string; t: number }> = [];
    const { joinsOf } = w.store;
    let failed = !failFirstPage;
    w.store.joinsOf = async (...args) => {
      at.push({ name: 'joinsOf', t: w.clock.now() });
      if (!failed) {
        failed = true;
        throw new Error('ProvisionedThroughputExceededException');
      }
      return joinsOf.apply(w.store, args);
    };
    return at;
  }

  it('a start job woken early reads the first page before its due time', async () => {
    const w = roundWorld();
    await seedJoins(w, 5);
    await closeLink(w);
    let reads: ReturnType<typeof readsFrom> = [];
    const due = await startEarly(w, 30_000, () => (reads = readsFrom(w)));
    expect(reads).toEqual([{ name: 'joinsOf', t: due - LINK_LEAD_MS }]);
    expect(w.api.pings).toHaveLength(5);
    expect(w.store.allRounds().map((r) => r.state)).toEqual(['done']);
  });

  it('a failed read ahead is read again at the due time', async () => {
    const w = roundWorld();
    await seedJoins(w, 5);
    await closeLink(w);
    let reads: ReturnType<typeof readsFrom> = [];
    const due = await startEarly(w, 30_000, () => (reads = readsFrom(w, true)));
    expect(reads.filter((r) => r.name === 'joinsOf').map((r) => r.t)).toEqual([due - LINK_LEAD_MS, due]);
    expect(w.api.pings).toHaveLength(5);
  });
});
