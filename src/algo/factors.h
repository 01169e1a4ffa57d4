/*
 * factors.h - what the latent-factor models (als, ials, bpr; svd, svdpp, nmf may reuse it)
 * share: the factor matrices in one layout, scoring every item in one pass, batch top-N for many
 * users, the similar-items table, model-file sections, and small dense kernels (dot, axpy,
 * symmetric mat-vec, gathered sums, Cholesky) for the per-user solves.
 *
 * Layout. U is n_users x k and V is n_items x k, row-major and contiguous (64-byte aligned), so
 * a user's scores over the catalogue are one matrix-vector product V x (+ item biases) and a
 * block of users' scores one matrix product U_B V^T. 64 factors x 50,000 items is 12.8 MB: one
 * scan per user is bounded by memory bandwidth, which is why the batch path tiles items and
 * users.
 *
 * Kernels. The products are plain C in GNU vector extensions (16 lanes, register-blocked), not
 * OpenBLAS calls. Measured on the project's machine (2 cores, AVX-512): OpenBLAS 0.3.21 does not
 * recognise the CPU and runs its generic Prescott kernels (OpenBLAS issue #4267, fixed in
 * 0.3.25), so one user's sgemv over 50,000 x 64 took 897 us and sgemm reached 28 GFLOPS per
 * core, against 462 us and 115 GFLOPS for these kernels (with OPENBLAS_CORETYPE=SkylakeX
 * forced: 479 us and 101 GFLOPS). They are also single-threaded per call, so a request never
 * waits on a thread pool: OpenBLAS threads a gemv of this size itself when called outside a
 * parallel region, and on a busy machine that hand-off cost a scheduler time slice (~8 ms).
 * The k x k Gram matrix of the ALS sweeps is the same kind of code (reco__factors_gram).
 */
#ifndef RECO_FACTORS_H
#define RECO_FACTORS_H

#include "algo.h"

#include <string.h>

/* Largest factor count: bounds the stack scratch of fold-in (a few vectors of this length). */
#define RECO_FACTORS_MAX 512

typedef struct reco_factors {
  int k;                    /* factors per row (the stride of U and V) */
  int32_t n_users, n_items;
  float *U;                 /* n_users x k */
  float *V;                 /* n_items x k */
  float *bu;                /* n_users user biases, or NULL */
  float *bi;                /* n_items item biases, or NULL */
  int sim_k;                /* width of the similar-items table (0 = none) */
  int32_t *sim_idx;         /* n_items x sim_k, best first, -1 padded */
  float *sim_val;           /* cosines of the item factors */
} reco_factors;

/* Allocates U and V (zeroed) and, when asked, the bias vectors. */
int reco__factors_alloc(reco_factors *f, int32_t n_users, int32_t n_items, int k, bool user_bias, bool item_bias);
void reco__factors_free(reco_factors *f);
/* Fills a[0..n) with N(0, sd^2) draws from a generator seeded with `seed`. */
void reco__factors_randn(float *a, size_t n, double sd, uint64_t seed);

/* out[i] = V_i . x + bi[i] + offset for every item (one pass over V, four rows at a time,
 * single-threaded); allocates nothing. */
void reco__factors_score(const reco_factors *f, const float *x, float offset, float *out);

/* G = A^T A (k x k, full, row-major) for A n x k row-major. Large products run on `threads`
 * threads over fixed row chunks summed in order (the same result for any thread count); call
 * it outside parallel regions. */
void reco__factors_gram(const float *A, int32_t n, int k, float *G, int threads);

/*
 * Batch top-N: for each users[q] (q < n), the `top` items with the highest U_u . V_i (+ bias[i]
 * when item_bias is not NULL), best first, ties to the smaller item index, skipping the items of
 * the user's row in `exclude` (may be NULL; users beyond exclude->n_users exclude nothing). Rows
 * of out_items / out_scores (n x top) are padded with -1 / -INFINITY when fewer items qualify.
 * Users are processed in blocks: one matrix product per (user block, item tile), then a bounded heap per
 * user. out_scores may be NULL. Returns 0 or a negative RECO_E* code.
 */
int reco__factors_topk_batch(const float *U, const float *V, const float *item_bias, int32_t n_users, int32_t n_items,
                             int k, const int32_t *users, size_t n, int top, const reco_dataset *exclude,
                             int32_t *out_items, float *out_scores);

/* Builds the similar-items table: for every item, the sim_k items of highest cosine between
 * item factors (itself excluded; items with a zero vector get an empty row). */
int reco__factors_similar_build(reco_factors *f, int sim_k);
/* Similar-items lookup (the table, or a full scan when k exceeds its width). */
int reco__factors_similar(const reco_factors *f, int32_t item, int k, int32_t *out_items, float *out_scores);

/* Model-file sections "U", "V", "bu", "bi", "sim_idx", "sim_val" (those present). */
int reco__factors_save(const reco_factors *f, reco_mf_writer *w);
/* Loads the sections saved above, checking every size against (n_users, n_items, k). */
int reco__factors_load(reco_factors *f, const reco_mf_reader *r, int32_t n_users, int32_t n_items, int k,
                       bool user_bias, bool item_bias);

/* ---- small dense kernels (k <= RECO_FACTORS_MAX), in GNU C vector extensions so that any
 * target gets SIMD code: a float sum may not be reordered in plain C, so a plain dot product
 * stays scalar; here 16 lanes accumulate and one shuffle tree adds them up ---- */
typedef float reco__v16 __attribute__((vector_size(64)));
typedef float reco__v8 __attribute__((vector_size(32)));
typedef float reco__v4 __attribute__((vector_size(16)));

/* Loads 16 floats from any address, and adds up a vector's 16 lanes. Macros (GNU statement
 * expressions) rather than functions: a function taking or returning a 64-byte vector has an
 * ABI that depends on the target's vector width, which GCC rightly warns about. */
#define RECO_V16_LOAD(p)              \
  ({                                  \
    reco__v16 v16_;                   \
    memcpy(&v16_, (p), sizeof v16_);  \
    v16_;                             \
  })
#define RECO_V16_SUM(acc)                                                                   \
  ({                                                                                        \
    reco__v16 a16_ = (acc);                                                                 \
    reco__v8 h8_ = __builtin_shufflevector(a16_, a16_, 0, 1, 2, 3, 4, 5, 6, 7) +            \
                   __builtin_shufflevector(a16_, a16_, 8, 9, 10, 11, 12, 13, 14, 15);       \
    reco__v4 q4_ = __builtin_shufflevector(h8_, h8_, 0, 1, 2, 3) +                          \
                   __builtin_shufflevector(h8_, h8_, 4, 5, 6, 7);                           \
    (q4_[0] + q4_[2]) + (q4_[1] + q4_[3]);                                                  \
  })

static inline float reco__fdot(const float *restrict a, const float *restrict b, int k) {
  reco__v16 acc = {0};
  int j = 0;
  for (; j + 16 <= k; j += 16) acc += RECO_V16_LOAD(a + j) * RECO_V16_LOAD(b + j);
  float s = 0;
  for (; j < k; j++) s += a[j] * b[j];
  return s + RECO_V16_SUM(acc);
}
static inline void reco__faxpy(float a, const float *restrict x, float *restrict y, int k) {
  for (int j = 0; j < k; j++) y[j] += a * x[j];
}

/* y = S x for a full symmetric k x k row-major S, as y = sum_b x[b] S[b,:] with y held in
 * registers 64 columns at a time (an axpy per b through memory would wait on its own stores). */
static inline void reco__fsymv(const float *restrict S, const float *restrict x, float *restrict y, int k) {
  int j0 = 0;
  for (; j0 + 64 <= k; j0 += 64) {
    reco__v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    for (int b = 0; b < k; b++) {
      const float *row = S + (size_t)b * k + j0;
      float xb = x[b];
      a0 += xb * RECO_V16_LOAD(row);
      a1 += xb * RECO_V16_LOAD(row + 16);
      a2 += xb * RECO_V16_LOAD(row + 32);
      a3 += xb * RECO_V16_LOAD(row + 48);
    }
    memcpy(y + j0, &a0, sizeof a0);
    memcpy(y + j0 + 16, &a1, sizeof a1);
    memcpy(y + j0 + 32, &a2, sizeof a2);
    memcpy(y + j0 + 48, &a3, sizeof a3);
  }
  for (; j0 + 16 <= k; j0 += 16) {
    reco__v16 a0 = {0};
    for (int b = 0; b < k; b++) a0 += x[b] * RECO_V16_LOAD(S + (size_t)b * k + j0);
    memcpy(y + j0, &a0, sizeof a0);
  }
  for (; j0 < k; j0++) y[j0] = reco__fdot(S + (size_t)j0 * k, x, k); /* row j0 = column j0 */
}

/* out[0..len) += sum_t w[t] Y[idx[t], 0..len) over n gathered rows of Y (row stride ldy,
 * len <= ldy), out held in registers 64 columns at a time. */
static inline void reco__fgather_axpy(const float *restrict Y, int ldy, const int32_t *restrict idx,
                                      const float *restrict w, int64_t n, int len, float *restrict out) {
  int j0 = 0;
  for (; j0 + 64 <= len; j0 += 64) {
    reco__v16 a0 = RECO_V16_LOAD(out + j0), a1 = RECO_V16_LOAD(out + j0 + 16);
    reco__v16 a2 = RECO_V16_LOAD(out + j0 + 32), a3 = RECO_V16_LOAD(out + j0 + 48);
    for (int64_t t = 0; t < n; t++) {
      const float *row = Y + (size_t)idx[t] * ldy + j0;
      float wt = w[t];
      a0 += wt * RECO_V16_LOAD(row);
      a1 += wt * RECO_V16_LOAD(row + 16);
      a2 += wt * RECO_V16_LOAD(row + 32);
      a3 += wt * RECO_V16_LOAD(row + 48);
    }
    memcpy(out + j0, &a0, sizeof a0);
    memcpy(out + j0 + 16, &a1, sizeof a1);
    memcpy(out + j0 + 32, &a2, sizeof a2);
    memcpy(out + j0 + 48, &a3, sizeof a3);
  }
  for (; j0 + 16 <= len; j0 += 16) {
    reco__v16 a0 = RECO_V16_LOAD(out + j0);
    for (int64_t t = 0; t < n; t++) a0 += w[t] * RECO_V16_LOAD(Y + (size_t)idx[t] * ldy + j0);
    memcpy(out + j0, &a0, sizeof a0);
  }
  for (; j0 < len; j0++) {
    float a = out[j0];
    for (int64_t t = 0; t < n; t++) a += w[t] * Y[(size_t)idx[t] * ldy + j0];
    out[j0] = a;
  }
}

/* In-place Cholesky of a d x d SPD matrix (double, row-major, lower triangle used and
 * overwritten with L; col is d doubles of scratch). Returns 0, or RECO_ERANGE when a pivot is
 * not positive. */
int reco__chol(double *A, int d, double *col);
/* Solves L L^T x = b in place (b becomes x) with the factor from reco__chol. */
void reco__chol_solve(const double *L, int d, double *b);

/* ---- BPR's per-triple step (bpr.c), shared with its finite-difference test ---- */
/*
 * One stochastic step of BPR-Opt (Rendle et al. 2009, eq. 4 and section 4.3) for the triple
 * (u, i, j): x_uij = x_u.(y_i - y_j) + b_i - b_j, objective ln sigma(x_uij) - reg/2 ||x_u||^2
 * - reg/2 (||y_i||^2 + ||y_j||^2) - reg_bias/2 (b_i^2 + b_j^2). With lr = 0 nothing moves and
 * the gradients of that objective are written to gx, gi, gj (k floats each) and gb[0..1] (b_i,
 * b_j) when they are not NULL. bi and bj may be NULL (no item biases). Returns ln sigma(x_uij)
 * before the step.
 */
float reco__bpr_step(float *xu, float *yi, float *yj, float *bi, float *bj, int k, float lr, float reg, float reg_bias,
                     float *gx, float *gi, float *gj, float *gb);

/* ---- row-strided factor matrices (rows of k values every kp floats), for svd/svdpp/nmf ---- */
/* out[i] += q_i . p for n rows, by cblas_sgemv in blocks small enough to stay on this thread. */
void reco__factors_score_rows(const float *q, int32_t n, int k, int stride, const float *p, float *out);
/* Saves/loads rows x k values of a strided matrix as one dense f32 section. */
int reco__factors_save_rows(reco_mf_writer *w, const char *name, const float *a, int32_t rows, int k, int kp);
/* Items whose factor rows have the highest cosine with `item`'s (brute force, no allocation). */
int reco__factors_similar_rows(const float *q, int32_t n, int k, int stride, int32_t item, int top, int32_t *out_items,
                               float *out_scores);
int reco__factors_load_rows(const reco_mf_reader *r, const char *name, float *a, int32_t rows, int k, int kp);

#endif
