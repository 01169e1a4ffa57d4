/* test_dataset.c - dataset builder, CSR with duplicate merging, subsets, splits, negatives. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "data/dataset.h"
#include "data/split.h"

static int32_t U(reco_dataset *d, const char *s) { return reco__ds_user(d, s, strlen(s)); }
static int32_t I(reco_dataset *d, const char *s) { return reco__ds_item(d, s, strlen(s)); }

/* users a, b, c; items x, y, z; (a, x) rated twice: the later rating (by time) wins */
static reco_dataset *tiny(void) {
  reco_dataset *d = reco__ds_new();
  assert_non_null(d);
  assert_int_equal(reco__ds_add(d, U(d, "a"), I(d, "x"), 3, 100, RECO_EV_RATING), 0);
  assert_int_equal(reco__ds_add(d, U(d, "a"), I(d, "y"), 4, 200, RECO_EV_RATING), 0);
  assert_int_equal(reco__ds_add(d, U(d, "b"), I(d, "x"), 5, 150, RECO_EV_RATING), 0);
  assert_int_equal(reco__ds_add(d, U(d, "a"), I(d, "x"), 1, 300, RECO_EV_RATING), 0);
  assert_int_equal(reco__ds_add(d, U(d, "c"), I(d, "z"), 2, 50, RECO_EV_RATING), 0);
  assert_int_equal(reco__ds_add(d, U(d, "b"), I(d, "z"), 4, 400, RECO_EV_RATING), 0);
  d->has_values = true;
  assert_int_equal(reco__ds_finalize(d), 0);
  return d;
}

static void test_csr(void **st) {
  (void)st;
  reco_dataset *d = tiny();
  assert_int_equal(d->n_users, 3);
  assert_int_equal(d->n_items, 3);
  assert_int_equal(d->n, 6);
  assert_int_equal(d->nnz, 5);
  /* user a: items x (merged, latest value 1), y */
  assert_int_equal(d->uptr[1] - d->uptr[0], 2);
  assert_int_equal(d->uitem[0], 0);
  assert_true(d->uval[0] == 1.0f);
  assert_int_equal(d->urow[0], 3);
  assert_int_equal(d->uitem[1], 1);
  /* item x: users a, b sorted by index */
  assert_int_equal(d->iptr[1] - d->iptr[0], 2);
  assert_int_equal(d->iuser[0], 0);
  assert_int_equal(d->iuser[1], 1);
  assert_true(d->ival[0] == 1.0f);
  assert_int_equal(reco__ds_find(d, 1, 2), d->uptr[1] + 1);
  assert_int_equal(reco__ds_find(d, 2, 0), -1);
  assert_true(d->vmin == 1 && d->vmax == 5);
  assert_string_equal(reco_dataset_user_id(d, 2), "c");
  assert_int_equal(reco_dataset_item_index(d, "z"), 2);
  reco_dataset_free(d);
}

static void test_merge_max_sum(void **st) {
  (void)st;
  for (int pol = RECO_MERGE_MAX; pol <= RECO_MERGE_SUM; pol++) {
    reco_dataset *d = reco__ds_new();
    d->merge = (reco_merge)pol;
    reco__ds_add(d, U(d, "a"), I(d, "x"), 2, 1, RECO_EV_VIEW);
    reco__ds_add(d, U(d, "a"), I(d, "x"), 5, 2, RECO_EV_PURCHASE);
    reco__ds_add(d, U(d, "a"), I(d, "x"), 1, 3, RECO_EV_VIEW);
    assert_int_equal(reco__ds_finalize(d), 0);
    assert_int_equal(d->nnz, 1);
    assert_true(d->uval[0] == (pol == RECO_MERGE_MAX ? 5.0f : 8.0f));
    reco_dataset_free(d);
  }
}

static void test_metadata(void **st) {
  (void)st;
  reco_dataset *d = reco__ds_new();
  int32_t x = I(d, "x"), y = I(d, "y");
  assert_int_equal(reco__ds_set_title(d, y, "Why", 3), 0);
  assert_int_equal(reco__ds_add_category(d, y, "books", 5), 0);
  assert_int_equal(reco__ds_add_category(d, x, "toys", 4), 0);
  assert_int_equal(reco__ds_add_category(d, y, "toys", 4), 0);
  assert_int_equal(reco__ds_add_tag(d, y, "fun", 3), 0);
  assert_int_equal(reco__ds_add_tag(d, y, "fun", 3), 0);
  reco__ds_add(d, U(d, "a"), x, 1, 0, RECO_EV_CLICK);
  assert_int_equal(reco__ds_finalize(d), 0);
  assert_string_equal(reco_dataset_item_title(d, y), "Why");
  assert_null(reco_dataset_item_title(d, x));
  reco_itemmeta *m = d->meta;
  assert_int_equal(m->cat_ptr[1] - m->cat_ptr[0], 1);
  assert_int_equal(m->cat_ptr[2] - m->cat_ptr[1], 2);
  assert_int_equal(m->tag_ptr[2] - m->tag_ptr[1], 1);
  assert_int_equal(m->tag_cnt[m->tag_ptr[1]], 2);
  assert_string_equal(reco__ds_category_name(d, m->cat_idx[m->cat_ptr[0]]), "toys");
  reco_dataset_free(d);
}

static void test_subset_shares_ids(void **st) {
  (void)st;
  reco_dataset *d = tiny();
  uint8_t keep[6] = {1, 0, 1, 0, 0, 1};
  reco_dataset *s;
  assert_int_equal(reco__ds_subset(d, keep, &s), 0);
  assert_int_equal(s->n, 3);
  assert_int_equal(s->n_users, 3);
  assert_int_equal(s->n_items, 3);
  assert_string_equal(reco_dataset_item_id(s, 2), "z");
  assert_int_equal(s->uptr[3] - s->uptr[2], 0); /* c has nothing in the subset */
  reco_dataset_free(d);
  assert_string_equal(reco_dataset_user_id(s, 1), "b"); /* maps outlive the parent */
  reco_dataset_free(s);
}

static reco_dataset *grid(int nu, int ni) {
  reco_dataset *d = reco__ds_new();
  char b[16];
  for (int u = 0; u < nu; u++)
    for (int i = 0; i < ni; i++)
      if ((u * 7 + i * 3) % 4 != 0) {
        int32_t uu = reco__ds_user(d, b, (size_t)snprintf(b, sizeof b, "u%d", u));
        int32_t ii = reco__ds_item(d, b, (size_t)snprintf(b, sizeof b, "i%d", i));
        reco__ds_add(d, uu, ii, (float)(1 + (u + i) % 5), 1000 + u * 100 + i, RECO_EV_RATING);
      }
  assert_int_equal(reco__ds_finalize(d), 0);
  return d;
}

static void test_splits(void **st) {
  (void)st;
  reco_dataset *d = grid(50, 40);
  uint8_t *p = malloc(d->n), *q = malloc(d->n);
  /* LOO: exactly the latest of each user is test; with validation the second latest too */
  assert_int_equal(reco__split_loo(d, true, p), 0);
  for (int32_t u = 0; u < d->n_users; u++) {
    int tests = 0, vals = 0;
    int64_t tmax = -1;
    for (int64_t x = d->uptr[u]; x < d->uptr[u + 1]; x++) {
      int32_t k = d->urow[x];
      tests += p[k] == RECO_PART_TEST;
      vals += p[k] == RECO_PART_VALID;
      if (d->ts[k] > tmax) tmax = d->ts[k];
    }
    assert_int_equal(tests, 1);
    assert_int_equal(vals, 1);
    for (int64_t x = d->uptr[u]; x < d->uptr[u + 1]; x++)
      if (p[d->urow[x]] == RECO_PART_TEST) assert_true(d->ts[d->urow[x]] == tmax);
  }
  /* k-fold: folds partition the data; same seed, same folds */
  size_t total = 0;
  for (int f = 0; f < 5; f++) {
    assert_int_equal(reco__split_kfold(d, 5, f, 9, p), 0);
    assert_int_equal(reco__split_kfold(d, 5, f, 9, q), 0);
    assert_memory_equal(p, q, d->n);
    for (size_t k = 0; k < d->n; k++) total += p[k] == RECO_PART_TEST;
  }
  assert_int_equal(total, d->n);
  /* per-user ratio: each user keeps training data, ~20% test */
  assert_int_equal(reco__split_user_ratio(d, 0.2, 3, p), 0);
  size_t nt = 0;
  for (int32_t u = 0; u < d->n_users; u++) {
    int tr = 0;
    for (int64_t x = d->uptr[u]; x < d->uptr[u + 1]; x++) tr += p[d->urow[x]] == RECO_PART_TRAIN;
    assert_true(tr > 0);
  }
  for (size_t k = 0; k < d->n; k++) nt += p[k] == RECO_PART_TEST;
  assert_true(nt > d->n / 6 && nt < d->n / 4);
  /* temporal: every test timestamp is later than every train one */
  assert_int_equal(reco__split_temporal(d, 0.25, p), 0);
  int64_t max_train = 0, min_test = INT64_MAX;
  for (size_t k = 0; k < d->n; k++) {
    if (p[k] == RECO_PART_TEST && d->ts[k] < min_test) min_test = d->ts[k];
    if (p[k] == RECO_PART_TRAIN && d->ts[k] > max_train) max_train = d->ts[k];
  }
  assert_true(max_train < min_test);
  free(p);
  free(q);
  reco_dataset_free(d);
}

static void test_negatives(void **st) {
  (void)st;
  reco_dataset *d = grid(20, 30);
  int32_t users[3] = {0, 5, 19}, neg[3 * 5], neg2[3 * 5];
  assert_int_equal(reco__sample_negatives(d, users, 3, 5, 11, neg), 0);
  assert_int_equal(reco__sample_negatives(d, users, 3, 5, 11, neg2), 0);
  assert_memory_equal(neg, neg2, sizeof neg);
  for (int x = 0; x < 3; x++)
    for (int j = 0; j < 5; j++) {
      assert_int_equal(reco__ds_find(d, users[x], neg[x * 5 + j]), -1);
      for (int q = 0; q < j; q++) assert_int_not_equal(neg[x * 5 + j], neg[x * 5 + q]);
    }
  /* asking for more negatives than exist is an error, not a hang */
  assert_int_equal(reco__sample_negatives(d, users, 1, 29, 11, neg), RECO_EINVAL);
  reco_dataset_free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_csr), cmocka_unit_test(test_merge_max_sum), cmocka_unit_test(test_metadata),
      cmocka_unit_test(test_subset_shares_ids), cmocka_unit_test(test_splits), cmocka_unit_test(test_negatives),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
