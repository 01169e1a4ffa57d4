/*
 * server.c - libmicrohttpd wiring: one epoll-driven daemon with an internal thread pool (one
 * thread per core by default), bounded connections, per-connection idle timeout, bounded bodies
 * (413), protected mode and API keys, then dispatch through the route table (routes.c); deferred
 * responses (a handler's answer computed on another thread), request ids, access logs, and the
 * draining stop.
 *
 * The access-handler protocol, and its trap: MHD calls the handler once when the headers are in
 * (we allocate the per-request state and return), then once per body chunk (we append it), then
 * a last time with *upload_data_size == 0, where we answer. Answering on the *first* call makes
 * MHD close keep-alive connections, which costs several times the throughput (DESIGN.md s. 1).
 *
 * Deferred responses (serve.h, srv_defer). States of one request (srv_conn):
 *
 *   RUNNING  --handler calls srv_defer-->  SUSPENDED  --srv_resume (any thread)-->  RESUMED
 *   RESUMED  --MHD calls on_request again-->  finish(ctx, rs) --> response queued --> COMPLETED
 *   RESUMED  --the connection dies first-->  on_completed calls finish(ctx, NULL) --> COMPLETED
 *
 *   1. srv_defer suspends the connection *before* the handler hands its work to the other
 *      thread: MHD ignores a suspend that follows an early resume, so the reverse order could
 *      leave a connection suspended for ever.
 *   2. The resuming thread reads everything it needs (connection, server) before calling
 *      MHD_resume_connection and touches nothing of the request after it: from that moment the
 *      HTTP thread may answer and free the request (on_completed). No reference count is needed
 *      because a suspended connection is never closed by MHD except by MHD_stop_daemon, and
 *      srv_stop does not call that while any request is suspended (n_pending).
 *   3. finish runs exactly once: on the resumed access call, or from on_completed when the
 *      connection ended before that call (client gone, or MHD gave up on it).
 *
 * The draining stop (srv_stop, SIGTERM/SIGINT): MHD_quiesce_daemon closes the listening socket
 * (no new connections), responses carry "Connection: close" from then on, we wait until no
 * request is suspended (the store's writer finishes or fails every queued record, so this ends)
 * and no request is in flight (bounded by STOP_WAIT_S for clients that stall mid-upload), then
 * MHD_stop_daemon closes the idle keep-alive connections and joins the threads.
 *
 * Access logs: one line per request (requestId, method, route pattern, status, latency, client)
 * formatted into a stack buffer, then appended to the HTTP thread's own log buffer (LOG_BUF
 * bytes, its mutex uncontended but for the flusher), so the hot path pays a memcpy instead of
 * a write(2) system call per request (scripts/bench_logging.sh measures the difference in
 * server CPU time per request, logs on vs off). A buffer is handed to
 * srv_log_out when the next line would not fit, and by the flusher thread every
 * LOG_FLUSH_MS, so a line reaches the log within that time; srv_stop flushes everything. Events
 * (srv_log: start, stop, warnings) are rare and written at once.
 * The request id is the client's X-Request-Id when it is sane (1-64 of [A-Za-z0-9._:-]),
 * else generated, and is echoed in the response's X-Request-Id header.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "serve.h"

#define STOP_WAIT_S 30 /* how long srv_stop waits for requests still uploading or running */

struct srv_server {
  struct MHD_Daemon *d;
  srv_config cfg;
  atomic_int n_active;  /* requests between their first access call and on_completed */
  atomic_int n_pending; /* requests suspended by srv_defer and not yet resumed */
  atomic_bool draining; /* srv_stop has begun: answers close their connection */
};

struct srv_conn {
  double t0;
  char *body;
  size_t len, cap;
  bool too_large;
  srv_server *sv;
  struct MHD_Connection *c;
  int route;
  srv_finish_fn finish; /* set while deferred: until finish has run (invariant 3) */
  void *fctx;
  char rid[72]; /* the request id */
};
typedef struct srv_conn srv_conn;
static void conn_put(srv_conn *cc); /* a finished request's context back to the thread's spare */

#define LOG_BUF 32768     /* bytes of access lines buffered per HTTP thread */
#define LOG_FLUSH_MS 100  /* the longest a buffered line waits */

void (*srv_log_out)(const char *line, size_t len);

/* One HTTP thread's buffer of access lines; every buffer is on g_bufs until srv_stop. */
typedef struct log_buf {
  pthread_mutex_t mu;
  size_t n;
  struct log_buf *next;
  char p[LOG_BUF];
} log_buf;
static _Thread_local log_buf *t_buf;
static log_buf *g_bufs;
static pthread_mutex_t g_bufs_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_t g_flusher;
static bool g_flusher_on;
static atomic_bool g_flusher_stop;

static void log_buf_flush(log_buf *b) {
  if (b->n && srv_log_out) srv_log_out(b->p, b->n);
  b->n = 0;
}

static void log_emit(const char *line, size_t n) {
  log_buf *b = t_buf;
  if (!b) {
    if (!(b = calloc(1, sizeof *b))) {
      srv_log_out(line, n); /* no buffer: unbuffered, still logged */
      return;
    }
    pthread_mutex_init(&b->mu, NULL);
    pthread_mutex_lock(&g_bufs_mu);
    b->next = g_bufs, g_bufs = b;
    pthread_mutex_unlock(&g_bufs_mu);
    t_buf = b;
  }
  pthread_mutex_lock(&b->mu);
  if (b->n + n > LOG_BUF) log_buf_flush(b);
  memcpy(b->p + b->n, line, n);
  b->n += n;
  pthread_mutex_unlock(&b->mu);
}

static void log_flush_all(void) {
  pthread_mutex_lock(&g_bufs_mu);
  for (log_buf *b = g_bufs; b; b = b->next) {
    pthread_mutex_lock(&b->mu);
    log_buf_flush(b);
    pthread_mutex_unlock(&b->mu);
  }
  pthread_mutex_unlock(&g_bufs_mu);
}

static void *flusher_main(void *arg) {
  (void)arg;
  while (!atomic_load(&g_flusher_stop)) {
    struct timespec t = {0, LOG_FLUSH_MS * 1000000L};
    nanosleep(&t, NULL);
    log_flush_all();
  }
  return NULL;
}
static int g_log_level = RECO_LOG_INFO;
static bool g_log_json = true, g_log_access = true;
static const char *const k_level_names[] = {"error", "warn", "info", "debug"};

/* Appends s to p[*n..cap) escaped for JSON (control bytes as \u00XX; in text as '?'), cut at
 * cap; p stays unterminated. */
static void put_str(char *p, size_t *n, size_t cap, const char *s, bool json) {
  static const char hex[] = "0123456789abcdef";
  for (; *s && *n + 7 < cap; s++) {
    unsigned char ch = (unsigned char)*s;
    if (json && (ch == '"' || ch == '\\')) {
      p[(*n)++] = '\\', p[(*n)++] = (char)ch;
    } else if (ch < 0x20) {
      if (!json) p[(*n)++] = '?';
      else memcpy(p + *n, (char[6]){'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]}, 6), *n += 6;
    } else {
      p[(*n)++] = (char)ch;
    }
  }
}

/* "2026-11-26T12:34:56.789Z", the UTC time of now, into out (25 bytes). The formatted second is
 * cached per thread: strftime once a second, not once a line. */
static void fmt_ts(char out[48]) {
  static _Thread_local time_t last = -1;
  static _Thread_local char head[24];
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  if (now.tv_sec != last) {
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    strftime(head, sizeof head, "%Y-%m-%dT%H:%M:%S", &tm);
    last = now.tv_sec;
  }
  /* the milliseconds by hand: this runs once per access line */
  size_t hl = strlen(head);
  memcpy(out, head, hl);
  int ms = (int)(now.tv_nsec / 1000000) % 1000;
  out[hl] = '.', out[hl + 1] = (char)('0' + ms / 100), out[hl + 2] = (char)('0' + ms / 10 % 10);
  out[hl + 3] = (char)('0' + ms % 10), out[hl + 4] = 'Z', out[hl + 5] = '\0';
}

void srv_log(int level, const char *fmt, ...) {
  if (!srv_log_out || level > g_log_level) return;
  char msg[768], line[1024], ts[48];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fmt_ts(ts);
  size_t n = 0;
  const char *lv = k_level_names[level < 0 ? 0 : level > 3 ? 3 : level];
  if (g_log_json) {
    n = (size_t)snprintf(line, sizeof line, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts, lv);
    put_str(line, &n, sizeof line - 4, msg, true);
    line[n++] = '"', line[n++] = '}';
  } else {
    n = (size_t)snprintf(line, sizeof line, "%s %s ", ts, lv);
    put_str(line, &n, sizeof line - 2, msg, false);
  }
  line[n++] = '\n';
  srv_log_out(line, n);
}

/* Bounded appends for the access line (no printf on this per-request path). */
static void put_raw(char *p, size_t *n, size_t cap, const char *s) {
  size_t l = strlen(s);
  if (*n + l > cap) l = *n < cap ? cap - *n : 0;
  memcpy(p + *n, s, l);
  *n += l;
}
static void put_uint(char *p, size_t *n, size_t cap, uint64_t v) {
  char tmp[24];
  int k = 0;
  do tmp[k++] = (char)('0' + v % 10), v /= 10;
  while (v);
  while (k && *n < cap) p[(*n)++] = tmp[--k];
}
/* ms with 3 decimals */
static void put_ms(char *p, size_t *n, size_t cap, double ms) {
  if (!(ms >= 0) || ms > 1e12) ms = 0;
  uint64_t us = (uint64_t)(ms * 1000 + 0.5);
  put_uint(p, n, cap, us / 1000);
  if (*n + 4 > cap) return;
  p[(*n)++] = '.';
  p[(*n)++] = (char)('0' + us / 100 % 10), p[(*n)++] = (char)('0' + us / 10 % 10), p[(*n)++] = (char)('0' + us % 10);
}

/* The access line of one answered request. */
static void log_access(const srv_conn *cc, const char *method, const char *url, int status) {
  int level = status >= 500 ? RECO_LOG_ERROR : RECO_LOG_INFO;
  if (!srv_log_out || level > g_log_level || (!g_log_access && level == RECO_LOG_INFO)) return;
  char line[1024], ts[48], client[INET6_ADDRSTRLEN] = "-";
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(cc->c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  const struct sockaddr *sa = ci ? ci->client_addr : NULL;
  if (sa && sa->sa_family == AF_INET) { /* dotted quad by hand: glibc's inet_ntop goes through sprintf */
    uint32_t a = ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr);
    size_t o = 0;
    for (int k = 3; k >= 0; k--) {
      unsigned v = (a >> (8 * k)) & 0xff;
      if (v >= 100) client[o++] = (char)('0' + v / 100);
      if (v >= 10) client[o++] = (char)('0' + v / 10 % 10);
      client[o++] = (char)('0' + v % 10);
      if (k) client[o++] = '.';
    }
    client[o] = '\0';
  } else if (sa && sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, client, sizeof client);
  /* the route's pattern keeps the field's values few; unmatched paths are logged as sent (cut) */
  const char *route = cc->route >= 0 ? srv_routes(&(int){0})[cc->route].pattern : url ? url : "-";
  const char *meth = method ? method : "-";
  fmt_ts(ts);
  double ms = (reco__now() - cc->t0) * 1e3;
  size_t n = 0, cap = sizeof line - 2;
  bool json = g_log_json;
  if (json) {
    put_raw(line, &n, cap, "{\"ts\":\"");
    put_raw(line, &n, cap, ts);
    put_raw(line, &n, cap, "\",\"level\":\"");
    put_raw(line, &n, cap, k_level_names[level]);
    put_raw(line, &n, cap, "\",\"requestId\":\"");
    put_raw(line, &n, cap, cc->rid); /* sane by construction (rid_sane or rid_make) */
    put_raw(line, &n, cap, "\",\"method\":\"");
    put_str(line, &n, 600, meth, true);
    put_raw(line, &n, cap, "\",\"route\":\"");
    put_str(line, &n, 900, route, true);
    put_raw(line, &n, cap, "\",\"status\":");
    put_uint(line, &n, cap, (uint64_t)(status < 0 ? 0 : status));
    put_raw(line, &n, cap, ",\"latency_ms\":");
    put_ms(line, &n, cap, ms);
    put_raw(line, &n, cap, ",\"client\":\"");
    put_raw(line, &n, cap, client);
    put_raw(line, &n, cap, "\"}");
  } else {
    put_raw(line, &n, cap, ts);
    put_raw(line, &n, cap, " ");
    put_raw(line, &n, cap, k_level_names[level]);
    put_raw(line, &n, cap, " ");
    put_raw(line, &n, cap, cc->rid);
    put_raw(line, &n, cap, " ");
    put_str(line, &n, 600, meth, false);
    line[n++] = ' ';
    put_str(line, &n, 900, route, false);
    put_raw(line, &n, cap, " ");
    put_uint(line, &n, cap, (uint64_t)(status < 0 ? 0 : status));
    put_raw(line, &n, cap, " ");
    put_ms(line, &n, cap, ms);
    put_raw(line, &n, cap, "ms ");
    put_raw(line, &n, cap, client);
  }
  line[n++] = '\n';
  log_emit(line, n);
}

static bool rid_sane(const char *r) {
  size_t n = 0;
  for (; r[n]; n++) {
    char ch = r[n];
    if (n == 64 || !((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                     ch == '_' || ch == ':' || ch == '-'))
      return false;
  }
  return n > 0;
}

/* A generated request id: the process's start (so ids differ across restarts), then the
 * thread's slot and its own counter (no shared counter bounced between cores), in hex. */
static void rid_make(char out[72]) {
  static atomic_uint next_slot;
  static _Thread_local uint64_t seq, slot = UINT64_MAX;
  static uint32_t boot;
  static const char hex[] = "0123456789abcdef";
  if (!boot) boot = (uint32_t)(reco__wall_ms() ^ ((uint64_t)getpid() << 20)) | 1u;
  if (slot == UINT64_MAX) slot = atomic_fetch_add(&next_slot, 1) & 0xff;
  uint64_t v = (slot << 40) | (++seq & ((1ull << 40) - 1));
  for (int k = 0; k < 8; k++) out[k] = hex[(boot >> (28 - 4 * k)) & 15];
  out[8] = '-';
  for (int k = 0; k < 12; k++) out[9 + k] = hex[(v >> (44 - 4 * k)) & 15];
  out[21] = '\0';
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  msg[strcspn(msg, "\n")] = '\0';
  srv_log(RECO_LOG_WARN, "http: %s", msg);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
  (void)cls, (void)c, (void)toe;
  srv_conn *cc = *con_cls;
  if (cc) {
    /* invariant 3: resumed, but the connection ended before it could be answered */
    if (cc->finish) cc->finish(cc->fctx, NULL);
    atomic_fetch_sub(&cc->sv->n_active, 1);
    conn_put(cc);
    *con_cls = NULL;
  }
}

srv_pending *srv_defer(srv_req *rq, srv_finish_fn finish, void *ctx) {
  srv_conn *cc = rq->conn;
  cc->finish = finish;
  cc->fctx = ctx;
  atomic_fetch_add(&cc->sv->n_pending, 1);
  MHD_suspend_connection(cc->c); /* invariant 1: before the work is handed over */
  return cc;
}

void srv_resume(srv_pending *p) {
  /* invariant 2: nothing of p is touched after the resume */
  struct MHD_Connection *c = p->c;
  srv_server *sv = p->sv;
  MHD_resume_connection(c);
  atomic_fetch_sub(&sv->n_pending, 1);
}

static bool is_loopback(const struct sockaddr *sa) {
  if (!sa) return false;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *a = (const void *)sa;
    return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const void *)sa;
    if (IN6_IS_ADDR_LOOPBACK(&a->sin6_addr)) return true;
    return IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) && a->sin6_addr.s6_addr[12] == 127;
  }
  return sa->sa_family == AF_UNIX;
}

/* issue 6 (API roles): API_KEYS is "key[:role],..." (config.c validates it). Compares the
 * presented key with each configured one in constant time (the key part only) and returns the
 * matching key's role, SRV_ROLE_READ when it names none; -1 when no key matches. */
static int key_role(const char *keys, const char *given) {
  if (!given) return -1;
  size_t gl = strlen(given);
  int role = -1;
  for (const char *k = keys; *k;) {
    size_t el = strcspn(k, ","), kl = strcspn(k, ":,");
    if (kl > el) kl = el;
    unsigned diff = (unsigned)(kl ^ gl);
    for (size_t j = 0; j < kl; j++) diff |= (unsigned char)k[j] ^ (unsigned char)(j < gl ? given[j] : 0);
    if (kl > 0 && diff == 0) role = el - kl == 6 && !strncmp(k + kl, ":admin", 6) ? SRV_ROLE_ADMIN : SRV_ROLE_READ;
    k += el;
    if (*k == ',') k++;
  }
  return role;
}

/*
 * A spare response buffer per HTTP thread: a request's body starts in it (room for any usual
 * answer, so the handler's appends do not allocate), MHD gives it back through the free callback
 * once the response is sent, and the next request on the thread takes it again. Without it every
 * answer was a malloc and a free of a few KB (a large-bin size, so glibc also consolidated its
 * fast bins each time). Buffers of another size (grown past it) are freed as before.
 */
enum { SPARE_CAP = 16384, SPARE_UPLOAD = 4096 };
typedef struct spares {
  char *body;   /* a response buffer of SPARE_CAP bytes */
  srv_conn *conn; /* a request's context, with its upload buffer when that is small */
  bool keyed;   /* the key below points at this thread's spares (freed at thread exit) */
} spares;
static pthread_key_t g_spare_key;
static pthread_once_t g_spare_once = PTHREAD_ONCE_INIT;
static _Thread_local spares t_sp;

static void spares_free(void *p) {
  spares *sp = p;
  free(sp->body);
  if (sp->conn) free(sp->conn->body);
  free(sp->conn);
  sp->body = NULL, sp->conn = NULL;
}
static void spare_key(void) { pthread_key_create(&g_spare_key, spares_free); }
static void spares_keyed(void) {
  if (t_sp.keyed) return;
  pthread_once(&g_spare_once, spare_key);
  t_sp.keyed = !pthread_setspecific(g_spare_key, &t_sp);
}

static void body_take_spare(srv_buf *b) {
  char *p = t_sp.body;
  if (!p) {
    if (!(p = malloc(SPARE_CAP))) return;
    spares_keyed();
  }
  t_sp.body = NULL;
  b->p = p, b->cap = SPARE_CAP, b->len = 0, b->oom = false;
  b->p[0] = '\0';
}

/* MHD's free callback of a SPARE_CAP body (any thread): this thread's spare, or freed */
static void body_return(void *p) {
  if (t_sp.body) {
    free(p);
    return;
  }
  spares_keyed();
  t_sp.body = p;
}

/* A zeroed request context (its upload buffer kept when it came from the spare) */
static srv_conn *conn_get(void) {
  srv_conn *cc = t_sp.conn;
  if (!cc) return calloc(1, sizeof *cc);
  t_sp.conn = NULL;
  char *body = cc->body;
  size_t cap = cc->cap;
  memset(cc, 0, sizeof *cc);
  cc->body = body, cc->cap = cap;
  if (body) body[0] = '\0';
  return cc;
}

static void conn_put(srv_conn *cc) {
  if (cc->cap > SPARE_UPLOAD) {
    free(cc->body);
    cc->body = NULL, cc->cap = 0;
  }
  if (t_sp.conn) {
    free(cc->body);
    free(cc);
    return;
  }
  spares_keyed();
  t_sp.conn = cc;
}

static void body_release(srv_buf *b) {
  if (b->p && b->cap == SPARE_CAP) body_return(b->p);
  else free(b->p);
  memset(b, 0, sizeof *b);
}

static enum MHD_Result respond(struct MHD_Connection *c, const srv_conn *cc, int status, srv_resp *rs) {
  if (rs->body.oom || !rs->body.p) {
    body_release(&rs->body);
    status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    srv_buf_puts(&rs->body, "{\"status\":\"error\",\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}");
    if (!rs->body.p) return MHD_NO;
    rs->content_type = NULL;
  }
  struct MHD_Response *r =
      rs->body.cap == SPARE_CAP
          ? MHD_create_response_from_buffer_with_free_callback_cls(rs->body.len, rs->body.p, body_return, rs->body.p)
          : MHD_create_response_from_buffer(rs->body.len, rs->body.p, MHD_RESPMEM_MUST_FREE);
  if (!r) {
    body_release(&rs->body);
    return MHD_NO;
  }
  rs->body.p = NULL; /* MHD owns it now */
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rs->content_type ? rs->content_type : "application/json");
  if (rs->retry_after_s > 0) {
    char ra[16];
    snprintf(ra, sizeof ra, "%d", rs->retry_after_s);
    MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
  }
  MHD_add_response_header(r, "X-Request-Id", cc->rid);
  if (atomic_load_explicit(&cc->sv->draining, memory_order_relaxed))
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
  enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
  MHD_destroy_response(r);
  return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
  (void)version;
  srv_server *sv = cls;
  srv_conn *cc = *con_cls;
  if (!cc) {
    /* first call: headers only. Never answer here (keep-alive, see the top of this file). */
    if (!(cc = conn_get())) return MHD_NO;
    cc->t0 = reco__now();
    cc->sv = sv, cc->c = c, cc->route = -1;
    atomic_fetch_add(&sv->n_active, 1);
    const char *rid = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id");
    if (rid && rid_sane(rid)) snprintf(cc->rid, sizeof cc->rid, "%s", rid);
    else rid_make(cc->rid);
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    *con_cls = cc;
    /* the one exception: a declared body over the limit is refused before it is read (and
     * before "100 Continue"); MHD closes that connection, which is what we want */
    if (!(cl && strtoull(cl, NULL, 10) > sv->cfg.max_body)) return MHD_YES;
    cc->too_large = true;
  }
  srv_resp rs = {0};
  if (cc->finish) {
    /* the resumed call of a deferred request: its outcome is in; answer (invariant 3) */
    srv_finish_fn fin = cc->finish;
    cc->finish = NULL;
    body_take_spare(&rs.body);
    int st = fin(cc->fctx, &rs);
    srv_metrics_observe(cc->route, st, reco__now() - cc->t0);
    log_access(cc, method, url, st);
    return respond(c, cc, st, &rs);
  }
  if (!cc->too_large && *upload_size) {
    size_t n = *upload_size;
    if (cc->len + n > sv->cfg.max_body) {
      cc->too_large = true;
      free(cc->body);
      cc->body = NULL, cc->cap = 0;
      return on_request(cls, c, url, method, version, upload, upload_size, con_cls);
    } else {
      if (cc->len + n + 1 > cc->cap) {
        size_t cap = cc->cap ? cc->cap : 1024;
        while (cap < cc->len + n + 1) cap *= 2;
        char *p = realloc(cc->body, cap);
        if (!p) return MHD_NO;
        cc->body = p, cc->cap = cap;
      }
      memcpy(cc->body + cc->len, upload, n);
      cc->len += n;
      cc->body[cc->len] = '\0';
      *upload_size = 0;
      return MHD_YES;
    }
  }
  if (cc->too_large && *upload_size) {
    /* a body without Content-Length that outgrew the limit: MHD cannot answer in the middle
     * of an upload, so the rest is read and dropped (memory stays bounded), up to a point */
    cc->len += *upload_size;
    *upload_size = 0;
    return cc->len > 16 * sv->cfg.max_body ? MHD_NO : MHD_YES;
  }
  body_take_spare(&rs.body); /* from here on every path answers (or releases it) */
  if (cc->too_large) {
    int st = srv_error(&rs, 413, "payload_too_large", NULL,
                       "request body exceeds the limit of %zu bytes (MAX_BODY_BYTES)", sv->cfg.max_body);
    srv_metrics_observe(-1, st, reco__now() - cc->t0);
    log_access(cc, method, url, st);
    return respond(c, cc, st, &rs);
  }

  srv_req rq = {.cfg = &sv->cfg, .method = method, .path = url, .body = cc->body, .body_len = cc->len, .t0 = cc->t0,
                .conn = cc, .request_id = cc->rid};
  int route = srv_route_match(method, url, &rq), st;
  cc->route = route;
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  const char *path_name = route >= 0 ? srv_routes(&(int){0})[route].pattern : url;
  bool open_route = route >= 0 && strncmp(path_name, "/api/", 5);
  if (route >= 0 && srv_routes(&(int){0})[route].fn == srv_h_ws) open_route = false; /* /ws: keys as /api/v1/ws */
  if (sv->cfg.protected_mode && !sv->cfg.api_keys[0] && !is_loopback(ci ? ci->client_addr : NULL)) {
    st = srv_error(&rs, MHD_HTTP_FORBIDDEN, "protected_mode", NULL,
                   "protected mode: no API keys are configured, so only loopback clients are served; "
                   "set API_KEYS, or PROTECTED_MODE=no to serve every client without keys");
  } else if (sv->cfg.api_keys[0] && !open_route) {
    const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-API-Key");
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!key && auth && !strncmp(auth, "Bearer ", 7)) key = auth + 7;
    int role = key_role(sv->cfg.api_keys, key);
    if (role < 0) st = srv_error(&rs, MHD_HTTP_UNAUTHORIZED, "unauthenticated", NULL, "a valid API key is required (X-API-Key or Authorization: Bearer)");
    /* issue 6 (API roles): admin routes need an admin key */
    else if (route >= 0 && srv_routes(&(int){0})[route].role > role)
      st = srv_error(&rs, MHD_HTTP_FORBIDDEN, "forbidden", NULL, "%s %s needs an API key with the admin role", method, path_name);
    else goto dispatch;
  } else if (route >= 0 && srv_routes(&(int){0})[route].role == SRV_ROLE_ADMIN && !is_loopback(ci ? ci->client_addr : NULL)) {
    /* issue 6 (API roles): without keys, admin routes are for loopback clients only */
    st = srv_error(&rs, MHD_HTTP_FORBIDDEN, "forbidden", NULL,
                   "%s %s is an admin route: without API_KEYS it is served to loopback clients only", method, path_name);
  } else {
  dispatch:
    if (route == -1) st = srv_error(&rs, MHD_HTTP_NOT_FOUND, "not_found", NULL, "no such endpoint: %s %s", method, url);
    else if (route == -2) st = srv_error(&rs, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", NULL, "%s is not allowed on %s", method, url);
    else if (srv_ratelimit_deny(c, &sv->cfg, route, &rs, &st)) {} /* [rate limit hook] 429 before the handler (ratelimit.c) */
    else if (srv_routes(&(int){0})[route].fn == srv_h_ws) { /* push channel: ws.c answers the upgrade itself */
      body_release(&rs.body);
      enum MHD_Result r = (enum MHD_Result)srv_ws_upgrade(c, &rq, &st);
      srv_metrics_observe(route, st, reco__now() - cc->t0);
      return r;
    }
    else st = srv_routes(&(int){0})[route].fn(&rq, &rs);
  }
  if (st == SRV_DEFERRED && cc->finish) {
    /* suspended: the answer comes on the call after srv_resume */
    body_release(&rs.body);
    return MHD_YES;
  }
  srv_metrics_observe(route, st, reco__now() - cc->t0);
  log_access(cc, method, url, st);
  return respond(c, cc, st, &rs);
}

int srv_start(const srv_config *cfg, srv_server **out, char *msg, size_t msg_len) {
  *out = NULL;
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai = NULL;
  char port[16];
  snprintf(port, sizeof port, "%d", cfg->port);
  int gai = getaddrinfo(cfg->host, port, &hints, &ai);
  if (gai) {
    snprintf(msg, msg_len, "HOST %s: %s", cfg->host, gai_strerror(gai));
    return RECO_EINVAL;
  }
  srv_server *sv = calloc(1, sizeof *sv);
  if (!sv) {
    freeaddrinfo(ai);
    snprintf(msg, msg_len, "out of memory");
    return RECO_ENOMEM;
  }
  sv->cfg = *cfg;
  g_log_level = cfg->log_level, g_log_json = cfg->log_json, g_log_access = cfg->log_access;
  if (srv_ws_start(&sv->cfg)) { /* the push channel's thread (ws.c) */
    freeaddrinfo(ai);
    free(sv);
    snprintf(msg, msg_len, "cannot start the WebSocket push thread");
    return RECO_EIO;
  }
  if (srv_loader_start()) { /* the model loader's thread (loader.c) */
    srv_ws_stop();
    freeaddrinfo(ai);
    free(sv);
    snprintf(msg, msg_len, "cannot start the model loader thread");
    return RECO_EIO;
  }
  unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_USE_TURBO | MHD_ALLOW_SUSPEND_RESUME;
  flags |= MHD_ALLOW_UPGRADE; /* the push channel (ws.c) */
  if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
  struct MHD_OptionItem pool[] = {
      {cfg->threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, (intptr_t)cfg->threads, NULL},
      {MHD_OPTION_END, 0, NULL},
  };
  sv->d = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, on_request, sv,
                           MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, /* first, so every message goes here */
                           MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                           MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->conn_limit,
                           MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->conn_timeout_s,
                           /* MHD zeroes a connection's whole memory pool after every request:
                            * the pool is the request's headers and the response's, so its size is
                            * the header limit (MAX_HEADER_BYTES) and, per request, a memset */
                           MHD_OPTION_CONNECTION_MEMORY_LIMIT, cfg->max_header,
                           MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                           MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
                           MHD_OPTION_ARRAY, pool,
                           MHD_OPTION_END);
  freeaddrinfo(ai);
  if (!sv->d) {
    srv_loader_stop();
    srv_ws_stop();
    snprintf(msg, msg_len, "cannot listen on %s:%d (in use, or not an address of this machine)", cfg->host, cfg->port);
    free(sv);
    return RECO_EIO;
  }
  if (!g_flusher_on && srv_log_out) {
    atomic_store(&g_flusher_stop, false);
    g_flusher_on = !pthread_create(&g_flusher, NULL, flusher_main, NULL);
  }
  *out = sv;
  return 0;
}

void srv_stop(srv_server *sv) {
  if (!sv) return;
  srv_ws_stop(); /* closes the upgraded sockets first: MHD cannot stop while they are open */
  atomic_store(&sv->draining, true);
  MHD_socket lsock = MHD_quiesce_daemon(sv->d); /* no new connections from here on */
  double t0 = reco__now(), said = t0;
  for (;;) {
    int pending = atomic_load(&sv->n_pending), active = atomic_load(&sv->n_active);
    /* suspended requests always end (the store completes every queued record); requests
     * still uploading or running get STOP_WAIT_S */
    if (!pending && (!active || reco__now() - t0 > STOP_WAIT_S)) break;
    if (reco__now() - said > 5) {
      srv_log(RECO_LOG_WARN, "stopping: waiting for %d requests (%d awaiting a commit)", active, pending);
      said = reco__now();
    }
    struct timespec ms = {0, 2000000};
    nanosleep(&ms, NULL);
  }
  int left = atomic_load(&sv->n_active);
  log_flush_all(); /* the access lines of the finished requests come before the event */
  srv_log(left ? RECO_LOG_WARN : RECO_LOG_INFO, "stopped accepting; in-flight requests finished in %.3f s%s",
          reco__now() - t0, left ? " (some clients stalled and were cut)" : "");
  MHD_stop_daemon(sv->d);
  srv_loader_stop(); /* after the daemon: no handler submits any more; its queue is empty (no request is suspended) */
  if (lsock != MHD_INVALID_SOCKET) close(lsock);
  free(sv);
  /* the HTTP threads are gone: their buffers go out and are freed */
  if (g_flusher_on) {
    atomic_store(&g_flusher_stop, true);
    pthread_join(g_flusher, NULL);
    g_flusher_on = false;
  }
  pthread_mutex_lock(&g_bufs_mu);
  for (log_buf *b = g_bufs, *next; b; b = next) {
    next = b->next;
    log_buf_flush(b);
    pthread_mutex_destroy(&b->mu);
    free(b);
  }
  g_bufs = NULL;
  pthread_mutex_unlock(&g_bufs_mu);
}
