-- Replays a history of what happens to one server through the module's real libraries (joins,
-- events, items, delivery, api, outcome, wire), with harness.lua standing in for Prosody: one
-- JSON object per line on stdin, one JSON answer per line on stdout, { result, events } where
-- events are the events the module posted meanwhile (ping-muc answering 200 at once).
-- Operations (user: a full JID of a.example; room: a bare room JID; nick):
--   { op = "join", user, room, nick, request = true|false }  the room reflects a self-presence
--       (request: the client asked to join, as a (re)join does; false: a presence update)
--   { op = "leave", user, room, nick }       the room reflects the user's leave
--   { op = "end", user }                     the session ends
--   { op = "notify", user, room, nick, since }                 -> "sent" | "no-session" | refused code
--   { op = "heal", user, room, nick, since, reply = xml|nil }  -> "sent" | "no-session" | "timeout"
--       | "relayed" | refused code (reply: the inner XML of an error reply, "" for a result,
--       nil for none; the reply comes from the occupant pinged)
--   { op = "reload" }                        the module is reloaded: sessions stay, it resyncs
--   { op = "advance", seconds }              the clock moves on
local json = require "util.json";
local st = require "util.stanza";
local xml = require "util.xml";

local MUC, MUC_USER = "http://jabber.org/protocol/muc", "http://jabber.org/protocol/muc#user";
local wire = lib("wire");
local joins, events, api;
local saved = {};

local function load()
	events = lib("events")({ url = "http://x/events"; sign = function () return "v1,x"; end; wire = wire;
		queue_size = 1000; batch_size = 500; retry_min = 1; retry_max = 60; http_timeout = 30; heartbeat = 0;
		linger = 0; saved = saved.events;
		live = function () return joins.live(); end; rejoin = function (u, r) return joins.rejoin(u, r); end });
	joins = lib("joins")({ enqueue = events.enqueue; refresh = 604800 });
	local request = lib("request")({ batch_max_items = 500; batch_max_bytes = 262144;
		verifier = { verify = function () return "msg"; end; sweep = function () end; save = function () return {}; end } });
	local delivery = lib("delivery")({ forget = joins.forget; reason = "Connection to remote server lost";
		ping_timeout = 10; max_inflight = 1000 });
	api = lib("api")({ request = request; check = lib("items")({ rooms = joins.rooms; seq = wire.seq });
		delivery = delivery; outcome = lib("outcome"); rooms = joins.rooms; ping_timeout = 10 });
	events.resync();
end

-- The events posted so far, each request answered 200.
local function drain()
	local out = {};
	while #HTTP > 0 do
		local req = table.remove(HTTP, 1);
		for _, e in ipairs(json.decode(req.body).events) do out[#out + 1] = e; end
		req.cb('{"ok":true}', 200);
	end
	return out;
end

local function session(user)
	return prosody.full_sessions[user] or connect(user);
end

local function call(item)
	local response = { headers = {} };
	function response:send(b) self.body = b; end
	api.handle({ request = { body = '<batch xmlns="urn:ping-muc:stanza-api:2" version="3">' .. item .. "</batch>"; headers = {} };
		response = response });
	return response;
end

local function answer_of(response)
	if not response.body then return nil; end
	local root = xml.parse(response.body);
	local a = root and root.tags[1] and root.tags[1].tags[1];
	if not a then return "http " .. tostring(response.status_code); end
	if a.name == "refused" then return "refused " .. a.attr.code; end
	if a.name == "iq" then return "relayed"; end
	return a.name;
end

local ops = {};
function ops.join(o)
	local s, to = session(o.user), o.room .. "/" .. o.nick;
	if o.request ~= false then joins.request(s, st.presence({ from = o.user; to = to }):tag("x", { xmlns = MUC }):up()); end
	s.directed[to] = true;
	joins.track(st.presence({ from = to; to = o.user }):tag("x", { xmlns = MUC_USER })
		:tag("item", { affiliation = "none"; role = "participant" }):up():tag("status", { code = "110" }):up():up());
	local join = s.ping_muc_cloud_rooms and s.ping_muc_cloud_rooms[o.room];
	return join and wire.seq(join.since);
end
function ops.leave(o)
	joins.track(st.presence({ type = "unavailable"; from = o.room .. "/" .. o.nick; to = o.user }):tag("x", { xmlns = MUC_USER })
		:tag("item", { affiliation = "none"; role = "none" }):up():tag("status", { code = "110" }):up():up());
end
ops["end"] = function (o)
	local s = prosody.full_sessions[o.user];
	if not s then return; end
	joins.ended(s);
	prosody.full_sessions[o.user] = nil;
	local hs = prosody.hosts[s.host];
	if hs and hs.sessions[s.username] then hs.sessions[s.username].sessions[s.resource] = nil; end
end
function ops.notify(o)
	local occupant = o.room .. "/" .. o.nick;
	local presence = ('<presence type="unavailable" id="n" from="%s" to="%s"><x xmlns="%s">'
		.. '<item affiliation="none" role="none"/><status code="110"/><status code="333"/></x></presence>')
		:format(occupant, o.user, MUC_USER);
	return answer_of(call(('<notify id="n" since="%s">%s</notify>'):format(o.since, presence)));
end
function ops.heal(o)
	local occupant = o.room .. "/" .. o.nick;
	local before = #SENT;
	local response = call(('<heal id="h" since="%s"><iq type="get" id="h" from="%s" to="%s"><ping xmlns="urn:xmpp:ping"/></iq></heal>')
		:format(o.since, o.user, occupant));
	local ping = SENT[before + 1];
	if ping and ping.name == "iq" then
		if o.reply then
			local r = st.iq({ type = o.reply == "" and "result" or "error"; id = ping.attr.id; from = ping.attr.to; to = ping.attr.from });
			if o.reply ~= "" then r:add_child(xml.parse(o.reply)); end
			api.reply({ stanza = r });
		else
			advance(10);
		end
	end
	return answer_of(response);
end
function ops.reload()
	saved = { events = events.save() };
	events.unload();
	load();
end
function ops.advance(o) advance(o.seconds); end

load();
drain();
for line in io.lines() do
	local o = json.decode(line);
	local result = assert(ops[o.op], "unknown op " .. tostring(o.op))(o);
	print(json.encode({ result = result or json.null; events = drain() }));
end
