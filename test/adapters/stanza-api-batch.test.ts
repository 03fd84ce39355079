// Version 2 of the stanza API (docs/stanza-api.md, "Version 2 (batches)"): HttpStanzaApi's batch
// methods (heals too) against a local HTTP server playing the v2 server and against the shared
// stub, and RoutingStanzaApi's per-host split.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Element, parse } from 'ltx';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { HttpStanzaApi, StanzaApiError } from '../../lib/adapters/stanza-api-http';
import { RoutingStanzaApi } from '../../lib/adapters/stanza-api-routing';
import type { PingReply } from '../../lib/domain/model';
import { classify } from '../../lib/domain/outcome';
import { secretKey } from '../../lib/domain/signature';
import { NS_API, NS_BATCH, NS_STANZAS, unavailable } from '../../lib/domain/stanzas';
import type { StanzaApi } from '../../lib/ports';
import { type Answer, startStanzaApiStub, type StanzaApiStub } from '../support/stanza-api-stub';

const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
const USER = 'alice@a.example/r';
const occupant = (n: string | number) => `room${n}@muc.b.example/Alice`;

interface Item {
  id: string;
  from: string;
  to: string;
  name: string;
}
interface Reply {
  status?: number;
  type?: string;
  body: string;
}
/** Each request the server saw: its root name and items (a heal's `from` and `to` are its self-ping's), and the items themselves. */
let seen: Array<{ root: string; items: Item[]; els: Element[] }> = [];
let script: (items: Item[], root: string) => Reply = () => ({ status: 500, body: 'unset' });
let server: Server;
let url = '';

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const root = parse(Buffer.concat(chunks).toString('utf8'));
      const els = root.name === 'batch' ? root.getChildElements() : [root];
      const items = els.map((e: Element) => {
        const stanza = e.name === 'heal' ? (e.getChildElements()[0] ?? e) : e;
        return { id: e.attrs.id ?? '', from: stanza.attrs.from ?? '', to: stanza.attrs.to ?? '', name: e.name };
      });
      seen.push({ root: root.name, items, els });
      const r = script(items, root.name);
      res.writeHead(r.status ?? 200, { 'content-type': r.type ?? 'application/xml' });
      res.end(r.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ping_muc_cloud/stanza`;
});
afterAll(
  () =>
    new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    }),
);
beforeEach(() => {
  seen = [];
});

const api = (options: Partial<ConstructorParameters<typeof HttpStanzaApi>[0]> = {}) =>
  new HttpStanzaApi({ url, key: secretKey(SECRET), timeoutMs: 2000, retryBaseMs: 1, retryMaxMs: 5, ...options });

const result = (i: Item, extra = ' xmlns="jabber:client"') =>
  `<iq${extra} type="result" id="${i.id}" from="${i.to}" to="${i.from}"/>`;
const error = (i: Item, condition: string, by: string) =>
  `<iq xmlns="jabber:client" type="error" id="${i.id}" from="${i.to}" to="${i.from}"><error type="cancel" by="${by}"><${condition} xmlns="${NS_STANZAS}"/></error></iq>`;
const signal = (name: string) => `<${name} xmlns="${NS_API}"/>`;
const refused = (code: string) => `<refused xmlns="${NS_BATCH}" code="${code}" reason="why"/>`;
const batch = (items: string[]) => `<batch xmlns="${NS_BATCH}">${items.join('')}</batch>`;
const item = (i: Item, inner: string) => `<item id="${i.id}">${inner}</item>`;
const pings = (n: number) => Array.from({ length: n }, (_, k) => ({ user: USER, occupant: occupant(k) }));
/** The room number of an item's occupant. */
const room = (i: Item) => Number(/^room(\d+)@/.exec(i.to)?.[1]);
const kinds = (replies: PingReply[]) => replies.map((r) => r.kind);

describe('selfPingBatch', () => {
  it('maps every item by its id, in request order, whatever the order of the answer', async () => {
    const answers: Array<(i: Item) => string> = [
      (i) => item(i, result(i)),
      (i) => item(i, error(i, 'not-acceptable', 'room1@muc.b.example')),
      (i) => item(i, signal('timeout')),
      (i) => item(i, signal('no-session')),
      (i) => item(i, result(i, '')), // unqualified: inherits the batch's namespace, read as jabber:client
      (i) => item(i, error(i, 'item-not-found', 'muc.b.example')),
    ];
    script = (items) => ({ body: batch(items.map((i) => (answers[room(i)] as (i: Item) => string)(i)).reverse()) });
    const replies = await api().selfPingBatch(pings(answers.length));
    expect(seen).toHaveLength(1);
    expect(seen[0]?.root).toBe('batch');
    expect(seen[0]?.items.map((i) => i.to)).toEqual(pings(answers.length).map((p) => p.occupant));
    expect(new Set(seen[0]?.items.map((i) => i.id)).size).toBe(answers.length);
    expect(kinds(replies)).toEqual(['reply', 'reply', 'timeout', 'no-session', 'reply', 'reply']);
    const outcomes = replies.map((r, k) =>
      r.kind === 'reply' ? classify(r, { host: 'a.example', room: `room${k}@muc.b.example` }) : r.kind,
    );
    expect(outcomes).toEqual(['joined', 'not-joined', 'timeout', 'no-session', 'joined', 'not-joined']);
  });

  it('makes a bad-answer of each item that is refused, missing, duplicated, unparsable or not matching, and of no other', async () => {
    const bad: Record<number, (i: Item, all: Item[]) => string> = {
      0: (i) => item(i, refused('403')),
      1: (i) => item(i, refused('400')),
      2: () => '', // missing
      3: (i) => item(i, result(i)) + item(i, result(i)), // duplicated
      4: (i) => item(i, result(i) + result(i)), // two elements
      5: (i) => item(i, `text${result(i)}`), // text beside the element
      6: (i, all) => item(i, error(all[1] as Item, 'not-acceptable', 'muc.b.example')), // another item's reply
      7: (i) => item(i, result({ ...i, id: `${i.id}x` })),
      8: (i) => item(i, result({ ...i, to: occupant(99) })), // from another occupant
      9: (i) => item(i, result({ ...i, from: 'mallory@a.example/r' })), // to another session
      10: (i) => item(i, result(i, ' xmlns="jabber:server"')),
      11: (i) => item(i, `<iq xmlns="${NS_BATCH}" type="result" id="${i.id}" from="${i.to}" to="${i.from}"/>`),
      12: (i) => item(i, error(i, 'not-a-condition', 'muc.b.example')),
      13: (i) => item(i, `<refused xmlns="${NS_BATCH}" code="404"/>`),
      14: (i) => item(i, signal('sent')),
      15: (i) => `<item id="${i.id}" extra="1">${result(i)}</item>`,
      16: (i) => item(i, `<timeout xmlns="${NS_BATCH}"/>`),
    };
    const n = Object.keys(bad).length;
    script = (items) => ({
      body: batch([
        ...items.map((i) => (bad[room(i)] ?? (() => ''))(i, items)),
        `<item id="not-asked">${signal('timeout')}</item>`,
        ...items.slice(n).map((i) => item(i, error(i, 'forbidden', 'muc.b.example'))),
      ]),
    });
    const replies = await api().selfPingBatch(pings(n + 2));
    expect(kinds(replies.slice(0, n))).toEqual(Array(n).fill('bad-answer'));
    expect(kinds(replies.slice(n))).toEqual(['reply', 'reply']);
    const reasons = replies.slice(0, n).map((r) => (r.kind === 'bad-answer' ? r.reason : ''));
    expect(reasons.slice(0, 6)).toEqual([
      'refused 403: why',
      'refused 400: why',
      'no item for this request',
      '2 items for this request',
      '<item> without exactly one element',
      '<item> without exactly one element',
    ]);
  });

  it('sends the items refused with 503 once more, alone, then makes them bad-answers', async () => {
    let calls = 0;
    script = (items) => {
      calls++;
      return {
        body: batch(
          items.map((i) => {
            const k = room(i);
            if (k === 1 || k === 3) return item(i, calls === 1 || k === 3 ? refused('503') : result(i));
            return item(i, result(i));
          }),
        ),
      };
    };
    const replies = await api().selfPingBatch(pings(5));
    expect(seen.map((s) => s.items.map(room))).toEqual([
      [0, 1, 2, 3, 4],
      [1, 3],
    ]);
    expect(seen[1]?.items.map((i) => i.id)).toEqual([seen[0]?.items[1]?.id, seen[0]?.items[3]?.id]);
    expect(kinds(replies)).toEqual(['reply', 'reply', 'reply', 'bad-answer', 'reply']);
  });

  it('splits above batchMaxItems and batchMaxBytes, one request after another, replies in order', async () => {
    let inFlight = 0;
    let most = 0;
    script = (items) => {
      inFlight++;
      most = Math.max(most, inFlight);
      inFlight--;
      return { body: batch(items.map((i) => item(i, room(i) % 2 ? signal('timeout') : result(i)))) };
    };
    const replies = await api({ batchMaxItems: 3 }).selfPingBatch(pings(8));
    expect(seen.map((s) => s.items.length)).toEqual([3, 3, 2]);
    expect(seen.flatMap((s) => s.items.map(room))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(kinds(replies)).toEqual(['reply', 'timeout', 'reply', 'timeout', 'reply', 'timeout', 'reply', 'timeout']);
    seen = [];
    // An iq is about 125 bytes, the batch around them 49: 320 bytes hold two of them.
    await api({ batchMaxBytes: 320 }).selfPingBatch(pings(5));
    expect(seen.map((s) => s.items.length)).toEqual([2, 2, 1]);
    expect(most).toBe(1);
  });

  it('halves a batch answered 413 down to single items, which are then bad-answers', async () => {
    script = (items) =>
      items.length > 2 || items.some((i) => room(i) === 4)
        ? { status: 413, body: 'too large' }
        : { body: batch(items.map((i) => item(i, result(i)))) };
    const replies = await api().selfPingBatch(pings(5));
    expect(seen.map((s) => s.items.map(room))).toEqual([[0, 1, 2, 3, 4], [0, 1, 2], [0, 1], [2], [3, 4], [3], [4]]);
    expect(kinds(replies)).toEqual(['reply', 'reply', 'reply', 'reply', 'bad-answer']);
  });

  it('retries a whole request in place on 503 and transport errors, then throws like version 1', async () => {
    let calls = 0;
    script = (items) =>
      ++calls < 3 ? { status: 503, body: 'busy' } : { body: batch(items.map((i) => item(i, result(i)))) };
    expect(kinds(await api().selfPingBatch(pings(2)))).toEqual(['reply', 'reply']);
    expect(calls).toBe(3);
    calls = 0;
    script = () => {
      calls++;
      return { status: 503, body: 'busy' };
    };
    await expect(api().selfPingBatch(pings(2))).rejects.toBeInstanceOf(StanzaApiError);
    expect(calls).toBe(3);
    for (const status of [401, 429, 500]) {
      script = () => ({ status, body: 'no' });
      await expect(api().selfPingBatch(pings(2))).rejects.toThrow(new RegExp(`answered ${status}`));
    }
    const dead = new HttpStanzaApi({
      url: 'http://127.0.0.1:1/x',
      key: secretKey(SECRET),
      timeoutMs: 500,
      tries: 2,
      retryBaseMs: 1,
    });
    await expect(dead.selfPingBatch(pings(2))).rejects.toBeInstanceOf(StanzaApiError);
  });

  it('makes every item of a whole request a bad-answer on 400, 404 or an unusable 200', async () => {
    const cases: Reply[] = [
      { status: 400, body: 'malformed' },
      { status: 404, body: 'not here' },
      { body: `<no-session xmlns="${NS_API}"/>` },
      { body: `<batch xmlns="${NS_API}"></batch>` },
      { body: `<batch xmlns="${NS_BATCH}" n="1"></batch>` },
      { body: `<batch xmlns="${NS_BATCH}"><other/></batch>` },
      { body: `<batch xmlns="${NS_BATCH}">text</batch>` },
      { body: `<batch xmlns="${NS_BATCH}"><item>${signal('timeout')}</item></batch>` },
      { body: `<batch xmlns="${NS_BATCH}">` },
      { body: batch([]), type: 'text/plain' },
      { body: `${batch([])}<x/>` },
    ];
    for (const c of cases) {
      script = () => c;
      const replies = await api().selfPingBatch(pings(2));
      expect(kinds(replies), JSON.stringify(c)).toEqual(['bad-answer', 'bad-answer']);
    }
  });

  it('serves a batch as version 1 requests when the server refuses it with 403 (it predates version 2)', async () => {
    script = (items, root) => {
      if (root === 'batch') return { status: 403, body: 'stanza namespace must be jabber:client' };
      const i = items[0] as Item;
      return { body: room(i) === 1 ? signal('timeout') : result(i) };
    };
    const client = api({ fallbackConcurrency: 2 });
    expect(kinds(await client.selfPingBatch(pings(3)))).toEqual(['reply', 'timeout', 'reply']);
    expect(seen.map((s) => s.root)).toEqual(['batch', 'iq', 'iq', 'iq']);
    seen = [];
    expect(kinds(await client.selfPingBatch(pings(2)))).toEqual(['reply', 'timeout']);
    expect(seen.map((s) => s.root)).toEqual(['iq', 'iq']);
  });

  it('speaks version 2 with the shared stub, and falls back to version 1 with a stub playing an old module', async () => {
    const stub = await startStanzaApiStub(SECRET, { fallback: 'result' });
    try {
      stub.answers.set(occupant(1), 'not-acceptable');
      stub.answers.set(occupant(2), 'refused-503');
      const client = new HttpStanzaApi({ url: stub.url, key: secretKey(SECRET), timeoutMs: 2000, retryBaseMs: 1 });
      const replies = await client.selfPingBatch(pings(3));
      expect(kinds(replies)).toEqual(['reply', 'reply', 'bad-answer']);
      expect(stub.batches).toEqual([3, 1]);
      expect(stub.refused).toBe(0);
      stub.v1Only = true;
      const old = new HttpStanzaApi({ url: stub.url, key: secretKey(SECRET), timeoutMs: 2000, retryBaseMs: 1 });
      expect(kinds(await old.selfPingBatch(pings(2)))).toEqual(['reply', 'reply']);
      expect(stub.batches).toEqual([3, 1]);
    } finally {
      await stub.close();
    }
  });
});

describe('healBatch', () => {
  const stubClient = (stub: StanzaApiStub) =>
    new HttpStanzaApi({ url: stub.url, key: secretKey(SECRET), timeoutMs: 2000, retryBaseMs: 1 });
  /** Each reply's kind and, for an IQ, the round's outcome of it. */
  const outcomes = (replies: PingReply[]) =>
    replies.map((r, k) =>
      r.kind === 'reply' ? classify(r, { host: 'a.example', room: `room${k}@muc.b.example` }) : r.kind,
    );

  it('answers a ghost `notified` and notifies it once; every other answer as selfPingBatch does', async () => {
    const stub = await startStanzaApiStub(SECRET, { fallback: 'result' });
    try {
      const script: Answer[] = [
        'result',
        'not-acceptable', // by the room: not joined
        'item-not-found-service', // the room is gone: not joined
        'timeout',
        'no-session',
        'item-not-found-room', // a nick change: still joined
        'remote-server-not-found', // our own server's link: indeterminate
        'service-unavailable', // the client lacks XEP-0199: joined
      ];
      for (const [k, answer] of script.entries()) stub.answers.set(occupant(k), answer);
      const client = stubClient(stub);
      const healed = await client.healBatch(pings(script.length));
      expect(stub.batches).toEqual([script.length]);
      expect(outcomes(healed)).toEqual([
        'joined',
        'notified',
        'notified',
        'timeout',
        'no-session',
        'nick-changed',
        'indeterminate',
        'joined',
      ]);
      expect(stub.notifications.map((n) => [n.user, n.occupant])).toEqual([
        [USER, occupant(1)],
        [USER, occupant(2)],
      ]);
      // What the module delivers: the unavailable presence of mod_ping_muc, from room/nick to the session.
      const presence = parse(stub.notifications[0]?.xml ?? '');
      expect(presence.attrs).toMatchObject({ type: 'unavailable', from: occupant(1), to: USER });
      const x = presence.getChild('x', 'http://jabber.org/protocol/muc#user');
      expect(x?.getChild('item')?.attrs).toEqual({ affiliation: 'none', role: 'none' });
      expect(x?.getChildren('status').map((s) => s.attrs.code)).toEqual(['110', '333']);

      // The same joins as plain self-pings: the same replies, but for the ghosts' (an IQ, not joined).
      const plain = await client.selfPingBatch(pings(script.length));
      expect(outcomes(plain)).toEqual(outcomes(healed).map((o) => (o === 'notified' ? 'not-joined' : o)));
      expect(stub.notifications).toHaveLength(2);
      expect(stub.pings).toHaveLength(2 * script.length);
    } finally {
      await stub.close();
    }
  });

  it('answers `no-session` and tells nobody when the session rejoined while the self-ping was out', async () => {
    const stub = await startStanzaApiStub(SECRET, { fallback: 'not-acceptable' });
    try {
      stub.rejoined.add(occupant(0));
      expect(kinds(await stubClient(stub).healBatch(pings(2)))).toEqual(['no-session', 'notified']);
      expect(stub.notifications.map((n) => n.occupant)).toEqual([occupant(1)]);
    } finally {
      await stub.close();
    }
  });

  it('sends each self-ping inside a <heal> carrying its id; reads <sent/> only in the API namespace', async () => {
    script = (items) => ({
      body: batch(
        items.map((i, k) => {
          if (k === 0) return item(i, signal('sent'));
          if (k === 1) return item(i, `<sent xmlns="${NS_BATCH}"/>`);
          if (k === 2) return item(i, `<sent xmlns="${NS_API}" id="x"/>`);
          return item(i, error(i, 'forbidden', 'muc.b.example'));
        }),
      ),
    });
    const replies = await api().healBatch(pings(4));
    expect(seen).toHaveLength(1);
    expect(seen[0]?.root).toBe('batch');
    expect(seen[0]?.items.map((i) => i.name)).toEqual(['heal', 'heal', 'heal', 'heal']);
    const heals = seen[0]?.els ?? [];
    expect(heals).toHaveLength(4);
    for (const [k, h] of heals.entries()) {
      expect(h.attrs).toEqual({ xmlns: NS_BATCH, id: seen[0]?.items[k]?.id });
      const [iq, ...more] = h.getChildElements();
      expect(more).toEqual([]);
      expect(iq?.attrs).toEqual({ type: 'get', id: h.attrs.id, from: USER, to: occupant(k) });
      expect(iq?.getChild('ping', 'urn:xmpp:ping')).toBeDefined();
    }
    expect(kinds(replies)).toEqual(['notified', 'bad-answer', 'bad-answer', 'reply']);
  });

  it('a heal refused 403 beside answered ones is a bad answer for that item only: heals go on', async () => {
    script = (items) => ({
      body: batch(items.map((i, k) => item(i, k === 0 ? refused('403') : signal('timeout')))),
    });
    const client = api();
    expect(kinds(await client.healBatch(pings(2)))).toEqual(['bad-answer', 'timeout']);
    expect(kinds(await client.healBatch(pings(2)))).toEqual(['bad-answer', 'timeout']);
    expect(seen.map((s) => s.items.map((i) => i.name))).toEqual([
      ['heal', 'heal'],
      ['heal', 'heal'],
    ]);
  });

  it('sends the heals refused 503 once more as heals', async () => {
    let calls = 0;
    script = (items) => {
      calls++;
      return { body: batch(items.map((i, k) => item(i, calls === 1 && k === 1 ? refused('503') : signal('sent')))) };
    };
    expect(kinds(await api().healBatch(pings(3)))).toEqual(['notified', 'notified', 'notified']);
    expect(seen.map((s) => s.items.map((i) => `${i.name} ${room(i)}`))).toEqual([
      ['heal 0', 'heal 1', 'heal 2'],
      ['heal 1'],
    ]);
  });

  it('an older module refuses every heal with 403: plain self-pings at once, and for 5 minutes', async () => {
    // As a version 2 module before heals: a <heal> is a stanza it does not allow.
    script = (items) => ({
      body: batch(
        items.map((i) =>
          i.name === 'heal'
            ? item(i, refused('403'))
            : item(i, error(i, 'not-acceptable', `room${room(i)}@muc.b.example`)),
        ),
      ),
    });
    const client = api();
    vi.useFakeTimers({ toFake: ['Date'] });
    const t0 = Date.now();
    try {
      const replies = await client.healBatch(pings(3));
      expect(kinds(replies)).toEqual(['reply', 'reply', 'reply']);
      expect(outcomes(replies)).toEqual(['not-joined', 'not-joined', 'not-joined']);
      expect(seen.map((s) => s.items.map((i) => i.name))).toEqual([
        ['heal', 'heal', 'heal'],
        ['iq', 'iq', 'iq'],
      ]);
      // The same self-pings again, ids and all: none was sent.
      expect(seen[1]?.items.map((i) => i.id)).toEqual(seen[0]?.items.map((i) => i.id));
      seen = [];
      vi.setSystemTime(t0 + 5 * 60_000 - 1);
      expect(kinds(await client.healBatch(pings(2)))).toEqual(['reply', 'reply']);
      expect(seen.map((s) => s.items.map((i) => i.name))).toEqual([['iq', 'iq']]);
      seen = [];
      vi.setSystemTime(t0 + 5 * 60_000 + 1);
      await client.healBatch(pings(1));
      expect(seen.map((s) => s.items.map((i) => i.name))).toEqual([['heal'], ['iq']]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('with the shared stub playing a module before heals: the ghost is a plain reply, the round notifies', async () => {
    const stub = await startStanzaApiStub(SECRET, { fallback: 'not-acceptable' });
    try {
      stub.beforeHeals = true;
      stub.answers.set(occupant(0), 'result');
      const client = stubClient(stub);
      expect(outcomes(await client.healBatch(pings(2)))).toEqual(['joined', 'not-joined']);
      // The heals refused, then the self-pings: only these were sent.
      expect(stub.batches).toEqual([2, 2]);
      expect(stub.pings).toHaveLength(2);
      expect(outcomes(await client.healBatch(pings(2)))).toEqual(['joined', 'not-joined']);
      expect(stub.batches).toEqual([2, 2, 2]);
      expect(stub.notifications).toEqual([]);
    } finally {
      await stub.close();
    }
  });

  it('to a version 1 server, posts each heal’s self-ping alone', async () => {
    script = (items, root) => {
      if (root === 'batch') return { status: 403, body: 'stanza namespace must be jabber:client' };
      const i = items[0] as Item;
      return { body: room(i) === 1 ? signal('timeout') : error(i, 'not-acceptable', 'muc.b.example') };
    };
    const client = api({ fallbackConcurrency: 1 });
    const replies = await client.healBatch(pings(3));
    expect(kinds(replies)).toEqual(['reply', 'timeout', 'reply']);
    expect(outcomes(replies)).toEqual(['not-joined', 'timeout', 'not-joined']);
    expect(seen.map((s) => s.root)).toEqual(['batch', 'iq', 'iq', 'iq']);
    expect(seen.slice(1).map((s) => s.items[0]?.id)).toEqual(seen[0]?.items.map((i) => i.id));
    seen = [];
    expect(kinds(await client.healBatch(pings(2)))).toEqual(['reply', 'timeout']);
    expect(seen.map((s) => s.root)).toEqual(['iq', 'iq']);
  });

  it('with the shared stub playing a version 1 module: self-pings alone, nobody notified by the server', async () => {
    const stub = await startStanzaApiStub(SECRET, { fallback: 'not-acceptable' });
    try {
      stub.v1Only = true;
      stub.answers.set(occupant(1), 'timeout');
      const replies = await stubClient(stub).healBatch(pings(3));
      expect(outcomes(replies)).toEqual(['not-joined', 'timeout', 'not-joined']);
      expect(stub.batches).toEqual([]);
      expect(stub.pings.map((p) => p.occupant)).toEqual(pings(3).map((p) => p.occupant));
      expect(stub.notifications).toEqual([]);
    } finally {
      await stub.close();
    }
  });
});

describe('notifyBatch', () => {
  const presence = (k: number, id?: string) => unavailable(occupant(k), USER, 'gone', id);

  it('maps sent, no-session and refusals; retries 503 items once; gives repeated ids fresh ones', async () => {
    let calls = 0;
    script = (items) => {
      calls++;
      return {
        body: batch(
          items.map((i) => {
            const k = Number(/^room(\d+)@/.exec(i.from)?.[1]);
            if (k === 0) return item(i, signal('sent'));
            if (k === 1) return item(i, signal('no-session'));
            if (k === 2) return item(i, refused('403'));
            if (k === 3) return item(i, calls === 1 ? refused('503') : signal('sent'));
            if (k === 4) return item(i, refused('503'));
            return item(i, signal('timeout'));
          }),
        ),
      };
    };
    const presences = [presence(0, 'same'), presence(1, 'same'), presence(2), presence(3), presence(4), presence(5)];
    const out = await api().notifyBatch(presences);
    expect(out).toEqual(['sent', 'no-session', 'failed', 'sent', 'failed', 'failed']);
    const ids = seen[0]?.items.map((i) => i.id) ?? [];
    expect(new Set(ids).size).toBe(6);
    expect(ids[0]).toBe('same');
    expect(presences[1]?.attrs.id).toBe('same');
    expect(seen[1]?.items.map((i) => i.from)).toEqual([occupant(3), occupant(4)]);
  });

  it('throws on the whole request’s failure or an unusable answer, like notify', async () => {
    for (const c of [{ status: 503, body: 'busy' }, { status: 400, body: 'no' }, { body: '<batch' }]) {
      script = () => c;
      await expect(api().notifyBatch([presence(0)])).rejects.toBeInstanceOf(StanzaApiError);
    }
  });
});

describe('RoutingStanzaApi batches', () => {
  it('forwards one batch per host, answers in the caller’s order; singles for a client without batches', async () => {
    const calls: string[] = [];
    const fake = (url: string, batches: boolean): StanzaApi => {
      const selfPing = async (user: string, occ: string): Promise<PingReply> => {
        calls.push(`${url} single ${user}`);
        return occ.endsWith('/t') ? { kind: 'timeout' } : { kind: 'no-session' };
      };
      const base: StanzaApi = { selfPing, notify: async (p) => p.attrs.from?.endsWith('/t') ?? false };
      if (!batches) return base;
      return {
        ...base,
        selfPingBatch: async (ps) => {
          calls.push(`${url} batch ${ps.map((p) => p.user).join(',')}`);
          return Promise.all(ps.map((p) => selfPing(p.user, p.occupant)));
        },
        notifyBatch: async (ps) => {
          calls.push(`${url} notify ${ps.length}`);
          return ps.map(() => 'failed' as const);
        },
      };
    };
    const routing = new RoutingStanzaApi(
      {
        multiHost: true,
        webhookKeys: async () => undefined,
        api: async (host) =>
          host === 'd.example' ? undefined : { url: `https://${host}/stanza`, keys: [secretKey(SECRET)] },
      },
      (a) => fake(a.url, a.url !== 'https://c.example/stanza'),
    );
    const replies = await routing.selfPingBatch([
      { user: 'a1@a.example/r', occupant: 'r@m.x/t' },
      { user: 'b1@b.example/r', occupant: 'r@m.x/n' },
      { user: 'a2@A.example/r', occupant: 'r@m.x/n' },
      { user: 'c1@c.example/r', occupant: 'r@m.x/t' },
    ]);
    expect(kinds(replies)).toEqual(['timeout', 'no-session', 'no-session', 'timeout']);
    expect(calls.filter((c) => c.includes(' batch '))).toEqual([
      'https://a.example/stanza batch a1@a.example/r,a2@A.example/r',
      'https://b.example/stanza batch b1@b.example/r',
    ]);
    expect(calls).toContain('https://c.example/stanza single c1@c.example/r');
    const notified = await routing.notifyBatch([
      unavailable('r@m.x/t', 'c1@c.example/r', 'x'),
      unavailable('r@m.x/n', 'a1@a.example/r', 'x'),
      unavailable('r@m.x/n', 'c2@c.example/r', 'x'),
    ]);
    expect(notified).toEqual(['sent', 'failed', 'no-session']);
    await expect(routing.selfPingBatch([{ user: 'd1@d.example/r', occupant: 'r@m.x/n' }])).rejects.toThrow(
      /host d\.example is not in the host registry/,
    );
  });
});
