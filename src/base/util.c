/* util.c - clocks, peak memory, progress reporting, thread count, UTF-8 checks. */
#include "base.h"

#include <string.h>
#include <sys/resource.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

double reco__now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int64_t reco__wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t reco__peak_rss(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  return (size_t)ru.ru_maxrss * 1024;
}

int reco__progress(const reco_progress *p, const char *stage, double done, double total, const char *info) {
  if (!p || !p->fn) return 0;
  if (p->fn(p->ud, stage, done, total, info)) return reco__seterr(RECO_ECANCELED, "%s: canceled", stage);
  return 0;
}

static int g_threads;

void reco_set_threads(int n) {
  g_threads = n > 0 ? n : 0;
#ifdef _OPENMP
  if (n > 0) omp_set_num_threads(n);
#endif
}

int reco_get_threads(void) {
  if (g_threads > 0) return g_threads;
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

long reco__utf8_invalid_at(const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) len = 4, cp = c & 0x07;
    else return (long)i;
    if (i + len > n) return (long)i;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return (long)i;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
      return (long)i;
    i += len;
  }
  return -1;
}

int reco__latin1_to_utf8(const char *str, size_t n, char **out, size_t *out_len) {
  const unsigned char *s = (const unsigned char *)str;
  char *d = reco__malloc(2 * n + 1);
  if (!d) return reco__seterr(RECO_ENOMEM, "out of memory converting text");
  size_t j = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < 0x80) d[j++] = (char)s[i];
    else {
      d[j++] = (char)(0xc0 | (s[i] >> 6));
      d[j++] = (char)(0x80 | (s[i] & 0x3f));
    }
  }
  d[j] = '\0';
  *out = d;
  if (out_len) *out_len = j;
  return 0;
}
