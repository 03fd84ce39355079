// Client of the XMPP server's stanza API (docs/stanza-api.md) over HTTP(S) with keep-alive.
import http from 'node:http';
import https from 'node:https';
import type { Element } from 'ltx';
import type { PingReply } from '../domain/model';
import type { StanzaApi } from '../ports';
import { sign } from '../domain/signature';
import { NS_API, parseXml, selfPing } from '../domain/stanzas';

export const MAX_RESPONSE_BYTES = 64 * 1024;

/** The API itself failed: never a fact about the room. Callers retry. */
export class StanzaApiError extends Error {
  override name = 'StanzaApiError';
}

export interface StanzaApiOptions {
  url: string;
  key: Buffer;
  timeoutMs: number;
  /** For tests and benchmarks: count requests. */
  onRequest?: () => void;
}

interface Answer {
  status: number;
  text: string;
}

/**
 * node:http with a keep-alive agent rather than fetch: measured at half the CPU per self-ping
 * (docs/benchmarks.md), which bounds a round's rate on a fractional Lambda vCPU.
 */
export class HttpStanzaApi implements StanzaApi {
  private readonly url: URL;
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;

  constructor(private readonly options: StanzaApiOptions) {
    this.url = new URL(options.url);
    this.transport = this.url.protocol === 'https:' ? https : http;
    this.agent = new this.transport.Agent({ keepAlive: true, scheduling: 'lifo' });
  }

  private send(body: string): Promise<Answer> {
    const { key, timeoutMs, onRequest } = this.options;
    onRequest?.();
    return new Promise((resolve, reject) => {
      const fail = (message: string) => {
        req.destroy();
        reject(new StanzaApiError(message));
      };
      const headers = { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), ...sign(key, body) };
      const req = this.transport.request(this.url, { method: 'POST', agent: this.agent, headers }, (res) => {
        const declared = Number(res.headers['content-length'] ?? 0);
        if (declared > MAX_RESPONSE_BYTES) return fail(`stanza API response too large (${declared} bytes)`);
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) return fail(`stanza API response larger than ${MAX_RESPONSE_BYTES} bytes`);
          chunks.push(chunk);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (err) => reject(new StanzaApiError(`stanza API response: ${err.message}`)));
      });
      const timer = setTimeout(() => fail(`stanza API did not answer within ${timeoutMs} ms`), timeoutMs);
      req.on('close', () => clearTimeout(timer));
      req.on('error', (err) => reject(new StanzaApiError(`stanza API unreachable: ${err.message}`)));
      req.end(body);
    });
  }

  private async post(stanza: Element): Promise<Element> {
    const { status, text } = await this.send(stanza.toString());
    if (status !== 200) throw new StanzaApiError(`stanza API answered ${status}: ${text.slice(0, 200)}`);
    try {
      return parseXml(text, MAX_RESPONSE_BYTES);
    } catch (err) {
      throw new StanzaApiError(`stanza API answered bad XML: ${(err as Error).message}`);
    }
  }

  async selfPing(user: string, occupant: string): Promise<PingReply> {
    const iq = selfPing(user, occupant);
    const answer = await this.post(iq);
    if (answer.getNS() === NS_API) {
      if (answer.name === 'timeout') return { kind: 'timeout' };
      if (answer.name === 'no-session') return { kind: 'no-session' };
    }
    const type = answer.attrs.type;
    if (answer.name === 'iq' && answer.attrs.id === iq.attrs.id && (type === 'result' || type === 'error')) {
      return { kind: 'reply', iq: answer };
    }
    throw new StanzaApiError(`stanza API answered an unexpected <${answer.name}> to a self-ping`);
  }

  async notify(presence: Element): Promise<boolean> {
    const answer = await this.post(presence);
    if (answer.getNS() === NS_API && answer.name === 'sent') return true;
    if (answer.getNS() === NS_API && answer.name === 'no-session') return false;
    throw new StanzaApiError(`stanza API answered an unexpected <${answer.name}> to a notification`);
  }
}
