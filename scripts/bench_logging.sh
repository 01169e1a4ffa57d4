#!/usr/bin/env bash
# bench_logging.sh [BUILD] - what the per-request access logs cost the hot path: two servers of
# BUILD (default build) on free loopback ports, one with LOG_ACCESS=yes (JSON lines at info
# level into a file, as in production) and one with LOG_ACCESS=no, both on the demo models of
# BUILD/bench-ingest; wrk posts the seed's /api/v1/recommend request to each in turn (RUNS
# pairs, CONNS connections, DURATION seconds; alternating, so the machine's load drifts over
# both, and so does the order within a pair). Printed: the medians of requests/s and of the
# server's CPU time per request (user + system from /proc, robust to the machine's other load),
# and the cost of the logs in percent of that CPU time. Needs wrk and Linux's /proc.
set -u
B=${1:-build}
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RECO=$ROOT/$B/reco
DURATION=${DURATION:-10}
CONNS=${CONNS:-50}
RUNS=${RUNS:-5}
command -v wrk >/dev/null || { echo "bench_logging: wrk is not installed (scripts/setup.sh)"; exit 2; }
W=$(mktemp -d)
PIDS=()
cleanup() { local p; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$W"; }
trap cleanup EXIT
SRV=$ROOT/$B/bench-ingest
mkdir -p "$SRV"
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
start() { # NAME LOG_ACCESS -> sets PORT_<NAME>
  local port
  port=$(free_port)
  (cd "$SRV" && exec env PORT=$port HOST=127.0.0.1 STORE_PATH="$W/$1.db" LOG_ACCESS=$2 LOG_FORMAT=json "$RECO" serve \
    >/dev/null 2>"$W/$1.log") &
  PIDS+=($!)
  for i in $(seq 1 2400); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.25; done
  eval "PORT_$1=$port"
}
start on yes
PID_on=${PIDS[-1]}
start off no
PID_off=${PIDS[-1]}
cat >"$W/rec.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"userId":"user_12345","limit":10,"filters":{"category":["electronics","books"],"minRating":4.0}}'
LUA
# CPU seconds (user + system) the server has used: the cost per request in CPU time does not
# depend on how busy the rest of the machine is, unlike requests/s on a shared machine
cpu() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }
# rps PORT PID -> "requests/s microseconds-of-server-CPU-per-request"
rps() {
  local c0 c1 out
  c0=$(cpu "$2")
  out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" -s "$W/rec.lua" "http://127.0.0.1:$1/api/v1/recommend")
  c1=$(cpu "$2")
  awk -v c0="$c0" -v c1="$c1" '/requests in/{n=$1} /Requests\/sec/{r=$2} END{printf "%.0f %.1f", r, (c1-c0)/n*1e6}' <<<"$out"
}
echo "bench_logging: /api/v1/recommend, $CONNS connections, ${DURATION} s, $RUNS pairs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$RUNS"); do
  # the order alternates too: the second run of a pair meets a warmer (or busier) machine
  if [ $((r % 2)) = 1 ]; then a=$(rps "$PORT_on" "$PID_on"); b=$(rps "$PORT_off" "$PID_off"); else
    b=$(rps "$PORT_off" "$PID_off"); a=$(rps "$PORT_on" "$PID_on"); fi
  set -- $a $b
  echo "  pair $r: access logs on $1 req/s ($2 us of server CPU per request), off $3 req/s ($4 us)"
  echo "$1" >>"$W/on"; echo "$3" >>"$W/off"; echo "$2" >>"$W/on.cpu"; echo "$4" >>"$W/off.cpu"
  awk -v a="$2" -v b="$4" 'BEGIN{printf "%.2f\n", (a-b)/b*100}' >>"$W/pair.cost"
done
median() { sort -g "$1" | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
on=$(median "$W/on"); off=$(median "$W/off"); con=$(median "$W/on.cpu"); coff=$(median "$W/off.cpu")
lines=$(wc -l <"$W/on.log")
echo "median throughput: logs on $on req/s, off $off req/s ($(awk -v a="$on" -v b="$off" 'BEGIN{printf "%+.1f", (a-b)/b*100}')%; noisy on a shared machine)"
# the cost is taken pair by pair (both servers measured minutes apart at most), then the median
echo "median server CPU per request: logs on $con us, off $coff us; median of the pairs' costs: access logs cost $(median "$W/pair.cost")% ($lines lines logged)"
head -c 400 "$W/on.log" | tail -1 | head -1
