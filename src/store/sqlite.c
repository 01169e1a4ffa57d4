/*
 * sqlite.c - the SQLite store: schema and migrations, the group-committing writer thread, and
 * pooled read connections.
 *
 * Invariants of the write path (a job is one interaction, one experiment assignment, one GDPR
 * erasure (run_erase) or one chunk of `reco import` (JOB_BULK, many rows in the job)):
 *
 *   1. A job is acknowledged (store_append / store_assign return 0) only after the COMMIT of
 *      the transaction that wrote it has returned SQLITE_OK with journal_mode=WAL and
 *      synchronous=FULL: the WAL is fsynced, so a crash (SIGKILL, power loss) after the ack
 *      cannot lose it.
 *   2. Exactly one thread (writer_main) holds the write connection. Producers never touch it;
 *      they enqueue a pointer to a job on their own stack and wait on the job's own condition
 *      variable until the writer sets job->done (under s->mu). The job outlives the wait.
 *   3. The queue is bounded by queue_cap. A producer that finds it full does not wait: it gets
 *      RECO_ELIMIT at once (the HTTP layer answers 503 + Retry-After).
 *   4. Group commit: the writer takes every job queued at the moment it wakes and writes them
 *      all in one BEGIN IMMEDIATE..COMMIT, so one fsync covers the batch. Jobs enqueued while a
 *      batch is being written wait for the next batch.
 *   5. If any statement of a batch fails, the batch is rolled back and every job in it is
 *      re-run in its own transaction, so one bad record cannot fail its neighbours and no job is
 *      acknowledged for a rolled-back write.
 *   6. Idempotency: interactions.idempotency_key is UNIQUE. An insert that conflicts stores
 *      nothing and the job reports the id of the row that holds the key (also within a batch).
 *   7. Assignments are INSERT OR IGNORE then SELECT: the first variant stored for
 *      (experiment, user) is the one every later call returns, across restarts.
 *   8. store_close lets the writer drain the queue and commit before it exits; a job enqueued
 *      after close has begun is refused with RECO_ESTATE. Every job accepted before that is
 *      completed (committed or failed), so no waiter and no callback is left hanging.
 *   9. Asynchronous jobs (store_append_async): the job is heap-allocated by the store and owned
 *      by the writer once queued. After the batch's COMMIT (or its failure) the writer calls
 *      job->done_fn outside s->mu (the callback may take other locks, e.g. libmicrohttpd's
 *      resume), then frees the job. The records' strings must stay valid until done_fn runs.
 *  10. One job may carry several records (a batch request): they are written in the same
 *      transaction as the rest of the group, and on the retry of invariant 5 they are retried
 *      together, so a batch is stored entirely or not at all. The queue bound of invariant 3
 *      counts records, not jobs.
 *
 * States of a job: QUEUED (store_append, under mu) -> TAKEN (writer_main swaps the queue out)
 * -> WRITTEN (run_job inside the transaction) -> DONE (writer_main after COMMIT or after the
 * rollback-and-retry of invariant 5: signals job->cv, or for an asynchronous job calls
 * job->done_fn and frees it).
 *
 * Checkpoints: the writer never checkpoints in the common case. SQLite's automatic checkpoint
 * would run inside a COMMIT and, with synchronous=FULL, fsync the database file there: every
 * producer waiting on that batch would wait for it too (it was the p99 of the ingest benchmark).
 * Instead the WAL hook wakes a checkpointer thread (its own connection) once the WAL holds
 * CKPT_PAGES pages; its PASSIVE checkpoints run beside the writer without blocking it. Should
 * the WAL still reach CKPT_HARD_PAGES (a reader pinning old frames), the writer checkpoints
 * itself, so the file stays bounded.
 *
 * Reads: READ_CONNS connections opened read-only, each behind its own mutex, picked round robin.
 * In WAL mode a reader sees the last committed transaction and never blocks the writer.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "store.h"

#define READ_CONNS 8
#define CKPT_PAGES 4000        /* WAL pages (of 4 KiB) that wake the checkpointer: about 16 MB */
#define CKPT_HARD_PAGES 262144 /* the writer checkpoints itself beyond this: about 1 GB */

enum { JOB_INTERACTION, JOB_ASSIGN, JOB_CATALOG, JOB_ERASE, JOB_BULK };

typedef struct store_job {
  int kind;
  const store_interaction *recs; /* JOB_INTERACTION: n records, results in ids[] and dups[] */
  size_t n;
  int64_t *ids;
  bool *dups;
  store_done_fn done_fn; /* NULL: a synchronous job, its producer waits on cv */
  void *done_ctx;
  const char *experiment, *user, *variant;
  double bucket;
  const store_doc *docs; /* JOB_CATALOG: rows written in one transaction (all or nothing) */
  size_t n_docs;
  int table;   /* STORE_ITEMS or STORE_USERS */
  int op;      /* CAT_PUT, CAT_AVAIL, CAT_DELETE */
  const store_interaction *rows; /* JOB_BULK: n_rows records written in this job's transaction */
  size_t n_rows;
  /* results */
  int rc;
  bool found; /* JOB_CATALOG with CAT_AVAIL / CAT_DELETE: the row existed */
  int64_t id; /* JOB_ERASE: interactions erased; JOB_BULK: rows written */
  int64_t n_erased_assignments; /* JOB_ERASE */
  char variant_out[128];
  double bucket_out;
  bool done;
  pthread_cond_t cv;
} store_job;

typedef struct read_conn {
  pthread_mutex_t mu;
  sqlite3 *db;
} read_conn;

struct reco_store {
  sqlite3 *wdb;
  sqlite3_stmt *ins, *by_key, *asg_ins, *asg_get;
  pthread_t writer;
  pthread_mutex_t mu;
  pthread_cond_t wake;
  store_job **ring, **batch; /* batch: the writer's copy of the jobs it took */
  size_t cap, head, count;
  size_t n_recs; /* records in the queued jobs (invariant 3's bound) */
  bool stopping;
  int version;
  read_conn rd[READ_CONNS];
  atomic_uint next_rd;
  atomic_llong n_commits, n_jobs; /* transactions committed by the writer, jobs in them */
  /* the checkpointer: its own connection, woken by the WAL hook (see the top of this file) */
  sqlite3 *cdb;
  pthread_t ckpt;
  pthread_mutex_t ckpt_mu;
  pthread_cond_t ckpt_wake;
  bool ckpt_due, ckpt_stop;
  char *path; /* for the private connection of a long scan (store_scan_tail) */
};

/* Migration 2 (issue 6, the catalogue): item and user metadata as JSON documents. Written with
 * IF NOT EXISTS and also re-run at every open (migrate), so it holds whatever position other
 * additive migrations take in k_migrations when branches are merged: a file that reached
 * version N through another numbering still gets these tables. */
static const char k_catalog_sql[] =
    "CREATE TABLE IF NOT EXISTS catalog_items(id TEXT PRIMARY KEY, doc TEXT NOT NULL,"
    " available INTEGER NOT NULL DEFAULT 1, updated_at INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS catalog_users(id TEXT PRIMARY KEY, doc TEXT NOT NULL,"
    " updated_at INTEGER NOT NULL) WITHOUT ROWID;";

/* Migration 3 (issue 7, GDPR erasure, src/serve/h_privacy.c): the erased ids are kept so that
 * the catalogue's own history of a user stays ignored after a restart and by every later
 * retrain. Idempotent and re-run at every open, like k_catalog_sql. */
static const char k_erased_sql[] =
    "CREATE TABLE IF NOT EXISTS erased_users(user TEXT PRIMARY KEY, erased_at INTEGER NOT NULL,"
    " interactions INTEGER NOT NULL, assignments INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS experiment_assignments_user ON experiment_assignments(user);";

/* Migration k moves the schema from version k to k + 1; each runs in one transaction. */
static const char *const k_migrations[] = {
    "CREATE TABLE interactions(id INTEGER PRIMARY KEY, user TEXT NOT NULL, item TEXT NOT NULL,"
    " type TEXT NOT NULL, value REAL, ts INTEGER NOT NULL, session TEXT, position INTEGER, context TEXT,"
    " idempotency_key TEXT UNIQUE);"
    "CREATE INDEX interactions_user ON interactions(user, id);"
    "CREATE TABLE experiment_assignments(experiment TEXT NOT NULL, user TEXT NOT NULL, variant TEXT NOT NULL,"
    " bucket REAL NOT NULL, ts INTEGER NOT NULL, PRIMARY KEY(experiment, user)) WITHOUT ROWID;",
    k_catalog_sql, /* 1 -> 2: the catalogue (issue 6) */
    k_erased_sql,  /* 2 -> 3: GDPR erasure (issue 7) */
};
#define N_MIGRATIONS ((int)(sizeof k_migrations / sizeof *k_migrations))

static int db_err(sqlite3 *db, const char *what) {
  return reco__seterr(RECO_EIO, "store: %s: %s", what, db ? sqlite3_errmsg(db) : "cannot open");
}

static int exec(sqlite3 *db, const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
    int rc = reco__seterr(RECO_EIO, "store: %s: %s", sql, err ? err : "?");
    sqlite3_free(err);
    return rc;
  }
  return 0;
}

static int64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int migrate(reco_store *s) {
  int rc;
  if ((rc = exec(s->wdb, "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)"))) return rc;
  sqlite3_stmt *q;
  if (sqlite3_prepare_v2(s->wdb, "SELECT max(version) FROM schema_version", -1, &q, NULL)) return db_err(s->wdb, "schema");
  int v = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : 0;
  sqlite3_finalize(q);
  if (v > N_MIGRATIONS) return reco__seterr(RECO_EVERSION, "store: schema version %d is newer than this program (%d)", v, N_MIGRATIONS);
  for (; v < N_MIGRATIONS; v++) {
    char bump[96];
    snprintf(bump, sizeof bump, "INSERT INTO schema_version(version) VALUES(%d)", v + 1);
    if ((rc = exec(s->wdb, "BEGIN IMMEDIATE"))) return rc;
    if ((rc = exec(s->wdb, k_migrations[v])) || (rc = exec(s->wdb, bump))) {
      exec(s->wdb, "ROLLBACK");
      return rc;
    }
    if ((rc = exec(s->wdb, "COMMIT"))) return rc;
  }
  /* idempotent: see k_catalog_sql */
  if ((rc = exec(s->wdb, k_catalog_sql)) || (rc = exec(s->wdb, k_erased_sql))) return rc;
  s->version = v;
  return 0;
}

static void bind_text(sqlite3_stmt *q, int k, const char *v) {
  if (v) sqlite3_bind_text(q, k, v, -1, SQLITE_TRANSIENT);
  else sqlite3_bind_null(q, k);
}

/* Invariant 6: one record inside the current transaction. */
static int run_insert(reco_store *s, const store_interaction *r, int64_t *id, bool *dup) {
  sqlite3_stmt *q = s->ins;
  sqlite3_reset(q);
  sqlite3_clear_bindings(q);
  bind_text(q, 1, r->user);
  bind_text(q, 2, r->item);
  bind_text(q, 3, r->type);
  if (r->has_value) sqlite3_bind_double(q, 4, r->value);
  sqlite3_bind_int64(q, 5, r->ts_ms);
  bind_text(q, 6, r->session);
  if (r->has_position) sqlite3_bind_int64(q, 7, r->position);
  bind_text(q, 8, r->context_json);
  bind_text(q, 9, r->idem_key);
  int st = sqlite3_step(q);
  if (st != SQLITE_DONE) return db_err(s->wdb, "insert interaction");
  if (sqlite3_changes(s->wdb) == 1) {
    *id = sqlite3_last_insert_rowid(s->wdb);
    *dup = false;
    return 0;
  }
  /* the key was there already: report its row */
  q = s->by_key;
  sqlite3_reset(q);
  bind_text(q, 1, r->idem_key);
  if (sqlite3_step(q) != SQLITE_ROW) return db_err(s->wdb, "idempotency lookup");
  *id = sqlite3_column_int64(q, 0);
  *dup = true;
  sqlite3_reset(q);
  return 0;
}

/* Invariants 6, 7 and 10: one job's statements inside the current transaction. */

/* An erasure inside the current transaction: the user's interactions and assignments go, the
 * erasure is recorded (a repeated erasure updates the record). Rare, so prepared per call. */
static int run_erase(reco_store *s, store_job *j) {
  static const char *const sql[4] = {
      "DELETE FROM interactions WHERE user=?1",
      "DELETE FROM experiment_assignments WHERE user=?1",
      "INSERT OR REPLACE INTO erased_users(user, erased_at, interactions, assignments) VALUES(?1, ?2, ?3, ?4)",
      "DELETE FROM catalog_users WHERE id=?1"}; /* the attributes of PUT /api/v1/users/:id */
  int64_t changed[2] = {0, 0};
  for (int k = 0; k < 4; k++) {
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->wdb, sql[k], -1, &q, NULL) != SQLITE_OK) return db_err(s->wdb, "prepare erase");
    bind_text(q, 1, j->user);
    if (k == 2) {
      sqlite3_bind_int64(q, 2, now_ms());
      sqlite3_bind_int64(q, 3, changed[0]);
      sqlite3_bind_int64(q, 4, changed[1]);
    }
    int st = sqlite3_step(q);
    sqlite3_finalize(q);
    if (st != SQLITE_DONE) return db_err(s->wdb, "erase");
    if (k < 2) changed[k] = sqlite3_changes(s->wdb);
  }
  j->id = changed[0];
  j->n_erased_assignments = changed[1];
  return 0;
}

/* A catalogue job: every row in the current transaction, so a bulk import is all or nothing
 * (a failing row fails the job; write_batch's retry re-runs it alone and it fails again). */
static int run_catalog(reco_store *s, store_job *j) {
  static const char *const sql[2][3] = {
      {"INSERT INTO catalog_items(id,doc,available,updated_at) VALUES(?1,?2,?3,?4) ON CONFLICT(id) DO UPDATE SET"
       " doc=excluded.doc, available=excluded.available, updated_at=excluded.updated_at",
       "INSERT INTO catalog_items(id,doc,available,updated_at) VALUES(?1,'{}',?3,?4) ON CONFLICT(id) DO UPDATE SET"
       " available=excluded.available, updated_at=excluded.updated_at",
       "DELETE FROM catalog_items WHERE id=?1"},
      {"INSERT INTO catalog_users(id,doc,updated_at) VALUES(?1,?2,?4) ON CONFLICT(id) DO UPDATE SET"
       " doc=excluded.doc, updated_at=excluded.updated_at",
       NULL, "DELETE FROM catalog_users WHERE id=?1"},
  };
  const char *text = sql[j->table == STORE_USERS][j->op];
  if (!text) return reco__seterr(RECO_EINVAL, "store: operation not supported on users");
  sqlite3_stmt *q;
  if (sqlite3_prepare_v2(s->wdb, text, -1, &q, NULL) != SQLITE_OK) return db_err(s->wdb, "prepare catalogue write");
  int rc = 0;
  int64_t now = now_ms();
  j->found = false;
  for (size_t k = 0; k < j->n_docs && !rc; k++) {
    const store_doc *d = &j->docs[k];
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    bind_text(q, 1, d->id);
    if (sqlite3_bind_parameter_count(q) >= 2) bind_text(q, 2, d->doc ? d->doc : "{}");
    if (sqlite3_bind_parameter_count(q) >= 3) sqlite3_bind_int(q, 3, d->available ? 1 : 0);
    if (sqlite3_bind_parameter_count(q) >= 4) sqlite3_bind_int64(q, 4, now);
    if (sqlite3_step(q) != SQLITE_DONE) rc = db_err(s->wdb, "catalogue write");
    else j->found |= sqlite3_changes(s->wdb) > 0;
  }
  sqlite3_finalize(q);
  return rc;
}

static int run_job(reco_store *s, store_job *j) {
  int rc = 0;
  if (j->kind == JOB_CATALOG) return run_catalog(s, j);
  if (j->kind == JOB_INTERACTION) {
    for (size_t k = 0; !rc && k < j->n; k++) rc = run_insert(s, &j->recs[k], &j->ids[k], &j->dups[k]);
    return rc;
  }
  if (j->kind == JOB_ERASE) return run_erase(s, j);
  if (j->kind == JOB_BULK) {
    for (size_t k = 0; k < j->n_rows; k++) {
      int64_t id;
      bool dup;
      if ((rc = run_insert(s, &j->rows[k], &id, &dup))) return rc;
    }
    j->id = (int64_t)j->n_rows;
    return 0;
  }
  sqlite3_stmt *q = s->asg_ins;
  sqlite3_reset(q);
  bind_text(q, 1, j->experiment);
  bind_text(q, 2, j->user);
  bind_text(q, 3, j->variant);
  sqlite3_bind_double(q, 4, j->bucket);
  sqlite3_bind_int64(q, 5, now_ms());
  if (sqlite3_step(q) != SQLITE_DONE) return db_err(s->wdb, "insert assignment");
  q = s->asg_get;
  sqlite3_reset(q);
  bind_text(q, 1, j->experiment);
  bind_text(q, 2, j->user);
  if (sqlite3_step(q) != SQLITE_ROW) rc = db_err(s->wdb, "read assignment");
  else {
    snprintf(j->variant_out, sizeof j->variant_out, "%s", (const char *)sqlite3_column_text(q, 0));
    j->bucket_out = sqlite3_column_double(q, 1);
  }
  sqlite3_reset(q);
  return rc;
}

/* Writes jobs[0..n) in one transaction (invariant 4); on failure, one by one (invariant 5). */
static void write_batch(reco_store *s, store_job **jobs, size_t n) {
  int rc = exec(s->wdb, "BEGIN IMMEDIATE");
  for (size_t k = 0; !rc && k < n; k++) rc = jobs[k]->rc = run_job(s, jobs[k]);
  if (!rc) rc = exec(s->wdb, "COMMIT");
  if (!rc) {
    atomic_fetch_add(&s->n_commits, 1);
    long long n_recs = 0;
    for (size_t k = 0; k < n; k++) n_recs += jobs[k]->kind == JOB_INTERACTION ? (long long)jobs[k]->n : 1;
    atomic_fetch_add(&s->n_jobs, n_recs);
    return;
  }
  exec(s->wdb, "ROLLBACK");
  for (size_t k = 0; k < n; k++) {
    int r = exec(s->wdb, "BEGIN IMMEDIATE");
    if (!r) r = run_job(s, jobs[k]);
    if (!r) r = exec(s->wdb, "COMMIT");
    if (r) exec(s->wdb, "ROLLBACK");
    jobs[k]->rc = r;
  }
}

/* The WAL hook: runs on the writer thread after each COMMIT with the WAL's size in pages. */
static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int pages) {
  reco_store *s = arg;
  if (pages >= CKPT_HARD_PAGES) {
    sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
  } else if (pages >= CKPT_PAGES) {
    pthread_mutex_lock(&s->ckpt_mu);
    s->ckpt_due = true;
    pthread_cond_signal(&s->ckpt_wake);
    pthread_mutex_unlock(&s->ckpt_mu);
  }
  return SQLITE_OK;
}

static void *ckpt_main(void *arg) {
  reco_store *s = arg;
  /* background work: on a busy machine the writer and the HTTP threads go first (Linux: a
   * thread's nice value is its own) */
  if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10)) { /* best effort */ }
  pthread_mutex_lock(&s->ckpt_mu);
  while (!s->ckpt_stop) {
    if (!s->ckpt_due) {
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_sec += 1; /* also once a second, so an idle store's WAL is folded in */
      pthread_cond_timedwait(&s->ckpt_wake, &s->ckpt_mu, &until);
      if (s->ckpt_stop) break;
    }
    s->ckpt_due = false;
    pthread_mutex_unlock(&s->ckpt_mu);
    sqlite3_wal_checkpoint_v2(s->cdb, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    pthread_mutex_lock(&s->ckpt_mu);
  }
  pthread_mutex_unlock(&s->ckpt_mu);
  return NULL;
}

static void *writer_main(void *arg) {
  reco_store *s = arg;
  store_job **batch = s->batch;
  pthread_mutex_lock(&s->mu);
  for (;;) {
    while (!s->count && !s->stopping) pthread_cond_wait(&s->wake, &s->mu);
    if (!s->count) break; /* stopping and drained (invariant 8) */
    size_t n = 0;
    while (s->count) {
      batch[n++] = s->ring[s->head];
      s->head = (s->head + 1) % s->cap;
      s->count--;
    }
    s->n_recs = 0;
    pthread_mutex_unlock(&s->mu);
    write_batch(s, batch, n);
    pthread_mutex_lock(&s->mu);
    /* a synchronous job may vanish (its producer's stack) as soon as done is set: the
     * asynchronous ones are moved to the front first, and only they are touched after */
    size_t n_async = 0;
    for (size_t k = 0; k < n; k++) {
      store_job *j = batch[k];
      if (j->done_fn) {
        batch[n_async++] = j;
      } else {
        j->done = true;
        pthread_cond_signal(&j->cv);
      }
    }
    if (n_async) {
      pthread_mutex_unlock(&s->mu);
      for (size_t k = 0; k < n_async; k++) { /* invariant 9 */
        batch[k]->done_fn(batch[k]->done_ctx, batch[k]->rc);
        free(batch[k]);
      }
      pthread_mutex_lock(&s->mu);
    }
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

/* Queues j (invariant 3: refused at once when full or closing). Called with s->mu held. */
static int enqueue_locked(reco_store *s, store_job *j, size_t n_recs) {
  /* a job larger than the whole queue still goes through when the queue is empty */
  if (s->stopping || s->count == s->cap || (s->n_recs && s->n_recs + n_recs > s->cap)) {
    return !s->stopping ? reco__seterr(RECO_ELIMIT, "store: the write queue is full (%zu records)", s->cap)
                        : reco__seterr(RECO_ESTATE, "store: closing");
  }
  s->ring[(s->head + s->count) % s->cap] = j;
  s->count++;
  s->n_recs += n_recs;
  pthread_cond_signal(&s->wake);
  return 0;
}

/* Queues j and waits until it is DONE (invariants 2 and 3). */
static int submit(reco_store *s, store_job *j) {
  pthread_cond_init(&j->cv, NULL);
  j->done = false;
  j->rc = 0;
  pthread_mutex_lock(&s->mu);
  int rc = enqueue_locked(s, j, j->kind == JOB_INTERACTION ? j->n : 1);
  if (rc) {
    pthread_mutex_unlock(&s->mu);
    pthread_cond_destroy(&j->cv);
    return rc;
  }
  while (!j->done) pthread_cond_wait(&j->cv, &s->mu);
  pthread_mutex_unlock(&s->mu);
  pthread_cond_destroy(&j->cv);
  return j->rc;
}

int store_append(reco_store *s, const store_interaction *r, int64_t *id, bool *dup) {
  if (!r->user || !r->item || !r->type) return reco__seterr(RECO_EINVAL, "store: user, item and type are required");
  bool d = false;
  store_job j = {.kind = JOB_INTERACTION, .recs = r, .n = 1, .ids = id, .dups = &d};
  int rc = submit(s, &j);
  if (!rc && dup) *dup = d;
  return rc;
}

int store_append_async(reco_store *s, const store_interaction *recs, size_t n, int64_t *ids, bool *dups,
                       store_done_fn fn, void *ctx) {
  if (!n || !fn) return reco__seterr(RECO_EINVAL, "store: no records or no callback");
  for (size_t k = 0; k < n; k++)
    if (!recs[k].user || !recs[k].item || !recs[k].type)
      return reco__seterr(RECO_EINVAL, "store: user, item and type are required (record %zu)", k);
  store_job *j = calloc(1, sizeof *j);
  if (!j) return reco__seterr(RECO_ENOMEM, "store: out of memory");
  *j = (store_job){.kind = JOB_INTERACTION, .recs = recs, .n = n, .ids = ids, .dups = dups, .done_fn = fn, .done_ctx = ctx};
  pthread_mutex_lock(&s->mu);
  int rc = enqueue_locked(s, j, n);
  pthread_mutex_unlock(&s->mu);
  if (rc) free(j); /* not queued: the callback will not run */
  return rc;
}

int store_assign(reco_store *s, const char *experiment, const char *user, const char *proposed, double bucket,
                 char *variant_out, size_t variant_cap, double *bucket_out) {
  store_job j = {.kind = JOB_ASSIGN, .experiment = experiment, .user = user, .variant = proposed, .bucket = bucket};
  int rc = submit(s, &j);
  if (!rc) {
    snprintf(variant_out, variant_cap, "%s", j.variant_out);
    if (bucket_out) *bucket_out = j.bucket_out;
  }
  return rc;
}

int store_erase_user(reco_store *s, const char *user, int64_t *n_interactions, int64_t *n_assignments) {
  if (!user) return reco__seterr(RECO_EINVAL, "store: user is required");
  store_job j = {.kind = JOB_ERASE, .user = user};
  int rc = submit(s, &j);
  if (!rc) {
    if (n_interactions) *n_interactions = j.id;
    if (n_assignments) *n_assignments = j.n_erased_assignments;
  }
  return rc;
}

int store_append_bulk(reco_store *s, const store_interaction *rows, size_t n) {
  for (size_t k = 0; k < n; k++)
    if (!rows[k].user || !rows[k].item || !rows[k].type)
      return reco__seterr(RECO_EINVAL, "store: row %zu: user, item and type are required", k);
  store_job j = {.kind = JOB_BULK, .rows = rows, .n_rows = n};
  return submit(s, &j);
}

static int open_conn(const char *path, int flags, sqlite3 **out) {
  sqlite3 *db = NULL;
  if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
    int rc = db_err(db, path);
    sqlite3_close(db);
    return rc;
  }
  sqlite3_busy_timeout(db, 5000);
  *out = db;
  return 0;
}

int store_open(const char *path, size_t queue_cap, reco_store **out) {
  *out = NULL;
  if (queue_cap == 0) queue_cap = STORE_QUEUE_DEFAULT;
  reco_store *s = calloc(1, sizeof *s);
  if (!s || !(s->ring = calloc(queue_cap, sizeof *s->ring)) || !(s->batch = calloc(queue_cap, sizeof *s->batch))) {
    if (s) free(s->ring);
    free(s);
    return reco__seterr(RECO_ENOMEM, "store: out of memory");
  }
  s->cap = queue_cap;
  if (!(s->path = strdup(path))) {
    free(s->ring);
    free(s->batch);
    free(s);
    return reco__seterr(RECO_ENOMEM, "store: out of memory");
  }
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->wake, NULL);
  pthread_mutex_init(&s->ckpt_mu, NULL);
  pthread_cond_init(&s->ckpt_wake, NULL);
  for (int k = 0; k < READ_CONNS; k++) pthread_mutex_init(&s->rd[k].mu, NULL);
  int rc = open_conn(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &s->wdb);
  if (!rc) rc = exec(s->wdb, "PRAGMA journal_mode=WAL");
  if (!rc) rc = exec(s->wdb, "PRAGMA synchronous=FULL");
  if (!rc) rc = migrate(s);
  if (!rc) rc = open_conn(path, SQLITE_OPEN_READWRITE, &s->cdb);
  if (!rc) rc = exec(s->cdb, "PRAGMA synchronous=FULL");
  if (!rc) sqlite3_wal_hook(s->wdb, on_wal_commit, s); /* replaces the automatic checkpoint */
  if (!rc &&
      (sqlite3_prepare_v2(s->wdb,
                          "INSERT INTO interactions(user,item,type,value,ts,session,position,context,idempotency_key)"
                          " VALUES(?,?,?,?,?,?,?,?,?) ON CONFLICT(idempotency_key) DO NOTHING",
                          -1, &s->ins, NULL) ||
       sqlite3_prepare_v2(s->wdb, "SELECT id FROM interactions WHERE idempotency_key=?", -1, &s->by_key, NULL) ||
       sqlite3_prepare_v2(s->wdb,
                          "INSERT OR IGNORE INTO experiment_assignments(experiment,user,variant,bucket,ts) VALUES(?,?,?,?,?)",
                          -1, &s->asg_ins, NULL) ||
       sqlite3_prepare_v2(s->wdb, "SELECT variant, bucket FROM experiment_assignments WHERE experiment=? AND user=?", -1,
                          &s->asg_get, NULL)))
    rc = db_err(s->wdb, "prepare");
  for (int k = 0; !rc && k < READ_CONNS; k++) rc = open_conn(path, SQLITE_OPEN_READONLY, &s->rd[k].db);
  if (!rc && pthread_create(&s->ckpt, NULL, ckpt_main, s)) {
    s->ckpt = 0;
    rc = reco__seterr(RECO_ENOMEM, "store: cannot start the checkpointer");
  }
  if (!rc && pthread_create(&s->writer, NULL, writer_main, s)) rc = reco__seterr(RECO_ENOMEM, "store: cannot start the writer");
  if (rc) {
    s->writer = 0;
    store_close(s);
    return rc;
  }
  *out = s;
  return 0;
}

void store_close(reco_store *s) {
  if (!s) return;
  if (s->writer) {
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->writer, NULL);
  }
  if (s->ckpt) {
    pthread_mutex_lock(&s->ckpt_mu);
    s->ckpt_stop = true;
    pthread_cond_signal(&s->ckpt_wake);
    pthread_mutex_unlock(&s->ckpt_mu);
    pthread_join(s->ckpt, NULL);
  }
  sqlite3_close(s->cdb);
  sqlite3_finalize(s->ins);
  sqlite3_finalize(s->by_key);
  sqlite3_finalize(s->asg_ins);
  sqlite3_finalize(s->asg_get);
  for (int k = 0; k < READ_CONNS; k++) {
    sqlite3_close(s->rd[k].db);
    pthread_mutex_destroy(&s->rd[k].mu);
  }
  sqlite3_close(s->wdb);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->wake);
  pthread_mutex_destroy(&s->ckpt_mu);
  pthread_cond_destroy(&s->ckpt_wake);
  free(s->ring);
  free(s->batch);
  free(s->path);
  free(s);
}

int store_schema_version(reco_store *s) { return s->version; }

void store_commit_stats(reco_store *s, int64_t *commits, int64_t *jobs) {
  *commits = atomic_load(&s->n_commits);
  *jobs = atomic_load(&s->n_jobs);
}

static read_conn *rd_get(reco_store *s) {
  read_conn *c = &s->rd[atomic_fetch_add_explicit(&s->next_rd, 1, memory_order_relaxed) % READ_CONNS];
  pthread_mutex_lock(&c->mu);
  return c;
}

static int rd_query(read_conn *c, const char *sql, sqlite3_stmt **q) {
  /* cached per connection by SQLite's own statement cache would need sqlite3_prepare_v3
   * persistence flags; these reads are not on the recommend hot path */
  if (sqlite3_prepare_v2(c->db, sql, -1, q, NULL) != SQLITE_OK) return db_err(c->db, "prepare read");
  return 0;
}

int store_user_summary_get(reco_store *s, const char *user, store_user_summary *out) {
  memset(out, 0, sizeof *out);
  read_conn *c = rd_get(s);
  sqlite3_stmt *q;
  int rc = rd_query(c, "SELECT count(*), min(ts), max(ts) FROM interactions WHERE user=?", &q);
  if (!rc) {
    sqlite3_bind_text(q, 1, user, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW) {
      out->n = sqlite3_column_int64(q, 0);
      out->first_ts = sqlite3_column_int64(q, 1);
      out->last_ts = sqlite3_column_int64(q, 2);
    } else {
      rc = db_err(c->db, "user summary");
    }
    sqlite3_finalize(q);
  }
  pthread_mutex_unlock(&c->mu);
  return rc;
}

int store_user_recent(reco_store *s, const char *user, int max, store_row_fn fn, void *ctx) {
  read_conn *c = rd_get(s);
  sqlite3_stmt *q;
  int rc = rd_query(c, "SELECT item, type, value, ts FROM interactions WHERE user=? ORDER BY id DESC LIMIT ?", &q);
  if (!rc) {
    sqlite3_bind_text(q, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 2, max);
    int st;
    while ((st = sqlite3_step(q)) == SQLITE_ROW)
      fn(ctx, (const char *)sqlite3_column_text(q, 0), (const char *)sqlite3_column_text(q, 1),
         sqlite3_column_type(q, 2) == SQLITE_NULL ? 0.0 : sqlite3_column_double(q, 2), sqlite3_column_int64(q, 3));
    if (st != SQLITE_DONE) rc = db_err(c->db, "user history");
    sqlite3_finalize(q);
  }
  pthread_mutex_unlock(&c->mu);
  return rc;
}

int store_scan(reco_store *s, store_scan_fn fn, void *ctx) {
  read_conn *c = rd_get(s);
  sqlite3_stmt *q;
  int rc = rd_query(c, "SELECT user, item, type, value FROM interactions ORDER BY id", &q);
  if (!rc) {
    int st;
    while ((st = sqlite3_step(q)) == SQLITE_ROW)
      fn(ctx, (const char *)sqlite3_column_text(q, 0), (const char *)sqlite3_column_text(q, 1),
         (const char *)sqlite3_column_text(q, 2), sqlite3_column_type(q, 3) == SQLITE_NULL ? 0.0 : sqlite3_column_double(q, 3));
    if (st != SQLITE_DONE) rc = db_err(c->db, "scan");
    sqlite3_finalize(q);
  }
  pthread_mutex_unlock(&c->mu);
  return rc;
}

int store_counts(reco_store *s, int64_t *total, int64_t *clicks, int64_t *purchases) {
  read_conn *c = rd_get(s);
  sqlite3_stmt *q;
  int rc = rd_query(c,
                    "SELECT count(*), coalesce(sum(type='click'),0), coalesce(sum(type='purchase'),0) FROM interactions",
                    &q);
  if (!rc) {
    if (sqlite3_step(q) == SQLITE_ROW) {
      *total = sqlite3_column_int64(q, 0);
      *clicks = sqlite3_column_int64(q, 1);
      *purchases = sqlite3_column_int64(q, 2);
    } else {
      rc = db_err(c->db, "counts");
    }
    sqlite3_finalize(q);
  }
  pthread_mutex_unlock(&c->mu);
  return rc;
}

int store_check(reco_store *s, bool *ok) {
  read_conn *c = rd_get(s);
  sqlite3_stmt *q;
  int rc = rd_query(c, "PRAGMA integrity_check", &q);
  if (!rc) {
    *ok = sqlite3_step(q) == SQLITE_ROW && !strcmp((const char *)sqlite3_column_text(q, 0), "ok");
    sqlite3_finalize(q);
  }
  pthread_mutex_unlock(&c->mu);
  return rc;
}

/* ---- the catalogue (migration 2) ---- */

static int catalog_job(reco_store *s, int table, int op, const store_doc *docs, size_t n, bool *found) {
  if (n == 0) return 0;
  store_job j = {.kind = JOB_CATALOG, .table = table, .op = op, .docs = docs, .n_docs = n};
  int rc = submit(s, &j);
  if (!rc && found) *found = j.found;
  return rc;
}

int store_catalog_put(reco_store *s, int table, const store_doc *docs, size_t n) {
  return catalog_job(s, table, 0, docs, n, NULL);
}

int store_item_set_available(reco_store *s, const char *id, bool available) {
  store_doc d = {.id = id, .available = available};
  return catalog_job(s, STORE_ITEMS, 1, &d, 1, NULL);
}

int store_catalog_delete(reco_store *s, int table, const char *id, bool *found) {
  store_doc d = {.id = id};
  return catalog_job(s, table, 2, &d, 1, found);
}

int store_catalog_get(reco_store *s, int table, const char *id, store_doc_fn fn, void *ctx, bool *found) {
  *found = false;
  read_conn *c = rd_get(s);
  sqlite3_stmt *q;
  int rc = rd_query(c, table == STORE_USERS ? "SELECT id, doc, 1, updated_at FROM catalog_users WHERE id=?"
                                            : "SELECT id, doc, available, updated_at FROM catalog_items WHERE id=?",
                    &q);
  if (!rc) {
    sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
    int st = sqlite3_step(q);
    if (st == SQLITE_ROW) {
      *found = true;
      fn(ctx, (const char *)sqlite3_column_text(q, 0), (const char *)sqlite3_column_text(q, 1),
         sqlite3_column_int(q, 2) != 0, sqlite3_column_int64(q, 3));
    } else if (st != SQLITE_DONE) {
      rc = db_err(c->db, "catalogue read");
    }
    sqlite3_finalize(q);
  }
  pthread_mutex_unlock(&c->mu);
  return rc;
}

int store_items_scan(reco_store *s, bool unavailable_only, store_doc_fn fn, void *ctx) {
  read_conn *c = rd_get(s);
  sqlite3_stmt *q;
  int rc = rd_query(c, unavailable_only ? "SELECT id, doc, available, updated_at FROM catalog_items WHERE available=0"
                                        : "SELECT id, doc, available, updated_at FROM catalog_items",
                    &q);
  if (!rc) {
    int st;
    while ((st = sqlite3_step(q)) == SQLITE_ROW)
      fn(ctx, (const char *)sqlite3_column_text(q, 0), (const char *)sqlite3_column_text(q, 1),
         sqlite3_column_int(q, 2) != 0, sqlite3_column_int64(q, 3));
    if (st != SQLITE_DONE) rc = db_err(c->db, "catalogue scan");
    sqlite3_finalize(q);
  }
  pthread_mutex_unlock(&c->mu);
  return rc;
}

/* ---- reads for privacy and retraining (src/serve/h_privacy.c, retrain.c) ---- */

static void full_row(sqlite3_stmt *q, int first_col, store_row *r) {
  int c = first_col;
  memset(r, 0, sizeof *r);
  r->id = sqlite3_column_int64(q, c++);
  r->user = (const char *)sqlite3_column_text(q, c++);
  r->item = (const char *)sqlite3_column_text(q, c++);
  r->type = (const char *)sqlite3_column_text(q, c++);
  r->has_value = sqlite3_column_type(q, c) != SQLITE_NULL;
  r->value = r->has_value ? sqlite3_column_double(q, c) : 0.0;
  c++;
  r->ts_ms = sqlite3_column_int64(q, c++);
  r->session = (const char *)sqlite3_column_text(q, c++);
  r->has_position = sqlite3_column_type(q, c) != SQLITE_NULL;
  r->position = r->has_position ? sqlite3_column_int64(q, c) : 0;
  c++;
  r->context_json = (const char *)sqlite3_column_text(q, c++);
  r->idem_key = (const char *)sqlite3_column_text(q, c++);
}

#define FULL_COLS "id, user, item, type, value, ts, session, position, context, idempotency_key"

/* Runs a prepared full-row query to the end, fn per row (stops early when fn returns false). */
static int full_rows(read_conn *c, sqlite3_stmt *q, store_full_fn fn, void *ctx, const char *what) {
  int st;
  while ((st = sqlite3_step(q)) == SQLITE_ROW) {
    store_row r;
    full_row(q, 0, &r);
    if (!fn(ctx, &r)) {
      st = SQLITE_DONE;
      break;
    }
  }
  return st == SQLITE_DONE ? 0 : db_err(c->db, what);
}

int store_user_rows(reco_store *s, const char *user, int64_t max, store_full_fn fn, void *ctx) {
  read_conn *c = rd_get(s);
  sqlite3_stmt *q;
  int rc = rd_query(c, "SELECT " FULL_COLS " FROM interactions WHERE user=? ORDER BY id LIMIT ?", &q);
  if (!rc) {
    sqlite3_bind_text(q, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, max);
    rc = full_rows(c, q, fn, ctx, "user rows");
    sqlite3_finalize(q);
  }
  pthread_mutex_unlock(&c->mu);
  return rc;
}

int store_scan_tail(reco_store *s, int64_t max_rows, store_full_fn fn, void *ctx) {
  /* a private connection: the scan is long and runs at idle priority (the retrain thread), so
   * holding one of the pooled connections would make requests queue behind it */
  read_conn own = {0}, *c = &own;
  int orc = open_conn(s->path, SQLITE_OPEN_READONLY, &own.db);
  if (orc) return orc;
  sqlite3_stmt *q;
  /* row ids only grow (INTEGER PRIMARY KEY, never reused while the max row exists), so the
   * newest max_rows rows lie within the last max_rows ids; erasures leave holes, so fewer */
  int rc = rd_query(c,
                    "SELECT " FULL_COLS " FROM interactions WHERE id > (SELECT coalesce(max(id), 0) FROM interactions) - ?"
                    " ORDER BY id",
                    &q);
  if (!rc) {
    sqlite3_bind_int64(q, 1, max_rows);
    rc = full_rows(c, q, fn, ctx, "scan");
    sqlite3_finalize(q);
  }
  sqlite3_close(own.db);
  return rc;
}

int store_user_assignments(reco_store *s, const char *user, store_assign_fn fn, void *ctx) {
  read_conn *c = rd_get(s);
  sqlite3_stmt *q;
  int rc = rd_query(c, "SELECT experiment, variant, bucket, ts FROM experiment_assignments WHERE user=? ORDER BY experiment", &q);
  if (!rc) {
    sqlite3_bind_text(q, 1, user, -1, SQLITE_STATIC);
    int st;
    while ((st = sqlite3_step(q)) == SQLITE_ROW)
      fn(ctx, (const char *)sqlite3_column_text(q, 0), (const char *)sqlite3_column_text(q, 1), sqlite3_column_double(q, 2),
         sqlite3_column_int64(q, 3));
    if (st != SQLITE_DONE) rc = db_err(c->db, "assignments");
    sqlite3_finalize(q);
  }
  pthread_mutex_unlock(&c->mu);
  return rc;
}

int store_erased_scan(reco_store *s, store_erased_fn fn, void *ctx) {
  read_conn *c = rd_get(s);
  sqlite3_stmt *q;
  int rc = rd_query(c, "SELECT user, erased_at FROM erased_users", &q);
  if (!rc) {
    int st;
    while ((st = sqlite3_step(q)) == SQLITE_ROW)
      fn(ctx, (const char *)sqlite3_column_text(q, 0), sqlite3_column_int64(q, 1));
    if (st != SQLITE_DONE) rc = db_err(c->db, "erased users");
    sqlite3_finalize(q);
  }
  pthread_mutex_unlock(&c->mu);
  return rc;
}
