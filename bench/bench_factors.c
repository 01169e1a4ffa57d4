/*
 * bench_factors.c - how fast factor models answer top-N (src/algo/factors.c):
 *   1. one user's top-10 over the catalogue: every item scored in one pass over the contiguous
 *      item-factor matrix (reco__factors_score, a matrix-vector product), then the bounded heap
 *      (what score() + the top-k selection of reco__model_recommend do for a known user);
 *      median over --reps users;
 *   2. batch top-10 for --batch-users users (reco__factors_topk_batch: a register-blocked
 *      matrix product over blocks of 128 users x 2048 items, then a heap per user); median of
 *      --batch-reps runs;
 *   3. fold-in: score() for a new user known only by a --history-item history (user = -1), for
 *      ials (closed form, preconditioned CG) and bpr (SGD steps) at the same factor count, on a
 *      small fitted model so that the catalogue scan is a small part; the fold-in cost is that
 *      time minus the same call for a known user. Median over --reps histories.
 * Random factors (N(0, 1/k)) are enough for 1 and 2: the work does not depend on the values.
 * The bound on 1 is memory bandwidth: 50,000 x 64 floats is 12.8 MB per scan.
 *
 *   bench_factors [--items N] [--factors K] [--reps N] [--batch-users N] [--batch-reps N]
 *                 [--history N] [--threads N] [--seed N]
 *
 * Prints a human-readable report and, last, one JSON line.
 */
#include <cblas.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/factors.h"

static int cmp_dbl(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_dbl);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* A random implicit dataset for the fold-in models: n_users x n_items, ~40 items per user with
 * a popularity skew, values 1..5. */
static reco_dataset *random_dataset(int32_t n_users, int32_t n_items, uint64_t seed) {
  reco_dataset *d = reco__ds_new();
  if (!d) return NULL;
  reco_rng r;
  reco__rng_seed(&r, seed);
  char id[32];
  for (int32_t u = 0; u < n_users; u++) reco__ds_user(d, id, (size_t)snprintf(id, sizeof id, "u%d", u));
  for (int32_t i = 0; i < n_items; i++) reco__ds_item(d, id, (size_t)snprintf(id, sizeof id, "i%d", i));
  for (int32_t u = 0; u < n_users; u++)
    for (int t = 0; t < 40; t++) {
      double x = reco__rng_uniform(&r);
      int32_t i = (int32_t)(x * x * n_items);
      if (reco__ds_add(d, u, i, 1.0f + (float)reco__rng_below(&r, 5), t, RECO_EV_RATING)) {
        reco_dataset_free(d);
        return NULL;
      }
    }
  d->has_values = true;
  if (reco__ds_finalize(d)) {
    reco_dataset_free(d);
    return NULL;
  }
  return d;
}

/* Median microseconds of score() for views with a `hist`-item history, anonymous or known. */
static int time_foldin(const char *algo, const reco_dataset *d, int k, int hist, int reps, uint64_t seed, double *anon_us,
                       double *known_us) {
  reco_model *m;
  char kb[16];
  snprintf(kb, sizeof kb, "%d", k);
  int rc = reco__model_new(algo, &m);
  if (!rc) rc = reco__model_set(m, "factors", kb);
  if (!rc) rc = reco__model_set(m, "epochs", "3");
  if (!rc) rc = reco__model_set(m, "similar_k", "0");
  if (!rc) rc = reco__model_fit(m, d, NULL);
  if (rc) {
    fprintf(stderr, "bench_factors: %s: %s\n", algo, reco_last_error());
    reco__model_free(m);
    return rc;
  }
  float *out = reco__aligned_alloc((size_t)m->n_items * sizeof *out);
  double *ta = malloc((size_t)reps * sizeof *ta), *tk = malloc((size_t)reps * sizeof *tk);
  int32_t *items = malloc((size_t)hist * sizeof *items);
  float *vals = malloc((size_t)hist * sizeof *vals);
  reco_rng r;
  reco__rng_seed(&r, seed);
  volatile float sink = 0;
  for (int q = 0; q < reps; q++) {
    for (int h = 0; h < hist; h++) {
      items[h] = (int32_t)reco__rng_below(&r, (uint64_t)m->n_items);
      vals[h] = 1.0f + (float)reco__rng_below(&r, 5);
    }
    reco_user_view v = {-1, items, vals, NULL, (size_t)hist};
    double t0 = reco__now();
    m->algo->score(m, &v, out);
    ta[q] = (reco__now() - t0) * 1e6;
    sink += out[q % m->n_items];
    v.user = (int32_t)reco__rng_below(&r, (uint64_t)m->n_users);
    t0 = reco__now();
    m->algo->score(m, &v, out);
    tk[q] = (reco__now() - t0) * 1e6;
    sink += out[q % m->n_items];
  }
  (void)sink;
  *anon_us = median(ta, reps);
  *known_us = median(tk, reps);
  reco__free_aligned(out);
  free(ta);
  free(tk);
  free(items);
  free(vals);
  reco__model_free(m);
  return 0;
}

int main(int argc, char **argv) {
  static const struct option opts[] = {{"items", required_argument, NULL, 'i'},
                                       {"factors", required_argument, NULL, 'k'},
                                       {"reps", required_argument, NULL, 'r'},
                                       {"batch-users", required_argument, NULL, 'b'},
                                       {"batch-reps", required_argument, NULL, 'B'},
                                       {"history", required_argument, NULL, 'H'},
                                       {"threads", required_argument, NULL, 't'},
                                       {"seed", required_argument, NULL, 's'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0}};
  long n_items = 50000, k = 64, reps = 301, batch_users = 100000, batch_reps = 3, hist = 20, threads = 0, seed = 42;
  int c;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 'i': n_items = atol(optarg); break;
    case 'k': k = atol(optarg); break;
    case 'r': reps = atol(optarg); break;
    case 'b': batch_users = atol(optarg); break;
    case 'B': batch_reps = atol(optarg); break;
    case 'H': hist = atol(optarg); break;
    case 't': threads = atol(optarg); break;
    case 's': seed = atol(optarg); break;
    case 'h':
      printf("Usage: bench_factors [--items N] [--factors K] [--reps N] [--batch-users N] [--batch-reps N]\n"
             "                     [--history N] [--threads N] [--seed N]\n");
      return 0;
    default: return 2;
    }
  }
  if (n_items < 10 || k < 1 || k > RECO_FACTORS_MAX || reps < 1 || batch_users < 1 || batch_reps < 1 || hist < 1) {
    fprintf(stderr, "bench_factors: bad arguments\n");
    return 2;
  }
  if (threads > 0) reco_set_threads((int)threads);
  int32_t ni = (int32_t)n_items, nu = (int32_t)batch_users;
  reco_factors f;
  if (reco__factors_alloc(&f, nu, ni, (int)k, false, false)) {
    fprintf(stderr, "bench_factors: %s\n", reco_last_error());
    return 1;
  }
  double sd = 1.0 / sqrt((double)k);
  reco__factors_randn(f.U, (size_t)nu * (size_t)k, sd, (uint64_t)seed);
  reco__factors_randn(f.V, (size_t)ni * (size_t)k, sd, (uint64_t)seed + 1);

  /* 1. one user's top-10 */
  float *scores = reco__aligned_alloc((size_t)ni * sizeof *scores);
  double *t = malloc((size_t)(reps > batch_reps ? reps : batch_reps) * sizeof *t);
  reco_topk heap;
  if (!scores || !t || reco__topk_init(&heap, 10)) return 1;
  int32_t best = -1;
  for (long q = 0; q < reps; q++) {
    int32_t u = (int32_t)((q * 7919) % nu);
    double t0 = reco__now();
    reco__factors_score(&f, f.U + (size_t)u * (size_t)k, 0, scores);
    reco__topk_reset(&heap);
    for (int32_t i = 0; i < ni; i++) reco__topk_push(&heap, scores[i], i);
    reco__topk_sort(&heap);
    t[q] = (reco__now() - t0) * 1e6;
    best ^= heap.id[0];
  }
  double one_us = median(t, (int)reps);

  /* 2. batch top-10 */
  int32_t *users = malloc((size_t)nu * sizeof *users), *out = malloc((size_t)nu * 10 * sizeof *out);
  if (!users || !out) return 1;
  for (int32_t u = 0; u < nu; u++) users[u] = u;
  int mismatch = 0;
  for (long q = 0; q < batch_reps; q++) {
    double t0 = reco__now();
    if (reco__factors_topk_batch(f.U, f.V, NULL, nu, ni, (int)k, users, (size_t)nu, 10, NULL, out, NULL)) {
      fprintf(stderr, "bench_factors: batch: %s\n", reco_last_error());
      return 1;
    }
    t[q] = reco__now() - t0;
  }
  double batch_s = median(t, (int)batch_reps);
  /* spot check against the single-user path */
  for (int32_t u = 0; u < nu; u += nu / 50 + 1) {
    reco__factors_score(&f, f.U + (size_t)u * (size_t)k, 0, scores);
    reco__topk_reset(&heap);
    for (int32_t i = 0; i < ni; i++) reco__topk_push(&heap, scores[i], i);
    reco__topk_sort(&heap);
    mismatch += heap.id[0] != out[(size_t)u * 10];
  }

  /* 3. fold-in on small fitted models */
  reco_dataset *d = random_dataset(2000, 2000, (uint64_t)seed);
  double ials_anon = NAN, ials_known = NAN, bpr_anon = NAN, bpr_known = NAN;
  if (!d || time_foldin("ials", d, (int)k, (int)hist, (int)reps, (uint64_t)seed, &ials_anon, &ials_known) ||
      time_foldin("bpr", d, (int)k, (int)hist, (int)reps, (uint64_t)seed, &bpr_anon, &bpr_known))
    return 1;
  reco_dataset_free(d);

  const char *core = openblas_get_corename();
  printf("bench_factors: %d items, %ld factors, %d threads (OpenBLAS would use its %s kernels; these paths do not call it)\n",
         ni, k, reco_get_threads(), core);
  printf("  one user's top-10       %9.1f us  (median of %ld; one pass over the item factors + heap)\n", one_us, reps);
  printf("  batch top-10            %9.3f s   for %d users = %.1f us/user, %.0f users/s (median of %ld)%s\n", batch_s,
         nu, batch_s * 1e6 / nu, nu / batch_s, batch_reps, mismatch ? "  MISMATCH vs single-user path" : "");
  printf("  fold-in, %ld-item history, 2,000 items: ials score %.1f us (known user %.1f us: fold-in ~%.1f us);\n"
         "                                         bpr score %.1f us (known user %.1f us: fold-in ~%.1f us)\n",
         hist, ials_anon, ials_known, ials_anon - ials_known, bpr_anon, bpr_known, bpr_anon - bpr_known);
  printf("{\"items\": %d, \"factors\": %ld, \"threads\": %d, \"blas_core\": \"%s\", \"one_user_top10_us\": %.2f, "
         "\"batch_users\": %d, \"batch_top10_s\": %.4f, \"batch_us_per_user\": %.3f, \"batch_mismatch\": %d, "
         "\"history\": %ld, \"ials_foldin_score_us\": %.2f, \"ials_known_score_us\": %.2f, \"bpr_foldin_score_us\": %.2f, "
         "\"bpr_known_score_us\": %.2f, \"check\": %d}\n",
         ni, k, reco_get_threads(), core, one_us, nu, batch_s, batch_s * 1e6 / nu, mismatch, hist, ials_anon, ials_known,
         bpr_anon, bpr_known, best);
  reco__topk_free(&heap);
  reco__free_aligned(scores);
  free(t);
  free(users);
  free(out);
  reco__factors_free(&f);
  return mismatch ? 1 : 0;
}
