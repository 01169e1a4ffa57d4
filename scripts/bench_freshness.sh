#!/usr/bin/env bash
# bench_freshness.sh [BUILD] - time from an interaction's ack to a changed recommendation (issue
# 7): for USERS brand-new users, one keep-alive connection each in turn: the cold-start list,
# three purchases of items of one category of the demo catalogue, and, as soon as the third ack
# is read, POST /recommend; the time from reading that ack to reading a recommendation that
# differs from the cold list is the figure (median, p90, p99 over the users; a list that did not
# change counts as a failure and is reported). The ack latency of the third interaction is shown
# beside it. The server is BUILD's (default build) on a free loopback port with the demo models
# of BUILD/bench-ingest and a fresh store. Needs python3.
set -u
B=${1:-build}
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RECO=$ROOT/$B/reco
USERS=${USERS:-300}
command -v python3 >/dev/null || { echo "bench_freshness: python3 is not installed"; exit 2; }
W=$(mktemp -d)
SPID=
cleanup() { if [ -n "$SPID" ]; then kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; fi; rm -rf "$W"; }
trap cleanup EXIT
SRV=$ROOT/$B/bench-ingest
mkdir -p "$SRV"
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
(cd "$SRV" && exec env PORT=$PORT HOST=127.0.0.1 STORE_PATH="$W/fresh.db" "$RECO" serve >"$W/server.log" 2>&1) &
SPID=$!
for i in $(seq 1 2400); do
  curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  kill -0 "$SPID" 2>/dev/null || { tail -5 "$W/server.log"; echo "bench_freshness: the server exited"; exit 1; }
  sleep 0.25
done
python3 - "$PORT" "$SRV/data/demo-ecommerce" "$USERS" <<'PY'
import collections, csv, http.client, json, random, sys, time
port, d, n_users = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
cat = {r["item"]: r["category"] for r in csv.DictReader(open(d + "/items.csv"))}
pop = collections.Counter(r["item"] for r in csv.DictReader(open(d + "/interactions.csv")))
by_cat = collections.defaultdict(list)
for it, _ in pop.most_common():
    by_cat[cat.get(it)].append(it)
cats = [c for c, its in by_cat.items() if c and len(its) >= 20]
conn = http.client.HTTPConnection("127.0.0.1", port)
def post(path, body):
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    assert r.status == 200, (r.status, data[:200])
    return json.loads(data)
rng = random.Random(7)
fresh, acks, failed, in_cat = [], [], 0, []
run = str(int(time.time()))
for u in range(n_users):
    user = f"fresh_{run}_{u}"
    c = rng.choice(cats)
    cold = [x["itemId"] for x in post("/api/v1/recommend", {"userId": user, "limit": 10})["result"]["recommendations"]]
    items = rng.sample(by_cat[c][:20], 3)
    for k, it in enumerate(items):
        t0 = time.perf_counter()
        post("/api/v1/interaction", {"userId": user, "itemId": it, "interactionType": "purchase"})
        t_ack = time.perf_counter()
    acks.append((t_ack - t0) * 1e3)
    rec = post("/api/v1/recommend", {"userId": user, "limit": 10})["result"]["recommendations"]
    t_rec = time.perf_counter()
    warm = [x["itemId"] for x in rec]
    if warm == cold:
        failed += 1
        continue
    fresh.append((t_rec - t_ack) * 1e3)
    in_cat.append(sum(cat.get(i) == c for i in warm) / max(1, len(warm)))
def q(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))] if v else float("nan")
print(f"bench_freshness: {n_users} new users, 3 purchases each in one category, 1 keep-alive connection")
print(f"  ack -> changed recommendation: median {q(fresh, .5):.3f} ms, p90 {q(fresh, .9):.3f} ms, "
      f"p99 {q(fresh, .99):.3f} ms ({len(fresh)} changed, {failed} unchanged)")
print(f"  third interaction's ack latency: median {q(acks, .5):.3f} ms, p99 {q(acks, .99):.3f} ms")
print(f"  share of the changed list in the interacted category: mean {sum(in_cat) / max(1, len(in_cat)):.2f}")
sys.exit(1 if failed else 0)
PY
rc=$?
kill -TERM "$SPID"
wait "$SPID"
src=$?
SPID=
[ "$src" = 0 ] || { echo "bench_freshness: the server exited with $src after SIGTERM"; exit 1; }
exit $rc
