/*
 * routes.c - the route table: one row per endpoint (method, pattern, handler, metrics label),
 * like Redis's command table. Adding an endpoint is a row here and a handler in h_<resource>.c.
 * Patterns are literal segments and ":name" segments that capture one path segment.
 */
#include <string.h>

#include "serve.h"

/* A row may leave out `role` (it is then SRV_ROLE_READ, 0): only admin routes name theirs. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

static const srv_route k_routes[] = {
    {"POST", "/api/v1/recommend", srv_h_recommend, "recommend"},
    {"POST", "/api/v1/recommend/batch", srv_h_recommend_batch, "recommend_batch"},
    {"POST", "/api/v1/similar", srv_h_similar, "similar"},
    {"POST", "/api/v1/interaction", srv_h_interaction, "interaction"},
    {"POST", "/api/v1/interactions/batch", srv_h_interaction_batch, "interactions_batch"},
    {"GET", "/api/v1/user/:userId/profile", srv_h_profile, "profile"},
    {"POST", "/api/v1/experiment/assign", srv_h_assign, "experiment_assign"},
    {"GET", "/api/v1/models", srv_h_models, "models"},
    {"GET", "/api/v1/stats", srv_h_stats, "stats"},
    {"GET", "/healthz", srv_h_healthz, "healthz"},
    {"GET", "/readyz", srv_h_readyz, "readyz"},
    {"GET", "/metrics", srv_h_metrics, "metrics"},
    /* issue 6: the model registry and the catalogue (writes are admin-only) */
    {"GET", "/api/v1/models/:algorithm/versions", srv_h_model_versions, "model_versions"},
    {"POST", "/api/v1/models/:algorithm/activate", srv_h_model_activate, "model_activate", SRV_ROLE_ADMIN},
    {"POST", "/api/v1/models/:algorithm/rollback", srv_h_model_rollback, "model_rollback", SRV_ROLE_ADMIN},
    {"POST", "/api/v1/items/bulk", srv_h_items_bulk, "items_bulk", SRV_ROLE_ADMIN},
    {"PUT", "/api/v1/items/:itemId", srv_h_item_put, "item_put", SRV_ROLE_ADMIN},
    {"GET", "/api/v1/items/:itemId", srv_h_item_get, "item_get"},
    {"DELETE", "/api/v1/items/:itemId", srv_h_item_delete, "item_delete", SRV_ROLE_ADMIN},
    {"PUT", "/api/v1/users/:userId", srv_h_user_put, "user_put", SRV_ROLE_ADMIN},
    {"GET", "/api/v1/users/:userId", srv_h_user_get, "user_get"},
    {"DELETE", "/api/v1/users/:userId", srv_h_user_delete, "user_delete", SRV_ROLE_ADMIN},
    /* issue 7: privacy and retraining (admin: erasure, export and retrain are not client traffic) */
    {"GET", "/api/v1/user/:userId/export", srv_h_user_export, "user_export", SRV_ROLE_ADMIN},
    {"DELETE", "/api/v1/user/:userId", srv_h_user_erase, "user_erase", SRV_ROLE_ADMIN},
    {"POST", "/api/v1/models/retrain", srv_h_retrain, "models_retrain", SRV_ROLE_ADMIN},
    {"GET", "/api/v1/models/retrain", srv_h_retrain_status, "models_retrain_status"},
    {"GET", "/api/v1/ws", srv_h_ws, "ws"}, /* server.c hands these to ws.c's upgrade */
    {"GET", "/ws", srv_h_ws, "ws"},
};

const char *srv_param(const srv_req *rq, const char *name) {
  size_t nl = strlen(name);
  for (int k = 0; k < rq->n_params; k++)
    if (!strncmp(rq->params[k].name, name, nl) && (rq->params[k].name[nl] == '/' || !rq->params[k].name[nl]))
      return rq->params[k].value;
  return NULL;
}

const srv_route *srv_routes(int *n) {
  *n = (int)(sizeof k_routes / sizeof *k_routes);
  return k_routes;
}

/* Matches path against pattern segment by segment; captures ":name" segments into rq. */
bool srv_route_pattern_match(const char *pattern, const char *path, srv_req *rq) {
  int n_params = 0;
  const char *p = pattern, *s = path;
  while (*p && *s) {
    if (*p != '/' || *s != '/') return false;
    p++, s++;
    size_t pl = strcspn(p, "/"), sl = strcspn(s, "/");
    if (*p == ':') {
      if (sl == 0 || sl >= sizeof rq->params[0].value || n_params == SRV_MAX_PARAMS) return false;
      rq->params[n_params].name = p + 1; /* runs up to the next '/' of the pattern */
      memcpy(rq->params[n_params].value, s, sl);
      rq->params[n_params].value[sl] = '\0';
      n_params++;
    } else if (pl != sl || memcmp(p, s, pl)) {
      return false;
    }
    p += pl, s += sl;
  }
  if (*p || (*s && strcmp(s, "/"))) return false; /* one trailing slash is tolerated */
  rq->n_params = n_params;
  return true;
}

int srv_route_match(const char *method, const char *path, srv_req *rq) {
  int other_method = 0;
  for (size_t k = 0; k < sizeof k_routes / sizeof *k_routes; k++) {
    if (!srv_route_pattern_match(k_routes[k].pattern, path, rq)) continue;
    if (!strcmp(k_routes[k].method, method) || (!strcmp(method, "HEAD") && !strcmp(k_routes[k].method, "GET")))
      return (int)k;
    other_method = 1;
  }
  return other_method ? -2 : -1;
}
