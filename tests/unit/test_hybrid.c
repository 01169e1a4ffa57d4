/* test_hybrid.c - the hybrid ensemble (src/algo/hybrid.c) on a seeded synthetic catalogue with
 * metadata: learned weights are non-negative and sum to 1; a one-member hybrid ranks exactly as
 * that member; a save/load round trip gives bit-identical scores (known and new users); a
 * brand-new user's view is scored; rrf, explain and similar work; no member is an error. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "algo/algo.h"
#include "data/synth.h"

static reco_dataset *g_data;

static int setup(void **state) {
  (void)state;
  reco_synth_params p;
  reco__synth_defaults(&p, RECO_SYNTH_STREAMING);
  p.n_users = 300;
  p.n_items = 200;
  p.n_interactions = 12000;
  p.seed = 7;
  p.threads = 1;
  int rc = reco__synth_generate(&p, NULL, &g_data);
  if (rc) fprintf(stderr, "generate: %s\n", reco_last_error());
  return rc;
}

static int teardown(void **state) {
  (void)state;
  reco_dataset_free(g_data);
  return 0;
}

static reco_model *fit(const char *algo, const char *const *kv) {
  reco_model *m;
  assert_int_equal(reco__model_new(algo, &m), 0);
  for (; kv && kv[0]; kv += 2) assert_int_equal(reco__model_set(m, kv[0], kv[1]), 0);
  int rc = reco__model_fit(m, g_data, NULL);
  if (rc) fprintf(stderr, "fit %s: %s\n", algo, reco_last_error());
  assert_int_equal(rc, 0);
  return m;
}

static void tmp_path(char *buf, size_t len) {
  const char *dir = getenv("TMPDIR");
  snprintf(buf, len, "%s/test_hybrid_%d.model", dir && *dir ? dir : "/tmp", (int)getpid());
}

/* The weights as saved: hybrid_info = n, valid ndcg, best member's, then (family, w, spread). */
static void check_weights(const char *path, int expect_n) {
  reco_mf_reader *r;
  assert_int_equal(reco__mf_open(path, &r), 0);
  const void *pv;
  uint64_t cnt;
  assert_int_equal(reco__mf_get(r, "hybrid_info", RECO_DT_F64, &pv, &cnt), 0);
  const double *info = pv;
  int n = (int)info[0];
  assert_true(n >= 1 && n <= expect_n);
  assert_int_equal(cnt, 3 + 3 * (uint64_t)n);
  double sum = 0;
  for (int k = 0; k < n; k++) {
    double w = info[3 + 3 * k + 1];
    assert_true(w > 0); /* members whose weight came out 0 are dropped */
    assert_true(w <= 1);
    sum += w;
  }
  assert_true(fabs(sum - 1) < 1e-9);
  /* validated: the blend is at least as good as the best member on the validation pool */
  assert_true(info[1] >= info[2]);
  reco__mf_close(r);
}

static void all_scores_equal(const reco_model *a, const reco_model *b) {
  assert_int_equal(a->n_items, b->n_items);
  float *sa = malloc((size_t)a->n_items * sizeof *sa), *sb = malloc((size_t)a->n_items * sizeof *sb);
  assert_non_null(sa);
  assert_non_null(sb);
  for (int32_t u = 0; u < g_data->n_users; u++) {
    reco_user_view v = reco__view_of(g_data, u);
    assert_int_equal(a->algo->score(a, &v, sa), 0);
    assert_int_equal(b->algo->score(b, &v, sb), 0);
    assert_memory_equal(sa, sb, (size_t)a->n_items * sizeof *sa);
  }
  /* and a user neither model knows, from three clicks */
  int32_t items[3] = {5, 17, 42};
  reco_user_view nv = {-1, items, NULL, NULL, 3};
  assert_int_equal(a->algo->score(a, &nv, sa), 0);
  assert_int_equal(b->algo->score(b, &nv, sb), 0);
  assert_memory_equal(sa, sb, (size_t)a->n_items * sizeof *sa);
  free(sa);
  free(sb);
}

static void test_default_weights_and_roundtrip(void **state) {
  (void)state;
  reco_model *m = fit("hybrid", NULL);
  assert_non_null(strstr(m->fit_info, "\"weights\""));
  assert_non_null(strstr(m->fit_info, "valid_ndcg@10"));
  char path[512];
  tmp_path(path, sizeof path);
  assert_int_equal(reco__model_save(m, path), 0);
  check_weights(path, 5);
  reco_model *l;
  int rc = reco__model_load(path, &l);
  if (rc) fprintf(stderr, "load: %s\n", reco_last_error());
  assert_int_equal(rc, 0);
  assert_string_equal(l->algo->name, "hybrid");
  assert_string_equal(l->fit_info, m->fit_info);
  all_scores_equal(m, l);
  unlink(path);
  reco__model_free(l);
  reco__model_free(m);
}

/* Top-k of both models for every user, history excluded, identical item by item. */
static void same_rankings(const reco_model *a, const reco_model *b, int k) {
  float *scr = malloc((size_t)a->n_items * sizeof *scr);
  int32_t ra[32], rb[32];
  reco_topk h = {0};
  assert_non_null(scr);
  assert_int_equal(reco__topk_init(&h, k), 0);
  for (int32_t u = 0; u < g_data->n_users; u++) {
    reco_user_view v = reco__view_of(g_data, u);
    int na = reco__model_recommend(a, &v, v.items, v.n, k, scr, &h, ra, NULL);
    int nb = reco__model_recommend(b, &v, v.items, v.n, k, scr, &h, rb, NULL);
    assert_int_equal(na, nb);
    assert_memory_equal(ra, rb, (size_t)na * sizeof *ra);
  }
  reco__topk_free(&h);
  free(scr);
}

static void test_single_member_reproduces(void **state) {
  (void)state;
  static const char *const only_ease[] = {"use_ease", "true",  "use_ials",    "false", "use_itemknn", "false",
                                          "use_bpr",  "false", "use_content", "false", NULL};
  static const char *const only_knn[] = {"use_ease", "false", "use_ials",    "false", "use_itemknn", "true",
                                         "use_bpr",  "false", "use_content", "false", NULL};
  reco_model *h = fit("hybrid", only_ease), *e = fit("ease", NULL);
  assert_non_null(strstr(h->fit_info, "\"ease\": 1.0000"));
  same_rankings(h, e, 20);
  reco__model_free(h);
  reco__model_free(e);
  h = fit("hybrid", only_knn);
  e = fit("itemknn", NULL);
  same_rankings(h, e, 20);
  reco__model_free(h);
  reco__model_free(e);
}

static void test_new_user_view(void **state) {
  (void)state;
  static const char *const kv[] = {"use_bpr", "false", "valid_users", "100", NULL};
  reco_model *m = fit("hybrid", kv);
  int32_t hist[3] = {3, 8, 11}; /* ascending, as an exclusion list must be */
  reco_user_view v = {-1, hist, NULL, NULL, 3};
  float *scr = malloc((size_t)m->n_items * sizeof *scr);
  assert_non_null(scr);
  assert_int_equal(m->algo->score(m, &v, scr), 0);
  for (int32_t i = 0; i < m->n_items; i++) assert_true(isfinite(scr[i]));
  reco_topk h = {0};
  int32_t rec[10];
  assert_int_equal(reco__topk_init(&h, 10), 0);
  int n = reco__model_recommend(m, &v, hist, 3, 10, scr, &h, rec, NULL);
  assert_int_equal(n, 10);
  for (int j = 0; j < n; j++)
    for (int q = 0; q < 3; q++) assert_int_not_equal(rec[j], hist[q]);
  /* an empty history still ranks (the members' fallbacks, e.g. popularity priors) */
  reco_user_view empty = {-1, NULL, NULL, NULL, 0};
  assert_int_equal(m->algo->score(m, &empty, scr), 0);
  for (int32_t i = 0; i < m->n_items; i++) assert_true(isfinite(scr[i]));
  /* explain delegates to a member: contributors come from the history */
  int32_t ex[5];
  float ew[5];
  int ne = m->algo->explain(m, &v, rec[0], 5, ex, ew);
  assert_true(ne >= 0 && ne <= 5);
  for (int j = 0; j < ne; j++) assert_true(ex[j] == 3 || ex[j] == 8 || ex[j] == 11);
  int32_t si[5];
  assert_true(m->algo->similar(m, 3, 5, si, NULL) > 0);
  reco__topk_free(&h);
  free(scr);
  reco__model_free(m);
}

static void test_rrf_roundtrip(void **state) {
  (void)state;
  static const char *const kv[] = {"method", "rrf", "use_bpr", "false", "use_content", "false", NULL};
  reco_model *m = fit("hybrid", kv);
  char path[512];
  tmp_path(path, sizeof path);
  assert_int_equal(reco__model_save(m, path), 0);
  check_weights(path, 3);
  reco_model *l;
  assert_int_equal(reco__model_load(path, &l), 0);
  all_scores_equal(m, l);
  unlink(path);
  reco__model_free(l);
  reco__model_free(m);
}

static void test_equal_weights_without_learning(void **state) {
  (void)state;
  static const char *const kv[] = {"learn", "false", "use_bpr", "false", NULL};
  reco_model *m = fit("hybrid", kv);
  assert_non_null(strstr(m->fit_info, "\"ials\": 0.2500"));
  assert_null(strstr(m->fit_info, "valid_ndcg"));
  reco__model_free(m);
}

/* Five users, three items: too small to learn anything; the hybrid still fits and ranks. */
static void test_tiny(void **state) {
  (void)state;
  static const int k_tiny[5][3] = {{0, 1, -1}, {0, 1, 2}, {1, 2, -1}, {0, -1, -1}, {2, -1, -1}};
  reco_dataset *d = reco__ds_new();
  const char *items[3] = {"i0", "i1", "i2"};
  for (int k = 0; k < 3; k++) reco__ds_item(d, items[k], strlen(items[k]));
  for (int u = 0; u < 5; u++) {
    char name[8];
    snprintf(name, sizeof name, "u%d", u);
    int32_t ui = reco__ds_user(d, name, strlen(name));
    for (int q = 0; q < 3 && k_tiny[u][q] >= 0; q++) reco__ds_add(d, ui, k_tiny[u][q], 1.0f, 100 + q, RECO_EV_RATING);
  }
  assert_int_equal(reco__ds_finalize(d), 0);
  reco_model *m;
  assert_int_equal(reco__model_new("hybrid", &m), 0);
  int rc = reco__model_fit(m, d, NULL);
  if (rc) fprintf(stderr, "fit: %s\n", reco_last_error());
  assert_int_equal(rc, 0);
  float sc[3];
  int32_t hist[1] = {0};
  reco_user_view v = {-1, hist, NULL, NULL, 1};
  assert_int_equal(m->algo->score(m, &v, sc), 0);
  for (int i = 0; i < 3; i++) assert_true(isfinite(sc[i]));
  reco__model_free(m);
  reco_dataset_free(d);
}

static void test_no_member(void **state) {
  (void)state;
  reco_model *m;
  assert_int_equal(reco__model_new("hybrid", &m), 0);
  static const char *const off[] = {"use_ease", "use_ials", "use_itemknn", "use_bpr", "use_content", "use_popular"};
  for (size_t k = 0; k < sizeof off / sizeof *off; k++) assert_int_equal(reco__model_set(m, off[k], "false"), 0);
  assert_int_equal(reco__model_fit(m, g_data, NULL), RECO_EINVAL);
  assert_non_null(strstr(reco_last_error(), "no member"));
  reco__model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_default_weights_and_roundtrip),
      cmocka_unit_test(test_single_member_reproduces),
      cmocka_unit_test(test_new_user_view),
      cmocka_unit_test(test_rrf_roundtrip),
      cmocka_unit_test(test_equal_weights_without_learning),
      cmocka_unit_test(test_tiny),
      cmocka_unit_test(test_no_member),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
