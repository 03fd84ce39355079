// Validation of the event contract (docs/events.md). Pure: JSON text in, events out.
//
// Two levels: the envelope (JSON object, `v`, `events` array, its size) is all or nothing — a bad
// envelope refuses the request (400). Each event is then validated on its own: a bad event is
// refused (reported back with its index) and the others are applied, so one event that ping-muc
// finds invalid no longer drops the joins and closes sent with it.
import {
  bareJid,
  echo,
  formatJid,
  JidError,
  normalizeDomain,
  normalizeResource,
  parseBareJid,
  parseFullJid,
} from './jid';

export const MAX_EVENTS = 500;
/**
 * How far an event's `seq` may be ahead of ping-muc's clock (the signature's tolerance). A seq
 * beyond it is refused: every store write keeps the highest seq, so a seq from a server clock that
 * ran ahead would outrank every event the corrected clock sends after it.
 */
export const MAX_SEQ_AHEAD_SECONDS = 300;
/** s2s-close: a link multiplexes at most this many domains. */
export const MAX_REMOTES = 1000;

/**
 * `epoch` (optional on every event, absent = 0): the seq (µs) at which the sending module instance
 * began its resync (a load, a reload, a resync after an overflow). Joins are stored per epoch and
 * a round reads only the epoch of its last close, so the joins of an older epoch are never read.
 */
export type Event = { epoch?: number } & (
  | {
      type: 'join';
      seq: number;
      host: string;
      user: string;
      room: string;
      remote: string;
      nick: string;
      since?: number;
    }
  | { type: 'leave'; seq: number; host: string; user: string; room: string; remote: string }
  /** Accepted from older modules and counted; nothing is stored (the module posts a leave per join). */
  | { type: 'session-end'; seq: number; host: string; user: string }
  /** Accepted from older modules and counted; nothing is stored (the epoch of the joins replaces it). */
  | { type: 'host-start'; seq: number; host: string }
  /** The server is alive and its module posting: the host's last beat is stored (SilentHosts). */
  | { type: 'heartbeat'; seq: number; host: string }
  /** An authenticated s2s link of the host to these remotes is up (again). */
  | { type: 's2s-up'; seq: number; host: string; remotes: string[]; direction: 'in' | 'out' }
  | { type: 's2s-close'; seq: number; host: string; remotes: string[]; direction: 'in' | 'out' }
);

export type EventType = Event['type'];

export class EventError extends Error {
  override name = 'EventError';
}

/** An event ping-muc refused: reported in the 200 body, the others are applied. */
export interface Refused {
  index: number;
  /** The event's `type` as sent when it is a string (bounded), else null. */
  type: string | null;
  error: string;
}

/** A valid envelope: its valid events (in order, with their index in the body) and the refused ones. */
export interface Batch {
  events: Array<{ index: number; event: Event }>;
  refused: Refused[];
}

type Raw = Record<string, unknown>;

function str(raw: Raw, field: string): string {
  const value = raw[field];
  if (typeof value !== 'string' || value === '') throw new EventError(`"${field}" must be a non-empty string`);
  return value;
}

function user(raw: Raw, host: string): string {
  const jid = parseFullJid(str(raw, 'user'), 'user');
  if (jid.domain !== host) throw new EventError(`user ${echo(formatJid(jid))} is not on host ${echo(host)}`);
  return formatJid(jid);
}

function room(raw: Raw, host: string): { room: string; remote: string } {
  const jid = parseBareJid(str(raw, 'room'), 'room');
  if (jid.domain === host) throw new EventError(`room ${echo(bareJid(jid))} is on the local host`);
  return { room: bareJid(jid), remote: jid.domain };
}

/** µs since the epoch: a positive safe integer. */
function micros(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

/** The highest seq (µs) accepted at `now` (ms on ping-muc's clock). */
export function maxSeqAt(now: number): number {
  return Math.floor(now * 1000) + MAX_SEQ_AHEAD_SECONDS * 1_000_000;
}

/** The event's epoch: a positive safe integer (µs), or absent, null or 0 for 0 (left out). */
function epochOf(r: Raw): number | undefined {
  const epoch = r.epoch;
  if (epoch === undefined || epoch === null || epoch === 0) return undefined;
  if (!micros(epoch)) throw new EventError('"epoch" must be a positive integer (µs) or 0');
  return epoch;
}

function validate(raw: unknown, now: number | undefined): Event {
  const event = validateFields(raw, now);
  const epoch = epochOf(raw as Raw);
  return epoch === undefined ? event : { ...event, epoch };
}

function validateFields(raw: unknown, now: number | undefined): Event {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new EventError('must be an object');
  const r = raw as Raw;
  const seq = r.seq;
  if (!micros(seq)) throw new EventError('"seq" must be a positive integer (server time in µs)');
  if (now !== undefined && seq > maxSeqAt(now))
    throw new EventError(
      `"seq" is ${Math.ceil((seq - now * 1000) / 1e6)} s ahead of ping-muc's clock (at most ${MAX_SEQ_AHEAD_SECONDS} s): check the server's clock`,
    );
  const host = normalizeDomain(str(r, 'host'));
  const type = r.type;
  switch (type) {
    case 'join': {
      // A nick is the resourcepart of the occupant JID room/nick (XEP-0045 §7.2, RFC 7622 §3.4).
      const nick = normalizeResource(str(r, 'nick'), '"nick"');
      const event: Extract<Event, { type: 'join' }> = { type, seq, host, user: user(r, host), ...room(r, host), nick };
      // Optional: when the user joined, for a join the server re-posts (null counts as absent).
      if (r.since !== undefined && r.since !== null) {
        if (!micros(r.since) || r.since > seq)
          throw new EventError('"since" must be a positive integer (µs), at most "seq"');
        event.since = r.since;
      }
      return event;
    }
    case 'leave':
      return { type, seq, host, user: user(r, host), ...room(r, host) };
    case 'session-end':
      return { type, seq, host, user: user(r, host) };
    case 'host-start':
    case 'heartbeat':
      return { type, seq, host };
    case 's2s-up':
    case 's2s-close': {
      const remotes = r.remotes;
      if (!Array.isArray(remotes) || remotes.length === 0 || remotes.length > MAX_REMOTES) {
        throw new EventError(`"remotes" must be a non-empty array of at most ${MAX_REMOTES} domains`);
      }
      const domains = remotes.map((d) => {
        if (typeof d !== 'string') throw new EventError('"remotes" must hold strings');
        return normalizeDomain(d);
      });
      const direction = r.direction;
      if (direction !== 'in' && direction !== 'out') throw new EventError('"direction" must be "in" or "out"');
      return { type, seq, host, remotes: [...new Set(domains)].filter((d) => d !== host), direction };
    }
    default:
      throw new EventError(`unknown type ${typeof type === 'string' ? echo(type) : JSON.stringify(type ?? null)}`);
  }
}

/**
 * Validates one event; throws EventError with a message fit for the sender. With `now` (ms,
 * ping-muc's clock), a `seq` more than MAX_SEQ_AHEAD_SECONDS ahead of it is refused.
 */
export function parseEvent(raw: unknown, now?: number): Event {
  try {
    return validate(raw, now);
  } catch (err) {
    if (err instanceof JidError) throw new EventError(err.message);
    throw err;
  }
}

function typeOf(raw: unknown): string | null {
  const type = typeof raw === 'object' && raw !== null ? (raw as Raw).type : undefined;
  if (typeof type !== 'string') return null;
  return type.length > 64 ? `${type.slice(0, 64).replace(/\p{Cs}$/u, '')}…` : type;
}

/**
 * Parses a body's envelope (throws EventError: the whole request is refused) and each event on
 * its own; with `now` (ms), events too far ahead of it are refused (parseEvent).
 */
export function parseBatch(body: string, now?: number): Batch {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (err) {
    throw new EventError(`malformed JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new EventError('body must be a JSON object');
  const { v, events } = doc as Raw;
  if (v !== 1) throw new EventError('unsupported version: "v" must be 1');
  if (!Array.isArray(events) || events.length === 0) throw new EventError('"events" must be a non-empty array');
  if (events.length > MAX_EVENTS) throw new EventError(`too many events: ${events.length} > ${MAX_EVENTS}`);
  const batch: Batch = { events: [], refused: [] };
  events.forEach((raw, index) => {
    try {
      batch.events.push({ index, event: parseEvent(raw, now) });
    } catch (err) {
      if (!(err instanceof EventError)) throw err;
      batch.refused.push({ index, type: typeOf(raw), error: err.message });
    }
  });
  return batch;
}

/** All or nothing: the events of a body, or EventError naming the first invalid one. */
export function parseEvents(body: string): Event[] {
  const { events, refused } = parseBatch(body);
  const first = refused[0];
  if (first) throw new EventError(`events[${first.index}]: ${first.error}`);
  return events.map((e) => e.event);
}
