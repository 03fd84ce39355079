// The model of one XMPP server running mod_ping_muc_cloud, and of the remote MUC servers its
// users are in: what the simulator's histories act on. It mirrors the module's rules
// (prosody/mod_ping_muc_cloud, docs/stanza-api.md, docs/events.md):
// - a join table per session, { room: { nick, since } }; a same-nick rejoin is a new join with a
//   new since; a nick change too;
// - heal and notify act only on the session's current join with that nick and since, and forget
//   the join as they deliver (no leave posted);
// - seq: server time in µs, strictly increasing, never regressing across a restart;
// - every event carries `epoch`: the seq taken as the module's resync began (its load, a
//   reload, a restart); a reload keeps the sessions and resyncs: the live joins re-posted under
//   the new epoch; a session that ends posts a leave per join it holds;
// - events posted in order, a few per request, retried until the service answers 2xx; an event
//   the service refuses is dropped.
// `switches` bring back the old behaviours the review found (H2, H4), so that a test can show
// the simulator finds them.
import type { Element } from 'ltx';
import { classify } from '../../lib/domain/outcome';
import type { PingReply } from '../../lib/domain/model';
import type { JoinRef, StanzaApi } from '../../lib/ports';
import { StanzaApiError } from '../../lib/support/errors';
import { replyFor } from '../support/fakes';

export const HOST = 'a.example';

export interface Switches {
  /** H2: a reload posts host-start first and the re-posted joins after it (for a service that reads host-start). */
  hostStartFirst?: boolean;
  /** H4: the seq clock starts again from the server's clock after a restart (no mark: it may regress). */
  seqRegresses?: boolean;
}

/** A raw event as the module posts it (docs/events.md). */
/** An operation as test/prosody/replay.lua takes it. */
export type ReplayOp =
  | { op: 'join'; user: string; room: string; nick: string }
  | { op: 'leave'; user: string; room: string; nick: string }
  | { op: 'end'; user: string }
  | { op: 'notify'; user: string; room: string; nick: string; since: string }
  | { op: 'heal'; user: string; room: string; nick: string; since: string; reply?: string }
  | { op: 'reload' };

/** One operation of the module model: its decision (a join's since, a call's answer) and the events it posted. */
export interface RecordedOp {
  op: ReplayOp;
  model: string | null;
  events: string[];
}

export type RawEvent = Record<string, unknown> & { type: string; seq: number };

export interface Told {
  at: number;
  user: string;
  room: string;
  nick: string;
  since: number;
  /** Through a heal (the module's own decision) or the round's notify. */
  via: 'heal' | 'notify';
}

interface JoinEntry {
  nick: string;
  since: number;
}

interface Session {
  /** Counts the user's connections: a new one after a session end or a restart. */
  connection: number;
  rooms: Map<string, JoinEntry>;
}

interface Remote {
  /** room -> nick -> full JID of the occupant, as the MUC has them. */
  rooms: Map<string, Map<string, string>>;
  link: 'up' | 'down';
  /** Unreachable (its server down) until this time (ms). */
  downUntil: number;
}

/** What the simulator needs from its world. */
export interface ModuleEnv {
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Posts a request of events to the service; resolves with the indexes it refused, throws on a 5xx. */
  post(events: RawEvent[]): Promise<number[]>;
  /** Latency of one stanza round trip to a remote (ms). */
  latency(key: string): number;
  /** A fault for one stanza API call: undefined for none. */
  apiFault(): 'throw' | 'timeout' | 'bad-answer' | 'answer-lost' | undefined;
  /** A fault for one events request: lost after it was applied (the module posts it again). */
  postFault(): boolean;
  trace(line: string): void;
  /** Called as a notification is delivered, before the join is forgotten (the invariants). */
  onTold(told: Told, mucHas: boolean): void;
}

export class ModuleModel {
  readonly sessions = new Map<string, Session>();
  readonly remotes = new Map<string, Remote>();
  readonly told: Told[] = [];
  /** Events queued, not yet taken by a request. */
  readonly queue: RawEvent[] = [];
  skewMs = 0;
  private lastSeq = 0;
  private mark = 0;
  private posting = false;
  /** Bumped by a restart: a request in flight of the old process is dropped. */
  private process = 0;
  private connections = 0;
  /** The seq taken as the module's last resync began (load, reload, restart): on every event. */
  epoch: number;
  inFlight = 0;
  /** Events the service refused (never applied). */
  refused: RawEvent[] = [];

  constructor(
    private readonly env: ModuleEnv,
    remotes: string[],
    private readonly switches: Switches = {},
    /** Events per request: small, so that a resync takes several requests, as a paced one does. */
    private readonly batch = 2,
  ) {
    for (const r of remotes) this.remotes.set(r, { rooms: new Map(), link: 'up', downUntil: 0 });
    this.epoch = this.nextSeq();
  }

  // --- the server's clock and events ---

  private clockUs(): number {
    return Math.floor((this.env.now() + this.skewMs) * 1000);
  }

  /**
   * The seq mark (events.lib.lua): the highest seq the service may have applied, raised before a
   * request goes out, lowered to the highest it applied when it refuses some.
   */
  private topSeq(events: RawEvent[], skip: number[] = []): number {
    return events.reduce((top, e, i) => (skip.includes(i) ? top : Math.max(top, e.seq)), 0);
  }

  nextSeq(): number {
    const us = this.clockUs();
    this.lastSeq = us <= this.lastSeq ? this.lastSeq + 1 : us;
    return this.lastSeq;
  }

  private enqueue(event: Omit<RawEvent, 'seq'> & { seq?: number }): RawEvent {
    const e = { ...event, host: HOST, seq: event.seq ?? this.nextSeq(), epoch: this.epoch } as unknown as RawEvent;
    if (!e.type.startsWith('s2s-')) this.enqueued.push(e.type);
    this.queue.push(e);
    this.kick();
    return e;
  }

  /** The posting loop: one request at a time, in order, retried until the service takes it. */
  private kick(): void {
    if (this.posting || this.queue.length === 0) return;
    this.posting = true;
    const process = this.process;
    void (async () => {
      let failures = 0;
      while (this.queue.length > 0 && process === this.process) {
        const events = this.queue.slice(0, this.batch);
        await this.env.sleep(
          40 + this.env.latency(`post|${events[0]?.type}|${events[0]?.user ?? ''}|${events[0]?.room ?? ''}`),
        );
        if (process !== this.process) break;
        const markBefore = this.mark;
        this.mark = Math.max(this.mark, this.topSeq(events));
        try {
          const refused = await this.env.post(events);
          if (refused.length > 0) this.mark = Math.max(markBefore, this.topSeq(events, refused));
          if (this.env.postFault()) throw new Error('response lost');
          for (const i of refused) this.refused.push(events[i] as RawEvent);
          if (process !== this.process) break;
          this.queue.splice(0, events.length);
          failures = 0;
        } catch {
          failures++;
          await this.env.sleep(Math.min(60_000, 1000 * 2 ** failures));
        }
      }
      if (process === this.process) this.posting = false;
      this.kick();
    })();
  }

  get idle(): boolean {
    return this.queue.length === 0 && !this.posting;
  }

  // --- the remote MUC servers ---

  private remoteOf(room: string): Remote {
    return this.remotes.get(room.slice(room.indexOf('@') + 1)) as Remote;
  }

  /** Whether the room has `user` under `nick`. */
  mucHas(room: string, nick: string, user: string): boolean {
    return this.remoteOf(room).rooms.get(room)?.get(nick) === user;
  }

  /** Traffic to the remote: false if it is unreachable; brings a closed link up (s2s-up). */
  private reach(remote: string): boolean {
    const r = this.remotes.get(remote) as Remote;
    if (r.downUntil > this.env.now()) return false;
    if (r.link === 'down') {
      r.link = 'up';
      this.enqueue({ type: 's2s-up', remotes: [remote], direction: 'out' });
    }
    return true;
  }

  /** The link closes; the MUC loses the occupants `lose` picks (kill -9: all; a graceful restart: none). */
  closeLink(remote: string, lose: (room: string, nick: string) => boolean, downMs = 0): void {
    const r = this.remotes.get(remote) as Remote;
    r.downUntil = Math.max(r.downUntil, this.env.now() + downMs);
    for (const [room, occupants] of r.rooms)
      for (const nick of [...occupants.keys()]) if (lose(room, nick)) occupants.delete(nick);
    if (r.link === 'up') {
      r.link = 'down';
      this.enqueue({ type: 's2s-close', remotes: [remote], direction: 'out' });
    }
  }

  /** The link comes up without traffic (the remote connected to us). */
  linkUp(remote: string): void {
    this.reach(remote);
  }

  // --- sessions and joins ---

  private session(user: string): Session {
    let s = this.sessions.get(user);
    if (!s) {
      s = { connection: ++this.connections, rooms: new Map() };
      this.sessions.set(user, s);
    }
    return s;
  }

  /**
   * The user sends a MUC join to room/nick: a new join, a same-nick rejoin or a nick change, all
   * new joins for the module (a new since). False if the remote is unreachable (no reflection).
   */
  join(user: string, room: string, nick: string): boolean {
    if (!this.reach(room.slice(room.indexOf('@') + 1))) return false;
    const s = this.session(user);
    const known = s.rooms.get(room);
    const occupants = this.remoteOf(room).rooms.get(room) ?? new Map<string, string>();
    this.remoteOf(room).rooms.set(room, occupants);
    if (known && known.nick !== nick && occupants.get(known.nick) === user) occupants.delete(known.nick);
    const holder = occupants.get(nick);
    if (holder !== undefined && holder !== user) return false; // nick taken: a conflict, no join
    occupants.set(nick, user);
    const op = this.opStart();
    const event = this.enqueue({ type: 'join', user, room, nick });
    s.rooms.set(room, { nick, since: event.seq });
    this.recordOp({ op: 'join', user, room, nick }, event.seq, op);
    return true;
  }

  leave(user: string, room: string): void {
    const s = this.sessions.get(user);
    const known = s?.rooms.get(room);
    if (!s || !known) return;
    const remote = room.slice(room.indexOf('@') + 1);
    if (this.remotes.get(remote)?.link === 'up') {
      const occupants = this.remoteOf(room).rooms.get(room);
      if (occupants?.get(known.nick) === user) occupants.delete(known.nick);
    }
    const op = this.opStart();
    s.rooms.delete(room);
    this.enqueue({ type: 'leave', user, room });
    this.recordOp({ op: 'leave', user, room, nick: known.nick }, null, op);
  }

  endSession(user: string): void {
    const s = this.sessions.get(user);
    if (!s) return;
    for (const [room, known] of s.rooms) {
      const remote = room.slice(room.indexOf('@') + 1);
      if (this.remotes.get(remote)?.link !== 'up') continue;
      const occupants = this.remoteOf(room).rooms.get(room);
      if (occupants?.get(known.nick) === user) occupants.delete(known.nick);
    }
    const op = this.opStart();
    this.sessions.delete(user);
    for (const room of s.rooms.keys()) this.enqueue({ type: 'leave', user, room });
    this.recordOp({ op: 'end', user }, null, op);
  }

  /** A module reload: sessions and the queue survive; every live join is posted again under a new epoch. */
  reload(): void {
    const op = this.opStart();
    const start = this.nextSeq();
    this.epoch = start;
    const reposts: RawEvent[] = [];
    for (const [user, s] of this.sessions)
      for (const [room, known] of s.rooms)
        reposts.push({ type: 'join', user, room, nick: known.nick, since: known.since, seq: 0 } as RawEvent);
    if (this.switches.hostStartFirst) this.enqueue({ type: 'host-start', seq: start });
    for (const r of reposts) this.enqueue({ ...r, seq: undefined });
    this.recordOp({ op: 'reload' }, null, op);
  }

  /**
   * The server restarts: every session is gone. kill -9 loses the queue too; a graceful stop
   * posts the session ends first. The remote MUCs keep the occupants (their links just close).
   */
  restart(kill: boolean): void {
    this.stopRecording(); // the replay of the Lua libraries has no restart
    if (!kill) for (const user of [...this.sessions.keys()]) this.endSession(user);
    this.sessions.clear();
    // The queue dies with the process, killed or stopped: events.lib.lua keeps it only across
    // a reload (module.save). What it had posted is under the mark.
    this.queue.length = 0;
    // A new process starts above the mark (events.lib.lua).
    this.lastSeq = this.switches.seqRegresses ? 0 : this.mark;
    this.process++;
    this.posting = false;
    for (const r of this.remotes.values()) r.link = 'down';
    this.epoch = this.nextSeq();
  }

  // --- the stanza API ---

  /** The session's current join of `room`, if it has that nick and since. */
  private current(ref: JoinRef): { s: Session; room: string; known: JoinEntry } | undefined {
    const slash = ref.occupant.indexOf('/');
    const room = ref.occupant.slice(0, slash);
    const nick = ref.occupant.slice(slash + 1);
    const s = this.sessions.get(ref.user);
    const known = s?.rooms.get(room);
    if (!s || !known || known.nick !== nick || known.since !== ref.since) return undefined;
    return { s, room, known };
  }

  /** The self-ping's way to the room and back; the reply as the room gives it. */
  private async ping(ref: JoinRef): Promise<PingReply> {
    const fault = this.env.apiFault();
    if (fault === 'throw') throw new StanzaApiError('stanza API unreachable (injected)');
    if (fault === 'bad-answer') return replyFor('bad-answer', ref.user, ref.occupant);
    if (fault === 'timeout') {
      // Our client's own timeout: the call may have been acted on; never tried again in place.
      await this.env.sleep(15_000);
      throw new StanzaApiError('stanza API timed out (injected)', { retry: false });
    }
    const half = this.env.latency(`ping|${ref.user}|${ref.occupant}`) / 2;
    await this.env.sleep(half);
    const slash = ref.occupant.indexOf('/');
    const room = ref.occupant.slice(0, slash);
    const nick = ref.occupant.slice(slash + 1);
    const remote = room.slice(room.indexOf('@') + 1);
    let answer: Parameters<typeof replyFor>[0];
    if (!this.reach(remote)) answer = 'remote-down';
    else answer = this.mucHas(room, nick, ref.user) ? 'joined' : 'not-acceptable';
    await this.env.sleep(half);
    return replyFor(answer, ref.user, ref.occupant);
  }

  private deliver(ref: JoinRef, via: Told['via']): boolean {
    const cur = this.current(ref);
    if (!cur) return false;
    const told: Told = {
      at: this.env.now(),
      user: ref.user,
      room: cur.room,
      nick: cur.known.nick,
      since: cur.known.since,
      via,
    };
    this.env.onTold(told, this.mucHas(cur.room, cur.known.nick, ref.user));
    this.told.push(told);
    cur.s.rooms.delete(cur.room); // forgotten as delivered: no leave posted
    this.env.trace(`module tells ${ref.user} in ${cur.room} (since ${cur.known.since}) via ${via}`);
    return true;
  }

  /** The last answer to a heal or notify per join (`user|occupant|since`), for the invariants. */
  readonly lastAnswer = new Map<string, string>();

  /** The API as the round calls it, each call and its answer in the trace. */
  readonly api: StanzaApi = {
    heal: (ref) => this.traced('heal', ref, this.opCount, this.core.heal(ref)),
    selfPing: (ref) => this.traced('selfPing', ref, this.opCount, this.core.selfPing(ref)),
    notify: (ref) => this.traced('notify', ref, this.opCount, this.core.notify(ref)),
    serverPing: (host, remote) => this.core.serverPing(host, remote),
  };

  private async traced<T>(call: string, ref: JoinRef, began: number, answer: Promise<T>): Promise<T> {
    try {
      const a = await answer;
      if (call !== 'selfPing') this.recordCall(call as 'heal' | 'notify', ref, began, a as PingReply | string);
      const shown =
        typeof a === 'string'
          ? a
          : (a as PingReply).kind === 'reply'
            ? `reply ${describeReply(a as PingReply)}`
            : (a as PingReply).kind;
      this.env.trace(`api ${call} ${ref.user.slice(0, 2)} ${ref.occupant} since ${ref.since}: ${shown}`);
      if (call !== 'selfPing') this.lastAnswer.set(`${ref.user}|${ref.occupant}|${ref.since}`, shown);
      return a;
    } catch (err) {
      this.env.trace(
        `api ${call} ${ref.user.slice(0, 2)} ${ref.occupant} since ${ref.since}: throws ${(err as Error).message}`,
      );
      throw err;
    }
  }

  private readonly core: StanzaApi = {
    heal: async (ref) => {
      if (!this.current(ref)) return { kind: 'no-session' };
      const reply = await this.ping(ref);
      this.pinged.set(`${ref.user}|${ref.occupant}|${ref.since}`, reply);
      if (reply.kind !== 'reply') return reply;
      const room = ref.occupant.slice(0, ref.occupant.indexOf('/'));
      if (classify(reply, { host: HOST, room }) !== 'not-joined') return reply;
      // The identity is checked again as the reply comes: a rejoin meanwhile is not told.
      return this.deliver(ref, 'heal') ? { kind: 'notified' } : { kind: 'no-session' };
    },
    selfPing: async (ref) => {
      if (!this.current(ref)) return { kind: 'no-session' };
      return this.ping(ref);
    },
    notify: async (ref) => {
      const fault = this.env.apiFault();
      if (fault === 'throw') throw new StanzaApiError('stanza API unreachable (injected)');
      await this.env.sleep(this.env.latency(`notify|${ref.user}|${ref.occupant}`) / 2);
      const sent = this.deliver(ref, 'notify');
      // Delivered, but the answer never reached the round: it may try again.
      if (fault === 'answer-lost') throw new StanzaApiError('stanza API answer lost (injected)');
      return sent ? 'sent' : 'no-session';
    },
    serverPing: async (_host, remote) => {
      this.reach(remote);
    },
  };

  // --- the module's decisions, for a replay through the real Lua libraries (./replay.test.ts) ---

  /** The module's operations and its decisions, while `record` is set and the history replayable. */
  record: RecordedOp[] | undefined;
  /** Operations so far: a heal or notification another operation overlapped is not replayable in order. */
  private opCount = 0;
  private recording = true;
  private readonly enqueued: string[] = [];
  private readonly pinged = new Map<string, PingReply>();

  private opStart(): number {
    this.opCount++;
    return this.enqueued.length;
  }

  private recordOp(op: ReplayOp, model: string | number | null, eventsFrom: number): void {
    if (this.recording)
      this.record?.push({ op, model: model === null ? null : String(model), events: this.enqueued.slice(eventsFrom) });
  }

  /** The ops recorded so far are kept: they are the replayable prefix. */
  stopRecording(): void {
    this.recording = false;
  }

  private recordCall(call: 'heal' | 'notify', ref: JoinRef, began: number, answer: PingReply | string): void {
    if (!this.record || !this.recording) return;
    // Another operation ran while this call was in flight: the order cannot be replayed.
    if (this.opCount !== began) {
      this.stopRecording();
      return;
    }
    const slash = ref.occupant.indexOf('/');
    const base = {
      user: ref.user,
      room: ref.occupant.slice(0, slash),
      nick: ref.occupant.slice(slash + 1),
      since: String(ref.since),
    };
    if (call === 'notify') {
      this.recordOp({ op: 'notify', ...base }, answer as string, this.enqueued.length);
      return;
    }
    const a = answer as PingReply;
    const pinged = this.pinged.get(`${ref.user}|${ref.occupant}|${ref.since}`);
    const reply = pinged?.kind === 'reply' ? (pinged.iq.getChild('error')?.toString() ?? '') : undefined;
    const model = a.kind === 'notified' ? 'sent' : a.kind === 'reply' ? 'relayed' : a.kind;
    if (model === 'bad-answer') return; // an injected fault of the API, not a decision of the module
    this.recordOp({ op: 'heal', ...base, ...(reply !== undefined ? { reply } : {}) }, model, this.enqueued.length);
  }

  /** Live joins of the module as JoinRefs (for the invariants). */
  liveJoins(): Array<JoinRef & { room: string; nick: string; ghost: boolean }> {
    const out: Array<JoinRef & { room: string; nick: string; ghost: boolean }> = [];
    for (const [user, s] of this.sessions)
      for (const [room, known] of s.rooms)
        out.push({
          user,
          room,
          nick: known.nick,
          occupant: `${room}/${known.nick}`,
          since: known.since,
          ghost: !this.mucHas(room, known.nick, user),
        });
    return out;
  }

  /** Whether the module has this very join live (same user, room and since). */
  hasJoin(user: string, room: string, since: number): boolean {
    return this.sessions.get(user)?.rooms.get(room)?.since === since;
  }
}

/** The legacy call shapes (user, occupant) / (presence), while lib/app still makes them. */
function describeReply(r: PingReply): string {
  if (r.kind !== 'reply') return r.kind;
  const type = String(r.iq.attrs.type);
  const cond = r.iq.getChild('error')?.children.find((c) => typeof c !== 'string') as Element | undefined;
  return cond ? `${type} ${cond.name}` : type;
}
