/*
 * base.h - internal building blocks shared by every layer: error detail, logging, memory,
 * growable arrays, the append-only string->index map, the bounded top-k heap, the seeded RNG,
 * progress reporting and clocks. Nothing here depends on anything else in reco.
 */
#ifndef RECO_BASE_H
#define RECO_BASE_H

#include "reco.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RECO_UNUSED(x) ((void)(x))
#define RECO_MIN(a, b) ((a) < (b) ? (a) : (b))
#define RECO_MAX(a, b) ((a) > (b) ? (a) : (b))
#define RECO_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- errors: set the thread's detail message and return the code ---- */
int reco__seterr(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void reco__clearerr(void);

/* ---- logging ---- */
void reco__log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- memory. All allocations go through these so tests can inject failures. ---- */
void *reco__malloc(size_t n);
void *reco__calloc(size_t n, size_t size);
void *reco__realloc(void *p, size_t n);
void reco__free(void *p);
/* 64-byte aligned, for SIMD-friendly float arrays; free with reco__free_aligned. */
void *reco__aligned_alloc(size_t n);
void *reco__aligned_calloc(size_t n);
void reco__free_aligned(void *p);
char *reco__strndup(const char *s, size_t n);
/* Fail the Nth allocation from now (1 = next), 0 disables. For fault-injection tests. */
void reco__alloc_fail_after(long n);

/* Grow *p (elements of size esz) so that it holds at least need elements; *cap updated. */
int reco__grow(void **p, size_t *cap, size_t need, size_t esz);
#define RECO_GROW(arr, cap, need) reco__grow((void **)&(arr), &(cap), (need), sizeof(*(arr)))

/* ---- string arena: many small strings, freed together ---- */
typedef struct reco_strpool {
  char *buf;
  size_t len, cap;
} reco_strpool;
/* Appends s (len bytes) plus a NUL; returns the offset or -1 on ENOMEM. */
int64_t reco__strpool_add(reco_strpool *sp, const char *s, size_t len);
void reco__strpool_free(reco_strpool *sp);

/* ---- append-only string -> dense int32 index map (open addressing, refcounted) ---- */
typedef struct reco_idmap reco_idmap;
reco_idmap *reco__idmap_new(void);
reco_idmap *reco__idmap_ref(reco_idmap *m);
void reco__idmap_unref(reco_idmap *m);
int32_t reco__idmap_size(const reco_idmap *m);
int32_t reco__idmap_get(const reco_idmap *m, const char *s, size_t len); /* -1 if absent */
/* Index of s, adding it when absent. Returns >= 0, or a negative RECO_E* code. */
int32_t reco__idmap_add(reco_idmap *m, const char *s, size_t len);
const char *reco__idmap_str(const reco_idmap *m, int32_t idx);
size_t reco__idmap_memory(const reco_idmap *m);
uint64_t reco__hash_bytes(const void *p, size_t n, uint64_t seed);

/* ---- bounded top-k: keeps the k best (score, id); ties prefer the smaller id ---- */
typedef struct reco_topk {
  int k, n;
  float *score;
  int32_t *id;
} reco_topk;
int reco__topk_init(reco_topk *t, int k);
void reco__topk_free(reco_topk *t);
void reco__topk_reset(reco_topk *t);
static inline bool reco__topk_better(float s1, int32_t i1, float s2, int32_t i2) {
  return s1 > s2 || (s1 == s2 && i1 < i2);
}
void reco__topk_push_slow(reco_topk *t, float s, int32_t id);
static inline void reco__topk_push(reco_topk *t, float s, int32_t id) {
  /* Fast reject against the heap's worst element (index 0) once full. */
  if (t->n == t->k && !reco__topk_better(s, id, t->score[0], t->id[0])) return;
  reco__topk_push_slow(t, s, id);
}
/* Sorts best first in place; returns the count. The heap is consumed (n stays). */
int reco__topk_sort(reco_topk *t);

/* ---- RNG: xoshiro256** seeded through splitmix64; deterministic for a seed ---- */
typedef struct reco_rng {
  uint64_t s[4];
} reco_rng;
void reco__rng_seed(reco_rng *r, uint64_t seed);
static inline uint64_t reco__rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static inline uint64_t reco__rng_next(reco_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = reco__rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = reco__rotl(s[3], 45);
  return result;
}
/* Uniform in [0, n) without modulo bias (Lemire 2019). */
static inline uint64_t reco__rng_below(reco_rng *r, uint64_t n) {
  __uint128_t m = (__uint128_t)reco__rng_next(r) * n;
  uint64_t lo = (uint64_t)m;
  if (lo < n) {
    uint64_t thresh = -n % n;
    while (lo < thresh) {
      m = (__uint128_t)reco__rng_next(r) * n;
      lo = (uint64_t)m;
    }
  }
  return (uint64_t)(m >> 64);
}
static inline double reco__rng_uniform(reco_rng *r) { /* [0, 1) */
  return (double)(reco__rng_next(r) >> 11) * 0x1.0p-53;
}
double reco__rng_normal(reco_rng *r);
double reco__rng_gamma(reco_rng *r, double shape); /* Marsaglia-Tsang */
void reco__rng_shuffle_i32(reco_rng *r, int32_t *a, size_t n);

/* Alias table (Walker/Vose) for O(1) draws from a discrete distribution. */
typedef struct reco_alias {
  int32_t n;
  float *prob;
  int32_t *alias;
} reco_alias;
int reco__alias_init(reco_alias *a, const double *w, int32_t n);
void reco__alias_free(reco_alias *a);
static inline int32_t reco__alias_draw(const reco_alias *a, reco_rng *r) {
  int32_t i = (int32_t)reco__rng_below(r, (uint64_t)a->n);
  return reco__rng_uniform(r) < a->prob[i] ? i : a->alias[i];
}

/* ---- progress ---- */
/* Reports; returns RECO_ECANCELED when the callback asked to stop. */
int reco__progress(const reco_progress *p, const char *stage, double done, double total,
                   const char *info);

/* ---- time ---- */
double reco__now(void);      /* monotonic seconds */
int64_t reco__wall_ms(void); /* unix epoch milliseconds */
size_t reco__peak_rss(void); /* bytes, from getrusage */

/* ---- text ---- */
/* Validates UTF-8; returns the byte offset of the first invalid sequence or -1 when valid. */
long reco__utf8_invalid_at(const char *s, size_t n);
/* Latin-1 to UTF-8; *out allocated with reco__malloc. */
int reco__latin1_to_utf8(const char *s, size_t n, char **out, size_t *out_len);

#endif
