/* recommend.c - `reco recommend`: top-N for a user from a saved model. The user's history (to
 * score from and to exclude) comes from --data, or from --history for a user the model never saw. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "algo/algo.h"
#include "base/base.h"
#include "cli.h"

static void usage(FILE *f) {
  fprintf(f,
          "Usage: reco recommend --model FILE (--user ID | --history ITEM,...) [options]\n"
          "Top-N recommendations from a saved model.\n\n"
          "  --model FILE       a model file written by `reco train`\n"
          "  --data PATH        the dataset: the user's history (scored from, excluded) and titles\n"
          "  --user ID          the user's external id\n"
          "  --history LIST     comma-separated item ids (a new user, or extra recent items)\n"
          "  --k N              how many (default 10)\n"
          "  --include-seen     do not exclude items the user already has\n"
          "  --json             JSON output\n"
          "  -h, --help         this help\n");
}

static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return x < y ? -1 : x > y;
}

int cmd_recommend(int argc, char **argv) {
  enum { O_SEEN = 256 };
  static const struct option opts[] = {{"model", required_argument, NULL, 'm'}, {"data", required_argument, NULL, 'd'},
                                       {"user", required_argument, NULL, 'u'},  {"history", required_argument, NULL, 'H'},
                                       {"k", required_argument, NULL, 'k'},     {"include-seen", no_argument, NULL, O_SEEN},
                                       {"json", no_argument, NULL, 'j'},        {"help", no_argument, NULL, 'h'},
                                       {0}};
  const char *model_path = NULL, *data = NULL, *user = NULL, *history = NULL;
  long k = 10;
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
    case 'j': json = 1; break;
    case 'h': usage(stdout); return EXIT_OK;
    default: usage(stderr); return EXIT_USAGE;
    }
  }
  if (optind != argc) return cli_usage_error("recommend", "unexpected argument '%s'", argv[optind]);
  if (!model_path) return cli_usage_error("recommend", "--model is required");
  if (!user && !history) return cli_usage_error("recommend", "give --user ID or --history ITEMS");

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
  int32_t *hist = NULL, *excl = NULL;
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
  excl = reco__malloc((n_hist ? n_hist : 1) * sizeof *excl);
  float *scratch = reco__aligned_alloc((size_t)(m->n_items ? m->n_items : 1) * sizeof(float));
  int32_t *rec = reco__malloc((size_t)k * sizeof *rec);
  float *sc = reco__malloc((size_t)k * sizeof *sc);
  reco_topk heap = {0};
  if (!excl || !scratch || !rec || !sc || reco__topk_init(&heap, (int)k)) {
    reco__free_aligned(scratch);
    reco__free(rec);
    reco__free(sc);
    reco__topk_free(&heap);
    goto oom;
  }
  memcpy(excl, hist, n_hist * sizeof *excl);
  qsort(excl, n_hist, sizeof *excl, cmp_i32);
  reco_user_view view = {uidx, hist, NULL, NULL, n_hist};
  double t0 = reco__now();
  int n = reco__model_recommend(m, &view, include_seen ? NULL : excl, include_seen ? 0 : n_hist, (int)k, scratch, &heap,
                                rec, sc);
  double us = (reco__now() - t0) * 1e6;
  if (n < 0) {
    rc = n;
  } else if (json) {
    printf("{\"user\": ");
    cli_json_str(stdout, user ? user : "");
    printf(", \"algorithm\": \"%s\", \"history\": %zu, \"latency_us\": %.1f, \"items\": [", m->algo->name, n_hist, us);
    for (int j = 0; j < n; j++) {
      const char *iid = reco__idmap_str(items_map, rec[j]);
      int32_t di = ds ? reco__idmap_get(ds->items, iid, strlen(iid)) : -1;
      printf("%s{\"itemId\": ", j ? ", " : "");
      cli_json_str(stdout, iid);
      printf(", \"score\": %.6g", sc[j]);
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
      const char *iid = reco__idmap_str(items_map, rec[j]);
      int32_t di = ds ? reco__idmap_get(ds->items, iid, strlen(iid)) : -1;
      const char *title = di >= 0 ? reco_dataset_item_title(ds, di) : NULL;
      printf("%3d. %-10s %9.4f  %s\n", j + 1, iid, sc[j], title ? title : "");
    }
  }
  reco__free_aligned(scratch);
  reco__free(rec);
  reco__free(sc);
  reco__topk_free(&heap);
out:
  reco__free(hist);
  reco__free(excl);
  reco__model_free(m);
  reco_dataset_free(ds);
  return rc ? (rc == RECO_ENOTFOUND ? EXIT_FAIL : cli_fail("recommend", rc)) : EXIT_OK;
oom:
  rc = reco__seterr(RECO_ENOMEM, "out of memory");
  goto out;
}
