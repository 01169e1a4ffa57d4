/*
 * bench_mf_sgd.c - speed of the SGD factor models (svd.c, nmf.c): fit time on a training file
 * (median and minimum of repeated fits, so a shared machine's noise shows as the spread), the
 * RMSE on a test file, and the latency of folding in a user from a history of 20 rated items
 * (reco__mf_fold_in alone, and the whole score() with the sgemv over the catalogue).
 * Usage: bench_mf_sgd [--repeat N] [--threads N] [--algo NAME] [--set KEY=VALUE ...] TRAIN [TEST]
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/algo.h"

int reco__mf_fold_in(const reco_model *m, const reco_user_view *v, float *p, float *bu);

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int fail(const char *what) {
  fprintf(stderr, "bench_mf_sgd: %s: %s\n", what, reco_last_error());
  return 1;
}

int main(int argc, char **argv) {
  int repeat = 7, threads = 0, n_sets = 0, a = 1;
  const char *algo = "svd", *sets[32];
  for (; a < argc && argv[a][0] == '-' && a + 1 < argc; a += 2) {
    if (!strcmp(argv[a], "--repeat")) repeat = atoi(argv[a + 1]);
    else if (!strcmp(argv[a], "--threads")) threads = atoi(argv[a + 1]);
    else if (!strcmp(argv[a], "--algo")) algo = argv[a + 1];
    else if (!strcmp(argv[a], "--set") && n_sets < 32) sets[n_sets++] = argv[a + 1];
    else break;
  }
  if (a >= argc || repeat < 1) {
    fprintf(stderr, "usage: bench_mf_sgd [--repeat N] [--threads N] [--algo NAME] [--set KEY=VALUE ...] TRAIN [TEST]\n");
    return 2;
  }
  if (threads > 0) reco_set_threads(threads);
  reco_dataset *train, *test = NULL;
  if (reco_dataset_load(argv[a], NULL, &train)) return fail(argv[a]);
  if (a + 1 < argc && reco_dataset_load(argv[a + 1], NULL, &test)) return fail(argv[a + 1]);
  double *t = malloc((size_t)repeat * sizeof *t);
  reco_model *m = NULL;
  for (int r = 0; r < repeat; r++) {
    reco__model_free(m);
    if (reco__model_new(algo, &m)) return fail(algo);
    for (int s = 0; s < n_sets; s++) {
      char key[64];
      const char *eq = strchr(sets[s], '=');
      if (!eq || (size_t)(eq - sets[s]) >= sizeof key) return 2;
      memcpy(key, sets[s], (size_t)(eq - sets[s]));
      key[eq - sets[s]] = '\0';
      if (reco__model_set(m, key, eq + 1)) return fail(sets[s]);
    }
    if (reco__model_fit(m, train, NULL)) return fail("fit");
    t[r] = m->fit_s;
  }
  qsort(t, (size_t)repeat, sizeof *t, cmp_d);
  printf("%s on %s, %d threads: fit median %.4f s, min %.4f s, %d epochs run\n", algo, argv[a], reco_get_threads(),
         t[repeat / 2], t[0], m->n_curve);
  if (test) {
    /* test ids mapped through the training maps (unknown ids predict the fallbacks) */
    double se = 0;
    size_t n = 0;
    for (size_t k = 0; k < test->n; k++) {
      const char *us = reco__idmap_str(test->users, test->u[k]), *is = reco__idmap_str(test->items, test->i[k]);
      int32_t u = reco__idmap_get(train->users, us, strlen(us)), i = reco__idmap_get(train->items, is, strlen(is));
      double e = reco__model_predict(m, u, i) - test->v[k];
      se += e * e;
      n++;
    }
    printf("test RMSE %.4f over %zu ratings\n", sqrt(se / (double)(n ? n : 1)), n);
  }
  if (!strcmp(algo, "svd") || !strcmp(algo, "svdpp")) {
    /* fold-in latency: 20-item histories of training users (their first 20 ratings) */
    enum { H = 20, REP = 2000 };
    float *p = malloc(512 * sizeof *p), *out = malloc((size_t)m->n_items * sizeof *out), bu;
    double *lt = malloc(REP * sizeof *lt), *st = malloc(REP * sizeof *st);
    int32_t u = 0, reps = 0;
    for (int r = 0; r < REP; r++, u = (u + 1) % train->n_users) {
      reco_user_view v = reco__view_of(train, u);
      if (v.n < H) continue;
      v.n = H;
      v.user = -1;
      double t0 = reco__now();
      reco__mf_fold_in(m, &v, p, &bu);
      double t1 = reco__now();
      m->algo->score(m, &v, out);
      lt[reps] = (t1 - t0) * 1e6;
      st[reps++] = (reco__now() - t1) * 1e6;
    }
    qsort(lt, (size_t)reps, sizeof *lt, cmp_d);
    qsort(st, (size_t)reps, sizeof *st, cmp_d);
    printf("fold-in of a %d-item history, k=%d: median %.1f us (min %.1f); whole score() of %d items: median %.1f us\n",
           H, (int)reco__model_param(m, "factors"), lt[reps / 2], lt[0], m->n_items, st[reps / 2]);
    free(p);
    free(out);
    free(lt);
    free(st);
  }
  reco__model_free(m);
  reco_dataset_free(train);
  reco_dataset_free(test);
  free(t);
  return 0;
}
