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
#include <stdlib.h>
#include <string.h>

enum { F_CHOSEN = 1, F_BURIED = 2, F_PINNED = 4 };
#define RECO_REC_ELIG_CACHE 4         /* eligible lists kept per workspace */
#define RECO_REC_ELIG_CACHE_MAX 65536 /* longer lists are not kept */
#define RECO_REC_EXPLAIN_BATCH 32

struct reco_rec_ws {
  int32_t n_items;
  int pool, max_members, cap;
  float *scores;   /* max_members x n_items */
  uint32_t *stamp; /* n_items: per-request marks (below), never cleared between requests */
  uint32_t epoch;  /* this request's marks are epoch - 2 (excluded), - 1 (visited), epoch (eligible) */
  int32_t *elist;  /* n_items: the eligible items of this request, when built here */
  const int32_t *el; /* the eligible items used: elist, or a cached list (below) */
  int32_t n_el;
  /* eligible lists of recent filters (request.filter_gen != 0), most recent first-come */
  struct elig_entry {
    uint64_t gen, inc, exc;
    const void *catidx, *rating, *avail, *meta;
    float min_rating, pmin, pmax;
    bool has_inc, valid;
    int32_t n, cap;
    int32_t *items;
  } ecache[RECO_REC_ELIG_CACHE];
  int ecache_next;
  int32_t *slot;   /* n_items, -1 = not in the union (restored after each request) */
  int32_t *p_item; /* cap: the candidate union */
  float *p_obj, *p_rel, *p_nov, *p_maxsim, *p_inv, *p_key;
  int32_t *p_upto, *heap; /* MMR: chosen items folded into p_maxsim; the lazy-greedy heap */
  /* MMR on categories: candidates grouped by category set (cap groups, hash of hcap slots) */
  int32_t *g_head, *g_best, *g_hash; /* group start in heap, group size, hash of groups */
  int32_t *g_slot;                    /* each group's slot in g_hash (to clear only those) */
  uint64_t *g_mask;
  float *g_inv, *g_max;
  int hcap;
  int8_t *p_best;
  uint8_t *p_flag;
  int32_t *order, *final; /* cap */
  uint64_t *ckey;         /* n_items: (score, item) keys of one scorer's eligible items */
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
  reco__free(ws->stamp);
  reco__free(ws->elist);
  for (int k = 0; k < RECO_REC_ELIG_CACHE; k++) reco__free(ws->ecache[k].items);
  reco__free(ws->slot);
  reco__free(ws->p_item);
  reco__free(ws->p_obj);
  reco__free(ws->p_rel);
  reco__free(ws->p_nov);
  reco__free(ws->p_maxsim);
  reco__free(ws->p_inv);
  reco__free(ws->p_key);
  reco__free(ws->p_upto);
  reco__free(ws->heap);
  reco__free(ws->g_head);
  reco__free(ws->g_best);
  reco__free(ws->g_hash);
  reco__free(ws->g_slot);
  reco__free(ws->g_mask);
  reco__free(ws->g_inv);
  reco__free(ws->g_max);
  reco__free(ws->p_best);
  reco__free(ws->p_flag);
  reco__free(ws->order);
  reco__free(ws->final);
  reco__free(ws->ckey);
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
  /* zeroed once: score_items leaves unlisted entries as they were, which must be finite */
  ws->scores = reco__aligned_calloc(n * (size_t)(max_members + 1) * sizeof *ws->scores);
  ws->stamp = reco__calloc(n, sizeof *ws->stamp);
  ws->elist = reco__malloc(n * sizeof *ws->elist);
  ws->slot = reco__malloc(n * sizeof *ws->slot);
  ws->p_item = reco__malloc(cap * sizeof *ws->p_item);
  ws->p_obj = reco__malloc(cap * sizeof *ws->p_obj);
  ws->p_rel = reco__malloc(cap * sizeof *ws->p_rel);
  ws->p_nov = reco__malloc(cap * sizeof *ws->p_nov);
  ws->p_maxsim = reco__malloc(cap * sizeof *ws->p_maxsim);
  ws->p_inv = reco__malloc(cap * sizeof *ws->p_inv);
  ws->p_key = reco__malloc(cap * sizeof *ws->p_key);
  ws->p_upto = reco__malloc(cap * sizeof *ws->p_upto);
  ws->heap = reco__malloc(cap * sizeof *ws->heap);
  ws->hcap = 16;
  while ((size_t)ws->hcap < 2 * cap) ws->hcap *= 2;
  ws->g_head = reco__malloc(cap * sizeof *ws->g_head);
  ws->g_best = reco__malloc(cap * sizeof *ws->g_best);
  ws->g_mask = reco__malloc(cap * sizeof *ws->g_mask);
  ws->g_inv = reco__malloc(cap * sizeof *ws->g_inv);
  ws->g_max = reco__malloc(cap * sizeof *ws->g_max);
  ws->g_hash = reco__malloc((size_t)ws->hcap * sizeof *ws->g_hash);
  ws->g_slot = reco__malloc(cap * sizeof *ws->g_slot);
  ws->p_best = reco__malloc(cap);
  ws->p_flag = reco__malloc(cap);
  ws->order = reco__malloc(cap * sizeof *ws->order);
  ws->final = reco__malloc(cap * sizeof *ws->final);
  ws->ckey = reco__malloc(n * sizeof *ws->ckey);
  if (!ws->scores || !ws->stamp || !ws->elist || !ws->slot || !ws->p_item || !ws->p_obj || !ws->p_rel || !ws->p_nov ||
      !ws->p_maxsim || !ws->p_inv || !ws->p_key || !ws->p_upto || !ws->heap ||
      !ws->g_head || !ws->g_best || !ws->g_mask || !ws->g_inv || !ws->g_max || !ws->g_hash || !ws->g_slot || !ws->p_best || !ws->p_flag || !ws->order || !ws->final || !ws->ckey ||
      false) {
    reco__rec_ws_free(ws);
    return reco__seterr(RECO_ENOMEM, "out of memory for a rank workspace");
  }
  for (size_t i = 0; i < n; i++) ws->slot[i] = -1;
  for (int h = 0; h < ws->hcap; h++) ws->g_hash[h] = -1; /* kept all -1 between phases */
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

/*
 * The eligible items, listed once per request into ws->elist. Items are marked in ws->stamp with
 * this request's epoch instead of clearing an n_items array: excluded (history, excluded items),
 * visited, eligible. With a category filter and a category index only the items of the
 * requested categories are visited, so a filtered request costs what its categories hold, not
 * the catalogue.
 */
typedef struct fplan {
  const uint8_t *avail;
  const float *rating;
  float min_rating;
  const float *price;
  float pmin, pmax;           /* -inf / +inf when unbounded */
  const uint64_t *mask;       /* category bitmasks (exact), or NULL: the CSR lists */
  int32_t mask_n;
  uint64_t inc, exc;          /* wanted / refused categories as masks */
} fplan;

/* The filters once per request, so the per-item test is a few loads and compares. */
static fplan plan_filters(const reco_rec_request *q) {
  const reco_rec_filters *f = &q->filters;
  const reco_itemmeta *meta = q->meta;
  fplan p = {.avail = f->available, .rating = isnan(f->min_rating) ? NULL : f->rating, .min_rating = f->min_rating};
  if (!isnan(f->price_min) || !isnan(f->price_max)) {
    static const float k_no_price = NAN;
    p.price = meta && meta->price ? meta->price : &k_no_price;
    p.pmin = isnan(f->price_min) ? -INFINITY : f->price_min;
    p.pmax = isnan(f->price_max) ? INFINITY : f->price_max;
  }
  const reco_rec_catindex *ci = q->catidx;
  if (ci && ci->mask_exact) {
    p.mask = ci->mask;
    p.mask_n = ci->n_items;
    for (size_t j = 0; j < f->n_include_cats; j++)
      if (f->include_cats[j] >= 0 && f->include_cats[j] < 64) p.inc |= 1ull << f->include_cats[j];
    for (size_t j = 0; j < f->n_exclude_cats; j++)
      if (f->exclude_cats[j] >= 0 && f->exclude_cats[j] < 64) p.exc |= 1ull << f->exclude_cats[j];
  }
  return p;
}

static inline bool passes(const reco_rec_request *q, const fplan *p, int32_t i, bool check_include) {
  const reco_rec_filters *f = &q->filters;
  if (p->avail && !((p->avail[i >> 3] >> (i & 7)) & 1)) return false;
  if (p->rating && !(p->rating[i] >= p->min_rating)) return false; /* NAN fails */
  if (p->price) {
    const reco_itemmeta *meta = q->meta;
    float pr = meta && meta->price && i < meta->n_items ? meta->price[i] : NAN;
    if (!(pr >= p->pmin && pr <= p->pmax)) return false; /* NAN fails */
  }
  bool fast = p->mask && i < p->mask_n;
  if (check_include && f->n_include_cats) {
    if (fast ? !(p->mask[i] & p->inc) : !has_any_cat(q->meta, i, f->include_cats, f->n_include_cats)) return false;
  }
  if (f->n_exclude_cats) {
    if (fast ? (p->mask[i] & p->exc) != 0 : has_any_cat(q->meta, i, f->exclude_cats, f->n_exclude_cats)) return false;
  }
  return true;
}

/* The cache key of the request's static filters (everything but the view and excluded items). */
static bool elig_key(const reco_rec_request *q, const fplan *p, struct elig_entry *k) {
  const reco_rec_filters *f = &q->filters;
  if (!q->filter_gen) return false;
  if ((f->n_include_cats || f->n_exclude_cats) && !(q->catidx && q->catidx->mask_exact)) return false;
  memset(k, 0, sizeof *k);
  k->gen = q->filter_gen, k->inc = p->inc, k->exc = p->exc, k->has_inc = f->n_include_cats > 0;
  k->catidx = q->catidx, k->rating = p->rating, k->avail = p->avail, k->meta = q->meta;
  k->min_rating = p->rating ? p->min_rating : 0;
  k->pmin = p->price ? p->pmin : 0, k->pmax = p->price ? p->pmax : 0;
  return true;
}

static bool elig_same(const struct elig_entry *a, const struct elig_entry *b) {
  return a->valid && a->gen == b->gen && a->inc == b->inc && a->exc == b->exc && a->has_inc == b->has_inc &&
         a->catidx == b->catidx && a->rating == b->rating && a->avail == b->avail && a->meta == b->meta &&
         a->min_rating == b->min_rating && a->pmin == b->pmin && a->pmax == b->pmax;
}

/* The view's history and the excluded items: this request's own exclusions (stamp epoch - 2). */
static void mark_excluded(const reco_rec_request *q, reco_rec_ws *ws) {
  const reco_rec_filters *f = &q->filters;
  uint32_t ex = ws->epoch - 2;
  for (size_t j = 0; j < f->n_exclude_items; j++) {
    int32_t i = f->exclude_items[j];
    if (i >= 0 && i < ws->n_items) ws->stamp[i] = ex;
  }
  if (f->exclude_seen)
    for (size_t j = 0; j < q->view.n; j++) {
      int32_t i = q->view.items[j];
      if (i >= 0 && i < ws->n_items) ws->stamp[i] = ex;
    }
}

/*
 * Eligibility in two parts: the view's history and the excluded items are marked in ws->stamp
 * (ex) for every request; the static filters (categories, rating, price, availability) give a
 * list that, when the caller vouches for its inputs with filter_gen, is kept and reused by the
 * next requests with the same filters (a category page's list is built once, not per request).
 */
static void eligibility(const reco_rec_request *q, reco_rec_ws *ws, const fplan *plan) {
  const reco_rec_filters *f = &q->filters;
  const reco_rec_catindex *ci = q->catidx;
  if (ws->epoch > UINT32_MAX - 3) {
    memset(ws->stamp, 0, (size_t)ws->n_items * sizeof *ws->stamp);
    ws->epoch = 0;
  }
  ws->epoch += 3;
  uint32_t seen = ws->epoch - 1, ok = ws->epoch;
  struct elig_entry key;
  bool cacheable = elig_key(q, plan, &key);
  for (int k = 0; cacheable && k < RECO_REC_ELIG_CACHE; k++)
    if (elig_same(&ws->ecache[k], &key)) {
      ws->el = ws->ecache[k].items;
      ws->n_el = ws->ecache[k].n;
      mark_excluded(q, ws);
      return;
    }
  /* built here, before the excluded items are marked: they stay in the list (the candidate scan
   * skips them) so that the list depends on the static filters only */
  int32_t n_el = 0;
  if (f->n_include_cats && ci && ci->n_items == ws->n_items) {
    /* lists sorted by this request's ratings: stop at the first below the minimum (and then the
     * rating test of passes is already done) */
    bool stop = ci->crating && ci->rating == f->rating && !isnan(f->min_rating);
    fplan pl = *plan;
    if (stop) pl.rating = NULL;
    for (size_t j = 0; j < f->n_include_cats; j++) {
      int32_t c = f->include_cats[j];
      if (c < 0 || c >= ci->n_cats) continue;
      for (int64_t p = ci->cptr[c]; p < ci->cptr[c + 1]; p++) {
        if (stop && !(ci->crating[p] >= f->min_rating)) break;
        int32_t i = ci->citem[p];
        uint32_t st = ws->stamp[i];
        if (st == seen || st == ok) continue; /* in two of the requested categories */
        ws->stamp[i] = seen;
        if (passes(q, &pl, i, false)) {
          ws->stamp[i] = ok;
          ws->elist[n_el++] = i;
        }
      }
    }
  } else {
    for (int32_t i = 0; i < ws->n_items; i++)
      if (passes(q, plan, i, true)) ws->elist[n_el++] = i;
  }
  ws->el = ws->elist;
  ws->n_el = n_el;
  if (cacheable && n_el <= RECO_REC_ELIG_CACHE_MAX) {
    struct elig_entry *e = &ws->ecache[ws->ecache_next];
    if (e->cap < n_el || !e->items) {
      int32_t cap = n_el > 64 ? n_el : 64;
      int32_t *p = reco__malloc((size_t)cap * sizeof *p);
      if (!p) { /* not kept: this request is served all the same */
        mark_excluded(q, ws);
        return;
      }
      reco__free(e->items);
      e->items = p, e->cap = cap;
    }
    memcpy(e->items, ws->elist, (size_t)n_el * sizeof *ws->elist);
    int32_t *items = e->items, cap = e->cap;
    *e = key;
    e->items = items, e->cap = cap, e->n = n_el, e->valid = true;
    ws->ecache_next = (ws->ecache_next + 1) % RECO_REC_ELIG_CACHE;
  }
  mark_excluded(q, ws);
}

/* Item i passes the request's filters and is not excluded (pins: a few per request). */
static inline bool eligible(const reco_rec_request *q, const reco_rec_ws *ws, const fplan *plan, int32_t i) {
  return ws->stamp[i] != ws->epoch - 2 && passes(q, plan, i, true);
}

/* ---- helpers ---- */

/*
 * A candidate's (score, item) as one integer whose order is the ranking order: higher score first,
 * then the smaller item (the top-k heap's order). The float's bits are made to sort as unsigned
 * integers (negative values flipped, positive ones given the sign bit; -0 counted as +0, which
 * compares equal to it), the item goes in the low half complemented. Scores are finite here.
 */
static inline uint64_t rank_key(float v, int32_t item) {
  uint32_t b;
  v += 0.0f; /* -0 + +0 is +0 (round to nearest); every other finite value is unchanged */
  memcpy(&b, &v, sizeof b);
  b = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
  return (uint64_t)b << 32 | (uint32_t)~(uint32_t)item;
}

static inline int32_t key_item(uint64_t k) { return (int32_t)~(uint32_t)k; }

static void select_keys(uint64_t *k, int32_t n, int32_t top);

/*
 * select_keys for n much larger than top: a threshold from a sample, then one branch-free pass.
 * The sample's r-th largest key T is chosen so that about 2 top keys are expected at or above
 * it; a partition (swaps made with conditional moves, so no mispredicted branches) puts those
 * first, and quickselect finishes on them. When fewer than `top` made it (an unlucky sample,
 * about one request in a hundred), quickselect runs on the whole array, which the partition
 * only permuted. The chosen set is the same as select_keys' (keys are distinct).
 */
static void select_keys_sampled(uint64_t *k, int32_t n, int32_t top) {
  enum { M = 128 };
  int32_t r = (int32_t)(((int64_t)(2 * top + 16) * (M + 1) + n - 1) / n);
  if (r >= M / 2) { /* top is a large share of n: sampling would not narrow it */
    select_keys(k, n, top);
    return;
  }
  uint64_t smp[M];
  for (int32_t x = 0; x < M; x++) smp[x] = k[(int64_t)x * n / M];
  select_keys(smp, M, r);
  uint64_t t = smp[0];
  for (int32_t x = 1; x < r; x++) t = smp[x] < t ? smp[x] : t;
  int32_t m = 0;
  for (int32_t x = 0; x < n; x++) {
    uint64_t v = k[x], u = k[m];
    bool c = v >= t;
    k[x] = c ? u : v;
    k[m] = c ? v : u;
    m += c;
  }
  select_keys(k, m >= top ? m : n, top);
}

/*
 * Moves the `top` largest keys of k[0..n) to k[0..top), in no particular order: Hoare's
 * quickselect (Hoare 1961, "Algorithm 65: Find") with a median-of-three pivot, O(n) expected,
 * on contiguous integers (one comparison per step, no indirection). Keys are distinct (items
 * are), so the chosen set is the same whatever the input order.
 */
static void select_keys(uint64_t *k, int32_t n, int32_t top) {
  int32_t lo = 0, hi = n - 1;
  while (hi > lo) {
    if (hi - lo < 16) { /* a short run: insertion sort, descending */
      for (int32_t i = lo + 1; i <= hi; i++) {
        uint64_t x = k[i];
        int32_t j = i;
        for (; j > lo && k[j - 1] < x; j--) k[j] = k[j - 1];
        k[j] = x;
      }
      return;
    }
    int32_t mid = lo + (hi - lo) / 2;
    uint64_t a = k[lo], b = k[mid], c = k[hi], piv;
    if (a > b) piv = b > c ? b : (a > c ? c : a);
    else piv = a > c ? a : (b > c ? c : b);
    int32_t i = lo, j = hi;
    while (i <= j) {
      while (k[i] > piv) i++;
      while (k[j] < piv) j--;
      if (i <= j) {
        uint64_t t = k[i];
        k[i] = k[j];
        k[j] = t;
        i++;
        j--;
      }
    }
    /* now k[lo..j] are all >= piv, k[i..hi] all <= piv */
    if (top - 1 <= j) hi = j;
    else if (top - 1 >= i) lo = i;
    else break;
  }
}

void reco__rec_select_keys(uint64_t *k, int32_t n, int32_t top) {
  if (top <= 0 || n <= top) return;
  if (n > 8 * top && n >= 512) select_keys_sampled(k, n, top);
  else select_keys(k, n, top);
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
  /* two running minima and maxima: the comparisons of one do not wait on the other's */
  float lo = INFINITY, hi = -INFINITY, lo2 = INFINITY, hi2 = -INFINITY;
  int j = 0;
  for (; j + 2 <= n; j += 2) {
    if (a[j] < lo) lo = a[j];
    if (a[j] > hi) hi = a[j];
    if (a[j + 1] < lo2) lo2 = a[j + 1];
    if (a[j + 1] > hi2) hi2 = a[j + 1];
  }
  if (j < n) {
    if (a[j] < lo) lo = a[j];
    if (a[j] > hi) hi = a[j];
  }
  if (lo2 < lo) lo = lo2;
  if (hi2 > hi) hi = hi2;
  float span = hi - lo;
  for (int j = 0; j < n; j++) a[j] = span > 0 ? (a[j] - lo) / span : 1.0f;
}

static float dotf(const float *a, const float *b, int d) { return reco__fdot(a, b, d); }

/* MMR on category sets: cosine of the one-hot vectors = shared categories / sqrt(|A| |B|). */
static bool by_category(const reco_rec_request *q) {
  return !q->item_vectors && q->diversity_by_category && q->catidx && q->catidx->mask_exact &&
         q->catidx->n_items >= 1;
}

/* Heap order of candidates: larger key first, then the smaller item (MMR's tie rule). */
static inline bool heap_before(const reco_rec_ws *ws, int32_t a, int32_t b) {
  return ws->p_key[a] > ws->p_key[b] || (ws->p_key[a] == ws->p_key[b] && ws->p_item[a] < ws->p_item[b]);
}

static void heap_down(reco_rec_ws *ws, int n, int at) {
  int32_t *h = ws->heap, x = h[at];
  for (;;) {
    int c = 2 * at + 1;
    if (c >= n) break;
    if (c + 1 < n && heap_before(ws, h[c + 1], h[c])) c++;
    if (!heap_before(ws, h[c], x)) break;
    h[at] = h[c];
    at = c;
  }
  h[at] = x;
}

/*
 * Greedy MMR over the candidates that pass `want` (flags), appending to ws->order.
 *
 * Lazy greedy (Minoux 1978): an item's MMR value only falls as items are chosen (its maximum
 * similarity to the chosen set only grows), so a max-heap keyed by each item's last computed
 * value holds upper bounds. The top is brought up to date (its similarity to the items chosen
 * since it was last computed) and, when it still heads the heap, it is the exact greedy choice,
 * ties going to the smaller item as in the plain scan. A list of L items then costs about
 * O(P + L log P) similarity evaluations instead of O(L P).
 */
/* The better of two candidates by (MMR value, then the smaller item). */
static inline bool mmr_better(const reco_rec_ws *ws, float va, int32_t a, float vb, int32_t b) {
  return va > vb || (va == vb && ws->p_item[a] < ws->p_item[b]);
}

/* A max-heap by objective (ties: the smaller item) over the candidate slots h[0..n). */
static void obj_heap_down(const reco_rec_ws *ws, int32_t *h, int32_t n, int32_t at) {
  int32_t x = h[at];
  for (;;) {
    int32_t c = 2 * at + 1;
    if (c >= n) break;
    if (c + 1 < n && mmr_better(ws, ws->p_obj[h[c + 1]], h[c + 1], ws->p_obj[h[c]], h[c])) c++;
    if (!mmr_better(ws, ws->p_obj[h[c]], h[c], ws->p_obj[x], x)) break;
    h[at] = h[c];
    at = c;
  }
  h[at] = x;
}

/*
 * MMR when similarity is the cosine of category sets: candidates with the same set (and norm)
 * have the same similarity to anything chosen, so within such a group the order never changes
 * and only each group's best can be the greedy choice. Each group keeps its members in a heap
 * by objective; a pick compares the G group heads and pops one: O(P + L (G + log P)) for a
 * list of L over P candidates. Same choices, same ties as the plain greedy scan.
 */
static int mmr_phase_groups(const reco_rec_request *q, reco_rec_ws *ws, int np, int n_sel, int limit,
                            uint8_t want_buried, float w_div) {
  const uint64_t *mask = q->catidx->mask;
  unsigned hm = (unsigned)ws->hcap - 1;
  int32_t *g_of = ws->p_upto, *g_size = ws->g_best, *g_start = ws->g_head;
  int32_t ng = 0;
  for (int s = 0; s < np; s++) {
    uint8_t fl = ws->p_flag[s];
    g_of[s] = -1;
    if ((fl & (F_CHOSEN | F_PINNED)) || (fl & F_BURIED) != want_buried) continue;
    uint64_t mk = mask[ws->p_item[s]];
    float inv = ws->p_inv[s];
    int32_t g = -1;
    /* most lists hold a handful of category sets: look at the first few groups before hashing
     * (every group is in the hash too) */
    for (int32_t x = 0; x < ng && x < 8; x++)
      if (ws->g_mask[x] == mk && ws->g_inv[x] == inv) {
        g = x;
        break;
      }
    if (g < 0) {
      uint32_t bits;
      memcpy(&bits, &inv, sizeof bits);
      unsigned h = (unsigned)((mk ^ ((uint64_t)bits << 17)) * 0x9E3779B97F4A7C15ull >> 40) & hm;
      while ((g = ws->g_hash[h]) >= 0 && !(ws->g_mask[g] == mk && ws->g_inv[g] == inv)) h = (h + 1) & hm;
      if (g < 0) {
        g = ng++;
        ws->g_hash[h] = g;
        ws->g_slot[g] = (int32_t)h;
        ws->g_mask[g] = mk;
        ws->g_inv[g] = inv;
        g_size[g] = 0;
        /* similarity to what earlier phases chose */
        float ms = 0;
        for (int j = 0; j < n_sel; j++) {
          int b = ws->order[j];
          float c = (float)__builtin_popcountll(mask[ws->p_item[b]] & mk) * ws->p_inv[b] * inv;
          if (j == 0 || c > ms) ms = c;
        }
        ws->g_max[g] = ms;
      }
    }
    g_of[s] = g;
    g_size[g]++;
  }
  for (int32_t g = 0; g < ng; g++) ws->g_hash[ws->g_slot[g]] = -1; /* the table is clean again for the next phase */
  /* A group gives at most L = limit - n_sel items to this list, so when every group's best L fit
   * in ws->heap, each group keeps just those, in order (insertion into a short sorted run; most
   * candidates are one comparison), and a group's head is the next of its run. Otherwise the
   * members of each group go contiguous in ws->heap (a counting sort) and are heapified. */
  int32_t L = limit - n_sel;
  bool runs = L > 0 && (int64_t)ng * L <= ws->cap;
  if (runs) {
    for (int32_t g = 0; g < ng; g++) g_start[g] = 0, g_size[g] = 0; /* g_start: taken from the run */
    for (int s = 0; s < np; s++) {
      int32_t g = g_of[s];
      if (g < 0) continue;
      int32_t *a = ws->heap + (size_t)g * (size_t)L, c = g_size[g];
      float v = ws->p_obj[s];
      if (c == L) {
        if (!mmr_better(ws, v, s, ws->p_obj[a[L - 1]], a[L - 1])) continue;
        c--;
      }
      int32_t x = c;
      for (; x > 0 && mmr_better(ws, v, s, ws->p_obj[a[x - 1]], a[x - 1]); x--) a[x] = a[x - 1];
      a[x] = s;
      g_size[g] = c + 1;
    }
  } else {
    int32_t o = 0;
    for (int32_t g = 0; g < ng; g++) {
      g_start[g] = o;
      o += g_size[g];
      g_size[g] = 0;
    }
    for (int s = 0; s < np; s++)
      if (g_of[s] >= 0) ws->heap[g_start[g_of[s]] + g_size[g_of[s]]++] = s;
    for (int32_t g = 0; g < ng; g++)
      for (int32_t at = g_size[g] / 2 - 1; at >= 0; at--) obj_heap_down(ws, ws->heap + g_start[g], g_size[g], at);
  }
  while (n_sel < limit) {
    int32_t bg = -1, bs = -1;
    float bv = 0;
    for (int32_t g = 0; g < ng; g++) {
      int32_t s;
      if (runs) {
        if (g_start[g] >= g_size[g]) continue;
        s = ws->heap[(size_t)g * (size_t)L + (size_t)g_start[g]];
      } else {
        if (!g_size[g]) continue;
        s = ws->heap[g_start[g]];
      }
      float v = ws->p_obj[s];
      if (n_sel > 0) v -= w_div * ws->g_max[g];
      if (bg < 0 || mmr_better(ws, v, s, bv, bs)) bg = g, bs = s, bv = v;
    }
    if (bg < 0) break;
    ws->p_flag[bs] |= F_CHOSEN;
    ws->order[n_sel++] = bs;
    if (runs) {
      g_start[bg]++;
    } else {
      int32_t *h = ws->heap + g_start[bg];
      h[0] = h[--g_size[bg]];
      if (g_size[bg] > 1) obj_heap_down(ws, h, g_size[bg], 0);
    }
    uint64_t mb = mask[ws->p_item[bs]];
    float ib = ws->p_inv[bs];
    for (int32_t g = 0; g < ng; g++) {
      float c = (float)__builtin_popcountll(mb & ws->g_mask[g]) * ib * ws->g_inv[g];
      if (n_sel == 1 || c > ws->g_max[g]) ws->g_max[g] = c;
    }
  }
  return n_sel;
}

static int mmr_phase(const reco_rec_request *q, reco_rec_ws *ws, int np, int n_sel, int limit, uint8_t want_buried,
                     float w_div) {
  bool cats = w_div > 0 && by_category(q);
  if (cats) return mmr_phase_groups(q, ws, np, n_sel, limit, want_buried, w_div);
  bool div = w_div > 0 && ((q->item_vectors && q->dim > 0) || cats);
  const uint64_t *mask = cats ? q->catidx->mask : NULL;
  int nh = 0;
  for (int s = 0; s < np; s++) {
    uint8_t fl = ws->p_flag[s];
    if ((fl & (F_CHOSEN | F_PINNED)) || (fl & F_BURIED) != want_buried) continue;
    float v = ws->p_obj[s];
    if (div && n_sel > 0) v -= w_div * ws->p_maxsim[s];
    ws->p_key[s] = v;
    ws->heap[nh++] = s;
  }
  for (int at = nh / 2 - 1; at >= 0; at--) heap_down(ws, nh, at);
  while (n_sel < limit && nh > 0) {
    int32_t s = ws->heap[0];
    if (div && ws->p_upto[s] < n_sel) {
      /* stale: fold in the items chosen since, then let it sink to its place */
      float ms = ws->p_maxsim[s], inv = ws->p_inv[s];
      for (int j = ws->p_upto[s]; j < n_sel; j++) {
        int b = ws->order[j];
        float c;
        if (cats)
          c = (float)__builtin_popcountll(mask[ws->p_item[b]] & mask[ws->p_item[s]]) * ws->p_inv[b] * inv;
        else
          c = dotf(q->item_vectors + (size_t)ws->p_item[b] * (size_t)q->dim,
                   q->item_vectors + (size_t)ws->p_item[s] * (size_t)q->dim, q->dim) *
              ws->p_inv[b] * inv;
        if (j == 0 || c > ms) ms = c;
      }
      ws->p_maxsim[s] = ms;
      ws->p_upto[s] = n_sel;
      ws->p_key[s] = ws->p_obj[s] - w_div * ms;
      heap_down(ws, nh, 0);
      continue;
    }
    ws->p_flag[s] |= F_CHOSEN;
    ws->order[n_sel++] = s;
    ws->heap[0] = ws->heap[--nh];
    if (nh > 0) heap_down(ws, nh, 0);
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

  fplan plan = plan_filters(q);
  eligibility(q, ws, &plan);

  /* stage 3: each scorer's top `pool` eligible items join the union */
  double mu[RECO_REC_MAX_MEMBERS + 1], sd[RECO_REC_MAX_MEMBERS + 1]; /* + the blended cold scorer */
  float w[RECO_REC_MAX_MEMBERS + 1];
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
    /* a few eligible items (a filtered request): only theirs, when the model can */
    bool sparse = m && m->algo->score_items && (int64_t)ws->n_el * 4 < (int64_t)n;
    rc = is_cold && ctx_pop ? reco__context_popular(q->context_model, &q->context, sc)
         : sparse           ? m->algo->score_items(m, &q->view, ws->el, (size_t)ws->n_el, sc)
                            : m->algo->score(m, &q->view, sc);
    if (rc) break;
    int32_t ne = 0;
    uint32_t ex = ws->epoch - 2; /* the history and the excluded items */
    uint64_t *ck = ws->ckey;
    for (int32_t e = 0; e < ws->n_el; e++) {
      int32_t i = ws->el[e];
      float v = sc[i];
      if (ws->stamp[i] != ex && isfinite(v)) ck[ne++] = rank_key(v, i);
    }
    int32_t c = ne < pool ? ne : pool;
    reco__rec_select_keys(ck, ne, pool);
    /* mean and standard deviation of the chosen scores, four partial sums at a time (the adds
     * do not wait on each other) */
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    int32_t j = 0;
    for (; j + 4 <= c; j += 4) {
      a0 += sc[key_item(ck[j])], a1 += sc[key_item(ck[j + 1])];
      a2 += sc[key_item(ck[j + 2])], a3 += sc[key_item(ck[j + 3])];
    }
    for (; j < c; j++) a0 += sc[key_item(ck[j])];
    double mean = c ? ((a0 + a1) + (a2 + a3)) / c : 0;
    a0 = a1 = a2 = a3 = 0;
    for (j = 0; j + 4 <= c; j += 4) {
      double d0 = sc[key_item(ck[j])] - mean, d1 = sc[key_item(ck[j + 1])] - mean;
      double d2 = sc[key_item(ck[j + 2])] - mean, d3 = sc[key_item(ck[j + 3])] - mean;
      a0 += d0 * d0, a1 += d1 * d1, a2 += d2 * d2, a3 += d3 * d3;
    }
    for (; j < c; j++) {
      double d = sc[key_item(ck[j])] - mean;
      a0 += d * d;
    }
    mu[s] = mean;
    sd[s] = c > 1 ? sqrt(((a0 + a1) + (a2 + a3)) / (c - 1)) : 0;
    if (!(sd[s] > 0)) sd[s] = 1;
    for (int32_t j = 0; j < c; j++) add_to_pool(ws, &np, key_item(ck[j]));
  }
  /* pinned items join the union when they pass the filters */
  for (size_t j = 0; !rc && j < q->n_pins; j++) {
    int32_t i = q->pin_items[j];
    if (i < 0 || i >= n || !eligible(q, ws, &plan, i)) continue;
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
  bool cat_div = by_category(q);
  for (int s = 0; s < np; s++) {
    float o = w_rel * ws->p_rel[s] + (w_nov > 0 ? w_nov * ws->p_nov[s] : 0.0f);
    ws->p_obj[s] = o;
    if (o < omin) omin = o;
    if (o > omax) omax = o;
    ws->p_maxsim[s] = 0;
    ws->p_upto[s] = 0;
    if (cat_div) {
      ws->p_inv[s] = q->catidx->inv_norm[ws->p_item[s]];
    } else if (q->item_vectors) {
      const float *x = q->item_vectors + (size_t)ws->p_item[s] * (size_t)q->dim;
      float nn = dotf(x, x, q->dim);
      ws->p_inv[s] = nn > 0 ? 1.0f / sqrtf(nn) : 0.0f;
    }
  }

  /* stage 5: MMR, buried items last, then pins at their positions */
  int limit = q->offset + q->k;
  if (limit > np || limit < 0) limit = np;
  int n_sel = mmr_phase(q, ws, np, 0, limit, 0, w_div);
  if (q->n_bury) n_sel = mmr_phase(q, ws, np, n_sel, limit, F_BURIED, w_div); /* none buried: nothing to add */
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
      /* userknn explains by neighbour users, not history items; explain_many is done for the
       * whole page below */
      if (q->reasons && r->reason == RECO_REASON_MODEL && m->algo->explain && !m->algo->explain_many && q->view.n &&
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

  /* reasons of the members that explain a page in one pass */
  for (int mb = 0; !rc && q->reasons && q->view.n && !use_cold && mb < q->n_members; mb++) {
    const reco_model *m = q->members[mb].model;
    if (!m->algo->explain_many || !strcmp(m->algo->name, "userknn")) continue;
    int32_t items[RECO_REC_EXPLAIN_BATCH], because[RECO_REC_EXPLAIN_BATCH], at[RECO_REC_EXPLAIN_BATCH];
    float wt[RECO_REC_EXPLAIN_BATCH];
    for (int x = 0; x < cnt && !rc;) {
      int nb = 0;
      for (; x < cnt && nb < RECO_REC_EXPLAIN_BATCH; x++)
        if (out[x].model == mb && out[x].reason == RECO_REASON_MODEL) at[nb] = x, items[nb++] = out[x].item;
      if (!nb) break;
      rc = m->algo->explain_many(m, &q->view, items, nb, because, wt);
      for (int y = 0; !rc && y < nb; y++)
        if (because[y] >= 0) {
          out[at[y]].reason = RECO_REASON_HISTORY;
          out[at[y]].because = because[y];
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

void reco__rec_catindex_free(reco_rec_catindex *ci) {
  if (!ci) return;
  reco__free(ci->mask);
  reco__free(ci->cptr);
  reco__free(ci->citem);
  reco__free(ci->crating);
  reco__free(ci->inv_norm);
  reco__free(ci);
}

/* qsort context-free: postings are sorted as (rating, item) pairs */
typedef struct rated_item {
  float r;
  int32_t i;
} rated_item;

static int by_rating_desc(const void *a, const void *b) {
  const rated_item *x = a, *y = b;
  bool xn = isnan(x->r), yn = isnan(y->r);
  if (xn != yn) return xn ? 1 : -1; /* unknown ratings last */
  if (!xn && x->r != y->r) return x->r > y->r ? -1 : 1;
  return (x->i > y->i) - (x->i < y->i);
}

int reco__rec_catindex_build(const reco_itemmeta *meta, int32_t n_items, const float *rating,
                             reco_rec_catindex **out) {
  *out = NULL;
  int32_t nc = meta && meta->cats ? reco__idmap_size(meta->cats) : 0;
  if (nc <= 0 || !meta->cat_ptr || n_items <= 0) return reco__seterr(RECO_ENOTFOUND, "the catalogue has no categories");
  reco_rec_catindex *ci = reco__calloc(1, sizeof *ci);
  if (!ci) return reco__seterr(RECO_ENOMEM, "out of memory for a category index");
  size_t n = (size_t)n_items;
  int64_t total = 0;
  for (int32_t i = 0; i < n_items && i < meta->n_items; i++) total += meta->cat_ptr[i + 1] - meta->cat_ptr[i];
  ci->n_items = n_items;
  ci->n_cats = nc;
  ci->mask = reco__calloc(n, sizeof *ci->mask);
  ci->inv_norm = reco__calloc(n, sizeof *ci->inv_norm);
  ci->cptr = reco__calloc((size_t)nc + 1, sizeof *ci->cptr);
  ci->citem = reco__malloc((size_t)(total ? total : 1) * sizeof *ci->citem);
  if (!ci->mask || !ci->inv_norm || !ci->cptr || !ci->citem) {
    reco__rec_catindex_free(ci);
    return reco__seterr(RECO_ENOMEM, "out of memory for a category index");
  }
  ci->mask_exact = nc <= 64;
  for (int32_t i = 0; i < n_items && i < meta->n_items; i++) {
    int64_t a = meta->cat_ptr[i], b = meta->cat_ptr[i + 1];
    if (b > a) ci->inv_norm[i] = 1.0f / sqrtf((float)(b - a));
    for (int64_t p = a; p < b; p++) {
      int32_t c = meta->cat_idx[p];
      if (c < 0 || c >= nc) continue;
      if (c < 64) ci->mask[i] |= 1ull << c;
      ci->cptr[c + 1]++;
    }
  }
  for (int32_t c = 0; c < nc; c++) ci->cptr[c + 1] += ci->cptr[c];
  /* fill in item order with a moving cursor per category (cptr shifted back afterwards) */
  for (int32_t i = 0; i < n_items && i < meta->n_items; i++)
    for (int64_t p = meta->cat_ptr[i]; p < meta->cat_ptr[i + 1]; p++) {
      int32_t c = meta->cat_idx[p];
      if (c >= 0 && c < nc) ci->citem[ci->cptr[c]++] = i;
    }
  for (int32_t c = nc; c > 0; c--) ci->cptr[c] = ci->cptr[c - 1];
  ci->cptr[0] = 0;
  if (rating) {
    rated_item *tmp = reco__malloc((size_t)(total ? total : 1) * sizeof *tmp);
    ci->crating = reco__malloc((size_t)(total ? total : 1) * sizeof *ci->crating);
    if (!tmp || !ci->crating) {
      reco__free(tmp);
      reco__rec_catindex_free(ci);
      return reco__seterr(RECO_ENOMEM, "out of memory for a category index");
    }
    for (int32_t c = 0; c < nc; c++) {
      int64_t a = ci->cptr[c], b = ci->cptr[c + 1];
      for (int64_t p = a; p < b; p++) tmp[p - a] = (rated_item){rating[ci->citem[p]], ci->citem[p]};
      qsort(tmp, (size_t)(b - a), sizeof *tmp, by_rating_desc);
      for (int64_t p = a; p < b; p++) {
        ci->citem[p] = tmp[p - a].i;
        ci->crating[p] = tmp[p - a].r;
      }
    }
    reco__free(tmp);
    ci->rating = rating;
  }
  *out = ci;
  return 0;
}
