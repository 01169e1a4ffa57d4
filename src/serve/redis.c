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
 * earlier entry becomes unreachable. The stored prefix is therefore "<global>:<user>".
 */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/base.h"
#include "serve.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 10000

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
  if (atomic_exchange(&g.lost_bumps, 0)) {
    redisReply *r = redisCommand(t->c, "INCR reco:gg");
    if (!r || r->type != REDIS_REPLY_INTEGER) {
      atomic_store(&g.lost_bumps, 1);
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

int srv_redis_init(const char *url, int timeout_ms, int ttl_s, char *msg, size_t msg_len) {
  memset(&g, 0, sizeof g);
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
    redisFree(c);
    reco__log(RECO_LOG_INFO, "redis %s:%d: L2 cache on (TTL %d s)", g.host, g.port, ttl_s);
  } else {
    mark_down(why);
  }
  return 0;
}

void srv_redis_shutdown(void) {
  if (!g.configured) return;
  tctx_free(pthread_getspecific(g.tls)); /* the calling thread's; server threads freed theirs */
  pthread_setspecific(g.tls, NULL);
  pthread_key_delete(g.tls);
  g.configured = false;
  atomic_store(&g.up, 0);
}

bool srv_redis_configured(void) { return g.configured; }
int srv_redis_up(void) { return g.configured && atomic_load(&g.up); }
uint64_t srv_redis_errors(void) { return atomic_load(&g.errors); }

static void key_text(char out[48], const uint64_t key[2]) {
  snprintf(out, 48, "reco:rc:%016llx%016llx", (unsigned long long)key[0], (unsigned long long)key[1]);
}
static void user_text(char out[32], uint64_t user) { snprintf(out, 32, "reco:ug:%016llx", (unsigned long long)user); }

/* A generation reply as text: its string or integer, "0" when absent. */
static void gen_text(const redisReply *r, char *out, size_t cap) {
  if (r->type == REDIS_REPLY_STRING && r->len > 0 && r->len < 22) snprintf(out, cap, "%.*s", (int)r->len, r->str);
  else snprintf(out, cap, "0");
}

bool srv_redis_get(const uint64_t key[2], uint64_t user, srv_buf *out, char gen[48], bool *up) {
  *up = false;
  snprintf(gen, 48, "0:0");
  tctx *t = ctx_get();
  if (!t) return false;
  char k[48], u[32];
  key_text(k, key);
  user_text(u, user);
  redisReply *rg = NULL, *ru = NULL, *rv = NULL;
  redisAppendCommand(t->c, "GET reco:gg");
  redisAppendCommand(t->c, "GET %s", u);
  redisAppendCommand(t->c, "GET %s", k);
  if (redisGetReply(t->c, (void **)&rg) != REDIS_OK || redisGetReply(t->c, (void **)&ru) != REDIS_OK ||
      redisGetReply(t->c, (void **)&rv) != REDIS_OK) {
    if (rg) freeReplyObject(rg);
    if (ru) freeReplyObject(ru);
    ctx_fail(t);
    return false;
  }
  *up = true;
  char gg[24], ug[24];
  gen_text(rg, gg, sizeof gg);
  gen_text(ru, ug, sizeof ug);
  snprintf(gen, 48, "%s:%s", gg, ug);
  freeReplyObject(rg);
  bool hit = false;
  if (rv->type == REDIS_REPLY_STRING) {
    size_t gl = strlen(gen);
    if (rv->len > gl && !memcmp(rv->str, gen, gl) && rv->str[gl] == '\n') {
      srv_buf_put(out, rv->str + gl + 1, rv->len - gl - 1);
      hit = !out->oom;
    }
  }
  freeReplyObject(ru);
  freeReplyObject(rv);
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
