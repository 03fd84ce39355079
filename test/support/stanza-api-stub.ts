// An in-process HTTP server playing the XMPP server's stanza API (docs/stanza-api.md) for a MUC
// whose answers are chosen per occupant. `serveStanzaApi` is the wire format, shared with the
// benchmark's counting stub; `startStanzaApiStub` records every call for the flow tests. It speaks
// version 2 too (a <batch> of stanzas, answered once), unless told to play a version 1 module.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse, type Element } from 'ltx';
import { secretKey, verify } from '../../lib/domain/signature';
import { NS_API, NS_BATCH } from '../../lib/domain/stanzas';

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

export interface StanzaApiHandlers {
  /** Chooses the answer to a self-ping. */
  ping(iq: Iq): Answer;
  notify(presence: Element): void;
  refused(): void;
  /** When true, every request gets 503 (the API is down). */
  down?(): boolean;
  /** Delay before each answer, ms. */
  latencyMs(): number;
  /** Called with the size of each version 2 batch. */
  batch?(size: number): void;
  /** When true, a batch is refused with 403, as a module that predates version 2 does. */
  v1Only?(): boolean;
}

/** One stanza of a request: its answer's body, or the status of the whole request. */
function answerStanza(el: Element, h: StanzaApiHandlers): { xml: string } | { status: number } | 'hang' {
  if (el.name === 'presence') {
    h.notify(el);
    return { xml: `<sent xmlns="${NS_API}"/>` };
  }
  const iq = { id: el.attrs.id ?? '', from: el.attrs.from ?? '', to: el.attrs.to ?? '' };
  const answer = h.ping(iq);
  if (answer === 'http-500') return { status: 500 };
  if (answer === 'hang') return 'hang';
  return { xml: answerXml(answer, iq) };
}

/** A version 2 answer, written as the module does (one <item> per stanza, in order), or the whole request's status. */
function answerBatch(root: Element, h: StanzaApiHandlers): { xml: string } | { status: number } | 'hang' {
  if (h.v1Only?.()) return { status: 403 };
  h.batch?.(root.getChildElements().length);
  const items: string[] = [];
  for (const el of root.getChildElements()) {
    const a = answerStanza(el, h);
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
  /**
   * What the module does after delivering a notification: it sees the user leave the room and
   * posts a `leave` event (joins.lib.lua). Called after the answer is given, not awaited.
   */
  onDelivered: ((user: string, occupant: string) => Promise<unknown>) | undefined;
  close(): Promise<void>;
}

export async function startStanzaApiStub(
  secret: string,
  options: { latencyMs?: number; fallback?: Answer } = {},
): Promise<StanzaApiStub> {
  const stub: StanzaApiStub = {
    url: '',
    pings: [],
    notifications: [],
    refused: 0,
    answers: new Map(),
    fallback: options.fallback ?? 'result',
    down: false,
    latencyMs: options.latencyMs ?? 0,
    batches: [],
    v1Only: false,
    onDelivered: undefined,
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
      setImmediate(() => void stub.onDelivered?.(user, occupant)?.catch(() => undefined));
    },
    refused: () => void stub.refused++,
    down: () => stub.down,
    latencyMs: () => stub.latencyMs,
    batch: (size) => void stub.batches.push(size),
    v1Only: () => stub.v1Only,
  });
  stub.url = served.url;
  stub.close = served.close;
  return stub;
}
