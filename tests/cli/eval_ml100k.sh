#!/usr/bin/env bash
# eval_ml100k.sh RECO - end-to-end check of loaders, splits and metrics on real MovieLens data:
# the baseline and most-popular reproduce the reference figures of EVALUATION.md.
set -u
RECO=$1
D=${RECO_DATA_DIR:-}/ml-100k
if [ ! -f "$D/u1.base" ]; then echo "skip: no ml-100k at $D (set RECO_DATA_DIR)"; exit 77; fi
pass=0 fail=0
check() { # name value lo hi
  if awk -v v="$2" -v lo="$3" -v hi="$4" 'BEGIN{exit !(v>=lo && v<=hi)}'; then pass=$((pass+1)); echo "ok   $1 = $2"
  else fail=$((fail+1)); echo "FAIL $1 = $2, expected [$3, $4]"; fi
}
col() { # csv header-name -> value of the first data row
  awk -F, -v k="$2" 'NR==1{for(i=1;i<=NF;i++) if($i==k) c=i} NR==2{print $c}' <<<"$1"
}
out=$("$RECO" eval --protocol RATE-U1 --data "$D" --algo baseline --csv) || { echo "FAIL eval RATE-U1"; exit 1; }
check "baseline RMSE (Surprise BaselineOnly 0.9599)" "$(col "$out" rmse)" 0.9569 0.9629
check "baseline MAE" "$(col "$out" mae)" 0.755 0.768
out=$("$RECO" eval --protocol TOPN-U1 --data "$D" --algo popular --csv) || { echo "FAIL eval TOPN-U1"; exit 1; }
check "popular P@10" "$(col "$out" p@10)" 0.3043 0.3053
check "popular NDCG@10" "$(col "$out" ndcg@10)" 0.3249 0.3259
check "popular users" "$(col "$out" users)" 459 459
out=$("$RECO" eval --protocol TOPN-U1-GE4 --data "$D" --algo popular --csv) || { echo "FAIL eval GE4"; exit 1; }
check "popular ge4 P@10" "$(col "$out" p@10)" 0.2045 0.2055
check "popular ge4 NDCG@10" "$(col "$out" ndcg@10)" 0.2398 0.2408
check "popular ge4 users" "$(col "$out" users)" 456 456
# a protocol that needs the u1 files says so for other data
"$RECO" eval --protocol RATE-U1 --data "$D/u.data" --algo baseline >/dev/null 2>&1; rc=$?
check "RATE-U1 on a single file exits 1" "$rc" 1 1
# unknown algorithm and protocol are refused
"$RECO" eval --protocol TOPN-U1 --data "$D" --algo nope >/dev/null 2>&1; check "unknown algo exit" "$?" 1 1
"$RECO" eval --protocol NOPE --data "$D" --algo popular >/dev/null 2>&1; check "unknown protocol exit" "$?" 1 1
"$RECO" eval --data "$D" --algo popular >/dev/null 2>&1; check "missing --protocol exit" "$?" 2 2
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
