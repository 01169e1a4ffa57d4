/* test_retrain.c - the store side of live learning and privacy, and the retrain's training set:
 * bulk appends in one transaction (`reco import`), a GDPR erasure (interactions and assignments
 * of one user gone, other users untouched, the erasure recorded and reloaded into the erased
 * set), full-row reads, the newest-rows scan of a retrain, and srv_trainset_build (catalogue
 * history without erased users, store rows with their ids, negative feedback and items outside
 * the catalogue left out, values as stored). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/base.h"
#include "serve/serve.h"
#include "store/store.h"

static char g_dir[256];

static void path_of(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", g_dir, name); }

typedef struct rows_ctx {
  int n;
  int64_t ids[64];
  char users[64][16], items[64][16], types[64][16];
  double values[64];
  char context[64][64];
} rows_ctx;

static bool collect(void *arg, const store_row *r) {
  rows_ctx *c = arg;
  if (c->n == 64) return false;
  c->ids[c->n] = r->id;
  snprintf(c->users[c->n], 16, "%s", r->user);
  snprintf(c->items[c->n], 16, "%s", r->item);
  snprintf(c->types[c->n], 16, "%s", r->type);
  c->values[c->n] = r->value;
  snprintf(c->context[c->n], 64, "%s", r->context_json ? r->context_json : "");
  c->n++;
  return true;
}

static void count_assign(void *arg, const char *e, const char *v, double b, int64_t ts) {
  (void)e, (void)v, (void)b, (void)ts;
  (*(int *)arg)++;
}

static void count_erased(void *arg, const char *user, int64_t at) {
  assert_string_equal(user, "a");
  assert_true(at > 0);
  (*(int *)arg)++;
}

/* Store rows: a(3) b(2) a(1, dislike) c(1, unknown item) b(1) -- 8 rows, ids 1..8. */
static reco_store *fill(const char *name) {
  char path[512];
  path_of(path, sizeof path, name);
  reco_store *s;
  assert_int_equal(store_open(path, 16, &s), 0);
  store_interaction rows[] = {
      {.user = "a", .item = "i1", .type = "click", .value = 2, .has_value = true, .ts_ms = 1000, .context_json = "{\"p\":1}"},
      {.user = "a", .item = "i2", .type = "purchase", .value = 5, .has_value = true, .ts_ms = 2000},
      {.user = "b", .item = "i1", .type = "view", .value = 1, .has_value = true, .ts_ms = 3000},
      {.user = "a", .item = "i3", .type = "view", .value = 1, .has_value = true, .ts_ms = 4000},
      {.user = "b", .item = "i2", .type = "rating", .value = 4.5, .has_value = true, .ts_ms = 5000},
      {.user = "a", .item = "i4", .type = "dislike", .value = -1, .has_value = true, .ts_ms = 6000},
      {.user = "c", .item = "zz", .type = "click", .value = 2, .has_value = true, .ts_ms = 7000},
      {.user = "b", .item = "i3", .type = "cart", .value = 3, .has_value = true, .ts_ms = 8000},
  };
  assert_int_equal(store_append_bulk(s, rows, sizeof rows / sizeof *rows), 0);
  char v[128];
  assert_int_equal(store_assign(s, "exp", "a", "control", 0.1, v, sizeof v, NULL), 0);
  assert_int_equal(store_assign(s, "exp", "b", "treatment", 0.9, v, sizeof v, NULL), 0);
  return s;
}

static void test_bulk_and_reads(void **st) {
  (void)st;
  reco_store *s = fill("bulk.db");
  int64_t total, clicks, purchases;
  assert_int_equal(store_counts(s, &total, &clicks, &purchases), 0);
  assert_int_equal(total, 8);
  rows_ctx c = {0};
  assert_int_equal(store_user_rows(s, "a", 100, collect, &c), 0);
  assert_int_equal(c.n, 4);
  assert_string_equal(c.items[0], "i1"); /* oldest first */
  assert_string_equal(c.context[0], "{\"p\":1}");
  assert_string_equal(c.types[3], "dislike");
  /* the newest 3 rows, oldest first */
  memset(&c, 0, sizeof c);
  assert_int_equal(store_scan_tail(s, 3, collect, &c), 0);
  assert_int_equal(c.n, 3);
  assert_int_equal(c.ids[0], 6);
  assert_int_equal(c.ids[2], 8);
  /* a bad row fails the whole chunk: nothing of it is stored */
  store_interaction bad[] = {{.user = "d", .item = "i1", .type = "click", .ts_ms = 1}, {.user = "d", .item = NULL, .type = "click"}};
  assert_int_equal(store_append_bulk(s, bad, 2), RECO_EINVAL);
  assert_int_equal(store_counts(s, &total, &clicks, &purchases), 0);
  assert_int_equal(total, 8);
  store_close(s);
}

static void test_erase(void **st) {
  (void)st;
  reco_store *s = fill("erase.db");
  int64_t n_int = -1, n_asg = -1;
  assert_int_equal(store_erase_user(s, "a", &n_int, &n_asg), 0);
  assert_int_equal(n_int, 4);
  assert_int_equal(n_asg, 1);
  rows_ctx c = {0};
  assert_int_equal(store_user_rows(s, "a", 100, collect, &c), 0);
  assert_int_equal(c.n, 0);
  int n = 0;
  assert_int_equal(store_user_assignments(s, "a", count_assign, &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(store_user_assignments(s, "b", count_assign, &n), 0);
  assert_int_equal(n, 1); /* b untouched */
  assert_int_equal(store_user_rows(s, "b", 100, collect, &c), 0);
  assert_int_equal(c.n, 3);
  /* a second erasure deletes nothing and keeps one record */
  assert_int_equal(store_erase_user(s, "a", &n_int, &n_asg), 0);
  assert_int_equal(n_int, 0);
  n = 0;
  assert_int_equal(store_erased_scan(s, count_erased, &n), 0);
  assert_int_equal(n, 1);
  bool ok = false;
  assert_int_equal(store_check(s, &ok), 0);
  assert_true(ok);
  store_close(s);
  /* the erasure survives a reopen and loads into the serving set */
  char path[512];
  path_of(path, sizeof path, "erase.db");
  assert_int_equal(store_open(path, 16, &s), 0);
  assert_false(srv_user_erased("a", 1));
  assert_int_equal(srv_erased_load(s), 0);
  assert_true(srv_user_erased("a", 1));
  assert_false(srv_user_erased("b", 1));
  assert_false(srv_user_erased("aa", 2));
  store_close(s);
}

static void test_trainset(void **st) {
  (void)st;
  /* a catalogue with users a (erased by test_erase, run before) and e; items i1..i4 */
  char cat[512];
  path_of(cat, sizeof cat, "catalogue.csv");
  FILE *f = fopen(cat, "w");
  assert_non_null(f);
  fputs("user,item,rating,timestamp\na,i1,4,10\ne,i2,3,11\na,i3,5,12\ne,i4,2,13\ne,i1,1,14\n", f);
  fclose(f);
  reco_store *s = fill("trainset.db");
  assert_true(srv_user_erased("a", 1));
  srv_trainset t;
  assert_int_equal(srv_trainset_build(cat, s, 1000, &t), 0);
  reco_dataset *ds = t.ds;
  /* store: a's 3 positive rows (stored after the erasure: new data), b's 3; a's dislike and c's
   * unknown item left out; catalogue: e's 3 rows, a's 2 ignored */
  assert_int_equal(t.n_store, 6);
  assert_int_equal((int)ds->n, 9);
  assert_int_equal(t.store_max_id, 8);
  int64_t want_ids[6] = {1, 2, 3, 4, 5, 8};
  for (int k = 0; k < 6; k++) assert_int_equal(t.store_ids[k], want_ids[k]);
  assert_int_equal(ds->n_items, 4); /* the catalogue's items, in its order */
  assert_string_equal(reco__idmap_str(ds->items, 0), "i1");
  assert_int_equal(reco__idmap_get(ds->items, "zz", 2), -1);
  assert_true(reco__idmap_get(ds->users, "e", 1) >= 0);
  assert_int_equal(reco__idmap_get(ds->users, "c", 1), -1);
  /* b's rating keeps its value; the catalogue's rows of a are not among a's */
  int32_t a = reco__idmap_get(ds->users, "a", 1), b = reco__idmap_get(ds->users, "b", 1);
  assert_int_equal(ds->uptr[a + 1] - ds->uptr[a], 3);
  int64_t at = reco__ds_find(ds, b, reco__idmap_get(ds->items, "i2", 2));
  assert_true(at >= 0);
  assert_float_equal(ds->uval[at], 4.5, 1e-6);
  srv_trainset_free(&t);
  /* the row budget keeps the newest store rows first */
  assert_int_equal(srv_trainset_build(cat, s, 2, &t), 0);
  assert_int_equal(t.n_store, 1); /* ids 7 (unknown item) and 8 read, 8 kept */
  assert_int_equal((int)t.ds->n, 2); /* + the catalogue's latest row (e, i1) */
  srv_trainset_free(&t);
  store_close(s);
}

static int setup(void **st) {
  (void)st;
  snprintf(g_dir, sizeof g_dir, "/tmp/reco-test-retrain-XXXXXX");
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
      cmocka_unit_test(test_bulk_and_reads),
      cmocka_unit_test(test_erase),
      cmocka_unit_test(test_trainset),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
