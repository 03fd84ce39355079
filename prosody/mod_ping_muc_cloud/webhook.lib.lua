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

-- sign(msg_id, timestamp, body) -> the webhook-signature value under that key.
local function signer(k)
	return function (msg_id, timestamp, body)
		return "v1," .. base64.encode(hashes.hmac_sha256(k, msg_id .. "." .. timestamp .. "." .. body));
	end;
end

-- Checks the webhook-* headers of signed calls under that key; each webhook-id once.
local function verifier(k)
	local sign = signer(k);
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
		local expected = sign(msg_id, timestamp, body);
		local ok = false;
		for candidate in signatures:gmatch("%S+") do
			if #candidate == #expected and hashes.equals(candidate, expected) then ok = true; end
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

return { key = key; signer = signer; verifier = verifier };
