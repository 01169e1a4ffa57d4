/*
 * slopeone.c - Slope One (Lemire & Maclachlan 2005). For items j and i rated together by the
 * users S_ji (c_ji = |S_ji| of them), the average deviation
 *   dev_ji = sum_{u in S_ji} (r_uj - r_ui) / c_ji
 * and the Weighted Slope One prediction
 *   P(u)_j = sum_{i in R(u), i != j} (dev_ji + r_ui) c_ji / sum_{i in R(u), i != j} c_ji;
 * with weighted = false, the plain Slope One average over the relevant items (every pair
 * weighted 1). Deviations are stored sparsely, one row per item sorted by the other item's
 * index, so memory follows the co-rated pairs and not n_items^2; pairs with c_ji <
 * min_support are dropped. Rows are computed in parallel from the user rows.
 * dev_ij = -dev_ji, so the same rows serve ranking: score() folds a view's history in by
 * walking each history item's row, so a new user needs no retraining. As a ranker it is
 * poor (items with a few high co-ratings float up); it is here for rating prediction.
 */
#include "algo.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

static const reco_param_spec k_params[] = {
    {"weighted", RECO_P_BOOL, 1, 0, 1, NULL, "weight each deviation by its support c_ji (Weighted Slope One)"},
    {"min_support", RECO_P_INT, 1, 1, 1e9, NULL, "users who rated both items needed to keep a pair"},
};

typedef struct slope_state {
  int64_t *ptr; /* per item j: pairs (idx = i, dev = dev_ji, cnt = c_ji) sorted by i */
  int32_t *idx;
  float *dev;
  int32_t *cnt;
  int64_t *uptr; /* training ratings by user (for predict) */
  int32_t *uitem;
  float *uval;
  float *umean;
  bool weighted;
} slope_state;

static void slope_free(reco_model *m) {
  slope_state *s = m->state;
  if (!s) return;
  void *arrays[] = {s->ptr, s->idx, s->dev, s->cnt, s->uptr, s->uitem, s->uval, s->umean};
  for (size_t j = 0; j < RECO_ARRAY_LEN(arrays); j++) reco__free_aligned(arrays[j]);
  reco__free(s);
  m->state = NULL;
}

static void *aalloc(size_t n, size_t size) { return reco__aligned_alloc((n ? n : 1) * size); }

static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

/* Row j's pairs into (idx, dev, cnt) from the dense accumulators; returns the count. */
static int64_t row_pairs(const reco_dataset *d, int32_t j, int min_support, double *sum, int32_t *c, int32_t *touched,
                         int32_t *idx, float *dev, int32_t *cnt, bool write) {
  int32_t nt = 0;
  for (int64_t p = d->iptr[j]; p < d->iptr[j + 1]; p++) {
    int32_t u = d->iuser[p];
    float ruj = d->ival[p];
    for (int64_t q = d->uptr[u]; q < d->uptr[u + 1]; q++) {
      int32_t i = d->uitem[q];
      if (i == j) continue;
      if (!c[i]++) touched[nt++] = i;
      sum[i] += ruj - d->uval[q];
    }
  }
  /* touched in first-seen order; the output wants index order */
  int64_t n = 0;
  if (write) qsort(touched, (size_t)nt, sizeof *touched, cmp_i32);
  for (int32_t x = 0; x < nt; x++) {
    int32_t i = touched[x];
    if (c[i] >= min_support) {
      if (write) {
        idx[n] = i;
        dev[n] = (float)(sum[i] / c[i]);
        cnt[n] = c[i];
      }
      n++;
    }
    c[i] = 0;
    sum[i] = 0;
  }
  return n;
}

static int slope_fit(reco_model *m, const reco_dataset *d, const reco_progress *pr) {
  slope_state *s = reco__calloc(1, sizeof *s);
  if (!s) return reco__seterr(RECO_ENOMEM, "out of memory for slopeone");
  m->state = s;
  s->weighted = reco__model_param(m, "weighted") != 0;
  int min_support = (int)reco__model_param(m, "min_support");
  int32_t ni = d->n_items, nu = d->n_users;
  s->ptr = aalloc((size_t)ni + 1, sizeof *s->ptr);
  s->uptr = aalloc((size_t)nu + 1, sizeof *s->uptr);
  s->uitem = aalloc(d->nnz, sizeof *s->uitem);
  s->uval = aalloc(d->nnz, sizeof *s->uval);
  s->umean = aalloc((size_t)nu, sizeof *s->umean);
  int nth = omp_get_max_threads();
  double **sum = reco__calloc((size_t)nth, sizeof *sum);
  int32_t **c = reco__calloc((size_t)nth, sizeof *c), **touched = reco__calloc((size_t)nth, sizeof *touched);
  int rc = 0;
  if (!s->ptr || !s->uptr || !s->uitem || !s->uval || !s->umean || !sum || !c || !touched) rc = RECO_ENOMEM;
  for (int t = 0; !rc && t < nth; t++) {
    sum[t] = reco__calloc((size_t)(ni ? ni : 1), sizeof **sum);
    c[t] = reco__calloc((size_t)(ni ? ni : 1), sizeof **c);
    touched[t] = reco__malloc((size_t)(ni ? ni : 1) * sizeof **touched);
    if (!sum[t] || !c[t] || !touched[t]) rc = RECO_ENOMEM;
  }
  if (rc) {
    rc = reco__seterr(RECO_ENOMEM, "out of memory for slopeone");
    goto done;
  }
  memcpy(s->uptr, d->uptr, ((size_t)nu + 1) * sizeof *s->uptr);
  memcpy(s->uitem, d->uitem, d->nnz * sizeof *s->uitem);
  memcpy(s->uval, d->uval, d->nnz * sizeof *s->uval);
  for (int32_t u = 0; u < nu; u++) {
    double z = 0;
    for (int64_t p = d->uptr[u]; p < d->uptr[u + 1]; p++) z += d->uval[p];
    s->umean[u] =
        d->uptr[u + 1] > d->uptr[u] ? (float)(z / (double)(d->uptr[u + 1] - d->uptr[u])) : (float)m->global_mean;
  }
  /* pass 1 counts each row's pairs, pass 2 writes them in place */
  s->ptr[0] = 0;
#pragma omp parallel for schedule(dynamic, 16) num_threads(nth)
  for (int32_t j = 0; j < ni; j++) {
    int t = omp_get_thread_num();
    s->ptr[j + 1] = row_pairs(d, j, min_support, sum[t], c[t], touched[t], NULL, NULL, NULL, false);
  }
  for (int32_t j = 0; j < ni; j++) s->ptr[j + 1] += s->ptr[j];
  size_t np = (size_t)s->ptr[ni];
  s->idx = aalloc(np, sizeof *s->idx);
  s->dev = aalloc(np, sizeof *s->dev);
  s->cnt = aalloc(np, sizeof *s->cnt);
  if (!s->idx || !s->dev || !s->cnt) {
    rc = reco__seterr(RECO_ENOMEM, "out of memory for %zu slopeone pairs", np);
    goto done;
  }
  rc = reco__progress(pr, "slopeone", 1, 2, NULL);
  if (rc) goto done;
#pragma omp parallel for schedule(dynamic, 16) num_threads(nth)
  for (int32_t j = 0; j < ni; j++) {
    int t = omp_get_thread_num();
    int64_t o = s->ptr[j];
    row_pairs(d, j, min_support, sum[t], c[t], touched[t], s->idx + o, s->dev + o, s->cnt + o, true);
  }
  rc = reco__progress(pr, "slopeone", 2, 2, NULL);
done:
  for (int t = 0; t < nth; t++) {
    if (sum) reco__free(sum[t]);
    if (c) reco__free(c[t]);
    if (touched) reco__free(touched[t]);
  }
  reco__free(sum);
  reco__free(c);
  reco__free(touched);
  return rc;
}

/* Binary search of row j for item i: the pair's position or -1. */
static int64_t find_pair(const slope_state *s, int32_t j, int32_t i) {
  int64_t lo = s->ptr[j], hi = s->ptr[j + 1] - 1;
  while (lo <= hi) {
    int64_t mid = (lo + hi) >> 1;
    if (s->idx[mid] == i) return mid;
    if (s->idx[mid] < i)
      lo = mid + 1;
    else
      hi = mid - 1;
  }
  return -1;
}

static float slope_predict(const reco_model *m, int32_t u, int32_t j) {
  const slope_state *s = m->state;
  bool ku = u >= 0 && u < m->n_users;
  if (!ku) return (float)m->global_mean;
  if (j < 0 || j >= m->n_items) return s->umean[u];
  double num = 0, den = 0;
  for (int64_t p = s->uptr[u]; p < s->uptr[u + 1]; p++) {
    int64_t q = find_pair(s, j, s->uitem[p]);
    if (q < 0) continue;
    double w = s->weighted ? s->cnt[q] : 1;
    num += (s->dev[q] + s->uval[p]) * w;
    den += w;
  }
  return den > 0 ? (float)(num / den) : s->umean[u];
}

/*
 * Predicted rating of every item from the view's history: history item i with rating r adds
 * (r - dev_ij) c_ij to j's numerator (dev_ji = -dev_ij) and c_ij to its denominator. Items no
 * history item reaches get the history's mean, less a little, so they rank last.
 */
static int slope_score(const reco_model *m, const reco_user_view *v, float *out) {
  const slope_state *s = m->state;
  int32_t ni = m->n_items;
  float *den = reco__calloc((size_t)(ni ? ni : 1), sizeof *den);
  if (!den) return reco__seterr(RECO_ENOMEM, "out of memory");
  memset(out, 0, (size_t)ni * sizeof *out);
  double mean = 0;
  size_t nh = 0;
  for (size_t h = 0; h < v->n; h++) {
    int32_t i = v->items[h];
    if (i < 0 || i >= ni) continue;
    float r = v->values ? v->values[h] : 1.0f;
    mean += r;
    nh++;
    for (int64_t q = s->ptr[i]; q < s->ptr[i + 1]; q++) {
      float w = s->weighted ? (float)s->cnt[q] : 1.0f;
      out[s->idx[q]] += (r - s->dev[q]) * w;
      den[s->idx[q]] += w;
    }
  }
  float fallback = (float)(nh ? mean / (double)nh : m->global_mean) - 1e3f;
  for (int32_t j = 0; j < ni; j++) out[j] = den[j] > 0 ? out[j] / den[j] : fallback;
  reco__free(den);
  return 0;
}

/* Contribution of each history item to the predicted rating of `item` (they sum to it). */
static int slope_explain(const reco_model *m, const reco_user_view *v, int32_t item, int k, int32_t *out_items,
                         float *out_weights) {
  const slope_state *s = m->state;
  if (item < 0 || item >= m->n_items) return reco__seterr(RECO_ENOTFOUND, "item %d is unknown to the model", item);
  if (k <= 0) return 0;
  double den = 0;
  for (size_t h = 0; h < v->n; h++) {
    int32_t i = v->items[h];
    if (i < 0 || i >= m->n_items) continue;
    int64_t q = find_pair(s, item, i);
    if (q >= 0) den += s->weighted ? s->cnt[q] : 1;
  }
  if (den <= 0) return 0;
  reco_topk heap;
  int rc = reco__topk_init(&heap, k);
  if (rc) return rc;
  for (size_t h = 0; h < v->n; h++) {
    int32_t i = v->items[h];
    if (i < 0 || i >= m->n_items) continue;
    int64_t q = find_pair(s, item, i);
    if (q < 0) continue;
    float r = v->values ? v->values[h] : 1.0f;
    reco__topk_push(&heap, (float)((s->dev[q] + r) * (s->weighted ? s->cnt[q] : 1) / den), i);
  }
  int n = reco__topk_sort(&heap);
  for (int x = 0; x < n; x++) {
    out_items[x] = heap.id[x];
    if (out_weights) out_weights[x] = heap.score[x];
  }
  reco__topk_free(&heap);
  return n;
}

static int slope_save(const reco_model *m, reco_mf_writer *w) {
  const slope_state *s = m->state;
  uint64_t np = (uint64_t)s->ptr[m->n_items], nnz = (uint64_t)s->uptr[m->n_users];
  int rc;
  if ((rc = reco__mf_section(w, "ptr", RECO_DT_I64, s->ptr, (uint64_t)m->n_items + 1)) ||
      (rc = reco__mf_section(w, "idx", RECO_DT_I32, s->idx, np)) ||
      (rc = reco__mf_section(w, "dev", RECO_DT_F32, s->dev, np)) ||
      (rc = reco__mf_section(w, "cnt", RECO_DT_I32, s->cnt, np)) ||
      (rc = reco__mf_section(w, "uptr", RECO_DT_I64, s->uptr, (uint64_t)m->n_users + 1)) ||
      (rc = reco__mf_section(w, "uitem", RECO_DT_I32, s->uitem, nnz)) ||
      (rc = reco__mf_section(w, "uval", RECO_DT_F32, s->uval, nnz)))
    return rc;
  return reco__mf_section(w, "umean", RECO_DT_F32, s->umean, (uint64_t)m->n_users);
}

static int check_csr(const int64_t *ptr, int32_t n_rows, const int32_t *idx, int32_t n_cols, uint64_t nnz,
                     const char *what) {
  if (ptr[0] != 0 || (uint64_t)ptr[n_rows] != nnz) return reco__seterr(RECO_EFORMAT, "section %s: bad extent", what);
  for (int32_t a = 0; a < n_rows; a++)
    if (ptr[a + 1] < ptr[a]) return reco__seterr(RECO_EFORMAT, "section %s is not monotone", what);
  for (uint64_t p = 0; p < nnz; p++)
    if (idx[p] < 0 || idx[p] >= n_cols) return reco__seterr(RECO_EFORMAT, "section %s: index out of range", what);
  return 0;
}

static int slope_load(reco_model *m, const reco_mf_reader *r) {
  slope_state *s = reco__calloc(1, sizeof *s);
  if (!s) return reco__seterr(RECO_ENOMEM, "out of memory for slopeone");
  m->state = s;
  s->weighted = reco__model_param(m, "weighted") != 0;
  uint64_t np = 0, nnz = 0;
  int rc;
  if ((rc = reco__mf_copy(r, "ptr", RECO_DT_I64, (int64_t)m->n_items + 1, (void **)&s->ptr, NULL)) ||
      (rc = reco__mf_copy(r, "idx", RECO_DT_I32, -1, (void **)&s->idx, &np)) ||
      (rc = check_csr(s->ptr, m->n_items, s->idx, m->n_items, np, "ptr")) ||
      (rc = reco__mf_copy(r, "dev", RECO_DT_F32, (int64_t)np, (void **)&s->dev, NULL)) ||
      (rc = reco__mf_copy(r, "cnt", RECO_DT_I32, (int64_t)np, (void **)&s->cnt, NULL)) ||
      (rc = reco__mf_copy(r, "uptr", RECO_DT_I64, (int64_t)m->n_users + 1, (void **)&s->uptr, NULL)) ||
      (rc = reco__mf_copy(r, "uitem", RECO_DT_I32, -1, (void **)&s->uitem, &nnz)) ||
      (rc = check_csr(s->uptr, m->n_users, s->uitem, m->n_items, nnz, "uptr")) ||
      (rc = reco__mf_copy(r, "uval", RECO_DT_F32, (int64_t)nnz, (void **)&s->uval, NULL)))
    return rc;
  return reco__mf_copy(r, "umean", RECO_DT_F32, m->n_users, (void **)&s->umean, NULL);
}

const reco_algo reco__algo_slopeone = {
    .name = "slopeone",
    .summary = "Weighted Slope One: average rating deviations between co-rated items (Lemire & Maclachlan 2005)",
    .caps = RECO_CAP_RATING | RECO_CAP_RANKING | RECO_CAP_FOLDIN,
    .params = k_params,
    .n_params = RECO_ARRAY_LEN(k_params),
    .fit = slope_fit,
    .predict = slope_predict,
    .score = slope_score,
    .explain = slope_explain,
    .save = slope_save,
    .load = slope_load,
    .free_state = slope_free,
};
