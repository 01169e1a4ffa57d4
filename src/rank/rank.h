/*
 * rank.h - the recommend pipeline: what turns one or more models into the list a user sees.
 *
 * One request runs these stages (rank.c explains each):
 *   1. cold start: a view with no user index and no history is answered by the request's cold
 *      model (`popular`, or `popular` with half_life_days for trending, or the context
 *      model's popularity in the request's context), when one is given; from the first
 *      interaction on the member models score the history (they fold it in), blended with the
 *      cold scorer while the history is shorter than min_interactions_for_cf;
 *   2. eligibility: filters (categories in/out, min rating, price range, excluded items, the
 *      view's history, an availability bitmap) give one byte per item;
 *   3. candidates: each member scores every item; its best `pool` eligible items join the union;
 *      each member's scores are z-scored over its own candidates (mean and spread of those
 *      `pool` scores; Fox and Shaw 1994 CombSUM with Montague and Aslam 2001 normalisation) and
 *      the weighted z-scores summed for every item of the union;
 *   4. objectives: relevance = min-max of the blend over the union, plus the context and
 *      session terms (context.c), times the item's boost factor; novelty = -log2(item popularity share) min-maxed over the union;
 *   5. re-ranking: greedy Maximal Marginal Relevance (Carbonell and Goldstein 1998) with the
 *      value w_rel * relevance + w_nov * novelty - w_div * max cosine to the items already
 *      chosen (cosine over caller-supplied item vectors: factors or category one-hots);
 *      w_div = 0 is plain relevance order; buried items follow every other item; pinned items
 *      take their absolute positions;
 *   6. the page [offset, offset + k) of that one deterministic list, each item with a score,
 *      a confidence and a reason.
 *
 * Memory: a reco_rec_ws holds every buffer a request needs, sized once per thread for the
 * catalogue, the pool and the member count; reco__recommend allocates nothing (as long as the
 * member models' score and explain allocate nothing: popular, itemknn, ials/als, ease do; the
 * hybrid's score and the content/bpr/userknn explain allocate small buffers of their own).
 */
#ifndef RECO_RANK_H
#define RECO_RANK_H

#include "../algo/algo.h"
#include "context.h"

#define RECO_REC_POOL_DEFAULT 200
#define RECO_REC_MAX_MEMBERS 8
#define RECO_REC_MAX_PINS 32

typedef enum {
  RECO_REASON_HISTORY = 0, /* because of a history item (`because`), per the member's explain */
  RECO_REASON_MODEL,       /* the member model `model` ranked it (no item-level explanation) */
  RECO_REASON_POPULAR,     /* popular overall (cold start, or a popularity member) */
  RECO_REASON_TRENDING,    /* trending (time-decayed popularity, cold start) */
  RECO_REASON_PINNED,      /* placed by a business rule */
  RECO_REASON__COUNT
} reco_reason;

/* Human-readable text of a reason code ("Because you interacted with a similar item", ...). */
const char *reco__rec_reason_text(int reason);

/* Which model answers an empty view (no user index, no history). */
typedef enum {
  RECO_COLD_POPULAR = 0, /* the cold model, reasons say "popular" */
  RECO_COLD_TRENDING,    /* the cold model (popular with a half-life), reasons say "trending" */
  RECO_COLD_MEMBERS,     /* the members anyway (they score an empty view however they can) */
  RECO_COLD_CONTEXT_POPULAR /* popularity in the request's context (context_model; else as POPULAR) */
} reco_cold_strategy;

typedef struct reco_rec_member {
  const reco_model *model; /* must rank (algo->score) and index the request's catalogue */
  float weight;            /* > 0 */
} reco_rec_member;

typedef struct reco_rec_filters {
  const int32_t *include_cats; /* category ids (meta->cats): keep items in any of them */
  size_t n_include_cats;
  const int32_t *exclude_cats; /* drop items in any of them */
  size_t n_exclude_cats;
  const float *rating;         /* per item, NAN = unknown (dropped when min_rating is set) */
  float min_rating;            /* NAN = no minimum */
  float price_min, price_max;  /* NAN = unbounded; an item of unknown price is dropped when set */
  const int32_t *exclude_items; /* any order */
  size_t n_exclude_items;
  bool exclude_seen;            /* drop the view's history */
  const uint8_t *available;     /* bitmap, bit (i & 7) of byte i >> 3 set = item i available */
} reco_rec_filters;

/*
 * A catalogue's category index, built once per catalogue (not per request): per-item category
 * bitmasks (exact when every category id is < 64) and the category -> items lists. With it a
 * category filter visits only the items of the requested categories, and MMR on categories
 * costs a popcount per pair instead of a dot product over one-hot vectors.
 */
typedef struct reco_rec_catindex {
  int32_t n_items, n_cats;
  uint64_t *mask;     /* per item: bit c set when the item is in category c (c < 64) */
  bool mask_exact;    /* every category id is < 64, so mask is the whole truth */
  int64_t *cptr;      /* category -> items, CSR (n_cats + 1) */
  int32_t *citem;
  float *crating;     /* with a rating array: each category's items by rating, best first, and
                       * their ratings here (NAN last), so a minimum rating stops the walk early */
  const float *rating; /* the ratings the lists were sorted by (the caller's), or NULL */
  float *inv_norm;    /* per item: 1 / sqrt(number of categories), 0 for none */
} reco_rec_catindex;

/* rating (per item, NAN = unknown) may be NULL; when given it must stay alive with the index and
 * be the array a request passes as filters.rating for the early stop to apply. */
int reco__rec_catindex_build(const reco_itemmeta *meta, int32_t n_items, const float *rating,
                             reco_rec_catindex **out);
void reco__rec_catindex_free(reco_rec_catindex *ci);

typedef struct reco_rec_request {
  reco_user_view view;
  int k;      /* page size (>= 1) */
  int offset; /* first position of the page (>= 0) */
  int pool;   /* candidates per member, 0 = RECO_REC_POOL_DEFAULT */
  const reco_rec_member *members;
  int n_members;
  const reco_model *cold_model; /* may be NULL: then the members answer cold views */
  reco_cold_strategy cold;
  const reco_itemmeta *meta;    /* categories and prices for the filters; may be NULL */
  const reco_rec_catindex *catidx; /* the same categories indexed (fast filters, MMR); may be NULL */
  reco_rec_filters filters;
  /* business rules */
  const int32_t *boost_items;   /* relevance x boost_factors[j] (or x boost when factors NULL) */
  const float *boost_factors;
  size_t n_boost;
  float boost;
  const int32_t *pin_items;     /* pin_items[j] at absolute position pin_positions[j] (0-based) */
  const int32_t *pin_positions;
  size_t n_pins;                /* <= RECO_REC_MAX_PINS; pinned items must pass the filters */
  const int32_t *bury_items;    /* after every other item */
  size_t n_bury;
  /* objectives (the seed's relevance / diversity / novelty) */
  float diversity_weight;       /* MMR lambda in [0, 1] */
  float novelty_weight;         /* >= 0 */
  float relevance_weight;       /* NAN or < 0: 1 - diversity_weight - novelty_weight (floor 0) */
  const float *item_vectors;    /* n_items x dim, row-major; NULL = no diversity term */
  int dim;
  bool diversity_by_category;   /* no item_vectors: MMR cosine of category sets (needs catidx) */
  const float *item_pop;        /* per item: users who interacted (for novelty); NULL = none */
  double pop_total;             /* all users */
  bool reasons;                 /* fill reason/because/model (costs one explain per item) */
  /* Non-zero: the caller vouches that the filters' inputs (catidx, rating, available, meta's
   * prices) do not change while this value stays the same, so the list of items passing the
   * static filters may be kept in the workspace and reused by later requests with the same
   * filters. 0: built for this request only. */
  uint64_t filter_gen;
  /* cold start by history length (MIN_INTERACTIONS_FOR_CF): a view with 1 <= n < this many
   * history items gets the cold scorer as one more member, of weight (sum of the member
   * weights) x (1 - n / min_interactions_for_cf); 0 = only an empty view is cold */
  int min_interactions_for_cf;
  /* context-aware re-ranking (context.h), added to relevance in stage 4 */
  const reco_model *context_model; /* a `context` model, or NULL */
  reco_rec_context context;        /* the request's context in the model's codes */
  float context_weight;            /* 0 = no context term (reco__context_weight: the model's default) */
  const int32_t *session_items;    /* the session's recent items, oldest first */
  size_t n_session;
  float session_weight;            /* 0 = no session term */
} reco_rec_request;

typedef struct reco_rec_item {
  int32_t item;
  float score;      /* the objective without the diversity term: w_rel rel + w_nov nov */
  float confidence; /* min-max of `score` over the whole candidate union, in [0, 1] */
  int reason;       /* reco_reason */
  int32_t because;  /* RECO_REASON_HISTORY: the history item; otherwise -1 */
  int model;        /* index of the member (or -1 for the cold model / a pin) */
} reco_rec_item;

typedef struct reco_rec_ws reco_rec_ws;

/* A workspace for requests over a catalogue of n_items with up to `pool` candidates per member
 * (0 = default) and up to max_members members. One per thread; reused for every request. */
int reco__rec_ws_new(int32_t n_items, int pool, int max_members, reco_rec_ws **out);
void reco__rec_ws_free(reco_rec_ws *ws);

/* Fills out[0..k) with the page; returns the count (may be < k at the list's end) or < 0. */
int reco__recommend(const reco_rec_request *req, reco_rec_ws *ws, reco_rec_item *out);

/* Category one-hot item vectors, each row L2-normalised (zero for an item with no category):
 * n_items x meta->cats size, allocated with reco__aligned_alloc into *out, the width in *dim. */
int reco__rec_category_vectors(const reco_itemmeta *meta, int32_t n_items, float **out, int *dim);

/* Per-item count of distinct users in ds (for novelty), allocated with reco__malloc. */
int reco__rec_item_popularity(const reco_dataset *ds, float **out);

/* Moves the `top` largest of the n distinct keys k[0..n) to k[0..top) (in no particular order;
 * the rest keep the others): the candidate selection of reco__recommend, exposed for its tests. */
void reco__rec_select_keys(uint64_t *k, int32_t n, int32_t top);

#endif
