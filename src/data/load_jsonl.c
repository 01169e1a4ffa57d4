/*
 * load_jsonl.c - interactions as JSON lines: one object per line, e.g.
 *   {"user": "u1", "item": 42, "rating": 4.5, "timestamp": "2024-05-01T10:00:00Z", "type": "rating"}
 * The keys are those of the CSV columns (load_csv.c), matched case-insensitively, or named by
 * opts->col_*; other keys are ignored. Ids are strings or integers; a value is a number (or a
 * numeric string); a timestamp is a number of unix seconds or a string as in CSV; null means
 * absent. A row without a value counts 1 and defaults to a "view"; with one it defaults to a
 * "rating". ds->has_values when every row has a value and is a rating. Optional "device" and
 * "location" strings are the interaction's context (dataset.h). Blank lines are skipped.
 * Parsing is jansson's (strict JSON, duplicate keys rejected).
 *
 * jansson costs about 2 us a line, so lines are parsed in batches by all threads (OpenMP):
 * each line becomes a compact row (ids copied into the thread's arena) or a failure mark; then
 * one thread resolves the ids in line order, so indices are the same as a sequential load. The
 * first failing line is parsed again on the calling thread to produce its error message.
 */
#include "load.h"

#include <inttypes.h>
#include <jansson.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum { K_USER, K_ITEM, K_VALUE, K_TIME, K_TYPE, K_DEVICE, K_LOCATION, K__N };

static const char *const k_key_role[K__N] = {"user", "item", "value", "timestamp", "type", "device", "location"};
static const char *const k_key_names[K__N][9] = {
    {"user", "user_id", "userid", "uid", "customer_id", "visitor_id", NULL},
    {"item", "item_id", "itemid", "iid", "movieid", "movie_id", "product_id", "productid", NULL},
    {"value", "rating", "weight", "score", NULL},
    {"timestamp", "time", "ts", "datetime", "date", "created_at", NULL},
    {"type", "event", "event_type", "action", NULL},
    {"device", "device_type", "platform", NULL}, /* context (dataset.h): strings, optional */
    {"location", "place", "loc", NULL},
};

static int key_role(const char *key, const char *const *ovr) {
  for (int r = 0; r < K__N; r++) {
    if (ovr[r]) {
      if (!strcasecmp(key, ovr[r])) return r;
      continue;
    }
    for (int k = 0; k_key_names[r][k]; k++)
      if (!strcasecmp(key, k_key_names[r][k])) return r;
  }
  return -1;
}

/* Where "key" appears in the line, for the error column (the line start when not found). */
static const char *key_at(const char *ls, const char *le, const char *key) {
  size_t kl = strlen(key);
  for (const char *p = ls; p + kl + 2 <= le; p++)
    if (p[0] == '"' && memcmp(p + 1, key, kl) == 0 && p[kl + 1] == '"') return p;
  return ls;
}

/* One parsed line; the ids point into the JSON object or into tmp buffers of the caller. */
typedef struct jrow {
  const char *us, *is;
  size_t ul, il;
  float v;
  int64_t ts;
  int type;
  bool has_value;
  const char *cs[RECO_CTX__STORED]; /* context values (cl 0 = none) */
  size_t cl[RECO_CTX__STORED];
} jrow;

/* Id as text: a string (non-empty, no control bytes) or an integer printed in decimal. */
static int get_id(const reco_ltext *t, const char *ls, const char *le, const char *key, json_t *v, const char *what,
                  char *tmp, const char **s, size_t *len) {
  if (json_is_string(v)) {
    *s = json_string_value(v);
    *len = json_string_length(v);
    if (*len == 0) return reco__ltext_err(t, key_at(ls, le, key), RECO_EFORMAT, "empty %s id", what);
    if (reco__has_ctrl(*s, *len))
      return reco__ltext_err(t, key_at(ls, le, key), RECO_EFORMAT, "control character in the %s id", what);
    return 0;
  }
  if (json_is_integer(v)) {
    *len = (size_t)snprintf(tmp, 32, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    *s = tmp;
    return 0;
  }
  return reco__ltext_err(t, key_at(ls, le, key), RECO_EFORMAT, "%s id must be a string or an integer", what);
}

/*
 * Parses the line [ls, le) into *row. On success *objp holds the object that row's id strings
 * point into (json_decref it after use); ubuf and ibuf (32 bytes) hold integer ids. Returns 0,
 * or an error with the detail set (on the calling thread).
 */
static int parse_line(const reco_ltext *t, const char *ls, const char *le, const char *const *ovr, jrow *row,
                      json_t **objp, char *ubuf, char *ibuf) {
  *objp = NULL;
  const char *ws = ls;
  while (ws < le && (*ws == ' ' || *ws == '\t')) ws++;
  json_error_t jerr;
  json_t *obj = json_loadb(ls, (size_t)(le - ls), JSON_REJECT_DUPLICATES, &jerr);
  if (!obj) {
    size_t at = jerr.position > 0 ? (size_t)jerr.position - 1 : 0;
    if (at > (size_t)(le - ls)) at = (size_t)(le - ls);
    return reco__ltext_err(t, ls + at, RECO_EFORMAT, "bad JSON: %s", jerr.text);
  }
  int rc = 0;
  json_t *val[K__N] = {0};
  const char *keyname[K__N] = {0};
  const char *key;
  json_t *v;
  char sn[48];
  if (!json_is_object(obj)) {
    rc = reco__ltext_err(t, ws, RECO_EFORMAT, "expected a JSON object");
    goto out;
  }
  json_object_foreach(obj, key, v) {
    int r = key_role(key, ovr);
    if (r < 0) continue;
    if (val[r]) {
      rc = reco__ltext_err(t, key_at(ls, le, key), RECO_EFORMAT, "keys '%s' and '%s' both give the %s", keyname[r], key,
                           k_key_role[r]);
      goto out;
    }
    if (json_is_null(v)) continue;
    val[r] = v;
    keyname[r] = key;
  }
  if (!val[K_USER] || !val[K_ITEM]) {
    int r = val[K_USER] ? K_ITEM : K_USER;
    rc = reco__ltext_err(t, ws, RECO_EFORMAT, "no %s key (expected one of: %s, %s, ...)", k_key_role[r], k_key_names[r][0],
                         k_key_names[r][1]);
    goto out;
  }
  if ((rc = get_id(t, ls, le, keyname[K_USER], val[K_USER], "user", ubuf, &row->us, &row->ul)) ||
      (rc = get_id(t, ls, le, keyname[K_ITEM], val[K_ITEM], "item", ibuf, &row->is, &row->il)))
    goto out;
  row->has_value = val[K_VALUE] != NULL;
  row->type = row->has_value ? RECO_EV_RATING : RECO_EV_VIEW;
  row->v = 1.0f;
  row->ts = 0;
  if (val[K_TYPE]) {
    if (!json_is_string(val[K_TYPE])) {
      rc = reco__ltext_err(t, key_at(ls, le, keyname[K_TYPE]), RECO_EFORMAT, "event type must be a string");
      goto out;
    }
    const char *s = json_string_value(val[K_TYPE]);
    size_t n = json_string_length(val[K_TYPE]);
    char low[32];
    int type = -1;
    if (n < sizeof low) {
      for (size_t k = 0; k < n; k++) low[k] = (char)((s[k] >= 'A' && s[k] <= 'Z') ? s[k] + 32 : s[k]);
      type = reco__event_parse(low, n);
    }
    if (type < 0) {
      rc = reco__ltext_err(t, key_at(ls, le, keyname[K_TYPE]), RECO_EFORMAT, "unknown event type '%s'",
                           reco__snippet(s, n, sn));
      goto out;
    }
    row->type = type;
  }
  if (val[K_VALUE]) {
    json_t *x = val[K_VALUE];
    int prc = 0;
    double value = 0;
    if (json_is_number(x)) value = json_number_value(x);
    else if (json_is_string(x))
      prc = reco__parse_double(json_string_value(x), json_string_value(x) + json_string_length(x), &value);
    else prc = -1;
    if (!prc && !isfinite((float)value)) prc = -2;
    if (prc) {
      rc = reco__ltext_err(t, key_at(ls, le, keyname[K_VALUE]), RECO_EFORMAT,
                           prc == -2 ? "%s is not a finite number" : "%s must be a number", keyname[K_VALUE]);
      goto out;
    }
    row->v = (float)value;
  }
  for (int f = 0; f < RECO_CTX__STORED; f++) {
    json_t *x = val[f == RECO_CTX_DEVICE ? K_DEVICE : K_LOCATION];
    row->cl[f] = 0;
    if (!x) continue;
    if (!json_is_string(x) || reco__has_ctrl(json_string_value(x), json_string_length(x))) {
      rc = reco__ltext_err(t, key_at(ls, le, keyname[f == RECO_CTX_DEVICE ? K_DEVICE : K_LOCATION]), RECO_EFORMAT,
                           "%s must be a string without control characters", reco__ctx_feature_name(f));
      goto out;
    }
    row->cs[f] = json_string_value(x);
    row->cl[f] = json_string_length(x);
  }
  if (val[K_TIME]) {
    json_t *x = val[K_TIME];
    int prc = 0;
    if (json_is_integer(x)) row->ts = (int64_t)json_integer_value(x);
    else if (json_is_real(x)) {
      double d = floor(json_real_value(x));
      if (d >= -9.2e18 && d <= 9.2e18) row->ts = (int64_t)d;
      else prc = -2;
    } else if (json_is_string(x)) {
      const char *s = json_string_value(x);
      size_t n = json_string_length(x);
      if (n) prc = reco__parse_time(s, s + n, &row->ts);
    } else prc = -1;
    if (prc) {
      rc = reco__ltext_err(t, key_at(ls, le, keyname[K_TIME]), RECO_EFORMAT, "%s must be unix seconds or an ISO 8601 date",
                           keyname[K_TIME]);
      goto out;
    }
  }
out:
  if (rc) json_decref(obj);
  else *objp = obj;
  return rc;
}

/* ---- batches ---- */

#define JBATCH 8192

typedef struct jslot {
  char *ls, *le;
  int rc;            /* 0 ok, else the line's error code */
  int arena;         /* thread whose arena holds the ids */
  size_t uoff, ioff; /* offsets of the ids in that arena */
  size_t coff[RECO_CTX__STORED]; /* and of the context values */
  jrow row;
} jslot;

typedef struct jarena {
  char *buf;
  size_t len, cap;
} jarena;

static int arena_put(jarena *a, const char *s, size_t n, size_t *off) {
  if (a->len + n > a->cap) {
    size_t nc = a->cap ? a->cap : 65536;
    while (nc < a->len + n) nc *= 2;
    char *nb = reco__realloc(a->buf, nc);
    if (!nb) return RECO_ENOMEM;
    a->buf = nb;
    a->cap = nc;
  }
  memcpy(a->buf + a->len, s, n);
  *off = a->len;
  a->len += n;
  return 0;
}

/* Parses slot k on the calling thread into arena a. */
static void parse_slot(const reco_ltext *t, const char *const *ovr, jslot *s, jarena *a, int arena) {
  json_t *obj;
  char ub[32], ib[32];
  s->rc = parse_line(t, s->ls, s->le, ovr, &s->row, &obj, ub, ib);
  if (s->rc) return;
  s->arena = arena;
  if (arena_put(a, s->row.us, s->row.ul, &s->uoff) || arena_put(a, s->row.is, s->row.il, &s->ioff)) s->rc = RECO_ENOMEM;
  for (int f = 0; f < RECO_CTX__STORED && !s->rc; f++)
    if (s->row.cl[f] && arena_put(a, s->row.cs[f], s->row.cl[f], &s->coff[f])) s->rc = RECO_ENOMEM;
  json_decref(obj);
}

int reco__load_jsonl(reco_dataset *ds, const char *path, const reco_load_opts *opts) {
  reco_load_opts def = {0};
  if (!opts) opts = &def;
  const char *ovr[K__N] = {opts->col_user, opts->col_item, opts->col_value, opts->col_time, NULL};
  reco_ltext t;
  int rc = reco__ltext_read(&t, path, RECO_LT_UTF8, "no interactions");
  if (rc) return rc;
  int n_threads = reco_get_threads();
  if (n_threads < 1) n_threads = 1;
  if (n_threads > 64) n_threads = 64;
  size_t n_before = ds->n, rows = 0;
  bool explicit_values = true, more = true;
  reco_lidcache uc = {.transient = true}, ic = {.transient = true};
  jslot *slots = reco__malloc(JBATCH * sizeof *slots);
  jarena *arenas = reco__calloc((size_t)n_threads, sizeof *arenas);
  if (!slots || !arenas) {
    rc = reco__seterr(RECO_ENOMEM, "out of memory");
    goto out;
  }
  /* jansson seeds its hash function on first use; do that here, not racing in the workers */
  json_decref(json_object());
  char *pos = t.data;
  while (more) {
    int n = 0, pending = 0; /* an error past the batch's lines is reported after them */
    char *ls, *le;
    while (n < JBATCH && !(pending = reco__ltext_next_line(&t, &pos, &ls, &le, &more)) && more) {
      const char *ws = ls;
      while (ws < le && (*ws == ' ' || *ws == '\t')) ws++;
      if (ws == le) continue;
      slots[n].ls = ls;
      slots[n].le = le;
      n++;
    }
    for (int a = 0; a < n_threads; a++) arenas[a].len = 0;
    if (n_threads > 1 && n >= 256) {
#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 128)
      for (int k = 0; k < n; k++) {
        int tid = omp_get_thread_num();
        parse_slot(&t, ovr, &slots[k], &arenas[tid], tid);
      }
    } else {
      for (int k = 0; k < n; k++) parse_slot(&t, ovr, &slots[k], &arenas[0], 0);
    }
    for (int k = 0; k < n; k++) {
      jslot *s = &slots[k];
      if (s->rc) {
        if (s->rc != RECO_EFORMAT) {
          rc = reco__seterr(s->rc, "%s: %s", path, reco_strerror(s->rc));
          goto out;
        }
        /* again on this thread, for the message (a worker's detail is thread-local) */
        json_t *obj;
        jrow row;
        char ub[32], ib[32];
        rc = parse_line(&t, s->ls, s->le, ovr, &row, &obj, ub, ib);
        if (!rc) { /* cannot happen: parsing is deterministic */
          json_decref(obj);
          rc = reco__ltext_err(&t, s->ls, RECO_EFORMAT, "line could not be parsed");
        }
        goto out;
      }
      const char *ab = arenas[s->arena].buf;
      int32_t u = reco__lid(&uc, ds->users, ab + s->uoff, s->row.ul);
      int32_t i = reco__lid(&ic, ds->items, ab + s->ioff, s->row.il);
      if (u < 0 || i < 0) {
        rc = u < 0 ? u : i;
        goto out;
      }
      if ((rc = reco__ds_add(ds, u, i, s->row.v, s->row.ts, s->row.type))) goto out;
      for (int f = 0; f < RECO_CTX__STORED; f++)
        if (s->row.cl[f] && (rc = reco__ds_set_context(ds, f, ab + s->coff[f], s->row.cl[f]))) goto out;
      explicit_values &= s->row.has_value && s->row.type == RECO_EV_RATING;
      rows++;
    }
    if (pending) {
      rc = pending;
      goto out;
    }
    if (n && (rc = reco__ltext_progress(&t, &opts->progress, pos))) goto out;
  }
  if (rows == 0) rc = reco__ltext_err(&t, t.buf + t.len, RECO_EFORMAT, "no interactions in the file");
  if (!rc) reco__load_note_values(ds, n_before, explicit_values);
out:
  if (arenas)
    for (int a = 0; a < n_threads; a++) reco__free(arenas[a].buf);
  reco__free(arenas);
  reco__free(slots);
  reco__lid_free(&uc);
  reco__lid_free(&ic);
  reco__ltext_free(&t);
  return rc;
}
