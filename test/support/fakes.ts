// Fakes for the round's unit tests: an injected clock, a scheduler that a test drives job by
// job in time order, and a stanza API that answers per occupant. No HTTP, no dynalite, no sleeps.
import type { Element } from 'ltx';
import { reconcile, RECONCILE_PERIOD_MS } from '../../lib/app/reconcile';
import type { RoundDeps } from '../../lib/app/deps';
import { runRound } from '../../lib/app/round';
import type { PingReply, RoundJob } from '../../lib/domain/model';
import { parseRoundJob, serializeRoundJob } from '../../lib/domain/round-job';
import { classify } from '../../lib/domain/outcome';
import { joinedAt } from '../../lib/domain/model';
import { selfPing } from '../../lib/domain/stanzas';
import type { JoinRef, Scheduler, StanzaApi } from '../../lib/ports';
import type { Clock } from '../../lib/support/clock';
import { loadConfig, type Config } from '../../lib/support/config';
import { createLogger, Metrics } from '../../lib/support/observability';
import { MemoryStore } from '../../harness/memory-store';
import { parse } from 'ltx';

/** Time moves only when someone sleeps or the test says so. */
export class FakeClock implements Clock {
  constructor(public t = Date.UTC(2026, 11, 1)) {}
  now = (): number => this.t;
  sleep = async (ms: number): Promise<void> => {
    // Concurrent sleepers started at the same time wake together: time moves once. Work that
    // needs no time (the in-memory store's reads, chained promises) finishes before it moves.
    const wake = this.t + Math.max(0, ms);
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.t = Math.max(this.t, wake);
  };
  advance(ms: number): void {
    this.t += ms;
  }
}

export interface ScheduledJob {
  name: string;
  at: number;
  job: RoundJob;
}

/** Keeps jobs by name, as EventBridge Scheduler does: a name is free again once its job ran. */
export class FakeScheduler implements Scheduler {
  readonly pending = new Map<string, ScheduledJob>();
  readonly created: ScheduledJob[] = [];
  /** Throws on the next schedule calls while > 0. */
  failNext = 0;

  async schedule(name: string, at: number, job: RoundJob): Promise<boolean> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('scheduler unavailable');
    }
    if (this.pending.has(name)) return false;
    // Through the schedule input, as the real adapters store it.
    const entry = { name, at, job: parseRoundJob(serializeRoundJob(job)) };
    this.pending.set(name, entry);
    this.created.push(entry);
    return true;
  }

  /** Removes and returns the earliest job, if any. */
  takeNext(): ScheduledJob | undefined {
    let first: ScheduledJob | undefined;
    for (const entry of this.pending.values()) if (!first || entry.at < first.at) first = entry;
    if (first) this.pending.delete(first.name);
    return first;
  }
}

export type Answer =
  | 'joined'
  | 'not-acceptable'
  | 'nick-changed'
  /** item-not-found without `by`: ejabberd's answer for a lost room and for an old nick alike. */
  | 'no-by'
  | 'remote-down'
  | 'timeout'
  | 'no-session'
  | 'bad-answer'
  | 'throw';

/** One self-ping reply per answer, as the server would send it. */
export function replyFor(answer: Answer, user: string, occupant: string): PingReply {
  const room = occupant.split('/')[0] as string;
  const host = user.split('@')[1]?.split('/')[0] as string;
  const iq = selfPing(user, occupant);
  const error = (condition: string, by: string | undefined, type = 'cancel') =>
    parse(
      `<iq type="error" id="${iq.attrs.id}" from="${occupant}" to="${user}"><error type="${type}"${by === undefined ? '' : ` by="${by}"`}><${condition} xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`,
    ) as Element;
  switch (answer) {
    case 'joined':
      return {
        kind: 'reply',
        iq: parse(`<iq type="result" id="${iq.attrs.id}" from="${occupant}" to="${user}"/>`) as Element,
      };
    case 'not-acceptable':
      return { kind: 'reply', iq: error('not-acceptable', room, 'modify') };
    case 'nick-changed':
      return { kind: 'reply', iq: error('item-not-found', room) };
    case 'no-by':
      return { kind: 'reply', iq: error('item-not-found', undefined) };
    case 'remote-down':
      return { kind: 'reply', iq: error('remote-server-not-found', host) };
    case 'timeout':
      return { kind: 'timeout' };
    case 'no-session':
      return { kind: 'no-session' };
    case 'bad-answer':
      return { kind: 'bad-answer', reason: 'unparsable' };
    case 'throw':
      throw new Error('stanza API unreachable');
  }
}

export interface Ping {
  at: number;
  user: string;
  occupant: string;
  /** The join's identity the round named (JoinRef.since). */
  since?: number;
}

/** The room of an occupant JID (room/nick). */
export const roomOf = (occupant: string) => occupant.slice(0, occupant.indexOf('/'));
const nickOf = (occupant: string) => occupant.slice(occupant.indexOf('/') + 1);

/** The module's current join of a session in a room: its nick and its identity (since). */
export interface ModuleJoin {
  nick: string;
  since: number;
}

/**
 * The stanza API as the round sees it (lib/ports.ts), over a model of the server's module
 * (prosody/mod_ping_muc_cloud): answers per occupant (default: joined), records pings and
 * notifications with their time. A heal or a notification acts only on the session's current
 * join of that room with that nick and that identity (`since`), as the module checks it, and
 * the module forgets the join as it delivers.
 */
export class FakeStanzaApi implements StanzaApi {
  readonly answers = new Map<string, Answer | ((ping: Ping) => Answer)>();
  readonly pings: Ping[] = [];
  readonly notifications: Array<{ at: number; user: string; occupant: string; since: number }> = [];
  /** Throws on the next calls while > 0 (our own failure). */
  failNext = 0;
  /**
   * `user room` joins the server's module no longer has: it forgets a join when it delivers a
   * notification for it (joins.lib.lua, posting no leave: the store keeps the join), and then
   * answers a self-ping, a heal or a notification for it with no-session.
   */
  readonly forgotten = new Set<string>();
  /**
   * The module's current join of `user` in `room`. roundWorld reads the store, which the
   * module's events reach at once there; a test that plays a rejoin the store has not heard of
   * yet sets its own. Undefined: the module has no join there.
   */
  joinOf: ((user: string, room: string) => ModuleJoin | undefined) | undefined;
  inFlight = 0;
  maxInFlight = 0;

  constructor(private readonly clock: Clock) {}

  /** Whether the module's current join of the session in that room is `join` (nick and identity). */
  isCurrent(join: JoinRef): boolean {
    const room = roomOf(join.occupant);
    if (this.forgotten.has(`${join.user} ${room}`)) return false;
    if (!this.joinOf) return true;
    const known = this.joinOf(join.user, room);
    return known !== undefined && known.nick === nickOf(join.occupant) && known.since === join.since;
  }

  /** A self-ping whose reply is only read (the probe), and the self-ping of a heal. */
  async selfPing(join: JoinRef): Promise<PingReply> {
    const { user, occupant, since } = join;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await Promise.resolve();
      if (this.failNext > 0) {
        this.failNext--;
        throw new Error('stanza API unreachable');
      }
      const ping = { at: this.clock.now(), user, occupant, since };
      this.pings.push(ping);
      if (this.forgotten.has(`${user} ${roomOf(occupant)}`)) return replyFor('no-session', user, occupant);
      const answer = this.answers.get(occupant) ?? 'joined';
      return replyFor(typeof answer === 'function' ? answer(ping) : answer, user, occupant);
    } finally {
      this.inFlight--;
    }
  }

  /**
   * As the module's heal (api.lib.lua): not the session's current join, no-session without a
   * ping; else a self-ping whose "not joined" reply (by the rule the module mirrors) it acts on
   * at once, if the session is still in that join when the reply comes.
   */
  async heal(join: JoinRef): Promise<PingReply> {
    if (!this.isCurrent(join)) {
      await Promise.resolve();
      return { kind: 'no-session' };
    }
    const reply = await this.selfPing(join);
    const host = join.user.slice(join.user.indexOf('@') + 1, join.user.indexOf('/'));
    if (reply.kind !== 'reply' || classify(reply, { host, room: roomOf(join.occupant) }) !== 'not-joined') return reply;
    return this.deliver(join) ? { kind: 'notified' } : { kind: 'no-session' };
  }

  /** Server pings (the round brings the link to its remote up before its due time). */
  readonly serverPings: Array<{ at: number; host: string; remote: string }> = [];

  async serverPing(host: string, remote: string): Promise<void> {
    this.serverPings.push({ at: this.clock.now(), host, remote });
  }

  async notify(join: JoinRef): Promise<'sent' | 'no-session'> {
    await Promise.resolve();
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('stanza API unreachable');
    }
    return this.deliver(join) ? 'sent' : 'no-session';
  }

  /** As the module: a notification for the session's current join is delivered, and the join forgotten. */
  deliver(join: JoinRef): boolean {
    if (!this.isCurrent(join)) return false;
    this.forgotten.add(`${join.user} ${roomOf(join.occupant)}`);
    this.notifications.push({ at: this.clock.now(), user: join.user, occupant: join.occupant, since: join.since });
    return true;
  }

  pingsOf(occupant: string): number {
    return this.pings.filter((p) => p.occupant === occupant).length;
  }
}

export interface RoundWorld {
  clock: FakeClock;
  store: MemoryStore;
  scheduler: FakeScheduler;
  api: FakeStanzaApi;
  config: Config;
  deps: RoundDeps;
  logs: Array<{ level: string; message: string; [k: string]: unknown }>;
  /** EMF documents, once `deps.metrics.flush()` ran. */
  emf: Array<Record<string, unknown>>;
}

/** A round's world on fakes. `env` overrides PING_MUC_* settings (delay 60 s, C = 4 by default). */
export function roundWorld(env: Record<string, string> = {}): RoundWorld {
  const clock = new FakeClock();
  const store = new MemoryStore(clock.now);
  const scheduler = new FakeScheduler();
  const api = new FakeStanzaApi(clock);
  api.joinOf = (user, room) => {
    const join = store.joinOf(user, room);
    return join && { nick: join.nick, since: joinedAt(join) };
  };
  // Probes off unless a test asks: most tests pin the re-check schedule itself.
  const config = loadConfig({
    PING_MUC_PROBE_SECONDS: '0',
    PING_MUC_DELAY_SECONDS: '60',
    PING_MUC_CONCURRENCY: '4',
    PING_MUC_API_URL: 'http://api.invalid/',
    ...env,
  });
  const logs: RoundWorld['logs'] = [];
  const log = createLogger('test', 'debug', (line) => logs.push(JSON.parse(line)));
  const emf: RoundWorld['emf'] = [];
  // Detailed: tests read every outcome's count.
  const metrics = new Metrics('Test', (line) => emf.push(JSON.parse(line)), 'local', 'detailed');
  const deps: RoundDeps = { joins: store, rounds: store, scheduler, api, config, log, metrics, clock, selfRetry: true };
  return { clock, store, scheduler, api, config, deps, logs, emf };
}

export interface DriveOptions {
  /** Stop after this many invocations (a test failure if jobs are still pending). */
  maxInvocations?: number;
  /** Time budget of each invocation, from the job's start in fake time; or per invocation. */
  remainingMs?: (invocation: number) => () => number;
  /** Called before each invocation (fault injection: duplicate, drop, extra jobs). */
  before?: (job: ScheduledJob, world: RoundWorld) => void;
  /**
   * Runs the reconciler every RECONCILE_PERIOD_MS of fake time between the jobs, and goes on
   * while a window or a round has work left (not only while jobs are scheduled).
   */
  reconcile?: boolean;
}

/** Whether a window is pending or a round not done: the store's overdue items of any due. */
export async function liveWork(world: RoundWorld): Promise<boolean> {
  return (await world.store.overdue(Number.MAX_SAFE_INTEGER, 1)).items.length > 0;
}

/** The earliest scheduled job, left in place. */
function peek(scheduler: FakeScheduler): ScheduledJob | undefined {
  let first: ScheduledJob | undefined;
  for (const entry of scheduler.pending.values()) if (!first || entry.at < first.at) first = entry;
  return first;
}

/**
 * Runs the scheduled jobs in time order, each at its time, until none is left. An invocation
 * that throws is retried a minute later, as Lambda's async retries would.
 */
export async function drive(world: RoundWorld, options: DriveOptions = {}): Promise<number> {
  const max = options.maxInvocations ?? 10_000;
  let invocations = 0;
  let tick = options.reconcile
    ? Math.floor(world.clock.now() / RECONCILE_PERIOD_MS) * RECONCILE_PERIOD_MS + RECONCILE_PERIOD_MS
    : Infinity;
  for (;;) {
    const first = peek(world.scheduler);
    if (options.reconcile && (first ? first.at >= tick : await liveWork(world))) {
      if (++invocations > max) throw new Error(`work left after ${max} invocations and reconciler runs`);
      world.clock.t = Math.max(world.clock.t, tick);
      tick += RECONCILE_PERIOD_MS;
      await reconcile(world.deps);
      continue;
    }
    const next = world.scheduler.takeNext();
    if (!next) return invocations;
    if (++invocations > max) throw new Error(`still scheduled after ${max} invocations: ${JSON.stringify(next)}`);
    world.clock.t = Math.max(world.clock.t, next.at);
    options.before?.(next, world);
    const remaining = options.remainingMs?.(invocations) ?? (() => Infinity);
    try {
      await runRound(world.deps, next.job, remaining);
    } catch {
      world.scheduler.pending.set(`lambda-retry-${invocations}`, {
        name: `lambda-retry-${invocations}`,
        at: world.clock.t + 60_000,
        job: next.job,
      });
    }
  }
}

export const HOST = 'a.example';
export const REMOTE = 'muc.b.example';

let seqCounter = 1_000_000;
export const nextSeq = (): number => ++seqCounter;

/** Stores `n` joins of HOST in rooms on `remote`; returns them. */
export async function seedJoins(
  world: RoundWorld,
  n: number,
  remote = REMOTE,
  prefix = 'u',
): Promise<Array<{ user: string; occupant: string }>> {
  const out: Array<{ user: string; occupant: string }> = [];
  const expires = Math.floor(world.clock.now() / 1000) + 86_400 * 30;
  for (let i = 0; i < n; i++) {
    const user = `${prefix}${i}@${HOST}/r`;
    const room = `room${i}@${remote}`;
    const nick = `${prefix}${i}`;
    await world.store.putJoin({ host: HOST, user, room, nick, remote, seq: nextSeq() }, expires);
    out.push({ user, occupant: `${room}/${nick}` });
  }
  return out;
}

/** An s2s close of HOST's link to `remote`, through the use case. */
export async function closeLink(world: RoundWorld, remote = REMOTE): Promise<void> {
  const { linkClosed } = await import('../../lib/app/link');
  await linkClosed(world.deps, HOST, remote, nextSeq());
}
