/*
 * mem.c - allocation wrappers. Every allocation in libreco goes through here so that tests can
 * fail the Nth one (reco__alloc_fail_after) and check that each error path frees what it took.
 */
#include "base.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_long g_fail_after;

void reco__alloc_fail_after(long n) { atomic_store(&g_fail_after, n); }

static bool should_fail(void) {
  long v = atomic_load_explicit(&g_fail_after, memory_order_relaxed);
  if (v <= 0) return false;
  return atomic_fetch_sub(&g_fail_after, 1) == 1;
}

void *reco__malloc(size_t n) { return should_fail() ? NULL : malloc(n ? n : 1); }
void *reco__calloc(size_t n, size_t size) { return should_fail() ? NULL : calloc(n ? n : 1, size ? size : 1); }
void *reco__realloc(void *p, size_t n) { return should_fail() ? NULL : realloc(p, n ? n : 1); }
void reco__free(void *p) { free(p); }

void *reco__aligned_alloc(size_t n) {
  if (should_fail()) return NULL;
  void *p = NULL;
  if (posix_memalign(&p, 64, n ? n : 64) != 0) return NULL;
  return p;
}

void *reco__aligned_calloc(size_t n) {
  void *p = reco__aligned_alloc(n);
  if (p) memset(p, 0, n);
  return p;
}

void reco__free_aligned(void *p) { free(p); }

char *reco__strndup(const char *s, size_t n) {
  char *d = reco__malloc(n + 1);
  if (!d) return NULL;
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

int reco__grow(void **p, size_t *cap, size_t need, size_t esz) {
  if (need <= *cap) return 0;
  size_t nc = *cap ? *cap : 16;
  while (nc < need) {
    if (nc > SIZE_MAX / 2 / esz) return reco__seterr(RECO_ENOMEM, "array too large");
    nc *= 2;
  }
  void *q = reco__realloc(*p, nc * esz);
  if (!q) return reco__seterr(RECO_ENOMEM, "out of memory growing an array to %zu elements", nc);
  *p = q;
  *cap = nc;
  return 0;
}

int64_t reco__strpool_add(reco_strpool *sp, const char *s, size_t len) {
  if (RECO_GROW(sp->buf, sp->cap, sp->len + len + 1) != 0) return -1;
  int64_t off = (int64_t)sp->len;
  memcpy(sp->buf + sp->len, s, len);
  sp->buf[sp->len + len] = '\0';
  sp->len += len + 1;
  return off;
}

void reco__strpool_free(reco_strpool *sp) {
  reco__free(sp->buf);
  memset(sp, 0, sizeof *sp);
}
