/*
 * bench_synth.c - how fast the synthetic generator, the "reco" folder writer and the loader are
 * at scale: generate (by default) 10 million e-commerce interactions, write the folder, free,
 * load it back with reco_dataset_load, and report the seconds of each phase (generation split
 * into world building, user simulation and indexing), the file sizes, the in-memory bytes per
 * interaction and the peak resident memory. The target (DESIGN, issue "foundation"): generate +
 * write + load under 15 s on 2 cores.
 *
 *   bench_synth [--domain D] [--users N] [--items N] [--interactions N] [--seed N]
 *               [--threads N] [--dir DIR] [--keep] [--no-load]
 *
 * The world it simulates is described in src/data/synth.c. Prints a human-readable report and,
 * last, one JSON line for scripts.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "data/synth.h"

typedef struct stage_clock {
  char stage[32];
  double start;
  double world_s, generate_s, index_s;
} stage_clock;

/* Progress callback: notes when each stage of reco__synth_generate begins and ends. */
static int on_progress(void *ud, const char *stage, double done, double total, const char *info) {
  (void)info;
  stage_clock *c = ud;
  double now = reco__now();
  if (done == 0) {
    snprintf(c->stage, sizeof c->stage, "%s", stage);
    c->start = now;
  } else if (done >= total && !strcmp(c->stage, stage)) {
    double s = now - c->start;
    if (!strcmp(stage, "world")) c->world_s = s;
    else if (!strcmp(stage, "generate")) c->generate_s = s;
    else if (!strcmp(stage, "index")) c->index_s = s;
  }
  return 0;
}

static double file_mib(const char *dir, const char *name) {
  char path[4200];
  struct stat st;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return stat(path, &st) == 0 ? (double)st.st_size / 1048576.0 : 0.0;
}

static void rm_folder(const char *dir) {
  static const char *const files[] = {"interactions.csv", "items.csv", "users.csv"};
  char path[4200];
  for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
    snprintf(path, sizeof path, "%s/%s", dir, files[k]);
    unlink(path);
  }
  rmdir(dir);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {{"domain", required_argument, NULL, 'd'},
                                       {"users", required_argument, NULL, 'u'},
                                       {"items", required_argument, NULL, 'i'},
                                       {"interactions", required_argument, NULL, 'n'},
                                       {"seed", required_argument, NULL, 's'},
                                       {"threads", required_argument, NULL, 't'},
                                       {"dir", required_argument, NULL, 'o'},
                                       {"keep", no_argument, NULL, 'k'},
                                       {"no-load", no_argument, NULL, 'L'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0}};
  int domain = RECO_SYNTH_ECOMMERCE, keep = 0, load = 1, threads = 0, c;
  long users = 200000, items = 50000, inter = 10000000, seed = 42;
  char defdir[256];
  snprintf(defdir, sizeof defdir, "/tmp/reco-bench-synth-%d", (int)getpid());
  const char *dir = defdir;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 'd':
      domain = reco__synth_domain_parse(optarg);
      if (domain < 0) {
        fprintf(stderr, "bench_synth: unknown domain '%s'\n", optarg);
        return 2;
      }
      break;
    case 'u': users = atol(optarg); break;
    case 'i': items = atol(optarg); break;
    case 'n': inter = atol(optarg); break;
    case 's': seed = atol(optarg); break;
    case 't': threads = atoi(optarg); break;
    case 'o': dir = optarg; break;
    case 'k': keep = 1; break;
    case 'L': load = 0; break;
    case 'h':
      printf("Usage: bench_synth [--domain D] [--users N] [--items N] [--interactions N] [--seed N]\n"
             "                   [--threads N] [--dir DIR] [--keep] [--no-load]\n");
      return 0;
    default: return 2;
    }
  }
  if (threads > 0) reco_set_threads(threads);
  reco_synth_params p;
  reco__synth_defaults(&p, (reco_synth_domain)domain);
  p.n_users = (int32_t)users;
  p.n_items = (int32_t)items;
  p.n_interactions = inter;
  p.seed = (uint64_t)seed;
  p.threads = threads;

  stage_clock clk = {0};
  reco_progress pr = {on_progress, &clk};
  double t0 = reco__now();
  reco_dataset *ds;
  int rc = reco__synth_generate(&p, &pr, &ds);
  if (rc) {
    fprintf(stderr, "bench_synth: generate: %s\n", reco_last_error());
    return 1;
  }
  double t1 = reco__now();
  size_t gen_mem = reco_dataset_memory(ds), n = ds->n, nnz = ds->nnz;
  uint64_t fp = reco__ds_fingerprint(ds);
  rc = reco__synth_write(ds, dir);
  if (rc) {
    fprintf(stderr, "bench_synth: write: %s\n", reco_last_error());
    reco_dataset_free(ds);
    return 1;
  }
  double t2 = reco__now();
  reco_dataset_free(ds);
  double mib = file_mib(dir, "interactions.csv") + file_mib(dir, "items.csv") + file_mib(dir, "users.csv");
  printf("bench_synth: %s, %ld users, %ld items, %zu interactions (%zu distinct pairs), %d threads\n",
         reco__synth_domain_name(p.domain), users, items, n, nnz, reco_get_threads());
  printf("  generate   %7.3f s  (world %.3f, users %.3f, index %.3f)  %.1f M interactions/s\n", t1 - t0,
         clk.world_s, clk.generate_s, clk.index_s, (double)n / (t1 - t0) / 1e6);
  printf("  write      %7.3f s  %.1f MiB (%.1f bytes per row) %.0f MiB/s\n", t2 - t1, mib,
         n ? mib * 1048576.0 / (double)n : 0.0, mib / (t2 - t1));
  printf("  memory     %7.1f MiB generated (%.1f bytes per interaction)\n", gen_mem / 1048576.0,
         n ? (double)gen_mem / (double)n : 0.0);
  double load_s = -1;
  size_t load_mem = 0;
  int fp_match = -1;
  if (load) {
    reco_load_opts lo = {.format = RECO_FMT_RECO};
    double t3 = reco__now();
    reco_dataset *back;
    rc = reco_dataset_load(dir, &lo, &back);
    if (rc) {
      printf("  load       failed: %s (%s)\n", reco_strerror(rc), reco_last_error());
    } else {
      load_s = reco__now() - t3;
      load_mem = reco_dataset_memory(back);
      fp_match = reco__ds_fingerprint(back) == fp && back->n == n;
      printf("  load       %7.3f s  %.1f MiB in memory (%.1f bytes per interaction), %s\n", load_s,
             load_mem / 1048576.0, (double)load_mem / (double)back->n,
             fp_match ? "identical to the generated dataset" : "DIFFERS from the generated dataset");
      reco_dataset_free(back);
    }
  }
  double total = (t2 - t0) + (load_s > 0 ? load_s : 0);
  printf("  total      %7.3f s  (target < 15 s for 10M on 2 cores)%s\n", total,
         load_s < 0 ? " without the load" : "");
  printf("  peak RSS   %7.1f MiB\n", reco__peak_rss() / 1048576.0);
  printf("{\"domain\": \"%s\", \"interactions\": %zu, \"threads\": %d, \"generate_s\": %.4f, \"world_s\": %.4f, "
         "\"users_s\": %.4f, \"index_s\": %.4f, \"write_s\": %.4f, \"load_s\": %.4f, \"total_s\": %.4f, "
         "\"file_mib\": %.2f, \"bytes_per_interaction\": %.2f, \"loaded_bytes_per_interaction\": %.2f, "
         "\"roundtrip_identical\": %s, \"peak_rss_mib\": %.1f}\n",
         reco__synth_domain_name(p.domain), n, reco_get_threads(), t1 - t0, clk.world_s, clk.generate_s,
         clk.index_s, t2 - t1, load_s, total, mib, n ? (double)gen_mem / (double)n : 0.0,
         n && load_mem ? (double)load_mem / (double)n : 0.0,
         fp_match < 0 ? "null" : fp_match ? "true" : "false", reco__peak_rss() / 1048576.0);
  if (!keep) rm_folder(dir);
  return load_s < 0 && load ? 1 : 0;
}
