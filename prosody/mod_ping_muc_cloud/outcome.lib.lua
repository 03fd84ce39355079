-- A self-ping's reply (XEP-0410): what of it ping-muc reads, and whether it says the room no
-- longer has the user. The second is "not-joined" of ping-muc's own rule (lib/domain/outcome.ts),
-- which the round applies to the same relayed reply: the one outcome the module acts on by
-- itself, for a `heal` item of the stanza API (api.lib). test/prosody/outcome.test.ts holds the
-- two to the same answers. Anything else (joined, a nick change, an error of unknown origin,
-- our own server's s2s error) is left to the round, which never guesses "not joined".
--
-- return { relayed = function (stanza, orig_id, xmlns) -> stanza,
--          unjoined = function (reply, room, host) -> boolean }

local st = require "util.stanza";

local STANZAS_NS = "urn:ietf:params:xml:ns:xmpp-stanzas";

-- Only what ping-muc reads of a self-ping reply (XEP-0410 §3: result, or an error whose
-- type, condition and `by` tell a room that forgot the user from one that cannot answer):
-- the iq's type, from, to and id, and for an error its type, `by` and defined condition
-- (RFC 6120 §8.3.2). A reply padded to 64 KiB relays in a few hundred bytes, so it cannot
-- outgrow ping-muc's answer limit and fail every retry.
-- In a batch the iq names its namespace (jabber:client): it would inherit the batch's.
local function relayed(stanza, orig_id, xmlns)
	local reply = st.iq({ xmlns = xmlns, type = stanza.attr.type, from = stanza.attr.from, to = stanza.attr.to, id = orig_id });
	if stanza.attr.type == "error" then
		local error_type, condition = stanza:get_error();
		local error_tag = stanza:get_child("error");
		reply:tag("error", { type = error_type or "cancel", by = error_tag and error_tag.attr.by })
			:tag(condition or "undefined-condition", { xmlns = STANZAS_NS }):up():up();
	end
	return reply;
end

-- RFC 6120 §8.3.3: the defined conditions; ping-muc cannot read any other.
local DEFINED = {};
for name in ([[bad-request conflict feature-not-implemented forbidden gone internal-server-error
	item-not-found jid-malformed not-acceptable not-allowed not-authorized policy-violation
	recipient-unavailable redirect registration-required remote-server-not-found
	remote-server-timeout resource-constraint service-unavailable subscription-required
	undefined-condition unexpected-request]]):gmatch("%S+") do DEFINED[name] = true; end

-- XEP-0410 §3.2: the ping reached the client, which lacks XEP-0199: still joined.
local JOINED = { ["service-unavailable"] = true; ["feature-not-implemented"] = true };
-- Our own server could not reach the remote: nothing about the room.
local LINK = { ["remote-server-not-found"] = true; ["remote-server-timeout"] = true };

-- reply: as relayed above; room: the bare JID of the room pinged; host: this host.
local function unjoined(reply, room, host)
	if reply.attr.type ~= "error" then return false; end
	local _, condition = reply:get_error();
	if not DEFINED[condition] or JOINED[condition] then return false; end
	local by = reply:get_child("error").attr.by;
	if by == "" then by = nil; end
	if condition == "item-not-found" then
		-- §3.2: by the room itself it is a nick change; without `by` its origin is unknown.
		return by ~= nil and (by:find("/", 1, true) ~= nil or by:lower() ~= room:lower());
	end
	-- RFC 6120 §8.3.1: `by` names who generated the error; our own host (or nobody) is the link.
	if LINK[condition] and (by == nil or by:match("^[^/]*"):lower() == host:lower()) then return false; end
	return true;
end

return { relayed = relayed; unjoined = unjoined };
