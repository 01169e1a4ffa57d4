/*
 * retrain.c - background retraining with a guarded publish (issue 7).
 *
 * Triggers: MODEL_UPDATE_MIN_INTERACTIONS new acknowledged interactions (counted by
 * srv_retrain_note_interaction, which /interaction calls after the ack), every
 * MODEL_UPDATE_INTERVAL ms when something changed since the last run, or
 * POST /api/v1/models/retrain. At most one retrain is queued or running at a time (g.queued);
 * a trigger that finds one pending queues nothing and says so (modelUpdateQueued false).
 *
 * One run (run_once), on a dedicated thread at the lowest priority (SCHED_IDLE, else nice 19)
 * with one OpenMP thread (BLAS is already single-threaded in `reco serve`), so the HTTP threads
 * keep the cores:
 *   1. training set (srv_trainset_build): the catalogue's history, minus erased users, plus the
 *      newest RETRAIN_MAX_ROWS rows of the store (values: the rating, else the type's weight,
 *      view < click < cart < like < purchase; dislike/skip are left out), in a fresh id space
 *      whose items follow the catalogue's order (so the catalogue's metadata applies);
 *   2. held-out slice, per current version (make_holdout): only interactions that version never
 *      saw can judge it, so for up to EVAL_USERS seeded users with store rows newer than its
 *      training set (store_max_id in its metrics), their latest such item (every row of that
 *      user-item pair) is held out; the rest is the training part. No unseen rows: the version
 *      is kept (nothing fair to compare on);
 *   3. per active algorithm: a new model with the current version's exact parameter vector is
 *      fitted on the training part; old and new are scored on the same held-out slice, NDCG@10
 *      over the full catalogue with the user's training-part history excluded (src/eval
 *      metrics). Both score the users from that history as fold-in users (user index -1), so
 *      the comparison is of the models, not of which one happens to hold a row for the user;
 *   4. guarded publish: new >= old * (1 - RETRAIN_MAX_REGRESSION) -> registry publish + activate;
 *      else the old version stays and the log says why, with both numbers;
 *   5. if anything was published, a new snapshot is loaded and swapped in exactly as SIGHUP does
 *      (srv_snapshot_load, srv_snapshot_pick of DEFAULT_ALGORITHM, srv_snapshot_publish); if that
 *      load fails the registry is rolled back to the previous versions.
 * The published model is the one fitted on the training part (all rows but one item of at most
 * EVAL_USERS users, which join the next run): no second fit, so a run costs one fit per algorithm.
 * Its metrics keep the replaced version's validation figures and add the retrain's (new_metrics).
 *
 * Requests never wait: the retrain holds a snapshot reference like any request and publishes a
 * new snapshot with one pointer swap (snapshot.c invariants). It reads the store on a private
 * connection (store_scan_tail) and takes locks that request threads also take (the snapshot
 * swap, this file's status mutex) only for a few instructions, so an idle-priority thread
 * preempted at the wrong moment cannot hold a request up for long.
 *
 * Memory bound: the catalogue (one private copy) + the training set of at most
 * RETRAIN_MAX_ROWS (+ catalogue) interactions, its training part (the same size again; ~45 bytes
 * per interaction each for COO + two CSRs), one new model at a time (freed after it is published
 * or refused), and for the swap one more snapshot until the old one's last request ends.
 */
#define _GNU_SOURCE /* SCHED_IDLE */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "base/base.h"
#include "eval/metrics.h"
#include "model/registry.h"
#include "serve.h"
#include "store/store.h"

#define EVAL_USERS 2000
#define EVAL_K 10

typedef struct algo_result {
  char algo[RECO_MF_NAME_MAX];
  int old_version, new_version; /* new_version 0 = not published */
  double old_ndcg, new_ndcg, fit_s;
  char decision[16]; /* "published", "refused", "failed", "skipped" */
  char note[160];
} algo_result;

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t th;
  atomic_bool started, stop;
  bool requested;
  char why[32];
  srv_config cfg;
  atomic_long pending;   /* acks counted toward MODEL_UPDATE_MIN_INTERACTIONS */
  atomic_long since_run; /* acks since the last run began (the interval trigger skips idle periods) */
  atomic_bool queued;    /* a retrain is queued or running */
  /* status, under mu */
  bool running;
  int64_t running_since_ms;
  int64_t runs, n_published, n_refused, n_failed, n_queued_by_acks;
  int64_t last_start_ms, last_end_ms;
  double last_s;
  char last_why[32], last_decision[16], last_error[256];
  size_t last_rows, last_store_rows, last_eval_users;
  int32_t last_users, last_items;
  algo_result res[SRV_MAX_MODELS];
  int n_res;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* ---- the training set ---- */

/* the store's type names to the dataset's event codes; the value is what the store holds */
static int event_of(const char *type) {
  int t = type ? reco__event_parse(type, strlen(type)) : -1;
  return t < 0 ? RECO_EV_CLICK : t;
}

typedef struct build_ctx {
  reco_dataset *ds;
  int64_t *ids; /* store row id per COO row taken */
  size_t cap_ids;
  int64_t max_id;
  int32_t n_cat_items; /* items known to the catalogue (-1: no catalogue, every item accepted) */
  size_t n_taken, n_skipped;
  int rc;
} build_ctx;

static bool on_store_row(void *arg, const store_row *r) {
  build_ctx *b = arg;
  int t = event_of(r->type);
  /* negative feedback is not evidence of interest: left out of the training set */
  if (t == RECO_EV_DISLIKE || t == RECO_EV_SKIP || (r->has_value && r->value < 0)) return true;
  int32_t item;
  if (b->n_cat_items >= 0) {
    item = reco__idmap_get(b->ds->items, r->item, strlen(r->item));
    if (item < 0 || item >= b->n_cat_items) {
      b->n_skipped++; /* the catalogue's metadata covers its own items only */
      return true;
    }
  } else {
    item = reco__ds_item(b->ds, r->item, strlen(r->item));
  }
  int32_t user = reco__ds_user(b->ds, r->user, strlen(r->user));
  if (user < 0 || item < 0) {
    b->rc = reco__seterr(RECO_ENOMEM, "out of memory building the training set");
    return false;
  }
  float v = r->has_value ? (float)r->value : 1.0f;
  /* timestamps in the dataset are seconds (the loaders' unit) */
  if (b->n_taken == b->cap_ids) {
    size_t cap = b->cap_ids ? 2 * b->cap_ids : 4096;
    int64_t *p = realloc(b->ids, cap * sizeof *p);
    if (!p) {
      b->rc = reco__seterr(RECO_ENOMEM, "out of memory building the training set");
      return false;
    }
    b->ids = p, b->cap_ids = cap;
  }
  if ((b->rc = reco__ds_add(b->ds, user, item, v, r->ts_ms / 1000, t))) return false;
  b->ids[b->n_taken++] = r->id;
  if (r->id > b->max_id) b->max_id = r->id;
  return true;
}

void srv_trainset_free(srv_trainset *t) {
  reco_dataset_free(t->ds);
  free(t->store_ids);
  memset(t, 0, sizeof *t);
}

int srv_trainset_build(const char *catalogue_path, struct reco_store *st, long max_rows, srv_trainset *out) {
  memset(out, 0, sizeof *out);
  reco_dataset *cat = NULL, *ds = reco__ds_new();
  if (!ds) return reco__seterr(RECO_ENOMEM, "out of memory");
  int rc = 0;
  build_ctx b = {.ds = ds, .n_cat_items = -1};
  if (catalogue_path && catalogue_path[0] && (rc = reco_dataset_load(catalogue_path, NULL, &cat))) goto fail;
  if (cat) {
    /* the catalogue's items first, in its order, so its metadata (shared, not copied) lines up */
    for (int32_t i = 0; i < cat->n_items; i++) {
      const char *id = reco__idmap_str(cat->items, i);
      if (reco__ds_item(ds, id, strlen(id)) != i) {
        rc = reco__seterr(RECO_ENOMEM, "out of memory building the training set");
        goto fail;
      }
    }
    b.n_cat_items = cat->n_items;
    if (cat->meta) {
      __atomic_add_fetch(&cat->meta->refs, 1, __ATOMIC_RELAXED); /* as reco__ds_new_like shares it */
      ds->meta = cat->meta;
    }
    ds->has_values = cat->has_values;
  }
  /* budget: the store's newest rows first, then the catalogue's latest rows (COO order) */
  size_t n_store = 0;
  if (st) {
    if ((rc = store_scan_tail(st, max_rows, on_store_row, &b)) || (rc = b.rc)) goto fail;
    n_store = b.n_taken;
    if (b.n_skipped)
      reco__log(RECO_LOG_WARN, "training set: %zu stored interactions name items outside the catalogue %s: left out",
                b.n_skipped, catalogue_path);
  }
  if (cat) {
    size_t budget = (size_t)max_rows > n_store ? (size_t)max_rows - n_store : 0;
    size_t from = cat->n > budget ? cat->n - budget : 0;
    int32_t *umap = reco__malloc((size_t)(cat->n_users ? cat->n_users : 1) * sizeof *umap);
    if (!umap) {
      rc = reco__seterr(RECO_ENOMEM, "out of memory");
      goto fail;
    }
    for (int32_t u = 0; u < cat->n_users; u++) {
      const char *id = reco__idmap_str(cat->users, u);
      umap[u] = srv_user_erased(id, strlen(id)) ? -1 : -2; /* -2: not yet added */
    }
    for (size_t k = from; k < cat->n && !rc; k++) {
      int32_t u = cat->u[k];
      if (umap[u] == -1) continue; /* erased: their catalogue history is ignored from now on */
      if (umap[u] == -2) {
        const char *id = reco__idmap_str(cat->users, u);
        if ((umap[u] = reco__ds_user(ds, id, strlen(id))) < 0) {
          rc = reco__seterr(RECO_ENOMEM, "out of memory");
          break;
        }
      }
      rc = reco__ds_add(ds, umap[u], cat->i[k], cat->v[k], cat->ts[k], cat->type[k]);
    }
    reco__free(umap);
    if (rc) goto fail;
    snprintf(ds->source, sizeof ds->source, "catalogue %s + store", catalogue_path);
  } else {
    snprintf(ds->source, sizeof ds->source, "store");
  }
  if (ds->n == 0) {
    rc = reco__seterr(RECO_ENOTFOUND, "no interactions to train on (catalogue and store are empty)");
    goto fail;
  }
  if ((rc = reco__ds_finalize(ds))) goto fail;
  reco_dataset_free(cat);
  out->ds = ds;
  out->n_store = n_store;
  out->store_ids = b.ids;
  out->store_max_id = b.max_id;
  return 0;
fail:
  free(b.ids);
  reco_dataset_free(cat);
  reco_dataset_free(ds);
  return rc;
}

/* ---- the held-out slice and the comparison ---- */

typedef struct holdout {
  int64_t cutoff;         /* the store row id the compared model was trained up to */
  reco_dataset *train;    /* the training part: everything but the held-out pairs */
  int32_t *users, *items; /* n pairs, dataset indices */
  size_t n;
} holdout;

static void holdout_free(holdout *h) {
  reco_dataset_free(h->train);
  free(h->users);
  free(h->items);
  memset(h, 0, sizeof *h);
}

/*
 * Step 2 of the file comment. The slice must be unseen by the model being replaced, or the
 * comparison favours it (an item-kNN that counted the held-out co-occurrence ranks it near the
 * top). So the candidates are the store rows committed after that model's training set
 * (id > cutoff, recorded as store_max_id in its metrics; 0 for models that never read the
 * store): per user with such rows, their latest one (by time, then commit order) is the
 * held-out pair, unless the pair also appears in a row the old model saw (catalogue history, or
 * an older store row), and the user keeps at least one other item as history. Up to EVAL_USERS
 * users, seeded; every row of a held-out pair leaves the training part.
 */
static int make_holdout(const srv_trainset *t, int64_t cutoff, uint64_t seed, holdout *h) {
  memset(h, 0, sizeof *h);
  h->cutoff = cutoff;
  const reco_dataset *ds = t->ds;
  int32_t nu = ds->n_users;
  int32_t *latest = malloc((size_t)(nu ? nu : 1) * sizeof *latest), *held = NULL;
  int32_t *cand = malloc((size_t)(nu ? nu : 1) * sizeof *cand);
  uint8_t *keep = malloc(ds->n ? ds->n : 1);
  int rc = 0;
  if (!latest || !cand || !keep) {
    rc = reco__seterr(RECO_ENOMEM, "out of memory");
    goto out;
  }
  for (int32_t u = 0; u < nu; u++) latest[u] = -1;
  for (size_t k = 0; k < t->n_store; k++) {
    if (t->store_ids[k] <= cutoff) continue;
    int32_t u = ds->u[k], l = latest[u];
    if (l < 0 || ds->ts[k] >= ds->ts[l]) latest[u] = (int32_t)k;
  }
  if (!(held = malloc((size_t)(nu ? nu : 1) * sizeof *held))) {
    rc = reco__seterr(RECO_ENOMEM, "out of memory");
    goto out;
  }
  for (int32_t u = 0; u < nu; u++) held[u] = latest[u] >= 0 ? ds->i[latest[u]] : -1;
  /* a pair the old model saw is no test of it: drop that user */
  for (size_t k = 0; k < ds->n; k++) {
    int32_t u = ds->u[k];
    bool seen = k >= t->n_store || t->store_ids[k] <= cutoff;
    if (seen && held[u] >= 0 && held[u] == ds->i[k]) held[u] = -1;
  }
  size_t nc = 0;
  for (int32_t u = 0; u < nu; u++)
    if (held[u] >= 0 && ds->uptr[u + 1] - ds->uptr[u] >= 2) cand[nc++] = u;
  /* a seeded partial Fisher-Yates picks the users */
  reco_rng r;
  reco__rng_seed(&r, seed);
  size_t n = nc < EVAL_USERS ? nc : EVAL_USERS;
  for (size_t k = 0; k < n; k++) {
    size_t j = k + (size_t)reco__rng_below(&r, nc - k);
    int32_t tmp = cand[k];
    cand[k] = cand[j], cand[j] = tmp;
  }
  for (size_t k = n; k < nc; k++) held[cand[k]] = -1; /* not sampled */
  for (int32_t u = 0; u < nu; u++)
    if (held[u] >= 0 && ds->uptr[u + 1] - ds->uptr[u] < 2) held[u] = -1;
  for (size_t k = 0; k < ds->n; k++) keep[k] = !(held[ds->u[k]] >= 0 && held[ds->u[k]] == ds->i[k]);
  h->users = malloc((n ? n : 1) * sizeof *h->users);
  h->items = malloc((n ? n : 1) * sizeof *h->items);
  if (!h->users || !h->items) {
    rc = reco__seterr(RECO_ENOMEM, "out of memory");
    goto out;
  }
  for (size_t k = 0; k < n; k++) h->users[k] = cand[k], h->items[k] = held[cand[k]];
  h->n = n;
  rc = reco__ds_subset(ds, keep, &h->train);
out:
  free(latest);
  free(cand);
  free(held);
  free(keep);
  if (rc) holdout_free(h);
  return rc;
}

typedef struct pair {
  int32_t item;
  float value;
} pair;

static int cmp_pair(const void *a, const void *b) {
  int32_t x = ((const pair *)a)->item, y = ((const pair *)b)->item;
  return (x > y) - (x < y);
}

/* NDCG@10 of m on the held-out pairs, every user scored from the training part's history as a
 * fold-in user; m's item space is mapped through the ids. Returns NAN on failure. */
static double holdout_ndcg(const reco_model *m, const holdout *h) {
  const reco_dataset *tr = h->train;
  int32_t ni = tr->n_items, mi = m->n_items;
  int32_t *d2m = malloc((size_t)(ni ? ni : 1) * sizeof *d2m), *m2d = malloc((size_t)(mi ? mi : 1) * sizeof *m2d);
  float *scratch = reco__aligned_alloc((size_t)(mi ? mi : 1) * sizeof(float));
  int32_t max_hist = 0;
  for (int32_t u = 0; u < tr->n_users; u++)
    if (tr->uptr[u + 1] - tr->uptr[u] > max_hist) max_hist = (int32_t)(tr->uptr[u + 1] - tr->uptr[u]);
  pair *hp = malloc((size_t)(max_hist + 1) * sizeof *hp);
  int32_t *hi = malloc((size_t)(max_hist + 1) * sizeof *hi);
  float *hv = malloc((size_t)(max_hist + 1) * sizeof *hv);
  reco_topk heap = {0};
  double ndcg = NAN;
  if (!d2m || !m2d || !scratch || !hp || !hi || !hv || reco__topk_init(&heap, EVAL_K)) goto out;
  for (int32_t i = 0; i < ni; i++) d2m[i] = -1;
  for (int32_t i = 0; i < mi; i++) {
    int32_t d = i < ni ? i : -1; /* a model without id maps was trained on the catalogue's indices */
    if (m->item_ids && i < reco__idmap_size(m->item_ids)) {
      const char *id = reco__idmap_str(m->item_ids, i);
      d = reco__idmap_get(tr->items, id, strlen(id));
      if (d >= ni) d = -1;
    }
    m2d[i] = d;
    if (d >= 0) d2m[d] = i;
  }
  reco_rank_acc acc = {.k = EVAL_K};
  for (size_t x = 0; x < h->n; x++) {
    if (atomic_load(&g.stop)) goto out;
    int32_t u = h->users[x];
    size_t n = 0;
    for (int64_t q = tr->uptr[u]; q < tr->uptr[u + 1]; q++) {
      int32_t t = d2m[tr->uitem[q]];
      if (t >= 0) hp[n].item = t, hp[n++].value = tr->uval[q];
    }
    qsort(hp, n, sizeof *hp, cmp_pair);
    for (size_t k = 0; k < n; k++) hi[k] = hp[k].item, hv[k] = hp[k].value;
    reco_user_view v = {-1, hi, hv, NULL, n};
    int32_t rec[EVAL_K];
    int got = reco__model_recommend(m, &v, hi, n, EVAL_K, scratch, &heap, rec, NULL);
    if (got < 0) goto out;
    for (int k = 0; k < got; k++) rec[k] = m2d[rec[k]];
    reco__rank_add(&acc, rec, got, &h->items[x], 1);
  }
  ndcg = h->n ? reco__rank_finish(&acc).ndcg : NAN;
out:
  free(d2m);
  free(m2d);
  reco__free_aligned(scratch);
  free(hp);
  free(hi);
  free(hv);
  reco__topk_free(&heap);
  return ndcg;
}

/* ---- one run ---- */

static int stop_requested(void *ud, const char *stage, double done, double total, const char *info) {
  (void)ud, (void)stage, (void)done, (void)total, (void)info;
  return atomic_load(&g.stop) ? 1 : 0;
}

static void finish(const char *decision, const char *error, double t0, size_t rows, size_t store_rows, size_t eval_users,
                   const reco_dataset *ds, const algo_result *res, int n_res) {
  pthread_mutex_lock(&g.mu);
  g.running = false;
  g.runs++;
  g.last_end_ms = reco__wall_ms();
  g.last_s = reco__now() - t0;
  snprintf(g.last_decision, sizeof g.last_decision, "%s", decision);
  snprintf(g.last_error, sizeof g.last_error, "%s", error ? error : "");
  g.last_rows = rows, g.last_store_rows = store_rows, g.last_eval_users = eval_users;
  g.last_users = ds ? ds->n_users : 0, g.last_items = ds ? ds->n_items : 0;
  memcpy(g.res, res, (size_t)n_res * sizeof *res);
  g.n_res = n_res;
  if (!strcmp(decision, "published")) g.n_published++;
  else if (!strcmp(decision, "refused")) g.n_refused++;
  else g.n_failed++;
  pthread_mutex_unlock(&g.mu);
}

/* The store row id a served model was trained up to ("store_max_id" in its metrics, at the top
 * level or under "retrain"; models that never read the store have none: 0). */
static int64_t trained_up_to(const srv_model *sm) {
  const char *p = sm->metrics ? strstr(sm->metrics, "\"store_max_id\":") : NULL;
  return p ? strtoll(p + strlen("\"store_max_id\":"), NULL, 10) : 0;
}

/*
 * The new version's metrics. The serving snapshot ranks models by "ndcg@10" (the best one answers
 * for hybrid), and that figure comes from `reco train`'s 10% per-user holdout; the retrain's
 * figures are on another slice and not comparable with it. So the validation metrics of the
 * version replaced are kept as they are, marked with the version they were measured on
 * ("validated_on_version"), and the retrain's own comparison goes under "retrain", with the
 * store row the training set ended at ("store_max_id", read back by trained_up_to).
 */
static void new_metrics(reco_model *m, const srv_model *old, const algo_result *r, size_t n_users, int64_t store_max_id) {
  json_t *j = old->metrics ? json_loads(old->metrics, 0, NULL) : NULL;
  if (!json_is_object(j)) {
    json_decref(j);
    j = json_object();
  }
  json_object_del(j, "retrain");
  json_object_del(j, "store_max_id");
  if (!json_object_get(j, "validated_on_version") && json_object_get(j, "ndcg@10"))
    json_object_set_new(j, "validated_on_version", json_integer(old->version));
  json_t *rt = json_pack("{s:s, s:f, s:f, s:i, s:I, s:I}", "protocol", "holdout-unseen-latest", "ndcg@10", r->new_ndcg,
                         "previous_ndcg@10", r->old_ndcg, "previous_version", old->version, "users", (json_int_t)n_users,
                         "store_max_id", (json_int_t)store_max_id);
  if (rt) json_object_set_new(j, "retrain", rt);
  char *text = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6) | JSON_PRESERVE_ORDER);
  if (text && strlen(text) < sizeof m->metrics) {
    snprintf(m->metrics, sizeof m->metrics, "%s", text);
  } else { /* too long to keep the inherited figures: the retrain's alone */
    snprintf(m->metrics, sizeof m->metrics,
             "{\"retrain\":{\"protocol\":\"holdout-unseen-latest\",\"ndcg@10\":%.6f,\"previous_ndcg@10\":%.6f,"
             "\"previous_version\":%d,\"users\":%zu,\"store_max_id\":%lld}}",
             r->new_ndcg, r->old_ndcg, old->version, n_users, (long long)store_max_id);
  }
  free(text);
  json_decref(j);
}

static void run_once(const char *why) {
  double t0 = reco__now();
  pthread_mutex_lock(&g.mu);
  g.running = true;
  g.running_since_ms = g.last_start_ms = reco__wall_ms();
  snprintf(g.last_why, sizeof g.last_why, "%s", why);
  uint64_t seed = 42 + (uint64_t)g.runs;
  pthread_mutex_unlock(&g.mu);
  atomic_store(&g.since_run, 0);

  static algo_result res[SRV_MAX_MODELS]; /* only this thread writes it */
  int n_res = 0, n_pub = 0, n_failed = 0;
  char err[256] = "";
  srv_trainset t = {0};
  holdout h = {0};
  bool have_h = false;
  size_t max_eval = 0;
  srv_snapshot *s = srv_snapshot_acquire();
  if (!s) {
    finish("failed", "no snapshot is loaded", t0, 0, 0, 0, NULL, res, 0);
    return;
  }
  int rc = srv_trainset_build(s->catalogue_path, srv_store, g.cfg.retrain_max_rows, &t);
  if (rc) {
    snprintf(err, sizeof err, "training set: %s", reco_last_error());
    reco__log(RECO_LOG_WARN, "retrain failed: %s", err);
    srv_snapshot_release(s);
    finish("failed", err, t0, 0, 0, 0, NULL, res, 0);
    return;
  }
  reco_progress prog = {stop_requested, NULL};
  for (int k = 0; k < s->n_models && !atomic_load(&g.stop); k++) {
    const srv_model *old = &s->models[k];
    algo_result *r = &res[n_res++];
    memset(r, 0, sizeof *r);
    snprintf(r->algo, sizeof r->algo, "%s", old->algo);
    r->old_version = old->version;
    r->old_ndcg = r->new_ndcg = NAN;
    if (!old->m->algo->score || !strcmp(old->algo, "random")) {
      snprintf(r->decision, sizeof r->decision, "skipped");
      snprintf(r->note, sizeof r->note, "not a ranking model");
      continue;
    }
    /* the slice this model has not seen (shared by the models trained up to the same row) */
    int64_t cutoff = trained_up_to(old);
    if (!have_h || h.cutoff != cutoff) {
      holdout_free(&h);
      if ((rc = make_holdout(&t, cutoff, seed, &h))) {
        have_h = false;
        snprintf(r->decision, sizeof r->decision, "failed");
        snprintf(r->note, sizeof r->note, "held-out slice: %s", reco_last_error());
        n_failed++;
        continue;
      }
      have_h = true;
    }
    if (h.n > max_eval) max_eval = h.n;
    if (h.n == 0) {
      snprintf(r->decision, sizeof r->decision, "refused");
      snprintf(r->note, sizeof r->note, "no interaction unseen by v%d to compare on (store rows after #%lld): kept",
               old->version, (long long)cutoff);
      reco__log(RECO_LOG_WARN, "retrain %s v%d: refused: %s", r->algo, r->old_version, r->note);
      continue;
    }
    reco_model *m = NULL;
    if ((rc = reco__model_new(old->algo, &m))) {
      snprintf(r->decision, sizeof r->decision, "failed");
      snprintf(r->note, sizeof r->note, "%s", reco_last_error());
      n_failed++;
      continue;
    }
    /* the current version's exact parameter vector (and seed): only the data changes */
    memcpy(m->params, old->m->params, sizeof m->params);
    m->seed = old->m->seed;
    rc = reco__model_fit(m, h.train, &prog);
    r->fit_s = m->fit_s;
    if (!rc) {
      r->old_ndcg = holdout_ndcg(old->m, &h);
      r->new_ndcg = holdout_ndcg(m, &h);
    }
    if (rc || isnan(r->old_ndcg) || isnan(r->new_ndcg)) {
      snprintf(r->decision, sizeof r->decision, "failed");
      snprintf(r->note, sizeof r->note, "%s", rc ? reco_last_error() : atomic_load(&g.stop) ? "stopped" : "evaluation failed");
      reco__log(RECO_LOG_WARN, "retrain %s: failed: %s", r->algo, r->note);
      reco__model_free(m);
      n_failed++;
      continue;
    }
    double floor = r->old_ndcg * (1.0 - g.cfg.max_regression);
    if (r->new_ndcg >= floor) {
      new_metrics(m, old, r, h.n, t.store_max_id);
      if ((rc = reco__registry_publish(g.cfg.model_path, m, 1, &r->new_version))) {
        snprintf(r->decision, sizeof r->decision, "failed");
        snprintf(r->note, sizeof r->note, "publish: %s", reco_last_error());
        r->new_version = 0;
        n_failed++;
      } else {
        snprintf(r->decision, sizeof r->decision, "published");
        snprintf(r->note, sizeof r->note, "ndcg@10 %.4f >= %.4f = old %.4f * (1 - %.3f)", r->new_ndcg, floor, r->old_ndcg,
                 g.cfg.max_regression);
        n_pub++;
      }
    } else {
      snprintf(r->decision, sizeof r->decision, "refused");
      snprintf(r->note, sizeof r->note, "ndcg@10 %.4f < %.4f = old %.4f * (1 - %.3f): kept v%d", r->new_ndcg, floor, r->old_ndcg,
               g.cfg.max_regression, r->old_version);
    }
    reco__log(RECO_LOG_WARN, "retrain %s v%d: %s (new ndcg@10 %.4f, old %.4f on %zu held-out users; %s)", r->algo,
              r->old_version, r->decision, r->new_ndcg, r->old_ndcg, h.n, r->note);
    reco__model_free(m);
  }
  srv_snapshot_release(s);
  holdout_free(&h);
  const char *decision = n_pub ? "published" : n_failed ? "failed" : "refused";
  if (n_pub && !atomic_load(&g.stop)) { /* stopping: the next start loads the registry anyway */
    /* the SIGHUP path: load beside the serving snapshot, check DEFAULT_ALGORITHM, swap */
    srv_snapshot *next = NULL;
    char msg[200] = "";
    rc = srv_snapshot_load(g.cfg.model_path, &next);
    if (!rc && srv_snapshot_pick(next, g.cfg.default_algo, msg, sizeof msg) < 0) {
      srv_snapshot_release(next);
      next = NULL;
      rc = RECO_ENOTFOUND;
    } else if (rc) {
      snprintf(msg, sizeof msg, "%s", reco_last_error());
    }
    if (rc) {
      snprintf(err, sizeof err, "reload failed, registry rolled back: %s", msg);
      reco__log(RECO_LOG_WARN, "retrain: %s", err);
      for (int k = 0; k < n_res; k++)
        if (res[k].new_version > 0) reco__registry_rollback(g.cfg.model_path, res[k].algo, NULL);
      decision = "failed";
    } else {
      srv_snapshot_publish(next);
    }
  }
  finish(decision, err[0] ? err : NULL, t0, t.ds->n, t.n_store, max_eval, t.ds, res, n_res);
  srv_trainset_free(&t);
}

/* ---- the thread and its triggers ---- */

static void lower_priority(void) {
  /* SCHED_IDLE runs only when a core is otherwise idle; where it is refused, nice 19 for this
   * thread alone (Linux applies setpriority to a thread id) */
  struct sched_param sp = {0};
  if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp))
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
#ifdef _OPENMP
  omp_set_num_threads(1); /* this thread's parallel regions run on it alone */
#endif
}

static bool claim(const char *why) {
  bool expected = false;
  if (!atomic_compare_exchange_strong(&g.queued, &expected, true)) return false;
  atomic_store(&g.pending, 0);
  pthread_mutex_lock(&g.mu);
  g.requested = true;
  snprintf(g.why, sizeof g.why, "%s", why);
  pthread_cond_signal(&g.cv);
  pthread_mutex_unlock(&g.mu);
  return true;
}

static void *retrain_main(void *arg) {
  (void)arg;
  lower_priority();
  pthread_mutex_lock(&g.mu);
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  long iv = g.cfg.update_interval_ms;
  for (;;) {
    if (iv > 0) {
      next.tv_sec += iv / 1000;
      next.tv_nsec += (iv % 1000) * 1000000L;
      if (next.tv_nsec >= 1000000000L) next.tv_sec++, next.tv_nsec -= 1000000000L;
    }
    while (!atomic_load(&g.stop) && !g.requested) {
      if (iv <= 0) {
        pthread_cond_wait(&g.cv, &g.mu);
        continue;
      }
      if (pthread_cond_timedwait(&g.cv, &g.mu, &next) != ETIMEDOUT) continue;
      if (atomic_load(&g.since_run) > 0) {
        pthread_mutex_unlock(&g.mu);
        claim("interval");
        pthread_mutex_lock(&g.mu);
      }
      if (!g.requested) { /* idle period, or a claim lost to another trigger: next tick */
        next.tv_sec += iv / 1000;
        next.tv_nsec += (iv % 1000) * 1000000L;
        if (next.tv_nsec >= 1000000000L) next.tv_sec++, next.tv_nsec -= 1000000000L;
      }
    }
    if (atomic_load(&g.stop)) break;
    g.requested = false;
    char why[32];
    snprintf(why, sizeof why, "%s", g.why);
    pthread_mutex_unlock(&g.mu);
    run_once(why);
    atomic_store(&g.queued, false);
    pthread_mutex_lock(&g.mu);
    clock_gettime(CLOCK_MONOTONIC, &next);
  }
  pthread_mutex_unlock(&g.mu);
  return NULL;
}

int srv_retrain_start(const srv_config *cfg) {
  if (atomic_load(&g.started)) return 0;
  g.cfg = *cfg;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&g.cv, &ca);
  pthread_condattr_destroy(&ca);
  atomic_store(&g.stop, false);
  if (pthread_create(&g.th, NULL, retrain_main, NULL)) return reco__seterr(RECO_ENOMEM, "cannot start the retrain thread");
  atomic_store(&g.started, true);
  return 0;
}

void srv_retrain_stop(void) {
  if (!atomic_load(&g.started)) return;
  pthread_mutex_lock(&g.mu);
  atomic_store(&g.stop, true);
  pthread_cond_signal(&g.cv);
  pthread_mutex_unlock(&g.mu);
  pthread_join(g.th, NULL);
  atomic_store(&g.started, false);
  pthread_cond_destroy(&g.cv);
}

bool srv_retrain_note_interaction(void) {
  if (!atomic_load(&g.started)) return false;
  atomic_fetch_add(&g.since_run, 1);
  long min = g.cfg.update_min_new;
  if (min <= 0 || atomic_fetch_add(&g.pending, 1) + 1 < min) return false;
  if (!claim("interactions")) return false;
  pthread_mutex_lock(&g.mu);
  g.n_queued_by_acks++;
  pthread_mutex_unlock(&g.mu);
  return true;
}

bool srv_retrain_request(const char *why) { return atomic_load(&g.started) && claim(why); }

/* ---- status ---- */

static void put_ndcg(srv_buf *b, double v) {
  if (isnan(v)) srv_buf_puts(b, "null");
  else srv_buf_jnum(b, v);
}

void srv_retrain_status_json(srv_buf *b) {
  pthread_mutex_lock(&g.mu);
  srv_buf_printf(b,
                 "{\"enabled\":%s,\"intervalMs\":%ld,\"minInteractions\":%ld,\"maxRegression\":%g,\"maxRows\":%ld,"
                 "\"running\":%s,\"queued\":%s,\"pendingInteractions\":%ld,\"runs\":%lld,\"published\":%lld,\"refused\":%lld,"
                 "\"failed\":%lld,\"last\":",
                 atomic_load(&g.started) ? "true" : "false", g.cfg.update_interval_ms, g.cfg.update_min_new,
                 g.cfg.max_regression, g.cfg.retrain_max_rows, g.running ? "true" : "false",
                 atomic_load(&g.queued) ? "true" : "false", atomic_load(&g.pending), (long long)g.runs,
                 (long long)g.n_published, (long long)g.n_refused, (long long)g.n_failed);
  if (!g.runs) {
    srv_buf_puts(b, "null}");
    pthread_mutex_unlock(&g.mu);
    return;
  }
  srv_buf_puts(b, "{\"trigger\":");
  srv_buf_jstr(b, g.last_why);
  srv_buf_printf(b, ",\"startedAt\":%lld,\"finishedAt\":%lld,\"durationSeconds\":", (long long)g.last_start_ms,
                 (long long)g.last_end_ms);
  srv_buf_jnum(b, g.last_s);
  srv_buf_puts(b, ",\"decision\":");
  srv_buf_jstr(b, g.last_decision);
  srv_buf_puts(b, ",\"error\":");
  srv_buf_jstr(b, g.last_error[0] ? g.last_error : NULL);
  srv_buf_printf(b, ",\"trainingInteractions\":%zu,\"fromStore\":%zu,\"users\":%d,\"items\":%d,\"heldOutUsers\":%zu,\"models\":[",
                 g.last_rows, g.last_store_rows, g.last_users, g.last_items, g.last_eval_users);
  for (int k = 0; k < g.n_res; k++) {
    const algo_result *r = &g.res[k];
    srv_buf_puts(b, k ? ",{\"algorithm\":" : "{\"algorithm\":");
    srv_buf_jstr(b, r->algo);
    srv_buf_printf(b, ",\"previousVersion\":%d,\"newVersion\":", r->old_version);
    if (r->new_version > 0) srv_buf_jint(b, r->new_version);
    else srv_buf_puts(b, "null");
    srv_buf_puts(b, ",\"decision\":");
    srv_buf_jstr(b, r->decision);
    srv_buf_puts(b, ",\"previousNdcg10\":");
    put_ndcg(b, r->old_ndcg);
    srv_buf_puts(b, ",\"newNdcg10\":");
    put_ndcg(b, r->new_ndcg);
    srv_buf_puts(b, ",\"fitSeconds\":");
    srv_buf_jnum(b, r->fit_s);
    srv_buf_puts(b, ",\"reason\":");
    srv_buf_jstr(b, r->note);
    srv_buf_puts(b, "}");
  }
  srv_buf_puts(b, "]}}");
  pthread_mutex_unlock(&g.mu);
}

void srv_retrain_metrics(srv_buf *b) {
  pthread_mutex_lock(&g.mu);
  srv_buf_printf(b,
                 "# HELP reco_retrain_runs_total Background retrains by outcome.\n# TYPE reco_retrain_runs_total counter\n"
                 "reco_retrain_runs_total{decision=\"published\"} %lld\nreco_retrain_runs_total{decision=\"refused\"} %lld\n"
                 "reco_retrain_runs_total{decision=\"failed\"} %lld\n"
                 "# HELP reco_retrain_queued_by_interactions_total Retrains queued by MODEL_UPDATE_MIN_INTERACTIONS.\n"
                 "# TYPE reco_retrain_queued_by_interactions_total counter\nreco_retrain_queued_by_interactions_total %lld\n"
                 "# HELP reco_retrain_running 1 while a retrain runs.\n# TYPE reco_retrain_running gauge\nreco_retrain_running %d\n"
                 "# HELP reco_retrain_pending_interactions Acknowledged interactions counted toward the next retrain.\n"
                 "# TYPE reco_retrain_pending_interactions gauge\nreco_retrain_pending_interactions %ld\n",
                 (long long)g.n_published, (long long)g.n_refused, (long long)g.n_failed, (long long)g.n_queued_by_acks,
                 g.running ? 1 : 0, atomic_load(&g.pending));
  if (g.runs) {
    srv_buf_printf(b,
                   "# HELP reco_retrain_last_duration_seconds Wall time of the last retrain.\n"
                   "# TYPE reco_retrain_last_duration_seconds gauge\nreco_retrain_last_duration_seconds %.3f\n"
                   "# HELP reco_retrain_last_finished_timestamp_seconds When the last retrain ended.\n"
                   "# TYPE reco_retrain_last_finished_timestamp_seconds gauge\nreco_retrain_last_finished_timestamp_seconds %.3f\n"
                   "# HELP reco_retrain_last_ndcg10 Held-out NDCG@10 of the last retrain, per algorithm and model.\n"
                   "# TYPE reco_retrain_last_ndcg10 gauge\n",
                   g.last_s, (double)g.last_end_ms / 1e3);
    for (int k = 0; k < g.n_res; k++) {
      if (isnan(g.res[k].old_ndcg) || isnan(g.res[k].new_ndcg)) continue;
      srv_buf_printf(b, "reco_retrain_last_ndcg10{algorithm=\"%s\",model=\"previous\"} %.6f\n", g.res[k].algo, g.res[k].old_ndcg);
      srv_buf_printf(b, "reco_retrain_last_ndcg10{algorithm=\"%s\",model=\"new\"} %.6f\n", g.res[k].algo, g.res[k].new_ndcg);
    }
  }
  pthread_mutex_unlock(&g.mu);
}

/* ---- endpoints ---- */

int srv_h_retrain(srv_req *rq, srv_resp *rs) {
  if (!atomic_load(&g.started)) return srv_error(rs, 503, "unavailable", NULL, "background retraining is not running");
  if (!srv_retrain_request("manual"))
    return srv_error(rs, 409, "conflict", NULL, "a retrain is already queued or running (GET /api/v1/models/retrain)");
  srv_buf_puts(&rs->body, "{\"status\":\"success\",\"result\":{\"queued\":true,\"retrain\":");
  srv_retrain_status_json(&rs->body);
  srv_buf_puts(&rs->body, "}}");
  return 202;
}

int srv_h_retrain_status(srv_req *rq, srv_resp *rs) {
  (void)rq;
  srv_buf_puts(&rs->body, "{\"status\":\"success\",\"result\":");
  srv_retrain_status_json(&rs->body);
  srv_buf_puts(&rs->body, "}");
  return 200;
}
