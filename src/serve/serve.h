/*
 * serve.h - the HTTP service's internal interface (`reco serve`), shared by the files of
 * src/serve/ and by cmd/reco/serve.c. Nothing in the library core includes it.
 *
 * Files and their one job each:
 *   config.c      configuration: defaults < .env < environment < command-line flags
 *   jsonw.c       a small append-only buffer with JSON emitters, for hot-path responses
 *   snapshot.c    the serving snapshot: immutable models + catalogue, swapped atomically and
 *                 reference counted (the invariants are at the top of that file)
 *   metrics.c     request counters and latency histograms per route, kept as plain atomics
 *   routes.c      the route table (method, pattern with :params, handler), like Redis's commands
 *   server.c      libmicrohttpd wiring: connections, bodies, limits, dispatch, errors
 *   h_*.c         one handler file per resource
 *   live.c        the real-time state applied after an interaction's ack: each user's recent
 *                 history (bounded) and the click/purchase counters of /stats
 *   cache.c       the result cache of /recommend: L1 in process (sharded, bytes-bounded, TTL,
 *                 per-user invalidation), in front of redis.c's optional shared L2
 *   redis.c       the L2 cache in Redis (hiredis): per-thread connections, outage backoff
 *   ratelimit.c   token buckets per API key or client address and route (429 + Retry-After)
 *   catalog.c     the serving effect of catalogue writes: availability bitmaps flipped in place,
 *                 stored metadata applied to new snapshots, the parsed catalogue they share
 *   h_admin.c     the model registry over HTTP (versions, activate, rollback)
 *   loader.c      the model loader thread: builds the admin routes' snapshots off the HTTP threads
 *   h_catalog.c   items and users metadata over HTTP (upsert, get, delete, bulk import)
 *   retrain.c     background retraining from the catalogue + the store, guarded publish
 *   h_privacy.c   GDPR export and erasure of a user, the erased-user set, admin checks
 *   ws.c          the push channel: WebSocket (RFC 6455) subscriptions to a user's
 *                 recommendations, pushed after each of their acknowledged interactions
 */
#ifndef RECO_SERVE_H
#define RECO_SERVE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "algo/algo.h"

/* ---- configuration (config.c) ---- */
typedef struct srv_config {
  char host[256];          /* HOST, default 0.0.0.0 */
  int port;                /* PORT, default 3000 */
  char model_path[1024];   /* MODEL_PATH, default ./models */
  char data_dir[1024];     /* DEMO_DATA_PATH: where the demo catalogue is generated, ./data/demo-ecommerce */
  char default_algo[64];   /* DEFAULT_ALGORITHM, default hybrid */
  int rec_limit;           /* RECOMMENDATION_LIMIT, default 10 (1..100) */
  int threads;             /* SERVE_THREADS, default: one per core */
  int conn_limit;          /* MAX_CONNECTIONS, default 1024 */
  int conn_timeout_s;      /* CONNECTION_TIMEOUT, seconds idle before a connection is closed, 30 */
  size_t max_body;         /* MAX_BODY_BYTES, default 1 MiB */
  size_t max_header;       /* MAX_HEADER_BYTES: a connection's memory for request + response headers, 8 KiB */
  char api_keys[1024];     /* API_KEYS, comma-separated; empty = none */
  bool protected_mode;     /* PROTECTED_MODE, default yes: without API keys, loopback clients only */
  char store_path[1024];   /* STORE_PATH, the SQLite store of interactions, default ./data/reco.db */
  int store_queue;         /* STORE_QUEUE, pending durable writes before 503, default 65536 */
  char exp_variants[512];  /* EXPERIMENT_VARIANTS, "control,treatment" or "a:20,b:80" (weights) */
  int min_cf;              /* MIN_INTERACTIONS_FOR_CF (default 3; the seed says 5): below it the cold-start
                            * scorer is blended in, fading out as the history grows (rank.h) */
  int cold_strategy;       /* COLD_START_STRATEGY: popular_items (default) | context_popular | members,
                            * as reco_cold_strategy */
  int cand_pool;           /* CANDIDATE_POOL: candidates per model a request re-ranks (MMR, blending);
                            * 0 (default) = 10 x (offset + limit), at least 100, at most 200 */
  bool log_json;           /* LOG_FORMAT=json (default) | text */
  int log_level;           /* LOG_LEVEL=error|warn|info|debug (RECO_LOG_*), default info */
  bool log_access;         /* LOG_ACCESS=yes (default) | no: one line per request at info level */
  /* caching (cache.c, redis.c) and rate limiting (ratelimit.c) */
  bool cache_enabled;      /* CACHE_ENABLED, default yes */
  int cache_ttl_s;         /* CACHE_TTL, seconds a cached list lives (L1 and L2), default 3600 */
  long cache_entries;      /* L1_CACHE_SIZE, most entries in the in-process cache, default 100000 */
  long cache_bytes;        /* L1_CACHE_BYTES, most bytes in the in-process cache, default 64 MiB */
  char redis_url[512];     /* REDIS_URL, redis://[:password@]host[:port][/db]; empty = no L2 */
  int redis_timeout_ms;    /* REDIS_TIMEOUT_MS, connect and command timeout, default 5 */
  int rl_max;              /* RATE_LIMIT_MAX, requests per window per client and route; 0 = off */
  int rl_window_ms;        /* RATE_LIMIT_WINDOW, the window in ms, default 60000 */
  int rl_recommend_max;    /* RATE_LIMIT_RECOMMEND_MAX, /recommend's own limit; -1 = RATE_LIMIT_MAX */
  int rl_interaction_max;  /* RATE_LIMIT_INTERACTION_MAX, /interaction's own; -1 = RATE_LIMIT_MAX */
  bool rl_loopback;        /* RATE_LIMIT_LOOPBACK: limit loopback clients without a key too, default no */
  long rl_clients;         /* RATE_LIMIT_CLIENTS, buckets kept (idle ones evicted first), default 65536 */
  /* background retraining and privacy (retrain.c, h_privacy.c) */
  long update_interval_ms; /* MODEL_UPDATE_INTERVAL, ms between timed retrains, default 600000, 0 = off */
  long update_min_new;     /* MODEL_UPDATE_MIN_INTERACTIONS, retrain after N new acks, default 1000, 0 = off */
  double max_regression;   /* RETRAIN_MAX_REGRESSION, publish when new >= old * (1 - this), default 0.02 */
  long retrain_max_rows;   /* RETRAIN_MAX_ROWS, interactions a retrain reads at most, default 5000000 */
  int ws_max_clients;      /* WS_MAX_CLIENTS, WebSocket connections at once, default 256 (at most
                              half of MAX_CONNECTIONS: an upgraded socket keeps its MHD slot) */
  int ws_ping_s;           /* WS_PING_INTERVAL, seconds of client silence before a ping, default 30 */
} srv_config;

void srv_config_defaults(srv_config *c);
/* Applies `dotenv` (a .env file, may be missing) then the environment; a variable already in
 * the environment wins over the file. On a bad value returns RECO_EINVAL with msg naming it. */
int srv_config_load(srv_config *c, const char *dotenv, char *msg, size_t msg_len);
/* Sets one setting by its environment name ("PORT", "3000"); same validation. */
int srv_config_set(srv_config *c, const char *key, const char *value, char *msg, size_t msg_len);

/* ---- JSON writer (jsonw.c) ---- */
typedef struct srv_buf {
  char *p;
  size_t len, cap;
  bool oom; /* an append failed; the content is truncated */
} srv_buf;

void srv_buf_free(srv_buf *b);
void srv_buf_reserve(srv_buf *b, size_t n); /* room for n more bytes (one allocation up front) */
void srv_buf_reset(srv_buf *b);
void srv_buf_put_slow(srv_buf *b, const char *s, size_t n);
/* Inline, so that a literal's length is a constant and the usual append is a copy. */
static inline void srv_buf_put(srv_buf *b, const char *s, size_t n) {
  if (!b->oom && b->len + n + 1 <= b->cap) {
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
  } else {
    srv_buf_put_slow(b, s, n);
  }
}
static inline void srv_buf_puts(srv_buf *b, const char *s) { srv_buf_put(b, s, strlen(s)); }
void srv_buf_printf(srv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void srv_buf_jstr(srv_buf *b, const char *s);            /* a JSON string literal, escaped */
void srv_buf_jstrn(srv_buf *b, const char *s, size_t n);
void srv_buf_jnum(srv_buf *b, double v);                  /* %.6g, or null when not finite */
void srv_buf_jint(srv_buf *b, int64_t v);

/* ---- snapshot (snapshot.c) ---- */
#define SRV_MAX_MODELS 32

typedef struct srv_model {
  reco_model *m;
  char algo[RECO_MF_NAME_MAX];
  int version;
  int32_t *m2c; /* model item -> catalogue item (-1 unknown); NULL when the catalogue is absent */
  int32_t *c2m; /* catalogue item -> model item (-1 unknown) */
  char *metrics; /* validation metrics as a JSON object text ("{}" when none) */
  double ndcg;   /* validation ndcg@10, or -1 */
  /* the recommend pipeline's per-item inputs in this model's item indices (built at load) */
  reco_itemmeta meta; /* categories only (cats shared with the catalogue); n_items 0 = none */
  float *rating;      /* per model item, the catalogue's average rating (NAN = unknown) */
  struct reco_rec_catindex *catidx; /* category bitmasks and lists (filters, MMR); NULL = none */
  bool ctx_ok;        /* the snapshot's context model indexes this model's items the same way */
  bool pop_ok;        /* ... and its popular model (the cold-start scorer blended in) */
  float *catvec;      /* category one-hots for MMR when there are > 64 categories, else NULL */
  int cat_dim;
  uint8_t *avail;     /* bitmap of the model items the catalogue knows; NULL = all of them */
  uint8_t *live_avail; /* avail minus the items deleted through the API (catalog.c); flipped in place */
} srv_model;

typedef struct srv_item {
  char *id_json;    /* "item_1", quoted and escaped */
  char *title_json; /* quoted, or NULL */
  char *title;      /* plain, or NULL */
  float price;      /* NAN when unknown */
  float rating;     /* average stars from the item text, NAN when unknown */
  int32_t cat0;     /* first category, -1 when none */
  char *meta_json;  /* ,"metadata":{...} with cat0 as the category (the response's usual case) */
  uint32_t id_len, title_len, meta_len; /* strlen of the three above (0 when NULL), set with meta_json */
} srv_item;

typedef struct srv_snapshot {
  atomic_int refs;
  int64_t loaded_at_ms;
  reco_dataset *cat; /* catalogue and histories (may be NULL: ids only, every user cold) */
  char catalogue_path[1024];
  const reco_idmap *ids; /* external item ids (the catalogue's, else a model's); owned by them */
  int32_t n_items; /* catalogue items */
  srv_item *items;
  float *f_rating;    /* per catalogue item, the average rating (NAN when unknown) */
  char **cat_json; /* category names, quoted, by category index */
  int32_t n_cats;
  srv_model models[SRV_MAX_MODELS];
  int n_models;
  int popular; /* index into models of `popular`, or -1 */
  int context; /* index into models of `context` (context-aware re-ranking), or -1 */
  int best;    /* the ranker with the best validation ndcg@10 (hybrid's stand-in), or -1 */
  int32_t max_model_items;
  uint8_t *c_unavail; /* per catalogue item, bit set = deleted through the API (catalog.c) */
  struct srv_catref *cat_ref; /* when cat is shared with other snapshots (catalog.c), its holder */
} srv_snapshot;

/* ,"metadata":{"title","category","price","rating"} of catalogue item ci with category cat. */
void srv_item_meta_json(srv_buf *b, const srv_snapshot *s, int32_t ci, int32_t cat);
/* Loads every active model under root plus the catalogue named by root/CATALOGUE. */
int srv_snapshot_load(const char *root, srv_snapshot **out);
/* The current snapshot with a reference held (NULL when none is loaded); release when done. */
srv_snapshot *srv_snapshot_acquire(void);
void srv_snapshot_release(srv_snapshot *s);
/* The hot path's form: the current snapshot borrowed by this thread (no release), valid until
 * the thread's next call; the thread holds one reference until then (see snapshot.c). */
srv_snapshot *srv_snapshot_current(void);
/* Bumped (after the change) by every snapshot publish and every availability change: what the
 * recommend pipeline's kept eligible lists are keyed by (rank.h, filter_gen). Never 0. */
extern atomic_uint_fast64_t srv_filter_gen;
/* Drops the calling thread's borrowed reference (threads that end release it by themselves). */
void srv_snapshot_thread_release(void);
/* Installs s (taking over the caller's reference) and releases the previous one. s may be NULL. */
void srv_snapshot_publish(srv_snapshot *s);

/* Resolves an API algorithm name (the seed's or an engine's) to a loaded model.
 * Returns the index into s->models, or -1 with msg set (naming what is available). */
int srv_snapshot_pick(const srv_snapshot *s, const char *name, char *msg, size_t msg_len);
/* The seed's name for an engine algorithm ("itemknn" -> "collaborative_filtering"), or NULL. */
const char *srv_seed_name(const char *engine);
/* The model's item index of catalogue item ci (-1 when unknown to the model), and back. */
static inline int32_t srv_c2m(const srv_model *sm, int32_t ci) {
  if (!sm->c2m) return ci < sm->m->n_items ? ci : -1;
  return sm->c2m[ci];
}
static inline int32_t srv_m2c(const srv_model *sm, int32_t mi) { return sm->m2c ? sm->m2c[mi] : mi; }
/* Reloading: builds a snapshot from the registry beside the serving one and publishes it, with
 * DEFAULT_ALGORITHM checked (the SIGHUP path). One reload at a time (srv_reload_lock); with out
 * non-NULL, the _locked variant hands the new snapshot back unpublished, for the caller to check. */
void srv_reload_lock(void);
void srv_reload_unlock(void);
int srv_snapshot_reload_locked(const char *root, const char *default_algo, srv_snapshot **out, char *msg, size_t msg_len);
int srv_snapshot_reload(const char *root, const char *default_algo, char *msg, size_t msg_len);

/* ---- the catalogue overlay (catalog.c) ---- */
/* The availability bitmap to rank with: the model's items the catalogue knows, minus the ones
 * deleted through the API since (bit set = available; rank.h's `available`). */
const uint8_t *srv_model_available(const srv_model *sm);
/* Whether catalogue item ci may be offered (false once deleted through the API). */
bool srv_item_available(const srv_snapshot *s, int32_t ci);
/* Stores an item's availability, then applies it to the serving snapshot at once. */
int srv_catalog_set_available(const char *id, bool available);
/* Stores item documents (one transaction: all or none), then applies their availability to the
 * serving snapshot at once; *n_known counts those the snapshot's catalogue has (their metadata
 * needs a reload to be served). */
struct store_doc;
int srv_catalog_put_items(const struct store_doc *docs, size_t n, size_t *n_known);
/* Applies the stored item documents to a snapshot being built (srv_snapshot_load). */
int srv_catalog_overlay(srv_snapshot *s);
/* Held by srv_snapshot_publish around the swap: applies the stored deletions to s first. */
void srv_catalog_publish_lock(srv_snapshot *s);
void srv_catalog_publish_unlock(void);
/* The catalogue at path for a snapshot being built: the one parsed last when its files are
 * unchanged (shared, read-only; *ref is then its holder, to release with srv_catref_release
 * instead of freeing *out), else parsed anew (*ref NULL when it is the caller's alone). */
typedef struct srv_catref srv_catref;
int srv_catalogue_load(const char *path, reco_dataset **out, srv_catref **ref);
void srv_catref_release(srv_catref *r);
/* Drops the cached catalogue (at shutdown, after the last snapshot). */
void srv_catalogue_cache_free(void);
/* Whether the store holds any item document (a reload after the store opens applies them). */
bool srv_catalog_present(void);

/* ---- metrics (metrics.c) ---- */
#define SRV_LAT_BUCKETS 14
extern const double srv_lat_bounds[SRV_LAT_BUCKETS]; /* seconds, upper bounds; last is +Inf */
void srv_metrics_observe(int route, int status, double seconds);
/* Prometheus text of every counter into b. */
void srv_metrics_render(srv_buf *b);
/* One route's (by name) 2xx count, request count, mean latency and quantiles q[0..nq) (ms,
 * interpolated inside the histogram's buckets). Returns false for an unknown route. */
bool srv_metrics_route(const char *name, uint64_t *n_ok, uint64_t *n_all, double *avg_ms, const double *qs, double *q_ms,
                       int nq);

/* ---- the store and the real-time state (live.c) ---- */
struct reco_store;
extern struct reco_store *srv_store; /* set by cmd/reco/serve.c before srv_start; NULL = none */
#define SRV_LIVE_HIST 200            /* recent interactions kept in memory per user */
#define SRV_LIVE_USERS 1000000       /* users tracked in memory; beyond, only the store has them */
/* Appends an acknowledged interaction to the user's in-memory history (negative feedback is
 * not history: it is only counted). */
void srv_live_add(const char *user, size_t user_len, const char *item, float value, const char *type);
/* The same without counting (the start-up replay of the store). */
void srv_live_restore(const char *user, size_t user_len, const char *item, float value, const char *type);
/* Copies the user's history, oldest first, at most cap entries (item ids as the caller's
 * callback sees them). Returns the count. */
typedef void (*srv_live_fn)(void *ctx, const char *item, float value);
size_t srv_live_history(const char *user, size_t user_len, srv_live_fn fn, void *ctx);
/* Counters for /stats, seeded from the store at start-up. */
extern atomic_int_fast64_t srv_n_interactions, srv_n_clicks, srv_n_purchases;
/* the stored clicks/purchases at start-up: rates are over this run (recommendations served are
 * counted since start-up too) */
extern int64_t srv_clicks_at_start, srv_purchases_at_start;
extern double srv_started_at; /* wall clock seconds when the service started */
void srv_live_free(void);

/* ---- requests, routes and handlers (routes.c, server.c, h_*.c) ---- */
#define SRV_MAX_PARAMS 4

typedef struct srv_req {
  const srv_config *cfg;
  const char *method, *path;
  const char *body;
  size_t body_len;
  double t0; /* monotonic seconds when the request arrived */
  int n_params;
  struct {
    const char *name;
    char value[256];
  } params[SRV_MAX_PARAMS];
  struct srv_conn *conn; /* the server's state of this request (srv_defer's argument) */
  const char *request_id;
} srv_req;

/* A handler writes the response body (JSON unless it sets content_type) and returns the HTTP
 * status. */
typedef struct srv_resp {
  srv_buf body;
  const char *content_type;
  int retry_after_s; /* > 0: a Retry-After header (503 when a queue is full) */
} srv_resp;
typedef int (*srv_handler)(srv_req *rq, srv_resp *rs);

typedef struct srv_route {
  const char *method;
  const char *pattern; /* "/api/v1/user/:userId/profile" */
  srv_handler fn;
  const char *name;    /* the metrics label */
  int role;            /* the least role that may call it: SRV_ROLE_READ (0, the default) or SRV_ROLE_ADMIN */
} srv_route;

/* API roles (API_KEYS=key:role,...): read calls every route but the catalogue and model writes,
 * admin calls every route (docs/API.md, "API keys and roles"). A key without a role is read. */
enum { SRV_ROLE_READ = 0, SRV_ROLE_ADMIN = 1 };

/* Matches method and path; fills rq->params. Returns the route's index, -1 when no pattern
 * matches (404), -2 when a pattern matches with another method (405). */
int srv_route_match(const char *method, const char *path, srv_req *rq);
const srv_route *srv_routes(int *n);
/* One pattern against one path (exposed for tests); params[k].name points into the pattern and
 * runs to the next '/'. */
bool srv_route_pattern_match(const char *pattern, const char *path, srv_req *rq);

/* {"status":"error","error":{"code":..,"message":..,"field":..}}; returns status. */
int srv_error(srv_resp *rs, int status, const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Parses the body as a JSON object; on failure writes the 400 and returns NULL. */
json_t *srv_parse_object(srv_req *rq, srv_resp *rs, int *status);
/* Reads an optional integer field in [lo, hi]; *status set to the 400 on a bad value. */
bool srv_get_int(json_t *o, const char *field, long lo, long hi, long def, long *out, srv_resp *rs, int *status);
double srv_ms_since(double t0);
/* The same two for the hot handlers, over the allocation-free reader of fjson.h: the body's
 * root object in the thread's document *doc (valid until the thread's next parse). */
struct fj_doc;
struct fj_val;
const struct fj_val *srv_parse_fast(srv_req *rq, srv_resp *rs, int *status, struct fj_doc **doc);
bool srv_fget_int(const struct fj_doc *d, const struct fj_val *o, const char *field, long lo, long hi, long def,
                  long *out, srv_resp *rs, int *status);

int srv_h_recommend(srv_req *rq, srv_resp *rs);
#define SRV_REC_BATCH_MAX 100 /* requests in one POST /api/v1/recommend/batch */
int srv_h_recommend_batch(srv_req *rq, srv_resp *rs);
int srv_h_similar(srv_req *rq, srv_resp *rs);
int srv_h_models(srv_req *rq, srv_resp *rs);
int srv_h_healthz(srv_req *rq, srv_resp *rs);
int srv_h_readyz(srv_req *rq, srv_resp *rs);
int srv_h_metrics(srv_req *rq, srv_resp *rs);
int srv_h_interaction(srv_req *rq, srv_resp *rs);
int srv_h_interaction_batch(srv_req *rq, srv_resp *rs);
int srv_h_profile(srv_req *rq, srv_resp *rs);
int srv_h_assign(srv_req *rq, srv_resp *rs);
int srv_h_stats(srv_req *rq, srv_resp *rs);
int srv_h_model_versions(srv_req *rq, srv_resp *rs);  /* h_admin.c */
int srv_h_model_activate(srv_req *rq, srv_resp *rs);
int srv_h_model_rollback(srv_req *rq, srv_resp *rs);
int srv_h_item_put(srv_req *rq, srv_resp *rs);        /* h_catalog.c */
int srv_h_item_get(srv_req *rq, srv_resp *rs);
int srv_h_item_delete(srv_req *rq, srv_resp *rs);
int srv_h_items_bulk(srv_req *rq, srv_resp *rs);
int srv_h_user_put(srv_req *rq, srv_resp *rs);
int srv_h_user_get(srv_req *rq, srv_resp *rs);
int srv_h_user_delete(srv_req *rq, srv_resp *rs);
/* The path parameter named name, or NULL. */
const char *srv_param(const srv_req *rq, const char *name);
/* FNV-1a 32-bit over a then b (the experiment bucket hash, as GrowthBook's). */
uint32_t srv_fnv1a32(const char *a, const char *b);
/* EXPERIMENT_VARIANTS: "a,b" or "a:20,b:80" -> names and cumulative upper bounds in (0, 1];
 * returns the count, 0 when malformed. */
int srv_variants_parse(const char *spec, char names[][64], double *upper, int max);

/* ---- deferred responses (server.c) ----
 * A handler whose answer depends on another thread (the store's writer commits a record) does
 * not block its HTTP thread: it calls srv_defer and returns SRV_DEFERRED. The connection is
 * suspended (libmicrohttpd stops polling it); the other thread, once the outcome is known and
 * stored in ctx, calls srv_resume exactly once, from any thread (the handler itself may call
 * it, e.g. when the work could not even be queued). Then, back on an HTTP thread, finish(ctx,
 * rs) writes the response and returns its status. When there is no one to answer any more (the
 * client went away, or the server is stopping) finish is called with rs == NULL: it must still
 * release ctx (and apply any effect that must follow a commit). finish runs exactly once. */
#define SRV_DEFERRED 0
typedef int (*srv_finish_fn)(void *ctx, srv_resp *rs);
typedef struct srv_conn srv_pending;
srv_pending *srv_defer(srv_req *rq, srv_finish_fn finish, void *ctx);
void srv_resume(srv_pending *p);

/* ---- the model loader (loader.c) ----
 * One thread that runs snapshot builds for the admin routes (model activate, rollback, the
 * catalogue writes' republish), so no HTTP thread loads a model. The handler defers its request
 * (srv_defer), then submits a job; the job ends with srv_resume. At most SRV_LOAD_QUEUE jobs
 * wait: a submit on a full queue returns RECO_ELIMIT (the handler answers 503 + Retry-After, or
 * for a catalogue write "republished": false), after srv_loader_stop began (or
 * before srv_loader_start) RECO_ESTATE. srv_start starts it; srv_stop stops it once the HTTP
 * daemon stopped, running every job still queued. */
#define SRV_LOAD_QUEUE 8
typedef void (*srv_load_fn)(void *ctx);
int srv_loader_start(void);
void srv_loader_stop(void);
int srv_loader_submit(srv_load_fn fn, void *ctx);
void srv_loader_metrics(srv_buf *b); /* its Prometheus lines */

/* ---- logs (server.c) ----
 * One line per event (JSON or text, by LOG_FORMAT) handed to srv_log_out, which the program
 * sets (cmd/reco/serve.c writes it to stderr); NULL drops every line. Lines are bounded
 * (1 KiB): longer messages are cut. */
extern void (*srv_log_out)(const char *line, size_t len);
void srv_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* ---- background retraining (retrain.c) ---- */
/* Starts the low-priority retrain thread (after srv_store is set and a snapshot is published). */
int srv_retrain_start(const srv_config *cfg);
/* Asks a running retrain to stop at its next check and joins the thread. */
void srv_retrain_stop(void);
/* Called by /interaction after an acknowledged (new) interaction: counts it, and returns true
 * only when this interaction made the count reach MODEL_UPDATE_MIN_INTERACTIONS and a retrain
 * was handed to the thread (the response's modelUpdateQueued). */
bool srv_retrain_note_interaction(void);
/* Queues a retrain now (POST /api/v1/models/retrain); false when one is already queued or running. */
bool srv_retrain_request(const char *why);
/* The last retrain's status as a JSON object, and its Prometheus lines. */
void srv_retrain_status_json(srv_buf *b);
void srv_retrain_metrics(srv_buf *b);
/* The training set: the catalogue's history at catalogue_path ("" = none; erased users left
 * out) plus the newest rows of the store (skipping items a catalogue does not know and negative
 * feedback), at most max_rows interactions in all. COO rows [0, n_store) come from the store, in
 * commit order, with their store row ids in store_ids. Shared by retrain and the start-up
 * training of cmd/reco/serve.c. */
typedef struct srv_trainset {
  reco_dataset *ds;
  size_t n_store;
  int64_t *store_ids;   /* n_store entries */
  int64_t store_max_id; /* the newest store row read (0 = none): recorded in the models' metrics */
} srv_trainset;
int srv_trainset_build(const char *catalogue_path, struct reco_store *st, long max_rows, srv_trainset *out);
void srv_trainset_free(srv_trainset *t);
int srv_h_retrain(srv_req *rq, srv_resp *rs);
int srv_h_retrain_status(srv_req *rq, srv_resp *rs);

/* ---- privacy (h_privacy.c) ---- */
/* Loads the erased users recorded in the store into memory (start-up). */
int srv_erased_load(struct reco_store *st);
/* True when user id was erased (DELETE /api/v1/user/:id): serving must ignore the catalogue's
 * history and the trained rows of this id (treat them as cold); lock-free read. */
bool srv_user_erased(const char *id, size_t len);
int srv_h_user_export(srv_req *rq, srv_resp *rs);
int srv_h_user_erase(srv_req *rq, srv_resp *rs);
/* Drops the user's in-memory history (live.c). */
void srv_live_forget(const char *user, size_t user_len);
/* ---- the push channel (ws.c) ---- */
#define WS_MAX_MESSAGE (16 * 1024)  /* a client's message, fragments reassembled; beyond: close 1009 */
#define WS_MAX_SUBS 8               /* subscriptions per connection */
#define WS_MAX_OUTBUF (512 * 1024)  /* unsent bytes per connection; beyond: close 1008 */
struct MHD_Connection;
/* Starts the push thread (server.c, before the daemon); stops it after closing every
 * connection with 1001 and joins it (server.c, before the daemon stops). */
int srv_ws_start(const srv_config *cfg);
void srv_ws_stop(void);
/* The route's handler: without the upgrade headers, 426 naming Upgrade. */
int srv_h_ws(srv_req *rq, srv_resp *rs);
/* The handshake on an MHD worker: validates the request, queues the 101 (or the 4xx/503) on
 * the connection itself; *status is what was queued. Returns MHD's result. */
int srv_ws_upgrade(struct MHD_Connection *c, srv_req *rq, int *status);
/* After an interaction's durable ack: queues a push for the user's subscribers (none: no-op;
 * already queued: coalesced). Never blocks on a socket or computes. */
void srv_ws_notify(const char *user, size_t user_len, int64_t interaction_id);
/* The push channel's Prometheus lines: clients, subscriptions, messages, pushes, coalesced and
 * dropped ones, connections ended by reason. */
void srv_ws_metrics(srv_buf *b);

/* ---- the server (server.c) ---- */
typedef struct srv_server srv_server;
/* Starts listening (threads: cfg->threads). On failure msg says why. */
int srv_start(const srv_config *cfg, srv_server **out, char *msg, size_t msg_len);
/* Stops accepting, finishes in-flight requests (deferred ones included: they are answered once
 * their work completes), joins the threads. */
void srv_stop(srv_server *s);

/* ---- caching (cache.c, redis.c) and rate limiting (ratelimit.c) ---- */
#include "cache.h"

#endif
