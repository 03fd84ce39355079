// The module's copy of "not joined" (outcome.lib.lua), on which it acts by itself for a heal,
// against the round's own rule (lib/domain/outcome.ts) on the same replies: the module relays
// each reply as it would to the round, and notifies exactly when the round would read
// "not-joined" in that relay. Run by a plain Lua interpreter with Prosody's libraries.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { parse } from 'ltx';
import { describe, expect, it } from 'vitest';
import { classify, DEFINED_CONDITIONS, errorCondition } from '../../lib/domain/outcome';
import { MODULE_FOLDER } from '../e2e/testbed';
import { ctx, table } from '../support/xep0410-replies';

const PROSODY_LIB = '/usr/lib/prosody';

/** For each reply: whether the module would notify, and the reply it relays, tab-separated. */
function moduleSees(replies: string[]): Array<{ notifies: boolean; relay: string }> {
  const script = `package.path = "${PROSODY_LIB}/?.lua;" .. package.path; package.cpath = "${PROSODY_LIB}/?.so;" .. package.cpath
local outcome = dofile(${JSON.stringify(path.join(MODULE_FOLDER, 'outcome.lib.lua'))})
local xml = require "util.xml"
for line in io.lines() do
  local stanza = assert(xml.parse(line))
  local relay = outcome.relayed(stanza, "x", nil)
  print(tostring(outcome.unjoined(relay, ${JSON.stringify(ctx.room)}, ${JSON.stringify(ctx.host)})) .. "\\t" .. tostring(relay))
end
`;
  for (const bin of ['lua5.4', 'lua5.3', 'lua5.2', 'lua5.1', 'luajit', 'lua']) {
    const r = spawnSync(bin, ['-e', script], { encoding: 'utf8', input: `${replies.join('\n')}\n` });
    if (r.error) continue;
    if (r.status !== 0) throw new Error(`${bin}: ${r.stderr}`);
    return r.stdout
      .trim()
      .split('\n')
      .map((l) => {
        const [notifies, relay] = l.split('\t');
        return { notifies: notifies === 'true', relay: relay as string };
      });
  }
  throw new Error('no Lua interpreter found: run `bash scripts/ensure-prosody.sh` as root');
}

/** What the round reads in a relayed reply: an error without a defined condition is an unusable answer. */
function roundSees(relay: string): string {
  const iq = parse(relay);
  if (iq.attrs.type === 'error' && !DEFINED_CONDITIONS.has(errorCondition(iq).condition)) return 'bad-answer';
  return classify({ kind: 'reply', iq }, ctx);
}

const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
const raw: Array<[string, string]> = [
  ...table.flatMap(
    ([name, reply]): Array<[string, string]> => (reply.kind === 'reply' ? [[name, reply.iq.toString()]] : []),
  ),
  [
    'a condition RFC 6120 does not define',
    `<iq type="error" id="x"><error type="cancel" by="muc.b.example"><gone-fishing xmlns="${STANZAS}"/></error></iq>`,
  ],
  [
    'two conditions: the first counts',
    `<iq type="error" id="x"><error type="cancel" by="muc.b.example"><service-unavailable xmlns="${STANZAS}"/><forbidden xmlns="${STANZAS}"/></error></iq>`,
  ],
  [
    'a result padded with an error',
    `<iq type="result" id="x"><error type="cancel"><forbidden xmlns="${STANZAS}"/></error></iq>`,
  ],
  [
    'remote-server-not-found by another host: not joined',
    `<iq type="error" id="x"><error type="cancel" by="c.example"><remote-server-not-found xmlns="${STANZAS}"/></error></iq>`,
  ],
];

describe('outcome.lib.lua', () => {
  const seen = moduleSees(raw.map(([, xml]) => xml));

  it.each(raw.map(([name], i) => [name, i] as const))(
    '%s: the module notifies iff the round reads not-joined',
    (_name, i) => {
      const { notifies, relay } = seen[i] as { notifies: boolean; relay: string };
      expect(notifies).toBe(roundSees(relay) === 'not-joined');
    },
  );

  it('acts on some replies and leaves the others: the table covers both', () => {
    expect(seen.filter((s) => s.notifies).length).toBeGreaterThanOrEqual(5);
    expect(seen.filter((s) => !s.notifies).length).toBeGreaterThanOrEqual(10);
  });
});
