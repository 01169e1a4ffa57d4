#!/usr/bin/env bash
# bench_http_ab.sh - two builds of `reco serve` side by side on POST /api/v1/recommend (the seed's
# request, cache off), against nginx serving the same response bytes: both servers run at once
# (an idle one costs nothing), wrk -t2 -c50 alternates A, B, nginx for RUNS rounds, and each round
# prints the throughputs, the ratios to nginx and each server's CPU time per request (user +
# system, from /proc). Use it to show what a change does on the same machine at the same time.
#   scripts/bench_http_ab.sh RECO_A RECO_B [SECONDS] [RUNS] [DEMO_DIR]
# DEMO_DIR: a `reco serve` folder (models/ and data/) both servers start from (copied, so each has
# its own store); default: the demo that RECO_B generates on its first start.
# Needs wrk, nginx (apt-get install wrk nginx-light), curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: $0 RECO_A RECO_B [SECONDS] [RUNS] [DEMO_DIR]"; exit 2; }
abs() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
A=$(abs "$1") B=$(abs "$2") SECS=${3:-5} RUNS=${4:-3} DEMO=${5:-}
for c in wrk nginx python3 curl; do
  command -v $c >/dev/null || { echo "bench_http_ab: $c is not installed"; exit 2; }
done
W=$(mktemp -d)
PA= PB= PN=
cleanup() {
  for p in $PA $PB $PN; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
. scripts/http_common.sh
ready() { for _ in $(seq 1 600); do curl -fs "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0; sleep 0.25; done; return 1; }
serve() { # BIN DIR PORT; the server's pid in $!
  (cd "$2" && exec env PORT=$3 HOST=127.0.0.1 CACHE_ENABLED=no "$1" serve >"$2/server.log" 2>&1) &
}

mkdir -p "$W/a" "$W/b"
if [ -z "$DEMO" ]; then # B generates the demo; A starts from a copy of it
  P=$(port); serve "$B" "$W/b" "$P"; PB=$!
  ready "$P" || { tail -3 "$W/b/server.log"; exit 1; }
  kill "$PB"; wait "$PB" 2>/dev/null || true; PB=
  DEMO=$W/b
fi
for d in a b; do
  [ "$DEMO" = "$W/b" ] && [ $d = b ] && continue
  cp -r "$DEMO/models" "$DEMO/data" "$W/$d/"
done
rm -f "$W"/a/data/reco.db* "$W"/b/data/reco.db*
PA_PORT=$(port); serve "$A" "$W/a" "$PA_PORT"; PA=$!
PB_PORT=$(port); serve "$B" "$W/b" "$PB_PORT"; PB=$!
ready "$PA_PORT" && ready "$PB_PORT" || { tail -3 "$W/a/server.log" "$W/b/server.log"; exit 1; }

REQ=$SEED_REQ
post_lua "$REQ" >"$W/post.lua"
curl -s -X POST -H 'Content-Type: application/json' --data "$REQ" "http://127.0.0.1:$PB_PORT/api/v1/recommend" >"$W/r.json"
start_nginx "$W/ngx" "$W/r.json"
PN=$NPID

rps() { awk '/Requests\/sec/{printf "%d", $2}' "$1"; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
echo "response $(wc -c <"$W/r.json") bytes; A=$A B=$B; $RUNS rounds of $SECS s; load $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$W/rows"
for r in $(seq 1 "$RUNS"); do
  t0=$(ticks "$PA"); wrk -t2 -c50 -d"${SECS}s" -s "$W/post.lua" "http://127.0.0.1:$PA_PORT/api/v1/recommend" >"$W/wa"; t1=$(ticks "$PA")
  u0=$(ticks "$PB"); wrk -t2 -c50 -d"${SECS}s" -s "$W/post.lua" "http://127.0.0.1:$PB_PORT/api/v1/recommend" >"$W/wb"; u1=$(ticks "$PB")
  wrk -t2 -c50 -d"${SECS}s" "http://127.0.0.1:$NP/r.json" >"$W/wn"
  python3 - "$(rps "$W/wa")" "$(rps "$W/wb")" "$(rps "$W/wn")" "$((t1 - t0))" "$((u1 - u0))" "$hz" "$SECS" "$r" <<'PY' | tee -a "$W/rows"
import sys
a, b, n, ta, tb, hz, secs, r = (float(x) for x in sys.argv[1:])
ca = ta / hz / (a * secs) * 1e6 if a else 0
cb = tb / hz / (b * secs) * 1e6 if b else 0
print(f"round {int(r)}: A {a:.0f} req/s ({a / n:.3f} of nginx, {ca:.1f} us CPU/request) | "
      f"B {b:.0f} req/s ({b / n:.3f}, {cb:.1f} us) | nginx {n:.0f} req/s")
PY
done
python3 - "$W/rows" <<'PY'
import re, statistics, sys
rows = open(sys.argv[1]).read().splitlines()
ra = [float(re.search(r"A \d+ req/s \(([\d.]+)", l).group(1)) for l in rows]
rb = [float(re.search(r"B \d+ req/s \(([\d.]+)", l).group(1)) for l in rows]
ca = [float(re.search(r"of nginx, ([\d.]+) us", l).group(1)) for l in rows]
cb = [float(re.search(r"B \d+ req/s \([\d.]+, ([\d.]+) us", l).group(1)) for l in rows]
print(f"median: A {statistics.median(ra):.3f} of nginx, {statistics.median(ca):.1f} us CPU/request; "
      f"B {statistics.median(rb):.3f} of nginx, {statistics.median(cb):.1f} us CPU/request")
PY
