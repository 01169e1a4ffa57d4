/*
 * bench_serve.c - the cost of one POST /api/v1/recommend inside the service, without HTTP: loads
 * the serving snapshot from a MODEL_PATH (as `reco serve` does), then calls the recommend handler
 * with a request body over and over on one thread and reports the median and p99 time per call
 * (JSON parse, validation, the pipeline, the response JSON).
 *
 *   build/bench_serve MODEL_PATH [BODY_JSON] [ITERATIONS]
 *
 * MODEL_PATH is a `reco serve` model directory (the demo one is ./models after a first start).
 * The default body is the seed's example request. Compare with wrk on the running service to see
 * what HTTP adds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "serve/serve.h"

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s MODEL_PATH [BODY_JSON or -] [ITERATIONS]\n", argv[0]);
    return 2;
  }
  const char *body = argc > 2 && strcmp(argv[2], "-") ? argv[2]
                              : "{\"userId\":\"user_12345\",\"limit\":10,\"algorithm\":\"hybrid\",\"context\":{\"device\":"
                                "\"mobile\",\"location\":\"US\",\"time\":\"2024-01-15T10:30:00Z\"},\"filters\":{"
                                "\"category\":[\"electronics\",\"books\"],\"minRating\":4.0},\"diversityWeight\":0.3}";
  int iters = argc > 3 ? atoi(argv[3]) : 20000;
  if (iters < 10) iters = 10;
  srv_snapshot *s = NULL;
  if (srv_snapshot_load(argv[1], &s)) {
    fprintf(stderr, "%s: %s\n", argv[1], reco_last_error());
    return 1;
  }
  srv_snapshot_publish(s);
  srv_config cfg;
  srv_config_defaults(&cfg);
  double *t = malloc((size_t)iters * sizeof *t);
  if (!t) return 1;
  size_t out_len = 0;
  for (int it = -iters / 10; it < iters; it++) { /* the first tenth warms up */
    srv_req rq = {.cfg = &cfg, .method = "POST", .path = "/api/v1/recommend", .body = body, .body_len = strlen(body)};
    srv_resp rs = {0};
    double t0 = reco__now();
    rq.t0 = t0;
    int st = srv_h_recommend(&rq, &rs);
    double dt = reco__now() - t0;
    if (st != 200) {
      fprintf(stderr, "HTTP %d: %.*s\n", st, (int)rs.body.len, rs.body.p ? rs.body.p : "");
      return 1;
    }
    out_len = rs.body.len;
    srv_buf_free(&rs.body);
    if (it >= 0) t[it] = dt;
  }
  qsort(t, (size_t)iters, sizeof *t, cmp_d);
  printf("recommend handler: median %.1f us, p99 %.1f us over %d calls (response %zu bytes)\n", t[iters / 2] * 1e6,
         t[(size_t)(iters * 0.99)] * 1e6, iters, out_len);
  free(t);
  srv_snapshot_thread_release();
  srv_snapshot_publish(NULL);
  return 0;
}
