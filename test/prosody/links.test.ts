// The remote domains an s2s session links this host to (links.lib.lua): what `s2s-close` and
// `s2s-up` carry. Run under every interpreter Prosody 0.12 runs on, with a stub `module`
// (only module.host is read).
import { describe, expect, it } from 'vitest';
import { INTERPRETERS, type Interpreter, lua as run } from './lua';

const PRELUDE = `module.host = "a.test"
local links = lib("links")
local wire = lib("wire")
local function show(s)
  local direction, remotes = links(s)
  if not direction then return print("nil") end
  table.sort(remotes)
  print(direction .. " " .. table.concat(remotes, ","))
end
`;

describe.each(INTERPRETERS)('links.lib.lua under %s', (bin: Interpreter) => {
  const lua = (script: string) => run(PRELUDE + script, { bin });

  it('an outgoing link of this host is out to its peer', () => {
    expect(lua('show({ type = "s2sout", from_host = "a.test", to_host = "muc.b.test" })')).toBe('out muc.b.test');
  });

  it('an incoming link is in from the domains authenticated on it', () => {
    const out = lua(`show({ type = "s2sin", to_host = "a.test", from_host = "b.test",
      hosts = { ["b.test"] = { authed = true }, ["muc.b.test"] = { authed = true }, ["x.b.test"] = { dialback_key = "k" } } })`);
    expect(out).toBe('in b.test,muc.b.test');
  });

  it("a link not authenticated for this host is nothing (a failed attempt or another host's)", () => {
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
