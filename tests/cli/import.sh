#!/usr/bin/env bash
# import.sh RECO - `reco import` loads datasets into the interaction store (ml-100k folder, a CSV
# with its own column names; a malformed file is an error with its position and stores
# nothing), and `reco serve` on a store with interactions and no model trains from the store.
# Needs ml-100k under RECO_DATA_DIR (skips with 77 without it); curl for the serve part.
set -u
RECO=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
D=${RECO_DATA_DIR:-}/ml-100k
if [ ! -f "$D/u.data" ]; then echo "skip: no ml-100k at $D (set RECO_DATA_DIR)"; exit 77; fi
W=$(mktemp -d)
SPID=
trap '[ -n "$SPID" ] && kill "$SPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$W"' EXIT
fail() { echo "FAIL: $*"; [ -f "$W/server.log" ] && tail -20 "$W/server.log"; exit 1; }
ok() { echo "ok: $*"; }
DB=$W/srv/data/reco.db

out=$("$RECO" import --store "$DB" --data "$D" --quiet) || fail "import ml-100k: $out"
grep -qE "^imported 100000 interactions from .* \(load [0-9.]+ s; write [0-9.]+ s, [0-9]+ rows/s\); the store holds 100000$" <<<"$out" ||
  fail "import summary: $out"
ok "$out"

# a CSV with its own column names, and the progress line
printf 'who,what,stars,when\nalice,50,4,881250949\nbob,172,5,881250950\nalice,181,3,881250951\n' >"$W/extra.csv"
out=$("$RECO" import --store "$DB" --data "$W/extra.csv" --user-col who --item-col what --value-col stars --time-col when 2>"$W/err") ||
  fail "import csv: $out $(cat "$W/err")"
grep -q "the store holds 100003$" <<<"$out" || fail "csv import: $out"
grep -qE "import: 3 / 3 rows \([0-9]+ rows/s\)" "$W/err" || fail "no progress line: $(cat "$W/err")"
ok "CSV with --user-col/--item-col/--value-col/--time-col, progress line on stderr"

# a malformed file: an error naming the position, nothing stored
printf 'user,item,rating\nu1,i1,4\nu2,i2,notanumber\n' >"$W/bad.csv"
if "$RECO" import --store "$DB" --data "$W/bad.csv" >"$W/out" 2>"$W/err"; then fail "a malformed file was imported"; fi
grep -q "bad.csv:3:" "$W/err" || fail "error without position: $(cat "$W/err")"
"$RECO" import --store "$DB" 2>"$W/err" && fail "import without --data succeeded"
grep -q -- "--data is required" "$W/err" || fail "usage error: $(cat "$W/err")"
ok "malformed file refused with its position; --data required"

command -v curl >/dev/null 2>&1 || { echo "curl not installed: serve part skipped"; exit 0; }
# a free port, and another one if something takes it while the server trains (it binds after)
started=
for tries in 1 2 3 4 5; do
  PORT=$((20000 + RANDOM % 40000))
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && continue
  (cd "$W/srv" && exec env PORT=$PORT HOST=127.0.0.1 SERVE_THREADS=2 MODEL_UPDATE_INTERVAL=0 "$RECO" serve >>"$W/server.log" 2>&1) &
  SPID=$!
  BASE=http://127.0.0.1:$PORT
  for i in $(seq 1 2400); do
    curl -fs "$BASE/readyz" >/dev/null 2>&1 && break
    kill -0 "$SPID" 2>/dev/null || break
    sleep 0.25
  done
  if kill -0 "$SPID" 2>/dev/null; then started=1; break; fi
  wait "$SPID" 2>/dev/null
  SPID=
  tail -2 "$W/server.log" | grep -q "cannot listen" || fail "server exited"
done
[ -n "$started" ] || fail "no free port"
curl -fs "$BASE/readyz" >/dev/null || fail "server not ready"
grep -q "training from the store .*(100003 interactions)" "$W/server.log" || fail "did not train from the store"
[ -d "$W/srv/data/demo-ecommerce" ] && fail "the demo catalogue was generated although the store has interactions"
m=$(curl -s "$BASE/api/v1/models")
grep -q '"algorithm":"itemknn"' <<<"$m" || fail "no itemknn: ${m:0:300}"
grep -q '"nTrain":100003' <<<"$m" || fail "models not trained on the store's 100003 rows: ${m:0:500}"
grep -q '"algorithm":"content"' <<<"$m" && fail "content trained without item metadata"
r=$(curl -s -X POST -H 'Content-Type: application/json' --data '{"userId":"1","limit":5,"algorithm":"itemknn"}' "$BASE/api/v1/recommend")
grep -q '"coldStart":false' <<<"$r" || fail "user 1 of the store is cold: ${r:0:300}"
r=$(curl -s -X POST -H 'Content-Type: application/json' --data '{"userId":"alice","limit":5}' "$BASE/api/v1/recommend")
grep -q '"recommendations":\[{' <<<"$r" || fail "alice: ${r:0:300}"
kill "$SPID"
wait "$SPID" || fail "server exit status"
SPID=
ok "reco serve trained from the store (100003 interactions, no demo) and serves its users"
echo PASS
