-- The stanza API's HTTP request (POST /ping_muc_cloud/stanza): its body limits, its signature,
-- and its one shape, <batch xmlns="urn:ping-muc:stanza-api:2" version="3"> holding
-- 1..batch_max_items elements, each with a unique id (api.lib checks each item on its own).
-- A body that is not such a batch, or names another version or none, is answered 400
-- <unsupported-version supported="3"/>; every other refusal is a status with a text.
--
-- return function (opts) -> { read (event) -> items or nil (answered), respond, refuse, sweep, save }
-- opts: verifier (webhook.lib's, under the API secret), batch_max_items, batch_max_bytes.

local errors = require "util.error";
local st = require "util.stanza";
local xml = require "util.xml";

local BATCH_NS = "urn:ping-muc:stanza-api:2";
local VERSION = "3";
local BATCH_ATTRS = { xmlns = true, version = true };
local LOG_EVERY = 60; -- seconds between two log lines of refused signatures

local DISCARD = { write = function () return true; end };

-- Every way the API refuses a request, in one registry (util.error): the HTTP status and a
-- default text. A refusal answers the status with the call's own detail, or the text.
local refusals = errors.init("ping_muc_cloud", {
	["malformed"] = { code = 400, type = "modify", condition = "bad-request", text = "not a well-formed batch" };
	["unsigned"] = { code = 401, type = "auth", condition = "not-authorized", text = "bad or missing signature" };
	["length-required"] = { code = 411, type = "modify", condition = "bad-request", text = "Content-Length required" };
	["too-large"] = { code = 413, type = "modify", condition = "policy-violation", text = "body too large" };
	["busy"] = { code = 503, type = "wait", condition = "resource-constraint", text = "too many calls" };
	["unloaded"] = { code = 503, type = "cancel", condition = "service-unavailable", text = "module unloaded" };
});

local function respond(response, code, body, content_type)
	response.status_code = code;
	response.headers.content_type = content_type or (code == 200 and "application/xml" or "text/plain; charset=utf-8");
	response:send(body);
end

local count_refused = module:measure("api_refused", "counter");

-- Answers a refusal from the registry; `close` ends the connection (the body was not read).
local function refuse(response, name, detail, close)
	local err = refusals.new(name);
	count_refused(1);
	if close then response.persistent = false; response.headers.connection = "close"; end
	respond(response, err.code, detail or err.text);
	return true;
end

local UNSUPPORTED = tostring(st.stanza("unsupported-version", { xmlns = BATCH_NS, supported = VERSION }));

return function (opts)
	local verifier, batch_max_items, batch_max_bytes = opts.verifier, opts.batch_max_items, opts.batch_max_bytes;
	local unlogged, logged_at = 0, nil; -- refused signatures not logged yet, and when the last line went

	-- An unauthenticated flood costs one log line a minute, with the count.
	local function log_unsigned(request, err)
		local now = os.time();
		unlogged = unlogged + 1;
		if logged_at and now - logged_at < LOG_EVERY then return; end
		module:log("warn", "Stanza API call refused from %s: %s (%d refused since the last line)",
			tostring(request.ip), err, unlogged);
		unlogged, logged_at = 0, now;
	end

	-- The batch's items, or nil once the request is answered with a refusal.
	local function read(event)
		local request, response = event.request, event.response;
		local function refused(name, detail, close) refuse(response, name, detail, close); return nil; end
		if request.body == false then
			-- Headers only (the app takes streaming uploads): Prosody calls early for a chunked
			-- body or one over http_max_content_size. Refuse it unbuffered: what arrives before
			-- the connection closes goes to a sink that keeps nothing (without a sink Prosody
			-- drops the connection at once, and the answer with it).
			request.body_sink = DISCARD;
			local length = tonumber(request.headers.content_length);
			if not length then return refused("length-required", nil, true); end
			return refused("too-large", "body over http_max_content_size", true);
		end
		local body = request.body or "";
		if #body > batch_max_bytes then
			return refused("too-large", ("body over %d bytes"):format(batch_max_bytes));
		end
		local ok, err, code = verifier.verify(request.headers, body);
		if not ok then
			if code == 503 then return refused("busy", err); end
			log_unsigned(request, err);
			return refused("unsigned", err);
		end
		-- No declaration, DOCTYPE, comment, CDATA or processing instruction.
		if body:find("<!", 1, true) or body:find("<?", 1, true) then
			return refused("malformed", "DOCTYPE, comments, CDATA and processing instructions are not allowed");
		end
		local root, perr = xml.parse(body);
		if not root then return refused("malformed", "not well-formed XML: " .. tostring(perr)); end
		if root.name ~= "batch" or root.attr.xmlns ~= BATCH_NS or root.attr.version ~= VERSION then
			count_refused(1);
			respond(response, 400, UNSUPPORTED, "application/xml");
			return nil;
		end
		for k in pairs(root.attr) do
			if not BATCH_ATTRS[k] then return refused("malformed", "a batch has no attribute but version"); end
		end
		local items, ids = {}, {};
		for _, child in ipairs(root) do
			if type(child) == "string" then
				if child:find("%S") then return refused("malformed", "text in a batch"); end
			else
				local item_id = child.attr.id;
				if not item_id or item_id == "" then return refused("malformed", "every item needs an id"); end
				if ids[item_id] then return refused("malformed", "duplicate item id"); end
				ids[item_id] = true;
				items[#items + 1] = child;
			end
		end
		if #items == 0 then return refused("malformed", "an empty batch"); end
		if #items > batch_max_items then
			return refused("malformed", ("more than %d items in a batch"):format(batch_max_items));
		end
		return items;
	end

	return { read = read; respond = respond; refuse = refuse; sweep = verifier.sweep; save = verifier.save };
end
