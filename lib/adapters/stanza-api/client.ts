// Client of the XMPP server's stanza API (docs/stanza-api.md) over HTTP(S) with keep-alive: one
// protocol, batches of version 3. HttpStanzaApi is the StanzaApi port for one API URL and its
// keys; HttpWire sends its batches.
import http from 'node:http';
import https from 'node:https';
import { domainToASCII } from 'node:url';
import type { Element } from '@xmpp/xml';
import { sign } from '../../domain/signature';
import { batchOf, heal, notifyItem, selfPing, serverPing, stanzaId, unavailable } from '../../domain/stanzas';
import { backoffMs } from '../../support/backoff';
import { StanzaApiError, TransportError } from '../../support/errors';
import { MAX_BATCH_BYTES, MAX_BATCH_ITEMS, MAX_ITEM_ANSWER_BYTES, type StanzaApiOptions } from './options';
import {
  type Answer,
  batchItems,
  type ItemAnswer,
  MAX_RESPONSE_BYTES,
  readAnswer,
  readItem,
  retryAfterMs,
  Unusable,
} from './answers';
import { type ApiItem, BatchingStanzaApi, type Exchanged, type StanzaApiWire } from './batching';

/** The StanzaApi port over HTTP: concurrent calls gathered into batches of at most gatherMaxItems. */
export class HttpStanzaApi extends BatchingStanzaApi {
  constructor(options: StanzaApiOptions) {
    super(new HttpWire(options), {
      maxItems: Math.max(1, options.gatherMaxItems ?? options.batchMaxItems ?? MAX_BATCH_ITEMS),
      windowMs: options.windowMs,
    });
  }
}

/** Answers to one request that the API may give again and that a retry in place may cure. */
const RETRY_STATUS = new Set([502, 503, 504]);

/** The request element of each item, with ids unique among them (an answer's items are told apart by id). */
function build(items: ApiItem[]): Element[] {
  const ids = new Set<string>();
  const fresh = () => {
    let id = stanzaId();
    while (ids.has(id)) id = stanzaId();
    ids.add(id);
    return id;
  };
  return items.map((item) => {
    if (item.kind === 'server-ping') return serverPing(item.remote, fresh());
    const { user, occupant, since } = item.join;
    if (item.kind === 'notify') return notifyItem(unavailable(occupant, user, undefined, fresh()), since);
    const iq = selfPing(user, occupant, fresh());
    return item.kind === 'heal' ? heal(iq, since) : iq;
  });
}

/** The stanza an item's answer must answer: a heal's self-ping, a notification's presence, else the item. */
const inner = (el: Element): Element =>
  el.name === 'heal' || el.name === 'notify' ? (el.getChildElements()[0] ?? el) : el;

/**
 * node:http with a keep-alive agent rather than fetch: measured at half the CPU per self-ping
 * (docs/benchmarks.md), which bounds a round's rate on a fractional Lambda vCPU.
 */
export class HttpWire implements StanzaApiWire {
  private readonly url: URL;
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;
  private readonly tries: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly random: () => number;

  /** `ping-muc-host`: the host by its ASCII form (an IDN host's A-labels), as events name it. */
  private readonly hostHeader: string;

  constructor(private readonly options: StanzaApiOptions) {
    this.url = new URL(options.url);
    this.hostHeader = options.host ? domainToASCII(options.host) : '';
    this.transport = this.url.protocol === 'https:' ? https : http;
    // `timeout` on a keep-alive agent closes sockets idle in its pool; on a socket in use it
    // only emits 'timeout', which nothing listens to (our own timer bounds a request).
    this.agent = new this.transport.Agent({ keepAlive: true, scheduling: 'lifo', timeout: options.idleMs ?? 4_000 });
    this.tries = Math.max(1, options.tries ?? 3);
    this.retryBaseMs = options.retryBaseMs ?? 200;
    this.retryMaxMs = options.retryMaxMs ?? 2_000;
    this.random = options.random ?? Math.random;
  }

  /** One HTTP exchange. Throws TransportError; any status resolves. */
  private send(body: string, maxBytes: number, timeoutMs: number): Promise<Answer> {
    const { key, onRequest } = this.options;
    onRequest?.();
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = (fn: () => void) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        fn();
      };
      const fail = (message: string, retry: boolean, cause?: Error) => {
        finish(() => reject(new TransportError(message, cause ? { retry, cause } : { retry })));
        req.destroy();
      };
      // Signed per try: the API refuses a webhook-id it has seen (replay protection).
      const headers = {
        'content-type': 'application/xml',
        'content-length': Buffer.byteLength(body),
        ...(this.hostHeader && { 'ping-muc-host': this.hostHeader }),
        ...sign(key, body),
      };
      const req = this.transport.request(this.url, { method: 'POST', agent: this.agent, headers }, (res) => {
        const status = res.statusCode ?? 0;
        const head = {
          status,
          contentType: String(res.headers['content-type'] ?? ''),
          retryAfter: res.headers['retry-after'],
        };
        const declared = Number(res.headers['content-length'] ?? 0);
        const tooLarge = () => {
          finish(() => resolve({ ...head, unreadable: `answer larger than ${maxBytes} bytes` }));
          req.destroy();
        };
        if (declared > maxBytes) return tooLarge();
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) return tooLarge();
          chunks.push(chunk);
        });
        res.on('end', () => finish(() => resolve({ ...head, body: Buffer.concat(chunks) })));
        res.on('error', (err) => fail(`stanza API answer cut: ${err.message}`, true, err));
        res.on('aborted', () => fail('stanza API answer cut', true));
      });
      // No retry after our own timeout: it already exceeds the server's ping timeout, and the
      // round's own retry (later, with backoff) is the right place for an API that hangs.
      const timer = setTimeout(() => fail(`stanza API did not answer within ${timeoutMs} ms`, false), timeoutMs);
      // Resets of a reused keep-alive socket (ECONNRESET, EPIPE, "socket hang up") and refused
      // connections: the request did not get through, or not whole; trying again is safe (a
      // self-ping is harmless twice; a second notification repeats the same presence).
      req.on('error', (err) => fail(`stanza API unreachable: ${err.message}`, true, err));
      // Settles whatever happens: a connection closed before the whole answer is a cut answer.
      req.on('close', () => fail('stanza API closed the connection before the whole answer', true));
      req.end(body);
    });
  }

  /**
   * Sends with bounded, jittered retries in place; returns the final answer or throws
   * StanzaApiError, which keeps the transport error as its cause and its `retry` (our own
   * timeout: false, so that nobody retries it in place either).
   */
  private async post(body: string, maxBytes: number): Promise<Answer> {
    const timeoutMs = this.options.timeoutMs;
    for (let attempt = 0; ; attempt++) {
      const last = attempt + 1 >= this.tries;
      let wait = backoffMs(attempt, this.retryBaseMs, this.retryMaxMs, this.random);
      try {
        const answer = await this.send(body, maxBytes, timeoutMs);
        if (!RETRY_STATUS.has(answer.status) || last) return answer;
        const after = retryAfterMs(answer.retryAfter, Date.now());
        // The server asks for more time than we wait in place: leave it to the round's retry.
        if (after !== undefined && after > this.retryMaxMs) return answer;
        if (after !== undefined) wait = Math.max(wait, after);
      } catch (err) {
        if (!(err instanceof TransportError)) throw err;
        if (err.retry === false || last) throw new StanzaApiError(err.message, { cause: err });
      }
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  /** Each item's answer, in order (StanzaApiWire). */
  async exchange(items: ApiItem[]): Promise<Exchanged[]> {
    if (items.length === 0) return [];
    const stanzas = build(items);
    const answers = await this.batch(stanzas);
    return answers.map((answer, i) => ({ answer, stanza: inner(stanzas[i] as Element) }));
  }

  /**
   * The answer to each item (ids unique), in order; the items refused with 503 are sent once
   * more in a batch of their own. Throws StanzaApiError for the API's failure.
   */
  private async batch(stanzas: Element[]): Promise<ItemAnswer[]> {
    const answers = await this.split(stanzas);
    const busy = answers.flatMap((a, i) => ('refused' in a && a.refused === '503' ? [i] : []));
    if (busy.length === 0) return answers;
    await new Promise((r) => setTimeout(r, backoffMs(0, this.retryBaseMs, this.retryMaxMs, this.random)));
    const again = await this.split(busy.map((i) => stanzas[i] as Element));
    busy.forEach((i, j) => {
      answers[i] = again[j] as ItemAnswer;
    });
    return answers;
  }

  /** Requests of at most batchMaxItems items and batchMaxBytes, one after another. */
  private async split(stanzas: Element[]): Promise<ItemAnswer[]> {
    const maxItems = Math.max(1, this.options.batchMaxItems ?? MAX_BATCH_ITEMS);
    const maxBytes = this.options.batchMaxBytes ?? MAX_BATCH_BYTES;
    const empty = Buffer.byteLength(batchOf([]));
    const answers: ItemAnswer[] = [];
    let chunk: Element[] = [];
    let bytes = empty;
    for (const stanza of stanzas) {
      const size = Buffer.byteLength(stanza.toString());
      if (chunk.length > 0 && (chunk.length >= maxItems || bytes + size > maxBytes)) {
        answers.push(...(await this.request(chunk)));
        chunk = [];
        bytes = empty;
      }
      chunk.push(stanza);
      bytes += size;
    }
    if (chunk.length > 0) answers.push(...(await this.request(chunk)));
    return answers;
  }

  /** One request, halved on 413. A whole answer it cannot use is a bad answer for each item. */
  private async request(chunk: Element[]): Promise<ItemAnswer[]> {
    const maxBytes = MAX_RESPONSE_BYTES + chunk.length * MAX_ITEM_ANSWER_BYTES;
    const answer = await this.post(batchOf(chunk), maxBytes);
    if (answer.status === 413 && chunk.length > 1) {
      const half = Math.ceil(chunk.length / 2);
      return [...(await this.request(chunk.slice(0, half))), ...(await this.request(chunk.slice(half)))];
    }
    try {
      const items = batchItems(
        readAnswer(answer, maxBytes),
        chunk.map((s) => String(s.attrs.id)),
      );
      return items.map((item) => (typeof item === 'string' ? { bad: item } : readItem(item)));
    } catch (err) {
      if (!(err instanceof Unusable)) throw err;
      const reason = `batch answer: ${err.message}`;
      return chunk.map(() => ({ bad: reason }));
    }
  }
}
