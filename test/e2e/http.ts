// HTTP helpers for the e2e tests: a signed stanza-API caller, an events receiver that
// checks signatures like ping-muc does, and a recorder in front of the stanza API.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
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
  at: number;
  kind: 'ping' | 'notify' | 'other';
  from: string;
  to: string;
  status: number;
  answer: string;
  /** The request body. */
  body: string;
}

/**
 * Sits between ping-muc and A's stanza API, forwarding requests untouched (so signatures
 * stay valid) and recording every self-ping and notification ping-muc made.
 */
export class ApiRecorder extends Loopback {
  readonly calls: RecordedCall[] = [];

  constructor(private readonly target: string) {
    super();
  }

  async start(host = '127.0.0.1'): Promise<string> {
    return this.listen(
      async (req, res) => {
        const up = await forward(req, this.target);
        const kind = up.body.trimStart().startsWith('<iq')
          ? 'ping'
          : up.body.trimStart().startsWith('<presence')
            ? 'notify'
            : 'other';
        const attr = (name: string) => new RegExp(`\\s${name}=["']([^"']*)["']`).exec(up.body)?.[1] ?? '';
        this.calls.push({
          at: Date.now(),
          kind,
          from: attr('from'),
          to: attr('to'),
          status: up.status,
          answer: up.text,
          body: up.body,
        });
        res.writeHead(up.status, { 'content-type': up.type }).end(up.text);
      },
      host,
      '/ping_muc_cloud/stanza',
    );
  }

  pings(): RecordedCall[] {
    return this.calls.filter((c) => c.kind === 'ping');
  }
  notifies(): RecordedCall[] {
    return this.calls.filter((c) => c.kind === 'notify');
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
