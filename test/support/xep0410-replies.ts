// Self-ping replies and the outcome ping-muc reads in each (XEP-0410 §3.2 and what Prosody
// 0.12.3 answers): one table for the round's rule (test/domain/outcome.test.ts) and for the
// module's copy of its "not joined" (test/prosody/outcome.test.ts), and the malformed replies
// the round's rule refuses as unusable (whyUnusable: a bad answer), which the module never acts on.
import { parse } from 'ltx';
import type { Outcome } from '../../lib/domain/outcome';
import type { PingReply } from '../../lib/domain/model';

export const ctx = { host: 'a.example', room: 'lobby@muc.b.example' };
/** The session that pinged and the occupant JID it pinged: a reply without from/to gets them. */
export const user = 'alice@a.example/phone';
export const occupant = 'lobby@muc.b.example/Alice';
export type Answer = Exclude<PingReply, { kind: 'bad-answer' }>;
const iq = (xml: string): Answer => {
  const el = parse(xml);
  el.attrs.from ??= occupant;
  el.attrs.to ??= user;
  return { kind: 'reply', iq: el };
};
const error = (condition: string, by?: string, from = 'lobby@muc.b.example/Alice') =>
  iq(
    `<iq type="error" id="x" from="${from}" to="alice@a.example/phone"><error type="cancel"${by ? ` by="${by}"` : ''}><${condition} xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`,
  );

// XEP-0410 §3 and what Prosody 0.12.3 answers (test/prosody/outcome.test.ts holds the module to it).
export const table: Array<[string, Answer, Outcome]> = [
  ['result: joined', iq('<iq type="result" id="x" from="lobby@muc.b.example/Alice"/>'), 'joined'],
  ['service-unavailable: joined, client lacks ping', error('service-unavailable'), 'joined'],
  ['feature-not-implemented: joined', error('feature-not-implemented'), 'joined'],
  ['item-not-found by the room: nick changed', error('item-not-found', 'lobby@muc.b.example'), 'nick-changed'],
  ['item-not-found by the MUC service: room gone', error('item-not-found', 'muc.b.example'), 'not-joined'],
  // XEP-0410 §3.2: without `by` the origin is unknown and a nick change is possible.
  [
    'item-not-found from the room, no by: unconfirmed',
    error('item-not-found', undefined, 'lobby@muc.b.example'),
    'unconfirmed',
  ],
  ['item-not-found from the occupant, no by: unconfirmed', error('item-not-found'), 'unconfirmed'],
  ['item-not-found with an empty by: unconfirmed', error('item-not-found', ''), 'unconfirmed'],
  [
    'item-not-found by the room, other case: nick changed',
    error('item-not-found', 'Lobby@MUC.b.example'),
    'nick-changed',
  ],
  ['not-acceptable: not an occupant', error('not-acceptable', 'lobby@muc.b.example'), 'not-joined'],
  ['forbidden: not joined', error('forbidden'), 'not-joined'],
  // RFC 6120 §8.3.2: <text/> (same namespace) and application conditions are not the condition.
  [
    'item-not-found after a <text/>, no by: unconfirmed',
    iq(
      '<iq type="error" id="x"><error type="cancel"><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">gone</text><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>',
    ),
    'unconfirmed',
  ],
  [
    'item-not-found by the room after a <text/>: nick changed',
    iq(
      '<iq type="error" id="x"><error type="cancel" by="lobby@muc.b.example"><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">renamed</text><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>',
    ),
    'nick-changed',
  ],
  [
    'service-unavailable after an application condition: joined',
    iq(
      '<iq type="error" id="x"><error type="cancel"><oops xmlns="urn:example:app"/><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>',
    ),
    'joined',
  ],
  [
    'an <error/> of another namespace is not the error',
    iq(
      '<iq type="error" id="x"><error xmlns="urn:example:app"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error><error type="cancel"><forbidden xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>',
    ),
    'not-joined',
  ],
  [
    'remote-server-not-found by our own server: indeterminate',
    error('remote-server-not-found', 'a.example'),
    'indeterminate',
  ],
  [
    'remote-server-timeout by our own server: indeterminate',
    error('remote-server-timeout', 'a.example'),
    'indeterminate',
  ],
  ['remote-server-not-found, no by: indeterminate', error('remote-server-not-found'), 'indeterminate'],
  [
    'remote-server-not-found by the remote: not joined',
    error('remote-server-not-found', 'muc.b.example'),
    'not-joined',
  ],
  ['item-not-found by an occupant: not joined', error('item-not-found', 'lobby@muc.b.example/Bob'), 'not-joined'],
  [
    'remote-server-timeout by our own server, a full JID in other case: indeterminate',
    error('remote-server-timeout', 'A.Example/s2s'),
    'indeterminate',
  ],
  ['gone by the room: not joined', error('gone', 'lobby@muc.b.example'), 'not-joined'],
  ['timeout: indeterminate', { kind: 'timeout' }, 'indeterminate'],
  ['no such session: gone', { kind: 'no-session' }, 'gone'],
];

const S = 'urn:ietf:params:xml:ns:xmpp-stanzas';
const errorIq = (inner: string) => `<iq type="error" id="x" from="${occupant}" to="${user}">${inner}</iq>`;
/** RFC 6120 §8.3: an error without exactly one <error/> holding exactly one defined condition and at most one <text/>. */
export const malformed: Array<[string, string]> = [
  ['no condition', errorIq('<error type="cancel"/>')],
  ['only a <text/>', errorIq(`<error type="cancel"><text xmlns="${S}">oops</text></error>`)],
  ['no <error/> at all', errorIq('')],
  [
    'two <text/> then item-not-found by the room',
    errorIq(
      `<error type="cancel" by="lobby@muc.b.example"><text xmlns="${S}" xml:lang="en">a</text><text xmlns="${S}" xml:lang="de">b</text><item-not-found xmlns="${S}"/></error>`,
    ),
  ],
  [
    'two <text/> then service-unavailable',
    errorIq(
      `<error type="cancel"><text xmlns="${S}" xml:lang="en">a</text><text xmlns="${S}" xml:lang="de">b</text><service-unavailable xmlns="${S}"/></error>`,
    ),
  ],
  [
    'a condition RFC 6120 does not define',
    errorIq(`<error type="cancel" by="muc.b.example"><gone-fishing xmlns="${S}"/></error>`),
  ],
  [
    'two conditions',
    errorIq(
      `<error type="cancel" by="muc.b.example"><service-unavailable xmlns="${S}"/><forbidden xmlns="${S}"/></error>`,
    ),
  ],
  [
    'two <error/>',
    errorIq(
      `<error type="cancel"><forbidden xmlns="${S}"/></error><error type="cancel"><service-unavailable xmlns="${S}"/></error>`,
    ),
  ],
];
