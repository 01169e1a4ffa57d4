#!/usr/bin/env bash
# bench_swap.sh [BUILD] - model swap under load: wrk drives POST /api/v1/recommend (ials, limit
# 10) for SECONDS (30) on loopback, first with no swap, then while this script activates ials
# v1 and v2 in turn every second (POST /api/v1/models/ials/activate). Prints, per run and as
# medians over RUNS (1) runs: requests/s, p50/p99 latency, non-2xx responses and socket errors
# of each phase, and how many swaps happened. The models are trained on MovieLens 100k
# (RECO_DATA_DIR/ml-100k) when present, else on the generated demo catalogue.
# Environment: RUNS, SECONDS, CONNS (50), THREADS (2, wrk), SERVE_THREADS (2), CACHE_ENABLED (no:
# every request computed, so each one is served by whichever version is current).
# Exit status 1 when any request failed (non-2xx or socket error) in any phase.
set -u
cd "$(dirname "$0")/.."
B=${1:-build}
RECO=$(pwd)/$B/reco
RUNS=${RUNS:-1} SECS=${SECONDS_PER_PHASE:-${SECONDS_RUN:-30}} CONNS=${CONNS:-50} WT=${THREADS:-2}
DATA=${RECO_DATA_DIR:-$(pwd)/../shared/data}
for t in wrk curl python3; do command -v $t >/dev/null || { echo "bench_swap: $t is not installed"; exit 2; }; done
[ -x "$RECO" ] || { echo "bench_swap: no $RECO (build first)"; exit 2; }
W=$(mktemp -d)
SPID=
cleanup() { [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT

# the registry: ials v1 and v2 (different factor counts, so a swap really changes the model)
if [ -d "$DATA/ml-100k" ]; then
  SRC=$(cd "$DATA/ml-100k" && pwd) USER_ID=196
else
  SRC=$W/demo USER_ID=user_5
  "$RECO" data gen --domain ecommerce --out "$SRC" --quiet >/dev/null || exit 2
fi
for f in 64 32; do
  "$RECO" train --algo ials --set factors=$f --data "$SRC" --registry "$W/models" --activate --no-validate --quiet \
    >/dev/null || { echo "bench_swap: training failed"; exit 2; }
done
"$RECO" train --algo popular --data "$SRC" --registry "$W/models" --activate --no-validate --quiet >/dev/null || exit 2
echo "$SRC" >"$W/models/CATALOGUE"

PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
(cd "$W" && exec env PORT=$PORT HOST=127.0.0.1 MODEL_PATH="$W/models" SERVE_THREADS=${SERVE_THREADS:-2} \
  DEFAULT_ALGORITHM=ials STORE_PATH="$W/reco.db" CACHE_ENABLED=${CACHE_ENABLED:-no} "$RECO" serve >"$W/server.log" 2>&1) &
SPID=$!
BASE=http://127.0.0.1:$PORT
for i in $(seq 1 600); do curl -fs "$BASE/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "$BASE/readyz" >/dev/null || { echo "bench_swap: server did not start"; cat "$W/server.log"; exit 2; }

cat >"$W/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"userId":"$USER_ID","limit":10,"algorithm":"ials"}'
LUA
# phase: one wrk run; prints "rps p50_ms p99_ms non2xx socket_errors connect/read/write/timeout"
phase() {
  wrk -t"$WT" -c"$CONNS" -d"${SECS}s" --latency -s "$W/post.lua" "$BASE/api/v1/recommend" >"$W/wrk.txt" 2>&1
  python3 - "$W/wrk.txt" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(q):
    m = re.search(r"%s%%\s+([\d.]+)(us|ms|s)\b" % q, t)
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else (v * 1000 if u == "s" else v)
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
se = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
print("%.0f %.3f %.3f %d %d %s" % (rps, ms(50), ms(99), int(bad.group(1)) if bad else 0, sum(map(int, se.groups())) if se else 0,
                               "/".join(se.groups()) if se else "0/0/0/0"))
PY
}
# swapper SECONDS: activates v1/v2 in turn every second; prints the swaps done and failed
swapper() {
  local n=0 failed=0 end=$((SECONDS + $1)) v c
  while [ $SECONDS -lt $end ]; do
    v=$((n % 2 + 1))
    c=$(curl -s -o "$W/act" -w '%{http_code}' -X POST --data "{\"version\":$v}" "$BASE/api/v1/models/ials/activate")
    [ "$c" = 200 ] && grep -oE '"swapMs":[0-9.]+' "$W/act" | cut -d: -f2 >>"$W/swap_ms" || failed=$((failed + 1))
    n=$((n + 1))
    sleep 1
  done
  echo "$n $failed"
}

curl -s -X POST --data "{\"userId\":\"$USER_ID\",\"limit\":10,\"algorithm\":\"ials\"}" "$BASE/api/v1/recommend" >/dev/null
echo "bench_swap: $(basename "$SRC") models, wrk -t$WT -c$CONNS -d${SECS}s, server threads ${SERVE_THREADS:-2}, $RUNS run(s)"
printf '%-6s %-8s %9s %8s %8s %7s %7s %s\n' run phase req/s p50_ms p99_ms non2xx sockerr "swaps; socket errors c/r/w/timeout"
: >"$W/all"
: >"$W/swap_ms"
status=0
for r in $(seq 1 "$RUNS"); do
  read -r rps p50 p99 bad se kinds < <(phase)
  printf '%-6s %-8s %9s %8s %8s %7s %7s %s\n' "$r" steady "$rps" "$p50" "$p99" "$bad" "$se" "-; $kinds"
  echo "steady $rps $p50 $p99 $bad $se" >>"$W/all"
  swapper $((SECS + 1)) >"$W/swaps" &
  sp=$!
  read -r rps p50 p99 bad se kinds < <(phase)
  wait $sp
  read -r n_swaps n_failed <"$W/swaps"
  printf '%-6s %-8s %9s %8s %8s %7s %7s %s\n' "$r" swapping "$rps" "$p50" "$p99" "$bad" "$se" "$n_swaps ($n_failed refused); $kinds"
  echo "swapping $rps $p50 $p99 $bad $se" >>"$W/all"
  [ "$bad" = 0 ] && [ "$se" = 0 ] && [ "$n_failed" = 0 ] || status=1
done
python3 - "$W/all" "$W/swap_ms" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
sw = [float(x) for x in open(sys.argv[2]) if x.strip()]
if sw:
    print("swap (verify + build + publish a snapshot): median %.1f ms, max %.1f ms over %d swaps" % (statistics.median(sw), max(sw), len(sw)))
for ph in ("steady", "swapping"):
    r = [list(map(float, x[1:])) for x in rows if x[0] == ph]
    med = [statistics.median(c) for c in zip(*r)]
    print("median %-8s %9.0f %8.3f %8.3f %7d %7d" % (ph, med[0], med[1], med[2], sum(x[3] for x in r), sum(x[4] for x in r)))
PY
exit $status
