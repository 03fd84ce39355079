// The stanza API's one protocol (docs/stanza-api.md, version 3): HttpStanzaApi against a local
// HTTP server playing the module, and against the shared stub (its join identity rule too).
import type { IncomingHttpHeaders } from 'node:http';
import { type Element, parse } from 'ltx';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HttpStanzaApi } from '../../../lib/adapters/stanza-api/client';
import type { StanzaApiOptions } from '../../../lib/adapters/stanza-api/options';
import { StanzaApiError } from '../../../lib/support/errors';
import type { PingReply } from '../../../lib/domain/model';
import { classify } from '../../../lib/domain/outcome';
import { secretKey, sign, verify } from '../../../lib/domain/signature';
import { NS_API, NS_BATCH, NS_STANZAS } from '../../../lib/domain/stanzas';
import type { JoinRef } from '../../../lib/ports';
import { type AnsweringServer, answeringServer, flatHeaders, quickClient } from '../../support/answering-server';
import { type Answer, startStanzaApiStub, type StanzaApiStub } from '../../../harness/stanza-api-stub';

const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
const USER = 'alice@a.example/r';
const SINCE = 1_733_580_000_000_000;
const occupant = (n: string | number) => `room${n}@muc.b.example/Alice`;
const joinOf = (k: number, since = SINCE + k): JoinRef => ({ user: USER, occupant: occupant(k), since });
const joins = (n: number) => Array.from({ length: n }, (_, k) => joinOf(k));

/** A request item as the server saw it: a heal's or a notification's `from`/`to` are its stanza's. */
interface Item {
  name: string;
  id: string;
  since?: string;
  from: string;
  to: string;
  el: Element;
}
interface Reply {
  status?: number;
  type?: string;
  body: string;
}
let seen: Array<{ root: Element; items: Item[]; headers: IncomingHttpHeaders; body: string }> = [];
let script: (items: Item[]) => Reply = () => ({ status: 500, body: 'unset' });
let server: AnsweringServer;
let url = '';

beforeAll(async () => {
  server = await answeringServer(({ headers, body }) => {
    const root = parse(body);
    const items = root.getChildElements().map((el: Element) => {
      const stanza = el.name === 'heal' || el.name === 'notify' ? (el.getChildElements()[0] ?? el) : el;
      return {
        name: el.name,
        id: el.attrs.id ?? '',
        since: el.attrs.since,
        from: stanza.attrs.from ?? '',
        to: stanza.attrs.to ?? '',
        el,
      };
    });
    seen.push({ root, items, headers, body });
    return script(items);
  });
  url = `${server.base}/ping_muc_cloud/stanza`;
});
afterAll(() => server.close());
beforeEach(() => {
  seen = [];
});

const api = (options: Partial<StanzaApiOptions> = {}) => quickClient(url, secretKey(SECRET), options);

const result = (i: Item, extra = ' xmlns="jabber:client"') =>
  `<iq${extra} type="result" id="${i.id}" from="${i.to}" to="${i.from}"/>`;
const error = (i: Item, condition: string, by: string, extra = '') =>
  `<iq xmlns="jabber:client" type="error" id="${i.id}" from="${i.to}" to="${i.from}"><error type="cancel" by="${by}">${extra}<${condition} xmlns="${NS_STANZAS}"/></error></iq>`;
const signal = (name: string) => `<${name} xmlns="${NS_API}"/>`;
const refused = (code: string) => `<refused xmlns="${NS_BATCH}" code="${code}" reason="why"/>`;
const batch = (items: string[], version = ' version="3"') =>
  `<batch xmlns="${NS_BATCH}"${version}>${items.join('')}</batch>`;
const item = (i: Item, inner: string) => `<item id="${i.id}">${inner}</item>`;
/** The room number of an item's occupant (a notification's `from`). */
const room = (i: Item) => Number(/^room(\d+)@/.exec(i.name === 'notify' ? i.from : i.to)?.[1]);
const kinds = (replies: PingReply[]) => replies.map((r) => r.kind);
/** A script that answers each item with `answer(item, its room, the request's number from 1)`. */
const perItem = (answer: (i: Item, k: number, call: number) => string) => {
  let calls = 0;
  return (items: Item[]): Reply => {
    calls++;
    return { body: batch(items.map((i) => answer(i, room(i), calls))) };
  };
};

describe('requests', () => {
  it('gathers concurrent calls of every kind into one signed <batch version="3">', async () => {
    script = (items) => ({
      body: batch(
        items.map((i) => item(i, i.name === 'iq' ? result(i) : signal(i.name === 'notify' ? 'sent' : 'timeout'))),
      ),
    });
    const client = api();
    const [probe, healed, notified] = await Promise.all([
      client.selfPing(joinOf(0)),
      client.heal(joinOf(1)),
      client.notify(joinOf(2)),
    ]);
    expect([probe.kind, healed.kind, notified]).toEqual(['reply', 'timeout', 'sent']);
    expect(seen).toHaveLength(1);
    const [req] = seen;
    expect(() => verify(secretKey(SECRET), flatHeaders(req?.headers ?? {}), req?.body ?? '')).not.toThrow();
    expect(req?.headers['content-type']).toBe('application/xml');
    expect(req?.root.name).toBe('batch');
    expect(req?.root.attrs).toEqual({ xmlns: NS_BATCH, version: '3' });
    const [ping, heal, note] = req?.items ?? [];
    // The probe: a bare self-ping, no identity.
    expect(ping?.el.attrs).toEqual({ type: 'get', id: ping?.id, from: USER, to: occupant(0) });
    expect(ping?.el.getChild('ping', 'urn:xmpp:ping')).toBeDefined();
    // A heal: its self-ping's id, the join's since.
    expect(heal?.el.attrs).toEqual({ xmlns: NS_BATCH, id: heal?.id, since: String(SINCE + 1) });
    const [iq, ...more] = heal?.el.getChildElements() ?? [];
    expect(more).toEqual([]);
    expect(iq?.attrs).toEqual({ type: 'get', id: heal?.id, from: USER, to: occupant(1) });
    // A notification: the unavailable presence of mod_ping_muc, from room/nick to the session.
    expect(note?.el.attrs).toEqual({ xmlns: NS_BATCH, id: note?.id, since: String(SINCE + 2) });
    const presence = note?.el.getChildElements()[0];
    expect(presence?.attrs).toEqual({ type: 'unavailable', id: note?.id, from: occupant(2), to: USER });
    const x = presence?.getChild('x', 'http://jabber.org/protocol/muc#user');
    expect(x?.getChild('item')?.attrs).toEqual({ affiliation: 'none', role: 'none' });
    expect(x?.getChild('item')?.getChildText('reason')).toBe('Connection to remote server lost');
    expect(x?.getChildren('status').map((s) => s.attrs.code)).toEqual(['110', '333']);
    expect(new Set(req?.items.map((i) => i.id)).size).toBe(3);
  });

  /** Heals and notifications of integer and non-integer sinces. */
  const sinces = async () => {
    script = (items) => ({ body: batch(items.map((i) => item(i, signal('no-session')))) });
    const client = api();
    return Promise.allSettled([
      client.heal({ ...joinOf(0), since: 9_007_199_254_740_991 }),
      client.heal({ ...joinOf(1), since: 1.5 }),
      client.notify({ ...joinOf(2), since: -1 }),
      client.notify({ ...joinOf(3), since: Number.NaN }),
      client.notify(joinOf(4, 0)),
    ]);
  };

  it('refuses a join without an integer since before it joins a batch', async () => {
    const out = await sinces();
    expect(out.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'rejected', 'fulfilled']);
    for (const o of out.slice(1, 4)) {
      expect((o as PromiseRejectedResult).reason).toBeInstanceOf(StanzaApiError);
      expect((o as PromiseRejectedResult).reason.retry).toBe(false);
    }
  });

  it('writes since as a decimal integer', async () => {
    await sinces();
    expect(seen.flatMap((s) => s.items.map((i) => i.since))).toEqual(['9007199254740991', '0']);
  });
});

describe('self-pings and heals', () => {
  it('maps every item by its id whatever the order of the answer', async () => {
    const answers: Array<(i: Item) => string> = [
      (i) => item(i, result(i)),
      (i) => item(i, error(i, 'not-acceptable', 'room1@muc.b.example')),
      (i) => item(i, signal('timeout')),
      (i) => item(i, signal('no-session')),
      (i) => item(i, result(i, '')), // unqualified: inherits the batch's namespace, read as jabber:client
      (i) => item(i, error(i, 'item-not-found', 'muc.b.example')),
    ];
    script = (items) => ({ body: batch(items.map((i) => (answers[room(i)] as (i: Item) => string)(i)).reverse()) });
    const client = api();
    const replies = await Promise.all(joins(answers.length).map((j) => client.selfPing(j)));
    expect(seen).toHaveLength(1);
    expect(seen[0]?.items.map((i) => i.to)).toEqual(joins(answers.length).map((p) => p.occupant));
    const outcomes = replies.map((r, k) =>
      r.kind === 'reply' ? classify(r, { host: 'a.example', room: `room${k}@muc.b.example` }) : r.kind,
    );
    expect(outcomes).toEqual(['joined', 'not-joined', 'timeout', 'no-session', 'joined', 'not-joined']);
  });

  it('makes a bad-answer of each item the answer does not match', async () => {
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
      // RFC 6120 §8.3.2: one <text/> at most. Prosody's get_error reads a second one as the condition.
      17: (i) =>
        item(
          i,
          error(
            i,
            'item-not-found',
            'room17@muc.b.example',
            `<text xmlns="${NS_STANZAS}"/><text xmlns="${NS_STANZAS}"/>`,
          ),
        ),
      18: (i) => item(i, error(i, 'service-unavailable', 'muc.b.example', `<forbidden xmlns="${NS_STANZAS}"/>`)),
    };
    const n = Object.keys(bad).length;
    script = (items) => ({
      body: batch([
        ...items.map((i) => (bad[room(i)] ?? (() => ''))(i, items)),
        `<item id="not-asked">${signal('timeout')}</item>`,
        ...items
          .slice(n)
          .map((i) => item(i, error(i, 'forbidden', 'muc.b.example', `<text xmlns="${NS_STANZAS}">why</text>`))),
      ]),
    });
    const client = api();
    const replies = await Promise.all(joins(n + 2).map((j) => client.selfPing(j)));
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
    expect(reasons[17]).toBe('IQ error with several <text/>');
  });

  it('reads only a heal answered <sent/> in the API namespace as `notified`', async () => {
    script = (items) => ({
      body: batch(
        items.map((i, k) => {
          if (k === 0) return item(i, signal('sent'));
          if (k === 1) return item(i, `<sent xmlns="${NS_BATCH}"/>`);
          if (k === 2) return item(i, `<sent xmlns="${NS_API}" id="x"/>`);
          if (k === 3) return item(i, refused('403'));
          if (k === 4) return item(i, signal('no-session'));
          return item(i, error(i, 'forbidden', 'muc.b.example'));
        }),
      ),
    });
    const client = api();
    const replies = await Promise.all(joins(6).map((j) => client.heal(j)));
    expect(seen.map((s) => s.items.map((i) => i.name))).toEqual([['heal', 'heal', 'heal', 'heal', 'heal', 'heal']]);
    expect(kinds(replies)).toEqual(['notified', 'bad-answer', 'bad-answer', 'bad-answer', 'no-session', 'reply']);
  });

  it('sends the items refused with 503 once more before they are bad-answers', async () => {
    script = perItem((i, k, call) => {
      if (k === 1 || k === 3) return item(i, call === 1 || k === 3 ? refused('503') : signal('sent'));
      return item(i, result(i));
    });
    const client = api();
    const replies = await Promise.all([
      client.selfPing(joinOf(0)),
      client.heal(joinOf(1)),
      client.selfPing(joinOf(2)),
      client.selfPing(joinOf(3)),
      client.selfPing(joinOf(4)),
    ]);
    expect(seen.map((s) => s.items.map((i) => `${i.name} ${room(i)}`))).toEqual([
      ['iq 0', 'heal 1', 'iq 2', 'iq 3', 'iq 4'],
      ['heal 1', 'iq 3'],
    ]);
    expect(seen[1]?.items.map((i) => i.id)).toEqual([seen[0]?.items[1]?.id, seen[0]?.items[3]?.id]);
    expect(kinds(replies)).toEqual(['reply', 'notified', 'reply', 'bad-answer', 'reply']);
  });

  it('splits above batchMaxItems one request after another', async () => {
    let inFlight = 0;
    let most = 0;
    script = (items) => {
      inFlight++;
      most = Math.max(most, inFlight);
      inFlight--;
      return { body: batch(items.map((i) => item(i, room(i) % 2 ? signal('timeout') : result(i)))) };
    };
    const client = api({ batchMaxItems: 3, gatherMaxItems: 100 });
    const replies = await Promise.all(joins(8).map((j) => client.selfPing(j)));
    expect(seen.map((s) => s.items.length)).toEqual([3, 3, 2]);
    expect(seen.flatMap((s) => s.items.map(room))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(kinds(replies)).toEqual(['reply', 'timeout', 'reply', 'timeout', 'reply', 'timeout', 'reply', 'timeout']);
    expect(most).toBe(1);
  });

  it('splits above batchMaxBytes', async () => {
    script = (items) => ({ body: batch(items.map((i) => item(i, room(i) % 2 ? signal('timeout') : result(i)))) });
    // An iq is about 125 bytes, the batch around them 61: 330 bytes hold two of them.
    const small = api({ batchMaxBytes: 330 });
    await Promise.all(joins(5).map((j) => small.selfPing(j)));
    expect(seen.map((s) => s.items.length)).toEqual([2, 2, 1]);
  });

  it('gathers at most gatherMaxItems calls per batch', async () => {
    script = (items) => ({ body: batch(items.map((i) => item(i, result(i)))) });
    const client = api({ gatherMaxItems: 4 });
    await Promise.all(joins(10).map((j) => client.selfPing(j)));
    expect(seen.map((s) => s.items.length)).toEqual([4, 4, 2]);
  });

  it('halves a batch answered 413 down to single items that are bad-answers', async () => {
    script = (items) =>
      items.length > 2 || items.some((i) => room(i) === 4)
        ? { status: 413, body: 'too large' }
        : { body: batch(items.map((i) => item(i, result(i)))) };
    const client = api();
    const replies = await Promise.all(joins(5).map((j) => client.selfPing(j)));
    expect(seen.map((s) => s.items.map(room))).toEqual([[0, 1, 2, 3, 4], [0, 1, 2], [0, 1], [2], [3, 4], [3], [4]]);
    expect(kinds(replies)).toEqual(['reply', 'reply', 'reply', 'reply', 'bad-answer']);
  });

  it('makes every ping item a bad-answer when the whole answer is unusable', async () => {
    const cases: Reply[] = [
      { status: 400, body: 'malformed' },
      { status: 403, body: 'no' },
      { status: 404, body: 'not here' },
      { body: `<no-session xmlns="${NS_API}"/>` },
      { body: `<batch xmlns="${NS_API}" version="3"></batch>` },
      { body: batch([], '') }, // no version
      { body: batch([], ' version="2"') },
      { body: batch([], ' version="4"') },
      { body: batch([], ' version="3" n="1"') },
      { body: batch(['<other/>']) },
      { body: batch(['text']) },
      { body: batch([`<item>${signal('timeout')}</item>`]) },
      { body: `<batch xmlns="${NS_BATCH}" version="3">` },
      { body: batch([]), type: 'text/plain' },
      { body: `${batch([])}<x/>` },
    ];
    const client = api();
    for (const c of cases) {
      script =
        c.body === batch([], '') || c.body.includes('version="2"') || c.body.includes('version="4"')
          ? (items) => ({
              ...c,
              body: c.body.replace('></batch>', `>${items.map((i) => item(i, result(i))).join('')}</batch>`),
            })
          : () => c;
      const replies = await Promise.all([client.selfPing(joinOf(0)), client.heal(joinOf(1))]);
      expect(kinds(replies), JSON.stringify(c)).toEqual(['bad-answer', 'bad-answer']);
    }
  });
});

describe('notifications', () => {
  it('throws on any item answer but <sent/> or <no-session/>', async () => {
    script = perItem((i, k, call) => {
      if (k === 0) return item(i, signal('sent'));
      if (k === 1) return item(i, signal('no-session'));
      if (k === 2) return item(i, refused('403'));
      if (k === 3) return item(i, call === 1 ? refused('503') : signal('sent'));
      if (k === 4) return item(i, refused('503'));
      if (k === 5) return item(i, signal('timeout'));
      if (k === 6) return item(i, `<sent xmlns="${NS_BATCH}"/>`);
      if (k === 7) return item(i, refused('400'));
      return '';
    });
    const client = api();
    const out = await Promise.allSettled(joins(9).map((j) => client.notify(j)));
    expect(out.map((o) => (o.status === 'fulfilled' ? o.value : 'throws'))).toEqual([
      'sent',
      'no-session',
      'throws',
      'sent',
      'throws',
      'throws',
      'throws',
      'throws',
      'throws',
    ]);
    for (const o of out) if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(StanzaApiError);
    const retry = (k: number) => ((out[k] as PromiseRejectedResult).reason as StanzaApiError).retry;
    // A refusal is not cured by sending the same item again at once.
    expect([retry(2), retry(7)]).toEqual([false, false]);
    // Busy twice: it may pass later.
    expect(retry(4)).toBeUndefined();
    expect(seen[1]?.items.map((i) => i.from)).toEqual([occupant(3), occupant(4)]);
  });

  it('throws on the whole request’s failure or an unusable answer', async () => {
    const client = api();
    for (const c of [
      { status: 503, body: 'busy' },
      { status: 400, body: 'no' },
      { body: '<batch' },
      { body: batch([], '') },
    ]) {
      script = () => c;
      await expect(client.notify(joinOf(0))).rejects.toBeInstanceOf(StanzaApiError);
    }
  });
});

describe('the API’s failures', () => {
  it('retries a whole request in place on 503', async () => {
    let calls = 0;
    script = (items) =>
      ++calls < 3 ? { status: 503, body: 'busy' } : { body: batch(items.map((i) => item(i, result(i)))) };
    const client = api();
    expect(kinds(await Promise.all(joins(2).map((j) => client.selfPing(j))))).toEqual(['reply', 'reply']);
    expect(calls).toBe(3);
  });

  it('throws for every call of a request still refused after its tries', async () => {
    let calls = 0;
    const client = api();
    script = () => {
      calls++;
      return { status: 503, body: 'busy' };
    };
    const failed = await Promise.allSettled([client.selfPing(joinOf(0)), client.notify(joinOf(1))]);
    expect(failed.map((f) => f.status)).toEqual(['rejected', 'rejected']);
    expect((failed[0] as PromiseRejectedResult).reason).toBeInstanceOf(StanzaApiError);
    expect(calls).toBe(3);
  });

  it('throws at once on a status it does not retry', async () => {
    const client = api();
    for (const status of [401, 429, 500]) {
      script = () => ({ status, body: 'no' });
      await expect(client.heal(joinOf(0))).rejects.toThrow(new RegExp(`answered ${status}`));
    }
  });

  it('throws a retryable error with its cause when the API cannot be reached', async () => {
    const dead = quickClient('http://127.0.0.1:1/x', secretKey(SECRET), { timeoutMs: 500, tries: 2 });
    const err = await dead.selfPing(joinOf(0)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StanzaApiError);
    // A refused connection may be cured by trying again: the round may.
    expect((err as StanzaApiError).retry).toBe(true);
    expect((err as Error).cause).toBeInstanceOf(Error);
  });

  it('a 400 <unsupported-version/> fails every call for good with both versions named', async () => {
    script = () => ({ status: 400, body: `<unsupported-version xmlns="${NS_BATCH}" supported="4 5"/>` });
    const client = api();
    const out = await Promise.allSettled([
      client.selfPing(joinOf(0)),
      client.heal(joinOf(1)),
      client.notify(joinOf(2)),
    ]);
    expect(seen).toHaveLength(1);
    for (const o of out) {
      expect(o.status).toBe('rejected');
      const err = (o as PromiseRejectedResult).reason as StanzaApiError;
      expect(err).toBeInstanceOf(StanzaApiError);
      expect(err.retry).toBe(false);
      expect(err.message).toMatch(/version "4 5".*version 3/);
    }
  });
});

describe('with the shared stub', () => {
  const stubClient = (stub: StanzaApiStub) =>
    new HttpStanzaApi({ url: stub.url, key: secretKey(SECRET), timeoutMs: 2000, retryBaseMs: 1, windowMs: 1 });
  const outcomes = (replies: PingReply[]) =>
    replies.map((r, k) =>
      r.kind === 'reply' ? classify(r, { host: 'a.example', room: `room${k}@muc.b.example` }) : r.kind,
    );

  it('a heal tells a ghost once through the server', async () => {
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
        'refused-503',
      ];
      for (const [k, answer] of script.entries()) stub.answers.set(occupant(k), answer);
      const client = stubClient(stub);
      const healed = await Promise.all(joins(script.length).map((j) => client.heal(j)));
      expect(stub.batches).toEqual([script.length, 1]);
      expect(outcomes(healed)).toEqual([
        'joined',
        'notified',
        'notified',
        'timeout',
        'no-session',
        'nick-changed',
        'indeterminate',
        'joined',
        'bad-answer',
      ]);
      expect(stub.notifications.map((n) => [n.user, n.occupant])).toEqual([
        [USER, occupant(1)],
        [USER, occupant(2)],
      ]);
      // The same joins as probes: the same replies, but for the ghosts' (an IQ, not joined): nobody told.
      const plain = await Promise.all(joins(script.length - 1).map((j) => client.selfPing(j)));
      expect(outcomes(plain)).toEqual(outcomes(healed.slice(0, -1)).map((o) => (o === 'notified' ? 'not-joined' : o)));
      expect(stub.notifications).toHaveLength(2);
      // The module forgot the joins it told: a heal of them again tells nobody.
      expect(kinds(await client.heal(joinOf(1)).then((r) => [r]))).toEqual(['no-session']);
      expect(stub.notifications).toHaveLength(2);
      expect(stub.refused).toBe(0);
    } finally {
      await stub.close();
    }
  });

  it('the identity rule: a heal or notification of another join than the current one tells nobody', async () => {
    const stub = await startStanzaApiStub(SECRET, { fallback: 'not-acceptable', trackJoins: true });
    try {
      const client = stubClient(stub);
      stub.join(USER, occupant(0), SINCE); // the join pinged
      stub.join(USER, occupant(1), SINCE + 5); // rejoined since: a new identity
      stub.join(USER, occupant(2).replace('/Alice', '/Bob'), SINCE); // another nick now
      // occupant(3): not in the room at all
      const healed = await Promise.all([0, 1, 2, 3].map((k) => client.heal(joinOf(k, SINCE))));
      expect(kinds(healed)).toEqual(['notified', 'no-session', 'no-session', 'no-session']);
      // Not even pinged.
      expect(stub.pings.map((p) => p.occupant)).toEqual([occupant(0)]);
      expect(stub.notifications.map((n) => n.occupant)).toEqual([occupant(0)]);

      const notified = await Promise.all([
        client.notify(joinOf(1, SINCE)), // the old join: the rejoined session is not told
        client.notify(joinOf(1, SINCE + 5)), // the current one is
        client.notify(joinOf(0, SINCE)), // told already by its heal: forgotten
      ]);
      expect(notified).toEqual(['no-session', 'sent', 'no-session']);
      // A notification repeated after a rejoin is not delivered to the new join.
      stub.join(USER, occupant(1), SINCE + 9);
      expect(await client.notify(joinOf(1, SINCE + 5))).toBe('no-session');
      expect(stub.notifications.map((n) => n.occupant)).toEqual([occupant(0), occupant(1)]);
      // The module writes its own reason.
      expect(stub.notifications[1]?.xml).toContain('<reason>Connection to remote server lost</reason>');
    } finally {
      await stub.close();
    }
  });

  /** POSTs a signed body to the stub. */
  const poster = (stub: StanzaApiStub) => async (body: string) => {
    const res = await fetch(stub.url, {
      method: 'POST',
      headers: { 'content-type': 'application/xml', ...sign(secretKey(SECRET), body) },
      body,
    });
    return { status: res.status, body: await res.text() };
  };
  const iq = `<iq type="get" id="p1" from="${USER}" to="${occupant(0)}"><ping xmlns="urn:xmpp:ping"/></iq>`;

  it('answers a request without version="3" with 400 <unsupported-version/>', async () => {
    const stub = await startStanzaApiStub(SECRET);
    try {
      const post = poster(stub);
      for (const body of [
        iq,
        `<batch xmlns="${NS_BATCH}">${iq}</batch>`,
        `<batch xmlns="${NS_BATCH}" version="2">${iq}</batch>`,
      ]) {
        expect(await post(body)).toEqual({
          status: 400,
          body: `<unsupported-version xmlns="${NS_BATCH}" supported="3"/>`,
        });
      }
    } finally {
      await stub.close();
    }
  });

  it('refuses a bare presence item with 403', async () => {
    const stub = await startStanzaApiStub(SECRET);
    try {
      const post = poster(stub);
      const presence = `<presence type="unavailable" id="n1" from="${occupant(0)}" to="${USER}"/>`;
      const heal = `<heal id="h1"><iq type="get" id="h1" from="${USER}" to="${occupant(1)}"><ping xmlns="urn:xmpp:ping"/></iq></heal>`;
      const answer = await post(batch([presence, heal]));
      expect(answer.status).toBe(200);
      const items = parse(answer.body).getChildElements();
      expect(items.map((i) => i.getChildElements()[0]?.attrs.code)).toEqual(['403', '400']);
      expect(stub.pings).toEqual([]);
      expect(stub.notifications).toEqual([]);
    } finally {
      await stub.close();
    }
  });
});
