/* test_algo_basic.c - random, popular and baseline: hand-computed values, parameters, ranking
 * with exclusions, and bit-identical save/load round trips. */
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

static int32_t U(reco_dataset *d, const char *s) { return reco__ds_user(d, s, strlen(s)); }
static int32_t I(reco_dataset *d, const char *s) { return reco__ds_item(d, s, strlen(s)); }

/* a-x 4, a-y 2, b-x 5, c-z 3 (timestamps decide trending) */
static reco_dataset *tiny(void) {
  reco_dataset *d = reco__ds_new();
  reco__ds_add(d, U(d, "a"), I(d, "x"), 4, 86400 * 1, RECO_EV_RATING);
  reco__ds_add(d, U(d, "a"), I(d, "y"), 2, 86400 * 10, RECO_EV_RATING);
  reco__ds_add(d, U(d, "b"), I(d, "x"), 5, 86400 * 2, RECO_EV_RATING);
  reco__ds_add(d, U(d, "c"), I(d, "z"), 3, 86400 * 10, RECO_EV_RATING);
  d->has_values = true;
  assert_int_equal(reco__ds_finalize(d), 0);
  return d;
}

static void test_baseline_by_hand(void **st) {
  (void)st;
  reco_dataset *d = tiny();
  reco_model *m;
  assert_int_equal(reco__model_new("baseline", &m), 0);
  assert_int_equal(reco__model_set(m, "reg_user", "1"), 0);
  assert_int_equal(reco__model_set(m, "reg_item", "1"), 0);
  assert_int_equal(reco__model_set(m, "epochs", "1"), 0);
  assert_int_equal(reco__model_fit(m, d, NULL), 0);
  double mu = 14.0 / 4;
  double bx = ((4 - mu) + (5 - mu)) / 3, by = (2 - mu) / 2, bz = (3 - mu) / 2;
  double ba = ((4 - mu - bx) + (2 - mu - by)) / 3;
  assert_true(fabs(m->global_mean - mu) < 1e-9);
  assert_true(fabs(reco__model_predict(m, 0, 0) - (mu + ba + bx)) < 1e-5);
  assert_true(fabs(reco__model_predict(m, 2, 2) - (mu + (3 - mu - bz) / 2 + bz)) < 1e-5);
  /* unknown user: mean + item bias; clipped to the training scale */
  assert_true(fabs(reco__model_predict(m, -1, 1) - (mu + by)) < 1e-5);
  reco__model_free(m);
  reco_dataset_free(d);
}

static void test_params(void **st) {
  (void)st;
  reco_model *m;
  assert_int_equal(reco__model_new("baseline", &m), 0);
  assert_int_equal(reco__model_set(m, "epochs", "x"), RECO_EINVAL);
  assert_non_null(strstr(reco_last_error(), "baseline.epochs"));
  assert_int_equal(reco__model_set(m, "epochs", "2.5"), RECO_EINVAL);
  assert_int_equal(reco__model_set(m, "epochs", "0"), RECO_ERANGE);
  assert_int_equal(reco__model_set(m, "nope", "1"), RECO_EINVAL);
  assert_non_null(strstr(reco_last_error(), "reg_user"));
  char js[256];
  assert_int_equal(reco__model_params_json(m, js, sizeof js), 0);
  assert_string_equal(js, "{\"reg_user\": 15, \"reg_item\": 10, \"epochs\": 10}");
  reco__model_free(m);
  assert_int_equal(reco__model_new("no-such-algo", &m), RECO_ENOTFOUND);
  assert_null(m);
}

static void test_popular_rank(void **st) {
  (void)st;
  reco_dataset *d = tiny();
  reco_model *m;
  assert_int_equal(reco__model_new("popular", &m), 0);
  assert_int_equal(reco__model_fit(m, d, NULL), 0);
  float scratch[3];
  reco_topk h;
  reco__topk_init(&h, 3);
  int32_t out[3];
  float sc[3];
  reco_user_view v = reco__view_of(d, 2); /* c has z */
  int n = reco__model_recommend(m, &v, v.items, v.n, 3, scratch, &h, out, sc);
  assert_int_equal(n, 2);
  assert_int_equal(out[0], 0); /* x: 2 users */
  assert_int_equal(out[1], 1); /* y: 1 user */
  assert_true(sc[0] == 2.0f);
  reco__model_free(m);
  /* trending with a 1-day half-life: recent y and z beat old x */
  assert_int_equal(reco__model_new("popular", &m), 0);
  assert_int_equal(reco__model_set(m, "half_life_days", "1"), 0);
  assert_int_equal(reco__model_fit(m, d, NULL), 0);
  reco_user_view none = {-1, NULL, NULL, NULL, 0};
  n = reco__model_recommend(m, &none, NULL, 0, 3, scratch, &h, out, sc);
  assert_int_equal(n, 3);
  assert_int_equal(out[0], 1);
  assert_int_equal(out[1], 2);
  assert_int_equal(out[2], 0);
  reco__topk_free(&h);
  reco__model_free(m);
  reco_dataset_free(d);
}

static void roundtrip(const char *algo) {
  reco_dataset *d = tiny();
  reco_model *m, *m2;
  assert_int_equal(reco__model_new(algo, &m), 0);
  assert_int_equal(reco__model_fit(m, d, NULL), 0);
  char path[] = "/tmp/reco-test-model-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(reco__model_save(m, path), 0);
  assert_int_equal(reco__model_load(path, &m2), 0);
  assert_string_equal(m2->algo->name, algo);
  assert_int_equal(m2->n_users, m->n_users);
  assert_int_equal(m2->n_items, m->n_items);
  assert_memory_equal(m2->params, m->params, sizeof m->params);
  float s1[3], s2[3];
  for (int32_t u = 0; u < 3; u++) {
    reco_user_view v = reco__view_of(d, u);
    assert_int_equal(m->algo->score(m, &v, s1), 0);
    assert_int_equal(m2->algo->score(m2, &v, s2), 0);
    assert_memory_equal(s1, s2, sizeof s1);
    for (int32_t i = 0; i < 3; i++) {
      float a = reco__model_predict(m, u, i), b = reco__model_predict(m2, u, i);
      assert_memory_equal(&a, &b, sizeof a);
    }
  }
  /* the in-memory form is the same bytes as the file, and loads back the same model */
  void *mem;
  size_t mem_len;
  assert_int_equal(reco__model_save_mem(m, &mem, &mem_len), 0);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  char *file = malloc(mem_len + 1);
  assert_int_equal(fread(file, 1, mem_len + 1, f), mem_len);
  fclose(f);
  assert_memory_equal(file, mem, mem_len);
  free(file);
  reco_model *m3;
  assert_int_equal(reco__model_load_mem(m->algo, mem, mem_len, "test", &m3), 0);
  assert_memory_equal(m3->params, m->params, sizeof m->params);
  reco__model_free(m3);
  assert_int_equal(reco__model_load_mem(reco__algo_find(strcmp(algo, "random") ? "random" : "popular"), mem, mem_len,
                                        "test", &m3),
                   RECO_EFORMAT);
  reco__free(mem);
  assert_non_null(m2->item_ids);
  assert_string_equal(reco__idmap_str(m2->item_ids, 2), "z");
  assert_string_equal(reco__idmap_str(m2->user_ids, 1), "b");
  reco__model_free(m);
  reco__model_free(m2);
  unlink(path);
  reco_dataset_free(d);
}

static void test_roundtrip_random(void **st) { (void)st; roundtrip("random"); }
static void test_roundtrip_popular(void **st) { (void)st; roundtrip("popular"); }
static void test_roundtrip_baseline(void **st) { (void)st; roundtrip("baseline"); }

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_baseline_by_hand), cmocka_unit_test(test_params), cmocka_unit_test(test_popular_rank),
      cmocka_unit_test(test_roundtrip_random), cmocka_unit_test(test_roundtrip_popular),
      cmocka_unit_test(test_roundtrip_baseline),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
