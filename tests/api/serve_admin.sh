#!/usr/bin/env bash
# serve_admin.sh - the model registry over HTTP and the API roles, against a real `reco serve`:
# GET /api/v1/models/:algorithm/versions lists every version (metrics, trainedAt, size, active,
# serving); activate and rollback swap the serving snapshot; a corrupt (one flipped byte) and a
# truncated version file are refused with 422 while the old version keeps serving; a swap back
# and forth under concurrent load fails no request; API_KEYS=key:role gives read keys 403 on
# admin routes, admin keys 200, keys without a role the read role, no key 401. Swaps run on the
# loader thread: a burst beyond its queue gets 503 + Retry-After, counted in /metrics, and a
# SIGTERM with swaps queued answers every one of them before the server exits 0.
# Usage: serve_admin.sh RECO_BINARY. Needs curl and python3 (skips with 77 without them).
set -u
. "$(dirname "$0")/common.bash"
command -v python3 >/dev/null 2>&1 || { echo "python3 not installed: skipping"; exit 77; }

"$RECO" data gen --domain ecommerce --users 2000 --items 400 --interactions 40000 --out "$W/srv/data/demo-ecommerce" \
  --quiet >/dev/null || fail "data gen"

start() { : >"$W/server.log"; start_server "$@"; } # a fresh log per start; common.bash
stop() {
  kill -TERM "$SPID"
  wait "$SPID" || fail "exit status $? after SIGTERM"
  SPID=
}
# req METHOD PATH [BODY] [CURL ARGS...]: prints "<status> <body>"
req() {
  local m=$1 p=$2 d=${3-}
  shift 3 2>/dev/null || shift $#
  curl -s -o "$W/resp" -w '%{http_code}' -X "$m" -H 'Content-Type: application/json' ${d:+--data "$d"} "$@" "$BASE$p"
  printf ' '
  cat "$W/resp"
}
# check "<status> <body>" STATUS PYTHON_EXPR: the expression over j (the parsed body) must hold
check() {
  local got=$1 want=$2 expr=$3
  [ "${got%% *}" = "$want" ] || fail "want HTTP $want, got: ${got:0:400}"
  python3 -c "import json,sys; j=json.loads(sys.argv[1]); sys.exit(0 if ($expr) else 1)" "${got#* }" ||
    fail "($expr) does not hold for: ${got:0:400}"
}
ERR='j["status"]=="error" and j["error"]["message"]'

start
ok "ready on $BASE"
M="$W/srv/models"
"$RECO" train --algo ials --set factors=16 --data "$W/srv/data/demo-ecommerce" --registry "$M" --no-validate --quiet \
  >/dev/null || fail "train ials v2"

# --- versions
r=$(req GET /api/v1/models/ials/versions)
check "$r" 200 'j["status"]=="success" and j["result"]["activeVersion"]==1 and j["result"]["servingVersion"]==1 and [v["version"] for v in j["result"]["versions"]]==[1,2]'
check "$r" 200 'all(v["sizeBytes"]>0 and v["trainedAt"]>0 and isinstance(v["metrics"],dict) and v["nItems"]==400 for v in j["result"]["versions"])'
check "$r" 200 'j["result"]["versions"][0]["active"] and j["result"]["versions"][0]["serving"] and not j["result"]["versions"][1]["active"] and "ndcg@10" in j["result"]["versions"][0]["metrics"]'
check "$(req GET /api/v1/models/nosuch/versions)" 404 "$ERR and j['error']['field']=='algorithm'"
check "$(req GET /api/v1/models/.hidden/versions)" 400 "$ERR and j['error']['field']=='algorithm'"
ok "versions: every version with metrics, size, trainedAt, active and serving flags"

# --- activate, rollback
check "$(req POST /api/v1/models/ials/activate '{"version":2}')" 200 'j["result"]["version"]==2 and j["result"]["previousVersion"]==1 and j["result"]["swapMs"]>0'
check "$(req GET /api/v1/models/ials/versions)" 200 'j["result"]["activeVersion"]==2 and j["result"]["servingVersion"]==2'
check "$(req POST /api/v1/recommend '{"userId":"user_7","algorithm":"ials","limit":3}')" 200 'j["result"]["modelVersion"]==2 and j["result"]["algorithm"]=="ials"'
[ "$(cat "$M/ials/ACTIVE")" = 2 ] || fail "ACTIVE not 2"
check "$(req POST /api/v1/models/ials/rollback)" 200 'j["result"]["version"]==1 and j["result"]["previousVersion"]==2'
check "$(req POST /api/v1/recommend '{"userId":"user_7","algorithm":"ials","limit":3}')" 200 'j["result"]["modelVersion"]==1'
# rollback goes to the previous active: from v1 back to v2 (it was active before the rollback)
check "$(req POST /api/v1/models/ials/rollback)" 200 'j["result"]["version"]==2'
check "$(req POST /api/v1/models/ials/activate '{"version":1}')" 200 'j["result"]["version"]==1'
check "$(req POST /api/v1/models/ials/activate '{"version":9}')" 404 "$ERR and j['error']['field']=='version'"
check "$(req POST /api/v1/models/ials/activate '{"version":"2"}')" 400 "$ERR and j['error']['field']=='version'"
check "$(req POST /api/v1/models/ials/activate '{}')" 400 "$ERR and j['error']['field']=='version'"
check "$(req POST /api/v1/models/ials/activate '{"version":')" 400 "$ERR"
check "$(req POST /api/v1/models/nosuch/rollback)" 404 "$ERR and j['error']['field']=='algorithm'"
check "$(req POST /api/v1/models/popular/rollback)" 409 "$ERR"
check "$(req GET /api/v1/models/ials/activate)" 405 "$ERR"
ok "activate and rollback swap the serving version; bad requests name the field"

# --- a corrupt and a truncated version are refused; the old one keeps serving
for v in 3 4; do
  "$RECO" train --algo ials --set factors=8 --data "$W/srv/data/demo-ecommerce" --registry "$M" --no-validate --quiet \
    >/dev/null || fail "train ials v$v"
done
size=$(stat -c %s "$M/ials/v3.reco")
printf '\xff' | dd of="$M/ials/v3.reco" bs=1 seek=$((size / 2)) conv=notrunc status=none
truncate -s $((size / 3)) "$M/ials/v4.reco"
for v in 3 4; do
  check "$(req POST /api/v1/models/ials/activate "{\"version\":$v}")" 422 "$ERR and j['error']['code']=='invalid_model' and j['error']['field']=='version' and 'still serving' in j['error']['message']"
  [ "$(cat "$M/ials/ACTIVE")" = 1 ] || fail "ACTIVE changed by a refused v$v"
  check "$(req POST /api/v1/recommend '{"userId":"user_7","algorithm":"ials","limit":3}')" 200 'j["result"]["modelVersion"]==1 and len(j["result"]["recommendations"])==3'
done
check "$(req GET /api/v1/models/ials/versions)" 200 'j["result"]["servingVersion"]==1 and len(j["result"]["versions"])==4'
ok "corrupt and truncated versions refused (422), v1 still serving"

# --- swap under load: two clients keep asking while versions 1 and 2 alternate
load() {
  local i c
  for i in $(seq 1 400); do
    c=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data '{"userId":"user_'$((i % 50))'","algorithm":"ials","limit":10}' \
      "$BASE/api/v1/recommend")
    [ "$c" = 200 ] || { echo "request $i during swaps: HTTP $c"; return 1; }
  done
}
load & l1=$!
load & l2=$!
n_swaps=0
while kill -0 $l1 2>/dev/null || kill -0 $l2 2>/dev/null; do
  v=$((n_swaps % 2 + 1))
  c=$(curl -s -o "$W/swap" -w '%{http_code}' -X POST --data "{\"version\":$v}" "$BASE/api/v1/models/ials/activate")
  [ "$c" = 200 ] || fail "activate v$v under load: $c $(cat "$W/swap")"
  n_swaps=$((n_swaps + 1))
done
wait $l1 || fail "requests failed during swaps"
wait $l2 || fail "requests failed during swaps"
[ $n_swaps -ge 3 ] || fail "only $n_swaps swaps happened during the load"
check "$(req POST /api/v1/models/ials/activate '{"version":1}')" 200 'j["result"]["version"]==1'
ok "800 requests during $n_swaps swaps: none failed"

# --- swaps run on the loader thread (src/serve/loader.c): a burst of activations on N
# connections at once; the loader queue holds 8 (besides the one running), the rest get 503 +
# Retry-After at once; every answer is a 200 or that 503. burst N [VERSION]: activates v1 and v2
# in turn (or VERSION every time); prints one JSON summary line (and "SENT" on stderr once every
# request is on the wire).
burst() {
  python3 - "$PORT" "$1" "${2:-0}" <<'PY'
import http.client, json, sys, threading
port, n, fixed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=60) for _ in range(n)]
for c in conns:
    c.connect()
go, out, sent = threading.Barrier(n), [None] * n, threading.Barrier(n + 1)
def one(k):
    go.wait()
    conns[k].request("POST", "/api/v1/models/ials/activate", body=json.dumps({"version": fixed or k % 2 + 1}))
    sent.wait()
    try:
        r = conns[k].getresponse()
        out[k] = [r.status, r.getheader("Retry-After"), json.loads(r.read())]
    except Exception as e:
        out[k] = [0, None, str(e)]
ts = [threading.Thread(target=one, args=(k,)) for k in range(n)]
for t in ts:
    t.start()
sent.wait()
print("SENT", file=sys.stderr, flush=True)
for t in ts:
    t.join()
print(json.dumps(out))
PY
}
for try in 1 2 3; do
  burst 40 >"$W/burst.json" 2>/dev/null || fail "burst client"
  python3 - "$W/burst.json" <<'PY' || fail "burst of 40 activations: $(head -c 1500 "$W/burst.json")"
import json, sys
rs = json.load(open(sys.argv[1]))
ok = [r for r in rs if r[0] == 200]
busy = [r for r in rs if r[0] == 503]
assert len(ok) + len(busy) == len(rs), "not every answer is 200 or 503: %s" % [r[:2] for r in rs]
assert all(r[2]["result"]["swapMs"] > 0 for r in ok)
assert all(r[1] == "1" and r[2]["error"]["code"] == "unavailable" and "waiting for the loader" in r[2]["error"]["message"]
           for r in busy), busy[:2]
# refused only when the queue held 8 (9 with the one the loader runs; 8 when the loader had not
# taken the first one off the queue yet)
assert not busy or len(ok) >= 8, (len(ok), len(busy))
print("%d swapped, %d refused" % (len(ok), len(busy)))
sys.exit(0 if busy else 3)
PY
  rc=$?
  [ $rc = 0 ] && break
  [ $try = 3 ] && fail "40 activations at once never filled the loader queue"
done
check "$(req POST /api/v1/models/ials/activate '{"version":1}')" 200 'j["result"]["version"]==1'
curl -s "$BASE/metrics" >"$W/metrics.txt"
grep -qE '^reco_model_loads_refused_total [1-9]' "$W/metrics.txt" && grep -qE '^reco_model_loads_total [1-9]' "$W/metrics.txt" &&
  grep -q '^reco_model_load_queue 0$' "$W/metrics.txt" || fail "loader metrics: $(grep reco_model_load "$W/metrics.txt")"
ok "a burst of 40 activations: 200s and 503 + Retry-After (loader queue full), counted in /metrics"

# --- SIGTERM with swaps queued: every one is answered, then the server exits 0
burst 9 1 >"$W/burst.json" 2>"$W/burst.err" & # v1: the role checks below expect it active
bp=$!
for i in $(seq 1 200); do grep -q SENT "$W/burst.err" 2>/dev/null && break; sleep 0.02; done
kill -TERM "$SPID"
wait "$SPID" || fail "exit status $? after SIGTERM with swaps queued"
SPID=
wait $bp || fail "burst client"
python3 -c '
import json, sys
rs = json.load(open(sys.argv[1]))
assert len(rs) == 9 and all(r[0] in (200, 503) for r in rs), [r[:2] for r in rs]
print("%d answered while stopping" % len(rs))' "$W/burst.json" || fail "swaps at SIGTERM: $(cat "$W/burst.json")"
drain=$(grep -o 'in-flight requests finished in [0-9.]* s' "$W/server.log" | tail -1)
[ -n "$drain" ] || fail "no drain line in the log"
ok "SIGTERM with 9 swaps in flight: all answered, exit 0 ($drain)"

# --- API roles
(cd "$W/srv" && env PORT=1 API_KEYS=k:root "$RECO" serve >"$W/cfg.log" 2>&1)
[ $? = 2 ] && grep -q "API_KEYS" "$W/cfg.log" || fail "API_KEYS with a bad role: $(cat "$W/cfg.log")"
start API_KEYS=rk:read,ak:admin,plain
RK=(-H 'Authorization: Bearer rk') AK=(-H 'X-API-Key: ak') PK=(-H 'Authorization: Bearer plain')
check "$(req GET /api/v1/models/ials/versions '' "${RK[@]}")" 200 'j["status"]=="success"'
check "$(req POST /api/v1/recommend '{"userId":"user_1"}' "${RK[@]}")" 200 'j["status"]=="success"'
check "$(req POST /api/v1/interaction '{"userId":"user_1","itemId":"item_3","interactionType":"view"}' "${RK[@]}")" 200 'j["status"]=="success"'
for k in RK PK; do
  eval "hdr=(\"\${$k[@]}\")"
  check "$(req POST /api/v1/models/ials/activate '{"version":2}' "${hdr[@]}")" 403 "$ERR and j['error']['code']=='forbidden' and 'admin' in j['error']['message']"
  check "$(req POST /api/v1/models/ials/rollback '' "${hdr[@]}")" 403 "$ERR and j['error']['code']=='forbidden'"
  check "$(req PUT /api/v1/items/item_3 '{"title":"x"}' "${hdr[@]}")" 403 "$ERR"
  check "$(req DELETE /api/v1/items/item_3 '' "${hdr[@]}")" 403 "$ERR"
  check "$(req POST /api/v1/items/bulk '[{"itemId":"x"}]' "${hdr[@]}")" 403 "$ERR"
  check "$(req PUT /api/v1/users/u1 '{"attributes":{}}' "${hdr[@]}")" 403 "$ERR"
  check "$(req DELETE /api/v1/users/u1 '' "${hdr[@]}")" 403 "$ERR"
  check "$(req GET /api/v1/items/item_3 '' "${hdr[@]}")" 200 'j["status"]=="success"'
done
[ "$(cat "$M/ials/ACTIVE")" = 1 ] || fail "a read key changed ACTIVE"
check "$(req POST /api/v1/models/ials/activate '{"version":2}')" 401 "$ERR"
check "$(req POST /api/v1/models/ials/activate '{"version":2}' -H 'X-API-Key: a')" 401 "$ERR"
check "$(req POST /api/v1/models/ials/activate '{"version":2}' "${AK[@]}")" 200 'j["result"]["version"]==2'
check "$(req PUT /api/v1/items/item_3 '{"title":"by admin"}' "${AK[@]}")" 200 'j["result"]["title"]=="by admin"'
ok "roles: read and role-less keys get 403 on admin routes, the admin key 200, no key 401"
stop

# without keys, admin routes answer loopback clients only (needs a non-loopback address)
ip=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+\.' | grep -v '^127\.' | head -1)
if [ -n "$ip" ]; then
  start HOST=0.0.0.0 PROTECTED_MODE=no
  c=$(curl -s -o "$W/e.json" -w '%{http_code}' -X POST --data '{"version":1}' "http://$ip:$PORT/api/v1/models/ials/activate")
  [ "$c" = 403 ] && grep -q '"forbidden"' "$W/e.json" || fail "admin route without keys from $ip: $c $(cat "$W/e.json")"
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$ip:$PORT/api/v1/models/ials/versions")" = 200 ] || fail "read route from $ip"
  [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST --data '{"version":1}' "$BASE/api/v1/models/ials/activate")" = 200 ] ||
    fail "admin route from loopback without keys"
  stop
  ok "no keys: admin routes for loopback clients only"
else
  echo "skip: no non-loopback address for the keyless admin check"
fi
echo "serve_admin: all passed"
