#!/usr/bin/env bash
# openapi_routes.sh - docs/openapi.yaml matches the route table (src/serve/routes.c) both ways:
# every route of the table is an operation of the document (":name" segments as "{name}") with
# the same role (x-reco-role: admin exactly on the SRV_ROLE_ADMIN rows), and every operation of
# the document is a route of the table, unless marked `x-planned: true` (specified, being built
# on another branch); a planned operation that is in the table fails, so the marker cannot
# outlive the work. Also: the document is OpenAPI 3.0, every $ref resolves, every operation has
# an operationId (unique) and a 2xx/101 response.
# Usage: openapi_routes.sh [RECO_BINARY] (unused: the check reads the sources). Needs python3
# with PyYAML (skips with 77 without it).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
python3 -c 'import yaml' 2>/dev/null || { echo "python3 with PyYAML not installed: skipping"; exit 77; }
python3 - "$ROOT/src/serve/routes.c" "$ROOT/docs/openapi.yaml" <<'PY'
import re, sys, yaml
routes_c, doc_path = sys.argv[1], sys.argv[2]
src = open(routes_c).read()
table = src[src.index("k_routes[]"):]
table = table[:table.index("};")]
rows = re.findall(r'\{\s*"([A-Z]+)",\s*"([^"]+)",\s*(\w+),\s*"(\w+)"\s*(?:,\s*(\w+)\s*)?\}', table)
n_rows = len(re.findall(r'^\s*\{\s*"', table, re.M))
assert len(rows) >= 10 and len(rows) == n_rows, "parsed %d of the %d rows of the route table of %s" % (len(rows), n_rows, routes_c)
doc = yaml.safe_load(open(doc_path))
errors = []
if not str(doc.get("openapi", "")).startswith("3.0"):
    errors.append("openapi is %r, want 3.0.x" % doc.get("openapi"))
ops = {}
ids = {}
for path, item in doc["paths"].items():
    for method, op in item.items():
        if method == "parameters":
            continue
        key = (method.upper(), path)
        ops[key] = op
        oid = op.get("operationId")
        if not oid:
            errors.append("%s %s: no operationId" % key)
        elif oid in ids:
            errors.append("operationId %s used twice" % oid)
        ids[oid] = key
        if not any(str(c).startswith("2") or str(c) == "101" for c in op.get("responses", {})):
            errors.append("%s %s: no success response" % key)
in_table = set()
for method, pattern, fn, name, role in rows:
    path = re.sub(r":(\w+)", r"{\1}", pattern)
    key = (method, path)
    in_table.add(key)
    op = ops.get(key)
    if op is None:
        errors.append("route %s %s (%s) is not in docs/openapi.yaml" % (method, pattern, fn))
        continue
    if op.get("x-planned"):
        errors.append("%s %s is in the route table: remove x-planned from docs/openapi.yaml" % key)
    admin = role == "SRV_ROLE_ADMIN"
    if admin != (op.get("x-reco-role") == "admin"):
        errors.append("%s %s: the table says %s, the document says x-reco-role %r" % (method, path, role or "read", op.get("x-reco-role")))
planned = 0
for key, op in ops.items():
    if key not in in_table:
        if op.get("x-planned"):
            planned += 1
        else:
            errors.append("%s %s is in docs/openapi.yaml but not in the route table (mark it x-planned: true if it is being built)" % key)
# every $ref resolves
def refs(x):
    if isinstance(x, dict):
        for k, v in x.items():
            if k == "$ref":
                yield v
            else:
                yield from refs(v)
    elif isinstance(x, list):
        for v in x:
            yield from refs(v)
for r in refs(doc):
    node = doc
    for part in r.lstrip("#/").split("/"):
        node = node.get(part) if isinstance(node, dict) else None
    if node is None:
        errors.append("unresolved $ref %s" % r)
for e in errors:
    print("FAIL:", e)
if errors:
    sys.exit(1)
print("ok: %d routes of the table documented, %d planned operations, every $ref resolves" % (len(rows), planned))
PY
