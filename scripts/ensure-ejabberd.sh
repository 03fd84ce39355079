#!/usr/bin/env bash
# Makes sure the e2e suite can run ejabberd as the MUC server (test/e2e/ejabberd.test.ts):
# Debian's `ejabberd` package. Installs it when missing and we are root, with a policy-rc.d that
# forbids service starts (the package would start its own instance; the tests run their own
# configuration and spool). Otherwise fails saying how. Never skips silently.
set -euo pipefail
if command -v ejabberdctl >/dev/null 2>&1 || [ -x /usr/sbin/ejabberdctl ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-ejabberd: ejabberd is missing; the e2e suite runs it as a MUC server." >&2
  echo "ensure-ejabberd: install it as root (its service need not run), then run the tests again:" >&2
  echo "    sudo apt-get update && sudo apt-get install -y ejabberd" >&2
  exit 1
fi
policy=/usr/sbin/policy-rc.d
restore=""
if [ -e "$policy" ]; then restore=$(mktemp); cp -p "$policy" "$restore"; fi
printf '#!/bin/sh\nexit 101\n' >"$policy"
chmod 755 "$policy"
cleanup() { if [ -n "$restore" ]; then mv -f "$restore" "$policy"; else rm -f "$policy"; fi; }
trap cleanup EXIT
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends ejabberd >/dev/null; then
  apt-get update >/dev/null
  apt-get install -y --no-install-recommends ejabberd >/dev/null
fi
# The package's own instance, if anything started it anyway: the tests need none.
if [ -x /usr/sbin/ejabberdctl ] && pgrep -u ejabberd beam >/dev/null 2>&1; then
  echo "ensure-ejabberd: Debian's ejabberd service is running; the tests do not need it (service ejabberd stop)" >&2
fi
command -v ejabberdctl >/dev/null 2>&1 || [ -x /usr/sbin/ejabberdctl ] || { echo "ensure-ejabberd: ejabberd did not install" >&2; exit 1; }
