#!/usr/bin/env bash
# shellcheck disable=SC2317  # cleanup is called through trap
# Run the scim2-tester conformance checker against a real scimbox server.
#
#   tests/conformance/run.sh [BINARY] [-- CHECKER-ARGS...]
#
# BINARY defaults to target/debug/scimbox (or $SCIMBOX_BIN); this script builds nothing.
# It makes or reuses the venv .venv at the repository root, starts `BINARY serve` on a free
# loopback port with a fresh database in a temporary folder, waits for /healthz, reads the
# SCIM base URL and bearer token that the first run prints, runs
# tests/conformance/run_scim2_tester.py, then stops the server (SIGTERM, then wait).
# CHECKER-ARGS go to the checker (see `.venv/bin/python tests/conformance/run_scim2_tester.py -h`).
#
# Output: test-output/conformance/report.json (JSON summary) and server.log (the server's log).
# Exit status: the checker's: 0 conformant, 1 nonconformant (a check failed, or the server
# died); 2 when the harness could not run (no binary, venv, server that does not start...).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

REQUIREMENTS=tests/conformance/requirements.txt
CHECKER=tests/conformance/run_scim2_tester.py
VENV=.venv
OUT=test-output/conformance
STARTUP_SECONDS=${SCIMBOX_CONFORMANCE_STARTUP_SECONDS:-30}
WALL_SECONDS=${SCIMBOX_CONFORMANCE_WALL_SECONDS:-600}

BIN=${SCIMBOX_BIN:-target/debug/scimbox}
if [[ $# -gt 0 && $1 != -- ]]; then
    BIN=$1
    shift
fi
if [[ $# -gt 0 && $1 == -- ]]; then
    shift
fi
CHECKER_ARGS=("$@")

say() { printf 'conformance: %s\n' "$*"; }
die() {
    printf 'conformance: error: %s\n' "$*" >&2
    exit 2
}

# --- the venv ----------------------------------------------------------------------------------
# Reused while requirements.txt and the interpreter are unchanged: a stamp inside .venv records
# the hash of both, and pip runs only when it differs.
ensure_venv() {
    local want have=""
    want=$(
        {
            sha256sum "$REQUIREMENTS"
            python3 -c 'import sys; print(sys.version)'
        } | sha256sum | cut -d' ' -f1
    )
    if [[ -f $VENV/.requirements.sha256 ]]; then
        have=$(cat "$VENV/.requirements.sha256")
    fi
    if [[ $want == "$have" ]] && "$VENV/bin/python" -c 'import scim2_tester' 2>/dev/null; then
        return 0
    fi
    say "setting up $VENV from $REQUIREMENTS"
    if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
        rm -rf "$VENV"
        python3 -m venv "$VENV" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
    fi
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        -r "$REQUIREMENTS" || die "pip install -r $REQUIREMENTS failed"
    echo "$want" >"$VENV/.requirements.sha256"
}

# --- the server --------------------------------------------------------------------------------
TMP=""
SERVER_PID=""
CHECKER_PID=""
SERVER_DIED=""

stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    local pid=$SERVER_PID status=0 i
    SERVER_PID=""
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 150; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            say "warning: the server did not stop within 15s of SIGTERM; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || status=$?
    if [[ $status -ne 0 && -z $SERVER_DIED ]]; then
        say "warning: the server exited with status $status after SIGTERM (expected 0)"
    fi
}

cleanup() {
    local rc=$?
    if [[ -n $CHECKER_PID ]]; then
        kill -TERM "$CHECKER_PID" 2>/dev/null || true
        wait "$CHECKER_PID" 2>/dev/null || true
    fi
    stop_server
    if [[ -n $TMP ]]; then
        if [[ -f $TMP/server.err ]]; then
            mkdir -p "$OUT"
            cp "$TMP/server.err" "$OUT/server.log" 2>/dev/null || true
        fi
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

server_log_tail() {
    if [[ -s $TMP/server.err ]]; then
        say "last lines of the server's log:"
        tail -n 20 "$TMP/server.err" | sed 's/^/    /'
    fi
}

[[ -x $BIN ]] || die "no executable at $BIN: build it first (cargo build) or pass its path"
command -v python3 >/dev/null || die "python3 is missing"
ensure_venv

mkdir -p "$OUT"
rm -f "$OUT/report.json" "$OUT/server.log"
TMP=$(mktemp -d -t scimbox-conformance.XXXXXX)

# Port 0: the kernel picks a free port and the server prints the address it really got.
# The flags win over any SCIMBOX_DB / SCIMBOX_LISTEN in the environment.
"$BIN" serve --db "$TMP/scimbox.db" --listen 127.0.0.1:0 >"$TMP/server.out" 2>"$TMP/server.err" </dev/null &
SERVER_PID=$!

URL="" TOKEN=""
deadline=$((SECONDS + STARTUP_SECONDS))
while [[ -z $URL || -z $TOKEN ]]; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        SERVER_DIED=1
        server_log_tail
        die "the server exited during startup"
    fi
    ((SECONDS < deadline)) || {
        server_log_tail
        die "the server printed no SCIM base URL and token within ${STARTUP_SECONDS}s"
    }
    sleep 0.1
    URL=$(sed -n 's/^  SCIM base URL: *//p' "$TMP/server.out" | head -n 1)
    TOKEN=$(sed -n 's/^  Bearer token: *//p' "$TMP/server.out" | head -n 1)
done
ORIGIN=$(printf '%s\n' "$URL" | sed -E 's#^(https?://[^/]+).*#\1#')

# Loopback traffic never goes through a proxy.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy=$NO_PROXY

healthy() {
    "$VENV/bin/python" - "$ORIGIN/healthz" <<'EOF'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
EOF
}
until healthy; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        SERVER_DIED=1
        server_log_tail
        die "the server exited before /healthz answered"
    fi
    ((SECONDS < deadline)) || {
        server_log_tail
        die "$ORIGIN/healthz did not answer 200 within ${STARTUP_SECONDS}s"
    }
    sleep 0.2
done
say "server up at $URL (pid $SERVER_PID)"

# The token goes through the environment, not the command line (ps shows arguments).
# The checker runs in the background and is waited for, so that an INT or TERM sent to this
# script is handled at once (bash runs traps only between commands) and stops both processes.
rc=0
SCIM_TOKEN=$TOKEN timeout --kill-after=10 $((WALL_SECONDS + 60)) \
    "$VENV/bin/python" "$CHECKER" --url "$URL" --timeout "$WALL_SECONDS" \
    --expect-resource-type User --expect-resource-type Group \
    --report "$OUT/report.json" ${CHECKER_ARGS[@]+"${CHECKER_ARGS[@]}"} </dev/null &
CHECKER_PID=$!
wait "$CHECKER_PID" || rc=$?
CHECKER_PID=""

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    SERVER_DIED=1
    say "the server died during the run"
    server_log_tail
    ((rc != 0)) || rc=1
fi
stop_server

case $rc in
0 | 1) ;;
124 | 137) say "the checker overran its wall clock and was killed"; rc=2 ;;
*) say "the checker failed to run (exit $rc)"; rc=2 ;;
esac
say "report: $OUT/report.json, server log: $OUT/server.log"
exit "$rc"
