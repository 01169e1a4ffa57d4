/*
 * test_load.c - the dataset loaders (src/data/load*.c): every format from small files written
 * to a temporary folder (quoting, CRLF, Latin-1, BOM, ISO times, aliases and overrides),
 * appending several files into one id space, format detection, the number and record parsers,
 * malformed inputs (each must give RECO_EFORMAT naming FILE:LINE), allocation failures, and,
 * when RECO_DATA_DIR holds them, the real MovieLens 100K and latest-small.
 */
#define _GNU_SOURCE /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/load.h"

static char g_dir[256];

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(p);
}

static int setup_dir(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/reco_test_load.XXXXXX");
  return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown_dir(void **state) {
  (void)state;
  nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  return 0;
}

/* Writes len bytes (strlen when len == 0) to g_dir/name; returns the path (static buffer per call slot). */
static const char *put(const char *name, const char *content, size_t len) {
  static char paths[8][512];
  static int slot;
  char *p = paths[slot++ & 7];
  snprintf(p, 512, "%s/%s", g_dir, name);
  char *slash = strrchr(p, '/');
  if (slash && slash > p + strlen(g_dir)) { /* create a subfolder */
    *slash = '\0';
    mkdir(p, 0755);
    *slash = '/';
  }
  FILE *f = fopen(p, "wb");
  assert_non_null(f);
  if (!len) len = strlen(content);
  assert_int_equal(fwrite(content, 1, len, f), len);
  fclose(f);
  return p;
}

static const char *sub(const char *name) {
  static char paths[4][512];
  static int slot;
  char *p = paths[slot++ & 3];
  snprintf(p, 512, "%s/%s", g_dir, name);
  mkdir(p, 0755);
  return p;
}

static reco_dataset *load_ok(const char *path, reco_format fmt) {
  reco_load_opts o = {.format = fmt};
  reco_dataset *ds = NULL;
  int rc = reco_dataset_load(path, &o, &ds);
  if (rc) fail_msg("loading %s: %s (%s)", path, reco_err_name(rc), reco_last_error());
  assert_non_null(ds);
  return ds;
}

static int32_t item_of(const reco_dataset *ds, const char *id) {
  int32_t i = reco_dataset_item_index(ds, id);
  assert_true(i >= 0);
  return i;
}

/* Categories of an item joined with ',' (in category-index order). */
static const char *cats_of(const reco_dataset *ds, int32_t item, char *buf, size_t cap) {
  buf[0] = '\0';
  const reco_itemmeta *m = ds->meta;
  assert_non_null(m);
  size_t len = 0;
  for (int64_t k = m->cat_ptr[item]; k < m->cat_ptr[item + 1]; k++)
    len += (size_t)snprintf(buf + len, cap - len, "%s%s", len ? "," : "", reco__ds_category_name(ds, m->cat_idx[k]));
  return buf;
}

static bool has_tag(const reco_dataset *ds, int32_t item, const char *tag, int32_t *count) {
  const reco_itemmeta *m = ds->meta;
  for (int64_t k = m->tag_ptr[item]; k < m->tag_ptr[item + 1]; k++)
    if (!strcmp(reco__idmap_str(m->tags, m->tag_idx[k]), tag)) {
      if (count) *count = m->tag_cnt[k];
      return true;
    }
  return false;
}

static const char *uattr(const reco_dataset *ds, const char *user) {
  int32_t u = reco_dataset_user_index(ds, user);
  assert_true(u >= 0);
  if ((size_t)u >= ds->uattr_cap || ds->uattr_off[u] < 0) return NULL;
  return ds->uattr.buf + ds->uattr_off[u];
}

/* Value of the (user, item) pair through the CSR. */
static float value_of(const reco_dataset *ds, const char *user, const char *item) {
  int64_t k = reco__ds_find(ds, reco_dataset_user_index(ds, user), reco_dataset_item_index(ds, item));
  assert_true(k >= 0);
  return ds->uval[k];
}

static size_t coo_of(const reco_dataset *ds, const char *user, const char *item) {
  int64_t k = reco__ds_find(ds, reco_dataset_user_index(ds, user), reco_dataset_item_index(ds, item));
  assert_true(k >= 0);
  return (size_t)ds->urow[k];
}

/* ---- parsers ---- */

static void test_parse_numbers(void **state) {
  (void)state;
  double v;
  struct {
    const char *s;
    int rc;
    double v;
  } k[] = {{"4", 0, 4},       {"3.5", 0, 3.5},   {"-2.25", 0, -2.25}, {".5", 0, 0.5},  {"1e3", 0, 1000},
           {"2.5E-1", 0, 0.25}, {"+7", 0, 7},    {"0.1", 0, 0.1},     {"", -1, 0},     {"abc", -1, 0},
           {"nan", -1, 0},    {"inf", -1, 0},    {"-inf", -1, 0},     {"0x10", -1, 0}, {"1e999", -2, 0},
           {"4.0x", -1, 0},   {"1.2.3", -1, 0},  {"-", -1, 0},        {"12345678901234567890", 0, 12345678901234567890.0}};
  for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
    int rc = reco__parse_double(k[i].s, k[i].s + strlen(k[i].s), &v);
    if (rc != k[i].rc) fail_msg("parse_double(\"%s\") = %d, expected %d", k[i].s, rc, k[i].rc);
    if (!rc) assert_true(v == k[i].v);
  }
  int64_t t;
  struct {
    const char *s;
    int rc;
    int64_t t;
  } tk[] = {{"964982703", 0, 964982703},
            {"-5", 0, -5},
            {"1445714994.7", 0, 1445714994},
            {"1970-01-01", 0, 0},
            {"2000-03-01T00:00:00Z", 0, 951868800},
            {"2024-02-29 12:30:15", 0, 1709209815},
            {"2024-02-29T12:30:15.123+02:00", 0, 1709202615},
            {"2023-02-29", -1, 0},
            {"2024-13-01", -1, 0},
            {"yesterday", -1, 0},
            {"", -1, 0},
            {"99999999999999999999", -2, 0},
            {"1e300", -2, 0},
            {"nan", -1, 0}};
  for (size_t i = 0; i < sizeof tk / sizeof tk[0]; i++) {
    int rc = reco__parse_time(tk[i].s, tk[i].s + strlen(tk[i].s), &t);
    if (rc != tk[i].rc) fail_msg("parse_time(\"%s\") = %d, expected %d", tk[i].s, rc, tk[i].rc);
    if (!rc && t != tk[i].t) fail_msg("parse_time(\"%s\") = %lld, expected %lld", tk[i].s, (long long)t, (long long)tk[i].t);
  }
  assert_int_equal(reco__title_year("Toy Story (1995)", 16), 1995);
  assert_int_equal(reco__title_year("Babylon 5", 9), 0);
  assert_int_equal(reco__title_year("Ben-hur (2016) ", 15), 2016);
  assert_int_equal(reco__days_from_civil(2000, 3, 1), 11017);
  assert_int_equal(reco__days_from_civil(1969, 12, 31), -1);
}

static void test_csv_record(void **state) {
  (void)state;
  char text[] = "a, \"b,\"\"c\"\"\" ,\"multi\nline\"\r\nx,,\"\"\n\n";
  reco_ltext t = {.path = "mem", .buf = text, .len = strlen(text), .data = text};
  reco_lfield f[8];
  bool q[8];
  char *pos = text;
  assert_int_equal(reco__csv_record(&t, &pos, ',', f, 8, q), 3);
  assert_int_equal(f[0].len, 1);
  assert_memory_equal(f[0].p, "a", 1);
  assert_false(q[0]);
  assert_int_equal(f[1].len, 5);
  assert_memory_equal(f[1].p, "b,\"c\"", 5);
  assert_true(q[1]);
  assert_int_equal(f[2].len, 10);
  assert_memory_equal(f[2].p, "multi\nline", 10);
  assert_int_equal(reco__csv_record(&t, &pos, ',', f, 8, q), 3);
  assert_int_equal(f[1].len, 0);
  assert_int_equal(f[2].len, 0);
  assert_true(q[2]);
  assert_int_equal(reco__csv_record(&t, &pos, ',', f, 8, q), 0); /* blank line */
  assert_ptr_equal(pos, text + strlen(text));
  /* too many fields */
  char t2[] = "1,2,3\n";
  reco_ltext tt = {.path = "mem", .buf = t2, .len = strlen(t2), .data = t2};
  pos = t2;
  assert_int_equal(reco__csv_record(&tt, &pos, ',', f, 2, NULL), RECO_EFORMAT);
  assert_non_null(strstr(reco_last_error(), "mem:1:5:"));
}

/* ---- MovieLens 100K ---- */

static const char k_uitem[] =
    "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
    "2|Mis\xe9rables, Les (1995)|4-Feb-1995||http://y|0|0|0|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0\n"
    "3|unknown||||1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n";
static const char k_uuser[] = "1|24|M|technician|85711\n2|53|F|other|94043\n";

static void test_ml100k_folder(void **state) {
  (void)state;
  const char *dir = sub("ml100k");
  put("ml100k/u.data", "1\t2\t5\t881250949\n2\t1\t3\t891717742\r\n1\t1\t4\t878887116\n\n", 0);
  put("ml100k/u.item", k_uitem, 0);
  put("ml100k/u.user", k_uuser, 0);
  reco_dataset *ds = load_ok(dir, RECO_FMT_AUTO);
  assert_int_equal(reco_dataset_n_users(ds), 2);
  assert_int_equal(reco_dataset_n_items(ds), 3); /* item 3 has no ratings but is in the catalogue */
  assert_int_equal(reco_dataset_n_interactions(ds), 3);
  assert_true(ds->has_values);
  assert_true(ds->has_ts);
  /* the catalogue's order gives the indices */
  assert_int_equal(item_of(ds, "1"), 0);
  assert_int_equal(item_of(ds, "3"), 2);
  assert_string_equal(reco_dataset_item_title(ds, item_of(ds, "1")), "Toy Story (1995)");
  assert_string_equal(reco_dataset_item_title(ds, item_of(ds, "2")), "Mis\xc3\xa9rables, Les (1995)");
  assert_int_equal(ds->meta->year[item_of(ds, "1")], 1995);
  assert_int_equal(ds->meta->year[item_of(ds, "3")], 0);
  char buf[256];
  assert_string_equal(cats_of(ds, item_of(ds, "1"), buf, sizeof buf), "Animation,Children's,Comedy");
  assert_string_equal(cats_of(ds, item_of(ds, "3"), buf, sizeof buf), "unknown");
  assert_string_equal(uattr(ds, "1"), "age=24;gender=M;occupation=technician;zip=85711");
  assert_float_equal(value_of(ds, "1", "2"), 5.0, 0);
  assert_int_equal(ds->ts[coo_of(ds, "2", "1")], 891717742);
  assert_non_null(strstr(ds->source, "ml-100k:"));
  reco_dataset_free(ds);
  /* a u.item someone already converted to UTF-8 is kept as it is */
  put("ml100k/u.item", "2|Mis\xc3\xa9rables, Les (1995)|4-Feb-1995||http://y|0|0|0|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0\n", 0);
  ds = load_ok(dir, RECO_FMT_ML100K);
  assert_string_equal(reco_dataset_item_title(ds, item_of(ds, "2")), "Mis\xc3\xa9rables, Les (1995)");
  assert_int_equal(item_of(ds, "2"), 0);
  reco_dataset_free(ds);
  put("ml100k/u.item", k_uitem, 0);
  /* without metadata: only u.data */
  reco_load_opts o = {.no_metadata = 1};
  assert_int_equal(reco_dataset_load(dir, &o, &ds), 0);
  assert_int_equal(reco_dataset_n_items(ds), 2);
  assert_null(ds->meta);
  reco_dataset_free(ds);
}

static void test_ml100k_load_into(void **state) {
  (void)state;
  const char *base = put("u1.base", "1\t10\t4\t100\n2\t10\t3\t101\n", 0);
  const char *test = put("u1.test", "1\t11\t5\t102\n3\t10\t1\t103\n", 0);
  const char *items = put("u.item", k_uitem, 0);
  reco_dataset *ds = reco__ds_new();
  assert_int_equal(reco__load_ml100k_items(ds, items), 0);
  assert_int_equal(reco__load_into(ds, base, NULL), 0);
  size_t n_base = ds->n;
  assert_int_equal(reco__load_into(ds, test, NULL), 0);
  assert_int_equal(reco__ds_finalize(ds), 0);
  assert_int_equal(n_base, 2);
  assert_int_equal(ds->n, 4);
  assert_int_equal(ds->n_users, 3);
  assert_int_equal(ds->n_items, 5); /* 1..3 from u.item, then 10 and 11 */
  assert_int_equal(reco_dataset_item_index(ds, "10"), 3);
  assert_true(ds->has_values);
  assert_non_null(strstr(ds->source, " + "));
  /* the same item in both files is one index */
  assert_int_equal(ds->i[0], ds->i[3]);
  /* loading into a finalized dataset is refused */
  assert_int_equal(reco__load_into(ds, base, NULL), RECO_ESTATE);
  reco_dataset_free(ds);
  /* a single file through the public entry point */
  ds = load_ok(base, RECO_FMT_AUTO);
  assert_int_equal(reco_dataset_n_interactions(ds), 2);
  reco_dataset_free(ds);
}

/* ---- MovieLens 1M ---- */

static void test_ml1m_folder(void **state) {
  (void)state;
  const char *dir = sub("ml1m");
  put("ml1m/ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n", 0);
  put("ml1m/movies.dat",
      "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
      "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
      "42::Caf\xe9 Society: Part 1 (1999)::Comedy\n",
      0);
  put("ml1m/users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n", 0);
  reco_dataset *ds = load_ok(dir, RECO_FMT_AUTO);
  assert_int_equal(ds->n_users, 2);
  assert_int_equal(ds->n_items, 3);
  assert_int_equal(ds->n, 3);
  assert_true(ds->has_values);
  int32_t i = item_of(ds, "661");
  char buf[256];
  assert_string_equal(cats_of(ds, i, buf, sizeof buf), "Animation,Children's,Musical");
  assert_int_equal(ds->meta->year[i], 1996);
  assert_string_equal(reco_dataset_item_title(ds, item_of(ds, "42")), "Caf\xc3\xa9 Society: Part 1 (1999)");
  assert_string_equal(uattr(ds, "2"), "age=56;gender=M;occupation=self-employed;zip=70072");
  reco_dataset_free(ds);
  /* a bare ratings.dat */
  char path[600];
  snprintf(path, sizeof path, "%s/ratings.dat", dir);
  ds = load_ok(path, RECO_FMT_AUTO);
  assert_int_equal(ds->n, 3);
  assert_null(ds->meta);
  reco_dataset_free(ds);
}

/* ---- MovieLens latest ---- */

static void test_mllatest_folder(void **state) {
  (void)state;
  const char *dir = sub("latest");
  put("latest/ratings.csv",
      "userId,movieId,rating,timestamp\r\n1,1,4.0,964982703\r\n1,11,3.5,964981247\r\n2,1,0.5,964982224\r\n", 0);
  put("latest/movies.csv",
      "movieId,title,genres\r\n"
      "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\r\n"
      "11,\"American President, The (1995)\",Comedy|Drama|Romance\r\n"
      "7789,\"11'09\"\"01 - September 11 (2002)\",Drama\r\n"
      "114335,La cravate (1957),(no genres listed)\r\n",
      0);
  put("latest/tags.csv",
      "userId,movieId,tag,timestamp\r\n2,1,funny,1445714994\r\n3,1,\"pixar, classic\",1445714996\r\n4,1,funny,1\r\n",
      0);
  reco_dataset *ds = load_ok(dir, RECO_FMT_AUTO);
  assert_int_equal(ds->n_users, 2); /* taggers are not users */
  assert_int_equal(ds->n_items, 4); /* movies without ratings still exist */
  assert_int_equal(ds->n, 3);
  assert_true(ds->has_values);
  assert_float_equal(value_of(ds, "2", "1"), 0.5, 0);
  assert_string_equal(reco_dataset_item_title(ds, item_of(ds, "11")), "American President, The (1995)");
  assert_string_equal(reco_dataset_item_title(ds, item_of(ds, "7789")), "11'09\"01 - September 11 (2002)");
  assert_int_equal(ds->meta->year[item_of(ds, "7789")], 2002);
  char buf[256];
  assert_string_equal(cats_of(ds, item_of(ds, "114335"), buf, sizeof buf), "");
  assert_string_equal(cats_of(ds, item_of(ds, "11"), buf, sizeof buf), "Comedy,Drama,Romance");
  int32_t cnt = 0;
  assert_true(has_tag(ds, item_of(ds, "1"), "funny", &cnt));
  assert_int_equal(cnt, 2);
  assert_true(has_tag(ds, item_of(ds, "1"), "pixar, classic", NULL));
  reco_dataset_free(ds);
}

/* ---- generic CSV / TSV ---- */

static void test_csv_generic(void **state) {
  (void)state;
  /* comma, BOM, quoting with a newline, CRLF, aliases, ISO times */
  const char *p = put("events.csv",
                      "\xef\xbb\xbfuserId,itemId,score,time,extra\r\n"
                      "alice,\"item, one\",4.5,2024-01-02T03:04:05Z,x\r\n"
                      "\"bob\",item2,-2,1700000000,\"a note\non two lines\"\r\n"
                      "  carol  , item_3 ,1e1,,\"\"\r\n",
                      0);
  reco_dataset *ds = load_ok(p, RECO_FMT_AUTO);
  assert_int_equal(ds->n, 3);
  assert_true(ds->has_values);
  assert_float_equal(value_of(ds, "alice", "item, one"), 4.5, 0);
  assert_int_equal(ds->ts[coo_of(ds, "alice", "item, one")], 1704164645);
  assert_float_equal(value_of(ds, "bob", "item2"), -2, 0); /* out of a usual range: allowed */
  assert_float_equal(value_of(ds, "carol", "item_3"), 10, 0);
  assert_int_equal(ds->ts[coo_of(ds, "carol", "item_3")], 0);
  assert_int_equal(ds->type[0], RECO_EV_RATING);
  reco_dataset_free(ds);
  /* tab, semicolon and pipe delimiters */
  const char *delims[] = {"\t", ";", "|"};
  for (int k = 0; k < 3; k++) {
    char text[256];
    snprintf(text, sizeof text, "user%sitem%srating\nu1%si1%s3\nu2%si1%s4\n", delims[k], delims[k], delims[k], delims[k],
             delims[k], delims[k]);
    ds = load_ok(put("d.tsv", text, 0), RECO_FMT_CSV);
    assert_int_equal(ds->n, 2);
    assert_int_equal(ds->n_items, 1);
    assert_float_equal(value_of(ds, "u2", "i1"), 4, 0);
    reco_dataset_free(ds);
  }
  /* events without values: each counts 1, implicit */
  p = put("ev.csv", "user_id,product_id,event_type,ts\n1,A,view,10\n1,A,Purchase,20\n2,B,add_to_cart,30\n", 0);
  ds = load_ok(p, RECO_FMT_AUTO);
  assert_false(ds->has_values);
  assert_int_equal(ds->type[1], RECO_EV_PURCHASE);
  assert_int_equal(ds->type[2], RECO_EV_CART);
  assert_float_equal(ds->v[0], 1, 0);
  reco_dataset_free(ds);
  /* user,item only */
  ds = load_ok(put("pairs.csv", "user,item\n1,2\n1,3\n", 0), RECO_FMT_AUTO);
  assert_false(ds->has_values);
  assert_int_equal(ds->type[0], RECO_EV_VIEW);
  reco_dataset_free(ds);
  /* column overrides */
  p = put("custom.csv", "who,what,stars,when,user\n7,9,2,5,ignored\n", 0);
  reco_load_opts o = {.col_user = "who", .col_item = "WHAT", .col_value = "stars", .col_time = "when"};
  assert_int_equal(reco_dataset_load(p, &o, &ds), 0);
  assert_float_equal(value_of(ds, "7", "9"), 2, 0);
  assert_int_equal(ds->ts[0], 5);
  reco_dataset_free(ds);
  o.col_value = "nope";
  assert_int_equal(reco_dataset_load(p, &o, &ds), RECO_EFORMAT);
  assert_null(ds);
  assert_non_null(strstr(reco_last_error(), "custom.csv:1:1:"));
  assert_non_null(strstr(reco_last_error(), "nope"));
}

/* Big unquoted files are parsed by several threads: same dataset as one thread, and the first
 * failure in file order is the one reported. */
static void test_csv_parallel(void **state) {
  (void)state;
  size_t n_lines = 200000, cap = n_lines * 48, len = 0;
  char *text = malloc(cap);
  assert_non_null(text);
  len += (size_t)snprintf(text, cap, "user,item,value,timestamp,type\n");
  static const char *const types[] = {"view", "click", "purchase", "rating"};
  for (size_t k = 0; k < n_lines; k++)
    len += (size_t)snprintf(text + len, cap - len, "u%zu,item_%zu,%zu,%zu,%s\n", (k * 7919) % 20011, (k * 31) % 4999,
                            1 + k % 5, 1600000000 + k, types[k % 4]);
  assert_true(len > ((size_t)5 << 20));
  const char *p = put("big.csv", text, len);
  reco_dataset *d1, *d2;
  reco_set_threads(1);
  d1 = load_ok(p, RECO_FMT_AUTO);
  reco_set_threads(2);
  reco__csv_piece_bytes = 200000; /* many rounds of the parse / add pipeline */
  d2 = load_ok(p, RECO_FMT_AUTO);
  assert_int_equal(d1->n, n_lines);
  assert_int_equal(d2->n, n_lines);
  assert_int_equal(d1->n_users, d2->n_users);
  assert_int_equal(d1->n_items, d2->n_items);
  assert_true(reco__ds_fingerprint(d1) == reco__ds_fingerprint(d2));
  assert_memory_equal(d1->type, d2->type, n_lines);
  assert_false(d2->has_values);
  reco_dataset_free(d1);
  reco_dataset_free(d2);
  /* a failure late in the file, then an earlier one as well: the earlier one is reported */
  for (int pass = 0; pass < 2; pass++) {
    size_t bad_line = pass == 0 ? 150002 : 50002;
    char *l = text;
    for (size_t k = 1; k < bad_line; k++) l = strchr(l, '\n') + 1;
    char *comma = strchr(strchr(l, ',') + 1, ',');
    comma[1] = 'x'; /* value "x..." */
    const char *pb = put("big_bad.csv", text, len);
    reco_load_opts o = {0};
    assert_int_equal(reco_dataset_load(pb, &o, &d1), RECO_EFORMAT);
    char want[600];
    snprintf(want, sizeof want, "%s:%zu:", pb, bad_line);
    if (!strstr(reco_last_error(), want)) fail_msg("expected %s in '%s'", want, reco_last_error());
  }
  reco_set_threads(0);
  reco__csv_piece_bytes = (size_t)8 << 20;
  free(text);
}

/* ---- JSON lines ---- */

static void test_jsonl(void **state) {
  (void)state;
  const char *p = put("events.jsonl",
                      "{\"user\": \"u1\", \"item\": 42, \"rating\": 4.5, \"timestamp\": 1700000000}\n"
                      "\r\n"
                      "{\"userId\": 7, \"itemId\": \"x\", \"value\": \"3\", \"ts\": \"2024-01-02T03:04:05Z\", \"extra\": [1]}\r\n"
                      "{\"user\": \"u1\", \"item\": \"42\", \"type\": \"click\", \"time\": 5, \"rating\": null}\n",
                      0);
  reco_dataset *ds = load_ok(p, RECO_FMT_AUTO);
  assert_int_equal(ds->n, 3);
  assert_int_equal(ds->n_users, 2);
  assert_int_equal(ds->n_items, 2); /* 42 and "42" are one id */
  assert_false(ds->has_values);  /* the click has no value */
  assert_float_equal(ds->v[0], 4.5, 0);
  assert_int_equal(ds->ts[1], 1704164645);
  assert_int_equal(ds->type[2], RECO_EV_CLICK);
  assert_float_equal(ds->v[2], 1, 0);
  reco_dataset_free(ds);
  ds = load_ok(put("r.ndjson", "{\"user\":1,\"item\":2,\"rating\":5}\n", 0), RECO_FMT_AUTO);
  assert_true(ds->has_values);
  reco_dataset_free(ds);
  /* many lines: parsed in parallel batches, indices still in order of first appearance */
  size_t cap = 20000 * 80, len = 0;
  char *text = malloc(cap);
  assert_non_null(text);
  for (int k = 0; k < 20000; k++)
    len += (size_t)snprintf(text + len, cap - len, "{\"user\": \"user_%d\", \"item\": %d, \"rating\": %d}\n",
                            (k * 7) % 1000, k % 333, 1 + k % 5);
  ds = load_ok(put("many.jsonl", text, len), RECO_FMT_AUTO);
  assert_int_equal(ds->n, 20000);
  assert_int_equal(ds->n_users, 1000);
  assert_int_equal(ds->n_items, 333);
  for (int k = 0; k < 1000; k++) {
    char id[32];
    snprintf(id, sizeof id, "user_%d", (k * 7) % 1000);
    assert_int_equal(reco_dataset_user_index(ds, id), k);
  }
  assert_float_equal(ds->v[19999], 1 + 19999 % 5, 0);
  reco_dataset_free(ds);
  /* errors on lines 12001 and 15001: the first is reported */
  char *l = text;
  for (int k = 0; k < 12000; k++) l = strchr(l, '\n') + 1;
  memcpy(strstr(l, "\"rating\": ") + 10, "x", 1);
  for (int k = 0; k < 3000; k++) l = strchr(l, '\n') + 1;
  memcpy(strstr(l, "\"item\""), "\"itxm\"", 6);
  const char *p2 = put("many_bad.jsonl", text, len);
  reco_load_opts o = {.format = RECO_FMT_AUTO};
  assert_int_equal(reco_dataset_load(p2, &o, &ds), RECO_EFORMAT);
  char want[600];
  snprintf(want, sizeof want, "%s:12001:", p2);
  if (!strstr(reco_last_error(), want)) fail_msg("expected %s in '%s'", want, reco_last_error());
  free(text);
}

/* ---- `reco data gen` folders ---- */

static void test_reco_folder(void **state) {
  (void)state;
  const char *dir = sub("gen");
  put("gen/interactions.csv",
      "user,item,value,timestamp,type\nu1,i1,1,100,view\nu1,i2,1,101,click\nu2,i1,5,102,rating\n", 0);
  put("gen/items.csv",
      "item,title,category,tags,price,year,text\n"
      "i1,\"Shoes, red\",Fashion|Sport,comfy|red,59.90,2021,\"rating=4.3 reviews=12. Nice \"\"shoes\"\".\"\n"
      "i2,Book,Books,,,,\n"
      "i3,Unsold,Books,rare,1,,\n",
      0);
  put("gen/users.csv", "user,segment,country\nu1,bargain,FR\nu2,,DE\n", 0);
  reco_dataset *ds = load_ok(dir, RECO_FMT_AUTO);
  assert_int_equal(ds->n, 3);
  assert_int_equal(ds->n_items, 3);
  assert_false(ds->has_values);
  int32_t i1 = item_of(ds, "i1");
  assert_string_equal(reco_dataset_item_title(ds, i1), "Shoes, red");
  char buf[256];
  assert_string_equal(cats_of(ds, i1, buf, sizeof buf), "Fashion,Sport");
  assert_true(has_tag(ds, i1, "comfy", NULL));
  assert_true(has_tag(ds, i1, "red", NULL));
  assert_float_equal(ds->meta->price[i1], 59.9f, 1e-4);
  assert_true(isnan(ds->meta->price[item_of(ds, "i2")]));
  assert_int_equal(ds->meta->year[i1], 2021);
  assert_string_equal(ds->meta->text.buf + ds->meta->desc_off[i1], "rating=4.3 reviews=12. Nice \"shoes\".");
  assert_string_equal(uattr(ds, "u1"), "segment=bargain;country=FR");
  assert_string_equal(uattr(ds, "u2"), "country=DE");
  reco_dataset_free(ds);
}

/* ---- detection ---- */

static void test_detect(void **state) {
  (void)state;
  struct {
    const char *name, *content;
    reco_format f;
  } k[] = {{"u.data", "1\t2\t3\t4\n", RECO_FMT_ML100K},   {"u3.test", "1\t2\t3\t4\n", RECO_FMT_ML100K},
           {"ua.base", "1\t2\t3\t4\n", RECO_FMT_ML100K},  {"r.dat", "1::2::3::4\n", RECO_FMT_ML1M},
           {"x.dat", "a,b\n", RECO_FMT_CSV},              {"e.jsonl", "{}\n", RECO_FMT_JSONL},
           {"e.NDJSON", "{}\n", RECO_FMT_JSONL},          {"data.tsv", "a\tb\n", RECO_FMT_CSV},
           {"movies.csv", "movieId,title\n", RECO_FMT_MLLATEST}, {"items.csv", "item\n", RECO_FMT_RECO}};
  for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
    reco_format f;
    assert_int_equal(reco__load_detect(put(k[i].name, k[i].content, 0), &f), 0);
    if (f != k[i].f) fail_msg("%s detected as %s", k[i].name, reco__format_name(f));
  }
  reco_format f;
  assert_int_equal(reco__load_detect(sub("ml100k"), &f), 0);
  assert_int_equal(f, RECO_FMT_ML100K);
  assert_int_equal(reco__load_detect(sub("latest"), &f), 0);
  assert_int_equal(f, RECO_FMT_MLLATEST);
  assert_int_equal(reco__load_detect(sub("empty_dir"), &f), RECO_EFORMAT);
  reco_dataset *ds;
  assert_int_equal(reco_dataset_load("/nonexistent/reco/file.csv", NULL, &ds), RECO_EIO);
  assert_null(ds);
  assert_non_null(strstr(reco_last_error(), "/nonexistent/reco/file.csv"));
}

/* ---- malformed inputs ---- */

typedef struct bad_case {
  const char *name;
  const char *content;
  size_t len; /* 0 = strlen */
  reco_format fmt;
  int line;
  const char *what; /* a word the message must hold */
} bad_case;

static void check_bad(const bad_case *c) {
  const char *p = put(c->name, c->content, c->len);
  reco_load_opts o = {.format = c->fmt};
  reco_dataset *ds = (reco_dataset *)1;
  int rc = reco_dataset_load(p, &o, &ds);
  if (rc != RECO_EFORMAT) fail_msg("%s: expected RECO_EFORMAT, got %s (%s)", c->name, reco_err_name(rc), reco_last_error());
  assert_null(ds);
  char want[600];
  snprintf(want, sizeof want, "%s:%d:", p, c->line);
  const char *e = reco_last_error();
  if (!strstr(e, want)) fail_msg("%s: error '%s' does not start with '%s'", c->name, e, want);
  if (c->what && !strstr(e, c->what)) fail_msg("%s: error '%s' does not mention '%s'", c->name, e, c->what);
  if (strchr(e, '\n')) fail_msg("%s: error spans lines: '%s'", c->name, e);
}

static void test_malformed(void **state) {
  (void)state;
  static const bad_case cases[] = {
      {"trunc.data", "1\t2\t3\t4\n1\t2\t3\t4\n1\t2\t3\n", 0, RECO_FMT_ML100K, 3, "too few fields"},
      {"many.data", "1\t2\t3\t4\n1\t2\t3\t4\t5\n", 0, RECO_FMT_ML100K, 2, "too many fields"},
      {"abc.data", "1\t2\t3\t4\n1\t2\t3\t4\n1\t2\t3\t4\n1\t2\tabc\t4\n", 0, RECO_FMT_ML100K, 4, "not a number"},
      {"range.data", "1\t2\t7\t4\n", 0, RECO_FMT_ML100K, 1, "range"},
      {"id.data", "1\tx2\t3\t4\n", 0, RECO_FMT_ML100K, 1, "integer"},
      {"nan.csv", "user,item,rating\n1,2,3\n1,3,nan\n", 0, RECO_FMT_CSV, 3, "not a number"},
      {"inf.csv", "user,item,rating\n1,2,1e999\n", 0, RECO_FMT_CSV, 2, "finite"},
      {"big.csv", "user,item,rating\n1,2,1e300\n", 0, RECO_FMT_CSV, 2, "finite"},
      {"ts.csv", "user,item,rating,timestamp\n1,2,3,4\n1,3,3,yesterday\n", 0, RECO_FMT_CSV, 3, "time"},
      {"empty.csv", "", 0, RECO_FMT_CSV, 1, "empty file"},
      {"blank.data", "\n\n", 0, RECO_FMT_ML100K, 1, "empty file"},
      {"header_only.csv", "user,item,rating\n", 0, RECO_FMT_CSV, 2, "no interactions"},
      {"utf8.csv", "user,item\nu1,i1\nu\xff,i2\n", 0, RECO_FMT_CSV, 3, "UTF-8"},
      {"dup_header.csv", "user,item,rating\n1,2,3\n1,3,4\nuser,item,rating\n2,2,2\n", 0, RECO_FMT_CSV, 4, "header"},
      {"no_item.csv", "user,rating\n1,2\n", 0, RECO_FMT_CSV, 1, "no item column"},
      {"headerless.csv", "1,2,3\n4,5,6\n", 0, RECO_FMT_AUTO, 1, "header"},
      {"quote.csv", "user,item\n1,2\n3,\"abc\n4,5\n", 0, RECO_FMT_CSV, 3, "unterminated"},
      {"junk.csv", "user,item\n1,\"2\"x\n", 0, RECO_FMT_CSV, 2, "closing quote"},
      {"nul.csv", "user,item\n1,2\0\n", 15, RECO_FMT_CSV, 2, "NUL"},
      {"many.csv", "user,item,rating\n1,2,3\n1,2,3,4\n", 0, RECO_FMT_CSV, 3, "too many fields"},
      {"few.csv", "user,item,rating\n1,2\n", 0, RECO_FMT_CSV, 2, "too few fields"},
      {"empty_id.csv", "user,item\n1,2\n,2\n", 0, RECO_FMT_CSV, 3, "empty user id"},
      {"type.csv", "user,item,type\n1,2,view\n1,2,teleport\n", 0, RECO_FMT_CSV, 3, "teleport"},
      {"ratings.dat", "1::2::3::4\n1::2::3\n", 0, RECO_FMT_ML1M, 2, "too few fields"},
      {"colons.dat", "1::2::3::4\n1::b::3::4\n", 0, RECO_FMT_ML1M, 2, "integer"},
      {"colons2.dat", "1::2::3::4\n1:2::3::4\n", 0, RECO_FMT_ML1M, 2, "too few fields"},
      {"bad.jsonl", "{\"user\":1,\"item\":2}\n{\"user\":1,\"item\":}\n", 0, RECO_FMT_JSONL, 2, "JSON"},
      {"noitem.jsonl", "{\"user\":1,\"item\":2}\n\n{\"user\":1}\n", 0, RECO_FMT_JSONL, 3, "no item"},
      {"arr.jsonl", "[1,2]\n", 0, RECO_FMT_JSONL, 1, "object"},
      {"val.jsonl", "{\"user\":1,\"item\":2,\"rating\":true}\n", 0, RECO_FMT_JSONL, 1, "number"},
      {"u.item", "1|Toy Story (1995)|01-Jan-1995||u|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|2\n", 0, RECO_FMT_ML100K, 1,
       "genre flag"},
      {"u.user", "1|24|M|technician|85711\n2|old|F|other|94043\n", 0, RECO_FMT_ML100K, 2, "age"},
      {"price/items.csv", "item,price\ni1,1\ni2,inf\n", 0, RECO_FMT_RECO, 3, "price"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_bad(&cases[i]);
  print_message("%zu malformed inputs rejected with FILE:LINE\n", sizeof cases / sizeof cases[0]);
}

static void test_huge_line(void **state) {
  (void)state;
  size_t n = ((size_t)1 << 20) + 100;
  char *text = malloc(n + 64);
  assert_non_null(text);
  size_t len = (size_t)sprintf(text, "user,item\n1,");
  memset(text + len, 'x', n);
  len += n;
  text[len++] = '\n';
  bad_case c = {"huge.csv", text, len, RECO_FMT_CSV, 2, "1 MiB"};
  check_bad(&c);
  bad_case c2 = {"huge.data", text + 10, len - 10, RECO_FMT_ML100K, 1, "1 MiB"};
  check_bad(&c2);
  free(text);
}

/* Every allocation failure gives an error (never a crash or a half-built dataset). */
static void test_alloc_failures(void **state) {
  (void)state;
  const char *paths[] = {sub("ml100k"), sub("latest"), sub("gen"), put("events2.jsonl", "{\"user\":1,\"item\":2}\n", 0)};
  for (size_t k = 0; k < sizeof paths / sizeof paths[0]; k++) {
    int ok = 0;
    for (long n = 1; n < 400 && !ok; n++) {
      reco_dataset *ds = (reco_dataset *)1;
      reco__alloc_fail_after(n);
      int rc = reco_dataset_load(paths[k], NULL, &ds);
      reco__alloc_fail_after(0);
      if (rc == 0) {
        ok = 1;
        reco_dataset_free(ds);
      } else {
        assert_null(ds);
        assert_true(rc < 0);
      }
    }
    assert_true(ok);
  }
}

/* ---- real data ---- */

static const char *data_dir(const char *name, char *buf, size_t cap) {
  const char *root = getenv("RECO_DATA_DIR");
  if (!root || !*root) return NULL;
  snprintf(buf, cap, "%s/%s", root, name);
  struct stat st;
  return stat(buf, &st) == 0 && S_ISDIR(st.st_mode) ? buf : NULL;
}

static void test_real_ml100k(void **state) {
  (void)state;
  char buf[1024];
  const char *dir = data_dir("ml-100k", buf, sizeof buf);
  if (!dir) {
    print_message("skipped: RECO_DATA_DIR does not hold ml-100k (set RECO_DATA_DIR=/path/to/shared/data)\n");
    skip();
  }
  double t0 = reco__now();
  reco_dataset *ds = load_ok(dir, RECO_FMT_AUTO);
  double secs = reco__now() - t0;
  print_message("ml-100k loaded with metadata in %.1f ms\n", secs * 1e3);
  assert_int_equal(ds->n_users, 943);
  assert_int_equal(ds->n_items, 1682);
  assert_int_equal(ds->n, 100000);
  assert_true(ds->has_values);
  assert_int_equal(reco__idmap_size(ds->meta->cats), 19);
  assert_true(reco__idmap_get(ds->meta->cats, "Action", 6) >= 0);
  assert_string_equal(reco_dataset_item_title(ds, item_of(ds, "1")), "Toy Story (1995)");
  assert_int_equal(ds->meta->year[item_of(ds, "1")], 1995);
  assert_string_equal(uattr(ds, "1"), "age=24;gender=M;occupation=technician;zip=85711");
  assert_true(ds->vmin == 1 && ds->vmax == 5);
  reco_dataset_free(ds);
  /* u1.base + u1.test into one id space add up to u.data */
  char base[1100], test[1100];
  snprintf(base, sizeof base, "%s/u1.base", dir);
  snprintf(test, sizeof test, "%s/u1.test", dir);
  ds = reco__ds_new();
  assert_int_equal(reco__load_into(ds, base, NULL), 0);
  assert_int_equal(ds->n, 80000);
  assert_int_equal(reco__load_into(ds, test, NULL), 0);
  assert_int_equal(reco__ds_finalize(ds), 0);
  assert_int_equal(ds->n, 100000);
  assert_int_equal(ds->n_users, 943);
  assert_int_equal(ds->n_items, 1682);
  reco_dataset_free(ds);
}

static void test_real_mllatest(void **state) {
  (void)state;
  char buf[1024];
  const char *dir = data_dir("ml-latest-small", buf, sizeof buf);
  if (!dir) {
    print_message("skipped: RECO_DATA_DIR does not hold ml-latest-small (set RECO_DATA_DIR=/path/to/shared/data)\n");
    skip();
  }
  double t0 = reco__now();
  reco_dataset *ds = load_ok(dir, RECO_FMT_AUTO);
  print_message("ml-latest-small loaded with metadata in %.1f ms\n", (reco__now() - t0) * 1e3);
  assert_int_equal(ds->n_users, 610);
  assert_int_equal(ds->n, 100836);
  assert_int_equal(ds->n_items, 9742);
  assert_true(ds->has_values);
  assert_true(ds->vmin == 0.5f && ds->vmax == 5.0f);
  assert_true(reco__idmap_size(ds->meta->tags) > 1000);
  assert_int_equal(ds->meta->tag_ptr[ds->n_items] > 0, 1);
  assert_string_equal(reco_dataset_item_title(ds, item_of(ds, "11")), "American President, The (1995)");
  assert_int_equal(ds->meta->year[item_of(ds, "11")], 1995);
  char cats[256];
  assert_string_equal(cats_of(ds, item_of(ds, "1"), cats, sizeof cats), "Adventure,Animation,Children,Comedy,Fantasy");
  reco_dataset_free(ds);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_numbers),   cmocka_unit_test(test_csv_record),
      cmocka_unit_test(test_ml100k_folder),   cmocka_unit_test(test_ml100k_load_into),
      cmocka_unit_test(test_ml1m_folder),     cmocka_unit_test(test_mllatest_folder),
      cmocka_unit_test(test_csv_generic),     cmocka_unit_test(test_csv_parallel),
      cmocka_unit_test(test_jsonl),
      cmocka_unit_test(test_reco_folder),     cmocka_unit_test(test_detect),
      cmocka_unit_test(test_malformed),       cmocka_unit_test(test_huge_line),
      cmocka_unit_test(test_alloc_failures),  cmocka_unit_test(test_real_ml100k),
      cmocka_unit_test(test_real_mllatest),
  };
  return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
