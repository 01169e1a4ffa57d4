/* test_knn.c - the neighbourhood models (knn_sim.c, knn.c, slopeone.c): every similarity
 * against values computed by hand on a 3x4 matrix, predictions by hand (item-kNN basic,
 * Slope One), bit-identical save/load round trips, users known only by a history (index -1)
 * scored without retraining, explanations, and allocation failures during fit. */
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
#include "algo/knn_sim.h"

#define NEAR(a, b) assert_true(fabs((double)(a) - (double)(b)) < 1e-5)

/*
 * Items (rows) over users (columns):
 *        u1 u2 u3 u4
 *   A     5  3  4  .
 *   B     3  1  .  2
 *   C     .  4  5  1
 *   D     2  .  .  .     (D only in the asymmetric-cosine test)
 */
static const int64_t k_rptr[] = {0, 3, 6, 9, 10};
static const int32_t k_ridx[] = {0, 1, 2, 0, 1, 3, 1, 2, 3, 0};
static const float k_rval[] = {5, 3, 4, 3, 1, 2, 4, 5, 1, 2};
/* the transpose: users over items */
static const int64_t k_cptr[] = {0, 3, 6, 8, 10};
static const int32_t k_cidx[] = {0, 1, 3, 0, 1, 2, 0, 2, 1, 2};
static const float k_cval[] = {5, 3, 2, 3, 1, 4, 4, 5, 2, 1};

/* Similarity of row a to row b in a table built over rows A, B, C (n_rows = 3). */
static float sim_of(const reco_knn_table *t, int32_t a, int32_t b) {
  for (int64_t p = t->ptr[a]; p < t->ptr[a + 1]; p++)
    if (t->idx[p] == b) return t->sim[p];
  return NAN;
}

static void build(reco_knn_kind kind, double shrink, int min_support, int n_rows, bool binary, double alpha,
                  reco_knn_table *t) {
  /* three rows see users through the first 9 entries; the transpose must then skip D */
  static int64_t cptr3[5];
  static int32_t cidx3[10];
  static float cval3[10];
  int n = 0;
  for (int c = 0; c < 4; c++) {
    cptr3[c] = n;
    for (int64_t p = k_cptr[c]; p < k_cptr[c + 1]; p++)
      if (k_cidx[p] < n_rows) {
        cidx3[n] = k_cidx[p];
        cval3[n++] = k_cval[p];
      }
  }
  cptr3[4] = n;
  reco_knn_mat rows = {n_rows, k_rptr, k_ridx, binary ? NULL : k_rval};
  reco_knn_mat cols = {4, cptr3, cidx3, binary ? NULL : cval3};
  reco_knn_opts o = {
      .kind = kind, .keep = 10, .min_support = min_support, .shrink = shrink, .alpha = alpha, .power = 1};
  assert_int_equal(reco__knn_build(&rows, &cols, &o, NULL, "test", t), 0);
}

static void test_similarities_by_hand(void **st) {
  (void)st;
  reco_knn_table t;
  /* cosine with full norms: A.B = 15 + 3 = 18, |A| = sqrt 50, |B| = sqrt 14, |C| = sqrt 42 */
  build(RECO_KNN_COSINE, 0, 1, 3, false, 0.5, &t);
  NEAR(sim_of(&t, 0, 1), 18 / sqrt(50.0 * 14));
  NEAR(sim_of(&t, 0, 2), 32 / sqrt(50.0 * 42));
  NEAR(sim_of(&t, 1, 2), 6 / sqrt(14.0 * 42));
  NEAR(sim_of(&t, 1, 0), sim_of(&t, 0, 1));
  /* best first: A's nearest is C (0.698) before B (0.680) */
  assert_int_equal(t.idx[t.ptr[0]], 2);
  assert_int_equal(t.idx[t.ptr[0] + 1], 1);
  reco__knn_table_free(&t);
  /* shrinkage n/(n+shrink), n = 2 common users for every pair */
  build(RECO_KNN_COSINE, 1, 1, 3, false, 0.5, &t);
  NEAR(sim_of(&t, 0, 1), 18 / sqrt(50.0 * 14) * 2 / 3);
  reco__knn_table_free(&t);
  /* Pearson over the common users: A,B on (5,3),(3,1) is exactly 1; B,C on (1,2),(4,1) is -1 */
  build(RECO_KNN_PEARSON, 0, 1, 3, false, 0.5, &t);
  NEAR(sim_of(&t, 0, 1), 1.0);
  NEAR(sim_of(&t, 0, 2), 1.0);
  NEAR(sim_of(&t, 1, 2), -1.0);
  reco__knn_table_free(&t);
  /* adjusted cosine / Pearson-baseline: the caller has centred the values, here they are raw:
   * A,B: 18 / sqrt(34 * 10); Pearson-baseline shrinks by (n-1)/(n-1+shrink) = 1/2 */
  build(RECO_KNN_ADJCOS, 0, 1, 3, false, 0.5, &t);
  NEAR(sim_of(&t, 0, 1), 18 / sqrt(340.0));
  reco__knn_table_free(&t);
  build(RECO_KNN_PEARSON_BASELINE, 1, 1, 3, false, 0.5, &t);
  NEAR(sim_of(&t, 0, 1), 18 / sqrt(340.0) / 2);
  reco__knn_table_free(&t);
  /* MSD: A,B differ by (2, 2) -> 1/(1+4); A,C by (-1,-1) -> 1/2; B,C by (-3, 1) -> 1/(1+5) */
  build(RECO_KNN_MSD, 0, 1, 3, false, 0.5, &t);
  NEAR(sim_of(&t, 0, 1), 0.2);
  NEAR(sim_of(&t, 0, 2), 0.5);
  NEAR(sim_of(&t, 1, 2), 1.0 / 6);
  reco__knn_table_free(&t);
  /* Jaccard: 2 common of 3 + 3 -> 2/4 */
  build(RECO_KNN_JACCARD, 0, 1, 3, false, 0.5, &t);
  NEAR(sim_of(&t, 0, 1), 0.5);
  NEAR(sim_of(&t, 2, 1), 0.5);
  reco__knn_table_free(&t);
  /* minimum support 3: no pair has three common users */
  build(RECO_KNN_COSINE, 0, 3, 3, false, 0.5, &t);
  assert_int_equal(t.ptr[3], 0);
  reco__knn_table_free(&t);
  /* asymmetric cosine on binary rows: A (3 users) and D (1 user) share u1;
   * s(A->D) = 1 / (3^0.3 * 1^0.7), s(D->A) = 1 / (1^0.3 * 3^0.7) */
  build(RECO_KNN_COSINE, 0, 1, 4, true, 0.3, &t);
  NEAR(sim_of(&t, 0, 3), 1 / pow(3, 0.3));
  NEAR(sim_of(&t, 3, 0), 1 / pow(3, 0.7));
  NEAR(sim_of(&t, 0, 1), 2 / (pow(3, 0.3) * pow(3, 0.7)));
  /* transposing keeps every pair and sorts best first */
  reco_knn_table tt;
  assert_int_equal(reco__knn_table_transpose(&t, 4, &tt), 0);
  assert_int_equal(tt.ptr[4], t.ptr[4]);
  NEAR(sim_of(&tt, 3, 0), sim_of(&t, 0, 3));
  for (int32_t a = 0; a < 4; a++)
    for (int64_t p = tt.ptr[a] + 1; p < tt.ptr[a + 1]; p++) assert_true(tt.sim[p - 1] >= tt.sim[p]);
  reco__knn_table_free(&tt);
  reco__knn_table_free(&t);
}

static int32_t U(reco_dataset *d, const char *s) { return reco__ds_user(d, s, strlen(s)); }
static int32_t I(reco_dataset *d, const char *s) { return reco__ds_item(d, s, strlen(s)); }

/* The matrix above as ratings (items A, B, C; users u1..u4). */
static reco_dataset *tiny(void) {
  reco_dataset *d = reco__ds_new();
  static const char *items[] = {"A", "B", "C"}, *users[] = {"u1", "u2", "u3", "u4"};
  for (int i = 0; i < 3; i++) I(d, items[i]);
  for (int a = 0; a < 3; a++)
    for (int64_t p = k_rptr[a]; p < k_rptr[a + 1]; p++)
      reco__ds_add(d, U(d, users[k_ridx[p]]), a, k_rval[p], 1000 + p, RECO_EV_RATING);
  d->has_values = true;
  assert_int_equal(reco__ds_finalize(d), 0);
  return d;
}

static void test_predictions_by_hand(void **st) {
  (void)st;
  reco_dataset *d = tiny();
  int32_t u4 = reco__idmap_get(d->users, "u4", 2);
  reco_model *m;
  /* item-kNN basic, cosine: u4 rated B = 2 and C = 1; s(A,C) = 0.698, s(A,B) = 0.680 */
  assert_int_equal(reco__model_new("itemknn", &m), 0);
  assert_int_equal(reco__model_set(m, "predict", "basic"), 0);
  assert_int_equal(reco__model_set(m, "sim", "cosine"), 0);
  assert_int_equal(reco__model_set(m, "shrink", "0"), 0);
  assert_int_equal(reco__model_fit(m, d, NULL), 0);
  double sab = 18 / sqrt(50.0 * 14), sac = 32 / sqrt(50.0 * 42);
  NEAR(m->algo->predict(m, u4, 0), (sab * 2 + sac * 1) / (sab + sac));
  /* k = 1: only the nearest rated neighbour, C */
  assert_int_equal(reco__model_set(m, "k", "1"), 0);
  assert_int_equal(reco__model_fit(m, d, NULL), 0);
  NEAR(m->algo->predict(m, u4, 0), 1.0);
  reco__model_free(m);
  /* weighted Slope One: dev_AB = ((5-3) + (3-1))/2 = 2, dev_AC = ((3-4) + (4-5))/2 = -1,
   * both with support 2: P(u4)_A = ((2 + 2) 2 + (1 - 1) 2) / 4 = 2 */
  assert_int_equal(reco__model_new("slopeone", &m), 0);
  assert_int_equal(reco__model_fit(m, d, NULL), 0);
  NEAR(m->algo->predict(m, u4, 0), 2.0);
  /* the same from a history alone; explanation shares sum to the prediction */
  int32_t hist[] = {1, 2};
  float vals[] = {2, 1}, out[3], w[2];
  int32_t who[2];
  reco_user_view v = {-1, hist, vals, NULL, 2};
  assert_int_equal(m->algo->score(m, &v, out), 0);
  NEAR(out[0], 2.0);
  assert_int_equal(m->algo->explain(m, &v, 0, 2, who, w), 2);
  NEAR(w[0] + w[1], 2.0);
  assert_int_equal(who[0], 1); /* B: (2 + 2) * 2 / 4 = 2 before C: 0 */
  reco__model_free(m);
  /* user-kNN basic, MSD: A for u4 from u1 (5), u2 (3) and u3 (4); u4 vs u1 share B (3 vs 2):
   * msd 1 -> 1/2; vs u2 B (1 vs 2) and C (4 vs 1): msd (1 + 9)/2 = 5 -> 1/6; vs u3 C (5 vs 1):
   * msd 16 -> 1/17 */
  assert_int_equal(reco__model_new("userknn", &m), 0);
  assert_int_equal(reco__model_set(m, "predict", "basic"), 0);
  assert_int_equal(reco__model_set(m, "sim", "msd"), 0);
  assert_int_equal(reco__model_set(m, "shrink", "0"), 0);
  assert_int_equal(reco__model_fit(m, d, NULL), 0);
  NEAR(m->algo->predict(m, u4, 0), (0.5 * 5 + 3.0 / 6 + 4.0 / 17) / (0.5 + 1.0 / 6 + 1.0 / 17));
  reco__model_free(m);
  reco_dataset_free(d);
}

/* A seeded random rating matrix: 60 users, 40 items, about a third filled. */
static reco_dataset *random_data(void) {
  reco_dataset *d = reco__ds_new();
  reco_rng r;
  reco__rng_seed(&r, 7);
  char name[32];
  for (int i = 0; i < 40; i++) {
    snprintf(name, sizeof name, "i%d", i);
    I(d, name);
  }
  for (int u = 0; u < 60; u++) {
    snprintf(name, sizeof name, "u%d", u);
    int32_t ui = U(d, name);
    for (int i = 0; i < 40; i++) {
      /* popular low-numbered items, users who like even items */
      if (reco__rng_uniform(&r) < 0.15 + 0.4 * (i < 10)) {
        float v = (float)(1 + reco__rng_below(&r, 3) + ((i + u) % 2 ? 0 : 2));
        reco__ds_add(d, ui, i, v, u * 100 + i, RECO_EV_RATING);
      }
    }
  }
  d->has_values = true;
  assert_int_equal(reco__ds_finalize(d), 0);
  return d;
}

/* explain_many (whichever path a page and a history take: the transposed table for a long
 * history, vector compares or a hash of the page, one explain per item) names, for every page
 * item, the history item explain() names first, with its weight. */
static int check_explain_many(const reco_model *m, const reco_user_view *v) {
  if (!m->algo->explain_many || !strcmp(m->algo->name, "userknn")) return 0;
  static const int pages[] = {1, 3, 7, 10, 16, 17, 40};
  int checked = 0;
  for (size_t p = 0; p < RECO_ARRAY_LEN(pages); p++) {
    int n = pages[p] < m->n_items ? pages[p] : m->n_items;
    int32_t items[40], because[40];
    float w[40];
    for (int x = 0; x < n; x++) items[x] = (x * 7 + (int)p) % m->n_items;
    assert_int_equal(m->algo->explain_many(m, v, items, n, because, w), 0);
    for (int x = 0; x < n; x++) {
      int32_t b1;
      float w1;
      int e = m->algo->explain(m, v, items[x], 1, &b1, &w1);
      assert_true(e >= 0);
      if (e == 0) {
        assert_int_equal(because[x], -1);
      } else {
        assert_int_equal(because[x], b1);
        assert_true(w[x] == w1);
      }
      checked++;
    }
  }
  return checked;
}

static void check_roundtrip(const char *algo, const char *key, const char *value) {
  reco_dataset *d = random_data();
  reco_model *m, *m2;
  assert_int_equal(reco__model_new(algo, &m), 0);
  if (key) assert_int_equal(reco__model_set(m, key, value), 0);
  assert_int_equal(reco__model_fit(m, d, NULL), 0);
  char path[] = "/tmp/reco-test-knn-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(reco__model_save(m, path), 0);
  assert_int_equal(reco__model_load(path, &m2), 0);
  unlink(path);
  assert_string_equal(m2->algo->name, algo);
  float s1[40], s2[40];
  for (int32_t u = 0; u < d->n_users; u++) {
    for (int32_t i = 0; i < d->n_items; i++) {
      float a = m->algo->predict(m, u, i), b = m2->algo->predict(m2, u, i);
      assert_memory_equal(&a, &b, sizeof a);
      assert_true(isfinite(a));
    }
    reco_user_view v = reco__view_of(d, u);
    assert_int_equal(m->algo->score(m, &v, s1), 0);
    assert_int_equal(m2->algo->score(m2, &v, s2), 0);
    assert_memory_equal(s1, s2, sizeof s1);
    v.user = -1; /* the same history as a stranger */
    assert_int_equal(m->algo->score(m, &v, s1), 0);
    assert_int_equal(m2->algo->score(m2, &v, s2), 0);
    assert_memory_equal(s1, s2, sizeof s1);
    check_explain_many(m, &v);
    check_explain_many(m2, &v);
    int32_t e1[5], e2[5];
    float w1[5], w2[5];
    int n1 = m->algo->explain(m, &v, 3, 5, e1, w1), n2 = m2->algo->explain(m2, &v, 3, 5, e2, w2);
    assert_int_equal(n1, n2);
    assert_memory_equal(e1, e2, (size_t)(n1 > 0 ? n1 : 0) * sizeof *e1);
    assert_memory_equal(w1, w2, (size_t)(n1 > 0 ? n1 : 0) * sizeof *w1);
  }
  if (m->algo->explain_many && strcmp(algo, "userknn")) { /* long histories: every other item, all */
    int32_t h[40];
    for (int k = 0; k < 2; k++) {
      int nh = 0;
      for (int32_t i = 0; i < d->n_items; i += 1 + (k == 0)) h[nh++] = i;
      reco_user_view lv = {-1, h, NULL, NULL, (size_t)nh};
      assert_true(check_explain_many(m, &lv) > 0);
      assert_true(check_explain_many(m2, &lv) > 0);
    }
  }
  if (m->algo->similar)
    for (int32_t i = 0; i < d->n_items; i++) {
      int32_t a[10], b[10];
      float sa[10], sb[10];
      int na = m->algo->similar(m, i, 10, a, sa), nb = m2->algo->similar(m2, i, 10, b, sb);
      assert_int_equal(na, nb);
      assert_memory_equal(a, b, (size_t)na * sizeof *a);
      assert_memory_equal(sa, sb, (size_t)na * sizeof *sa);
      for (int x = 1; x < na; x++) assert_true(sa[x - 1] >= sa[x]);
    }
  reco__model_free(m);
  reco__model_free(m2);
  reco_dataset_free(d);
}

static void test_roundtrip_itemknn(void **st) {
  (void)st;
  check_roundtrip("itemknn", NULL, NULL);
  check_roundtrip("itemknn", "user_k", "10"); /* the learned user-side terms too */
  check_roundtrip("itemknn", "predict", "baseline");
  check_roundtrip("itemknn", "rank_prune", "history");
}
static void test_roundtrip_userknn(void **st) {
  (void)st;
  check_roundtrip("userknn", NULL, NULL);
  check_roundtrip("userknn", "predict", "means");
}
static void test_roundtrip_slopeone(void **st) {
  (void)st;
  check_roundtrip("slopeone", NULL, NULL);
}

/* A user the model never saw, known by a history of items in the view: results at once. */
static void test_new_user(void **st) {
  (void)st;
  reco_dataset *d = random_data();
  static const char *algos[] = {"itemknn", "userknn", "slopeone"};
  for (size_t a = 0; a < RECO_ARRAY_LEN(algos); a++) {
    reco_model *m;
    assert_int_equal(reco__model_new(algos[a], &m), 0);
    assert_int_equal(reco__model_fit(m, d, NULL), 0);
    int32_t hist[] = {0, 2, 4, 6}; /* sorted: it is also the exclusion list */
    float vals[] = {5, 4, 5, 4};
    reco_user_view v = {-1, hist, vals, NULL, 4};
    float scratch[40], sc[10];
    int32_t out[10];
    reco_topk h;
    assert_int_equal(reco__topk_init(&h, 10), 0);
    int n = reco__model_recommend(m, &v, hist, 4, 10, scratch, &h, out, sc);
    assert_int_equal(n, 10);
    for (int x = 0; x < n; x++) {
      assert_true(out[x] != 0 && out[x] != 2 && out[x] != 4 && out[x] != 6);
      assert_true(isfinite(sc[x]));
    }
    /* the history matters: another history gives another list */
    int32_t hist2[] = {1, 3, 5, 7};
    reco_user_view v2 = {-1, hist2, vals, NULL, 4};
    int32_t out2[10];
    assert_int_equal(reco__model_recommend(m, &v2, hist2, 4, 10, scratch, &h, out2, NULL), 10);
    assert_true(memcmp(out, out2, sizeof out) != 0);
    if (!strcmp(algos[a], "itemknn")) {
      /* item-kNN scores a known user from their history alone: identical to a stranger with it */
      float s1[40], s2[40];
      reco_user_view k = reco__view_of(d, 5);
      assert_int_equal(m->algo->score(m, &k, s1), 0);
      k.user = -1;
      assert_int_equal(m->algo->score(m, &k, s2), 0);
      assert_memory_equal(s1, s2, sizeof s1);
      /* explain: the contributions are history items and add up to the score (prior aside) */
      int32_t who[4];
      float w[4];
      int ne = m->algo->explain(m, &v, out[0], 4, who, w);
      assert_true(ne >= 1);
      double sum = 0;
      for (int x = 0; x < ne; x++) {
        assert_true(who[x] == 0 || who[x] == 2 || who[x] == 4 || who[x] == 6);
        sum += w[x];
      }
      assert_true(fabs(sum - sc[0]) < 1e-5);
    }
    if (!strcmp(algos[a], "userknn")) {
      /* explain names neighbour users who have the item */
      int32_t who[4];
      float w[4];
      int ne = m->algo->explain(m, &v, out[0], 4, who, w);
      assert_true(ne >= 1);
      for (int x = 0; x < ne; x++) assert_true(reco__ds_find(d, who[x], out[0]) >= 0);
    }
    /* an empty history still ranks (the popularity prior or the fallback) */
    reco_user_view none = {-1, NULL, NULL, NULL, 0};
    assert_int_equal(reco__model_recommend(m, &none, NULL, 0, 10, scratch, &h, out, NULL), 10);
    reco__topk_free(&h);
    reco__model_free(m);
  }
  reco_dataset_free(d);
}

/* The learned neighbourhood model fits the training ratings better than its baseline. */
static void test_learned_beats_baseline(void **st) {
  (void)st;
  reco_dataset *d = random_data();
  reco_model *lm, *bm;
  assert_int_equal(reco__model_new("itemknn", &lm), 0);
  assert_int_equal(reco__model_new("baseline", &bm), 0);
  assert_int_equal(reco__model_fit(lm, d, NULL), 0);
  assert_int_equal(reco__model_fit(bm, d, NULL), 0);
  double el = 0, eb = 0;
  for (int32_t u = 0; u < d->n_users; u++)
    for (int64_t p = d->uptr[u]; p < d->uptr[u + 1]; p++) {
      double r = d->uval[p];
      el += pow(reco__model_predict(lm, u, d->uitem[p]) - r, 2);
      eb += pow(reco__model_predict(bm, u, d->uitem[p]) - r, 2);
    }
  assert_true(el < eb);
  /* unknown user and item fall back to the biases and stay finite */
  assert_true(isfinite(reco__model_predict(lm, -1, 3)));
  assert_true(isfinite(reco__model_predict(lm, 3, 1000)));
  reco__model_free(lm);
  reco__model_free(bm);
  reco_dataset_free(d);
}

/* Every allocation of a fit may fail: the error comes back and nothing leaks (ASan). */
static void test_alloc_failures(void **st) {
  (void)st;
  reco_dataset *d = random_data();
  static const char *algos[] = {"itemknn", "userknn", "slopeone"};
  for (size_t a = 0; a < RECO_ARRAY_LEN(algos); a++) {
    int ok = 0;
    for (long n = 1; n < 400 && !ok; n++) {
      reco_model *m;
      assert_int_equal(reco__model_new(algos[a], &m), 0);
      if (!strcmp(algos[a], "itemknn")) {
        assert_int_equal(reco__model_set(m, "user_k", "5"), 0);
        assert_int_equal(reco__model_set(m, "epochs", "2"), 0);
      }
      reco__alloc_fail_after(n);
      int rc = reco__model_fit(m, d, NULL);
      reco__alloc_fail_after(0);
      assert_true(rc == 0 || rc == RECO_ENOMEM);
      ok = rc == 0;
      reco__model_free(m);
    }
    assert_true(ok);
  }
  reco_dataset_free(d);
}

static int cancel_cb(void *ud, const char *stage, double done, double total, const char *info) {
  (void)ud, (void)stage, (void)done, (void)total, (void)info;
  return 1;
}

static void test_cancel(void **st) {
  (void)st;
  reco_dataset *d = random_data();
  reco_model *m;
  assert_int_equal(reco__model_new("itemknn", &m), 0);
  reco_progress pr = {cancel_cb, NULL};
  assert_int_equal(reco__model_fit(m, d, &pr), RECO_ECANCELED);
  reco__model_free(m);
  reco_dataset_free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_similarities_by_hand),
      cmocka_unit_test(test_predictions_by_hand),
      cmocka_unit_test(test_roundtrip_itemknn),
      cmocka_unit_test(test_roundtrip_userknn),
      cmocka_unit_test(test_roundtrip_slopeone),
      cmocka_unit_test(test_new_user),
      cmocka_unit_test(test_learned_beats_baseline),
      cmocka_unit_test(test_alloc_failures),
      cmocka_unit_test(test_cancel),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
