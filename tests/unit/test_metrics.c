/* test_metrics.c - every metric against values worked out by hand. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "eval/metrics.h"

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-9)

static void test_one_user(void **st) {
  (void)st;
  /* K = 3, list [5, 2, 9], test {2, 7}: one hit at rank 2 */
  reco_rank_acc a = {.k = 3};
  int32_t rec[] = {5, 2, 9}, test[] = {2, 7};
  reco__rank_add(&a, rec, 3, test, 2);
  reco_rank_result r = reco__rank_finish(&a);
  NEAR(r.precision, 1.0 / 3);
  NEAR(r.recall, 0.5);
  NEAR(r.ndcg, (1 / log2(3)) / (1 + 1 / log2(3)));
  NEAR(r.map, (1.0 / 2) / 2); /* P@2 = 1/2 at the hit, divided by min(K, |T|) = 2 */
  NEAR(r.mrr, 0.5);
  NEAR(r.hr, 1);
  assert_int_equal(r.users, 1);
}

static void test_two_users(void **st) {
  (void)st;
  /* user A: K=2, list [1, 2], test {1, 2, 3}: two hits. user B: list [4, 5], test {6}: none */
  reco_rank_acc a = {.k = 2};
  int32_t ra[] = {1, 2}, ta[] = {1, 2, 3}, rb[] = {4, 5}, tb[] = {6};
  reco__rank_add(&a, ra, 2, ta, 3);
  reco__rank_add(&a, rb, 2, tb, 1);
  reco_rank_result r = reco__rank_finish(&a);
  NEAR(r.precision, 2.0 / (2 * 2));          /* sum hits / (K * users) */
  NEAR(r.recall, (2.0 / 3 + 0) / 2);
  NEAR(r.ndcg, (1.0 + 0) / 2);               /* A: DCG = IDCG over min(2,3) = 2 positions */
  NEAR(r.map, ((1.0 + 1.0) / 2 + 0) / 2);    /* A: (P@1 + P@2) / min(2, 3) */
  NEAR(r.mrr, (1.0 + 0) / 2);
  NEAR(r.hr, 0.5);
}

static void test_short_list_and_empty_test(void **st) {
  (void)st;
  reco_rank_acc a = {.k = 10};
  int32_t rec[] = {3}, test[] = {3};
  reco__rank_add(&a, rec, 1, test, 1);
  reco__rank_add(&a, rec, 1, test, 0); /* no held-out items: skipped */
  reco_rank_result r = reco__rank_finish(&a);
  assert_int_equal(r.users, 1);
  NEAR(r.precision, 0.1); /* plain precision: the short list still counts K slots */
  NEAR(r.ndcg, 1);
}

static void test_sampled(void **st) {
  (void)st;
  reco_rank_acc a = {.k = 10};
  reco__rank_add_sampled(&a, 0);  /* first */
  reco__rank_add_sampled(&a, 9);  /* last inside */
  reco__rank_add_sampled(&a, 10); /* outside */
  reco_rank_result r = reco__rank_finish(&a);
  NEAR(r.hr, 2.0 / 3);
  NEAR(r.ndcg, (1 + 1 / log2(11)) / 3);
  NEAR(r.mrr, (1 + 0.1) / 3);
}

static void test_errors(void **st) {
  (void)st;
  reco_err_acc e = {0};
  reco__err_add(&e, 3, 4);
  reco__err_add(&e, 5, 3);
  NEAR(reco__err_rmse(&e), sqrt((1.0 + 4.0) / 2));
  NEAR(reco__err_mae(&e), 1.5);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_one_user), cmocka_unit_test(test_two_users), cmocka_unit_test(test_short_list_and_empty_test),
      cmocka_unit_test(test_sampled), cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
