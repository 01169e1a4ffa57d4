/*
 * context.c - the `context` model of context.h: per context value, a smoothed log-lift of each
 * item category over its base rate, learned from the training interactions that carry
 * context; the pipeline adds it (weighted) to the candidates' relevance.
 *
 * Features. device and location (dataset context codes), daypart (4 blocks of 6 hours UTC)
 * and weekpart (weekday or weekend), both from the timestamp, and the cross device x daypart
 * (so that "mobile in the evening" can differ from "mobile" plus "evening": the effect the
 * synthetic generator plants is of that form). A feature whose values no interaction carries
 * contributes nothing.
 *
 * Estimator. For feature f and value v, n(v, c) = the interactions with value v whose item is
 * in category c (an item in k categories counts 1/k in each), n(v) = sum_c n(v, c), and the
 * base rate p(c) = sum_v n(v, c) / sum_v n(v) over the interactions where f is known. The lift
 *   L_f(v, c) = log((n(v, c) + a p(c)) / (n(v) + a)) - log p(c)
 * is the log of P(c | v) / P(c) with P(c | v) shrunk toward p(c) by a pseudo-count a
 * (`smoothing`; additive smoothing toward the marginal, as in m-estimates, Cestnik 1990): a
 * rare value says little, a frequent one says what it says. The term of item i in context x
 * is the mean over i's categories of sum_f L_f(x_f, c): a naive-Bayes style sum of per-feature
 * log-likelihood ratios (features treated as independent given the category; the cross
 * feature carries the interaction the independence misses). Categories, not items, carry the
 * lift: a context has enough support per category for the estimate to be stable on a few
 * thousand interactions, where per-item counts would be noise, and an item nobody has seen yet
 * gets its categories' lift.
 *
 * In the pipeline the term is added to the blend's min-max relevance (in [0, 1]) with a weight
 * (the request's, by default the model's `weight` parameter); the weight is chosen on a
 * validation split by bench/bench_context.c (on its synthetic data with context_effect 0.5 the
 * validation NDCG@10 peaks at 0.3 to 0.5 and falls at 1; 0.3 is the default; on data without
 * a context effect every weight up to 0.5 is within 0.3% of none). Session affinity (same-category
 * share with the session's recent items, up to RECO_CTX_MAX_SESSION of them) is added the same
 * way with its own weight.
 *
 * context_popular (cold start): count_i x exp(term_i) = the item's popularity times the
 * estimated P(category | context) / P(category): popularity among interactions in that
 * context, under the assumption that an item's share within its categories does not depend on
 * the context (which keeps the model O(categories) per value instead of O(items)).
 *
 * Exploration slots (reco__rec_explore): new items get no exposure from collaborative members
 * (nobody had them, so nobody's neighbours or factors point at them), so a few page positions
 * are reserved for the new items the content model ranks highest for the view, handed to the
 * pipeline as pins at evenly spread positions; the cost and the reach are measured by
 * bench/bench_explore.c.
 *
 * Storage: the lifts (values x categories floats), the per-item interaction counts, the item
 * categories (CSR) and the two dictionaries, all in the model file. Categories beyond
 * RECO_CTX_MAX_CATS are ignored (their lift is 0), which bounds the per-request table.
 */
#include "context.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define RECO_CTX_MAX_CATS 1024
#define RECO_CTX_MAX_SESSION 64
#define RECO_CTX_MAX_EXPLORE 16

enum { CF_DEVICE = 0, CF_LOCATION, CF_DAYPART, CF_WEEKPART, CF_DEVDAY, CF__N };

static const reco_param_spec k_params[] = {
    {"smoothing", RECO_P_FLOAT, 20, 0, 1e9, NULL, "pseudo-count shrinking P(category | context) toward the base rate"},
    {"weight", RECO_P_FLOAT, 0.3, 0, 100, NULL, "default weight of the context term on the pipeline's relevance"},
};

typedef struct ctx_state {
  int32_t C;              /* categories with a lift */
  int32_t n_dev, n_loc;   /* dictionary sizes */
  int32_t off[CF__N + 1]; /* value v of feature f is row off[f] + v of lift */
  float *lift;            /* off[CF__N] x C */
  float *count;           /* n_items: training interactions per item */
  int64_t *cat_ptr;       /* n_items + 1 */
  int32_t *cat_idx;
  reco_idmap *names[RECO_CTX__STORED];
} ctx_state;

static void ctx_free(reco_model *m) {
  ctx_state *s = m->state;
  if (!s) return;
  /* aligned: model file sections are copied into aligned buffers, fit allocates alike */
  reco__free_aligned(s->lift);
  reco__free_aligned(s->count);
  reco__free_aligned(s->cat_ptr);
  reco__free_aligned(s->cat_idx);
  for (int f = 0; f < RECO_CTX__STORED; f++) reco__idmap_unref(s->names[f]);
  reco__free(s);
  m->state = NULL;
}

static void shape(ctx_state *s) {
  int32_t n[CF__N] = {s->n_dev + 1, s->n_loc + 1, 4, 2, (s->n_dev + 1) * 4};
  s->off[0] = 0;
  for (int f = 0; f < CF__N; f++) s->off[f + 1] = s->off[f] + n[f];
}

/* Row of each feature for context c (-1 = unknown). */
static void rows_of(const ctx_state *s, const reco_rec_context *c, int32_t row[CF__N]) {
  row[CF_DEVICE] = c->device > 0 && c->device <= s->n_dev ? s->off[CF_DEVICE] + c->device : -1;
  row[CF_LOCATION] = c->location > 0 && c->location <= s->n_loc ? s->off[CF_LOCATION] + c->location : -1;
  row[CF_DAYPART] = c->daypart >= 0 && c->daypart < 4 ? s->off[CF_DAYPART] + c->daypart : -1;
  row[CF_WEEKPART] = c->weekpart >= 0 && c->weekpart < 2 ? s->off[CF_WEEKPART] + c->weekpart : -1;
  row[CF_DEVDAY] = row[CF_DEVICE] >= 0 && row[CF_DAYPART] >= 0 ? s->off[CF_DEVDAY] + c->device * 4 + c->daypart : -1;
}

static int ctx_fit(reco_model *m, const reco_dataset *train, const reco_progress *pr) {
  (void)pr;
  ctx_state *s = reco__calloc(1, sizeof *s);
  if (!s) return reco__seterr(RECO_ENOMEM, "context: out of memory");
  m->state = s;
  const reco_itemmeta *meta = train->meta;
  int32_t n = m->n_items;
  s->C = meta && meta->cats && meta->cat_ptr ? RECO_MIN(reco__idmap_size(meta->cats), RECO_CTX_MAX_CATS) : 0;
  for (int f = 0; f < RECO_CTX__STORED; f++)
    if (train->ctx[f] && train->ctx_names[f]) s->names[f] = reco__idmap_ref(train->ctx_names[f]);
  s->n_dev = s->names[RECO_CTX_DEVICE] ? reco__idmap_size(s->names[RECO_CTX_DEVICE]) : 0;
  s->n_loc = s->names[RECO_CTX_LOCATION] ? reco__idmap_size(s->names[RECO_CTX_LOCATION]) : 0;
  shape(s);
  size_t rows = (size_t)s->off[CF__N], C = (size_t)(s->C ? s->C : 1);
  s->lift = reco__aligned_calloc(rows * C * sizeof *s->lift);
  s->count = reco__aligned_calloc((size_t)(n ? n : 1) * sizeof *s->count);
  s->cat_ptr = reco__aligned_calloc(((size_t)n + 1) * sizeof *s->cat_ptr);
  double *cnt = reco__calloc(rows * C, sizeof *cnt), *tot = reco__calloc(rows, sizeof *tot);
  int rc = 0;
  if (!s->lift || !s->count || !s->cat_ptr || !cnt || !tot) {
    rc = reco__seterr(RECO_ENOMEM, "context: out of memory");
    goto out;
  }
  /* item categories (those below the cap), copied so the model stands alone */
  int64_t nnz = 0;
  for (int32_t i = 0; i < n; i++) {
    if (s->C && i < meta->n_items)
      for (int64_t p = meta->cat_ptr[i]; p < meta->cat_ptr[i + 1]; p++) nnz += meta->cat_idx[p] < s->C;
    s->cat_ptr[i + 1] = nnz;
  }
  s->cat_idx = reco__aligned_alloc((size_t)(nnz ? nnz : 1) * sizeof *s->cat_idx);
  if (!s->cat_idx) {
    rc = reco__seterr(RECO_ENOMEM, "context: out of memory");
    goto out;
  }
  for (int32_t i = 0, q = 0; s->C && i < n && i < meta->n_items; i++)
    for (int64_t p = meta->cat_ptr[i]; p < meta->cat_ptr[i + 1]; p++)
      if (meta->cat_idx[p] < s->C) s->cat_idx[q++] = meta->cat_idx[p];
  /* counts per (feature value, category) */
  for (size_t k = 0; k < train->n; k++) {
    int32_t i = train->i[k];
    if (i < 0 || i >= n) continue;
    s->count[i] += 1;
    int64_t a = s->cat_ptr[i], b = s->cat_ptr[i + 1];
    if (b <= a) continue;
    reco_rec_context c = RECO_CTX_UNKNOWN;
    if (train->ctx[RECO_CTX_DEVICE]) c.device = train->ctx[RECO_CTX_DEVICE][k];
    if (train->ctx[RECO_CTX_LOCATION]) c.location = train->ctx[RECO_CTX_LOCATION][k];
    if (train->has_ts && train->ts[k] != 0) {
      c.daypart = reco__ctx_daypart(train->ts[k]);
      c.weekpart = reco__ctx_weekpart(train->ts[k]);
    }
    int32_t row[CF__N];
    rows_of(s, &c, row);
    double wgt = 1.0 / (double)(b - a);
    for (int f = 0; f < CF__N; f++) {
      if (row[f] < 0) continue;
      tot[row[f]] += 1;
      for (int64_t p = a; p < b; p++) cnt[(size_t)row[f] * C + (size_t)s->cat_idx[p]] += wgt;
    }
  }
  /* lifts, shrunk toward each feature's base rate */
  double alpha = reco__model_param(m, "smoothing");
  for (int f = 0; f < CF__N; f++) {
    double base[RECO_CTX_MAX_CATS] = {0}, all = 0;
    for (int32_t r = s->off[f]; r < s->off[f + 1]; r++) {
      all += tot[r];
      for (int32_t c = 0; c < s->C; c++) base[c] += cnt[(size_t)r * C + (size_t)c];
    }
    if (!(all > 0)) continue;
    for (int32_t c = 0; c < s->C; c++) base[c] /= all;
    for (int32_t r = s->off[f]; r < s->off[f + 1]; r++) {
      if (!(tot[r] > 0)) continue;
      for (int32_t c = 0; c < s->C; c++) {
        if (!(base[c] > 0)) continue;
        double pc = (cnt[(size_t)r * C + (size_t)c] + alpha * base[c]) / (tot[r] + alpha);
        s->lift[(size_t)r * C + (size_t)c] = (float)(log(pc > 1e-12 ? pc : 1e-12) - log(base[c]));
      }
    }
  }
  snprintf(m->fit_info, sizeof m->fit_info, "{\"categories\": %d, \"devices\": %d, \"locations\": %d}", s->C, s->n_dev,
           s->n_loc);
out:
  reco__free(cnt);
  reco__free(tot);
  return rc;
}

/* Popularity: the context-free answer (and what an unknown context gets). */
static int ctx_score(const reco_model *m, const reco_user_view *v, float *out) {
  (void)v;
  const ctx_state *s = m->state;
  if (!s) return reco__seterr(RECO_ESTATE, "context: model not fitted");
  memcpy(out, s->count, (size_t)m->n_items * sizeof *out);
  return 0;
}

/* Summed lift per category for context c into cl[0..C); returns false when no feature is known. */
static bool category_lifts(const ctx_state *s, const reco_rec_context *c, float *cl) {
  int32_t row[CF__N];
  rows_of(s, c, row);
  bool any = false;
  for (int32_t k = 0; k < s->C; k++) cl[k] = 0;
  for (int f = 0; f < CF__N; f++) {
    if (row[f] < 0) continue;
    any = true;
    const float *l = s->lift + (size_t)row[f] * (size_t)s->C;
    for (int32_t k = 0; k < s->C; k++) cl[k] += l[k];
  }
  return any && s->C > 0;
}

static float item_term(const ctx_state *s, const float *cl, int32_t i) {
  int64_t a = s->cat_ptr[i], b = s->cat_ptr[i + 1];
  if (b <= a) return 0;
  float t = 0;
  for (int64_t p = a; p < b; p++) t += cl[s->cat_idx[p]];
  return t / (float)(b - a);
}

static bool is_context(const reco_model *m) { return m && m->algo == &reco__algo_context && m->state; }

float reco__context_weight(const reco_model *m) {
  return is_context(m) ? (float)reco__model_param(m, "weight") : 0.0f;
}

float reco__context_term(const reco_model *m, const reco_rec_context *c, int32_t item) {
  if (!is_context(m) || item < 0 || item >= m->n_items) return 0;
  const ctx_state *s = m->state;
  float cl[RECO_CTX_MAX_CATS];
  return category_lifts(s, c, cl) ? item_term(s, cl, item) : 0.0f;
}

int reco__context_popular(const reco_model *m, const reco_rec_context *c, float *out) {
  if (!is_context(m)) return reco__seterr(RECO_EINVAL, "context_popular needs a fitted `context` model");
  const ctx_state *s = m->state;
  float cl[RECO_CTX_MAX_CATS];
  bool any = category_lifts(s, c, cl);
  for (int32_t i = 0; i < m->n_items; i++) out[i] = any ? s->count[i] * expf(item_term(s, cl, i)) : s->count[i];
  return 0;
}

int reco__context_codes(const reco_model *m, const char *device, const char *location, int64_t ts,
                        reco_rec_context *out) {
  *out = RECO_CTX_UNKNOWN;
  if (!is_context(m)) return reco__seterr(RECO_EINVAL, "not a fitted `context` model");
  const ctx_state *s = m->state;
  const char *val[RECO_CTX__STORED] = {device, location};
  int *dst[RECO_CTX__STORED] = {&out->device, &out->location};
  for (int f = 0; f < RECO_CTX__STORED; f++)
    if (val[f] && *val[f] && s->names[f]) *dst[f] = reco__idmap_get(s->names[f], val[f], strlen(val[f])) + 1;
  if (ts >= 0) {
    out->daypart = reco__ctx_daypart(ts);
    out->weekpart = reco__ctx_weekpart(ts);
  }
  return 0;
}

void reco__context_of_entry(const reco_model *m, const reco_dataset *ds, size_t k, reco_rec_context *out) {
  const char *val[RECO_CTX__STORED] = {NULL, NULL};
  for (int f = 0; f < RECO_CTX__STORED; f++)
    if (ds->ctx[f] && ds->ctx[f][k]) val[f] = reco__idmap_str(ds->ctx_names[f], ds->ctx[f][k] - 1);
  reco__context_codes(m, val[0], val[1], ds->has_ts && ds->ts[k] != 0 ? ds->ts[k] : -1, out);
}

/* Categories of item i: from the context model when there is one, else from meta. */
static void cats_of(const ctx_state *s, const reco_itemmeta *meta, int32_t i, const int32_t **p, int *n) {
  *p = NULL;
  *n = 0;
  if (s) {
    *p = s->cat_idx + s->cat_ptr[i];
    *n = (int)(s->cat_ptr[i + 1] - s->cat_ptr[i]);
  } else if (meta && meta->cat_ptr && i < meta->n_items) {
    *p = meta->cat_idx + meta->cat_ptr[i];
    *n = (int)(meta->cat_ptr[i + 1] - meta->cat_ptr[i]);
  }
}

void reco__context_rerank(const reco_model *ctx_model, const reco_rec_context *c, float w_ctx,
                          const reco_itemmeta *meta, const int32_t *session, size_t n_session, float w_sess,
                          const int32_t *items, float *rel, int n) {
  const ctx_state *s = is_context(ctx_model) ? ctx_model->state : NULL;
  int32_t n_items = s ? ctx_model->n_items : (meta ? meta->n_items : 0);
  float cl[RECO_CTX_MAX_CATS];
  if (s && c && w_ctx > 0 && category_lifts(s, c, cl))
    for (int j = 0; j < n; j++)
      if (items[j] >= 0 && items[j] < n_items) rel[j] += w_ctx * item_term(s, cl, items[j]);
  if (!(w_sess > 0) || !n_session || !session) return;
  /* the most recent RECO_CTX_MAX_SESSION items (the caller's order: oldest first) */
  size_t first = n_session > RECO_CTX_MAX_SESSION ? n_session - RECO_CTX_MAX_SESSION : 0, ns = n_session - first;
  for (int j = 0; j < n; j++) {
    int32_t i = items[j];
    if (i < 0 || i >= n_items) continue;
    const int32_t *ci;
    int nci;
    cats_of(s, meta, i, &ci, &nci);
    if (!nci) continue;
    int hits = 0;
    for (size_t x = first; x < n_session; x++) {
      int32_t q = session[x];
      if (q < 0 || q >= n_items) continue;
      const int32_t *cq;
      int ncq;
      cats_of(s, meta, q, &cq, &ncq);
      bool share = false;
      for (int a = 0; a < nci && !share; a++)
        for (int b = 0; b < ncq && !share; b++) share = ci[a] == cq[b];
      hits += share;
    }
    rel[j] += w_sess * (float)hits / (float)ns;
  }
}

/* ---- exploration slots ---- */

int reco__rec_explore(const reco_model *em, const reco_user_view *v, const float *item_count, float max_count,
                      const uint8_t *eligible, int n_slots, int k, float *scratch, int32_t *pin_items,
                      int32_t *pin_positions) {
  if (!em || !em->algo->score || !item_count || n_slots < 0 || k < 1)
    return reco__seterr(RECO_EINVAL, "explore: needs a ranking model, item counts, slots >= 0 and k >= 1");
  if (n_slots > RECO_CTX_MAX_EXPLORE) n_slots = RECO_CTX_MAX_EXPLORE;
  if (n_slots == 0) return 0;
  int rc = em->algo->score(em, v, scratch);
  if (rc) return rc;
  /* best n_slots new items by (score, lower index): a small insertion list */
  float bs[RECO_CTX_MAX_EXPLORE];
  int n = 0;
  for (int32_t i = 0; i < em->n_items; i++) {
    if (!(item_count[i] < max_count) || !isfinite(scratch[i]) || (eligible && !eligible[i])) continue;
    if (n == n_slots && !(scratch[i] > bs[n - 1])) continue;
    bool seen = false; /* only for items that would enter the list: O(|history|) each */
    for (size_t j = 0; j < v->n && !seen; j++) seen = v->items[j] == i;
    if (seen) continue;
    int p = n < n_slots ? n++ : n - 1;
    while (p > 0 && scratch[i] > bs[p - 1]) {
      bs[p] = bs[p - 1];
      pin_items[p] = pin_items[p - 1];
      p--;
    }
    bs[p] = scratch[i];
    pin_items[p] = i;
  }
  for (int j = 0; j < n; j++) pin_positions[j] = (int32_t)((int64_t)(j + 1) * k / (n_slots + 1));
  return n;
}

/* ---- save / load ---- */

static int save_names(reco_mf_writer *w, const char *section, const reco_idmap *map) {
  size_t len = 0;
  int32_t n = map ? reco__idmap_size(map) : 0;
  for (int32_t k = 0; k < n; k++) len += strlen(reco__idmap_str(map, k)) + 1;
  char *buf = reco__malloc(len ? len : 1), *p = buf;
  if (!buf) return reco__seterr(RECO_ENOMEM, "context: out of memory");
  for (int32_t k = 0; k < n; k++) {
    size_t l = strlen(reco__idmap_str(map, k)) + 1;
    memcpy(p, reco__idmap_str(map, k), l);
    p += l;
  }
  int rc = reco__mf_section(w, section, RECO_DT_BYTES, buf, len);
  reco__free(buf);
  return rc;
}

static int ctx_save(const reco_model *m, reco_mf_writer *w) {
  const ctx_state *s = m->state;
  if (!s) return reco__seterr(RECO_ESTATE, "context: model not fitted");
  int32_t shp[3] = {s->C, s->n_dev, s->n_loc};
  int rc = reco__mf_section(w, "ctx_shape", RECO_DT_I32, shp, 3);
  if (!rc) rc = reco__mf_section(w, "ctx_lift", RECO_DT_F32, s->lift, (uint64_t)s->off[CF__N] * (uint64_t)s->C);
  if (!rc) rc = reco__mf_section(w, "ctx_count", RECO_DT_F32, s->count, (uint64_t)m->n_items);
  if (!rc) rc = reco__mf_section(w, "ctx_cat_ptr", RECO_DT_I64, s->cat_ptr, (uint64_t)m->n_items + 1);
  if (!rc) rc = reco__mf_section(w, "ctx_cat_idx", RECO_DT_I32, s->cat_idx, (uint64_t)s->cat_ptr[m->n_items]);
  if (!rc) rc = save_names(w, "ctx_names_device", s->names[RECO_CTX_DEVICE]);
  if (!rc) rc = save_names(w, "ctx_names_location", s->names[RECO_CTX_LOCATION]);
  return rc;
}

static int load_names(const reco_mf_reader *r, const char *section, int32_t expect, reco_idmap **out) {
  const void *pv;
  uint64_t len;
  int rc = reco__mf_get(r, section, RECO_DT_BYTES, &pv, &len);
  if (rc) return rc;
  if (!(*out = reco__idmap_new())) return reco__seterr(RECO_ENOMEM, "context: out of memory");
  const char *p = pv, *end = p + len;
  while (p < end) {
    const char *z = memchr(p, '\0', (size_t)(end - p));
    if (!z) return reco__seterr(RECO_EFORMAT, "context: %s is not NUL-terminated", section);
    if (reco__idmap_add(*out, p, (size_t)(z - p)) < 0) return reco__seterr(RECO_ENOMEM, "context: out of memory");
    p = z + 1;
  }
  if (reco__idmap_size(*out) != expect)
    return reco__seterr(RECO_EFORMAT, "context: %s has %d names, expected %d", section, reco__idmap_size(*out), expect);
  return 0;
}

static int ctx_load(reco_model *m, const reco_mf_reader *r) {
  ctx_state *s = reco__calloc(1, sizeof *s);
  if (!s) return reco__seterr(RECO_ENOMEM, "context: out of memory");
  m->state = s;
  void *shp;
  uint64_t cnt;
  int rc = reco__mf_copy(r, "ctx_shape", RECO_DT_I32, 3, &shp, &cnt);
  if (rc) return rc;
  memcpy(&s->C, shp, sizeof(int32_t));
  memcpy(&s->n_dev, (int32_t *)shp + 1, sizeof(int32_t));
  memcpy(&s->n_loc, (int32_t *)shp + 2, sizeof(int32_t));
  reco__free_aligned(shp);
  if (s->C < 0 || s->C > RECO_CTX_MAX_CATS || s->n_dev < 0 || s->n_dev >= RECO_CTX_MAX_VALUES || s->n_loc < 0 ||
      s->n_loc >= RECO_CTX_MAX_VALUES)
    return reco__seterr(RECO_EFORMAT, "context: ctx_shape out of range");
  shape(s);
  void *p;
  if ((rc = reco__mf_copy(r, "ctx_lift", RECO_DT_F32, (int64_t)s->off[CF__N] * s->C, &p, &cnt))) return rc;
  s->lift = p;
  if ((rc = reco__mf_copy(r, "ctx_count", RECO_DT_F32, m->n_items, &p, &cnt))) return rc;
  s->count = p;
  if ((rc = reco__mf_copy(r, "ctx_cat_ptr", RECO_DT_I64, (int64_t)m->n_items + 1, &p, &cnt))) return rc;
  s->cat_ptr = p;
  if ((rc = reco__mf_copy(r, "ctx_cat_idx", RECO_DT_I32, -1, &p, &cnt))) return rc;
  s->cat_idx = p;
  if (s->cat_ptr[0] != 0 || s->cat_ptr[m->n_items] != (int64_t)cnt)
    return reco__seterr(RECO_EFORMAT, "context: item categories do not match their index");
  for (int32_t i = 0; i < m->n_items; i++)
    if (s->cat_ptr[i + 1] < s->cat_ptr[i]) return reco__seterr(RECO_EFORMAT, "context: item categories out of order");
  for (uint64_t q = 0; q < cnt; q++)
    if (s->cat_idx[q] < 0 || s->cat_idx[q] >= s->C) return reco__seterr(RECO_EFORMAT, "context: category out of range");
  if ((rc = load_names(r, "ctx_names_device", s->n_dev, &s->names[RECO_CTX_DEVICE]))) return rc;
  return load_names(r, "ctx_names_location", s->n_loc, &s->names[RECO_CTX_LOCATION]);
}

const reco_algo reco__algo_context = {
    .name = "context",
    .summary = "context model: per device/location/time-of-day category lifts for the pipeline (scores: popularity)",
    .caps = RECO_CAP_RANKING | RECO_CAP_FOLDIN,
    .params = k_params,
    .n_params = RECO_ARRAY_LEN(k_params),
    .fit = ctx_fit,
    .score = ctx_score,
    .save = ctx_save,
    .load = ctx_load,
    .free_state = ctx_free,
};
