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

/** POSTs one stanza to the stanza API, signed with `secret` (or with the given headers). */
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
  /** A self-ping (a v1 `<iq>`, a batch's `<iq>` item or the `<iq>` of a `<heal>`), a notification
   * (a `<presence>`, or a heal the server answered `<sent/>`), a batch's `<server-ping>`, or else. */
  kind: 'ping' | 'notify' | 'server-ping' | 'other';
  from: string;
  to: string;
  /** The HTTP status of the request; for a batch item refused on its own, the `<refused>` code. */
  status: number;
  /** The answer: the whole body (v1), or the element of this item's `<item id>` (v2). */
  answer: string;
  /** The request body (v1), or this item's XML (v2). */
  body: string;
  /** 'v1': a request of its own; 'v2': a plain item of a batch; 'heal': a heal item (its
   * self-ping, and the notification the server made of it). */
  via: 'v1' | 'v2' | 'heal';
}

/** One HTTP request to the stanza API, as it went and came back. */
export interface RecordedRequest {
  at: number;
  /** 2 when the body is a `<batch>`. */
  version: 1 | 2;
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
  if (req.version === 1 || !root) {
    const kind = root?.name === 'iq' ? 'ping' : root?.name === 'presence' ? 'notify' : 'other';
    const attr = (name: string) => new RegExp(`\\s${name}=["']([^"']*)["']`).exec(req.body)?.[1] ?? '';
    return [
      {
        at: req.at,
        kind,
        from: attr('from'),
        to: attr('to'),
        status: req.status,
        answer: req.answer,
        body: req.body,
        via: 'v1',
      },
    ];
  }
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
  for (const item of root.getChildElements()) {
    const id = attrOf(item, 'id');
    const answerEl = answers.get(id);
    const answer = answerRoot?.name === 'batch' ? (answerEl?.toString() ?? '') : req.answer;
    const refused = answerEl?.name === 'refused' ? Number(attrOf(answerEl, 'code')) || req.status : undefined;
    const base = { at: req.at, status: refused ?? req.status, answer, body: item.toString() };
    if (item.name === 'heal') {
      const iq = item.getChildElements()[0];
      const [from, to] = iq ? [attrOf(iq, 'from'), attrOf(iq, 'to')] : ['', ''];
      out.push({ ...base, kind: 'ping', from, to, via: 'heal' });
      const sent = answerEl?.name === 'sent' && answerEl.attrs.xmlns === NS_API;
      // The server notified the session itself: from the occupant, to the user.
      if (sent) out.push({ ...base, kind: 'notify', from: to, to: from, via: 'heal' });
    } else if (item.name === 'server-ping' && item.attrs.xmlns === NS_BATCH) {
      out.push({ ...base, kind: 'server-ping', from: '', to: attrOf(item, 'to'), via: 'v2' });
    } else {
      const kind = item.name === 'iq' ? 'ping' : item.name === 'presence' ? 'notify' : 'other';
      out.push({ ...base, kind, from: attrOf(item, 'from'), to: attrOf(item, 'to'), via: 'v2' });
    }
  }
  return out;
}

/**
 * Sits between ping-muc and A's stanza API, forwarding requests untouched (so signatures
 * stay valid) and recording every request, and every self-ping, notification and server ping
 * ping-muc made, whether a request of its own (v1) or an item of a batch (v2).
 */
export class ApiRecorder extends Loopback {
  /** Every request, as sent. */
  readonly requests: RecordedRequest[] = [];
  /** Every stanza of every request: a v1 request is one, a batch one per item. */
  readonly calls: RecordedCall[] = [];

  constructor(private readonly target: string) {
    super();
  }

  async start(host = '127.0.0.1'): Promise<string> {
    return this.listen(
      async (req, res) => {
        const up = await forward(req, this.target);
        const request: RecordedRequest = {
          at: Date.now(),
          version: /^\s*<batch[\s>/]/.test(up.body) ? 2 : 1,
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

  /** Every self-ping: plain, in a batch, or in a heal. */
  pings(): RecordedCall[] {
    return this.calls.filter((c) => c.kind === 'ping');
  }
  /** Every notification: ping-muc's own (v1 or batch), or a heal's the server delivered itself. */
  notifies(): RecordedCall[] {
    return this.calls.filter((c) => c.kind === 'notify');
  }
  serverPings(): RecordedCall[] {
    return this.calls.filter((c) => c.kind === 'server-ping');
  }
}

/** Forwards A's event POSTs to ping-muc untouched and records the events that were accepted. */
export class EventsTap extends EventLog {
  constructor(private readonly target: string) {
    super();
  }

  async start(host = '127.0.0.1'): Promise<string> {
    return this.listen(
      async (req, res) => {
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
