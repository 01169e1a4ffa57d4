/*
 * dataset.c - building, finalising (CSR), subsetting and querying datasets. See dataset.h for
 * the layout and its invariants.
 */
#include "dataset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const k_event_names[RECO_EV__COUNT] = {
    "rating", "view", "click", "cart", "purchase", "like", "dislike", "skip"};

const char *reco__event_name(int type) {
  return (type >= 0 && type < RECO_EV__COUNT) ? k_event_names[type] : "unknown";
}

int reco__event_parse(const char *s, size_t len) {
  for (int k = 0; k < RECO_EV__COUNT; k++)
    if (strlen(k_event_names[k]) == len && strncmp(k_event_names[k], s, len) == 0) return k;
  if (len == 11 && strncmp(s, "add_to_cart", 11) == 0) return RECO_EV_CART;
  return -1;
}

reco_dataset *reco__ds_new(void) {
  reco_dataset *ds = reco__calloc(1, sizeof *ds);
  if (!ds) return NULL;
  ds->users = reco__idmap_new();
  ds->items = reco__idmap_new();
  if (!ds->users || !ds->items) {
    reco_dataset_free(ds);
    return NULL;
  }
  ds->vmin = INFINITY;
  ds->vmax = -INFINITY;
  return ds;
}

static reco_itemmeta *meta_ref(reco_itemmeta *m) {
  if (m) __atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
  return m;
}

static void meta_unref(reco_itemmeta *m) {
  if (!m || __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) > 0) return;
  reco__strpool_free(&m->text);
  reco__free(m->title_off);
  reco__free(m->desc_off);
  reco__free(m->price);
  reco__free(m->year);
  reco__idmap_unref(m->cats);
  reco__idmap_unref(m->tags);
  reco__free(m->cat_ptr);
  reco__free(m->cat_idx);
  reco__free(m->tag_ptr);
  reco__free(m->tag_idx);
  reco__free(m->tag_cnt);
  reco__free(m->st_cat_item);
  reco__free(m->st_cat_id);
  reco__free(m->st_tag_item);
  reco__free(m->st_tag_id);
  reco__free(m);
}

reco_dataset *reco__ds_new_like(const reco_dataset *src) {
  reco_dataset *ds = reco__calloc(1, sizeof *ds);
  if (!ds) return NULL;
  ds->users = reco__idmap_ref(src->users);
  ds->items = reco__idmap_ref(src->items);
  ds->meta = meta_ref(src->meta);
  ds->vmin = INFINITY;
  ds->vmax = -INFINITY;
  ds->merge = src->merge;
  for (int f = 0; f < RECO_CTX__STORED; f++)
    if (src->ctx_names[f]) ds->ctx_names[f] = reco__idmap_ref(src->ctx_names[f]);
  memcpy(ds->source, src->source, sizeof ds->source);
  return ds;
}

void reco_dataset_free(reco_dataset *ds) {
  if (!ds) return;
  reco__idmap_unref(ds->users);
  reco__idmap_unref(ds->items);
  meta_unref(ds->meta);
  reco__free(ds->u);
  reco__free(ds->i);
  reco__free(ds->v);
  reco__free(ds->ts);
  reco__free(ds->type);
  for (int f = 0; f < RECO_CTX__STORED; f++) {
    reco__free(ds->ctx[f]);
    reco__idmap_unref(ds->ctx_names[f]);
  }
  reco__free(ds->uptr);
  reco__free(ds->uitem);
  reco__free(ds->uval);
  reco__free(ds->urow);
  reco__free(ds->iptr);
  reco__free(ds->iuser);
  reco__free(ds->ival);
  reco__free(ds->irow);
  reco__strpool_free(&ds->uattr);
  reco__free(ds->uattr_off);
  reco__free(ds);
}

int reco__ds_reserve(reco_dataset *ds, size_t n) {
  if (n <= ds->cap) return 0;
  size_t c = ds->cap;
  int32_t *u = reco__realloc(ds->u, n * sizeof *u);
  if (!u) goto oom;
  ds->u = u;
  int32_t *i = reco__realloc(ds->i, n * sizeof *i);
  if (!i) goto oom;
  ds->i = i;
  float *v = reco__realloc(ds->v, n * sizeof *v);
  if (!v) goto oom;
  ds->v = v;
  int64_t *ts = reco__realloc(ds->ts, n * sizeof *ts);
  if (!ts) goto oom;
  ds->ts = ts;
  uint8_t *ty = reco__realloc(ds->type, n * sizeof *ty);
  if (!ty) goto oom;
  ds->type = ty;
  for (int f = 0; f < RECO_CTX__STORED; f++) {
    if (!ds->ctx[f]) continue;
    uint8_t *cx = reco__realloc(ds->ctx[f], n);
    if (!cx) goto oom;
    memset(cx + ds->cap, 0, n - ds->cap);
    ds->ctx[f] = cx;
  }
  ds->cap = n;
  return 0;
oom:
  (void)c;
  return reco__seterr(RECO_ENOMEM, "out of memory reserving %zu interactions", n);
}

int32_t reco__ds_user(reco_dataset *ds, const char *id, size_t len) { return reco__idmap_add(ds->users, id, len); }
int32_t reco__ds_item(reco_dataset *ds, const char *id, size_t len) { return reco__idmap_add(ds->items, id, len); }

int reco__ds_add(reco_dataset *ds, int32_t user, int32_t item, float value, int64_t ts, int type) {
  if (ds->n == ds->cap) {
    int rc = reco__ds_reserve(ds, ds->cap ? ds->cap * 2 : 4096);
    if (rc) return rc;
  }
  size_t k = ds->n++;
  ds->u[k] = user;
  ds->i[k] = item;
  ds->v[k] = value;
  ds->ts[k] = ts;
  ds->type[k] = (uint8_t)type;
  for (int f = 0; f < RECO_CTX__STORED; f++)
    if (ds->ctx[f]) ds->ctx[f][k] = 0;
  return 0;
}

static const char *const k_ctx_names[RECO_CTX__STORED] = {"device", "location"};

const char *reco__ctx_feature_name(int feature) {
  return feature >= 0 && feature < RECO_CTX__STORED ? k_ctx_names[feature] : "unknown";
}

int reco__ds_set_context(reco_dataset *ds, int feature, const char *s, size_t len) {
  if (feature < 0 || feature >= RECO_CTX__STORED || ds->n == 0)
    return reco__seterr(RECO_EINVAL, "context: no interaction or unknown feature %d", feature);
  if (len == 0) return 0;
  if (!ds->ctx_names[feature] && !(ds->ctx_names[feature] = reco__idmap_new()))
    return reco__seterr(RECO_ENOMEM, "out of memory for context names");
  if (!ds->ctx[feature]) { /* first value of this feature: every earlier interaction unknown */
    if (!(ds->ctx[feature] = reco__calloc(ds->cap, 1)))
      return reco__seterr(RECO_ENOMEM, "out of memory for context codes");
  }
  int32_t id = reco__idmap_get(ds->ctx_names[feature], s, len);
  if (id < 0 && reco__idmap_size(ds->ctx_names[feature]) < RECO_CTX_MAX_VALUES - 1) {
    id = reco__idmap_add(ds->ctx_names[feature], s, len);
    if (id < 0) return reco__seterr(RECO_ENOMEM, "out of memory for context names");
  }
  ds->ctx[feature][ds->n - 1] = id >= 0 ? (uint8_t)(id + 1) : 0; /* dictionary full: unknown */
  return 0;
}

uint8_t reco__ds_context_code(const reco_dataset *ds, int feature, const char *s, size_t len) {
  if (feature < 0 || feature >= RECO_CTX__STORED || !ds->ctx_names[feature]) return 0;
  int32_t id = reco__idmap_get(ds->ctx_names[feature], s, len);
  return (uint8_t)(id + 1);
}

/* ---- metadata ---- */

static int meta_grow(reco_itemmeta *m, int32_t item) {
  if ((size_t)item < m->cap_items) return 0;
  size_t nc = m->cap_items ? m->cap_items : 256;
  while (nc <= (size_t)item) nc *= 2;
  int64_t *t = reco__realloc(m->title_off, nc * sizeof *t);
  if (!t) return RECO_ENOMEM;
  m->title_off = t;
  int64_t *d = reco__realloc(m->desc_off, nc * sizeof *d);
  if (!d) return RECO_ENOMEM;
  m->desc_off = d;
  float *p = reco__realloc(m->price, nc * sizeof *p);
  if (!p) return RECO_ENOMEM;
  m->price = p;
  int32_t *y = reco__realloc(m->year, nc * sizeof *y);
  if (!y) return RECO_ENOMEM;
  m->year = y;
  for (size_t k = m->cap_items; k < nc; k++) {
    m->title_off[k] = -1;
    m->desc_off[k] = -1;
    m->price[k] = NAN;
    m->year[k] = 0;
  }
  m->cap_items = nc;
  return 0;
}

int reco__ds_meta(reco_dataset *ds, reco_itemmeta **out) {
  if (!ds->meta) {
    reco_itemmeta *m = reco__calloc(1, sizeof *m);
    if (!m) return reco__seterr(RECO_ENOMEM, "out of memory for item metadata");
    m->refs = 1;
    m->cats = reco__idmap_new();
    m->tags = reco__idmap_new();
    if (!m->cats || !m->tags) {
      meta_unref(m);
      return reco__seterr(RECO_ENOMEM, "out of memory for item metadata");
    }
    ds->meta = m;
  }
  *out = ds->meta;
  return 0;
}

static int meta_for(reco_dataset *ds, int32_t item, reco_itemmeta **out) {
  int rc = reco__ds_meta(ds, out);
  if (rc) return rc;
  if (item < 0) return reco__seterr(RECO_EINVAL, "negative item index");
  if (meta_grow(*out, item)) return reco__seterr(RECO_ENOMEM, "out of memory for item metadata");
  return 0;
}

int reco__ds_set_title(reco_dataset *ds, int32_t item, const char *s, size_t len) {
  reco_itemmeta *m = NULL;
  int rc = meta_for(ds, item, &m);
  if (rc) return rc;
  int64_t off = reco__strpool_add(&m->text, s, len);
  if (off < 0) return RECO_ENOMEM;
  m->title_off[item] = off;
  return 0;
}

int reco__ds_set_text(reco_dataset *ds, int32_t item, const char *s, size_t len) {
  reco_itemmeta *m = NULL;
  int rc = meta_for(ds, item, &m);
  if (rc) return rc;
  int64_t off = reco__strpool_add(&m->text, s, len);
  if (off < 0) return RECO_ENOMEM;
  m->desc_off[item] = off;
  return 0;
}

int reco__ds_set_price(reco_dataset *ds, int32_t item, float price) {
  reco_itemmeta *m = NULL;
  int rc = meta_for(ds, item, &m);
  if (rc) return rc;
  m->price[item] = price;
  return 0;
}

int reco__ds_set_year(reco_dataset *ds, int32_t item, int32_t year) {
  reco_itemmeta *m = NULL;
  int rc = meta_for(ds, item, &m);
  if (rc) return rc;
  m->year[item] = year;
  return 0;
}

int reco__ds_add_category(reco_dataset *ds, int32_t item, const char *s, size_t len) {
  reco_itemmeta *m = NULL;
  int rc = meta_for(ds, item, &m);
  if (rc) return rc;
  int32_t c = reco__idmap_add(m->cats, s, len);
  if (c < 0) return c;
  size_t cap2 = m->st_cat_cap;
  if (RECO_GROW(m->st_cat_item, m->st_cat_cap, m->st_cat_n + 1) || RECO_GROW(m->st_cat_id, cap2, m->st_cat_n + 1))
    return RECO_ENOMEM;
  m->st_cat_item[m->st_cat_n] = item;
  m->st_cat_id[m->st_cat_n++] = c;
  return 0;
}

int reco__ds_add_tag(reco_dataset *ds, int32_t item, const char *s, size_t len) {
  reco_itemmeta *m = NULL;
  int rc = meta_for(ds, item, &m);
  if (rc) return rc;
  int32_t t = reco__idmap_add(m->tags, s, len);
  if (t < 0) return t;
  size_t cap2 = m->st_tag_cap;
  if (RECO_GROW(m->st_tag_item, m->st_tag_cap, m->st_tag_n + 1) || RECO_GROW(m->st_tag_id, cap2, m->st_tag_n + 1))
    return RECO_ENOMEM;
  m->st_tag_item[m->st_tag_n] = item;
  m->st_tag_id[m->st_tag_n++] = t;
  return 0;
}

int reco__ds_set_user_attr(reco_dataset *ds, int32_t user, const char *s, size_t len) {
  if (user < 0) return reco__seterr(RECO_EINVAL, "negative user index");
  size_t old = ds->uattr_cap;
  if (RECO_GROW(ds->uattr_off, ds->uattr_cap, (size_t)user + 1)) return RECO_ENOMEM;
  for (size_t k = old; k < ds->uattr_cap; k++) ds->uattr_off[k] = -1;
  int64_t off = reco__strpool_add(&ds->uattr, s, len);
  if (off < 0) return RECO_ENOMEM;
  ds->uattr_off[user] = off;
  return 0;
}

/* Builds a CSR (ptr/idx/cnt) from staged (row, col) pairs, merging duplicates by counting. */
static int build_pairs_csr(int32_t n_rows, const int32_t *row, const int32_t *col, size_t n, int64_t **ptr_out,
                           int32_t **idx_out, int32_t **cnt_out) {
  int64_t *ptr = reco__calloc((size_t)n_rows + 1, sizeof *ptr);
  int32_t *idx = reco__malloc((n ? n : 1) * sizeof *idx);
  int32_t *cnt = cnt_out ? reco__malloc((n ? n : 1) * sizeof *cnt) : NULL;
  if (!ptr || !idx || (cnt_out && !cnt)) {
    reco__free(ptr);
    reco__free(idx);
    reco__free(cnt);
    return reco__seterr(RECO_ENOMEM, "out of memory building metadata");
  }
  for (size_t k = 0; k < n; k++) ptr[row[k] + 1]++;
  for (int32_t r = 0; r < n_rows; r++) ptr[r + 1] += ptr[r];
  int64_t *fill = reco__malloc(((size_t)n_rows + 1) * sizeof *fill);
  if (!fill) {
    reco__free(ptr);
    reco__free(idx);
    reco__free(cnt);
    return reco__seterr(RECO_ENOMEM, "out of memory building metadata");
  }
  memcpy(fill, ptr, ((size_t)n_rows + 1) * sizeof *fill);
  for (size_t k = 0; k < n; k++) idx[fill[row[k]]++] = col[k];
  reco__free(fill);
  /* sort each row and merge duplicates (insertion sort: rows are short) */
  int64_t w = 0;
  for (int32_t r = 0; r < n_rows; r++) {
    int64_t a = ptr[r], b = ptr[r + 1];
    for (int64_t x = a + 1; x < b; x++) {
      int32_t key = idx[x];
      int64_t y = x - 1;
      while (y >= a && idx[y] > key) {
        idx[y + 1] = idx[y];
        y--;
      }
      idx[y + 1] = key;
    }
    ptr[r] = w;
    for (int64_t x = a; x < b; x++) {
      if (x > a && idx[x] == idx[x - 1]) {
        if (cnt) cnt[w - 1]++;
        continue;
      }
      idx[w] = idx[x];
      if (cnt) cnt[w] = 1;
      w++;
    }
  }
  ptr[n_rows] = w;
  *ptr_out = ptr;
  *idx_out = idx;
  if (cnt_out) *cnt_out = cnt;
  return 0;
}

static int meta_finalize(reco_itemmeta *m, int32_t n_items) {
  if (meta_grow(m, n_items > 0 ? n_items - 1 : 0)) return reco__seterr(RECO_ENOMEM, "out of memory for item metadata");
  m->n_items = n_items;
  if (!m->cat_ptr || m->st_cat_n) {
    reco__free(m->cat_ptr);
    reco__free(m->cat_idx);
    int rc = build_pairs_csr(n_items, m->st_cat_item, m->st_cat_id, m->st_cat_n, &m->cat_ptr, &m->cat_idx, NULL);
    if (rc) return rc;
  }
  if (!m->tag_ptr || m->st_tag_n) {
    reco__free(m->tag_ptr);
    reco__free(m->tag_idx);
    reco__free(m->tag_cnt);
    int rc = build_pairs_csr(n_items, m->st_tag_item, m->st_tag_id, m->st_tag_n, &m->tag_ptr, &m->tag_idx, &m->tag_cnt);
    if (rc) return rc;
  }
  reco__free(m->st_cat_item);
  reco__free(m->st_cat_id);
  reco__free(m->st_tag_item);
  reco__free(m->st_tag_id);
  m->st_cat_item = m->st_cat_id = m->st_tag_item = m->st_tag_id = NULL;
  m->st_cat_n = m->st_cat_cap = m->st_tag_n = m->st_tag_cap = 0;
  return 0;
}

/* later entry k wins over j under the merge policy? (LAST: later timestamp, then later row) */
static inline bool newer(const reco_dataset *ds, int32_t j, int32_t k) {
  return ds->ts[k] > ds->ts[j] || (ds->ts[k] == ds->ts[j] && k > j);
}

/*
 * Builds one CSR orientation: rows by `rowk`, columns `colk`, each row sorted by (column, COO
 * position) in O(n) with two stable counting sorts (by column, then scattered by row), then
 * duplicates (same row and column) merged under the dataset's merge policy.
 */
static int build_csr(reco_dataset *ds, int32_t n_rows, int32_t n_cols, const int32_t *rowk, const int32_t *colk,
                     int64_t **ptr_out, int32_t **col_out, float **val_out, int32_t **row_out, size_t *nnz_out) {
  size_t n = ds->n, nn = n ? n : 1;
  int64_t *ptr = reco__calloc((size_t)n_rows + 1, sizeof *ptr);
  int64_t *cptr = reco__calloc((size_t)n_cols + 1, sizeof *cptr);
  int32_t *bycol = reco__malloc(nn * sizeof *bycol);
  int32_t *ord = reco__malloc(nn * sizeof *ord);
  int32_t *col = reco__malloc(nn * sizeof *col);
  float *val = reco__malloc(nn * sizeof *val);
  int32_t *src = reco__malloc(nn * sizeof *src);
  if (!ptr || !cptr || !bycol || !ord || !col || !val || !src) {
    reco__free(ptr);
    reco__free(cptr);
    reco__free(bycol);
    reco__free(ord);
    reco__free(col);
    reco__free(val);
    reco__free(src);
    return reco__seterr(RECO_ENOMEM, "out of memory building the interaction index");
  }
  for (size_t k = 0; k < n; k++) cptr[colk[k] + 1]++;
  for (int32_t c = 0; c < n_cols; c++) cptr[c + 1] += cptr[c];
  for (size_t k = 0; k < n; k++) bycol[cptr[colk[k]]++] = (int32_t)k;
  for (size_t k = 0; k < n; k++) ptr[rowk[k] + 1]++;
  for (int32_t r = 0; r < n_rows; r++) ptr[r + 1] += ptr[r];
  /* the column cursors are spent; take a row cursor */
  reco__free(cptr);
  int64_t *fill = reco__malloc(((size_t)n_rows + 1) * sizeof *fill);
  if (!fill) {
    reco__free(ptr);
    reco__free(bycol);
    reco__free(ord);
    reco__free(col);
    reco__free(val);
    reco__free(src);
    return reco__seterr(RECO_ENOMEM, "out of memory building the interaction index");
  }
  memcpy(fill, ptr, ((size_t)n_rows + 1) * sizeof *fill);
  for (size_t x = 0; x < n; x++) {
    int32_t k = bycol[x];
    ord[fill[rowk[k]]++] = k;
  }
  reco__free(fill);
  reco__free(bycol);
  int64_t w = 0;
  for (int32_t r = 0; r < n_rows; r++) {
    int64_t a = ptr[r], b = ptr[r + 1], start = w;
    ptr[r] = w;
    for (int64_t x = a; x < b; x++) {
      int32_t k = ord[x];
      if (w > start && col[w - 1] == colk[k]) {
        int32_t j = src[w - 1];
        switch (ds->merge) {
        case RECO_MERGE_LAST:
          if (newer(ds, j, k)) { val[w - 1] = ds->v[k]; src[w - 1] = k; }
          break;
        case RECO_MERGE_MAX:
          if (ds->v[k] > val[w - 1]) { val[w - 1] = ds->v[k]; src[w - 1] = k; }
          break;
        case RECO_MERGE_SUM:
          val[w - 1] += ds->v[k];
          if (newer(ds, j, k)) src[w - 1] = k;
          break;
        }
        continue;
      }
      col[w] = colk[k];
      val[w] = ds->v[k];
      src[w] = k;
      w++;
    }
  }
  ptr[n_rows] = w;
  reco__free(ord);
  *ptr_out = ptr;
  *col_out = col;
  *val_out = val;
  *row_out = src;
  *nnz_out = (size_t)w;
  return 0;
}

int reco__ds_finalize(reco_dataset *ds) {
  if (ds->finalized) return 0;
  ds->n_users = reco__idmap_size(ds->users);
  ds->n_items = reco__idmap_size(ds->items);
  double sum = 0;
  for (size_t k = 0; k < ds->n; k++) {
    float v = ds->v[k];
    if (v < ds->vmin) ds->vmin = v;
    if (v > ds->vmax) ds->vmax = v;
    sum += v;
    if (ds->ts[k] != 0) ds->has_ts = true;
  }
  ds->vmean = ds->n ? sum / (double)ds->n : 0.0;
  if (ds->n == 0) ds->vmin = ds->vmax = 0;
  size_t nnz2 = 0;
  int rc = build_csr(ds, ds->n_users, ds->n_items, ds->u, ds->i, &ds->uptr, &ds->uitem, &ds->uval, &ds->urow, &ds->nnz);
  if (rc) return rc;
  rc = build_csr(ds, ds->n_items, ds->n_users, ds->i, ds->u, &ds->iptr, &ds->iuser, &ds->ival, &ds->irow, &nnz2);
  if (rc) return rc;
  if (ds->meta) {
    rc = meta_finalize(ds->meta, ds->n_items);
    if (rc) return rc;
  }
  ds->finalized = true;
  return 0;
}

int reco__ds_subset(const reco_dataset *ds, const uint8_t *keep, reco_dataset **out) {
  *out = NULL;
  size_t m = 0;
  for (size_t k = 0; k < ds->n; k++) m += keep[k] != 0;
  reco_dataset *s = reco__ds_new_like(ds);
  if (!s) return reco__seterr(RECO_ENOMEM, "out of memory for a split");
  s->has_values = ds->has_values;
  int rc = reco__ds_reserve(s, m ? m : 1);
  for (int f = 0; !rc && f < RECO_CTX__STORED; f++)
    if (ds->ctx[f] && !(s->ctx[f] = reco__calloc(s->cap, 1))) rc = reco__seterr(RECO_ENOMEM, "out of memory for a split");
  if (rc) {
    reco_dataset_free(s);
    return rc;
  }
  for (size_t k = 0; k < ds->n; k++) {
    if (!keep[k]) continue;
    size_t j = s->n++;
    s->u[j] = ds->u[k];
    s->i[j] = ds->i[k];
    s->v[j] = ds->v[k];
    s->ts[j] = ds->ts[k];
    s->type[j] = ds->type[k];
    for (int f = 0; f < RECO_CTX__STORED; f++)
      if (s->ctx[f]) s->ctx[f][j] = ds->ctx[f][k];
  }
  rc = reco__ds_finalize(s);
  if (rc) {
    reco_dataset_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

uint64_t reco__ds_fingerprint(const reco_dataset *ds) {
  uint64_t h = reco__hash_bytes(&ds->n_users, sizeof ds->n_users, ds->n);
  h = reco__hash_bytes(&ds->n_items, sizeof ds->n_items, h);
  if (ds->n) {
    h = reco__hash_bytes(ds->u, ds->n * sizeof *ds->u, h);
    h = reco__hash_bytes(ds->i, ds->n * sizeof *ds->i, h);
    h = reco__hash_bytes(ds->v, ds->n * sizeof *ds->v, h);
    h = reco__hash_bytes(ds->ts, ds->n * sizeof *ds->ts, h);
  }
  return h;
}

const char *reco__ds_category_name(const reco_dataset *ds, int32_t cat) {
  return ds->meta ? reco__idmap_str(ds->meta->cats, cat) : NULL;
}

/* ---- public accessors ---- */
int32_t reco_dataset_n_users(const reco_dataset *ds) { return ds->n_users; }
int32_t reco_dataset_n_items(const reco_dataset *ds) { return ds->n_items; }
size_t reco_dataset_n_interactions(const reco_dataset *ds) { return ds->n; }
const char *reco_dataset_user_id(const reco_dataset *ds, int32_t u) { return reco__idmap_str(ds->users, u); }
const char *reco_dataset_item_id(const reco_dataset *ds, int32_t i) { return reco__idmap_str(ds->items, i); }
int32_t reco_dataset_user_index(const reco_dataset *ds, const char *id) { return reco__idmap_get(ds->users, id, strlen(id)); }
int32_t reco_dataset_item_index(const reco_dataset *ds, const char *id) { return reco__idmap_get(ds->items, id, strlen(id)); }

const char *reco_dataset_item_title(const reco_dataset *ds, int32_t item) {
  if (!ds->meta || item < 0 || item >= ds->meta->n_items || ds->meta->title_off[item] < 0) return NULL;
  return ds->meta->text.buf + ds->meta->title_off[item];
}

size_t reco_dataset_memory(const reco_dataset *ds) {
  size_t b = sizeof *ds;
  b += ds->cap * (2 * sizeof(int32_t) + sizeof(float) + sizeof(int64_t) + 1);
  for (int f = 0; f < RECO_CTX__STORED; f++) b += ds->ctx[f] ? ds->cap : 0; /* one byte per context feature */
  b += ((size_t)ds->n_users + 1 + (size_t)ds->n_items + 1) * sizeof(int64_t);
  b += ds->nnz * 2 * (2 * sizeof(int32_t) + sizeof(float));
  b += reco__idmap_memory(ds->users) + reco__idmap_memory(ds->items);
  if (ds->meta) {
    const reco_itemmeta *m = ds->meta;
    b += m->text.cap + m->cap_items * (2 * sizeof(int64_t) + sizeof(float) + sizeof(int32_t));
    b += reco__idmap_memory(m->cats) + reco__idmap_memory(m->tags);
    if (m->cat_ptr) b += ((size_t)m->n_items + 1) * sizeof(int64_t) + (size_t)m->cat_ptr[m->n_items] * sizeof(int32_t);
    if (m->tag_ptr) b += ((size_t)m->n_items + 1) * sizeof(int64_t) + (size_t)m->tag_ptr[m->n_items] * 2 * sizeof(int32_t);
  }
  return b;
}
