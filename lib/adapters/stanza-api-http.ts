// Client of the XMPP server's stanza API (docs/stanza-api.md) over HTTP with keep-alive.
import type { Element } from 'ltx';
import type { PingReply, StanzaApi } from '../ports';
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

async function readBounded(res: Response, max: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > max) throw new StanzaApiError(`stanza API response too large (${declared} bytes)`);
  if (!res.body) return '';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > max) throw new StanzaApiError(`stanza API response larger than ${max} bytes`);
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks).toString('utf8');
}

export class HttpStanzaApi implements StanzaApi {
  constructor(private readonly options: StanzaApiOptions) {}

  private async post(stanza: Element): Promise<Element> {
    const body = stanza.toString();
    const { url, key, timeoutMs, onRequest } = this.options;
    onRequest?.();
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/xml', ...sign(key, body) },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new StanzaApiError(`stanza API unreachable: ${(err as Error).message}`);
    }
    const text = await readBounded(res, MAX_RESPONSE_BYTES).catch((err: Error) => {
      throw err instanceof StanzaApiError ? err : new StanzaApiError(`stanza API response: ${err.message}`);
    });
    if (res.status !== 200) throw new StanzaApiError(`stanza API answered ${res.status}: ${text.slice(0, 200)}`);
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
