// Validation of the event contract (docs/events.md). Pure: JSON text in, events out.
import { bareJid, formatJid, JidError, normalizeDomain, parseBareJid, parseFullJid } from './jid';

export const MAX_EVENTS = 500;

export type Event =
  | { type: 'join'; seq: number; host: string; user: string; room: string; remote: string; nick: string }
  | { type: 'leave'; seq: number; host: string; user: string; room: string }
  | { type: 'session-end'; seq: number; host: string; user: string }
  | { type: 'host-start'; seq: number; host: string }
  | { type: 's2s-close'; seq: number; host: string; remotes: string[]; direction: 'in' | 'out' };

export type EventType = Event['type'];

export class EventError extends Error {
  override name = 'EventError';
}

type Raw = Record<string, unknown>;

function str(raw: Raw, field: string, where: string): string {
  const value = raw[field];
  if (typeof value !== 'string' || value === '') throw new EventError(`${where}: "${field}" must be a non-empty string`);
  return value;
}

function user(raw: Raw, host: string, where: string): string {
  const jid = parseFullJid(str(raw, 'user', where), 'user');
  if (jid.domain !== host) throw new EventError(`${where}: user "${formatJid(jid)}" is not on host "${host}"`);
  return formatJid(jid);
}

function room(raw: Raw, host: string, where: string): { room: string; remote: string } {
  const jid = parseBareJid(str(raw, 'room', where), 'room');
  if (jid.domain === host) throw new EventError(`${where}: room "${bareJid(jid)}" is on the local host`);
  return { room: bareJid(jid), remote: jid.domain };
}

function parseEvent(raw: unknown, index: number): Event {
  const where = `events[${index}]`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new EventError(`${where}: must be an object`);
  const r = raw as Raw;
  const seq = r.seq;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq <= 0) {
    throw new EventError(`${where}: "seq" must be a positive integer (server time in µs)`);
  }
  const host = normalizeDomain(str(r, 'host', where));
  const type = r.type;
  switch (type) {
    case 'join': {
      const nick = str(r, 'nick', where);
      if (nick.length > 1023) throw new EventError(`${where}: "nick" too long`);
      return { type, seq, host, user: user(r, host, where), ...room(r, host, where), nick: nick.normalize('NFC') };
    }
    case 'leave':
      return { type, seq, host, user: user(r, host, where), room: room(r, host, where).room };
    case 'session-end':
      return { type, seq, host, user: user(r, host, where) };
    case 'host-start':
      return { type, seq, host };
    case 's2s-close': {
      const remotes = r.remotes;
      if (!Array.isArray(remotes) || remotes.length === 0 || remotes.length > 1000) {
        throw new EventError(`${where}: "remotes" must be a non-empty array of domains`);
      }
      const domains = remotes.map((d) => {
        if (typeof d !== 'string') throw new EventError(`${where}: "remotes" must hold strings`);
        return normalizeDomain(d);
      });
      const direction = r.direction;
      if (direction !== 'in' && direction !== 'out') throw new EventError(`${where}: "direction" must be "in" or "out"`);
      return { type, seq, host, remotes: [...new Set(domains)].filter((d) => d !== host), direction };
    }
    default:
      throw new EventError(`${where}: unknown type ${JSON.stringify(type)}`);
  }
}

/** Parses a request body into events; throws EventError with a message fit for the sender. */
export function parseEvents(body: string): Event[] {
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
  return events.map((e, i) => {
    try {
      return parseEvent(e, i);
    } catch (err) {
      if (err instanceof JidError) throw new EventError(`events[${i}]: ${err.message}`);
      throw err;
    }
  });
}
