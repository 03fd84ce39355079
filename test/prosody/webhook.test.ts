// The signed calls' replay cache (webhook.lib.lua), with Prosody's util.* and a clock the script
// sets: a webhook-id is refused for as long as its timestamp could pass, and across a reload.
import { describe, expect, it } from 'vitest';
import { lua, PROSODY_LIBS, type ProsodyVersion } from './lua';

const PRELUDE = `
local now = 1764075600
os.time = function () return now end
local webhook = lib("webhook")
local key = string.rep("k", 32)
local sign = webhook.signer(function () return { key } end)
local function ring() return { key } end
local function headers(id, ts, body)
  return { webhook_id = id; webhook_timestamp = tostring(ts); webhook_signature = sign(id, tostring(ts), body) }
end
T0 = now
V = webhook.verifier(ring)
H = headers("msg_1", T0 + 300, "<batch/>") -- signed 300 s ahead: valid until T0 + 600
function verify(v, t) now = t; return tostring((v or V).verify(H, "<batch/>")) end
function out(k, v) print(k .. "=" .. tostring(v)) end
`;

describe.each(Object.keys(PROSODY_LIBS) as ProsodyVersion[])('webhook.lib.lua with Prosody %s', (prosody) => {
  it('refuses a replay within its timestamp window even across a reload', () => {
    const out = lua(
      `${PRELUDE}
out("first", verify(V, T0))
out("at_599", verify(V, T0 + 599))
out("at_600", verify(V, T0 + 600))
out("at_601", verify(V, T0 + 601))
-- A reload within the window: the next instance takes the ids the last one saved.
local W = webhook.verifier(ring)
H = { webhook_id = "msg_2"; webhook_timestamp = tostring(T0); webhook_signature = sign("msg_2", tostring(T0), "<batch/>") }
out("second", verify(W, T0))
local reloaded = webhook.verifier(ring, W.save())
out("after_reload", verify(reloaded, T0 + 10))`,
      { prosody },
    );
    expect(Object.fromEntries(out.split('\n').map((l) => l.split('=')))).toEqual({
      first: 'msg_1',
      at_599: 'nil',
      at_600: 'nil',
      at_601: 'nil',
      second: 'msg_2',
      after_reload: 'nil',
    });
  });
});
