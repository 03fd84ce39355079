// The module's copy of "not joined" (outcome.lib.lua), on which it acts by itself for a heal,
// against ping-muc's own reader of a self-ping answer: readPingAnswer (a malformed reply is a
// bad answer) then classify. For every reply, under Prosody 0.12's and 13's libraries:
// - the module notifies exactly when the round reads "not-joined" in the raw reply;
// - the round reads in the module's relay what it reads in the raw reply (a bad answer stays one).
import { parse } from 'ltx';
import { describe, expect, it } from 'vitest';
import { readPingAnswer } from '../../lib/adapters/stanza-api/answers';
import { classify, type PingContext } from '../../lib/domain/outcome';
import { ctx, malformed, occupant, table, user } from '../support/xep0410-replies';
import { lua, PROSODY_LIBS, type ProsodyVersion } from './lua';

const S = 'urn:ietf:params:xml:ns:xmpp-stanzas';
interface Vector {
  name: string;
  xml: string;
  ctx: PingContext;
}

const vectors: Vector[] = [
  ...table.flatMap(([name, reply]) => (reply.kind === 'reply' ? [{ name, xml: reply.iq.toString(), ctx }] : [])),
  ...malformed.map(([name, xml]) => ({ name: `malformed: ${name}`, xml, ctx })),
  {
    name: 'a result padded with an error',
    xml: `<iq type="result" id="x" from="${occupant}" to="${user}"><error type="cancel"><forbidden xmlns="${S}"/></error></iq>`,
    ctx,
  },
  {
    name: 'remote-server-not-found by another host: not joined',
    xml: `<iq type="error" id="x" from="${occupant}" to="${user}"><error type="cancel" by="c.example"><remote-server-not-found xmlns="${S}"/></error></iq>`,
    ctx,
  },
  {
    name: 'item-not-found by the room, non-ASCII upper case: nick changed',
    xml: `<iq type="error" id="x" from="ärger@muc.b.example/Alice" to="${user}"><error type="cancel" by="Ärger@muc.b.example"><item-not-found xmlns="${S}"/></error></iq>`,
    ctx: { ...ctx, room: 'ärger@muc.b.example' },
  },
  {
    name: 'remote-server-timeout by our IDN host, non-ASCII upper case: indeterminate',
    xml: `<iq type="error" id="x" from="${occupant}" to="alice@bücher.example/phone"><error type="wait" by="BÜCHER.example"><remote-server-timeout xmlns="${S}"/></error></iq>`,
    ctx: { ...ctx, host: 'bücher.example' },
  },
];

/** What the round reads in an answer to our ping (sent from `to` to `from` of the reply). */
function roundReads(answer: string, raw: string, c: PingContext): string {
  const rawIq = parse(raw);
  const ping = parse(
    `<iq type="get" id="x" from="${rawIq.attrs.to}" to="${rawIq.attrs.from}"><ping xmlns="urn:xmpp:ping"/></iq>`,
  );
  try {
    const reply = readPingAnswer(parse(answer), ping);
    return reply.kind === 'bad-answer' ? 'bad-answer' : classify(reply, c);
  } catch (err) {
    if ((err as Error).name === 'Unusable' || (err as object).constructor.name === 'Unusable') return 'bad-answer';
    throw err;
  }
}

/** For each vector: whether the module would notify, and the reply it relays. */
function moduleSees(prosody: ProsodyVersion): Array<{ notifies: boolean; relay: string }> {
  const out = lua(
    `local outcome = lib("outcome")
local xml = require "util.xml"
for line in io.lines() do
  local room, host, x = line:match("^([^\\t]*)\\t([^\\t]*)\\t(.*)$")
  local relay = outcome.relayed(assert(xml.parse(x)), "x", nil)
  print(tostring(outcome.unjoined(relay, room, host)) .. "\\t" .. tostring(relay))
end`,
    { prosody, input: `${vectors.map((v) => `${v.ctx.room}\t${v.ctx.host}\t${v.xml}`).join('\n')}\n` },
  );
  return out.split('\n').map((l) => {
    const [notifies, relay] = l.split('\t');
    return { notifies: notifies === 'true', relay: relay as string };
  });
}

describe.each(Object.keys(PROSODY_LIBS) as ProsodyVersion[])('outcome.lib.lua with Prosody %s', (prosody) => {
  const seen = moduleSees(prosody);
  const rows = vectors.map((v, i) => [v.name, i] as const);

  it.each(rows)('%s: the module notifies iff the round reads not-joined in the reply', (_name, i) => {
    const v = vectors[i] as Vector;
    expect(seen[i]!.notifies).toBe(roundReads(v.xml, v.xml, v.ctx) === 'not-joined');
  });

  it.each(rows)('%s: the round reads the relay as the reply', (_name, i) => {
    const v = vectors[i] as Vector;
    expect(roundReads(seen[i]!.relay, v.xml, v.ctx)).toBe(roundReads(v.xml, v.xml, v.ctx));
  });

  it('the table covers every kind of reply', () => {
    const reads = vectors.map((v) => roundReads(v.xml, v.xml, v.ctx));
    expect(seen.filter((s) => s.notifies).length).toBeGreaterThanOrEqual(5);
    expect(seen.filter((s) => !s.notifies).length).toBeGreaterThanOrEqual(10);
    expect(reads.filter((r) => r === 'bad-answer').length).toBeGreaterThanOrEqual(malformed.length);
  });
});
