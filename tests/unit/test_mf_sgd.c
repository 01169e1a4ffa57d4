/* test_mf_sgd.c - the factor models of svd.c and nmf.c: the SGD step against finite differences
 * of the per-rating loss (svd and SVD++), falling training loss, bit-identical save/load,
 * fold-in of a training user's own history against the trained factors, NMF's non-negativity,
 * and determinism for a seed across thread counts. Data: a seeded low-rank synthetic set. */
#include <math.h>
#include <omp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "algo/algo.h"

/* internals of svd.c (no header: only tests and benchmarks use them) */
float reco__mf_sgd_step(float r, float mu, float *bu, float *bi, float *p, float *q, const float *z, float *g, int k,
                        float lr, float lr_b, float reg, float reg_b);
int reco__mf_fold_in(const reco_model *m, const reco_user_view *v, float *p, float *bu);

enum { NU = 300, NI = 200, RANK = 3 };

/* Ratings 1..5 from mu + b_u + b_i + p.q + noise, about 20% of the pairs (seeded). */
static reco_dataset *synth(void) {
  reco_dataset *d = reco__ds_new();
  reco_rng rng;
  reco__rng_seed(&rng, 7);
  static float P[NU][RANK], Q[NI][RANK], BU[NU], BI[NI];
  for (int u = 0; u < NU; u++) {
    BU[u] = (float)(0.4 * reco__rng_normal(&rng));
    for (int f = 0; f < RANK; f++) P[u][f] = (float)(0.7 * reco__rng_normal(&rng));
  }
  for (int i = 0; i < NI; i++) {
    BI[i] = (float)(0.5 * reco__rng_normal(&rng));
    for (int f = 0; f < RANK; f++) Q[i][f] = (float)(0.7 * reco__rng_normal(&rng));
  }
  char id[32];
  for (int u = 0; u < NU; u++) {
    snprintf(id, sizeof id, "u%d", u);
    reco__ds_user(d, id, strlen(id));
  }
  for (int i = 0; i < NI; i++) {
    snprintf(id, sizeof id, "i%d", i);
    reco__ds_item(d, id, strlen(id));
  }
  for (int u = 0; u < NU; u++)
    for (int i = 0; i < NI; i++) {
      if (reco__rng_uniform(&rng) > 0.2) continue;
      double r = 3.5 + BU[u] + BI[i] + 0.3 * reco__rng_normal(&rng);
      for (int f = 0; f < RANK; f++) r += P[u][f] * Q[i][f];
      r = round(r);
      r = r < 1 ? 1 : r > 5 ? 5 : r;
      reco__ds_add(d, u, i, (float)r, 1000 + u * NI + i, RECO_EV_RATING);
    }
  d->has_values = true;
  assert_int_equal(reco__ds_finalize(d), 0);
  return d;
}

static reco_model *fit(const char *algo, const reco_dataset *d, const char *const *sets, int n_sets) {
  reco_model *m;
  assert_int_equal(reco__model_new(algo, &m), 0);
  for (int s = 0; s < n_sets; s++) {
    char key[64];
    const char *eq = strchr(sets[s], '=');
    snprintf(key, sizeof key, "%.*s", (int)(eq - sets[s]), sets[s]);
    assert_int_equal(reco__model_set(m, key, eq + 1), 0);
  }
  assert_int_equal(reco__model_fit(m, d, NULL), 0);
  return m;
}

/* ---- the per-rating step against finite differences ---- */

enum { K = 20, KP = 32 };

typedef struct params {
  float bu, bi;
  float p[KP] __attribute__((aligned(64)));
  float q[KP] __attribute__((aligned(64)));
  float y[3][KP] __attribute__((aligned(64))); /* SVD++: N(u) = three items */
} params;

/* The per-rating loss, written independently of svd.c, in double:
 * 1/2 e^2 + reg/2 (|p|^2 + |q|^2) + reg_b/2 (bu^2 + bi^2), e = r - mu - bu - bi - q.(p + z),
 * z = |N|^-1/2 sum_j y_j (SVD++ only; y's own penalty is applied per epoch, not per rating). */
static double loss(const params *x, double r, double mu, double reg, double reg_b, bool pp) {
  double dot = 0, pn = 0, qn = 0;
  for (int f = 0; f < K; f++) {
    double z = 0;
    if (pp) z = (x->y[0][f] + x->y[1][f] + x->y[2][f]) / sqrt(3.0);
    dot += x->q[f] * (x->p[f] + z);
    pn += (double)x->p[f] * x->p[f];
    qn += (double)x->q[f] * x->q[f];
  }
  double e = r - mu - x->bu - x->bi - dot;
  return 0.5 * e * e + 0.5 * reg * (pn + qn) + 0.5 * reg_b * ((double)x->bu * x->bu + (double)x->bi * x->bi);
}

static double fd(params *x, float *v, double r, double mu, double reg, double reg_b, bool pp) {
  const float h = 1e-2f;
  float save = *v;
  *v = save + h;
  double lp = loss(x, r, mu, reg, reg_b, pp);
  *v = save - h;
  double lm = loss(x, r, mu, reg, reg_b, pp);
  *v = save;
  return (lp - lm) / (2.0 * h); /* exact for a quadratic in v up to rounding */
}

static void check_step(bool pp) {
  params x;
  memset(&x, 0, sizeof x);
  reco_rng rng;
  reco__rng_seed(&rng, pp ? 11 : 10);
  x.bu = 0.3f;
  x.bi = -0.2f;
  for (int f = 0; f < K; f++) {
    x.p[f] = (float)(0.3 * reco__rng_normal(&rng));
    x.q[f] = (float)(0.3 * reco__rng_normal(&rng));
    for (int j = 0; j < 3; j++) x.y[j][f] = (float)(0.2 * reco__rng_normal(&rng));
  }
  const float r = 4, mu = 3.5f, reg = 0.07f, reg_b = 0.03f;
  float z[KP] __attribute__((aligned(64))) = {0}, g[KP] __attribute__((aligned(64))) = {0};
  for (int f = 0; f < K; f++) z[f] = (float)((x.y[0][f] + x.y[1][f] + x.y[2][f]) / sqrt(3.0));
  /* finite-difference gradient at the current point */
  double gbu = fd(&x, &x.bu, r, mu, reg, reg_b, pp), gbi = fd(&x, &x.bi, r, mu, reg, reg_b, pp);
  double gp[K], gq[K], gy[K];
  for (int f = 0; f < K; f++) {
    gp[f] = fd(&x, &x.p[f], r, mu, reg, reg_b, pp);
    gq[f] = fd(&x, &x.q[f], r, mu, reg, reg_b, pp);
    gy[f] = fd(&x, &x.y[1][f], r, mu, reg, reg_b, pp); /* the same for every j in N(u) */
  }
  /* one step with learning rate 1: the change is minus the gradient */
  params after = x;
  double e_expect = r - mu - x.bu - x.bi;
  for (int f = 0; f < K; f++) e_expect -= (double)x.q[f] * (x.p[f] + (pp ? z[f] : 0));
  float e = reco__mf_sgd_step(r, mu, &after.bu, &after.bi, after.p, after.q, pp ? z : NULL, pp ? g : NULL, KP, 1.0f, 1.0f,
                              reg, reg_b);
  assert_true(fabs(e - e_expect) < 1e-5);
  const double tol = 2e-3;
  assert_true(fabs((x.bu - after.bu) - gbu) < tol);
  assert_true(fabs((x.bi - after.bi) - gbi) < tol);
  for (int f = 0; f < K; f++) {
    assert_true(fabs((x.p[f] - after.p[f]) - gp[f]) < tol);
    assert_true(fabs((x.q[f] - after.q[f]) - gq[f]) < tol);
    /* SVD++: the data part of y_j's gradient is -|N|^-1/2 times what the step adds to g */
    if (pp) assert_true(fabs(-g[f] / sqrt(3.0) - gy[f]) < tol);
  }
  for (int f = K; f < KP; f++) assert_true(after.p[f] == 0 && after.q[f] == 0); /* padding stays zero */
}

static void test_step_gradient_svd(void **st) {
  (void)st;
  check_step(false);
}

static void test_step_gradient_svdpp(void **st) {
  (void)st;
  check_step(true);
}

/* ---- training ---- */

static void test_loss_decreases(void **st) {
  (void)st;
  reco_dataset *d = synth();
  static const char *algos[] = {"svd", "svdpp", "nmf"};
  for (size_t a = 0; a < RECO_ARRAY_LEN(algos); a++) {
    const char *sets[] = {"factors=8", "epochs=15", "valid_frac=0"};
    reco_model *m = fit(algos[a], d, sets, strcmp(algos[a], "nmf") ? 3 : 2);
    assert_true(m->n_curve >= 10);
    int rises = 0;
    for (int e = 1; e < m->n_curve; e++) rises += m->curve_loss[e] > m->curve_loss[e - 1] + 1e-6f;
    if (rises) {
      for (int e = 0; e < m->n_curve; e++) print_message("%s epoch %d loss %.6f\n", algos[a], e + 1, m->curve_loss[e]);
    }
    assert_int_equal(rises, 0);
    assert_true(m->curve_loss[m->n_curve - 1] < 0.95f * m->curve_loss[0]);
    /* and it has learnt something beyond the biases: better than the global mean on training */
    double se = 0, se0 = 0;
    for (int32_t u = 0; u < d->n_users; u++)
      for (int64_t t = d->uptr[u]; t < d->uptr[u + 1]; t++) {
        double e = reco__model_predict(m, u, d->uitem[t]) - d->uval[t], e0 = m->global_mean - d->uval[t];
        se += e * e;
        se0 += e0 * e0;
      }
    assert_true(se < 0.5 * se0);
    reco__model_free(m);
  }
  reco_dataset_free(d);
}

static void test_early_stopping(void **st) {
  (void)st;
  reco_dataset *d = synth();
  /* a learning rate that overfits fast: validation stops it well before the maximum */
  const char *sets[] = {"factors=32", "epochs=200", "reg=0", "lr=0.05", "lr_decay=1", "valid_frac=0.2", "refit=false",
                        "patience=2"};
  reco_model *m = fit("svd", d, sets, 8);
  assert_true(m->n_curve < 200);
  int best = 0;
  for (int e = 0; e < m->n_curve; e++) {
    assert_false(isnan(m->curve_valid[e]));
    if (m->curve_valid[e] < m->curve_valid[best]) best = e;
  }
  assert_true(best < m->n_curve - 1); /* stopped after the best epoch, by patience */
  reco__model_free(m);
  reco_dataset_free(d);
}

/* ---- save / load ---- */

static void scores_of(const reco_model *m, const reco_dataset *d, float *pred, float *sc) {
  for (int32_t u = 0; u < NU; u++)
    for (int32_t i = 0; i < NI; i++) pred[u * NI + i] = reco__model_predict(m, u, i);
  /* known users, and the same histories as unknown users (fold-in) */
  for (int32_t u = 0; u < 5; u++) {
    reco_user_view v = reco__view_of(d, u);
    assert_int_equal(m->algo->score(m, &v, sc + (size_t)u * NI), 0);
    v.user = -1;
    assert_int_equal(m->algo->score(m, &v, sc + (size_t)(5 + u) * NI), 0);
  }
}

static void test_save_load_identical(void **st) {
  (void)st;
  reco_dataset *d = synth();
  static const char *algos[] = {"svd", "svdpp", "nmf"};
  char path[] = "/tmp/test_mf_sgdXXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  float *a = malloc(NU * NI * sizeof *a), *b = malloc(NU * NI * sizeof *b);
  float *sa = malloc(10 * NI * sizeof *sa), *sb = malloc(10 * NI * sizeof *sb);
  for (size_t x = 0; x < RECO_ARRAY_LEN(algos); x++) {
    const char *sets[] = {"factors=20", "epochs=8"};
    reco_model *m = fit(algos[x], d, sets, 2), *l;
    assert_int_equal(reco__model_save(m, path), 0);
    assert_int_equal(reco__model_load(path, &l), 0);
    assert_string_equal(l->algo->name, algos[x]);
    scores_of(m, d, a, sa);
    scores_of(l, d, b, sb);
    assert_memory_equal(a, b, NU * NI * sizeof *a);
    assert_memory_equal(sa, sb, 10 * NI * sizeof *sa);
    reco__model_free(m);
    reco__model_free(l);
  }
  unlink(path);
  free(a);
  free(b);
  free(sa);
  free(sb);
  reco_dataset_free(d);
}

/* ---- fold-in ---- */

static void check_fold_in(const char *algo) {
  reco_dataset *d = synth();
  /* trained to convergence (a constant, small learning rate for long), no held-out ratings */
  const char *sets[] = {"factors=16", "epochs=200", "lr_decay=1", "valid_frac=0", "lr=0.01", "lr_bias=0.01"};
  reco_model *m = fit(algo, d, sets, 6);
  char path[] = "/tmp/test_mf_foldXXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(reco__model_save(m, path), 0);
  reco_mf_reader *r;
  assert_int_equal(reco__mf_open(path, &r), 0);
  const void *pv, *bv;
  uint64_t n;
  assert_int_equal(reco__mf_get(r, "p", RECO_DT_F32, &pv, &n), 0);
  assert_int_equal(reco__mf_get(r, "bu", RECO_DT_F32, &bv, &n), 0);
  const float *P = pv, *BU = bv;
  double worst_cos = 1, worst_pred = 0;
  float p[16], bu, *s1 = malloc(NI * sizeof *s1), *s2 = malloc(NI * sizeof *s2);
  for (int32_t u = 0; u < 40; u++) {
    reco_user_view v = reco__view_of(d, u);
    v.user = -1;
    assert_int_equal(reco__mf_fold_in(m, &v, p, &bu), 0);
    const float *pt = P + (size_t)u * 16;
    double dot = 0, na = 0, nb = 0;
    for (int f = 0; f < 16; f++) dot += (double)p[f] * pt[f], na += (double)p[f] * p[f], nb += (double)pt[f] * pt[f];
    double cosv = dot / sqrt(na * nb + 1e-30);
    if (cosv < worst_cos) worst_cos = cosv;
    assert_true(fabs(bu - BU[u]) < 0.1);
    /* scores of the folded-in view against the known user's */
    assert_int_equal(m->algo->score(m, &v, s1), 0);
    v.user = u;
    assert_int_equal(m->algo->score(m, &v, s2), 0);
    for (int32_t i = 0; i < NI; i++)
      if (fabs(s1[i] - s2[i]) > worst_pred) worst_pred = fabs(s1[i] - s2[i]);
  }
  print_message("%s fold-in: worst cosine to the trained factors %.4f, worst score difference %.4f\n", algo, worst_cos,
                worst_pred);
  assert_true(worst_cos > 0.98);
  assert_true(worst_pred < 0.1);
  reco__mf_close(r);
  unlink(path);
  free(s1);
  free(s2);
  reco__model_free(m);
  reco_dataset_free(d);
}

static void test_fold_in_svd(void **st) {
  (void)st;
  check_fold_in("svd");
}

static void test_fold_in_svdpp(void **st) {
  (void)st;
  check_fold_in("svdpp");
}

static void test_fold_in_new_items(void **st) {
  (void)st;
  reco_dataset *d = synth();
  const char *sets[] = {"factors=16", "epochs=10"};
  reco_model *m = fit("svd", d, sets, 2);
  float *a = malloc(NI * sizeof *a), *b = malloc(NI * sizeof *b);
  /* a known user whose history is longer than at training is folded in, not looked up */
  reco_user_view v = reco__view_of(d, 3);
  int32_t items[NI];
  float vals[NI];
  memcpy(items, v.items, v.n * sizeof *items);
  memcpy(vals, v.values, v.n * sizeof *vals);
  int32_t extra = 0;
  while (reco__ds_find(d, 3, extra) >= 0) extra++;
  items[v.n] = extra;
  vals[v.n] = 5;
  reco_user_view longer = {3, items, vals, NULL, v.n + 1};
  assert_int_equal(m->algo->score(m, &v, a), 0);
  assert_int_equal(m->algo->score(m, &longer, b), 0);
  assert_memory_not_equal(a, b, NI * sizeof *a);
  /* unknown items in a history are skipped; an empty history scores by the biases */
  int32_t bad[2] = {NI + 5, -3};
  reco_user_view none = {-1, bad, NULL, NULL, 2};
  assert_int_equal(m->algo->score(m, &none, a), 0);
  for (int32_t i = 0; i < NI; i++) assert_true(fabsf(a[i] - m->algo->predict(m, -1, i)) < 1e-5f);
  free(a);
  free(b);
  reco__model_free(m);
  reco_dataset_free(d);
}

/* ---- NMF ---- */

static void test_nmf_non_negative(void **st) {
  (void)st;
  reco_dataset *d = synth();
  const char *sets[] = {"factors=10", "epochs=10"};
  reco_model *m = fit("nmf", d, sets, 2);
  char path[] = "/tmp/test_mf_nmfXXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(reco__model_save(m, path), 0);
  reco_mf_reader *r;
  assert_int_equal(reco__mf_open(path, &r), 0);
  static const char *names[] = {"p", "q"};
  size_t positive = 0, total = 0;
  for (int x = 0; x < 2; x++) {
    const void *v;
    uint64_t n;
    assert_int_equal(reco__mf_get(r, names[x], RECO_DT_F32, &v, &n), 0);
    assert_int_equal(n, (uint64_t)(x ? NI : NU) * 10);
    for (uint64_t t = 0; t < n; t++) {
      assert_true(((const float *)v)[t] >= 0.0f);
      positive += ((const float *)v)[t] > 0;
    }
    total += n;
  }
  assert_true(positive > total / 10); /* not all clipped to zero */
  reco__mf_close(r);
  unlink(path);
  /* fold-in gives similar rankings to the trained user: top-10 overlap */
  float *a = malloc(NI * sizeof *a), *b = malloc(NI * sizeof *b);
  reco_topk h1, h2;
  reco__topk_init(&h1, 10);
  reco__topk_init(&h2, 10);
  int overlap = 0;
  for (int32_t u = 0; u < 20; u++) {
    reco_user_view v = reco__view_of(d, u);
    int32_t o1[10], o2[10];
    assert_int_equal(reco__model_recommend(m, &v, NULL, 0, 10, a, &h1, o1, NULL), 10);
    v.user = -1;
    assert_int_equal(reco__model_recommend(m, &v, NULL, 0, 10, b, &h2, o2, NULL), 10);
    for (int x = 0; x < 10; x++)
      for (int y = 0; y < 10; y++) overlap += o1[x] == o2[y];
  }
  assert_true(overlap >= 20 * 6);
  reco__topk_free(&h1);
  reco__topk_free(&h2);
  free(a);
  free(b);
  reco__model_free(m);
  reco_dataset_free(d);
}

/* ---- determinism ---- */

static void test_deterministic(void **st) {
  (void)st;
  reco_dataset *d = synth();
  static const char *algos[] = {"svd", "svdpp", "nmf"};
  float *a = malloc(NU * NI * sizeof *a), *b = malloc(NU * NI * sizeof *b);
  float *sa = malloc(10 * NI * sizeof *sa), *sb = malloc(10 * NI * sizeof *sb);
  for (size_t x = 0; x < RECO_ARRAY_LEN(algos); x++) {
    const char *sets[] = {"factors=16", "epochs=6"};
    /* the same seed: identical with 1 and 2 threads (the grid does not depend on the count) */
    reco_set_threads(1);
    reco_model *m1 = fit(algos[x], d, sets, 2);
    reco_set_threads(2);
    reco_model *m2 = fit(algos[x], d, sets, 2);
    scores_of(m1, d, a, sa);
    scores_of(m2, d, b, sb);
    assert_memory_equal(a, b, NU * NI * sizeof *a);
    assert_memory_equal(sa, sb, 10 * NI * sizeof *sa);
    /* and twice with 2 threads */
    reco_model *m3 = fit(algos[x], d, sets, 2);
    scores_of(m3, d, b, sb);
    assert_memory_equal(a, b, NU * NI * sizeof *a);
    /* another seed: another model */
    reco_model *m4;
    assert_int_equal(reco__model_new(algos[x], &m4), 0);
    assert_int_equal(reco__model_set(m4, "factors", "16"), 0);
    assert_int_equal(reco__model_set(m4, "epochs", "6"), 0);
    m4->seed = 7;
    assert_int_equal(reco__model_fit(m4, d, NULL), 0);
    scores_of(m4, d, b, sb);
    assert_memory_not_equal(a, b, NU * NI * sizeof *a);
    reco__model_free(m1);
    reco__model_free(m2);
    reco__model_free(m3);
    reco__model_free(m4);
  }
  reco_set_threads(0);
  free(a);
  free(b);
  free(sa);
  free(sb);
  reco_dataset_free(d);
}

static void test_params_checked(void **st) {
  (void)st;
  reco_model *m;
  assert_int_equal(reco__model_new("svd", &m), 0);
  assert_int_equal(reco__model_set(m, "factors", "513"), RECO_ERANGE);
  assert_int_equal(reco__model_set(m, "valid_frac", "0.9"), RECO_ERANGE);
  assert_int_equal(reco__model_set(m, "refit", "maybe"), RECO_EINVAL);
  reco__model_free(m);
  assert_int_equal(reco__model_new("nmf", &m), 0);
  assert_int_equal(reco__model_set(m, "factors", "300"), RECO_ERANGE);
  reco__model_free(m);
  /* an empty dataset fits and scores by the (zero) biases */
  reco_dataset *d = reco__ds_new();
  assert_int_equal(reco__ds_finalize(d), 0);
  static const char *algos[] = {"svd", "svdpp", "nmf"};
  for (size_t x = 0; x < RECO_ARRAY_LEN(algos); x++) {
    assert_int_equal(reco__model_new(algos[x], &m), 0);
    assert_int_equal(reco__model_fit(m, d, NULL), 0);
    reco__model_free(m);
  }
  reco_dataset_free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_step_gradient_svd),   cmocka_unit_test(test_step_gradient_svdpp),
      cmocka_unit_test(test_loss_decreases),      cmocka_unit_test(test_early_stopping),
      cmocka_unit_test(test_save_load_identical), cmocka_unit_test(test_fold_in_svd),
      cmocka_unit_test(test_fold_in_svdpp),       cmocka_unit_test(test_fold_in_new_items),
      cmocka_unit_test(test_nmf_non_negative),    cmocka_unit_test(test_deterministic),
      cmocka_unit_test(test_params_checked),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
