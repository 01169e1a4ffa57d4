#!/usr/bin/env bash
# serve_cache.sh - black-box test of the result cache and the rate limiter of `reco serve`:
#   L1: the same request twice is cacheHit false then true with the same list; another limit
#       is another entry; the user's interaction makes it false again (another user's does
#       not); /stats cacheHitRate and /metrics move; CACHE_ENABLED=no never hits.
#       /similar: miss then hit (same list), another limit or model misses, a seed algorithm
#       name hits the engine model's entry; an item upsert makes the next one a miss with the
#       new title, a delete a miss without the item.
#   L2: a real redis-server on a free port (skipped when not installed): a restarted service
#       (empty L1) hits from Redis; an interaction invalidates there too; Redis killed mid-test
#       -> requests stay 200, the redis_up gauge drops to 0, one log line for the outage; Redis
#       back -> the gauge returns to 1; Redis frozen (SIGSTOP) -> commands time out, requests
#       stay 200, and an interaction acknowledged meanwhile invalidates L2 once Redis is back.
#       Two servers on one Redis and one store: a /similar filled by one is a hit on the other;
#       a catalogue write on one makes the other's L2 entries from before unreachable (a miss
#       with the new metadata, never the old entry) and the other reloads its snapshot (new
#       title, deleted item gone) within seconds; Redis down during a catalogue write: the
#       writer answers at once, and the other replica catches up when Redis is back.
#   Rate limit: RATE_LIMIT_MAX=3 with RATE_LIMIT_LOOPBACK=yes -> the 4th request is a 429 with
#       Retry-After and a JSON error; other routes have their own bucket; /healthz is never
#       limited; without RATE_LIMIT_LOOPBACK, loopback clients are not limited.
# Usage: serve_cache.sh RECO_BINARY. Needs curl (skips with 77 without it).
set -u
. "$(dirname "$0")/common.bash"

"$RECO" data gen --domain ecommerce --users 3000 --items 600 --interactions 60000 --out "$W/srv/data/demo-ecommerce" \
  --quiet >/dev/null || fail "data gen"

RPID=
APID= # the first of two servers (the second is $SPID)
stop_redis() { if [ -n "$RPID" ]; then kill "$RPID" 2>/dev/null; wait "$RPID" 2>/dev/null; RPID=; fi; }
stop_a() { if [ -n "$APID" ]; then kill "$APID" 2>/dev/null; wait "$APID" 2>/dev/null; APID=; fi; }
trap 'stop_a; stop_redis; cleanup' EXIT

# start [VAR=value...]: the server with extra environment, on a free port
start() { start_server "$@"; } # ENV=VALUE...; common.bash
stop() { kill "$SPID"; wait "$SPID" 2>/dev/null; SPID=; }
post() { curl -s -X POST -H 'Content-Type: application/json' --data "$2" "$BASE$1"; }
hit() { grep -oE '"cacheHit":(true|false)' <<<"$1" | cut -d: -f2; }
# the body without the fields written fresh on every answer
stable() { sed -E 's/"latencyMs":[^,]*,"cacheHit":(true|false)//' <<<"$1"; }
metric() { curl -s "$BASE/metrics" | grep -E "^$1 " | awk '{print $2}'; }
interact() { post /api/v1/interaction "{\"userId\":\"$1\",\"itemId\":\"$2\",\"interactionType\":\"click\"}"; }

REQ='{"userId":"user_7","limit":10,"context":{"device":"mobile"},"filters":{"category":["electronics","books"]},"diversityWeight":0.3}'
REQ5='{"userId":"user_7","limit":5,"context":{"device":"mobile"},"filters":{"category":["electronics","books"]},"diversityWeight":0.3}'
# the same request with its keys in another order: the same canonical key
REQ_REORDERED='{"diversityWeight":0.3,"filters":{"category":["electronics","books"]},"context":{"device":"mobile"},"limit":10,"userId":"user_7"}'

# ---------------------------------------------------------------- L1
start
ok "ready on $BASE"
a=$(post /api/v1/recommend "$REQ")
[ "$(hit "$a")" = false ] || fail "first request was a hit: ${a:0:300}"
b=$(post /api/v1/recommend "$REQ")
[ "$(hit "$b")" = true ] || fail "second identical request not a hit: ${b:0:300}"
[ "$(stable "$a")" = "$(stable "$b")" ] || fail "the cached answer differs: ${a:0:200} / ${b:0:200}"
grep -qE '"latencyMs":[0-9.e+-]+' <<<"$b" || fail "no latencyMs on a hit"
c=$(post /api/v1/recommend "$REQ_REORDERED")
[ "$(hit "$c")" = true ] || fail "the same request with keys reordered missed"
d=$(post /api/v1/recommend "$REQ5")
[ "$(hit "$d")" = false ] || fail "another limit hit the cache"
ok "L1: miss, hit (same list), reordered keys hit, another limit misses"

items=($(grep -oE '"itemId":"[^"]*"' <<<"$a" | cut -d'"' -f4))
[ "${#items[@]}" -ge 3 ] || fail "no items"
grep -q '"recorded":true' <<<"$(interact user_8 "${items[0]}")" || fail "interaction of user_8"
e=$(post /api/v1/recommend "$REQ")
[ "$(hit "$e")" = true ] || fail "another user's interaction invalidated user_7"
grep -q '"recorded":true' <<<"$(interact user_7 "${items[0]}")" || fail "interaction of user_7"
f=$(post /api/v1/recommend "$REQ")
[ "$(hit "$f")" = false ] || fail "still a hit after the user's interaction: ${f:0:300}"
grep -q "\"itemId\":\"${items[0]}\"" <<<"$f" && fail "the clicked item is still recommended after the interaction"
g=$(post /api/v1/recommend "$REQ")
[ "$(hit "$g")" = true ] || fail "no hit after the refill"
ok "L1: invalidated by the user's own interaction only"

rate=$(curl -s "$BASE/api/v1/stats" | grep -oE '"cacheHitRate":[0-9.e+-]+' | cut -d: -f2)
awk -v r="$rate" 'BEGIN{exit !(r > 0.3 && r < 0.8)}' || fail "cacheHitRate $rate (expected 4 hits of 7 lookups)"
h1=$(metric 'reco_cache_hits_total\{level="l1"\}')
[ "$h1" = 4 ] || fail "reco_cache_hits_total l1 = $h1, expected 4"
m1=$(metric 'reco_cache_misses_total\{level="l1"\}')
[ "$m1" = 3 ] || fail "reco_cache_misses_total l1 = $m1, expected 3"
[ "$(metric reco_cache_entries\{level=\"l1\"\})" -ge 2 ] || fail "no entries"
[ "$(metric reco_cache_bytes\{level=\"l1\"\})" -gt 1000 ] || fail "no bytes"
[ "$(metric reco_cache_redis_up)" = 0 ] || fail "redis up without REDIS_URL"
ok "stats cacheHitRate $rate, metrics hits $h1 misses $m1"

# /similar: the same cache and rules
SREQ='{"itemId":"item_42","limit":5}'
sa=$(post /api/v1/similar "$SREQ")
[ "$(hit "$sa")" = false ] || fail "similar: first request was a hit: ${sa:0:300}"
sb=$(post /api/v1/similar "$SREQ")
[ "$(hit "$sb")" = true ] || fail "similar: second identical request not a hit: ${sb:0:300}"
[ "$(stable "$sa")" = "$(stable "$sb")" ] || fail "similar: the cached answer differs: ${sa:0:200} / ${sb:0:200}"
grep -qE '"latencyMs":[0-9.e+-]+' <<<"$sb" || fail "similar: no latencyMs on a hit"
x=$(post /api/v1/similar '{"limit":5,"algorithm":"content_based","itemId":"item_42"}')
[ "$(hit "$x")" = true ] || fail "similar: the default model named explicitly (another key order) missed"
x=$(post /api/v1/similar '{"itemId":"item_42","limit":4}')
[ "$(hit "$x")" = false ] || fail "similar: another limit hit"
x=$(post /api/v1/similar '{"itemId":"item_42","limit":5,"algorithm":"collaborative_filtering"}')
[ "$(hit "$x")" = false ] || fail "similar: another model hit: ${x:0:300}"
grep -q '"status":"success"' <<<"$x" || fail "similar with collaborative_filtering: ${x:0:300}"
sims=($(grep -oE '"itemId":"[^"]*"' <<<"$sa" | cut -d'"' -f4)) # [0] is item_42 itself
[ "${#sims[@]}" -ge 4 ] || fail "similar: too few items: ${sa:0:300}"
ok "similar: miss, hit (same list), default model named hits, another limit or model misses"

TITLE="Retitled by the cache test $RANDOM"
r=$(curl -s -X PUT -H 'Content-Type: application/json' --data "{\"title\":\"$TITLE\"}" "$BASE/api/v1/items/${sims[1]}")
grep -q '"republished":true' <<<"$r" || fail "PUT item ${sims[1]}: $r"
x=$(post /api/v1/similar "$SREQ")
[ "$(hit "$x")" = false ] || fail "similar: a hit after the item's metadata changed: ${x:0:300}"
grep -q "\"title\":\"$TITLE\"" <<<"$x" || fail "similar: the new title is not served: ${x:0:400}"
x=$(post /api/v1/similar "$SREQ")
[ "$(hit "$x")" = true ] && grep -q "\"title\":\"$TITLE\"" <<<"$x" || fail "similar: no hit (with the new title) after the refill"
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$BASE/api/v1/items/${sims[2]}")
[ "$code" = 200 ] || fail "DELETE item ${sims[2]}: $code"
x=$(post /api/v1/similar "$SREQ")
[ "$(hit "$x")" = false ] || fail "similar: a hit after an item of the list was deleted"
grep -q "\"itemId\":\"${sims[2]}\"" <<<"$x" && fail "similar: the deleted item ${sims[2]} is still listed"
# the item back (a PUT with "available": true), so later parts see the catalogue as generated
curl -s -o /dev/null -X PUT -H 'Content-Type: application/json' --data '{"available":true}' "$BASE/api/v1/items/${sims[2]}"
x=$(post /api/v1/similar "$SREQ")
[ "$(hit "$x")" = false ] && grep -q "\"itemId\":\"${sims[2]}\"" <<<"$x" || fail "similar: the restored item is not listed afresh"
ok "similar: an item upsert is a miss with the new title, a delete a miss without the item"
stop

# bytes bound: an L1 this small keeps nothing of a ~3 KB list per shard... yet still answers
start L1_CACHE_BYTES=65536
post /api/v1/recommend "$REQ" >/dev/null
x=$(post /api/v1/recommend "$REQ")
[ "$(hit "$x")" = false ] || fail "an entry over the shard's share (65536/64 bytes) was cached"
grep -q '"status":"success"' <<<"$x" || fail "no answer with a tiny cache"
stop
start CACHE_ENABLED=no
post /api/v1/recommend "$REQ" >/dev/null
x=$(post /api/v1/recommend "$REQ")
[ "$(hit "$x")" = false ] || fail "CACHE_ENABLED=no hit"
[ "$(metric reco_cache_enabled)" = 0 ] || fail "reco_cache_enabled not 0"
stop
ok "a too-small L1 and CACHE_ENABLED=no never hit"

# ---------------------------------------------------------------- rate limit
start RATE_LIMIT_MAX=3 RATE_LIMIT_WINDOW=60000 RATE_LIMIT_LOOPBACK=yes
for i in 1 2 3; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/v1/stats")
  [ "$code" = 200 ] || fail "request $i within the limit got $code"
done
code=$(curl -s -D "$W/h.txt" -o "$W/b.json" -w '%{http_code}' "$BASE/api/v1/stats")
[ "$code" = 429 ] || fail "4th request got $code, expected 429"
ra=$(grep -i '^Retry-After:' "$W/h.txt" | tr -dc '0-9')
[ -n "$ra" ] && [ "$ra" -ge 1 ] && [ "$ra" -le 20 ] || fail "Retry-After '$ra' (expected 1..20 s: one token per 20 s)"
grep -qE '^\{"status":"error","error":\{"code":"rate_limited","message":"[^"]+' "$W/b.json" || fail "429 body: $(cat "$W/b.json")"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data "$REQ" "$BASE/api/v1/recommend")
[ "$code" = 200 ] || fail "another route shares the bucket: $code"
for i in 1 2 3 4 5; do curl -fs "$BASE/healthz" >/dev/null || fail "/healthz limited"; done
[ "$(metric 'reco_rate_limited_total\{route="stats"\}')" = 1 ] || fail "rate-limited counter"
stop
start RATE_LIMIT_MAX=3 RATE_LIMIT_WINDOW=60000
for i in 1 2 3 4 5 6; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/v1/stats")
  [ "$code" = 200 ] || fail "a loopback client without a key was limited ($code) without RATE_LIMIT_LOOPBACK"
done
stop
start RATE_LIMIT_RECOMMEND_MAX=2 RATE_LIMIT_MAX=0 RATE_LIMIT_LOOPBACK=yes
for i in 1 2; do post /api/v1/recommend "$REQ" >/dev/null; done
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data "$REQ" "$BASE/api/v1/recommend")
[ "$code" = 429 ] || fail "RATE_LIMIT_RECOMMEND_MAX=2: 3rd got $code"
for i in 1 2 3 4; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/v1/stats")
  [ "$code" = 200 ] || fail "RATE_LIMIT_MAX=0 still limited /stats"
done
stop
# with API keys every key has its own bucket, loopback or not
start API_KEYS=key_a,key_b RATE_LIMIT_MAX=2
for i in 1 2; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer key_a' "$BASE/api/v1/stats")
  [ "$code" = 200 ] || fail "key_a request $i got $code"
done
code=$(curl -s -o "$W/b.json" -w '%{http_code}' -H 'Authorization: Bearer key_a' "$BASE/api/v1/stats")
[ "$code" = 429 ] || fail "key_a 3rd request got $code"
grep -q 'per API key' "$W/b.json" || fail "429 does not say the limit is per key: $(cat "$W/b.json")"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-API-Key: key_b' "$BASE/api/v1/stats")
[ "$code" = 200 ] || fail "key_b shares key_a's bucket: $code"
stop
ok "rate limit: 429 + Retry-After $ra s + JSON error; per route, per API key; probes and keyless loopback exempt by default"

# ---------------------------------------------------------------- L2 in Redis
if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis-server not installed: the L2 part is skipped"
  exit 77
fi
start_redis() { # PORT: 0 when it answers, 1 when redis-server exited (the port was taken meanwhile)
  redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >>"$W/redis.log" 2>&1 &
  RPID=$!
  local i
  for i in $(seq 1 400); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$RPID" 2>/dev/null || { RPID=; return 1; }
    sleep 0.05
  done
  fail "redis-server did not start in 20 s: $(tail -3 "$W/redis.log")"
}
up=
for i in 1 2 3 4 5; do
  RPORT=$((20000 + RANDOM % 40000))
  port_free "$RPORT" || continue
  start_redis "$RPORT" && { up=1; break; }
done
[ -n "$up" ] || fail "redis-server did not start: $(tail -3 "$W/redis.log")"
R="REDIS_URL=redis://127.0.0.1:$RPORT/0"
# the default 5 ms timeout is for production; a loaded test machine (or sanitizers) can take
# longer and would turn "L2 hit" checks into "Redis down" outcomes, so the test allows 500 ms
T=REDIS_TIMEOUT_MS=500
start "$R" "$T"
[ "$(metric reco_cache_redis_up)" = 1 ] || fail "redis_up not 1 with Redis running"
REQ3='{"userId":"user_3","limit":10}'
a=$(post /api/v1/recommend "$REQ3")
[ "$(hit "$a")" = false ] || fail "L2: first request a hit"
[ "$(metric 'reco_cache_puts_total\{level="l2"\}')" = 1 ] || fail "no L2 fill"
stop
start "$R" "$T" # a fresh process: L1 is empty, Redis is not
b=$(post /api/v1/recommend "$REQ3")
[ "$(hit "$b")" = true ] || fail "L2: a restarted service did not hit from Redis: ${b:0:300}"
[ "$(stable "$a")" = "$(stable "$b")" ] || fail "L2 answer differs"
[ "$(metric 'reco_cache_hits_total\{level="l2"\}')" = 1 ] || fail "L2 hit not counted"
c=$(post /api/v1/recommend "$REQ3")
[ "$(hit "$c")" = true ] && [ "$(metric 'reco_cache_hits_total\{level="l1"\}')" = 1 ] || fail "the L2 hit did not fill L1"
ok "L2: a restarted replica hits from Redis, and fills its L1"
stop
start "$R" "$T"
grep -q '"recorded":true' <<<"$(interact user_3 "${items[1]}")" || fail "interaction of user_3"
stop
start "$R" "$T" # a replica that did not see the interaction: Redis's generation says the entry is old
d=$(post /api/v1/recommend "$REQ3")
[ "$(hit "$d")" = false ] || fail "L2: an entry from before user_3's interaction was served by another replica"
ok "L2: an interaction on one replica invalidates the user's L2 entries for the others"

kill "$RPID"; wait "$RPID" 2>/dev/null; RPID=
for i in $(seq 1 30); do
  code=$(curl -s -o "$W/r.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data "{\"userId\":\"user_$((100 + i))\",\"limit\":10}" "$BASE/api/v1/recommend")
  [ "$code" = 200 ] || fail "Redis down: request $i got $code: $(cat "$W/r.json")"
done
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data "$REQ3" "$BASE/api/v1/recommend")
[ "$code" = 200 ] || fail "Redis down: $code"
grep -q '"recorded":true' <<<"$(interact user_3 "${items[2]}")" || fail "Redis down: interaction failed"
[ "$(metric reco_cache_redis_up)" = 0 ] || fail "redis_up still 1 with Redis killed"
downs=$(grep -c "is down" "$W/server.log")
[ "$downs" = 1 ] || fail "expected one log line for the outage, got $downs"
e=$(post /api/v1/recommend '{"userId":"user_101","limit":10}')
[ "$(hit "$e")" = true ] || fail "Redis down: L1 no longer hits"
ok "Redis killed: 32 requests 200, L1 still hits, redis_up 0, one log line"

start_redis "$RPORT" || fail "redis-server did not restart on $RPORT: $(tail -3 "$W/redis.log")"
for i in $(seq 1 60); do
  post /api/v1/recommend "{\"userId\":\"user_$((200 + i))\",\"limit\":10}" >/dev/null
  [ "$(metric reco_cache_redis_up)" = 1 ] && break
  sleep 0.5
done
[ "$(metric reco_cache_redis_up)" = 1 ] || fail "Redis back, redis_up still 0 after 30 s"
grep -q "is up" "$W/server.log" || fail "no log line when Redis came back"
ok "Redis back: reconnected after the backoff"

# Redis frozen (SIGSTOP: connections accepted, commands time out) while user_9 interacts: the
# bump is lost, Redis keeps user_9's old entry; when Redis is back the whole L2 generation moves
REQ9='{"userId":"user_9","limit":10}'
post /api/v1/recommend "$REQ9" >/dev/null
kill -STOP "$RPID"
t0=$(date +%s%N)
# a lookup times out first (Redis is marked down), so the bump cannot even be sent
for i in 1 2 3; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data "{\"userId\":\"user_$((300 + i))\"}" "$BASE/api/v1/recommend")
  [ "$code" = 200 ] || fail "Redis frozen: recommend got $code"
done
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  --data '{"userId":"user_9","itemId":"'"${items[1]}"'","interactionType":"click"}' "$BASE/api/v1/interaction")
[ "$code" = 200 ] || fail "Redis frozen: interaction got $code"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$(metric reco_cache_redis_up)" = 0 ] || fail "Redis frozen: redis_up still 1"
kill -CONT "$RPID"
for i in $(seq 1 60); do
  post /api/v1/recommend "{\"userId\":\"user_$((400 + i))\",\"limit\":10}" >/dev/null
  [ "$(metric reco_cache_redis_up)" = 1 ] && break
  sleep 0.5
done
[ "$(metric reco_cache_redis_up)" = 1 ] || fail "Redis thawed, redis_up still 0"
stop
start "$R" "$T" # an empty L1: only Redis could answer, and it must not with user_9's old list
x=$(post /api/v1/recommend "$REQ9")
[ "$(hit "$x")" = false ] || fail "an L2 entry from before an interaction acknowledged during the outage was served"
stop
ok "Redis frozen: 4 requests 200 in $ms ms; the bump lost in the outage invalidates L2 when Redis is back"

# ---------------------------------------------------------------- /similar and the catalogue across replicas
# two servers on the same Redis and the same store (the same folder): A ($APID, $A) and B
start "$R" "$T"; APID=$SPID; A=$BASE; SPID=
start "$R" "$T"; B=$BASE
post_to() { curl -s -X POST -H 'Content-Type: application/json' --data "$2" "$1/api/v1/similar"; }
metric_of() { curl -s "$1/metrics" | grep -E "^$2 " | awk '{print $2}'; }
# the title item ITEM has in a /similar answer
title_in() { grep -oE "\"itemId\":\"$2\",[^}]*\"title\":\"[^\"]*\"" <<<"$1" | grep -oE '"title":"[^"]*"' | cut -d'"' -f4; }
SQ='{"itemId":"item_43","limit":5}'
SQ6='{"itemId":"item_43","limit":6}'
x=$(post_to "$B" "$SQ")
[ "$(hit "$x")" = false ] || fail "L2 similar: first request on B a hit"
post_to "$B" "$SQ6" >/dev/null # in L2 (and B's L1) only: A never asks for it before the change
y=$(post_to "$A" "$SQ")
[ "$(hit "$y")" = true ] || fail "L2 similar: A did not hit B's entry: ${y:0:300}"
[ "$(stable "$x")" = "$(stable "$y")" ] || fail "L2 similar: A's answer differs from B's"
[ "$(metric_of "$A" 'reco_cache_hits_total\{level="l2"\}')" = 1 ] || fail "L2 similar: A's hit was not from L2"
ok "L2 similar: an entry filled by one replica is a hit on the other"

near=($(grep -oE '"itemId":"[^"]*"' <<<"$x" | cut -d'"' -f4)) # [0] is item_43 itself
[ "${#near[@]}" -ge 4 ] || fail "L2 similar: too few items: ${x:0:300}"
reloads_b=$(metric_of "$B" reco_cache_catalog_reloads_total)
TA="Retitled on replica A $RANDOM"
r=$(curl -s -X PUT -H 'Content-Type: application/json' --data "{\"title\":\"$TA\"}" "$A/api/v1/items/${near[1]}")
grep -q '"republished":true' <<<"$r" || fail "PUT on A: $r"
z=$(post_to "$A" "$SQ6")
[ "$(hit "$z")" = false ] || fail "L2: A was served B's entry from before A's catalogue change: ${z:0:300}"
[ "$(title_in "$z" "${near[1]}")" = "$TA" ] || fail "L2: A's answer lacks its new title: ${z:0:400}"
# B follows: its watcher reads the new catalogue generation and reloads its snapshot
for i in $(seq 1 100); do
  [ "$(metric_of "$B" reco_cache_catalog_reloads_total)" -gt "$reloads_b" ] && break
  sleep 0.1
done
[ "$(metric_of "$B" reco_cache_catalog_reloads_total)" -gt "$reloads_b" ] || fail "B did not reload after A's catalogue change in 10 s"
for q in "$SQ" "$SQ6"; do
  z=$(post_to "$B" "$q")
  [ "$(title_in "$z" "${near[1]}")" = "$TA" ] || fail "B serves the old title after A's change (cacheHit $(hit "$z")): ${z:0:400}"
done
ok "catalogue across replicas: A's upsert is a miss on A for B's old L2 entry, and B serves the new title after its reload"

reloads_a=$(metric_of "$A" reco_cache_catalog_reloads_total)
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$B/api/v1/items/${near[2]}")
[ "$code" = 200 ] || fail "DELETE on B: $code"
x=$(post_to "$B" "$SQ")
[ "$(hit "$x")" = false ] || fail "B: a hit after its own delete"
grep -q "\"itemId\":\"${near[2]}\"" <<<"$x" && fail "B still lists the item it deleted"
for i in $(seq 1 100); do
  [ "$(metric_of "$A" reco_cache_catalog_reloads_total)" -gt "$reloads_a" ] && break
  sleep 0.1
done
y=$(post_to "$A" "$SQ")
grep -q "\"itemId\":\"${near[2]}\"" <<<"$y" && fail "A still lists the item B deleted: ${y:0:300}"
[ "$(hit "$y")" = true ] && [ "$(stable "$x")" = "$(stable "$y")" ] || fail "A did not hit B's fresh entry after catching up: ${y:0:300}"
ok "catalogue across replicas: B's delete leaves A's answers too, and A then hits B's fresh L2 entry"

# Redis down during a catalogue write: the write answers at once (L1 only), and when Redis is
# back the lost bump is replayed, so B reloads and serves the change
kill "$RPID"; wait "$RPID" 2>/dev/null; RPID=
post_to "$A" "$SQ" >/dev/null # A notices the outage
TD="Retitled while Redis was down $RANDOM"
t0=$(date +%s%N)
r=$(curl -s -X PUT -H 'Content-Type: application/json' --data "{\"title\":\"$TD\"}" "$A/api/v1/items/${near[1]}")
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
grep -q '"republished":true' <<<"$r" || fail "PUT on A with Redis down: $r"
z=$(post_to "$A" "$SQ")
[ "$(title_in "$z" "${near[1]}")" = "$TD" ] || fail "A with Redis down: the new title is not served: ${z:0:400}"
reloads_b=$(metric_of "$B" reco_cache_catalog_reloads_total)
start_redis "$RPORT" || fail "redis-server did not restart on $RPORT"
for i in $(seq 1 60); do
  post_to "$A" '{"itemId":"item_44"}' >/dev/null
  [ "$(metric_of "$A" reco_cache_redis_up)" = 1 ] && [ "$(metric_of "$B" reco_cache_catalog_reloads_total)" -gt "$reloads_b" ] && break
  sleep 0.5
done
z=$(post_to "$B" "$SQ")
[ "$(title_in "$z" "${near[1]}")" = "$TD" ] || fail "B never caught up with the change made while Redis was down: ${z:0:400}"
curl -s -o /dev/null -X PUT -H 'Content-Type: application/json' --data '{"available":true}' "$A/api/v1/items/${near[2]}"
stop; stop_a
ok "Redis down: A's catalogue write answered in $ms ms; B followed once Redis was back"
