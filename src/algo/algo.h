/*
 * algo.h - the algorithm interface. One vtable per family, listed in algo_table.c like a command
 * table; adding an algorithm is one file and one row.
 *
 * A model is immutable once fit (or load) returns, so any number of threads may score with it.
 * Every algorithm scores for a *user view*: the user's index when the model knows them, plus
 * their history (items, weights, timestamps). History-based models use the history directly;
 * factor models fold it in. So a brand-new user with three clicks gets personal results.
 */
#ifndef RECO_ALGO_H
#define RECO_ALGO_H

#include "../data/dataset.h"
#include "../model/modelfile.h"

enum {
  RECO_CAP_RATING = 1u << 0,     /* predicts ratings (predict) */
  RECO_CAP_RANKING = 1u << 1,    /* ranks items for a user view (score) */
  RECO_CAP_SIMILAR = 1u << 2,    /* item-to-item similarity (similar) */
  RECO_CAP_FOLDIN = 1u << 3,     /* scores users unseen at training time from their history */
  RECO_CAP_SEQUENTIAL = 1u << 4, /* uses the order of the history */
  RECO_CAP_CONTENT = 1u << 5     /* uses item metadata; works for items without interactions */
};

/* Parameter types: int, float, bool, enum (value = index into `choices`, "a|b|c"). */
typedef enum { RECO_P_INT, RECO_P_FLOAT, RECO_P_BOOL, RECO_P_ENUM } reco_ptype;

typedef struct reco_param_spec {
  const char *name;
  reco_ptype type;
  double def, min, max;
  const char *choices; /* RECO_P_ENUM only */
  const char *help;
} reco_param_spec;

#define RECO_MAX_PARAMS 32
#define RECO_MAX_CURVE 512

typedef struct reco_user_view {
  int32_t user;          /* index known to the model, or -1 */
  const int32_t *items;  /* history (may be NULL when n == 0) */
  const float *values;   /* per item: rating or weight (NULL = 1) */
  const int64_t *ts;     /* per item: timestamps (NULL = unknown) */
  size_t n;
} reco_user_view;

typedef struct reco_model reco_model;

typedef struct reco_algo {
  const char *name;
  const char *summary;
  unsigned caps;
  const reco_param_spec *params;
  int n_params;
  /* Trains on `train` (finalized). m->params, m->n_users/n_items are set before the call. */
  int (*fit)(reco_model *m, const reco_dataset *train, const reco_progress *progress);
  /* Rating prediction, unclipped (RECO_CAP_RATING). */
  float (*predict)(const reco_model *m, int32_t user, int32_t item);
  /* Ranking scores for every item (out has m->n_items floats); higher is better. */
  int (*score)(const reco_model *m, const reco_user_view *v, float *out);
  /* Items most similar to `item`: up to k, best first; returns the count or < 0. */
  int (*similar)(const reco_model *m, int32_t item, int k, int32_t *out_items, float *out_scores);
  /* Why `item` scores for the view: up to k contributors, best first, as history items
   * (out_items are item indices from v->items) or neighbour users (RECO_CAP_RATING userknn),
   * with their contributions. Returns the count or < 0. Optional. */
  int (*explain)(const reco_model *m, const reco_user_view *v, int32_t item, int k, int32_t *out_items,
                 float *out_weights);
  int (*save)(const reco_model *m, reco_mf_writer *w);
  int (*load)(reco_model *m, const reco_mf_reader *r);
  void (*free_state)(reco_model *m);
  /* Optional, the recommend pipeline's reasons in one pass: for each of items[0..n) the history
   * item that best explains it into because[x] (-1 when none) and its weight into weights[x]:
   * explain's first item where that is cheap (itemknn), the history item nearest in factor
   * space for factor models (als/ials: explain needs a solve per item). Returns 0 or < 0. */
  int (*explain_many)(const reco_model *m, const reco_user_view *v, const int32_t *items, int n, int32_t *because,
                      float *weights);
  /* Optional: score only items[0..n) into out[items[k]] (out has m->n_items floats; the other
   * entries may be left with any finite values). For when the filters leave few items. */
  int (*score_items)(const reco_model *m, const reco_user_view *v, const int32_t *items, size_t n, float *out);
} reco_algo;

struct reco_model {
  const reco_algo *algo;
  double params[RECO_MAX_PARAMS]; /* in the order of algo->params */
  int32_t n_users, n_items;       /* index space the model knows */
  float vmin, vmax;               /* rating scale seen in training (for clipping) */
  double global_mean;
  /* training metadata */
  uint64_t fingerprint;
  int64_t trained_at_ms;
  double fit_s;
  size_t n_train;
  uint64_t seed;
  int threads;
  char metrics[512];  /* validation metrics as JSON text, "" when none */
  char fit_info[256]; /* what fit chose by itself (e.g. a regulariser picked on validation), JSON or "" */
  reco_idmap *user_ids, *item_ids; /* external ids of the indices (refcounted), may be NULL */
  /* learning curve: training loss (and validation metric when the algorithm measures one) per
   * epoch, appended by iterative algorithms with reco__model_curve_add; not saved */
  int n_curve;
  float curve_loss[RECO_MAX_CURVE], curve_valid[RECO_MAX_CURVE];
  void *state;       /* the algorithm's own */
};

/* als/ials (als.c): the user's factor vector, trained or folded in from v's history, into out
 * (RECO_FACTORS_MAX + 1 floats); returns k, or RECO_EINVAL for another algorithm. */
int reco__als_user_vector(const reco_model *m, const reco_user_view *v, float *out);

/* hybrid (hybrid.c): its members with a weight > 0 (at most max) and their learned weights,
 * rescaled to the pipeline's normalisation (z over each member's top 200 unseen items, rank.h);
 * returns the count or < 0 (not a fitted hybrid). The members belong to the hybrid. */
int reco__hybrid_members(const reco_model *h, const reco_model **members, float *weights, int max);

/* ---- the table ---- */
const reco_algo *reco__algo_find(const char *name);
const reco_algo *const *reco__algo_list(size_t *n);

/* ---- model lifecycle (model.c) ---- */
/* New untrained model with default parameters. */
int reco__model_new(const char *algo, reco_model **out);
/* The same for an algorithm the caller already holds (no table lookup: the hybrid's members). */
int reco__model_new_algo(const reco_algo *a, reco_model **out);
/* Sets one parameter from text ("0.1", "true", or an enum name); errors name the parameter. */
int reco__model_set(reco_model *m, const char *key, const char *value);
/* Parameter value by name (asserting it exists). */
double reco__model_param(const reco_model *m, const char *key);
int reco__model_fit(reco_model *m, const reco_dataset *train, const reco_progress *progress);
void reco__model_free(reco_model *m);
int reco__model_save(const reco_model *m, const char *path);
int reco__model_load(const char *path, reco_model **out);
/* A whole model file as bytes (free with reco__free), and back; `a` = expected algorithm or NULL. */
int reco__model_save_mem(const reco_model *m, void **buf, size_t *len);
int reco__model_load_mem(const reco_algo *a, const void *buf, size_t len, const char *what, reco_model **out);
/* Appends one epoch to the learning curve (valid = NAN when not measured) and reports progress
 * ("epoch 3/20 loss 0.8123"); returns RECO_ECANCELED when the progress callback asks to stop. */
int reco__model_curve_add(reco_model *m, const reco_progress *p, int epoch, int epochs, double loss, double valid);
/* Parameters as a JSON object text into buf. */
int reco__model_params_json(const reco_model *m, char *buf, size_t len);
/* Rating prediction clipped to the training scale; global mean for unknown indices. */
float reco__model_predict(const reco_model *m, int32_t user, int32_t item);

/*
 * Top-k for a user view: scores every item, skips `exclude` (sorted ascending, may be NULL),
 * keeps the best k. scratch must hold m->n_items floats. Returns the count or < 0.
 */
int reco__model_recommend(const reco_model *m, const reco_user_view *v, const int32_t *exclude, size_t n_exclude,
                          int k, float *scratch, reco_topk *heap, int32_t *out_items, float *out_scores);

/* The user view of a training user: their CSR row in ds. */
static inline reco_user_view reco__view_of(const reco_dataset *ds, int32_t user) {
  reco_user_view v = {user, NULL, NULL, NULL, 0};
  if (user >= 0 && user < ds->n_users) {
    int64_t a = ds->uptr[user], b = ds->uptr[user + 1];
    v.items = ds->uitem + a;
    v.values = ds->uval + a;
    v.n = (size_t)(b - a);
  }
  return v;
}

#endif
