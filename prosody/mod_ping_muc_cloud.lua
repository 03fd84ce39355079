-- mod_ping_muc_cloud: the server side of ping-muc (https://github.com/ping-muc)
--
-- Tells ping-muc about MUC joins, ended sessions and lost s2s links (signed
-- webhook events), and serves the narrow "stanza API" that ping-muc calls
-- back to self-ping rooms (XEP-0410) and to notify users who fell out.
--
-- MIT licensed. Depends on nothing outside Prosody 0.12+.

local base64 = require "util.encodings".base64;
local hashes = require "util.hashes";
local http = require "net.http";
local id = require "util.id";
local jid = require "util.jid";
local json = require "util.json";
local st = require "util.stanza";
local time = require "util.time";
local xml = require "util.xml";

local full_sessions = prosody.full_sessions;
local hosts = prosody.hosts;

if module:get_host_type() ~= "local" then
	module:log("error", "mod_%s must be loaded on a VirtualHost, not on a Component", module.name);
	error("mod_" .. module.name .. " loaded on a component");
end

-- Options, read once.
local events_url = module:get_option_string("ping_muc_cloud_events_url");
local webhook_secret = module:get_option_string("ping_muc_cloud_webhook_secret");
local api_secret = module:get_option_string("ping_muc_cloud_api_secret");
local ping_timeout = module:get_option_number("ping_muc_cloud_ping_timeout", 10);
local max_inflight = module:get_option_number("ping_muc_cloud_max_inflight", 10000);
local queue_size = module:get_option_number("ping_muc_cloud_queue_size", 10000);
local batch_size = module:get_option_number("ping_muc_cloud_batch_size", 100);
local retry_min = module:get_option_number("ping_muc_cloud_retry_min", 1);
local retry_max = module:get_option_number("ping_muc_cloud_retry_max", 60);
local http_timeout = module:get_option_number("ping_muc_cloud_http_timeout", 30);
local join_refresh = module:get_option_number("ping_muc_cloud_join_refresh", 86400);

local API_NS = "urn:ping-muc:stanza-api:1";
local MUC_USER_NS = "http://jabber.org/protocol/muc#user";
local TOLERANCE = 300; -- seconds, as in Standard Webhooks
local MAX_API_BODY = 16 * 1024;
local MIN_KEY_BYTES = 24;

-- A secret written whsec_<base64> is the decoded bytes, anything else its own bytes.
local function secret_key(name, secret)
	if not secret or secret == "" then
		module:log("error", "%s is required, refusing to load", name);
		error(name .. " is not set");
	end
	local key = secret;
	if secret:sub(1, 6) == "whsec_" then key = base64.decode(secret:sub(7)) or ""; end
	if #key < MIN_KEY_BYTES then
		module:log("error", "%s is too weak (%d bytes, at least %d needed), refusing to load", name, #key, MIN_KEY_BYTES);
		error(name .. " is too weak");
	end
	return key;
end

if not events_url or not events_url:match("^https?://") then
	module:log("error", "ping_muc_cloud_events_url is required (an http(s) URL), refusing to load");
	error("ping_muc_cloud_events_url is not set");
end
if batch_size < 1 or batch_size > 500 then
	-- ping-muc takes at most 500 events per request.
	module:log("warn", "ping_muc_cloud_batch_size must be 1 to 500, using %d", batch_size < 1 and 1 or 500);
	batch_size = batch_size < 1 and 1 or 500;
end
local webhook_key = secret_key("ping_muc_cloud_webhook_secret", webhook_secret);
local api_key = secret_key("ping_muc_cloud_api_secret", api_secret);

-- Implemented below the hooks.
local enqueue, track_presence, s2s_remotes, handle_api, handle_reply, announce_host;

module:depends("http");

-- Reflected MUC self-presence tells us about joins, nick changes and leaves.
-- Priority 1: ahead of mod_presence, which delivers the stanza and ends the event.
module:hook("presence/full", function (event)
	track_presence(event.stanza);
end, 1);

module:hook("resource-unbind", function (event)
	local session = event.session;
	-- A session that never joined a room has nothing for ping-muc to forget.
	if session.ping_muc_cloud_rooms and session.full_jid then
		enqueue({ type = "session-end", user = session.full_jid });
	end
end);

-- Both directions of one link fire this; ping-muc coalesces them.
module:hook_global("s2s-destroyed", function (event)
	local direction, remotes = s2s_remotes(event.session);
	if direction then
		enqueue({ type = "s2s-close", remotes = remotes, direction = direction });
	end
end);

-- Replies to our own self-pings are consumed here, before mod_iq delivers them.
module:hook("iq/full", function (event) return handle_reply(event); end, 1000);

module:provides("http", {
	name = "ping_muc_cloud";
	route = {
		["POST /stanza"] = function (event) return handle_api(event); end;
	};
});

---------------------------------------------------------------------------
-- Events
---------------------------------------------------------------------------

local last_seq = 0;
-- Server clock in microseconds, strictly increasing so ping-muc can order events.
local function next_seq()
	local now_us = math.floor(time.now() * 1000000);
	if now_us <= last_seq then now_us = last_seq + 1; end
	last_seq = now_us;
	return now_us;
end

local queue, q_first, q_last = {}, 1, 0;
local dropped = 0;
local sending = nil; -- the batch in flight: { id, body, count, attempt }
local flush;

function enqueue(event)
	event.seq = next_seq();
	event.host = module.host;
	if q_last - q_first + 1 >= queue_size then
		-- Keep what is queued (it is older and in order), lose the newcomer.
		dropped = dropped + 1;
		if dropped == 1 or dropped % 1000 == 0 then
			module:log("warn", "Event queue full (%d), dropped %d event(s) so far, latest: %s %s",
				queue_size, dropped, event.type, event.user or "");
		end
		return;
	end
	q_last = q_last + 1;
	queue[q_last] = event;
	flush();
end

local function sign(key, msg_id, timestamp, body)
	return "v1," .. base64.encode(hashes.hmac_sha256(key, msg_id .. "." .. timestamp .. "." .. body));
end

local function drop_batch(count)
	for i = q_first, q_first + count - 1 do queue[i] = nil; end
	q_first = q_first + count;
end

local function post_batch()
	local batch = sending;
	local timestamp = tostring(os.time());
	local done = false;
	local req;
	local function finished(body, code)
		if done then return; end
		done = true;
		if code >= 200 and code < 300 then
			drop_batch(batch.count);
			sending = nil;
			if dropped > 0 then
				module:log("warn", "Delivery resumed; %d event(s) had been dropped while the queue was full", dropped);
				dropped = 0;
			end
			return flush();
		elseif code >= 400 and code < 500 and code ~= 408 and code ~= 429 then
			-- Retrying a refused request cannot help: drop it loudly.
			module:log("error", "ping-muc refused %d event(s) with HTTP %d: %s", batch.count, code, tostring(body):sub(1, 300));
			drop_batch(batch.count);
			sending = nil;
			return flush();
		end
		-- 5xx, 408, 429 (a throttled endpoint) or a network error: retry the same webhook-id, order kept.
		batch.attempt = batch.attempt + 1;
		local delay = math.min(retry_max, retry_min * 2 ^ (batch.attempt - 1));
		module:log("warn", "Delivering %d event(s) failed (%s), retry %d in %gs",
			batch.count, code == 0 and tostring(body) or ("HTTP " .. code), batch.attempt, delay);
		module:add_timer(delay, post_batch);
	end
	req = http.request(events_url, {
		method = "POST";
		body = batch.body;
		headers = {
			["Content-Type"] = "application/json";
			["webhook-id"] = batch.id;
			["webhook-timestamp"] = timestamp;
			["webhook-signature"] = sign(webhook_key, batch.id, timestamp, batch.body);
		};
	}, function (body, code) finished(body, tonumber(code) or 0); end);
	-- net.http has no timeout of its own.
	module:add_timer(http_timeout, function ()
		if not done and req and req.cancel then req:cancel("timeout"); end
		finished("timeout", 0);
	end);
end

function flush()
	if sending or q_last < q_first then return; end
	local events = {};
	for i = q_first, math.min(q_last, q_first + batch_size - 1) do
		events[#events + 1] = queue[i];
	end
	sending = { id = "msg_" .. id.long(), body = json.encode({ v = 1, events = events }), count = #events, attempt = 0 };
	post_batch();
end

---------------------------------------------------------------------------
-- Join tracking (as mod_track_muc_joins)
---------------------------------------------------------------------------

local function has_status(muc_x, code)
	for status in muc_x:childtags("status") do
		if status.attr.code == code then return true; end
	end
	return false;
end

-- The room may rewrite the nick (status 210), so any presence sent into the room counts.
local function sent_presence_to(session, room, occupant)
	if session.directed[occupant] then return true; end
	for to in pairs(session.directed) do
		if jid.bare(to) == room then return true; end
	end
	return false;
end

function track_presence(stanza)
	local session = full_sessions[stanza.attr.to];
	if not session or not session.directed then return; end
	local muc_x = stanza:get_child("x", MUC_USER_NS);
	if not muc_x or not has_status(muc_x, "110") then return; end -- not our own reflection
	local from = stanza.attr.from;
	local room, room_host, nick = jid.bare(from), jid.host(from), jid.resource(from);
	-- Rooms served by this very Prosody never lose an s2s link.
	if not nick or hosts[room_host] then return; end
	local rooms = session.ping_muc_cloud_rooms;
	local kind = stanza.attr.type;
	if kind == nil then
		if not sent_presence_to(session, room, from) then return; end -- never sent presence there: not a join
		if not rooms then rooms = {}; session.ping_muc_cloud_rooms = rooms; end
		local known = rooms[room];
		local now = time.now();
		-- Every presence update in the room is reflected with 110; post only news.
		if known and known.nick == nick and now - known.at < join_refresh then return; end
		rooms[room] = { nick = nick, at = now };
		enqueue({ type = "join", user = session.full_jid, room = room, nick = nick });
	elseif kind == "unavailable" then
		-- 303 is the first half of a nick change: the join with the new nick follows.
		if has_status(muc_x, "303") or not rooms or not rooms[room] then return; end
		rooms[room] = nil;
		enqueue({ type = "leave", user = session.full_jid, room = room });
	end
	-- Errors and other types are ignored.
end

---------------------------------------------------------------------------
-- Lost links
---------------------------------------------------------------------------

function s2s_remotes(session)
	local direction, remote;
	-- Only authenticated links: a failed attempt (s2sout_unauthed) lost nothing.
	if session.type == "s2sout" and session.from_host == module.host then
		direction, remote = "out", session.to_host;
	elseif session.type == "s2sin" and session.to_host == module.host then
		direction, remote = "in", session.from_host;
	else
		return nil;
	end
	local remotes, seen = {}, {};
	local function add(h)
		if h and h ~= module.host and not seen[h] then seen[h] = true; remotes[#remotes + 1] = h; end
	end
	add(remote);
	if session.hosts then -- multiplexed domains
		for h, state in pairs(session.hosts) do
			if state.authed then add(h); end
		end
	end
	if #remotes == 0 then return nil; end
	return direction, remotes;
end

---------------------------------------------------------------------------
-- Stanza API
---------------------------------------------------------------------------

local inflight, inflight_count = {}, 0; -- our ping id -> { orig_id, user, response, timer }
local late = {}; -- ping ids that timed out -> expiry, so late replies are swallowed
local replays = {}; -- webhook-id -> expiry

local function respond(response, code, body, content_type)
	response.status_code = code;
	response.headers.content_type = content_type or (code == 200 and "application/xml" or "text/plain; charset=utf-8");
	response:send(body);
end

local function api_ns(name)
	return tostring(st.stanza(name, { xmlns = API_NS }));
end

local function verify(headers, body)
	local msg_id, timestamp, signatures = headers.webhook_id, headers.webhook_timestamp, headers.webhook_signature;
	if not msg_id or not timestamp or not signatures then
		return nil, "missing webhook-id, webhook-timestamp or webhook-signature";
	end
	if #msg_id > 256 then return nil, "webhook-id too long"; end
	if not timestamp:match("^%d+$") or #timestamp > 12 then return nil, "webhook-timestamp is not Unix seconds"; end
	if math.abs(os.time() - tonumber(timestamp)) > TOLERANCE then
		return nil, "webhook-timestamp outside the 5 minute tolerance";
	end
	local expected = sign(api_key, msg_id, timestamp, body);
	local ok = false;
	for candidate in signatures:gmatch("%S+") do
		if #candidate == #expected and hashes.equals(candidate, expected) then ok = true; end
	end
	if not ok then return nil, "bad webhook-signature"; end
	local now = os.time();
	if replays[msg_id] and replays[msg_id] > now then return nil, "replayed webhook-id"; end
	replays[msg_id] = now + 2 * TOLERANCE;
	return msg_id;
end

-- A full JID of a connected-or-not user of this host; nil, reason otherwise.
local function local_full_jid(j)
	local node, host, resource = jid.split(j);
	if not (node and resource) or host ~= module.host then return nil; end
	return j;
end

-- A room occupant JID, i.e. a full JID on a domain that is not a user host of ours.
local function occupant_jid(j)
	local node, host, resource = jid.prepped_split(j);
	if not (node and host and resource) or host == module.host then return nil; end
	if hosts[host] and hosts[host].type == "local" then return nil; end
	return j;
end

local function only_attrs(tag, allowed)
	for k in pairs(tag.attr) do
		if not allowed[k] then return false; end
	end
	return true;
end

local IQ_ATTRS = { type = true, id = true, from = true, to = true, xmlns = true };
local PRESENCE_ATTRS = IQ_ATTRS;

local function api_ping(stanza, response)
	local ping = stanza.tags[1];
	if stanza.attr.type ~= "get" or #stanza.tags ~= 1 or not only_attrs(stanza, IQ_ATTRS)
	or ping.name ~= "ping" or ping.attr.xmlns ~= "urn:xmpp:ping" or #ping.tags > 0 then
		return respond(response, 403, "only a self-ping (urn:xmpp:ping) iq get is allowed");
	end
	local orig_id = stanza.attr.id;
	if not orig_id or orig_id == "" or #orig_id > 256 then return respond(response, 400, "iq needs an id"); end
	local user, occupant = local_full_jid(stanza.attr.from), occupant_jid(stanza.attr.to);
	if not user then return respond(response, 403, "from must be a full JID on " .. module.host); end
	if not occupant then return respond(response, 403, "to must be a room occupant JID on another domain"); end
	local session = full_sessions[user];
	-- A self-ping is to a room this session is in: a leaked secret cannot probe anyone else.
	local rooms = session and session.ping_muc_cloud_rooms;
	if not (rooms and rooms[jid.bare(occupant)]) then return respond(response, 200, api_ns("no-session")); end
	if inflight_count >= max_inflight then return respond(response, 503, "too many pings in flight"); end

	-- Our own id: unguessable, and unknown to the client so its replies cannot be confused.
	local ping_id = "pmc-" .. id.long();
	local entry = { orig_id = orig_id, user = user, response = response };
	inflight[ping_id] = entry;
	inflight_count = inflight_count + 1;
	entry.timer = module:add_timer(ping_timeout, function ()
		if inflight[ping_id] ~= entry then return; end
		inflight[ping_id] = nil;
		inflight_count = inflight_count - 1;
		late[ping_id] = os.time() + math.max(600, 10 * ping_timeout);
		respond(response, 200, api_ns("timeout"));
	end);
	module:log("debug", "Self-ping %s -> %s", user, occupant);
	module:send(st.iq({ type = "get", id = ping_id, from = user, to = occupant })
		:tag("ping", { xmlns = "urn:xmpp:ping" }));
	return true;
end

function handle_reply(event)
	local stanza = event.stanza;
	local kind = stanza.attr.type;
	if kind ~= "result" and kind ~= "error" then return; end
	local ping_id = stanza.attr.id;
	local entry = inflight[ping_id];
	if entry and entry.user == stanza.attr.to then
		inflight[ping_id] = nil;
		inflight_count = inflight_count - 1;
		entry.timer:stop();
		local reply = st.clone(stanza);
		reply.attr.id = entry.orig_id;
		reply.attr.xmlns = nil;
		respond(entry.response, 200, tostring(reply));
		return true;
	elseif ping_id and late[ping_id] then
		late[ping_id] = nil;
		module:log("debug", "Swallowed a late self-ping reply for %s", tostring(stanza.attr.to));
		return true;
	end
end

local function api_notify(stanza, response)
	local x = stanza.tags[1];
	if stanza.attr.type ~= "unavailable" or #stanza.tags ~= 1 or not only_attrs(stanza, PRESENCE_ATTRS)
	or x.name ~= "x" or x.attr.xmlns ~= MUC_USER_NS then
		return respond(response, 403, "only a MUC unavailable notification is allowed");
	end
	-- Exactly <item affiliation=none role=none>[<reason/>]</item> and status 110 + 333.
	local item, reason, codes, n = nil, nil, {}, 0;
	for child in x:childtags() do
		if child.name == "item" and not item and child.attr.affiliation == "none" and child.attr.role == "none" then
			item = child;
			for grandchild in child:childtags() do
				if grandchild.name ~= "reason" or reason or #grandchild.tags > 0 then
					return respond(response, 403, "unexpected element in item");
				end
				reason = grandchild:get_text() or "";
			end
		elseif child.name == "status" and (child.attr.code == "110" or child.attr.code == "333") then
			codes[child.attr.code] = true;
			n = n + 1;
		else
			return respond(response, 403, "unexpected element in muc#user x");
		end
	end
	if not item or n ~= 2 or not codes["110"] or not codes["333"] then
		return respond(response, 403, "the notification needs item none/none and status 110 and 333");
	end
	if reason and #reason > 1024 then return respond(response, 403, "reason too long"); end
	local user, occupant = local_full_jid(stanza.attr.to), occupant_jid(stanza.attr.from);
	if not user then return respond(response, 403, "to must be a full JID on " .. module.host); end
	if not occupant then return respond(response, 403, "from must be a room occupant JID on another domain"); end
	local session = full_sessions[user];
	local rooms = session and session.ping_muc_cloud_rooms;
	local known = rooms and rooms[jid.bare(occupant)];
	-- Only for a room this session is in, under that nick: nothing else can be forged.
	if not known or known.nick ~= jid.resource(occupant) then
		return respond(response, 200, api_ns("no-session"));
	end
	-- Rebuilt from the checked parts only; routed so other modules see the leave too.
	local notification = st.presence({ type = "unavailable", id = stanza.attr.id or id.medium(), from = occupant, to = user })
		:tag("x", { xmlns = MUC_USER_NS })
			:tag("item", { affiliation = "none", role = "none" });
	if reason then notification:text_tag("reason", reason); end
	notification:up():tag("status", { code = "110" }):up():tag("status", { code = "333" }):up();
	module:log("info", "Notifying %s that it is no longer in %s", user, occupant);
	module:send(notification:reset());
	return respond(response, 200, api_ns("sent"));
end

function handle_api(event)
	local request, response = event.request, event.response;
	local body = request.body or "";
	if #body > MAX_API_BODY then return respond(response, 413, "body over 16 KiB"); end
	local ok, err = verify(request.headers, body);
	if not ok then
		module:log("warn", "Stanza API call refused from %s: %s", tostring(request.ip), err);
		return respond(response, 401, err);
	end
	-- One bare stanza: no declaration, DOCTYPE, comment, CDATA or processing instruction.
	if body:find("<!", 1, true) or body:find("<?", 1, true) then
		return respond(response, 400, "DOCTYPE, comments, CDATA and processing instructions are not allowed");
	end
	local stanza, perr = xml.parse(body);
	if not stanza then return respond(response, 400, "not one well-formed stanza: " .. tostring(perr)); end
	if stanza.attr.xmlns and stanza.attr.xmlns ~= "jabber:client" then
		return respond(response, 403, "stanza namespace must be jabber:client");
	end
	if stanza.name == "iq" then return api_ping(stanza, response); end
	if stanza.name == "presence" then return api_notify(stanza, response); end
	return respond(response, 403, "only a self-ping iq or a MUC unavailable presence is allowed");
end

---------------------------------------------------------------------------
-- Start-up and housekeeping
---------------------------------------------------------------------------

-- (Re)loaded: ping-muc forgets older joins of this host; sessions that survive a
-- module reload still carry their rooms, so announce them again.
function announce_host()
	enqueue({ type = "host-start" });
	for _, session in pairs(full_sessions) do
		if session.host == module.host and session.ping_muc_cloud_rooms then
			for room, known in pairs(session.ping_muc_cloud_rooms) do
				known.at = time.now();
				enqueue({ type = "join", user = session.full_jid, room = room, nick = known.nick });
			end
		end
	end
end

module:add_timer(60, function ()
	local now = os.time();
	for k, expiry in pairs(replays) do if expiry <= now then replays[k] = nil; end end
	for k, expiry in pairs(late) do if expiry <= now then late[k] = nil; end end
	return 60;
end);

function module.unload()
	for _, entry in pairs(inflight) do
		respond(entry.response, 503, "module unloaded");
	end
	if q_last >= q_first then
		module:log("warn", "Unloaded with %d undelivered event(s)", q_last - q_first + 1);
	end
end

announce_host();
