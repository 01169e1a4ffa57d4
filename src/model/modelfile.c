/*
 * modelfile.c - the model file: writer, atomic commit, and a reader that trusts nothing.
 * The byte layout is specified in docs/FILE-FORMAT.md; this comment states what the code keeps
 * true. All integers are little-endian; the checksum is XXH64 with seed 0 (not XXH3: XXH64's
 * output has been frozen since 2014 and is what `xxhsum -H1` prints, so a file can be checked
 * from a shell).
 *
 * Invariants of a well-formed file. reco__mf_open checks every one, in this order, before it
 * hands out a single pointer, so a crafted file can never make a caller read out of bounds:
 *
 *   1. Bytes 0..7 are "RECOMODL" and bytes 8..11 the format version. These twelve bytes keep
 *      their meaning in every future version, so any reader can tell "not a model file" from
 *      "a model file too new for me". A version above RECO_MF_VERSION is refused with
 *      RECO_EVERSION; version 0 does not exist.
 *   2. The header's total length (bytes 56..63) equals the size of the file: a shorter file is
 *      truncated, a longer one has trailing garbage. Both are RECO_EFORMAT.
 *   3. The last 8 bytes are the XXH64 of every byte before them (RECO_ECHECKSUM otherwise).
 *      This catches any accidental damage; invariants 4-8 are still checked afterwards because
 *      a checksum proves nothing against a file crafted on purpose.
 *   4. Flags (bytes 12..15) are 0 in version 1. A future writer that needs a reader to know
 *      something new bumps the version instead.
 *   5. The algorithm name and every section name are 1..31 printable ASCII bytes (0x21..0x7e)
 *      followed by NULs up to their 32-byte field: always NUL-terminated, never ambiguous.
 *   6. The section table (64 bytes per entry) starts at byte 64 and lies wholly before the
 *      checksum; the section count is bounded by the file size before anything is allocated.
 *   7. Every section has a known dtype, a zero reserved word, byte length == count x dtype size
 *      (computed without overflow), an offset that is a multiple of 64, at or after the end of
 *      the table and at or after the end of the section before it in the table, and an end at or
 *      before the checksum. So sections are in file order, never overlap, and never leave the
 *      file; and since the whole file sits in a 64-byte aligned buffer, every payload pointer is
 *      64-byte aligned.
 *   8. Section names are unique, and exactly one is "_meta" (dtype bytes): lines "key=value\n"
 *      with keys of [A-Za-z0-9_.-], unique, and values in which a backslash, a newline and a
 *      carriage return are written \\ \n \r. No NUL anywhere in it.
 *
 * Write protocol (reco__mf_commit and reco__mf_write_atomic, both through atomic_write):
 *
 *   W1. create "<path>.tmp.<pid>.<16 hex>" with O_CREAT|O_EXCL, mode 0644 less the umask:
 *       a fresh file no one else can be writing;
 *   W2. stream the header, table, payloads and zero padding through a 64 KiB buffer, hashing
 *       as it goes, then the checksum (no second copy of the model in memory);
 *   W3. fsync and close the temp file (an error from either fails the commit);
 *   W4. rename it over `path`: atomic on POSIX, so a reader opens the old file or the new one,
 *       never a torn one, and a serving process keeps whatever it had open;
 *   W5. fsync the directory so the rename itself survives a power cut.
 *
 * Every allocation happens before W1. A failure in W1-W4 unlinks the temp file and leaves
 * `path` as it was. A failure in W5 is reported (RECO_EIO) although the new file is already in
 * place; it is just not yet durable.
 * Writers of the same path race only at W4, and the last rename wins with a complete file.
 *
 * The reader's states: reco__mf_open (whole file, verified) -> usable -> reco__mf_close.
 * reco__mf_open_meta reads only the header, the table and the metadata (for listings of
 * large files); it checks invariants 1, 2, 4-8 but not the checksum, and refuses section access.
 */
#define XXH_STATIC_LINKING_ONLY /* for a complete XXH64_state_t inside our own struct */
#include "modelfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "section payloads are handed out in place: a big-endian port must byte-swap them");

#define HDR_SIZE 64u
#define ENTRY_SIZE 64u
#define ALIGN 64u
#define SUM_SIZE 8u
#define META_NAME "_meta"

/* Header field offsets. */
enum { H_MAGIC = 0, H_VERSION = 8, H_FLAGS = 12, H_ALGO = 16, H_NSECT = 48, H_TOTAL = 56 };
/* Section table entry field offsets. */
enum { E_NAME = 0, E_DTYPE = 32, E_RESERVED = 36, E_COUNT = 40, E_OFFSET = 48, E_LENGTH = 56 };

size_t reco__dtype_size(reco_dtype t) {
  switch (t) {
  case RECO_DT_BYTES: return 1;
  case RECO_DT_F32: return 4;
  case RECO_DT_F64: return 8;
  case RECO_DT_I32: return 4;
  case RECO_DT_I64: return 8;
  case RECO_DT_U8: return 1;
  }
  return 0;
}

const char *reco__dtype_name(reco_dtype t) {
  switch (t) {
  case RECO_DT_BYTES: return "bytes";
  case RECO_DT_F32: return "f32";
  case RECO_DT_F64: return "f64";
  case RECO_DT_I32: return "i32";
  case RECO_DT_I64: return "i64";
  case RECO_DT_U8: return "u8";
  }
  return "unknown";
}

static inline uint64_t align_up(uint64_t x) { return (x + (ALIGN - 1)) & ~(uint64_t)(ALIGN - 1); }

static inline void put_u32(uint8_t *p, uint32_t v) {
  for (int k = 0; k < 4; k++) p[k] = (uint8_t)(v >> (8 * k));
}
static inline void put_u64(uint8_t *p, uint64_t v) {
  for (int k = 0; k < 8; k++) p[k] = (uint8_t)(v >> (8 * k));
}
static inline uint32_t get_u32(const uint8_t *p) {
  uint32_t v = 0;
  for (int k = 3; k >= 0; k--) v = (v << 8) | p[k];
  return v;
}
static inline uint64_t get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int k = 7; k >= 0; k--) v = (v << 8) | p[k];
  return v;
}

/* Invariant 5: 1..31 printable ASCII bytes; returns the length or -1. */
static int name_len_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n >= RECO_MF_NAME_MAX) return -1;
  for (size_t k = 0; k < n; k++)
    if ((unsigned char)s[k] < 0x21 || (unsigned char)s[k] > 0x7e) return -1;
  return (int)n;
}

/* Checks a 32-byte name field (invariant 5) and copies it out NUL-terminated. */
static bool name_field_ok(const uint8_t *f, char out[RECO_MF_NAME_MAX]) {
  size_t n = 0;
  while (n < RECO_MF_NAME_MAX && f[n]) n++;
  if (n == 0 || n == RECO_MF_NAME_MAX) return false;
  for (size_t k = 0; k < n; k++)
    if (f[k] < 0x21 || f[k] > 0x7e) return false;
  for (size_t k = n; k < RECO_MF_NAME_MAX; k++)
    if (f[k]) return false;
  memcpy(out, f, n + 1);
  return true;
}

static bool meta_key_ok(const char *k, size_t n) {
  if (n == 0 || n > 255) return false;
  for (size_t j = 0; j < n; j++) {
    char c = k[j];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
      return false;
  }
  return true;
}

/* ---- I/O fault injection (tests only): fail the Nth write/fsync/rename from now ---- */

static atomic_long g_io_fail_after;

void reco__mf_fail_io_after(long n) { atomic_store(&g_io_fail_after, n); }

static bool io_should_fail(void) {
  long v = atomic_load_explicit(&g_io_fail_after, memory_order_relaxed);
  if (v <= 0) return false;
  return atomic_fetch_sub(&g_io_fail_after, 1) == 1;
}

/* ======================================================================================
 * Writer
 * ====================================================================================== */

typedef struct mf_meta {
  char *key, *value;
} mf_meta;

typedef struct mf_sect {
  char name[RECO_MF_NAME_MAX];
  reco_dtype t;
  uint64_t count, bytes;
  void *data; /* aligned copy; NULL when bytes == 0 */
} mf_sect;

struct reco_mf_writer {
  char algo[RECO_MF_NAME_MAX];
  mf_meta *meta;
  size_t n_meta, cap_meta;
  mf_sect *sect;
  size_t n_sect, cap_sect;
};

int reco__mf_writer_new(const char *algo, reco_mf_writer **out) {
  *out = NULL;
  if (!algo || name_len_ok(algo) < 0)
    return reco__seterr(RECO_EINVAL, "model file: algorithm name '%s' must be 1..%d printable ASCII bytes",
                        algo ? algo : "(null)", RECO_MF_NAME_MAX - 1);
  reco_mf_writer *w = reco__calloc(1, sizeof *w);
  if (!w) return reco__seterr(RECO_ENOMEM, "out of memory for a model file writer");
  snprintf(w->algo, sizeof w->algo, "%s", algo);
  *out = w;
  return 0;
}

void reco__mf_writer_free(reco_mf_writer *w) {
  if (!w) return;
  for (size_t k = 0; k < w->n_meta; k++) {
    reco__free(w->meta[k].key);
    reco__free(w->meta[k].value);
  }
  reco__free(w->meta);
  for (size_t k = 0; k < w->n_sect; k++) reco__free_aligned(w->sect[k].data);
  reco__free(w->sect);
  reco__free(w);
}

int reco__mf_meta(reco_mf_writer *w, const char *key, const char *fmt, ...) {
  size_t kl = strlen(key);
  if (!meta_key_ok(key, kl))
    return reco__seterr(RECO_EINVAL, "model file: metadata key '%s' must be 1..255 bytes of [A-Za-z0-9_.-]", key);
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return reco__seterr(RECO_EINVAL, "model file: cannot format metadata '%s'", key);
  char *val = reco__malloc((size_t)n + 1);
  if (!val) return reco__seterr(RECO_ENOMEM, "out of memory for metadata '%s'", key);
  va_start(ap, fmt);
  vsnprintf(val, (size_t)n + 1, fmt, ap);
  va_end(ap);
  if (strlen(val) != (size_t)n) { /* a %c of 0 would hide the rest of the value */
    reco__free(val);
    return reco__seterr(RECO_EINVAL, "model file: metadata '%s' contains a NUL byte", key);
  }
  for (size_t k = 0; k < w->n_meta; k++)
    if (!strcmp(w->meta[k].key, key)) {
      reco__free(w->meta[k].value);
      w->meta[k].value = val;
      return 0;
    }
  char *kc = reco__strndup(key, kl);
  if (!kc || RECO_GROW(w->meta, w->cap_meta, w->n_meta + 1)) {
    reco__free(kc);
    reco__free(val);
    return reco__seterr(RECO_ENOMEM, "out of memory for metadata '%s'", key);
  }
  w->meta[w->n_meta].key = kc;
  w->meta[w->n_meta].value = val;
  w->n_meta++;
  return 0;
}

int reco__mf_section(reco_mf_writer *w, const char *name, reco_dtype t, const void *data, uint64_t count) {
  if (name_len_ok(name) < 0)
    return reco__seterr(RECO_EINVAL, "model file: section name '%s' must be 1..%d printable ASCII bytes", name,
                        RECO_MF_NAME_MAX - 1);
  if (!strcmp(name, META_NAME)) return reco__seterr(RECO_EINVAL, "model file: section name '%s' is reserved", name);
  size_t es = reco__dtype_size(t);
  if (!es) return reco__seterr(RECO_EINVAL, "model file: section '%s' has unknown dtype %d", name, (int)t);
  if (count > SIZE_MAX / es || count > (UINT64_MAX / 2) / es)
    return reco__seterr(RECO_ELIMIT, "model file: section '%s' is too large (%llu elements)", name,
                        (unsigned long long)count);
  if (count && !data) return reco__seterr(RECO_EINVAL, "model file: section '%s' has no data", name);
  for (size_t k = 0; k < w->n_sect; k++)
    if (!strcmp(w->sect[k].name, name)) return reco__seterr(RECO_EEXIST, "model file: duplicate section '%s'", name);
  uint64_t bytes = count * es;
  void *copy = NULL;
  if (bytes) {
    copy = reco__aligned_alloc((size_t)bytes);
    if (!copy) return reco__seterr(RECO_ENOMEM, "out of memory copying section '%s' (%llu bytes)", name, (unsigned long long)bytes);
    memcpy(copy, data, (size_t)bytes);
  }
  if (RECO_GROW(w->sect, w->cap_sect, w->n_sect + 1)) {
    reco__free_aligned(copy);
    return reco__seterr(RECO_ENOMEM, "out of memory adding section '%s'", name);
  }
  mf_sect *s = &w->sect[w->n_sect++];
  memset(s->name, 0, sizeof s->name);
  memcpy(s->name, name, strlen(name));
  s->t = t;
  s->count = count;
  s->bytes = bytes;
  s->data = copy;
  return 0;
}

/* The metadata section's text (invariant 8); *out allocated with reco__malloc. */
static int encode_meta(const reco_mf_writer *w, char **out, size_t *len_out) {
  size_t len = 0;
  for (size_t k = 0; k < w->n_meta; k++) {
    len += strlen(w->meta[k].key) + 2;
    for (const char *p = w->meta[k].value; *p; p++) len += (*p == '\\' || *p == '\n' || *p == '\r') ? 2 : 1;
  }
  char *buf = reco__malloc(len + 1);
  if (!buf) return reco__seterr(RECO_ENOMEM, "out of memory encoding model metadata");
  size_t o = 0;
  for (size_t k = 0; k < w->n_meta; k++) {
    size_t kl = strlen(w->meta[k].key);
    memcpy(buf + o, w->meta[k].key, kl);
    o += kl;
    buf[o++] = '=';
    for (const char *p = w->meta[k].value; *p; p++) {
      if (*p == '\\') buf[o++] = '\\', buf[o++] = '\\';
      else if (*p == '\n') buf[o++] = '\\', buf[o++] = 'n';
      else if (*p == '\r') buf[o++] = '\\', buf[o++] = 'r';
      else buf[o++] = *p;
    }
    buf[o++] = '\n';
  }
  buf[o] = '\0';
  *out = buf;
  *len_out = o;
  return 0;
}

/* ---- streaming output: a buffer in front of write(2), hashing what passes through ---- */

typedef struct outstream {
  int fd;           /* -1: memory mode, output appended to mem */
  const char *path; /* the temp file, for messages */
  uint8_t *mem;
  size_t mem_len, mem_cap;
  XXH64_state_t hash;
  uint64_t written;
  size_t n;
  uint8_t buf[1 << 16];
} outstream;

static int write_all(int fd, const char *path, const uint8_t *p, size_t n) {
  while (n) {
    ssize_t k = io_should_fail() ? (errno = EIO, -1) : write(fd, p, n);
    if (k < 0) {
      if (errno == EINTR) continue;
      return reco__seterr(RECO_EIO, "%s: write failed: %s", path, strerror(errno));
    }
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

static int mem_append(outstream *o, const uint8_t *p, size_t n) {
  if (RECO_GROW(o->mem, o->mem_cap, o->mem_len + n)) return reco__seterr(RECO_ENOMEM, "out of memory writing a model");
  memcpy(o->mem + o->mem_len, p, n);
  o->mem_len += n;
  return 0;
}

static int os_flush(outstream *o) {
  int rc = o->fd < 0 ? mem_append(o, o->buf, o->n) : write_all(o->fd, o->path, o->buf, o->n);
  o->n = 0;
  return rc;
}

static int os_put(outstream *o, const void *data, size_t n) {
  const uint8_t *p = data;
  XXH64_update(&o->hash, p, n);
  o->written += n;
  if (o->n + n > sizeof o->buf) {
    int rc = os_flush(o);
    if (rc) return rc;
    if (n >= sizeof o->buf) /* big payloads go straight out */
      return o->fd < 0 ? mem_append(o, p, n) : write_all(o->fd, o->path, p, n);
  }
  memcpy(o->buf + o->n, p, n);
  o->n += n;
  return 0;
}

static int os_zeros(outstream *o, uint64_t n) {
  static const uint8_t zeros[ALIGN];
  while (n) {
    size_t k = n < ALIGN ? (size_t)n : ALIGN;
    int rc = os_put(o, zeros, k);
    if (rc) return rc;
    n -= k;
  }
  return 0;
}

typedef int (*emit_fn)(outstream *o, void *ctx);

/* W1-W5 for any content: `emit` writes everything but the checksum when `checksum` is set,
 * or the whole content when it is not. */
static int atomic_write(const char *path, emit_fn emit, void *ctx, bool checksum) {
  static atomic_uint_fast64_t counter;
  struct {
    struct timespec ts;
    uint64_t n;
    pid_t pid;
    const void *where;
  } seed;
  memset(&seed, 0, sizeof seed);
  clock_gettime(CLOCK_REALTIME, &seed.ts);
  seed.n = atomic_fetch_add(&counter, 1);
  seed.pid = getpid();
  seed.where = &seed; /* differs per thread stack */
  size_t plen = strlen(path), tlen = plen + 64;
  /* Everything that can run out of memory is taken before W1, so that once the rename has
   * happened only the directory fsync can still fail. */
  const char *slash = strrchr(path, '/');
  char *dir = slash ? reco__strndup(path, slash == path ? 1 : (size_t)(slash - path)) : reco__strndup(".", 1);
  char *tmp = reco__malloc(tlen);
  outstream *o = reco__malloc(sizeof *o);
  if (!dir || !tmp || !o) {
    reco__free(dir);
    reco__free(tmp);
    reco__free(o);
    return reco__seterr(RECO_ENOMEM, "%s: out of memory for the write", path);
  }
  int fd = -1, rc = 0;
  for (int attempt = 0; attempt < 8; attempt++) {
    seed.n += (uint64_t)attempt << 48;
    snprintf(tmp, tlen, "%s.tmp.%ld.%016llx", path, (long)seed.pid,
             (unsigned long long)reco__hash_bytes(&seed, sizeof seed, 0x7265636f));
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0 || errno != EEXIST) break;
  }
  if (fd < 0) {
    rc = reco__seterr(RECO_EIO, "%s: cannot create temporary file %s: %s", path, tmp, strerror(errno));
    reco__free(dir);
    reco__free(tmp);
    reco__free(o);
    return rc;
  }
  o->fd = fd;
  o->path = tmp;
  o->written = 0;
  o->n = 0;
  XXH64_reset(&o->hash, 0);
  if ((rc = emit(o, ctx))) goto fail;
  if (checksum) {
    uint8_t sum[SUM_SIZE];
    put_u64(sum, XXH64_digest(&o->hash));
    if ((rc = os_put(o, sum, sizeof sum))) goto fail;
  }
  if ((rc = os_flush(o))) goto fail;
  if ((io_should_fail() ? (errno = EIO, -1) : fsync(fd)) != 0) {
    rc = reco__seterr(RECO_EIO, "%s: fsync of %s failed: %s", path, tmp, strerror(errno));
    goto fail;
  }
  int cfd = fd;
  fd = -1;
  if (close(cfd) != 0) {
    rc = reco__seterr(RECO_EIO, "%s: close of %s failed: %s", path, tmp, strerror(errno));
    goto fail;
  }
  if (io_should_fail() ? (errno = EIO, 1) : rename(tmp, path) != 0) {
    rc = reco__seterr(RECO_EIO, "%s: cannot rename %s over it: %s", path, tmp, strerror(errno));
    goto fail;
  }
  /* W5: the directory entry (EINVAL: a file system that can't sync directories). */
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || (io_should_fail() ? (errno = EIO, 1) : (fsync(dfd) != 0 && errno != EINVAL)))
    rc = reco__seterr(RECO_EIO, "%s: written, but syncing directory %s failed: %s", path, dir, strerror(errno));
  if (dfd >= 0) close(dfd);
  reco__free(dir);
  reco__free(tmp);
  reco__free(o);
  return rc;
fail:
  if (fd >= 0) close(fd);
  unlink(tmp);
  reco__free(dir);
  reco__free(tmp);
  reco__free(o);
  return rc;
}

typedef struct commit_ctx {
  const reco_mf_writer *w;
  const char *meta;
  size_t meta_len;
  uint64_t *offsets; /* per section, [0] = _meta */
  uint64_t total;
} commit_ctx;

static int emit_model(outstream *o, void *vctx) {
  commit_ctx *c = vctx;
  const reco_mf_writer *w = c->w;
  size_t n = w->n_sect + 1;
  uint8_t h[HDR_SIZE];
  memset(h, 0, sizeof h);
  memcpy(h + H_MAGIC, RECO_MF_MAGIC, 8);
  put_u32(h + H_VERSION, RECO_MF_VERSION);
  put_u32(h + H_FLAGS, 0);
  memcpy(h + H_ALGO, w->algo, strlen(w->algo));
  put_u64(h + H_NSECT, n);
  put_u64(h + H_TOTAL, c->total);
  int rc = os_put(o, h, sizeof h);
  for (size_t k = 0; k < n && !rc; k++) {
    uint8_t e[ENTRY_SIZE];
    memset(e, 0, sizeof e);
    if (k == 0) {
      memcpy(e + E_NAME, META_NAME, strlen(META_NAME));
      put_u32(e + E_DTYPE, RECO_DT_BYTES);
      put_u64(e + E_COUNT, c->meta_len);
      put_u64(e + E_LENGTH, c->meta_len);
    } else {
      const mf_sect *s = &w->sect[k - 1];
      memcpy(e + E_NAME, s->name, sizeof s->name);
      put_u32(e + E_DTYPE, (uint32_t)s->t);
      put_u64(e + E_COUNT, s->count);
      put_u64(e + E_LENGTH, s->bytes);
    }
    put_u64(e + E_OFFSET, c->offsets[k]);
    rc = os_put(o, e, sizeof e);
  }
  for (size_t k = 0; k < n && !rc; k++) {
    if ((rc = os_zeros(o, c->offsets[k] - o->written))) break;
    if (k == 0) rc = os_put(o, c->meta, c->meta_len);
    else if (w->sect[k - 1].bytes) rc = os_put(o, w->sect[k - 1].data, (size_t)w->sect[k - 1].bytes);
  }
  if (!rc) rc = os_zeros(o, c->total - SUM_SIZE - o->written);
  return rc;
}

/* Lays the file out (section offsets, total size); the caller frees c->offsets and meta. */
static int layout(reco_mf_writer *w, const char *what, commit_ctx *c, char **meta) {
  memset(c, 0, sizeof *c);
  c->w = w;
  int rc = encode_meta(w, meta, &c->meta_len);
  if (rc) return rc;
  c->meta = *meta;
  size_t n = w->n_sect + 1;
  c->offsets = reco__malloc(n * sizeof *c->offsets);
  if (!c->offsets) {
    reco__free(*meta);
    *meta = NULL;
    return reco__seterr(RECO_ENOMEM, "%s: out of memory laying out the model file", what);
  }
  uint64_t off = align_up(HDR_SIZE + (uint64_t)n * ENTRY_SIZE);
  for (size_t k = 0; k < n; k++) {
    c->offsets[k] = off;
    off = align_up(off + (k == 0 ? c->meta_len : w->sect[k - 1].bytes));
  }
  c->total = off + SUM_SIZE;
  return 0;
}

int reco__mf_commit_mem(reco_mf_writer *w, void **buf, size_t *len) {
  *buf = NULL;
  *len = 0;
  commit_ctx c;
  char *meta = NULL;
  int rc = layout(w, "model in memory", &c, &meta);
  if (rc) return rc;
  outstream *o = reco__calloc(1, sizeof *o);
  if (!o) rc = reco__seterr(RECO_ENOMEM, "out of memory writing a model");
  if (!rc) {
    o->fd = -1;
    o->path = "model in memory";
    XXH64_reset(&o->hash, 0);
    rc = emit_model(o, &c);
    if (!rc) {
      uint8_t sum[SUM_SIZE];
      put_u64(sum, XXH64_digest(&o->hash));
      rc = os_put(o, sum, sizeof sum);
    }
    if (!rc) rc = os_flush(o);
    if (!rc) {
      *buf = o->mem;
      *len = o->mem_len;
      o->mem = NULL;
    }
    reco__free(o->mem);
  }
  reco__free(o);
  reco__free(c.offsets);
  reco__free(meta);
  return rc;
}

int reco__mf_commit(reco_mf_writer *w, const char *path) {
  commit_ctx c = {.w = w};
  char *meta = NULL;
  int rc = encode_meta(w, &meta, &c.meta_len);
  if (rc) return rc;
  c.meta = meta;
  size_t n = w->n_sect + 1;
  c.offsets = reco__malloc(n * sizeof *c.offsets);
  if (!c.offsets) {
    reco__free(meta);
    return reco__seterr(RECO_ENOMEM, "%s: out of memory laying out the model file", path);
  }
  /* Layout: header, table, then each payload at the next multiple of 64, then the checksum at
   * the next multiple of 64 after the last payload (so the file size is 64k + 8). */
  uint64_t off = align_up(HDR_SIZE + (uint64_t)n * ENTRY_SIZE);
  for (size_t k = 0; k < n; k++) {
    c.offsets[k] = off;
    off = align_up(off + (k == 0 ? c.meta_len : w->sect[k - 1].bytes));
  }
  c.total = off + SUM_SIZE;
  rc = atomic_write(path, emit_model, &c, true);
  reco__free(c.offsets);
  reco__free(meta);
  return rc;
}

typedef struct bytes_ctx {
  const void *data;
  size_t len;
} bytes_ctx;

static int emit_bytes(outstream *o, void *vctx) {
  bytes_ctx *b = vctx;
  return os_put(o, b->data, b->len);
}

int reco__mf_write_atomic(const char *path, const void *data, size_t len) {
  bytes_ctx b = {data, len};
  return atomic_write(path, emit_bytes, &b, false);
}

/* ======================================================================================
 * Reader
 * ====================================================================================== */

typedef struct mf_entry {
  char name[RECO_MF_NAME_MAX];
  reco_dtype t;
  uint64_t count, offset, bytes;
} mf_entry;

struct reco_mf_reader {
  char *what;    /* path or description, for messages */
  uint8_t *buf;  /* whole file (64-byte aligned); NULL for a metadata-only reader */
  size_t len;    /* file size */
  bool verified; /* whole file read and checksum checked */
  uint32_t version;
  uint64_t checksum;
  char algo[RECO_MF_NAME_MAX];
  mf_entry *sect;
  size_t n_sect;
  char *meta_text; /* decoded "key\0value\0..." */
  const char **mkey, **mval;
  size_t n_meta;
};

void reco__mf_close(reco_mf_reader *r) {
  if (!r) return;
  reco__free(r->what);
  reco__free_aligned(r->buf);
  reco__free(r->sect);
  reco__free(r->meta_text);
  reco__free(r->mkey);
  reco__free(r->mval);
  reco__free(r);
}

static reco_mf_reader *reader_new(const char *what) {
  reco_mf_reader *r = reco__calloc(1, sizeof *r);
  if (!r) return NULL;
  r->what = reco__strndup(what, strlen(what));
  if (!r->what) {
    reco__free(r);
    return NULL;
  }
  return r;
}

/* Invariants 1 and 2. h holds the first min(size, 64) bytes of a file of `size` bytes. */
static int check_header(reco_mf_reader *r, const uint8_t *h, uint64_t size, uint64_t *n_out) {
  const char *what = r->what;
  size_t avail = size < HDR_SIZE ? (size_t)size : HDR_SIZE;
  if (avail >= 8 && memcmp(h + H_MAGIC, RECO_MF_MAGIC, 8) != 0)
    return reco__seterr(RECO_EFORMAT, "%s: not a reco model file (bad magic)", what);
  if (size < HDR_SIZE + SUM_SIZE) {
    if (avail < 8 && (avail == 0 || memcmp(h, RECO_MF_MAGIC, avail) != 0))
      return reco__seterr(RECO_EFORMAT, "%s: not a reco model file (%zu bytes)", what, avail);
    return reco__seterr(RECO_EFORMAT, "%s: truncated (%zu bytes, shorter than the %u-byte header and checksum)",
                        what, (size_t)size, HDR_SIZE + SUM_SIZE);
  }
  uint32_t version = get_u32(h + H_VERSION);
  if (version > RECO_MF_VERSION)
    return reco__seterr(RECO_EVERSION,
                        "%s: model file format version %u is newer than this build of reco reads (up to %u); "
                        "upgrade reco",
                        what, version, RECO_MF_VERSION);
  if (version == 0) return reco__seterr(RECO_EFORMAT, "%s: invalid format version 0", what);
  uint64_t total = get_u64(h + H_TOTAL);
  if (total > size)
    return reco__seterr(RECO_EFORMAT, "%s: truncated (%llu of %llu bytes)", what, (unsigned long long)size,
                        (unsigned long long)total);
  if (total < size)
    return reco__seterr(RECO_EFORMAT, "%s: %llu unexpected bytes after the end of the model (%llu bytes)", what,
                        (unsigned long long)(size - total), (unsigned long long)total);
  r->version = version;
  *n_out = get_u64(h + H_NSECT);
  return 0;
}

/* Invariants 4-6 on the header; allocates r->sect and checks invariant 7 on the table `tab`. */
static int check_layout(reco_mf_reader *r, const uint8_t *h, const uint8_t *tab, uint64_t n, uint64_t total) {
  const char *what = r->what;
  uint32_t flags = get_u32(h + H_FLAGS);
  if (flags)
    return reco__seterr(RECO_EVERSION, "%s: uses format flags 0x%x unknown to this build of reco", what, flags);
  if (!name_field_ok(h + H_ALGO, r->algo))
    return reco__seterr(RECO_EFORMAT, "%s: malformed algorithm name in the header", what);
  uint64_t table_end = HDR_SIZE + n * ENTRY_SIZE; /* n is bounded below, so no overflow */
  r->sect = reco__calloc(n ? (size_t)n : 1, sizeof *r->sect);
  if (!r->sect) return reco__seterr(RECO_ENOMEM, "%s: out of memory for %llu section entries", what, (unsigned long long)n);
  uint64_t prev_end = table_end, data_end = total - SUM_SIZE;
  for (uint64_t k = 0; k < n; k++) {
    const uint8_t *e = tab + k * ENTRY_SIZE;
    mf_entry *s = &r->sect[k];
    if (!name_field_ok(e + E_NAME, s->name))
      return reco__seterr(RECO_EFORMAT, "%s: section %llu has a malformed name", what, (unsigned long long)k);
    uint32_t dt = get_u32(e + E_DTYPE);
    size_t es = dt <= RECO_DT_U8 ? reco__dtype_size((reco_dtype)dt) : 0;
    if (!es) return reco__seterr(RECO_EFORMAT, "%s: section '%s' has unknown dtype %u", what, s->name, dt);
    if (get_u32(e + E_RESERVED))
      return reco__seterr(RECO_EFORMAT, "%s: section '%s' has a non-zero reserved field", what, s->name);
    s->t = (reco_dtype)dt;
    s->count = get_u64(e + E_COUNT);
    s->offset = get_u64(e + E_OFFSET);
    s->bytes = get_u64(e + E_LENGTH);
    if (s->count > UINT64_MAX / es || s->count * es != s->bytes)
      return reco__seterr(RECO_EFORMAT, "%s: section '%s' length %llu does not match %llu x %s", what, s->name,
                          (unsigned long long)s->bytes, (unsigned long long)s->count, reco__dtype_name(s->t));
    if (s->offset % ALIGN)
      return reco__seterr(RECO_EFORMAT, "%s: section '%s' offset %llu is not 64-byte aligned", what, s->name,
                          (unsigned long long)s->offset);
    if (s->offset < prev_end || s->offset > data_end || s->bytes > data_end - s->offset)
      return reco__seterr(RECO_EFORMAT, "%s: section '%s' [%llu, +%llu) lies outside its place in the file", what,
                          s->name, (unsigned long long)s->offset, (unsigned long long)s->bytes);
    prev_end = s->offset + s->bytes;
    for (uint64_t j = 0; j < k; j++)
      if (!strcmp(r->sect[j].name, s->name))
        return reco__seterr(RECO_EFORMAT, "%s: duplicate section '%s'", what, s->name);
    r->n_sect = (size_t)k + 1;
  }
  return 0;
}

static int find_entry(const reco_mf_reader *r, const char *name) {
  for (size_t k = 0; k < r->n_sect; k++)
    if (!strcmp(r->sect[k].name, name)) return (int)k;
  return -1;
}

/* Invariant 8: decodes the metadata text into r->meta_text / mkey / mval. */
static int parse_meta(reco_mf_reader *r, const uint8_t *p, size_t len) {
  const char *what = r->what;
  size_t lines = 0;
  for (size_t k = 0; k < len; k++) {
    if (p[k] == 0) return reco__seterr(RECO_EFORMAT, "%s: metadata contains a NUL byte", what);
    lines += p[k] == '\n';
  }
  if (len && p[len - 1] != '\n') return reco__seterr(RECO_EFORMAT, "%s: metadata does not end with a newline", what);
  r->meta_text = reco__malloc(len + 1);
  r->mkey = reco__calloc(lines ? lines : 1, sizeof *r->mkey);
  r->mval = reco__calloc(lines ? lines : 1, sizeof *r->mval);
  if (!r->meta_text || !r->mkey || !r->mval) return reco__seterr(RECO_ENOMEM, "%s: out of memory for metadata", what);
  char *d = r->meta_text;
  size_t k = 0;
  for (size_t line = 0; line < lines; line++) {
    size_t ks = k;
    while (p[k] != '=' && p[k] != '\n') k++;
    if (p[k] != '=' || !meta_key_ok((const char *)p + ks, k - ks))
      return reco__seterr(RECO_EFORMAT, "%s: metadata line %zu is not key=value", what, line + 1);
    char *key = d;
    memcpy(d, p + ks, k - ks);
    d += k - ks;
    *d++ = '\0';
    k++; /* '=' */
    char *val = d;
    for (; p[k] != '\n'; k++) {
      if (p[k] != '\\') {
        *d++ = (char)p[k];
        continue;
      }
      k++;
      if (p[k] == '\\') *d++ = '\\';
      else if (p[k] == 'n') *d++ = '\n';
      else if (p[k] == 'r') *d++ = '\r';
      else return reco__seterr(RECO_EFORMAT, "%s: metadata line %zu has a bad escape", what, line + 1);
    }
    *d++ = '\0';
    k++; /* '\n' */
    for (size_t j = 0; j < r->n_meta; j++)
      if (!strcmp(r->mkey[j], key)) return reco__seterr(RECO_EFORMAT, "%s: duplicate metadata key '%s'", what, key);
    r->mkey[r->n_meta] = key;
    r->mval[r->n_meta] = val;
    r->n_meta++;
  }
  return 0;
}

/* Invariants 3-8 on r->buf, whose header already passed check_header. */
static int parse_full(reco_mf_reader *r, uint64_t n) {
  const uint8_t *b = r->buf;
  uint64_t total = r->len;
  uint64_t stored = get_u64(b + total - SUM_SIZE), actual = XXH64(b, (size_t)(total - SUM_SIZE), 0);
  if (stored != actual)
    return reco__seterr(RECO_ECHECKSUM, "%s: checksum mismatch (stored %016llx, computed %016llx): the file is corrupt",
                        r->what, (unsigned long long)stored, (unsigned long long)actual);
  r->checksum = stored;
  if (n > (total - HDR_SIZE - SUM_SIZE) / ENTRY_SIZE)
    return reco__seterr(RECO_EFORMAT, "%s: section table of %llu entries does not fit in the file", r->what,
                        (unsigned long long)n);
  int rc = check_layout(r, b, b + HDR_SIZE, n, total);
  if (rc) return rc;
  int m = find_entry(r, META_NAME);
  if (m < 0 || r->sect[m].t != RECO_DT_BYTES)
    return reco__seterr(RECO_EFORMAT, "%s: no metadata section", r->what);
  rc = parse_meta(r, b + r->sect[m].offset, (size_t)r->sect[m].bytes);
  if (rc) return rc;
  r->verified = true;
  return 0;
}

static int open_mem_owned(reco_mf_reader *r) {
  uint64_t n = 0;
  int rc = check_header(r, r->buf, r->len, &n);
  if (!rc) rc = parse_full(r, n);
  return rc;
}

int reco__mf_open_mem(const void *buf, size_t len, const char *what, reco_mf_reader **out) {
  *out = NULL;
  reco_mf_reader *r = reader_new(what ? what : "(memory)");
  if (!r) return reco__seterr(RECO_ENOMEM, "%s: out of memory for a model file reader", what ? what : "(memory)");
  r->buf = reco__aligned_alloc(len);
  if (!r->buf) {
    reco__mf_close(r);
    return reco__seterr(RECO_ENOMEM, "%s: out of memory for %zu bytes", what ? what : "(memory)", len);
  }
  if (len) memcpy(r->buf, buf, len);
  r->len = len;
  int rc = open_mem_owned(r);
  if (rc) {
    reco__mf_close(r);
    return rc;
  }
  *out = r;
  return 0;
}

static int read_at(int fd, const char *path, void *dst, size_t n, uint64_t off) {
  uint8_t *p = dst;
  while (n) {
    ssize_t k = pread(fd, p, n, (off_t)off);
    if (k < 0) {
      if (errno == EINTR) continue;
      return reco__seterr(RECO_EIO, "%s: read failed: %s", path, strerror(errno));
    }
    if (k == 0) return reco__seterr(RECO_EFORMAT, "%s: truncated (the file shrank while being read)", path);
    p += k;
    n -= (size_t)k;
    off += (uint64_t)k;
  }
  return 0;
}

static int open_file(const char *path, int *fd_out, uint64_t *size_out) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return reco__seterr(errno == ENOENT ? RECO_ENOTFOUND : RECO_EIO, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    int e = errno;
    close(fd);
    return reco__seterr(RECO_EIO, "%s: not a regular file%s%s", path, e ? ": " : "", e ? strerror(e) : "");
  }
  if ((uint64_t)st.st_size > SIZE_MAX / 2) {
    close(fd);
    return reco__seterr(RECO_ELIMIT, "%s: too large to load", path);
  }
  *fd_out = fd;
  *size_out = (uint64_t)st.st_size;
  return 0;
}

int reco__mf_open(const char *path, reco_mf_reader **out) {
  *out = NULL;
  int fd;
  uint64_t size;
  int rc = open_file(path, &fd, &size);
  if (rc) return rc;
  reco_mf_reader *r = reader_new(path);
  if (!r) {
    close(fd);
    return reco__seterr(RECO_ENOMEM, "%s: out of memory for a model file reader", path);
  }
  r->buf = reco__aligned_alloc((size_t)size);
  if (!r->buf) {
    rc = reco__seterr(RECO_ENOMEM, "%s: out of memory for %llu bytes", path, (unsigned long long)size);
    goto done;
  }
  r->len = (size_t)size;
  if ((rc = read_at(fd, path, r->buf, r->len, 0))) goto done;
  rc = open_mem_owned(r);
done:
  close(fd);
  if (rc) {
    reco__mf_close(r);
    return rc;
  }
  *out = r;
  return 0;
}

int reco__mf_open_meta(const char *path, reco_mf_reader **out) {
  *out = NULL;
  int fd;
  uint64_t size;
  int rc = open_file(path, &fd, &size);
  if (rc) return rc;
  uint8_t h[HDR_SIZE];
  uint8_t *tab = NULL, *meta = NULL;
  reco_mf_reader *r = reader_new(path);
  if (!r) {
    close(fd);
    return reco__seterr(RECO_ENOMEM, "%s: out of memory for a model file reader", path);
  }
  r->len = (size_t)size;
  size_t avail = size < HDR_SIZE ? (size_t)size : HDR_SIZE;
  uint64_t n = 0;
  if ((rc = read_at(fd, path, h, avail, 0)) || (rc = check_header(r, h, size, &n)))
    goto done;
  if (n > (size - HDR_SIZE - SUM_SIZE) / ENTRY_SIZE) {
    rc = reco__seterr(RECO_EFORMAT, "%s: section table of %llu entries does not fit in the file", path, (unsigned long long)n);
    goto done;
  }
  tab = reco__malloc(n ? (size_t)(n * ENTRY_SIZE) : 1);
  if (!tab) {
    rc = reco__seterr(RECO_ENOMEM, "%s: out of memory for the section table", path);
    goto done;
  }
  if ((rc = read_at(fd, path, tab, (size_t)(n * ENTRY_SIZE), HDR_SIZE)) || (rc = check_layout(r, h, tab, n, size)))
    goto done;
  int m = find_entry(r, META_NAME);
  if (m < 0 || r->sect[m].t != RECO_DT_BYTES) {
    rc = reco__seterr(RECO_EFORMAT, "%s: no metadata section", path);
    goto done;
  }
  size_t ml = (size_t)r->sect[m].bytes;
  if (!(meta = reco__malloc(ml ? ml : 1))) {
    rc = reco__seterr(RECO_ENOMEM, "%s: out of memory for the metadata", path);
    goto done;
  }
  if ((rc = read_at(fd, path, meta, ml, r->sect[m].offset))) goto done;
  if ((rc = read_at(fd, path, &r->checksum, SUM_SIZE, size - SUM_SIZE))) goto done;
  r->checksum = get_u64((const uint8_t *)&r->checksum);
  rc = parse_meta(r, meta, ml);
done:
  close(fd);
  reco__free(tab);
  reco__free(meta);
  if (rc) {
    reco__mf_close(r);
    return rc;
  }
  *out = r;
  return 0;
}

const char *reco__mf_algo(const reco_mf_reader *r) { return r->algo; }
uint32_t reco__mf_version(const reco_mf_reader *r) { return r->version; }
uint64_t reco__mf_size(const reco_mf_reader *r) { return r->len; }
uint64_t reco__mf_checksum(const reco_mf_reader *r) { return r->checksum; }
bool reco__mf_verified(const reco_mf_reader *r) { return r->verified; }

const void *reco__mf_raw(const reco_mf_reader *r, size_t *len) {
  *len = r->buf ? r->len : 0;
  return r->buf;
}

const char *reco__mf_get_meta(const reco_mf_reader *r, const char *key) {
  for (size_t k = 0; k < r->n_meta; k++)
    if (!strcmp(r->mkey[k], key)) return r->mval[k];
  return NULL;
}

bool reco__mf_meta_at(const reco_mf_reader *r, size_t idx, const char **key, const char **value) {
  if (idx >= r->n_meta) return false;
  *key = r->mkey[idx];
  *value = r->mval[idx];
  return true;
}

size_t reco__mf_n_sections(const reco_mf_reader *r) { return r->n_sect; }

bool reco__mf_section_at(const reco_mf_reader *r, size_t idx, reco_mf_section_info *info) {
  if (idx >= r->n_sect) return false;
  const mf_entry *s = &r->sect[idx];
  info->name = s->name;
  info->dtype = s->t;
  info->count = s->count;
  info->offset = s->offset;
  info->bytes = s->bytes;
  return true;
}

int reco__mf_get(const reco_mf_reader *r, const char *name, reco_dtype t, const void **data, uint64_t *count) {
  *data = NULL;
  if (count) *count = 0;
  int k = find_entry(r, name);
  if (k < 0) return reco__seterr(RECO_ENOTFOUND, "%s: no section '%s' in the %s model", r->what, name, r->algo);
  const mf_entry *s = &r->sect[k];
  if (s->t != t)
    return reco__seterr(RECO_EFORMAT, "%s: section '%s' holds %s, expected %s", r->what, name, reco__dtype_name(s->t),
                        reco__dtype_name(t));
  if (!r->buf) return reco__seterr(RECO_ESTATE, "%s: opened for metadata only; section '%s' not loaded", r->what, name);
  *data = r->buf + s->offset;
  if (count) *count = s->count;
  return 0;
}

int reco__mf_copy(const reco_mf_reader *r, const char *name, reco_dtype t, int64_t expect, void **data, uint64_t *count) {
  *data = NULL;
  if (count) *count = 0;
  const void *p;
  uint64_t n;
  int rc = reco__mf_get(r, name, t, &p, &n);
  if (rc) return rc;
  if (expect >= 0 && n != (uint64_t)expect)
    return reco__seterr(RECO_EFORMAT, "%s: section '%s' has %llu elements, expected %lld", r->what, name,
                        (unsigned long long)n, (long long)expect);
  size_t bytes = (size_t)(n * reco__dtype_size(t));
  void *d = reco__aligned_alloc(bytes);
  if (!d) return reco__seterr(RECO_ENOMEM, "%s: out of memory copying section '%s' (%zu bytes)", r->what, name, bytes);
  if (bytes) memcpy(d, p, bytes);
  *data = d;
  if (count) *count = n;
  return 0;
}
