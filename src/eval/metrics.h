/*
 * metrics.h - the metrics of EVALUATION.md, exactly as defined there:
 *   P@K = sum hits / (K * users); Recall@K = mean hits/|T|; NDCG@K binary with
 *   IDCG over min(K, |T|); MAP@K = mean (sum_{hit at i} P@(i+1)) / min(K, |T|);
 *   MRR = mean 1/rank of the first hit within the cut-off (0 if none); HR@K = share of users
 *   with a hit; coverage = distinct recommended / catalogue; novelty = mean -log2(pop share);
 *   RMSE / MAE over every test rating with predictions clipped to the scale.
 */
#ifndef RECO_METRICS_H
#define RECO_METRICS_H

#include "../base/base.h"

typedef struct reco_rank_acc {
  double hits, recall, ndcg, ap, rr, hr;
  double novelty_sum;
  size_t novelty_n;
  size_t users;
  int k;
} reco_rank_acc;

/* Adds one user's list: rec[0..n_rec) (best first, n_rec <= k) against the sorted test set. */
void reco__rank_add(reco_rank_acc *a, const int32_t *rec, int n_rec, const int32_t *test_sorted, size_t n_test);
/* Adds one user's sampled-negative outcome: rank = number of candidates scoring >= the held-out
 * item (ties count against it, EVALUATION.md "Ties"). */
void reco__rank_add_sampled(reco_rank_acc *a, long rank);
void reco__rank_merge(reco_rank_acc *into, const reco_rank_acc *from);

typedef struct reco_rank_result {
  double precision, recall, ndcg, map, mrr, hr, novelty;
  size_t users;
} reco_rank_result;
reco_rank_result reco__rank_finish(const reco_rank_acc *a);

typedef struct reco_err_acc {
  double se, ae;
  size_t n;
} reco_err_acc;
static inline void reco__err_add(reco_err_acc *a, double pred, double truth) {
  double d = pred - truth;
  a->se += d * d;
  a->ae += d < 0 ? -d : d;
  a->n++;
}
double reco__err_rmse(const reco_err_acc *a);
double reco__err_mae(const reco_err_acc *a);

/* Binary search in a sorted array. */
static inline bool reco__sorted_has(const int32_t *a, size_t n, int32_t x) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = (lo + hi) >> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo < n && a[lo] == x;
}

#endif
