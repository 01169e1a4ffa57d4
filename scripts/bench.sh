#!/usr/bin/env bash
# bench.sh BUILD - runs the benchmark programs of bench/ that this build has, on the real data
# when present. Benchmarks never gate the tests; their figures go to docs/BENCHMARKS.md.
set -u
B=${1:-build}
cd "$(dirname "$0")/.."
DATA=${RECO_DATA_DIR:-../shared/data}
run() { local bin=$B/$1; shift; [ -x "$bin" ] || return 0; printf '\n== %s %s\n' "$(basename "$bin")" "$*"; "$bin" "$@"; }
if [ -d "$DATA/ml-100k" ]; then
  run bench_load "$DATA/ml-100k" "$DATA/ml-latest-small"
  run bench_knn "$DATA/ml-100k"
  run bench_ease "$DATA/ml-100k"
else
  echo "bench: no MovieLens data at $DATA (set RECO_DATA_DIR): skipping the real-data benchmarks"
fi
run bench_synth
