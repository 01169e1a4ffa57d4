#!/usr/bin/env bash
# setup.sh - installs the Debian packages reco needs to build, test and run. Idempotent and
# fast when everything is present (one dpkg query); one `apt-get update`, then one install.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git curl
  libopenblas-openmp-dev liblapacke-dev
  libjansson-dev libcurl4-openssl-dev libzip-dev libxxhash-dev libssl-dev libsqlite3-dev
  libcmocka-dev libmicrohttpd-dev zip unzip clang libclang-rt-14-dev sqlite3
  libhiredis-dev redis-server wrk python3 python3-websocket # scripts/bench_ingest.sh, bench_logging.sh, bench_freshness.sh, bench_cache.sh, bench_retrain.sh, bench_ws.sh; tests/api
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}"
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "setup: these packages are missing and this is not root: ${missing[*]}" >&2
    echo "setup: run as root, or: apt-get install ${missing[*]}" >&2
    exit 1
  fi
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
