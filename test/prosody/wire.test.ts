// The JSON the module puts on the wire (wire.lib.lua), run under every interpreter Prosody 0.12
// runs on, with Prosody's libraries on the path. Lua 5.1, 5.2 and LuaJIT have only doubles: a float seq on
// Lua 5.4 behaves the same (tostring, so util.json, prints it "%.14g"), so 5.4 shows the bug.
import { describe, expect, it } from 'vitest';
import { INTERPRETERS, type Interpreter, lua as run } from './lua';

const PRELUDE = `local wire = lib("wire")
local json = require "util.json"
`;

describe.each(INTERPRETERS)('wire.lib.lua under %s', (bin: Interpreter) => {
  const lua = (script: string) => run(PRELUDE + script, { bin });

  it('util.json alone prints a float microsecond seq as %.14g (neighbours tie): the bug', () => {
    const out = lua(
      'print(json.encode({ seq = 1764075600000001.0 })); print(json.encode({ seq = 1764075600000002.0 }))',
    );
    const [a, b] = out.split('\n');
    expect(a).toBe(b); // 1.7640756e+15 twice
  });

  it('prints seq-like fields as exact integers from floats or integers on any Lua', () => {
    const out = lua(`
print(wire.event({ type = "join", seq = 1764075600000001.0, epoch = 1764075599000001.0, since = 1764075600000000.0, host = "a.test",
  user = "u@a.test/r", room = "r@muc.b.test", nick = "N" }))
print(wire.event({ type = "join", seq = 1764075600000002.0, host = "a.test" }))
print(wire.event({ type = "s2s-close", seq = 1764075600000003, host = "a.test", remotes = { "muc.b.test" }, direction = "out" }))
print(wire.seq(9007199254740991.0))`);
    const [a, b, c, max] = out.split('\n');
    expect(JSON.parse(a!)).toEqual({
      type: 'join',
      seq: 1764075600000001,
      epoch: 1764075599000001,
      since: 1764075600000000,
      host: 'a.test',
      user: 'u@a.test/r',
      room: 'r@muc.b.test',
      nick: 'N',
    });
    expect(a).toContain('"seq":1764075600000001,');
    expect(a).toContain('"since":1764075600000000,');
    expect(a).toContain('"epoch":1764075599000001,');
    expect(JSON.parse(b!).seq).toBe(1764075600000002);
    expect(JSON.parse(c!)).toEqual({
      type: 's2s-close',
      seq: 1764075600000003,
      host: 'a.test',
      remotes: ['muc.b.test'],
      direction: 'out',
    });
    expect(max).toBe('9007199254740991');
  });

  const envelope = () => {
    const out = lua(`
print(wire.batch({ wire.event({ type = "heartbeat", seq = 5.0, epoch = 4.0, host = "a.test" }) }))
local a = wire.answer('{"ok":true,"applied":1,"refused":[{"index":1,"type":"join","error":"room on host"}]}')
print(a.applied, #a.refused, a.refused[1].index, a.refused[1].type, a.refused[1].error)
print(wire.answer("not json"), wire.answer(nil))`);
    const [batch, answer, bad] = out.split('\n');
    return { batch: batch!, answer: answer!, bad };
  };

  it('wraps a batch in the v1 envelope', () => {
    const { batch } = envelope();
    expect(JSON.parse(batch)).toEqual({ v: 1, events: [{ type: 'heartbeat', seq: 5, epoch: 4, host: 'a.test' }] });
  });

  it('reads the refused events of a ping-muc answer', () => {
    expect(envelope().answer.split('\t')).toEqual(['1', '1', '1', 'join', 'room on host']);
  });

  it('reads an answer that is not JSON as nil', () => {
    expect(envelope().bad).toBe('nil\tnil');
  });
});
