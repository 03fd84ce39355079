-- Standard Webhooks (https://www.standardwebhooks.com/) for mod_ping_muc_cloud:
-- reading a secret, signing a message, and checking signed calls (with replays refused).

local base64 = require "util.encodings".base64;
local cache = require "util.cache";
local hashes = require "util.hashes";

local TOLERANCE = 300; -- seconds, as in Standard Webhooks
local MAX_REPLAYS = 100000; -- webhook-ids remembered (10 minutes of calls at 166/s)
local MIN_KEY_BYTES = 24;

-- A secret written whsec_<base64> is the decoded bytes, anything else its own bytes.
-- Refuses to load the module (logs and raises) without a secret or with a weak one.
local function key(name, secret)
	if not secret or secret == "" then
		module:log("error", "%s is required, refusing to load", name);
		error(name .. " is not set");
	end
	local bytes = secret;
	if secret:sub(1, 6) == "whsec_" then bytes = base64.decode(secret:sub(7)) or ""; end
	if #bytes < MIN_KEY_BYTES then
		module:log("error", "%s is too weak (%d bytes, at least %d needed), refusing to load", name, #bytes, MIN_KEY_BYTES);
		error(name .. " is too weak");
	end
	return bytes;
end

-- The keys of a secret and of its predecessor during a rotation (`previous`, optional: nil or
-- "" means none): { current, previous? }. Refuses a missing or weak secret as key() does.
local function keys(name, secret, previous)
	local ring = { key(name, secret) };
	if previous and previous ~= "" then ring[2] = key(name .. "_previous", previous); end
	return ring;
end

local function mac(k, msg_id, timestamp, body)
	return "v1," .. base64.encode(hashes.hmac_sha256(k, msg_id .. "." .. timestamp .. "." .. body));
end

-- sign(msg_id, timestamp, body) -> the webhook-signature value: one space-separated
-- signature per key of ring() (Standard Webhooks: the receiver needs one to match), so that
-- a receiver holding either the new or the previous secret accepts it during a rotation.
local function signer(ring)
	return function (msg_id, timestamp, body)
		local out = {};
		for i, k in ipairs(ring()) do out[i] = mac(k, msg_id, timestamp, body); end
		return table.concat(out, " ");
	end;
end

-- Checks the webhook-* headers of signed calls under any key of ring(); each webhook-id once,
-- for as long as its timestamp could pass (up to 2 × TOLERANCE), and over a module
-- reload (`saved`, from save()). A full cache of ids still valid refuses new calls (503)
-- rather than forget one.
local function verifier(ring, saved)
	-- webhook-id -> expiry; only an expired id is evicted.
	local replays = cache.new(MAX_REPLAYS, function (_, expiry) return expiry < os.time(); end);
	for msg_id, expiry in pairs(saved or {}) do
		if type(msg_id) == "string" and type(expiry) == "number" and expiry >= os.time() then replays:set(msg_id, expiry); end
	end

	-- msg_id if the call is genuine, fresh and new; nil, reason[, 503 when full] otherwise.
	local function verify(headers, body)
		local msg_id, timestamp, signatures = headers.webhook_id, headers.webhook_timestamp, headers.webhook_signature;
		if not msg_id or not timestamp or not signatures then
			return nil, "missing webhook-id, webhook-timestamp or webhook-signature";
		end
		if #msg_id > 256 then return nil, "webhook-id too long"; end
		if not timestamp:match("^%d+$") or #timestamp > 12 then return nil, "webhook-timestamp is not Unix seconds"; end
		if math.abs(os.time() - tonumber(timestamp)) > TOLERANCE then
			return nil, "webhook-timestamp outside the 5 minute tolerance";
		end
		local ok = false;
		for _, k in ipairs(ring()) do
			local expected = mac(k, msg_id, timestamp, body);
			for candidate in signatures:gmatch("%S+") do
				if #candidate == #expected and hashes.equals(candidate, expected) then ok = true; end
			end
		end
		if not ok then return nil, "bad webhook-signature"; end
		local now = os.time();
		local seen = replays:get(msg_id);
		if seen and seen >= now then return nil, "replayed webhook-id"; end
		-- Refused again until its timestamp (at most now + TOLERANCE) is too old to pass.
		if not replays:set(msg_id, now + 2 * TOLERANCE) then return nil, "too many calls in 10 minutes", 503; end
		return msg_id;
	end

	-- Forgets webhook-ids whose timestamps are too old to pass anyway.
	local function sweep(now)
		local expired = {};
		for msg_id, expiry in replays:items() do if expiry < now then expired[#expired + 1] = msg_id; end end
		for _, msg_id in ipairs(expired) do replays:set(msg_id, nil); end
	end

	-- For the next instance (module reload): the ids still refused.
	local function save()
		local out = {};
		for msg_id, expiry in replays:items() do out[msg_id] = expiry; end
		return out;
	end

	return { verify = verify; sweep = sweep; save = save };
end

return { key = key; keys = keys; signer = signer; verifier = verifier };
