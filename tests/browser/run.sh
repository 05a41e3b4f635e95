#!/usr/bin/env bash
# End-to-end test of the admin page: starts the built scimbox binary on a free loopback port
# with a temporary database, drives Debian's headless Chromium through tests/browser/scenario.mjs,
# and always stops the server. Exits non-zero on failure; the last line is
# `browser: N passed, M failed`.
#
#   SCIMBOX_BIN   the binary to test (default: target/debug/scimbox)
#   CHROMIUM      the browser (default: /usr/bin/chromium; installed with apt-get if missing)
#   SCREENSHOTS   where screenshots go (default: test-output/screenshots)
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${SCIMBOX_BIN:-$root/target/debug/scimbox}"
chromium="${CHROMIUM:-/usr/bin/chromium}"
shots="${SCREENSHOTS:-$root/test-output/screenshots}"

give_up() {
    echo "browser: $*" >&2
    echo "browser: 0 passed, 1 failed"
    exit 1
}

if [ ! -x "$chromium" ]; then
    echo "browser: installing chromium with apt-get" >&2
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    { $sudo apt-get update && $sudo apt-get install -y chromium chromium-driver; } >&2 ||
        give_up "no browser at $chromium and apt-get could not install chromium"
fi
[ -x "$bin" ] || give_up "no scimbox binary at $bin: run cargo build, or set SCIMBOX_BIN"

cd "$here" || give_up "cannot enter $here"
# npm ci when node_modules is missing or older than the lock file (npm's own marker): from the
# npm cache alone when an earlier install filled it, else from the registry.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --offline --no-audit --no-fund >/dev/null 2>&1 ||
        npm ci --prefer-offline --no-audit --no-fund >&2 ||
        give_up "npm ci failed"
fi

tmp="$(mktemp -d)"
server=""
cleanup() {
    if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
        kill "$server" 2>/dev/null
        wait "$server" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Port 0: the kernel picks a free port and scimbox prints the URL it got, so there is no race.
"$bin" serve --listen 127.0.0.1:0 --db "$tmp/scimbox.db" >"$tmp/stdout" 2>"$tmp/stderr" &
server=$!
for _ in $(seq 1 200); do
    grep -q 'Admin password:' "$tmp/stdout" 2>/dev/null && break
    if ! kill -0 "$server" 2>/dev/null; then
        cat "$tmp/stderr" >&2
        give_up "scimbox serve exited before it was ready"
    fi
    sleep 0.05
done
base="$(sed -n 's/^ *SCIM base URL: *//p' "$tmp/stdout")"
password="$(sed -n 's/^ *Admin password: *//p' "$tmp/stdout")"
[ -n "$base" ] && [ -n "$password" ] || {
    cat "$tmp/stdout" "$tmp/stderr" >&2
    give_up "scimbox serve did not print its SCIM base URL and admin password"
}

mkdir -p "$shots"
# The scenario prints the server's log on failure, before its summary line.
SCIMBOX_ORIGIN="${base%%/scim/*}" SCIMBOX_SCIM_BASE="$base" SCIMBOX_ADMIN_PASSWORD="$password" \
    CHROMIUM="$chromium" SCREENSHOTS="$shots" SERVER_LOG="$tmp/stderr" node scenario.mjs
exit $?
