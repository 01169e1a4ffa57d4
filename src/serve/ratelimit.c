/*
 * ratelimit.c - per-client, per-route request limits: a token bucket (capacity RATE_LIMIT_MAX,
 * refilled continuously at RATE_LIMIT_MAX per RATE_LIMIT_WINDOW ms) for each (client, route).
 * Over the limit, server.c's hook answers 429 with Retry-After (whole seconds until a token is
 * back) and a JSON error, before the handler runs.
 *
 * Who a client is: the API key it authenticated with when API_KEYS is set (so clients behind
 * one proxy address are told apart), else its address. Loopback clients without a key are not
 * limited unless RATE_LIMIT_LOOPBACK=yes: with no keys configured the service is in protected
 * mode and answers loopback only, so the only clients are this machine's own (the operator,
 * a sidecar, a benchmark pushing a million requests a minute), and limiting them by default
 * would only break the benchmark. Routes outside /api/ (health, readiness, metrics) are never
 * limited: probes must not be starved by traffic.
 *
 * The table is bounded (RATE_LIMIT_CLIENTS buckets): SHARDS shards, each a mutex, a fixed pool
 * of buckets, a chained hash on the client+route hash (64-bit XXH3, only the hash is stored,
 * never a key) and an LRU list. A new client takes a free bucket, else the least recently seen
 * one's. Evicting an idle bucket (refilled to capacity) loses nothing, since a fresh bucket
 * starts full; evicting a busy one hands its client a full bucket early, which only happens when
 * more than RATE_LIMIT_CLIENTS clients are active at once, and is counted in /metrics.
 */
#include <arpa/inet.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "base/base.h"
#include "serve.h"

#define SHARDS 16
#define MAX_ROUTES 64

typedef struct rnode {
  struct rnode *hnext, *prev, *next;
  uint64_t key;
  srv_bucket b;
} rnode;

typedef struct rshard {
  _Alignas(64) pthread_mutex_t mu;
  rnode *pool;    /* cap nodes */
  size_t cap, used;
  rnode **tab;
  size_t mask;
  rnode *head, *tail; /* LRU, head = most recently seen */
} rshard;

static struct {
  bool on;
  int limit[MAX_ROUTES]; /* tokens per window by route index; 0 = not limited */
  int n_routes;
  double window_ms;
  bool loopback;
  rshard shards[SHARDS];
  atomic_uint_fast64_t limited, evicted_busy;
  atomic_uint_fast64_t limited_route[MAX_ROUTES];
} g;

bool srv_bucket_take(srv_bucket *b, double cap, double per_ms, int64_t now_ms, int *retry_s) {
  if (b->last_ms == 0) {
    b->tokens = cap;
  } else if (now_ms > b->last_ms) {
    b->tokens += (double)(now_ms - b->last_ms) * per_ms;
    if (b->tokens > cap) b->tokens = cap;
  }
  if (now_ms > b->last_ms || b->last_ms == 0) b->last_ms = now_ms > 0 ? now_ms : 1;
  if (b->tokens >= 1.0) {
    b->tokens -= 1.0;
    return true;
  }
  double wait_ms = (1.0 - b->tokens) / per_ms;
  double s = ceil(wait_ms / 1000.0);
  *retry_s = s < 1 ? 1 : s > 86400 ? 86400 : (int)s;
  return false;
}

static int64_t mono_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void srv_ratelimit_shutdown(void) {
  for (int i = 0; i < SHARDS; i++) {
    rshard *sh = &g.shards[i];
    if (!sh->pool) continue;
    free(sh->pool);
    free(sh->tab);
    pthread_mutex_destroy(&sh->mu);
  }
  memset(&g, 0, sizeof g);
}

int srv_ratelimit_init(const srv_config *cfg) {
  srv_ratelimit_shutdown();
  int n;
  const srv_route *routes = srv_routes(&n);
  g.n_routes = n < MAX_ROUTES ? n : MAX_ROUTES;
  bool any = false;
  for (int r = 0; r < g.n_routes; r++) {
    int lim = cfg->rl_max;
    if (!strcmp(routes[r].name, "recommend") && cfg->rl_recommend_max >= 0) lim = cfg->rl_recommend_max;
    if (!strcmp(routes[r].name, "interaction") && cfg->rl_interaction_max >= 0) lim = cfg->rl_interaction_max;
    if (strncmp(routes[r].pattern, "/api/", 5)) lim = 0;
    g.limit[r] = lim;
    any |= lim > 0;
  }
  if (!any) return 0;
  g.window_ms = cfg->rl_window_ms;
  g.loopback = cfg->rl_loopback;
  size_t per = ((size_t)cfg->rl_clients + SHARDS - 1) / SHARDS, buckets = 1;
  while (buckets < per) buckets <<= 1;
  for (int i = 0; i < SHARDS; i++) {
    rshard *sh = &g.shards[i];
    pthread_mutex_init(&sh->mu, NULL);
    sh->cap = per;
    sh->mask = buckets - 1;
    sh->pool = calloc(per, sizeof *sh->pool);
    sh->tab = calloc(buckets, sizeof *sh->tab);
    if (!sh->pool || !sh->tab) {
      free(sh->pool), free(sh->tab);
      sh->pool = NULL, sh->tab = NULL;
      pthread_mutex_destroy(&sh->mu);
      srv_ratelimit_shutdown();
      return RECO_ENOMEM;
    }
  }
  g.on = true;
  return 0;
}

static void lru_unlink(rshard *sh, rnode *e) {
  if (e->prev) e->prev->next = e->next;
  else sh->head = e->next;
  if (e->next) e->next->prev = e->prev;
  else sh->tail = e->prev;
  e->prev = e->next = NULL;
}

static void lru_push_head(rshard *sh, rnode *e) {
  e->prev = NULL;
  e->next = sh->head;
  if (sh->head) sh->head->prev = e;
  sh->head = e;
  if (!sh->tail) sh->tail = e;
}

bool srv_ratelimit_take(uint64_t ident, int route, int64_t now_ms, int *retry_s) {
  if (!g.on || route < 0 || route >= g.n_routes || g.limit[route] <= 0) return true;
  double cap = g.limit[route], per_ms = cap / g.window_ms;
  uint64_t key = XXH3_64bits_withSeed(&ident, sizeof ident, (uint64_t)route + 1);
  rshard *sh = &g.shards[key >> 60];
  pthread_mutex_lock(&sh->mu);
  rnode **head = &sh->tab[key & sh->mask], *e;
  for (e = *head; e && e->key != key; e = e->hnext) {}
  if (e) {
    lru_unlink(sh, e);
  } else {
    if (sh->used < sh->cap) {
      e = &sh->pool[sh->used++];
    } else { /* full: reuse the least recently seen bucket */
      e = sh->tail;
      lru_unlink(sh, e);
      rnode **pp = &sh->tab[e->key & sh->mask];
      while (*pp != e) pp = &(*pp)->hnext;
      *pp = e->hnext;
      /* idle iff refilled to capacity, i.e. untouched for at least a full window */
      if ((double)(now_ms - e->b.last_ms) < g.window_ms) atomic_fetch_add_explicit(&g.evicted_busy, 1, memory_order_relaxed);
    }
    memset(e, 0, sizeof *e);
    e->key = key;
    e->hnext = *head;
    *head = e;
  }
  lru_push_head(sh, e);
  bool ok = srv_bucket_take(&e->b, cap, per_ms, now_ms, retry_s);
  pthread_mutex_unlock(&sh->mu);
  if (!ok) {
    atomic_fetch_add_explicit(&g.limited, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&g.limited_route[route], 1, memory_order_relaxed);
  }
  return ok;
}

static bool loopback(const struct sockaddr *sa) {
  if (!sa) return false;
  if (sa->sa_family == AF_INET) return (ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr) >> 24) == 127;
  if (sa->sa_family == AF_INET6) {
    const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
  }
  return sa->sa_family == AF_UNIX;
}

bool srv_ratelimit_deny(struct MHD_Connection *c, const srv_config *cfg, int route, srv_resp *rs, int *st) {
  if (!g.on || route < 0 || route >= g.n_routes || g.limit[route] <= 0) return false;
  uint64_t ident;
  const char *key = NULL;
  if (cfg->api_keys[0]) { /* server.c has checked it before dispatch */
    key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-API-Key");
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!key && auth && !strncmp(auth, "Bearer ", 7)) key = auth + 7;
  }
  if (key) {
    ident = XXH3_64bits_withSeed(key, strlen(key), 0x6b6579); /* "key" */
  } else {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (!sa || (!g.loopback && loopback(sa))) return false;
    if (sa->sa_family == AF_INET)
      ident = XXH3_64bits(&((const struct sockaddr_in *)(const void *)sa)->sin_addr, sizeof(struct in_addr));
    else if (sa->sa_family == AF_INET6)
      ident = XXH3_64bits(&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, sizeof(struct in6_addr));
    else
      ident = 0;
  }
  int retry = 1;
  if (srv_ratelimit_take(ident, route, mono_ms(), &retry)) return false;
  rs->retry_after_s = retry;
  int n;
  *st = srv_error(rs, 429, "rate_limited", NULL,
                  "too many requests on %s: the limit is %d per %.0f ms per %s; retry in %d s", srv_routes(&n)[route].name,
                  g.limit[route], g.window_ms, key ? "API key" : "client address", retry);
  return true;
}

size_t srv_ratelimit__buckets(void) {
  size_t n = 0;
  for (int i = 0; i < SHARDS; i++) {
    rshard *sh = &g.shards[i];
    if (!sh->pool) continue;
    pthread_mutex_lock(&sh->mu);
    n += sh->used;
    pthread_mutex_unlock(&sh->mu);
  }
  return n;
}

void srv_ratelimit_metrics_render(srv_buf *b) {
  srv_buf_puts(b, "# HELP reco_rate_limited_total Requests refused with 429 by the rate limiter, by route.\n"
                  "# TYPE reco_rate_limited_total counter\n");
  int n;
  const srv_route *routes = srv_routes(&n);
  for (int r = 0; r < n && r < MAX_ROUTES; r++)
    if (g.limit[r] > 0)
      srv_buf_printf(b, "reco_rate_limited_total{route=\"%s\"} %llu\n", routes[r].name,
                     (unsigned long long)atomic_load(&g.limited_route[r]));
  srv_buf_printf(b,
                 "# HELP reco_rate_limit_buckets Client buckets held (at most RATE_LIMIT_CLIENTS).\n"
                 "# TYPE reco_rate_limit_buckets gauge\nreco_rate_limit_buckets %zu\n"
                 "# HELP reco_rate_limit_evicted_busy_total Buckets evicted before they were idle (table full).\n"
                 "# TYPE reco_rate_limit_evicted_busy_total counter\nreco_rate_limit_evicted_busy_total %llu\n",
                 srv_ratelimit__buckets(), (unsigned long long)atomic_load(&g.evicted_busy));
}
