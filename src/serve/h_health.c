/*
 * h_health.c - the operational endpoints: /healthz (the process answers), /readyz (a model
 * snapshot is loaded, so /recommend can answer), /metrics (Prometheus text exposition format:
 * request counters and latency histograms per route, and the served model versions).
 */
#include "serve.h"

int srv_h_healthz(srv_req *rq, srv_resp *rs) {
  (void)rq;
  srv_buf_puts(&rs->body, "{\"status\":\"ok\"}");
  return 200;
}

int srv_h_readyz(srv_req *rq, srv_resp *rs) {
  (void)rq;
  srv_snapshot *s = srv_snapshot_acquire();
  if (!s) return srv_error(rs, 503, "unavailable", NULL, "no model is loaded yet");
  srv_buf_printf(&rs->body, "{\"status\":\"ready\",\"models\":%d}", s->n_models);
  srv_snapshot_release(s);
  return 200;
}

int srv_h_metrics(srv_req *rq, srv_resp *rs) {
  (void)rq;
  srv_buf *b = &rs->body;
  srv_metrics_render(b);
  srv_retrain_metrics(b); /* issue 7 hook: background retrain counters (retrain.c) */
  srv_snapshot *s = srv_snapshot_acquire();
  srv_buf_puts(b, "# HELP reco_ready Whether a model snapshot is loaded.\n# TYPE reco_ready gauge\n");
  srv_buf_printf(b, "reco_ready %d\n", s ? 1 : 0);
  if (s) {
    srv_buf_puts(b, "# HELP reco_model_version Active registry version of each served model.\n"
                    "# TYPE reco_model_version gauge\n");
    for (int k = 0; k < s->n_models; k++)
      srv_buf_printf(b, "reco_model_version{algorithm=\"%s\"} %d\n", s->models[k].algo, s->models[k].version);
    srv_buf_puts(b, "# HELP reco_model_trained_timestamp_seconds When each served model was trained.\n"
                    "# TYPE reco_model_trained_timestamp_seconds gauge\n");
    for (int k = 0; k < s->n_models; k++)
      srv_buf_printf(b, "reco_model_trained_timestamp_seconds{algorithm=\"%s\"} %.3f\n", s->models[k].algo,
                     (double)s->models[k].m->trained_at_ms / 1e3);
    srv_buf_printf(b, "# HELP reco_catalogue_items Items in the served catalogue.\n# TYPE reco_catalogue_items gauge\n"
                      "reco_catalogue_items %d\n", s->n_items);
    srv_snapshot_release(s);
  }
  rs->content_type = "text/plain; version=0.0.4";
  return 200;
}
