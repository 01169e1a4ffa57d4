/*
 * bpr.c - Bayesian personalised ranking (Rendle, Freudenthaler, Gantner, Schmidt-Thieme 2009,
 * "BPR: Bayesian personalized ranking from implicit feedback") with a matrix-factorisation
 * model x_ui = x_u . y_i + b_i (item bias optional).
 *
 * BPR-Opt (eq. 4) is sum_{(u,i,j)} ln sigma(x_ui - x_uj) - lambda |Theta|^2 over triples of a
 * user, an item the user interacted with and one they did not. LearnBPR (section 4.3, fig. 4)
 * draws the triples with replacement: (u, i) uniformly among the observed pairs, then j
 *   - uniformly among the items (negatives=uniform, the paper's choice), or
 *   - in proportion to (training count)^neg_power (negatives=popular): popular items are more
 *     often informative negatives (cf. Rendle & Freudenthaler 2014, WSDM), drawn from an alias
 *     table in O(1);
 * re-drawn while the user has j. One epoch is nnz draws. The step for a triple, with
 * g = 1 - sigma(x_uij) = sigma(-x_uij), is gradient ascent on ln sigma(x_uij) - reg/2 |.|^2:
 *   x_u += lr (g (y_i - y_j) - reg x_u),  y_i += lr (g x_u - reg y_i),
 *   y_j += lr (-g x_u - reg y_j),         b_i += lr (g - reg_b b_i),  b_j += lr (-g - reg_b b_j)
 * (reco__bpr_step, also used by the finite-difference test).
 *
 * Threads: Hogwild (Recht, Re, Wright, Niu 2011). Each thread owns a contiguous slice of users
 * of about nnz/T interactions and draws its share of the epoch from them with its own generator
 * (seeded by seed, epoch and thread), so user factors are never written by two threads; item
 * factors are shared and updated without locks. With one thread a fit is deterministic for the
 * seed; with several it is not (the unsynchronised item updates interleave differently).
 *
 * Fold-in (a view with user = -1): the item factors stay fixed and x starts at zero; then
 * fold_in_epochs x n_h SGD steps of the same update on x alone (learning rate fold_in_lr: with
 * one vector moving against fixed items a larger step is stable), with the history's items as
 * positives and uniform negatives, from a generator seeded by the history (deterministic).
 * Defaults (10 steps per item at 0.05) put 0.9 of a training user's fold-in top-10 in their
 * trained top-10 on the unit test's data, in ~25 us for a 20-item history at 64 factors.
 */
#include "factors.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

enum { NEG_UNIFORM = 0, NEG_POPULAR = 1 };

/*
 * Defaults, chosen like ials's (als.c) on two validation splits of u1.base, one thread so that
 * runs are comparable: 64 factors and 100 epochs fixed (EVALUATION.md's reference setting);
 * lr x reg over 0.01..0.1 x 0.003..0.1: lr 0.02, reg 0.02 (validation NDCG 0.296; 200 epochs
 * would give 0.300 at twice the time); init_sd 0.1 beats 0.01 (+0.008), item biases help a
 * little (+0.003), popularity-weighted negatives do not on this data (-0.003 at power 0.25,
 * -0.024 at 0.5).
 */
static const reco_param_spec k_params[] = {
    {"factors", RECO_P_INT, 64, 1, RECO_FACTORS_MAX, NULL, "latent factors k"},
    {"epochs", RECO_P_INT, 100, 1, 100000, NULL, "passes of nnz sampled triples"},
    {"lr", RECO_P_FLOAT, 0.02, 0, 100, NULL, "SGD learning rate"},
    {"reg", RECO_P_FLOAT, 0.02, 0, 100, NULL, "L2 penalty on the factors"},
    {"reg_bias", RECO_P_FLOAT, 0.01, 0, 100, NULL, "L2 penalty on the item biases"},
    {"item_bias", RECO_P_BOOL, 1, 0, 1, NULL, "learn an item bias b_i"},
    {"negatives", RECO_P_ENUM, NEG_UNIFORM, 0, 1, "uniform|popular", "how the negative item j is drawn"},
    {"neg_power", RECO_P_FLOAT, 0.5, 0, 4, NULL, "negatives=popular: draw j with probability ~ count^power"},
    {"init_sd", RECO_P_FLOAT, 0.1, 0, 10, NULL, "standard deviation of the initial factors"},
    {"fold_in_epochs", RECO_P_INT, 10, 0, 10000, NULL, "SGD steps per history item when folding in a new user"},
    {"fold_in_lr", RECO_P_FLOAT, 0.05, 0, 100, NULL, "learning rate of the fold-in steps (0 = lr)"},
    {"similar_k", RECO_P_INT, 20, 0, 10000, NULL, "neighbours kept per item for similar()"},
};

typedef struct bpr_state {
  reco_factors f;
} bpr_state;

static void bpr_free(reco_model *m) {
  bpr_state *s = m->state;
  if (!s) return;
  reco__factors_free(&s->f);
  reco__free(s);
  m->state = NULL;
}

/* ln sigma(x), stable for large |x|. */
static inline float log_sigmoid(float x) { return x >= 0 ? -log1pf(expf(-x)) : x - log1pf(expf(x)); }

/* The update of reco__bpr_step without the gradients; returns x_uij before the step. */
static inline float bpr_update(float *restrict xu, float *restrict yi, float *restrict yj, float *bi, float *bj, int k,
                               float lr, float reg, float reg_bias) {
  float x = reco__fdot(xu, yi, k) - reco__fdot(xu, yj, k);
  if (bi && bj) x += *bi - *bj;
  float g = 1.0f / (1.0f + expf(x)); /* sigma(-x) = d ln sigma(x) / dx */
  for (int q = 0; q < k; q++) {
    float xo = xu[q], io = yi[q], jo = yj[q];
    xu[q] = xo + lr * (g * (io - jo) - reg * xo);
    yi[q] = io + lr * (g * xo - reg * io);
    yj[q] = jo + lr * (-g * xo - reg * jo);
  }
  if (bi && bj) {
    float bio = *bi, bjo = *bj;
    *bi = bio + lr * (g - reg_bias * bio);
    *bj = bjo + lr * (-g - reg_bias * bjo);
  }
  return x;
}

float reco__bpr_step(float *xu, float *yi, float *yj, float *bi, float *bj, int k, float lr, float reg, float reg_bias,
                     float *gx, float *gi, float *gj, float *gb) {
  float x = reco__fdot(xu, yi, k) - reco__fdot(xu, yj, k);
  if (bi && bj) x += *bi - *bj;
  float g = 1.0f / (1.0f + expf(x));
  if (gx)
    for (int q = 0; q < k; q++) gx[q] = g * (yi[q] - yj[q]) - reg * xu[q];
  if (gi)
    for (int q = 0; q < k; q++) gi[q] = g * xu[q] - reg * yi[q];
  if (gj)
    for (int q = 0; q < k; q++) gj[q] = -g * xu[q] - reg * yj[q];
  if (gb) {
    gb[0] = bi ? g - reg_bias * *bi : 0;
    gb[1] = bj ? -g - reg_bias * *bj : 0;
  }
  if (lr != 0 && yi != yj) bpr_update(xu, yi, yj, bi, bj, k, lr, reg, reg_bias);
  return log_sigmoid(x);
}

/* Whether the user's sorted CSR row holds item j. */
static inline bool row_has(const int32_t *row, int64_t n, int32_t j) {
  int64_t lo = 0, hi = n - 1;
  while (lo <= hi) {
    int64_t mid = (lo + hi) >> 1;
    if (row[mid] == j) return true;
    if (row[mid] < j) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

static uint64_t mix_seed(uint64_t a, uint64_t b, uint64_t c) {
  uint64_t h = a * 0x9e3779b97f4a7c15ULL ^ (b + 0x632be59bd9b4e019ULL) * 0xbf58476d1ce4e5b9ULL;
  return (h ^ (c + 0x94d049bb133111ebULL) * 0xd6e8feb86659fd93ULL) + c;
}

static int bpr_fit(reco_model *m, const reco_dataset *d, const reco_progress *pr) {
  bpr_state *s = reco__calloc(1, sizeof *s);
  if (!s) return reco__seterr(RECO_ENOMEM, "out of memory for bpr");
  m->state = s;
  int k = (int)reco__model_param(m, "factors"), epochs = (int)reco__model_param(m, "epochs");
  float lr = (float)reco__model_param(m, "lr"), reg = (float)reco__model_param(m, "reg");
  float reg_b = (float)reco__model_param(m, "reg_bias");
  bool bias = reco__model_param(m, "item_bias") != 0;
  int neg = (int)reco__model_param(m, "negatives");
  int rc = reco__factors_alloc(&s->f, d->n_users, d->n_items, k, false, bias);
  if (rc) return rc;
  double sd = reco__model_param(m, "init_sd");
  reco__factors_randn(s->f.U, (size_t)d->n_users * k, sd, m->seed * 2 + 1);
  reco__factors_randn(s->f.V, (size_t)d->n_items * k, sd, m->seed * 2 + 2);
  if (d->nnz == 0 || d->n_items < 2) return reco__factors_similar_build(&s->f, (int)reco__model_param(m, "similar_k"));

  int nth = m->threads > 0 ? m->threads : 1;
  if ((int64_t)nth > d->n_users) nth = d->n_users > 0 ? d->n_users : 1;
  /* user slices of about nnz / nth interactions each; pos_user maps a CSR position to its user */
  int32_t *lo = reco__malloc((size_t)(nth + 1) * sizeof *lo);
  int32_t *pos_user = reco__malloc(d->nnz * sizeof *pos_user);
  double *lsum = reco__calloc((size_t)nth, sizeof *lsum);
  int64_t *lcnt = reco__calloc((size_t)nth, sizeof *lcnt);
  reco_alias alias = {0};
  if (!lo || !pos_user || !lsum || !lcnt) {
    rc = reco__seterr(RECO_ENOMEM, "out of memory for bpr");
    goto done;
  }
  for (int32_t u = 0; u < d->n_users; u++)
    for (int64_t p = d->uptr[u]; p < d->uptr[u + 1]; p++) pos_user[p] = u;
  lo[0] = 0;
  for (int t = 1; t < nth; t++) {
    int64_t target = (int64_t)((double)d->nnz * t / nth);
    int32_t u = lo[t - 1];
    while (u < d->n_users && d->uptr[u] < target) u++;
    lo[t] = u;
  }
  lo[nth] = d->n_users;
  if (neg == NEG_POPULAR) {
    double *w = reco__malloc((size_t)d->n_items * sizeof *w);
    if (!w) {
      rc = reco__seterr(RECO_ENOMEM, "out of memory for bpr");
      goto done;
    }
    double pw = reco__model_param(m, "neg_power");
    for (int32_t i = 0; i < d->n_items; i++) w[i] = pow((double)(d->iptr[i + 1] - d->iptr[i]) + 1.0, pw);
    rc = reco__alias_init(&alias, w, d->n_items);
    reco__free(w);
    if (rc) goto done;
  }
  float *U = s->f.U, *V = s->f.V, *bi = s->f.bi;
  for (int e = 0; e < epochs; e++) {
#pragma omp parallel num_threads(nth)
    {
      int t0 = 0, step = 1;
#ifdef _OPENMP
      t0 = omp_get_thread_num();
      step = omp_get_num_threads();
#endif
      /* slice t with generator (seed, epoch, t), whichever thread runs it */
      for (int t = t0; t < nth; t += step) {
        reco_rng rng;
        reco__rng_seed(&rng, mix_seed(m->seed, (uint64_t)e, (uint64_t)t));
        int64_t p0 = d->uptr[lo[t]], np = d->uptr[lo[t + 1]] - p0;
        double ls = 0;
        int64_t cnt = 0;
        for (int64_t q = 0; q < np; q++) {
          int64_t p = p0 + (int64_t)reco__rng_below(&rng, (uint64_t)np);
          int32_t u = pos_user[p], i = d->uitem[p], j = -1;
          const int32_t *row = d->uitem + d->uptr[u];
          int64_t rn = d->uptr[u + 1] - d->uptr[u];
          if (rn >= d->n_items) continue; /* the user has every item: no negative */
          for (int tries = 0; tries < 32; tries++) {
            int32_t c = neg == NEG_POPULAR ? reco__alias_draw(&alias, &rng)
                                           : (int32_t)reco__rng_below(&rng, (uint64_t)d->n_items);
            if (!row_has(row, rn, c)) {
              j = c;
              break;
            }
          }
          if (j < 0) continue;
          float x = bpr_update(U + (size_t)u * k, V + (size_t)i * k, V + (size_t)j * k, bias ? bi + i : NULL,
                               bias ? bi + j : NULL, k, lr, reg, reg_b);
          if ((q & 7) == 0) { /* the curve's loss: an unbiased estimate from every 8th triple */
            ls += log_sigmoid(x);
            cnt++;
          }
        }
        lsum[t] = ls;
        lcnt[t] = cnt;
      }
    }
    double l = 0;
    int64_t c = 0;
    for (int t = 0; t < nth; t++) l += lsum[t], c += lcnt[t];
    if ((rc = reco__model_curve_add(m, pr, e + 1, epochs, c ? -l / (double)c : 0, NAN))) goto done;
  }
  rc = reco__factors_similar_build(&s->f, (int)reco__model_param(m, "similar_k"));
done:
  reco__free(lo);
  reco__free(pos_user);
  reco__free(lsum);
  reco__free(lcnt);
  reco__alias_free(&alias);
  return rc;
}

/* ---- fold-in and scoring ---- */

static bool hist_has(const reco_user_view *v, bool sorted, int32_t j) {
  if (sorted) return row_has(v->items, (int64_t)v->n, j);
  for (size_t h = 0; h < v->n; h++)
    if (v->items[h] == j) return true;
  return false;
}

/* x = the user factors of a history: SGD on x alone with the item factors fixed. */
static void bpr_fold_in(const reco_model *m, const reco_user_view *v, float *x) {
  const bpr_state *s = m->state;
  int k = s->f.k;
  int32_t ni = m->n_items;
  memset(x, 0, (size_t)k * sizeof *x);
  size_t nv = 0;
  bool sorted = true;
  uint64_t h = m->seed;
  for (size_t q = 0; q < v->n; q++) {
    nv += v->items[q] >= 0 && v->items[q] < ni;
    if (q && v->items[q] < v->items[q - 1]) sorted = false;
    h = mix_seed(h, (uint64_t)(uint32_t)v->items[q], q);
  }
  if (!nv || ni < 2) return;
  bool check = sorted || v->n <= 64; /* long unsorted histories: unchecked negatives, rarely wrong */
  float lr = (float)reco__model_param(m, "fold_in_lr"), reg = (float)reco__model_param(m, "reg");
  if (!(lr > 0)) lr = (float)reco__model_param(m, "lr");
  int64_t steps = (int64_t)reco__model_param(m, "fold_in_epochs") * (int64_t)nv;
  if (steps > 50000) steps = 50000;
  reco_rng rng;
  reco__rng_seed(&rng, h);
  for (int64_t t = 0; t < steps; t++) {
    int32_t i = v->items[reco__rng_below(&rng, v->n)];
    if (i < 0 || i >= ni) continue;
    int32_t j = -1;
    for (int tries = 0; tries < 32 && j < 0; tries++) {
      int32_t c = (int32_t)reco__rng_below(&rng, (uint64_t)ni);
      if (!check || !hist_has(v, sorted, c)) j = c;
    }
    if (j < 0) continue;
    const float *yi = s->f.V + (size_t)i * k, *yj = s->f.V + (size_t)j * k;
    float xu = 0;
    for (int q = 0; q < k; q++) xu += x[q] * (yi[q] - yj[q]);
    if (s->f.bi) xu += s->f.bi[i] - s->f.bi[j];
    float g = 1.0f / (1.0f + expf(xu));
    for (int q = 0; q < k; q++) x[q] += lr * (g * (yi[q] - yj[q]) - reg * x[q]);
  }
}

static int bpr_score(const reco_model *m, const reco_user_view *v, float *out) {
  const bpr_state *s = m->state;
  int k = s->f.k;
  if (v->user >= 0 && v->user < m->n_users) {
    reco__factors_score(&s->f, s->f.U + (size_t)v->user * k, 0, out);
    return 0;
  }
  float x[RECO_FACTORS_MAX];
  bpr_fold_in(m, v, x);
  reco__factors_score(&s->f, x, 0, out);
  return 0;
}

static int bpr_similar(const reco_model *m, int32_t item, int k, int32_t *out_items, float *out_scores) {
  const bpr_state *s = m->state;
  return reco__factors_similar(&s->f, item, k, out_items, out_scores);
}

/* The history items whose factors point the most the item's way: y_j . y_i. */
static int bpr_explain(const reco_model *m, const reco_user_view *v, int32_t item, int k, int32_t *out_items,
                       float *out_weights) {
  const bpr_state *s = m->state;
  if (item < 0 || item >= m->n_items) return reco__seterr(RECO_ENOTFOUND, "item %d is unknown to the model", item);
  if (k <= 0 || v->n == 0) return 0;
  reco_topk h;
  int rc = reco__topk_init(&h, k);
  if (rc) return rc;
  const float *yi = s->f.V + (size_t)item * s->f.k;
  for (size_t x = 0; x < v->n; x++) {
    int32_t j = v->items[x];
    if (j < 0 || j >= m->n_items) continue;
    reco__topk_push(&h, reco__fdot(s->f.V + (size_t)j * s->f.k, yi, s->f.k), j);
  }
  int n = reco__topk_sort(&h);
  for (int j = 0; j < n; j++) {
    out_items[j] = h.id[j];
    if (out_weights) out_weights[j] = h.score[j];
  }
  reco__topk_free(&h);
  return n;
}

static int bpr_save(const reco_model *m, reco_mf_writer *w) {
  const bpr_state *s = m->state;
  return reco__factors_save(&s->f, w);
}

static int bpr_load(reco_model *m, const reco_mf_reader *r) {
  bpr_state *s = reco__calloc(1, sizeof *s);
  if (!s) return reco__seterr(RECO_ENOMEM, "out of memory for bpr");
  m->state = s;
  return reco__factors_load(&s->f, r, m->n_users, m->n_items, (int)reco__model_param(m, "factors"), false,
                            reco__model_param(m, "item_bias") != 0);
}

const reco_algo reco__algo_bpr = {
    .name = "bpr",
    .summary = "Bayesian personalised ranking, matrix factorisation by Hogwild SGD (Rendle et al. 2009)",
    .caps = RECO_CAP_RANKING | RECO_CAP_SIMILAR | RECO_CAP_FOLDIN,
    .params = k_params,
    .n_params = RECO_ARRAY_LEN(k_params),
    .fit = bpr_fit,
    .score = bpr_score,
    .similar = bpr_similar,
    .explain = bpr_explain,
    .save = bpr_save,
    .load = bpr_load,
    .free_state = bpr_free,
};
