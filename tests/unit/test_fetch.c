/*
 * test_fetch.c - dataset download, verification and unpacking (src/data/fetch.c), with no
 * external network: each test serves a zip built here with libzip from a tiny HTTP/1.1 server
 * on 127.0.0.1 (a thread, a plain socket, port chosen by the kernel), then checks what lands
 * in a fresh directory - the dataset folder on success, nothing at all on failure.
 * Also drives the `reco data fetch` command when $RECO_BIN names the built program.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <zip.h>

#include "data/fetch.h"

/* ---- a one-file HTTP/1.1 server ---- */

enum { SERVE_OK = 0, SERVE_TRUNCATE };

typedef struct server {
  int lfd, port;
  pthread_t th;
  pthread_mutex_t mu;
  int stop;
  char path[128];       /* the one path served, e.g. "/ml-100k.zip" */
  unsigned char *body;  /* owned */
  size_t len;
  int mode;
  int hits;             /* requests for path */
} server;

static server g_srv;

static void send_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
    if (w <= 0) return;
    c += w;
    n -= (size_t)w;
  }
}

static void serve_one(server *s, int fd) {
  char req[8192];
  size_t got = 0;
  struct timeval tv = {2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  while (got < sizeof req - 1) {
    ssize_t r = recv(fd, req + got, sizeof req - 1 - got, 0);
    if (r <= 0) return;
    got += (size_t)r;
    req[got] = '\0';
    if (strstr(req, "\r\n\r\n")) break;
  }
  char method[16], path[256];
  if (sscanf(req, "%15s %255s", method, path) != 2) return;
  pthread_mutex_lock(&s->mu);
  bool match = !strcmp(path, s->path) && s->body;
  size_t len = s->len, send_len = s->mode == SERVE_TRUNCATE ? s->len / 2 : s->len;
  unsigned char *body = NULL;
  if (match) {
    s->hits++;
    body = malloc(len ? len : 1);
    memcpy(body, s->body, len);
  }
  pthread_mutex_unlock(&s->mu);
  char head[256];
  if (!match) {
    static const char msg[] = "not found\n";
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     sizeof msg - 1);
    send_all(fd, head, (size_t)n);
    send_all(fd, msg, sizeof msg - 1);
    return;
  }
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 200 OK\r\nContent-Type: application/zip\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n",
                   len);
  send_all(fd, head, (size_t)n);
  if (strcmp(method, "HEAD") != 0) send_all(fd, body, send_len);
  free(body);
}

static void *server_main(void *ud) {
  server *s = ud;
  for (;;) {
    pthread_mutex_lock(&s->mu);
    int stop = s->stop;
    pthread_mutex_unlock(&s->mu);
    if (stop) break;
    struct pollfd p = {s->lfd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) continue;
    serve_one(s, fd);
    shutdown(fd, SHUT_RDWR);
    close(fd);
  }
  return NULL;
}

static void server_start(server *s) {
  memset(s, 0, sizeof *s);
  pthread_mutex_init(&s->mu, NULL);
  s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(s->lfd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(s->lfd, 16), 0);
  socklen_t al = sizeof a;
  assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
  s->port = ntohs(a.sin_port);
  assert_int_equal(pthread_create(&s->th, NULL, server_main, s), 0);
}

static void server_stop(server *s) {
  pthread_mutex_lock(&s->mu);
  s->stop = 1;
  pthread_mutex_unlock(&s->mu);
  pthread_join(s->th, NULL);
  close(s->lfd);
  free(s->body);
  pthread_mutex_destroy(&s->mu);
}

/* Serves body (copied) at path with mode; resets the hit count. */
static void server_set(server *s, const char *path, const void *body, size_t len, int mode) {
  pthread_mutex_lock(&s->mu);
  free(s->body);
  s->body = malloc(len ? len : 1);
  memcpy(s->body, body, len);
  s->len = len;
  s->mode = mode;
  s->hits = 0;
  snprintf(s->path, sizeof s->path, "%s", path);
  pthread_mutex_unlock(&s->mu);
}

static int server_hits(server *s) {
  pthread_mutex_lock(&s->mu);
  int h = s->hits;
  pthread_mutex_unlock(&s->mu);
  return h;
}

static void url_of(char *out, size_t len, const char *path) {
  snprintf(out, len, "http://127.0.0.1:%d%s", g_srv.port, path);
}

/* ---- zips and hashes built in the test ---- */

typedef struct entry {
  const char *name;
  const char *data; /* NULL = directory entry */
  size_t len;       /* 0 = strlen(data) */
} entry;

/* Builds a zip of the entries (stored uncompressed when store) and returns its bytes. */
static unsigned char *make_zip(const entry *e, size_t n, bool store, size_t *out_len) {
  char path[] = "/tmp/reco-test-zip-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  int err = 0;
  zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
  assert_non_null(za);
  for (size_t i = 0; i < n; i++) {
    if (!e[i].data) {
      assert_true(zip_dir_add(za, e[i].name, ZIP_FL_ENC_UTF_8) >= 0);
      continue;
    }
    size_t len = e[i].len ? e[i].len : strlen(e[i].data);
    zip_source_t *src = zip_source_buffer(za, e[i].data, len, 0);
    assert_non_null(src);
    zip_int64_t idx = zip_file_add(za, e[i].name, src, ZIP_FL_ENC_UTF_8 | ZIP_FL_OVERWRITE);
    assert_true(idx >= 0);
    if (store) assert_int_equal(zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0), 0);
  }
  assert_int_equal(zip_close(za), 0);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *buf = malloc((size_t)sz);
  assert_int_equal(fread(buf, 1, (size_t)sz, f), (size_t)sz);
  fclose(f);
  unlink(path);
  *out_len = (size_t)sz;
  return buf;
}

static void sha256_hex(const void *p, size_t n, char out[65]) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int dn = 0;
  EVP_Digest(p, n, d, &dn, EVP_sha256(), NULL);
  for (unsigned i = 0; i < dn; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

/* ---- the fake dataset ---- */

static const char k_udata[] = "1\t10\t5\t881250949\n1\t20\t3\t881250950\n2\t10\t4\t881250951\n";
static const char k_uitem[] = "10|Toy Story (1995)|01-Jan-1995||http://x|0|0|0\n"
                               "20|Heat (1995)|01-Jan-1995||http://y|0|1|0\n";
static char g_udata_sha[65], g_uitem_sha[65];
static reco__fetch_file g_files[2];
static reco__fetch_spec g_spec;

static const entry k_good[] = {
    {"ml-100k/", NULL, 0},
    {"ml-100k/u.data", k_udata, 0},
    {"ml-100k/u.item", k_uitem, 0},
    {"ml-100k/README", "fake ml-100k for tests\n", 0},
    {"ml-100k/extra/notes.txt", "nested file\n", 0},
    {"__MACOSX/ml-100k/._u.data", "resource fork\n", 0},
};

static void init_spec(void) {
  sha256_hex(k_udata, strlen(k_udata), g_udata_sha);
  sha256_hex(k_uitem, strlen(k_uitem), g_uitem_sha);
  g_files[0] = (reco__fetch_file){"u.data", g_udata_sha};
  g_files[1] = (reco__fetch_file){"u.item", g_uitem_sha};
  g_spec = (reco__fetch_spec){.name = "ml-100k", .url = NULL, .zip_sha256 = NULL, .folder = "ml-100k/",
                              .summary = "test", .size_hint = "1 KB", .files = g_files, .n_files = 2};
}

/* ---- per-test directory ---- */

typedef struct fixture {
  char root[64]; /* a fresh temporary folder */
  char dir[128]; /* root/cache: where fetch writes (created by fetch) */
} fixture;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

static int setup(void **state) {
  fixture *fx = calloc(1, sizeof *fx);
  snprintf(fx->root, sizeof fx->root, "/tmp/reco-fetch-XXXXXX");
  if (!mkdtemp(fx->root)) return -1;
  snprintf(fx->dir, sizeof fx->dir, "%s/cache", fx->root);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture *fx = *state;
  nftw(fx->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(fx);
  return 0;
}

static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return errno == ENOENT ? 0 : -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  closedir(d);
  return n;
}

static bool exists(const char *fmt, ...) {
  char p[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p, sizeof p, fmt, ap);
  va_end(ap);
  struct stat st;
  return lstat(p, &st) == 0;
}

static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = calloc(1, 1 << 16);
  size_t n = fread(buf, 1, (1 << 16) - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

/* Serves the entries at /ml-100k.zip and fetches g_spec with the given options. */
static int fetch_entries(fixture *fx, const entry *e, size_t n, bool store, int mode, reco__fetch_opts *o,
                         reco__fetch_result *res) {
  size_t len;
  unsigned char *zip = make_zip(e, n, store, &len);
  server_set(&g_srv, "/ml-100k.zip", zip, len, mode);
  free(zip);
  char url[256];
  url_of(url, sizeof url, "/ml-100k.zip");
  reco__fetch_opts def = {0};
  if (!o) o = &def;
  o->dir = fx->dir;
  o->url = url;
  int rc = reco__fetch_spec_run(&g_spec, o, res);
  o->url = NULL;
  return rc;
}

/* ---- tests ---- */

static void test_sha256_file(void **state) {
  fixture *fx = *state;
  char p[256], hex[65];
  snprintf(p, sizeof p, "%s/abc", fx->root);
  FILE *f = fopen(p, "wb");
  fputs("abc", f);
  fclose(f);
  assert_int_equal(reco__sha256_file(p, hex), 0);
  assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  f = fopen(p, "wb");
  fclose(f);
  assert_int_equal(reco__sha256_file(p, hex), 0);
  assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  snprintf(p, sizeof p, "%s/missing", fx->root);
  assert_int_equal(reco__sha256_file(p, hex), RECO_ENOTFOUND);
}

static void test_table(void **state) {
  (void)state;
  size_t n;
  const reco__fetch_spec *s = reco__fetch_specs(&n);
  assert_int_equal(n, 3);
  const char *want[] = {"ml-100k", "ml-1m", "ml-latest-small"};
  for (size_t i = 0; i < n; i++) {
    assert_string_equal(s[i].name, want[i]);
    assert_ptr_equal(reco__fetch_find(want[i]), &s[i]);
    assert_non_null(strstr(s[i].url, "https://files.grouplens.org/datasets/movielens/"));
    assert_true(s[i].n_files > 0);
    for (size_t j = 0; j < s[i].n_files; j++)
      if (s[i].files[j].sha256) assert_int_equal(strlen(s[i].files[j].sha256), 64);
  }
  assert_null(reco__fetch_find("ml-10m"));
  char out[256];
  int rc = reco__fetch("ml-10m", "/nonexistent", NULL, NULL, out, sizeof out);
  assert_int_equal(rc, RECO_ENOTFOUND);
  assert_non_null(strstr(reco_last_error(), "ml-latest-small"));
}

static void test_default_dir(void **state) {
  (void)state;
  char out[512], *old_xdg = getenv("XDG_CACHE_HOME") ? strdup(getenv("XDG_CACHE_HOME")) : NULL;
  setenv("XDG_CACHE_HOME", "/x/cache", 1);
  assert_int_equal(reco__fetch_default_dir(out, sizeof out), 0);
  assert_string_equal(out, "/x/cache/reco/datasets");
  setenv("XDG_CACHE_HOME", "relative", 1); /* invalid per the XDG spec: ignored */
  assert_int_equal(reco__fetch_default_dir(out, sizeof out), 0);
  assert_non_null(strstr(out, "/.cache/reco/datasets"));
  if (old_xdg) setenv("XDG_CACHE_HOME", old_xdg, 1);
  else unsetenv("XDG_CACHE_HOME");
  free(old_xdg);
}

static void test_fetch_ok_then_noop(void **state) {
  fixture *fx = *state;
  reco__fetch_result res;
  assert_int_equal(fetch_entries(fx, k_good, 6, false, SERVE_OK, NULL, &res), 0);
  assert_true(res.downloaded);
  assert_int_equal(server_hits(&g_srv), 1);
  assert_true(res.bytes > 0);
  assert_int_equal(strlen(res.zip_sha256), 64);
  assert_non_null(strstr(res.url, "/ml-100k.zip"));
  char *real = realpath(fx->dir, NULL), want[512];
  snprintf(want, sizeof want, "%s/ml-100k", real);
  free(real);
  assert_string_equal(res.path, want);
  /* The folder and nothing else; members outside the top folder are skipped. */
  assert_int_equal(count_entries(fx->dir), 1);
  char p[PATH_MAX + 16];
  snprintf(p, sizeof p, "%s/u.data", res.path);
  char *txt = read_text(p);
  assert_non_null(txt);
  assert_string_equal(txt, k_udata);
  free(txt);
  assert_true(exists("%s/extra/notes.txt", res.path));
  assert_true(exists("%s/README", res.path));
  assert_false(exists("%s/__MACOSX", fx->dir));
  assert_int_equal(reco__fetch_verify(&g_spec, res.path, NULL), 0);

  /* Second fetch: verified in place, nothing downloaded. */
  char url[256];
  url_of(url, sizeof url, "/ml-100k.zip");
  reco__fetch_opts o = {.dir = fx->dir, .url = url};
  assert_int_equal(reco__fetch_spec_run(&g_spec, &o, &res), 0);
  assert_false(res.downloaded);
  assert_string_equal(res.path, want);
  assert_int_equal(server_hits(&g_srv), 1);

  /* A folder that no longer verifies is not overwritten without force... */
  FILE *f = fopen(p, "ab");
  fputs("tampered\n", f);
  fclose(f);
  assert_int_equal(reco__fetch_spec_run(&g_spec, &o, &res), RECO_EEXIST);
  assert_non_null(strstr(reco_last_error(), "u.data"));
  assert_int_equal(server_hits(&g_srv), 1);
  /* ...and is replaced with it. */
  o.force = true;
  assert_int_equal(reco__fetch_spec_run(&g_spec, &o, &res), 0);
  assert_true(res.downloaded);
  assert_int_equal(server_hits(&g_srv), 2);
  assert_int_equal(reco__fetch_verify(&g_spec, res.path, NULL), 0);
  assert_int_equal(count_entries(fx->dir), 1);
}

static void test_fetch_zip_hash_mismatch(void **state) {
  fixture *fx = *state;
  size_t len;
  unsigned char *zip = make_zip(k_good, 6, false, &len);
  char good[65];
  sha256_hex(zip, len, good);
  free(zip);
  reco__fetch_spec spec = g_spec;
  spec.zip_sha256 = good;
  /* Same content but a different archive (stored, not deflated): the zip hash differs. */
  zip = make_zip(k_good, 6, true, &len);
  server_set(&g_srv, "/ml-100k.zip", zip, len, SERVE_OK);
  free(zip);
  char url[256];
  url_of(url, sizeof url, "/ml-100k.zip");
  reco__fetch_opts o = {.dir = fx->dir, .url = url};
  assert_int_equal(reco__fetch_spec_run(&spec, &o, NULL), RECO_ECHECKSUM);
  assert_non_null(strstr(reco_last_error(), good));
  assert_int_equal(count_entries(fx->dir), 0);
  /* The matching archive passes. */
  zip = make_zip(k_good, 6, false, &len);
  server_set(&g_srv, "/ml-100k.zip", zip, len, SERVE_OK);
  free(zip);
  assert_int_equal(reco__fetch_spec_run(&spec, &o, NULL), 0);
}

static void test_fetch_corrupt_payload(void **state) {
  fixture *fx = *state;
  /* Stored members, one byte of u.data flipped in transit: the zip's CRC-32 catches it. */
  size_t len;
  unsigned char *zip = make_zip(k_good, 6, true, &len);
  unsigned char *at = memmem(zip, len, k_udata, strlen(k_udata));
  assert_non_null(at);
  at[5] ^= 0x01;
  server_set(&g_srv, "/ml-100k.zip", zip, len, SERVE_OK);
  free(zip);
  char url[256];
  url_of(url, sizeof url, "/ml-100k.zip");
  reco__fetch_opts o = {.dir = fx->dir, .url = url};
  assert_int_equal(reco__fetch_spec_run(&g_spec, &o, NULL), RECO_ECHECKSUM);
  assert_non_null(strstr(reco_last_error(), "u.data"));
  assert_int_equal(count_entries(fx->dir), 0);
}

static void test_fetch_file_hash_mismatch(void **state) {
  fixture *fx = *state;
  /* A well-formed archive whose u.data is not the published one. */
  entry e[] = {{"ml-100k/u.data", "1\t10\t1\t881250949\n", 0}, {"ml-100k/u.item", k_uitem, 0}};
  assert_int_equal(fetch_entries(fx, e, 2, false, SERVE_OK, NULL, NULL), RECO_ECHECKSUM);
  assert_non_null(strstr(reco_last_error(), "u.data"));
  assert_non_null(strstr(reco_last_error(), g_udata_sha));
  assert_int_equal(count_entries(fx->dir), 0);
  /* A listed file missing. */
  entry e2[] = {{"ml-100k/u.data", k_udata, 0}};
  assert_int_equal(fetch_entries(fx, e2, 1, false, SERVE_OK, NULL, NULL), RECO_ENOTFOUND);
  assert_non_null(strstr(reco_last_error(), "u.item"));
  assert_int_equal(count_entries(fx->dir), 0);
}

static void test_fetch_404(void **state) {
  fixture *fx = *state;
  server_set(&g_srv, "/ml-100k.zip", "x", 1, SERVE_OK);
  char url[256];
  url_of(url, sizeof url, "/nope.zip");
  reco__fetch_opts o = {.dir = fx->dir, .url = url};
  assert_int_equal(reco__fetch_spec_run(&g_spec, &o, NULL), RECO_ENET);
  assert_non_null(strstr(reco_last_error(), "404"));
  assert_non_null(strstr(reco_last_error(), "/nope.zip"));
  assert_int_equal(count_entries(fx->dir), 0);
  /* Nothing listening at all. */
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof a;
  bind(s, (struct sockaddr *)&a, sizeof a);
  getsockname(s, (struct sockaddr *)&a, &al);
  close(s); /* the port is now (almost certainly) closed */
  snprintf(url, sizeof url, "http://127.0.0.1:%d/ml-100k.zip", ntohs(a.sin_port));
  assert_int_equal(reco__fetch_spec_run(&g_spec, &o, NULL), RECO_ENET);
  assert_int_equal(count_entries(fx->dir), 0);
}

static void test_fetch_truncated(void **state) {
  fixture *fx = *state;
  assert_int_equal(fetch_entries(fx, k_good, 6, false, SERVE_TRUNCATE, NULL, NULL), RECO_ENET);
  assert_int_equal(server_hits(&g_srv), 1);
  assert_int_equal(count_entries(fx->dir), 0);
}

static void test_fetch_zip_slip(void **state) {
  fixture *fx = *state;
  static const char *const bad[] = {
      "ml-100k/../../evil.txt", "../evil.txt", "/tmp/reco-evil.txt", "ml-100k/a/../../../evil.txt",
      "ml-100k\\..\\..\\evil.txt", "ml-100k/./u.user", "ml-100k//u.user", "C:/evil.txt",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    entry e[] = {{"ml-100k/u.data", k_udata, 0}, {"ml-100k/u.item", k_uitem, 0}, {bad[i], "pwned\n", 0}};
    assert_int_equal(fetch_entries(fx, e, 3, false, SERVE_OK, NULL, NULL), RECO_EFORMAT);
    assert_non_null(strstr(reco_last_error(), "unsafe"));
    assert_int_equal(count_entries(fx->dir), 0);
    assert_false(exists("%s/evil.txt", fx->root));
    assert_false(exists("/tmp/reco-evil.txt"));
  }
}

static void test_fetch_symlink_entry(void **state) {
  fixture *fx = *state;
  entry e[] = {{"ml-100k/u.data", k_udata, 0}, {"ml-100k/u.item", k_uitem, 0}, {"ml-100k/link", "/etc/passwd", 0}};
  size_t len;
  unsigned char *zip = make_zip(e, 3, false, &len);
  /* Mark the third member as a Unix symbolic link (mode in the high 16 bits). */
  char path[] = "/tmp/reco-test-zip-XXXXXX";
  int fd = mkstemp(path);
  assert_int_equal(write(fd, zip, len), (ssize_t)len);
  close(fd);
  free(zip);
  int err = 0;
  zip_t *za = zip_open(path, 0, &err);
  assert_non_null(za);
  zip_int64_t idx = zip_name_locate(za, "ml-100k/link", 0);
  assert_true(idx >= 0);
  assert_int_equal(zip_file_set_external_attributes(za, (zip_uint64_t)idx, 0, ZIP_OPSYS_UNIX,
                                                    (zip_uint32_t)(S_IFLNK | 0777) << 16),
                   0);
  assert_int_equal(zip_close(za), 0);
  FILE *f = fopen(path, "rb");
  fseek(f, 0, SEEK_END);
  len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  zip = malloc(len);
  assert_int_equal(fread(zip, 1, len, f), len);
  fclose(f);
  unlink(path);
  server_set(&g_srv, "/ml-100k.zip", zip, len, SERVE_OK);
  free(zip);
  char url[256];
  url_of(url, sizeof url, "/ml-100k.zip");
  reco__fetch_opts o = {.dir = fx->dir, .url = url};
  assert_int_equal(reco__fetch_spec_run(&g_spec, &o, NULL), RECO_EFORMAT);
  assert_non_null(strstr(reco_last_error(), "symbolic link"));
  assert_int_equal(count_entries(fx->dir), 0);
}

static void write_file(const char *dir, const char *name, const char *text) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "wb");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* Another fetcher finishes first: our rename finds the folder in place. */
typedef struct race {
  const char *final;
  const char *udata;
  int done;
} race;

static int install_meanwhile(void *ud, const char *stage, double done, double total, const char *info) {
  (void)done;
  (void)total;
  (void)info;
  race *r = ud;
  if (strcmp(stage, "verify") != 0 || r->done) return 0;
  r->done = 1;
  assert_int_equal(mkdir(r->final, 0755), 0);
  write_file(r->final, "u.data", r->udata);
  write_file(r->final, "u.item", k_uitem);
  return 0;
}

static void test_fetch_race(void **state) {
  fixture *fx = *state;
  char final[256];
  snprintf(final, sizeof final, "%s/ml-100k", fx->dir);
  /* The other fetcher's folder verifies: success, and ours is discarded. */
  race r = {final, k_udata, 0};
  reco__fetch_opts o = {.progress = {install_meanwhile, &r}};
  reco__fetch_result res;
  assert_int_equal(fetch_entries(fx, k_good, 6, false, SERVE_OK, &o, &res), 0);
  assert_true(r.done);
  assert_int_equal(count_entries(fx->dir), 1);
  assert_false(exists("%s/README", final)); /* the winner's folder, not ours */
  /* Something that does not verify appears meanwhile: refused without force. */
  assert_int_equal(count_entries(fx->dir), 1);
  nftw(final, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  race bad = {final, "garbage\n", 0};
  reco__fetch_opts o2 = {.progress = {install_meanwhile, &bad}};
  assert_int_equal(fetch_entries(fx, k_good, 6, false, SERVE_OK, &o2, NULL), RECO_EEXIST);
  assert_int_equal(count_entries(fx->dir), 1);
  assert_false(exists("%s/README", final));
  /* With force, ours replaces it and the old one is gone. */
  nftw(final, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  race bad2 = {final, "garbage\n", 0};
  reco__fetch_opts o3 = {.force = true, .progress = {install_meanwhile, &bad2}};
  assert_int_equal(fetch_entries(fx, k_good, 6, false, SERVE_OK, &o3, NULL), 0);
  assert_int_equal(count_entries(fx->dir), 1);
  assert_true(exists("%s/README", final));
  assert_int_equal(reco__fetch_verify(&g_spec, final, NULL), 0);
}

static void test_fetch_not_a_zip(void **state) {
  fixture *fx = *state;
  static const char junk[] = "<html>captive portal</html>\n";
  server_set(&g_srv, "/ml-100k.zip", junk, sizeof junk - 1, SERVE_OK);
  char url[256];
  url_of(url, sizeof url, "/ml-100k.zip");
  reco__fetch_opts o = {.dir = fx->dir, .url = url};
  assert_int_equal(reco__fetch_spec_run(&g_spec, &o, NULL), RECO_EFORMAT);
  assert_non_null(strstr(reco_last_error(), "zip"));
  assert_int_equal(count_entries(fx->dir), 0);
  /* A zip without the expected top folder. */
  entry e[] = {{"u.data", k_udata, 0}, {"u.item", k_uitem, 0}};
  assert_int_equal(fetch_entries(fx, e, 2, false, SERVE_OK, NULL, NULL), RECO_EFORMAT);
  assert_non_null(strstr(reco_last_error(), "ml-100k/"));
  assert_int_equal(count_entries(fx->dir), 0);
}

static void test_fetch_limits(void **state) {
  fixture *fx = *state;
  reco__fetch_opts o = {.max_bytes = 64};
  assert_int_equal(fetch_entries(fx, k_good, 6, false, SERVE_OK, &o, NULL), RECO_ELIMIT);
  assert_int_equal(count_entries(fx->dir), 0);
  reco__fetch_opts o2 = {.max_unpacked = 32};
  assert_int_equal(fetch_entries(fx, k_good, 6, false, SERVE_OK, &o2, NULL), RECO_ELIMIT);
  assert_int_equal(count_entries(fx->dir), 0);
}

static int cancel_on_unpack(void *ud, const char *stage, double done, double total, const char *info) {
  (void)done;
  (void)total;
  (void)info;
  int *calls = ud;
  ++*calls;
  return !strcmp(stage, "unpack");
}

static void test_fetch_cancel(void **state) {
  fixture *fx = *state;
  int calls = 0;
  reco__fetch_opts o = {.progress = {cancel_on_unpack, &calls}};
  assert_int_equal(fetch_entries(fx, k_good, 6, false, SERVE_OK, &o, NULL), RECO_ECANCELED);
  assert_true(calls > 0);
  assert_int_equal(count_entries(fx->dir), 0);
}

/* Flat archives (folder NULL) install under the spec's name; the env base URL is honoured. */
static void test_fetch_flat_and_env_base(void **state) {
  fixture *fx = *state;
  entry e[] = {{"u.data", k_udata, 0}, {"u.item", k_uitem, 0}};
  size_t len;
  unsigned char *zip = make_zip(e, 2, false, &len);
  server_set(&g_srv, "/mirror/ml-100k.zip", zip, len, SERVE_OK);
  free(zip);
  reco__fetch_spec spec = g_spec;
  spec.folder = NULL;
  spec.url = "http://127.0.0.1:1/never-used.zip";
  char base[256];
  url_of(base, sizeof base, "/mirror/");
  setenv("RECO_FETCH_URL_BASE", base, 1);
  reco__fetch_opts o = {.dir = fx->dir};
  reco__fetch_result res;
  int rc = reco__fetch_spec_run(&spec, &o, &res);
  unsetenv("RECO_FETCH_URL_BASE");
  assert_int_equal(rc, 0);
  assert_true(res.downloaded);
  assert_true(exists("%s/ml-100k/u.data", fx->dir));
  char want[256];
  url_of(want, sizeof want, "/mirror/ml-100k.zip");
  assert_string_equal(res.url, want);
}

/* The built-in ml-latest-small entry end to end, with the real files served locally. */
static void test_fetch_builtin_real_files(void **state) {
  fixture *fx = *state;
  const char *data = getenv("RECO_DATA_DIR");
  char src[512];
  snprintf(src, sizeof src, "%s/ml-latest-small/ratings.csv", data ? data : "");
  if (!data || access(src, R_OK) != 0) {
    print_message("skipped: no ml-latest-small under RECO_DATA_DIR\n");
    skip();
  }
  static const char *const names[] = {"ratings.csv", "movies.csv", "tags.csv", "links.csv", "README.txt"};
  entry e[5];
  char *bufs[5], zname[5][64];
  for (int i = 0; i < 5; i++) {
    snprintf(src, sizeof src, "%s/ml-latest-small/%s", data, names[i]);
    FILE *f = fopen(src, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    bufs[i] = malloc((size_t)n);
    assert_int_equal(fread(bufs[i], 1, (size_t)n, f), (size_t)n);
    fclose(f);
    snprintf(zname[i], sizeof zname[i], "ml-latest-small/%s", names[i]);
    e[i] = (entry){zname[i], bufs[i], (size_t)n};
  }
  size_t len;
  unsigned char *zip = make_zip(e, 5, false, &len);
  for (int i = 0; i < 5; i++) free(bufs[i]);
  server_set(&g_srv, "/ml-latest-small.zip", zip, len, SERVE_OK);
  free(zip);
  char base[256], out[4096];
  url_of(base, sizeof base, "");
  setenv("RECO_FETCH_URL_BASE", base, 1);
  int rc = reco__fetch("ml-latest-small", fx->dir, NULL, NULL, out, sizeof out);
  unsetenv("RECO_FETCH_URL_BASE");
  assert_int_equal(rc, 0);
  assert_non_null(strstr(out, "/cache/ml-latest-small"));
  assert_true(exists("%s/ratings.csv", out));
  assert_int_equal(server_hits(&g_srv), 1);
  /* A too-small output buffer is an error, not a truncated path. */
  char tiny[8];
  assert_int_equal(reco__fetch("ml-latest-small", fx->dir, NULL, NULL, tiny, sizeof tiny), RECO_ERANGE);
}

/* ---- the command ---- */

/* Runs $RECO_BIN with args; captures stdout and stderr into out/err; returns the exit code. */
static int run_cli(char *out, size_t out_len, char *err, size_t err_len, const char *const *args) {
  const char *bin = getenv("RECO_BIN");
  char of[] = "/tmp/reco-cli-out-XXXXXX", ef[] = "/tmp/reco-cli-err-XXXXXX";
  int ofd = mkstemp(of), efd = mkstemp(ef);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(ofd, 1);
    dup2(efd, 2);
    char *argv[16];
    int n = 0;
    argv[n++] = (char *)bin;
    for (; args[n - 1] && n < 15; n++) argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    execv(bin, argv);
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ssize_t r = pread(ofd, out, out_len - 1, 0);
  out[r > 0 ? r : 0] = '\0';
  r = pread(efd, err, err_len - 1, 0);
  err[r > 0 ? r : 0] = '\0';
  close(ofd);
  close(efd);
  unlink(of);
  unlink(ef);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_cli(void **state) {
  fixture *fx = *state;
  const char *bin = getenv("RECO_BIN");
  if (!bin || access(bin, X_OK) != 0) {
    print_message("skipped: RECO_BIN not set\n");
    skip();
  }
  char out[8192], err[8192], url[256];
  const char *list[] = {"data", "fetch", "--list", NULL};
  assert_int_equal(run_cli(out, sizeof out, err, sizeof err, list), 0);
  assert_non_null(strstr(out, "ml-100k"));
  assert_non_null(strstr(out, "ml-1m"));
  assert_non_null(strstr(out, "ml-latest-small"));
  const char *list_json[] = {"data", "fetch", "--list", "--json", NULL};
  assert_int_equal(run_cli(out, sizeof out, err, sizeof err, list_json), 0);
  assert_non_null(strstr(out, "\"datasets\": ["));

  const char *unknown[] = {"data", "fetch", "ml-20m", NULL};
  assert_int_equal(run_cli(out, sizeof out, err, sizeof err, unknown), 2);
  assert_non_null(strstr(err, "ml-20m"));
  assert_non_null(strstr(err, "ml-latest-small"));
  const char *none[] = {"data", "fetch", NULL};
  assert_int_equal(run_cli(out, sizeof out, err, sizeof err, none), 2);

  /* A network failure: exit 1, one line naming the status. */
  server_set(&g_srv, "/ml-1m.zip", "x", 1, SERVE_OK);
  url_of(url, sizeof url, "/missing.zip");
  const char *fail[] = {"data", "fetch", "ml-1m", "--dir", fx->dir, "--url", url, NULL};
  assert_int_equal(run_cli(out, sizeof out, err, sizeof err, fail), 1);
  assert_non_null(strstr(err, "404"));
  assert_non_null(strchr(err, '\n'));
  assert_string_equal(strchr(err, '\n') + 1, "");
  assert_string_equal(out, "");

  /* ml-1m checks structure only: a fake with the three files passes. */
  entry e[] = {{"ml-1m/ratings.dat", "1::1193::5::978300760\n", 0},
               {"ml-1m/movies.dat", "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n", 0},
               {"ml-1m/users.dat", "1::F::1::10::48067\n", 0}};
  size_t len;
  unsigned char *zip = make_zip(e, 3, false, &len);
  server_set(&g_srv, "/ml-1m.zip", zip, len, SERVE_OK);
  free(zip);
  url_of(url, sizeof url, "/ml-1m.zip");
  const char *ok[] = {"data", "fetch", "ml-1m", "--dir", fx->dir, "--url", url, "--json", NULL};
  assert_int_equal(run_cli(out, sizeof out, err, sizeof err, ok), 0);
  assert_non_null(strstr(out, "\"downloaded\": true"));
  assert_non_null(strstr(out, "/cache/ml-1m\""));
  assert_non_null(strstr(out, "\"check\": \"structure\""));
  const char *again[] = {"data", "fetch", "ml-1m", "--dir", fx->dir, "--url", url, NULL};
  assert_int_equal(run_cli(out, sizeof out, err, sizeof err, again), 0);
  assert_non_null(strstr(out, "/cache/ml-1m\n"));
  assert_int_equal(server_hits(&g_srv), 1);
}

int main(void) {
  /* Never route the test's loopback traffic through a proxy from the environment. */
  static const char *const proxies[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                                        "ALL_PROXY"};
  for (size_t i = 0; i < sizeof proxies / sizeof proxies[0]; i++) unsetenv(proxies[i]);
  setenv("no_proxy", "*", 1);
  unsetenv("RECO_FETCH_URL_BASE");
  init_spec();
  server_start(&g_srv);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_sha256_file, setup, teardown),
      cmocka_unit_test(test_table),
      cmocka_unit_test(test_default_dir),
      cmocka_unit_test_setup_teardown(test_fetch_ok_then_noop, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fetch_zip_hash_mismatch, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fetch_corrupt_payload, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fetch_file_hash_mismatch, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fetch_404, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fetch_truncated, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fetch_zip_slip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fetch_symlink_entry, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fetch_race, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fetch_not_a_zip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fetch_limits, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fetch_cancel, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fetch_flat_and_env_base, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fetch_builtin_real_files, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cli, setup, teardown),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  server_stop(&g_srv);
  return rc;
}
