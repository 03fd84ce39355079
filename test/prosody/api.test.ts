// The stanza API (request, items, delivery, api and joins libraries) driven from plain Lua with
// Prosody's own util.* (0.12 and 13): HTTP requests are handed to the route, what the module
// sends is recorded, and replies to its self-pings are fed back as Prosody would route them.
import { describe, expect, it } from 'vitest';
import { lua, PROSODY_LIBS, type ProsodyVersion } from './lua';

const PRELUDE = `
local st = require "util.stanza"
local wire = lib("wire")
local MUC, MUC_USER = "http://jabber.org/protocol/muc", "http://jabber.org/protocol/muc#user"
EVENTS = {}
local seq = 1764075600000000
local function enqueue(e) if not e.seq then seq = seq + 1; e.seq = seq end; EVENTS[#EVENTS + 1] = e; return e end
joins = lib("joins")({ enqueue = enqueue; refresh = 604800 })
local request = lib("request")({ batch_max_items = 500; batch_max_bytes = 262144;
  verifier = { verify = function () return "msg" end; sweep = function () end; save = function () return {} end } })
local delivery = lib("delivery")({ forget = joins.forget; reason = "Connection to remote server lost"; ping_timeout = 10; max_inflight = 100 })
api = lib("api")({ request = request; check = lib("items")({ rooms = joins.rooms; seq = wire.seq }); delivery = delivery;
  outcome = lib("outcome"); rooms = joins.rooms; ping_timeout = 10 })
RESPONSES = {}
-- POSTs a body; the response (status_code, body, headers) is filled once the module answers.
function call(body)
  local response = { headers = {} }
  function response:send(b) self.body = b end
  api.handle({ request = { body = body; headers = {} }; response = response })
  return response
end
function batch(items) return '<batch xmlns="urn:ping-muc:stanza-api:2" version="3">' .. items .. '</batch>' end
function ping_iq(id, user, occupant)
  return ('<iq type="get" id="%s" from="%s" to="%s"><ping xmlns="urn:xmpp:ping"/></iq>'):format(id, user, occupant)
end
function heal(id, since, user, occupant) return ('<heal id="%s" since="%s">%s</heal>'):format(id, since, ping_iq(id, user, occupant)) end
function notify(id, since, user, occupant, pid)
  return ('<notify id="%s" since="%s"><presence type="unavailable" id="%s" from="%s" to="%s"><x xmlns="%s"><item affiliation="none" role="none"><reason>x</reason></item><status code="110"/><status code="333"/></x></presence></notify>')
    :format(id, since, pid or id, occupant, user, MUC_USER)
end
-- A session joins room/nick as a client does: the join request, then the room's reflection.
function join(user, room, nick, request_it)
  local session = prosody.full_sessions[user] or connect(user)
  local to = room .. "/" .. nick
  if request_it ~= false then joins.request(session, st.presence({ from = user; to = to }):tag("x", { xmlns = MUC }):up()) end
  session.directed[to] = true
  joins.track(st.presence({ from = to; to = user }):tag("x", { xmlns = MUC_USER })
    :tag("item", { affiliation = "none"; role = "participant" }):up():tag("status", { code = "110" }):up():up())
  return session.ping_muc_cloud_rooms[room]
end
-- The stanzas the module sent of a kind ("iq" or "presence").
function sent(name)
  local out = {}
  for _, s in ipairs(SENT) do if s.name == name then out[#out + 1] = s end end
  return out
end
-- A reply to a sent self-ping, as Prosody routes it to the module's iq/full hook.
function answer_ping(ping, xml_inner, from, type_)
  local r = st.iq({ type = type_ or (xml_inner and "error" or "result"); id = ping.attr.id; from = from or ping.attr.to; to = ping.attr.from })
  if xml_inner then r:add_child(require "util.xml".parse(xml_inner)) end
  return api.reply({ stanza = r })
end
function item_of(response, id)
  local root = require "util.xml".parse(response.body)
  for item in root:childtags("item") do if item.attr.id == id then return item.tags[1] end end
end
function out(k, v) print(k .. "=" .. tostring(v)) end
U, ROOM, OCC = "alice@a.example/phone", "lobby@muc.b.example", "lobby@muc.b.example/Alice"
GONE = '<error type="cancel" by="muc.b.example"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>'
`;

function run(prosody: ProsodyVersion, script: string): Record<string, string> {
  const out = lua(PRELUDE + script, { prosody });
  return Object.fromEntries(
    out.split('\n').map((l) => {
      const i = l.indexOf('=');
      return [l.slice(0, i), l.slice(i + 1)];
    }),
  );
}

describe.each(Object.keys(PROSODY_LIBS) as ProsodyVersion[])('the stanza API with Prosody %s', (prosody) => {
  it('takes only <batch version="3">: a single stanza or another version is answered 400 <unsupported-version/>', () => {
    const r = run(
      prosody,
      `local UNSUPPORTED = '<unsupported-version xmlns="urn:ping-muc:stanza-api:2" supported="3"/>'
local function is_unsupported(resp)
  local x = require "util.xml".parse(resp.body or "")
  return resp.status_code == 400 and resp.headers.content_type == "application/xml" and x and x.name == "unsupported-version"
    and x.attr.xmlns == "urn:ping-muc:stanza-api:2" and x.attr.supported == "3"
end
join(U, ROOM, "Alice")
out("single", is_unsupported(call(ping_iq("p1", U, OCC))))
out("no_version", is_unsupported(call('<batch xmlns="urn:ping-muc:stanza-api:2">' .. ping_iq("p1", U, OCC) .. '</batch>')))
out("version_2", is_unsupported(call('<batch xmlns="urn:ping-muc:stanza-api:2" version="2">' .. ping_iq("p1", U, OCC) .. '</batch>')))
local resp = call(batch(ping_iq("p1", U, OCC) .. '<presence type="unavailable" id="p2" from="' .. OCC .. '" to="' .. U .. '"/>'))
answer_ping(sent("iq")[1])
local root = require "util.xml".parse(resp.body)
out("answer_version", root.attr.version)
out("ping_relayed", item_of(resp, "p1").name .. " " .. item_of(resp, "p1").attr.type)
out("bare_presence", item_of(resp, "p2").name .. " " .. item_of(resp, "p2").attr.code)`,
    );
    expect(r).toEqual({
      single: 'true',
      no_version: 'true',
      version_2: 'true',
      answer_version: '3',
      ping_relayed: 'iq result',
      bare_presence: 'refused 403',
    });
  });

  it('runs a batch for another local host on its instance only when that instance holds the same API keys', () => {
    const r = run(
      prosody,
      `local KEYS = { "k-current", "k-previous" }
api = lib("api")({ request = request; check = lib("items")({ rooms = joins.rooms; seq = wire.seq }); delivery = delivery;
  outcome = lib("outcome"); rooms = joins.rooms; ping_timeout = 10; keys = function () return KEYS end })
out("exported", module.ping_muc_cloud_peer ~= nil and module.ping_muc_cloud_peer.keys() == KEYS)
local RAN = {}
local function instance(host, keys)
  return { module = { ping_muc_cloud_peer = { keys = function () return keys end;
    batch = function (items, response) RAN[#RAN + 1] = host .. ":" .. #items; response:send("ran by " .. host); return true end } } }
end
prosody.hosts["same.example"] = { type = "local"; modules = { ping_muc_cloud = instance("same.example", { "k-previous", "k-current" }) } }
prosody.hosts["other.example"] = { type = "local"; modules = { ping_muc_cloud = instance("other.example", { "k-current" }) } }
prosody.hosts["bare.example"] = { type = "local"; modules = {} }
prosody.hosts["comp.example"] = { type = "component"; modules = { ping_muc_cloud = instance("comp.example", KEYS) } }
local function call_as(body, host)
  local response = { headers = {} }
  function response:send(b) self.body = b end
  api.handle({ request = { body = body; headers = { ping_muc_host = host } }; response = response })
  return response
end
local function answer(resp)
  if resp.body:find("^ran by") then return resp.body end
  local it = item_of(resp, "p1"); return it.name .. " " .. tostring(it.attr.code)
end
out("same", answer(call(batch(ping_iq("p1", "zoe@same.example/pc", OCC)))))
out("other", answer(call(batch(ping_iq("p1", "zoe@other.example/pc", OCC)))))
out("bare", answer(call(batch(ping_iq("p1", "zoe@bare.example/pc", OCC)))))
out("comp", answer(call(batch(ping_iq("p1", "zoe@comp.example/pc", OCC)))))
out("notify", answer(call(batch(notify("p1", "1", "zoe@same.example/pc", OCC)))))
out("server_ping_header", answer(call_as(batch('<server-ping xmlns="urn:ping-muc:stanza-api:2" id="p1" to="b.example"/>'), "SAME.example")))
out("items_over_header", answer(call_as(batch(ping_iq("p1", "zoe@other.example/pc", OCC)), "same.example")))
out("ran", table.concat(RAN, ","))
out("sent", #SENT)`,
    );
    expect(r).toEqual({
      exported: 'true',
      same: 'ran by same.example',
      other: 'refused 403',
      bare: 'refused 403',
      comp: 'refused 403',
      notify: 'ran by same.example',
      server_ping_header: 'ran by same.example',
      items_over_header: 'refused 403',
      ran: 'same.example:1,same.example:1,same.example:1',
      sent: '0',
    });
  });

  it('refuses 400 a heal or notification without an integer since of at most 16 digits', () => {
    const r = run(
      prosody,
      `join(U, ROOM, "Alice")
local resp = call(batch('<heal id="h1">' .. ping_iq("h1", U, OCC) .. '</heal>' .. notify("n1", "12345678901234567", U, OCC)
  .. notify("n2", "1x", U, OCC) .. notify("n3", "1", U, OCC, string.rep("i", 257))))
for _, id in ipairs({ "h1", "n1", "n2", "n3" }) do out(id, item_of(resp, id).name .. " " .. tostring(item_of(resp, id).attr.code)) end
out("sent", #SENT)`,
    );
    expect(r).toEqual({ h1: 'refused 400', n1: 'refused 400', n2: 'refused 400', n3: 'refused 400', sent: '0' });
  });

  it('answers <no-session/> without a ping to a heal of another since', () => {
    const r = run(
      prosody,
      `local since = wire.seq(join(U, ROOM, "Alice").since)
local resp = call(batch(heal("h1", since + 1, U, OCC)))
out("other_since", item_of(resp, "h1").name); out("pings", #sent("iq"))`,
    );
    expect(r).toEqual({ other_since: 'no-session', pings: '0' });
  });

  it('pings the occupant of a heal of this since then notifies its ghost', () => {
    const r = run(
      prosody,
      `local since = wire.seq(join(U, ROOM, "Alice").since)
local resp = call(batch(heal("h2", since, U, OCC)))
out("pings_after", #sent("iq"))
out("consumed", answer_ping(sent("iq")[1], GONE))
out("healed", item_of(resp, "h2").name)
local told = sent("presence")[1]
out("told", told.attr.to .. " " .. told.attr.from .. " " .. told.attr.type)
out("forgotten", joins.rooms(U)[ROOM] == nil)`,
    );
    expect(r).toEqual({
      pings_after: '1',
      consumed: 'true',
      healed: 'sent',
      told: 'alice@a.example/phone lobby@muc.b.example/Alice unavailable',
      forgotten: 'true',
    });
  });

  it('a same-nick rejoin is a new join that the old since no longer reaches', () => {
    const r = run(
      prosody,
      `local first = join(U, ROOM, "Alice")
local old = wire.seq(first.since)
-- A presence update in the room is reflected with 110 too: the same join, nothing posted.
join(U, ROOM, "Alice", false)
out("update_events", #EVENTS); out("update_same", joins.rooms(U)[ROOM] == first)
local again = join(U, ROOM, "Alice")
out("rejoin_events", #EVENTS); out("new_table", again ~= first); out("new_since", wire.seq(again.since) ~= old)
out("event", EVENTS[2].type .. " " .. EVENTS[2].nick .. " " .. tostring(EVENTS[2].since == nil))
local resp = call(batch(notify("n1", old, U, OCC) .. heal("h1", old, U, OCC)))
out("notify_old", item_of(resp, "n1").name); out("heal_old", item_of(resp, "h1").name)
out("sent", #SENT)`,
    );
    expect(r).toEqual({
      update_events: '1',
      update_same: 'true',
      rejoin_events: '2',
      new_table: 'true',
      new_since: 'true',
      event: 'join Alice true',
      notify_old: 'no-session',
      heal_old: 'no-session',
      sent: '0',
    });
  });

  it('a notification repeated after the told client rejoined is not delivered again', () => {
    const r = run(
      prosody,
      `local since = wire.seq(join(U, ROOM, "Alice").since)
local first = call(batch(notify("n1", since, U, OCC)))
out("first", item_of(first, "n1").name)
join(U, ROOM, "Alice") -- the told client rejoins at once
local again = call(batch(notify("n1", since, U, OCC)))
out("again", item_of(again, "n1").name); out("told", #sent("presence"))`,
    );
    expect(r).toEqual({ first: 'sent', again: 'no-session', told: '1' });
  });

  it('a heal takes its reply only from the occupant JID pinged (after jid.prep)', () => {
    const r = run(
      prosody,
      `local since = wire.seq(join(U, ROOM, "Alice").since)
local resp = call(batch(heal("h1", since, U, OCC)))
local ping = sent("iq")[1]
local forged = answer_ping(ping, GONE, "bob@a.example/pc")
out("forged", forged)
out("pending", tostring(resp.body == nil)); out("told", #sent("presence"))
out("prepped", answer_ping(ping, nil, "LOBBY@muc.B.example/Alice"))
out("answer", item_of(resp, "h1").name .. " " .. item_of(resp, "h1").attr.type)`,
    );
    expect(r).toEqual({ forged: 'nil', pending: 'true', told: '0', prepped: 'true', answer: 'iq result' });
  });

  it('a heal relays a malformed error to the reader instead of notifying', () => {
    const r = run(
      prosody,
      `local since = wire.seq(join(U, ROOM, "Alice").since)
local resp = call(batch(heal("h1", since, U, OCC) .. heal("h2", since, U, OCC)))
answer_ping(sent("iq")[1], '<error type="cancel" by="lobby@muc.b.example"/>')
answer_ping(sent("iq")[2], '<error type="cancel" by="lobby@muc.b.example"><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">a</text><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">b</text><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>')
for _, id in ipairs({ "h1", "h2" }) do
  local e = item_of(resp, id):get_child("error")
  out(id, item_of(resp, id).name .. " " .. #e.tags)
end
out("told", #sent("presence"))`,
    );
    expect(r).toEqual({ h1: 'iq 0', h2: 'iq 0', told: '0' });
  });

  it('a batch sends one server ping per remote domain', () => {
    const r = run(
      prosody,
      `prosody.hosts["muc.a.example"] = { type = "component" }
local resp = call(batch('<server-ping id="s1" to="b.example"/><server-ping id="s2" to="B.example"/><server-ping id="s3" to="muc.a.example"/><server-ping id="s4" to="a.example"/>'))
for _, id in ipairs({ "s1", "s2", "s3", "s4" }) do out(id, item_of(resp, id).name) end
out("pings", #sent("iq"))`,
    );
    expect(r).toEqual({ s1: 'sent', s2: 'sent', s3: 'refused', s4: 'refused', pings: '1' });
  });
});

describe('joins.lib.lua', () => {
  it("walks only this host's sessions to list its joins", () => {
    const r = run(
      '0.12',
      `join(U, ROOM, "Alice")
setmetatable(prosody.full_sessions, { __pairs = function () error("walked every host's sessions") end })
out("live", #joins.live()); out("stale", #joins.stale())`,
    );
    expect(r).toEqual({ live: '1', stale: '0' });
  });
});
