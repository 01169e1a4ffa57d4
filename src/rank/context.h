/*
 * context.h - the `context` model: what the request's context (device, location, time of day,
 * weekday) says about which item categories a user wants now, learned from the interactions
 * that carry context, plus the session term. context.c explains the estimator.
 *
 * The model is an algorithm like any other (`reco train --algo context`, a row in
 * algo_table.c, saved and loaded as a model file); its score() is plain popularity (the
 * context-free answer), the context-aware parts are the functions below, used by the
 * pipeline (rank.c stage 4: an additive term on the candidates' relevance; stage 1: the
 * `context_popular` cold-start strategy).
 */
#ifndef RECO_RANK_CONTEXT_H
#define RECO_RANK_CONTEXT_H

#include "../algo/algo.h"

/* A request's context as model codes. device/location: 1-based codes of the model's
 * dictionaries, 0 = unknown; daypart 0..3 and weekpart 0..1 (dataset.h), -1 = unknown. */
typedef struct reco_rec_context {
  int device, location, daypart, weekpart;
} reco_rec_context;

#define RECO_CTX_UNKNOWN ((reco_rec_context){0, 0, -1, -1})

extern const reco_algo reco__algo_context;

/* The request context from strings (NULL or "" = unknown; a value the model never saw is
 * unknown too) and a unix time (< 0 = unknown). m must be a `context` model. */
int reco__context_codes(const reco_model *m, const char *device, const char *location, int64_t ts,
                        reco_rec_context *out);
/* The context of interaction k (COO index) of ds, in m's codes. */
void reco__context_of_entry(const reco_model *m, const reco_dataset *ds, size_t k, reco_rec_context *out);
/* The model's `weight` parameter: the default weight of the term in the pipeline. */
float reco__context_weight(const reco_model *m);
/* Context term of item i: the mean over its categories of the summed per-feature log-lifts
 * (0 for an item without categories or an unknown context). */
float reco__context_term(const reco_model *m, const reco_rec_context *c, int32_t item);
/* Popularity among interactions in context c: count_i x exp(term_i), into out (n_items). */
int reco__context_popular(const reco_model *m, const reco_rec_context *c, float *out);
/*
 * Adds w_ctx x term(item) and w_sess x session affinity(item) to rel[0..n) for items[0..n).
 * Session affinity = share of the session items that share a category with the item (item
 * categories from the context model, else from meta). Allocation-free.
 */
void reco__context_rerank(const reco_model *ctx_model, const reco_rec_context *c, float w_ctx,
                          const reco_itemmeta *meta, const int32_t *session, size_t n_session, float w_sess,
                          const int32_t *items, float *rel, int n);

/*
 * Exploration slots for new items (those with fewer than max_count training interactions in
 * item_count): the explore model (typically `content`, which scores items nobody has had)
 * ranks them for the view, and the best n_slots that are not in the view's history and are
 * marked in `eligible` (NULL = all) come out as pins for the pipeline, at positions spread
 * over the page [0, k): (j + 1) k / (n_slots + 1). scratch holds n_items floats. Returns the
 * number of pins (<= n_slots) or < 0.
 */
int reco__rec_explore(const reco_model *explore_model, const reco_user_view *v, const float *item_count,
                      float max_count, const uint8_t *eligible, int n_slots, int k, float *scratch, int32_t *pin_items,
                      int32_t *pin_positions);

#endif
