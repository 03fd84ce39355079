// A loopback HTTP server for the stanza API client's tests: each request, read whole, goes to
// `answer`, and what it returns is written back (200 and application/xml unless it says otherwise).
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpStanzaApi } from '../../lib/adapters/stanza-api/client';
import type { StanzaApiOptions } from '../../lib/adapters/stanza-api/options';
import type { Keys } from '../../lib/domain/signature';

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Answered {
  status?: number;
  type?: string;
  body: string | Buffer;
}

export interface AnsweringServer {
  /** `http://127.0.0.1:<port>`, without a path. */
  base: string;
  close(): Promise<void>;
}

/** Headers as a record of strings, as signature verification reads them. */
export const flatHeaders = (h: IncomingHttpHeaders): Record<string, string | undefined> =>
  Object.fromEntries(Object.entries(h).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]));

/** A client of `url` that retries after 1-5 ms and gathers for 1 ms, so that tests run fast. */
export const quickClient = (url: string, key: Keys, options: Partial<StanzaApiOptions> = {}): HttpStanzaApi =>
  new HttpStanzaApi({ url, key, timeoutMs: 2000, retryBaseMs: 1, retryMaxMs: 5, windowMs: 1, ...options });

export async function answeringServer(answer: (req: Received) => Answered): Promise<AnsweringServer> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const a = answer({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(a.status ?? 200, { 'content-type': a.type ?? 'application/xml' });
      res.end(a.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
