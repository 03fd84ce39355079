-- luacheck (npm test runs `luacheck prosody test/prosody`): the Prosody module and the plain-Lua
-- test harness. The module runs on Lua 5.1 to 5.4 and LuaJIT, so only what all of them define.
std = "min"
max_line_length = 150 -- Prosody's own limit
codes = true

-- Prosody's module environment (https://prosody.im/doc/developers/moduleapi): only the methods
-- this module calls, so a misspelt one is reported.
local module_api = {
	host = { read_only = true, other_fields = true },
	name = { read_only = true },
	log = {}, measure = {}, add_timer = {}, send = {}, get_host_type = {},
	get_option_string = {}, get_option_number = {}, hook = {}, hook_global = {},
	depends = {}, provides = {}, require = {}, open_store = {},
	-- What the module defines for Prosody to call.
	save = { read_only = false }, restore = { read_only = false }, unload = { read_only = false },
	saved_state = { read_only = false },
	-- Shared with this module's instances on other hosts (api.lib.lua).
	ping_muc_cloud_peer = { read_only = false },
}
read_globals = {
	module = { fields = module_api },
	prosody = { other_fields = true },
}

-- harness.lua stands in for Prosody and gives the inline test scripts (test/prosody/*.ts) these
-- globals; lua.ts sets PROSODY_LIB and MODULE_FOLDER before it runs.
files["test/prosody/"] = {
	globals = { "module", "prosody", "CLOCK", "TIMERS", "HTTP", "SENT", "LOG", "HOST_HOOKS", "advance", "lib", "connect" },
	read_globals = { "PROSODY_LIB", "MODULE_FOLDER" },
}
