/* test_loader.c - the model loader thread (src/serve/loader.c): jobs run off the caller's
 * thread, one at a time and in order; the queue holds SRV_LOAD_QUEUE jobs and a submit beyond
 * that is refused at once (RECO_ELIMIT) without blocking; a stop runs every job still queued;
 * a submit before the start or after the stop is refused (RECO_ESTATE); the metrics count the
 * finished and the refused jobs. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/base.h"
#include "serve/serve.h"

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static bool g_gate_open, g_first_running;
static int g_order[64], g_n_ran;
static pthread_t g_caller;
static bool g_off_caller = true;

/* The first job: says it runs, then waits for the gate (so the queue behind it fills). */
static void job_blocking(void *ctx) {
  pthread_mutex_lock(&g_mu);
  g_first_running = true;
  pthread_cond_broadcast(&g_cv);
  while (!g_gate_open) pthread_cond_wait(&g_cv, &g_mu);
  g_order[g_n_ran++] = (int)(intptr_t)ctx;
  if (pthread_equal(pthread_self(), g_caller)) g_off_caller = false;
  pthread_mutex_unlock(&g_mu);
}

static void job_note(void *ctx) {
  pthread_mutex_lock(&g_mu);
  g_order[g_n_ran++] = (int)(intptr_t)ctx;
  if (pthread_equal(pthread_self(), g_caller)) g_off_caller = false;
  pthread_mutex_unlock(&g_mu);
}

static void test_queue(void **state) {
  (void)state;
  g_caller = pthread_self();
  assert_int_equal(srv_loader_submit(job_note, (void *)(intptr_t)99), RECO_ESTATE); /* not started */
  assert_int_equal(srv_loader_start(), 0);
  assert_int_equal(srv_loader_submit(job_blocking, (void *)(intptr_t)0), 0);
  pthread_mutex_lock(&g_mu);
  while (!g_first_running) pthread_cond_wait(&g_cv, &g_mu);
  pthread_mutex_unlock(&g_mu);
  /* job 0 runs (off the queue); the queue takes SRV_LOAD_QUEUE more, then refuses */
  for (int k = 1; k <= SRV_LOAD_QUEUE; k++) assert_int_equal(srv_loader_submit(job_note, (void *)(intptr_t)k), 0);
  double t0 = reco__now();
  assert_int_equal(srv_loader_submit(job_note, (void *)(intptr_t)50), RECO_ELIMIT);
  assert_int_equal(srv_loader_submit(job_note, (void *)(intptr_t)51), RECO_ELIMIT);
  assert_true(reco__now() - t0 < 0.5); /* refused at once, not after a wait */
  srv_buf b = {0};
  srv_loader_metrics(&b);
  char want[64];
  snprintf(want, sizeof want, "reco_model_load_queue %d\n", SRV_LOAD_QUEUE);
  assert_non_null(strstr(b.p, want));
  assert_non_null(strstr(b.p, "reco_model_load_running 1\n"));
  assert_non_null(strstr(b.p, "reco_model_loads_refused_total 2\n"));
  srv_buf_free(&b);
  /* stop while everything is still queued: the stop runs them all, in order */
  pthread_mutex_lock(&g_mu);
  g_gate_open = true;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
  srv_loader_stop();
  assert_int_equal(g_n_ran, SRV_LOAD_QUEUE + 1);
  for (int k = 0; k <= SRV_LOAD_QUEUE; k++) assert_int_equal(g_order[k], k);
  assert_true(g_off_caller);
  assert_int_equal(srv_loader_submit(job_note, (void *)(intptr_t)98), RECO_ESTATE); /* stopped */
  srv_loader_metrics(&b);
  snprintf(want, sizeof want, "reco_model_loads_total %d\n", SRV_LOAD_QUEUE + 1);
  assert_non_null(strstr(b.p, want));
  assert_non_null(strstr(b.p, "reco_model_load_queue 0\n"));
  srv_buf_free(&b);
  /* and it starts again (a second srv_start in one process, as the unit tests of the server do) */
  assert_int_equal(srv_loader_start(), 0);
  assert_int_equal(srv_loader_submit(job_note, (void *)(intptr_t)7), 0);
  srv_loader_stop();
  assert_int_equal(g_n_ran, SRV_LOAD_QUEUE + 2);
  assert_int_equal(g_order[SRV_LOAD_QUEUE + 1], 7);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_queue),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
