/*
 * bench_knn.c - serving latency of the neighbourhood models in-process: `similar` for every
 * item (top 10) and `recommend` (score + top-10 with the history excluded) for every user from
 * a 20-item history given as a view with user index -1, so nothing is precomputed for the
 * user. Each measurement is repeated over several passes and the median, 90th percentile and
 * minimum per call are printed, with the fit time and the model's memory: the bytes of its
 * saved sections (the arrays it holds), largest first.
 * Usage: bench_knn [--algo NAME[,NAME...]] [--set KEY=VALUE ...] [--passes N] ML100K_PATH
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "algo/algo.h"

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int fail(const char *what) {
  fprintf(stderr, "bench_knn: %s: %s\n", what, reco_last_error());
  return 1;
}

static void report(const char *what, double *t, size_t n) {
  qsort(t, n, sizeof *t, cmp_d);
  printf("  %-34s median %7.2f us   p90 %7.2f us   min %7.2f us   (%zu calls)\n", what, t[n / 2], t[n * 9 / 10], t[0],
         n);
}

/* Sections of the saved model: total bytes and the largest few. */
static int model_memory(const reco_model *m) {
  char path[] = "/tmp/bench-knn-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return 1;
  close(fd);
  reco_mf_reader *r;
  if (reco__model_save(m, path) || reco__mf_open(path, &r)) {
    unlink(path);
    return fail("save");
  }
  size_t n = reco__mf_n_sections(r);
  uint64_t total = 0;
  reco_mf_section_info info[64];
  size_t k = 0;
  for (size_t j = 0; j < n && k < 64; j++)
    if (reco__mf_section_at(r, j, &info[k])) total += info[k++].bytes;
  /* largest first */
  for (size_t x = 1; x < k; x++)
    for (size_t y = x; y > 0 && info[y - 1].bytes < info[y].bytes; y--) {
      reco_mf_section_info t = info[y];
      info[y] = info[y - 1];
      info[y - 1] = t;
    }
  printf("  model memory: %.2f MB in %zu arrays (file %.2f MB); largest:", total / 1e6, k,
         (double)reco__mf_size(r) / 1e6);
  for (size_t x = 0; x < k && x < 5; x++) printf(" %s %.2f MB;", info[x].name, info[x].bytes / 1e6);
  printf("\n");
  reco__mf_close(r);
  unlink(path);
  return 0;
}

static int bench(const char *algo, const char *const *sets, int n_sets, int passes, const reco_dataset *d) {
  reco_model *m;
  if (reco__model_new(algo, &m)) return fail(algo);
  for (int s = 0; s < n_sets; s++) {
    char key[64];
    const char *eq = strchr(sets[s], '=');
    if (!eq || (size_t)(eq - sets[s]) >= sizeof key) return 2;
    memcpy(key, sets[s], (size_t)(eq - sets[s]));
    key[eq - sets[s]] = '\0';
    if (reco__model_set(m, key, eq + 1)) continue; /* a key for another algorithm */
  }
  if (reco__model_fit(m, d, NULL)) return fail("fit");
  char pj[2048];
  reco__model_params_json(m, pj, sizeof pj);
  printf("%s  %s\n  fit %.3f s on %zu ratings (%d users, %d items)\n", algo, pj, m->fit_s, d->nnz, d->n_users,
         d->n_items);
  if (model_memory(m)) return 1;

  float *scratch = reco__aligned_alloc((size_t)m->n_items * sizeof(float));
  reco_topk heap;
  if (!scratch || reco__topk_init(&heap, 10)) return fail("alloc");
  size_t cap = (size_t)passes * (size_t)(d->n_users > d->n_items ? d->n_users : d->n_items);
  double *t = malloc(cap * sizeof *t);
  int32_t out[10];
  float sc[10];
  size_t n = 0;
  double sink = 0;
  for (int p = 0; p < passes; p++)
    for (int32_t u = 0; u < d->n_users; u++) {
      int64_t a = d->uptr[u];
      if (d->uptr[u + 1] - a < 20) continue;
      /* the first 20 of the user's row: sorted by index, so also the exclusion list */
      reco_user_view v = {-1, d->uitem + a, d->uval + a, NULL, 20};
      double t0 = reco__now();
      int k = reco__model_recommend(m, &v, v.items, 20, 10, scratch, &heap, out, sc);
      t[n++] = (reco__now() - t0) * 1e6;
      if (k < 0) return fail("recommend");
      sink += sc[0];
    }
  report("recommend (20-item history, top 10)", t, n);
  if (m->algo->similar) {
    n = 0;
    for (int p = 0; p < passes; p++)
      for (int32_t i = 0; i < d->n_items; i++) {
        double t0 = reco__now();
        int k = m->algo->similar(m, i, 10, out, sc);
        t[n++] = (reco__now() - t0) * 1e6;
        if (k < 0) return fail("similar");
        sink += k;
      }
    report("similar (top 10)", t, n);
  }
  if (m->algo->caps & RECO_CAP_RATING) {
    n = 0;
    for (int32_t u = 0; u < d->n_users; u++) {
      double t0 = reco__now();
      for (int64_t q = d->uptr[u]; q < d->uptr[u + 1]; q++) sink += reco__model_predict(m, u, d->uitem[q]);
      double dt = reco__now() - t0;
      if (d->uptr[u + 1] > d->uptr[u]) t[n++] = dt * 1e6 / (double)(d->uptr[u + 1] - d->uptr[u]);
    }
    report("predict (per rating, user's mean)", t, n);
  }
  if (sink == 12345.678) printf("\n"); /* keep the calls */
  free(t);
  reco__topk_free(&heap);
  reco__free_aligned(scratch);
  reco__model_free(m);
  return 0;
}

int main(int argc, char **argv) {
  int passes = 5, n_sets = 0, a = 1;
  const char *algos = "itemknn", *sets[32];
  for (; a < argc && argv[a][0] == '-' && a + 1 < argc; a += 2) {
    if (!strcmp(argv[a], "--algo"))
      algos = argv[a + 1];
    else if (!strcmp(argv[a], "--passes"))
      passes = atoi(argv[a + 1]);
    else if (!strcmp(argv[a], "--set") && n_sets < 32)
      sets[n_sets++] = argv[a + 1];
    else
      break;
  }
  if (a >= argc || passes < 1) {
    fprintf(stderr, "usage: bench_knn [--algo NAME[,NAME...]] [--set KEY=VALUE ...] [--passes N] ML100K_PATH\n");
    return 2;
  }
  reco_dataset *d;
  if (reco_dataset_load(argv[a], NULL, &d)) return fail(argv[a]);
  char list[256];
  snprintf(list, sizeof list, "%s", algos);
  int rc = 0;
  for (char *save, *name = strtok_r(list, ",", &save); name && !rc; name = strtok_r(NULL, ",", &save))
    rc = bench(name, sets, n_sets, passes, d);
  reco_dataset_free(d);
  return rc;
}
