/* algo_table.c - every algorithm, one row each (like a command table). */
#include "algo.h"

#include <string.h>

extern const reco_algo reco__algo_random, reco__algo_popular, reco__algo_baseline;
extern const reco_algo reco__algo_itemknn, reco__algo_userknn;

static const reco_algo *const k_algos[] = {
    &reco__algo_random,
    &reco__algo_popular,
    &reco__algo_baseline,
    &reco__algo_itemknn,
    &reco__algo_userknn,
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
