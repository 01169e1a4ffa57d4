#!/usr/bin/env bash
# serve_ws.sh - black-box test of the WebSocket push channel (GET /api/v1/ws, /ws): the HTTP side
# of the handshake with curl (426 without Upgrade, 426 + Sec-WebSocket-Version on a wrong
# version, 400 naming a bad key or query field), then serve_ws.py with a real WebSocket client
# (python3-websocket): subscribe, the initial list, three interactions pushed, bad messages and
# frames, pings, limits, slow consumers, and the reco_ws_* counters of /metrics before and after
# each case; last, SIGTERM while a client is connected: the client
# gets close 1001 and the server exits 0.
# Usage: serve_ws.sh RECO_BINARY. Skips (77) without curl or the python websocket module.
set -u
. "$(dirname "$0")/common.bash"
PY=
for p in python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import websocket' 2>/dev/null; then PY=$p; break; fi
done
[ -n "$PY" ] || { echo "python3 websocket module (apt: python3-websocket) not installed: skipping"; exit 77; }

"$RECO" data gen --domain ecommerce --users 3000 --items 600 --interactions 60000 --out "$W/srv/data/demo-ecommerce" \
  --quiet >/dev/null || fail "data gen"

start() { start_server "$@"; } # ENV=VALUE...: sets SPID and BASE (common.bash)
start WS_PING_INTERVAL=1 CONNECTION_TIMEOUT=2 WS_MAX_CLIENTS=6 MAX_CONNECTIONS=16
ok "ready on $BASE"

# --- the handshake's HTTP errors
hs() { # EXPECTED-CODE FIELD PATH [HEADERS...]
  local want=$1 field=$2 path=$3 code
  shift 3
  code=$(curl -s -D "$W/h.txt" -o "$W/e.json" -w '%{http_code}' "$@" "$BASE$path")
  [ "$code" = "$want" ] || fail "GET $path $*: HTTP $code (wanted $want): $(cat "$W/e.json")"
  grep -q "^{\"status\":\"error\",\"error\":{\"code\":\"[a-z_]*\",\"message\":\"[^\"]*\",\"field\":\"$field\"}}$" "$W/e.json" ||
    fail "GET $path: error does not name $field: $(cat "$W/e.json")"
}
K=(-H 'Upgrade: websocket' -H 'Connection: Upgrade')
hs 426 Upgrade /api/v1/ws
grep -qi '^Upgrade: websocket' "$W/h.txt" || fail "426 without Upgrade header"
hs 426 Upgrade /ws -H 'Connection: Upgrade'
hs 426 Sec-WebSocket-Version /api/v1/ws "${K[@]}" -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Sec-WebSocket-Version: 8'
grep -qi '^Sec-WebSocket-Version: 13' "$W/h.txt" || fail "426 without Sec-WebSocket-Version: 13"
hs 400 Sec-WebSocket-Key /api/v1/ws "${K[@]}" -H 'Sec-WebSocket-Version: 13'
hs 400 Sec-WebSocket-Key /api/v1/ws "${K[@]}" -H 'Sec-WebSocket-Key: short' -H 'Sec-WebSocket-Version: 13'
hs 400 limit '/ws?userId=u&limit=0' "${K[@]}" -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Sec-WebSocket-Version: 13'
hs 400 userId '/ws?userId=' "${K[@]}" -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Sec-WebSocket-Version: 13'
# the RFC 6455 s. 1.3 example: key "dGhlIHNhbXBsZSBub25jZQ==" -> accept "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
code=$(curl -s -D "$W/h.txt" -o /dev/null -w '%{http_code}' --max-time 2 "${K[@]}" -H 'Sec-WebSocket-Version: 13' \
  -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$BASE/api/v1/ws")
[ "$code" = 101 ] && grep -q '^Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=' "$W/h.txt" ||
  fail "handshake of RFC 6455 s. 1.3: $code $(cat "$W/h.txt")"
ok "handshake: 101 with the RFC's Sec-WebSocket-Accept; 426/400 naming Upgrade, Sec-WebSocket-Version/-Key, limit, userId"

# --- the protocol, with a real client; its last connection waits for the shutdown
"$PY" "$(dirname "$0")/serve_ws.py" "$BASE" >"$W/py.out" 2>&1 &
PYPID=$!
for i in $(seq 1 1200); do
  grep -q '^READY' "$W/py.out" && break
  kill -0 "$PYPID" 2>/dev/null || break
  sleep 0.25
done
cat "$W/py.out"
grep -q '^READY' "$W/py.out" || { wait "$PYPID"; fail "serve_ws.py"; }
kill -TERM "$SPID"
wait "$SPID"
rc=$?
SPID=
wait "$PYPID"
cat "$W/py.out" | grep SHUTDOWN
[ "$rc" = 0 ] || fail "exit status $rc after SIGTERM with a WebSocket client connected"
grep -q '^SHUTDOWN_CLOSE 1001$' "$W/py.out" || fail "the client did not get close 1001 at shutdown"
ok "SIGTERM with a client connected: close 1001 to the client, exit 0"

# --- with API_KEYS both paths need a key (/ws is not an open route like /healthz)
start API_KEYS=sekrit MAX_CONNECTIONS=4 WS_MAX_CLIENTS=100
H=(-H 'Upgrade: websocket' -H 'Connection: Upgrade' -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==')
for path in /ws /api/v1/ws; do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "${H[@]}" "$BASE$path")
  [ "$code" = 401 ] || fail "$path without a key: HTTP $code"
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "${H[@]}" -H 'X-API-Key: sekrit' "$BASE$path")
  [ "$code" = 101 ] || fail "$path with the key: HTTP $code"
done
ok "API_KEYS: /ws and /api/v1/ws answer 401 without a key, 101 with it"
# --- WebSocket clients take at most half of MAX_CONNECTIONS (4 here: 2), HTTP keeps the rest
sleep 0.5
held=()
for i in 1 2; do
  curl -s -o /dev/null --max-time 4 "${H[@]}" -H 'X-API-Key: sekrit' "$BASE/ws" &
  held+=($!)
done
sleep 1.5
code=$(curl -s -o "$W/e.json" -w '%{http_code}' --max-time 2 "${H[@]}" -H 'X-API-Key: sekrit' "$BASE/ws")
[ "$code" = 503 ] && grep -q WS_MAX_CLIENTS "$W/e.json" || fail "3rd WebSocket with MAX_CONNECTIONS=4: HTTP $code $(cat "$W/e.json")"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BASE/healthz")
[ "$code" = 200 ] || fail "HTTP locked out by 2 WebSocket clients: $code"
wait "${held[@]}"
grep -q "WS_MAX_CLIENTS=100 lowered to 2" "$W/server.log" || fail "no warning about WS_MAX_CLIENTS"
ok "MAX_CONNECTIONS=4: WS_MAX_CLIENTS lowered to 2 (logged), the 3rd WebSocket gets 503, HTTP still served"
echo "serve_ws: all passed"
