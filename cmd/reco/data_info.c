/* data_info.c - `reco data info PATH`: load a dataset (any format) and print its counts;
 * exit 1 with file:line:column on malformed input. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli.h"
#include "data/dataset.h"

static void usage(FILE *f) {
  fprintf(f,
          "Usage: reco data info [--json] [--format F] PATH\n"
          "Load the dataset at PATH (a MovieLens folder or file, CSV/TSV, JSON lines, or a\n"
          "folder written by `reco data gen`) and print its counts.\n\n"
          "  --format F   auto (default), ml-100k, ml-1m, ml-latest, csv, jsonl, reco\n"
          "  --json       print one JSON object\n"
          "  -h, --help   this help\n");
}

int cli_parse_format(const char *s, reco_format *out) {
  static const struct { const char *name; reco_format f; } k[] = {
      {"auto", RECO_FMT_AUTO}, {"ml-100k", RECO_FMT_ML100K}, {"ml-1m", RECO_FMT_ML1M},
      {"ml-latest", RECO_FMT_MLLATEST}, {"ml-latest-small", RECO_FMT_MLLATEST}, {"csv", RECO_FMT_CSV},
      {"tsv", RECO_FMT_CSV}, {"jsonl", RECO_FMT_JSONL}, {"reco", RECO_FMT_RECO}};
  for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
    if (!strcmp(s, k[i].name)) {
      *out = k[i].f;
      return 1;
    }
  return 0;
}

int cmd_data_info(int argc, char **argv) {
  static const struct option opts[] = {
      {"json", no_argument, NULL, 'j'}, {"format", required_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'}, {0}};
  int json = 0, c;
  reco_load_opts lo = {0};
  optind = 1;
  while ((c = getopt_long(argc, argv, "jf:h", opts, NULL)) != -1) {
    switch (c) {
    case 'j': json = 1; break;
    case 'f':
      if (!cli_parse_format(optarg, &lo.format)) return cli_usage_error("data info", "unknown format '%s'", optarg);
      break;
    case 'h': usage(stdout); return EXIT_OK;
    default: usage(stderr); return EXIT_USAGE;
    }
  }
  if (optind != argc - 1) return cli_usage_error("data info", "expected one PATH");
  const char *path = argv[optind];
  lo.progress = cli_progress(json);
  double t0 = reco__now();
  reco_dataset *ds;
  int rc = reco_dataset_load(path, &lo, &ds);
  if (rc) return cli_fail("data info", rc);
  double secs = reco__now() - t0;
  size_t mem = reco_dataset_memory(ds);
  int32_t n_cats = ds->meta ? reco__idmap_size(ds->meta->cats) : 0, n_tags = ds->meta ? reco__idmap_size(ds->meta->tags) : 0;
  size_t n_titles = 0;
  if (ds->meta)
    for (int32_t i = 0; i < ds->meta->n_items; i++) n_titles += ds->meta->title_off[i] >= 0;
  double density = ds->n_users && ds->n_items ? (double)ds->nnz / ((double)ds->n_users * ds->n_items) : 0;
  if (json) {
    printf("{\"path\": ");
    cli_json_str(stdout, path);
    printf(", \"users\": %d, \"items\": %d, \"interactions\": %zu, \"distinct_pairs\": %zu, \"density\": %.6g, "
           "\"explicit\": %s, \"value_min\": %g, \"value_max\": %g, \"value_mean\": %.6g, \"has_timestamps\": %s, "
           "\"items_with_title\": %zu, \"categories\": %d, \"tags\": %d, \"load_s\": %.4f, \"memory_bytes\": %zu, "
           "\"bytes_per_interaction\": %.1f}\n",
           ds->n_users, ds->n_items, ds->n, ds->nnz, density, ds->has_values ? "true" : "false", ds->vmin, ds->vmax,
           ds->vmean, ds->has_ts ? "true" : "false", n_titles, n_cats, n_tags, secs, mem,
           ds->n ? (double)mem / (double)ds->n : 0.0);
  } else {
    printf("dataset        %s\n", path);
    printf("users          %d\n", ds->n_users);
    printf("items          %d\n", ds->n_items);
    printf("interactions   %zu (%zu distinct user-item pairs, density %.4f%%)\n", ds->n, ds->nnz, 100 * density);
    if (ds->has_values) printf("values         explicit, %g..%g, mean %.4f\n", ds->vmin, ds->vmax, ds->vmean);
    else printf("values         implicit\n");
    printf("timestamps     %s\n", ds->has_ts ? "yes" : "no");
    if (ds->meta) printf("metadata       %zu titles, %d categories, %d distinct tags\n", n_titles, n_cats, n_tags);
    printf("loaded in      %.3f s\n", secs);
    printf("memory         %.1f MiB (%.1f bytes per interaction)\n", mem / 1048576.0, ds->n ? (double)mem / ds->n : 0.0);
  }
  reco_dataset_free(ds);
  return EXIT_OK;
}
