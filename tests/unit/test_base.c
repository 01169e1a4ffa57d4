/* test_base.c - id map, top-k heap, RNG, alias tables, error codes, UTF-8, allocation faults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "base/base.h"

static void test_errors(void **st) {
  (void)st;
  assert_string_equal(reco_strerror(RECO_EINVAL), "invalid argument");
  assert_string_equal(reco_err_name(RECO_EFORMAT), "RECO_EFORMAT");
  assert_string_equal(reco_strerror(0), "success");
  assert_int_equal(reco__seterr(RECO_EIO, "f:%d:%d: bad", 3, 4), RECO_EIO);
  assert_string_equal(reco_last_error(), "f:3:4: bad");
}

static void test_idmap(void **st) {
  (void)st;
  reco_idmap *m = reco__idmap_new();
  assert_non_null(m);
  char buf[32];
  for (int k = 0; k < 100000; k++) {
    int n = snprintf(buf, sizeof buf, "user_%d", k);
    assert_int_equal(reco__idmap_add(m, buf, (size_t)n), k);
  }
  assert_int_equal(reco__idmap_size(m), 100000);
  assert_int_equal(reco__idmap_add(m, "user_77", 7), 77); /* existing: same index */
  assert_int_equal(reco__idmap_get(m, "user_99999", 10), 99999);
  assert_int_equal(reco__idmap_get(m, "nope", 4), -1);
  assert_string_equal(reco__idmap_str(m, 12345), "user_12345");
  assert_null(reco__idmap_str(m, 100000));
  /* ids are bytes: embedded prefixes are distinct */
  assert_int_equal(reco__idmap_get(m, "user_1", 6), 1);
  assert_int_equal(reco__idmap_get(m, "user_1", 5), -1);
  reco_idmap *r = reco__idmap_ref(m);
  reco__idmap_unref(m);
  assert_string_equal(reco__idmap_str(r, 0), "user_0");
  reco__idmap_unref(r);
}

static void test_topk(void **st) {
  (void)st;
  reco_topk t;
  assert_int_equal(reco__topk_init(&t, 3), 0);
  float s[] = {0.5f, 2.0f, 1.0f, 2.0f, -1.0f, 1.5f};
  for (int i = 0; i < 6; i++) reco__topk_push(&t, s[i], i);
  assert_int_equal(reco__topk_sort(&t), 3);
  /* 2.0 twice: the smaller id first; then 1.5 */
  assert_int_equal(t.id[0], 1);
  assert_int_equal(t.id[1], 3);
  assert_int_equal(t.id[2], 5);
  reco__topk_reset(&t);
  reco__topk_push(&t, 1.0f, 9);
  assert_int_equal(reco__topk_sort(&t), 1);
  assert_int_equal(t.id[0], 9);
  reco__topk_free(&t);
}

static void test_topk_random(void **st) {
  (void)st;
  reco_rng r;
  reco__rng_seed(&r, 7);
  enum { N = 5000, K = 50 };
  static float s[N];
  reco_topk t;
  assert_int_equal(reco__topk_init(&t, K), 0);
  for (int i = 0; i < N; i++) {
    s[i] = (float)(reco__rng_below(&r, 1000)); /* many ties */
    reco__topk_push(&t, s[i], i);
  }
  reco__topk_sort(&t);
  /* check against a brute-force selection */
  static char used[N];
  memset(used, 0, sizeof used);
  for (int j = 0; j < K; j++) {
    int best = -1;
    for (int i = 0; i < N; i++)
      if (!used[i] && (best < 0 || s[i] > s[best])) best = i;
    used[best] = 1;
    assert_int_equal(t.id[j], best);
  }
  reco__topk_free(&t);
}

static void test_rng(void **st) {
  (void)st;
  reco_rng a, b;
  reco__rng_seed(&a, 123);
  reco__rng_seed(&b, 123);
  for (int k = 0; k < 100; k++) assert_true(reco__rng_next(&a) == reco__rng_next(&b));
  /* uniform below n: every value hit, none outside */
  int cnt[7] = {0};
  for (int k = 0; k < 70000; k++) {
    uint64_t v = reco__rng_below(&a, 7);
    assert_true(v < 7);
    cnt[v]++;
  }
  for (int k = 0; k < 7; k++) assert_true(cnt[k] > 9000 && cnt[k] < 11000);
  double sum = 0, sq = 0;
  for (int k = 0; k < 100000; k++) {
    double x = reco__rng_normal(&a);
    sum += x;
    sq += x * x;
  }
  assert_true(sum / 100000 > -0.02 && sum / 100000 < 0.02);
  assert_true(sq / 100000 > 0.97 && sq / 100000 < 1.03);
  double g = 0;
  for (int k = 0; k < 20000; k++) g += reco__rng_gamma(&a, 0.5);
  assert_true(g / 20000 > 0.47 && g / 20000 < 0.53); /* mean of Gamma(0.5, 1) */
}

static void test_alias(void **st) {
  (void)st;
  double w[4] = {1, 2, 3, 4};
  reco_alias al;
  assert_int_equal(reco__alias_init(&al, w, 4), 0);
  reco_rng r;
  reco__rng_seed(&r, 1);
  int cnt[4] = {0};
  for (int k = 0; k < 100000; k++) cnt[reco__alias_draw(&al, &r)]++;
  for (int k = 0; k < 4; k++) assert_true(cnt[k] > (k + 1) * 10000 - 800 && cnt[k] < (k + 1) * 10000 + 800);
  reco__alias_free(&al);
}

static void test_utf8(void **st) {
  (void)st;
  assert_int_equal(reco__utf8_invalid_at("abc", 3), -1);
  assert_int_equal(reco__utf8_invalid_at("a\xc3\xa9z", 4), -1);
  assert_int_equal(reco__utf8_invalid_at("ab\xff", 3), 2);
  assert_int_equal(reco__utf8_invalid_at("\xc3", 1), 0);           /* truncated */
  assert_int_equal(reco__utf8_invalid_at("\xed\xa0\x80", 3), 0);   /* surrogate */
  assert_int_equal(reco__utf8_invalid_at("\xc0\xaf", 2), 0);       /* overlong */
  char *out;
  size_t n;
  assert_int_equal(reco__latin1_to_utf8("caf\xe9", 4, &out, &n), 0);
  assert_string_equal(out, "caf\xc3\xa9");
  assert_int_equal(n, 5);
  reco__free(out);
}

static void test_alloc_fail(void **st) {
  (void)st;
  /* every allocation failure inside idmap growth is reported, never a crash */
  for (long n = 1; n < 40; n++) {
    reco_idmap *m = reco__idmap_new();
    if (!m) continue;
    reco__alloc_fail_after(n);
    char buf[16];
    int rc = 0;
    for (int k = 0; k < 3000 && rc >= 0; k++) rc = reco__idmap_add(m, buf, (size_t)snprintf(buf, sizeof buf, "%d", k));
    reco__alloc_fail_after(0);
    assert_true(rc >= 0 || rc == RECO_ENOMEM);
    reco__idmap_unref(m);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_errors), cmocka_unit_test(test_idmap), cmocka_unit_test(test_topk),
      cmocka_unit_test(test_topk_random), cmocka_unit_test(test_rng), cmocka_unit_test(test_alias),
      cmocka_unit_test(test_utf8), cmocka_unit_test(test_alloc_fail),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
