/* metrics.c - accumulators for the ranking and rating metrics; definitions in metrics.h. */
#include "metrics.h"

#include <math.h>

void reco__rank_add(reco_rank_acc *a, const int32_t *rec, int n_rec, const int32_t *test, size_t n_test) {
  if (n_test == 0) return;
  int k = a->k;
  double hits = 0, dcg = 0, idcg = 0, ap = 0, rr = 0;
  for (int x = 0; x < n_rec && x < k; x++) {
    if (!reco__sorted_has(test, n_test, rec[x])) continue;
    hits += 1;
    dcg += 1.0 / log2(x + 2.0);
    ap += hits / (x + 1.0);
    if (rr == 0) rr = 1.0 / (x + 1.0);
  }
  size_t m = n_test < (size_t)k ? n_test : (size_t)k;
  for (size_t x = 0; x < m; x++) idcg += 1.0 / log2((double)x + 2.0);
  a->hits += hits;
  a->recall += hits / (double)n_test;
  a->ndcg += dcg / idcg;
  a->ap += ap / (double)m;
  a->rr += rr;
  a->hr += hits > 0;
  a->users++;
}

void reco__rank_add_sampled(reco_rank_acc *a, long rank) {
  if (rank < a->k) {
    a->hits += 1;
    a->recall += 1;
    a->ndcg += 1.0 / log2((double)rank + 2.0);
    a->ap += 1.0 / ((double)rank + 1.0);
    a->rr += 1.0 / ((double)rank + 1.0);
    a->hr += 1;
  }
  a->users++;
}

void reco__rank_merge(reco_rank_acc *into, const reco_rank_acc *f) {
  into->hits += f->hits;
  into->recall += f->recall;
  into->ndcg += f->ndcg;
  into->ap += f->ap;
  into->rr += f->rr;
  into->hr += f->hr;
  into->novelty_sum += f->novelty_sum;
  into->novelty_n += f->novelty_n;
  into->users += f->users;
}

reco_rank_result reco__rank_finish(const reco_rank_acc *a) {
  reco_rank_result r = {0};
  r.users = a->users;
  if (!a->users) return r;
  double n = (double)a->users;
  r.precision = a->hits / ((double)a->k * n);
  r.recall = a->recall / n;
  r.ndcg = a->ndcg / n;
  r.map = a->ap / n;
  r.mrr = a->rr / n;
  r.hr = a->hr / n;
  r.novelty = a->novelty_n ? a->novelty_sum / (double)a->novelty_n : 0;
  return r;
}

double reco__err_rmse(const reco_err_acc *a) { return a->n ? sqrt(a->se / (double)a->n) : 0; }
double reco__err_mae(const reco_err_acc *a) { return a->n ? a->ae / (double)a->n : 0; }
