/*
 * fuzz_load.c - libFuzzer harness for every dataset loader. The first input byte picks the
 * format (and so the file name the loader sees); the rest is the file. Every input must either
 * load and finalize, or fail with RECO_EFORMAT/RECO_EIO and a one-line "FILE:LINE..." detail:
 * never crash, leak, or read out of bounds (ASan + UBSan watch).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/dataset.h"
#include "data/load.h"

static char g_dir[64];

static const struct {
  const char *name;
  reco_format fmt;
} k_files[] = {
    {"u.data", RECO_FMT_ML100K}, {"u.item", RECO_FMT_AUTO},   {"ratings.dat", RECO_FMT_ML1M},
    {"x.csv", RECO_FMT_CSV},     {"x.jsonl", RECO_FMT_JSONL}, {"movies.csv", RECO_FMT_AUTO},
    {"x.tsv", RECO_FMT_CSV},     {"tags.csv", RECO_FMT_AUTO},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  if (!g_dir[0]) {
    snprintf(g_dir, sizeof g_dir, "/tmp/reco-fuzz-load-%d", (int)getpid());
    mkdir(g_dir, 0700);
  }
  size_t pick = data[0] % (sizeof k_files / sizeof k_files[0]);
  char path[128];
  snprintf(path, sizeof path, "%s/%s", g_dir, k_files[pick].name);
  FILE *f = fopen(path, "wb");
  if (!f) return 0;
  fwrite(data + 1, 1, size - 1, f);
  fclose(f);
  reco_dataset *ds = reco__ds_new();
  if (!ds) return 0;
  int rc;
  if (!strcmp(k_files[pick].name, "u.item")) rc = reco__load_ml100k_items(ds, path);
  else if (!strcmp(k_files[pick].name, "movies.csv")) rc = reco__load_mllatest_movies(ds, path);
  else if (!strcmp(k_files[pick].name, "tags.csv")) rc = reco__load_mllatest_tags(ds, path);
  else {
    reco_load_opts o = {.format = k_files[pick].fmt};
    rc = reco__load_into(ds, path, &o);
  }
  if (rc == 0) rc = reco__ds_finalize(ds);
  if (rc != 0 && rc != RECO_EFORMAT && rc != RECO_EIO && rc != RECO_ELIMIT && rc != RECO_ENOMEM) abort();
  if (rc != 0 && !strchr(reco_last_error(), ':')) abort(); /* errors name a location */
  reco_dataset_free(ds);
  return 0;
}
