/*
 * h_privacy.c - GDPR: GET /api/v1/user/:userId/export (everything stored about a user, as JSON)
 * and DELETE /api/v1/user/:userId (erasure, admin), plus the erased-user set that serving and
 * retraining consult, and the admin check of the admin endpoints.
 *
 * Erasure, in this order:
 *   1. the id joins the in-memory erased set (srv_user_erased turns true at once, so the
 *      recommend path and the profile stop using the catalogue's history and the trained rows
 *      of this id from the next request on);
 *   2. the user's in-memory recent history is dropped (live.c);
 *   3. the store deletes their interactions and experiment assignments and records the id in
 *      erased_users, in one transaction through the writer (store_erase_user returns after the
 *      COMMIT), so a restart reloads the erased set (srv_erased_load) and the catalogue's own
 *      history of the user stays ignored;
 *   4. the next retrain (retrain.c) builds its training set without the id, so the published
 *      models no longer hold a row for it.
 * Interactions the user sends after the erasure are new data and are stored as usual; the id
 * stays in the erased set (its catalogue history and the older models' rows remain ignored).
 *
 * The erased set: an open-addressing table of id strings behind a rwlock, with an atomic count
 * read first so that the common case (nobody erased, or a miss in an empty table) takes no lock.
 * Bounded: at most SRV_ERASED_MAX ids in memory; past that an erasure is refused with 503 before
 * anything is deleted, so the in-memory set never disagrees with the store.
 *
 * Export bounds: at most EXPORT_MAX_ROWS interactions and EXPORT_MAX_BYTES of JSON per response;
 * beyond, "interactionsTruncated" is true (the response says so rather than growing unbounded).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "serve.h"
#include "store/store.h"

#define SRV_ERASED_MAX 4000000
#define EXPORT_MAX_ROWS 100000
#define EXPORT_MAX_BYTES ((size_t)64 << 20)

static pthread_rwlock_t g_rw = PTHREAD_RWLOCK_INITIALIZER;
static char **g_slots; /* power-of-two capacity, load <= 1/2; NULL = empty slot */
static size_t g_cap;
static atomic_size_t g_count;

static uint64_t hash_id(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a 64 */
  for (size_t k = 0; k < n; k++) h = (h ^ (unsigned char)s[k]) * 1099511628211ull;
  return h;
}

/* Slot of id, or of the empty slot where it would go (g_cap > 0, caller holds the lock). */
static size_t probe(char **slots, size_t cap, const char *id, size_t len) {
  size_t at = (size_t)hash_id(id, len) & (cap - 1);
  while (slots[at] && (strlen(slots[at]) != len || memcmp(slots[at], id, len))) at = (at + 1) & (cap - 1);
  return at;
}

bool srv_user_erased(const char *id, size_t len) {
  if (!id || atomic_load_explicit(&g_count, memory_order_acquire) == 0) return false;
  pthread_rwlock_rdlock(&g_rw);
  bool hit = g_cap && g_slots[probe(g_slots, g_cap, id, len)] != NULL;
  pthread_rwlock_unlock(&g_rw);
  return hit;
}

/* Adds id; 0, RECO_ELIMIT when the set is full, RECO_ENOMEM. */
static int erased_add(const char *id, size_t len) {
  int rc = 0;
  pthread_rwlock_wrlock(&g_rw);
  size_t n = atomic_load(&g_count);
  if (g_cap && g_slots[probe(g_slots, g_cap, id, len)]) goto out; /* already erased */
  if (n >= SRV_ERASED_MAX) {
    rc = reco__seterr(RECO_ELIMIT, "the erased-user set is full (%d ids)", SRV_ERASED_MAX);
    goto out;
  }
  if (2 * (n + 1) > g_cap) {
    size_t cap = g_cap ? 2 * g_cap : 1024;
    char **slots = calloc(cap, sizeof *slots);
    if (!slots) {
      rc = reco__seterr(RECO_ENOMEM, "out of memory");
      goto out;
    }
    for (size_t k = 0; k < g_cap; k++)
      if (g_slots[k]) slots[probe(slots, cap, g_slots[k], strlen(g_slots[k]))] = g_slots[k];
    free(g_slots);
    g_slots = slots, g_cap = cap;
  }
  char *copy = malloc(len + 1);
  if (!copy) {
    rc = reco__seterr(RECO_ENOMEM, "out of memory");
    goto out;
  }
  memcpy(copy, id, len);
  copy[len] = '\0';
  g_slots[probe(g_slots, g_cap, id, len)] = copy;
  atomic_store_explicit(&g_count, n + 1, memory_order_release);
out:
  pthread_rwlock_unlock(&g_rw);
  return rc;
}

static void on_erased(void *ctx, const char *user, int64_t at) {
  (void)at;
  int *rc = ctx;
  if (!*rc && user) *rc = erased_add(user, strlen(user));
}

int srv_erased_load(struct reco_store *st) {
  int rc = 0, rc2 = store_erased_scan(st, on_erased, &rc);
  return rc ? rc : rc2;
}

/* ---- export ---- */

/* A stored user document (a JSON object's text, written by h_catalog.c) as it is. */
static void on_user_doc(void *ctx, const char *id, const char *doc, bool available, int64_t updated_ms) {
  (void)id, (void)available, (void)updated_ms;
  srv_buf_puts(ctx, doc && *doc ? doc : "{}");
}

typedef struct export_ctx {
  srv_buf *b;
  int64_t n;
  bool truncated;
} export_ctx;

static void put_str_or_null(srv_buf *b, const char *s) {
  if (s) srv_buf_jstr(b, s);
  else srv_buf_puts(b, "null");
}

static bool on_row(void *arg, const store_row *r) {
  export_ctx *x = arg;
  if (x->n >= EXPORT_MAX_ROWS || x->b->len >= EXPORT_MAX_BYTES) {
    x->truncated = true;
    return false;
  }
  srv_buf *b = x->b;
  srv_buf_printf(b, "%s{\"interactionId\":\"%lld\",\"itemId\":", x->n ? "," : "", (long long)r->id);
  srv_buf_jstr(b, r->item);
  srv_buf_puts(b, ",\"interactionType\":");
  srv_buf_jstr(b, r->type);
  srv_buf_puts(b, ",\"value\":");
  if (r->has_value) srv_buf_jnum(b, r->value);
  else srv_buf_puts(b, "null");
  srv_buf_puts(b, ",\"timestamp\":");
  srv_buf_jint(b, r->ts_ms);
  srv_buf_puts(b, ",\"sessionId\":");
  put_str_or_null(b, r->session);
  srv_buf_puts(b, ",\"position\":");
  if (r->has_position) srv_buf_jint(b, r->position);
  else srv_buf_puts(b, "null");
  /* the context was stored as the compact JSON text of a validated object */
  srv_buf_puts(b, ",\"context\":");
  srv_buf_puts(b, r->context_json ? r->context_json : "null");
  srv_buf_puts(b, ",\"idempotencyKey\":");
  put_str_or_null(b, r->idem_key);
  srv_buf_puts(b, "}");
  x->n++;
  return true;
}

static void on_assignment(void *arg, const char *experiment, const char *variant, double bucket, int64_t ts) {
  export_ctx *x = arg;
  srv_buf *b = x->b;
  srv_buf_puts(b, x->n++ ? ",{\"experiment\":" : "{\"experiment\":");
  srv_buf_jstr(b, experiment);
  srv_buf_puts(b, ",\"variant\":");
  srv_buf_jstr(b, variant);
  srv_buf_puts(b, ",\"bucket\":");
  srv_buf_jnum(b, bucket);
  srv_buf_puts(b, ",\"assignedAt\":");
  srv_buf_jint(b, ts);
  srv_buf_puts(b, "}");
}

static void count_live(void *ctx, const char *item, float value) {
  (void)item, (void)value;
  (*(int64_t *)ctx)++;
}

int srv_h_user_export(srv_req *rq, srv_resp *rs) {
  const char *user = srv_param(rq, "userId");
  if (!user || !*user) return srv_error(rs, 400, "invalid_argument", "userId", "userId is required");
  if (!srv_store) return srv_error(rs, 503, "unavailable", NULL, "no store is open");
  size_t ul = strlen(user);
  bool erased = srv_user_erased(user, ul);
  srv_buf *b = &rs->body;
  srv_buf_puts(b, "{\"status\":\"success\",\"result\":{\"userId\":");
  srv_buf_jstr(b, user);
  srv_buf_printf(b, ",\"exportedAt\":%lld,\"erased\":%s,\"interactions\":[", (long long)reco__wall_ms(),
                 erased ? "true" : "false");
  export_ctx x = {b, 0, false};
  if (store_user_rows(srv_store, user, EXPORT_MAX_ROWS + 1, on_row, &x)) {
    srv_buf_reset(b);
    return srv_error(rs, 500, "internal", NULL, "reading the store failed: %s", reco_last_error());
  }
  srv_buf_printf(b, "],\"interactionsTruncated\":%s,\"experimentAssignments\":[", x.truncated ? "true" : "false");
  export_ctx xa = {b, 0, false};
  if (store_user_assignments(srv_store, user, on_assignment, &xa)) {
    srv_buf_reset(b);
    return srv_error(rs, 500, "internal", NULL, "reading the store failed: %s", reco_last_error());
  }
  int64_t n_live = 0;
  srv_live_history(user, ul, count_live, &n_live);
  srv_buf_printf(b, "],\"liveHistoryEntries\":%lld", (long long)n_live);
  /* the attributes stored by PUT /api/v1/users/:id (catalog_users), as stored */
  srv_buf_puts(b, ",\"storedAttributes\":");
  bool found = false;
  if (store_catalog_get(srv_store, STORE_USERS, user, on_user_doc, b, &found)) {
    srv_buf_reset(b);
    return srv_error(rs, 500, "internal", NULL, "reading the store failed: %s", reco_last_error());
  }
  if (!found) srv_buf_puts(b, "null");
  /* the catalogue's facts about the user (ignored, and so not reported, once erased) */
  srv_snapshot *s = srv_snapshot_acquire();
  srv_buf_puts(b, ",\"catalogue\":");
  const reco_dataset *cat = s ? s->cat : NULL;
  int32_t cu = cat && !erased ? reco__idmap_get(cat->users, user, ul) : -1;
  if (cat && cu >= cat->n_users) cu = -1;
  if (cu < 0) {
    srv_buf_puts(b, "null");
  } else {
    srv_buf_puts(b, "{\"source\":");
    srv_buf_jstr(b, s->catalogue_path);
    srv_buf_puts(b, ",\"attributes\":");
    if ((size_t)cu < cat->uattr_cap && cat->uattr_off && cat->uattr_off[cu] >= 0)
      srv_buf_jstr(b, cat->uattr.buf + cat->uattr_off[cu]);
    else
      srv_buf_puts(b, "null");
    srv_buf_puts(b, ",\"history\":[");
    for (int64_t q = cat->uptr[cu]; q < cat->uptr[cu + 1] && b->len < EXPORT_MAX_BYTES; q++) {
      int32_t row = cat->urow[q];
      srv_buf_puts(b, q > cat->uptr[cu] ? ",{\"itemId\":" : "{\"itemId\":");
      srv_buf_jstr(b, reco__idmap_str(cat->items, cat->uitem[q]));
      srv_buf_puts(b, ",\"value\":");
      srv_buf_jnum(b, cat->uval[q]);
      srv_buf_puts(b, ",\"type\":");
      srv_buf_jstr(b, reco__event_name(cat->type[row]));
      srv_buf_puts(b, ",\"timestampSeconds\":");
      srv_buf_jint(b, cat->ts[row]);
      srv_buf_puts(b, "}");
    }
    srv_buf_puts(b, "]}");
  }
  /* model-side facts: which served models hold a trained row for this id */
  srv_buf_puts(b, ",\"models\":[");
  for (int k = 0; s && k < s->n_models; k++) {
    const srv_model *sm = &s->models[k];
    int32_t mu = sm->m->user_ids ? reco__idmap_get(sm->m->user_ids, user, ul) : -1;
    bool knows = mu >= 0 && mu < sm->m->n_users;
    srv_buf_puts(b, k ? ",{\"algorithm\":" : "{\"algorithm\":");
    srv_buf_jstr(b, sm->algo);
    srv_buf_printf(b, ",\"version\":%d,\"knowsUser\":%s,\"usedForUser\":%s}", sm->version, knows ? "true" : "false",
                   knows && !erased ? "true" : "false");
  }
  srv_buf_puts(b, "]}}");
  srv_snapshot_release(s);
  if (b->oom) {
    srv_buf_reset(b);
    return srv_error(rs, 503, "unavailable", NULL, "out of memory");
  }
  return 200;
}

/* ---- erasure ---- */

int srv_h_user_erase(srv_req *rq, srv_resp *rs) {
  const char *user = srv_param(rq, "userId");
  if (!user || !*user) return srv_error(rs, 400, "invalid_argument", "userId", "userId is required");
  if (!srv_store) return srv_error(rs, 503, "unavailable", NULL, "no store is open");
  size_t ul = strlen(user);
  int rc = erased_add(user, ul);
  if (rc == RECO_ELIMIT) return srv_error(rs, 503, "unavailable", NULL, "%s", reco_last_error());
  if (rc) return srv_error(rs, 503, "unavailable", NULL, "out of memory");
  srv_live_forget(user, ul);
  srv_cache_invalidate_user(user, ul); /* [cache hook] their cached lists go too (cache.c) */
  int64_t n_int = 0, n_asg = 0;
  rc = store_erase_user(srv_store, user, &n_int, &n_asg);
  if (rc == RECO_ELIMIT) {
    rs->retry_after_s = 1;
    return srv_error(rs, 503, "unavailable", NULL, "the write queue is full: retry later (serving already ignores the user)");
  }
  if (rc) return srv_error(rs, 500, "internal", NULL, "the erasure was not stored: %s", reco_last_error());
  srv_snapshot *s = srv_snapshot_acquire();
  int64_t n_cat = 0;
  int32_t cu = s && s->cat ? reco__idmap_get(s->cat->users, user, ul) : -1;
  if (cu >= 0 && cu < s->cat->n_users) n_cat = s->cat->uptr[cu + 1] - s->cat->uptr[cu];
  srv_snapshot_release(s);
  srv_buf *b = &rs->body;
  srv_buf_puts(b, "{\"status\":\"success\",\"result\":{\"userId\":");
  srv_buf_jstr(b, user);
  srv_buf_printf(b,
                 ",\"erased\":true,\"interactionsDeleted\":%lld,\"assignmentsDeleted\":%lld,\"catalogueHistoryIgnored\":%lld,"
                 "\"erasedAt\":%lld}}",
                 (long long)n_int, (long long)n_asg, (long long)n_cat, (long long)reco__wall_ms());
  return 200;
}
