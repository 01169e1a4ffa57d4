/*
 * bench_ease.c - serving speed of EASE (src/algo/ease.c) in-process, without HTTP:
 *   - recommend: the top 10 for a brand-new user given a 20-item history (the 20 latest
 *     interactions of every ml-100k user with at least 20; user index withheld, so the model
 *     scores the bare history x B, then the top 10 excluding the history);
 *   - similar: the 10 nearest items of one item (a lookup in the neighbour lists of fit).
 * Medians over users and items, each call timed alone (the clock's own cost, some 20 ns, is
 * included); `similar` is also timed in batches, which gives its cost without the clock.
 * Prints the model's memory (the bytes of its arrays, as its model-file sections hold them).
 *
 * usage: bench_ease ML100K_DIR [KEY=VALUE ...]   (model parameters, defaults otherwise)
 * The model is fitted on u1.base (the TOPN-U1 training set) when present, else on the folder.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "algo/algo.h"
#include "data/load.h"

#define HIST 20
#define TOPK 10
#define REPS 5

static int cmp_dbl(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

static double pct(double *v, size_t n, double q) {
  qsort(v, n, sizeof *v, cmp_dbl);
  size_t k = (size_t)(q * (double)(n - 1) + 0.5);
  return v[k];
}

static int die(const char *what, int rc) {
  fprintf(stderr, "bench_ease: %s: %s (%s)\n", what, reco_last_error(), reco_strerror(rc));
  return 1;
}

/* Bytes of the model's arrays: its sections in a saved model file, metadata excluded. */
static double model_bytes(const reco_model *m) {
  char path[] = "/tmp/bench-ease-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return -1;
  close(fd);
  double total = -1;
  reco_mf_reader *r;
  if (reco__model_save(m, path) == 0 && reco__mf_open_meta(path, &r) == 0) {
    total = 0;
    reco_mf_section_info si;
    for (size_t k = 0; reco__mf_section_at(r, k, &si); k++)
      if (si.name[0] != '_') total += (double)si.bytes;
    reco__mf_close(r);
  }
  unlink(path);
  return total;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_ease ML100K_DIR [KEY=VALUE ...]\n");
    return 2;
  }
  char base[4096];
  snprintf(base, sizeof base, "%s/u1.base", argv[1]);
  reco_dataset *ds;
  int rc;
  if (access(base, R_OK) == 0) {
    ds = reco__ds_new();
    rc = ds ? reco__load_into(ds, base, NULL) : RECO_ENOMEM;
    if (!rc) rc = reco__ds_finalize(ds);
  } else {
    snprintf(base, sizeof base, "%s", argv[1]);
    rc = reco_dataset_load(argv[1], NULL, &ds);
  }
  if (rc) return die(base, rc);

  reco_model *m;
  if ((rc = reco__model_new("ease", &m))) return die("model", rc);
  for (int a = 2; a < argc; a++) {
    char *eq = strchr(argv[a], '=');
    if (!eq) return die(argv[a], RECO_EINVAL);
    *eq = '\0';
    if ((rc = reco__model_set(m, argv[a], eq + 1))) return die(argv[a], rc);
  }
  double t0 = reco__now();
  if ((rc = reco__model_fit(m, ds, NULL))) return die("fit", rc);
  double fit_s = reco__now() - t0;
  char params[1024];
  reco__model_params_json(m, params, sizeof params);
  printf("data        %s: %d users, %d items, %zu interactions\n", base, ds->n_users, ds->n_items, ds->nnz);
  printf("model       ease %s\n", params);
  printf("chosen      %s\n", m->metrics[0] ? m->metrics : "(parameters given, no validation)");
  printf("fit         %.3f s (%d threads)\n", fit_s, reco_get_threads());
  printf("memory      %.2f MB of model arrays; peak RSS %.1f MB\n", model_bytes(m) / 1e6, reco__peak_rss() / 1e6);

  /* histories: each user's 20 latest interactions (by time, so not sorted by item) */
  int32_t *hist = malloc((size_t)ds->n_users * HIST * sizeof *hist);
  int32_t *excl = malloc((size_t)ds->n_users * HIST * sizeof *excl);
  int32_t nh = 0;
  for (int32_t u = 0; u < ds->n_users; u++) {
    int64_t a = ds->uptr[u], b = ds->uptr[u + 1];
    if (b - a < HIST) continue;
    int32_t *h = hist + (size_t)nh * HIST;
    int64_t *ts = malloc((size_t)(b - a) * sizeof *ts);
    int32_t cnt = 0;
    for (int64_t p = a; p < b; p++) ts[p - a] = ds->ts[ds->urow[p]];
    /* select the HIST latest by repeated max (histories are short) */
    for (; cnt < HIST; cnt++) {
      int64_t best = -1;
      for (int64_t p = a; p < b; p++)
        if (ts[p - a] != INT64_MIN && (best < 0 || ts[p - a] > ts[best - a])) best = p;
      h[cnt] = ds->uitem[best];
      ts[best - a] = INT64_MIN;
    }
    free(ts);
    memcpy(excl + (size_t)nh * HIST, h, HIST * sizeof *h);
    qsort(excl + (size_t)nh * HIST, HIST, sizeof *excl, cmp_i32);
    nh++;
  }

  float *scratch = reco__aligned_alloc((size_t)m->n_items * sizeof *scratch);
  reco_topk heap;
  reco__topk_init(&heap, TOPK);
  int32_t out[TOPK];
  float sc[TOPK];
  double *times = malloc((size_t)nh * REPS * sizeof *times);
  size_t nt = 0;
  for (int rep = 0; rep <= REPS; rep++) /* rep 0 warms the caches */
    for (int32_t x = 0; x < nh; x++) {
      reco_user_view v = {-1, hist + (size_t)x * HIST, NULL, NULL, HIST};
      double t = reco__now();
      int n = reco__model_recommend(m, &v, excl + (size_t)x * HIST, HIST, TOPK, scratch, &heap, out, sc);
      t = reco__now() - t;
      if (n != TOPK) return die("recommend", n < 0 ? n : RECO_ESTATE);
      if (rep) times[nt++] = t * 1e6;
    }
  double med = pct(times, nt, 0.5), p90 = pct(times, nt, 0.9), p99 = pct(times, nt, 0.99);
  printf("recommend   top-%d from a %d-item history (new user): median %.2f us, p90 %.2f us, p99 %.2f us "
         "(%d users x %d)\n",
         TOPK, HIST, med, p90, p99, nh, REPS);

  double *st = malloc((size_t)m->n_items * REPS * sizeof *st);
  size_t ns = 0;
  long found = 0;
  for (int rep = 0; rep <= REPS; rep++)
    for (int32_t j = 0; j < m->n_items; j++) {
      double t = reco__now();
      int n = m->algo->similar(m, j, TOPK, out, sc);
      t = reco__now() - t;
      if (n < 0) return die("similar", n);
      if (rep) st[ns++] = t * 1e6, found += n;
    }
  double smed = pct(st, ns, 0.5);
  const int batch = 200;
  double tb = reco__now();
  for (int r = 0; r < batch; r++)
    for (int32_t j = 0; j < m->n_items; j++) found += m->algo->similar(m, j, TOPK, out, sc);
  tb = (reco__now() - tb) / ((double)batch * m->n_items);
  printf("similar     top-%d of one item: median %.3f us per call timed alone, %.1f ns per call in batches "
         "(%d items, %.1f neighbours on average)\n",
         TOPK, smed, tb * 1e9, m->n_items, (double)found / (double)(ns + (size_t)batch * (size_t)m->n_items));

  free(st);
  free(times);
  free(hist);
  free(excl);
  reco__free_aligned(scratch);
  reco__topk_free(&heap);
  reco__model_free(m);
  reco_dataset_free(ds);
  return 0;
}
