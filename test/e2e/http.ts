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
export async function callApi(url: string, secret: string, body: string, headers?: Record<string, string>): Promise<ApiAnswer> {
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

/** A stand-in for ping-muc's events endpoint: verifies, records, answers like the contract. */
export class EventsReceiver {
  readonly events: ReceivedEvent[] = [];
  readonly requests: Array<{ id: string; status: number }> = [];
  /** Status to answer with (e.g. 503 to exercise retries). */
  answer = 200;
  private server!: http.Server;
  url = '';

  constructor(private readonly secret: string) {}

  async start(host = '127.0.0.1'): Promise<string> {
    const key = secretKey(this.secret);
    const seen = new Set<string>();
    this.server = http.createServer(async (req, res) => {
      const body = await readBody(req);
      const headers: Record<string, string | undefined> = {};
      for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v[0] : v;
      let id: string;
      try {
        id = verify(key, headers, body);
      } catch (e) {
        this.requests.push({ id: headers['webhook-id'] ?? '', status: 401 });
        res.writeHead(401).end(JSON.stringify({ error: String(e) }));
        return;
      }
      const status = this.answer;
      this.requests.push({ id, status });
      if (status !== 200) {
        res.writeHead(status).end('{}');
        return;
      }
      if (!seen.has(id)) {
        seen.add(id);
        const parsed = JSON.parse(body) as { v: number; events: ReceivedEvent[] };
        this.events.push(...parsed.events);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    await new Promise<void>((r) => this.server.listen(0, host, () => r()));
    this.url = `http://${host}:${(this.server.address() as AddressInfo).port}/events`;
    return this.url;
  }

  async waitFor(pred: (e: ReceivedEvent) => boolean, timeoutMs = 10_000): Promise<ReceivedEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events.find(pred);
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(this.events)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  close(): Promise<void> {
    return new Promise((r) => {
      this.server.closeAllConnections();
      this.server.close(() => r());
    });
  }
}

export interface RecordedCall {
  at: number;
  kind: 'ping' | 'notify' | 'other';
  from: string;
  to: string;
  status: number;
  answer: string;
}

/**
 * Sits between ping-muc and A's stanza API, forwarding requests untouched (so signatures
 * stay valid) and recording every self-ping and notification ping-muc made.
 */
export class ApiRecorder {
  readonly calls: RecordedCall[] = [];
  private server!: http.Server;
  url = '';

  constructor(private readonly target: string) {}

  async start(host = '127.0.0.1'): Promise<string> {
    this.server = http.createServer(async (req, res) => {
      const body = await readBody(req);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) {
        if (k.startsWith('webhook-') || k === 'content-type') headers[k] = Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
      }
      const kind = body.trimStart().startsWith('<iq') ? 'ping' : body.trimStart().startsWith('<presence') ? 'notify' : 'other';
      const attr = (name: string) => new RegExp(`\\s${name}=["']([^"']*)["']`).exec(body)?.[1] ?? '';
      try {
        const up = await fetch(this.target, { method: 'POST', headers, body });
        const text = await up.text();
        this.calls.push({ at: Date.now(), kind, from: attr('from'), to: attr('to'), status: up.status, answer: text });
        res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'text/plain' }).end(text);
      } catch (e) {
        this.calls.push({ at: Date.now(), kind, from: attr('from'), to: attr('to'), status: 502, answer: String(e) });
        res.writeHead(502).end(String(e));
      }
    });
    await new Promise<void>((r) => this.server.listen(0, host, () => r()));
    this.url = `http://${host}:${(this.server.address() as AddressInfo).port}/ping_muc_cloud/stanza`;
    return this.url;
  }

  pings(): RecordedCall[] {
    return this.calls.filter((c) => c.kind === 'ping');
  }
  notifies(): RecordedCall[] {
    return this.calls.filter((c) => c.kind === 'notify');
  }

  close(): Promise<void> {
    return new Promise((r) => {
      this.server.closeAllConnections();
      this.server.close(() => r());
    });
  }
}

/** Forwards A's event POSTs to ping-muc untouched and records the events that were accepted. */
export class EventsTap {
  readonly events: ReceivedEvent[] = [];
  private server!: http.Server;
  url = '';

  constructor(private readonly target: string) {}

  async start(host = '127.0.0.1'): Promise<string> {
    this.server = http.createServer(async (req, res) => {
      const body = await readBody(req);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) {
        if (k.startsWith('webhook-') || k === 'content-type') headers[k] = Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
      }
      try {
        const up = await fetch(this.target, { method: 'POST', headers, body });
        const text = await up.text();
        if (up.status === 200 && !text.includes('"replay"')) {
          this.events.push(...(JSON.parse(body) as { events: ReceivedEvent[] }).events);
        }
        res.writeHead(up.status, { 'content-type': 'application/json' }).end(text);
      } catch (e) {
        res.writeHead(502).end(String(e));
      }
    });
    await new Promise<void>((r) => this.server.listen(0, host, () => r()));
    this.url = `http://${host}:${(this.server.address() as AddressInfo).port}/events`;
    return this.url;
  }

  async waitFor(pred: (e: ReceivedEvent) => boolean, timeoutMs = 10_000): Promise<ReceivedEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events.find(pred);
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(this.events)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  close(): Promise<void> {
    return new Promise((r) => {
      this.server.closeAllConnections();
      this.server.close(() => r());
    });
  }
}
