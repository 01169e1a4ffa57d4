/*
 * fetch.c - download, verify and unpack a dataset zip into a cache folder (see fetch.h).
 *
 * The steps of reco__fetch_spec_run(), each owning what it creates until the next takes over:
 *   1. the folder <dir>/<name> exists and verifies          -> done, nothing downloaded;
 *   2. download into <dir>/.<name>.zip.XXXXXX (mkstemp), hashing each chunk as it arrives;
 *   3. compare the zip's SHA-256 when the table knows it;
 *   4. unpack the members under the zip's top folder into <dir>/.<name>.tmp.XXXXXX/<name>
 *      (mkdtemp, mode 0700 so nobody else writes into it), every name checked first;
 *   5. compare every listed file's SHA-256 (or, with no hash, that it exists and is not empty);
 *   6. fsync the files and folder, rename the folder to <dir>/<name>, fsync <dir>.
 * Any failure unlinks the temporary zip and removes the temporary folder, so the directory is
 * as it was. Both temporaries live in <dir> itself so that step 6 is a rename within one file
 * system. Two processes fetching at once both download; the second rename finds the folder
 * present, verifies it, and succeeds without touching it.
 *
 * Transport: libcurl with redirects (http/https only), HTTP status >= 400 fails, connect,
 * stall and overall timeouts, and a size cap enforced both from Content-Length and by counting.
 * file:// URLs are accepted too, for a zip downloaded by hand (`--url file:///tmp/ml-1m.zip`).
 */
#define _GNU_SOURCE
#include "fetch.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <zip.h>

/* ---- the built-in table -------------------------------------------------------------------
 * GroupLens publishes no SHA-256 for its zips, so zip_sha256 is NULL everywhere. The per-file
 * hashes are those of the published copies described in shared/data/<name>/SHA256SUMS and
 * SOURCES.txt (byte-identical to the members of the official zips). READMEs are left out:
 * their wording has been revised between re-releases while the data files have not.
 * ml-1m has no such published list here, so only its structure is checked; its content rests
 * on HTTPS and the CRC-32 of each zip member. */

static const reco__fetch_file k_ml100k_files[] = {
    {"u.data", "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"},
    {"u.item", "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701"},
    {"u.user", "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c"},
    {"u.genre", "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb"},
    {"u.occupation", "cd5fbec9afe345d993a62fc7817df1a4a9079c4feb267b3118763b8fd942137d"},
    {"u.info", "5b0a40b2e47a729ee6203063f6dcf8790c2e63f5a18663e6ee318a72c5f3c27b"},
    {"u1.base", "ce253ec86c448b44fb3ba9a30d12dcfc2e9210cbde71efada3730c22e9ac212a"},
    {"u1.test", "18c6014a4b2c7324f250a63f8904a7b16b2b19f911129e346141507b0cbac950"},
    {"u2.base", "6c06f0b5df4b256da1a994f3ac66edc8da4d3f09bc9282df6b14d893366d703e"},
    {"u2.test", "4de658d1e04ed9104629509a2e2528fce833ac8e048280183f1df167632038c3"},
    {"u3.base", "afdc155c291c6edc41c0407e39d7462eb98d341e064f0b0a12175b80b3c4af5d"},
    {"u3.test", "0f548b51c78327de4c156461d3e430b7e5579fe2b5681586a59416e48fd35f6d"},
    {"u4.base", "219f0f4d40dfe9c5141d425f53fa91ee23ed275f14e280bbf1b50117afb064ca"},
    {"u4.test", "7c02ad0a1e7ab1083c8b9d4b627203a051dd7b5eab46d99fa44de33470de8db9"},
    {"u5.base", "a9574e59ce961eec2121627760b6e9b0974ce1637b3fe69ac32cb14a4bfab485"},
    {"u5.test", "351cc52e0d15b6c721466276fc24671d40936899e3d01fadeaf312915b8c5634"},
    {"ua.base", "67b5bcdb380c29f85d56a012ecd88612ae020f30a6730d117a334ee8203b91f2"},
    {"ua.test", "d0497e202417720f57a184ec8c66be2d1afa4ff41bb53787c57b28d6bf79bc42"},
    {"ub.base", "237254d253b6ad7de84f919d041055428646254f34ed8f562703c899430cd881"},
    {"ub.test", "d54a72d05730d5892062734b2bec73e976f9b713d18c828a18b968d6cce442da"},
};

/* Structure only: see the comment above the table. */
static const reco__fetch_file k_ml1m_files[] = {
    {"ratings.dat", NULL},
    {"movies.dat", NULL},
    {"users.dat", NULL},
};

static const reco__fetch_file k_mllatest_small_files[] = {
    {"ratings.csv", "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646"},
    {"movies.csv", "5a5f32dd9bb3797b8e728a1b98958789d2b13f294a69fdfbc5727f8a9611aa07"},
    {"tags.csv", "92a9f8bb7916dceef6151209845788c3643f794dfa79d1feaec7121b5960399d"},
    {"links.csv", "97ad18e4e56a09363c65676b6cb3482ce3e2cea2372a24620c1599c843325f31"},
};

#define GROUPLENS "https://files.grouplens.org/datasets/movielens/"

static const reco__fetch_spec k_specs[] = {
    {"ml-100k", GROUPLENS "ml-100k.zip", NULL, "ml-100k/",
     "MovieLens 100K: 100,000 ratings (1-5) of 1,682 movies by 943 users, 1998", "4.9 MB",
     k_ml100k_files, RECO_ARRAY_LEN(k_ml100k_files)},
    {"ml-1m", GROUPLENS "ml-1m.zip", NULL, "ml-1m/",
     "MovieLens 1M: 1,000,209 ratings (1-5) of 3,706 movies by 6,040 users, 2003", "5.9 MB",
     k_ml1m_files, RECO_ARRAY_LEN(k_ml1m_files)},
    {"ml-latest-small", GROUPLENS "ml-latest-small.zip", NULL, "ml-latest-small/",
     "MovieLens latest-small: 100,836 ratings (0.5-5) of 9,742 movies by 610 users, 2018",
     "1.0 MB", k_mllatest_small_files, RECO_ARRAY_LEN(k_mllatest_small_files)},
};

const reco__fetch_spec *reco__fetch_specs(size_t *n) {
  if (n) *n = RECO_ARRAY_LEN(k_specs);
  return k_specs;
}

const reco__fetch_spec *reco__fetch_find(const char *name) {
  if (!name) return NULL;
  for (size_t i = 0; i < RECO_ARRAY_LEN(k_specs); i++)
    if (!strcmp(k_specs[i].name, name)) return &k_specs[i];
  return NULL;
}

/* ---- small helpers ---- */

enum { IO_CHUNK = 1 << 16 };

#define DEFAULT_MAX_BYTES (512ull << 20)
#define DEFAULT_MAX_UNPACKED (2ull << 30)
#define MAX_ENTRIES 100000
#define STALE_TEMP_SECONDS (24 * 3600)

static int join(char *out, size_t len, const char *a, const char *b) {
  size_t la = strlen(a);
  const char *sep = la && a[la - 1] == '/' ? "" : "/";
  int n = snprintf(out, len, "%s%s%s", a, sep, b);
  if (n < 0 || (size_t)n >= len) return reco__seterr(RECO_ERANGE, "path too long: %s/%s", a, b);
  return 0;
}

static void to_hex(const unsigned char *d, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[d[i] >> 4];
    out[2 * i + 1] = digits[d[i] & 15];
  }
  out[2 * n] = '\0';
}

/* Creates path and its missing parents (mode 0755 before umask). */
static int mkdir_p(const char *path) {
  char buf[PATH_MAX];
  size_t n = strlen(path);
  if (n == 0) return reco__seterr(RECO_EINVAL, "empty directory name");
  if (n >= sizeof buf) return reco__seterr(RECO_ERANGE, "path too long: %s", path);
  memcpy(buf, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != '\0') continue;
    char c = buf[i];
    buf[i] = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
      return reco__seterr(RECO_EIO, "cannot create %s: %s", buf, strerror(errno));
    buf[i] = c;
  }
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
    return reco__seterr(RECO_EIO, "%s is not a directory", path);
  return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

/* Removes a tree we created; never follows symbolic links. */
static void rm_rf(const char *path) {
  if (path && *path) nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int fsync_path(const char *path, int flags) {
  int fd = open(path, flags | O_CLOEXEC);
  if (fd < 0) return reco__seterr(RECO_EIO, "cannot open %s: %s", path, strerror(errno));
  int rc = fsync(fd) != 0 && errno != EINVAL ? reco__seterr(RECO_EIO, "fsync %s: %s", path, strerror(errno)) : 0;
  close(fd);
  return rc;
}

static int write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

int reco__sha256_file(const char *path, char hex_out[65]) {
  hex_out[0] = '\0';
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return reco__seterr(errno == ENOENT ? RECO_ENOTFOUND : RECO_EIO, "%s: %s", path, strerror(errno));
  unsigned char *buf = reco__malloc(IO_CHUNK);
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  int rc = 0;
  if (!buf || !md) {
    rc = reco__seterr(RECO_ENOMEM, "out of memory hashing %s", path);
    goto done;
  }
  if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
    rc = reco__seterr(RECO_EIO, "SHA-256 unavailable in libcrypto");
    goto done;
  }
  for (;;) {
    ssize_t r = read(fd, buf, IO_CHUNK);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      rc = reco__seterr(RECO_EIO, "%s: %s", path, strerror(errno));
      goto done;
    }
    if (r == 0) break;
    EVP_DigestUpdate(md, buf, (size_t)r);
  }
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int dn = 0;
  EVP_DigestFinal_ex(md, d, &dn);
  to_hex(d, dn, hex_out);
done:
  EVP_MD_CTX_free(md);
  reco__free(buf);
  close(fd);
  return rc;
}

int reco__fetch_default_dir(char *out, size_t len) {
  const char *xdg = getenv("XDG_CACHE_HOME");
  int n;
  /* The XDG spec says relative values are invalid and must be ignored. */
  if (xdg && xdg[0] == '/') {
    n = snprintf(out, len, "%s/reco/datasets", xdg);
  } else {
    const char *home = getenv("HOME");
    if (!home || !*home) {
      struct passwd *pw = getpwuid(getuid());
      home = pw ? pw->pw_dir : NULL;
    }
    if (!home || !*home)
      return reco__seterr(RECO_ENOTFOUND, "no cache directory: set XDG_CACHE_HOME or HOME, or pass a directory");
    n = snprintf(out, len, "%s/.cache/reco/datasets", home);
  }
  if (n < 0 || (size_t)n >= len) return reco__seterr(RECO_ERANGE, "cache directory path too long");
  return 0;
}

/* ---- verification ---- */

int reco__fetch_verify(const reco__fetch_spec *spec, const char *path, const reco_progress *pr) {
  char file[PATH_MAX], hex[65];
  struct stat st;
  if (stat(path, &st) != 0) return reco__seterr(RECO_ENOTFOUND, "%s: %s", path, strerror(errno));
  if (!S_ISDIR(st.st_mode)) return reco__seterr(RECO_EFORMAT, "%s is not a directory", path);
  for (size_t i = 0; i < spec->n_files; i++) {
    const reco__fetch_file *f = &spec->files[i];
    int rc = reco__progress(pr, "verify", (double)i, (double)spec->n_files, f->path);
    if (rc) return rc;
    if ((rc = join(file, sizeof file, path, f->path))) return rc;
    if (stat(file, &st) != 0) return reco__seterr(RECO_ENOTFOUND, "%s: missing (%s)", file, strerror(errno));
    if (!S_ISREG(st.st_mode)) return reco__seterr(RECO_EFORMAT, "%s: not a regular file", file);
    if (!f->sha256) {
      if (st.st_size == 0) return reco__seterr(RECO_EFORMAT, "%s: empty", file);
      continue;
    }
    if ((rc = reco__sha256_file(file, hex))) return rc;
    if (strcasecmp(hex, f->sha256) != 0)
      return reco__seterr(RECO_ECHECKSUM, "%s: SHA-256 %s, expected %s", file, hex, f->sha256);
  }
  return reco__progress(pr, "verify", (double)spec->n_files, (double)spec->n_files, NULL);
}

/* ---- download ---- */

typedef struct dl_state {
  int fd;
  EVP_MD_CTX *md;
  uint64_t bytes, max;
  int err; /* set by a callback that stopped the transfer */
  const reco_progress *pr;
  const char *name;
} dl_state;

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud) {
  dl_state *s = ud;
  size_t n = size * nmemb;
  if (s->bytes + n > s->max) {
    s->err = reco__seterr(RECO_ELIMIT, "download exceeds the limit of %llu bytes", (unsigned long long)s->max);
    return 0;
  }
  if (write_all(s->fd, p, n) != 0) {
    s->err = reco__seterr(RECO_EIO, "writing the download: %s", strerror(errno));
    return 0;
  }
  EVP_DigestUpdate(s->md, p, n);
  s->bytes += n;
  return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
  (void)ultotal;
  (void)ulnow;
  dl_state *s = ud;
  int rc = reco__progress(s->pr, "download", (double)dlnow, (double)dltotal, s->name);
  if (rc) {
    s->err = rc;
    return 1;
  }
  return 0;
}

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static CURLcode g_curl_init_rc;
static void curl_init_once(void) { g_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* Downloads url into fd; writes the SHA-256 of the bytes to hex and their count to *bytes. */
static int download(const char *url, int fd, const reco__fetch_opts *o, const char *name, char hex[65],
                    uint64_t *bytes) {
  pthread_once(&g_curl_once, curl_init_once);
  if (g_curl_init_rc != CURLE_OK)
    return reco__seterr(RECO_ENET, "libcurl initialisation failed: %s", curl_easy_strerror(g_curl_init_rc));
  dl_state s = {.fd = fd, .max = o->max_bytes ? o->max_bytes : DEFAULT_MAX_BYTES, .pr = &o->progress, .name = name};
  char errbuf[CURL_ERROR_SIZE] = "";
  int rc = 0;
  CURL *c = curl_easy_init();
  s.md = EVP_MD_CTX_new();
  if (!c || !s.md) {
    rc = reco__seterr(RECO_ENOMEM, "cannot start a download");
    goto done;
  }
  EVP_DigestInit_ex(s.md, EVP_sha256(), NULL);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,file");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS | CURLPROTO_FILE));
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, o->connect_timeout_s > 0 ? o->connect_timeout_s : 30L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, o->timeout_s > 0 ? o->timeout_s : 1800L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, o->stall_timeout_s > 0 ? o->stall_timeout_s : 60L);
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)s.max);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "reco/" RECO_VERSION " (libcurl)");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &s);

  CURLcode cc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (s.err) {
    rc = s.err; /* the callback already set the detail */
  } else if (cc == CURLE_HTTP_RETURNED_ERROR) {
    rc = reco__seterr(RECO_ENET, "%s: HTTP %ld", url, status);
  } else if (cc == CURLE_FILESIZE_EXCEEDED) {
    rc = reco__seterr(RECO_ELIMIT, "%s: larger than the limit of %llu bytes", url, (unsigned long long)s.max);
  } else if (cc != CURLE_OK) {
    rc = reco__seterr(RECO_ENET, "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(cc));
  } else if (status != 0 && (status < 200 || status > 299)) {
    /* 0 for file://; a 1xx/3xx final status means no body was delivered. */
    rc = reco__seterr(RECO_ENET, "%s: unexpected HTTP %ld", url, status);
  } else {
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dn = 0;
    EVP_DigestFinal_ex(s.md, d, &dn);
    to_hex(d, dn, hex);
    *bytes = s.bytes;
    rc = reco__progress(&o->progress, "download", (double)s.bytes, (double)s.bytes, name);
  }
done:
  EVP_MD_CTX_free(s.md);
  if (c) curl_easy_cleanup(c);
  return rc;
}

/* ---- unpacking ---- */

/* A member name is safe when it is relative, '/' separated, has no "." / ".." / empty component
 * (a trailing '/' marks a directory) and no control characters or backslashes (which some
 * unzippers take as separators). */
static bool safe_entry_name(const char *s) {
  if (!s || !*s || s[0] == '/') return false;
  if (isalpha((unsigned char)s[0]) && s[1] == ':') return false; /* C:... */
  const char *comp = s;
  for (const char *p = s;; p++) {
    unsigned char ch = (unsigned char)*p;
    if (ch == '/' || ch == '\0') {
      size_t n = (size_t)(p - comp);
      bool last = ch == '\0';
      if (n == 0 && !(last && p > s && p[-1] == '/')) return false; /* "a//b" */
      if ((n == 1 && comp[0] == '.') || (n == 2 && comp[0] == '.' && comp[1] == '.')) return false;
      if (last) return true;
      comp = p + 1;
    } else if (ch < 0x20 || ch == 0x7f || ch == '\\') {
      return false;
    }
  }
}

static int zip_code_to_reco(int ze) {
  switch (ze) {
  case ZIP_ER_CRC: return RECO_ECHECKSUM;
  case ZIP_ER_MEMORY: return RECO_ENOMEM;
  case ZIP_ER_READ:
  case ZIP_ER_WRITE:
  case ZIP_ER_OPEN:
  case ZIP_ER_SEEK:
  case ZIP_ER_TELL: return RECO_EIO;
  case ZIP_ER_WRONGPASSWD:
  case ZIP_ER_NOPASSWD:
  case ZIP_ER_COMPNOTSUPP:
  case ZIP_ER_ENCRNOTSUPP: return RECO_EUNSUPPORTED;
  default: return RECO_EFORMAT;
  }
}

static int extract_one(zip_t *za, zip_uint64_t idx, const char *name, const char *out, uint64_t *budget) {
  int rc = 0;
  int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0)
    return reco__seterr(errno == EEXIST ? RECO_EFORMAT : RECO_EIO, "cannot create %s%s: %s", out,
                        errno == EEXIST ? " (duplicate archive entry)" : "", strerror(errno));
  zip_file_t *zf = zip_fopen_index(za, idx, 0);
  char *buf = reco__malloc(IO_CHUNK);
  if (!zf) {
    zip_error_t *ze = zip_get_error(za);
    rc = reco__seterr(zip_code_to_reco(zip_error_code_zip(ze)), "archive entry %s: %s", name, zip_error_strerror(ze));
    goto done;
  }
  if (!buf) {
    rc = reco__seterr(RECO_ENOMEM, "out of memory unpacking %s", name);
    goto done;
  }
  for (;;) {
    zip_int64_t r = zip_fread(zf, buf, IO_CHUNK);
    if (r < 0) {
      zip_error_t *ze = zip_file_get_error(zf);
      int code = zip_code_to_reco(zip_error_code_zip(ze));
      rc = reco__seterr(code, "archive entry %s: %s%s", name, zip_error_strerror(ze),
                        code == RECO_ECHECKSUM ? " (corrupt download)" : "");
      goto done;
    }
    if (r == 0) break;
    if ((uint64_t)r > *budget) {
      rc = reco__seterr(RECO_ELIMIT, "archive unpacks to more than the limit (at %s)", name);
      goto done;
    }
    *budget -= (uint64_t)r;
    if (write_all(fd, buf, (size_t)r) != 0) {
      rc = reco__seterr(RECO_EIO, "writing %s: %s", out, strerror(errno));
      goto done;
    }
  }
  if (fsync(fd) != 0 && errno != EINVAL) rc = reco__seterr(RECO_EIO, "fsync %s: %s", out, strerror(errno));
done:
  reco__free(buf);
  if (zf) zip_fclose(zf);
  if (close(fd) != 0 && !rc) rc = reco__seterr(RECO_EIO, "closing %s: %s", out, strerror(errno));
  return rc;
}

/* Unpacks the members of zip_path under prefix ("" = all) into dest, an empty folder of ours. */
static int unpack(const char *zip_path, const char *prefix, const char *dest, const reco__fetch_opts *o) {
  int zerr = 0, rc = 0;
  zip_t *za = zip_open(zip_path, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
  if (!za) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, zerr);
    rc = reco__seterr(zerr == ZIP_ER_MEMORY ? RECO_ENOMEM : RECO_EFORMAT, "the download is not a valid zip archive: %s",
                      zip_error_strerror(&ze));
    zip_error_fini(&ze);
    return rc;
  }
  zip_int64_t n = zip_get_num_entries(za, 0);
  size_t plen = strlen(prefix);
  uint64_t limit = o->max_unpacked ? o->max_unpacked : DEFAULT_MAX_UNPACKED, declared = 0, budget = limit;
  zip_int64_t n_under = 0;
  char out[PATH_MAX];
  if (n < 0 || n > MAX_ENTRIES) {
    rc = reco__seterr(RECO_ELIMIT, "archive has too many entries (%lld)", (long long)n);
    goto done;
  }
  /* Pass 1: judge the whole archive before writing anything. */
  for (zip_int64_t i = 0; i < n; i++) {
    zip_stat_t st;
    if (zip_stat_index(za, (zip_uint64_t)i, 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME)) {
      rc = reco__seterr(RECO_EFORMAT, "archive entry %lld: %s", (long long)i, zip_strerror(za));
      goto done;
    }
    if (!safe_entry_name(st.name)) {
      rc = reco__seterr(RECO_EFORMAT,
                        "archive entry '%s' is an unsafe path (absolute, '..' or control characters); "
                        "refusing the archive",
                        st.name);
      goto done;
    }
    zip_uint8_t opsys;
    zip_uint32_t attr;
    if (zip_file_get_external_attributes(za, (zip_uint64_t)i, 0, &opsys, &attr) == 0 && opsys == ZIP_OPSYS_UNIX &&
        S_ISLNK((attr >> 16) & 0xffffu)) {
      rc = reco__seterr(RECO_EFORMAT, "archive entry '%s' is a symbolic link; refusing the archive", st.name);
      goto done;
    }
    if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE) {
      rc = reco__seterr(RECO_EUNSUPPORTED, "archive entry '%s' is encrypted", st.name);
      goto done;
    }
    if (strncmp(st.name, prefix, plen) != 0) continue;
    n_under++;
    if (st.valid & ZIP_STAT_SIZE) declared += st.size;
  }
  if (n_under == 0) {
    rc = reco__seterr(RECO_EFORMAT, "archive has no folder '%s'", prefix);
    goto done;
  }
  if (declared > limit) {
    rc = reco__seterr(RECO_ELIMIT, "archive unpacks to %llu bytes, over the limit of %llu",
                      (unsigned long long)declared, (unsigned long long)limit);
    goto done;
  }
  /* Pass 2: directories and files under the prefix; other members (e.g. __MACOSX/) are skipped. */
  for (zip_int64_t i = 0; i < n; i++) {
    const char *name = zip_get_name(za, (zip_uint64_t)i, 0);
    if (!name || strncmp(name, prefix, plen) != 0) continue;
    const char *rel = name + plen;
    if ((rc = reco__progress(&o->progress, "unpack", (double)i, (double)n, rel))) goto done;
    if (*rel == '\0') continue; /* the top folder itself */
    if ((rc = join(out, sizeof out, dest, rel))) goto done;
    size_t len = strlen(out);
    if (out[len - 1] == '/') {
      out[len - 1] = '\0';
      if ((rc = mkdir_p(out))) goto done;
      continue;
    }
    char *slash = strrchr(out, '/');
    *slash = '\0';
    rc = mkdir_p(out);
    *slash = '/';
    if (rc) goto done;
    if ((rc = extract_one(za, (zip_uint64_t)i, name, out, &budget))) goto done;
  }
  rc = reco__progress(&o->progress, "unpack", (double)n, (double)n, NULL);
done:
  zip_discard(za);
  return rc;
}

/* Removes temporaries of earlier fetches of this dataset that were interrupted long ago
 * (a fetch in progress elsewhere has recent ones). */
static void sweep_stale(const char *dir, const char *name) {
  DIR *d = opendir(dir);
  if (!d) return;
  char zip_pfx[256], tmp_pfx[256], path[PATH_MAX];
  snprintf(zip_pfx, sizeof zip_pfx, ".%s.zip.", name);
  snprintf(tmp_pfx, sizeof tmp_pfx, ".%s.tmp.", name);
  time_t now = time(NULL);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, zip_pfx, strlen(zip_pfx)) != 0 && strncmp(e->d_name, tmp_pfx, strlen(tmp_pfx)) != 0)
      continue;
    struct stat st;
    if (join(path, sizeof path, dir, e->d_name) != 0 || lstat(path, &st) != 0) continue;
    if (now - st.st_mtime < STALE_TEMP_SECONDS) continue;
    reco__log(RECO_LOG_INFO, "removing stale temporary %s", path);
    if (S_ISDIR(st.st_mode)) rm_rf(path);
    else unlink(path);
  }
  closedir(d);
  reco__clearerr();
}

static bool safe_dataset_name(const char *s) {
  if (!s || !*s || s[0] == '.' || strlen(s) > 128) return false;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.') return false;
  return true;
}

static void fill_path(reco__fetch_result *res, const char *path) {
  if (!res) return;
  char *abs = realpath(path, NULL);
  snprintf(res->path, sizeof res->path, "%s", abs ? abs : path);
  free(abs);
}

/* ---- the whole fetch ---- */

int reco__fetch_spec_run(const reco__fetch_spec *spec, const reco__fetch_opts *opts, reco__fetch_result *res) {
  static const reco__fetch_opts k_no_opts;
  const reco__fetch_opts *o = opts ? opts : &k_no_opts;
  if (res) memset(res, 0, sizeof *res);
  if (!spec || !safe_dataset_name(spec->name))
    return reco__seterr(RECO_EINVAL, "invalid dataset name '%s'", spec && spec->name ? spec->name : "");
  const char *folder = spec->folder;
  if (folder && *folder && (!safe_entry_name(folder) || folder[strlen(folder) - 1] != '/'))
    return reco__seterr(RECO_EINVAL, "invalid archive folder '%s' (expected 'name/')", folder);

  char dir[PATH_MAX], final[PATH_MAX], url[1024], tmp_zip[PATH_MAX] = "", tmp_dir[PATH_MAX] = "", staged[PATH_MAX];
  char hex[65] = "";
  uint64_t bytes = 0;
  int rc, fd = -1;
  if (o->dir && *o->dir) {
    if (strlen(o->dir) >= sizeof dir) return reco__seterr(RECO_ERANGE, "directory path too long");
    strcpy(dir, o->dir);
  } else if ((rc = reco__fetch_default_dir(dir, sizeof dir))) {
    return rc;
  }
  if ((rc = mkdir_p(dir)) || (rc = join(final, sizeof final, dir, spec->name))) return rc;

  /* 1. Already there? */
  struct stat st;
  bool present = lstat(final, &st) == 0;
  if (present) {
    rc = reco__fetch_verify(spec, final, &o->progress);
    if (rc == 0) {
      fill_path(res, final);
      return 0;
    }
    if (rc == RECO_ECANCELED) return rc;
    char why[512]; /* the detail lives in the buffer reco__seterr writes: copy it first */
    snprintf(why, sizeof why, "%s", reco_last_error());
    if (!o->force)
      return reco__seterr(RECO_EEXIST, "%s exists but does not verify (%s); remove it or fetch with --force", final,
                          why);
    reco__log(RECO_LOG_INFO, "%s does not verify (%s); fetching it again", final, why);
  }
  sweep_stale(dir, spec->name);

  /* The URL: explicit, else $RECO_FETCH_URL_BASE/<name>.zip, else the table's. */
  const char *base = getenv("RECO_FETCH_URL_BASE");
  int n;
  if (o->url && *o->url) {
    n = snprintf(url, sizeof url, "%s", o->url);
  } else if (base && *base) {
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/') bl--;
    n = snprintf(url, sizeof url, "%.*s/%s.zip", (int)bl, base, spec->name);
  } else {
    n = snprintf(url, sizeof url, "%s", spec->url ? spec->url : "");
  }
  if (n <= 0 || (size_t)n >= sizeof url) return reco__seterr(RECO_EINVAL, "no usable URL for %s", spec->name);

  /* 2. Download into a temporary file beside the destination. */
  n = snprintf(tmp_zip, sizeof tmp_zip, "%s/.%s.zip.XXXXXX", dir, spec->name);
  if (n < 0 || (size_t)n >= sizeof tmp_zip) return reco__seterr(RECO_ERANGE, "directory path too long");
  fd = mkostemp(tmp_zip, O_CLOEXEC);
  if (fd < 0) {
    rc = reco__seterr(RECO_EIO, "cannot create a temporary file in %s: %s", dir, strerror(errno));
    tmp_zip[0] = '\0';
    goto fail;
  }
  reco__log(RECO_LOG_DEBUG, "fetching %s from %s", spec->name, url);
  if ((rc = download(url, fd, o, spec->name, hex, &bytes))) goto fail;
  if (close(fd) != 0) {
    fd = -1;
    rc = reco__seterr(RECO_EIO, "writing %s: %s", tmp_zip, strerror(errno));
    goto fail;
  }
  fd = -1;

  /* 3. The zip's own hash, when known. */
  if (spec->zip_sha256 && strcasecmp(hex, spec->zip_sha256) != 0) {
    rc = reco__seterr(RECO_ECHECKSUM, "%s: SHA-256 %s, expected %s (corrupt or altered download)", url, hex,
                      spec->zip_sha256);
    goto fail;
  }

  /* 4. Unpack into a private folder. */
  n = snprintf(tmp_dir, sizeof tmp_dir, "%s/.%s.tmp.XXXXXX", dir, spec->name);
  if (n < 0 || (size_t)n >= sizeof tmp_dir || !mkdtemp(tmp_dir)) {
    rc = reco__seterr(RECO_EIO, "cannot create a temporary folder in %s: %s", dir, strerror(errno));
    tmp_dir[0] = '\0';
    goto fail;
  }
  if ((rc = join(staged, sizeof staged, tmp_dir, spec->name))) goto fail;
  if (mkdir(staged, 0755) != 0) {
    rc = reco__seterr(RECO_EIO, "cannot create %s: %s", staged, strerror(errno));
    goto fail;
  }
  if ((rc = unpack(tmp_zip, folder ? folder : "", staged, o))) goto fail;
  unlink(tmp_zip);
  tmp_zip[0] = '\0';

  /* 5. The files' hashes. */
  if ((rc = reco__fetch_verify(spec, staged, &o->progress))) goto fail;

  /* 6. Into place. */
  if ((rc = fsync_path(staged, O_RDONLY | O_DIRECTORY))) goto fail;
  if (rename(staged, final) != 0) {
    if (errno != ENOTEMPTY && errno != EEXIST && errno != ENOTDIR) {
      rc = reco__seterr(RECO_EIO, "cannot rename %s to %s: %s", staged, final, strerror(errno));
      goto fail;
    }
    /* Something is in the way: a concurrent fetch that finished first, or (with force) the
     * folder that failed verification, which is moved into the temporary folder to die. */
    if (reco__fetch_verify(spec, final, NULL) != 0) {
      if (!o->force) {
        rc = reco__seterr(RECO_EEXIST, "%s appeared meanwhile and does not verify; remove it or use --force", final);
        goto fail;
      }
      char old[PATH_MAX];
      if ((rc = join(old, sizeof old, tmp_dir, ".old"))) goto fail;
      if (rename(final, old) != 0 || rename(staged, final) != 0) {
        rc = reco__seterr(RECO_EIO, "cannot replace %s: %s", final, strerror(errno));
        goto fail;
      }
    }
  }
  if ((rc = fsync_path(dir, O_RDONLY | O_DIRECTORY))) goto fail;
  rm_rf(tmp_dir);
  if (res) {
    fill_path(res, final);
    res->downloaded = true;
    res->bytes = bytes;
    snprintf(res->zip_sha256, sizeof res->zip_sha256, "%s", hex);
    snprintf(res->url, sizeof res->url, "%s", url);
  }
  reco__clearerr();
  return 0;

fail:
  if (fd >= 0) close(fd);
  if (tmp_zip[0]) unlink(tmp_zip);
  rm_rf(tmp_dir);
  return rc;
}

int reco__fetch(const char *name, const char *dir, const char *url_override, const reco_progress *pr, char *out_path,
                size_t len) {
  const reco__fetch_spec *spec = reco__fetch_find(name);
  if (!spec) {
    char names[256] = "";
    for (size_t i = 0; i < RECO_ARRAY_LEN(k_specs); i++) {
      size_t l = strlen(names);
      snprintf(names + l, sizeof names - l, "%s%s", i ? ", " : "", k_specs[i].name);
    }
    return reco__seterr(RECO_ENOTFOUND, "unknown dataset '%s' (known: %s)", name ? name : "", names);
  }
  reco__fetch_opts o = {.dir = dir, .url = url_override};
  if (pr) o.progress = *pr;
  reco__fetch_result *res = reco__malloc(sizeof *res);
  if (!res) return reco__seterr(RECO_ENOMEM, "out of memory");
  int rc = reco__fetch_spec_run(spec, &o, res);
  if (rc == 0 && out_path && len) {
    if (strlen(res->path) >= len) rc = reco__seterr(RECO_ERANGE, "output buffer too small for %s", res->path);
    else strcpy(out_path, res->path);
  }
  reco__free(res);
  return rc;
}
