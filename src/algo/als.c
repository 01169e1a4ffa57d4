/*
 * als.c - alternating least squares, explicit (`als`) and implicit (`ials`).
 *
 * Explicit, biased ALS with weighted-lambda regularisation (Zhou, Wilkinson, Schreiber, Pan
 * 2008, "Large-scale parallel collaborative filtering for the Netflix prize", eq. 3-4):
 *   min sum_{(u,i) obs} (r_ui - mu - b_u - b_i - x_u.y_i)^2
 *       + lambda (sum_u n_u (|x_u|^2 + b_u^2) + sum_i n_i (|y_i|^2 + b_i^2)),
 * n_u, n_i the rating counts. With the biases folded in as one more coordinate ((x_u, b_u)
 * against (y_i, 1)), each half-sweep solves, per user, the (k+1) x (k+1) normal equations
 *   (F_u^T F_u + lambda n_u I) (x_u, b_u) = F_u^T (r_u - mu - b_I)
 * exactly (summed in float vector registers, factorised by Cholesky in double), and
 * symmetrically per item.
 *
 * Implicit ALS (Hu, Koren, Volinsky 2008, "Collaborative filtering for implicit feedback
 * datasets"): every (u, i) pair counts, with preference p_ui = 1 when observed and 0 otherwise,
 * and confidence c_ui = 1 + alpha w(r_ui) (eq. 1-2; w(r) = r, log(1 + r/eps) (their section 4,
 * end), or 1), minimising
 *   sum_{u,i} c_ui (p_ui - x_u.y_i)^2 + lambda (sum |x_u|^2 + sum |y_i|^2)        (eq. 3)
 * whose user step is x_u = (Y^T Y + Y^T (C^u - I) Y + lambda I)^{-1} Y^T C^u p(u) (eq. 4): the
 * Gram Y^T Y is computed once per sweep and only the user's observed items add terms.
 * Solvers: the conjugate gradient of Takacs, Pilaszy, Tikk 2011 ("Applications of the conjugate
 * gradient method for implicit feedback collaborative filtering"): a few CG steps per vector,
 * warm-started from the previous sweep's vector, each step costing k^2 + 2 k n_u (the default);
 * or the exact Cholesky solve (solver=cholesky), k^2 n_u / 2 + k^3 / 6.
 * Each sweep solves the items, then the users, so the user factors are the solve against the
 * final item factors: the same system fold-in solves for a new user.
 *
 * Loss (the learning curve): eq. 3 evaluated after each sweep. A user's share is the quadratic
 * f(x) = x^T A x - 2 b.x + sum_i c_ui, which CG gets for free from its residual r = b - A x as
 * sum_i c_ui - x.b - x.r; after a Cholesky solve it is computed with the identity
 *   sum_i c_ui (p_ui - s_ui)^2 = x_u^T (Y^T Y) x_u + sum_{i obs} (c_ui (1 - s_ui)^2 - s_ui^2),
 * O(k^2 + k n_u) per user instead of O(k n_items). Both solvers never increase it
 * (the Cholesky step minimises exactly; CG from the previous vector only descends), which the
 * unit test checks.
 *
 * Fold-in (score for a view with user = -1): the same normal equations for the history alone,
 *   iALS: (Y^T Y + lambda I + Y_h^T (C_h - I) Y_h) x = Y_h^T C_h p_h,
 *   ALS:  (F_h^T F_h + lambda n_h I) (x, b) = F_h^T (r_h - mu - b_h),
 * solved by conjugate gradient preconditioned with B^{-1}, B = Y^T Y + lambda I (iALS; computed
 * once at fit) or lambda n_h I (ALS). The preconditioned matrix is the identity plus a rank-n_h
 * term, so CG ends in at most n_h + 1 steps: a closed-form solve in O((k^2 + k n_h) n_h) time
 * with a few stack vectors and no allocation.
 *
 * Explanations (Hu et al. section 5): with W = A^{-1} for the view's system, the score is
 * sum_j c_uj (y_i^T W y_j) (iALS) or sum_j (r_uj - mu - b_j) (f_i^T W f_j) (ALS); one solve
 * z = W y_i gives every history item's share.
 */
#include "factors.h"

#include <math.h>
#include <string.h>

enum { CONF_LINEAR = 0, CONF_LOG = 1, CONF_BINARY = 2 };
enum { SOLVER_CG = 0, SOLVER_CHOLESKY = 1 };

/*
 * Defaults, chosen on validation splits of ml-100k's u1.base alone (u1.test never read): a
 * random 20% of u1.base held out, and the first 20% of u1.base's lines in u.data order held out
 * (u1.test is itself such a leading chunk of u.data); top-10 NDCG (RMSE for als) averaged over
 * the two, fitting on the rest. ials: 64 factors and 15 sweeps fixed (the reference setting of
 * EVALUATION.md); grid over reg in 0.1..200, alpha in 0.1..10 and the three confidences: the
 * best values lie on a ridge reg ~ 50 alpha; reg 25, alpha 0.5 (linear) is its best point
 * (validation NDCG 0.315; reg 1, alpha 1 gives 0.242). als: factors 10..128 x reg 0.03..0.3:
 * reg 0.125 (64 factors; the factor count barely matters at that reg), converged by 10 sweeps.
 */
static const reco_param_spec k_ials_params[] = {
    {"factors", RECO_P_INT, 64, 1, RECO_FACTORS_MAX, NULL, "latent factors k"},
    {"epochs", RECO_P_INT, 15, 1, 1000, NULL, "sweeps (items, then users)"},
    {"reg", RECO_P_FLOAT, 25, 0, 1e9, NULL, "L2 penalty lambda on every factor vector"},
    {"alpha", RECO_P_FLOAT, 0.5, 0, 1e9, NULL, "confidence c = 1 + alpha * w(r)"},
    {"confidence", RECO_P_ENUM, CONF_LINEAR, 0, 2, "linear|log|binary", "w(r): r, log(1 + r/eps), or 1"},
    {"eps", RECO_P_FLOAT, 1, 1e-9, 1e9, NULL, "eps of the log confidence"},
    {"solver", RECO_P_ENUM, SOLVER_CG, 0, 1, "cg|cholesky", "per-vector solver: conjugate gradient or exact"},
    {"cg_steps", RECO_P_INT, 3, 1, 1024, NULL, "conjugate-gradient steps per vector and sweep"},
    {"init_sd", RECO_P_FLOAT, 0.01, 0, 10, NULL, "standard deviation of the initial factors"},
    {"similar_k", RECO_P_INT, 20, 0, 10000, NULL, "neighbours kept per item for similar()"},
};

static const reco_param_spec k_als_params[] = {
    {"factors", RECO_P_INT, 64, 1, RECO_FACTORS_MAX, NULL, "latent factors k"},
    {"epochs", RECO_P_INT, 10, 1, 1000, NULL, "sweeps (items, then users)"},
    {"reg", RECO_P_FLOAT, 0.125, 0, 1e9, NULL, "L2 penalty lambda, weighted by each row's rating count"},
    {"biased", RECO_P_BOOL, 1, 0, 1, NULL, "learn user and item biases"},
    {"init_sd", RECO_P_FLOAT, 0.1, 0, 10, NULL, "standard deviation of the initial factors"},
    {"similar_k", RECO_P_INT, 20, 0, 10000, NULL, "neighbours kept per item for similar()"},
};

typedef struct als_state {
  reco_factors f;
  bool implicit, biased;
  float *B;    /* iALS: Y^T Y + lambda I of the final item factors (k x k) */
  float *Binv; /* iALS: its inverse, the fold-in preconditioner */
} als_state;

/* Confidence c = 1 + alpha w(r) (Hu et al. eq. 2 and the log variant); w >= 0 keeps A SPD. */
typedef struct conf {
  int kind;
  float alpha, eps;
} conf;

static inline float conf_c(const conf *cf, float r) {
  float rp = r > 0 ? r : 0.0f;
  float w = cf->kind == CONF_BINARY ? 1.0f : cf->kind == CONF_LOG ? logf(1.0f + rp / cf->eps) : rp;
  return 1.0f + cf->alpha * w;
}

static conf conf_of(const reco_model *m) {
  conf c = {(int)reco__model_param(m, "confidence"), (float)reco__model_param(m, "alpha"),
            (float)reco__model_param(m, "eps")};
  return c;
}

static void als_free(reco_model *m) {
  als_state *s = m->state;
  if (!s) return;
  reco__factors_free(&s->f);
  reco__free_aligned(s->B);
  reco__free_aligned(s->Binv);
  reco__free(s);
  m->state = NULL;
}

/* ---- training: one side of a sweep ---- */

/* The rows being solved (users or items) against the other side's fixed factors. */
typedef struct side {
  int32_t n;
  const int64_t *ptr;
  const int32_t *idx;
  const float *val;
  float *X;            /* this side's factors, n x k, updated in place */
  float *bx;           /* this side's biases (ALS, biased), updated */
  const float *Y;      /* the other side's factors */
  const float *by;     /* the other side's biases (ALS, biased) */
  const float *G;      /* iALS: Y^T Y */
  double *loss;        /* per row: its share of the objective, or NULL */
  bool prefetch;       /* Y is beyond the caches: prefetch its rows ahead of use */
} side;

typedef struct solve_opts {
  int k;
  float lambda;
  conf cf;
  int solver, cg_steps;
  bool biased;
  float mu;
} solve_opts;

/* Software prefetch of the rows a CG pass is about to read pays when the other side's factors
 * do not fit in L2 (3.5x per iteration at 100,000 x 64 floats); below that it only costs
 * instructions, so it is on from PREFETCH_BYTES. */
enum { PREFETCH_AHEAD = 6, PREFETCH_BYTES = 2 << 20 };

/* Asks for the cache lines of a factor row ahead of its use. */
static inline void prefetch_row(const float *row, int k) {
  for (int j = 0; j < k; j += 16) __builtin_prefetch(row + j);
}

/* out[t] = scale[t] (Y[idx[t]] . v) for t < n, four rows at a time so that one shuffle tree adds
 * up four dot products (a dot of 64 floats is 4 multiply-adds; its reduction would cost more). */
static void gather_dots(const float *Y, int k, const int32_t *idx, int64_t n, const float *v, const float *scale,
                        float *out, bool prefetch) {
  int kv = k & ~15;
  int64_t t = 0;
  for (; t + 4 <= n; t += 4) {
    if (prefetch)
      for (int q = 0; q < 4; q++)
        if (t + q + PREFETCH_AHEAD < n) prefetch_row(Y + (size_t)idx[t + q + PREFETCH_AHEAD] * k, k);
    const float *r0 = Y + (size_t)idx[t] * k, *r1 = Y + (size_t)idx[t + 1] * k;
    const float *r2 = Y + (size_t)idx[t + 2] * k, *r3 = Y + (size_t)idx[t + 3] * k;
    reco__v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    for (int d = 0; d < kv; d += 16) {
      reco__v16 xv = RECO_V16_LOAD(v + d);
      a0 += RECO_V16_LOAD(r0 + d) * xv;
      a1 += RECO_V16_LOAD(r1 + d) * xv;
      a2 += RECO_V16_LOAD(r2 + d) * xv;
      a3 += RECO_V16_LOAD(r3 + d) * xv;
    }
    /* halve four times: (a0 | a1) and (a2 | a3) halves, then quarters, then pairs */
    reco__v16 s01 = __builtin_shufflevector(a0, a1, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
                    __builtin_shufflevector(a0, a1, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    reco__v16 s23 = __builtin_shufflevector(a2, a3, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
                    __builtin_shufflevector(a2, a3, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    reco__v16 q = __builtin_shufflevector(s01, s23, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +
                  __builtin_shufflevector(s01, s23, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
    reco__v8 h = __builtin_shufflevector(q, q, 0, 1, 4, 5, 8, 9, 12, 13) +
                 __builtin_shufflevector(q, q, 2, 3, 6, 7, 10, 11, 14, 15);
    reco__v4 z = __builtin_shufflevector(h, h, 0, 2, 4, 6) + __builtin_shufflevector(h, h, 1, 3, 5, 7);
    for (int d = kv; d < k; d++) {
      z[0] += r0[d] * v[d];
      z[1] += r1[d] * v[d];
      z[2] += r2[d] * v[d];
      z[3] += r3[d] * v[d];
    }
    for (int j = 0; j < 4; j++) out[t + j] = scale[t + j] * z[j];
  }
  for (; t < n; t++) out[t] = scale[t] * reco__fdot(Y + (size_t)idx[t] * k, v, k);
}

/* b += sum_t w1[t] Y[idx[t]] and h += sum_t w2[t] Y[idx[t]] in one pass over the rows. */
static void gather2(const float *Y, const int32_t *idx, const float *w1, const float *w2, int64_t n, int k, float *b,
                    float *h) {
  int j0 = 0;
  for (; j0 + 32 <= k; j0 += 32) {
    reco__v16 b0 = RECO_V16_LOAD(b + j0), b1 = RECO_V16_LOAD(b + j0 + 16);
    reco__v16 h0 = RECO_V16_LOAD(h + j0), h1 = RECO_V16_LOAD(h + j0 + 16);
    for (int64_t t = 0; t < n; t++) {
      const float *row = Y + (size_t)idx[t] * k + j0;
      reco__v16 y0 = RECO_V16_LOAD(row), y1 = RECO_V16_LOAD(row + 16);
      b0 += w1[t] * y0;
      b1 += w1[t] * y1;
      h0 += w2[t] * y0;
      h1 += w2[t] * y1;
    }
    memcpy(b + j0, &b0, sizeof b0);
    memcpy(b + j0 + 16, &b1, sizeof b1);
    memcpy(h + j0, &h0, sizeof h0);
    memcpy(h + j0 + 16, &h1, sizeof h1);
  }
  for (; j0 < k; j0++)
    for (int64_t t = 0; t < n; t++) {
      float y = Y[(size_t)idx[t] * k + j0];
      b[j0] += w1[t] * y;
      h[j0] += w2[t] * y;
    }
}

/*
 * iALS, one vector by conjugate gradient (Takacs et al. 2011, algorithm 2): x starts at its
 * previous value; r = b - A x with A x = G x + lambda x + sum_i (c_i - 1)(y_i.x) y_i and
 * b = sum_i c_i y_i. Each product with A is a pass of dot products over the row's vectors, then
 * one gathered weighted sum of them. Returns the row's share of the loss, sum_i c_i - x.b - x.r
 * (f(x) = x^T A x - 2 b.x + sum_i c_i p_i^2 and A x = b - r), from the final x and the CG
 * residual, so no further pass is needed. scr holds 4k floats, wt 3 n_u.
 */
static double ials_cg(const side *s, int32_t u, const solve_opts *o, float *scr, float *wt) {
  int k = o->k;
  float *x = s->X + (size_t)u * k, *r = scr, *p = scr + k, *Ap = scr + 2 * k, *b = scr + 3 * k;
  const int64_t a = s->ptr[u], n = s->ptr[u + 1] - a;
  const int32_t *idx = s->idx + a;
  float *c = wt, *cm1 = wt + n, *w = wt + 2 * n;
  double csum = 0;
  for (int64_t t = 0; t < n; t++) {
    c[t] = conf_c(&o->cf, s->val[a + t]);
    cm1[t] = c[t] - 1.0f;
    csum += c[t];
  }
  /* the rows are scattered over Y (tens of MB at scale): the dots prefetch a few ahead */
  gather_dots(s->Y, k, idx, n, x, cm1, w, s->prefetch);
  reco__fsymv(s->G, x, Ap, k);
  reco__faxpy(o->lambda, x, Ap, k);
  memset(b, 0, (size_t)k * sizeof *b);
  gather2(s->Y, idx, c, w, n, k, b, Ap);
  for (int j = 0; j < k; j++) p[j] = r[j] = b[j] - Ap[j];
  float rs = reco__fdot(r, r, k);
  for (int it = 0; it < o->cg_steps && rs > 1e-20f; it++) {
    gather_dots(s->Y, k, idx, n, p, cm1, w, s->prefetch);
    reco__fsymv(s->G, p, Ap, k);
    reco__faxpy(o->lambda, p, Ap, k);
    reco__fgather_axpy(s->Y, k, idx, w, n, k, Ap);
    float pAp = reco__fdot(p, Ap, k);
    if (!(pAp > 0)) break;
    float alpha = rs / pAp;
    reco__faxpy(alpha, p, x, k);
    reco__faxpy(-alpha, Ap, r, k);
    float rs_new = reco__fdot(r, r, k);
    float beta = rs_new / rs;
    for (int j = 0; j < k; j++) p[j] = r[j] + beta * p[j];
    rs = rs_new;
  }
  return csum - reco__fdot(x, b, k) - reco__fdot(x, r, k);
}

/* Dense-solver scratch: the matrix in float while it is summed, then in double. */
typedef struct dense_scr {
  float *Af;  /* d x d */
  double *A;  /* d x d */
  double *bd; /* 2d: the right-hand side, then the factorisation's column scratch */
  float *w;   /* max row length */
  float *w2;  /* max row length */
} dense_scr;

/* The lower triangle (and a little more) of Af += sum_t wt[t] y_t y_t^T for the n rows
 * Y[idx[t]], row stride d of Af: row a is one gathered weighted sum over columns 0..a rounded up
 * to 16, so the sums run in registers (wa holds n floats). */
static void weighted_gram(const float *Y, const int32_t *idx, const float *wt, int64_t n, int k, int d, float *Af,
                          float *wa) {
  for (int a = 0; a < k; a++) {
    for (int64_t t = 0; t < n; t++) wa[t] = wt[t] * Y[(size_t)idx[t] * k + a];
    int len = (a + 16) & ~15;
    reco__fgather_axpy(Y, k, idx, wa, n, len < k ? len : k, Af + (size_t)a * d);
  }
}

/* Cholesky solve of the d x d system in sc (lower triangle of Af, plus diag on the diagonal)
 * with right-hand side sc->bd; the solution is left in sc->bd. */
static int dense_solve(dense_scr *sc, int d, double diag) {
  for (int i = 0; i < d; i++) {
    for (int j = 0; j <= i; j++) sc->A[(size_t)i * d + j] = sc->Af[(size_t)i * d + j];
    sc->A[(size_t)i * d + i] += diag;
  }
  if (reco__chol(sc->A, d, sc->bd + d)) return RECO_ERANGE;
  reco__chol_solve(sc->A, d, sc->bd);
  return 0;
}

/* iALS, one vector exactly: A = G + lambda I + sum_i (c_i - 1) y_i y_i^T, b = sum_i c_i y_i. */
static int ials_chol(const side *s, int32_t u, const solve_opts *o, dense_scr *sc) {
  int k = o->k;
  const int64_t a = s->ptr[u], n = s->ptr[u + 1] - a;
  const int32_t *idx = s->idx + a;
  memcpy(sc->Af, s->G, (size_t)k * (size_t)k * sizeof *sc->Af);
  for (int64_t t = 0; t < n; t++) {
    sc->w2[t] = conf_c(&o->cf, s->val[a + t]);
    sc->w[t] = sc->w2[t] - 1.0f;
  }
  weighted_gram(s->Y, idx, sc->w, n, k, k, sc->Af, sc->w + n);
  float *bf = sc->w + 2 * n;
  memset(bf, 0, (size_t)k * sizeof *bf);
  reco__fgather_axpy(s->Y, k, idx, sc->w2, n, k, bf);
  for (int j = 0; j < k; j++) sc->bd[j] = bf[j];
  if (dense_solve(sc, k, o->lambda)) return RECO_ERANGE;
  float *x = s->X + (size_t)u * k;
  for (int j = 0; j < k; j++) x[j] = (float)sc->bd[j];
  return 0;
}

/* iALS: row u's share of eq. 3 with the current vectors (scr holds k floats). */
static double ials_row_loss(const side *s, int32_t u, const solve_opts *o, float *scr) {
  int k = o->k;
  const float *x = s->X + (size_t)u * k;
  reco__fsymv(s->G, x, scr, k);
  double l = reco__fdot(x, scr, k) + o->lambda * (double)reco__fdot(x, x, k);
  for (int64_t t = s->ptr[u]; t < s->ptr[u + 1]; t++) {
    double sc = reco__fdot(s->Y + (size_t)s->idx[t] * k, x, k), c = conf_c(&o->cf, s->val[t]);
    l += c * (1 - sc) * (1 - sc) - sc * sc;
  }
  return l;
}

/*
 * Explicit ALS, one row exactly: unknowns (x, b) of dimension d = k + biased against features
 * (y_i, 1), targets r - mu - b_i, penalty lambda n_u. Rows without ratings get zero vectors.
 * Also writes the row's loss share.
 */
static int als_row(const side *s, int32_t u, const solve_opts *o, dense_scr *sc) {
  int k = o->k, d = k + (o->biased ? 1 : 0);
  const int64_t a = s->ptr[u], n = s->ptr[u + 1] - a;
  const int32_t *idx = s->idx + a;
  float *x = s->X + (size_t)u * k;
  if (n == 0) {
    memset(x, 0, (size_t)k * sizeof *x);
    if (o->biased) s->bx[u] = 0;
    if (s->loss) s->loss[u] = 0;
    return 0;
  }
  float *one = sc->w, *tgt = sc->w2, *wa = sc->w + n, *bf = sc->w + 2 * n;
  for (int64_t t = 0; t < n; t++) {
    one[t] = 1.0f;
    tgt[t] = s->val[a + t] - o->mu - (o->biased ? s->by[idx[t]] : 0.0f);
  }
  memset(sc->Af, 0, (size_t)d * (size_t)d * sizeof *sc->Af);
  weighted_gram(s->Y, idx, one, n, k, d, sc->Af, wa);
  memset(bf, 0, (size_t)d * sizeof *bf);
  reco__fgather_axpy(s->Y, k, idx, tgt, n, k, bf);
  if (o->biased) { /* the bias coordinate: row k of A is sum_t (y_t, 1) */
    float *ak = sc->Af + (size_t)k * d;
    reco__fgather_axpy(s->Y, k, idx, one, n, k, ak);
    ak[k] = (float)n;
    double tb = 0;
    for (int64_t t = 0; t < n; t++) tb += tgt[t];
    bf[k] = (float)tb;
  }
  for (int j = 0; j < d; j++) sc->bd[j] = bf[j];
  if (dense_solve(sc, d, o->lambda * (double)n)) return RECO_ERANGE;
  for (int q = 0; q < k; q++) x[q] = (float)sc->bd[q];
  if (o->biased) s->bx[u] = (float)sc->bd[k];
  if (s->loss) {
    double l = 0, bu = o->biased ? s->bx[u] : 0;
    for (int64_t t = 0; t < n; t++) {
      double e = tgt[t] - bu - reco__fdot(x, s->Y + (size_t)idx[t] * k, k);
      l += e * e;
    }
    s->loss[u] = l + o->lambda * (double)n * (reco__fdot(x, x, k) + bu * bu);
  }
  return 0;
}

/* Solves every row of one side in parallel; deterministic for any thread count (rows are
 * independent and each row's arithmetic is fixed). */
static int solve_side(const side *s, const solve_opts *o, bool implicit, int nth) {
  int k = o->k, d = k + 1, failed = 0;
  bool dense = !implicit || o->solver == SOLVER_CHOLESKY;
  int64_t max_n = 1;
  for (int32_t u = 0; u < s->n; u++) max_n = RECO_MAX(max_n, s->ptr[u + 1] - s->ptr[u]);
#pragma omp parallel num_threads(nth)
  {
    float *scr = reco__aligned_alloc((size_t)4 * (size_t)d * sizeof *scr);
    float *wt = reco__aligned_alloc((size_t)(3 * max_n + d) * sizeof *wt);
    dense_scr sc = {0};
    if (dense) {
      sc.Af = reco__aligned_alloc((size_t)d * (size_t)d * sizeof *sc.Af);
      sc.A = reco__aligned_alloc((size_t)d * (size_t)d * sizeof *sc.A);
      sc.bd = reco__aligned_alloc((size_t)2 * (size_t)d * sizeof *sc.bd);
      sc.w = wt;
      sc.w2 = reco__aligned_alloc((size_t)max_n * sizeof *sc.w2);
    }
    if (!scr || !wt || (dense && (!sc.Af || !sc.A || !sc.bd || !sc.w2))) {
#pragma omp atomic write
      failed = RECO_ENOMEM;
    }
#pragma omp for schedule(dynamic, 16)
    for (int32_t u = 0; u < s->n; u++) {
      int bad;
#pragma omp atomic read
      bad = failed;
      if (bad) continue;
      int rc = 0;
      if (!implicit) {
        rc = als_row(s, u, o, &sc);
      } else if (o->solver == SOLVER_CG) {
        double l = ials_cg(s, u, o, scr, wt);
        if (s->loss) s->loss[u] = l;
      } else {
        rc = ials_chol(s, u, o, &sc);
        if (!rc && s->loss) s->loss[u] = ials_row_loss(s, u, o, scr);
      }
      if (rc) {
#pragma omp atomic write
        failed = rc;
      }
    }
    reco__free_aligned(scr);
    reco__free_aligned(wt);
    reco__free_aligned(sc.Af);
    reco__free_aligned(sc.A);
    reco__free_aligned(sc.bd);
    reco__free_aligned(sc.w2);
  }
  if (failed == RECO_ENOMEM) return reco__seterr(RECO_ENOMEM, "out of memory in an ALS sweep");
  if (failed) return reco__seterr(failed, "ALS: a normal-equation matrix is not positive definite (set reg > 0)");
  return 0;
}

/* Inverse of the SPD matrix S (k x k float) into out, through a double Cholesky. */
static int spd_inverse(const float *S, int k, float *out) {
  double *L = reco__malloc((size_t)k * (size_t)k * sizeof *L), *e = reco__malloc((size_t)k * sizeof *e);
  int rc = (!L || !e) ? reco__seterr(RECO_ENOMEM, "out of memory") : 0;
  if (!rc) {
    for (size_t j = 0; j < (size_t)k * (size_t)k; j++) L[j] = S[j];
    if (reco__chol(L, k, e))
      rc = reco__seterr(RECO_ERANGE, "ials: Y^T Y + lambda I is not positive definite (set reg > 0)");
  }
  for (int c = 0; !rc && c < k; c++) {
    for (int j = 0; j < k; j++) e[j] = j == c;
    reco__chol_solve(L, k, e);
    for (int j = 0; j < k; j++) out[(size_t)j * k + c] = (float)e[j];
  }
  /* symmetrise the rounding */
  for (int i = 0; !rc && i < k; i++)
    for (int j = 0; j < i; j++) {
      float v = 0.5f * (out[(size_t)i * k + j] + out[(size_t)j * k + i]);
      out[(size_t)i * k + j] = out[(size_t)j * k + i] = v;
    }
  reco__free(L);
  reco__free(e);
  return rc;
}

static int als_fit_common(reco_model *m, const reco_dataset *d, const reco_progress *pr, bool implicit) {
  als_state *s = reco__calloc(1, sizeof *s);
  if (!s) return reco__seterr(RECO_ENOMEM, "out of memory for %s", m->algo->name);
  m->state = s;
  s->implicit = implicit;
  s->biased = !implicit && reco__model_param(m, "biased") != 0;
  solve_opts o = {.k = (int)reco__model_param(m, "factors"),
                  .lambda = (float)reco__model_param(m, "reg"),
                  .solver = implicit ? (int)reco__model_param(m, "solver") : SOLVER_CHOLESKY,
                  .cg_steps = implicit ? (int)reco__model_param(m, "cg_steps") : 0,
                  .biased = s->biased};
  if (implicit) o.cf = conf_of(m);
  int k = o.k, epochs = (int)reco__model_param(m, "epochs"), nth = m->threads > 0 ? m->threads : 1;
  int rc = reco__factors_alloc(&s->f, d->n_users, d->n_items, k, s->biased, s->biased);
  if (rc) return rc;
  double mu = 0;
  for (size_t p = 0; p < d->nnz; p++) mu += d->uval[p];
  mu = d->nnz ? mu / (double)d->nnz : 0;
  if (!implicit) m->global_mean = mu;
  o.mu = implicit ? 0.0f : (float)mu;
  double sd = reco__model_param(m, "init_sd");
  reco__factors_randn(s->f.U, (size_t)d->n_users * k, sd, m->seed * 2 + 1);
  reco__factors_randn(s->f.V, (size_t)d->n_items * k, sd, m->seed * 2 + 2);
  float *G = reco__aligned_alloc((size_t)k * (size_t)k * sizeof *G);
  double *loss = reco__malloc((size_t)(d->n_users > 0 ? d->n_users : 1) * sizeof *loss);
  if (!G || !loss) {
    rc = reco__seterr(RECO_ENOMEM, "out of memory for %s", m->algo->name);
    goto done;
  }
  side items = {d->n_items, d->iptr, d->iuser, d->ival, s->f.V, s->f.bi, s->f.U, s->f.bu, G, NULL,
                (size_t)d->n_users * (size_t)k * sizeof(float) > PREFETCH_BYTES};
  side users = {d->n_users, d->uptr, d->uitem, d->uval, s->f.U, s->f.bu, s->f.V, s->f.bi, G, loss,
                (size_t)d->n_items * (size_t)k * sizeof(float) > PREFETCH_BYTES};
  for (int e = 0; e < epochs; e++) {
    if (implicit) reco__factors_gram(s->f.U, d->n_users, k, G, nth);
    if ((rc = solve_side(&items, &o, implicit, nth))) goto done;
    if (implicit) reco__factors_gram(s->f.V, d->n_items, k, G, nth);
    if ((rc = solve_side(&users, &o, implicit, nth))) goto done;
    double l = 0;
    for (int32_t u = 0; u < d->n_users; u++) l += loss[u];
    if (implicit) {
      for (size_t j = 0; j < (size_t)d->n_items * k; j++) l += (double)o.lambda * s->f.V[j] * s->f.V[j];
    } else {
      /* the items' penalty lambda n_i (|y_i|^2 + b_i^2), their data term being the users' */
      for (int32_t i = 0; i < d->n_items; i++) {
        const float *y = s->f.V + (size_t)i * k;
        double b = s->biased ? s->f.bi[i] : 0;
        l += o.lambda * (double)(d->iptr[i + 1] - d->iptr[i]) * (reco__fdot(y, y, k) + b * b);
      }
      l /= d->nnz ? (double)d->nnz : 1.0; /* per rating, so the curve reads like a squared error */
    }
    if ((rc = reco__model_curve_add(m, pr, e + 1, epochs, l, NAN))) goto done;
  }
  if (implicit) {
    /* G is the Gram of the final item factors (computed before the last user sweep) */
    s->B = reco__aligned_alloc((size_t)k * (size_t)k * sizeof *s->B);
    s->Binv = reco__aligned_alloc((size_t)k * (size_t)k * sizeof *s->Binv);
    if (!s->B || !s->Binv) {
      rc = reco__seterr(RECO_ENOMEM, "out of memory for %s", m->algo->name);
      goto done;
    }
    memcpy(s->B, G, (size_t)k * (size_t)k * sizeof *G);
    for (int j = 0; j < k; j++) s->B[(size_t)j * k + j] += o.lambda;
    if ((rc = spd_inverse(s->B, k, s->Binv))) goto done;
  }
  rc = reco__factors_similar_build(&s->f, (int)reco__model_param(m, "similar_k"));
done:
  reco__free_aligned(G);
  reco__free(loss);
  return rc;
}

static int ials_fit(reco_model *m, const reco_dataset *d, const reco_progress *pr) {
  return als_fit_common(m, d, pr, true);
}

static int als_fit(reco_model *m, const reco_dataset *d, const reco_progress *pr) {
  return als_fit_common(m, d, pr, false);
}

/* ---- fold-in: the normal equations of a history, by preconditioned CG ---- */

typedef struct fold_sys {
  const reco_model *m;
  const als_state *s;
  const reco_user_view *v;
  int k, d;       /* factors; unknowns (k, or k + 1 with the user bias) */
  float diag;     /* ALS: lambda n_h (B = diag I) */
  float lambda;
  conf cf;
} fold_sys;

static bool fold_item(const fold_sys *fs, size_t h, int32_t *item) {
  int32_t i = fs->v->items[h];
  *item = i;
  return i >= 0 && i < fs->m->n_items;
}

static inline float fold_val(const fold_sys *fs, size_t h) { return fs->v->values ? fs->v->values[h] : 1.0f; }

/* Dot of the feature row of item i ((y_i) or (y_i, 1)) with p. */
static inline float feat_dot(const fold_sys *fs, int32_t i, const float *p) {
  float t = reco__fdot(fs->s->f.V + (size_t)i * fs->k, p, fs->k);
  return fs->d > fs->k ? t + p[fs->k] : t;
}

static inline void feat_axpy(const fold_sys *fs, int32_t i, float a, float *out) {
  reco__faxpy(a, fs->s->f.V + (size_t)i * fs->k, out, fs->k);
  if (fs->d > fs->k) out[fs->k] += a;
}

/* Weight of history entry h in A (c - 1 for iALS, 1 for ALS). */
static inline float fold_w(const fold_sys *fs, size_t h) {
  return fs->s->implicit ? conf_c(&fs->cf, fold_val(fs, h)) - 1.0f : 1.0f;
}

static void fold_apply(const fold_sys *fs, const float *p, float *out) {
  if (fs->s->implicit) reco__fsymv(fs->s->B, p, out, fs->k);
  else
    for (int j = 0; j < fs->d; j++) out[j] = fs->diag * p[j];
  for (size_t h = 0; h < fs->v->n; h++) {
    int32_t i;
    if (!fold_item(fs, h, &i)) continue;
    float w = fold_w(fs, h);
    if (w != 0) feat_axpy(fs, i, w * feat_dot(fs, i, p), out);
  }
}

static void fold_precond(const fold_sys *fs, const float *r, float *z) {
  if (fs->s->implicit) reco__fsymv(fs->s->Binv, r, z, fs->k);
  else
    for (int j = 0; j < fs->d; j++) z[j] = r[j] / fs->diag;
}

/* x = A^{-1} rhs by preconditioned CG from zero; scr holds 4 d floats. Exact (to float
 * rounding) in at most n_h + 1 steps; runs a few more while the residual is above 1e-6. */
static void fold_pcg(const fold_sys *fs, const float *rhs, float *x, float *scr) {
  int d = fs->d;
  float *r = scr, *z = scr + d, *p = scr + 2 * d, *Ap = scr + 3 * d;
  memset(x, 0, (size_t)d * sizeof *x);
  memcpy(r, rhs, (size_t)d * sizeof *r);
  float bn = reco__fdot(rhs, rhs, d);
  if (!(bn > 0)) return;
  size_t nh = fs->v->n < (size_t)d ? fs->v->n : (size_t)d;
  int max_it = 2 * (int)nh + 8;
  fold_precond(fs, r, z);
  memcpy(p, z, (size_t)d * sizeof *p);
  float rz = reco__fdot(r, z, d);
  for (int it = 0; it < max_it; it++) {
    fold_apply(fs, p, Ap);
    float pAp = reco__fdot(p, Ap, d);
    if (!(pAp > 0)) break;
    float a = rz / pAp;
    reco__faxpy(a, p, x, d);
    reco__faxpy(-a, Ap, r, d);
    if (reco__fdot(r, r, d) <= 1e-12f * bn) break;
    fold_precond(fs, r, z);
    float rz_new = reco__fdot(r, z, d);
    float beta = rz_new / rz;
    for (int j = 0; j < d; j++) p[j] = z[j] + beta * p[j];
    rz = rz_new;
  }
}

static fold_sys fold_sys_of(const reco_model *m, const reco_user_view *v) {
  const als_state *s = m->state;
  fold_sys fs = {m, s, v, s->f.k, s->f.k + (s->biased ? 1 : 0), 0, (float)reco__model_param(m, "reg"), {0, 0, 1}};
  if (s->implicit) {
    fs.cf = conf_of(m);
  } else {
    size_t n = 0;
    for (size_t h = 0; h < v->n; h++) n += v->items[h] >= 0 && v->items[h] < m->n_items;
    fs.diag = fs.lambda * (float)(n ? n : 1);
    if (!(fs.diag > 0)) fs.diag = 1e-6f;
  }
  return fs;
}

/* The right-hand side: sum_h c_h y_h (iALS) or sum_h (r_h - mu - b_h) (y_h, 1) (ALS). */
static void fold_rhs(const fold_sys *fs, float *b) {
  memset(b, 0, (size_t)fs->d * sizeof *b);
  const als_state *s = fs->s;
  for (size_t h = 0; h < fs->v->n; h++) {
    int32_t i;
    if (!fold_item(fs, h, &i)) continue;
    float r = fold_val(fs, h);
    float t = s->implicit ? conf_c(&fs->cf, r) : r - (float)fs->m->global_mean - (s->biased ? s->f.bi[i] : 0.0f);
    feat_axpy(fs, i, t, b);
  }
}

/* Factors (and, for biased ALS, x[k] = the user bias) of a view's history. */
static void als_fold_in(const reco_model *m, const reco_user_view *v, float *x) {
  float scr[5 * (RECO_FACTORS_MAX + 1)];
  fold_sys fs = fold_sys_of(m, v);
  fold_rhs(&fs, scr + 4 * fs.d);
  fold_pcg(&fs, scr + 4 * fs.d, x, scr);
}

/* The user's factor vector: the trained row for a known user, else the fold-in of the view's
 * history (what score() uses). out has room for RECO_FACTORS_MAX + 1 floats; returns k, or
 * RECO_EINVAL when m is not an als/ials model. */
int reco__als_user_vector(const reco_model *m, const reco_user_view *v, float *out) {
  if (!m || !m->algo || !m->state || (strcmp(m->algo->name, "als") && strcmp(m->algo->name, "ials")))
    return reco__seterr(RECO_EINVAL, "not a factor model of als/ials");
  const als_state *s = m->state;
  int k = s->f.k;
  if (v->user >= 0 && v->user < m->n_users) memcpy(out, s->f.U + (size_t)v->user * k, (size_t)k * sizeof *out);
  else als_fold_in(m, v, out);
  return k;
}

/* ---- scoring ---- */

static float als_predict(const reco_model *m, int32_t u, int32_t i) {
  const als_state *s = m->state;
  double p = m->global_mean;
  if (i < 0 || i >= m->n_items) return (float)p;
  if (s->biased) p += s->f.bi[i];
  if (u < 0 || u >= m->n_users) return (float)p;
  if (s->biased) p += s->f.bu[u];
  return (float)(p + reco__fdot(s->f.U + (size_t)u * s->f.k, s->f.V + (size_t)i * s->f.k, s->f.k));
}

static int als_score(const reco_model *m, const reco_user_view *v, float *out) {
  const als_state *s = m->state;
  int k = s->f.k;
  float mu = s->implicit ? 0.0f : (float)m->global_mean;
  if (v->user >= 0 && v->user < m->n_users) {
    float off = mu + (s->biased ? s->f.bu[v->user] : 0.0f);
    reco__factors_score(&s->f, s->f.U + (size_t)v->user * k, off, out);
    return 0;
  }
  float x[RECO_FACTORS_MAX + 1];
  als_fold_in(m, v, x);
  reco__factors_score(&s->f, x, mu + (s->biased ? x[k] : 0.0f), out);
  return 0;
}

static int als_similar(const reco_model *m, int32_t item, int k, int32_t *out_items, float *out_scores) {
  const als_state *s = m->state;
  return reco__factors_similar(&s->f, item, k, out_items, out_scores);
}

/*
 * The pipeline's reasons for a page: for each item, the history item nearest to it in factor
 * space (cosine of the item factors, ties to the smaller index). Hu et al.'s decomposition
 * (als_explain) needs a solve per item, most of a served request's time; this is the cheap
 * item-to-item reading that "because you interacted with X" asks for.
 */
static int als_explain_many(const reco_model *m, const reco_user_view *v, const int32_t *items, int n, int32_t *because,
                            float *weights) {
  const als_state *s = m->state;
  int k = s->f.k;
  const float *V = s->f.V;
  for (int x = 0; x < n; x++) {
    because[x] = -1;
    weights[x] = 0;
    int32_t i = items[x];
    if (i < 0 || i >= m->n_items) continue;
    const float *vi = V + (size_t)i * (size_t)k;
    float ni = reco__fdot(vi, vi, k);
    if (!(ni > 0)) continue;
    float best = -INFINITY;
    for (size_t h = 0; h < v->n; h++) {
      int32_t j = v->items[h];
      if (j < 0 || j >= m->n_items || j == i) continue;
      const float *vj = V + (size_t)j * (size_t)k;
      float nj = reco__fdot(vj, vj, k);
      if (!(nj > 0)) continue;
      float c = reco__fdot(vi, vj, k) / sqrtf(ni * nj);
      if (c > best || (c == best && j < because[x])) best = c, because[x] = j;
    }
    if (because[x] >= 0) weights[x] = best;
  }
  return 0;
}

/* Hu et al. section 5: each history item's share of the item's score, through z = A^{-1} f_i. */
static int als_explain(const reco_model *m, const reco_user_view *v, int32_t item, int k, int32_t *out_items,
                       float *out_weights) {
  const als_state *s = m->state;
  if (item < 0 || item >= m->n_items) return reco__seterr(RECO_ENOTFOUND, "item %d is unknown to the model", item);
  if (k <= 0 || v->n == 0) return 0;
  float scr[4 * (RECO_FACTORS_MAX + 1)], fi[RECO_FACTORS_MAX + 1], z[RECO_FACTORS_MAX + 1];
  fold_sys fs = fold_sys_of(m, v);
  memset(fi, 0, sizeof fi);
  feat_axpy(&fs, item, 1.0f, fi);
  fold_pcg(&fs, fi, z, scr);
  /* a small heap lives on the stack, so that the recommend pipeline's reasons allocate nothing */
  float h_score[16];
  int32_t h_id[16];
  reco_topk h = {.k = k, .n = 0, .score = h_score, .id = h_id};
  bool owned = k > 16;
  if (owned) {
    int rc = reco__topk_init(&h, k);
    if (rc) return rc;
  }
  for (size_t x = 0; x < v->n; x++) {
    int32_t j;
    if (!fold_item(&fs, x, &j)) continue;
    float r = fold_val(&fs, x);
    float t = s->implicit ? conf_c(&fs.cf, r) : r - (float)m->global_mean - (s->biased ? s->f.bi[j] : 0.0f);
    reco__topk_push(&h, t * feat_dot(&fs, j, z), j);
  }
  int n = reco__topk_sort(&h);
  for (int j = 0; j < n; j++) {
    out_items[j] = h.id[j];
    if (out_weights) out_weights[j] = h.score[j];
  }
  if (owned) reco__topk_free(&h);
  return n;
}

/* ---- save / load ---- */

static int als_save(const reco_model *m, reco_mf_writer *w) {
  const als_state *s = m->state;
  int rc = reco__factors_save(&s->f, w);
  if (!rc && s->implicit) {
    uint64_t kk = (uint64_t)s->f.k * (uint64_t)s->f.k;
    rc = reco__mf_section(w, "B", RECO_DT_F32, s->B, kk);
    if (!rc) rc = reco__mf_section(w, "Binv", RECO_DT_F32, s->Binv, kk);
  }
  return rc;
}

static int als_load_common(reco_model *m, const reco_mf_reader *r, bool implicit) {
  als_state *s = reco__calloc(1, sizeof *s);
  if (!s) return reco__seterr(RECO_ENOMEM, "out of memory for %s", m->algo->name);
  m->state = s;
  s->implicit = implicit;
  s->biased = !implicit && reco__model_param(m, "biased") != 0;
  int k = (int)reco__model_param(m, "factors");
  int rc = reco__factors_load(&s->f, r, m->n_users, m->n_items, k, s->biased, s->biased);
  if (!rc && implicit) {
    rc = reco__mf_copy(r, "B", RECO_DT_F32, (int64_t)k * k, (void **)&s->B, NULL);
    if (!rc) rc = reco__mf_copy(r, "Binv", RECO_DT_F32, (int64_t)k * k, (void **)&s->Binv, NULL);
  }
  return rc;
}

static int ials_load(reco_model *m, const reco_mf_reader *r) { return als_load_common(m, r, true); }
static int als_load(reco_model *m, const reco_mf_reader *r) { return als_load_common(m, r, false); }

const reco_algo reco__algo_als = {
    .name = "als",
    .summary = "explicit biased ALS, weighted-lambda regularisation (Zhou et al. 2008)",
    .caps = RECO_CAP_RATING | RECO_CAP_RANKING | RECO_CAP_SIMILAR | RECO_CAP_FOLDIN,
    .params = k_als_params,
    .n_params = RECO_ARRAY_LEN(k_als_params),
    .fit = als_fit,
    .predict = als_predict,
    .score = als_score,
    .similar = als_similar,
    .explain = als_explain,
    .explain_many = als_explain_many,
    .save = als_save,
    .load = als_load,
    .free_state = als_free,
};

const reco_algo reco__algo_ials = {
    .name = "ials",
    .summary = "implicit ALS, confidence-weighted (Hu, Koren, Volinsky 2008), CG solver (Takacs et al. 2011)",
    .caps = RECO_CAP_RANKING | RECO_CAP_SIMILAR | RECO_CAP_FOLDIN,
    .params = k_ials_params,
    .n_params = RECO_ARRAY_LEN(k_ials_params),
    .fit = ials_fit,
    .score = als_score,
    .similar = als_similar,
    .explain = als_explain,
    .explain_many = als_explain_many,
    .save = als_save,
    .load = ials_load,
    .free_state = als_free,
};
