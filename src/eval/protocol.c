/*
 * protocol.c - runs the protocols of EVALUATION.md. Each protocol turns the data into one or
 * more folds (train, test, optional sampled negatives); each algorithm is fitted on every fold
 * and measured with the metrics of metrics.h, with the same folds and negatives for every
 * algorithm of a comparison. Users are scored in parallel (OpenMP, static chunks, accumulators
 * merged in thread order so results are identical run to run for a thread count).
 */
#include "protocol.h"

#include <ctype.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../data/load.h"
#include "../data/split.h"

typedef enum { P_RATE_U1, P_RATE_5F, P_TOPN_U1, P_TOPN_U1_GE4, P_LOO, P_SEQ, P_COLD_USER, P_COLD_ITEM, P_GIVEN } proto_id;

static const struct {
  const char *name;
  proto_id id;
} k_protocols[] = {{"RATE-U1", P_RATE_U1}, {"RATE-5F", P_RATE_5F}, {"TOPN-U1", P_TOPN_U1},
                   {"TOPN-U1-GE4", P_TOPN_U1_GE4}, {"LOO", P_LOO}, {"SEQ", P_SEQ},
                   {"COLD-USER", P_COLD_USER}, {"COLD-ITEM", P_COLD_ITEM}, {"GIVEN", P_GIVEN}};

typedef struct fold {
  reco_dataset *train, *test;
  int32_t *neg;     /* per user index (n_users x n_neg), or NULL */
  int n_neg;
  uint8_t *neg_has; /* per user: negatives present */
} fold;

static void fold_free(fold *f) {
  reco_dataset_free(f->train);
  reco_dataset_free(f->test);
  reco__free(f->neg);
  reco__free(f->neg_has);
  memset(f, 0, sizeof *f);
}

/* ---- result helpers ---- */

static void put(reco_eval_result *r, const char *name, double v) {
  for (int j = 0; j < r->n_metrics; j++)
    if (!strcmp(r->metrics[j].name, name)) {
      r->metrics[j].value = v;
      return;
    }
  if (r->n_metrics == RECO_EVAL_MAX_METRICS) return;
  snprintf(r->metrics[r->n_metrics].name, sizeof r->metrics[0].name, "%s", name);
  r->metrics[r->n_metrics++].value = v;
}

double reco__eval_metric(const reco_eval_result *r, const char *name) {
  for (int j = 0; j < r->n_metrics; j++)
    if (!strcmp(r->metrics[j].name, name)) return r->metrics[j].value;
  return NAN;
}

int reco__eval_apply_sets(reco_model *m, const char *const *sets, int n_sets) {
  for (int s = 0; s < n_sets; s++) {
    const char *eq = strchr(sets[s], '=');
    if (!eq) return reco__seterr(RECO_EINVAL, "--set %s: expected ALGO.KEY=VALUE", sets[s]);
    const char *dot = memchr(sets[s], '.', (size_t)(eq - sets[s]));
    const char *key = sets[s];
    if (dot) {
      size_t al = (size_t)(dot - sets[s]);
      if (strlen(m->algo->name) != al || strncmp(sets[s], m->algo->name, al) != 0) continue;
      key = dot + 1;
    }
    char k[64];
    size_t kl = (size_t)(eq - key);
    if (kl >= sizeof k) return reco__seterr(RECO_EINVAL, "--set %s: key too long", sets[s]);
    memcpy(k, key, kl);
    k[kl] = '\0';
    int rc = reco__model_set(m, k, eq + 1);
    if (rc) return rc;
  }
  return 0;
}

/* ---- data preparation ---- */

static bool is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

/* Loads u.item (when present) then BASE and TEST into one dataset; part marks the test rows. */
static int load_pair(const char *items_path, const char *base, const char *test, reco_dataset **all, uint8_t **part) {
  *all = NULL;
  *part = NULL;
  reco_dataset *ds = reco__ds_new();
  if (!ds) return reco__seterr(RECO_ENOMEM, "out of memory");
  int rc = 0;
  if (items_path && exists(items_path)) rc = reco__load_ml100k_items(ds, items_path);
  if (!rc) rc = reco__load_into(ds, base, NULL);
  size_t n_base = ds->n;
  if (!rc) rc = reco__load_into(ds, test, NULL);
  if (!rc) rc = reco__ds_finalize(ds);
  uint8_t *p = rc ? NULL : reco__malloc(ds->n ? ds->n : 1);
  if (!rc && !p) rc = reco__seterr(RECO_ENOMEM, "out of memory");
  if (rc) {
    reco_dataset_free(ds);
    return rc;
  }
  for (size_t k = 0; k < ds->n; k++) p[k] = k < n_base ? RECO_PART_TRAIN : RECO_PART_TEST;
  *all = ds;
  *part = p;
  return 0;
}

static int make_fold(const reco_dataset *all, const uint8_t *part, fold *f, float min_value) {
  uint8_t *keep = reco__malloc(all->n ? all->n : 1);
  if (!keep) return reco__seterr(RECO_ENOMEM, "out of memory");
  for (size_t k = 0; k < all->n; k++) keep[k] = part[k] == RECO_PART_TRAIN && all->v[k] >= min_value;
  int rc = reco__ds_subset(all, keep, &f->train);
  for (size_t k = 0; !rc && k < all->n; k++) keep[k] = part[k] == RECO_PART_TEST && all->v[k] >= min_value;
  if (!rc) rc = reco__ds_subset(all, keep, &f->test);
  reco__free(keep);
  if (!rc) {
    f->train->has_values = f->test->has_values = all->has_values;
  }
  return rc;
}

static int add_negatives(const reco_dataset *all, fold *f, int n_neg, uint64_t seed) {
  /* negatives never include any item the user interacted with in the whole data */
  f->n_neg = n_neg;
  f->neg = reco__malloc((size_t)all->n_users * (size_t)n_neg * sizeof *f->neg);
  f->neg_has = reco__calloc((size_t)all->n_users, 1);
  if (!f->neg || !f->neg_has) return reco__seterr(RECO_ENOMEM, "out of memory for negatives");
  for (int32_t u = 0; u < all->n_users; u++) {
    if (f->test->uptr[u + 1] == f->test->uptr[u]) continue;
    int rc = reco__sample_negatives(all, &u, 1, n_neg, seed, f->neg + (size_t)u * n_neg);
    if (rc) return rc;
    f->neg_has[u] = 1;
  }
  return 0;
}

/* Negatives file for GIVEN: lines "user neg1 neg2 ..." (whitespace or comma separated). */
static int load_negatives(const reco_dataset *all, const char *path, fold *f) {
  FILE *fp = fopen(path, "r");
  if (!fp) return reco__seterr(RECO_EIO, "%s: cannot open", path);
  char *line = NULL;
  size_t cap = 0, lineno = 0;
  ssize_t len;
  int rc = 0;
  f->neg_has = reco__calloc((size_t)all->n_users, 1);
  if (!f->neg_has) rc = reco__seterr(RECO_ENOMEM, "out of memory");
  while (!rc && (len = getline(&line, &cap, fp)) > 0) {
    lineno++;
    char *save, *tok = strtok_r(line, " \t,\r\n", &save);
    if (!tok) continue;
    int32_t u = reco__idmap_get(all->users, tok, strlen(tok));
    if (u < 0) {
      rc = reco__seterr(RECO_EFORMAT, "%s:%zu:1: unknown user '%s'", path, lineno, tok);
      break;
    }
    int cnt = 0;
    int32_t buf[4096];
    while ((tok = strtok_r(NULL, " \t,\r\n", &save))) {
      int32_t i = reco__idmap_get(all->items, tok, strlen(tok));
      if (i < 0) {
        rc = reco__seterr(RECO_EFORMAT, "%s:%zu: unknown item '%s'", path, lineno, tok);
        break;
      }
      if (cnt == 4096) {
        rc = reco__seterr(RECO_ELIMIT, "%s:%zu: more than 4096 negatives", path, lineno);
        break;
      }
      buf[cnt++] = i;
    }
    if (rc) break;
    if (!f->neg) {
      f->n_neg = cnt;
      f->neg = reco__malloc((size_t)all->n_users * (size_t)(cnt ? cnt : 1) * sizeof *f->neg);
      if (!f->neg) rc = reco__seterr(RECO_ENOMEM, "out of memory");
    } else if (cnt != f->n_neg) {
      rc = reco__seterr(RECO_EFORMAT, "%s:%zu: %d negatives, earlier lines have %d", path, lineno, cnt, f->n_neg);
    }
    if (!rc) {
      memcpy(f->neg + (size_t)u * f->n_neg, buf, (size_t)cnt * sizeof *buf);
      f->neg_has[u] = 1;
    }
  }
  free(line);
  fclose(fp);
  return rc;
}

/* ---- measuring ---- */

typedef struct thread_acc {
  reco_rank_acc rank, sampled;
  reco_err_acc err;
  double *times;
  size_t n_times;
  uint8_t *seen_item; /* coverage */
  int rc;
} thread_acc;

static int cmp_dbl(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, size_t n) {
  if (!n) return 0;
  qsort(v, n, sizeof *v, cmp_dbl);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Item popularity in training (number of distinct users), for novelty. */
static double novelty_of(const reco_dataset *train, int32_t item) {
  int64_t c = train->iptr[item + 1] - train->iptr[item];
  double users = train->n_users > 0 ? (double)train->n_users : 1.0;
  /* -log2(share of users who interacted); unseen items count as one interaction */
  return -log2((double)(c > 0 ? c : 1) / users);
}

/* Rating metrics over every test interaction. */
static void measure_rating(const reco_model *m, const fold *f, reco_eval_result *r) {
  reco_err_acc acc = {0};
  double t0 = reco__now();
  const reco_dataset *t = f->test;
  for (size_t k = 0; k < t->n; k++) reco__err_add(&acc, reco__model_predict(m, t->u[k], t->i[k]), t->v[k]);
  r->predict_s += reco__now() - t0;
  put(r, "rmse", reco__err_rmse(&acc));
  put(r, "mae", reco__err_mae(&acc));
}

/*
 * Ranking over the full catalogue (train items excluded) and, when the fold has negatives,
 * against the sampled negatives. Every user with test items counts.
 */
static int measure_ranking(const reco_model *m, const fold *f, int k, reco_rank_acc *full, reco_rank_acc *sampled,
                           uint8_t *seen_all, double *rec_us, size_t *n_users_out) {
  const reco_dataset *tr = f->train, *te = f->test;
  int nth = omp_get_max_threads();
  thread_acc *acc = reco__calloc((size_t)nth, sizeof *acc);
  if (!acc) return reco__seterr(RECO_ENOMEM, "out of memory");
  int32_t *users = reco__malloc((size_t)(te->n_users ? te->n_users : 1) * sizeof *users);
  if (!users) {
    reco__free(acc);
    return reco__seterr(RECO_ENOMEM, "out of memory");
  }
  size_t nu = 0;
  for (int32_t u = 0; u < te->n_users; u++)
    if (te->uptr[u + 1] > te->uptr[u]) users[nu++] = u;
#pragma omp parallel num_threads(nth)
  {
    int t = omp_get_thread_num();
    thread_acc *a = &acc[t];
    a->rank.k = a->sampled.k = k;
    float *scratch = reco__aligned_alloc((size_t)(m->n_items ? m->n_items : 1) * sizeof(float));
    int32_t *rec = reco__malloc((size_t)k * sizeof *rec);
    a->times = reco__malloc((nu ? nu : 1) * sizeof *a->times);
    a->seen_item = reco__calloc((size_t)(m->n_items ? m->n_items : 1), 1);
    reco_topk heap = {0};
    if (!scratch || !rec || !a->times || !a->seen_item || reco__topk_init(&heap, k)) a->rc = RECO_ENOMEM;
#pragma omp for schedule(static, 16)
    for (size_t x = 0; x < nu; x++) {
      if (a->rc) continue;
      int32_t u = users[x];
      reco_user_view v = reco__view_of(tr, u);
      if (u >= m->n_users) v.user = -1;
      const int32_t *excl = v.items;
      size_t n_excl = v.n;
      double t0 = reco__now();
      int n = reco__model_recommend(m, &v, excl, n_excl, k, scratch, &heap, rec, NULL);
      a->times[a->n_times++] = (reco__now() - t0) * 1e6;
      if (n < 0) {
        a->rc = n;
        continue;
      }
      const int32_t *test = te->uitem + te->uptr[u];
      size_t n_test = (size_t)(te->uptr[u + 1] - te->uptr[u]);
      reco__rank_add(&a->rank, rec, n, test, n_test);
      for (int j = 0; j < n; j++) {
        a->seen_item[rec[j]] = 1;
        a->rank.novelty_sum += novelty_of(tr, rec[j]);
        a->rank.novelty_n++;
      }
      if (f->neg && f->neg_has[u]) {
        /* scratch still holds this user's scores for every item */
        const int32_t *neg = f->neg + (size_t)u * f->n_neg;
        for (size_t q = 0; q < n_test; q++) {
          float s = scratch[test[q]];
          long rank = 0;
          for (int j = 0; j < f->n_neg; j++) rank += !(scratch[neg[j]] < s); /* ties count against */
          reco__rank_add_sampled(&a->sampled, rank);
        }
      }
    }
    reco__free_aligned(scratch);
    reco__free(rec);
    reco__topk_free(&heap);
  }
  int rc = 0;
  double *all_times = reco__malloc((nu ? nu : 1) * sizeof *all_times);
  size_t nt = 0;
  full->k = sampled->k = k;
  for (int t = 0; t < nth; t++) {
    if (acc[t].rc && !rc) rc = acc[t].rc;
    reco__rank_merge(full, &acc[t].rank);
    reco__rank_merge(sampled, &acc[t].sampled);
    if (acc[t].seen_item)
      for (int32_t i = 0; i < m->n_items; i++) seen_all[i] |= acc[t].seen_item[i];
    if (all_times)
      for (size_t q = 0; q < acc[t].n_times; q++) all_times[nt++] = acc[t].times[q];
    reco__free(acc[t].times);
    reco__free(acc[t].seen_item);
  }
  *rec_us = all_times ? median(all_times, nt) : 0;
  *n_users_out = nu;
  reco__free(all_times);
  reco__free(acc);
  reco__free(users);
  if (rc == RECO_ENOMEM && !*reco_last_error()) reco__seterr(rc, "out of memory while ranking");
  return rc;
}

static void put_rank(reco_eval_result *r, const char *prefix, const reco_rank_result *x, int k, bool full) {
  char name[32];
  if (full) {
    snprintf(name, sizeof name, "%sp@%d", prefix, k), put(r, name, x->precision);
    snprintf(name, sizeof name, "%srecall@%d", prefix, k), put(r, name, x->recall);
  }
  snprintf(name, sizeof name, "%sndcg@%d", prefix, k), put(r, name, x->ndcg);
  if (full) snprintf(name, sizeof name, "%smap@%d", prefix, k), put(r, name, x->map);
  snprintf(name, sizeof name, "%smrr", prefix), put(r, name, x->mrr);
  snprintf(name, sizeof name, "%shr@%d", prefix, k), put(r, name, x->hr);
}

/* Fits a fresh model of `algo` on f->train. */
static int fit_model(const char *algo, const reco_eval_opts *o, const reco_dataset *train, reco_model **out) {
  reco_model *m;
  int rc = reco__model_new(algo, &m);
  if (rc) return rc;
  m->seed = o->seed;
  rc = reco__eval_apply_sets(m, o->sets, o->n_sets);
  if (!rc) rc = reco__model_fit(m, train, &o->progress);
  if (rc) {
    reco__model_free(m);
    return rc;
  }
  *out = m;
  return 0;
}

/* ---- the protocols ---- */

typedef struct fold_set {
  fold *f;
  int n;
  reco_dataset *all;
} fold_set;

static void folds_free(fold_set *fs) {
  for (int j = 0; j < fs->n; j++) fold_free(&fs->f[j]);
  reco__free(fs->f);
  reco_dataset_free(fs->all);
  memset(fs, 0, sizeof *fs);
}

static int prepare_u_folds(const reco_eval_opts *o, int n_folds, float min_value, fold_set *fs) {
  if (!is_dir(o->data))
    return reco__seterr(RECO_EINVAL, "%s: the %s protocol needs the ml-100k folder (with u1.base .. u5.test)", o->data,
                        o->protocol);
  fs->f = reco__calloc((size_t)n_folds, sizeof *fs->f);
  if (!fs->f) return reco__seterr(RECO_ENOMEM, "out of memory");
  for (int j = 0; j < n_folds; j++) {
    char items[1024], base[1024], test[1024];
    snprintf(items, sizeof items, "%s/u.item", o->data);
    snprintf(base, sizeof base, "%s/u%d.base", o->data, j + 1);
    snprintf(test, sizeof test, "%s/u%d.test", o->data, j + 1);
    if (!exists(base) || !exists(test))
      return reco__seterr(RECO_ENOTFOUND, "%s: no u%d.base/u%d.test: the %s protocol needs the ml-100k folder", o->data,
                          j + 1, j + 1, o->protocol);
    reco_dataset *all;
    uint8_t *part;
    int rc = load_pair(items, base, test, &all, &part);
    if (rc) return rc;
    rc = make_fold(all, part, &fs->f[j], min_value);
    reco__free(part);
    fs->n = j + 1;
    if (j == 0) fs->all = all;
    else reco_dataset_free(all);
    if (rc) return rc;
  }
  return 0;
}

static int prepare(const reco_eval_opts *o, proto_id id, fold_set *fs) {
  memset(fs, 0, sizeof *fs);
  switch (id) {
  case P_RATE_U1:
  case P_TOPN_U1: return prepare_u_folds(o, 1, -INFINITY, fs);
  case P_TOPN_U1_GE4: return prepare_u_folds(o, 1, 4.0f, fs);
  case P_RATE_5F: return prepare_u_folds(o, 5, -INFINITY, fs);
  case P_GIVEN: {
    if (!o->train_path || !o->test_path) return reco__seterr(RECO_EINVAL, "GIVEN needs --train PATH and --test PATH");
    uint8_t *part;
    int rc = load_pair(NULL, o->train_path, o->test_path, &fs->all, &part);
    if (rc) return rc;
    fs->f = reco__calloc(1, sizeof *fs->f);
    if (!fs->f) rc = reco__seterr(RECO_ENOMEM, "out of memory");
    else {
      fs->n = 1;
      rc = make_fold(fs->all, part, &fs->f[0], -INFINITY);
    }
    reco__free(part);
    if (!rc && o->neg_path) rc = load_negatives(fs->all, o->neg_path, &fs->f[0]);
    return rc;
  }
  case P_LOO:
  case P_SEQ:
  case P_COLD_USER:
  case P_COLD_ITEM: {
    int rc = reco_dataset_load(o->data, NULL, &fs->all);
    if (rc) return rc;
    fs->f = reco__calloc(1, sizeof *fs->f);
    uint8_t *part = reco__malloc(fs->all->n ? fs->all->n : 1);
    if (!fs->f || !part) {
      reco__free(part);
      return reco__seterr(RECO_ENOMEM, "out of memory");
    }
    fs->n = 1;
    if (id == P_LOO || id == P_SEQ) {
      rc = reco__split_loo(fs->all, id == P_SEQ, part);
      /* SEQ's validation item is held out of training too (it is the tuning target) */
    } else if (id == P_COLD_USER) {
      uint8_t *sel = reco__malloc((size_t)(fs->all->n_users ? fs->all->n_users : 1));
      rc = sel ? reco__split_pick(fs->all->n_users, o->frac > 0 ? o->frac : 0.1, o->seed, sel) : RECO_ENOMEM;
      for (size_t k = 0; !rc && k < fs->all->n; k++) part[k] = sel[fs->all->u[k]] ? RECO_PART_TEST : RECO_PART_TRAIN;
      reco__free(sel);
    } else {
      uint8_t *sel = reco__malloc((size_t)(fs->all->n_items ? fs->all->n_items : 1));
      rc = sel ? reco__split_pick(fs->all->n_items, o->frac > 0 ? o->frac : 0.1, o->seed, sel) : RECO_ENOMEM;
      for (size_t k = 0; !rc && k < fs->all->n; k++) part[k] = sel[fs->all->i[k]] ? RECO_PART_TEST : RECO_PART_TRAIN;
      reco__free(sel);
    }
    if (!rc) rc = make_fold(fs->all, part, &fs->f[0], -INFINITY);
    reco__free(part);
    if (!rc && (id == P_LOO || id == P_SEQ))
      rc = add_negatives(fs->all, &fs->f[0], o->n_neg > 0 ? o->n_neg : (id == P_SEQ ? 100 : 99), o->seed);
    return rc;
  }
  }
  return reco__seterr(RECO_EINVAL, "unknown protocol");
}

/* COLD-USER: held-out users give their first n interactions (by time) as history. */
static int measure_cold_user(const reco_model *m, const fold *f, int k, reco_eval_result *r) {
  static const int k_given[] = {1, 3, 5};
  const reco_dataset *te = f->test;
  float *scratch = reco__aligned_alloc((size_t)(m->n_items ? m->n_items : 1) * sizeof(float));
  int32_t *rec = reco__malloc((size_t)k * sizeof *rec);
  int32_t *hist = NULL, *rest = NULL, *order = NULL;
  size_t cap = 0, cap2 = 0, cap3 = 0;
  reco_topk heap = {0};
  int rc = (!scratch || !rec) ? reco__seterr(RECO_ENOMEM, "out of memory") : reco__topk_init(&heap, k);
  for (size_t g = 0; !rc && g < RECO_ARRAY_LEN(k_given); g++) {
    int n_given = k_given[g];
    reco_rank_acc acc = {.k = k};
    for (int32_t u = 0; !rc && u < te->n_users; u++) {
      int64_t a = te->uptr[u], b = te->uptr[u + 1];
      size_t len = (size_t)(b - a);
      if (len <= (size_t)n_given) continue;
      if (RECO_GROW(order, cap, len) || RECO_GROW(hist, cap2, len) || RECO_GROW(rest, cap3, len)) {
        rc = RECO_ENOMEM;
        break;
      }
      /* order the user's pairs by time (ties by item index) */
      for (size_t x = 0; x < len; x++) order[x] = (int32_t)(a + (int64_t)x);
      for (size_t x = 1; x < len; x++) {
        int32_t key = order[x];
        size_t y = x;
        while (y > 0) {
          int32_t p = order[y - 1];
          int64_t tp = te->ts[te->urow[p]], tk = te->ts[te->urow[key]];
          if (tp < tk || (tp == tk && te->uitem[p] < te->uitem[key])) break;
          order[y] = p;
          y--;
        }
        order[y] = key;
      }
      float vals[8];
      for (int x = 0; x < n_given; x++) {
        hist[x] = te->uitem[order[x]];
        vals[x] = te->uval[order[x]];
      }
      reco_user_view v = {-1, hist, vals, NULL, (size_t)n_given};
      /* the exclusion list must be sorted */
      int32_t excl[8];
      memcpy(excl, hist, (size_t)n_given * sizeof *excl);
      for (int x = 1; x < n_given; x++)
        for (int y = x; y > 0 && excl[y - 1] > excl[y]; y--) {
          int32_t t = excl[y];
          excl[y] = excl[y - 1];
          excl[y - 1] = t;
        }
      size_t n_rest = 0;
      for (size_t x = (size_t)n_given; x < len; x++) rest[n_rest++] = te->uitem[order[x]];
      for (size_t x = 1; x < n_rest; x++)
        for (size_t y = x; y > 0 && rest[y - 1] > rest[y]; y--) {
          int32_t t = rest[y];
          rest[y] = rest[y - 1];
          rest[y - 1] = t;
        }
      int n = reco__model_recommend(m, &v, excl, (size_t)n_given, k, scratch, &heap, rec, NULL);
      if (n < 0) {
        rc = n;
        break;
      }
      reco__rank_add(&acc, rec, n, rest, n_rest);
    }
    reco_rank_result x = reco__rank_finish(&acc);
    char name[32];
    snprintf(name, sizeof name, "ndcg@%d_n%d", k, n_given), put(r, name, x.ndcg);
    snprintf(name, sizeof name, "p@%d_n%d", k, n_given), put(r, name, x.precision);
    snprintf(name, sizeof name, "recall@%d_n%d", k, n_given), put(r, name, x.recall);
    if (g == 1) r->users = x.users;
  }
  reco__topk_free(&heap);
  reco__free_aligned(scratch);
  reco__free(rec);
  reco__free(order);
  reco__free(hist);
  reco__free(rest);
  return rc;
}

/* COLD-ITEM: how often held-out items reach the top-k of users who interacted with them. */
static int measure_cold_item(const reco_model *m, const fold *f, int k, reco_eval_result *r) {
  reco_rank_acc full = {.k = k}, sampled = {.k = k};
  uint8_t *seen = reco__calloc((size_t)(m->n_items ? m->n_items : 1), 1);
  if (!seen) return reco__seterr(RECO_ENOMEM, "out of memory");
  double us;
  size_t nu;
  int rc = measure_ranking(m, f, k, &full, &sampled, seen, &us, &nu);
  reco__free(seen);
  if (rc) return rc;
  /* hits / pairs: full.hits counts held-out items reached; pairs = test nnz */
  put(r, "hit_rate", f->test->nnz ? full.hits / (double)f->test->nnz : 0);
  reco_rank_result x = reco__rank_finish(&full);
  char name[32];
  snprintf(name, sizeof name, "recall@%d", k), put(r, name, x.recall);
  snprintf(name, sizeof name, "hr@%d", k), put(r, name, x.hr);
  r->users = nu;
  r->recommend_us = us;
  return 0;
}

static int run_algo(const reco_eval_opts *o, proto_id id, fold_set *fs, const char *algo, reco_eval_result *r) {
  int k = o->k > 0 ? o->k : 10;
  double rmse[5] = {0}, mae[5] = {0};
  bool rated = false;
  reco_rank_acc full = {.k = k}, sampled = {.k = k};
  uint8_t *seen = NULL;
  double us_sum = 0, coverage = NAN;
  snprintf(r->algo, sizeof r->algo, "%s", algo);
  for (int j = 0; j < fs->n; j++) {
    fold *f = &fs->f[j];
    reco_model *m;
    int rc = fit_model(algo, o, f->train, &m);
    if (rc) return rc;
    r->fit_s += m->fit_s;
    if (j == 0) reco__model_params_json(m, r->params, sizeof r->params);
    bool rating = id == P_RATE_U1 || id == P_RATE_5F ||
                  (id == P_GIVEN && f->test->has_values && (m->algo->caps & RECO_CAP_RATING));
    if (rating) {
      if (!(m->algo->caps & RECO_CAP_RATING)) {
        reco__model_free(m);
        return reco__seterr(RECO_EUNSUPPORTED, "%s does not predict ratings (it ranks: try TOPN-U1)", algo);
      }
      reco_eval_result tmp = {0};
      measure_rating(m, f, &tmp);
      r->predict_s += tmp.predict_s;
      rmse[j] = reco__eval_metric(&tmp, "rmse");
      rated = true;
      mae[j] = reco__eval_metric(&tmp, "mae");
    }
    bool ranking = id == P_TOPN_U1 || id == P_TOPN_U1_GE4 || id == P_LOO || id == P_SEQ || id == P_GIVEN;
    if (ranking) {
      if (!seen) seen = reco__calloc((size_t)(m->n_items ? m->n_items : 1), 1);
      if (!seen) rc = reco__seterr(RECO_ENOMEM, "out of memory");
      double us = 0, t0 = reco__now();
      size_t nu = 0;
      if (!rc) rc = measure_ranking(m, f, k, &full, &sampled, seen, &us, &nu);
      r->predict_s += reco__now() - t0;
      us_sum += us;
      r->users = nu;
      if (!rc) {
        int32_t cov = 0;
        for (int32_t i = 0; i < m->n_items; i++) cov += seen[i];
        coverage = m->n_items ? (double)cov / m->n_items : 0;
      }
    }
    if (!rc && id == P_COLD_USER) rc = measure_cold_user(m, f, k, r);
    if (!rc && id == P_COLD_ITEM) rc = measure_cold_item(m, f, k, r);
    reco__model_free(m);
    if (rc) {
      reco__free(seen);
      return rc;
    }
  }
  reco__free(seen);
  if (!isnan(rmse[0]) && (id == P_RATE_U1 || id == P_RATE_5F || (id == P_GIVEN && rated))) {
    double mr = 0, mm = 0, sr = 0;
    for (int j = 0; j < fs->n; j++) mr += rmse[j], mm += mae[j];
    mr /= fs->n;
    mm /= fs->n;
    for (int j = 0; j < fs->n; j++) sr += (rmse[j] - mr) * (rmse[j] - mr);
    put(r, "rmse", mr);
    put(r, "mae", mm);
    if (fs->n > 1) {
      put(r, "rmse_std", sqrt(sr / (fs->n - 1)));
      double sm = 0;
      for (int j = 0; j < fs->n; j++) sm += (mae[j] - mm) * (mae[j] - mm);
      put(r, "mae_std", sqrt(sm / (fs->n - 1)));
    }
    if (!r->users) {
      const reco_dataset *te = fs->f[0].test;
      for (int32_t u = 0; u < te->n_users; u++) r->users += te->uptr[u + 1] > te->uptr[u];
    }
  }
  if (full.users) {
    reco_rank_result x = reco__rank_finish(&full);
    bool full_list = id != P_SEQ;
    if (full_list) put_rank(r, "", &x, k, true);
    put(r, "coverage", coverage);
    put(r, "novelty", x.novelty);
    r->recommend_us = us_sum / fs->n;
  }
  if (sampled.users) {
    reco_rank_result x = reco__rank_finish(&sampled);
    if (id == P_SEQ) {
      char name[32];
      snprintf(name, sizeof name, "hr@%d", k), put(r, name, x.hr);
      snprintf(name, sizeof name, "ndcg@%d", k), put(r, name, x.ndcg);
      put(r, "mrr", x.mrr);
    } else {
      put_rank(r, "sampled_", &x, k, false);
    }
  }
  return 0;
}

int reco__eval_run(const reco_eval_opts *o, const char *const *algos, int n_algos, reco_eval_report *out) {
  memset(out, 0, sizeof *out);
  proto_id id = P_GIVEN;
  bool found = false;
  for (size_t j = 0; j < RECO_ARRAY_LEN(k_protocols); j++)
    if (!strcasecmp(o->protocol, k_protocols[j].name)) {
      id = k_protocols[j].id;
      found = true;
      snprintf(out->protocol, sizeof out->protocol, "%s", k_protocols[j].name);
    }
  if (!found)
    return reco__seterr(RECO_EINVAL,
                        "unknown protocol '%s' (one of RATE-U1, RATE-5F, TOPN-U1, TOPN-U1-GE4, LOO, SEQ, COLD-USER, "
                        "COLD-ITEM, GIVEN)",
                        o->protocol);
  for (int a = 0; a < n_algos; a++)
    if (!reco__algo_find(algos[a])) return reco__seterr(RECO_ENOTFOUND, "unknown algorithm '%s'", algos[a]);
  if (id != P_GIVEN && !o->data) return reco__seterr(RECO_EINVAL, "--data PATH is required");
  fold_set fs;
  int rc = prepare(o, id, &fs);
  if (rc) {
    folds_free(&fs);
    return rc;
  }
  snprintf(out->data, sizeof out->data, "%s", o->data ? o->data : o->train_path);
  out->users = fs.all->n_users;
  out->items = fs.all->n_items;
  out->interactions = fs.all->n;
  out->folds = fs.n;
  out->k = o->k > 0 ? o->k : 10;
  out->results = reco__calloc((size_t)(n_algos ? n_algos : 1), sizeof *out->results);
  if (!out->results) {
    folds_free(&fs);
    return reco__seterr(RECO_ENOMEM, "out of memory");
  }
  out->n_results = n_algos;
  for (int a = 0; a < n_algos; a++) {
    reco_eval_result *r = &out->results[a];
    reco__clearerr();
    r->rc = run_algo(o, id, &fs, algos[a], r);
    if (r->rc) snprintf(r->error, sizeof r->error, "%s", *reco_last_error() ? reco_last_error() : reco_strerror(r->rc));
  }
  folds_free(&fs);
  return 0;
}

void reco__eval_report_free(reco_eval_report *r) {
  reco__free(r->results);
  memset(r, 0, sizeof *r);
}

/* ---- validation metrics for a model about to be published ---- */

int reco__eval_validate(const reco_dataset *ds, const char *algo, const char *const *sets, int n_sets, uint64_t seed,
                        char *out, size_t len) {
  uint8_t *part = reco__malloc(ds->n ? ds->n : 1);
  if (!part) return reco__seterr(RECO_ENOMEM, "out of memory");
  fold f = {0};
  int rc = reco__split_user_ratio(ds, 0.1, seed, part);
  if (!rc) rc = make_fold(ds, part, &f, -INFINITY);
  reco__free(part);
  reco_model *m = NULL;
  reco_eval_opts o = {.sets = sets, .n_sets = n_sets, .seed = seed, .k = 10};
  if (!rc) rc = fit_model(algo, &o, f.train, &m);
  size_t w = 0;
  if (!rc) w += (size_t)snprintf(out + w, len - w, "{\"protocol\": \"holdout-user-10%%\", \"seed\": %llu", (unsigned long long)seed);
  if (!rc && (m->algo->caps & RECO_CAP_RATING) && ds->has_values) {
    reco_eval_result r = {0};
    measure_rating(m, &f, &r);
    w += (size_t)snprintf(out + w, w < len ? len - w : 0, ", \"rmse\": %.6f, \"mae\": %.6f", reco__eval_metric(&r, "rmse"),
                          reco__eval_metric(&r, "mae"));
  }
  if (!rc && (m->algo->caps & RECO_CAP_RANKING)) {
    reco_rank_acc full = {.k = 10}, sampled = {.k = 10};
    uint8_t *seen = reco__calloc((size_t)(m->n_items ? m->n_items : 1), 1);
    double us;
    size_t nu;
    rc = seen ? measure_ranking(m, &f, 10, &full, &sampled, seen, &us, &nu) : reco__seterr(RECO_ENOMEM, "out of memory");
    reco__free(seen);
    if (!rc) {
      reco_rank_result x = reco__rank_finish(&full);
      w += (size_t)snprintf(out + w, w < len ? len - w : 0,
                            ", \"p@10\": %.6f, \"recall@10\": %.6f, \"ndcg@10\": %.6f, \"map@10\": %.6f, \"users\": %zu", x.precision,
                            x.recall, x.ndcg, x.map, x.users);
    }
  }
  if (!rc) w += (size_t)snprintf(out + w, w < len ? len - w : 0, "}");
  if (!rc && w >= len) rc = reco__seterr(RECO_ELIMIT, "validation metrics longer than %zu bytes", len);
  reco__model_free(m);
  fold_free(&f);
  return rc;
}
