#!/usr/bin/env python3
# serve_ws.py - the WebSocket push channel, driven by serve_ws.sh against a running `reco serve`
# (started with WS_PING_INTERVAL=1, CONNECTION_TIMEOUT=2, WS_MAX_CLIENTS=6). Talks to it with a
# real client (python3-websocket) and, for the frames a well-behaved client never sends, with a
# raw socket. Usage: serve_ws.py BASE_URL. Exit 0 when every check passes, 1 at the first failure.
import base64
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request

import websocket

BASE = sys.argv[1]
HOSTPORT = BASE.split("//", 1)[1]
WS = "ws://" + HOSTPORT


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


T0 = time.time()


def ok(msg):
    print("ok: %s (at %.1f s)" % (msg, time.time() - T0), flush=True)


def post(path, body):
    req = urllib.request.Request(BASE + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def metrics():
    """The push channel's /metrics lines: {'reco_ws_clients': 1.0, 'reco_ws_closes_total{reason="client"}': 2.0, ...}"""
    with urllib.request.urlopen(BASE + "/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("reco_ws_"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    if "reco_ws_clients" not in out or 'reco_ws_closes_total{reason="slow_consumer"}' not in out:
        fail("/metrics has no reco_ws_ lines: %r" % sorted(out))
    return out


def closes(m, why):
    return m['reco_ws_closes_total{reason="%s"}' % why]


def wait_metrics(what, pred, timeout=5):
    """Polls /metrics until pred(m) holds (a connection is counted once the server reaped it)."""
    deadline = time.time() + timeout
    while True:
        m = metrics()
        if pred(m):
            return m
        if time.time() > deadline:
            fail("metrics: %s does not hold: %r" % (what, m))
        time.sleep(0.05)


def items_of(msg):
    return [x["itemId"] for x in msg["result"]["recommendations"]]


def recv_json(ws, timeout=5):
    ws.settimeout(timeout)
    return json.loads(ws.recv())


def connect(path="/api/v1/ws"):
    return websocket.create_connection(WS + path, timeout=5)


# ---- raw socket client: handshake, then frames of our own making
def raw_connect(rcvbuf=None, query=""):
    s = socket.create_connection(tuple(HOSTPORT.rsplit(":", 1)[0:1]) + (int(HOSTPORT.rsplit(":", 1)[1]),), timeout=5)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET /ws%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (query, HOSTPORT, key)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            fail("raw handshake: connection closed")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        fail("raw handshake: " + head.decode(errors="replace"))
    import hashlib
    want = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
    if ("Sec-WebSocket-Accept: " + want).lower() not in head.decode().lower():
        fail("raw handshake: wrong Sec-WebSocket-Accept: " + head.decode())
    return s


def frame(op, payload, fin=True, mask=True, rsv=0, length=None):
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | rsv | op
    if n < 126:
        h = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
    elif n < 65536:
        h = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
    else:
        h = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
    if not mask:
        return h + payload
    m = os.urandom(4)
    return h + m + bytes(c ^ m[i & 3] for i, c in enumerate(payload))


def read_frame(s):
    def need(n):
        b = b""
        while len(b) < n:
            c = s.recv(n - len(b))
            if not c:
                return None
            b += c
        return b
    h = need(2)
    if h is None:
        return None, None
    if h[1] & 0x80:
        fail("a server frame is masked")
    n = h[1] & 0x7F
    if n == 126:
        n = struct.unpack("!H", need(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", need(8))[0]
    return h[0] & 0x0F, need(n)


def expect_close(s, code, what):
    deadline = time.time() + 5
    while time.time() < deadline:
        op, pl = read_frame(s)
        if op is None:
            fail(f"{what}: connection dropped without a close frame")
        if op == 0x8:
            got = struct.unpack("!H", pl[:2])[0] if len(pl) >= 2 else None
            if got != code:
                fail(f"{what}: close code {got} ({pl[2:]!r}), expected {code}")
            # answer the close (s. 5.5.1); the server then hangs up at once
            s.sendall(frame(0x8, pl[:2]))
            s.settimeout(1)
            try:
                rest = s.recv(100)
            except socket.timeout:
                fail(f"{what}: the server kept the connection open after its close")
            except ConnectionResetError:
                rest = b""
            if rest:
                fail(f"{what}: data after the close frame: {rest!r}")
            s.close()
            return
    fail(f"{what}: no close frame")


# ---- 1. subscribe, initial list, three interactions, pushes
M0 = metrics()
ws = connect("/ws?userId=ws_fresh&limit=10")
m = recv_json(ws)
if m != {"type": "subscribed", "userId": "ws_fresh", "subscriptions": 1}:
    fail("subscribed: %r" % m)
m = recv_json(ws)
if m.get("type") != "recommendations" or m.get("trigger") != "subscribe" or m.get("userId") != "ws_fresh":
    fail("initial recommendations: %r" % m)
cold = items_of(m)
if len(cold) != 10 or not m["result"].get("coldStart"):
    fail("initial list should be a cold start of 10: %r" % m["result"])
same = post("/api/v1/recommend", {"userId": "ws_fresh", "limit": 10})
if items_of(same) != cold:
    fail("the initial push differs from POST /recommend: %r vs %r" % (cold, items_of(same)))
ok("subscribe by URL: subscribed, then the current (cold) list, identical to POST /recommend")
M1 = wait_metrics("1 subscription, a client, a connection and 2 messages more",
                  lambda m: m["reco_ws_subscriptions"] == 1 and m["reco_ws_clients"] >= 1 and
                  m["reco_ws_connections_total"] >= M0["reco_ws_connections_total"] + 1 and
                  m["reco_ws_messages_sent_total"] >= M0["reco_ws_messages_sent_total"] + 2)

probe = items_of(post("/api/v1/recommend", {"userId": "user_1", "limit": 30, "algorithm": "itemknn"}))
acked = []
for it in probe[3:6]:  # with curl, as any client would
    out = subprocess.run(["curl", "-s", "-X", "POST", "-H", "Content-Type: application/json", "--data",
                          json.dumps({"userId": "ws_fresh", "itemId": it, "interactionType": "purchase"}),
                          BASE + "/api/v1/interaction"], capture_output=True, timeout=10, check=True)
    r = json.loads(out.stdout)
    if not r["result"]["recorded"]:
        fail("interaction not recorded: %r" % r)
    acked.append(r["result"]["interactionId"])
pushes, covered = [], 0
while covered < 3:
    try:
        m = recv_json(ws, 5)
    except websocket.WebSocketTimeoutException:
        fail("only %d of 3 interactions pushed: %r" % (covered, pushes))
    if m.get("type") != "recommendations" or m.get("trigger") != "interaction":
        fail("push: %r" % m)
    if m["interactionId"] not in acked:
        fail("push names interaction %r, acknowledged were %r" % (m["interactionId"], acked))
    pushes.append(m)
    covered += m["coalesced"]
if pushes[-1]["interactionId"] != acked[-1]:
    fail("the last push is not for the last interaction: %r" % pushes[-1])
for p in pushes:
    if items_of(p) == cold:
        fail("a push repeats the cold list")
    if p["result"]["coldStart"]:
        fail("a push after an interaction is still cold: %r" % p["result"])
warm = post("/api/v1/recommend", {"userId": "ws_fresh", "limit": 10})
if items_of(pushes[-1]) != items_of(warm):
    fail("the last push differs from POST /recommend after the interactions")
for it in probe[3:6]:
    if it in items_of(pushes[-1]):
        fail("pushed list repeats an item the user bought")
ok("3 interactions -> %d pushes (coalesced %s), lists differ from the cold one and equal /recommend"
   % (len(pushes), [p["coalesced"] for p in pushes]))
m = metrics()
if (m["reco_ws_pushes_total"] - M1["reco_ws_pushes_total"] != len(pushes) or
        m["reco_ws_pushes_coalesced_total"] - M1["reco_ws_pushes_coalesced_total"] != 3 - len(pushes) or
        m["reco_ws_messages_sent_total"] - M1["reco_ws_messages_sent_total"] < len(pushes)):
    fail("metrics after %d pushes for 3 interactions: before %r, after %r" % (len(pushes), M1, m))
ok("/metrics: reco_ws_pushes_total +%d, reco_ws_pushes_coalesced_total +%d, subscriptions 1"
   % (len(pushes), 3 - len(pushes)))
# a batch of 5 for the user: notify runs 5 times back to back, so the push thread usually finds
# the user still pending (coalesced); whatever the timing, pushes + coalesced = 5
M2 = metrics()
post("/api/v1/interactions/batch", {"interactions": [{"userId": "ws_fresh", "itemId": it, "interactionType": "view"}
                                                     for it in probe[10:15]]})
got, covered = [], 0
while covered < 5:
    try:
        m = recv_json(ws, 5)
    except websocket.WebSocketTimeoutException:
        fail("only %d of the batch's 5 interactions pushed: %r" % (covered, got))
    got.append(m["coalesced"])
    covered += m["coalesced"]
m = metrics()
d_push = m["reco_ws_pushes_total"] - M2["reco_ws_pushes_total"]
d_coal = m["reco_ws_pushes_coalesced_total"] - M2["reco_ws_pushes_coalesced_total"]
if d_push != len(got) or d_push + d_coal != 5 or covered != 5:
    fail("batch of 5: %d pushes received (coalesced %r), metrics +%d pushes +%d coalesced" % (len(got), got, d_push, d_coal))
ok("a batch of 5 interactions: %d pushes, %d coalesced (reco_ws_pushes_total + reco_ws_pushes_coalesced_total = 5)"
   % (d_push, d_coal))

# another user's interaction pushes nothing here
post("/api/v1/interaction", {"userId": "someone_else", "itemId": probe[0], "interactionType": "click"})
ws.send(json.dumps({"type": "ping"}))
m = recv_json(ws)
if m.get("type") != "pong" or not isinstance(m.get("time"), int):
    fail("ping: %r" % m)
ok("an interaction of another user pushes nothing; ping -> pong")

# ---- 2. bad messages: errors naming the field, the connection stays
bad = [
    ("not json", "invalid_json", None),
    ("[1,2]", "invalid_argument", None),
    (json.dumps({"userId": "x"}), "invalid_argument", "type"),
    (json.dumps({"type": "launch"}), "invalid_argument", "type"),
    (json.dumps({"type": "subscribe"}), "invalid_argument", "userId"),
    (json.dumps({"type": "subscribe", "userId": 7}), "invalid_argument", "userId"),
    (json.dumps({"type": "subscribe", "userId": "x", "limit": 0}), "invalid_argument", "limit"),
    (json.dumps({"type": "subscribe", "userId": "x", "algorithm": "nope"}), "invalid_argument", "algorithm"),
    (json.dumps({"type": "subscribe", "userId": "x", "filters": {"minRating": 9}}), "invalid_argument", "filters.minRating"),
    (json.dumps({"type": "subscribe", "userId": "x", "filters": {"excludeItems": ["a" * 200] * 30}}), "invalid_argument", "filters"),
    (json.dumps({"type": "unsubscribe", "userId": "never_subscribed"}), "not_found", "userId"),
]
for text, code, field in bad:
    ws.send(text)
    m = recv_json(ws)
    if m.get("type") != "error" or m["error"].get("code") != code or m["error"].get("field") != field or not m["error"].get("message"):
        fail("bad message %r: %r" % (text[:60], m))
ws.send_binary(b'{"type":"ping"}')
m = recv_json(ws)
if m.get("type") != "error" or m["error"]["field"] != "type":
    fail("binary message: %r" % m)
ws.send(json.dumps({"type": "ping"}))
if recv_json(ws).get("type") != "pong":
    fail("connection unusable after bad messages")
ok("%d bad messages and a binary one: {\"type\":\"error\"} naming the field, connection kept" % len(bad))

# ---- 3. fragmentation (with a ping between fragments), subscription limit, unsubscribe
msg = json.dumps({"type": "subscribe", "userId": "user_1", "limit": 3, "algorithm": "itemknn"}).encode()
ws.send_frame(websocket.ABNF.create_frame(msg[:10], websocket.ABNF.OPCODE_TEXT, 0))
ws.send_frame(websocket.ABNF.create_frame(msg[10:20], websocket.ABNF.OPCODE_CONT, 0))
ws.send_frame(websocket.ABNF.create_frame(b"hello", websocket.ABNF.OPCODE_PING, 1))
ws.send_frame(websocket.ABNF.create_frame(msg[20:], websocket.ABNF.OPCODE_CONT, 1))
ws.settimeout(5)
op, f = ws.recv_data_frame(True)
if op != websocket.ABNF.OPCODE_PONG or f.data != b"hello":
    fail("ping inside a fragmented message: opcode %r %r" % (op, f.data))
m = recv_json(ws)
if m != {"type": "subscribed", "userId": "user_1", "subscriptions": 2}:
    fail("fragmented subscribe: %r" % m)
m = recv_json(ws)
if m["type"] != "recommendations" or len(items_of(m)) != 3 or m["result"]["algorithm"] != "itemknn":
    fail("fragmented subscribe's list: %r" % m)
ok("a subscribe in 3 fragments with a ping between them: pong, subscribed, 3 itemknn items")
for k in range(2, 8):
    ws.send(json.dumps({"type": "subscribe", "userId": "user_%d" % (k + 10), "limit": 1}))
    if recv_json(ws)["type"] != "subscribed" or recv_json(ws)["type"] != "recommendations":
        fail("subscription %d refused" % (k + 1))
ws.send(json.dumps({"type": "subscribe", "userId": "one_too_many", "limit": 1}))
m = recv_json(ws)
if m.get("type") != "error" or m["error"]["code"] != "limit_exceeded" or m["error"]["field"] != "userId":
    fail("9th subscription: %r" % m)
ws.send(json.dumps({"type": "unsubscribe", "userId": "ws_fresh"}))
m = recv_json(ws)
if m != {"type": "unsubscribed", "userId": "ws_fresh", "subscriptions": 7}:
    fail("unsubscribe: %r" % m)
if metrics()["reco_ws_subscriptions"] != 7:
    fail("reco_ws_subscriptions after 8 subscriptions and 1 unsubscribe: %r" % metrics()["reco_ws_subscriptions"])
post("/api/v1/interaction", {"userId": "ws_fresh", "itemId": probe[7], "interactionType": "click"})
ws.send(json.dumps({"type": "ping"}))
m = recv_json(ws)
if m.get("type") != "pong":
    fail("a push after unsubscribe: %r" % m)
ws.send(json.dumps({"type": "unsubscribe"}))
m = recv_json(ws)
if m != {"type": "unsubscribed", "userId": None, "subscriptions": 0}:
    fail("unsubscribe all: %r" % m)
if metrics()["reco_ws_subscriptions"] != 0:
    fail("reco_ws_subscriptions after unsubscribing all: %r" % metrics()["reco_ws_subscriptions"])
ok("8 subscriptions per connection, the 9th refused; unsubscribe stops the pushes")

# ---- 4. server pings an idle client; an idle connection outlives CONNECTION_TIMEOUT
t0 = time.time()
pings = []
while time.time() - t0 < 3.5:  # websocket-client answers each ping with a pong inside recv
    ws.settimeout(0.5)
    try:
        op, f = ws.recv_data_frame(True)
    except websocket.WebSocketTimeoutException:
        continue
    if op != websocket.ABNF.OPCODE_PING:
        fail("idle client: opcode %r instead of a ping" % op)
    pings.append(round(time.time() - t0, 1))
if len(pings) < 2:
    fail("idle for 3.5 s with WS_PING_INTERVAL=1: pings at %r" % pings)
ws.send(json.dumps({"type": "ping"}))
while True:
    op, f = ws.recv_data_frame(True)
    if op == websocket.ABNF.OPCODE_TEXT:
        if json.loads(f.data)["type"] != "pong":
            fail("after idling: %r" % f.data)
        break
ok("idle client pinged at %r s (WS_PING_INTERVAL=1); alive past CONNECTION_TIMEOUT=2" % pings)

# ---- 5. close handshake initiated by the client: the server echoes the code
M5 = metrics()
ws.send_close(1000, b"bye")
ws.settimeout(5)
while True:
    op, f = ws.recv_data_frame(True)
    if op == websocket.ABNF.OPCODE_CLOSE:
        break
if struct.unpack("!H", f.data[:2])[0] != 1000:
    fail("close echo: %r" % f.data)
ws.shutdown()
ok("client close 1000: echoed")

# ---- 6. protocol errors on a raw socket: the right close codes
wait_metrics("the client close counted", lambda m: closes(m, "client") == closes(M5, "client") + 1)
M6 = metrics()
cases = [
    ("unmasked frame", frame(0x1, b'{"type":"ping"}', mask=False), 1002),
    ("reserved bit", frame(0x1, b"{}", rsv=0x40), 1002),
    ("reserved opcode", frame(0x3, b"x"), 1002),
    ("continuation first", frame(0x0, b"x"), 1002),
    ("new message inside a fragmented one", frame(0x1, b"{", fin=False) + frame(0x1, b"}"), 1002),
    ("fragmented ping", frame(0x9, b"x", fin=False), 1002),
    ("control frame of 126 bytes", frame(0x9, b"x" * 126), 1002),
    ("close with 1 byte", frame(0x8, b"\x03"), 1002),
    ("close code 1005", frame(0x8, struct.pack("!H", 1005)), 1002),
    ("text not UTF-8", frame(0x1, b'{"type":"\xff\xfe"}'), 1007),
    ("1 MiB frame header", frame(0x1, b"", length=1 << 20), 1009),
    ("fragments over the limit", frame(0x1, b" " * 10000, fin=False) + frame(0x0, b" " * 10000), 1009),
]
for what, data, code in cases:
    s = raw_connect()
    s.sendall(data)
    expect_close(s, code, what)
s = raw_connect()
s.sendall(frame(0x8, struct.pack("!H", 4001) + b"done"))
expect_close(s, 4001, "client close 4001")
s = raw_connect()
s.sendall(frame(0x1, b'{"type":"ping"}'))
op, pl = read_frame(s)
if op != 0x1 or json.loads(pl)["type"] != "pong":
    fail("raw ping: %r %r" % (op, pl))
s.close()
ok("%d protocol errors: close 1002 / 1007 / 1009 as RFC 6455 says, then the server hangs up" % len(cases))
n_proto = sum(1 for _, _, code in cases if code != 1009)
wait_metrics("%d protocol errors, 2 too big, 1 client close, 1 gone" % n_proto,
             lambda m: closes(m, "protocol_error") - closes(M6, "protocol_error") == n_proto and
             closes(m, "too_big") - closes(M6, "too_big") == 2 and closes(m, "client") - closes(M6, "client") == 1 and
             closes(m, "gone") - closes(M6, "gone") == 1 and closes(m, "slow_consumer") == closes(M6, "slow_consumer"))
ok("/metrics: reco_ws_closes_total protocol_error +%d, too_big +2, client +1, gone +1" % n_proto)
M7 = metrics()

# ---- 7. a client that never answers pings is closed (1001)
s = raw_connect()
t0 = time.time()
while True:
    op, pl = read_frame(s)
    if op is None:
        fail("ping timeout: dropped without a close")
    if op == 0x8:
        if struct.unpack("!H", pl[:2])[0] != 1001:
            fail("ping timeout close code: %r" % pl)
        s.close()
        break
ok("a client that ignores pings: close 1001 after %.1f s" % (time.time() - t0))
wait_metrics("1 ping timeout", lambda m: closes(m, "ping_timeout") - closes(M7, "ping_timeout") == 1)

# ---- 8. WS_MAX_CLIENTS=6: the 7th connection is refused with 503
time.sleep(0.5)  # the raw sockets above are reaped
held = [connect() for _ in range(6)]
with urllib.request.urlopen(BASE + "/healthz", timeout=5) as r:  # MAX_CONNECTIONS=16: HTTP has room
    if r.status != 200:
        fail("healthz with 6 WebSocket clients: %d" % r.status)
try:
    extra = connect()
    fail("a 7th client was accepted with WS_MAX_CLIENTS=6")
except websocket.WebSocketBadStatusException as e:
    if e.status_code != 503:
        fail("7th client: HTTP %d" % e.status_code)
m = metrics()
if m["reco_ws_clients"] != 6 or m["reco_ws_refused_total"] < M7["reco_ws_refused_total"] + 1:
    fail("metrics with 6 clients and one refused: %r" % m)
for h in held:
    h.close()
time.sleep(0.5)
c = connect()
c.close()
ok("WS_MAX_CLIENTS=6: the 7th handshake gets 503; slots come back after closing")

# ---- 9. a slow consumer (never reads) is closed with 1008; the others are not affected
M9 = metrics()
s = raw_connect(rcvbuf=65536)
users = ["slow_%d" % k for k in range(8)]
for u in users:  # limit 100: every push is some 20 KB
    s.sendall(frame(0x1, json.dumps({"type": "subscribe", "userId": u, "limit": 100}).encode()))
good = connect("/ws?userId=slow_0&limit=1")
recv_json(good), recv_json(good)
got = [0, 0]  # pushes for slow_0 on the normal client, interactions they cover


def hammer(k):
    for n in range(30):
        post("/api/v1/interaction", {"userId": users[k], "itemId": probe[n % len(probe)], "interactionType": "view"})
        if k == 0:  # the slow client still talks (so it is not closed for ignoring pings), never reads
            s.sendall(frame(0x1, b'{"type":"ping"}'))


def drain():
    good.settimeout(1)
    while True:
        try:
            m = json.loads(good.recv())
        except Exception:
            return
        if m["type"] == "recommendations":
            got[0] += 1
            got[1] += m["coalesced"]


ts = [threading.Thread(target=hammer, args=(k,)) for k in range(len(users))]
[t.start() for t in ts]
[t.join() for t in ts]
drain()
# now read the slow socket: the pushes that fitted, then a close 1008
s.settimeout(10)
n_frames = 0
while True:
    op, pl = read_frame(s)
    if op is None:
        fail("the slow consumer was dropped without a close frame after %d frames" % n_frames)
    n_frames += 1
    if op == 0x8:
        code = struct.unpack("!H", pl[:2])[0]
        if code != 1008:
            fail("slow consumer closed with %d: %r" % (code, pl))
        break
if got[1] != 30:
    fail("the normal client's pushes cover %d of slow_0's 30 interactions (%d pushes)" % (got[1], got[0]))
good.close()
ok("a consumer that never reads: close 1008 after %d frames; a normal client beside it got %d pushes"
   " covering all 30 interactions of its user" % (n_frames - 1, got[0]))
s.sendall(frame(0x8, struct.pack("!H", 1000)))
s.close()
m = wait_metrics("1 slow consumer closed, messages dropped",
                 lambda m: closes(m, "slow_consumer") - closes(M9, "slow_consumer") == 1 and
                 m["reco_ws_messages_dropped_total"] > M9["reco_ws_messages_dropped_total"])
ok("/metrics: reco_ws_closes_total{reason=\"slow_consumer\"} +1, reco_ws_messages_dropped_total +%d"
   % (m["reco_ws_messages_dropped_total"] - M9["reco_ws_messages_dropped_total"]))

# ---- 10. a connection for the shutdown check in serve_ws.sh: prints its close code
ws = connect("/ws?userId=bye_user&limit=2")
recv_json(ws), recv_json(ws)
print("READY", flush=True)
ws.settimeout(30)
try:
    while True:
        op, f = ws.recv_data_frame(True)
        if op == websocket.ABNF.OPCODE_CLOSE:
            print("SHUTDOWN_CLOSE %d" % struct.unpack("!H", f.data[:2])[0], flush=True)
            break
except Exception as e:
    print("SHUTDOWN_ERROR %r" % e, flush=True)
