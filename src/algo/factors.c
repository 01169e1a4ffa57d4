/*
 * factors.c - shared machinery of the latent-factor models (see factors.h for the layout).
 *
 * Batch top-N (reco__factors_topk_batch). For a block of B users and a tile of T items the
 * scores are one sgemm, S = U_B V_T^T (B x T, 128 x 2048 floats = 1 MB, so the tile stays in L2
 * while the heaps read it); each user keeps a bounded heap across tiles. Most tiles hold nothing
 * that beats a full heap's worst score, so the scan first tests 16 scores at once against that
 * threshold (a vectorisable comparison) and only then pushes one by one. Exclusions (the user's
 * training items, sorted in the CSR row) are merged in as the scan walks the items in order.
 * Blocks are independent: one per OpenMP thread, sgemm single-threaded inside the region.
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

void reco__factors_score(const reco_factors *f, const float *x, float offset, float *out) {
  if (f->n_items <= 0) return;
  if (f->bi) {
    for (int32_t i = 0; i < f->n_items; i++) out[i] = f->bi[i] + offset;
    cblas_sgemv(CblasRowMajor, CblasNoTrans, f->n_items, f->k, 1.0f, f->V, f->k, x, 1, 1.0f, out, 1);
  } else if (offset != 0) {
    for (int32_t i = 0; i < f->n_items; i++) out[i] = offset;
    cblas_sgemv(CblasRowMajor, CblasNoTrans, f->n_items, f->k, 1.0f, f->V, f->k, x, 1, 1.0f, out, 1);
  } else {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, f->n_items, f->k, 1.0f, f->V, f->k, x, 1, 0.0f, out, 1);
  }
}

void reco__factors_gram(const float *A, int32_t n, int k, float *G) {
  if (n <= 0) {
    memset(G, 0, (size_t)k * (size_t)k * sizeof *G);
    return;
  }
  cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, k, n, 1.0f, A, k, 0.0f, G, k);
  for (int a = 0; a < k; a++)
    for (int b = 0; b < a; b++) G[(size_t)a * k + b] = G[(size_t)b * k + a];
}

/* ---- batch top-N ---- */

enum { TB_USERS = 128, TB_ITEMS = 2048, TB_LANES = 16 };

/* Pushes one tile row into the heap, skipping excluded items (*pos walks the sorted row). */
static void scan_row(reco_topk *h, const float *row, int32_t i0, int ni, const int32_t *ex, int64_t *pos, int64_t end) {
  int64_t p = *pos;
  int32_t next = p < end ? ex[p] : INT32_MAX;
  int j = 0;
  while (j < ni) {
    int stop = j + TB_LANES <= ni ? j + TB_LANES : ni;
    /* fast path: a full heap, no exclusion inside the chunk, nothing reaching the threshold */
    if (h->n == h->k && stop - j == TB_LANES && next >= i0 + stop) {
      float thr = h->score[0];
      int any = 0;
      for (int q = 0; q < TB_LANES; q++) any |= row[j + q] >= thr;
      if (!any) {
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

int reco__factors_topk_batch(const float *U, const float *V, const float *item_bias, int32_t n_users, int32_t n_items,
                             int k, const int32_t *users, size_t n, int top, const reco_dataset *exclude,
                             int32_t *out_items, float *out_scores) {
  if (top <= 0 || n == 0) return 0;
  if (k <= 0) return reco__seterr(RECO_EINVAL, "batch top-N: %d factors", k);
  for (size_t q = 0; q < n; q++)
    if (users[q] < 0 || users[q] >= n_users)
      return reco__seterr(RECO_EINVAL, "batch top-N: user %d outside [0, %d)", users[q], n_users);
  size_t n_blocks = (n + TB_USERS - 1) / TB_USERS;
  int nth = reco_get_threads();
  if ((size_t)nth > n_blocks) nth = (int)n_blocks;
  int failed = 0;
#pragma omp parallel num_threads(nth)
  {
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
      int nb = (int)(n - q0 < TB_USERS ? n - q0 : TB_USERS);
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
      for (int32_t i0 = 0; i0 < n_items; i0 += TB_ITEMS) {
        int ni = n_items - i0 < TB_ITEMS ? n_items - i0 : TB_ITEMS;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, ni, k, 1.0f, Ub, k, V + (size_t)i0 * k, k, 0.0f, S, ni);
        for (int r = 0; r < nb; r++) {
          float *row = S + (size_t)r * ni;
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
    return reco__seterr(RECO_EFORMAT, "similar-items table of %llu entries for %d items", (unsigned long long)cnt, n_items);
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
