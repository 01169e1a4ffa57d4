/*
 * load.c - the front door of the loaders: reco_dataset_load(), reco__load_into() with format
 * detection and per-folder dispatch, and the text toolkit every loader shares (whole-file
 * reading with encoding checks, "FILE:LINE:COL" errors, the RFC 4180 record splitter, number
 * and time parsing). The per-format parsers live in load_movielens.c, load_csv.c, load_jsonl.c.
 *
 * Detection (RECO_FMT_AUTO):
 *   folder: u.data -> ml-100k, ratings.dat -> ml-1m, ratings.csv -> ml-latest,
 *           interactions.csv -> reco (checked in that order);
 *   file:   u.data, u*.base, u*.test, u.item, u.user -> ml-100k; *.dat whose first line holds
 *           "::" -> ml-1m; movies.csv, tags.csv -> ml-latest; items.csv, users.csv -> reco;
 *           *.jsonl, *.ndjson -> JSON lines; anything else -> CSV/TSV with a header.
 * A folder's metadata files are loaded before its interactions so that item (and user) indices
 * follow the catalogue's order, and catalogue items without interactions still exist.
 */
#include "load.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- reading a whole file ---- */

/* Files at least this big are mapped rather than read (a file truncated by another process
 * while it is being loaded then raises SIGBUS; loaders read files that are complete). */
#define RECO_LOAD_MAP_MIN ((off_t)64 << 20)

/* Length of the valid UTF-8 sequence at s (n bytes available, s[0] >= 0x80), 0 if invalid:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  size_t len;
  uint32_t cp;
  if (c >= 0xc2 && c <= 0xdf) len = 2, cp = c & 0x1f;
  else if (c >= 0xe0 && c <= 0xef) len = 3, cp = c & 0x0f;
  else if (c >= 0xf0 && c <= 0xf4) len = 4, cp = c & 0x07;
  else return 0;
  if (len > n) return 0;
  for (size_t k = 1; k < len; k++) {
    if ((s[k] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (s[k] & 0x3f);
  }
  if (len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) return 0;
  if (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) return 0;
  return len;
}

/* Offset of the first invalid UTF-8 byte, or -1. ASCII is skipped eight bytes at a time. */
static long utf8_check(const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < n) {
    if (i + 8 <= n) {
      uint64_t w;
      memcpy(&w, s + i, 8);
      if (!(w & 0x8080808080808080ull)) {
        i += 8;
        continue;
      }
    }
    if (s[i] < 0x80) {
      i++;
      continue;
    }
    size_t k = utf8_seq(s + i, n - i);
    if (!k) return (long)i;
    i += k;
  }
  return -1;
}

static bool has_high_bytes(const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  for (size_t i = 0; i < n; i++)
    if (s[i] >= 0x80) return true;
  return false;
}

static int read_fd(int fd, const struct stat *st, const char *path, char **out, size_t *out_len) {
  size_t cap = S_ISREG(st->st_mode) ? (size_t)st->st_size + 1 : 65536, len = 0;
  char *buf = reco__malloc(cap + 1);
  if (!buf) return reco__seterr(RECO_ENOMEM, "%s: out of memory reading %zu bytes", path, cap);
  for (;;) {
    if (len == cap) {
      if (S_ISREG(st->st_mode) && len > (size_t)st->st_size) break; /* grew while reading: stop */
      size_t nc = cap * 2;
      char *nb = reco__realloc(buf, nc + 1);
      if (!nb) {
        reco__free(buf);
        return reco__seterr(RECO_ENOMEM, "%s: out of memory reading %zu bytes", path, nc);
      }
      buf = nb;
      cap = nc;
    }
    ssize_t r = read(fd, buf + len, cap - len);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      reco__free(buf);
      return reco__seterr(RECO_EIO, "%s: read failed: %s", path, strerror(e));
    }
    if (r == 0) break;
    len += (size_t)r;
    /* a pipe or device streaming binary data (/dev/zero): stop at the first NUL, reported later */
    if (!S_ISREG(st->st_mode) && memchr(buf + len - (size_t)r, '\0', (size_t)r)) break;
  }
  buf[len] = '\0';
  *out = buf;
  *out_len = len;
  return 0;
}

int reco__ltext_read(reco_ltext *t, const char *path, int flags, const char *what_empty) {
  memset(t, 0, sizeof *t);
  t->path = path;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return reco__seterr(RECO_EIO, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return reco__seterr(RECO_EIO, "%s: cannot stat: %s", path, strerror(e));
  }
  if (S_ISDIR(st.st_mode)) {
    close(fd);
    return reco__seterr(RECO_EIO, "%s: is a folder, expected a file", path);
  }
  int rc = -1;
  long page = sysconf(_SC_PAGESIZE);
  if (S_ISREG(st.st_mode) && st.st_size >= RECO_LOAD_MAP_MIN && page > 0 && st.st_size % page != 0) {
    /* Big file: map it privately instead of copying (no zeroed pages, no copy). The bytes past
     * the end of the last page read as zero, which is the NUL sentinel the parsers rely on;
     * in-place unquoting writes copy-on-write pages. */
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (m != MAP_FAILED) {
      t->buf = m;
      t->len = t->map_len = (size_t)st.st_size;
      rc = 0;
    }
  }
  if (rc) rc = read_fd(fd, &st, path, &t->buf, &t->len);
  close(fd);
  if (rc) return rc;
  t->data = t->buf;
  const char *nul = memchr(t->buf, '\0', t->len);
  if (nul) {
    rc = reco__ltext_err(t, nul, RECO_EFORMAT, "NUL byte in a text file (binary or corrupt file?)");
    goto fail;
  }
  if (flags & RECO_LT_LATIN1) {
    /* A file that already decodes as UTF-8 (and has non-ASCII bytes) was converted by someone
     * before us; ISO-8859-1 text almost never happens to be valid UTF-8. */
    if (has_high_bytes(t->buf, t->len) && utf8_check(t->buf, t->len) >= 0) {
      char *u;
      size_t ulen;
      rc = reco__latin1_to_utf8(t->buf, t->len, &u, &ulen);
      if (rc) goto fail;
      reco__ltext_free(t);
      t->buf = t->data = u;
      t->len = ulen;
    }
  } else if (flags & RECO_LT_UTF8) {
    long bad = utf8_check(t->buf, t->len);
    if (bad >= 0) {
      rc = reco__ltext_err(t, t->buf + bad, RECO_EFORMAT,
                           "invalid UTF-8 (byte 0x%02x); convert the file to UTF-8 (e.g. iconv -f latin1 -t utf-8)",
                           (unsigned char)t->buf[bad]);
      goto fail;
    }
  }
  if (t->len >= 3 && memcmp(t->buf, "\xef\xbb\xbf", 3) == 0) t->data = t->buf + 3;
  const char *p = t->data;
  while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
  if (*p == '\0') {
    rc = reco__seterr(RECO_EFORMAT, "%s:1:1: empty file (%s)", path, what_empty);
    goto fail;
  }
  return 0;
fail:
  reco__ltext_free(t);
  return rc;
}

void reco__ltext_free(reco_ltext *t) {
  if (t->map_len) munmap(t->buf, t->map_len);
  else reco__free(t->buf);
  t->map_len = 0;
  t->buf = t->data = NULL;
  t->len = 0;
}

size_t reco__ltext_line(const reco_ltext *t, const char *at) {
  size_t line = 1;
  const char *p = t->buf;
  while (p < at) {
    const char *nl = memchr(p, '\n', (size_t)(at - p));
    if (!nl) break;
    line++;
    p = nl + 1;
  }
  return line;
}

size_t reco__ltext_count_lines(const reco_ltext *t) {
  size_t n = 0;
  const char *p = t->buf, *e = t->buf + t->len;
  while (p < e && (p = memchr(p, '\n', (size_t)(e - p)))) {
    n++;
    p++;
  }
  return n;
}

size_t reco__ltext_estimate_lines(const reco_ltext *t) {
  size_t sample = t->len < ((size_t)1 << 20) ? t->len : ((size_t)1 << 20), n = 0;
  const char *p = t->buf, *e = t->buf + sample;
  while (p < e && (p = memchr(p, '\n', (size_t)(e - p)))) {
    n++;
    p++;
  }
  if (sample == t->len) return n + 1;
  return (size_t)((double)n * ((double)t->len / (double)sample) * 1.05) + 16;
}

int reco__ltext_err(const reco_ltext *t, const char *at, int code, const char *fmt, ...) {
  char msg[320];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (!at || at < t->buf) at = t->buf;
  if (at > t->buf + t->len) at = t->buf + t->len;
  size_t line = reco__ltext_line(t, at);
  const char *ls = at;
  while (ls > t->buf && ls[-1] != '\n') ls--;
  return reco__seterr(code, "%s:%zu:%zu: %s", t->path, line, (size_t)(at - ls) + 1, msg);
}

const char *reco__snippet(const char *s, size_t len, char *out) {
  size_t n = len > 40 ? 40 : len, j = 0;
  for (size_t k = 0; k < n; k++) {
    unsigned char c = (unsigned char)s[k];
    out[j++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
  }
  /* do not leave half a UTF-8 sequence at the cut */
  if (len > n)
    while (j > 0 && ((unsigned char)out[j - 1] & 0xc0) == 0x80) j--;
  if (len > n && j > 0 && (unsigned char)out[j - 1] >= 0xc0) j--;
  if (len > n) {
    memcpy(out + j, "...", 3);
    j += 3;
  }
  out[j] = '\0';
  return out;
}

/* Next non-empty line of the text: [*ls, *le) without its CR LF; false at the end. */
int reco__ltext_next_line(const reco_ltext *t, char **pos, char **ls, char **le, bool *more) {
  char *end = t->buf + t->len;
  for (;;) {
    char *p = *pos;
    if (p >= end) {
      *more = false;
      return 0;
    }
    char *nl = memchr(p, '\n', (size_t)(end - p));
    char *e = nl ? nl : end;
    *pos = nl ? nl + 1 : end;
    if (e > p && e[-1] == '\r') e--;
    if ((size_t)(e - p) > RECO_LOAD_MAX_LINE) return reco__ltext_err(t, p, RECO_EFORMAT, "line longer than 1 MiB");
    if (e == p) continue;
    *ls = p;
    *le = e;
    *more = true;
    return 0;
  }
}

/* ---- the RFC 4180 record splitter ---- */

static inline bool at_eol(const char *p) { return *p == '\n' || *p == '\0' || (*p == '\r' && p[1] == '\n'); }

int reco__csv_record(const reco_ltext *t, char **pos, char delim, reco_lfield *f, int max, bool *quoted) {
  char *p = *pos, *start = p;
  if (at_eol(p)) {
    if (*p == '\r') p++;
    if (*p == '\n') p++;
    *pos = p;
    return 0;
  }
  int n = 0;
  for (;;) {
    char *s = p, *fs, *fe;
    bool q = false;
    while (*s == ' ' && delim != ' ') s++;
    if (*s == '"') {
      q = true;
      char *r = s + 1, *w = s + 1;
      for (;;) {
        char c = *r;
        if (c == '"') {
          if (r[1] != '"') break;
          *w++ = '"';
          r += 2;
          continue;
        }
        if (c == '\0') return reco__ltext_err(t, s, RECO_EFORMAT, "unterminated quoted field");
        if ((size_t)(r - start) > RECO_LOAD_MAX_LINE)
          return reco__ltext_err(t, s, RECO_EFORMAT, "record longer than 1 MiB (unterminated quote?)");
        *w++ = c;
        r++;
      }
      fs = s + 1;
      fe = w;
      /* keep the buffer's newline count intact for later error positions */
      if (w < r) memset(w, ' ', (size_t)(r - w));
      p = r + 1;
      while (*p == ' ' && delim != ' ') p++;
      if (*p != delim && !at_eol(p))
        return reco__ltext_err(t, p, RECO_EFORMAT, "unexpected character after a closing quote (a quote inside a quoted field is written \"\")");
    } else {
      p = s;
      while (*p != delim && *p != '\n' && *p != '\0') p++;
      fs = s;
      fe = p;
      if (*p != delim && fe > fs && fe[-1] == '\r') fe--;
      while (fe > fs && fe[-1] == ' ' && delim != ' ') fe--;
    }
    if (n == max) return reco__ltext_err(t, fs, RECO_EFORMAT, "too many fields (expected %d)", max);
    f[n].p = fs;
    f[n].len = (size_t)(fe - fs);
    if (quoted) quoted[n] = q;
    n++;
    if (*p == delim) {
      p++;
      continue;
    }
    if (*p == '\r') p++;
    if (*p == '\n') p++;
    break;
  }
  if ((size_t)(p - start) > RECO_LOAD_MAX_LINE)
    return reco__ltext_err(t, start, RECO_EFORMAT, "line longer than 1 MiB");
  *pos = p;
  return n;
}

/* ---- numbers and times ---- */

const double reco__pow10_tab[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

int reco__parse_double_slow(const char *p, const char *e, double *out) {
  char tmp[64];
  size_t n = (size_t)(e - p);
  if (n == 0 || n >= sizeof tmp) return -1;
  /* strtod also takes hex, "nan", "inf" and locale forms: allow decimal characters only */
  for (size_t k = 0; k < n; k++) {
    char c = p[k];
    if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')) return -1;
  }
  memcpy(tmp, p, n);
  tmp[n] = '\0';
  char *end;
  errno = 0;
  double v = strtod(tmp, &end);
  if (end != tmp + n) return -1;
  if (!isfinite(v)) return -2;
  *out = v;
  return 0;
}

int64_t reco__days_from_civil(int64_t y, unsigned m, unsigned d) {
  /* Shift the year to start in March so that the leap day is the year's last; count 400-year
   * eras of 146097 days, then years, then days (March = month 0, months of 30.6 days). */
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t mp = m > 2 ? (int64_t)m - 3 : (int64_t)m + 9;
  int64_t doy = (153 * mp + 2) / 5 + (int64_t)d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int digits_n(const char *p, const char *e, int n, int *out) {
  if (e - p < n) return -1;
  int v = 0;
  for (int k = 0; k < n; k++) {
    unsigned d = (unsigned)(unsigned char)p[k] - '0';
    if (d > 9) return -1;
    v = v * 10 + (int)d;
  }
  *out = v;
  return 0;
}

static int parse_iso8601(const char *p, const char *e, int64_t *out) {
  int y, mo, d, hh = 0, mi = 0, ss = 0;
  if (digits_n(p, e, 4, &y) || p + 4 >= e || p[4] != '-' || digits_n(p + 5, e, 2, &mo) || p + 7 >= e || p[7] != '-' ||
      digits_n(p + 8, e, 2, &d))
    return -1;
  static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1]) return -1;
  if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return -1;
  p += 10;
  int64_t off = 0;
  if (p < e && (*p == 'T' || *p == 't' || *p == ' ')) {
    p++;
    if (digits_n(p, e, 2, &hh) || p + 2 >= e || p[2] != ':' || digits_n(p + 3, e, 2, &mi)) return -1;
    p += 5;
    if (p < e && *p == ':') {
      if (digits_n(p + 1, e, 2, &ss)) return -1;
      p += 3;
      if (p < e && (*p == '.' || *p == ',')) {
        p++;
        if (p == e || (unsigned)(*p - '0') > 9) return -1;
        while (p < e && (unsigned)(*p - '0') <= 9) p++;
      }
    }
    if (hh > 23 || mi > 59 || ss > 60) return -1;
    if (p < e && (*p == 'Z' || *p == 'z')) p++;
    else if (p < e && (*p == '+' || *p == '-')) {
      int sign = *p == '-' ? -1 : 1, oh, om = 0;
      p++;
      if (digits_n(p, e, 2, &oh)) return -1;
      p += 2;
      if (p < e && *p == ':') p++;
      if (p < e) {
        if (digits_n(p, e, 2, &om)) return -1;
        p += 2;
      }
      if (oh > 23 || om > 59) return -1;
      off = sign * (oh * 3600 + om * 60);
    }
  }
  if (p != e) return -1;
  *out = reco__days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + hh * 3600 + mi * 60 + ss - off;
  return 0;
}

int reco__parse_time(const char *p, const char *e, int64_t *out) {
  if (p == e) return -1;
  const char *s = p;
  bool neg = *s == '-';
  if (*s == '-' || *s == '+') s++;
  const char *d = s;
  while (d < e && (unsigned)(*d - '0') <= 9) d++;
  if (d == e && d > s) { /* plain integer: the common case */
    uint64_t v;
    int rc = reco__parse_u64(s, e, &v);
    if (rc) return rc;
    if (v > (uint64_t)INT64_MAX) return -2;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
  }
  if (d - s == 4 && d < e && *d == '-' && !neg && s == p) return parse_iso8601(p, e, out);
  double v;
  int rc = reco__parse_double(p, e, &v);
  if (rc) return rc;
  v = floor(v);
  if (!(v >= -9.2e18 && v <= 9.2e18)) return -2;
  *out = (int64_t)v;
  return 0;
}

int32_t reco__title_year(const char *s, size_t len) {
  while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
  if (len < 6 || s[len - 1] != ')' || s[len - 6] != '(') return 0;
  int y;
  if (digits_n(s + len - 5, s + len - 1, 4, &y)) return 0;
  return y;
}

/* ---- provenance ---- */

const char *reco__format_name(reco_format f) {
  switch (f) {
  case RECO_FMT_AUTO: return "auto";
  case RECO_FMT_ML100K: return "ml-100k";
  case RECO_FMT_ML1M: return "ml-1m";
  case RECO_FMT_MLLATEST: return "ml-latest";
  case RECO_FMT_CSV: return "csv";
  case RECO_FMT_JSONL: return "jsonl";
  case RECO_FMT_RECO: return "reco";
  }
  return "unknown";
}

void reco__load_note_source(reco_dataset *ds, reco_format f, const char *path) {
  size_t cur = strnlen(ds->source, sizeof ds->source);
  if (cur >= sizeof ds->source - 1) return;
  snprintf(ds->source + cur, sizeof ds->source - cur, "%s%s:%s", cur ? " + " : "", reco__format_name(f), path);
}

void reco__load_note_values(reco_dataset *ds, size_t n_before, bool explicit_values) {
  ds->has_values = n_before == 0 ? explicit_values : (ds->has_values && explicit_values);
}

/* ---- detection and dispatch ---- */

static bool file_exists(const char *dir, const char *name, char *out, size_t cap) {
  int n = snprintf(out, cap, "%s/%s", dir, name);
  if (n < 0 || (size_t)n >= cap) return false;
  struct stat st;
  return stat(out, &st) == 0 && S_ISREG(st.st_mode);
}

static const char *base_name(const char *path) {
  const char *b = strrchr(path, '/');
  return b ? b + 1 : path;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

/* u.data, u1.base, ua.test ... */
static bool is_ml100k_split_name(const char *b) {
  return !strcmp(b, "u.data") || (b[0] == 'u' && (ends_with(b, ".base") || ends_with(b, ".test")));
}

/* Does the first line of the file hold "::"? */
static bool first_line_has_colons(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  char *nl = strchr(buf, '\n');
  if (nl) *nl = '\0';
  return strstr(buf, "::") != NULL;
}

static int detect(const char *path, bool is_dir, reco_format *out) {
  char tmp[PATH_MAX];
  if (is_dir) {
    if (file_exists(path, "u.data", tmp, sizeof tmp)) *out = RECO_FMT_ML100K;
    else if (file_exists(path, "ratings.dat", tmp, sizeof tmp)) *out = RECO_FMT_ML1M;
    else if (file_exists(path, "ratings.csv", tmp, sizeof tmp)) *out = RECO_FMT_MLLATEST;
    else if (file_exists(path, "interactions.csv", tmp, sizeof tmp)) *out = RECO_FMT_RECO;
    else
      return reco__seterr(RECO_EFORMAT,
                          "%s: no dataset found in this folder (expected u.data, ratings.dat, ratings.csv or "
                          "interactions.csv)",
                          path);
    return 0;
  }
  const char *b = base_name(path);
  if (is_ml100k_split_name(b) || !strcmp(b, "u.item") || !strcmp(b, "u.user")) *out = RECO_FMT_ML100K;
  else if (ends_with(b, ".dat") && first_line_has_colons(path)) *out = RECO_FMT_ML1M;
  else if (!strcmp(b, "movies.csv") || !strcmp(b, "tags.csv")) *out = RECO_FMT_MLLATEST;
  else if (!strcmp(b, "items.csv") || !strcmp(b, "users.csv")) *out = RECO_FMT_RECO;
  else if (ends_with(b, ".jsonl") || ends_with(b, ".ndjson")) *out = RECO_FMT_JSONL;
  else *out = RECO_FMT_CSV;
  return 0;
}

int reco__load_detect(const char *path, reco_format *out) {
  struct stat st;
  if (stat(path, &st) != 0) return reco__seterr(RECO_EIO, "%s: %s", path, strerror(errno));
  return detect(path, S_ISDIR(st.st_mode), out);
}

/* Loads FOLDER/name when present; required files that are missing are an error. */
static int folder_file(reco_dataset *ds, const char *dir, const char *name, bool required,
                       int (*fn)(reco_dataset *, const char *, const reco_load_opts *), const reco_load_opts *opts,
                       bool *found) {
  char p[PATH_MAX];
  bool ok = file_exists(dir, name, p, sizeof p);
  if (found) *found = ok;
  if (!ok) {
    if (!required) return 0;
    return reco__seterr(RECO_EIO, "%s/%s: no such file (the folder is read as %s)", dir, name,
                        reco__format_name(opts->format));
  }
  return fn(ds, p, opts);
}

/* Adapters so that every per-file loader has one signature in the dispatch tables below. */
static int a_ml100k_ratings(reco_dataset *ds, const char *p, const reco_load_opts *o);
static int a_ml1m_ratings(reco_dataset *ds, const char *p, const reco_load_opts *o);
static int a_ml100k_items(reco_dataset *ds, const char *p, const reco_load_opts *o) { (void)o; return reco__load_ml100k_items(ds, p); }
static int a_ml100k_users(reco_dataset *ds, const char *p, const reco_load_opts *o) { (void)o; return reco__load_ml100k_users(ds, p); }
static int a_ml1m_movies(reco_dataset *ds, const char *p, const reco_load_opts *o) { (void)o; return reco__load_ml1m_movies(ds, p); }
static int a_ml1m_users(reco_dataset *ds, const char *p, const reco_load_opts *o) { (void)o; return reco__load_ml1m_users(ds, p); }
static int a_latest_movies(reco_dataset *ds, const char *p, const reco_load_opts *o) { (void)o; return reco__load_mllatest_movies(ds, p); }
static int a_latest_tags(reco_dataset *ds, const char *p, const reco_load_opts *o) { (void)o; return reco__load_mllatest_tags(ds, p); }
static int a_csv_items(reco_dataset *ds, const char *p, const reco_load_opts *o) { (void)o; return reco__load_csv_items(ds, p); }
static int a_csv_users(reco_dataset *ds, const char *p, const reco_load_opts *o) { (void)o; return reco__load_csv_users(ds, p); }
static int a_latest_ratings(reco_dataset *ds, const char *p, const reco_load_opts *o);

static int a_ml100k_ratings(reco_dataset *ds, const char *p, const reco_load_opts *o) {
  return reco__load_ml_ratings_prog(ds, p, false, &o->progress);
}
static int a_ml1m_ratings(reco_dataset *ds, const char *p, const reco_load_opts *o) {
  return reco__load_ml_ratings_prog(ds, p, true, &o->progress);
}
static int a_latest_ratings(reco_dataset *ds, const char *p, const reco_load_opts *o) {
  /* MovieLens' own column names; the caller's column overrides do not apply */
  reco_load_opts lo = {.format = RECO_FMT_MLLATEST, .delimiter = ',', .progress = o->progress};
  return reco__load_csv_ml(ds, p, &lo, true);
}
static int a_csv(reco_dataset *ds, const char *p, const reco_load_opts *o) { return reco__load_csv(ds, p, o); }

typedef int (*file_loader)(reco_dataset *, const char *, const reco_load_opts *);

static int load_folder(reco_dataset *ds, const char *dir, const reco_load_opts *o) {
  bool meta = !o->no_metadata;
  int rc = 0;
  switch (o->format) {
  case RECO_FMT_ML100K:
    if (meta) rc = folder_file(ds, dir, "u.item", false, a_ml100k_items, o, NULL);
    if (!rc && meta) rc = folder_file(ds, dir, "u.user", false, a_ml100k_users, o, NULL);
    if (!rc) rc = folder_file(ds, dir, "u.data", true, a_ml100k_ratings, o, NULL);
    return rc;
  case RECO_FMT_ML1M:
    if (meta) rc = folder_file(ds, dir, "movies.dat", false, a_ml1m_movies, o, NULL);
    if (!rc && meta) rc = folder_file(ds, dir, "users.dat", false, a_ml1m_users, o, NULL);
    if (!rc) rc = folder_file(ds, dir, "ratings.dat", true, a_ml1m_ratings, o, NULL);
    return rc;
  case RECO_FMT_MLLATEST:
    if (meta) rc = folder_file(ds, dir, "movies.csv", false, a_latest_movies, o, NULL);
    if (!rc) rc = folder_file(ds, dir, "ratings.csv", true, a_latest_ratings, o, NULL);
    if (!rc && meta) rc = folder_file(ds, dir, "tags.csv", false, a_latest_tags, o, NULL);
    return rc;
  case RECO_FMT_RECO:
    if (meta) rc = folder_file(ds, dir, "items.csv", false, a_csv_items, o, NULL);
    if (!rc && meta) rc = folder_file(ds, dir, "users.csv", false, a_csv_users, o, NULL);
    if (!rc) rc = folder_file(ds, dir, "interactions.csv", true, a_csv, o, NULL);
    return rc;
  default:
    return reco__seterr(RECO_EINVAL, "%s: is a folder; the %s format reads one file", dir,
                        reco__format_name(o->format));
  }
}

static int load_file(reco_dataset *ds, const char *path, const reco_load_opts *o) {
  const char *b = base_name(path);
  file_loader fn = a_csv;
  switch (o->format) {
  case RECO_FMT_ML100K:
    fn = !strcmp(b, "u.item") ? a_ml100k_items : !strcmp(b, "u.user") ? a_ml100k_users : a_ml100k_ratings;
    break;
  case RECO_FMT_ML1M:
    fn = !strcmp(b, "movies.dat") ? a_ml1m_movies : !strcmp(b, "users.dat") ? a_ml1m_users : a_ml1m_ratings;
    break;
  case RECO_FMT_MLLATEST:
    fn = !strcmp(b, "movies.csv") ? a_latest_movies : !strcmp(b, "tags.csv") ? a_latest_tags : a_latest_ratings;
    break;
  case RECO_FMT_RECO:
    fn = !strcmp(b, "items.csv") ? a_csv_items : !strcmp(b, "users.csv") ? a_csv_users : a_csv;
    break;
  case RECO_FMT_JSONL: return reco__load_jsonl(ds, path, o);
  default: break;
  }
  return fn(ds, path, o);
}

int reco__load_into(reco_dataset *ds, const char *path, const reco_load_opts *opts) {
  if (!ds || !path || !*path) return reco__seterr(RECO_EINVAL, "load: no dataset or no path");
  if (ds->finalized) return reco__seterr(RECO_ESTATE, "%s: the dataset is already finalized", path);
  reco_load_opts o = {0};
  if (opts) o = *opts;
  if ((int)o.format < RECO_FMT_AUTO || o.format > RECO_FMT_RECO)
    return reco__seterr(RECO_EINVAL, "%s: unknown format %d", path, (int)o.format);
  struct stat st;
  if (stat(path, &st) != 0) return reco__seterr(RECO_EIO, "%s: %s", path, strerror(errno));
  bool is_dir = S_ISDIR(st.st_mode);
  if (o.format == RECO_FMT_AUTO) {
    int rc = detect(path, is_dir, &o.format);
    if (rc) return rc;
  }
  int rc = is_dir ? load_folder(ds, path, &o) : load_file(ds, path, &o);
  if (!rc) reco__load_note_source(ds, o.format, path);
  return rc;
}

int reco_dataset_load(const char *path, const reco_load_opts *opts, reco_dataset **out) {
  if (!out) return reco__seterr(RECO_EINVAL, "reco_dataset_load: out is NULL");
  *out = NULL;
  reco__clearerr();
  reco_dataset *ds = reco__ds_new();
  if (!ds) return reco__seterr(RECO_ENOMEM, "out of memory for a dataset");
  int rc = reco__load_into(ds, path, opts);
  if (!rc) rc = reco__ds_finalize(ds);
  if (rc) {
    reco_dataset_free(ds);
    return rc;
  }
  *out = ds;
  return 0;
}

/* ---- progress and the id cache ---- */

int reco__ltext_progress(const reco_ltext *t, const reco_progress *prog, const char *at) {
  if (!prog || !prog->fn) return 0;
  return reco__progress(prog, "load", (double)(at - t->buf), (double)t->len, base_name(t->path));
}

int32_t reco__lid_add_num(reco_lidcache *c, reco_idmap *m, const char *s, size_t len, uint32_t v) {
  int32_t r = reco__idmap_add(m, s, len);
  if (r < 0 || v >= RECO_LID_DIRECT_MAX) return r;
  if (v >= c->cap) {
    size_t nc = c->cap ? c->cap : 1024;
    while (nc <= v) nc *= 2;
    int32_t *ni = reco__realloc(c->idx, nc * sizeof *ni);
    if (!ni) return r; /* the cache is an optimisation: go on without it */
    memset(ni + c->cap, 0, (nc - c->cap) * sizeof *ni);
    c->idx = ni;
    c->cap = nc;
  }
  c->idx[v] = r + 1;
  return r;
}

static int lid_table_grow(reco_lidcache *c) {
  size_t ns = c->tab ? (c->mask + 1) * 2 : 4096;
  reco_lident *t = reco__malloc(ns * sizeof *t);
  if (!t) return RECO_ENOMEM;
  for (size_t k = 0; k < ns; k++) t[k].idx = -1;
  if (c->tab)
    for (size_t k = 0; k <= c->mask; k++) {
      if (c->tab[k].idx < 0) continue;
      size_t j = (size_t)c->tab[k].h & (ns - 1);
      while (t[j].idx >= 0) j = (j + 1) & (ns - 1);
      t[j] = c->tab[k];
    }
  reco__free(c->tab);
  c->tab = t;
  c->mask = ns - 1;
  return 0;
}

static uint64_t lid_hash(const char *s, size_t len) { return reco__hash_bytes(s, len, 0x5eed); }

/* Looks s up with its hash h (lid_hash), adding it to the map and the table when absent. */
static int32_t lid_lookup(reco_lidcache *c, reco_idmap *m, const char *s, size_t len, uint64_t h) {
  int32_t r;
  if (c->no_table) {
    r = reco__idmap_add(m, s, len);
    goto done;
  }
  if (!c->tab && lid_table_grow(c)) {
    c->no_table = true;
    return lid_lookup(c, m, s, len, h);
  }
  size_t j = (size_t)h & c->mask;
  for (;;) {
    reco_lident *e = &c->tab[j];
    if (e->idx < 0) break;
    if (e->h == h && e->len == len && memcmp(len <= sizeof e->s.in ? e->s.in : e->s.p, s, len) == 0) {
      r = e->idx;
      goto done;
    }
    j = (j + 1) & c->mask;
  }
  r = reco__idmap_add(m, s, len);
  if (r < 0) return r;
  if (len > sizeof c->tab[j].s.in && c->transient) goto done; /* cannot keep a pointer to it */
  if (c->n_tab >= RECO_LID_TABLE_MAX) {
    /* too many distinct ids for the table to pay off: let the map answer from now on */
    reco__free(c->tab);
    c->tab = NULL;
    c->no_table = true;
    goto done;
  }
  reco_lident *e = &c->tab[j];
  e->h = h;
  e->idx = r;
  e->len = (uint32_t)len;
  if (len <= sizeof e->s.in) memcpy(e->s.in, s, len);
  else e->s.p = s;
  if (++c->n_tab * 2 > c->mask + 1 && lid_table_grow(c)) {
    reco__free(c->tab);
    c->tab = NULL;
    c->no_table = true;
  }
done:
  if (r >= 0 && !c->transient) {
    c->last = s;
    c->last_len = len;
    c->last_idx = r;
  }
  return r;
}

int32_t reco__lid_slow(reco_lidcache *c, reco_idmap *m, const char *s, size_t len) {
  return lid_lookup(c, m, s, len, c->no_table ? 0 : lid_hash(s, len));
}

/* Canonical decimal id below RECO_LID_DIRECT_MAX? */
static inline bool lid_numeric(const char *s, size_t len, uint32_t *v) {
  if (len - 1 >= 7 || (s[0] == '0' && len > 1)) return false;
  uint32_t x = 0;
  for (size_t k = 0; k < len; k++) {
    unsigned d = (unsigned)(unsigned char)s[k] - '0';
    if (d > 9) return false;
    x = x * 10 + d;
  }
  *v = x;
  return true;
}

int reco__lid_batch(reco_lidcache *c, reco_idmap *m, const reco_lfield *ids, int n, int32_t *out) {
  uint64_t h[RECO_LID_BATCH];
  uint8_t kind[RECO_LID_BATCH]; /* 0 numeric, 1 same as the previous id, 2 table */
  /* pass 1: hash and prefetch, so that the slots' cache misses overlap */
  for (int k = 0; k < n; k++) {
    const char *s = ids[k].p;
    size_t len = ids[k].len;
    uint32_t v;
    if (lid_numeric(s, len, &v)) {
      kind[k] = 0;
      h[k] = v;
      if (v < c->cap) __builtin_prefetch(&c->idx[v]);
    } else if (k > 0 && len == ids[k - 1].len && memcmp(s, ids[k - 1].p, len) == 0) {
      kind[k] = 1;
    } else {
      kind[k] = 2;
      if (!c->no_table) {
        h[k] = lid_hash(s, len);
        if (c->tab) __builtin_prefetch(&c->tab[(size_t)h[k] & c->mask]);
      }
    }
  }
  /* pass 2: resolve in order (the map assigns indices in order of first appearance) */
  for (int k = 0; k < n; k++) {
    int32_t r;
    if (kind[k] == 0) {
      uint32_t v = (uint32_t)h[k];
      r = (v < c->cap && c->idx[v]) ? c->idx[v] - 1 : reco__lid_add_num(c, m, ids[k].p, ids[k].len, v);
    } else if (kind[k] == 1) {
      r = out[k - 1];
    } else {
      r = lid_lookup(c, m, ids[k].p, ids[k].len, c->no_table ? 0 : h[k]);
    }
    if (r < 0) return r;
    out[k] = r;
  }
  return 0;
}

void reco__lid_free(reco_lidcache *c) {
  reco__free(c->idx);
  reco__free(c->tab);
  memset(c, 0, sizeof *c);
}
