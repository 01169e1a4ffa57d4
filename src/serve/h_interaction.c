/*
 * h_interaction.c - POST /api/v1/interaction: records one interaction durably, then applies its
 * real-time effects.
 *
 * Order (DESIGN.md section 5): validate every field (a 400 names it; an item the serving
 * catalogue does not know is a 404 on itemId), hand the record to the store's writer and wait
 * for the group commit (store_append returns after COMMIT with synchronous=FULL), and only then
 * answer and update the in-memory state (live.c: the user's recent history and the counters).
 * A full write queue is a 503 with Retry-After: the record was not stored and the client
 * retries. A retry carrying the same idempotencyKey stores nothing and returns the first row's
 * id. modelUpdateQueued is false: no background retraining exists yet, and it is never claimed.
 *
 * Values: the rating when one is given, else the type's weight (view 1 < click 2 < cart 3 <
 * like 4 < purchase 5); dislike and skip are stored and counted but are not history.
 */
#include <math.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "serve.h"
#include "store/store.h"

#define MAX_ID 256

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

int srv_h_interaction(srv_req *rq, srv_resp *rs) {
  int st = 200;
  json_t *j = srv_parse_object(rq, rs, &st);
  if (!j) return st;
  srv_snapshot *s = NULL;
  char *ctx_text = NULL;
  store_interaction r = {0};
  if (!id_field(j, "userId", "userId", true, &r.user, rs, &st) || !id_field(j, "itemId", "itemId", true, &r.item, rs, &st)) goto out;
  json_t *t = json_object_get(j, "interactionType");
  int ty = -1;
  for (size_t k = 0; json_is_string(t) && k < sizeof k_types / sizeof *k_types; k++)
    if (!strcmp(json_string_value(t), k_types[k].name)) ty = (int)k;
  if (ty < 0) {
    st = srv_error(rs, 400, "invalid_argument", "interactionType",
                   "interactionType must be one of view, click, cart, purchase, rating, like, dislike, skip");
    goto out;
  }
  r.type = k_types[ty].name;
  json_t *rt = json_object_get(j, "rating");
  if (rt && !json_is_null(rt)) {
    if (!json_is_number(rt) || json_number_value(rt) < 0 || json_number_value(rt) > 5) {
      st = srv_error(rs, 400, "invalid_argument", "rating", "rating must be a number in [0, 5]");
      goto out;
    }
    r.value = json_number_value(rt);
    r.has_value = true;
  } else if (!strcmp(r.type, "rating")) {
    st = srv_error(rs, 400, "invalid_argument", "rating", "rating is required when interactionType is rating");
    goto out;
  } else {
    r.value = k_types[ty].weight;
    r.has_value = true;
  }
  json_t *ts = json_object_get(j, "timestamp");
  if (ts && !json_is_null(ts)) {
    if (!json_is_integer(ts) || json_integer_value(ts) < 0 || json_integer_value(ts) > (1LL << 53)) {
      st = srv_error(rs, 400, "invalid_argument", "timestamp", "timestamp must be an integer: milliseconds since the epoch");
      goto out;
    }
    r.ts_ms = json_integer_value(ts);
  } else {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    r.ts_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
  }
  json_t *c = json_object_get(j, "context");
  if (c && !json_is_null(c)) {
    if (!json_is_object(c)) {
      st = srv_error(rs, 400, "invalid_argument", "context", "context must be an object");
      goto out;
    }
    if (!id_field(c, "sessionId", "context.sessionId", false, &r.session, rs, &st)) goto out;
    json_t *pos = json_object_get(c, "position");
    if (pos && !json_is_null(pos)) {
      if (!json_is_integer(pos) || json_integer_value(pos) < 0 || json_integer_value(pos) > 1000000) {
        st = srv_error(rs, 400, "invalid_argument", "context.position", "context.position must be an integer in [0, 1000000]");
        goto out;
      }
      r.position = json_integer_value(pos);
      r.has_position = true;
    }
    if (!(ctx_text = json_dumps(c, JSON_COMPACT))) {
      st = srv_error(rs, 503, "unavailable", NULL, "out of memory");
      goto out;
    }
    r.context_json = ctx_text;
  }
  if (!id_field(j, "idempotencyKey", "idempotencyKey", false, &r.idem_key, rs, &st)) goto out;

  if (!(s = srv_snapshot_acquire())) {
    st = srv_error(rs, 503, "unavailable", NULL, "no model is loaded yet");
    goto out;
  }
  int32_t ci = s->ids ? reco__idmap_get(s->ids, r.item, strlen(r.item)) : -1;
  if (ci < 0 || ci >= s->n_items) {
    st = srv_error(rs, 404, "not_found", "itemId", "itemId '%s' is not in the catalogue", r.item);
    goto out;
  }
  if (!srv_store) {
    st = srv_error(rs, 503, "unavailable", NULL, "no store is open");
    goto out;
  }
  int64_t id = 0;
  bool dup = false;
  int rc = store_append(srv_store, &r, &id, &dup);
  if (rc == RECO_ELIMIT) {
    rs->retry_after_s = 1;
    st = srv_error(rs, 503, "unavailable", NULL, "the write queue is full: retry later");
    goto out;
  }
  if (rc) {
    st = srv_error(rs, 500, "internal", NULL, "the interaction was not stored: %s", reco_last_error());
    goto out;
  }
  /* durable from here on: the real-time effects (a retry changes nothing) */
  if (!dup) srv_live_add(r.user, strlen(r.user), r.item, (float)r.value, r.type);
  if (!dup) srv_ws_notify(r.user, strlen(r.user), id); /* push channel (ws.c): only enqueues */
  srv_buf_printf(&rs->body,
                 "{\"status\":\"success\",\"result\":{\"recorded\":true,\"interactionId\":\"%lld\",\"duplicate\":%s,"
                 "\"modelUpdateQueued\":false}}",
                 (long long)id, dup ? "true" : "false");
out:
  free(ctx_text);
  srv_snapshot_release(s);
  json_decref(j);
  return st;
}
