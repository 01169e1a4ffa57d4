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

#include "serve.h"

void srv_config_defaults(srv_config *c) {
  memset(c, 0, sizeof *c);
  snprintf(c->host, sizeof c->host, "0.0.0.0");
  c->port = 3000;
  snprintf(c->model_path, sizeof c->model_path, "./models");
  snprintf(c->data_dir, sizeof c->data_dir, "./data/demo-ecommerce");
  snprintf(c->default_algo, sizeof c->default_algo, "hybrid");
  c->rec_limit = 10;
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  c->threads = cores > 0 ? (int)cores : 1;
  c->conn_limit = 1024;
  c->conn_timeout_s = 30;
  c->max_body = 1u << 20;
  c->protected_mode = true;
  snprintf(c->store_path, sizeof c->store_path, "./data/reco.db");
  c->store_queue = 65536;
  snprintf(c->exp_variants, sizeof c->exp_variants, "control,treatment");
  c->ws_max_clients = 256;
  c->ws_ping_s = 30;
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
  INT_SETTING("STORE_QUEUE", store_queue, 1, 1 << 24)
  INT_SETTING("WS_MAX_CLIENTS", ws_max_clients, 1, 100000)
  INT_SETTING("WS_PING_INTERVAL", ws_ping_s, 1, 3600)
#undef INT_SETTING
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
  if (!strcmp(key, "API_KEYS")) return copy_str(c->api_keys, sizeof c->api_keys, key, v, msg, msg_len);
  if (!strcmp(key, "PROTECTED_MODE")) {
    if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1")) c->protected_mode = true;
    else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0")) c->protected_mode = false;
    else {
      snprintf(msg, msg_len, "PROTECTED_MODE: expected yes or no, got '%s'", v);
      return RECO_EINVAL;
    }
    return 0;
  }
  snprintf(msg, msg_len, "unknown setting '%s'", key);
  return RECO_ENOTFOUND;
}

static const char *const k_keys[] = {"PORT", "HOST", "MODEL_PATH", "DEMO_DATA_PATH", "DEFAULT_ALGORITHM",
                                     "RECOMMENDATION_LIMIT", "SERVE_THREADS", "MAX_CONNECTIONS",
                                     "CONNECTION_TIMEOUT", "MAX_BODY_BYTES", "API_KEYS", "PROTECTED_MODE",
                                     "STORE_PATH", "STORE_QUEUE", "EXPERIMENT_VARIANTS",
                                     "WS_MAX_CLIENTS", "WS_PING_INTERVAL"};

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
