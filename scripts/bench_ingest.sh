#!/usr/bin/env bash
# bench_ingest.sh [BUILD] - durable ingest throughput of `reco serve` (issue 7): wrk posts
# interactions (unique user/idempotency key per request, scripts/ingest.lua) to
# POST /api/v1/interaction with CONNS connections for DURATION seconds, RUNS times, then once
# with a single connection; prints acknowledged interactions/s and the p50/p99 ack latency of
# each run and their medians, and the server's CPU time per ack (user + system, from /proc: it
# does not depend on the machine's other load the way acks/s does). After each run it checks the store against the acks: every
# acknowledged interactionId is in the database, and the rows of the run number the acks plus
# at most the requests left unanswered when wrk stopped (committed, but their response was
# still in flight). A failed check exits 1.
# The server is a Release build of BUILD (default build) on a free loopback port, trained once
# on the demo catalogue into BUILD/bench-ingest (reused), with a fresh store in a temporary
# folder; it is stopped with SIGTERM at the end and must exit 0.
# Environment: DURATION (15) CONNS (50) RUNS (3) THREADS (wrk threads, 2) SERVE_THREADS (cores)
# LOG_ACCESS (no: the figure of the write path; yes to include per-request access logs)
# BATCH (unset: none; N > 1: one more run posting N records per request to /interactions/batch).
# Needs wrk and the sqlite3 CLI (scripts/setup.sh installs both).
set -u
B=${1:-build}
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RECO=$ROOT/$B/reco
DURATION=${DURATION:-15}
CONNS=${CONNS:-50}
RUNS=${RUNS:-3}
THREADS=${THREADS:-2}
for tool in wrk sqlite3 curl python3; do
  command -v $tool >/dev/null || { echo "bench_ingest: $tool is not installed (scripts/setup.sh)"; exit 2; }
done
[ -x "$RECO" ] || { echo "bench_ingest: no $RECO (build first)"; exit 2; }
W=$(mktemp -d)
SPID=
cleanup() { if [ -n "$SPID" ]; then kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; fi; rm -rf "$W"; }
trap cleanup EXIT
SRV=$ROOT/$B/bench-ingest
mkdir -p "$SRV"
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
DB=$W/ingest.db
(cd "$SRV" && exec env PORT=$PORT HOST=127.0.0.1 STORE_PATH="$DB" LOG_ACCESS=${LOG_ACCESS:-no} "$RECO" serve \
  >"$W/server.log" 2>&1) &
SPID=$!
for i in $(seq 1 2400); do
  curl -fs "$BASE/readyz" >/dev/null 2>&1 && break
  kill -0 "$SPID" 2>/dev/null || { tail -5 "$W/server.log"; echo "bench_ingest: the server exited"; exit 1; }
  sleep 0.25
done
N_ITEMS=$(($(wc -l <"$SRV/data/demo-ecommerce/items.csv") - 1))
echo "bench_ingest: $BASE, $N_ITEMS items, store $DB, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# CPU seconds (user + system) the server has used so far
cpu() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$SPID/stat"; }

# run TAG CONNS THREADS SECONDS -> prints "acks_per_s p50_ms p99_ms" on fd 3, details on stdout
run() {
  local tag=$1 c=$2 t=$3 d=$4 out c0 c1
  c0=$(cpu)
  out=$(BATCH=${BATCH_RUN:-1} RUN_TAG=$tag N_ITEMS=$N_ITEMS ACKED_FILE=$W/acked.$tag wrk -t"$t" -c"$c" -d"${d}s" -s "$ROOT/scripts/ingest.lua" "$BASE" 2>&1)
  c1=$(cpu)
  local res
  res=$(grep '^RESULT' <<<"$out") || { echo "$out"; echo "bench_ingest: wrk failed"; exit 1; }
  eval "$(sed 's/^RESULT //' <<<"$res")" # acks_per_s acked non2xx sent errors p50_ms p99_ms max_ms secs
  # the store against the acks (WAL readers see every committed row while the server runs)
  sleep 0.5 # the last requests wrk abandoned finish their commit
  local stored missing unanswered
  stored=$(sqlite3 "$DB" "SELECT count(*) FROM interactions WHERE idempotency_key LIKE '$tag-%'")
  missing=$(sqlite3 "$DB" <<SQL
CREATE TEMP TABLE a(id INTEGER);
.import $W/acked.$tag a
SELECT count(*) FROM a WHERE id NOT IN (SELECT id FROM interactions WHERE idempotency_key LIKE '$tag-%');
SQL
)
  unanswered=$((sent - acked - non2xx))
  local us
  us=$(awk -v a="$c0" -v b="$c1" -v n="$acked" 'BEGIN{printf "%.1f", n ? (b-a)/n*1e6 : 0}')
  printf '  %-6s c=%-3s %6d acks/s  p50 %7.3f ms  p99 %7.3f ms  max %8.3f ms  server CPU %s us/ack | acked %d, stored %d, non-2xx %d, socket errors %d, unanswered at stop %d, acked ids missing %d\n' \
    "$tag" "$c" "$acks_per_s" "$p50_ms" "$p99_ms" "$max_ms" "$us" "$acked" "$stored" "$non2xx" "$errors" "$unanswered" "$missing"
  if [ "$missing" != 0 ] || [ "$stored" -lt "$acked" ] || [ "$stored" -gt $((acked + unanswered)) ]; then
    echo "bench_ingest: FAIL: the store does not hold exactly the acknowledged interactions"
    exit 1
  fi
  echo "$acks_per_s $p50_ms $p99_ms" >&3
}
median() { sort -g | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

exec 3>"$W/many"
echo "== $CONNS connections, $THREADS wrk threads, ${DURATION} s, $RUNS runs"
for r in $(seq 1 "$RUNS"); do run "c$r" "$CONNS" "$THREADS" "$DURATION"; done
exec 3>"$W/one"
echo "== 1 connection, ${DURATION} s"
run one 1 1 "$DURATION"
if [ "${BATCH:-0}" -gt 1 ]; then
  exec 3>"$W/batch"
  echo "== /interactions/batch: $BATCH records per request, $CONNS connections, ${DURATION} s (counts are records)"
  BATCH_RUN=$BATCH run batch "$CONNS" "$THREADS" "$DURATION"
fi
exec 3>&-
echo "median of $RUNS runs at $CONNS connections: $(cut -d' ' -f1 "$W/many" | median) acks/s, p50 $(cut -d' ' -f2 "$W/many" | median) ms, p99 $(cut -d' ' -f3 "$W/many" | median) ms"
echo "1 connection: $(cut -d' ' -f1 "$W/one") acks/s, p50 $(cut -d' ' -f2 "$W/one") ms, p99 $(cut -d' ' -f3 "$W/one") ms"
echo "every run: the store holds every acknowledged id; extra rows only from requests unanswered at wrk's stop"
kill -TERM "$SPID"
wait "$SPID"
rc=$?
SPID=
[ "$rc" = 0 ] || { tail -5 "$W/server.log"; echo "bench_ingest: the server exited with $rc after SIGTERM"; exit 1; }
total=$(sqlite3 "$DB" "SELECT count(*) FROM interactions")
echo "server stopped cleanly (SIGTERM, exit 0); $total interactions in the store"
grep -o 'stopped: store flushed.*since start' "$W/server.log" | sed 's/^/server: /'
read -r n_commits n_records < <(sed -n 's/.*(\([0-9]*\) group commits of \([0-9]*\) records.*/\1 \2/p' "$W/server.log")
[ "${n_commits:-0}" -gt 0 ] && echo "mean group commit: $(awk -v a="$n_records" -v b="$n_commits" 'BEGIN{printf "%.1f", a/b}') records per fsync ($n_commits commits)"
exit 0
