-- The events mod_ping_muc_cloud posts to ping-muc: queued in memory (bounded), sent in
-- order, one signed request at a time, batched, and retried with backoff under the same
-- webhook-id. Nothing here ever makes stanza processing wait.
--
-- return function (opts) -> { enqueue = function (event), unload = function () }
-- opts: url, sign (webhook.lib's signer), queue_size, batch_size, retry_min, retry_max, http_timeout.

local http = require "net.http";
local id = require "util.id";
local json = require "util.json";
local time = require "util.time";

-- Below ping-muc's 256 KiB limit, with room for the envelope.
local MAX_BATCH_BYTES = 200 * 1024;

return function (opts)
	local events_url, sign = opts.url, opts.sign;
	local queue_size, batch_size = opts.queue_size, opts.batch_size;
	local retry_min, retry_max, http_timeout = opts.retry_min, opts.retry_max, opts.http_timeout;

	local last_seq = 0;
	-- Server clock in microseconds, strictly increasing so ping-muc can order events.
	local function next_seq()
		local now_us = math.floor(time.now() * 1000000);
		if now_us <= last_seq then now_us = last_seq + 1; end
		last_seq = now_us;
		return now_us;
	end

	local queue, q_first, q_last = {}, 1, 0;
	local dropped = 0;
	local sending = nil; -- the batch in flight: { id, body, count, attempt }
	local flush;

	local function enqueue(event)
		event.seq = next_seq();
		event.host = module.host;
		if q_last - q_first + 1 >= queue_size then
			-- Keep what is queued (it is older and in order), lose the newcomer.
			dropped = dropped + 1;
			if dropped == 1 or dropped % 1000 == 0 then
				module:log("warn", "Event queue full (%d), dropped %d event(s) so far, latest: %s %s",
					queue_size, dropped, event.type, event.user or "");
			end
			return;
		end
		q_last = q_last + 1;
		queue[q_last] = event;
		flush();
	end

	local function drop_batch(count)
		for i = q_first, q_first + count - 1 do queue[i] = nil; end
		q_first = q_first + count;
	end

	local function post_batch()
		local batch = sending;
		local timestamp = tostring(os.time());
		local done = false;
		local req;
		local function finished(body, code)
			if done then return; end
			done = true;
			if code >= 200 and code < 300 then
				drop_batch(batch.count);
				sending = nil;
				if dropped > 0 then
					module:log("warn", "Delivery resumed; %d event(s) had been dropped while the queue was full", dropped);
					dropped = 0;
				end
				return flush();
			elseif code >= 400 and code < 500 and code ~= 408 and code ~= 429 then
				-- Retrying a refused request cannot help: drop it loudly.
				module:log("error", "ping-muc refused %d event(s) with HTTP %d: %s", batch.count, code, tostring(body):sub(1, 300));
				drop_batch(batch.count);
				sending = nil;
				return flush();
			end
			-- 5xx, 408, 429 (a throttled endpoint) or a network error: retry the same webhook-id, order kept.
			batch.attempt = batch.attempt + 1;
			local delay = math.min(retry_max, retry_min * 2 ^ (batch.attempt - 1));
			module:log("warn", "Delivering %d event(s) failed (%s), retry %d in %gs",
				batch.count, code == 0 and tostring(body) or ("HTTP " .. code), batch.attempt, delay);
			module:add_timer(delay, post_batch);
		end
		req = http.request(events_url, {
			method = "POST";
			body = batch.body;
			headers = {
				["Content-Type"] = "application/json";
				["webhook-id"] = batch.id;
				["webhook-timestamp"] = timestamp;
				["webhook-signature"] = sign(batch.id, timestamp, batch.body);
			};
		}, function (body, code) finished(body, tonumber(code) or 0); end);
		-- net.http has no timeout of its own.
		module:add_timer(http_timeout, function ()
			if not done and req and req.cancel then req:cancel("timeout"); end
			finished("timeout", 0);
		end);
	end

	function flush()
		if sending or q_last < q_first then return; end
		-- Cut by count and by size: ping-muc refuses a body over 256 KiB (413) as a whole.
		local events, bytes = {}, 0;
		for i = q_first, math.min(q_last, q_first + batch_size - 1) do
			bytes = bytes + #json.encode(queue[i]) + 1;
			if #events > 0 and bytes > MAX_BATCH_BYTES then break; end
			events[#events + 1] = queue[i];
		end
		sending = { id = "msg_" .. id.long(), body = json.encode({ v = 1, events = events }), count = #events, attempt = 0 };
		post_batch();
	end

	local function unload()
		if q_last >= q_first then
			module:log("warn", "Unloaded with %d undelivered event(s)", q_last - q_first + 1);
		end
	end

	return { enqueue = enqueue; unload = unload };
end
