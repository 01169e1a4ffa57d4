/*
 * bench_ease_scale.c - EASE (src/algo/ease.c) at catalogue scale: a synthetic streaming dataset
 * (src/data/synth.h, reco__synth_generate: 10 million interactions, 20,000 items, 100,000 users
 * by default), fitted with the given parameters; prints the time of each stage, the peak
 * resident memory after each, the model's own memory, and the serving speed of the resulting
 * (by default pruned) model: top-10 for a 20-item history and `similar`.
 *
 * usage: bench_ease_scale [--interactions N] [--items N] [--users N] [--seed N] [KEY=VALUE ...]
 * KEY=VALUE are EASE parameters (e.g. lambda=400 dropout=0.25 form=dlae topk=512). With the
 * defaults (lambda, dropout and form chosen on validation) the fit runs one n x n solve per
 * validation candidate, some 8-12 of them: see the file comment of ease.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "algo/algo.h"
#include "data/synth.h"

#define HIST 20
#define TOPK 10

static int cmp_dbl(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

static int die(const char *what, int rc) {
  fprintf(stderr, "bench_ease_scale: %s: %s (%s)\n", what, reco_last_error(), reco_strerror(rc));
  return 1;
}

static int on_progress(void *ud, const char *stage, double done, double total, const char *info) {
  (void)ud;
  fprintf(stderr, "  [%6.1f s, peak %.2f GB] %s %.0f/%.0f %s\n", reco__now() - *(double *)ud, reco__peak_rss() / 1e9,
          stage, done, total, info ? info : "");
  return 0;
}

static void on_log(int level, const char *msg, void *ud) {
  (void)ud;
  fprintf(stderr, "  log: %s\n", msg);
}

static double model_bytes(const reco_model *m) {
  char path[] = "/tmp/bench-ease-scale-XXXXXX";
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
  reco_synth_params sp;
  reco__synth_defaults(&sp, RECO_SYNTH_STREAMING);
  sp.n_interactions = 10000000;
  sp.n_items = 20000;
  sp.n_users = 100000;
  reco_set_log(on_log, NULL, getenv("RECO_DEBUG") ? RECO_LOG_DEBUG : RECO_LOG_INFO);
  reco_model *m;
  int rc = reco__model_new("ease", &m);
  if (rc) return die("model", rc);
  for (int a = 1; a < argc; a++) {
    if (!strcmp(argv[a], "--interactions") && a + 1 < argc) sp.n_interactions = atoll(argv[++a]);
    else if (!strcmp(argv[a], "--items") && a + 1 < argc) sp.n_items = atoi(argv[++a]);
    else if (!strcmp(argv[a], "--users") && a + 1 < argc) sp.n_users = atoi(argv[++a]);
    else if (!strcmp(argv[a], "--seed") && a + 1 < argc) sp.seed = strtoull(argv[++a], NULL, 10);
    else {
      char *eq = strchr(argv[a], '=');
      if (!eq) return die(argv[a], RECO_EINVAL);
      *eq = '\0';
      if ((rc = reco__model_set(m, argv[a], eq + 1))) return die(argv[a], rc);
    }
  }
  double t_start = reco__now();
  reco_progress pr = {on_progress, &t_start};
  double t0 = reco__now();
  reco_dataset *ds;
  if ((rc = reco__synth_generate(&sp, NULL, &ds))) return die("synth", rc);
  double gen_s = reco__now() - t0;
  double sum_sq = 0;
  for (int32_t u = 0; u < ds->n_users; u++) {
    double n = (double)(ds->uptr[u + 1] - ds->uptr[u]);
    sum_sq += n * n;
  }
  printf("data        synthetic streaming (reco__synth_generate, seed %llu): %d users, %d items, %zu events, "
         "%zu distinct pairs; sum n_u^2 = %.3g\n",
         (unsigned long long)sp.seed, ds->n_users, ds->n_items, ds->n, ds->nnz, sum_sq);
  printf("generate    %.2f s, peak RSS %.2f GB\n", gen_s, reco__peak_rss() / 1e9);
  double rss_data = reco__peak_rss() / 1e9;

  t0 = reco__now();
  if ((rc = reco__model_fit(m, ds, &pr))) return die("fit", rc);
  double fit_s = reco__now() - t0;
  char params[1024];
  reco__model_params_json(m, params, sizeof params);
  printf("model       ease %s\n", params);
  printf("chosen      %s\n", m->metrics[0] ? m->metrics : "(parameters given, no validation)");
  printf("fit         %.2f s (%d threads), peak RSS %.2f GB (%.2f GB after generation)\n", fit_s, reco_get_threads(),
         reco__peak_rss() / 1e9, rss_data);
  printf("memory      %.1f MB of model arrays\n", model_bytes(m) / 1e6);

  /* serving: the 20 latest items of up to 2000 users with >= 20, as new-user histories */
  float *scratch = reco__aligned_alloc((size_t)m->n_items * sizeof *scratch);
  reco_topk heap;
  reco__topk_init(&heap, TOPK);
  int32_t out[TOPK], hist[HIST], excl[HIST];
  float sc[TOPK];
  double *times = malloc(2000 * 3 * sizeof *times);
  size_t nt = 0;
  for (int rep = 0; rep < 4; rep++)
    for (int32_t u = 0, used = 0; u < ds->n_users && used < 2000; u++) {
      int64_t a = ds->uptr[u], b = ds->uptr[u + 1];
      if (b - a < HIST) continue;
      used++;
      for (int x = 0; x < HIST; x++) hist[x] = ds->uitem[b - 1 - x]; /* descending ids: not sorted ascending */
      memcpy(excl, hist, sizeof hist);
      qsort(excl, HIST, sizeof *excl, cmp_i32);
      reco_user_view v = {-1, hist, NULL, NULL, HIST};
      double t = reco__now();
      int n = reco__model_recommend(m, &v, excl, HIST, TOPK, scratch, &heap, out, sc);
      t = reco__now() - t;
      if (n < 0) return die("recommend", n);
      if (rep) times[nt++] = t * 1e6; /* rep 0 warms up */
    }
  qsort(times, nt, sizeof *times, cmp_dbl);
  printf("recommend   top-%d from a %d-item history: median %.2f us, p90 %.2f us (%zu calls)\n", TOPK, HIST,
         nt ? times[nt / 2] : 0, nt ? times[nt * 9 / 10] : 0, nt);
  /* of which scoring alone (x B into all n_items outputs), the rest being the top-k selection */
  nt = 0;
  for (int rep = 0; rep < 4; rep++)
    for (int32_t u = 0, used = 0; u < ds->n_users && used < 2000; u++) {
      int64_t a = ds->uptr[u], b = ds->uptr[u + 1];
      if (b - a < HIST) continue;
      used++;
      for (int x = 0; x < HIST; x++) hist[x] = ds->uitem[b - 1 - x];
      reco_user_view v = {-1, hist, NULL, NULL, HIST};
      double t = reco__now();
      m->algo->score(m, &v, scratch);
      t = reco__now() - t;
      if (rep) times[nt++] = t * 1e6;
    }
  qsort(times, nt, sizeof *times, cmp_dbl);
  printf("  score     x B alone: median %.2f us\n", nt ? times[nt / 2] : 0);
  double ts = reco__now();
  long found = 0;
  for (int r = 0; r < 20; r++)
    for (int32_t j = 0; j < m->n_items; j++) found += m->algo->similar(m, j, TOPK, out, sc);
  ts = (reco__now() - ts) / (20.0 * m->n_items);
  printf("similar     top-%d of one item: %.1f ns per call (%.1f neighbours on average)\n", TOPK, ts * 1e9,
         (double)found / (20.0 * m->n_items));
  /* consistency: the precomputed lists against the top positive scores of the history {j} */
  int agree = 0, checked = 0;
  for (int32_t j = 0; j < m->n_items; j += m->n_items / 200 + 1, checked++) {
    reco_user_view v = {-1, &j, NULL, NULL, 1};
    int n = m->algo->similar(m, j, TOPK, out, sc);
    int r = reco__model_recommend(m, &v, &j, 1, TOPK, scratch, &heap, hist, NULL);
    int same = r >= n;
    for (int x = 0; same && x < n; x++) same = out[x] == hist[x];
    agree += same;
  }
  printf("check       similar() equals the top of the scores of a one-item history for %d of %d items\n", agree,
         checked);
  printf("peak RSS    %.2f GB\n", reco__peak_rss() / 1e9);
  free(times);
  reco__free_aligned(scratch);
  reco__topk_free(&heap);
  reco__model_free(m);
  reco_dataset_free(ds);
  return 0;
}
