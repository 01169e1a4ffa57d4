#!/usr/bin/env bash
# run.sh - the main job of `make run`: generate the demo catalogue, train and evaluate on it,
# evaluate on real MovieLens data when it is present, show recommendations from a saved model,
# then start the HTTP service (`reco serve`, in the foreground: Ctrl-C stops it) on the embedded
# default: a SQLite store and a demo catalogue with models trained on its first start.
set -euo pipefail
RECO=${1:-build/reco}
cd "$(dirname "$0")/.."
RECO=$(cd "$(dirname "$RECO")" && pwd)/$(basename "$RECO")
DATA_DIR=${RECO_DATA_DIR:-../shared/data}
DEMO=data/demo-ecommerce
MODELS=run/models   # the command-line part's registry (the service keeps its own)
SERVE_DIR=run/service

step() { printf '\n== %s\n' "$*"; }

if [ ! -f "$DEMO/interactions.csv" ]; then
  step "generating the demo e-commerce dataset into $DEMO"
  "$RECO" data gen --domain ecommerce --out "$DEMO"
fi
step "dataset"
"$RECO" data info "$DEMO"

step "leave-one-out evaluation on the demo data (HR/NDCG@10, full catalogue and 99 sampled negatives)"
"$RECO" eval --protocol LOO --data "$DEMO" --algo random,popular,itemknn,ials --quiet

if [ -f "$DATA_DIR/ml-100k/u1.base" ]; then
  step "MovieLens 100K, RATE-U1 (u1.base -> u1.test)"
  "$RECO" eval --protocol RATE-U1 --data "$DATA_DIR/ml-100k" --algo baseline,itemknn,svd,svdpp --quiet
  step "MovieLens 100K, TOPN-U1 (top-10, every rating an interaction)"
  "$RECO" eval --protocol TOPN-U1 --data "$DATA_DIR/ml-100k" --algo random,popular,itemknn,ials,bpr,ease --quiet
else
  step "MovieLens 100K not found at $DATA_DIR/ml-100k: skipping (set RECO_DATA_DIR, or: $RECO data fetch ml-100k)"
fi

step "training implicit ALS and the popularity fallback into the registry at $MODELS"
"$RECO" train --algo ials --data "$DEMO" --registry "$MODELS" --activate --quiet
"$RECO" train --algo popular --data "$DEMO" --registry "$MODELS" --activate --quiet
first_user=$(sed -n '2p' "$DEMO/interactions.csv" | cut -d, -f1)
latest=$(ls -t "$MODELS"/ials/v*.reco | head -1)
step "recommendations for $first_user from $latest"
"$RECO" recommend --model "$latest" --data "$DEMO" --user "$first_user" --k 5
first_item=$(sed -n '2p' "$DEMO/interactions.csv" | cut -d, -f2)
step "a brand-new user who just viewed $first_item (fold-in, no retraining)"
"$RECO" recommend --model "$latest" --data "$DEMO" --history "$first_item" --k 5
step "model versions"
"$RECO" models list --dir "$MODELS"

step "starting the service in $SERVE_DIR (first start: demo catalogue, store and models); Ctrl-C stops it"
mkdir -p "$SERVE_DIR"
cd "$SERVE_DIR"
exec "$RECO" serve
