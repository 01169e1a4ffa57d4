/*
 * rank.c - the recommend pipeline of rank.h: cold start, filters, candidate union of several
 * models with per-model z-score normalisation, business rules, Maximal Marginal Relevance
 * re-ranking, pagination, confidence and reasons.
 *
 * Methods.
 *   - Score combination: each member's scores are standardised over its own `pool` best
 *     eligible items (z = (s - mean) / sd, in double) and summed with the member weights:
 *     CombSUM (Fox and Shaw 1994) with the z-score normalisation of Montague and Aslam 2001.
 *     Every union item gets each member's z from that member's full score vector, so an item
 *     that one member did not put in its top `pool` still receives that member's (low) opinion.
 *   - Re-ranking: greedy MMR (Carbonell and Goldstein 1998). At each step the unchosen item of
 *     highest  w_rel * rel(i) + w_nov * nov(i) - w_div * max_{j chosen} cos(x_i, x_j)  is taken;
 *     the maximum cosine of every candidate is updated incrementally after each pick, so a list
 *     of L items over P candidates costs O(L P d). rel is the blend min-maxed over the union
 *     (times a boost factor), nov = -log2(users(i) / all users) (Zhou et al. 2010's novelty,
 *     EVALUATION.md's definition) min-maxed over the union. Ties go to the smaller item index,
 *     so a request's list is deterministic and w_div = 0 (with w_nov = 0) is relevance order.
 *   - Cold start by history length: below min_interactions_for_cf the cold scorer is one more
 *     scorer (index n_members) of weight W (1 - n / min_interactions_for_cf), W the members'
 *     weight sum: with one item of five the popular list still leads, at five the history
 *     alone decides (a linear hand-over; docs/ALGORITHMS.md has what it measures).
 *   - Context: the context model's term (per-context category log-lifts, context.c) and the
 *     session term are added to the min-maxed relevance before boosts, so a boost multiplies
 *     a context-aware relevance and MMR trades diversity against it.
 *   - Pagination: the list is ranked up to offset + k and the page cut from it; the same
 *     request always ranks the same list, so pages never repeat an item and concatenate to the
 *     un-paged list.
 *   - Confidence: min-max of the final score (w_rel rel + w_nov nov) over the whole candidate
 *     union, so 1 is the best candidate and 0 the worst; comparable across pages of a request,
 *     not across requests (it is a rank-like share, not a calibrated probability).
 *   - Reasons: the member with the largest weighted z for the item; its explain (when it has
 *     one and the view has history) names the history item that contributes most; a member
 *     named `popular` gives "popular"; cold start gives "popular" or "trending".
 */
#include "rank.h"

#include "../algo/factors.h"

#include <limits.h>
#include <math.h>
#include <string.h>

enum { F_CHOSEN = 1, F_BURIED = 2, F_PINNED = 4 };

struct reco_rec_ws {
  int32_t n_items;
  int pool, max_members, cap;
  float *scores;   /* max_members x n_items */
  uint8_t *elig;   /* n_items */
  int32_t *slot;   /* n_items, -1 = not in the union (restored after each request) */
  int32_t *p_item; /* cap: the candidate union */
  float *p_obj, *p_rel, *p_nov, *p_maxsim, *p_inv;
  int8_t *p_best;
  uint8_t *p_flag;
  int32_t *order, *final; /* cap */
  int32_t *cand;          /* n_items: eligible items of one scorer, partitioned in place */
};

static const char *const k_reason_text[RECO_REASON__COUNT] = {
    "Because you interacted with a similar item",
    "Recommended for you",
    "Popular with other users",
    "Trending now",
    "Featured",
};

const char *reco__rec_reason_text(int reason) {
  return reason >= 0 && reason < RECO_REASON__COUNT ? k_reason_text[reason] : "Recommended";
}

void reco__rec_ws_free(reco_rec_ws *ws) {
  if (!ws) return;
  reco__free_aligned(ws->scores);
  reco__free(ws->elig);
  reco__free(ws->slot);
  reco__free(ws->p_item);
  reco__free(ws->p_obj);
  reco__free(ws->p_rel);
  reco__free(ws->p_nov);
  reco__free(ws->p_maxsim);
  reco__free(ws->p_inv);
  reco__free(ws->p_best);
  reco__free(ws->p_flag);
  reco__free(ws->order);
  reco__free(ws->final);
  reco__free(ws->cand);
  reco__free(ws);
}

int reco__rec_ws_new(int32_t n_items, int pool, int max_members, reco_rec_ws **out) {
  *out = NULL;
  if (n_items <= 0) return reco__seterr(RECO_EINVAL, "rank workspace: catalogue of %d items", n_items);
  if (pool <= 0) pool = RECO_REC_POOL_DEFAULT;
  if (max_members <= 0 || max_members > RECO_REC_MAX_MEMBERS)
    return reco__seterr(RECO_EINVAL, "rank workspace: %d members (1..%d)", max_members, RECO_REC_MAX_MEMBERS);
  reco_rec_ws *ws = reco__calloc(1, sizeof *ws);
  if (!ws) return reco__seterr(RECO_ENOMEM, "out of memory for a rank workspace");
  size_t n = (size_t)n_items;
  /* + 1 scorer: the cold-start scorer blended in for short histories (min_interactions_for_cf) */
  size_t cap = (size_t)pool * (size_t)(max_members + 1) + RECO_REC_MAX_PINS;
  if (cap > n) cap = n;
  ws->n_items = n_items;
  ws->pool = pool;
  ws->max_members = max_members;
  ws->cap = (int)cap;
  ws->scores = reco__aligned_alloc(n * (size_t)(max_members + 1) * sizeof *ws->scores);
  ws->elig = reco__malloc(n);
  ws->slot = reco__malloc(n * sizeof *ws->slot);
  ws->p_item = reco__malloc(cap * sizeof *ws->p_item);
  ws->p_obj = reco__malloc(cap * sizeof *ws->p_obj);
  ws->p_rel = reco__malloc(cap * sizeof *ws->p_rel);
  ws->p_nov = reco__malloc(cap * sizeof *ws->p_nov);
  ws->p_maxsim = reco__malloc(cap * sizeof *ws->p_maxsim);
  ws->p_inv = reco__malloc(cap * sizeof *ws->p_inv);
  ws->p_best = reco__malloc(cap);
  ws->p_flag = reco__malloc(cap);
  ws->order = reco__malloc(cap * sizeof *ws->order);
  ws->final = reco__malloc(cap * sizeof *ws->final);
  ws->cand = reco__malloc(n * sizeof *ws->cand);
  if (!ws->scores || !ws->elig || !ws->slot || !ws->p_item || !ws->p_obj || !ws->p_rel || !ws->p_nov ||
      !ws->p_maxsim || !ws->p_inv || !ws->p_best || !ws->p_flag || !ws->order || !ws->final || !ws->cand ||
      false) {
    reco__rec_ws_free(ws);
    return reco__seterr(RECO_ENOMEM, "out of memory for a rank workspace");
  }
  for (size_t i = 0; i < n; i++) ws->slot[i] = -1;
  *out = ws;
  return 0;
}

/* ---- stage 2: eligibility ---- */

static bool in_list(const int32_t *a, size_t n, int32_t x) {
  for (size_t j = 0; j < n; j++)
    if (a[j] == x) return true;
  return false;
}

static bool has_any_cat(const reco_itemmeta *meta, int32_t i, const int32_t *cats, size_t n) {
  if (!meta || !meta->cat_ptr || i >= meta->n_items) return false;
  for (int64_t p = meta->cat_ptr[i]; p < meta->cat_ptr[i + 1]; p++)
    if (in_list(cats, n, meta->cat_idx[p])) return true;
  return false;
}

static void eligibility(const reco_rec_request *q, reco_rec_ws *ws) {
  const reco_rec_filters *f = &q->filters;
  const reco_itemmeta *meta = q->meta;
  bool price = !isnan(f->price_min) || !isnan(f->price_max);
  bool rating = !isnan(f->min_rating) && f->rating;
  for (int32_t i = 0; i < ws->n_items; i++) {
    bool ok = true;
    if (f->available) ok = (f->available[i >> 3] >> (i & 7)) & 1;
    if (ok && rating) ok = !isnan(f->rating[i]) && f->rating[i] >= f->min_rating;
    if (ok && price) {
      float p = meta && meta->price && i < meta->n_items ? meta->price[i] : NAN;
      ok = !isnan(p) && (isnan(f->price_min) || p >= f->price_min) && (isnan(f->price_max) || p <= f->price_max);
    }
    if (ok && f->n_include_cats) ok = has_any_cat(meta, i, f->include_cats, f->n_include_cats);
    if (ok && f->n_exclude_cats) ok = !has_any_cat(meta, i, f->exclude_cats, f->n_exclude_cats);
    ws->elig[i] = ok;
  }
  for (size_t j = 0; j < f->n_exclude_items; j++) {
    int32_t i = f->exclude_items[j];
    if (i >= 0 && i < ws->n_items) ws->elig[i] = 0;
  }
  if (f->exclude_seen)
    for (size_t j = 0; j < q->view.n; j++) {
      int32_t i = q->view.items[j];
      if (i >= 0 && i < ws->n_items) ws->elig[i] = 0;
    }
}

/* ---- helpers ---- */

/* (score, item) order: higher score first, then the smaller item (the top-k heap's order). */
static inline bool before(const float *sc, int32_t a, int32_t b) {
  return sc[a] > sc[b] || (sc[a] == sc[b] && a < b);
}

/*
 * Moves the `top` best items of c[0..n) (by `before`) to c[0..top), in no particular order:
 * Hoare's quickselect (Hoare 1961, "Algorithm 65: Find") with a median-of-three pivot, O(n)
 * expected. The order is total, so the chosen set is the same whatever the input order.
 */
static void select_top(const float *sc, int32_t *c, int32_t n, int32_t top) {
  int32_t lo = 0, hi = n - 1;
  while (hi > lo) {
    int32_t mid = lo + (hi - lo) / 2, a = c[lo], b = c[mid], d = c[hi], piv;
    if (before(sc, a, b)) piv = before(sc, b, d) ? b : (before(sc, a, d) ? d : a);
    else piv = before(sc, a, d) ? a : (before(sc, b, d) ? d : b);
    int32_t i = lo, j = hi;
    while (i <= j) {
      while (before(sc, c[i], piv)) i++;
      while (before(sc, piv, c[j])) j--;
      if (i <= j) {
        int32_t t = c[i];
        c[i] = c[j];
        c[j] = t;
        i++;
        j--;
      }
    }
    /* now c[lo..j] are all not after piv, c[i..hi] not before it */
    if (top - 1 <= j) hi = j;
    else if (top - 1 >= i) lo = i;
    else break;
  }
}

static int add_to_pool(reco_rec_ws *ws, int *np, int32_t item) {
  if (ws->slot[item] >= 0) return ws->slot[item];
  if (*np >= ws->cap) return -1;
  int s = (*np)++;
  ws->slot[item] = s;
  ws->p_item[s] = item;
  ws->p_flag[s] = 0;
  ws->p_best[s] = -1;
  return s;
}

static void minmax(float *a, int n) {
  float lo = INFINITY, hi = -INFINITY;
  for (int j = 0; j < n; j++) {
    if (a[j] < lo) lo = a[j];
    if (a[j] > hi) hi = a[j];
  }
  float span = hi - lo;
  for (int j = 0; j < n; j++) a[j] = span > 0 ? (a[j] - lo) / span : 1.0f;
}

static float dotf(const float *a, const float *b, int d) { return reco__fdot(a, b, d); }

/* Greedy MMR over the candidates that pass `want` (flags), appending to ws->order. */
static int mmr_phase(const reco_rec_request *q, reco_rec_ws *ws, int np, int n_sel, int limit, uint8_t want_buried,
                     float w_div) {
  bool div = w_div > 0 && q->item_vectors && q->dim > 0;
  while (n_sel < limit) {
    int best = -1;
    float bv = 0;
    for (int s = 0; s < np; s++) {
      uint8_t fl = ws->p_flag[s];
      if ((fl & (F_CHOSEN | F_PINNED)) || (fl & F_BURIED) != want_buried) continue;
      float v = ws->p_obj[s];
      if (div && n_sel > 0) v -= w_div * ws->p_maxsim[s];
      if (best < 0 || v > bv || (v == bv && ws->p_item[s] < ws->p_item[best])) {
        best = s;
        bv = v;
      }
    }
    if (best < 0) break;
    ws->p_flag[best] |= F_CHOSEN;
    ws->order[n_sel++] = best;
    if (div) {
      const float *xb = q->item_vectors + (size_t)ws->p_item[best] * (size_t)q->dim;
      float ib = ws->p_inv[best];
      for (int s = 0; s < np; s++) {
        if (ws->p_flag[s] & F_CHOSEN) continue;
        float c = dotf(xb, q->item_vectors + (size_t)ws->p_item[s] * (size_t)q->dim, q->dim) * ib * ws->p_inv[s];
        if (n_sel == 1 || c > ws->p_maxsim[s]) ws->p_maxsim[s] = c;
      }
    }
  }
  return n_sel;
}

/* ---- the request ---- */

static int check(const reco_rec_request *q, const reco_rec_ws *ws) {
  if (q->k < 1) return reco__seterr(RECO_EINVAL, "k must be >= 1");
  if (q->offset < 0) return reco__seterr(RECO_EINVAL, "offset must be >= 0");
  if (q->pool < 0 || q->pool > ws->pool)
    return reco__seterr(RECO_EINVAL, "pool %d exceeds the workspace's %d", q->pool, ws->pool);
  if (q->n_members < 1 || q->n_members > ws->max_members)
    return reco__seterr(RECO_EINVAL, "%d members (the workspace takes 1..%d)", q->n_members, ws->max_members);
  if (q->offset > INT_MAX - q->k) return reco__seterr(RECO_EINVAL, "offset + k overflows");
  if (q->n_pins > RECO_REC_MAX_PINS) return reco__seterr(RECO_EINVAL, "more than %d pins", RECO_REC_MAX_PINS);
  const reco_rec_filters *f = &q->filters;
  if ((q->n_pins && (!q->pin_items || !q->pin_positions)) || (q->n_boost && !q->boost_items) ||
      (q->n_bury && !q->bury_items) || (f->n_include_cats && !f->include_cats) ||
      (f->n_exclude_cats && !f->exclude_cats) || (f->n_exclude_items && !f->exclude_items))
    return reco__seterr(RECO_EINVAL, "a list with a count but no items");
  if (!isnan(f->min_rating) && !f->rating) return reco__seterr(RECO_EINVAL, "min_rating needs the per-item ratings");
  if (q->view.n && !q->view.items) return reco__seterr(RECO_EINVAL, "view history without items");
  for (int j = 0; j < q->n_members; j++) {
    const reco_model *m = q->members[j].model;
    if (!m || !m->algo->score) return reco__seterr(RECO_EINVAL, "member %d cannot rank items", j);
    if (m->n_items != ws->n_items)
      return reco__seterr(RECO_EINVAL, "member %d (%s) knows %d items, the workspace %d", j, m->algo->name,
                          m->n_items, ws->n_items);
    if (!(q->members[j].weight > 0)) return reco__seterr(RECO_EINVAL, "member %d: weight must be > 0", j);
  }
  if (q->cold_model && (q->cold_model->n_items != ws->n_items || !q->cold_model->algo->score))
    return reco__seterr(RECO_EINVAL, "the cold-start model does not rank this catalogue");
  if (q->diversity_weight < 0 || q->diversity_weight > 1 || q->novelty_weight < 0)
    return reco__seterr(RECO_EINVAL, "diversity weight must be in [0, 1], novelty weight >= 0");
  if (q->item_vectors && q->dim <= 0) return reco__seterr(RECO_EINVAL, "item vectors need dim >= 1");
  if ((unsigned)q->cold > RECO_COLD_CONTEXT_POPULAR) return reco__seterr(RECO_EINVAL, "unknown cold-start strategy");
  if (q->min_interactions_for_cf < 0) return reco__seterr(RECO_EINVAL, "min_interactions_for_cf must be >= 0");
  if (!(q->context_weight >= 0) || !(q->session_weight >= 0))
    return reco__seterr(RECO_EINVAL, "context and session weights must be >= 0");
  if (q->n_session && !q->session_items) return reco__seterr(RECO_EINVAL, "a session count but no items");
  if (q->context_model && q->context_model->n_items != ws->n_items)
    return reco__seterr(RECO_EINVAL, "the context model does not index this catalogue");
  return 0;
}

int reco__recommend(const reco_rec_request *q, reco_rec_ws *ws, reco_rec_item *out) {
  int rc = check(q, ws);
  if (rc) return rc;
  int32_t n = ws->n_items;
  int pool = q->pool ? q->pool : ws->pool;
  bool cold_view = q->view.user < 0 && q->view.n == 0;
  bool ctx_pop = q->cold == RECO_COLD_CONTEXT_POPULAR && q->context_model;
  bool have_cold = (q->cold_model || ctx_pop) && q->cold != RECO_COLD_MEMBERS;
  bool use_cold = cold_view && have_cold;
  /* a short history: the cold scorer joins the members (scorer index n_members) */
  bool mix_cold = !use_cold && have_cold && q->view.n < (size_t)q->min_interactions_for_cf;
  int n_scorers = use_cold ? 1 : q->n_members + mix_cold;
  int cnt = 0;

  eligibility(q, ws);

  /* stage 3: each scorer's top `pool` eligible items join the union */
  double mu[RECO_REC_MAX_MEMBERS], sd[RECO_REC_MAX_MEMBERS];
  float w[RECO_REC_MAX_MEMBERS];
  int np = 0;
  for (int s = 0; s < n_scorers && !rc; s++) {
    bool is_cold = use_cold || s == q->n_members;
    const reco_model *m = is_cold ? q->cold_model : q->members[s].model;
    w[s] = use_cold ? 1.0f : is_cold ? 0.0f : q->members[s].weight;
    if (mix_cold && s == q->n_members) {
      float wsum = 0;
      for (int j = 0; j < q->n_members; j++) wsum += q->members[j].weight;
      w[s] = wsum * (1.0f - (float)q->view.n / (float)q->min_interactions_for_cf);
    }
    float *sc = ws->scores + (size_t)s * (size_t)n;
    rc = is_cold && ctx_pop ? reco__context_popular(q->context_model, &q->context, sc)
                            : m->algo->score(m, &q->view, sc);
    if (rc) break;
    int32_t ne = 0;
    for (int32_t i = 0; i < n; i++)
      if (ws->elig[i] && isfinite(sc[i])) ws->cand[ne++] = i;
    int32_t c = ne < pool ? ne : pool;
    if (ne > pool) select_top(sc, ws->cand, ne, pool);
    double sum = 0, sq = 0;
    for (int32_t j = 0; j < c; j++) sum += sc[ws->cand[j]];
    mu[s] = c ? sum / c : 0;
    for (int32_t j = 0; j < c; j++) sq += (sc[ws->cand[j]] - mu[s]) * (sc[ws->cand[j]] - mu[s]);
    sd[s] = c > 1 ? sqrt(sq / (c - 1)) : 0;
    if (!(sd[s] > 0)) sd[s] = 1;
    for (int32_t j = 0; j < c; j++) add_to_pool(ws, &np, ws->cand[j]);
  }
  /* pinned items join the union when they pass the filters */
  for (size_t j = 0; !rc && j < q->n_pins; j++) {
    int32_t i = q->pin_items[j];
    if (i < 0 || i >= n || !ws->elig[i]) continue;
    int s = add_to_pool(ws, &np, i);
    if (s >= 0) ws->p_flag[s] |= F_PINNED;
  }
  if (rc) goto done;

  /* stage 4: blend, relevance, boosts, novelty, the objective */
  for (int s = 0; s < np; s++) {
    int32_t i = ws->p_item[s];
    double b = 0, best_c = -INFINITY;
    for (int m = 0; m < n_scorers; m++) {
      float x = ws->scores[(size_t)m * (size_t)n + (size_t)i];
      double z = isfinite(x) ? (x - mu[m]) / sd[m] : 0;
      double c = w[m] * z;
      b += c;
      if (c > best_c) {
        best_c = c;
        ws->p_best[s] = (int8_t)m;
      }
    }
    ws->p_rel[s] = (float)b;
  }
  minmax(ws->p_rel, np);
  /* context-aware re-ranking (context.c): learned per-context category lifts, session affinity */
  if ((q->context_model && q->context_weight > 0) || (q->n_session && q->session_weight > 0))
    reco__context_rerank(q->context_model, &q->context, q->context_weight, q->meta, q->session_items, q->n_session,
                         q->session_weight, ws->p_item, ws->p_rel, np);
  for (size_t j = 0; j < q->n_boost; j++) {
    int32_t i = q->boost_items[j];
    if (i < 0 || i >= n || ws->slot[i] < 0) continue;
    ws->p_rel[ws->slot[i]] *= q->boost_factors ? q->boost_factors[j] : q->boost;
  }
  for (size_t j = 0; j < q->n_bury; j++) {
    int32_t i = q->bury_items[j];
    if (i >= 0 && i < n && ws->slot[i] >= 0) ws->p_flag[ws->slot[i]] |= F_BURIED;
  }
  float w_div = q->diversity_weight, w_nov = q->item_pop ? q->novelty_weight : 0.0f;
  float w_rel = q->relevance_weight;
  if (isnan(w_rel) || w_rel < 0) w_rel = RECO_MAX(0.0f, 1.0f - w_div - q->novelty_weight);
  if (w_nov > 0) {
    double total = q->pop_total > 0 ? q->pop_total : 1;
    for (int s = 0; s < np; s++) {
      float c = q->item_pop[ws->p_item[s]];
      ws->p_nov[s] = (float)-log2((c >= 1 ? c : 1) / total);
    }
    minmax(ws->p_nov, np);
  }
  float omin = INFINITY, omax = -INFINITY;
  for (int s = 0; s < np; s++) {
    float o = w_rel * ws->p_rel[s] + (w_nov > 0 ? w_nov * ws->p_nov[s] : 0.0f);
    ws->p_obj[s] = o;
    if (o < omin) omin = o;
    if (o > omax) omax = o;
    ws->p_maxsim[s] = 0;
    if (q->item_vectors) {
      const float *x = q->item_vectors + (size_t)ws->p_item[s] * (size_t)q->dim;
      float nn = dotf(x, x, q->dim);
      ws->p_inv[s] = nn > 0 ? 1.0f / sqrtf(nn) : 0.0f;
    }
  }

  /* stage 5: MMR, buried items last, then pins at their positions */
  int limit = q->offset + q->k;
  if (limit > np || limit < 0) limit = np;
  int n_sel = mmr_phase(q, ws, np, 0, limit, 0, w_div);
  n_sel = mmr_phase(q, ws, np, n_sel, limit, F_BURIED, w_div);
  int len = n_sel;
  memcpy(ws->final, ws->order, (size_t)len * sizeof *ws->final);
  /* pins in order of position (insertion sort of at most RECO_REC_MAX_PINS) */
  int pin_idx[RECO_REC_MAX_PINS], n_pin = 0;
  for (size_t j = 0; j < q->n_pins; j++) {
    int32_t i = q->pin_items[j];
    if (i < 0 || i >= n || ws->slot[i] < 0 || !(ws->p_flag[ws->slot[i]] & F_PINNED)) continue;
    int x = n_pin++;
    while (x > 0 && q->pin_positions[pin_idx[x - 1]] > q->pin_positions[j]) {
      pin_idx[x] = pin_idx[x - 1];
      x--;
    }
    pin_idx[x] = (int)j;
  }
  for (int x = 0; x < n_pin; x++) {
    int s = ws->slot[q->pin_items[pin_idx[x]]];
    if (ws->p_flag[s] & F_CHOSEN) continue; /* the same item pinned twice: the first position wins */
    ws->p_flag[s] |= F_CHOSEN;
    int pos = q->pin_positions[pin_idx[x]];
    if (pos < 0) pos = 0;
    /* beyond the ranked prefix: at the end when the candidates ran out, else past the page */
    if (pos > len && n_sel == limit && limit < np) continue;
    if (pos > len) pos = len;
    memmove(ws->final + pos + 1, ws->final + pos, (size_t)(len - pos) * sizeof *ws->final);
    ws->final[pos] = s;
    len++;
  }

  /* stage 6: the page */
  float ospan = omax - omin;
  for (int p = q->offset; p < len && cnt < q->k; p++) {
    int s = ws->final[p];
    reco_rec_item *r = &out[cnt++];
    r->item = ws->p_item[s];
    r->score = ws->p_obj[s];
    float c = ospan > 0 ? (ws->p_obj[s] - omin) / ospan : 1.0f;
    r->confidence = c < 0 ? 0 : c > 1 ? 1 : c;
    r->because = -1;
    r->model = use_cold ? -1 : ws->p_best[s];
    if (ws->p_flag[s] & F_PINNED) {
      r->reason = RECO_REASON_PINNED;
      r->model = -1;
    } else if (use_cold || r->model == q->n_members) {
      r->reason = q->cold == RECO_COLD_TRENDING ? RECO_REASON_TRENDING : RECO_REASON_POPULAR;
      r->model = -1;
    } else {
      const reco_model *m = q->members[r->model].model;
      r->reason = strcmp(m->algo->name, "popular") ? RECO_REASON_MODEL : RECO_REASON_POPULAR;
      /* userknn explains by neighbour users, not history items */
      if (q->reasons && r->reason == RECO_REASON_MODEL && m->algo->explain && q->view.n &&
          strcmp(m->algo->name, "userknn")) {
        int32_t because;
        float wt;
        int e = m->algo->explain(m, &q->view, r->item, 1, &because, &wt);
        if (e < 0) {
          rc = e;
          break;
        }
        if (e == 1 && because >= 0) {
          r->reason = RECO_REASON_HISTORY;
          r->because = because;
        }
      }
    }
  }

done:
  for (int s = 0; s < np; s++) ws->slot[ws->p_item[s]] = -1;
  return rc ? rc : cnt;
}

/* ---- item vectors and popularity for the caller ---- */

int reco__rec_category_vectors(const reco_itemmeta *meta, int32_t n_items, float **out, int *dim) {
  *out = NULL;
  *dim = 0;
  int32_t d = meta && meta->cats ? reco__idmap_size(meta->cats) : 0;
  if (d <= 0 || !meta->cat_ptr) return reco__seterr(RECO_ENOTFOUND, "the catalogue has no categories");
  float *v = reco__aligned_calloc((size_t)(n_items ? n_items : 1) * (size_t)d * sizeof *v);
  if (!v) return reco__seterr(RECO_ENOMEM, "out of memory for category vectors");
  for (int32_t i = 0; i < n_items && i < meta->n_items; i++) {
    int64_t a = meta->cat_ptr[i], b = meta->cat_ptr[i + 1];
    if (b <= a) continue;
    float x = 1.0f / sqrtf((float)(b - a)); /* one-hot rows of c ones have norm sqrt(c) */
    for (int64_t p = a; p < b; p++) v[(size_t)i * (size_t)d + (size_t)meta->cat_idx[p]] = x;
  }
  *out = v;
  *dim = (int)d;
  return 0;
}

int reco__rec_item_popularity(const reco_dataset *ds, float **out) {
  *out = reco__malloc((size_t)(ds->n_items ? ds->n_items : 1) * sizeof **out);
  if (!*out) return reco__seterr(RECO_ENOMEM, "out of memory for item popularity");
  for (int32_t i = 0; i < ds->n_items; i++) (*out)[i] = (float)(ds->iptr[i + 1] - ds->iptr[i]);
  return 0;
}
