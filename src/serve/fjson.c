/*
 * fjson.c - the strict JSON reader of fjson.h: recursive descent over the bytes with a depth
 * limit, values appended to a per-thread array, strings decoded into a per-thread arena.
 *
 * Sizes: a document of n bytes has at most n values (each takes at least one byte) and its
 * decoded strings take at most n + (number of strings) bytes (an escape never decodes longer
 * than it is written, and each string adds its NUL, which the closing quote pays for). So the
 * arena is reserved once per parse at n + 1 bytes and string decoding never checks bounds
 * again; values grow the array geometrically up to FJ_MAX_VALUES.
 */
#include "fjson.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

typedef struct parser {
  fj_doc *d;
  const unsigned char *s, *p, *end;
  int depth;
  bool oom;
} parser;

static int fail(parser *ps, const unsigned char *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(parser *ps, const unsigned char *at, const char *fmt, ...) {
  int line = 1, col = 1;
  for (const unsigned char *q = ps->s; q < at && q < ps->end; q++) {
    if (*q == '\n') line++, col = 1;
    else col++;
  }
  int o = snprintf(ps->d->err, sizeof ps->d->err, "line %d, column %d: ", line, col);
  va_list ap;
  va_start(ap, fmt);
  if (o > 0 && (size_t)o < sizeof ps->d->err) vsnprintf(ps->d->err + o, sizeof ps->d->err - (size_t)o, fmt, ap);
  va_end(ap);
  return -1;
}

static inline void skip_ws(parser *ps) {
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t')) ps->p++;
}

/* A new value; returns its index, or 0 on failure (0 is the root, never returned twice). */
static uint32_t new_val(parser *ps, uint8_t type) {
  fj_doc *d = ps->d;
  if (d->n == FJ_MAX_VALUES) {
    fail(ps, ps->p, "more than %d values", FJ_MAX_VALUES);
    return UINT32_MAX;
  }
  if (d->n == d->cap) {
    uint32_t cap = d->cap ? d->cap * 2 : 64;
    if (cap > FJ_MAX_VALUES) cap = FJ_MAX_VALUES;
    fj_val *v = realloc(d->v, (size_t)cap * sizeof *v);
    if (!v) {
      ps->oom = true;
      fail(ps, ps->p, "out of memory");
      return UINT32_MAX;
    }
    d->v = v;
    d->cap = cap;
  }
  uint32_t i = d->n++;
  memset(&d->v[i], 0, sizeof d->v[i]);
  d->v[i].type = type;
  return i;
}

static int hex4(const unsigned char *p, uint32_t *out) {
  uint32_t v = 0;
  for (int k = 0; k < 4; k++) {
    unsigned c = p[k];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= c - '0';
    else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
    else return -1;
  }
  *out = v;
  return 0;
}

/* A string starting after its opening quote; decoded into the arena. */
static int parse_string(parser *ps, const char **out, uint32_t *out_len) {
  fj_doc *d = ps->d;
  char *dst = d->str + d->slen, *o = dst;
  const unsigned char *p = ps->p, *end = ps->end;
  for (;;) {
    const unsigned char *run = p;
    unsigned char hi = 0; /* any byte >= 0x80: only then is the run checked as UTF-8 */
    /* eight bytes at a time while none is '"', '\\' or below 0x20 (the exact "has a byte
     * equal to / less than" word tests), then byte by byte up to the one that stops the run */
    uint64_t hiw = 0;
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    while (end - p >= 8) {
      uint64_t w, q, b;
      memcpy(&w, p, sizeof w);
      q = w ^ (ones * '"');
      b = w ^ (ones * '\\');
      if ((((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w)) & highs) break;
      hiw |= w;
      p += 8;
    }
    if (hiw & highs) hi = 0x80;
    while (p < end && *p != '"' && *p != '\\' && *p >= 0x20) hi |= *p++;
    if (p > run) {
      long bad = hi & 0x80 ? reco__utf8_invalid_at((const char *)run, (size_t)(p - run)) : -1;
      if (bad >= 0) return fail(ps, run + bad, "invalid UTF-8 in a string");
      memcpy(o, run, (size_t)(p - run));
      o += p - run;
    }
    if (p >= end) return fail(ps, p, "unterminated string");
    if (*p == '"') {
      p++;
      break;
    }
    if (*p < 0x20) return fail(ps, p, "control character in a string (escape it)");
    /* an escape */
    if (end - p < 2) return fail(ps, p, "unterminated string");
    unsigned char e = p[1];
    p += 2;
    switch (e) {
      case '"': *o++ = '"'; break;
      case '\\': *o++ = '\\'; break;
      case '/': *o++ = '/'; break;
      case 'b': *o++ = '\b'; break;
      case 'f': *o++ = '\f'; break;
      case 'n': *o++ = '\n'; break;
      case 'r': *o++ = '\r'; break;
      case 't': *o++ = '\t'; break;
      case 'u': {
        uint32_t cp;
        if (end - p < 4 || hex4(p, &cp)) return fail(ps, p - 2, "invalid \\u escape");
        p += 4;
        if (cp >= 0xdc00 && cp <= 0xdfff) return fail(ps, p - 6, "invalid Unicode: a lone low surrogate");
        if (cp >= 0xd800 && cp <= 0xdbff) {
          uint32_t lo;
          if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
            return fail(ps, p - 6, "invalid Unicode: a high surrogate without its low half");
          p += 6;
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        if (cp == 0) return fail(ps, p - 6, "\\u0000 is not allowed in strings");
        if (cp < 0x80) {
          *o++ = (char)cp;
        } else if (cp < 0x800) {
          *o++ = (char)(0xc0 | (cp >> 6));
          *o++ = (char)(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
          *o++ = (char)(0xe0 | (cp >> 12));
          *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
          *o++ = (char)(0x80 | (cp & 0x3f));
        } else {
          *o++ = (char)(0xf0 | (cp >> 18));
          *o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
          *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
          *o++ = (char)(0x80 | (cp & 0x3f));
        }
        break;
      }
      default: return fail(ps, p - 2, "invalid escape '\\%c'", e >= 0x20 && e < 0x7f ? e : '?');
    }
  }
  *o++ = '\0';
  ps->p = p;
  *out = dst;
  *out_len = (uint32_t)(o - dst - 1);
  d->slen += (size_t)(o - dst);
  return 0;
}

static const double k_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int parse_number(parser *ps, fj_val *v) {
  const unsigned char *start = ps->p, *p = ps->p, *end = ps->end;
  bool neg = false, frac = false, expo = false;
  uint64_t mant = 0;
  int digits = 0, scale = 0; /* value = mant * 10^-scale while digits <= 19 */
  if (p < end && *p == '-') neg = true, p++;
  if (p >= end || *p < '0' || *p > '9') return fail(ps, start, "invalid number");
  if (*p == '0') {
    p++;
  } else {
    while (p < end && *p >= '0' && *p <= '9') {
      if (digits < 19) mant = mant * 10 + (uint64_t)(*p - '0');
      else scale--; /* beyond the mantissa: the slow path below */
      digits++;
      p++;
    }
  }
  if (p < end && *p == '.') {
    frac = true;
    p++;
    if (p >= end || *p < '0' || *p > '9') return fail(ps, start, "invalid number: digits must follow '.'");
    while (p < end && *p >= '0' && *p <= '9') {
      if (digits < 19) mant = mant * 10 + (uint64_t)(*p - '0'), scale++;
      if (mant || *p != '0') digits++;
      p++;
    }
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    expo = true;
    p++;
    if (p < end && (*p == '+' || *p == '-')) p++;
    if (p >= end || *p < '0' || *p > '9') return fail(ps, start, "invalid number: digits must follow the exponent");
    while (p < end && *p >= '0' && *p <= '9') p++;
  }
  ps->p = p;
  v->is_int = !frac && !expo;
  /* Clinger's fast path: an exact mantissa below 2^53 and a power of ten that is exact give a
   * correctly rounded quotient/product; anything else goes to strtod */
  if (!expo && digits <= 15 && scale >= 0 && scale <= 22 && mant < (1ull << 53)) {
    double x = (double)mant / k_pow10[scale];
    v->num = neg ? -x : x;
    return 0;
  }
  char buf[512];
  size_t len = (size_t)(p - start);
  if (len >= sizeof buf) return fail(ps, start, "number longer than %zu characters", sizeof buf - 1);
  memcpy(buf, start, len);
  buf[len] = '\0';
  if (v->is_int && digits >= 19) { /* integers must fit 64 bits, as jansson's */
    errno = 0;
    (void)strtoll(buf, NULL, 10);
    if (errno == ERANGE) return fail(ps, start, "integer out of the 64-bit range");
  }
  errno = 0;
  double x = strtod(buf, NULL);
  if (!isfinite(x) || (errno == ERANGE && fabs(x) > 1)) return fail(ps, start, "number out of range");
  v->num = x;
  return 0;
}

static int parse_value(parser *ps, uint32_t *out);

static int parse_container(parser *ps, uint32_t self, bool obj) {
  if (++ps->depth > FJ_MAX_DEPTH) return fail(ps, ps->p - 1, "nested deeper than %d levels", FJ_MAX_DEPTH);
  skip_ws(ps);
  char close = obj ? '}' : ']';
  if (ps->p < ps->end && *ps->p == close) {
    ps->p++;
    ps->depth--;
    return 0;
  }
  uint32_t last = 0, count = 0;
  for (;;) {
    const char *key = NULL;
    uint32_t key_len = 0;
    if (obj) {
      skip_ws(ps);
      if (ps->p >= ps->end || *ps->p != '"') return fail(ps, ps->p, "expected a string key");
      const unsigned char *kat = ps->p;
      ps->p++;
      if (parse_string(ps, &key, &key_len)) return -1;
      /* duplicates are an error (as jansson's JSON_REJECT_DUPLICATES); objects are small */
      for (uint32_t c = ps->d->v[self].first; c; c = ps->d->v[c].next)
        if (ps->d->v[c].key_len == key_len && !memcmp(ps->d->v[c].key, key, key_len))
          return fail(ps, kat, "duplicate key \"%.*s\"", (int)(key_len < 64 ? key_len : 64), key);
      skip_ws(ps);
      if (ps->p >= ps->end || *ps->p != ':') return fail(ps, ps->p, "expected ':'");
      ps->p++;
    }
    if (obj && count == FJ_MAX_MEMBERS) return fail(ps, ps->p, "an object with more than %d members", FJ_MAX_MEMBERS);
    uint32_t child;
    if (parse_value(ps, &child)) return -1;
    ps->d->v[child].key = key;
    ps->d->v[child].key_len = key_len;
    if (last) ps->d->v[last].next = child;
    else ps->d->v[self].first = child;
    last = child;
    count++;
    skip_ws(ps);
    if (ps->p >= ps->end) return fail(ps, ps->p, "unexpected end of input");
    if (*ps->p == ',') {
      ps->p++;
      continue;
    }
    if (*ps->p == close) {
      ps->p++;
      break;
    }
    return fail(ps, ps->p, "expected ',' or '%c'", close);
  }
  ps->d->v[self].n = count;
  ps->depth--;
  return 0;
}

static int literal(parser *ps, const char *word, size_t n) {
  if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n)) return fail(ps, ps->p, "invalid literal");
  ps->p += n;
  return 0;
}

static int parse_value(parser *ps, uint32_t *out) {
  skip_ws(ps);
  if (ps->p >= ps->end) return fail(ps, ps->p, "unexpected end of input");
  unsigned char c = *ps->p;
  uint32_t i;
  switch (c) {
    case '{':
    case '[':
      if ((i = new_val(ps, c == '{' ? FJ_OBJ : FJ_ARR)) == UINT32_MAX) return -1;
      ps->p++;
      *out = i;
      return parse_container(ps, i, c == '{');
    case '"': {
      if ((i = new_val(ps, FJ_STR)) == UINT32_MAX) return -1;
      ps->p++;
      const char *s;
      uint32_t n;
      if (parse_string(ps, &s, &n)) return -1;
      ps->d->v[i].s = s;
      ps->d->v[i].n = n;
      *out = i;
      return 0;
    }
    case 't':
      if ((i = new_val(ps, FJ_TRUE)) == UINT32_MAX) return -1;
      *out = i;
      return literal(ps, "true", 4);
    case 'f':
      if ((i = new_val(ps, FJ_FALSE)) == UINT32_MAX) return -1;
      *out = i;
      return literal(ps, "false", 5);
    case 'n':
      if ((i = new_val(ps, FJ_NULL)) == UINT32_MAX) return -1;
      *out = i;
      return literal(ps, "null", 4);
    default:
      if (c == '-' || (c >= '0' && c <= '9')) {
        if ((i = new_val(ps, FJ_NUM)) == UINT32_MAX) return -1;
        *out = i;
        const unsigned char *start = ps->p;
        if (parse_number(ps, &ps->d->v[i])) return -1;
        ps->d->v[i].s = (const char *)start; /* the token as written (not NUL-terminated) */
        ps->d->v[i].n = (uint32_t)(ps->p - start);
        return 0;
      }
      return fail(ps, ps->p, c >= 0x20 && c < 0x7f ? "unexpected character '%c'" : "unexpected byte 0x%02x", c);
  }
}

int fj_parse(fj_doc *d, const char *s, size_t n) {
  d->n = 0;
  d->slen = 0;
  d->err[0] = '\0';
  if (n + 1 > d->scap) {
    size_t cap = d->scap ? d->scap : 256;
    while (cap < n + 1) cap *= 2;
    char *p = realloc(d->str, cap);
    if (!p) {
      snprintf(d->err, sizeof d->err, "out of memory");
      return -2;
    }
    d->str = p;
    d->scap = cap;
  }
  parser ps = {.d = d, .s = (const unsigned char *)s, .p = (const unsigned char *)s, .end = (const unsigned char *)s + n};
  uint32_t root;
  if (parse_value(&ps, &root)) {
    d->n = 0;
    return ps.oom ? -2 : -1;
  }
  skip_ws(&ps);
  if (ps.p != ps.end) {
    d->n = 0;
    return fail(&ps, ps.p, "unexpected data after the value");
  }
  return 0;
}

const fj_val *fj_get(const fj_doc *d, const fj_val *obj, const char *key) {
  if (!obj || obj->type != FJ_OBJ) return NULL;
  size_t kl = strlen(key);
  for (uint32_t c = obj->first; c; c = d->v[c].next)
    if (d->v[c].key_len == kl && !memcmp(d->v[c].key, key, kl)) return &d->v[c];
  return NULL;
}

void fj_doc_free(fj_doc *d) {
  if (!d) return;
  free(d->v);
  free(d->str);
  free(d);
}

static pthread_key_t g_key;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static void doc_free_void(void *p) { fj_doc_free(p); }
static void make_key(void) { pthread_key_create(&g_key, doc_free_void); }

fj_doc *fj_thread_doc(void) {
  pthread_once(&g_once, make_key);
  fj_doc *d = pthread_getspecific(g_key);
  if (d) return d;
  if (!(d = calloc(1, sizeof *d))) return NULL;
  if (pthread_setspecific(g_key, d)) {
    free(d);
    return NULL;
  }
  return d;
}
