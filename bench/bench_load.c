/*
 * bench_load.c - loading speed of the real datasets: median wall time over repeated loads of
 * each folder given (MovieLens 100K with u.item/u.user, ml-latest-small with movies and tags),
 * with counts and in-memory bytes per interaction.
 * Usage: bench_load [--repeat N] DATASET_DIR...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "data/dataset.h"

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  int repeat = 21, first = 1;
  if (argc > 2 && !strcmp(argv[1], "--repeat")) {
    repeat = atoi(argv[2]);
    first = 3;
  }
  if (first >= argc || repeat < 1) {
    fprintf(stderr, "usage: bench_load [--repeat N] DATASET_DIR...\n");
    return 2;
  }
  printf("%-44s %8s %7s %9s %7s %7s %10s %10s %9s\n", "dataset", "users", "items", "inter.", "titles", "tags", "median ms",
         "min ms", "B/inter.");
  for (int a = first; a < argc; a++) {
    double *t = malloc((size_t)repeat * sizeof *t);
    reco_dataset *ds = NULL;
    for (int r = 0; r < repeat; r++) {
      if (ds) reco_dataset_free(ds);
      double t0 = reco__now();
      int rc = reco_dataset_load(argv[a], NULL, &ds);
      t[r] = (reco__now() - t0) * 1e3;
      if (rc) {
        fprintf(stderr, "bench_load: %s\n", reco_last_error());
        return 1;
      }
    }
    qsort(t, (size_t)repeat, sizeof *t, cmp_d);
    size_t titles = 0;
    int32_t tags = ds->meta ? reco__idmap_size(ds->meta->tags) : 0;
    if (ds->meta)
      for (int32_t i = 0; i < ds->meta->n_items; i++) titles += ds->meta->title_off[i] >= 0;
    printf("%-44s %8d %7d %9zu %7zu %7d %10.2f %10.2f %9.1f\n", argv[a], ds->n_users, ds->n_items, ds->n, titles, tags,
           t[repeat / 2], t[0], (double)reco_dataset_memory(ds) / (double)(ds->n ? ds->n : 1));
    reco_dataset_free(ds);
    free(t);
  }
  return 0;
}
