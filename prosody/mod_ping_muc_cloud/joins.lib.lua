-- MUC joins of this host's sessions, tracked as mod_track_muc_joins does: the reflected
-- self-presence (status 110) from rooms on other servers. Kept on the session itself
-- (session.ping_muc_cloud_rooms = { [room] = { nick, at } }) so it survives a module reload.
--
-- return function (opts) -> { track, ended, rooms, announce }
-- opts: enqueue (events.lib's), refresh (seconds before an unchanged join is posted again).

local jid = require "util.jid";
local time = require "util.time";

local full_sessions = prosody.full_sessions;
local hosts = prosody.hosts;

local MUC_USER_NS = "http://jabber.org/protocol/muc#user";

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

return function (opts)
	local enqueue, join_refresh = opts.enqueue, opts.refresh;

	-- A presence on its way to one of our full JIDs: a join, nick change or leave of a room?
	local function track(stanza)
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

	-- A session ended. One that never joined a room has nothing for ping-muc to forget.
	local function ended(session)
		if session.ping_muc_cloud_rooms and session.full_jid then
			enqueue({ type = "session-end", user = session.full_jid });
		end
	end

	-- The rooms of a connected full JID ({ [room] = { nick, at } }), or nil.
	local function rooms_of(full_jid)
		local session = full_sessions[full_jid];
		return session and session.ping_muc_cloud_rooms;
	end

	-- (Re)loaded: ping-muc forgets older joins of this host; sessions that survive a
	-- module reload still carry their rooms, so announce them again.
	local function announce()
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

	return { track = track; ended = ended; rooms = rooms_of; announce = announce };
end
