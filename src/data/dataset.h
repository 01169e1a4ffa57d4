/*
 * dataset.h - the in-memory dataset: users, items, interactions and item metadata.
 *
 * Layout (contiguous arrays, no per-interaction allocation):
 *   - COO arrays u[], i[], v[], ts[], type[] in load order (n entries);
 *   - CSR by user (uptr/uitem/uval/urow) and by item (iptr/iuser/ival/irow), one entry per
 *     distinct (user, item) pair: duplicates are merged by the dataset's merge policy (the
 *     latest interaction wins by default). Within a row, entries are sorted by column index.
 *     urow/irow point back to the COO entry the value came from (for its timestamp and type);
 *   - id maps shared (refcounted) between a dataset and the splits made from it, so an index
 *     means the same user or item in train and test;
 *   - item metadata (titles, categories, tags, text, price, year) shared the same way.
 * A dataset is immutable once reco__ds_finalize() has run; any number of threads may read it.
 */
#ifndef RECO_DATASET_H
#define RECO_DATASET_H

#include "../base/base.h"

/* Interaction types, ordered by strength of evidence (DESIGN: configurable weights). */
typedef enum {
  RECO_EV_RATING = 0,
  RECO_EV_VIEW,
  RECO_EV_CLICK,
  RECO_EV_CART,
  RECO_EV_PURCHASE,
  RECO_EV_LIKE,
  RECO_EV_DISLIKE,
  RECO_EV_SKIP,
  RECO_EV__COUNT
} reco_event;
const char *reco__event_name(int type);
int reco__event_parse(const char *s, size_t len); /* -1 if unknown */

typedef enum { RECO_MERGE_LAST = 0, RECO_MERGE_MAX, RECO_MERGE_SUM } reco_merge;

/*
 * Per-interaction context, optional. Stored features are small integer codes into string
 * dictionaries (code = dictionary index + 1, 0 = unknown; at most RECO_CTX_MAX_VALUES - 1
 * distinct strings per feature, later ones are stored as unknown so the arrays stay one byte
 * per interaction). Time of day and weekday are not stored: they follow from ts (UTC), see
 * reco__ctx_daypart and reco__ctx_weekpart.
 */
enum { RECO_CTX_DEVICE = 0, RECO_CTX_LOCATION, RECO_CTX__STORED };
#define RECO_CTX_MAX_VALUES 256
const char *reco__ctx_feature_name(int feature); /* "device", "location" */
/* 0 night [0, 6), 1 morning [6, 12), 2 afternoon [12, 18), 3 evening [18, 24) hours UTC. */
static inline int reco__ctx_daypart(int64_t ts) {
  int64_t h = ((ts % 86400) + 86400) % 86400 / 3600;
  return (int)(h / 6);
}
/* 0 Monday to Friday, 1 Saturday or Sunday (1970-01-01 was a Thursday). */
static inline int reco__ctx_weekpart(int64_t ts) {
  int64_t d = ts >= 0 ? ts / 86400 : (ts - 86399) / 86400;
  int wd = (int)(((d + 3) % 7 + 7) % 7); /* 0 = Monday */
  return wd >= 5;
}

typedef struct reco_itemmeta {
  int refs;
  int32_t n_items;        /* entries allocated in the per-item arrays below */
  reco_strpool text;      /* titles and free text */
  int64_t *title_off;     /* per item, -1 = none */
  int64_t *desc_off;      /* per item, -1 = none */
  float *price;           /* per item, NAN = unknown */
  int32_t *year;          /* per item, 0 = unknown */
  reco_idmap *cats;       /* category / genre names */
  int64_t *cat_ptr;       /* CSR item -> category ids (n_items + 1) */
  int32_t *cat_idx;
  reco_idmap *tags;       /* tag vocabulary */
  int64_t *tag_ptr;       /* CSR item -> tag ids with counts */
  int32_t *tag_idx;
  int32_t *tag_cnt;
  /* staging (COO) while loading; freed by finalize */
  int32_t *st_cat_item, *st_cat_id;
  size_t st_cat_n, st_cat_cap;
  int32_t *st_tag_item, *st_tag_id;
  size_t st_tag_n, st_tag_cap;
  size_t cap_items;
} reco_itemmeta;

struct reco_dataset {
  reco_idmap *users, *items;
  int32_t n_users, n_items; /* map sizes at finalize (models index 0..n-1) */
  size_t n;                 /* COO interactions */
  size_t cap;
  int32_t *u, *i;
  float *v;
  int64_t *ts;
  uint8_t *type;
  uint8_t *ctx[RECO_CTX__STORED];       /* per COO entry context codes, NULL = feature absent */
  reco_idmap *ctx_names[RECO_CTX__STORED]; /* the codes' strings (shared with splits) */
  bool has_values; /* explicit values present (ratings) */
  bool has_ts;
  float vmin, vmax; /* observed value range */
  double vmean;
  reco_merge merge;
  /* CSR, built by finalize */
  size_t nnz;
  int64_t *uptr; int32_t *uitem; float *uval; int32_t *urow;
  int64_t *iptr; int32_t *iuser; float *ival; int32_t *irow;
  reco_itemmeta *meta; /* may be NULL */
  /* user attributes (ml-100k u.user etc.): free-form "key=value;..." strings, optional */
  reco_strpool uattr;
  int64_t *uattr_off;
  size_t uattr_cap;
  char source[256]; /* path or generator description */
  bool finalized;
};

/* ---- builder (used by loaders, generators and splits) ---- */
reco_dataset *reco__ds_new(void);
/* New empty dataset sharing src's id maps and metadata (for splits). */
reco_dataset *reco__ds_new_like(const reco_dataset *src);
int reco__ds_reserve(reco_dataset *ds, size_t n);
int32_t reco__ds_user(reco_dataset *ds, const char *id, size_t len); /* index, adding */
int32_t reco__ds_item(reco_dataset *ds, const char *id, size_t len);
int reco__ds_add(reco_dataset *ds, int32_t user, int32_t item, float value, int64_t ts, int type);
/* Context of the last added interaction: feature RECO_CTX_*, its value as text (empty = unknown). */
int reco__ds_set_context(reco_dataset *ds, int feature, const char *s, size_t len);
/* Code of a context string (0 when the dataset never saw it or has no such feature). */
uint8_t reco__ds_context_code(const reco_dataset *ds, int feature, const char *s, size_t len);
/* metadata */
int reco__ds_meta(reco_dataset *ds, reco_itemmeta **out); /* creates on first use */
int reco__ds_set_title(reco_dataset *ds, int32_t item, const char *s, size_t len);
int reco__ds_set_text(reco_dataset *ds, int32_t item, const char *s, size_t len);
int reco__ds_set_price(reco_dataset *ds, int32_t item, float price);
int reco__ds_set_year(reco_dataset *ds, int32_t item, int32_t year);
int reco__ds_add_category(reco_dataset *ds, int32_t item, const char *s, size_t len);
int reco__ds_add_tag(reco_dataset *ds, int32_t item, const char *s, size_t len);
int reco__ds_set_user_attr(reco_dataset *ds, int32_t user, const char *s, size_t len);
/* Builds CSRs and statistics; must be called once before the dataset is read. */
int reco__ds_finalize(reco_dataset *ds);

/* Subset of the COO entries with keep[k] != 0, sharing maps and metadata; finalized. */
int reco__ds_subset(const reco_dataset *ds, const uint8_t *keep, reco_dataset **out);
/* 64-bit fingerprint of the interactions (user, item, value, ts) and map sizes. */
uint64_t reco__ds_fingerprint(const reco_dataset *ds);

/* Binary search a user's row for an item; returns the CSR position or -1. */
static inline int64_t reco__ds_find(const reco_dataset *ds, int32_t user, int32_t item) {
  if (user < 0 || user >= ds->n_users) return -1;
  int64_t lo = ds->uptr[user], hi = ds->uptr[user + 1] - 1;
  while (lo <= hi) {
    int64_t mid = (lo + hi) >> 1;
    int32_t c = ds->uitem[mid];
    if (c == item) return mid;
    if (c < item) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

const char *reco__ds_category_name(const reco_dataset *ds, int32_t cat);

#endif
