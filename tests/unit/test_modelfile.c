/*
 * test_modelfile.c - the model file format and the version registry (src/model/).
 *
 * The reader must reject every damaged file: each single-byte change, each truncation, wrong
 * magic, a newer version, and files crafted with a valid checksum but out-of-range offsets (so
 * the bounds checks, not the checksum, must catch them). Allocation and I/O faults injected at
 * every step must give a clean error, never a crash, a leak or a torn file (run under ASan).
 */
#define _GNU_SOURCE /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include "algo/algo.h"
#include "model/modelfile.h"
#include "model/registry.h"

/* ---- helpers ---- */

static char g_dir[256];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f) {
  (void)st;
  (void)flag;
  (void)f;
  return remove(p);
}

static int setup_dir(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "/tmp/reco-test-mf-XXXXXX");
  assert_non_null(mkdtemp(g_dir));
  return 0;
}

static int teardown_dir(void **state) {
  (void)state;
  nftw(g_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  reco__alloc_fail_after(0);
  reco__mf_fail_io_after(0);
  return 0;
}

static void path_in(char *buf, size_t len, const char *name) { snprintf(buf, len, "%s/%s", g_dir, name); }

static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)n + 1);
  assert_non_null(b);
  assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return b;
}

static void spit(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  fclose(f);
}

/* Counts files in dir whose name contains ".tmp." (left-over temporaries). */
static int count_tmp(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strstr(e->d_name, ".tmp.")) n++;
  closedir(d);
  return n;
}

static uint64_t rd64(const uint8_t *p) {
  uint64_t v = 0;
  for (int k = 7; k >= 0; k--) v = (v << 8) | p[k];
  return v;
}
static void wr64(uint8_t *p, uint64_t v) {
  for (int k = 0; k < 8; k++) p[k] = (uint8_t)(v >> (8 * k));
}
static void wr32(uint8_t *p, uint32_t v) {
  for (int k = 0; k < 4; k++) p[k] = (uint8_t)(v >> (8 * k));
}
/* Recomputes the trailing checksum after a deliberate edit. */
static void reseal(uint8_t *b, size_t len) { wr64(b + len - 8, XXH64(b, len - 8, 0)); }

/* The test data: one section of every dtype, an empty one, and tricky metadata. */
static const uint8_t k_bytes[] = {'h', 'e', 'l', 'l', 'o', 0, 'w', 'o', 'r', 'l', 'd', 0xff};
static const double k_f64[] = {0.0, -0.0, 1.0 / 3.0, 1e308, -4.9e-324, 123456789.125};
static const int32_t k_i32[] = {INT32_MIN, -1, 0, 1, INT32_MAX};
static const int64_t k_i64[] = {INT64_MIN, -1, 0, 1, INT64_MAX, 0x0123456789abcdefll};
static const uint8_t k_u8[] = {0, 1, 127, 128, 255};
static const char *const k_text = "line one\nline two\\ with backslash\rcr = and equals";
static float g_f32[67];

static void fill_f32(void) {
  for (size_t k = 0; k < RECO_ARRAY_LEN(g_f32); k++) g_f32[k] = (float)k * 0.25f - 3.0f;
  g_f32[1] = -0.0f;
  g_f32[2] = INFINITY;
  g_f32[3] = 1e-45f; /* denormal */
  g_f32[4] = NAN;
}

static int build_writer(const char *algo, reco_mf_writer **out) {
  fill_f32();
  reco_mf_writer *w;
  int rc = reco__mf_writer_new(algo, &w);
  if (rc) return rc;
  if ((rc = reco__mf_meta(w, "params", "{\"k\": %d}", 10)) || (rc = reco__mf_meta(w, "text", "%s", k_text)) ||
      (rc = reco__mf_meta(w, "empty", "%s", "")) || (rc = reco__mf_meta(w, "trained_at_ms", "%lld", 1700000000123ll)) ||
      (rc = reco__mf_meta(w, "fit_s", "%.6f", 1.5)) || (rc = reco__mf_meta(w, "n_train", "%d", 4242)) ||
      (rc = reco__mf_meta(w, "params", "{\"k\": %d}", 20)) || /* replaces, keeps its place */
      (rc = reco__mf_meta(w, "metrics", "%s", "{\"ndcg@10\": 0.25}")) ||
      (rc = reco__mf_section(w, "bytes", RECO_DT_BYTES, k_bytes, sizeof k_bytes)) ||
      (rc = reco__mf_section(w, "f32", RECO_DT_F32, g_f32, RECO_ARRAY_LEN(g_f32))) ||
      (rc = reco__mf_section(w, "f64", RECO_DT_F64, k_f64, RECO_ARRAY_LEN(k_f64))) ||
      (rc = reco__mf_section(w, "i32", RECO_DT_I32, k_i32, RECO_ARRAY_LEN(k_i32))) ||
      (rc = reco__mf_section(w, "empty", RECO_DT_F32, NULL, 0)) ||
      (rc = reco__mf_section(w, "i64", RECO_DT_I64, k_i64, RECO_ARRAY_LEN(k_i64))) ||
      (rc = reco__mf_section(w, "u8", RECO_DT_U8, k_u8, sizeof k_u8))) {
    reco__mf_writer_free(w);
    return rc;
  }
  *out = w;
  return 0;
}

/* Writes the standard test file to <g_dir>/name and returns its bytes. */
static uint8_t *make_file(const char *name, char *path, size_t plen, size_t *len) {
  path_in(path, plen, name);
  reco_mf_writer *w;
  assert_int_equal(build_writer("testalgo", &w), 0);
  assert_int_equal(reco__mf_commit(w, path), 0);
  reco__mf_writer_free(w);
  return slurp(path, len);
}

static void check_section(const reco_mf_reader *r, const char *name, reco_dtype t, const void *expect, uint64_t n) {
  const void *p;
  uint64_t count;
  assert_int_equal(reco__mf_get(r, name, t, &p, &count), 0);
  assert_int_equal(count, n);
  assert_int_equal((uintptr_t)p % 64, 0);
  if (n) assert_memory_equal(p, expect, n * reco__dtype_size(t));
}

static void check_contents(const reco_mf_reader *r) {
  assert_string_equal(reco__mf_algo(r), "testalgo");
  assert_int_equal(reco__mf_version(r), RECO_MF_VERSION);
  assert_string_equal(reco__mf_get_meta(r, "params"), "{\"k\": 20}");
  assert_string_equal(reco__mf_get_meta(r, "text"), k_text);
  assert_string_equal(reco__mf_get_meta(r, "empty"), "");
  assert_null(reco__mf_get_meta(r, "absent"));
  const char *k, *v;
  assert_true(reco__mf_meta_at(r, 0, &k, &v));
  assert_string_equal(k, "params"); /* replacement kept the first position */
  assert_true(reco__mf_meta_at(r, 6, &k, &v));
  assert_string_equal(k, "metrics");
  assert_false(reco__mf_meta_at(r, 7, &k, &v));
  check_section(r, "bytes", RECO_DT_BYTES, k_bytes, sizeof k_bytes);
  check_section(r, "f32", RECO_DT_F32, g_f32, RECO_ARRAY_LEN(g_f32));
  check_section(r, "f64", RECO_DT_F64, k_f64, RECO_ARRAY_LEN(k_f64));
  check_section(r, "i32", RECO_DT_I32, k_i32, RECO_ARRAY_LEN(k_i32));
  check_section(r, "i64", RECO_DT_I64, k_i64, RECO_ARRAY_LEN(k_i64));
  check_section(r, "u8", RECO_DT_U8, k_u8, sizeof k_u8);
  check_section(r, "empty", RECO_DT_F32, NULL, 0);
}

/* ---- the format ---- */

static void test_roundtrip(void **state) {
  (void)state;
  char path[512];
  size_t len;
  uint8_t *b = make_file("a.reco", path, sizeof path, &len);
  assert_int_equal(len % 64, 8);
  assert_memory_equal(b, "RECOMODL", 8);
  reco_mf_reader *r;
  assert_int_equal(reco__mf_open(path, &r), 0);
  check_contents(r);
  assert_true(reco__mf_verified(r));
  assert_int_equal(reco__mf_size(r), len);
  assert_int_equal(reco__mf_checksum(r), rd64(b + len - 8));
  assert_int_equal(reco__mf_n_sections(r), 8); /* _meta + 7 */
  reco_mf_section_info si;
  assert_true(reco__mf_section_at(r, 0, &si));
  assert_string_equal(si.name, "_meta");
  assert_int_equal(si.dtype, RECO_DT_BYTES);
  assert_true(reco__mf_section_at(r, 7, &si));
  assert_string_equal(si.name, "u8");
  assert_int_equal(si.offset % 64, 0);
  assert_false(reco__mf_section_at(r, 8, &si));

  /* typed access */
  const void *p;
  uint64_t n;
  assert_int_equal(reco__mf_get(r, "f32", RECO_DT_F64, &p, &n), RECO_EFORMAT);
  assert_int_equal(reco__mf_get(r, "nope", RECO_DT_F32, &p, &n), RECO_ENOTFOUND);
  assert_non_null(strstr(reco_last_error(), "nope"));
  void *copy;
  assert_int_equal(reco__mf_copy(r, "i64", RECO_DT_I64, 5, &copy, &n), RECO_EFORMAT);
  assert_null(copy);
  assert_int_equal(reco__mf_copy(r, "i64", RECO_DT_I64, 6, &copy, &n), 0);
  assert_int_equal(n, 6);
  assert_int_equal((uintptr_t)copy % 64, 0);
  assert_memory_equal(copy, k_i64, sizeof k_i64);
  reco__free_aligned(copy);
  assert_int_equal(reco__mf_copy(r, "empty", RECO_DT_F32, -1, &copy, NULL), 0);
  reco__free_aligned(copy);
  reco__mf_close(r);

  /* from memory, and metadata only */
  assert_int_equal(reco__mf_open_mem(b, len, "mem", &r), 0);
  check_contents(r);
  reco__mf_close(r);
  assert_int_equal(reco__mf_open_meta(path, &r), 0);
  assert_false(reco__mf_verified(r));
  assert_string_equal(reco__mf_algo(r), "testalgo");
  assert_string_equal(reco__mf_get_meta(r, "text"), k_text);
  assert_int_equal(reco__mf_checksum(r), rd64(b + len - 8));
  assert_int_equal(reco__mf_get(r, "f32", RECO_DT_F32, &p, &n), RECO_ESTATE);
  reco__mf_close(r);

  /* missing file */
  path_in(path, sizeof path, "missing.reco");
  assert_int_equal(reco__mf_open(path, &r), RECO_ENOTFOUND);
  assert_null(r);
  assert_non_null(strstr(reco_last_error(), "missing.reco"));
  free(b);
}

static void test_bit_identical(void **state) {
  (void)state;
  char p1[512], p2[512];
  size_t l1, l2;
  uint8_t *b1 = make_file("one.reco", p1, sizeof p1, &l1);
  /* rebuild a writer from what the reader sees, commit it, compare bytes */
  reco_mf_reader *r;
  assert_int_equal(reco__mf_open(p1, &r), 0);
  reco_mf_writer *w;
  assert_int_equal(reco__mf_writer_new(reco__mf_algo(r), &w), 0);
  const char *k, *v;
  for (size_t i = 0; reco__mf_meta_at(r, i, &k, &v); i++) assert_int_equal(reco__mf_meta(w, k, "%s", v), 0);
  reco_mf_section_info si;
  for (size_t i = 0; reco__mf_section_at(r, i, &si); i++) {
    if (!strcmp(si.name, "_meta")) continue;
    const void *p;
    uint64_t n;
    assert_int_equal(reco__mf_get(r, si.name, si.dtype, &p, &n), 0);
    assert_int_equal(reco__mf_section(w, si.name, si.dtype, p, n), 0);
  }
  path_in(p2, sizeof p2, "two.reco");
  assert_int_equal(reco__mf_commit(w, p2), 0);
  /* committing the same writer again gives the same bytes too */
  assert_int_equal(reco__mf_commit(w, p2), 0);
  reco__mf_writer_free(w);
  reco__mf_close(r);
  uint8_t *b2 = slurp(p2, &l2);
  assert_int_equal(l1, l2);
  assert_memory_equal(b1, b2, l1);
  assert_int_equal(count_tmp(g_dir), 0);
  free(b1);
  free(b2);
}

static void test_writer_rejects(void **state) {
  (void)state;
  reco_mf_writer *w;
  assert_int_equal(reco__mf_writer_new("", &w), RECO_EINVAL);
  assert_null(w);
  assert_int_equal(reco__mf_writer_new("has space", &w), RECO_EINVAL);
  assert_int_equal(reco__mf_writer_new("a_name_that_is_far_too_long_for_32", &w), RECO_EINVAL);
  assert_int_equal(reco__mf_writer_new("ok", &w), 0);
  float x = 1;
  assert_int_equal(reco__mf_section(w, "_meta", RECO_DT_F32, &x, 1), RECO_EINVAL);
  assert_int_equal(reco__mf_section(w, "", RECO_DT_F32, &x, 1), RECO_EINVAL);
  assert_int_equal(reco__mf_section(w, "x", (reco_dtype)42, &x, 1), RECO_EINVAL);
  assert_int_equal(reco__mf_section(w, "x", RECO_DT_F32, NULL, 1), RECO_EINVAL);
  assert_int_equal(reco__mf_section(w, "x", RECO_DT_F32, &x, 1), 0);
  assert_int_equal(reco__mf_section(w, "x", RECO_DT_F32, &x, 1), RECO_EEXIST);
  assert_int_equal(reco__mf_section(w, "big", RECO_DT_F64, &x, UINT64_MAX / 4), RECO_ELIMIT);
  assert_int_equal(reco__mf_meta(w, "bad key", "%d", 1), RECO_EINVAL);
  assert_int_equal(reco__mf_meta(w, "", "%d", 1), RECO_EINVAL);
  assert_int_equal(reco__mf_meta(w, "nul", "a%cb", 0), RECO_EINVAL);
  /* a directory that does not exist */
  assert_int_equal(reco__mf_commit(w, "/nonexistent-reco-dir/x.reco"), RECO_EIO);
  assert_non_null(strstr(reco_last_error(), "/nonexistent-reco-dir/x.reco"));
  reco__mf_writer_free(w);
}

static bool rejected(int rc) { return rc == RECO_EFORMAT || rc == RECO_ECHECKSUM || rc == RECO_EVERSION; }

static void test_every_byte_flip(void **state) {
  (void)state;
  char path[512], bad[512];
  size_t len;
  uint8_t *b = make_file("flip.reco", path, sizeof path, &len);
  path_in(bad, sizeof bad, "bad.reco");
  uint8_t *c = malloc(len);
  static const uint8_t masks[] = {0xff, 0x01, 0x80};
  for (size_t m = 0; m < sizeof masks; m++) {
    for (size_t i = 0; i < len; i++) {
      memcpy(c, b, len);
      c[i] ^= masks[m];
      reco_mf_reader *r = (reco_mf_reader *)1;
      int rc = reco__mf_open_mem(c, len, "flipped", &r);
      if (!rejected(rc)) fail_msg("flipping byte %zu with 0x%02x was accepted (rc %d)", i, masks[m], rc);
      assert_null(r);
      if (m == 0) { /* and through a real file */
        spit(bad, c, len);
        rc = reco__mf_open(bad, &r);
        if (!rejected(rc)) fail_msg("file with byte %zu flipped was accepted (rc %d)", i, rc);
        assert_non_null(strstr(reco_last_error(), "bad.reco"));
      }
    }
  }
  free(c);
  free(b);
}

static void test_every_truncation(void **state) {
  (void)state;
  char path[512], bad[512];
  size_t len;
  uint8_t *b = make_file("trunc.reco", path, sizeof path, &len);
  path_in(bad, sizeof bad, "short.reco");
  for (size_t n = 0; n < len; n++) {
    reco_mf_reader *r;
    assert_int_equal(reco__mf_open_mem(b, n, "short", &r), RECO_EFORMAT);
    spit(bad, b, n);
    assert_int_equal(reco__mf_open(bad, &r), RECO_EFORMAT);
    if (n >= 8) assert_non_null(strstr(reco_last_error(), "truncated"));
    else assert_true(strstr(reco_last_error(), "truncated") || strstr(reco_last_error(), "not a reco model file"));
    assert_int_equal(reco__mf_open_meta(bad, &r), RECO_EFORMAT);
  }
  /* and one byte too many */
  uint8_t *c = malloc(len + 1);
  memcpy(c, b, len);
  c[len] = 0;
  reco_mf_reader *r;
  assert_int_equal(reco__mf_open_mem(c, len + 1, "long", &r), RECO_EFORMAT);
  free(c);
  free(b);
}

static void test_magic_and_version(void **state) {
  (void)state;
  char path[512];
  size_t len;
  uint8_t *b = make_file("ver.reco", path, sizeof path, &len);
  reco_mf_reader *r;
  uint8_t *c = malloc(len);

  memcpy(c, b, len);
  memcpy(c, "RECOMODX", 8);
  reseal(c, len);
  assert_int_equal(reco__mf_open_mem(c, len, "magic", &r), RECO_EFORMAT);
  assert_non_null(strstr(reco_last_error(), "magic"));

  memcpy(c, b, len);
  wr32(c + 8, RECO_MF_VERSION + 1);
  reseal(c, len);
  assert_int_equal(reco__mf_open_mem(c, len, "newer", &r), RECO_EVERSION);
  assert_non_null(strstr(reco_last_error(), "newer"));
  /* a newer file is refused even if its layout is something else entirely */
  assert_int_equal(reco__mf_open_mem(c, 16, "newer-short", &r), RECO_EFORMAT);
  memcpy(c, b, len);
  wr32(c + 8, 0xffffffffu);
  wr64(c + 56, 12345);
  assert_int_equal(reco__mf_open_mem(c, len, "newer-other", &r), RECO_EVERSION);

  memcpy(c, b, len);
  wr32(c + 8, 0);
  reseal(c, len);
  assert_int_equal(reco__mf_open_mem(c, len, "zero", &r), RECO_EFORMAT);

  memcpy(c, b, len);
  wr32(c + 12, 1); /* flags */
  reseal(c, len);
  assert_int_equal(reco__mf_open_mem(c, len, "flags", &r), RECO_EVERSION);

  memcpy(c, b, len);
  c[len - 1] ^= 1;
  assert_int_equal(reco__mf_open_mem(c, len, "sum", &r), RECO_ECHECKSUM);
  assert_non_null(strstr(reco_last_error(), "checksum"));
  free(c);
  free(b);
}

/* ---- crafted files: valid checksum, bad structure ---- */

enum { T0 = 64 }; /* the section table */
#define ENT(k) (T0 + 64 * (k))

static uint64_t entry_u64(const uint8_t *b, int k, int field) { return rd64(b + ENT(k) + field); }

typedef void (*mutator)(uint8_t *b, size_t len);

static void m_offset_past_end(uint8_t *b, size_t len) { wr64(b + ENT(2) + 48, (len + 64) & ~(uint64_t)63); }
static void m_offset_huge(uint8_t *b, size_t len) { (void)len; wr64(b + ENT(2) + 48, UINT64_MAX & ~(uint64_t)63); }
static void m_offset_into_sum(uint8_t *b, size_t len) {
  /* the last section moved so that it ends inside the checksum */
  uint64_t bytes = entry_u64(b, 7, 56);
  wr64(b + ENT(7) + 48, ((len - 8 - bytes) & ~(uint64_t)63) + 64);
}
static void m_offset_zero(uint8_t *b, size_t len) { (void)len; wr64(b + ENT(1) + 48, 0); }
static void m_offset_unaligned(uint8_t *b, size_t len) { (void)len; wr64(b + ENT(3) + 48, entry_u64(b, 3, 48) + 4); }
static void m_overlap(uint8_t *b, size_t len) { (void)len; wr64(b + ENT(3) + 48, entry_u64(b, 2, 48)); }
static void m_out_of_order(uint8_t *b, size_t len) {
  (void)len;
  uint64_t a = entry_u64(b, 2, 48), c = entry_u64(b, 3, 48);
  wr64(b + ENT(2) + 48, c);
  wr64(b + ENT(3) + 48, a);
}
static void m_length_mismatch(uint8_t *b, size_t len) { (void)len; wr64(b + ENT(2) + 56, entry_u64(b, 2, 56) + 4); }
static void m_count_overflow(uint8_t *b, size_t len) {
  (void)len; /* f64 section: count * 8 wraps to the stored length */
  uint64_t count = entry_u64(b, 3, 40);
  wr64(b + ENT(3) + 40, count + (1ull << 61));
}
static void m_length_huge(uint8_t *b, size_t len) {
  (void)len; /* bytes section: count == length, but far past the end */
  wr64(b + ENT(1) + 40, UINT64_MAX - 7);
  wr64(b + ENT(1) + 56, UINT64_MAX - 7);
}
static void m_nsect_huge(uint8_t *b, size_t len) { (void)len; wr64(b + 48, 1ull << 60); }
static void m_nsect_plus1(uint8_t *b, size_t len) { (void)len; wr64(b + 48, rd64(b + 48) + 1); }
static void m_nsect_max(uint8_t *b, size_t len) { (void)len; wr64(b + 48, UINT64_MAX); }
static void m_name_no_nul(uint8_t *b, size_t len) { (void)len; memset(b + ENT(2), 'A', 32); }
static void m_name_garbage(uint8_t *b, size_t len) { (void)len; b[ENT(2) + 30] = 'x'; }
static void m_name_empty(uint8_t *b, size_t len) { (void)len; memset(b + ENT(2), 0, 32); }
static void m_name_ctrl(uint8_t *b, size_t len) { (void)len; b[ENT(2)] = '\n'; }
static void m_algo_no_nul(uint8_t *b, size_t len) { (void)len; memset(b + 16, 'a', 32); }
static void m_algo_empty(uint8_t *b, size_t len) { (void)len; memset(b + 16, 0, 32); }
static void m_dtype(uint8_t *b, size_t len) { (void)len; wr32(b + ENT(2) + 32, 99); }
static void m_reserved(uint8_t *b, size_t len) { (void)len; wr32(b + ENT(2) + 36, 1); }
static void m_duplicate(uint8_t *b, size_t len) { (void)len; memcpy(b + ENT(3), b + ENT(2), 32); }
static void m_no_meta(uint8_t *b, size_t len) { (void)len; b[ENT(0) + 4] = 'x'; }
static void m_meta_type(uint8_t *b, size_t len) { (void)len; wr32(b + ENT(0) + 32, RECO_DT_U8); }
static uint8_t *meta_text(uint8_t *b) { return b + rd64(b + ENT(0) + 48); }
static void m_meta_no_eq(uint8_t *b, size_t len) {
  (void)len;
  uint8_t *m = meta_text(b);
  *(uint8_t *)memchr(m, '=', 64) = '#';
}
static void m_meta_bad_key(uint8_t *b, size_t len) { (void)len; meta_text(b)[0] = ' '; }
static void m_meta_bad_escape(uint8_t *b, size_t len) {
  (void)len;
  uint8_t *m = meta_text(b);
  uint8_t *e = memchr(m, '\\', rd64(b + ENT(0) + 56));
  e[1] = 'q';
}
static void m_meta_nul(uint8_t *b, size_t len) { (void)len; meta_text(b)[3] = 0; }
static void m_meta_no_newline(uint8_t *b, size_t len) {
  (void)len;
  meta_text(b)[rd64(b + ENT(0) + 56) - 1] = 'x';
}
static void m_meta_dup_key(uint8_t *b, size_t len) {
  (void)len; /* "params=..." then "text=..."; make the second key "params" too is hard; rename "empty" to "text\0"-like */
  uint8_t *m = meta_text(b);
  uint8_t *e = (uint8_t *)strstr((char *)m, "\nempty=");
  memcpy(e + 1, "text=", 5); /* "empty=" -> "text=" + '=' : "text==" keeps the key "text" */
}

static void test_crafted_rejected(void **state) {
  (void)state;
  static const struct {
    const char *name;
    mutator fn;
  } cases[] = {
      {"offset past end", m_offset_past_end}, {"offset huge", m_offset_huge},
      {"section into checksum", m_offset_into_sum}, {"offset zero", m_offset_zero},
      {"offset unaligned", m_offset_unaligned}, {"overlap", m_overlap},
      {"out of order", m_out_of_order}, {"length mismatch", m_length_mismatch},
      {"count overflow", m_count_overflow}, {"length huge", m_length_huge},
      {"section count huge", m_nsect_huge}, {"section count + 1", m_nsect_plus1},
      {"section count max", m_nsect_max}, {"name without NUL", m_name_no_nul},
      {"name with garbage", m_name_garbage}, {"empty name", m_name_empty},
      {"control char in name", m_name_ctrl}, {"algo without NUL", m_algo_no_nul},
      {"empty algo", m_algo_empty}, {"unknown dtype", m_dtype},
      {"reserved field", m_reserved}, {"duplicate name", m_duplicate},
      {"no metadata", m_no_meta}, {"metadata wrong type", m_meta_type},
      {"metadata without =", m_meta_no_eq}, {"metadata bad key", m_meta_bad_key},
      {"metadata bad escape", m_meta_bad_escape}, {"metadata NUL", m_meta_nul},
      {"metadata no final newline", m_meta_no_newline}, {"metadata duplicate key", m_meta_dup_key},
  };
  char path[512], bad[512];
  size_t len;
  uint8_t *b = make_file("craft.reco", path, sizeof path, &len);
  path_in(bad, sizeof bad, "crafted.reco");
  uint8_t *c = malloc(len);
  /* the layout the mutators assume */
  assert_int_equal(rd64(b + 48), 8);
  assert_memory_equal(b + ENT(0), "_meta", 6);
  assert_memory_equal(b + ENT(3), "f64", 4);
  assert_memory_equal(b + ENT(7), "u8", 3);
  for (size_t k = 0; k < RECO_ARRAY_LEN(cases); k++) {
    memcpy(c, b, len);
    cases[k].fn(c, len);
    reseal(c, len);
    reco_mf_reader *r;
    int rc = reco__mf_open_mem(c, len, "crafted", &r);
    if (rc != RECO_EFORMAT) fail_msg("%s: expected RECO_EFORMAT, got %d (%s)", cases[k].name, rc, reco_last_error());
    /* the metadata-only reader checks no checksum, so it relies on the same bounds checks */
    spit(bad, c, len);
    rc = reco__mf_open_meta(bad, &r);
    if (rc != RECO_EFORMAT) fail_msg("%s (meta only): expected RECO_EFORMAT, got %d (%s)", cases[k].name, rc, reco_last_error());
  }
  free(c);
  free(b);
}

/* Random damage to header and table with a valid checksum: never a crash or an out-of-bounds
 * read (ASan), and whatever is accepted is readable end to end. */
static void test_crafted_random(void **state) {
  (void)state;
  char path[512];
  size_t len;
  uint8_t *b = make_file("rand.reco", path, sizeof path, &len);
  uint8_t *c = malloc(len);
  reco_rng rng;
  reco__rng_seed(&rng, 7);
  size_t head = 64 + 64 * 8, accepted = 0;
  for (int it = 0; it < 20000; it++) {
    memcpy(c, b, len);
    int edits = 1 + (int)reco__rng_below(&rng, 4);
    for (int e = 0; e < edits; e++) {
      size_t at = (size_t)reco__rng_below(&rng, head);
      switch (reco__rng_below(&rng, 3)) {
      case 0: c[at] = (uint8_t)reco__rng_next(&rng); break;
      case 1: c[at] ^= (uint8_t)(1u << reco__rng_below(&rng, 8)); break;
      default: c[at & ~(size_t)7] += (uint8_t)(reco__rng_below(&rng, 3) * 64); break;
      }
    }
    reseal(c, len);
    reco_mf_reader *r;
    int rc = reco__mf_open_mem(c, len, "random", &r);
    if (rc) continue;
    accepted++;
    reco_mf_section_info si;
    volatile uint8_t sink = 0;
    for (size_t i = 0; reco__mf_section_at(r, i, &si); i++) {
      const void *p;
      uint64_t n;
      assert_int_equal(reco__mf_get(r, si.name, si.dtype, &p, &n), 0);
      assert_true(si.offset + si.bytes <= len - 8);
      for (uint64_t j = 0; j < si.bytes; j++) sink ^= ((const uint8_t *)p)[j];
    }
    (void)sink;
    reco__mf_close(r);
  }
  print_message("random crafted files accepted: %zu of 20000\n", accepted);
  free(c);
  free(b);
}

/* ---- atomic commit ---- */

static void test_commit_replaces_atomically(void **state) {
  (void)state;
  char path[512];
  size_t l1;
  uint8_t *b1 = make_file("atom.reco", path, sizeof path, &l1);
  reco_mf_writer *w;
  assert_int_equal(reco__mf_writer_new("other", &w), 0);
  assert_int_equal(reco__mf_meta(w, "v", "%d", 2), 0);
  int32_t big[5000];
  for (int k = 0; k < 5000; k++) big[k] = k * 7;
  assert_int_equal(reco__mf_section(w, "big", RECO_DT_I32, big, 5000), 0);
  /* every injected I/O failure: either an error with the old file intact and no temp file, or
   * (failure at the directory fsync) an error with the new file complete */
  int n;
  for (n = 1; n < 100; n++) {
    reco__mf_fail_io_after(n);
    int rc = reco__mf_commit(w, path);
    reco__mf_fail_io_after(0);
    assert_int_equal(count_tmp(g_dir), 0);
    reco_mf_reader *r;
    assert_int_equal(reco__mf_open(path, &r), 0);
    bool is_new = !strcmp(reco__mf_algo(r), "other");
    reco__mf_close(r);
    if (rc == 0) {
      assert_true(is_new);
      break;
    }
    assert_int_equal(rc, RECO_EIO);
    assert_non_null(strstr(reco_last_error(), "atom.reco"));
    if (is_new) { /* only the last step (directory fsync) may fail after the rename */
      assert_non_null(strstr(reco_last_error(), "directory"));
      size_t l;
      uint8_t *cur = slurp(path, &l);
      spit(path, b1, l1); /* put the old file back for the next round */
      free(cur);
    } else {
      size_t l;
      uint8_t *cur = slurp(path, &l);
      assert_int_equal(l, l1);
      assert_memory_equal(cur, b1, l1);
      free(cur);
    }
  }
  assert_true(n > 4); /* write, fsync, rename, dir fsync were all exercised */
  reco__mf_writer_free(w);
  free(b1);
}

/* ---- allocation failures ---- */

static void test_alloc_failures(void **state) {
  (void)state;
  char path[512], dst[512];
  size_t len;
  uint8_t *b = make_file("oom.reco", path, sizeof path, &len);
  path_in(dst, sizeof dst, "oom-out.reco");
  int n, rc;
  /* build + commit */
  for (n = 1;; n++) {
    assert_true(n < 1000);
    reco__alloc_fail_after(n);
    reco_mf_writer *w = NULL;
    rc = build_writer("testalgo", &w);
    if (!rc) rc = reco__mf_commit(w, dst);
    reco__alloc_fail_after(0);
    reco__mf_writer_free(w);
    assert_int_equal(count_tmp(g_dir), 0);
    if (!rc) break;
    assert_int_equal(rc, RECO_ENOMEM);
  }
  print_message("writer: %d allocations\n", n - 1);
  size_t l2;
  uint8_t *b2 = slurp(dst, &l2);
  assert_int_equal(l2, len);
  assert_memory_equal(b, b2, len);
  free(b2);
  /* the three ways to open */
  for (int way = 0; way < 3; way++) {
    for (n = 1;; n++) {
      assert_true(n < 1000);
      reco_mf_reader *r = (reco_mf_reader *)1;
      reco__alloc_fail_after(n);
      rc = way == 0 ? reco__mf_open(path, &r) : way == 1 ? reco__mf_open_mem(b, len, "m", &r) : reco__mf_open_meta(path, &r);
      reco__alloc_fail_after(0);
      if (!rc) {
        if (way < 2) check_contents(r);
        reco__mf_close(r);
        break;
      }
      assert_int_equal(rc, RECO_ENOMEM);
      assert_null(r);
    }
    print_message("open way %d: %d allocations\n", way, n - 1);
  }
  free(b);
}

/* ---- registry ---- */

static void make_algo_file(const char *path, const char *algo, int tag) {
  reco_mf_writer *w;
  assert_int_equal(reco__mf_writer_new(algo, &w), 0);
  assert_int_equal(reco__mf_meta(w, "params", "{\"tag\": %d}", tag), 0);
  assert_int_equal(reco__mf_meta(w, "trained_at_ms", "%lld", 1700000000000ll + tag), 0);
  assert_int_equal(reco__mf_meta(w, "fit_s", "%.3f", tag / 10.0), 0);
  assert_int_equal(reco__mf_meta(w, "n_train", "%d", 1000 + tag), 0);
  assert_int_equal(reco__mf_meta(w, "metrics", "{\"ndcg@10\": %d}", tag), 0);
  assert_int_equal(reco__mf_meta(w, "fingerprint", "%016x", tag), 0);
  float x[3] = {1, 2, (float)tag};
  assert_int_equal(reco__mf_section(w, "x", RECO_DT_F32, x, 3), 0);
  assert_int_equal(reco__mf_commit(w, path), 0);
  reco__mf_writer_free(w);
}

static void test_registry(void **state) {
  (void)state;
  char root[512], src[512], p[1024];
  path_in(root, sizeof root, "models/nested");
  path_in(src, sizeof src, "src.reco");
  reco_reg_entry *e;
  size_t n;
  int v, rc;
  /* an empty or missing registry */
  assert_int_equal(reco__registry_list(root, NULL, &e, &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(reco__registry_active(root, "alpha", &v), RECO_ENOTFOUND);
  assert_int_equal(reco__registry_rollback(root, "alpha", &v), RECO_ENOTFOUND);

  for (int k = 1; k <= 3; k++) {
    make_algo_file(src, "alpha", k);
    assert_int_equal(reco__registry_publish_file(root, src, k == 1, &v), 0);
    assert_int_equal(v, k);
  }
  make_algo_file(src, "beta", 9);
  assert_int_equal(reco__registry_publish_file(root, src, 1, &v), 0);
  assert_int_equal(v, 1);

  assert_int_equal(reco__registry_list(root, NULL, &e, &n), 0);
  assert_int_equal(n, 4);
  assert_string_equal(e[0].algo, "alpha");
  assert_int_equal(e[0].version, 1);
  assert_true(e[0].active);
  assert_false(e[2].active);
  assert_int_equal(e[2].version, 3);
  assert_string_equal(e[2].params, "{\"tag\": 3}");
  assert_string_equal(e[2].metrics, "{\"ndcg@10\": 3}");
  assert_int_equal(e[2].trained_at_ms, 1700000000003ll);
  assert_int_equal(e[2].n_train, 1003);
  assert_true(fabs(e[2].fit_s - 0.3) < 1e-9);
  assert_int_equal(e[2].err, 0);
  assert_string_equal(e[3].algo, "beta");
  assert_true(e[3].active);
  reco__registry_list_free(e, n);
  assert_int_equal(reco__registry_list(root, "beta", &e, &n), 0);
  assert_int_equal(n, 1);
  reco__registry_list_free(e, n);

  /* activate and roll back */
  assert_int_equal(reco__registry_activate(root, "alpha", 3), 0);
  assert_int_equal(reco__registry_active(root, "alpha", &v), 0);
  assert_int_equal(v, 3);
  assert_int_equal(reco__registry_active_path(root, "alpha", p, sizeof p), 0);
  assert_non_null(strstr(p, "/alpha/v3.reco"));
  assert_int_equal(reco__registry_activate(root, "alpha", 7), RECO_ENOTFOUND);
  assert_int_equal(reco__registry_activate(root, "../alpha", 1), RECO_EINVAL);
  assert_int_equal(reco__registry_rollback(root, "alpha", &v), 0);
  assert_int_equal(v, 2);
  assert_int_equal(reco__registry_rollback(root, "alpha", &v), 0);
  assert_int_equal(v, 1);
  assert_int_equal(reco__registry_rollback(root, "alpha", &v), RECO_ENOTFOUND);
  assert_int_equal(reco__registry_active(root, "alpha", &v), 0);
  assert_int_equal(v, 1);

  /* a corrupt version can't be activated, and rollback skips it */
  assert_int_equal(reco__registry_path(root, "alpha", 2, p, sizeof p), 0);
  size_t len;
  uint8_t *b = slurp(p, &len);
  b[len / 2] ^= 0x40;
  spit(p, b, len);
  free(b);
  assert_int_equal(reco__registry_activate(root, "alpha", 2), RECO_ECHECKSUM);
  assert_int_equal(reco__registry_active(root, "alpha", &v), 0);
  assert_int_equal(v, 1);
  assert_int_equal(reco__registry_activate(root, "alpha", 3), 0);
  assert_int_equal(reco__registry_rollback(root, "alpha", &v), 0);
  assert_int_equal(v, 1);

  /* a file of another algorithm placed under alpha/ */
  assert_int_equal(reco__registry_path(root, "alpha", 3, p, sizeof p), 0);
  make_algo_file(p, "beta", 5);
  assert_int_equal(reco__registry_activate(root, "alpha", 3), RECO_EFORMAT);
  /* a truncated file is listed with its error */
  assert_int_equal(reco__registry_path(root, "alpha", 1, p, sizeof p), 0);
  b = slurp(p, &len);
  spit(p, b, len - 20);
  free(b);
  assert_int_equal(reco__registry_list(root, "alpha", &e, &n), 0);
  assert_int_equal(n, 3);
  assert_int_equal(e[0].err, RECO_EFORMAT);
  assert_non_null(strstr(e[0].error, "truncated"));
  assert_int_equal(e[2].err, RECO_EFORMAT);
  reco__registry_list_free(e, n);

  /* numbers are never reused, even after the newest file is deleted */
  assert_int_equal(reco__registry_path(root, "alpha", 3, p, sizeof p), 0);
  assert_int_equal(unlink(p), 0);
  make_algo_file(src, "alpha", 4);
  assert_int_equal(reco__registry_publish_file(root, src, 0, &v), 0);
  assert_int_equal(v, 4);
  rc = reco__registry_active(root, "alpha", &v);
  assert_int_equal(rc, 0);
  assert_int_equal(v, 1); /* publish without activate leaves ACTIVE alone */
  assert_int_equal(count_tmp(root), 0);
}

/* A real model through reco__registry_publish and reco__model_load. */
static void test_registry_model(void **state) {
  (void)state;
  if (!reco__algo_find("popular")) skip();
  reco_dataset *ds = reco__ds_new();
  assert_non_null(ds);
  char id[32];
  for (int u = 0; u < 20; u++)
    for (int i = 0; i < 10; i++) {
      if ((u + i) % 3) continue;
      snprintf(id, sizeof id, "u%d", u);
      int32_t uu = reco__ds_user(ds, id, strlen(id));
      snprintf(id, sizeof id, "i%d", i);
      int32_t ii = reco__ds_item(ds, id, strlen(id));
      assert_int_equal(reco__ds_add(ds, uu, ii, 1.0f + (float)(i % 5), 1000 + u * 10 + i, 0), 0);
    }
  assert_int_equal(reco__ds_finalize(ds), 0);
  reco_model *m;
  assert_int_equal(reco__model_new("popular", &m), 0);
  assert_int_equal(reco__model_fit(m, ds, NULL), 0);
  snprintf(m->metrics, sizeof m->metrics, "{\"hr@10\": 0.5}");
  char root[512], p[1024];
  path_in(root, sizeof root, "reg");
  int v;
  assert_int_equal(reco__registry_publish(root, m, 1, &v), 0);
  assert_int_equal(v, 1);
  assert_int_equal(reco__registry_publish(root, m, 0, &v), 0);
  assert_int_equal(v, 2);
  assert_int_equal(reco__registry_active_path(root, "popular", p, sizeof p), 0);
  reco_model *m2;
  assert_int_equal(reco__model_load(p, &m2), 0);
  assert_int_equal(m2->n_items, m->n_items);
  assert_int_equal(m2->n_train, m->n_train);
  assert_int_equal(m2->fingerprint, m->fingerprint);
  reco_reg_entry *e;
  size_t n;
  assert_int_equal(reco__registry_list(root, NULL, &e, &n), 0);
  assert_int_equal(n, 2);
  assert_string_equal(e[0].metrics, "{\"hr@10\": 0.5}");
  assert_int_equal(e[0].n_train, (int64_t)m->n_train);
  assert_int_equal(e[0].trained_at_ms, m->trained_at_ms);
  assert_true(e[0].active && !e[1].active);
  reco__registry_list_free(e, n);
  reco__model_free(m2);
  reco__model_free(m);
  reco_dataset_free(ds);
}

typedef struct pub_arg {
  const char *root, *src;
  int versions[16];
  int rc;
} pub_arg;

static void *publisher(void *arg) {
  pub_arg *a = arg;
  for (int k = 0; k < 16; k++) {
    int rc = reco__registry_publish_file(a->root, a->src, k % 2, &a->versions[k]);
    if (rc) a->rc = rc;
  }
  return NULL;
}

static void test_registry_concurrent(void **state) {
  (void)state;
  char root[512], src[512];
  path_in(root, sizeof root, "conc");
  path_in(src, sizeof src, "conc-src.reco");
  make_algo_file(src, "gamma", 1);
  pub_arg a[2] = {{root, src, {0}, 0}, {root, src, {0}, 0}};
  pthread_t t[2];
  for (int k = 0; k < 2; k++) assert_int_equal(pthread_create(&t[k], NULL, publisher, &a[k]), 0);
  for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
  assert_int_equal(a[0].rc, 0);
  assert_int_equal(a[1].rc, 0);
  int seen[33] = {0};
  for (int k = 0; k < 2; k++)
    for (int j = 0; j < 16; j++) {
      int v = a[k].versions[j];
      assert_true(v >= 1 && v <= 32);
      assert_int_equal(seen[v], 0);
      seen[v] = 1;
    }
  reco_reg_entry *e;
  size_t n;
  assert_int_equal(reco__registry_list(root, "gamma", &e, &n), 0);
  assert_int_equal(n, 32);
  for (size_t k = 0; k < n; k++) {
    assert_int_equal(e[k].version, (int)k + 1);
    assert_int_equal(e[k].err, 0);
  }
  reco__registry_list_free(e, n);
  char gdir[600];
  snprintf(gdir, sizeof gdir, "%s/gamma", root);
  assert_int_equal(count_tmp(gdir), 0);
}

/* Two processes publishing at once (flock across processes, not only threads). */
static void test_registry_two_processes(void **state) {
  (void)state;
  char root[512], src[512];
  path_in(root, sizeof root, "procs");
  path_in(src, sizeof src, "procs-src.reco");
  make_algo_file(src, "epsilon", 1);
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    for (int k = 0; k < 12; k++) {
      int v = 0;
      if (reco__registry_publish_file(root, src, 0, &v)) v = -1;
      if (write(fds[1], &v, sizeof v) != sizeof v) _exit(2);
    }
    _exit(0);
  }
  close(fds[1]);
  int seen[25] = {0}, v;
  for (int k = 0; k < 12; k++) {
    assert_int_equal(reco__registry_publish_file(root, src, 0, &v), 0);
    assert_true(v >= 1 && v <= 24);
    assert_int_equal(seen[v]++, 0);
  }
  for (int k = 0; k < 12; k++) {
    assert_int_equal(read(fds[0], &v, sizeof v), sizeof v);
    assert_true(v >= 1 && v <= 24);
    assert_int_equal(seen[v]++, 0);
  }
  close(fds[0]);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_registry_alloc_failures(void **state) {
  (void)state;
  char root[512], src[512];
  path_in(root, sizeof root, "oomreg");
  path_in(src, sizeof src, "oomreg-src.reco");
  make_algo_file(src, "delta", 1);
  int n, rc, v;
  for (n = 1;; n++) {
    assert_true(n < 1000);
    reco__alloc_fail_after(n);
    rc = reco__registry_publish_file(root, src, 1, &v);
    reco__alloc_fail_after(0);
    if (!rc) break;
    assert_int_equal(rc, RECO_ENOMEM);
  }
  assert_int_equal(reco__registry_publish_file(root, src, 0, NULL), 0);
  assert_int_equal(reco__registry_publish_file(root, src, 1, &v), 0); /* so there is an older one */
  for (n = 1;; n++) {
    assert_true(n < 1000);
    reco_reg_entry *e;
    size_t cnt;
    reco__alloc_fail_after(n);
    rc = reco__registry_list(root, NULL, &e, &cnt);
    reco__alloc_fail_after(0);
    if (!rc) {
      assert_true(cnt >= 2);
      reco__registry_list_free(e, cnt);
      break;
    }
    assert_int_equal(rc, RECO_ENOMEM);
    assert_null(e);
  }
  for (n = 1;; n++) {
    assert_true(n < 1000);
    reco__alloc_fail_after(n);
    int before;
    assert_int_equal(reco__registry_active(root, "delta", &before), 0);
    rc = reco__registry_rollback(root, "delta", &v);
    reco__alloc_fail_after(0);
    if (!rc) {
      assert_true(v < before);
      break;
    }
    assert_int_equal(rc, RECO_ENOMEM);
    int after; /* a failed rollback changes nothing */
    assert_int_equal(reco__registry_active(root, "delta", &after), 0);
    assert_int_equal(after, before);
  }
  char gdir[600];
  snprintf(gdir, sizeof gdir, "%s/delta", root);
  assert_int_equal(count_tmp(gdir), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_roundtrip, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_bit_identical, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_writer_rejects, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_every_byte_flip, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_every_truncation, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_magic_and_version, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_crafted_rejected, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_crafted_random, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_commit_replaces_atomically, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_alloc_failures, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_registry, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_registry_model, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_registry_concurrent, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_registry_two_processes, setup_dir, teardown_dir),
      cmocka_unit_test_setup_teardown(test_registry_alloc_failures, setup_dir, teardown_dir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
