/*
 * bench_content.c - the content model's serving cost: one user's top-10 (score every item,
 * then the bounded top-k with the history excluded), timed per request on one thread, the
 * median (and 90th/99th percentiles) over every user of the dataset, as a history-only view. Measured twice: with the
 * user's whole history and with their 20 most recent items, for each scorer (neighbours,
 * profile). Also the fit time and the model's memory: the model file's size and the heap a
 * loaded model holds (glibc mallinfo2 around reco__model_load).
 * Usage: bench_content [--repeat N] [DATASET_DIR]   (default ../shared/data/ml-latest-small)
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "algo/algo.h"

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return x < y ? -1 : x > y;
}

typedef struct by_ts {
  int64_t ts;
  int32_t item;
  float value;
} by_ts;

static int cmp_ts_desc(const void *a, const void *b) {
  const by_ts *x = a, *y = b;
  if (x->ts != y->ts) return x->ts > y->ts ? -1 : 1;
  return x->item < y->item ? -1 : x->item > y->item;
}

/* Median, p90 and p99 in microseconds of one top-10 per user; max_hist 0 = whole history. */
static int time_requests(const reco_model *m, const reco_dataset *ds, size_t max_hist, int repeat, double *med,
                         double *p90, double *p99, double *mean_hist) {
  float *scratch = malloc((size_t)m->n_items * sizeof *scratch);
  double *t = malloc((size_t)ds->n_users * sizeof *t);
  by_ts *h = malloc((size_t)m->n_items * sizeof *h);
  int32_t *items = malloc((size_t)m->n_items * sizeof *items), *excl = malloc((size_t)m->n_items * sizeof *excl);
  float *vals = malloc((size_t)m->n_items * sizeof *vals);
  int32_t out[10];
  reco_topk heap;
  if (!scratch || !t || !h || !items || !excl || !vals || reco__topk_init(&heap, 10)) return RECO_ENOMEM;
  size_t nt = 0, hist_sum = 0;
  for (int32_t u = 0; u < ds->n_users; u++) {
    int64_t a = ds->uptr[u], b = ds->uptr[u + 1];
    size_t n = 0;
    for (int64_t p = a; p < b; p++) h[n++] = (by_ts){ds->ts[ds->urow[p]], ds->uitem[p], ds->uval[p]};
    if (n == 0) continue;
    if (max_hist && n > max_hist) {
      qsort(h, n, sizeof *h, cmp_ts_desc);
      n = max_hist;
    }
    for (size_t k = 0; k < n; k++) items[k] = excl[k] = h[k].item, vals[k] = h[k].value;
    qsort(excl, n, sizeof *excl, cmp_i32);
    reco_user_view v = {-1, items, vals, NULL, n};
    double best = 1e30;
    for (int r = 0; r < repeat; r++) {
      double t0 = reco__now();
      int rc = reco__model_recommend(m, &v, excl, n, 10, scratch, &heap, out, NULL);
      double dt = reco__now() - t0;
      if (rc < 0) return rc;
      if (dt < best) best = dt;
    }
    t[nt++] = best * 1e6;
    hist_sum += n;
  }
  qsort(t, nt, sizeof *t, cmp_d);
  *med = nt ? t[nt / 2] : 0;
  *p90 = nt ? t[nt * 9 / 10] : 0;
  *p99 = nt ? t[nt * 99 / 100] : 0;
  *mean_hist = nt ? (double)hist_sum / (double)nt : 0;
  reco__topk_free(&heap);
  free(scratch), free(t), free(h), free(items), free(excl), free(vals);
  return 0;
}

int main(int argc, char **argv) {
  int repeat = 3, a = 1;
  if (argc > 2 && !strcmp(argv[1], "--repeat")) {
    repeat = atoi(argv[2]);
    a = 3;
  }
  const char *dir = a < argc ? argv[a] : "../shared/data/ml-latest-small";
  if (repeat < 1) {
    fprintf(stderr, "usage: bench_content [--repeat N] [DATASET_DIR]\n");
    return 2;
  }
  reco_dataset *ds;
  if (reco_dataset_load(dir, NULL, &ds)) {
    fprintf(stderr, "bench_content: %s\n", reco_last_error());
    return 1;
  }
  printf("%s: %d users, %d items, %zu interactions; fit on %d threads; requests on this thread, best of %d per user\n", dir, ds->n_users, ds->n_items,
         ds->n, reco_get_threads(), repeat);
  printf("%-11s %7s %9s %9s %10s %10s %10s %10s\n", "scorer", "fit s", "file MB", "heap MB", "history", "median us",
         "p90 us", "p99 us");
  static const char *const scorers[] = {"neighbours", "profile"};
  for (size_t sc = 0; sc < RECO_ARRAY_LEN(scorers); sc++) {
    reco_model *m, *loaded;
    if (reco__model_new("content", &m) || reco__model_set(m, "scorer", scorers[sc]) || reco__model_fit(m, ds, NULL)) {
      fprintf(stderr, "bench_content: %s\n", reco_last_error());
      return 1;
    }
    char path[] = "/tmp/bench-content-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 1;
    close(fd);
    struct stat st;
    if (reco__model_save(m, path) || stat(path, &st)) {
      fprintf(stderr, "bench_content: %s\n", reco_last_error());
      return 1;
    }
    struct mallinfo2 before = mallinfo2();
    if (reco__model_load(path, &loaded)) {
      fprintf(stderr, "bench_content: %s\n", reco_last_error());
      return 1;
    }
    struct mallinfo2 after = mallinfo2();
    unlink(path);
    double heap_mb = (double)((after.uordblks + after.hblkhd) - (before.uordblks + before.hblkhd)) / 1e6;
    static const size_t k_hist[] = {0, 20};
    for (size_t hx = 0; hx < RECO_ARRAY_LEN(k_hist); hx++) {
      double med, p90, p99, mh;
      if (time_requests(loaded, ds, k_hist[hx], repeat, &med, &p90, &p99, &mh)) {
        fprintf(stderr, "bench_content: %s\n", reco_last_error());
        return 1;
      }
      char hist[32];
      snprintf(hist, sizeof hist, "%s%.0f", k_hist[hx] ? "last " : "all ~", mh);
      printf("%-11s %7.3f %9.2f %9.2f %10s %10.1f %10.1f %10.1f\n", scorers[sc], m->fit_s, (double)st.st_size / 1e6, heap_mb,
             hist, med, p90, p99);
    }
    reco__model_free(m);
    reco__model_free(loaded);
  }
  reco_dataset_free(ds);
  return 0;
}
