/*
 * metrics.c - what /metrics reports, kept as plain counters (like Redis's INFO fields): per
 * route, requests by status class and a latency histogram with fixed bounds. Updates are
 * relaxed atomic increments into one of SHARDS copies picked per thread (so the HTTP threads do
 * not bounce one cache line between cores on every request); reading sums the shards. Observing
 * costs a few nanoseconds and never takes a lock.
 * Route index -1 (no route matched) is reported as route="unmatched".
 */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "serve.h"

#define MAX_ROUTES 64

const double srv_lat_bounds[SRV_LAT_BUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                0.025,  0.05,    0.1,    0.25,  0.5,   1.0,  INFINITY};

typedef struct route_stats {
  atomic_uint_fast64_t by_class[6]; /* 1xx..5xx by first digit; [0] unused */
  atomic_uint_fast64_t buckets[SRV_LAT_BUCKETS];
  atomic_uint_fast64_t sum_ns;
} route_stats;

#define SHARDS 16
static _Alignas(64) route_stats g_stats[SHARDS][MAX_ROUTES + 1]; /* [.][MAX_ROUTES] = unmatched */
static atomic_int g_next_shard;
static _Thread_local int tl_shard = -1;

/* The plain sum over shards of one route's counters. */
typedef struct route_sum {
  uint64_t by_class[6], buckets[SRV_LAT_BUCKETS], sum_ns;
} route_sum;

static void sum_route(int k, route_sum *o) {
  memset(o, 0, sizeof *o);
  for (int sh = 0; sh < SHARDS; sh++) {
    route_stats *r = &g_stats[sh][k];
    for (int c = 0; c < 6; c++) o->by_class[c] += atomic_load_explicit(&r->by_class[c], memory_order_relaxed);
    for (int b = 0; b < SRV_LAT_BUCKETS; b++) o->buckets[b] += atomic_load_explicit(&r->buckets[b], memory_order_relaxed);
    o->sum_ns += atomic_load_explicit(&r->sum_ns, memory_order_relaxed);
  }
}

void srv_metrics_observe(int route, int status, double seconds) {
  if (tl_shard < 0) tl_shard = atomic_fetch_add_explicit(&g_next_shard, 1, memory_order_relaxed) % SHARDS;
  route_stats *r = &g_stats[tl_shard][route >= 0 && route < MAX_ROUTES ? route : MAX_ROUTES];
  int cls = status / 100;
  if (cls < 1 || cls > 5) cls = 5;
  atomic_fetch_add_explicit(&r->by_class[cls], 1, memory_order_relaxed);
  int b = 0;
  while (b < SRV_LAT_BUCKETS - 1 && seconds > srv_lat_bounds[b]) b++;
  atomic_fetch_add_explicit(&r->buckets[b], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&r->sum_ns, (uint_fast64_t)(seconds * 1e9), memory_order_relaxed);
}

static void render_route(srv_buf *b, const char *name, const route_sum *r, bool header) {
  if (header) {
    srv_buf_puts(b, "# HELP reco_http_requests_total HTTP requests by route and status class.\n"
                    "# TYPE reco_http_requests_total counter\n");
  }
  for (int c = 1; c <= 5; c++) {
    uint64_t v = r->by_class[c];
    if (v) srv_buf_printf(b, "reco_http_requests_total{route=\"%s\",code=\"%dxx\"} %llu\n", name, c, (unsigned long long)v);
  }
}

static void render_hist(srv_buf *b, const char *name, const route_sum *r) {
  uint64_t cum = 0;
  for (int k = 0; k < SRV_LAT_BUCKETS; k++) {
    cum += r->buckets[k];
    if (k == SRV_LAT_BUCKETS - 1)
      srv_buf_printf(b, "reco_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n", name,
                     (unsigned long long)cum);
    else
      srv_buf_printf(b, "reco_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n", name,
                     srv_lat_bounds[k], (unsigned long long)cum);
  }
  srv_buf_printf(b, "reco_http_request_duration_seconds_sum{route=\"%s\"} %.9f\n", name,
                 (double)r->sum_ns / 1e9);
  srv_buf_printf(b, "reco_http_request_duration_seconds_count{route=\"%s\"} %llu\n", name, (unsigned long long)cum);
}

void srv_metrics_render(srv_buf *b) {
  int n;
  const srv_route *routes = srv_routes(&n);
  if (n > MAX_ROUTES) n = MAX_ROUTES;
  route_sum rs;
  for (int k = 0; k < n; k++) sum_route(k, &rs), render_route(b, routes[k].name, &rs, k == 0);
  sum_route(MAX_ROUTES, &rs);
  render_route(b, "unmatched", &rs, n == 0);
  srv_buf_puts(b, "# HELP reco_http_request_duration_seconds Time from the request's arrival to its response.\n"
                  "# TYPE reco_http_request_duration_seconds histogram\n");
  for (int k = 0; k < n; k++) sum_route(k, &rs), render_hist(b, routes[k].name, &rs);
  sum_route(MAX_ROUTES, &rs);
  render_hist(b, "unmatched", &rs);
  srv_cache_metrics_render(b);     /* [cache hook] cache.c */
  srv_ratelimit_metrics_render(b); /* [rate limit hook] ratelimit.c */
  srv_loader_metrics(b);           /* the model loader (loader.c) */
  srv_ws_metrics(b);               /* the push channel (ws.c) */
}

bool srv_metrics_route(const char *name, uint64_t *n_ok, uint64_t *n_all, double *avg_ms, const double *qs, double *q_ms,
                       int nq) {
  int n, k;
  const srv_route *routes = srv_routes(&n);
  for (k = 0; k < n && k < MAX_ROUTES; k++)
    if (!strcmp(routes[k].name, name)) break;
  if (k == n || k == MAX_ROUTES) return false;
  route_sum sum, *r = &sum;
  sum_route(k, &sum);
  uint64_t cnt[SRV_LAT_BUCKETS], total = 0;
  for (int b = 0; b < SRV_LAT_BUCKETS; b++) total += cnt[b] = r->buckets[b];
  *n_ok = r->by_class[2];
  *n_all = total;
  *avg_ms = total ? (double)r->sum_ns / 1e6 / (double)total : 0.0;
  /* quantile q: the bucket holding rank q*total, linear inside it (as Prometheus's
   * histogram_quantile); the +Inf bucket reports its lower bound */
  for (int j = 0; j < nq; j++) {
    q_ms[j] = 0;
    if (!total) continue;
    double rank = qs[j] * (double)total, cum = 0;
    for (int b = 0; b < SRV_LAT_BUCKETS; b++) {
      if (cum + (double)cnt[b] >= rank && cnt[b]) {
        double lo = b ? srv_lat_bounds[b - 1] : 0.0, hi = srv_lat_bounds[b];
        q_ms[j] = 1e3 * (isinf(hi) ? lo : lo + (hi - lo) * (rank - cum) / (double)cnt[b]);
        break;
      }
      cum += (double)cnt[b];
    }
  }
  return true;
}
