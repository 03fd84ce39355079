// An in-process HTTP server playing the XMPP server's stanza API (docs/stanza-api.md, version 3)
// for a MUC whose answers are chosen per occupant. `serveStanzaApi` is the wire format, shared
// with the benchmark's counting stub; `startStanzaApiStub` records every call for the flow tests
// and keeps the module's join table for the identity rule: a heal or a notification acts only on
// the session's current join of that room, the one of the item's `since`.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse, type Element } from 'ltx';
import { classify } from '../lib/domain/outcome';
import { secretKey, verify } from '../lib/domain/signature';
import { NS_API, NS_BATCH, unavailable } from '../lib/domain/stanzas';

export type Answer =
  | 'result'
  | 'not-acceptable'
  | 'item-not-found-room'
  | 'item-not-found-service'
  | 'service-unavailable'
  | 'remote-server-not-found'
  | 'timeout'
  | 'no-session'
  | 'http-500'
  | 'hang'
  /** This item refused. */
  | 'refused-503'
  | 'refused-403';

export interface Iq {
  id: string;
  from: string;
  to: string;
}

const error = (iq: Iq, condition: string, by: string) =>
  `<iq type="error" id="${iq.id}" from="${iq.to}" to="${iq.from}"><error type="cancel" by="${by}"><${condition} xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`;

/** The 200 body for a self-ping answered `answer` (not for 'http-500' or 'hang'). */
export function answerXml(answer: Answer, iq: Iq): string {
  const room = iq.to.split('/')[0] ?? '';
  const service = room.split('@')[1] ?? '';
  const host = iq.from.split('@')[1]?.split('/')[0] ?? '';
  switch (answer) {
    case 'result':
      return `<iq type="result" id="${iq.id}" from="${iq.to}" to="${iq.from}"/>`;
    case 'item-not-found-room':
      return error(iq, 'item-not-found', room);
    case 'item-not-found-service':
      return error(iq, 'item-not-found', service);
    case 'remote-server-not-found':
      return error(iq, 'remote-server-not-found', host);
    case 'timeout':
      return `<timeout xmlns="${NS_API}"/>`;
    case 'no-session':
      return `<no-session xmlns="${NS_API}"/>`;
    case 'refused-503':
    case 'refused-403':
      return `<refused xmlns="${NS_BATCH}" code="${answer.slice(8)}" reason="stub"/>`;
    default:
      return error(iq, answer, room);
  }
}

/** What the module writes in every notification (`ping_muc_cloud_reason`, its default). */
const REASON = 'Connection to remote server lost';
/** Any self-ping: answerXml writes `by` relative to it (the room, its service, the user's host). */
const SAMPLE: Iq = { id: 'pm-sample', from: 'user@a.example/r', to: 'room@muc.b.example/nick' };
const SAMPLE_CTX = { host: 'a.example', room: 'room@muc.b.example' };
const unjoinedAnswers = new Map<Answer, boolean>();

/**
 * Whether a scripted answer says the room no longer has the user, by the round's own rule
 * (lib/domain/outcome.ts classify → 'not-joined'), which the module applies to a heal's reply
 * (outcome.lib.lua `unjoined`). answerXml makes the outcome depend on the answer alone, so it is
 * found once per answer: a map lookup per heal, however many joins a benchmark sends.
 */
export function unjoinedAnswer(answer: Answer): boolean {
  let unjoined = unjoinedAnswers.get(answer);
  if (unjoined === undefined) {
    const xml = answer === 'http-500' || answer === 'hang' ? '' : answerXml(answer, SAMPLE);
    unjoined = xml.startsWith('<iq ') && classify({ kind: 'reply', iq: parse(xml) }, SAMPLE_CTX) === 'not-joined';
    unjoinedAnswers.set(answer, unjoined);
  }
  return unjoined;
}

export interface StanzaApiHandlers {
  /** Chooses the answer to a self-ping. */
  ping(iq: Iq): Answer;
  /** A notification delivered (a notify item, or a heal's), to the join it names. */
  notify(presence: Element): void;
  /**
   * Whether the session `user` is in the room of `occupant` under its nick with the join
   * `since`, as the module's join table says; default: yes. A heal or a notification of any
   * other join is answered `<no-session/>` and sends nothing.
   */
  current?(user: string, occupant: string, since: number): boolean;
  /** The module forgets the join it delivered a notification to. */
  forget?(user: string, occupant: string, since: number): void;
  /** A server ping to the domain `to`. */
  serverPing?(to: string): void;
  refused(): void;
  /** When true, every request gets 503 (the API is down). */
  down?(): boolean;
  /** Delay before each answer, ms. */
  latencyMs(): number;
  /** Called with the item count of each batch. */
  batch?(size: number): void;
}

type Answered = { xml: string } | { status: number } | 'hang';

const NO_SESSION: Answered = { xml: `<no-session xmlns="${NS_API}"/>` };
const SENT: Answered = { xml: `<sent xmlns="${NS_API}"/>` };
const refusedItem = (code: string, reason: string): Answered => ({
  xml: `<refused xmlns="${NS_BATCH}" code="${code}" reason="${reason}"/>`,
});

/** The one element an item wraps, else undefined (none, several, or text beside it). */
function only(el: Element): Element | undefined {
  const inner = el.children.filter((c) => typeof c !== 'string' || c.trim() !== '');
  const [one] = inner;
  return inner.length === 1 && typeof one !== 'string' ? one : undefined;
}

/** An item's `since`, as the module reads it: a decimal integer of at most 16 digits. */
function sinceOf(el: Element): number | undefined {
  const since = el.attrs.since;
  return typeof since === 'string' && /^[0-9]{1,16}$/.test(since) ? Number(since) : undefined;
}

const extraAttrs = (el: Element, allowed: string[]) =>
  Object.keys(el.attrs).some((a) => a !== 'xmlns' && !allowed.includes(a));

const iqOf = (el: Element): Iq => ({ id: el.attrs.id ?? '', from: el.attrs.from ?? '', to: el.attrs.to ?? '' });

/** A bare self-ping item: read only, its answer as scripted. */
function answerPing(el: Element, h: StanzaApiHandlers): Answered {
  const iq = iqOf(el);
  const answer = h.ping(iq);
  if (answer === 'http-500') return { status: 500 };
  if (answer === 'hang') return 'hang';
  return { xml: answerXml(answer, iq) };
}

/**
 * A `<heal id since>` item: only for the session's current join `since` (else `<no-session/>`,
 * not even pinged); a "not joined" reply is a notification the stub delivers (and the join is
 * forgotten) and `<sent/>`, as the module does.
 */
function answerHeal(el: Element, h: StanzaApiHandlers): Answered {
  const iq = only(el);
  if (iq?.name !== 'iq' || extraAttrs(el, ['id', 'since']))
    return refusedItem('403', 'a heal holds exactly one self-ping iq');
  const since = sinceOf(el);
  if (since === undefined) return refusedItem('400', 'since must be a non-negative integer');
  const { from: user, to: occupant } = iqOf(iq);
  if (!(h.current?.(user, occupant, since) ?? true)) return NO_SESSION;
  const answer = h.ping(iqOf(iq));
  if (answer === 'http-500') return { status: 500 };
  if (answer === 'hang') return 'hang';
  if (!unjoinedAnswer(answer)) return { xml: answerXml(answer, iqOf(iq)) };
  h.notify(unavailable(occupant, user, REASON));
  h.forget?.(user, occupant, since);
  return SENT;
}

/** A `<notify id since>` item: delivered only to the session's current join `since`, which is then forgotten. */
function answerNotify(el: Element, h: StanzaApiHandlers): Answered {
  const presence = only(el);
  if (presence?.name !== 'presence' || presence.attrs.type !== 'unavailable' || extraAttrs(el, ['id', 'since']))
    return refusedItem('403', 'a notify holds exactly one unavailable presence');
  const since = sinceOf(el);
  if (since === undefined) return refusedItem('400', 'since must be a non-negative integer');
  const user = presence.attrs.to ?? '';
  const occupant = presence.attrs.from ?? '';
  if (!(h.current?.(user, occupant, since) ?? true)) return NO_SESSION;
  // The module writes its own <reason>, whatever the request carried.
  h.notify(unavailable(occupant, user, REASON, presence.attrs.id));
  h.forget?.(user, occupant, since);
  return SENT;
}

/** A `<server-ping id to>` item (api.lib.lua server_ping): recorded apart from self-pings, `<sent/>`. */
function answerServerPing(el: Element, h: StanzaApiHandlers): Answered {
  h.serverPing?.(el.attrs.to ?? '');
  return SENT;
}

/** One item's answer, or the whole request's status. */
function answerItem(el: Element, h: StanzaApiHandlers): Answered {
  const ours = el.attrs.xmlns === undefined || el.attrs.xmlns === NS_BATCH;
  if (el.name === 'iq' && (el.attrs.xmlns === undefined || el.attrs.xmlns === 'jabber:client'))
    return answerPing(el, h);
  if (ours && el.name === 'heal') return answerHeal(el, h);
  if (ours && el.name === 'notify') return answerNotify(el, h);
  if (ours && el.name === 'server-ping') return answerServerPing(el, h);
  return refusedItem('403', 'not an item the API allows');
}

const UNSUPPORTED = `<unsupported-version xmlns="${NS_BATCH}" supported="3"/>`;

/** The answer to a request, written as the module does (one <item> per item, in order), or the whole request's status. */
function answerBatch(root: Element, h: StanzaApiHandlers): Answered | { status: number; xml: string } {
  if (root.name !== 'batch' || root.attrs.xmlns !== NS_BATCH || root.attrs.version !== '3')
    return { status: 400, xml: UNSUPPORTED };
  h.batch?.(root.getChildElements().length);
  const items: string[] = [];
  for (const el of root.getChildElements()) {
    const a = answerItem(el, h);
    if (a === 'hang' || 'status' in a) return a;
    // As the module writes it: an iq names jabber:client (unqualified, it would inherit the batch's namespace).
    items.push(`<item id="${el.attrs.id ?? ''}">${a.xml.replace(/^<iq /, '<iq xmlns="jabber:client" ')}</item>`);
  }
  return { xml: `<batch xmlns="${NS_BATCH}" version="3">${items.join('')}</batch>` };
}

export interface Served {
  url: string;
  close(): Promise<void>;
}

/** Serves the stanza API on 127.0.0.1, checking signatures like the Prosody module does. */
export async function serveStanzaApi(secret: string, h: StanzaApiHandlers): Promise<Served> {
  const key = secretKey(secret);
  const hanging = new Set<() => void>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const send = (status: number, text: string) => {
        res.writeHead(status, { 'content-type': 'application/xml' });
        res.end(text);
      };
      const respond = () => {
        if (h.down?.()) return send(503, 'down');
        try {
          verify(key, req.headers as Record<string, string>, body);
        } catch {
          h.refused();
          return send(401, 'bad signature');
        }
        let el: Element;
        try {
          el = parse(body.toString('utf8'));
        } catch {
          return send(400, 'not XML');
        }
        const a = answerBatch(el, h);
        if (a === 'hang') return void hanging.add(() => res.destroy());
        if ('status' in a) return send(a.status, 'xml' in a ? a.xml : 'refused');
        send(200, a.xml);
      };
      const latency = h.latencyMs();
      if (latency > 0) setTimeout(respond, latency);
      else respond();
    });
  });
  server.keepAliveTimeout = 60_000;
  server.maxRequestsPerSocket = 0;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/ping_muc_cloud/stanza`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const end of hanging) end();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface Ping {
  user: string;
  occupant: string;
  answer: Answer;
}

export interface Notification {
  user: string;
  occupant: string;
  xml: string;
}

export interface StanzaApiStub {
  url: string;
  pings: Ping[];
  /** The domains of the server pings (the round brings a link up before its due time). */
  serverPings: string[];
  notifications: Notification[];
  /** Requests refused for a bad signature. */
  refused: number;
  /** Answer for an occupant JID (room/nick); default `fallback`. */
  answers: Map<string, Answer>;
  fallback: Answer;
  down: boolean;
  latencyMs: number;
  /** Item counts of the batches served. */
  batches: number[];
  /**
   * The module's join table: the session's current join of a room (its nick and `since`), as
   * `join` sets it and a delivered notification forgets it. A session and room not in it, never
   * set: with `trackJoins` false (the default, for tests that do not model joins) any `since` is
   * current until a notification to it was delivered; with `trackJoins` true it is not joined.
   */
  joins: Map<string, { nick: string; since: number }>;
  trackJoins: boolean;
  /** The session `user` joined (or rejoined) the room of `occupant` as its nick, with the identity `since`. */
  join(user: string, occupant: string, since: number): void;
  /** The session left the room of `occupant`. */
  leave(user: string, occupant: string): void;
  close(): Promise<void>;
}

const roomKey = (user: string, occupant: string) => `${user}\u0000${occupant.split('/')[0] ?? ''}`;
const nickOf = (occupant: string) => occupant.slice(occupant.indexOf('/') + 1);

export async function startStanzaApiStub(
  secret: string,
  options: { latencyMs?: number; fallback?: Answer; trackJoins?: boolean } = {},
): Promise<StanzaApiStub> {
  /** Joins delivered a notification while not in the table (trackJoins false): forgotten all the same. */
  const forgotten = new Set<string>();
  const stub: StanzaApiStub = {
    url: '',
    pings: [],
    serverPings: [],
    notifications: [],
    refused: 0,
    answers: new Map(),
    fallback: options.fallback ?? 'result',
    down: false,
    latencyMs: options.latencyMs ?? 0,
    batches: [],
    joins: new Map(),
    trackJoins: options.trackJoins ?? false,
    join: (user, occupant, since) => void stub.joins.set(roomKey(user, occupant), { nick: nickOf(occupant), since }),
    leave: (user, occupant) => void stub.joins.delete(roomKey(user, occupant)),
    close: async () => undefined,
  };
  const served = await serveStanzaApi(secret, {
    ping: (iq) => {
      const answer = stub.answers.get(iq.to) ?? stub.fallback;
      stub.pings.push({ user: iq.from, occupant: iq.to, answer });
      return answer;
    },
    notify: (el) => {
      const user = el.attrs.to ?? '';
      const occupant = el.attrs.from ?? '';
      stub.notifications.push({ user, occupant, xml: el.toString() });
    },
    current: (user, occupant, since) => {
      const join = stub.joins.get(roomKey(user, occupant));
      if (join) return join.nick === nickOf(occupant) && join.since === since;
      return !stub.trackJoins && !forgotten.has(`${roomKey(user, occupant)}\u0000${since}`);
    },
    forget: (user, occupant, since) => {
      if (!stub.joins.delete(roomKey(user, occupant))) forgotten.add(`${roomKey(user, occupant)}\u0000${since}`);
    },
    serverPing: (to) => void stub.serverPings.push(to),
    refused: () => void stub.refused++,
    down: () => stub.down,
    latencyMs: () => stub.latencyMs,
    batch: (size) => void stub.batches.push(size),
  });
  stub.url = served.url;
  stub.close = served.close;
  return stub;
}
