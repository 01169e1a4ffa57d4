/*
 * jsonw.c - an append-only byte buffer with JSON emitters. The hot-path responses (recommend,
 * similar) are written with it instead of building a jansson tree: no per-value allocation, one
 * growing buffer per response. An allocation failure sets `oom` and later appends are dropped,
 * so callers check once at the end.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

static bool reserve(srv_buf *b, size_t extra) {
  if (b->oom) return false;
  if (b->len + extra + 1 <= b->cap) return true;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + extra + 1) cap *= 2;
  /* plain realloc: MHD frees the body with free() (MHD_RESPMEM_MUST_FREE) */
  char *p = realloc(b->p, cap);
  if (!p) {
    b->oom = true;
    return false;
  }
  b->p = p;
  b->cap = cap;
  return true;
}

void srv_buf_reserve(srv_buf *b, size_t n) { (void)reserve(b, n); }

void srv_buf_free(srv_buf *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

void srv_buf_reset(srv_buf *b) {
  b->len = 0;
  b->oom = false;
  if (b->p) b->p[0] = '\0';
}

void srv_buf_put_slow(srv_buf *b, const char *s, size_t n) {
  if (!reserve(b, n)) return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}


void srv_buf_printf(srv_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char tmp[256];
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof tmp) {
    srv_buf_put(b, tmp, (size_t)n);
    return;
  }
  if (!reserve(b, (size_t)n)) return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void srv_buf_jstrn(srv_buf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  /* worst case every byte becomes \u00XX */
  if (!reserve(b, n * 6 + 2)) return;
  char *o = b->p + b->len;
  *o++ = '"';
  for (size_t k = 0; k < n; k++) {
    unsigned char c = (unsigned char)s[k];
    switch (c) {
    case '"': *o++ = '\\', *o++ = '"'; break;
    case '\\': *o++ = '\\', *o++ = '\\'; break;
    case '\n': *o++ = '\\', *o++ = 'n'; break;
    case '\r': *o++ = '\\', *o++ = 'r'; break;
    case '\t': *o++ = '\\', *o++ = 't'; break;
    default:
      if (c < 0x20) {
        *o++ = '\\', *o++ = 'u', *o++ = '0', *o++ = '0';
        *o++ = hex[c >> 4], *o++ = hex[c & 15];
      } else {
        *o++ = (char)c;
      }
    }
  }
  *o++ = '"';
  *o = '\0';
  b->len = (size_t)(o - b->p);
}

void srv_buf_jstr(srv_buf *b, const char *s) {
  if (!s) srv_buf_put(b, "null", 4);
  else srv_buf_jstrn(b, s, strlen(s));
}

void srv_buf_jnum(srv_buf *b, double v) {
  if (!isfinite(v)) {
    srv_buf_put(b, "null", 4);
    return;
  }
  /* Fast path, 6 significant digits in plain decimal for 1e-4 <= |v| < 1e9 (scores,
   * similarities, prices, latencies): integer arithmetic instead of printf's (which was a
   * tenth of a recommend request's CPU). Elsewhere, and for exact zero, printf. */
  double a = fabs(v);
  char tmp[40];
  if (a == 0) { /* "%.6g" of either zero, without printf */
    if (signbit(v)) srv_buf_put(b, "-0", 2);
    else srv_buf_put(b, "0", 1);
    return;
  }
  if (a >= 1e-4 && a < 1e9) {
    /* e = floor(log10(a)) by comparison (log10 was most of this function's time) */
    static const double bound[] = {1e-3, 1e-2, 1e-1, 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
    int e = -4;
    while (e < 8 && a >= bound[e + 4]) e++;
    int dec = 5 - e;
    if (dec < 0) dec = 0;
    static const double p10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10};
    /* q = a * 10^dec rounded half away from zero (as llround; q >= 10^5 here, so adding 0.5
     * and truncating is exact), at most 10 digits */
    uint64_t q = (uint64_t)(a * p10[dec] + 0.5);
    char dg[24];
    int nd = 0;
    do dg[nd++] = (char)('0' + q % 10), q /= 10; while (q); /* least significant first */
    while (nd <= dec) dg[nd++] = '0';                       /* at least one integer digit */
    int lo = 0;                                             /* trailing zeros of the fraction */
    while (lo < dec && dg[lo] == '0') lo++;
    char *o = tmp;
    if (v < 0) *o++ = '-';
    for (int d = nd - 1; d >= dec; d--) *o++ = dg[d];
    if (lo < dec) {
      *o++ = '.';
      for (int d = dec - 1; d >= lo; d--) *o++ = dg[d];
    }
    srv_buf_put(b, tmp, (size_t)(o - tmp));
    return;
  }
  int n = snprintf(tmp, sizeof tmp, "%.6g", v);
  srv_buf_put(b, tmp, (size_t)n);
}

void srv_buf_jint(srv_buf *b, int64_t v) {
  char tmp[24], *e = tmp + sizeof tmp, *p = e;
  uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  do {
    *--p = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) *--p = '-';
  srv_buf_put(b, p, (size_t)(e - p));
}
