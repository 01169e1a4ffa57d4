/*
 * knn.c - neighbourhood models: `itemknn` and `userknn`.
 *
 * Rating prediction. The baseline b_ui = mu + b_u + b_i is fitted by alternating least squares
 * as in baseline.c (Koren 2008, section 2.1). Neighbours come from a similarity table
 * (knn_sim.c: cosine, adjusted cosine, Pearson, Pearson-baseline, Jaccard, MSD; shrinkage and
 * minimum support), pruned to the best `candidates` per row. Then, over the k neighbours most
 * similar to the target that have a rating for it (item-based: the k items of the user's most
 * similar to i), with positive similarities s:
 *   basic     r_ui = sum s r_uj / sum s                         (Herlocker et al. 1999)
 *   means     r_ui = mu_i + sum s (r_uj - mu_j) / sum s         (Surprise's KNNWithMeans)
 *   baseline  r_ui = b_ui + sum s (r_uj - b_uj) / sum s         (Koren 2010, section 2.2)
 *   learned   (itemknn only, the default) the global neighbourhood model of Koren 2008,
 *             section 3.2, restricted to k neighbours:
 *     r_ui = mu + b_u + b_i + |R^k(i;u)|^-1/2 sum_{j in R^k(i;u)} (r_uj - b_uj) w_ij
 *                           + |N^k(i;u)|^-1/2 sum_{j in N^k(i;u)} c_ij
 *     with S^k(i) the k items most similar to i (shrunk Pearson-baseline), R^k(i;u) = R(u) n
 *     S^k(i), N(u) = R(u) (no implicit feedback beyond the ratings), b_uj the fixed ALS
 *     baseline, and b_u, b_i, w_ij, c_ij learned by stochastic gradient descent on the squared
 *     error with L2 penalties, as in the paper. The interpolation weights are fitted jointly
 *     over all ratings instead of being similarities, which is what takes the model below
 *     correlation-based kNN. Optionally (user_k > 0, off by default) the same terms over each
 *     user's most similar users are learned alongside (our extension, see fit_learned()).
 *
 * Ranking (score, similar, explain). A second table, from the interaction patterns alone:
 * cosine (optionally asymmetric, Aiolli 2013) or Jaccard over binary interactions, optionally
 * weighted by BM25 or TF-IDF (rows are documents and columns terms, as the `implicit` library
 * weights the item-user matrix), optionally raised to a power and normalised per row. Item-
 * based, score_i = sum over the history's items j of s_ij, where the pairs kept are the rank_k
 * best neighbours of each candidate i (Sarwar et al. 2001; the default, better on held-out
 * data) or of each history item j (Deshpande & Karypis 2004). Either way the table is stored
 * as one list per history item, so a score is a sparse accumulation over the history's lists
 * into the caller's output array: nothing is allocated, the history is used as given, and a
 * brand-new user is served without retraining. User-based, score_i = sum over the user's
 * rank_k neighbours v of s_uv over v's items; an unknown user's neighbours are found from the
 * history on the fly. Every score starts from a popularity prior below 1e-6 that only breaks
 * ties.
 */
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif
#include "knn_sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { PR_LEARNED = 0, PR_BASELINE, PR_MEANS, PR_BASIC };
enum { WT_NONE = 0, WT_BM25, WT_TFIDF };
enum { NORM_NONE = 0, NORM_MAX, NORM_SUM };

/* ---- parameters ---- */

/*
 * Defaults: the rating side was chosen on two random 80/20 splits of u1.base (never
 * u1.test): pearson_baseline, shrink 100 and the ALS regularisation are Koren's and Surprise's;
 * for the learned model k = 100 neighbours beat 50, 200 and 400, 30 passes beat 15 and 50,
 * and Koren's gamma = 0.005, lambda = 0.002 were at the optimum of the grid around them. The
 * ranking side on the same splits: TF-IDF weighting, alpha = 0.3 and candidate pruning with
 * 200 neighbours each beat plain cosine; BM25 equals TF-IDF for cosine on binary data.
 */
static const reco_param_spec k_item_params[] = {
    {"sim", RECO_P_ENUM, RECO_KNN_PEARSON_BASELINE, 0, 5, RECO_KNN_SIM_CHOICES,
     "similarity that picks the rating neighbours"},
    {"k", RECO_P_INT, 100, 1, 100000, NULL, "neighbours used per rating prediction"},
    {"shrink", RECO_P_FLOAT, 100, 0, 1e9, NULL, "shrink similarities by n/(n+shrink), n = co-ratings"},
    {"min_support", RECO_P_INT, 1, 1, 1e9, NULL, "co-ratings needed for a similarity"},
    {"candidates", RECO_P_INT, 400, 1, 1e6, NULL, "rating neighbours stored per row (basic/means/baseline)"},
    {"reg_user", RECO_P_FLOAT, 15, 0, 1e6, NULL, "baseline: L2 penalty on user biases"},
    {"reg_item", RECO_P_FLOAT, 10, 0, 1e6, NULL, "baseline: L2 penalty on item biases"},
    {"baseline_epochs", RECO_P_INT, 10, 1, 1000, NULL, "baseline: alternating least-squares sweeps"},
    {"predict", RECO_P_ENUM, PR_LEARNED, 0, 3, "learned|baseline|means|basic", "rating prediction rule"},
    {"epochs", RECO_P_INT, 30, 0, 10000, NULL, "learned: SGD passes over the ratings"},
    {"lr", RECO_P_FLOAT, 0.005, 0, 10, NULL, "learned: SGD learning rate gamma"},
    {"reg", RECO_P_FLOAT, 0.002, 0, 1e6, NULL, "learned: L2 penalty lambda on w_ij and c_ij"},
    {"reg_bias", RECO_P_FLOAT, 0.002, 0, 1e6, NULL, "learned: L2 penalty on the learned biases"},
    {"lr_decay", RECO_P_FLOAT, 1, 0.01, 1, NULL, "learned: learning rate multiplier per pass"},
    {"user_k", RECO_P_INT, 0, 0, 100000, NULL, "learned: also weights over each user's user_k most similar users"},
    {"rank_sim", RECO_P_ENUM, 0, 0, 1, "cosine|jaccard", "ranking similarity over the interactions"},
    {"rank_k", RECO_P_INT, 200, 1, 100000, NULL, "ranking neighbours kept per row"},
    {"rank_shrink", RECO_P_FLOAT, 0, 0, 1e9, NULL, "ranking: shrink by n/(n+shrink)"},
    {"alpha", RECO_P_FLOAT, 0.3, 0, 1, NULL, "ranking cosine: asymmetry (0.5 = cosine, Aiolli 2013)"},
    {"rank_power", RECO_P_FLOAT, 1, 0.01, 100, NULL, "kept ranking similarities raised to this power"},
    {"weighting", RECO_P_ENUM, WT_TFIDF, 0, 2, "none|bm25|tfidf", "weighting of the interactions"},
    {"bm25_k1", RECO_P_FLOAT, 1.2, 0, 1e6, NULL, "BM25 saturation K1"},
    {"bm25_b", RECO_P_FLOAT, 0.75, 0, 1, NULL, "BM25 length normalisation B"},
    {"rank_norm", RECO_P_ENUM, NORM_NONE, 0, 2, "none|max|sum", "normalise each neighbour list by its max or sum"},
    {"rank_prune", RECO_P_ENUM, 1, 0, 1, "history|candidate",
     "keep the rank_k best neighbours of each history item, or of each candidate item"},
};

/* userknn: Surprise's KNNBaseline settings (k 40 beat 20 and 60 on the same splits); ranking
 * with TF-IDF, 100 neighbours and similarities squared, chosen on them too. */
static const reco_param_spec k_user_params[] = {
    {"sim", RECO_P_ENUM, RECO_KNN_PEARSON_BASELINE, 0, 5, RECO_KNN_SIM_CHOICES,
     "similarity that picks the rating neighbours"},
    {"k", RECO_P_INT, 40, 1, 100000, NULL, "neighbours used per rating prediction"},
    {"shrink", RECO_P_FLOAT, 100, 0, 1e9, NULL, "shrink similarities by n/(n+shrink), n = co-ratings"},
    {"min_support", RECO_P_INT, 1, 1, 1e9, NULL, "co-ratings needed for a similarity"},
    {"candidates", RECO_P_INT, 400, 1, 1e6, NULL, "rating neighbours stored per row (basic/means/baseline)"},
    {"reg_user", RECO_P_FLOAT, 15, 0, 1e6, NULL, "baseline: L2 penalty on user biases"},
    {"reg_item", RECO_P_FLOAT, 10, 0, 1e6, NULL, "baseline: L2 penalty on item biases"},
    {"baseline_epochs", RECO_P_INT, 10, 1, 1000, NULL, "baseline: alternating least-squares sweeps"},
    {"predict", RECO_P_ENUM, 0, 0, 2, "baseline|means|basic", "rating prediction rule"},
    {"rank_sim", RECO_P_ENUM, 0, 0, 1, "cosine|jaccard", "ranking similarity over the interactions"},
    {"rank_k", RECO_P_INT, 100, 1, 100000, NULL, "ranking neighbours kept per row"},
    {"rank_shrink", RECO_P_FLOAT, 0, 0, 1e9, NULL, "ranking: shrink by n/(n+shrink)"},
    {"alpha", RECO_P_FLOAT, 0.5, 0, 1, NULL, "ranking cosine: asymmetry (0.5 = cosine, Aiolli 2013)"},
    {"rank_power", RECO_P_FLOAT, 2, 0.01, 100, NULL, "kept ranking similarities raised to this power"},
    {"weighting", RECO_P_ENUM, WT_TFIDF, 0, 2, "none|bm25|tfidf", "weighting of the interactions"},
    {"bm25_k1", RECO_P_FLOAT, 1.2, 0, 1e6, NULL, "BM25 saturation K1"},
    {"bm25_b", RECO_P_FLOAT, 0.75, 0, 1, NULL, "BM25 length normalisation B"},
    {"rank_norm", RECO_P_ENUM, NORM_NONE, 0, 2, "none|max|sum", "normalise each neighbour list by its max or sum"},
};

/* ---- state ---- */

typedef struct knn_state {
  bool user_based;
  /* parameters read once (predict and score run per request) */
  int mode, k, rank_kind, weighting;
  double rank_shrink, alpha, rank_power, k1, b;
  /* the training ratings: by user, and (userknn) by item */
  int64_t *uptr;
  int32_t *uitem;
  float *uval;
  int64_t *iptr;
  int32_t *iuser;
  float *ival;
  float *bu, *bi;   /* ALS baseline (fixed) */
  float *lbu, *lbi; /* learned biases (learned mode) */
  float *mean;      /* per row entity (items for itemknn, users for userknn): mean rating */
  reco_knn_table rate;
  float *w, *c;         /* learned mode: parallel to rate.idx */
  reco_knn_table urate; /* learned mode with user_k > 0: each user's user_k most similar users */
  float *z, *zc;        /* their weights z_uv and offsets d_uv, parallel to urate.idx */
  int user_k;
  reco_knn_table rank;
  reco_knn_table rrank; /* itemknn: rank transposed (row i: the items j whose list holds i, with
                           s_ji), for reasons over long histories; empty when too large */
  float *prior;   /* per item, < 1e-6: ties only */
  float *rank_sq; /* userknn: per user sum of squared interaction weights (fold-in cosine) */
  double avg_len; /* mean row length of the ranking matrix (BM25) */
} knn_state;

static void knn_free(reco_model *m) {
  knn_state *s = m->state;
  if (!s) return;
  void *arrays[] = {s->uptr, s->uitem, s->uval, s->iptr, s->iuser, s->ival, s->bu,    s->bi,     s->lbu,
                    s->lbi,  s->mean,  s->w,    s->c,    s->z,     s->zc,   s->prior, s->rank_sq};
  for (size_t j = 0; j < RECO_ARRAY_LEN(arrays); j++) reco__free_aligned(arrays[j]);
  reco__knn_table_free(&s->rate);
  reco__knn_table_free(&s->urate);
  reco__knn_table_free(&s->rank);
  reco__knn_table_free(&s->rrank);
  reco__free(s);
  m->state = NULL;
}

/* The ranking table transposed (a counting sort by target item), kept in memory only: built
 * after a fit and after a load. Skipped (reasons then walk the history's lists) above 2^26
 * entries, where it would add half a gigabyte. Rows are in increasing source item order. */
enum { RRANK_MAX = 1 << 26 };
static int build_rrank(knn_state *s, int32_t n_items) {
  reco__knn_table_free(&s->rrank);
  const reco_knn_table *t = &s->rank;
  if (!t->ptr || t->n_rows != n_items) return 0;
  int64_t nnz = t->ptr[n_items];
  if (nnz > RRANK_MAX) return 0;
  reco_knn_table *r = &s->rrank;
  r->ptr = reco__aligned_calloc(((size_t)n_items + 1) * sizeof *r->ptr);
  r->idx = reco__aligned_alloc((size_t)(nnz ? nnz : 1) * sizeof *r->idx);
  r->sim = reco__aligned_alloc((size_t)(nnz ? nnz : 1) * sizeof *r->sim);
  if (!r->ptr || !r->idx || !r->sim) {
    reco__knn_table_free(r);
    return reco__seterr(RECO_ENOMEM, "out of memory for the transposed ranking table");
  }
  r->n_rows = n_items;
  for (int64_t e = 0; e < nnz; e++) {
    int32_t i = t->idx[e];
    if (i >= 0 && i < n_items) r->ptr[i + 1]++;
  }
  for (int32_t i = 0; i < n_items; i++) r->ptr[i + 1] += r->ptr[i];
  int64_t *at = reco__aligned_alloc(((size_t)n_items + 1) * sizeof *at);
  if (!at) {
    reco__knn_table_free(r);
    return reco__seterr(RECO_ENOMEM, "out of memory for the transposed ranking table");
  }
  memcpy(at, r->ptr, ((size_t)n_items + 1) * sizeof *at);
  for (int32_t j = 0; j < n_items; j++)
    for (int64_t e = t->ptr[j]; e < t->ptr[j + 1]; e++) {
      int32_t i = t->idx[e];
      if (i < 0 || i >= n_items) continue;
      r->idx[at[i]] = j;
      r->sim[at[i]++] = t->sim[e];
    }
  reco__free_aligned(at);
  return 0;
}

static void read_params(const reco_model *m, knn_state *s) {
  s->mode = (int)reco__model_param(m, "predict");
  if (s->user_based) s->mode += 1; /* userknn has no learned rule */
  s->k = (int)reco__model_param(m, "k");
  s->user_k = s->user_based ? 0 : (int)reco__model_param(m, "user_k");
  if (s->mode != PR_LEARNED) s->user_k = 0;
  s->rank_kind = (int)reco__model_param(m, "rank_sim") == 1 ? RECO_KNN_JACCARD : RECO_KNN_COSINE;
  s->weighting = (int)reco__model_param(m, "weighting");
  s->rank_shrink = reco__model_param(m, "rank_shrink");
  s->alpha = reco__model_param(m, "alpha");
  s->rank_power = reco__model_param(m, "rank_power");
  s->k1 = reco__model_param(m, "bm25_k1");
  s->b = reco__model_param(m, "bm25_b");
}

static void *aalloc(size_t n, size_t size) { return reco__aligned_alloc((n ? n : 1) * size); }

/* ---- shared fitting helpers ---- */

/* Regularised biases by alternating least squares, as baseline.c. */
static void fit_baseline(const reco_dataset *d, double mu, double lu, double li, int epochs, float *bu, float *bi) {
  memset(bu, 0, (size_t)d->n_users * sizeof *bu);
  memset(bi, 0, (size_t)d->n_items * sizeof *bi);
  for (int e = 0; e < epochs; e++) {
#pragma omp parallel for schedule(static)
    for (int32_t i = 0; i < d->n_items; i++) {
      double acc = 0;
      for (int64_t p = d->iptr[i]; p < d->iptr[i + 1]; p++) acc += d->ival[p] - mu - bu[d->iuser[p]];
      bi[i] = (float)(acc / (li + (double)(d->iptr[i + 1] - d->iptr[i])));
    }
#pragma omp parallel for schedule(static)
    for (int32_t u = 0; u < d->n_users; u++) {
      double acc = 0;
      for (int64_t p = d->uptr[u]; p < d->uptr[u + 1]; p++) acc += d->uval[p] - mu - bi[d->uitem[p]];
      bu[u] = (float)(acc / (lu + (double)(d->uptr[u + 1] - d->uptr[u])));
    }
  }
}

/*
 * Weight of one interaction for the ranking similarity, tf(document) * idf(term): the row
 * entity is the "document" (n_doc interactions) and the column entity the "term" (found in
 * n_term documents out of n_docs). Binary interactions, so TF-IDF's tf is 1 and BM25's is
 * its saturation with length normalisation, (K1 + 1) / (K1 ((1 - B) + B n_doc / avg) + 1).
 */
static double weight_idf(const knn_state *s, double n_term, double n_docs) {
  if (s->weighting == WT_NONE) return 1.0;
  double idf = log(n_docs) - log1p(n_term);
  return idf > 0 ? idf : 0;
}

static double weight_tf(const knn_state *s, double n_doc) {
  if (s->weighting != WT_BM25) return 1.0;
  return (s->k1 + 1) / (s->k1 * ((1 - s->b) + s->b * n_doc / (s->avg_len > 0 ? s->avg_len : 1)) + 1);
}

static float interaction_weight(const knn_state *s, double n_doc, double n_term, double n_docs) {
  return (float)(weight_tf(s, n_doc) * weight_idf(s, n_term, n_docs));
}

/*
 * Builds the ranking table over the rows of (rptr, ridx) with transpose (cptr, cidx): binary
 * interactions, weighted, then cosine or Jaccard, pruned, powered, normalised.
 */
static int build_rank(const reco_model *m, knn_state *s, int32_t n_rows, const int64_t *rptr, const int32_t *ridx,
                      int32_t n_cols, const int64_t *cptr, const int32_t *cidx, const reco_progress *pr) {
  size_t nnz = (size_t)rptr[n_rows];
  s->avg_len = n_rows ? (double)nnz / n_rows : 1;
  float *rv = NULL, *cv = NULL;
  int rc = 0;
  if (s->weighting != WT_NONE) {
    rv = aalloc(nnz, sizeof *rv);
    cv = aalloc(nnz, sizeof *cv);
    if (!rv || !cv) {
      rc = reco__seterr(RECO_ENOMEM, "out of memory for weights");
      goto done;
    }
    for (int32_t a = 0; a < n_rows; a++)
      for (int64_t p = rptr[a]; p < rptr[a + 1]; p++) {
        int32_t c = ridx[p];
        rv[p] = interaction_weight(s, (double)(rptr[a + 1] - rptr[a]), (double)(cptr[c + 1] - cptr[c]), n_rows);
      }
    for (int32_t c = 0; c < n_cols; c++)
      for (int64_t p = cptr[c]; p < cptr[c + 1]; p++) {
        int32_t a = cidx[p];
        cv[p] = interaction_weight(s, (double)(rptr[a + 1] - rptr[a]), (double)(cptr[c + 1] - cptr[c]), n_rows);
      }
  }
  reco_knn_mat rows = {n_rows, rptr, ridx, rv}, cols = {n_cols, cptr, cidx, cv};
  reco_knn_opts o = {.kind = (reco_knn_kind)s->rank_kind,
                     .keep = (int)reco__model_param(m, "rank_k"),
                     .min_support = 1,
                     .shrink = s->rank_shrink,
                     .alpha = s->alpha,
                     .power = s->rank_power,
                     .positive = true};
  rc = reco__knn_build(&rows, &cols, &o, pr, "rank-similarity", &s->rank);
  if (rc) goto done;
  int norm = (int)reco__model_param(m, "rank_norm");
  if (norm != NORM_NONE)
    for (int32_t a = 0; a < n_rows; a++) {
      double z = 0;
      for (int64_t p = s->rank.ptr[a]; p < s->rank.ptr[a + 1]; p++)
        z = norm == NORM_MAX ? fmax(z, s->rank.sim[p]) : z + s->rank.sim[p];
      if (z > 0)
        for (int64_t p = s->rank.ptr[a]; p < s->rank.ptr[a + 1]; p++) s->rank.sim[p] = (float)(s->rank.sim[p] / z);
    }
  if (!s->user_based && (int)reco__model_param(m, "rank_prune") == 1) {
    /* rows were candidates: turn them into lists per history item for the accumulation */
    reco_knn_table t;
    rc = reco__knn_table_transpose(&s->rank, n_rows, &t);
    if (rc) goto done;
    reco__knn_table_free(&s->rank);
    s->rank = t;
  }
  if (s->user_based) {
    /* per user norm of the weighted row, for the fold-in cosine */
    s->rank_sq = aalloc((size_t)n_rows, sizeof *s->rank_sq);
    if (!s->rank_sq) {
      rc = reco__seterr(RECO_ENOMEM, "out of memory");
      goto done;
    }
    for (int32_t a = 0; a < n_rows; a++) {
      double z = 0;
      for (int64_t p = rptr[a]; p < rptr[a + 1]; p++) z += rv ? (double)rv[p] * rv[p] : 1.0;
      s->rank_sq[a] = (float)z;
    }
  }
done:
  reco__free_aligned(rv);
  reco__free_aligned(cv);
  return rc;
}

/* Popularity prior: count / max count * 1e-7, so it never outweighs a real contribution. */
static int build_prior(const reco_dataset *d, knn_state *s) {
  s->prior = aalloc((size_t)d->n_items, sizeof *s->prior);
  if (!s->prior) return reco__seterr(RECO_ENOMEM, "out of memory");
  int64_t mx = 1;
  for (int32_t i = 0; i < d->n_items; i++) mx = RECO_MAX(mx, d->iptr[i + 1] - d->iptr[i]);
  for (int32_t i = 0; i < d->n_items; i++)
    s->prior[i] = (float)(1e-7 * (double)(d->iptr[i + 1] - d->iptr[i]) / (double)mx);
  return 0;
}

/* Copies of the training CSRs the model keeps (by user always, by item for userknn). */
static int copy_ratings(const reco_dataset *d, knn_state *s) {
  size_t nnz = d->nnz;
  s->uptr = aalloc((size_t)d->n_users + 1, sizeof *s->uptr);
  s->uitem = aalloc(nnz, sizeof *s->uitem);
  s->uval = aalloc(nnz, sizeof *s->uval);
  if (!s->uptr || !s->uitem || !s->uval) return reco__seterr(RECO_ENOMEM, "out of memory for the ratings");
  memcpy(s->uptr, d->uptr, ((size_t)d->n_users + 1) * sizeof *s->uptr);
  memcpy(s->uitem, d->uitem, nnz * sizeof *s->uitem);
  memcpy(s->uval, d->uval, nnz * sizeof *s->uval);
  if (!s->user_based && !s->user_k) return 0;
  s->iptr = aalloc((size_t)d->n_items + 1, sizeof *s->iptr);
  s->iuser = aalloc(nnz, sizeof *s->iuser);
  s->ival = aalloc(nnz, sizeof *s->ival);
  if (!s->iptr || !s->iuser || !s->ival) return reco__seterr(RECO_ENOMEM, "out of memory for the ratings");
  memcpy(s->iptr, d->iptr, ((size_t)d->n_items + 1) * sizeof *s->iptr);
  memcpy(s->iuser, d->iuser, nnz * sizeof *s->iuser);
  memcpy(s->ival, d->ival, nnz * sizeof *s->ival);
  return 0;
}

/*
 * Values for the rating similarity, row-major (rv, by the rows compared) and column-major
 * (cv): raw ratings, or centred by the column's mean (adjusted cosine), or the residuals of
 * the baseline (Pearson-baseline).
 */
static void rating_values(const reco_model *m, const knn_state *s, const reco_dataset *d, int kind,
                          const float *col_mean, float *rv, float *cv) {
  double mu = m->global_mean;
  const int64_t *rp = s->user_based ? d->uptr : d->iptr, *cp = s->user_based ? d->iptr : d->uptr;
  const int32_t *ri = s->user_based ? d->uitem : d->iuser, *ci = s->user_based ? d->iuser : d->uitem;
  const float *rval = s->user_based ? d->uval : d->ival, *cval = s->user_based ? d->ival : d->uval;
  int32_t n_rows = s->user_based ? d->n_users : d->n_items, n_cols = s->user_based ? d->n_items : d->n_users;
  for (int32_t a = 0; a < n_rows; a++)
    for (int64_t p = rp[a]; p < rp[a + 1]; p++) {
      int32_t c = ri[p];
      float x = rval[p];
      if (kind == RECO_KNN_ADJCOS)
        x -= col_mean[c];
      else if (kind == RECO_KNN_PEARSON_BASELINE) {
        int32_t u = s->user_based ? a : c, i = s->user_based ? c : a;
        x = (float)(x - mu - s->bu[u] - s->bi[i]);
      }
      rv[p] = x;
    }
  for (int32_t c = 0; c < n_cols; c++)
    for (int64_t p = cp[c]; p < cp[c + 1]; p++) {
      int32_t a = ci[p];
      float x = cval[p];
      if (kind == RECO_KNN_ADJCOS)
        x -= col_mean[c];
      else if (kind == RECO_KNN_PEARSON_BASELINE) {
        int32_t u = s->user_based ? a : c, i = s->user_based ? c : a;
        x = (float)(x - mu - s->bu[u] - s->bi[i]);
      }
      cv[p] = x;
    }
}

static void row_means(int32_t n, const int64_t *ptr, const float *val, double mu, float *out) {
  for (int32_t a = 0; a < n; a++) {
    double z = 0;
    for (int64_t p = ptr[a]; p < ptr[a + 1]; p++) z += val[p];
    out[a] = ptr[a + 1] > ptr[a] ? (float)(z / (double)(ptr[a + 1] - ptr[a])) : (float)mu;
  }
}

/*
 * SGD for the global neighbourhood model (Koren 2008, section 3.2). Users are visited in a
 * seeded random order and each user's ratings in random order; a dense array holds the
 * current user's residuals r_uj - b_uj (NAN where unrated) so that R^k(i;u) is found in O(k).
 *
 * With user_k > 0 (off by default) the model gains the mirror image of its item terms over
 * users, learned jointly with them (our extension; the paper's model is item-oriented):
 *   + |U^k(u;i)|^-1/2 sum_{v in U^k(u;i)} ((r_vi - b_vi) z_uv + d_uv),
 * U^k(u;i) the users among u's user_k most similar (shrunk Pearson-baseline) who rated i. For
 * the current user those sets are gathered once per pass into buckets, one per item of the
 * user, by walking each neighbour's ratings against a dense item -> position marker.
 */
typedef struct sgd_scratch {
  float *res;     /* per item: r_uj - b_uj of the current user, NAN elsewhere */
  int32_t *where; /* per item: 1 + position in the current user's row, 0 elsewhere */
  int32_t *perm, *bstart;
  int64_t *pos; /* item-side slots of R^k(i;u) */
  float *rr;
  /* user side: hits (1 + position, slot in urate, residual r_vi - b_vi), then the same
   * grouped by position into buckets bstart[q] .. bstart[q+1] */
  int32_t *hq, *hslot, *bslot;
  float *hres, *bres;
  size_t hcap, bcap;
} sgd_scratch;

/*
 * The current user's buckets. One branch-free pass over the neighbours' ratings appends
 * every rating to the hit list and advances only on an item the user has (about one in six),
 * then a counting sort groups the hits by the user's item.
 */
static int gather_users(const knn_state *s, const reco_dataset *d, int32_t u, float mu, sgd_scratch *x) {
  int64_t n = d->uptr[u + 1] - d->uptr[u];
  size_t need = 1;
  for (int64_t t = s->urate.ptr[u]; t < s->urate.ptr[u + 1]; t++) {
    int32_t v = s->urate.idx[t];
    need += (size_t)(d->uptr[v + 1] - d->uptr[v]);
  }
  if (need > x->hcap) {
    size_t c1 = x->hcap, c2 = x->hcap, c3 = x->hcap;
    if (RECO_GROW(x->hq, c1, need) || RECO_GROW(x->hslot, c2, need) || RECO_GROW(x->hres, c3, need)) return RECO_ENOMEM;
    x->hcap = c1;
  }
  size_t nh = 0;
  for (int64_t t = s->urate.ptr[u]; t < s->urate.ptr[u + 1]; t++) {
    int32_t v = s->urate.idx[t];
    float base = mu + s->bu[v];
    for (int64_t p = d->uptr[v]; p < d->uptr[v + 1]; p++) {
      int32_t i = d->uitem[p], w = x->where[i];
      x->hq[nh] = w;
      x->hslot[nh] = (int32_t)t;
      x->hres[nh] = d->uval[p] - base - s->bi[i];
      nh += w != 0;
    }
  }
  if (nh > x->bcap) {
    size_t c1 = x->bcap, c2 = x->bcap;
    if (RECO_GROW(x->bslot, c1, nh) || RECO_GROW(x->bres, c2, nh)) return RECO_ENOMEM;
    x->bcap = c1;
  }
  memset(x->bstart, 0, (size_t)(n + 1) * sizeof *x->bstart);
  for (size_t h = 0; h < nh; h++) x->bstart[x->hq[h]]++; /* hq is 1 + position */
  for (int64_t q = 0; q < n; q++) x->bstart[q + 1] += x->bstart[q];
  /* bstart[q] now ends bucket q - 1; placing from the back leaves it at the bucket's start */
  for (size_t h = nh; h-- > 0;) {
    int32_t c = --x->bstart[x->hq[h]];
    x->bslot[c] = x->hslot[h];
    x->bres[c] = x->hres[h];
  }
  /* bstart[q] is bucket q - 1's start: shift so that bucket q is bstart[q] .. bstart[q+1] */
  memmove(x->bstart, x->bstart + 1, (size_t)n * sizeof *x->bstart);
  x->bstart[n] = (int32_t)nh;
  return 0;
}

static void scratch_free(sgd_scratch *x) {
  reco__free_aligned(x->res);
  reco__free(x->where);
  reco__free(x->perm);
  reco__free(x->bstart);
  reco__free(x->pos);
  reco__free(x->rr);
  reco__free(x->hq);
  reco__free(x->hslot);
  reco__free(x->hres);
  reco__free(x->bslot);
  reco__free(x->bres);
}

static int fit_learned(reco_model *m, knn_state *s, const reco_dataset *d, const reco_progress *pr) {
  size_t nw = (size_t)s->rate.ptr[d->n_items], nz = s->user_k ? (size_t)s->urate.ptr[d->n_users] : 0;
  s->w = aalloc(nw, sizeof *s->w);
  s->c = aalloc(nw, sizeof *s->c);
  s->lbu = aalloc((size_t)d->n_users, sizeof *s->lbu);
  s->lbi = aalloc((size_t)d->n_items, sizeof *s->lbi);
  if (s->user_k) {
    s->z = aalloc(nz, sizeof *s->z);
    s->zc = aalloc(nz, sizeof *s->zc);
  }
  sgd_scratch x = {0};
  x.res = aalloc((size_t)d->n_items, sizeof *x.res);
  x.where = reco__malloc((size_t)(d->n_items ? d->n_items : 1) * sizeof *x.where);
  int32_t *order = reco__malloc((size_t)(d->n_users ? d->n_users : 1) * sizeof *order);
  int64_t max_row = 1, max_nb = 1;
  for (int32_t u = 0; u < d->n_users; u++) max_row = RECO_MAX(max_row, d->uptr[u + 1] - d->uptr[u]);
  for (int32_t i = 0; i < d->n_items; i++) max_nb = RECO_MAX(max_nb, s->rate.ptr[i + 1] - s->rate.ptr[i]);
  x.perm = reco__malloc((size_t)max_row * sizeof *x.perm);
  x.bstart = reco__malloc((size_t)(max_row + 1) * sizeof *x.bstart);
  x.pos = reco__malloc((size_t)max_nb * sizeof *x.pos);
  x.rr = reco__malloc((size_t)max_nb * sizeof *x.rr);
  int rc = 0;
  if (!s->w || !s->c || !s->lbu || !s->lbi || (s->user_k && (!s->z || !s->zc)) || !x.res || !x.where || !order ||
      !x.perm || !x.bstart || !x.pos || !x.rr) {
    rc = reco__seterr(RECO_ENOMEM, "out of memory for the neighbourhood weights");
    goto done;
  }
  memset(s->w, 0, nw * sizeof *s->w);
  memset(s->c, 0, nw * sizeof *s->c);
  if (s->user_k) {
    memset(s->z, 0, nz * sizeof *s->z);
    memset(s->zc, 0, nz * sizeof *s->zc);
  }
  memcpy(s->lbu, s->bu, (size_t)d->n_users * sizeof *s->lbu);
  memcpy(s->lbi, s->bi, (size_t)d->n_items * sizeof *s->lbi);
  for (int32_t i = 0; i < d->n_items; i++) {
    x.res[i] = NAN;
    x.where[i] = 0;
  }
  for (int32_t u = 0; u < d->n_users; u++) order[u] = u;
  float mu = (float)m->global_mean;
  double lr = reco__model_param(m, "lr"), reg = reco__model_param(m, "reg"), regb = reco__model_param(m, "reg_bias");
  double decay = reco__model_param(m, "lr_decay");
  int epochs = (int)reco__model_param(m, "epochs");
  reco_rng rng;
  reco__rng_seed(&rng, m->seed ^ 0x6b6e6e6c6561726eull);
  for (int e = 0; e < epochs && !rc; e++) {
    float g = (float)lr, gl = (float)(lr * reg), glb = (float)(lr * regb);
    reco__rng_shuffle_i32(&rng, order, (size_t)d->n_users);
    for (int32_t ux = 0; ux < d->n_users && !rc; ux++) {
      int32_t u = order[ux];
      int64_t a = d->uptr[u], b = d->uptr[u + 1];
      if (a == b) continue;
      for (int64_t p = a; p < b; p++) {
        x.res[d->uitem[p]] = d->uval[p] - mu - s->bu[u] - s->bi[d->uitem[p]];
        x.where[d->uitem[p]] = (int32_t)(p - a) + 1;
      }
      if (s->user_k && gather_users(s, d, u, mu, &x)) {
        rc = reco__seterr(RECO_ENOMEM, "out of memory for the neighbourhood weights");
        break;
      }
      for (int64_t q = 0; q < b - a; q++) x.perm[q] = (int32_t)q;
      reco__rng_shuffle_i32(&rng, x.perm, (size_t)(b - a));
      for (int64_t qq = 0; qq < b - a; qq++) {
        int32_t q = x.perm[qq];
        int64_t p = a + q;
        int32_t i = d->uitem[p];
        int n = 0;
        for (int64_t t = s->rate.ptr[i]; t < s->rate.ptr[i + 1]; t++) {
          /* branch-free compaction: about a quarter of the slots hit, unpredictably */
          float r = x.res[s->rate.idx[t]];
          x.pos[n] = t;
          x.rr[n] = r;
          n += r == r;
        }
        float norm = n ? 1.0f / sqrtf((float)n) : 0.0f, dot = 0;
        for (int t = 0; t < n; t++) dot += x.rr[t] * s->w[x.pos[t]] + s->c[x.pos[t]];
        float pred = mu + s->lbu[u] + s->lbi[i] + norm * dot, unorm = 0;
        int32_t b0 = 0, b1 = 0;
        if (s->user_k) {
          b0 = x.bstart[q];
          b1 = x.bstart[q + 1];
          float udot = 0;
          for (int32_t t = b0; t < b1; t++) udot += x.bres[t] * s->z[x.bslot[t]] + s->zc[x.bslot[t]];
          unorm = b1 > b0 ? 1.0f / sqrtf((float)(b1 - b0)) : 0.0f;
          pred += unorm * udot;
        }
        float err = d->uval[p] - pred;
        s->lbu[u] += g * err - glb * s->lbu[u];
        s->lbi[i] += g * err - glb * s->lbi[i];
        float ge = g * err * norm;
        for (int t = 0; t < n; t++) {
          float *wp = &s->w[x.pos[t]], *cp = &s->c[x.pos[t]];
          *wp += ge * x.rr[t] - gl * *wp;
          *cp += ge - gl * *cp;
        }
        float gu = g * err * unorm;
        for (int32_t t = b0; t < b1; t++) {
          float *zp = &s->z[x.bslot[t]], *cp = &s->zc[x.bslot[t]];
          *zp += gu * x.bres[t] - gl * *zp;
          *cp += gu - gl * *cp;
        }
      }
      for (int64_t p = a; p < b; p++) {
        x.res[d->uitem[p]] = NAN;
        x.where[d->uitem[p]] = 0;
      }
    }
    lr *= decay;
    if (!rc) rc = reco__progress(pr, "neighbourhood-weights", e + 1, epochs, NULL);
  }
done:
  scratch_free(&x);
  reco__free(order);
  return rc;
}

static int knn_fit(reco_model *m, const reco_dataset *d, const reco_progress *pr, bool user_based) {
  knn_state *s = reco__calloc(1, sizeof *s);
  if (!s) return reco__seterr(RECO_ENOMEM, "out of memory for %s", m->algo->name);
  m->state = s;
  s->user_based = user_based;
  read_params(m, s);
  int rc = copy_ratings(d, s);
  if (rc) return rc;
  double mu = 0;
  for (size_t p = 0; p < d->nnz; p++) mu += d->uval[p];
  mu = d->nnz ? mu / (double)d->nnz : 0;
  m->global_mean = mu;
  int32_t n_rows = user_based ? d->n_users : d->n_items, n_cols = user_based ? d->n_items : d->n_users;
  s->bu = aalloc((size_t)d->n_users, sizeof *s->bu);
  s->bi = aalloc((size_t)d->n_items, sizeof *s->bi);
  s->mean = aalloc((size_t)n_rows, sizeof *s->mean);
  float *col_mean = aalloc((size_t)n_cols, sizeof *col_mean);
  float *rv = aalloc(d->nnz, sizeof *rv), *cv = aalloc(d->nnz, sizeof *cv);
  if (!s->bu || !s->bi || !s->mean || !col_mean || !rv || !cv) {
    rc = reco__seterr(RECO_ENOMEM, "out of memory for %s", m->algo->name);
    goto done;
  }
  fit_baseline(d, mu, reco__model_param(m, "reg_user"), reco__model_param(m, "reg_item"),
               (int)reco__model_param(m, "baseline_epochs"), s->bu, s->bi);
  if (user_based) {
    row_means(d->n_users, d->uptr, d->uval, mu, s->mean);
    row_means(d->n_items, d->iptr, d->ival, mu, col_mean);
  } else {
    row_means(d->n_items, d->iptr, d->ival, mu, s->mean);
    row_means(d->n_users, d->uptr, d->uval, mu, col_mean);
  }
  int kind = (int)reco__model_param(m, "sim");
  rating_values(m, s, d, kind, col_mean, rv, cv);
  reco_knn_mat rows = {n_rows, user_based ? d->uptr : d->iptr, user_based ? d->uitem : d->iuser, rv};
  reco_knn_mat cols = {n_cols, user_based ? d->iptr : d->uptr, user_based ? d->iuser : d->uitem, cv};
  reco_knn_opts o = {.kind = (reco_knn_kind)kind,
                     .keep = s->mode == PR_LEARNED ? s->k : (int)reco__model_param(m, "candidates"),
                     .min_support = (int)reco__model_param(m, "min_support"),
                     .shrink = reco__model_param(m, "shrink"),
                     .alpha = 0.5,
                     .power = 1,
                     .positive = s->mode != PR_LEARNED};
  rc = reco__knn_build(&rows, &cols, &o, pr, "similarity", &s->rate);
  if (!rc && s->user_k) {
    /* the user side of the learned model: the same similarity between users (rows and
     * columns swapped, so the column-major values are the user-major ones; adjusted cosine
     * stays centred by the user's mean, which makes it Pearson-like on this side) */
    reco_knn_mat urows = {d->n_users, d->uptr, d->uitem, cv}, ucols = {d->n_items, d->iptr, d->iuser, rv};
    o.keep = s->user_k;
    rc = reco__knn_build(&urows, &ucols, &o, pr, "user-similarity", &s->urate);
  }
  if (!rc && s->mode == PR_LEARNED) rc = fit_learned(m, s, d, pr);
  if (!rc) {
    if (user_based)
      rc = build_rank(m, s, d->n_users, d->uptr, d->uitem, d->n_items, d->iptr, d->iuser, pr);
    else
      rc = build_rank(m, s, d->n_items, d->iptr, d->iuser, d->n_users, d->uptr, d->uitem, pr);
  }
  if (!rc) rc = build_prior(d, s);
  if (!rc && !user_based) rc = build_rrank(s, m->n_items);
done:
  reco__free_aligned(col_mean);
  reco__free_aligned(rv);
  reco__free_aligned(cv);
  return rc;
}

static int itemknn_fit(reco_model *m, const reco_dataset *d, const reco_progress *pr) {
  return knn_fit(m, d, pr, false);
}
static int userknn_fit(reco_model *m, const reco_dataset *d, const reco_progress *pr) {
  return knn_fit(m, d, pr, true);
}

/* ---- rating prediction ---- */

static inline float baseline_of(const reco_model *m, const knn_state *s, int32_t u, int32_t i) {
  const float *bu = s->lbu ? s->lbu : s->bu, *bi = s->lbi ? s->lbi : s->bi;
  double p = m->global_mean;
  if (u >= 0 && u < m->n_users) p += bu[u];
  if (i >= 0 && i < m->n_items) p += bi[i];
  return (float)p;
}

static float itemknn_predict(const reco_model *m, int32_t u, int32_t i) {
  const knn_state *s = m->state;
  bool ku = u >= 0 && u < m->n_users, ki = i >= 0 && i < m->n_items;
  if (!ku || !ki) return s->mode == PR_MEANS && ki ? s->mean[i] : baseline_of(m, s, u, i);
  int64_t a = s->uptr[u], b = s->uptr[u + 1];
  float mu = (float)m->global_mean;
  if (s->mode == PR_LEARNED) {
    float dot = 0;
    int n = 0;
    for (int64_t t = s->rate.ptr[i]; t < s->rate.ptr[i + 1]; t++) {
      int32_t j = s->rate.idx[t];
      int64_t p = reco__knn_find(s->uitem, a, b, j);
      if (p < 0) continue;
      dot += (s->uval[p] - mu - s->bu[u] - s->bi[j]) * s->w[t] + s->c[t];
      n++;
    }
    float pred = mu + s->lbu[u] + s->lbi[i] + (n ? dot / sqrtf((float)n) : 0.0f);
    if (s->user_k) {
      int64_t ia = s->iptr[i], ib = s->iptr[i + 1];
      float udot = 0;
      int nu = 0;
      for (int64_t t = s->urate.ptr[u]; t < s->urate.ptr[u + 1]; t++) {
        int32_t v = s->urate.idx[t];
        int64_t p = reco__knn_find(s->iuser, ia, ib, v);
        if (p < 0) continue;
        udot += (s->ival[p] - mu - s->bu[v] - s->bi[i]) * s->z[t] + s->zc[t];
        nu++;
      }
      if (nu) pred += udot / sqrtf((float)nu);
    }
    return pred;
  }
  double num = 0, den = 0;
  int hits = 0;
  for (int64_t t = s->rate.ptr[i]; t < s->rate.ptr[i + 1] && hits < s->k; t++) {
    int32_t j = s->rate.idx[t];
    int64_t p = reco__knn_find(s->uitem, a, b, j);
    if (p < 0) continue;
    float sim = s->rate.sim[t], r = s->uval[p];
    if (s->mode == PR_BASELINE)
      r -= mu + s->bu[u] + s->bi[j];
    else if (s->mode == PR_MEANS)
      r -= s->mean[j];
    num += sim * r;
    den += sim;
    hits++;
  }
  float base = s->mode == PR_BASELINE ? mu + s->bu[u] + s->bi[i] : s->mode == PR_MEANS ? s->mean[i] : 0.0f;
  if (den <= 0) return s->mode == PR_BASIC ? mu : base;
  return base + (float)(num / den);
}

static float userknn_predict(const reco_model *m, int32_t u, int32_t i) {
  const knn_state *s = m->state;
  bool ku = u >= 0 && u < m->n_users, ki = i >= 0 && i < m->n_items;
  if (!ku || !ki) return s->mode == PR_MEANS && ku ? s->mean[u] : baseline_of(m, s, u, i);
  int64_t a = s->iptr[i], b = s->iptr[i + 1];
  float mu = (float)m->global_mean;
  double num = 0, den = 0;
  int hits = 0;
  for (int64_t t = s->rate.ptr[u]; t < s->rate.ptr[u + 1] && hits < s->k; t++) {
    int32_t v = s->rate.idx[t];
    int64_t p = reco__knn_find(s->iuser, a, b, v);
    if (p < 0) continue;
    float sim = s->rate.sim[t], r = s->ival[p];
    if (s->mode == PR_BASELINE)
      r -= mu + s->bu[v] + s->bi[i];
    else if (s->mode == PR_MEANS)
      r -= s->mean[v];
    num += sim * r;
    den += sim;
    hits++;
  }
  float base = s->mode == PR_BASELINE ? mu + s->bu[u] + s->bi[i] : s->mode == PR_MEANS ? s->mean[u] : 0.0f;
  if (den <= 0) return s->mode == PR_BASIC ? mu : base;
  return base + (float)(num / den);
}

/* ---- ranking ---- */

/* Item-based: prior, then every history item's neighbour list added in. No allocation. */
static int itemknn_score(const reco_model *m, const reco_user_view *v, float *out) {
  const knn_state *s = m->state;
  memcpy(out, s->prior, (size_t)m->n_items * sizeof *out);
  const int64_t *ptr = s->rank.ptr;
  const int32_t *idx = s->rank.idx;
  const float *sim = s->rank.sim;
  for (size_t h = 0; h < v->n; h++) {
    int32_t j = v->items[h];
    if (j < 0 || j >= m->n_items) continue;
    for (int64_t t = ptr[j]; t < ptr[j + 1]; t++) out[idx[t]] += sim[t];
  }
  return 0;
}

/* The listed items' scores: their prior, then every history item's neighbour list added in
 * (those adds also land on unlisted items, which hold leftovers: the contract allows it). */
static int itemknn_score_items(const reco_model *m, const reco_user_view *v, const int32_t *items, size_t n,
                               float *out) {
  const knn_state *s = m->state;
  for (size_t k = 0; k < n; k++) out[items[k]] = s->prior[items[k]];
  const int64_t *ptr = s->rank.ptr;
  const int32_t *idx = s->rank.idx;
  const float *sim = s->rank.sim;
  for (size_t h = 0; h < v->n; h++) {
    int32_t j = v->items[h];
    if (j < 0 || j >= m->n_items) continue;
    for (int64_t t = ptr[j]; t < ptr[j + 1]; t++) out[idx[t]] += sim[t];
  }
  return 0;
}

static int itemknn_similar(const reco_model *m, int32_t item, int k, int32_t *out_items, float *out_scores) {
  const knn_state *s = m->state;
  if (item < 0 || item >= m->n_items) return reco__seterr(RECO_ENOTFOUND, "item %d is unknown to the model", item);
  int64_t a = s->rank.ptr[item], n = s->rank.ptr[item + 1] - a;
  if (k < n) n = k;
  if (n > 0) {
    memcpy(out_items, s->rank.idx + a, (size_t)n * sizeof *out_items);
    if (out_scores) memcpy(out_scores, s->rank.sim + a, (size_t)n * sizeof *out_scores);
  }
  return (int)n;
}

static int finish_explain(reco_topk *h, int32_t *out_items, float *out_weights, bool owned) {
  int n = reco__topk_sort(h);
  for (int j = 0; j < n; j++) {
    out_items[j] = h->id[j];
    if (out_weights) out_weights[j] = h->score[j];
  }
  if (owned) reco__topk_free(h);
  return n;
}

/* Which history items put `item` in the list: their s_ji, largest first. */
static int itemknn_explain(const reco_model *m, const reco_user_view *v, int32_t item, int k, int32_t *out_items,
                           float *out_weights) {
  const knn_state *s = m->state;
  if (item < 0 || item >= m->n_items) return reco__seterr(RECO_ENOTFOUND, "item %d is unknown to the model", item);
  if (k <= 0) return 0;
  /* a small heap lives on the stack, so that the recommend pipeline's reasons allocate nothing */
  float h_score[16];
  int32_t h_id[16];
  reco_topk h = {.k = k, .n = 0, .score = h_score, .id = h_id};
  bool owned = k > 16;
  if (owned) {
    int rc = reco__topk_init(&h, k);
    if (rc) return rc;
  }
  for (size_t x = 0; x < v->n; x++) {
    int32_t j = v->items[x];
    if (j < 0 || j >= m->n_items) continue;
    for (int64_t t = s->rank.ptr[j]; t < s->rank.ptr[j + 1]; t++)
      if (s->rank.idx[t] == item) {
        reco__topk_push(&h, s->rank.sim[t], j);
        break;
      }
  }
  return finish_explain(&h, out_items, out_weights, owned);
}

/*
 * explain with k = 1 for a whole page at once: one walk over the history's neighbour rows, each
 * neighbour looked up in a small open-addressing table of the page's items, instead of one walk
 * per item. Same answer as itemknn_explain (largest s_ji, ties to the smaller history item).
 */
/* explain_many's rule for page item x: the history item j with the largest similarity s_ji,
 * ties to the smaller j */
static inline void keep_reason(int32_t *because, float *weights, int x, int32_t j, float sim) {
  if (because[x] < 0 || sim > weights[x] || (sim == weights[x] && j < because[x])) {
    because[x] = j;
    weights[x] = sim;
  }
}

/* explain_many for a history longer than twice the page: each page item's row of the transposed
 * ranking table against a bitmap of the history (the same (j, s_ji) pairs as the history's lists
 * hold for it, so the same answers) */
enum { EXPL_BITMAP_WORDS = 4096 };
static int explain_reverse(const reco_model *m, const reco_user_view *v, const int32_t *items, int n,
                           int32_t *because, float *weights) {
  const knn_state *s = m->state;
  uint64_t bits[EXPL_BITMAP_WORDS];
  int32_t nw = (m->n_items + 63) / 64;
  memset(bits, 0, (size_t)nw * sizeof *bits);
  for (size_t hx = 0; hx < v->n; hx++) {
    int32_t j = v->items[hx];
    if (j >= 0 && j < m->n_items) bits[j >> 6] |= 1ull << (j & 63);
  }
  for (int x = 0; x < n; x++) {
    because[x] = -1;
    weights[x] = 0;
    int32_t i = items[x];
    if (i < 0 || i >= m->n_items) continue;
    for (int64_t e = s->rrank.ptr[i]; e < s->rrank.ptr[i + 1]; e++) {
      int32_t j = s->rrank.idx[e];
      if (bits[j >> 6] >> (j & 63) & 1) keep_reason(because, weights, x, j, s->rrank.sim[e]);
    }
  }
  return 0;
}

/*
 * explain_many for a page of up to 16 items, on AVX2 / AVX-512 builds: each history item's
 * neighbour list is compared 16 (AVX-512) or 8 (AVX2) entries at a time with every page item,
 * and only the entries that hit one are looked at (usually none in a block). A few vector
 * compares per block instead of a hash probe per entry; same answers as the hashed walk.
 */
#if defined(__AVX512F__) || defined(__AVX2__)
#define KNN_EXPLAIN_VECTOR 1
#if defined(__AVX512F__)
enum { EXPL_LANES = 16 };
#else
enum { EXPL_LANES = 8 };
#endif

#if defined(__AVX512F__)
typedef __m512i expl_vec;
static inline expl_vec expl_splat(int32_t x) { return _mm512_set1_epi32(x); }
#else
typedef __m256i expl_vec;
static inline expl_vec expl_splat(int32_t x) { return _mm256_set1_epi32(x); }
#endif

/* the lanes of idx[0..EXPL_LANES) equal to one of the nw items splatted in want, as a bit mask */
static inline uint32_t expl_hits(const int32_t *idx, const expl_vec *want, int nw) {
  /* four independent accumulators: the compares do not wait on each other */
#if defined(__AVX512F__)
  __m512i blk = _mm512_loadu_si512((const void *)idx);
  uint32_t h0 = 0, h1 = 0, h2 = 0, h3 = 0;
  int w = 0;
  for (; w + 4 <= nw; w += 4) {
    h0 |= _mm512_cmpeq_epi32_mask(blk, want[w]);
    h1 |= _mm512_cmpeq_epi32_mask(blk, want[w + 1]);
    h2 |= _mm512_cmpeq_epi32_mask(blk, want[w + 2]);
    h3 |= _mm512_cmpeq_epi32_mask(blk, want[w + 3]);
  }
  for (; w < nw; w++) h0 |= _mm512_cmpeq_epi32_mask(blk, want[w]);
  return h0 | h1 | h2 | h3;
#else
  __m256i blk = _mm256_loadu_si256((const __m256i *)(const void *)idx);
  __m256i h0 = _mm256_setzero_si256(), h1 = h0, h2 = h0, h3 = h0;
  int w = 0;
  for (; w + 4 <= nw; w += 4) {
    h0 = _mm256_or_si256(h0, _mm256_cmpeq_epi32(blk, want[w]));
    h1 = _mm256_or_si256(h1, _mm256_cmpeq_epi32(blk, want[w + 1]));
    h2 = _mm256_or_si256(h2, _mm256_cmpeq_epi32(blk, want[w + 2]));
    h3 = _mm256_or_si256(h3, _mm256_cmpeq_epi32(blk, want[w + 3]));
  }
  for (; w < nw; w++) h0 = _mm256_or_si256(h0, _mm256_cmpeq_epi32(blk, want[w]));
  __m256i hit = _mm256_or_si256(_mm256_or_si256(h0, h1), _mm256_or_si256(h2, h3));
  return (uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(hit));
#endif
}

static int explain_few(const reco_model *m, const reco_user_view *v, const int32_t *items, int n, int32_t *because,
                       float *weights) {
  const knn_state *s = m->state;
  int32_t want[16], wid[16], pad[EXPL_LANES];
  expl_vec wv[16];
  int nw = 0;
  for (int x = 0; x < n; x++) {
    because[x] = -1;
    weights[x] = 0;
    if (items[x] < 0 || items[x] >= m->n_items) continue;
    wv[nw] = expl_splat(items[x]);
    want[nw] = items[x];
    wid[nw++] = x;
  }
  if (!nw) return 0;
  for (size_t hx = 0; hx < v->n; hx++) {
    int32_t j = v->items[hx];
    if (j < 0 || j >= m->n_items) continue;
    int64_t t = s->rank.ptr[j], end = s->rank.ptr[j + 1];
    for (; t < end; t += EXPL_LANES) {
      const int32_t *blk = s->rank.idx + t;
      if (end - t < EXPL_LANES) { /* the list's tail, padded with an item that is never wanted */
        for (int e = 0; e < EXPL_LANES; e++) pad[e] = t + e < end ? blk[e] : -1;
        blk = pad;
      }
      for (uint32_t hit = expl_hits(blk, wv, nw); hit; hit &= hit - 1) {
        int e = __builtin_ctz(hit);
        for (int w = 0; w < nw; w++)
          if (want[w] == blk[e]) keep_reason(because, weights, wid[w], j, s->rank.sim[t + e]);
      }
    }
  }
  return 0;
}
#endif

static int itemknn_explain_many(const reco_model *m, const reco_user_view *v, const int32_t *items, int n,
                                int32_t *because, float *weights) {
  const knn_state *s = m->state;
  enum { SLOTS = 128 };
  if (n > SLOTS / 2) {
    for (int x = 0; x < n; x++) {
      int e = itemknn_explain(m, v, items[x], 1, &because[x], &weights[x]);
      if (e < 0) return e;
      if (e == 0) because[x] = -1, weights[x] = 0;
    }
    return 0;
  }
  if (s->rrank.ptr && v->n > (size_t)(2 * n) && m->n_items <= 64 * EXPL_BITMAP_WORDS)
    return explain_reverse(m, v, items, n, because, weights);
#ifdef KNN_EXPLAIN_VECTOR
  if (n <= 16) return explain_few(m, v, items, n, because, weights);
#endif
  int32_t key[SLOTS];
  int16_t at[SLOTS];
  for (int h = 0; h < SLOTS; h++) key[h] = -1;
  for (int x = 0; x < n; x++) {
    because[x] = -1;
    weights[x] = 0;
    int32_t i = items[x];
    if (i < 0 || i >= m->n_items) continue;
    unsigned h = ((uint32_t)i * 2654435761u) >> 25;
    while (key[h] >= 0 && key[h] != i) h = (h + 1) & (SLOTS - 1);
    if (key[h] < 0) key[h] = i, at[h] = (int16_t)x;
  }
  for (size_t hx = 0; hx < v->n; hx++) {
    int32_t j = v->items[hx];
    if (j < 0 || j >= m->n_items) continue;
    for (int64_t t = s->rank.ptr[j]; t < s->rank.ptr[j + 1]; t++) {
      int32_t i = s->rank.idx[t];
      unsigned h = ((uint32_t)i * 2654435761u) >> 25;
      while (key[h] >= 0 && key[h] != i) h = (h + 1) & (SLOTS - 1);
      if (key[h] < 0) continue;
      keep_reason(because, weights, at[h], j, s->rank.sim[t]);
    }
  }
  return 0;
}

/*
 * Neighbours of a user known only by a history, with the same ranking similarity as the
 * table (the history is the query row). Up to rank_k into (nb, ns), best first.
 */
static int fold_in_neighbours(const reco_model *m, const reco_user_view *v, int32_t *nb, float *ns, int keep) {
  const knn_state *s = m->state;
  int32_t nu = m->n_users;
  int32_t *cnt = reco__calloc((size_t)(nu ? nu : 1), sizeof *cnt),
          *touched = reco__malloc((size_t)(nu ? nu : 1) * sizeof *touched);
  double *sxy = reco__calloc((size_t)(nu ? nu : 1), sizeof *sxy);
  reco_topk h = {0};
  int rc = (!cnt || !touched || !sxy) ? reco__seterr(RECO_ENOMEM, "out of memory") : reco__topk_init(&h, keep);
  int n = 0;
  if (rc) goto done;
  double nq = 0, qq = 0;
  for (size_t x = 0; x < v->n; x++) nq += v->items[x] >= 0 && v->items[x] < m->n_items;
  int32_t nt = 0;
  for (size_t x = 0; x < v->n; x++) {
    int32_t j = v->items[x];
    if (j < 0 || j >= m->n_items) continue;
    double nj = (double)(s->iptr[j + 1] - s->iptr[j]);
    double idf = weight_idf(s, nj, nu), xq = (float)(weight_tf(s, nq) * idf);
    qq += xq * xq;
    bool bm25 = s->weighting == WT_BM25;
    for (int64_t p = s->iptr[j]; p < s->iptr[j + 1]; p++) {
      int32_t u = s->iuser[p];
      /* the same float as the table's interaction_weight() */
      double y = (float)((bm25 ? weight_tf(s, (double)(s->uptr[u + 1] - s->uptr[u])) : 1.0) * idf);
      if (!cnt[u]++) touched[nt++] = u;
      sxy[u] += xq * y;
    }
  }
  reco_knn_opts o = {.kind = (reco_knn_kind)s->rank_kind,
                     .min_support = 1,
                     .shrink = s->rank_shrink,
                     .alpha = s->alpha,
                     .power = s->rank_power};
  double na_ = s->alpha == 0.5 ? sqrt(qq) : pow(qq, s->alpha);
  for (int32_t t = 0; t < nt; t++) {
    int32_t u = touched[t];
    double nb_ = s->alpha == 0.5 ? sqrt(s->rank_sq[u]) : pow(s->rank_sq[u], 1 - s->alpha);
    double sim = reco__knn_finish(&o, cnt[u], sxy[u], 0, 0, 0, 0, nq, (double)(s->uptr[u + 1] - s->uptr[u]), na_, nb_);
    if (sim > 0 && isfinite(sim)) reco__topk_push(&h, (float)sim, u);
  }
  n = reco__topk_sort(&h);
  memcpy(nb, h.id, (size_t)n * sizeof *nb);
  memcpy(ns, h.score, (size_t)n * sizeof *ns);
  if (s->rank_power != 1)
    for (int x = 0; x < n; x++) ns[x] = powf(ns[x], (float)s->rank_power);
done:
  reco__topk_free(&h);
  reco__free(cnt);
  reco__free(touched);
  reco__free(sxy);
  return rc ? rc : n;
}

/* Neighbours of the view: the table's for a known user, else from the history. */
static int view_neighbours(const reco_model *m, const reco_user_view *v, int32_t **nb, float **ns, bool *owned) {
  const knn_state *s = m->state;
  *owned = false;
  if (v->user >= 0 && v->user < m->n_users) {
    *nb = s->rank.idx + s->rank.ptr[v->user];
    *ns = s->rank.sim + s->rank.ptr[v->user];
    return (int)(s->rank.ptr[v->user + 1] - s->rank.ptr[v->user]);
  }
  int keep = (int)reco__model_param(m, "rank_k");
  *nb = reco__malloc((size_t)keep * sizeof **nb);
  *ns = reco__malloc((size_t)keep * sizeof **ns);
  if (!*nb || !*ns) {
    reco__free(*nb);
    reco__free(*ns);
    return reco__seterr(RECO_ENOMEM, "out of memory");
  }
  *owned = true;
  int n = fold_in_neighbours(m, v, *nb, *ns, keep);
  if (n < 0) {
    reco__free(*nb);
    reco__free(*ns);
    *owned = false;
  }
  return n;
}

static int userknn_score(const reco_model *m, const reco_user_view *v, float *out) {
  const knn_state *s = m->state;
  memcpy(out, s->prior, (size_t)m->n_items * sizeof *out);
  int32_t *nb;
  float *ns;
  bool owned;
  int n = view_neighbours(m, v, &nb, &ns, &owned);
  if (n < 0) return n;
  for (int x = 0; x < n; x++) {
    int32_t u = nb[x];
    for (int64_t p = s->uptr[u]; p < s->uptr[u + 1]; p++) out[s->uitem[p]] += ns[x];
  }
  if (owned) {
    reco__free(nb);
    reco__free(ns);
  }
  return 0;
}

/* Which neighbour users put `item` in the list (user indices, with their similarity). */
static int userknn_explain(const reco_model *m, const reco_user_view *v, int32_t item, int k, int32_t *out_items,
                           float *out_weights) {
  const knn_state *s = m->state;
  if (item < 0 || item >= m->n_items) return reco__seterr(RECO_ENOTFOUND, "item %d is unknown to the model", item);
  if (k <= 0) return 0;
  int32_t *nb;
  float *ns;
  bool owned;
  int n = view_neighbours(m, v, &nb, &ns, &owned);
  if (n < 0) return n;
  reco_topk h;
  int rc = reco__topk_init(&h, k);
  for (int x = 0; !rc && x < n; x++)
    if (reco__knn_find(s->uitem, s->uptr[nb[x]], s->uptr[nb[x] + 1], item) >= 0) reco__topk_push(&h, ns[x], nb[x]);
  if (owned) {
    reco__free(nb);
    reco__free(ns);
  }
  return rc ? rc : finish_explain(&h, out_items, out_weights, true);
}

/* ---- save / load ---- */

static int knn_save(const reco_model *m, reco_mf_writer *w) {
  const knn_state *s = m->state;
  uint64_t nnz = (uint64_t)s->uptr[m->n_users];
  int32_t n_rows = s->user_based ? m->n_users : m->n_items;
  double stats[1] = {s->avg_len};
  int rc;
  if ((rc = reco__mf_section(w, "uptr", RECO_DT_I64, s->uptr, (uint64_t)m->n_users + 1)) ||
      (rc = reco__mf_section(w, "uitem", RECO_DT_I32, s->uitem, nnz)) ||
      (rc = reco__mf_section(w, "uval", RECO_DT_F32, s->uval, nnz)) ||
      (rc = reco__mf_section(w, "bu", RECO_DT_F32, s->bu, (uint64_t)m->n_users)) ||
      (rc = reco__mf_section(w, "bi", RECO_DT_F32, s->bi, (uint64_t)m->n_items)) ||
      (rc = reco__mf_section(w, "mean", RECO_DT_F32, s->mean, (uint64_t)n_rows)) ||
      (rc = reco__mf_section(w, "prior", RECO_DT_F32, s->prior, (uint64_t)m->n_items)) ||
      (rc = reco__mf_section(w, "stats", RECO_DT_F64, stats, 1)) || (rc = reco__knn_table_save(&s->rate, w, "rate")) ||
      (rc = reco__knn_table_save(&s->rank, w, "rank")))
    return rc;
  if (s->user_based || s->user_k) {
    if ((rc = reco__mf_section(w, "iptr", RECO_DT_I64, s->iptr, (uint64_t)m->n_items + 1)) ||
        (rc = reco__mf_section(w, "iuser", RECO_DT_I32, s->iuser, nnz)) ||
        (rc = reco__mf_section(w, "ival", RECO_DT_F32, s->ival, nnz)))
      return rc;
  }
  if (s->user_based && (rc = reco__mf_section(w, "rank_sq", RECO_DT_F32, s->rank_sq, (uint64_t)m->n_users))) return rc;
  if (s->user_k) {
    uint64_t nz = (uint64_t)s->urate.ptr[m->n_users];
    if ((rc = reco__knn_table_save(&s->urate, w, "urate")) || (rc = reco__mf_section(w, "z", RECO_DT_F32, s->z, nz)) ||
        (rc = reco__mf_section(w, "zc", RECO_DT_F32, s->zc, nz)))
      return rc;
  }
  if (s->mode == PR_LEARNED) {
    uint64_t nw = (uint64_t)s->rate.ptr[m->n_items];
    if ((rc = reco__mf_section(w, "lbu", RECO_DT_F32, s->lbu, (uint64_t)m->n_users)) ||
        (rc = reco__mf_section(w, "lbi", RECO_DT_F32, s->lbi, (uint64_t)m->n_items)) ||
        (rc = reco__mf_section(w, "w", RECO_DT_F32, s->w, nw)) ||
        (rc = reco__mf_section(w, "c", RECO_DT_F32, s->c, nw)))
      return rc;
  }
  return 0;
}

/* A CSR read back from a file: monotone pointers and indices within [0, n_cols). */
static int check_csr(const int64_t *ptr, int32_t n_rows, const int32_t *idx, int32_t n_cols, uint64_t nnz,
                     const char *what) {
  if (ptr[0] != 0 || (uint64_t)ptr[n_rows] != nnz) return reco__seterr(RECO_EFORMAT, "section %s: bad extent", what);
  for (int32_t a = 0; a < n_rows; a++)
    if (ptr[a + 1] < ptr[a]) return reco__seterr(RECO_EFORMAT, "section %s is not monotone", what);
  for (uint64_t p = 0; p < nnz; p++)
    if (idx[p] < 0 || idx[p] >= n_cols) return reco__seterr(RECO_EFORMAT, "section %s: index out of range", what);
  return 0;
}

static int knn_load(reco_model *m, const reco_mf_reader *r, bool user_based) {
  knn_state *s = reco__calloc(1, sizeof *s);
  if (!s) return reco__seterr(RECO_ENOMEM, "out of memory for %s", m->algo->name);
  m->state = s;
  s->user_based = user_based;
  read_params(m, s);
  int32_t n_rows = user_based ? m->n_users : m->n_items;
  uint64_t nnz = 0;
  double *stats = NULL;
  int rc;
  if ((rc = reco__mf_copy(r, "uptr", RECO_DT_I64, (int64_t)m->n_users + 1, (void **)&s->uptr, NULL)) ||
      (rc = reco__mf_copy(r, "uitem", RECO_DT_I32, -1, (void **)&s->uitem, &nnz)) ||
      (rc = check_csr(s->uptr, m->n_users, s->uitem, m->n_items, nnz, "uptr")) ||
      (rc = reco__mf_copy(r, "uval", RECO_DT_F32, (int64_t)nnz, (void **)&s->uval, NULL)) ||
      (rc = reco__mf_copy(r, "bu", RECO_DT_F32, m->n_users, (void **)&s->bu, NULL)) ||
      (rc = reco__mf_copy(r, "bi", RECO_DT_F32, m->n_items, (void **)&s->bi, NULL)) ||
      (rc = reco__mf_copy(r, "mean", RECO_DT_F32, n_rows, (void **)&s->mean, NULL)) ||
      (rc = reco__mf_copy(r, "prior", RECO_DT_F32, m->n_items, (void **)&s->prior, NULL)) ||
      (rc = reco__mf_copy(r, "stats", RECO_DT_F64, 1, (void **)&stats, NULL)) ||
      (rc = reco__knn_table_load(&s->rate, r, "rate", n_rows, n_rows)) ||
      (rc = reco__knn_table_load(&s->rank, r, "rank", n_rows, n_rows)))
    goto done;
  s->avg_len = stats[0];
  if (user_based || s->user_k) {
    uint64_t nnz2 = 0;
    if ((rc = reco__mf_copy(r, "iptr", RECO_DT_I64, (int64_t)m->n_items + 1, (void **)&s->iptr, NULL)) ||
        (rc = reco__mf_copy(r, "iuser", RECO_DT_I32, (int64_t)nnz, (void **)&s->iuser, &nnz2)) ||
        (rc = check_csr(s->iptr, m->n_items, s->iuser, m->n_users, nnz2, "iptr")) ||
        (rc = reco__mf_copy(r, "ival", RECO_DT_F32, (int64_t)nnz, (void **)&s->ival, NULL)))
      goto done;
  }
  if (user_based && (rc = reco__mf_copy(r, "rank_sq", RECO_DT_F32, m->n_users, (void **)&s->rank_sq, NULL))) goto done;
  if (s->user_k) {
    if ((rc = reco__knn_table_load(&s->urate, r, "urate", m->n_users, m->n_users)) ||
        (rc = reco__mf_copy(r, "z", RECO_DT_F32, s->urate.ptr[m->n_users], (void **)&s->z, NULL)) ||
        (rc = reco__mf_copy(r, "zc", RECO_DT_F32, s->urate.ptr[m->n_users], (void **)&s->zc, NULL)))
      goto done;
  }
  if (s->mode == PR_LEARNED) {
    int64_t nw = s->rate.ptr[n_rows];
    if ((rc = reco__mf_copy(r, "lbu", RECO_DT_F32, m->n_users, (void **)&s->lbu, NULL)) ||
        (rc = reco__mf_copy(r, "lbi", RECO_DT_F32, m->n_items, (void **)&s->lbi, NULL)) ||
        (rc = reco__mf_copy(r, "w", RECO_DT_F32, nw, (void **)&s->w, NULL)) ||
        (rc = reco__mf_copy(r, "c", RECO_DT_F32, nw, (void **)&s->c, NULL)))
      goto done;
  }
  if (!user_based) rc = build_rrank(s, m->n_items);
done:
  reco__free_aligned(stats);
  return rc;
}

static int itemknn_load(reco_model *m, const reco_mf_reader *r) { return knn_load(m, r, false); }
static int userknn_load(reco_model *m, const reco_mf_reader *r) { return knn_load(m, r, true); }

const reco_algo reco__algo_itemknn = {
    .name = "itemknn",
    .summary = "item-based kNN: learned neighbourhood weights for ratings (Koren 2008), cosine sums for ranking",
    .caps = RECO_CAP_RATING | RECO_CAP_RANKING | RECO_CAP_SIMILAR | RECO_CAP_FOLDIN,
    .params = k_item_params,
    .n_params = RECO_ARRAY_LEN(k_item_params),
    .fit = itemknn_fit,
    .predict = itemknn_predict,
    .score = itemknn_score,
    .similar = itemknn_similar,
    .explain = itemknn_explain,
    .explain_many = itemknn_explain_many,
    .score_items = itemknn_score_items,
    .save = knn_save,
    .load = itemknn_load,
    .free_state = knn_free,
};

const reco_algo reco__algo_userknn = {
    .name = "userknn",
    .summary = "user-based kNN: similarity-weighted neighbour ratings (basic, means, baseline)",
    .caps = RECO_CAP_RATING | RECO_CAP_RANKING | RECO_CAP_FOLDIN,
    .params = k_user_params,
    .n_params = RECO_ARRAY_LEN(k_user_params),
    .fit = userknn_fit,
    .predict = userknn_predict,
    .score = userknn_score,
    .explain = userknn_explain,
    .save = knn_save,
    .load = userknn_load,
    .free_state = knn_free,
};
