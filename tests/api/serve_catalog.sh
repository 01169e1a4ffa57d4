#!/usr/bin/env bash
# serve_catalog.sh - catalogue metadata over HTTP against a real `reco serve`: item upsert, get,
# delete (the item leaves /recommend and /similar at once) and restore; metadata changes
# (title, category, rating, price) served by the next /recommend, filters included; items the
# models do not know stored and shown; bulk import as a JSON array and as NDJSON, all or
# nothing with the bad line/index named, bounded; user attributes; every bad field named; and
# all of it still in effect after a restart (the store's migration 2).
# Usage: serve_catalog.sh RECO_BINARY. Needs curl and python3 (skips with 77 without them).
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
req() {
  local m=$1 p=$2 d=${3-}
  curl -s -o "$W/resp" -w '%{http_code}' -X "$m" -H 'Content-Type: application/json' ${d:+--data-binary "$d"} "$BASE$p"
  printf ' '
  cat "$W/resp"
}
check() {
  local got=$1 want=$2 expr=$3
  [ "${got%% *}" = "$want" ] || fail "want HTTP $want, got: ${got:0:400}"
  python3 -c "import json,sys; j=json.loads(sys.argv[1]); sys.exit(0 if ($expr) else 1)" "${got#* }" ||
    fail "($expr) does not hold for: ${got:0:400}"
}
# ids of a /recommend or /similar answer, one per line
ids() { python3 -c 'import json,sys; r=json.loads(sys.argv[1].split(" ",1)[1])["result"]; print("\n".join(x["itemId"] for x in r.get("recommendations", r.get("similarItems", []))))' "$1"; }
ERR='j["status"]=="error" and j["error"]["message"]'
REC='{"userId":"user_5","algorithm":"ials","limit":10}'

start
ok "ready on $BASE"
grep -q "schema v3" "$W/server.log" || fail "store not at schema v3"

# --- GET from the catalogue; DELETE takes an item out of /recommend and /similar at once
r=$(req POST /api/v1/recommend "$REC")
X=$(ids "$r" | head -1)
[ -n "$X" ] || fail "no recommendation: $r"
check "$(req GET "/api/v1/items/$X")" 200 "j['result']['itemId']=='$X' and j['result']['source']=='catalogue' and j['result']['available'] and j['result']['inCatalogue'] and 'ials' in j['result']['models'] and j['result']['title']"
check "$(req DELETE "/api/v1/items/$X")" 200 "j['result']['available'] is False"
ids "$(req POST /api/v1/recommend "$REC")" | grep -qx "$X" && fail "deleted $X still recommended"
[ "$(ids "$(req POST /api/v1/recommend "$REC")" | wc -l)" = 10 ] || fail "fewer than 10 after a delete"
s=$(req POST /api/v1/similar "{\"itemId\":\"$X\",\"limit\":10,\"algorithm\":\"content_based\"}")
Z=$(ids "$s" | head -1)
check "$(req DELETE "/api/v1/items/$Z")" 200 "not j['result']['available']"
ids "$(req POST /api/v1/similar "{\"itemId\":\"$X\",\"limit\":10,\"algorithm\":\"content_based\"}")" | grep -qx "$Z" &&
  fail "deleted $Z still similar"
check "$(req DELETE /api/v1/items/no_such_item)" 404 "$ERR and j['error']['field']=='itemId'"
check "$(req GET /api/v1/items/no_such_item)" 404 "$ERR and j['error']['field']=='itemId'"
ok "delete: $X leaves /recommend, $Z leaves /similar, at once"

# --- PUT: restore X with new metadata; the next /recommend serves it, filters included
check "$(req PUT "/api/v1/items/$X" '{"title":"Renamed Thing","category":"brand-new-cat","tags":["t1"],"price":1.5,"rating":4.9,"text":"words","available":true}')" 200 \
  "j['result']['title']=='Renamed Thing' and j['result']['categories']==['brand-new-cat'] and j['result']['source']=='store' and j['result']['available'] and j['republished']"
r=$(req POST /api/v1/recommend '{"userId":"user_5","algorithm":"ials","limit":10,"filters":{"category":"brand-new-cat","minRating":4.8}}')
check "$r" 200 "[x['itemId'] for x in j['result']['recommendations']]==['$X'] and j['result']['recommendations'][0]['metadata']=={'title':'Renamed Thing','category':'brand-new-cat','price':1.5,'rating':4.9}"
check "$(req PUT "/api/v1/items/$X" '{"title":"Renamed Thing","category":"brand-new-cat","rating":1.0}')" 200 "j['result']['rating']==1.0"
check "$(req POST /api/v1/recommend '{"userId":"user_5","algorithm":"ials","limit":10,"filters":{"category":"brand-new-cat","minRating":4.8}}')" 200 \
  "j['result']['recommendations']==[]"
check "$(req PUT /api/v1/items/brand_new_item '{"title":"Not in any model","price":10}')" 200 \
  "j['result']['inCatalogue'] is False and j['result']['models']==[] and not j['republished']"
check "$(req GET /api/v1/items/brand_new_item)" 200 "j['result']['title']=='Not in any model' and j['result']['price']==10"
ok "put: metadata served by the next /recommend (title, category filter, minRating); unknown items stored"

# --- every bad field named
for bad in '{"pric":1}:pric' '{"price":-1}:price' '{"price":"1"}:price' '{"rating":6}:rating' '{"title":5}:title' \
  '{"categories":"a","category":"b"}:category' '{"categories":[1]}:categories' '{"tags":"x"}:tags' '{"available":1}:available'; do
  body=${bad%:*} field=${bad##*:}
  check "$(req PUT /api/v1/items/item_1 "$body")" 400 "$ERR and j['error']['field']=='$field'"
done
check "$(req PUT /api/v1/items/item_1 '[1]')" 400 "$ERR"
check "$(req PUT /api/v1/items/item_1 '{"title":')" 400 "$ERR"
ok "bad item fields: 400 naming the field"

# --- bulk: all or nothing, the bad one named; JSON array and NDJSON; bounded
check "$(req POST /api/v1/items/bulk '[{"itemId":"b1","title":"B1"},{"itemId":"b2"},{"itemId":"b3","rating":9}]')" 400 \
  "$ERR and j['error']['field']=='[2].rating' and 'nothing was imported' in j['error']['message']"
check "$(req GET /api/v1/items/b1)" 404 "$ERR"
check "$(req POST /api/v1/items/bulk $'{"itemId":"b1"}\n\n{"title":"no id"}\n')" 400 "$ERR and j['error']['field']=='line[3].itemId'"
check "$(req POST /api/v1/items/bulk $'{"itemId":"b1"}\n{"itemId":')" 400 "$ERR and j['error']['field']=='line[2]'"
check "$(req POST /api/v1/items/bulk '[{"itemId":"b1"},{"itemId":"b1"}]')" 400 "$ERR and j['error']['field']=='[1].itemId'"
check "$(req POST /api/v1/items/bulk '[]')" 400 "$ERR"
check "$(req POST /api/v1/items/bulk '{"itemId":"b1"}x')" 400 "$ERR"
check "$(req POST /api/v1/items/bulk $'{"itemId":"b1","title":"B1"}\n{"itemId":"b2","categories":["c"]}\r\n{"itemId":"'"$Z"$'","available":true,"title":"Back"}\n')" 200 \
  "j['result']['imported']==3 and j['result']['inCatalogue']==1 and j['result']['republished']"
check "$(req GET /api/v1/items/b2)" 200 "j['result']['categories']==['c']"
check "$(req GET "/api/v1/items/$Z")" 200 "j['result']['available'] and j['result']['title']=='Back'"
check "$(req POST /api/v1/items/bulk '[{"itemId":"b4","price":2},{"itemId":"b5"}]')" 200 "j['result']['imported']==2 and j['result']['inCatalogue']==0"
python3 -c 'import sys; sys.stdout.write("".join("{\"itemId\":\"m%d\"}\n" % k for k in range(10001)))' >"$W/big.ndjson"
c=$(curl -s -o "$W/resp" -w '%{http_code}' -X POST --data-binary @"$W/big.ndjson" "$BASE/api/v1/items/bulk")
[ "$c" = 413 ] && grep -q too_many_items "$W/resp" || fail "10001 items: $c $(cat "$W/resp")"
check "$(req GET /api/v1/items/m0)" 404 "$ERR"
ok "bulk: all or nothing, bad line/index named, JSON array and NDJSON, at most 10000"

# --- users
check "$(req PUT /api/v1/users/u_1 '{"attributes":{"age":31,"plan":"pro","interests":["books","tea"]}}')" 200 \
  "j['result']['attributes']=={'age':31,'plan':'pro','interests':['books','tea']} and j['result']['updatedAt']>0"
check "$(req GET /api/v1/users/u_1)" 200 "j['result']['attributes']['plan']=='pro'"
check "$(req PUT /api/v1/users/u_1 '{"attrs":{}}')" 400 "$ERR and j['error']['field']=='attrs'"
check "$(req PUT /api/v1/users/u_1 '{"attributes":[1]}')" 400 "$ERR and j['error']['field']=='attributes'"
check "$(req PUT /api/v1/users/u_1 '{"attributes":{"deep":{"x":1}}}')" 400 "$ERR and j['error']['field']=='attributes.deep'"
check "$(req PUT /api/v1/users/u_2 '{"attributes":{"a":1}}')" 200 "True"
check "$(req DELETE /api/v1/users/u_2)" 200 "j['result']['deleted']"
check "$(req GET /api/v1/users/u_2)" 404 "$ERR and j['error']['field']=='userId'"
check "$(req DELETE /api/v1/users/u_2)" 404 "$ERR"
ok "users: attributes put, get, delete"

# --- a restart keeps all of it: stored metadata and deletions are applied to the first snapshot
check "$(req DELETE "/api/v1/items/$Z")" 200 "True"
stop
start
check "$(req GET "/api/v1/items/$X")" 200 "j['result']['title']=='Renamed Thing' and j['result']['source']=='store'"
check "$(req POST /api/v1/recommend '{"userId":"user_5","algorithm":"ials","limit":10,"filters":{"category":"brand-new-cat"}}')" 200 \
  "[x['itemId'] for x in j['result']['recommendations']]==['$X'] and j['result']['recommendations'][0]['metadata']['title']=='Renamed Thing'"
ids "$(req POST /api/v1/similar "{\"itemId\":\"$X\",\"limit\":10,\"algorithm\":\"content_based\"}")" | grep -qx "$Z" &&
  fail "$Z deleted before the restart is similar again"
check "$(req GET "/api/v1/items/$Z")" 200 "not j['result']['available']"
check "$(req GET /api/v1/users/u_1)" 200 "j['result']['attributes']['age']==31"
check "$(req GET /api/v1/items/b4)" 200 "j['result']['price']==2"
ok "restart: metadata, deletions and users persist"
stop
echo "serve_catalog: all passed"
