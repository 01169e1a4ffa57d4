/* algo_table.c - every algorithm, one row each (like a command table). */
#include "algo.h"

#include <string.h>

extern const reco_algo reco__algo_random, reco__algo_popular, reco__algo_baseline;
extern const reco_algo reco__algo_itemknn, reco__algo_userknn, reco__algo_slopeone;
extern const reco_algo reco__algo_als, reco__algo_ials, reco__algo_bpr;
extern const reco_algo reco__algo_content;
extern const reco_algo reco__algo_ease;
extern const reco_algo reco__algo_svd, reco__algo_svdpp, reco__algo_nmf;
extern const reco_algo reco__algo_hybrid;
extern const reco_algo reco__algo_context; /* src/rank/context.c: the pipeline's context model */

static const reco_algo *const k_algos[] = {
    &reco__algo_random,
    &reco__algo_popular,
    &reco__algo_baseline,
    &reco__algo_itemknn,
    &reco__algo_userknn,
    &reco__algo_slopeone,
    &reco__algo_als,
    &reco__algo_ials,
    &reco__algo_bpr,
    &reco__algo_content,
    &reco__algo_ease,
    &reco__algo_svd,
    &reco__algo_svdpp,
    &reco__algo_nmf,
    &reco__algo_hybrid,
    &reco__algo_context,
};

const reco_algo *reco__algo_find(const char *name) {
  for (size_t k = 0; k < RECO_ARRAY_LEN(k_algos); k++)
    if (!strcmp(k_algos[k]->name, name)) return k_algos[k];
  return NULL;
}

const reco_algo *const *reco__algo_list(size_t *n) {
  *n = RECO_ARRAY_LEN(k_algos);
  return k_algos;
}
