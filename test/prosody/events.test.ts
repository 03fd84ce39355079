// The module's event queue (events.lib.lua with wire.lib.lua and Prosody 0.12's util.queue and
// util.json), driven from plain Lua under every interpreter Prosody 0.12 runs on: a fake
// net.http records each request and the script answers it; the clock and timers are the
// harness's. A missing interpreter fails the test, saying how to install it.
import { describe, expect, it } from 'vitest';
import { INTERPRETERS, lua } from './lua';

/** Loads the queue (its options overridable from `opts`) and helpers to answer its requests. */
const PRELUDE = `
local wire = lib("wire")
local live_list = {}
local gone = {}
function make_events(opts)
  local o = { url = "http://x/events"; sign = function () return "v1,x" end; wire = wire;
    queue_size = 100; batch_size = 500; retry_min = 1; retry_max = 60; http_timeout = 30; heartbeat = 0;
    linger = 0;
    live = function () return live_list end;
    rejoin = function (user, room)
      if gone[user] then return nil end
      return { type = "join", user = user, room = room, nick = "n", since = 1 }
    end }
  for k, v in pairs(opts or {}) do o[k] = v end
  return lib("events")(o)
end
-- The seq mark's store (module:open_store in the module), kept across make_events calls.
MARK = { load = function () return MARK.stored end; save = function (v) MARK.stored = v end }
function set_live(n)
  live_list = {}
  for i = 1, n do live_list[i] = { user = "u" .. i .. "@a.example/r", room = "room@muc.b.example" } end
end
-- Answers the oldest request; returns its decoded events.
local json = require "util.json"
function answer(body, code)
  local req = table.remove(HTTP, 1)
  local events = json.decode(req.body).events
  req.cb(body or '{"ok":true,"applied":' .. #events .. '}', code or 200)
  return events, req
end
function drain()
  local all = {}
  while #HTTP > 0 do for _, e in ipairs(answer()) do all[#all + 1] = e end end
  return all
end
function count(events, type_)
  local n, users = 0, {}
  for _, e in ipairs(events) do
    if e.type == type_ and not (e.user and users[e.user]) then n = n + 1; if e.user then users[e.user] = true end end
  end
  return n
end
function types(events)
  local out = {}
  for _, e in ipairs(events) do out[#out + 1] = e.type end
  return table.concat(out, ",")
end
-- The requests posted so far (not answered): their event types, "|" between requests.
function pending()
  local out = {}
  for _, req in ipairs(HTTP) do out[#out + 1] = types(json.decode(req.body).events) end
  return table.concat(out, "|")
end
function join(n) return { type = "join", user = "u" .. n .. "@a.example/r", room = "r@muc.b.example", nick = "n" } end
`;

function run(bin: (typeof INTERPRETERS)[number], script: string): Record<string, string> {
  const out = lua(PRELUDE + script, { bin });
  return Object.fromEntries(out.split('\n').map((l) => l.split('=') as [string, string]));
}

describe.each(INTERPRETERS)('events.lib.lua under %s', (bin) => {
  it('a resync or refresh posts all 3000 live joins through a queue of 100', () => {
    const r = run(
      bin,
      `set_live(3000)
local events = make_events()
events.resync()
local first = drain()
events.repost(live_list)
local again = drain()
print("resync=" .. count(first, "join")); print("refresh=" .. count(again, "join"))`,
    );
    expect(r).toEqual({ resync: '3000', refresh: '3000' });
  });

  it('a resync posts every live join without a host-start', () => {
    const r = run(
      bin,
      `set_live(250)
local events = make_events({ queue_size = 40; batch_size = 10 })
events.resync()
local all = drain()
print("joins=" .. count(all, "join")); print("starts=" .. count(all, "host-start"))`,
    );
    expect(r).toEqual({ joins: '250', starts: '0' });
  });

  it('a batch refused with a 4xx keeps its s2s-closes for a resync after a backoff', () => {
    const r = run(
      bin,
      `set_live(3)
local events = make_events({ retry_min = 1; retry_max = 60 })
events.resync()
drain()
events.enqueue({ type = "join", user = "x@a.example/r", room = "r@muc.b.example", nick = "x" })
events.enqueue({ type = "s2s-close", remotes = { "muc.b.example" }, direction = "out" })
answer('{"error":"unknown host"}', 403)
print("before_backoff=" .. #HTTP)
advance(1)
local after = drain()
print("closes=" .. count(after, "s2s-close")); print("joins=" .. count(after, "join")); print("starts=" .. count(after, "host-start"))`,
    );
    expect(r).toEqual({ before_backoff: '0', closes: '1', joins: '3', starts: '0' });
  });

  it('a lasting 4xx makes few requests under the backoff', () => {
    const r = run(
      bin,
      `set_live(3)
local events = make_events({ retry_min = 1; retry_max = 60 })
events.resync()
drain()
-- A lasting 403: 10 minutes of refusals make few requests (backoff up to retry_max).
local requests = 0
events.enqueue({ type = "join", user = "y@a.example/r", room = "r@muc.b.example", nick = "y" })
for _ = 1, 600 do
  while #HTTP > 0 do answer("no", 403); requests = requests + 1 end
  advance(1)
end
print("lasting=" .. tostring(requests <= 20))`,
    );
    expect(r).toEqual({ lasting: 'true' });
  });

  it('a 2xx that is not the JSON answer is retried under the same webhook-id after a jittered backoff', () => {
    const r = run(
      bin,
      `set_live(0)
math.randomseed(7)
local events = make_events({ retry_min = 1; retry_max = 1 })
events.resync()
events.enqueue(join(1))
local _, first = answer("<html>proxy</html>", 200)
advance(1)
local id = #HTTP > 0 and HTTP[1].headers["webhook-id"]
print("retried=" .. tostring(id == first.headers["webhook-id"]))
-- The retry delays of 20 failures, each within half to all of the step, not all equal.
local delays, seen = {}, {}
for _ = 1, 20 do
  local t0 = CLOCK
  answer("", 503)
  local next_at = math.huge
  for _, t in ipairs(TIMERS) do if not t.stopped and t.at < next_at and t.at > t0 + 0.01 then next_at = t.at end end
  local d = next_at - t0
  delays[#delays + 1] = d; seen[string.format("%.3f", d)] = true
  advance(d)
end
local ok, distinct = true, 0
for _, d in ipairs(delays) do if d < 0.5 or d >= 1 then ok = false end end
for _ in pairs(seen) do distinct = distinct + 1 end
print("in_range=" .. tostring(ok)); print("jitter=" .. tostring(distinct > 5))`,
    );
    expect(r).toEqual({ retried: 'true', in_range: 'true', jitter: 'true' });
  });

  it('s2s-closes held while ping-muc is down keep one per link up to queue_size links', () => {
    const r = run(
      bin,
      `set_live(0)
local events = make_events({ queue_size = 4; batch_size = 2 })
for i = 1, 50 do events.enqueue({ type = "s2s-close", remotes = { "same.example" }, direction = "out" }) end
for i = 1, 50 do events.enqueue({ type = "s2s-close", remotes = { "r" .. i .. ".example" }, direction = "in" }) end
local saved = events.save()
print("kept=" .. tostring(#saved.closes <= 2 + 4 + 4))
local newest = 0
for _, e in ipairs(saved.closes) do if e.remotes[1] == "r50.example" then newest = newest + 1 end end
print("newest=" .. newest)`,
    );
    expect(r).toEqual({ kept: 'true', newest: '1' });
  });

  it('seq never goes back below a posted seq across a restart', () => {
    const r = run(
      bin,
      `set_live(0)
local a = make_events({ mark = MARK })
a.resync()
for i = 1, 5 do a.enqueue({ type = "join", user = "u@a.example/r", room = "r@muc.b.example", nick = "n" }) end
advance(45)
a.enqueue({ type = "leave", user = "u@a.example/r", room = "r@muc.b.example" })
local last = 0
for _, e in ipairs(drain()) do if e.seq > last then last = e.seq end end
-- Killed (nothing saved on the way out), restarted with the clock 50 s back.
CLOCK = CLOCK - 50
local b = make_events({ mark = MARK })
local first = b.enqueue({ type = "join", user = "u@a.example/r", room = "r@muc.b.example", nick = "n" }).seq
print("saved=" .. tostring(MARK.stored >= last))
print("monotonic=" .. tostring(first > last))`,
    );
    expect(r).toEqual({ saved: 'true', monotonic: 'true' });
  });

  it('restarts that post do not push the seq ahead of the clock', () => {
    const r = run(
      bin,
      `set_live(0)
for i = 1, 10 do
  local e = make_events({ mark = MARK })
  e.resync()
  e.enqueue(join(i))
  drain()
  e.unload()
end
print("near=" .. tostring(MARK.stored - CLOCK * 1000000 < 1000))`,
    );
    expect(r).toEqual({ near: 'true' });
  });

  it('a mark ping-muc applied is kept however far the clock goes back', () => {
    const r = run(
      bin,
      `set_live(0)
-- The clock 250 s ahead: ping-muc (up to 300 s) applies the join.
CLOCK = CLOCK + 250
local a = make_events({ mark = MARK })
local ahead = a.enqueue({ type = "join", user = "u@a.example/r", room = "r@muc.b.example", nick = "n" }).seq
drain()
-- Set 60 s behind the true time, then restarted.
CLOCK = CLOCK - 310
local b = make_events({ mark = MARK })
print("above=" .. tostring(b.enqueue({ type = "leave", user = "u@a.example/r", room = "r@muc.b.example" }).seq > ahead))`,
    );
    expect(r).toEqual({ above: 'true' });
  });

  it('seqs ping-muc refused as ahead do not hold the mark up', () => {
    const r = run(
      bin,
      `set_live(0)
local a = make_events({ mark = MARK })
local first = a.enqueue({ type = "join", user = "u@a.example/r", room = "r@muc.b.example", nick = "n" }).seq
drain()
-- A day ahead: ping-muc refuses it.
CLOCK = CLOCK + 86400
a.enqueue({ type = "leave", user = "u@a.example/r", room = "r@muc.b.example" })
answer('{"ok":true,"applied":0,"refused":[{"index":0,"type":"leave","error":"ahead"}]}')
print("lowered=" .. tostring(MARK.stored == first))
CLOCK = CLOCK - 86400
local b = make_events({ mark = MARK })
local s = b.enqueue({ type = "join", user = "u@a.example/r", room = "r@muc.b.example", nick = "n" }).seq
print("near=" .. tostring(s > first and s < CLOCK * 1000000 + 1000))`,
    );
    expect(r).toEqual({ lowered: 'true', near: 'true' });
  });
});

// Epoch and linger (issue 19): what a round reads (the joins of the close's epoch) and how
// many requests a quiet server makes.
describe.each(INTERPRETERS)('events.lib.lua epoch and linger under %s', (bin) => {
  it('every event carries the epoch taken as its instance’s resync began', () => {
    // An undelivered close goes with the new instance's resync, under its epoch: its round reads
    // the joins that resync re-posts.
    const r = run(
      bin,
      `set_live(3)
local a = make_events({ batch_size = 2 })
a.resync()
a.enqueue(join(9))
a.enqueue({ type = "leave", user = "u9@a.example/r", room = "r@muc.b.example" })
a.enqueue({ type = "s2s-close", remotes = { "muc.b.example" }, direction = "out" })
local first = drain()
local epoch, same, below = first[1].epoch, true, true
for _, e in ipairs(first) do
  if e.epoch ~= epoch then same = false end
  if not (e.epoch < e.seq) then below = false end
end
print("posted=" .. #first); print("same=" .. tostring(same)); print("below=" .. tostring(below))
-- Reloaded while a close is undelivered: it takes the new epoch, as the re-posted joins do.
a.enqueue({ type = "s2s-close", remotes = { "muc.c.example" }, direction = "out" })
local saved = a.save()
a.unload()
HTTP = {}
local b = make_events({ saved = saved; batch_size = 2 })
b.resync()
local second = drain()
local fresh, newer = second[#second].epoch, true
for _, e in ipairs(second) do
  if e.epoch ~= fresh then newer = false end
end
print("close=" .. second[1].type); print("new=" .. tostring(fresh > epoch and newer))
b.enqueue(join(10))
print("later=" .. tostring(drain()[1].epoch == fresh))`,
    );
    expect(r).toEqual({ posted: '6', same: 'true', below: 'true', close: 's2s-close', new: 'true', later: 'true' });
  });

  it('the closes kept through an overflow take the new epoch of its resync', () => {
    const r = run(
      bin,
      `set_live(0)
local events = make_events({ queue_size = 4 })
events.resync()
events.enqueue(join(1))
local before = HTTP[1] and json.decode(HTTP[1].body).events[1].epoch
for i = 2, 10 do events.enqueue(join(i)) end -- the request is in flight: the queue overflows
events.enqueue({ type = "s2s-close", remotes = { "muc.b.example" }, direction = "out" })
set_live(2)
local after = drain()
local epochs = {}
for _, e in ipairs(after) do epochs[#epochs + 1] = e.type .. ":" .. tostring(e.epoch == before) end
print("first=" .. tostring(before ~= nil)); print("after=" .. table.concat(epochs, ","))`,
    );
    expect(r).toEqual({ first: 'true', after: 'join:true,s2s-close:false,join:false,join:false' });
  });

  it('joins and leaves wait out the linger to be posted together in order', () => {
    const r = run(
      bin,
      `set_live(0)
local events = make_events({ linger = 5 })
events.resync()
drain()
events.enqueue(join(1))
advance(2)
events.enqueue({ type = "leave", user = "u1@a.example/r", room = "r@muc.b.example" })
events.enqueue(join(2))
advance(2.9)
print("early=" .. pending())
advance(0.2)
print("due=" .. pending())
drain()
advance(60)
print("quiet=" .. pending())`,
    );
    expect(r).toEqual({ early: '', due: 'join,leave,join', quiet: '' });
  });

  it('an s2s-close is posted at once with everything queued before it', () => {
    const r = run(
      bin,
      `set_live(0)
local events = make_events({ linger = 5 })
events.resync()
drain()
events.enqueue(join(1))
events.enqueue({ type = "leave", user = "u1@a.example/r", room = "r@muc.b.example" })
advance(1)
events.enqueue({ type = "s2s-close", remotes = { "muc.b.example" }, direction = "out" })
print("at_once=" .. pending())`,
    );
    expect(r).toEqual({ at_once: 'join,leave,s2s-close' });
  });

  it('a full batch is posted at once ahead of what is queued behind it', () => {
    const r = run(
      bin,
      `set_live(0)
local events = make_events({ linger = 5; batch_size = 3 })
events.resync()
drain()
for i = 1, 4 do events.enqueue(join(i)) end
print("full=" .. pending())
answer()
print("rest=" .. pending())
advance(5)
print("lingered=" .. pending())`,
    );
    expect(r).toEqual({ full: 'join,join,join', rest: '', lingered: 'join' });
  });

  it('a queue half full goes at once: the linger never overflows a small queue', () => {
    const r = run(
      bin,
      `set_live(0)
local events = make_events({ linger = 5; queue_size = 10 })
events.resync()
drain()
for i = 1, 4 do events.enqueue(join(i)) end
print("below=" .. pending())
events.enqueue(join(5))
print("half=" .. pending())`,
    );
    expect(r).toEqual({ below: '', half: 'join,join,join,join,join' });
  });

  it('a due heartbeat waits for the next batch', () => {
    const r = run(
      bin,
      `set_live(0)
local events = make_events({ linger = 5; heartbeat = 60 })
events.resync()
drain()
advance(58)
events.enqueue(join(1))
advance(2) -- the heartbeat is due: it waits with the join
print("due=" .. pending())
advance(3)
print("together=" .. pending())`,
    );
    expect(r).toEqual({ due: '', together: 'join,heartbeat' });
  });

  it('an idle module posts a heartbeat alone once a minute', () => {
    const r = run(
      bin,
      `set_live(0)
local events = make_events({ linger = 5; heartbeat = 60 })
events.resync()
drain()
local requests = 0
for _ = 1, 620 do
  advance(1)
  while #HTTP > 0 do
    local evs = answer()
    if types(evs) == "heartbeat" then requests = requests + 1 end
  end
end
print("idle=" .. requests)`,
    );
    expect(r).toEqual({ idle: '10' });
  });
});
