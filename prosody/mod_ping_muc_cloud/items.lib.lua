-- The items of a stanza API batch, each checked on its own: what the module may do for it.
-- Nothing is sent here (api.lib acts on the verdicts). The items:
--   <iq type="get" id from to><ping xmlns="urn:xmpp:ping"/></iq>
--       a read-only self-ping from a connected session of this host to its own occupant JID in
--       a room it is in;
--   <heal id since> around such a self-ping: the same ping, whose "not joined" reply the
--       module acts on itself (api.lib);
--   <notify id since> around <presence type="unavailable" id from=room/nick to=session> with
--       muc#user <item affiliation="none" role="none"/>, an optional <reason/> and status 110
--       and 333: the notification the module delivers (with its own reason text);
--   <server-ping id to>: this host pings a remote domain (XEP-0199 §4.2).
-- heal, notify and server-ping are in urn:ping-muc:stanza-api:2 (the batch's). `since` names
-- the join (joins.lib): a heal or notification acts only if the session's current join of the
-- room has that nick and that since, else it is answered <no-session/> and nothing is sent.
-- A bare <presence> item, and anything else, is refused 403.
--
-- return function (opts) -> check (item) -> verdict, one of
--   { refuse = 400 | 403, reason }     { answer = "no-session" }
--   { ping = { orig_id, user, occupant, join }, heal = boolean }
--   { notify = { user, occupant, id } }      { server_ping = host }
-- opts: rooms (joins.lib's rooms_of), seq (wire.lib's: a since as the module prints it).

local jid = require "util.jid";

local hosts = prosody.hosts;

local BATCH_NS = "urn:ping-muc:stanza-api:2";
local MUC_USER_NS = "http://jabber.org/protocol/muc#user";
local MAX_ID_BYTES = 256;
local MAX_REASON_BYTES = 1024;
local STANZA_ATTRS = { type = true, id = true, from = true, to = true, xmlns = true };
local WRAPPER_ATTRS = { id = true, since = true, xmlns = true };
local SERVER_PING_ATTRS = { id = true, to = true, xmlns = true };
-- A stanza in a batch is jabber:client, written so or inheriting the batch's namespace.
local STANZA_NS = { ["jabber:client"] = true; [BATCH_NS] = true };

local function refusal(code, reason) return { refuse = code; reason = reason }; end
local NO_SESSION = { answer = "no-session" };

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

-- A full JID of a user of this host; nil otherwise.
local function local_full_jid(j)
	local node, host, resource = jid.split(j);
	if not (node and resource) or host ~= module.host then return nil; end
	return j;
end

-- A room occupant JID: a full JID on a domain that is no host of this server.
local function occupant_jid(j)
	local node, host, resource = jid.prepped_split(j);
	if not (node and host and resource) or hosts[host] then return nil; end
	return j;
end

-- The one element child of a wrapper item (heal, notify), or nil.
local function only_child(item)
	if #item.tags ~= 1 or has_text(item) then return nil; end
	return item.tags[1];
end

return function (opts)
	local rooms_of, seq = opts.rooms, opts.seq;

	-- The join of `user` in the room of `occupant`, if its nick is the occupant's.
	local function join_of(user, occupant)
		local rooms = rooms_of(user);
		local known = rooms and rooms[jid.bare(occupant)];
		if not known or known.nick ~= jid.resource(occupant) then return nil; end
		return known;
	end

	-- The session's current join has this since (a decimal string, leading zeros allowed).
	local function same_since(join, since)
		return join.since ~= nil and seq(join.since) == (since:match("^0*(%d+)$") or since);
	end

	-- A self-ping iq: { ping } or a refusal or <no-session/>.
	local function check_ping(stanza)
		local ping = stanza.tags[1];
		if stanza.name ~= "iq" or not STANZA_NS[stanza.attr.xmlns or "jabber:client"] then
			return refusal(403, "only a self-ping iq, a heal, a notify or a server-ping is allowed");
		end
		if stanza.attr.type ~= "get" or #stanza.tags ~= 1 or not only_attrs(stanza, STANZA_ATTRS)
		or ping.name ~= "ping" or ping.attr.xmlns ~= "urn:xmpp:ping" or #ping.tags > 0 then
			return refusal(403, "only a self-ping (urn:xmpp:ping) iq get is allowed");
		end
		local orig_id = stanza.attr.id;
		if not orig_id or orig_id == "" or #orig_id > MAX_ID_BYTES then return refusal(400, "iq needs an id of 1 to 256 bytes"); end
		local user, occupant = local_full_jid(stanza.attr.from), occupant_jid(stanza.attr.to);
		if not user then return refusal(403, "from must be a full JID on " .. module.host); end
		if not occupant then return refusal(403, "to must be a room occupant JID on another domain"); end
		-- Only to this session's own occupant JID in a room it is in: a leaked secret cannot
		-- probe anyone else.
		local join = join_of(user, occupant);
		if not join then return NO_SESSION; end
		return { ping = { orig_id = orig_id; user = user; occupant = occupant; join = join } };
	end

	-- The notification inside a notify item: { user, occupant, id } or a refusal.
	local function check_notification(stanza)
		local x = stanza.tags[1];
		if stanza.name ~= "presence" or not STANZA_NS[stanza.attr.xmlns or "jabber:client"]
		or stanza.attr.type ~= "unavailable" or #stanza.tags ~= 1 or not only_attrs(stanza, STANZA_ATTRS)
		or x.name ~= "x" or x.attr.xmlns ~= MUC_USER_NS then
			return refusal(403, "a notify holds a MUC unavailable presence");
		end
		-- Exactly <item affiliation=none role=none>[<reason/>]</item> and status 110 + 333.
		local item, reason, codes, n = nil, nil, {}, 0;
		for child in x:childtags() do
			if child.name == "item" and not item and child.attr.affiliation == "none" and child.attr.role == "none" then
				item = child;
				for grandchild in child:childtags() do
					if grandchild.name ~= "reason" or reason or #grandchild.tags > 0 then
						return refusal(403, "unexpected element in item");
					end
					reason = grandchild:get_text() or "";
				end
			elseif child.name == "status" and (child.attr.code == "110" or child.attr.code == "333") then
				codes[child.attr.code] = true;
				n = n + 1;
			else
				return refusal(403, "unexpected element in muc#user x");
			end
		end
		if not item or n ~= 2 or not codes["110"] or not codes["333"] then
			return refusal(403, "the notification needs item none/none and status 110 and 333");
		end
		if reason and #reason > MAX_REASON_BYTES then return refusal(403, "reason too long"); end
		local stanza_id = stanza.attr.id;
		if stanza_id and #stanza_id > MAX_ID_BYTES then return refusal(400, "presence id over 256 bytes"); end
		local user, occupant = local_full_jid(stanza.attr.to), occupant_jid(stanza.attr.from);
		if not user then return refusal(403, "to must be a full JID on " .. module.host); end
		if not occupant then return refusal(403, "from must be a room occupant JID on another domain"); end
		return { user = user; occupant = occupant; id = stanza_id };
	end

	-- heal and notify: `since` is a decimal integer of at most 16 digits.
	local function check_wrapper(item)
		if not only_attrs(item, WRAPPER_ATTRS) then return refusal(403, "unexpected attribute on a " .. item.name); end
		local since = item.attr.since;
		if not since or not since:match("^%d+$") or #since > 16 then
			return refusal(400, "a " .. item.name .. " needs since, a decimal integer of at most 16 digits");
		end
		return nil, since;
	end

	local function check_heal(item)
		local bad, since = check_wrapper(item);
		if bad then return bad; end
		local inner = only_child(item);
		if not inner or inner.name ~= "iq" then return refusal(403, "a heal holds exactly one self-ping iq"); end
		local verdict = check_ping(inner);
		if not verdict.ping then return verdict; end
		if not same_since(verdict.ping.join, since) then return NO_SESSION; end
		return { ping = verdict.ping; heal = true };
	end

	local function check_notify(item)
		local bad, since = check_wrapper(item);
		if bad then return bad; end
		local inner = only_child(item);
		if not inner then return refusal(403, "a notify holds exactly one presence"); end
		local notification = check_notification(inner);
		if notification.refuse then return notification; end
		-- Only to the very join the round decided about: not after a rejoin, not twice.
		local join = join_of(notification.user, notification.occupant);
		if not join or not same_since(join, since) then return NO_SESSION; end
		return { notify = notification };
	end

	-- The reply comes to this host, which drops it. Any host of this server is refused: a
	-- server ping is to a remote domain.
	local function check_server_ping(item)
		local node, host, resource = jid.prepped_split(item.attr.to);
		if #item.tags > 0 or has_text(item) or not only_attrs(item, SERVER_PING_ATTRS) or node or resource or not host
		or hosts[host] then
			return refusal(403, "a server ping is to a remote domain, and holds nothing");
		end
		return { server_ping = host };
	end

	return function (item)
		if item.attr.xmlns == BATCH_NS then
			if item.name == "heal" then return check_heal(item); end
			if item.name == "notify" then return check_notify(item); end
			if item.name == "server-ping" then return check_server_ping(item); end
		end
		if item.name == "presence" then return refusal(403, "a notification is a <notify id since> item"); end
		return check_ping(item);
	end;
end
