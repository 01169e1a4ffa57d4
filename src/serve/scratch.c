/*
 * scratch.c - per-thread working memory for the hot handlers: a score vector, an exclusion mark
 * vector (epoch-stamped, so it is never cleared between requests), a history buffer and a top-k
 * heap. Allocated on a thread's first request, grown when a larger model appears, freed when
 * the thread exits (pthread key destructor). No per-request allocation on the scoring path.
 * The first call on a thread also pins that thread's OpenMP team size to 1 (see below).
 */
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "scratch.h"

static pthread_key_t g_key;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p) {
  srv_scratch *s = p;
  if (!s) return;
  reco__free_aligned(s->scores);
  free(s->mark);
  free(s->hist);
  free(s->hist_val);
  reco__topk_free(&s->heap);
  free(s);
}

static void make_key(void) { pthread_key_create(&g_key, scratch_free); }

srv_scratch *srv_scratch_get(int32_t n_items, size_t n_hist) {
  pthread_once(&g_once, make_key);
  srv_scratch *s = pthread_getspecific(g_key);
  if (!s) {
    if (!(s = calloc(1, sizeof *s))) return NULL;
    /* This is the thread's first request. Scoring must not start an OpenMP team from an HTTP
     * thread: the OpenMP build of OpenBLAS sizes its team by the calling thread's
     * omp_get_max_threads(), which for a thread MHD created is still one per core (the
     * main thread's openblas_set_num_threads(1) does not reach it). Teams spinning beside
     * the other HTTP threads cost milliseconds at the tail. */
    omp_set_num_threads(1);
    if (reco__topk_init(&s->heap, SRV_MAX_LIMIT + 1) || pthread_setspecific(g_key, s)) {
      scratch_free(s);
      return NULL;
    }
  }
  if (n_items > s->n_cap) {
    float *sc = reco__aligned_alloc((size_t)n_items * sizeof *sc);
    uint32_t *mk = calloc((size_t)n_items, sizeof *mk);
    if (!sc || !mk) {
      reco__free_aligned(sc);
      free(mk);
      return NULL;
    }
    reco__free_aligned(s->scores);
    free(s->mark);
    s->scores = sc, s->mark = mk, s->n_cap = n_items, s->epoch = 0;
  }
  if (n_hist > s->hist_cap) {
    int32_t *h = realloc(s->hist, n_hist * sizeof *h);
    if (h) s->hist = h;
    float *v = realloc(s->hist_val, n_hist * sizeof *v);
    if (v) s->hist_val = v;
    if (!h || !v) return NULL;
    s->hist_cap = n_hist;
  }
  /* a new epoch unmarks everything; on wrap-around clear for real */
  if (++s->epoch == 0) {
    memset(s->mark, 0, (size_t)s->n_cap * sizeof *s->mark);
    s->epoch = 1;
  }
  return s;
}
