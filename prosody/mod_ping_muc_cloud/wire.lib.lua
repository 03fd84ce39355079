-- The JSON mod_ping_muc_cloud puts on the wire (docs/events.md), and what it reads back.
-- Pure functions of their arguments (only util.json), so they can be checked outside Prosody.
--
-- return { seq = function (n) -> string, event = function (event) -> JSON string,
--          batch = function ({ JSON string, ... }) -> JSON string, answer = function (body) -> table? }

local json = require "util.json";

-- A microsecond seq is about 1.8e15. On Lua 5.1, 5.2 and LuaJIT every number is a double and
-- tostring() (so util.json) prints it with "%.14g", e.g. 1.7640756e+15: neighbouring seqs
-- print alike and ping-muc reads ties. "%.0f" prints every integral double below 2^53 exactly,
-- on every Lua ("%d" refuses a float on 5.3+ and is not portable either).
local function seq(n)
	return string.format("%.0f", n);
end

-- The fields of each event type, in a fixed order (docs/events.md). Numbers: seq, epoch, since.
local FIELDS = { "type", "seq", "epoch", "since", "host", "user", "room", "nick", "remotes", "direction" };
local NUMBERS = { seq = true, epoch = true, since = true };

local function event(e)
	local out = {};
	for _, k in ipairs(FIELDS) do
		local v = e[k];
		if v ~= nil then
			out[#out + 1] = json.encode(k) .. ":" .. (NUMBERS[k] and seq(v) or json.encode(v));
		end
	end
	return "{" .. table.concat(out, ",") .. "}";
end

local function batch(encoded)
	return '{"v":1,"events":[' .. table.concat(encoded, ",") .. "]}";
end

-- ping-muc's 200 body: { ok, applied, refused = { { index, type, error }, ... } } (or nil).
local function answer(body)
	local ok, parsed = pcall(json.decode, body or "");
	if ok and type(parsed) == "table" then return parsed; end
	return nil;
end

return { seq = seq; event = event; batch = batch; answer = answer };
