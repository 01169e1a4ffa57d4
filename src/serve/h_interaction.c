/*
 * h_interaction.c - POST /api/v1/interaction and POST /api/v1/interactions/batch: records
 * interactions durably, then applies their real-time effects.
 *
 * Order (DESIGN.md section 5): validate every field (a 400 names it, in a batch with the
 * record's index: "interactions[3].rating"; an item the serving catalogue does not know is a
 * 404 on itemId), hand the record(s) to the store's writer (store_append_async: one job, so a
 * batch commits entirely or not at all) and defer the response (srv_defer: the connection is
 * suspended, no HTTP thread waits). The writer, after the group COMMIT with synchronous=FULL,
 * records the outcome and resumes the connection (on_commit); back on an HTTP thread, ix_finish
 * first updates the in-memory state (live.c: the user's recent history and the counters), then
 * writes the ack, so a client that has its ack also sees its interaction in its next
 * recommendation. A full write queue is a 503 with Retry-After: nothing was stored and the
 * client retries. A retry carrying the same idempotencyKey stores nothing and returns the first
 * row's id. modelUpdateQueued is true only when one of the records made the count of new
 * interactions reach MODEL_UPDATE_MIN_INTERACTIONS and a background retrain was queued
 * (srv_retrain_note_interaction, retrain.c).
 *
 * Values: the rating when one is given, else the type's weight (view 1 < click 2 < cart 3 <
 * like 4 < purchase 5); dislike and skip are stored and counted but are not history.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "serve.h"
#include "store/store.h"

#define MAX_ID 256
#define SRV_BATCH_MAX 1000 /* records in one /interactions/batch request */

static const struct {
  const char *name;
  float weight;
} k_types[] = {{"view", 1}, {"click", 2}, {"cart", 3}, {"purchase", 5}, {"rating", 0}, {"like", 4}, {"dislike", -1}, {"skip", -1}};

/* An optional or required id-like string field; label is the field's name in errors. */
static bool id_field(json_t *j, const char *field, const char *label, bool required, const char **out, srv_resp *rs,
                     int *st) {
  json_t *v = json_object_get(j, field);
  *out = NULL;
  if (!v || json_is_null(v)) {
    if (!required) return true;
  } else if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= MAX_ID &&
             strlen(json_string_value(v)) == json_string_length(v)) {
    *out = json_string_value(v);
    return true;
  }
  *st = srv_error(rs, 400, "invalid_argument", label, "%s %s: a non-empty string of at most %d bytes", label,
                  required ? "is required" : "must be", MAX_ID);
  return false;
}

/* The interactions of one request on their way to the store, owned by the request from srv_defer
 * to ix_finish. The records' strings point into body (the parsed request), kept until then. */
typedef struct ix_job {
  json_t *body;
  size_t n;
  bool batch;
  store_interaction *recs;
  char **ctx_texts; /* per record: its context as JSON text, or NULL */
  int64_t *ids;
  bool *dups;
  int rc; /* the store's outcome, set by on_commit before the resume */
  bool queued; /* a record of this job queued a background retrain (modelUpdateQueued) */
  srv_pending *p;
} ix_job;

static void ix_free(ix_job *x) {
  if (!x) return;
  for (size_t k = 0; x->ctx_texts && k < x->n; k++) free(x->ctx_texts[k]);
  free(x->ctx_texts);
  free(x->recs);
  free(x->ids);
  free(x->dups);
  json_decref(x->body);
  free(x);
}

static ix_job *ix_new(json_t *body, size_t n, bool batch) {
  ix_job *x = calloc(1, sizeof *x);
  if (!x) return NULL;
  x->body = body, x->n = n, x->batch = batch;
  x->recs = calloc(n, sizeof *x->recs);
  x->ctx_texts = calloc(n, sizeof *x->ctx_texts);
  x->ids = calloc(n, sizeof *x->ids);
  x->dups = calloc(n, sizeof *x->dups);
  if (!x->recs || !x->ctx_texts || !x->ids || !x->dups) {
    x->body = NULL; /* still the caller's */
    ix_free(x);
    return NULL;
  }
  return x;
}

/* Validates one interaction object into r; pre is the prefix of the field names in errors
 * ("" for /interaction, "interactions[3]." in a batch). */
static bool parse_record(json_t *j, const char *pre, const srv_snapshot *s, store_interaction *r, char **ctx_text,
                         srv_resp *rs, int *st) {
  char lu[64], li[64], ls[80], lk[80];
  snprintf(lu, sizeof lu, "%suserId", pre);
  snprintf(li, sizeof li, "%sitemId", pre);
  snprintf(ls, sizeof ls, "%scontext.sessionId", pre);
  snprintf(lk, sizeof lk, "%sidempotencyKey", pre);
  if (!json_is_object(j)) {
    char f[64];
    snprintf(f, sizeof f, "%.*s", (int)(strlen(pre) ? strlen(pre) - 1 : 0), pre);
    *st = srv_error(rs, 400, "invalid_argument", f, "%s must be an object", f);
    return false;
  }
  if (!id_field(j, "userId", lu, true, &r->user, rs, st) || !id_field(j, "itemId", li, true, &r->item, rs, st)) return false;
  json_t *t = json_object_get(j, "interactionType");
  int ty = -1;
  for (size_t k = 0; json_is_string(t) && k < sizeof k_types / sizeof *k_types; k++)
    if (!strcmp(json_string_value(t), k_types[k].name)) ty = (int)k;
  if (ty < 0) {
    char f[80];
    snprintf(f, sizeof f, "%sinteractionType", pre);
    *st = srv_error(rs, 400, "invalid_argument", f,
                    "%s must be one of view, click, cart, purchase, rating, like, dislike, skip", f);
    return false;
  }
  r->type = k_types[ty].name;
  json_t *rt = json_object_get(j, "rating");
  char f[80];
  snprintf(f, sizeof f, "%srating", pre);
  if (rt && !json_is_null(rt)) {
    if (!json_is_number(rt) || json_number_value(rt) < 0 || json_number_value(rt) > 5) {
      *st = srv_error(rs, 400, "invalid_argument", f, "%s must be a number in [0, 5]", f);
      return false;
    }
    r->value = json_number_value(rt);
    r->has_value = true;
  } else if (!strcmp(r->type, "rating")) {
    *st = srv_error(rs, 400, "invalid_argument", f, "%s is required when interactionType is rating", f);
    return false;
  } else {
    r->value = k_types[ty].weight;
    r->has_value = true;
  }
  json_t *ts = json_object_get(j, "timestamp");
  if (ts && !json_is_null(ts)) {
    if (!json_is_integer(ts) || json_integer_value(ts) < 0 || json_integer_value(ts) > (1LL << 53)) {
      snprintf(f, sizeof f, "%stimestamp", pre);
      *st = srv_error(rs, 400, "invalid_argument", f, "%s must be an integer: milliseconds since the epoch", f);
      return false;
    }
    r->ts_ms = json_integer_value(ts);
  } else {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    r->ts_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
  }
  json_t *c = json_object_get(j, "context");
  if (c && !json_is_null(c)) {
    if (!json_is_object(c)) {
      snprintf(f, sizeof f, "%scontext", pre);
      *st = srv_error(rs, 400, "invalid_argument", f, "%s must be an object", f);
      return false;
    }
    if (!id_field(c, "sessionId", ls, false, &r->session, rs, st)) return false;
    json_t *pos = json_object_get(c, "position");
    if (pos && !json_is_null(pos)) {
      if (!json_is_integer(pos) || json_integer_value(pos) < 0 || json_integer_value(pos) > 1000000) {
        snprintf(f, sizeof f, "%scontext.position", pre);
        *st = srv_error(rs, 400, "invalid_argument", f, "%s must be an integer in [0, 1000000]", f);
        return false;
      }
      r->position = json_integer_value(pos);
      r->has_position = true;
    }
    if (!(*ctx_text = json_dumps(c, JSON_COMPACT))) {
      *st = srv_error(rs, 503, "unavailable", NULL, "out of memory");
      return false;
    }
    r->context_json = *ctx_text;
  }
  if (!id_field(j, "idempotencyKey", lk, false, &r->idem_key, rs, st)) return false;
  int32_t ci = s->ids ? reco__idmap_get(s->ids, r->item, strlen(r->item)) : -1;
  if (ci < 0 || ci >= s->n_items) {
    *st = srv_error(rs, 404, "not_found", li, "%s '%s' is not in the catalogue", li, r->item);
    return false;
  }
  return true;
}

/* The writer thread, after the commit (or the failure) of x's records. */
static void on_commit(void *ctx, int rc) {
  ix_job *x = ctx;
  srv_pending *p = x->p;
  x->rc = rc;
  srv_resume(p); /* x may be freed from here on (server.c, invariant 2) */
}

/* On an HTTP thread once the outcome is in; rs is NULL when the client is gone. */
static int ix_finish(void *ctx, srv_resp *rs) {
  ix_job *x = ctx;
  int st = 200;
  if (!x->rc) {
    /* ---- after the ack: the records are durable; real-time effects go here, before the
     * response is sent, so the client's next request sees them (a retry changes nothing) ---- */
    for (size_t k = 0; k < x->n; k++)
      if (!x->dups[k]) {
        srv_live_add(x->recs[k].user, strlen(x->recs[k].user), x->recs[k].item, (float)x->recs[k].value, x->recs[k].type);
        srv_cache_invalidate_user(x->recs[k].user, strlen(x->recs[k].user)); /* [cache hook] cache.c */
        x->queued |= srv_retrain_note_interaction(); /* counts toward a background retrain (retrain.c) */
        srv_ws_notify(x->recs[k].user, strlen(x->recs[k].user), x->ids[k]); /* push channel (ws.c): only enqueues */
      }
    /* ---- end of the real-time effects ---- */
  }
  if (rs) {
    if (x->rc == RECO_ELIMIT) {
      rs->retry_after_s = 1;
      st = srv_error(rs, 503, "unavailable", NULL, "the write queue is full: retry later");
    } else if (x->rc == RECO_ESTATE) {
      rs->retry_after_s = 1;
      st = srv_error(rs, 503, "unavailable", NULL, "the server is stopping: retry later");
    } else if (x->rc) {
      st = srv_error(rs, 500, "internal", NULL, "the interaction%s not stored", x->batch ? "s were" : " was");
    } else if (!x->batch) {
      srv_buf_printf(&rs->body,
                     "{\"status\":\"success\",\"result\":{\"recorded\":true,\"interactionId\":\"%lld\",\"duplicate\":%s,"
                     "\"modelUpdateQueued\":%s}}",
                     (long long)x->ids[0], x->dups[0] ? "true" : "false", x->queued ? "true" : "false");
    } else {
      size_t n_dup = 0;
      srv_buf_printf(&rs->body, "{\"status\":\"success\",\"result\":{\"recorded\":true,\"count\":%zu,\"interactionIds\":[", x->n);
      for (size_t k = 0; k < x->n; k++) {
        srv_buf_printf(&rs->body, "%s\"%lld\"", k ? "," : "", (long long)x->ids[k]);
        n_dup += x->dups[k];
      }
      srv_buf_printf(&rs->body, "],\"duplicates\":%zu,\"modelUpdateQueued\":%s}}", n_dup, x->queued ? "true" : "false");
    }
  }
  ix_free(x);
  return st;
}

/* Hands x to the store and defers the answer; every outcome is answered by ix_finish. */
static int ix_submit(srv_req *rq, ix_job *x) {
  x->p = srv_defer(rq, ix_finish, x); /* suspends first: on_commit may run before we return */
  int rc = store_append_async(srv_store, x->recs, x->n, x->ids, x->dups, on_commit, x);
  if (rc) {
    /* not queued (full, or closing): on_commit will not run; answer through the same path */
    x->rc = rc;
    srv_resume(x->p);
  }
  return SRV_DEFERRED;
}

int srv_h_interaction(srv_req *rq, srv_resp *rs) {
  int st = 200;
  json_t *j = srv_parse_object(rq, rs, &st);
  if (!j) return st;
  srv_snapshot *s = NULL;
  ix_job *x = NULL;
  if (!(x = ix_new(j, 1, false))) {
    json_decref(j);
    return srv_error(rs, 503, "unavailable", NULL, "out of memory");
  }
  if (!(s = srv_snapshot_acquire())) {
    st = srv_error(rs, 503, "unavailable", NULL, "no model is loaded yet");
    goto fail;
  }
  if (!parse_record(j, "", s, &x->recs[0], &x->ctx_texts[0], rs, &st)) goto fail;
  srv_snapshot_release(s);
  if (!srv_store) {
    ix_free(x);
    return srv_error(rs, 503, "unavailable", NULL, "no store is open");
  }
  return ix_submit(rq, x);
fail:
  srv_snapshot_release(s);
  ix_free(x);
  return st;
}

int srv_h_interaction_batch(srv_req *rq, srv_resp *rs) {
  int st = 200;
  json_t *j = srv_parse_object(rq, rs, &st);
  if (!j) return st;
  json_t *arr = json_object_get(j, "interactions");
  size_t n = json_array_size(arr);
  if (!json_is_array(arr) || n == 0 || n > SRV_BATCH_MAX) {
    json_decref(j);
    return srv_error(rs, 400, "invalid_argument", "interactions", "interactions must be an array of 1 to %d interactions",
                     SRV_BATCH_MAX);
  }
  srv_snapshot *s = NULL;
  ix_job *x = ix_new(j, n, true);
  if (!x) {
    json_decref(j);
    return srv_error(rs, 503, "unavailable", NULL, "out of memory");
  }
  if (!(s = srv_snapshot_acquire())) {
    st = srv_error(rs, 503, "unavailable", NULL, "no model is loaded yet");
    goto fail;
  }
  /* every record is validated before any is queued: a rejected batch stores nothing */
  for (size_t k = 0; k < n; k++) {
    char pre[40];
    snprintf(pre, sizeof pre, "interactions[%zu].", k);
    if (!parse_record(json_array_get(arr, k), pre, s, &x->recs[k], &x->ctx_texts[k], rs, &st)) goto fail;
  }
  srv_snapshot_release(s);
  if (!srv_store) {
    ix_free(x);
    return srv_error(rs, 503, "unavailable", NULL, "no store is open");
  }
  return ix_submit(rq, x);
fail:
  srv_snapshot_release(s);
  ix_free(x);
  return st;
}
