/*
 * nmf.c - `nmf`: biased non-negative matrix factorisation of explicit ratings,
 *   rhat_ui = mu + b_u + b_i + p_u^T q_i   with p_u >= 0, q_i >= 0,
 * minimising over the training ratings K
 *   sum_(u,i in K) (r_ui - rhat_ui)^2 + lambda (n_u |p_u|^2 + n_i |q_i|^2) + lambda_b (n_u b_u^2 + n_i b_i^2)
 * (penalties weighted by the row counts n_u, n_i as in ALS-WR, Zhou et al. 2008).
 *
 * Solver: cyclic coordinate descent on the observed entries with projection onto p, q >= 0,
 * the non-negative variant (Hsieh & Dhillon 2011, eq. 6; HALS, Cichocki & Phan 2009) of the
 * coordinate descent for sparse factorisation of Yu, Hsieh, Si, Dhillon 2012 (CCD, section 3.1):
 * each one-variable subproblem is a 1-D quadratic whose minimiser is clipped at zero,
 *   p_uf <- max(0, sum_{i in R(u)} (e_ui + p_uf q_if) q_if / (lambda n_u + sum_{i in R(u)} q_if^2)),
 * with the residuals e_ui = r_ui - rhat_ui kept up to date; likewise q_if over R(i), and the
 * biases without the clip. A sweep updates every user's bias and factors in turn, then every
 * item's (row-wise rather than CCD++'s feature-wise order: two barriers per sweep instead of
 * two per feature, which matters on shared cores). Users are independent of each other given
 * Q (items given P), so each side runs in parallel with no two threads writing the same value,
 * and the result is the same for any thread count. No update can increase the objective, so
 * the loss reported per sweep, sqrt(objective / ratings), never rises (the tests check it).
 * Factors start from a seeded uniform draw on [0, init] (positive: a zero factor whose partners
 * are all zero would never move).
 *
 * The non-negativity makes p_u^T q_i >= 0, so the factors explain only the "positive
 * affinity" above the biases (Lee & Seung 1999's parts-based reading); the biases take the
 * rest. Multiplicative updates (Lee & Seung 2001; Luo et al. 2014, as in Surprise) assume
 * non-negative targets; the residuals left by the biases are signed, which coordinate descent
 * handles directly.
 *
 * Scoring: mu + b_u + b_i + Q p_u by cblas_sgemv over the item factors. Fold-in for a user view
 * with user = -1 (or a known user with a longer history than at training) runs the same
 * coordinate descent on that user's (p, b_u) alone, with Q and b_i fixed, in stack buffers
 * (k <= 256 and at most 512 history items are used: the latest ones).
 */
#include "algo.h"
#include "factors.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#define NMF_MAX_K 256
#define NMF_MAX_HIST 512

/* Defaults chosen on validation splits carved from training data only (ml-100k u1.base and
 * ml-latest-small, half of the users with 40% of their ratings held out). */
static const reco_param_spec k_params[] = {
    {"factors", RECO_P_INT, 50, 1, NMF_MAX_K, NULL, "latent factors k (>= 0)"},
    {"epochs", RECO_P_INT, 20, 1, 10000, NULL, "coordinate descent sweeps"},
    {"reg", RECO_P_FLOAT, 0.08, 0, 1e3, NULL, "L2 on factors, per rating"},
    {"reg_bias", RECO_P_FLOAT, 0.1, 0, 1e3, NULL, "L2 on biases, per rating"},
    {"init", RECO_P_FLOAT, 0.1, 0, 10, NULL, "initial factors U[0, init]"},
    {"inner", RECO_P_INT, 1, 1, 100, NULL, "passes over a row per sweep"},
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
 * The clipped minimiser of one coordinate x over its row of n ratings: partner values a[t],
 * residuals e[at[t]] (at = NULL: e[t]) that include the current x; updates the residuals for the
 * new value. Minimises sum_t (e_t + x a_t - x' a_t)^2 + lam x'^2; clip = non-negativity.
 */
static inline float cd_coord(float x, float *e, const int64_t *at, const float *a, size_t n, float lam, bool clip) {
  double num = 0, den = lam;
  for (size_t t = 0; t < n; t++) {
    float et = e[at ? at[t] : (int64_t)t];
    num += (double)(et + x * a[t]) * a[t];
    den += (double)a[t] * a[t];
  }
  float nx = den > 0 ? (float)(num / den) : 0.0f;
  if (clip && nx < 0) nx = 0;
  float d = nx - x;
  if (d != 0)
    for (size_t t = 0; t < n; t++) e[at ? at[t] : (int64_t)t] -= d * a[t];
  return nx;
}

typedef struct nmf_work {
  float *e;       /* residuals r - rhat in user-CSR order */
  int64_t *i2u;   /* item-CSR position -> user-CSR position */
  float *pt, *qt; /* factors feature-major while training: pt[f * n_users + u] */
  float *scratch; /* per thread: max_row floats */
  size_t max_row;
} nmf_work;

/*
 * One sweep: every user's coordinates (bias, then factors 0..k-1, `inner` times), then every
 * item's. Rows of a side are independent given the other side, so each side is one parallel
 * loop: two barriers per sweep, whatever k.
 */
static void sweep(nmf_state *s, const reco_dataset *d, nmf_work *w, int inner) {
  int32_t nu = d->n_users, ni = d->n_items;
#pragma omp parallel
  {
    float *a = w->scratch + (size_t)omp_get_thread_num() * w->max_row;
#pragma omp for schedule(dynamic, 16)
    for (int32_t u = 0; u < nu; u++) {
      int64_t b0 = d->uptr[u];
      size_t n = (size_t)(d->uptr[u + 1] - b0);
      const int32_t *idx = d->uitem + b0;
      for (size_t t = 0; t < n; t++) a[t] = 1.0f;
      s->bu[u] = cd_coord(s->bu[u], w->e + b0, NULL, a, n, s->reg_bias * (float)n, false);
      for (int it = 0; it < inner; it++)
        for (int f = 0; f < s->k; f++) {
          const float *qf = w->qt + (size_t)f * ni;
          for (size_t t = 0; t < n; t++) a[t] = qf[idx[t]];
          float *x = &w->pt[(size_t)f * nu + u];
          *x = cd_coord(*x, w->e + b0, NULL, a, n, s->reg * (float)n, true);
        }
    }
    /* items write the residuals of distinct ratings (through i2u), so they too run in parallel */
#pragma omp for schedule(dynamic, 16)
    for (int32_t i = 0; i < ni; i++) {
      int64_t b0 = d->iptr[i];
      size_t n = (size_t)(d->iptr[i + 1] - b0);
      const int32_t *idx = d->iuser + b0;
      for (size_t t = 0; t < n; t++) a[t] = 1.0f;
      s->bi[i] = cd_coord(s->bi[i], w->e, w->i2u + b0, a, n, s->reg_bias * (float)n, false);
      for (int it = 0; it < inner; it++)
        for (int f = 0; f < s->k; f++) {
          const float *pf = w->pt + (size_t)f * nu;
          for (size_t t = 0; t < n; t++) a[t] = pf[idx[t]];
          float *x = &w->qt[(size_t)f * ni + i];
          *x = cd_coord(*x, w->e, w->i2u + b0, a, n, s->reg * (float)n, true);
        }
    }
  }
}

/* sqrt(objective / ratings): the training loss that coordinate descent never increases. */
static double objective(const nmf_state *s, const reco_dataset *d, const nmf_work *w) {
  double f = 0;
  for (size_t t = 0; t < d->nnz; t++) f += (double)w->e[t] * w->e[t];
  for (int x = 0; x < 2; x++) {
    int32_t rows = x ? d->n_items : d->n_users;
    const int64_t *ptr = x ? d->iptr : d->uptr;
    const float *fac = x ? w->qt : w->pt, *b = x ? s->bi : s->bu;
    for (int32_t r = 0; r < rows; r++) {
      double n = (double)(ptr[r + 1] - ptr[r]), sq = 0;
      for (int k = 0; k < s->k; k++) sq += (double)fac[(size_t)k * rows + r] * fac[(size_t)k * rows + r];
      f += n * (s->reg * sq + s->reg_bias * (double)b[r] * b[r]);
    }
  }
  return d->nnz ? sqrt(f / (double)d->nnz) : 0;
}

static int nmf_fit(reco_model *m, const reco_dataset *d, const reco_progress *pr) {
  nmf_state *s;
  int rc = nmf_state_new(m, &s);
  if (rc) return rc;
  int epochs = (int)reco__model_param(m, "epochs"), inner = (int)reco__model_param(m, "inner");
  double init = reco__model_param(m, "init");
  int32_t nu = d->n_users, ni = d->n_items;
  double mu = 0;
  for (size_t t = 0; t < d->nnz; t++) mu += d->uval[t];
  m->global_mean = mu = d->nnz ? mu / (double)d->nnz : 0;
  for (int32_t u = 0; u < nu; u++) s->cnt[u] = (int32_t)(d->uptr[u + 1] - d->uptr[u]);
  nmf_work w = {0};
  size_t nnz = d->nnz ? d->nnz : 1;
  w.e = reco__malloc(nnz * sizeof *w.e);
  w.i2u = reco__malloc(nnz * sizeof *w.i2u);
  w.pt = reco__malloc(((size_t)nu * s->k + 1) * sizeof *w.pt);
  w.qt = reco__malloc(((size_t)ni * s->k + 1) * sizeof *w.qt);
  w.max_row = 1;
  for (int32_t u = 0; u < nu; u++) w.max_row = RECO_MAX(w.max_row, (size_t)(d->uptr[u + 1] - d->uptr[u]));
  for (int32_t i = 0; i < ni; i++) w.max_row = RECO_MAX(w.max_row, (size_t)(d->iptr[i + 1] - d->iptr[i]));
  w.scratch = reco__malloc((size_t)omp_get_max_threads() * w.max_row * sizeof *w.scratch);
  int64_t *fill = reco__malloc((size_t)(ni + 1) * sizeof *fill);
  if (!w.e || !w.i2u || !w.pt || !w.qt || !w.scratch || !fill) {
    rc = reco__seterr(RECO_ENOMEM, "out of memory for nmf");
    goto done;
  }
  /* item-CSR position -> user-CSR position (walking users in order fills each item's entries
   * in user order, which is the item CSR's order) */
  memcpy(fill, d->iptr, (size_t)(ni + 1) * sizeof *fill);
  for (int32_t u = 0; u < nu; u++)
    for (int64_t t = d->uptr[u]; t < d->uptr[u + 1]; t++) w.i2u[fill[d->uitem[t]]++] = t;
  reco_rng rng;
  reco__rng_seed(&rng, m->seed ^ 0x6e6d66ull);
  for (int32_t u = 0; u < nu; u++)
    for (int f = 0; f < s->k; f++) w.pt[(size_t)f * nu + u] = (float)(init * reco__rng_uniform(&rng));
  for (int32_t i = 0; i < ni; i++)
    for (int f = 0; f < s->k; f++) w.qt[(size_t)f * ni + i] = (float)(init * reco__rng_uniform(&rng));
#pragma omp parallel for schedule(dynamic, 64)
  for (int32_t u = 0; u < nu; u++)
    for (int64_t t = d->uptr[u]; t < d->uptr[u + 1]; t++) {
      float dot = 0;
      for (int f = 0; f < s->k; f++) dot += w.pt[(size_t)f * nu + u] * w.qt[(size_t)f * ni + d->uitem[t]];
      w.e[t] = d->uval[t] - (float)mu - dot;
    }
  for (int e = 0; e < epochs; e++) {
    sweep(s, d, &w, inner);
    if ((rc = reco__model_curve_add(m, pr, e + 1, epochs, objective(s, d, &w), NAN))) goto done;
  }
  /* row-major, padded, for scoring */
  for (int32_t u = 0; u < nu; u++)
    for (int f = 0; f < s->k; f++) s->p[(size_t)u * s->kp + f] = w.pt[(size_t)f * nu + u];
  for (int32_t i = 0; i < ni; i++)
    for (int f = 0; f < s->k; f++) s->q[(size_t)i * s->kp + f] = w.qt[(size_t)f * ni + i];
done:
  reco__free(w.e);
  reco__free(w.i2u);
  reco__free(w.pt);
  reco__free(w.qt);
  reco__free(w.scratch);
  reco__free(fill);
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
    *bu = cd_coord(*bu, e, NULL, a, n, s->reg_bias * (float)n, false);
    for (int f = 0; f < s->k; f++) {
      for (size_t t = 0; t < n; t++) a[t] = s->q[(size_t)idx[t] * s->kp + f];
      p[f] = cd_coord(p[f], e, NULL, a, n, s->reg * (float)n, true);
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
  if (p) reco__factors_score_rows(s->q, m->n_items, s->k, s->kp, p, out);
  return 0;
}

static int nmf_save(const reco_model *m, reco_mf_writer *w) {
  const nmf_state *s = m->state;
  int rc;
  if ((rc = reco__mf_section(w, "bu", RECO_DT_F32, s->bu, (uint64_t)m->n_users)) ||
      (rc = reco__mf_section(w, "bi", RECO_DT_F32, s->bi, (uint64_t)m->n_items)) ||
      (rc = reco__mf_section(w, "cnt", RECO_DT_I32, s->cnt, (uint64_t)m->n_users)) ||
      (rc = reco__factors_save_rows(w, "p", s->p, m->n_users, s->k, s->kp)))
    return rc;
  return reco__factors_save_rows(w, "q", s->q, m->n_items, s->k, s->kp);
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
  if ((rc = reco__factors_load_rows(r, "p", s->p, m->n_users, s->k, s->kp))) return rc;
  return reco__factors_load_rows(r, "q", s->q, m->n_items, s->k, s->kp);
bad:
  return rc ? rc : reco__seterr(RECO_EFORMAT, "bias or count section does not match the id-map sizes");
}

/* Item-item similarity: cosine of the (non-negative) item factor vectors. */
static int nmf_similar(const reco_model *m, int32_t item, int k, int32_t *out_items, float *out_scores) {
  const nmf_state *s = m->state;
  return reco__factors_similar_rows(s->q, m->n_items, s->k, s->kp, item, k, out_items, out_scores);
}

const reco_algo reco__algo_nmf = {
    .name = "nmf",
    .summary = "biased non-negative factorisation by projected coordinate descent",
    .caps = RECO_CAP_RATING | RECO_CAP_RANKING | RECO_CAP_FOLDIN | RECO_CAP_SIMILAR,
    .params = k_params,
    .n_params = RECO_ARRAY_LEN(k_params),
    .fit = nmf_fit,
    .predict = nmf_predict,
    .score = nmf_score,
    .similar = nmf_similar,
    .save = nmf_save,
    .load = nmf_load,
    .free_state = nmf_free,
};
