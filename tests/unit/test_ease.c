/* test_ease.c - EASE / DLAE / EDLAE (src/algo/ease.c): a 3-item case against the closed forms
 * computed here in double, history (new-user) scoring, similar and explain, pruning, the
 * validation search, bit-identical save/load round trips, and the too-large error. */
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

static int32_t U(reco_dataset *d, const char *s) { return reco__ds_user(d, s, strlen(s)); }
static int32_t I(reco_dataset *d, const char *s) { return reco__ds_item(d, s, strlen(s)); }

/* Users' items in the tiny case; the value of each interaction is 1 + item (for values=raw). */
static const int k_tiny[5][3] = {{0, 1, -1}, {0, 1, 2}, {1, 2, -1}, {0, -1, -1}, {2, -1, -1}};

static reco_dataset *tiny(void) {
  reco_dataset *d = reco__ds_new();
  const char *items[3] = {"i0", "i1", "i2"};
  for (int k = 0; k < 3; k++) I(d, items[k]);
  for (int u = 0; u < 5; u++) {
    char name[8];
    snprintf(name, sizeof name, "u%d", u);
    int32_t ui = U(d, name);
    for (int q = 0; q < 3 && k_tiny[u][q] >= 0; q++)
      reco__ds_add(d, ui, k_tiny[u][q], 1.0f + (float)k_tiny[u][q], 100 + q, RECO_EV_RATING);
  }
  d->has_values = true;
  assert_int_equal(reco__ds_finalize(d), 0);
  return d;
}

/* B of the tiny case in double: G = X^T X, P = (G + Lambda)^-1 by the adjugate, B by the form. */
static void tiny_b(bool raw, double lambda, double p, bool dlae, double b[3][3]) {
  double g[3][3] = {{0}};
  for (int u = 0; u < 5; u++)
    for (int x = 0; x < 3 && k_tiny[u][x] >= 0; x++)
      for (int y = 0; y < 3 && k_tiny[u][y] >= 0; y++) {
        int i = k_tiny[u][x], j = k_tiny[u][y];
        g[i][j] += raw ? (1.0 + i) * (1.0 + j) : 1.0;
      }
  double a[3][3], lam[3];
  memcpy(a, g, sizeof a);
  for (int i = 0; i < 3; i++) {
    lam[i] = lambda + p / (1 - p) * g[i][i];
    a[i][i] += lam[i];
  }
  double det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
               a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
  double pm[3][3];
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) {
      /* cofactor of a[j][i] (the adjugate is the transposed cofactor matrix) */
      int r0 = (j + 1) % 3, r1 = (j + 2) % 3, c0 = (i + 1) % 3, c1 = (i + 2) % 3;
      pm[i][j] = (a[r0][c0] * a[r1][c1] - a[r0][c1] * a[r1][c0]) / det;
    }
  for (int j = 0; j < 3; j++)
    for (int i = 0; i < 3; i++)
      b[j][i] = i == j ? 0 : (dlae ? -pm[j][i] * lam[i] : -pm[j][i] / pm[i][i]);
}

static reco_model *fit_with(const reco_dataset *d, const char *const *kv) {
  reco_model *m;
  assert_int_equal(reco__model_new("ease", &m), 0);
  for (; kv && kv[0]; kv += 2) assert_int_equal(reco__model_set(m, kv[0], kv[1]), 0);
  assert_int_equal(reco__model_fit(m, d, NULL), 0);
  return m;
}

static void check_closed_form(bool raw, const char *lambda, const char *p, const char *form) {
  reco_dataset *d = tiny();
  const char *kv[] = {"lambda", lambda, "dropout", p, "form", form, "precision", "double",
                      "values", raw ? "raw" : "binary", NULL};
  reco_model *m = fit_with(d, kv);
  double b[3][3];
  tiny_b(raw, atof(lambda), atof(p), !strcmp(form, "dlae"), b);
  for (int j = 0; j < 3; j++) {
    float out[3], w = 2.0f;
    int32_t it = j;
    reco_user_view v = {-1, &it, raw ? &w : NULL, NULL, 1};
    assert_int_equal(m->algo->score(m, &v, out), 0);
    for (int i = 0; i < 3; i++) {
      double want = (raw ? 2.0 : 1.0) * b[j][i];
      if (fabs(out[i] - want) > 1e-6 * (1 + fabs(want)))
        fail_msg("%s raw=%d lambda=%s p=%s: B[%d][%d] = %.9g, closed form %.9g", form, raw, lambda, p, j, i, out[i],
                 want);
    }
  }
  reco__model_free(m);
  reco_dataset_free(d);
}

static void test_closed_form(void **st) {
  (void)st;
  check_closed_form(false, "1.5", "0", "ease"); /* EASE */
  check_closed_form(false, "1.5", "0.5", "ease"); /* EDLAE */
  check_closed_form(false, "1.5", "0", "dlae");   /* ridge, free diagonal */
  check_closed_form(false, "0.5", "0.25", "dlae"); /* DLAE */
  check_closed_form(true, "2", "0.25", "ease");   /* weighted X */
}

/* A history never seen in training scores as the sum of its rows; repeats count once, unknown
 * items are ignored, and a training user's index plays no part. */
static void test_history_scoring(void **st) {
  (void)st;
  reco_dataset *d = tiny();
  const char *kv[] = {"lambda", "1", "dropout", "0", "form", "ease", NULL};
  reco_model *m = fit_with(d, kv);
  float r0[3], r2[3], out[3], out2[3];
  int32_t a = 0, c = 2;
  reco_user_view v0 = {-1, &a, NULL, NULL, 1}, v2 = {-1, &c, NULL, NULL, 1};
  m->algo->score(m, &v0, r0);
  m->algo->score(m, &v2, r2);
  int32_t hist[] = {2, 0, 7, -3, 2};
  reco_user_view v = {-1, hist, NULL, NULL, 5};
  assert_int_equal(m->algo->score(m, &v, out), 0);
  for (int i = 0; i < 3; i++) assert_true(fabsf(out[i] - (r0[i] + r2[i])) < 1e-6f);
  /* user u1 has {0, 1, 2}; as a known user or as a bare history, the same scores */
  reco_user_view known = reco__view_of(d, 1);
  reco_user_view anon = known;
  anon.user = -1;
  m->algo->score(m, &known, out);
  m->algo->score(m, &anon, out2);
  assert_memory_equal(out, out2, sizeof out);
  /* recommend for the new user {0}: items 1 and 2 only, best first */
  reco_topk h;
  reco__topk_init(&h, 3);
  int32_t rec[3];
  float sc[3], scratch[3];
  int n = reco__model_recommend(m, &v0, &a, 1, 3, scratch, &h, rec, sc);
  assert_int_equal(n, 2);
  assert_true(rec[0] != 0 && rec[1] != 0 && sc[0] >= sc[1]);
  reco__topk_free(&h);
  reco__model_free(m);
  reco_dataset_free(d);
}

static void test_similar_explain(void **st) {
  (void)st;
  reco_dataset *d = tiny();
  const char *kv[] = {"lambda", "1", "dropout", "0", "form", "ease", "precision", "double", NULL};
  reco_model *m = fit_with(d, kv);
  double b[3][3];
  tiny_b(false, 1, 0, false, b);
  for (int32_t j = 0; j < 3; j++) {
    int32_t it[3];
    float sc[3];
    int n = m->algo->similar(m, j, 3, it, sc);
    /* the positive entries of row j, best first, never j itself */
    int want = 0;
    for (int i = 0; i < 3; i++) want += i != j && b[j][i] > 0;
    assert_int_equal(n, want);
    for (int x = 0; x < n; x++) {
      assert_int_not_equal(it[x], j);
      assert_true(fabs(sc[x] - b[j][it[x]]) < 1e-6);
      if (x) assert_true(sc[x - 1] >= sc[x]);
    }
  }
  assert_int_equal(m->algo->similar(m, 5, 3, NULL, NULL), 0);
  /* why item 2 for a user with {0, 1}: the positive contributions B[j][2], largest first */
  int32_t hist[] = {0, 1};
  reco_user_view v = {-1, hist, NULL, NULL, 2};
  int32_t why[2];
  float wt[2];
  int n = m->algo->explain(m, &v, 2, 2, why, wt);
  int want = (b[0][2] > 0) + (b[1][2] > 0);
  assert_int_equal(n, want);
  for (int x = 0; x < n; x++) assert_true(fabs(wt[x] - b[why[x]][2]) < 1e-6);
  if (n == 2) assert_true(wt[0] >= wt[1]);
  reco__model_free(m);
  reco_dataset_free(d);
}

/* A random dataset big enough for the validation split: n_users x n_items, a seeded share. */
static reco_dataset *random_data(int n_users, int n_items, double density, uint64_t seed) {
  reco_dataset *d = reco__ds_new();
  reco_rng r;
  reco__rng_seed(&r, seed);
  char name[32];
  for (int i = 0; i < n_items; i++) {
    snprintf(name, sizeof name, "item%d", i);
    I(d, name);
  }
  for (int u = 0; u < n_users; u++) {
    snprintf(name, sizeof name, "user%d", u);
    int32_t ui = U(d, name);
    for (int i = 0; i < n_items; i++) {
      /* popular low indices, and two taste groups so that B has structure */
      double pr = density * (1.5 - (double)i / n_items) * ((u % 2) == (i % 2) ? 1.6 : 0.4);
      if (reco__rng_uniform(&r) < pr) reco__ds_add(d, ui, i, (float)(1 + (u + i) % 5), u * 1000 + i, RECO_EV_RATING);
    }
  }
  d->has_values = true;
  assert_int_equal(reco__ds_finalize(d), 0);
  return d;
}

static void roundtrip(const char *const *kv) {
  reco_dataset *d = random_data(80, 40, 0.25, 7);
  reco_model *m = fit_with(d, kv), *m2;
  char path[] = "/tmp/reco-test-ease-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(reco__model_save(m, path), 0);
  assert_int_equal(reco__model_load(path, &m2), 0);
  assert_string_equal(m2->algo->name, "ease");
  assert_int_equal(m2->n_items, m->n_items);
  float *a = malloc(40 * sizeof *a), *b = malloc(40 * sizeof *b);
  for (int32_t u = 0; u < d->n_users; u++) {
    reco_user_view v = reco__view_of(d, u);
    assert_int_equal(m->algo->score(m, &v, a), 0);
    assert_int_equal(m2->algo->score(m2, &v, b), 0);
    assert_memory_equal(a, b, 40 * sizeof *a); /* bit-identical */
    int32_t e1[4], e2[4];
    float w1[4], w2[4];
    int n1 = m->algo->explain(m, &v, u % 40, 4, e1, w1), n2 = m2->algo->explain(m2, &v, u % 40, 4, e2, w2);
    assert_int_equal(n1, n2);
    assert_memory_equal(e1, e2, (size_t)n1 * sizeof *e1);
    assert_memory_equal(w1, w2, (size_t)n1 * sizeof *w1);
  }
  for (int32_t j = 0; j < 40; j++) {
    int32_t s1[10], s2[10];
    float c1[10], c2[10];
    int n1 = m->algo->similar(m, j, 10, s1, c1), n2 = m2->algo->similar(m2, j, 10, s2, c2);
    assert_int_equal(n1, n2);
    assert_memory_equal(s1, s2, (size_t)n1 * sizeof *s1);
    assert_memory_equal(c1, c2, (size_t)n1 * sizeof *c1);
  }
  free(a);
  free(b);
  reco__model_free(m);
  reco__model_free(m2);
  unlink(path);
  reco_dataset_free(d);
}

/* Defaults: lambda, dropout and form chosen on validation; dense B. */
static void test_roundtrip_auto(void **st) {
  (void)st;
  roundtrip(NULL);
}

/* Pruned sparse B, weighted X, float solve. */
static void test_roundtrip_sparse(void **st) {
  (void)st;
  const char *kv[] = {"lambda", "20", "dropout", "0.25", "form", "ease", "topk", "5", "values", "raw",
                      "precision", "float", NULL};
  roundtrip(kv);
}

/* The validation search picks something from its grid and records it. */
static void test_validation(void **st) {
  (void)st;
  reco_dataset *d = random_data(120, 30, 0.3, 11);
  reco_model *m = fit_with(d, NULL);
  assert_non_null(strstr(m->fit_info, "valid_ndcg@10"));
  assert_non_null(strstr(m->fit_info, "\"form\""));
  reco__model_free(m);
  /* the same seed gives the same model */
  reco_model *m1 = fit_with(d, NULL), *m2 = fit_with(d, NULL);
  assert_string_equal(m1->fit_info, m2->fit_info);
  float a[30], b[30];
  reco_user_view v = reco__view_of(d, 3);
  m1->algo->score(m1, &v, a);
  m2->algo->score(m2, &v, b);
  assert_memory_equal(a, b, sizeof a);
  reco__model_free(m1);
  reco__model_free(m2);
  reco_dataset_free(d);
}

/* Pruning keeps the k entries of largest magnitude per row, with their dense values. */
static void test_pruning(void **st) {
  (void)st;
  reco_dataset *d = random_data(80, 40, 0.25, 3);
  const char *kd[] = {"lambda", "10", "dropout", "0", "form", "ease", NULL};
  const char *ks[] = {"lambda", "10", "dropout", "0", "form", "ease", "topk", "3", NULL};
  reco_model *md = fit_with(d, kd), *ms = fit_with(d, ks);
  float rd[40], rs[40];
  for (int32_t j = 0; j < 40; j++) {
    reco_user_view v = {-1, &j, NULL, NULL, 1};
    md->algo->score(md, &v, rd);
    ms->algo->score(ms, &v, rs);
    int kept = 0;
    float smallest_kept = INFINITY, largest_dropped = 0;
    for (int i = 0; i < 40; i++) {
      if (rs[i] != 0) {
        kept++;
        assert_true(rs[i] == rd[i]);
        smallest_kept = fminf(smallest_kept, fabsf(rd[i]));
      } else {
        largest_dropped = fmaxf(largest_dropped, fabsf(rd[i]));
      }
    }
    assert_true(kept <= 3);
    assert_true(kept == 0 || smallest_kept >= largest_dropped);
  }
  reco__model_free(md);
  reco__model_free(ms);
  reco_dataset_free(d);
}

/* Above 2048 items the row selection samples first (kth_largest_row): the same contract. */
static void test_pruning_large(void **st) {
  (void)st;
  reco_dataset *d = random_data(300, 2100, 0.01, 5);
  const char *kd[] = {"lambda", "5", "dropout", "0", "form", "dlae", "precision", "float", "topk", "0", NULL};
  const char *ks[] = {"lambda", "5", "dropout", "0", "form", "dlae", "precision", "float", "topk", "64", NULL};
  reco_model *md = fit_with(d, kd), *ms = fit_with(d, ks);
  float *rd = malloc(2100 * sizeof *rd), *rs = malloc(2100 * sizeof *rs);
  for (int32_t j = 0; j < 2100; j += 37) {
    reco_user_view v = {-1, &j, NULL, NULL, 1};
    md->algo->score(md, &v, rd);
    ms->algo->score(ms, &v, rs);
    int kept = 0, nonzero = 0;
    float smallest_kept = INFINITY, largest_dropped = 0;
    for (int i = 0; i < 2100; i++) {
      nonzero += rd[i] != 0;
      if (rs[i] != 0) {
        kept++;
        assert_true(rs[i] == rd[i]);
        smallest_kept = fminf(smallest_kept, fabsf(rd[i]));
      } else {
        largest_dropped = fmaxf(largest_dropped, fabsf(rd[i]));
      }
    }
    assert_int_equal(kept, nonzero < 64 ? nonzero : 64);
    assert_true(kept == 0 || smallest_kept >= largest_dropped);
  }
  free(rd);
  free(rs);
  reco__model_free(md);
  reco__model_free(ms);
  reco_dataset_free(d);
}

/* Defaults on data too small to split (no user with two items): the walk's start, no error. */
static void test_no_validation_data(void **st) {
  (void)st;
  reco_dataset *d = reco__ds_new();
  reco__ds_add(d, U(d, "a"), I(d, "x"), 1, 1, RECO_EV_CLICK);
  reco__ds_add(d, U(d, "b"), I(d, "y"), 1, 1, RECO_EV_CLICK);
  assert_int_equal(reco__ds_finalize(d), 0);
  reco_model *m = fit_with(d, NULL);
  float out[2];
  int32_t x = 0;
  reco_user_view v = {-1, &x, NULL, NULL, 1};
  assert_int_equal(m->algo->score(m, &v, out), 0);
  assert_true(out[0] == 0 && out[1] == 0); /* x and y never co-occur */
  reco__model_free(m);
  reco_dataset_free(d);
}

static void test_too_large(void **st) {
  (void)st;
  reco_dataset *d = tiny();
  reco_model *m;
  assert_int_equal(reco__model_new("ease", &m), 0);
  assert_int_equal(reco__model_set(m, "max_items", "2"), 0);
  assert_int_equal(reco__model_fit(m, d, NULL), RECO_ELIMIT);
  assert_non_null(strstr(reco_last_error(), "max_items=2"));
  assert_non_null(strstr(reco_last_error(), "GB"));
  reco__model_free(m);
  reco_dataset_free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_closed_form),    cmocka_unit_test(test_history_scoring),
      cmocka_unit_test(test_similar_explain), cmocka_unit_test(test_roundtrip_auto),
      cmocka_unit_test(test_roundtrip_sparse), cmocka_unit_test(test_validation),
      cmocka_unit_test(test_pruning),        cmocka_unit_test(test_pruning_large),
      cmocka_unit_test(test_no_validation_data), cmocka_unit_test(test_too_large),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
