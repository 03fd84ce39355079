// Hostile input: each request gets its status code and the store is left unchanged.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startHarness, API_SECRET, WEBHOOK_SECRET, type Harness } from '../support/service';
import { nextSeq, postEvents, postRaw, signed } from '../support/events';
import { sleep, waitFor } from '../support/wait';
import { HttpStanzaApi, StanzaApiError } from '../../lib/adapters/stanza-api-http';
import { secretKey } from '../../lib/domain/signature';
import { createServer, request } from 'node:http';
import { MEMORY, startLocalService } from '../../lib/wiring/local';
import type { AddressInfo } from 'node:net';

const HOST = 'a.example';
const join = () => ({ type: 'join', seq: nextSeq(), host: HOST, user: `alice@${HOST}/r`, room: 'lobby@muc.b.example', nick: 'alice' });
const body = (events: object[]) => JSON.stringify({ v: 1, events });

/** POSTs `size` bytes with node:http (declared length, or chunked), optionally aborting part-way. */
function rawPost(url: string, size: number, opts: { chunked?: boolean; abortAfter?: number } = {}): Promise<{ status: number; text: string }> {
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
    await expectRefused(401, good, signed(`whsec_${Buffer.alloc(32, 9).toString('base64')}`, good), /bad webhook-signature/);
  });

  it('a body that does not match its signature (401)', async () => {
    await expectRefused(401, good.replace('mallory', 'mallorz'), signed(WEBHOOK_SECRET, good), /bad webhook-signature/);
  });

  it('an old timestamp (401)', async () => {
    await expectRefused(401, good, signed(WEBHOOK_SECRET, good, undefined, Math.floor(Date.now() / 1000) - 301), /tolerance/);
  });

  it('malformed JSON (400)', async () => {
    const raw = '{"v":1,"events":[';
    await expectRefused(400, raw, signed(WEBHOOK_SECRET, raw), /malformed JSON/);
  });

  it('XML with a DOCTYPE instead of JSON (400)', async () => {
    const raw = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>';
    await expectRefused(400, raw, signed(WEBHOOK_SECRET, raw), /malformed JSON/);
  });

  it('an invalid JID: that event only, the rest of the batch is applied and the refusal reported', async () => {
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

  it('an event with characters XML forbids: refused, nothing stored', async () => {
    const raw = body([{ ...join(), nick: 'mal\u0000lory' }, { ...join(), nick: 'x\uffff' }, { ...join(), nick: `a${'é'.repeat(512)}` }]);
    const res = await postRaw(h.service.eventsUrl, raw, signed(WEBHOOK_SECRET, raw));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ok: true, applied: 0 });
    expect((res.body.refused as unknown[]).length).toBe(3);
    expect((await h.joins(HOST, 'muc.b.example')).some((j) => j.nick.includes('\u0000') || j.nick.includes('\uffff') || j.nick.length > 500)).toBe(false);
  });

  it('a body that is not valid UTF-8 (400)', async () => {
    // A lone continuation byte, then an overlong encoding of '/' (a lenient decoder makes both U+FFFD).
    const raw = Buffer.from(body([{ ...join(), nick: 'ab' }]).replace('ab', '\u0001\u0002\u0003'), 'utf8');
    const at = raw.indexOf(1);
    raw.set([0x80, 0xc0, 0xaf], at);
    await expectRefused(400, raw, signed(WEBHOOK_SECRET, raw), /UTF-8/);
  });

  it('a room on an IDN domain with combining marks is accepted', async () => {
    const res = await postEvents(h.service.eventsUrl, WEBHOOK_SECRET, [{ ...join(), user: `dave@${HOST}/r`, room: 'chat@संगणक.भारत' }]);
    expect(res).toEqual({ status: 200, body: { ok: true, applied: 1 } });
    expect((await h.joins(HOST, 'संगणक.भारत')).map((j) => j.room)).toEqual(['chat@संगणक.भारत']);
  });

  it('an oversize body (413), before reading it all', async () => {
    const raw = 'x'.repeat(h.service.config.maxBodyBytes + 1);
    await expectRefused(413, raw, signed(WEBHOOK_SECRET, raw));
  });

  it('a body of 4 MiB and more (413 from the declared length, not a connection reset)', async () => {
    for (const size of [4 * 1024 * 1024, 4 * 1024 * 1024 + 1, 9 * 1024 * 1024]) {
      const raw = Buffer.alloc(size, 0x20);
      await expectRefused(413, raw, signed(WEBHOOK_SECRET, raw), /larger than/);
    }
  });

  it('a chunked body over the limit, without a content-length (413)', async () => {
    const { status, text } = await rawPost(h.service.eventsUrl, 6 * 1024 * 1024, { chunked: true });
    expect(status).toBe(413);
    expect(text).toMatch(/larger than/);
  });

  it('an oversize or aborted request leaves nothing pending: the service closes at once', async () => {
    const other = await startLocalService({ dataDir: MEMORY, log: () => undefined, env: { PING_MUC_WEBHOOK_SECRET: WEBHOOK_SECRET, PING_MUC_API_SECRET: API_SECRET, LOG_LEVEL: 'error' } });
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

  it('a replay: acknowledged, not applied again', async () => {
    const events = [{ ...join(), nick: 'once' }];
    const first = await postEvents(h.service.eventsUrl, WEBHOOK_SECRET, events, 'msg_replay');
    expect(first.status).toBe(200);
    const leave = await postEvents(h.service.eventsUrl, WEBHOOK_SECRET, [{ type: 'leave', seq: nextSeq(), host: HOST, user: `alice@${HOST}/r`, room: 'lobby@muc.b.example' }]);
    expect(leave.status).toBe(200);
    before = await h.snapshot();
    const again = await postEvents(h.service.eventsUrl, WEBHOOK_SECRET, events, 'msg_replay');
    expect(again).toEqual({ status: 200, body: { ok: true, replay: true } });
    expect(await h.snapshot()).toEqual(before);
  });

  it('a late older join after a newer leave changes nothing', async () => {
    const older = { ...join(), nick: 'late' };
    await postEvents(h.service.eventsUrl, WEBHOOK_SECRET, [{ type: 'leave', seq: nextSeq(), host: HOST, user: older.user, room: older.room }]);
    before = await h.snapshot();
    expect((await postEvents(h.service.eventsUrl, WEBHOOK_SECRET, [older])).status).toBe(200);
    const joins = await h.joins(HOST, 'muc.b.example');
    expect(joins).toEqual([]);
  });
});

describe('the stanza API client refuses hostile answers', () => {
  async function answering(status: number, text: string) {
    const server = createServer((_req, res) => {
      res.writeHead(status, { 'content-type': 'application/xml' });
      res.end(text);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const api = new HttpStanzaApi({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, key: secretKey(API_SECRET), timeoutMs: 1000 });
    return { api, close: () => new Promise<void>((r) => server.close(() => r())) };
  }

  it.each([
    ['a DOCTYPE with entities', 200, '<!DOCTYPE iq [<!ENTITY x "y">]><iq type="result">&x;</iq>'],
    ['an oversize answer', 200, `<iq type="result">${'x'.repeat(70_000)}</iq>`],
    ['malformed XML', 200, '<iq type="result"'],
    ['an IQ with another id', 200, '<iq type="result" id="other"/>'],
    ['a 404 (a wrong URL, not "no session")', 404, '<no-session xmlns="urn:ping-muc:stanza-api:1"/>'],
    ['a 504 from a proxy', 504, 'Gateway Timeout'],
  ])('%s: an API failure, never an outcome', async (_name, status, text) => {
    const { api, close } = await answering(status, text);
    try {
      await expect(api.selfPing('alice@a.example/r', 'lobby@muc.b.example/alice')).rejects.toThrow(StanzaApiError);
    } finally {
      await close();
    }
  });

  it('an unreachable API is a failure', async () => {
    const api = new HttpStanzaApi({ url: 'http://127.0.0.1:9/', key: secretKey(API_SECRET), timeoutMs: 500 });
    await expect(api.selfPing('alice@a.example/r', 'lobby@muc.b.example/alice')).rejects.toThrow(/unreachable/);
  });
});

describe('a hostile API answer during a round', () => {
  it('kicks nobody', async () => {
    h.stub.fallback = 'http-500';
    expect((await postEvents(h.service.eventsUrl, WEBHOOK_SECRET, [{ ...join(), user: `bob@${HOST}/r` }])).status).toBe(200);
    const res = await postEvents(h.service.eventsUrl, WEBHOOK_SECRET, [{ type: 's2s-close', seq: nextSeq(), host: HOST, remotes: ['muc.b.example'], direction: 'out' }]);
    expect(res.status).toBe(200);
    await waitFor('a ping attempt', () => h.stub.pings.length > 0, 5000);
    await sleep(300);
    expect(h.stub.notifications).toEqual([]);
    h.stub.fallback = 'result';
  });
});
