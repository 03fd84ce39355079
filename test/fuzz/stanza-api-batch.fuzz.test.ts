// Fuzz of the stanza API's batches (docs/stanza-api.md): hundreds of hostile batch answers to
// concurrent self-pings and heals through HttpStanzaApi against a local HTTP server. A spoiled
// item is a bad-answer for that item only; a spoiled whole answer makes every item a bad-answer
// or every call an API failure; a 'reply' that classifies as not-joined only ever comes from a
// matching, well-formed not-joined item for that very request item.
// Seeds: test/support/seeds.ts (PING_MUC_SEEDS=<seed> replays one).
import { type Element, parse } from 'ltx';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StanzaApiError } from '../../lib/support/errors';
import type { PingReply } from '../../lib/domain/model';
import { classify, type Outcome } from '../../lib/domain/outcome';
import { secretKey } from '../../lib/domain/signature';
import { NS_API, NS_BATCH, NS_STANZAS } from '../../lib/domain/stanzas';
import { type AnsweringServer, answeringServer, quickClient } from '../support/answering-server';
import { type Rng, rng } from '../support/rng';
import { seedsOf } from '../support/seeds';

/** Cases per seed (test/support/seeds.ts). */
const CASES = 100;
const SECRET = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
const HOST = 'a.example';
const USER = `alice@${HOST}/r`;

interface Sent {
  id: string;
  from: string;
  to: string;
}
interface Reply {
  status: number;
  type: string;
  body: Buffer;
}

let answer: (items: Sent[]) => Reply = () => ({ status: 500, type: 'text/plain', body: Buffer.from('unset') });
let server: AnsweringServer;
let url = '';
beforeAll(async () => {
  server = await answeringServer(({ body }) =>
    // A heal's id is its self-ping's; its `from`/`to` are the self-ping's.
    answer(
      parse(body)
        .getChildElements()
        .map((e: Element) => (e.name === 'heal' ? (e.getChildElements()[0] ?? e) : e).attrs as unknown as Sent),
    ),
  );
  url = `${server.base}/`;
});
afterAll(() => server.close());

const roomOf = (k: number) => `room${k}@muc.b.example`;
const numberOf = (s: Sent) => Number(/^room(\d+)@/.exec(s.to)?.[1]);

/** Well-formed, matching item answers and what they mean ('bad-answer' for the refusals). */
type Base = { name: string; outcome: Outcome | 'timeout' | 'no-session' | 'bad-answer'; xml: (s: Sent) => string };
const iq = (s: Sent, ns: string, inner = '') =>
  `<iq${ns} type="${inner ? 'error' : 'result'}" id="${s.id}" from="${s.to}" to="${s.from}"${inner ? `>${inner}</iq>` : '/>'}`;
const err = (condition: string, by?: (s: Sent) => string) => (s: Sent) =>
  iq(
    s,
    ' xmlns="jabber:client"',
    `<error type="cancel"${by ? ` by="${by(s)}"` : ''}><${condition} xmlns="${NS_STANZAS}"/></error>`,
  );
const BASES: Base[] = [
  { name: 'result', outcome: 'joined', xml: (s) => iq(s, ' xmlns="jabber:client"') },
  { name: 'result, unqualified', outcome: 'joined', xml: (s) => iq(s, '') },
  { name: 'not-acceptable', outcome: 'not-joined', xml: err('not-acceptable', (s) => s.to.split('/')[0] as string) },
  { name: 'item-not-found by the service', outcome: 'not-joined', xml: err('item-not-found', () => 'muc.b.example') },
  { name: 'forbidden', outcome: 'not-joined', xml: err('forbidden') },
  {
    name: 'item-not-found by the room',
    outcome: 'nick-changed',
    xml: err('item-not-found', (s) => s.to.split('/')[0] as string),
  },
  { name: 'service-unavailable', outcome: 'joined', xml: err('service-unavailable') },
  { name: 'remote-server-not-found by us', outcome: 'indeterminate', xml: err('remote-server-not-found', () => HOST) },
  { name: 'timeout', outcome: 'timeout', xml: () => `<timeout xmlns="${NS_API}"/>` },
  { name: 'no-session', outcome: 'no-session', xml: () => `<no-session xmlns="${NS_API}"/>` },
  ...['503', '403', '400'].map(
    (code): Base => ({
      name: `refused ${code}`,
      outcome: 'bad-answer',
      xml: () => `<refused xmlns="${NS_BATCH}" code="${code}" reason="r"/>`,
    }),
  ),
];

/** Spoils one item for sure: given the item, its answer and the whole request, the item's text. */
type ItemSpoiler = (s: Sent, x: string, all: Sent[], r: Rng) => string;
const wrap = (s: Sent, x: string) => `<item id="${s.id}">${x}</item>`;
/** The answer with a change that must apply, else with a second element (spoiled either way). */
const change = (x: string, from: string, to: string) => (x.includes(from) ? x.split(from).join(to) : `${x}<x/>`);
const ITEM_SPOILERS: Array<[string, ItemSpoiler]> = [
  ['another id', (s, x) => wrap(s, change(x, `id="${s.id}"`, `id="${s.id}x"`))],
  ['another occupant', (s, x) => wrap(s, change(x, `from="${s.to}"`, `from="${s.to}2"`))],
  ['another session', (s, x) => wrap(s, change(x, `to="${s.from}"`, `to="mallory@${HOST}/r"`))],
  ['jabber:server', (s, x) => wrap(s, change(x, '<iq xmlns="jabber:client"', '<iq xmlns="jabber:server"'))],
  [
    'the batch namespace declared',
    (s, x) =>
      wrap(
        s,
        x.startsWith('<iq') ? x.replace(/^<iq( xmlns="jabber:client")? /, `<iq xmlns="${NS_BATCH}" `) : `${x}<x/>`,
      ),
  ],
  ['no defined condition', (s, x) => wrap(s, change(x, `xmlns="${NS_STANZAS}"/>`, 'xmlns="urn:example:app"/>'))],
  [
    'an unknown condition',
    (s, x) =>
      wrap(
        s,
        change(x, `xmlns="${NS_STANZAS}"/></error>`, `xmlns="${NS_STANZAS}"/><x xmlns="${NS_STANZAS}"/></error>`),
      ),
  ],
  ['a signal in another namespace', (s, x) => wrap(s, change(x, `xmlns="${NS_API}"`, `xmlns="${NS_BATCH}"`))],
  ['a bad refusal code', (s, x) => wrap(s, change(x, 'code="', 'code="9'))],
  ['a duplicate item', (s, x) => wrap(s, x) + wrap(s, x)],
  ['a missing item', () => ''],
  ['two elements', (s, x) => wrap(s, x + x)],
  ['text in the item', (s, x) => wrap(s, `junk${x}`)],
  ['an empty item', (s) => wrap(s, '')],
  ['an item attribute', (s, x) => `<item id="${s.id}" by="x">${x}</item>`],
  ['the item under another id', (s, x) => `<item id="${s.id}-">${x}</item>`],
  [
    'another item’s answer',
    (s, _x, all, r) => {
      const other = all.filter((o) => o.id !== s.id);
      const o = other.length > 0 ? r.pick(other) : { ...s, id: `${s.id}o`, to: `${s.to}o` };
      return wrap(s, (BASES[3] as Base).xml(o));
    },
  ],
];

/** Spoils the whole answer for sure. */
const WHOLE_SPOILERS: Array<[string, (text: string, r: Rng) => Partial<Reply> & { text?: string }]> = [
  ['a truncation', (t, r) => ({ text: t.slice(0, 1 + r.int(t.length - 2)) })],
  ['trailing junk', (t) => ({ text: `${t}junk` })],
  ['two roots', (t) => ({ text: t + t })],
  [
    'a NUL',
    (t, r) => {
      const i = 1 + r.int(t.length - 1);
      return { text: `${t.slice(0, i)}\u0000${t.slice(i)}` };
    },
  ],
  ["the signals' namespace", (t) => ({ text: t.split(NS_BATCH).join(NS_API) })],
  ['no version', (t) => ({ text: t.replace(' version="3"', '') })],
  [
    'another version',
    (t, r) => ({ text: t.replace(' version="3"', ` version="${r.pick(['1', '2', '4', '03', ' 3'])}"`) }),
  ],
  [
    'a second version attribute',
    (t) => ({ text: t.replace(' version="3"', ' version="3" v:version="3" xmlns:v="urn:x"') }),
  ],
  ['a DOCTYPE', (t) => ({ text: `<!DOCTYPE batch>${t}` })],
  ['a bad UTF-8 byte', (t) => ({ body: Buffer.concat([Buffer.from(t), Buffer.from([0xff])]) })],
  [
    'a content type',
    (_t, r) => ({ type: r.pick(['text/plain', 'application/json', 'application/xml; charset=latin1']) }),
  ],
  ['a status', (_t, r) => ({ status: r.pick([201, 204, 302, 400, 401, 404, 413, 429, 500, 502, 503, 504]) })],
];

const TITLE = `${CASES} hostile batch answers from seed %i: never a not-joined reply unless a matching, well-formed not-joined item`;

describe('stanza API batch fuzz', () => {
  it.for(seedsOf('stanzaApiBatchFuzz'))(TITLE, async (seed) => {
    const r = rng(seed);
    const api = quickClient(url, secretKey(SECRET));
    const counts = { cases: 0, thrown: 0, items: 0, spoiled: 0, clean: 0, notJoined: 0 };
    for (let c = 0; c < CASES; c++) {
      const n = 1 + r.int(6);
      const plan = Array.from({ length: n }, () => ({
        base: r.pick(BASES),
        spoiler: r.chance(0.4) ? r.pick(ITEM_SPOILERS) : undefined,
      }));
      const whole = r.chance(0.15) ? r.pick(WHOLE_SPOILERS) : undefined;
      answer = (items) => {
        const parts = items.map((s) => {
          const p = plan[numberOf(s)] as (typeof plan)[number];
          const x = p.base.xml(s);
          return p.spoiler ? p.spoiler[1](s, x, items, r) : wrap(s, x);
        });
        if (r.chance(0.3)) parts.reverse();
        const text = `<batch xmlns="${NS_BATCH}" version="3">${parts.join(r.pick(['', '\n', ' ']))}</batch>`;
        const reply = { status: 200, type: 'application/xml', body: Buffer.from(text) };
        if (!whole) return reply;
        const w = whole[1](text, r);
        return { ...reply, ...w, body: w.body ?? (w.text !== undefined ? Buffer.from(w.text) : reply.body) };
      };
      const where = (k: number) =>
        `case ${c} item ${k} (PING_MUC_SEEDS=${r.seed}) ${plan[k]?.base.name} / ${plan[k]?.spoiler?.[0] ?? 'clean'} / ${whole?.[0] ?? 'whole clean'}`;
      counts.cases++;
      // Concurrent calls, gathered into one request: heals and self-pings read their items alike.
      const settled = await Promise.allSettled(
        Array.from({ length: n }, (_, k) => {
          const join = { user: USER, occupant: `${roomOf(k)}/Alice`, since: 1_733_580_000_000_000 + k };
          return r.chance(0.5) ? api.heal(join) : api.selfPing(join);
        }),
      );
      const failed = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed.length > 0) {
        // The whole request failed: every call of it, with the API's failure.
        expect(failed.length, where(0)).toBe(n);
        for (const f of failed) expect(f.reason, where(0)).toBeInstanceOf(StanzaApiError);
        expect(whole, `${where(0)}: a clean answer failed: ${String(failed[0]?.reason)}`).toBeDefined();
        counts.thrown++;
        continue;
      }
      const replies: PingReply[] = settled.map((s) => (s as PromiseFulfilledResult<PingReply>).value);
      expect(replies).toHaveLength(n);
      replies.forEach((reply, k) => {
        const p = plan[k] as (typeof plan)[number];
        counts.items++;
        const outcome = reply.kind === 'reply' ? classify(reply, { host: HOST, room: roomOf(k) }) : reply.kind;
        if (whole || p.spoiler || p.base.outcome === 'bad-answer') {
          counts.spoiled++;
          expect(
            outcome,
            `${where(k)}: read as ${reply.kind === 'reply' ? reply.iq.toString() : JSON.stringify(reply)}`,
          ).toBe('bad-answer');
          return;
        }
        counts.clean++;
        expect(outcome, where(k)).toBe(p.base.outcome);
        if (outcome === 'not-joined') counts.notJoined++;
      });
    }
    console.log(`stanza API batch fuzz: ${JSON.stringify(counts)}`);
    expect(counts.clean).toBeGreaterThan(0);
    expect(counts.notJoined).toBeGreaterThan(0);
    expect(counts.spoiled).toBeGreaterThan(0);
  });
});
