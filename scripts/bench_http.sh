#!/usr/bin/env bash
# bench_http.sh - POST /api/v1/recommend over HTTP against this machine's ceiling for an HTTP JSON
# response: `reco serve` (demo models, cache off unless CACHE_ENABLED=yes) with the seed's example
# request, wrk -t2 -c50 and wrk -t1 -c1, then nginx serving the same response bytes as a static
# file with the same wrk run, RUNS times, alternating. Prints each run and the medians.
#   scripts/bench_http.sh [RECO_BINARY] [SECONDS] [RUNS]
# Needs wrk and nginx (apt-get install wrk nginx-light); python3 for the Lua body and the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
RECO=${1:-build/reco}
RECO=$(cd "$(dirname "$RECO")" && pwd)/$(basename "$RECO")
SECS=${2:-10}
RUNS=${3:-3}
for c in wrk nginx python3 curl; do
  command -v $c >/dev/null || { echo "bench_http: $c is not installed (apt-get install wrk nginx-light python3 curl)"; exit 2; }
done
W=$(mktemp -d)
SPID= NPID=
cleanup() {
  [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
  [ -n "$NPID" ] && kill "$NPID" 2>/dev/null && wait "$NPID" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
. scripts/http_common.sh

P=$(port)
mkdir -p "$W/srv"
(cd "$W/srv" && exec env PORT=$P HOST=127.0.0.1 CACHE_ENABLED=${CACHE_ENABLED:-no} LOG_ACCESS=${LOG_ACCESS:-yes} \
  "$RECO" serve >"$W/server.log" 2>&1) &
SPID=$!
for _ in $(seq 1 600); do curl -fs "http://127.0.0.1:$P/readyz" >/dev/null 2>&1 && break; sleep 0.25; done
curl -fs "http://127.0.0.1:$P/readyz" >/dev/null || { tail -5 "$W/server.log"; exit 1; }
REQ=$SEED_REQ
curl -s -X POST -H 'Content-Type: application/json' --data "$REQ" "http://127.0.0.1:$P/api/v1/recommend" >"$W/r.json"
post_lua "$REQ" >"$W/post.lua"
start_nginx "$W/ngx" "$W/r.json"

# wrk output -> "RPS P99_MS NON2XX"
parse() {
  python3 - "$1" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
m = re.search(r"99%\s+([\d.]+)(us|ms|s)", t)
v, u = float(m.group(1)), m.group(2)
p99 = v / 1000 if u == "us" else (v * 1000 if u == "s" else v)
n = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
e = re.search(r"Socket errors:.*", t)
print(f"{rps:.0f} {p99:.3f} {n.group(1) if n else 0} {'errors' if e else 'ok'}")
PY
}
echo "response: $(wc -c <"$W/r.json") bytes; reco: $RECO (CACHE_ENABLED=${CACHE_ENABLED:-no}); $RUNS runs of $SECS s; load: $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$W/rows"
for r in $(seq 1 "$RUNS"); do
  wrk -t2 -c50 -d"${SECS}s" --latency -s "$W/post.lua" "http://127.0.0.1:$P/api/v1/recommend" >"$W/a.txt"
  wrk -t1 -c1 -d"${SECS}s" --latency -s "$W/post.lua" "http://127.0.0.1:$P/api/v1/recommend" >"$W/b.txt"
  wrk -t2 -c50 -d"${SECS}s" --latency "http://127.0.0.1:$NP/r.json" >"$W/c.txt"
  wrk -t1 -c1 -d"${SECS}s" --latency "http://127.0.0.1:$NP/r.json" >"$W/d.txt"
  read -r a_rps a_p99 a_bad a_err < <(parse "$W/a.txt")
  read -r b_rps b_p99 _ _ < <(parse "$W/b.txt")
  read -r c_rps c_p99 _ _ < <(parse "$W/c.txt")
  read -r d_rps d_p99 _ _ < <(parse "$W/d.txt")
  echo "run $r: reco c50 $a_rps req/s p99 $a_p99 ms (non-2xx $a_bad, sockets $a_err) | c1 $b_rps req/s p99 $b_p99 ms || nginx c50 $c_rps req/s p99 $c_p99 ms | c1 $d_rps req/s p99 $d_p99 ms || ratio $(python3 -c "print(round($a_rps/$c_rps,3))")"
  echo "$a_rps $b_p99 $c_rps $d_p99" >>"$W/rows"
done
python3 - "$W/rows" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
med = [statistics.median(c) for c in zip(*rows)]
ratios = statistics.median(r[0] / r[2] for r in rows)
print(f"median: reco {med[0]:.0f} req/s at 50 connections, p99 {med[1]:.3f} ms on one; nginx {med[2]:.0f} req/s, "
      f"p99 {med[3]:.3f} ms on one; reco/nginx {ratios:.3f}")
PY
