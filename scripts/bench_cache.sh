#!/usr/bin/env bash
# bench_cache.sh [BUILD] - the result cache under a realistic user mix, measured with wrk on
# loopback: `reco serve` on a generated e-commerce catalogue (10k users, 2k items, 200k
# interactions: ml-100k-sized models), then wrk -t2 -c50 where each request picks its userId
# from a Zipf distribution over the 10k users (exponent ZIPF_S, default 1.0: a few users are
# very active, most are rare), the seed's request shape otherwise, and INTERACT_PCT percent
# (default 1) of the requests are interactions of a Zipf-chosen user (each invalidates that
# user's cached lists, as in production). Runs RUNS (default 3) runs of SECS (default 10) s
# with the cache on and with CACHE_ENABLED=no, and prints each run's throughput, p99 and
# the hit rate over the run (from /metrics: hits / lookups), then the medians.
# Needs wrk and curl. Nothing here gates a test.
set -u
B=${1:-build}
cd "$(dirname "$0")/.."
RECO=$(pwd)/$B/reco
[ -x "$RECO" ] || { echo "bench_cache: no $RECO (build first)"; exit 1; }
command -v wrk >/dev/null || { echo "bench_cache: wrk not installed (apt-get install wrk)"; exit 1; }
RUNS=${RUNS:-3} SECS=${SECS:-10} ZIPF_S=${ZIPF_S:-1.0} INTERACT_PCT=${INTERACT_PCT:-1}
USERS=10000 ITEMS=2000
W=$(mktemp -d)
SPID=
trap '[ -n "$SPID" ] && kill "$SPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$W"' EXIT

"$RECO" data gen --domain ecommerce --users $USERS --items $ITEMS --interactions 200000 --out "$W/srv/data/demo-ecommerce" \
  --quiet >/dev/null || exit 1

cat >"$W/zipf.lua" <<LUA
-- one userId per request, Zipf(s) over users 1..N (inverse CDF by binary search)
local N, S, PCT, ITEMS = $USERS, $ZIPF_S, $INTERACT_PCT, $ITEMS
local cdf = {}
function init(args)
  local sum = 0
  for k = 1, N do sum = sum + 1 / (k ^ S); cdf[k] = sum end
  for k = 1, N do cdf[k] = cdf[k] / sum end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end
local function zipf()
  local u, lo, hi = math.random(), 1, N
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < u then lo = mid + 1 else hi = mid end
  end
  return lo
end
local hdr = {["Content-Type"] = "application/json"}
function request()
  local u = zipf()
  if math.random() * 100 < PCT then
    return wrk.format("POST", "/api/v1/interaction", hdr, string.format(
      '{"userId":"user_%d","itemId":"item_%d","interactionType":"click"}', u, math.random(ITEMS)))
  end
  return wrk.format("POST", "/api/v1/recommend", hdr, string.format(
    '{"userId":"user_%d","limit":10,"context":{"device":"mobile"},"filters":{"category":["electronics","books"],"minRating":4.0},"diversityWeight":0.3}', u))
end
LUA

start() {
  PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  (cd "$W/srv" && exec env PORT=$PORT HOST=127.0.0.1 "$@" "$RECO" serve >>"$W/server.log" 2>&1) &
  SPID=$!
  BASE="http://127.0.0.1:$PORT"
  for _ in $(seq 1 2400); do
    curl -fs "$BASE/readyz" >/dev/null 2>&1 && return 0
    kill -0 "$SPID" 2>/dev/null || { tail -5 "$W/server.log"; exit 1; }
    sleep 0.25
  done
  echo "bench_cache: server not ready"; exit 1
}
stop() { kill "$SPID"; wait "$SPID" 2>/dev/null; SPID=; }
counter() { curl -s "$BASE/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
lookups() { echo $(( $(counter 'reco_cache_hits_total{level="l1"}') + $(counter 'reco_cache_misses_total{level="l1"}') )); }
hits() { echo $(( $(counter 'reco_cache_hits_total{level="l1"}') + $(counter 'reco_cache_hits_total{level="l2"}') )); }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# run LABEL [ENV...]: RUNS fresh servers (a cold cache each), one wrk run each
run() {
  local label=$1; shift
  : >"$W/$label.rps"; : >"$W/$label.p99"; : >"$W/$label.hit"
  for r in $(seq 1 "$RUNS"); do
    start "$@"
    local l0 h0 l1 h1 out rps p99
    l0=$(lookups); h0=$(hits)
    out=$(wrk -t2 -c50 -d"${SECS}s" --latency -s "$W/zipf.lua" "$BASE")
    l1=$(lookups); h1=$(hits)
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) v=v/1000; else if (v ~ /ms$/) v=v+0; else if (v ~ /s$/) v=v*1000; print v}' <<<"$out")
    local non2xx; non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
    local rate; rate=$(awk -v h=$((h1 - h0)) -v l=$((l1 - l0)) 'BEGIN {printf "%.3f", l ? h / l : 0}')
    printf '%-9s run %d: %8.0f req/s  p99 %6.2f ms  hit rate %s  (lookups %d, non-2xx %s)\n' "$label" "$r" "$rps" "$p99" "$rate" \
      $((l1 - l0)) "${non2xx:-0}"
    echo "$rps" >>"$W/$label.rps"; echo "$p99" >>"$W/$label.p99"; echo "$rate" >>"$W/$label.hit"
    stop
  done
}

echo "bench_cache: wrk -t2 -c50 ${SECS}s x $RUNS runs; userId ~ Zipf($ZIPF_S) over $USERS users; $INTERACT_PCT% interactions"
run cache-on
run cache-off CACHE_ENABLED=no
echo
printf '%-9s %12s %10s %9s\n' "" "req/s" "p99 ms" "hit rate"
for l in cache-on cache-off; do
  printf '%-9s %12.0f %10.2f %9s   (medians of %d runs)\n' "$l" "$(median <"$W/$l.rps")" "$(median <"$W/$l.p99")" \
    "$(median <"$W/$l.hit")" "$RUNS"
done
