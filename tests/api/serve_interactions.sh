#!/usr/bin/env bash
# serve_interactions.sh - black-box test of the write path and the seed's remaining endpoints:
# POST /interaction (durable ack, idempotency key, validation naming the field, unknown item
# 404), GET /user/:id/profile, freshness (a brand-new user's recommendations change after three
# interactions), POST /experiment/assign (stable across calls and across a restart), GET /stats
# (counters move), and the durability promise: the server is killed with SIGKILL right after an
# acknowledged interaction and, after a restart, the interaction is there.
# Usage: serve_interactions.sh RECO_BINARY. Needs curl (skips with 77 without it); no python.
set -u
. "$(dirname "$0")/common.bash"

"$RECO" data gen --domain ecommerce --users 3000 --items 600 --interactions 60000 --out "$W/srv/data/demo-ecommerce" \
  --quiet >/dev/null || fail "data gen"

start() { start_server "$@"; } # common.bash
post() { curl -s -X POST -H 'Content-Type: application/json' --data "$2" "$BASE$1"; }
count() { grep -oE "$1" <<<"$2" | wc -l; }
field() { grep -oE "\"$1\":(\"[^\"]*\"|[-0-9.e+]+|true|false|null)" <<<"$2" | head -1 | cut -d: -f2- | tr -d '"'; }
interact() { # USER ITEM TYPE [EXTRA-JSON]
  post /api/v1/interaction "{\"userId\":\"$1\",\"itemId\":\"$2\",\"interactionType\":\"$3\"${4:+,$4}}"
}

start
ok "ready on $BASE"
[ -f "$W/srv/data/reco.db" ] || fail "no store at ./data/reco.db"

# --- a brand-new user: cold start, then three interactions change the answer
cold=$(post /api/v1/recommend '{"userId":"fresh_user","limit":10}')
grep -q '"coldStart":true' <<<"$cold" || fail "fresh user not cold: ${cold:0:300}"
cold_items=$(grep -oE '"itemId":"[^"]*"' <<<"$cold" | cut -d'"' -f4)
items=($(grep -oE '"itemId":"[^"]*"' <<<"$(post /api/v1/recommend '{"userId":"user_1","limit":20,"algorithm":"itemknn"}')" | cut -d'"' -f4))
[ "${#items[@]}" -ge 10 ] || fail "no items to interact with"
i=$(interact fresh_user "${items[5]}" click '"rating":5,"timestamp":1699564800000,"context":{"sessionId":"session_xyz","position":3}')
grep -qE '^\{"status":"success","result":\{"recorded":true,"interactionId":"[0-9]+",.*"modelUpdateQueued":false\}\}$' <<<"$i" ||
  fail "interaction: $i"
interact fresh_user "${items[6]}" purchase >/dev/null
i3=$(interact fresh_user "${items[7]}" view)
grep -q '"recorded":true' <<<"$i3" || fail "third interaction: $i3"
warm=$(post /api/v1/recommend '{"userId":"fresh_user","limit":10}')
grep -q '"coldStart":false' <<<"$warm" || fail "after 3 interactions still cold: ${warm:0:300}"
warm_items=$(grep -oE '"itemId":"[^"]*"' <<<"$warm" | cut -d'"' -f4)
[ "$(count '"itemId":' "$warm")" = 10 ] || fail "warm: not 10 items"
[ "$cold_items" != "$warm_items" ] || fail "recommendations did not change after 3 interactions"
for it in "${items[5]}" "${items[6]}" "${items[7]}"; do grep -qx "$it" <<<"$warm_items" && fail "warm list repeats $it"; done
# not only the exclusion of what was seen: the order of the rest moved (the history is scored)
rest=$(grep -vxF -e "${items[5]}" -e "${items[6]}" -e "${items[7]}" <<<"$cold_items" | head -7)
[ "$rest" != "$(head -7 <<<"$warm_items")" ] || fail "only the seen items were removed; the history was not scored"
ok "fresh user: cold start, then 3 interactions change the recommendations (history excluded, coldStart false)"

# --- profile
p=$(curl -s "$BASE/api/v1/user/fresh_user/profile")
grep -q '^{"status":"success","profile":{"userId":"fresh_user","totalInteractions":3,' <<<"$p" || fail "profile: ${p:0:400}"
grep -q "\"recentItems\":\[\"${items[7]}\",\"${items[6]}\",\"${items[5]}\"\]" <<<"$p" || fail "profile recentItems: ${p:0:400}"
grep -qE '"topCategories":\[\{"category":"[^"]+","count":[0-9]+' <<<"$p" || fail "profile topCategories: ${p:0:400}"
grep -qE '"embedding":\[-?[0-9]' <<<"$p" || fail "profile embedding (ials fold-in): ${p:0:400}"
grep -qE '"preferences":\{"priceRange":\[[0-9.]+,[0-9.]+\]\}' <<<"$p" || fail "profile priceRange: ${p:0:400}"
[ "$(field firstSeen "$p")" = 1699564800000 ] || fail "profile firstSeen: ${p:0:400}"
p=$(curl -s "$BASE/api/v1/user/user_1/profile")
grep -qE '"totalInteractions":[1-9]' <<<"$p" && grep -qE '"embedding":\[-?[0-9]' <<<"$p" || fail "catalogue user profile: ${p:0:300}"
code=$(curl -s -o "$W/e.json" -w '%{http_code}' "$BASE/api/v1/user/nobody_at_all/profile")
[ "$code" = 404 ] && grep -q '"field":"userId"' "$W/e.json" || fail "unknown user profile: $code $(cat "$W/e.json")"
ok "profile: counts, recent items newest first, categories, embedding; unknown user 404"

# --- idempotency: a retry stores one row
k1=$(interact idem_user "${items[1]}" cart '"idempotencyKey":"key-123"')
k2=$(interact idem_user "${items[1]}" cart '"idempotencyKey":"key-123"')
[ "$(field interactionId "$k1")" = "$(field interactionId "$k2")" ] || fail "idempotent retry got another id: $k1 / $k2"
grep -q '"duplicate":true' <<<"$k2" || fail "retry not marked duplicate: $k2"
p=$(curl -s "$BASE/api/v1/user/idem_user/profile")
[ "$(field totalInteractions "$p")" = 1 ] || fail "idempotent retry stored twice: ${p:0:300}"
ok "idempotencyKey: the retry returns the first id and stores nothing"

# --- bad interactions: 4xx JSON naming the field
check_bad() { # PATH BODY CODE FIELD
  local code
  code=$(curl -s -o "$W/err.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data "$2" "$BASE$1")
  [ "$code" = "$3" ] || fail "bad request $2 got HTTP $code: $(cat "$W/err.json")"
  grep -q '^{"status":"error","error":{"code":"[a-z_]*","message":"[^"]' "$W/err.json" || fail "bad request $2: $(cat "$W/err.json")"
  [ "$4" = - ] || grep -q "\"field\":\"$4\"" "$W/err.json" || fail "bad request $2: field $4 not named: $(cat "$W/err.json")"
}
it=${items[0]}
check_bad /api/v1/interaction '{"itemId":"x","interactionType":"click"}' 400 userId
check_bad /api/v1/interaction '{"userId":"u","interactionType":"click"}' 400 itemId
check_bad /api/v1/interaction "{\"userId\":\"u\",\"itemId\":\"$it\"}" 400 interactionType
check_bad /api/v1/interaction "{\"userId\":\"u\",\"itemId\":\"$it\",\"interactionType\":\"poke\"}" 400 interactionType
check_bad /api/v1/interaction "{\"userId\":\"u\",\"itemId\":\"$it\",\"interactionType\":\"rating\"}" 400 rating
check_bad /api/v1/interaction "{\"userId\":\"u\",\"itemId\":\"$it\",\"interactionType\":\"rating\",\"rating\":9}" 400 rating
check_bad /api/v1/interaction "{\"userId\":\"u\",\"itemId\":\"$it\",\"interactionType\":\"click\",\"timestamp\":\"now\"}" 400 timestamp
check_bad /api/v1/interaction "{\"userId\":\"u\",\"itemId\":\"$it\",\"interactionType\":\"click\",\"context\":[]}" 400 context
check_bad /api/v1/interaction "{\"userId\":\"u\",\"itemId\":\"$it\",\"interactionType\":\"click\",\"context\":{\"position\":-2}}" 400 context.position
check_bad /api/v1/interaction "{\"userId\":\"u\",\"itemId\":\"$it\",\"interactionType\":\"click\",\"context\":{\"sessionId\":7}}" 400 context.sessionId
check_bad /api/v1/interaction "{\"userId\":\"u\",\"itemId\":\"$it\",\"interactionType\":\"click\",\"idempotencyKey\":\"\"}" 400 idempotencyKey
check_bad /api/v1/interaction '{"userId":"u","itemId":"no_such_item","interactionType":"click"}' 404 itemId
check_bad /api/v1/interaction '{"userId":' 400 -
check_bad /api/v1/experiment/assign '{"userId":"u"}' 400 experimentId
check_bad /api/v1/experiment/assign '{"experimentId":"e","userId":3}' 400 userId
ok "bad interactions and assignments: JSON 4xx naming the field; unknown item 404"

# --- experiments: stable across calls
a1=$(post /api/v1/experiment/assign '{"userId":"user_12345","experimentId":"exp_hybrid_vs_cf"}')
a2=$(post /api/v1/experiment/assign '{"userId":"user_12345","experimentId":"exp_hybrid_vs_cf"}')
grep -qE '^\{"status":"success","result":\{"experimentId":"exp_hybrid_vs_cf","userId":"user_12345","variant":"(control|treatment)","bucket":[0-9.e-]+\}\}$' <<<"$a1" ||
  fail "assign: $a1"
[ "$a1" = "$a2" ] || fail "assign not stable: $a1 / $a2"
variants=""
for u in $(seq 1 40); do variants+="$(field variant "$(post /api/v1/experiment/assign "{\"userId\":\"u$u\",\"experimentId\":\"e1\"}")")"$'\n'; done
[ "$(sort -u <<<"$variants" | grep -c .)" = 2 ] || fail "40 users did not split into both variants: $(sort <<<"$variants" | uniq -c)"
ok "experiment assign: deterministic, both variants used"

# --- stats
post /api/v1/recommend '{"userId":"user_1","limit":5}' >/dev/null
st=$(curl -s "$BASE/api/v1/stats")
for k in totalRecommendations totalInteractions avgLatencyMs p50LatencyMs p95LatencyMs p99LatencyMs cacheHitRate \
  clickThroughRate conversionRate uptimeSeconds; do
  grep -q "\"$k\":" <<<"$st" || fail "stats: no $k: $st"
done
[ "$(field totalRecommendations "$st")" -ge 4 ] || fail "stats totalRecommendations: $st"
[ "$(field totalInteractions "$st")" = 4 ] || fail "stats totalInteractions (3 + 1 idempotent): $st"
[ "$(field clicks "$st")" = 1 ] && [ "$(field purchases "$st")" = 1 ] || fail "stats clicks/purchases: $st"
[ "$(field conversionRate "$st")" = 1 ] || fail "stats conversionRate: $st"
awk -v v="$(field p99LatencyMs "$st")" 'BEGIN{exit !(v > 0)}' || fail "stats p99 not measured: $st"
n_rec=$(field totalRecommendations "$st")
post /api/v1/recommend '{"userId":"user_2","limit":5}' >/dev/null
st=$(curl -s "$BASE/api/v1/stats")
[ "$(field totalRecommendations "$st")" = $((n_rec + 1)) ] || fail "stats: totalRecommendations did not move: $st"
ok "stats: counters from real counts ($st)"

# --- durability: SIGKILL right after an acknowledged interaction
d=$(interact durable_user "${items[2]}" purchase '"idempotencyKey":"durable-1"')
grep -q '"recorded":true' <<<"$d" || fail "durable interaction: $d"
did=$(field interactionId "$d")
kill -KILL "$SPID"
{ wait "$SPID"; } 2>/dev/null
SPID=
start
p=$(curl -s "$BASE/api/v1/user/durable_user/profile")
[ "$(field totalInteractions "$p")" = 1 ] || fail "acknowledged interaction lost after SIGKILL: ${p:0:300}"
st=$(curl -s "$BASE/api/v1/stats")
[ "$(field totalInteractions "$st")" = 5 ] || fail "stats after restart: $st"
d2=$(interact durable_user "${items[2]}" purchase '"idempotencyKey":"durable-1"')
[ "$(field interactionId "$d2")" = "$did" ] || fail "idempotency key forgotten after restart: $d2"
r=$(post /api/v1/recommend '{"userId":"fresh_user","limit":10}')
[ "$(grep -oE '"itemId":"[^"]*"' <<<"$r" | cut -d'"' -f4)" = "$warm_items" ] || fail "history not replayed after restart: ${r:0:300}"
a3=$(post /api/v1/experiment/assign '{"userId":"user_12345","experimentId":"exp_hybrid_vs_cf"}')
[ "$a1" = "$a3" ] || fail "assignment changed across a restart: $a1 / $a3"
ok "SIGKILL after the ack: the interaction, its idempotency key, the assignment and the live history survive the restart"

kill -TERM "$SPID"
wait "$SPID"
rc=$?
SPID=
[ "$rc" = 0 ] || fail "exit status $rc after SIGTERM"
echo "serve_interactions: all passed"
