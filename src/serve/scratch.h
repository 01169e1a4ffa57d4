/* scratch.h - per-thread working memory of the hot handlers (scratch.c). */
#ifndef RECO_SERVE_SCRATCH_H
#define RECO_SERVE_SCRATCH_H

#include "serve.h"

#define SRV_MAX_LIMIT 100

typedef struct srv_scratch {
  float *scores;    /* n_cap */
  uint32_t *mark;   /* n_cap; mark[i] == epoch means item i is excluded in this request */
  uint32_t epoch;
  int32_t n_cap;
  int32_t *hist;    /* the user's history in the answering model's item indices */
  float *hist_val;
  size_t hist_cap;
  reco_topk heap;   /* k = SRV_MAX_LIMIT + 1 */
} srv_scratch;

/* This thread's scratch with room for n_items scores and n_hist history entries, and a fresh
 * exclusion epoch; NULL when out of memory. */
srv_scratch *srv_scratch_get(int32_t n_items, size_t n_hist);

#endif
