/* data_fetch.c - `reco data fetch NAME`: download a MovieLens dataset from GroupLens, verify it
 * (SHA-256 of its files) and unpack it into the cache; print where it is. `--list` shows the
 * known datasets. Exit 0 on success (also when the data was already there), 1 when the fetch
 * fails, 2 on a usage error such as an unknown name. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli.h"
#include "data/fetch.h"

static void usage(FILE *f) {
  fprintf(f,
          "Usage: reco data fetch [options] NAME\n"
          "       reco data fetch --list [--json]\n"
          "Download the dataset NAME from GroupLens, verify it and unpack it into the cache\n"
          "directory; print the dataset folder. Nothing is downloaded when the folder is already\n"
          "there and verifies.\n\n"
          "  --dir D      cache directory (default $XDG_CACHE_HOME/reco/datasets,\n"
          "               else ~/.cache/reco/datasets)\n"
          "  --url URL    download the zip from URL instead (http, https or file://);\n"
          "               $RECO_FETCH_URL_BASE replaces the GroupLens folder for every name\n"
          "  --force      replace a folder of that name that does not verify\n"
          "  --list       list the known datasets\n"
          "  --json       print one JSON object\n"
          "  -q, --quiet  no progress bar\n"
          "  -h, --help   this help\n\n"
          "MovieLens data is licensed by GroupLens Research for non-commercial use; see the\n"
          "README in the downloaded folder.\n");
}

static void known_names(FILE *f) {
  size_t n;
  const reco__fetch_spec *s = reco__fetch_specs(&n);
  for (size_t i = 0; i < n; i++) fprintf(f, "%s%s", i ? ", " : "", s[i].name);
}

static const char *check_kind(const reco__fetch_spec *s) {
  if (s->zip_sha256) return "sha256-zip";
  for (size_t i = 0; i < s->n_files; i++)
    if (s->files[i].sha256) return "sha256-files";
  return "structure";
}

static int list(bool json) {
  size_t n;
  const reco__fetch_spec *s = reco__fetch_specs(&n);
  char dir[4096];
  bool have_dir = reco__fetch_default_dir(dir, sizeof dir) == 0;
  if (json) {
    printf("{\"datasets\": [");
    for (size_t i = 0; i < n; i++) {
      printf("%s{\"name\": ", i ? ", " : "");
      cli_json_str(stdout, s[i].name);
      printf(", \"url\": ");
      cli_json_str(stdout, s[i].url);
      printf(", \"size\": ");
      cli_json_str(stdout, s[i].size_hint);
      printf(", \"check\": \"%s\", \"summary\": ", check_kind(&s[i]));
      cli_json_str(stdout, s[i].summary);
      printf("}");
    }
    printf("], \"default_dir\": ");
    if (have_dir) cli_json_str(stdout, dir);
    else printf("null");
    printf("}\n");
    return EXIT_OK;
  }
  printf("%-16s %-8s %-13s %s\n", "NAME", "SIZE", "CHECK", "DESCRIPTION");
  for (size_t i = 0; i < n; i++)
    printf("%-16s %-8s %-13s %s\n", s[i].name, s[i].size_hint, check_kind(&s[i]), s[i].summary);
  printf("\nsha256-files: every data file is compared with its published SHA-256.\n"
         "structure: the files must be present; content rests on HTTPS and the zip's CRC-32.\n");
  if (have_dir) printf("Default directory: %s\n", dir);
  return EXIT_OK;
}

int cmd_data_fetch(int argc, char **argv) {
  static const struct option opts[] = {{"dir", required_argument, NULL, 'd'},
                                       {"url", required_argument, NULL, 'u'},
                                       {"force", no_argument, NULL, 'f'},
                                       {"list", no_argument, NULL, 'l'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"quiet", no_argument, NULL, 'q'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0}};
  bool json = false, quiet = false, do_list = false;
  reco__fetch_opts fo = {0};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "d:u:fljqh", opts, NULL)) != -1) {
    switch (c) {
    case 'd': fo.dir = optarg; break;
    case 'u': fo.url = optarg; break;
    case 'f': fo.force = true; break;
    case 'l': do_list = true; break;
    case 'j': json = true; break;
    case 'q': quiet = true; break;
    case 'h': usage(stdout); return EXIT_OK;
    default: usage(stderr); return EXIT_USAGE;
    }
  }
  if (do_list) {
    if (optind != argc) return cli_usage_error("data fetch", "--list takes no NAME");
    return list(json);
  }
  if (optind != argc - 1) return cli_usage_error("data fetch", "expected one dataset NAME (try --list)");
  const char *name = argv[optind];
  const reco__fetch_spec *spec = reco__fetch_find(name);
  if (!spec) {
    fprintf(stderr, "reco data fetch: unknown dataset '%s'; known: ", name);
    known_names(stderr);
    fprintf(stderr, "\nTry 'reco data fetch --list'.\n");
    return EXIT_USAGE;
  }
  fo.progress = cli_progress(quiet || json);
  reco__fetch_result *res = malloc(sizeof *res);
  if (!res) return cli_fail("data fetch", RECO_ENOMEM);
  int rc = reco__fetch_spec_run(spec, &fo, res);
  if (rc) {
    free(res);
    return cli_fail("data fetch", rc);
  }
  if (json) {
    printf("{\"name\": ");
    cli_json_str(stdout, spec->name);
    printf(", \"path\": ");
    cli_json_str(stdout, res->path);
    printf(", \"downloaded\": %s, \"bytes\": %llu, \"check\": \"%s\", \"url\": ", res->downloaded ? "true" : "false",
           (unsigned long long)res->bytes, check_kind(spec));
    if (res->downloaded) cli_json_str(stdout, res->url);
    else printf("null");
    printf(", \"zip_sha256\": ");
    if (res->downloaded) cli_json_str(stdout, res->zip_sha256);
    else printf("null");
    printf("}\n");
  } else {
    if (!quiet) {
      if (res->downloaded)
        fprintf(stderr, "reco: fetched %s (%.1f MB, zip SHA-256 %s), verified (%s)\n", spec->name,
                (double)res->bytes / 1e6, res->zip_sha256, check_kind(spec));
      else fprintf(stderr, "reco: %s already present and verified\n", spec->name);
    }
    printf("%s\n", res->path);
  }
  free(res);
  return EXIT_OK;
}
