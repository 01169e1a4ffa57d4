/* test_content.c - the content-based model and its tokenizer: tf-idf values and similarities
 * on a three-item catalogue computed by hand, an item nobody interacted with, both scorers and
 * the three history weightings against hand values, explain, a history-only user, a
 * bit-identical save/load round trip, allocation failures, and (when RECO_DATA_DIR holds it)
 * ml-latest-small's Toy Story neighbours. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "algo/algo.h"
#include "algo/text.h"

/* ---- tokenizer ---- */

static void test_text(void **st) {
  (void)st;
  const char *s = "Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001)";
  size_t len = reco__text_strip_year(s, strlen(s));
  assert_int_equal(len, strlen("Amélie (Fabuleux destin d'Amélie Poulain, Le)"));
  const char *p = s, *end = s + len;
  char w[RECO_TEXT_WORD_MAX];
  const char *want[] = {"amélie", "fabuleux", "destin", "d", "amélie", "poulain", "le"};
  for (size_t k = 0; k < RECO_ARRAY_LEN(want); k++) {
    assert_int_equal(reco__text_next_word(&p, end, w), strlen(want[k]));
    assert_string_equal(w, want[k]);
  }
  assert_int_equal(reco__text_next_word(&p, end, w), 0);
  /* year groups: a range and an open end go, a non-year group stays */
  const char *t1 = "Babylon 5 (1994-1998)  ", *t2 = "Dexter (2006- )", *t3 = "Nikita (La Femme)", *t4 = "1984";
  assert_int_equal(reco__text_strip_year(t1, strlen(t1)), 9);
  assert_int_equal(reco__text_strip_year(t2, strlen(t2)), 6);
  assert_int_equal(reco__text_strip_year(t3, strlen(t3)), strlen(t3));
  assert_int_equal(reco__text_strip_year(t4, strlen(t4)), 4);
  /* stop words */
  assert_true(reco__text_is_stopword("the", 3));
  assert_true(reco__text_is_stopword("a", 1));
  assert_true(reco__text_is_stopword("your", 4));
  assert_true(reco__text_is_stopword("della", 5));
  assert_false(reco__text_is_stopword("then", 4));
  assert_false(reco__text_is_stopword("dogs", 4));
  assert_false(reco__text_is_stopword("", 0));
  /* a long word is cut at a UTF-8 boundary */
  char longw[200];
  memset(longw, 'a', 62);
  memcpy(longw + 62, "\xc3\xa9zz", 4); /* the "é" straddles the 63-byte limit */
  p = longw;
  assert_int_equal(reco__text_next_word(&p, longw + 66, w), 62);
  assert_ptr_equal(p, longw + 66);
  /* labels */
  char lab[16];
  assert_int_equal(reco__text_label("  Dark   Comedy ", 16, lab, sizeof lab), 11);
  assert_string_equal(lab, "dark comedy");
  assert_int_equal(reco__text_label("ABCDEFGHIJKLMNOPQRST", 20, lab, sizeof lab), 15);
}

/* ---- the hand example ----
 * A "Space Cats"            comedy, scifi      (users a, b)
 * B "Space Dogs (1999)"     comedy             (user b)
 * C "The Dogs of War Dogs"  drama              (nobody)
 * With min_df 1 and only the title and genre fields: N = 3, idf = ln 3/2 for space, dogs,
 * comedy (df 2) and ln 3 for cats, war, scifi, drama (df 1); dogs has tf 2 in C. */
static int32_t I(reco_dataset *d, const char *s) { return reco__ds_item(d, s, strlen(s)); }
static int32_t U(reco_dataset *d, const char *s) { return reco__ds_user(d, s, strlen(s)); }

static reco_dataset *catalogue(void) {
  reco_dataset *d = reco__ds_new();
  int32_t a = I(d, "A"), b = I(d, "B"), c = I(d, "C");
  assert_int_equal(reco__ds_set_title(d, a, "Space Cats", 10), 0);
  assert_int_equal(reco__ds_set_title(d, b, "Space Dogs (1999)", 17), 0);
  assert_int_equal(reco__ds_set_year(d, b, 1999), 0);
  assert_int_equal(reco__ds_set_title(d, c, "The Dogs of War Dogs", 20), 0);
  assert_int_equal(reco__ds_add_category(d, a, "Comedy", 6), 0);
  assert_int_equal(reco__ds_add_category(d, a, "SciFi", 5), 0);
  assert_int_equal(reco__ds_add_category(d, b, "comedy", 6), 0); /* one spelling after lower-casing */
  assert_int_equal(reco__ds_add_category(d, c, "Drama", 5), 0);
  assert_int_equal(reco__ds_add(d, U(d, "a"), a, 5, 1, RECO_EV_RATING), 0);
  assert_int_equal(reco__ds_add(d, U(d, "b"), a, 4, 2, RECO_EV_RATING), 0);
  assert_int_equal(reco__ds_add(d, U(d, "b"), b, 2, 3, RECO_EV_RATING), 0);
  d->has_values = true;
  assert_int_equal(reco__ds_finalize(d), 0);
  return d;
}

static reco_model *fit(reco_dataset *d, const char *const *sets, int n_sets) {
  reco_model *m;
  assert_int_equal(reco__model_new("content", &m), 0);
  assert_int_equal(reco__model_set(m, "min_df", "1"), 0);
  assert_int_equal(reco__model_set(m, "decade_weight", "0"), 0);
  for (int k = 0; k < n_sets; k++) {
    char key[64];
    const char *eq = strchr(sets[k], '=');
    snprintf(key, sizeof key, "%.*s", (int)(eq - sets[k]), sets[k]);
    assert_int_equal(reco__model_set(m, key, eq + 1), 0);
  }
  assert_int_equal(reco__model_fit(m, d, NULL), 0);
  return m;
}

static char *save_tmp(const reco_model *m) {
  static char path[64];
  snprintf(path, sizeof path, "/tmp/reco-test-content-XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(reco__model_save(m, path), 0);
  return path;
}

/* Weight of token `tok` in item `item`, read from the saved model file (0 when absent). */
static double weight_in_file(const reco_mf_reader *r, int32_t item, const char *tok) {
  const void *vocab, *ptr, *idx, *val;
  uint64_t vn, pn, in, valn;
  assert_int_equal(reco__mf_get(r, "vocab", RECO_DT_BYTES, &vocab, &vn), 0);
  assert_int_equal(reco__mf_get(r, "vec_ptr", RECO_DT_I64, &ptr, &pn), 0);
  assert_int_equal(reco__mf_get(r, "vec_tok", RECO_DT_I32, &idx, &in), 0);
  assert_int_equal(reco__mf_get(r, "vec_val", RECO_DT_F32, &val, &valn), 0);
  int32_t id = -1, k = 0;
  for (const char *s = vocab; s < (const char *)vocab + vn; s += strlen(s) + 1, k++)
    if (!strcmp(s, tok)) id = k;
  if (id < 0) return 0;
  const int64_t *p = ptr;
  for (int64_t q = p[item]; q < p[item + 1]; q++)
    if (((const int32_t *)idx)[q] == id) return ((const float *)val)[q];
  return 0;
}

static const double kL2 = 0.4054651081081644; /* ln(3/2) */
static const double kL3 = 1.0986122886681098; /* ln 3 */

/* Hand vectors (normalize=fields, both fields present in the catalogue: divide by sqrt 2). */
static void hand_vectors(double *a_space, double *a_cats, double *a_comedy, double *a_scifi, double *b_space,
                         double *b_dogs, double *b_comedy, double *c_dogs, double *c_war, double *c_drama) {
  double na = sqrt(kL2 * kL2 + kL3 * kL3), r2 = sqrt(2.0);
  *a_space = kL2 / na / r2, *a_cats = kL3 / na / r2, *a_comedy = kL2 / na / r2, *a_scifi = kL3 / na / r2;
  *b_space = *b_dogs = 1 / sqrt(2.0) / r2, *b_comedy = 1 / r2;
  double dogs = (1 + log(2.0)) * kL2, nc = sqrt(dogs * dogs + kL3 * kL3);
  *c_dogs = dogs / nc / r2, *c_war = kL3 / nc / r2, *c_drama = 1 / r2;
}

static void test_tfidf_by_hand(void **st) {
  (void)st;
  reco_dataset *d = catalogue();
  reco_model *m = fit(d, NULL, 0);
  char *path = save_tmp(m);
  reco_mf_reader *r;
  assert_int_equal(reco__mf_open(path, &r), 0);
  double as, ac, aco, asc, bs, bd, bco, cd, cw, cdr;
  hand_vectors(&as, &ac, &aco, &asc, &bs, &bd, &bco, &cd, &cw, &cdr);
  const double eps = 1e-6;
  assert_true(fabs(weight_in_file(r, 0, "w:space") - as) < eps);
  assert_true(fabs(weight_in_file(r, 0, "w:cats") - ac) < eps);
  assert_true(fabs(weight_in_file(r, 0, "g:comedy") - aco) < eps);
  assert_true(fabs(weight_in_file(r, 0, "g:scifi") - asc) < eps);
  assert_true(fabs(weight_in_file(r, 1, "w:space") - bs) < eps);
  assert_true(fabs(weight_in_file(r, 1, "w:dogs") - bd) < eps);
  assert_true(fabs(weight_in_file(r, 1, "g:comedy") - bco) < eps);
  assert_true(fabs(weight_in_file(r, 2, "w:dogs") - cd) < eps);
  assert_true(fabs(weight_in_file(r, 2, "w:war") - cw) < eps);
  assert_true(fabs(weight_in_file(r, 2, "g:drama") - cdr) < eps);
  /* dropped: the year group, stop words, the genre's capitals */
  assert_true(weight_in_file(r, 1, "w:1999") == 0);
  assert_true(weight_in_file(r, 2, "w:the") == 0);
  assert_true(weight_in_file(r, 2, "w:of") == 0);
  assert_true(weight_in_file(r, 0, "g:Comedy") == 0);
  /* the vocabulary is sorted by document frequency: the three df-2 tokens first */
  const void *vocab;
  uint64_t vn;
  assert_int_equal(reco__mf_get(r, "vocab", RECO_DT_BYTES, &vocab, &vn), 0);
  const char *first = vocab, *second = first + strlen(first) + 1, *third = second + strlen(second) + 1;
  for (const char *t = first; t != third + strlen(third) + 1; t += strlen(t) + 1)
    assert_true(!strcmp(t, "w:space") || !strcmp(t, "w:dogs") || !strcmp(t, "g:comedy"));
  const void *idf;
  uint64_t n_idf;
  assert_int_equal(reco__mf_get(r, "idf", RECO_DT_F32, &idf, &n_idf), 0);
  assert_int_equal(n_idf, 7);
  assert_true(fabs(((const float *)idf)[0] - kL2) < 1e-6);
  assert_true(fabs(((const float *)idf)[6] - kL3) < 1e-6);
  reco__mf_close(r);
  unlink(path);
  reco__model_free(m);
  reco_dataset_free(d);
}

static void test_similar_by_hand(void **st) {
  (void)st;
  reco_dataset *d = catalogue();
  reco_model *m = fit(d, NULL, 0);
  double as, ac, aco, asc, bs, bd, bco, cd, cw, cdr;
  hand_vectors(&as, &ac, &aco, &asc, &bs, &bd, &bco, &cd, &cw, &cdr);
  double ab = as * bs + aco * bco, bc = bd * cd;
  int32_t out[4];
  float sc[4];
  /* A: only B shares a token with it */
  assert_int_equal(m->algo->similar(m, 0, 4, out, sc), 1);
  assert_int_equal(out[0], 1);
  assert_true(fabs(sc[0] - ab) < 1e-6);
  /* B: A, then C */
  assert_int_equal(m->algo->similar(m, 1, 4, out, sc), 2);
  assert_int_equal(out[0], 0);
  assert_int_equal(out[1], 2);
  assert_true(fabs(sc[1] - bc) < 1e-6);
  assert_int_equal(m->algo->similar(m, 1, 1, out, sc), 1);
  assert_int_equal(m->algo->similar(m, 3, 4, out, sc), RECO_ENOTFOUND);
  reco__model_free(m);
  /* normalize=item: plain cosines; every item has both fields here, so the same values */
  const char *item[] = {"normalize=item"};
  m = fit(d, item, 1);
  assert_int_equal(m->algo->similar(m, 1, 4, out, sc), 2);
  assert_true(fabs(sc[0] - ab) < 1e-6 && fabs(sc[1] - bc) < 1e-6);
  reco__model_free(m);
  reco_dataset_free(d);
}

/* C has metadata but no interactions: it still has a vector and neighbours, and reaches lists. */
static void test_cold_item(void **st) {
  (void)st;
  reco_dataset *d = catalogue();
  assert_int_equal(d->iptr[3] - d->iptr[2], 0);
  reco_model *m = fit(d, NULL, 0);
  int32_t out[4];
  float sc[4];
  assert_int_equal(m->algo->similar(m, 2, 4, out, sc), 1);
  assert_int_equal(out[0], 1);
  assert_true(sc[0] > 0.1f);
  /* a history of B alone: A, then the cold C */
  int32_t hist[] = {1};
  reco_user_view v = {-1, hist, NULL, NULL, 1};
  float scratch[3];
  reco_topk h;
  assert_int_equal(reco__topk_init(&h, 3), 0);
  int n = reco__model_recommend(m, &v, hist, 1, 3, scratch, &h, out, sc);
  assert_int_equal(n, 2);
  assert_int_equal(out[0], 0);
  assert_int_equal(out[1], 2);
  assert_true(sc[1] > 0.1f);
  reco__topk_free(&h);
  reco__model_free(m);
  reco_dataset_free(d);
}

static void test_scores_by_hand(void **st) {
  (void)st;
  reco_dataset *d = catalogue();
  double as, ac, aco, asc, bs, bd, bco, cd, cw, cdr;
  hand_vectors(&as, &ac, &aco, &asc, &bs, &bd, &bco, &cd, &cw, &cdr);
  double ab = as * bs + aco * bco, bc = bd * cd;
  /* pop: A has 2 users, B 1, C 0 -> ln 3 / ln 3, ln 2 / ln 3, 0 */
  double pa = 1, pb = log(2.0) / log(3.0);
  int32_t hist[] = {0, 2};
  float vals[] = {5, 1}, s[3];
  reco_user_view v = {-1, hist, vals, NULL, 2};
  /* neighbours, values: B gets (5 ab + 1 bc) / 6; A gets C's similarity (0) */
  reco_model *m = fit(d, NULL, 0);
  assert_int_equal(m->algo->score(m, &v, s), 0);
  assert_true(fabs(s[1] - ((5 * ab + bc) / 6 + 1e-6 * pb)) < 1e-6);
  assert_true(fabs(s[0] - 1e-6 * pa) < 1e-9);
  reco__model_free(m);
  /* profile, values: p = 5 vA + vC, |p|^2 = 25 + 1 (unit vectors, vA . vC = 0) */
  const char *prof[] = {"scorer=profile", "pop_weight=0.5"};
  m = fit(d, prof, 2);
  assert_int_equal(m->algo->score(m, &v, s), 0);
  assert_true(fabs(s[1] - ((5 * ab + bc) / sqrt(26.0) + (0.5 + 1e-6) * pb)) < 1e-5);
  assert_true(fabs(s[0] - (5 / sqrt(26.0) + (0.5 + 1e-6) * pa)) < 1e-5);
  assert_true(fabs(s[2] - 1 / sqrt(26.0)) < 1e-5);
  reco__model_free(m);
  /* profile, centered: mean 3, weights +2 and -2; p = 2 vA - 2 vC, |p|^2 = 8 */
  const char *cent[] = {"scorer=profile", "weights=centered"};
  m = fit(d, cent, 2);
  assert_int_equal(m->algo->score(m, &v, s), 0);
  assert_true(fabs(s[1] - ((2 * ab - 2 * bc) / sqrt(8.0) + 1e-6 * pb)) < 1e-5);
  assert_true(fabs(s[2] - (-2 / sqrt(8.0))) < 1e-5);
  /* one item: nothing to centre, equal weights */
  reco_user_view one = {-1, hist, vals, NULL, 1};
  assert_int_equal(m->algo->score(m, &one, s), 0);
  assert_true(fabs(s[1] - (ab + 1e-6 * pb)) < 1e-5);
  reco__model_free(m);
  /* binary: values ignored, p = vA + vC, |p|^2 = 2 */
  const char *bin[] = {"scorer=profile", "weights=binary"};
  m = fit(d, bin, 2);
  assert_int_equal(m->algo->score(m, &v, s), 0);
  assert_true(fabs(s[1] - ((ab + bc) / sqrt(2.0) + 1e-6 * pb)) < 1e-5);
  reco__model_free(m);
  /* an empty history ranks by popularity alone */
  m = fit(d, NULL, 0);
  reco_user_view none = {-1, NULL, NULL, NULL, 0};
  assert_int_equal(m->algo->score(m, &none, s), 0);
  assert_true(s[0] > s[1] && s[1] > s[2]);
  reco__model_free(m);
  reco_dataset_free(d);
}

static void test_explain(void **st) {
  (void)st;
  reco_dataset *d = catalogue();
  reco_model *m = fit(d, NULL, 0);
  double as, ac, aco, asc, bs, bd, bco, cd, cw, cdr;
  hand_vectors(&as, &ac, &aco, &asc, &bs, &bd, &bco, &cd, &cw, &cdr);
  int32_t hist[] = {2, 0, 0};
  float vals[] = {1, 5, 5};
  reco_user_view v = {-1, hist, vals, NULL, 3};
  int32_t out[3];
  float w[3];
  /* why B: A (5 ab) before C (bc); A listed once */
  assert_int_equal(m->algo->explain(m, &v, 1, 3, out, w), 2);
  assert_int_equal(out[0], 0);
  assert_int_equal(out[1], 2);
  assert_true(fabs(w[0] - 5 * (as * bs + aco * bco)) < 1e-5);
  assert_true(fabs(w[1] - bd * cd) < 1e-5);
  assert_int_equal(m->algo->explain(m, &v, 1, 1, out, w), 1);
  assert_int_equal(out[0], 0);
  /* nothing in the history resembles A except A itself, which does not explain A */
  int32_t only_c[] = {2};
  reco_user_view vc = {-1, only_c, NULL, NULL, 1};
  assert_int_equal(m->algo->explain(m, &vc, 0, 3, out, w), 0);
  assert_int_equal(m->algo->explain(m, &vc, 7, 3, out, w), RECO_ENOTFOUND);
  reco__model_free(m);
  reco_dataset_free(d);
}

static void test_roundtrip(void **st) {
  (void)st;
  reco_dataset *d = catalogue();
  const char *prof[] = {"scorer=profile", "pop_weight=0.1"};
  for (int variant = 0; variant < 2; variant++) {
    reco_model *m = variant ? fit(d, prof, 2) : fit(d, NULL, 0), *m2;
    char *path = save_tmp(m);
    assert_int_equal(reco__model_load(path, &m2), 0);
    unlink(path);
    assert_string_equal(m2->algo->name, "content");
    assert_memory_equal(m2->params, m->params, sizeof m->params);
    float s1[3], s2[3];
    int32_t o1[3], o2[3];
    float w1[3], w2[3];
    for (int32_t u = -1; u < d->n_users; u++) {
      reco_user_view v = reco__view_of(d, u);
      int32_t hist[] = {2, 1};
      if (u < 0) v = (reco_user_view){-1, hist, NULL, NULL, 2};
      assert_int_equal(m->algo->score(m, &v, s1), 0);
      assert_int_equal(m2->algo->score(m2, &v, s2), 0);
      assert_memory_equal(s1, s2, sizeof s1);
      int n1 = m->algo->explain(m, &v, 1, 3, o1, w1), n2 = m2->algo->explain(m2, &v, 1, 3, o2, w2);
      assert_int_equal(n1, n2);
      assert_memory_equal(o1, o2, (size_t)n1 * sizeof *o1);
      assert_memory_equal(w1, w2, (size_t)n1 * sizeof *w1);
    }
    for (int32_t i = 0; i < 3; i++) {
      int n1 = m->algo->similar(m, i, 3, o1, w1), n2 = m2->algo->similar(m2, i, 3, o2, w2);
      assert_int_equal(n1, n2);
      assert_memory_equal(o1, o2, (size_t)n1 * sizeof *o1);
      assert_memory_equal(w1, w2, (size_t)n1 * sizeof *w1);
    }
    reco__model_free(m);
    reco__model_free(m2);
  }
  reco_dataset_free(d);
}

/* Every allocation of fit failing in turn: an error, never a crash or a leak (under ASan). */
static void test_alloc_failures(void **st) {
  (void)st;
  reco_dataset *d = catalogue();
  int failures = 0;
  for (long n = 1; n < 400; n++) {
    reco_model *m;
    assert_int_equal(reco__model_new("content", &m), 0);
    reco__alloc_fail_after(n);
    int rc = reco__model_fit(m, d, NULL);
    reco__alloc_fail_after(0);
    reco__model_free(m);
    if (rc == 0) break;
    assert_int_equal(rc, RECO_ENOMEM);
    failures++;
  }
  assert_true(failures > 10);
  reco_dataset_free(d);
}

/* Real data: Toy Story's neighbours include its sequels, and a history-only user who saw the
 * first two gets the third among their top three. */
static void test_movielens(void **st) {
  (void)st;
  const char *root = getenv("RECO_DATA_DIR");
  char dir[1024];
  struct stat sb;
  snprintf(dir, sizeof dir, "%s/ml-latest-small", root ? root : "");
  if (!root || stat(dir, &sb) != 0) {
    print_message("skipped: RECO_DATA_DIR does not hold ml-latest-small\n");
    skip();
  }
  reco_dataset *d;
  assert_int_equal(reco_dataset_load(dir, NULL, &d), 0);
  reco_model *m;
  assert_int_equal(reco__model_new("content", &m), 0);
  assert_int_equal(reco__model_fit(m, d, NULL), 0);
  int32_t toy = reco__idmap_get(d->items, "1", 1), toy2 = reco__idmap_get(d->items, "3114", 4),
          toy3 = reco__idmap_get(d->items, "78499", 5);
  int32_t out[10];
  float sc[10];
  assert_int_equal(m->algo->similar(m, toy, 10, out, sc), 10);
  bool has2 = false, has3 = false;
  for (int k = 0; k < 10; k++) has2 |= out[k] == toy2, has3 |= out[k] == toy3;
  assert_true(has2 && has3);
  int32_t hist[] = {toy, toy2};
  reco_user_view v = {-1, hist, NULL, NULL, 2};
  float *scratch = malloc((size_t)m->n_items * sizeof *scratch);
  reco_topk h;
  assert_int_equal(reco__topk_init(&h, 10), 0);
  int32_t excl[] = {RECO_MIN(toy, toy2), RECO_MAX(toy, toy2)};
  assert_int_equal(reco__model_recommend(m, &v, excl, 2, 10, scratch, &h, out, sc), 10);
  bool third = false;
  for (int k = 0; k < 3; k++) third |= out[k] == toy3;
  assert_true(third);
  reco__topk_free(&h);
  free(scratch);
  reco__model_free(m);
  reco_dataset_free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_text),        cmocka_unit_test(test_tfidf_by_hand), cmocka_unit_test(test_similar_by_hand),
      cmocka_unit_test(test_cold_item),   cmocka_unit_test(test_scores_by_hand), cmocka_unit_test(test_explain),
      cmocka_unit_test(test_roundtrip),   cmocka_unit_test(test_alloc_failures), cmocka_unit_test(test_movielens),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
