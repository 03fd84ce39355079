-- mod_ping_muc_cloud: the server side of ping-muc (https://github.com/ping-muc)
--
-- Tells ping-muc about MUC joins and leaves, s2s links lost and up (signed events), and
-- serves the "stanza API" it calls back to self-ping rooms (XEP-0410) and notify users who fell out.
--
-- This file reads the options and wires the parts together. The parts are the libraries
-- next to it in this folder, loaded with module:require("<name>") from <name>.lib.lua:
--   webhook  Standard Webhooks: secrets, signatures, checking signed calls
--   wire     the JSON of the events (integer seqs on every Lua)
--   events   the bounded event queue, its resync and its delivery to ping-muc
--   joins    MUC joins of this host's sessions (as mod_track_muc_joins)
--   links    the remote domains an s2s session links us to
--   outcome  a self-ping's reply: what is relayed, whether it says "not joined" (XEP-0410)
--   request  the stanza API's HTTP request: limits, signature, the batch and its version
--   items    the stanza API's items, each checked: what the module may do for it
--   delivery what the stanza API sends (self-pings, notifications, server pings) and takes back
--   api      the stanza API: a batch, its items run and answered
--
-- MIT licensed. Depends on nothing outside Prosody 0.12+.

if module:get_host_type() ~= "local" then
	module:log("error", "mod_%s must be loaded on a VirtualHost, not on a Component", module.name);
	error("mod_" .. module.name .. " loaded on a component");
end

-- Options, read once (the secrets again on a config reload, below). Counts are whole and at
-- least 1 (a fraction would fail "%d" on Lua 5.3+; 0 would stop the queue or the API).
local function count(n) return math.max(1, math.floor(n)); end
local events_url = module:get_option_string("ping_muc_cloud_events_url");
local ping_timeout = math.max(0.1, module:get_option_number("ping_muc_cloud_ping_timeout", 10));
local max_inflight = count(module:get_option_number("ping_muc_cloud_max_inflight", 10000));
local batch_max_items = count(module:get_option_number("ping_muc_cloud_batch_max_items", 500));
local batch_max_bytes = count(module:get_option_number("ping_muc_cloud_batch_max_bytes", 262144));
local queue_size = count(module:get_option_number("ping_muc_cloud_queue_size", 50000));
local batch_size = math.floor(module:get_option_number("ping_muc_cloud_batch_size", 500));
local retry_min = module:get_option_number("ping_muc_cloud_retry_min", 1);
local retry_max = module:get_option_number("ping_muc_cloud_retry_max", 60);
local http_timeout = module:get_option_number("ping_muc_cloud_http_timeout", 30);
local join_refresh = module:get_option_number("ping_muc_cloud_join_refresh", 604800);
local heartbeat = module:get_option_number("ping_muc_cloud_heartbeat_interval", 60);
local linger = math.max(0, module:get_option_number("ping_muc_cloud_linger", 5));
local reason = module:get_option_string("ping_muc_cloud_reason", "Connection to remote server lost");

if not events_url or not events_url:match("^https?://") then
	module:log("error", "ping_muc_cloud_events_url is required (an http(s) URL), refusing to load");
	error("ping_muc_cloud_events_url is not set");
end
if batch_size < 1 or batch_size > 500 then -- ping-muc takes at most 500 events per request
	batch_size = batch_size < 1 and 1 or 500;
	module:log("warn", "ping_muc_cloud_batch_size must be 1 to 500, using %d", batch_size);
end
local webhook = module:require("webhook");
-- Secrets, each with its predecessor while a rotation runs: events are signed with both, API
-- calls verified against either. A weak or missing one refuses the load (errors in keys).
local function read_secrets()
	local webhook_secret = module:get_option_string("ping_muc_cloud_webhook_secret");
	local webhook_previous = module:get_option_string("ping_muc_cloud_webhook_secret_previous");
	local api_secret = module:get_option_string("ping_muc_cloud_api_secret");
	local api_previous = module:get_option_string("ping_muc_cloud_api_secret_previous");
	return webhook.keys("ping_muc_cloud_webhook_secret", webhook_secret, webhook_previous),
		webhook.keys("ping_muc_cloud_api_secret", api_secret, api_previous);
end
local webhook_keys, api_keys = read_secrets();

-- The parts. The events' resync reads the joins, which post through the events.
local joins;
local wire = module:require("wire");
local saved = module.saved_state or {}; -- set while a reload loads us
-- The seq high-water mark, so that seq never goes back across a restart (events.lib).
local marks = module:open_store("ping_muc_cloud_seq");
local mark = { load = function () return (marks:get(nil) or {}).seq; end;
	save = function (seq) assert(marks:set(nil, { seq = seq })); end };
local events = module:require("events")({
	url = events_url;
	sign = webhook.signer(function () return webhook_keys; end);
	wire = wire; mark = mark;
	queue_size = queue_size; batch_size = batch_size; heartbeat = heartbeat; linger = linger;
	retry_min = retry_min; retry_max = retry_max; http_timeout = http_timeout;
	saved = saved.events;
	live = function () return joins.live(); end;
	rejoin = function (user, room) return joins.rejoin(user, room); end;
});
local enqueue = events.enqueue;
joins = module:require("joins")({ enqueue = enqueue; refresh = join_refresh });
local s2s_remotes = module:require("links");
local api = module:require("api")({
	request = module:require("request")({
		verifier = webhook.verifier(function () return api_keys; end, saved.replays);
		batch_max_items = batch_max_items; batch_max_bytes = batch_max_bytes;
	});
	check = module:require("items")({ rooms = joins.rooms; seq = wire.seq });
	delivery = module:require("delivery")({
		forget = joins.forget; reason = reason; ping_timeout = ping_timeout; max_inflight = max_inflight;
	});
	outcome = module:require("outcome"); rooms = joins.rooms; ping_timeout = ping_timeout;
	keys = function () return api_keys; end; -- a host with these very keys shares our endpoint
});

module:depends("http");

-- A join request of a session (a rejoin under the same nick is a new join).
module:hook("pre-presence/full", function (event) joins.request(event.origin, event.stanza); end);
-- Reflected MUC self-presence tells us about joins, nick changes and leaves.
-- Priority 1: ahead of mod_presence, which delivers the stanza and ends the event.
module:hook("presence/full", function (event) joins.track(event.stanza); end, 1);

-- A session that ends leaves the rooms it joined.
module:hook("resource-unbind", function (event) joins.ended(event.session); end);

-- A link of this host closed (ping-muc coalesces both directions) or up: a waiting round re-checks.
local function link_event(kind) return function (event)
	local direction, remotes = s2s_remotes(event.session);
	if direction then enqueue({ type = kind, remotes = remotes, direction = direction }); end
end; end
module:hook_global("s2s-destroyed", link_event("s2s-close"));
module:hook_global("s2sout-established", link_event("s2s-up"));
module:hook_global("s2sin-established", link_event("s2s-up"));

-- Replies to our own self-pings are consumed here, before mod_iq delivers them.
module:hook("iq/full", function (event) return api.reply(event); end, 1000);

module:provides("http", {
	name = "ping_muc_cloud";
	-- Called on the headers of a chunked or oversized body too, to refuse it unread.
	streaming_uploads = true;
	route = { ["POST /stanza"] = function (event) return api.handle(event); end };
});

-- A config reload takes new secrets at once (rotation); a bad one keeps the ones in use.
module:hook_global("config-reloaded", function ()
	local ok, w, a = pcall(read_secrets);
	if ok then webhook_keys, api_keys = w, a; return; end
	module:log("error", "Config reloaded with a bad secret: keeping the secrets in use (%s)", tostring(w));
end);

module:add_timer(60, function () api.sweep(os.time()); return 60; end); -- expired ids

-- Quiet sessions: a join not posted for join_refresh seconds is posted again (with its since).
local refresh_every = math.max(1, math.min(3600, join_refresh / 4));
module:add_timer(refresh_every, function () events.repost(joins.stale()); return refresh_every; end);

function module.save() return { events = events.save(); replays = api.save() }; end
function module.unload() api.unload(); events.unload(); end

-- (Re)loaded: the joins of sessions that survived a reload, paced, under a new epoch.
events.resync();
