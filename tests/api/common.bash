# common.bash - shared preamble of the tests/api scripts (sourced, not a test itself: ctest
# registers only *.sh). Sets RECO (absolute), W (a temporary folder removed at exit, with the
# server of PID $SPID stopped first), and fail/ok/port_free. Skips (77) without curl.
RECO=${1:?usage: $(basename "$0") RECO_BINARY}
RECO=$(cd "$(dirname "$RECO")" && pwd)/$(basename "$RECO")
command -v curl >/dev/null 2>&1 || { echo "curl not installed: skipping"; exit 77; }
W=$(mktemp -d)
SPID=
cleanup() { if [ -n "$SPID" ]; then kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; fi; rm -rf "$W"; }
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  [ -f "$W/server.log" ] && { echo "--- server log"; tail -20 "$W/server.log"; }
  exit 1
}
ok() { echo "ok: $*"; }
# A port nothing answers on (bash's /dev/tcp).
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
