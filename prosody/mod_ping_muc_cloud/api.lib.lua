-- The stanza API that ping-muc calls back (POST /ping_muc_cloud/stanza, signed): a batch
-- (request.lib) whose items (items.lib) do exactly this, for sessions of this host in rooms on
-- other servers, and nothing else:
--   1. self-ping (XEP-0410) the session's occupant JID and return the reply, which the client
--      never sees (not even one arriving after the timeout);
--   2. heal: the same self-ping, whose "not joined" reply (outcome.lib) the module acts on
--      itself, if the session is still in the very join pinged: it delivers the notification
--      (3.) at once and answers <sent/> (<no-session/> if the join changed meanwhile); any
--      other reply is answered as a self-ping's;
--   3. notify: deliver the MUC unavailable presence (item none/none, status 110 + 333, the
--      server's own reason) from room/nick to the session, for the join named;
--   4. server ping: this host pings a remote domain, to bring its s2s link up.
-- A refused item is answered <refused code reason/>, the others proceed; the self-pings go out
-- at once, and the answer comes once every item has its answer or the ping timeout passed:
-- <batch xmlns="urn:ping-muc:stanza-api:2" version="3"> with one <item id> per request item,
-- in request order. The signals (<timeout/>, <no-session/>, <sent/>) are in
-- urn:ping-muc:stanza-api:1.
--
-- return function (opts) -> { handle, reply, sweep, save, unload }
-- opts: request (request.lib's), check (items.lib's), delivery (delivery.lib's), outcome
--       (outcome.lib), rooms (joins.lib's rooms_of), ping_timeout, keys (the API keys in
--       use: () -> { current, previous? }; without it, no other host is served here).
--
-- Several VirtualHosts with one configuration: ping-muc without a host registry calls one
-- URL for every host. A batch is the users' of one host (ping-muc never mixes hosts in a
-- batch); when that host is another local VirtualHost on which this module is loaded with the
-- very same API keys (current and previous alike), that host's instance runs the batch (its
-- sessions, joins, pings and s2s links). Any other host's items are refused here (403), as on
-- a host with keys of its own: a key never reaches a host that does not hold it.

local jid = require "util.jid";
local st = require "util.stanza";

local hosts = prosody.hosts;

local API_NS = "urn:ping-muc:stanza-api:1";
local BATCH_NS = "urn:ping-muc:stanza-api:2";
local VERSION = "3";

-- An API signal: <timeout/>, <no-session/> or <sent/>.
local function signal(name)
	return st.stanza(name, { xmlns = API_NS });
end

local count_batches = module:measure("batch_requests", "counter");
local count_items = module:measure("batch_items", "counter");
local count_item_refusals = module:measure("batch_refused", "counter");
local count_healed = module:measure("heal_notified", "counter");

return function (opts)
	local request, check, delivery = opts.request, opts.check, opts.delivery;
	local relayed, unjoined = opts.outcome.relayed, opts.outcome.unjoined;
	local rooms_of, ping_timeout = opts.rooms, opts.ping_timeout;
	local keys = opts.keys;

	-- Two key rings hold the same keys.
	local function same_keys(a, b)
		if #a ~= #b then return false; end
		local set = {};
		for _, k in ipairs(a) do set[k] = true; end
		for _, k in ipairs(b) do if not set[k] then return false; end end
		return true;
	end

	-- The batch runner of this module's instance on another local VirtualHost, if its API
	-- keys are ours; nil otherwise (not loaded there, or keys of its own).
	local function peer(host)
		local session = hosts[host];
		local env = keys and session and session.type == "local" and session.modules and session.modules[module.name];
		local other = env and env.module and rawget(env.module, "ping_muc_cloud_peer");
		if not other or not other.keys or not same_keys(other.keys(), keys()) then return nil; end
		return other.batch;
	end

	-- A heal's reply: acted on when the room no longer has the user and the session is still
	-- in the join pinged (joins.lib keeps a join's table until it leaves, and makes a new one
	-- for a rejoin or a nick change).
	local function healed(ping, relay)
		local room = jid.bare(ping.occupant);
		if not unjoined(relay, room, module.host) then return relay; end
		local rooms = rooms_of(ping.user);
		if not rooms or rooms[room] ~= ping.join then return signal("no-session"); end
		delivery.notify(ping.user, ping.occupant);
		count_healed(1);
		return signal("sent");
	end

	local function batch(items, response)
		count_batches(1);
		count_items(#items);
		local answers, pings, pending, finished = {}, {}, 1, false;
		local timer;
		local function finish()
			if finished then return; end
			finished = true;
			if timer then timer:stop(); end
			local out = st.stanza("batch", { xmlns = BATCH_NS, version = VERSION });
			for i, item in ipairs(items) do out:tag("item", { id = item.attr.id }):add_child(answers[i]):up(); end
			request.respond(response, 200, tostring(out));
		end
		-- `pending` counts the pings in flight, plus one until every item is started.
		local function release()
			pending = pending - 1;
			if pending == 0 then finish(); end
		end
		local function settle(i, answer)
			if answers[i] then return; end
			answers[i] = answer;
			release();
		end
		local function abort()
			if finished then return; end
			finished = true;
			if timer then timer:stop(); end
			request.refuse(response, "unloaded");
		end
		local server_pinged = {}; -- a domain is pinged once per batch
		for i, item in ipairs(items) do
			local verdict = check(item);
			if verdict.ping and delivery.busy() then verdict = { refuse = 503; reason = "too many pings in flight" }; end
			if verdict.refuse then
				count_item_refusals(1);
				answers[i] = st.stanza("refused", { xmlns = BATCH_NS, code = tostring(verdict.refuse), reason = verdict.reason });
			elseif verdict.answer then
				answers[i] = signal(verdict.answer);
			elseif verdict.notify then
				local n = verdict.notify;
				delivery.notify(n.user, n.occupant, n.id);
				answers[i] = signal("sent");
			elseif verdict.server_ping then
				if not server_pinged[verdict.server_ping] then
					server_pinged[verdict.server_ping] = true;
					delivery.server_ping(verdict.server_ping);
				end
				answers[i] = signal("sent");
			else
				local ping, heal = verdict.ping, verdict.heal;
				pending = pending + 1;
				local entry = {
					done = function (reply)
						local relay = relayed(reply, ping.orig_id, "jabber:client");
						settle(i, heal and healed(ping, relay) or relay);
					end;
					abort = abort;
				};
				pings[i] = { delivery.ping(ping, entry), entry };
			end
		end
		if pending > 1 then
			timer = module:add_timer(ping_timeout, function ()
				for i, p in pairs(pings) do
					if delivery.expire(p[1], p[2]) then settle(i, signal("timeout")); end
				end
			end);
		end
		release(); -- every item is started: the batch answers once its pings are settled
		return true;
	end

	-- The host a batch is for: that of the first item naming a local JID (a self-ping's or a
	-- heal's `from`, a notification's `to`), else the ping-muc-host header (a batch of server
	-- pings names no user). nil when neither names one.
	local function host_of(items, headers)
		for _, item in ipairs(items) do
			local stanza, user = item, nil;
			if item.name == "heal" or item.name == "notify" then stanza = item.tags[1]; end
			if stanza and stanza.name == "iq" then user = stanza.attr.from;
			elseif stanza and stanza.name == "presence" then user = stanza.attr.to; end
			local _, host = jid.prepped_split(user);
			if host then return host; end
		end
		local _, host = jid.prepped_split(headers.ping_muc_host);
		return host;
	end

	-- The HTTP route: POST /stanza. Verified under this host's keys; run by the instance of
	-- the batch's host (this one, or a peer with the same keys, see above).
	local function handle(event)
		local items = request.read(event);
		if not items then return true; end
		local host = host_of(items, event.request.headers);
		local run = host and host ~= module.host and peer(host) or batch;
		return run(items, event.response);
	end

	-- Housekeeping: forget expired webhook-ids and timed-out ping ids.
	local function sweep(now)
		request.sweep(now);
		delivery.sweep(now);
	end

	-- What this module's instances on other hosts see of this one (peer, above).
	if keys then module.ping_muc_cloud_peer = { keys = keys; batch = batch }; end
	local function unload()
		module.ping_muc_cloud_peer = nil;
		delivery.unload();
	end

	return { handle = handle; reply = delivery.reply; sweep = sweep; save = request.save; unload = unload };
end
