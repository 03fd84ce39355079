// One simulated world and the runner of a history in it: the real lib/app code (events applied
// by ingest's validation and apply path, rounds run by runRound, the reconciler), the in-memory
// store behind a fault injector, a scheduler with the round queue's, EventBridge's and Lambda's
// delivery rules, and the module and MUC model (./module.ts). The invariants are checked after every step.
import type { RoundDeps } from '../../lib/app/deps';
import { applyEvents } from '../../lib/app/ingest';
import { runRound } from '../../lib/app/round';
import { parseBatch } from '../../lib/domain/events';
import { joinedAt, type Join, type RoundJob } from '../../lib/domain/model';
import { parseRoundJob, serializeRoundJob } from '../../lib/domain/round-job';
import { scheduledMinute } from '../../lib/domain/schedule';
import type { JoinStore, RoundStore, Scheduler, StanzaApi } from '../../lib/ports';
import type { Clock } from '../../lib/support/clock';
import { loadConfig } from '../../lib/support/config';
import { createLogger, Metrics } from '../../lib/support/observability';
import { MemoryStore } from '../../harness/memory-store';
import { oneKeyRegistry } from '../support/registry';
import { Loop, never, rng } from './loop';
import { HOST, ModuleModel, type RawEvent, type RecordedOp, type Switches, type Told } from './module';

export const REMOTES = ['muc.b.example', 'muc.c.example'] as const;
export const ROOMS = ['r0@muc.b.example', 'r1@muc.b.example', 'r0@muc.c.example'] as const;
export const USERS = ['u0@a.example/r', 'u1@a.example/r', 'u2@a.example/r'] as const;
/** The `i`-th of a fixed list (the generators stay within it). */
const nth = <T>(list: readonly T[], i: number): T => list[i] as T;
export const nickOf = (user: number, alt: boolean): string => `n${user}${alt ? 'x' : ''}`;

const DELAY_MS = 60_000;
export const RECONCILE_PERIOD_MS = 60_000;
/** A round function's timeout (Lambda kills it then). */
const INVOCATION_MS = 600_000;
/** Lambda's async retries of a failed invocation, then the DLQ. */
const LAMBDA_RETRIES_MS = [60_000, 120_000];
/** How long the world may take to settle once the history ends (reconciler running). */
const QUIESCE_MS = 6 * 3600_000;
const T0 = Date.UTC(2026, 11, 1);

export type Cmd =
  | { c: 'wait'; ms: number }
  | { c: 'join'; user: number; room: number; alt: boolean }
  | { c: 'leave'; user: number; room: number }
  | { c: 'end'; user: number }
  /** The link closes; the MUC loses the occupants of the users in `lose` (bits). */
  | { c: 'close'; remote: number; lose: number }
  /** The remote MUC server restarts: kill -9 loses every occupant; down for `downMs`. */
  | { c: 'muc-restart'; remote: number; kill: boolean; downMs: number }
  | { c: 'up'; remote: number }
  | { c: 'reload' }
  | { c: 'restart'; kill: boolean }
  /** The server's clock is set `ms` off the service's (0: NTP corrected it). */
  | { c: 'skew'; ms: number };

/** Fault tapes: each decision of a kind reads the next value (0..99, high = a fault); 0 once spent. */
export interface Faults {
  store: number[];
  sched: number[];
  api: number[];
  post: number[];
  inv: number[];
}

export interface History {
  seed: number;
  cmds: Cmd[];
  faults: Faults;
  /** Store calls take 1–16 ms: concurrent reads and writes interleave. */
  storeLatency?: boolean;
}

export interface SimOptions {
  switches?: Switches;
  /** Fail when lib/app/reconcile.ts is missing (the pinned seeds); else run without it. */
  requireReconciler?: boolean;
  /** Store calls take 1–16 ms (else none): concurrent reads and writes interleave. */
  storeLatency?: boolean;
  /** Record the module model's operations and decisions (Outcome.ops), for the Lua replay. */
  record?: boolean;
  /** A ghost left after a bad answer on the last pass is a violation too. */
  strictBadAnswer?: boolean;
  /** Keep every trace line (for printing); else only the last ones. */
  traceAll?: boolean;
}

export interface Outcome {
  violation?: string;
  trace: string[];
  steps: number;
  told: number;
  invocations: number;
  simMs: number;
  /** With `record`: the module model's operations up to the first one a replay cannot follow. */
  ops?: RecordedOp[];
}

class Tape {
  private i = 0;
  off = false;
  constructor(private readonly values: number[]) {}
  next(): number {
    if (this.off || this.i >= this.values.length) return 0;
    return this.values[this.i++] as number;
  }
}

interface Invocation {
  id: number;
  job?: RoundJob;
  killed: boolean;
}

type Reconcile = (deps: RoundDeps) => Promise<unknown>;
let reconcileModule: { reconcile?: Reconcile } | undefined | null;

/** lib/app/reconcile.ts's reconcile, or undefined while it does not exist. */
export async function loadReconcile(): Promise<Reconcile | undefined> {
  if (reconcileModule === undefined) {
    const path = '../../lib/app/reconcile';
    reconcileModule = await import(/* @vite-ignore */ path).catch(() => null);
  }
  return reconcileModule?.reconcile;
}

const fmtT = (ms: number) => `+${((ms - T0) / 1000).toFixed(1)}s`;

export function describeCmd(c: Cmd): string {
  switch (c.c) {
    case 'wait':
      return `wait ${c.ms / 1000} s`;
    case 'join':
      return `${USERS[c.user]} joins ${ROOMS[c.room]} as ${nickOf(c.user, c.alt)}`;
    case 'leave':
      return `${USERS[c.user]} leaves ${ROOMS[c.room]}`;
    case 'end':
      return `${USERS[c.user]}'s session ends`;
    case 'close': {
      const lost = USERS.filter((_, i) => c.lose & (1 << i)).map((u) => u.slice(0, 2));
      return `link to ${REMOTES[c.remote]} closes; the MUC loses ${lost.length ? lost.join(', ') : 'nobody'}`;
    }
    case 'muc-restart':
      return `${REMOTES[c.remote]} restarts (${c.kill ? 'kill -9: loses every occupant' : 'graceful: keeps them'}), down ${c.downMs / 1000} s`;
    case 'up':
      return `link to ${REMOTES[c.remote]} comes up`;
    case 'reload':
      return 'module reload (sessions survive; resync)';
    case 'restart':
      return `server restart (${c.kill ? 'kill -9' : 'graceful'}; sessions gone)`;
    case 'skew':
      return `server clock set ${c.ms / 1000} s off`;
  }
}

/** Runs one history; the first invariant broken, with the trace that led to it. */
export async function runHistory(h: History, opts: SimOptions = {}): Promise<Outcome> {
  const reconcile = await loadReconcile();
  if (!reconcile && opts.requireReconciler)
    return {
      violation: 'lib/app/reconcile.ts has no reconcile(): the simulator needs the reconciler',
      trace: [],
      steps: 0,
      told: 0,
      invocations: 0,
      simMs: 0,
    };
  const random = rng(h.seed);
  const savedRandom = Math.random;
  Math.random = random; // jitter inside lib code (retrying's backoff) follows the seed too
  try {
    return await simulate(h, opts, reconcile);
  } finally {
    Math.random = savedRandom;
  }
}

async function simulate(h: History, opts: SimOptions, reconcile: Reconcile | undefined): Promise<Outcome> {
  const loop = new Loop(T0);
  const trace: string[] = [];
  const log = (line: string) => {
    trace.push(`${fmtT(loop.now)} ${line}`);
    if (!opts.traceAll && trace.length > 400) trace.splice(0, 200);
  };
  let violation: string | undefined;
  const fail = (msg: string) => {
    if (violation === undefined) {
      violation = `${fmtT(loop.now)} ${msg}`;
      log(`VIOLATION ${msg}`);
    }
  };
  const tapes = {
    store: new Tape(h.faults.store),
    sched: new Tape(h.faults.sched),
    api: new Tape(h.faults.api),
    post: new Tape(h.faults.post),
    inv: new Tape(h.faults.inv),
  };
  const faultsOff = () => {
    for (const t of Object.values(tapes)) t.off = true;
  };

  const config = loadConfig({
    PING_MUC_DELAY_SECONDS: String(DELAY_MS / 1000),
    PING_MUC_CONCURRENCY: '2',
    PING_MUC_PAGE_SIZE: '2',
    PING_MUC_RECHECKS: '2',
    PING_MUC_PROBE_SECONDS: '10',
    PING_MUC_API_URL: 'http://api.invalid/',
    PING_MUC_ROUND_TIMEOUT_SECONDS: String(INVOCATION_MS / 1000),
  });
  const raw = new MemoryStore(() => loop.now);
  const metrics = new Metrics('Sim', () => undefined);
  const quiet = createLogger('sim', 'error', () => undefined);

  // --- the module and the MUCs ---
  // Draws keyed by what they are for (and the how-many-th of that key), not by one stream: a
  // command removed while shrinking shifts no other timing, so a shrunk history still fails.
  const drawn = new Map<string, number>();
  const draw = (key: string): number => {
    const n = (drawn.get(key) ?? 0) + 1;
    drawn.set(key, n);
    return hash01(`${h.seed}|${key}|${n}`);
  };
  const latency = (key: string) => 20 + Math.floor(draw(`latency|${key}`) * 180);
  const module: ModuleModel = new ModuleModel(
    {
      now: () => loop.now,
      sleep: loop.sleep,
      latency,
      post: (events) => postEvents(events),
      apiFault: () => {
        const r = tapes.api.next();
        if (r >= 97) return 'throw';
        if (r >= 94) return 'timeout';
        if (r >= 92) return 'bad-answer';
        if (r >= 90) return 'answer-lost';
        return undefined;
      },
      postFault: () => tapes.post.next() >= 90,
      trace: log,
      onTold: (told: Told, mucHas: boolean) => {
        const twice = module.told.find((t) => t.user === told.user && t.room === told.room && t.since === told.since);
        if (twice) fail(`${told.user} told twice for its join of ${told.room} (since ${told.since})`);
        // The round's own notification after its last pass found the remote still unreachable:
        // the re-check budget is spent and the join counts as lost, as mod_ping_muc does (a remote
        // down through every re-check; docs/simulation.md).
        const budgetSpent =
          told.via === 'notify' &&
          /remote-server-not-found|timeout/.test(
            module.lastAnswer.get(`${told.user}|${told.room}/${told.nick}|${told.since}`) ?? '',
          );
        if (mucHas && budgetSpent)
          log(`${told.user} told while joined, after its re-check budget was spent (by design)`);
        else if (mucHas) fail(`${told.user} told while joined to ${told.room} as ${told.nick} (a false kick)`);
        // The client rejoins at once on status 333, mostly.
        if (draw(`rejoin|${told.user}|${told.room}`) < 0.5) {
          loop.at(loop.now + 1000 + Math.floor(draw(`rejoin-after|${told.user}|${told.room}`) * 9000), () => {
            if (module.sessions.has(told.user) && !module.sessions.get(told.user)?.rooms.has(told.room)) {
              log(`${told.user} rejoins ${told.room} as ${told.nick} (after status 333)`);
              module.join(told.user, told.room, told.nick);
            }
          });
        }
      },
    },
    [...REMOTES],
    opts.switches,
  );

  if (opts.record) module.record = [];

  // --- invocations (a Lambda each): killable, every call faulty by the tapes ---
  const inflight = new Set<Invocation>();
  let invocations = 0;
  /** Deliveries planned (a job that will run, a Lambda retry) per `host|remote|gen`. */
  const planned = new Map<string, number>();
  /** When a job of `host|remote|gen` last ran, ended or was lost: the reconciler has a period to re-arm it. */
  const lastSeen = new Map<string, number>();
  const plan = (job: RoundJob, d: number) => {
    const k = `${job.host}|${job.remote}|${job.gen}`;
    planned.set(k, (planned.get(k) ?? 0) + d);
    lastSeen.set(k, loop.now);
  };
  const seen = (job: RoundJob) => lastSeen.set(`${job.host}|${job.remote}|${job.gen}`, loop.now);

  const guard = <T>(inv: Invocation, call: () => Promise<T>): Promise<T> => {
    if (inv.killed) return never();
    return call().then(
      (v) => (inv.killed ? never<T>() : v),
      (e) => (inv.killed ? never<T>() : Promise.reject(e)),
    );
  };

  const faultyStore = (inv: Invocation): JoinStore & RoundStore => {
    return new Proxy(raw, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) =>
          guard(inv, async () => {
            const roll = tapes.store.next();
            // A round trip: concurrent calls land in either order, as DynamoDB's may.
            if (h.storeLatency || opts.storeLatency)
              await loop.sleep(1 + Math.floor(draw(`store|${String(prop)}`) * 15));
            if (roll >= 98) {
              log(`fault: store ${String(prop)} fails before applying`);
              throw new Error('InternalServerError (injected, before)');
            }
            const result = await value.apply(target, args);
            if (prop === 'deleteJoinIf' && result === true) {
              const join = args[0] as Join;
              log(`store: ${join.user}'s join of ${join.room} (since ${joinedAt(join)}) deleted by a round`);
              if (module.hasJoin(join.user, join.room, joinedAt(join)))
                fail(
                  `${join.user}'s join of ${join.room} (since ${joinedAt(join)}) deleted without a ping while its session lives`,
                );
            }
            if (roll >= 96) {
              log(`fault: store ${String(prop)} fails after applying`);
              throw new Error('InternalServerError (injected, after: the response was lost)');
            }
            return result;
          });
      },
    }) as unknown as JoinStore & RoundStore;
  };

  const scheduler: Scheduler = {
    async schedule(name, at, job) {
      const roll = tapes.sched.next();
      if (roll >= 97) {
        log(`fault: schedule ${job.kind} p${job.pass ?? '-'} of ${job.remote} fails`);
        throw new Error('scheduler unavailable (injected)');
      }
      // As lib/adapters/scheduler-sqs.ts: due within 1 s, an async invoke at once; within 15 min,
      // a queue message visible after its DelaySeconds (rounded up) and polled within 500 ms,
      // whose name dedupes nothing; later, a schedule (names dedupe) sending it to the queue
      // anywhere in the minute it names.
      const due = job.at ?? Math.ceil(at);
      const input = parseRoundJob(serializeRoundJob({ ...job, at: due }));
      const now = loop.now;
      const delaySeconds = Math.max(0, Math.ceil((at - now) / 1000));
      const scheduled = delaySeconds > 900;
      if (scheduled && pendingNames.has(name)) return false;
      const deliver =
        due - now <= 1000
          ? now + Math.floor(draw(`now-in|${name}`) * 500)
          : !scheduled
            ? now + delaySeconds * 1000 + Math.floor(draw(`poll|${name}`) * 500)
            : scheduledMinute(at, now + 1000) + Math.floor(draw(`minute|${name}`) * 60_000);
      const d = tapes.sched.next();
      const lost = d >= 97;
      const late = d >= 92 && d < 95 ? 60_000 + Math.floor(draw(`late|${name}`) * 540_000) : 0;
      const twice = d >= 95 && d < 97;
      if (scheduled) pendingNames.add(name);
      plan(input, 1); // a lost job is live until it fires: then it is lost (into the DLQ)
      log(
        `schedule ${name.slice(-8)} ${job.kind} p${job.pass ?? '-'}${job.probe ? ' probe' : ''} of ${job.remote} gen ${job.gen} for ${fmtT(at)}, fires ${fmtT(deliver + late)}${lost ? ' (fault: lost)' : ''}${twice ? ' (fault: twice)' : ''}`,
      );
      loop.at(deliver + late, () => {
        pendingNames.delete(name);
        plan(input, -1);
        if (lost) return;
        invoke(input, 0);
      });
      if (twice) {
        plan(input, 1);
        loop.at(deliver + late + Math.floor(draw(`twice|${name}`) * 300_000), () => {
          plan(input, -1);
          invoke(input, 0);
        });
      }
      if (roll >= 94) {
        log(`fault: schedule ${job.kind} of ${job.remote} created, its answer lost`);
        throw new Error('scheduler timed out (injected, after creating)');
      }
      return true;
    },
  };
  const pendingNames = new Set<string>();

  const api = module.api;
  const depsFor = (inv: Invocation): RoundDeps => {
    const store = faultyStore(inv);
    const clock: Clock = { now: () => loop.now, sleep: (ms) => guard(inv, () => loop.sleep(ms)) };
    const wrapped = Object.fromEntries(
      Object.entries(api).map(([k, f]) => [
        k,
        (...a: unknown[]) => guard(inv, () => (f as (...x: unknown[]) => Promise<unknown>)(...a)),
      ]),
    ) as unknown as StanzaApi;
    return {
      joins: store,
      rounds: store,
      scheduler: { schedule: (n, a, j) => guard(inv, () => scheduler.schedule(n, a, j)) },
      api: wrapped,
      config,
      log: quiet,
      metrics,
      clock,
      selfRetry: true,
    };
  };

  const invoke = (job: RoundJob, lambdaTry: number) => {
    const inv: Invocation = { id: ++invocations, job, killed: false };
    inflight.add(inv);
    const began = loop.now;
    const deadline = began + INVOCATION_MS;
    const tag = `#${inv.id} ${job.kind} p${job.pass ?? '-'}${job.probe ? ' probe' : ''}${job.attempt ? ` retry${job.attempt}` : ''} of ${job.remote} gen ${job.gen}`;
    log(`invoke ${tag}`);
    let over = false;
    const failed = (why: string) => {
      if (over) return;
      over = true;
      inflight.delete(inv);
      seen(job);
      const wait = LAMBDA_RETRIES_MS[lambdaTry];
      log(`${tag} ${why}${wait === undefined ? ': to the DLQ' : ': Lambda retries it'}`);
      if (wait === undefined) return;
      plan(job, 1);
      loop.at(loop.now + wait, () => {
        plan(job, -1);
        invoke(job, lambdaTry + 1);
      });
    };
    const kill = (why: string) => {
      if (over) return;
      inv.killed = true;
      failed(why);
    };
    const k = tapes.inv.next();
    if (k >= 97)
      loop.at(began + Math.floor(draw(`crash|${JSON.stringify(job)}`) * 20_000), () => kill('killed (fault: crash)'));
    loop.at(deadline, () => kill('killed (timeout)'));
    runRound(depsFor(inv), job, () => deadline - loop.now).then(
      () => {
        if (over || inv.killed) return;
        over = true;
        inflight.delete(inv);
        seen(job);
        log(`${tag} ends`);
      },
      (err: Error) => failed(`fails: ${err.message}`),
    );
  };

  // --- the events endpoint: ingest's validation, then its apply path ---
  const postEvents = async (events: RawEvent[]): Promise<number[]> => {
    const inv: Invocation = { id: 0, killed: false };
    const batch = parseBatch(JSON.stringify({ v: 1, events }), loop.now);
    for (const r of batch.refused)
      log(`service refuses ${events[r.index]?.type} seq ${events[r.index]?.seq}: ${r.error}`);
    const deps = { ...depsFor(inv), webhooks: raw, hosts: oneKeyRegistry(Buffer.alloc(32)) };
    const apply = batch.events.map((e) => e.event);
    try {
      await applyEvents(deps, apply);
    } catch (err) {
      log(`service answers 503 to ${describeEvents(events)}: ${(err as Error).message}`);
      throw err;
    }
    const applied = events.filter((_, i) => !batch.refused.some((r) => r.index === i));
    if (applied.length > 0) log(`service applies ${describeEvents(applied)}`);
    return batch.refused.map((r) => r.index);
  };

  // --- the reconciler, every period ---
  let failedTicks = 0;
  const tick = () => {
    loop.at(loop.now + RECONCILE_PERIOD_MS, tick);
    if (!reconcile) return;
    const inv: Invocation = { id: 0, killed: false };
    reconcile(depsFor(inv)).then(
      (r) => {
        failedTicks = 0;
        const n = r as { windows?: number; rounds?: number };
        if (n && (n.windows || n.rounds))
          log(`reconciler re-arms ${n.windows ?? 0} window(s), ${n.rounds ?? 0} round(s)`);
      },
      (err: Error) => {
        failedTicks++;
        log(`reconciler fails: ${err.message}`);
      },
    );
  };
  loop.at(T0 + RECONCILE_PERIOD_MS, tick);

  // --- invariants checked after every step ---
  // Live: a job planned or running, or one that ended or was lost less than a period ago (the
  // reconciler's next run re-arms what it left overdue).
  const live = (host: string, remote: string, gen: string) =>
    (planned.get(`${host}|${remote}|${gen}`) ?? 0) > 0 ||
    (lastSeen.get(`${host}|${remote}|${gen}`) ?? -Infinity) >=
      loop.now - (1 + failedTicks) * RECONCILE_PERIOD_MS - 5_000 ||
    [...inflight].some((i) => i.job && i.job.host === host && i.job.remote === remote && i.job.gen === gen);
  let lastOverdueCheck = 0;
  const checkOverdue = async () => {
    if (!reconcile) return;
    const now = loop.now;
    const limit = now - (3 + failedTicks) * RECONCILE_PERIOD_MS - 5_000;
    for (const remote of REMOTES) {
      const pending = await raw.pendingClose(HOST, remote);
      if (pending && pending.lastCloseAt + DELAY_MS < limit && !live(HOST, remote, pending.gen))
        fail(`window ${remote} gen ${pending.gen} due ${fmtT(pending.lastCloseAt + DELAY_MS)} has no live job`);
      for (const round of await raw.roundsOf(HOST, remote)) {
        if (round.state === 'done') continue;
        if (round.due === undefined) {
          fail(`round ${remote} gen ${round.gen} is ${round.state} with no due time: no reconciler finds it`);
          continue;
        }
        if (round.due < limit && !live(HOST, remote, round.gen))
          fail(
            `round ${remote} gen ${round.gen} (${round.state}, pass ${round.pass}) due ${fmtT(round.due)} has no live job`,
          );
      }
    }
  };
  const afterStep = () => {
    if (loop.now - lastOverdueCheck >= 5_000) {
      lastOverdueCheck = loop.now;
      void checkOverdue();
    }
  };

  // --- the history ---
  const runUntil = async (t: number) => {
    await loop.run(t, afterStep);
  };
  for (const cmd of h.cmds) {
    if (violation) break;
    if (cmd.c === 'wait') {
      await runUntil(loop.now + cmd.ms);
      continue;
    }
    log(`> ${describeCmd(cmd)}`);
    switch (cmd.c) {
      case 'join':
        if (!module.join(nth(USERS, cmd.user), nth(ROOMS, cmd.room), nickOf(cmd.user, cmd.alt)))
          log('  (no join: remote unreachable or nick taken)');
        break;
      case 'leave':
        module.leave(nth(USERS, cmd.user), nth(ROOMS, cmd.room));
        break;
      case 'end':
        module.endSession(nth(USERS, cmd.user));
        break;
      case 'close':
        module.closeLink(nth(REMOTES, cmd.remote), (room, nick) => {
          const occupant = module.remotes.get(nth(REMOTES, cmd.remote))?.rooms.get(room)?.get(nick);
          const u = occupant === undefined ? -1 : (USERS as readonly string[]).indexOf(occupant);
          return u >= 0 && (cmd.lose & (1 << u)) !== 0;
        });
        break;
      case 'muc-restart':
        module.closeLink(nth(REMOTES, cmd.remote), () => cmd.kill, cmd.downMs);
        break;
      case 'up':
        module.linkUp(nth(REMOTES, cmd.remote));
        break;
      case 'reload':
        module.reload();
        break;
      case 'restart':
        module.restart(cmd.kill);
        break;
      case 'skew':
        module.skewMs = cmd.ms;
        break;
    }
    await runUntil(loop.now); // what the command set off at once
  }

  // --- quiescence: no more faults, every remote reachable, the reconciler running ---
  if (!violation) {
    log('> the history ends: no more faults; the world settles');
    faultsOff();
    for (const r of module.remotes.values()) r.downUntil = 0;
    const end = loop.now + QUIESCE_MS;
    let settled = false;
    while (!violation && loop.now < end) {
      await runUntil(loop.now + RECONCILE_PERIOD_MS);
      if (await quiescent()) {
        settled = true;
        break;
      }
    }
    if (!violation && !settled) {
      const open = await openWork();
      fail(`the world did not settle within ${QUIESCE_MS / 3600_000} h: ${open}`);
    }
    if (!violation) {
      for (const j of module.liveJoins()) {
        if (!j.ghost) continue;
        // The round's last pass met our own failure (a bad answer): it never notifies on one,
        // and gives up (docs/simulation.md, "What is not checked").
        if (!opts.strictBadAnswer && module.lastAnswer.get(`${j.user}|${j.occupant}|${j.since}`) === 'bad-answer') {
          log(`${j.user} is a ghost in ${j.room}, left after a bad answer on the round's last pass`);
          continue;
        }
        fail(`${j.user} is a ghost in ${j.room} as ${j.nick} (since ${j.since}) and was never told`);
      }
    }
  }
  return {
    violation,
    trace,
    steps: loop.steps,
    told: module.told.length,
    invocations,
    simMs: loop.now - T0,
    ...(opts.record ? { ops: module.record ?? [] } : {}),
  };

  async function openWork(): Promise<string> {
    const parts: string[] = [];
    if (!module.idle) parts.push(`${module.queue.length} event(s) queued in the module`);
    if (inflight.size) parts.push(`${inflight.size} invocation(s) running`);
    const jobs = [...planned.values()].reduce((a, b) => a + b, 0);
    if (jobs) parts.push(`${jobs} job(s) planned`);
    for (const remote of REMOTES) {
      const pending = await raw.pendingClose(HOST, remote);
      if (pending) parts.push(`window ${remote} gen ${pending.gen} pending`);
      for (const r of await raw.roundsOf(HOST, remote))
        if (r.state !== 'done') parts.push(`round ${remote} gen ${r.gen} ${r.state} pass ${r.pass}`);
    }
    return parts.join('; ');
  }

  async function quiescent(): Promise<boolean> {
    return (await openWork()) === '' && module.idle;
  }
}

/** FNV-1a, then mixed: a uniform draw in [0, 1) from a string. */
function hash01(key: string): number {
  let x = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) x = Math.imul(x ^ key.charCodeAt(i), 0x01000193);
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return ((x ^ (x >>> 16)) >>> 0) / 4294967296;
}

function describeEvents(events: RawEvent[]): string {
  return events
    .map((e) => {
      const who = typeof e.user === 'string' ? ` ${e.user.slice(0, 2)}` : '';
      const where =
        typeof e.room === 'string' ? ` ${e.room}` : Array.isArray(e.remotes) ? ` ${e.remotes.join(',')}` : '';
      const since = e.since !== undefined ? ` since ${e.since}` : '';
      return `${e.type}${who}${where} seq ${e.seq}${since}`;
    })
    .join(' | ');
}
