// Client of the XMPP server's stanza API (docs/stanza-api.md) over HTTP(S) with keep-alive.
import http from 'node:http';
import https from 'node:https';
import type { Element } from '@xmpp/xml';
import type { PingReply } from '../domain/model';
import type { StanzaApi } from '../ports';
import { sign } from '../domain/signature';
import { batchItems, batchOf, heal, selfPing, selfPings, serverPing, XmlError } from '../domain/stanzas';
import { backoffMs } from '../support/backoff';
import {
  MAX_BATCH_BYTES,
  MAX_BATCH_ITEMS,
  MAX_ITEM_ANSWER_BYTES,
  type StanzaApiOptions,
  V1_FALLBACK_MS,
} from './stanza-api-options';
import {
  type Answer,
  healReply,
  isApiSignal,
  type ItemAnswer,
  MAX_RESPONSE_BYTES,
  pingReply,
  readAnswer,
  readItem,
  readPingAnswer,
  retryAfterMs,
  StanzaApiError,
  uniqueIds,
  Unusable,
} from './stanza-api-answers';

export { MAX_RESPONSE_BYTES, StanzaApiError } from './stanza-api-answers';
export { MAX_BATCH_BYTES, MAX_BATCH_ITEMS, MAX_ITEM_ANSWER_BYTES, type StanzaApiOptions } from './stanza-api-options';

/** A transport failure; `retry` says whether trying again may help. */
class TransportError extends Error {
  constructor(
    message: string,
    readonly retry: boolean,
  ) {
    super(message);
  }
}

/** Answers to one request that the API may give again and that a retry in place may cure. */
const RETRY_STATUS = new Set([502, 503, 504]);

/**
 * node:http with a keep-alive agent rather than fetch: measured at half the CPU per self-ping
 * (docs/benchmarks.md), which bounds a round's rate on a fractional Lambda vCPU.
 */
export class HttpStanzaApi implements StanzaApi {
  private readonly url: URL;
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;
  private readonly tries: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly random: () => number;
  /** Until then (ms), batches go as version 1 requests: the server refused one with 403. */
  private v1Until = 0;
  /** Until then (ms), heals go as plain self-pings: the server refused a batch's every heal with 403. */
  private plainUntil = 0;

  constructor(private readonly options: StanzaApiOptions) {
    this.url = new URL(options.url);
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
      const fail = (message: string, retry: boolean) => {
        finish(() => reject(new TransportError(message, retry)));
        req.destroy();
      };
      // Signed per try: the API refuses a webhook-id it has seen (replay protection).
      const headers = {
        'content-type': 'application/xml',
        'content-length': Buffer.byteLength(body),
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
        res.on('error', (err) => fail(`stanza API answer cut: ${err.message}`, true));
        res.on('aborted', () => fail('stanza API answer cut', true));
      });
      // No retry after our own timeout: it already exceeds the server's ping timeout, and the
      // round's own retry (later, with backoff) is the right place for an API that hangs.
      const timer = setTimeout(() => fail(`stanza API did not answer within ${timeoutMs} ms`, false), timeoutMs);
      // Resets of a reused keep-alive socket (ECONNRESET, EPIPE, "socket hang up") and refused
      // connections: the request did not get through, or not whole; trying again is safe (a
      // self-ping is harmless twice; a second notification repeats the same presence).
      req.on('error', (err) => fail(`stanza API unreachable: ${err.message}`, true));
      // Settles whatever happens: a connection closed before the whole answer is a cut answer.
      req.on('close', () => fail('stanza API closed the connection before the whole answer', true));
      req.end(body);
    });
  }

  /** Sends with bounded, jittered retries in place; returns the final answer or throws StanzaApiError. */
  private async exchange(
    body: string,
    maxBytes = MAX_RESPONSE_BYTES,
    timeoutMs = this.options.timeoutMs,
  ): Promise<Answer> {
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
        if (!err.retry || last) throw new StanzaApiError(err.message);
      }
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  /**
   * The root element of a usable 200 answer. Throws StanzaApiError for the API's failure
   * (transport, 5xx, 401, 429, other statuses) and Unusable for a bad answer to this request.
   */
  private async post(stanza: Element): Promise<Element> {
    return readAnswer(await this.exchange(stanza.toString()), MAX_RESPONSE_BYTES);
  }

  async selfPing(user: string, occupant: string): Promise<PingReply> {
    const iq = selfPing(user, occupant);
    try {
      const answer = await this.post(iq);
      return readPingAnswer(answer, iq);
    } catch (err) {
      if (err instanceof Unusable) return { kind: 'bad-answer', reason: err.message };
      throw err;
    }
  }

  async notify(presence: Element): Promise<boolean> {
    let answer: Element;
    try {
      answer = await this.post(presence);
    } catch (err) {
      if (err instanceof Unusable) throw new StanzaApiError(`stanza API answered a notification badly: ${err.message}`);
      throw err;
    }
    if (isApiSignal(answer, 'sent')) return true;
    if (isApiSignal(answer, 'no-session')) return false;
    throw new StanzaApiError(`stanza API answered an unexpected <${answer.name}> to a notification`);
  }

  /** Version 2: self-pings in batches; replies in the same order. Throws StanzaApiError like selfPing. */
  async selfPingBatch(pings: Array<{ user: string; occupant: string }>): Promise<PingReply[]> {
    const iqs = selfPings(pings);
    const answers = await this.batch(iqs, false);
    return answers.map((a, i) => pingReply(a, iqs[i] as Element));
  }

  /**
   * Version 2: heals, self-pings the server acts on itself (docs/stanza-api.md); replies in the
   * same order, each a self-ping's or `notified`. A server that predates heals refuses every one
   * with 403: they go again as plain self-pings, and so do heals for a while.
   */
  async healBatch(pings: Array<{ user: string; occupant: string }>): Promise<PingReply[]> {
    if (pings.length === 0) return [];
    if (this.plainUntil > Date.now()) return this.selfPingBatch(pings);
    const iqs = selfPings(pings);
    const answers = await this.batch(iqs.map(heal), false);
    if (!answers.every((a) => 'refused' in a && a.refused === '403')) {
      return answers.map((a, i) => healReply(a, iqs[i] as Element));
    }
    this.plainUntil = Date.now() + V1_FALLBACK_MS;
    const again = await this.batch(iqs, false);
    return again.map((a, i) => pingReply(a, iqs[i] as Element));
  }

  /**
   * Version 2: this server pings `remote`, to bring the link up. A server that predates it (403,
   * for the item or the whole batch) is no failure: the self-pings then bring the link up.
   */
  async serverPing(_host: string, remote: string): Promise<void> {
    if (this.v1Until > Date.now()) return;
    const answer = await this.exchange(batchOf([serverPing(remote)]), MAX_RESPONSE_BYTES, this.options.batchTimeoutMs);
    if (answer.status === 403) return;
    try {
      readAnswer(answer, MAX_RESPONSE_BYTES);
    } catch (err) {
      if (err instanceof Unusable) throw new StanzaApiError(`stanza API answered a server ping badly: ${err.message}`);
      throw err;
    }
  }

  /** Version 2: notifications in batches; outcomes in the same order. Throws StanzaApiError like notify. */
  async notifyBatch(presences: Element[]): Promise<Array<'sent' | 'no-session' | 'failed'>> {
    const answers = await this.batch(uniqueIds(presences), true);
    return answers.map((a) => {
      if (!('el' in a)) return 'failed';
      if (isApiSignal(a.el, 'sent')) return 'sent';
      return isApiSignal(a.el, 'no-session') ? 'no-session' : 'failed';
    });
  }

  /**
   * The answer to each stanza (ids unique), in order; the items refused with 503 are sent once
   * more in a batch of their own. Throws StanzaApiError for the API's failure, and with `strict`
   * (notifications) also for an unusable answer to a whole request.
   */
  private async batch(stanzas: Element[], strict: boolean): Promise<ItemAnswer[]> {
    const answers = await this.split(stanzas, strict);
    const busy = answers.flatMap((a, i) => ('refused' in a && a.refused === '503' ? [i] : []));
    if (busy.length === 0) return answers;
    await new Promise((r) => setTimeout(r, backoffMs(0, this.retryBaseMs, this.retryMaxMs, this.random)));
    const again = await this.split(
      busy.map((i) => stanzas[i] as Element),
      strict,
    );
    busy.forEach((i, j) => {
      answers[i] = again[j] as ItemAnswer;
    });
    return answers;
  }

  /** Requests of at most batchMaxItems stanzas and batchMaxBytes, one after another. */
  private async split(stanzas: Element[], strict: boolean): Promise<ItemAnswer[]> {
    const maxItems = Math.max(1, this.options.batchMaxItems ?? MAX_BATCH_ITEMS);
    const maxBytes = this.options.batchMaxBytes ?? MAX_BATCH_BYTES;
    const empty = Buffer.byteLength(batchOf([]));
    const answers: ItemAnswer[] = [];
    let chunk: Element[] = [];
    let bytes = empty;
    for (const stanza of stanzas) {
      const size = Buffer.byteLength(stanza.toString());
      if (chunk.length > 0 && (chunk.length >= maxItems || bytes + size > maxBytes)) {
        answers.push(...(await this.request(chunk, strict)));
        chunk = [];
        bytes = empty;
      }
      chunk.push(stanza);
      bytes += size;
    }
    if (chunk.length > 0) answers.push(...(await this.request(chunk, strict)));
    return answers;
  }

  /** One batch request, halved on 413; as version 1 requests to a server that predates version 2. */
  private async request(chunk: Element[], strict: boolean): Promise<ItemAnswer[]> {
    if (this.v1Until > Date.now()) return this.oneByOne(chunk);
    const maxBytes = MAX_RESPONSE_BYTES + chunk.length * MAX_ITEM_ANSWER_BYTES;
    const answer = await this.exchange(batchOf(chunk), maxBytes, this.options.batchTimeoutMs);
    if (answer.status === 413 && chunk.length > 1) {
      const half = Math.ceil(chunk.length / 2);
      return [
        ...(await this.request(chunk.slice(0, half), strict)),
        ...(await this.request(chunk.slice(half), strict)),
      ];
    }
    // A version 2 server never refuses a whole batch with 403; a version 1 server refuses any
    // root but a stanza with it.
    if (answer.status === 403) {
      this.v1Until = Date.now() + V1_FALLBACK_MS;
      return this.oneByOne(chunk);
    }
    try {
      const items = batchItems(
        readAnswer(answer, maxBytes),
        chunk.map((s) => String(s.attrs.id)),
      );
      return items.map((item) => (typeof item === 'string' ? { bad: item } : readItem(item)));
    } catch (err) {
      if (!(err instanceof Unusable || err instanceof XmlError)) throw err;
      const reason = `batch answer: ${err.message}`;
      if (strict) throw new StanzaApiError(`stanza API answered a batch of notifications badly: ${reason}`);
      return chunk.map(() => ({ bad: reason }));
    }
  }

  /** Each stanza as a version 1 request, fallbackConcurrency at a time. */
  private async oneByOne(chunk: Element[]): Promise<ItemAnswer[]> {
    const answers: ItemAnswer[] = new Array(chunk.length);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < chunk.length; i = next++) {
        try {
          // A heal is a version 2 item: to a version 1 server its self-ping goes alone.
          const stanza = chunk[i] as Element;
          answers[i] = {
            el: await this.post(stanza.name === 'heal' ? (stanza.getChildElements()[0] as Element) : stanza),
          };
        } catch (err) {
          if (!(err instanceof Unusable)) throw err;
          answers[i] = { bad: err.message };
        }
      }
    };
    const workers = Math.max(1, Math.min(chunk.length, this.options.fallbackConcurrency ?? 32));
    await Promise.all(Array.from({ length: workers }, worker));
    return answers;
  }
}
