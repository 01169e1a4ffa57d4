#!/usr/bin/env bash
# bench_swap_stall.sh [BUILD] - does a model swap stall the other connections of the HTTP
# thread that received it? `reco serve` runs with SERVE_THREADS=1 (one HTTP thread, so every
# connection shares it); one client sends GET /healthz back to back on a keep-alive connection
# for the whole run and times each answer, while another posts ACTIVATIONS (20) swaps of ials v1
# and v2 in turn (POST /api/v1/models/ials/activate, PAUSE_MS (50) apart). Prints the stream's
# request count, p50, p99 and max latency before the swaps ("idle") and while they run
# ("swapping"), and the swaps' own swapMs. With the load done on the HTTP thread the stream's
# max is about one swap; with the loader thread (src/serve/loader.c) it stays near idle.
# The models are trained on the generated demo catalogue (DATA_SET=demo, the default: ~15 ms a swap)
# or on MovieLens 100k (DATA_SET=ml-100k, from RECO_DATA_DIR). Runs about 10 s; exits 1 when a swap
# or a stream request failed.
set -u
cd "$(dirname "$0")/.."
B=${1:-build}
RECO=$(pwd)/$B/reco
N_ACT=${ACTIVATIONS:-20} PAUSE_MS=${PAUSE_MS:-50}
DATA=${RECO_DATA_DIR:-$(pwd)/../shared/data}
for t in curl python3; do command -v $t >/dev/null || { echo "bench_swap_stall: $t is not installed"; exit 2; }; done
[ -x "$RECO" ] || { echo "bench_swap_stall: no $RECO (build first)"; exit 2; }
W=$(mktemp -d)
SPID=
cleanup() { [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT

if [ "${DATA_SET:-demo}" = ml-100k ]; then
  SRC=$(cd "$DATA/ml-100k" && pwd) || exit 2
else
  SRC=$W/demo
  "$RECO" data gen --domain ecommerce --out "$SRC" --quiet >/dev/null || exit 2
fi
for f in 64 32; do
  "$RECO" train --algo ials --set factors=$f --data "$SRC" --registry "$W/models" --activate --no-validate --quiet \
    >/dev/null || { echo "bench_swap_stall: training failed"; exit 2; }
done
"$RECO" train --algo popular --data "$SRC" --registry "$W/models" --activate --no-validate --quiet >/dev/null || exit 2
echo "$SRC" >"$W/models/CATALOGUE"

PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
(cd "$W" && exec env PORT=$PORT HOST=127.0.0.1 MODEL_PATH="$W/models" SERVE_THREADS=1 LOG_ACCESS=no \
  DEFAULT_ALGORITHM=ials STORE_PATH="$W/reco.db" "$RECO" serve >"$W/server.log" 2>&1) &
SPID=$!
for i in $(seq 1 600); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null || { echo "bench_swap_stall: server did not start"; cat "$W/server.log"; exit 2; }

python3 - "$PORT" "$N_ACT" "$PAUSE_MS" "$(basename "$SRC")" <<'PY'
import http.client, json, os, statistics, sys, threading, time
port, n_act, pause, data = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]) / 1e3, sys.argv[4]
verbose = os.environ.get("VERBOSE") == "1"
samples, swaps, errors = [], [], []
done = threading.Event()

def stream():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while not done.is_set():
        t = time.perf_counter()
        c.request("GET", "/healthz")
        r = c.getresponse()
        r.read()
        samples.append((t, (time.perf_counter() - t) * 1e3))
        if r.status != 200:
            errors.append("healthz %d" % r.status)

th = threading.Thread(target=stream)
th.start()
time.sleep(1.0)
t_swaps = time.perf_counter()
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
for k in range(n_act):
    c.request("POST", "/api/v1/models/ials/activate", body=json.dumps({"version": k % 2 + 1}),
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    body = r.read()
    if r.status != 200:
        errors.append("activate %d: %s" % (r.status, body[:200]))
    else:
        swaps.append(json.loads(body)["result"]["swapMs"])
    time.sleep(pause)
t_end = time.perf_counter()
done.set()
th.join()

def row(name, xs):
    xs = sorted(xs)
    if not xs:
        print("%-9s no requests" % name)
        return
    p = lambda q: xs[min(len(xs) - 1, int(q * len(xs)))]
    print("%-9s %7d %9.3f %9.3f %9.3f %9.3f %7d" % (name, len(xs), p(0.5), p(0.99), p(0.999), xs[-1],
                                                  sum(1 for x in xs if x > 2)))

print("bench_swap_stall: %s models, SERVE_THREADS=1, %d activations %d ms apart, GET /healthz stream on the same thread"
      % (data, n_act, pause * 1e3))
print("%-9s %7s %9s %9s %9s %9s %7s" % ("phase", "reqs", "p50_ms", "p99_ms", "p99.9_ms", "max_ms", ">2ms"))
row("idle", [ms for t, ms in samples if t < t_swaps])
row("swapping", [ms for t, ms in samples if t_swaps <= t < t_end])
if swaps:
    print("swapMs: median %.1f, max %.1f over %d swaps" % (statistics.median(swaps), max(swaps), len(swaps)))
    if verbose:
        print("swapMs:", " ".join("%.1f" % x for x in swaps))
for e in errors[:5]:
    print("error:", e)
sys.exit(1 if errors else 0)
PY
