#!/usr/bin/env bash
# Makes sure the e2e tests can run real Prosody servers: prosody, lua-unbound (Prosody ignores
# /etc/hosts without it; the testbed gives it a private hosts file) and a luac for the module's
# syntax check; and the Lua interpreters Prosody 0.12 runs on (lua5.1, luajit, lua5.3, lua5.4),
# under which test/prosody/ runs the module's libraries; and luacheck (Debian's lua-check), the Lua
# linter npm test runs beside biome. Installs them when missing and we are root; otherwise fails
# saying how.
# Never skips silently. The Debian service is not started: the tests run their own servers.
# Then ejabberd, the e2e suite's other MUC server (scripts/ensure-ejabberd.sh), and Prosody 13
# beside 0.12 (scripts/ensure-prosody-13.sh): the e2e suite runs against both.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

missing=()
lua_bin=lua5.4
if command -v prosody >/dev/null 2>&1; then
  # Use the Lua that Prosody itself runs on (its shebang), e.g. lua5.4 on Debian 12.
  shebang=$(head -n 1 "$(command -v prosody)")
  case "$shebang" in
    *lua5.[1-4]*) lua_bin=$(grep -o 'lua5\.[1-4]' <<<"$shebang" | head -n 1) ;;
  esac
else
  missing+=(prosody)
fi
if ! command -v "$lua_bin" >/dev/null 2>&1 || ! "$lua_bin" -e 'require "lunbound"' >/dev/null 2>&1; then
  missing+=(lua-unbound)
fi
luac_found=""
for c in luac "luac${lua_bin#lua}" luac5.4 luac5.3 luac5.2 luac5.1; do
  if command -v "$c" >/dev/null 2>&1; then luac_found=$c; break; fi
done
[ -n "$luac_found" ] || missing+=("$lua_bin")
interpreters=()
for i in lua5.1 luajit lua5.3 lua5.4; do
  command -v "$i" >/dev/null 2>&1 || interpreters+=("$i")
done
missing+=("${interpreters[@]}")
command -v luacheck >/dev/null 2>&1 || missing+=(lua-check)

# A system Prosody listening on all interfaces holds 5222/5269/5280 on every loopback
# address the testbed would use. Say so now rather than with a port error later.
warn_system_prosody() {
  local pidfile=/run/prosody/prosody.pid
  if [ -r "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "ensure-prosody: a system Prosody is running (pid $(cat "$pidfile")); if it listens on all interfaces the" >&2
    echo "ensure-prosody: e2e testbed cannot bind its ports. Stop it first: service prosody stop (or prosodyctl stop)" >&2
  fi
}

if [ ${#missing[@]} -eq 0 ]; then
  warn_system_prosody
  bash "$here/ensure-ejabberd.sh"
  exec bash "$here/ensure-prosody-13.sh"
fi

# prosody-modules is not needed by the tests, only by `npm run bench` (Debian's mod_ping_muc for comparison).
packages="prosody lua-unbound $lua_bin prosody-modules lua-check ${interpreters[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-prosody: missing ${missing[*]}; the tests need real Prosody servers and luacheck." >&2
  echo "ensure-prosody: install them as root, then run the tests again:" >&2
  echo "    sudo apt-get update && sudo apt-get install -y $packages" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-prosody: missing ${missing[*]} and no apt-get here; install Prosody 0.12+ with lua-unbound and luac by hand." >&2
  exit 1
fi

echo "ensure-prosody: installing $packages (missing: ${missing[*]})" >&2
# Keep the packaged service from starting (it would hold 5222/5269/5280 on all interfaces):
# a temporary policy-rc.d, unless the machine already has one.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  own_policy=1
fi
cleanup() { if [ "$own_policy" -eq 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $packages

command -v prosody >/dev/null 2>&1 || { echo "ensure-prosody: prosody still missing after install" >&2; exit 1; }
echo "ensure-prosody: $(prosodyctl about 2>/dev/null | grep -m1 -i '^Prosody' || echo prosody) installed; its system service was not started" >&2
bash "$here/ensure-ejabberd.sh"
bash "$here/ensure-prosody-13.sh"
