/*
 * load_csv.c - delimited text with a header line: interactions (generic CSV/TSV, MovieLens
 * latest's ratings.csv, `reco data gen`'s interactions.csv), an item catalogue (items.csv) and
 * user attributes (users.csv).
 *
 * Interactions: the header names the columns, matched case-insensitively (or exactly as named
 * by opts->col_*):
 *   user      user, user_id, userid (userId), uid, customer_id, visitor_id       required
 *   item      item, item_id, itemid (itemId), iid, movieid (movieId), movie_id,
 *             product_id, productid                                              required
 *   value     value, rating, weight, score                                       optional
 *   timestamp timestamp, time, ts, datetime, date, created_at                    optional
 *   type      type, event, event_type, action (see reco__event_parse)            optional
 * Other columns are ignored. The delimiter is the most frequent of ',', '\t', ';', '|' in the
 * header (outside quotes) unless opts->delimiter is set. Without a value column every
 * interaction counts 1; with a type column an empty value is 1 for non-rating events. The
 * event type defaults to "rating" when there is a value column, else "view". ds->has_values is
 * set when there is a value column and every row is a rating. Timestamps are integers (kept as
 * written), decimals (floored) or ISO 8601 dates (unix seconds); empty means unknown (0).
 */
#include "load.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_COLS 256

enum { COL_USER, COL_ITEM, COL_VALUE, COL_TIME, COL_TYPE, COL__N };

static const char *const k_role[COL__N] = {"user", "item", "value", "timestamp", "type"};
static const char *const k_role_names[COL__N][9] = {
    {"user", "user_id", "userid", "uid", "customer_id", "visitor_id", NULL},
    {"item", "item_id", "itemid", "iid", "movieid", "movie_id", "product_id", "productid", NULL},
    {"value", "rating", "weight", "score", NULL},
    {"timestamp", "time", "ts", "datetime", "date", "created_at", NULL},
    {"type", "event", "event_type", "action", NULL},
};

static bool name_is(const reco_lfield *f, const char *name) {
  return f->len == strlen(name) && strncasecmp(f->p, name, f->len) == 0;
}

/* The most frequent candidate delimiter on the first line, outside quotes (',' on a tie). */
static char detect_delim(const char *p) {
  static const char cand[4] = {',', '\t', ';', '|'};
  size_t cnt[4] = {0};
  bool inq = false;
  for (; *p && (inq || *p != '\n'); p++) {
    if (*p == '"') inq = !inq;
    else if (!inq)
      for (int k = 0; k < 4; k++) cnt[k] += *p == cand[k];
  }
  int best = 0;
  for (int k = 1; k < 4; k++)
    if (cnt[k] > cnt[best]) best = k;
  return cand[best];
}

/* Parsed header: the column of each role (-1 absent). */
typedef struct csv_header {
  reco_lfield name[MAX_COLS];
  int n;
  int col[COL__N];
  char delim;
  char *start;
} csv_header;

static int read_header(const reco_ltext *t, char **pos, char delim, csv_header *h) {
  h->delim = delim ? delim : detect_delim(*pos);
  h->start = *pos;
  int n = reco__csv_record(t, pos, h->delim, h->name, MAX_COLS, NULL);
  if (n < 0) return n;
  if (n == 0) return reco__ltext_err(t, h->start, RECO_EFORMAT, "empty header line");
  h->n = n;
  for (int k = 0; k < n; k++)
    if (reco__has_ctrl(h->name[k].p, h->name[k].len))
      return reco__ltext_err(t, h->name[k].p, RECO_EFORMAT, "control character in a column name");
  return 0;
}

/* Finds the column of role r: the override name when given, else the first known name. */
static int find_role(const reco_ltext *t, const csv_header *h, const char *label, const char *override,
                     const char *const *names, int *out) {
  *out = -1;
  for (int c = 0; c < h->n; c++) {
    bool hit = false;
    if (override) hit = name_is(&h->name[c], override);
    else
      for (int k = 0; names[k] && !hit; k++) hit = name_is(&h->name[c], names[k]);
    if (!hit) continue;
    if (*out >= 0) {
      char a[48], b[48];
      return reco__ltext_err(t, h->name[c].p, RECO_EFORMAT, "columns '%s' and '%s' both name the %s column; keep one",
                             reco__snippet(h->name[*out].p, h->name[*out].len, a),
                             reco__snippet(h->name[c].p, h->name[c].len, b), label);
    }
    *out = c;
  }
  if (override && *out < 0)
    return reco__ltext_err(t, h->start, RECO_EFORMAT, "no column named '%s' (the %s column asked for) in the header",
                           override, label);
  return 0;
}

static int missing_col(const reco_ltext *t, const csv_header *h, const char *what, const char *const *names) {
  char list[160];
  size_t len = 0;
  for (int k = 0; names[k] && len < sizeof list - 40; k++)
    len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", k ? ", " : "", names[k]);
  return reco__ltext_err(t, h->start, RECO_EFORMAT,
                         "no %s column in the header (expected one of: %s); a header line is required", what, list);
}

static int check_id(const reco_ltext *t, const reco_lfield *f, const char *what) {
  if (f->len == 0) return reco__ltext_err(t, f->p, RECO_EFORMAT, "empty %s id", what);
  if (reco__has_ctrl(f->p, f->len)) return reco__ltext_err(t, f->p, RECO_EFORMAT, "control character in the %s id", what);
  return 0;
}

static int too_few(const reco_ltext *t, const reco_lfield *f, int k, int n) {
  return reco__ltext_err(t, f[k - 1].p + f[k - 1].len, RECO_EFORMAT, "too few fields: expected %d, found %d", n, k);
}

/* Event type of a field (case-insensitive), -1 if unknown. */
static int parse_type(const char *p, size_t len) {
  char low[32];
  if (len >= sizeof low) return -1;
  for (size_t k = 0; k < len; k++) low[k] = (char)((p[k] >= 'A' && p[k] <= 'Z') ? p[k] + 32 : p[k]);
  return reco__event_parse(low, len);
}

static int bad_type(const reco_ltext *t, const reco_lfield *f) {
  char sn[48], known[160];
  size_t len = 0;
  for (int k = 0; k < RECO_EV__COUNT; k++)
    len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", k ? ", " : "", reco__event_name(k));
  return reco__ltext_err(t, f->p, RECO_EFORMAT, "unknown event type '%s' (known: %s)", reco__snippet(f->p, f->len, sn), known);
}

/* Rows parsed but not yet added: ids are resolved a batch at a time (reco__lid_batch). */
typedef struct batch {
  int n;
  reco_lfield user[RECO_LID_BATCH], item[RECO_LID_BATCH];
  float v[RECO_LID_BATCH];
  int64_t ts[RECO_LID_BATCH];
  uint8_t type[RECO_LID_BATCH];
  int32_t u[RECO_LID_BATCH], i[RECO_LID_BATCH];
} batch;

static int flush(reco_dataset *ds, batch *b, reco_lidcache *uc, reco_lidcache *ic) {
  int rc = reco__lid_batch(uc, ds->users, b->user, b->n, b->u);
  if (!rc) rc = reco__lid_batch(ic, ds->items, b->item, b->n, b->i);
  for (int k = 0; !rc && k < b->n; k++) rc = reco__ds_add(ds, b->u[k], b->i[k], b->v[k], b->ts[k], b->type[k]);
  b->n = 0;
  return rc;
}

int reco__load_csv_ml(reco_dataset *ds, const char *path, const reco_load_opts *opts, bool movielens) {
  reco_load_opts def = {0};
  if (!opts) opts = &def;
  reco_ltext t;
  int rc = reco__ltext_read(&t, path, RECO_LT_UTF8, "no header");
  if (rc) return rc;
  csv_header *h = reco__malloc(sizeof *h);
  reco_lfield *f = reco__malloc(MAX_COLS * sizeof *f);
  batch *b = reco__calloc(1, sizeof *b);
  reco_lidcache uc = {0}, ic = {0};
  size_t n_before = ds->n;
  char *pos = t.data, *end = t.buf + t.len;
  if (!h || !f || !b) {
    rc = reco__seterr(RECO_ENOMEM, "out of memory");
    goto out;
  }
  if ((rc = read_header(&t, &pos, opts->delimiter, h))) goto out;
  const char *ovr[COL__N] = {opts->col_user, opts->col_item, opts->col_value, opts->col_time, NULL};
  for (int r = 0; r < COL__N; r++)
    if ((rc = find_role(&t, h, k_role[r], ovr[r], k_role_names[r], &h->col[r]))) goto out;
  if (h->col[COL_USER] < 0) {
    rc = missing_col(&t, h, "user", k_role_names[COL_USER]);
    goto out;
  }
  if (h->col[COL_ITEM] < 0) {
    rc = missing_col(&t, h, "item", k_role_names[COL_ITEM]);
    goto out;
  }
  const int cu = h->col[COL_USER], ci = h->col[COL_ITEM], cv = h->col[COL_VALUE], ct = h->col[COL_TIME],
            cy = h->col[COL_TYPE], nc = h->n;
  const reco_lfield *hu = &h->name[cu], *hi = &h->name[ci];
  const int def_type = cv >= 0 ? RECO_EV_RATING : RECO_EV_VIEW;
  bool all_ratings = true;
  if ((rc = reco__ds_reserve(ds, ds->n + reco__ltext_estimate_lines(&t)))) goto out;
  size_t rows = 0;
  char sn[48];
  while (pos < end) {
    char *rs = pos;
    int k = reco__csv_record(&t, &pos, h->delim, f, nc, NULL);
    if (k <= 0) {
      if ((rc = k)) goto out;
      continue;
    }
    if (k < nc) {
      rc = too_few(&t, f, k, nc);
      goto out;
    }
    const reco_lfield *fu = &f[cu], *fi = &f[ci];
    if (fu->len == hu->len && fi->len == hi->len && memcmp(fu->p, hu->p, hu->len) == 0 &&
        memcmp(fi->p, hi->p, hi->len) == 0) {
      rc = reco__ltext_err(&t, rs, RECO_EFORMAT, "header line repeated");
      goto out;
    }
    if ((rc = check_id(&t, fu, "user")) || (rc = check_id(&t, fi, "item"))) goto out;
    int type = def_type;
    if (cy >= 0 && f[cy].len) {
      type = parse_type(f[cy].p, f[cy].len);
      if (type < 0) {
        rc = bad_type(&t, &f[cy]);
        goto out;
      }
    }
    all_ratings &= type == RECO_EV_RATING;
    double v = 1.0;
    if (cv >= 0) {
      const reco_lfield *x = &f[cv];
      if (x->len == 0) {
        if (type == RECO_EV_RATING) {
          rc = reco__ltext_err(&t, x->p, RECO_EFORMAT, "empty %.*s", (int)RECO_MIN(h->name[cv].len, 40), h->name[cv].p);
          goto out;
        }
      } else {
        int prc = reco__parse_double(x->p, x->p + x->len, &v);
        if (prc == 0 && !isfinite((float)v)) prc = -2;
        if (prc) {
          rc = reco__ltext_err(&t, x->p, RECO_EFORMAT, prc == -2 ? "%.*s '%s' is not a finite number" : "%.*s is not a number: '%s'",
                               (int)RECO_MIN(h->name[cv].len, 40), h->name[cv].p, reco__snippet(x->p, x->len, sn));
          goto out;
        }
        if (movielens && !(v >= 0.5 && v <= 5.0)) {
          rc = reco__ltext_err(&t, x->p, RECO_EFORMAT, "rating '%s' outside MovieLens' range 0.5..5",
                               reco__snippet(x->p, x->len, sn));
          goto out;
        }
      }
    }
    int64_t ts = 0;
    if (ct >= 0 && f[ct].len) {
      int prc = reco__parse_time(f[ct].p, f[ct].p + f[ct].len, &ts);
      if (prc) {
        rc = reco__ltext_err(&t, f[ct].p, RECO_EFORMAT,
                             prc == -2 ? "%.*s '%s' is out of range"
                                       : "%.*s '%s' is not a time (expected unix seconds or an ISO 8601 date)",
                             (int)RECO_MIN(h->name[ct].len, 40), h->name[ct].p, reco__snippet(f[ct].p, f[ct].len, sn));
        goto out;
      }
    }
    b->user[b->n] = *fu;
    b->item[b->n] = *fi;
    b->v[b->n] = (float)v;
    b->ts[b->n] = ts;
    b->type[b->n] = (uint8_t)type;
    if (++b->n == RECO_LID_BATCH && (rc = flush(ds, b, &uc, &ic))) goto out;
    if ((++rows & 0x3ffff) == 0 && (rc = reco__ltext_progress(&t, &opts->progress, pos))) goto out;
  }
  if ((rc = flush(ds, b, &uc, &ic))) goto out;
  if (rows == 0) {
    rc = reco__ltext_err(&t, end, RECO_EFORMAT, "no interactions after the header");
    goto out;
  }
  if ((rc = reco__ltext_progress(&t, &opts->progress, end))) goto out;
  reco__load_note_values(ds, n_before, cv >= 0 && all_ratings);
out:
  reco__lid_free(&uc);
  reco__lid_free(&ic);
  reco__free(b);
  reco__free(h);
  reco__free(f);
  reco__ltext_free(&t);
  return rc;
}

int reco__load_csv(reco_dataset *ds, const char *path, const reco_load_opts *opts) {
  return reco__load_csv_ml(ds, path, opts, false);
}

/* ---- items.csv ---- */

enum { IC_ITEM, IC_TITLE, IC_CAT, IC_TAGS, IC_PRICE, IC_YEAR, IC_TEXT, IC__N };
static const char *const k_item_role[IC__N] = {"item", "title", "category", "tags", "price", "year", "text"};
static const char *const k_item_names[IC__N][9] = {
    {"item", "item_id", "itemid", "iid", "movieid", "movie_id", "product_id", "productid", NULL},
    {"title", "name", NULL},
    {"category", "categories", "genre", "genres", NULL},
    {"tags", "tag", "keywords", NULL},
    {"price", NULL},
    {"year", NULL},
    {"text", "description", "desc", NULL},
};

/* Calls add(ds, item, s, len) for each trimmed, non-empty piece of a '|' list. */
static int add_list(const reco_ltext *t, reco_dataset *ds, int32_t item, const reco_lfield *x, const char *what,
                    int (*add)(reco_dataset *, int32_t, const char *, size_t)) {
  const char *p = x->p, *e = x->p + x->len;
  while (p < e) {
    const char *q = memchr(p, '|', (size_t)(e - p));
    const char *ps = p, *pe = q ? q : e;
    reco__trim(&ps, &pe);
    if (pe > ps) {
      if (reco__has_ctrl(ps, (size_t)(pe - ps))) return reco__ltext_err(t, ps, RECO_EFORMAT, "control character in a %s", what);
      int rc = add(ds, item, ps, (size_t)(pe - ps));
      if (rc) return rc;
    }
    p = q ? q + 1 : e;
  }
  return 0;
}

int reco__load_csv_items(reco_dataset *ds, const char *path) {
  reco_ltext t;
  int rc = reco__ltext_read(&t, path, RECO_LT_UTF8, "no header");
  if (rc) return rc;
  csv_header *h = reco__malloc(sizeof *h);
  reco_lfield *f = reco__malloc(MAX_COLS * sizeof *f);
  char *pos = t.data, *end = t.buf + t.len, sn[48];
  int col[IC__N];
  size_t rows = 0;
  if (!h || !f) {
    rc = reco__seterr(RECO_ENOMEM, "out of memory");
    goto out;
  }
  if ((rc = read_header(&t, &pos, 0, h))) goto out;
  for (int r = 0; r < IC__N; r++) {
    if ((rc = find_role(&t, h, k_item_role[r], NULL, k_item_names[r], &col[r]))) goto out;
  }
  if (col[IC_ITEM] < 0) {
    rc = missing_col(&t, h, "item", k_item_names[IC_ITEM]);
    goto out;
  }
  const reco_lfield *hi = &h->name[col[IC_ITEM]];
  while (pos < end) {
    char *rs = pos;
    int k = reco__csv_record(&t, &pos, h->delim, f, h->n, NULL);
    if (k <= 0) {
      if ((rc = k)) goto out;
      continue;
    }
    if (k < h->n) {
      rc = too_few(&t, f, k, h->n);
      goto out;
    }
    const reco_lfield *fi = &f[col[IC_ITEM]];
    if (fi->len == hi->len && memcmp(fi->p, hi->p, hi->len) == 0) {
      rc = reco__ltext_err(&t, rs, RECO_EFORMAT, "header line repeated");
      goto out;
    }
    if ((rc = check_id(&t, fi, "item"))) goto out;
    int32_t item = reco__ds_item(ds, fi->p, fi->len);
    if (item < 0) {
      rc = item;
      goto out;
    }
    if (col[IC_TITLE] >= 0 && f[col[IC_TITLE]].len &&
        (rc = reco__ds_set_title(ds, item, f[col[IC_TITLE]].p, f[col[IC_TITLE]].len)))
      goto out;
    if (col[IC_TEXT] >= 0 && f[col[IC_TEXT]].len &&
        (rc = reco__ds_set_text(ds, item, f[col[IC_TEXT]].p, f[col[IC_TEXT]].len)))
      goto out;
    if (col[IC_CAT] >= 0 && (rc = add_list(&t, ds, item, &f[col[IC_CAT]], "category", reco__ds_add_category))) goto out;
    if (col[IC_TAGS] >= 0 && (rc = add_list(&t, ds, item, &f[col[IC_TAGS]], "tag", reco__ds_add_tag))) goto out;
    if (col[IC_PRICE] >= 0 && f[col[IC_PRICE]].len) {
      const reco_lfield *x = &f[col[IC_PRICE]];
      double v;
      if (reco__parse_double(x->p, x->p + x->len, &v) || !isfinite((float)v) || v < 0) {
        rc = reco__ltext_err(&t, x->p, RECO_EFORMAT, "price must be a finite number >= 0, got '%s'", reco__snippet(x->p, x->len, sn));
        goto out;
      }
      if ((rc = reco__ds_set_price(ds, item, (float)v))) goto out;
    }
    if (col[IC_YEAR] >= 0 && f[col[IC_YEAR]].len) {
      const reco_lfield *x = &f[col[IC_YEAR]];
      uint64_t y;
      if (reco__parse_u64(x->p, x->p + x->len, &y) || y < 1 || y > 9999) {
        rc = reco__ltext_err(&t, x->p, RECO_EFORMAT, "year must be an integer 1..9999, got '%s'", reco__snippet(x->p, x->len, sn));
        goto out;
      }
      if ((rc = reco__ds_set_year(ds, item, (int32_t)y))) goto out;
    }
    rows++;
  }
  if (rows == 0) rc = reco__ltext_err(&t, end, RECO_EFORMAT, "no items after the header");
out:
  reco__free(h);
  reco__free(f);
  reco__ltext_free(&t);
  return rc;
}

/* ---- users.csv ---- */

int reco__load_csv_users(reco_dataset *ds, const char *path) {
  reco_ltext t;
  int rc = reco__ltext_read(&t, path, RECO_LT_UTF8, "no header");
  if (rc) return rc;
  csv_header *h = reco__malloc(sizeof *h);
  reco_lfield *f = reco__malloc(MAX_COLS * sizeof *f);
  char *pos = t.data, *end = t.buf + t.len, *attr = NULL;
  size_t attr_cap = 0, rows = 0;
  int cu;
  if (!h || !f) {
    rc = reco__seterr(RECO_ENOMEM, "out of memory");
    goto out;
  }
  if ((rc = read_header(&t, &pos, 0, h)) || (rc = find_role(&t, h, "user", NULL, k_role_names[COL_USER], &cu))) goto out;
  if (cu < 0) {
    rc = missing_col(&t, h, "user", k_role_names[COL_USER]);
    goto out;
  }
  const reco_lfield *hu = &h->name[cu];
  while (pos < end) {
    char *rs = pos;
    int k = reco__csv_record(&t, &pos, h->delim, f, h->n, NULL);
    if (k <= 0) {
      if ((rc = k)) goto out;
      continue;
    }
    if (k < h->n) {
      rc = too_few(&t, f, k, h->n);
      goto out;
    }
    const reco_lfield *fu = &f[cu];
    if (fu->len == hu->len && memcmp(fu->p, hu->p, hu->len) == 0) {
      rc = reco__ltext_err(&t, rs, RECO_EFORMAT, "header line repeated");
      goto out;
    }
    if ((rc = check_id(&t, fu, "user"))) goto out;
    /* "name=value;..." of the other non-empty columns, in one buffer reused for every row */
    size_t need = 1;
    for (int c = 0; c < h->n; c++) need += h->name[c].len + f[c].len + 2;
    if (need > attr_cap) {
      char *na = reco__realloc(attr, need);
      if (!na) {
        rc = reco__seterr(RECO_ENOMEM, "out of memory");
        goto out;
      }
      attr = na;
      attr_cap = need;
    }
    size_t len = 0;
    for (int c = 0; c < h->n; c++) {
      if (c == cu || f[c].len == 0 || h->name[c].len == 0) continue;
      if (len) attr[len++] = ';';
      memcpy(attr + len, h->name[c].p, h->name[c].len);
      len += h->name[c].len;
      attr[len++] = '=';
      memcpy(attr + len, f[c].p, f[c].len);
      len += f[c].len;
    }
    int32_t u = reco__ds_user(ds, fu->p, fu->len);
    if (u < 0) {
      rc = u;
      goto out;
    }
    if ((rc = reco__ds_set_user_attr(ds, u, attr ? attr : "", len))) goto out;
    rows++;
  }
  if (rows == 0) rc = reco__ltext_err(&t, end, RECO_EFORMAT, "no users after the header");
out:
  reco__free(attr);
  reco__free(h);
  reco__free(f);
  reco__ltext_free(&t);
  return rc;
}
