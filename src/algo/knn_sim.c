/*
 * knn_sim.c - similarity tables for the neighbourhood models. For rows a, b of a sparse matrix
 * with values x (row a) and y (row b) over their n common columns:
 *
 *   cosine            sum x*y / (|a|^(2 alpha) |b|^(2 (1 - alpha))) with full row norms
 *                     (missing entries are zeros; Sarwar et al. 2001, section 3.1.1);
 *                     alpha != 0.5 is the asymmetric cosine of Aiolli 2013
 *   adjusted_cosine   sum x*y / sqrt(sum x^2 sum y^2) over the common columns, the caller having
 *                     centred every entry by its column's mean (Sarwar et al. 2001, 3.1.3)
 *   pearson           (n sum xy - sum x sum y) / sqrt((n sum x^2 - (sum x)^2)(n sum y^2 - (sum y)^2)),
 *                     Pearson's correlation over the common columns (Herlocker et al. 1999)
 *   pearson_baseline  sum x*y / sqrt(sum x^2 sum y^2) over the common columns of the residuals
 *                     x = r - b_ui of the baseline predictor, shrunk by (n - 1) / (n - 1 +
 *                     shrink) (Koren 2010, "Factor in the neighbors", section 2.2)
 *   jaccard           n / (|a| + |b| - n) on the patterns alone
 *   msd               1 / (1 + sum (x - y)^2 / n) (Shardanand & Maes 1995)
 *
 * Every kind but pearson_baseline is shrunk by n / (n + shrink) (Koren 2008, section 2.2),
 * pairs with n < min_support are dropped, and the kept positive values may be raised to a
 * power (the "locality" q of Aiolli 2013). Row a's accumulators are dense arrays indexed by
 * the other row, filled by walking a's columns through the transpose and reset through a list
 * of the rows touched, so each thread's memory is O(n_rows) whatever the data size, and the
 * work is sum over columns of (column length)^2.
 */
#include "knn_sim.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

double reco__knn_finish(const reco_knn_opts *o, double n, double sxy, double sxx, double syy, double sx, double sy,
                        double na, double nb, double norm_a, double norm_b) {
  double s = 0, den;
  switch (o->kind) {
    case RECO_KNN_COSINE:
      den = norm_a * norm_b;
      s = den > 0 ? sxy / den : 0;
      break;
    case RECO_KNN_ADJCOS:
    case RECO_KNN_PEARSON_BASELINE:
      den = sqrt(sxx * syy);
      s = den > 0 ? sxy / den : 0;
      break;
    case RECO_KNN_PEARSON:
      den = (n * sxx - sx * sx) * (n * syy - sy * sy);
      s = den > 0 ? (n * sxy - sx * sy) / sqrt(den) : 0;
      break;
    case RECO_KNN_JACCARD:
      den = na + nb - n;
      s = den > 0 ? n / den : 0;
      break;
    case RECO_KNN_MSD:
      s = 1 / (1 + (sxx + syy - 2 * sxy) / n);
      break;
  }
  if (o->shrink > 0) {
    if (o->kind == RECO_KNN_PEARSON_BASELINE)
      s *= (n - 1) / (n - 1 + o->shrink);
    else
      s *= n / (n + o->shrink);
  }
  return s;
}

void reco__knn_table_free(reco_knn_table *t) {
  reco__free_aligned(t->ptr);
  reco__free_aligned(t->idx);
  reco__free_aligned(t->sim);
  memset(t, 0, sizeof *t);
}

/* Sorts one row best first (ties by index), insertion sort: rows are short. */
static void sort_row(int32_t *idx, float *sim, int64_t n) {
  for (int64_t x = 1; x < n; x++) {
    int32_t id = idx[x];
    float sv = sim[x];
    int64_t y = x;
    while (y > 0 && !reco__topk_better(sim[y - 1], idx[y - 1], sv, id)) {
      idx[y] = idx[y - 1];
      sim[y] = sim[y - 1];
      y--;
    }
    idx[y] = id;
    sim[y] = sv;
  }
}

int reco__knn_table_transpose(const reco_knn_table *in, int32_t n_cols, reco_knn_table *out) {
  memset(out, 0, sizeof *out);
  size_t nnz = (size_t)in->ptr[in->n_rows];
  out->n_rows = n_cols;
  out->ptr = reco__aligned_calloc((size_t)(n_cols + 1) * sizeof *out->ptr);
  out->idx = reco__aligned_alloc((nnz ? nnz : 1) * sizeof *out->idx);
  out->sim = reco__aligned_alloc((nnz ? nnz : 1) * sizeof *out->sim);
  int64_t *cur = reco__malloc((size_t)(n_cols ? n_cols : 1) * sizeof *cur);
  if (!out->ptr || !out->idx || !out->sim || !cur) {
    reco__free(cur);
    reco__knn_table_free(out);
    return reco__seterr(RECO_ENOMEM, "out of memory transposing similarities");
  }
  for (size_t p = 0; p < nnz; p++) out->ptr[in->idx[p] + 1]++;
  for (int32_t b = 0; b < n_cols; b++) out->ptr[b + 1] += out->ptr[b];
  memcpy(cur, out->ptr, (size_t)n_cols * sizeof *cur);
  for (int32_t a = 0; a < in->n_rows; a++)
    for (int64_t p = in->ptr[a]; p < in->ptr[a + 1]; p++) {
      int64_t q = cur[in->idx[p]]++;
      out->idx[q] = a;
      out->sim[q] = in->sim[p];
    }
  reco__free(cur);
  for (int32_t b = 0; b < n_cols; b++)
    sort_row(out->idx + out->ptr[b], out->sim + out->ptr[b], out->ptr[b + 1] - out->ptr[b]);
  return 0;
}

size_t reco__knn_table_bytes(const reco_knn_table *t) {
  if (!t->ptr) return 0;
  size_t nnz = (size_t)t->ptr[t->n_rows];
  return (size_t)(t->n_rows + 1) * sizeof(int64_t) + nnz * (sizeof(int32_t) + sizeof(float));
}

/* One thread's accumulators for the rows compared with the current row. */
typedef struct sim_acc {
  int32_t *cnt, *touched;
  double *sxy, *sxx, *syy, *sx, *sy; /* the last four only for the kinds that need them */
  reco_topk heap;
} sim_acc;

static void acc_free(sim_acc *a) {
  reco__free(a->cnt);
  reco__free(a->touched);
  reco__free(a->sxy);
  reco__free(a->sxx);
  reco__free(a->syy);
  reco__free(a->sx);
  reco__free(a->sy);
  reco__topk_free(&a->heap);
  memset(a, 0, sizeof *a);
}

static int acc_init(sim_acc *a, int32_t n, bool full, int keep) {
  memset(a, 0, sizeof *a);
  size_t m = (size_t)(n ? n : 1);
  a->cnt = reco__calloc(m, sizeof *a->cnt);
  a->touched = reco__malloc(m * sizeof *a->touched);
  a->sxy = reco__calloc(m, sizeof *a->sxy);
  if (full) {
    a->sxx = reco__calloc(m, sizeof(double));
    a->syy = reco__calloc(m, sizeof(double));
    a->sx = reco__calloc(m, sizeof(double));
    a->sy = reco__calloc(m, sizeof(double));
  }
  if (!a->cnt || !a->touched || !a->sxy || (full && (!a->sxx || !a->syy || !a->sx || !a->sy)) ||
      reco__topk_init(&a->heap, keep)) {
    acc_free(a);
    return RECO_ENOMEM;
  }
  return 0;
}

/* Neighbours of row a into slot[0..keep), returns how many. */
static int row_neighbours(const reco_knn_mat *rows, const reco_knn_mat *cols, const reco_knn_opts *o,
                          const double *norm, const double *norm_b, bool full, int32_t a, sim_acc *acc,
                          int32_t *slot_idx, float *slot_sim) {
  int32_t nt = 0;
  for (int64_t p = rows->ptr[a]; p < rows->ptr[a + 1]; p++) {
    int32_t c = rows->idx[p];
    double x = rows->val ? rows->val[p] : 1.0;
    for (int64_t q = cols->ptr[c]; q < cols->ptr[c + 1]; q++) {
      int32_t b = cols->idx[q];
      if (b == a) continue;
      double y = cols->val ? cols->val[q] : 1.0;
      if (!acc->cnt[b]++) acc->touched[nt++] = b;
      acc->sxy[b] += x * y;
      if (full) {
        acc->sxx[b] += x * x;
        acc->syy[b] += y * y;
        acc->sx[b] += x;
        acc->sy[b] += y;
      }
    }
  }
  reco__topk_reset(&acc->heap);
  double na = (double)(rows->ptr[a + 1] - rows->ptr[a]);
  for (int32_t t = 0; t < nt; t++) {
    int32_t b = acc->touched[t];
    double n = acc->cnt[b];
    if (n >= o->min_support) {
      double s;
      if (full)
        s = reco__knn_finish(o, n, acc->sxy[b], acc->sxx[b], acc->syy[b], acc->sx[b], acc->sy[b], na,
                             (double)(rows->ptr[b + 1] - rows->ptr[b]), 0, 0);
      else
        s = reco__knn_finish(o, n, acc->sxy[b], 0, 0, 0, 0, na, (double)(rows->ptr[b + 1] - rows->ptr[b]),
                             norm ? norm[a] : 0, norm ? norm_b[b] : 0);
      if (isfinite(s) && (!o->positive || s > 0)) reco__topk_push(&acc->heap, (float)s, b);
    }
    acc->cnt[b] = 0;
    acc->sxy[b] = 0;
    if (full) acc->sxx[b] = acc->syy[b] = acc->sx[b] = acc->sy[b] = 0;
  }
  int n = reco__topk_sort(&acc->heap);
  memcpy(slot_idx, acc->heap.id, (size_t)n * sizeof *slot_idx);
  memcpy(slot_sim, acc->heap.score, (size_t)n * sizeof *slot_sim);
  /* a power is monotone on positive values: applying it after selection keeps the order */
  if (o->power != 1)
    for (int x = 0; x < n; x++)
      if (slot_sim[x] > 0) slot_sim[x] = powf(slot_sim[x], (float)o->power);
  return n;
}

int reco__knn_build(const reco_knn_mat *rows, const reco_knn_mat *cols, const reco_knn_opts *o, const reco_progress *pr,
                    const char *stage, reco_knn_table *out) {
  memset(out, 0, sizeof *out);
  int32_t n = rows->n_rows;
  int keep = o->keep > 0 ? o->keep : 1;
  if (keep > n) keep = n > 0 ? n : 1;
  bool full = o->kind != RECO_KNN_COSINE && o->kind != RECO_KNN_JACCARD;
  size_t slots = (size_t)(n ? n : 1) * (size_t)keep;
  int32_t *slot_idx = reco__malloc(slots * sizeof *slot_idx);
  float *slot_sim = reco__malloc(slots * sizeof *slot_sim);
  int32_t *len = reco__calloc((size_t)(n ? n : 1), sizeof *len);
  /* cosine: |a|^(2 alpha) for the row, |b|^(2 (1 - alpha)) for the neighbour, computed once */
  double *norm = o->kind == RECO_KNN_COSINE ? reco__calloc((size_t)(n ? n : 1) * 2, sizeof *norm) : NULL;
  double *norm_b = norm ? norm + (n ? n : 1) : NULL;
  int nth = omp_get_max_threads();
  sim_acc *acc = reco__calloc((size_t)nth, sizeof *acc);
  int rc = 0;
  if (!slot_idx || !slot_sim || !len || !acc || (o->kind == RECO_KNN_COSINE && !norm)) rc = RECO_ENOMEM;
  for (int t = 0; !rc && t < nth; t++) rc = acc_init(&acc[t], n, full, keep);
  if (rc) {
    rc = reco__seterr(RECO_ENOMEM, "out of memory for %s similarities", stage);
    goto done;
  }
  if (norm)
    for (int32_t a = 0; a < n; a++) {
      double s = 0;
      for (int64_t p = rows->ptr[a]; p < rows->ptr[a + 1]; p++) {
        double x = rows->val ? rows->val[p] : 1.0;
        s += x * x;
      }
      norm[a] = o->alpha == 0.5 ? sqrt(s) : pow(s, o->alpha);
      norm_b[a] = o->alpha == 0.5 ? sqrt(s) : pow(s, 1 - o->alpha);
    }
  const int32_t block = 1024;
  for (int32_t start = 0; start < n && !rc; start += block) {
    int32_t end = n - start > block ? start + block : n;
#pragma omp parallel for schedule(dynamic, 8) num_threads(nth)
    for (int32_t a = start; a < end; a++) {
      sim_acc *ac = &acc[omp_get_thread_num()];
      len[a] = row_neighbours(rows, cols, o, norm, norm_b, full, a, ac, slot_idx + (size_t)a * keep,
                              slot_sim + (size_t)a * keep);
    }
    rc = reco__progress(pr, stage, end, n, NULL);
  }
  if (rc) goto done;
  out->n_rows = n;
  out->ptr = reco__aligned_alloc((size_t)(n + 1) * sizeof *out->ptr);
  if (!out->ptr) {
    rc = reco__seterr(RECO_ENOMEM, "out of memory for %s similarities", stage);
    goto done;
  }
  out->ptr[0] = 0;
  for (int32_t a = 0; a < n; a++) out->ptr[a + 1] = out->ptr[a] + len[a];
  size_t nnz = (size_t)out->ptr[n];
  out->idx = reco__aligned_alloc((nnz ? nnz : 1) * sizeof *out->idx);
  out->sim = reco__aligned_alloc((nnz ? nnz : 1) * sizeof *out->sim);
  if (!out->idx || !out->sim) {
    rc = reco__seterr(RECO_ENOMEM, "out of memory for %s similarities", stage);
    goto done;
  }
  for (int32_t a = 0; a < n; a++) {
    memcpy(out->idx + out->ptr[a], slot_idx + (size_t)a * keep, (size_t)len[a] * sizeof *out->idx);
    memcpy(out->sim + out->ptr[a], slot_sim + (size_t)a * keep, (size_t)len[a] * sizeof *out->sim);
  }
done:
  if (rc) reco__knn_table_free(out);
  for (int t = 0; acc && t < nth; t++) acc_free(&acc[t]);
  reco__free(acc);
  reco__free(slot_idx);
  reco__free(slot_sim);
  reco__free(len);
  reco__free(norm);
  return rc;
}

int reco__knn_table_save(const reco_knn_table *t, reco_mf_writer *w, const char *prefix) {
  char name[32];
  int rc;
  snprintf(name, sizeof name, "%s_ptr", prefix);
  if ((rc = reco__mf_section(w, name, RECO_DT_I64, t->ptr, (uint64_t)t->n_rows + 1))) return rc;
  uint64_t nnz = (uint64_t)t->ptr[t->n_rows];
  snprintf(name, sizeof name, "%s_idx", prefix);
  if ((rc = reco__mf_section(w, name, RECO_DT_I32, t->idx, nnz))) return rc;
  snprintf(name, sizeof name, "%s_sim", prefix);
  return reco__mf_section(w, name, RECO_DT_F32, t->sim, nnz);
}

int reco__knn_table_load(reco_knn_table *t, const reco_mf_reader *r, const char *prefix, int32_t n_rows,
                         int32_t n_targets) {
  char name[32];
  uint64_t nnz;
  int rc;
  memset(t, 0, sizeof *t);
  t->n_rows = n_rows;
  snprintf(name, sizeof name, "%s_ptr", prefix);
  if ((rc = reco__mf_copy(r, name, RECO_DT_I64, (int64_t)n_rows + 1, (void **)&t->ptr, NULL))) return rc;
  if (t->ptr[0] != 0) return reco__seterr(RECO_EFORMAT, "section %s does not start at 0", name);
  for (int32_t a = 0; a < n_rows; a++)
    if (t->ptr[a + 1] < t->ptr[a]) return reco__seterr(RECO_EFORMAT, "section %s is not monotone", name);
  nnz = (uint64_t)t->ptr[n_rows];
  snprintf(name, sizeof name, "%s_idx", prefix);
  if ((rc = reco__mf_copy(r, name, RECO_DT_I32, (int64_t)nnz, (void **)&t->idx, NULL))) return rc;
  for (uint64_t p = 0; p < nnz; p++)
    if (t->idx[p] < 0 || t->idx[p] >= n_targets)
      return reco__seterr(RECO_EFORMAT, "section %s: index out of range", name);
  snprintf(name, sizeof name, "%s_sim", prefix);
  return reco__mf_copy(r, name, RECO_DT_F32, (int64_t)nnz, (void **)&t->sim, NULL);
}
