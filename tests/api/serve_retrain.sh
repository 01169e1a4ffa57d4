#!/usr/bin/env bash
# serve_retrain.sh - background retraining end to end: a server with
# MODEL_UPDATE_MIN_INTERACTIONS=60 receives interactions from 30 users while a concurrent loop
# keeps asking for recommendations. Exactly one interaction answers modelUpdateQueued:true (the
# 60th), the retrain runs in the background and ends with a logged decision (a new version
# published and served, or refused with both NDCG numbers), the request loop sees no failed
# request, the status is in GET /api/v1/models/retrain, /api/v1/models and /metrics, and
# POST /api/v1/models/retrain queues one (202) and refuses a second while it is pending (409).
# Then the timer alone (MODEL_UPDATE_INTERVAL, count trigger off): no run while idle, one after
# an interaction.
# Usage: serve_retrain.sh RECO_BINARY. Needs curl (skips with 77 without it); no python.
set -u
. "$(dirname "$0")/common.bash"

"$RECO" data gen --domain ecommerce --users 3000 --items 600 --interactions 60000 --out "$W/srv/data/demo-ecommerce" \
  --quiet >/dev/null || fail "data gen"

start() { start_server MODEL_UPDATE_MIN_INTERACTIONS=${MIN:-60} MODEL_UPDATE_INTERVAL=${INTERVAL:-0}; } # common.bash
post() { curl -s -X POST -H 'Content-Type: application/json' --data "$2" "$BASE$1"; }
field() { grep -oE "\"$1\":(\"[^\"]*\"|[-0-9.e+]+|true|false|null)" <<<"$2" | head -1 | cut -d: -f2- | tr -d '"'; }

start
ok "ready on $BASE"
status=$(curl -s "$BASE/api/v1/models/retrain")
[ "$(field runs "$status")" = 0 ] || fail "a retrain ran before any interaction: $status"
[ "$(field minInteractions "$status")" = 60 ] || fail "MODEL_UPDATE_MIN_INTERACTIONS not applied: $status"

# the concurrent request loop: one status code per line until the stop file appears
(
  n=0
  while [ ! -f "$W/stop" ]; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
      --data "{\"userId\":\"user_$((n % 3000))\",\"limit\":10}" "$BASE/api/v1/recommend")
    echo "$code" >>"$W/codes"
    n=$((n + 1))
  done
) &
LOOP=$!

queued=0
sent=0
for u in $(seq 1 30); do
  items=($(grep -oE '"itemId":"[^"]*"' <<<"$(post /api/v1/recommend "{\"userId\":\"user_$u\",\"limit\":10,\"algorithm\":\"itemknn\"}")" | cut -d'"' -f4))
  [ "${#items[@]}" -ge 3 ] || fail "no items for user_$u"
  for k in 0 1 2; do
    r=$(post /api/v1/interaction "{\"userId\":\"user_$u\",\"itemId\":\"${items[$k]}\",\"interactionType\":\"purchase\"}")
    grep -q '"recorded":true' <<<"$r" || fail "interaction: $r"
    sent=$((sent + 1))
    if grep -q '"modelUpdateQueued":true' <<<"$r"; then
      queued=$((queued + 1))
      [ "$sent" = 60 ] || fail "modelUpdateQueued at interaction $sent, expected at the 60th"
    fi
  done
done
[ "$queued" = 1 ] || fail "$queued interactions queued a retrain, expected exactly 1 (the 60th of $sent)"
ok "the 60th of $sent interactions queued a retrain"

# the retrain finishes in the background while the loop keeps running
for i in $(seq 1 600); do
  status=$(curl -s "$BASE/api/v1/models/retrain")
  [ "$(field runs "$status")" -ge 1 ] 2>/dev/null && break
  sleep 0.5
done
[ "$(field runs "$status")" -ge 1 ] || fail "no retrain finished in 300 s: $status"
sleep 1
touch "$W/stop"
wait "$LOOP"
total=$(wc -l <"$W/codes")
bad=$(grep -vc '^200$' "$W/codes")
[ "$total" -ge 10 ] || fail "the request loop made only $total requests"
[ "$bad" = 0 ] || fail "$bad of $total concurrent requests failed during the retrain: $(sort "$W/codes" | uniq -c | tr '\n' ' ')"
ok "$total concurrent /recommend requests during the retrain, 0 failed"

decision=$(grep -oE '"decision":"[a-z]+"' <<<"$status" | head -1 | cut -d'"' -f4)
case "$decision" in
published)
  grep -q 'retrain .*: published (new ndcg@10 [0-9.]*, old [0-9.]*' "$W/server.log" || fail "publication not logged"
  newv=$(grep -oE '"newVersion":[0-9]+' <<<"$status" | head -1 | cut -d: -f2)
  algo=$(grep -oE '"algorithm":"[a-z]+","previousVersion":[0-9]+,"newVersion":[0-9]+' <<<"$status" | head -1 | cut -d'"' -f4)
  models=$(curl -s "$BASE/api/v1/models")
  grep -qE "\"algorithm\":\"$algo\",\"seedName\":[^,]*,\"version\":\"$newv\"" <<<"$models" ||
    fail "published $algo v$newv is not served: ${models:0:400}"
  ok "retrain published $algo v$newv and it is served"
  ;;
refused)
  grep -q 'retrain .*: refused (new ndcg@10 [0-9.]*, old [0-9.]*' "$W/server.log" || fail "refusal not logged with both numbers"
  ok "retrain refused with a logged reason: $(grep -m1 'refused' "$W/server.log")"
  ;;
*) fail "unexpected retrain decision '$decision': $status" ;;
esac
grep -qE '"previousNdcg10":[0-9.e-]+,"newNdcg10":[0-9.e-]+' <<<"$status" || fail "no metrics in the status: $status"
grep -q '"retrain":{"enabled":true' <<<"$(curl -s "$BASE/api/v1/models")" || fail "no retrain status in /api/v1/models"
m=$(curl -s "$BASE/metrics")
grep -qE '^reco_retrain_runs_total\{decision="(published|refused)"\} 1$' <<<"$m" || fail "no retrain counter in /metrics"
grep -qE '^reco_retrain_queued_by_interactions_total 1$' <<<"$m" || fail "queued counter wrong in /metrics"
grep -qE '^reco_retrain_last_duration_seconds [0-9.]+$' <<<"$m" || fail "no retrain duration in /metrics"
ok "status in /api/v1/models/retrain, /api/v1/models and /metrics"

# the manual trigger: one queued, a second one while it is pending is a conflict
code=$(curl -s -o "$W/r1" -w '%{http_code}' -X POST "$BASE/api/v1/models/retrain")
[ "$code" = 202 ] || fail "POST retrain: $code $(cat "$W/r1")"
code=$(curl -s -o "$W/r2" -w '%{http_code}' -X POST "$BASE/api/v1/models/retrain")
[ "$code" = 409 ] || fail "second POST retrain: $code $(cat "$W/r2")"
grep -q '"code":"conflict"' "$W/r2" || fail "409 body: $(cat "$W/r2")"
for i in $(seq 1 600); do
  status=$(curl -s "$BASE/api/v1/models/retrain")
  [ "$(field runs "$status")" -ge 2 ] 2>/dev/null && break
  sleep 0.5
done
[ "$(field runs "$status")" -ge 2 ] || fail "the manual retrain did not finish: $status"
grep -q '"trigger":"manual"' <<<"$status" || fail "manual trigger not recorded: $status"
ok "POST /api/v1/models/retrain: 202, then 409 while pending; it ran ($(field decision "$status"))"
kill "$SPID"
wait "$SPID" || fail "server exit status $? (sanitizer report?)"
SPID=

# the timer: MODEL_UPDATE_INTERVAL=1500 with the count trigger off runs nothing while idle, and
# one retrain ("interval") after an interaction arrives
MIN=0 INTERVAL=1500 start
sleep 4
[ "$(field runs "$(curl -s "$BASE/api/v1/models/retrain")")" = 0 ] || fail "a timed retrain ran with no new interaction"
r=$(post /api/v1/interaction '{"userId":"user_5","itemId":"item_5","interactionType":"click"}')
grep -q '"modelUpdateQueued":false' <<<"$r" || fail "count trigger is off, yet: $r"
for i in $(seq 1 600); do
  status=$(curl -s "$BASE/api/v1/models/retrain")
  [ "$(field runs "$status")" -ge 1 ] 2>/dev/null && break
  sleep 0.5
done
grep -q '"trigger":"interval"' <<<"$status" || fail "no timed retrain after an interaction: $status"
ok "MODEL_UPDATE_INTERVAL: idle periods skipped, a timed retrain after new data ($(field decision "$status"))"
kill "$SPID"
wait "$SPID" || fail "server exit status $? (sanitizer report?)"
SPID=
echo "PASS"
