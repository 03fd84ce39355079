#!/usr/bin/env bash
# Makes sure the e2e tests can run Prosody 13 beside the packaged 0.12: Debian's bookworm-backports
# build (13.0.x), unpacked (dpkg -x, not installed) into .cache/prosody-13/ of the repository, with
# its bin/prosody and bin/prosodyctl pointed at the unpacked tree. The testbed runs it when
# PING_MUC_PROSODY=13 (harness/prosody-version.ts).
#
# The backports index is fetched with a private apt configuration under .cache/apt/: the machine's
# apt sources are not changed, nothing is installed from backports, no service is started.
# Its run-time dependencies are the same bookworm packages as 0.12's (lua5.4, lua5.4-expat, …);
# any that are missing are installed from the machine's own sources (as root), or the script fails
# saying which. Idempotent: a second run with the tree in place only checks it.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache="$repo/.cache"
root="$cache/prosody-13"
apt_dir="$cache/apt"
suite=bookworm-backports
archive=${PING_MUC_DEBIAN_MIRROR:-http://deb.debian.org/debian}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

say() { echo "ensure-prosody-13: $*" >&2; }
fail() {
  say "$*"
  exit 1
}

mkdir -p "$cache"
# The whole cache stays out of git (and out of biome, which reads the ignore files).
[ -e "$cache/.gitignore" ] || printf '*\n' >"$cache/.gitignore"

check_tree() {
  [ -x "$root/usr/bin/prosody" ] && [ -x "$root/usr/bin/prosodyctl" ] || return 1
  local about
  about=$("$root/usr/bin/prosodyctl" about 2>&1) || true
  grep -q '^Prosody 13\.' <<<"$about" || {
    say "the unpacked tree does not run: $(grep -m3 -v '^$' <<<"$about" | tr '\n' ' ')"
    return 1
  }
}

if check_tree; then exit 0; fi

command -v apt-get >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1 ||
  fail "needs apt-get and dpkg (Debian 12) to fetch Prosody 13 from $suite; or unpack a Prosody 13 into $root by hand"
[ -r "$keyring" ] || fail "missing $keyring (package debian-archive-keyring)"

# A private apt: the backports suite only, its own lists and cache.
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/deb"
cat >"$apt_dir/backports.sources" <<EOF
Types: deb
URIs: $archive
Suites: $suite
Components: main
Signed-By: $keyring
EOF
apt_opts=(
  -o "Dir::Etc::SourceList=$apt_dir/backports.sources"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::Cache=$apt_dir/cache"
)
# As root apt would hand the download to the _apt user, who cannot write into the repository.
[ "$(id -u)" -ne 0 ] || apt_opts+=(-o "APT::Sandbox::User=root")

say "fetching the $suite index ($archive)"
apt-get "${apt_opts[@]}" -q update >/dev/null || fail "apt-get update of $suite failed (is $archive reachable?)"
version=$(apt-cache "${apt_opts[@]}" show prosody 2>/dev/null | awk '/^Version: 13\./ { print $2; exit }')
[ -n "$version" ] || fail "$suite has no Prosody 13 (apt-cache show prosody lists: $(apt-cache "${apt_opts[@]}" show prosody 2>/dev/null | awk '/^Version:/ { printf "%s ", $2 }'))"

say "downloading prosody $version"
rm -f "$apt_dir/deb/"*.deb
(cd "$apt_dir/deb" && apt-get "${apt_opts[@]}" -q download "prosody=$version" >/dev/null) ||
  fail "apt-get download prosody=$version failed"
deb=$(ls "$apt_dir/deb/"prosody_*.deb)
say "$(basename "$deb"): $(stat -c %s "$deb") bytes"

# Its dependencies, from the machine's own (bookworm) sources: the same as Prosody 0.12's.
missing=()
depends=$(dpkg-deb -f "$deb" Depends)
IFS=',' read -ra deps <<<"$depends"
for d in "${deps[@]}"; do
  name=$(sed -E 's/^ *//; s/ *\|.*//; s/ *\(.*//; s/:any$//' <<<"$d")
  [ -n "$name" ] || continue
  status=$(dpkg-query -W -f='${Status}' "$name" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$name")
done
if [ ${#missing[@]} -gt 0 ]; then
  # Some are virtual (lua5.4-expat is provided by lua-expat): keep those apt would really install.
  mapfile -t missing < <(apt-get -s -q --no-install-recommends install "${missing[@]}" 2>/dev/null | awk '/^Inst / { print $2 }')
fi
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || fail "Prosody 13 needs ${missing[*]}: as root run apt-get install -y --no-install-recommends ${missing[*]}"
  say "installing its dependencies: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
    fail "apt-get install ${missing[*]} failed"
fi

tmp="$root.tmp"
rm -rf "$tmp"
dpkg -x "$deb" "$tmp"
# bin/prosody and bin/prosodyctl are Lua scripts that take their paths from CFG_* lines.
for f in prosody prosodyctl; do
  sed -i -E \
    -e "s|^CFG_SOURCEDIR=.*|CFG_SOURCEDIR='$root/usr/lib/prosody';|" \
    -e "s|^CFG_PLUGINDIR=.*|CFG_PLUGINDIR='$root/usr/lib/prosody/modules/';|" \
    -e "s|^CFG_CONFIGDIR=.*|CFG_CONFIGDIR='$root/etc/prosody';|" \
    -e "s|^CFG_DATADIR=.*|CFG_DATADIR='$root/var/lib/prosody';|" \
    "$tmp/usr/bin/$f"
  grep -q "^CFG_SOURCEDIR='$root/" "$tmp/usr/bin/$f" || fail "could not point $f at the unpacked tree (no CFG_SOURCEDIR line)"
done
# The default config includes conf.d/ and indexes certs/; the tests pass their own --config.
mkdir -p "$tmp/etc/prosody/conf.d" "$tmp/etc/prosody/certs" "$tmp/var/lib/prosody"
echo "$version" >"$tmp/VERSION"
rm -rf "$root"
mv "$tmp" "$root"

check_tree || fail "unpacked Prosody $version into $root, but it does not run"
say "Prosody $version unpacked into $root ($(du -sh "$root" | cut -f1))"
