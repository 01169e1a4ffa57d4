#!/usr/bin/env bash
# serve_privacy.sh - GDPR export and erasure end to end: a catalogue user with stored
# interactions (all fields) and an experiment assignment is exported (interactions, assignment,
# catalogue attributes and history, which models know them); DELETE /api/v1/user/:id erases
# them: the export then holds nothing, the profile shows 0 interactions, and a restart does not
# bring them back; the next retrain's models no longer know them. Admin: with API_KEYS set,
# DELETE, export and retrain need a key with the admin role (API_KEYS=key:admin; 403 otherwise).
# Usage: serve_privacy.sh RECO_BINARY. Needs curl (skips with 77 without it); no python.
set -u
. "$(dirname "$0")/common.bash"

"$RECO" data gen --domain ecommerce --users 3000 --items 600 --interactions 60000 --out "$W/srv/data/demo-ecommerce" \
  --quiet >/dev/null || fail "data gen"

start() { start_server MODEL_UPDATE_INTERVAL=0 "$@"; } # extra environment assignments; common.bash
stop() { kill "$SPID"; wait "$SPID" || fail "server exit status $? (sanitizer report?)"; SPID=; }
post() { curl -s -X POST -H 'Content-Type: application/json' "${@:3}" --data "$2" "$BASE$1"; }
field() { grep -oE "\"$1\":(\"[^\"]*\"|[-0-9.e+]+|true|false|null)" <<<"$2" | head -1 | cut -d: -f2- | tr -d '"'; }

start
ok "ready on $BASE"
U=user_7
items=($(grep -oE '"itemId":"[^"]*"' <<<"$(post /api/v1/recommend "{\"userId\":\"$U\",\"limit\":10}")" | cut -d'"' -f4))
post /api/v1/interaction "{\"userId\":\"$U\",\"itemId\":\"${items[0]}\",\"interactionType\":\"click\",\"rating\":4,\"timestamp\":1699564800000,\"context\":{\"sessionId\":\"s_1\",\"position\":2,\"page\":\"home\"},\"idempotencyKey\":\"k-7-1\"}" >/dev/null
post /api/v1/interaction "{\"userId\":\"$U\",\"itemId\":\"${items[1]}\",\"interactionType\":\"purchase\"}" >/dev/null
post /api/v1/interaction "{\"userId\":\"user_8\",\"itemId\":\"${items[1]}\",\"interactionType\":\"view\"}" >/dev/null
post /api/v1/experiment/assign "{\"userId\":\"$U\",\"experimentId\":\"exp_home\"}" >/dev/null
curl -s -X PUT -H 'Content-Type: application/json' --data '{"attributes":{"country":"NO","segment":"hiker"}}' "$BASE/api/v1/users/$U" >/dev/null

e=$(curl -s "$BASE/api/v1/user/$U/export")
grep -q '"erased":false' <<<"$e" || fail "export before erasure: ${e:0:300}"
[ "$(grep -o '"interactionId"' <<<"$e" | wc -l)" = 2 ] || fail "export should list 2 interactions: ${e:0:600}"
grep -q "\"itemId\":\"${items[0]}\",\"interactionType\":\"click\",\"value\":4,\"timestamp\":1699564800000,\"sessionId\":\"s_1\",\"position\":2,\"context\":{\"sessionId\":\"s_1\",\"position\":2,\"page\":\"home\"},\"idempotencyKey\":\"k-7-1\"" <<<"$e" ||
  fail "export lacks a field of the first interaction: ${e:0:600}"
grep -q '"experimentAssignments":\[{"experiment":"exp_home","variant":"[a-z]*"' <<<"$e" || fail "export lacks the assignment"
grep -qE '"catalogue":\{"source":"[^"]+","attributes":[^,]+,"history":\[\{"itemId"' <<<"$e" || fail "export lacks the catalogue history"
grep -q '"algorithm":"ials","version":1,"knowsUser":true,"usedForUser":true' <<<"$e" || fail "export lacks the model facts: ${e: -400}"
grep -q '"liveHistoryEntries":2' <<<"$e" || fail "export lacks the live history count"
grep -q '"storedAttributes":{[^}]*"country":"NO"' <<<"$e" || fail "export lacks the stored attributes: ${e:0:600}"
ok "export lists interactions (every field), assignment, catalogue history and the models that know $U"
p=$(curl -s "$BASE/api/v1/user/$U/profile")
n_before=$(field totalInteractions "$p")
[ "$n_before" -gt 2 ] || fail "profile before erasure: $p"

# erase
d=$(curl -s -X DELETE "$BASE/api/v1/user/$U")
grep -q '"erased":true,"interactionsDeleted":2,"assignmentsDeleted":1,"catalogueHistoryIgnored":[1-9]' <<<"$d" || fail "DELETE: $d"
check_gone() {
  local e p
  e=$(curl -s "$BASE/api/v1/user/$U/export")
  grep -q '"erased":true,"interactions":\[\],"interactionsTruncated":false,"experimentAssignments":\[\],"liveHistoryEntries":0,"storedAttributes":null,"catalogue":null' <<<"$e" ||
    fail "$1: export still holds data: ${e:0:400}"
  grep -q '"usedForUser":true' <<<"$e" && fail "$1: a model is still used for $U"
  p=$(curl -s "$BASE/api/v1/user/$U/profile")
  grep -q '"totalInteractions":0,"storedInteractions":0,"recentItems":\[\]' <<<"$p" || fail "$1: profile: ${p:0:300}"
  grep -q '"firstSeen":null' <<<"$p" || fail "$1: profile still has timestamps"
  e=$(curl -s "$BASE/api/v1/user/user_8/export")
  [ "$(grep -o '"interactionId"' <<<"$e" | wc -l)" = 1 ] || fail "$1: user_8's data was touched: ${e:0:300}"
}
check_gone "after DELETE"
ok "after DELETE: export empty, profile 0 interactions (was $n_before), other users untouched"
v=$(post /api/v1/experiment/assign "{\"userId\":\"$U\",\"experimentId\":\"exp_home\"}")
grep -q '"variant"' <<<"$v" || fail "assign after erasure: $v"
curl -s -X DELETE "$BASE/api/v1/user/$U" >/dev/null

stop
start
check_gone "after a restart"
ok "a restart does not bring $U back"

# the next retrain builds its training set without them
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$BASE/api/v1/models/retrain")
[ "$code" = 202 ] || fail "POST retrain: $code"
for i in $(seq 1 600); do
  s=$(curl -s "$BASE/api/v1/models/retrain")
  [ "$(field runs "$s")" -ge 1 ] 2>/dev/null && break
  sleep 0.5
done
e=$(curl -s "$BASE/api/v1/user/$U/export")
if grep -q '"decision":"published"' <<<"$s"; then
  pub=$(grep -oE '"algorithm":"[a-z]+","previousVersion":[0-9]+,"newVersion":[0-9]+' <<<"$s" | head -1)
  algo=$(cut -d'"' -f4 <<<"$pub")
  grep -qE "\"algorithm\":\"$algo\",\"version\":[0-9]+,\"knowsUser\":false" <<<"$e" || fail "retrained $algo still knows $U: ${e: -400}"
  ok "the retrained $algo model does not know $U"
else
  ok "retrain kept the old models ($(field decision "$s")); erasure still applies: $(grep -c '"usedForUser":true' <<<"$e") models used"
fi
stop

# admin: with API keys, erasure needs an admin key
start API_KEYS=client1:read,admin1:admin
code=$(curl -s -o "$W/r" -w '%{http_code}' -X DELETE -H 'X-API-Key: client1' "$BASE/api/v1/user/user_9")
[ "$code" = 403 ] || fail "DELETE with a client key: $code $(cat "$W/r")"
grep -q '"code":"forbidden"' "$W/r" || fail "403 body: $(cat "$W/r")"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'X-API-Key: client1' "$BASE/api/v1/models/retrain")
[ "$code" = 403 ] || fail "POST retrain with a client key: $code"
code=$(curl -s -o "$W/r" -w '%{http_code}' -X DELETE -H 'X-API-Key: admin1' "$BASE/api/v1/user/user_9")
[ "$code" = 200 ] || fail "DELETE with the admin key: $code $(cat "$W/r")"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-API-Key: client1' "$BASE/api/v1/user/user_9/export")
[ "$code" = 403 ] || fail "export with a read key: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-API-Key: admin1' "$BASE/api/v1/user/user_9/export")
[ "$code" = 200 ] || fail "export with the admin key: $code"
ok "admin endpoints: 403 with a read key, 200 with an admin key"
stop
echo "PASS"
