/*
 * ease.c - EASE, the item-item linear autoencoder with a zero diagonal (Steck 2019,
 * "Embarrassingly Shallow Autoencoders for Sparse Data", WWW), and the denoising variants of
 * Steck 2020 ("Autoencoders that don't overfit towards the Identity", NeurIPS): DLAE and EDLAE.
 *
 * The models. X is the users x items training matrix (1 per interaction, or its value) and
 * G = X^T X its Gram matrix; all three share one inverse,
 *     P = (G + Lambda)^-1,   Lambda = diagMat(lambda + p / (1 - p) * diag(G)),
 * where p is the input dropout rate (p = 0: the plain L2 penalty lambda I), and differ in how
 * B is read off P:
 *   - form "ease": min ||X - XB||^2 + ||Lambda^(1/2) B||^2 s.t. diag(B) = 0, solved in closed
 *     form with a Lagrangian for the constraint (Steck 2019):
 *         B = I - P diagMat(1 ./ diag(P)),   B_ji = -P_ji / P_ii (j != i).
 *     With p = 0 this is EASE; with p > 0 it is the full-rank EDLAE of Steck 2020 (dropout,
 *     with the loss emphasised on the dropped-out entries, which gives the same zero-diagonal
 *     form with the dropout penalty in Lambda).
 *   - form "dlae": the full-rank denoising autoencoder without emphasis (DLAE), whose diagonal is
 *     left free and only shrunk by the dropout penalty:
 *         B = (G + Lambda)^-1 G = I - P Lambda,   B_ji = -P_ji Lambda_ii (j != i).
 * Either way B_ji = c_i P_ji off the diagonal, one scale per column. The diagonal is stored as 0
 * in both forms: it only scores an item for a user who already has it, and those are excluded
 * from recommendations (for DLAE, 1 - P_ii Lambda_ii would rank already-seen items first).
 * Scores for a user are the row s_u = x_u B, s_ui = sum_{j in history} x_uj B_ji, so a history
 * never seen in training (a new user with three clicks) is scored at once.
 *
 * Choosing lambda, p and the form without the test set: when `lambda` is 0, `dropout` is -1 or
 * `form` is auto (the defaults), a seeded per-user holdout (valid_frac of each user's training
 * interactions) is carved from the TRAINING data and the Gram matrix of the rest is built once;
 * a candidate (lambda, p) only changes its diagonal and costs one solve, after which both forms
 * are scored from the same P. Candidates are ranked by NDCG@10 on the holdout (the metric of
 * EVALUATION.md, history items excluded, as `reco eval` measures). The search walks a geometric
 * lambda grid (ratio 2) uphill from lambda = 200 with p = 0, then for p = 0.25 and 0.5 (while
 * the best NDCG still improves on the previous p's) walks lambda again from the previous best:
 * some 8-11 solves. p stops at 0.5, where the dropout penalty equals the item's own count G_jj;
 * NDCG differences between candidates are a few thousandths, so a wider grid mostly adds
 * chances to fit the holdout's noise. The chosen triple is then refitted on all training data
 * with lambda unscaled: lambda is the ratio of noise to prior variance of B (ridge regression's
 * Bayesian reading), a property of the data more than of its size, and the dropout part grows
 * with G by construction.
 *
 * Computation. G is accumulated from the sparse CSRs (row a of G = sum over the users of item a
 * of x_ua x_u), rows in parallel with no shared writes: sum_u n_u^2 / 2 updates, far fewer than
 * the n_users n^2 flops a dense ?syrk over X would take on a 99%-sparse matrix. The inverse
 * uses Cholesky (LAPACK ?potrf then ?potri) on the lower triangle, stored row-major, which is
 * the column-major upper triangle, so LAPACKE works in place without a transposed copy (its
 * row-major entry points would allocate one). LAPACK is called outside OpenMP regions only, so
 * OpenBLAS threads never nest. The validation grid solves in float (rankings, not digits, are
 * compared); the final solve is in double up to 4096 items and in float above (`precision`):
 * a double n x n matrix is 3.2 GB at 20,000 items. B itself is kept as float.
 *
 * Memory and size limit. The dense solve needs n x n: 4 n^2 bytes in float (1.6 GB at 20,000
 * items), twice that while validating, 12 n^2 in double. Catalogues above `max_items` (default
 * 30,000: 3.6 GB, 7.2 GB while validating) are refused with RECO_ELIMIT naming the memory.
 *
 * Sparse B. A dense B costs 4 n^2 bytes and O(|history| n) per user. Above 4096 items (or when
 * `topk` says so) each row of B, the weights that one history item casts on every target, is
 * pruned after the dense solve to its `topk` largest entries by magnitude (negative weights
 * matter to EASE's rankings, so magnitude, not sign, decides), stored as CSR sorted by column:
 * scoring is then O(|history| topk) scattered adds plus clearing the output. Rows rather than
 * columns are pruned because scoring walks rows, and a fixed count per row bounds a request.
 *
 * similar(j) is the top of row j of B (the scores a one-item history {j} would give), with the
 * `similar_k` best positive entries per item precomputed at fit from the dense B, so a lookup
 * is a copy. explain(i) lists the history items j with the largest positive contributions
 * x_uj B_ji (a negative contribution argues against the item, so it is no "because of").
 *
 * A history item listed twice counts once, with its latest (last) value, as the dataset's
 * default merge does; items outside the model's index space are ignored.
 */
#include "algo.h"

#include <cblas.h>
#include <float.h>
#include <lapacke.h>
#include <omp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../data/split.h"
#include "../eval/metrics.h"

static const reco_param_spec k_params[] = {
    {"lambda", RECO_P_FLOAT, 0, 0, 1e9, NULL,
     "L2 penalty added to the Gram diagonal; 0 = chosen on a validation split of the training data"},
    {"dropout", RECO_P_FLOAT, -1, -1, 0.95, NULL,
     "dropout rate p: diagonal penalty lambda + p/(1-p) G_jj (Steck 2020); 0 = none; -1 = chosen on validation"},
    {"form", RECO_P_ENUM, 0, 0, 2, "auto|ease|dlae",
     "B from P: ease = zero diagonal (EASE, EDLAE), dlae = I - P Lambda (DLAE); auto = chosen on validation"},
    {"values", RECO_P_ENUM, 0, 0, 1, "binary|raw", "entries of X: 1 per interaction, or the interaction's value"},
    {"topk", RECO_P_INT, -1, -1, 1e6, NULL,
     "entries kept per row of B: -1 = dense up to 4096 items, else 512; 0 = always dense"},
    {"similar_k", RECO_P_INT, 100, 1, 10000, NULL, "neighbours per item precomputed for similar()"},
    {"max_items", RECO_P_INT, 30000, 1, 1e6, NULL,
     "largest catalogue for the dense n x n solve (4 n^2 bytes in float, twice that while validating)"},
    {"valid_frac", RECO_P_FLOAT, 0.2, 0.05, 0.5, NULL,
     "share of each user's training interactions held out to choose lambda, dropout and form"},
    {"valid_users", RECO_P_INT, 10000, 0, 1e9, NULL, "validation users scored per candidate (seeded sample; 0 = all)"},
    {"precision", RECO_P_ENUM, 0, 0, 2, "auto|float|double",
     "final solve: auto = double up to 4096 items, float above"},
};

enum { FORM_AUTO = 0, FORM_EASE = 1, FORM_DLAE = 2 };
enum { VALUES_BINARY = 0, VALUES_RAW = 1 };
enum { PREC_AUTO = 0, PREC_FLOAT = 1, PREC_DOUBLE = 2 };
#define EASE_DENSE_MAX 4096   /* topk = -1: dense B up to this many items */
#define EASE_AUTO_TOPK 512    /* topk = -1: entries per row above it */
#define EASE_DOUBLE_MAX 4096  /* precision = auto: double up to this many items */
#define EASE_LAMBDA_START 200 /* the validation walk's starting point */
#define EASE_P_STEP 0.25      /* the validation walk's dropout grid: 0, 0.25, 0.5 */
#define EASE_P_STEPS 2
#define EASE_INFO_LEN 7       /* values in the "ease_info" section */

typedef struct ease_state {
  int32_t n;          /* items */
  bool raw;           /* X holds values (else binary) */
  float *dense;       /* n x n row-major, row j = weights of history item j, or NULL */
  int64_t *ptr;       /* sparse rows (CSR, columns ascending) when dense == NULL */
  int32_t *idx;
  float *val;
  int32_t sim_k;      /* neighbour lists: n x sim_k, best first, padded with -1 */
  int32_t *sim_item;
  float *sim_score;
  double lambda, dropout, valid_ndcg; /* as used (valid_ndcg NAN when not validated) */
  int form;                           /* FORM_EASE or FORM_DLAE */
} ease_state;

static const char *form_name(int form) { return form == FORM_DLAE ? "dlae" : "ease"; }

static void ease_free(reco_model *m) {
  ease_state *s = m->state;
  if (!s) return;
  reco__free_aligned(s->dense);
  reco__free_aligned(s->ptr);
  reco__free_aligned(s->idx);
  reco__free_aligned(s->val);
  reco__free_aligned(s->sim_item);
  reco__free_aligned(s->sim_score);
  reco__free(s);
  m->state = NULL;
}

static double gib(double bytes) { return bytes / (1024.0 * 1024.0 * 1024.0); }

static void *alloc_matrix(int32_t n, size_t esz, const char *what) {
  size_t bytes = (size_t)n * (size_t)n * esz;
  void *p = reco__aligned_alloc(bytes ? bytes : 64);
  if (!p)
    reco__seterr(RECO_ENOMEM, "ease: cannot allocate the %d x %d %s (%.2f GB)", n, n, what, gib((double)bytes));
  return p;
}

/* ---- scoring: s = x_u B over the history's rows ---- */

/* True when items[k] appears again later in the history (then the later one counts). */
static inline bool repeated_later(const int32_t *items, size_t n, size_t k, bool sorted) {
  if (sorted) return false;
  int dup = 0;
  for (size_t q = k + 1; q < n; q++) dup |= items[q] == items[k];
  return dup != 0;
}

static inline bool strictly_sorted(const int32_t *items, size_t n) {
  for (size_t k = 1; k < n; k++)
    if (items[k] <= items[k - 1]) return false;
  return true;
}

static inline float weight_of(bool raw, const float *values, size_t k) { return raw && values ? values[k] : 1.0f; }

static void score_dense(const float *restrict b, int32_t n, bool raw, const int32_t *items, const float *values,
                        size_t nh, float *restrict out) {
  memset(out, 0, (size_t)n * sizeof *out);
  bool sorted = strictly_sorted(items, nh);
  for (size_t k = 0; k < nh; k++) {
    int32_t j = items[k];
    if (j < 0 || j >= n || repeated_later(items, nh, k, sorted)) continue;
    const float w = weight_of(raw, values, k);
    const float *restrict row = b + (size_t)j * (size_t)n;
    if (w == 1.0f)
      for (int32_t i = 0; i < n; i++) out[i] += row[i];
    else
      for (int32_t i = 0; i < n; i++) out[i] += w * row[i];
  }
}

static void score_sparse(const ease_state *s, const int32_t *items, const float *values, size_t nh,
                         float *restrict out) {
  memset(out, 0, (size_t)s->n * sizeof *out);
  bool sorted = strictly_sorted(items, nh);
  for (size_t k = 0; k < nh; k++) {
    int32_t j = items[k];
    if (j < 0 || j >= s->n || repeated_later(items, nh, k, sorted)) continue;
    const float w = weight_of(s->raw, values, k);
    for (int64_t p = s->ptr[j]; p < s->ptr[j + 1]; p++) out[s->idx[p]] += w * s->val[p];
  }
}

static int ease_score(const reco_model *m, const reco_user_view *v, float *out) {
  const ease_state *s = m->state;
  if (!s) return reco__seterr(RECO_ESTATE, "ease: model not fitted");
  if (s->dense) score_dense(s->dense, s->n, s->raw, v->items, v->values, v->n, out);
  else score_sparse(s, v->items, v->values, v->n, out);
  /* items the model never saw (the id map grew since fit) score 0 */
  for (int32_t i = s->n; i < m->n_items; i++) out[i] = 0;
  return 0;
}

/* B_ji for a row stored sparse: binary search of the row's sorted columns. */
static float weight_at(const ease_state *s, int32_t j, int32_t i) {
  if (s->dense) return s->dense[(size_t)j * (size_t)s->n + (size_t)i];
  int64_t lo = s->ptr[j], hi = s->ptr[j + 1] - 1;
  while (lo <= hi) {
    int64_t mid = (lo + hi) >> 1;
    if (s->idx[mid] == i) return s->val[mid];
    if (s->idx[mid] < i) lo = mid + 1;
    else hi = mid - 1;
  }
  return 0;
}

static int ease_explain(const reco_model *m, const reco_user_view *v, int32_t item, int k, int32_t *out_items,
                        float *out_weights) {
  const ease_state *s = m->state;
  if (!s) return reco__seterr(RECO_ESTATE, "ease: model not fitted");
  if (item < 0 || item >= s->n || k <= 0) return 0;
  bool sorted = strictly_sorted(v->items, v->n);
  int cnt = 0;
  for (size_t q = 0; q < v->n; q++) {
    int32_t j = v->items[q];
    if (j < 0 || j >= s->n || j == item || repeated_later(v->items, v->n, q, sorted)) continue;
    float c = weight_of(s->raw, v->values, q) * weight_at(s, j, item);
    if (!(c > 0)) continue;
    /* insertion into the best-first list of at most k */
    int pos = cnt < k ? cnt : k;
    while (pos > 0 && out_weights[pos - 1] < c) pos--;
    if (pos >= k) continue;
    int last = cnt < k ? cnt : k - 1;
    for (int x = last; x > pos; x--) {
      out_items[x] = out_items[x - 1];
      out_weights[x] = out_weights[x - 1];
    }
    out_items[pos] = j;
    out_weights[pos] = c;
    if (cnt < k) cnt++;
  }
  return cnt;
}

static int ease_similar(const reco_model *m, int32_t item, int k, int32_t *out_items, float *out_scores) {
  const ease_state *s = m->state;
  if (!s) return reco__seterr(RECO_ESTATE, "ease: model not fitted");
  if (item < 0 || item >= s->n || k <= 0) return 0;
  const int32_t *it = s->sim_item + (size_t)item * (size_t)s->sim_k;
  const float *sc = s->sim_score + (size_t)item * (size_t)s->sim_k;
  int c = 0;
  for (; c < k && c < s->sim_k && it[c] >= 0; c++) {
    out_items[c] = it[c];
    if (out_scores) out_scores[c] = sc[c];
  }
  return c;
}

/* ---- Gram matrix ---- */

/*
 * Lower triangle (columns <= row) of G = X^T X into g, row-major n x n; the rest of each row is
 * zeroed. Row a sums x_ua x_ub over the users u of item a and their items b <= a (rows are sorted
 * by item, so each user's scan stops at a). With `part`, only entries whose COO row is in the
 * training part count (the validation holdout is left out).
 */
static void gram_lower(const reco_dataset *d, int32_t n, bool raw, const uint8_t *part, float *g) {
#pragma omp parallel for schedule(dynamic, 8)
  for (int32_t a = 0; a < n; a++) {
    float *restrict row = g + (size_t)a * (size_t)n;
    memset(row, 0, (size_t)n * sizeof *row);
    if (a >= d->n_items) continue;
    for (int64_t p = d->iptr[a]; p < d->iptr[a + 1]; p++) {
      if (part && part[d->irow[p]] != RECO_PART_TRAIN) continue;
      int32_t u = d->iuser[p];
      float xa = raw ? d->ival[p] : 1.0f;
      for (int64_t q = d->uptr[u]; q < d->uptr[u + 1]; q++) {
        int32_t b = d->uitem[q];
        if (b > a) break;
        if (part && part[d->urow[q]] != RECO_PART_TRAIN) continue;
        row[b] += raw ? xa * d->uval[q] : 1.0f;
      }
    }
  }
}

/* ---- the solve: P = (G + Lambda)^-1, then B_ji = c_i P_ji ---- */

static inline double penalty(double g_jj, double lambda, double p) { return lambda + (p > 0 ? p / (1 - p) * g_jj : 0); }

/* Copies the lower triangle of the row-major symmetric n x n matrix w onto its upper one, in
 * 64 x 64 tiles so that both the reads and the transposed writes stay in cache. */
#define EASE_TILE 64
static void mirror_lower_f(float *w, int32_t n) {
  const size_t nn = (size_t)n;
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t ab = 0; ab < nn; ab += EASE_TILE)
    for (size_t bb = 0; bb <= ab; bb += EASE_TILE) {
      size_t ae = RECO_MIN(ab + EASE_TILE, nn), be = RECO_MIN(bb + EASE_TILE, nn);
      for (size_t a = ab; a < ae; a++)
        for (size_t b = bb; b < be && b < a; b++) w[b * nn + a] = w[a * nn + b];
    }
}

static void mirror_lower_d(double *w, int32_t n) {
  const size_t nn = (size_t)n;
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t ab = 0; ab < nn; ab += EASE_TILE)
    for (size_t bb = 0; bb <= ab; bb += EASE_TILE) {
      size_t ae = RECO_MIN(ab + EASE_TILE, nn), be = RECO_MIN(bb + EASE_TILE, nn);
      for (size_t a = ab; a < ae; a++)
        for (size_t b = bb; b < be && b < a; b++) w[b * nn + a] = w[a * nn + b];
    }
}

static int lapack_fail(const char *fn, int info, int32_t n, double lambda, double p) {
  if (info < 0) return reco__seterr(RECO_EINVAL, "ease: %s rejected argument %d (n = %d)", fn, -info, n);
  return reco__seterr(RECO_ERANGE,
                      "ease: %s: G + Lambda is not positive definite at row %d (lambda %g, dropout %g); raise "
                      "lambda or set precision=double",
                      fn, info, lambda, p);
}

/*
 * LAPACK's threads for one n x n factorisation. Below EASE_BLAS_SERIAL items a solve takes a
 * fraction of a second on one core, and OpenBLAS's OpenMP threads cost more than they save
 * whenever the machine is shared: every barrier of the blocked algorithms waits out a
 * descheduled thread (on 2 busy cores the 1,682-item validation took 10-30 s with 2 threads,
 * 2 s with one). Larger solves use the model's thread count. The previous setting (and this
 * thread's OpenMP team size, which openblas_set_num_threads also sets) is restored after.
 */
#define EASE_BLAS_SERIAL 2048
typedef struct blas_threads {
  int blas, omp;
  bool changed;
} blas_threads;

static blas_threads blas_threads_for(int32_t n, int threads) {
  blas_threads t = {openblas_get_num_threads(), omp_get_max_threads(), false};
  int want = n < EASE_BLAS_SERIAL ? 1 : (threads > 0 ? threads : t.blas);
  if (want != t.blas) {
    openblas_set_num_threads(want);
    t.changed = true;
  }
  return t;
}

static void blas_threads_restore(const blas_threads *t) {
  if (!t->changed) return;
  openblas_set_num_threads(t->blas);
  omp_set_num_threads(t->omp);
}

/*
 * Float: w holds G's lower triangle on entry (copied in from g when g is not NULL) and the full
 * symmetric P on return; gdiag receives diag(G).
 */
static int solve_float(float *w, const float *g, int32_t n, double lambda, double p, double *gdiag, int threads) {
  const size_t nn = (size_t)n;
  if (g)
    for (size_t a = 0; a < nn; a++) memcpy(w + a * nn, g + a * nn, (a + 1) * sizeof *w);
  for (size_t j = 0; j < nn; j++) {
    gdiag[j] = w[j * nn + j];
    w[j * nn + j] = (float)(gdiag[j] + penalty(gdiag[j], lambda, p));
  }
  blas_threads bt = blas_threads_for(n, threads);
  lapack_int info = LAPACKE_spotrf(LAPACK_COL_MAJOR, 'U', n, w, n);
  if (!info) info = LAPACKE_spotri(LAPACK_COL_MAJOR, 'U', n, w, n);
  blas_threads_restore(&bt);
  if (info) return lapack_fail("spotrf/spotri", info, n, lambda, p);
  mirror_lower_f(w, n);
  return 0;
}

/* Double: wd (n x n doubles) receives the full P from G's lower triangle in g. */
static int solve_double(double *wd, const float *g, int32_t n, double lambda, double p, double *gdiag,
                        int threads) {
  const size_t nn = (size_t)n;
#pragma omp parallel for schedule(dynamic, 64)
  for (size_t a = 0; a < nn; a++)
    for (size_t c = 0; c <= a; c++) wd[a * nn + c] = g[a * nn + c];
  for (size_t j = 0; j < nn; j++) {
    gdiag[j] = wd[j * nn + j];
    wd[j * nn + j] += penalty(gdiag[j], lambda, p);
  }
  blas_threads bt = blas_threads_for(n, threads);
  lapack_int info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'U', n, wd, n);
  if (!info) info = LAPACKE_dpotri(LAPACK_COL_MAJOR, 'U', n, wd, n);
  blas_threads_restore(&bt);
  if (info) return lapack_fail("dpotrf/dpotri", info, n, lambda, p);
  mirror_lower_d(wd, n);
  return 0;
}

/* The column scales of a form: B_ji = c_i P_ji, c_i = -1 / P_ii (ease) or -Lambda_ii (dlae). */
static void form_scales(int form, const double *pdiag, const double *gdiag, int32_t n, double lambda, double p,
                        float *c) {
  for (int32_t i = 0; i < n; i++)
    c[i] = (float)(form == FORM_DLAE ? -penalty(gdiag[i], lambda, p) : -1.0 / pdiag[i]);
}

/* B from a float P, in place. */
static void b_from_float(float *w, int32_t n, const float *c) {
  const size_t nn = (size_t)n;
#pragma omp parallel for schedule(static)
  for (size_t j = 0; j < nn; j++) {
    float *restrict row = w + j * nn;
    for (size_t i = 0; i < nn; i++) row[i] *= c[i];
    row[j] = 0;
  }
}

/* B (float) from a double P. */
static void b_from_double(const double *wd, float *b, int32_t n, const float *c) {
  const size_t nn = (size_t)n;
#pragma omp parallel for schedule(static)
  for (size_t j = 0; j < nn; j++) {
    const double *restrict src = wd + j * nn;
    float *restrict row = b + j * nn;
    for (size_t i = 0; i < nn; i++) row[i] = (float)(src[i] * (double)c[i]);
    row[j] = 0;
  }
}

/* ---- choosing lambda, dropout and form on a validation split of the training data ---- */

/* ---- choosing lambda and dropout on a validation split of the training data ---- */

typedef struct valid_set {
  int32_t n_users;         /* validation users */
  int64_t *hptr, *tptr;    /* per validation user: history (kept) and held-out entries */
  int32_t *hitem, *titem;
  float *hval;
} valid_set;

static void valid_free(valid_set *v) {
  reco__free(v->hptr);
  reco__free(v->tptr);
  reco__free(v->hitem);
  reco__free(v->titem);
  reco__free(v->hval);
  memset(v, 0, sizeof *v);
}

/* Histories and held-out items of the users with a holdout (a seeded sample of max_users). */
static int valid_build(const reco_dataset *d, const uint8_t *part, int64_t max_users, uint64_t seed, valid_set *v) {
  memset(v, 0, sizeof *v);
  int32_t *users = reco__malloc((size_t)(d->n_users ? d->n_users : 1) * sizeof *users);
  if (!users) return reco__seterr(RECO_ENOMEM, "ease: out of memory for the validation split");
  int32_t nu = 0;
  for (int32_t u = 0; u < d->n_users; u++) {
    bool held = false, kept = false;
    for (int64_t p = d->uptr[u]; p < d->uptr[u + 1]; p++) {
      if (part[d->urow[p]] == RECO_PART_TRAIN) kept = true;
      else held = true;
    }
    if (held && kept) users[nu++] = u;
  }
  if (max_users > 0 && nu > max_users) {
    reco_rng r;
    reco__rng_seed(&r, seed);
    reco__rng_shuffle_i32(&r, users, (size_t)nu);
    nu = (int32_t)max_users;
    /* back to ascending order, so the sample is scored in index order */
    for (int32_t x = 1; x < nu; x++)
      for (int32_t y = x; y > 0 && users[y - 1] > users[y]; y--) {
        int32_t t = users[y];
        users[y] = users[y - 1];
        users[y - 1] = t;
      }
  }
  size_t nh = 0, nt = 0;
  for (int32_t x = 0; x < nu; x++)
    for (int64_t p = d->uptr[users[x]]; p < d->uptr[users[x] + 1]; p++) {
      if (part[d->urow[p]] == RECO_PART_TRAIN) nh++;
      else nt++;
    }
  v->n_users = nu;
  v->hptr = reco__malloc((size_t)(nu + 1) * sizeof *v->hptr);
  v->tptr = reco__malloc((size_t)(nu + 1) * sizeof *v->tptr);
  v->hitem = reco__malloc((nh ? nh : 1) * sizeof *v->hitem);
  v->hval = reco__malloc((nh ? nh : 1) * sizeof *v->hval);
  v->titem = reco__malloc((nt ? nt : 1) * sizeof *v->titem);
  if (!v->hptr || !v->tptr || !v->hitem || !v->hval || !v->titem) {
    reco__free(users);
    valid_free(v);
    return reco__seterr(RECO_ENOMEM, "ease: out of memory for the validation split");
  }
  nh = nt = 0;
  v->hptr[0] = v->tptr[0] = 0;
  for (int32_t x = 0; x < nu; x++) {
    int32_t u = users[x];
    for (int64_t p = d->uptr[u]; p < d->uptr[u + 1]; p++) {
      if (part[d->urow[p]] == RECO_PART_TRAIN) {
        v->hitem[nh] = d->uitem[p];
        v->hval[nh++] = d->uval[p];
      } else {
        v->titem[nt++] = d->uitem[p];
      }
    }
    v->hptr[x + 1] = (int64_t)nh;
    v->tptr[x + 1] = (int64_t)nt;
  }
  reco__free(users);
  return 0;
}

/*
 * NDCG@10 over the validation users of both forms from one P: each history's t = x_u P is
 * accumulated once, then ranked as t_i c_i for each form's scales (history items excluded),
 * the top 10 against the held-out items. Per-user values are summed in user order, so the
 * result does not depend on the thread count.
 */
static int valid_ndcg(const valid_set *v, const float *pm, int32_t n, bool raw, const float *const c[2],
                      double out[2]) {
  double *per = reco__calloc((size_t)(v->n_users ? v->n_users : 1) * 2, sizeof *per);
  if (!per) return reco__seterr(RECO_ENOMEM, "ease: out of memory while validating");
  int rc = 0;
#pragma omp parallel
  {
    float *t = reco__aligned_alloc((size_t)(n ? n : 1) * sizeof *t);
    reco_topk heap = {0};
    int32_t rec[10];
    int ok = t && reco__topk_init(&heap, 10) == 0;
    if (!ok) {
#pragma omp atomic write
      rc = RECO_ENOMEM;
    }
#pragma omp for schedule(dynamic, 16)
    for (int32_t x = 0; x < v->n_users; x++) {
      if (!ok) continue;
      const int32_t *hist = v->hitem + v->hptr[x];
      size_t nh = (size_t)(v->hptr[x + 1] - v->hptr[x]);
      score_dense(pm, n, raw, hist, v->hval + v->hptr[x], nh, t);
      for (int f = 0; f < 2; f++) {
        reco__topk_reset(&heap);
        size_t e = 0;
        for (int32_t i = 0; i < n; i++) {
          if (e < nh && hist[e] == i) { /* histories are sorted: exclusion is a merge */
            e++;
            continue;
          }
          reco__topk_push(&heap, t[i] * c[f][i], i);
        }
        int nr = reco__topk_sort(&heap);
        for (int q = 0; q < nr; q++) rec[q] = heap.id[q];
        reco_rank_acc acc = {.k = 10};
        reco__rank_add(&acc, rec, nr, v->titem + v->tptr[x], (size_t)(v->tptr[x + 1] - v->tptr[x]));
        per[2 * (size_t)x + (size_t)f] = acc.ndcg;
      }
    }
    reco__free_aligned(t);
    reco__topk_free(&heap);
  }
  out[0] = out[1] = 0;
  for (int32_t x = 0; x < v->n_users; x++) {
    out[0] += per[2 * (size_t)x];
    out[1] += per[2 * (size_t)x + 1];
  }
  reco__free(per);
  if (rc) return reco__seterr(rc, "ease: out of memory while validating");
  if (v->n_users) out[0] /= v->n_users, out[1] /= v->n_users;
  return 0;
}

typedef struct search {
  const valid_set *v;
  const float *g;   /* Gram matrix of the validation-train part (lower triangle) */
  float *w;         /* work: P */
  double *gdiag, *pdiag;
  float *c[2];      /* column scales of the ease and dlae forms */
  int32_t n;
  bool raw;
  int threads;      /* the model's, for large solves */
  int form;         /* FORM_AUTO: both compete */
  const reco_progress *pr;
  int evals;
  double best_lambda, best_p, best_ndcg;
  int best_form;
  double seen_l[64], seen_p[64], seen_v[64]; /* evaluated points: a walk never solves one twice */
  int n_seen;
} search;

/* Validation NDCG@10 of (lambda, p), the best of the allowed forms; remembers the best. */
static int try_point(search *s, double lambda, double p, double *out) {
  for (int k = 0; k < s->n_seen; k++)
    if (fabs(s->seen_l[k] - lambda) <= 1e-9 * lambda && s->seen_p[k] == p) {
      *out = s->seen_v[k];
      return 0;
    }
  int rc = solve_float(s->w, s->g, s->n, lambda, p, s->gdiag, s->threads);
  if (rc) return rc;
  for (int32_t i = 0; i < s->n; i++) s->pdiag[i] = s->w[(size_t)i * (size_t)s->n + (size_t)i];
  form_scales(FORM_EASE, s->pdiag, s->gdiag, s->n, lambda, p, s->c[0]);
  form_scales(FORM_DLAE, s->pdiag, s->gdiag, s->n, lambda, p, s->c[1]);
  double nd[2] = {0, 0};
  if ((rc = valid_ndcg(s->v, s->w, s->n, s->raw, (const float *const *)s->c, nd))) return rc;
  s->evals++;
  double best = -1;
  for (int f = 0; f < 2; f++) {
    int form = f ? FORM_DLAE : FORM_EASE;
    if (s->form != FORM_AUTO && s->form != form) continue;
    if (nd[f] > best) best = nd[f];
    if (nd[f] > s->best_ndcg) {
      s->best_ndcg = nd[f];
      s->best_lambda = lambda;
      s->best_p = p;
      s->best_form = form;
    }
  }
  if (s->n_seen < (int)RECO_ARRAY_LEN(s->seen_l)) {
    s->seen_l[s->n_seen] = lambda;
    s->seen_p[s->n_seen] = p;
    s->seen_v[s->n_seen++] = best;
  }
  reco__log(RECO_LOG_DEBUG, "ease: validation lambda %g dropout %g: ndcg@10 ease %.5f dlae %.5f", lambda, p, nd[0],
            nd[1]);
  char info[96];
  snprintf(info, sizeof info, "lambda %g dropout %g ndcg@10 %.4f", lambda, p, best);
  *out = best;
  return reco__progress(s->pr, "ease: validation", s->evals, s->evals + 1, info);
}

/* Hill-climbs lambda (ratio `step`) from `start` for a fixed p; returns the best (lambda, ndcg). */
static int walk_lambda(search *s, double start, double p, double step, double *best_l, double *best_v) {
  double v0, vu, vd;
  int rc = try_point(s, start, p, &v0);
  if (rc) return rc;
  double bl = start, bv = v0;
  if ((rc = try_point(s, start * step, p, &vu))) return rc;
  double dir = step;
  if (vu > v0) {
    bl = start * step;
    bv = vu;
  } else {
    if ((rc = try_point(s, start / step, p, &vd))) return rc;
    dir = 1 / step;
    if (vd > v0) {
      bl = start / step;
      bv = vd;
    } else {
      dir = 0; /* the start is a local peak */
    }
  }
  while (dir != 0 && bl * dir >= 0.5 && bl * dir <= 1e7) {
    double nv;
    if ((rc = try_point(s, bl * dir, p, &nv))) return rc;
    if (nv <= bv) break;
    bl *= dir;
    bv = nv;
  }
  *best_l = bl;
  *best_v = bv;
  return 0;
}

/* The search of the file comment; returns the chosen (lambda, p, form) and its NDCG. */
static int run_search(search *s, double fixed_l, double fixed_p) {
  int rc = 0;
  double bl = 0, bv = 0;
  const double step = 2.0;
  if (fixed_l > 0 && fixed_p >= 0) return try_point(s, fixed_l, fixed_p, &bv); /* the form only */
  if (fixed_l > 0) {
    /* dropout only: walk p upwards while it helps */
    double prev = -1;
    for (int k = 0; k <= EASE_P_STEPS; k++) {
      if ((rc = try_point(s, fixed_l, k * EASE_P_STEP, &bv))) return rc;
      if (bv <= prev) break;
      prev = bv;
    }
    return 0;
  }
  if ((rc = walk_lambda(s, EASE_LAMBDA_START, fixed_p >= 0 ? fixed_p : 0, step, &bl, &bv))) return rc;
  if (fixed_p < 0) {
    /* more dropout moves penalty from lambda onto the popular items: walk lambda again from
     * the last best for each p, while the best of a p still improves on the previous p's */
    double prev_v = bv, l = bl;
    for (int k = 1; k <= EASE_P_STEPS; k++) {
      double ql, qv;
      if ((rc = walk_lambda(s, l, k * EASE_P_STEP, step, &ql, &qv))) return rc;
      if (qv <= prev_v) break;
      prev_v = qv;
      l = ql;
    }
  }
  return 0;
}

/* Chooses (lambda, p, form) on a per-user holdout of the training data (see the file comment). */
static int choose(reco_model *m, const reco_dataset *train, const reco_progress *pr, ease_state *st) {
  int32_t n = train->n_items;
  double fixed_l = reco__model_param(m, "lambda"), fixed_p = reco__model_param(m, "dropout");
  double frac = reco__model_param(m, "valid_frac");
  uint64_t seed = m->seed ^ 0x45415345ull; /* "EASE": a stream apart from the evaluation split's */
  uint8_t *part = reco__malloc(train->n ? train->n : 1);
  if (!part) return reco__seterr(RECO_ENOMEM, "ease: out of memory for the validation split");
  int rc = reco__split_user_ratio(train, frac, seed, part);
  if (rc) {
    reco__free(part);
    return rc == RECO_ENOMEM ? reco__seterr(rc, "ease: out of memory for the validation split") : rc;
  }
  valid_set v;
  rc = valid_build(train, part, (int64_t)reco__model_param(m, "valid_users"), seed + 1, &v);
  if (rc) {
    reco__free(part);
    return rc;
  }
  search s = {.v = &v, .n = n, .raw = st->raw, .threads = m->threads, .form = (int)reco__model_param(m, "form"),
              .pr = pr, .best_ndcg = -1};
  float *g = NULL;
  size_t nb = (size_t)(n ? n : 1);
  if (v.n_users == 0) {
    /* nobody has two interactions to split: nothing to measure, so the walk's starting point */
    st->lambda = fixed_l > 0 ? fixed_l : EASE_LAMBDA_START;
    st->dropout = fixed_p >= 0 ? fixed_p : 0;
    st->form = s.form == FORM_AUTO ? FORM_EASE : s.form;
    reco__log(RECO_LOG_WARN, "ease: too little data to validate on; using lambda %g, dropout %g, form %s",
              st->lambda, st->dropout, form_name(st->form));
    reco__free(part);
    valid_free(&v);
    return 0;
  }
  if (!rc && !(g = alloc_matrix(n, sizeof(float), "validation Gram matrix (float)"))) rc = RECO_ENOMEM;
  if (!rc && !(s.w = alloc_matrix(n, sizeof(float), "validation work matrix (float)"))) rc = RECO_ENOMEM;
  if (!rc) {
    s.gdiag = reco__malloc(nb * sizeof *s.gdiag);
    s.pdiag = reco__malloc(nb * sizeof *s.pdiag);
    s.c[0] = reco__malloc(nb * sizeof *s.c[0]);
    s.c[1] = reco__malloc(nb * sizeof *s.c[1]);
    if (!s.gdiag || !s.pdiag || !s.c[0] || !s.c[1]) rc = reco__seterr(RECO_ENOMEM, "ease: out of memory");
  }
  if (!rc) {
    double t0 = reco__now();
    gram_lower(train, n, st->raw, part, g);
    s.g = g;
    reco__log(RECO_LOG_DEBUG, "ease: validation Gram %d x %d in %.3f s, %d validation users", n, n, reco__now() - t0,
              v.n_users);
    rc = run_search(&s, fixed_l, fixed_p);
  }
  if (!rc) {
    st->lambda = s.best_lambda;
    st->dropout = s.best_p;
    st->form = s.best_form;
    st->valid_ndcg = s.best_ndcg;
    reco__log(RECO_LOG_INFO,
              "ease: validation chose lambda %g, dropout %g, form %s (ndcg@10 %.4f, %d users, %d solves)", st->lambda,
              st->dropout, form_name(st->form), st->valid_ndcg, v.n_users, s.evals);
  }
  reco__free(part);
  reco__free_aligned(g);
  reco__free_aligned(s.w);
  reco__free(s.gdiag);
  reco__free(s.pdiag);
  reco__free(s.c[0]);
  reco__free(s.c[1]);
  valid_free(&v);
  return rc;
}

/* ---- fit: final solve, neighbour lists, pruning ---- */

/* The k-th largest (1 <= k <= n) of a[0..n): quickselect with a median-of-three pivot; a is
 * permuted. Linear on average, where a k-heap over a row pays a sift for most of the first
 * k ln(n/k) candidates. */
static float kth_largest(float *a, ptrdiff_t n, ptrdiff_t k) {
  ptrdiff_t lo = 0, hi = n - 1, target = k - 1;
  while (lo < hi) {
    float x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi];
    float pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
    ptrdiff_t i = lo, j = hi;
    while (i <= j) { /* descending: larger values to the left */
      while (a[i] > pivot) i++;
      while (a[j] < pivot) j--;
      if (i <= j) {
        float t = a[i];
        a[i++] = a[j];
        a[j--] = t;
      }
    }
    /* now a[lo..j] >= pivot, a[i..hi] <= pivot, and anything between equals it */
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return pivot;
  }
  return a[lo];
}

/*
 * The k-th largest of v[0..n) without permuting v (buf: n floats of scratch). Partitioning is a
 * coin flip per element for the branch predictor, so instead of a quickselect over the whole
 * row: the k-th largest of a strided sample of 512 gives, a few standard deviations lower, a
 * value that at least k entries exceed (almost surely); one branch-free pass keeps the entries
 * at or above it (about k + 3 sqrt(k n / 512)), and the quickselect runs on those. Should the
 * sample be unlucky, the whole row is selected instead: the result is exact either way.
 */
#define EASE_SAMPLE 512
static float kth_largest_row(const float *v, ptrdiff_t n, ptrdiff_t k, float *buf) {
  if (n <= 4 * EASE_SAMPLE || k * 8 > n) {
    memcpy(buf, v, (size_t)n * sizeof *buf);
    return kth_largest(buf, n, k);
  }
  ptrdiff_t stride = n / EASE_SAMPLE;
  for (ptrdiff_t x = 0; x < EASE_SAMPLE; x++) buf[x] = v[x * stride];
  double r = (double)k * EASE_SAMPLE / (double)n;
  ptrdiff_t rank = (ptrdiff_t)(r + 3 * sqrt(r) + 4);
  if (rank > EASE_SAMPLE) rank = EASE_SAMPLE;
  float lower = kth_largest(buf, EASE_SAMPLE, rank);
  ptrdiff_t c = 0;
  for (ptrdiff_t i = 0; i < n; i++) {
    buf[c] = v[i];
    c += v[i] >= lower;
  }
  if (c < k) {
    memcpy(buf, v, (size_t)n * sizeof *buf);
    return kth_largest(buf, n, k);
  }
  return kth_largest(buf, c, k);
}

/* Best `k` positive entries of each row of the dense B (item itself excluded), best first,
 * ties to the lower index, -1 padded. A quickselect threshold first, so that only some k
 * entries reach the heap. */
static int build_similar(ease_state *s, const float *b, int k) {
  const size_t n = (size_t)s->n;
  s->sim_k = k;
  s->sim_item = reco__aligned_alloc((n ? n : 1) * (size_t)k * sizeof *s->sim_item);
  s->sim_score = reco__aligned_alloc((n ? n : 1) * (size_t)k * sizeof *s->sim_score);
  if (!s->sim_item || !s->sim_score) return reco__seterr(RECO_ENOMEM, "ease: out of memory for neighbour lists");
  int rc = 0;
#pragma omp parallel
  {
    reco_topk h = {0};
    float *pos = reco__aligned_alloc((n ? n : 1) * 2 * sizeof *pos); /* positives, then scratch */
    int ok = pos && reco__topk_init(&h, k) == 0;
    if (!ok) {
#pragma omp atomic write
      rc = RECO_ENOMEM;
    }
#pragma omp for schedule(dynamic, 64)
    for (size_t j = 0; j < n; j++) {
      if (!ok) continue;
      const float *row = b + j * n;
      ptrdiff_t m = 0;
      for (size_t i = 0; i < n; i++) { /* branch-free compaction: the sign of B is a coin flip */
        pos[m] = row[i];
        m += row[i] > 0;
      }
      /* row[j] is 0 (B's diagonal is zeroed when B is formed), so it never counts */
      /* thr > 0 either way, so one well-predicted comparison per entry filters */
      float thr = m > k ? kth_largest_row(pos, m, k, pos + n) : FLT_TRUE_MIN;
      reco__topk_reset(&h);
      for (size_t i = 0; i < n; i++)
        if (row[i] >= thr && i != j) reco__topk_push(&h, row[i], (int32_t)i);
      int c = reco__topk_sort(&h);
      int32_t *oi = s->sim_item + j * (size_t)k;
      float *os = s->sim_score + j * (size_t)k;
      for (int x = 0; x < k; x++) {
        oi[x] = x < c ? h.id[x] : -1;
        os[x] = x < c ? h.score[x] : 0;
      }
    }
    reco__topk_free(&h);
    reco__free_aligned(pos);
  }
  return rc ? reco__seterr(rc, "ease: out of memory for neighbour lists") : 0;
}

/* Prunes each row of the dense B to its k entries of largest magnitude (ties to the lower
 * column, zeros never kept), as CSR with columns ascending. */
static int build_sparse(ease_state *s, const float *b, int k) {
  const size_t n = (size_t)s->n;
  if ((size_t)k > n) k = (int)n;
  int32_t *cnt = reco__calloc(n ? n : 1, sizeof *cnt);
  int32_t *tmp_idx = reco__aligned_alloc((n ? n : 1) * (size_t)(k ? k : 1) * sizeof *tmp_idx);
  s->ptr = reco__aligned_alloc((n + 1) * sizeof *s->ptr);
  if (!cnt || !tmp_idx || !s->ptr) {
    reco__free(cnt);
    reco__free_aligned(tmp_idx);
    return reco__seterr(RECO_ENOMEM, "ease: out of memory pruning B");
  }
  int rc = 0;
#pragma omp parallel
  {
    float *mag = reco__aligned_alloc((n ? n : 1) * 2 * sizeof *mag); /* magnitudes, then scratch */
    if (!mag) {
#pragma omp atomic write
      rc = RECO_ENOMEM;
    }
#pragma omp for schedule(dynamic, 64)
    for (size_t j = 0; j < n; j++) {
      if (!mag || k == 0) continue;
      const float *row = b + j * n;
      for (size_t i = 0; i < n; i++) mag[i] = fabsf(row[i]);
      float thr = kth_largest_row(mag, (ptrdiff_t)n, k, mag + n);
      size_t above = 0;
      for (size_t i = 0; i < n; i++) above += fabsf(row[i]) > thr;
      size_t ties = (size_t)k - above; /* entries equal to the threshold still to take */
      int32_t *oi = tmp_idx + j * (size_t)k;
      int32_t c = 0;
      for (size_t i = 0; i < n && c < k; i++) {
        float a = fabsf(row[i]);
        if (a > thr || (a == thr && thr > 0 && ties > 0 && ties--)) oi[c++] = (int32_t)i;
      }
      cnt[j] = c;
    }
    reco__free_aligned(mag);
  }
  if (rc) {
    reco__free(cnt);
    reco__free_aligned(tmp_idx);
    return reco__seterr(rc, "ease: out of memory pruning B");
  }
  s->ptr[0] = 0;
  for (size_t j = 0; j < n; j++) s->ptr[j + 1] = s->ptr[j] + cnt[j];
  size_t nnz = (size_t)s->ptr[n];
  s->idx = reco__aligned_alloc((nnz ? nnz : 1) * sizeof *s->idx);
  s->val = reco__aligned_alloc((nnz ? nnz : 1) * sizeof *s->val);
  if (!s->idx || !s->val) {
    reco__free(cnt);
    reco__free_aligned(tmp_idx);
    return reco__seterr(RECO_ENOMEM, "ease: out of memory pruning B");
  }
  for (size_t j = 0; j < n; j++)
    for (int32_t x = 0; x < cnt[j]; x++) {
      int32_t i = tmp_idx[j * (size_t)k + (size_t)x];
      s->idx[s->ptr[j] + x] = i;
      s->val[s->ptr[j] + x] = b[j * n + (size_t)i];
    }
  reco__free(cnt);
  reco__free_aligned(tmp_idx);
  return 0;
}

/* Final solve on all training data: dense B (float) into *out. */
static int solve_final(reco_model *m, const reco_dataset *train, ease_state *s, float **out, bool *dbl_out) {
  const int32_t n = s->n;
  const size_t nb = (size_t)(n ? n : 1);
  int prec = (int)reco__model_param(m, "precision");
  bool dbl = prec == PREC_DOUBLE || (prec == PREC_AUTO && n <= EASE_DOUBLE_MAX);
  *dbl_out = dbl;
  *out = NULL;
  float *b = alloc_matrix(n, sizeof(float), dbl ? "Gram matrix (float)" : "Gram matrix, P and B (float)");
  double *gdiag = reco__malloc(nb * sizeof *gdiag), *pdiag = reco__malloc(nb * sizeof *pdiag);
  float *c = reco__malloc(nb * sizeof *c);
  double *wd = NULL;
  int rc = 0;
  if (!b) rc = RECO_ENOMEM;
  else if (!gdiag || !pdiag || !c) rc = reco__seterr(RECO_ENOMEM, "ease: out of memory");
  else if (dbl && !(wd = alloc_matrix(n, sizeof(double), "work matrix (double)"))) rc = RECO_ENOMEM;
  double t0 = reco__now();
  if (!rc) gram_lower(train, n, s->raw, NULL, b);
  reco__log(RECO_LOG_DEBUG, "ease: Gram %d x %d in %.2f s", n, n, reco__now() - t0);
  t0 = reco__now();
  if (!rc && n > 0) {
    if (dbl) {
      rc = solve_double(wd, b, n, s->lambda, s->dropout, gdiag, m->threads);
      for (int32_t i = 0; !rc && i < n; i++) pdiag[i] = wd[(size_t)i * (size_t)n + (size_t)i];
      if (!rc) form_scales(s->form, pdiag, gdiag, n, s->lambda, s->dropout, c);
      if (!rc) b_from_double(wd, b, n, c); /* the Gram matrix in b was consumed by the copy */
    } else {
      rc = solve_float(b, NULL, n, s->lambda, s->dropout, gdiag, m->threads);
      for (int32_t i = 0; !rc && i < n; i++) pdiag[i] = b[(size_t)i * (size_t)n + (size_t)i];
      if (!rc) form_scales(s->form, pdiag, gdiag, n, s->lambda, s->dropout, c);
      if (!rc) b_from_float(b, n, c);
    }
  }
  reco__log(RECO_LOG_DEBUG, "ease: %s solve in %.2f s", dbl ? "double" : "float", reco__now() - t0);
  reco__free_aligned(wd);
  reco__free(gdiag);
  reco__free(pdiag);
  reco__free(c);
  if (rc) {
    reco__free_aligned(b);
    return rc;
  }
  *out = b;
  return 0;
}

static int ease_fit(reco_model *m, const reco_dataset *train, const reco_progress *pr) {
  const int32_t n = train->n_items;
  const int64_t max_items = (int64_t)reco__model_param(m, "max_items");
  if (n > max_items) {
    double nn = (double)n * (double)n;
    return reco__seterr(RECO_ELIMIT,
                        "ease: %d items exceed max_items=%lld: the dense n x n solve needs %.1f GB in float (%.1f GB "
                        "while validating lambda, %.1f GB in double); raise ease.max_items if the machine has the "
                        "memory, or use itemknn",
                        n, (long long)max_items, gib(4 * nn), gib(8 * nn), gib(12 * nn));
  }
  ease_state *s = reco__calloc(1, sizeof *s);
  if (!s) return reco__seterr(RECO_ENOMEM, "ease: out of memory");
  m->state = s;
  s->n = n;
  s->raw = (int)reco__model_param(m, "values") == VALUES_RAW;
  s->lambda = reco__model_param(m, "lambda");
  s->dropout = reco__model_param(m, "dropout");
  s->form = (int)reco__model_param(m, "form");
  s->valid_ndcg = NAN;
  int rc;
  double t0 = reco__now();
  if (!(s->lambda > 0) || s->dropout < 0 || s->form == FORM_AUTO) {
    if (n > 0 && (rc = choose(m, train, pr, s))) return rc;
    if (n == 0) s->lambda = EASE_LAMBDA_START, s->dropout = 0, s->form = FORM_EASE; /* nothing to choose from */
  }
  double t_valid = reco__now() - t0;
  if ((rc = reco__progress(pr, "ease: solving", 0, 1, NULL))) return rc;
  t0 = reco__now();
  float *b;
  bool dbl;
  if ((rc = solve_final(m, train, s, &b, &dbl))) return rc;
  double t_solve = reco__now() - t0;
  t0 = reco__now();
  int topk = (int)reco__model_param(m, "topk");
  if (topk < 0) topk = n <= EASE_DENSE_MAX ? 0 : EASE_AUTO_TOPK;
  rc = build_similar(s, b, (int)reco__model_param(m, "similar_k"));
  reco__log(RECO_LOG_DEBUG, "ease: neighbour lists in %.2f s", reco__now() - t0);
  if (!rc && topk > 0) {
    rc = build_sparse(s, b, topk);
    reco__log(RECO_LOG_DEBUG, "ease: pruned to %d per row in %.2f s", topk, reco__now() - t0);
    reco__free_aligned(b);
  } else {
    s->dense = b; /* owned by the state from here, freed with it even on error */
  }
  if (rc) return rc;
  reco__log(RECO_LOG_INFO,
            "ease: %d items, lambda %g, dropout %g, form %s: validation %.2f s, Gram and %s solve %.2f s, "
            "lists %.2f s, B %s",
            n, s->lambda, s->dropout, form_name(s->form), t_valid, dbl ? "double" : "float", t_solve,
            reco__now() - t0, s->dense ? "dense" : "pruned");
  if (!isnan(s->valid_ndcg))
    snprintf(m->fit_info, sizeof m->fit_info,
             "{\"valid_ndcg@10\": %.6f, \"lambda\": %g, \"dropout\": %g, \"form\": \"%s\"}", s->valid_ndcg, s->lambda,
             s->dropout, form_name(s->form));
  return reco__progress(pr, "ease: solving", 1, 1, NULL);
}

/* ---- save / load ---- */

static int ease_save(const reco_model *m, reco_mf_writer *w) {
  const ease_state *s = m->state;
  if (!s) return reco__seterr(RECO_ESTATE, "ease: model not fitted");
  const double info[EASE_INFO_LEN] = {s->lambda, s->dropout, s->form, s->valid_ndcg, s->dense ? 1 : 0, s->n, s->sim_k};
  int rc = reco__mf_section(w, "ease_info", RECO_DT_F64, info, EASE_INFO_LEN);
  const size_t n = (size_t)s->n;
  if (!rc && s->dense) rc = reco__mf_section(w, "B", RECO_DT_F32, s->dense, (uint64_t)(n * n));
  if (!rc && !s->dense) {
    rc = reco__mf_section(w, "B_ptr", RECO_DT_I64, s->ptr, (uint64_t)n + 1);
    if (!rc) rc = reco__mf_section(w, "B_idx", RECO_DT_I32, s->idx, (uint64_t)s->ptr[n]);
    if (!rc) rc = reco__mf_section(w, "B_val", RECO_DT_F32, s->val, (uint64_t)s->ptr[n]);
  }
  if (!rc) rc = reco__mf_section(w, "sim_item", RECO_DT_I32, s->sim_item, (uint64_t)(n * (size_t)s->sim_k));
  if (!rc) rc = reco__mf_section(w, "sim_score", RECO_DT_F32, s->sim_score, (uint64_t)(n * (size_t)s->sim_k));
  return rc;
}

static int ease_load(reco_model *m, const reco_mf_reader *r) {
  const void *pv;
  uint64_t cnt;
  int rc = reco__mf_get(r, "ease_info", RECO_DT_F64, &pv, &cnt);
  if (rc) return rc;
  if (cnt != EASE_INFO_LEN)
    return reco__seterr(RECO_EFORMAT, "ease: section ease_info has %llu values, not %d", (unsigned long long)cnt,
                        EASE_INFO_LEN);
  double info[EASE_INFO_LEN];
  memcpy(info, pv, sizeof info);
  if (info[5] != m->n_items || !(info[6] >= 1 && info[6] <= 10000) || (info[2] != FORM_EASE && info[2] != FORM_DLAE))
    return reco__seterr(RECO_EFORMAT, "ease: ease_info does not match the model (%g items, %g neighbours, form %g)",
                        info[5], info[6], info[2]);
  ease_state *s = reco__calloc(1, sizeof *s);
  if (!s) return reco__seterr(RECO_ENOMEM, "ease: out of memory");
  m->state = s;
  s->n = m->n_items;
  s->raw = (int)reco__model_param(m, "values") == VALUES_RAW;
  s->lambda = info[0];
  s->dropout = info[1];
  s->form = (int)info[2];
  s->valid_ndcg = info[3];
  s->sim_k = (int32_t)info[6];
  const size_t n = (size_t)s->n, nsim = n * (size_t)s->sim_k;
  if (info[4] != 0) {
    rc = reco__mf_copy(r, "B", RECO_DT_F32, (int64_t)(n * n), (void **)&s->dense, NULL);
  } else {
    rc = reco__mf_copy(r, "B_ptr", RECO_DT_I64, (int64_t)n + 1, (void **)&s->ptr, NULL);
    /* the checksum says the bytes are as written, not that the writer was sane: check bounds */
    if (!rc && s->ptr[0] != 0) rc = reco__seterr(RECO_EFORMAT, "ease: B_ptr does not start at 0");
    for (size_t j = 0; !rc && j < n; j++)
      if (s->ptr[j + 1] < s->ptr[j]) rc = reco__seterr(RECO_EFORMAT, "ease: B_ptr decreases at row %zu", j);
    if (!rc) rc = reco__mf_copy(r, "B_idx", RECO_DT_I32, s->ptr[n], (void **)&s->idx, NULL);
    if (!rc) rc = reco__mf_copy(r, "B_val", RECO_DT_F32, s->ptr[n], (void **)&s->val, NULL);
    for (int64_t q = 0; !rc && q < s->ptr[n]; q++)
      if (s->idx[q] < 0 || s->idx[q] >= s->n)
        rc = reco__seterr(RECO_EFORMAT, "ease: B_idx out of range at %lld", (long long)q);
  }
  if (!rc) rc = reco__mf_copy(r, "sim_item", RECO_DT_I32, (int64_t)nsim, (void **)&s->sim_item, NULL);
  if (!rc) rc = reco__mf_copy(r, "sim_score", RECO_DT_F32, (int64_t)nsim, (void **)&s->sim_score, NULL);
  for (size_t q = 0; !rc && q < nsim; q++)
    if (s->sim_item[q] < -1 || s->sim_item[q] >= s->n) rc = reco__seterr(RECO_EFORMAT, "ease: sim_item out of range");
  return rc;
}

const reco_algo reco__algo_ease = {
    .name = "ease",
    .summary = "EASE / DLAE / EDLAE item-item autoencoders, closed form, chosen on validation (Steck 2019, 2020)",
    .caps = RECO_CAP_RANKING | RECO_CAP_SIMILAR | RECO_CAP_FOLDIN,
    .params = k_params,
    .n_params = RECO_ARRAY_LEN(k_params),
    .fit = ease_fit,
    .score = ease_score,
    .similar = ease_similar,
    .explain = ease_explain,
    .save = ease_save,
    .load = ease_load,
    .free_state = ease_free,
};
