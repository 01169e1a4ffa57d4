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
 *   device    device, device_type, platform      (context, dataset.h)              optional
 *   location  location, place, loc                (context)                         optional
 * Other columns are ignored. The delimiter is the most frequent of ',', '\t', ';', '|' in the
 * header (outside quotes) unless opts->delimiter is set. Without a value column every
 * interaction counts 1; with a type column an empty value is 1 for non-rating events. The
 * event type defaults to "rating" when there is a value column, else "view". ds->has_values is
 * set when there is a value column and every row is a rating. Timestamps are integers (kept as
 * written), decimals (floored) or ISO 8601 dates (unix seconds); empty means unknown (0).
 */
#include "load.h"

#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_COLS 1024

enum { COL_USER, COL_ITEM, COL_VALUE, COL_TIME, COL_TYPE, COL_DEVICE, COL_LOCATION, COL__N };

static const char *const k_role[COL__N] = {"user", "item", "value", "timestamp", "type", "device", "location"};
static const char *const k_role_names[COL__N][9] = {
    {"user", "user_id", "userid", "uid", "customer_id", "visitor_id", NULL},
    {"item", "item_id", "itemid", "iid", "movieid", "movie_id", "product_id", "productid", NULL},
    {"value", "rating", "weight", "score", NULL},
    {"timestamp", "time", "ts", "datetime", "date", "created_at", NULL},
    {"type", "event", "event_type", "action", NULL},
    {"device", "device_type", "platform", NULL},
    {"location", "place", "loc", NULL},
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
  double num;
  const reco_lfield *f0 = &h->name[0];
  if (reco__parse_double(f0->p, f0->p + f0->len, &num) == 0)
    return reco__ltext_err(t, h->start, RECO_EFORMAT,
                           "the first line looks like data, not a header naming the columns (%s, ...); "
                           "for a MovieLens file without a header use --format ml-100k or ml-1m",
                           list);
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

/* One parsed interaction row; the ids point into the loaded text. */
typedef struct crow {
  reco_lfield user, item;
  float v;
  int64_t ts;
  int type;
  reco_lfield ctx[RECO_CTX__STORED]; /* context values as text (len 0 = none) */
} crow;

/* What every row parser needs; read-only while rows are parsed (by several threads). */
typedef struct csv_ctx {
  const reco_ltext *t;
  const csv_header *h;
  int cu, ci, cv, ct, cy, nc, def_type;
  int cx[RECO_CTX__STORED]; /* context columns, -1 absent */
  bool movielens;
} csv_ctx;

/* Per-thread scratch of the row parser. */
typedef struct row_scratch {
  reco_lfield f[MAX_COLS];
  reco_lfield last_type; /* event types repeat: the previous row's, already parsed */
  int last_type_id;
} row_scratch;

/*
 * Parses the record at *pos into *row and advances *pos. Returns 1 for a row, 0 for a blank
 * line, or a negative error whose detail is set on the calling thread. Deterministic, so a
 * failure seen by a worker thread can be parsed again on the caller's thread for its message.
 */
static int parse_row(const csv_ctx *c, char **pos, row_scratch *sc, crow *row) {
  const reco_ltext *t = c->t;
  const csv_header *h = c->h;
  reco_lfield *f = sc->f;
  char *rs = *pos, sn[48];
  int k = reco__csv_record(t, pos, h->delim, f, c->nc, NULL);
  if (k <= 0) return k;
  if (k < c->nc) return too_few(t, f, k, c->nc);
  const reco_lfield *fu = &f[c->cu], *fi = &f[c->ci], *hu = &h->name[c->cu], *hi = &h->name[c->ci];
  if (fu->len == hu->len && fi->len == hi->len && memcmp(fu->p, hu->p, hu->len) == 0 && memcmp(fi->p, hi->p, hi->len) == 0)
    return reco__ltext_err(t, rs, RECO_EFORMAT, "header line repeated");
  int rc;
  if ((rc = check_id(t, fu, "user")) || (rc = check_id(t, fi, "item"))) return rc;
  int type = c->def_type;
  if (c->cy >= 0 && f[c->cy].len) {
    const reco_lfield *x = &f[c->cy];
    if (x->len == sc->last_type.len && memcmp(x->p, sc->last_type.p, x->len) == 0) type = sc->last_type_id;
    else type = parse_type(x->p, x->len);
    if (type < 0) return bad_type(t, x);
    sc->last_type = *x;
    sc->last_type_id = type;
  }
  double v = 1.0;
  if (c->cv >= 0) {
    const reco_lfield *x = &f[c->cv], *name = &h->name[c->cv];
    int nl = (int)RECO_MIN(name->len, 40);
    if (x->len == 0) {
      if (type == RECO_EV_RATING) return reco__ltext_err(t, x->p, RECO_EFORMAT, "empty %.*s", nl, name->p);
    } else {
      int prc = reco__parse_double(x->p, x->p + x->len, &v);
      if (prc == 0 && !isfinite((float)v)) prc = -2;
      if (prc)
        return reco__ltext_err(t, x->p, RECO_EFORMAT,
                               prc == -2 ? "%.*s '%s' is not a finite number" : "%.*s is not a number: '%s'", nl, name->p,
                               reco__snippet(x->p, x->len, sn));
      if (c->movielens && !(v >= 0.5 && v <= 5.0))
        return reco__ltext_err(t, x->p, RECO_EFORMAT, "rating '%s' outside MovieLens' range 0.5..5",
                               reco__snippet(x->p, x->len, sn));
    }
  }
  int64_t ts = 0;
  if (c->ct >= 0 && f[c->ct].len) {
    const reco_lfield *x = &f[c->ct], *name = &h->name[c->ct];
    int prc = reco__parse_time(x->p, x->p + x->len, &ts);
    if (prc)
      return reco__ltext_err(t, x->p, RECO_EFORMAT,
                             prc == -2 ? "%.*s '%s' is out of range"
                                       : "%.*s '%s' is not a time (expected unix seconds or an ISO 8601 date)",
                             (int)RECO_MIN(name->len, 40), name->p, reco__snippet(x->p, x->len, sn));
  }
  row->user = *fu;
  row->item = *fi;
  row->v = (float)v;
  row->ts = ts;
  row->type = type;
  for (int x = 0; x < RECO_CTX__STORED; x++) {
    row->ctx[x].len = 0;
    if (c->cx[x] < 0) continue;
    row->ctx[x] = f[c->cx[x]];
    if (reco__has_ctrl(row->ctx[x].p, row->ctx[x].len))
      return reco__ltext_err(t, row->ctx[x].p, RECO_EFORMAT, "control character in the %s", reco__ctx_feature_name(x));
  }
  return 1;
}

/* Rows parsed but not yet added: ids are resolved a batch at a time (reco__lid_batch). */
typedef struct batch {
  int n;
  reco_lfield user[RECO_LID_BATCH], item[RECO_LID_BATCH];
  float v[RECO_LID_BATCH];
  int64_t ts[RECO_LID_BATCH];
  uint8_t type[RECO_LID_BATCH];
  reco_lfield ctx[RECO_LID_BATCH][RECO_CTX__STORED];
  int32_t u[RECO_LID_BATCH], i[RECO_LID_BATCH];
  reco_lidcache uc, ic;
  bool all_ratings;
  size_t rows;
} batch;

static int flush(reco_dataset *ds, batch *b) {
  int rc = reco__lid_batch(&b->uc, ds->users, b->user, b->n, b->u);
  if (!rc) rc = reco__lid_batch(&b->ic, ds->items, b->item, b->n, b->i);
  for (int k = 0; !rc && k < b->n; k++) {
    rc = reco__ds_add(ds, b->u[k], b->i[k], b->v[k], b->ts[k], b->type[k]);
    for (int x = 0; !rc && x < RECO_CTX__STORED; x++)
      if (b->ctx[k][x].len) rc = reco__ds_set_context(ds, x, b->ctx[k][x].p, b->ctx[k][x].len);
  }
  b->n = 0;
  return rc;
}

static int push(reco_dataset *ds, batch *b, const crow *r) {
  b->user[b->n] = r->user;
  b->item[b->n] = r->item;
  b->v[b->n] = r->v;
  b->ts[b->n] = r->ts;
  b->type[b->n] = (uint8_t)r->type;
  memcpy(b->ctx[b->n], r->ctx, sizeof r->ctx);
  b->all_ratings &= r->type == RECO_EV_RATING;
  b->rows++;
  return ++b->n == RECO_LID_BATCH ? flush(ds, b) : 0;
}

static int rows_sequential(reco_dataset *ds, const csv_ctx *c, char *pos, const reco_progress *prog, batch *b,
                           row_scratch *sc) {
  char *end = c->t->buf + c->t->len;
  int rc = 0;
  while (pos < end) {
    crow row;
    int k = parse_row(c, &pos, sc, &row);
    if (k < 0) return k;
    if (k == 0) continue;
    if ((rc = push(ds, b, &row))) return rc;
    if ((b->rows & 0x3ffff) == 0 && (rc = reco__ltext_progress(c->t, prog, pos))) return rc;
  }
  return flush(ds, b);
}

/*
 * Big files without any '"' (so that every newline ends a record) are parsed in a pipeline:
 * the file is cut at newlines into pieces of reco__csv_piece_bytes; while the calling thread
 * adds the rows of one round of pieces to the dataset (ids resolved in file order, so indices
 * are those of a sequential load), the other threads parse the next round, each piece into its
 * own row array, stopping at its first failure. The first failure in file order is parsed again
 * on the calling thread for its message (error details are thread-local).
 */
#define PAR_MIN_BYTES ((size_t)4 << 20) /* below this one thread is as fast */
size_t reco__csv_piece_bytes = (size_t)8 << 20;
#define PAR_MAX_THREADS 4 /* one thread adds rows: more parsers than 3 would wait on it */

typedef struct piece {
  char *start, *end;
  crow *rows;
  size_t n, cap;
  int rc;       /* first failure (0 none) */
  char *err_at; /* the record that failed */
  row_scratch *sc;
} piece;

typedef struct par_round {
  piece pc[PAR_MAX_THREADS];
  int n; /* pieces in use */
} par_round;

static void parse_piece(const csv_ctx *c, piece *pc) {
  char *pos = pc->start;
  pc->n = 0;
  pc->rc = 0;
  while (pos < pc->end) {
    char *rs = pos;
    crow row;
    int k = parse_row(c, &pos, pc->sc, &row);
    if (k < 0 || (k > 0 && RECO_GROW(pc->rows, pc->cap, pc->n + 1))) {
      pc->rc = k < 0 ? k : RECO_ENOMEM;
      pc->err_at = rs;
      return;
    }
    if (k > 0) pc->rows[pc->n++] = row;
  }
}

/* Cuts up to n pieces from *pos (each ending after a newline, or at the end). */
static void cut_round(par_round *r, int n, char **pos, char *end) {
  r->n = 0;
  for (int k = 0; k < n && *pos < end; k++) {
    piece *pc = &r->pc[r->n++];
    pc->start = *pos;
    size_t piece = reco__csv_piece_bytes ? reco__csv_piece_bytes : 1;
    char *e = (size_t)(end - *pos) > piece ? *pos + piece : end;
    if (e < end) {
      char *nl = memchr(e, '\n', (size_t)(end - e));
      e = nl ? nl + 1 : end;
    }
    pc->end = *pos = e;
  }
}

/* Adds a parsed round's rows in order; reports its first failure. Runs on the calling thread. */
static int add_round(reco_dataset *ds, const csv_ctx *c, par_round *r, batch *b, const reco_progress *prog) {
  int rc = 0;
  for (int k = 0; k < r->n && !rc; k++) {
    piece *pc = &r->pc[k];
    for (size_t i = 0; i < pc->n && !rc; i++) rc = push(ds, b, &pc->rows[i]);
    if (rc || !pc->rc) continue;
    if (pc->rc != RECO_EFORMAT) return reco__seterr(pc->rc, "%s: %s", c->t->path, reco_strerror(pc->rc));
    char *at = pc->err_at;
    crow row;
    rc = parse_row(c, &at, pc->sc, &row);
    if (rc >= 0) rc = reco__ltext_err(c->t, pc->err_at, RECO_EFORMAT, "record could not be parsed");
  }
  if (!rc) rc = flush(ds, b);
  if (!rc && r->n) rc = reco__ltext_progress(c->t, prog, r->pc[r->n - 1].end);
  return rc;
}

static int rows_parallel(reco_dataset *ds, const csv_ctx *c, char *pos, const reco_progress *prog, batch *b,
                         int n_threads) {
  char *end = c->t->buf + c->t->len;
  par_round *rs = reco__calloc(2, sizeof *rs);
  int rc = 0;
  if (!rs) return reco__seterr(RECO_ENOMEM, "out of memory");
  for (int x = 0; x < 2 && !rc; x++)
    for (int k = 0; k < n_threads && !rc; k++) {
      row_scratch *sc = reco__malloc(sizeof *sc);
      if (!sc) rc = reco__seterr(RECO_ENOMEM, "out of memory");
      else {
        sc->last_type.p = NULL;
        sc->last_type.len = 0;
        sc->last_type_id = -1;
        rs[x].pc[k].sc = sc;
      }
    }
  par_round *cur = &rs[0], *next = &rs[1];
  if (!rc) { /* the first round: every thread parses */
    cut_round(cur, n_threads, &pos, end);
#pragma omp parallel for num_threads(n_threads) schedule(static, 1)
    for (int k = 0; k < cur->n; k++) parse_piece(c, &cur->pc[k]);
  }
  while (!rc && cur->n) {
    /* thread 0 (the caller) adds `cur` while the others parse `next` */
    cut_round(next, n_threads - 1, &pos, end);
    int arc = 0;
#pragma omp parallel num_threads(n_threads)
    {
      int tid = omp_get_thread_num();
      if (tid == 0) arc = add_round(ds, c, cur, b, prog);
      else if (tid - 1 < next->n) parse_piece(c, &next->pc[tid - 1]);
    }
    rc = arc;
    par_round *tmp = cur;
    cur = next;
    next = tmp;
  }
  for (int x = 0; x < 2; x++)
    for (int k = 0; k < n_threads; k++) {
      reco__free(rs[x].pc[k].rows);
      reco__free(rs[x].pc[k].sc);
    }
  reco__free(rs);
  return rc;
}

int reco__load_csv_ml(reco_dataset *ds, const char *path, const reco_load_opts *opts, bool movielens) {
  reco_load_opts def = {0};
  if (!opts) opts = &def;
  reco_ltext t;
  int rc = reco__ltext_read(&t, path, RECO_LT_UTF8, "no header");
  if (rc) return rc;
  csv_header *h = reco__malloc(sizeof *h);
  row_scratch *sc = reco__malloc(sizeof *sc);
  batch *b = reco__calloc(1, sizeof *b);
  size_t n_before = ds->n;
  char *pos = t.data, *end = t.buf + t.len;
  if (!h || !sc || !b) {
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
  csv_ctx c = {.t = &t, .h = h, .cu = h->col[COL_USER], .ci = h->col[COL_ITEM], .cv = h->col[COL_VALUE],
               .ct = h->col[COL_TIME], .cy = h->col[COL_TYPE], .nc = h->n, .movielens = movielens};
  c.cx[RECO_CTX_DEVICE] = h->col[COL_DEVICE];
  c.cx[RECO_CTX_LOCATION] = h->col[COL_LOCATION];
  c.def_type = c.cv >= 0 ? RECO_EV_RATING : RECO_EV_VIEW;
  sc->last_type.p = NULL;
  sc->last_type.len = 0;
  sc->last_type_id = -1;
  b->all_ratings = true;
  if ((rc = reco__ds_reserve(ds, ds->n + reco__ltext_estimate_lines(&t)))) goto out;
  int n_threads = RECO_MIN(reco_get_threads(), PAR_MAX_THREADS);
  if (n_threads > 1 && (size_t)(end - pos) >= PAR_MIN_BYTES && !memchr(pos, '"', (size_t)(end - pos)))
    rc = rows_parallel(ds, &c, pos, &opts->progress, b, n_threads);
  else rc = rows_sequential(ds, &c, pos, &opts->progress, b, sc);
  if (rc) goto out;
  if (b->rows == 0) {
    rc = reco__ltext_err(&t, end, RECO_EFORMAT, "no interactions after the header");
    goto out;
  }
  if ((rc = reco__ltext_progress(&t, &opts->progress, end))) goto out;
  reco__load_note_values(ds, n_before, c.cv >= 0 && b->all_ratings);
out:
  if (b) {
    reco__lid_free(&b->uc);
    reco__lid_free(&b->ic);
  }
  reco__free(b);
  reco__free(h);
  reco__free(sc);
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
