/*
 * idmap.c - append-only map from external string ids to dense int32 indices.
 *
 * Invariants: an index, once given, never changes meaning (no removal); indices are 0..size-1
 * in insertion order; the table is open-addressed with linear probing and kept under 50% load.
 * Strings live in one pool, addressed by offset so that growing the pool moves nothing we hold.
 * Refcounted so that a dataset and its train/test splits can share one map.
 */
#include "base.h"

#include <string.h>
#include <xxhash.h>

struct reco_idmap {
  int refs;
  int32_t n;
  size_t cap_ids;
  int64_t *off;   /* per index: offset of the string in pool */
  uint32_t *len;  /* per index: string length */
  uint32_t *hash32; /* per index: low hash bits, to skip most strcmp */
  int32_t *slots; /* hash table of indices, -1 empty; size is a power of two */
  size_t n_slots;
  reco_strpool pool;
};

uint64_t reco__hash_bytes(const void *p, size_t n, uint64_t seed) { return XXH3_64bits_withSeed(p, n, seed); }

reco_idmap *reco__idmap_new(void) {
  reco_idmap *m = reco__calloc(1, sizeof *m);
  if (!m) return NULL;
  m->refs = 1;
  m->n_slots = 1024;
  m->slots = reco__malloc(m->n_slots * sizeof *m->slots);
  if (!m->slots) {
    reco__free(m);
    return NULL;
  }
  memset(m->slots, 0xff, m->n_slots * sizeof *m->slots);
  return m;
}

reco_idmap *reco__idmap_ref(reco_idmap *m) {
  if (m) __atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
  return m;
}

void reco__idmap_unref(reco_idmap *m) {
  if (!m || __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) > 0) return;
  reco__free(m->off);
  reco__free(m->len);
  reco__free(m->hash32);
  reco__free(m->slots);
  reco__strpool_free(&m->pool);
  reco__free(m);
}

int32_t reco__idmap_size(const reco_idmap *m) { return m ? m->n : 0; }

static int32_t lookup(const reco_idmap *m, const char *s, size_t len, uint64_t h, size_t *slot_out) {
  size_t mask = m->n_slots - 1, j = (size_t)h & mask;
  for (;;) {
    int32_t idx = m->slots[j];
    if (idx < 0) {
      if (slot_out) *slot_out = j;
      return -1;
    }
    if (m->hash32[idx] == (uint32_t)(h >> 32) && m->len[idx] == len &&
        memcmp(m->pool.buf + m->off[idx], s, len) == 0)
      return idx;
    j = (j + 1) & mask;
  }
}

int32_t reco__idmap_get(const reco_idmap *m, const char *s, size_t len) {
  if (!m || m->n == 0) return -1;
  return lookup(m, s, len, reco__hash_bytes(s, len, 0), NULL);
}

static int rehash(reco_idmap *m) {
  size_t ns = m->n_slots * 2;
  int32_t *slots = reco__malloc(ns * sizeof *slots);
  if (!slots) return reco__seterr(RECO_ENOMEM, "out of memory growing an id map");
  memset(slots, 0xff, ns * sizeof *slots);
  for (int32_t i = 0; i < m->n; i++) {
    uint64_t h = reco__hash_bytes(m->pool.buf + m->off[i], m->len[i], 0);
    size_t j = (size_t)h & (ns - 1);
    while (slots[j] >= 0) j = (j + 1) & (ns - 1);
    slots[j] = i;
  }
  reco__free(m->slots);
  m->slots = slots;
  m->n_slots = ns;
  return 0;
}

int32_t reco__idmap_add(reco_idmap *m, const char *s, size_t len) {
  uint64_t h = reco__hash_bytes(s, len, 0);
  size_t slot;
  int32_t idx = lookup(m, s, len, h, &slot);
  if (idx >= 0) return idx;
  if (m->n == INT32_MAX) return reco__seterr(RECO_ELIMIT, "more than 2^31-1 ids");
  if (len > UINT32_MAX) return reco__seterr(RECO_ELIMIT, "id longer than 4 GiB");
  size_t need = (size_t)m->n + 1, cap = m->cap_ids;
  if (need > cap) {
    size_t c1 = cap, c2 = cap, c3 = cap;
    if (RECO_GROW(m->off, c1, need) || RECO_GROW(m->len, c2, need) || RECO_GROW(m->hash32, c3, need))
      return RECO_ENOMEM;
    m->cap_ids = c1;
  }
  int64_t off = reco__strpool_add(&m->pool, s, len);
  if (off < 0) return reco__seterr(RECO_ENOMEM, "out of memory adding an id");
  idx = m->n++;
  m->off[idx] = off;
  m->len[idx] = (uint32_t)len;
  m->hash32[idx] = (uint32_t)(h >> 32);
  m->slots[slot] = idx;
  if ((size_t)m->n * 2 > m->n_slots) {
    int rc = rehash(m);
    if (rc) return rc;
  }
  return idx;
}

const char *reco__idmap_str(const reco_idmap *m, int32_t idx) {
  if (!m || idx < 0 || idx >= m->n) return NULL;
  return m->pool.buf + m->off[idx];
}

size_t reco__idmap_memory(const reco_idmap *m) {
  if (!m) return 0;
  return sizeof *m + m->cap_ids * (sizeof(int64_t) + 2 * sizeof(uint32_t)) +
         m->n_slots * sizeof(int32_t) + m->pool.cap;
}
