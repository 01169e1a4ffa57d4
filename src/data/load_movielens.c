/*
 * load_movielens.c - the MovieLens files of GroupLens (Harper & Konstan, "The MovieLens
 * Datasets: History and Context", ACM TiiS 2015):
 *   100K: u.data (user \t item \t rating \t unix time), u.item (Latin-1, '|' separated, 19 genre
 *         flags in the order of u.genre), u.user (id|age|gender|occupation|zip);
 *   1M/10M: ratings.dat (user::item::rating::time), movies.dat (Latin-1, id::title::genres with
 *         '|'), users.dat (id::gender::age code::occupation code::zip);
 *   latest: movies.csv (movieId,title,genres; RFC 4180) and tags.csv (userId,movieId,tag,time);
 *         its ratings.csv goes through the generic CSV loader with MovieLens' rating range.
 * Ids must be decimal integers and ratings must lie in 0.5..5: anything else means the file
 * is not what its name says, and loading it anyway would give a silently wrong dataset.
 */
#include "load.h"

#include <stdio.h>
#include <string.h>

/* u.genre of ml-100k, in flag order. */
static const char *const k_ml100k_genres[19] = {
    "unknown", "Action",    "Adventure", "Animation", "Children's", "Comedy",  "Crime",
    "Documentary", "Drama", "Fantasy",   "Film-Noir", "Horror",     "Musical", "Mystery",
    "Romance", "Sci-Fi",    "Thriller",  "War",       "Western"};

/* Occupation codes of ml-1m's users.dat (its README). */
static const char *const k_ml1m_occupations[21] = {
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student", "customer service",
    "doctor/health care", "executive/managerial", "farmer", "homemaker", "K-12 student", "lawyer",
    "programmer", "retired", "sales/marketing", "scientist", "self-employed", "technician/engineer",
    "tradesman/craftsman", "unemployed", "writer"};

/* Splits [ls, le) at every sep into exactly n fields. */
static int split_exact(const reco_ltext *t, char *ls, char *le, const char *sep, reco_lfield *f, int n) {
  size_t seplen = strlen(sep);
  char *p = ls;
  int k = 0;
  for (;;) {
    char *q = p;
    if (seplen == 1) { /* fields are short: a plain loop beats a memchr call per field */
      while (q < le && *q != sep[0]) q++;
      if (q == le) q = NULL;
    } else {
      for (;;) {
        q = memchr(q, sep[0], (size_t)(le - q));
        if (!q || (q + 1 < le && q[1] == sep[1])) break;
        q++;
      }
    }
    char *fe = q ? q : le;
    if (k == n) return reco__ltext_err(t, p, RECO_EFORMAT, "too many fields (expected %d separated by '%s')", n, sep[0] == '\t' ? "\\t" : sep);
    f[k].p = p;
    f[k].len = (size_t)(fe - p);
    k++;
    if (!q) break;
    p = q + seplen;
  }
  if (k < n)
    return reco__ltext_err(t, le, RECO_EFORMAT, "too few fields: expected %d separated by '%s', found %d", n,
                           sep[0] == '\t' ? "\\t" : sep, k);
  return 0;
}

static int need_int_id(const reco_ltext *t, const reco_lfield *f, const char *what) {
  uint64_t v;
  if (f->len == 0) return reco__ltext_err(t, f->p, RECO_EFORMAT, "empty %s id", what);
  if (reco__parse_u64(f->p, f->p + f->len, &v) != 0) {
    char sn[48];
    return reco__ltext_err(t, f->p, RECO_EFORMAT, "%s id must be a decimal integer, got '%s'", what,
                           reco__snippet(f->p, f->len, sn));
  }
  return 0;
}

int reco__load_ml_ratings_prog(reco_dataset *ds, const char *path, bool colons, const reco_progress *prog) {
  reco_ltext t;
  int rc = reco__ltext_read(&t, path, 0, "no ratings");
  if (rc) return rc;
  const char *sep = colons ? "::" : "\t";
  size_t n_before = ds->n;
  reco_lidcache uc = {0}, ic = {0};
  rc = reco__ds_reserve(ds, ds->n + reco__ltext_estimate_lines(&t));
  char *pos = t.data, *ls, *le;
  bool more;
  size_t lines = 0;
  char sn[48];
  while (!rc && !(rc = reco__ltext_next_line(&t, &pos, &ls, &le, &more)) && more) {
    reco_lfield f[4];
    if ((rc = split_exact(&t, ls, le, sep, f, 4))) break;
    if ((rc = need_int_id(&t, &f[0], "user")) || (rc = need_int_id(&t, &f[1], "item"))) break;
    double r;
    int prc = reco__parse_double(f[2].p, f[2].p + f[2].len, &r);
    if (prc == -2 || (!prc && !(r >= 0.5 && r <= 5.0))) {
      rc = reco__ltext_err(&t, f[2].p, RECO_EFORMAT, "rating '%s' outside MovieLens' range 0.5..5",
                           reco__snippet(f[2].p, f[2].len, sn));
      break;
    }
    if (prc) {
      rc = reco__ltext_err(&t, f[2].p, RECO_EFORMAT, "rating is not a number: '%s'", reco__snippet(f[2].p, f[2].len, sn));
      break;
    }
    uint64_t ts;
    if (reco__parse_u64(f[3].p, f[3].p + f[3].len, &ts) != 0 || ts > (uint64_t)INT64_MAX) {
      rc = reco__ltext_err(&t, f[3].p, RECO_EFORMAT, "timestamp must be a non-negative integer (unix seconds), got '%s'",
                           reco__snippet(f[3].p, f[3].len, sn));
      break;
    }
    int32_t u = reco__lid(&uc, ds->users, f[0].p, f[0].len);
    int32_t i = reco__lid(&ic, ds->items, f[1].p, f[1].len);
    if (u < 0 || i < 0) {
      rc = u < 0 ? u : i;
      break;
    }
    if ((rc = reco__ds_add(ds, u, i, (float)r, (int64_t)ts, RECO_EV_RATING))) break;
    if ((++lines & 0x3ffff) == 0) rc = reco__ltext_progress(&t, prog, pos);
  }
  if (!rc && ds->n == n_before) rc = reco__ltext_err(&t, t.buf + t.len, RECO_EFORMAT, "no ratings in the file");
  if (!rc) rc = reco__ltext_progress(&t, prog, t.buf + t.len);
  if (!rc) reco__load_note_values(ds, n_before, true);
  reco__lid_free(&uc);
  reco__lid_free(&ic);
  reco__ltext_free(&t);
  return rc;
}

int reco__load_ml100k_ratings(reco_dataset *ds, const char *path) {
  return reco__load_ml_ratings_prog(ds, path, false, NULL);
}

int reco__load_ml1m_ratings(reco_dataset *ds, const char *path) {
  return reco__load_ml_ratings_prog(ds, path, true, NULL);
}

static const char *const k_months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* "01-Jan-1995" (or "4-Feb-1971") -> the year; 0 when the field is empty; -1 when malformed. */
static int32_t ml100k_date_year(const reco_lfield *f) {
  if (f->len == 0) return 0;
  const char *s = f->p, *e = f->p + f->len;
  const char *d1 = memchr(s, '-', f->len);
  if (!d1 || (d1 - s != 1 && d1 - s != 2) || e - d1 != 9 || d1[4] != '-') return -1;
  bool month = false;
  for (int m = 0; m < 12; m++) month |= memcmp(d1 + 1, k_months[m], 3) == 0;
  uint64_t d, y;
  if (!month || reco__parse_u64(s, d1, &d) || reco__parse_u64(d1 + 5, e, &y) || d < 1 || d > 31) return -1;
  return (int32_t)y;
}

int reco__load_ml100k_items(reco_dataset *ds, const char *path) {
  reco_ltext t;
  int rc = reco__ltext_read(&t, path, RECO_LT_LATIN1, "no items");
  if (rc) return rc;
  char *pos = t.data, *ls, *le;
  bool more;
  size_t n = 0;
  while (!(rc = reco__ltext_next_line(&t, &pos, &ls, &le, &more)) && more) {
    reco_lfield f[24];
    if ((rc = split_exact(&t, ls, le, "|", f, 24)) || (rc = need_int_id(&t, &f[0], "item"))) break;
    int32_t item = reco__ds_item(ds, f[0].p, f[0].len);
    if (item < 0) {
      rc = item;
      break;
    }
    if (f[1].len && (rc = reco__ds_set_title(ds, item, f[1].p, f[1].len))) break;
    int32_t year = ml100k_date_year(&f[2]);
    if (year < 0) {
      char sn[48];
      rc = reco__ltext_err(&t, f[2].p, RECO_EFORMAT, "release date '%s' is not DD-Mon-YYYY", reco__snippet(f[2].p, f[2].len, sn));
      break;
    }
    if (year && (rc = reco__ds_set_year(ds, item, year))) break;
    for (int g = 0; g < 19 && !rc; g++) {
      const reco_lfield *x = &f[5 + g];
      if (x->len != 1 || (x->p[0] != '0' && x->p[0] != '1'))
        rc = reco__ltext_err(&t, x->p, RECO_EFORMAT, "genre flag %d (%s) must be 0 or 1", g + 1, k_ml100k_genres[g]);
      else if (x->p[0] == '1')
        rc = reco__ds_add_category(ds, item, k_ml100k_genres[g], strlen(k_ml100k_genres[g]));
    }
    if (rc) break;
    n++;
  }
  if (!rc && n == 0) rc = reco__ltext_err(&t, t.buf + t.len, RECO_EFORMAT, "no items in the file");
  reco__ltext_free(&t);
  return rc;
}

/* Appends "key=value;" to the attribute buffer (bounded). */
static bool attr_put(char *buf, size_t cap, size_t *len, const char *key, const char *v, size_t vlen) {
  size_t klen = strlen(key), need = (*len ? 1 : 0) + klen + 1 + vlen;
  if (*len + need + 1 > cap) return false;
  if (*len) buf[(*len)++] = ';';
  memcpy(buf + *len, key, klen);
  *len += klen;
  buf[(*len)++] = '=';
  memcpy(buf + *len, v, vlen);
  *len += vlen;
  buf[*len] = '\0';
  return true;
}

static int need_nonempty(const reco_ltext *t, const reco_lfield *f, const char *what) {
  if (f->len == 0) return reco__ltext_err(t, f->p, RECO_EFORMAT, "empty %s", what);
  if (reco__has_ctrl(f->p, f->len)) return reco__ltext_err(t, f->p, RECO_EFORMAT, "control character in %s", what);
  return 0;
}

int reco__load_ml100k_users(reco_dataset *ds, const char *path) {
  reco_ltext t;
  int rc = reco__ltext_read(&t, path, RECO_LT_UTF8, "no users");
  if (rc) return rc;
  char *pos = t.data, *ls, *le;
  bool more;
  size_t n = 0;
  char attr[1024];
  while (!(rc = reco__ltext_next_line(&t, &pos, &ls, &le, &more)) && more) {
    reco_lfield f[5];
    uint64_t age;
    if ((rc = split_exact(&t, ls, le, "|", f, 5)) || (rc = need_int_id(&t, &f[0], "user"))) break;
    if (reco__parse_u64(f[1].p, f[1].p + f[1].len, &age) || age > 150) {
      char sn[48];
      rc = reco__ltext_err(&t, f[1].p, RECO_EFORMAT, "age must be an integer 0..150, got '%s'", reco__snippet(f[1].p, f[1].len, sn));
      break;
    }
    if ((rc = need_nonempty(&t, &f[2], "gender")) || (rc = need_nonempty(&t, &f[3], "occupation")) ||
        (rc = need_nonempty(&t, &f[4], "zip code")))
      break;
    size_t len = 0;
    if (!attr_put(attr, sizeof attr, &len, "age", f[1].p, f[1].len) ||
        !attr_put(attr, sizeof attr, &len, "gender", f[2].p, f[2].len) ||
        !attr_put(attr, sizeof attr, &len, "occupation", f[3].p, f[3].len) ||
        !attr_put(attr, sizeof attr, &len, "zip", f[4].p, f[4].len)) {
      rc = reco__ltext_err(&t, ls, RECO_EFORMAT, "user attributes longer than %zu bytes", sizeof attr - 1);
      break;
    }
    int32_t u = reco__ds_user(ds, f[0].p, f[0].len);
    if (u < 0) {
      rc = u;
      break;
    }
    if ((rc = reco__ds_set_user_attr(ds, u, attr, len))) break;
    n++;
  }
  if (!rc && n == 0) rc = reco__ltext_err(&t, t.buf + t.len, RECO_EFORMAT, "no users in the file");
  reco__ltext_free(&t);
  return rc;
}

/* Adds the '|' separated genres of [p, p+len) as categories; "(no genres listed)" adds none. */
static int add_genres(const reco_ltext *t, reco_dataset *ds, int32_t item, const char *p, size_t len) {
  if (len == 18 && memcmp(p, "(no genres listed)", 18) == 0) return 0;
  const char *e = p + len;
  while (p < e) {
    const char *q = memchr(p, '|', (size_t)(e - p));
    const char *ge = q ? q : e, *gs = p;
    reco__trim(&gs, &ge);
    if (ge > gs) {
      if (reco__has_ctrl(gs, (size_t)(ge - gs))) return reco__ltext_err(t, gs, RECO_EFORMAT, "control character in a genre");
      int rc = reco__ds_add_category(ds, item, gs, (size_t)(ge - gs));
      if (rc) return rc;
    }
    p = q ? q + 1 : e;
  }
  return 0;
}

int reco__load_ml1m_movies(reco_dataset *ds, const char *path) {
  reco_ltext t;
  int rc = reco__ltext_read(&t, path, RECO_LT_LATIN1, "no movies");
  if (rc) return rc;
  char *pos = t.data, *ls, *le;
  bool more;
  size_t n = 0;
  while (!(rc = reco__ltext_next_line(&t, &pos, &ls, &le, &more)) && more) {
    reco_lfield f[3];
    if ((rc = split_exact(&t, ls, le, "::", f, 3)) || (rc = need_int_id(&t, &f[0], "movie"))) break;
    int32_t item = reco__ds_item(ds, f[0].p, f[0].len);
    if (item < 0) {
      rc = item;
      break;
    }
    if (f[1].len && (rc = reco__ds_set_title(ds, item, f[1].p, f[1].len))) break;
    int32_t year = reco__title_year(f[1].p, f[1].len);
    if (year && (rc = reco__ds_set_year(ds, item, year))) break;
    if ((rc = add_genres(&t, ds, item, f[2].p, f[2].len))) break;
    n++;
  }
  if (!rc && n == 0) rc = reco__ltext_err(&t, t.buf + t.len, RECO_EFORMAT, "no movies in the file");
  reco__ltext_free(&t);
  return rc;
}

int reco__load_ml1m_users(reco_dataset *ds, const char *path) {
  reco_ltext t;
  int rc = reco__ltext_read(&t, path, RECO_LT_UTF8, "no users");
  if (rc) return rc;
  char *pos = t.data, *ls, *le;
  bool more;
  size_t n = 0;
  char attr[1024], sn[48];
  while (!(rc = reco__ltext_next_line(&t, &pos, &ls, &le, &more)) && more) {
    reco_lfield f[5];
    uint64_t age, occ;
    if ((rc = split_exact(&t, ls, le, "::", f, 5)) || (rc = need_int_id(&t, &f[0], "user"))) break;
    if ((rc = need_nonempty(&t, &f[1], "gender"))) break;
    if (reco__parse_u64(f[2].p, f[2].p + f[2].len, &age) || age > 150) {
      rc = reco__ltext_err(&t, f[2].p, RECO_EFORMAT, "age must be an integer, got '%s'", reco__snippet(f[2].p, f[2].len, sn));
      break;
    }
    if (reco__parse_u64(f[3].p, f[3].p + f[3].len, &occ) || occ > 20) {
      rc = reco__ltext_err(&t, f[3].p, RECO_EFORMAT, "occupation must be a code 0..20, got '%s'",
                           reco__snippet(f[3].p, f[3].len, sn));
      break;
    }
    if ((rc = need_nonempty(&t, &f[4], "zip code"))) break;
    const char *on = k_ml1m_occupations[occ];
    size_t len = 0;
    if (!attr_put(attr, sizeof attr, &len, "age", f[2].p, f[2].len) ||
        !attr_put(attr, sizeof attr, &len, "gender", f[1].p, f[1].len) ||
        !attr_put(attr, sizeof attr, &len, "occupation", on, strlen(on)) ||
        !attr_put(attr, sizeof attr, &len, "zip", f[4].p, f[4].len)) {
      rc = reco__ltext_err(&t, ls, RECO_EFORMAT, "user attributes longer than %zu bytes", sizeof attr - 1);
      break;
    }
    int32_t u = reco__ds_user(ds, f[0].p, f[0].len);
    if (u < 0) {
      rc = u;
      break;
    }
    if ((rc = reco__ds_set_user_attr(ds, u, attr, len))) break;
    n++;
  }
  if (!rc && n == 0) rc = reco__ltext_err(&t, t.buf + t.len, RECO_EFORMAT, "no users in the file");
  reco__ltext_free(&t);
  return rc;
}

/* ---- MovieLens latest (CSV with a header) ---- */

/* Reads the header and finds the named columns (exact names); -1 where absent. */
static int latest_header(const reco_ltext *t, char **pos, const char *const *names, int n_names, int *col,
                         int *n_cols, int required_mask) {
  reco_lfield h[64];
  char *start = *pos;
  int n = reco__csv_record(t, pos, ',', h, 64, NULL);
  if (n < 0) return n;
  for (int k = 0; k < n_names; k++) {
    col[k] = -1;
    for (int c = 0; c < n; c++)
      if (h[c].len == strlen(names[k]) && memcmp(h[c].p, names[k], h[c].len) == 0) col[k] = c;
    if (col[k] < 0 && (required_mask >> k & 1))
      return reco__ltext_err(t, start, RECO_EFORMAT, "no '%s' column in the header", names[k]);
  }
  *n_cols = n;
  return 0;
}

int reco__load_mllatest_movies(reco_dataset *ds, const char *path) {
  reco_ltext t;
  int rc = reco__ltext_read(&t, path, RECO_LT_UTF8, "no header");
  if (rc) return rc;
  static const char *const names[] = {"movieId", "title", "genres"};
  int col[3], nc = 0;
  char *pos = t.data;
  if ((rc = latest_header(&t, &pos, names, 3, col, &nc, 0x3))) goto out;
  reco_lfield f[64];
  size_t n = 0;
  char *end = t.buf + t.len;
  while (pos < end) {
    char *rs = pos;
    int k = reco__csv_record(&t, &pos, ',', f, nc, NULL);
    if (k < 0) {
      rc = k;
      goto out;
    }
    if (k == 0) continue;
    if (k < nc) {
      rc = reco__ltext_err(&t, f[k - 1].p + f[k - 1].len, RECO_EFORMAT, "too few fields: expected %d, found %d", nc, k);
      goto out;
    }
    const reco_lfield *id = &f[col[0]], *title = &f[col[1]];
    if ((rc = need_int_id(&t, id, "movie"))) {
      if (id->len == 7 && memcmp(id->p, "movieId", 7) == 0)
        rc = reco__ltext_err(&t, rs, RECO_EFORMAT, "header line repeated");
      goto out;
    }
    int32_t item = reco__ds_item(ds, id->p, id->len);
    if (item < 0) {
      rc = item;
      goto out;
    }
    if (title->len && (rc = reco__ds_set_title(ds, item, title->p, title->len))) goto out;
    int32_t year = reco__title_year(title->p, title->len);
    if (year && (rc = reco__ds_set_year(ds, item, year))) goto out;
    if (col[2] >= 0 && (rc = add_genres(&t, ds, item, f[col[2]].p, f[col[2]].len))) goto out;
    n++;
  }
  if (n == 0) rc = reco__ltext_err(&t, end, RECO_EFORMAT, "no movies after the header");
out:
  reco__ltext_free(&t);
  return rc;
}

int reco__load_mllatest_tags(reco_dataset *ds, const char *path) {
  reco_ltext t;
  int rc = reco__ltext_read(&t, path, RECO_LT_UTF8, "no header");
  if (rc) return rc;
  static const char *const names[] = {"movieId", "tag"};
  int col[2], nc = 0;
  char *pos = t.data;
  if ((rc = latest_header(&t, &pos, names, 2, col, &nc, 0x3))) goto out;
  reco_lfield f[64];
  char *end = t.buf + t.len;
  while (pos < end) {
    char *rs = pos;
    int k = reco__csv_record(&t, &pos, ',', f, nc, NULL);
    if (k < 0) {
      rc = k;
      goto out;
    }
    if (k == 0) continue;
    if (k < nc) {
      rc = reco__ltext_err(&t, f[k - 1].p + f[k - 1].len, RECO_EFORMAT, "too few fields: expected %d, found %d", nc, k);
      goto out;
    }
    const reco_lfield *id = &f[col[0]], *tag = &f[col[1]];
    if ((rc = need_int_id(&t, id, "movie"))) {
      if (id->len == 7 && memcmp(id->p, "movieId", 7) == 0)
        rc = reco__ltext_err(&t, rs, RECO_EFORMAT, "header line repeated");
      goto out;
    }
    const char *ts = tag->p, *te = tag->p + tag->len;
    reco__trim(&ts, &te);
    if (te == ts) continue; /* an empty tag says nothing */
    if (reco__has_ctrl(ts, (size_t)(te - ts))) {
      rc = reco__ltext_err(&t, ts, RECO_EFORMAT, "control character in a tag");
      goto out;
    }
    int32_t item = reco__ds_item(ds, id->p, id->len);
    if (item < 0) {
      rc = item;
      goto out;
    }
    if ((rc = reco__ds_add_tag(ds, item, ts, (size_t)(te - ts)))) goto out;
  }
out:
  reco__ltext_free(&t);
  return rc;
}
