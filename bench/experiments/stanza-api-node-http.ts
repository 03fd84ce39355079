// EXPERIMENT, not product code: the stanza API client of lib/adapters/stanza-api-http.ts with
// node:http (keep-alive Agent) instead of the global fetch(), to measure how much of a round's
// CPU per ping is fetch's own (WHATWG streams, AbortSignal.timeout, undici's request objects).
// Same requests, same signatures, same parsing; only the transport differs.
import http from 'node:http';
import type { Element } from 'ltx';
import type { PingReply, StanzaApi } from '../../lib/ports';
import { sign } from '../../lib/domain/signature';
import { NS_API, parseXml, selfPing } from '../../lib/domain/stanzas';
import { MAX_RESPONSE_BYTES, StanzaApiError } from '../../lib/adapters/stanza-api-http';

export class NodeHttpStanzaApi implements StanzaApi {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  private readonly target: URL;

  constructor(private readonly options: { url: string; key: Buffer; timeoutMs: number; onRequest?: () => void }) {
    this.target = new URL(options.url);
  }

  private post(stanza: Element): Promise<Element> {
    const body = stanza.toString();
    this.options.onRequest?.();
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          agent: this.agent,
          host: this.target.hostname,
          port: this.target.port,
          path: this.target.pathname,
          method: 'POST',
          headers: { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), ...sign(this.options.key, body) },
          timeout: this.options.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_RESPONSE_BYTES) req.destroy(new StanzaApiError('stanza API response too large'));
            else chunks.push(c);
          });
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode !== 200) return reject(new StanzaApiError(`stanza API answered ${res.statusCode}: ${text.slice(0, 200)}`));
            try {
              resolve(parseXml(text, MAX_RESPONSE_BYTES));
            } catch (err) {
              reject(new StanzaApiError(`stanza API answered bad XML: ${(err as Error).message}`));
            }
          });
          res.on('error', (err) => reject(new StanzaApiError(`stanza API response: ${err.message}`)));
        },
      );
      req.on('timeout', () => req.destroy(new StanzaApiError('stanza API timeout')));
      req.on('error', (err) => reject(err instanceof StanzaApiError ? err : new StanzaApiError(`stanza API unreachable: ${err.message}`)));
      req.end(body);
    });
  }

  async selfPing(user: string, occupant: string): Promise<PingReply> {
    const iq = selfPing(user, occupant);
    const answer = await this.post(iq);
    if (answer.getNS() === NS_API) {
      if (answer.name === 'timeout') return { kind: 'timeout' };
      if (answer.name === 'no-session') return { kind: 'no-session' };
    }
    const type = answer.attrs.type;
    if (answer.name === 'iq' && answer.attrs.id === iq.attrs.id && (type === 'result' || type === 'error')) return { kind: 'reply', iq: answer };
    throw new StanzaApiError(`stanza API answered an unexpected <${answer.name}> to a self-ping`);
  }

  async notify(presence: Element): Promise<boolean> {
    const answer = await this.post(presence);
    if (answer.getNS() === NS_API && answer.name === 'sent') return true;
    if (answer.getNS() === NS_API && answer.name === 'no-session') return false;
    throw new StanzaApiError(`stanza API answered an unexpected <${answer.name}> to a notification`);
  }
}
