/*
 * registry.h - model versions on disk (docs/FILE-FORMAT.md, "Registry"):
 *
 *   <root>/<algo>/v<N>.reco   version N of a model of algorithm <algo>, N = 1, 2, ... never reused
 *   <root>/<algo>/ACTIVE      the active version's number ("3\n"), replaced atomically
 *   <root>/<algo>/LAST        the highest number ever handed out (so a deleted version's number
 *                             is not handed out again)
 *   <root>/<algo>/.lock       flock(2)ed while a version is numbered or ACTIVE changes
 *
 * Every file is written with the model file's atomic protocol (temp, fsync, rename, fsync dir),
 * so a reader (a serving process polling ACTIVE) sees a complete old or new state. Publishing
 * from several threads or processes at once yields distinct versions.
 */
#ifndef RECO_REGISTRY_H
#define RECO_REGISTRY_H

#include "../algo/algo.h"

/* One version as listed: from the directory and the file's metadata only (fast, no checksum). */
typedef struct reco_reg_entry {
  char algo[RECO_MF_NAME_MAX];
  int version;
  char *path;
  bool active;
  int err;     /* 0, or why the file's metadata could not be read (the version is still listed) */
  char *error; /* message when err != 0, else NULL */
  uint64_t file_bytes;
  /* metadata; strings are "" when the file lacks them */
  char *params, *metrics, *fingerprint;
  int64_t trained_at_ms; /* 0 when unknown */
  double fit_s;          /* < 0 when unknown */
  int64_t n_train;       /* < 0 when unknown */
  int32_t n_users, n_items;
} reco_reg_entry;

/* Validates an algorithm name for use as a directory: 1..31 bytes of [A-Za-z0-9_.-], not
 * starting with '.'. */
int reco__registry_check_algo(const char *algo);
/* "<root>/<algo>/v<version>.reco" into buf. */
int reco__registry_path(const char *root, const char *algo, int version, char *buf, size_t len);

/* Saves m (reco__model_save) as the next version of its algorithm; activates it if asked. */
int reco__registry_publish(const char *root, const reco_model *m, int activate, int *version_out);
/* Copies an existing, verified model file in as the next version of the algorithm it names. */
int reco__registry_publish_file(const char *root, const char *file, int activate, int *version_out);

/* All versions under root (algo == NULL) or of one algorithm, sorted by algorithm then version.
 * A missing root or algorithm directory gives an empty list. Free with reco__registry_list_free. */
int reco__registry_list(const char *root, const char *algo, reco_reg_entry **out, size_t *n_out);
void reco__registry_list_free(reco_reg_entry *e, size_t n);

/* Makes `version` active after verifying its file completely (checksum included). */
int reco__registry_activate(const char *root, const char *algo, int version);
/* Activates the newest version older than the active one whose file verifies; skipped corrupt
 * files are logged. *version_out (may be NULL) receives the version now active. */
int reco__registry_rollback(const char *root, const char *algo, int *version_out);
/* The active version; RECO_ENOTFOUND when none is. */
int reco__registry_active(const char *root, const char *algo, int *version_out);
/* Path of the active version's file into buf; RECO_ENOTFOUND when none is active. */
int reco__registry_active_path(const char *root, const char *algo, char *buf, size_t len);

#endif
