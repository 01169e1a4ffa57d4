#!/usr/bin/env bash
# bench_ws.sh - push latency of the WebSocket channel: starts `reco serve` on a generated
# e-commerce catalogue (a temporary folder, a free loopback port), runs scripts/ws_latency.py
# RUNS times (N interactions each) and stops the server by its PID. Figures go to stdout.
# Then the same with CLIENTS concurrent subscribed users (default 20).
# Usage: scripts/bench_ws.sh [RECO_BINARY=build/reco] [N=200] [RUNS=3] [CLIENTS=20]
set -euo pipefail
RECO=${1:-build/reco}
N=${2:-200}
RUNS=${3:-3}
CLIENTS=${4:-20}
RECO=$(cd "$(dirname "$RECO")" && pwd)/$(basename "$RECO")
HERE=$(cd "$(dirname "$0")" && pwd)
PY=
for p in python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import websocket' 2>/dev/null; then PY=$p; break; fi
done
[ -n "$PY" ] || { echo "bench_ws: needs the python3 websocket module (apt: python3-websocket)" >&2; exit 1; }
W=$(mktemp -d)
SPID=
trap '[ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null; rm -rf "$W"' EXIT
"$RECO" data gen --domain ecommerce --users 3000 --items 600 --interactions 60000 --out "$W/data/demo-ecommerce" --quiet >/dev/null
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
(cd "$W" && exec env PORT=$PORT HOST=127.0.0.1 "$RECO" serve >"$W/server.log" 2>&1) &
SPID=$!
for i in $(seq 1 2400); do
  curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  kill -0 "$SPID" 2>/dev/null || { cat "$W/server.log"; exit 1; }
  sleep 0.25
done
echo "reco serve on :$PORT ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
for r in $(seq 1 "$RUNS"); do
  echo "run $r:"
  "$PY" "$HERE/ws_latency.py" "http://127.0.0.1:$PORT" "$N"
done
for r in $(seq 1 "$RUNS"); do
  echo "run $r, $CLIENTS clients:"
  "$PY" "$HERE/ws_latency.py" "http://127.0.0.1:$PORT" "$((N / 4))" 10 hybrid "$CLIENTS"
done
