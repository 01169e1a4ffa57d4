/*
 * ws.c - the push channel: a WebSocket endpoint (GET /api/v1/ws, also /ws) where a client
 * subscribes for users and receives fresh recommendations after each of their acknowledged
 * interactions. RFC 6455 is implemented here on top of libmicrohttpd's HTTP upgrade.
 *
 * Threads and ownership:
 *   - MHD worker (srv_ws_upgrade): validates the handshake, answers 101 with
 *     Sec-WebSocket-Accept = base64(SHA-1(key + GUID)) (RFC 6455 s. 4.2.2). After the 101 went
 *     out, MHD calls upgraded(), still on its worker, which only hands the socket to the push
 *     thread (the adopt list + an eventfd) and returns: an upgraded socket never blocks MHD.
 *   - The interaction path (srv_ws_notify, after the durable ack): a lookup in the table of
 *     subscribed users and, when the user is there, marks it pending and queues it. It never
 *     computes anything and never waits on a socket. A user already pending is not queued
 *     twice: interactions arriving before the push thread gets to it are coalesced into one
 *     push (carrying the newest interactionId and the count). The queue holds at most one
 *     entry per subscribed user, so it is bounded by WS_MAX_CLIENTS x WS_MAX_SUBS.
 *   - The push thread (push_main) owns every connection: one epoll over the upgraded sockets
 *     and the eventfd. It parses frames, answers messages, computes recommendations by calling
 *     srv_h_recommend itself with a synthesised request (so the push carries exactly what
 *     /recommend would answer), writes frames into each connection's bounded outgoing buffer
 *     and flushes them without blocking (EPOLLOUT while bytes remain), pings idle clients and
 *     times out unanswered closes.
 *   g_mu guards the user table, the pending queue and the adopt list. The subscription lists
 *   hanging off the table are changed only by the push thread (under g_mu) and read by it
 *   without the lock; notify only reads whether a user has any.
 *
 * A connection's states: OPEN --(we send close: error, slow consumer, ping timeout, shutdown)-->
 * CLOSING --(client's close arrives, or WS_CLOSE_WAIT_S passes)--> dead. OPEN --(client's
 * close)--> we echo it and the connection is dead once the echo is flushed. A read error or
 * EOF makes it dead at once. Dead connections are reaped at the end of a loop turn (reap()):
 * epoll entry removed, subscriptions dropped, MHD_upgrade_action(CLOSE) (MHD owns the socket).
 *
 * Limits: a client's message (fragments reassembled) is at most WS_MAX_MESSAGE bytes, else
 * close 1009; protocol errors (unmasked frame, reserved bits or opcodes, a control frame
 * fragmented or over 125 bytes, a continuation out of place, a bad close code) close 1002;
 * text that is not UTF-8 closes 1007. Bad JSON or an unknown message gets a {"type":"error"}
 * and the connection stays. Unsent bytes per connection are capped at WS_MAX_OUTBUF: a client
 * that does not read is closed with 1008 (its pushes would otherwise pile up in memory).
 *
 * /metrics (srv_ws_metrics): the clients and subscriptions gauges, connections accepted and
 * refused, text messages sent, pushes sent, interactions coalesced into a pending push,
 * messages dropped unsent (cut from a slow consumer's queue, or refused because the
 * connection was closing), and every connection's end by reason. A connection's reason is the
 * first close decision (note_close) and is counted once, in conn_free; one that just vanished
 * (EOF or reset without a close frame) is "gone". Relaxed atomics: the push thread writes them,
 * notify (HTTP threads) counts the coalesced interactions.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/base.h"
#include "serve.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_MAX_SUB_BODY 4096 /* a subscription's /recommend body (its filters): memory per sub */
#define WS_MAX_ID 256
#define WS_IN_CAP (WS_MAX_MESSAGE + 14) /* one whole frame of the largest message fits */
#define WS_CLOSE_WAIT_S 2.0             /* after our close frame left, how long the client has to answer */
#define WS_CLOSE_HARD_S 10.0            /* after we decided to close, the most we wait in all */
#define WS_TICK_MS 200                  /* timer resolution of pings and close timeouts */
#define WS_BUCKETS 4096
#define WS_SOCK_SNDBUF (128 * 1024)  /* SO_SNDBUF of an upgraded socket (Linux doubles it) */
#define WS_BATCH 256                    /* pending users taken off the queue per lock */

enum { OP_CONT = 0x0, OP_TEXT = 0x1, OP_BIN = 0x2, OP_CLOSE = 0x8, OP_PING = 0x9, OP_PONG = 0xA };
enum { ST_OPEN, ST_CLOSING };
/* why a connection ended (reco_ws_closes_total's reason label) */
enum { WHY_NONE = -1, WHY_CLIENT, WHY_GONE, WHY_SLOW, WHY_PROTOCOL, WHY_TOO_BIG, WHY_PING, WHY_SHUTDOWN, WHY_ERROR, WHY_N };
static const char *const k_why[WHY_N] = {"client",  "gone",         "slow_consumer", "protocol_error",
                                         "too_big", "ping_timeout", "shutdown",      "error"};

static struct {
  atomic_uint_fast64_t connections, refused, messages, pushes, coalesced, dropped, closes[WHY_N];
} g_stat;
#define STAT_ADD(f, n) atomic_fetch_add_explicit(&g_stat.f, (n), memory_order_relaxed)
#define STAT_SUB(f, n) atomic_fetch_sub_explicit(&g_stat.f, (n), memory_order_relaxed)

typedef struct ws_user ws_user;
typedef struct ws_conn ws_conn;

typedef struct ws_sub {
  ws_conn *conn;
  ws_user *user;
  struct ws_sub *next; /* the user's subscriptions, on every connection */
  char *body;          /* the /recommend request this subscription replays */
  size_t body_len;
} ws_sub;

struct ws_user {
  ws_user *hnext, *qnext; /* hash chain; pending queue */
  ws_sub *subs;
  char *id;
  size_t len;
  bool pending;
  int64_t iid;     /* the newest interaction not yet pushed */
  int n_coalesced; /* interactions since the last push */
};

struct ws_conn {
  ws_conn *next; /* the push thread's list of connections (or the adopt list) */
  int fd;
  struct MHD_UpgradeResponseHandle *urh;
  int state;
  bool dead, close_after_flush, want_out;
  bool failed, shut; /* a protocol error: input is no longer parsed; our side shut once flushed */
  int why;           /* WHY_*: the first close decision, counted by conn_free */
  uint8_t *in; /* WS_IN_CAP: bytes read, not yet a whole frame */
  size_t in_len;
  uint8_t *msg; /* WS_MAX_MESSAGE: the fragmented message being reassembled */
  size_t msg_len;
  int msg_op; /* OP_TEXT/OP_BIN while a fragmented message is open, else 0 */
  srv_buf out;
  size_t out_off;   /* sent up to here */
  size_t frame_end; /* end of the frame holding byte out_off: where the queue may be cut */
  double last_rx, ping_at, close_at, close_sent_at; /* close_sent_at: our close frame fully sent */
  ws_sub *subs[WS_MAX_SUBS];
  int n_subs;
  char *first_sub; /* the subscription of the URL's query, done on adoption */
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static ws_user *g_users[WS_BUCKETS];
static ws_user *g_qhead, *g_qtail;
static ws_conn *g_adopt;   /* upgraded, waiting for the push thread */
static bool g_running;     /* under g_mu: the push thread takes connections */
static int g_n_conns;      /* under g_mu: adopted or waiting */
static atomic_int g_n_subs; /* lets notify skip the lock when nobody listens */
static atomic_bool g_stop;
static int g_ep = -1, g_ev = -1;
static pthread_t g_thread;
static const srv_config *g_cfg;
static int g_max_clients; /* WS_MAX_CLIENTS, at most half of MAX_CONNECTIONS (see srv_ws_start) */
static ws_conn *g_conns; /* push thread only */
static srv_buf g_tmp;    /* push thread only: a message being composed */

static uint32_t hash_id(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t k = 0; k < n; k++) h = (h ^ (uint8_t)s[k]) * 16777619u;
  return h;
}

/* under g_mu */
static ws_user *user_find(const char *id, size_t len, bool create) {
  uint32_t b = hash_id(id, len) % WS_BUCKETS;
  for (ws_user *u = g_users[b]; u; u = u->hnext)
    if (u->len == len && !memcmp(u->id, id, len)) return u;
  if (!create) return NULL;
  ws_user *u = calloc(1, sizeof *u);
  if (!u || !(u->id = malloc(len + 1))) {
    free(u);
    return NULL;
  }
  memcpy(u->id, id, len);
  u->id[len] = '\0';
  u->len = len;
  u->hnext = g_users[b];
  g_users[b] = u;
  return u;
}

/* under g_mu: frees a user nobody subscribes to and nothing has queued */
static void user_release(ws_user *u) {
  if (u->subs || u->pending) return;
  ws_user **pp = &g_users[hash_id(u->id, u->len) % WS_BUCKETS];
  while (*pp != u) pp = &(*pp)->hnext;
  *pp = u->hnext;
  free(u->id);
  free(u);
}

static void wake(void) {
  uint64_t one = 1;
  if (g_ev >= 0 && write(g_ev, &one, sizeof one) < 0 && errno != EAGAIN) reco__log(RECO_LOG_WARN, "ws: eventfd: %s", strerror(errno));
}

void srv_ws_notify(const char *user, size_t user_len, int64_t interaction_id) {
  if (atomic_load_explicit(&g_n_subs, memory_order_relaxed) == 0) return;
  bool queued = false;
  pthread_mutex_lock(&g_mu);
  ws_user *u = g_running ? user_find(user, user_len, false) : NULL;
  if (u && u->subs) {
    u->iid = interaction_id;
    u->n_coalesced++;
    if (u->pending) STAT_ADD(coalesced, 1); /* folded into the push already queued */
    if (!u->pending) {
      u->pending = queued = true;
      u->qnext = NULL;
      if (g_qtail) g_qtail->qnext = u;
      else g_qhead = u;
      g_qtail = u;
    }
  }
  pthread_mutex_unlock(&g_mu);
  if (queued) wake();
}

/* ---- frames out ---- */

/* The first close decision wins (a protocol error's close is not also a "client" close). */
static void note_close(ws_conn *c, int why) {
  if (c->why == WHY_NONE) c->why = why;
}

static void conn_flush(ws_conn *c);

/* Advances frame_end past the frames sent completely (the queue holds whole frames). */
static void track_frames(ws_conn *c) {
  while (c->frame_end <= c->out_off && c->frame_end < c->out.len) {
    const uint8_t *h = (const uint8_t *)c->out.p + c->frame_end;
    size_t n = h[1] & 0x7f, hl = 2;
    if (n == 126) n = (size_t)h[2] << 8 | h[3], hl = 4;
    else if (n == 127) {
      n = 0;
      for (int k = 0; k < 8; k++) n = n << 8 | h[2 + k];
      hl = 10;
    }
    c->frame_end += hl + n;
  }
}

static void append_frame(ws_conn *c, int op, const void *data, size_t n) {
  uint8_t h[10];
  size_t hl = 2;
  h[0] = (uint8_t)(0x80 | op);
  if (n < 126) {
    h[1] = (uint8_t)n;
  } else if (n <= 0xffff) {
    h[1] = 126, h[2] = (uint8_t)(n >> 8), h[3] = (uint8_t)n;
    hl = 4;
  } else {
    h[1] = 127;
    for (int k = 0; k < 8; k++) h[2 + k] = (uint8_t)((uint64_t)n >> (56 - 8 * k));
    hl = 10;
  }
  srv_buf_put(&c->out, (const char *)h, hl);
  srv_buf_put(&c->out, data, n);
  if (c->out.oom) { /* cannot even say goodbye */
    note_close(c, WHY_ERROR);
    c->dead = true;
  }
}

/* Text frames (messages) in out.p[from, to): what a slow consumer's cut drops. */
static uint64_t count_text_frames(const ws_conn *c, size_t from, size_t to) {
  uint64_t n_text = 0;
  while (from + 2 <= to) {
    const uint8_t *h = (const uint8_t *)c->out.p + from;
    size_t n = h[1] & 0x7f, hl = 2;
    if (n == 126) n = (size_t)h[2] << 8 | h[3], hl = 4;
    else if (n == 127) {
      n = 0;
      for (int k = 0; k < 8; k++) n = n << 8 | h[2 + k];
      hl = 10;
    }
    n_text += (h[0] & 0x0f) == OP_TEXT;
    from += hl + n;
  }
  return n_text;
}

/* Queues one unmasked frame (server frames are never masked, RFC 6455 s. 5.1) and flushes
 * what the socket takes. Data frames respect WS_MAX_OUTBUF: a client that lets them pile up
 * is a slow consumer. Its queue is cut after the frame in flight (the pushes it has not
 * taken are stale anyway) and a close 1008 goes next, so the close is not stuck behind
 * half a megabyte that the client may never read. force: close frames (at most 127 bytes),
 * which go out even then. */
static bool frame_out(ws_conn *c, int op, const void *data, size_t n, bool force) {
  if (c->dead || (c->state == ST_CLOSING && !force)) {
    if (op == OP_TEXT) STAT_ADD(dropped, 1);
    return false;
  }
  if (!force && c->out.len - c->out_off + n + 10 > WS_MAX_OUTBUF) {
    static const char why[] = "slow consumer: outgoing buffer full";
    uint8_t pl[2 + sizeof why - 1] = {1008 >> 8, 1008 & 0xff};
    memcpy(pl + 2, why, sizeof why - 1);
    note_close(c, WHY_SLOW);
    track_frames(c);
    STAT_ADD(dropped, (op == OP_TEXT) + (c->out.len > c->frame_end ? count_text_frames(c, c->frame_end, c->out.len) : 0));
    if (c->out.len > c->frame_end) c->out.len = c->frame_end;
    append_frame(c, OP_CLOSE, pl, sizeof pl);
    c->state = ST_CLOSING;
    c->close_at = reco__now();
    conn_flush(c);
    return false;
  }
  append_frame(c, op, data, n);
  bool queued = !c->dead;
  conn_flush(c);
  return queued;
}

static void send_close(ws_conn *c, int code, const char *why) {
  if (c->state != ST_OPEN || c->dead) return;
  uint8_t pl[125];
  size_t wl = strlen(why);
  if (wl > sizeof pl - 2) wl = sizeof pl - 2;
  pl[0] = (uint8_t)(code >> 8), pl[1] = (uint8_t)code;
  memcpy(pl + 2, why, wl);
  c->state = ST_CLOSING; /* first: the flush notes when the close frame is out (close_sent_at) */
  c->close_at = reco__now();
  frame_out(c, OP_CLOSE, pl, 2 + wl, true);
}

/* Whether the message was queued (for the counters). */
static bool send_text(ws_conn *c, const srv_buf *b) {
  if (b->oom) {
    note_close(c, WHY_ERROR);
    send_close(c, 1011, "out of memory");
    return false;
  }
  /* counted before it is queued: a client that has read it must find it in /metrics */
  STAT_ADD(messages, 1);
  if (frame_out(c, OP_TEXT, b->p, b->len, false)) return true;
  STAT_SUB(messages, 1);
  return false;
}

static void watch(ws_conn *c, bool out) {
  if (c->want_out == out || c->dead) return;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (out ? EPOLLOUT : 0), .data.ptr = c};
  if (epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev) == 0) c->want_out = out;
  else c->dead = true;
}

static void conn_flush(ws_conn *c) {
  while (!c->dead && c->out_off < c->out.len) {
    ssize_t w = send(c->fd, c->out.p + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
    if (w > 0) {
      c->out_off += (size_t)w;
      track_frames(c);
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      /* compact, so a steady trickle does not grow the buffer */
      if (c->out_off > c->out.len / 2) {
        memmove(c->out.p, c->out.p + c->out_off, c->out.len - c->out_off);
        c->out.len -= c->out_off;
        c->frame_end -= c->out_off;
        c->out_off = 0;
      }
      watch(c, true);
      return;
    } else {
      c->dead = true;
      return;
    }
  }
  c->out_off = c->out.len = c->frame_end = 0;
  if (c->out.cap > 64 * 1024) srv_buf_free(&c->out); /* a burst's buffer is not kept per client */
  if (c->state == ST_CLOSING && c->close_sent_at == 0) c->close_sent_at = reco__now();
  if (c->close_after_flush) c->dead = true;
  if (c->failed && !c->shut && !c->dead) {
    shutdown(c->fd, SHUT_WR);
    c->shut = true;
  }
  watch(c, false);
}

/* ---- messages out ---- */

static void msg_error(ws_conn *c, const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void msg_error(ws_conn *c, const char *code, const char *field, const char *fmt, ...) {
  char m[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m, sizeof m, fmt, ap);
  va_end(ap);
  srv_buf *b = &g_tmp;
  srv_buf_reset(b);
  srv_buf_puts(b, "{\"type\":\"error\",\"error\":{\"code\":");
  srv_buf_jstr(b, code);
  srv_buf_puts(b, ",\"message\":");
  srv_buf_jstr(b, m);
  if (field) {
    srv_buf_puts(b, ",\"field\":");
    srv_buf_jstr(b, field);
  }
  srv_buf_puts(b, "}}");
  send_text(c, b);
}

/* Sends the answer of srv_h_recommend (status st, body rs) as {"type":"recommendations",...}
 * with the handler's result, or as {"type":"error",...} with the handler's error object (its
 * field named). The envelope is replaced, not re-parsed: the handler writes it first. */
static bool send_recs(ws_conn *c, const char *user, size_t user_len, const char *trigger, int64_t iid, int n_coalesced,
                      int st, const srv_resp *rs) {
  static const char ok_prefix[] = "{\"status\":\"success\",\"result\":";
  static const char err_prefix[] = "{\"status\":\"error\",\"error\":";
  srv_buf *b = &g_tmp;
  srv_buf_reset(b);
  const char *p = rs->body.p && !rs->body.oom ? rs->body.p : "";
  size_t n = rs->body.p && !rs->body.oom ? rs->body.len : 0;
  bool ok = st == 200 && n > sizeof ok_prefix && !memcmp(p, ok_prefix, sizeof ok_prefix - 1);
  bool err = !ok && n > sizeof err_prefix && !memcmp(p, err_prefix, sizeof err_prefix - 1);
  srv_buf_puts(b, ok ? "{\"type\":\"recommendations\",\"userId\":" : "{\"type\":\"error\",\"userId\":");
  srv_buf_jstrn(b, user, user_len);
  srv_buf_puts(b, ",\"trigger\":");
  srv_buf_jstr(b, trigger);
  if (iid >= 0) srv_buf_printf(b, ",\"interactionId\":\"%lld\",\"coalesced\":%d", (long long)iid, n_coalesced);
  if (ok) {
    srv_buf_puts(b, ",\"result\":");
    srv_buf_put(b, p + sizeof ok_prefix - 1, n - (sizeof ok_prefix - 1) - 1); /* without the envelope's } */
    srv_buf_puts(b, "}");
  } else if (err) {
    srv_buf_puts(b, ",\"error\":");
    srv_buf_put(b, p + sizeof err_prefix - 1, n - (sizeof err_prefix - 1) - 1);
    srv_buf_puts(b, "}");
  } else {
    srv_buf_printf(b, ",\"error\":{\"code\":\"internal\",\"message\":\"recommend answered HTTP %d\"}}", st);
  }
  return send_text(c, b);
}

/* The subscription's request through the /recommend handler itself, so a push is exactly what
 * POST /api/v1/recommend would answer now. */
static int run_recommend(const char *body, size_t body_len, srv_resp *rs) {
  srv_req rq = {.cfg = g_cfg, .method = "POST", .path = "/api/v1/recommend", .body = body, .body_len = body_len,
                .t0 = reco__now()};
  return srv_h_recommend(&rq, rs);
}

static void push_recs(ws_conn *c, const ws_sub *s, int64_t iid, int n_coalesced) {
  if (c->dead || c->state != ST_OPEN) {
    STAT_ADD(dropped, 1); /* the connection is closing: not computed */
    return;
  }
  srv_resp rs = {0};
  int st = run_recommend(s->body, s->body_len, &rs);
  STAT_ADD(pushes, 1); /* before it can reach the client (as send_text's count) */
  if (!send_recs(c, s->user->id, s->user->len, "interaction", iid, n_coalesced, st, &rs)) STAT_SUB(pushes, 1);
  srv_buf_free(&rs.body);
}

/* ---- subscriptions (push thread) ---- */

static int find_sub(const ws_conn *c, const char *user, size_t len) {
  for (int k = 0; k < c->n_subs; k++)
    if (c->subs[k]->user->len == len && !memcmp(c->subs[k]->user->id, user, len)) return k;
  return -1;
}

static void drop_sub(ws_conn *c, int k) {
  ws_sub *s = c->subs[k];
  pthread_mutex_lock(&g_mu);
  ws_sub **pp = &s->user->subs;
  while (*pp != s) pp = &(*pp)->next;
  *pp = s->next;
  user_release(s->user);
  pthread_mutex_unlock(&g_mu);
  atomic_fetch_sub(&g_n_subs, 1);
  free(s->body);
  free(s);
  c->subs[k] = c->subs[--c->n_subs];
}

/* {"type":"subscribe","userId":..,...}: the rest of the message is the /recommend body. The
 * first computation validates it (the handler names a bad field) and is sent at once. */
static void on_subscribe(ws_conn *c, json_t *j) {
  json_t *u = json_object_get(j, "userId");
  if (!json_is_string(u) || json_string_length(u) == 0 || json_string_length(u) > WS_MAX_ID) {
    msg_error(c, "invalid_argument", "userId", "userId is required: a non-empty string of at most %d bytes", WS_MAX_ID);
    return;
  }
  const char *user = json_string_value(u);
  size_t ul = json_string_length(u);
  int k = find_sub(c, user, ul);
  if (k < 0 && c->n_subs == WS_MAX_SUBS) {
    msg_error(c, "limit_exceeded", "userId", "at most %d subscriptions per connection: unsubscribe one first", WS_MAX_SUBS);
    return;
  }
  json_object_del(j, "type");
  char *body = json_dumps(j, JSON_COMPACT);
  if (!body) {
    msg_error(c, "unavailable", NULL, "out of memory");
    return;
  }
  size_t bl = strlen(body);
  if (bl > WS_MAX_SUB_BODY) {
    free(body);
    msg_error(c, "invalid_argument", "filters", "a subscription's request is at most %d bytes of JSON", WS_MAX_SUB_BODY);
    return;
  }
  /* Registered before the first computation: an interaction acknowledged from now on is
   * pushed after this first list, none falls between the two. */
  char *old = NULL;
  if (k >= 0) {
    old = c->subs[k]->body; /* a second subscribe for the same user replaces its request */
    c->subs[k]->body = body;
    c->subs[k]->body_len = bl;
  } else {
    ws_sub *s = calloc(1, sizeof *s);
    pthread_mutex_lock(&g_mu);
    ws_user *wu = s ? user_find(user, ul, true) : NULL;
    if (wu) {
      s->conn = c, s->user = wu, s->body = body, s->body_len = bl;
      s->next = wu->subs;
      wu->subs = s;
      k = c->n_subs;
      c->subs[c->n_subs++] = s;
      atomic_fetch_add(&g_n_subs, 1);
    }
    pthread_mutex_unlock(&g_mu);
    if (!wu) {
      free(s);
      free(body);
      msg_error(c, "unavailable", NULL, "out of memory");
      return;
    }
  }
  /* the first answer validates the request (the handler names a bad field) */
  srv_resp rs = {0};
  int st = run_recommend(body, bl, &rs);
  if (st != 200) {
    send_recs(c, user, ul, "subscribe", -1, 0, st, &rs);
    srv_buf_free(&rs.body);
    if (old) { /* the previous request stays */
      c->subs[k]->body = old;
      c->subs[k]->body_len = strlen(old);
      free(body);
    } else {
      drop_sub(c, k);
    }
    return;
  }
  free(old);
  srv_buf *b = &g_tmp;
  srv_buf_reset(b);
  srv_buf_puts(b, "{\"type\":\"subscribed\",\"userId\":");
  srv_buf_jstrn(b, user, ul);
  srv_buf_printf(b, ",\"subscriptions\":%d}", c->n_subs);
  send_text(c, b);
  send_recs(c, user, ul, "subscribe", -1, 0, st, &rs);
  srv_buf_free(&rs.body);
}

static void on_unsubscribe(ws_conn *c, json_t *j) {
  json_t *u = json_object_get(j, "userId");
  if (u && !json_is_null(u) && !json_is_string(u)) {
    msg_error(c, "invalid_argument", "userId", "userId must be a string (or absent: every subscription)");
    return;
  }
  srv_buf *b = &g_tmp;
  if (json_is_string(u)) {
    int k = find_sub(c, json_string_value(u), json_string_length(u));
    if (k < 0) {
      msg_error(c, "not_found", "userId", "not subscribed to this userId");
      return;
    }
    drop_sub(c, k);
  } else {
    while (c->n_subs) drop_sub(c, c->n_subs - 1);
  }
  srv_buf_reset(b);
  srv_buf_puts(b, "{\"type\":\"unsubscribed\",\"userId\":");
  if (json_is_string(u)) srv_buf_jstrn(b, json_string_value(u), json_string_length(u));
  else srv_buf_puts(b, "null");
  srv_buf_printf(b, ",\"subscriptions\":%d}", c->n_subs);
  send_text(c, b);
}

static void on_message(ws_conn *c, int op, const uint8_t *p, size_t n) {
  if (op == OP_BIN) {
    msg_error(c, "invalid_argument", "type", "binary messages are not supported: send JSON text");
    return;
  }
  if (reco__utf8_invalid_at((const char *)p, n) >= 0) {
    note_close(c, WHY_PROTOCOL);
    send_close(c, 1007, "text is not valid UTF-8");
    return;
  }
  json_error_t e;
  json_t *j = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &e);
  if (!j || !json_is_object(j)) {
    if (j) msg_error(c, "invalid_argument", NULL, "a message must be a JSON object");
    else msg_error(c, "invalid_json", NULL, "invalid JSON at line %d, column %d: %s", e.line, e.column, e.text);
    json_decref(j);
    return;
  }
  const char *t = json_string_value(json_object_get(j, "type"));
  if (t && !strcmp(t, "subscribe")) {
    on_subscribe(c, j);
  } else if (t && !strcmp(t, "unsubscribe")) {
    on_unsubscribe(c, j);
  } else if (t && !strcmp(t, "ping")) {
    srv_buf_reset(&g_tmp);
    srv_buf_printf(&g_tmp, "{\"type\":\"pong\",\"time\":%lld}", (long long)reco__wall_ms());
    send_text(c, &g_tmp);
  } else {
    msg_error(c, "invalid_argument", "type", "type must be one of subscribe, unsubscribe, ping");
  }
  json_decref(j);
}

/* ---- frames in ---- */

static bool close_code_ok(int code) {
  /* RFC 6455 s. 7.4: 1004-1006 and 1015 are never sent; 1012-1014 are IANA-registered since */
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/* A protocol error ("fail the WebSocket connection", s. 7.1.7): the close frame, then no more
 * parsing (the stream is out of step); once the frame is out we shut our side and read what
 * still comes until EOF, so the close is not lost to a reset for unread data. */
static bool fail(ws_conn *c, int code, const char *why) {
  note_close(c, code == 1009 ? WHY_TOO_BIG : WHY_PROTOCOL);
  if (c->state == ST_OPEN) send_close(c, code, why);
  c->failed = true;
  c->in_len = 0;
  if (!c->dead) conn_flush(c);
  return false;
}

/* Parses every whole frame in c->in; false when the connection must stop reading. After our
 * close (CLOSING) frames are still parsed, to find the client's close, but data is dropped. */
static bool parse_frames(ws_conn *c) {
  size_t at = 0;
  bool go = true;
  while (go && !c->dead) {
    uint8_t *h = c->in + at;
    size_t avail = c->in_len - at;
    if (avail < 2) break;
    bool fin = h[0] & 0x80;
    int op = h[0] & 0x0f;
    uint64_t n = h[1] & 0x7f;
    size_t hl = 2;
    if (h[0] & 0x70) return fail(c, 1002, "reserved bits set: no extension was negotiated");
    if (!(h[1] & 0x80)) return fail(c, 1002, "client frames must be masked");
    if (op >= 0x3 && op != OP_CLOSE && op != OP_PING && op != OP_PONG) return fail(c, 1002, "reserved opcode");
    if (n == 126) {
      if (avail < 4) break;
      n = (uint64_t)h[2] << 8 | h[3];
      hl = 4;
    } else if (n == 127) {
      if (avail < 10) break;
      n = 0;
      for (int k = 0; k < 8; k++) n = n << 8 | h[2 + k];
      if (n >> 63) return fail(c, 1002, "payload length's top bit set");
      hl = 10;
    }
    bool control = op >= 0x8;
    if (control && (!fin || n > 125)) return fail(c, 1002, "control frames are unfragmented and at most 125 bytes");
    if (!control) {
      if (op == OP_CONT && !c->msg_op) return fail(c, 1002, "continuation without a message");
      if (op != OP_CONT && c->msg_op) return fail(c, 1002, "a new message inside a fragmented one");
      /* refused from the header alone: such a payload is never buffered */
      if (n > WS_MAX_MESSAGE - (op == OP_CONT ? c->msg_len : 0)) return fail(c, 1009, "message too big");
    }
    if (avail < hl + 4 + n) break;
    const uint8_t *mask = h + hl;
    uint8_t *pl = h + hl + 4;
    for (uint64_t k = 0; k < n; k++) pl[k] ^= mask[k & 3];
    at += hl + 4 + n;
    if (op == OP_PING) {
      frame_out(c, OP_PONG, pl, n, false);
    } else if (op == OP_PONG) {
      /* any traffic counts as alive (last_rx); nothing else to do */
    } else if (op == OP_CLOSE) {
      int code = 1000;
      if (n == 1) return fail(c, 1002, "a close payload starts with a 2-byte code");
      if (n >= 2) {
        code = pl[0] << 8 | pl[1];
        if (!close_code_ok(code)) return fail(c, 1002, "invalid close code");
        if (reco__utf8_invalid_at((const char *)pl + 2, n - 2) >= 0) return fail(c, 1007, "close reason is not UTF-8");
      }
      note_close(c, WHY_CLIENT); /* unless we closed first */
      if (c->state == ST_OPEN) { /* the client closes: echo its code (s. 5.5.1) */
        uint8_t echo[2] = {(uint8_t)(code >> 8), (uint8_t)code};
        frame_out(c, OP_CLOSE, echo, 2, true);
        c->state = ST_CLOSING;
      }
      /* the handshake is complete either way: hang up once our frames are out */
      c->close_after_flush = true;
      if (c->out_off == c->out.len) c->dead = true;
      go = false;
    } else if (c->state == ST_OPEN) {
      if (op != OP_CONT) c->msg_op = op, c->msg_len = 0;
      memcpy(c->msg + c->msg_len, pl, n);
      c->msg_len += n;
      if (fin) {
        int mop = c->msg_op;
        c->msg_op = 0;
        on_message(c, mop, c->msg, c->msg_len);
        c->msg_len = 0;
      }
    }
  }
  memmove(c->in, c->in + at, c->in_len - at);
  c->in_len -= at;
  return go && !c->dead;
}

static void conn_read(ws_conn *c) {
  while (!c->dead) {
    if (c->failed || c->close_after_flush) { /* nothing more to parse: drain (level-triggered epoll) */
      uint8_t junk[4096];
      ssize_t r = recv(c->fd, junk, sizeof junk, 0);
      if (r > 0 || (r < 0 && errno == EINTR)) continue;
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      c->dead = true;
      return;
    }
    ssize_t r = recv(c->fd, c->in + c->in_len, WS_IN_CAP - c->in_len, 0);
    if (r > 0) {
      c->in_len += (size_t)r;
      c->last_rx = reco__now();
      c->ping_at = 0;
      if (!parse_frames(c)) return;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    c->dead = true; /* EOF or reset without a close frame */
    return;
  }
}

/* ---- connections (push thread) ---- */

static void conn_free(ws_conn *c) {
  STAT_ADD(closes[c->why == WHY_NONE ? WHY_GONE : c->why], 1);
  while (c->n_subs) drop_sub(c, c->n_subs - 1);
  if (c->urh) MHD_upgrade_action(c->urh, MHD_UPGRADE_ACTION_CLOSE);
  srv_buf_free(&c->out);
  free(c->in);
  free(c->msg);
  free(c->first_sub);
  free(c);
  pthread_mutex_lock(&g_mu);
  g_n_conns--;
  pthread_mutex_unlock(&g_mu);
}

static void adopt(ws_conn *c) {
  struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
  if (epoll_ctl(g_ep, EPOLL_CTL_ADD, c->fd, &ev)) {
    reco__log(RECO_LOG_WARN, "ws: epoll_ctl: %s", strerror(errno));
    note_close(c, WHY_ERROR);
    conn_free(c);
    return;
  }
  c->next = g_conns;
  g_conns = c;
  c->last_rx = reco__now();
  if (c->first_sub) { /* ?userId=...: as if the client's first message had asked */
    on_message(c, OP_TEXT, (const uint8_t *)c->first_sub, strlen(c->first_sub));
    free(c->first_sub);
    c->first_sub = NULL;
  }
  if (!c->dead && c->in_len) parse_frames(c); /* bytes MHD read past the request's headers */
  conn_read(c);
}

static void reap(void) {
  for (ws_conn **pp = &g_conns; *pp;) {
    ws_conn *c = *pp;
    if (!c->dead) {
      pp = &c->next;
      continue;
    }
    *pp = c->next;
    epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
    conn_free(c);
  }
}

static void timers(double now) {
  double ping_s = g_cfg->ws_ping_s;
  for (ws_conn *c = g_conns; c; c = c->next) {
    if (c->dead) continue;
    if (c->state == ST_CLOSING) {
      if ((c->close_sent_at > 0 && now - c->close_sent_at > WS_CLOSE_WAIT_S) || now - c->close_at > WS_CLOSE_HARD_S)
        c->dead = true;
    } else if (c->ping_at > 0 && now - c->ping_at > ping_s) {
      note_close(c, WHY_PING);
      send_close(c, 1001, "no answer to ping");
    } else if (c->ping_at == 0 && now - c->last_rx > ping_s) {
      frame_out(c, OP_PING, "reco", 4, false);
      c->ping_at = now;
    }
  }
}

/* Pushes for one batch of pending users; true when more are queued (the loop then polls the
 * sockets without waiting and comes back: a stream of interactions cannot starve reads). */
static bool run_pending(void) {
  struct {
    ws_user *u;
    int64_t iid;
    int n;
  } batch[WS_BATCH];
  int nb = 0;
  pthread_mutex_lock(&g_mu);
  while (g_qhead && nb < WS_BATCH) {
    ws_user *u = g_qhead;
    if (!(g_qhead = u->qnext)) g_qtail = NULL;
    batch[nb].u = u, batch[nb].iid = u->iid, batch[nb++].n = u->n_coalesced;
    u->pending = false;
    u->n_coalesced = 0;
  }
  pthread_mutex_unlock(&g_mu);
  for (int k = 0; k < nb; k++) {
    ws_user *u = batch[k].u;
    for (ws_sub *s = u->subs; s; s = s->next) push_recs(s->conn, s, batch[k].iid, batch[k].n);
    pthread_mutex_lock(&g_mu);
    user_release(u);
    pthread_mutex_unlock(&g_mu);
  }
  pthread_mutex_lock(&g_mu);
  bool more = g_qhead != NULL;
  pthread_mutex_unlock(&g_mu);
  return more;
}

static void *push_main(void *arg) {
  (void)arg;
  struct epoll_event evs[64];
  double last_tick = reco__now();
  bool more = false;
  while (!atomic_load(&g_stop)) {
    int n = epoll_wait(g_ep, evs, 64, more ? 0 : WS_TICK_MS);
    for (int k = 0; k < n; k++) {
      ws_conn *c = evs[k].data.ptr;
      if (!c) {
        uint64_t v;
        if (read(g_ev, &v, sizeof v) < 0 && errno != EAGAIN) reco__log(RECO_LOG_WARN, "ws: eventfd: %s", strerror(errno));
        continue;
      }
      if (evs[k].events & EPOLLOUT) conn_flush(c);
      if (evs[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) conn_read(c);
    }
    pthread_mutex_lock(&g_mu);
    ws_conn *fresh = g_adopt;
    g_adopt = NULL;
    pthread_mutex_unlock(&g_mu);
    while (fresh) {
      ws_conn *c = fresh;
      fresh = c->next;
      adopt(c);
    }
    more = run_pending();
    double now = reco__now();
    if (now - last_tick >= WS_TICK_MS / 1e3) {
      timers(now);
      last_tick = now;
    }
    reap();
  }
  /* shutdown: close 1001 to everyone, give them WS_CLOSE_WAIT_S at most to answer */
  pthread_mutex_lock(&g_mu);
  g_running = false;
  ws_conn *late = g_adopt;
  g_adopt = NULL;
  pthread_mutex_unlock(&g_mu);
  while (late) {
    ws_conn *c = late;
    late = c->next;
    note_close(c, WHY_SHUTDOWN);
    conn_free(c);
  }
  for (ws_conn *c = g_conns; c; c = c->next) {
    note_close(c, WHY_SHUTDOWN);
    send_close(c, 1001, "server shutting down");
  }
  reap();
  double t0 = reco__now();
  while (g_conns && reco__now() - t0 < WS_CLOSE_WAIT_S) {
    int n = epoll_wait(g_ep, evs, 64, WS_TICK_MS);
    for (int k = 0; k < n; k++) {
      ws_conn *c = evs[k].data.ptr;
      if (!c) continue;
      if (evs[k].events & EPOLLOUT) conn_flush(c);
      if (evs[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) conn_read(c);
    }
    reap();
  }
  for (ws_conn *c = g_conns; c; c = c->next) c->dead = true;
  reap();
  srv_buf_free(&g_tmp);
  return NULL;
}

/* ---- the handshake (MHD's worker threads) ---- */

/* MHD calls this once the 101 is on the wire: hand the socket over and return at once. */
static void upgraded(void *cls, struct MHD_Connection *mc, void *con_cls, const char *extra, size_t extra_len,
                     MHD_socket sock, struct MHD_UpgradeResponseHandle *urh) {
  (void)cls, (void)con_cls;
  ws_conn *c = calloc(1, sizeof *c);
  if (c) {
    c->in = malloc(WS_IN_CAP);
    c->msg = malloc(WS_MAX_MESSAGE);
  }
  if (!c || !c->in || !c->msg || extra_len > WS_IN_CAP) {
    if (c) free(c->in), free(c->msg), free(c);
    MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
    return;
  }
  c->fd = sock;
  c->urh = urh;
  c->why = WHY_NONE;
  memcpy(c->in, extra, extra_len);
  c->in_len = extra_len;
  int fl = fcntl(sock, F_GETFL);
  if (fl >= 0) fcntl(sock, F_SETFL, fl | O_NONBLOCK);
  /* the kernel's share of the outgoing bound: without it Linux autotunes the send buffer up to
   * megabytes per socket, which a client that does not read would fill before WS_MAX_OUTBUF
   * ever counts */
  int sndbuf = WS_SOCK_SNDBUF, one = 1;
  setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  /* a push is one send() of a whole frame; Nagle would hold it until the client ACKs the
   * previous one, and a client that only listens ACKs late (40 ms delayed ACK) */
  setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const char *user = MHD_lookup_connection_value(mc, MHD_GET_ARGUMENT_KIND, "userId");
  if (user && *user) {
    json_t *j = json_pack("{s:s,s:s}", "type", "subscribe", "userId", user);
    const char *lim = MHD_lookup_connection_value(mc, MHD_GET_ARGUMENT_KIND, "limit");
    const char *alg = MHD_lookup_connection_value(mc, MHD_GET_ARGUMENT_KIND, "algorithm");
    if (j && lim) json_object_set_new(j, "limit", json_integer(strtol(lim, NULL, 10))); /* checked at the handshake */
    if (j && alg) json_object_set_new(j, "algorithm", json_string(alg));
    c->first_sub = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
  }
  pthread_mutex_lock(&g_mu);
  bool take = g_running && g_n_conns < g_max_clients;
  if (take) {
    g_n_conns++;
    c->next = g_adopt;
    g_adopt = c;
  }
  pthread_mutex_unlock(&g_mu);
  if (take) {
    STAT_ADD(connections, 1);
    wake();
    return;
  }
  STAT_ADD(refused, 1);
  /* lost a race with other clients for the last slot, or shutting down: 1013 Try Again Later */
  static const uint8_t busy[] = {0x88, 2, 1013 >> 8, 1013 & 0xff};
  if (send(sock, busy, sizeof busy, MSG_NOSIGNAL) < 0) reco__log(RECO_LOG_DEBUG, "ws: refusing: %s", strerror(errno));
  free(c->in), free(c->msg), free(c->first_sub), free(c);
  MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
}

/* Whether the comma-separated header value holds token (case-insensitive). */
static bool has_token(const char *v, const char *token) {
  size_t tl = strlen(token);
  while (v && *v) {
    while (*v == ' ' || *v == '\t' || *v == ',') v++;
    size_t n = strcspn(v, ",");
    size_t m = n;
    while (m && (v[m - 1] == ' ' || v[m - 1] == '\t')) m--;
    if (m == tl && !strncasecmp(v, token, tl)) return true;
    v += n;
  }
  return false;
}

static enum MHD_Result answer(struct MHD_Connection *mc, int status, srv_resp *rs, const char *h1, const char *v1) {
  struct MHD_Response *r = MHD_create_response_from_buffer(rs->body.len, rs->body.p, MHD_RESPMEM_MUST_FREE);
  if (!r) {
    srv_buf_free(&rs->body);
    return MHD_NO;
  }
  rs->body.p = NULL;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
  if (h1) MHD_add_response_header(r, h1, v1);
  if (rs->retry_after_s > 0) MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
  enum MHD_Result ok = MHD_queue_response(mc, (unsigned)status, r);
  MHD_destroy_response(r);
  return ok;
}

int srv_h_ws(srv_req *rq, srv_resp *rs) {
  (void)rq;
  return srv_error(rs, 426, "upgrade_required", "Upgrade", "this endpoint speaks WebSocket (RFC 6455): send Upgrade: websocket");
}

int srv_ws_upgrade(struct MHD_Connection *mc, srv_req *rq, int *status) {
  srv_resp rs = {0};
  const char *up = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_UPGRADE);
  const char *conn = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONNECTION);
  const char *ver = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Sec-WebSocket-Version");
  const char *key = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Sec-WebSocket-Key");
  const char *user = MHD_lookup_connection_value(mc, MHD_GET_ARGUMENT_KIND, "userId");
  const char *lim = MHD_lookup_connection_value(mc, MHD_GET_ARGUMENT_KIND, "limit");
  const char *alg = MHD_lookup_connection_value(mc, MHD_GET_ARGUMENT_KIND, "algorithm");
  if (!has_token(up, "websocket") || !has_token(conn, "upgrade") || strcmp(rq->method, "GET")) {
    *status = srv_h_ws(rq, &rs);
    return answer(mc, *status, &rs, MHD_HTTP_HEADER_UPGRADE, "websocket");
  }
  if (!ver || strcmp(ver, "13")) {
    *status = srv_error(&rs, 426, "upgrade_required", "Sec-WebSocket-Version", "Sec-WebSocket-Version must be 13");
    return answer(mc, *status, &rs, "Sec-WebSocket-Version", "13");
  }
  /* the key is 16 random bytes in base64: 22 significant characters and "==" (s. 4.1) */
  bool key_ok = key && strlen(key) == 24 && !strcmp(key + 22, "==");
  for (int k = 0; key_ok && k < 22; k++)
    key_ok = (key[k] >= 'A' && key[k] <= 'Z') || (key[k] >= 'a' && key[k] <= 'z') || (key[k] >= '0' && key[k] <= '9') ||
             key[k] == '+' || key[k] == '/';
  if (!key_ok) {
    *status = srv_error(&rs, 400, "invalid_argument", "Sec-WebSocket-Key", "Sec-WebSocket-Key must be 16 bytes in base64");
    return answer(mc, *status, &rs, NULL, NULL);
  }
  char *end = NULL;
  long lv = lim ? strtol(lim, &end, 10) : 0;
  if (user && (!*user || strlen(user) > WS_MAX_ID)) {
    *status = srv_error(&rs, 400, "invalid_argument", "userId", "userId must be a non-empty string of at most %d bytes", WS_MAX_ID);
    return answer(mc, *status, &rs, NULL, NULL);
  }
  if (lim && (!*lim || *end || lv < 1 || lv > 100)) {
    *status = srv_error(&rs, 400, "invalid_argument", "limit", "limit must be an integer in [1, 100]");
    return answer(mc, *status, &rs, NULL, NULL);
  }
  if (alg && (!*alg || strlen(alg) > 64)) {
    *status = srv_error(&rs, 400, "invalid_argument", "algorithm", "algorithm must be a name of at most 64 bytes");
    return answer(mc, *status, &rs, NULL, NULL);
  }
  pthread_mutex_lock(&g_mu);
  bool room = g_running && g_n_conns < g_max_clients;
  pthread_mutex_unlock(&g_mu);
  if (!room) {
    STAT_ADD(refused, 1);
    rs.retry_after_s = 1;
    *status = srv_error(&rs, 503, "unavailable", NULL, "too many WebSocket clients (WS_MAX_CLIENTS, at most %d)", g_max_clients);
    return answer(mc, *status, &rs, NULL, NULL);
  }
  /* Sec-WebSocket-Accept: base64(SHA-1(key + GUID)) */
  char cat[24 + sizeof WS_GUID];
  memcpy(cat, key, 24);
  memcpy(cat + 24, WS_GUID, sizeof WS_GUID);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  char accept[64];
  if (!EVP_Digest(cat, strlen(cat), md, &md_len, EVP_sha1(), NULL) || md_len != 20 ||
      EVP_EncodeBlock((unsigned char *)accept, md, 20) != 28) {
    *status = srv_error(&rs, 500, "internal", NULL, "SHA-1 failed");
    return answer(mc, *status, &rs, NULL, NULL);
  }
  struct MHD_Response *r = MHD_create_response_for_upgrade(upgraded, NULL);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_UPGRADE, "websocket");
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "Upgrade");
  MHD_add_response_header(r, "Sec-WebSocket-Accept", accept);
  enum MHD_Result ok = MHD_queue_response(mc, MHD_HTTP_SWITCHING_PROTOCOLS, r);
  MHD_destroy_response(r);
  *status = 101;
  return ok;
}

/* ---- lifecycle ---- */

int srv_ws_start(const srv_config *cfg) {
  g_cfg = cfg;
  /* An upgraded socket keeps its MHD connection slot until it is closed: WebSocket clients
   * may take at most half of MAX_CONNECTIONS, so they can never lock HTTP out. */
  g_max_clients = cfg->ws_max_clients;
  if (g_max_clients > cfg->conn_limit / 2) {
    g_max_clients = cfg->conn_limit / 2 > 0 ? cfg->conn_limit / 2 : 1;
    reco__log(RECO_LOG_WARN, "ws: WS_MAX_CLIENTS=%d lowered to %d, half of MAX_CONNECTIONS=%d", cfg->ws_max_clients,
              g_max_clients, cfg->conn_limit);
  }
  atomic_store(&g_stop, false);
  if ((g_ep = epoll_create1(EPOLL_CLOEXEC)) < 0 || (g_ev = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) goto fail;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  if (epoll_ctl(g_ep, EPOLL_CTL_ADD, g_ev, &ev)) goto fail;
  pthread_mutex_lock(&g_mu);
  g_running = true;
  pthread_mutex_unlock(&g_mu);
  if (pthread_create(&g_thread, NULL, push_main, NULL)) {
    pthread_mutex_lock(&g_mu);
    g_running = false;
    pthread_mutex_unlock(&g_mu);
    goto fail;
  }
  return 0;
fail:
  if (g_ep >= 0) close(g_ep);
  if (g_ev >= 0) close(g_ev);
  g_ep = g_ev = -1;
  return RECO_EIO;
}

void srv_ws_stop(void) {
  if (g_ep < 0) return;
  atomic_store(&g_stop, true);
  wake();
  pthread_join(g_thread, NULL);
  close(g_ep);
  close(g_ev);
  g_ep = g_ev = -1;
}

/* ---- /metrics ---- */

void srv_ws_metrics(srv_buf *b) {
  pthread_mutex_lock(&g_mu);
  int n_conns = g_n_conns;
  pthread_mutex_unlock(&g_mu);
#define V(f) (unsigned long long)atomic_load_explicit(&g_stat.f, memory_order_relaxed)
  srv_buf_printf(b,
                 "# HELP reco_ws_clients WebSocket connections open (WS_MAX_CLIENTS at most).\n"
                 "# TYPE reco_ws_clients gauge\nreco_ws_clients %d\n"
                 "# HELP reco_ws_subscriptions Subscriptions to a user's recommendations, over every connection.\n"
                 "# TYPE reco_ws_subscriptions gauge\nreco_ws_subscriptions %d\n"
                 "# HELP reco_ws_connections_total WebSocket connections accepted.\n"
                 "# TYPE reco_ws_connections_total counter\nreco_ws_connections_total %llu\n"
                 "# HELP reco_ws_refused_total WebSocket handshakes refused because WS_MAX_CLIENTS were connected (503 or close 1013).\n"
                 "# TYPE reco_ws_refused_total counter\nreco_ws_refused_total %llu\n"
                 "# HELP reco_ws_messages_sent_total Text messages queued to clients (pushes, lists, answers, errors).\n"
                 "# TYPE reco_ws_messages_sent_total counter\nreco_ws_messages_sent_total %llu\n"
                 "# HELP reco_ws_pushes_total Recommendation lists pushed after an interaction (one per subscription).\n"
                 "# TYPE reco_ws_pushes_total counter\nreco_ws_pushes_total %llu\n"
                 "# HELP reco_ws_pushes_coalesced_total Interactions folded into a push already queued for their user.\n"
                 "# TYPE reco_ws_pushes_coalesced_total counter\nreco_ws_pushes_coalesced_total %llu\n"
                 "# HELP reco_ws_messages_dropped_total Messages dropped unsent: cut from a slow consumer's queue, or due on a closing connection.\n"
                 "# TYPE reco_ws_messages_dropped_total counter\nreco_ws_messages_dropped_total %llu\n"
                 "# HELP reco_ws_closes_total WebSocket connections ended, by reason: slow_consumer (1008), protocol_error (1002, 1007), too_big (1009), ping_timeout and shutdown (1001), client (its close), gone (no close frame), error (1011).\n"
                 "# TYPE reco_ws_closes_total counter\n",
                 n_conns, atomic_load(&g_n_subs), V(connections), V(refused), V(messages), V(pushes), V(coalesced), V(dropped));
  for (int k = 0; k < WHY_N; k++) srv_buf_printf(b, "reco_ws_closes_total{reason=\"%s\"} %llu\n", k_why[k], V(closes[k]));
#undef V
}
