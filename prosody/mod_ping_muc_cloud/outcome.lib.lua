-- A self-ping's reply (XEP-0410): what of it ping-muc reads, and whether it says the room no
-- longer has the user. The second is "not-joined" of ping-muc's own rule (lib/domain/outcome.ts),
-- the one outcome the module acts on by itself, for a `heal` item of the stanza API.
-- test/prosody/outcome.test.ts holds both to ping-muc's reader (readPingAnswer, then classify)
-- on the same replies. Anything else (joined, a nick change, an error of unknown origin, our own
-- server's s2s error, a malformed error) is left to the round, which never guesses "not joined".
--
-- return { relayed = function (stanza, orig_id, xmlns) -> stanza,
--          unjoined = function (reply, room, host) -> boolean }

local jid = require "util.jid";
local st = require "util.stanza";

local STANZAS_NS = "urn:ietf:params:xml:ns:xmpp-stanzas";

-- RFC 6120 §8.3.3: the defined conditions; ping-muc cannot read any other.
local DEFINED = {};
for name in ([[bad-request conflict feature-not-implemented forbidden gone internal-server-error
	item-not-found jid-malformed not-acceptable not-allowed not-authorized policy-violation
	recipient-unavailable redirect registration-required remote-server-not-found
	remote-server-timeout resource-constraint service-unavailable subscription-required
	undefined-condition unexpected-request]]):gmatch("%S+") do DEFINED[name] = true; end

-- RFC 6120 §8.3.1–8.3.2: the one <error/> of the stanza's own namespace, and its one defined
-- condition (a stanzas-namespace child other than <text/>). error, condition; or nil for a
-- malformed error (none or several <error/>, none or several conditions, an undefined one,
-- several <text/>),
-- which ping-muc's reader refuses as a bad answer: it is never read as "any other error".
local function error_of(stanza)
	local found, condition;
	for _, child in ipairs(stanza.tags) do
		-- A child without xmlns inherits the stanza's (a reply built by relayed(), below).
		if child.name == "error" and (child.attr.xmlns == nil or child.attr.xmlns == stanza.attr.xmlns) then
			if found then return nil; end
			found = child;
		end
	end
	if not found then return nil; end
	local text = false;
	for child in found:childtags(nil, STANZAS_NS) do
		if child.name ~= "text" then
			if condition then return nil; end
			condition = child.name;
		elseif text then
			return nil; -- several <text/>: Prosody's own get_error would take one for the condition
		else
			text = true;
		end
	end
	if not DEFINED[condition] then return nil; end
	return found, condition;
end

-- Only what ping-muc reads of a self-ping reply (XEP-0410 §3: result, or an error whose
-- type, condition and `by` tell a room that forgot the user from one that cannot answer):
-- the iq's type, from, to and id, and for an error its type, `by` and defined condition
-- (RFC 6120 §8.3.2). A malformed error is relayed as an <error/> without a condition, which
-- ping-muc's reader refuses. A reply padded to 64 KiB relays in a few hundred bytes, so it
-- cannot outgrow ping-muc's answer limit and fail every retry.
-- In a batch the iq names its namespace (jabber:client): it would inherit the batch's.
local function relayed(stanza, orig_id, xmlns)
	local reply = st.iq({ xmlns = xmlns, type = stanza.attr.type, from = stanza.attr.from, to = stanza.attr.to, id = orig_id });
	if stanza.attr.type == "error" then
		local error_tag, condition = error_of(stanza);
		local first = error_tag or stanza:get_child("error");
		local error_type = first and first.attr.type or "cancel";
		reply:tag("error", { type = error_type, by = first and first.attr.by });
		if condition then reply:tag(condition, { xmlns = STANZAS_NS }):up(); end
		reply:up();
	end
	return reply;
end

-- XEP-0410 §3.2: the ping reached the client, which lacks XEP-0199: still joined.
local JOINED = { ["service-unavailable"] = true; ["feature-not-implemented"] = true };
-- Our own server could not reach the remote: nothing about the room.
local LINK = { ["remote-server-not-found"] = true; ["remote-server-timeout"] = true };

-- A JID as Prosody compares them (nodeprep/nameprep case folding, Unicode included); a string
-- that is no JID stays as it is, so it equals no room and no host.
local function prepped(j)
	return jid.prep(j) or j;
end

-- reply: as relayed above; room: the bare JID of the room pinged; host: this host.
local function unjoined(reply, room, host)
	if reply.attr.type ~= "error" then return false; end
	local error_tag, condition = error_of(reply);
	if not error_tag or JOINED[condition] then return false; end
	local by = error_tag.attr.by;
	if by == "" then by = nil; end
	if condition == "item-not-found" then
		-- §3.2: by the room itself it is a nick change; without `by` its origin is unknown
		-- (ejabberd: a lost room or an old nick). ping-muc re-checks that one shortly with a
		-- second heal, and notifies if the answer is the same (outcome.ts, confirm).
		return by ~= nil and (by:find("/", 1, true) ~= nil or prepped(by) ~= prepped(room));
	end
	-- RFC 6120 §8.3.1: `by` names who generated the error; our own host (or nobody) is the link.
	if LINK[condition] and (by == nil or prepped(by:match("^[^/]*")) == prepped(host)) then return false; end
	return true;
end

return { relayed = relayed; unjoined = unjoined };
