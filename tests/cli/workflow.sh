#!/usr/bin/env bash
# workflow.sh RECO - the user's path through the CLI on generated data: gen, info, train into a
# registry, recommend (known user and a new user's history), list/verify/activate/rollback, and
# a corrupted model file refused.
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
expect "data gen" 0 "$RECO" data gen --domain ecommerce --users 500 --items 300 --interactions 20000 --seed 7 --out "$T/d" --quiet
expect "data info" 0 "$RECO" data info "$T/d"
grep -q "users *500" "$T/out" && ok "info counts users" || bad "info counts users: $(cat "$T/out")"
expect "train popular v1" 0 "$RECO" train --algo popular --data "$T/d" --registry "$T/m" --activate --quiet
expect "train popular v2" 0 "$RECO" train --algo popular --data "$T/d" --registry "$T/m" --set half_life_days=30 --activate --quiet
expect "train baseline to a file" 0 "$RECO" train --algo baseline --data "$T/d" --out "$T/b.reco" --json --quiet
grep -q '"validation": {' "$T/out" && ok "train reports validation metrics" || bad "no validation metrics: $(cat "$T/out")"
expect "models list" 0 "$RECO" models list --dir "$T/m"
grep -q "v2" "$T/out" && ok "list shows v2" || bad "list: $(cat "$T/out")"
user=$(sed -n 2p "$T/d/interactions.csv" | cut -d, -f1)
expect "recommend known user" 0 "$RECO" recommend --model "$T/m/popular/v2.reco" --data "$T/d" --user "$user" --k 5 --json
grep -q '"itemId"' "$T/out" && ok "recommend returns items" || bad "recommend output: $(cat "$T/out")"
# pagination through the pipeline: two pages of 5 are the list of 10, in order
ids() { grep -o '"itemId": "[^"]*"' "$T/out" | tr '\n' ' '; }
expect "recommend page of 10" 0 "$RECO" recommend --model "$T/m/popular/v2.reco" --data "$T/d" --user "$user" --k 10 --json
all=$(ids)
expect "recommend page 1" 0 "$RECO" recommend --model "$T/m/popular/v2.reco" --data "$T/d" --user "$user" --k 5 --json
p1=$(ids)
expect "recommend page 2" 0 "$RECO" recommend --model "$T/m/popular/v2.reco" --data "$T/d" --user "$user" --k 5 --offset 5 --json
p2=$(ids)
[ "$p1$p2" = "$all" ] && ok "pages concatenate to the list" || bad "pages: '$p1' + '$p2' != '$all'"
expect "recommend with diversity" 0 "$RECO" recommend --model "$T/m/popular/v2.reco" --data "$T/d" --user "$user" --k 5 --diversity 0.5
expect "recommend unknown category" 1 "$RECO" recommend --model "$T/m/popular/v2.reco" --data "$T/d" --user "$user" --category no_such_category
expect "diversity needs data" 2 "$RECO" recommend --model "$T/m/popular/v2.reco" --user "$user" --diversity 0.5
item=$(sed -n 2p "$T/d/interactions.csv" | cut -d, -f2)
expect "recommend new user from history" 0 "$RECO" recommend --model "$T/m/popular/v2.reco" --history "$item" --k 3
expect "recommend unknown history item" 1 "$RECO" recommend --model "$T/m/popular/v2.reco" --history no_such_item
expect "rollback" 0 "$RECO" models rollback popular --dir "$T/m"
expect "verify registry" 0 "$RECO" models verify --dir "$T/m"
# flip one byte in the middle of a model file: verify and load refuse it
cp "$T/b.reco" "$T/c.reco"
size=$(stat -c %s "$T/c.reco")
printf '\x5a' | dd of="$T/c.reco" bs=1 seek=$((size / 2)) conv=notrunc status=none
expect "verify corrupt file" 1 "$RECO" models verify "$T/c.reco"
expect "recommend from corrupt file" 1 "$RECO" recommend --model "$T/c.reco" --history "$item"
head -c 100 "$T/b.reco" >"$T/t.reco"
expect "truncated model refused" 1 "$RECO" recommend --model "$T/t.reco" --history "$item"
expect "usage error exit 2" 2 "$RECO" train --algo popular
expect "unknown command exit 2" 2 "$RECO" nope
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
