-- The events mod_ping_muc_cloud posts to ping-muc: queued in memory (bounded), sent in
-- order, one signed request at a time, batched, and retried with backoff under the same
-- webhook-id. Nothing here ever makes stanza processing wait.
--
-- Joins, leaves and heartbeats linger up to `linger` seconds so that a quiet server still
-- posts several per request. An s2s-close or s2s-up goes at once, with everything queued
-- before it (a round reads the joins a delay after the close: the close carries every event
-- before it), and so does a full batch and a resync's re-posted joins.
--
-- Every event carries `epoch`: the seq at which this instance's resync began (its load or
-- reload, or a resync after an overflow). ping-muc keys the joins by it, and a round reads
-- those of its close's epoch: a resync re-posts every live join under the new epoch, and the
-- joins of older epochs are never read again. The events still queued when a resync begins
-- (s2s-closes kept through an overflow or carried over a reload) take the new epoch: a
-- close's round reads the joins the resync posts right after it, not an epoch whose joins
-- were dropped or still lingering.
--
-- When the queue overflows, or ping-muc refuses a batch with a 4xx, what was lost is
-- superseded: the s2s-close events are kept (a lost close is a round that never runs; a held
-- close replaces an older held one of the same link, which it covers), the rest dropped, and
-- the module resyncs under a new epoch: every live join again. Joins posted again (resync,
-- load, refresh) are fed into the queue only as it drains, so a host with more joins than the
-- queue holds loses none of them.
--
-- seq (microseconds) never goes back, not across a reload (carried in memory) nor across a
-- restart: the highest seq ping-muc may have applied (`mark`, a store) is saved before the
-- request that carries it, and lowered again to the highest it applied when it refuses some
-- (a seq more than 300 s ahead of its clock); a new process starts above the mark. Whatever the
-- clock did across the restart, no later event of this server is older than one ping-muc
-- applied, and none is refused for a lead it did not have: only seqs ping-muc took are kept, so
-- restarts do not push the seqs ahead of the clock.
--
-- Every `heartbeat` seconds a heartbeat event tells ping-muc the module is alive (its alarm
-- fires when none arrives): it lingers like a join, so it rides with the next batch, and only
-- an idle module posts it alone. At most one is undelivered at a time, and a heartbeat never
-- overflows the queue: while ping-muc is unreachable they do not pile up.
--
-- An s2s-up (a link of the host is up again: ping-muc re-checks a round waiting for it) is a
-- hint too: it never overflows the queue; one that finds it full, or a resync pending, is dropped.
--
-- Every request carries `ping-muc-host: <this VirtualHost>`: the module is per host, so are
-- all the events of a request, and ping-muc picks the host's secrets by it. An IDN host is
-- named by its ASCII form (A-labels): an HTTP header carries ASCII (RFC 9110 §5.5).
--
-- return function (opts) -> { enqueue, resync, repost, save, unload }
-- opts: url, sign (webhook.lib's signer), wire (wire.lib), queue_size, batch_size, retry_min,
--       retry_max, http_timeout, heartbeat (seconds, 0 for none), linger (seconds, 0 for none),
--       saved (events state from a module reload, or nil),
--       live () -> { { user, room }, ... } and rejoin (user, room) -> join event or nil (joins.lib's),
--       mark: { load () -> number?, save (number) } for the seq high-water mark, or nil.

local http = require "net.http";
local idna = require "util.encodings".idna;
local id = require "util.id";
local new_queue = require "util.queue".new;
local time = require "util.time";

-- Below ping-muc's 256 KiB limit, with room for the envelope.
local MAX_BATCH_BYTES = 200 * 1024;

-- Backoff with jitter (half to all of the step), so that many servers do not retry in lock-step.
local function backoff(min, max, attempt)
	return math.min(max, min * 2 ^ (attempt - 1)) * (0.5 + 0.5 * math.random());
end

-- The link an s2s-close is about: a later close of it covers an earlier one.
local function link_key(e)
	local remotes = {};
	for i, r in ipairs(e.remotes or {}) do remotes[i] = r; end
	table.sort(remotes);
	return tostring(e.direction) .. " " .. table.concat(remotes, " ");
end

return function (opts)
	local events_url, sign, wire = opts.url, opts.sign, opts.wire;
	local queue_size, batch_size = opts.queue_size, opts.batch_size;
	local retry_min, retry_max, http_timeout = opts.retry_min, opts.retry_max, opts.http_timeout;
	local live, rejoin = opts.live, opts.rejoin;
	local linger = opts.linger or 0;
	local host_header = module.host:match("[\128-\255]") and idna.to_ascii(module.host) or module.host;

	-- For an operator's OpenMetrics exporter (mod_http_openmetrics): prosody_mod_ping_muc_cloud/…
	local count_queued = module:measure("events_queued", "counter");
	local count_sent = module:measure("events_sent", "counter");
	local count_dropped = module:measure("events_dropped", "counter");
	local count_refused = module:measure("events_refused", "counter");

	local saved = opts.saved or {};
	local mark = opts.mark;
	local function clock_us() return math.floor(time.now() * 1000000); end
	local last_seq = tonumber(saved.last_seq) or 0;
	local loaded, marked = pcall(function () return mark and tonumber(mark.load()); end);
	if not loaded then module:log("warn", "Could not read the seq mark: %s", tostring(marked)); marked = nil; end
	if marked then last_seq = math.max(last_seq, marked); end
	-- Server clock in microseconds, strictly increasing so ping-muc can order events.
	local function next_seq()
		local now_us = clock_us();
		if now_us <= last_seq then now_us = last_seq + 1; end
		last_seq = now_us;
		return now_us;
	end
	-- The epoch of the events enqueued now: taken at load (the load's resync keeps it), again as
	-- each later resync begins.
	local epoch, epoch_used = next_seq(), false;
	-- The mark (a failed save is logged and the request goes anyway: a lost event is worse than
	-- a mark behind).
	local marked_seq = marked or 0;
	local function save_mark(seq)
		if not mark or seq == marked_seq then return; end
		local ok, err = pcall(mark.save, seq);
		if ok then marked_seq = seq; else module:log("warn", "Could not save the seq mark: %s", tostring(err)); end
	end
	-- The highest seq of `events`, but those whose (0-based) index `skip` holds.
	local function top_seq(events, skip)
		local top = 0;
		for i, e in ipairs(events) do
			if not (skip and skip[i - 1]) and e.seq > top then top = e.seq; end
		end
		return top;
	end

	local queue = new_queue(queue_size);
	local held = {}; -- s2s-closes that found the queue full of s2s-closes: one per link, at most queue_size
	local sending = nil; -- the batch in flight: { id, body, count, attempt, events }
	local resync_needed = false; -- the queue overflowed or a batch was refused: resync
	local resyncing = false; -- a resync's joins are still being fed: they go at once
	local urgent = 0; -- queued events that are posted at once (their linger is none)
	local queued_bytes = 0; -- the queued events' JSON, for a full batch
	local linger_armed = false; -- a timer will flush when the oldest event's linger ends
	local paused = false; -- after a refused batch: nothing is sent until its backoff ends
	local refusals = 0; -- batches refused in a row (4xx), for the backoff
	local dropped = 0; -- events dropped since the last overflow was reported
	-- Joins to post again, fed as the queue drains: a FIFO with explicit ends (`#` on a table
	-- emptied from the front may return any border on Lua 5.1 to 5.3 and LuaJIT).
	local reposts, repost_head, repost_tail, reposting = {}, 1, 0, {};
	local function clear_reposts() reposts, repost_head, repost_tail, reposting = {}, 1, 0, {}; end
	local stopped = false; -- unloaded: this sender posts nothing more
	local heartbeat_pending = false; -- a heartbeat is queued or in flight
	-- Hints (heartbeat, s2s-up) a ping-muc that does not know them yet refuses: logged once per type.
	local hint_refusal_logged = { heartbeat = false; ["s2s-up"] = false };
	local req_in_flight;
	local flush;

	-- Posted without a linger: a link closed or up, a resync's re-posted join.
	local function at_once(event)
		return event.type == "s2s-close" or event.type == "s2s-up" or event.resync == true;
	end

	local function push(event)
		if not queue:push(event) then return false; end
		-- Private fields (not on the wire): when it was queued, and its JSON.
		event.queued_at = event.queued_at or time.now();
		event.text = event.text or wire.event(event);
		if at_once(event) then urgent = urgent + 1; end
		queued_bytes = queued_bytes + #event.text + 1;
		count_queued(1);
		return true;
	end

	local function pop()
		local event = queue:pop();
		if at_once(event) then urgent = urgent - 1; end
		queued_bytes = queued_bytes - #event.text - 1;
		return event;
	end

	-- The queue goes now: something in it goes at once, it fills a batch (or half the queue: a
	-- linger must not overflow a small queue), or its oldest event (the front: the queue is in
	-- order) has lingered long enough (1 ms early: a timer's float).
	local full = math.min(batch_size, math.max(1, math.floor(queue_size / 2)));
	local function due()
		if urgent > 0 or queue:count() >= full or queued_bytes >= MAX_BATCH_BYTES then return true; end
		return time.now() + 0.001 >= queue:peek().queued_at + linger;
	end

	local function arm()
		if linger_armed then return; end
		linger_armed = true;
		module:add_timer(math.max(0, queue:peek().queued_at + linger - time.now()), function ()
			linger_armed = false;
			flush();
		end);
	end

	-- Full: keep the s2s-closes in order, drop everything else (the resync supersedes it).
	local function overflow(event)
		local closes, lost = {}, 1;
		for e in queue:consume() do
			if e.type == "s2s-close" then closes[#closes + 1] = e; else lost = lost + 1; end
		end
		urgent, queued_bytes = 0, 0;
		for _, e in ipairs(closes) do push(e); end
		heartbeat_pending = false;
		clear_reposts();
		if not resync_needed then
			module:log("warn", "Event queue full (%d): dropped %d event(s), latest: %s %s; will resync once ping-muc answers",
				queue_size, lost, event.type, event.user or "");
		end
		resync_needed = true;
		dropped = dropped + lost;
		count_dropped(lost);
	end

	-- An s2s-close the queue has no room for: it replaces a held close of the same link (which
	-- it covers: every join present at the earlier close is still there at the later one, or
	-- left); past queue_size held links the oldest is dropped, loudly.
	local function hold(event)
		local key = link_key(event);
		for i, e in ipairs(held) do
			if link_key(e) == key then table.remove(held, i); break; end
		end
		held[#held + 1] = event;
		if #held > queue_size then
			local lost = table.remove(held, 1);
			module:log("error", "Held s2s-closes over %d links: dropped the oldest (%s)", queue_size, link_key(lost));
			count_dropped(1);
		end
	end

	local function enqueue(event)
		event.seq = event.seq or next_seq(); -- an s2s-close carried over a reload keeps its own
		event.epoch = epoch;
		if stopped then return event; end
		event.host = module.host;
		if event.type == "s2s-close" then
			if #held > 0 or not push(event) then hold(event); end
		elseif event.type == "s2s-up" then
			-- A hint, like a heartbeat: it never overflows the queue (nor starts a resync).
			if resync_needed or not push(event) then count_dropped(1); return event; end
		elseif resync_needed then
			-- The resync will carry the state as it is then: this event is superseded.
			dropped = dropped + 1;
			count_dropped(1);
			return event;
		elseif not push(event) then
			overflow(event);
		end
		flush();
		return event;
	end

	-- Joins posted again are fed up to half the queue: live events keep room to arrive.
	local function feed()
		while #held > 0 and queue:count() < queue_size do push(table.remove(held, 1)); end
		local limit = math.max(1, math.floor(queue_size / 2));
		while repost_head <= repost_tail and queue:count() < limit do
			local r = reposts[repost_head];
			reposts[repost_head] = nil;
			repost_head = repost_head + 1;
			reposting[r.user .. " " .. r.room] = nil;
			-- Read at feed time: a leave since the list was made means nothing to post.
			local event = rejoin(r.user, r.room);
			if event then
				event.seq, event.epoch, event.host = next_seq(), epoch, module.host;
				event.resync = resyncing or nil;
				push(event);
			end
		end
		if repost_head > repost_tail then
			if repost_head > 1 then reposts, repost_head, repost_tail = {}, 1, 0; end
			resyncing = false;
		end
	end

	local function add_reposts(list)
		for _, r in ipairs(list) do
			local key = r.user .. " " .. r.room;
			if not reposting[key] then
				reposting[key] = true;
				repost_tail = repost_tail + 1;
				reposts[repost_tail] = r;
			end
		end
	end

	-- Post these joins ({ { user, room }, ... }) again, as the queue drains.
	local function repost(list)
		add_reposts(list);
		flush();
	end

	-- Not while ping-muc has not taken the previous one, nor into a full queue.
	local function heartbeat()
		if stopped or heartbeat_pending or resync_needed then return; end
		if push({ type = "heartbeat", seq = next_seq(), epoch = epoch, host = module.host }) then
			heartbeat_pending = true;
			flush();
		end
	end

	-- The batch is settled (accepted or refused for good): its heartbeat is no longer pending.
	local function settle(batch)
		for _, e in ipairs(batch.events) do
			if e.type == "heartbeat" then heartbeat_pending = false; end
		end
		sending = nil;
	end

	-- A refused hint (a ping-muc that does not know the type yet) is logged once per type.
	local function log_refused(r, batch)
		if hint_refusal_logged[r.type] ~= nil then
			if hint_refusal_logged[r.type] then return; end
			hint_refusal_logged[r.type] = true;
			module:log("warn", "ping-muc refused a %s (%s); further refused %ss are not logged",
				r.type, tostring(r.error), r.type);
			return;
		end
		module:log("error", "ping-muc refused event %s (%s) of a batch of %d: %s",
			tostring(r.index), tostring(r.type), batch.count, tostring(r.error));
	end

	local function begin_resync()
		if epoch_used then
			epoch = next_seq();
			-- What is queued goes before the re-posted joins: under their epoch.
			for _, e in queue:items() do
				queued_bytes = queued_bytes - #e.text;
				e.epoch = epoch;
				e.text = wire.event(e);
				queued_bytes = queued_bytes + #e.text;
			end
			for _, e in ipairs(held) do e.epoch, e.text = epoch, nil; end
		end
		epoch_used = true;
		resync_needed = false;
		resyncing = true;
		clear_reposts();
		add_reposts(live());
	end

	-- Nothing is sent for `delay` seconds (a refused batch's backoff).
	local function pause(delay)
		paused = true;
		module:add_timer(delay, function ()
			paused = false;
			flush();
		end);
	end

	-- (Re)loaded, or the queue overflowed: every live join again.
	local function resync()
		resync_needed = true;
		flush();
	end

	local function post_batch()
		if stopped then return; end
		local batch = sending;
		local timestamp = tostring(os.time());
		local done = false;
		local req;
		local function finished(body, code)
			if done or stopped then return; end
			done = true;
			req_in_flight = nil;
			local answer = code >= 200 and code < 300 and wire.answer(body);
			if answer and answer.ok == true then
				local refused = answer and type(answer.refused) == "table" and answer.refused or {};
				-- ping-muc applied the rest; a refused event would be refused again: log it, do not retry.
				for _, r in ipairs(refused) do
					if type(r) == "table" then log_refused(r, batch); end
				end
				count_refused(#refused);
				count_sent(batch.count - #refused);
				if #refused > 0 then
					local skip = {};
					for _, r in ipairs(refused) do
						if type(r) == "table" and tonumber(r.index) then skip[tonumber(r.index)] = true; end
					end
					save_mark(math.max(batch.mark_before, top_seq(batch.events, skip)));
				end
				settle(batch);
				refusals = 0;
				if dropped > 0 then
					module:log("warn", "Delivery resumed; %d event(s) had been dropped while the queue was full, resyncing", dropped);
					dropped = 0;
				end
				return flush();
			elseif code >= 400 and code < 500 and code ~= 401 and code ~= 408 and code ~= 429 then
				-- Retrying a refused request cannot help: drop it loudly, but keep its s2s-closes
				-- and resync (its joins and leaves are lost), after a backoff: a refusal that
				-- lasts (a host not yet registered) must not spin.
				refusals = refusals + 1;
				local delay = backoff(retry_min, retry_max, refusals);
				module:log("error", "ping-muc refused %d event(s) with HTTP %d: %s; resync in %gs",
					batch.count, code, tostring(body):sub(1, 300), delay);
				count_refused(batch.count);
				settle(batch);
				local held_links = {};
				for _, e in ipairs(held) do held_links[link_key(e)] = true; end
				for i = #batch.events, 1, -1 do
					local e = batch.events[i];
					-- A held close of the same link is later: it covers this one.
					if e.type == "s2s-close" and not held_links[link_key(e)] then table.insert(held, 1, e); end
				end
				resync_needed = true;
				pause(delay);
				return;
			end
			-- 5xx, 408, 429 (a throttled endpoint), 401 (the secrets disagree, e.g. a rotation
			-- half done: kept until they agree again), a 2xx that is not ping-muc's answer (a
			-- proxy's page) or a network error: retry the same webhook-id, signed anew, order kept.
			batch.attempt = batch.attempt + 1;
			local delay = backoff(retry_min, retry_max, batch.attempt);
			if code == 401 then
				module:log("error", "ping-muc refused the signature of %d event(s) (HTTP 401: %s); check "
					.. "ping_muc_cloud_webhook_secret against ping-muc's; retry %d in %gs",
					batch.count, tostring(body):sub(1, 200), batch.attempt, delay);
			else
				local why = code == 0 and tostring(body) or code < 300 and ("HTTP " .. code .. " without ping-muc's answer")
					or ("HTTP " .. code);
				module:log("warn", "Delivering %d event(s) failed (%s), retry %d in %gs", batch.count, why, batch.attempt, delay);
			end
			module:add_timer(delay, post_batch);
		end
		-- Before it goes: ping-muc may apply it and the answer be lost.
		batch.mark_before = batch.mark_before or marked_seq;
		save_mark(math.max(marked_seq, top_seq(batch.events)));
		req = http.request(events_url, {
			method = "POST";
			body = batch.body;
			headers = {
				["Content-Type"] = "application/json";
				["ping-muc-host"] = host_header;
				["webhook-id"] = batch.id;
				["webhook-timestamp"] = timestamp;
				["webhook-signature"] = sign(batch.id, timestamp, batch.body);
			};
		}, function (body, code) finished(body, tonumber(code) or 0); end);
		req_in_flight = req;
		-- net.http has no timeout of its own.
		module:add_timer(http_timeout, function ()
			if not done and req and req.cancel then req:cancel("timeout"); end
			finished("timeout", 0);
		end);
	end

	function flush()
		if stopped or sending or paused then return; end
		if resync_needed then begin_resync(); end
		feed();
		if queue:count() == 0 then return; end
		if not due() then arm(); return; end
		-- Taken out of the queue (its room goes to newer events); cut by count and by size:
		-- ping-muc refuses a body over 256 KiB (413) as a whole.
		local encoded, events, bytes = {}, {}, 0;
		while #events < batch_size and queue:count() > 0 do
			local text = queue:peek().text;
			bytes = bytes + #text + 1;
			if #events > 0 and bytes > MAX_BATCH_BYTES then break; end
			events[#events + 1] = pop();
			encoded[#encoded + 1] = text;
		end
		sending = { id = "msg_" .. id.long(), body = wire.batch(encoded), count = #events, attempt = 0, events = events };
		feed(); -- the batch made room
		post_batch();
	end

	-- For the next instance (module reload): the seq clock and the s2s-closes not yet
	-- delivered. Everything else is superseded by the next instance's resync.
	local function save()
		local closes = {};
		local function keep(e) if e.type == "s2s-close" then closes[#closes + 1] = e; end end
		if sending then for _, e in ipairs(sending.events) do keep(e); end end
		for _, e in queue:items() do keep(e); end
		for _, e in ipairs(held) do keep(e); end
		return { last_seq = last_seq; closes = closes };
	end

	-- Unloaded: this sender stops for good (no retry, no next batch); a reply to the
	-- request in flight is ignored.
	local function unload()
		stopped = true;
		if req_in_flight and req_in_flight.cancel then pcall(req_in_flight.cancel, req_in_flight, "unloaded"); end
		local left = queue:count() + #held + (sending and sending.count or 0);
		if left > 0 then module:log("warn", "Unloaded with %d undelivered event(s)", left); end
	end

	if (opts.heartbeat or 0) > 0 then
		module:add_timer(opts.heartbeat, function ()
			if stopped then return; end
			heartbeat();
			return opts.heartbeat;
		end);
	end

	-- Closes carried over a reload go first, with their own seqs.
	for _, e in ipairs(saved.closes or {}) do
		enqueue({ type = "s2s-close", seq = e.seq, remotes = e.remotes, direction = e.direction });
	end

	return { enqueue = enqueue; resync = resync; repost = repost; save = save; unload = unload };
end
