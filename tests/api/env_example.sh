#!/usr/bin/env bash
# env_example.sh - .env.example documents the configuration exactly: every setting that
# src/serve/config.c reads (its k_keys table) has a line KEY=default not marked "(not yet read)";
# every KEY= line of the file is either read by config.c or marked "(not yet read)" and
# commented out; the settings issue 6 names are all there; and the file loads: `reco serve
# --env .env.example` gets past every line of it (an environment variable with a bad value is
# then the only error, and it is not reported against the file).
# Usage: env_example.sh RECO_BINARY. Needs python3 (skips with 77 without it).
set -u
. "$(dirname "$0")/common.bash"
command -v python3 >/dev/null 2>&1 || { echo "python3 not installed: skipping"; exit 77; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
python3 - "$ROOT/src/serve/config.c" "$ROOT/.env.example" <<'PY' || fail ".env.example does not match config.c"
import re, sys
src = open(sys.argv[1]).read()
table = src[src.index("k_keys[]"):]
read = set(re.findall(r'"([A-Z0-9_]+)"', table[:table.index("};")]))
assert len(read) >= 10, "could not parse k_keys of config.c"
lines = open(sys.argv[2]).read().splitlines()
doc, errors, comment = {}, [], []
for l in lines:
    m = re.match(r"^(#\s*)?([A-Z][A-Z0-9_]+)=(.*)$", l)
    if not m:
        comment = comment + [l] if l.strip() else []  # the comment block right above a setting
        continue
    key, commented = m.group(2), bool(m.group(1))
    if key in doc:
        errors.append("%s appears twice" % key)
    if not any(c.startswith("#") and len(c) > 2 for c in comment):
        errors.append("%s has no comment explaining it" % key)
    doc[key] = (commented, any("(not yet read)" in c for c in comment))
    comment = []
for k in sorted(read):
    if k not in doc:
        errors.append("%s is read by config.c but not in .env.example" % k)
    elif doc[k][1]:
        errors.append("%s is read by config.c but marked (not yet read)" % k)
for k, (commented, not_read) in sorted(doc.items()):
    if k not in read and not (not_read and commented):
        errors.append("%s is not read by config.c: mark it (not yet read) and comment it out" % k)
wanted = "PORT HOST MODEL_PATH DEFAULT_ALGORITHM RECOMMENDATION_LIMIT API_KEYS CACHE_ENABLED CACHE_TTL L1_CACHE_SIZE L1_CACHE_BYTES REDIS_URL RATE_LIMIT_MAX RATE_LIMIT_WINDOW LOG_LEVEL LOG_FORMAT MODEL_UPDATE_INTERVAL MODEL_UPDATE_MIN_INTERACTIONS RETRAIN_MAX_REGRESSION MIN_INTERACTIONS_FOR_CF COLD_START_STRATEGY DIVERSITY_WEIGHT NOVELTY_WEIGHT".split()
errors += ["%s is missing" % k for k in wanted if k not in doc]
for e in errors:
    print("FAIL:", e)
sys.exit(1 if errors else 0)
PY
ok ".env.example documents every setting config.c reads; the others are marked (not yet read)"
(cd "$W" && env PORT=notaport "$RECO" serve --env "$ROOT/.env.example" >"$W/cfg.log" 2>&1)
rc=$?
[ $rc = 2 ] && grep -q "PORT: expected an integer" "$W/cfg.log" && ! grep -q "env.example" "$W/cfg.log" ||
  fail ".env.example does not load cleanly (exit $rc): $(cat "$W/cfg.log")"
ok ".env.example loads: every value in it is valid"
echo "env_example: all passed"
