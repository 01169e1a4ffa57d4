/* test_store.c - the SQLite store (src/store/): open and migrate (and reopen at the same
 * version), group commit of concurrent writers from several threads (every acknowledged id is
 * there, exactly once), idempotency keys, experiment assignments that keep their first variant,
 * a full queue refused at once (the writer held behind another connection's write lock), and PRAGMA integrity_check;
 * the asynchronous submit (store_append_async): a multi-record job, its ids and duplicates, the
 * callback after the commit, and the queue bound counted in records. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "base/base.h"
#include "store/store.h"

static char g_dir[256];

static void db_path(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", g_dir, name); }

static void test_open_migrate(void **st) {
  (void)st;
  char path[512];
  db_path(path, sizeof path, "migrate.db");
  reco_store *s;
  assert_int_equal(store_open(path, 16, &s), 0);
  assert_int_equal(store_schema_version(s), 3); /* 2: the catalogue (issue 6), 3: erasures (issue 7) */
  store_close(s);
  assert_int_equal(store_open(path, 16, &s), 0); /* reopen: nothing to migrate */
  assert_int_equal(store_schema_version(s), 3); /* 2: the catalogue (issue 6), 3: erasures (issue 7) */
  bool ok = false;
  assert_int_equal(store_check(s, &ok), 0);
  assert_true(ok);
  store_close(s);
}

#define THREADS 8
#define PER_THREAD 250

typedef struct writer_arg {
  reco_store *s;
  int t;
  int64_t ids[PER_THREAD];
  int rc;
} writer_arg;

static void *writer(void *p) {
  writer_arg *a = p;
  for (int k = 0; k < PER_THREAD; k++) {
    char user[32], item[32];
    snprintf(user, sizeof user, "u%d", a->t);
    snprintf(item, sizeof item, "i%d", k);
    store_interaction r = {.user = user, .item = item, .type = "click", .value = 2, .has_value = true, .ts_ms = 1000 + k};
    int rc = store_append(a->s, &r, &a->ids[k], NULL);
    if (rc) a->rc = rc;
  }
  return NULL;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static void count_row(void *ctx, const char *item, const char *type, double value, int64_t ts) {
  (void)item, (void)type, (void)value, (void)ts;
  ++*(int *)ctx;
}

static void test_group_commit(void **st) {
  (void)st;
  char path[512];
  db_path(path, sizeof path, "group.db");
  reco_store *s;
  assert_int_equal(store_open(path, 4096, &s), 0);
  pthread_t th[THREADS];
  static writer_arg args[THREADS];
  for (int t = 0; t < THREADS; t++) {
    args[t] = (writer_arg){.s = s, .t = t};
    assert_int_equal(pthread_create(&th[t], NULL, writer, &args[t]), 0);
  }
  for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
  static int64_t all[THREADS * PER_THREAD];
  for (int t = 0; t < THREADS; t++) {
    assert_int_equal(args[t].rc, 0);
    memcpy(all + t * PER_THREAD, args[t].ids, sizeof args[t].ids);
  }
  qsort(all, THREADS * PER_THREAD, sizeof *all, cmp_i64);
  for (int k = 1; k < THREADS * PER_THREAD; k++) assert_true(all[k] > all[k - 1]); /* distinct ids */
  int64_t commits, jobs;
  store_commit_stats(s, &commits, &jobs);
  assert_int_equal(jobs, THREADS * PER_THREAD);
  assert_true(commits <= jobs);
  fprintf(stderr, "group commit: %lld jobs in %lld transactions\n", (long long)jobs, (long long)commits);
  store_close(s);
  /* reopened: every acknowledged row is there */
  assert_int_equal(store_open(path, 16, &s), 0);
  int64_t total, clicks, purchases;
  assert_int_equal(store_counts(s, &total, &clicks, &purchases), 0);
  assert_int_equal(total, THREADS * PER_THREAD);
  assert_int_equal(clicks, THREADS * PER_THREAD);
  assert_int_equal(purchases, 0);
  store_user_summary sum;
  assert_int_equal(store_user_summary_get(s, "u3", &sum), 0);
  assert_int_equal(sum.n, PER_THREAD);
  assert_int_equal(sum.first_ts, 1000);
  assert_int_equal(sum.last_ts, 1000 + PER_THREAD - 1);
  int rows = 0;
  assert_int_equal(store_user_recent(s, "u3", 10, count_row, &rows), 0);
  assert_int_equal(rows, 10);
  bool ok = false;
  assert_int_equal(store_check(s, &ok), 0);
  assert_true(ok);
  store_close(s);
}

static void test_idempotency(void **st) {
  (void)st;
  char path[512];
  db_path(path, sizeof path, "idem.db");
  reco_store *s;
  assert_int_equal(store_open(path, 16, &s), 0);
  store_interaction r = {.user = "u", .item = "i", .type = "purchase", .ts_ms = 5, .idem_key = "k1"};
  int64_t id1 = 0, id2 = 0, id3 = 0;
  bool dup = true;
  assert_int_equal(store_append(s, &r, &id1, &dup), 0);
  assert_false(dup);
  assert_int_equal(store_append(s, &r, &id2, &dup), 0);
  assert_true(dup);
  assert_int_equal(id1, id2);
  r.idem_key = NULL; /* without a key every append is a row */
  assert_int_equal(store_append(s, &r, &id3, &dup), 0);
  assert_int_equal(store_append(s, &r, &id3, &dup), 0);
  assert_false(dup);
  int64_t total, clicks, purchases;
  assert_int_equal(store_counts(s, &total, &clicks, &purchases), 0);
  assert_int_equal(total, 3);
  assert_int_equal(purchases, 3);
  /* assignments keep the first variant */
  char v[128];
  double b = 0;
  assert_int_equal(store_assign(s, "exp", "u", "control", 0.25, v, sizeof v, &b), 0);
  assert_string_equal(v, "control");
  assert_int_equal(store_assign(s, "exp", "u", "treatment", 0.75, v, sizeof v, &b), 0);
  assert_string_equal(v, "control");
  assert_true(b == 0.25);
  store_close(s);
  assert_int_equal(store_open(path, 16, &s), 0);
  assert_int_equal(store_assign(s, "exp", "u", "treatment", 0.75, v, sizeof v, &b), 0);
  assert_string_equal(v, "control");
  store_close(s);
}

static void test_bad_record(void **st) {
  (void)st;
  char path[512];
  db_path(path, sizeof path, "bad.db");
  reco_store *s;
  assert_int_equal(store_open(path, 16, &s), 0);
  store_interaction r = {.user = "u", .item = NULL, .type = "view"};
  int64_t id;
  assert_int_equal(store_append(s, &r, &id, NULL), RECO_EINVAL);
  store_close(s);
  assert_int_not_equal(store_open("/nonexistent-dir/x/y.db", 16, &s), 0);
}

typedef struct one_arg {
  reco_store *s;
  const char *user;
  int rc;
  int64_t id;
} one_arg;

static void *append_one(void *p) {
  one_arg *a = p;
  store_interaction r = {.user = a->user, .item = "i", .type = "view", .ts_ms = 1};
  a->rc = store_append(a->s, &r, &a->id, NULL);
  return NULL;
}

/* Invariant 3: with the writer stuck behind another process's write lock, the queue (capacity 1)
 * fills and the next append is refused at once with RECO_ELIMIT; the queued ones still commit
 * once the lock goes. */
static void test_queue_full(void **st) {
  (void)st;
  char path[512];
  db_path(path, sizeof path, "full.db");
  reco_store *s;
  assert_int_equal(store_open(path, 1, &s), 0);
  sqlite3 *other;
  assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
  assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
  one_arg a = {.s = s, .user = "a"}, b = {.s = s, .user = "b"};
  pthread_t ta, tb;
  assert_int_equal(pthread_create(&ta, NULL, append_one, &a), 0);
  usleep(200000); /* a is taken by the writer, which waits for the lock */
  assert_int_equal(pthread_create(&tb, NULL, append_one, &b), 0);
  usleep(200000); /* b fills the queue */
  store_interaction r = {.user = "c", .item = "i", .type = "view", .ts_ms = 1};
  int64_t id;
  assert_int_equal(store_append(s, &r, &id, NULL), RECO_ELIMIT);
  assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(other);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  assert_int_equal(a.rc, 0);
  assert_int_equal(b.rc, 0);
  int64_t total, clicks, purchases;
  assert_int_equal(store_counts(s, &total, &clicks, &purchases), 0);
  assert_int_equal(total, 2);
  store_close(s);
}

typedef struct waiter {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int n_done, last_rc;
} waiter;

static void on_done(void *ctx, int rc) {
  waiter *w = ctx;
  pthread_mutex_lock(&w->mu);
  w->n_done++;
  w->last_rc = rc;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

static void wait_done(waiter *w, int n) {
  pthread_mutex_lock(&w->mu);
  while (w->n_done < n) pthread_cond_wait(&w->cv, &w->mu);
  pthread_mutex_unlock(&w->mu);
}

/* Invariants 9 and 10: a job of several records, its callback after the commit; a job that
 * would overflow the record bound is refused at once while the writer is stuck, and the queued
 * ones commit once it is free. */
static void test_async(void **st) {
  (void)st;
  char path[512];
  db_path(path, sizeof path, "async.db");
  reco_store *s;
  assert_int_equal(store_open(path, 16, &s), 0);
  waiter w = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
  store_interaction recs[3] = {{.user = "u", .item = "a", .type = "view", .ts_ms = 1, .idem_key = "k"},
                               {.user = "u", .item = "b", .type = "click", .ts_ms = 2},
                               {.user = "u", .item = "c", .type = "view", .ts_ms = 3, .idem_key = "k"}};
  int64_t ids[3] = {0};
  bool dups[3] = {true, true, false};
  assert_int_equal(store_append_async(s, recs, 3, ids, dups, on_done, &w), 0);
  wait_done(&w, 1);
  assert_int_equal(w.last_rc, 0);
  assert_true(ids[0] > 0);
  assert_int_equal(ids[1], ids[0] + 1);
  assert_int_equal(ids[2], ids[0]); /* the key's first row, within the same job */
  assert_false(dups[0]);
  assert_false(dups[1]);
  assert_true(dups[2]);
  assert_int_equal(store_append_async(s, recs, 0, ids, dups, on_done, &w), RECO_EINVAL);

  /* the bound counts records: with the writer stuck on job A, job B of 16 records fills it */
  sqlite3 *other;
  assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
  assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
  store_interaction a = {.user = "v", .item = "a", .type = "view", .ts_ms = 1}, b[16], c = a;
  for (int k = 0; k < 16; k++) b[k] = (store_interaction){.user = "v", .item = "b", .type = "view", .ts_ms = k};
  int64_t id_a, ids_b[16], id_c;
  bool dup_a, dups_b[16], dup_c;
  assert_int_equal(store_append_async(s, &a, 1, &id_a, &dup_a, on_done, &w), 0);
  usleep(200000); /* A is taken by the writer, which waits for the lock */
  assert_int_equal(store_append_async(s, b, 16, ids_b, dups_b, on_done, &w), 0);
  assert_int_equal(store_append_async(s, &c, 1, &id_c, &dup_c, on_done, &w), RECO_ELIMIT);
  int64_t total, clicks, purchases;
  assert_int_equal(store_counts(s, &total, &clicks, &purchases), 0);
  assert_int_equal(total, 2); /* nothing of A or B is visible before their commit */
  assert_int_equal(w.n_done, 1);
  assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(other);
  wait_done(&w, 3);
  assert_int_equal(w.last_rc, 0);
  assert_int_equal(ids_b[15], ids_b[0] + 15);
  assert_int_equal(store_counts(s, &total, &clicks, &purchases), 0);
  assert_int_equal(total, 2 + 1 + 16);
  store_close(s);
}

static int setup(void **st) {
  (void)st;
  snprintf(g_dir, sizeof g_dir, "/tmp/reco-test-store-XXXXXX");
  return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **st) {
  (void)st;
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_open_migrate),
      cmocka_unit_test(test_group_commit),
      cmocka_unit_test(test_idempotency),
      cmocka_unit_test(test_bad_record),
      cmocka_unit_test(test_queue_full),
      cmocka_unit_test(test_async),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
