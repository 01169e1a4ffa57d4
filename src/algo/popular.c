/*
 * popular.c - the non-personalised references: `random` (a seeded uniform score per user and
 * item) and `popular` (training interaction counts per item, optionally time-decayed with a
 * half-life so that trending items rise: score_i = sum_u 2^(-(t_max - t_ui) / half_life)).
 * Both rank every item; neither predicts ratings.
 */
#include "algo.h"

#include <math.h>
#include <string.h>

/* ---- random ---- */

static int random_fit(reco_model *m, const reco_dataset *train, const reco_progress *pr) {
  (void)train;
  (void)pr;
  (void)m;
  return 0;
}

static int random_score(const reco_model *m, const reco_user_view *v, float *out) {
  /* Deterministic per (seed, user): the same user sees the same list. History-only users are
   * keyed by their history's first item so the result is still stable. */
  uint64_t key = v->user >= 0 ? (uint64_t)v->user : (v->n ? 0x8000000000000000ull | (uint64_t)v->items[0] : ~0ull);
  reco_rng r;
  reco__rng_seed(&r, m->seed * 0x9e3779b97f4a7c15ull ^ key);
  for (int32_t i = 0; i < m->n_items; i++) out[i] = (float)reco__rng_uniform(&r);
  return 0;
}

static int random_save(const reco_model *m, reco_mf_writer *w) {
  (void)m;
  (void)w;
  return 0;
}

static int random_load(reco_model *m, const reco_mf_reader *r) {
  (void)m;
  (void)r;
  return 0;
}

const reco_algo reco__algo_random = {
    .name = "random",
    .summary = "uniformly random ranking (a floor for every metric)",
    .caps = RECO_CAP_RANKING | RECO_CAP_FOLDIN,
    .fit = random_fit,
    .score = random_score,
    .save = random_save,
    .load = random_load,
};

/* ---- popular ---- */

static const reco_param_spec k_popular_params[] = {
    {"half_life_days", RECO_P_FLOAT, 0, 0, 1e6, NULL, "time decay half-life in days; 0 = plain counts"},
    {"min_value", RECO_P_FLOAT, -1e30, -1e30, 1e30, NULL, "count only interactions with value >= this"},
};

typedef struct popular_state {
  float *score; /* per item */
} popular_state;

static void popular_free(reco_model *m) {
  popular_state *s = m->state;
  if (!s) return;
  reco__free_aligned(s->score);
  reco__free(s);
  m->state = NULL;
}

static int popular_alloc(reco_model *m) {
  popular_state *s = reco__calloc(1, sizeof *s);
  if (!s) return reco__seterr(RECO_ENOMEM, "out of memory for popularity scores");
  s->score = reco__aligned_calloc((size_t)(m->n_items ? m->n_items : 1) * sizeof(float));
  m->state = s;
  if (!s->score) {
    popular_free(m);
    return reco__seterr(RECO_ENOMEM, "out of memory for popularity scores");
  }
  return 0;
}

static int popular_fit(reco_model *m, const reco_dataset *train, const reco_progress *pr) {
  int rc = popular_alloc(m);
  if (rc) return rc;
  popular_state *s = m->state;
  double half = reco__model_param(m, "half_life_days") * 86400.0, minv = reco__model_param(m, "min_value");
  int64_t tmax = 0;
  for (size_t k = 0; k < train->n; k++)
    if (train->ts[k] > tmax) tmax = train->ts[k];
  for (int32_t i = 0; i < train->n_items; i++) {
    double acc = 0;
    for (int64_t p = train->iptr[i]; p < train->iptr[i + 1]; p++) {
      if (train->ival[p] < minv) continue;
      if (half > 0) acc += exp2(-(double)(tmax - train->ts[train->irow[p]]) / half);
      else acc += 1;
    }
    s->score[i] = (float)acc;
  }
  return reco__progress(pr, "popular", 1, 1, NULL);
}

static int popular_score(const reco_model *m, const reco_user_view *v, float *out) {
  (void)v;
  const popular_state *s = m->state;
  memcpy(out, s->score, (size_t)m->n_items * sizeof *out);
  return 0;
}

static int popular_save(const reco_model *m, reco_mf_writer *w) {
  const popular_state *s = m->state;
  return reco__mf_section(w, "score", RECO_DT_F32, s->score, (uint64_t)m->n_items);
}

static int popular_load(reco_model *m, const reco_mf_reader *r) {
  popular_state *s = reco__calloc(1, sizeof *s);
  if (!s) return reco__seterr(RECO_ENOMEM, "out of memory for popularity scores");
  m->state = s;
  return reco__mf_copy(r, "score", RECO_DT_F32, m->n_items, (void **)&s->score, NULL);
}

const reco_algo reco__algo_popular = {
    .name = "popular",
    .summary = "most popular items by training count, optionally time-decayed (trending)",
    .caps = RECO_CAP_RANKING | RECO_CAP_FOLDIN,
    .params = k_popular_params,
    .n_params = RECO_ARRAY_LEN(k_popular_params),
    .fit = popular_fit,
    .score = popular_score,
    .save = popular_save,
    .load = popular_load,
    .free_state = popular_free,
};
