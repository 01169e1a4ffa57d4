/*
 * h_user.c - GET /api/v1/user/:userId/profile: what the service knows about one user, with
 * the seed's shape ({"status":"success","profile":{...}}).
 *
 * Sources: the store (every acknowledged interaction: count, first/last timestamp, the most
 * recent PROFILE_HIST rows) and the serving catalogue's history for users it was trained on.
 *   totalInteractions  stored interactions + the catalogue's history entries
 *   recentItems        newest first: stored interactions, then the catalogue's history
 *   topCategories      categories of those items (catalogue metadata), by count, as
 *                      {"category","count"} (the seed lists bare names; the count is kept)
 *   preferences        priceRange: [min, max] catalogue price of those items (null if none
 *                      has a price); the seed's brands are not in the catalogue, so absent
 *   embedding          the user's factor vector of the loaded ials (else als) model: the trained
 *                      row when the model knows the user, else folded in from the history above
 *                      (the same solve /recommend scores with); [] when no factor model is loaded
 *   firstSeen/lastSeen the stored timestamps (ms), null when only the catalogue knows the user
 * A user neither stored nor in the catalogue is a 404 on userId. An erased user (h_privacy.c) is
 * shown from the interactions stored since the erasure only (0 right after it), with no
 * catalogue history and no trained factor row.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "algo/factors.h"
#include "base/base.h"
#include "serve.h"
#include "store/store.h"

#define PROFILE_HIST 200
#define PROFILE_RECENT 20
#define PROFILE_TOP_CATS 5

typedef struct prof_ctx {
  const srv_snapshot *s;
  int32_t ci[PROFILE_HIST]; /* catalogue index per stored row (-1 unknown), newest first */
  float val[PROFILE_HIST];
  char *item[PROFILE_HIST];
  int n;
} prof_ctx;

static void on_row(void *arg, const char *item, const char *type, double value, int64_t ts_ms) {
  prof_ctx *p = arg;
  if (p->n == PROFILE_HIST) return;
  bool negative = !strcmp(type, "dislike") || !strcmp(type, "skip");
  p->item[p->n] = strdup(item);
  p->ci[p->n] = negative || !p->s->ids ? -1 : reco__idmap_get(p->s->ids, item, strlen(item));
  if (p->ci[p->n] >= p->s->n_items) p->ci[p->n] = -1;
  p->val[p->n++] = (float)value;
}

static const srv_model *factor_model(const srv_snapshot *s) {
  const srv_model *als = NULL;
  for (int k = 0; k < s->n_models; k++) {
    if (!strcmp(s->models[k].algo, "ials")) return &s->models[k];
    if (!strcmp(s->models[k].algo, "als")) als = &s->models[k];
  }
  return als;
}

int srv_h_profile(srv_req *rq, srv_resp *rs) {
  const char *user = srv_param(rq, "userId");
  if (!user || !*user) return srv_error(rs, 400, "invalid_argument", "userId", "userId is required");
  srv_snapshot *s = srv_snapshot_acquire();
  if (!s) return srv_error(rs, 503, "unavailable", NULL, "no model is loaded yet");
  int st = 200;
  prof_ctx *p = calloc(1, sizeof *p);
  int32_t *hist = NULL;
  float *hval = NULL, *cat_count = NULL;
  if (!p) {
    st = srv_error(rs, 503, "unavailable", NULL, "out of memory");
    goto out;
  }
  p->s = s;
  size_t ul = strlen(user);
  store_user_summary sum = {0};
  if (srv_store && (store_user_summary_get(srv_store, user, &sum) || store_user_recent(srv_store, user, PROFILE_HIST, on_row, p))) {
    st = srv_error(rs, 500, "internal", NULL, "reading the store failed: %s", reco_last_error());
    goto out;
  }
  /* issue 7 hook: an erased user's catalogue history and trained rows are ignored (h_privacy.c) */
  bool erased = srv_user_erased(user, ul);
  int32_t cu = s->cat && !erased ? reco__idmap_get(s->cat->users, user, ul) : -1;
  if (s->cat && cu >= s->cat->n_users) cu = -1;
  int64_t n_cat = cu >= 0 ? s->cat->uptr[cu + 1] - s->cat->uptr[cu] : 0;
  if (sum.n == 0 && n_cat == 0 && !erased) {
    st = srv_error(rs, 404, "not_found", "userId", "user '%s' has no interactions", user);
    goto out;
  }
  srv_buf *b = &rs->body;
  srv_buf_puts(b, "{\"status\":\"success\",\"profile\":{\"userId\":");
  srv_buf_jstr(b, user);
  srv_buf_printf(b, ",\"totalInteractions\":%lld,\"storedInteractions\":%lld,\"recentItems\":[", (long long)(sum.n + n_cat),
                 (long long)sum.n);
  int shown = 0;
  for (int k = 0; k < p->n && shown < PROFILE_RECENT; k++, shown++) {
    if (shown) srv_buf_puts(b, ",");
    srv_buf_jstr(b, p->item[k]);
  }
  for (int64_t q = cu >= 0 ? s->cat->uptr[cu + 1] - 1 : 0; cu >= 0 && q >= s->cat->uptr[cu] && shown < PROFILE_RECENT;
       q--, shown++) {
    if (shown) srv_buf_puts(b, ",");
    srv_buf_puts(b, s->items[s->cat->uitem[q]].id_json);
  }
  /* categories over the stored rows and the catalogue history */
  srv_buf_puts(b, "],\"topCategories\":[");
  const reco_itemmeta *meta = s->cat ? s->cat->meta : NULL;
  if (meta && meta->cat_ptr && s->n_cats > 0 && (cat_count = calloc((size_t)s->n_cats, sizeof *cat_count))) {
    for (int64_t x = 0; x < p->n + n_cat; x++) {
      int32_t ci = x < p->n ? p->ci[x] : s->cat->uitem[s->cat->uptr[cu] + (x - p->n)];
      if (ci < 0 || ci >= meta->n_items) continue;
      for (int64_t c = meta->cat_ptr[ci]; c < meta->cat_ptr[ci + 1]; c++)
        if (meta->cat_idx[c] >= 0 && meta->cat_idx[c] < s->n_cats) cat_count[meta->cat_idx[c]] += 1;
    }
    for (int t = 0; t < PROFILE_TOP_CATS; t++) {
      int best = -1;
      for (int c = 0; c < s->n_cats; c++)
        if (cat_count[c] > 0 && (best < 0 || cat_count[c] > cat_count[best])) best = c;
      if (best < 0) break;
      srv_buf_printf(b, "%s{\"category\":%s,\"count\":%.0f}", t ? "," : "", s->cat_json[best], cat_count[best]);
      cat_count[best] = 0;
    }
  }
  /* preferences: the price range of the items the user interacted with (catalogue prices) */
  float pmin = INFINITY, pmax = -INFINITY;
  for (int64_t x = 0; x < p->n + n_cat; x++) {
    int32_t ci = x < p->n ? p->ci[x] : s->cat->uitem[s->cat->uptr[cu] + (x - p->n)];
    if (ci < 0 || ci >= s->n_items || isnan(s->items[ci].price)) continue;
    pmin = fminf(pmin, s->items[ci].price);
    pmax = fmaxf(pmax, s->items[ci].price);
  }
  srv_buf_puts(b, "],\"preferences\":{\"priceRange\":");
  if (pmin <= pmax) {
    srv_buf_puts(b, "[");
    srv_buf_jnum(b, pmin);
    srv_buf_puts(b, ",");
    srv_buf_jnum(b, pmax);
    srv_buf_puts(b, "]");
  } else {
    srv_buf_puts(b, "null");
  }
  srv_buf_puts(b, "},\"embedding\":[");
  const srv_model *fm = factor_model(s);
  if (fm) {
    int32_t mu = fm->m->user_ids ? reco__idmap_get(fm->m->user_ids, user, ul) : cu;
    if (mu >= fm->m->n_users || erased) mu = -1;
    size_t cap = (size_t)(p->n + n_cat) + 1, nh = 0;
    hist = malloc(cap * sizeof *hist);
    hval = malloc(cap * sizeof *hval);
    float *x = malloc((RECO_FACTORS_MAX + 1) * sizeof *x);
    if (hist && hval && x) {
      for (int64_t q = 0; q < n_cat; q++) {
        int64_t at = s->cat->uptr[cu] + q;
        int32_t mi = srv_c2m(fm, s->cat->uitem[at]);
        if (mi >= 0) hist[nh] = mi, hval[nh++] = s->cat->uval ? s->cat->uval[at] : 1.0f;
      }
      for (int k = p->n - 1; k >= 0; k--) { /* oldest first */
        int32_t mi = p->ci[k] >= 0 ? srv_c2m(fm, p->ci[k]) : -1;
        if (mi >= 0) hist[nh] = mi, hval[nh++] = p->val[k];
      }
      reco_user_view v = {mu, hist, hval, NULL, nh};
      int k = reco__als_user_vector(fm->m, &v, x);
      for (int f = 0; f < k; f++) {
        if (f) srv_buf_puts(b, ",");
        srv_buf_jnum(b, x[f]);
      }
    }
    free(x);
  }
  srv_buf_puts(b, "],\"embeddingModel\":");
  if (fm) srv_buf_printf(b, "{\"algorithm\":\"%s\",\"version\":%d}", fm->algo, fm->version);
  else srv_buf_puts(b, "null");
  srv_buf_puts(b, ",\"firstSeen\":");
  if (sum.n) srv_buf_jint(b, sum.first_ts);
  else srv_buf_puts(b, "null");
  srv_buf_puts(b, ",\"lastSeen\":");
  if (sum.n) srv_buf_jint(b, sum.last_ts);
  else srv_buf_puts(b, "null");
  srv_buf_puts(b, "}}");
out:
  if (p)
    for (int k = 0; k < p->n; k++) free(p->item[k]);
  free(p);
  free(hist);
  free(hval);
  free(cat_count);
  srv_snapshot_release(s);
  return st;
}
