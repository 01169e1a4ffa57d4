/*
 * bench_cache.c - the L1 result cache (src/serve/cache.c) in process, without HTTP: what a
 * lookup costs on /recommend's hit path, and how it scales with threads.
 *
 *   1. per operation, one thread: building the key of the seed's example request (parse not
 *      included: the handler has parsed it already; the canonical dump with sorted keys and the
 *      XXH3-128 are), an L1 hit copying a 2.5 KB value (the size of a 10-item list with
 *      metadata) into a reused buffer, a miss, and a put; the median of PASSES passes;
 *   2. threads 1, 2, 4: lookups per second over a Zipf(1.0) mix of 10k users (keys built per
 *      lookup, as the handler does), misses filled, 1% of lookups preceded by an invalidation of
 *      the user (an interaction), with the hit rate that mix gives.
 *
 * Usage: bench_cache [--passes N] [--seconds S]
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "serve/fjson.h"
#include "serve/serve.h"

#define USERS 10000
#define VALUE 2500

static srv_snapshot g_snap;
static double g_cdf[USERS];
static double g_seconds = 2;
static char g_value[VALUE];

static const char *k_req = "{\"userId\":\"user_12345\",\"limit\":10,\"algorithm\":\"hybrid\",\"context\":{\"device\":"
                           "\"mobile\",\"location\":\"US\",\"time\":\"2024-01-15T10:30:00Z\"},\"filters\":{\"category\":"
                           "[\"electronics\",\"books\"],\"minRating\":4.0},\"diversityWeight\":0.3}";

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int zipf(uint64_t *x) {
  *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
  double u = (double)(*x >> 11) / 9007199254740992.0;
  int lo = 0, hi = USERS - 1;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (g_cdf[mid] < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

typedef struct worker {
  int id;
  uint64_t ops, hits;
} worker;

static void *mix(void *arg) {
  worker *w = arg;
  uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(w->id + 7);
  /* one parsed body; the user is part of the key on its own (as for a batch's users) */
  fj_doc *d = fj_thread_doc();
  if (!d || fj_parse(d, k_req, strlen(k_req))) return NULL;
  const fj_val *req = fj_root(d);
  srv_buf b = {0};
  char user[32];
  double t0 = reco__now();
  while (reco__now() - t0 < g_seconds) {
    for (int k = 0; k < 256; k++) {
      int n = snprintf(user, sizeof user, "user_%d", zipf(&x));
      if (x % 100 == 0) srv_cache_invalidate_user(user, (size_t)n);
      srv_cache_key key;
      srv_cache_key_recommend(&key, &g_snap, d, req, user, (size_t)n, "hybrid", 10);
      srv_buf_reset(&b);
      if (srv_cache_get(&key, &b)) w->hits++;
      else srv_cache_put(&key, g_value, VALUE);
      w->ops++;
    }
  }
  srv_buf_free(&b);
  return NULL;
}

int main(int argc, char **argv) {
  int passes = 5;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--passes") && i + 1 < argc) passes = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) g_seconds = atof(argv[++i]);
    else {
      fprintf(stderr, "usage: bench_cache [--passes N] [--seconds S]\n");
      return 2;
    }
  }
  if (passes < 1) passes = 1;
  g_snap.n_models = 4;
  const char *algos[4] = {"content", "ials", "itemknn", "popular"};
  for (int m = 0; m < 4; m++) {
    snprintf(g_snap.models[m].algo, sizeof g_snap.models[m].algo, "%s", algos[m]);
    g_snap.models[m].version = 1;
  }
  g_snap.n_items = 2000;
  g_snap.loaded_at_ms = 1;
  memset(g_value, 'x', sizeof g_value);
  double sum = 0;
  for (int k = 0; k < USERS; k++) g_cdf[k] = sum += 1.0 / (k + 1);
  for (int k = 0; k < USERS; k++) g_cdf[k] /= sum;

  /* 1. per operation */
  if (srv_cache__init_l1(100000, 64L << 20, 3600)) return 1;
  fj_doc *d = fj_thread_doc();
  if (!d || fj_parse(d, k_req, strlen(k_req))) return 1;
  const fj_val *req = fj_root(d);
  const int n_ops = 20000;
  double *t_key = calloc((size_t)passes, sizeof(double)), *t_hit = calloc((size_t)passes, sizeof(double)),
         *t_miss = calloc((size_t)passes, sizeof(double)), *t_put = calloc((size_t)passes, sizeof(double));
  srv_cache_key *keys = calloc(n_ops, sizeof *keys);
  srv_buf b = {0};
  char user[32];
  for (int p = 0; p < passes; p++) {
    srv_cache_invalidate_all();
    double t = reco__now();
    for (int i = 0; i < n_ops; i++) {
      int n = snprintf(user, sizeof user, "user_%d", i);
      srv_cache_key_recommend(&keys[i], &g_snap, d, req, user, (size_t)n, "hybrid", 10);
    }
    t_key[p] = (reco__now() - t) / n_ops;
    t = reco__now();
    for (int i = 0; i < n_ops; i++) {
      srv_buf_reset(&b);
      srv_cache_get(&keys[i], &b);
    }
    t_miss[p] = (reco__now() - t) / n_ops;
    t = reco__now();
    for (int i = 0; i < n_ops; i++) srv_cache_put(&keys[i], g_value, VALUE);
    t_put[p] = (reco__now() - t) / n_ops;
    t = reco__now();
    uint64_t hits = 0;
    for (int i = 0; i < n_ops; i++) {
      srv_buf_reset(&b);
      hits += srv_cache_get(&keys[i], &b);
    }
    t_hit[p] = (reco__now() - t) / n_ops;
    if (hits != (uint64_t)n_ops) {
      fprintf(stderr, "bench_cache: %llu hits of %d\n", (unsigned long long)hits, n_ops);
      return 1;
    }
  }
  qsort(t_key, (size_t)passes, sizeof(double), cmp_d);
  qsort(t_hit, (size_t)passes, sizeof(double), cmp_d);
  qsort(t_miss, (size_t)passes, sizeof(double), cmp_d);
  qsort(t_put, (size_t)passes, sizeof(double), cmp_d);
  printf("one thread, median of %d passes of %d operations (value %d bytes):\n", passes, n_ops, VALUE);
  printf("  key of the seed's request  %7.0f ns\n", 1e9 * t_key[passes / 2]);
  printf("  L1 hit (copy included)     %7.0f ns\n", 1e9 * t_hit[passes / 2]);
  printf("  L1 miss                    %7.0f ns\n", 1e9 * t_miss[passes / 2]);
  printf("  put                        %7.0f ns\n", 1e9 * t_put[passes / 2]);
  srv_buf_free(&b);
  free(keys), free(t_key), free(t_hit), free(t_miss), free(t_put);

  /* 2. threads, Zipf mix */
  printf("Zipf(1.0) over %d users, 1%% invalidations, %.0f s per run (key + lookup + fill on a miss):\n", USERS,
         g_seconds);
  for (int n_threads = 1; n_threads <= 4; n_threads *= 2) {
    if (srv_cache__init_l1(100000, 64L << 20, 3600)) return 1;
    pthread_t th[4];
    worker w[4];
    double t = reco__now();
    for (int i = 0; i < n_threads; i++) {
      w[i] = (worker){i, 0, 0};
      pthread_create(&th[i], NULL, mix, &w[i]);
    }
    uint64_t ops = 0, hits = 0;
    for (int i = 0; i < n_threads; i++) {
      pthread_join(th[i], NULL);
      ops += w[i].ops, hits += w[i].hits;
    }
    double secs = reco__now() - t;
    printf("  %d thread%s  %10.0f lookups/s  hit rate %.3f  L1 %zu entries, %.1f MiB\n", n_threads,
           n_threads > 1 ? "s" : " ", (double)ops / secs, ops ? (double)hits / (double)ops : 0.0, srv_cache__entries(),
           (double)srv_cache__bytes() / (1 << 20));
  }
  srv_cache_shutdown();
  return 0;
}
