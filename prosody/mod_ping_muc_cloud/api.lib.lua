-- The stanza API that ping-muc calls back (POST /ping_muc_cloud/stanza, signed): it can
-- do exactly two things, for a session of this host in a room on another server:
--   1. self-ping (XEP-0410) the session's occupant JID and return the reply, which the
--      client never sees (not even one arriving after the timeout);
--   2. deliver the MUC unavailable presence (item none/none, status 110 + 333) from
--      room/nick to the session, for the room and nick it is in.
-- Everything else is refused with a 4xx.
--
-- Version 1: the body is one stanza, answered with one element. Version 2 (a batch): the body
-- is <batch xmlns="urn:ping-muc:stanza-api:2"> holding 1..batch_max_items stanzas, each with
-- a unique id; every rule of v1 applies to each item on its own (a refused item is answered
-- <refused code reason/>, the others proceed), the self-pings go out at once, and the answer
-- comes once every item has its answer or the ping timeout passed: <batch> with one
-- <item id> per request item, in request order.
--
-- A batch may also hold <heal id> items, each around one self-ping: the module acts on the
-- reply itself when it says the room no longer has the user (outcome.lib), and the session is
-- still in the join it pinged: it delivers the notification (2.) at once and answers <sent/>
-- (<no-session/> if the join changed meanwhile). Any other reply is answered as a self-ping's.
-- The round saves a round trip per ghost, and the notification waits for no other reply.
-- And <server-ping id to> items: this host pings a remote domain, to bring its s2s link up.
--
-- return function (opts) -> { handle, reply, sweep, unload }
-- opts: verifier (webhook.lib's, under the API secret), rooms (joins.lib's), outcome
--       (outcome.lib's), ping_timeout, max_inflight, reason, batch_max_items, batch_max_bytes.

local errors = require "util.error";
local id = require "util.id";
local jid = require "util.jid";
local st = require "util.stanza";
local timer = require "util.timer";
local xml = require "util.xml";

local hosts = prosody.hosts;

local API_NS = "urn:ping-muc:stanza-api:1";
local BATCH_NS = "urn:ping-muc:stanza-api:2";
local MUC_USER_NS = "http://jabber.org/protocol/muc#user";
local MAX_API_BODY = 16 * 1024;
local IQ_ATTRS = { type = true, id = true, from = true, to = true, xmlns = true };
local PRESENCE_ATTRS = IQ_ATTRS;
local HEAL_ATTRS = { id = true, xmlns = true };
local SERVER_PING_ATTRS = { id = true, xmlns = true, to = true };

local DISCARD = { write = function () return true; end };

-- Every way the API refuses a call, in one registry (util.error): the HTTP status and a
-- default text. A refusal answers the status with the call's own detail, or the text.
local refusals = errors.init("ping_muc_cloud", {
	["malformed"] = { code = 400, type = "modify", condition = "bad-request", text = "not one well-formed stanza" };
	["unsigned"] = { code = 401, type = "auth", condition = "not-authorized", text = "bad or missing signature" };
	["forbidden"] = { code = 403, type = "auth", condition = "forbidden", text = "stanza not allowed" };
	["length-required"] = { code = 411, type = "modify", condition = "bad-request", text = "Content-Length required" };
	["too-large"] = { code = 413, type = "modify", condition = "policy-violation", text = "body over 16 KiB" };
	["busy"] = { code = 503, type = "wait", condition = "resource-constraint", text = "too many pings in flight" };
	["unloaded"] = { code = 503, type = "cancel", condition = "service-unavailable", text = "module unloaded" };
});

local function respond(response, code, body, content_type)
	response.status_code = code;
	response.headers.content_type = content_type or (code == 200 and "application/xml" or "text/plain; charset=utf-8");
	response:send(body);
end

local count_refused = module:measure("api_refused", "counter");
local count_batches = module:measure("batch_requests", "counter");
local count_items = module:measure("batch_items", "counter");
local count_item_refusals = module:measure("batch_refused", "counter");
local count_healed = module:measure("heal_notified", "counter");

-- Answers a refusal from the registry; `close` ends the connection (the body was not read).
local function refuse(response, name, detail, close)
	local err = refusals.new(name);
	count_refused(1);
	if close then response.persistent = false; response.headers.connection = "close"; end
	respond(response, err.code, detail or err.text);
	return true;
end

-- An API signal: <timeout/>, <no-session/> or <sent/>.
local function signal(name)
	return st.stanza(name, { xmlns = API_NS });
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

-- Text in an element of ours, beside whitespace: nothing we define holds any.
local function has_text(tag)
	for _, child in ipairs(tag) do
		if type(child) == "string" and child:find("%S") then return true; end
	end
	return false;
end

local function only_attrs(tag, allowed)
	for k in pairs(tag.attr) do
		if not allowed[k] then return false; end
	end
	return true;
end

return function (opts)
	local verifier, rooms_of, forget = opts.verifier, opts.rooms, opts.forget;
	local relayed, unjoined = opts.outcome.relayed, opts.outcome.unjoined;
	local ping_timeout, max_inflight, reason_text = opts.ping_timeout, opts.max_inflight, opts.reason;
	local batch_max_items, batch_max_bytes = opts.batch_max_items, opts.batch_max_bytes;

	-- Self-pings are matched in this module's own table, not with module:send_iq: its cache
	-- of pending ids holds 256 entries and evicts the oldest, and the reply to an evicted id
	-- goes on to the client (a stray iq result the client never asked for). Here an id stays
	-- until its reply or its timeout, and after the timeout in `late`, where its reply is
	-- still swallowed.
	-- our ping id -> { orig_id, user, done (answer stanza), abort (unloaded), timer (v1 only) }
	local inflight, inflight_count = {}, 0;
	local late = {}; -- ping ids that timed out -> expiry, so late replies are swallowed
	local late_window = math.max(600, 10 * ping_timeout);
	local gauge_inflight = module:measure("pings_inflight", "amount");
	local function inflight_add(n)
		inflight_count = inflight_count + n;
		gauge_inflight(inflight_count);
	end

	-- The verdicts of the checks, shared by v1 and each item of a batch: a refusal from the
	-- registry (with its detail), an answer to give, or a self-ping to send.
	local function refusal(name, detail) return { refuse = name, detail = detail }; end
	local function answer(name) return { answer = signal(name) }; end

	local function check_ping(stanza)
		local ping = stanza.tags[1];
		if stanza.attr.type ~= "get" or #stanza.tags ~= 1 or not only_attrs(stanza, IQ_ATTRS)
		or ping.name ~= "ping" or ping.attr.xmlns ~= "urn:xmpp:ping" or #ping.tags > 0 then
			return refusal("forbidden", "only a self-ping (urn:xmpp:ping) iq get is allowed");
		end
		local orig_id = stanza.attr.id;
		if not orig_id or orig_id == "" or #orig_id > 256 then return refusal("malformed", "iq needs an id"); end
		local user, occupant = local_full_jid(stanza.attr.from), occupant_jid(stanza.attr.to);
		if not user then return refusal("forbidden", "from must be a full JID on " .. module.host); end
		if not occupant then return refusal("forbidden", "to must be a room occupant JID on another domain"); end
		-- A self-ping is to a room this session is in: a leaked secret cannot probe anyone else.
		local rooms = rooms_of(user);
		local known = rooms and rooms[jid.bare(occupant)];
		-- Only to this session's own occupant JID: a leaked secret cannot probe other occupants.
		if not known or known.nick ~= jid.resource(occupant) then return answer("no-session"); end
		return { ping = true, orig_id = orig_id, user = user, occupant = occupant, join = known };
	end

	-- Sends a checked self-ping; `entry` ({ done, abort }) gets the reply. Returns our ping id.
	local function send_ping(verdict, entry)
		-- Our own id: unguessable, and unknown to the client so its replies cannot be confused.
		local ping_id = "pmc-" .. id.long();
		entry.orig_id, entry.user = verdict.orig_id, verdict.user;
		inflight[ping_id] = entry;
		inflight_add(1);
		module:log("debug", "Self-ping %s -> %s", verdict.user, verdict.occupant);
		module:send(st.iq({ type = "get", id = ping_id, from = verdict.user, to = verdict.occupant })
			:tag("ping", { xmlns = "urn:xmpp:ping" }));
		return ping_id;
	end

	-- No reply in time: the id is forgotten, and its reply, if it comes, swallowed.
	local function expire(ping_id, entry)
		if inflight[ping_id] ~= entry then return false; end
		inflight[ping_id] = nil;
		inflight_add(-1);
		late[ping_id] = os.time() + late_window;
		return true;
	end

	-- An iq to one of our full JIDs: true (consumed) if it answers one of our self-pings.
	local function handle_reply(event)
		local stanza = event.stanza;
		local kind = stanza.attr.type;
		if kind ~= "result" and kind ~= "error" then return; end
		local ping_id = stanza.attr.id;
		local entry = inflight[ping_id];
		if entry and entry.user == stanza.attr.to then
			inflight[ping_id] = nil;
			inflight_add(-1);
			if entry.timer then entry.timer:stop(); end
			entry.done(stanza);
			return true;
		elseif ping_id and late[ping_id] then
			late[ping_id] = nil;
			module:log("debug", "Swallowed a late self-ping reply for %s", tostring(stanza.attr.to));
			return true;
		end
	end

	-- Delivers the MUC unavailable notification from room/nick to the session. Rebuilt from
	-- checked parts only; routed so other modules see it. The join is forgotten first, so
	-- joins.lib posts no leave for it: the round that asked knows (joins.lib's forget).
	local function deliver(user, occupant, stanza_id)
		forget(user, jid.bare(occupant));
		local notification = st.presence({ type = "unavailable", id = stanza_id or id.medium(), from = occupant, to = user })
			:tag("x", { xmlns = MUC_USER_NS })
				:tag("item", { affiliation = "none", role = "none" });
		-- The server's own text, never the caller's: a leaked secret cannot put words on a screen.
		notification:text_tag("reason", reason_text);
		notification:up():tag("status", { code = "110" }):up():tag("status", { code = "333" }):up();
		module:log("info", "Notifying %s that it is no longer in %s", user, occupant);
		module:send(notification:reset());
	end

	-- Checks a notification and, if it is allowed, delivers it.
	local function notify(stanza)
		local x = stanza.tags[1];
		if stanza.attr.type ~= "unavailable" or #stanza.tags ~= 1 or not only_attrs(stanza, PRESENCE_ATTRS)
		or x.name ~= "x" or x.attr.xmlns ~= MUC_USER_NS then
			return refusal("forbidden", "only a MUC unavailable notification is allowed");
		end
		-- Exactly <item affiliation=none role=none>[<reason/>]</item> and status 110 + 333.
		local item, reason, codes, n = nil, nil, {}, 0;
		for child in x:childtags() do
			if child.name == "item" and not item and child.attr.affiliation == "none" and child.attr.role == "none" then
				item = child;
				for grandchild in child:childtags() do
					if grandchild.name ~= "reason" or reason or #grandchild.tags > 0 then
						return refusal("forbidden", "unexpected element in item");
					end
					reason = grandchild:get_text() or "";
				end
			elseif child.name == "status" and (child.attr.code == "110" or child.attr.code == "333") then
				codes[child.attr.code] = true;
				n = n + 1;
			else
				return refusal("forbidden", "unexpected element in muc#user x");
			end
		end
		if not item or n ~= 2 or not codes["110"] or not codes["333"] then
			return refusal("forbidden", "the notification needs item none/none and status 110 and 333");
		end
		if reason and #reason > 1024 then return refusal("forbidden", "reason too long"); end
		local user, occupant = local_full_jid(stanza.attr.to), occupant_jid(stanza.attr.from);
		if not user then return refusal("forbidden", "to must be a full JID on " .. module.host); end
		if not occupant then return refusal("forbidden", "from must be a room occupant JID on another domain"); end
		local rooms = rooms_of(user);
		local known = rooms and rooms[jid.bare(occupant)];
		-- Only for a room this session is in, under that nick: nothing else can be forged.
		if not known or known.nick ~= jid.resource(occupant) then return answer("no-session"); end
		deliver(user, occupant, stanza.attr.id);
		return answer("sent");
	end

	-- One stanza, by v1's rules (`xmlns` is the namespace it may carry besides jabber:client).
	local function check(stanza, xmlns)
		if stanza.attr.xmlns and stanza.attr.xmlns ~= "jabber:client" and stanza.attr.xmlns ~= xmlns then
			return refusal("forbidden", "stanza namespace must be jabber:client");
		end
		if stanza.name == "iq" then return check_ping(stanza); end
		if stanza.name == "presence" then return notify(stanza); end
		return refusal("forbidden", "only a self-ping iq or a MUC unavailable presence is allowed");
	end

	-- Heals: a self-ping (check_ping's verdict) whose reply the module acts on itself when the
	-- room no longer has the user and the session is still in the join pinged (joins.lib keeps
	-- a join's table until it leaves, and makes a new one for a rejoin or a nick change).
	local function healed(verdict, reply)
		local room = jid.bare(verdict.occupant);
		if not unjoined(reply, room, module.host) then return reply; end
		local rooms = rooms_of(verdict.user);
		if not rooms or rooms[room] ~= verdict.join then return signal("no-session"); end
		deliver(verdict.user, verdict.occupant);
		count_healed(1);
		return signal("sent");
	end

	-- A <server-ping id to> item: this host pings a remote domain (XEP-0199 §4.2, server to
	-- server), answered <sent/> at once. A round sends one shortly before its due time, so that
	-- the s2s link is up when its self-pings go (a self-ping then would come before the delay).
	-- It names no user, and no more than any local account can do: make this server open a link
	-- to a domain. The reply comes to this host, which drops it.
	local function server_ping(item)
		local node, host, resource = jid.prepped_split(item.attr.to);
		if #item.tags > 0 or has_text(item) or not only_attrs(item, SERVER_PING_ATTRS) or node or resource or not host
		or host == module.host or (hosts[host] and hosts[host].type == "local") then
			return refusal("forbidden", "a server ping is to a remote domain, and holds nothing");
		end
		module:send(st.iq({ type = "get", id = "pmc-" .. id.medium(), from = module.host, to = host })
			:tag("ping", { xmlns = "urn:xmpp:ping" }));
		return answer("sent");
	end

	-- A <heal id> item: exactly one self-ping inside, checked as any; nothing else is healed.
	local function check_heal(item)
		local inner = item.tags[1];
		if #item.tags ~= 1 or not only_attrs(item, HEAL_ATTRS) or inner.name ~= "iq" then
			return refusal("forbidden", "a heal holds exactly one self-ping iq");
		end
		if has_text(item) then return refusal("forbidden", "text in a heal"); end
		local verdict = check(inner, BATCH_NS);
		verdict.heal = verdict.ping;
		return verdict;
	end
	-- Version 1: one stanza, one answer.
	local function single(stanza, response)
		local verdict = check(stanza, nil);
		if verdict.refuse then return refuse(response, verdict.refuse, verdict.detail); end
		if verdict.answer then return respond(response, 200, tostring(verdict.answer)); end
		if inflight_count >= max_inflight then return refuse(response, "busy"); end
		local entry = {
			done = function (reply) respond(response, 200, tostring(relayed(reply, verdict.orig_id))); end;
			abort = function () refuse(response, "unloaded"); end;
		};
		local ping_id = send_ping(verdict, entry);
		entry.timer = module:add_timer(ping_timeout, function ()
			if expire(ping_id, entry) then respond(response, 200, tostring(signal("timeout"))); end
		end);
		return true;
	end

	-- Version 2: a batch. The structure is checked whole (400), each item by v1's rules.
	local function batch(root, response)
		if root.attr.xmlns ~= BATCH_NS or next(root.attr, next(root.attr)) ~= nil then
			return refuse(response, "malformed", "a batch is <batch xmlns='" .. BATCH_NS .. "'> with no attributes");
		end
		local items, ids = {}, {};
		for _, child in ipairs(root) do
			if type(child) == "string" then
				if child:find("%S") then return refuse(response, "malformed", "text in a batch"); end
			else
				local item_id = child.attr.id;
				if not item_id or item_id == "" then return refuse(response, "malformed", "every item needs an id"); end
				if ids[item_id] then return refuse(response, "malformed", "duplicate item id"); end
				ids[item_id] = true;
				items[#items + 1] = child;
			end
		end
		if #items == 0 then return refuse(response, "malformed", "an empty batch"); end
		if #items > batch_max_items then
			return refuse(response, "malformed", ("more than %d items in a batch"):format(batch_max_items));
		end
		count_batches(1);
		count_items(#items);

		local answers, pings, pending, finished = {}, {}, 1, false;
		local timer;
		local function finish()
			if finished then return; end
			finished = true;
			if timer then timer:stop(); end
			local out = st.stanza("batch", { xmlns = BATCH_NS });
			for i, item in ipairs(items) do out:tag("item", { id = item.attr.id }):add_child(answers[i]):up(); end
			respond(response, 200, tostring(out));
		end
		-- `pending` counts the pings in flight, plus one until every item is started.
		local function release()
			pending = pending - 1;
			if pending == 0 then finish(); end
		end
		local function settle(i, answer_stanza)
			if answers[i] then return; end
			answers[i] = answer_stanza;
			release();
		end
		local function abort()
			if finished then return; end
			finished = true;
			if timer then timer:stop(); end
			refuse(response, "unloaded");
		end
		for i, item in ipairs(items) do
			local ours = item.attr.xmlns == BATCH_NS;
			local verdict = ours and item.name == "heal" and check_heal(item)
				or ours and item.name == "server-ping" and server_ping(item)
				or check(item, BATCH_NS);
			if not verdict.refuse and verdict.ping and inflight_count >= max_inflight then
				verdict = refusal("busy");
			end
			if verdict.refuse then
				local err = refusals.new(verdict.refuse);
				count_item_refusals(1);
				answers[i] = st.stanza("refused", { xmlns = BATCH_NS, code = tostring(err.code), reason = verdict.detail or err.text });
			elseif verdict.answer then
				answers[i] = verdict.answer;
			else
				pending = pending + 1;
				local entry = {
					done = function (reply)
						local relay = relayed(reply, verdict.orig_id, "jabber:client");
						settle(i, verdict.heal and healed(verdict, relay) or relay);
					end;
					abort = abort;
				};
				pings[i] = { send_ping(verdict, entry), entry };
			end
		end
		if pending > 1 then
			timer = module:add_timer(ping_timeout, function ()
				for i, p in pairs(pings) do
					if expire(p[1], p[2]) then settle(i, signal("timeout")); end
				end
			end);
		end
		release(); -- every item is started: the batch answers once its pings are settled
		return true;
	end

	-- The HTTP route: POST /stanza.
	local function handle_api(event)
		local request, response = event.request, event.response;
		if request.body == false then
			-- Headers only (the app takes streaming uploads): Prosody calls early for a chunked
			-- body or one over http_max_content_size. Refuse it unbuffered: what arrives before
			-- the connection closes goes to a sink that keeps nothing (without a sink Prosody
			-- drops the connection at once, and the answer with it).
			request.body_sink = DISCARD;
			local length = tonumber(request.headers.content_length);
			if not length then return refuse(response, "length-required", nil, true); end
			return refuse(response, "too-large", nil, true);
		end
		local body = request.body or "";
		-- A batch (v2) may be larger than one stanza (v1).
		local is_batch = body:find("^%s*<batch[%s/>]") ~= nil;
		if is_batch and #body > batch_max_bytes then
			return refuse(response, "too-large", ("batch body over %d bytes"):format(batch_max_bytes));
		end
		if not is_batch and #body > MAX_API_BODY then return refuse(response, "too-large"); end
		local ok, err = verifier.verify(request.headers, body);
		if not ok then
			module:log("warn", "Stanza API call refused from %s: %s", tostring(request.ip), err);
			return refuse(response, "unsigned", err);
		end
		-- One bare stanza: no declaration, DOCTYPE, comment, CDATA or processing instruction.
		if body:find("<!", 1, true) or body:find("<?", 1, true) then
			return refuse(response, "malformed", "DOCTYPE, comments, CDATA and processing instructions are not allowed");
		end
		local stanza, perr = xml.parse(body);
		if not stanza then return refuse(response, "malformed", "not one well-formed stanza: " .. tostring(perr)); end
		if stanza.name == "batch" then return batch(stanza, response); end
		return single(stanza, response);
	end

	-- Housekeeping: forget expired webhook-ids and timed-out ping ids.
	local function sweep(now)
		verifier.sweep(now);
		for k, expiry in pairs(late) do if expiry <= now then late[k] = nil; end end
	end

	-- Unloaded: pending calls get 503, and the replies still to come (ids in flight or
	-- timed out) are swallowed until they expire, by a handler that outlives this module's
	-- hooks: without it they would reach the client.
	local function unload()
		local now, expiry = os.time(), nil;
		for ping_id, entry in pairs(inflight) do
			if entry.timer then entry.timer:stop(); end
			entry.abort();
			late[ping_id] = now + late_window;
		end
		inflight = {};
		inflight_add(-inflight_count);
		for _, e in pairs(late) do if not expiry or e > expiry then expiry = e; end end
		if not expiry then return; end
		local host_events = hosts[module.host] and hosts[module.host].events;
		if not host_events then return; end
		local function swallow(event)
			local stanza = event.stanza;
			local ping_id = stanza.attr.id;
			if (stanza.attr.type == "result" or stanza.attr.type == "error") and ping_id and late[ping_id] then
				late[ping_id] = nil;
				return true;
			end
		end
		host_events.add_handler("iq/full", swallow, 1000);
		timer.add_task(expiry - now + 1, function () host_events.remove_handler("iq/full", swallow); end);
	end

	return { handle = handle_api; reply = handle_reply; sweep = sweep; unload = unload };
end
