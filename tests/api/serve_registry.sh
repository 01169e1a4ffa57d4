#!/usr/bin/env bash
# serve_registry.sh - `reco serve` on a registry it did not train: models published with
# `reco train --registry` from a plain CSV (no item metadata: no titles, categories, ratings),
# first without a CATALOGUE (ids from the model files only), then with one (user histories).
# Also: SIGHUP reloads the models under load; configuration errors exit 2 naming the variable; protected mode refuses non-loopback
# clients when no API keys are set; API keys are required when set (health endpoints stay open).
# Usage: serve_registry.sh RECO_BINARY. Needs curl (skips with 77 without it); no python.
set -u
. "$(dirname "$0")/common.bash"
count() { grep -oE "$1" <<<"$2" | wc -l; }
# start [ENV=VALUE...]: serve from $W with the given settings on a free port
start() { # models in $W/models, up when /healthz answers (common.bash)
  : >"$W/server.log"
  SRV_DIR=$W READY_PATH=/healthz READY_TRIES=1200 start_server MODEL_PATH="$W/models" "$@"
}
stop() {
  kill -TERM "$SPID"
  wait "$SPID" || fail "exit status $? after SIGTERM"
  SPID=
}
post() { curl -s -X POST -H 'Content-Type: application/json' --data "$2" "$BASE$1"; }

# a plain CSV: user,item,value,timestamp,type (items.csv is left out, so no metadata)
"$RECO" data gen --domain ecommerce --users 400 --items 150 --interactions 8000 --out "$W/gen" --quiet >/dev/null ||
  fail "data gen"
mkdir -p "$W/plain"
cp "$W/gen/interactions.csv" "$W/plain/events.csv"
for a in popular itemknn; do
  "$RECO" train --algo "$a" --data "$W/plain/events.csv" --registry "$W/models" --activate --quiet >/dev/null ||
    fail "train $a"
done

# configuration errors: exit status 2, the variable named
(cd "$W" && env MODEL_PATH="$W/models" PORT=notaport "$RECO" serve >"$W/cfg.log" 2>&1)
[ $? = 2 ] && grep -q PORT "$W/cfg.log" || fail "PORT=notaport: $(cat "$W/cfg.log")"
(cd "$W" && env MODEL_PATH="$W/models" PORT=1 DEFAULT_ALGORITHM=neural_collaborative_filtering "$RECO" serve >"$W/cfg.log" 2>&1)
[ $? = 2 ] && grep -q "DEFAULT_ALGORITHM.*itemknn" "$W/cfg.log" || fail "DEFAULT_ALGORITHM: $(cat "$W/cfg.log")"
printf 'RECOMMENDATION_LIMIT=0\n' >"$W/.env"
(cd "$W" && env MODEL_PATH="$W/models" "$RECO" serve >"$W/cfg.log" 2>&1)
[ $? = 2 ] && grep -q "\.env:1: RECOMMENDATION_LIMIT" "$W/cfg.log" || fail ".env error: $(cat "$W/cfg.log")"
printf '# from .env\nRECOMMENDATION_LIMIT=7\n' >"$W/.env"
ok "configuration errors exit 2 naming the variable"

# 1. no CATALOGUE: ids come from the model files; every answer still has items
start
r=$(post /api/v1/recommend '{"userId":"user_3"}')
[ "$(count '"itemId":' "$r")" = 7 ] || fail "no catalogue: want 7 items (RECOMMENDATION_LIMIT from .env): ${r:0:300}"
grep -q '"category":null' <<<"$r" && grep -q '"title":null' <<<"$r" || fail "no catalogue: metadata should be null"
m=$(curl -s "$BASE/api/v1/models")
grep -q '"catalogue":null' <<<"$m" && [ "$(count '"algorithm":' "$m")" = 2 ] || fail "models: ${m:0:300}"
stop
ok "registry without a catalogue"

# 2. with a CATALOGUE (histories, no metadata): personal, seen items excluded, no ratings needed
echo "$W/plain/events.csv" >"$W/models/CATALOGUE"
start
r=$(post /api/v1/recommend '{"userId":"user_3","limit":10,"algorithm":"collaborative_filtering"}')
[ "$(count '"itemId":' "$r")" = 10 ] && grep -q '"coldStart":false' <<<"$r" || fail "catalogue: ${r:0:300}"
seen=$(grep '^user_3,' "$W/plain/events.csv" | cut -d, -f2 | sort -u)
for it in $(grep -oE '"itemId":"[^"]*"' <<<"$r" | cut -d'"' -f4); do
  grep -qx "$it" <<<"$seen" && fail "recommended $it, which user_3 already has"
done
r=$(post /api/v1/recommend '{"userId":"user_3","limit":5,"filters":{"minRating":1}}')
grep -q '"recommendations":\[\]' <<<"$r" || fail "minRating without ratings should match nothing: ${r:0:200}"
ok "registry with a catalogue: personal, history excluded"

# hot reload under load: a new itemknn version is activated, SIGHUP swaps it in while
# requests keep coming; none of them fails
( for i in $(seq 1 300); do
    c=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data '{"userId":"user_5","algorithm":"itemknn"}' \
      "$BASE/api/v1/recommend")
    [ "$c" = 200 ] || { echo "request $i during reload: HTTP $c"; exit 1; }
  done ) &
load=$!
"$RECO" train --algo itemknn --set k=20 --data "$W/plain/events.csv" --registry "$W/models" --activate --quiet >/dev/null ||
  fail "train itemknn v2"
kill -HUP "$SPID"
for i in $(seq 1 100); do
  curl -s "$BASE/api/v1/models" | grep -q '"algorithm":"itemknn","seedName":"collaborative_filtering","version":"2"' && break
  sleep 0.1
done
curl -s "$BASE/api/v1/models" | grep -q '"algorithm":"itemknn","seedName":"collaborative_filtering","version":"2"' ||
  fail "SIGHUP: itemknn v2 not served"
kill -HUP "$SPID"
wait "$load" || fail "requests failed during the reload"
grep -q "SIGHUP: reloaded 2 models" "$W/server.log" || fail "no reload message"
ok "SIGHUP reload under load"
stop

# 3. protected mode and API keys (needs a non-loopback address of this machine)
ip=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+\.' | grep -v '^127\.' | head -1)
if [ -n "$ip" ]; then
  start HOST=0.0.0.0
  code=$(curl -s -o "$W/e.json" -w '%{http_code}' "http://$ip:$PORT/api/v1/models")
  [ "$code" = 403 ] && grep -q protected_mode "$W/e.json" || fail "protected mode: $code $(cat "$W/e.json")"
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/v1/models")" = 200 ] || fail "loopback refused"
  stop
  start HOST=0.0.0.0 API_KEYS=k1,secret-two
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$ip:$PORT/api/v1/models")" = 401 ] || fail "no key accepted"
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'X-API-Key: secret-tw' "http://$ip:$PORT/api/v1/models")" = 401 ] ||
    fail "a key prefix was accepted"
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'X-API-Key: secret-two' "http://$ip:$PORT/api/v1/models")" = 200 ] ||
    fail "X-API-Key refused"
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer k1' "http://$ip:$PORT/api/v1/models")" = 200 ] ||
    fail "Bearer refused"
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$ip:$PORT/healthz")" = 200 ] || fail "healthz needs no key"
  stop
  ok "protected mode, API keys"
else
  echo "skip: no non-loopback address for the protected-mode check"
fi
echo "serve_registry: all passed"
