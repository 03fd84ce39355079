-- MUC joins of this host's sessions, tracked as mod_track_muc_joins does: the reflected
-- self-presence (status 110) from rooms on other servers. Kept on the session itself
-- (session.ping_muc_cloud_rooms = { [room] = { nick, at, since } }) so it survives a module
-- reload. `since` is the seq of the join as first posted, its identity: a join posted again
-- (module load, resync, refresh) carries it, so ping-muc still knows the user was joined
-- before a close even when the new post comes after it (docs/events.md), and every heal and
-- notification names it, so the stanza API acts only on that very join.
--
-- A join request (an available presence to room/nick with <x xmlns='http://jabber.org/protocol/muc'/>,
-- seen by `request` from pre-presence/full) is marked on the session until the room reflects
-- it: that reflection is a new join (new table, new since, a `join` event) even under the same
-- nick, so a notification meant for the join before cannot reach the rejoined session.
--
-- return function (opts) -> { request, track, ended, forget, rooms, live, rejoin, stale }
-- opts: enqueue (events.lib's), refresh (seconds before an unchanged join is posted again).

local jid = require "util.jid";
local time = require "util.time";

local full_sessions = prosody.full_sessions;
local hosts = prosody.hosts;

local MUC_NS = "http://jabber.org/protocol/muc";
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

-- This host's sessions that track joins: f(session, rooms) for each (not every host's).
local function each_session(f)
	local host = hosts[module.host];
	for _, user in pairs(host and host.sessions or {}) do
		for _, session in pairs(user.sessions or {}) do
			if session.ping_muc_cloud_rooms and session.full_jid then f(session, session.ping_muc_cloud_rooms); end
		end
	end
end

return function (opts)
	local enqueue, join_refresh = opts.enqueue, opts.refresh;

	-- A presence of one of our sessions on its way to room/nick: a join request is marked.
	local function request(session, stanza)
		local to = stanza.attr.to;
		if stanza.attr.type ~= nil or not to or not stanza:get_child("x", MUC_NS) then return; end
		local room = jid.bare(to);
		if not room or hosts[jid.host(to)] then return; end
		local joining = session.ping_muc_cloud_joining;
		if not joining then joining = {}; session.ping_muc_cloud_joining = joining; end
		joining[room] = true;
	end

	-- A presence on its way to one of our full JIDs: a join, nick change or leave of a room?
	local function track(stanza)
		local session = full_sessions[stanza.attr.to];
		if not session then return; end
		if stanza.attr.type == "error" then
			-- The room refused a join request: nothing of it to mark any more.
			local joining = session.ping_muc_cloud_joining;
			if joining and stanza.attr.from then joining[jid.bare(stanza.attr.from)] = nil; end
			return;
		end
		local muc_x = stanza:get_child("x", MUC_USER_NS);
		if not muc_x or not has_status(muc_x, "110") then return; end -- not our own reflection
		local from = stanza.attr.from;
		local room, room_host, nick = jid.bare(from), jid.host(from), jid.resource(from);
		-- Rooms served by this very Prosody never lose an s2s link.
		if not nick or hosts[room_host] then return; end
		local rooms = session.ping_muc_cloud_rooms;
		local kind = stanza.attr.type;
		-- The room answered a join request: a reflection (a new join) or a refusal.
		local joining = session.ping_muc_cloud_joining;
		local requested = joining and joining[room];
		if requested then joining[room] = nil; end
		if kind == nil then
			-- Never sent presence there: not a join. No directed presence at all (none yet, or a
			-- broadcast unavailable cleared it) is the same.
			if not session.directed or not sent_presence_to(session, room, from) then return; end
			if not rooms then rooms = {}; session.ping_muc_cloud_rooms = rooms; end
			local known = rooms[room];
			local now = time.now();
			if known and known.nick == nick and not requested then
				-- Every presence update in the room is reflected with 110; post only news.
				if now - known.at < join_refresh then return; end
				known.at = now; -- a refresh: the same join, since its first post
				enqueue({ type = "join", user = session.full_jid, room = room, nick = nick, since = known.since });
				return;
			end
			-- A new join (a rejoin under the same nick included), or a nick change (the room
			-- reflected it now): a new table, and no since (the event's seq becomes it).
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
		-- Other types are ignored.
	end

	-- A session ended: a leave for each join it holds (ping-muc keys joins by room, so a
	-- leave each is what it deletes).
	local function ended(session)
		local rooms = session.ping_muc_cloud_rooms;
		if not rooms or not session.full_jid then return; end
		session.ping_muc_cloud_rooms = nil;
		for room in pairs(rooms) do enqueue({ type = "leave", user = session.full_jid, room = room }); end
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
		each_session(function (session, rooms)
			for room in pairs(rooms) do list[#list + 1] = { user = session.full_jid, room = room }; end
		end);
		return list;
	end

	-- The joins not posted for join_refresh seconds (a quiet session must not expire in ping-muc).
	local function stale()
		local list, now = {}, time.now();
		each_session(function (session, rooms)
			for room, join in pairs(rooms) do
				if now - join.at >= join_refresh then list[#list + 1] = { user = session.full_jid, room = room }; end
			end
		end);
		return list;
	end

	-- The join event posting a live join again (with its since), or nil if it is gone.
	local function rejoin(user, room)
		local session = full_sessions[user];
		local known = session and session.ping_muc_cloud_rooms and session.ping_muc_cloud_rooms[room];
		if not known then return nil; end
		known.at = time.now();
		return { type = "join", user = user, room = room, nick = known.nick, since = known.since };
	end

	return { request = request; track = track; ended = ended; forget = forget; rooms = rooms_of; live = live;
		stale = stale; rejoin = rejoin };
end
