# common.bash - shared preamble of the tests/api scripts (sourced, not a test itself: ctest
# registers only *.sh). Sets RECO (absolute), W (a temporary folder removed at exit, with the
# server of PID $SPID stopped first), and fail/ok/port_free. Skips (77) without curl.
RECO=${1:?usage: $(basename "$0") RECO_BINARY}
RECO=$(cd "$(dirname "$RECO")" && pwd)/$(basename "$RECO")
command -v curl >/dev/null 2>&1 || { echo "curl not installed: skipping"; exit 77; }
W=$(mktemp -d)
SPID=
# On exit: the server stopped (SIGTERM, so a sanitizer build reports leaks), then its log searched
# for sanitizer reports: an ASan/LSan/UBSan finding in the server fails the test that ran it.
cleanup() {
  local rc=$?
  if [ -n "$SPID" ]; then kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; fi
  if [ -f "$W/server.log" ] && grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$W/server.log"; then
    echo "FAIL: sanitizer report in the server log:"
    grep -E -A12 "ERROR: (Address|Leak)Sanitizer|runtime error:" "$W/server.log" | head -60
    rc=1
  fi
  rm -rf "$W"
  exit $rc
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  [ -f "$W/server.log" ] && { echo "--- server log"; tail -20 "$W/server.log"; }
  exit 1
}
ok() { echo "ok: $*"; }
# A port nothing answers on (bash's /dev/tcp).
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# start_server [ENV=VALUE...]: starts `reco serve` in $SRV_DIR (default $W/srv) on a free loopback
# port with SERVE_THREADS=2 and the given settings (a later assignment wins), its output appended
# to $W/server.log; waits for $READY_PATH (default /readyz), READY_TRIES polls (2400) of
# READY_POLL seconds (0.25); tries another port when the chosen one was taken meanwhile. Sets
# PORT, SPID and BASE.
start_server() {
  local tries i
  for tries in 1 2 3 4 5; do
    PORT=$((20000 + RANDOM % 40000))
    port_free "$PORT" || continue
    (cd "${SRV_DIR:-$W/srv}" && exec env PORT=$PORT HOST=127.0.0.1 SERVE_THREADS=2 "$@" "$RECO" serve >>"$W/server.log" 2>&1) &
    SPID=$!
    BASE="http://127.0.0.1:$PORT"
    for i in $(seq 1 "${READY_TRIES:-2400}"); do
      curl -fs "$BASE${READY_PATH:-/readyz}" >/dev/null 2>&1 && return 0
      kill -0 "$SPID" 2>/dev/null || break
      sleep "${READY_POLL:-0.25}"
    done
    kill -0 "$SPID" 2>/dev/null && fail "server not ready after ${READY_TRIES:-2400} polls of ${READY_POLL:-0.25} s"
    wait "$SPID" 2>/dev/null
    SPID=
    tail -3 "$W/server.log" | grep -q "cannot listen" || fail "server exited at start-up"
  done
  fail "no free port found"
}
