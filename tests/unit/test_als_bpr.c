/* test_als_bpr.c - the factor models als, ials and bpr, and the shared factor helpers:
 * implicit ALS never increases its loss (Hu et al. eq. 3) under either solver; CG (Takacs et
 * al. 2011) lands on the Cholesky solution; BPR's per-triple gradient against central finite
 * differences; bit-identical scores, similar items and explanations after a save/load round
 * trip; fold-in of a training user's own history against the trained factors; Hu et al.'s
 * explanation shares summing to the score; batch top-N against per-user top-N; the
 * similar-items table against brute force; the dense kernels and the Gram matrix; thread-count
 * determinism. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "algo/factors.h"

/*
 * A small dataset with structure a factor model can find: users and items belong to one of
 * four taste groups; a user interacts with ~25 items, 80% from their own group, with ratings
 * 4-5 inside the group and 1-3 outside. Item popularity within a group is skewed.
 */
static reco_dataset *grouped(int32_t n_users, int32_t n_items, uint64_t seed) {
  reco_dataset *d = reco__ds_new();
  assert_non_null(d);
  reco_rng r;
  reco__rng_seed(&r, seed);
  char id[32];
  for (int32_t u = 0; u < n_users; u++) {
    snprintf(id, sizeof id, "u%d", u);
    assert_int_equal(reco__ds_user(d, id, strlen(id)), u);
  }
  for (int32_t i = 0; i < n_items; i++) {
    snprintf(id, sizeof id, "i%d", i);
    assert_int_equal(reco__ds_item(d, id, strlen(id)), i);
  }
  for (int32_t u = 0; u < n_users; u++) {
    int g = u % 4, n = 15 + (int)reco__rng_below(&r, 20);
    for (int t = 0; t < n; t++) {
      bool own = reco__rng_uniform(&r) < 0.8;
      int32_t i;
      do { /* skewed: squares of uniforms favour low indices within the group */
        double x = reco__rng_uniform(&r);
        i = (int32_t)(x * x * n_items);
      } while (own != (i % 4 == g));
      float v = own ? 4.0f + (float)reco__rng_below(&r, 2) : 1.0f + (float)reco__rng_below(&r, 3);
      assert_int_equal(reco__ds_add(d, u, i, v, 1000 + t, RECO_EV_RATING), 0);
    }
  }
  d->has_values = true;
  assert_int_equal(reco__ds_finalize(d), 0);
  return d;
}

static reco_model *fit(const char *algo, const reco_dataset *d, const char *const *sets) {
  reco_model *m;
  assert_int_equal(reco__model_new(algo, &m), 0);
  for (int j = 0; sets && sets[j]; j += 2) {
    int rc = reco__model_set(m, sets[j], sets[j + 1]);
    if (rc) fail_msg("%s.%s=%s: %s", algo, sets[j], sets[j + 1], reco_last_error());
  }
  int rc = reco__model_fit(m, d, NULL);
  if (rc) fail_msg("fit %s: %s", algo, reco_last_error());
  return m;
}

/* The view of training user u with the index hidden, so the model folds the history in. */
static reco_user_view anon_view(const reco_dataset *d, int32_t u) {
  reco_user_view v = reco__view_of(d, u);
  v.user = -1;
  return v;
}

static double max_abs_diff(const float *a, const float *b, size_t n, double *scale) {
  double m = 0, s = 0;
  for (size_t j = 0; j < n; j++) {
    m = fmax(m, fabs((double)a[j] - b[j]));
    s = fmax(s, fabs((double)a[j]));
  }
  if (scale) *scale = s;
  return m;
}

/* ---- implicit ALS: loss, solvers ---- */

static void check_decreasing(const reco_model *m) {
  assert_true(m->n_curve >= 2);
  for (int e = 1; e < m->n_curve; e++) {
    if (!(m->curve_loss[e] <= m->curve_loss[e - 1] * (1 + 1e-6)))
      fail_msg("%s: loss rose at epoch %d: %.9g -> %.9g", m->algo->name, e + 1, m->curve_loss[e - 1], m->curve_loss[e]);
  }
  assert_true(m->curve_loss[m->n_curve - 1] < m->curve_loss[0]);
}

static void test_ials_loss_decreases(void **st) {
  (void)st;
  reco_dataset *d = grouped(150, 90, 1);
  const char *cg[] = {"factors", "16", "epochs", "12", "reg", "2", "alpha", "1", NULL};
  const char *ch[] = {"factors", "16", "epochs", "12", "reg", "2", "alpha", "1", "solver", "cholesky", NULL};
  const char *lg[] = {"factors", "8", "epochs", "12", "confidence", "log", "cg_steps", "1", NULL};
  reco_model *m1 = fit("ials", d, cg), *m2 = fit("ials", d, ch), *m3 = fit("ials", d, lg);
  check_decreasing(m1);
  check_decreasing(m2);
  check_decreasing(m3);
  /* three warm-started CG steps reach (nearly) the exact solver's loss */
  assert_true(m1->curve_loss[11] <= m2->curve_loss[11] * 1.01);
  reco__model_free(m1);
  reco__model_free(m2);
  reco__model_free(m3);
  /* explicit ALS: every half-sweep is an exact minimisation too */
  reco_model *m4 = fit("als", d, (const char *[]){"factors", "8", "epochs", "8", NULL});
  check_decreasing(m4);
  reco__model_free(m4);
  reco_dataset_free(d);
}

/* With as many CG steps as factors, CG is exact (in exact arithmetic): the two solvers follow
 * the same trajectory from the same start, so the fitted scores agree. */
static void test_cg_matches_cholesky(void **st) {
  (void)st;
  reco_dataset *d = grouped(120, 80, 2);
  const char *cg[] = {"factors", "8", "epochs", "6", "reg", "1", "cg_steps", "16", NULL};
  const char *ch[] = {"factors", "8", "epochs", "6", "reg", "1", "solver", "cholesky", NULL};
  reco_model *a = fit("ials", d, cg), *b = fit("ials", d, ch);
  float *sa = malloc(80 * sizeof *sa), *sb = malloc(80 * sizeof *sb);
  double worst = 0;
  for (int32_t u = 0; u < 120; u++) {
    reco_user_view v = reco__view_of(d, u);
    assert_int_equal(a->algo->score(a, &v, sa), 0);
    assert_int_equal(b->algo->score(b, &v, sb), 0);
    double scale, diff = max_abs_diff(sb, sa, 80, &scale);
    worst = fmax(worst, diff / fmax(scale, 1e-3));
  }
  if (worst > 1e-4) fail_msg("CG and Cholesky scores differ by %.3g (relative)", worst);
  for (int e = 0; e < 6; e++) assert_true(fabs(a->curve_loss[e] - b->curve_loss[e]) <= 1e-4 * b->curve_loss[e]);
  free(sa);
  free(sb);
  reco__model_free(a);
  reco__model_free(b);
  reco_dataset_free(d);
}

/* ---- BPR: the gradient of one triple ---- */

static double bpr_objective(const float *xu, const float *yi, const float *yj, const float *bi, const float *bj, int k,
                            float reg, float reg_b) {
  float tx[16], ti[16], tj[16], tbi = *bi, tbj = *bj;
  memcpy(tx, xu, sizeof tx);
  memcpy(ti, yi, sizeof ti);
  memcpy(tj, yj, sizeof tj);
  double ls = reco__bpr_step(tx, ti, tj, &tbi, &tbj, k, 0, reg, reg_b, NULL, NULL, NULL, NULL);
  double n2 = 0;
  for (int q = 0; q < k; q++) n2 += (double)xu[q] * xu[q] + (double)yi[q] * yi[q] + (double)yj[q] * yj[q];
  return ls - 0.5 * reg * n2 - 0.5 * reg_b * ((double)*bi * *bi + (double)*bj * *bj);
}

static void test_bpr_gradient(void **st) {
  (void)st;
  enum { K = 16 };
  reco_rng r;
  reco__rng_seed(&r, 7);
  const float reg = 0.05f, reg_b = 0.02f, h = 1e-2f;
  for (int trial = 0; trial < 20; trial++) {
    float xu[K], yi[K], yj[K], bi, bj, gx[K], gi[K], gj[K], gb[2];
    for (int q = 0; q < K; q++) {
      xu[q] = (float)reco__rng_normal(&r) * 0.5f;
      yi[q] = (float)reco__rng_normal(&r) * 0.5f;
      yj[q] = (float)reco__rng_normal(&r) * 0.5f;
    }
    bi = (float)reco__rng_normal(&r);
    bj = (float)reco__rng_normal(&r);
    float c0[K], c1[K], c2[K], cb0 = bi, cb1 = bj;
    memcpy(c0, xu, sizeof c0);
    memcpy(c1, yi, sizeof c1);
    memcpy(c2, yj, sizeof c2);
    reco__bpr_step(c0, c1, c2, &cb0, &cb1, K, 0, reg, reg_b, gx, gi, gj, gb);
    /* lr = 0 moves nothing */
    assert_memory_equal(c0, xu, sizeof c0);
    assert_true(cb0 == bi && cb1 == bj);
    float *params[5] = {xu, yi, yj, &bi, &bj};
    float *grads[5] = {gx, gi, gj, gb, gb + 1};
    int lens[5] = {K, K, K, 1, 1};
    for (int p = 0; p < 5; p++)
      for (int q = 0; q < lens[p]; q++) {
        float keep = params[p][q];
        params[p][q] = keep + h;
        double up = bpr_objective(xu, yi, yj, &bi, &bj, K, reg, reg_b);
        params[p][q] = keep - h;
        double dn = bpr_objective(xu, yi, yj, &bi, &bj, K, reg, reg_b);
        params[p][q] = keep;
        double fd = (up - dn) / (2.0 * h);
        if (fabs(fd - grads[p][q]) > 2e-3 + 2e-3 * fabs(fd))
          fail_msg("trial %d param %d[%d]: analytic %.6g, finite difference %.6g", trial, p, q, grads[p][q], fd);
      }
    /* a step with lr > 0 is one ascent step along that gradient */
    const float lr = 0.1f;
    reco__bpr_step(c0, c1, c2, &cb0, &cb1, K, lr, reg, reg_b, NULL, NULL, NULL, NULL);
    for (int q = 0; q < K; q++) {
      assert_true(fabsf(c0[q] - (xu[q] + lr * gx[q])) < 1e-5f);
      assert_true(fabsf(c1[q] - (yi[q] + lr * gi[q])) < 1e-5f);
      assert_true(fabsf(c2[q] - (yj[q] + lr * gj[q])) < 1e-5f);
    }
    assert_true(fabsf(cb0 - (bi + lr * gb[0])) < 1e-5f && fabsf(cb1 - (bj + lr * gb[1])) < 1e-5f);
  }
}

/* ---- save / load ---- */

static void roundtrip(const char *algo) {
  reco_dataset *d = grouped(100, 70, 3);
  reco_model *m = fit(algo, d, (const char *[]){"factors", "12", "epochs", "5", "similar_k", "6", NULL}), *m2;
  char path[] = "/tmp/reco-test-als-bpr-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(reco__model_save(m, path), 0);
  assert_int_equal(reco__model_load(path, &m2), 0);
  unlink(path);
  assert_string_equal(m2->algo->name, algo);
  float s1[70], s2[70], w1[8], w2[8];
  int32_t i1[8], i2[8];
  for (int32_t u = 0; u < 100; u += 7) {
    reco_user_view v = reco__view_of(d, u), a = anon_view(d, u);
    assert_int_equal(m->algo->score(m, &v, s1), 0);
    assert_int_equal(m2->algo->score(m2, &v, s2), 0);
    assert_memory_equal(s1, s2, sizeof s1);
    assert_int_equal(m->algo->score(m, &a, s1), 0); /* fold-in */
    assert_int_equal(m2->algo->score(m2, &a, s2), 0);
    assert_memory_equal(s1, s2, sizeof s1);
    int n1 = m->algo->explain(m, &v, 5, 8, i1, w1), n2 = m2->algo->explain(m2, &v, 5, 8, i2, w2);
    assert_int_equal(n1, n2);
    assert_true(n1 > 0);
    assert_memory_equal(i1, i2, (size_t)n1 * sizeof *i1);
    assert_memory_equal(w1, w2, (size_t)n1 * sizeof *w1);
    if (m->algo->predict)
      for (int32_t i = 0; i < 70; i += 5) {
        float p1 = reco__model_predict(m, u, i), p2 = reco__model_predict(m2, u, i);
        assert_memory_equal(&p1, &p2, sizeof p1);
      }
  }
  for (int32_t i = 0; i < 70; i += 3) {
    int n1 = m->algo->similar(m, i, 6, i1, w1), n2 = m2->algo->similar(m2, i, 6, i2, w2);
    assert_int_equal(n1, n2);
    assert_memory_equal(i1, i2, (size_t)n1 * sizeof *i1);
    assert_memory_equal(w1, w2, (size_t)n1 * sizeof *w1);
    for (int j = 0; j < n1; j++) assert_true(i1[j] != i && (j == 0 || w1[j] <= w1[j - 1]));
  }
  reco__model_free(m);
  reco__model_free(m2);
  reco_dataset_free(d);
}

static void test_roundtrip_als(void **st) { (void)st; roundtrip("als"); }
static void test_roundtrip_ials(void **st) { (void)st; roundtrip("ials"); }
static void test_roundtrip_bpr(void **st) { (void)st; roundtrip("bpr"); }

/* ---- fold-in ---- */

/* iALS and ALS solve the users last, exactly (Cholesky) against the final item factors: folding
 * a training user's history in solves the same system, so the scores match closely. */
static void foldin_exact(const char *algo, const char *const *sets, double tol) {
  reco_dataset *d = grouped(120, 80, 4);
  reco_model *m = fit(algo, d, sets);
  float s1[80], s2[80];
  double worst = 0;
  for (int32_t u = 0; u < 120; u++) {
    reco_user_view v = reco__view_of(d, u), a = anon_view(d, u);
    assert_int_equal(m->algo->score(m, &v, s1), 0);
    assert_int_equal(m->algo->score(m, &a, s2), 0);
    double scale, diff = max_abs_diff(s1, s2, 80, &scale);
    worst = fmax(worst, diff / fmax(scale, 1e-3));
  }
  if (worst > tol) fail_msg("%s: fold-in scores differ from the trained user's by %.3g (relative)", algo, worst);
  reco__model_free(m);
  reco_dataset_free(d);
}

static void test_foldin_ials(void **st) {
  (void)st;
  foldin_exact("ials", (const char *[]){"factors", "16", "epochs", "8", "solver", "cholesky", NULL}, 2e-5);
  /* with the default CG solver the trained users are a few steps from exact: still close */
  foldin_exact("ials", (const char *[]){"factors", "16", "epochs", "15", NULL}, 2e-2);
}

static void test_foldin_als(void **st) {
  (void)st;
  foldin_exact("als", (const char *[]){"factors", "16", "epochs", "8", NULL}, 2e-5);
}

/* BPR folds in by SGD on the user's vector alone: the ranking should resemble the trained one. */
static void test_foldin_bpr(void **st) {
  (void)st;
  reco_dataset *d = grouped(200, 80, 5);
  reco_model *m = fit("bpr", d, (const char *[]){"factors", "16", "epochs", "60", NULL});
  reco_topk h;
  assert_int_equal(reco__topk_init(&h, 10), 0);
  float scratch[80];
  int32_t a[10], b[10];
  double overlap = 0;
  for (int32_t u = 0; u < 200; u++) {
    reco_user_view v = reco__view_of(d, u), f = anon_view(d, u);
    int na = reco__model_recommend(m, &v, v.items, v.n, 10, scratch, &h, a, NULL);
    int nb = reco__model_recommend(m, &f, f.items, f.n, 10, scratch, &h, b, NULL);
    assert_int_equal(na, 10);
    assert_int_equal(nb, 10);
    for (int x = 0; x < 10; x++)
      for (int y = 0; y < 10; y++) overlap += a[x] == b[y];
  }
  overlap /= 200 * 10.0;
  if (overlap < 0.75) fail_msg("bpr fold-in top-10 shares only %.2f with the trained user's", overlap);
  reco__topk_free(&h);
  reco__model_free(m);
  reco_dataset_free(d);
}

/* Hu et al. section 5: the explanation shares of all history items add up to the score. */
static void test_explain_sums_to_score(void **st) {
  (void)st;
  reco_dataset *d = grouped(80, 60, 6);
  reco_model *m = fit("ials", d, (const char *[]){"factors", "12", "epochs", "6", NULL});
  float s[60], w[64];
  int32_t it[64];
  for (int32_t u = 0; u < 80; u += 9) {
    reco_user_view a = anon_view(d, u);
    assert_int_equal(m->algo->score(m, &a, s), 0);
    for (int32_t i = 0; i < 60; i += 11) {
      int n = m->algo->explain(m, &a, i, 64, it, w);
      assert_int_equal(n, (int)a.n);
      double sum = 0;
      for (int j = 0; j < n; j++) {
        sum += w[j];
        assert_true(j == 0 || w[j] <= w[j - 1]);
      }
      if (fabs(sum - s[i]) > 1e-4 * fmax(1.0, fabs(s[i])))
        fail_msg("user %d item %d: shares %.6g, score %.6g", u, i, sum, s[i]);
    }
  }
  assert_int_equal(m->algo->explain(m, &(reco_user_view){-1, NULL, NULL, NULL, 0}, 3, 5, it, w), 0);
  assert_int_equal(m->algo->explain(m, &(reco_user_view){0, NULL, NULL, NULL, 0}, 60, 5, it, w), RECO_ENOTFOUND);
  reco__model_free(m);
  reco_dataset_free(d);
}

/* ---- shared helpers: batch top-N, similar items ---- */

static void test_batch_topn_equals_single(void **st) {
  (void)st;
  enum { NU = 300, NI = 2500, K = 24, TOP = 10 };
  reco_dataset *ex = grouped(NU, NI, 8); /* exclusions: each user's rows */
  reco_factors f;
  assert_int_equal(reco__factors_alloc(&f, NU, NI, K, false, true), 0);
  reco__factors_randn(f.U, (size_t)NU * K, 1, 11);
  reco__factors_randn(f.V, (size_t)NI * K, 1, 12);
  reco__factors_randn(f.bi, NI, 0.5, 13);
  int32_t users[NU];
  for (int q = 0; q < NU; q++) users[q] = (q * 37) % NU; /* any order */
  int32_t *bi = malloc((size_t)NU * TOP * sizeof *bi);
  float *bs = malloc((size_t)NU * TOP * sizeof *bs), *scores = malloc(NI * sizeof *scores);
  assert_int_equal(reco__factors_topk_batch(f.U, f.V, f.bi, NU, NI, K, users, NU, TOP, ex, bi, bs), 0);
  reco_topk h;
  assert_int_equal(reco__topk_init(&h, TOP), 0);
  for (int q = 0; q < NU; q++) {
    int32_t u = users[q];
    reco__factors_score(&f, f.U + (size_t)u * K, 0, scores);
    reco__topk_reset(&h);
    for (int32_t i = 0; i < NI; i++)
      if (reco__ds_find(ex, u, i) < 0) reco__topk_push(&h, scores[i], i);
    int n = reco__topk_sort(&h);
    assert_int_equal(n, TOP);
    for (int j = 0; j < TOP; j++) {
      if (bi[q * TOP + j] != h.id[j]) fail_msg("user %d rank %d: batch %d, single %d", u, j, bi[q * TOP + j], h.id[j]);
      assert_true(fabsf(bs[q * TOP + j] - h.score[j]) <= 1e-4f * fmaxf(1, fabsf(h.score[j])));
    }
  }
  /* no exclusions, fewer items than asked: padded rows */
  int32_t few[3] = {0, 1, 2}, out[3 * 5];
  float outs[3 * 5];
  assert_int_equal(reco__factors_topk_batch(f.U, f.V, NULL, NU, 4, K, few, 3, 5, NULL, out, outs), 0);
  for (int q = 0; q < 3; q++) {
    assert_int_equal(out[q * 5 + 4], -1);
    assert_true(isinf(outs[q * 5 + 4]));
    assert_true(out[q * 5] >= 0 && out[q * 5] < 4);
  }
  int32_t bad = NU;
  assert_int_equal(reco__factors_topk_batch(f.U, f.V, NULL, NU, NI, K, &bad, 1, 5, NULL, out, outs), RECO_EINVAL);
  reco__topk_free(&h);
  free(bi);
  free(bs);
  free(scores);
  reco__factors_free(&f);
  reco_dataset_free(ex);
}

static void test_similar_table(void **st) {
  (void)st;
  enum { NI = 500, K = 8, S = 7 };
  reco_factors f;
  assert_int_equal(reco__factors_alloc(&f, 1, NI, K, false, false), 0);
  reco__factors_randn(f.V, (size_t)NI * K, 1, 21);
  memset(f.V + 17 * K, 0, K * sizeof(float)); /* an item without a vector */
  assert_int_equal(reco__factors_similar_build(&f, S), 0);
  assert_int_equal(f.sim_k, S);
  int32_t it[40], it2[40];
  float sc[40], sc2[40];
  assert_int_equal(reco__factors_similar(&f, 17, 5, it, sc), 0);
  for (int32_t i = 0; i < NI; i += 13) {
    if (i == 17) continue;
    int n = reco__factors_similar(&f, i, S, it, sc);
    assert_int_equal(n, S);
    /* brute force, and the wide path (k beyond the table) */
    int n2 = reco__factors_similar(&f, i, 40, it2, sc2);
    assert_int_equal(n2, 40);
    for (int j = 0; j < S; j++) {
      assert_int_equal(it[j], it2[j]);
      assert_true(fabsf(sc[j] - sc2[j]) < 1e-5f);
      assert_true(it[j] != i && it[j] != 17);
    }
    const float *q = f.V + (size_t)i * K;
    for (int32_t j = 0; j < NI; j++) { /* nothing outside the list beats its last entry */
      if (j == i || j == 17) continue;
      const float *v = f.V + (size_t)j * K;
      float c = reco__fdot(q, v, K) / sqrtf(reco__fdot(q, q, K) * reco__fdot(v, v, K));
      bool listed = false;
      for (int x = 0; x < S; x++) listed |= it[x] == j;
      if (!listed) assert_true(c <= sc[S - 1] + 1e-5f);
    }
  }
  assert_int_equal(reco__factors_similar(&f, NI, 3, it, sc), RECO_ENOTFOUND);
  reco__factors_free(&f);
}

/* Small kernels against plain loops, with k not a multiple of 16. */
static void test_kernels(void **st) {
  (void)st;
  reco_rng r;
  reco__rng_seed(&r, 31);
  for (int k = 1; k <= 70; k += 3) {
    float S[70 * 70], x[70], y[70], w[5], out[70], ref[70];
    int32_t idx[5] = {4, 0, 2, 4, 1};
    for (int a = 0; a < k; a++)
      for (int b = 0; b <= a; b++) S[a * k + b] = S[b * k + a] = (float)reco__rng_normal(&r);
    for (int a = 0; a < k; a++) x[a] = (float)reco__rng_normal(&r);
    reco__fsymv(S, x, y, k);
    double d = 0;
    for (int a = 0; a < k; a++) {
      double t = 0;
      for (int b = 0; b < k; b++) t += (double)S[a * k + b] * x[b];
      assert_true(fabs(t - y[a]) < 1e-4 * (1 + fabs(t)));
      d += (double)S[a] * x[a];
    }
    assert_true(fabs(d - reco__fdot(S, x, k)) < 1e-4 * (1 + fabs(d)));
    for (int t = 0; t < 5; t++) w[t] = (float)reco__rng_normal(&r);
    for (int a = 0; a < k; a++) out[a] = ref[a] = 1.0f;
    reco__fgather_axpy(S, k, idx, w, 5, k, out);
    for (int t = 0; t < 5; t++)
      for (int a = 0; a < k; a++) ref[a] += w[t] * S[idx[t] * k + a];
    for (int a = 0; a < k; a++) assert_true(fabsf(out[a] - ref[a]) < 1e-4f * (1 + fabsf(ref[a])));
  }
  /* Cholesky on a known SPD matrix: A = M M^T + I */
  double A[6 * 6], L[6 * 6], col[6], b[6], x[6] = {1, -2, 3, 0.5, -1, 2};
  for (int i = 0; i < 6; i++)
    for (int j = 0; j < 6; j++) {
      double t = i == j;
      for (int p = 0; p < 6; p++) t += (double)((i + p) % 5 - 2) * ((j + p) % 5 - 2);
      A[i * 6 + j] = t;
    }
  memcpy(L, A, sizeof L);
  assert_int_equal(reco__chol(L, 6, col), 0);
  for (int i = 0; i < 6; i++) {
    b[i] = 0;
    for (int j = 0; j < 6; j++) b[i] += A[i * 6 + j] * x[j];
  }
  reco__chol_solve(L, 6, b);
  for (int i = 0; i < 6; i++) assert_true(fabs(b[i] - x[i]) < 1e-10);
  double N[4] = {1, 2, 2, 1}; /* indefinite */
  assert_int_equal(reco__chol(N, 2, col), RECO_ERANGE);
}

/* The Gram matrix against double sums; the chunked path (large n) gives the same bits for any
 * thread count. */
static void test_gram(void **st) {
  (void)st;
  enum { K = 64 };
  const int32_t sizes[2] = {300, 20000}; /* 20000 x 64 x 64 is past the chunked threshold */
  for (int z = 0; z < 2; z++) {
    int32_t n = sizes[z];
    float *A = malloc((size_t)n * K * sizeof *A), *G1 = malloc(K * K * sizeof *G1), *G2 = malloc(K * K * sizeof *G2);
    reco__factors_randn(A, (size_t)n * K, 1, 41 + (uint64_t)z);
    reco__factors_gram(A, n, K, G1, 1);
    reco__factors_gram(A, n, K, G2, 2);
    assert_memory_equal(G1, G2, K * K * sizeof *G1);
    for (int a = 0; a < K; a += 7)
      for (int b = 0; b < K; b += 5) {
        double t = 0;
        for (int32_t i = 0; i < n; i++) t += (double)A[(size_t)i * K + a] * A[(size_t)i * K + b];
        assert_true(fabs(t - G1[a * K + b]) <= 1e-4 * (fabs(t) + n));
        assert_true(G1[a * K + b] == G1[b * K + a]);
      }
    free(A);
    free(G1);
    free(G2);
  }
}

/* ---- determinism, parameters ---- */

static void test_determinism(void **st) {
  (void)st;
  reco_dataset *d = grouped(90, 60, 9);
  float s1[60], s2[60];
  const char *p[] = {"factors", "8", "epochs", "4", NULL};
  reco_set_threads(1);
  reco_model *a = fit("ials", d, p), *c = fit("bpr", d, p), *c2 = fit("bpr", d, p);
  reco_set_threads(2);
  reco_model *b = fit("ials", d, p);
  for (int32_t u = 0; u < 90; u += 4) {
    reco_user_view v = reco__view_of(d, u);
    /* iALS: every vector's solve is independent of the thread count */
    assert_int_equal(a->algo->score(a, &v, s1), 0);
    assert_int_equal(b->algo->score(b, &v, s2), 0);
    assert_memory_equal(s1, s2, sizeof s1);
    /* BPR: deterministic for the seed with one thread (Hogwild with more is not) */
    assert_int_equal(c->algo->score(c, &v, s1), 0);
    assert_int_equal(c2->algo->score(c2, &v, s2), 0);
    assert_memory_equal(s1, s2, sizeof s1);
  }
  reco_set_threads(0);
  reco__model_free(a);
  reco__model_free(b);
  reco__model_free(c);
  reco__model_free(c2);
  reco_dataset_free(d);
}

static void test_params_and_edges(void **st) {
  (void)st;
  reco_model *m;
  assert_int_equal(reco__model_new("ials", &m), 0);
  assert_int_equal(reco__model_set(m, "solver", "lu"), RECO_EINVAL);
  assert_int_equal(reco__model_set(m, "factors", "513"), RECO_ERANGE);
  assert_int_equal(reco__model_set(m, "confidence", "log"), 0);
  reco__model_free(m);
  /* an item nobody interacted with, a user with one interaction, an empty fold-in history */
  reco_dataset *d = reco__ds_new();
  int32_t u0 = reco__ds_user(d, "a", 1), u1 = reco__ds_user(d, "b", 1);
  int32_t i0 = reco__ds_item(d, "x", 1), i1 = reco__ds_item(d, "y", 1), i2 = reco__ds_item(d, "z", 1);
  (void)i2;
  reco__ds_add(d, u0, i0, 5, 1, RECO_EV_RATING);
  reco__ds_add(d, u0, i1, 3, 2, RECO_EV_RATING);
  reco__ds_add(d, u1, i1, 4, 3, RECO_EV_RATING);
  d->has_values = true;
  assert_int_equal(reco__ds_finalize(d), 0);
  const char *names[] = {"als", "ials", "bpr"};
  for (int a = 0; a < 3; a++) {
    reco_model *x = fit(names[a], d, (const char *[]){"factors", "4", "epochs", "3", NULL});
    float s[3];
    int32_t it[4];
    reco_user_view empty = {-1, NULL, NULL, NULL, 0};
    int32_t hist[2] = {i1, 99}; /* an unknown index is skipped */
    reco_user_view v = {-1, hist, NULL, NULL, 2};
    assert_int_equal(x->algo->score(x, &empty, s), 0);
    for (int j = 0; j < 3; j++) assert_true(isfinite(s[j]));
    assert_int_equal(x->algo->score(x, &v, s), 0);
    for (int j = 0; j < 3; j++) assert_true(isfinite(s[j]));
    assert_true(x->algo->similar(x, 0, 4, it, NULL) >= 0);
    reco__model_free(x);
  }
  reco_dataset_free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ials_loss_decreases),
      cmocka_unit_test(test_cg_matches_cholesky),
      cmocka_unit_test(test_bpr_gradient),
      cmocka_unit_test(test_roundtrip_als),
      cmocka_unit_test(test_roundtrip_ials),
      cmocka_unit_test(test_roundtrip_bpr),
      cmocka_unit_test(test_foldin_ials),
      cmocka_unit_test(test_foldin_als),
      cmocka_unit_test(test_foldin_bpr),
      cmocka_unit_test(test_explain_sums_to_score),
      cmocka_unit_test(test_batch_topn_equals_single),
      cmocka_unit_test(test_similar_table),
      cmocka_unit_test(test_kernels),
      cmocka_unit_test(test_gram),
      cmocka_unit_test(test_determinism),
      cmocka_unit_test(test_params_and_edges),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
