/*
 * h_models.c - GET /api/v1/models: the models being served, from the current snapshot. Every
 * number comes from the model file: trainedAt and the id-map sizes from its metadata,
 * performance from the validation metrics `reco train` measured and stored in it ({} when the
 * model was trained without validation).
 */
#include "serve.h"

int srv_h_models(srv_req *rq, srv_resp *rs) {
  (void)rq;
  srv_snapshot *s = srv_snapshot_acquire();
  if (!s) return srv_error(rs, 503, "unavailable", NULL, "no model is loaded yet");
  srv_buf *b = &rs->body;
  srv_buf_puts(b, "{\"status\":\"success\",\"models\":[");
  for (int k = 0; k < s->n_models; k++) {
    const srv_model *sm = &s->models[k];
    const char *seed = srv_seed_name(sm->algo);
    srv_buf_puts(b, k ? ",{\"algorithm\":" : "{\"algorithm\":");
    srv_buf_jstr(b, sm->algo);
    srv_buf_puts(b, ",\"seedName\":");
    srv_buf_jstr(b, seed);
    srv_buf_printf(b, ",\"version\":\"%d\",\"active\":true,\"trainedAt\":", sm->version);
    srv_buf_jint(b, sm->m->trained_at_ms);
    srv_buf_printf(b, ",\"nUsers\":%d,\"nItems\":%d,\"nTrain\":%zu,\"fitSeconds\":", sm->m->n_users, sm->m->n_items,
                   sm->m->n_train);
    srv_buf_jnum(b, sm->m->fit_s);
    srv_buf_puts(b, ",\"performance\":");
    srv_buf_puts(b, sm->metrics);
    srv_buf_puts(b, k == s->best ? ",\"answersHybrid\":true}" : "}");
  }
  srv_buf_puts(b, "],\"catalogue\":");
  srv_buf_jstr(b, s->catalogue_path[0] ? s->catalogue_path : NULL);
  srv_buf_puts(b, ",\"loadedAt\":");
  srv_buf_jint(b, s->loaded_at_ms);
  srv_buf_puts(b, ",\"retrain\":"); /* issue 7 hook: the background retrain's last status (retrain.c) */
  srv_retrain_status_json(b);
  srv_buf_puts(b, "}");
  srv_snapshot_release(s);
  return 200;
}
