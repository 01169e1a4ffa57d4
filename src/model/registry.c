/*
 * registry.c - numbered model versions in a directory tree, one active per algorithm.
 * Layout and guarantees in registry.h and docs/FILE-FORMAT.md. The rules the code keeps:
 *
 *   R1. A version number is handed out only while holding an exclusive flock(2) on
 *       <root>/<algo>/.lock, as max(LAST, highest v<N>.reco present) + 1, and LAST is raised to
 *       it before the file is written (a failed save leaves a gap, not a reusable number). flock locks belong to an open file description, so two
 *       threads of one process (each opening the lock file) exclude each other as two processes
 *       do. Hence no two publishers ever get the same N, and N is never reused even when a
 *       version file was deleted.
 *   R2. v<N>.reco is written with the model file's atomic protocol, so it exists either
 *       complete or not at all; a crash or error mid-publish leaves at most an unused number.
 *       (Exceptions, both reported: the final directory fsync failed after the rename, or the
 *       version was published and only its activation failed.)
 *   R3. ACTIVE is only ever replaced atomically, under the lock, and only to name a version whose
 *       file has just verified completely (checksum included). A serving process that polls it
 *       never sees a half-written name, nor a name of a file known to be corrupt at that time.
 *   R4. Listing reads only headers and metadata (reco__mf_open_meta), so it stays fast for big
 *       models; a file whose metadata cannot be read is listed with its error, not skipped.
 */
#include "registry.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define REG_PATH_MAX 4096
#define MAX_VERSION 999999999

int reco__registry_check_algo(const char *algo) {
  size_t n = algo ? strlen(algo) : 0;
  bool ok = n > 0 && n < RECO_MF_NAME_MAX && algo[0] != '.';
  for (size_t k = 0; ok && k < n; k++) {
    char c = algo[k];
    ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
  }
  if (!ok)
    return reco__seterr(RECO_EINVAL, "'%s' is not a valid algorithm name for the registry (1..%d bytes of [A-Za-z0-9_.-])",
                        algo ? algo : "(null)", RECO_MF_NAME_MAX - 1);
  return 0;
}

static int pathf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int pathf(char *buf, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, len, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= len) return reco__seterr(RECO_ELIMIT, "path too long (%d bytes, limit %zu)", n, len - 1);
  return 0;
}

int reco__registry_path(const char *root, const char *algo, int version, char *buf, size_t len) {
  int rc = reco__registry_check_algo(algo);
  if (rc) return rc;
  if (version < 1 || version > MAX_VERSION) return reco__seterr(RECO_EINVAL, "%s: invalid version %d", algo, version);
  return pathf(buf, len, "%s/%s/v%d.reco", root, algo, version);
}

/* "v12.reco" -> 12; 0 for any other name (no sign, no leading zero, no suffix). */
static int version_of_name(const char *name) {
  if (name[0] != 'v' || name[1] < '1' || name[1] > '9') return 0;
  long v = 0;
  const char *p = name + 1;
  for (; *p >= '0' && *p <= '9'; p++) {
    v = v * 10 + (*p - '0');
    if (v > MAX_VERSION) return 0;
  }
  return strcmp(p, ".reco") == 0 ? (int)v : 0;
}

/* "12\n" (optionally "v12") -> 12, or 0 when malformed. */
static int parse_version_text(const char *s) {
  while (*s == ' ' || *s == '\t') s++;
  if (*s == 'v') s++;
  if (*s < '1' || *s > '9') return 0;
  long v = 0;
  for (; *s >= '0' && *s <= '9'; s++) {
    v = v * 10 + (*s - '0');
    if (v > MAX_VERSION) return 0;
  }
  while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
  return *s ? 0 : (int)v;
}

/* Reads a small text file (ACTIVE, LAST). RECO_ENOTFOUND when absent. */
static int read_small(const char *path, char *buf, size_t len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return reco__seterr(errno == ENOENT ? RECO_ENOTFOUND : RECO_EIO, "%s: cannot open: %s", path, strerror(errno));
  size_t n = 0;
  for (;;) {
    ssize_t k = read(fd, buf + n, len - 1 - n);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) {
      int e = errno;
      close(fd);
      return reco__seterr(RECO_EIO, "%s: read failed: %s", path, strerror(e));
    }
    if (k == 0 || (n += (size_t)k) == len - 1) break;
  }
  close(fd);
  buf[n] = '\0';
  return 0;
}

/* Version named by <dir>/<file> (ACTIVE or LAST); 0 when the file is absent. */
static int read_version_file(const char *dir, const char *file, int *out) {
  char path[REG_PATH_MAX], text[64];
  *out = 0;
  int rc = pathf(path, sizeof path, "%s/%s", dir, file);
  if (rc) return rc;
  rc = read_small(path, text, sizeof text);
  if (rc == RECO_ENOTFOUND) return 0;
  if (rc) return rc;
  int v = parse_version_text(text);
  if (!v) return reco__seterr(RECO_EFORMAT, "%s: expected a version number, got '%.20s'", path, text);
  *out = v;
  return 0;
}

static int write_version_file(const char *dir, const char *file, int version) {
  char path[REG_PATH_MAX], text[32];
  int rc = pathf(path, sizeof path, "%s/%s", dir, file);
  if (rc) return rc;
  int n = snprintf(text, sizeof text, "%d\n", version);
  return reco__mf_write_atomic(path, text, (size_t)n);
}

static int mkdir_p(const char *path) {
  char buf[REG_PATH_MAX];
  int rc = pathf(buf, sizeof buf, "%s", path);
  if (rc) return rc;
  for (char *p = buf + 1;; p++) {
    if (*p != '/' && *p != '\0') continue;
    char c = *p;
    *p = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
      return reco__seterr(RECO_EIO, "%s: cannot create directory: %s", buf, strerror(errno));
    *p = c;
    if (!c) break;
  }
  struct stat st;
  if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) return reco__seterr(RECO_EIO, "%s: not a directory", buf);
  return 0;
}

/* Exclusive lock on <dir>/.lock; returns the fd (>= 0) or a negative code. */
static int lock_dir(const char *dir) {
  char path[REG_PATH_MAX];
  int rc = pathf(path, sizeof path, "%s/.lock", dir);
  if (rc) return rc;
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return reco__seterr(RECO_EIO, "%s: cannot open lock file: %s", path, strerror(errno));
  while (flock(fd, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    int e = errno;
    close(fd);
    return reco__seterr(RECO_EIO, "%s: cannot lock: %s", path, strerror(e));
  }
  return fd;
}

static void unlock_dir(int fd) {
  if (fd >= 0) close(fd); /* closing the last descriptor releases the flock */
}

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

/* Versions present in dir, ascending. A missing directory is an empty list. */
static int scan_versions(const char *dir, int **out, size_t *n_out) {
  *out = NULL;
  *n_out = 0;
  DIR *d = opendir(dir);
  if (!d) {
    if (errno == ENOENT) return 0;
    return reco__seterr(RECO_EIO, "%s: cannot read directory: %s", dir, strerror(errno));
  }
  int *v = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    int ver = version_of_name(e->d_name);
    if (!ver) continue;
    if (RECO_GROW(v, cap, n + 1)) {
      closedir(d);
      reco__free(v);
      return reco__seterr(RECO_ENOMEM, "%s: out of memory listing versions", dir);
    }
    v[n++] = ver;
  }
  closedir(d);
  if (n) qsort(v, n, sizeof *v, cmp_int);
  *out = v;
  *n_out = n;
  return 0;
}

/* ---- publish ---- */

typedef int (*save_fn)(void *ctx, const char *path);

static int publish(const char *root, const char *algo, save_fn save, void *ctx, int activate, int *version_out) {
  if (version_out) *version_out = 0;
  char dir[REG_PATH_MAX], path[REG_PATH_MAX];
  int rc = reco__registry_check_algo(algo);
  if (rc || (rc = pathf(dir, sizeof dir, "%s/%s", root, algo)) || (rc = mkdir_p(dir))) return rc;
  int lock = lock_dir(dir);
  if (lock < 0) return lock;
  int *vers = NULL, last = 0;
  size_t n = 0;
  if ((rc = read_version_file(dir, "LAST", &last)) || (rc = scan_versions(dir, &vers, &n))) goto done;
  int next = (n && vers[n - 1] > last ? vers[n - 1] : last) + 1;
  if (next > MAX_VERSION) {
    rc = reco__seterr(RECO_ELIMIT, "%s: out of version numbers", dir);
    goto done;
  }
  /* LAST first: if the save fails the number is spent (a gap), never handed out twice. */
  if ((rc = pathf(path, sizeof path, "%s/v%d.reco", dir, next)) || (rc = write_version_file(dir, "LAST", next)) ||
      (rc = save(ctx, path)))
    goto done;
  if (activate && (rc = write_version_file(dir, "ACTIVE", next))) {
    char why[300];
    snprintf(why, sizeof why, "%s", reco_last_error()); /* not an argument of the seterr that overwrites it */
    reco__seterr(rc, "%s: published as v%d, but could not activate it: %s", dir, next, why);
    goto done;
  }
  if (version_out) *version_out = next;
  reco__log(RECO_LOG_INFO, "published %s%s", path, activate ? " (active)" : "");
done:
  reco__free(vers);
  unlock_dir(lock);
  return rc;
}

static int save_model(void *ctx, const char *path) { return reco__model_save(ctx, path); }

int reco__registry_publish(const char *root, const reco_model *m, int activate, int *version_out) {
  return publish(root, m->algo->name, save_model, (void *)m, activate, version_out);
}

static int save_copy(void *ctx, const char *path) {
  size_t len;
  const void *raw = reco__mf_raw(ctx, &len);
  return reco__mf_write_atomic(path, raw, len);
}

int reco__registry_publish_file(const char *root, const char *file, int activate, int *version_out) {
  if (version_out) *version_out = 0;
  reco_mf_reader *r;
  int rc = reco__mf_open(file, &r);
  if (rc) return rc;
  rc = publish(root, reco__mf_algo(r), save_copy, r, activate, version_out);
  reco__mf_close(r);
  return rc;
}

/* ---- active version ---- */

int reco__registry_active(const char *root, const char *algo, int *version_out) {
  *version_out = 0;
  char dir[REG_PATH_MAX];
  int rc = reco__registry_check_algo(algo);
  if (rc || (rc = pathf(dir, sizeof dir, "%s/%s", root, algo))) return rc;
  int v;
  if ((rc = read_version_file(dir, "ACTIVE", &v))) return rc;
  if (!v) return reco__seterr(RECO_ENOTFOUND, "%s: no active version of %s (see `reco models activate`)", root, algo);
  *version_out = v;
  return 0;
}

int reco__registry_active_path(const char *root, const char *algo, char *buf, size_t len) {
  int v;
  int rc = reco__registry_active(root, algo, &v);
  return rc ? rc : reco__registry_path(root, algo, v, buf, len);
}

/* Fully verifies version v of algo (checksum included) and that it is a model of algo. */
static int verify_version(const char *root, const char *algo, int v) {
  char path[REG_PATH_MAX];
  int rc = reco__registry_path(root, algo, v, path, sizeof path);
  if (rc) return rc;
  reco_mf_reader *r;
  if ((rc = reco__mf_open(path, &r))) return rc;
  if (strcmp(reco__mf_algo(r), algo) != 0)
    rc = reco__seterr(RECO_EFORMAT, "%s: holds a %s model, not %s", path, reco__mf_algo(r), algo);
  reco__mf_close(r);
  return rc;
}

int reco__registry_activate(const char *root, const char *algo, int version) {
  char dir[REG_PATH_MAX];
  int rc = reco__registry_check_algo(algo);
  if (rc || (rc = pathf(dir, sizeof dir, "%s/%s", root, algo))) return rc;
  if ((rc = verify_version(root, algo, version))) return rc;
  int lock = lock_dir(dir);
  if (lock < 0) return lock;
  rc = write_version_file(dir, "ACTIVE", version);
  unlock_dir(lock);
  return rc;
}

int reco__registry_rollback(const char *root, const char *algo, int *version_out) {
  if (version_out) *version_out = 0;
  char dir[REG_PATH_MAX];
  int rc = reco__registry_check_algo(algo);
  if (rc || (rc = pathf(dir, sizeof dir, "%s/%s", root, algo))) return rc;
  struct stat st;
  if (stat(dir, &st) != 0) return reco__seterr(RECO_ENOTFOUND, "%s: no versions of %s", root, algo);
  int lock = lock_dir(dir);
  if (lock < 0) return lock;
  int active = 0, *vers = NULL;
  size_t n = 0;
  if ((rc = read_version_file(dir, "ACTIVE", &active))) goto done;
  if (!active) {
    rc = reco__seterr(RECO_ESTATE, "%s: no active version to roll back from", dir);
    goto done;
  }
  if ((rc = scan_versions(dir, &vers, &n))) goto done;
  rc = reco__seterr(RECO_ENOTFOUND, "%s: no version older than v%d to roll back to", dir, active);
  for (size_t k = n; k-- > 0;) {
    if (vers[k] >= active) continue;
    int vr = verify_version(root, algo, vers[k]);
    if (vr) {
      reco__log(RECO_LOG_WARN, "rollback skips v%d: %s", vers[k], reco_last_error());
      if (vr == RECO_ENOMEM) {
        rc = vr;
        break;
      }
      continue;
    }
    if ((rc = write_version_file(dir, "ACTIVE", vers[k])) == 0 && version_out) *version_out = vers[k];
    break;
  }
  if (rc == RECO_ENOTFOUND) reco__seterr(rc, "%s: no valid version older than v%d to roll back to", dir, active);
done:
  reco__free(vers);
  unlock_dir(lock);
  return rc;
}

/* ---- listing ---- */

void reco__registry_list_free(reco_reg_entry *e, size_t n) {
  if (!e) return;
  for (size_t k = 0; k < n; k++) {
    reco__free(e[k].path);
    reco__free(e[k].error);
    reco__free(e[k].params);
    reco__free(e[k].metrics);
    reco__free(e[k].fingerprint);
  }
  reco__free(e);
}

static char *dup_str(const char *s) { return reco__strndup(s ? s : "", s ? strlen(s) : 0); }

static int fill_entry(reco_reg_entry *e, const char *root, const char *algo, int version, int active) {
  char path[REG_PATH_MAX];
  int rc = reco__registry_path(root, algo, version, path, sizeof path);
  if (rc) return rc;
  snprintf(e->algo, sizeof e->algo, "%s", algo);
  e->version = version;
  e->active = version == active;
  e->fit_s = -1;
  e->n_train = -1;
  e->n_users = e->n_items = -1;
  if (!(e->path = dup_str(path))) return reco__seterr(RECO_ENOMEM, "out of memory listing models");
  reco_mf_reader *r;
  rc = reco__mf_open_meta(path, &r);
  if (rc == RECO_ENOMEM) return rc;
  if (rc) {
    e->err = rc;
    if (!(e->error = dup_str(reco_last_error()))) return reco__seterr(RECO_ENOMEM, "out of memory listing models");
    if (!(e->params = dup_str("")) || !(e->metrics = dup_str("")) || !(e->fingerprint = dup_str("")))
      return reco__seterr(RECO_ENOMEM, "out of memory listing models");
    return 0;
  }
  const char *s;
  e->file_bytes = reco__mf_size(r);
  if ((s = reco__mf_get_meta(r, "trained_at_ms"))) e->trained_at_ms = strtoll(s, NULL, 10);
  if ((s = reco__mf_get_meta(r, "fit_s"))) e->fit_s = strtod(s, NULL);
  if ((s = reco__mf_get_meta(r, "n_train"))) e->n_train = strtoll(s, NULL, 10);
  if ((s = reco__mf_get_meta(r, "n_users"))) e->n_users = (int32_t)strtol(s, NULL, 10);
  if ((s = reco__mf_get_meta(r, "n_items"))) e->n_items = (int32_t)strtol(s, NULL, 10);
  if (strcmp(reco__mf_algo(r), algo) != 0) {
    e->err = RECO_EFORMAT;
    char msg[4200];
    snprintf(msg, sizeof msg, "%s: holds a %s model, not %s", path, reco__mf_algo(r), algo);
    e->error = dup_str(msg);
  }
  e->params = dup_str(reco__mf_get_meta(r, "params"));
  e->metrics = dup_str(reco__mf_get_meta(r, "metrics"));
  e->fingerprint = dup_str(reco__mf_get_meta(r, "fingerprint"));
  reco__mf_close(r);
  if (!e->params || !e->metrics || !e->fingerprint || (e->err && !e->error))
    return reco__seterr(RECO_ENOMEM, "out of memory listing models");
  return 0;
}

/* Appends the versions of one algorithm to *list. */
static int list_algo(const char *root, const char *algo, reco_reg_entry **list, size_t *n, size_t *cap) {
  char dir[REG_PATH_MAX];
  int rc = pathf(dir, sizeof dir, "%s/%s", root, algo);
  if (rc) return rc;
  int *vers = NULL, active = 0;
  size_t nv = 0;
  if ((rc = scan_versions(dir, &vers, &nv))) return rc;
  if (read_version_file(dir, "ACTIVE", &active)) {
    if (reco_last_error()[0]) reco__log(RECO_LOG_WARN, "%s", reco_last_error());
    active = 0;
  }
  for (size_t k = 0; k < nv && !rc; k++) {
    if ((rc = RECO_GROW(*list, *cap, *n + 1))) break;
    reco_reg_entry *e = &(*list)[*n];
    memset(e, 0, sizeof *e);
    (*n)++; /* counted before filling so that a partial entry is freed */
    rc = fill_entry(e, root, algo, vers[k], active);
  }
  reco__free(vers);
  return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int reco__registry_list(const char *root, const char *algo, reco_reg_entry **out, size_t *n_out) {
  *out = NULL;
  *n_out = 0;
  reco_reg_entry *list = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  if (algo) {
    if ((rc = reco__registry_check_algo(algo)) == 0) rc = list_algo(root, algo, &list, &n, &cap);
  } else {
    DIR *d = opendir(root);
    if (!d) {
      if (errno == ENOENT) return 0;
      return reco__seterr(RECO_EIO, "%s: cannot read directory: %s", root, strerror(errno));
    }
    char **names = NULL;
    size_t nn = 0, ncap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
      if (e->d_name[0] == '.' || reco__registry_check_algo(e->d_name) != 0) continue;
      char dir[REG_PATH_MAX];
      struct stat st;
      if (pathf(dir, sizeof dir, "%s/%s", root, e->d_name) || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
      char *s = dup_str(e->d_name);
      if (!s || RECO_GROW(names, ncap, nn + 1)) {
        reco__free(s);
        rc = reco__seterr(RECO_ENOMEM, "out of memory listing models");
        break;
      }
      names[nn++] = s;
    }
    closedir(d);
    reco__clearerr();
    if (nn) qsort(names, nn, sizeof *names, cmp_str);
    for (size_t k = 0; k < nn && !rc; k++) rc = list_algo(root, names[k], &list, &n, &cap);
    for (size_t k = 0; k < nn; k++) reco__free(names[k]);
    reco__free(names);
  }
  if (rc) {
    reco__registry_list_free(list, n);
    return rc;
  }
  *out = list;
  *n_out = n;
  return 0;
}
