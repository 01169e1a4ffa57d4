/*
 * factors.c - shared machinery of the latent-factor models (see factors.h for the layout and
 * why the products are not BLAS calls).
 *
 * Batch top-N (reco__factors_topk_batch). V is first packed into panels of 32 items (k x 32
 * contiguous floats each). For a block of B = 128 users and a tile of T = 2048 items the scores
 * S = U_B V_T^T come from a register-blocked kernel (4 users x 32 items in 8 vector
 * accumulators, one panel kept in L1 across the block); S (1 MB) stays in L2 while each user's
 * bounded heap reads it. Most 16-score chunks hold nothing that beats a full heap's worst score,
 * so the scan first tests 16 at once against that threshold and only then pushes one by one.
 * Exclusions (the user's training items, sorted in the CSR row) are merged in as the scan walks
 * the items in order. Blocks are independent: one per OpenMP thread (dynamic schedule).
 *
 * Similar items (reco__factors_similar_build): the cosine between item factors, i.e. the batch
 * top-N of the row-normalised V against itself, keeping sim_k + 1 and dropping the item itself.
 *
 * Cholesky (reco__chol): the outer-product (right-looking) L L^T factorisation in double (Golub
 * & Van Loan, algorithm 4.2.2), for the (k+1) x (k+1) normal equations of ALS.
 */
#include "factors.h"

#include <cblas.h>

#include <math.h>
#include <string.h>

int reco__factors_alloc(reco_factors *f, int32_t n_users, int32_t n_items, int k, bool user_bias, bool item_bias) {
  memset(f, 0, sizeof *f);
  f->k = k;
  f->n_users = n_users;
  f->n_items = n_items;
  f->U = reco__aligned_calloc((size_t)(n_users > 0 ? n_users : 1) * (size_t)k * sizeof(float));
  f->V = reco__aligned_calloc((size_t)(n_items > 0 ? n_items : 1) * (size_t)k * sizeof(float));
  if (user_bias) f->bu = reco__aligned_calloc((size_t)(n_users > 0 ? n_users : 1) * sizeof(float));
  if (item_bias) f->bi = reco__aligned_calloc((size_t)(n_items > 0 ? n_items : 1) * sizeof(float));
  if (!f->U || !f->V || (user_bias && !f->bu) || (item_bias && !f->bi)) {
    reco__factors_free(f);
    return reco__seterr(RECO_ENOMEM, "out of memory for %d x %d factors", n_users + n_items, k);
  }
  return 0;
}

void reco__factors_free(reco_factors *f) {
  reco__free_aligned(f->U);
  reco__free_aligned(f->V);
  reco__free_aligned(f->bu);
  reco__free_aligned(f->bi);
  reco__free_aligned(f->sim_idx);
  reco__free_aligned(f->sim_val);
  memset(f, 0, sizeof *f);
}

void reco__factors_randn(float *a, size_t n, double sd, uint64_t seed) {
  reco_rng r;
  reco__rng_seed(&r, seed);
  for (size_t j = 0; j < n; j++) a[j] = (float)(sd * reco__rng_normal(&r));
}

/* out[i] = V_i . x for every item, four rows at a time (one pass over V, which is what bounds
 * it), single-threaded so that a request never waits for a thread pool. */
static void gemv_rows(const float *V, int32_t n, int k, const float *x, float *out) {
  int kv = k & ~15;
  int32_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float *r0 = V + (size_t)i * k, *r1 = r0 + k, *r2 = r1 + k, *r3 = r2 + k;
    reco__v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    for (int d = 0; d < kv; d += 16) {
      reco__v16 xv = RECO_V16_LOAD(x + d);
      a0 += RECO_V16_LOAD(r0 + d) * xv;
      a1 += RECO_V16_LOAD(r1 + d) * xv;
      a2 += RECO_V16_LOAD(r2 + d) * xv;
      a3 += RECO_V16_LOAD(r3 + d) * xv;
    }
    float s0 = RECO_V16_SUM(a0), s1 = RECO_V16_SUM(a1), s2 = RECO_V16_SUM(a2), s3 = RECO_V16_SUM(a3);
    for (int d = kv; d < k; d++) {
      s0 += r0[d] * x[d];
      s1 += r1[d] * x[d];
      s2 += r2[d] * x[d];
      s3 += r3[d] * x[d];
    }
    out[i] = s0;
    out[i + 1] = s1;
    out[i + 2] = s2;
    out[i + 3] = s3;
  }
  for (; i < n; i++) out[i] = reco__fdot(V + (size_t)i * k, x, k);
}

void reco__factors_score(const reco_factors *f, const float *x, float offset, float *out) {
  if (f->n_items <= 0) return;
  gemv_rows(f->V, f->n_items, f->k, x, out);
  if (f->bi)
    for (int32_t i = 0; i < f->n_items; i++) out[i] += f->bi[i] + offset;
  else if (offset != 0)
    for (int32_t i = 0; i < f->n_items; i++) out[i] += offset;
}

/* G[a, 0..len_a) += sum_t A[t, a] A[t, 0..len_a) over rows [r0, r1) of A, len_a = a + 1
 * rounded up to 16 (the lower triangle and a little more), 256 rows at a time so that each
 * block is read k times from L1/L2 while one row of G accumulates in registers. */
static void gram_rows(const float *A, int32_t r0, int32_t r1, int k, float *G) {
  enum { ROWS = 256 };
  float w[ROWS];
  int32_t idx[ROWS];
  for (int32_t b0 = r0; b0 < r1; b0 += ROWS) {
    int n = r1 - b0 < ROWS ? r1 - b0 : ROWS;
    for (int t = 0; t < n; t++) idx[t] = b0 + t;
    for (int a = 0; a < k; a++) {
      for (int t = 0; t < n; t++) w[t] = A[(size_t)(b0 + t) * k + a];
      int len = (a + 16) & ~15;
      reco__fgather_axpy(A, k, idx, w, n, len < k ? len : k, G + (size_t)a * k);
    }
  }
}

void reco__factors_gram(const float *A, int32_t n, int k, float *G, int threads) {
  enum { CHUNKS = 16 };
  size_t kk = (size_t)k * (size_t)k;
  memset(G, 0, kk * sizeof *G);
  if (n <= 0) return;
  /* small: one thread, no fork (a parallel region costs more than the work, and on a busy
   * machine a scheduler time slice); large: 16 fixed row chunks summed in order, so the result
   * does not depend on the thread count */
  float *part = NULL;
  if ((double)n * k * k >= 64e6) part = reco__aligned_calloc((size_t)CHUNKS * kk * sizeof *part);
  if (!part) { /* small, or no memory for the chunks: the sum in one pass */
    gram_rows(A, 0, n, k, G);
  } else {
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads > 0 ? threads : 1)
    for (int c = 0; c < CHUNKS; c++)
      gram_rows(A, (int32_t)((int64_t)n * c / CHUNKS), (int32_t)((int64_t)n * (c + 1) / CHUNKS), k, part + (size_t)c * kk);
    for (int c = 0; c < CHUNKS; c++)
      for (size_t j = 0; j < kk; j++) G[j] += part[(size_t)c * kk + j];
    reco__free_aligned(part);
  }
  for (int a = 0; a < k; a++)
    for (int b = a + 1; b < k; b++) G[(size_t)a * k + b] = G[(size_t)b * k + a];
}

/* ---- batch top-N ---- */

enum { TB_USERS = 128, TB_ITEMS = 2048, TB_LANES = 16 };

typedef int32_t v16i __attribute__((vector_size(64)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef int32_t v4i __attribute__((vector_size(16)));

/* Pushes one tile row into the heap, skipping excluded items (*pos walks the sorted row). */
static void scan_row(reco_topk *h, const float *row, int32_t i0, int ni, const int32_t *ex, int64_t *pos, int64_t end) {
  int64_t p = *pos;
  int32_t next = p < end ? ex[p] : INT32_MAX;
  int j = 0;
  while (j < ni) {
    int stop = j + TB_LANES <= ni ? j + TB_LANES : ni;
    /* fast path: a full heap, no exclusion inside the chunk, nothing reaching the threshold */
    if (h->n == h->k && stop - j == TB_LANES && next >= i0 + stop) {
      reco__v16 thr = {0};
      thr += h->score[0];
      v16i m = RECO_V16_LOAD(row + j) >= thr;
      v8i m8 = __builtin_shufflevector(m, m, 0, 1, 2, 3, 4, 5, 6, 7) |
               __builtin_shufflevector(m, m, 8, 9, 10, 11, 12, 13, 14, 15);
      v4i m4 = __builtin_shufflevector(m8, m8, 0, 1, 2, 3) | __builtin_shufflevector(m8, m8, 4, 5, 6, 7);
      if (!(m4[0] | m4[1] | m4[2] | m4[3])) {
        j = stop;
        continue;
      }
    }
    for (; j < stop; j++) {
      int32_t item = i0 + j;
      if (item == next) {
        p++;
        next = p < end ? ex[p] : INT32_MAX;
        continue;
      }
      reco__topk_push(h, row[j], item);
    }
  }
  *pos = p;
}

/*
 * S[r][j] = U_r . V_{i0 + j} for the 4-user groups of Ub (rows padded to a multiple of 4) and
 * nj items from i0 (both multiples of 32) of the packed Vp: panels of 32 items, each k x 32
 * contiguous floats. The register block is 4 users x 32 items (8 vectors of 16): per factor d
 * it loads two vectors of the panel and four scalars of Ub for eight multiply-adds. Items
 * outer, users inner, so a panel (8 KB at k = 64) stays in L1 across the user block.
 */
static void block_scores(const float *Ub, int nb4, const float *Vp, int32_t i0, int nj, int k, float *S, int lds) {
  for (int j = 0; j < nj; j += 32) {
    const float *panel = Vp + ((size_t)(i0 + j) / 32) * (size_t)k * 32;
    for (int r = 0; r < nb4; r += 4) {
      reco__v16 a00 = {0}, a01 = {0}, a10 = {0}, a11 = {0}, a20 = {0}, a21 = {0}, a30 = {0}, a31 = {0};
      const float *u0 = Ub + (size_t)r * k, *u1 = u0 + k, *u2 = u1 + k, *u3 = u2 + k;
      for (int d = 0; d < k; d++) {
        reco__v16 v0 = RECO_V16_LOAD(panel + d * 32), v1 = RECO_V16_LOAD(panel + d * 32 + 16);
        a00 += u0[d] * v0;
        a01 += u0[d] * v1;
        a10 += u1[d] * v0;
        a11 += u1[d] * v1;
        a20 += u2[d] * v0;
        a21 += u2[d] * v1;
        a30 += u3[d] * v0;
        a31 += u3[d] * v1;
      }
      float *s0 = S + (size_t)r * lds + j;
      memcpy(s0, &a00, sizeof a00);
      memcpy(s0 + 16, &a01, sizeof a01);
      memcpy(s0 + lds, &a10, sizeof a10);
      memcpy(s0 + lds + 16, &a11, sizeof a11);
      memcpy(s0 + 2 * lds, &a20, sizeof a20);
      memcpy(s0 + 2 * lds + 16, &a21, sizeof a21);
      memcpy(s0 + 3 * lds, &a30, sizeof a30);
      memcpy(s0 + 3 * lds + 16, &a31, sizeof a31);
    }
  }
}

int reco__factors_topk_batch(const float *U, const float *V, const float *item_bias, int32_t n_users, int32_t n_items,
                             int k, const int32_t *users, size_t n, int top, const reco_dataset *exclude,
                             int32_t *out_items, float *out_scores) {
  if (top <= 0 || n == 0) return 0;
  if (k <= 0) return reco__seterr(RECO_EINVAL, "batch top-N: %d factors", k);
  for (size_t q = 0; q < n; q++)
    if (users[q] < 0 || users[q] >= n_users)
      return reco__seterr(RECO_EINVAL, "batch top-N: user %d outside [0, %d)", users[q], n_users);
  if (n_items <= 0) {
    for (size_t o = 0; o < n * (size_t)top; o++) {
      out_items[o] = -1;
      if (out_scores) out_scores[o] = -INFINITY;
    }
    return 0;
  }
  /* V packed once for the whole call: panels of 32 items, each k x 32 (zero-padded) */
  size_t n_panels = ((size_t)n_items + 31) / 32;
  float *Vp = reco__aligned_calloc(n_panels * 32 * (size_t)k * sizeof *Vp);
  if (!Vp) return reco__seterr(RECO_ENOMEM, "out of memory for batch top-N");
  size_t n_blocks = (n + TB_USERS - 1) / TB_USERS;
  int nth = reco_get_threads();
  int failed = 0;
#pragma omp parallel num_threads(nth)
  {
#pragma omp for schedule(static)
    for (size_t pn = 0; pn < n_panels; pn++) {
      float *panel = Vp + pn * (size_t)k * 32;
      for (int32_t q = 0; q < 32 && (int32_t)(pn * 32) + q < n_items; q++) {
        const float *v = V + (pn * 32 + (size_t)q) * (size_t)k;
        for (int d = 0; d < k; d++) panel[d * 32 + q] = v[d];
      }
    }
    float *Ub = reco__aligned_alloc((size_t)TB_USERS * (size_t)k * sizeof(float));
    float *S = reco__aligned_alloc((size_t)TB_USERS * TB_ITEMS * sizeof(float));
    float *hs = reco__malloc((size_t)TB_USERS * (size_t)top * sizeof *hs);
    int32_t *hid = reco__malloc((size_t)TB_USERS * (size_t)top * sizeof *hid);
    int64_t *pos = reco__malloc(2 * TB_USERS * sizeof *pos);
    reco_topk heaps[TB_USERS];
    if (!Ub || !S || !hs || !hid || !pos) {
#pragma omp atomic write
      failed = 1;
    }
#pragma omp for schedule(dynamic, 1)
    for (size_t b = 0; b < n_blocks; b++) {
      int stop;
#pragma omp atomic read
      stop = failed;
      if (stop) continue;
      size_t q0 = b * TB_USERS;
      int nb = (int)(n - q0 < TB_USERS ? n - q0 : TB_USERS), nb4 = (nb + 3) & ~3;
      for (int r = 0; r < nb; r++) {
        int32_t u = users[q0 + (size_t)r];
        memcpy(Ub + (size_t)r * k, U + (size_t)u * k, (size_t)k * sizeof(float));
        heaps[r] = (reco_topk){.k = top, .n = 0, .score = hs + (size_t)r * top, .id = hid + (size_t)r * top};
        if (exclude && u < exclude->n_users) {
          pos[r] = exclude->uptr[u];
          pos[TB_USERS + r] = exclude->uptr[u + 1];
        } else {
          pos[r] = pos[TB_USERS + r] = 0;
        }
      }
      memset(Ub + (size_t)nb * k, 0, (size_t)(nb4 - nb) * (size_t)k * sizeof(float));
      for (int32_t i0 = 0; i0 < n_items; i0 += TB_ITEMS) {
        int ni = n_items - i0 < TB_ITEMS ? n_items - i0 : TB_ITEMS;
        block_scores(Ub, nb4, Vp, i0, (ni + 31) & ~31, k, S, TB_ITEMS);
        for (int r = 0; r < nb; r++) {
          float *row = S + (size_t)r * TB_ITEMS;
          if (item_bias)
            for (int j = 0; j < ni; j++) row[j] += item_bias[i0 + j];
          scan_row(&heaps[r], row, i0, ni, exclude ? exclude->uitem : NULL, &pos[r], pos[TB_USERS + r]);
        }
      }
      for (int r = 0; r < nb; r++) {
        int cnt = reco__topk_sort(&heaps[r]);
        size_t o = (q0 + (size_t)r) * (size_t)top;
        for (int j = 0; j < top; j++) {
          out_items[o + j] = j < cnt ? heaps[r].id[j] : -1;
          if (out_scores) out_scores[o + j] = j < cnt ? heaps[r].score[j] : -INFINITY;
        }
      }
    }
    reco__free_aligned(Ub);
    reco__free_aligned(S);
    reco__free(hs);
    reco__free(hid);
    reco__free(pos);
  }
  reco__free_aligned(Vp);
  return failed ? reco__seterr(RECO_ENOMEM, "out of memory for batch top-N") : 0;
}

/* ---- similar items ---- */

int reco__factors_similar_build(reco_factors *f, int sim_k) {
  reco__free_aligned(f->sim_idx);
  reco__free_aligned(f->sim_val);
  f->sim_idx = NULL;
  f->sim_val = NULL;
  f->sim_k = 0;
  int32_t ni = f->n_items;
  if (sim_k <= 0 || ni <= 0) return 0;
  if (sim_k > ni - 1) sim_k = ni - 1 > 0 ? ni - 1 : 1;
  int k = f->k, w = sim_k + 1;
  float *Vn = reco__aligned_alloc((size_t)ni * (size_t)k * sizeof(float));
  int32_t *all = reco__malloc((size_t)ni * sizeof *all);
  int32_t *ti = reco__malloc((size_t)ni * (size_t)w * sizeof *ti);
  float *ts = reco__malloc((size_t)ni * (size_t)w * sizeof *ts);
  f->sim_idx = reco__aligned_alloc((size_t)ni * (size_t)sim_k * sizeof *f->sim_idx);
  f->sim_val = reco__aligned_alloc((size_t)ni * (size_t)sim_k * sizeof *f->sim_val);
  int rc = 0;
  if (!Vn || !all || !ti || !ts || !f->sim_idx || !f->sim_val) {
    rc = reco__seterr(RECO_ENOMEM, "out of memory for the similar-items table");
    goto done;
  }
  for (int32_t i = 0; i < ni; i++) {
    const float *v = f->V + (size_t)i * k;
    float nrm = sqrtf(reco__fdot(v, v, k));
    float inv = nrm > 0 ? 1.0f / nrm : 0.0f;
    for (int j = 0; j < k; j++) Vn[(size_t)i * k + j] = v[j] * inv;
    all[i] = i;
  }
  rc = reco__factors_topk_batch(Vn, Vn, NULL, ni, ni, k, all, (size_t)ni, w, NULL, ti, ts);
  if (rc) goto done;
  f->sim_k = sim_k;
  for (int32_t i = 0; i < ni; i++) {
    int o = 0;
    bool zero = reco__fdot(Vn + (size_t)i * k, Vn + (size_t)i * k, k) == 0;
    for (int j = 0; j < w && o < sim_k && !zero; j++) {
      int32_t it = ti[(size_t)i * w + j];
      if (it < 0 || it == i) continue;
      f->sim_idx[(size_t)i * sim_k + o] = it;
      f->sim_val[(size_t)i * sim_k + o] = ts[(size_t)i * w + j];
      o++;
    }
    for (; o < sim_k; o++) {
      f->sim_idx[(size_t)i * sim_k + o] = -1;
      f->sim_val[(size_t)i * sim_k + o] = 0;
    }
  }
done:
  reco__free_aligned(Vn);
  reco__free(all);
  reco__free(ti);
  reco__free(ts);
  if (rc) {
    reco__free_aligned(f->sim_idx);
    reco__free_aligned(f->sim_val);
    f->sim_idx = NULL;
    f->sim_val = NULL;
    f->sim_k = 0;
  }
  return rc;
}

int reco__factors_similar(const reco_factors *f, int32_t item, int k, int32_t *out_items, float *out_scores) {
  if (item < 0 || item >= f->n_items) return reco__seterr(RECO_ENOTFOUND, "item %d is unknown to the model", item);
  if (k <= 0) return 0;
  if (k <= f->sim_k) {
    const int32_t *row = f->sim_idx + (size_t)item * f->sim_k;
    int n = 0;
    while (n < k && row[n] >= 0) {
      out_items[n] = row[n];
      if (out_scores) out_scores[n] = f->sim_val[(size_t)item * f->sim_k + n];
      n++;
    }
    return n;
  }
  /* wider than the table: one scan of the catalogue */
  const float *q = f->V + (size_t)item * f->k;
  float qn = sqrtf(reco__fdot(q, q, f->k));
  if (!(qn > 0)) return 0;
  reco_topk h;
  int rc = reco__topk_init(&h, k);
  if (rc) return rc;
  for (int32_t j = 0; j < f->n_items; j++) {
    if (j == item) continue;
    const float *v = f->V + (size_t)j * f->k;
    float vn = sqrtf(reco__fdot(v, v, f->k));
    if (!(vn > 0)) continue;
    reco__topk_push(&h, reco__fdot(q, v, f->k) / (qn * vn), j);
  }
  int n = reco__topk_sort(&h);
  for (int j = 0; j < n; j++) {
    out_items[j] = h.id[j];
    if (out_scores) out_scores[j] = h.score[j];
  }
  reco__topk_free(&h);
  return n;
}

/* ---- model file ---- */

int reco__factors_save(const reco_factors *f, reco_mf_writer *w) {
  int rc = reco__mf_section(w, "U", RECO_DT_F32, f->U, (uint64_t)f->n_users * (uint64_t)f->k);
  if (!rc) rc = reco__mf_section(w, "V", RECO_DT_F32, f->V, (uint64_t)f->n_items * (uint64_t)f->k);
  if (!rc && f->bu) rc = reco__mf_section(w, "bu", RECO_DT_F32, f->bu, (uint64_t)f->n_users);
  if (!rc && f->bi) rc = reco__mf_section(w, "bi", RECO_DT_F32, f->bi, (uint64_t)f->n_items);
  if (!rc && f->sim_k > 0) {
    uint64_t cnt = (uint64_t)f->n_items * (uint64_t)f->sim_k;
    rc = reco__mf_section(w, "sim_idx", RECO_DT_I32, f->sim_idx, cnt);
    if (!rc) rc = reco__mf_section(w, "sim_val", RECO_DT_F32, f->sim_val, cnt);
  }
  return rc;
}

int reco__factors_load(reco_factors *f, const reco_mf_reader *r, int32_t n_users, int32_t n_items, int k,
                       bool user_bias, bool item_bias) {
  memset(f, 0, sizeof *f);
  f->k = k;
  f->n_users = n_users;
  f->n_items = n_items;
  int rc = reco__mf_copy(r, "U", RECO_DT_F32, (int64_t)n_users * k, (void **)&f->U, NULL);
  if (!rc) rc = reco__mf_copy(r, "V", RECO_DT_F32, (int64_t)n_items * k, (void **)&f->V, NULL);
  if (!rc && user_bias) rc = reco__mf_copy(r, "bu", RECO_DT_F32, n_users, (void **)&f->bu, NULL);
  if (!rc && item_bias) rc = reco__mf_copy(r, "bi", RECO_DT_F32, n_items, (void **)&f->bi, NULL);
  if (rc) return rc;
  uint64_t cnt = 0, cnt2 = 0;
  rc = reco__mf_copy(r, "sim_idx", RECO_DT_I32, -1, (void **)&f->sim_idx, &cnt);
  if (rc == RECO_ENOTFOUND) {
    reco__clearerr();
    return 0;
  }
  if (!rc) rc = reco__mf_copy(r, "sim_val", RECO_DT_F32, (int64_t)cnt, (void **)&f->sim_val, &cnt2);
  if (rc) return rc;
  if (n_items <= 0 || cnt % (uint64_t)n_items || cnt / (uint64_t)n_items > INT32_MAX)
    return reco__seterr(RECO_EFORMAT, "similar-items table of %llu entries for %d items", (unsigned long long)cnt,
                        n_items);
  f->sim_k = (int)(cnt / (uint64_t)n_items);
  for (uint64_t j = 0; j < cnt; j++)
    if (f->sim_idx[j] < -1 || f->sim_idx[j] >= n_items)
      return reco__seterr(RECO_EFORMAT, "similar-items table holds item %d of %d", f->sim_idx[j], n_items);
  return 0;
}

/* ---- Cholesky ---- */

int reco__chol(double *A, int d, double *col) {
  /* right-looking: after column j is scaled, the trailing rows take an axpy with a contiguous
   * copy of that column (no inner products, so it vectorises without reordering sums) */
  for (int j = 0; j < d; j++) {
    double *Aj = A + (size_t)j * d;
    if (!(Aj[j] > 0)) return RECO_ERANGE;
    double l = sqrt(Aj[j]), inv = 1.0 / l;
    Aj[j] = l;
    for (int i = j + 1; i < d; i++) col[i] = A[(size_t)i * d + j] *= inv;
    for (int i = j + 1; i < d; i++) {
      double *Ai = A + (size_t)i * d;
      double lij = col[i];
      for (int p = j + 1; p <= i; p++) Ai[p] -= lij * col[p];
    }
  }
  return 0;
}

void reco__chol_solve(const double *L, int d, double *b) {
  for (int i = 0; i < d; i++) { /* L y = b */
    const double *Li = L + (size_t)i * d;
    double t = 0;
#pragma omp simd reduction(+ : t)
    for (int p = 0; p < i; p++) t += Li[p] * b[p];
    b[i] = (b[i] - t) / Li[i];
  }
  for (int i = d - 1; i >= 0; i--) { /* L^T x = y, column by column */
    const double *Li = L + (size_t)i * d;
    b[i] /= Li[i];
    for (int p = 0; p < i; p++) b[p] -= Li[p] * b[i];
  }
}

/* ---- row-strided factor matrices of the SGD family (svd, svdpp, nmf) ---- */

/*
 * out[i] += q_i . p for every item: cblas_sgemv over blocks of rows holding fewer than 2304 x 4
 * matrix entries, below which OpenBLAS (GEMM_MULTITHREAD_THRESHOLD 4) computes on the calling
 * thread. One big call would be handed to BLAS threads whenever score() runs outside a parallel
 * region; on shared cores that hand-off cost ~8 ms per request instead of ~35 us.
 */
void reco__factors_score_rows(const float *q, int32_t n, int k, int stride, const float *p, float *out) {
  int32_t step = RECO_MAX(1, 9000 / stride);
  for (int32_t i = 0; i < n; i += step)
    cblas_sgemv(CblasRowMajor, CblasNoTrans, RECO_MIN(step, n - i), k, 1.0f, q + (size_t)i * stride, stride, p, 1, 1.0f,
                out + i, 1);
}

int reco__factors_save_rows(reco_mf_writer *w, const char *name, const float *a, int32_t rows, int k, int kp) {
  float *buf = reco__malloc((size_t)(rows ? rows : 1) * k * sizeof *buf);
  if (!buf) return reco__seterr(RECO_ENOMEM, "out of memory saving %s", name);
  for (int32_t r = 0; r < rows; r++) memcpy(buf + (size_t)r * k, a + (size_t)r * kp, (size_t)k * sizeof *buf);
  int rc = reco__mf_section(w, name, RECO_DT_F32, buf, (uint64_t)rows * k);
  reco__free(buf);
  return rc;
}

int reco__factors_load_rows(const reco_mf_reader *r, const char *name, float *a, int32_t rows, int k, int kp) {
  const void *data;
  uint64_t n;
  int rc = reco__mf_get(r, name, RECO_DT_F32, &data, &n);
  if (rc) return rc;
  if (n != (uint64_t)rows * k)
    return reco__seterr(RECO_EFORMAT, "section %s has %llu values, expected %d x %d", name, (unsigned long long)n, rows, k);
  for (int32_t x = 0; x < rows; x++) memcpy(a + (size_t)x * kp, (const float *)data + (size_t)x * k, (size_t)k * sizeof *a);
  return 0;
}


int reco__factors_similar_rows(const float *q, int32_t n, int k, int stride, int32_t item, int top, int32_t *out_items,
                               float *out_scores) {
  if (item < 0 || item >= n) return reco__seterr(RECO_ENOTFOUND, "item index %d outside the model (%d items)", item, n);
  if (top <= 0) return 0;
  if (top > 1024) top = 1024;
  float hs[top];
  int32_t hi[top];
  reco_topk heap = {.k = top, .n = 0, .score = hs, .id = hi};
  const float *x = q + (size_t)item * stride;
  float nx = sqrtf(reco__fdot(x, x, k));
  if (nx == 0) return 0;
  for (int32_t j = 0; j < n; j++) {
    if (j == item) continue;
    const float *y = q + (size_t)j * stride;
    float ny = sqrtf(reco__fdot(y, y, k));
    if (ny == 0) continue;
    reco__topk_push(&heap, reco__fdot(x, y, k) / (nx * ny), j);
  }
  int cnt = reco__topk_sort(&heap);
  for (int j = 0; j < cnt; j++) {
    out_items[j] = hi[j];
    if (out_scores) out_scores[j] = hs[j];
  }
  return cnt;
}
