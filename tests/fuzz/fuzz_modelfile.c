/*
 * fuzz_modelfile.c - libFuzzer harness for the model-file reader: any byte string is either
 * rejected with a clear error or opened, and then every metadata pair and every section of an
 * opened file is read end to end (ASan checks the bounds the reader promised).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/modelfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  reco_mf_reader *r;
  if (reco__mf_open_mem(data, size, "fuzz", &r) != 0) return 0;
  volatile size_t sink = 0;
  const char *k, *v;
  for (size_t i = 0; reco__mf_meta_at(r, i, &k, &v); i++) sink += strlen(k) + strlen(v);
  size_t n = reco__mf_n_sections(r);
  for (size_t i = 0; i < n; i++) {
    reco_mf_section_info info;
    if (!reco__mf_section_at(r, i, &info)) abort();
    const void *p;
    uint64_t cnt;
    if (reco__mf_get(r, info.name, info.dtype, &p, &cnt) != 0) abort();
    size_t bytes = (size_t)cnt * reco__dtype_size(info.dtype);
    for (size_t b = 0; b < bytes; b++) sink += ((const unsigned char *)p)[b];
  }
  (void)sink;
  reco__mf_close(r);
  return 0;
}
