// HTTP helpers for the e2e tests: a signed stanza-API caller, an events receiver that
// checks signatures like ping-muc does, and a recorder in front of the stanza API.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Element, parse } from 'ltx';
import { secretKey, sign, verify } from '../../lib/domain/signature';

export interface ApiAnswer {
  status: number;
  body: string;
}

/** POSTs a body to the stanza API, signed with `secret` (or with the given headers). */
export async function callApi(
  url: string,
  secret: string,
  body: string,
  headers?: Record<string, string>,
): Promise<ApiAnswer> {
  const signed = headers ?? { ...sign(secretKey(secret), body) };
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/xml', ...signed }, body });
  return { status: res.status, body: await res.text() };
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export interface ReceivedEvent {
  type: string;
  seq: number;
  /** The seq at which the module's resync began (its load, reload or overflow). */
  epoch?: number;
  host: string;
  user?: string;
  room?: string;
  nick?: string;
  remotes?: string[];
  direction?: string;
  [k: string]: unknown;
}

/** A loopback HTTP server with a URL and a close that drops open connections. */
class Loopback {
  protected server!: http.Server;
  url = '';

  protected async listen(handler: http.RequestListener, host: string, path: string): Promise<string> {
    this.server = http.createServer(handler);
    await new Promise<void>((r) => this.server.listen(0, host, () => r()));
    this.url = `http://${host}:${(this.server.address() as AddressInfo).port}${path}`;
    return this.url;
  }

  close(): Promise<void> {
    return new Promise((r) => {
      this.server.closeAllConnections();
      this.server.close(() => r());
    });
  }
}

/** Recorded events, awaited by predicate. */
class EventLog extends Loopback {
  readonly events: ReceivedEvent[] = [];

  async waitFor(pred: (e: ReceivedEvent) => boolean, timeoutMs = 10_000): Promise<ReceivedEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events.find(pred);
      if (hit) return hit;
      if (Date.now() > deadline)
        throw new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(this.events)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** The identity (`since`) of the join of `user` in `room` the module posted last: a re-post's
   * `since`, or the seq of a join posted fresh (docs/events.md). */
  joinSince(user: string, room: string): number {
    const joins = this.events.filter((e) => e.type === 'join' && e.user === user && e.room === room);
    const last = joins[joins.length - 1];
    if (!last) throw new Error(`no join of ${user} in ${room} was posted; got ${JSON.stringify(this.events)}`);
    return typeof last.since === 'number' ? last.since : last.seq;
  }
}

/** Forwards a POST untouched (signatures stay valid): the body sent and the upstream answer, or 502. */
async function forward(
  req: http.IncomingMessage,
  target: string,
): Promise<{ body: string; status: number; text: string; type: string }> {
  const body = await readBody(req);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (k.startsWith('webhook-') || k === 'content-type' || k === 'ping-muc-host')
      headers[k] = Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
  }
  try {
    const up = await fetch(target, { method: 'POST', headers, body });
    return { body, status: up.status, text: await up.text(), type: up.headers.get('content-type') ?? 'text/plain' };
  } catch (e) {
    return { body, status: 502, text: String(e), type: 'text/plain' };
  }
}

/** A stand-in for ping-muc's events endpoint: verifies, records, answers like the contract. */
export class EventsReceiver extends EventLog {
  /** Every request: its webhook-id, the status answered, when it arrived, the events it carried, its headers and body. */
  readonly requests: Array<{
    id: string;
    status: number;
    at: number;
    events: ReceivedEvent[];
    headers: Record<string, string | undefined>;
    body: string;
  }> = [];
  /** Status to answer with (e.g. 503 to exercise retries). */
  answer = 200;
  /** Holds every answer this long (a request in flight). */
  delayMs = 0;
  /** Events of a batch to refuse in a 200 answer, as ping-muc lists them (`refused`). */
  refuse: (events: ReceivedEvent[]) => Array<{ index: number; type: string; error: string }> = () => [];

  /** The secret signatures are checked with; change it to refuse the module's (401). */
  constructor(public secret: string) {
    super();
  }

  async start(host = '127.0.0.1'): Promise<string> {
    const seen = new Set<string>();
    return this.listen(
      async (req, res) => {
        const body = await readBody(req);
        const headers: Record<string, string | undefined> = {};
        for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v[0] : v;
        let id: string;
        try {
          id = verify(secretKey(this.secret), headers, body);
        } catch (e) {
          this.requests.push({
            id: headers['webhook-id'] ?? '',
            status: 401,
            at: Date.now(),
            events: [],
            headers,
            body,
          });
          res.writeHead(401).end(JSON.stringify({ error: String(e) }));
          return;
        }
        const status = this.answer;
        const parsed = JSON.parse(body) as { v: number; events: ReceivedEvent[] };
        this.requests.push({ id, status, at: Date.now(), events: parsed.events, headers, body });
        if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
        if (status !== 200) {
          res.writeHead(status).end('{}');
          return;
        }
        const refused = this.refuse(parsed.events);
        if (!seen.has(id)) {
          seen.add(id);
          this.events.push(...parsed.events.filter((_, i) => !refused.some((r) => r.index === i)));
        }
        const answer = refused.length
          ? { ok: true, applied: parsed.events.length - refused.length, refused }
          : { ok: true };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
      },
      host,
      '/events',
    );
  }
}

export interface RecordedCall {
  /** When the answer came back. */
  at: number;
  /** A self-ping (a bare `<iq>` item or the `<iq>` of a `<heal>`), a notification (a `<notify>`
   * item, or a heal the server answered `<sent/>`), a `<server-ping>`, or else. */
  kind: 'ping' | 'notify' | 'server-ping' | 'other';
  from: string;
  to: string;
  /** The join's identity the item named (`since` of a heal or notify). */
  since?: string;
  /** The HTTP status of the request; for an item refused on its own, the `<refused>` code. */
  status: number;
  /** The element of this item's `<item id>` (a whole-request error: the request's answer). */
  answer: string;
  /** This item's XML. */
  body: string;
  /** 'heal': a heal item (its self-ping, and the notification the server made of it);
   * 'item': any other item (a probe, the round's own notification, a server ping). */
  via: 'heal' | 'item';
}

/** One HTTP request to the stanza API, as it went and came back. */
export interface RecordedRequest {
  at: number;
  /** The `version` of the request's `<batch>` ('' when none). */
  version: string;
  status: number;
  answer: string;
  body: string;
}

const NS_BATCH = 'urn:ping-muc:stanza-api:2';
const NS_API = 'urn:ping-muc:stanza-api:1';

function parseXml(text: string): Element | undefined {
  try {
    return parse(text) as Element;
  } catch {
    return undefined;
  }
}

const attrOf = (el: Element, name: string): string => {
  const v = el.attrs[name];
  return typeof v === 'string' ? v : '';
};

/** The self-pings, notifications and server pings one request carried, with their answers. */
function callsOf(req: RecordedRequest): RecordedCall[] {
  const root = parseXml(req.body);
  if (!root) return [];
  // The answer's element for each item id (a whole-request error: the status and text for all).
  const answers = new Map<string, Element>();
  const answerRoot = req.status === 200 ? parseXml(req.answer) : undefined;
  if (answerRoot?.name === 'batch') {
    for (const item of answerRoot.getChildElements()) {
      const [el] = item.getChildElements();
      if (item.name === 'item' && el && !answers.has(attrOf(item, 'id'))) answers.set(attrOf(item, 'id'), el);
    }
  }
  const out: RecordedCall[] = [];
  for (const item of root.name === 'batch' ? root.getChildElements() : [root]) {
    const id = attrOf(item, 'id');
    const answerEl = answers.get(id);
    const answer = answerRoot?.name === 'batch' ? (answerEl?.toString() ?? '') : req.answer;
    const refused = answerEl?.name === 'refused' ? Number(attrOf(answerEl, 'code')) || req.status : undefined;
    const since = item.attrs.since === undefined ? undefined : attrOf(item, 'since');
    const base = { at: req.at, status: refused ?? req.status, answer, body: item.toString(), since };
    const inner = item.getChildElements()[0];
    const [innerFrom, innerTo] = inner ? [attrOf(inner, 'from'), attrOf(inner, 'to')] : ['', ''];
    if (item.name === 'heal' && item.attrs.xmlns === NS_BATCH) {
      out.push({ ...base, kind: 'ping', from: innerFrom, to: innerTo, via: 'heal' });
      const sent = answerEl?.name === 'sent' && answerEl.attrs.xmlns === NS_API;
      // The server notified the session itself: from the occupant, to the user.
      if (sent) out.push({ ...base, kind: 'notify', from: innerTo, to: innerFrom, via: 'heal' });
    } else if (item.name === 'notify' && item.attrs.xmlns === NS_BATCH) {
      out.push({ ...base, kind: 'notify', from: innerFrom, to: innerTo, via: 'item' });
    } else if (item.name === 'server-ping' && item.attrs.xmlns === NS_BATCH) {
      out.push({ ...base, kind: 'server-ping', from: '', to: attrOf(item, 'to'), via: 'item' });
    } else {
      const kind = item.name === 'iq' ? 'ping' : 'other';
      out.push({ ...base, kind, from: attrOf(item, 'from'), to: attrOf(item, 'to'), via: 'item' });
    }
  }
  return out;
}

/**
 * Sits between ping-muc and A's stanza API, forwarding requests untouched (so signatures
 * stay valid) and recording every request, and every self-ping, notification and server ping
 * ping-muc made, one per item of each batch.
 */
export class ApiRecorder extends Loopback {
  /** Every request, as sent. */
  readonly requests: RecordedRequest[] = [];
  /** Every item of every request. */
  readonly calls: RecordedCall[] = [];

  constructor(private readonly target: string) {
    super();
  }

  async start(host = '127.0.0.1'): Promise<string> {
    return this.listen(
      async (req, res) => {
        const up = await forward(req, this.target);
        const root = parseXml(up.body);
        const request: RecordedRequest = {
          at: Date.now(),
          version: root?.name === 'batch' ? attrOf(root, 'version') : '',
          status: up.status,
          answer: up.text,
          body: up.body,
        };
        this.requests.push(request);
        this.calls.push(...callsOf(request));
        res.writeHead(up.status, { 'content-type': up.type }).end(up.text);
      },
      host,
      '/ping_muc_cloud/stanza',
    );
  }

  /** Every self-ping: a probe or a heal's. */
  pings(): RecordedCall[] {
    return this.calls.filter((c) => c.kind === 'ping');
  }
  /** Every notification: ping-muc's own (`<notify>`), or a heal's the server delivered itself. */
  notifies(): RecordedCall[] {
    return this.calls.filter((c) => c.kind === 'notify');
  }
  serverPings(): RecordedCall[] {
    return this.calls.filter((c) => c.kind === 'server-ping');
  }
}

/** Forwards A's event POSTs to ping-muc untouched and records the events that were accepted. */
export class EventsTap extends EventLog {
  /** Holds every request this long before forwarding it: a remote function and store, slower
   * than the local service. */
  delayMs = 0;

  constructor(private readonly target: string) {
    super();
  }

  async start(host = '127.0.0.1'): Promise<string> {
    return this.listen(
      async (req, res) => {
        if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
        const up = await forward(req, this.target);
        if (up.status === 200 && !up.text.includes('"replay"')) {
          this.events.push(...(JSON.parse(up.body) as { events: ReceivedEvent[] }).events);
        }
        res.writeHead(up.status, { 'content-type': up.type }).end(up.text);
      },
      host,
      '/events',
    );
  }
}
