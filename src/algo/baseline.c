/*
 * baseline.c - the baseline predictor b_ui = mu + b_u + b_i (Koren 2008, section 2.1), with
 * regularised biases fitted by alternating least squares: each sweep solves every item bias in
 * closed form given the user biases, then every user bias given the item biases,
 *   b_i = sum_{u in R(i)} (r_ui - mu - b_u) / (lambda_i + |R(i)|)
 *   b_u = sum_{i in R(u)} (r_ui - mu - b_i) / (lambda_u + |R(u)|).
 * Defaults (lambda_u 15, lambda_i 10, 10 sweeps) are the ones Koren's paper and Surprise's
 * BaselineOnly use. Ranking uses b_i alone (b_u does not change a user's order) plus mu + b_u
 * so scores stay on the rating scale.
 */
#include "algo.h"

#include <string.h>

static const reco_param_spec k_params[] = {
    {"reg_user", RECO_P_FLOAT, 15, 0, 1e6, NULL, "L2 penalty lambda_u on user biases"},
    {"reg_item", RECO_P_FLOAT, 10, 0, 1e6, NULL, "L2 penalty lambda_i on item biases"},
    {"epochs", RECO_P_INT, 10, 1, 1000, NULL, "alternating sweeps"},
};

typedef struct baseline_state {
  float *bu, *bi;
} baseline_state;

static void baseline_free(reco_model *m) {
  baseline_state *s = m->state;
  if (!s) return;
  reco__free_aligned(s->bu);
  reco__free_aligned(s->bi);
  reco__free(s);
  m->state = NULL;
}

static int baseline_fit(reco_model *m, const reco_dataset *d, const reco_progress *pr) {
  baseline_state *s = reco__calloc(1, sizeof *s);
  if (!s) return reco__seterr(RECO_ENOMEM, "out of memory for baseline");
  m->state = s;
  s->bu = reco__aligned_calloc((size_t)(d->n_users ? d->n_users : 1) * sizeof(float));
  s->bi = reco__aligned_calloc((size_t)(d->n_items ? d->n_items : 1) * sizeof(float));
  if (!s->bu || !s->bi) return reco__seterr(RECO_ENOMEM, "out of memory for baseline");
  /* the global mean over distinct (user, item) pairs, as the CSR holds them */
  double mu = 0;
  for (size_t p = 0; p < d->nnz; p++) mu += d->uval[p];
  mu = d->nnz ? mu / (double)d->nnz : 0;
  m->global_mean = mu;
  double lu = reco__model_param(m, "reg_user"), li = reco__model_param(m, "reg_item");
  int epochs = (int)reco__model_param(m, "epochs");
  for (int e = 0; e < epochs; e++) {
#pragma omp parallel for schedule(static)
    for (int32_t i = 0; i < d->n_items; i++) {
      double acc = 0;
      for (int64_t p = d->iptr[i]; p < d->iptr[i + 1]; p++) acc += d->ival[p] - mu - s->bu[d->iuser[p]];
      s->bi[i] = (float)(acc / (li + (double)(d->iptr[i + 1] - d->iptr[i])));
    }
#pragma omp parallel for schedule(static)
    for (int32_t u = 0; u < d->n_users; u++) {
      double acc = 0;
      for (int64_t p = d->uptr[u]; p < d->uptr[u + 1]; p++) acc += d->uval[p] - mu - s->bi[d->uitem[p]];
      s->bu[u] = (float)(acc / (lu + (double)(d->uptr[u + 1] - d->uptr[u])));
    }
    int rc = reco__progress(pr, "baseline", e + 1, epochs, NULL);
    if (rc) return rc;
  }
  return 0;
}

static float baseline_predict(const reco_model *m, int32_t u, int32_t i) {
  const baseline_state *s = m->state;
  double p = m->global_mean;
  if (u >= 0 && u < m->n_users) p += s->bu[u];
  if (i >= 0 && i < m->n_items) p += s->bi[i];
  return (float)p;
}

static int baseline_score(const reco_model *m, const reco_user_view *v, float *out) {
  const baseline_state *s = m->state;
  float base = (float)m->global_mean + (v->user >= 0 && v->user < m->n_users ? s->bu[v->user] : 0.0f);
  for (int32_t i = 0; i < m->n_items; i++) out[i] = base + s->bi[i];
  return 0;
}

static int baseline_save(const reco_model *m, reco_mf_writer *w) {
  const baseline_state *s = m->state;
  int rc = reco__mf_section(w, "bu", RECO_DT_F32, s->bu, (uint64_t)m->n_users);
  return rc ? rc : reco__mf_section(w, "bi", RECO_DT_F32, s->bi, (uint64_t)m->n_items);
}

static int baseline_load(reco_model *m, const reco_mf_reader *r) {
  baseline_state *s = reco__calloc(1, sizeof *s);
  if (!s) return reco__seterr(RECO_ENOMEM, "out of memory for baseline");
  m->state = s;
  int rc = reco__mf_copy(r, "bu", RECO_DT_F32, m->n_users, (void **)&s->bu, NULL);
  return rc ? rc : reco__mf_copy(r, "bi", RECO_DT_F32, m->n_items, (void **)&s->bi, NULL);
}

const reco_algo reco__algo_baseline = {
    .name = "baseline",
    .summary = "global mean + regularised user and item biases, ALS (Koren 2008)",
    .caps = RECO_CAP_RATING | RECO_CAP_RANKING | RECO_CAP_FOLDIN,
    .params = k_params,
    .n_params = RECO_ARRAY_LEN(k_params),
    .fit = baseline_fit,
    .predict = baseline_predict,
    .score = baseline_score,
    .save = baseline_save,
    .load = baseline_load,
    .free_state = baseline_free,
};
