/* log.c - the library's only output channel: a callback chosen by the embedding program. */
#include "base.h"

#include <stdio.h>

static reco_log_fn g_log_fn;
static void *g_log_ud;
static int g_log_max = RECO_LOG_INFO;

void reco_set_log(reco_log_fn fn, void *ud, int max_level) {
  g_log_fn = fn;
  g_log_ud = ud;
  g_log_max = max_level;
}

void reco__log(int level, const char *fmt, ...) {
  if (!g_log_fn || level > g_log_max) return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  g_log_fn(level, buf, g_log_ud);
}
