/* recommend.c - `reco recommend`: top-N for a user from a saved model, through the recommend
 * pipeline (src/rank: cold start, filters, business rules, context, MMR diversity, novelty,
 * pagination, confidence and reasons); and the pipeline driver that `reco similar`
 * (similar.c) shares. The user's history (to score from and to exclude) comes from --data, or
 * from --history for a user the model never saw. Filters on categories, prices and ratings,
 * and the diversity vectors (category one-hots), come from the dataset's metadata, mapped
 * into the model's item index space by external id; they reach the pipeline as an
 * availability bitmap and a per-item rating, so the model and the data may index items
 * differently. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "algo/algo.h"
#include "base/base.h"
#include "cli.h"
#include "data/load.h"
#include "rank/rank.h"

static void usage(FILE *f) {
  fprintf(f,
          "Usage: reco recommend --model FILE (--user ID | --history ITEM,...) [options]\n"
          "Top-N recommendations from a saved model, through the recommend pipeline.\n\n"
          "  --model FILE       a model file written by `reco train`\n"
          "  --data PATH        the dataset: the user's history (scored from, excluded), titles,\n"
          "                     and the metadata the filters and diversity need\n"
          "  --user ID          the user's external id\n"
          "  --history LIST     comma-separated item ids (a new user, or extra recent items)\n"
          "  --k N              how many (default 10)\n"
          "  --offset N         skip the first N of the ranked list (pagination, default 0)\n"
          "  --include-seen     do not exclude items the user already has\n"
          "%s"
          "  --json             JSON output\n"
          "  -h, --help         this help\n",
          cli_rank_options_help);
}

const char *const cli_rank_options_help =
    "Filters and rules (categories, prices and ratings need --data):\n"
    "  --category NAME    only items of this category (repeatable)\n"
    "  --exclude-category NAME  drop items of this category (repeatable)\n"
    "  --min-rating X     only items whose mean rating in --data is >= X\n"
    "  --price-min X, --price-max X   price range (items of unknown price are dropped)\n"
    "  --exclude LIST     comma-separated item ids never to return\n"
    "  --boost LIST       ID:FACTOR,... multiply these items' relevance\n"
    "  --pin LIST         ID:POSITION,... (0-based absolute positions)\n"
    "  --bury LIST        ID,... after every other item\n"
    "Objectives:\n"
    "  --diversity W      MMR weight in [0, 1] on category one-hots (default 0; needs --data)\n"
    "  --novelty W        novelty weight >= 0 (popularity from --data; default 0)\n"
    "Context and session (see docs/ALGORITHMS.md):\n"
    "  --context-model FILE  a `context` model (reco train --algo context)\n"
    "  --device D, --location L  the request's context\n"
    "  --time T           the request's time (unix seconds or ISO 8601; default now)\n"
    "  --context-weight W weight of the context term (default: the model's `weight`)\n"
    "  --session LIST     the session's recent item ids, oldest first\n"
    "  --session-weight W weight of the same-category session term (default 0.3 with --session)\n"
    "Cold start:\n"
    "  --cold-strategy S  popular_items | trending | context_popular | members (default members;\n"
    "                     the first three fit their scorer on --data)\n"
    "  --min-interactions-for-cf N  below N history items the cold scorer is blended in\n"
    "                     (default 0: only users with no history are cold)\n"
    "  --half-life-days D trending's half-life (default 7)\n"
    "  --explore-model FILE --explore-slots N  N page positions for new items (no interaction\n"
    "                     in --data) ranked by that model (e.g. `content`) for the history\n";

enum {
  O_SEEN = CLI_RANK_OPT_BASE,
  O_OFFSET,
  O_CAT,
  O_XCAT,
  O_DIV,
  O_NOV,
  O_MINR,
  O_PMIN,
  O_PMAX,
  O_EXCL,
  O_BOOST,
  O_PIN,
  O_BURY,
  O_CTXM,
  O_DEV,
  O_LOC,
  O_TIME,
  O_CTXW,
  O_SESS,
  O_SESSW,
  O_COLD,
  O_MINCF,
  O_HALF,
  O_EXPM,
  O_EXPN
};

/* One table for both commands; each refuses the options that are not its own. */
const struct option cli_rank_long_opts[] = {
  {"user", required_argument, NULL, 'u'}, {"history", required_argument, NULL, 'H'},
      {"include-seen", no_argument, NULL, O_SEEN}, {"item", required_argument, NULL, 'i'},
  {"category", required_argument, NULL, O_CAT}, {"exclude-category", required_argument, NULL, O_XCAT},               \
      {"diversity", required_argument, NULL, O_DIV}, {"novelty", required_argument, NULL, O_NOV},                   \
      {"min-rating", required_argument, NULL, O_MINR}, {"price-min", required_argument, NULL, O_PMIN},              \
      {"price-max", required_argument, NULL, O_PMAX}, {"exclude", required_argument, NULL, O_EXCL},                 \
      {"boost", required_argument, NULL, O_BOOST}, {"pin", required_argument, NULL, O_PIN},                         \
      {"bury", required_argument, NULL, O_BURY}, {"context-model", required_argument, NULL, O_CTXM},                \
      {"device", required_argument, NULL, O_DEV}, {"location", required_argument, NULL, O_LOC},                     \
      {"time", required_argument, NULL, O_TIME}, {"context-weight", required_argument, NULL, O_CTXW},               \
      {"session", required_argument, NULL, O_SESS}, {"session-weight", required_argument, NULL, O_SESSW},           \
      {"cold-strategy", required_argument, NULL, O_COLD}, {"min-interactions-for-cf", required_argument, NULL, O_MINCF}, \
      {"half-life-days", required_argument, NULL, O_HALF}, {"offset", required_argument, NULL, O_OFFSET},
      {"explore-model", required_argument, NULL, O_EXPM}, {"explore-slots", required_argument, NULL, O_EXPN},          \
      {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {"k", required_argument, NULL, 'k'},      \
      {"model", required_argument, NULL, 'm'}, {"data", required_argument, NULL, 'd'}, {0}};

void cli_rank_defaults(cli_rank *o, const char *cmd) {
  memset(o, 0, sizeof *o);
  o->cmd = cmd;
  o->k = 10;
  o->min_rating = o->price_min = o->price_max = o->ctx_weight = o->sess_weight = NAN;
  o->half_life = 7;
  o->when = INT64_MIN;
  o->cold = RECO_COLD_MEMBERS;
}

static bool parse_weight(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out) {
  if (!cli_parse_double(cmd, opt, s, out)) return false;
  if (!(*out >= lo && *out <= hi)) {
    cli_usage_error(cmd, "%s: expected a number in [%g, %g], got '%s'", opt, lo, hi, s);
    return false;
  }
  return true;
}

int cli_rank_option(cli_rank *o, int c, const char *arg) {
  const char *cmd = o->cmd;
  switch (c) {
  case 'm': o->model_path = arg; return 1;
  case 'u': o->user = arg; return 1;
  case 'H': o->history = arg; return 1;
  case 'i': o->item = arg; return 1;
  case O_SEEN: o->include_seen = 1; return 1;
  case 'd': o->data = arg; return 1;
  case 'j': o->json = 1; return 1;
  case 'k': return cli_parse_int(cmd, "--k", arg, 1, 10000, &o->k) ? 1 : -1;
  case O_OFFSET: return cli_parse_int(cmd, "--offset", arg, 0, 1000000, &o->offset) ? 1 : -1;
  case O_CAT:
  case O_XCAT: {
    const char **dst = c == O_CAT ? o->cats : o->xcats;
    int *n = c == O_CAT ? &o->n_cats : &o->n_xcats;
    if (*n == CLI_MAX_CATEGORIES) {
      cli_usage_error(cmd, "at most %d of each category option", CLI_MAX_CATEGORIES);
      return -1;
    }
    dst[(*n)++] = arg;
    return 1;
  }
  case O_DIV: return parse_weight(cmd, "--diversity", arg, 0, 1, &o->diversity) ? 1 : -1;
  case O_NOV: return parse_weight(cmd, "--novelty", arg, 0, 100, &o->novelty) ? 1 : -1;
  case O_MINR: return cli_parse_double(cmd, "--min-rating", arg, &o->min_rating) ? 1 : -1;
  case O_PMIN: return cli_parse_double(cmd, "--price-min", arg, &o->price_min) ? 1 : -1;
  case O_PMAX: return cli_parse_double(cmd, "--price-max", arg, &o->price_max) ? 1 : -1;
  case O_EXCL: o->exclude = arg; return 1;
  case O_BOOST: o->boost = arg; return 1;
  case O_PIN: o->pin = arg; return 1;
  case O_BURY: o->bury = arg; return 1;
  case O_CTXM: o->ctx_model_path = arg; return 1;
  case O_DEV: o->device = arg; return 1;
  case O_LOC: o->location = arg; return 1;
  case O_TIME: {
    int64_t t;
    if (reco__parse_time(arg, arg + strlen(arg), &t)) {
      cli_usage_error(cmd, "--time: expected unix seconds or an ISO 8601 time, got '%s'", arg);
      return -1;
    }
    o->when = t;
    return 1;
  }
  case O_CTXW: return parse_weight(cmd, "--context-weight", arg, 0, 100, &o->ctx_weight) ? 1 : -1;
  case O_SESS: o->session = arg; return 1;
  case O_SESSW: return parse_weight(cmd, "--session-weight", arg, 0, 100, &o->sess_weight) ? 1 : -1;
  case O_COLD:
    if (!strcmp(arg, "popular_items")) o->cold = RECO_COLD_POPULAR;
    else if (!strcmp(arg, "trending")) o->cold = RECO_COLD_TRENDING;
    else if (!strcmp(arg, "context_popular")) o->cold = RECO_COLD_CONTEXT_POPULAR;
    else if (!strcmp(arg, "members")) o->cold = RECO_COLD_MEMBERS;
    else {
      cli_usage_error(cmd, "--cold-strategy: expected popular_items, trending, context_popular or members, got '%s'",
                      arg);
      return -1;
    }
    return 1;
  case O_MINCF: return cli_parse_int(cmd, "--min-interactions-for-cf", arg, 0, 1000000, &o->min_cf) ? 1 : -1;
  case O_HALF: return parse_weight(cmd, "--half-life-days", arg, 1e-3, 1e6, &o->half_life) ? 1 : -1;
  case O_EXPM: o->explore_model_path = arg; return 1;
  case O_EXPN: return cli_parse_int(cmd, "--explore-slots", arg, 0, 16, &o->explore_slots) ? 1 : -1;
  default: return 0;
  }
}

/* Usage errors the options make together (before any file is read). */
static int check_options(const cli_rank *o) {
  const char *cmd = o->cmd;
  if (!o->model_path) return cli_usage_error(cmd, "--model is required");
  bool need_data = o->n_cats || o->n_xcats || o->diversity > 0 || o->novelty > 0 || o->explore_slots > 0 ||
                   !isnan(o->min_rating) ||
                   !isnan(o->price_min) || !isnan(o->price_max) ||
                   (o->cold != RECO_COLD_MEMBERS && o->cold != RECO_COLD_CONTEXT_POPULAR);
  if (need_data && !o->data)
    return cli_usage_error(cmd, "--category, --exclude-category, --diversity, --novelty, --min-rating, --price-*, "
                                "and the popular_items/trending cold strategies need --data (the item metadata)");
  if (o->explore_slots > 0 && (!o->explore_model_path || !o->data))
    return cli_usage_error(cmd, "--explore-slots needs --explore-model and --data (which items are new)");
  if ((o->device || o->location || !isnan(o->ctx_weight) || o->cold == RECO_COLD_CONTEXT_POPULAR) &&
      !o->ctx_model_path)
    return cli_usage_error(cmd, "--device, --location, --context-weight and context_popular need --context-model");
  return 0;
}

/* Parses "ID[:NUMBER],..." into model item indices (and the numbers when `nums`). */
static int parse_items(const cli_rank *o, const char *opt, const char *list, const reco_idmap *map, int32_t n_items,
                       bool with_num, int32_t **items, float **nums, size_t *n) {
  *n = 0;
  size_t cap = 0, capn = 0;
  char *copy = strdup(list);
  if (!copy) return reco__seterr(RECO_ENOMEM, "out of memory");
  int rc = 0;
  for (char *save, *tok = strtok_r(copy, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
    char *colon = with_num ? strrchr(tok, ':') : NULL;
    double num = 0;
    if (with_num) {
      char *end;
      if (!colon || (num = strtod(colon + 1, &end), end == colon + 1 || *end || !isfinite(num))) {
        fprintf(stderr, "reco: %s: %s: expected ID:NUMBER, got '%s'\n", o->cmd, opt, tok);
        rc = RECO_EINVAL;
        break;
      }
      *colon = '\0';
    }
    int32_t mi = reco__idmap_get(map, tok, strlen(tok));
    if (mi < 0 || mi >= n_items) {
      fprintf(stderr, "reco: %s: %s: unknown item '%s'\n", o->cmd, opt, tok);
      rc = RECO_ENOTFOUND;
      break;
    }
    if (RECO_GROW(*items, cap, *n + 1) || (nums && RECO_GROW(*nums, capn, *n + 1))) {
      rc = reco__seterr(RECO_ENOMEM, "out of memory");
      break;
    }
    if (nums) (*nums)[*n] = (float)num;
    (*items)[(*n)++] = mi;
  }
  free(copy);
  return rc;
}

/* True when the data's item index space is the model's (the cold scorers are fitted on it). */
static bool same_items(const reco_dataset *ds, const reco_idmap *map, int32_t n_items) {
  if (!ds || ds->n_items != n_items) return false;
  for (int32_t i = 0; i < n_items; i++)
    if (strcmp(reco__idmap_str(ds->items, i), reco__idmap_str(map, i))) return false;
  return true;
}

typedef struct run_state {
  reco_model *m, *ctx, *cold, *explore;
  reco_dataset *ds;
  int32_t *hist, *dmap, *excl, *boost, *pin, *bury, *sess;
  float *boost_f, *pin_f, *rating, *pop, *vec;
  uint8_t *avail;
  size_t n_hist, n_excl, n_boost, n_pin, n_bury, n_sess;
  int32_t pin_pos[RECO_REC_MAX_PINS];
  float *scratch; /* n_items, for the explore model */
  reco_rec_item *res;
  reco_rec_ws *ws;
} run_state;

static void run_free(run_state *r) {
  reco__model_free(r->m);
  reco__model_free(r->ctx);
  reco__model_free(r->cold);
  reco__model_free(r->explore);
  reco__free(r->scratch);
  reco_dataset_free(r->ds);
  reco__free(r->hist);
  reco__free(r->dmap);
  reco__free(r->excl);
  reco__free(r->boost);
  reco__free(r->pin);
  reco__free(r->bury);
  reco__free(r->sess);
  reco__free(r->boost_f);
  reco__free(r->pin_f);
  reco__free(r->rating);
  reco__free(r->pop);
  reco__free_aligned(r->vec);
  reco__free(r->avail);
  reco__free(r->res);
  reco__rec_ws_free(r->ws);
}

/* Availability bitmap, per-item rating, popularity and category vectors in model space. */
static int metadata(const cli_rank *o, run_state *r, const reco_idmap *map, reco_rec_request *q) {
  const reco_dataset *ds = r->ds;
  const reco_itemmeta *meta = ds->meta;
  int32_t n = r->m->n_items, inc[CLI_MAX_CATEGORIES], exc[CLI_MAX_CATEGORIES];
  for (int s = 0; s < 2; s++) {
    const char *const *names = s ? o->xcats : o->cats;
    int32_t *ids = s ? exc : inc;
    for (int j = 0; j < (s ? o->n_xcats : o->n_cats); j++) {
      ids[j] = meta && meta->cats ? reco__idmap_get(meta->cats, names[j], strlen(names[j])) : -1;
      if (ids[j] < 0) {
        fprintf(stderr, "reco: %s: --%scategory: unknown category '%s'\n", o->cmd, s ? "exclude-" : "", names[j]);
        return RECO_ENOTFOUND;
      }
    }
  }
  int32_t dim = meta && meta->cats ? reco__idmap_size(meta->cats) : 0;
  if (o->diversity > 0 && dim <= 0) {
    fprintf(stderr, "reco: %s: --diversity: the dataset has no categories\n", o->cmd);
    return RECO_ENOTFOUND;
  }
  bool filter = o->n_cats || o->n_xcats || !isnan(o->price_min) || !isnan(o->price_max);
  r->dmap = reco__malloc((size_t)n * sizeof *r->dmap);
  if (!r->dmap || (filter && !(r->avail = reco__calloc(((size_t)n + 7) / 8, 1))) ||
      (!isnan(o->min_rating) && !(r->rating = reco__malloc((size_t)n * sizeof *r->rating))) ||
      ((o->novelty > 0 || o->explore_slots > 0) && !(r->pop = reco__calloc((size_t)n, sizeof *r->pop))) ||
      (o->diversity > 0 && !(r->vec = reco__aligned_calloc((size_t)n * (size_t)dim * sizeof *r->vec))))
    return reco__seterr(RECO_ENOMEM, "out of memory");
  for (int32_t mi = 0; mi < n; mi++) {
    const char *iid = reco__idmap_str(map, mi);
    int32_t di = iid ? reco__idmap_get(ds->items, iid, strlen(iid)) : -1;
    r->dmap[mi] = di;
    bool has_meta = di >= 0 && meta && di < meta->n_items && meta->cat_ptr;
    int64_t a = has_meta ? meta->cat_ptr[di] : 0, b = has_meta ? meta->cat_ptr[di + 1] : 0;
    if (r->avail) {
      bool included = !o->n_cats, excluded = false;
      for (int64_t p = a; p < b; p++) {
        for (int j = 0; j < o->n_cats; j++) included |= meta->cat_idx[p] == inc[j];
        for (int j = 0; j < o->n_xcats; j++) excluded |= meta->cat_idx[p] == exc[j];
      }
      bool ok = included && !excluded;
      if (ok && (!isnan(o->price_min) || !isnan(o->price_max))) {
        float pr = di >= 0 && meta && meta->price && di < meta->n_items ? meta->price[di] : NAN;
        ok = !isnan(pr) && (isnan(o->price_min) || pr >= o->price_min) && (isnan(o->price_max) || pr <= o->price_max);
      }
      if (ok) r->avail[mi >> 3] |= (uint8_t)(1u << (mi & 7));
    }
    if (r->vec)
      for (int64_t p = a; p < b; p++) r->vec[(size_t)mi * (size_t)dim + (size_t)meta->cat_idx[p]] = 1.0f / sqrtf((float)(b - a));
    if (di >= 0 && di < ds->n_items) {
      int64_t c = ds->iptr[di + 1] - ds->iptr[di];
      if (r->pop) r->pop[mi] = (float)c;
      if (r->rating) {
        double s = 0;
        for (int64_t p = ds->iptr[di]; p < ds->iptr[di + 1]; p++) s += ds->ival[p];
        r->rating[mi] = c ? (float)(s / (double)c) : NAN;
      }
    } else if (r->rating) {
      r->rating[mi] = NAN;
    }
  }
  q->filters.available = r->avail;
  q->filters.rating = r->rating;
  q->filters.min_rating = r->rating ? (float)o->min_rating : NAN;
  q->item_vectors = r->vec;
  q->dim = r->vec ? (int)dim : 0;
  q->item_pop = o->novelty > 0 ? r->pop : NULL;
  q->pop_total = ds->n_users;
  return 0;
}

static void print_items(const cli_rank *o, const run_state *r, const reco_idmap *map, int n, double us,
                        const char *who, const char *anchor) {
  const reco_dataset *ds = r->ds;
  if (o->json) {
    printf("{\"%s\": ", anchor ? "item" : "user");
    cli_json_str(stdout, anchor ? anchor : who);
    printf(", \"algorithm\": \"%s\", \"history\": %zu, \"offset\": %ld, \"latency_us\": %.1f, \"items\": [",
           r->m->algo->name, r->n_hist, o->offset, us);
    for (int j = 0; j < n; j++) {
      const reco_rec_item *x = &r->res[j];
      const char *iid = reco__idmap_str(map, x->item);
      int32_t di = ds ? reco__idmap_get(ds->items, iid, strlen(iid)) : -1;
      printf("%s{\"itemId\": ", j ? ", " : "");
      cli_json_str(stdout, iid);
      printf(", \"score\": %.6g, \"confidence\": %.4f, \"reason\": ", x->score, x->confidence);
      cli_json_str(stdout, reco__rec_reason_text(x->reason));
      if (x->because >= 0) {
        printf(", \"because\": ");
        cli_json_str(stdout, reco__idmap_str(map, x->because));
      }
      if (di >= 0 && reco_dataset_item_title(ds, di)) {
        printf(", \"title\": ");
        cli_json_str(stdout, reco_dataset_item_title(ds, di));
      }
      printf("}");
    }
    printf("]}\n");
    return;
  }
  if (anchor) printf("%s: items like %s (%.0f us):\n", r->m->algo->name, anchor, us);
  else printf("%s for %s (%zu items of history, %.0f us):\n", r->m->algo->name, who, r->n_hist, us);
  for (int j = 0; j < n; j++) {
    const reco_rec_item *x = &r->res[j];
    const char *iid = reco__idmap_str(map, x->item);
    int32_t di = ds ? reco__idmap_get(ds->items, iid, strlen(iid)) : -1;
    const char *title = di >= 0 ? reco_dataset_item_title(ds, di) : NULL;
    printf("%3ld. %-10s %7.4f  %.2f  %s", o->offset + j + 1, iid, x->score, x->confidence, title ? title : "");
    if (x->because >= 0 && !anchor) printf("  (because of %s)", reco__idmap_str(map, x->because));
    printf("\n");
  }
}

int cli_rank_run(const cli_rank *o) {
  int rc = check_options(o);
  if (rc) return rc;
  run_state r = {0};
  const char *cmd = o->cmd;
  if ((rc = reco__model_load(o->model_path, &r.m))) return cli_fail(cmd, rc);
  if (o->data && (rc = reco_dataset_load(o->data, NULL, &r.ds))) goto fail;
  if (o->ctx_model_path) {
    if ((rc = reco__model_load(o->ctx_model_path, &r.ctx))) goto fail;
    if (strcmp(r.ctx->algo->name, "context") || r.ctx->n_items != r.m->n_items) {
      fprintf(stderr, "reco: %s: %s is not a `context` model of the same catalogue\n", cmd, o->ctx_model_path);
      rc = RECO_EINVAL;
      goto out;
    }
  }
  const reco_idmap *map = r.m->item_ids ? r.m->item_ids : (r.ds ? r.ds->items : NULL);
  const reco_idmap *umap = r.m->user_ids ? r.m->user_ids : (r.ds ? r.ds->users : NULL);
  if (!map) {
    fprintf(stderr, "reco: %s: %s has no id maps; pass --data\n", cmd, o->model_path);
    rc = RECO_EINVAL;
    goto out;
  }
  int32_t n_items = r.m->n_items, uidx = -1;
  size_t cap = 0;
  if (o->item) { /* similar: the anchor item is the whole history */
    int32_t mi = reco__idmap_get(map, o->item, strlen(o->item));
    if (mi < 0 || mi >= n_items) {
      fprintf(stderr, "reco: %s: unknown item '%s'\n", cmd, o->item);
      rc = RECO_ENOTFOUND;
      goto out;
    }
    if (RECO_GROW(r.hist, cap, 1)) goto oom;
    r.hist[r.n_hist++] = mi;
  }
  if (o->user) {
    uidx = umap ? reco__idmap_get(umap, o->user, strlen(o->user)) : -1;
    if (uidx >= r.m->n_users) uidx = -1;
    /* history from the dataset, mapped into the model's item index space */
    int32_t du = r.ds ? reco__idmap_get(r.ds->users, o->user, strlen(o->user)) : -1;
    for (int64_t p = du >= 0 ? r.ds->uptr[du] : 0; du >= 0 && p < r.ds->uptr[du + 1]; p++) {
      const char *iid = reco__idmap_str(r.ds->items, r.ds->uitem[p]);
      int32_t mi = reco__idmap_get(map, iid, strlen(iid));
      if (mi < 0 || mi >= n_items) continue;
      if (RECO_GROW(r.hist, cap, r.n_hist + 1)) goto oom;
      r.hist[r.n_hist++] = mi;
    }
    if (uidx < 0 && du < 0 && !o->history) {
      fprintf(stderr, "reco: %s: unknown user '%s' (give --history for a new user)\n", cmd, o->user);
      rc = RECO_ENOTFOUND;
      goto out;
    }
  }
  if (o->history) {
    int32_t *h = NULL;
    size_t nh = 0;
    if ((rc = parse_items(o, "--history", o->history, map, n_items, false, &h, NULL, &nh))) goto out;
    for (size_t j = 0; j < nh && !rc; j++) {
      if (RECO_GROW(r.hist, cap, r.n_hist + 1)) rc = reco__seterr(RECO_ENOMEM, "out of memory");
      else r.hist[r.n_hist++] = h[j];
    }
    reco__free(h);
    if (rc) goto fail;
  }
  if ((o->exclude && (rc = parse_items(o, "--exclude", o->exclude, map, n_items, false, &r.excl, NULL, &r.n_excl))) ||
      (o->boost && (rc = parse_items(o, "--boost", o->boost, map, n_items, true, &r.boost, &r.boost_f, &r.n_boost))) ||
      (o->pin && (rc = parse_items(o, "--pin", o->pin, map, n_items, true, &r.pin, &r.pin_f, &r.n_pin))) ||
      (o->bury && (rc = parse_items(o, "--bury", o->bury, map, n_items, false, &r.bury, NULL, &r.n_bury))) ||
      (o->session && (rc = parse_items(o, "--session", o->session, map, n_items, false, &r.sess, NULL, &r.n_sess))))
    goto out;
  if (r.n_pin + (size_t)o->explore_slots > RECO_REC_MAX_PINS) {
    rc = cli_usage_error(cmd, "--pin: at most %d pins", RECO_REC_MAX_PINS);
    run_free(&r);
    return rc;
  }
  for (size_t j = 0; j < r.n_pin; j++) {
    if (!(r.pin_f[j] >= 0 && r.pin_f[j] < 1e6 && r.pin_f[j] == floorf(r.pin_f[j]))) {
      rc = cli_usage_error(cmd, "--pin: positions are integers >= 0");
      run_free(&r);
      return rc;
    }
    r.pin_pos[j] = (int32_t)r.pin_f[j];
  }

  /* the request */
  reco_rec_member mem = {r.m, 1.0f};
  reco_rec_request q = {0};
  q.view = (reco_user_view){uidx, r.hist, NULL, NULL, r.n_hist};
  q.k = (int)o->k;
  q.offset = (int)o->offset;
  q.pool = (int)RECO_MIN((long)n_items, RECO_MAX(200L, o->offset + o->k));
  q.members = &mem;
  q.n_members = 1;
  q.cold = o->cold;
  q.min_interactions_for_cf = (int)o->min_cf;
  q.filters.min_rating = q.filters.price_min = q.filters.price_max = NAN;
  q.filters.exclude_seen = !o->include_seen;
  q.filters.exclude_items = r.excl;
  q.filters.n_exclude_items = r.n_excl;
  q.boost_items = r.boost;
  q.boost_factors = r.boost_f;
  q.n_boost = r.n_boost;
  q.pin_items = r.pin;
  q.pin_positions = r.pin_pos;
  q.n_pins = r.n_pin;
  q.bury_items = r.bury;
  q.n_bury = r.n_bury;
  q.relevance_weight = NAN;
  q.diversity_weight = (float)o->diversity;
  q.novelty_weight = (float)o->novelty;
  q.reasons = true;
  q.session_items = r.sess;
  q.n_session = r.n_sess;
  q.session_weight = r.n_sess ? (isnan(o->sess_weight) ? 0.3f : (float)o->sess_weight) : 0.0f;
  if (r.ds && (rc = metadata(o, &r, map, &q))) goto fail;
  if (r.ctx) {
    q.context_model = r.ctx;
    reco__context_codes(r.ctx, o->device, o->location, o->when != INT64_MIN ? o->when : (int64_t)time(NULL),
                        &q.context);
    q.context_weight = isnan(o->ctx_weight) ? reco__context_weight(r.ctx) : (float)o->ctx_weight;
  }
  if (o->cold == RECO_COLD_POPULAR || o->cold == RECO_COLD_TRENDING) {
    if (!same_items(r.ds, map, n_items)) {
      fprintf(stderr, "reco: %s: --cold-strategy: --data must index the same items as the model\n", cmd);
      rc = RECO_EINVAL;
      goto out;
    }
    char hl[32];
    snprintf(hl, sizeof hl, "%g", o->cold == RECO_COLD_TRENDING ? o->half_life : 0.0);
    if ((rc = reco__model_new("popular", &r.cold)) || (rc = reco__model_set(r.cold, "half_life_days", hl)) ||
        (rc = reco__model_fit(r.cold, r.ds, NULL)))
      goto fail;
    q.cold_model = r.cold;
  }
  if (o->explore_slots > 0) { /* new items (no interaction in --data) at spread positions */
    if ((rc = reco__model_load(o->explore_model_path, &r.explore))) goto fail;
    if (r.explore->n_items != n_items || !r.explore->algo->score) {
      fprintf(stderr, "reco: %s: %s does not rank the model's catalogue\n", cmd, o->explore_model_path);
      rc = RECO_EINVAL;
      goto out;
    }
    int32_t *grown = reco__realloc(r.pin, RECO_REC_MAX_PINS * sizeof *grown); /* room after the --pin ones */
    if (!grown) goto oom;
    r.pin = grown;
    q.pin_items = r.pin;
    if (!(r.scratch = reco__malloc((size_t)n_items * sizeof *r.scratch))) goto oom;
    int np = reco__rec_explore(r.explore, &q.view, r.pop, 1, NULL, (int)o->explore_slots, (int)o->k, r.scratch,
                               r.pin + r.n_pin, r.pin_pos + r.n_pin);
    if (np < 0) {
      rc = np;
      goto fail;
    }
    for (int j = 0; j < np; j++) r.pin_pos[r.n_pin + (size_t)j] += (int32_t)o->offset; /* on this page */
    q.n_pins = r.n_pin + (size_t)np;
  }
  if (!(r.res = reco__malloc((size_t)o->k * sizeof *r.res))) goto oom;
  if ((rc = reco__rec_ws_new(n_items, q.pool, 1, &r.ws))) goto fail;
  double t0 = reco__now();
  int n = reco__recommend(&q, r.ws, r.res);
  double us = (reco__now() - t0) * 1e6;
  if (n < 0) {
    rc = n;
    goto fail;
  }
  print_items(o, &r, map, n, us, o->user ? o->user : "a new user", o->item);
  run_free(&r);
  return EXIT_OK;
oom:
  rc = reco__seterr(RECO_ENOMEM, "out of memory");
fail:
  run_free(&r);
  return cli_fail(cmd, rc);
out:
  run_free(&r);
  return rc == RECO_ENOTFOUND || rc == RECO_EINVAL ? EXIT_FAIL : cli_fail(cmd, rc);
}

int cli_rank_parse(cli_rank *o, const char *cmd, int argc, char **argv, const char *shortopts, void (*usage)(FILE *)) {
  cli_rank_defaults(o, cmd);
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, shortopts, cli_rank_long_opts, NULL)) != -1) {
    if (c == 'h') {
      usage(stdout);
      return EXIT_OK;
    }
    int r = cli_rank_option(o, c, optarg);
    if (r < 0) return EXIT_USAGE;
    if (r == 0) {
      usage(stderr);
      return EXIT_USAGE;
    }
  }
  if (optind != argc) return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
  return -1;
}

int cmd_recommend(int argc, char **argv) {
  cli_rank o;
  int rc = cli_rank_parse(&o, "recommend", argc, argv, "m:d:u:H:k:jh", usage);
  if (rc >= 0) return rc;
  if (o.item) return cli_usage_error("recommend", "--item is for `reco similar`");
  if (!o.user && !o.history) return cli_usage_error("recommend", "give --user ID or --history ITEMS");
  return cli_rank_run(&o);
}

