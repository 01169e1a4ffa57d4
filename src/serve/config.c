/*
 * config.c - the service's configuration. Precedence, lowest first: built-in defaults, a .env
 * file, the process environment, command-line flags (cmd/reco/serve.c calls srv_config_set for
 * each). Names are the seed's (PORT, HOST, MODEL_PATH, DEFAULT_ALGORITHM, RECOMMENDATION_LIMIT)
 * plus the engine's own limits. Every value is validated; a bad one names its variable.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "rank/rank.h"
#include "serve.h"

void srv_config_defaults(srv_config *c) {
  memset(c, 0, sizeof *c);
  snprintf(c->host, sizeof c->host, "0.0.0.0");
  c->port = 3000;
  snprintf(c->model_path, sizeof c->model_path, "./models");
  snprintf(c->data_dir, sizeof c->data_dir, "./data/demo-ecommerce");
  snprintf(c->default_algo, sizeof c->default_algo, "hybrid");
  c->rec_limit = 10;
  c->min_cf = 3;
  c->cold_strategy = RECO_COLD_POPULAR;
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  c->threads = cores > 0 ? (int)cores : 1;
  c->conn_limit = 1024;
  c->conn_timeout_s = 30;
  c->max_body = 1u << 20;
  c->max_header = 8192;
  c->protected_mode = true;
  snprintf(c->store_path, sizeof c->store_path, "./data/reco.db");
  c->store_queue = 65536;
  snprintf(c->exp_variants, sizeof c->exp_variants, "control,treatment");
  c->log_json = true;
  c->log_level = RECO_LOG_INFO;
  c->log_access = true;
  /* caching and rate limiting (cache.c, redis.c, ratelimit.c); the seed's CACHE_TTL and
   * RATE_LIMIT_* values. Rate limits skip keyless loopback clients by default (ratelimit.c). */
  c->cache_enabled = true;
  c->cache_ttl_s = 3600;
  c->cache_entries = 100000;
  c->cache_bytes = 64L << 20;
  c->redis_timeout_ms = 5;
  c->rl_max = 1000;
  c->rl_window_ms = 60000;
  c->rl_recommend_max = -1;
  c->rl_interaction_max = -1;
  c->rl_clients = 65536;
  c->update_interval_ms = 600000;
  c->update_min_new = 1000;
  c->max_regression = 0.02;
  c->retrain_max_rows = 5000000;
  c->ws_max_clients = 256;
  c->ws_ping_s = 30;
}

/* yes/true/1 or no/false/0 */
static int parse_bool(const char *key, const char *v, bool *out, char *msg, size_t msg_len) {
  if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1")) *out = true;
  else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0")) *out = false;
  else {
    snprintf(msg, msg_len, "%s: expected yes or no, got '%s'", key, v);
    return RECO_EINVAL;
  }
  return 0;
}

static bool parse_long(const char *s, long lo, long hi, long *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (!*s || *end || v < lo || v > hi) return false;
  *out = v;
  return true;
}

static int copy_str(char *dst, size_t cap, const char *key, const char *v, char *msg, size_t msg_len) {
  if (strlen(v) >= cap) {
    snprintf(msg, msg_len, "%s: value too long (at most %zu bytes)", key, cap - 1);
    return RECO_EINVAL;
  }
  memcpy(dst, v, strlen(v) + 1);
  return 0;
}

int srv_config_set(srv_config *c, const char *key, const char *v, char *msg, size_t msg_len) {
  long n;
#define INT_SETTING(NAME, FIELD, LO, HI)                                                   \
  if (!strcmp(key, NAME)) {                                                                \
    if (!parse_long(v, LO, HI, &n)) {                                                      \
      snprintf(msg, msg_len, "%s: expected an integer in [%ld, %ld], got '%s'", NAME, (long)(LO), (long)(HI), v); \
      return RECO_EINVAL;                                                                  \
    }                                                                                      \
    c->FIELD = n;                                                                          \
    return 0;                                                                              \
  }
  INT_SETTING("PORT", port, 1, 65535)
  INT_SETTING("RECOMMENDATION_LIMIT", rec_limit, 1, 100)
  INT_SETTING("SERVE_THREADS", threads, 1, 1024)
  INT_SETTING("MAX_CONNECTIONS", conn_limit, 1, 1000000)
  INT_SETTING("CONNECTION_TIMEOUT", conn_timeout_s, 1, 86400)
  INT_SETTING("MAX_BODY_BYTES", max_body, 64, 1L << 30)
  INT_SETTING("MAX_HEADER_BYTES", max_header, 2048, 1L << 20)
  INT_SETTING("STORE_QUEUE", store_queue, 1, 1 << 24)
  INT_SETTING("CANDIDATE_POOL", cand_pool, 0, RECO_REC_POOL_DEFAULT)
  INT_SETTING("MIN_INTERACTIONS_FOR_CF", min_cf, 0, 1000000)
  INT_SETTING("CACHE_TTL", cache_ttl_s, 1, 30 * 86400)
  INT_SETTING("L1_CACHE_SIZE", cache_entries, 1, 1L << 30)
  INT_SETTING("L1_CACHE_BYTES", cache_bytes, 1L << 16, 1L << 40)
  INT_SETTING("REDIS_TIMEOUT_MS", redis_timeout_ms, 1, 10000)
  INT_SETTING("RATE_LIMIT_MAX", rl_max, 0, 1000000000)
  INT_SETTING("RATE_LIMIT_WINDOW", rl_window_ms, 1, 86400000)
  INT_SETTING("RATE_LIMIT_RECOMMEND_MAX", rl_recommend_max, -1, 1000000000)
  INT_SETTING("RATE_LIMIT_INTERACTION_MAX", rl_interaction_max, -1, 1000000000)
  INT_SETTING("RATE_LIMIT_CLIENTS", rl_clients, 16, 1L << 26)
  INT_SETTING("MODEL_UPDATE_INTERVAL", update_interval_ms, 0, 86400000L * 30)
  INT_SETTING("MODEL_UPDATE_MIN_INTERACTIONS", update_min_new, 0, 1000000000L)
  INT_SETTING("RETRAIN_MAX_ROWS", retrain_max_rows, 1000, 1000000000L)
  INT_SETTING("WS_MAX_CLIENTS", ws_max_clients, 1, 100000)
  INT_SETTING("WS_PING_INTERVAL", ws_ping_s, 1, 3600)
#undef INT_SETTING
  if (!strcmp(key, "RETRAIN_MAX_REGRESSION")) {
    char *end;
    double d = strtod(v, &end);
    if (!*v || *end || !(d >= 0 && d <= 1)) {
      snprintf(msg, msg_len, "RETRAIN_MAX_REGRESSION: expected a number in [0, 1], got '%s'", v);
      return RECO_EINVAL;
    }
    c->max_regression = d;
    return 0;
  }
  if (!strcmp(key, "COLD_START_STRATEGY")) {
    /* trending needs a time-decayed popularity model, which the service does not train: it is
     * the CLI's (reco recommend --cold-strategy trending) */
    if (!strcmp(v, "popular_items") || !strcmp(v, "popular")) c->cold_strategy = RECO_COLD_POPULAR;
    else if (!strcmp(v, "context_popular")) c->cold_strategy = RECO_COLD_CONTEXT_POPULAR;
    else if (!strcmp(v, "members")) c->cold_strategy = RECO_COLD_MEMBERS;
    else {
      snprintf(msg, msg_len, "COLD_START_STRATEGY: expected popular_items, context_popular or members, got '%s'", v);
      return RECO_EINVAL;
    }
    return 0;
  }
  if (!strcmp(key, "HOST")) return copy_str(c->host, sizeof c->host, key, v, msg, msg_len);
  if (!strcmp(key, "MODEL_PATH")) return copy_str(c->model_path, sizeof c->model_path, key, v, msg, msg_len);
  if (!strcmp(key, "DEMO_DATA_PATH")) return copy_str(c->data_dir, sizeof c->data_dir, key, v, msg, msg_len);
  if (!strcmp(key, "DEFAULT_ALGORITHM")) return copy_str(c->default_algo, sizeof c->default_algo, key, v, msg, msg_len);
  if (!strcmp(key, "STORE_PATH")) return copy_str(c->store_path, sizeof c->store_path, key, v, msg, msg_len);
  if (!strcmp(key, "EXPERIMENT_VARIANTS")) {
    char names[16][64];
    double upper[16];
    if (!srv_variants_parse(v, names, upper, 16)) {
      snprintf(msg, msg_len, "EXPERIMENT_VARIANTS: expected 'a,b' or 'a:20,b:80' (at most 16 names of < 64 bytes), got '%s'", v);
      return RECO_EINVAL;
    }
    return copy_str(c->exp_variants, sizeof c->exp_variants, key, v, msg, msg_len);
  }
  if (!strcmp(key, "REDIS_URL")) return copy_str(c->redis_url, sizeof c->redis_url, key, v, msg, msg_len);
  if (!strcmp(key, "CACHE_ENABLED")) return parse_bool(key, v, &c->cache_enabled, msg, msg_len);
  if (!strcmp(key, "RATE_LIMIT_LOOPBACK")) return parse_bool(key, v, &c->rl_loopback, msg, msg_len);
  if (!strcmp(key, "API_KEYS")) {
    /* key[:role],...: a role is read or admin (issue 6); ':' cannot be part of a key */
    for (const char *k = v; *k;) {
      size_t el = strcspn(k, ","), kl = strcspn(k, ":,");
      if (kl < el && !((el - kl == 5 && !strncmp(k + kl, ":read", 5)) || (el - kl == 6 && !strncmp(k + kl, ":admin", 6)))) {
        snprintf(msg, msg_len, "API_KEYS: '%.*s': the role after ':' must be read or admin", (int)el, k);
        return RECO_EINVAL;
      }
      k += el;
      if (*k == ',') k++;
    }
    return copy_str(c->api_keys, sizeof c->api_keys, key, v, msg, msg_len);
  }
  if (!strcmp(key, "PROTECTED_MODE")) {
    if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1")) c->protected_mode = true;
    else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0")) c->protected_mode = false;
    else {
      snprintf(msg, msg_len, "PROTECTED_MODE: expected yes or no, got '%s'", v);
      return RECO_EINVAL;
    }
    return 0;
  }
  if (!strcmp(key, "LOG_FORMAT")) {
    if (strcasecmp(v, "json") && strcasecmp(v, "text")) {
      snprintf(msg, msg_len, "LOG_FORMAT: expected json or text, got '%s'", v);
      return RECO_EINVAL;
    }
    c->log_json = !strcasecmp(v, "json");
    return 0;
  }
  if (!strcmp(key, "LOG_LEVEL")) {
    static const char *const levels[] = {"error", "warn", "info", "debug"};
    for (int k = 0; k < 4; k++)
      if (!strcasecmp(v, levels[k])) return c->log_level = k, 0;
    snprintf(msg, msg_len, "LOG_LEVEL: expected error, warn, info or debug, got '%s'", v);
    return RECO_EINVAL;
  }
  if (!strcmp(key, "LOG_ACCESS")) {
    if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1")) c->log_access = true;
    else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0")) c->log_access = false;
    else {
      snprintf(msg, msg_len, "LOG_ACCESS: expected yes or no, got '%s'", v);
      return RECO_EINVAL;
    }
    return 0;
  }
  snprintf(msg, msg_len, "unknown setting '%s'", key);
  return RECO_ENOTFOUND;
}

static const char *const k_keys[] = {"PORT", "HOST", "MODEL_PATH", "DEMO_DATA_PATH", "DEFAULT_ALGORITHM",
                                     "RECOMMENDATION_LIMIT", "SERVE_THREADS", "MAX_CONNECTIONS",
                                     "CONNECTION_TIMEOUT", "MAX_BODY_BYTES", "MAX_HEADER_BYTES", "API_KEYS", "PROTECTED_MODE",
                                     "STORE_PATH", "STORE_QUEUE", "EXPERIMENT_VARIANTS",
                                     "CANDIDATE_POOL",
                                     "LOG_FORMAT", "LOG_LEVEL", "LOG_ACCESS",
                                     "CACHE_ENABLED", "CACHE_TTL", "L1_CACHE_SIZE", "L1_CACHE_BYTES", "REDIS_URL",
                                     "REDIS_TIMEOUT_MS", "RATE_LIMIT_MAX", "RATE_LIMIT_WINDOW",
                                     "RATE_LIMIT_RECOMMEND_MAX", "RATE_LIMIT_INTERACTION_MAX", "RATE_LIMIT_LOOPBACK",
                                     "RATE_LIMIT_CLIENTS",
                                     "MODEL_UPDATE_INTERVAL", "MODEL_UPDATE_MIN_INTERACTIONS",
                                     "RETRAIN_MAX_REGRESSION", "RETRAIN_MAX_ROWS",
                                     "WS_MAX_CLIENTS", "WS_PING_INTERVAL",
                                     "MIN_INTERACTIONS_FOR_CF", "COLD_START_STRATEGY"};

static bool known_key(const char *k) {
  for (size_t j = 0; j < sizeof k_keys / sizeof *k_keys; j++)
    if (!strcmp(k, k_keys[j])) return true;
  return false;
}

int srv_config_load(srv_config *c, const char *dotenv, char *msg, size_t msg_len) {
  int rc;
  FILE *f = dotenv ? fopen(dotenv, "r") : NULL;
  if (f) {
    char line[2048];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
      lineno++;
      char *s = line;
      while (isspace((unsigned char)*s)) s++;
      if (!*s || *s == '#') continue;
      if (!strncmp(s, "export ", 7)) s += 7;
      char *eq = strchr(s, '=');
      if (!eq) continue;
      *eq = '\0';
      char *key = s, *val = eq + 1;
      for (char *e = eq - 1; e >= key && isspace((unsigned char)*e); e--) *e = '\0';
      size_t vl = strlen(val);
      while (vl && isspace((unsigned char)val[vl - 1])) val[--vl] = '\0';
      while (isspace((unsigned char)*val)) val++, vl--;
      if (vl >= 2 && (val[0] == '"' || val[0] == '\'') && val[vl - 1] == val[0]) val[vl - 1] = '\0', val++;
      /* the environment wins over the file; settings of other programs are ignored */
      if (!known_key(key) || getenv(key)) continue;
      if ((rc = srv_config_set(c, key, val, msg, msg_len))) {
        char tmp[512];
        snprintf(tmp, sizeof tmp, "%s:%d: %s", dotenv, lineno, msg);
        snprintf(msg, msg_len, "%s", tmp);
        fclose(f);
        return rc;
      }
    }
    fclose(f);
  }
  for (size_t j = 0; j < sizeof k_keys / sizeof *k_keys; j++) {
    const char *v = getenv(k_keys[j]);
    if (v && (rc = srv_config_set(c, k_keys[j], v, msg, msg_len))) return rc;
  }
  return 0;
}
