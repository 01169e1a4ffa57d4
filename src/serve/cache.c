/*
 * cache.c - the L1 result cache of /recommend and /similar: in process, sharded, bounded by
 * bytes and by entries, with a TTL; and the two-level lookup (L1, then redis.c's L2) that
 * h_recommend.c and h_similar.c call. Keys and the meaning of a hit are described in cache.h.
 *
 * Layout: SHARDS independent shards chosen by the key's high bits, each a mutex, a fixed-size
 * chained hash table (sized once at start-up: no rehash, so the table itself is bounded) and an
 * LRU list. An entry is one allocation: header + value bytes. The bytes charged to a shard are
 * sizeof header + value; a put evicts from the LRU tail until the shard is back under its
 * share (L1_CACHE_BYTES / SHARDS, L1_CACHE_SIZE / SHARDS). Freed memory is released outside
 * the lock. A hit moves the entry to the LRU head and copies the value into the response
 * buffer under the lock: that copy is the only work, and the buffer's growth the only
 * allocation, of a hit.
 *
 * Invariants:
 *   1. An entry is reachable from its shard's table iff it is on that shard's LRU list, and
 *      shard.bytes / shard.n are the sums over that list.
 *   2. An entry past its expiry is never returned: the lookup that finds it unlinks it.
 *   3. Invalidation never edits entries: it changes what the next key will be (a user's
 *      generation, below; the snapshot in the key), so there is no window in which a stale
 *      entry can be found after srv_cache_invalidate_user() returns. A request that looked up
 *      before the bump stores under the old generation, which nobody looks for again.
 *
 * Per-user generations: a fixed array of USER_GENS 32-bit counters indexed by the user's hash.
 * Two users sharing a slot invalidate each other's entries (a lost hit, never a stale one);
 * with 2^20 slots that is rare, and the array is 4 MiB whatever the number of users.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "base/base.h"
#include "serve.h"
#include "fjson.h"

#define SHARDS 64
#define USER_GENS (1u << 20)

typedef struct centry {
  struct centry *hnext;      /* hash chain */
  struct centry *prev, *next; /* LRU list, head = most recently used */
  uint64_t k0, k1;
  int64_t expires_ms;
  size_t len;
  char data[];
} centry;

typedef struct shard {
  _Alignas(64) pthread_mutex_t mu;
  centry **tab;
  size_t mask;
  centry *head, *tail;
  size_t bytes, n;
} shard;

typedef struct level_stats {
  _Alignas(64) atomic_uint_fast64_t hits;
  atomic_uint_fast64_t misses, puts, evictions, expired;
} level_stats;

static struct {
  bool on;
  bool l2;
  int ttl_s;
  size_t shard_bytes, shard_entries;
  shard shards[SHARDS];
  _Atomic uint32_t *user_gen;
  level_stats l1, l2s;
  atomic_size_t bytes, entries;
  atomic_uint_fast64_t invalid_users, invalid_all;
  atomic_int_fast64_t clock_offset_ms;
  /* what the catalogue watcher (redis.c) reloads: the configuration's registry and default */
  char model_path[sizeof ((srv_config *)0)->model_path];
  char default_algo[sizeof ((srv_config *)0)->default_algo];
} g;

static int64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000 + atomic_load_explicit(&g.clock_offset_ms, memory_order_relaxed);
}

static size_t charge(const centry *e) { return sizeof *e + e->len; }

static void lru_unlink(shard *sh, centry *e) {
  if (e->prev) e->prev->next = e->next;
  else sh->head = e->next;
  if (e->next) e->next->prev = e->prev;
  else sh->tail = e->prev;
  e->prev = e->next = NULL;
}

static void lru_push_head(shard *sh, centry *e) {
  e->prev = NULL;
  e->next = sh->head;
  if (sh->head) sh->head->prev = e;
  sh->head = e;
  if (!sh->tail) sh->tail = e;
}

/* Unlinks e from table and list (invariant 1); the caller frees it. */
static void remove_entry(shard *sh, centry *e) {
  centry **pp = &sh->tab[e->k0 & sh->mask];
  while (*pp != e) pp = &(*pp)->hnext;
  *pp = e->hnext;
  lru_unlink(sh, e);
  sh->bytes -= charge(e);
  sh->n--;
  atomic_fetch_sub_explicit(&g.bytes, charge(e), memory_order_relaxed);
  atomic_fetch_sub_explicit(&g.entries, 1, memory_order_relaxed);
}

static shard *shard_of(uint64_t k0) { return &g.shards[k0 >> 58]; /* top 6 bits: 64 shards */ }

static void free_shards(void) {
  for (int i = 0; i < SHARDS; i++) {
    shard *sh = &g.shards[i];
    for (centry *e = sh->head, *nx; e; e = nx) {
      nx = e->next;
      free(e);
    }
    free(sh->tab);
    pthread_mutex_destroy(&sh->mu);
    memset(sh, 0, sizeof *sh);
  }
}

int srv_cache__init_l1(long max_entries, long max_bytes, int ttl_s) {
  if (g.on) srv_cache_shutdown();
  memset(&g, 0, sizeof g);
  if (max_entries < 1 || max_bytes < 1 || ttl_s < 1) return RECO_EINVAL;
  g.ttl_s = ttl_s;
  g.shard_entries = ((size_t)max_entries + SHARDS - 1) / SHARDS;
  g.shard_bytes = (size_t)max_bytes / SHARDS;
  size_t buckets = 1;
  while (buckets < g.shard_entries) buckets <<= 1; /* load factor <= 1 */
  g.user_gen = calloc(USER_GENS, sizeof *g.user_gen);
  if (!g.user_gen) return RECO_ENOMEM;
  for (int i = 0; i < SHARDS; i++) {
    shard *sh = &g.shards[i];
    pthread_mutex_init(&sh->mu, NULL);
    sh->mask = buckets - 1;
    if (!(sh->tab = calloc(buckets, sizeof *sh->tab))) {
      free_shards();
      free((void *)g.user_gen);
      g.user_gen = NULL;
      return RECO_ENOMEM;
    }
  }
  g.on = true;
  return 0;
}

/* The catalogue watcher's callback (redis.c, its own thread): another replica changed the
 * catalogue in the shared store; a new snapshot applies its item documents and deletions (the
 * SIGHUP path, which also flushes L1). */
static void catalog_moved(void) {
  char msg[1024];
  double t0 = reco__now();
  if (srv_snapshot_reload(g.model_path, g.default_algo, msg, sizeof msg))
    reco__log(RECO_LOG_WARN, "catalogue: another replica's change is not served yet: reload failed: %s", msg);
  else
    reco__log(RECO_LOG_INFO, "catalogue: another replica changed it; reloaded in %.3f s", reco__now() - t0);
}

int srv_cache_init(const srv_config *cfg, char *msg, size_t msg_len) {
  if (!cfg->cache_enabled) {
    srv_cache_shutdown();
    return 0;
  }
  int rc = srv_cache__init_l1(cfg->cache_entries, cfg->cache_bytes, cfg->cache_ttl_s);
  if (rc) {
    snprintf(msg, msg_len, "the L1 cache could not be set up (L1_CACHE_SIZE %ld, L1_CACHE_BYTES %ld)", cfg->cache_entries,
             cfg->cache_bytes);
    return rc;
  }
  if (cfg->redis_url[0]) {
    snprintf(g.model_path, sizeof g.model_path, "%s", cfg->model_path);
    snprintf(g.default_algo, sizeof g.default_algo, "%s", cfg->default_algo);
    if ((rc = srv_redis_init(cfg->redis_url, cfg->redis_timeout_ms, cfg->cache_ttl_s, catalog_moved, msg, msg_len))) {
      srv_cache_shutdown();
      return rc;
    }
    g.l2 = true;
  }
  return 0;
}

void srv_cache_shutdown(void) {
  if (g.l2) srv_redis_shutdown();
  if (g.on) {
    free_shards();
    free((void *)g.user_gen);
  }
  memset(&g, 0, sizeof g);
}

bool srv_cache_enabled(void) { return g.on; }

/* The canonical hash of a JSON value (fjson.h's reader): equal for equal values whatever the
 * order of object members. An object's members are hashed one by one (key and value) and the
 * member hashes are added, so order does not matter and nothing is sorted or allocated; arrays
 * keep their order. Numbers hash as written (4 and 4.0 are two keys: a lost hit, never a wrong
 * one). false when deeper than MAX_DEPTH (the request is then not cached). */
#define MAX_DEPTH 32
static bool canon_hash(const fj_doc *d, const fj_val *v, int depth, XXH128_hash_t *out) {
  if (depth > MAX_DEPTH) return false;
  struct {
    uint64_t tag, a, b, c;
  } w = {(uint64_t)v->type + 1, 0, 0, 0};
  switch (v->type) {
  case FJ_OBJ:
    for (const fj_val *c = fj_first(d, v); c; c = fj_next(d, c)) {
      XXH128_hash_t ch;
      if (!canon_hash(d, c, depth + 1, &ch)) return false;
      struct {
        uint64_t k, h, l;
      } m = {XXH3_64bits(c->key, c->key_len), ch.high64, ch.low64};
      XXH128_hash_t mh = XXH3_128bits(&m, sizeof m);
      w.a += mh.high64, w.b += mh.low64, w.c++;
    }
    break;
  case FJ_ARR: {
    XXH3_state_t st;
    XXH3_128bits_reset(&st);
    for (const fj_val *c = fj_first(d, v); c; c = fj_next(d, c)) {
      XXH128_hash_t ch;
      if (!canon_hash(d, c, depth + 1, &ch)) return false;
      XXH3_128bits_update(&st, &ch, sizeof ch);
    }
    XXH128_hash_t h = XXH3_128bits_digest(&st);
    w.a = h.high64, w.b = h.low64, w.c = v->n;
    break;
  }
  case FJ_STR:
  case FJ_NUM: {
    XXH128_hash_t h = XXH3_128bits(v->s, v->n);
    w.a = h.high64, w.b = h.low64, w.c = v->n;
    break;
  }
  default: /* true, false, null: the tag says it all */
    break;
  }
  *out = XXH3_128bits(&w, sizeof w);
  return true;
}

static void key_of(XXH3_state_t *st, uint64_t out[2]) {
  XXH128_hash_t h = XXH3_128bits_digest(st);
  out[0] = h.high64, out[1] = h.low64;
}

bool srv_cache_key_recommend(srv_cache_key *k, const srv_snapshot *s, const fj_doc *d, const fj_val *req,
                             const char *user, size_t user_len,
                             const char *algo, long limit) {
  if (!g.on) return false;
  memset(k, 0, sizeof *k);
  k->user = XXH3_64bits(user, user_len);
  k->per_user = true;
  /* the request part, common to both levels: effective limit and algorithm, then the whole
   * body canonically (a field added to the API later is part of the key without a change) */
  XXH128_hash_t body;
  if (!canon_hash(d, req, 0, &body)) return false;
  XXH3_state_t st;
  XXH3_128bits_reset(&st);
  int64_t lim = limit;
  XXH3_128bits_update(&st, &lim, sizeof lim);
  XXH3_128bits_update(&st, algo, strlen(algo) + 1);
  /* the user as well as the body: a batch's requests share one body with many users */
  uint64_t ulen = user_len;
  XXH3_128bits_update(&st, &ulen, sizeof ulen);
  XXH3_128bits_update(&st, user, user_len);
  XXH3_128bits_update(&st, &body, sizeof body);
  /* the models' versions: what a replica answers with */
  for (int m = 0; m < s->n_models; m++) {
    XXH3_128bits_update(&st, s->models[m].algo, strlen(s->models[m].algo) + 1);
    XXH3_128bits_update(&st, &s->models[m].version, sizeof s->models[m].version);
  }
  XXH3_128bits_update(&st, &s->n_items, sizeof s->n_items);
  XXH3_state_t l1 = st;
  key_of(&st, k->l2);
  /* L1 only: this process's snapshot (a reload of the same versions is a new one) and the
   * user's local generation */
  uint32_t gen = atomic_load_explicit(&g.user_gen[k->user & (USER_GENS - 1)], memory_order_acquire);
  XXH3_128bits_update(&l1, &s->loaded_at_ms, sizeof s->loaded_at_ms);
  XXH3_128bits_update(&l1, &gen, sizeof gen);
  key_of(&l1, k->l1);
  return true;
}

bool srv_cache_key_similar(srv_cache_key *k, const srv_snapshot *s, const srv_model *sm, int32_t ci, long limit) {
  if (!g.on || ci < 0 || ci >= s->n_items) return false;
  memset(k, 0, sizeof *k);
  /* the answer is a function of the item, the limit and the model that answers (its name and
   * version: the requested name is only a way to pick it), and of the catalogue (availability,
   * metadata: the snapshot for L1, the catalogue generation for L2). No user. */
  XXH3_state_t st;
  XXH3_128bits_reset(&st);
  XXH3_128bits_update(&st, "similar", sizeof "similar"); /* never equal to a /recommend key */
  int64_t lim = limit;
  XXH3_128bits_update(&st, &lim, sizeof lim);
  const char *id = s->items[ci].id_json;
  XXH3_128bits_update(&st, id, strlen(id) + 1);
  XXH3_128bits_update(&st, sm->algo, strlen(sm->algo) + 1);
  XXH3_128bits_update(&st, &sm->version, sizeof sm->version);
  XXH3_128bits_update(&st, &s->n_items, sizeof s->n_items);
  XXH3_state_t l1 = st;
  key_of(&st, k->l2);
  XXH3_128bits_update(&l1, &s->loaded_at_ms, sizeof s->loaded_at_ms);
  key_of(&l1, k->l1);
  return true;
}

/* L1 lookup: appends the value to out on a hit. */
static bool l1_get(const uint64_t key[2], srv_buf *out) {
  shard *sh = shard_of(key[0]);
  centry *dead = NULL;
  bool hit = false;
  int64_t now = now_ms();
  pthread_mutex_lock(&sh->mu);
  for (centry *e = sh->tab[key[0] & sh->mask]; e; e = e->hnext) {
    if (e->k0 != key[0] || e->k1 != key[1]) continue;
    if (e->expires_ms <= now) {
      remove_entry(sh, e); /* invariant 2 */
      dead = e;
    } else {
      lru_unlink(sh, e);
      lru_push_head(sh, e);
      srv_buf_put(out, e->data, e->len);
      hit = !out->oom;
    }
    break;
  }
  pthread_mutex_unlock(&sh->mu);
  if (dead) {
    free(dead);
    atomic_fetch_add_explicit(&g.l1.expired, 1, memory_order_relaxed);
  }
  atomic_fetch_add_explicit(hit ? &g.l1.hits : &g.l1.misses, 1, memory_order_relaxed);
  return hit;
}

static void l1_put(const uint64_t key[2], const char *p, size_t n) {
  if (sizeof(centry) + n > g.shard_bytes) return; /* larger than a shard's share: never cached */
  centry *e = malloc(sizeof *e + n);
  if (!e) return;
  memset(e, 0, sizeof *e);
  e->k0 = key[0], e->k1 = key[1];
  e->len = n;
  e->expires_ms = now_ms() + (int64_t)g.ttl_s * 1000;
  memcpy(e->data, p, n);
  shard *sh = shard_of(key[0]);
  centry *victims = NULL; /* freed after the unlock, chained through hnext */
  uint64_t n_evicted = 0;
  pthread_mutex_lock(&sh->mu);
  centry **head = &sh->tab[key[0] & sh->mask];
  for (centry *o = *head; o; o = o->hnext) {
    if (o->k0 == key[0] && o->k1 == key[1]) { /* two requests filled the same key: keep the newer */
      remove_entry(sh, o);
      o->hnext = victims;
      victims = o;
      break;
    }
  }
  e->hnext = *head;
  *head = e;
  lru_push_head(sh, e);
  sh->bytes += charge(e);
  sh->n++;
  atomic_fetch_add_explicit(&g.bytes, charge(e), memory_order_relaxed);
  atomic_fetch_add_explicit(&g.entries, 1, memory_order_relaxed);
  while ((sh->bytes > g.shard_bytes || sh->n > g.shard_entries) && sh->tail != e) {
    centry *v = sh->tail;
    remove_entry(sh, v);
    v->hnext = victims;
    victims = v;
    n_evicted++;
  }
  pthread_mutex_unlock(&sh->mu);
  while (victims) {
    centry *nx = victims->hnext;
    free(victims);
    victims = nx;
  }
  atomic_fetch_add_explicit(&g.l1.puts, 1, memory_order_relaxed);
  if (n_evicted) atomic_fetch_add_explicit(&g.l1.evictions, n_evicted, memory_order_relaxed);
}

bool srv_cache_get(srv_cache_key *k, srv_buf *out) {
  if (!g.on) return false;
  if (l1_get(k->l1, out)) return true;
  if (!g.l2) return false;
  size_t start = out->len;
  bool up = false;
  bool hit = srv_redis_get(k->l2, k->user, k->per_user, out, k->l2_gen, &up);
  k->l2_looked = up;
  if (!up) return false;
  atomic_fetch_add_explicit(hit ? &g.l2s.hits : &g.l2s.misses, 1, memory_order_relaxed);
  if (hit) l1_put(k->l1, out->p + start, out->len - start);
  return hit;
}

void srv_cache_put(const srv_cache_key *k, const char *p, size_t n) {
  if (!g.on) return;
  l1_put(k->l1, p, n);
  if (g.l2 && k->l2_looked) {
    srv_redis_setex(k->l2, k->l2_gen, p, n);
    atomic_fetch_add_explicit(&g.l2s.puts, 1, memory_order_relaxed);
  }
}

void srv_cache_finish(srv_buf *b, double t0, bool hit) {
  srv_buf_puts(b, ",\"latencyMs\":");
  srv_buf_jnum(b, srv_ms_since(t0));
  srv_buf_puts(b, hit ? ",\"cacheHit\":true}}" : ",\"cacheHit\":false}}");
}

void srv_cache_invalidate_user(const char *user, size_t len) {
  if (!g.on) return;
  uint64_t h = XXH3_64bits(user, len);
  /* release: the live history written before this call is visible to whoever reads the new
   * generation (invariant 3) */
  atomic_fetch_add_explicit(&g.user_gen[h & (USER_GENS - 1)], 1, memory_order_acq_rel);
  atomic_fetch_add_explicit(&g.invalid_users, 1, memory_order_relaxed);
  if (g.l2) srv_redis_bump_user(h);
}

void srv_cache_invalidate_all(void) {
  if (!g.on) return;
  for (int i = 0; i < SHARDS; i++) {
    shard *sh = &g.shards[i];
    pthread_mutex_lock(&sh->mu);
    centry *list = sh->head;
    memset(sh->tab, 0, (sh->mask + 1) * sizeof *sh->tab);
    atomic_fetch_sub_explicit(&g.bytes, sh->bytes, memory_order_relaxed);
    atomic_fetch_sub_explicit(&g.entries, sh->n, memory_order_relaxed);
    sh->head = sh->tail = NULL;
    sh->bytes = sh->n = 0;
    pthread_mutex_unlock(&sh->mu);
    while (list) {
      centry *nx = list->next;
      free(list);
      list = nx;
    }
  }
  atomic_fetch_add_explicit(&g.invalid_all, 1, memory_order_relaxed);
}

void srv_cache_catalog_changed(void) {
  if (!g.on) return;
  srv_cache_invalidate_all();
  if (g.l2) srv_redis_bump_catalog();
}

void srv_cache_counts(uint64_t *hits, uint64_t *lookups) {
  uint64_t h1 = atomic_load(&g.l1.hits), m1 = atomic_load(&g.l1.misses), h2 = atomic_load(&g.l2s.hits);
  *hits = h1 + h2;
  *lookups = h1 + m1; /* every lookup starts in L1; an L2 hit is one of L1's misses */
}

size_t srv_cache__bytes(void) { return atomic_load(&g.bytes); }
size_t srv_cache__entries(void) { return atomic_load(&g.entries); }
uint64_t srv_cache__evictions(void) { return atomic_load(&g.l1.evictions); }
void srv_cache__advance_ms(int64_t ms) { atomic_fetch_add(&g.clock_offset_ms, ms); }

void srv_cache_metrics_render(srv_buf *b) {
  static const struct {
    const char *name, *help;
    size_t off;
  } k_counters[] = {
      {"reco_cache_hits_total", "Result cache lookups answered, by level.", offsetof(level_stats, hits)},
      {"reco_cache_misses_total", "Result cache lookups not answered, by level.", offsetof(level_stats, misses)},
      {"reco_cache_puts_total", "Results stored, by level.", offsetof(level_stats, puts)},
      {"reco_cache_evictions_total", "L1 entries evicted to stay within L1_CACHE_BYTES / L1_CACHE_SIZE.",
       offsetof(level_stats, evictions)},
      {"reco_cache_expired_total", "L1 entries found past CACHE_TTL and dropped.", offsetof(level_stats, expired)},
  };
  for (size_t c = 0; c < sizeof k_counters / sizeof *k_counters; c++) {
    srv_buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n", k_counters[c].name, k_counters[c].help, k_counters[c].name);
    const atomic_uint_fast64_t *v1 = (const void *)((const char *)&g.l1 + k_counters[c].off);
    const atomic_uint_fast64_t *v2 = (const void *)((const char *)&g.l2s + k_counters[c].off);
    srv_buf_printf(b, "%s{level=\"l1\"} %llu\n", k_counters[c].name, (unsigned long long)atomic_load(v1));
    if (k_counters[c].off != offsetof(level_stats, evictions) && k_counters[c].off != offsetof(level_stats, expired))
      srv_buf_printf(b, "%s{level=\"l2\"} %llu\n", k_counters[c].name, (unsigned long long)atomic_load(v2));
  }
  srv_buf_printf(b,
                 "# HELP reco_cache_bytes Bytes held by L1 entries (header + value).\n# TYPE reco_cache_bytes gauge\n"
                 "reco_cache_bytes{level=\"l1\"} %zu\n"
                 "# HELP reco_cache_entries Entries in L1.\n# TYPE reco_cache_entries gauge\n"
                 "reco_cache_entries{level=\"l1\"} %zu\n"
                 "# HELP reco_cache_enabled 1 when CACHE_ENABLED.\n# TYPE reco_cache_enabled gauge\n"
                 "reco_cache_enabled %d\n"
                 "# HELP reco_cache_user_invalidations_total Users whose cached lists an interaction invalidated.\n"
                 "# TYPE reco_cache_user_invalidations_total counter\nreco_cache_user_invalidations_total %llu\n"
                 "# HELP reco_cache_flushes_total L1 flushes on a snapshot swap.\n"
                 "# TYPE reco_cache_flushes_total counter\nreco_cache_flushes_total %llu\n"
                 "# HELP reco_cache_redis_up 1 while the L2 Redis answers; 0 when down or not configured.\n"
                 "# TYPE reco_cache_redis_up gauge\nreco_cache_redis_up %d\n"
                 "# HELP reco_cache_redis_errors_total Redis commands that failed or timed out.\n"
                 "# TYPE reco_cache_redis_errors_total counter\nreco_cache_redis_errors_total %llu\n"
                 "# HELP reco_cache_catalog_reloads_total Snapshot reloads after another replica changed the catalogue.\n"
                 "# TYPE reco_cache_catalog_reloads_total counter\nreco_cache_catalog_reloads_total %llu\n",
                 (size_t)atomic_load(&g.bytes), (size_t)atomic_load(&g.entries), g.on ? 1 : 0,
                 (unsigned long long)atomic_load(&g.invalid_users), (unsigned long long)atomic_load(&g.invalid_all),
                 g.l2 ? srv_redis_up() : 0, (unsigned long long)(g.l2 ? srv_redis_errors() : 0),
                 (unsigned long long)(g.l2 ? srv_redis_catalog_reloads() : 0));
}
