/*
 * bench_context.c - the lift of context-aware re-ranking (src/rank/context.c), measured on
 * synthetic data generated with and without a context effect (src/data/synth.c).
 *
 * For each context_effect (the given one, then 0):
 *   1. synthetic streaming data with per-interaction device and location;
 *   2. leave-one-out by time with validation (reco__split_loo): each user's latest interaction
 *      is the test item, the second latest the validation item;
 *   3. tuning: members (ials) and the `context` model fitted on train minus validation; the
 *      pipeline (history excluded, pool 200) asked for 10 items for each user with the
 *      validation interaction's context (its device, location, time); the context weight with
 *      the best validation NDCG@10 over a grid is chosen;
 *   4. test: everything refitted on train plus validation; NDCG@10 and HR@10 of the test item
 *      with the context term off (weight 0) and at the chosen weight (and the whole grid, for
 *      the record); also the cold-start strategies alone (no history): popular against
 *      context_popular on the same test items;
 *   5. the session term, alone (context weight 0), tuned and tested the same way: the session
 *      is the user's interactions in the 3 hours before the held-out one (up to 20).
 * The request context is the held-out interaction's own (known when the request is made: the
 * device it comes from and the time), never its item.
 *
 * Usage: bench_context [--effect E] [--users N] [--items N] [--interactions N] [--seed N]
 *   e.g. build/bench_context --effect 0.5
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/algo.h"
#include "data/split.h"
#include "data/synth.h"
#include "eval/metrics.h"
#include "rank/rank.h"

static const float k_grid[] = {0, 0.05f, 0.1f, 0.2f, 0.3f, 0.5f, 1.0f};
#define SESSION_S 10800
#define SESSION_MAX 20
#define N_GRID ((int)(sizeof k_grid / sizeof k_grid[0]))

static int fail(const char *what) {
  fprintf(stderr, "bench_context: %s: %s\n", what, reco_last_error());
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

/* The COO entry of each user in part `which` (-1 if none). */
static void held_entries(const reco_dataset *ds, const uint8_t *part, int which, int64_t *entry) {
  for (int32_t u = 0; u < ds->n_users; u++) entry[u] = -1;
  for (size_t k = 0; k < ds->n; k++)
    if (part[k] == which) entry[ds->u[k]] = (int64_t)k;
}

/* The user's interactions in the SESSION_S seconds before COO entry e (oldest first). */
static size_t session_of(const reco_dataset *all, int64_t e, int32_t *out) {
  int32_t u = all->u[e];
  int64_t t = all->ts[e];
  size_t n = 0;
  for (int64_t p = all->uptr[u]; p < all->uptr[u + 1]; p++) {
    int64_t k = all->urow[p], tk = all->ts[k];
    if (k == e || tk >= t || tk < t - SESSION_S) continue;
    if (n == SESSION_MAX) { /* keep the latest: replace the oldest */
      size_t o = 0;
      for (size_t j = 1; j < n; j++)
        if (all->ts[out[j]] < all->ts[out[o]]) o = j;
      if (all->ts[out[o]] >= tk) continue;
      out[o] = (int32_t)k;
    } else out[n++] = (int32_t)k;
  }
  for (size_t x = 1; x < n; x++) /* by time */
    for (size_t y = x; y > 0 && all->ts[out[y - 1]] > all->ts[out[y]]; y--) {
      int32_t tmp = out[y];
      out[y] = out[y - 1];
      out[y - 1] = tmp;
    }
  for (size_t j = 0; j < n; j++) out[j] = all->i[out[j]];
  return n;
}

/* NDCG@10 (and HR@10) of the held-out item per user, for each context weight of the grid
 * (mode 0), for the cold strategies popular / context_popular with no history (mode 1), or for
 * each session weight of the grid (mode 2). */
static int evaluate(const reco_dataset *all, const reco_dataset *train, const int64_t *entry, reco_model *member,
                    reco_model *ctx, reco_model *pop, int mode, reco_rank_result *res) {
  reco_rec_ws *ws;
  if (reco__rec_ws_new(train->n_items, RECO_REC_POOL_DEFAULT, 1, &ws)) return -1;
  int n_conf = mode == 1 ? 2 : N_GRID;
  int32_t sess[SESSION_MAX];
  reco_rank_acc acc[N_GRID];
  for (int g = 0; g < n_conf; g++) acc[g] = (reco_rank_acc){.k = 10};
  reco_rec_member mem = {member, 1};
  reco_rec_item out[10];
  int32_t recs[10];
  for (int32_t u = 0; u < train->n_users; u++) {
    if (entry[u] < 0) continue;
    int32_t truth = all->i[entry[u]];
    size_t n_sess = mode == 2 ? session_of(all, entry[u], sess) : 0;
    for (int g = 0; g < n_conf; g++) {
      reco_rec_request q = {0};
      q.view = mode != 1 ? reco__view_of(train, u) : (reco_user_view){-1, NULL, NULL, NULL, 0};
      q.k = 10;
      q.members = &mem;
      q.n_members = 1;
      q.meta = train->meta;
      q.filters.min_rating = q.filters.price_min = q.filters.price_max = NAN;
      q.filters.exclude_seen = true;
      q.relevance_weight = NAN;
      q.context_model = ctx;
      reco__context_of_entry(ctx, all, (size_t)entry[u], &q.context);
      if (mode == 0) q.context_weight = k_grid[g];
      else if (mode == 2) {
        q.session_items = sess;
        q.n_session = n_sess;
        q.session_weight = k_grid[g];
      } else {
        q.cold_model = pop;
        q.cold = g ? RECO_COLD_CONTEXT_POPULAR : RECO_COLD_POPULAR;
      }
      int n = reco__recommend(&q, ws, out);
      if (n < 0) {
        reco__rec_ws_free(ws);
        return -1;
      }
      for (int j = 0; j < n; j++) recs[j] = out[j].item;
      reco__rank_add(&acc[g], recs, n, &truth, 1);
    }
  }
  for (int g = 0; g < n_conf; g++) res[g] = reco__rank_finish(&acc[g]);
  reco__rec_ws_free(ws);
  return 0;
}

static int run(double effect, int32_t users, int32_t items, int64_t inter, uint64_t seed) {
  reco_synth_params p;
  reco__synth_defaults(&p, RECO_SYNTH_STREAMING);
  p.n_users = users;
  p.n_items = items;
  p.n_interactions = inter;
  p.seed = seed;
  p.context = true;
  p.context_effect = effect;
  reco_dataset *all;
  if (reco__synth_generate(&p, NULL, &all)) return fail("generate");
  uint8_t *part = malloc(all->n), *keep = malloc(all->n);
  int64_t *valid = malloc(sizeof *valid * (size_t)all->n_users), *test = malloc(sizeof *test * (size_t)all->n_users);
  if (reco__split_loo(all, true, part)) return fail("split");
  held_entries(all, part, RECO_PART_VALID, valid);
  held_entries(all, part, RECO_PART_TEST, test);
  reco_dataset *tr1, *tr2;
  for (size_t k = 0; k < all->n; k++) keep[k] = part[k] == RECO_PART_TRAIN;
  if (reco__ds_subset(all, keep, &tr1)) return fail("subset");
  for (size_t k = 0; k < all->n; k++) keep[k] = part[k] != RECO_PART_TEST;
  if (reco__ds_subset(all, keep, &tr2)) return fail("subset");
  printf("\ncontext_effect %.2f: %d users, %d items, %zu interactions (streaming, device x daypart cells)\n", effect,
         all->n_users, all->n_items, all->n);

  /* tuning on validation */
  reco_model *ials = fit(tr1, "ials"), *ctx = fit(tr1, "context");
  if (!ials || !ctx) return fail("fit");
  reco_rank_result rv[N_GRID], rt[N_GRID], rc[2], sv[N_GRID], st[N_GRID];
  if (evaluate(all, tr1, valid, ials, ctx, NULL, 0, rv)) return fail("validate");
  if (evaluate(all, tr1, valid, ials, ctx, NULL, 2, sv)) return fail("validate session");
  int best = 0, sbest = 0;
  for (int g = 1; g < N_GRID; g++) {
    if (rv[g].ndcg > rv[best].ndcg + 1e-9) best = g;
    if (sv[g].ndcg > sv[sbest].ndcg + 1e-9) sbest = g;
  }
  reco__model_free(ials);
  reco__model_free(ctx);

  /* test, refitted on train + validation */
  reco_model *pop = fit(tr2, "popular");
  ials = fit(tr2, "ials");
  ctx = fit(tr2, "context");
  if (!ials || !ctx || !pop) return fail("fit");
  if (evaluate(all, tr2, test, ials, ctx, NULL, 0, rt)) return fail("test");
  if (evaluate(all, tr2, test, ials, ctx, pop, 1, rc)) return fail("cold");
  if (evaluate(all, tr2, test, ials, ctx, NULL, 2, st)) return fail("session");
  printf("  %-26s %10s %10s %10s\n", "context weight", "valid", "test", "test HR@10");
  for (int g = 0; g < N_GRID; g++)
    printf("  %-26.2f %10.4f %10.4f %10.4f%s\n", k_grid[g], rv[g].ndcg, rt[g].ndcg, rt[g].hr,
           g == best ? "   <- chosen on validation" : "");
  printf("  => NDCG@10 on test: without context %.4f, with context (weight %.2f) %.4f (%+.1f%%), %zu users\n",
         rt[0].ndcg, k_grid[best], rt[best].ndcg, rt[0].ndcg > 0 ? 100 * (rt[best].ndcg / rt[0].ndcg - 1) : 0,
         rt[0].users);
  printf("  cold start, no history: popular NDCG@10 %.4f, context_popular %.4f\n", rc[0].ndcg, rc[1].ndcg);
  printf("  session term alone: weight chosen on validation %.2f; test NDCG@10 %.4f -> %.4f (%+.1f%%)\n", k_grid[sbest],
         st[0].ndcg, st[sbest].ndcg, st[0].ndcg > 0 ? 100 * (st[sbest].ndcg / st[0].ndcg - 1) : 0);
  reco__model_free(ials);
  reco__model_free(ctx);
  reco__model_free(pop);
  reco_dataset_free(tr1);
  reco_dataset_free(tr2);
  reco_dataset_free(all);
  free(part);
  free(keep);
  free(valid);
  free(test);
  return 0;
}

int main(int argc, char **argv) {
  double effect = 0.5;
  long users = 6000, items = 2000, inter = 400000, seed = 42;
  for (int a = 1; a < argc; a++) {
    if (!strcmp(argv[a], "--effect") && a + 1 < argc) effect = atof(argv[++a]);
    else if (!strcmp(argv[a], "--users") && a + 1 < argc) users = atol(argv[++a]);
    else if (!strcmp(argv[a], "--items") && a + 1 < argc) items = atol(argv[++a]);
    else if (!strcmp(argv[a], "--interactions") && a + 1 < argc) inter = atol(argv[++a]);
    else if (!strcmp(argv[a], "--seed") && a + 1 < argc) seed = atol(argv[++a]);
    else {
      fprintf(stderr, "usage: bench_context [--effect E] [--users N] [--items N] [--interactions N] [--seed N]\n");
      return 2;
    }
  }
  if (!(effect > 0 && effect <= 1)) {
    fprintf(stderr, "bench_context: --effect must be in (0, 1]\n");
    return 2;
  }
  if (run(effect, (int32_t)users, (int32_t)items, inter, (uint64_t)seed)) return 1;
  return run(0, (int32_t)users, (int32_t)items, inter, (uint64_t)seed);
}
