/*
 * cache.h - the result cache of POST /api/v1/recommend and POST /api/v1/similar (cache.c,
 * redis.c) and the rate limiter (ratelimit.c). Included by serve.h; nothing outside src/serve/
 * uses it.
 *
 * What is cached: the response body up to, not including, its latencyMs field (/recommend:
 * userId, the recommendation array, algorithm, modelVersion, coldStart, ...; /similar: itemId,
 * similarItems, algorithm). latencyMs and cacheHit are written fresh by srv_cache_finish() on
 * both paths, so cacheHit is true only when the bytes came from a cache.
 *
 * The key (srv_cache_key_recommend, srv_cache_key_similar) is XXH3-128 of the route, the
 * request (the /recommend body hashed canonically: the order of object members does not
 * matter; /similar's item, limit and the model that answers), the effective limit and algorithm
 * (defaults applied), and
 *   L1: the snapshot's identity (load time and model versions) and, for /recommend, the user's
 *       local generation, bumped by srv_cache_invalidate_user() after an interaction's ack;
 *   L2: the model versions only (replicas share it); the entry is stored with the generations
 *       in Redis (global, catalogue, and the user's for /recommend) and hits only under the
 *       same ones (redis.c).
 * A model swap, a catalogue write (which republishes the snapshot or flips availability, then
 * srv_cache_catalog_changed) or a new interaction therefore makes the old entry unreachable the
 * moment it happens, and memory is reclaimed by eviction (or at once, srv_cache_invalidate_all).
 */
#ifndef RECO_SERVE_CACHE_H
#define RECO_SERVE_CACHE_H

#include "serve.h"

#define SRV_GEN_MAX 80 /* bytes of redis.c's generation prefix, with its NUL */

typedef struct srv_cache_key {
  uint64_t l1[2];   /* the in-process key */
  uint64_t l2[2];   /* the Redis key (replica independent) */
  uint64_t user;    /* XXH3-64 of the user id */
  bool l2_looked;   /* L2 answered the lookup (up), so a fill goes there too */
  bool per_user;    /* /recommend: the user's generation applies (not /similar) */
  char l2_gen[SRV_GEN_MAX]; /* the generations in Redis at lookup (redis.c: "<global>:<catalogue>:<user>") */
} srv_cache_key;

/* Sets up L1 (and L2 when cfg->redis_url is set) from the configuration; with CACHE_ENABLED=no
 * every call below is a cheap no-op. Returns 0, or RECO_EINVAL with msg (a bad REDIS_URL). */
int srv_cache_init(const srv_config *cfg, char *msg, size_t msg_len);
void srv_cache_shutdown(void);
bool srv_cache_enabled(void);

/* Builds the key of a /recommend request: req is the parsed body, s the acquired snapshot,
 * limit and algo the effective values. Returns false when the cache is off. */
bool srv_cache_key_recommend(srv_cache_key *k, const srv_snapshot *s, const struct fj_doc *d,
                             const struct fj_val *req, const char *user, size_t user_len, const char *algo,
                             long limit);
/* Builds the key of a /similar request: the catalogue item ci and the model sm (of the
 * acquired snapshot s) that answers, with the effective limit. Returns false when the cache
 * is off. */
bool srv_cache_key_similar(srv_cache_key *k, const srv_snapshot *s, const srv_model *sm, int32_t ci, long limit);
/* On a hit appends the cached bytes to out and returns true (L1 first, then L2; an L2 hit
 * fills L1). Never allocates except to grow out. */
bool srv_cache_get(srv_cache_key *k, srv_buf *out);
/* Stores p[0..n) under k in L1 (and L2 when it answered the lookup). */
void srv_cache_put(const srv_cache_key *k, const char *p, size_t n);
/* Appends ,"latencyMs":..,"cacheHit":..}} : the end of a cached route's body, hit or not. */
void srv_cache_finish(srv_buf *b, double t0, bool hit);
/* After an interaction of user is acknowledged: that user's cached lists become unreachable
 * (in L1 here, and in L2 for every replica sharing the Redis). */
void srv_cache_invalidate_user(const char *user, size_t len);
/* Drops every L1 entry (a new snapshot was published). */
void srv_cache_invalidate_all(void);
/* After a catalogue write (item upsert, bulk import, delete) is applied to this process's
 * snapshot: L1 is flushed and the catalogue generation in Redis moves, so no replica's L2
 * lookup finds a list computed before it, and the other replicas reload (redis.c). */
void srv_cache_catalog_changed(void);
/* Lookups that hit (L1 + L2) and lookups in all, since start-up (for /stats). */
void srv_cache_counts(uint64_t *hits, uint64_t *lookups);
/* Prometheus text of the cache counters (hits, misses, evictions, bytes per level; Redis up). */
void srv_cache_metrics_render(srv_buf *b);

/* For tests: the L1 alone, with its own bounds (no config, no Redis). */
int srv_cache__init_l1(long max_entries, long max_bytes, int ttl_s);
size_t srv_cache__bytes(void);   /* bytes charged to L1 entries now */
size_t srv_cache__entries(void); /* L1 entries now */
uint64_t srv_cache__evictions(void);
void srv_cache__advance_ms(int64_t ms); /* moves the cache's clock forward (TTL tests) */

/* ---- L2 in Redis (redis.c) ---- */
/* Parses the URL and tries one connection (logged); Redis being down is not an error. With
 * on_catalog, a watcher thread calls it (to reload the snapshot) when another replica changed
 * the catalogue. */
int srv_redis_init(const char *url, int timeout_ms, int ttl_s, void (*on_catalog)(void), char *msg, size_t msg_len);
void srv_redis_shutdown(void);
bool srv_redis_configured(void);
/* One round trip: the generations (the user's when has_user) and the entry. true = a hit whose
 * stored generations are the current ones; its bytes are appended to out. *up = Redis answered
 * and this process's snapshot matches its catalogue generation (so a fill may go there). gen
 * receives the current generations (for the fill). */
bool srv_redis_get(const uint64_t key[2], uint64_t user, bool has_user, srv_buf *out, char gen[SRV_GEN_MAX], bool *up);
void srv_redis_setex(const uint64_t key[2], const char *gen, const char *p, size_t n);
void srv_redis_bump_user(uint64_t user);
void srv_redis_bump_catalog(void);
uint64_t srv_redis_catalog_reloads(void); /* catch-up reloads after other replicas' changes */
int srv_redis_up(void); /* the gauge: 1 connected, 0 down or not configured */
uint64_t srv_redis_errors(void);

/* ---- rate limiting (ratelimit.c) ---- */
struct MHD_Connection;
/* A token bucket: capacity cap tokens, refilled at per_ms tokens per millisecond. */
typedef struct srv_bucket {
  double tokens;
  int64_t last_ms;
} srv_bucket;
/* Takes one token at now_ms; false when empty, with *retry_s the whole seconds until one is
 * back (at least 1). A fresh bucket (last_ms 0) starts full. */
bool srv_bucket_take(srv_bucket *b, double cap, double per_ms, int64_t now_ms, int *retry_s);

int srv_ratelimit_init(const srv_config *cfg);
void srv_ratelimit_shutdown(void);
/* The limiter's decision for client ident (hash of key or address) on route at now_ms. */
bool srv_ratelimit_take(uint64_t ident, int route, int64_t now_ms, int *retry_s);
/* server.c's hook, before the handler: when the client is over its limit on this route, writes
 * the 429 (Retry-After, JSON error) into rs, sets *st and returns true. */
bool srv_ratelimit_deny(struct MHD_Connection *c, const srv_config *cfg, int route, srv_resp *rs, int *st);
size_t srv_ratelimit__buckets(void); /* buckets in the table now (tests) */
void srv_ratelimit_metrics_render(srv_buf *b);

#endif
