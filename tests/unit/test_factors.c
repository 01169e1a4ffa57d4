/* test_factors.c - shared factor-row helpers: cosine similarity over strided rows, and the
 * similar() of the SGD factor models on real data. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "algo/algo.h"
#include "algo/factors.h"

static void test_similar_rows(void **st) {
  (void)st;
  /* 4 items, k = 2, stride 3 (padding ignored) */
  const float q[] = {1, 0, 99, 0.9f, 0.1f, 99, 0, 1, 99, -1, 0, 99};
  int32_t items[4];
  float sc[4];
  int n = reco__factors_similar_rows(q, 4, 2, 3, 0, 3, items, sc);
  assert_int_equal(n, 3);
  assert_int_equal(items[0], 1);
  assert_true(fabsf(sc[0] - 0.9f / sqrtf(0.82f)) < 1e-5f);
  assert_int_equal(items[1], 2);
  assert_true(fabsf(sc[1]) < 1e-6f);
  assert_int_equal(items[2], 3);
  assert_true(fabsf(sc[2] + 1) < 1e-6f);
  assert_int_equal(reco__factors_similar_rows(q, 4, 2, 3, 7, 3, items, sc), RECO_ENOTFOUND);
}

/* On MovieLens, an SGD model's nearest items by factor cosine are returned best first. */
static void test_model_similar(void **st) {
  (void)st;
  const char *dir = getenv("RECO_DATA_DIR");
  char path[1024];
  snprintf(path, sizeof path, "%s/ml-100k/u1.base", dir ? dir : "");
  FILE *f = fopen(path, "r");
  if (!f) {
    printf("skip: no ml-100k under RECO_DATA_DIR\n");
    skip();
  }
  fclose(f);
  reco_dataset *ds;
  assert_int_equal(reco_dataset_load(path, NULL, &ds), 0);
  const char *algos[] = {"svd", "nmf"};
  for (int a = 0; a < 2; a++) {
    reco_model *m;
    assert_int_equal(reco__model_new(algos[a], &m), 0);
    assert_int_equal(reco__model_fit(m, ds, NULL), 0);
    assert_true(m->algo->caps & RECO_CAP_SIMILAR);
    int32_t items[10];
    float sc[10];
    int n = m->algo->similar(m, 0, 10, items, sc);
    assert_int_equal(n, 10);
    for (int j = 0; j < n; j++) {
      assert_int_not_equal(items[j], 0);
      assert_true(sc[j] <= 1.0001f && sc[j] >= -1.0001f);
      if (j) assert_true(sc[j] <= sc[j - 1]);
    }
    reco__model_free(m);
  }
  reco_dataset_free(ds);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_similar_rows), cmocka_unit_test(test_model_similar)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
