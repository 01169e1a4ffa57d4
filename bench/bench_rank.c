/*
 * bench_rank.c - the recommend pipeline (src/rank) on ml-100k, in-process.
 *
 * TOPN-U1 (EVALUATION.md): members fitted on u1.base, the 459 users of u1.test asked for 10.
 *   1. latency: members ials + itemknn (weight 1 each), 200 candidates per member, filters on
 *      (history excluded, min average training rating 2.0, category "Documentary" excluded,
 *      every 10th item unavailable), MMR (diversity 0.3) on genre one-hot vectors, novelty 0.1,
 *      reasons; the median, 90th percentile and minimum over all users and passes, beside the
 *      members' own scoring (what the pipeline adds is the difference);
 *   2. trade-off: history excluded only, diversity 0 / 0.3 / 0.7 (and novelty 0.3): NDCG@10
 *      (reco__rank_add, EVALUATION.md's definition), intra-list diversity = mean pairwise
 *      (1 - cosine) of the genre one-hot vectors (L2-normalised) over the 10 items, novelty =
 *      mean -log2(training users of the item / all training users), coverage = distinct
 *      recommended items / catalogue;
 *   3. COLD-USER (--cold), the split of `reco eval --protocol COLD-USER`: 10% of users held
 *      out of u.data (reco__split_pick, seed 42), members and `popular` fitted on the rest;
 *      each held-out user gives their first n = 1, 3, 5 interactions by time (ties by item)
 *      as the view (user index -1) and the rest are the test set; NDCG@10 of popular, of the
 *      pipeline (ials + itemknn, history-based fold-in), and of the pipeline with the cold
 *      scorer (popular) blended in below min_interactions_for_cf = 5, 10, 20. (An earlier
 *      version of this section swapped two entries back into place instead of sorting, so its
 *      "first n" were the user's lowest item indices: popular 0.504/0.481/0.453 there against
 *      `reco eval`'s 0.507/0.468/0.447; with the sort fixed both give the same figures.)
 *
 *   4. hybrid (--hybrid): the `hybrid` model (default parameters, weights learned on its own
 *      validation split of u1.base) fitted on u1.base; NDCG@10 over the TOPN-U1 users of
 *      (a) the hybrid's own ranking (one pipeline member: z-scoring one member keeps its
 *      order, so this is `reco eval --protocol TOPN-U1 --algo hybrid`), (b) the pipeline
 *      blending the hybrid's members with the weights of reco__hybrid_members (rescaled to the
 *      pipeline's normalisation), (c) the same members with equal weights, (d) the members
 *      alone; and the median time of the hybrid's score() per request.
 *
 * Usage: bench_rank [--passes N] [--pool N] [--cold] [--hybrid] ML100K_DIR
 *   e.g. build/bench_rank --cold ../shared/data/ml-100k
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/algo.h"
#include "data/load.h"
#include "data/split.h"
#include "eval/metrics.h"
#include "rank/rank.h"

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int fail(const char *what) {
  fprintf(stderr, "bench_rank: %s: %s\n", what, reco_last_error());
  return 1;
}

static void report(const char *what, double *t, size_t n) {
  qsort(t, n, sizeof *t, cmp_d);
  printf("  %-44s median %7.1f us   p90 %7.1f us   min %7.1f us   (%zu calls)\n", what, t[n / 2], t[n * 9 / 10], t[0],
         n);
}

static reco_model *fit(const reco_dataset *train, const char *algo) {
  reco_model *m;
  if (reco__model_new(algo, &m)) return NULL;
  m->seed = 42;
  if (reco__model_fit(m, train, NULL)) {
    reco__model_free(m);
    return NULL;
  }
  printf("  fit %-8s %6.2f s\n", algo, m->fit_s);
  return m;
}

/* Mean pairwise 1 - cosine of the rows of vec (already L2-normalised) for the list. */
static double ild(const reco_rec_item *r, int n, const float *vec, int d) {
  if (n < 2) return 0;
  double s = 0;
  int pairs = 0;
  for (int a = 0; a < n; a++)
    for (int b = a + 1; b < n; b++) {
      const float *x = vec + (size_t)r[a].item * d, *y = vec + (size_t)r[b].item * d;
      double dot = 0;
      for (int j = 0; j < d; j++) dot += (double)x[j] * y[j];
      s += 1 - dot;
      pairs++;
    }
  return s / pairs;
}

static reco_rec_request request(const reco_dataset *tr, int32_t u, reco_rec_member *mem, int n_mem, int pool) {
  reco_rec_request q = {0};
  q.view = reco__view_of(tr, u);
  q.k = 10;
  q.pool = pool;
  q.members = mem;
  q.n_members = n_mem;
  q.meta = tr->meta;
  q.filters.min_rating = q.filters.price_min = q.filters.price_max = NAN;
  q.filters.exclude_seen = true;
  q.relevance_weight = NAN;
  return q;
}

/* Loads u.item, BASE and TEST into one dataset and splits it back into train and test. */
static int load_u1(const char *dir, reco_dataset **all, reco_dataset **train, reco_dataset **test) {
  char p[1024];
  reco_dataset *ds = reco__ds_new();
  snprintf(p, sizeof p, "%s/u.item", dir);
  int rc = reco__load_ml100k_items(ds, p);
  snprintf(p, sizeof p, "%s/u1.base", dir);
  if (!rc) rc = reco__load_into(ds, p, NULL);
  size_t n_base = ds->n;
  snprintf(p, sizeof p, "%s/u1.test", dir);
  if (!rc) rc = reco__load_into(ds, p, NULL);
  if (!rc) rc = reco__ds_finalize(ds);
  if (rc) {
    reco_dataset_free(ds);
    return rc;
  }
  uint8_t *keep = malloc(ds->n);
  for (size_t k = 0; k < ds->n; k++) keep[k] = k < n_base;
  rc = reco__ds_subset(ds, keep, train);
  for (size_t k = 0; k < ds->n; k++) keep[k] = k >= n_base;
  if (!rc) rc = reco__ds_subset(ds, keep, test);
  free(keep);
  *all = ds;
  return rc;
}

static double ndcg_members(const reco_dataset *tr, const reco_dataset *te, const int32_t *users, int nu,
                           const reco_rec_member *mem, int n_mem, int pool, reco_rec_ws *ws) {
  reco_rank_acc acc = {.k = 10};
  reco_rec_item out[10];
  int32_t recs[10];
  for (int x = 0; x < nu; x++) {
    reco_rec_request q = request(tr, users[x], (reco_rec_member *)mem, n_mem, pool);
    int n = reco__recommend(&q, ws, out);
    if (n < 0) return NAN;
    for (int j = 0; j < n; j++) recs[j] = out[j].item;
    int32_t u = users[x];
    reco__rank_add(&acc, recs, n, te->uitem + te->uptr[u], (size_t)(te->uptr[u + 1] - te->uptr[u]));
  }
  return reco__rank_finish(&acc).ndcg;
}

static int hybrid_section(const reco_dataset *tr, const reco_dataset *te, const int32_t *users, int nu, int pool) {
  printf("\nhybrid on TOPN-U1 (default members, weights learned on a validation split of u1.base):\n");
  reco_model *h = fit(tr, "hybrid");
  if (!h) return fail("fit hybrid");
  printf("  learned: %s\n", h->fit_info);
  const reco_model *mm[RECO_REC_MAX_MEMBERS];
  float wt[RECO_REC_MAX_MEMBERS];
  int nm = reco__hybrid_members(h, mm, wt, RECO_REC_MAX_MEMBERS);
  if (nm < 1) return fail("hybrid members");
  reco_rec_ws *ws;
  if (reco__rec_ws_new(tr->n_items, pool, nm, &ws)) return fail("workspace");
  reco_rec_member one = {h, 1}, mem[RECO_REC_MAX_MEMBERS], eq[RECO_REC_MAX_MEMBERS];
  printf("  pipeline weights (rescaled):");
  for (int k = 0; k < nm; k++) {
    mem[k] = (reco_rec_member){mm[k], wt[k]};
    eq[k] = (reco_rec_member){mm[k], 1};
    printf(" %s %.4f", mm[k]->algo->name, wt[k]);
  }
  printf("\n");
  printf("  (a) hybrid's own ranking              NDCG@10 %.4f\n", ndcg_members(tr, te, users, nu, &one, 1, pool, ws));
  printf("  (b) pipeline, members + their weights NDCG@10 %.4f\n", ndcg_members(tr, te, users, nu, mem, nm, pool, ws));
  printf("  (c) pipeline, members, equal weights  NDCG@10 %.4f\n", ndcg_members(tr, te, users, nu, eq, nm, pool, ws));
  for (int k = 0; k < nm; k++)
    printf("  (d) %-34s NDCG@10 %.4f\n", mm[k]->algo->name, ndcg_members(tr, te, users, nu, &eq[k], 1, pool, ws));
  /* score() cost: the first calls warm the model's scratch slots, then no allocation */
  float *sc = malloc(sizeof *sc * (size_t)tr->n_items);
  double *t = malloc(sizeof *t * (size_t)nu * 3);
  size_t nt = 0;
  for (int p = 0; p < 3; p++)
    for (int x = 0; x < nu; x++) {
      reco_user_view v = reco__view_of(tr, users[x]);
      double t0 = reco__now();
      if (h->algo->score(h, &v, sc)) return fail("hybrid score");
      t[nt++] = (reco__now() - t0) * 1e6;
    }
  report("hybrid score(), one request", t, nt);
  free(t);
  free(sc);
  reco__rec_ws_free(ws);
  reco__model_free(h);
  return 0;
}

static int cold_users(const char *dir, int pool) {
  reco_dataset *all;
  int rc = reco_dataset_load(dir, NULL, &all);
  if (rc) return fail("load");
  uint8_t *sel = malloc((size_t)all->n_users), *keep = malloc(all->n);
  reco__split_pick(all->n_users, 0.1, 42, sel);
  reco_dataset *tr, *te;
  for (size_t k = 0; k < all->n; k++) keep[k] = !sel[all->u[k]];
  rc = reco__ds_subset(all, keep, &tr);
  for (size_t k = 0; k < all->n; k++) keep[k] = sel[all->u[k]];
  if (!rc) rc = reco__ds_subset(all, keep, &te);
  free(keep);
  free(sel);
  if (rc) return fail("split");
  printf("\nCOLD-USER style: 10%% of users held out, members fitted on the other %zu interactions\n", tr->nnz);
  reco_model *ials = fit(tr, "ials"), *knn = fit(tr, "itemknn"), *pop = fit(tr, "popular");
  if (!ials || !knn || !pop) return fail("fit");
  reco_rec_member mem[3] = {{ials, 1}, {knn, 1}, {pop, 1}}, popm = {pop, 1};
  reco_rec_ws *ws;
  if (reco__rec_ws_new(tr->n_items, pool, 3, &ws)) return fail("workspace");
  /* the configurations: members, cold scorer blended below min_interactions_for_cf */
  enum { N_CONF = 6 };
  static const struct {
    const char *name;
    int n_mem, min_cf;
    bool pop_only;
  } conf[N_CONF] = {
      {"popular", 1, 0, true},
      {"ials+itemknn", 2, 0, false},
      {"ials+itemknn, popular below 5 (seed)", 2, 5, false},
      {"ials+itemknn, popular below 10", 2, 10, false},
      {"ials+itemknn, popular below 20", 2, 20, false},
      {"ials+itemknn+popular members", 3, 0, false},
  };
  printf("  NDCG@10 (popular = `reco eval --protocol COLD-USER --algo popular`):\n  %-40s %8s %8s %8s\n", "", "n=1",
         "n=3", "n=5");
  double res[N_CONF][3];
  static const int given[] = {1, 3, 5};
  int32_t *order = malloc(sizeof *order * 4096), *rest = malloc(sizeof *rest * 4096), hist[8], recs[10];
  int n_users = 0;
  for (int g = 0; g < 3; g++) {
    reco_rank_acc acc[N_CONF];
    for (int c = 0; c < N_CONF; c++) acc[c] = (reco_rank_acc){.k = 10};
    for (int32_t u = 0; u < te->n_users; u++) {
      int64_t a = te->uptr[u], b = te->uptr[u + 1];
      size_t len = (size_t)(b - a);
      if (len <= (size_t)given[g] || len > 4096) continue;
      for (size_t x = 0; x < len; x++) order[x] = (int32_t)(a + (int64_t)x);
      for (size_t x = 1; x < len; x++) /* by time, ties by item */
        for (size_t y = x; y > 0; y--) {
          int32_t p = order[y - 1], k = order[y];
          int64_t tp = te->ts[te->urow[p]], tk = te->ts[te->urow[k]];
          if (tp < tk || (tp == tk && te->uitem[p] < te->uitem[k])) break;
          order[y] = p; /* (this swap once wrote p and k back in place: no sorting, so the */
          order[y - 1] = k; /* history was the user's lowest item indices, not the earliest) */
        }
      for (int x = 0; x < given[g]; x++) hist[x] = te->uitem[order[x]];
      size_t n_rest = 0;
      for (size_t x = (size_t)given[g]; x < len; x++) rest[n_rest++] = te->uitem[order[x]];
      for (size_t x = 1; x < n_rest; x++)
        for (size_t y = x; y > 0 && rest[y - 1] > rest[y]; y--) {
          int32_t t = rest[y];
          rest[y] = rest[y - 1];
          rest[y - 1] = t;
        }
      reco_rec_item out[10];
      for (int c = 0; c < N_CONF; c++) {
        reco_rec_request q = request(tr, -1, conf[c].pop_only ? &popm : mem, conf[c].n_mem, pool);
        q.view = (reco_user_view){-1, hist, NULL, NULL, (size_t)given[g]};
        q.cold_model = pop;
        q.cold = RECO_COLD_POPULAR;
        q.min_interactions_for_cf = conf[c].min_cf;
        int n = reco__recommend(&q, ws, out);
        if (n < 0) return fail("recommend");
        for (int j = 0; j < n; j++) recs[j] = out[j].item;
        reco__rank_add(&acc[c], recs, n, rest, n_rest);
      }
    }
    for (int c = 0; c < N_CONF; c++) {
      reco_rank_result r = reco__rank_finish(&acc[c]);
      res[c][g] = r.ndcg;
      n_users = (int)r.users;
    }
  }
  for (int c = 0; c < N_CONF; c++)
    printf("  %-40s %8.4f %8.4f %8.4f\n", conf[c].name, res[c][0], res[c][1], res[c][2]);
  printf("  (%d held-out users with more than 5 interactions)\n", n_users);
  free(order);
  free(rest);
  reco__rec_ws_free(ws);
  reco__model_free(ials);
  reco__model_free(knn);
  reco__model_free(pop);
  reco_dataset_free(tr);
  reco_dataset_free(te);
  reco_dataset_free(all);
  return 0;
}

int main(int argc, char **argv) {
  int passes = 3, pool = RECO_REC_POOL_DEFAULT, cold = 0, hybrid = 0;
  const char *dir = NULL;
  for (int a = 1; a < argc; a++) {
    if (!strcmp(argv[a], "--passes") && a + 1 < argc) passes = atoi(argv[++a]);
    else if (!strcmp(argv[a], "--pool") && a + 1 < argc) pool = atoi(argv[++a]);
    else if (!strcmp(argv[a], "--cold")) cold = 1;
    else if (!strcmp(argv[a], "--hybrid")) hybrid = 1;
    else if (argv[a][0] != '-') dir = argv[a];
    else {
      fprintf(stderr, "usage: bench_rank [--passes N] [--pool N] [--cold] [--hybrid] ML100K_DIR\n");
      return 2;
    }
  }
  if (!dir) {
    fprintf(stderr, "usage: bench_rank [--passes N] [--pool N] [--cold] [--hybrid] ML100K_DIR\n");
    return 2;
  }
  reco_dataset *all, *tr, *te;
  if (load_u1(dir, &all, &tr, &te)) return fail("load");
  printf("TOPN-U1: %d users, %d items, %zu training pairs\n", tr->n_users, tr->n_items, tr->nnz);
  reco_model *ials = fit(tr, "ials"), *knn = fit(tr, "itemknn");
  if (!ials || !knn) return fail("fit");
  float *vec, *pop, *avg = malloc(sizeof *avg * (size_t)tr->n_items);
  int dim;
  if (reco__rec_category_vectors(tr->meta, tr->n_items, &vec, &dim) || reco__rec_item_popularity(tr, &pop))
    return fail("vectors");
  for (int32_t i = 0; i < tr->n_items; i++) {
    double s = 0;
    for (int64_t p = tr->iptr[i]; p < tr->iptr[i + 1]; p++) s += tr->ival[p];
    avg[i] = tr->iptr[i + 1] > tr->iptr[i] ? (float)(s / (double)(tr->iptr[i + 1] - tr->iptr[i])) : NAN;
  }
  size_t nb = ((size_t)tr->n_items + 7) / 8;
  uint8_t *avail = calloc(nb, 1);
  for (int32_t i = 0; i < tr->n_items; i++)
    if (i % 10 != 9) avail[i >> 3] |= (uint8_t)(1u << (i & 7));
  int32_t doc = reco__idmap_get(tr->meta->cats, "Documentary", strlen("Documentary"));
  int32_t users[1024];
  int nu = 0;
  for (int32_t u = 0; u < te->n_users && nu < 1024; u++)
    if (te->uptr[u + 1] > te->uptr[u]) users[nu++] = u;
  printf("  %d test users, %d genres, pool %d per member\n", nu, dim, pool);

  reco_rec_member mem[2] = {{ials, 1}, {knn, 1}};
  reco_rec_ws *ws;
  if (reco__rec_ws_new(tr->n_items, pool, 2, &ws)) return fail("workspace");
  reco_rec_item out[10];
  size_t n_calls = (size_t)nu * (size_t)passes;
  double *t_full = malloc(sizeof(double) * n_calls), *t_score = malloc(sizeof(double) * n_calls);
  double *t_nores = malloc(sizeof(double) * n_calls), *t_nommr = malloc(sizeof(double) * n_calls);
  float *scratch = malloc(sizeof(float) * (size_t)tr->n_items);
  size_t nt = 0;
  long n_history_reasons = 0, n_items_out = 0;
  for (int p = 0; p < passes; p++)
    for (int x = 0; x < nu; x++) {
      reco_rec_request q = request(tr, users[x], mem, 2, pool);
      q.filters.rating = avg;
      q.filters.min_rating = 2.0f;
      q.filters.exclude_cats = &doc;
      q.filters.n_exclude_cats = doc >= 0;
      q.filters.available = avail;
      q.diversity_weight = 0.3f;
      q.novelty_weight = 0.1f;
      q.item_vectors = vec;
      q.dim = dim;
      q.item_pop = pop;
      q.pop_total = tr->n_users;
      q.reasons = true;
      double t0 = reco__now();
      int n = reco__recommend(&q, ws, out);
      double t1 = reco__now();
      if (n < 0) return fail("recommend");
      if (!p)
        for (int j = 0; j < n; j++) n_history_reasons += out[j].reason == RECO_REASON_HISTORY, n_items_out++;
      ials->algo->score(ials, &q.view, scratch);
      knn->algo->score(knn, &q.view, scratch);
      double t2 = reco__now();
      q.reasons = false;
      if (reco__recommend(&q, ws, out) < 0) return fail("recommend");
      double t3 = reco__now();
      q.diversity_weight = 0;
      if (reco__recommend(&q, ws, out) < 0) return fail("recommend");
      double t4 = reco__now();
      q.reasons = true;
      t_full[nt] = (t1 - t0) * 1e6;
      t_nores[nt] = (t3 - t2) * 1e6;
      t_nommr[nt] = (t4 - t3) * 1e6;
      t_score[nt++] = (t2 - t1) * 1e6;
    }
  printf("\nlatency (ials + itemknn, %d candidates each, filters, MMR 0.3 on genres, novelty 0.1, reasons):\n", pool);
  report("whole pipeline, one request", t_full, nt);
  report("the same without reasons", t_nores, nt);
  report("the same without reasons and without MMR", t_nommr, nt);
  report("the two members' score() alone", t_score, nt);
  printf("  reasons naming a history item: %ld of %ld\n", n_history_reasons, n_items_out);

  printf("\ntrade-off over the %d TOPN-U1 users (history excluded, k = 10; ILD on genre one-hots):\n", nu);
  printf("  %-34s %8s %8s %8s %9s\n", "setting", "NDCG@10", "ILD", "novelty", "coverage");
  struct {
    const char *name;
    int n_mem, first;
    float div, nov;
  } settings[] = {
      {"ials alone", 1, 0, 0, 0},           {"itemknn alone", 1, 1, 0, 0},
      {"ials+itemknn, diversity 0", 2, 0, 0, 0}, {"ials+itemknn, diversity 0.3", 2, 0, 0.3f, 0},
      {"ials+itemknn, diversity 0.7", 2, 0, 0.7f, 0}, {"ials+itemknn, novelty 0.3", 2, 0, 0, 0.3f},
  };
  uint8_t *seen = malloc((size_t)tr->n_items);
  int32_t recs[10];
  for (size_t s = 0; s < sizeof settings / sizeof settings[0]; s++) {
    reco_rank_acc acc = {.k = 10};
    double ild_sum = 0;
    memset(seen, 0, (size_t)tr->n_items);
    for (int x = 0; x < nu; x++) {
      reco_rec_request q = request(tr, users[x], mem + settings[s].first, settings[s].n_mem, pool);
      q.diversity_weight = settings[s].div;
      q.novelty_weight = settings[s].nov;
      q.item_vectors = vec;
      q.dim = dim;
      q.item_pop = pop;
      q.pop_total = tr->n_users;
      int n = reco__recommend(&q, ws, out);
      if (n < 0) return fail("recommend");
      for (int j = 0; j < n; j++) {
        recs[j] = out[j].item;
        seen[out[j].item] = 1;
        int64_t c = tr->iptr[out[j].item + 1] - tr->iptr[out[j].item];
        acc.novelty_sum += -log2((double)(c > 0 ? c : 1) / tr->n_users);
        acc.novelty_n++;
      }
      int32_t u = users[x];
      reco__rank_add(&acc, recs, n, te->uitem + te->uptr[u], (size_t)(te->uptr[u + 1] - te->uptr[u]));
      ild_sum += ild(out, n, vec, dim);
    }
    reco_rank_result r = reco__rank_finish(&acc);
    int cov = 0;
    for (int32_t i = 0; i < tr->n_items; i++) cov += seen[i];
    printf("  %-34s %8.4f %8.4f %8.3f %9.4f\n", settings[s].name, r.ndcg, ild_sum / nu, r.novelty,
           (double)cov / tr->n_items);
  }
  free(seen);
  if (hybrid && hybrid_section(tr, te, users, nu, pool)) return 1;
  free(t_full);
  free(t_score);
  free(t_nores);
  free(t_nommr);
  free(scratch);
  free(avail);
  free(avg);
  reco__free(pop);
  reco__free_aligned(vec);
  reco__rec_ws_free(ws);
  reco__model_free(ials);
  reco__model_free(knn);
  reco_dataset_free(tr);
  reco_dataset_free(te);
  reco_dataset_free(all);
  if (cold) return cold_users(dir, pool);
  return 0;
}
