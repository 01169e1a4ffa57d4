/* test_cache.c - the result cache (src/serve/cache.c) and the rate limiter's token buckets
 * (src/serve/ratelimit.c): hit/miss, canonical keys, TTL expiry, the bytes and entries bounds,
 * LRU eviction order, per-user and whole invalidation (including a fill racing an
 * invalidation), the snapshot in the key, several threads at once (content and accounting stay
 * consistent), a Redis that is down, /similar's keys (item, limit, model and snapshot; a
 * catalogue change flushes them), the token bucket's refill and Retry-After, and the bounded
 * bucket table. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/base.h"
#include "serve/cache.h"
#include "serve/fjson.h"
#include "serve/serve.h"

static srv_snapshot g_snap; /* only the fields a key reads: models' names and versions, load time */

static void snap_init(void) {
  memset(&g_snap, 0, sizeof g_snap);
  g_snap.n_models = 2;
  snprintf(g_snap.models[0].algo, sizeof g_snap.models[0].algo, "ials");
  g_snap.models[0].version = 1;
  snprintf(g_snap.models[1].algo, sizeof g_snap.models[1].algo, "popular");
  g_snap.models[1].version = 3;
  g_snap.n_items = 600;
  g_snap.loaded_at_ms = 1000;
}

/* The request text parsed by the service's reader (the thread's document). */
static const fj_val *parse(const char *text, fj_doc **d) {
  *d = fj_thread_doc();
  assert_non_null(*d);
  assert_int_equal(fj_parse(*d, text, strlen(text)), 0);
  return fj_root(*d);
}

/* The key of {"userId":user,"limit":limit} on g_snap. */
static srv_cache_key key_for(const char *user, long limit) {
  srv_cache_key k;
  char text[128];
  snprintf(text, sizeof text, "{\"userId\":\"%s\",\"limit\":%ld}", user, limit);
  fj_doc *d;
  const fj_val *j = parse(text, &d);
  assert_true(srv_cache_key_recommend(&k, &g_snap, d, j, user, strlen(user), "hybrid", limit));
  return k;
}

static bool get_str(srv_cache_key *k, char *out, size_t cap) {
  srv_buf b = {0};
  bool hit = srv_cache_get(k, &b);
  if (hit) snprintf(out, cap, "%.*s", (int)b.len, b.p);
  srv_buf_free(&b);
  return hit;
}

static int setup_l1(void **st) {
  (void)st;
  snap_init();
  return srv_cache__init_l1(1000, 1 << 20, 60);
}

static int teardown(void **st) {
  (void)st;
  srv_cache_shutdown();
  srv_ratelimit_shutdown();
  return 0;
}

static void test_roundtrip(void **st) {
  (void)st;
  char out[64];
  srv_cache_key k = key_for("user_1", 10);
  assert_false(get_str(&k, out, sizeof out));
  srv_cache_put(&k, "[1,2,3]", 7);
  assert_true(get_str(&k, out, sizeof out));
  assert_string_equal(out, "[1,2,3]");
  srv_cache_key k5 = key_for("user_1", 5);
  assert_false(get_str(&k5, out, sizeof out));
  /* the same object with its keys in another order: the same key */
  fj_doc *d;
  const fj_val *j = parse("{\"limit\":10,\"userId\":\"user_1\"}", &d);
  srv_cache_key kr;
  assert_true(srv_cache_key_recommend(&kr, &g_snap, d, j, "user_1", 6, "hybrid", 10));
  assert_memory_equal(kr.l1, k.l1, sizeof k.l1);
  assert_true(get_str(&kr, out, sizeof out));
  /* a hit appends: the caller's prefix stays */
  srv_buf b = {0};
  srv_buf_puts(&b, "{");
  assert_true(srv_cache_get(&k, &b));
  assert_int_equal(b.len, 8);
  assert_memory_equal(b.p, "{[1,2,3]", 8);
  srv_buf_free(&b);
  uint64_t hits, lookups;
  srv_cache_counts(&hits, &lookups);
  assert_int_equal(hits, 3);
  assert_int_equal(lookups, 5);
}

static void test_ttl(void **st) {
  (void)st;
  char out[64];
  srv_cache_key k = key_for("user_ttl", 10);
  srv_cache_put(&k, "x", 1);
  srv_cache__advance_ms(59 * 1000);
  assert_true(get_str(&k, out, sizeof out));
  srv_cache__advance_ms(2 * 1000); /* 61 s after the fill, TTL 60 s */
  assert_false(get_str(&k, out, sizeof out));
  assert_int_equal(srv_cache__entries(), 0); /* the lookup dropped it */
  assert_int_equal(srv_cache__bytes(), 0);
}

/* Whatever is put, the bytes and the entries stay within their bounds, and evictions happen. */
static void test_bounds(void **st) {
  (void)st;
  const long max_bytes = 64 * 4096;
  assert_int_equal(srv_cache__init_l1(1000000, max_bytes, 60), 0);
  char val[500], user[32];
  memset(val, 'v', sizeof val);
  for (int u = 0; u < 5000; u++) {
    snprintf(user, sizeof user, "u%d", u);
    srv_cache_key k = key_for(user, 10);
    srv_cache_put(&k, val, sizeof val);
    assert_true(srv_cache__bytes() <= (size_t)max_bytes);
  }
  assert_true(srv_cache__bytes() > (size_t)max_bytes / 2); /* used, not just bounded */
  assert_true(srv_cache__evictions() > 4000);
  /* a value larger than a shard's share is never stored */
  char *big = calloc(1, 8192);
  srv_cache_key kb = key_for("big", 10);
  srv_cache_put(&kb, big, 8192);
  free(big);
  assert_false(get_str(&kb, user, sizeof user));
  /* the entries bound */
  assert_int_equal(srv_cache__init_l1(640, 1 << 30, 60), 0);
  for (int u = 0; u < 5000; u++) {
    snprintf(user, sizeof user, "u%d", u);
    srv_cache_key k = key_for(user, 10);
    srv_cache_put(&k, "v", 1);
  }
  assert_true(srv_cache__entries() <= 640);
  assert_true(srv_cache__entries() >= 320);
}

/* Users whose keys land in the same shard (the top 6 bits of the L1 key). */
static int same_shard_users(char users[][32], int n) {
  int found = 0;
  uint64_t shard = 0;
  for (int u = 0; u < 100000 && found < n; u++) {
    char name[32];
    snprintf(name, sizeof name, "lru%d", u);
    srv_cache_key k = key_for(name, 10);
    if (found == 0) shard = k.l1[0] >> 58;
    if (k.l1[0] >> 58 == shard) snprintf(users[found++], 32, "%s", name);
  }
  return found;
}

/* Least recently used goes first: A, B in, A touched, C in (the shard holds two) -> B out. */
static void test_lru(void **st) {
  (void)st;
  assert_int_equal(srv_cache__init_l1(128, 1 << 30, 60), 0); /* two entries per shard */
  char users[3][32], out[16];
  assert_int_equal(same_shard_users(users, 3), 3);
  srv_cache_key a = key_for(users[0], 10), b = key_for(users[1], 10), c = key_for(users[2], 10);
  srv_cache_put(&a, "A", 1);
  srv_cache_put(&b, "B", 1);
  assert_true(get_str(&a, out, sizeof out));
  srv_cache_put(&c, "C", 1);
  assert_true(get_str(&a, out, sizeof out));
  assert_string_equal(out, "A");
  assert_false(get_str(&b, out, sizeof out));
  assert_true(get_str(&c, out, sizeof out));
  assert_int_equal(srv_cache__evictions(), 1);
}

static void test_invalidate_user(void **st) {
  (void)st;
  char out[16];
  srv_cache_key k1 = key_for("alice", 10), k2 = key_for("bob", 10);
  srv_cache_put(&k1, "a", 1);
  srv_cache_put(&k2, "b", 1);
  srv_cache_invalidate_user("alice", 5);
  srv_cache_key k1b = key_for("alice", 10), k2b = key_for("bob", 10);
  assert_false(get_str(&k1b, out, sizeof out));
  assert_true(get_str(&k2b, out, sizeof out));
  /* a request that looked up before the interaction and stores after it: its entry is never
   * found by a request made after the interaction */
  srv_cache_key before = key_for("carol", 10);
  assert_false(get_str(&before, out, sizeof out));
  srv_cache_invalidate_user("carol", 5);
  srv_cache_put(&before, "stale", 5);
  srv_cache_key after = key_for("carol", 10);
  assert_false(get_str(&after, out, sizeof out));
}

static void test_snapshot_in_key(void **st) {
  (void)st;
  char out[16];
  srv_cache_key k = key_for("dave", 10);
  srv_cache_put(&k, "d", 1);
  g_snap.loaded_at_ms = 2000; /* a new snapshot of the same versions */
  srv_cache_key k2 = key_for("dave", 10);
  assert_false(get_str(&k2, out, sizeof out));
  assert_memory_equal(k.l2, k2.l2, sizeof k.l2); /* L2 is keyed by versions only */
  g_snap.models[0].version = 2; /* a new model version */
  srv_cache_key k3 = key_for("dave", 10);
  assert_memory_not_equal(k.l2, k3.l2, sizeof k.l2);
  snap_init();
  /* a swap frees everything */
  srv_cache_put(&k, "d", 1);
  assert_true(srv_cache__entries() > 0);
  srv_cache_invalidate_all();
  assert_int_equal(srv_cache__entries(), 0);
  assert_int_equal(srv_cache__bytes(), 0);
  assert_false(get_str(&k, out, sizeof out));
}

/* Several threads get, put and invalidate over a small set of users: every hit returns the
 * value that was stored for that very key, and the accounting matches at the end. */
typedef struct worker {
  int id;
  int bad;
} worker;

static void *work(void *arg) {
  worker *w = arg;
  uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(w->id + 1);
  char user[32], val[600];
  for (int i = 0; i < 30000; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    int u = (int)(x % 300);
    long limit = 5 + (long)((x >> 20) % 3);
    snprintf(user, sizeof user, "user_%d", u);
    srv_cache_key k = key_for(user, limit);
    srv_buf b = {0};
    if (srv_cache_get(&k, &b)) {
      int n = snprintf(val, sizeof val, "%s/%ld:", user, limit);
      if (b.len < (size_t)n || memcmp(b.p, val, (size_t)n)) w->bad++;
    } else {
      int n = snprintf(val, sizeof val, "%s/%ld:", user, limit);
      size_t len = (size_t)n + (x >> 40) % 500;
      memset(val + n, 'p', len - (size_t)n);
      srv_cache_put(&k, val, len);
    }
    srv_buf_free(&b);
    if (x % 97 == 0) srv_cache_invalidate_user(user, strlen(user));
    if (i % 10000 == 9999 && w->id == 0) srv_cache_invalidate_all();
  }
  return NULL;
}

static void test_threads(void **st) {
  (void)st;
  const long max_bytes = 64 * 8192;
  assert_int_equal(srv_cache__init_l1(100000, max_bytes, 60), 0);
  pthread_t t[4];
  worker w[4];
  for (int i = 0; i < 4; i++) {
    w[i] = (worker){i, 0};
    pthread_create(&t[i], NULL, work, &w[i]);
  }
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < 4; i++) assert_int_equal(w[i].bad, 0);
  assert_true(srv_cache__bytes() <= (size_t)max_bytes);
  uint64_t hits, lookups;
  srv_cache_counts(&hits, &lookups);
  assert_int_equal(lookups, 4 * 30000);
  assert_true(hits > 0);
  srv_cache_invalidate_all();
  assert_int_equal(srv_cache__entries(), 0);
  assert_int_equal(srv_cache__bytes(), 0);
}

/* /similar: the key follows the item, the limit, the answering model (name and version) and
 * the snapshot, and never meets a /recommend key; a catalogue change drops the entries. */
static void test_similar_key(void **st) {
  (void)st;
  static char *ids[] = {"\"item_0\"", "\"item_1\"", "\"item_2\""};
  srv_item items[3];
  memset(items, 0, sizeof items);
  for (int i = 0; i < 3; i++) items[i].id_json = ids[i];
  g_snap.items = items;
  g_snap.n_items = 3;
  const srv_model *m0 = &g_snap.models[0], *m1 = &g_snap.models[1];
  srv_cache_key k, other;
  char out[32];
  assert_false(srv_cache_key_similar(&k, &g_snap, m0, 3, 5)); /* out of range: not cached */
  assert_false(srv_cache_key_similar(&k, &g_snap, m0, -1, 5));
  assert_true(srv_cache_key_similar(&k, &g_snap, m0, 1, 5));
  assert_false(k.per_user);
  assert_false(get_str(&k, out, sizeof out));
  srv_cache_put(&k, "sim-1-5", 7);
  assert_true(srv_cache_key_similar(&other, &g_snap, m0, 1, 5));
  assert_true(get_str(&other, out, sizeof out));
  assert_string_equal(out, "sim-1-5");
  assert_true(srv_cache_key_similar(&other, &g_snap, m0, 1, 4));
  assert_false(get_str(&other, out, sizeof out));
  assert_true(srv_cache_key_similar(&other, &g_snap, m0, 2, 5));
  assert_false(get_str(&other, out, sizeof out));
  assert_true(srv_cache_key_similar(&other, &g_snap, m1, 1, 5));
  assert_false(get_str(&other, out, sizeof out));
  g_snap.models[0].version = 2; /* a new version of the answering model */
  assert_true(srv_cache_key_similar(&other, &g_snap, m0, 1, 5));
  assert_false(get_str(&other, out, sizeof out));
  assert_true(memcmp(other.l2, k.l2, sizeof k.l2) != 0);
  g_snap.models[0].version = 1;
  g_snap.loaded_at_ms++; /* a reload of the same versions: another L1 key, the same L2 key */
  assert_true(srv_cache_key_similar(&other, &g_snap, m0, 1, 5));
  assert_false(get_str(&other, out, sizeof out));
  assert_memory_equal(other.l2, k.l2, sizeof k.l2);
  g_snap.loaded_at_ms--;
  /* a /recommend key never equals a /similar one */
  srv_cache_key kr = key_for("item_1", 5);
  assert_true(memcmp(kr.l1, k.l1, sizeof k.l1) != 0 && memcmp(kr.l2, k.l2, sizeof k.l2) != 0);
  assert_true(get_str(&k, out, sizeof out));
  srv_cache_catalog_changed();
  assert_false(get_str(&k, out, sizeof out));
  assert_int_equal(srv_cache__entries(), 0);
  g_snap.items = NULL;
  g_snap.n_items = 600;
}

/* Configuration: off means no key; a bad REDIS_URL is refused; a Redis nobody listens on is
 * "down", not an error, and lookups still work from L1. */
static void test_config(void **st) {
  (void)st;
  srv_config c;
  char msg[256];
  srv_config_defaults(&c);
  c.cache_enabled = false;
  assert_int_equal(srv_cache_init(&c, msg, sizeof msg), 0);
  srv_cache_key k;
  fj_doc *d;
  const fj_val *j = parse("{\"userId\":\"u\"}", &d);
  assert_false(srv_cache_key_recommend(&k, &g_snap, d, j, "u", 1, "hybrid", 10));
  c.cache_enabled = true;
  snprintf(c.redis_url, sizeof c.redis_url, "http://localhost");
  assert_int_equal(srv_cache_init(&c, msg, sizeof msg), RECO_EINVAL);
  assert_non_null(strstr(msg, "REDIS_URL"));
  snprintf(c.redis_url, sizeof c.redis_url, "redis://127.0.0.1:1/0"); /* port 1: refused at once */
  assert_int_equal(srv_cache_init(&c, msg, sizeof msg), 0);
  assert_int_equal(srv_redis_up(), 0);
  assert_true(srv_cache_key_recommend(&k, &g_snap, d, j, "u", 1, "hybrid", 10));
  char out[16];
  assert_false(get_str(&k, out, sizeof out));
  srv_cache_put(&k, "x", 1);
  assert_true(get_str(&k, out, sizeof out));
  srv_cache_invalidate_user("u", 1);
  srv_cache_shutdown();
  /* the settings by their environment names, each bad value naming its variable */
  srv_config_defaults(&c);
  assert_true(c.cache_enabled && c.cache_ttl_s == 3600 && c.rl_max == 1000 && c.rl_window_ms == 60000 && !c.rl_loopback);
  assert_int_equal(srv_config_set(&c, "CACHE_ENABLED", "no", msg, sizeof msg), 0);
  assert_false(c.cache_enabled);
  assert_int_equal(srv_config_set(&c, "CACHE_ENABLED", "maybe", msg, sizeof msg), RECO_EINVAL);
  assert_non_null(strstr(msg, "CACHE_ENABLED"));
  assert_int_equal(srv_config_set(&c, "CACHE_TTL", "0", msg, sizeof msg), RECO_EINVAL);
  assert_non_null(strstr(msg, "CACHE_TTL"));
  assert_int_equal(srv_config_set(&c, "L1_CACHE_BYTES", "1048576", msg, sizeof msg), 0);
  assert_int_equal(c.cache_bytes, 1048576);
  assert_int_equal(srv_config_set(&c, "RATE_LIMIT_MAX", "-1", msg, sizeof msg), RECO_EINVAL);
  assert_int_equal(srv_config_set(&c, "RATE_LIMIT_RECOMMEND_MAX", "-1", msg, sizeof msg), 0);
  assert_int_equal(srv_config_set(&c, "RATE_LIMIT_LOOPBACK", "yes", msg, sizeof msg), 0);
  assert_true(c.rl_loopback);
  assert_int_equal(srv_config_set(&c, "REDIS_URL", "redis://:pw@cache.internal:6380/2", msg, sizeof msg), 0);
  assert_string_equal(c.redis_url, "redis://:pw@cache.internal:6380/2");
  assert_int_equal(srv_config_set(&c, "REDIS_TIMEOUT_MS", "0", msg, sizeof msg), RECO_EINVAL);
}

static void test_bucket(void **st) {
  (void)st;
  srv_bucket b = {0};
  double cap = 3, per_ms = 3.0 / 60000; /* 3 per minute */
  int retry = 0;
  for (int i = 0; i < 3; i++) assert_true(srv_bucket_take(&b, cap, per_ms, 1000, &retry));
  assert_false(srv_bucket_take(&b, cap, per_ms, 1000, &retry));
  assert_int_equal(retry, 20); /* one token every 20 s */
  assert_false(srv_bucket_take(&b, cap, per_ms, 1000 + 15000, &retry));
  assert_int_equal(retry, 5);
  assert_true(srv_bucket_take(&b, cap, per_ms, 1000 + 20000, &retry));
  assert_false(srv_bucket_take(&b, cap, per_ms, 1000 + 20000, &retry));
  /* an hour idle refills to the capacity, not beyond */
  int ok = 0;
  for (int i = 0; i < 10; i++) ok += srv_bucket_take(&b, cap, per_ms, 3600 * 1000, &retry);
  assert_int_equal(ok, 3);
  /* a clock that goes back takes nothing extra */
  assert_false(srv_bucket_take(&b, cap, per_ms, 1000, &retry));
}

static int route_index(const char *name) {
  int n;
  const srv_route *r = srv_routes(&n);
  for (int k = 0; k < n; k++)
    if (!strcmp(r[k].name, name)) return k;
  return -1;
}

static void test_ratelimit_table(void **st) {
  (void)st;
  srv_config c;
  srv_config_defaults(&c);
  c.rl_max = 2;
  c.rl_window_ms = 1000;
  c.rl_recommend_max = 5;
  c.rl_clients = 16;
  assert_int_equal(srv_ratelimit_init(&c), 0);
  int stats = route_index("stats"), rec = route_index("recommend"), health = route_index("healthz"), retry;
  assert_true(stats >= 0 && rec >= 0 && health >= 0);
  assert_true(srv_ratelimit_take(1, stats, 5000, &retry));
  assert_true(srv_ratelimit_take(1, stats, 5000, &retry));
  assert_false(srv_ratelimit_take(1, stats, 5000, &retry));
  assert_int_equal(retry, 1);
  assert_true(srv_ratelimit_take(2, stats, 5000, &retry)); /* another client */
  for (int i = 0; i < 5; i++) assert_true(srv_ratelimit_take(1, rec, 5000, &retry)); /* its own limit */
  assert_false(srv_ratelimit_take(1, rec, 5000, &retry));
  for (int i = 0; i < 100; i++) assert_true(srv_ratelimit_take(1, health, 5000, &retry)); /* never limited */
  assert_true(srv_ratelimit_take(1, stats, 5500, &retry)); /* half a window: one token back */
  assert_false(srv_ratelimit_take(1, stats, 5500, &retry));
  /* the table is bounded whatever the number of clients */
  for (uint64_t id = 100; id < 10100; id++) srv_ratelimit_take(id, stats, 6000, &retry);
  assert_true(srv_ratelimit__buckets() <= 16);
  /* RATE_LIMIT_MAX=0: nothing is limited */
  c.rl_max = 0;
  c.rl_recommend_max = -1;
  assert_int_equal(srv_ratelimit_init(&c), 0);
  for (int i = 0; i < 100; i++) assert_true(srv_ratelimit_take(1, stats, 5000, &retry));
  assert_int_equal(srv_ratelimit__buckets(), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_roundtrip, setup_l1, teardown),
      cmocka_unit_test_setup_teardown(test_ttl, setup_l1, teardown),
      cmocka_unit_test_setup_teardown(test_bounds, setup_l1, teardown),
      cmocka_unit_test_setup_teardown(test_lru, setup_l1, teardown),
      cmocka_unit_test_setup_teardown(test_invalidate_user, setup_l1, teardown),
      cmocka_unit_test_setup_teardown(test_snapshot_in_key, setup_l1, teardown),
      cmocka_unit_test_setup_teardown(test_threads, setup_l1, teardown),
      cmocka_unit_test_setup_teardown(test_similar_key, setup_l1, teardown),
      cmocka_unit_test_setup_teardown(test_config, setup_l1, teardown),
      cmocka_unit_test_setup_teardown(test_bucket, setup_l1, teardown),
      cmocka_unit_test_setup_teardown(test_ratelimit_table, setup_l1, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
