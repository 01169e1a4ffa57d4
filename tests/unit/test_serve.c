/* test_serve.c - the service's pure parts: the JSON writer (escaping, numbers against printf
 * and strtod), route matching with :params, 404/405, and configuration parsing. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/base.h"
#include "serve/serve.h"

static void test_jstr(void **st) {
  (void)st;
  srv_buf b = {0};
  srv_buf_jstr(&b, "a\"b\\c\n\x01\xc3\xa9");
  assert_string_equal(b.p, "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\"");
  srv_buf_reset(&b);
  srv_buf_jstr(&b, NULL);
  assert_string_equal(b.p, "null");
  srv_buf_reset(&b);
  srv_buf_jint(&b, -1234567890123LL);
  srv_buf_puts(&b, ",");
  srv_buf_jint(&b, 0);
  assert_string_equal(b.p, "-1234567890123,0");
  srv_buf_free(&b);
}

/* Every number the fast path writes parses back to within 6 significant digits. */
static void test_jnum(void **st) {
  (void)st;
  srv_buf b = {0};
  const double fixed[] = {0, 1, -1, 0.5, 0.1, 4.3, 13.99, 2591, 0.000123456, 999999.5, 9.9999996, 1e-7, 3e12, -0.0312, -0.0};
  const char *want[] = {"0", "1", "-1", "0.5", "0.1", "4.3", "13.99", "2591", "0.000123456", "1e+06", "10", "1e-07", "3e+12", "-0.0312", "-0"};
  for (size_t k = 0; k < sizeof fixed / sizeof *fixed; k++) {
    srv_buf_reset(&b);
    srv_buf_jnum(&b, fixed[k]);
    double back = strtod(b.p, NULL);
    assert_true(fabs(back - fixed[k]) <= 5e-6 * fabs(fixed[k]) + 1e-300);
    if (strcmp(want[k], "1e+06")) assert_string_equal(b.p, want[k]); /* fast path prints 1000000 */
  }
  reco_rng r;
  reco__rng_seed(&r, 7);
  for (int k = 0; k < 100000; k++) {
    double v = (reco__rng_uniform(&r) - 0.5) * pow(10, (double)(int)reco__rng_below(&r, 14) - 5);
    srv_buf_reset(&b);
    srv_buf_jnum(&b, v);
    char *end;
    double back = strtod(b.p, &end);
    assert_true(*end == '\0');
    assert_true(fabs(back - v) <= 5e-6 * fabs(v));
  }
  srv_buf_reset(&b);
  srv_buf_jnum(&b, NAN);
  assert_string_equal(b.p, "null");
  srv_buf_free(&b);
}

static void test_routes(void **st) {
  (void)st;
  srv_req rq = {0};
  int n;
  const srv_route *r = srv_routes(&n);
  int k = srv_route_match("POST", "/api/v1/recommend", &rq);
  assert_true(k >= 0);
  assert_string_equal(r[k].name, "recommend");
  assert_int_equal(srv_route_match("POST", "/api/v1/recommend/", &rq), k);
  assert_int_equal(srv_route_match("GET", "/api/v1/recommend", &rq), -2);
  assert_int_equal(srv_route_match("GET", "/api/v1/recommendx", &rq), -1);
  assert_int_equal(srv_route_match("GET", "/api/v1", &rq), -1);
  assert_int_equal(srv_route_match("GET", "/", &rq), -1);
  assert_true(srv_route_pattern_match("/api/v1/user/:userId/profile", "/api/v1/user/user_12/profile", &rq));
  assert_int_equal(rq.n_params, 1);
  assert_string_equal(rq.params[0].value, "user_12");
  assert_int_equal(strncmp(rq.params[0].name, "userId/", 7), 0);
  assert_false(srv_route_pattern_match("/api/v1/user/:userId/profile", "/api/v1/user//profile", &rq));
  assert_false(srv_route_pattern_match("/api/v1/user/:userId/profile", "/api/v1/user/a/b/profile", &rq));
  assert_true(srv_route_pattern_match("/a/:x/:y", "/a/1/2", &rq));
  assert_int_equal(rq.n_params, 2);
  assert_string_equal(rq.params[1].value, "2");
  k = srv_route_match("HEAD", "/healthz", &rq);
  assert_true(k >= 0);
  assert_string_equal(r[k].name, "healthz");
}

static void test_config(void **st) {
  (void)st;
  srv_config c;
  char msg[256];
  srv_config_defaults(&c);
  assert_int_equal(c.port, 3000);
  assert_int_equal(c.rec_limit, 10);
  assert_string_equal(c.default_algo, "hybrid");
  assert_int_equal(srv_config_set(&c, "PORT", "8080", msg, sizeof msg), 0);
  assert_int_equal(c.port, 8080);
  assert_int_equal(srv_config_set(&c, "PORT", "80x", msg, sizeof msg), RECO_EINVAL);
  assert_non_null(strstr(msg, "PORT"));
  assert_int_equal(srv_config_set(&c, "RECOMMENDATION_LIMIT", "101", msg, sizeof msg), RECO_EINVAL);
  assert_int_equal(srv_config_set(&c, "PROTECTED_MODE", "no", msg, sizeof msg), 0);
  assert_false(c.protected_mode);
  char path[] = "/tmp/reco_test_env_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  FILE *f = fdopen(fd, "w");
  fputs("# comment\nexport PORT=4000\nHOST = \"127.0.0.1\"\nOTHER_TOOL=x\nDEFAULT_ALGORITHM='itemknn'\n", f);
  fclose(f);
  unsetenv("PORT"), unsetenv("HOST"), unsetenv("DEFAULT_ALGORITHM");
  setenv("RECOMMENDATION_LIMIT", "20", 1);
  srv_config_defaults(&c);
  assert_int_equal(srv_config_load(&c, path, msg, sizeof msg), 0);
  assert_int_equal(c.port, 4000);
  assert_string_equal(c.host, "127.0.0.1");
  assert_string_equal(c.default_algo, "itemknn");
  assert_int_equal(c.rec_limit, 20);
  setenv("PORT", "5000", 1); /* the environment wins over .env */
  assert_int_equal(srv_config_load(&c, path, msg, sizeof msg), 0);
  assert_int_equal(c.port, 5000);
  unsetenv("PORT"), unsetenv("RECOMMENDATION_LIMIT");
  remove(path);
}

/* The push channel's pieces that need no socket: its routes, settings and plain-HTTP answer. */
static void test_ws(void **st) {
  (void)st;
  srv_req rq = {0};
  int n;
  const srv_route *r = srv_routes(&n);
  int k = srv_route_match("GET", "/api/v1/ws", &rq);
  assert_true(k >= 0);
  assert_string_equal(r[k].name, "ws");
  assert_true(r[k].fn == srv_h_ws);
  k = srv_route_match("GET", "/ws", &rq);
  assert_true(k >= 0 && r[k].fn == srv_h_ws);
  assert_int_equal(srv_route_match("POST", "/api/v1/ws", &rq), -2);
  srv_resp rs = {0};
  assert_int_equal(srv_h_ws(&rq, &rs), 426);
  assert_non_null(strstr(rs.body.p, "\"field\":\"Upgrade\""));
  srv_buf_free(&rs.body);
  srv_config c;
  char msg[256];
  srv_config_defaults(&c);
  assert_int_equal(c.ws_max_clients, 256);
  assert_int_equal(c.ws_ping_s, 30);
  assert_int_equal(srv_config_set(&c, "WS_MAX_CLIENTS", "0", msg, sizeof msg), RECO_EINVAL);
  assert_non_null(strstr(msg, "WS_MAX_CLIENTS"));
  assert_int_equal(srv_config_set(&c, "WS_PING_INTERVAL", "5", msg, sizeof msg), 0);
  assert_int_equal(c.ws_ping_s, 5);
  srv_ws_notify("nobody", 6, 1); /* no push thread, no subscriber: a no-op */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_jstr),
      cmocka_unit_test(test_jnum),
      cmocka_unit_test(test_routes),
      cmocka_unit_test(test_config),
      cmocka_unit_test(test_ws),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
