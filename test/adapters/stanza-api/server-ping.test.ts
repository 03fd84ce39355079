// Server pings (docs/stanza-api.md, "Server pings"): HttpStanzaApi.serverPing against a local
// HTTP server playing the module, and RoutingStanzaApi's routing to the host's API.
import type { IncomingHttpHeaders } from 'node:http';
import { type Element, parse } from 'ltx';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HttpStanzaApi } from '../../../lib/adapters/stanza-api/client';
import type { StanzaApiOptions } from '../../../lib/adapters/stanza-api/options';
import { StanzaApiError } from '../../../lib/support/errors';
import { RoutingStanzaApi } from '../../../lib/adapters/stanza-api/routing';
import { secretKey, verify } from '../../../lib/domain/signature';
import { NS_API, NS_BATCH } from '../../../lib/domain/stanzas';
import { type AnsweringServer, answeringServer, flatHeaders, quickClient } from '../../support/answering-server';

const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
const SECRET_B = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
const REMOTE = 'muc.b.example';

interface Reply {
  status?: number;
  type?: string;
  body: string;
}
/** Each request the server saw: its path, headers, body and root. */
let seen: Array<{ path: string; headers: IncomingHttpHeaders; body: string; root: Element }> = [];
let script: (root: Element) => Reply = () => ({ status: 500, body: 'unset' });
let server: AnsweringServer;
let base = '';
let url = '';

beforeAll(async () => {
  server = await answeringServer((req) => {
    const root = parse(req.body);
    seen.push({ ...req, root });
    return script(root);
  });
  base = server.base;
  url = `${base}/ping_muc_cloud/stanza`;
});
afterAll(() => server.close());
beforeEach(() => {
  seen = [];
});

const api = (options: Partial<StanzaApiOptions> = {}) => quickClient(url, secretKey(SECRET), options);

const batch = (items: string[]) => `<batch xmlns="${NS_BATCH}" version="3">${items.join('')}</batch>`;
/** Answers each item of a batch with `inner`. */
const answerEach = (inner: string) => (root: Element) => ({
  body: batch(root.getChildElements().map((i) => `<item id="${i.attrs.id}">${inner}</item>`)),
});
const sent = `<sent xmlns="${NS_API}"/>`;

describe('HttpStanzaApi.serverPing', () => {
  it('sends exactly one signed batch holding one server-ping item to the remote', async () => {
    script = answerEach(sent);
    await expect(api().serverPing('a.example', REMOTE)).resolves.toBeUndefined();
    expect(seen).toHaveLength(1);
    const [req] = seen;
    expect(req?.path).toBe('/ping_muc_cloud/stanza');
    expect(req?.headers['content-type']).toBe('application/xml');
    expect(() => verify(secretKey(SECRET), flatHeaders(req?.headers ?? {}), req?.body ?? '')).not.toThrow();
    const root = req?.root as Element;
    expect(root.name).toBe('batch');
    expect(root.attrs).toEqual({ xmlns: NS_BATCH, version: '3' });
    const items = root.getChildElements();
    expect(items).toHaveLength(1);
    const item = items[0] as Element;
    expect(item.name).toBe('server-ping');
    expect(Object.keys(item.attrs).sort()).toEqual(['id', 'to', 'xmlns']);
    expect(item.attrs).toMatchObject({ xmlns: NS_BATCH, to: REMOTE });
    expect(item.attrs.id).toMatch(/\S/);
    expect(item.children).toEqual([]);
    // It names no user: the host is only where the call goes.
    expect(req?.body).not.toContain('a.example');
  });

  it('a fresh item id per call', async () => {
    script = answerEach(sent);
    const client = api();
    await client.serverPing('a.example', REMOTE);
    await client.serverPing('a.example', REMOTE);
    const ids = seen.map((s) => s.root.getChildElements()[0]?.attrs.id);
    expect(ids).toHaveLength(2);
    expect(ids[0]).not.toBe(ids[1]);
  });

  it('throws a final error when the module refuses the item (say a domain of this server)', async () => {
    script = answerEach(`<refused xmlns="${NS_BATCH}" code="403" reason="no link to bring up"/>`);
    const err = await api()
      .serverPing('a.example', 'a.example')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StanzaApiError);
    expect((err as StanzaApiError).retry).toBe(false);
    expect(seen).toHaveLength(1);
  });

  it('throws on a whole answer it cannot use', async () => {
    for (const reply of [
      () => ({ status: 403, body: 'no' }),
      (root: Element) => ({ body: answerEach(sent)(root).body.replace(' version="3"', '') }),
      answerEach(`<no-session xmlns="${NS_API}"/>`),
    ]) {
      script = reply;
      await expect(api().serverPing('a.example', REMOTE)).rejects.toBeInstanceOf(StanzaApiError);
    }
  });

  it('throws StanzaApiError on 500 without a retry in place (as no call retries one)', async () => {
    script = () => ({ status: 500, body: 'boom' });
    await expect(api().serverPing('a.example', REMOTE)).rejects.toBeInstanceOf(StanzaApiError);
    expect(seen).toHaveLength(1);
  });

  it('throws on 503 after its tries signed anew', async () => {
    script = () => ({ status: 503, body: 'busy' });
    await expect(api({ tries: 3 }).serverPing('a.example', REMOTE)).rejects.toThrow(/answered 503/);
    expect(seen).toHaveLength(3);
    // Every try signed anew (the API refuses a webhook-id it has seen).
    expect(new Set(seen.map((s) => s.headers['webhook-id'])).size).toBe(3);
  });

  it('resolves on a try after a 503', async () => {
    let calls = 0;
    script = (root) => (++calls < 2 ? { status: 503, body: 'busy' } : answerEach(sent)(root));
    await expect(api({ tries: 3 }).serverPing('a.example', REMOTE)).resolves.toBeUndefined();
    expect(seen).toHaveLength(2);
  });

  it('throws StanzaApiError when the API is unreachable', async () => {
    const dead = quickClient('http://127.0.0.1:1/x', secretKey(SECRET), { timeoutMs: 500, tries: 2 });
    await expect(dead.serverPing('a.example', REMOTE)).rejects.toBeInstanceOf(StanzaApiError);
  });

  it('goes at once while self-pings wait for their batch', async () => {
    script = (root) =>
      root.getChildElements()[0]?.name === 'server-ping'
        ? answerEach(sent)(root)
        : {
            body: batch(
              root.getChildElements().map((i) => `<item id="${i.attrs.id}"><timeout xmlns="${NS_API}"/></item>`),
            ),
          };
    const client = api({ windowMs: 200 });
    const ping = client.selfPing({ user: 'alice@a.example/r', occupant: `room@${REMOTE}/Alice`, since: 1 });
    await client.serverPing('a.example', REMOTE);
    expect(seen.map((s) => s.root.getChildElements().map((i) => i.name))).toEqual([['server-ping']]);
    expect((await ping).kind).toBe('timeout');
  });
});

describe('RoutingStanzaApi.serverPing', () => {
  const registry = {
    multiHost: true,
    webhookKeys: async () => undefined,
    api: async (host: string) =>
      ({
        'a.example': { url: `${base}/a/stanza`, keys: [secretKey(SECRET)] },
        'b.example': { url: `${base}/b/stanza`, keys: [secretKey(SECRET_B)] },
      })[host],
  };

  it('goes to the API of the host signed with its keys', async () => {
    script = answerEach(sent);
    const routing = new RoutingStanzaApi(
      registry,
      (a) => new HttpStanzaApi({ url: a.url, key: a.keys, timeoutMs: 2000 }),
    );
    await routing.serverPing('b.example', REMOTE);
    await routing.serverPing('a.example', 'c.example');
    expect(seen.map((s) => [s.path, s.root.getChildElements()[0]?.attrs.to])).toEqual([
      ['/b/stanza', REMOTE],
      ['/a/stanza', 'c.example'],
    ]);
    expect(() => verify(secretKey(SECRET_B), flatHeaders(seen[0]?.headers ?? {}), seen[0]?.body ?? '')).not.toThrow();
    expect(() => verify(secretKey(SECRET), flatHeaders(seen[0]?.headers ?? {}), seen[0]?.body ?? '')).toThrow();
    expect(() => verify(secretKey(SECRET), flatHeaders(seen[1]?.headers ?? {}), seen[1]?.body ?? '')).not.toThrow();
  });

  it('names the host in ping-muc-host (ASCII) for one URL serving several hosts', async () => {
    script = answerEach(sent);
    const shared = {
      multiHost: false,
      webhookKeys: async () => undefined,
      api: async () => ({ url, keys: [secretKey(SECRET)] }),
    };
    const routing = new RoutingStanzaApi(
      shared,
      (a, host) => new HttpStanzaApi({ url: a.url, key: a.keys, host, timeoutMs: 2000 }),
    );
    await routing.serverPing('a2.example', REMOTE);
    await routing.serverPing('bücher.example', REMOTE);
    expect(seen.map((s) => s.headers['ping-muc-host'])).toEqual(['a2.example', 'xn--bcher-kva.example']);
  });

  it('names no host for a client of one host', async () => {
    script = answerEach(sent);
    await api().serverPing('a.example', REMOTE);
    expect(seen[0]?.headers['ping-muc-host']).toBeUndefined();
  });

  it('throws for a host the registry does not list', async () => {
    const routing = new RoutingStanzaApi(
      registry,
      (a) => new HttpStanzaApi({ url: a.url, key: a.keys, timeoutMs: 2000 }),
    );
    await expect(routing.serverPing('d.example', REMOTE)).rejects.toBeInstanceOf(StanzaApiError);
    await expect(routing.serverPing('d.example', REMOTE)).rejects.toThrow(
      /host d\.example is not in the host registry/,
    );
    expect(seen).toEqual([]);
  });
});
