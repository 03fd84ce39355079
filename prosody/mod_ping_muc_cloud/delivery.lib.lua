-- What the stanza API sends, and the replies it takes: self-pings (matched in a table of our
-- own, the reply never reaching the client), MUC unavailable notifications, server pings.
--
-- Self-pings are matched here, not with module:send_iq: its cache of pending ids holds 256
-- entries and evicts the oldest, and the reply to an evicted id goes on to the client (a stray
-- iq result it never asked for). Here an id stays until its reply or its timeout, and after
-- the timeout in `late` (bounded), where its reply is still swallowed. A reply is taken only
-- from the occupant JID pinged (compared after jid.prep), to the session that pinged.
--
-- return function (opts) -> { ping, expire, busy, reply, notify, server_ping, sweep, unload }
-- opts: forget (joins.lib's), reason (the notification's text), ping_timeout, max_inflight.

local cache = require "util.cache";
local id = require "util.id";
local jid = require "util.jid";
local st = require "util.stanza";
local timer = require "util.timer";

local hosts = prosody.hosts;

local MUC_USER_NS = "http://jabber.org/protocol/muc#user";

return function (opts)
	local forget, reason_text, max_inflight = opts.forget, opts.reason, opts.max_inflight;
	local late_window = math.max(600, 10 * opts.ping_timeout);

	-- our ping id -> { user, occupant (prepped), done (reply stanza), abort (unloaded) }
	local inflight, inflight_count = {}, 0;
	-- Timed-out ping ids -> expiry: their late replies are swallowed. Past the bound the oldest
	-- is forgotten (its reply, if it ever comes, reaches the client as a stray result).
	local late = cache.new(math.max(1000, 10 * max_inflight));
	local gauge_inflight = module:measure("pings_inflight", "amount");
	local function inflight_add(n)
		inflight_count = inflight_count + n;
		gauge_inflight(inflight_count);
	end

	local function busy() return inflight_count >= max_inflight; end

	-- Sends a checked self-ping ({ user, occupant }); entry.done gets the reply. Returns our id.
	local function ping(verdict, entry)
		-- Our own id: unguessable, and unknown to the client so its replies cannot be confused.
		local ping_id = "pmc-" .. id.long();
		entry.user, entry.occupant = verdict.user, jid.prep(verdict.occupant);
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
		late:set(ping_id, os.time() + late_window);
		return true;
	end

	-- An iq to one of our full JIDs: true (consumed) if it answers one of our self-pings.
	local function reply(event)
		local stanza = event.stanza;
		local kind = stanza.attr.type;
		if kind ~= "result" and kind ~= "error" then return; end
		local ping_id = stanza.attr.id;
		if not ping_id then return; end
		local entry = inflight[ping_id];
		if entry and entry.user == stanza.attr.to and stanza.attr.from and jid.prep(stanza.attr.from) == entry.occupant then
			inflight[ping_id] = nil;
			inflight_add(-1);
			entry.done(stanza);
			return true;
		elseif late:get(ping_id) then
			late:set(ping_id, nil);
			module:log("debug", "Swallowed a late self-ping reply for %s", tostring(stanza.attr.to));
			return true;
		end
	end

	-- Delivers the MUC unavailable notification from room/nick to the session. Rebuilt from
	-- checked parts only; routed so other modules see it. The join is forgotten first, so
	-- joins.lib posts no leave for it: the round that asked knows (joins.lib's forget).
	local function notify(user, occupant, stanza_id)
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

	-- XEP-0199 §4.2, server to server: brings the s2s link up. The reply comes to this host,
	-- which drops it.
	local function server_ping(host)
		module:send(st.iq({ type = "get", id = "pmc-" .. id.medium(), from = module.host, to = host })
			:tag("ping", { xmlns = "urn:xmpp:ping" }));
	end

	-- Forgets timed-out ping ids whose replies can no longer come.
	local function sweep(now)
		local expired = {};
		for ping_id, expiry in late:items() do
			if expiry <= now then expired[#expired + 1] = ping_id; end
		end
		for _, ping_id in ipairs(expired) do late:set(ping_id, nil); end
	end

	-- Unloaded: pending calls are aborted, and the replies still to come (ids in flight or
	-- timed out) are swallowed until they expire, by a handler that outlives this module's
	-- hooks: without it they would reach the client.
	local function unload()
		local now, expiry = os.time(), nil;
		local pending = inflight;
		inflight = {};
		inflight_add(-inflight_count);
		for ping_id, entry in pairs(pending) do
			late:set(ping_id, now + late_window);
			entry.abort();
		end
		for _, e in late:items() do if not expiry or e > expiry then expiry = e; end end
		if not expiry then return; end
		local host_events = hosts[module.host] and hosts[module.host].events;
		if not host_events then return; end
		local function swallow(event)
			local stanza = event.stanza;
			local ping_id = stanza.attr.id;
			if (stanza.attr.type == "result" or stanza.attr.type == "error") and ping_id and late:get(ping_id) then
				late:set(ping_id, nil);
				return true;
			end
		end
		host_events.add_handler("iq/full", swallow, 1000);
		timer.add_task(expiry - now + 1, function () host_events.remove_handler("iq/full", swallow); end);
	end

	return { ping = ping; expire = expire; busy = busy; reply = reply; notify = notify; server_ping = server_ping;
		sweep = sweep; unload = unload };
end
