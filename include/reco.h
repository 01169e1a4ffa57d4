/*
 * reco.h - the one public header of libreco, a recommendation engine in C.
 *
 * Conventions (see docs/ARCHITECTURE.md):
 *   - every fallible function returns 0 or a negative RECO_E* code; objects come back through
 *     an out-pointer that is set to NULL on failure;
 *   - reco_last_error() gives the detail of the calling thread's last failure, e.g.
 *     "u.data:12:5: expected a number";
 *   - the library never prints: it reports through the log callback and a progress callback.
 */
#ifndef RECO_H
#define RECO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RECO_VERSION "0.1.0"
#define RECO_EXTERN __attribute__((visibility("default")))

/* ---- errors: one X-macro generates the codes, reco_strerror() and reco_err_name() ---- */
#define RECO_ERRNO_MAP(X)                                              \
  X(EINVAL, -1, "invalid argument")                                    \
  X(ENOMEM, -2, "out of memory")                                       \
  X(EIO, -3, "input/output error")                                     \
  X(ENOTFOUND, -4, "not found")                                        \
  X(EFORMAT, -5, "malformed input")                                    \
  X(EUNSUPPORTED, -6, "operation not supported")                       \
  X(ECANCELED, -7, "canceled")                                         \
  X(ECHECKSUM, -8, "checksum mismatch")                                \
  X(EVERSION, -9, "incompatible version")                              \
  X(ERANGE, -10, "value out of range")                                 \
  X(ENET, -11, "network error")                                        \
  X(EEXIST, -12, "already exists")                                     \
  X(ESTATE, -13, "invalid state")                                      \
  X(ELIMIT, -14, "limit exceeded")

enum {
  RECO_OK = 0,
#define RECO__X(name, num, msg) RECO_##name = num,
  RECO_ERRNO_MAP(RECO__X)
#undef RECO__X
};

RECO_EXTERN const char *reco_strerror(int err);
RECO_EXTERN const char *reco_err_name(int err);
/* Detail of the calling thread's last error ("file:line:col: message"), "" when none. */
RECO_EXTERN const char *reco_last_error(void);

/* ---- logging ---- */
enum { RECO_LOG_ERROR = 0, RECO_LOG_WARN = 1, RECO_LOG_INFO = 2, RECO_LOG_DEBUG = 3 };
typedef void (*reco_log_fn)(int level, const char *msg, void *ud);
RECO_EXTERN void reco_set_log(reco_log_fn fn, void *ud, int max_level);

/* ---- progress: called by long operations; a non-zero return cancels (RECO_ECANCELED) ---- */
typedef int (*reco_progress_fn)(void *ud, const char *stage, double done, double total,
                                const char *info);
typedef struct reco_progress {
  reco_progress_fn fn;
  void *ud;
} reco_progress;

/* ---- threads ---- */
RECO_EXTERN void reco_set_threads(int n); /* 0 = one per core */
RECO_EXTERN int reco_get_threads(void);

/* ---- datasets ---- */
typedef struct reco_dataset reco_dataset;

typedef enum {
  RECO_FMT_AUTO = 0,
  RECO_FMT_ML100K, /* folder with u.data (+ u.item, u.user), or one u*.base/test file */
  RECO_FMT_ML1M,   /* folder with ratings.dat (+ movies.dat, users.dat), "::" separated */
  RECO_FMT_MLLATEST, /* folder with ratings.csv (+ movies.csv, tags.csv) */
  RECO_FMT_CSV,    /* delimited text with a header naming user,item[,value|rating][,timestamp] */
  RECO_FMT_JSONL,  /* one JSON object per line with user, item, [value|rating], [timestamp] */
  RECO_FMT_RECO    /* a dataset folder written by `reco data gen` (interactions.csv, items.csv) */
} reco_format;

typedef struct reco_load_opts {
  reco_format format;
  char delimiter;          /* CSV only; 0 = detect from the header (',', '\t', ';', '|') */
  int no_metadata;         /* skip item/user metadata files */
  const char *col_user, *col_item, *col_value, *col_time; /* CSV/JSONL column names (NULL = detect) */
  reco_progress progress;
} reco_load_opts;

RECO_EXTERN int reco_dataset_load(const char *path, const reco_load_opts *opts, reco_dataset **out);
RECO_EXTERN void reco_dataset_free(reco_dataset *ds);
RECO_EXTERN int32_t reco_dataset_n_users(const reco_dataset *ds);
RECO_EXTERN int32_t reco_dataset_n_items(const reco_dataset *ds);
RECO_EXTERN size_t reco_dataset_n_interactions(const reco_dataset *ds);
RECO_EXTERN const char *reco_dataset_user_id(const reco_dataset *ds, int32_t user);
RECO_EXTERN const char *reco_dataset_item_id(const reco_dataset *ds, int32_t item);
RECO_EXTERN int32_t reco_dataset_user_index(const reco_dataset *ds, const char *id); /* -1 if absent */
RECO_EXTERN int32_t reco_dataset_item_index(const reco_dataset *ds, const char *id);
RECO_EXTERN const char *reco_dataset_item_title(const reco_dataset *ds, int32_t item); /* or NULL */
RECO_EXTERN size_t reco_dataset_memory(const reco_dataset *ds); /* bytes held */

#ifdef __cplusplus
}
#endif
#endif /* RECO_H */
