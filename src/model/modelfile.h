/*
 * modelfile.h - the model file: the contract between the trainer and the servers.
 * Full format in docs/FILE-FORMAT.md. In short: a fixed header (magic "RECOMODL", format
 * version, algorithm name), a metadata section (key=value text: parameters, id-map sizes,
 * dataset fingerprint, trained-at, validation metrics), typed array sections, and an XXH64
 * checksum over everything before it. Written to a temporary file, fsynced, renamed, and the
 * directory fsynced, so a reader sees the old file or the new one, never a torn one.
 */
#ifndef RECO_MODELFILE_H
#define RECO_MODELFILE_H

#include "../base/base.h"

#define RECO_MF_MAGIC "RECOMODL"
#define RECO_MF_VERSION 1u
#define RECO_MF_NAME_MAX 32

typedef enum { RECO_DT_BYTES = 0, RECO_DT_F32 = 1, RECO_DT_F64 = 2, RECO_DT_I32 = 3, RECO_DT_I64 = 4, RECO_DT_U8 = 5 } reco_dtype;
size_t reco__dtype_size(reco_dtype t); /* 0 for an unknown type */
const char *reco__dtype_name(reco_dtype t); /* "f32", ... */

typedef struct reco_mf_writer reco_mf_writer;
typedef struct reco_mf_reader reco_mf_reader;

/* Writer: collects sections in memory, then commits them atomically to `path`. */
int reco__mf_writer_new(const char *algo, reco_mf_writer **out);
/* Adds a key=value pair to the metadata section (keys unique; later values replace). */
int reco__mf_meta(reco_mf_writer *w, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Adds a typed section; `data` (count elements of `t`) is copied. Names unique, <= 31 bytes. */
int reco__mf_section(reco_mf_writer *w, const char *name, reco_dtype t, const void *data, uint64_t count);
int reco__mf_commit(reco_mf_writer *w, const char *path);
/* The same bytes into a new buffer (free with reco__free), for models nested inside models. */
int reco__mf_commit_mem(reco_mf_writer *w, void **buf, size_t *len);
void reco__mf_writer_free(reco_mf_writer *w);

/* Reader: loads and verifies a whole file (magic, version, bounds, checksum). */
int reco__mf_open(const char *path, reco_mf_reader **out);
/* Same, from a memory buffer (copied); `what` names it in errors. */
int reco__mf_open_mem(const void *buf, size_t len, const char *what, reco_mf_reader **out);
const char *reco__mf_algo(const reco_mf_reader *r);
/* Metadata value for key, or NULL. */
const char *reco__mf_get_meta(const reco_mf_reader *r, const char *key);
/* Iterate metadata: returns false past the end. */
bool reco__mf_meta_at(const reco_mf_reader *r, size_t idx, const char **key, const char **value);
/* Pointer into the loaded file (64-byte aligned) and element count of a section of type t.
 * RECO_ENOTFOUND if absent, RECO_EFORMAT if the type differs. Valid until reco__mf_close. */
int reco__mf_get(const reco_mf_reader *r, const char *name, reco_dtype t, const void **data, uint64_t *count);
/* Copies a section into a new aligned buffer (free with reco__free_aligned). expect>=0 checks count. */
int reco__mf_copy(const reco_mf_reader *r, const char *name, reco_dtype t, int64_t expect, void **data, uint64_t *count);
void reco__mf_close(reco_mf_reader *r);

/* ---- additions: inspection, metadata-only reads, raw writes, test hooks ---- */
/* Reads only the header, the section table and the metadata (for listings of large files):
 * every bound is checked against the file size, but not the checksum; reco__mf_get on such a
 * reader returns RECO_ESTATE. */
int reco__mf_open_meta(const char *path, reco_mf_reader **out);
uint32_t reco__mf_version(const reco_mf_reader *r);  /* format version of the file */
uint64_t reco__mf_size(const reco_mf_reader *r);     /* file size in bytes */
uint64_t reco__mf_checksum(const reco_mf_reader *r); /* the stored XXH64 */
bool reco__mf_verified(const reco_mf_reader *r);     /* whole file read and checksum checked */
/* The whole verified file as read (NULL and 0 for a metadata-only reader). */
const void *reco__mf_raw(const reco_mf_reader *r, size_t *len);
typedef struct reco_mf_section_info {
  const char *name;
  reco_dtype dtype;
  uint64_t count, offset, bytes;
} reco_mf_section_info;
/* Sections in file order, "_meta" included; false past the end. */
size_t reco__mf_n_sections(const reco_mf_reader *r);
bool reco__mf_section_at(const reco_mf_reader *r, size_t idx, reco_mf_section_info *info);
/* Writes `data` to `path` with the same atomic protocol as reco__mf_commit (no framing). */
int reco__mf_write_atomic(const char *path, const void *data, size_t len);
/* Tests only: fail the Nth write/fsync/rename of the commit protocol from now (0 disables). */
void reco__mf_fail_io_after(long n);

#endif
