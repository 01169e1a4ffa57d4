/*
 * topk.c - bounded top-k selection: a binary min-heap of size k whose root is the worst kept
 * element, so each candidate costs one comparison unless it enters the heap (O(n log k)).
 * Ties are broken by the smaller id so results are deterministic.
 */
#include "base.h"

int reco__topk_init(reco_topk *t, int k) {
  t->k = k > 0 ? k : 1;
  t->n = 0;
  t->score = reco__malloc((size_t)t->k * sizeof *t->score);
  t->id = reco__malloc((size_t)t->k * sizeof *t->id);
  if (!t->score || !t->id) {
    reco__topk_free(t);
    return reco__seterr(RECO_ENOMEM, "out of memory for a top-%d heap", k);
  }
  return 0;
}

void reco__topk_free(reco_topk *t) {
  reco__free(t->score);
  reco__free(t->id);
  t->score = NULL;
  t->id = NULL;
  t->n = 0;
}

void reco__topk_reset(reco_topk *t) { t->n = 0; }

/* "worse" ordering for the min-heap: a is worse than b */
static inline bool worse(const reco_topk *t, int a, int b) {
  return reco__topk_better(t->score[b], t->id[b], t->score[a], t->id[a]);
}

static void sift_down(reco_topk *t, int i, int n) {
  for (;;) {
    int l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && worse(t, l, m)) m = l;
    if (r < n && worse(t, r, m)) m = r;
    if (m == i) return;
    float s = t->score[i];
    int32_t d = t->id[i];
    t->score[i] = t->score[m];
    t->id[i] = t->id[m];
    t->score[m] = s;
    t->id[m] = d;
    i = m;
  }
}

void reco__topk_push_slow(reco_topk *t, float s, int32_t id) {
  if (t->n < t->k) {
    int i = t->n++;
    t->score[i] = s;
    t->id[i] = id;
    while (i > 0) {
      int p = (i - 1) / 2;
      if (!worse(t, i, p)) break;
      float ts = t->score[i];
      int32_t td = t->id[i];
      t->score[i] = t->score[p];
      t->id[i] = t->id[p];
      t->score[p] = ts;
      t->id[p] = td;
      i = p;
    }
    return;
  }
  t->score[0] = s;
  t->id[0] = id;
  sift_down(t, 0, t->n);
}

int reco__topk_sort(reco_topk *t) {
  /* Heap sort: repeatedly move the worst to the end, giving best-first order. */
  for (int end = t->n - 1; end > 0; end--) {
    float s = t->score[0];
    int32_t d = t->id[0];
    t->score[0] = t->score[end];
    t->id[0] = t->id[end];
    t->score[end] = s;
    t->id[end] = d;
    sift_down(t, 0, end);
  }
  return t->n;
}
