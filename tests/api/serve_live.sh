#!/usr/bin/env bash
# serve_live.sh - black-box test of the asynchronous write path and of the service's operations
# (issues 6 and 7): freshness (a brand-new user's recommendation after three acknowledged
# interactions differs from the cold-start list and is made of items of the category they
# interacted with, in the generated demo catalogue), POST /interactions/batch (ids in order,
# idempotency inside a batch, a 400 naming the bad record's index and field, nothing of a
# rejected batch stored), the queue-full path (503 + Retry-After, nothing stored for it),
# request ids (X-Request-Id echoed when sane, generated otherwise) and JSON access log lines,
# a client that disconnects while its write waits for the commit, and the graceful stop: SIGTERM while requests are still uploading and others are waiting for
# their commit; every one of them must be answered 200, the process must exit 0, and after a
# restart every acknowledged interaction is in the store.
# Usage: serve_live.sh RECO_BINARY. Needs curl (skips with 77 without it) and python3 (parses the
# catalogue and the JSON answers; skips without it).
set -u
. "$(dirname "$0")/common.bash"
command -v python3 >/dev/null 2>&1 || { echo "python3 not installed: skipping"; exit 77; }

"$RECO" data gen --domain ecommerce --users 3000 --items 600 --interactions 60000 --out "$W/srv/data/demo-ecommerce" \
  --quiet >/dev/null || fail "data gen"

start() { start_server "$@"; } # [ENV...]; common.bash
stop() { # SIGTERM, and the exit status must be 0
  kill -TERM "$SPID"
  wait "$SPID"
  local rc=$?
  SPID=
  [ "$rc" = 0 ] || fail "server exited with $rc after SIGTERM"
}
post() { curl -s -X POST -H 'Content-Type: application/json' --data "$2" "$BASE$1"; }
stored() { # USER -> totalInteractions of the profile
  curl -s "$BASE/api/v1/user/$1/profile" |
    python3 -c 'import json,sys; print(json.load(sys.stdin).get("profile", {}).get("totalInteractions", 0))'
}

start
ok "ready on $BASE"

# --- freshness: three purchases in one category change a new user's list to that category
read -r CAT ITEMS < <(python3 - "$W/srv/data/demo-ecommerce" <<'PY'
import csv, collections, sys
d = sys.argv[1]
cat = {r["item"]: r["category"] for r in csv.DictReader(open(d + "/items.csv"))}
n = collections.Counter(r["item"] for r in csv.DictReader(open(d + "/interactions.csv")))
# the second most common category (the cold list leans to the most popular items), and its
# three most interacted items: related items exist for them in every model
c = collections.Counter(cat.values()).most_common()[1][0]
print(c, " ".join([i for i, _ in n.most_common() if cat.get(i) == c][:3]))
PY
)
[ -n "$ITEMS" ] || fail "no category to interact with"
cold=$(post /api/v1/recommend '{"userId":"fresh_live","limit":10}')
k=0
for it in $ITEMS; do
  k=$((k + 1))
  r=$(post /api/v1/interaction "{\"userId\":\"fresh_live\",\"itemId\":\"$it\",\"interactionType\":\"purchase\"}")
  grep -q '"recorded":true' <<<"$r" || fail "interaction $k: $r"
done
warm=$(post /api/v1/recommend '{"userId":"fresh_live","limit":10}')
python3 - "$CAT" "$cold" "$warm" <<'PY' || fail "freshness: ${warm:0:400}"
import json, sys
c, cold, warm = sys.argv[1], json.loads(sys.argv[2])["result"], json.loads(sys.argv[3])["result"]
a = [x["itemId"] for x in cold["recommendations"]]
b = [x["itemId"] for x in warm["recommendations"]]
na = sum(x["metadata"].get("category") == c for x in cold["recommendations"])
nb = sum(x["metadata"].get("category") == c for x in warm["recommendations"])
print(f"cold: {na}/{len(a)} in {c}; after 3 purchases in {c}: {nb}/{len(b)}")
assert cold["coldStart"] and not warm["coldStart"], "cold start flags"
assert a != b, "same list as the cold start"
assert nb >= len(b) // 2 and nb > na, f"the list does not follow {c}"
PY
ok "freshness: the third ack changes the next list to the interacted category ($CAT)"

# --- batch: ids in order, idempotency within the batch, all-or-nothing validation
set -- $ITEMS
b=$(post /api/v1/interactions/batch "{\"interactions\":[
  {\"userId\":\"batch_u\",\"itemId\":\"$1\",\"interactionType\":\"view\",\"idempotencyKey\":\"bk-1\"},
  {\"userId\":\"batch_u\",\"itemId\":\"$2\",\"interactionType\":\"rating\",\"rating\":4.5},
  {\"userId\":\"batch_u\",\"itemId\":\"$3\",\"interactionType\":\"click\",\"idempotencyKey\":\"bk-1\"}]}")
python3 - "$b" <<'PY' || fail "batch: $b"
import json, sys
r = json.loads(sys.argv[1])["result"]
ids = r["interactionIds"]
assert r["recorded"] and r["count"] == 3 and len(ids) == 3 and r["duplicates"] == 1, r
assert int(ids[1]) == int(ids[0]) + 1 and ids[2] == ids[0], ids  # the key's first row answers
PY
[ "$(stored batch_u)" = 2 ] || fail "batch: expected 2 stored rows, got $(stored batch_u)"
bad=$(curl -s -w ' %{http_code}' -X POST -H 'Content-Type: application/json' --data "{\"interactions\":[
  {\"userId\":\"batch_u\",\"itemId\":\"$1\",\"interactionType\":\"view\"},
  {\"userId\":\"batch_u\",\"itemId\":\"$2\",\"interactionType\":\"view\"},
  {\"userId\":\"batch_u\",\"itemId\":\"$3\",\"interactionType\":\"rating\",\"rating\":9}]}" "$BASE/api/v1/interactions/batch")
grep -q '"field":"interactions\[2\].rating"}} 400$' <<<"$bad" || fail "bad batch: $bad"
[ "$(stored batch_u)" = 2 ] || fail "a rejected batch stored rows"
big=$(python3 -c 'import json; print(json.dumps({"interactions": [{"userId": "u", "itemId": "x", "interactionType": "view"}] * 1001}))')
r=$(curl -s -w ' %{http_code}' -X POST -H 'Content-Type: application/json' --data "$big" "$BASE/api/v1/interactions/batch")
grep -q '"field":"interactions"}} 400$' <<<"$r" || fail "1001 records: $r"
r=$(curl -s -w ' %{http_code}' -X POST -H 'Content-Type: application/json' --data '{"interactions":[7]}' "$BASE/api/v1/interactions/batch")
grep -q '"field":"interactions\[0\]"}} 400$' <<<"$r" || fail "a record that is not an object: $r"
ok "batch: one commit, ids in order, a bad record named by index and field, nothing of it stored"

# --- request ids and access logs
h=$(curl -s -D - -o /dev/null -H 'X-Request-Id: trace-42.a_b' "$BASE/healthz")
grep -qi '^X-Request-Id: trace-42.a_b' <<<"$h" || fail "X-Request-Id not echoed: $h"
h=$(curl -s -D - -o /dev/null -H 'X-Request-Id: not sane!' "$BASE/healthz")
gen=$(grep -i '^X-Request-Id:' <<<"$h" | tr -d '\r' | cut -d' ' -f2)
[ -n "$gen" ] && [ "$gen" != "not" ] || fail "no generated request id: $h"
sleep 0.3 # access lines are buffered per thread for at most 100 ms
grep -q "\"requestId\":\"$gen\",\"method\":\"GET\",\"route\":\"/healthz\",\"status\":200,\"latency_ms\":[0-9.]*,\"client\":\"127.0.0.1\"}" \
  "$W/server.log" || fail "no JSON access line for request $gen"
grep "\"requestId\":\"trace-42.a_b\"" "$W/server.log" | python3 -c '
import json, sys
for l in sys.stdin:
    d = json.loads(l)
    assert set(d) == {"ts", "level", "requestId", "method", "route", "status", "latency_ms", "client"}, d' ||
  fail "an access line is not JSON with the documented fields"
ok "request ids echoed or generated; one JSON access line per request"

# --- a client that goes away while its write waits for the commit: the write still commits
# (the writer is held by another connection's write lock), the server stays up and serves
python3 - "$W/srv/data/reco.db" "$W/locked" <<'PY' &
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
c.execute("BEGIN IMMEDIATE")
open(sys.argv[2], "w").close()
time.sleep(2)
c.execute("COMMIT")
PY
lockpid=$!
for i in $(seq 1 100); do [ -f "$W/locked" ] && break; sleep 0.1; done
[ -f "$W/locked" ] || fail "could not take the write lock"
r=$(curl -s -m 1 -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  --data '{"userId":"gone_u","itemId":"'"$1"'","interactionType":"view"}' "$BASE/api/v1/interaction")
[ "$r" = 000 ] || fail "the write was answered ($r) while the store was locked"
wait "$lockpid" || fail "could not hold the write lock"
sleep 0.5
[ "$(stored gone_u)" = 1 ] || fail "a write whose client left was not committed"
curl -fs "$BASE/healthz" >/dev/null || fail "server down after a client left mid-commit"
ok "a client gone while its write waited: committed, and the server serves on"

# --- the queue-full path: STORE_QUEUE=1 under a burst of 64 concurrent writes
stop
start STORE_QUEUE=1
seq 1 64 | xargs -P 64 -I{} curl -s -o "$W/q.{}" -D "$W/h.{}" -X POST -H 'Content-Type: application/json' \
  --data '{"userId":"queue_u","itemId":"'"$1"'","interactionType":"view","idempotencyKey":"q-{}"}' "$BASE/api/v1/interaction"
n200=$(grep -l '^HTTP/1.1 200' "$W"/h.* | wc -l)
n503=$(grep -l '^HTTP/1.1 503' "$W"/h.* | wc -l)
[ $((n200 + n503)) = 64 ] || fail "queue burst: $n200 ok + $n503 full of 64"
if [ "$n503" -gt 0 ]; then
  f=$(grep -l '^HTTP/1.1 503' "$W"/h.* | head -1)
  grep -qi '^Retry-After: 1' "$f" || fail "503 without Retry-After"
  grep -q '"code":"unavailable"' "$W/q.${f##*.}" || fail "503 body: $(cat "$W/q.${f##*.}")"
fi
[ "$(stored queue_u)" = "$n200" ] || fail "queue burst: $n200 acknowledged but $(stored queue_u) stored"
ok "queue full: $n200 acknowledged and stored, $n503 refused with 503 + Retry-After and not stored"

# --- graceful stop: SIGTERM with requests uploading and waiting for their commit
stop
start
pad=$(python3 -c 'print("x" * 12000)')
for k in $(seq 1 8); do # slow uploads: about 3 s each at 4 KB/s, in flight when SIGTERM comes
  curl -s -o "$W/slow.$k" -w '%{http_code}' -H 'Expect:' --limit-rate 4K -X POST -H 'Content-Type: application/json' \
    --data "{\"userId\":\"term_slow\",\"itemId\":\"$1\",\"interactionType\":\"view\",\"context\":{\"note\":\"$pad\"}}" \
    "$BASE/api/v1/interaction" >"$W/slow.code.$k" &
done
( # and a stream of fast writes on keep-alive connections, until the listener is closed
  for k in $(seq 1 400); do
    curl -s -o /dev/null -o /dev/null -o /dev/null -w '%{http_code}\n' -X POST -H 'Content-Type: application/json' \
      --data '{"userId":"term_fast","itemId":"'"$2"'","interactionType":"click"}' \
      "$BASE/api/v1/interaction" "$BASE/api/v1/interaction" "$BASE/api/v1/interaction" >>"$W/fast.codes"
    tail -1 "$W/fast.codes" | grep -q '^000$' && break
  done
) &
fastpid=$!
sleep 1
kill -0 "$SPID" || fail "server gone before SIGTERM"
t0=$(date +%s.%N)
stop
wait "$fastpid"
wait
t1=$(date +%s.%N)
# the uploads need about 3 s: a stop that returned at once did not wait for them
python3 -c "import sys; sys.exit(0 if $t1 - $t0 > 0.5 else 1)" || fail "the stop did not wait for the uploads in flight"
codes=$(cat "$W"/slow.code.* | tr -d '\n')
[ "$codes" = "200200200200200200200200" ] || fail "in-flight uploads across SIGTERM: $codes ($(cat "$W/slow.1"))"
grep -q "stopped accepting; in-flight requests finished" "$W/server.log" || fail "no stop event in the log"
grep -q "stopped: store flushed and closed" "$W/server.log" || fail "no final log line"
# fast requests issued after the listener closed fail to connect (000): never a 5xx
grep -qv '^\(200\|000\)$' "$W/fast.codes" && fail "a fast request failed across SIGTERM: $(sort "$W/fast.codes" | uniq -c)"
n_fast=$(grep -c '^200$' "$W/fast.codes")
start
[ "$(stored term_slow)" = 8 ] || fail "after the restart: $(stored term_slow) of 8 slow uploads stored"
[ "$(stored term_fast)" -ge "$n_fast" ] || fail "after the restart: $(stored term_fast) stored < $n_fast acknowledged"
ok "SIGTERM with 8 uploads in flight: all answered 200 and stored, $n_fast fast acks kept, exit 0 ($(python3 -c "print(round($t1-$t0,2))") s)"
stop
echo "PASS"
