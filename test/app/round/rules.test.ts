// The round's rules through its ports, on fakes with an injected clock: no HTTP, no dynalite,
// no sleeps. Each describe names the rule; the issue points they pin are in the test names.
import { beforeAll, describe, expect, it } from 'vitest';
import { runRound, checkRoundTimeout, deadlineMarginMs, LINK_LEAD_MS } from '../../../lib/app/round';
import { loadConfig } from '../../../lib/support/config';
import type { Join } from '../../../lib/domain/model';
import { closeLink, drive, HOST, nextSeq, REMOTE, roundWorld, seedJoins } from '../../support/fakes';

const MINUTE = 60_000;

describe('claim', () => {
  describe('a round of ten joins', () => {
    let w: ReturnType<typeof roundWorld>;
    let joins: Awaited<ReturnType<typeof seedJoins>>;
    let closedAt: number;
    let armed: unknown[];
    beforeAll(async () => {
      w = roundWorld();
      joins = await seedJoins(w, 10);
      closedAt = w.clock.now();
      await closeLink(w);
      armed = [...w.scheduler.pending.values()].map((j) => [j.job.kind, j.job.at, j.at]);
      await drive(w);
    });

    it('starts at the delay after the close', () => {
      // Delivered LINK_LEAD_MS before its due time, carrying it.
      expect(armed).toEqual([['start', closedAt + MINUTE, closedAt + MINUTE - LINK_LEAD_MS]]);
      expect(Math.min(...w.api.pings.map((p) => p.at))).toBeGreaterThanOrEqual(closedAt + MINUTE);
      expect(w.store.allRounds().map((r) => r.state)).toEqual(['done']);
    });

    it('pings each join once', () => {
      expect(w.api.pings).toHaveLength(10);
      expect(new Set(w.api.pings.map((p) => p.occupant))).toEqual(new Set(joins.map((j) => j.occupant)));
    });
  });

  it("counts the delay from the server's time of a close up to a tenth of the delay before its arrival", async () => {
    const w = roundWorld();
    await seedJoins(w, 2);
    const { linkClosed } = await import('../../../lib/app/link');
    const arrived = w.clock.now();
    // Closed 45 ms before its event arrived (the module's post and its transit).
    await linkClosed(w.deps, HOST, REMOTE, (arrived - 45) * 1000);
    expect([...w.scheduler.pending.values()].map((j) => j.job.at)).toEqual([arrived - 45 + MINUTE]);
    await drive(w);
    expect(Math.min(...w.api.pings.map((p) => p.at))).toBe(arrived - 45 + MINUTE);
  });

  it("dates a close by its arrival when the server's clock is off by more than that", async () => {
    for (const offMs of [-6_001, 2_500]) {
      const w = roundWorld();
      const arrived = w.clock.now();
      const { linkClosed } = await import('../../../lib/app/link');
      // Behind by more than 6 s (a tenth of the 60 s delay), or ahead: the arrival counts.
      await linkClosed(w.deps, HOST, REMOTE, (arrived + offMs) * 1000);
      expect([...w.scheduler.pending.values()].map((j) => j.job.at)).toEqual([arrived + MINUTE]);
    }
  });

  it('does not ping a join made after the close', async () => {
    const w = roundWorld();
    await seedJoins(w, 3);
    await closeLink(w);
    await seedJoins(w, 2, REMOTE, 'late');
    await drive(w);
    expect(w.api.pings.map((p) => p.user).sort()).toEqual([`u0@${HOST}/r`, `u1@${HOST}/r`, `u2@${HOST}/r`]);
  });

  it('postpones to the delay after the last close of the window', async () => {
    // A later close moves the due time further than a round waits in place (130 s).
    const w = roundWorld({ PING_MUC_DELAY_SECONDS: '600' });
    await seedJoins(w, 2);
    await closeLink(w);
    w.clock.advance(300_000);
    const lastClose = w.clock.now();
    await closeLink(w);
    await drive(w);
    expect(w.logs.some((l) => l.message === 'round postponed')).toBe(true);
    expect(Math.min(...w.api.pings.map((p) => p.at))).toBeGreaterThanOrEqual(lastClose + 600_000);
    expect(w.api.pings).toHaveLength(2);
  });
});

describe('metrics', () => {
  let w: ReturnType<typeof roundWorld>;
  const value = (name: string, dim?: [string, string]) =>
    w.emf.filter((d) => name in d && (!dim || d[dim[0]] === dim[1])).map((d) => d[name]);
  beforeAll(async () => {
    w = roundWorld();
    await seedJoins(w, 3);
    await closeLink(w);
    await drive(w);
    w.deps.metrics.flush();
  });

  it('counts the rounds by state', () => {
    expect(value('Rounds', ['State', 'started'])).toEqual([1]);
    expect(value('Rounds', ['State', 'done'])).toEqual([1]);
  });

  it('measures the close-to-start time', () => {
    expect(value('CloseToStartMs').flat()).toEqual([60_000]);
  });

  it('measures the round duration', () => {
    expect(value('RoundDurationMs')).toHaveLength(1);
  });
});

describe('lease', () => {
  it('a duplicate invocation leaves a busy round to its holder', async () => {
    const w = roundWorld();
    await seedJoins(w, 8);
    await closeLink(w);
    const start = w.scheduler.takeNext()!;
    w.clock.t = start.job.at!;
    await Promise.all([runRound(w.deps, start.job), runRound(w.deps, start.job)]);
    expect(w.api.pings).toHaveLength(8);
    expect(w.logs.filter((l) => l.message === 'round busy elsewhere')).toHaveLength(1);
    expect([...w.scheduler.pending.values()]).toEqual([]); // no come-back
    expect(w.store.allRounds().map((r) => [r.state, r.due])).toEqual([['done', undefined]]);
  });

  it('a duplicate claim after progress never overwrites the progress (9.5)', async () => {
    const w = roundWorld({ PING_MUC_PAGE_SIZE: '4' });
    await seedJoins(w, 12);
    await closeLink(w);
    const start = w.scheduler.takeNext()!;
    w.clock.t = start.at;
    // The duplicate read the pending window before the winner claimed it...
    const stale = await w.store.pendingClose(HOST, REMOTE);
    // ...the winner claims and runs one page, then its time is up.
    let fed = 0;
    await runRound(w.deps, start.job, () => (fed++ === 0 ? Infinity : 0));
    expect(w.store.allRounds()[0]!.cursor).toBeDefined();
    // The duplicate goes on with what it read: its claim must not reset the winner's cursor.
    const real = w.store.pendingClose.bind(w.store);
    let first = true;
    w.store.pendingClose = async (h, r) => {
      if (!first) return real(h, r);
      first = false;
      return stale;
    };
    await runRound(w.deps, start.job);
    await drive(w);
    expect(w.api.pings).toHaveLength(12);
    expect(new Set(w.api.pings.map((p) => p.user)).size).toBe(12);
  });
});

describe('stray jobs', () => {
  it('a job delivered twice for a done round schedules nothing', async () => {
    const w = roundWorld();
    await seedJoins(w, 2);
    await closeLink(w);
    await drive(w);
    const { gen } = w.store.allRounds()[0]!;
    const stray = { host: HOST, remote: REMOTE, gen, kind: 'continue' as const };
    w.scheduler.created.length = 0;
    await Promise.all([runRound(w.deps, stray), runRound(w.deps, stray)]);
    expect(w.scheduler.created).toEqual([]);
  });
});

describe('checkpoint and continuation', () => {
  it('an invocation short of time hands the pass to a continuation at its cursor', async () => {
    const w = roundWorld({ PING_MUC_PAGE_SIZE: '4', PING_MUC_CONCURRENCY: '2' });
    await seedJoins(w, 30);
    await closeLink(w);
    // Each invocation may feed one page only.
    const invocations = await drive(w, {
      remainingMs: () => {
        let n = 0;
        return () => (n++ === 0 ? Infinity : 0);
      },
    });
    expect(invocations).toBeGreaterThanOrEqual(8);
    expect(w.api.pings).toHaveLength(30);
    expect(new Set(w.api.pings.map((p) => p.user)).size).toBe(30);
    const continues = w.scheduler.created.filter((j) => j.job.kind === 'continue');
    expect(continues.every((j) => j.job.pass === 0)).toBe(true);
  });

  /** Twelve joins whose self-pings fail twice in a row at the 6th and the 10th join. */
  const failingMidPass = async () => {
    const w = roundWorld({ PING_MUC_PAGE_SIZE: '4', PING_MUC_CONCURRENCY: '1', PING_MUC_RETRY_ATTEMPTS: '1' });
    await seedJoins(w, 12);
    await closeLink(w);
    let calls = 0;
    const real = w.api.selfPing.bind(w.api);
    // Fails twice in a row (both tries of one call) at the 6th and the 10th join: two failed
    // invocations, each after progress, so the single allowed retry is never used up.
    w.api.selfPing = async (join) => {
      calls++;
      if (calls === 6 || calls === 7 || calls === 12 || calls === 13) throw new Error('reset');
      return real(join);
    };
    await drive(w);
    return w;
  };

  it('a retry after progress is not a failed attempt (9.1)', async () => {
    const w = await failingMidPass();
    const retries = w.scheduler.created.filter((j) => j.job.attempt !== undefined);
    expect(retries.map((j) => j.job.attempt)).toEqual([1, 1]);
  });

  it('after a failure mid-pass only the unfinished page is pinged again (9.1)', async () => {
    const w = await failingMidPass();
    expect(w.api.pings.length).toBeLessThanOrEqual(12 + 2);
    expect(new Set(w.api.pings.map((p) => p.user)).size).toBe(12);
    expect(w.store.allRounds()[0]!.state).toBe('done');
  });

  it('a transient store failure is retried in place (9.1)', async () => {
    const w = roundWorld();
    await seedJoins(w, 5);
    await closeLink(w);
    const real = w.store.deleteJoinIf.bind(w.store);
    let failed = false;
    w.store.deleteJoinIf = async (join) => {
      if (!failed) {
        failed = true;
        throw new Error('ProvisionedThroughputExceededException');
      }
      return real(join);
    };
    // Sessions gone: the round drops their joins.
    for (const o of ['room0@muc.b.example/u0', 'room1@muc.b.example/u1']) w.api.answers.set(o, 'no-session');
    await drive(w);
    expect(w.scheduler.created.filter((j) => j.job.attempt !== undefined)).toEqual([]);
    expect(w.store.allJoins()).toHaveLength(3);
  });
});

describe('outcomes', () => {
  describe('three told ghosts among six joins', () => {
    let w: ReturnType<typeof roundWorld>;
    const writes: string[] = [];
    beforeAll(async () => {
      // The module forgets a join as it delivers our notification and posts no leave for it.
      w = roundWorld();
      const joins = await seedJoins(w, 6);
      await closeLink(w);
      for (const j of joins.slice(0, 3)) w.api.answers.set(j.occupant, 'not-acceptable');
      for (const name of ['deleteJoinIf', 'markRecheck'] as const) {
        const real = w.store[name].bind(w.store) as (join: Join, gen?: string) => Promise<boolean>;
        w.store[name] = async (join: Join, gen?: string) => {
          writes.push(name);
          return real(join, gen);
        };
      }
      await drive(w);
    });

    it('cost no write', () => {
      expect(w.api.notifications).toHaveLength(3);
      expect(writes).toEqual([]);
      expect(w.store.allJoins()).toHaveLength(6);
    });

    it('are dropped by a later round without being told twice', async () => {
      // The next loss of the link: the module, which forgot the told joins, answers no-session.
      w.clock.advance(10 * MINUTE);
      await closeLink(w);
      await drive(w);
      expect(w.api.notifications).toHaveLength(3);
      expect(writes).toEqual(Array(3).fill('deleteJoinIf'));
      expect(
        w.store
          .allJoins()
          .map((j) => j.nick)
          .sort(),
      ).toEqual(['u3', 'u4', 'u5']);
    });
  });

  it('a told ghost who rejoins while the pass goes on is healed again at the next loss', async () => {
    const w = roundWorld();
    const [ghost, other] = await seedJoins(w, 2);
    await closeLink(w);
    w.api.answers.set(ghost!.occupant, 'not-acceptable');
    const room = ghost!.occupant.slice(0, ghost!.occupant.indexOf('/'));
    // The client rejoins at once on status 333: the module forgets that it told it.
    const pinged = w.api.selfPing.bind(w.api);
    w.api.selfPing = async (join) => {
      if (join.occupant === other!.occupant && w.api.notifications.length === 1) {
        w.api.forgotten.delete(`${ghost!.user} ${room}`);
        const back = { host: HOST, user: ghost!.user, room, nick: 'back', remote: REMOTE, seq: nextSeq() };
        await w.store.putJoin(back, 2e9);
      }
      return pinged(join);
    };
    w.deps.config.concurrency = 1;
    await drive(w);
    expect(w.api.notifications).toHaveLength(1);
    w.clock.advance(10 * MINUTE);
    w.api.answers.set(`${room}/back`, 'not-acceptable');
    await closeLink(w);
    await drive(w);
    expect(w.api.notifications.map((n) => n.occupant)).toEqual([ghost!.occupant, `${room}/back`]);
  });

  it('a retry after a crash that follows the notifications tells nobody twice', async () => {
    const w = roundWorld();
    const joins = await seedJoins(w, 3);
    await closeLink(w);
    for (const j of joins) w.api.answers.set(j.occupant, 'not-acceptable');
    const save = w.store.saveRound.bind(w.store);
    let failures = 0;
    w.store.saveRound = async (round) => {
      // Past the in-place retries: the invocation fails before the end of its pass is saved.
      if (round.state === 'done' && failures < 3) {
        failures++;
        throw new Error('the store is down');
      }
      return save(round);
    };
    await drive(w);
    expect(w.logs.some((l) => l.message === 'round failed, retry scheduled')).toBe(true);
    expect(w.api.notifications).toHaveLength(3);
    // The retry healed them again; the module, which forgot them, answered no-session without a ping.
    expect(w.api.pings).toHaveLength(3);
    expect(w.store.allJoins()).toEqual([]);
    expect(w.store.allRounds().map((r) => r.state)).toEqual(['done']);
  });

  it.each([
    ['the server heals', true],
    ['the round notifies', false],
  ])('never tells a user who rejoined after the self-ping was answered that it left (%s)', async (_, heals) => {
    // The round notifies itself only once the re-check budget is spent on indeterminate answers.
    const w = roundWorld(heals ? {} : { PING_MUC_RECHECKS: '0' });
    const answer = heals ? 'not-acceptable' : 'timeout';
    const joins = await seedJoins(w, 2);
    await closeLink(w);
    const [rejoiner, ghost] = joins as [(typeof joins)[0], (typeof joins)[0]];
    // The answer says "not joined", but the user rejoins (a new join event) before the notification.
    let rejoinSeq = 0;
    w.api.answers.set(rejoiner.occupant, () => {
      const stored = w.store.allJoins().find((j) => j.user === rejoiner.user) as Join;
      rejoinSeq = nextSeq();
      void w.store.putJoin({ ...stored, since: undefined, seq: rejoinSeq }, Math.floor(w.clock.now() / 1000) + 3600);
      return answer;
    });
    w.api.answers.set(ghost.occupant, answer);
    await drive(w);
    expect(w.api.notifications.map((n) => n.occupant)).toEqual([ghost.occupant]);
    // The rejoin is kept (so is the told ghost's join: the module posts no leave for it).
    expect(w.store.allJoins().find((j) => j.user === rejoiner.user)?.seq).toBe(rejoinSeq);
  });

  describe('five joins with one answer each', () => {
    let w: ReturnType<typeof roundWorld>;
    let joins: Awaited<ReturnType<typeof seedJoins>>;
    beforeAll(async () => {
      w = roundWorld();
      joins = await seedJoins(w, 5);
      const answers = ['joined', 'not-acceptable', 'nick-changed', 'no-session', 'joined'] as const;
      for (const [i, j] of joins.entries()) w.api.answers.set(j.occupant, answers[i]!);
      await closeLink(w);
      await drive(w);
    });

    it('notify exactly the ghosts', () => {
      expect(w.api.notifications.map((n) => n.occupant)).toEqual([joins[1]!.occupant]);
    });

    it('drop only the gone', () => {
      const kept = w.store
        .allJoins()
        .map((j) => j.nick)
        .sort();
      // u3 (gone) is dropped; u1, the told ghost, stays until a rejoin, the session's end, expiry
      // or a later round's no-session (the module posts no leave for our notification).
      expect(kept).toEqual(['u0', 'u1', 'u2', 'u4']);
    });
  });

  describe('a bad answer for one join (9.1)', () => {
    let w: ReturnType<typeof roundWorld>;
    let joins: Awaited<ReturnType<typeof seedJoins>>;
    beforeAll(async () => {
      w = roundWorld({ PING_MUC_RECHECKS: '2' });
      joins = await seedJoins(w, 3);
      w.api.answers.set(joins[1]!.occupant, 'bad-answer');
      w.api.answers.set(joins[2]!.occupant, 'not-acceptable');
      await closeLink(w);
      await drive(w);
    });

    it('is re-checked but never notified', () => {
      expect(w.api.pingsOf(joins[1]!.occupant)).toBe(3);
      expect(w.api.notifications.map((n) => n.occupant)).toEqual([joins[2]!.occupant]);
      expect(
        w.store
          .allJoins()
          .map((j) => j.nick)
          .sort(),
      ).toEqual(['u0', 'u1', 'u2']);
    });

    it('fails no round', () => {
      expect(w.scheduler.created.filter((j) => j.job.attempt !== undefined)).toEqual([]);
    });
  });
});

describe('re-checks', () => {
  describe('an unreachable remote', () => {
    let w: ReturnType<typeof roundWorld>;
    let closedAt: number;
    beforeAll(async () => {
      w = roundWorld({ PING_MUC_RECHECKS: '3' });
      const [j] = await seedJoins(w, 1);
      w.api.answers.set(j!.occupant, 'remote-down');
      await closeLink(w);
      closedAt = w.clock.now();
      await drive(w);
    });

    it('is re-checked after base·2^k', () => {
      const times = w.api.pings.map((p) => (p.at - closedAt) / 1000);
      expect(times).toEqual([60, 120, 240, 480]);
    });

    it('gets its join notified once the budget is spent', () => {
      expect(w.api.notifications).toHaveLength(1);
      expect(w.api.notifications[0]!.at - closedAt).toBe(480_000);
    });
  });

  it('extra continue invocations never run a waiting pass early (9.3)', async () => {
    const w = roundWorld({ PING_MUC_RECHECKS: '3' });
    const [j] = await seedJoins(w, 1);
    w.api.answers.set(j!.occupant, 'remote-down');
    await closeLink(w);
    const closedAt = w.clock.now();
    const gen = [...w.scheduler.pending.values()][0]!.job.gen;
    let extra = 0;
    await drive(w, {
      before: (job, world) => {
        // After every job, three stray continues: a duplicate, a come-back, a DLQ replay (no pass).
        if (extra++ < 12) {
          for (const k of [1, 2, 3]) {
            const name = `stray-${extra}-${k}`;
            const stray = {
              host: HOST,
              remote: REMOTE,
              gen,
              kind: 'continue' as const,
              ...(k === 3 ? {} : { pass: k === 1 ? 1 : 0 }),
            };
            world.scheduler.pending.set(name, { name, at: job.at + k * 1000, job: stray });
          }
        }
      },
    });
    const times = w.api.pings.map((p) => (p.at - closedAt) / 1000);
    expect(times).toEqual([60, 120, 240, 480]);
    expect(w.api.notifications).toHaveLength(1);
    expect(w.api.notifications[0]!.at - closedAt).toBe(480_000);
  });

  it('a re-check pass that fails after marking still re-checks the marked join (9.2)', async () => {
    const w = roundWorld({ PING_MUC_RECHECKS: '3', PING_MUC_CONCURRENCY: '1', PING_MUC_PAGE_SIZE: '2' });
    const [a, b] = await seedJoins(w, 2);
    w.api.answers.set(a!.occupant, 'remote-down');
    // b: unreachable in pass 0; in pass 1 the API fails on it (both tries), then it is joined.
    let n = 0;
    w.api.answers.set(b!.occupant, () => (++n === 1 ? 'remote-down' : n <= 3 ? 'throw' : 'joined'));
    await closeLink(w);
    await drive(w);
    // a was marked for pass 2 in the failed invocation: it is still re-checked, then notified.
    expect(w.api.pingsOf(a!.occupant)).toBe(4);
    expect(w.api.notifications.map((x) => x.occupant)).toEqual([a!.occupant]);
    expect(w.store.allRounds()[0]!.state).toBe('done');
  });

  it('a join found joined in a re-check is not pinged again by later passes', async () => {
    const w = roundWorld({ PING_MUC_RECHECKS: '3' });
    const [a, b] = await seedJoins(w, 2);
    w.api.answers.set(a!.occupant, 'remote-down');
    let n = 0;
    w.api.answers.set(b!.occupant, () => (n++ === 0 ? 'remote-down' : 'joined'));
    await closeLink(w);
    await drive(w);
    expect(w.api.pingsOf(b!.occupant)).toBe(2);
    expect(w.api.pingsOf(a!.occupant)).toBe(4);
    expect(w.api.notifications.map((x) => x.occupant)).toEqual([a!.occupant]);
  });
});

describe('follow-up scheduling', () => {
  it('names each follow-up by its kind·pass', async () => {
    const w = roundWorld({ PING_MUC_RECHECKS: '1' });
    const [j] = await seedJoins(w, 1);
    w.api.answers.set(j!.occupant, 'timeout');
    await closeLink(w);
    await drive(w);
    const kinds = w.scheduler.created.map((c) => [c.job.kind, c.job.pass]);
    expect(kinds).toEqual([
      ['start', undefined],
      ['continue', 1],
    ]);
    expect(new Set(w.scheduler.created.map((c) => c.name)).size).toBe(2);
  });

  it('a job meeting the lease of a dead holder is left to the reconciler', async () => {
    const w = roundWorld({ PING_MUC_RECHECKS: '1' });
    const [j] = await seedJoins(w, 1);
    w.api.answers.set(j!.occupant, 'timeout');
    await closeLink(w);
    const start = w.scheduler.takeNext()!;
    w.clock.t = start.at;
    await runRound(w.deps, start.job);
    const waiting = w.store.allRounds()[0]!;
    expect([waiting.state, waiting.pass, waiting.due]).toEqual(['waiting', 1, waiting.notBefore]);
    const recheck = w.scheduler.takeNext()!;
    // A lease never released (its answer was lost) holds the round for 10 minutes.
    const held = w.clock.now() + 10 * MINUTE;
    await w.store.leaseRound(HOST, REMOTE, waiting.gen, 'gone', held);
    w.clock.t = recheck.at;
    await runRound(w.deps, recheck.job);
    expect(w.logs.filter((l) => l.message === 'round busy elsewhere')).toHaveLength(1);
    expect([...w.scheduler.pending.values()]).toEqual([]);
    await drive(w, { reconcile: true });
    expect(w.api.notifications.map((n) => n.occupant)).toEqual([j!.occupant]);
    expect(w.api.notifications[0]!.at).toBeGreaterThan(held);
  });

  it('a close within a pending window does not schedule again', async () => {
    const w = roundWorld();
    await seedJoins(w, 1);
    await closeLink(w);
    w.clock.advance(30_000);
    await closeLink(w);
    expect(w.scheduler.created).toHaveLength(1);
  });
});

describe('server slots (9.8)', () => {
  it('rounds of one server keep at most PING_MUC_SERVER_MAX_INFLIGHT pings in flight together', async () => {
    const w = roundWorld({ PING_MUC_CONCURRENCY: '4', PING_MUC_SERVER_MAX_INFLIGHT: '8' });
    const remotes = ['muc.b.example', 'muc.c.example', 'muc.d.example', 'muc.e.example'];
    for (const r of remotes) await seedJoins(w, 20, r, r.split('.')[1]);
    for (const r of remotes) await closeLink(w, r);
    // All four rounds start together.
    const starts = [...w.scheduler.pending.values()];
    w.scheduler.pending.clear();
    w.clock.t = Math.max(...starts.map((s) => s.job.at!));
    await Promise.all(starts.map((s) => runRound(w.deps, s.job)));
    expect(w.api.maxInFlight).toBeLessThanOrEqual(8);
    expect(w.logs.filter((l) => l.message === 'round waits for a slot of its server').length).toBeGreaterThanOrEqual(2);
    await drive(w);
    expect(w.api.pings).toHaveLength(80);
    expect(w.store.slotsHeld(HOST)).toBe(0);
  });

  it('refuses a server bound below one round', () => {
    expect(() => loadConfig({ PING_MUC_CONCURRENCY: '64', PING_MUC_SERVER_MAX_INFLIGHT: '32' })).toThrow(
      /below PING_MUC_CONCURRENCY/,
    );
  });
});

describe('configuration that cannot work (9.7)', () => {
  it('refuses an API timeout whose deadline margin exceeds the function timeout', () => {
    // 32 workers, pages of 128: eight joins per worker, two 60 s calls each, past 600 s.
    expect(() =>
      checkRoundTimeout(
        loadConfig({
          PING_MUC_CONCURRENCY: '32',
          PING_MUC_API_TIMEOUT_MS: '60000',
          PING_MUC_ROUND_TIMEOUT_SECONDS: '600',
        }),
      ),
    ).toThrow(/does not fit/);
    expect(() =>
      checkRoundTimeout(loadConfig({ PING_MUC_CONCURRENCY: '32', PING_MUC_ROUND_TIMEOUT_SECONDS: '600' })),
    ).not.toThrow();
    // The default (batches of 100, C = 1,000): three joins per worker, three 100 s calls each.
    expect(() =>
      checkRoundTimeout(loadConfig({ PING_MUC_API_TIMEOUT_MS: '100000', PING_MUC_ROUND_TIMEOUT_SECONDS: '600' })),
    ).toThrow(/does not fit/);
    expect(() => checkRoundTimeout(loadConfig({ PING_MUC_ROUND_TIMEOUT_SECONDS: '600' }))).not.toThrow();
  });
  it('keeps a margin for all that is fed whether C exceeds a page or not', () => {
    // In flight C, queued up to C − 1 + a page: three joins per worker, three 15 s calls each
    // (a self-ping, its one short re-check after 1 s when unconfirmed, a notification).
    expect(deadlineMarginMs(loadConfig({ PING_MUC_API_BATCH: '100' }))).toBe(3 * (3 * 15_000 + 1_000) + 10_000);
    // The default is that one: 148 s, well within the round function's 600 s.
    expect(deadlineMarginMs(loadConfig({}))).toBe(3 * (3 * 15_000 + 1_000) + 10_000);
    // C below a page: the rest of a page and a new one (32 workers, pages of 128).
    expect(deadlineMarginMs(loadConfig({ PING_MUC_CONCURRENCY: '32' }))).toBe(8 * (3 * 15_000 + 1_000) + 10_000);
  });
});

describe('joins re-posted by the server', () => {
  it('a join re-posted after the close with its original since keeps its marks', async () => {
    const w = roundWorld({ PING_MUC_RECHECKS: '2' });
    const [j] = await seedJoins(w, 1);
    w.api.answers.set(j!.occupant, 'remote-down');
    const stored = w.store.allJoins()[0]!;
    await closeLink(w);
    // The module reloads and re-announces the join: a new seq, the original since.
    await w.store.putJoin({ ...stored, seq: nextSeq(), since: stored.seq }, 2e9);
    const first = w.scheduler.takeNext()!;
    w.clock.t = first.at;
    await runRound(w.deps, first.job);
    // Re-posted again between the passes: the mark for pass 1 survives.
    await w.store.putJoin({ ...stored, seq: nextSeq(), since: stored.seq }, 2e9);
    await drive(w);
    expect(w.api.pingsOf(j!.occupant)).toBe(3);
    expect(w.api.notifications).toHaveLength(1);
  });
});

describe('a remote that comes back (issue 11.3)', () => {
  /** The remote answers remote-server-not-found until `back` (ms after the close), then the truth. */
  function downUntil(w: ReturnType<typeof roundWorld>, backAfterMs: number, ghosts: Set<string>) {
    const closedAt = w.clock.now();
    const real = w.api.selfPing.bind(w.api);
    w.api.selfPing = async (join) => {
      w.api.answers.set(
        join.occupant,
        w.clock.now() < closedAt + backAfterMs
          ? 'remote-down'
          : ghosts.has(join.occupant)
            ? 'not-acceptable'
            : 'joined',
      );
      return real(join);
    };
    return closedAt;
  }

  describe('with probes every 10 s', () => {
    let w: ReturnType<typeof roundWorld>;
    let ghosts: Set<string>;
    let closedAt: number;
    let back: number;
    beforeAll(async () => {
      w = roundWorld({ PING_MUC_RECHECKS: '3', PING_MUC_PROBE_SECONDS: '10' });
      const joins = await seedJoins(w, 5);
      ghosts = new Set([joins[0]!.occupant, joins[3]!.occupant]);
      closedAt = downUntil(w, 60_000 + 25_000, ghosts); // back 25 s after the first pass
      await closeLink(w);
      await drive(w);
      back = closedAt + 85_000;
    });

    it('tells the ghosts within one probe interval of the return', () => {
      expect(w.api.notifications.map((n) => n.occupant).sort()).toEqual([...ghosts].sort());
      for (const n of w.api.notifications) expect(n.at - back).toBeLessThanOrEqual(10_000);
    });

    it('probes the waiting round once per interval', () => {
      // One probe ping per interval while down: the probes at +70 s and +80 s, then the one that sees it back.
      const probes = w.api.pings.filter(
        (p) => p.at > closedAt + 60_000 && p.at < back + 10_000 && p.occupant === w.api.pings[0]!.occupant,
      );
      expect(probes.length).toBeLessThanOrEqual(4);
      expect(w.store.allRounds()[0]!.state).toBe('done');
    });
  });

  it('without probes the re-check waits for its backoff', async () => {
    const w = roundWorld({ PING_MUC_RECHECKS: '3', PING_MUC_PROBE_SECONDS: '0' });
    const joins = await seedJoins(w, 2);
    const closedAt = downUntil(w, 85_000, new Set([joins[0]!.occupant]));
    await closeLink(w);
    await drive(w);
    expect(w.api.notifications.map((n) => n.at - closedAt)).toEqual([120_000]);
  });

  it('an s2s-up of the link makes the waiting round look after a short grace', async () => {
    const { linkUp, S2S_UP_GRACE_MS } = await import('../../../lib/app/link');
    const w = roundWorld({ PING_MUC_RECHECKS: '3', PING_MUC_PROBE_SECONDS: '0', PING_MUC_RECHECK_BASE_SECONDS: '600' });
    const joins = await seedJoins(w, 2);
    const closedAt = downUntil(w, 65_000, new Set([joins[1]!.occupant]));
    await closeLink(w);
    const start = w.scheduler.takeNext()!;
    w.clock.t = start.at;
    await runRound(w.deps, start.job); // pass 0: remote down, re-check in 600 s
    w.clock.t = closedAt + 70_000; // the link is back
    expect(await linkUp(w.deps, HOST, REMOTE)).toBe(1);
    await drive(w);
    expect(w.api.notifications.map((n) => n.at - closedAt)).toEqual([70_000 + S2S_UP_GRACE_MS]);
  });

  it('a probe job for a round no longer waiting does nothing', async () => {
    const w = roundWorld();
    await seedJoins(w, 1);
    await closeLink(w);
    await drive(w);
    const { gen } = w.store.allRounds()[0]!;
    w.scheduler.created.length = 0;
    await runRound(w.deps, { host: HOST, remote: REMOTE, gen, kind: 'continue', pass: 0, probe: true });
    expect(w.api.pings).toHaveLength(1);
    expect(w.scheduler.created).toEqual([]);
  });
});
