-- The stanza API that ping-muc calls back (POST /ping_muc_cloud/stanza, signed): it can
-- do exactly two things, for a session of this host in a room on another server:
--   1. self-ping (XEP-0410) the session's occupant JID and return the reply, which the
--      client never sees (not even one arriving after the timeout);
--   2. deliver the MUC unavailable presence (item none/none, status 110 + 333) from
--      room/nick to the session, for the room and nick it is in.
-- Everything else is refused with a 4xx.
--
-- return function (opts) -> { handle, reply, sweep, unload }
-- opts: verifier (webhook.lib's, under the API secret), rooms (joins.lib's),
--       ping_timeout, max_inflight.

local id = require "util.id";
local jid = require "util.jid";
local st = require "util.stanza";
local xml = require "util.xml";

local hosts = prosody.hosts;

local API_NS = "urn:ping-muc:stanza-api:1";
local MUC_USER_NS = "http://jabber.org/protocol/muc#user";
local MAX_API_BODY = 16 * 1024;
local IQ_ATTRS = { type = true, id = true, from = true, to = true, xmlns = true };
local PRESENCE_ATTRS = IQ_ATTRS;

local function respond(response, code, body, content_type)
	response.status_code = code;
	response.headers.content_type = content_type or (code == 200 and "application/xml" or "text/plain; charset=utf-8");
	response:send(body);
end

local function api_ns(name)
	return tostring(st.stanza(name, { xmlns = API_NS }));
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

return function (opts)
	local verifier, rooms_of = opts.verifier, opts.rooms;
	local ping_timeout, max_inflight, reason_text = opts.ping_timeout, opts.max_inflight, opts.reason;

	local inflight, inflight_count = {}, 0; -- our ping id -> { orig_id, user, response, timer }
	local late = {}; -- ping ids that timed out -> expiry, so late replies are swallowed

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
		-- A self-ping is to a room this session is in: a leaked secret cannot probe anyone else.
		local rooms = rooms_of(user);
		local known = rooms and rooms[jid.bare(occupant)];
		-- Only to this session's own occupant JID: a leaked secret cannot probe other occupants.
		if not known or known.nick ~= jid.resource(occupant) then return respond(response, 200, api_ns("no-session")); end
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

	-- An iq to one of our full JIDs: true (consumed) if it answers one of our self-pings.
	local function handle_reply(event)
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
		local rooms = rooms_of(user);
		local known = rooms and rooms[jid.bare(occupant)];
		-- Only for a room this session is in, under that nick: nothing else can be forged.
		if not known or known.nick ~= jid.resource(occupant) then
			return respond(response, 200, api_ns("no-session"));
		end
		-- Rebuilt from the checked parts only; routed so other modules see the leave too.
		local notification = st.presence({ type = "unavailable", id = stanza.attr.id or id.medium(), from = occupant, to = user })
			:tag("x", { xmlns = MUC_USER_NS })
				:tag("item", { affiliation = "none", role = "none" });
		-- The server's own text, never the caller's: a leaked secret cannot put words on a screen.
		notification:text_tag("reason", reason_text);
		notification:up():tag("status", { code = "110" }):up():tag("status", { code = "333" }):up();
		module:log("info", "Notifying %s that it is no longer in %s", user, occupant);
		module:send(notification:reset());
		return respond(response, 200, api_ns("sent"));
	end

	-- The HTTP route: POST /stanza.
	local function handle_api(event)
		local request, response = event.request, event.response;
		local body = request.body or "";
		if #body > MAX_API_BODY then return respond(response, 413, "body over 16 KiB"); end
		local ok, err = verifier.verify(request.headers, body);
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

	-- Housekeeping: forget expired webhook-ids and timed-out ping ids.
	local function sweep(now)
		verifier.sweep(now);
		for k, expiry in pairs(late) do if expiry <= now then late[k] = nil; end end
	end

	local function unload()
		for _, entry in pairs(inflight) do
			respond(entry.response, 503, "module unloaded");
		end
	end

	return { handle = handle_api; reply = handle_reply; sweep = sweep; unload = unload };
end
