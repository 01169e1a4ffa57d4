/*
 * live.c - the real-time state of the service, applied right after an interaction is durably
 * acknowledged (DESIGN.md section 5): each user's recent history, so that the next
 * /recommend for that user scores from it (fold-in for factor models, history rescoring for
 * the neighbourhood ones), and the click/purchase counters behind /stats.
 *
 * The history is a hash table of users split into 64 stripes, each behind its own mutex, so
 * writers for different users rarely meet. Per user a ring of the last SRV_LIVE_HIST items
 * (item ids as strings: they are resolved against the serving snapshot at read time, so a
 * model reload that renumbers items cannot make them point at the wrong item). Memory is
 * bounded: at most SRV_LIVE_USERS users are tracked; later users are in the store only.
 * At start-up cmd/reco/serve.c replays the store into it (srv_live_restore, oldest first), so
 * a restart keeps every user's recent history.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

#define STRIPES 64
#define BUCKETS_PER_STRIPE 4096

typedef struct live_user {
  struct live_user *next;
  char *id;
  size_t id_len;
  int head, n; /* ring: the oldest entry is at (head - n) mod SRV_LIVE_HIST */
  char *items[SRV_LIVE_HIST];
  float vals[SRV_LIVE_HIST];
} live_user;

typedef struct stripe {
  pthread_mutex_t mu;
  live_user *b[BUCKETS_PER_STRIPE];
} stripe;

static stripe g_stripes[STRIPES] = {[0 ... STRIPES - 1] = {.mu = PTHREAD_MUTEX_INITIALIZER}};
static atomic_int g_n_users;

struct reco_store *srv_store;
atomic_int_fast64_t srv_n_interactions, srv_n_clicks, srv_n_purchases;
double srv_started_at;
int64_t srv_clicks_at_start, srv_purchases_at_start;

static uint64_t hash_id(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a 64 */
  for (size_t k = 0; k < n; k++) h = (h ^ (unsigned char)s[k]) * 1099511628211ull;
  return h;
}

static live_user **find(stripe *st, uint64_t h, const char *user, size_t len) {
  live_user **p = &st->b[(h / STRIPES) % BUCKETS_PER_STRIPE];
  while (*p && ((*p)->id_len != len || memcmp((*p)->id, user, len))) p = &(*p)->next;
  return p;
}

void srv_live_add(const char *user, size_t len, const char *item, float value, const char *type) {
  atomic_fetch_add_explicit(&srv_n_interactions, 1, memory_order_relaxed);
  if (!strcmp(type, "click")) atomic_fetch_add_explicit(&srv_n_clicks, 1, memory_order_relaxed);
  if (!strcmp(type, "purchase")) atomic_fetch_add_explicit(&srv_n_purchases, 1, memory_order_relaxed);
  srv_live_restore(user, len, item, value, type);
}

void srv_live_restore(const char *user, size_t len, const char *item, float value, const char *type) {
  if (!strcmp(type, "dislike") || !strcmp(type, "skip")) return; /* negative feedback: not history */
  uint64_t h = hash_id(user, len);
  stripe *st = &g_stripes[h % STRIPES];
  char *it = strdup(item);
  if (!it) return;
  pthread_mutex_lock(&st->mu);
  live_user **p = find(st, h, user, len), *u = *p;
  if (!u) {
    if (atomic_load(&g_n_users) >= SRV_LIVE_USERS || !(u = calloc(1, sizeof *u)) || !(u->id = malloc(len + 1))) {
      if (u) free(u);
      pthread_mutex_unlock(&st->mu);
      free(it);
      return;
    }
    memcpy(u->id, user, len);
    u->id[len] = '\0';
    u->id_len = len;
    *p = u;
    atomic_fetch_add(&g_n_users, 1);
  }
  free(u->items[u->head]); /* the oldest entry when the ring is full, else NULL */
  u->items[u->head] = it;
  u->vals[u->head] = value;
  u->head = (u->head + 1) % SRV_LIVE_HIST;
  if (u->n < SRV_LIVE_HIST) u->n++;
  pthread_mutex_unlock(&st->mu);
}

size_t srv_live_history(const char *user, size_t len, srv_live_fn fn, void *ctx) {
  uint64_t h = hash_id(user, len);
  stripe *st = &g_stripes[h % STRIPES];
  pthread_mutex_lock(&st->mu);
  live_user *u = *find(st, h, user, len);
  size_t n = u ? (size_t)u->n : 0;
  for (size_t k = 0; k < n; k++) {
    int at = (u->head - u->n + (int)k + SRV_LIVE_HIST) % SRV_LIVE_HIST;
    fn(ctx, u->items[at], u->vals[at]);
  }
  pthread_mutex_unlock(&st->mu);
  return n;
}

void srv_live_free(void) {
  for (int s = 0; s < STRIPES; s++) {
    pthread_mutex_lock(&g_stripes[s].mu);
    for (int b = 0; b < BUCKETS_PER_STRIPE; b++) {
      for (live_user *u = g_stripes[s].b[b], *nx; u; u = nx) {
        nx = u->next;
        for (int k = 0; k < SRV_LIVE_HIST; k++) free(u->items[k]);
        free(u->id);
        free(u);
      }
      g_stripes[s].b[b] = NULL;
    }
    pthread_mutex_unlock(&g_stripes[s].mu);
  }
  atomic_store(&g_n_users, 0);
}

/* GDPR erasure (h_privacy.c): the user's ring goes at once; the counters keep their totals
 * (they hold no user data). */
void srv_live_forget(const char *user, size_t len) {
  uint64_t h = hash_id(user, len);
  stripe *st = &g_stripes[h % STRIPES];
  pthread_mutex_lock(&st->mu);
  live_user **p = find(st, h, user, len), *u = *p;
  if (u) {
    *p = u->next;
    for (int k = 0; k < SRV_LIVE_HIST; k++) free(u->items[k]);
    free(u->id);
    free(u);
    atomic_fetch_sub(&g_n_users, 1);
  }
  pthread_mutex_unlock(&st->mu);
}
