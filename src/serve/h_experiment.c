/*
 * h_experiment.c - POST /api/v1/experiment/assign {userId, experimentId}: a deterministic
 * variant per (experiment, user).
 *
 * Bucketing as GrowthBook's: h = FNV-1a 32 of experimentId followed by userId, bucket =
 * (h mod 10000) / 10000 in [0, 1); the variants (EXPERIMENT_VARIANTS, "control,treatment" by
 * default, "name:weight" for unequal splits) cover [0, 1) in order by their normalised weights.
 * The first assignment is written durably to the store (experiment_assignments, through the
 * same group-committing writer as interactions) and every later call returns the stored one, so
 * a user keeps their variant across restarts even if the variant list is edited.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "serve.h"
#include "store/store.h"

#define MAX_VARIANTS 16
#define MAX_ID 256

uint32_t srv_fnv1a32(const char *a, const char *b) {
  uint32_t h = 2166136261u;
  for (const char *p = a; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
  for (const char *p = b; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
  return h;
}

/* Parses "a,b" or "a:20,b:80" into names and cumulative upper bounds; returns the count, or
 * 0 when spec is malformed. */
int srv_variants_parse(const char *spec, char names[][64], double *upper, int max) {
  int n = 0;
  double w[MAX_VARIANTS], total = 0;
  const char *p = spec;
  while (*p && n < max && n < MAX_VARIANTS) {
    size_t len = strcspn(p, ",");
    const char *colon = memchr(p, ':', len);
    size_t nl = colon ? (size_t)(colon - p) : len;
    if (nl == 0 || nl >= 64) return 0;
    memcpy(names[n], p, nl);
    names[n][nl] = '\0';
    w[n] = 1;
    if (colon) {
      char num[32], *end;
      size_t wl = len - nl - 1;
      if (wl == 0 || wl >= sizeof num) return 0;
      memcpy(num, colon + 1, wl);
      num[wl] = '\0';
      w[n] = strtod(num, &end);
      if (*end || !(w[n] > 0)) return 0;
    }
    total += w[n++];
    p += len;
    if (*p == ',') p++;
  }
  if (*p || n == 0) return 0;
  double cum = 0;
  for (int k = 0; k < n; k++) upper[k] = (cum += w[k]) / total;
  upper[n - 1] = 1.0;
  return n;
}

int srv_h_assign(srv_req *rq, srv_resp *rs) {
  int st = 200;
  json_t *j = srv_parse_object(rq, rs, &st);
  if (!j) return st;
  const char *field[2] = {"userId", "experimentId"}, *val[2];
  for (int k = 0; k < 2; k++) {
    json_t *v = json_object_get(j, field[k]);
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > MAX_ID ||
        strlen(json_string_value(v)) != json_string_length(v)) {
      st = srv_error(rs, 400, "invalid_argument", field[k], "%s is required: a non-empty string of at most %d bytes", field[k], MAX_ID);
      goto out;
    }
    val[k] = json_string_value(v);
  }
  char names[MAX_VARIANTS][64];
  double upper[MAX_VARIANTS];
  int n = srv_variants_parse(rq->cfg->exp_variants, names, upper, MAX_VARIANTS);
  if (n == 0) {
    st = srv_error(rs, 500, "internal", NULL, "EXPERIMENT_VARIANTS is malformed");
    goto out;
  }
  double bucket = (double)(srv_fnv1a32(val[1], val[0]) % 10000u) / 10000.0;
  int pick = 0;
  while (pick < n - 1 && bucket >= upper[pick]) pick++;
  char variant[128];
  memcpy(variant, names[pick], sizeof names[pick]); /* NUL-terminated within 64 bytes */
  if (srv_store) {
    int rc = store_assign(srv_store, val[1], val[0], names[pick], bucket, variant, sizeof variant, &bucket);
    if (rc == RECO_ELIMIT) {
      rs->retry_after_s = 1;
      st = srv_error(rs, 503, "unavailable", NULL, "the write queue is full: retry later");
      goto out;
    }
    if (rc) {
      st = srv_error(rs, 500, "internal", NULL, "the assignment was not stored: %s", reco_last_error());
      goto out;
    }
  }
  srv_buf *b = &rs->body;
  srv_buf_puts(b, "{\"status\":\"success\",\"result\":{\"experimentId\":");
  srv_buf_jstr(b, val[1]);
  srv_buf_puts(b, ",\"userId\":");
  srv_buf_jstr(b, val[0]);
  srv_buf_puts(b, ",\"variant\":");
  srv_buf_jstr(b, variant);
  srv_buf_puts(b, ",\"bucket\":");
  srv_buf_jnum(b, bucket);
  srv_buf_puts(b, "}}");
out:
  json_decref(j);
  return st;
}
