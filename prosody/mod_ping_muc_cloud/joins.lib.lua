-- MUC joins of this host's sessions, tracked as mod_track_muc_joins does: the reflected
-- self-presence (status 110) from rooms on other servers. Kept on the session itself
-- (session.ping_muc_cloud_rooms = { [room] = { nick, at, since } }) so it survives a module
-- reload. `since` is the seq of the join as first posted: a join posted again (module load,
-- resync, refresh) carries it, so ping-muc still knows the user was joined before a close
-- even when the new post comes after it (docs/events.md).
--
-- return function (opts) -> { track, ended, forget, rooms, live, rejoin, stale }
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
		if not session then return; end
		local muc_x = stanza:get_child("x", MUC_USER_NS);
		if not muc_x or not has_status(muc_x, "110") then return; end -- not our own reflection
		local from = stanza.attr.from;
		local room, room_host, nick = jid.bare(from), jid.host(from), jid.resource(from);
		-- Rooms served by this very Prosody never lose an s2s link.
		if not nick or hosts[room_host] then return; end
		local rooms = session.ping_muc_cloud_rooms;
		local kind = stanza.attr.type;
		if kind == nil then
			-- Never sent presence there: not a join. No directed presence at all (none yet, or a
			-- broadcast unavailable cleared it) is the same.
			if not session.directed or not sent_presence_to(session, room, from) then return; end
			if not rooms then rooms = {}; session.ping_muc_cloud_rooms = rooms; end
			local known = rooms[room];
			local now = time.now();
			if known and known.nick == nick then
				-- Every presence update in the room is reflected with 110; post only news.
				if now - known.at < join_refresh then return; end
				known.at = now; -- a refresh: the same join, since its first post
				enqueue({ type = "join", user = session.full_jid, room = room, nick = nick, since = known.since });
				return;
			end
			-- A new join, or a nick change (the room reflected it now: no since).
			local event = enqueue({ type = "join", user = session.full_jid, room = room, nick = nick });
			rooms[room] = { nick = nick, at = now, since = event.seq };
		elseif kind == "unavailable" then
			-- No session.directed needed: a broadcast <presence type='unavailable'/> leaves every
			-- room and clears it (mod_presence) before the room's reflected leave comes back, and
			-- ping-muc's notification may come to such a session too. rooms[room] is the check.
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

	-- A join ping-muc's own notification ended (api.lib): forgotten, and posted as no leave.
	-- The round that asked knows from its answer (<sent/>); an event per told ghost would cost
	-- this server, the events function and the store in the very seconds the next ghosts are
	-- being told, to remove a join the client's rejoin overwrites anyway. ping-muc drops one
	-- that stays when a later self-ping for it is answered no-session.
	local function forget(full_jid, room)
		local rooms = rooms_of(full_jid);
		if rooms then rooms[room] = nil; end
	end

	-- Every live join of this host's sessions, { { user, room }, ... }: to post again.
	local function live()
		local list = {};
		for _, session in pairs(full_sessions) do
			if session.host == module.host and session.ping_muc_cloud_rooms and session.full_jid then
				for room in pairs(session.ping_muc_cloud_rooms) do list[#list + 1] = { user = session.full_jid, room = room }; end
			end
		end
		return list;
	end

	-- The joins not posted for join_refresh seconds (a quiet session must not expire in ping-muc).
	local function stale()
		local list, now = {}, time.now();
		for _, r in ipairs(live()) do
			if now - full_sessions[r.user].ping_muc_cloud_rooms[r.room].at >= join_refresh then list[#list + 1] = r; end
		end
		return list;
	end

	-- The join event posting a live join again (with its since), or nil if it is gone.
	local function rejoin(user, room)
		local session = full_sessions[user];
		local known = session and session.ping_muc_cloud_rooms and session.ping_muc_cloud_rooms[room];
		if not known then return nil; end
		-- Joins tracked by an older version of the module have no since: their last post time.
		known.since = known.since or math.floor(known.at * 1000000);
		known.at = time.now();
		return { type = "join", user = user, room = room, nick = known.nick, since = known.since };
	end

	return { track = track; ended = ended; forget = forget; rooms = rooms_of; live = live; stale = stale; rejoin = rejoin };
end
