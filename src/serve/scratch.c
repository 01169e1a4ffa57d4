/*
 * scratch.c - per-thread working memory for the hot handlers: a history buffer, an exclusion
 * list and the recommend pipeline's workspace (rank.h: every buffer a request needs, sized for
 * the catalogue). Allocated on a thread's first request, remade when a model of another size
 * answers, freed when the thread exits (pthread key destructor). No per-request allocation on
 * the scoring path. The first call on a thread also pins that thread's OpenMP team size to 1
 * (see below).
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
  free(s->hist);
  free(s->hist_val);
  free(s->excl);
  reco__rec_ws_free(s->ws);
  free(s);
}

static void make_key(void) { pthread_key_create(&g_key, scratch_free); }

srv_scratch *srv_scratch_get(int32_t n_items, int n_members, size_t n_hist, size_t n_excl) {
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
    if (pthread_setspecific(g_key, s)) {
      scratch_free(s);
      return NULL;
    }
  }
  if (n_items != s->ws_items || n_members > s->ws_members || !s->ws) {
    reco__rec_ws_free(s->ws);
    s->ws = NULL;
    s->ws_items = 0;
    if (reco__rec_ws_new(n_items, RECO_REC_POOL_DEFAULT, n_members, &s->ws)) return NULL;
    s->ws_items = n_items;
    s->ws_members = n_members;
  }
  if (n_hist > s->hist_cap) {
    int32_t *h = realloc(s->hist, n_hist * sizeof *h);
    if (h) s->hist = h;
    float *v = realloc(s->hist_val, n_hist * sizeof *v);
    if (v) s->hist_val = v;
    if (!h || !v) return NULL;
    s->hist_cap = n_hist;
  }
  if (n_excl > s->excl_cap) {
    int32_t *e = realloc(s->excl, n_excl * sizeof *e);
    if (!e) return NULL;
    s->excl = e;
    s->excl_cap = n_excl;
  }
  return s;
}
