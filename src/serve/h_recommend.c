/*
 * h_recommend.c - POST /api/v1/recommend: top-N for a user, with the seed's request and
 * response shapes.
 *
 * Path of a request: validate every field (a 400 names the field), take a reference on the
 * current snapshot, resolve the algorithm (seed or engine name), build the user view from the
 * catalogue's history followed by the interactions acknowledged since start-up (live.c; models
 * fold them in, so a new user's list changes after their first interactions); a user with
 * neither, unknown to the model, is cold: the popularity model answers, never an error. Then
 * the library's recommend pipeline (src/rank/rank.h) ranks with that one model: the filters
 * (category, minRating, excludeItems, the history and live history as seen items), its best
 * RECO_REC_POOL_DEFAULT eligible candidates, and, when diversityWeight > 0, greedy MMR
 * (Carbonell and Goldstein 1998) over the items' category one-hot vectors, so a higher weight
 * trades relevance for more categories in the list. Its per-item inputs (ratings, category
 * lists and vectors in the model's item indices) are built once per snapshot (snapshot.c), its
 * workspace once per thread (scratch.c): a request allocates nothing on the ranking path.
 *
 * Fields:
 *   score       the pipeline's objective without the diversity term: (1 - diversityWeight) x
 *               the model's score min-maxed over the candidates (so in [0, 1]);
 *   confidence  that score min-max normalised over the candidates: where the item stands among
 *               them, not a probability;
 *   reason      from the model's explain() when it names a history item ("Because you
 *               interacted with <title>"), else "Popular in <category>";
 *   algorithm   the engine model that answered; requestedAlgorithm echoes the request.
 *   cacheHit    true only when the body came from the result cache (cache.h: what is cached,
 *               and how a model swap or the user's interaction makes an entry unreachable).
 * context is accepted and not used yet.
 */
#include <math.h>
#include <string.h>

#include "base/base.h"
#include "fjson.h"
#include "rank/context.h"
#include "scratch.h"
#include "serve.h"

#define MAX_CATS_FILTER 64
#define MAX_ID 256

typedef struct rec_args {
  const char *user;
  long limit;
  const char *algo;
  int32_t cats[MAX_CATS_FILTER];
  int n_cats;
  bool cat_filter;
  double min_rating; /* NAN = none */
  const fj_val *exclude; /* array of strings or NULL */
  double diversity;
  /* context (the seed's {"device","location","time"}; "timestamp" in ms also accepted) */
  const char *device, *location;
  int64_t ts; /* unix seconds, -1 = unknown */
} rec_args;

/* "2024-01-15T10:30:00Z", "2024-01-15T10:30:00.123+01:00", "2024-01-15": unix seconds, or -1 when
 * not that form (RFC 3339 with the date alone allowed). */
/* n decimal digits at p into *v; false when any is not a digit. */
static bool digits(const char *p, int n, int *v) {
  *v = 0;
  for (int k = 0; k < n; k++) {
    if (p[k] < '0' || p[k] > '9') return false;
    *v = *v * 10 + (p[k] - '0');
  }
  return true;
}

static int64_t parse_time(const char *t) {
  int y, mo, d, h = 0, mi = 0, sec = 0;
  if (!digits(t, 4, &y) || t[4] != '-' || !digits(t + 5, 2, &mo) || t[7] != '-' || !digits(t + 8, 2, &d)) return -1;
  const char *p = t + 10;
  if (*p == 'T' || *p == 't' || *p == ' ') {
    if (!digits(p + 1, 2, &h) || p[3] != ':' || !digits(p + 4, 2, &mi) || p[6] != ':' || !digits(p + 7, 2, &sec))
      return -1;
    p += 9;
    if (*p == '.')
      for (p++; *p >= '0' && *p <= '9'; p++) {}
  }
  int off = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int oh, om;
    if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om)) return -1;
    off = (*p == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    p += 6;
  }
  if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return -1;
  /* days from the civil date (Howard Hinnant's algorithm, a published fact, written afresh) */
  int yy = y - (mo <= 2);
  int era = (yy >= 0 ? yy : yy - 399) / 400;
  int yoe = yy - era * 400;
  int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  int64_t days = (int64_t)era * 146097 + doe - 719468;
  return days * 86400 + h * 3600 + mi * 60 + sec - off;
}

/* The context object: device and location strings, time (RFC 3339) or timestamp (ms). Other
 * members are accepted and ignored (sessionId, position, ...). */
static bool parse_context(const fj_doc *d, const fj_val *c, rec_args *a, srv_resp *rs, int *st) {
  a->ts = -1;
  if (fj_is_null(c)) return true;
  static const char *const k_str[] = {"device", "location"};
  const char **dst[] = {&a->device, &a->location};
  for (int k = 0; k < 2; k++) {
    const fj_val *v = fj_get(d, c, k_str[k]);
    if (fj_is_null(v)) continue;
    if (!fj_is_str(v)) {
      *st = srv_error(rs, 400, "invalid_argument", k == 0 ? "context.device" : "context.location", "context.%s must be a string", k_str[k]);
      return false;
    }
    *dst[k] = v->s;
  }
  const fj_val *t = fj_get(d, c, "time");
  if (!fj_is_null(t)) {
    if (!fj_is_str(t) || (a->ts = parse_time(t->s)) < 0) {
      *st = srv_error(rs, 400, "invalid_argument", "context.time", "context.time must be an RFC 3339 time such as 2024-01-15T10:30:00Z");
      return false;
    }
  }
  const fj_val *ms = fj_get(d, c, "timestamp");
  if (!fj_is_null(ms)) {
    if (!fj_is_num(ms) || !(ms->num >= 0 && ms->num < 1e15)) {
      *st = srv_error(rs, 400, "invalid_argument", "context.timestamp", "context.timestamp must be milliseconds since 1970");
      return false;
    }
    a->ts = (int64_t)(ms->num / 1000);
  }
  return true;
}

/* The filters object: category (string or list), minRating, excludeItems. */
static bool parse_filters(const fj_doc *d, const fj_val *f, const srv_snapshot *s, rec_args *a, srv_resp *rs, int *st) {
  if (fj_is_null(f)) return true;
  if (!fj_is_obj(f)) {
    *st = srv_error(rs, 400, "invalid_argument", "filters", "filters must be an object");
    return false;
  }
  const fj_val *c = fj_get(d, f, "category");
  if (!fj_is_null(c)) {
    bool one = fj_is_str(c);
    if ((!one && !fj_is_arr(c)) || (!one && c->n > MAX_CATS_FILTER)) {
      *st = srv_error(rs, 400, "invalid_argument", "filters.category", "filters.category must be a string or a list of at most %d strings", MAX_CATS_FILTER);
      return false;
    }
    a->cat_filter = true;
    size_t k = 0;
    for (const fj_val *e = one ? c : fj_first(d, c); e; e = one ? NULL : fj_next(d, e), k++) {
      if (!fj_is_str(e)) {
        *st = srv_error(rs, 400, "invalid_argument", "filters.category", "filters.category[%zu] must be a string", k);
        return false;
      }
      const reco_itemmeta *meta = s->cat ? s->cat->meta : NULL;
      int32_t id = meta && meta->cats ? reco__idmap_get(meta->cats, e->s, e->n) : -1;
      if (id >= 0) a->cats[a->n_cats++] = id; /* an unknown category matches no item */
    }
  }
  const fj_val *r = fj_get(d, f, "minRating");
  if (!fj_is_null(r)) {
    if (!fj_is_num(r) || r->num < 0 || r->num > 5) {
      *st = srv_error(rs, 400, "invalid_argument", "filters.minRating", "filters.minRating must be a number in [0, 5]");
      return false;
    }
    a->min_rating = r->num;
  }
  const fj_val *x = fj_get(d, f, "excludeItems");
  if (!fj_is_null(x)) {
    if (!fj_is_arr(x)) goto bad_x;
    for (const fj_val *e = fj_first(d, x); e; e = fj_next(d, e))
      if (!fj_is_str(e)) goto bad_x;
    a->exclude = x;
  }
  return true;
bad_x:
  *st = srv_error(rs, 400, "invalid_argument", "filters.excludeItems", "filters.excludeItems must be a list of item ids");
  return false;
}

/* Category shown for catalogue item ci: the first of its categories that the filter asked for,
 * else its first; -1 when it fails the category filter. */
static int32_t shown_category(const srv_snapshot *s, const rec_args *a, int32_t ci) {
  if (!a->cat_filter) return s->items[ci].cat0;
  const reco_itemmeta *meta = s->cat ? s->cat->meta : NULL;
  if (!meta || !meta->cat_ptr || ci >= meta->n_items) return -1;
  for (int64_t p = meta->cat_ptr[ci]; p < meta->cat_ptr[ci + 1]; p++)
    for (int k = 0; k < a->n_cats; k++)
      if (meta->cat_idx[p] == a->cats[k]) return a->cats[k];
  return -1;
}

/* The user's live history (live.c) resolved to catalogue items of this snapshot. */
typedef struct live_hist {
  const srv_snapshot *s;
  int32_t ci[SRV_LIVE_HIST];
  float val[SRV_LIVE_HIST];
  size_t n;
} live_hist;

static void on_live(void *arg, const char *item, float value) {
  live_hist *lh = arg;
  int32_t ci = lh->s->ids ? reco__idmap_get(lh->s->ids, item, strlen(item)) : -1;
  if (ci < 0 || ci >= lh->s->n_items || lh->n == SRV_LIVE_HIST) return;
  lh->ci[lh->n] = ci;
  lh->val[lh->n++] = value;
}

/* One recommend request object j (user_override, when given, stands for its userId) into rs:
 * the whole response body, success or error; returns the HTTP status. */
static int recommend_obj(srv_req *rq, const fj_doc *d, const fj_val *j, const fj_val *user_override, srv_resp *rs) {
  int st = 200;
  srv_snapshot *s = NULL;
  rec_args a = {.min_rating = NAN};
  const fj_val *u = user_override ? user_override : fj_get(d, j, "userId");
  if (!fj_is_str(u) || u->n == 0 || u->n > MAX_ID) {
    st = srv_error(rs, 400, "invalid_argument", "userId", "userId is required: a non-empty string of at most %d bytes", MAX_ID);
    goto out;
  }
  a.user = u->s;
  if (!srv_fget_int(d, j, "limit", 1, SRV_MAX_LIMIT, rq->cfg->rec_limit, &a.limit, rs, &st)) goto out;
  const fj_val *al = fj_get(d, j, "algorithm");
  if (!fj_is_null(al) && !fj_is_str(al)) {
    st = srv_error(rs, 400, "invalid_argument", "algorithm", "algorithm must be a string");
    goto out;
  }
  a.algo = fj_is_str(al) ? al->s : rq->cfg->default_algo;
  const fj_val *dw = fj_get(d, j, "diversityWeight");
  if (!fj_is_null(dw) && (!fj_is_num(dw) || dw->num < 0 || dw->num > 1)) {
    st = srv_error(rs, 400, "invalid_argument", "diversityWeight", "diversityWeight must be a number in [0, 1]");
    goto out;
  }
  a.diversity = fj_is_num(dw) ? dw->num : 0;
  const fj_val *ctx = fj_get(d, j, "context");
  if (!fj_is_null(ctx) && !fj_is_obj(ctx)) {
    st = srv_error(rs, 400, "invalid_argument", "context", "context must be an object");
    goto out;
  }
  if (!parse_context(d, ctx, &a, rs, &st)) goto out;
  if (!(s = srv_snapshot_current())) {
    st = srv_error(rs, 503, "unavailable", NULL, "no model is loaded yet");
    goto out;
  }
  if (!parse_filters(d, fj_get(d, j, "filters"), s, &a, rs, &st)) goto out;
  char msg[1024];
  int mk = srv_snapshot_pick(s, a.algo, msg, sizeof msg);
  if (mk < 0) {
    st = srv_error(rs, 400, "invalid_argument", "algorithm", "%s", msg);
    goto out;
  }
  /* ---- [cache hook 1/2: lookup] (cache.c; a hit is the whole answer) ---- */
  srv_cache_key ck;
  bool cacheable = srv_cache_key_recommend(&ck, s, d, j, a.user, u->n, a.algo, a.limit);
  if (cacheable && srv_cache_get(&ck, &rs->body)) {
    srv_cache_finish(&rs->body, rq->t0, true);
    goto out;
  }
  /* ---- end of cache hook 1/2 ---- */

  /* the user: catalogue history, and the model's own index when it knows them; an erased user
   * (DELETE /api/v1/user/:id, h_privacy.c) is neither: only what they did since counts */
  size_t ul = u->n;
  bool erased = srv_user_erased(a.user, ul);
  int32_t cu = s->cat && !erased ? reco__idmap_get(s->cat->users, a.user, ul) : -1;
  if (s->cat && cu >= s->cat->n_users) cu = -1;
  size_t n_raw = cu >= 0 ? (size_t)(s->cat->uptr[cu + 1] - s->cat->uptr[cu]) : 0;
  /* interactions acknowledged since start-up (after the catalogue's history) */
  live_hist lh = {.s = s};
  srv_live_history(a.user, ul, on_live, &lh);
  const srv_model *sm = &s->models[mk];
  int32_t mu = -1;
  if (erased) {
    mu = -1;
  } else if (sm->m->user_ids) {
    mu = reco__idmap_get(sm->m->user_ids, a.user, ul);
  } else {
    mu = cu;
  }
  if (mu >= sm->m->n_users) mu = -1;
  bool cold = mu < 0 && n_raw == 0 && lh.n == 0;
  const srv_model *pm = s->popular >= 0 ? &s->models[s->popular] : NULL;
  int cold_strategy = rq->cfg->cold_strategy;
  /* cold: the popularity model answers (in its own item indices), unless the strategy asks the
   * members to score the empty view themselves */
  if (cold && pm && cold_strategy != RECO_COLD_MEMBERS) sm = pm;
  const reco_model *m = sm->m;
  if (cold) mu = -1;
  /* the members: a hybrid's own members with its learned weights (reco__hybrid_members), else
   * the one model */
  reco_rec_member members[RECO_REC_MAX_MEMBERS];
  int n_members = 0;
  if (!strcmp(m->algo->name, "hybrid")) {
    const reco_model *mm[RECO_REC_MAX_MEMBERS];
    float w[RECO_REC_MAX_MEMBERS];
    int nm = reco__hybrid_members(m, mm, w, RECO_REC_MAX_MEMBERS);
    for (int k = 0; k < nm; k++)
      if (mm[k]->n_items == m->n_items && mm[k]->algo->score) members[n_members++] = (reco_rec_member){mm[k], w[k]};
  }
  if (!n_members) members[n_members++] = (reco_rec_member){m, 1.0f};
  /* the context term: the snapshot's context model, when it indexes these items */
  const srv_model *cm = s->context >= 0 && sm->ctx_ok ? &s->models[s->context] : NULL;
  reco_rec_context rctx = RECO_CTX_UNKNOWN;
  if (cm && (a.device || a.location || a.ts >= 0)) reco__context_codes(cm->m, a.device, a.location, a.ts, &rctx);
  else cm = NULL;
  if (cold_strategy == RECO_COLD_CONTEXT_POPULAR && !cm) cold_strategy = RECO_COLD_POPULAR;

  size_t n_excl = a.exclude ? a.exclude->n : 0;
  srv_scratch *sc = srv_scratch_get(m->n_items, n_members, n_raw + lh.n ? n_raw + lh.n : 1, n_excl ? n_excl : 1);
  if (!sc) {
    st = srv_error(rs, 503, "unavailable", NULL, "out of memory");
    goto out;
  }
  /* the history (catalogue, then live): the model folds it in, the pipeline drops it as seen */
  size_t n_hist = 0;
  for (size_t p = 0; p < n_raw; p++) {
    int64_t q = s->cat->uptr[cu] + (int64_t)p;
    int32_t mi = srv_c2m(sm, s->cat->uitem[q]);
    if (mi < 0) continue;
    sc->hist[n_hist] = mi;
    sc->hist_val[n_hist++] = s->cat->uval ? s->cat->uval[q] : 1.0f;
  }
  for (size_t p = 0; p < lh.n; p++) {
    int32_t mi = srv_c2m(sm, lh.ci[p]);
    if (mi < 0) continue;
    sc->hist[n_hist] = mi;
    sc->hist_val[n_hist++] = lh.val[p];
  }
  size_t n_x = 0;
  for (const fj_val *e = a.exclude ? fj_first(d, a.exclude) : NULL; e; e = fj_next(d, e)) {
    int32_t ci = reco__idmap_get(s->ids, e->s, e->n);
    int32_t mi = ci >= 0 ? srv_c2m(sm, ci) : -1;
    if (mi >= 0) sc->excl[n_x++] = mi;
  }
  static const int32_t k_no_cat = -1; /* the filter named only unknown categories: none passes */
  bool has_cats = sm->meta.n_items > 0;
  int pool = rq->cfg->cand_pool;
  if (pool <= 0) pool = (int)RECO_MIN(RECO_REC_POOL_DEFAULT, RECO_MAX(100, 10 * a.limit));
  reco_rec_request q = {
      .view = {mu, sc->hist, sc->hist_val, NULL, n_hist},
      .k = (int)a.limit,
      .pool = pool,
      .members = members,
      .n_members = n_members,
      /* cold: the popularity model answering; warm with fewer than MIN_INTERACTIONS_FOR_CF
       * interactions: the same model blended in, fading out as the history grows */
      .cold_model = cold ? (cold_strategy == RECO_COLD_MEMBERS ? NULL : m) : (sm->pop_ok ? pm->m : NULL),
      .cold = (reco_cold_strategy)cold_strategy,
      .min_interactions_for_cf = rq->cfg->min_cf,
      .context_model = cm ? cm->m : NULL,
      .context = rctx,
      .context_weight = cm ? reco__context_weight(cm->m) : 0.0f,
      .meta = has_cats ? &sm->meta : NULL,
      .filters = {.include_cats = a.n_cats ? a.cats : &k_no_cat,
                  .n_include_cats = a.cat_filter ? (a.n_cats ? (size_t)a.n_cats : 1) : 0,
                  .rating = sm->rating,
                  .min_rating = isnan(a.min_rating) ? NAN : (float)a.min_rating,
                  .price_min = NAN,
                  .price_max = NAN,
                  .exclude_items = sc->excl,
                  .n_exclude_items = n_x,
                  .exclude_seen = true,
                  .available = srv_model_available(sm)},
      .diversity_weight = (float)a.diversity,
      .relevance_weight = NAN,
      /* the MMR term only when asked for: without it the list is relevance order */
      .catidx = sm->catidx,
      .diversity_by_category = a.diversity > 0,
      .item_vectors = a.diversity > 0 ? sm->catvec : NULL,
      .dim = a.diversity > 0 && sm->catvec ? sm->cat_dim : 0,
      .reasons = !cold && n_hist > 0,
      .filter_gen = atomic_load_explicit(&srv_filter_gen, memory_order_acquire),
  };
  int n = reco__recommend(&q, sc->ws, sc->out);
  if (n < 0) {
    st = srv_error(rs, 500, "internal", NULL, "ranking failed: %s", reco_last_error());
    goto out;
  }

  srv_buf *b = &rs->body;
  srv_buf_reserve(b, 512 + (size_t)n * 320); /* one allocation for the usual response */
  srv_buf_puts(b, "{\"status\":\"success\",\"result\":{\"userId\":");
  srv_buf_jstrn(b, a.user, ul);
  srv_buf_puts(b, ",\"recommendations\":[");
  for (int r = 0, shown = 0; r < n; r++) {
    const reco_rec_item *it = &sc->out[r];
    int32_t ci = srv_m2c(sm, it->item);
    if (ci < 0 || ci >= s->n_items) continue; /* not in the catalogue (sm->avail keeps them out) */
    srv_buf_puts(b, shown++ ? ",{\"itemId\":" : "{\"itemId\":");
    srv_buf_put(b, s->items[ci].id_json, s->items[ci].id_len);
    srv_buf_puts(b, ",\"score\":");
    srv_buf_jnum(b, it->score);
    srv_buf_puts(b, ",\"confidence\":");
    srv_buf_jnum(b, it->confidence);
    srv_buf_puts(b, ",\"reason\":");
    int32_t cat = shown_category(s, &a, ci);
    int32_t bc = it->reason == RECO_REASON_HISTORY && it->because >= 0 && it->because < m->n_items
                     ? srv_m2c(sm, it->because)
                     : -1;
    /* the reasons splice pre-escaped JSON strings (a title, a category) after a fixed prefix */
    if (bc >= 0 && bc < s->n_items && s->items[bc].title_json) {
      srv_buf_puts(b, "\"Because you interacted with ");
      srv_buf_put(b, s->items[bc].title_json + 1, s->items[bc].title_len - 1);
    } else if (cat >= 0 && cat < s->n_cats) {
      srv_buf_puts(b, "\"Popular in ");
      srv_buf_puts(b, s->cat_json[cat] + 1);
    } else {
      srv_buf_puts(b, "\"Popular\"");
    }
    if (cat == s->items[ci].cat0 && s->items[ci].meta_json) srv_buf_put(b, s->items[ci].meta_json, s->items[ci].meta_len);
    else srv_item_meta_json(b, s, ci, cat);
    srv_buf_puts(b, "}");
  }
  srv_buf_puts(b, "],\"algorithm\":");
  srv_buf_jstr(b, sm->algo);
  srv_buf_puts(b, ",\"requestedAlgorithm\":");
  srv_buf_jstr(b, a.algo);
  srv_buf_puts(b, ",\"modelVersion\":");
  srv_buf_jint(b, sm->version);
  srv_buf_puts(b, cold ? ",\"coldStart\":true,\"diversityWeight\":" : ",\"coldStart\":false,\"diversityWeight\":");
  srv_buf_jnum(b, a.diversity);
  /* ---- [cache hook 2/2: store] everything before latencyMs; srv_cache_finish writes the rest ---- */
  if (cacheable && !b->oom) srv_cache_put(&ck, b->p, b->len);
  srv_cache_finish(b, rq->t0, false);
  /* ---- end of cache hook 2/2 ---- */
out:
  return st;
}

int srv_h_recommend(srv_req *rq, srv_resp *rs) {
  int st = 200;
  fj_doc *d = NULL;
  const fj_val *j = srv_parse_fast(rq, rs, &st, &d);
  if (!j) return st;
  return recommend_obj(rq, d, j, NULL, rs);
}

/*
 * POST /api/v1/recommend/batch: several recommend requests in one round trip, answered in
 * order, each with its own status (one bad request does not fail the others):
 *   {"requests":[{...a /recommend body...}, ...]}                  any mix of users and options
 *   {"userIds":["u1","u2"], "limit":10, "filters":{...}, ...}       one set of options, many users
 * The response: {"status":"success","result":{"results":[<each /recommend response body>],
 * "count":N,"failed":F,"latencyMs":...}}. At most SRV_REC_BATCH_MAX requests.
 */
int srv_h_recommend_batch(srv_req *rq, srv_resp *rs) {
  int st = 200;
  fj_doc *d = NULL;
  const fj_val *j = srv_parse_fast(rq, rs, &st, &d);
  if (!j) return st;
  const fj_val *reqs = fj_get(d, j, "requests"), *users = fj_get(d, j, "userIds");
  if (fj_is_null(reqs) == fj_is_null(users))
    return srv_error(rs, 400, "invalid_argument", fj_is_null(reqs) ? "requests" : "userIds",
                     "give exactly one of requests (a list of recommend requests) and userIds (a list of user ids)");
  const fj_val *list = fj_is_null(reqs) ? users : reqs;
  const char *field = fj_is_null(reqs) ? "userIds" : "requests";
  if (!fj_is_arr(list) || list->n == 0 || list->n > SRV_REC_BATCH_MAX)
    return srv_error(rs, 400, "invalid_argument", field, "%s must be a list of 1 to %d entries", field, SRV_REC_BATCH_MAX);
  size_t k = 0;
  for (const fj_val *e = fj_first(d, list); e; e = fj_next(d, e), k++)
    if (reqs ? !fj_is_obj(e) : !fj_is_str(e))
      return srv_error(rs, 400, "invalid_argument", field, "%s[%zu] must be %s", field, k,
                       reqs ? "a recommend request object" : "a user id string");
  srv_buf *b = &rs->body;
  srv_buf_reserve(b, 256 + (size_t)list->n * 3400);
  srv_buf_puts(b, "{\"status\":\"success\",\"result\":{\"results\":[");
  srv_resp one = {0};
  int failed = 0;
  k = 0;
  for (const fj_val *e = fj_first(d, list); e; e = fj_next(d, e), k++) {
    srv_buf_reset(&one.body);
    int s1 = reqs ? recommend_obj(rq, d, e, NULL, &one) : recommend_obj(rq, d, j, e, &one);
    if (s1 != 200) failed++;
    if (one.body.oom) {
      srv_buf_free(&one.body);
      return srv_error(rs, 503, "unavailable", NULL, "out of memory");
    }
    if (k) srv_buf_puts(b, ",");
    srv_buf_put(b, one.body.p, one.body.len);
  }
  srv_buf_free(&one.body);
  srv_buf_printf(b, "],\"count\":%zu,\"failed\":%d,\"latencyMs\":", k, failed);
  srv_buf_jnum(b, srv_ms_since(rq->t0));
  srv_buf_puts(b, "}}");
  return 200;
}
