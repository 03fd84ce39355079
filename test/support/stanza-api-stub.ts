// An in-process HTTP server playing the XMPP server's stanza API (docs/stanza-api.md) for a MUC
// whose answers are chosen per occupant. `serveStanzaApi` is the wire format, shared with the
// benchmark's counting stub; `startStanzaApiStub` records every call for the flow tests. It speaks
// version 2 too (a <batch> of stanzas, answered once) with its heals (a self-ping the module
// acts on itself), unless told to play an older module: one before heals, or a version 1 module.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse, type Element } from 'ltx';
import { classify } from '../../lib/domain/outcome';
import { secretKey, verify } from '../../lib/domain/signature';
import { NS_API, NS_BATCH, unavailable } from '../../lib/domain/stanzas';

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
  /** Version 2: this item refused (version 1: the whole request answered with that status). */
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
  notify(presence: Element): void;
  /** A server ping to the domain `to`. */
  serverPing?(to: string): void;
  refused(): void;
  /** When true, every request gets 503 (the API is down). */
  down?(): boolean;
  /** Delay before each answer, ms. */
  latencyMs(): number;
  /** Called with the size of each version 2 batch. */
  batch?(size: number): void;
  /** When true, a batch is refused with 403, as a module that predates version 2 does. */
  v1Only?(): boolean;
  /** When true, each heal is refused with a per-item 403, as a version 2 module that predates heals does. */
  beforeHeals?(): boolean;
  /**
   * Whether the session rejoined (a new join, or a nick change) while this heal's self-ping was
   * out: the module then tells nobody and answers `<no-session/>`.
   */
  rejoined?(iq: Iq): boolean;
}

type Answered = { xml: string } | { status: number } | 'hang';

const refusedItem = (reason: string): Answered => ({
  xml: `<refused xmlns="${NS_BATCH}" code="403" reason="${reason}"/>`,
});

/** One stanza of a request: its answer's body, or the status of the whole request. */
function answerStanza(el: Element, h: StanzaApiHandlers): Answered {
  if (el.name === 'presence') {
    h.notify(el);
    return { xml: `<sent xmlns="${NS_API}"/>` };
  }
  return answerPing(el, h, false);
}

/**
 * A self-ping's answer; for a heal, as the module acts on it: a "not joined" reply of a session
 * still in the join it pinged is a notification the stub records (as a delivered one) and `<sent/>`.
 */
function answerPing(el: Element, h: StanzaApiHandlers, heal: boolean): Answered {
  const iq = { id: el.attrs.id ?? '', from: el.attrs.from ?? '', to: el.attrs.to ?? '' };
  const answer = h.ping(iq);
  if (answer === 'http-500') return { status: 500 };
  if (answer === 'hang') return 'hang';
  if (!heal || !unjoinedAnswer(answer)) return { xml: answerXml(answer, iq) };
  if (h.rejoined?.(iq)) return { xml: `<no-session xmlns="${NS_API}"/>` };
  h.notify(unavailable(iq.to, iq.from, REASON));
  return { xml: `<sent xmlns="${NS_API}"/>` };
}

/** A <heal id> item: exactly one self-ping inside (api.lib.lua check_heal), else refused with 403. */
function answerHeal(el: Element, h: StanzaApiHandlers): Answered {
  if (h.beforeHeals?.()) return refusedItem('only a self-ping iq or a MUC unavailable presence is allowed');
  const inner = el.children.filter((c) => typeof c !== 'string' || c.trim() !== '');
  const iq = inner[0];
  const attrs = Object.keys(el.attrs).every((a) => a === 'id' || a === 'xmlns');
  if (inner.length !== 1 || typeof iq === 'string' || iq?.name !== 'iq' || !attrs) {
    return refusedItem('a heal holds exactly one self-ping iq');
  }
  return answerPing(iq, h, true);
}

/** A <server-ping id to> item (api.lib.lua server_ping): recorded apart from self-pings, `<sent/>`. */
function answerServerPing(el: Element, h: StanzaApiHandlers): Answered {
  if (h.beforeHeals?.()) return refusedItem('only a self-ping iq or a MUC unavailable presence is allowed');
  h.serverPing?.(el.attrs.to ?? '');
  return { xml: `<sent xmlns="${NS_API}"/>` };
}

/** A version 2 answer, written as the module does (one <item> per stanza, in order), or the whole request's status. */
function answerBatch(root: Element, h: StanzaApiHandlers): Answered {
  if (h.v1Only?.()) return { status: 403 };
  h.batch?.(root.getChildElements().length);
  const items: string[] = [];
  for (const el of root.getChildElements()) {
    const ours = el.attrs.xmlns === NS_BATCH;
    const a =
      ours && el.name === 'heal'
        ? answerHeal(el, h)
        : ours && el.name === 'server-ping'
          ? answerServerPing(el, h)
          : answerStanza(el, h);
    if (a === 'hang' || 'status' in a) return a;
    // As the module writes it: an iq names jabber:client (unqualified, it would inherit the batch's namespace).
    items.push(`<item id="${el.attrs.id ?? ''}">${a.xml.replace(/^<iq /, '<iq xmlns="jabber:client" ')}</item>`);
  }
  return { xml: `<batch xmlns="${NS_BATCH}">${items.join('')}</batch>` };
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
        const el = parse(body.toString('utf8'));
        // A heal is a version 2 item only: alone, it is a stanza the API does not allow.
        if (el.name === 'heal' || el.name === 'server-ping') return send(403, 'refused');
        const a = el.name === 'batch' ? answerBatch(el, h) : answerStanza(el, h);
        if (a === 'hang') return void hanging.add(() => res.destroy());
        if ('status' in a) return send(a.status, 'refused');
        // Version 1: a refusal of the stanza is the request's status.
        const refused = /^<refused [^>]*code="(\d+)"/.exec(a.xml);
        if (refused && el.name !== 'batch') return send(Number(refused[1]), 'refused');
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
  /** Sizes of the version 2 batches served. */
  batches: number[];
  /** Play a module that predates version 2: batches are refused with 403. */
  v1Only: boolean;
  /** Play a version 2 module that predates heals: each heal is refused with a per-item 403. */
  beforeHeals: boolean;
  /**
   * Occupant JIDs (room/nick) whose session rejoined while a heal's self-ping was out: a "not
   * joined" reply to the heal tells nobody and answers `<no-session/>`, as the module does.
   */
  rejoined: Set<string>;
  close(): Promise<void>;
}

export async function startStanzaApiStub(
  secret: string,
  options: { latencyMs?: number; fallback?: Answer } = {},
): Promise<StanzaApiStub> {
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
    v1Only: false,
    beforeHeals: false,
    rejoined: new Set(),
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
    serverPing: (to) => void stub.serverPings.push(to),
    refused: () => void stub.refused++,
    down: () => stub.down,
    latencyMs: () => stub.latencyMs,
    batch: (size) => void stub.batches.push(size),
    v1Only: () => stub.v1Only,
    beforeHeals: () => stub.beforeHeals,
    rejoined: (iq) => stub.rejoined.has(iq.to),
  });
  stub.url = served.url;
  stub.close = served.close;
  return stub;
}
