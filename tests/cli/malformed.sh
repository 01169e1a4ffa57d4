#!/usr/bin/env bash
# malformed.sh - `reco data info FILE` on malformed datasets: each must exit 1 and print one
# line on stderr naming the file and the line ("FILE:LINE:"), never crash or print a dataset.
# Usage: malformed.sh /path/to/reco
set -u
RECO=${1:?usage: malformed.sh /path/to/reco}
if [ ! -x "$RECO" ]; then
  echo "malformed.sh: $RECO is not an executable" >&2
  exit 2
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/reco_malformed.XXXXXX")
trap 'rm -rf "$dir"' EXIT

pass=0
fail=0

# check NAME LINE [FORMAT]: run `reco data info` on $dir/NAME (written before the call)
check() {
  local name=$1 line=$2 fmt=${3:-}
  local path="$dir/$name" err rc
  if [ -n "$fmt" ]; then
    "$RECO" data info --format "$fmt" "$path" >"$dir/.out" 2>"$dir/.err"
  else
    "$RECO" data info "$path" >"$dir/.out" 2>"$dir/.err"
  fi
  rc=$?
  err=$(cat "$dir/.err")
  local nlines
  nlines=$(wc -l <"$dir/.err")
  if [ "$rc" -eq 1 ] && [ "$nlines" -eq 1 ] && [[ "$err" == *"$path:$line:"* ]] && [ ! -s "$dir/.out" ]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL $name: exit $rc, expected 1 with '$path:$line:' on one stderr line; stderr was:" >&2
    sed 's/^/  | /' "$dir/.err" >&2
  fi
}

printf '1\t2\t3\t4\n1\t2\t3\n' >"$dir/u1.base"                         ; check u1.base 2
printf '1\t2\t3\t4\n1\t2\t3\t4\t5\n' >"$dir/u2.base"                   ; check u2.base 2
printf '1\t2\t3\t4\n1\t2\t3\t4\n7\t8\tfive\t9\n' >"$dir/u.data"        ; check u.data 3
printf 'user,item,rating\n1,2,3\n1,3,nan\n' >"$dir/nan.csv"            ; check nan.csv 3
printf 'user,item,rating\n1,2,inf\n' >"$dir/inf.csv"                   ; check inf.csv 2
printf 'user,item,rating,timestamp\n1,2,3,soon\n' >"$dir/ts.csv"       ; check ts.csv 2
: >"$dir/empty.csv"                                                    ; check empty.csv 1
printf 'user,item,rating\n' >"$dir/header_only.csv"                    ; check header_only.csv 2
printf 'user,item\nu1,i1\nu\377,i2\n' >"$dir/latin1.csv"               ; check latin1.csv 3
printf 'user,item\n1,2\nuser,item\n3,4\n' >"$dir/dup_header.csv"      ; check dup_header.csv 3
printf 'user,rating\n1,2\n' >"$dir/no_item.csv"                        ; check no_item.csv 1
printf 'user,item\n1,2\n3,"abc\n4,5\n' >"$dir/quote.csv"              ; check quote.csv 3
printf 'user,item\n1,2\0\n' >"$dir/nul.csv"                            ; check nul.csv 2
printf 'user,item,rating\n1,2,3,4\n' >"$dir/many.csv"                  ; check many.csv 2
printf '1::2::3::4\n1::2::3\n' >"$dir/ratings.dat"                     ; check ratings.dat 2
printf '{"user":1,"item":2}\n{"user":1,"item":\n' >"$dir/bad.jsonl"     ; check bad.jsonl 2
printf '{"user":1,"item":2}\n{"user":1}\n' >"$dir/noitem.jsonl"        ; check noitem.jsonl 2
printf 'user,item,type\n1,2,teleport\n' >"$dir/type.csv"               ; check type.csv 2
{ printf 'user,item\n1,'; head -c 1100000 /dev/zero | tr '\0' x; printf '\n'; } >"$dir/huge.csv"
check huge.csv 2
printf '1\t2\t3\t4\n1 2 3 4\n' >"$dir/plain.txt"                       ; check plain.txt 2 ml-100k
sed 's/3/9/' "$dir/plain.txt" >"$dir/range.txt"                        ; check range.txt 1 ml-100k

# a folder whose metadata file is broken names that file
mkdir -p "$dir/ml"
printf '1\t1\t3\t4\n' >"$dir/ml/u.data"
printf '1|Toy Story (1995)|01-Jan-1995||u|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0\n' >"$dir/ml/u.item"
check ml/u.item 1 ml-100k
"$RECO" data info "$dir/ml" >/dev/null 2>"$dir/.err"
if [ $? -eq 1 ] && grep -q "$dir/ml/u.item:1:" "$dir/.err"; then pass=$((pass + 1)); else
  fail=$((fail + 1)); echo "FAIL folder: expected u.item:1: in: $(cat "$dir/.err")" >&2; fi

# a missing file is an I/O error, still one line naming it
"$RECO" data info "$dir/does-not-exist.csv" >/dev/null 2>"$dir/.err"
if [ $? -eq 1 ] && [ "$(wc -l <"$dir/.err")" -eq 1 ] && grep -q "does-not-exist.csv" "$dir/.err"; then
  pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL missing file: $(cat "$dir/.err")" >&2; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
