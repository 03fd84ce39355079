-- Which remote domains a destroyed s2s session of this host linked us to.
--
-- return function (session) -> direction ("in" or "out"), { remote domain, ... }
-- or nil when the session was not an authenticated link of this host.

return function (session)
	local direction, remote;
	-- Only authenticated links: a failed attempt (s2sout_unauthed) lost nothing.
	if session.type == "s2sout" and session.from_host == module.host then
		direction, remote = "out", session.to_host;
	elseif session.type == "s2sin" and session.to_host == module.host then
		direction, remote = "in", session.from_host;
	else
		return nil;
	end
	local remotes, seen = {}, {};
	local function add(h)
		if h and h ~= module.host and not seen[h] then seen[h] = true; remotes[#remotes + 1] = h; end
	end
	add(remote);
	if session.hosts then -- multiplexed domains
		for h, state in pairs(session.hosts) do
			if state.authed then add(h); end
		end
	end
	if #remotes == 0 then return nil; end
	return direction, remotes;
end
