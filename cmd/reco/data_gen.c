/* data_gen.c - `reco data gen`: generate a synthetic e-commerce, streaming or news dataset
 * (src/data/synth.c describes the simulated world) and write it as a "reco" dataset folder
 * (interactions.csv, items.csv, users.csv) that `reco data info`, `train` and `eval` read. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/base.h"
#include "cli.h"
#include "data/synth.h"

static void usage(FILE *f) {
  fprintf(f,
          "Usage: reco data gen [--domain D] [options]\n"
          "Generate a deterministic synthetic dataset: users with latent tastes, items with\n"
          "categories and power-law popularity, sessions of timestamped events. The same\n"
          "options and seed give byte-identical files whatever the thread count.\n\n"
          "  --domain D          ecommerce (default), streaming or news\n"
          "  --users N           users   (ecommerce 20000, streaming 10000, news 20000)\n"
          "  --items N           items   (ecommerce 5000,  streaming 4000,  news 6000)\n"
          "  --interactions N    events  (ecommerce 500000, streaming 1000000, news 500000)\n"
          "  --categories N      categories (ecommerce 10 departments, streaming 14 genres,\n"
          "                      news 10 topics; up to 64, extra ones named category-N)\n"
          "  --seed N            random seed (default 42)\n"
          "  --ratings           explicit ratings: streaming 1-5 stars (default), e-commerce a\n"
          "                      rating after some purchases (default)\n"
          "  --no-ratings        implicit only: streaming views valued by completion\n"
          "  --context           per-interaction device and location columns (context)\n"
          "  --context-effect E  0..1: share of taste-driven choices made by the session's\n"
          "                      context (device x time of day; implies --context; default 0)\n"
          "  --out DIR           output folder (default synth-DOMAIN), created if missing\n"
          "  --threads N         threads (default: all cores); the output does not depend on it\n"
          "  --json              print the summary as one JSON object\n"
          "  --quiet             no progress bar\n"
          "  -h, --help          this help\n\n"
          "Files: interactions.csv (user,item,value,timestamp,type; type is view, click, cart,\n"
          "purchase or rating), items.csv (item,title,category,tags,price,year,text; several\n"
          "categories or tags are separated by '|'; the text of e-commerce and streaming items\n"
          "starts with \"rating=4.3 reviews=812.\", of news items with \"published=<ISO time>.\"),\n"
          "users.csv (user,segment).\n");
}

static double file_mib(const char *dir, const char *name) {
  char path[4200];
  struct stat st;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return stat(path, &st) == 0 ? (double)st.st_size / 1048576.0 : 0.0;
}

int cmd_data_gen(int argc, char **argv) {
  enum { O_RATINGS = 256, O_NO_RATINGS, O_THREADS, O_CATEGORIES, O_CONTEXT, O_CTX_EFFECT };
  static const struct option opts[] = {{"domain", required_argument, NULL, 'd'},
                                       {"users", required_argument, NULL, 'u'},
                                       {"items", required_argument, NULL, 'i'},
                                       {"interactions", required_argument, NULL, 'n'},
                                       {"categories", required_argument, NULL, O_CATEGORIES},
                                       {"seed", required_argument, NULL, 's'},
                                       {"ratings", no_argument, NULL, O_RATINGS},
                                       {"no-ratings", no_argument, NULL, O_NO_RATINGS},
                                       {"out", required_argument, NULL, 'o'},
                                       {"context", no_argument, NULL, O_CONTEXT},
                                       {"context-effect", required_argument, NULL, O_CTX_EFFECT},
                                       {"threads", required_argument, NULL, O_THREADS},
                                       {"json", no_argument, NULL, 'j'},
                                       {"quiet", no_argument, NULL, 'q'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0}};
  const char *cmd = "data gen";
  int domain = RECO_SYNTH_ECOMMERCE, json = 0, quiet = 0, ratings = -1, c;
  long users = -1, items = -1, inter = -1, cats = -1, seed = -1, threads = 0;
  const char *out = NULL;
  int context = 0;
  double ctx_effect = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, "d:u:i:n:s:o:jqh", opts, NULL)) != -1) {
    switch (c) {
    case 'd':
      domain = reco__synth_domain_parse(optarg);
      if (domain < 0) return cli_usage_error(cmd, "unknown domain '%s' (ecommerce, streaming, news)", optarg);
      break;
    case 'u':
      if (!cli_parse_int(cmd, "--users", optarg, 1, 100000000, &users)) return EXIT_USAGE;
      break;
    case 'i':
      if (!cli_parse_int(cmd, "--items", optarg, 1, 100000000, &items)) return EXIT_USAGE;
      break;
    case 'n':
      if (!cli_parse_int(cmd, "--interactions", optarg, 0, INT32_MAX - 1, &inter)) return EXIT_USAGE;
      break;
    case O_CATEGORIES:
      if (!cli_parse_int(cmd, "--categories", optarg, 1, RECO_SYNTH_MAX_CATEGORIES, &cats)) return EXIT_USAGE;
      break;
    case 's':
      if (!cli_parse_int(cmd, "--seed", optarg, 0, 0x7fffffffffffffffL, &seed)) return EXIT_USAGE;
      break;
    case O_RATINGS: ratings = 1; break;
    case O_NO_RATINGS: ratings = 0; break;
    case 'o': out = optarg; break;
    case O_CONTEXT: context = 1; break;
    case O_CTX_EFFECT: {
      char *end;
      ctx_effect = strtod(optarg, &end);
      if (end == optarg || *end || !(ctx_effect >= 0 && ctx_effect <= 1))
        return cli_usage_error(cmd, "--context-effect: expected a number in [0, 1], got '%s'", optarg);
      context = 1;
      break;
    }
    case O_THREADS:
      if (!cli_parse_int(cmd, "--threads", optarg, 1, 1024, &threads)) return EXIT_USAGE;
      break;
    case 'j': json = 1; break;
    case 'q': quiet = 1; break;
    case 'h': usage(stdout); return EXIT_OK;
    default: usage(stderr); return EXIT_USAGE;
    }
  }
  if (optind != argc) return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
  reco_synth_params p;
  reco__synth_defaults(&p, (reco_synth_domain)domain);
  if (users > 0) p.n_users = (int32_t)users;
  if (items > 0) p.n_items = (int32_t)items;
  if (inter >= 0) p.n_interactions = inter;
  if (cats > 0) p.n_categories = (int)cats;
  if (seed >= 0) p.seed = (uint64_t)seed;
  if (ratings >= 0) p.explicit_ratings = ratings;
  p.context = context;
  p.context_effect = ctx_effect;
  if (threads > 0) {
    reco_set_threads((int)threads);
    p.threads = (int)threads;
  }
  char defdir[64];
  if (!out) {
    snprintf(defdir, sizeof defdir, "synth-%s", reco__synth_domain_name(p.domain));
    out = defdir;
  }
  if (reco__synth_check(&p)) return cli_usage_error(cmd, "%s", reco_last_error());

  reco_progress pr = cli_progress(quiet || json);
  double t0 = reco__now();
  reco_dataset *ds;
  int rc = reco__synth_generate(&p, &pr, &ds);
  if (rc) return cli_fail(cmd, rc);
  double t1 = reco__now();
  rc = reco__synth_write(ds, out);
  if (rc) {
    reco_dataset_free(ds);
    return cli_fail(cmd, rc);
  }
  double t2 = reco__now();
  size_t by_type[RECO_EV__COUNT] = {0};
  for (size_t k = 0; k < ds->n; k++) by_type[ds->type[k] < RECO_EV__COUNT ? ds->type[k] : 0]++;
  double mib = file_mib(out, "interactions.csv") + file_mib(out, "items.csv") + file_mib(out, "users.csv");
  const char *dname = reco__synth_domain_name(p.domain);
  if (json) {
    printf("{\"domain\": \"%s\", \"seed\": %llu, \"users\": %d, \"items\": %d, \"interactions\": %zu, "
           "\"distinct_pairs\": %zu, \"events\": {",
           dname, (unsigned long long)p.seed, ds->n_users, ds->n_items, ds->n, ds->nnz);
    int first = 1;
    for (int k = 0; k < RECO_EV__COUNT; k++) {
      if (!by_type[k]) continue;
      printf("%s\"%s\": %zu", first ? "" : ", ", reco__event_name(k), by_type[k]);
      first = 0;
    }
    printf("}, \"categories\": %d, \"generate_s\": %.4f, \"write_s\": %.4f, \"out\": ", p.n_categories, t1 - t0,
           t2 - t1);
    cli_json_str(stdout, out);
    printf(", \"size_mib\": %.2f, \"memory_bytes\": %zu}\n", mib, reco_dataset_memory(ds));
  } else {
    printf("domain         %s (seed %llu)\n", dname, (unsigned long long)p.seed);
    printf("users          %d\n", ds->n_users);
    printf("items          %d in %d categories\n", ds->n_items, p.n_categories);
    printf("interactions   %zu (%zu distinct user-item pairs)\n", ds->n, ds->nnz);
    printf("events        ");
    for (int k = 0; k < RECO_EV__COUNT; k++)
      if (by_type[k]) printf(" %s %zu", reco__event_name(k), by_type[k]);
    printf("\n");
    printf("generated in   %.3f s\n", t1 - t0);
    printf("written in     %.3f s (%.1f MiB)\n", t2 - t1, mib);
    printf("output         %s (interactions.csv, items.csv, users.csv)\n", out);
  }
  reco_dataset_free(ds);
  return EXIT_OK;
}
