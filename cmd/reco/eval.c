/* eval.c - `reco eval`: the command-line contract of EVALUATION.md; prints an aligned table,
 * JSON (one object) or CSV. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli.h"
#include "eval/protocol.h"

static void usage(FILE *f) {
  fprintf(f,
          "Usage: reco eval --protocol ID --data PATH --algo NAME[,NAME...] [options]\n"
          "Evaluate algorithms with a protocol of EVALUATION.md.\n\n"
          "  --protocol ID      RATE-U1, RATE-5F, TOPN-U1, TOPN-U1-GE4, LOO, SEQ, COLD-USER,\n"
          "                     COLD-ITEM, or GIVEN (with --train and --test)\n"
          "  --data PATH        dataset folder or file (ml-100k folder for the U1/5F protocols)\n"
          "  --algo LIST        comma-separated algorithm names (reco train --list)\n"
          "  --set A.KEY=VALUE  set a parameter of algorithm A (repeatable; KEY=VALUE for all)\n"
          "  --seed N           seed for splits, negatives and models (default 42)\n"
          "  --threads N        worker threads (default: one per core)\n"
          "  --k N              cut-off for top-N metrics (default 10)\n"
          "  --negatives N|PATH sampled negatives per user (LOO 99, SEQ 100), or a file for GIVEN\n"
          "  --frac F           held-out share for COLD-USER / COLD-ITEM (default 0.1)\n"
          "  --train PATH, --test PATH   the split for GIVEN\n"
          "  --json | --csv     machine-readable output\n"
          "  --quiet            no progress bar\n"
          "  -h, --help         this help\n\n"
          "Example: reco eval --protocol TOPN-U1 --data ../shared/data/ml-100k --algo popular,baseline\n");
}

static void print_json(const reco_eval_report *r) {
  printf("{\"protocol\": \"%s\", \"data\": ", r->protocol);
  cli_json_str(stdout, r->data);
  printf(", \"k\": %d, \"folds\": %d, \"dataset\": {\"users\": %d, \"items\": %d, \"interactions\": %zu}, \"results\": [",
         r->k, r->folds, r->users, r->items, r->interactions);
  for (int a = 0; a < r->n_results; a++) {
    const reco_eval_result *x = &r->results[a];
    printf("%s{\"algo\": \"%s\", ", a ? ", " : "", x->algo);
    if (x->rc) {
      printf("\"error\": ");
      cli_json_str(stdout, x->error);
      printf("}");
      continue;
    }
    printf("\"params\": %s, \"metrics\": {", x->params[0] ? x->params : "{}");
    for (int j = 0; j < x->n_metrics; j++)
      printf("%s\"%s\": %.6g", j ? ", " : "", x->metrics[j].name, isfinite(x->metrics[j].value) ? x->metrics[j].value : 0);
    printf("}, \"users\": %zu, \"fit_s\": %.6f, \"predict_s\": %.6f, \"recommend_us\": %.3f}", x->users, x->fit_s,
           x->predict_s, x->recommend_us);
  }
  printf("]}\n");
}

/* The union of metric names in result order. */
static int metric_names(const reco_eval_report *r, const char **names, int max) {
  int n = 0;
  for (int a = 0; a < r->n_results; a++)
    for (int j = 0; j < r->results[a].n_metrics; j++) {
      const char *nm = r->results[a].metrics[j].name;
      int seen = 0;
      for (int q = 0; q < n && !seen; q++) seen = !strcmp(names[q], nm);
      if (!seen && n < max) names[n++] = nm;
    }
  return n;
}

static void print_csv(const reco_eval_report *r) {
  const char *names[64];
  int n = metric_names(r, names, 64);
  printf("protocol,algo");
  for (int j = 0; j < n; j++) printf(",%s", names[j]);
  printf(",users,fit_s,predict_s,recommend_us,error\n");
  for (int a = 0; a < r->n_results; a++) {
    const reco_eval_result *x = &r->results[a];
    printf("%s,%s", r->protocol, x->algo);
    for (int j = 0; j < n; j++) {
      double v = reco__eval_metric(x, names[j]);
      if (isfinite(v)) printf(",%.6g", v);
      else printf(",");
    }
    printf(",%zu,%.6f,%.6f,%.3f,", x->users, x->fit_s, x->predict_s, x->recommend_us);
    if (x->rc) cli_json_str(stdout, x->error);
    printf("\n");
  }
}

static void print_table(const reco_eval_report *r) {
  const char *names[64];
  int n = metric_names(r, names, 64);
  printf("%s on %s: %d users, %d items, %zu interactions", r->protocol, r->data, r->users, r->items, r->interactions);
  if (r->folds > 1) printf(", %d folds (mean)", r->folds);
  printf("\n\n%-12s", "algo");
  for (int j = 0; j < n; j++) printf(" %10s", names[j]);
  printf(" %7s %9s %9s %9s\n", "users", "fit s", "pred s", "rec us");
  for (int a = 0; a < r->n_results; a++) {
    const reco_eval_result *x = &r->results[a];
    printf("%-12s", x->algo);
    if (x->rc) {
      printf(" error: %s\n", x->error);
      continue;
    }
    for (int j = 0; j < n; j++) {
      double v = reco__eval_metric(x, names[j]);
      if (isfinite(v)) printf(" %10.4f", v);
      else printf(" %10s", "-");
    }
    printf(" %7zu %9.3f %9.3f %9.1f\n", x->users, x->fit_s, x->predict_s, x->recommend_us);
  }
  for (int a = 0; a < r->n_results; a++)
    if (!r->results[a].rc) printf("\n%-12s %s", r->results[a].algo, r->results[a].params);
  printf("\n");
}

int cmd_eval(int argc, char **argv) {
  enum { O_TRAIN = 256, O_TEST, O_NEG, O_CSV, O_FRAC };
  static const struct option opts[] = {{"protocol", required_argument, NULL, 'p'}, {"data", required_argument, NULL, 'd'},
                                       {"algo", required_argument, NULL, 'a'},     {"set", required_argument, NULL, 's'},
                                       {"seed", required_argument, NULL, 'S'},     {"threads", required_argument, NULL, 't'},
                                       {"k", required_argument, NULL, 'k'},        {"json", no_argument, NULL, 'j'},
                                       {"csv", no_argument, NULL, O_CSV},          {"train", required_argument, NULL, O_TRAIN},
                                       {"test", required_argument, NULL, O_TEST},  {"negatives", required_argument, NULL, O_NEG},
                                       {"frac", required_argument, NULL, O_FRAC},  {"quiet", no_argument, NULL, 'q'},
                                       {"help", no_argument, NULL, 'h'},           {0}};
  reco_eval_opts o = {.seed = 42, .k = 10};
  const char *algo_list = NULL, *sets[64];
  int n_sets = 0, json = 0, csv = 0, quiet = 0, c;
  long v;
  optind = 1;
  while ((c = getopt_long(argc, argv, "p:d:a:s:S:t:k:jqh", opts, NULL)) != -1) {
    switch (c) {
    case 'p': o.protocol = optarg; break;
    case 'd': o.data = optarg; break;
    case 'a': algo_list = optarg; break;
    case 's':
      if (n_sets == 64) return cli_usage_error("eval", "too many --set options");
      sets[n_sets++] = optarg;
      break;
    case 'S':
      if (!cli_parse_int("eval", "--seed", optarg, 0, 0x7fffffffffffffffL, &v)) return EXIT_USAGE;
      o.seed = (uint64_t)v;
      break;
    case 't':
      if (!cli_parse_int("eval", "--threads", optarg, 1, 1024, &v)) return EXIT_USAGE;
      reco_set_threads((int)v);
      break;
    case 'k':
      if (!cli_parse_int("eval", "--k", optarg, 1, 10000, &v)) return EXIT_USAGE;
      o.k = (int)v;
      break;
    case 'j': json = 1; break;
    case O_CSV: csv = 1; break;
    case 'q': quiet = 1; break;
    case O_TRAIN: o.train_path = optarg; break;
    case O_TEST: o.test_path = optarg; break;
    case O_NEG: {
      char *end;
      long n = strtol(optarg, &end, 10);
      if (*optarg && !*end) {
        if (n < 1 || n > 100000) return cli_usage_error("eval", "--negatives: expected 1..100000, got %s", optarg);
        o.n_neg = (int)n;
      } else {
        o.neg_path = optarg;
      }
      break;
    }
    case O_FRAC:
      if (!cli_parse_double("eval", "--frac", optarg, &o.frac)) return EXIT_USAGE;
      if (!(o.frac > 0 && o.frac < 1)) return cli_usage_error("eval", "--frac: expected a value in (0, 1)");
      break;
    case 'h': usage(stdout); return EXIT_OK;
    default: usage(stderr); return EXIT_USAGE;
    }
  }
  if (optind != argc) return cli_usage_error("eval", "unexpected argument '%s'", argv[optind]);
  if (!o.protocol) return cli_usage_error("eval", "--protocol is required");
  if (!algo_list) return cli_usage_error("eval", "--algo is required");
  if (!o.data && strcasecmp(o.protocol, "GIVEN") != 0) return cli_usage_error("eval", "--data is required");
  char *list = strdup(algo_list);
  const char *algos[64];
  int n_algos = 0;
  for (char *save, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (n_algos == 64) {
      free(list);
      return cli_usage_error("eval", "too many algorithms");
    }
    algos[n_algos++] = tok;
  }
  o.sets = sets;
  o.n_sets = n_sets;
  o.progress = cli_progress(quiet || json || csv);
  reco_eval_report rep;
  int rc = reco__eval_run(&o, algos, n_algos, &rep);
  if (rc) {
    free(list);
    return cli_fail("eval", rc);
  }
  if (json) print_json(&rep);
  else if (csv) print_csv(&rep);
  else print_table(&rep);
  int failed = 0;
  for (int a = 0; a < rep.n_results; a++)
    if (rep.results[a].rc) {
      failed = 1;
      if (json || csv) fprintf(stderr, "reco: eval: %s: %s\n", rep.results[a].algo, rep.results[a].error);
    }
  reco__eval_report_free(&rep);
  free(list);
  return failed ? EXIT_FAIL : EXIT_OK;
}
