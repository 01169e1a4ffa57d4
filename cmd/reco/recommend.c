/* recommend.c - `reco recommend`: top-N for a user from a saved model, through the recommend
 * pipeline (src/rank: filters, MMR diversity, pagination, confidence and reasons). The user's
 * history (to score from and to exclude) comes from --data, or from --history for a user the
 * model never saw. Category filters and the diversity vectors (genre/category one-hots) come
 * from the dataset's metadata, mapped into the model's item index space by external id. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "algo/algo.h"
#include "base/base.h"
#include "cli.h"
#include "rank/rank.h"

#define MAX_CATEGORIES 32

static void usage(FILE *f) {
  fprintf(f,
          "Usage: reco recommend --model FILE (--user ID | --history ITEM,...) [options]\n"
          "Top-N recommendations from a saved model.\n\n"
          "  --model FILE       a model file written by `reco train`\n"
          "  --data PATH        the dataset: the user's history (scored from, excluded) and titles\n"
          "  --user ID          the user's external id\n"
          "  --history LIST     comma-separated item ids (a new user, or extra recent items)\n"
          "  --k N              how many (default 10)\n"
          "  --offset N         skip the first N of the ranked list (pagination, default 0)\n"
          "  --category NAME    only items of this category (repeatable; needs --data)\n"
          "  --diversity W      MMR weight in [0, 1] on category one-hots (default 0; needs --data)\n"
          "  --include-seen     do not exclude items the user already has\n"
          "  --json             JSON output\n"
          "  -h, --help         this help\n");
}

int cmd_recommend(int argc, char **argv) {
  enum { O_SEEN = 256, O_OFFSET, O_CAT, O_DIV };
  static const struct option opts[] = {{"model", required_argument, NULL, 'm'}, {"data", required_argument, NULL, 'd'},
                                       {"user", required_argument, NULL, 'u'},  {"history", required_argument, NULL, 'H'},
                                       {"k", required_argument, NULL, 'k'},     {"include-seen", no_argument, NULL, O_SEEN},
                                       {"offset", required_argument, NULL, O_OFFSET},
                                       {"category", required_argument, NULL, O_CAT},
                                       {"diversity", required_argument, NULL, O_DIV},
                                       {"json", no_argument, NULL, 'j'},        {"help", no_argument, NULL, 'h'},
                                       {0}};
  const char *model_path = NULL, *data = NULL, *user = NULL, *history = NULL;
  long k = 10, offset = 0;
  double diversity = 0;
  const char *cats[MAX_CATEGORIES];
  int n_cats = 0;
  int json = 0, include_seen = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "m:d:u:H:k:jh", opts, NULL)) != -1) {
    switch (c) {
    case 'm': model_path = optarg; break;
    case 'd': data = optarg; break;
    case 'u': user = optarg; break;
    case 'H': history = optarg; break;
    case 'k':
      if (!cli_parse_int("recommend", "--k", optarg, 1, 10000, &k)) return EXIT_USAGE;
      break;
    case O_SEEN: include_seen = 1; break;
    case O_OFFSET:
      if (!cli_parse_int("recommend", "--offset", optarg, 0, 1000000, &offset)) return EXIT_USAGE;
      break;
    case O_CAT:
      if (n_cats == MAX_CATEGORIES) return cli_usage_error("recommend", "at most %d --category", MAX_CATEGORIES);
      cats[n_cats++] = optarg;
      break;
    case O_DIV: {
      char *end;
      diversity = strtod(optarg, &end);
      if (end == optarg || *end || !(diversity >= 0 && diversity <= 1))
        return cli_usage_error("recommend", "--diversity: expected a number in [0, 1], got '%s'", optarg);
      break;
    }
    case 'j': json = 1; break;
    case 'h': usage(stdout); return EXIT_OK;
    default: usage(stderr); return EXIT_USAGE;
    }
  }
  if (optind != argc) return cli_usage_error("recommend", "unexpected argument '%s'", argv[optind]);
  if (!model_path) return cli_usage_error("recommend", "--model is required");
  if (!user && !history) return cli_usage_error("recommend", "give --user ID or --history ITEMS");
  if ((n_cats || diversity > 0) && !data)
    return cli_usage_error("recommend", "--category and --diversity need --data (the item metadata)");

  reco_model *m = NULL;
  reco_dataset *ds = NULL;
  int rc = reco__model_load(model_path, &m);
  if (rc) return cli_fail("recommend", rc);
  if (data && (rc = reco_dataset_load(data, NULL, &ds))) {
    reco__model_free(m);
    return cli_fail("recommend", rc);
  }
  const reco_idmap *items_map = m->item_ids ? m->item_ids : (ds ? ds->items : NULL);
  const reco_idmap *users_map = m->user_ids ? m->user_ids : (ds ? ds->users : NULL);
  if (!items_map) {
    reco__model_free(m);
    reco_dataset_free(ds);
    fprintf(stderr, "reco: recommend: %s has no id maps; pass --data\n", model_path);
    return EXIT_FAIL;
  }
  int32_t *hist = NULL;
  size_t n_hist = 0, cap = 0;
  int32_t uidx = -1;
  if (user) {
    uidx = users_map ? reco__idmap_get(users_map, user, strlen(user)) : -1;
    if (uidx >= m->n_users) uidx = -1;
    /* history from the dataset, mapped into the model's item index space */
    int32_t du = ds ? reco__idmap_get(ds->users, user, strlen(user)) : -1;
    if (du >= 0) {
      for (int64_t p = ds->uptr[du]; p < ds->uptr[du + 1]; p++) {
        const char *iid = reco__idmap_str(ds->items, ds->uitem[p]);
        int32_t mi = reco__idmap_get(items_map, iid, strlen(iid));
        if (mi < 0 || mi >= m->n_items) continue;
        if (RECO_GROW(hist, cap, n_hist + 1)) goto oom;
        hist[n_hist++] = mi;
      }
    }
    if (uidx < 0 && du < 0 && !history) {
      fprintf(stderr, "reco: recommend: unknown user '%s' (give --history for a new user)\n", user);
      rc = RECO_ENOTFOUND;
      goto out;
    }
  }
  if (history) {
    char *list = strdup(history);
    for (char *save, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
      int32_t mi = reco__idmap_get(items_map, tok, strlen(tok));
      if (mi < 0 || mi >= m->n_items) {
        fprintf(stderr, "reco: recommend: --history: unknown item '%s'\n", tok);
        free(list);
        rc = RECO_ENOTFOUND;
        goto out;
      }
      if (RECO_GROW(hist, cap, n_hist + 1)) {
        free(list);
        goto oom;
      }
      hist[n_hist++] = mi;
    }
    free(list);
  }
  {
    /* the pipeline: one member (the model), filters, MMR, the page [offset, offset + k) */
    int32_t n_items = m->n_items;
    int pool = (int)RECO_MIN((long)n_items, RECO_MAX(200L, offset + k));
    reco_rec_ws *ws = NULL;
    reco_rec_item *res = reco__malloc((size_t)k * sizeof *res);
    uint8_t *avail = NULL;
    float *vec = NULL;
    int dim = 0;
    rc = res ? reco__rec_ws_new(n_items, pool, 1, &ws) : RECO_ENOMEM;
    const reco_itemmeta *meta = ds ? ds->meta : NULL;
    /* model item index -> dataset item index (by external id), for metadata */
    if (!rc && (n_cats || diversity > 0)) {
      int32_t cat_ids[MAX_CATEGORIES];
      for (int j = 0; j < n_cats; j++) {
        cat_ids[j] = meta && meta->cats ? reco__idmap_get(meta->cats, cats[j], strlen(cats[j])) : -1;
        if (cat_ids[j] < 0) {
          fprintf(stderr, "reco: recommend: --category: unknown category '%s'\n", cats[j]);
          rc = RECO_ENOTFOUND;
        }
      }
      int32_t d_all = meta && meta->cats ? reco__idmap_size(meta->cats) : 0;
      if (!rc && diversity > 0 && d_all <= 0) {
        fprintf(stderr, "reco: recommend: --diversity: the dataset has no categories\n");
        rc = RECO_ENOTFOUND;
      }
      if (!rc && n_cats && !(avail = reco__calloc(((size_t)n_items + 7) / 8, 1))) rc = RECO_ENOMEM;
      if (!rc && diversity > 0) {
        dim = (int)d_all;
        if (!(vec = reco__aligned_calloc((size_t)n_items * (size_t)dim * sizeof *vec))) rc = RECO_ENOMEM;
      }
      for (int32_t mi = 0; !rc && mi < n_items; mi++) {
        const char *iid = reco__idmap_str(items_map, mi);
        int32_t di = iid ? reco__idmap_get(ds->items, iid, strlen(iid)) : -1;
        if (di < 0 || di >= meta->n_items) continue;
        int64_t a = meta->cat_ptr[di], b = meta->cat_ptr[di + 1];
        for (int64_t p = a; p < b; p++) {
          for (int j = 0; avail && j < n_cats; j++)
            if (meta->cat_idx[p] == cat_ids[j]) avail[mi >> 3] |= (uint8_t)(1u << (mi & 7));
          if (vec) vec[(size_t)mi * (size_t)dim + (size_t)meta->cat_idx[p]] = 1.0f / sqrtf((float)(b - a));
        }
      }
    }
    if (rc == RECO_ENOMEM) rc = reco__seterr(RECO_ENOMEM, "out of memory");
    double us = 0;
    int n = 0;
    if (!rc) {
      reco_rec_member mem = {m, 1.0f};
      reco_rec_request q = {0};
      q.view = (reco_user_view){uidx, hist, NULL, NULL, n_hist};
      q.k = (int)k;
      q.offset = (int)offset;
      q.pool = pool;
      q.members = &mem;
      q.n_members = 1;
      q.cold = RECO_COLD_MEMBERS;
      q.filters.min_rating = q.filters.price_min = q.filters.price_max = NAN;
      q.filters.exclude_seen = !include_seen;
      q.filters.available = avail;
      q.relevance_weight = NAN;
      q.diversity_weight = (float)diversity;
      q.item_vectors = vec;
      q.dim = dim;
      q.reasons = true;
      double t0 = reco__now();
      n = reco__recommend(&q, ws, res);
      us = (reco__now() - t0) * 1e6;
      if (n < 0) rc = n;
    }
    if (rc) {
      /* reported below */
    } else if (json) {
      printf("{\"user\": ");
      cli_json_str(stdout, user ? user : "");
      printf(", \"algorithm\": \"%s\", \"history\": %zu, \"offset\": %ld, \"latency_us\": %.1f, \"items\": [",
             m->algo->name, n_hist, offset, us);
      for (int j = 0; j < n; j++) {
        const char *iid = reco__idmap_str(items_map, res[j].item);
        int32_t di = ds ? reco__idmap_get(ds->items, iid, strlen(iid)) : -1;
        printf("%s{\"itemId\": ", j ? ", " : "");
        cli_json_str(stdout, iid);
        printf(", \"score\": %.6g, \"confidence\": %.4f, \"reason\": ", res[j].score, res[j].confidence);
        cli_json_str(stdout, reco__rec_reason_text(res[j].reason));
        if (res[j].because >= 0) {
          printf(", \"because\": ");
          cli_json_str(stdout, reco__idmap_str(items_map, res[j].because));
        }
        if (di >= 0 && reco_dataset_item_title(ds, di)) {
          printf(", \"title\": ");
          cli_json_str(stdout, reco_dataset_item_title(ds, di));
        }
        printf("}");
      }
      printf("]}\n");
    } else {
      printf("%s for %s (%zu items of history, %.0f us):\n", m->algo->name, user ? user : "a new user", n_hist, us);
      for (int j = 0; j < n; j++) {
        const char *iid = reco__idmap_str(items_map, res[j].item);
        int32_t di = ds ? reco__idmap_get(ds->items, iid, strlen(iid)) : -1;
        const char *title = di >= 0 ? reco_dataset_item_title(ds, di) : NULL;
        printf("%3ld. %-10s %7.4f  %.2f  %s", offset + j + 1, iid, res[j].score, res[j].confidence, title ? title : "");
        if (res[j].because >= 0) printf("  (because of %s)", reco__idmap_str(items_map, res[j].because));
        printf("\n");
      }
    }
    reco__rec_ws_free(ws);
    reco__free(res);
    reco__free(avail);
    reco__free_aligned(vec);
  }
out:
  reco__free(hist);
  reco__model_free(m);
  reco_dataset_free(ds);
  return rc ? (rc == RECO_ENOTFOUND ? EXIT_FAIL : cli_fail("recommend", rc)) : EXIT_OK;
oom:
  rc = reco__seterr(RECO_ENOMEM, "out of memory");
  goto out;
}
