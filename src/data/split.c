/* split.c - evaluation splits; see split.h. Every random choice derives from the seed. */
#include "split.h"

#include <stdlib.h>
#include <string.h>

int reco__split_random(const reco_dataset *ds, double frac, uint64_t seed, uint8_t *part) {
  if (!(frac > 0 && frac < 1)) return reco__seterr(RECO_EINVAL, "test fraction %g is not in (0, 1)", frac);
  reco_rng r;
  reco__rng_seed(&r, seed);
  for (size_t k = 0; k < ds->n; k++) part[k] = reco__rng_uniform(&r) < frac ? RECO_PART_TEST : RECO_PART_TRAIN;
  return 0;
}

int reco__split_user_ratio(const reco_dataset *ds, double frac, uint64_t seed, uint8_t *part) {
  if (!(frac > 0 && frac < 1)) return reco__seterr(RECO_EINVAL, "test fraction %g is not in (0, 1)", frac);
  memset(part, RECO_PART_TRAIN, ds->n);
  reco_rng r;
  reco__rng_seed(&r, seed);
  int32_t *rows = NULL;
  size_t cap = 0;
  for (int32_t u = 0; u < ds->n_users; u++) {
    int64_t a = ds->uptr[u], b = ds->uptr[u + 1];
    size_t len = (size_t)(b - a);
    if (len < 2) continue;
    if (RECO_GROW(rows, cap, len)) {
      reco__free(rows);
      return RECO_ENOMEM;
    }
    for (size_t x = 0; x < len; x++) rows[x] = ds->urow[a + (int64_t)x];
    reco__rng_shuffle_i32(&r, rows, len);
    size_t nt = (size_t)(frac * (double)len + 0.5);
    if (nt >= len) nt = len - 1;
    for (size_t x = 0; x < nt; x++) part[rows[x]] = RECO_PART_TEST;
  }
  /* duplicates of a (user, item) pair follow the pair's representative */
  for (size_t k = 0; k < ds->n; k++) {
    int64_t p = reco__ds_find(ds, ds->u[k], ds->i[k]);
    if (p >= 0) part[k] = part[ds->urow[p]];
  }
  reco__free(rows);
  return 0;
}

int reco__split_kfold(const reco_dataset *ds, int k, int fold, uint64_t seed, uint8_t *part) {
  if (k < 2 || fold < 0 || fold >= k) return reco__seterr(RECO_EINVAL, "fold %d of %d", fold, k);
  int32_t *perm = reco__malloc((ds->n ? ds->n : 1) * sizeof *perm);
  if (!perm) return reco__seterr(RECO_ENOMEM, "out of memory for k-fold");
  for (size_t x = 0; x < ds->n; x++) perm[x] = (int32_t)x;
  reco_rng r;
  reco__rng_seed(&r, seed);
  reco__rng_shuffle_i32(&r, perm, ds->n);
  for (size_t x = 0; x < ds->n; x++) part[perm[x]] = (x % (size_t)k) == (size_t)fold ? RECO_PART_TEST : RECO_PART_TRAIN;
  reco__free(perm);
  return 0;
}

/* is COO entry a later than b for a user's timeline? (timestamp, then item index) */
static inline bool later(const reco_dataset *ds, int32_t a, int32_t b) {
  return ds->ts[a] > ds->ts[b] || (ds->ts[a] == ds->ts[b] && ds->i[a] > ds->i[b]);
}

int reco__split_loo(const reco_dataset *ds, bool validation, uint8_t *part) {
  memset(part, RECO_PART_TRAIN, ds->n);
  for (int32_t u = 0; u < ds->n_users; u++) {
    int64_t a = ds->uptr[u], b = ds->uptr[u + 1];
    if (b - a < (validation ? 3 : 2)) continue;
    int32_t first = -1, second = -1; /* COO rows of the latest and second-latest pairs */
    for (int64_t p = a; p < b; p++) {
      int32_t k = ds->urow[p];
      if (first < 0 || later(ds, k, first)) {
        second = first;
        first = k;
      } else if (second < 0 || later(ds, k, second)) {
        second = k;
      }
    }
    part[first] = RECO_PART_TEST;
    if (validation) part[second] = RECO_PART_VALID;
  }
  /* every duplicate of a held-out pair is held out with it, so it cannot leak into train */
  for (size_t k = 0; k < ds->n; k++) {
    int64_t p = reco__ds_find(ds, ds->u[k], ds->i[k]);
    if (p >= 0) part[k] = part[ds->urow[p]];
  }
  return 0;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

int reco__split_temporal(const reco_dataset *ds, double frac, uint8_t *part) {
  if (!(frac > 0 && frac < 1)) return reco__seterr(RECO_EINVAL, "test fraction %g is not in (0, 1)", frac);
  if (ds->n == 0) return 0;
  int64_t *t = reco__malloc(ds->n * sizeof *t);
  if (!t) return reco__seterr(RECO_ENOMEM, "out of memory for a temporal split");
  memcpy(t, ds->ts, ds->n * sizeof *t);
  qsort(t, ds->n, sizeof *t, cmp_i64);
  size_t cut = (size_t)((1.0 - frac) * (double)ds->n);
  if (cut >= ds->n) cut = ds->n - 1;
  int64_t tc = t[cut];
  reco__free(t);
  for (size_t k = 0; k < ds->n; k++) part[k] = ds->ts[k] >= tc ? RECO_PART_TEST : RECO_PART_TRAIN;
  return 0;
}

int reco__split_pick(int32_t n, double frac, uint64_t seed, uint8_t *sel) {
  if (!(frac > 0 && frac < 1)) return reco__seterr(RECO_EINVAL, "fraction %g is not in (0, 1)", frac);
  int32_t *perm = reco__malloc((size_t)(n ? n : 1) * sizeof *perm);
  if (!perm) return reco__seterr(RECO_ENOMEM, "out of memory");
  for (int32_t x = 0; x < n; x++) perm[x] = x;
  reco_rng r;
  reco__rng_seed(&r, seed);
  reco__rng_shuffle_i32(&r, perm, (size_t)n);
  memset(sel, 0, (size_t)n);
  int32_t m = (int32_t)(frac * n + 0.5);
  for (int32_t x = 0; x < m; x++) sel[perm[x]] = 1;
  reco__free(perm);
  return 0;
}

int reco__sample_negatives(const reco_dataset *ds, const int32_t *users, size_t n_users, int n, uint64_t seed,
                           int32_t *out) {
  for (size_t x = 0; x < n_users; x++) {
    int32_t u = users[x];
    int64_t deg = (u >= 0 && u < ds->n_users) ? ds->uptr[u + 1] - ds->uptr[u] : 0;
    if (ds->n_items - deg < n)
      return reco__seterr(RECO_EINVAL, "user %s has only %lld items without interactions, %d negatives asked",
                          reco__idmap_str(ds->users, u), (long long)(ds->n_items - deg), n);
    /* one stream per user, so a user's negatives do not depend on who else is evaluated */
    reco_rng r;
    reco__rng_seed(&r, seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(u + 1)));
    int32_t *o = out + x * (size_t)n;
    for (int j = 0; j < n;) {
      int32_t c = (int32_t)reco__rng_below(&r, (uint64_t)ds->n_items);
      if (reco__ds_find(ds, u, c) >= 0) continue;
      bool dup = false;
      for (int q = 0; q < j && !dup; q++) dup = o[q] == c;
      if (dup) continue;
      o[j++] = c;
    }
  }
  return 0;
}
