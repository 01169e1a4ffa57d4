/*
 * redis.c - the L2 result cache in Redis (hiredis), shared by every replica pointed at the
 * same REDIS_URL. cache.c asks it on an L1 miss and fills it after computing a list.
 *
 * Connections: one blocking hiredis context per server thread (thread-local, freed by the
 * thread's destructor), with connect and command timeouts of REDIS_TIMEOUT_MS (a few ms): a
 * slow or dead Redis costs a request at most that, once, and then nothing until the backoff
 * ends. Commands in one lookup are pipelined: one round trip.
 *
 * Outage state machine (all threads share it, atomics only):
 *   UP --a command or connect fails--> DOWN (logged once; down_until = now + backoff; every
 *   request skips Redis: L1 only, no error) --down_until passes--> the first thread to notice
 *   probes with a fresh connection (the others keep skipping) --ok--> UP (logged), backoff reset
 *                                                                --fails--> DOWN, backoff x2
 *   (250 ms doubling to 10 s). Other threads' contexts from before the outage are dropped when
 *   they see a newer outage epoch than the one they connected in.
 *
 * Per-user invalidation across replicas: the user's generation lives in Redis under
 * reco:ug:<user hash> and is set to a fresh unique value (wall-clock microseconds and a
 * counter) on every acknowledged interaction, with an expiry of twice CACHE_TTL. An entry
 * stores the generation it was computed under as a prefix ("<gen>\n<bytes>"); a lookup reads
 * both in one pipeline and hits only when they match. Unique values instead of INCR: when
 * the generation key expires and is created again, INCR would restart at 1 and could match an
 * old entry still alive; a fresh value never does, and entries filled while no generation
 * existed ("0") were all filled before the first bump, so they expire before it does.
 *
 * Bumps lost in an outage: an interaction acknowledged while Redis was unreachable could not
 * bump its user's generation, and Redis (if it kept its data) still holds that user's older
 * entries. So a lost bump sets a flag, and the connection that ends the outage INCRs a global
 * generation reco:gg (read in the same pipeline; it never expires, so INCR is safe there): every
 * earlier entry becomes unreachable.
 *
 * Catalogue changes across replicas: a cached list carries item metadata (title, category) and
 * leaves out deleted items, so it is only as fresh as the catalogue it was computed from. The
 * catalogue generation reco:cg moves after every catalogue write that changed what is served
 * (srv_redis_bump_catalog, called by h_catalog.c once the write is applied here), and is read
 * in the lookup's pipeline. It is a fresh random 64-bit token, not an INCR counter: a Redis
 * that lost its data would restart a counter at a value replicas already hold and they would
 * think themselves current; a token they never saw makes them all reload once. Each process
 * also keeps g.cg_local, the generation its own snapshot reflects. A lookup uses L2 (hit or
 * fill) only while the two are equal; otherwise this replica's snapshot is behind (or ahead of
 * a stale read) and it answers from its own computation without touching L2. So:
 *   - an entry stored under generation c is reached only by lookups that read c, i.e. before
 *     the next catalogue change anywhere (the stored prefix is "<global>:<catalogue>:<user>");
 *   - a replica whose snapshot predates a change never fills L2 with stale metadata.
 * Catching up: a watcher thread polls GET reco:cg every CATALOG_POLL_MS (and at once when a
 * lookup saw a newer value). On a change it reads the generation c, then calls the callback
 * given to srv_redis_init (cache.c: a snapshot reload, which applies the shared store's item
 * documents and deletions and flushes L1), then sets cg_local = c: the store was read after
 * the write that made c, so the snapshot holds every change up to c. A replica's own write
 * swaps its token in with GETSET and adopts it as cg_local only when the token it replaced is
 * cg_local (nobody else changed the catalogue in between); otherwise the watcher reloads. The
 * poll is one GET on the watcher's own connection: request threads never wait for it, and with
 * Redis down it skips like everyone else (a bump lost then is replayed with a fresh token when
 * Redis is back, so every replica reloads).
 */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "serve.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 10000
#define CATALOG_POLL_MS 250
#define CG_ABSENT 0  /* reco:cg not set (never bumped, or Redis lost it) */
#define CG_UNKNOWN 1 /* not read yet (Redis down at start): the first read reloads */

static struct {
  bool configured;
  char host[256];
  int port;
  char password[256];
  int db;
  struct timeval timeout;
  int ttl_s;
  pthread_key_t tls;
  atomic_int up;
  atomic_int probing;          /* a thread is trying to reconnect */
  atomic_int_fast64_t down_until_ms;
  atomic_int backoff_ms;
  atomic_uint epoch;           /* bumped on every outage */
  atomic_uint_fast64_t errors;
  atomic_uint_fast64_t seq;    /* generation uniqueness within this process */
  atomic_int lost_bumps;       /* a user's bump could not be sent: INCR reco:gg when back */
  atomic_int lost_cat_bumps;   /* a catalogue bump could not be sent: a fresh reco:cg when back */
  atomic_uint_fast64_t cg_local; /* the catalogue generation this process's snapshot reflects (CG_*) */
  atomic_uint_fast64_t catalog_reloads; /* catch-up reloads after another replica's change */
  /* the catalogue watcher */
  void (*on_catalog)(void);
  pthread_t watcher;
  bool watching;
  pthread_mutex_t wmu;
  pthread_cond_t wcv;
  bool wstop;
  atomic_bool wpoke; /* set under wmu; read without it by watch_poke's fast check */
} g;

typedef struct tctx {
  redisContext *c;
  unsigned epoch;
} tctx;

static int64_t mono_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void tctx_free(void *p) {
  tctx *t = p;
  if (t) {
    if (t->c) redisFree(t->c);
    free(t);
  }
}

/* redis://[[user]:password@]host[:port][/db] */
static int parse_url(const char *url, char *msg, size_t msg_len) {
  const char *p = url;
  if (!strncasecmp(p, "redis://", 8)) p += 8;
  else {
    snprintf(msg, msg_len, "REDIS_URL: expected redis://[:password@]host[:port][/db], got '%s'", url);
    return RECO_EINVAL;
  }
  const char *at = strrchr(p, '@');
  if (at) {
    const char *colon = memchr(p, ':', (size_t)(at - p));
    const char *pw = colon ? colon + 1 : p;
    size_t n = (size_t)(at - pw);
    if (n >= sizeof g.password) goto bad;
    memcpy(g.password, pw, n);
    g.password[n] = '\0';
    p = at + 1;
  }
  size_t hl = strcspn(p, ":/");
  if (!hl || hl >= sizeof g.host) goto bad;
  memcpy(g.host, p, hl);
  g.host[hl] = '\0';
  p += hl;
  g.port = 6379;
  if (*p == ':') {
    char *end;
    long v = strtol(p + 1, &end, 10);
    if (end == p + 1 || v < 1 || v > 65535) goto bad;
    g.port = (int)v;
    p = end;
  }
  if (*p == '/' && p[1]) {
    char *end;
    long v = strtol(p + 1, &end, 10);
    if (*end || v < 0 || v > 1000) goto bad;
    g.db = (int)v;
  } else if (*p && strcmp(p, "/")) {
    goto bad;
  }
  return 0;
bad:
  snprintf(msg, msg_len, "REDIS_URL: expected redis://[:password@]host[:port][/db], got '%s'", url);
  return RECO_EINVAL;
}

/* A connected, authenticated context, or NULL. */
static redisContext *dial(char *why, size_t why_len) {
  redisContext *c = redisConnectWithTimeout(g.host, g.port, g.timeout);
  if (!c || c->err) {
    snprintf(why, why_len, "%s", c ? c->errstr : "out of memory");
    if (c) redisFree(c);
    return NULL;
  }
  redisSetTimeout(c, g.timeout);
  redisReply *r = NULL;
  if (g.password[0]) {
    r = redisCommand(c, "AUTH %s", g.password);
    if (!r || r->type == REDIS_REPLY_ERROR) goto fail;
    freeReplyObject(r);
  }
  if (g.db) {
    r = redisCommand(c, "SELECT %d", g.db);
    if (!r || r->type == REDIS_REPLY_ERROR) goto fail;
    freeReplyObject(r);
  }
  return c;
fail:
  snprintf(why, why_len, "%s", r ? r->str : c->errstr);
  if (r) freeReplyObject(r);
  redisFree(c);
  return NULL;
}

static void mark_down(const char *why) {
  atomic_fetch_add(&g.errors, 1);
  int b = atomic_load(&g.backoff_ms);
  atomic_store(&g.down_until_ms, mono_ms() + b);
  atomic_store(&g.backoff_ms, b * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b * 2);
  /* one log line per outage: only the thread that flips up -> down writes it */
  if (atomic_exchange(&g.up, 0)) {
    atomic_fetch_add(&g.epoch, 1);
    reco__log(RECO_LOG_WARN, "redis %s:%d is down (%s): serving from L1 only, retrying with backoff", g.host, g.port, why);
  }
}

static void mark_up(void) {
  atomic_store(&g.backoff_ms, BACKOFF_MIN_MS);
  /* WARN like the outage line it closes, so that both show at the default log level */
  if (!atomic_exchange(&g.up, 1)) reco__log(RECO_LOG_WARN, "redis %s:%d is up again: L2 cache on", g.host, g.port);
}

static void ctx_fail(tctx *t);

/* A catalogue generation nobody used before: a hash of the wall clock in nanoseconds, the
 * process id and a per-process counter (never CG_ABSENT or CG_UNKNOWN). */
static uint64_t cg_token(void) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  uint64_t v[3] = {(uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec, (uint64_t)getpid(), atomic_fetch_add(&g.seq, 1)};
  uint64_t h = reco__hash_bytes(v, sizeof v, 0x63617467u);
  return h > CG_UNKNOWN ? h : h + 2;
}

/* This thread's usable context, or NULL while Redis is down (no waiting). */
static tctx *ctx_get(void) {
  if (!g.configured) return NULL;
  tctx *t = pthread_getspecific(g.tls);
  if (!t) {
    if (!(t = calloc(1, sizeof *t))) return NULL;
    pthread_setspecific(g.tls, t);
  }
  if (t->c && t->epoch != atomic_load(&g.epoch)) { /* connected before the last outage */
    redisFree(t->c);
    t->c = NULL;
  }
  if (t->c) return atomic_load(&g.up) ? t : NULL;
  bool down = !atomic_load(&g.up);
  if (down) {
    if (mono_ms() < atomic_load(&g.down_until_ms)) return NULL;
    int expect = 0;
    if (!atomic_compare_exchange_strong(&g.probing, &expect, 1)) return NULL; /* someone else probes */
  }
  char why[256];
  unsigned ep = atomic_load(&g.epoch);
  t->c = dial(why, sizeof why);
  if (down) atomic_store(&g.probing, 0);
  if (!t->c) {
    mark_down(why);
    return NULL;
  }
  for (int i = 0; i < 2; i++) { /* the bumps lost in the outage (top of file) */
    atomic_int *flag = i ? &g.lost_cat_bumps : &g.lost_bumps;
    if (!atomic_exchange(flag, 0)) continue;
    redisReply *r = i ? redisCommand(t->c, "SET reco:cg %llx", (unsigned long long)cg_token())
                      : redisCommand(t->c, "INCR reco:gg");
    if (!r || r->type == REDIS_REPLY_ERROR) {
      atomic_store(flag, 1);
      if (r) freeReplyObject(r);
      ctx_fail(t);
      return NULL;
    }
    freeReplyObject(r);
  }
  if (down) mark_up();
  t->epoch = ep;
  return t;
}

static void ctx_fail(tctx *t) {
  mark_down(t->c->err ? t->c->errstr : "bad reply");
  redisFree(t->c);
  t->c = NULL;
}

/* A catalogue generation reply: its token, CG_ABSENT when not set, CG_UNKNOWN when garbled
 * (someone else's value: never equal to cg_local once read, so L2 stays unused). */
static uint64_t cg_of(const redisReply *r) {
  if (r->type != REDIS_REPLY_STRING) return r->type == REDIS_REPLY_NIL ? CG_ABSENT : CG_UNKNOWN;
  char buf[24], *end;
  if (!r->len || r->len >= sizeof buf) return CG_UNKNOWN;
  memcpy(buf, r->str, r->len);
  buf[r->len] = '\0';
  unsigned long long v = strtoull(buf, &end, 16);
  return *end || v <= CG_UNKNOWN ? CG_UNKNOWN : v;
}

/* One poll of the watcher: when reco:cg moved away from cg_local, catch up (top of file). */
static void watch_once(void) {
  tctx *t = ctx_get();
  if (!t) return;
  redisReply *r = redisCommand(t->c, "GET reco:cg");
  if (!r) {
    ctx_fail(t);
    return;
  }
  uint64_t c = cg_of(r);
  freeReplyObject(r);
  uint_fast64_t seen = atomic_load(&g.cg_local);
  if (c == CG_UNKNOWN || c == seen) return;
  g.on_catalog(); /* reads the store after c was read: reflects every change up to c */
  atomic_fetch_add(&g.catalog_reloads, 1);
  /* a concurrent local bump moved cg_local: leave it, the next poll compares again */
  atomic_compare_exchange_strong(&g.cg_local, &seen, c);
}

static void *watch_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&g.wmu);
  while (!g.wstop) {
    if (!atomic_load(&g.wpoke)) {
      struct timespec until;
      clock_gettime(CLOCK_MONOTONIC, &until);
      until.tv_nsec += CATALOG_POLL_MS * 1000000L;
      until.tv_sec += until.tv_nsec / 1000000000L;
      until.tv_nsec %= 1000000000L;
      pthread_cond_timedwait(&g.wcv, &g.wmu, &until);
      if (g.wstop) break;
    }
    atomic_store(&g.wpoke, false);
    pthread_mutex_unlock(&g.wmu);
    watch_once();
    pthread_mutex_lock(&g.wmu);
  }
  pthread_mutex_unlock(&g.wmu);
  tctx_free(pthread_getspecific(g.tls)); /* before the key is deleted by srv_redis_shutdown */
  pthread_setspecific(g.tls, NULL);
  return NULL;
}

/* A lookup saw another catalogue generation than ours: wake the watcher now (once). */
static void watch_poke(void) {
  if (!g.watching || atomic_load(&g.wpoke)) return; /* already woken: no lock on this path */
  pthread_mutex_lock(&g.wmu);
  if (!atomic_load(&g.wpoke)) {
    atomic_store(&g.wpoke, true);
    pthread_cond_signal(&g.wcv);
  }
  pthread_mutex_unlock(&g.wmu);
}

int srv_redis_init(const char *url, int timeout_ms, int ttl_s, void (*on_catalog)(void), char *msg, size_t msg_len) {
  memset(&g, 0, sizeof g);
  atomic_store(&g.cg_local, CG_UNKNOWN);
  if (parse_url(url, msg, msg_len)) return RECO_EINVAL;
  g.timeout.tv_sec = timeout_ms / 1000;
  g.timeout.tv_usec = (timeout_ms % 1000) * 1000;
  g.ttl_s = ttl_s;
  atomic_store(&g.backoff_ms, BACKOFF_MIN_MS);
  if (pthread_key_create(&g.tls, tctx_free)) {
    snprintf(msg, msg_len, "REDIS_URL: cannot create thread-local storage");
    return RECO_ENOMEM;
  }
  g.configured = true;
  /* one try now, so the start-up log says whether L2 is on; down is not an error (L1 only) */
  atomic_store(&g.up, 1);
  char why[256];
  redisContext *c = dial(why, sizeof why);
  if (c) {
    /* the generation the snapshot loaded before this call reflects (unknown while Redis is
     * down: then the watcher reloads once when it comes back) */
    redisReply *r = redisCommand(c, "GET reco:cg");
    if (r) {
      atomic_store(&g.cg_local, cg_of(r));
      freeReplyObject(r);
    }
    redisFree(c);
    reco__log(RECO_LOG_INFO, "redis %s:%d: L2 cache on (TTL %d s)", g.host, g.port, ttl_s);
  } else {
    mark_down(why);
  }
  if (on_catalog) {
    g.on_catalog = on_catalog;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g.wcv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&g.wmu, NULL);
    if (pthread_create(&g.watcher, NULL, watch_main, NULL)) {
      pthread_cond_destroy(&g.wcv);
      pthread_mutex_destroy(&g.wmu);
      /* L2 still works; only another replica's catalogue changes are not followed */
      reco__log(RECO_LOG_WARN, "redis: the catalogue watcher could not start: other replicas' catalogue changes are not followed");
    } else {
      g.watching = true;
    }
  }
  return 0;
}

void srv_redis_shutdown(void) {
  if (!g.configured) return;
  if (g.watching) {
    pthread_mutex_lock(&g.wmu);
    g.wstop = true;
    pthread_cond_signal(&g.wcv);
    pthread_mutex_unlock(&g.wmu);
    pthread_join(g.watcher, NULL);
    pthread_cond_destroy(&g.wcv);
    pthread_mutex_destroy(&g.wmu);
    g.watching = false;
  }
  tctx_free(pthread_getspecific(g.tls)); /* the calling thread's; server threads freed theirs */
  pthread_setspecific(g.tls, NULL);
  pthread_key_delete(g.tls);
  g.configured = false;
  atomic_store(&g.up, 0);
}

bool srv_redis_configured(void) { return g.configured; }
int srv_redis_up(void) { return g.configured && atomic_load(&g.up); }
uint64_t srv_redis_errors(void) { return atomic_load(&g.errors); }
uint64_t srv_redis_catalog_reloads(void) { return atomic_load(&g.catalog_reloads); }

static void key_text(char out[48], const uint64_t key[2]) {
  snprintf(out, 48, "reco:rc:%016llx%016llx", (unsigned long long)key[0], (unsigned long long)key[1]);
}
static void user_text(char out[32], uint64_t user) { snprintf(out, 32, "reco:ug:%016llx", (unsigned long long)user); }

/* A generation reply as text: its string or integer, "0" when absent. */
static void gen_text(const redisReply *r, char *out, size_t cap) {
  if (r->type == REDIS_REPLY_STRING && r->len > 0 && r->len < 22) snprintf(out, cap, "%.*s", (int)r->len, r->str);
  else snprintf(out, cap, "0");
}

bool srv_redis_get(const uint64_t key[2], uint64_t user, bool has_user, srv_buf *out, char gen[SRV_GEN_MAX], bool *up) {
  *up = false;
  snprintf(gen, SRV_GEN_MAX, "0:0:-");
  tctx *t = ctx_get();
  if (!t) return false;
  char k[48], u[32];
  key_text(k, key);
  user_text(u, user);
  /* one round trip: the global, catalogue and (for per-user lists) user generations, the entry */
  redisReply *rep[4] = {NULL, NULL, NULL, NULL};
  int n = 0;
  redisAppendCommand(t->c, "GET reco:gg");
  redisAppendCommand(t->c, "GET reco:cg");
  if (has_user) redisAppendCommand(t->c, "GET %s", u);
  redisAppendCommand(t->c, "GET %s", k);
  int want = has_user ? 4 : 3;
  for (; n < want; n++)
    if (redisGetReply(t->c, (void **)&rep[n]) != REDIS_OK) break;
  if (n < want) {
    for (int i = 0; i < n; i++) freeReplyObject(rep[i]);
    ctx_fail(t);
    return false;
  }
  redisReply *rv = rep[want - 1];
  uint64_t cg = cg_of(rep[1]);
  bool hit = false;
  if (cg == CG_UNKNOWN || cg != atomic_load(&g.cg_local)) {
    /* our snapshot is not the catalogue this generation describes: no L2 hit and no fill
     * until the watcher has caught up (top of file) */
    watch_poke();
  } else {
    *up = true;
    char gg[24], ug[24];
    gen_text(rep[0], gg, sizeof gg);
    if (has_user) gen_text(rep[2], ug, sizeof ug);
    else snprintf(ug, sizeof ug, "-");
    snprintf(gen, SRV_GEN_MAX, "%s:%llx:%s", gg, (unsigned long long)cg, ug);
    if (rv->type == REDIS_REPLY_STRING) {
      size_t gl = strlen(gen);
      if (rv->len > gl && !memcmp(rv->str, gen, gl) && rv->str[gl] == '\n') {
        srv_buf_put(out, rv->str + gl + 1, rv->len - gl - 1);
        hit = !out->oom;
      }
    }
  }
  for (int i = 0; i < n; i++) freeReplyObject(rep[i]);
  return hit;
}

void srv_redis_setex(const uint64_t key[2], const char *gen, const char *p, size_t n) {
  tctx *t = ctx_get();
  if (!t) return;
  char k[48];
  key_text(k, key);
  /* "<gen>\n<bytes>" (the layout at the top of this file); a fill is a miss's cost, not a hit's */
  size_t gl = strlen(gen);
  char *v = malloc(gl + 1 + n);
  if (!v) return;
  memcpy(v, gen, gl);
  v[gl] = '\n';
  memcpy(v + gl + 1, p, n);
  redisReply *r = redisCommand(t->c, "SET %s %b EX %d", k, v, gl + 1 + n, g.ttl_s);
  free(v);
  if (!r) {
    ctx_fail(t);
    return;
  }
  freeReplyObject(r);
}

void srv_redis_bump_user(uint64_t user) {
  tctx *t = ctx_get();
  if (!t) {
    atomic_store(&g.lost_bumps, 1);
    return;
  }
  char u[32], v[24];
  user_text(u, user);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  uint64_t us = (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
  /* microseconds, then a per-process counter: unique within a replica, and across replicas
   * unless two bump the same user in the same microsecond with equal counters */
  snprintf(v, sizeof v, "%llx.%llx", (unsigned long long)us, (unsigned long long)(atomic_fetch_add(&g.seq, 1) & 0xffffff));
  redisReply *r = redisCommand(t->c, "SET %s %s EX %d", u, v, 2 * g.ttl_s);
  if (!r) {
    atomic_store(&g.lost_bumps, 1);
    ctx_fail(t);
    return;
  }
  freeReplyObject(r);
}

void srv_redis_bump_catalog(void) {
  uint_fast64_t before = atomic_load(&g.cg_local);
  tctx *t = ctx_get();
  if (!t) {
    atomic_store(&g.lost_cat_bumps, 1);
    return;
  }
  uint64_t tok = cg_token();
  redisReply *r = redisCommand(t->c, "GETSET reco:cg %llx", (unsigned long long)tok);
  if (!r || r->type == REDIS_REPLY_ERROR) {
    atomic_store(&g.lost_cat_bumps, 1);
    if (r) freeReplyObject(r);
    else ctx_fail(t);
    return;
  }
  /* ours is the only change since the generation our snapshot reflects: it reflects this one
   * too (the write was applied here before the bump). Otherwise the watcher reloads. */
  if (before != CG_UNKNOWN && cg_of(r) == before) atomic_compare_exchange_strong(&g.cg_local, &before, tok);
  freeReplyObject(r);
}
