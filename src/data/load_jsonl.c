/*
 * load_jsonl.c - interactions as JSON lines: one object per line, e.g.
 *   {"user": "u1", "item": 42, "rating": 4.5, "timestamp": "2024-05-01T10:00:00Z", "type": "rating"}
 * The keys are those of the CSV columns (load_csv.c), matched case-insensitively, or named by
 * opts->col_*; other keys are ignored. Ids are strings or integers; a value is a number (or a
 * numeric string); a timestamp is a number of unix seconds or a string as in CSV; null means
 * absent. A row without a value counts 1 and defaults to a "view"; with one it defaults to a
 * "rating". ds->has_values when every row has a value and is a rating. Blank lines are skipped.
 * Parsing is jansson's (strict JSON, duplicate keys rejected).
 */
#include "load.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum { K_USER, K_ITEM, K_VALUE, K_TIME, K_TYPE, K__N };

static const char *const k_key_role[K__N] = {"user", "item", "value", "timestamp", "type"};
static const char *const k_key_names[K__N][9] = {
    {"user", "user_id", "userid", "uid", "customer_id", "visitor_id", NULL},
    {"item", "item_id", "itemid", "iid", "movieid", "movie_id", "product_id", "productid", NULL},
    {"value", "rating", "weight", "score", NULL},
    {"timestamp", "time", "ts", "datetime", "date", "created_at", NULL},
    {"type", "event", "event_type", "action", NULL},
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

int reco__load_jsonl(reco_dataset *ds, const char *path, const reco_load_opts *opts) {
  reco_load_opts def = {0};
  if (!opts) opts = &def;
  const char *ovr[K__N] = {opts->col_user, opts->col_item, opts->col_value, opts->col_time, NULL};
  reco_ltext t;
  int rc = reco__ltext_read(&t, path, RECO_LT_UTF8, "no interactions");
  if (rc) return rc;
  size_t n_before = ds->n, rows = 0;
  bool explicit_values = true;
  reco_lidcache uc = {.transient = true}, ic = {.transient = true};
  char *pos = t.data, *ls, *le, sn[48];
  bool more;
  while (!(rc = reco__ltext_next_line(&t, &pos, &ls, &le, &more)) && more) {
    const char *ws = ls;
    while (ws < le && (*ws == ' ' || *ws == '\t')) ws++;
    if (ws == le) continue;
    json_error_t jerr;
    json_t *obj = json_loadb(ls, (size_t)(le - ls), JSON_REJECT_DUPLICATES, &jerr);
    if (!obj) {
      size_t at = jerr.position > 0 ? (size_t)jerr.position - 1 : 0;
      if (at > (size_t)(le - ls)) at = (size_t)(le - ls);
      rc = reco__ltext_err(&t, ls + at, RECO_EFORMAT, "bad JSON: %s", jerr.text);
      break;
    }
    if (!json_is_object(obj)) {
      json_decref(obj);
      rc = reco__ltext_err(&t, ws, RECO_EFORMAT, "expected a JSON object");
      break;
    }
    json_t *val[K__N] = {0};
    const char *keyname[K__N] = {0};
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
      int r = key_role(key, ovr);
      if (r < 0) continue;
      if (val[r]) {
        rc = reco__ltext_err(&t, key_at(ls, le, key), RECO_EFORMAT, "keys '%s' and '%s' both give the %s", keyname[r],
                             key, k_key_role[r]);
        break;
      }
      if (json_is_null(v)) continue;
      val[r] = v;
      keyname[r] = key;
    }
    char ubuf[32], ibuf[32];
    const char *us = NULL, *is = NULL;
    size_t ul = 0, il = 0;
    int type = val[K_VALUE] ? RECO_EV_RATING : RECO_EV_VIEW;
    double value = 1.0;
    int64_t ts = 0;
    if (!rc && (!val[K_USER] || !val[K_ITEM]))
      rc = reco__ltext_err(&t, ws, RECO_EFORMAT, "no %s key (expected one of: %s, %s, ...)", val[K_USER] ? "item" : "user",
                           k_key_names[val[K_USER] ? K_ITEM : K_USER][0], k_key_names[val[K_USER] ? K_ITEM : K_USER][1]);
    if (!rc) rc = get_id(&t, ls, le, keyname[K_USER], val[K_USER], "user", ubuf, &us, &ul);
    if (!rc) rc = get_id(&t, ls, le, keyname[K_ITEM], val[K_ITEM], "item", ibuf, &is, &il);
    if (!rc && val[K_TYPE]) {
      if (!json_is_string(val[K_TYPE])) {
        rc = reco__ltext_err(&t, key_at(ls, le, keyname[K_TYPE]), RECO_EFORMAT, "event type must be a string");
      } else {
        const char *s = json_string_value(val[K_TYPE]);
        size_t n = json_string_length(val[K_TYPE]);
        char low[32];
        type = -1;
        if (n < sizeof low) {
          for (size_t k = 0; k < n; k++) low[k] = (char)((s[k] >= 'A' && s[k] <= 'Z') ? s[k] + 32 : s[k]);
          type = reco__event_parse(low, n);
        }
        if (type < 0)
          rc = reco__ltext_err(&t, key_at(ls, le, keyname[K_TYPE]), RECO_EFORMAT, "unknown event type '%s'",
                               reco__snippet(s, n, sn));
      }
    }
    if (!rc && val[K_VALUE]) {
      json_t *x = val[K_VALUE];
      int prc = 0;
      if (json_is_number(x)) value = json_number_value(x);
      else if (json_is_string(x)) prc = reco__parse_double(json_string_value(x), json_string_value(x) + json_string_length(x), &value);
      else prc = -1;
      if (!prc && !isfinite((float)value)) prc = -2;
      if (prc)
        rc = reco__ltext_err(&t, key_at(ls, le, keyname[K_VALUE]), RECO_EFORMAT,
                             prc == -2 ? "%s is not a finite number" : "%s must be a number", keyname[K_VALUE]);
    }
    if (!rc && val[K_TIME]) {
      json_t *x = val[K_TIME];
      int prc = 0;
      if (json_is_integer(x)) ts = (int64_t)json_integer_value(x);
      else if (json_is_real(x)) {
        double d = floor(json_real_value(x));
        if (d >= -9.2e18 && d <= 9.2e18) ts = (int64_t)d;
        else prc = -2;
      } else if (json_is_string(x)) {
        const char *s = json_string_value(x);
        size_t n = json_string_length(x);
        if (n) prc = reco__parse_time(s, s + n, &ts);
      } else prc = -1;
      if (prc)
        rc = reco__ltext_err(&t, key_at(ls, le, keyname[K_TIME]), RECO_EFORMAT,
                             "%s must be unix seconds or an ISO 8601 date", keyname[K_TIME]);
    }
    if (!rc) {
      explicit_values &= val[K_VALUE] != NULL && type == RECO_EV_RATING;
      int32_t u = reco__lid(&uc, ds->users, us, ul);
      int32_t i = reco__lid(&ic, ds->items, is, il);
      if (u < 0 || i < 0) rc = u < 0 ? u : i;
      else rc = reco__ds_add(ds, u, i, (float)value, ts, type);
    }
    json_decref(obj);
    if (rc) break;
    if ((++rows & 0xffff) == 0 && (rc = reco__ltext_progress(&t, &opts->progress, pos))) break;
  }
  if (!rc && rows == 0) rc = reco__ltext_err(&t, t.buf + t.len, RECO_EFORMAT, "no interactions in the file");
  if (!rc) rc = reco__ltext_progress(&t, &opts->progress, t.buf + t.len);
  if (!rc) reco__load_note_values(ds, n_before, explicit_values);
  reco__lid_free(&uc);
  reco__lid_free(&ic);
  reco__ltext_free(&t);
  return rc;
}
