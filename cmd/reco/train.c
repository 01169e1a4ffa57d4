/* train.c - `reco train`: fit one algorithm on a dataset, measure it on a held-out slice, and
 * save it to a file or publish it as a new version in a model registry. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "algo/algo.h"
#include "base/base.h"
#include "cli.h"
#include "eval/protocol.h"
#include "model/registry.h"

static void usage(FILE *f) {
  fprintf(f,
          "Usage: reco train --algo NAME --data PATH [--out FILE | --registry DIR] [options]\n"
          "Train a model on a whole dataset and save it.\n\n"
          "  --algo NAME        algorithm (see --list)\n"
          "  --data PATH        dataset folder or file (any format `reco data info` reads)\n"
          "  --set KEY=VALUE    algorithm parameter (repeatable)\n"
          "  --params FILE      parameters as KEY=VALUE lines (e.g. written by `reco tune --out`)\n"
          "  --out FILE         write the model file here\n"
          "  --registry DIR     publish as the next version under DIR/ALGO/ (default $MODEL_PATH)\n"
          "  --activate         make the published version the active one (with --registry)\n"
          "  --no-validate      skip the held-out validation (10%% of each user's items)\n"
          "  --seed N           seed (default 42)\n"
          "  --threads N        worker threads (default: one per core)\n"
          "  --json             print the result as JSON\n"
          "  --list             list algorithms and their parameters\n"
          "  --quiet            no progress bar\n"
          "  -h, --help         this help\n");
}

static void list_algos(void) {
  size_t n;
  const reco_algo *const *list = reco__algo_list(&n);
  for (size_t j = 0; j < n; j++) {
    const reco_algo *a = list[j];
    printf("%-10s %s\n", a->name, a->summary);
    for (int k = 0; k < a->n_params; k++) {
      const reco_param_spec *p = &a->params[k];
      if (p->type == RECO_P_ENUM) {
        const char *c = p->choices;
        for (int q = 0; q < (int)p->def && strchr(c, '|'); q++) c = strchr(c, '|') + 1;
        const char *bar = strchr(c, '|');
        printf("    %-18s %-28s default %.*s (%s)\n", p->name, p->help, bar ? (int)(bar - c) : (int)strlen(c), c, p->choices);
      } else {
        printf("    %-18s %-28s default %g\n", p->name, p->help, p->def);
      }
    }
  }
}

int cmd_train(int argc, char **argv) {
  enum { O_NOVAL = 256, O_LIST, O_ACT, O_PARAMS };
  static const struct option opts[] = {{"algo", required_argument, NULL, 'a'},  {"data", required_argument, NULL, 'd'},
                                       {"set", required_argument, NULL, 's'},   {"params", required_argument, NULL, O_PARAMS}, {"out", required_argument, NULL, 'o'},
                                       {"registry", required_argument, NULL, 'r'}, {"activate", no_argument, NULL, O_ACT},
                                       {"no-validate", no_argument, NULL, O_NOVAL}, {"seed", required_argument, NULL, 'S'},
                                       {"threads", required_argument, NULL, 't'}, {"json", no_argument, NULL, 'j'},
                                       {"list", no_argument, NULL, O_LIST},     {"quiet", no_argument, NULL, 'q'},
                                       {"help", no_argument, NULL, 'h'},        {0}};
  const char *algo = NULL, *data = NULL, *out = NULL, *registry = NULL, *sets[64];
  int n_sets = 0, validate = 1, json = 0, quiet = 0, activate = 0, c;
  long v;
  uint64_t seed = 42;
  optind = 1;
  while ((c = getopt_long(argc, argv, "a:d:s:o:r:S:t:jqh", opts, NULL)) != -1) {
    switch (c) {
    case 'a': algo = optarg; break;
    case 'd': data = optarg; break;
    case 's':
      if (n_sets == 64) return cli_usage_error("train", "too many --set options");
      sets[n_sets++] = optarg;
      break;
    case O_PARAMS: {
      /* KEY=VALUE lines as written by `reco tune --out`; '#' starts a comment */
      FILE *f = fopen(optarg, "r");
      if (!f) {
        fprintf(stderr, "reco train: --params %s: cannot open\n", optarg);
        return EXIT_FAIL;
      }
      char line[512];
      int lineno = 0;
      while (fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0] || line[0] == '#') continue;
        if (!strchr(line, '=') || n_sets == 64) {
          fprintf(stderr, "reco train: %s:%d: expected KEY=VALUE\n", optarg, lineno);
          fclose(f);
          return EXIT_FAIL;
        }
        static char *kept[64]; /* reachable until exit */
        static int n_kept;
        kept[n_kept] = strdup(line);
        sets[n_sets++] = kept[n_kept++];
      }
      fclose(f);
      break;
    }
    case 'o': out = optarg; break;
    case 'r': registry = optarg; break;
    case O_ACT: activate = 1; break;
    case O_NOVAL: validate = 0; break;
    case 'S':
      if (!cli_parse_int("train", "--seed", optarg, 0, 0x7fffffffffffffffL, &v)) return EXIT_USAGE;
      seed = (uint64_t)v;
      break;
    case 't':
      if (!cli_parse_int("train", "--threads", optarg, 1, 1024, &v)) return EXIT_USAGE;
      reco_set_threads((int)v);
      break;
    case 'j': json = 1; break;
    case 'q': quiet = 1; break;
    case O_LIST: list_algos(); return EXIT_OK;
    case 'h': usage(stdout); return EXIT_OK;
    default: usage(stderr); return EXIT_USAGE;
    }
  }
  if (optind != argc) return cli_usage_error("train", "unexpected argument '%s'", argv[optind]);
  if (!algo) return cli_usage_error("train", "--algo is required");
  if (!data) return cli_usage_error("train", "--data is required");
  if (!reco__algo_find(algo)) return cli_usage_error("train", "unknown algorithm '%s' (see reco train --list)", algo);
  if (!out && !registry) registry = getenv("MODEL_PATH");
  if (!out && !registry) return cli_usage_error("train", "give --out FILE or --registry DIR (or set MODEL_PATH)");
  if (activate && !registry) return cli_usage_error("train", "--activate needs --registry");

  reco_load_opts lo = {.progress = cli_progress(quiet || json)};
  reco_dataset *ds;
  int rc = reco_dataset_load(data, &lo, &ds);
  if (rc) return cli_fail("train", rc);
  reco_model *m;
  rc = reco__model_new(algo, &m);
  if (!rc) {
    m->seed = seed;
    rc = reco__eval_apply_sets(m, sets, n_sets);
  }
  if (rc) {
    reco_dataset_free(ds);
    reco__model_free(m);
    return cli_fail("train", rc);
  }
  char metrics[512] = "";
  double t0 = reco__now();
  if (validate && (rc = reco__eval_validate(ds, algo, sets, n_sets, seed, metrics, sizeof metrics))) goto fail;
  double val_s = reco__now() - t0;
  reco_progress pr = cli_progress(quiet || json);
  if ((rc = reco__model_fit(m, ds, &pr))) goto fail;
  snprintf(m->metrics, sizeof m->metrics, "%s", metrics);
  char path[4096];
  int version = 0;
  if (out) {
    snprintf(path, sizeof path, "%s", out);
    rc = reco__model_save(m, out);
  } else {
    rc = reco__registry_publish(registry, m, activate, &version);
    if (!rc) rc = reco__registry_path(registry, algo, version, path, sizeof path);
  }
  if (rc) goto fail;
  char params[2048];
  reco__model_params_json(m, params, sizeof params);
  if (json) {
    printf("{\"algo\": \"%s\", \"path\": ", algo);
    cli_json_str(stdout, path);
    printf(", \"version\": %d, \"params\": %s, \"users\": %d, \"items\": %d, \"interactions\": %zu, \"fit_s\": %.6f, "
           "\"validate_s\": %.6f, \"validation\": %s, \"fit_info\": %s, \"curve\": [",
           version, params, m->n_users, m->n_items, m->n_train, m->fit_s, val_s, metrics[0] ? metrics : "null",
           m->fit_info[0] ? m->fit_info : "null");
    for (int e = 0; e < m->n_curve; e++) {
      printf("%s{\"epoch\": %d, \"loss\": %.6g", e ? ", " : "", e + 1, m->curve_loss[e]);
      if (!isnan(m->curve_valid[e])) printf(", \"valid\": %.6g", m->curve_valid[e]);
      printf("}");
    }
    printf("]}\n");
  } else {
    printf("trained %s on %s: %d users, %d items, %zu interactions in %.3f s\n", algo, data, m->n_users, m->n_items,
           m->n_train, m->fit_s);
    printf("params      %s\n", params);
    if (m->fit_info[0]) printf("fit chose   %s\n", m->fit_info);
    if (metrics[0]) printf("validation  %s (%.3f s)\n", metrics, val_s);
    if (version) printf("published   %s (version %d%s)\n", path, version, activate ? ", active" : "");
    else printf("saved       %s\n", path);
  }
  reco__model_free(m);
  reco_dataset_free(ds);
  return EXIT_OK;
fail:
  reco__model_free(m);
  reco_dataset_free(ds);
  return cli_fail("train", rc);
}
