-- Stands in for the parts of Prosody the module's libraries touch, so that a plain Lua script
-- can load them (lib "name" = module:require("name")): the `module` and `prosody` globals, a
-- clock the script sets (CLOCK, seconds), timers it fires (advance), net.http and util.timer
-- recorders. Set before: PROSODY_LIB (a Prosody tree's lib dir) and MODULE_FOLDER.
-- Prosody's C libraries are built for Lua 5.4: under another interpreter the few calls the
-- event queue makes of them get plain-Lua stand-ins.
package.path = PROSODY_LIB .. "/?.lua;" .. package.path;
package.cpath = PROSODY_LIB .. "/?.so;" .. package.cpath;
-- Prosody 13's libraries require "prosody.util.x": its loader maps that to "util.x".
local loader = loadfile(PROSODY_LIB .. "/loader.lua");
if loader then loader("harness"); end

CLOCK = 1764075600;
local ids = 0;
local function next_id() ids = ids + 1; return "id" .. ids; end
package.loaded["util.time"] = { now = function () return CLOCK; end };
if _VERSION ~= "Lua 5.4" then
	package.preload["util.encodings"] = function ()
		local lower = function (s) return s and s:lower(); end
		return { idna = { to_ascii = function (s) return s; end };
			stringprep = { nodeprep = lower; nameprep = lower; resourceprep = function (s) return s; end };
			utf8 = { valid = function () return true; end }; base64 = {} };
	end
	package.preload["util.id"] = function () return { long = next_id; medium = next_id; short = next_id }; end
	package.preload["util.table"] = function ()
		return { pack = function (...) return { n = select("#", ...), ... }; end; create = function () return {}; end };
	end
end

-- Timers (module:add_timer, util.timer): fired by advance(), in time order.
TIMERS = {};
local function add_timer(delay, f)
	local t = { at = CLOCK + delay; f = f };
	t.stop = function () t.stopped = true; end
	TIMERS[#TIMERS + 1] = t;
	return t;
end
function advance(seconds)
	local until_ = CLOCK + seconds;
	while true do
		local next_t, next_i;
		for i, t in ipairs(TIMERS) do
			if not t.stopped and t.at <= until_ and (not next_t or t.at < next_t.at) then next_t, next_i = t, i; end
		end
		if not next_t then break; end
		table.remove(TIMERS, next_i);
		if next_t.at > CLOCK then CLOCK = next_t.at; end
		local again = next_t.f(CLOCK);
		if type(again) == "number" then next_t.at = CLOCK + again; TIMERS[#TIMERS + 1] = next_t; end
	end
	CLOCK = until_;
end
package.loaded["util.timer"] = { add_task = function (delay, f) return add_timer(delay, f); end };

-- net.http: each request is recorded; the script answers it with req.cb(body, code).
HTTP = {};
package.loaded["net.http"] = { request = function (url, opts, cb)
	local req = { url = url; body = opts.body; headers = opts.headers; cb = cb };
	req.cancel = function () req.cancelled = true; end
	HTTP[#HTTP + 1] = req;
	return req;
end };

-- What the module sent (module:send), and its log lines.
SENT, LOG = {}, {};
local hooks = {};
prosody = { hosts = {}; full_sessions = {} };
prosody.hosts["a.example"] = { type = "local"; sessions = {}; events = {
	add_handler = function (name, f) hooks[name] = f; end;
	remove_handler = function (name) hooks[name] = nil; end;
} };
HOST_HOOKS = hooks;
module = {
	host = "a.example"; name = "ping_muc_cloud";
	log = function (_, level, fmt, ...) LOG[#LOG + 1] = level .. ": " .. string.format(fmt, ...); end;
	measure = function () return function () end; end;
	add_timer = function (_, delay, f) return add_timer(delay, f); end;
	send = function (_, stanza) SENT[#SENT + 1] = stanza; end;
	get_host_type = function () return "local"; end;
};

-- module:require("name") of the module's folder.
function lib(name)
	return dofile(MODULE_FOLDER .. name .. ".lib.lua");
end

-- A connected session of this host (prosody.full_sessions and hosts[host].sessions).
function connect(full_jid)
	local node, host, resource = full_jid:match("^([^@]+)@([^/]+)/(.+)$");
	local session = { type = "c2s"; host = host; username = node; resource = resource; full_jid = full_jid; directed = {} };
	prosody.full_sessions[full_jid] = session;
	local hs = prosody.hosts[host];
	if hs then
		hs.sessions[node] = hs.sessions[node] or { sessions = {} };
		hs.sessions[node].sessions[resource] = session;
	end
	return session;
end
