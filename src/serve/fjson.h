/*
 * fjson.h - a strict, allocation-free (after warm-up) JSON reader for hot request bodies.
 *
 * Why not jansson here: parsing the seed's 230-byte recommend request with jansson costs ~5 us
 * (a malloc per value and per key, a hash table per object), a fifth of the whole request.
 * This reader parses into a per-thread array of values and a per-thread string arena sized by
 * the body, so a request allocates nothing once a thread has seen a body of that size.
 *
 * Grammar: RFC 8259, strictly, with jansson's defaults where the RFC leaves a choice: duplicate
 * keys in one object are an error, "\u0000" is an error, lone surrogates are an error, strings
 * must be valid UTF-8, numbers that overflow a double are an error. Limits (each an error, not a
 * crash): nesting depth FJ_MAX_DEPTH, FJ_MAX_VALUES values per document, FJ_MAX_MEMBERS members
 * per object.
 *
 * Values live in doc->v[]; containers link their children by index (first, next; 0 = none,
 * which is the root's index and so never a child). Strings are NUL-terminated in the arena.
 */
#ifndef RECO_FJSON_H
#define RECO_FJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FJ_MAX_DEPTH 64
#define FJ_MAX_VALUES 100000
#define FJ_MAX_MEMBERS 1024 /* per object: keeps the duplicate-key check linear in practice */

typedef enum { FJ_NULL = 0, FJ_FALSE, FJ_TRUE, FJ_NUM, FJ_STR, FJ_ARR, FJ_OBJ } fj_type;

typedef struct fj_val {
  uint8_t type;     /* fj_type */
  bool is_int;      /* FJ_NUM written without fraction or exponent */
  uint32_t n;       /* FJ_STR, FJ_NUM: bytes of s; FJ_ARR/FJ_OBJ: children */
  uint32_t first;   /* FJ_ARR/FJ_OBJ: first child, 0 = none */
  uint32_t next;    /* next sibling, 0 = none */
  uint32_t key_len; /* a member of an object: its key */
  const char *key;
  const char *s;    /* FJ_STR: decoded text, NUL-terminated (may contain no NUL); FJ_NUM: the
                     * token as written, n bytes, pointing into the parsed input (no NUL) */
  double num;       /* FJ_NUM */
} fj_val;

typedef struct fj_doc {
  fj_val *v;
  uint32_t n, cap;
  char *str; /* decoded strings */
  size_t slen, scap;
  char err[192]; /* "line L, column C: what" after a failed parse */
} fj_doc;

/* The calling thread's document (reused by every parse on the thread; freed at thread exit).
 * NULL only when out of memory. */
fj_doc *fj_thread_doc(void);
void fj_doc_free(fj_doc *d);

/* Parses s[0..n) into d (replacing what it held). Returns 0, or -1 with d->err set (and -2 when
 * out of memory). */
int fj_parse(fj_doc *d, const char *s, size_t n);

static inline const fj_val *fj_root(const fj_doc *d) { return d->n ? &d->v[0] : NULL; }
/* The member named key of an object (NULL when absent or v is not an object). */
const fj_val *fj_get(const fj_doc *d, const fj_val *obj, const char *key);
static inline const fj_val *fj_first(const fj_doc *d, const fj_val *v) {
  return v && (v->type == FJ_ARR || v->type == FJ_OBJ) && v->first ? &d->v[v->first] : NULL;
}
static inline const fj_val *fj_next(const fj_doc *d, const fj_val *v) { return v->next ? &d->v[v->next] : NULL; }
static inline bool fj_is_null(const fj_val *v) { return !v || v->type == FJ_NULL; }
static inline bool fj_is_str(const fj_val *v) { return v && v->type == FJ_STR; }
static inline bool fj_is_num(const fj_val *v) { return v && v->type == FJ_NUM; }
static inline bool fj_is_obj(const fj_val *v) { return v && v->type == FJ_OBJ; }
static inline bool fj_is_arr(const fj_val *v) { return v && v->type == FJ_ARR; }
static inline bool fj_is_bool(const fj_val *v) { return v && (v->type == FJ_TRUE || v->type == FJ_FALSE); }

#endif
