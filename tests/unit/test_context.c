/* test_context.c - per-interaction context and the context model (src/rank/context.c), the
 * pipeline's context, session and cold-start blending (rank.c), and the hybrid's member
 * accessor and allocation-free scoring (hybrid.c).
 *
 * The catalogue: 40 items in 4 categories a..d; 60 users. Every user's interactions are spread
 * evenly over the categories, except that those made on a "mobile" device go to category "a"
 * three times in four: so the fitted model must find a positive lift of "a" for mobile and a
 * negative one for "desktop", and the pipeline must move "a" items up for a mobile request. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "algo/algo.h"
#include "data/load.h"
#include "data/split.h"
#include "rank/rank.h"

#define N_ITEMS 40
#define N_USERS 60

static reco_dataset *g_ds;
static reco_model *g_ctx, *g_pop, *g_knn;

static reco_model *fit(reco_dataset *ds, const char *algo) {
  reco_model *m;
  assert_int_equal(reco__model_new(algo, &m), 0);
  m->threads = 1;
  int rc = reco__model_fit(m, ds, NULL);
  if (rc) fprintf(stderr, "fit %s: %s\n", algo, reco_last_error());
  assert_int_equal(rc, 0);
  return m;
}

static int cat_of(int32_t i) { return i % 4; } /* "a" = 0 */

static int setup(void **state) {
  (void)state;
  reco_dataset *ds = reco__ds_new();
  char buf[32];
  static const char *cats[] = {"a", "b", "c", "d"};
  for (int i = 0; i < N_ITEMS; i++) {
    snprintf(buf, sizeof buf, "i%d", i);
    int32_t it = reco__ds_item(ds, buf, strlen(buf));
    reco__ds_add_category(ds, it, cats[i % 4], 1);
  }
  reco_rng r;
  reco__rng_seed(&r, 7);
  int64_t ts = 1700000000;
  for (int u = 0; u < N_USERS; u++) {
    snprintf(buf, sizeof buf, "u%d", u);
    int32_t uu = reco__ds_user(ds, buf, strlen(buf));
    for (int j = 0; j < 12; j++) {
      bool mobile = j % 2 == 0;
      int c = mobile && reco__rng_uniform(&r) < 0.75 ? 0 : (int)reco__rng_below(&r, 4);
      int32_t i = (int32_t)(c + 4 * reco__rng_below(&r, N_ITEMS / 4));
      reco__ds_add(ds, uu, i, 1.0f, ts += 3600, RECO_EV_CLICK);
      const char *dev = mobile ? "mobile" : "desktop";
      assert_int_equal(reco__ds_set_context(ds, RECO_CTX_DEVICE, dev, strlen(dev)), 0);
    }
  }
  if (reco__ds_finalize(ds)) return 1;
  g_ds = ds;
  g_ctx = fit(ds, "context");
  g_pop = fit(ds, "popular");
  g_knn = fit(ds, "itemknn");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  reco__model_free(g_ctx);
  reco__model_free(g_pop);
  reco__model_free(g_knn);
  reco_dataset_free(g_ds);
  return 0;
}

static void test_dataset_context(void **state) {
  (void)state;
  assert_non_null(g_ds->ctx[RECO_CTX_DEVICE]);
  assert_null(g_ds->ctx[RECO_CTX_LOCATION]);
  uint8_t mob = reco__ds_context_code(g_ds, RECO_CTX_DEVICE, "mobile", 6);
  assert_true(mob > 0);
  assert_int_equal(reco__ds_context_code(g_ds, RECO_CTX_DEVICE, "watch", 5), 0);
  /* a split keeps each interaction's code */
  uint8_t *keep = malloc(g_ds->n);
  for (size_t k = 0; k < g_ds->n; k++) keep[k] = k % 3 == 0;
  reco_dataset *sub;
  assert_int_equal(reco__ds_subset(g_ds, keep, &sub), 0);
  for (size_t k = 0, j = 0; k < g_ds->n; k++)
    if (keep[k]) assert_int_equal(sub->ctx[RECO_CTX_DEVICE][j++], g_ds->ctx[RECO_CTX_DEVICE][k]);
  reco_dataset_free(sub);
  free(keep);
  /* time features: 2024-03-01 was a Friday, 2024-03-02 a Saturday */
  assert_int_equal(reco__ctx_weekpart(1709316000), 0); /* Fri 18:00 UTC */
  assert_int_equal(reco__ctx_daypart(1709316000), 3);
  assert_int_equal(reco__ctx_weekpart(1709370000), 1); /* Sat 09:00 UTC */
  assert_int_equal(reco__ctx_daypart(1709370000), 1);
}

/* The CSV and JSON-lines loaders fill the context codes when the columns / keys exist. */
static void load_text(const char *suffix, const char *text, const char *dev0, const char *dev2) {
  char path[64];
  snprintf(path, sizeof path, "/tmp/reco_test_ctx_XXXXXX%s", suffix);
  int fd = mkstemps(path, (int)strlen(suffix));
  assert_true(fd >= 0);
  FILE *f = fdopen(fd, "w");
  fputs(text, f);
  fclose(f);
  reco_dataset *d;
  int rc = reco_dataset_load(path, NULL, &d);
  unlink(path);
  if (rc) fprintf(stderr, "%s\n", reco_last_error());
  assert_int_equal(rc, 0);
  assert_int_equal(d->n, 3);
  assert_non_null(d->ctx[RECO_CTX_DEVICE]);
  assert_string_equal(reco__idmap_str(d->ctx_names[RECO_CTX_DEVICE], d->ctx[RECO_CTX_DEVICE][0] - 1), dev0);
  assert_int_equal(d->ctx[RECO_CTX_DEVICE][1], 0); /* empty / absent: unknown */
  assert_string_equal(reco__idmap_str(d->ctx_names[RECO_CTX_DEVICE], d->ctx[RECO_CTX_DEVICE][2] - 1), dev2);
  assert_non_null(d->ctx[RECO_CTX_LOCATION]);
  assert_int_equal(reco__ds_context_code(d, RECO_CTX_LOCATION, "home", 4), d->ctx[RECO_CTX_LOCATION][0]);
  reco_dataset_free(d);
}

static void test_loaders(void **state) {
  (void)state;
  load_text(".csv", "user,item,device,location\na,x,mobile,home\nb,y,,\nb,x,desktop,work\n", "mobile", "desktop");
  load_text(".jsonl",
            "{\"user\": \"a\", \"item\": \"x\", \"device\": \"tv\", \"location\": \"home\"}\n"
            "{\"user\": \"b\", \"item\": \"y\"}\n"
            "{\"user\": \"b\", \"item\": \"x\", \"device\": \"mobile\", \"location\": null}\n",
            "tv", "mobile");
}

static void test_lifts(void **state) {
  (void)state;
  reco_rec_context mob, desk, none = RECO_CTX_UNKNOWN;
  assert_int_equal(reco__context_codes(g_ctx, "mobile", NULL, -1, &mob), 0);
  assert_int_equal(reco__context_codes(g_ctx, "desktop", NULL, -1, &desk), 0);
  assert_true(mob.device > 0 && desk.device > 0 && mob.device != desk.device);
  /* item 0 is in "a", item 1 in "b" */
  assert_true(reco__context_term(g_ctx, &mob, 0) > 0.3f);
  assert_true(reco__context_term(g_ctx, &desk, 0) < -0.1f);
  assert_true(reco__context_term(g_ctx, &mob, 1) < 0);
  assert_float_equal(reco__context_term(g_ctx, &none, 0), 0, 1e-9);
  /* context_popular: "a" items gain on mobile relative to plain popularity */
  float cp[N_ITEMS], pop[N_ITEMS];
  reco_user_view v = {-1, NULL, NULL, NULL, 0};
  assert_int_equal(reco__context_popular(g_ctx, &mob, cp), 0);
  assert_int_equal(g_ctx->algo->score(g_ctx, &v, pop), 0);
  for (int i = 0; i < N_ITEMS; i++)
    if (pop[i] > 0) {
      if (cat_of(i) == 0) assert_true(cp[i] > pop[i]);
      else assert_true(cp[i] < pop[i]);
    }
  /* a model that is not `context` is refused */
  assert_true(reco__context_popular(g_pop, &mob, cp) < 0);
}

static void test_save_load(void **state) {
  (void)state;
  void *buf;
  size_t len;
  assert_int_equal(reco__model_save_mem(g_ctx, &buf, &len), 0);
  reco_model *m;
  assert_int_equal(reco__model_load_mem(NULL, buf, len, "test", &m), 0);
  reco__free(buf);
  reco_rec_context a, b;
  reco__context_codes(g_ctx, "mobile", NULL, 1709316000, &a);
  reco__context_codes(m, "mobile", NULL, 1709316000, &b);
  assert_memory_equal(&a, &b, sizeof a);
  for (int32_t i = 0; i < N_ITEMS; i++)
    assert_float_equal(reco__context_term(m, &b, i), reco__context_term(g_ctx, &a, i), 1e-6);
  assert_float_equal(reco__context_weight(m), reco__context_weight(g_ctx), 1e-9);
  reco__model_free(m);
}

static reco_rec_request base_request(const reco_rec_member *mem, const int32_t *hist, size_t n_hist) {
  reco_rec_request q = {0};
  q.view = (reco_user_view){-1, hist, NULL, NULL, n_hist};
  q.k = 10;
  q.members = mem;
  q.n_members = 1;
  q.meta = g_ds->meta;
  q.filters.min_rating = q.filters.price_min = q.filters.price_max = NAN;
  q.filters.exclude_seen = true;
  q.relevance_weight = NAN;
  return q;
}

static int count_a(const reco_rec_item *r, int n) {
  int c = 0;
  for (int j = 0; j < n; j++) c += cat_of(r[j].item) == 0;
  return c;
}

static void test_pipeline_context(void **state) {
  (void)state;
  reco_rec_ws *ws;
  assert_int_equal(reco__rec_ws_new(N_ITEMS, 40, 2, &ws), 0);
  /* item-kNN from a history of "b" items: a list of mostly "b" items, not "a" ones */
  reco_rec_member mem = {g_knn, 1};
  int32_t hist[2] = {1, 5};
  reco_rec_item plain[10], ctx[10], desk[10];
  reco_rec_request q = base_request(&mem, hist, 2);
  assert_int_equal(reco__recommend(&q, ws, plain), 10);
  q.context_model = g_ctx;
  reco__context_codes(g_ctx, "mobile", NULL, -1, &q.context);
  q.context_weight = 0; /* no term: the same list */
  reco_rec_item same[10];
  assert_int_equal(reco__recommend(&q, ws, same), 10);
  for (int j = 0; j < 10; j++) assert_int_equal(same[j].item, plain[j].item);
  q.context_weight = 1;
  assert_int_equal(reco__recommend(&q, ws, ctx), 10);
  reco__context_codes(g_ctx, "desktop", NULL, -1, &q.context);
  assert_int_equal(reco__recommend(&q, ws, desk), 10);
  assert_true(count_a(ctx, 10) > count_a(plain, 10));
  assert_true(count_a(ctx, 10) > count_a(desk, 10));
  /* session: two "c" items in the session pull "c" items up */
  int32_t sess[2] = {2, 6};
  reco_rec_request s = base_request(&mem, hist, 2);
  s.session_items = sess;
  s.n_session = 2;
  s.session_weight = 1;
  reco_rec_item sr[10];
  assert_int_equal(reco__recommend(&s, ws, sr), 10);
  int c_plain = 0, c_sess = 0;
  for (int j = 0; j < 10; j++) c_plain += cat_of(plain[j].item) == 2, c_sess += cat_of(sr[j].item) == 2;
  assert_true(c_sess > c_plain);
  /* a request with context allocates nothing */
  reco__alloc_fail_after(1);
  int n = reco__recommend(&q, ws, desk);
  reco__alloc_fail_after(0);
  assert_int_equal(n, 10);
  /* bad requests */
  q.context_weight = -1;
  assert_true(reco__recommend(&q, ws, desk) < 0);
  q.context_weight = 0;
  q.n_session = 3;
  assert_true(reco__recommend(&q, ws, desk) < 0);
  reco__rec_ws_free(ws);
}

static void test_cold_blend(void **state) {
  (void)state;
  reco_rec_ws *ws;
  assert_int_equal(reco__rec_ws_new(N_ITEMS, 40, 1, &ws), 0);
  reco_rec_member mem = {g_knn, 1};
  int32_t hist[1] = {5};
  reco_rec_item knn[10], blend[10], cold[10];
  reco_rec_request q = base_request(&mem, hist, 1);
  q.cold_model = g_pop;
  q.cold = RECO_COLD_POPULAR;
  assert_int_equal(reco__recommend(&q, ws, knn), 10); /* threshold 0: the member alone */
  for (int j = 0; j < 10; j++) assert_int_not_equal(knn[j].reason, RECO_REASON_POPULAR);
  q.min_interactions_for_cf = 5; /* one item of history < 5: popular blended in */
  assert_int_equal(reco__recommend(&q, ws, blend), 10);
  int n_pop = 0, differ = 0;
  for (int j = 0; j < 10; j++) n_pop += blend[j].reason == RECO_REASON_POPULAR, differ += blend[j].item != knn[j].item;
  assert_true(n_pop > 0);
  assert_true(differ > 0);
  q.min_interactions_for_cf = 1; /* the history reaches the threshold: the member alone again */
  assert_int_equal(reco__recommend(&q, ws, cold), 10);
  for (int j = 0; j < 10; j++) assert_int_equal(cold[j].item, knn[j].item);
  /* context_popular for an empty view: the cold scorer is the context model's */
  reco_rec_request e = base_request(&mem, NULL, 0);
  e.cold = RECO_COLD_CONTEXT_POPULAR;
  e.context_model = g_ctx;
  reco__context_codes(g_ctx, "mobile", NULL, -1, &e.context);
  assert_int_equal(reco__recommend(&e, ws, cold), 10);
  for (int j = 0; j < 10; j++) assert_int_equal(cold[j].reason, RECO_REASON_POPULAR);
  assert_true(count_a(cold, 10) >= 5);
  e.min_interactions_for_cf = -1;
  assert_true(reco__recommend(&e, ws, cold) < 0);
  reco__rec_ws_free(ws);
}

static void test_explore(void **state) {
  (void)state;
  float count[N_ITEMS], scratch[N_ITEMS];
  for (int i = 0; i < N_ITEMS; i++) count[i] = 10;
  count[3] = count[7] = count[11] = 0; /* the "new" items */
  int32_t hist[2] = {1, 11}, pins[4], pos[4];
  reco_user_view v = {-1, hist, NULL, NULL, 2};
  int n = reco__rec_explore(g_knn, &v, count, 1, NULL, 2, 10, scratch, pins, pos);
  assert_int_equal(n, 2);
  for (int j = 0; j < n; j++) assert_true(pins[j] == 3 || pins[j] == 7); /* 11 is in the history */
  assert_int_not_equal(pins[0], pins[1]);
  assert_int_equal(pos[0], 3);
  assert_int_equal(pos[1], 6);
  uint8_t elig[N_ITEMS];
  memset(elig, 1, sizeof elig);
  elig[3] = 0;
  n = reco__rec_explore(g_knn, &v, count, 1, elig, 3, 10, scratch, pins, pos);
  assert_int_equal(n, 1);
  assert_int_equal(pins[0], 7);
  assert_int_equal(reco__rec_explore(g_knn, &v, count, 1, NULL, 0, 10, scratch, pins, pos), 0);
  assert_true(reco__rec_explore(g_knn, &v, NULL, 1, NULL, 2, 10, scratch, pins, pos) < 0);
  /* the pins go through the pipeline at their positions */
  reco_rec_ws *ws;
  assert_int_equal(reco__rec_ws_new(N_ITEMS, 40, 1, &ws), 0);
  reco_rec_member mem = {g_pop, 1};
  reco_rec_request q = base_request(&mem, hist, 2);
  n = reco__rec_explore(g_knn, &v, count, 1, NULL, 2, 10, scratch, pins, pos);
  q.pin_items = pins;
  q.pin_positions = pos;
  q.n_pins = (size_t)n;
  reco_rec_item out[10];
  assert_int_equal(reco__recommend(&q, ws, out), 10);
  assert_int_equal(out[3].item, pins[0]);
  assert_int_equal(out[6].item, pins[1]);
  reco__rec_ws_free(ws);
}

static void test_hybrid_members(void **state) {
  (void)state;
  reco_model *h;
  assert_int_equal(reco__model_new("hybrid", &h), 0);
  assert_int_equal(reco__model_set(h, "use_bpr", "false"), 0);
  assert_int_equal(reco__model_set(h, "use_ease", "false"), 0);
  h->threads = 1;
  assert_int_equal(reco__model_fit(h, g_ds, NULL), 0);
  const reco_model *mm[8];
  float w[8];
  int n = reco__hybrid_members(h, mm, w, 8);
  assert_true(n >= 1 && n <= 3);
  for (int k = 0; k < n; k++) {
    assert_non_null(mm[k]);
    assert_true(w[k] > 0);
    assert_int_equal(mm[k]->n_items, N_ITEMS);
  }
  assert_true(reco__hybrid_members(g_pop, mm, w, 8) < 0);
  /* score() allocates nothing once its scratch slot is warm */
  float a[N_ITEMS], b[N_ITEMS];
  reco_user_view v = reco__view_of(g_ds, 3);
  assert_int_equal(h->algo->score(h, &v, a), 0);
  reco__alloc_fail_after(1);
  int rc = h->algo->score(h, &v, b);
  reco__alloc_fail_after(0);
  assert_int_equal(rc, 0);
  assert_memory_equal(a, b, sizeof a);
  reco__model_free(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dataset_context), cmocka_unit_test(test_loaders), cmocka_unit_test(test_lifts),     cmocka_unit_test(test_save_load),
      cmocka_unit_test(test_pipeline_context), cmocka_unit_test(test_cold_blend), cmocka_unit_test(test_explore),
      cmocka_unit_test(test_hybrid_members),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
