// Fuzz of the stanza API contract (docs/stanza-api.md): hundreds of hostile answers to one
// self-ping or heal through HttpStanzaApi against a local HTTP server. A 'reply' that classifies
// as not-joined only ever comes from a matching, well-formed not-joined answer; every answer the
// generator spoiled is a bad answer or an API failure (StanzaApiError), never an outcome.
//
// Seeds: test/support/seeds.ts (PING_MUC_SEEDS=<seed> replays one).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'ltx';
import { HttpStanzaApi } from '../../lib/adapters/stanza-api/client';
import { StanzaApiError } from '../../lib/support/errors';
import { classify, type Outcome } from '../../lib/domain/outcome';
import type { PingReply } from '../../lib/domain/model';
import { secretKey } from '../../lib/domain/signature';
import { NS_API, NS_BATCH, NS_STANZAS } from '../../lib/domain/stanzas';
import { type AnsweringServer, answeringServer } from '../support/answering-server';
import { rng } from '../support/rng';
import { seedsOf } from '../support/seeds';

/** Cases per seed (test/support/seeds.ts). */
const CASES = 100;
const SECRET = `whsec_${Buffer.alloc(32, 5).toString('base64')}`;
const HOST = 'a.example';

interface Sent {
  id: string;
  from: string;
  to: string;
}
interface Answer {
  status: number;
  type: string;
  body: Buffer;
}

let next: (iq: Sent) => Answer = () => ({ status: 500, type: 'text/plain', body: Buffer.from('unset') });
let server: AnsweringServer;
let url = '';
beforeAll(async () => {
  server = await answeringServer(({ body }) => {
    // The one item: a bare self-ping, or a heal around one (the same id).
    const item = parse(body).getChildElements()[0];
    const iq = item?.name === 'heal' ? item.getChildElements()[0] : item;
    return next((iq?.attrs ?? {}) as unknown as Sent);
  });
  url = `${server.base}/`;
});
afterAll(() => server.close());

/** Well-formed, matching answers and what they mean. */
type Base = { name: string; outcome: Outcome | 'timeout' | 'no-session'; xml: (iq: Sent, q: string) => string };
const err =
  (condition: string, by?: string, text = false) =>
  (iq: Sent, q: string) =>
    `<iq type=${q}error${q} id=${q}${iq.id}${q} from=${q}${iq.to}${q} to=${q}${iq.from}${q}><error type=${q}cancel${q}${by ? ` by=${q}${by}${q}` : ''}>` +
    `${text ? `<text xmlns=${q}${NS_STANZAS}${q}>why &amp; how</text>` : ''}<${condition} xmlns=${q}${NS_STANZAS}${q}/></error></iq>`;
const BASES: Base[] = [
  {
    name: 'result',
    outcome: 'joined',
    xml: (iq, q) => `<iq type=${q}result${q} id=${q}${iq.id}${q} from=${q}${iq.to}${q} to=${q}${iq.from}${q}/>`,
  },
  { name: 'not-acceptable', outcome: 'not-joined', xml: err('not-acceptable', 'lobby@muc.b.example') },
  { name: 'forbidden with text', outcome: 'not-joined', xml: err('forbidden', undefined, true) },
  { name: 'item-not-found by the service', outcome: 'not-joined', xml: err('item-not-found', 'muc.b.example') },
  {
    name: 'item-not-found by the room',
    outcome: 'nick-changed',
    xml: err('item-not-found', 'lobby@muc.b.example', true),
  },
  { name: 'item-not-found, no by', outcome: 'unconfirmed', xml: err('item-not-found') },
  { name: 'service-unavailable', outcome: 'joined', xml: err('service-unavailable') },
  { name: 'remote-server-not-found by us', outcome: 'indeterminate', xml: err('remote-server-not-found', HOST) },
  { name: 'timeout', outcome: 'timeout', xml: (_iq, q) => `<timeout xmlns=${q}${NS_API}${q}/>` },
  { name: 'no-session', outcome: 'no-session', xml: (_iq, q) => `<no-session xmlns=${q}${NS_API}${q}/>` },
];

const TITLE = `${CASES} hostile answers from seed %i: never a not-joined reply unless a matching, well-formed not-joined answer`;

describe('stanza API fuzz', () => {
  it.for(seedsOf('stanzaApiFuzz'))(TITLE, async (seed) => {
    const r = rng(seed);
    const api = new HttpStanzaApi({
      url,
      key: secretKey(SECRET),
      timeoutMs: 2000,
      retryBaseMs: 1,
      retryMaxMs: 5,
      windowMs: 0,
    });
    /** The whole answer around an item's text: one <item> in a batch of version 3. */
    const full = (iq: Sent, x: string) =>
      `<batch xmlns="${NS_BATCH}" version="3"><item id="${iq.id}">${x}</item></batch>`;
    const insert = (s: string, what: string) => {
      const i = 1 + r.int(s.length - 1);
      return s.slice(0, i) + what + s.slice(i);
    };
    // Each spoils a well-formed answer for sure: what it yields must never be read as an outcome.
    // `text` replaces the item's text; `whole` and `body` the whole answer.
    const spoilers: Array<[string, (iq: Sent, xml: string) => Partial<Answer> & { text?: string; whole?: string }]> = [
      ['another id', (iq, x) => ({ text: x.includes(iq.id) ? x.split(iq.id).join(`${iq.id}x`) : `${x}<x/>` })],
      [
        'another occupant',
        (iq, x) => ({
          text: x.includes(iq.to)
            ? x.split(`from="${iq.to}"`).join(`from="${iq.to}2"`).split(`from='${iq.to}'`).join(`from='${iq.to}2'`)
            : `${x}<x/>`,
        }),
      ],
      [
        'another session',
        (iq, x) => ({
          text: x.includes(iq.from)
            ? x.split(`to="${iq.from}"`).join(`to="${iq.from}2"`).split(`to='${iq.from}'`).join(`to='${iq.from}2'`)
            : `${x}<x/>`,
        }),
      ],
      ['a duplicate attribute', (_iq, x) => ({ text: x.replace(/^<(\S+)/, '<$1 id="dup" id="dup"') })],
      ['two roots', (iq, x) => ({ text: x + `<iq type="result" id="${iq.id}" from="${iq.to}" to="${iq.from}"/>` })],
      ['more after no-session', (_iq, x) => ({ text: `<no-session xmlns="${NS_API}"/>${x}` })],
      ['a trailing NUL', (_iq, x) => ({ text: `${x}\u0000` })],
      ['trailing junk', (_iq, x) => ({ text: `${x}junk` })],
      ['leading junk', (_iq, x) => ({ text: `junk${x}` })],
      ['jabber:server', (_iq, x) => ({ text: x.replace(/^<(\S+)/, '<$1 xmlns="jabber:server"') })],
      [
        'another namespace by prefix',
        (_iq, x) => ({ text: x.replace(/^<(\S+)/, '<p:$1 xmlns:p="urn:evil"').replace(/<\/(\S+)>$/, '</p:$1>') }),
      ],
      ['a DOCTYPE', (_iq, x) => ({ text: `<!DOCTYPE iq [<!ENTITY e "x">]>${x}` })],
      [
        'a comment',
        (_iq, x) => ({
          text:
            x.replace(/>/, '><!-- c -->').replace(/\/><!-- c -->$/, '/>') +
            (x.endsWith('/>') && !x.includes('</') ? '<!-- c -->' : ''),
        }),
      ],
      [
        'a control character',
        (_iq, x) => ({ text: insert(x, r.pick(['\u0001', '\u0008', '\u001f', '\ufffe', '\uffff'])) }),
      ],
      // A lone surrogate as it would come on the wire (CESU-8 bytes, invalid UTF-8): Buffer.from
      // would write U+FFFD instead, a valid character.
      [
        'a lone surrogate',
        (iq, x) => {
          const b = Buffer.from(full(iq, x), 'utf8');
          const i = 1 + r.int(b.length - 1);
          return { body: Buffer.concat([b.subarray(0, i), Buffer.from([0xed, 0xa0, 0x80]), b.subarray(i)]) };
        },
      ],
      [
        'no defined condition',
        (_iq, x) => ({
          text: x.includes('<error')
            ? x.replace(
                /<([a-z-]+) xmlns=(["'])urn:ietf:params:xml:ns:xmpp-stanzas\2\/>/,
                '<$1 xmlns=$2urn:example:app$2/>',
              )
            : `${x}<x/>`,
        }),
      ],
      [
        'an unknown condition',
        (_iq, x) => ({
          text: x.includes('<error')
            ? x.replace(
                /<([a-z-]+) xmlns=(["'])urn:ietf:params:xml:ns:xmpp-stanzas\2\/>/,
                '<$1-ish xmlns=$2urn:ietf:params:xml:ns:xmpp-stanzas$2/>',
              )
            : `${x}<x/>`,
        }),
      ],
      ['a truncation', (_iq, x) => ({ text: x.slice(0, 1 + r.int(x.length - 2)) })],
      ['an unknown entity', (_iq, x) => ({ text: x.replace(/^<(\S+)/, '<$1 data="&bogus;"') })],
      [
        'a bad UTF-8 byte',
        (iq, x) => {
          const b = Buffer.from(full(iq, x), 'utf8');
          const i = r.int(b.length);
          return { body: Buffer.concat([b.subarray(0, i), Buffer.from([r.pick([0x80, 0xc0, 0xff])]), b.subarray(i)]) };
        },
      ],
      ['oversize', (_iq, x) => ({ text: x.replace(/^<(\S+)/, `<$1 pad="${'x'.repeat(80_000)}"`) })],
      [
        'several <text/>',
        (_iq, x) => ({
          text: x.includes('<error')
            ? x.replace(/(<error[^>]*>)/, `$1<text xmlns="${NS_STANZAS}">a</text><text xmlns="${NS_STANZAS}">b</text>`)
            : `${x}<x/>`,
        }),
      ],
      ['no version', (iq, x) => ({ whole: full(iq, x).replace(' version="3"', '') })],
      [
        'another version',
        (iq, x) => ({ whole: full(iq, x).replace(' version="3"', ` version="${r.pick(['2', '4', '3.0', ''])}"`) }),
      ],
      ['the whole answer alone', (_iq, x) => ({ whole: x })],
      ['a whole truncation', (iq, x) => ({ whole: full(iq, x).slice(0, -1 - r.int(8)) })],
      [
        'a content type',
        () => ({ type: r.pick(['text/plain', 'application/json', 'text/xml', 'application/xml; charset=latin1', '']) }),
      ],
      [
        'a status',
        () => ({
          status: r.pick([201, 202, 204, 301, 302, 400, 401, 403, 404, 405, 408, 413, 429, 500, 501, 502, 503, 504]),
        }),
      ],
    ];
    const benign: Array<(x: string) => string> = [(x) => x, (x) => `\n ${x}\r\n`, (x) => `\t${x}`];
    const counts = { spoiled: 0, clean: 0, notJoined: 0 };
    for (let c = 0; c < CASES; c++) {
      const base = r.pick(BASES);
      const q = r.pick(['"', "'"]);
      const spoiler = r.chance(0.75) ? r.pick(spoilers) : undefined;
      const wrap = r.pick(benign);
      let note = '';
      next = (iq) => {
        const xml = base.xml(iq, q);
        const answer: Answer = {
          status: 200,
          type: r.pick(['application/xml', 'application/xml; charset=utf-8', 'Application/XML']),
          body: Buffer.from(full(iq, wrap(xml))),
        };
        if (!spoiler) return answer;
        const { text, whole, ...s } = spoiler[1](iq, xml);
        note = (whole ?? text)?.slice(0, 300) ?? '';
        const body =
          s.body ??
          (whole !== undefined ? Buffer.from(whole) : text !== undefined ? Buffer.from(full(iq, text)) : answer.body);
        return { ...answer, ...s, body };
      };
      const where = `case ${c} (PING_MUC_SEEDS=${r.seed}) ${base.name} / ${spoiler?.[0] ?? 'clean'}: ${note}`;
      let reply: PingReply;
      const join = { user: `alice@${HOST}/r`, occupant: 'lobby@muc.b.example/Alice', since: 1 + r.int(2 ** 40) };
      try {
        reply = await (r.chance(0.5) ? api.heal(join) : api.selfPing(join));
      } catch (e) {
        expect(e, where).toBeInstanceOf(StanzaApiError);
        expect(spoiler, `${where}: a clean answer failed: ${(e as Error).message}`).toBeDefined();
        counts.spoiled++;
        continue;
      }
      if (spoiler) {
        counts.spoiled++;
        expect(
          reply.kind,
          `${where}: a spoiled answer was read as ${JSON.stringify(reply.kind === 'reply' ? reply.iq.toString() : reply)}`,
        ).toBe('bad-answer');
        continue;
      }
      counts.clean++;
      expect(reply.kind, where).not.toBe('bad-answer');
      if (reply.kind === 'bad-answer') continue;
      const outcome =
        reply.kind === 'reply' ? classify(reply, { host: HOST, room: 'lobby@muc.b.example' }) : reply.kind;
      expect(outcome, where).toBe(base.outcome);
      if (outcome === 'not-joined') counts.notJoined++;
    }
    console.log(`stanza API fuzz: ${JSON.stringify(counts)}`);
    expect(counts.clean).toBeGreaterThan(0);
    expect(counts.notJoined).toBeGreaterThan(0);
  });
});
