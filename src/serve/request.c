/*
 * request.c - helpers every handler shares: JSON error responses that name the offending field,
 * parsing a body as a JSON object, and validated field access.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "base/base.h"
#include "fjson.h"
#include "serve.h"

double srv_ms_since(double t0) { return (reco__now() - t0) * 1e3; }

int srv_error(srv_resp *rs, int status, const char *code, const char *field, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  srv_buf_reset(&rs->body);
  rs->content_type = NULL;
  srv_buf_puts(&rs->body, "{\"status\":\"error\",\"error\":{\"code\":");
  srv_buf_jstr(&rs->body, code);
  srv_buf_puts(&rs->body, ",\"message\":");
  srv_buf_jstr(&rs->body, msg);
  if (field) {
    srv_buf_puts(&rs->body, ",\"field\":");
    srv_buf_jstr(&rs->body, field);
  }
  srv_buf_puts(&rs->body, "}}");
  return status;
}

json_t *srv_parse_object(srv_req *rq, srv_resp *rs, int *status) {
  json_error_t err;
  if (!rq->body_len) {
    *status = srv_error(rs, 400, "invalid_argument", NULL, "the request body must be a JSON object");
    return NULL;
  }
  json_t *j = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &err);
  if (!j) {
    *status = srv_error(rs, 400, "invalid_json", NULL, "invalid JSON at line %d, column %d: %s", err.line, err.column, err.text);
    return NULL;
  }
  if (!json_is_object(j)) {
    json_decref(j);
    *status = srv_error(rs, 400, "invalid_argument", NULL, "the request body must be a JSON object");
    return NULL;
  }
  return j;
}

bool srv_get_int(json_t *o, const char *field, long lo, long hi, long def, long *out, srv_resp *rs, int *status) {
  json_t *v = json_object_get(o, field);
  if (!v || json_is_null(v)) {
    *out = def;
    return true;
  }
  double d = json_is_integer(v) ? (double)json_integer_value(v) : json_is_real(v) ? json_real_value(v) : NAN;
  if (!json_is_number(v) || d != (double)(long)d || d < (double)lo || d > (double)hi) {
    *status = srv_error(rs, 400, "invalid_argument", field, "%s must be an integer in [%ld, %ld]", field, lo, hi);
    return false;
  }
  *out = (long)d;
  return true;
}

/* The fast path (fjson.h) of srv_parse_object, for the hot handlers: the same errors. */
const fj_val *srv_parse_fast(srv_req *rq, srv_resp *rs, int *status, fj_doc **doc) {
  *doc = NULL;
  if (!rq->body_len) {
    *status = srv_error(rs, 400, "invalid_argument", NULL, "the request body must be a JSON object");
    return NULL;
  }
  fj_doc *d = fj_thread_doc();
  int rc = d ? fj_parse(d, rq->body, rq->body_len) : -2;
  if (rc == -2) {
    *status = srv_error(rs, 503, "unavailable", NULL, "out of memory");
    return NULL;
  }
  if (rc) {
    *status = srv_error(rs, 400, "invalid_json", NULL, "invalid JSON at %s", d->err);
    return NULL;
  }
  const fj_val *root = fj_root(d);
  if (!fj_is_obj(root)) {
    *status = srv_error(rs, 400, "invalid_argument", NULL, "the request body must be a JSON object");
    return NULL;
  }
  *doc = d;
  return root;
}

bool srv_fget_int(const fj_doc *d, const fj_val *o, const char *field, long lo, long hi, long def, long *out,
                  srv_resp *rs, int *status) {
  const fj_val *v = fj_get(d, o, field);
  if (fj_is_null(v)) {
    *out = def;
    return true;
  }
  double x = fj_is_num(v) ? v->num : NAN;
  if (!fj_is_num(v) || !(x >= (double)lo && x <= (double)hi) || x != (double)(long)x) {
    *status = srv_error(rs, 400, "invalid_argument", field, "%s must be an integer in [%ld, %ld]", field, lo, hi);
    return false;
  }
  *out = (long)x;
  return true;
}
