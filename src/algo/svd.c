/*
 * svd.c - latent factor models fitted by stochastic gradient descent: biased matrix
 * factorisation `svd` and `svdpp`.
 *
 * svd (Funk 2006; Koren, Bell, Volinsky 2009, eq. 4-5): rhat_ui = mu + b_u + b_i + q_i^T p_u,
 * minimising over the training ratings K
 *   sum_(u,i in K) 1/2 (r_ui - rhat_ui)^2 + lambda/2 (|p_u|^2 + |q_i|^2) + lambda_b/2 (b_u^2 + b_i^2)
 * with the per-rating steps of KBV 2009 eq. 6 (e = r_ui - rhat_ui; rates g for factors, g_b for
 * biases):
 *   b_u += g_b (e - lambda_b b_u),  b_i += g_b (e - lambda_b b_i),
 *   p_u += g (e q_i - lambda p_u),  q_i += g (e p_u - lambda q_i)      (simultaneous).
 * svdpp (Koren 2008, "Factorization meets the neighborhood", eq. 15):
 *   rhat_ui = mu + b_u + b_i + q_i^T (p_u + z_u),  z_u = |N(u)|^-1/2 sum_{j in N(u)} y_j,
 * N(u) = the user's rated items, so q_i's step uses p_u + z_u, and each y_j, j in N(u), has the
 * gradient -e |N(u)|^-1/2 q_i. The per-rating step is sgd_step(), exported to the tests as
 * reco__mf_sgd_step: with learning rate 1 the change it makes is minus the gradient of the
 * per-rating loss, which the tests compare with finite differences.
 *
 * Schedule. Both rates decay geometrically, g_e = g_0 decay^e (Koren 2008 uses 0.9 per sweep).
 * The biases get a smaller rate than the factors: with one rate their noise cost ~0.002 RMSE on
 * the validation splits. Early stopping: a seeded share (valid_frac) of each user's ratings is
 * held out; after every epoch the validation RMSE is measured, the best epoch is kept, and
 * training stops after `patience` epochs without a gain of MF_MIN_GAIN. Then (refit, the
 * default) the model is retrained from the same start on all ratings for the best epoch count:
 * that costs 1.8x the training time but gained 0.003 RMSE on the validation splits below, more
 * than any other change tried; refit=false keeps the early-stopped model. The learning curve
 * (reco__model_curve_add) holds the early-stopping run, with training RMSE (errors before each
 * step) and validation RMSE per epoch, followed by the refit's epochs (training RMSE only).
 *
 * Defaults were chosen on validation splits of training data only: ml-100k u1.base (two seeds)
 * and ml-latest-small, each with half of the users keeping 60% of their ratings and the other
 * 40% held out (the shape of u1.test), two model seeds each; never on u1.test.
 *
 * Parallel SGD (Gemulla et al. 2011 "DSGD"; the grid of LIBMF, Zhuang et al. 2013): users and
 * items are shuffled (seeded) into G x G blocks; an epoch runs G strata, stratum s holding the
 * G blocks (a, (a + o_s) mod G) with o a seeded permutation. The blocks of a stratum share no
 * user and no item, and each block is processed sequentially in a seeded order; a block may start
 * as soon as its row strip and column strip have finished the previous stratum (no barrier per
 * stratum). The result is bit-identical for a seed whatever the thread count (G = max(8,
 * 2 x threads) by default, so one to four threads give the same model). Threads are only used
 * when an epoch is large enough to pay for the waiting (MF_PAR_MIN).
 *
 * SVD++ in the grid. The y_j gradient of a rating spans every item block, so it cannot be applied
 * inside a block. Batching the y updates (as fast SVD++ implementations do per user), the sum
 * g_u = sum_i e_ui q_i is accumulated in the user's block (the user is owned by one thread) and
 * y is updated once per epoch, in parallel over items:
 *   y_j <- (1 - g lambda_y)^|N(j)| y_j + eta_j sum_{u in N(j)} |N(u)|^-1/2 g_u,
 * (the penalty applied as |N(j)| sequential shrinkages), then z is recomputed. That step sums a
 * whole epoch of gradients, so for popular items it is bounded (eta_j, see update_y) or it
 * diverges. The model file stores p_u + z_u as the user factor, so scoring is the same as svd.
 *
 * Scoring. A known user scores all items as mu + b_u + b_i + Q p_u with one cblas_sgemv on the
 * contiguous item-factor matrix (no allocation). A user view with user = -1, or a known user
 * whose history is longer than at training time (new items), is folded in: with Q and b_i fixed,
 * (p, b_u) minimise the same per-user objective as training,
 *   sum_{j in H} (r_j - mu - b_j - q_j^T z - q_j^T p - b_u)^2 + lambda |H| |p|^2 + lambda_b |H| b_u^2,
 * i.e. the ridge system (Q_H^T Q_H + lambda |H| I) p = Q_H^T (r - mu - b - ...) extended by the bias,
 * solved by conjugate gradient preconditioned with the penalty diagonal: the system is the
 * identity plus a rank-|H| term, so CG is exact in |H| + 1 steps and uses only k-sized vectors on
 * the stack (k <= 512). History without values counts as the top of the rating scale.
 */
#include "algo.h"
#include "factors.h"

#include <math.h>
#include <omp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MF_MAX_K 512
#define MF_LANES 16 /* rows padded to 64 bytes */
#define MF_MIN_GAIN 1e-4 /* validation RMSE gain that counts as progress for early stopping */
/* Threads are used when an epoch holds at least this many rating x factor updates (about 10 ms
 * of one core): below it, an epoch lasts a millisecond or two and waiting for a preempted
 * partner thread on shared cores costs more than the second thread saves (ml-100k, k = 100:
 * 1 thread 0.045 s, 2 threads 0.3-0.4 s under load). The model is the same either way. */
#define MF_PAR_MIN (1 << 25)

#define MF_PARAMS(K, LR, LR_BIAS, REG)                                                                          \
  {"factors", RECO_P_INT, K, 1, MF_MAX_K, NULL, "latent factors k"},                                          \
      {"epochs", RECO_P_INT, 100, 1, 100000, NULL, "most passes over the ratings"},                        \
      {"lr", RECO_P_FLOAT, LR, 0, 10, NULL, "SGD rate of the factors"},                     \
      {"lr_bias", RECO_P_FLOAT, LR_BIAS, 0, 10, NULL, "SGD rate of the biases"},            \
      {"lr_decay", RECO_P_FLOAT, 0.9, 0, 1, NULL, "rates multiplied per epoch"},                         \
      {"reg", RECO_P_FLOAT, REG, 0, 1e3, NULL, "L2 on factors, per rating"},                         \
      {"reg_bias", RECO_P_FLOAT, 0.05, 0, 1e3, NULL, "L2 on biases, per rating"},                    \
      {"init_std", RECO_P_FLOAT, 0.01, 0, 10, NULL, "std of the initial factors"},            \
      {"valid_frac", RECO_P_FLOAT, 0.05, 0, 0.5, NULL, "user share for early stopping"},   \
      {"patience", RECO_P_INT, 3, 1, 100000, NULL, "epochs without gain to stop"},        \
      {"refit", RECO_P_BOOL, 1, 0, 1, NULL, "retrain on all for best epochs"},     \
      {"blocks", RECO_P_INT, 0, 0, 256, NULL, "SGD grid side (0 = auto)"}

/* Defaults: see "Defaults" in the file comment. */
static const reco_param_spec k_svd_params[] = {
    MF_PARAMS(100, 0.05, 0.015, 0.05),
};

static const reco_param_spec k_svdpp_params[] = {
    MF_PARAMS(100, 0.03, 0.006, 0.05),
    {"reg_y", RECO_P_FLOAT, 0.02, 0, 1e3, NULL, "L2 on implicit factors y_j"},
};

typedef struct mf_state {
  int k, kp;          /* factors; row stride (k rounded up to MF_LANES) */
  bool pp;            /* svdpp: y is kept for fold-in, p holds p_u + z_u */
  float *bu, *bi;     /* n_users, n_items */
  float *p, *q, *y;   /* n_users x kp, n_items x kp, n_items x kp (svdpp) */
  int32_t *cnt;       /* training ratings per user (a longer history means new items: fold in) */
  float reg, reg_bias; /* fold-in penalties, per rating as in training */
} mf_state;

static void mf_free(reco_model *m) {
  mf_state *s = m->state;
  if (!s) return;
  reco__free_aligned(s->bu);
  reco__free_aligned(s->bi);
  reco__free_aligned(s->p);
  reco__free_aligned(s->q);
  reco__free_aligned(s->y);
  reco__free_aligned(s->cnt);
  reco__free(s);
  m->state = NULL;
}

static int mf_state_new(reco_model *m, bool pp, mf_state **out) {
  mf_state *s = reco__calloc(1, sizeof *s);
  *out = s;
  if (!s) return reco__seterr(RECO_ENOMEM, "out of memory for %s", m->algo->name);
  m->state = s;
  s->pp = pp;
  s->k = (int)reco__model_param(m, "factors");
  s->kp = (s->k + MF_LANES - 1) / MF_LANES * MF_LANES;
  s->reg = (float)reco__model_param(m, "reg");
  s->reg_bias = (float)reco__model_param(m, "reg_bias");
  size_t nu = (size_t)(m->n_users ? m->n_users : 1), ni = (size_t)(m->n_items ? m->n_items : 1);
  s->bu = reco__aligned_calloc(nu * sizeof(float));
  s->bi = reco__aligned_calloc(ni * sizeof(float));
  s->p = reco__aligned_calloc(nu * (size_t)s->kp * sizeof(float));
  s->q = reco__aligned_calloc(ni * (size_t)s->kp * sizeof(float));
  s->cnt = reco__aligned_calloc(nu * sizeof(int32_t));
  if (pp) s->y = reco__aligned_calloc(ni * (size_t)s->kp * sizeof(float));
  if (!s->bu || !s->bi || !s->p || !s->q || !s->cnt || (pp && !s->y))
    return reco__seterr(RECO_ENOMEM, "out of memory for %s factors", m->algo->name);
  return 0;
}

/* ---- the per-rating step ---- */

/* 16 floats: one AVX-512 register, two AVX2 or four SSE registers (GCC vector extension). */
typedef float v16 __attribute__((vector_size(64), aligned(64)));

typedef float v8 __attribute__((vector_size(32)));
typedef float v4 __attribute__((vector_size(16)));

/* Horizontal sum as a tree of halvings (a fixed order: results do not depend on the ISA). By
 * pointer: a 64-byte vector passed by value would change the ABI on targets without AVX-512. */
static inline float hsum(const v16 *v) {
  v8 a = __builtin_shufflevector(*v, *v, 0, 1, 2, 3, 4, 5, 6, 7) +
         __builtin_shufflevector(*v, *v, 8, 9, 10, 11, 12, 13, 14, 15);
  v4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
  return (b[0] + b[2]) + (b[1] + b[3]);
}

/* x . y over n floats (n a multiple of 16, 64-byte aligned rows); two accumulators. */
static inline float dot_v(const float *x, const float *y, int n) {
  const v16 *a = (const v16 *)x, *b = (const v16 *)y;
  v16 s0 = {0}, s1 = {0};
  int c = 0, nc = n / MF_LANES;
  for (; c + 1 < nc; c += 2) {
    s0 += a[c] * b[c];
    s1 += a[c + 1] * b[c + 1];
  }
  if (c < nc) s0 += a[c] * b[c];
  v16 t = s0 + s1;
  return hsum(&t);
}

/*
 * One SGD step on rating r (KBV 2009 eq. 6; Koren 2008 eq. 15 when z != NULL): updates b_u, b_i,
 * p and q in place (q with p + z), adds e q (the old q) to g when g != NULL, and returns the
 * error e = r - rhat before the step. n is the row length: a multiple of MF_LANES, rows 64-byte
 * aligned, the padding zero (it stays zero).
 */
static inline __attribute__((always_inline)) float sgd_step(float r, float mu, float *bu, float *bi, float *p,
                                                             float *q, const float *z, float *g, int n, float lr,
                                                             float lr_b, float reg, float reg_b) {
  v16 *P = (v16 *)p, *Q = (v16 *)q, *G = (v16 *)g;
  const v16 *Z = (const v16 *)z;
  int nc = n / MF_LANES;
  float dot;
  if (z) {
    v16 s0 = {0};
    for (int c = 0; c < nc; c++) s0 += Q[c] * (P[c] + Z[c]);
    dot = hsum(&s0);
  } else {
    dot = dot_v(p, q, n);
  }
  float e = r - (mu + *bu + *bi + dot);
  *bu += lr_b * (e - reg_b * *bu);
  *bi += lr_b * (e - reg_b * *bi);
  float le = lr * e, keep = 1.0f - lr * reg;
  for (int c = 0; c < nc; c++) {
    v16 pc = P[c], qc = Q[c];
    P[c] = keep * pc + le * qc;
    if (z) {
      Q[c] = keep * qc + le * (pc + Z[c]);
      G[c] += e * qc;
    } else {
      Q[c] = keep * qc + le * pc;
    }
  }
  return e;
}

/* The step above for tests (no header: tests/unit/test_mf_sgd.c declares it). */
float reco__mf_sgd_step(float r, float mu, float *bu, float *bi, float *p, float *q, const float *z, float *g, int k,
                        float lr, float lr_b, float reg, float reg_b);
float reco__mf_sgd_step(float r, float mu, float *bu, float *bi, float *p, float *q, const float *z, float *g, int k,
                        float lr, float lr_b, float reg, float reg_b) {
  return sgd_step(r, mu, bu, bi, p, q, z, g, k, lr, lr_b, reg, reg_b);
}

/* ---- training ---- */

typedef struct mf_rating {
  int32_t u, i;
  float r;
} mf_rating;

typedef struct mf_opts {
  int epochs, patience, blocks;
  float lr, lr_bias, decay, reg, reg_bias, reg_y, init_std, valid_frac;
  bool refit;
} mf_opts;

/* Training-time arrays: the rating grid, the validation ratings, and for SVD++ the implicit
 * sets N(u) by user and by item with the per-epoch sums z_u and g_u. */
typedef struct mf_work {
  int G, nth; /* grid side; threads used */
  size_t n_train, n_val;
  mf_rating *r;   /* n_train, grouped by block */
  int64_t *bptr;  /* G*G + 1 */
  double *bloss;  /* per block: sum of squared errors of the epoch */
  int *off, *row_next, *done_row, *done_col; /* the epoch's schedule (G each) */
  mf_rating *val; /* n_val */
  /* SVD++ */
  int64_t *uptr, *iptr; /* N(u) by user / by item over the training part */
  int32_t *uitem, *iuser;
  float *uscale; /* |N(u)|^-1/2 */
  float *z, *g;  /* n_users x kp */
  float *qn, *tu; /* |q_i|^2 per item, sum_{i in N(u)} |q_i|^2 per user */
  float evec[MF_MAX_K] __attribute__((aligned(64))); /* top eigenvector estimate of sum_i q_i q_i^T */
  /* best-epoch snapshot */
  float *sbu, *sbi, *sp, *sq, *sy, *sz;
} mf_work;

static void work_free(mf_work *w) {
  reco__free(w->r);
  reco__free(w->bptr);
  reco__free(w->bloss);
  reco__free(w->off);
  reco__free(w->val);
  reco__free(w->uptr);
  reco__free(w->iptr);
  reco__free(w->uitem);
  reco__free(w->iuser);
  reco__free(w->uscale);
  reco__free(w->qn);
  reco__free(w->tu);
  reco__free_aligned(w->z);
  reco__free_aligned(w->g);
  reco__free_aligned(w->sbu);
  reco__free_aligned(w->sbi);
  reco__free_aligned(w->sp);
  reco__free_aligned(w->sq);
  reco__free_aligned(w->sy);
  reco__free_aligned(w->sz);
  memset(w, 0, sizeof *w);
}

/* Marks round(frac * n_u) of each user's CSR entries (seeded; at least one stays in training). */
static void mark_validation(const reco_dataset *d, float frac, uint64_t seed, uint8_t *isval) {
  reco_rng rng;
  reco__rng_seed(&rng, seed ^ 0x76616c6964ull);
  memset(isval, 0, d->nnz);
  for (int32_t u = 0; u < d->n_users; u++) {
    int64_t a = d->uptr[u], n = d->uptr[u + 1] - a;
    int64_t nv = (int64_t)floor(frac * (double)n + 0.5);
    if (nv > n - 1) nv = n - 1;
    /* selection sampling (Knuth, TAOCP 3.4.2 algorithm S): nv of n, in order */
    for (int64_t t = 0, left = nv; t < n && left > 0; t++)
      if ((double)(n - t) * reco__rng_uniform(&rng) < (double)left) {
        isval[a + t] = 1;
        left--;
      }
  }
}

static int build_work(const reco_model *m, const mf_state *s, const reco_dataset *d, const uint8_t *isval, int G,
                      mf_work *w) {
  memset(w, 0, sizeof *w);
  w->G = G;
  int32_t nu = d->n_users, ni = d->n_items;
  size_t nb = (size_t)G * G;
  for (size_t t = 0; t < d->nnz; t++) w->n_val += isval && isval[t];
  w->n_train = d->nnz - w->n_val;
  w->nth = (double)w->n_train * s->kp >= MF_PAR_MIN ? reco_get_threads() : 1;
  w->r = reco__malloc((w->n_train ? w->n_train : 1) * sizeof *w->r);
  w->val = reco__malloc((w->n_val ? w->n_val : 1) * sizeof *w->val);
  w->bptr = reco__calloc(nb + 1, sizeof *w->bptr);
  w->bloss = reco__calloc(nb, sizeof *w->bloss);
  w->off = reco__calloc(4 * (size_t)G, sizeof *w->off);
  if (w->off) w->row_next = w->off + G, w->done_row = w->off + 2 * G, w->done_col = w->off + 3 * G;
  int32_t *ublk = reco__malloc((size_t)(nu ? nu : 1) * sizeof *ublk);
  int32_t *iblk = reco__malloc((size_t)(ni ? ni : 1) * sizeof *iblk);
  int64_t *fill = reco__malloc((nb + 1) * sizeof *fill);
  int rc = 0;
  if (!w->r || !w->val || !w->bptr || !w->bloss || !w->off || !ublk || !iblk || !fill) {
    rc = reco__seterr(RECO_ENOMEM, "out of memory for the SGD grid");
    goto done;
  }
  /* seeded shuffles of users and items into G strips each (balances the blocks) */
  reco_rng rng;
  reco__rng_seed(&rng, m->seed);
  for (int32_t u = 0; u < nu; u++) ublk[u] = u;
  reco__rng_shuffle_i32(&rng, ublk, (size_t)nu);
  for (int32_t i = 0; i < ni; i++) iblk[i] = i;
  reco__rng_shuffle_i32(&rng, iblk, (size_t)ni);
  /* position -> index permutations into index -> strip maps (strip of position x: x G / n) */
  int32_t *perm = reco__malloc((size_t)RECO_MAX(RECO_MAX(nu, ni), 1) * sizeof *perm);
  if (!perm) {
    rc = reco__seterr(RECO_ENOMEM, "out of memory for the SGD grid");
    goto done;
  }
  memcpy(perm, ublk, (size_t)nu * sizeof *perm);
  for (int32_t x = 0; x < nu; x++) ublk[perm[x]] = (int32_t)((int64_t)x * G / nu);
  memcpy(perm, iblk, (size_t)ni * sizeof *perm);
  for (int32_t x = 0; x < ni; x++) iblk[perm[x]] = (int32_t)((int64_t)x * G / ni);
  reco__free(perm);
  for (int32_t u = 0; u < nu; u++)
    for (int64_t t = d->uptr[u]; t < d->uptr[u + 1]; t++)
      if (!(isval && isval[t])) w->bptr[(size_t)ublk[u] * G + iblk[d->uitem[t]] + 1]++;
  for (size_t b = 0; b < nb; b++) w->bptr[b + 1] += w->bptr[b];
  memcpy(fill, w->bptr, (nb + 1) * sizeof *fill);
  size_t nv = 0;
  for (int32_t u = 0; u < nu; u++)
    for (int64_t t = d->uptr[u]; t < d->uptr[u + 1]; t++) {
      mf_rating x = {u, d->uitem[t], d->uval[t]};
      if (isval && isval[t]) w->val[nv++] = x;
      else w->r[fill[(size_t)ublk[u] * G + iblk[x.i]]++] = x;
    }
  /* a seeded order inside each block */
  for (size_t b = 0; b < nb; b++) {
    mf_rating *x = w->r + w->bptr[b];
    for (int64_t n = w->bptr[b + 1] - w->bptr[b]; n > 1; n--) {
      int64_t j = (int64_t)reco__rng_below(&rng, (uint64_t)n);
      mf_rating t = x[n - 1];
      x[n - 1] = x[j];
      x[j] = t;
    }
  }
  if (s->pp) {
    /* N(u) = the user's training-part items, by user and by item */
    w->uptr = reco__calloc((size_t)nu + 1, sizeof *w->uptr);
    w->iptr = reco__calloc((size_t)ni + 1, sizeof *w->iptr);
    w->uitem = reco__malloc((w->n_train ? w->n_train : 1) * sizeof *w->uitem);
    w->iuser = reco__malloc((w->n_train ? w->n_train : 1) * sizeof *w->iuser);
    w->uscale = reco__malloc((size_t)(nu ? nu : 1) * sizeof *w->uscale);
    for (int f = 0; f < s->kp; f++) w->evec[f] = f < s->k ? 1.0f / sqrtf((float)s->k) : 0.0f;
    w->qn = reco__malloc((size_t)(ni ? ni : 1) * sizeof *w->qn);
    w->tu = reco__malloc((size_t)(nu ? nu : 1) * sizeof *w->tu);
    w->z = reco__aligned_calloc((size_t)(nu ? nu : 1) * s->kp * sizeof(float));
    w->g = reco__aligned_calloc((size_t)(nu ? nu : 1) * s->kp * sizeof(float));
    if (!w->uptr || !w->iptr || !w->uitem || !w->iuser || !w->uscale || !w->qn || !w->tu || !w->z || !w->g) {
      rc = reco__seterr(RECO_ENOMEM, "out of memory for SVD++ sets");
      goto done;
    }
    size_t o = 0;
    for (int32_t u = 0; u < nu; u++) {
      for (int64_t t = d->uptr[u]; t < d->uptr[u + 1]; t++)
        if (!(isval && isval[t])) {
          w->uitem[o++] = d->uitem[t];
          w->iptr[d->uitem[t] + 1]++;
        }
      w->uptr[u + 1] = (int64_t)o;
      int64_t n = w->uptr[u + 1] - w->uptr[u];
      w->uscale[u] = n ? 1.0f / sqrtf((float)n) : 0.0f;
    }
    for (int32_t i = 0; i < ni; i++) w->iptr[i + 1] += w->iptr[i];
    int64_t *pos = reco__malloc((size_t)(ni + 1) * sizeof *pos);
    if (!pos) {
      rc = reco__seterr(RECO_ENOMEM, "out of memory for SVD++ sets");
      goto done;
    }
    memcpy(pos, w->iptr, (size_t)(ni + 1) * sizeof *pos);
    for (int32_t u = 0; u < nu; u++)
      for (int64_t t = w->uptr[u]; t < w->uptr[u + 1]; t++) w->iuser[pos[w->uitem[t]]++] = u;
    reco__free(pos);
  }
done:
  reco__free(ublk);
  reco__free(iblk);
  reco__free(fill);
  return rc;
}

/* SVD++: z_u = |N(u)|^-1/2 sum_{j in N(u)} y_j for every user. */
static void compute_z(const reco_model *m, const mf_state *s, mf_work *w) {
  int kp = s->kp;
#pragma omp parallel for schedule(dynamic, 32) num_threads(w->nth)
  for (int32_t u = 0; u < m->n_users; u++) {
    float *restrict z = w->z + (size_t)u * kp;
    memset(z, 0, (size_t)kp * sizeof *z);
    for (int64_t t = w->uptr[u]; t < w->uptr[u + 1]; t++) {
      const float *restrict y = s->y + (size_t)w->uitem[t] * kp;
#pragma omp simd
      for (int f = 0; f < kp; f++) z[f] += y[f];
    }
    float c = w->uscale[u];
#pragma omp simd
    for (int f = 0; f < kp; f++) z[f] *= c;
  }
}

/*
 * SVD++: the epoch's y step from the accumulated g_u (see the file comment), then g = 0.
 * The data part of the step for y_j is bounded by 1 / (an estimate of the row sum of the Hessian
 * of the loss in Y): H_jj' = sum_{u in N(j) n N(j')} |N(u)|^-1 A_u with A_u = sum_{i in R(u)} q_i q_i^T,
 * so sum_j' |H_jj'| <= sum_{u in N(j)} lambda_max(A_u) (Gershgorin; |N(u)| |N(u)|^-1 = 1), and
 * lambda_max(A_u) is estimated as T_u / spread, T_u = sum_{i in R(u)} |q_i|^2 = trace(A_u), spread =
 * trace(C) / lambda_max(C) of C = sum_i q_i q_i^T (power iteration, warm-started each epoch).
 * The step is min(lr, spread / sum_{u in N(j)} T_u): plain SGD-sized for rare items, bounded for
 * popular ones, whose summed once-per-epoch gradient would otherwise overshoot.
 */
static void update_y(const reco_model *m, const mf_state *s, mf_work *w, float lr, float reg_y) {
  int kp = s->kp;
  double trace = 0;
  for (int32_t i = 0; i < m->n_items; i++) {
    w->qn[i] = dot_v(s->q + (size_t)i * kp, s->q + (size_t)i * kp, kp);
    trace += w->qn[i];
  }
  float *vec = w->evec, nv[MF_MAX_K] __attribute__((aligned(64)));
  double lmax = 0;
  for (int it = 0; it < 8; it++) {
    memset(nv, 0, (size_t)kp * sizeof *nv);
    for (int32_t i = 0; i < m->n_items; i++) {
      const float *q = s->q + (size_t)i * kp;
      float t = dot_v(q, vec, kp);
      for (int f = 0; f < kp; f++) nv[f] += t * q[f];
    }
    lmax = sqrt((double)dot_v(nv, nv, kp));
    if (!(lmax > 0)) break;
    for (int f = 0; f < kp; f++) vec[f] = (float)(nv[f] / lmax);
  }
  double spread = lmax > 0 ? trace / lmax : 1;
#pragma omp parallel for schedule(static) num_threads(w->nth)
  for (int32_t u = 0; u < m->n_users; u++) {
    float t = 0;
    for (int64_t x = w->uptr[u]; x < w->uptr[u + 1]; x++) t += w->qn[w->uitem[x]];
    w->tu[u] = t;
  }
#pragma omp parallel for schedule(dynamic, 32) num_threads(w->nth)
  for (int32_t j = 0; j < m->n_items; j++) {
    float *restrict y = s->y + (size_t)j * kp;
    int64_t n = w->iptr[j + 1] - w->iptr[j];
    if (!n) continue;
    double rows = 0;
    for (int64_t t = w->iptr[j]; t < w->iptr[j + 1]; t++) rows += w->tu[w->iuser[t]];
    float eta = rows > 0 ? (float)RECO_MIN((double)lr, spread / rows) : lr;
    float shrink = (float)pow(1.0 - (double)lr * reg_y, (double)n);
#pragma omp simd
    for (int f = 0; f < kp; f++) y[f] *= shrink;
    for (int64_t t = w->iptr[j]; t < w->iptr[j + 1]; t++) {
      int32_t u = w->iuser[t];
      const float *restrict g = w->g + (size_t)u * kp;
      float c = eta * w->uscale[u];
#pragma omp simd
      for (int f = 0; f < kp; f++) y[f] += c * g[f];
    }
  }
  memset(w->g, 0, (size_t)m->n_users * kp * sizeof(float));
}

/* SGD over the ratings of one block (ratings in the block's seeded order). */
static double run_block(const reco_model *m, mf_state *s, mf_work *w, size_t blk, float lr, float lr_b, float reg,
                        float reg_b) {
  int kp = s->kp;
  float mu = (float)m->global_mean;
  const mf_rating *x = w->r + w->bptr[blk], *end = w->r + w->bptr[blk + 1];
  double sse = 0;
  if (s->pp) {
    for (; x < end; x++) {
      size_t uo = (size_t)x->u * kp;
      float e = sgd_step(x->r, mu, &s->bu[x->u], &s->bi[x->i], s->p + uo, s->q + (size_t)x->i * kp, w->z + uo, w->g + uo,
                         kp, lr, lr_b, reg, reg_b);
      sse += (double)e * e;
    }
  } else {
    for (; x < end; x++) {
      if (x + 2 < end) {
        __builtin_prefetch(s->p + (size_t)x[2].u * kp, 1);
        __builtin_prefetch(s->q + (size_t)x[2].i * kp, 1);
      }
      float e = sgd_step(x->r, mu, &s->bu[x->u], &s->bi[x->i], s->p + (size_t)x->u * kp, s->q + (size_t)x->i * kp, NULL,
                         NULL, kp, lr, lr_b, reg, reg_b);
      sse += (double)e * e;
    }
  }
  return sse;
}

/*
 * One epoch over the grid at learning rate lr; returns the training RMSE (errors before the
 * steps). Block (a, (a + off[st]) mod G) of stratum st may run once row strip a and column strip
 * b have finished stratum st - 1 (done_row[a] == done_col[b] == st): every row and column then
 * sees its blocks in stratum order, as with a barrier after each stratum, so the result is the
 * same for any thread count; but a thread never waits for a whole stratum, only for the two
 * strips it needs, which keeps busy (shared) cores from stalling the others.
 */
static double run_epoch(const reco_model *m, mf_state *s, mf_work *w, const mf_opts *o, float lr, float lr_b,
                        reco_rng *rng) {
  int G = w->G;
  for (int x = 0; x < G; x++) {
    w->off[x] = x;
    w->row_next[x] = w->done_row[x] = w->done_col[x] = 0;
  }
  reco__rng_shuffle_i32(rng, w->off, (size_t)G);
  int claimed = 0;
#pragma omp parallel num_threads(w->nth)
  {
    int start = omp_get_thread_num() * G / omp_get_num_threads(), idle = 0;
    while (__atomic_load_n(&claimed, __ATOMIC_RELAXED) < G * G) {
      bool ran = false;
      for (int x = 0; x < G && !ran; x++) {
        int a = (start + x) % G, st = __atomic_load_n(&w->row_next[a], __ATOMIC_ACQUIRE);
        if (st >= G || __atomic_load_n(&w->done_row[a], __ATOMIC_ACQUIRE) != st) continue;
        int b = (a + w->off[st]) % G;
        if (__atomic_load_n(&w->done_col[b], __ATOMIC_ACQUIRE) != st) continue;
        if (!__atomic_compare_exchange_n(&w->row_next[a], &st, st + 1, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) continue;
        __atomic_add_fetch(&claimed, 1, __ATOMIC_RELAXED);
        size_t blk = (size_t)a * G + (size_t)b;
        w->bloss[blk] = run_block(m, s, w, blk, lr, lr_b, o->reg, o->reg_bias);
        __atomic_store_n(&w->done_col[b], st + 1, __ATOMIC_RELEASE);
        __atomic_store_n(&w->done_row[a], st + 1, __ATOMIC_RELEASE);
        ran = true;
      }
      if (ran) idle = 0;
      else if (++idle < 64) __builtin_ia32_pause();
      else sched_yield();
    }
  }
  if (s->pp) {
    update_y(m, s, w, lr, o->reg_y);
    compute_z(m, s, w);
  }
  double sse = 0;
  for (size_t b = 0; b < (size_t)G * G; b++) sse += w->bloss[b];
  return w->n_train ? sqrt(sse / (double)w->n_train) : 0;
}

/* Validation RMSE with predictions clipped to the training scale (as the evaluation does). */
static double valid_rmse(const reco_model *m, const mf_state *s, const mf_work *w) {
  enum { CHUNKS = 64 }; /* fixed partial sums, added in order: the same for any thread count */
  double part[CHUNKS] = {0};
  int kp = s->kp;
#pragma omp parallel for schedule(static) num_threads(w->nth)
  for (size_t c = 0; c < CHUNKS; c++) {
    double sse = 0;
    size_t end = w->n_val * (c + 1) / CHUNKS;
    for (size_t t = w->n_val * c / CHUNKS; t < end; t++) {
      const mf_rating *x = &w->val[t];
      const float *p = s->p + (size_t)x->u * kp, *q = s->q + (size_t)x->i * kp;
      const float *z = s->pp ? w->z + (size_t)x->u * kp : NULL;
      float dot = 0;
      if (z) {
#pragma omp simd reduction(+ : dot)
        for (int f = 0; f < kp; f++) dot += q[f] * (p[f] + z[f]);
      } else {
#pragma omp simd reduction(+ : dot)
        for (int f = 0; f < kp; f++) dot += q[f] * p[f];
      }
      float pr = (float)m->global_mean + s->bu[x->u] + s->bi[x->i] + dot;
      if (!(pr >= m->vmin)) pr = m->vmin;
      if (pr > m->vmax) pr = m->vmax;
      sse += (double)(x->r - pr) * (x->r - pr);
    }
    part[c] = sse;
  }
  double sse = 0;
  for (int c = 0; c < CHUNKS; c++) sse += part[c];
  return w->n_val ? sqrt(sse / (double)w->n_val) : NAN;
}

static int snapshot(const reco_model *m, mf_state *s, mf_work *w, bool restore) {
  size_t nu = (size_t)m->n_users, ni = (size_t)m->n_items, kp = (size_t)s->kp;
  struct {
    float **dst, *src;
    size_t n;
  } parts[] = {{&w->sbu, s->bu, nu}, {&w->sbi, s->bi, ni}, {&w->sp, s->p, nu * kp},
               {&w->sq, s->q, ni * kp}, {&w->sy, s->y, ni * kp}, {&w->sz, w->z, nu * kp}};
  for (size_t x = 0; x < RECO_ARRAY_LEN(parts); x++) {
    if (!parts[x].src || !parts[x].n) continue;
    if (restore) {
      memcpy(parts[x].src, *parts[x].dst, parts[x].n * sizeof(float));
      continue;
    }
    if (!*parts[x].dst && !(*parts[x].dst = reco__aligned_alloc(parts[x].n * sizeof(float))))
      return reco__seterr(RECO_ENOMEM, "out of memory for the best-epoch snapshot");
    memcpy(*parts[x].dst, parts[x].src, parts[x].n * sizeof(float));
  }
  return 0;
}

/* Seeded initial factors, uniform on [-a, a] with a = std sqrt(3) (standard deviation std; cheaper
 * than normal draws, and bounded); zero biases and y. */
static void init_factors(const reco_model *m, mf_state *s, float std) {
  reco_rng rng;
  reco__rng_seed(&rng, m->seed ^ 0x66616374ull);
  memset(s->bu, 0, (size_t)m->n_users * sizeof(float));
  memset(s->bi, 0, (size_t)m->n_items * sizeof(float));
  float *mats[2] = {s->p, s->q};
  int32_t rows[2] = {m->n_users, m->n_items};
  for (int x = 0; x < 2; x++)
    for (int32_t r = 0; r < rows[x]; r++) {
      float *v = mats[x] + (size_t)r * s->kp;
      for (int f = 0; f < s->kp; f++)
        v[f] = f < s->k ? (float)(std * 1.7320508075688772 * (2 * reco__rng_uniform(&rng) - 1)) : 0.0f;
    }
  if (s->y) memset(s->y, 0, (size_t)m->n_items * s->kp * sizeof(float));
}

/*
 * Trains from the initial factors for up to max_epochs. With validation ratings, stops early and
 * restores the best epoch (its number in *best); without, runs all epochs.
 */
static int train(reco_model *m, mf_state *s, const reco_dataset *d, const mf_opts *o, const uint8_t *isval,
                 int max_epochs, const reco_progress *pr, int *best) {
  int G = o->blocks > 0 ? o->blocks : RECO_MIN(RECO_MAX(8, 2 * reco_get_threads()), 256);
  mf_work w;
  int rc = build_work(m, s, d, isval, G, &w);
  if (rc) goto done;
  init_factors(m, s, o->init_std);
  if (s->pp) compute_z(m, s, &w);
  reco_rng rng;
  reco__rng_seed(&rng, m->seed ^ 0x65706f6368ull);
  double best_v = INFINITY;
  *best = 0;
  for (int e = 0; e < max_epochs; e++) {
    double decay = pow(o->decay, e);
    double loss = run_epoch(m, s, &w, o, (float)(o->lr * decay), (float)(o->lr_bias * decay), &rng);
    double v = w.n_val ? valid_rmse(m, s, &w) : NAN;
    if ((rc = reco__model_curve_add(m, pr, e + 1, max_epochs, loss, v))) goto done;
    if (!isfinite(loss)) {
      rc = reco__seterr(RECO_ERANGE, "%s diverged at epoch %d (lower lr)", m->algo->name, e + 1);
      goto done;
    }
    if (!w.n_val) {
      *best = e + 1;
      continue;
    }
    if (v < best_v - MF_MIN_GAIN) {
      best_v = v;
      *best = e + 1;
      if ((rc = snapshot(m, s, &w, false))) goto done;
    } else if (e + 1 - *best >= o->patience) {
      char info[64];
      snprintf(info, sizeof info, "stopped early, best epoch %d", *best);
      if ((rc = reco__progress(pr, m->algo->name, max_epochs, max_epochs, info))) goto done;
      break;
    }
  }
  if (w.n_val && *best > 0) snapshot(m, s, &w, true);
  if (s->pp) {
    /* fold z_u into the stored user factor: scoring is then the same as for svd */
    size_t n = (size_t)m->n_users * s->kp;
    for (size_t t = 0; t < n; t++) s->p[t] += w.z[t];
  }
done:
  work_free(&w);
  return rc;
}

static int mf_fit(reco_model *m, const reco_dataset *d, const reco_progress *pr, bool pp) {
  mf_opts o = {
      .epochs = (int)reco__model_param(m, "epochs"),
      .patience = (int)reco__model_param(m, "patience"),
      .blocks = (int)reco__model_param(m, "blocks"),
      .lr = (float)reco__model_param(m, "lr"),
      .lr_bias = (float)reco__model_param(m, "lr_bias"),
      .decay = (float)reco__model_param(m, "lr_decay"),
      .reg = (float)reco__model_param(m, "reg"),
      .reg_bias = (float)reco__model_param(m, "reg_bias"),
      .reg_y = pp ? (float)reco__model_param(m, "reg_y") : 0,
      .init_std = (float)reco__model_param(m, "init_std"),
      .valid_frac = (float)reco__model_param(m, "valid_frac"),
      .refit = reco__model_param(m, "refit") != 0,
  };
  mf_state *s;
  int rc = mf_state_new(m, pp, &s);
  if (rc) return rc;
  double mu = 0;
  for (size_t t = 0; t < d->nnz; t++) mu += d->uval[t];
  m->global_mean = d->nnz ? mu / (double)d->nnz : 0;
  for (int32_t u = 0; u < d->n_users; u++) s->cnt[u] = (int32_t)(d->uptr[u + 1] - d->uptr[u]);
  uint8_t *isval = NULL;
  if (o.valid_frac > 0 && d->nnz > 0) {
    isval = reco__malloc(d->nnz);
    if (!isval) return reco__seterr(RECO_ENOMEM, "out of memory for the validation split");
    mark_validation(d, o.valid_frac, m->seed, isval);
    size_t n_val = 0;
    for (size_t t = 0; t < d->nnz; t++) n_val += isval[t];
    if (!n_val) { /* too few ratings per user to hold any out: no early stopping */
      reco__free(isval);
      isval = NULL;
    }
  }
  int best = 0;
  rc = train(m, s, d, &o, isval, o.epochs, pr, &best);
  if (!rc && isval && o.refit) rc = train(m, s, d, &o, NULL, best > 0 ? best : 1, pr, &best);
  reco__free(isval);
  return rc;
}

static int svd_fit(reco_model *m, const reco_dataset *d, const reco_progress *pr) { return mf_fit(m, d, pr, false); }
static int svdpp_fit(reco_model *m, const reco_dataset *d, const reco_progress *pr) { return mf_fit(m, d, pr, true); }

/* ---- prediction and scoring ---- */

static float mf_predict(const reco_model *m, int32_t u, int32_t i) {
  const mf_state *s = m->state;
  bool ku = u >= 0 && u < m->n_users, ki = i >= 0 && i < m->n_items;
  float r = (float)m->global_mean + (ku ? s->bu[u] : 0.0f) + (ki ? s->bi[i] : 0.0f);
  if (ku && ki) {
    const float *p = s->p + (size_t)u * s->kp, *q = s->q + (size_t)i * s->kp;
    float dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int f = 0; f < s->kp; f++) dot += p[f] * q[f];
    r += dot;
  }
  return r;
}

/*
 * Fold-in (see the file comment): the user factor (p + z for SVD++) into p[kp] and the bias into
 * *bu from the view's history. Returns false when no history item is known to the model.
 */
static bool fold_in(const reco_model *m, const mf_state *s, const reco_user_view *v, float *restrict p, float *bu) {
  int k = s->k, kp = s->kp;
  float z[MF_MAX_K] __attribute__((aligned(64))), r[MF_MAX_K + 1] __attribute__((aligned(64)));
  float dv[MF_MAX_K + 1] __attribute__((aligned(64))), ad[MF_MAX_K + 1] __attribute__((aligned(64)));
  float w[MF_MAX_K + 1] __attribute__((aligned(64)));
  size_t n = 0;
  memset(z, 0, (size_t)kp * sizeof *z);
  for (size_t h = 0; h < v->n; h++) {
    int32_t j = v->items[h];
    if (j < 0 || j >= m->n_items) continue;
    n++;
    if (s->pp) {
      const float *y = s->y + (size_t)j * kp;
#pragma omp simd
      for (int f = 0; f < kp; f++) z[f] += y[f];
    }
  }
  memset(p, 0, (size_t)kp * sizeof *p);
  *bu = 0;
  if (!n) return false;
  float zs = 1.0f / sqrtf((float)n);
  for (int f = 0; f < kp; f++) z[f] *= zs;
  /* unknowns w = (p_0..p_{k-1}, b_u) at indices 0..k-1 and k; penalty diagonal D */
  double lam = (double)s->reg * (double)n, lamb = (double)s->reg_bias * (double)n;
  double minv = lam > 0 ? 1.0 / lam : 1.0, minvb = lamb > 0 ? 1.0 / lamb : 1.0; /* preconditioner D^-1 */
  /* right-hand side: sum_j x_j t_j, t_j = r_j - mu - b_j - q_j^T z, x_j = (q_j, 1) */
  memset(r, 0, (size_t)(k + 1) * sizeof *r);
  float top = m->vmax;
  for (size_t h = 0; h < v->n; h++) {
    int32_t j = v->items[h];
    if (j < 0 || j >= m->n_items) continue;
    const float *q = s->q + (size_t)j * kp;
    float t = (v->values ? v->values[h] : top) - (float)m->global_mean - s->bi[j];
    if (s->pp) {
      float dz = 0;
#pragma omp simd reduction(+ : dz)
      for (int f = 0; f < k; f++) dz += q[f] * z[f];
      t -= dz;
    }
#pragma omp simd
    for (int f = 0; f < k; f++) r[f] += t * q[f];
    r[k] += t;
  }
  /* preconditioned conjugate gradient from w = 0 */
  memset(w, 0, (size_t)(k + 1) * sizeof *w);
  double rz = 0, rz0;
  for (int f = 0; f <= k; f++) {
    dv[f] = (float)(r[f] * (f < k ? minv : minvb));
    rz += (double)r[f] * dv[f];
  }
  rz0 = rz;
  int max_it = (int)RECO_MIN((size_t)k + 2, n + 2);
  for (int it = 0; it < max_it && rz > 1e-12 * rz0 && rz > 0; it++) {
    /* ad = A dv = D dv + sum_j x_j (x_j^T dv) */
    for (int f = 0; f < k; f++) ad[f] = (float)(lam * dv[f]);
    ad[k] = (float)(lamb * dv[k]);
    for (size_t h = 0; h < v->n; h++) {
      int32_t j = v->items[h];
      if (j < 0 || j >= m->n_items) continue;
      const float *q = s->q + (size_t)j * kp;
      float t = dv[k];
#pragma omp simd reduction(+ : t)
      for (int f = 0; f < k; f++) t += q[f] * dv[f];
#pragma omp simd
      for (int f = 0; f < k; f++) ad[f] += t * q[f];
      ad[k] += t;
    }
    double dad = 0;
    for (int f = 0; f <= k; f++) dad += (double)dv[f] * ad[f];
    if (!(dad > 0)) break;
    float alpha = (float)(rz / dad);
    double rz_new = 0;
    for (int f = 0; f <= k; f++) {
      w[f] += alpha * dv[f];
      r[f] -= alpha * ad[f];
      rz_new += (double)r[f] * r[f] * (f < k ? minv : minvb);
    }
    float beta = (float)(rz_new / rz);
    rz = rz_new;
    for (int f = 0; f <= k; f++) dv[f] = (float)(r[f] * (f < k ? minv : minvb)) + beta * dv[f];
  }
  for (int f = 0; f < k; f++) p[f] = w[f] + (s->pp ? z[f] : 0.0f);
  *bu = w[k];
  return true;
}

static int mf_score(const reco_model *m, const reco_user_view *v, float *out) {
  const mf_state *s = m->state;
  float pbuf[MF_MAX_K] __attribute__((aligned(64)));
  const float *p = NULL;
  float bu = 0;
  bool known = v->user >= 0 && v->user < m->n_users;
  if (known && v->n <= (size_t)s->cnt[v->user]) {
    p = s->p + (size_t)v->user * s->kp;
    bu = s->bu[v->user];
  } else if (v->n && fold_in(m, s, v, pbuf, &bu)) {
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

/* Fold-in for tests and benchmarks: the user factor and bias a view would be scored with. */
int reco__mf_fold_in(const reco_model *m, const reco_user_view *v, float *p, float *bu);
int reco__mf_fold_in(const reco_model *m, const reco_user_view *v, float *p, float *bu) {
  const mf_state *s = m->state;
  if (!s || (m->algo->fit != svd_fit && m->algo->fit != svdpp_fit))
    return reco__seterr(RECO_EINVAL, "not an svd/svdpp model");
  float buf[MF_MAX_K] __attribute__((aligned(64)));
  bool ok = fold_in(m, s, v, buf, bu);
  memcpy(p, buf, (size_t)s->k * sizeof *p);
  return ok ? 0 : RECO_ENOTFOUND;
}

/* ---- model file: unpadded sections bu, bi, p, q (+ y), cnt ---- */

static int mf_save(const reco_model *m, reco_mf_writer *w) {
  const mf_state *s = m->state;
  int rc;
  if ((rc = reco__mf_section(w, "bu", RECO_DT_F32, s->bu, (uint64_t)m->n_users)) ||
      (rc = reco__mf_section(w, "bi", RECO_DT_F32, s->bi, (uint64_t)m->n_items)) ||
      (rc = reco__mf_section(w, "cnt", RECO_DT_I32, s->cnt, (uint64_t)m->n_users)) ||
      (rc = reco__factors_save_rows(w, "p", s->p, m->n_users, s->k, s->kp)) || (rc = reco__factors_save_rows(w, "q", s->q, m->n_items, s->k, s->kp)))
    return rc;
  return s->pp ? reco__factors_save_rows(w, "y", s->y, m->n_items, s->k, s->kp) : 0;
}

static int mf_load(reco_model *m, const reco_mf_reader *r) {
  mf_state *s;
  int rc = mf_state_new(m, m->algo->fit == svdpp_fit, &s);
  if (rc) return rc;
  const void *data;
  uint64_t n;
  if ((rc = reco__mf_get(r, "bu", RECO_DT_F32, &data, &n)) || n != (uint64_t)m->n_users) goto bad;
  memcpy(s->bu, data, n * sizeof(float));
  if ((rc = reco__mf_get(r, "bi", RECO_DT_F32, &data, &n)) || n != (uint64_t)m->n_items) goto bad;
  memcpy(s->bi, data, n * sizeof(float));
  if ((rc = reco__mf_get(r, "cnt", RECO_DT_I32, &data, &n)) || n != (uint64_t)m->n_users) goto bad;
  memcpy(s->cnt, data, n * sizeof(int32_t));
  if ((rc = reco__factors_load_rows(r, "p", s->p, m->n_users, s->k, s->kp)) || (rc = reco__factors_load_rows(r, "q", s->q, m->n_items, s->k, s->kp)))
    return rc;
  return s->pp ? reco__factors_load_rows(r, "y", s->y, m->n_items, s->k, s->kp) : 0;
bad:
  return rc ? rc : reco__seterr(RECO_EFORMAT, "bias or count section does not match the id-map sizes");
}

/* Item-item similarity: cosine of the item factor vectors. */
static int mf_similar(const reco_model *m, int32_t item, int k, int32_t *out_items, float *out_scores) {
  const mf_state *s = m->state;
  return reco__factors_similar_rows(s->q, m->n_items, s->k, s->kp, item, k, out_items, out_scores);
}

const reco_algo reco__algo_svd = {
    .name = "svd",
    .summary = "biased matrix factorisation by parallel SGD (Funk 2006, Koren et al. 2009)",
    .caps = RECO_CAP_RATING | RECO_CAP_RANKING | RECO_CAP_FOLDIN | RECO_CAP_SIMILAR,
    .params = k_svd_params,
    .n_params = RECO_ARRAY_LEN(k_svd_params),
    .fit = svd_fit,
    .predict = mf_predict,
    .score = mf_score,
    .similar = mf_similar,
    .save = mf_save,
    .load = mf_load,
    .free_state = mf_free,
};

const reco_algo reco__algo_svdpp = {
    .name = "svdpp",
    .summary = "SVD++: factors plus implicit feedback of the rated items (Koren 2008)",
    .caps = RECO_CAP_RATING | RECO_CAP_RANKING | RECO_CAP_FOLDIN | RECO_CAP_SIMILAR,
    .params = k_svdpp_params,
    .n_params = RECO_ARRAY_LEN(k_svdpp_params),
    .fit = svdpp_fit,
    .predict = mf_predict,
    .score = mf_score,
    .similar = mf_similar,
    .save = mf_save,
    .load = mf_load,
    .free_state = mf_free,
};
