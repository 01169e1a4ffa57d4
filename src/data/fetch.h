/*
 * fetch.h - download a public dataset (a zip), verify it, and unpack it into a cache folder.
 *
 * One fetch is: download with libcurl into a temporary file inside the target directory,
 * hashing the bytes as they arrive (SHA-256); compare with the zip's hash when it is known;
 * unpack with libzip into a private temporary folder, refusing any entry that would land
 * outside it ("zip slip"); compare every listed file with its SHA-256; then rename the folder
 * into place in one step. A reader therefore never sees a half-written dataset, and a failed
 * fetch leaves nothing behind. A folder that is already present and verifies is left alone,
 * so fetching twice downloads once.
 *
 * What is checked, per dataset (see k_specs in fetch.c): GroupLens does not publish SHA-256
 * sums of its zips, so the zip's hash is usually unknown. Instead, the table lists the SHA-256
 * of the extracted files, taken from published copies (ml-100k, ml-latest-small). Where no
 * such list exists (ml-1m) only the structure is checked (the listed files exist and are not
 * empty) and the content rests on the transport: HTTPS plus the CRC-32 of every zip member,
 * which libzip verifies while unpacking.
 *
 * The table is data: tests pass their own reco__fetch_spec to reco__fetch_spec_run().
 */
#ifndef RECO_FETCH_H
#define RECO_FETCH_H

#include "../base/base.h"

#include <limits.h>

/* One file expected inside the dataset folder; sha256 NULL = must exist and be non-empty. */
typedef struct reco__fetch_file {
  const char *path; /* relative to the dataset folder, '/' separated */
  const char *sha256; /* 64 lowercase hex digits, or NULL */
} reco__fetch_file;

typedef struct reco__fetch_spec {
  const char *name;       /* "ml-100k"; also the name of the installed folder */
  const char *url;        /* where the zip lives by default */
  const char *zip_sha256; /* hash of the zip itself, or NULL when unknown */
  const char *folder;     /* top folder inside the zip ("ml-100k/"), or NULL when flat */
  const char *summary;    /* one line for `reco data fetch --list` */
  const char *size_hint;  /* approximate download size, e.g. "4.9 MB" */
  const reco__fetch_file *files;
  size_t n_files;
} reco__fetch_spec;

typedef struct reco__fetch_opts {
  const char *dir;  /* cache directory (created when missing); NULL = reco__fetch_default_dir() */
  const char *url;  /* full URL of the zip; NULL = $RECO_FETCH_URL_BASE/<name>.zip or spec->url */
  bool force;       /* replace an existing folder that does not verify (else RECO_EEXIST) */
  reco_progress progress; /* stages "download" (bytes), "unpack" (entries), "verify" (files) */
  uint64_t max_bytes;     /* largest download accepted; 0 = 512 MiB */
  uint64_t max_unpacked;  /* largest total unpacked size; 0 = 2 GiB */
  long connect_timeout_s; /* 0 = 30 s */
  long timeout_s;         /* whole transfer; 0 = 30 min */
  long stall_timeout_s;   /* abort when under 1 KiB/s for this long; 0 = 60 s */
} reco__fetch_opts;

typedef struct reco__fetch_result {
  char path[PATH_MAX];  /* the dataset folder (absolute when it could be resolved) */
  bool downloaded;      /* false when the folder was already present and verified */
  uint64_t bytes;       /* bytes downloaded */
  char zip_sha256[65];  /* SHA-256 of what was downloaded ("" when nothing was) */
  char url[1024];       /* the URL used ("" when nothing was downloaded) */
} reco__fetch_result;

/* The built-in table, and a lookup by name (NULL when unknown). */
const reco__fetch_spec *reco__fetch_specs(size_t *n);
const reco__fetch_spec *reco__fetch_find(const char *name);

/* $XDG_CACHE_HOME/reco/datasets, else $HOME/.cache/reco/datasets. */
int reco__fetch_default_dir(char *out, size_t len);

/* Fetches spec per opts (which may be NULL); res may be NULL. Errors: RECO_ENET (transport,
 * HTTP status >= 400), RECO_ECHECKSUM (zip or file hash, zip CRC), RECO_EFORMAT (not a zip,
 * unsafe entry name, expected folder missing), RECO_ENOTFOUND (a listed file missing),
 * RECO_ELIMIT (too large), RECO_EEXIST (a different folder is in the way), RECO_EIO,
 * RECO_ECANCELED (progress callback). On failure nothing new is left in the directory. */
int reco__fetch_spec_run(const reco__fetch_spec *spec, const reco__fetch_opts *opts,
                         reco__fetch_result *res);

/* Fetches the built-in dataset `name` into dir (NULL = default) from url_override (NULL =
 * default) and writes the folder's path to out_path. RECO_ENOTFOUND for an unknown name. */
int reco__fetch(const char *name, const char *dir, const char *url_override,
                const reco_progress *pr, char *out_path, size_t len);

/* Checks that the folder at path holds spec's files with their hashes. */
int reco__fetch_verify(const reco__fetch_spec *spec, const char *path, const reco_progress *pr);

/* SHA-256 of a file's contents as 64 lowercase hex digits plus NUL. */
int reco__sha256_file(const char *path, char hex_out[65]);

#endif
