-- Standard Webhooks (https://www.standardwebhooks.com/) for mod_ping_muc_cloud:
-- reading a secret, signing a message, and checking signed calls (with replays refused).

local base64 = require "util.encodings".base64;
local hashes = require "util.hashes";

local TOLERANCE = 300; -- seconds, as in Standard Webhooks
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

-- Checks the webhook-* headers of signed calls under any key of ring(); each webhook-id once.
local function verifier(ring)
	local replays = {}; -- webhook-id -> expiry

	-- msg_id if the call is genuine, fresh and new; nil, reason otherwise.
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
		if replays[msg_id] and replays[msg_id] > now then return nil, "replayed webhook-id"; end
		replays[msg_id] = now + 2 * TOLERANCE;
		return msg_id;
	end

	-- Forgets webhook-ids whose timestamps are too old to pass anyway.
	local function sweep(now)
		for msg_id, expiry in pairs(replays) do if expiry <= now then replays[msg_id] = nil; end end
	end

	return { verify = verify; sweep = sweep };
end

return { key = key; keys = keys; signer = signer; verifier = verifier };
