/*
 * test_synth.c - the synthetic generator (src/data/synth.c) and the "reco" folder writer.
 *
 * Checks: parameters and their errors; exact counts, time order, event types, ratings, item
 * metadata and news publication times for each domain; determinism (same files, byte for
 * byte, with 1 and 3 threads; another seed differs); CSV quoting and number formatting; the
 * round trip through the "reco" loader (same fingerprint); cancellation; allocation failures
 * (ASan reports leaks); `reco data gen` exit codes; and that tastes matter: on small datasets a
 * personalised scorer (item co-occurrence) beats popularity by a clear margin on each user's
 * held-out last item, news rewards recency, and the margin vanishes when tastes are switched off.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "data/synth.h"

/* ---- helpers ---- */

static reco_synth_params small(reco_synth_domain d, int32_t users, int32_t items, int64_t n) {
  reco_synth_params p;
  reco__synth_defaults(&p, d);
  p.n_users = users;
  p.n_items = items;
  p.n_interactions = n;
  return p;
}

static reco_dataset *gen(const reco_synth_params *p) {
  reco_dataset *ds = NULL;
  int rc = reco__synth_generate(p, NULL, &ds);
  if (rc) fprintf(stderr, "generate: %s\n", reco_last_error());
  assert_int_equal(rc, 0);
  assert_non_null(ds);
  return ds;
}

static char *tmpdir(void) {
  const char *base = getenv("TMPDIR");
  char *t = malloc(4096);
  snprintf(t, 4096, "%s/reco-test-synth-XXXXXX", base && *base ? base : "/tmp");
  assert_non_null(mkdtemp(t));
  return t;
}

static void rmdir_all(char *dir) {
  static const char *const files[] = {"interactions.csv", "items.csv", "users.csv"};
  char path[4200];
  for (size_t k = 0; k < 3; k++) {
    snprintf(path, sizeof path, "%s/%s", dir, files[k]);
    unlink(path);
  }
  rmdir(dir);
  free(dir);
}

static char *slurp(const char *dir, const char *name, size_t *len) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
  b[n] = '\0';
  fclose(f);
  if (len) *len = (size_t)n;
  return b;
}

static uint64_t hash_file(const char *dir, const char *name) {
  size_t n;
  char *b = slurp(dir, name, &n);
  assert_non_null(b);
  uint64_t h = reco__hash_bytes(b, n, 7);
  free(b);
  return h;
}

static const char *item_text(const reco_dataset *ds, int32_t i) {
  const reco_itemmeta *m = ds->meta;
  return m->desc_off[i] >= 0 ? m->text.buf + m->desc_off[i] : NULL;
}

/* ---- parameters ---- */

static void test_params(void **st) {
  (void)st;
  for (int d = 0; d < RECO_SYNTH__COUNT; d++) {
    reco_synth_params p;
    reco__synth_defaults(&p, (reco_synth_domain)d);
    assert_int_equal(reco__synth_check(&p), 0);
    assert_int_equal(reco__synth_domain_parse(reco__synth_domain_name((reco_synth_domain)d)), d);
  }
  assert_int_equal(reco__synth_domain_parse("e-commerce"), RECO_SYNTH_ECOMMERCE);
  assert_int_equal(reco__synth_domain_parse("social"), -1);
  reco_synth_params p;
  reco__synth_defaults(&p, RECO_SYNTH_ECOMMERCE);
  assert_int_equal(p.n_users, 20000); /* the demo's user_12345 exists */
  reco_synth_params bad = p;
  bad.n_users = 0;
  assert_int_equal(reco__synth_check(&bad), RECO_EINVAL);
  assert_non_null(strstr(reco_last_error(), "users"));
  bad = p, bad.n_categories = 65;
  assert_int_equal(reco__synth_check(&bad), RECO_EINVAL);
  bad = p, bad.p_popular = 0.6, bad.p_continue = 0.6;
  assert_int_equal(reco__synth_check(&bad), RECO_EINVAL);
  bad = p, bad.n_interactions = -1;
  assert_int_equal(reco__synth_check(&bad), RECO_EINVAL);
  bad = p, bad.dim = 1;
  reco_dataset *ds = (reco_dataset *)&p;
  assert_int_equal(reco__synth_generate(&bad, NULL, &ds), RECO_EINVAL);
  assert_null(ds);
  assert_true(fabsf(reco__synth_text_rating("rating=4.3 reviews=12. Nice.") - 4.3f) < 1e-6f);
  assert_true(isnan(reco__synth_text_rating("A rating=4.3")));
  assert_true(isnan(reco__synth_text_rating(NULL)));
}

/* ---- contents of each domain ---- */

static void check_common(const reco_synth_params *p, const reco_dataset *ds) {
  assert_true(ds->finalized);
  assert_int_equal(ds->n, (size_t)p->n_interactions);
  assert_int_equal(ds->n_users, p->n_users);
  assert_int_equal(ds->n_items, p->n_items);
  assert_string_equal(reco_dataset_user_id(ds, 0), "user_1");
  char last[32];
  snprintf(last, sizeof last, "item_%d", p->n_items);
  assert_string_equal(reco_dataset_item_id(ds, p->n_items - 1), last);
  int64_t t_end = p->t_start + (int64_t)p->span_days * 86400;
  /* every user has events, in time order, inside the span (a session may run past its end) */
  for (int32_t u = 0; u < ds->n_users; u++) assert_true(ds->uptr[u + 1] > ds->uptr[u]);
  for (size_t k = 0; k < ds->n; k++) {
    assert_true(ds->ts[k] >= p->t_start && ds->ts[k] < t_end + 86400);
    if (k > 0 && ds->u[k] == ds->u[k - 1]) assert_true(ds->ts[k] >= ds->ts[k - 1]);
    if (k > 0) assert_true(ds->u[k] >= ds->u[k - 1]);
  }
  /* metadata: every item has a title, a text and at least one category */
  const reco_itemmeta *m = ds->meta;
  assert_non_null(m);
  for (int32_t i = 0; i < ds->n_items; i++) {
    assert_non_null(reco_dataset_item_title(ds, i));
    assert_non_null(item_text(ds, i));
    assert_true(m->cat_ptr[i + 1] > m->cat_ptr[i]);
  }
  assert_int_equal(reco__idmap_size(m->cats), p->n_categories);
  /* user segments */
  assert_true(ds->uattr_cap >= (size_t)ds->n_users);
  assert_memory_equal(ds->uattr.buf + ds->uattr_off[0], "segment=", 8);
}

static void test_ecommerce(void **st) {
  (void)st;
  reco_synth_params p = small(RECO_SYNTH_ECOMMERCE, 400, 300, 20000);
  reco_dataset *ds = gen(&p);
  check_common(&p, ds);
  size_t by[RECO_EV__COUNT] = {0};
  for (size_t k = 0; k < ds->n; k++) {
    by[ds->type[k]]++;
    if (ds->type[k] == RECO_EV_RATING) assert_true(ds->v[k] >= 1 && ds->v[k] <= 5 && ds->v[k] == roundf(ds->v[k]));
    else assert_true(ds->v[k] == 1.0f);
  }
  /* the funnel narrows; ratings follow some purchases */
  assert_true(by[RECO_EV_VIEW] > by[RECO_EV_CLICK] && by[RECO_EV_CLICK] > by[RECO_EV_CART]);
  assert_true(by[RECO_EV_CART] > by[RECO_EV_PURCHASE] && by[RECO_EV_PURCHASE] > by[RECO_EV_RATING]);
  assert_true(by[RECO_EV_RATING] > 0);
  assert_false(ds->has_values);
  /* a purchase comes after a cart of the same item by the same user */
  for (size_t k = 0; k < ds->n; k++) {
    if (ds->type[k] != RECO_EV_PURCHASE) continue;
    size_t j = k;
    while (j > 0 && ds->u[j - 1] == ds->u[k] && !(ds->type[j - 1] == RECO_EV_CART && ds->i[j - 1] == ds->i[k])) j--;
    assert_true(j > 0 && ds->type[j - 1] == RECO_EV_CART && ds->i[j - 1] == ds->i[k]);
  }
  /* departments the demo filters on; prices; average ratings at the head of the text */
  const reco_itemmeta *m = ds->meta;
  assert_true(reco__idmap_get(m->cats, "electronics", 11) >= 0);
  assert_true(reco__idmap_get(m->cats, "books", 5) >= 0);
  int high = 0;
  for (int32_t i = 0; i < ds->n_items; i++) {
    assert_true(m->price[i] > 0 && m->price[i] < 10000);
    assert_true(m->year[i] > 1900 && m->year[i] <= 2024);
    float r = reco__synth_text_rating(item_text(ds, i));
    assert_true(r >= 1.5f && r <= 4.9f);
    high += r >= 4.0f;
  }
  assert_true(high > ds->n_items / 5 && high < ds->n_items * 4 / 5);
  reco_dataset_free(ds);
}

static void test_streaming(void **st) {
  (void)st;
  reco_synth_params p = small(RECO_SYNTH_STREAMING, 300, 300, 15000);
  reco_dataset *ds = gen(&p);
  check_common(&p, ds);
  assert_true(ds->has_values);
  size_t hist[6] = {0};
  for (size_t k = 0; k < ds->n; k++) {
    assert_int_equal(ds->type[k], RECO_EV_RATING);
    assert_true(ds->v[k] >= 1 && ds->v[k] <= 5 && ds->v[k] == roundf(ds->v[k]));
    hist[(int)ds->v[k]]++;
  }
  assert_int_equal(ds->nnz, ds->n); /* nobody rates a title twice */
  assert_true(ds->vmean > 3.0 && ds->vmean < 4.0);
  for (int s = 1; s <= 5; s++) assert_true(hist[s] > ds->n / 50); /* every star is used */
  assert_true(hist[4] > hist[1] && hist[3] > hist[1]);
  /* several genres per title for some titles */
  size_t multi = 0;
  for (int32_t i = 0; i < ds->n_items; i++) multi += ds->meta->cat_ptr[i + 1] - ds->meta->cat_ptr[i] > 1;
  assert_true(multi > 50);
  reco_dataset_free(ds);
  /* implicit: views valued by completion in (0, 1] */
  p.explicit_ratings = false;
  ds = gen(&p);
  assert_false(ds->has_values);
  for (size_t k = 0; k < ds->n; k++) {
    assert_int_equal(ds->type[k], RECO_EV_VIEW);
    assert_true(ds->v[k] > 0 && ds->v[k] <= 1);
  }
  reco_dataset_free(ds);
}

static void test_news(void **st) {
  (void)st;
  reco_synth_params p = small(RECO_SYNTH_NEWS, 400, 300, 8000);
  reco_dataset *ds = gen(&p);
  check_common(&p, ds);
  /* publication time from the text; every click comes after publication, mostly within days */
  int64_t *pub = malloc((size_t)ds->n_items * sizeof *pub);
  for (int32_t i = 0; i < ds->n_items; i++) {
    const char *t = item_text(ds, i);
    int y, mo, d, h, mi, s;
    assert_int_equal(sscanf(t, "published=%d-%d-%dT%d:%d:%dZ.", &y, &mo, &d, &h, &mi, &s), 6);
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = s};
    pub[i] = (int64_t)timegm(&tm);
    assert_int_equal(ds->meta->year[i], y);
    if (i > 0) assert_true(pub[i] >= pub[i - 1]); /* item indices follow publication */
  }
  size_t fresh = 0;
  for (size_t k = 0; k < ds->n; k++) {
    assert_int_equal(ds->type[k], RECO_EV_CLICK);
    assert_true(ds->ts[k] >= pub[ds->i[k]]);
    fresh += ds->ts[k] - pub[ds->i[k]] < 3 * 86400;
  }
  assert_true(fresh > ds->n * 3 / 4);
  assert_true(ds->nnz > ds->n * 95 / 100);
  free(pub);
  reco_dataset_free(ds);
}

/* ---- determinism ---- */

static void test_determinism(void **st) {
  (void)st;
  static const char *const files[] = {"interactions.csv", "items.csv", "users.csv"};
  for (int d = 0; d < RECO_SYNTH__COUNT; d++) {
    reco_synth_params p = small((reco_synth_domain)d, 500, 300, 20000);
    char *dirs[2];
    uint64_t fp[2];
    for (int run = 0; run < 2; run++) {
      p.threads = run == 0 ? 1 : 3;
      reco_set_threads(p.threads); /* the writer's threads too */
      reco_dataset *ds = gen(&p);
      fp[run] = reco__ds_fingerprint(ds);
      dirs[run] = tmpdir();
      assert_int_equal(reco__synth_write(ds, dirs[run]), 0);
      reco_dataset_free(ds);
    }
    reco_set_threads(0);
    assert_true(fp[0] == fp[1]);
    for (int f = 0; f < 3; f++) assert_true(hash_file(dirs[0], files[f]) == hash_file(dirs[1], files[f]));
    /* another seed, another dataset */
    p.seed = 43;
    reco_dataset *ds = gen(&p);
    assert_true(reco__ds_fingerprint(ds) != fp[0]);
    reco_dataset_free(ds);
    rmdir_all(dirs[0]);
    rmdir_all(dirs[1]);
  }
}

/* ---- the CSV files ---- */

static void test_csv_format(void **st) {
  (void)st;
  reco_dataset *ds = reco__ds_new();
  assert_non_null(ds);
  int32_t u0 = reco__ds_user(ds, "plain", 5), u1 = reco__ds_user(ds, "has,comma", 9);
  int32_t i0 = reco__ds_item(ds, "x", 1), i1 = reco__ds_item(ds, " pad", 4);
  assert_int_equal(reco__ds_add(ds, u0, i0, 3.5f, 1700000000, RECO_EV_RATING), 0);
  assert_int_equal(reco__ds_add(ds, u0, i1, 0.73f, 1700000001, RECO_EV_VIEW), 0);
  assert_int_equal(reco__ds_add(ds, u1, i0, 1e-7f, 1700000002, RECO_EV_PURCHASE), 0);
  assert_int_equal(reco__ds_add(ds, u1, i1, -2.0f, 1700000003, RECO_EV_CART), 0);
  assert_int_equal(reco__ds_set_title(ds, i0, "Say \"hi\", world", 16), 0);
  assert_int_equal(reco__ds_set_text(ds, i0, "two\nlines", 9), 0);
  assert_int_equal(reco__ds_add_category(ds, i0, "books", 5), 0);
  assert_int_equal(reco__ds_add_category(ds, i0, "home", 4), 0);
  assert_int_equal(reco__ds_add_tag(ds, i0, "a", 1), 0);
  assert_int_equal(reco__ds_add_tag(ds, i0, "b", 1), 0);
  assert_int_equal(reco__ds_set_price(ds, i0, 79.99f), 0);
  assert_int_equal(reco__ds_set_year(ds, i0, 1999), 0);
  assert_int_equal(reco__ds_set_price(ds, i1, 12.5f), 0);
  assert_int_equal(reco__ds_set_user_attr(ds, u0, "age=24;gender=F", 15), 0);
  assert_int_equal(reco__ds_set_user_attr(ds, u1, "gender=M;zip=0,1", 16), 0);
  assert_int_equal(reco__ds_finalize(ds), 0);
  assert_int_equal(reco__synth_write(NULL, "x"), RECO_EINVAL);
  char *dir = tmpdir();
  assert_int_equal(reco__synth_write(ds, dir), 0);
  char *t = slurp(dir, "interactions.csv", NULL);
  assert_string_equal(t, "user,item,value,timestamp,type\n"
                         "plain,x,3.5,1700000000,rating\n"
                         "plain,\" pad\",0.73,1700000001,view\n"
                         "\"has,comma\",x,1.00000001e-07,1700000002,purchase\n"
                         "\"has,comma\",\" pad\",-2,1700000003,cart\n");
  free(t);
  t = slurp(dir, "items.csv", NULL);
  assert_string_equal(t, "item,title,category,tags,price,year,text\n"
                         "x,\"Say \"\"hi\"\", world\",books|home,a|b,79.99,1999,\"two\nlines\"\n"
                         "\" pad\",,,,12.5,,\n");
  free(t);
  t = slurp(dir, "users.csv", NULL);
  assert_string_equal(t, "user,age,gender,zip\n"
                         "plain,24,F,\n"
                         "\"has,comma\",,M,\"0,1\"\n");
  free(t);
  /* a dataset without metadata or user attributes writes interactions.csv only */
  reco_dataset *bare = reco__ds_new();
  assert_int_equal(reco__ds_add(bare, reco__ds_user(bare, "u", 1), reco__ds_item(bare, "i", 1), 1, 0, RECO_EV_CLICK), 0);
  assert_int_equal(reco__ds_finalize(bare), 0);
  char *dir2 = tmpdir();
  assert_int_equal(reco__synth_write(bare, dir2), 0);
  t = slurp(dir2, "interactions.csv", NULL);
  assert_string_equal(t, "user,item,value,timestamp,type\nu,i,1,,click\n");
  free(t);
  assert_null(slurp(dir2, "items.csv", NULL));
  assert_null(slurp(dir2, "users.csv", NULL));
  /* writing into a path that is a file fails with RECO_EIO */
  char path[4200];
  snprintf(path, sizeof path, "%s/interactions.csv", dir2);
  assert_int_equal(reco__synth_write(bare, path), RECO_EIO);
  reco_dataset_free(bare);
  reco_dataset_free(ds);
  rmdir_all(dir);
  rmdir_all(dir2);
}

/* ---- round trip through the "reco" loader ---- */

static void test_roundtrip(void **st) {
  (void)st;
  for (int d = 0; d < RECO_SYNTH__COUNT; d++) {
    reco_synth_params p = small((reco_synth_domain)d, 300, 200, 6000);
    reco_dataset *ds = gen(&p);
    char *dir = tmpdir();
    assert_int_equal(reco__synth_write(ds, dir), 0);
    reco_load_opts lo = {.format = RECO_FMT_RECO};
    reco_dataset *back = NULL;
    int rc = reco_dataset_load(dir, &lo, &back);
    if (rc) fprintf(stderr, "load: %s\n", reco_last_error());
    assert_int_equal(rc, 0);
    assert_int_equal(back->n, ds->n);
    assert_int_equal(back->n_users, ds->n_users);
    assert_int_equal(back->n_items, ds->n_items);
    assert_true(reco__ds_fingerprint(back) == reco__ds_fingerprint(ds));
    for (size_t k = 0; k < ds->n; k++) assert_int_equal(back->type[k], ds->type[k]);
    for (int32_t i = 0; i < ds->n_items; i++) {
      assert_string_equal(reco_dataset_item_title(back, i), reco_dataset_item_title(ds, i));
      assert_string_equal(item_text(back, i), item_text(ds, i));
      const reco_itemmeta *a = ds->meta, *b = back->meta;
      assert_int_equal(b->cat_ptr[i + 1] - b->cat_ptr[i], a->cat_ptr[i + 1] - a->cat_ptr[i]);
      for (int64_t x = a->cat_ptr[i]; x < a->cat_ptr[i + 1]; x++)
        assert_true(reco__idmap_get(b->cats, reco__idmap_str(a->cats, a->cat_idx[x]),
                                    strlen(reco__idmap_str(a->cats, a->cat_idx[x]))) >= 0);
      assert_true((isnan(a->price[i]) && isnan(b->price[i])) || a->price[i] == b->price[i]);
      assert_int_equal(a->year[i], b->year[i]);
    }
    assert_string_equal(back->uattr.buf + back->uattr_off[5], ds->uattr.buf + ds->uattr_off[5]);
    reco_dataset_free(back);
    reco_dataset_free(ds);
    rmdir_all(dir);
  }
}

/* ---- cancellation and allocation failures ---- */

static int cancel_at_generate(void *ud, const char *stage, double done, double total, const char *info) {
  (void)ud, (void)done, (void)total, (void)info;
  return strcmp(stage, "generate") == 0;
}

static void test_cancel(void **st) {
  (void)st;
  reco_synth_params p = small(RECO_SYNTH_NEWS, 100, 50, 1000);
  reco_progress pr = {cancel_at_generate, NULL};
  reco_dataset *ds = (reco_dataset *)&p;
  assert_int_equal(reco__synth_generate(&p, &pr, &ds), RECO_ECANCELED);
  assert_null(ds);
}

static void test_alloc_failures(void **st) {
  (void)st;
  for (int d = 0; d < RECO_SYNTH__COUNT; d++) {
    reco_synth_params p = small((reco_synth_domain)d, 40, 30, 400);
    p.threads = 1;
    int ok = 0;
    for (long n = 1; n < 5000 && !ok; n++) {
      reco_dataset *ds = NULL;
      reco__alloc_fail_after(n);
      int rc = reco__synth_generate(&p, NULL, &ds);
      reco__alloc_fail_after(0);
      if (rc == 0) {
        ok = 1;
        reco_dataset_free(ds);
      } else {
        assert_int_equal(rc, RECO_ENOMEM);
        assert_null(ds);
      }
    }
    assert_true(ok);
  }
  /* the writer */
  reco_synth_params p = small(RECO_SYNTH_ECOMMERCE, 40, 30, 400);
  reco_dataset *ds = gen(&p);
  char *dir = tmpdir();
  int ok = 0;
  for (long n = 1; n < 1000 && !ok; n++) {
    reco__alloc_fail_after(n);
    int rc = reco__synth_write(ds, dir);
    reco__alloc_fail_after(0);
    if (rc == 0) ok = 1;
    else assert_int_equal(rc, RECO_ENOMEM);
  }
  assert_true(ok);
  reco_dataset_free(ds);
  rmdir_all(dir);
}

/* ---- tastes matter ---- */

typedef struct hits {
  double pop, cooc, recent, topic;
} hits;

/*
 * Leave-last-out: each user's last event names the target item; the user's other items are the
 * history. Ranks every item the user has not had by (a) popularity (distinct users), (b) item
 * co-occurrence with the history, cosine-normalised (a plain item-kNN), (c) popularity on the
 * target's day and half of the day before (a recency baseline), (d) that recent popularity times
 * the user's share of history in the item's first category (a topic-aware recency scorer).
 * Returns hit rates at 10.
 */
static hits hit_rates(const reco_dataset *ds) {
  int32_t U = ds->n_users, I = ds->n_items;
  int32_t *target = malloc((size_t)U * sizeof *target);
  int64_t *tt = malloc((size_t)U * sizeof *tt), t0 = INT64_MAX, t1 = INT64_MIN;
  for (int32_t u = 0; u < U; u++) target[u] = -1, tt[u] = INT64_MIN;
  for (size_t k = 0; k < ds->n; k++) {
    if (ds->ts[k] >= tt[ds->u[k]]) tt[ds->u[k]] = ds->ts[k], target[ds->u[k]] = ds->i[k];
    t0 = ds->ts[k] < t0 ? ds->ts[k] : t0;
    t1 = ds->ts[k] > t1 ? ds->ts[k] : t1;
  }
  int D = (int)((t1 - t0) / 86400) + 1;
  float *co = calloc((size_t)I * I, sizeof *co), *day = calloc((size_t)D * I, sizeof *day);
  double *pop = calloc((size_t)I, sizeof *pop), *sc = malloc((size_t)I * sizeof *sc);
  char *seen = calloc((size_t)I, 1);
  const reco_itemmeta *m = ds->meta;
  int C = reco__idmap_size(m->cats);
  double *share = malloc((size_t)C * sizeof *share);
  for (size_t k = 0; k < ds->n; k++)
    if (!(ds->i[k] == target[ds->u[k]] && ds->ts[k] == tt[ds->u[k]])) day[(size_t)((ds->ts[k] - t0) / 86400) * I + ds->i[k]]++;
  for (int32_t u = 0; u < U; u++)
    for (int64_t a = ds->uptr[u]; a < ds->uptr[u + 1]; a++) {
      if (ds->uitem[a] == target[u]) continue;
      pop[ds->uitem[a]]++;
      for (int64_t b = ds->uptr[u]; b < ds->uptr[u + 1]; b++)
        if (b != a && ds->uitem[b] != target[u]) co[(size_t)ds->uitem[a] * I + ds->uitem[b]]++;
    }
  for (int32_t i = 0; i < I; i++)
    for (int32_t j = 0; j < I; j++)
      if (co[(size_t)i * I + j] > 0) co[(size_t)i * I + j] /= sqrtf((float)(pop[i] * pop[j]));
  hits h = {0};
  int n = 0;
  for (int32_t u = 0; u < U; u++) {
    int32_t t = target[u];
    if (t < 0) continue;
    n++;
    for (int32_t i = 0; i < I; i++) sc[i] = 0;
    for (int64_t a = ds->uptr[u]; a < ds->uptr[u + 1]; a++) {
      int32_t j = ds->uitem[a];
      if (j == t) continue;
      seen[j] = 1;
      for (int32_t i = 0; i < I; i++) sc[i] += co[(size_t)j * I + i];
    }
    int dd = (int)((tt[u] - t0) / 86400);
    const float *today = day + (size_t)dd * I, *yday = dd > 0 ? today - I : NULL;
    for (int c = 0; c < C; c++) share[c] = 0.5;
    for (int64_t a = ds->uptr[u]; a < ds->uptr[u + 1]; a++)
      if (ds->uitem[a] != t) share[m->cat_idx[m->cat_ptr[ds->uitem[a]]]] += 1;
    int above_pop = 0, above_cooc = 0, above_recent = 0, above_topic = 0;
    double rt = today[t] + (yday ? 0.5 * yday[t] : 0), tt_ = rt * share[m->cat_idx[m->cat_ptr[t]]];
    for (int32_t i = 0; i < I; i++) {
      if (seen[i] || i == t) continue;
      above_pop += pop[i] > pop[t] || (pop[i] == pop[t] && i < t);
      above_cooc += sc[i] > sc[t] || (sc[i] == sc[t] && i < t);
      double ri = today[i] + (yday ? 0.5 * yday[i] : 0);
      above_recent += ri > rt || (ri == rt && i < t);
      double ti = ri * share[m->cat_idx[m->cat_ptr[i]]];
      above_topic += ti > tt_ || (ti == tt_ && i < t);
    }
    h.pop += above_pop < 10;
    h.cooc += above_cooc < 10;
    h.recent += above_recent < 10;
    h.topic += above_topic < 10;
    for (int64_t a = ds->uptr[u]; a < ds->uptr[u + 1]; a++) seen[ds->uitem[a]] = 0;
  }
  h.pop /= n, h.cooc /= n, h.recent /= n, h.topic /= n;
  free(share), free(target), free(tt), free(co), free(day), free(pop), free(sc), free(seen);
  return h;
}

static void test_tastes_matter(void **st) {
  (void)st;
  static const struct {
    reco_synth_domain d;
    int32_t users, items, days;
    int64_t n;
  } cfg[] = {{RECO_SYNTH_ECOMMERCE, 1500, 600, 182, 40000},
             {RECO_SYNTH_STREAMING, 1500, 600, 365, 40000},
             {RECO_SYNTH_NEWS, 2000, 600, 5, 40000}};
  for (size_t c = 0; c < 3; c++) {
    reco_synth_params p = small(cfg[c].d, cfg[c].users, cfg[c].items, cfg[c].n);
    p.span_days = cfg[c].days;
    bool news = p.domain == RECO_SYNTH_NEWS;
    reco_dataset *ds = gen(&p);
    hits h = hit_rates(ds);
    reco_dataset_free(ds);
    printf("  %-9s HR@10 popularity %.3f, item co-occurrence %.3f, recent popularity %.3f, x topic share %.3f\n",
           reco__synth_domain_name(p.domain), h.pop, h.cooc, h.recent, h.topic);
    if (!news) {
      assert_true(h.cooc > 1.4 * h.pop && h.cooc > h.pop + 0.05);
    } else {
      /* articles live a few days, so recency beats all-time popularity, and the reader's
       * topics beat recency alone (co-occurrence would also pick up mere time proximity) */
      assert_true(h.recent > 1.5 * h.pop);
      assert_true(h.topic > 1.15 * h.recent && h.topic > h.recent + 0.03);
    }
    /* negative control: without tastes (every choice by popularity) the margin disappears */
    p.p_popular = 1, p.p_continue = 0, p.p_explore = 0;
    ds = gen(&p);
    h = hit_rates(ds);
    reco_dataset_free(ds);
    printf("  %-9s without tastes: popularity %.3f, item co-occurrence %.3f, recent %.3f, x topic share %.3f\n",
           reco__synth_domain_name(p.domain), h.pop, h.cooc, h.recent, h.topic);
    if (!news) assert_true(h.cooc < h.pop + 0.02);
    else assert_true(h.topic < h.recent + 0.02);
  }
}

/* ---- the command ---- */

static int run(const char *cmd) {
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli(void **st) {
  (void)st;
  const char *bin = getenv("RECO_BIN");
  if (!bin || access(bin, X_OK) != 0) skip();
  char *dir = tmpdir(), cmd[8192];
  snprintf(cmd, sizeof cmd, "%s data gen --help >/dev/null", bin);
  assert_int_equal(run(cmd), 0);
  snprintf(cmd, sizeof cmd, "%s data gen --domain social 2>/dev/null", bin);
  assert_int_equal(run(cmd), 2);
  snprintf(cmd, sizeof cmd, "%s data gen --users 0 2>/dev/null", bin);
  assert_int_equal(run(cmd), 2);
  snprintf(cmd, sizeof cmd, "%s data gen --bogus 2>/dev/null", bin);
  assert_int_equal(run(cmd), 2);
  snprintf(cmd, sizeof cmd, "%s data gen --domain news --users 50 --items 40 --interactions 500 --out %s --json --quiet >%s/out.json",
           bin, dir, dir);
  assert_int_equal(run(cmd), 0);
  char *j = slurp(dir, "out.json", NULL);
  assert_non_null(strstr(j, "\"domain\": \"news\""));
  assert_non_null(strstr(j, "\"interactions\": 500"));
  free(j);
  size_t len;
  char *t = slurp(dir, "interactions.csv", &len);
  assert_memory_equal(t, "user,item,value,timestamp,type\n", 31);
  free(t);
  /* the output folder cannot be created: a one-line failure, exit 1 */
  snprintf(cmd, sizeof cmd, "%s data gen --users 10 --items 10 --interactions 50 --out %s/out.json/x 2>%s/err.txt", bin,
           dir, dir);
  assert_int_equal(run(cmd), 1);
  t = slurp(dir, "err.txt", &len);
  assert_true(len > 0 && strchr(t, '\n') == t + len - 1);
  free(t);
  char path[4200];
  snprintf(path, sizeof path, "%s/out.json", dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/err.txt", dir);
  unlink(path);
  rmdir_all(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_params),      cmocka_unit_test(test_ecommerce),  cmocka_unit_test(test_streaming),
      cmocka_unit_test(test_news),        cmocka_unit_test(test_determinism), cmocka_unit_test(test_csv_format),
      cmocka_unit_test(test_roundtrip),   cmocka_unit_test(test_cancel),     cmocka_unit_test(test_alloc_failures),
      cmocka_unit_test(test_tastes_matter), cmocka_unit_test(test_cli),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
