/* test_fjson.c - the hot-path JSON reader (src/serve/fjson.c): it accepts and rejects what
 * jansson (with JSON_REJECT_DUPLICATES, the service's other parser) does on a corpus of valid,
 * invalid and edge-case documents, decodes strings and numbers to the same values, and enforces
 * its limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/fjson.h"

/* Structural equality of an fjson value and a jansson value. */
static int same(const fj_doc *d, const fj_val *v, json_t *j) {
  switch (v->type) {
    case FJ_NULL: return json_is_null(j);
    case FJ_TRUE: return json_is_true(j);
    case FJ_FALSE: return json_is_false(j);
    case FJ_NUM: {
      if (!json_is_number(j)) return 0;
      double x = json_number_value(j);
      return x == v->num && (json_is_integer(j) == v->is_int);
    }
    case FJ_STR: return json_is_string(j) && json_string_length(j) == v->n && !memcmp(json_string_value(j), v->s, v->n);
    case FJ_ARR: {
      if (!json_is_array(j) || json_array_size(j) != v->n) return 0;
      size_t k = 0;
      for (const fj_val *c = fj_first(d, v); c; c = fj_next(d, c), k++)
        if (!same(d, c, json_array_get(j, k))) return 0;
      return k == v->n;
    }
    case FJ_OBJ: {
      if (!json_is_object(j) || json_object_size(j) != v->n) return 0;
      for (const fj_val *c = fj_first(d, v); c; c = fj_next(d, c)) {
        char key[256];
        if (c->key_len >= sizeof key || memchr(c->key, 0, c->key_len)) return 0;
        memcpy(key, c->key, c->key_len);
        key[c->key_len] = '\0';
        json_t *m = json_object_get(j, key);
        if (!m || !same(d, c, m)) return 0;
      }
      return 1;
    }
  }
  return 0;
}

static const char *const k_docs[] = {
    "{}", "[]", "{\"a\":1}", " {\"a\" : [1, 2.5, -3, 1e3, -0.0, 0.1, 123456789012, 4.0] } ",
    "{\"userId\":\"user_12345\",\"limit\":10,\"algorithm\":\"hybrid\",\"context\":{\"device\":\"mobile\"},"
    "\"filters\":{\"category\":[\"electronics\",\"books\"],\"minRating\":4.0},\"diversityWeight\":0.3}",
    "[\"\\u00e9\\u4e2d\\ud83d\\ude00\", \"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"]", "[\"caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80\"]",
    "[true,false,null]", "[[[[[]]]]]", "{\"a\":{\"b\":{\"c\":[{}]}}}", "[1.7976931348623157e308, 5e-324, 2.2250738585072014e-308]",
    "[0.30000000000000004, 123.456e-2, 1E+2, 9007199254740993, 0.1e1]", "[-1234567890123456789]",
    /* invalid */
    "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "[01]", "[1.]", "[.5]", "[1e]", "[-]", "[+1]",
    "[\"\\x\"]", "[\"\\u12\"]", "[\"\\ud800\"]", "[\"\\udc00\"]", "[\"\\ud800\\u0041\"]", "[\"\\u0000\"]",
    "[\"a\nb\"]", "[\"\xff\"]", "[\"\xc0\xaf\"]", "[\"\xed\xa0\x80\"]", "{\"a\":1,\"a\":2}", "[1] x", "[1][2]",
    "tru", "nul", "[NaN]", "[Infinity]", "[1e400]", "\"unterminated", "[\"a\"", "{\"a\":}", "[,1]",
};

static void test_agrees_with_jansson(void **st) {
  (void)st;
  fj_doc *d = fj_thread_doc();
  assert_non_null(d);
  for (size_t k = 0; k < sizeof k_docs / sizeof *k_docs; k++) {
    const char *s = k_docs[k];
    json_error_t e;
    json_t *j = json_loadb(s, strlen(s), JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
    int rc = fj_parse(d, s, strlen(s));
    if ((rc == 0) != (j != NULL)) fail_msg("document %zu (%s): fjson %s, jansson %s (%s)", k, s, rc ? "rejects" : "accepts",
                                           j ? "accepts" : "rejects", d->err);
    if (j) {
      if (!same(d, fj_root(d), j)) fail_msg("document %zu (%s): values differ", k, s);
      json_decref(j);
    } else {
      assert_true(d->err[0] != '\0');
      assert_non_null(strstr(d->err, "line "));
    }
  }
}

static void test_limits(void **st) {
  (void)st;
  fj_doc *d = fj_thread_doc();
  char deep[2 * FJ_MAX_DEPTH + 8];
  size_t n = 0;
  for (int k = 0; k <= FJ_MAX_DEPTH; k++) deep[n++] = '[';
  for (int k = 0; k <= FJ_MAX_DEPTH; k++) deep[n++] = ']';
  assert_int_equal(fj_parse(d, deep, n), -1);
  assert_non_null(strstr(d->err, "deeper"));
  assert_int_equal(fj_parse(d, deep + 1, n - 2), 0); /* exactly the limit */
  /* an object with too many members */
  size_t cap = (size_t)(FJ_MAX_MEMBERS + 2) * 16, o = 0;
  char *big = malloc(cap);
  assert_non_null(big);
  big[o++] = '{';
  for (int k = 0; k <= FJ_MAX_MEMBERS; k++) o += (size_t)snprintf(big + o, cap - o, "%s\"k%d\":%d", k ? "," : "", k, k);
  big[o++] = '}';
  assert_int_equal(fj_parse(d, big, o), -1);
  assert_non_null(strstr(d->err, "members"));
  free(big);
  /* the document is reusable after an error, and values are looked up by key */
  const char *ok = "{\"x\":[1,2,3],\"y\":\"z\"}";
  assert_int_equal(fj_parse(d, ok, strlen(ok)), 0);
  const fj_val *x = fj_get(d, fj_root(d), "x");
  assert_true(fj_is_arr(x));
  assert_int_equal(x->n, 3);
  assert_true(fj_is_str(fj_get(d, fj_root(d), "y")));
  assert_null(fj_get(d, fj_root(d), "w"));
  assert_null(fj_get(d, x, "x"));
}

/* Random mutations of valid documents: both parsers agree on acceptance, and on values. */
static void test_mutations(void **st) {
  (void)st;
  fj_doc *d = fj_thread_doc();
  uint64_t r = 42;
  const char alphabet[] = "{}[],:\"\\u0123456789abcdefe+-.tnl \x80\xc3\xa9";
  int agreed = 0;
  for (int it = 0; it < 20000; it++) {
    const char *base = k_docs[it % 13];
    char buf[512];
    size_t n = strlen(base);
    if (n >= sizeof buf - 4) continue;
    memcpy(buf, base, n);
    for (int m = 0; m < 1 + it % 3; m++) {
      r = r * 6364136223846793005ull + 1442695040888963407ull;
      size_t at = (size_t)(r >> 33) % (n + 1);
      char c = alphabet[(r >> 20) % (sizeof alphabet - 1)];
      switch ((r >> 10) % 3) {
        case 0: if (at < n) buf[at] = c; break;
        case 1: memmove(buf + at + 1, buf + at, n - at), buf[at] = c, n++; break;
        default: if (at < n) memmove(buf + at, buf + at + 1, n - at - 1), n--; break;
      }
    }
    json_error_t e;
    json_t *j = json_loadb(buf, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
    int rc = fj_parse(d, buf, n);
    if ((rc == 0) != (j != NULL)) fail_msg("mutation %d (%.*s): fjson %d, jansson %s", it, (int)n, buf, rc, j ? "accepts" : "rejects");
    if (j) {
      if (!same(d, fj_root(d), j)) fail_msg("mutation %d (%.*s): values differ", it, (int)n, buf);
      json_decref(j);
      agreed++;
    }
  }
  assert_true(agreed > 100); /* the mutations did not only produce garbage */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_agrees_with_jansson),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_mutations),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
