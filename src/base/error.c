/* error.c - error names and messages (from the X-macro in reco.h) and the per-thread detail. */
#include "base.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char g_detail[512];

const char *reco_strerror(int err) {
  switch (err) {
  case RECO_OK: return "success";
#define RECO__X(name, num, msg) case num: return msg;
    RECO_ERRNO_MAP(RECO__X)
#undef RECO__X
  default: return "unknown error";
  }
}

const char *reco_err_name(int err) {
  switch (err) {
  case RECO_OK: return "OK";
#define RECO__X(name, num, msg) case num: return "RECO_" #name;
    RECO_ERRNO_MAP(RECO__X)
#undef RECO__X
  default: return "RECO_EUNKNOWN";
  }
}

const char *reco_last_error(void) { return g_detail; }

int reco__seterr(int code, const char *fmt, ...) {
  /* format into a local buffer first: callers may pass reco_last_error() as an argument to
   * prefix it ("path: <detail>") */
  char buf[sizeof g_detail];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  memcpy(g_detail, buf, sizeof g_detail);
  return code;
}

void reco__clearerr(void) { g_detail[0] = '\0'; }
