// The remote domains an s2s session links this host to (links.lib.lua): what `s2s-close` and
// `s2s-up` carry. Run by a plain Lua interpreter with a stub `module` (only module.host is read).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MODULE_FOLDER } from '../e2e/testbed';

const PROSODY_LIB = '/usr/lib/prosody';

function lua(script: string): string {
  const prelude = `package.path = "${PROSODY_LIB}/?.lua;" .. package.path; package.cpath = "${PROSODY_LIB}/?.so;" .. package.cpath
module = { host = "a.test" }
local links = dofile(${JSON.stringify(path.join(MODULE_FOLDER, 'links.lib.lua'))})
local wire = dofile(${JSON.stringify(path.join(MODULE_FOLDER, 'wire.lib.lua'))})
local function show(s)
  local direction, remotes = links(s)
  if not direction then return print("nil") end
  table.sort(remotes)
  print(direction .. " " .. table.concat(remotes, ","))
end
`;
  for (const bin of ['lua5.4', 'lua5.3', 'lua5.2', 'lua5.1', 'luajit', 'lua']) {
    const r = spawnSync(bin, ['-e', prelude + script], { encoding: 'utf8' });
    if (r.error) continue;
    if (r.status !== 0) throw new Error(`${bin}: ${r.stderr}`);
    return r.stdout.trim();
  }
  throw new Error('no Lua interpreter found: run `bash scripts/ensure-prosody.sh` as root');
}

describe('links.lib.lua', () => {
  it('an outgoing link of this host: out, its peer', () => {
    expect(lua('show({ type = "s2sout", from_host = "a.test", to_host = "muc.b.test" })')).toBe('out muc.b.test');
  });

  it('an incoming link: in, the peer and the multiplexed domains authenticated on it, not the others', () => {
    const out = lua(`show({ type = "s2sin", to_host = "a.test", from_host = "b.test",
      hosts = { ["b.test"] = { authed = true }, ["muc.b.test"] = { authed = true }, ["x.b.test"] = { dialback_key = "k" } } })`);
    expect(out).toBe('in b.test,muc.b.test');
  });

  it("not an authenticated link of this host: nothing (a failed attempt, another host's link)", () => {
    const out = lua(`show({ type = "s2sout_unauthed", from_host = "a.test", to_host = "muc.b.test" })
show({ type = "s2sin_unauthed", to_host = "a.test", from_host = "b.test" })
show({ type = "s2sout", from_host = "a2.test", to_host = "muc.b.test" })
show({ type = "s2sin", to_host = "a2.test", from_host = "b.test" })
show({ type = "c2s", host = "a.test" })`);
    expect(out.split('\n')).toEqual(['nil', 'nil', 'nil', 'nil', 'nil']);
  });

  it('puts s2s-up on the wire like s2s-close', () => {
    const out = lua(
      'print(wire.event({ type = "s2s-up", seq = 1764075600000007.0, host = "a.test", remotes = { "muc.b.test" }, direction = "in" }))',
    );
    expect(out).toBe(
      '{"type":"s2s-up","seq":1764075600000007,"host":"a.test","remotes":["muc.b.test"],"direction":"in"}',
    );
  });
});
