/* scratch.h - per-thread working memory of the hot handlers (scratch.c). */
#ifndef RECO_SERVE_SCRATCH_H
#define RECO_SERVE_SCRATCH_H

#include "rank/rank.h"
#include "serve.h"

#define SRV_MAX_LIMIT 100

typedef struct srv_scratch {
  int32_t *hist;    /* the user's history in the answering model's item indices */
  float *hist_val;
  size_t hist_cap;
  int32_t *excl;    /* excludeItems in the answering model's item indices */
  size_t excl_cap;
  reco_rec_ws *ws;  /* the recommend pipeline's workspace, for a catalogue of ws_items */
  int32_t ws_items;
  int ws_members;   /* members the workspace takes */
  reco_rec_item out[SRV_MAX_LIMIT];
} srv_scratch;

/* This thread's scratch with room for n_hist history entries, n_excl excluded items and a
 * pipeline workspace for models of n_items items (made on the thread's first request, remade
 * only when a model of another size answers); NULL when out of memory. */
srv_scratch *srv_scratch_get(int32_t n_items, int n_members, size_t n_hist, size_t n_excl);

#endif
