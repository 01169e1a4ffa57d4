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
 *   ws.c          the push channel: WebSocket (RFC 6455) subscriptions to a user's
 *                 recommendations, pushed after each of their acknowledged interactions
 */
#ifndef RECO_SERVE_H
#define RECO_SERVE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
  char api_keys[1024];     /* API_KEYS, comma-separated; empty = none */
  bool protected_mode;     /* PROTECTED_MODE, default yes: without API keys, loopback clients only */
  char store_path[1024];   /* STORE_PATH, the SQLite store of interactions, default ./data/reco.db */
  int store_queue;         /* STORE_QUEUE, pending durable writes before 503, default 65536 */
  char exp_variants[512];  /* EXPERIMENT_VARIANTS, "control,treatment" or "a:20,b:80" (weights) */
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
void srv_buf_reset(srv_buf *b);
void srv_buf_put(srv_buf *b, const char *s, size_t n);
void srv_buf_puts(srv_buf *b, const char *s);
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
  float *catvec;      /* category one-hots for MMR, n_items x cat_dim (NULL = no categories) */
  int cat_dim;
  uint8_t *avail;     /* bitmap of the model items the catalogue knows; NULL = all of them */
} srv_model;

typedef struct srv_item {
  char *id_json;    /* "item_1", quoted and escaped */
  char *title_json; /* quoted, or NULL */
  char *title;      /* plain, or NULL */
  float price;      /* NAN when unknown */
  float rating;     /* average stars from the item text, NAN when unknown */
  int32_t cat0;     /* first category, -1 when none */
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
  int best;    /* the ranker with the best validation ndcg@10 (hybrid's stand-in), or -1 */
  int32_t max_model_items;
} srv_snapshot;

/* Loads every active model under root plus the catalogue named by root/CATALOGUE. */
int srv_snapshot_load(const char *root, srv_snapshot **out);
/* The current snapshot with a reference held (NULL when none is loaded); release when done. */
srv_snapshot *srv_snapshot_acquire(void);
void srv_snapshot_release(srv_snapshot *s);
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
} srv_route;

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

int srv_h_recommend(srv_req *rq, srv_resp *rs);
int srv_h_similar(srv_req *rq, srv_resp *rs);
int srv_h_models(srv_req *rq, srv_resp *rs);
int srv_h_healthz(srv_req *rq, srv_resp *rs);
int srv_h_readyz(srv_req *rq, srv_resp *rs);
int srv_h_metrics(srv_req *rq, srv_resp *rs);
int srv_h_interaction(srv_req *rq, srv_resp *rs);
int srv_h_profile(srv_req *rq, srv_resp *rs);
int srv_h_assign(srv_req *rq, srv_resp *rs);
int srv_h_stats(srv_req *rq, srv_resp *rs);
/* The path parameter named name, or NULL. */
const char *srv_param(const srv_req *rq, const char *name);
/* FNV-1a 32-bit over a then b (the experiment bucket hash, as GrowthBook's). */
uint32_t srv_fnv1a32(const char *a, const char *b);
/* EXPERIMENT_VARIANTS: "a,b" or "a:20,b:80" -> names and cumulative upper bounds in (0, 1];
 * returns the count, 0 when malformed. */
int srv_variants_parse(const char *spec, char names[][64], double *upper, int max);

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

/* ---- the server (server.c) ---- */
typedef struct srv_server srv_server;
/* Starts listening (threads: cfg->threads). On failure msg says why. */
int srv_start(const srv_config *cfg, srv_server **out, char *msg, size_t msg_len);
/* Stops accepting, finishes in-flight requests, joins the threads. */
void srv_stop(srv_server *s);

#endif
