#!/usr/bin/env python3
# ws_latency.py - measures the push channel's latency against a running `reco serve`: one
# WebSocket client subscribes for a user, then N interactions of that user are POSTed one at a
# time (keep-alive HTTP); for each, the time from sending the POST to its acknowledgement, and
# to the push naming that interaction. Pushes are read by a separate thread and timestamped on
# arrival, so a push that overtakes the HTTP ack (the server enqueues it before it answers) is
# measured too: "push - ack" is then negative.
# With CLIENTS > 1, that many such clients run at once (one user each, python threads: the
# client's own overhead is in the figures).
# Usage: ws_latency.py BASE_URL [N=200] [LIMIT=10] [ALGORITHM=hybrid] [CLIENTS=1]
# (needs python3-websocket)
import http.client
import json
import statistics
import sys
import threading
import time
import urllib.request

import websocket

base = sys.argv[1].rstrip("/")
n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
limit = int(sys.argv[3]) if len(sys.argv) > 3 else 10
algo = sys.argv[4] if len(sys.argv) > 4 else "hybrid"
conc = int(sys.argv[5]) if len(sys.argv) > 5 else 1
hostport = base.split("//", 1)[1]
stamp = int(time.time() * 1000)

req = urllib.request.Request(base + "/api/v1/recommend", json.dumps({"userId": "user_1", "limit": 50}).encode(),
                             {"Content-Type": "application/json"})
items = [x["itemId"] for x in json.load(urllib.request.urlopen(req))["result"]["recommendations"]]
ack_ms, push_ms, after_ack_ms = [], [], []
coalesced = [0]
lock = threading.Lock()


def client(w):
    """One user: its own WebSocket subscription and keep-alive HTTP connection."""
    user = "latency_%d_%d" % (stamp, w)
    ws = websocket.create_connection("ws://%s/api/v1/ws" % hostport, timeout=10)
    ws.send(json.dumps({"type": "subscribe", "userId": user, "limit": limit, "algorithm": algo}))
    assert json.loads(ws.recv())["type"] == "subscribed"
    assert json.loads(ws.recv())["trigger"] == "subscribe"
    arrived = {}  # interactionId -> (perf_counter at arrival, coalesced)
    cv = threading.Condition()

    def reader():
        while True:
            try:
                m = json.loads(ws.recv())
            except Exception:
                return
            t = time.perf_counter()
            if m.get("type") == "recommendations" and m.get("trigger") == "interaction":
                with cv:
                    arrived[m["interactionId"]] = (t, m["coalesced"])
                    cv.notify_all()

    threading.Thread(target=reader, daemon=True).start()
    conn = http.client.HTTPConnection(hostport, timeout=10)
    for k in range(n):
        body = json.dumps({"userId": user, "itemId": items[(k + w) % len(items)], "interactionType": "click"})
        t0 = time.perf_counter()
        conn.request("POST", "/api/v1/interaction", body, {"Content-Type": "application/json"})
        r = json.loads(conn.getresponse().read())
        t_ack = time.perf_counter()
        iid = r["result"]["interactionId"]
        with cv:
            if not cv.wait_for(lambda: iid in arrived, timeout=5):
                sys.exit("no push for interaction %s within 5 s" % iid)
            t_push, c = arrived[iid]
        with lock:
            coalesced[0] += c > 1
            ack_ms.append((t_ack - t0) * 1e3)
            push_ms.append((t_push - t0) * 1e3)
            after_ack_ms.append((t_push - t_ack) * 1e3)
    ws.close()


t_start = time.perf_counter()
ts = [threading.Thread(target=client, args=(w,)) for w in range(conc)]
[t.start() for t in ts]
[t.join() for t in ts]
elapsed = time.perf_counter() - t_start
if len(ack_ms) != n * conc:
    sys.exit("a client failed")


def q(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))]


print("%d clients x %d interactions (each client: one subscribed user), limit %d, algorithm %s: %.0f interactions/s"
      % (conc, n, limit, algo, n * conc / elapsed))
for name, v in (("POST -> ack", ack_ms), ("POST -> push received", push_ms), ("ack -> push received", after_ack_ms)):
    print("  %-22s median %7.2f ms   p99 %7.2f ms   max %7.2f ms" % (name, statistics.median(v), q(v, 0.99), max(v)))
print("  pushes that arrived before the ack was read: %d of %d" % (sum(x < 0 for x in after_ack_ms), len(after_ack_ms)))
