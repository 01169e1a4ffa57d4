/* tune.c - `reco tune`: hyperparameter search for any algorithm. Every configuration of a grid
 * (or a seeded random sample of it, as in Bergstra & Bengio 2012) is fitted and measured on the
 * same validation split carved from the data (reco__eval_validate: 10% of each user's
 * interactions held out, seeded), so the test data of a protocol is never looked at. Prints a
 * table (or JSON) and writes the best configuration as KEY=VALUE lines for `reco train --set`. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "algo/algo.h"
#include "base/base.h"
#include "cli.h"
#include "eval/protocol.h"

#define TUNE_MAX_KEYS 16
#define TUNE_MAX_VALUES 64
#define TUNE_MAX_CONFIGS 100000

static void usage(FILE *f) {
  fprintf(f,
          "Usage: reco tune --algo NAME --data PATH --grid KEY=V1,V2,... [--grid ...] [options]\n"
          "Search parameters on a validation split carved from the data (10%% of each user's\n"
          "interactions, seeded) and write the best as KEY=VALUE lines for `reco train --set`.\n\n"
          "  --algo NAME        algorithm (reco train --list)\n"
          "  --data PATH        dataset folder or file\n"
          "  --grid KEY=V,...   values to try for one parameter (repeatable; the grid is their product)\n"
          "  --set KEY=VALUE    a fixed parameter for every configuration (repeatable)\n"
          "  --random N         try N configurations drawn from the grid (seeded) instead of all\n"
          "  --metric NAME      rmse (default for rating models), mae, ndcg@10 (default otherwise),\n"
          "                     p@10, recall@10 or map@10\n"
          "  --seed N           seed of the split, the sample and the models (default 42)\n"
          "  --threads N        worker threads (default: one per core)\n"
          "  --out FILE         write the best configuration here (KEY=VALUE lines)\n"
          "  --json             print the results as JSON\n"
          "  --quiet            no progress on stderr\n"
          "  -h, --help         this help\n\n"
          "Example: reco tune --algo svd --data ../shared/data/ml-100k/u1.base \\\n"
          "           --grid reg=0.03,0.05,0.08 --grid lr=0.03,0.05 --out svd.params\n"
          "         reco train --algo svd --data ... $(sed 's/^/--set /' svd.params) --out svd.model\n");
}

typedef struct grid_key {
  char name[64];
  char *values[TUNE_MAX_VALUES];
  int n;
} grid_key;

typedef struct config_result {
  long index; /* mixed-radix index into the grid */
  double value, seconds;
  char metrics[512];
  int rc;
  char error[256];
} config_result;

/* "reg=0.01,0.05" -> key reg with two values (the text is modified in place). */
static bool parse_grid(char *arg, grid_key *g) {
  char *eq = strchr(arg, '=');
  if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof g->name) return false;
  memcpy(g->name, arg, (size_t)(eq - arg));
  g->name[eq - arg] = '\0';
  g->n = 0;
  for (char *save, *tok = strtok_r(eq + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (g->n == TUNE_MAX_VALUES) return false;
    g->values[g->n++] = tok;
  }
  return g->n > 0;
}

/* The value of `name` in a flat JSON object text, or NAN. */
static double json_number(const char *json, const char *name) {
  char pat[80];
  snprintf(pat, sizeof pat, "\"%s\": ", name);
  const char *p = strstr(json, pat);
  if (!p) return NAN;
  char *end;
  double v = strtod(p + strlen(pat), &end);
  return end == p + strlen(pat) ? NAN : v;
}

/* The grid value of key k in configuration index c. */
static const char *value_of(const grid_key *keys, int n_keys, long c, int k) {
  for (int j = n_keys - 1; j > k; j--) c /= keys[j].n;
  return keys[k].values[c % keys[k].n];
}

static int cmp_long(const void *a, const void *b) {
  long x = *(const long *)a, y = *(const long *)b;
  return x < y ? -1 : x > y;
}

/* n distinct indices of [0, total), seeded (Floyd's algorithm), ascending. */
static void sample_configs(long total, long n, uint64_t seed, long *out) {
  reco_rng rng;
  reco__rng_seed(&rng, seed ^ 0x74756e65ull);
  long m = 0;
  for (long j = total - n; j < total; j++) {
    long t = (long)reco__rng_below(&rng, (uint64_t)j + 1);
    bool seen = false;
    for (long q = 0; q < m && !seen; q++) seen = out[q] == t;
    out[m++] = seen ? j : t;
  }
  qsort(out, (size_t)m, sizeof *out, cmp_long);
}

static bool lower_is_better(const char *metric) { return !strcmp(metric, "rmse") || !strcmp(metric, "mae"); }

static void print_value(FILE *f, const char *s) {
  /* numbers and true/false as they are, anything else as a JSON string */
  char *end;
  strtod(s, &end);
  if ((*s && !*end) || !strcmp(s, "true") || !strcmp(s, "false")) fputs(s, f);
  else cli_json_str(f, s);
}

int cmd_tune(int argc, char **argv) {
  enum { O_GRID = 256, O_RANDOM, O_METRIC };
  static const struct option opts[] = {{"algo", required_argument, NULL, 'a'},     {"data", required_argument, NULL, 'd'},
                                       {"grid", required_argument, NULL, O_GRID},  {"set", required_argument, NULL, 's'},
                                       {"random", required_argument, NULL, O_RANDOM}, {"metric", required_argument, NULL, O_METRIC},
                                       {"seed", required_argument, NULL, 'S'},     {"threads", required_argument, NULL, 't'},
                                       {"out", required_argument, NULL, 'o'},      {"json", no_argument, NULL, 'j'},
                                       {"quiet", no_argument, NULL, 'q'},          {"help", no_argument, NULL, 'h'},
                                       {0}};
  const char *algo = NULL, *data = NULL, *out = NULL, *metric = NULL, *fixed[64];
  grid_key keys[TUNE_MAX_KEYS];
  int n_keys = 0, n_fixed = 0, json = 0, quiet = 0, c;
  long v, n_random = 0;
  uint64_t seed = 42;
  optind = 1;
  while ((c = getopt_long(argc, argv, "a:d:s:S:t:o:jqh", opts, NULL)) != -1) {
    switch (c) {
    case 'a': algo = optarg; break;
    case 'd': data = optarg; break;
    case O_GRID:
      if (n_keys == TUNE_MAX_KEYS) return cli_usage_error("tune", "at most %d --grid options", TUNE_MAX_KEYS);
      if (!parse_grid(optarg, &keys[n_keys]))
        return cli_usage_error("tune", "--grid: expected KEY=V1,V2,... (at most %d values), got '%s'", TUNE_MAX_VALUES, optarg);
      for (int k = 0; k < n_keys; k++)
        if (!strcmp(keys[k].name, keys[n_keys].name)) return cli_usage_error("tune", "--grid %s given twice", keys[k].name);
      n_keys++;
      break;
    case 's':
      if (n_fixed == 64) return cli_usage_error("tune", "too many --set options");
      if (!strchr(optarg, '=')) return cli_usage_error("tune", "--set: expected KEY=VALUE, got '%s'", optarg);
      fixed[n_fixed++] = optarg;
      break;
    case O_RANDOM:
      if (!cli_parse_int("tune", "--random", optarg, 1, TUNE_MAX_CONFIGS, &n_random)) return EXIT_USAGE;
      break;
    case O_METRIC: metric = optarg; break;
    case 'S':
      if (!cli_parse_int("tune", "--seed", optarg, 0, 0x7fffffffffffffffL, &v)) return EXIT_USAGE;
      seed = (uint64_t)v;
      break;
    case 't':
      if (!cli_parse_int("tune", "--threads", optarg, 1, 1024, &v)) return EXIT_USAGE;
      reco_set_threads((int)v);
      break;
    case 'o': out = optarg; break;
    case 'j': json = 1; break;
    case 'q': quiet = 1; break;
    case 'h': usage(stdout); return EXIT_OK;
    default: usage(stderr); return EXIT_USAGE;
    }
  }
  if (optind != argc) return cli_usage_error("tune", "unexpected argument '%s'", argv[optind]);
  if (!algo) return cli_usage_error("tune", "--algo is required");
  if (!data) return cli_usage_error("tune", "--data is required");
  if (!n_keys) return cli_usage_error("tune", "give at least one --grid KEY=V1,V2,...");
  const reco_algo *a = reco__algo_find(algo);
  if (!a) return cli_usage_error("tune", "unknown algorithm '%s' (see reco train --list)", algo);
  if (metric) {
    static const char *const k_metrics[] = {"rmse", "mae", "p@10", "recall@10", "ndcg@10", "map@10"};
    bool known_metric = false;
    for (size_t j = 0; j < RECO_ARRAY_LEN(k_metrics); j++) known_metric |= !strcmp(metric, k_metrics[j]);
    if (!known_metric) return cli_usage_error("tune", "--metric: one of rmse, mae, p@10, recall@10, ndcg@10, map@10");
  } else {
    metric = (a->caps & RECO_CAP_RATING) ? "rmse" : "ndcg@10";
  }

  /* every value must be accepted by the algorithm before anything runs */
  long total = 1;
  {
    reco_model *m;
    int rc = reco__model_new(algo, &m);
    if (rc) return cli_fail("tune", rc);
    for (int j = 0; j < n_fixed && !rc; j++) {
      char key[64];
      const char *eq = strchr(fixed[j], '=');
      snprintf(key, sizeof key, "%.*s", (int)(eq - fixed[j]), fixed[j]);
      rc = reco__model_set(m, key, eq + 1);
    }
    for (int k = 0; k < n_keys && !rc; k++) {
      for (int j = 0; j < keys[k].n && !rc; j++) rc = reco__model_set(m, keys[k].name, keys[k].values[j]);
      total *= keys[k].n;
      if (total > TUNE_MAX_CONFIGS && !n_random) {
        reco__model_free(m);
        return cli_usage_error("tune", "the grid has over %d configurations: use --random N", TUNE_MAX_CONFIGS);
      }
    }
    reco__model_free(m);
    if (rc) return cli_usage_error("tune", "%s", reco_last_error());
  }
  long n_configs = n_random && n_random < total ? n_random : total;
  long *index = reco__malloc((size_t)n_configs * sizeof *index);
  config_result *res = reco__calloc((size_t)n_configs, sizeof *res);
  if (!index || !res) {
    reco__free(index);
    reco__free(res);
    return cli_fail("tune", RECO_ENOMEM);
  }
  if (n_configs < total) sample_configs(total, n_configs, seed, index);
  else
    for (long j = 0; j < n_configs; j++) index[j] = j;

  reco_load_opts lo = {.progress = cli_progress(quiet || json)};
  reco_dataset *ds;
  int rc = reco_dataset_load(data, &lo, &ds);
  if (rc) {
    reco__free(index);
    reco__free(res);
    return cli_fail("tune", rc);
  }
  /* sets of one configuration: the fixed ones, then the grid's (a grid key overrides a --set) */
  char setbuf[TUNE_MAX_KEYS][192];
  const char *sets[64 + TUNE_MAX_KEYS];
  reco_progress pr = cli_progress(quiet || json);
  long best = -1;
  for (long j = 0; j < n_configs; j++) {
    int n_sets = 0;
    for (int q = 0; q < n_fixed; q++) sets[n_sets++] = fixed[q];
    for (int k = 0; k < n_keys; k++) {
      int len = snprintf(setbuf[k], sizeof setbuf[k], "%s=%s", keys[k].name, value_of(keys, n_keys, index[j], k));
      if (len < 0 || (size_t)len >= sizeof setbuf[k]) {
        rc = reco__seterr(RECO_ELIMIT, "--grid %s: value too long", keys[k].name);
        break;
      }
      sets[n_sets++] = setbuf[k];
    }
    if (rc) break;
    config_result *r = &res[j];
    r->index = index[j];
    double t0 = reco__now();
    reco__clearerr();
    r->rc = reco__eval_validate(ds, algo, sets, n_sets, seed, r->metrics, sizeof r->metrics);
    r->seconds = reco__now() - t0;
    r->value = r->rc ? NAN : json_number(r->metrics, metric);
    if (r->rc) snprintf(r->error, sizeof r->error, "%s", *reco_last_error() ? reco_last_error() : reco_strerror(r->rc));
    else if (isnan(r->value)) {
      rc = reco__seterr(RECO_EINVAL, "%s does not measure %s on this data (validation gave %s)", algo, metric, r->metrics);
      break;
    }
    if (!isnan(r->value) &&
        (best < 0 || (lower_is_better(metric) ? r->value < res[best].value : r->value > res[best].value)))
      best = j;
    if (pr.fn) {
      char info[96];
      snprintf(info, sizeof info, "best %s %.5g", metric, best >= 0 ? res[best].value : NAN);
      pr.fn(pr.ud, "tune", (double)(j + 1), (double)n_configs, info);
    }
  }
  if (!rc && best < 0) rc = reco__seterr(RECO_EINVAL, "every configuration failed (first: %s)", res[0].error);
  if (!rc && out) {
    /* the best configuration: fixed sets first, then the tuned keys (later lines win in --set) */
    char text[8192];
    size_t o = 0;
    for (int q = 0; q < n_fixed; q++) o += (size_t)snprintf(text + o, o < sizeof text ? sizeof text - o : 0, "%s\n", fixed[q]);
    for (int k = 0; k < n_keys; k++)
      o += (size_t)snprintf(text + o, o < sizeof text ? sizeof text - o : 0, "%s=%s\n", keys[k].name,
                            value_of(keys, n_keys, res[best].index, k));
    rc = o < sizeof text ? reco__mf_write_atomic(out, text, o) : reco__seterr(RECO_ELIMIT, "parameter file too long");
  }
  if (rc) {
    reco__free(index);
    reco__free(res);
    reco_dataset_free(ds);
    return cli_fail("tune", rc);
  }
  if (json) {
    printf("{\"algo\": \"%s\", \"data\": ", algo);
    cli_json_str(stdout, data);
    printf(", \"metric\": \"%s\", \"validation\": \"holdout-user-10%%\", \"seed\": %llu, \"grid_size\": %ld, \"results\": [",
           metric, (unsigned long long)seed, total);
    for (long j = 0; j < n_configs; j++) {
      printf("%s{\"params\": {", j ? ", " : "");
      for (int k = 0; k < n_keys; k++) {
        printf("%s\"%s\": ", k ? ", " : "", keys[k].name);
        print_value(stdout, value_of(keys, n_keys, res[j].index, k));
      }
      printf("}, ");
      if (res[j].rc) {
        printf("\"error\": ");
        cli_json_str(stdout, res[j].error);
      } else {
        printf("\"metrics\": %s", res[j].metrics);
      }
      printf(", \"seconds\": %.3f}", res[j].seconds);
    }
    printf("], \"best\": {");
    for (int k = 0; k < n_keys; k++) {
      printf("%s\"%s\": ", k ? ", " : "", keys[k].name);
      print_value(stdout, value_of(keys, n_keys, res[best].index, k));
    }
    printf("}, \"best_value\": %.6g", res[best].value);
    if (out) {
      printf(", \"out\": ");
      cli_json_str(stdout, out);
    }
    printf("}\n");
  } else {
    printf("tune %s on %s: %ld of %ld configurations, %s on a 10%% per-user holdout (seed %llu)\n\n", algo, data,
           n_configs, total, metric, (unsigned long long)seed);
    printf("%5s", "#");
    for (int k = 0; k < n_keys; k++) printf(" %12s", keys[k].name);
    printf(" %12s %9s\n", metric, "seconds");
    for (long j = 0; j < n_configs; j++) {
      printf("%5ld", j + 1);
      for (int k = 0; k < n_keys; k++) printf(" %12s", value_of(keys, n_keys, res[j].index, k));
      if (res[j].rc) printf(" error: %s\n", res[j].error);
      else printf(" %12.5f %9.3f%s\n", res[j].value, res[j].seconds, j == best ? "  *" : "");
    }
    printf("\nbest (%s %.5f):", metric, res[best].value);
    for (int k = 0; k < n_keys; k++) printf(" %s=%s", keys[k].name, value_of(keys, n_keys, res[best].index, k));
    printf("\n");
    if (out) printf("written to %s (use: reco train --algo %s ... $(sed 's/^/--set /' %s))\n", out, algo, out);
  }
  reco__free(index);
  reco__free(res);
  reco_dataset_free(ds);
  return EXIT_OK;
}
