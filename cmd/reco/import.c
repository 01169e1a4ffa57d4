/*
 * import.c - `reco import`: loads a dataset (any format the loaders read) into the interaction
 * store in large transactions, and the start-up training from the store that `reco serve` runs
 * when the store holds interactions and MODEL_PATH holds no model.
 *
 * Import: the dataset is loaded whole (reco_dataset_load, the loaders' options), then its
 * interactions go to the store in commit order of the file, CHUNK rows per transaction
 * (store_append_bulk: one job of the store's writer, so the store's write-path invariants hold:
 * a chunk is durable when the call returns, and a failed chunk stores nothing). Each row keeps
 * its type (rating, view, click, ...), value and timestamp (seconds in the dataset, ms in the
 * store). A progress line on stderr shows rows done and the rate; the summary reports rows/s.
 *
 * Training from the store (serve_train_from_store): the training set is the catalogue at
 * DEMO_DATA_PATH when that folder already holds one (its history and item metadata; stored rows
 * for items it does not know are left out) plus every stored interaction, or the store alone
 * when there is no catalogue there (then item ids come from the models, with no metadata, and
 * `content` is not trained). The demo catalogue is never generated in this case: a store filled
 * by `reco import` describes its own items. The same builder serves the background retrain.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "algo/algo.h"
#include "base/base.h"
#include "cli.h"
#include "eval/protocol.h"
#include "model/registry.h"
#include "serve/serve.h"
#include "store/store.h"

#define CHUNK_DEFAULT 100000

static void usage(FILE *f) {
  fprintf(f,
          "Usage: reco import --data DATASET [--store FILE] [options]\n"
          "Load a dataset's interactions into the interaction store (the SQLite file `reco serve` uses).\n\n"
          "  --data PATH        dataset folder or file (ml-100k folder, ml-1m, ml-latest, CSV/TSV, JSON lines,\n"
          "                     a `reco data gen` folder)\n"
          "  --store FILE       the store (default $STORE_PATH, else ./data/reco.db); created when missing\n"
          "  --format F         auto (default), ml-100k, ml-1m, ml-latest, csv, jsonl, reco\n"
          "  --delimiter C      CSV delimiter (default: detected from the header)\n"
          "  --user-col NAME    CSV/JSONL column names (default: detected)\n"
          "  --item-col NAME\n"
          "  --value-col NAME\n"
          "  --time-col NAME\n"
          "  --chunk N          rows per transaction (default %d)\n"
          "  --quiet            no progress line\n"
          "  -h, --help         this help\n\n"
          "Rows keep their type, value and timestamp. `reco serve` trains from the store when it holds\n"
          "interactions and MODEL_PATH has no model; a running server's next retrain reads them too.\n",
          CHUNK_DEFAULT);
}

int cli_parse_format(const char *s, reco_format *out); /* data_info.c */

static int mkdirs(const char *path) {
  char tmp[PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
    *p = '/';
  }
  return mkdir(tmp, 0755) && errno != EEXIST ? -1 : 0;
}

/* Creates the folder holding file path (when it has one). */
static int mkdirs_for(const char *file) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", file);
  char *slash = strrchr(dir, '/');
  if (!slash || slash == dir) return 0;
  *slash = '\0';
  return mkdirs(dir);
}

int cmd_import(int argc, char **argv) {
  enum { O_UCOL = 256, O_ICOL, O_VCOL, O_TCOL, O_CHUNK, O_DELIM };
  static const struct option opts[] = {{"data", required_argument, NULL, 'd'},     {"store", required_argument, NULL, 's'},
                                       {"format", required_argument, NULL, 'f'},   {"delimiter", required_argument, NULL, O_DELIM},
                                       {"user-col", required_argument, NULL, O_UCOL}, {"item-col", required_argument, NULL, O_ICOL},
                                       {"value-col", required_argument, NULL, O_VCOL}, {"time-col", required_argument, NULL, O_TCOL},
                                       {"chunk", required_argument, NULL, O_CHUNK}, {"quiet", no_argument, NULL, 'q'},
                                       {"help", no_argument, NULL, 'h'},           {0}};
  const char *data = NULL, *store_path = getenv("STORE_PATH");
  if (!store_path || !*store_path) store_path = "./data/reco.db";
  reco_load_opts lo = {0};
  long chunk = CHUNK_DEFAULT;
  int quiet = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "d:s:f:qh", opts, NULL)) != -1) {
    switch (c) {
    case 'd': data = optarg; break;
    case 's': store_path = optarg; break;
    case 'f':
      if (!cli_parse_format(optarg, &lo.format)) return cli_usage_error("import", "unknown format '%s'", optarg);
      break;
    case O_DELIM:
      if (strlen(optarg) != 1 && strcmp(optarg, "\\t") && strcmp(optarg, "tab"))
        return cli_usage_error("import", "--delimiter: expected one character, got '%s'", optarg);
      lo.delimiter = strlen(optarg) == 1 ? optarg[0] : '\t';
      break;
    case O_UCOL: lo.col_user = optarg; break;
    case O_ICOL: lo.col_item = optarg; break;
    case O_VCOL: lo.col_value = optarg; break;
    case O_TCOL: lo.col_time = optarg; break;
    case O_CHUNK:
      if (!cli_parse_int("import", "--chunk", optarg, 1, 10000000, &chunk)) return EXIT_USAGE;
      break;
    case 'q': quiet = 1; break;
    case 'h': usage(stdout); return EXIT_OK;
    default: usage(stderr); return EXIT_USAGE;
    }
  }
  if (optind != argc) return cli_usage_error("import", "unexpected argument '%s'", argv[optind]);
  if (!data) return cli_usage_error("import", "--data is required");
  lo.progress = cli_progress(quiet);
  double t0 = reco__now();
  reco_dataset *ds;
  int rc = reco_dataset_load(data, &lo, &ds);
  if (rc) return cli_fail("import: loading the dataset", rc);
  double t_load = reco__now() - t0;
  if (mkdirs_for(store_path)) {
    reco_dataset_free(ds);
    fprintf(stderr, "reco import: cannot create the folder of %s: %s\n", store_path, strerror(errno));
    return EXIT_FAIL;
  }
  reco_store *st;
  if ((rc = store_open(store_path, 16, &st))) {
    reco_dataset_free(ds);
    return cli_fail("import: opening the store", rc);
  }
  store_interaction *rows = malloc((size_t)chunk * sizeof *rows);
  if (!rows) {
    store_close(st);
    reco_dataset_free(ds);
    return cli_fail("import", RECO_ENOMEM);
  }
  int64_t now_ms = reco__wall_ms();
  double t1 = reco__now(), last_draw = 0;
  bool tty = !quiet && isatty(2);
  size_t done = 0;
  while (done < ds->n && !rc) {
    size_t n = ds->n - done < (size_t)chunk ? ds->n - done : (size_t)chunk;
    for (size_t j = 0; j < n; j++) {
      size_t k = done + j;
      rows[j] = (store_interaction){
          .user = reco__idmap_str(ds->users, ds->u[k]),
          .item = reco__idmap_str(ds->items, ds->i[k]),
          .type = reco__event_name(ds->type[k]),
          .value = ds->v[k],
          .has_value = true,
          /* datasets keep seconds; a file without times gets the import's time */
          .ts_ms = ds->ts[k] ? ds->ts[k] * 1000 : now_ms,
      };
    }
    if ((rc = store_append_bulk(st, rows, n))) break;
    done += n;
    double el = reco__now() - t1;
    if (!quiet && (el - last_draw > 0.5 || done == ds->n)) {
      fprintf(stderr, "%simport: %zu / %zu rows (%.0f rows/s)%s", tty ? "\r" : "", done, ds->n, el > 0 ? (double)done / el : 0.0,
              tty ? "" : "\n");
      last_draw = el;
    }
  }
  if (tty) fputc('\n', stderr);
  free(rows);
  double t_write = reco__now() - t1;
  int64_t total = 0, clicks = 0, purchases = 0;
  if (!rc) rc = store_counts(st, &total, &clicks, &purchases);
  store_close(st);
  reco_dataset_free(ds);
  if (rc) return cli_fail("import: writing the store", rc);
  printf("imported %zu interactions from %s into %s in %.2f s (load %.2f s; write %.2f s, %.0f rows/s); the store holds %lld\n",
         done, data, store_path, t_load + t_write, t_load, t_write, t_write > 0 ? (double)done / t_write : 0.0, (long long)total);
  return EXIT_OK;
}

/* ---- `reco serve` on a store with interactions and no model ---- */

static bool has_catalogue(const char *dir) {
  char probe[PATH_MAX];
  snprintf(probe, sizeof probe, "%s/interactions.csv", dir);
  return access(probe, R_OK) == 0;
}

int serve_train_from_store(const srv_config *cfg, bool *trained) {
  *trained = false;
  if (access(cfg->store_path, R_OK)) return EXIT_OK; /* no store yet: the demo */
  reco_store *st;
  int rc = store_open(cfg->store_path, 16, &st);
  if (rc) return cli_fail("serve: opening the store", rc);
  int64_t n = 0, clicks, purchases;
  if ((rc = store_counts(st, &n, &clicks, &purchases)) || n == 0) {
    store_close(st);
    return rc ? cli_fail("serve: reading the store", rc) : EXIT_OK;
  }
  char catalogue[PATH_MAX] = "";
  if (has_catalogue(cfg->data_dir) && !realpath(cfg->data_dir, catalogue)) snprintf(catalogue, sizeof catalogue, "%s", cfg->data_dir);
  fprintf(stderr, "reco serve: no models under %s: training from the store %s (%lld interactions)%s%s\n", cfg->model_path,
          cfg->store_path, (long long)n, catalogue[0] ? " and the catalogue " : "", catalogue);
  /* the erased users are left out of the catalogue's history, as in every retrain */
  if ((rc = srv_erased_load(st))) {
    store_close(st);
    return cli_fail("serve: reading the erased users", rc);
  }
  double t0 = reco__now();
  srv_trainset tset;
  rc = srv_trainset_build(catalogue, st, cfg->retrain_max_rows, &tset);
  store_close(st);
  if (rc) return cli_fail("serve: building the training set", rc);
  reco_dataset *ds = tset.ds;
  size_t n_store = tset.n_store;
  if (mkdirs(cfg->model_path)) {
    reco_dataset_free(ds);
    fprintf(stderr, "reco serve: cannot create %s: %s\n", cfg->model_path, strerror(errno));
    return EXIT_FAIL;
  }
  static const char *const algos[] = {"popular", "itemknn", "ials", "content"};
  for (size_t k = 0; k < RECO_ARRAY_LEN(algos) && !rc; k++) {
    if (!strcmp(algos[k], "content") && !ds->meta) continue; /* no item metadata to learn from */
    reco_model *m;
    char metrics[400] = ""; /* + store_max_id within the model's 512 */
    double t = reco__now();
    if ((rc = reco__model_new(algos[k], &m))) break;
    m->seed = 42;
    int version = 0;
    if (!(rc = reco__eval_validate(ds, algos[k], NULL, 0, 42, metrics, sizeof metrics)) && !(rc = reco__model_fit(m, ds, NULL))) {
      /* the newest store row seen: the next retrain compares on the rows after it */
      size_t ml = strlen(metrics);
      if (ml > 0 && metrics[ml - 1] == '}') metrics[ml - 1] = '\0';
      snprintf(m->metrics, sizeof m->metrics, "%s, \"store_max_id\": %lld}", metrics, (long long)tset.store_max_id);
      rc = reco__registry_publish(cfg->model_path, m, 1, &version);
    }
    reco__model_free(m);
    if (!rc)
      fprintf(stderr, "reco serve: trained %-8s version %d on %zu interactions (%zu from the store) in %.1f s\n", algos[k], version,
              ds->n, n_store, reco__now() - t);
  }
  srv_trainset_free(&tset);
  if (rc) return cli_fail("serve: training from the store", rc);
  if (catalogue[0]) {
    char path[PATH_MAX + 32], tmp[PATH_MAX + 40];
    snprintf(path, sizeof path, "%s/CATALOGUE", cfg->model_path);
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%s\n", catalogue) < 0 || fflush(f) || fsync(fileno(f)) || fclose(f) || rename(tmp, path)) {
      fprintf(stderr, "reco serve: cannot write %s: %s\n", path, strerror(errno));
      return EXIT_FAIL;
    }
  }
  fprintf(stderr, "reco serve: trained from the store in %.1f s\n", reco__now() - t0);
  *trained = true;
  return EXIT_OK;
}
