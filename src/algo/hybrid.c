/*
 * hybrid.c - an ensemble of member models whose rankings are blended per user, with the blend
 * weights learned on a validation split of the training data.
 *
 * Members. One boolean parameter per member family (use_ease, use_ials, use_itemknn, use_bpr,
 * use_content, use_popular; all but popular on by default: on TOPN-U1 adding BPR to
 * ease+ials+itemknn+content raised NDCG@10 from 0.576 to 0.581); every member keeps its own
 * default parameters and the hybrid's seed. DESIGN.md section 3 says an ensemble never looks
 * algorithms up in the table, so that the table can list it without a loop. The hybrid
 * therefore names its member vtables directly (k_family below holds &reco__algo_ease, ...:
 * link-time references, like the table's own) and builds member models with member_new rather
 * than reco__model_new, which is a lookup by name in the table. The table lists the hybrid;
 * the hybrid lists its families; neither reaches back. A layer above that wants other members
 * would add a factory hook to algo.h; none needs one yet.
 *
 * Combination. For a user view each member scores every item; its scores are turned into a
 * per-member value t_m(i), and the hybrid's score is s(i) = sum_m w_m t_m(i), w >= 0, sum w = 1:
 *   - method=weighted: t_m is the z-score of the member's scores over the items the user has
 *     not interacted with (mean and spread in double), so members on different scales (EASE's
 *     regression weights, iALS's dot products, item-kNN's summed cosines) blend on equal terms
 *     (score standardisation as in the CombSUM/CombMNZ line of work, Fox and Shaw 1994, with the
 *     z-score normalisation of Montague and Aslam 2001); normalize=minmax instead maps the
 *     member's top norm_top unseen scores linearly onto [0, 1] and the rest to 0 (measured on
 *     TOPN-U1 within noise of the z-score, which stays the default as it needs no cut-off);
 *   - method=rrf: t_m(i) = 1 / (k + rank_m(i)), reciprocal rank fusion (Cormack, Clarke and
 *     Buettcher 2009, k = 60 as there), here weighted; ranks count among the user's unseen items,
 *     items below rrf_depth get nothing from that member.
 * Graceful fallback: a member that cannot score a user (content with no metadata overlap only
 * breaks ties by popularity, a member that returns an error other than out-of-memory) contributes
 * nothing for that user: its t_m is 0 everywhere. "Cannot score" is measured, not guessed: the
 * spread of the user's scores is below a thousandth of the member's typical spread (the median
 * over up to 256 training users, recorded at fit and saved).
 *
 * Learning the weights (fit). A seeded per-user holdout (valid_frac of each user's training
 * interactions, reco__split_user_ratio) is carved from the TRAINING data; every member is fitted
 * on the rest; for a sample of up to valid_users users with a holdout, each member's t_m is
 * computed once and the union of the members' top `pool` unseen items is kept with its t values
 * and relevance. NDCG@10 (EVALUATION.md's definition, history excluded, ties to the lower item
 * index as the top-k heap breaks them) of any w is then cheap to evaluate exactly on that pool,
 * and w is chosen by maximising it: an exhaustive grid over the simplex (step 1/10 up to four
 * members, 1/6 for five, 1/5 for six: a few hundred points), then coordinate moves of mass
 * between pairs of members with halving steps (1/(2g), 1/(4g), 1/(8g)) until none improves
 * (a derivative-free coordinate ascent; the metric is piecewise constant in w, so gradients
 * would be of no use). Members whose weight comes out 0 are dropped;
 * the others are refitted on the full training data with the same parameters, and the learned
 * weights are kept (z-scores and ranks are scale-free, so they carry over to the refit models).
 * With one member there is nothing to learn: w = 1 and a single fit. With learn=false, or when
 * no validation user exists (tiny data) or none gets a hit, the weights are equal.
 * Determinism: everything here is seeded and summed in a fixed order; a member whose own fit is
 * not deterministic across runs (BPR's parallel SGD) makes the hybrid vary as much.
 *
 * Saving. Each member is saved as a whole model file (its own metadata, parameters and
 * sections, checksummed) stored as the bytes of one RECO_DT_BYTES section "member_<name>" of the
 * hybrid's file, so member section names never collide: reco__model_save_mem writes it in
 * memory and reco__model_load_mem reads it back (checksum verified) for the member's algorithm.
 *
 * Scratch. score() and explain() need n_items floats and bytes (plus a heap for rrf or
 * minmax). They take one of HY_SLOTS scratch slots kept in the model (claimed with an atomic
 * compare-and-swap, allocated on first use, freed with the model), so a request allocates
 * nothing once the slots are warm and the model stays usable from any number of threads
 * without thread-local buffers that outlive their threads; only when more than HY_SLOTS
 * threads score at once does a call fall back to a scratch of its own. A request costs the
 * sum of its members' scoring plus O(n_items) per member.
 *
 * The pipeline (src/rank) blends members itself: reco__hybrid_members hands it the members
 * and the learned weights. The weights are learned on z-scores over the user's unseen items;
 * the pipeline z-scores each member over its top `pool` eligible items, a narrower spread, so
 * the accessor rescales each weight by the member's typical ratio of the two spreads (median
 * over training users, measured at fit as `pool_ratio`), which puts the blends on one scale.
 */
#include "algo.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../data/split.h"

extern const reco_algo reco__algo_ease, reco__algo_ials, reco__algo_itemknn, reco__algo_bpr, reco__algo_content,
    reco__algo_popular;

/* The member families, in the order of their use_* parameters (which are the first params). */
static const struct {
  const char *name;
  const reco_algo *algo;
} k_family[] = {
    {"ease", &reco__algo_ease},       {"ials", &reco__algo_ials},       {"itemknn", &reco__algo_itemknn},
    {"bpr", &reco__algo_bpr},         {"content", &reco__algo_content}, {"popular", &reco__algo_popular},
};
#define HY_FAMILIES 6

static const reco_param_spec k_params[] = {
    {"use_ease", RECO_P_BOOL, 1, 0, 1, NULL, "member: EASE (its own defaults, lambda chosen on validation)"},
    {"use_ials", RECO_P_BOOL, 1, 0, 1, NULL, "member: implicit ALS"},
    {"use_itemknn", RECO_P_BOOL, 1, 0, 1, NULL, "member: item-kNN"},
    {"use_bpr", RECO_P_BOOL, 1, 0, 1, NULL, "member: BPR"},
    {"use_content", RECO_P_BOOL, 1, 0, 1, NULL, "member: content-based (item metadata)"},
    {"use_popular", RECO_P_BOOL, 0, 0, 1, NULL, "member: most popular"},
    {"method", RECO_P_ENUM, 0, 0, 1, "weighted|rrf",
     "weighted: blend of per-user normalised member scores; rrf: weighted reciprocal rank fusion"},
    {"normalize", RECO_P_ENUM, 0, 0, 1, "zscore|minmax",
     "weighted: z-score over the user's unseen items, or min-max over the member's top norm_top (0 below)"},
    {"norm_top", RECO_P_INT, 100, 2, 1e7, NULL, "normalize=minmax: the head of each member's list that is scaled"},
    {"rrf_k", RECO_P_INT, 60, 1, 1e6, NULL, "rrf: the k of 1 / (k + rank) (Cormack et al. 2009)"},
    {"rrf_depth", RECO_P_INT, 1000, 10, 1e7, NULL, "rrf: ranks counted per member; items further down get 0"},
    {"learn", RECO_P_BOOL, 1, 0, 1, NULL, "learn the weights on a validation split (false: equal weights, one fit)"},
    {"valid_frac", RECO_P_FLOAT, 0.2, 0.05, 0.5, NULL, "share of each user's training interactions held out"},
    {"valid_users", RECO_P_INT, 2000, 0, 1e9, NULL, "validation users (seeded sample; 0 = all)"},
    {"pool", RECO_P_INT, 50, 10, 1000, NULL, "validation candidates per member and user (top of each member)"},
};

enum { METHOD_WEIGHTED = 0, METHOD_RRF = 1 };
enum { NORM_ZSCORE = 0, NORM_MINMAX = 1 };
#define HY_INFO_HEAD 3      /* hybrid_info: n, valid_ndcg, best single member's valid_ndcg */
#define HY_INFO_PER 3       /* then per member: family, weight, typical spread */
#define HY_SPREAD_USERS 256 /* users sampled for a member's typical spread */
#define HY_NO_SIGNAL 1e-3   /* a user's spread below this share of the typical one: no signal */
#define HY_K 10             /* the validation metric's cut-off (NDCG@10) */
#define HY_SLOTS 16         /* scratch slots kept per model (concurrent scorers without allocation) */
#define HY_POOL 200         /* the pipeline's candidates per member (RECO_REC_POOL_DEFAULT) */

typedef struct scratch {
  float *raw;    /* n_items: a member's scores, then its t values */
  uint8_t *hist; /* n_items: 1 for the view's history items */
  reco_topk heap;
} scratch;

typedef struct hybrid_state {
  int n;                      /* members kept */
  int fam[HY_FAMILIES];       /* family of each member */
  reco_model *mem[HY_FAMILIES];
  double w[HY_FAMILIES];      /* blend weights, >= 0, sum 1 */
  double spread[HY_FAMILIES]; /* typical per-user spread of each member's scores */
  double valid_ndcg, single_ndcg; /* NAN when not validated */
  double pool_ratio[HY_FAMILIES]; /* typical sd over all unseen / sd over the top HY_POOL */
  scratch slot[HY_SLOTS];     /* score/explain scratch, claimed through busy[] */
  int busy[HY_SLOTS];
} hybrid_state;

static void scratch_free(scratch *x);

static void state_clear(hybrid_state *s) {
  for (int k = 0; k < s->n; k++) reco__model_free(s->mem[k]);
  s->n = 0;
}

static void hybrid_free(reco_model *m) {
  hybrid_state *s = m->state;
  if (!s) return;
  state_clear(s);
  for (int k = 0; k < HY_SLOTS; k++) scratch_free(&s->slot[k]);
  reco__free(s);
  m->state = NULL;
}

/* A member model with its family's defaults (reco__model_new_algo: no table lookup). */
static int member_new(const reco_model *hy, int fam, reco_model **out) {
  reco_model *m;
  int rc = reco__model_new_algo(k_family[fam].algo, &m);
  *out = NULL;
  if (rc) return rc;
  m->seed = hy->seed;
  m->threads = hy->threads;
  *out = m;
  return 0;
}

/* ---- per-member values t_m for a view ---- */

static void scratch_free(scratch *x) {
  reco__free_aligned(x->raw);
  reco__free(x->hist);
  reco__topk_free(&x->heap);
  memset(x, 0, sizeof *x);
}

static int scratch_init(scratch *x, int32_t n_items, int depth) {
  memset(x, 0, sizeof *x);
  size_t n = (size_t)(n_items > 0 ? n_items : 1);
  x->raw = reco__aligned_alloc(n * sizeof *x->raw);
  x->hist = reco__calloc(n, 1);
  if (!x->raw || !x->hist || (depth > 0 && reco__topk_init(&x->heap, depth))) {
    scratch_free(x);
    return reco__seterr(RECO_ENOMEM, "hybrid: out of memory for scoring scratch");
  }
  return 0;
}

static void hist_mark(uint8_t *hist, int32_t n_items, const reco_user_view *v, uint8_t val) {
  for (size_t q = 0; q < v->n; q++)
    if (v->items[q] >= 0 && v->items[q] < n_items) hist[v->items[q]] = val;
}

/* Mean and standard deviation of x over the unseen items with finite scores. */
static void spread_of(const float *x, const uint8_t *hist, int32_t n, double *mean, double *sd) {
  double s = 0, ss = 0;
  size_t c = 0;
  for (int32_t i = 0; i < n; i++)
    if (!hist[i] && isfinite(x[i])) s += x[i], c++;
  *mean = c ? s / (double)c : 0;
  for (int32_t i = 0; i < n; i++)
    if (!hist[i] && isfinite(x[i])) {
      double d = x[i] - *mean;
      ss += d * d;
    }
  *sd = c > 1 ? sqrt(ss / (double)c) : 0;
}

/*
 * Member k's t values for the view into x->raw (x->hist marks the history). A member that
 * cannot score the user (no signal, or any error but out-of-memory) leaves zeros. Returns 0 or
 * RECO_ENOMEM.
 */
static int member_values(const reco_model *m, const hybrid_state *s, int k, const reco_user_view *v, scratch *x) {
  const reco_model *mm = s->mem[k];
  const int32_t n = m->n_items, nm = mm->n_items < n ? mm->n_items : n;
  float *t = x->raw;
  int rc = mm->algo->score(mm, v, t);
  if (rc == RECO_ENOMEM) return rc;
  for (int32_t i = nm; i < n; i++) t[i] = 0; /* items newer than the member */
  double mean = 0, sd = 0;
  if (!rc) spread_of(t, x->hist, n, &mean, &sd);
  if (rc || !(sd > HY_NO_SIGNAL * s->spread[k])) {
    memset(t, 0, (size_t)n * sizeof *t);
    return 0;
  }
  if ((int)reco__model_param(m, "method") == METHOD_RRF) {
    const double kk = reco__model_param(m, "rrf_k");
    reco__topk_reset(&x->heap);
    for (int32_t i = 0; i < n; i++)
      if (!x->hist[i] && isfinite(t[i])) reco__topk_push(&x->heap, t[i], i);
    int c = reco__topk_sort(&x->heap);
    memset(t, 0, (size_t)n * sizeof *t);
    for (int r = 0; r < c; r++) t[x->heap.id[r]] = (float)(1.0 / (kk + r + 1));
    return 0;
  }
  if ((int)reco__model_param(m, "normalize") == NORM_MINMAX) {
    reco__topk_reset(&x->heap);
    for (int32_t i = 0; i < n; i++)
      if (!x->hist[i] && isfinite(t[i])) reco__topk_push(&x->heap, t[i], i);
    int c = reco__topk_sort(&x->heap);
    double hi = c ? x->heap.score[0] : 0, lo = c ? x->heap.score[c - 1] : 0;
    double inv = hi > lo ? 1.0 / (hi - lo) : 0;
    for (int32_t i = 0; i < n; i++)
      t[i] = x->hist[i] || !isfinite(t[i]) || t[i] < lo ? 0.0f : (float)((t[i] - lo) * inv);
    return 0;
  }
  const double inv = 1.0 / sd;
  for (int32_t i = 0; i < n; i++) t[i] = x->hist[i] || !isfinite(t[i]) ? 0.0f : (float)((t[i] - mean) * inv);
  return 0;
}

static int rrf_depth(const reco_model *m) {
  double d;
  if ((int)reco__model_param(m, "method") == METHOD_RRF) d = reco__model_param(m, "rrf_depth");
  else if ((int)reco__model_param(m, "normalize") == NORM_MINMAX) d = reco__model_param(m, "norm_top");
  else return 0;
  return (int)(d < m->n_items ? d : (m->n_items > 0 ? m->n_items : 1));
}

/* The blend for a view into out (n_items floats). x->hist must be clear on entry and is on exit. */
static int blend(const reco_model *m, const hybrid_state *s, const reco_user_view *v, scratch *x, float *out) {
  const int32_t n = m->n_items;
  memset(out, 0, (size_t)n * sizeof *out);
  hist_mark(x->hist, n, v, 1);
  int rc = 0;
  for (int k = 0; k < s->n && !rc; k++) {
    if (!(s->w[k] > 0)) continue;
    if ((rc = member_values(m, s, k, v, x))) break;
    const float w = (float)s->w[k];
    for (int32_t i = 0; i < n; i++) out[i] += w * x->raw[i];
  }
  hist_mark(x->hist, n, v, 0);
  return rc;
}

/*
 * A scratch for one call: a free slot of the model (allocated on its first use), else (all
 * HY_SLOTS busy) a fresh one in *own. Returns the scratch or NULL (out of memory).
 */
static scratch *scratch_get(const reco_model *m, scratch *own, int *slot) {
  hybrid_state *s = m->state; /* the slots are the one mutable part of a fitted model */
  for (int k = 0; k < HY_SLOTS; k++) {
    int expect = 0;
    if (!__atomic_compare_exchange_n(&s->busy[k], &expect, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) continue;
    if (!s->slot[k].raw && scratch_init(&s->slot[k], m->n_items, rrf_depth(m))) {
      __atomic_store_n(&s->busy[k], 0, __ATOMIC_RELEASE);
      return NULL;
    }
    *slot = k;
    return &s->slot[k];
  }
  *slot = -1;
  return scratch_init(own, m->n_items, rrf_depth(m)) ? NULL : own;
}

static void scratch_put(const reco_model *m, scratch *x, int slot) {
  hybrid_state *s = m->state;
  if (slot >= 0) __atomic_store_n(&s->busy[slot], 0, __ATOMIC_RELEASE);
  else scratch_free(x);
}

static int hybrid_score(const reco_model *m, const reco_user_view *v, float *out) {
  const hybrid_state *s = m->state;
  if (!s) return reco__seterr(RECO_ESTATE, "hybrid: model not fitted");
  scratch own, *x;
  int slot;
  if (!(x = scratch_get(m, &own, &slot))) return reco__seterr(RECO_ENOMEM, "hybrid: out of memory for scoring scratch");
  int rc = blend(m, s, v, x, out);
  scratch_put(m, x, slot);
  return rc;
}

int reco__hybrid_members(const reco_model *h, const reco_model **members, float *weights, int max) {
  if (!h || strcmp(h->algo->name, "hybrid")) return reco__seterr(RECO_EINVAL, "not a hybrid model");
  const hybrid_state *s = h->state;
  if (!s) return reco__seterr(RECO_ESTATE, "hybrid: model not fitted");
  int n = 0;
  for (int k = 0; k < s->n && n < max; k++) {
    if (!(s->w[k] > 0)) continue;
    members[n] = s->mem[k];
    /* weights learned on z over all unseen items; the pipeline's z is over its top pool */
    double r = s->pool_ratio[k] > 0 ? s->pool_ratio[k] : 1;
    weights[n++] = (float)(s->w[k] / r);
  }
  return n;
}

/* Delegates to the member whose weighted value for `item` is the largest (and can explain). */
static int hybrid_explain(const reco_model *m, const reco_user_view *v, int32_t item, int k, int32_t *out_items,
                          float *out_weights) {
  const hybrid_state *s = m->state;
  if (!s) return reco__seterr(RECO_ESTATE, "hybrid: model not fitted");
  if (item < 0 || item >= m->n_items) return reco__seterr(RECO_ENOTFOUND, "item %d is unknown to the model", item);
  scratch own, *x;
  int slot, rc = 0;
  if (!(x = scratch_get(m, &own, &slot))) return reco__seterr(RECO_ENOMEM, "hybrid: out of memory for scoring scratch");
  hist_mark(x->hist, m->n_items, v, 1);
  int best = -1;
  double best_c = -INFINITY;
  for (int j = 0; j < s->n && !rc; j++) {
    if (!(s->w[j] > 0) || !s->mem[j]->algo->explain) continue;
    if ((rc = member_values(m, s, j, v, x))) break;
    double c = s->w[j] * x->raw[item];
    if (c > best_c) best_c = c, best = j;
  }
  hist_mark(x->hist, m->n_items, v, 0);
  scratch_put(m, x, slot);
  if (rc) return rc;
  if (best < 0) return 0;
  return s->mem[best]->algo->explain(s->mem[best], v, item, k, out_items, out_weights);
}

/* Delegates to the heaviest member that answers similar-items. */
static int hybrid_similar(const reco_model *m, int32_t item, int k, int32_t *out_items, float *out_scores) {
  const hybrid_state *s = m->state;
  if (!s) return reco__seterr(RECO_ESTATE, "hybrid: model not fitted");
  int best = -1;
  for (int j = 0; j < s->n; j++)
    if (s->mem[j]->algo->similar && (best < 0 || s->w[j] > s->w[best])) best = j;
  if (best < 0) return reco__seterr(RECO_EUNSUPPORTED, "hybrid: no member answers similar items");
  return s->mem[best]->algo->similar(s->mem[best], item, k, out_items, out_scores);
}

/* ---- fit ---- */

/* Insertion sort (at most HY_SPREAD_USERS values). */
static void sort_small(double *a, int n) {
  for (int x = 1; x < n; x++)
    for (int y = x; y > 0 && a[y - 1] > a[y]; y--) {
      double t = a[y];
      a[y] = a[y - 1];
      a[y - 1] = t;
    }
}

/* Median over up to HY_SPREAD_USERS users of d (evenly spaced, with history) of member k's
 * spread, and of the ratio of that spread to the spread over the user's top HY_POOL unseen
 * items (the pipeline's normalisation, for reco__hybrid_members). */
static int typical_spread(const reco_model *m, hybrid_state *s, int k, const reco_dataset *d) {
  const reco_model *mm = s->mem[k];
  scratch x;
  int rc = scratch_init(&x, m->n_items, RECO_MIN(HY_POOL, m->n_items > 0 ? m->n_items : 1));
  if (rc) return rc;
  double sds[HY_SPREAD_USERS], ratios[HY_SPREAD_USERS];
  int c = 0, cr = 0;
  int32_t step = d->n_users / HY_SPREAD_USERS + 1;
  for (int32_t u = 0; u < d->n_users && c < HY_SPREAD_USERS; u += step) {
    reco_user_view v = reco__view_of(d, u);
    if (!v.n) continue;
    hist_mark(x.hist, m->n_items, &v, 1);
    rc = mm->algo->score(mm, &v, x.raw);
    if (rc == RECO_ENOMEM) break;
    double mean, sd;
    if (!rc) {
      int32_t nn = mm->n_items < m->n_items ? mm->n_items : m->n_items;
      spread_of(x.raw, x.hist, nn, &mean, &sd);
      sds[c++] = sd;
      reco__topk_reset(&x.heap);
      for (int32_t i = 0; i < nn; i++)
        if (!x.hist[i] && isfinite(x.raw[i])) reco__topk_push(&x.heap, x.raw[i], i);
      int nt = reco__topk_sort(&x.heap);
      double ps = 0, pq = 0;
      for (int q = 0; q < nt; q++) ps += x.heap.score[q];
      double pm = nt ? ps / nt : 0;
      for (int q = 0; q < nt; q++) pq += (x.heap.score[q] - pm) * (x.heap.score[q] - pm);
      double psd = nt > 1 ? sqrt(pq / (nt - 1)) : 0; /* as rank.c: sample sd of the pool */
      if (psd > 0 && sd > 0) ratios[cr++] = sd / psd;
    }
    rc = 0;
    hist_mark(x.hist, m->n_items, &v, 0);
  }
  scratch_free(&x);
  if (rc) return rc;
  sort_small(sds, c);
  sort_small(ratios, cr);
  s->spread[k] = c ? sds[c / 2] : 0;
  s->pool_ratio[k] = cr ? ratios[cr / 2] : 1;
  return 0;
}

/* Fits the members listed in s->fam[0..n) on d (freeing any earlier ones), with their spreads. */
static int fit_members(reco_model *m, hybrid_state *s, const reco_dataset *d, const reco_progress *pr) {
  for (int k = 0; k < s->n; k++) {
    reco__model_free(s->mem[k]);
    s->mem[k] = NULL;
  }
  for (int k = 0; k < s->n; k++) {
    int rc = member_new(m, s->fam[k], &s->mem[k]);
    if (!rc) rc = reco__model_fit(s->mem[k], d, pr);
    if (rc) return rc;
    /* the hybrid keeps the id maps; a member's copy would only grow its nested file */
    reco__idmap_unref(s->mem[k]->user_ids);
    reco__idmap_unref(s->mem[k]->item_ids);
    s->mem[k]->user_ids = s->mem[k]->item_ids = NULL;
    if ((rc = typical_spread(m, s, k, d))) return rc;
  }
  return 0;
}

/* The validation pool: per user, candidate items with each member's t value and relevance. */
typedef struct vpool {
  int32_t n_users, n_mem, stride; /* stride: candidate slots per user */
  int32_t *cnt;                   /* candidates per user */
  int32_t *item;                  /* n_users x stride */
  uint8_t *rel;                   /* n_users x stride */
  float *t;                       /* n_users x stride x n_mem */
  double *idcg;                   /* per user */
  double *per;                    /* per user NDCG (work) */
} vpool;

static void vpool_free(vpool *p) {
  reco__free(p->cnt);
  reco__free(p->item);
  reco__free(p->rel);
  reco__free(p->t);
  reco__free(p->idcg);
  reco__free(p->per);
  memset(p, 0, sizeof *p);
}

static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

/*
 * Builds the pool from members fitted on `sub` (= train restricted to part == TRAIN): users of
 * train with both kept and held-out interactions, a seeded sample of max_users of them.
 */
static int vpool_build(const reco_model *m, const hybrid_state *s, const reco_dataset *train, const uint8_t *part,
                       const reco_dataset *sub, int64_t max_users, int per_mem, vpool *p) {
  memset(p, 0, sizeof *p);
  int32_t *users = reco__malloc((size_t)(train->n_users ? train->n_users : 1) * sizeof *users);
  if (!users) return reco__seterr(RECO_ENOMEM, "hybrid: out of memory for validation");
  int32_t nu = 0;
  for (int32_t u = 0; u < train->n_users; u++) {
    bool held = false, kept = false;
    for (int64_t q = train->uptr[u]; q < train->uptr[u + 1]; q++) {
      if (part[train->urow[q]] == RECO_PART_TRAIN) kept = true;
      else held = true;
    }
    if (held && kept) users[nu++] = u;
  }
  if (max_users > 0 && nu > max_users) {
    reco_rng r;
    reco__rng_seed(&r, m->seed ^ 0x6879627269644aULL);
    reco__rng_shuffle_i32(&r, users, (size_t)nu);
    nu = (int32_t)max_users;
    qsort(users, (size_t)nu, sizeof *users, cmp_i32);
  }
  const int32_t n = m->n_items;
  int32_t stride = per_mem * s->n;
  if (stride > n) stride = n;
  p->n_users = nu;
  p->n_mem = s->n;
  p->stride = stride;
  size_t slots = (size_t)(nu ? nu : 1) * (size_t)(stride ? stride : 1);
  p->cnt = reco__calloc((size_t)(nu ? nu : 1), sizeof *p->cnt);
  p->item = reco__malloc(slots * sizeof *p->item);
  p->rel = reco__calloc(slots, 1);
  p->t = reco__calloc(slots * (size_t)s->n, sizeof *p->t);
  p->idcg = reco__calloc((size_t)(nu ? nu : 1), sizeof *p->idcg);
  p->per = reco__calloc((size_t)(nu ? nu : 1), sizeof *p->per);
  if (!p->cnt || !p->item || !p->rel || !p->t || !p->idcg || !p->per) {
    reco__free(users);
    vpool_free(p);
    return reco__seterr(RECO_ENOMEM, "hybrid: out of memory for validation");
  }
  int rc = 0;
#pragma omp parallel
  {
    scratch x;
    float *all = reco__aligned_alloc((size_t)(n ? n : 1) * (size_t)s->n * sizeof *all);
    int32_t *cand = reco__malloc((size_t)(stride ? stride : 1) * (size_t)s->n * sizeof *cand);
    reco_topk top = {0};
    int lrc = scratch_init(&x, n, rrf_depth(m));
    if (!lrc && (!all || !cand || reco__topk_init(&top, per_mem))) lrc = RECO_ENOMEM;
#pragma omp for schedule(dynamic, 8)
    for (int32_t xu = 0; xu < nu; xu++) {
      if (lrc) continue;
      int32_t u = users[xu];
      reco_user_view v = reco__view_of(sub, u);
      hist_mark(x.hist, n, &v, 1);
      int nc = 0;
      for (int k = 0; k < s->n && !lrc; k++) {
        if ((lrc = member_values(m, s, k, &v, &x))) break;
        memcpy(all + (size_t)k * (size_t)n, x.raw, (size_t)n * sizeof *all);
        reco__topk_reset(&top);
        for (int32_t i = 0; i < n; i++)
          if (!x.hist[i]) reco__topk_push(&top, x.raw[i], i);
        int c = reco__topk_sort(&top);
        for (int q = 0; q < c; q++) cand[nc++] = top.id[q];
      }
      hist_mark(x.hist, n, &v, 0);
      if (lrc) continue;
      /* the union, ascending; then as many as fit (stride = min(n, per_mem x members)) */
      qsort(cand, (size_t)nc, sizeof *cand, cmp_i32);
      int32_t nd = 0;
      for (int q = 0; q < nc; q++)
        if (!nd || cand[q] != cand[nd - 1]) cand[nd++] = cand[q];
      if (nd > stride) nd = stride;
      size_t base = (size_t)xu * (size_t)stride;
      p->cnt[xu] = nd;
      /* held-out items of u: train row entries outside the kept part */
      int n_held = 0;
      for (int64_t q = train->uptr[u]; q < train->uptr[u + 1]; q++)
        if (part[train->urow[q]] != RECO_PART_TRAIN) n_held++;
      int64_t q = train->uptr[u]; /* rows are sorted by item, like cand: relevance is a merge */
      for (int32_t c = 0; c < nd; c++) {
        int32_t i = cand[c];
        p->item[base + (size_t)c] = i;
        while (q < train->uptr[u + 1] && train->uitem[q] < i) q++;
        if (q < train->uptr[u + 1] && train->uitem[q] == i && part[train->urow[q]] != RECO_PART_TRAIN)
          p->rel[base + (size_t)c] = 1;
        for (int k = 0; k < s->n; k++)
          p->t[(base + (size_t)c) * (size_t)s->n + (size_t)k] = all[(size_t)k * (size_t)n + (size_t)i];
      }
      double idcg = 0;
      for (int r = 0; r < HY_K && r < n_held; r++) idcg += 1.0 / log2(r + 2.0);
      p->idcg[xu] = idcg;
    }
    if (lrc) {
#pragma omp atomic write
      rc = lrc;
    }
    scratch_free(&x);
    reco__free_aligned(all);
    reco__free(cand);
    reco__topk_free(&top);
  }
  reco__free(users);
  if (rc) {
    vpool_free(p);
    return rc == RECO_ENOMEM ? reco__seterr(rc, "hybrid: out of memory for validation") : rc;
  }
  return 0;
}

/* NDCG@10 of the blend w over the pool (per-user values summed in user order: deterministic). */
static double vpool_ndcg(vpool *p, const double *w) {
  const int nm = p->n_mem;
  float wf[HY_FAMILIES];
  for (int k = 0; k < nm; k++) wf[k] = (float)w[k];
#pragma omp parallel for schedule(static)
  for (int32_t xu = 0; xu < p->n_users; xu++) {
    size_t base = (size_t)xu * (size_t)p->stride;
    float bs[HY_K];
    int32_t bi[HY_K], bc[HY_K];
    int nb = 0;
    for (int32_t c = 0; c < p->cnt[xu]; c++) {
      const float *t = p->t + (base + (size_t)c) * (size_t)nm;
      float sc = 0;
      for (int k = 0; k < nm; k++) sc += wf[k] * t[k];
      int32_t it = p->item[base + (size_t)c];
      /* insertion into the best-first top 10; ties to the lower item index, as reco_topk */
      if (nb == HY_K && !reco__topk_better(sc, it, bs[nb - 1], bi[nb - 1])) continue;
      int pos = nb < HY_K ? nb : HY_K - 1;
      while (pos > 0 && reco__topk_better(sc, it, bs[pos - 1], bi[pos - 1])) {
        bs[pos] = bs[pos - 1], bi[pos] = bi[pos - 1], bc[pos] = bc[pos - 1];
        pos--;
      }
      bs[pos] = sc, bi[pos] = it, bc[pos] = c;
      if (nb < HY_K) nb++;
    }
    double dcg = 0;
    for (int r = 0; r < nb; r++)
      if (p->rel[base + (size_t)bc[r]]) dcg += 1.0 / log2(r + 2.0);
    p->per[xu] = p->idcg[xu] > 0 ? dcg / p->idcg[xu] : 0;
  }
  double sum = 0;
  for (int32_t xu = 0; xu < p->n_users; xu++) sum += p->per[xu];
  return p->n_users ? sum / p->n_users : 0;
}

/* Grid over the simplex {w >= 0, sum w = 1} with step 1/g, in lexicographic order. */
static void grid_search(vpool *p, int nm, int g, int k, int left, double *w, double *best_w, double *best) {
  if (k == nm - 1) {
    w[k] = (double)left / g;
    double v = vpool_ndcg(p, w);
    if (v > *best + 1e-12) {
      *best = v;
      memcpy(best_w, w, (size_t)nm * sizeof *w);
    }
    return;
  }
  for (int a = left; a >= 0; a--) {
    w[k] = (double)a / g;
    grid_search(p, nm, g, k + 1, left - a, w, best_w, best);
  }
}

static int learn_weights(vpool *p, int nm, double *w, double *best_out, double *single_out, const reco_progress *pr) {
  if (p->n_users == 0) { /* no user has both kept and held-out interactions: nothing to learn from */
    for (int k = 0; k < nm; k++) w[k] = 1.0 / nm;
    *best_out = *single_out = NAN;
    return 0;
  }
  double single = -1;
  for (int k = 0; k < nm; k++) {
    double e[HY_FAMILIES] = {0};
    e[k] = 1;
    double v = vpool_ndcg(p, e);
    if (v > single) single = v;
  }
  *single_out = single;
  int g = nm <= 4 ? 10 : nm == 5 ? 6 : 5;
  double cur[HY_FAMILIES], best = -1;
  grid_search(p, nm, g, 0, g, cur, w, &best);
  int rc = reco__progress(pr, "hybrid: weights", 1, 2, NULL);
  if (rc) return rc;
  /* pairwise moves of mass, step halving: coordinate ascent on the simplex */
  for (double d = 0.5 / g; d > 0.1 / g; d *= 0.5) {
    for (int pass = 0; pass < 50; pass++) {
      bool moved = false;
      for (int a = 0; a < nm; a++)
        for (int b = 0; b < nm; b++) {
          if (a == b || w[a] < d - 1e-12) continue;
          memcpy(cur, w, (size_t)nm * sizeof *w);
          cur[a] -= d;
          if (cur[a] < 0) cur[a] = 0;
          cur[b] += d;
          double v = vpool_ndcg(p, cur);
          if (v > best + 1e-12) {
            best = v;
            memcpy(w, cur, (size_t)nm * sizeof *w);
            moved = true;
          }
        }
      if (!moved) break;
    }
  }
  double sum = 0;
  for (int k = 0; k < nm; k++) sum += w[k];
  for (int k = 0; k < nm; k++) w[k] = sum > 0 && best > 0 ? w[k] / sum : 1.0 / nm; /* no hit at all: equal */
  *best_out = best;
  return reco__progress(pr, "hybrid: weights", 2, 2, NULL);
}

static int hybrid_fit(reco_model *m, const reco_dataset *train, const reco_progress *pr) {
  hybrid_state *s = reco__calloc(1, sizeof *s);
  if (!s) return reco__seterr(RECO_ENOMEM, "hybrid: out of memory");
  m->state = s;
  s->valid_ndcg = s->single_ndcg = NAN;
  for (int f = 0; f < HY_FAMILIES; f++)
    if (m->params[f] != 0) s->fam[s->n++] = f;
  if (!s->n) return reco__seterr(RECO_EINVAL, "hybrid: no member enabled (set at least one use_* to true)");
  for (int k = 0; k < s->n; k++) s->w[k] = 1.0 / s->n;
  int rc = 0;
  double t0 = reco__now(), t_valid = 0;
  if (s->n > 1 && reco__model_param(m, "learn") != 0) {
    uint8_t *part = reco__malloc(train->n ? train->n : 1);
    uint8_t *keep = reco__malloc(train->n ? train->n : 1);
    reco_dataset *sub = NULL;
    vpool p = {0};
    if (!part || !keep) rc = reco__seterr(RECO_ENOMEM, "hybrid: out of memory for the validation split");
    if (!rc) rc = reco__split_user_ratio(train, reco__model_param(m, "valid_frac"), m->seed, part);
    for (size_t q = 0; !rc && q < train->n; q++) keep[q] = part[q] == RECO_PART_TRAIN;
    if (!rc) rc = reco__ds_subset(train, keep, &sub);
    if (!rc) {
      sub->has_values = train->has_values;
      rc = fit_members(m, s, sub, pr);
    }
    if (!rc)
      rc = vpool_build(m, s, train, part, sub, (int64_t)reco__model_param(m, "valid_users"),
                       (int)reco__model_param(m, "pool"), &p);
    if (!rc) rc = learn_weights(&p, s->n, s->w, &s->valid_ndcg, &s->single_ndcg, pr);
    vpool_free(&p);
    reco_dataset_free(sub);
    reco__free(part);
    reco__free(keep);
    if (rc) return rc;
    /* drop the members the blend does not use */
    int kept = 0;
    for (int k = 0; k < s->n; k++) {
      reco__model_free(s->mem[k]);
      s->mem[k] = NULL;
      if (s->w[k] > 0) {
        s->fam[kept] = s->fam[k];
        s->w[kept++] = s->w[k];
      }
    }
    s->n = kept;
    t_valid = reco__now() - t0;
  }
  if ((rc = fit_members(m, s, train, pr))) return rc;
  char ws[160] = "";
  size_t o = 0;
  for (int k = 0; k < s->n && o < sizeof ws; k++)
    o += (size_t)snprintf(ws + o, sizeof ws - o, "%s\"%s\": %.4f", k ? ", " : "", k_family[s->fam[k]].name, s->w[k]);
  if (isnan(s->valid_ndcg))
    snprintf(m->fit_info, sizeof m->fit_info, "{\"weights\": {%s}}", ws);
  else
    snprintf(m->fit_info, sizeof m->fit_info,
             "{\"weights\": {%s}, \"valid_ndcg@10\": %.5f, \"best_member_valid_ndcg@10\": %.5f}", ws, s->valid_ndcg,
             s->single_ndcg);
  reco__log(RECO_LOG_INFO, "hybrid: weights %s; validation ndcg@10 %.5f (best member %.5f) in %.2f s, total %.2f s", ws,
            s->valid_ndcg, s->single_ndcg, t_valid, reco__now() - t0);
  return 0;
}

/* ---- save / load ---- */

/* Each member is a whole model file nested in one byte section of the hybrid's file. */
static int member_to_bytes(const reco_model *mm, reco_mf_writer *w, const char *section) {
  void *buf;
  size_t len;
  int rc = reco__model_save_mem(mm, &buf, &len);
  if (rc) return rc;
  rc = reco__mf_section(w, section, RECO_DT_BYTES, buf, len);
  reco__free(buf);
  return rc;
}

static int member_from_bytes(const reco_model *hy, int fam, const void *buf, size_t len, reco_model **out) {
  reco_model *mm;
  int rc = reco__model_load_mem(k_family[fam].algo, buf, len, "hybrid member", &mm);
  *out = NULL;
  if (rc) return rc;
  if (mm->n_users != hy->n_users || mm->n_items != hy->n_items) {
    rc = reco__seterr(RECO_EFORMAT, "hybrid: member %s knows %d users and %d items, the hybrid %d and %d",
                      k_family[fam].name, mm->n_users, mm->n_items, hy->n_users, hy->n_items);
    reco__model_free(mm);
    return rc;
  }
  *out = mm;
  return 0;
}

static int hybrid_save(const reco_model *m, reco_mf_writer *w) {
  const hybrid_state *s = m->state;
  if (!s) return reco__seterr(RECO_ESTATE, "hybrid: model not fitted");
  double info[HY_INFO_HEAD + HY_INFO_PER * HY_FAMILIES];
  info[0] = s->n;
  info[1] = s->valid_ndcg;
  info[2] = s->single_ndcg;
  for (int k = 0; k < s->n; k++) {
    info[HY_INFO_HEAD + HY_INFO_PER * k] = s->fam[k];
    info[HY_INFO_HEAD + HY_INFO_PER * k + 1] = s->w[k];
    info[HY_INFO_HEAD + HY_INFO_PER * k + 2] = s->spread[k];
  }
  int rc = reco__mf_section(w, "hybrid_info", RECO_DT_F64, info, (uint64_t)(HY_INFO_HEAD + HY_INFO_PER * s->n));
  if (!rc) rc = reco__mf_section(w, "hybrid_pool_ratio", RECO_DT_F64, s->pool_ratio, (uint64_t)s->n);
  for (int k = 0; k < s->n && !rc; k++) {
    char name[RECO_MF_NAME_MAX];
    snprintf(name, sizeof name, "member_%s", k_family[s->fam[k]].name);
    rc = member_to_bytes(s->mem[k], w, name);
  }
  return rc;
}

static int hybrid_load(reco_model *m, const reco_mf_reader *r) {
  const void *pv;
  uint64_t cnt;
  int rc = reco__mf_get(r, "hybrid_info", RECO_DT_F64, &pv, &cnt);
  if (rc) return rc;
  double info[HY_INFO_HEAD + HY_INFO_PER * HY_FAMILIES];
  if (cnt < HY_INFO_HEAD || cnt > RECO_ARRAY_LEN(info))
    return reco__seterr(RECO_EFORMAT, "hybrid: section hybrid_info has %llu values", (unsigned long long)cnt);
  memcpy(info, pv, cnt * sizeof(double));
  int n = (int)info[0];
  if (info[0] != n || n < 1 || n > HY_FAMILIES || cnt != (uint64_t)(HY_INFO_HEAD + HY_INFO_PER * n))
    return reco__seterr(RECO_EFORMAT, "hybrid: hybrid_info does not describe 1 to %d members", HY_FAMILIES);
  hybrid_state *s = reco__calloc(1, sizeof *s);
  if (!s) return reco__seterr(RECO_ENOMEM, "hybrid: out of memory");
  m->state = s;
  s->valid_ndcg = info[1];
  s->single_ndcg = info[2];
  for (int k = 0; k < n && !rc; k++) {
    const double *e = info + HY_INFO_HEAD + HY_INFO_PER * k;
    int fam = (int)e[0];
    if (e[0] != fam || fam < 0 || fam >= HY_FAMILIES || !(e[1] >= 0 && e[1] <= 1) || !(e[2] >= 0))
      return reco__seterr(RECO_EFORMAT, "hybrid: hybrid_info entry %d is out of range", k);
    char name[RECO_MF_NAME_MAX];
    snprintf(name, sizeof name, "member_%s", k_family[fam].name);
    const void *bytes;
    uint64_t len;
    if ((rc = reco__mf_get(r, name, RECO_DT_BYTES, &bytes, &len))) return rc;
    s->fam[k] = fam;
    s->w[k] = e[1];
    s->spread[k] = e[2];
    rc = member_from_bytes(m, fam, bytes, (size_t)len, &s->mem[k]);
    if (!rc) s->n = k + 1;
  }
  /* optional (files written before it have none: the ratio 1 keeps the weights as learned) */
  const void *pr;
  uint64_t npr;
  if (!rc && reco__mf_get(r, "hybrid_pool_ratio", RECO_DT_F64, &pr, &npr) == 0 && npr == (uint64_t)n) {
    memcpy(s->pool_ratio, pr, (size_t)n * sizeof(double));
    for (int k = 0; k < n; k++)
      if (!(s->pool_ratio[k] > 0 && s->pool_ratio[k] < 1e6))
        return reco__seterr(RECO_EFORMAT, "hybrid: hybrid_pool_ratio out of range");
  }
  return rc;
}

const reco_algo reco__algo_hybrid = {
    .name = "hybrid",
    .summary = "weighted or reciprocal-rank fusion of member models, weights learned on validation",
    .caps = RECO_CAP_RANKING | RECO_CAP_SIMILAR | RECO_CAP_FOLDIN,
    .params = k_params,
    .n_params = RECO_ARRAY_LEN(k_params),
    .fit = hybrid_fit,
    .score = hybrid_score,
    .similar = hybrid_similar,
    .explain = hybrid_explain,
    .save = hybrid_save,
    .load = hybrid_load,
    .free_state = hybrid_free,
};
