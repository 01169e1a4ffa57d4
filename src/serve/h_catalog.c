/*
 * h_catalog.c - catalogue metadata over HTTP, kept in the store (store.h, migration 2):
 *   PUT    /api/v1/items/:itemId   upsert (replaces the item's document)             (admin)
 *   GET    /api/v1/items/:itemId   the stored document, else the serving catalogue's metadata
 *   DELETE /api/v1/items/:itemId   marks the item unavailable: it leaves /recommend and
 *                                  /similar at once; a PUT with "available": true restores it (admin)
 *   POST   /api/v1/items/bulk      a JSON array or NDJSON of items with "itemId"; at most
 *                                  BULK_MAX; all or nothing, the first bad one named     (admin)
 *   PUT/GET/DELETE /api/v1/users/:userId   {"attributes": {...}}; DELETE removes them (admin
 *                                  for PUT and DELETE)
 *
 * An item document: title (string), category (string) or categories (list), tags (list),
 * price (>= 0), rating (0..5), text (string), available (boolean, default true). Unknown fields
 * are refused by name, so a typo is not stored silently. Items the serving catalogue knows get
 * their metadata served from the next snapshot, which a write builds before it answers (the
 * SIGHUP path, run on the model loader thread while the request waits suspended: republish();
 * catalog.c says why availability needs no reload); items it does not know are
 * stored, shown by GET, and enter the models at the next retrain.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "data/dataset.h"
#include "serve.h"
#include "store/store.h"

#define BULK_MAX 10000      /* items per bulk request (the body is bounded by MAX_BODY_BYTES too) */
#define MAX_ID 255          /* bytes of an id (a path segment holds at most 255) */
#define MAX_TITLE 1024
#define MAX_TEXT 65536
#define MAX_LIST 64         /* categories, tags */
#define MAX_NAME 128        /* bytes of one category or tag */
#define MAX_ATTRS 64        /* user attributes */
#define MAX_ATTR_STR 1024

/* A validation failure: the field (relative to the item) and why. */
typedef struct bad {
  char field[200];
  char msg[256];
} bad;

static bool fail(bad *b, const char *field, const char *msg) {
  snprintf(b->field, sizeof b->field, "%s", field);
  snprintf(b->msg, sizeof b->msg, "%s", msg);
  return false;
}

static bool valid_id(const char *s, size_t n) { return n > 0 && n <= MAX_ID && !memchr(s, '\0', n); }

/* A list of 1..MAX_NAME-byte strings, at most MAX_LIST, copied into a new array. */
static bool name_list(json_t *v, const char *field, json_t **out, bad *b) {
  size_t k;
  json_t *e;
  if (!json_is_array(v) || json_array_size(v) > MAX_LIST) return fail(b, field, "must be a list of at most 64 strings");
  json_array_foreach(v, k, e) if (!json_is_string(e) || !json_string_length(e) || json_string_length(e) > MAX_NAME)
    return fail(b, field, "every entry must be a non-empty string of at most 128 bytes");
  *out = json_deep_copy(v);
  return *out != NULL || fail(b, field, "out of memory");
}

/* Validates an item object into its stored document. id_field: "itemId" when the object must
 * carry its id (bulk), else NULL. */
static bool parse_item(json_t *o, const char *id_field, json_t **doc_out, bool *available, const char **id, bad *b) {
  *doc_out = NULL;
  *available = true;
  if (!json_is_object(o)) return fail(b, "", "must be a JSON object");
  json_t *doc = json_object();
  if (!doc) return fail(b, "", "out of memory");
  const char *key;
  json_t *v, *list = NULL;
  bool has_cat = false;
  json_object_foreach(o, key, v) {
    if (id_field && !strcmp(key, id_field)) {
      if (!json_is_string(v) || !valid_id(json_string_value(v), json_string_length(v)))
        goto bad_field_id;
      *id = json_string_value(v);
    } else if (!strcmp(key, "title")) {
      if (!json_is_string(v) || json_string_length(v) > MAX_TITLE) { fail(b, key, "must be a string of at most 1024 bytes"); goto bad; }
      json_object_set(doc, "title", v);
    } else if (!strcmp(key, "category") || !strcmp(key, "categories")) {
      if (has_cat) { fail(b, key, "give category or categories, not both"); goto bad; }
      has_cat = true;
      if (json_is_string(v)) {
        if (!json_string_length(v) || json_string_length(v) > MAX_NAME) { fail(b, key, "must be a non-empty string of at most 128 bytes"); goto bad; }
        list = json_pack("[O]", v);
      } else if (!name_list(v, key, &list, b)) {
        goto bad;
      }
      json_object_set_new(doc, "categories", list);
    } else if (!strcmp(key, "tags")) {
      if (!name_list(v, key, &list, b)) goto bad;
      json_object_set_new(doc, "tags", list);
    } else if (!strcmp(key, "price")) {
      if (!json_is_number(v) || !(json_number_value(v) >= 0) || !isfinite(json_number_value(v))) { fail(b, key, "must be a number >= 0"); goto bad; }
      json_object_set(doc, "price", v);
    } else if (!strcmp(key, "rating")) {
      if (!json_is_number(v) || !(json_number_value(v) >= 0 && json_number_value(v) <= 5)) { fail(b, key, "must be a number in [0, 5]"); goto bad; }
      json_object_set(doc, "rating", v);
    } else if (!strcmp(key, "text")) {
      if (!json_is_string(v) || json_string_length(v) > MAX_TEXT) { fail(b, key, "must be a string of at most 65536 bytes"); goto bad; }
      json_object_set(doc, "text", v);
    } else if (!strcmp(key, "available")) {
      if (!json_is_boolean(v)) { fail(b, key, "must be true or false"); goto bad; }
      *available = json_is_true(v);
    } else {
      char msg[200];
      snprintf(msg, sizeof msg, "unknown field (expected title, category, categories, tags, price, rating, text, available%s)",
               id_field ? ", itemId" : "");
      fail(b, key, msg);
      goto bad;
    }
  }
  if (id_field && !*id) {
  bad_field_id:
    fail(b, id_field, "is required: a non-empty string of at most 255 bytes");
    goto bad;
  }
  *doc_out = doc;
  return true;
bad:
  json_decref(doc);
  return false;
}

/* The item's representation: its stored document, else the serving catalogue's metadata. */
typedef struct item_row {
  bool found;
  json_t *doc;
  bool available;
  int64_t updated_ms;
} item_row;

static void on_row(void *ctx, const char *id, const char *doc, bool available, int64_t updated_ms) {
  (void)id;
  item_row *r = ctx;
  r->found = true;
  r->doc = json_loads(doc, 0, NULL);
  r->available = available;
  r->updated_ms = updated_ms;
}

static void put_num(srv_buf *b, const char *key, double v) {
  srv_buf_printf(b, ",\"%s\":", key);
  srv_buf_jnum(b, v);
}

/* Writes {"itemId",...} for id; returns false when neither the store nor the catalogue has it. */
static bool write_item(srv_buf *b, const char *id, const item_row *r, const srv_snapshot *s) {
  int32_t ci = s && s->ids ? reco__idmap_get(s->ids, id, strlen(id)) : -1;
  if (s && ci >= s->n_items) ci = -1;
  if (!r->found && ci < 0) return false;
  srv_buf_puts(b, "{\"itemId\":");
  srv_buf_jstr(b, id);
  bool from_store = r->found && r->doc && json_object_size(r->doc) > 0;
  if (from_store) {
    json_t *d = r->doc;
    srv_buf_puts(b, ",\"title\":");
    srv_buf_jstr(b, json_string_value(json_object_get(d, "title")));
    const char *lists[] = {"categories", "tags"};
    for (int l = 0; l < 2; l++) {
      json_t *a = json_object_get(d, lists[l]), *e;
      size_t k;
      srv_buf_printf(b, ",\"%s\":[", lists[l]);
      json_array_foreach(a, k, e) {
        if (k) srv_buf_puts(b, ",");
        srv_buf_jstr(b, json_string_value(e));
      }
      srv_buf_puts(b, "]");
    }
    json_t *p = json_object_get(d, "price"), *rt = json_object_get(d, "rating");
    put_num(b, "price", p ? json_number_value(p) : NAN);
    put_num(b, "rating", rt ? json_number_value(rt) : NAN);
    srv_buf_puts(b, ",\"text\":");
    srv_buf_jstr(b, json_string_value(json_object_get(d, "text")));
  } else if (ci >= 0) {
    const srv_item *it = &s->items[ci];
    srv_buf_puts(b, ",\"title\":");
    srv_buf_puts(b, it->title_json ? it->title_json : "null");
    srv_buf_puts(b, ",\"categories\":[");
    const reco_itemmeta *meta = s->cat ? s->cat->meta : NULL;
    if (meta && meta->cat_ptr && ci < meta->n_items)
      for (int64_t q = meta->cat_ptr[ci]; q < meta->cat_ptr[ci + 1]; q++)
        srv_buf_printf(b, "%s%s", q > meta->cat_ptr[ci] ? "," : "",
                       meta->cat_idx[q] < s->n_cats ? s->cat_json[meta->cat_idx[q]] : "null");
    srv_buf_puts(b, "],\"tags\":[]");
    put_num(b, "price", it->price);
    put_num(b, "rating", it->rating);
    srv_buf_puts(b, ",\"text\":null");
  } else { /* a row holding only availability, for an item the catalogue no longer has */
    srv_buf_puts(b, ",\"title\":null,\"categories\":[],\"tags\":[],\"price\":null,\"rating\":null,\"text\":null");
  }
  bool available = r->found ? r->available : true;
  if (ci >= 0 && !srv_item_available(s, ci)) available = false;
  srv_buf_printf(b, ",\"available\":%s,\"source\":\"%s\",\"inCatalogue\":%s,\"models\":[", available ? "true" : "false",
                 from_store ? "store" : "catalogue", ci >= 0 ? "true" : "false");
  for (int k = 0, shown = 0; ci >= 0 && k < s->n_models; k++)
    if (srv_c2m(&s->models[k], ci) >= 0) srv_buf_printf(b, "%s\"%s\"", shown++ ? "," : "", s->models[k].algo);
  srv_buf_puts(b, "],\"updatedAt\":");
  if (r->found) srv_buf_jint(b, r->updated_ms);
  else srv_buf_puts(b, "null");
  srv_buf_puts(b, "}");
  return true;
}

static int no_store(srv_resp *rs) { return srv_error(rs, 503, "unavailable", NULL, "the store is not open"); }

static int store_failed(srv_resp *rs, int rc) {
  if (rc == RECO_ELIMIT) {
    rs->retry_after_s = 1;
    return srv_error(rs, 503, "overloaded", NULL, "%s", reco_last_error());
  }
  return srv_error(rs, 500, "internal", NULL, "the store failed: %s", reco_last_error());
}

/* Answers GET for id into rs (the common tail of GET, PUT and DELETE). */
static int answer_item(srv_resp *rs, const char *id, const char *extra) {
  item_row r = {0};
  bool found;
  if (store_catalog_get(srv_store, STORE_ITEMS, id, on_row, &r, &found)) return store_failed(rs, RECO_EIO);
  srv_snapshot *s = srv_snapshot_acquire();
  srv_buf *b = &rs->body;
  srv_buf_reset(b);
  srv_buf_puts(b, "{\"status\":\"success\",\"result\":");
  int st = 200;
  if (!write_item(b, id, &r, s)) st = srv_error(rs, 404, "not_found", "itemId", "item '%s' is unknown", id);
  else srv_buf_printf(b, "%s}", extra ? extra : "");
  srv_snapshot_release(s);
  json_decref(r.doc);
  return st;
}

/* After a write of items the catalogue knows, their metadata is served from a new snapshot.
 * It is built on the model loader thread (loader.c), not on this HTTP thread (whose other
 * connections would wait for the whole load): the request is suspended (srv_defer) and
 * answered by cat_finish once cat_run republished. When the loader's queue is full the write
 * stands (it is stored) and the answer says "republished": false, as when the reload fails:
 * the next swap, SIGHUP or retrain serves it. Either way cat_finish, back on the HTTP thread,
 * then runs the cache hook (srv_cache_catalog_changed), as the synchronous path did after its
 * reload, and before the answer. */
typedef struct cat_job {
  bool bulk;
  bool republished;
  size_t n, n_known;
  char id[MAX_ID + 1];     /* PUT's item */
  char root[1024];         /* MODEL_PATH */
  char default_algo[64];   /* DEFAULT_ALGORITHM */
  srv_pending *p;
} cat_job;

static int answer_write(srv_resp *rs, const cat_job *j) {
  const char *rep = j->republished ? ",\"republished\":true" : ",\"republished\":false";
  if (!j->bulk) return answer_item(rs, j->id, rep);
  srv_buf_reset(&rs->body);
  srv_buf_printf(&rs->body, "{\"status\":\"success\",\"result\":{\"imported\":%zu,\"inCatalogue\":%zu%s}}", j->n, j->n_known,
                 rep);
  return 200;
}

/* The loader thread: the reload, then the resume (j is the HTTP thread's from then on). */
static void cat_run(void *ctx) {
  cat_job *j = ctx;
  char msg[1024];
  j->republished = !srv_snapshot_reload(j->root, j->default_algo, msg, sizeof msg);
  if (!j->republished) reco__log(RECO_LOG_WARN, "catalogue: the stored metadata is not served yet: reload failed: %s", msg);
  srv_resume(j->p);
}

static int cat_finish(void *ctx, srv_resp *rs) {
  cat_job *j = ctx;
  /* [cache hook] after the new snapshot (or, if it failed, the availability bits) is served
   * here: every replica's cached lists from before are unreachable, and they reload (cache.h).
   * Also when the client is gone: the write happened. */
  srv_cache_catalog_changed();
  int st = rs ? answer_write(rs, j) : 200;
  free(j);
  return st;
}

/* Answers a stored write of n items (n_known of them in the serving catalogue; id: PUT's). */
static int republish(srv_req *rq, srv_resp *rs, const char *id, size_t n, size_t n_known) {
  cat_job jl = {.bulk = !id, .n = n, .n_known = n_known}, *j = n_known ? malloc(sizeof *j) : NULL;
  if (id) snprintf(jl.id, sizeof jl.id, "%s", id);
  if (!j) { /* nothing to republish (or no memory: not republished) */
    if (n_known) srv_cache_catalog_changed(); /* [cache hook] the availability bits changed */
    return answer_write(rs, &jl);
  }
  *j = jl;
  snprintf(j->root, sizeof j->root, "%s", rq->cfg->model_path);
  snprintf(j->default_algo, sizeof j->default_algo, "%s", rq->cfg->default_algo);
  j->p = srv_defer(rq, cat_finish, j); /* suspends first: the reload may finish before we return */
  if (srv_loader_submit(cat_run, j)) {
    reco__log(RECO_LOG_WARN, "catalogue: the model loader is busy: the stored metadata is served from the next reload");
    srv_resume(j->p);
  }
  return SRV_DEFERRED;
}

int srv_h_item_put(srv_req *rq, srv_resp *rs) {
  const char *id = srv_param(rq, "itemId");
  if (!id || !valid_id(id, strlen(id))) return srv_error(rs, 400, "invalid_argument", "itemId", "itemId must be 1..255 bytes");
  if (!srv_store) return no_store(rs);
  int st;
  json_t *j = srv_parse_object(rq, rs, &st);
  if (!j) return st;
  json_t *doc;
  bool available;
  bad b;
  if (!parse_item(j, NULL, &doc, &available, &(const char *){NULL}, &b)) {
    json_decref(j);
    return srv_error(rs, 400, "invalid_argument", b.field, "%s %s", b.field, b.msg);
  }
  json_decref(j);
  char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(doc);
  if (!text) return srv_error(rs, 500, "internal", NULL, "out of memory");
  store_doc d = {.id = id, .doc = text, .available = available};
  size_t n_known = 0;
  int rc = srv_catalog_put_items(&d, 1, &n_known);
  free(text);
  if (rc) return store_failed(rs, rc);
  return republish(rq, rs, id, 1, n_known);
}

int srv_h_item_get(srv_req *rq, srv_resp *rs) {
  const char *id = srv_param(rq, "itemId");
  if (!id || !valid_id(id, strlen(id))) return srv_error(rs, 400, "invalid_argument", "itemId", "itemId must be 1..255 bytes");
  if (!srv_store) return no_store(rs);
  return answer_item(rs, id, NULL);
}

int srv_h_item_delete(srv_req *rq, srv_resp *rs) {
  const char *id = srv_param(rq, "itemId");
  if (!id || !valid_id(id, strlen(id))) return srv_error(rs, 400, "invalid_argument", "itemId", "itemId must be 1..255 bytes");
  if (!srv_store) return no_store(rs);
  item_row r = {0};
  bool found;
  if (store_catalog_get(srv_store, STORE_ITEMS, id, on_row, &r, &found)) return store_failed(rs, RECO_EIO);
  json_decref(r.doc);
  srv_snapshot *s = srv_snapshot_acquire();
  bool known = found || (s && s->ids && reco__idmap_get(s->ids, id, strlen(id)) >= 0);
  srv_snapshot_release(s);
  if (!known) return srv_error(rs, 404, "not_found", "itemId", "item '%s' is unknown", id);
  int rc = srv_catalog_set_available(id, false);
  if (rc) return store_failed(rs, rc);
  srv_cache_catalog_changed(); /* [cache hook] the other replicas' cached lists too (cache.h) */
  return answer_item(rs, id, NULL);
}

/* ---- bulk ---- */

static int bulk_error(srv_resp *rs, bool ndjson, size_t at, const bad *b) {
  char field[240];
  if (ndjson) snprintf(field, sizeof field, "line[%zu]%s%s", at + 1, b->field[0] ? "." : "", b->field);
  else snprintf(field, sizeof field, "[%zu]%s%s", at, b->field[0] ? "." : "", b->field);
  return srv_error(rs, 400, "invalid_argument", field, "%s %zu%s%s %s; nothing was imported", ndjson ? "line" : "item", ndjson ? at + 1 : at,
                   b->field[0] ? ": " : "", b->field, b->msg);
}

int srv_h_items_bulk(srv_req *rq, srv_resp *rs) {
  if (!srv_store) return no_store(rs);
  const char *p = rq->body, *end = rq->body + rq->body_len;
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
  if (p == end) return srv_error(rs, 400, "invalid_argument", NULL, "the body must be a JSON array of items or NDJSON (one item per line)");
  bool ndjson = *p != '[';
  json_t *items = NULL;
  json_error_t err;
  int st = 200;
  bad b = {{0}, {0}};
  size_t *lines = NULL; /* NDJSON: the line of each item, for errors */
  if (!ndjson) {
    if (!(items = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &err)))
      return srv_error(rs, 400, "invalid_json", NULL, "invalid JSON at line %d, column %d: %s", err.line, err.column, err.text);
  } else {
    if (!(items = json_array()) || !(lines = malloc(BULK_MAX * sizeof *lines))) {
      json_decref(items);
      return srv_error(rs, 500, "internal", NULL, "out of memory");
    }
    size_t line = 0;
    for (const char *q = rq->body; q < end; line++) {
      const char *nl = memchr(q, '\n', (size_t)(end - q));
      size_t len = nl ? (size_t)(nl - q) : (size_t)(end - q);
      const char *t = q;
      q += len + (nl != NULL);
      while (len && (t[len - 1] == '\r' || t[len - 1] == ' ' || t[len - 1] == '\t')) len--;
      while (len && (*t == ' ' || *t == '\t')) t++, len--;
      if (!len) continue; /* blank lines are allowed */
      json_t *o = json_loadb(t, len, JSON_REJECT_DUPLICATES, &err);
      if (!o) {
        json_decref(items);
        free(lines);
        snprintf(b.msg, sizeof b.msg, "is not valid JSON (column %d: %s)", err.column, err.text);
        return bulk_error(rs, true, line, &b);
      }
      lines[json_array_size(items) < BULK_MAX ? json_array_size(items) : 0] = line;
      if (json_array_size(items) == BULK_MAX || json_array_append_new(items, o)) {
        if (json_array_size(items) == BULK_MAX) json_decref(o); /* append_new frees it on failure */
        json_decref(items);
        free(lines);
        return srv_error(rs, 413, "too_many_items", NULL, "at most %d items per bulk request", BULK_MAX);
      }
    }
  }
  size_t n = json_is_array(items) ? json_array_size(items) : 0;
  if (!json_is_array(items) || n == 0 || n > BULK_MAX) {
    json_decref(items);
    free(lines);
    if (n > BULK_MAX) return srv_error(rs, 413, "too_many_items", NULL, "at most %d items per bulk request", BULK_MAX);
    return srv_error(rs, 400, "invalid_argument", NULL, "the body must hold 1..%d items (a JSON array or NDJSON)", BULK_MAX);
  }
  store_doc *docs = calloc(n, sizeof *docs);
  json_t *seen = json_object();
  size_t n_known = 0;
  if (!docs || !seen) {
    st = srv_error(rs, 500, "internal", NULL, "out of memory");
    goto out;
  }
  for (size_t k = 0; k < n; k++) {
    json_t *o = json_array_get(items, k), *doc;
    size_t at = ndjson ? lines[k] : k;
    const char *id = NULL;
    if (!parse_item(o, "itemId", &doc, &docs[k].available, &id, &b)) {
      st = bulk_error(rs, ndjson, at, &b);
      goto out;
    }
    if (json_object_get(seen, id)) {
      json_decref(doc);
      fail(&b, "itemId", "repeats an earlier item's id");
      st = bulk_error(rs, ndjson, at, &b);
      goto out;
    }
    json_object_set_new(seen, id, json_true());
    docs[k].id = id;
    docs[k].doc = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!docs[k].doc) {
      st = srv_error(rs, 500, "internal", NULL, "out of memory");
      goto out;
    }
  }
  int rc = srv_catalog_put_items(docs, n, &n_known);
  if (rc) {
    st = store_failed(rs, rc);
    goto out;
  }
  st = republish(rq, rs, NULL, n, n_known);
out:
  for (size_t k = 0; docs && k < n; k++) free((char *)docs[k].doc);
  free(docs);
  free(lines);
  json_decref(seen);
  json_decref(items);
  return st;
}

/* ---- users ---- */

static bool parse_attrs(json_t *body, json_t **out, bad *b) {
  const char *key;
  json_t *v, *a = NULL;
  json_object_foreach(body, key, v) {
    if (strcmp(key, "attributes")) return fail(b, key, "unknown field (expected attributes)");
    a = v;
  }
  if (!json_is_object(a)) return fail(b, "attributes", "is required: a JSON object");
  if (json_object_size(a) > MAX_ATTRS) return fail(b, "attributes", "has more than 64 keys");
  json_object_foreach(a, key, v) {
    bool scalar = json_is_number(v) || json_is_boolean(v) || json_is_null(v) ||
                  (json_is_string(v) && json_string_length(v) <= MAX_ATTR_STR);
    bool list = json_is_array(v) && json_array_size(v) <= MAX_LIST;
    size_t k;
    json_t *e;
    if (list) json_array_foreach(v, k, e) list &= json_is_number(e) || json_is_boolean(e) || (json_is_string(e) && json_string_length(e) <= MAX_ATTR_STR);
    if (strlen(key) > MAX_NAME || !(scalar || list)) {
      char f[64 + MAX_NAME];
      snprintf(f, sizeof f, "attributes.%.*s", MAX_NAME, key);
      return fail(b, f, "must be a string (<= 1024 bytes), number, boolean, null or a list of at most 64 of them (names <= 128 bytes)");
    }
  }
  *out = a;
  return true;
}

static int answer_user(srv_resp *rs, const char *id) {
  item_row r = {0};
  bool found;
  if (store_catalog_get(srv_store, STORE_USERS, id, on_row, &r, &found)) return store_failed(rs, RECO_EIO);
  if (!found) return srv_error(rs, 404, "not_found", "userId", "user '%s' has no stored attributes", id);
  char *attrs = r.doc ? json_dumps(r.doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(r.doc);
  srv_buf *b = &rs->body;
  srv_buf_reset(b);
  srv_buf_puts(b, "{\"status\":\"success\",\"result\":{\"userId\":");
  srv_buf_jstr(b, id);
  srv_buf_puts(b, ",\"attributes\":");
  srv_buf_puts(b, attrs ? attrs : "{}");
  srv_buf_puts(b, ",\"updatedAt\":");
  srv_buf_jint(b, r.updated_ms);
  srv_buf_puts(b, "}}");
  free(attrs);
  return 200;
}

int srv_h_user_put(srv_req *rq, srv_resp *rs) {
  const char *id = srv_param(rq, "userId");
  if (!id || !valid_id(id, strlen(id))) return srv_error(rs, 400, "invalid_argument", "userId", "userId must be 1..255 bytes");
  if (!srv_store) return no_store(rs);
  int st;
  json_t *j = srv_parse_object(rq, rs, &st), *a;
  if (!j) return st;
  bad b;
  if (!parse_attrs(j, &a, &b)) {
    json_decref(j);
    return srv_error(rs, 400, "invalid_argument", b.field, "%s %s", b.field, b.msg);
  }
  char *text = json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(j);
  if (!text) return srv_error(rs, 500, "internal", NULL, "out of memory");
  store_doc d = {.id = id, .doc = text};
  int rc = store_catalog_put(srv_store, STORE_USERS, &d, 1);
  free(text);
  if (rc) return store_failed(rs, rc);
  return answer_user(rs, id);
}

int srv_h_user_get(srv_req *rq, srv_resp *rs) {
  const char *id = srv_param(rq, "userId");
  if (!id || !valid_id(id, strlen(id))) return srv_error(rs, 400, "invalid_argument", "userId", "userId must be 1..255 bytes");
  if (!srv_store) return no_store(rs);
  return answer_user(rs, id);
}

int srv_h_user_delete(srv_req *rq, srv_resp *rs) {
  const char *id = srv_param(rq, "userId");
  if (!id || !valid_id(id, strlen(id))) return srv_error(rs, 400, "invalid_argument", "userId", "userId must be 1..255 bytes");
  if (!srv_store) return no_store(rs);
  bool found = false;
  int rc = store_catalog_delete(srv_store, STORE_USERS, id, &found);
  if (rc) return store_failed(rs, rc);
  if (!found) return srv_error(rs, 404, "not_found", "userId", "user '%s' has no stored attributes", id);
  srv_buf_puts(&rs->body, "{\"status\":\"success\",\"result\":{\"userId\":");
  srv_buf_jstr(&rs->body, id);
  srv_buf_puts(&rs->body, ",\"deleted\":true}}");
  return 200;
}
