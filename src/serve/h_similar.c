/*
 * h_similar.c - POST /api/v1/similar: items most similar to an item, from a model's similar()
 * (content: TF-IDF cosine of the item text; itemknn: co-interaction cosine; factor models:
 * cosine of item factors). {"itemId", "limit" 1..100, "algorithm"} in; the seed's
 * {"itemId", "similarItems": [{"itemId", "similarity", "reason"}], "latencyMs"} out, plus the
 * metadata of each item, the model that answered and "cacheHit" (true only when the body came
 * from the result cache: cache.h says what is cached and what invalidates it).
 */
#include <math.h>
#include <string.h>

#include "base/base.h"
#include "scratch.h"
#include "serve.h"

/* Why two items are similar, by the kind of model that said so. */
static const char *reason_of(const char *algo) {
  if (!strcmp(algo, "content")) return "Similar features and attributes";
  if (!strcmp(algo, "itemknn") || !strcmp(algo, "ease") || !strcmp(algo, "slopeone"))
    return "Often interacted with by the same users";
  return "Close in the learned taste space";
}

int srv_h_similar(srv_req *rq, srv_resp *rs) {
  int st = 200;
  json_t *j = srv_parse_object(rq, rs, &st);
  if (!j) return st;
  srv_snapshot *s = NULL;
  long limit;
  json_t *it = json_object_get(j, "itemId");
  if (!json_is_string(it) || json_string_length(it) == 0 || json_string_length(it) > 256) {
    st = srv_error(rs, 400, "invalid_argument", "itemId", "itemId is required: a non-empty string of at most 256 bytes");
    goto out;
  }
  if (!srv_get_int(j, "limit", 1, SRV_MAX_LIMIT, rq->cfg->rec_limit, &limit, rs, &st)) goto out;
  json_t *al = json_object_get(j, "algorithm");
  if (al && !json_is_null(al) && !json_is_string(al)) {
    st = srv_error(rs, 400, "invalid_argument", "algorithm", "algorithm must be a string");
    goto out;
  }
  const char *algo = json_is_string(al) ? json_string_value(al) : "content_based";
  if (!(s = srv_snapshot_acquire())) {
    st = srv_error(rs, 503, "unavailable", NULL, "no model is loaded yet");
    goto out;
  }
  char msg[1024];
  int mk = srv_snapshot_pick(s, algo, msg, sizeof msg);
  if (mk < 0) {
    st = srv_error(rs, 400, "invalid_argument", "algorithm", "%s", msg);
    goto out;
  }
  const srv_model *sm = &s->models[mk];
  if (!sm->m->algo->similar) {
    st = srv_error(rs, 400, "invalid_argument", "algorithm", "%s cannot find similar items; use content_based, "
                   "collaborative_filtering or matrix_factorization", sm->algo);
    goto out;
  }
  int32_t ci = reco__idmap_get(s->ids, json_string_value(it), json_string_length(it));
  int32_t mi = ci >= 0 ? srv_c2m(sm, ci) : -1;
  if (mi < 0) {
    st = srv_error(rs, 404, "not_found", "itemId", "item '%s' is unknown%s", json_string_value(it), ci >= 0 ? " to this model" : "");
    goto out;
  }
  /* ---- [cache hook 1/2: lookup] (cache.c; a hit is the whole answer) ---- */
  srv_buf *b = &rs->body;
  srv_cache_key ck;
  bool cacheable = srv_cache_key_similar(&ck, s, sm, ci, limit);
  if (cacheable && srv_cache_get(&ck, b)) {
    srv_cache_finish(b, rq->t0, true);
    goto out;
  }
  /* a few spare candidates for the items deleted through the API (skipped below) */
  int32_t ids[SRV_MAX_LIMIT + 17];
  float sims[SRV_MAX_LIMIT + 17];
  int n = sm->m->algo->similar(sm->m, mi, (int)limit + 17, ids, sims);
  if (n < 0) {
    st = srv_error(rs, 500, "internal", NULL, "similar failed: %s", reco_last_error());
    goto out;
  }
  srv_buf_puts(b, "{\"status\":\"success\",\"result\":{\"itemId\":");
  srv_buf_puts(b, s->items[ci].id_json);
  srv_buf_puts(b, ",\"similarItems\":[");
  int shown = 0;
  const char *why = reason_of(sm->algo);
  for (int k = 0; k < n && shown < limit; k++) {
    int32_t c = ids[k] >= 0 && ids[k] < sm->m->n_items ? sm->m2c[ids[k]] : -1;
    if (c < 0 || c == ci || !srv_item_available(s, c)) continue;
    const srv_item *x = &s->items[c];
    srv_buf_puts(b, shown++ ? ",{\"itemId\":" : "{\"itemId\":");
    srv_buf_puts(b, x->id_json);
    srv_buf_puts(b, ",\"similarity\":");
    srv_buf_jnum(b, sims[k]);
    srv_buf_puts(b, ",\"reason\":");
    srv_buf_jstr(b, why);
    srv_buf_puts(b, ",\"metadata\":{\"title\":");
    srv_buf_puts(b, x->title_json ? x->title_json : "null");
    srv_buf_puts(b, ",\"category\":");
    srv_buf_puts(b, x->cat0 >= 0 && x->cat0 < s->n_cats ? s->cat_json[x->cat0] : "null");
    srv_buf_puts(b, "}}");
  }
  srv_buf_puts(b, "],\"algorithm\":");
  srv_buf_jstr(b, sm->algo);
  /* ---- [cache hook 2/2: store] everything before latencyMs; srv_cache_finish writes the rest ---- */
  if (cacheable && !b->oom) srv_cache_put(&ck, b->p, b->len);
  srv_cache_finish(b, rq->t0, false);
out:
  srv_snapshot_release(s);
  json_decref(j);
  return st;
}
