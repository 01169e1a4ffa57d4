/*
 * loader.c - the model loader: one thread that runs the admin routes' snapshot builds (the
 * model activate and rollback of h_admin.c, the republish after a catalogue write of
 * h_catalog.c: srv_snapshot_load, ~15 ms for the demo, seconds for big models), so that no
 * HTTP thread does. Before it, the libmicrohttpd worker that
 * received an activation loaded the snapshot itself, and every other connection that worker
 * served waited that long (scripts/bench_swap_stall.sh measures it).
 *
 * A job is a function and its context. The handler suspends its request first (srv_defer, as
 * /interaction does for the durable ack), then submits; the job runs on the loader thread and
 * ends by calling srv_resume, after which it touches nothing of its context (the HTTP thread
 * answers and frees it, serve.h "deferred responses").
 *
 * Invariants:
 *   1. At most SRV_LOAD_QUEUE jobs wait (a ring under g.mu); srv_loader_submit on a full queue
 *      returns RECO_ELIMIT at once (the handler answers 503 with Retry-After), never blocks.
 *   2. Jobs run one at a time, in submission order. They take srv_reload_lock themselves, so
 *      they also serialise with SIGHUP reloads and catalogue republishes.
 *   3. srv_loader_stop runs every job already queued before the thread ends (srv_stop calls it
 *      after the HTTP daemon stopped, and the daemon stops only once no request is suspended,
 *      so each queued job has been answered by then). A submit after the stop began, or
 *      before any start, returns RECO_ESTATE.
 */
#include <pthread.h>
#include <stdbool.h>

#include "base/base.h"
#include "serve.h"

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t th;
  bool running;  /* the thread takes jobs (start .. stop) */
  bool stopping; /* srv_loader_stop began: no new jobs, the queued ones still run */
  struct {
    srv_load_fn fn;
    void *ctx;
  } q[SRV_LOAD_QUEUE];
  int head, n; /* the ring: n jobs from head */
  bool busy;   /* a job is running */
  uint64_t n_done, n_refused;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void *loader_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&g.mu);
  for (;;) {
    while (!g.n && !g.stopping) pthread_cond_wait(&g.cv, &g.mu);
    if (!g.n) break; /* stopping with nothing left (invariant 3) */
    srv_load_fn fn = g.q[g.head].fn;
    void *ctx = g.q[g.head].ctx;
    g.head = (g.head + 1) % SRV_LOAD_QUEUE;
    g.n--;
    g.busy = true;
    pthread_mutex_unlock(&g.mu);
    fn(ctx); /* ends with srv_resume: ctx is no longer ours */
    pthread_mutex_lock(&g.mu);
    g.busy = false;
    g.n_done++;
  }
  pthread_mutex_unlock(&g.mu);
  return NULL;
}

int srv_loader_start(void) {
  pthread_mutex_lock(&g.mu);
  if (g.running) {
    pthread_mutex_unlock(&g.mu);
    return 0;
  }
  g.stopping = false;
  g.head = g.n = 0;
  int rc = pthread_create(&g.th, NULL, loader_main, NULL);
  g.running = rc == 0;
  pthread_mutex_unlock(&g.mu);
  return rc ? reco__seterr(RECO_ENOMEM, "cannot start the model loader thread") : 0;
}

void srv_loader_stop(void) {
  pthread_mutex_lock(&g.mu);
  if (!g.running) {
    pthread_mutex_unlock(&g.mu);
    return;
  }
  g.stopping = true;
  pthread_cond_signal(&g.cv);
  pthread_mutex_unlock(&g.mu);
  pthread_join(g.th, NULL);
  pthread_mutex_lock(&g.mu);
  g.running = false;
  pthread_mutex_unlock(&g.mu);
}

int srv_loader_submit(srv_load_fn fn, void *ctx) {
  int rc = 0;
  pthread_mutex_lock(&g.mu);
  if (!g.running || g.stopping) {
    rc = RECO_ESTATE;
  } else if (g.n == SRV_LOAD_QUEUE) {
    rc = RECO_ELIMIT; /* invariant 1 */
    g.n_refused++;
  } else {
    int at = (g.head + g.n) % SRV_LOAD_QUEUE;
    g.q[at].fn = fn, g.q[at].ctx = ctx;
    g.n++;
    pthread_cond_signal(&g.cv);
  }
  pthread_mutex_unlock(&g.mu);
  return rc;
}

void srv_loader_metrics(srv_buf *b) {
  pthread_mutex_lock(&g.mu);
  int queued = g.n, busy = g.busy;
  unsigned long long done = g.n_done, refused = g.n_refused;
  pthread_mutex_unlock(&g.mu);
  srv_buf_printf(b,
                 "# HELP reco_model_load_queue Model swaps waiting for the loader thread (at most %d).\n"
                 "# TYPE reco_model_load_queue gauge\nreco_model_load_queue %d\n"
                 "# HELP reco_model_load_running 1 while the loader thread builds a snapshot.\n"
                 "# TYPE reco_model_load_running gauge\nreco_model_load_running %d\n"
                 "# HELP reco_model_loads_total Model swap jobs the loader thread finished (success or not).\n"
                 "# TYPE reco_model_loads_total counter\nreco_model_loads_total %llu\n"
                 "# HELP reco_model_loads_refused_total Model swaps refused with 503 because the loader queue was full.\n"
                 "# TYPE reco_model_loads_refused_total counter\nreco_model_loads_refused_total %llu\n",
                 SRV_LOAD_QUEUE, queued, busy, done, refused);
}
