/*
 * h_stats.c - GET /api/v1/stats: the seed's service summary, every number from a counter.
 *
 *   totalRecommendations  2xx answers of /recommend since start (metrics.c)
 *   totalInteractions     interactions in the store (counted at start-up, then per ack)
 *   avg/p50/p95/p99LatencyMs  /recommend's latency histogram (quantiles interpolated inside
 *                         the buckets, as Prometheus's histogram_quantile)
 *   cacheHitRate          result cache hits (L1 or L2) / cache lookups of /recommend since
 *                         start-up (cache.c's counters; 0 when CACHE_ENABLED=no)
 *   clickThroughRate      clicks / recommendations served (both since start-up)
 *   conversionRate        purchases / clicks (since start-up)
 *   uptimeSeconds         since the service started
 */
#include <time.h>

#include "serve.h"

int srv_h_stats(srv_req *rq, srv_resp *rs) {
  static const double qs[3] = {0.5, 0.95, 0.99};
  uint64_t n_ok = 0, n_all = 0;
  double avg = 0, q[3] = {0, 0, 0};
  srv_metrics_route("recommend", &n_ok, &n_all, &avg, qs, q, 3);
  uint64_t cache_hits = 0, cache_lookups = 0;
  srv_cache_counts(&cache_hits, &cache_lookups);
  int64_t clicks = atomic_load(&srv_n_clicks) - srv_clicks_at_start, purchases = atomic_load(&srv_n_purchases) - srv_purchases_at_start;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  srv_buf *b = &rs->body;
  srv_buf_printf(b, "{\"status\":\"success\",\"stats\":{\"totalRecommendations\":%llu,\"totalInteractions\":%lld",
                 (unsigned long long)n_ok, (long long)atomic_load(&srv_n_interactions));
  srv_buf_puts(b, ",\"avgLatencyMs\":");
  srv_buf_jnum(b, avg);
  srv_buf_puts(b, ",\"p50LatencyMs\":");
  srv_buf_jnum(b, q[0]);
  srv_buf_puts(b, ",\"p95LatencyMs\":");
  srv_buf_jnum(b, q[1]);
  srv_buf_puts(b, ",\"p99LatencyMs\":");
  srv_buf_jnum(b, q[2]);
  srv_buf_puts(b, ",\"cacheHitRate\":");
  srv_buf_jnum(b, cache_lookups ? (double)cache_hits / (double)cache_lookups : 0.0);
  srv_buf_puts(b, ",\"clickThroughRate\":");
  srv_buf_jnum(b, n_ok ? (double)clicks / (double)n_ok : 0.0);
  srv_buf_puts(b, ",\"conversionRate\":");
  srv_buf_jnum(b, clicks ? (double)purchases / (double)clicks : 0.0);
  srv_buf_printf(b, ",\"clicks\":%lld,\"purchases\":%lld,\"uptimeSeconds\":", (long long)clicks, (long long)purchases);
  double up = srv_started_at > 0 ? (double)now.tv_sec + now.tv_nsec / 1e9 - srv_started_at : 0.0;
  srv_buf_jnum(b, up);
  srv_buf_puts(b, "}}");
  return 200;
}
