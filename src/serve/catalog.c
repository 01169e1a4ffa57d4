/*
 * catalog.c - the serving effect of catalogue writes (PUT/DELETE /api/v1/items, bulk import):
 * how the item metadata and availability kept in the store (store.h, migration 2) reach the
 * snapshot that /recommend and /similar read.
 *
 * Two paths, by cost:
 *   availability   a DELETE (or "available": false) must leave recommendations at once, without
 *                  a reload. Every snapshot carries, per model, a live availability bitmap in
 *                  the model's item indices (srv_model.live_avail: the catalogue's own `avail`
 *                  AND "not deleted") and one in catalogue indices (srv_snapshot.c_unavail).
 *                  srv_catalog_set_available() writes the store, then flips the bits of the
 *                  current snapshot in place with atomic byte operations; readers see each byte
 *                  old or new, and an item is either still offered or not, never garbage.
 *   metadata       title, categories, price and rating feed the filters and the per-item
 *                  JSON, which are built once per snapshot. srv_catalog_overlay() applies the
 *                  stored documents while a snapshot is being built (srv_snapshot_load), and a
 *                  write republishes: srv_snapshot_reload() builds a new snapshot beside the
 *                  serving one and swaps it in (the SIGHUP path).
 *
 * Invariant: g_cat_lock is held both while availability is written (store, then bits) and while
 * a snapshot is published (srv_snapshot_publish calls srv_catalog_publish_lock: bits applied
 * from the store, then the swap, then srv_catalog_publish_unlock). So a deletion is either in the store before a new snapshot reads it, or applied to that
 * snapshot after it is current; no interleaving loses it.
 *
 * Items the models do not know are stored and shown by GET /api/v1/items/:itemId; they enter the
 * models at the next retrain (the catalogue on disk is the training input, not the store).
 *
 * The parsed catalogue is shared between snapshots (srv_catalogue_load): a model swap or a
 * metadata republish would otherwise parse the catalogue files again (50 ms for MovieLens 100k,
 * several hundred for the demo), on an HTTP thread. The last one parsed is kept with its files'
 * signature (sizes and modification times) and handed out read-only, reference counted, while
 * the files are unchanged. A snapshot whose stored documents change categories needs a private
 * copy (srv_catalog_overlay rewrites its category lists), so then the files are parsed again.
 */
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/base.h"
#include "data/dataset.h"
#include "serve.h"
#include "store/store.h"

static pthread_mutex_t g_cat_lock = PTHREAD_MUTEX_INITIALIZER;

static inline void bit_clear(uint8_t *b, int32_t i) {
  __atomic_fetch_and(&b[i >> 3], (uint8_t) ~(1u << (i & 7)), __ATOMIC_RELAXED);
}
static inline void bit_set(uint8_t *b, int32_t i) { __atomic_fetch_or(&b[i >> 3], (uint8_t)(1u << (i & 7)), __ATOMIC_RELAXED); }
static inline bool bit_get(const uint8_t *b, int32_t i) {
  return (__atomic_load_n(&b[i >> 3], __ATOMIC_RELAXED) >> (i & 7)) & 1u;
}

const uint8_t *srv_model_available(const srv_model *sm) { return sm->live_avail ? sm->live_avail : sm->avail; }

bool srv_item_available(const srv_snapshot *s, int32_t ci) {
  if (ci < 0 || ci >= s->n_items) return false;
  return !s->c_unavail || !bit_get(s->c_unavail, ci);
}

/* Marks catalogue item ci of s (un)available in every model's live bitmap. A model item the
 * catalogue does not know (sm->avail clear) stays unavailable. */
static void apply_avail(srv_snapshot *s, int32_t ci, bool available) {
  if (ci < 0 || ci >= s->n_items || !s->c_unavail) return;
  if (available) bit_clear(s->c_unavail, ci);
  else bit_set(s->c_unavail, ci);
  for (int k = 0; k < s->n_models; k++) {
    srv_model *sm = &s->models[k];
    int32_t mi = srv_c2m(sm, ci);
    if (mi < 0 || !sm->live_avail) continue;
    if (available && (!sm->avail || bit_get(sm->avail, mi))) bit_set(sm->live_avail, mi);
    else if (!available) bit_clear(sm->live_avail, mi);
  }
  /* after the bits: requests that see the new value rebuild their eligible lists (rank.h) */
  atomic_fetch_add_explicit(&srv_filter_gen, 1, memory_order_release);
}

static void on_unavailable(void *ctx, const char *id, const char *doc, bool available, int64_t updated_ms) {
  (void)doc, (void)updated_ms;
  srv_snapshot *s = ctx;
  if (available || !s->ids) return;
  apply_avail(s, reco__idmap_get(s->ids, id, strlen(id)), false);
}

/* Builds the live bitmaps of s (not yet published) and applies the stored deletions. */
static int prepare_avail(srv_snapshot *s) {
  if (!s->c_unavail && !(s->c_unavail = calloc((size_t)s->n_items / 8 + 1, 1))) return RECO_ENOMEM;
  for (int k = 0; k < s->n_models; k++) {
    srv_model *sm = &s->models[k];
    if (sm->live_avail) continue;
    size_t nb = (size_t)sm->m->n_items / 8 + 1;
    if (!(sm->live_avail = malloc(nb))) return RECO_ENOMEM;
    if (sm->avail) memcpy(sm->live_avail, sm->avail, nb);
    else memset(sm->live_avail, 0xff, nb);
  }
  return srv_store ? store_items_scan(srv_store, true, on_unavailable, s) : 0;
}

void srv_catalog_publish_lock(srv_snapshot *s) {
  pthread_mutex_lock(&g_cat_lock);
  if (s && prepare_avail(s))
    /* without the bitmaps the snapshot still serves (deleted items included): say so loudly */
    reco__log(RECO_LOG_WARN, "catalogue: deleted items could not be applied to the new snapshot: %s", reco_last_error());
}

void srv_catalog_publish_unlock(void) { pthread_mutex_unlock(&g_cat_lock); }

static void count_row(void *ctx, const char *id, const char *doc, bool available, int64_t updated_ms) {
  (void)id, (void)doc, (void)available, (void)updated_ms;
  (*(size_t *)ctx)++;
}

bool srv_catalog_present(void) {
  size_t n = 0;
  return srv_store && !store_items_scan(srv_store, false, count_row, &n) && n > 0;
}

int srv_catalog_set_available(const char *id, bool available) {
  if (!srv_store) return reco__seterr(RECO_ESTATE, "no store is open");
  pthread_mutex_lock(&g_cat_lock);
  int rc = store_item_set_available(srv_store, id, available);
  if (!rc) {
    srv_snapshot *s = srv_snapshot_acquire();
    if (s && s->ids) apply_avail(s, reco__idmap_get(s->ids, id, strlen(id)), available);
    srv_snapshot_release(s);
    srv_cache_invalidate_all(); /* [cache hook] cached lists may hold the item: drop them */
  }
  pthread_mutex_unlock(&g_cat_lock);
  return rc;
}

int srv_catalog_put_items(const store_doc *docs, size_t n, size_t *n_known) {
  if (!srv_store) return reco__seterr(RECO_ESTATE, "no store is open");
  *n_known = 0;
  pthread_mutex_lock(&g_cat_lock);
  int rc = store_catalog_put(srv_store, STORE_ITEMS, docs, n);
  if (!rc) {
    srv_snapshot *s = srv_snapshot_acquire();
    for (size_t k = 0; s && s->ids && k < n; k++) {
      int32_t ci = reco__idmap_get(s->ids, docs[k].id, strlen(docs[k].id));
      if (ci < 0 || ci >= s->n_items) continue;
      ++*n_known;
      apply_avail(s, ci, docs[k].available);
    }
    srv_snapshot_release(s);
    if (*n_known) srv_cache_invalidate_all(); /* [cache hook] availability of listed items changed */
  }
  pthread_mutex_unlock(&g_cat_lock);
  return rc;
}

/* ---- the shared catalogue ---- */

struct srv_catref {
  atomic_int refs;
  reco_dataset *ds;
  char path[1024];
  uint64_t sig;
};

static pthread_mutex_t g_catref_lock = PTHREAD_MUTEX_INITIALIZER;
static srv_catref *g_catref; /* the last catalogue parsed, with one reference of its own */

void srv_catref_release(srv_catref *r) {
  if (r && atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1) {
    reco_dataset_free(r->ds);
    free(r);
  }
}

static uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001b3ull; }

/* Sizes and modification times of path (a file, or a folder's files): changes when any of
 * them is rewritten. 0 when path cannot be read. */
static uint64_t files_signature(const char *path) {
  struct stat st;
  if (stat(path, &st)) return 0;
  uint64_t h = mix(mix(0xcbf29ce484222325ull, (uint64_t)st.st_size), (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec);
  if (!S_ISDIR(st.st_mode)) return h;
  DIR *d = opendir(path);
  if (!d) return 0;
  struct dirent *e;
  char p[2048];
  uint64_t sum = 0; /* order-independent: readdir's order is not stable */
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    snprintf(p, sizeof p, "%s/%s", path, e->d_name);
    if (stat(p, &st)) continue;
    sum += mix(mix(reco__hash_bytes(e->d_name, strlen(e->d_name), 1), (uint64_t)st.st_size),
               (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec);
  }
  closedir(d);
  return mix(h, sum);
}

static void has_categories(void *ctx, const char *id, const char *doc, bool available, int64_t updated_ms) {
  (void)id, (void)available, (void)updated_ms;
  if (strstr(doc, "\"categories\"")) *(bool *)ctx = true;
}

int srv_catalogue_load(const char *path, reco_dataset **out, srv_catref **ref) {
  *out = NULL;
  *ref = NULL;
  bool private_copy = false;
  if (srv_store && store_items_scan(srv_store, false, has_categories, &private_copy)) private_copy = true;
  uint64_t sig = files_signature(path);
  pthread_mutex_lock(&g_catref_lock);
  if (!private_copy && sig && g_catref && g_catref->sig == sig && !strcmp(g_catref->path, path)) {
    atomic_fetch_add_explicit(&g_catref->refs, 1, memory_order_relaxed);
    *ref = g_catref;
    *out = g_catref->ds;
    pthread_mutex_unlock(&g_catref_lock);
    return 0;
  }
  pthread_mutex_unlock(&g_catref_lock);
  reco_dataset *ds;
  int rc = reco_dataset_load(path, NULL, &ds);
  if (rc) return rc;
  if (private_copy || !sig || strlen(path) >= sizeof g_catref->path) {
    *out = ds;
    return 0;
  }
  srv_catref *r = calloc(1, sizeof *r);
  if (!r) {
    *out = ds; /* unshared, still correct */
    return 0;
  }
  atomic_init(&r->refs, 2); /* the cache's and the caller's */
  r->ds = ds;
  r->sig = sig;
  snprintf(r->path, sizeof r->path, "%s", path);
  pthread_mutex_lock(&g_catref_lock);
  srv_catref *old = g_catref;
  g_catref = r;
  pthread_mutex_unlock(&g_catref_lock);
  srv_catref_release(old);
  *ref = r;
  *out = ds;
  return 0;
}

void srv_catalogue_cache_free(void) {
  pthread_mutex_lock(&g_catref_lock);
  srv_catref *old = g_catref;
  g_catref = NULL;
  pthread_mutex_unlock(&g_catref_lock);
  srv_catref_release(old);
}

/* ---- metadata, applied while a snapshot is built ---- */

typedef struct overlay_row {
  int32_t ci;
  json_t *doc;
} overlay_row;

typedef struct overlay_ctx {
  const srv_snapshot *s;
  overlay_row *rows;
  size_t n, cap;
  bool oom;
} overlay_ctx;

static void on_item(void *arg, const char *id, const char *doc, bool available, int64_t updated_ms) {
  (void)available, (void)updated_ms;
  overlay_ctx *o = arg;
  int32_t ci = reco__idmap_get(o->s->ids, id, strlen(id));
  if (ci < 0 || ci >= o->s->n_items || o->oom) return; /* not in the models yet: next retrain */
  json_t *j = json_loads(doc, 0, NULL);
  if (!json_is_object(j) || json_object_size(j) == 0) { /* an availability-only row */
    json_decref(j);
    return;
  }
  if (o->n == o->cap) {
    size_t cap = o->cap ? 2 * o->cap : 64;
    overlay_row *r = realloc(o->rows, cap * sizeof *r);
    if (!r) {
      json_decref(j);
      o->oom = true;
      return;
    }
    o->rows = r, o->cap = cap;
  }
  o->rows[o->n].ci = ci;
  o->rows[o->n++].doc = j;
}

static char *quote(const char *t) {
  srv_buf b = {0};
  srv_buf_jstr(&b, t);
  if (b.oom) {
    srv_buf_free(&b);
    return NULL;
  }
  return b.p;
}

/* The categories of the stored documents replace the catalogue's lists of those items: the
 * item->category CSR of the snapshot's own (unshared) metadata is rebuilt once. */
static int patch_categories(srv_snapshot *s, overlay_ctx *o) {
  reco_itemmeta *meta = s->cat ? s->cat->meta : NULL;
  size_t n_over = 0;
  for (size_t r = 0; r < o->n; r++) n_over += json_object_get(o->rows[r].doc, "categories") != NULL;
  if (!n_over) return 0;
  if (!meta || !meta->cats || s->cat_ref || __atomic_load_n(&meta->refs, __ATOMIC_RELAXED) != 1) {
    /* shared (a document gained categories after this snapshot's catalogue was picked: the
     * write that did it republishes with a private copy), or no category table */
    if (!s->cat_ref)
      reco__log(RECO_LOG_WARN, "catalogue: the serving catalogue has no category table; category changes wait for a retrain");
    return 0;
  }
  int32_t n = meta->n_items;
  json_t **over = calloc((size_t)(n ? n : 1), sizeof *over);
  int64_t *ptr = reco__malloc(((size_t)n + 1) * sizeof *ptr);
  int rc = 0;
  if (!over || !ptr) {
    rc = RECO_ENOMEM;
    goto out;
  }
  for (size_t r = 0; r < o->n; r++) {
    json_t *c = json_object_get(o->rows[r].doc, "categories");
    if (c && o->rows[r].ci < n) over[o->rows[r].ci] = c;
  }
  int64_t total = 0;
  for (int32_t i = 0; i < n; i++) {
    ptr[i] = total;
    total += over[i] ? (int64_t)json_array_size(over[i]) : meta->cat_ptr ? meta->cat_ptr[i + 1] - meta->cat_ptr[i] : 0;
  }
  ptr[n] = total;
  int32_t *idx = reco__malloc((size_t)(total ? total : 1) * sizeof *idx);
  if (!idx) {
    rc = RECO_ENOMEM;
    goto out;
  }
  for (int32_t i = 0; i < n; i++) {
    int64_t at = ptr[i];
    if (over[i]) {
      size_t k;
      json_t *e;
      json_array_foreach(over[i], k, e) {
        int32_t c = reco__idmap_add(meta->cats, json_string_value(e), json_string_length(e));
        if (c < 0) {
          reco__free(idx);
          rc = c;
          goto out;
        }
        idx[at++] = c;
      }
    } else if (meta->cat_ptr) {
      for (int64_t p = meta->cat_ptr[i]; p < meta->cat_ptr[i + 1]; p++) idx[at++] = meta->cat_idx[p];
    }
  }
  reco__free(meta->cat_ptr);
  reco__free(meta->cat_idx);
  meta->cat_ptr = ptr, meta->cat_idx = idx;
  ptr = NULL;
  /* new names may have been added: the quoted names are rebuilt, and each item's first one */
  for (int32_t c = 0; s->cat_json && c < s->n_cats; c++) free(s->cat_json[c]);
  free(s->cat_json);
  s->n_cats = reco__idmap_size(meta->cats);
  if (!(s->cat_json = calloc((size_t)(s->n_cats ? s->n_cats : 1), sizeof *s->cat_json))) {
    s->n_cats = 0;
    rc = RECO_ENOMEM;
    goto out;
  }
  for (int32_t c = 0; c < s->n_cats; c++)
    if (!(s->cat_json[c] = quote(reco__idmap_str(meta->cats, c)))) {
      rc = RECO_ENOMEM;
      goto out;
    }
  for (int32_t i = 0; i < s->n_items && i < n; i++)
    s->items[i].cat0 = meta->cat_ptr[i + 1] > meta->cat_ptr[i] ? meta->cat_idx[meta->cat_ptr[i]] : -1;
out:
  free(over);
  reco__free(ptr);
  return rc;
}

int srv_catalog_overlay(srv_snapshot *s) {
  if (!srv_store || !s->ids) return 0;
  overlay_ctx o = {.s = s};
  int rc = store_items_scan(srv_store, false, on_item, &o);
  if (!rc && o.oom) rc = RECO_ENOMEM;
  for (size_t r = 0; !rc && r < o.n; r++) {
    srv_item *it = &s->items[o.rows[r].ci];
    json_t *d = o.rows[r].doc, *v;
    if ((v = json_object_get(d, "title")) && json_is_string(v)) {
      free(it->title);
      free(it->title_json);
      it->title = strdup(json_string_value(v));
      it->title_json = quote(json_string_value(v));
      if (!it->title || !it->title_json) rc = RECO_ENOMEM;
    }
    if ((v = json_object_get(d, "price")) && json_is_number(v)) it->price = (float)json_number_value(v);
    if ((v = json_object_get(d, "rating")) && json_is_number(v))
      s->f_rating[o.rows[r].ci] = it->rating = (float)json_number_value(v);
  }
  if (!rc) rc = patch_categories(s, &o);
  for (size_t r = 0; r < o.n; r++) json_decref(o.rows[r].doc);
  free(o.rows);
  if (rc == RECO_ENOMEM) reco__seterr(rc, "out of memory applying the catalogue");
  return rc;
}
