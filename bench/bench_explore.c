/*
 * bench_explore.c - exploration slots for new items (reco__rec_explore, src/rank/context.c) on
 * the COLD-ITEM split of `reco eval`: 10% of the items held out of training
 * (reco__split_pick, seed 42); the users who had them are asked for 10 items, their training
 * history excluded. The pipeline's member is ials (which cannot rank an item nobody had);
 * 0 to 3 slots of the page go to new items (no training interaction), chosen by the content
 * model for the user's history, or at random (the control). Reported: the share of held-out
 * (user, item) pairs that reach the user's top 10 (the hit rate of `reco eval --protocol
 * COLD-ITEM`), HR@10, and the median time of the explore step.
 *
 * Usage: bench_explore DATA_DIR   e.g. build/bench_explore ../shared/data/ml-latest-small
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/algo.h"
#include "data/split.h"
#include "eval/metrics.h"
#include "rank/rank.h"

static int fail(const char *what) {
  fprintf(stderr, "bench_explore: %s: %s\n", what, reco_last_error());
  return 1;
}

static reco_model *fit(const reco_dataset *train, const char *algo) {
  reco_model *m;
  if (reco__model_new(algo, &m)) return NULL;
  m->seed = 42;
  if (reco__model_fit(m, train, NULL)) {
    reco__model_free(m);
    return NULL;
  }
  return m;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: bench_explore DATA_DIR\n");
    return 2;
  }
  reco_dataset *all;
  if (reco_dataset_load(argv[1], NULL, &all)) return fail("load");
  uint8_t *sel = malloc((size_t)all->n_items), *keep = malloc(all->n);
  reco__split_pick(all->n_items, 0.1, 42, sel);
  reco_dataset *tr, *te;
  for (size_t k = 0; k < all->n; k++) keep[k] = !sel[all->i[k]];
  if (reco__ds_subset(all, keep, &tr)) return fail("split");
  for (size_t k = 0; k < all->n; k++) keep[k] = sel[all->i[k]];
  if (reco__ds_subset(all, keep, &te)) return fail("split");
  reco_model *ials = fit(tr, "ials"), *content = fit(tr, "content"), *rnd = fit(tr, "random");
  if (!ials || !content || !rnd) return fail("fit");
  float *count;
  if (reco__rec_item_popularity(tr, &count)) return fail("popularity");
  int32_t n_new = 0, n_held = 0;
  for (int32_t i = 0; i < tr->n_items; i++) n_new += count[i] < 1, n_held += sel[i] != 0;
  printf("COLD-ITEM split of %s: %d items held out of training (%d items without a training interaction), "
         "%zu held-out pairs\n",
         argv[1], n_held, n_new, te->nnz);

  reco_rec_ws *ws;
  if (reco__rec_ws_new(tr->n_items, RECO_REC_POOL_DEFAULT, 1, &ws)) return fail("workspace");
  float *scratch = malloc(sizeof *scratch * (size_t)tr->n_items);
  double *times = malloc(sizeof *times * (size_t)te->n_users);
  reco_rec_member mem = {ials, 1};
  printf("  %-34s %10s %8s %8s %14s\n", "setting", "hit rate", "HR@10", "users", "explore median");
  for (int which = 0; which < 2; which++)
    for (int slots = which ? 1 : 0; slots <= 3; slots++) {
      reco_rank_acc acc = {.k = 10};
      size_t nt = 0;
      for (int32_t u = 0; u < te->n_users; u++) {
        if (te->uptr[u + 1] == te->uptr[u]) continue;
        reco_rec_request q = {0};
        q.view = reco__view_of(tr, u);
        q.k = 10;
        q.members = &mem;
        q.n_members = 1;
        q.filters.min_rating = q.filters.price_min = q.filters.price_max = NAN;
        q.filters.exclude_seen = true;
        q.relevance_weight = NAN;
        int32_t pins[16], pos[16];
        double t0 = reco__now();
        int np = reco__rec_explore(which ? rnd : content, &q.view, count, 1, NULL, slots, 10, scratch, pins, pos);
        times[nt++] = (reco__now() - t0) * 1e6;
        if (np < 0) return fail("explore");
        q.pin_items = pins;
        q.pin_positions = pos;
        q.n_pins = (size_t)np;
        reco_rec_item out[10];
        int32_t recs[10];
        int n = reco__recommend(&q, ws, out);
        if (n < 0) return fail("recommend");
        for (int j = 0; j < n; j++) recs[j] = out[j].item;
        reco__rank_add(&acc, recs, n, te->uitem + te->uptr[u], (size_t)(te->uptr[u + 1] - te->uptr[u]));
      }
      reco_rank_result r = reco__rank_finish(&acc);
      qsort(times, nt, sizeof *times, cmp_d);
      char name[64];
      snprintf(name, sizeof name, "ials, %d %s slot%s", slots, which ? "random" : "content", slots == 1 ? "" : "s");
      if (!slots) snprintf(name, sizeof name, "ials, no exploration");
      printf("  %-34s %10.4f %8.4f %8zu %11.1f us\n", name, te->nnz ? acc.hits / (double)te->nnz : 0, r.hr, r.users,
             slots ? times[nt / 2] : 0.0);
    }
  free(times);
  free(scratch);
  reco__free(count);
  reco__rec_ws_free(ws);
  reco__model_free(ials);
  reco__model_free(content);
  reco__model_free(rnd);
  reco_dataset_free(tr);
  reco_dataset_free(te);
  reco_dataset_free(all);
  free(sel);
  free(keep);
  return 0;
}
