#!/usr/bin/env bash
# serve_basic.sh - black-box test of `reco serve`: starts the real server on a free loopback
# port in a temporary folder (first run: it trains its demo models on a small generated
# catalogue), then talks HTTP to it with curl: the seed's recommend request, similar, models,
# healthz, readyz, metrics, cold start, bad requests (each a 4xx with a JSON error naming the
# field), size limit, keep-alive, and a graceful exit on SIGTERM.
# Usage: serve_basic.sh RECO_BINARY. Needs curl (skips with 77 without it); no python.
set -u
. "$(dirname "$0")/common.bash"

# A small catalogue, so that the first-run training is quick even under sanitizers.
"$RECO" data gen --domain ecommerce --users 3000 --items 600 --interactions 60000 --out "$W/srv/data/demo-ecommerce" \
  --quiet >/dev/null || fail "data gen"

# A free port, retried if the server cannot bind.
start() { : >"$W/server.log"; start_server "$@"; } # a fresh log per start; common.bash
post() { curl -s -X POST -H 'Content-Type: application/json' --data "$2" "$BASE$1"; }
# count PATTERN TEXT: occurrences of an extended regex
count() { grep -oE "$1" <<<"$2" | wc -l; }

start
ok "ready on $BASE"
grep -q "curl -s -X POST http://127.0.0.1:$PORT/api/v1/recommend" "$W/server.log" || fail "no example curl printed"

# --- the seed's recommend request
REQ='{"userId":"user_12345","limit":10,"algorithm":"hybrid","context":{"device":"mobile","location":"US","time":"2024-01-15T10:30:00Z"},"filters":{"category":["electronics","books"],"minRating":4.0},"diversityWeight":0.3}'
r=$(post /api/v1/recommend "$REQ")
grep -q '^{"status":"success","result":{"userId":"user_12345","recommendations":\[' <<<"$r" || fail "recommend: ${r:0:300}"
for k in algorithm latencyMs cacheHit; do grep -q "\"$k\":" <<<"$r" || fail "recommend: no $k"; done
[ "$(count '"itemId":"[^"]*"' "$r")" = 10 ] || fail "recommend: not 10 items: ${r:0:300}"
[ "$(grep -oE '"itemId":"[^"]*"' <<<"$r" | sort -u | wc -l)" = 10 ] || fail "recommend: duplicate items"
for k in score confidence reason metadata; do [ "$(count "\"$k\":" "$r")" = 10 ] || fail "recommend: $k missing"; done
bad_cat=$(grep -oE '"category":"[^"]*"' <<<"$r" | grep -vE '"(electronics|books)"')
[ -z "$bad_cat" ] && [ "$(count '"category":"' "$r")" = 10 ] || fail "recommend: category filter: $bad_cat"
low=$(grep -oE '"rating":[0-9.]+' <<<"$r" | cut -d: -f2 | awk '$1 < 4.0')
[ -z "$low" ] && [ "$(count '"rating":[0-9.]+' "$r")" = 10 ] || fail "recommend: minRating filter: $low"
ok "recommend (seed request): 10 distinct items, filters hold"
item=$(grep -oE '"itemId":"[^"]*"' <<<"$r" | head -1 | cut -d'"' -f4)

# --- batch: the seed request inside a batch gives the same list; per-request errors stay local
b=$(post /api/v1/recommend/batch "{\"requests\":[$REQ,{\"userId\":5},{\"userId\":\"user_2\",\"limit\":3}]}")
grep -q '^{"status":"success","result":{"results":\[' <<<"$b" || fail "batch: ${b:0:300}"
grep -q '"count":3,"failed":1,' <<<"$b" || fail "batch: counts: ${b:(-200)}"
[ "$(grep -oE '"itemId":"[^"]*"' <<<"$b" | head -10)" = "$(grep -oE '"itemId":"[^"]*"' <<<"$r")" ] || fail "batch: the seed request's list differs"
grep -q '"status":"error","error":{"code":"invalid_argument","message":"userId is required' <<<"$b" || fail "batch: no per-request error"
[ "$(count '"itemId":' "$b")" = 13 ] || fail "batch: not 10 + 3 items"
b=$(post /api/v1/recommend/batch '{"userIds":["user_1","user_2","someone_new"],"limit":4,"filters":{"category":"books"}}')
grep -q '"count":3,"failed":0,' <<<"$b" || fail "batch userIds: ${b:0:300}"
[ "$(count '"category":"books"' "$b")" = 12 ] || fail "batch userIds: filters not applied to every user"
for bad in '{"userIds":[]}' '{"userIds":["a"],"requests":[{}]}' '{"requests":[1]}' '{}'; do
  c=$(curl -s -o "$W/b.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data "$bad" "$BASE/api/v1/recommend/batch")
  [ "$c" = 400 ] && grep -q '"field":"\(requests\|userIds\)"' "$W/b.json" || fail "batch $bad: HTTP $c $(cat "$W/b.json")"
done
ok "batch recommend: same lists as single requests, errors per request, bad batches refused"

# a user with history gets a personal answer that excludes what they already have
r=$(post /api/v1/recommend '{"userId":"user_1","limit":5,"algorithm":"collaborative_filtering"}')
grep -q '"algorithm":"itemknn"' <<<"$r" && grep -q '"coldStart":false' <<<"$r" || fail "known user: ${r:0:300}"
first=$(grep -oE '"itemId":"[^"]*"' <<<"$r" | head -1 | cut -d'"' -f4)
r=$(post /api/v1/recommend "{\"userId\":\"user_1\",\"limit\":5,\"algorithm\":\"itemknn\",\"filters\":{\"excludeItems\":[\"$first\"]}}")
grep -q "\"$first\"" <<<"$r" && fail "excludeItems ignored"
ok "known user: personal (itemknn), excludeItems honoured"
# an unknown user: cold start from popularity, never an error
r=$(post /api/v1/recommend '{"userId":"someone_new"}')
grep -q '"coldStart":true' <<<"$r" && [ "$(count '"itemId":' "$r")" = 10 ] || fail "cold start: ${r:0:300}"
ok "cold start: popular, default limit 10"
for a in matrix_factorization content_based ials popular; do
  r=$(post /api/v1/recommend "{\"userId\":\"user_1\",\"limit\":3,\"algorithm\":\"$a\"}")
  grep -q '"status":"success"' <<<"$r" || fail "algorithm $a: ${r:0:300}"
done
ok "algorithm names (seed and engine)"
# diversityWeight re-ranks by MMR over the items' categories: the same user's list at 0.7 spans
# more distinct categories than at 0 (relevance order)
ncats() { grep -oE '"category":"[^"]*"' <<<"$1" | sort -u | wc -l; }
r0=$(post /api/v1/recommend '{"userId":"user_1","limit":10,"algorithm":"ials","diversityWeight":0}')
r7=$(post /api/v1/recommend '{"userId":"user_1","limit":10,"algorithm":"ials","diversityWeight":0.7}')
[ "$(count '"itemId":' "$r0")" = 10 ] && [ "$(count '"itemId":' "$r7")" = 10 ] || fail "diversity: ${r7:0:300}"
c0=$(ncats "$r0")
c7=$(ncats "$r7")
[ "$c7" -gt "$c0" ] || fail "diversityWeight 0.7 gives $c7 categories, 0 gives $c0"
grep -q '"diversityWeight":0.7' <<<"$r7" || fail "diversity: weight not echoed"
ok "diversityWeight: $c0 categories at 0, $c7 at 0.7"

# --- similar
s=$(post /api/v1/similar "{\"itemId\":\"$item\",\"limit\":10,\"algorithm\":\"content_based\"}")
grep -q "^{\"status\":\"success\",\"result\":{\"itemId\":\"$item\",\"similarItems\":\[" <<<"$s" || fail "similar: ${s:0:300}"
[ "$(count '"similarity":' "$s")" = 10 ] && [ "$(count '"reason":' "$s")" = 10 ] || fail "similar: not 10: ${s:0:300}"
grep -q "\"itemId\":\"$item\".*\"itemId\":\"$item\"" <<<"$s" && fail "similar: the item itself is listed"
s=$(post /api/v1/similar "{\"itemId\":\"$item\",\"limit\":5,\"algorithm\":\"collaborative_filtering\"}")
grep -q '"algorithm":"itemknn"' <<<"$s" || fail "similar itemknn: ${s:0:300}"
code=$(curl -s -o "$W/e.json" -w '%{http_code}' -X POST --data '{"itemId":"no_such_item"}' "$BASE/api/v1/similar")
[ "$code" = 404 ] && grep -q '"field":"itemId"' "$W/e.json" || fail "similar unknown item: $code"
ok "similar: content and itemknn; unknown item 404"

# --- models, health, metrics
m=$(curl -s "$BASE/api/v1/models")
grep -q '^{"status":"success","models":\[' <<<"$m" || fail "models: ${m:0:300}"
for k in algorithm version trainedAt nUsers nItems performance; do
  [ "$(count "\"$k\":" "$m")" -ge 4 ] || fail "models: $k missing"
done
grep -q '"ndcg@10":' <<<"$m" || fail "models: no validation metrics"
ok "models: 4 with measured performance"
[ "$(curl -s "$BASE/healthz")" = '{"status":"ok"}' ] || fail healthz
curl -fs "$BASE/readyz" | grep -q ready || fail readyz
mt=$(curl -fs "$BASE/metrics") || fail metrics
grep -q 'reco_http_requests_total{route="recommend",code="2xx"}' <<<"$mt" &&
  grep -q 'reco_http_request_duration_seconds_bucket{route="recommend",le="+Inf"}' <<<"$mt" &&
  grep -q 'reco_model_version{algorithm="itemknn"} 1' <<<"$mt" || fail "metrics: $(head -5 <<<"$mt")"
ok "healthz, readyz, metrics"

# --- bad requests: 4xx with a JSON error (and the field when there is one)
check_bad() { # BODY FIELD(or -)
  local code
  code=$(curl -s -o "$W/err.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data "$1" "$BASE/api/v1/recommend")
  case $code in 4??) ;; *) fail "bad request $1 got HTTP $code";; esac
  grep -q '^{"status":"error","error":{"code":"[a-z_]*","message":"[^"]' "$W/err.json" || fail "bad request $1: $(cat "$W/err.json")"
  [ "$2" = - ] || grep -q "\"field\":\"$2\"" "$W/err.json" || fail "bad request $1: field $2 not named: $(cat "$W/err.json")"
}
check_bad '{"userId":' -
check_bad '{"userId":"u","limit":-1}' limit
check_bad '{"userId":"u","limit":101}' limit
check_bad '{"userId":"u","limit":2.5}' limit
check_bad '{"userId":5}' userId
check_bad '{}' userId
check_bad '[]' -
check_bad '' -
check_bad '{"userId":"u","algorithm":"nope"}' algorithm
check_bad '{"userId":"u","algorithm":"neural_collaborative_filtering"}' algorithm
check_bad '{"userId":"u","filters":{"minRating":"high"}}' filters.minRating
check_bad '{"userId":"u","filters":{"category":[1]}}' filters.category
check_bad '{"userId":"u","filters":{"excludeItems":"x"}}' filters.excludeItems
check_bad '{"userId":"u","diversityWeight":2}' diversityWeight
check_bad '{"userId":"u","userId":"v"}' -
check_bad '{"userId":"u","context":[]}' context
check_bad '{"userId":"u","context":{"device":1}}' context.device
check_bad '{"userId":"u","context":{"time":"yesterday"}}' context.time
check_bad '{"userId":"u","context":{"time":"2024-13-15T10:30:00Z"}}' context.time
check_bad '{"userId":"u","context":{"time":"2024-01-15T10:30:00+0100"}}' context.time
check_bad '{"userId":"u","context":{"timestamp":"now"}}' context.timestamp
check_bad "{\"userId\":\"u\",\"a\":$(printf '[%.0s' $(seq 70))$(printf ']%.0s' $(seq 70))}" -
for t in '2024-01-15T10:30:00Z' '2024-01-15T10:30:00.125+02:00' '2024-01-15' '2024-01-15t23:59:60-08:00'; do
  r=$(post /api/v1/recommend "{\"userId\":\"user_1\",\"limit\":2,\"context\":{\"device\":\"mobile\",\"time\":\"$t\"}}")
  grep -q '"status":"success"' <<<"$r" || fail "context time $t refused: $r"
done
ok "bad requests: JSON 4xx naming the field"
head -c 1100000 /dev/zero | tr '\0' ' ' >"$W/big.json"
code=$(curl -s -o "$W/err.json" -w '%{http_code}' -X POST --data-binary @"$W/big.json" "$BASE/api/v1/recommend")
[ "$code" = 413 ] && grep -q payload_too_large "$W/err.json" || fail "oversized body: $code"
code=$(curl -s -o "$W/err.json" -w '%{http_code}' -X POST -H 'Transfer-Encoding: chunked' --data-binary @"$W/big.json" "$BASE/api/v1/recommend")
[ "$code" = 413 ] || fail "oversized chunked body: $code"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/v1/nothing")" = 404 ] || fail "404"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/v1/recommend")" = 405 ] || fail "405"
# request headers: up to MAX_HEADER_BYTES (8 KiB, the connection's memory) answered, beyond 431
h6=$(head -c 6000 /dev/zero | tr '\0' a) h9=$(head -c 9000 /dev/zero | tr '\0' a)
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "X-Pad: $h6" -H 'Content-Type: application/json' \
  --data '{"userId":"user_1","limit":2}' "$BASE/api/v1/recommend")
[ "$code" = 200 ] || fail "6000-byte header: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "X-Pad: $h9" -H 'Content-Type: application/json' \
  --data '{"userId":"user_1","limit":2}' "$BASE/api/v1/recommend")
[ "$code" = 431 ] || fail "9000-byte header: $code (want 431)"
ok "413 (declared and chunked), 404, 405, 431 beyond MAX_HEADER_BYTES"

# --- keep-alive: two requests, one connection
v=$(curl -sv -o /dev/null -o /dev/null -X POST -H 'Content-Type: application/json' --data "$REQ" \
  "$BASE/api/v1/recommend" "$BASE/api/v1/recommend" 2>&1)
grep -q "Re-using existing connection" <<<"$v" || fail "keep-alive: the connection was not reused"
ok "keep-alive"

# --- graceful exit
kill -TERM "$SPID"
for i in $(seq 1 100); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SPID" 2>/dev/null && fail "still running 10 s after SIGTERM"
wait "$SPID"
rc=$?
SPID=
[ "$rc" = 0 ] || fail "exit status $rc after SIGTERM"
ok "SIGTERM: clean exit"
echo "serve_basic: all passed"
