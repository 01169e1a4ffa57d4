#!/usr/bin/env bash
# pipeline.sh RECO - `reco recommend` and `reco similar` through the recommend pipeline on
# generated data with context: filters (categories in/out, exclude, min rating), business rules
# (pin, bury), the context model, cold-start strategies, similar items with filters and
# pagination, and the usage errors of the new options.
set -u
RECO=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass+1)); echo "ok   $1"; }
bad() { fail=$((fail+1)); echo "FAIL $1"; }
expect() { # description expected-rc cmd...
  local d=$1 want=$2; shift 2
  "$@" >"$T/out" 2>"$T/err"; local rc=$?
  if [ "$rc" = "$want" ]; then ok "$d"; else bad "$d (exit $rc, wanted $want): $(head -c 300 "$T/err")"; fi
}
ids() { grep -o '"itemId": "[^"]*"' "$T/out" | cut -d'"' -f4; }
cats_of() { grep "^$1," "$T/d/items.csv" | cut -d, -f3; } # the generator's titles have no commas
expect "data gen with context" 0 "$RECO" data gen --domain streaming --users 400 --items 300 --interactions 20000 \
  --seed 3 --context-effect 0.5 --out "$T/d" --quiet
head -1 "$T/d/interactions.csv" | grep -q "device,location" && ok "context columns written" || bad "no context columns"
expect "train itemknn" 0 "$RECO" train --algo itemknn --data "$T/d" --out "$T/knn.reco" --quiet
expect "train context" 0 "$RECO" train --algo context --data "$T/d" --out "$T/ctx.reco" --quiet --json
grep -q '"devices": 3' "$T/out" && ok "context model learned 3 devices" || bad "context fit_info: $(head -c 300 "$T/out")"
user=$(sed -n 2p "$T/d/interactions.csv" | cut -d, -f1)
item=$(sed -n 2p "$T/d/interactions.csv" | cut -d, -f2)
R() { "$RECO" recommend --model "$T/knn.reco" --data "$T/d" --user "$user" --json "$@"; }

expect "category filter" 0 R --k 10 --category Drama
n=0; for i in $(ids); do cats_of "$i" | grep -q Drama || n=$((n+1)); done
[ "$(ids | wc -l)" -gt 0 ] && [ $n = 0 ] && ok "only Drama items" || bad "$n items outside Drama"
expect "exclude-category filter" 0 R --k 20 --exclude-category Drama
n=0; for i in $(ids); do cats_of "$i" | grep -q Drama && n=$((n+1)); done
[ $n = 0 ] && ok "no Drama items" || bad "$n Drama items despite --exclude-category"
expect "plain list" 0 R --k 5
first=$(ids | head -1); second=$(ids | sed -n 2p)
expect "exclude list" 0 R --k 5 --exclude "$first"
ids | grep -qx "$first" && bad "excluded item returned" || ok "excluded item absent"
expect "pin" 0 R --k 5 --pin "$second:0"
[ "$(ids | head -1)" = "$second" ] && ok "pinned item first" || bad "pin: $(ids | tr '\n' ' ')"
expect "bury" 0 R --k 300 --bury "$first"
[ "$(ids | tail -1)" = "$first" ] && ok "buried item last" || bad "bury: last is $(ids | tail -1)"
expect "min rating" 0 R --k 5 --min-rating 4.9
expect "context term" 0 R --k 5 --context-model "$T/ctx.reco" --device mobile --time 2024-03-01T20:00:00Z
expect "context weight 0 = plain list" 0 R --k 5 --context-model "$T/ctx.reco" --device mobile --context-weight 0
[ "$(ids | head -1)" = "$first" ] && ok "weight 0 keeps the order" || bad "weight 0 changed the list"
expect "session term" 0 R --k 5 --session "$item" --session-weight 0.5
expect "diversity and novelty" 0 R --k 5 --diversity 0.3 --novelty 0.2
expect "cold popular_items" 0 "$RECO" recommend --model "$T/knn.reco" --data "$T/d" --history "" --cold-strategy popular_items --json
[ "$(ids | wc -l)" = 10 ] && grep -q '"reason": "Popular' "$T/out" && ok "cold list says popular" || bad "cold: $(head -c 300 "$T/out")"
expect "cold trending blended" 0 "$RECO" recommend --model "$T/knn.reco" --data "$T/d" --history "$item" \
  --cold-strategy trending --min-interactions-for-cf 5 --half-life-days 7
expect "cold context_popular" 0 "$RECO" recommend --model "$T/knn.reco" --history "" --cold-strategy context_popular \
  --context-model "$T/ctx.reco" --device tablet
# similar: the anchor excluded, filters apply, pages concatenate
S() { "$RECO" similar --model "$T/knn.reco" --data "$T/d" --item "$item" --json "$@"; }
expect "similar" 0 S -k 10
all=$(ids | tr '\n' ' ')
ids | grep -qx "$item" && bad "similar returned the anchor" || ok "anchor excluded"
grep -q "\"item\": \"$item\"" "$T/out" && ok "similar names its item" || bad "similar output: $(head -c 200 "$T/out")"
expect "similar page 1" 0 S -k 5
p1=$(ids | tr '\n' ' ')
expect "similar page 2" 0 S -k 5 --offset 5
p2=$(ids | tr '\n' ' ')
[ "$p1$p2" = "$all" ] && ok "similar pages concatenate" || bad "similar pages: '$p1' + '$p2' != '$all'"
expect "similar with category" 0 S -k 5 --category Comedy
n=0; for i in $(ids); do cats_of "$i" | grep -q Comedy || n=$((n+1)); done
[ $n = 0 ] && ok "similar keeps the category filter" || bad "$n similar items outside Comedy"
expect "similar unknown item" 1 "$RECO" similar --model "$T/knn.reco" --item no_such_item
# exploration slots: new items (no interaction) at positions 2 and 4 of a page of 6
expect "sparse data gen" 0 "$RECO" data gen --domain streaming --users 200 --items 1200 --interactions 4000 --seed 5 \
  --out "$T/s" --quiet
expect "train sparse itemknn" 0 "$RECO" train --algo itemknn --data "$T/s" --out "$T/k2.reco" --quiet
expect "train sparse content" 0 "$RECO" train --algo content --data "$T/s" --out "$T/c2.reco" --quiet
u2=$(sed -n 2p "$T/s/interactions.csv" | cut -d, -f1)
expect "explore slots" 0 "$RECO" recommend --model "$T/k2.reco" --data "$T/s" --user "$u2" --k 6 --json \
  --explore-model "$T/c2.reco" --explore-slots 2
new=0; pos=0; for i in $(ids); do
  if [ $pos = 2 ] || [ $pos = 4 ]; then cut -d, -f2 "$T/s/interactions.csv" | grep -qx "$i" || new=$((new+1)); fi
  pos=$((pos+1)); done
[ $new = 2 ] && ok "new items at positions 2 and 4" || bad "explore: $new new items at 2/4: $(ids | tr '\n' ' ')"
expect "explore needs a model" 2 "$RECO" recommend --model "$T/k2.reco" --data "$T/s" --user "$u2" --explore-slots 2
# usage errors
expect "similar needs --item" 2 "$RECO" similar --model "$T/knn.reco"
expect "--item is not for recommend" 2 "$RECO" recommend --model "$T/knn.reco" --item "$item" --history "$item"
expect "device needs a context model" 2 "$RECO" recommend --model "$T/knn.reco" --history "$item" --device mobile
expect "unknown cold strategy" 2 "$RECO" recommend --model "$T/knn.reco" --history "$item" --cold-strategy nope
expect "trending needs data" 2 "$RECO" recommend --model "$T/knn.reco" --history "$item" --cold-strategy trending
expect "bad pin" 1 "$RECO" recommend --model "$T/knn.reco" --history "$item" --pin "$item"
expect "bad time" 2 "$RECO" recommend --model "$T/knn.reco" --history "$item" --time yesterday
expect "context model of another kind" 1 "$RECO" recommend --model "$T/knn.reco" --history "$item" \
  --context-model "$T/knn.reco" --device mobile
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
