/*
 * load.h - dataset loaders: MovieLens 100K / 1M / latest, generic CSV/TSV with a header, JSON
 * lines, and the folders written by `reco data gen`; format detection; and the small text
 * toolkit the loaders share (whole-file reading, error positions, field and number parsing).
 *
 * Every loader appends into a dataset that is not yet finalized, so several files can share one
 * id space (u1.base then u1.test, then a split by mask). reco_dataset_load() is new + load_into +
 * finalize. Ids are kept exactly as written (after CSV unquoting); indices follow first
 * appearance, and a folder's metadata files are read before its interactions, so item indices
 * follow the catalogue's order.
 *
 * Errors: RECO_EIO when a file cannot be read, RECO_EFORMAT for malformed content, with the
 * detail "FILE:LINE:COL: what is wrong" (LINE is the physical line, COL the 1-based byte
 * column). Nothing is ever guessed silently: a wrong field count, a non-numeric or non-finite
 * number, bad UTF-8, a NUL byte, a line over 1 MiB, a repeated header, an unterminated quote or
 * an empty file is an error.
 *
 * Speed: a file is read with one read() into one buffer, or mapped privately when it is big
 * (NUL-terminated either way, NULs inside rejected up front), parsed in place with hand-written
 * number parsing and no allocation per line; ids are resolved in batches with prefetching.
 * Big CSV files without quotes and JSON lines are parsed by all threads (reco_get_threads()),
 * ids still being assigned by one thread in file order, so the result never depends on the
 * thread count.
 */
#ifndef RECO_LOAD_H
#define RECO_LOAD_H

#include "dataset.h"

#include <math.h>
#include <string.h>

#define RECO_LOAD_MAX_LINE ((size_t)1 << 20) /* longest accepted line or record */

/* ---- whole loads ---- */

/* Appends the interactions (and metadata, unless opts->no_metadata) of the file or folder at
 * path into ds (not finalized). opts may be NULL (auto-detect, defaults). On failure ds may
 * hold part of what was read: free it. The per-file functions below behave the same way. */
int reco__load_into(reco_dataset *ds, const char *path, const reco_load_opts *opts);
/* The format auto-detection would choose for path (never RECO_FMT_AUTO on success). */
int reco__load_detect(const char *path, reco_format *out);
/* "ml-100k", "ml-1m", "ml-latest", "csv", "jsonl", "reco", "auto". */
const char *reco__format_name(reco_format f);

/* ---- one file each (all append into ds; prog may be NULL where taken) ---- */

/* MovieLens 100K: u.data / u1.base / ua.test: user \t item \t rating \t timestamp. */
int reco__load_ml100k_ratings(reco_dataset *ds, const char *path);
/* u.item: id|title|date|video date|url|19 genre flags (ISO-8859-1). Titles, years, genres. */
int reco__load_ml100k_items(reco_dataset *ds, const char *path);
/* u.user: id|age|gender|occupation|zip -> user attribute "age=24;gender=M;occupation=...;zip=...". */
int reco__load_ml100k_users(reco_dataset *ds, const char *path);

/* MovieLens 1M (and 10M): "::" separated. ratings.dat: user::item::rating::timestamp. */
int reco__load_ml1m_ratings(reco_dataset *ds, const char *path);
/* Either ratings file with progress reporting: colons for "::", else tab separated. */
int reco__load_ml_ratings_prog(reco_dataset *ds, const char *path, bool colons, const reco_progress *prog);
/* movies.dat: id::title::genre|genre (ISO-8859-1); year taken from "(1995)" in the title. */
int reco__load_ml1m_movies(reco_dataset *ds, const char *path);
/* users.dat: id::gender::age::occupation::zip (occupation codes mapped to their names). */
int reco__load_ml1m_users(reco_dataset *ds, const char *path);

/* MovieLens latest: movies.csv (movieId,title,genres) and tags.csv (userId,movieId,tag,ts);
 * ratings.csv is read by reco__load_csv. */
int reco__load_mllatest_movies(reco_dataset *ds, const char *path);
int reco__load_mllatest_tags(reco_dataset *ds, const char *path);

/* Delimited interactions with a header (see load_csv.c for the recognised column names). */
int reco__load_csv(reco_dataset *ds, const char *path, const reco_load_opts *opts);
/* The same; movielens: values must lie in MovieLens' range 0.5..5 (its ratings.csv). */
int reco__load_csv_ml(reco_dataset *ds, const char *path, const reco_load_opts *opts, bool movielens);
/* Bytes per piece when big CSV files are parsed by several threads (8 MiB; tests lower it). */
extern size_t reco__csv_piece_bytes;
/* Item catalogue with a header: item (required), title, category, tags, price, year, text. */
int reco__load_csv_items(reco_dataset *ds, const char *path);
/* Users with a header: user (required); every other column becomes "name=value;..." attrs. */
int reco__load_csv_users(reco_dataset *ds, const char *path);
/* JSON lines: one object per line with the same keys as the CSV columns. */
int reco__load_jsonl(reco_dataset *ds, const char *path, const reco_load_opts *opts);

/* ---- the shared text toolkit (load.c) ---- */

typedef struct reco_ltext {
  const char *path; /* for error messages */
  char *buf;        /* contents, buf[len] == '\0', no NUL before it */
  size_t len;
  char *data;       /* first byte after a UTF-8 byte order mark */
  size_t map_len;   /* > 0 when buf is a private file mapping (big files), else malloc'd */
} reco_ltext;

enum {
  RECO_LT_UTF8 = 1,   /* reject invalid UTF-8 */
  RECO_LT_LATIN1 = 2, /* convert from ISO-8859-1 to UTF-8 unless the file already is UTF-8 */
};

/* Reads the whole file (RECO_EIO when unreadable), rejects NUL bytes, checks or converts the
 * encoding per flags, and rejects an empty file ("empty file", what_empty names what was
 * expected, e.g. "no header"). On error nothing needs freeing. */
int reco__ltext_read(reco_ltext *t, const char *path, int flags, const char *what_empty);
void reco__ltext_free(reco_ltext *t);
/* Sets the error detail "PATH:LINE:COL: message" for the byte at `at` and returns code. */
int reco__ltext_err(const reco_ltext *t, const char *at, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* 1-based line of `at` (counts newlines; only for errors and progress). */
size_t reco__ltext_line(const reco_ltext *t, const char *at);
/* Copies up to 40 bytes of s into out (>= 48 bytes), control bytes shown as '?', "..." if cut. */
const char *reco__snippet(const char *s, size_t len, char *out);
/* Number of '\n' in the text. */
size_t reco__ltext_count_lines(const reco_ltext *t);
/* A slight over-estimate of the number of lines, from the first MiB (to reserve up front). */
size_t reco__ltext_estimate_lines(const reco_ltext *t);

/* Next non-empty line at *pos: [*ls, *le) without its LF or CR LF; *more = false at the end.
 * Lines over 1 MiB are an error. */
int reco__ltext_next_line(const reco_ltext *t, char **pos, char **ls, char **le, bool *more);

/* One field of a record: points into the (in-place unquoted) buffer. */
typedef struct reco_lfield {
  char *p;
  size_t len;
} reco_lfield;

/*
 * Splits the record at *pos into at most max fields (RFC 4180: a field that starts with '"' is
 * quoted, "" inside it is a quote, it may hold delimiters and newlines; unquoted fields are
 * taken verbatim with surrounding spaces trimmed). Handles LF and CRLF. On return *pos is the
 * start of the next record. Returns the field count, 0 for an empty line, or a negative error
 * (unterminated quote, junk after a closing quote, more than max fields, record over 1 MiB).
 * When quoted is not NULL, quoted[k] tells whether field k was quoted.
 */
int reco__csv_record(const reco_ltext *t, char **pos, char delim, reco_lfield *f, int max, bool *quoted);

/* ---- number parsing (inline: these run once or twice per line) ---- */

/* Trims ASCII spaces and tabs from both ends of [*p, *e). */
static inline void reco__trim(const char **p, const char **e) {
  while (*p < *e && (**p == ' ' || **p == '\t')) (*p)++;
  while (*e > *p && ((*e)[-1] == ' ' || (*e)[-1] == '\t')) (*e)--;
}

/* Unsigned decimal integer, digits only; 0 ok, -1 not an integer, -2 overflow. */
static inline int reco__parse_u64(const char *p, const char *e, uint64_t *out) {
  if (p == e) return -1;
  uint64_t v = 0;
  for (; p < e; p++) {
    unsigned d = (unsigned)(unsigned char)*p - '0';
    if (d > 9) return -1;
    if (v > (UINT64_MAX - d) / 10) return -2;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

/* Exactly representable powers of ten for the fast path of reco__parse_double. */
extern const double reco__pow10_tab[23];
/* Slow path (many digits, large exponents): strtod on a bounded copy. */
int reco__parse_double_slow(const char *p, const char *e, double *out);

/*
 * Decimal number: [+-]digits[.digits][(e|E)[+-]digits], or [+-].digits. No spaces, no hex, no
 * "nan"/"inf". Returns 0 ok, -1 not a number, -2 not finite (overflow). Common short numbers
 * ("4", "3.5", "964982703") are exact and take the fast path.
 */
static inline int reco__parse_double(const char *p, const char *e, double *out) {
  const char *s = p;
  bool neg = false;
  if (p < e && (*p == '-' || *p == '+')) neg = *p++ == '-';
  uint64_t mant = 0;
  int digits = 0, frac = 0;
  while (p < e && (unsigned)(*p - '0') <= 9) {
    mant = mant * 10 + (uint64_t)(*p++ - '0');
    digits++;
  }
  if (p < e && *p == '.') {
    p++;
    while (p < e && (unsigned)(*p - '0') <= 9) {
      mant = mant * 10 + (uint64_t)(*p++ - '0');
      digits++;
      frac++;
    }
  }
  if (digits == 0) return -1;
  if (p < e || digits > 15) return reco__parse_double_slow(s, e, out); /* exponent, or long */
  double v = (double)mant;
  if (frac) v /= reco__pow10_tab[frac];
  *out = neg ? -v : v;
  return 0;
}

/* Signed integer or decimal (fraction dropped toward minus infinity), as seconds; or an ISO 8601
 * date "YYYY-MM-DD[(T| )hh:mm[:ss[.fff]]][Z|(+|-)hh[:]mm]" converted to unix seconds.
 * Returns 0 ok, -1 malformed, -2 out of range. */
int reco__parse_time(const char *p, const char *e, int64_t *out);

/* Days since 1970-01-01 of a proleptic Gregorian date. */
int64_t reco__days_from_civil(int64_t y, unsigned m, unsigned d);

/* Year from a trailing "(1995)" in a title (spaces after it allowed); 0 when absent. */
int32_t reco__title_year(const char *s, size_t len);

/* True when [p, p+len) holds a control byte (< 0x20 or 0x7f); ids and names may not. */
static inline bool reco__has_ctrl(const char *p, size_t len) {
  for (size_t k = 0; k < len; k++) {
    unsigned char c = (unsigned char)p[k];
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

/* Reports progress through the file (stage "load", bytes done of the file's size). */
int reco__ltext_progress(const reco_ltext *t, const reco_progress *prog, const char *at);

/*
 * Id lookup cache for one load: string id -> index through the dataset's id map, with
 * shortcuts that avoid the map's four scattered memory reads per lookup: canonical decimal ids
 * (no leading zero, < 4M) index a direct array; a repeat of the previous id (files grouped by
 * user) reuses its index; other ids go through a local open-addressing table whose 32-byte
 * slots hold the hash, the index and the id itself when it has at most 16 bytes (else a pointer
 * into the loaded text, which must outlive the cache; set `transient` when it does not). The
 * cache only remembers what the map answered, so it is correct for a map that already holds
 * ids; past RECO_LID_TABLE_MAX distinct ids the table is dropped and the map answers alone.
 */
typedef struct reco_lident {
  uint64_t h;
  int32_t idx; /* -1 = empty slot */
  uint32_t len;
  union {
    const char *p;
    char in[16];
  } s;
} reco_lident;

typedef struct reco_lidcache {
  int32_t *idx; /* numeric id -> index + 1, 0 = not seen */
  size_t cap;
  reco_lident *tab; /* power-of-two slots, load <= 1/2 */
  size_t n_tab, mask;
  bool transient, no_table;
  const char *last; /* previous non-numeric id */
  size_t last_len;
  int32_t last_idx;
} reco_lidcache;
#define RECO_LID_DIRECT_MAX ((uint32_t)1 << 22)
#define RECO_LID_TABLE_MAX ((size_t)1 << 21)
int32_t reco__lid_add_num(reco_lidcache *c, reco_idmap *m, const char *s, size_t len, uint32_t v);
int32_t reco__lid_slow(reco_lidcache *c, reco_idmap *m, const char *s, size_t len);
void reco__lid_free(reco_lidcache *c);
/* Resolves up to RECO_LID_BATCH ids at once (hashing and prefetching them all first, so that
 * their cache misses overlap); same results as reco__lid one by one. 0 or a negative error. */
#define RECO_LID_BATCH 256
int reco__lid_batch(reco_lidcache *c, reco_idmap *m, const reco_lfield *ids, int n, int32_t *out);

static inline int32_t reco__lid(reco_lidcache *c, reco_idmap *m, const char *s, size_t len) {
  if (len - 1 < 7 && (s[0] != '0' || len == 1)) { /* 1..7 digits */
    uint32_t v = 0;
    size_t k = 0;
    for (; k < len; k++) {
      unsigned d = (unsigned)(unsigned char)s[k] - '0';
      if (d > 9) break;
      v = v * 10 + d;
    }
    if (k == len) {
      if (v < c->cap && c->idx[v]) return c->idx[v] - 1;
      return reco__lid_add_num(c, m, s, len, v);
    }
  }
  if (c->last && len == c->last_len && memcmp(s, c->last, len) == 0) return c->last_idx;
  return reco__lid_slow(c, m, s, len);
}

/* Records the loaded path in ds->source ("FORMAT:PATH", joined with " + " when appending). */
void reco__load_note_source(reco_dataset *ds, reco_format f, const char *path);
/* After appending n_added interactions: ds->has_values = explicit for the first file, else the
 * AND over all files loaded so far. n_before = ds->n before this file. */
void reco__load_note_values(reco_dataset *ds, size_t n_before, bool explicit_values);

#endif
