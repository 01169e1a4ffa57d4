#!/usr/bin/env bash
# bench_retrain.sh [RECO] [ROUNDS] [SECONDS] - p99 latency of POST /api/v1/recommend under load
# (wrk, 2 threads, 20 connections, random demo users) without a retrain and while a background
# retrain runs, ROUNDS times each (default 3, SECONDS s per wrk run, default 10); prints every
# run and the medians. Uses the default demo (20,000 users, 5,000 items, 500,000 interactions),
# generated and trained in a temporary folder on first use (kept in $RECO_BENCH_DIR if set).
# Before each round, 600 purchases from 200 catalogue users give the retrain a held-out slice,
# so it fits and evaluates every model instead of refusing at once.
# The server and wrk share the machine: on 2 cores the HTTP threads and wrk take both, and the
# retrain thread (SCHED_IDLE) gets what is left; the script reports how long each retrain took
# and whether it was still running when its wrk window closed.
set -u
RECO=${1:-build/reco}
ROUNDS=${2:-3}
SECS=${3:-10}
RECO=$(cd "$(dirname "$RECO")" && pwd)/$(basename "$RECO")
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
command -v curl >/dev/null || { echo "curl is not installed"; exit 1; }
D=${RECO_BENCH_DIR:-$(mktemp -d)}
mkdir -p "$D"
SPID=
cleanup() { [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null; [ -z "${RECO_BENCH_DIR:-}" ] && rm -rf "$D"; }
trap cleanup EXIT
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
(cd "$D" && exec env PORT=$PORT HOST=127.0.0.1 MODEL_UPDATE_INTERVAL=0 MODEL_UPDATE_MIN_INTERACTIONS=0 "$RECO" serve >>"$D/server.log" 2>&1) &
SPID=$!
for i in $(seq 1 2400); do
  curl -fs "$BASE/readyz" >/dev/null 2>&1 && break
  kill -0 "$SPID" 2>/dev/null || { echo "server exited: $(tail -3 "$D/server.log")"; exit 1; }
  sleep 0.25
done
echo "server ready on $BASE (pid $SPID, folder $D)"


# 600 purchases from 200 catalogue users (seeded by the round): rows no model has seen yet, so
# each retrain has a held-out slice for every model and fits them all
send_interactions() {
  python3 - "$BASE" "$1" <<'PY'
import json, sys, urllib.request, random
base = sys.argv[1]
def post(path, body):
    r = urllib.request.urlopen(urllib.request.Request(base + path, json.dumps(body).encode(), {"Content-Type": "application/json"}), timeout=30)
    return json.load(r)
random.seed(int(sys.argv[2]))
for u in random.sample(range(20000), 200):
    recs = [x["itemId"] for x in post("/api/v1/recommend", {"userId": f"user_{u}", "limit": 20, "algorithm": "itemknn"})["result"]["recommendations"]]
    for it in random.sample(recs, 3):
        post("/api/v1/interaction", {"userId": f"user_{u}", "itemId": it, "interactionType": "purchase"})
PY
}

cat >"$D/rec.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  return wrk.format(nil, "/api/v1/recommend", nil, '{"userId":"user_' .. math.random(1, 20000) .. '","limit":10}')
end
LUA

# one wrk run: prints "P99MS RPS NON2XX"
run_wrk() {
  wrk -t2 -c20 -d"${SECS}s" --latency -s "$D/rec.lua" "$BASE" >"$D/wrk.txt" 2>&1
  python3 - "$D/wrk.txt" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", t)
v = float(m.group(1)); u = m.group(2)
p99 = v / 1000 if u == "us" else (v * 1000 if u == "s" else v)
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
n = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
e = re.search(r"Socket errors:.*", t)
print(f"{p99:.3f} {rps:.0f} {(int(n.group(1)) if n else 0)}{' ' + e.group(0).replace(' ', '') if e else ''}")
PY
}
runs_done() { curl -s "$BASE/api/v1/models/retrain" | grep -oE '"runs":[0-9]+' | cut -d: -f2; }
wait_idle() {
  for i in $(seq 1 7200); do
    curl -s "$BASE/api/v1/models/retrain" | grep -q '"running":false,"queued":false' && return 0
    sleep 0.5
  done
}

run_wrk >/dev/null # warm-up
base_p99=()
during_p99=()
for r in $(seq 1 "$ROUNDS"); do
  wait_idle
  send_interactions "$r"
  read -r p rps bad rest <<<"$(run_wrk)"
  base_p99+=("$p")
  echo "round $r without retrain: p99 ${p} ms, ${rps} req/s, non-2xx ${bad} ${rest:-}"
  before=$(runs_done)
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$BASE/api/v1/models/retrain")
  [ "$code" = 202 ] || { echo "POST retrain: $code"; exit 1; }
  sleep 0.2
  read -r p rps bad rest <<<"$(run_wrk)"
  still=$(curl -s "$BASE/api/v1/models/retrain" | grep -c '"running":true')
  during_p99+=("$p")
  wait_idle
  st=$(curl -s "$BASE/api/v1/models/retrain")
  dur=$(grep -oE '"durationSeconds":[0-9.e+-]+' <<<"$st" | cut -d: -f2)
  dec=$(grep -oE '"decision":"[a-z]+"' <<<"$st" | head -1 | cut -d'"' -f4)
  echo "round $r during retrain:  p99 ${p} ms, ${rps} req/s, non-2xx ${bad} ${rest:-}; retrain took ${dur} s ($dec), still running at the end of the window: $([ "$still" = 1 ] && echo yes || echo no)"
  [ "$(runs_done)" -gt "$before" ] || echo "  (warning: the retrain did not complete)"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "p99 /recommend (wrk -t2 -c20, ${SECS} s, $ROUNDS rounds): without retrain median $(median "${base_p99[@]}") ms; during retrain median $(median "${during_p99[@]}") ms"
