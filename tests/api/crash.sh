#!/usr/bin/env bash
# crash.sh - the durability promise under fire (issue 7): a load generator of several concurrent
# clients sends interactions with unique idempotency keys while the server is killed with SIGKILL
# at a random moment (0.2-1.5 s into the load), ROUNDS times on the same store. After every
# restart: the server serves (/readyz, profile), every acknowledged id (HTTP 200 with
# "recorded":true) is in the store, each client's user has at least as many stored interactions
# as were acknowledged to it (a request killed after its commit but before its response is stored
# without an ack: expected), the profile's storedInteractions equals the rows in the database,
# and the database passes PRAGMA integrity_check.
# Usage: crash.sh RECO_BINARY. Needs curl (skips with 77 without it) and the sqlite3 CLI for the
# per-id and integrity checks (scripts/setup.sh installs it; without it only the per-user
# counts are checked, and the test says so). No python.
# Environment: CRASH_ROUNDS (default 20), CRASH_CLIENTS (default 8).
set -u
RECO=${1:?usage: crash.sh RECO_BINARY}
RECO=$(cd "$(dirname "$RECO")" && pwd)/$(basename "$RECO")
command -v curl >/dev/null 2>&1 || { echo "curl not installed: skipping"; exit 77; }
HAVE_SQLITE=0
command -v sqlite3 >/dev/null 2>&1 && HAVE_SQLITE=1
ROUNDS=${CRASH_ROUNDS:-20} # about 30 s in Release and under ASan alike: no reduction needed
CLIENTS=${CRASH_CLIENTS:-8}
W=$(mktemp -d)
SPID=
CPIDS=()
cleanup() {
  local p
  for p in "${CPIDS[@]}"; do kill "$p" 2>/dev/null; done
  if [ -n "$SPID" ]; then kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; fi
  [ -n "${CRASH_KEEP:-}" ] && echo "kept $W" || rm -rf "$W"
}
trap cleanup EXIT
PASSED=0
FAILED=0
fail() {
  FAILED=$((FAILED + 1))
  echo "FAIL: $*"
  [ -f "$W/server.log" ] && { echo "--- server log"; tail -20 "$W/server.log"; }
  echo "$PASSED passed, $FAILED failed"
  exit 1
}
ok() { PASSED=$((PASSED + 1)); echo "ok: $*"; }
field() { grep -oE "\"$1\":(\"[^\"]*\"|[-0-9.e+]+|true|false|null)" <<<"$2" | head -1 | cut -d: -f2- | tr -d '"'; }

# a tiny demo catalogue: the first start trains on it in a fraction of a second
"$RECO" data gen --domain ecommerce --users 500 --items 200 --interactions 10000 --out "$W/srv/data/demo-ecommerce" \
  --quiet >/dev/null || fail "data gen"
ITEMS=($(tail -n +2 "$W/srv/data/demo-ecommerce/items.csv" | cut -d, -f1 | head -50))
[ "${#ITEMS[@]}" = 50 ] || fail "no items in the demo catalogue"
DB=$W/srv/data/reco.db

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
start() {
  local tries i
  for tries in 1 2 3 4 5; do
    PORT=$((20000 + RANDOM % 40000))
    port_free "$PORT" || continue
    (cd "$W/srv" && exec env PORT=$PORT HOST=127.0.0.1 SERVE_THREADS=4 "$RECO" serve >>"$W/server.log" 2>&1) &
    SPID=$!
    BASE="http://127.0.0.1:$PORT"
    for i in $(seq 1 2400); do
      curl -fs "$BASE/readyz" >/dev/null 2>&1 && return 0
      kill -0 "$SPID" 2>/dev/null || break
      sleep 0.05
    done
    kill -0 "$SPID" 2>/dev/null && fail "server not ready in 120 s"
    wait "$SPID" 2>/dev/null
    SPID=
    tail -3 "$W/server.log" | grep -q "cannot listen" || fail "server exited at start-up"
  done
  fail "no free port found"
}

# One client: its own user, a unique idempotency key per request; records each acknowledged key.
# Stops at the first transport failure (the server is gone) or when the stop file appears.
client() { # CLIENT ROUND
  local c=$1 r=$2 n=0 out code key item
  while [ ! -e "$W/stop" ]; do
    n=$((n + 1))
    key="c$c-r$r-$n"
    item=${ITEMS[$(((c * 7 + n) % 50))]}
    echo "$key" >>"$W/sent.$c" # before the request: a killed request may still be stored
    out=$(curl -s --max-time 10 -w '\n%{http_code}' -X POST -H 'Content-Type: application/json' \
      --data "{\"userId\":\"crash_u$c\",\"itemId\":\"$item\",\"interactionType\":\"click\",\"idempotencyKey\":\"$key\"}" \
      "$BASE/api/v1/interaction") || break
    code=${out##*$'\n'}
    if [ "$code" = 200 ] && [[ $out == *'"recorded":true'* ]]; then
      echo "$key" >>"$W/acked.$c"
    else
      echo "$code $key ${out%%$'\n'*}" >>"$W/other.$c" # the body is one line of JSON
    fi
  done
}

# After a (re)start: the server serves, every acknowledged key is stored, counts add up, the
# database is sound. Sets STORED (rows of the crash users) and ACKED.
verify() { # LABEL
  local c p st acked_c stored_c db_c
  ACKED=0
  STORED=0
  for c in $(seq 1 "$CLIENTS"); do
    acked_c=0
    [ -f "$W/acked.$c" ] && acked_c=$(wc -l <"$W/acked.$c")
    p=$(curl -s "$BASE/api/v1/user/crash_u$c/profile")
    if [ "$acked_c" = 0 ] && ! grep -q '"status":"success"' <<<"$p"; then
      continue # nothing acknowledged and nothing stored for this user yet
    fi
    grep -q '"status":"success"' <<<"$p" || fail "$1: profile of crash_u$c: ${p:0:300}"
    stored_c=$(field storedInteractions "$p")
    [ -n "$stored_c" ] || fail "$1: no storedInteractions in the profile: ${p:0:300}"
    [ "$stored_c" -ge "$acked_c" ] || fail "$1: crash_u$c: $acked_c acknowledged but only $stored_c stored"
    if [ "$HAVE_SQLITE" = 1 ]; then
      db_c=$(sqlite3 -readonly "$DB" "SELECT count(*) FROM interactions WHERE user='crash_u$c'") ||
        fail "$1: sqlite3 cannot read the store"
      [ "$db_c" = "$stored_c" ] || fail "$1: crash_u$c: profile says $stored_c stored, the database holds $db_c"
    fi
    ACKED=$((ACKED + acked_c))
    STORED=$((STORED + stored_c))
  done
  # the only answer besides the ack is a 503 (write queue full: not stored, the client retries)
  if cat "$W"/other.* 2>/dev/null | grep -qv "^503 "; then
    fail "$1: an answer that is neither an ack nor a 503: $(cat "$W"/other.* | grep -v "^503 " | head -2)"
  fi
  if [ "$HAVE_SQLITE" = 1 ]; then
    cat "$W"/acked.* 2>/dev/null | sort >"$W/check-acked"
    local keys
    keys=$(sqlite3 -readonly "$DB" "SELECT idempotency_key FROM interactions WHERE user LIKE 'crash_u%'") ||
      fail "$1: sqlite3 cannot list the keys"
    sort <<<"$keys" | grep . >"$W/check-stored"
    [ -z "$(uniq -d "$W/check-acked")" ] || fail "$1: a key was acknowledged twice (keys are unique)"
    local lost
    lost=$(comm -23 "$W/check-acked" "$W/check-stored" | wc -l)
    [ "$lost" = 0 ] || fail "$1: $lost acknowledged ids missing, e.g. $(comm -23 "$W/check-acked" "$W/check-stored" | head -3 | tr '\n' ' ')"
    # every stored key was really sent (no phantom rows)
    cat "$W"/sent.* 2>/dev/null | sort >"$W/check-sent"
    [ "$(comm -13 "$W/check-sent" "$W/check-stored" | wc -l)" = 0 ] || fail "$1: stored keys that were never sent"
    st=$(sqlite3 -readonly "$DB" 'PRAGMA integrity_check') || fail "$1: integrity_check did not run"
    [ "$st" = ok ] || fail "$1: PRAGMA integrity_check: $st"
  fi
  p=$(curl -s -X POST -H 'Content-Type: application/json' --data '{"userId":"crash_u1","limit":5}' "$BASE/api/v1/recommend")
  grep -q '"status":"success"' <<<"$p" || fail "$1: recommend after restart: ${p:0:300}"
}

t0=$SECONDS
start
[ -f "$DB" ] || fail "no store at ./data/reco.db"
ok "demo built, server ready on $BASE"
[ "$HAVE_SQLITE" = 1 ] || echo "note: sqlite3 CLI not installed: per-id and PRAGMA integrity_check checks skipped"

for r in $(seq 1 "$ROUNDS"); do
  if [ "$r" -gt 1 ]; then
    start
    verify "round $r start"
    ok "restart after SIGKILL $((r - 1)): serves; acknowledged $ACKED <= stored $STORED; every acknowledged id present"
  fi
  rm -f "$W/stop"
  CPIDS=()
  for c in $(seq 1 "$CLIENTS"); do
    client "$c" "$r" &
    CPIDS+=($!)
  done
  ms=$((200 + RANDOM % 1301))
  sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
  kill -KILL "$SPID"
  { wait "$SPID"; } 2>/dev/null
  SPID=
  touch "$W/stop"
  for p in "${CPIDS[@]}"; do wait "$p"; done
  CPIDS=()
  a=$(cat "$W"/acked.* 2>/dev/null | wc -l)
  echo "round $r: SIGKILL after $ms ms; acknowledged so far $a"
done
start
verify "after $ROUNDS rounds"
[ "$ACKED" -gt 0 ] || fail "nothing was acknowledged: the load generator did not run"
integrity="not checked (no sqlite3)"
[ "$HAVE_SQLITE" = 1 ] && integrity="ok after every restart"
ok "$ROUNDS SIGKILL rounds, $CLIENTS clients: every acknowledged id stored; integrity_check $integrity; the server serves"
kill -TERM "$SPID"
wait "$SPID"
rc=$?
SPID=
[ "$rc" = 0 ] || fail "exit status $rc after SIGTERM"
ok "clean SIGTERM stop after the crash rounds"
busy=$(cat "$W"/other.* 2>/dev/null | wc -l)
echo "rounds $ROUNDS: acknowledged $ACKED, stored $STORED, lost 0 ($((STORED - ACKED)) stored without an ack; $busy answered 503; $((SECONDS - t0)) s)"
echo "$PASSED passed, $FAILED failed"
