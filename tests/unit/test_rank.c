/* test_rank.c - the recommend pipeline (src/rank/rank.c) on a small hand-built catalogue of 40
 * items in 4 categories with prices: each filter drops exactly the items it should; pins and
 * bury; pages never repeat and concatenate to the un-paged list; MMR with weight 0 is the
 * member's own order and with weight > 0 raises intra-list diversity on a constructed
 * example; a request allocates nothing (the Nth-allocation failure hook armed around it);
 * the cold-start path (popular / trending / the members from the first interaction); boosts. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "algo/algo.h"
#include "rank/rank.h"

#define N_ITEMS 40
#define N_USERS 30

static reco_dataset *g_ds;
static reco_model *g_knn, *g_pop, *g_ials;
static float *g_vec;
static int g_dim;
static float *g_pop_cnt;

static reco_model *fit(reco_dataset *ds, const char *algo, const char *key, const char *val) {
  reco_model *m;
  assert_int_equal(reco__model_new(algo, &m), 0);
  if (key) assert_int_equal(reco__model_set(m, key, val), 0);
  m->threads = 1;
  int rc = reco__model_fit(m, ds, NULL);
  if (rc) fprintf(stderr, "fit %s: %s\n", algo, reco_last_error());
  assert_int_equal(rc, 0);
  return m;
}

static int setup(void **state) {
  (void)state;
  reco_dataset *ds = reco__ds_new();
  char buf[32];
  static const char *cats[] = {"a", "b", "c", "d"};
  for (int i = 0; i < N_ITEMS; i++) {
    snprintf(buf, sizeof buf, "i%d", i);
    int32_t it = reco__ds_item(ds, buf, strlen(buf));
    reco__ds_add_category(ds, it, cats[i % 4], 1);
    reco__ds_set_price(ds, it, (float)i);
  }
  int64_t ts = 1000000;
  for (int u = 0; u < N_USERS; u++) {
    snprintf(buf, sizeof buf, "u%d", u);
    int32_t uu = reco__ds_user(ds, buf, strlen(buf));
    /* users like a run of items around their own offset; low indices are more popular */
    for (int j = 0; j < 8; j++) {
      int i = (u + 3 * j) % N_ITEMS;
      if (j < 3) i = (u * j) % 12;
      reco__ds_add(ds, uu, i, 1.0f, ts++ * 60, RECO_EV_CLICK);
    }
  }
  if (reco__ds_finalize(ds)) return 1;
  g_ds = ds;
  g_knn = fit(ds, "itemknn", NULL, NULL);
  g_pop = fit(ds, "popular", NULL, NULL);
  g_ials = fit(ds, "ials", "factors", "8");
  assert_int_equal(reco__rec_category_vectors(ds->meta, ds->n_items, &g_vec, &g_dim), 0);
  assert_int_equal(reco__rec_item_popularity(ds, &g_pop_cnt), 0);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  reco__model_free(g_knn);
  reco__model_free(g_pop);
  reco__model_free(g_ials);
  reco__free_aligned(g_vec);
  reco__free(g_pop_cnt);
  reco_dataset_free(g_ds);
  return 0;
}

static reco_rec_member g_members[2];

/* A request for user u (their training row as the view) over the whole catalogue. */
static reco_rec_request base_request(int32_t u) {
  g_members[0] = (reco_rec_member){g_knn, 1.0f};
  g_members[1] = (reco_rec_member){g_ials, 0.5f};
  reco_rec_request q = {0};
  q.view = reco__view_of(g_ds, u);
  q.k = N_ITEMS;
  q.pool = N_ITEMS;
  q.members = g_members;
  q.n_members = 2;
  q.meta = g_ds->meta;
  q.filters.min_rating = NAN;
  q.filters.price_min = q.filters.price_max = NAN;
  q.relevance_weight = NAN;
  return q;
}

static reco_rec_ws *ws_new(void) {
  reco_rec_ws *ws;
  assert_int_equal(reco__rec_ws_new(N_ITEMS, N_ITEMS, 3, &ws), 0);
  return ws;
}

static int run(const reco_rec_request *q, reco_rec_ws *ws, reco_rec_item *out) {
  int n = reco__recommend(q, ws, out);
  if (n < 0) fprintf(stderr, "recommend: %s\n", reco_last_error());
  assert_true(n >= 0);
  return n;
}

static bool has_cat(int32_t i, int c) { return i % 4 == c; }

/* Every filter on its own: the returned set is exactly the items that pass. */
static void test_filters(void **state) {
  (void)state;
  reco_rec_ws *ws = ws_new();
  reco_rec_item out[N_ITEMS];
  float rating[N_ITEMS];
  for (int i = 0; i < N_ITEMS; i++) rating[i] = i % 5 == 0 ? NAN : (float)(i % 5);
  uint8_t avail[(N_ITEMS + 7) / 8] = {0};
  for (int i = 0; i < N_ITEMS; i++)
    if (i % 3) avail[i >> 3] |= (uint8_t)(1u << (i & 7));
  int32_t inc[] = {1}, exc[] = {0, 2}, excl_items[] = {5, 3, 4, 39};
  int32_t cat_a = reco__idmap_get(g_ds->meta->cats, "a", 1), cat_b = reco__idmap_get(g_ds->meta->cats, "b", 1),
          cat_c = reco__idmap_get(g_ds->meta->cats, "c", 1);
  inc[0] = cat_b;
  exc[0] = cat_a;
  exc[1] = cat_c;
  const int32_t u = 2;
  for (int f = 0; f < 7; f++) {
    reco_rec_request q = base_request(u);
    switch (f) {
    case 0: q.filters.include_cats = inc, q.filters.n_include_cats = 1; break;
    case 1: q.filters.exclude_cats = exc, q.filters.n_exclude_cats = 2; break;
    case 2: q.filters.rating = rating, q.filters.min_rating = 3.0f; break;
    case 3: q.filters.price_min = 5, q.filters.price_max = 15; break;
    case 4: q.filters.exclude_items = excl_items, q.filters.n_exclude_items = 4; break;
    case 5: q.filters.exclude_seen = true; break;
    case 6: q.filters.available = avail; break;
    }
    int n = run(&q, ws, out);
    uint8_t got[N_ITEMS] = {0};
    for (int j = 0; j < n; j++) {
      assert_false(got[out[j].item]); /* no duplicates */
      got[out[j].item] = 1;
    }
    for (int32_t i = 0; i < N_ITEMS; i++) {
      bool pass = true;
      switch (f) {
      case 0: pass = has_cat(i, 1); break;
      case 1: pass = !has_cat(i, 0) && !has_cat(i, 2); break;
      case 2: pass = !isnan(rating[i]) && rating[i] >= 3.0f; break;
      case 3: pass = i >= 5 && i <= 15; break;
      case 4: pass = i != 3 && i != 4 && i != 5 && i != 39; break;
      case 5: pass = reco__ds_find(g_ds, u, i) < 0; break;
      case 6: pass = i % 3 != 0; break;
      }
      if (got[i] != pass) fprintf(stderr, "filter %d item %d: got %d want %d\n", f, i, got[i], pass);
      assert_int_equal(got[i], pass);
    }
  }
  reco__rec_ws_free(ws);
}

static void test_pin_bury(void **state) {
  (void)state;
  reco_rec_ws *ws = ws_new();
  reco_rec_item plain[N_ITEMS], out[N_ITEMS];
  reco_rec_request q = base_request(4);
  q.filters.exclude_seen = true;
  int n = run(&q, ws, plain);
  assert_true(n > 10);
  int32_t pin_item[] = {plain[n - 1].item}, pin_pos[] = {2}, bury[] = {plain[0].item};
  q.pin_items = pin_item;
  q.pin_positions = pin_pos;
  q.n_pins = 1;
  q.bury_items = bury;
  q.n_bury = 1;
  int n2 = run(&q, ws, out);
  assert_int_equal(n2, n);
  assert_int_equal(out[2].item, pin_item[0]);
  assert_int_equal(out[2].reason, RECO_REASON_PINNED);
  assert_int_equal(out[n - 1].item, bury[0]);
  /* the others keep their order */
  assert_int_equal(out[0].item, plain[1].item);
  assert_int_equal(out[1].item, plain[2].item);
  assert_int_equal(out[3].item, plain[3].item);
  /* relevance is in [0, 1] before the boost: x10 lifts the third item to the top, x0 sends the
   * first to the bottom (tied at 0 with the least relevant, ties to the smaller index) */
  q.n_pins = 0;
  q.n_bury = 0;
  int32_t boost[] = {plain[2].item, plain[0].item};
  float factor[] = {10.0f, 0.0f};
  q.boost_items = boost;
  q.boost_factors = factor;
  q.n_boost = 2;
  n2 = run(&q, ws, out);
  assert_int_equal(out[0].item, boost[0]);
  assert_true(out[n2 - 1].item == boost[1] || out[n2 - 2].item == boost[1]);
  q.n_boost = 0;
  q.n_pins = 1;
  /* a pin beyond a short list lands at its end; a pin that fails a filter is dropped */
  q.k = 5;
  pin_pos[0] = 1000;
  q.n_bury = 0;
  n2 = run(&q, ws, out);
  assert_int_equal(n2, 5);
  for (int j = 0; j < 5; j++) assert_int_not_equal(out[j].item, pin_item[0]);
  int32_t seen_item = g_ds->uitem[g_ds->uptr[4]];
  pin_item[0] = seen_item;
  pin_pos[0] = 0;
  n2 = run(&q, ws, out);
  assert_int_not_equal(out[0].item, seen_item);
  reco__rec_ws_free(ws);
}

static void test_pagination(void **state) {
  (void)state;
  reco_rec_ws *ws = ws_new();
  reco_rec_item all[N_ITEMS], page[N_ITEMS];
  for (int variant = 0; variant < 2; variant++) {
    reco_rec_request q = base_request(7);
    q.filters.exclude_seen = true;
    if (variant) {
      q.diversity_weight = 0.5f;
      q.item_vectors = g_vec;
      q.dim = g_dim;
      q.novelty_weight = 0.2f;
      q.item_pop = g_pop_cnt;
      q.pop_total = N_USERS;
      static int32_t pin[] = {20}, pos[] = {6}, bury[] = {1};
      q.pin_items = pin;
      q.pin_positions = pos;
      q.n_pins = 1;
      q.bury_items = bury;
      q.n_bury = 1;
    }
    int n = run(&q, ws, all);
    assert_true(n > 12);
    uint8_t seen[N_ITEMS] = {0};
    int total = 0;
    q.k = 5;
    for (q.offset = 0; q.offset < n + 5; q.offset += 5) {
      int m = run(&q, ws, page);
      for (int j = 0; j < m; j++) {
        assert_false(seen[page[j].item]);
        seen[page[j].item] = 1;
        assert_int_equal(page[j].item, all[total].item);
        assert_float_equal(page[j].score, all[total].score, 0);
        total++;
      }
    }
    assert_int_equal(total, n);
  }
  reco__rec_ws_free(ws);
}

/* lambda = 0: exactly the member's own top-k (reco__model_recommend, seen excluded). */
static void test_mmr_zero_is_relevance(void **state) {
  (void)state;
  reco_rec_ws *ws = ws_new();
  reco_rec_item out[10];
  float scratch[N_ITEMS];
  int32_t ref[10];
  reco_topk heap;
  assert_int_equal(reco__topk_init(&heap, 10), 0);
  for (int32_t u = 0; u < N_USERS; u += 5) {
    reco_rec_request q = base_request(u);
    q.n_members = 1;
    q.k = 10;
    q.pool = 12; /* the candidate selection must keep exactly the member's best 12 */
    q.filters.exclude_seen = true;
    q.item_vectors = g_vec;
    q.dim = g_dim;
    int n = run(&q, ws, out);
    int nr = reco__model_recommend(g_knn, &q.view, q.view.items, q.view.n, 10, scratch, &heap, ref, NULL);
    assert_int_equal(n, nr);
    for (int j = 0; j < n; j++) assert_int_equal(out[j].item, ref[j]);
    for (int j = 1; j < n; j++) assert_true(out[j].score <= out[j - 1].score);
    assert_float_equal(out[0].confidence, 1.0, 1e-6);
  }
  reco__topk_free(&heap);
  reco__rec_ws_free(ws);
}

/* Constructed: the 10 most popular items are all in category x, the next 10 in y. */
static void test_mmr_diversity(void **state) {
  (void)state;
  reco_dataset *ds = reco__ds_new();
  char buf[16];
  for (int i = 0; i < 20; i++) {
    snprintf(buf, sizeof buf, "i%d", i);
    int32_t it = reco__ds_item(ds, buf, strlen(buf));
    reco__ds_add_category(ds, it, i < 10 ? "x" : "y", 1);
  }
  for (int u = 0; u < 25; u++) {
    snprintf(buf, sizeof buf, "u%d", u);
    int32_t uu = reco__ds_user(ds, buf, strlen(buf));
    for (int i = 0; i < 20; i++)
      if (u < 25 - i) reco__ds_add(ds, uu, i, 1, 0, RECO_EV_CLICK); /* item i has 25 - i users */
  }
  assert_int_equal(reco__ds_finalize(ds), 0);
  reco_model *pop = fit(ds, "popular", NULL, NULL);
  float *vec;
  int dim;
  assert_int_equal(reco__rec_category_vectors(ds->meta, ds->n_items, &vec, &dim), 0);
  reco_rec_ws *ws;
  assert_int_equal(reco__rec_ws_new(20, 20, 1, &ws), 0);
  reco_rec_member mem = {pop, 1};
  double ild[2];
  for (int t = 0; t < 2; t++) {
    reco_rec_request q = {.view = {-1, NULL, NULL, NULL, 0}, .k = 5, .members = &mem, .n_members = 1,
                          .cold = RECO_COLD_MEMBERS, .item_vectors = vec, .dim = dim, .relevance_weight = NAN,
                          .diversity_weight = t ? 0.7f : 0.0f};
    q.filters.min_rating = q.filters.price_min = q.filters.price_max = NAN;
    reco_rec_item out[5];
    assert_int_equal(run(&q, ws, out), 5);
    double s = 0;
    for (int a = 0; a < 5; a++)
      for (int b = a + 1; b < 5; b++) s += (out[a].item < 10) != (out[b].item < 10); /* 1 - cosine */
    ild[t] = s / 10;
    if (!t)
      for (int a = 0; a < 5; a++) assert_int_equal(out[a].item, a);
    else
      assert_int_equal(out[0].item, 0);
  }
  assert_true(ild[0] == 0);
  assert_true(ild[1] >= 0.4 - 1e-9);
  reco__rec_ws_free(ws);
  reco__free_aligned(vec);
  reco__model_free(pop);
  reco_dataset_free(ds);
}

/* The fast paths (category index: posting lists sorted by rating with an early stop, bitmask
 * filters, MMR by category groups; explain_many for reasons) give exactly the lists of the
 * general paths (a scan of every item, MMR by lazy greedy over one-hot vectors, one explain
 * per item), over users, filters and diversity weights. */
static void test_fast_paths_agree(void **state) {
  (void)state;
  float rating[N_ITEMS];
  for (int i = 0; i < N_ITEMS; i++) rating[i] = i % 9 == 4 ? NAN : (float)((i * 7) % 11) / 2.0f;
  reco_rec_catindex *ci;
  assert_int_equal(reco__rec_catindex_build(g_ds->meta, g_ds->n_items, rating, &ci), 0);
  assert_true(ci->mask_exact);
  reco_rec_ws *w1 = ws_new(), *w2 = ws_new();
  reco_rec_item a[N_ITEMS], b[N_ITEMS];
  int compared = 0;
  for (int32_t u = 0; u < N_USERS; u += 3)
    for (int v = 0; v < 12; v++) {
      reco_rec_request q = base_request(u);
      q.k = 3 + v % 5;
      q.pool = 10 + 7 * (v % 4);
      q.reasons = true;
      int32_t cats[2] = {v % 4, (v + 1) % 4};
      if (v % 3) {
        q.filters.include_cats = cats;
        q.filters.n_include_cats = (size_t)(v % 3);
      }
      q.filters.rating = rating;
      if (v % 2) q.filters.min_rating = 1.5f;
      q.diversity_weight = (float)(v % 4) * 0.3f;
      reco_rec_request q1 = q, q2 = q;
      q1.item_vectors = g_vec;
      q1.dim = g_dim;
      q2.catidx = ci;
      q2.diversity_by_category = true;
      q2.filter_gen = 7; /* the eligible lists are kept across users and reused */
      int n1 = run(&q1, w1, a), n2 = run(&q2, w2, b);
      assert_int_equal(n1, n2);
      for (int x = 0; x < n1; x++) {
        assert_int_equal(a[x].item, b[x].item);
        assert_true(a[x].score == b[x].score);
        assert_int_equal(a[x].reason, b[x].reason);
        assert_int_equal(a[x].because, b[x].because);
        /* the reason is the history item explain() names first (itemknn's explain_many is
         * exactly that; the factor models' is the nearest history item in factor space) */
        if (a[x].reason == RECO_REASON_HISTORY && !strcmp(q.members[a[x].model].model->algo->name, "itemknn")) {
          const reco_model *m = q.members[a[x].model].model;
          int32_t because;
          float wt;
          assert_int_equal(m->algo->explain(m, &q.view, a[x].item, 1, &because, &wt), 1);
          assert_int_equal(because, a[x].because);
        }
        compared++;
      }
    }
  assert_true(compared > 100);
  /* the kept lists follow filter_gen: an item made unavailable leaves the list under a new
   * generation (and only then: the caller vouches for the inputs while it stays) */
  uint8_t avail[(N_ITEMS + 7) / 8];
  memset(avail, 0xff, sizeof avail);
  reco_rec_request q = base_request(0);
  q.k = 5, q.pool = 20, q.catidx = ci, q.filter_gen = 100;
  q.filters.available = avail;
  int na = run(&q, w2, a);
  assert_true(na > 0);
  int32_t gone = a[0].item;
  avail[gone >> 3] &= (uint8_t)~(1u << (gone & 7));
  q.filter_gen = 101;
  int nb = run(&q, w2, b);
  for (int x = 0; x < nb; x++) assert_int_not_equal(b[x].item, gone);
  reco__rec_ws_free(w1);
  reco__rec_ws_free(w2);
  reco__rec_catindex_free(ci);
}

/* A pool much smaller than the eligible items (the bounded-heap selection): the list is the
 * member's top-k by score (ties to the smaller item), the history excluded. */
static void test_small_pool_is_top_k(void **state) {
  (void)state;
  reco_rec_ws *ws = ws_new();
  float sc[N_ITEMS];
  for (int32_t u = 0; u < N_USERS; u += 2) {
    reco_rec_request q = base_request(u);
    reco_rec_member one = {g_knn, 1.0f};
    q.members = &one;
    q.n_members = 1;
    q.k = 5;
    q.pool = 5;
    q.filters.exclude_seen = true;
    reco_rec_item out[5];
    int n = run(&q, ws, out);
    assert_int_equal(n, 5);
    assert_int_equal(g_knn->algo->score(g_knn, &q.view, sc), 0);
    bool seen[N_ITEMS] = {0}, taken[N_ITEMS] = {0};
    for (size_t h = 0; h < q.view.n; h++) seen[q.view.items[h]] = true;
    for (int r = 0; r < 5; r++) {
      int32_t best = -1;
      for (int32_t i = 0; i < N_ITEMS; i++)
        if (!seen[i] && !taken[i] && (best < 0 || sc[i] > sc[best])) best = i;
      taken[best] = true;
      assert_int_equal(out[r].item, best);
    }
  }
  reco__rec_ws_free(ws);
}

static int cmp_u64_desc(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x < y) - (x > y);
}

/* The candidate selection (quickselect, and for n >> top a sampled threshold with a branch-free
 * partition and a fallback) moves exactly the top keys to the front and keeps every key: random
 * keys, sorted either way, and keys whose largest sit exactly where the sample looks (so the
 * sample's threshold is too high and the fallback runs). */
static void test_select_keys(void **state) {
  (void)state;
  enum { NMAX = 5000 };
  static uint64_t k[NMAX], ref[NMAX];
  reco_rng r;
  reco__rng_seed(&r, 11);
  const int32_t sizes[] = {1, 2, 17, 300, 511, 512, 1682, 5000};
  const int32_t tops[] = {1, 5, 10, 60, 100, 200};
  int checked = 0;
  for (size_t a = 0; a < sizeof sizes / sizeof *sizes; a++)
    for (size_t b = 0; b < sizeof tops / sizeof *tops; b++)
      for (int shape = 0; shape < 4; shape++) {
        int32_t n = sizes[a], top = tops[b];
        for (int32_t x = 0; x < n; x++) {
          uint64_t hi = shape == 0 ? reco__rng_next(&r) >> 32 : shape == 1 ? (uint64_t)x : (uint64_t)(n - x);
          /* shape 3: the sampled positions (x * n / 128) hold the largest keys */
          if (shape == 3) hi = (x * 128 / n * n / 128 == x) ? 1000000 + (uint64_t)x : (uint64_t)x;
          k[x] = hi << 32 | (uint32_t)~(uint32_t)x;
        }
        memcpy(ref, k, (size_t)n * sizeof *k);
        qsort(ref, (size_t)n, sizeof *ref, cmp_u64_desc);
        reco__rec_select_keys(k, n, top);
        int32_t t = top < n ? top : n;
        qsort(k, (size_t)t, sizeof *k, cmp_u64_desc);
        for (int32_t x = 0; x < t; x++) assert_true(k[x] == ref[x]);
        qsort(k, (size_t)n, sizeof *k, cmp_u64_desc); /* a permutation: nothing lost or doubled */
        for (int32_t x = 0; x < n; x++) assert_true(k[x] == ref[x]);
        checked++;
      }
  assert_int_equal(checked, 8 * 6 * 4);
}

/* The whole request (three members incl. fold-in, filters, rules, MMR, novelty, reasons) with
 * the next allocation set to fail: it must still succeed, with the same list. */
static void test_no_allocation(void **state) {
  (void)state;
  reco_rec_ws *ws = ws_new();
  reco_rec_member mem[3] = {{g_knn, 1}, {g_ials, 1}, {g_pop, 0.2f}};
  reco_rec_item ref[10], out[10];
  int32_t hist[] = {1, 5, 9};
  int32_t excl[] = {2}, pin[] = {30}, pos[] = {3}, bury[] = {0};
  int32_t inc[] = {0, 1, 2};
  for (int view_kind = 0; view_kind < 2; view_kind++) {
    reco_rec_request q = base_request(3);
    if (view_kind) q.view = (reco_user_view){-1, hist, NULL, NULL, 3}; /* fold-in */
    q.members = mem;
    q.n_members = 3;
    q.k = 10;
    q.offset = 2;
    q.pool = 20;
    q.filters.exclude_seen = true;
    q.filters.exclude_items = excl;
    q.filters.n_exclude_items = 1;
    q.filters.include_cats = inc;
    q.filters.n_include_cats = 3;
    q.filters.price_min = 1;
    q.pin_items = pin;
    q.pin_positions = pos;
    q.n_pins = 1;
    q.bury_items = bury;
    q.n_bury = 1;
    q.diversity_weight = 0.3f;
    q.item_vectors = g_vec;
    q.dim = g_dim;
    q.novelty_weight = 0.1f;
    q.item_pop = g_pop_cnt;
    q.pop_total = N_USERS;
    q.reasons = true;
    int n = run(&q, ws, ref);
    assert_int_equal(n, 10);
    reco__alloc_fail_after(1);
    int n2 = reco__recommend(&q, ws, out);
    reco__alloc_fail_after(0);
    assert_int_equal(n2, n);
    int n_hist = 0;
    for (int j = 0; j < n; j++) {
      assert_int_equal(out[j].item, ref[j].item);
      assert_int_equal(out[j].reason, ref[j].reason);
      assert_true(out[j].confidence >= 0 && out[j].confidence <= 1);
      n_hist += out[j].reason == RECO_REASON_HISTORY;
      if (out[j].reason == RECO_REASON_HISTORY) {
        bool in = false;
        for (size_t h = 0; h < q.view.n; h++) in |= q.view.items[h] == out[j].because;
        assert_true(in);
      }
    }
    assert_true(n_hist > 0);
    assert_int_equal(out[1].item, 30); /* pinned at absolute position 3, page starts at 2 */
  }
  reco__rec_ws_free(ws);
}

static void test_cold_start(void **state) {
  (void)state;
  reco_model *trend = fit(g_ds, "popular", "half_life_days", "1");
  reco_rec_ws *ws = ws_new();
  reco_rec_item out[10];
  float scratch[N_ITEMS];
  int32_t ref[10];
  reco_topk heap;
  assert_int_equal(reco__topk_init(&heap, 10), 0);
  reco_rec_request q = base_request(0);
  q.view = (reco_user_view){-1, NULL, NULL, NULL, 0};
  q.k = 10;
  q.cold_model = trend;
  q.cold = RECO_COLD_TRENDING;
  int n = run(&q, ws, out);
  int nr = reco__model_recommend(trend, &q.view, NULL, 0, 10, scratch, &heap, ref, NULL);
  assert_int_equal(n, nr);
  for (int j = 0; j < n; j++) {
    assert_int_equal(out[j].item, ref[j]);
    assert_int_equal(out[j].reason, RECO_REASON_TRENDING);
    assert_int_equal(out[j].model, -1);
  }
  q.cold_model = g_pop;
  q.cold = RECO_COLD_POPULAR;
  n = run(&q, ws, out);
  for (int j = 0; j < n; j++) assert_int_equal(out[j].reason, RECO_REASON_POPULAR);
  /* from the first interaction on, the members answer (item-kNN names the history item) */
  int32_t first[] = {7};
  q.view = (reco_user_view){-1, first, NULL, NULL, 1};
  q.filters.exclude_seen = true;
  q.reasons = true;
  n = run(&q, ws, out);
  assert_true(n > 0);
  assert_int_equal(out[0].reason, RECO_REASON_HISTORY);
  assert_int_equal(out[0].because, 7);
  for (int j = 0; j < n; j++) assert_int_not_equal(out[j].item, 7);
  /* the members strategy answers an empty view with the members */
  q.view = (reco_user_view){-1, NULL, NULL, NULL, 0};
  q.cold = RECO_COLD_MEMBERS;
  n = run(&q, ws, out);
  for (int j = 0; j < n; j++) assert_true(out[j].model >= 0);
  assert_string_equal(reco__rec_reason_text(RECO_REASON_POPULAR), "Popular with other users");
  reco__topk_free(&heap);
  reco__rec_ws_free(ws);
  reco__model_free(trend);
}

static void test_bad_requests(void **state) {
  (void)state;
  reco_rec_ws *ws = ws_new();
  reco_rec_item out[4];
  reco_rec_request q = base_request(1);
  q.k = 0;
  assert_int_equal(reco__recommend(&q, ws, out), RECO_EINVAL);
  q = base_request(1);
  q.pool = N_ITEMS + 1;
  assert_int_equal(reco__recommend(&q, ws, out), RECO_EINVAL);
  q = base_request(1);
  q.diversity_weight = 2;
  assert_int_equal(reco__recommend(&q, ws, out), RECO_EINVAL);
  q = base_request(1);
  q.filters.min_rating = 3; /* without the ratings array */
  assert_int_equal(reco__recommend(&q, ws, out), RECO_EINVAL);
  q = base_request(1);
  q.n_pins = 1; /* without the pin lists */
  assert_int_equal(reco__recommend(&q, ws, out), RECO_EINVAL);
  q = base_request(1);
  q.offset = 2147483647;
  assert_int_equal(reco__recommend(&q, ws, out), RECO_EINVAL);
  q = base_request(1);
  q.n_members = 0;
  assert_int_equal(reco__recommend(&q, ws, out), RECO_EINVAL);
  reco__rec_ws_free(ws);
  reco_rec_ws *w2;
  assert_int_equal(reco__rec_ws_new(0, 10, 1, &w2), RECO_EINVAL);
  assert_null(w2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_filters),
      cmocka_unit_test(test_pin_bury),
      cmocka_unit_test(test_pagination),
      cmocka_unit_test(test_mmr_zero_is_relevance),
      cmocka_unit_test(test_mmr_diversity),
      cmocka_unit_test(test_fast_paths_agree),
      cmocka_unit_test(test_small_pool_is_top_k),
      cmocka_unit_test(test_select_keys),
      cmocka_unit_test(test_no_allocation),
      cmocka_unit_test(test_cold_start),
      cmocka_unit_test(test_bad_requests),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
