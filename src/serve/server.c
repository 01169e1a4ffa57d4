/*
 * server.c - libmicrohttpd wiring: one epoll-driven daemon with an internal thread pool (one
 * thread per core by default), bounded connections, per-connection idle timeout, bounded bodies
 * (413), protected mode and API keys, then dispatch through the route table (routes.c).
 *
 * The access-handler protocol, and its trap: MHD calls the handler once when the headers are in
 * (we allocate the per-request state and return), then once per body chunk (we append it), then
 * a last time with *upload_data_size == 0, where we answer. Answering on the *first* call makes
 * MHD close keep-alive connections, which costs several times the throughput (DESIGN.md s. 1).
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/base.h"
#include "serve.h"

struct srv_server {
  struct MHD_Daemon *d;
  srv_config cfg;
};

typedef struct srv_conn {
  double t0;
  char *body;
  size_t len, cap;
  bool too_large;
} srv_conn;

static void mhd_log(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  msg[strcspn(msg, "\n")] = '\0';
  reco__log(RECO_LOG_WARN, "http: %s", msg);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
  (void)cls, (void)c, (void)toe;
  srv_conn *cc = *con_cls;
  if (cc) {
    free(cc->body);
    free(cc);
    *con_cls = NULL;
  }
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

static enum MHD_Result respond(struct MHD_Connection *c, int status, srv_resp *rs) {
  if (rs->body.oom || !rs->body.p) {
    srv_buf_free(&rs->body);
    status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    srv_buf_puts(&rs->body, "{\"status\":\"error\",\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}");
    if (!rs->body.p) return MHD_NO;
    rs->content_type = NULL;
  }
  struct MHD_Response *r = MHD_create_response_from_buffer(rs->body.len, rs->body.p, MHD_RESPMEM_MUST_FREE);
  if (!r) {
    srv_buf_free(&rs->body);
    return MHD_NO;
  }
  rs->body.p = NULL; /* MHD owns it now */
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rs->content_type ? rs->content_type : "application/json");
  if (rs->retry_after_s > 0) {
    char ra[16];
    snprintf(ra, sizeof ra, "%d", rs->retry_after_s);
    MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
  }
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
    if (!(cc = calloc(1, sizeof *cc))) return MHD_NO;
    cc->t0 = reco__now();
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    *con_cls = cc;
    /* the one exception: a declared body over the limit is refused before it is read (and
     * before "100 Continue"); MHD closes that connection, which is what we want */
    if (!(cl && strtoull(cl, NULL, 10) > sv->cfg.max_body)) return MHD_YES;
    cc->too_large = true;
  }
  srv_resp rs = {0};
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
  if (cc->too_large) {
    int st = srv_error(&rs, 413, "payload_too_large", NULL,
                       "request body exceeds the limit of %zu bytes (MAX_BODY_BYTES)", sv->cfg.max_body);
    srv_metrics_observe(-1, st, reco__now() - cc->t0);
    return respond(c, st, &rs);
  }

  srv_req rq = {.cfg = &sv->cfg, .method = method, .path = url, .body = cc->body, .body_len = cc->len, .t0 = cc->t0};
  int route = srv_route_match(method, url, &rq), st;
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  const char *path_name = route >= 0 ? srv_routes(&(int){0})[route].pattern : url;
  bool open_route = route >= 0 && strncmp(path_name, "/api/", 5);
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
    else st = srv_routes(&(int){0})[route].fn(&rq, &rs);
  }
  srv_metrics_observe(route, st, reco__now() - cc->t0);
  return respond(c, st, &rs);
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
  unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_USE_TURBO;
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
                           MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                           MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
                           MHD_OPTION_ARRAY, pool,
                           MHD_OPTION_END);
  freeaddrinfo(ai);
  if (!sv->d) {
    snprintf(msg, msg_len, "cannot listen on %s:%d (in use, or not an address of this machine)", cfg->host, cfg->port);
    free(sv);
    return RECO_EIO;
  }
  *out = sv;
  return 0;
}

void srv_stop(srv_server *sv) {
  if (!sv) return;
  MHD_stop_daemon(sv->d);
  free(sv);
}
