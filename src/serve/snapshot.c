/*
 * snapshot.c - the serving snapshot: every active model of the registry, the catalogue they
 * were trained on (item metadata and user histories), and per-item JSON fragments prepared once
 * so that a request does no work beyond scoring and writing.
 *
 * The model swap (DESIGN.md section 3). Invariants:
 *   1. A snapshot is immutable from the moment srv_snapshot_publish() installs it; any number of
 *      request threads read it without locks.
 *   2. `refs` counts one reference for being current plus one per holder. srv_snapshot_acquire()
 *      takes g_lock only to read g_current and increment its count (a few instructions, never
 *      I/O, loading or training), so a request never waits on a model being built.
 *   3. srv_snapshot_publish() swaps g_current under the same lock, then drops the old current
 *      reference outside it; whoever brings refs to zero frees the snapshot (srv_snapshot_release).
 *      So an old snapshot lives exactly until its last in-flight request finishes.
 * Loading (srv_snapshot_load) happens entirely outside the lock, into a private snapshot.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "data/synth.h"
#include "model/registry.h"
#include "rank/rank.h"
#include "serve.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static srv_snapshot *g_current;
static atomic_uint_fast64_t g_gen; /* bumped by every publish */
atomic_uint_fast64_t srv_filter_gen = 1;

static char *json_quote(const char *s) {
  srv_buf b = {0};
  srv_buf_jstr(&b, s);
  if (b.oom) {
    srv_buf_free(&b);
    return NULL;
  }
  return b.p;
}

static void snapshot_free(srv_snapshot *s) {
  if (!s) return;
  for (int k = 0; k < s->n_models; k++) {
    reco__model_free(s->models[k].m);
    free(s->models[k].m2c);
    free(s->models[k].c2m);
    free(s->models[k].metrics);
    free(s->models[k].meta.cat_ptr);
    free(s->models[k].meta.cat_idx);
    free(s->models[k].rating);
    reco__free_aligned(s->models[k].catvec);
    reco__rec_catindex_free(s->models[k].catidx);
    free(s->models[k].avail);
    free(s->models[k].live_avail);
  }
  for (int32_t i = 0; s->items && i < s->n_items; i++) {
    free(s->items[i].id_json);
    free(s->items[i].title_json);
    free(s->items[i].title);
    free(s->items[i].meta_json);
  }
  free(s->items);
  free(s->f_rating);
  free(s->c_unavail);
  for (int32_t c = 0; s->cat_json && c < s->n_cats; c++) free(s->cat_json[c]);
  free(s->cat_json);
  if (s->cat_ref) srv_catref_release(s->cat_ref); /* shared with other snapshots (catalog.c) */
  else reco_dataset_free(s->cat);
  free(s);
}

srv_snapshot *srv_snapshot_acquire(void) {
  pthread_mutex_lock(&g_lock);
  srv_snapshot *s = g_current;
  if (s) atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
  pthread_mutex_unlock(&g_lock);
  return s;
}

void srv_snapshot_release(srv_snapshot *s) {
  if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) snapshot_free(s);
}

void srv_snapshot_publish(srv_snapshot *s) {
  srv_catalog_publish_lock(s); /* catalog.c: deleted items applied to s; no deletion in between */
  pthread_mutex_lock(&g_lock);
  srv_snapshot *old = g_current;
  g_current = s;
  atomic_fetch_add_explicit(&g_gen, 1, memory_order_release);
  atomic_fetch_add_explicit(&srv_filter_gen, 1, memory_order_release);
  pthread_mutex_unlock(&g_lock);
  srv_cache_invalidate_all(); /* [cache hook] the old snapshot's lists are unreachable: free them (cache.c) */
  srv_catalog_publish_unlock();
  srv_snapshot_release(old);
}

/*
 * The hot path's snapshot: each thread keeps one reference to the snapshot it last used and
 * the publish generation it saw. A request only reads the generation (no lock, no write to a
 * shared cache line, which two cores taking g_lock and bumping refs at 40k requests/s would
 * bounce between them); after a publish the thread's next request swaps its reference. The
 * price: a thread that goes idle keeps the snapshot it last used alive until its next request
 * or its exit (the key's destructor releases it).
 */
static pthread_key_t g_tkey;
static pthread_once_t g_tonce = PTHREAD_ONCE_INIT;
static _Thread_local srv_snapshot *tl_snap;
static _Thread_local uint64_t tl_gen;
static _Thread_local bool tl_valid;

static void thread_snap_free(void *p) { srv_snapshot_release(p); }
static void make_tkey(void) { pthread_key_create(&g_tkey, thread_snap_free); }

srv_snapshot *srv_snapshot_current(void) {
  uint64_t g = atomic_load_explicit(&g_gen, memory_order_acquire);
  if (tl_valid && tl_gen == g) return tl_snap;
  pthread_once(&g_tonce, make_tkey);
  srv_snapshot *old = tl_snap;
  pthread_mutex_lock(&g_lock);
  srv_snapshot *s = g_current;
  if (s) atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
  g = atomic_load_explicit(&g_gen, memory_order_relaxed);
  pthread_mutex_unlock(&g_lock);
  /* the key's value is what the thread's exit releases (setspecific fails only without memory
   * for the thread's key table; then that one reference is never released) */
  (void)pthread_setspecific(g_tkey, s);
  tl_snap = s;
  tl_gen = g;
  tl_valid = true;
  srv_snapshot_release(old);
  return s;
}

void srv_snapshot_thread_release(void) {
  if (!tl_valid) return;
  pthread_once(&g_tonce, make_tkey);
  pthread_setspecific(g_tkey, NULL);
  srv_snapshot_release(tl_snap);
  tl_snap = NULL;
  tl_valid = false;
}

/* ---- names ---- */

/* The seed's algorithm names and the engine algorithms that can answer for each, best first. */
static const struct {
  const char *seed;
  const char *engines[8];
} k_seed_names[] = {
    {"collaborative_filtering", {"itemknn", "userknn", "ease", "slopeone", NULL}},
    {"matrix_factorization", {"ials", "als", "svd", "svdpp", "bpr", "nmf", NULL}},
    {"content_based", {"content", NULL}},
    {"hybrid", {"hybrid", NULL}},
    {"neural_collaborative_filtering", {"ncf", "neumf", NULL}},
};

const char *srv_seed_name(const char *engine) {
  for (size_t j = 0; j < RECO_ARRAY_LEN(k_seed_names); j++)
    for (int e = 0; k_seed_names[j].engines[e]; e++)
      if (!strcmp(engine, k_seed_names[j].engines[e])) return k_seed_names[j].seed;
  return NULL;
}

static int find_loaded(const srv_snapshot *s, const char *engine) {
  for (int k = 0; k < s->n_models; k++)
    if (!strcmp(s->models[k].algo, engine) && s->models[k].m->algo->score) return k;
  return -1;
}

int srv_snapshot_pick(const srv_snapshot *s, const char *name, char *msg, size_t msg_len) {
  int k = find_loaded(s, name);
  if (k >= 0) return k;
  for (size_t j = 0; j < RECO_ARRAY_LEN(k_seed_names); j++) {
    if (strcmp(name, k_seed_names[j].seed)) continue;
    for (int e = 0; k_seed_names[j].engines[e]; e++)
      if ((k = find_loaded(s, k_seed_names[j].engines[e])) >= 0) return k;
    /* hybrid: until an ensemble is published, the best validated ranker stands in (and the
     * response names the model that answered) */
    if (!strcmp(name, "hybrid") && s->best >= 0) return s->best;
    break;
  }
  size_t o = (size_t)snprintf(msg, msg_len, "algorithm '%s' is not available; loaded models:", name);
  for (int m = 0; m < s->n_models && o < msg_len; m++) {
    const char *seed = srv_seed_name(s->models[m].algo);
    o += (size_t)snprintf(msg + o, msg_len - o, "%s %s%s%s%s", m ? "," : "", s->models[m].algo, seed ? " (" : "",
                          seed ? seed : "", seed ? ")" : "");
  }
  if (o < msg_len) snprintf(msg + o, msg_len - o, "%s", s->best >= 0 ? "; hybrid answers with the best of them" : "");
  return -1;
}

/* ---- loading ---- */

static int build_items(srv_snapshot *s, const reco_idmap *ids) {
  s->n_items = reco__idmap_size(ids);
  s->items = calloc((size_t)(s->n_items ? s->n_items : 1), sizeof *s->items);
  if (!s->items) return RECO_ENOMEM;
  const reco_itemmeta *meta = s->cat ? s->cat->meta : NULL;
  if (meta && meta->cats) {
    s->n_cats = reco__idmap_size(meta->cats);
    s->cat_json = calloc((size_t)(s->n_cats ? s->n_cats : 1), sizeof *s->cat_json);
    if (!s->cat_json) return RECO_ENOMEM;
    for (int32_t c = 0; c < s->n_cats; c++)
      if (!(s->cat_json[c] = json_quote(reco__idmap_str(meta->cats, c)))) return RECO_ENOMEM;
  }
  for (int32_t i = 0; i < s->n_items; i++) {
    srv_item *it = &s->items[i];
    it->price = NAN;
    it->rating = NAN;
    it->cat0 = -1;
    if (!(it->id_json = json_quote(reco__idmap_str(ids, i)))) return RECO_ENOMEM;
    if (!meta || i >= meta->n_items) continue;
    if (meta->title_off && meta->title_off[i] >= 0) {
      const char *t = meta->text.buf + meta->title_off[i];
      if (!(it->title = strdup(t)) || !(it->title_json = json_quote(t))) return RECO_ENOMEM;
    }
    if (meta->desc_off && meta->desc_off[i] >= 0) it->rating = reco__synth_text_rating(meta->text.buf + meta->desc_off[i]);
    if (meta->price) it->price = meta->price[i];
    if (meta->cat_ptr && meta->cat_ptr[i + 1] > meta->cat_ptr[i]) it->cat0 = meta->cat_idx[meta->cat_ptr[i]];
  }
  s->f_rating = malloc((size_t)(s->n_items ? s->n_items : 1) * sizeof *s->f_rating);
  if (!s->f_rating) return RECO_ENOMEM;
  for (int32_t i = 0; i < s->n_items; i++) s->f_rating[i] = s->items[i].rating;
  return 0;
}

/* Each item's response metadata, written once per snapshot (after the stored metadata overlay)
 * instead of once per response. */
static int build_item_json(srv_snapshot *s) {
  for (int32_t i = 0; i < s->n_items; i++) {
    srv_item *it = &s->items[i];
    srv_buf b = {0};
    srv_item_meta_json(&b, s, i, it->cat0);
    if (b.oom || !b.p) {
      srv_buf_free(&b);
      return RECO_ENOMEM;
    }
    it->meta_json = b.p;
    it->meta_len = (uint32_t)b.len;
    it->id_len = it->id_json ? (uint32_t)strlen(it->id_json) : 0;
    it->title_len = it->title_json ? (uint32_t)strlen(it->title_json) : 0;
  }
  return 0;
}

void srv_item_meta_json(srv_buf *b, const srv_snapshot *s, int32_t ci, int32_t cat) {
  const srv_item *it = &s->items[ci];
  srv_buf_puts(b, ",\"metadata\":{\"title\":");
  srv_buf_puts(b, it->title_json ? it->title_json : "null");
  srv_buf_puts(b, ",\"category\":");
  srv_buf_puts(b, cat >= 0 && cat < s->n_cats ? s->cat_json[cat] : "null");
  srv_buf_puts(b, ",\"price\":");
  srv_buf_jnum(b, it->price);
  srv_buf_puts(b, ",\"rating\":");
  srv_buf_jnum(b, it->rating);
  srv_buf_puts(b, "}");
}

static int map_items(srv_snapshot *s, srv_model *sm, const reco_idmap *ids) {
  reco_model *m = sm->m;
  sm->m2c = malloc((size_t)(m->n_items ? m->n_items : 1) * sizeof *sm->m2c);
  sm->c2m = malloc((size_t)(s->n_items ? s->n_items : 1) * sizeof *sm->c2m);
  if (!sm->m2c || !sm->c2m) return RECO_ENOMEM;
  for (int32_t c = 0; c < s->n_items; c++) sm->c2m[c] = -1;
  for (int32_t i = 0; i < m->n_items; i++) {
    int32_t c = -1;
    if (m->item_ids && i < reco__idmap_size(m->item_ids)) {
      const char *id = reco__idmap_str(m->item_ids, i);
      c = reco__idmap_get(ids, id, strlen(id));
    } else if (i < s->n_items) {
      c = i; /* a model without id maps was trained on this catalogue's indices */
    }
    sm->m2c[i] = c;
    if (c >= 0) sm->c2m[c] = i;
  }
  return 0;
}

/* The pipeline's per-item inputs (rank.h) in the model's item indices: ratings for minRating,
 * the category lists for the category filter and their one-hot vectors for MMR diversity. */
static int model_inputs(srv_snapshot *s, srv_model *sm) {
  int32_t n = sm->m->n_items;
  sm->rating = malloc((size_t)(n ? n : 1) * sizeof *sm->rating);
  if (!sm->rating) return RECO_ENOMEM;
  for (int32_t i = 0; i < n; i++) {
    int32_t c = srv_m2c(sm, i);
    sm->rating[i] = c >= 0 && c < s->n_items ? s->f_rating[c] : NAN;
  }
  int32_t unknown = 0;
  for (int32_t i = 0; i < n; i++) unknown += srv_m2c(sm, i) < 0;
  if (unknown) {
    if (!(sm->avail = calloc((size_t)n / 8 + 1, 1))) return RECO_ENOMEM;
    for (int32_t i = 0; i < n; i++)
      if (srv_m2c(sm, i) >= 0) sm->avail[i >> 3] |= (uint8_t)(1u << (i & 7));
  }
  const reco_itemmeta *meta = s->cat ? s->cat->meta : NULL;
  if (!meta || !meta->cats || !meta->cat_ptr) return 0;
  int64_t total = 0;
  for (int32_t i = 0; i < n; i++) {
    int32_t c = srv_m2c(sm, i);
    if (c >= 0 && c < meta->n_items) total += meta->cat_ptr[c + 1] - meta->cat_ptr[c];
  }
  sm->meta.cat_ptr = malloc((size_t)(n + 1) * sizeof *sm->meta.cat_ptr);
  sm->meta.cat_idx = malloc((size_t)(total ? total : 1) * sizeof *sm->meta.cat_idx);
  if (!sm->meta.cat_ptr || !sm->meta.cat_idx) return RECO_ENOMEM;
  int64_t o = 0;
  for (int32_t i = 0; i < n; i++) {
    sm->meta.cat_ptr[i] = o;
    int32_t c = srv_m2c(sm, i);
    if (c >= 0 && c < meta->n_items)
      for (int64_t p = meta->cat_ptr[c]; p < meta->cat_ptr[c + 1]; p++) sm->meta.cat_idx[o++] = meta->cat_idx[p];
  }
  sm->meta.cat_ptr[n] = o;
  sm->meta.n_items = n;
  sm->meta.cats = meta->cats;
  int rc = reco__rec_catindex_build(&sm->meta, n, sm->rating, &sm->catidx);
  if (rc == RECO_ENOTFOUND) return 0; /* no categories: no category filter index, no diversity term */
  if (rc) return rc;
  /* more than 64 categories: MMR falls back to one-hot vectors */
  if (!sm->catidx->mask_exact) rc = reco__rec_category_vectors(&sm->meta, n, &sm->catvec, &sm->cat_dim);
  return rc == RECO_ENOTFOUND ? 0 : rc;
}

/* Whether two models index the catalogue's items identically (same count, same mapping). */
static bool same_items(const srv_model *a, const srv_model *b) {
  if (a->m->n_items != b->m->n_items) return false;
  if (!a->m2c || !b->m2c) return a->m2c == b->m2c;
  return !memcmp(a->m2c, b->m2c, (size_t)a->m->n_items * sizeof *a->m2c);
}

/* The metrics text of a model file, checked to be a JSON object; ndcg@10 picked out. */
static int take_metrics(srv_model *sm) {
  sm->ndcg = -1;
  json_t *j = sm->m->metrics[0] ? json_loads(sm->m->metrics, 0, NULL) : NULL;
  if (j && json_is_object(j)) {
    json_t *v = json_object_get(j, "ndcg@10");
    if (json_is_number(v)) sm->ndcg = json_number_value(v);
    sm->metrics = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6) | JSON_PRESERVE_ORDER);
  } else {
    sm->metrics = strdup("{}");
  }
  json_decref(j);
  return sm->metrics ? 0 : RECO_ENOMEM;
}

int srv_snapshot_load(const char *root, srv_snapshot **out) {
  *out = NULL;
  srv_snapshot *s = calloc(1, sizeof *s);
  if (!s) return reco__seterr(RECO_ENOMEM, "out of memory");
  atomic_init(&s->refs, 1);
  s->popular = s->best = s->context = -1;
  s->loaded_at_ms = reco__wall_ms();
  reco_reg_entry *list = NULL;
  size_t n_list = 0;
  int rc = reco__registry_list(root, NULL, &list, &n_list);
  if (rc) goto fail;
  for (size_t e = 0; e < n_list && s->n_models < SRV_MAX_MODELS; e++) {
    if (!list[e].active) continue;
    srv_model *sm = &s->models[s->n_models];
    if ((rc = reco__model_load(list[e].path, &sm->m))) {
      /* a bad file must not take the service down: skip it, keep the others */
      reco__log(RECO_LOG_WARN, "skipping %s: %s", list[e].path, reco_last_error());
      continue;
    }
    snprintf(sm->algo, sizeof sm->algo, "%s", list[e].algo);
    sm->version = list[e].version;
    s->n_models++;
    if ((rc = take_metrics(sm))) goto fail;
    if (sm->m->n_items > s->max_model_items) s->max_model_items = sm->m->n_items;
  }
  reco__registry_list_free(list, n_list);
  list = NULL;
  if (s->n_models == 0) {
    rc = reco__seterr(RECO_ENOTFOUND, "no active model under %s", root);
    goto fail;
  }
  /* the catalogue: the dataset folder recorded beside the models */
  char path[1200];
  snprintf(path, sizeof path, "%s/CATALOGUE", root);
  FILE *f = fopen(path, "r");
  if (f) {
    if (fgets(s->catalogue_path, sizeof s->catalogue_path, f)) s->catalogue_path[strcspn(s->catalogue_path, "\r\n")] = '\0';
    fclose(f);
  }
  if (s->catalogue_path[0] && (rc = srv_catalogue_load(s->catalogue_path, &s->cat, &s->cat_ref))) {
    reco__log(RECO_LOG_WARN, "catalogue %s: %s; serving ids without metadata", s->catalogue_path, reco_last_error());
    s->cat = NULL;
  }
  /* the item id space: the catalogue's, else the largest model's */
  const reco_idmap *ids = s->cat ? s->cat->items : NULL;
  for (int k = 0; !ids && k < s->n_models; k++)
    if (s->models[k].m->item_ids && s->models[k].m->n_items == s->max_model_items) ids = s->models[k].m->item_ids;
  if (!ids) {
    rc = reco__seterr(RECO_EFORMAT, "no catalogue and no model with item ids under %s", root);
    goto fail;
  }
  s->ids = ids;
  if ((rc = build_items(s, ids))) goto fail;
  if ((rc = srv_catalog_overlay(s))) goto fail; /* catalog.c: stored metadata over the catalogue's */
  if ((rc = build_item_json(s))) goto fail;
  for (int k = 0; k < s->n_models; k++) {
    srv_model *sm = &s->models[k];
    if ((rc = map_items(s, sm, ids)) || (rc = model_inputs(s, sm))) goto fail;
    if (!strcmp(sm->algo, "popular")) s->popular = k;
    if (!strcmp(sm->algo, "context")) {
      s->context = k;
      continue; /* a re-ranking term, not a ranker of its own */
    }
    if (sm->m->algo->score && strcmp(sm->algo, "random") &&
        (s->best < 0 || sm->ndcg > s->models[s->best].ndcg))
      s->best = k;
  }
  /* the context term and the cold-start scorer are added in the answering model's item
   * indices: only for models whose items map to the catalogue exactly as theirs do */
  for (int k = 0; k < s->n_models; k++) {
    srv_model *sm = &s->models[k];
    sm->ctx_ok = s->context >= 0 && same_items(sm, &s->models[s->context]);
    sm->pop_ok = s->popular >= 0 && same_items(sm, &s->models[s->popular]);
  }
  *out = s;
  return 0;
fail:
  if (rc == RECO_ENOMEM) reco__seterr(RECO_ENOMEM, "out of memory loading the models");
  reco__registry_list_free(list, n_list);
  snapshot_free(s);
  return rc;
}

/* ---- reloading (the SIGHUP path, and the HTTP model and catalogue writes) ---- */

static pthread_mutex_t g_reload_lock = PTHREAD_MUTEX_INITIALIZER;

void srv_reload_lock(void) { pthread_mutex_lock(&g_reload_lock); }
void srv_reload_unlock(void) { pthread_mutex_unlock(&g_reload_lock); }

int srv_snapshot_reload_locked(const char *root, const char *default_algo, srv_snapshot **out, char *msg, size_t msg_len) {
  if (out) *out = NULL;
  srv_snapshot *next;
  int rc = srv_snapshot_load(root, &next);
  if (rc) {
    snprintf(msg, msg_len, "%s", reco_last_error());
    return rc;
  }
  char pick[1024];
  if (default_algo && srv_snapshot_pick(next, default_algo, pick, sizeof pick) < 0) {
    snprintf(msg, msg_len, "DEFAULT_ALGORITHM: %s", pick);
    srv_snapshot_release(next);
    return RECO_ESTATE;
  }
  if (out) { /* the caller inspects it before deciding; it publishes or releases */
    *out = next;
    return 0;
  }
  srv_snapshot_publish(next);
  return 0;
}

int srv_snapshot_reload(const char *root, const char *default_algo, char *msg, size_t msg_len) {
  srv_reload_lock();
  int rc = srv_snapshot_reload_locked(root, default_algo, NULL, msg, msg_len);
  srv_reload_unlock();
  return rc;
}
