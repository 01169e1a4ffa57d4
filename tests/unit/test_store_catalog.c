/*
 * test_store_catalog.c - the store's catalogue tables (schema migration 2, issue 6): upsert, get,
 * delete, availability, scans; a multi-row put is all or nothing (a failing row stores none);
 * documents survive a reopen; and a file that reached the same schema version through another
 * numbering of the migrations (no catalogue tables) still gets them at open.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "base/base.h"
#include "store/store.h"

static char g_dir[256];

typedef struct got {
  int n;
  char id[64], doc[256];
  bool available;
  int n_unavail;
} got;

static void on_doc(void *ctx, const char *id, const char *doc, bool available, int64_t updated_ms) {
  got *g = ctx;
  g->n++;
  snprintf(g->id, sizeof g->id, "%s", id);
  snprintf(g->doc, sizeof g->doc, "%s", doc);
  g->available = available;
  assert_true(updated_ms > 0);
  g->n_unavail += !available;
}

static reco_store *open_at(const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", g_dir, name);
  reco_store *s;
  assert_int_equal(store_open(path, 16, &s), 0);
  return s;
}

static void test_crud(void **st) {
  (void)st;
  reco_store *s = open_at("crud.db");
  store_doc docs[] = {{"i1", "{\"title\":\"One\"}", true}, {"i2", "{\"price\":2}", false}};
  assert_int_equal(store_catalog_put(s, STORE_ITEMS, docs, 2), 0);
  got g = {0};
  bool found;
  assert_int_equal(store_catalog_get(s, STORE_ITEMS, "i1", on_doc, &g, &found), 0);
  assert_true(found);
  assert_string_equal(g.doc, "{\"title\":\"One\"}");
  assert_true(g.available);
  /* upsert replaces the document */
  store_doc again = {"i1", "{\"title\":\"Uno\"}", true};
  assert_int_equal(store_catalog_put(s, STORE_ITEMS, &again, 1), 0);
  memset(&g, 0, sizeof g);
  assert_int_equal(store_catalog_get(s, STORE_ITEMS, "i1", on_doc, &g, &found), 0);
  assert_string_equal(g.doc, "{\"title\":\"Uno\"}");
  /* availability: kept with the document; a new id gets an empty one */
  assert_int_equal(store_item_set_available(s, "i1", false), 0);
  assert_int_equal(store_item_set_available(s, "i3", false), 0);
  memset(&g, 0, sizeof g);
  assert_int_equal(store_catalog_get(s, STORE_ITEMS, "i1", on_doc, &g, &found), 0);
  assert_false(g.available);
  assert_string_equal(g.doc, "{\"title\":\"Uno\"}");
  memset(&g, 0, sizeof g);
  assert_int_equal(store_items_scan(s, true, on_doc, &g), 0);
  assert_int_equal(g.n, 3); /* i1, i2, i3 */
  memset(&g, 0, sizeof g);
  assert_int_equal(store_items_scan(s, false, on_doc, &g), 0);
  assert_int_equal(g.n, 3);
  /* users: put, get, delete, delete again */
  store_doc u = {"u1", "{\"age\":3}", true};
  assert_int_equal(store_catalog_put(s, STORE_USERS, &u, 1), 0);
  memset(&g, 0, sizeof g);
  assert_int_equal(store_catalog_get(s, STORE_USERS, "u1", on_doc, &g, &found), 0);
  assert_true(found);
  assert_string_equal(g.doc, "{\"age\":3}");
  assert_int_equal(store_catalog_delete(s, STORE_USERS, "u1", &found), 0);
  assert_true(found);
  assert_int_equal(store_catalog_delete(s, STORE_USERS, "u1", &found), 0);
  assert_false(found);
  assert_int_equal(store_catalog_get(s, STORE_USERS, "u1", on_doc, &g, &found), 0);
  assert_false(found);
  store_close(s);
  /* everything survives a reopen */
  s = open_at("crud.db");
  memset(&g, 0, sizeof g);
  assert_int_equal(store_catalog_get(s, STORE_ITEMS, "i2", on_doc, &g, &found), 0);
  assert_true(found);
  assert_false(g.available);
  assert_string_equal(g.doc, "{\"price\":2}");
  store_close(s);
}

/* A row that cannot be stored (NULL id violates NOT NULL of the primary key) fails the whole
 * put: the rows before it are rolled back too. */
static void test_all_or_nothing(void **st) {
  (void)st;
  reco_store *s = open_at("atomic.db");
  store_doc docs[] = {{"a1", "{}", true}, {"a2", "{}", true}, {NULL, "{}", true}};
  assert_int_not_equal(store_catalog_put(s, STORE_ITEMS, docs, 3), 0);
  got g = {0};
  assert_int_equal(store_items_scan(s, false, on_doc, &g), 0);
  assert_int_equal(g.n, 0);
  assert_int_equal(store_catalog_put(s, STORE_ITEMS, docs, 2), 0);
  assert_int_equal(store_items_scan(s, false, on_doc, &g), 0);
  assert_int_equal(g.n, 2);
  store_close(s);
}

/* A file at schema version 2 whose migration 2 was another branch's (no catalogue tables): the
 * open still creates them, since the catalogue's DDL is idempotent and runs at every open. */
static void test_other_numbering(void **st) {
  (void)st;
  char path[512];
  snprintf(path, sizeof path, "%s/other.db", g_dir);
  reco_store *s = open_at("other.db");
  store_close(s);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "DROP TABLE catalog_items; DROP TABLE catalog_users; DROP TABLE erased_users;"
                                    "CREATE TABLE erased_users(user TEXT PRIMARY KEY)", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  s = open_at("other.db");
  assert_int_equal(store_schema_version(s), 3);
  store_doc d = {"x", "{}", true};
  assert_int_equal(store_catalog_put(s, STORE_ITEMS, &d, 1), 0);
  got g = {0};
  bool found;
  assert_int_equal(store_catalog_get(s, STORE_ITEMS, "x", on_doc, &g, &found), 0);
  assert_true(found);
  store_close(s);
}

static int setup(void **st) {
  (void)st;
  snprintf(g_dir, sizeof g_dir, "/tmp/reco_store_catalog_XXXXXX");
  return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **st) {
  (void)st;
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_crud),
      cmocka_unit_test(test_all_or_nothing),
      cmocka_unit_test(test_other_numbering),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
