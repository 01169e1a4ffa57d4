/*
 * h_admin.c - the model registry over HTTP (src/model/registry.h):
 *   GET  /api/v1/models/:algorithm/versions   every version on disk: metrics, trainedAt, size,
 *                                             active (ACTIVE names it) and serving (in the
 *                                             current snapshot)
 *   POST /api/v1/models/:algorithm/activate   {"version": N}                    (admin)
 *   POST /api/v1/models/:algorithm/rollback   back to the version active before (admin)
 *
 * A swap is the SIGHUP path (snapshot.c): the registry's ACTIVE file changes only after the new
 * version's file verified completely (reco__registry_activate: header, sections, checksum), then
 * a new snapshot is built beside the serving one and published atomically; requests in flight
 * finish on the old one, so none fails. When the new file is corrupt or truncated the request is
 * refused (422, the registry unchanged); when the new snapshot cannot be built or does not serve
 * the version asked for, ACTIVE is put back and the old snapshot keeps serving. Swaps are one at
 * a time (srv_reload_lock); a request waits for the one before it.
 *
 * Where a swap runs: not on the HTTP thread that received it (its other connections would wait
 * for the whole load). The handler checks the request, suspends it (srv_defer) and hands an
 * admin_job to the model loader thread (loader.c); the job does everything under the reload
 * lock there, writes its answer into the job, and resumes the request; admin_finish, back on an
 * HTTP thread, sends that answer. A full loader queue is a 503 with Retry-After (nothing was
 * changed); a job queued when SIGTERM arrives still runs and is answered (srv_stop waits).
 *
 * Rollback goes to the version this process saw active before the last swap of that algorithm
 * (the "previous active"); when it has none (no swap since start-up), to the newest version older
 * than the active one whose file verifies (reco__registry_rollback).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "model/registry.h"
#include "serve.h"

#define MAX_TRACKED 32

/* The version active before the last swap, per algorithm (under srv_reload_lock). */
static struct {
  char algo[RECO_MF_NAME_MAX];
  int prev;
} g_prev[MAX_TRACKED];

static int *prev_slot(const char *algo) {
  for (int k = 0; k < MAX_TRACKED; k++) {
    if (!g_prev[k].algo[0]) snprintf(g_prev[k].algo, sizeof g_prev[k].algo, "%s", algo);
    if (!strcmp(g_prev[k].algo, algo)) return &g_prev[k].prev;
  }
  return NULL; /* more algorithms than tracked: rollback falls back to the registry's order */
}

static const char *algo_param(srv_req *rq, srv_resp *rs, int *st) {
  const char *algo = srv_param(rq, "algorithm");
  if (!algo || reco__registry_check_algo(algo)) {
    *st = srv_error(rs, 400, "invalid_argument", "algorithm",
                    "algorithm must be 1..31 characters of [A-Za-z0-9_.-], not starting with '.'");
    return NULL;
  }
  return algo;
}

/* The version of algo in the current snapshot, 0 when it serves none. */
static int serving_version(const srv_snapshot *s, const char *algo) {
  for (int k = 0; s && k < s->n_models; k++)
    if (!strcmp(s->models[k].algo, algo)) return s->models[k].version;
  return 0;
}

static void put_json_or_empty(srv_buf *b, const char *text) {
  json_t *j = text && text[0] ? json_loads(text, 0, NULL) : NULL;
  char *d = json_is_object(j) ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6) | JSON_PRESERVE_ORDER) : NULL;
  srv_buf_puts(b, d ? d : "{}");
  free(d);
  json_decref(j);
}

int srv_h_model_versions(srv_req *rq, srv_resp *rs) {
  int st = 200;
  const char *algo = algo_param(rq, rs, &st);
  if (!algo) return st;
  reco_reg_entry *e = NULL;
  size_t n = 0;
  if (reco__registry_list(rq->cfg->model_path, algo, &e, &n))
    return srv_error(rs, 500, "internal", NULL, "listing the registry failed: %s", reco_last_error());
  if (n == 0) {
    reco__registry_list_free(e, n);
    return srv_error(rs, 404, "not_found", "algorithm", "no versions of '%s' under MODEL_PATH", algo);
  }
  srv_snapshot *s = srv_snapshot_acquire();
  int serving = serving_version(s, algo);
  srv_snapshot_release(s);
  srv_buf *b = &rs->body;
  int active = 0;
  for (size_t k = 0; k < n; k++)
    if (e[k].active) active = e[k].version;
  srv_buf_puts(b, "{\"status\":\"success\",\"result\":{\"algorithm\":");
  srv_buf_jstr(b, algo);
  srv_buf_puts(b, ",\"activeVersion\":");
  if (active) srv_buf_jint(b, active);
  else srv_buf_puts(b, "null");
  srv_buf_puts(b, ",\"servingVersion\":");
  if (serving) srv_buf_jint(b, serving);
  else srv_buf_puts(b, "null");
  srv_buf_puts(b, ",\"versions\":[");
  for (size_t k = 0; k < n; k++) {
    const reco_reg_entry *v = &e[k];
    srv_buf_printf(b, "%s{\"version\":%d,\"active\":%s,\"serving\":%s,\"sizeBytes\":%llu,\"trainedAt\":", k ? "," : "",
                   v->version, v->active ? "true" : "false", v->version == serving ? "true" : "false",
                   (unsigned long long)v->file_bytes);
    if (v->trained_at_ms > 0) srv_buf_jint(b, v->trained_at_ms);
    else srv_buf_puts(b, "null");
    srv_buf_puts(b, ",\"fitSeconds\":");
    if (v->fit_s >= 0) srv_buf_jnum(b, v->fit_s);
    else srv_buf_puts(b, "null");
    srv_buf_puts(b, ",\"nTrain\":");
    if (v->n_train >= 0) srv_buf_jint(b, v->n_train);
    else srv_buf_puts(b, "null");
    srv_buf_printf(b, ",\"nUsers\":%d,\"nItems\":%d,\"metrics\":", v->n_users, v->n_items);
    put_json_or_empty(b, v->metrics);
    srv_buf_puts(b, ",\"params\":");
    put_json_or_empty(b, v->params);
    srv_buf_puts(b, ",\"error\":");
    srv_buf_jstr(b, v->err ? (v->error ? v->error : "unreadable") : NULL);
    srv_buf_puts(b, "}");
  }
  srv_buf_puts(b, "]}}");
  reco__registry_list_free(e, n);
  return st;
}

/* Whether version is on disk for algo (so a missing one is a 404, a bad one a 422). */
static bool version_exists(const char *root, const char *algo, int version) {
  char path[2048];
  return !reco__registry_path(root, algo, version, path, sizeof path) && !access(path, F_OK);
}

/* One swap on its way through the loader thread (owned by the request from srv_defer to
 * admin_finish). The settings are copied: the job needs nothing of the request. */
typedef struct admin_job {
  bool rollback;
  int version; /* activate's */
  char algo[RECO_MF_NAME_MAX];
  char root[1024];         /* MODEL_PATH */
  char default_algo[64];   /* DEFAULT_ALGORITHM */
  int status;              /* the answer, written by the loader before the resume */
  srv_resp out;
  srv_pending *p;
} admin_job;

/* Under srv_reload_lock: ACTIVE has just been set to `version` (was `prev`); builds and checks
 * the new snapshot and publishes it, or puts ACTIVE back. Returns the HTTP status. */
static int swap_in(const admin_job *j, srv_resp *rs, const char *algo, int version, int prev, double t0) {
  char msg[1024];
  srv_snapshot *next = NULL;
  int rc = srv_snapshot_reload_locked(j->root, j->default_algo, &next, msg, sizeof msg);
  if (!rc && serving_version(next, algo) != version) {
    /* srv_snapshot_load skips a model it cannot load (to keep the others serving) */
    snprintf(msg, sizeof msg, "version %d of %s did not load", version, algo);
    srv_snapshot_release(next);
    rc = RECO_EFORMAT;
  }
  if (rc) {
    if (prev > 0 && reco__registry_activate(j->root, algo, prev))
      reco__log(RECO_LOG_ERROR, "models: could not restore %s v%d as active: %s", algo, prev, reco_last_error());
    return srv_error(rs, 422, "invalid_model", "version", "%s; still serving the previous models", msg);
  }
  srv_snapshot_publish(next);
  int *slot = prev_slot(algo);
  if (slot && prev != version) *slot = prev;
  reco__log(RECO_LOG_INFO, "models: %s v%d active (was v%d), swapped in %.1f ms", algo, version, prev, srv_ms_since(t0));
  srv_buf *b = &rs->body;
  srv_buf_puts(b, "{\"status\":\"success\",\"result\":{\"algorithm\":");
  srv_buf_jstr(b, algo);
  srv_buf_printf(b, ",\"version\":%d,\"previousVersion\":", version);
  if (prev > 0) srv_buf_jint(b, prev);
  else srv_buf_puts(b, "null");
  srv_buf_puts(b, ",\"swapMs\":");
  srv_buf_jnum(b, srv_ms_since(t0));
  srv_buf_puts(b, "}}");
  return 200;
}

/* Activates version (after verifying its file), under the reload lock. */
static int activate(const admin_job *j, srv_resp *rs, const char *algo, int version) {
  double t0 = reco__now();
  const char *root = j->root;
  if (!version_exists(root, algo, version))
    return srv_error(rs, 404, "not_found", "version", "%s has no version %d", algo, version);
  int prev = 0;
  if (reco__registry_active(root, algo, &prev)) prev = 0;
  if (reco__registry_activate(root, algo, version))
    return srv_error(rs, 422, "invalid_model", "version", "version %d of %s is refused: %s; still serving the previous models",
                     version, algo, reco_last_error());
  return swap_in(j, rs, algo, version, prev, t0);
}

/* Rollback, under the reload lock. */
static int rollback(const admin_job *j, srv_resp *rs) {
  const char *root = j->root, *algo = j->algo;
  double t0 = reco__now();
  int active = 0, *slot = prev_slot(algo);
  if (reco__registry_active(root, algo, &active))
    return srv_error(rs, 404, "not_found", "algorithm", "%s has no active version to roll back from", algo);
  if (slot && *slot > 0 && *slot != active && version_exists(root, algo, *slot)) return activate(j, rs, algo, *slot);
  int to = 0;
  if (reco__registry_rollback(root, algo, &to)) return srv_error(rs, 409, "no_previous_version", "algorithm", "%s", reco_last_error());
  return swap_in(j, rs, algo, to, active, t0);
}

/* The loader thread: the whole swap, under the reload lock, then the resume (after which j
 * belongs to the HTTP thread: serve.h, deferred responses). */
static void admin_run(void *ctx) {
  admin_job *j = ctx;
  srv_reload_lock();
  j->status = j->rollback ? rollback(j, &j->out) : activate(j, &j->out, j->algo, j->version);
  srv_reload_unlock();
  srv_resume(j->p);
}

/* Back on an HTTP thread: sends the job's answer (rs NULL: the client is gone; the swap stands). */
static int admin_finish(void *ctx, srv_resp *rs) {
  admin_job *j = ctx;
  int st = j->status;
  if (rs) {
    srv_buf_free(&rs->body);
    rs->body = j->out.body;
    rs->retry_after_s = j->out.retry_after_s;
    j->out.body = (srv_buf){0};
  }
  srv_buf_free(&j->out.body);
  free(j);
  return st;
}

/* Hands the job to the loader and defers the answer; every outcome goes through admin_finish. */
static int admin_submit(srv_req *rq, srv_resp *rs, bool is_rollback, const char *algo, int version) {
  admin_job *j = calloc(1, sizeof *j);
  if (!j) return srv_error(rs, 503, "unavailable", NULL, "out of memory");
  j->rollback = is_rollback, j->version = version;
  snprintf(j->algo, sizeof j->algo, "%s", algo);
  snprintf(j->root, sizeof j->root, "%s", rq->cfg->model_path);
  snprintf(j->default_algo, sizeof j->default_algo, "%s", rq->cfg->default_algo);
  j->p = srv_defer(rq, admin_finish, j); /* suspends first: the job may finish before we return */
  int rc = srv_loader_submit(admin_run, j);
  if (rc) { /* not queued: nothing changed; answered through the same path */
    j->out.retry_after_s = 1;
    if (rc == RECO_ELIMIT)
      j->status = srv_error(&j->out, 503, "unavailable", NULL,
                            "%d model swaps are already waiting for the loader: retry later", SRV_LOAD_QUEUE);
    else j->status = srv_error(&j->out, 503, "unavailable", NULL, "the server is stopping: retry later");
    srv_resume(j->p);
  }
  return SRV_DEFERRED;
}

int srv_h_model_activate(srv_req *rq, srv_resp *rs) {
  int st = 200;
  const char *algo = algo_param(rq, rs, &st);
  if (!algo) return st;
  json_t *j = srv_parse_object(rq, rs, &st);
  if (!j) return st;
  long version;
  if (!json_object_get(j, "version")) st = srv_error(rs, 400, "invalid_argument", "version", "version is required: an integer >= 1");
  else if (srv_get_int(j, "version", 1, 1L << 30, 0, &version, rs, &st)) st = admin_submit(rq, rs, false, algo, (int)version);
  json_decref(j);
  return st;
}

int srv_h_model_rollback(srv_req *rq, srv_resp *rs) {
  int st = 200;
  const char *algo = algo_param(rq, rs, &st);
  if (!algo) return st;
  return admin_submit(rq, rs, true, algo, 0);
}
