// Hostile input: each request gets its status code and the store is left unchanged.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startHarness, API_SECRET, WEBHOOK_SECRET, type Harness } from '../../support/service';
import { nextSeq, postEvents, postRaw, signed } from '../../support/events';
import { sleep, waitFor } from '../../support/wait';
import { HttpStanzaApi } from '../../../lib/adapters/stanza-api/client';
import { StanzaApiError } from '../../../lib/support/errors';
import { secretKey } from '../../../lib/domain/signature';
import { API_VERSION, NS_API, NS_BATCH, NS_STANZAS } from '../../../lib/domain/stanzas';
import { type Element, parse } from 'ltx';
import { createServer, request, type Server } from 'node:http';
import { MEMORY, startLocalService } from '../../../lib/wiring/local';
import type { AddressInfo } from 'node:net';

const HOST = 'a.example';
const join = () => ({
  type: 'join',
  seq: nextSeq(),
  host: HOST,
  user: `alice@${HOST}/r`,
  room: 'lobby@muc.b.example',
  nick: 'alice',
});
const body = (events: object[]) => JSON.stringify({ v: 1, events });

/** POSTs `size` bytes with node:http (declared length, or chunked), optionally aborting part-way. */
function rawPost(
  url: string,
  size: number,
  opts: { chunked?: boolean; abortAfter?: number } = {},
): Promise<{ status: number; text: string }> {
  return new Promise((resolve) => {
    const headers: Record<string, string | number> = { 'content-type': 'application/json' };
    if (!opts.chunked) headers['content-length'] = size;
    let answered = false;
    const req = request(url, { method: 'POST', headers }, (res) => {
      answered = true;
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    // The server may close while we still write: what counts is the answer, if any.
    req.on('error', () => {
      if (!answered) resolve({ status: 0, text: '' });
    });
    if (opts.abortAfter !== undefined) {
      req.write(Buffer.alloc(opts.abortAfter, 0x20), () => setTimeout(() => req.destroy(), 50));
      return;
    }
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        const n = Math.min(chunk.length, size - sent);
        sent += n;
        if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

let h: Harness;
let before: string[];
beforeAll(async () => {
  h = await startHarness();
  // Something to keep unchanged.
  expect((await postEvents(h.service.eventsUrl, WEBHOOK_SECRET, [join()])).status).toBe(200);
});
afterAll(async () => {
  await h.close();
});
beforeEach(async () => {
  before = await h.snapshot();
});

async function expectRefused(status: number, raw: string | Buffer, headers: Record<string, string>, message?: RegExp) {
  const res = await postRaw(h.service.eventsUrl, raw, headers);
  expect(res.status).toBe(status);
  if (message) expect(String(res.body.error)).toMatch(message);
  expect(await h.snapshot()).toEqual(before);
}

describe('the events endpoint refuses', () => {
  const good = body([{ ...join(), nick: 'mallory' }]);

  it('a missing signature (401)', async () => {
    await expectRefused(401, good, {}, /missing webhook-id/);
  });

  it('a bad signature (401)', async () => {
    await expectRefused(
      401,
      good,
      signed(`whsec_${Buffer.alloc(32, 9).toString('base64')}`, good),
      /bad webhook-signature/,
    );
  });

  it('a body that does not match its signature (401)', async () => {
    await expectRefused(401, good.replace('mallory', 'mallorz'), signed(WEBHOOK_SECRET, good), /bad webhook-signature/);
  });

  it('an old timestamp (401)', async () => {
    await expectRefused(
      401,
      good,
      signed(WEBHOOK_SECRET, good, undefined, Math.floor(Date.now() / 1000) - 301),
      /tolerance/,
    );
  });

  it('malformed JSON (400)', async () => {
    const raw = '{"v":1,"events":[';
    await expectRefused(400, raw, signed(WEBHOOK_SECRET, raw), /malformed JSON/);
  });

  it('XML with a DOCTYPE instead of JSON (400)', async () => {
    const raw = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>';
    await expectRefused(400, raw, signed(WEBHOOK_SECRET, raw), /malformed JSON/);
  });

  it('an invalid JID refuses that event only', async () => {
    const first = { ...join(), user: `carol@${HOST}/r`, room: 'other@muc.c.example', nick: 'first' };
    const raw = body([first, { ...join(), user: 'not a jid' }, { type: 'kick', seq: nextSeq(), host: HOST }]);
    const res = await postRaw(h.service.eventsUrl, raw, signed(WEBHOOK_SECRET, raw));
    expect(res).toEqual({
      status: 200,
      body: {
        ok: true,
        applied: 1,
        refused: [
          { index: 1, type: 'join', error: expect.stringMatching(/JID/) },
          { index: 2, type: 'kick', error: 'unknown type "kick"' },
        ],
      },
    });
    expect((await h.joins(HOST, 'muc.c.example')).map((j) => j.user)).toEqual([first.user]);
  });

  it('an event with characters XML forbids is refused with nothing stored', async () => {
    const raw = body([
      { ...join(), nick: 'mal\u0000lory' },
      { ...join(), nick: 'x\uffff' },
      { ...join(), nick: `a${'é'.repeat(512)}` },
    ]);
    const res = await postRaw(h.service.eventsUrl, raw, signed(WEBHOOK_SECRET, raw));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ok: true, applied: 0 });
    expect((res.body.refused as unknown[]).length).toBe(3);
    expect(
      (await h.joins(HOST, 'muc.b.example')).some(
        (j) => j.nick.includes('\u0000') || j.nick.includes('\uffff') || j.nick.length > 500,
      ),
    ).toBe(false);
  });

  it('a body that is not valid UTF-8 (400)', async () => {
    // A lone continuation byte, then an overlong encoding of '/' (a lenient decoder makes both U+FFFD).
    const raw = Buffer.from(body([{ ...join(), nick: 'ab' }]).replace('ab', '\u0001\u0002\u0003'), 'utf8');
    const at = raw.indexOf(1);
    raw.set([0x80, 0xc0, 0xaf], at);
    await expectRefused(400, raw, signed(WEBHOOK_SECRET, raw), /UTF-8/);
  });

  it('a room on an IDN domain with combining marks is accepted', async () => {
    const res = await postEvents(h.service.eventsUrl, WEBHOOK_SECRET, [
      { ...join(), user: `dave@${HOST}/r`, room: 'chat@संगणक.भारत' },
    ]);
    expect(res).toEqual({ status: 200, body: { ok: true, applied: 1 } });
    expect((await h.joins(HOST, 'संगणक.भारत')).map((j) => j.room)).toEqual(['chat@संगणक.भारत']);
  });

  it('an oversize body (413) before reading it all', async () => {
    const raw = 'x'.repeat(h.service.config.maxBodyBytes + 1);
    await expectRefused(413, raw, signed(WEBHOOK_SECRET, raw));
  });

  it('a body of at least 4 MiB (413 from the declared length rather than a connection reset)', async () => {
    for (const size of [4 * 1024 * 1024, 4 * 1024 * 1024 + 1, 9 * 1024 * 1024]) {
      const raw = Buffer.alloc(size, 0x20);
      await expectRefused(413, raw, signed(WEBHOOK_SECRET, raw), /larger than/);
    }
  });

  it('a chunked body over the limit without a content-length (413)', async () => {
    const { status, text } = await rawPost(h.service.eventsUrl, 6 * 1024 * 1024, { chunked: true });
    expect(status).toBe(413);
    expect(text).toMatch(/larger than/);
  });

  it('an oversize or aborted request leaves nothing pending: the service closes at once', async () => {
    const other = await startLocalService({
      dataDir: MEMORY,
      log: () => undefined,
      env: { PING_MUC_WEBHOOK_SECRET: WEBHOOK_SECRET, PING_MUC_API_SECRET: API_SECRET, LOG_LEVEL: 'error' },
    });
    try {
      expect((await rawPost(other.eventsUrl, 5 * 1024 * 1024)).status).toBe(413);
      expect((await rawPost(other.eventsUrl, 5 * 1024 * 1024, { chunked: true })).status).toBe(413);
      // Half of a declared body, then the client goes away.
      await rawPost(other.eventsUrl, 100_000, { abortAfter: 50_000 });
    } finally {
      const t0 = Date.now();
      await other.close();
      // close() waits up to 5 s for requests still being handled: none must be left.
      expect(Date.now() - t0).toBeLessThan(2_000);
    }
  });

  it('a GET (404/405)', async () => {
    const res = await fetch(h.service.eventsUrl);
    expect(res.status).toBe(405);
  });

  it('a replay is applied again to no effect (every event is idempotent by seq)', async () => {
    const events = [{ ...join(), nick: 'once' }];
    const first = await postEvents(h.service.eventsUrl, WEBHOOK_SECRET, events, 'msg_replay');
    expect(first.status).toBe(200);
    const leave = await postEvents(h.service.eventsUrl, WEBHOOK_SECRET, [
      { type: 'leave', seq: nextSeq(), host: HOST, user: `alice@${HOST}/r`, room: 'lobby@muc.b.example' },
    ]);
    expect(leave.status).toBe(200);
    before = await h.snapshot();
    const again = await postEvents(h.service.eventsUrl, WEBHOOK_SECRET, events, 'msg_replay');
    expect(again).toEqual({ status: 200, body: { ok: true, applied: 1 } });
    expect(await h.snapshot()).toEqual(before);
  });

  it('a late older join after a newer leave changes nothing', async () => {
    const older = { ...join(), nick: 'late' };
    await postEvents(h.service.eventsUrl, WEBHOOK_SECRET, [
      { type: 'leave', seq: nextSeq(), host: HOST, user: older.user, room: older.room },
    ]);
    before = await h.snapshot();
    expect((await postEvents(h.service.eventsUrl, WEBHOOK_SECRET, [older])).status).toBe(200);
    const joins = await h.joins(HOST, 'muc.b.example');
    expect(joins).toEqual([]);
  });
});

const USER = 'alice@a.example/r';
const OCCUPANT = 'lobby@muc.b.example/alice';
const JOIN = { user: USER, occupant: OCCUPANT, since: 1_796_083_200_000_000 };

/** What a request's one item asks: its stanza's id (the item's id), from and to. */
interface Sent {
  id: string;
  from: string;
  to: string;
}
type Reply = { status?: number; type?: string; body: string | Buffer; headers?: Record<string, string> } | 'reset';

/** A local stanza API answering each request (n counts from 0) with `answer`. */
async function serving(
  answer: (iq: Sent, n: number) => Reply,
  options: Partial<ConstructorParameters<typeof HttpStanzaApi>[0]> = {},
) {
  let n = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      // A batch of one item: a self-ping's <iq/>, or a <notify/> around its presence.
      const item = (parse(Buffer.concat(chunks).toString('utf8')) as unknown as Element).getChildElements()[0]!;
      const el = item.name === 'notify' ? item.getChildElements()[0]! : item;
      const out = answer({ id: String(item.attrs.id), from: String(el.attrs.from), to: String(el.attrs.to) }, n++);
      if (out === 'reset') return void req.socket.destroy();
      res.writeHead(out.status ?? 200, { 'content-type': out.type ?? 'application/xml', ...out.headers });
      res.end(out.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const api = new HttpStanzaApi({
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    key: secretKey(API_SECRET),
    timeoutMs: 1000,
    retryBaseMs: 5,
    retryMaxMs: 200,
    ...options,
  });
  return {
    api,
    server,
    requests: () => n,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

const iqResult = (iq: Sent) => `<iq type="result" id="${iq.id}" from="${iq.to}" to="${iq.from}"/>`;
const iqNotAcceptable = (iq: Sent) =>
  `<iq type="error" id="${iq.id}" from="${iq.to}" to="${iq.from}"><error type="cancel" by="lobby@muc.b.example"><not-acceptable xmlns="${NS_STANZAS}"/></error></iq>`;
/** A batch answer whose one item, for the request's item, holds `inner`. */
const batch = (iq: Sent, inner: string) =>
  `<batch xmlns="${NS_BATCH}" version="${API_VERSION}"><item id="${iq.id}">${inner}</item></batch>`;
/** The item answers: a reply of the occupant. */
const result = (iq: Sent) => batch(iq, iqResult(iq));
const notAcceptable = (iq: Sent) => batch(iq, iqNotAcceptable(iq));
/** An item holding `inner` (the whole answer is a usable batch). */
const item = (inner: (iq: Sent) => string) => (iq: Sent) => ({ body: batch(iq, inner(iq)) });

describe('the stanza API client', () => {
  // A 200 answer this request cannot use, or a 4xx refusing this one request: the join's bad
  // answer (re-check, never notify); never a fact about the room.
  it.each<[string, (iq: Sent) => Reply]>([
    ['a DOCTYPE with entities', () => ({ body: '<!DOCTYPE iq [<!ENTITY x "y">]><iq type="result">&x;</iq>' })],
    ['a batch without its version', (iq) => ({ body: result(iq).replace(` version="${API_VERSION}"`, '') })],
    ['a batch of another version', (iq) => ({ body: result(iq).replace(`version="${API_VERSION}"`, 'version="2"') })],
    ['no item for the request', (iq) => ({ body: result({ ...iq, id: 'other' }) })],
    ['an item holding two elements', item((iq) => iqResult(iq) + iqResult(iq))],
    [
      'an oversize answer (over 64 KiB and 8 KiB per item)',
      item((iq) => `<iq type="result" id="${iq.id}" from="${iq.to}" to="${iq.from}">${'x'.repeat(80_000)}</iq>`),
    ],
    ['malformed XML', () => ({ body: '<iq type="result"' })],
    ['an IQ with another id', item((iq) => iqResult({ ...iq, id: 'other' }))],
    ['an IQ from another occupant', item((iq) => iqResult({ ...iq, to: 'lobby@muc.b.example/bob' }))],
    ['an IQ to another session', item((iq) => iqResult({ ...iq, from: 'alice@a.example/other' }))],
    ['an IQ without from', item((iq) => `<iq type="result" id="${iq.id}" to="${iq.from}"/>`)],
    ['an IQ outside jabber:client', item((iq) => iqNotAcceptable(iq).replace('<iq ', '<iq xmlns="jabber:server" '))],
    ['an IQ of type get', item((iq) => iqResult(iq).replace('"result"', '"get"'))],
    ['an IQ error without <error/>', item((iq) => `<iq type="error" id="${iq.id}" from="${iq.to}" to="${iq.from}"/>`)],
    [
      'an IQ error without a defined condition',
      item((iq) =>
        iqNotAcceptable(iq).replace(`<not-acceptable xmlns="${NS_STANZAS}"/>`, '<oops xmlns="urn:example:app"/>'),
      ),
    ],
    [
      'an IQ error with an unknown condition',
      item((iq) => iqNotAcceptable(iq).replace('not-acceptable', 'not-acceptablish')),
    ],
    [
      'an IQ error with two <error/>',
      (iq) => ({
        body: notAcceptable(iq).replace(
          '</iq>',
          '<error type="cancel"><forbidden xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>',
        ),
      }),
    ],
    [
      'a duplicate attribute (ltx keeps the last)',
      (iq) => ({ body: notAcceptable(iq).replace('type="error"', 'type="result" type="error"') }),
    ],
    ['two root elements (ltx keeps the first)', (iq) => ({ body: notAcceptable(iq) + result(iq) })],
    ['a trailing NUL', (iq) => ({ body: `${notAcceptable(iq)}\u0000` })],
    ['<no-session/> followed by more content', item((iq) => `<no-session xmlns="${NS_API}"/>${iqNotAcceptable(iq)}`)],
    ['<no-session/> with content', item(() => `<no-session xmlns="${NS_API}"><x/></no-session>`)],
    ['<no-session/> of another namespace', item(() => '<no-session xmlns="urn:other"/>')],
    ['a <refused/> with an unknown code', item(() => `<refused xmlns="${NS_BATCH}" code="500"/>`)],
    ['another content type', (iq) => ({ type: 'text/html', body: notAcceptable(iq) })],
    ['another charset', (iq) => ({ type: 'application/xml; charset=iso-8859-1', body: notAcceptable(iq) })],
    ['invalid UTF-8', (iq) => ({ body: Buffer.concat([Buffer.from(notAcceptable(iq)), Buffer.from([0xff])]) })],
    ['a 400', () => ({ status: 400, body: 'not one stanza' })],
    ['a 403', () => ({ status: 403, body: 'refused' })],
    ['a 404 (a wrong URL, not "no session")', () => ({ status: 404, body: `<no-session xmlns="${NS_API}"/>` })],
    ['a 413', () => ({ status: 413, body: 'too large' })],
  ])('%s: a bad answer to the self-ping (an API failure for a notification)', async (_name, answer) => {
    const { api, close } = await serving(answer);
    try {
      expect(await api.selfPing(JOIN)).toEqual({ kind: 'bad-answer', reason: expect.any(String) });
      await expect(api.notify(JOIN)).rejects.toThrow(StanzaApiError);
    } finally {
      await close();
    }
  });

  it.each<[string, (iq: Sent) => Reply, number]>([
    ['a 500', () => ({ status: 500, body: 'boom' }), 1],
    ['a 401', () => ({ status: 401, body: 'bad signature' }), 1],
    ['a 429', () => ({ status: 429, body: 'slow down' }), 1],
    ['a 504 from a proxy, every time', () => ({ status: 504, body: 'Gateway Timeout' }), 3],
    ['a 502, every time', () => ({ status: 502, body: 'Bad Gateway' }), 3],
    [
      'a 503 asking for more time than we wait in place',
      () => ({ status: 503, body: 'busy', headers: { 'retry-after': '60' } }),
      1,
    ],
    ['a reset, every time', () => 'reset', 3],
  ])('%s: an API failure rather than an outcome (%#)', async (_name, answer, requests) => {
    const { api, close, requests: count } = await serving(answer);
    try {
      await expect(api.selfPing(JOIN)).rejects.toThrow(StanzaApiError);
      expect(count()).toBe(requests);
    } finally {
      await close();
    }
  });

  it('an unreachable API is a failure', async () => {
    const api = new HttpStanzaApi({
      url: 'http://127.0.0.1:9/',
      key: secretKey(API_SECRET),
      timeoutMs: 500,
      retryBaseMs: 5,
    });
    await expect(api.selfPing(JOIN)).rejects.toThrow(/unreachable/);
  });

  it('accepts well-formed matching answers', async () => {
    const answers: Array<(iq: Sent) => string> = [
      result,
      notAcceptable,
      // JIDs compare normalized: case of the bare part.
      (iq) => notAcceptable({ ...iq, to: iq.to.replace('lobby@muc.b.example', 'Lobby@MUC.b.example') }),
      // Single quotes, whitespace around the item's element, a text beside the condition.
      (iq) =>
        batch(
          iq,
          `\n<iq type='error' id='${iq.id}' from='${iq.to}' to='${iq.from}'><error type='cancel' by='lobby@muc.b.example'><text xmlns='${NS_STANZAS}'>x</text><not-acceptable xmlns='${NS_STANZAS}'/></error></iq>\n`,
        ),
      (iq) => batch(iq, `<timeout xmlns="${NS_API}"/>`),
      (iq) => batch(iq, `<no-session xmlns="${NS_API}"/>`),
    ];
    const { api, close } = await serving((iq, n) => ({
      type: 'application/xml; charset=utf-8',
      body: (answers[n] as (iq: Sent) => string)(iq),
    }));
    try {
      const kinds = [];
      for (let i = 0; i < answers.length; i++) {
        const reply = await api.selfPing(JOIN);
        kinds.push(reply.kind === 'reply' ? `${reply.kind}:${reply.iq.attrs.type}` : reply.kind);
      }
      expect(kinds).toEqual(['reply:result', 'reply:error', 'reply:error', 'reply:error', 'timeout', 'no-session']);
    } finally {
      await close();
    }
  });

  it('retries in place after resets or 502/503/504 until it gets an answer', async () => {
    const { api, close, requests } = await serving((iq, n) =>
      n === 0
        ? 'reset'
        : n === 1
          ? { status: 503, body: 'busy', headers: { 'retry-after': '0' } }
          : { body: result(iq) },
    );
    try {
      const reply = await api.selfPing(JOIN);
      expect(reply.kind).toBe('reply');
      expect(requests()).toBe(3);
    } finally {
      await close();
    }
  });

  it('honours a short retry-after', async () => {
    const { api, close } = await serving(
      (iq, n) => (n === 0 ? { status: 503, body: 'busy', headers: { 'retry-after': '1' } } : { body: result(iq) }),
      { retryMaxMs: 2000 },
    );
    try {
      const t0 = Date.now();
      expect((await api.selfPing(JOIN)).kind).toBe('reply');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    } finally {
      await close();
    }
  });

  /** A client with a 150 ms idle timeout on a server that keeps sockets alive for a minute. */
  async function keptAlive(run: (api: HttpStanzaApi, server: Server) => Promise<void>): Promise<void> {
    const { api, close, server } = await serving((iq) => ({ body: result(iq) }), { idleMs: 150 });
    server.keepAliveTimeout = 60_000;
    try {
      await run(api, server);
    } finally {
      await close();
    }
  }

  it('closes idle sockets itself', async () => {
    await keptAlive(async (api, server) => {
      expect((await api.selfPing(JOIN)).kind).toBe('reply');
      const count = () => new Promise<number>((r) => server.getConnections((_e, n) => r(n)));
      expect(await count()).toBe(1);
      await sleep(400);
      expect(await count()).toBe(0);
    });
  });

  it('survives the server closing a kept-alive socket', async () => {
    await keptAlive(async (api, server) => {
      // A socket the server drops while it is idle in our pool: the next call still gets through.
      expect((await api.selfPing(JOIN)).kind).toBe('reply');
      server.closeIdleConnections();
      expect((await api.selfPing(JOIN)).kind).toBe('reply');
    });
  });

  it('a slow answer on a socket with an idle timeout is not cut', async () => {
    const slow = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const el = (parse(Buffer.concat(chunks).toString('utf8')) as unknown as Element).getChildElements()[0]!;
        setTimeout(() => {
          res.writeHead(200, { 'content-type': 'application/xml' });
          res.end(result({ id: String(el.attrs.id), from: String(el.attrs.from), to: String(el.attrs.to) }));
        }, 400);
      });
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    const api = new HttpStanzaApi({
      url: `http://127.0.0.1:${(slow.address() as AddressInfo).port}/`,
      key: secretKey(API_SECRET),
      timeoutMs: 2000,
      idleMs: 100,
    });
    try {
      expect((await api.selfPing(JOIN)).kind).toBe('reply');
    } finally {
      await new Promise<void>((r) => {
        slow.close(() => r());
        slow.closeAllConnections();
      });
    }
  });
});

describe('a hostile API answer during a round', () => {
  it('kicks nobody', async () => {
    h.stub.fallback = 'http-500';
    expect((await postEvents(h.service.eventsUrl, WEBHOOK_SECRET, [{ ...join(), user: `bob@${HOST}/r` }])).status).toBe(
      200,
    );
    const res = await postEvents(h.service.eventsUrl, WEBHOOK_SECRET, [
      { type: 's2s-close', seq: nextSeq(), host: HOST, remotes: ['muc.b.example'], direction: 'out' },
    ]);
    expect(res.status).toBe(200);
    await waitFor('a ping attempt', () => h.stub.pings.length > 0, 5000);
    await sleep(300);
    expect(h.stub.notifications).toEqual([]);
    h.stub.fallback = 'result';
  });
});
