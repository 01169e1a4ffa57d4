/*
 * nmf.c - `nmf`: biased non-negative matrix factorisation of explicit ratings,
 *   rhat_ui = mu + b_u + b_i + p_u^T q_i   with p_u >= 0, q_i >= 0,
 * minimising over the training ratings K
 *   sum_(u,i in K) (r_ui - rhat_ui)^2 + lambda (n_u |p_u|^2 + n_i |q_i|^2) + lambda_b (n_u b_u^2 + n_i b_i^2)
 * (penalties weighted by the row counts n_u, n_i as in ALS-WR, Zhou et al. 2008).
 *
 * Solver: cyclic coordinate descent on the observed entries with projection onto p, q >= 0 -
 * feature-wise ("rank-one") updates as in CCD++ (Yu, Hsieh, Si, Dhillon 2012, section 3) with
 * the non-negativity of HALS / FastHALS (Cichocki & Phan 2009; Hsieh & Dhillon 2011, eq. 6):
 * each one-variable subproblem is a 1-D quadratic whose minimiser is clipped at zero,
 *   p_uf <- max(0, sum_{i in R(u)} (e_ui + p_uf q_if) q_if / (lambda n_u + sum_{i in R(u)} q_if^2)),
 * with the residuals e_ui = r_ui - rhat_ui kept up to date, and likewise for q_if over R(i)
 * and, without the clip, for the biases. One sweep visits the biases, then every feature f:
 * all users, then all items. Users are independent of each other given Q (and items given P),
 * so they run in parallel with no two threads writing the same value: the result is the same
 * for any thread count. Each update cannot increase the objective, so the training loss
 * falls monotonically (the tests check it). Factors start from a seeded uniform draw on
 * [0, init] (positive: a zero factor with zero partners would never move).
 *
 * The non-negativity makes p_u^T q_i >= 0, so the factors explain only the "positive
 * affinity" above the biases (Lee & Seung 1999's parts-based reading); the biases take the
 * rest. Multiplicative updates (Lee & Seung 2001; Luo et al. 2014 as in Surprise) cannot be
 * used with biases, whose residuals are signed; coordinate descent handles both.
 *
 * Scoring: mu + b_u + b_i + Q p_u by cblas_sgemv over the item factors. Fold-in for a user view
 * with user = -1 (or a known user with a longer history than at training) runs the same
 * coordinate descent on that user's (p, b_u) alone, with Q and b_i fixed, in stack buffers
 * (k <= 256 and at most 512 history items are used: the latest ones).
 */
#include "algo.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#define NMF_MAX_K 256
#define NMF_MAX_HIST 512

static const reco_param_spec k_params[] = {
    {"factors", RECO_P_INT, 15, 1, NMF_MAX_K, NULL, "latent factors k (non-negative)"},
    {"epochs", RECO_P_INT, 20, 1, 10000, NULL, "coordinate descent sweeps"},
    {"reg", RECO_P_FLOAT, 0.06, 0, 1e3, NULL, "L2 penalty on factors, per rating"},
    {"reg_bias", RECO_P_FLOAT, 0.02, 0, 1e3, NULL, "L2 penalty on biases, per rating"},
    {"init", RECO_P_FLOAT, 0.1, 0, 10, NULL, "initial factors uniform on [0, init]"},
    {"inner", RECO_P_INT, 1, 1, 100, NULL, "user/item passes per feature (CCD++ inner iterations)"},
};

typedef struct nmf_state {
  int k, kp;
  float *bu, *bi, *p, *q; /* p, q rows padded to kp floats (64 bytes) */
  int32_t *cnt;
  float reg, reg_bias;
} nmf_state;

static void nmf_free(reco_model *m) {
  nmf_state *s = m->state;
  if (!s) return;
  reco__free_aligned(s->bu);
  reco__free_aligned(s->bi);
  reco__free_aligned(s->p);
  reco__free_aligned(s->q);
  reco__free_aligned(s->cnt);
  reco__free(s);
  m->state = NULL;
}

static int nmf_state_new(reco_model *m, nmf_state **out) {
  nmf_state *s = reco__calloc(1, sizeof *s);
  *out = s;
  if (!s) return reco__seterr(RECO_ENOMEM, "out of memory for nmf");
  m->state = s;
  s->k = (int)reco__model_param(m, "factors");
  s->kp = (s->k + 15) / 16 * 16;
  s->reg = (float)reco__model_param(m, "reg");
  s->reg_bias = (float)reco__model_param(m, "reg_bias");
  size_t nu = (size_t)(m->n_users ? m->n_users : 1), ni = (size_t)(m->n_items ? m->n_items : 1);
  s->bu = reco__aligned_calloc(nu * sizeof(float));
  s->bi = reco__aligned_calloc(ni * sizeof(float));
  s->p = reco__aligned_calloc(nu * (size_t)s->kp * sizeof(float));
  s->q = reco__aligned_calloc(ni * (size_t)s->kp * sizeof(float));
  s->cnt = reco__aligned_calloc(nu * sizeof(int32_t));
  if (!s->bu || !s->bi || !s->p || !s->q || !s->cnt) return reco__seterr(RECO_ENOMEM, "out of memory for nmf factors");
  return 0;
}

/*
 * The clipped minimiser of one coordinate x over its row: residuals e[t] (of the row's ratings,
 * partner values a[t]) include the current x, and are updated in place for the new value.
 * Minimises sum_t (e_t + x a_t - x' a_t)^2 + lam x'^2; clip = non-negativity.
 */
static inline float cd_coord(float x, float *e, const float *a, size_t n, float lam, bool clip) {
  double num = 0, den = lam;
  for (size_t t = 0; t < n; t++) {
    num += (double)(e[t] + x * a[t]) * a[t];
    den += (double)a[t] * a[t];
  }
  float nx = den > 0 ? (float)(num / den) : 0.0f;
  if (clip && nx < 0) nx = 0;
  float d = nx - x;
  if (d != 0)
    for (size_t t = 0; t < n; t++) e[t] -= d * a[t];
  return nx;
}

/* Gathers a[t] = factor f (or 1 for a bias, f < 0) of the partners listed in idx. */
static inline void gather(float *a, const int32_t *idx, size_t n, const float *rows, int kp, int f) {
  if (f < 0)
    for (size_t t = 0; t < n; t++) a[t] = 1.0f;
  else
    for (size_t t = 0; t < n; t++) a[t] = rows[(size_t)idx[t] * kp + f];
}

typedef struct nmf_work {
  float *eu;     /* residuals in user-CSR order */
  float *ei;     /* residuals in item-CSR order */
  int64_t *i2u;  /* item-CSR position -> user-CSR position */
  float *scratch; /* per thread: max_row floats */
  size_t max_row;
} nmf_work;

/* Updates coordinate x (factor f of a row, or its bias when f < 0) over the row's n ratings:
 * partners idx (their factors in rows), residuals e in the row's order; a is scratch (n floats). */
static void update_row(float *x, float *e, const int32_t *idx, size_t n, const float *rows, int kp, int f, float lam,
                       float *a) {
  gather(a, idx, n, rows, kp, f);
  *x = cd_coord(*x, e, a, n, lam, f >= 0);
}

/* One pass of coordinate f (-1 = the biases) over every user, then every item. scratch holds
 * max-row-length floats per thread. */
static void sweep_coord(const reco_model *m, nmf_state *s, const reco_dataset *d, nmf_work *w, int f) {
  int kp = s->kp;
  float reg = f < 0 ? s->reg_bias : s->reg;
#pragma omp parallel
  {
    float *a = w->scratch + (size_t)omp_get_thread_num() * w->max_row;
#pragma omp for schedule(dynamic, 16)
    for (int32_t u = 0; u < d->n_users; u++) {
      int64_t b0 = d->uptr[u];
      size_t n = (size_t)(d->uptr[u + 1] - b0);
      update_row(f < 0 ? &s->bu[u] : &s->p[(size_t)u * kp + f], w->eu + b0, d->uitem + b0, n, s->q, kp, f,
                 reg * (float)n, a);
    }
    /* residuals to item order */
#pragma omp for schedule(static)
    for (int64_t t = 0; t < (int64_t)d->nnz; t++) w->ei[t] = w->eu[w->i2u[t]];
#pragma omp for schedule(dynamic, 16)
    for (int32_t i = 0; i < d->n_items; i++) {
      int64_t b0 = d->iptr[i];
      size_t n = (size_t)(d->iptr[i + 1] - b0);
      update_row(f < 0 ? &s->bi[i] : &s->q[(size_t)i * kp + f], w->ei + b0, d->iuser + b0, n, s->p, kp, f,
                 reg * (float)n, a);
    }
#pragma omp for schedule(static)
    for (int64_t t = 0; t < (int64_t)d->nnz; t++) w->eu[w->i2u[t]] = w->ei[t];
  }
}

static int nmf_fit(reco_model *m, const reco_dataset *d, const reco_progress *pr) {
  nmf_state *s;
  int rc = nmf_state_new(m, &s);
  if (rc) return rc;
  int epochs = (int)reco__model_param(m, "epochs"), inner = (int)reco__model_param(m, "inner");
  double init = reco__model_param(m, "init");
  double mu = 0;
  for (size_t t = 0; t < d->nnz; t++) mu += d->uval[t];
  m->global_mean = mu = d->nnz ? mu / (double)d->nnz : 0;
  for (int32_t u = 0; u < d->n_users; u++) s->cnt[u] = (int32_t)(d->uptr[u + 1] - d->uptr[u]);
  reco_rng rng;
  reco__rng_seed(&rng, m->seed ^ 0x6e6d66ull);
  float *mats[2] = {s->p, s->q};
  int32_t rows[2] = {d->n_users, d->n_items};
  for (int x = 0; x < 2; x++)
    for (int32_t r = 0; r < rows[x]; r++)
      for (int f = 0; f < s->k; f++) mats[x][(size_t)r * s->kp + f] = (float)(init * reco__rng_uniform(&rng));
  nmf_work w = {0};
  size_t nnz = d->nnz ? d->nnz : 1;
  w.eu = reco__malloc(nnz * sizeof *w.eu);
  w.ei = reco__malloc(nnz * sizeof *w.ei);
  w.i2u = reco__malloc(nnz * sizeof *w.i2u);
  w.max_row = 1;
  for (int32_t u = 0; u < d->n_users; u++) w.max_row = RECO_MAX(w.max_row, (size_t)(d->uptr[u + 1] - d->uptr[u]));
  for (int32_t i = 0; i < d->n_items; i++) w.max_row = RECO_MAX(w.max_row, (size_t)(d->iptr[i + 1] - d->iptr[i]));
  w.scratch = reco__malloc((size_t)omp_get_max_threads() * w.max_row * sizeof *w.scratch);
  if (!w.eu || !w.ei || !w.i2u || !w.scratch) {
    rc = reco__seterr(RECO_ENOMEM, "out of memory for nmf residuals");
    goto done;
  }
  /* item-CSR position -> user-CSR position: both CSRs are sorted, so walking users in order
   * fills each item's entries in order */
  {
    int64_t *fill = reco__malloc((size_t)(d->n_items + 1) * sizeof *fill);
    if (!fill) {
      rc = reco__seterr(RECO_ENOMEM, "out of memory for nmf");
      goto done;
    }
    memcpy(fill, d->iptr, (size_t)(d->n_items + 1) * sizeof *fill);
    for (int32_t u = 0; u < d->n_users; u++)
      for (int64_t t = d->uptr[u]; t < d->uptr[u + 1]; t++) w.i2u[fill[d->uitem[t]]++] = t;
    reco__free(fill);
  }
#pragma omp parallel for schedule(dynamic, 64)
  for (int32_t u = 0; u < d->n_users; u++)
    for (int64_t t = d->uptr[u]; t < d->uptr[u + 1]; t++) {
      const float *p = s->p + (size_t)u * s->kp, *q = s->q + (size_t)d->uitem[t] * s->kp;
      float dot = 0;
      for (int f = 0; f < s->k; f++) dot += p[f] * q[f];
      w.eu[t] = d->uval[t] - (float)mu - dot;
    }
  for (int e = 0; e < epochs; e++) {
    sweep_coord(m, s, d, &w, -1);
    for (int f = 0; f < s->k; f++)
      for (int it = 0; it < inner; it++) sweep_coord(m, s, d, &w, f);
    double sse = 0;
    for (size_t t = 0; t < d->nnz; t++) sse += (double)w.eu[t] * w.eu[t];
    if ((rc = reco__model_curve_add(m, pr, e + 1, epochs, d->nnz ? sqrt(sse / (double)d->nnz) : 0, NAN))) goto done;
  }
done:
  reco__free(w.eu);
  reco__free(w.ei);
  reco__free(w.i2u);
  reco__free(w.scratch);
  return rc;
}

static float nmf_predict(const reco_model *m, int32_t u, int32_t i) {
  const nmf_state *s = m->state;
  bool ku = u >= 0 && u < m->n_users, ki = i >= 0 && i < m->n_items;
  float r = (float)m->global_mean + (ku ? s->bu[u] : 0.0f) + (ki ? s->bi[i] : 0.0f);
  if (ku && ki) {
    const float *p = s->p + (size_t)u * s->kp, *q = s->q + (size_t)i * s->kp;
    float dot = 0;
    for (int f = 0; f < s->k; f++) dot += p[f] * q[f];
    r += dot;
  }
  return r;
}

/*
 * Fold-in by the training's coordinate descent restricted to one user: p >= 0 and b_u from the
 * history's ratings with Q, b_i fixed (values NULL = the top of the rating scale). Uses the
 * latest NMF_MAX_HIST known items. Returns false when none is known.
 */
static bool nmf_fold_in(const reco_model *m, const nmf_state *s, const reco_user_view *v, float *p, float *bu) {
  int32_t idx[NMF_MAX_HIST];
  float e[NMF_MAX_HIST], a[NMF_MAX_HIST];
  size_t n = 0;
  for (size_t h = v->n; h-- > 0 && n < NMF_MAX_HIST;) {
    int32_t j = v->items[h];
    if (j < 0 || j >= m->n_items) continue;
    idx[n] = j;
    e[n++] = (v->values ? v->values[h] : m->vmax) - (float)m->global_mean - s->bi[j];
  }
  memset(p, 0, (size_t)s->kp * sizeof *p);
  *bu = 0;
  if (!n) return false;
  /* from p = 0, b_u = 0 (the residuals e are for that start) */
  for (int sweep = 0; sweep < 10; sweep++) {
    for (size_t t = 0; t < n; t++) a[t] = 1.0f;
    *bu = cd_coord(*bu, e, a, n, s->reg_bias * (float)n, false);
    for (int f = 0; f < s->k; f++) {
      for (size_t t = 0; t < n; t++) a[t] = s->q[(size_t)idx[t] * s->kp + f];
      p[f] = cd_coord(p[f], e, a, n, s->reg * (float)n, true);
    }
  }
  return true;
}

static int nmf_score(const reco_model *m, const reco_user_view *v, float *out) {
  const nmf_state *s = m->state;
  float pbuf[NMF_MAX_K] __attribute__((aligned(64)));
  const float *p = NULL;
  float bu = 0;
  bool known = v->user >= 0 && v->user < m->n_users;
  if (known && v->n <= (size_t)s->cnt[v->user]) {
    p = s->p + (size_t)v->user * s->kp;
    bu = s->bu[v->user];
  } else if (v->n && nmf_fold_in(m, s, v, pbuf, &bu)) {
    p = pbuf;
  } else if (known) {
    p = s->p + (size_t)v->user * s->kp;
    bu = s->bu[v->user];
  }
  float base = (float)m->global_mean + bu;
  for (int32_t i = 0; i < m->n_items; i++) out[i] = base + s->bi[i];
  if (p && m->n_items > 0)
    cblas_sgemv(CblasRowMajor, CblasNoTrans, m->n_items, s->k, 1.0f, s->q, s->kp, p, 1, 1.0f, out, 1);
  return 0;
}

static int save_rows(reco_mf_writer *w, const char *name, const float *a, int32_t rows, int k, int kp) {
  float *buf = reco__malloc((size_t)(rows ? rows : 1) * k * sizeof *buf);
  if (!buf) return reco__seterr(RECO_ENOMEM, "out of memory saving %s", name);
  for (int32_t r = 0; r < rows; r++) memcpy(buf + (size_t)r * k, a + (size_t)r * kp, (size_t)k * sizeof *buf);
  int rc = reco__mf_section(w, name, RECO_DT_F32, buf, (uint64_t)rows * k);
  reco__free(buf);
  return rc;
}

static int load_rows(const reco_mf_reader *r, const char *name, float *a, int32_t rows, int k, int kp) {
  const void *data;
  uint64_t n;
  int rc = reco__mf_get(r, name, RECO_DT_F32, &data, &n);
  if (rc) return rc;
  if (n != (uint64_t)rows * k)
    return reco__seterr(RECO_EFORMAT, "section %s has %llu values, expected %d x %d", name, (unsigned long long)n, rows, k);
  for (int32_t x = 0; x < rows; x++) memcpy(a + (size_t)x * kp, (const float *)data + (size_t)x * k, (size_t)k * sizeof *a);
  return 0;
}

static int nmf_save(const reco_model *m, reco_mf_writer *w) {
  const nmf_state *s = m->state;
  int rc;
  if ((rc = reco__mf_section(w, "bu", RECO_DT_F32, s->bu, (uint64_t)m->n_users)) ||
      (rc = reco__mf_section(w, "bi", RECO_DT_F32, s->bi, (uint64_t)m->n_items)) ||
      (rc = reco__mf_section(w, "cnt", RECO_DT_I32, s->cnt, (uint64_t)m->n_users)) ||
      (rc = save_rows(w, "p", s->p, m->n_users, s->k, s->kp)))
    return rc;
  return save_rows(w, "q", s->q, m->n_items, s->k, s->kp);
}

static int nmf_load(reco_model *m, const reco_mf_reader *r) {
  nmf_state *s;
  int rc = nmf_state_new(m, &s);
  if (rc) return rc;
  const void *data;
  uint64_t n;
  if ((rc = reco__mf_get(r, "bu", RECO_DT_F32, &data, &n)) || n != (uint64_t)m->n_users) goto bad;
  memcpy(s->bu, data, n * sizeof(float));
  if ((rc = reco__mf_get(r, "bi", RECO_DT_F32, &data, &n)) || n != (uint64_t)m->n_items) goto bad;
  memcpy(s->bi, data, n * sizeof(float));
  if ((rc = reco__mf_get(r, "cnt", RECO_DT_I32, &data, &n)) || n != (uint64_t)m->n_users) goto bad;
  memcpy(s->cnt, data, n * sizeof(int32_t));
  if ((rc = load_rows(r, "p", s->p, m->n_users, s->k, s->kp))) return rc;
  return load_rows(r, "q", s->q, m->n_items, s->k, s->kp);
bad:
  return rc ? rc : reco__seterr(RECO_EFORMAT, "bias or count section does not match the id-map sizes");
}

const reco_algo reco__algo_nmf = {
    .name = "nmf",
    .summary = "biased non-negative factorisation, projected coordinate descent (CCD++, FastHALS)",
    .caps = RECO_CAP_RATING | RECO_CAP_RANKING | RECO_CAP_FOLDIN,
    .params = k_params,
    .n_params = RECO_ARRAY_LEN(k_params),
    .fit = nmf_fit,
    .predict = nmf_predict,
    .score = nmf_score,
    .save = nmf_save,
    .load = nmf_load,
    .free_state = nmf_free,
};
