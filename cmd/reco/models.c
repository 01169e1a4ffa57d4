/* models.c - `reco models`: list, show, verify, activate, roll back and publish model versions
 * in a registry directory (--dir, else $MODEL_PATH, else ./models). A model is named either by a
 * file path or as ALGO[:VERSION] in the registry (no version = the active one). */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/base.h"
#include "cli.h"
#include "model/modelfile.h"
#include "model/registry.h"

static const char *default_dir(void) {
  const char *d = getenv("MODEL_PATH");
  return d && *d ? d : "./models";
}

/* "2024-05-01 12:00:00" (UTC) into buf; "-" when unknown. */
static const char *fmt_time(int64_t ms, char *buf, size_t len) {
  if (ms <= 0) return snprintf(buf, len, "-"), buf;
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm)) snprintf(buf, len, "-");
  return buf;
}

static const char *fmt_iso(int64_t ms, char *buf, size_t len) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  if (ms <= 0 || !gmtime_r(&t, &tm)) return NULL;
  char s[32];
  strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf, len, "%s.%03dZ", s, (int)(ms % 1000));
  return buf;
}

/* Prints text that should be JSON (params, metrics) as JSON when it parses, else as a string,
 * and null when empty. */
static void json_embed(FILE *f, const char *text) {
  if (!text || !*text) {
    fputs("null", f);
    return;
  }
  json_error_t err;
  json_t *j = json_loads(text, JSON_DECODE_ANY, &err);
  char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
  if (s) fputs(s, f);
  else cli_json_str(f, text);
  free(s);
  json_decref(j);
}

/* Validation metrics for the table: "ndcg@10=0.1430 p@10=0.1080 ..." from the JSON the trainer
 * recorded (numbers only; the protocol, seed and user count are left to --json). */
static void print_metrics_brief(const char *text) {
  json_error_t err;
  json_t *j = text && *text ? json_loads(text, 0, &err) : NULL;
  if (!json_is_object(j)) {
    fputs(text && *text ? text : "-", stdout);
    json_decref(j);
    return;
  }
  const char *key;
  json_t *v;
  int n = 0;
  json_object_foreach(j, key, v) {
    if (!json_is_number(v) || !strcmp(key, "seed") || !strcmp(key, "users")) continue;
    double x = json_number_value(v);
    printf(x > -1000 && x < 1000 ? "%s%s=%.4f" : "%s%s=%.4g", n++ ? " " : "", key, x);
  }
  if (!n) fputs("-", stdout);
  json_decref(j);
}

static bool parse_version(const char *s, int *out) {
  if (*s == 'v') s++;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (*s < '0' || *s > '9' || *end || errno || v < 1 || v > 999999999) return false;
  *out = (int)v;
  return true;
}

/* A model named by FILE or ALGO[:VERSION]. path receives the file; algo/version are set when it
 * came from the registry (version 0 otherwise). Returns 0, a negative RECO_E* code, or EXIT_USAGE
 * after printing a usage error. */
typedef struct target {
  char path[4096];
  char algo[RECO_MF_NAME_MAX];
  int version;
  bool active;
} target;

static int resolve(const char *cmd, const char *dir, const char *arg, target *t) {
  memset(t, 0, sizeof *t);
  struct stat st;
  size_t n = strlen(arg);
  if ((stat(arg, &st) == 0 && S_ISREG(st.st_mode)) || strchr(arg, '/') || (n > 5 && !strcmp(arg + n - 5, ".reco"))) {
    snprintf(t->path, sizeof t->path, "%s", arg);
    return 0;
  }
  const char *colon = strchr(arg, ':');
  size_t al = colon ? (size_t)(colon - arg) : n;
  if (al >= sizeof t->algo) return cli_usage_error(cmd, "'%s' is neither a file nor ALGO[:VERSION]", arg), EXIT_USAGE;
  memcpy(t->algo, arg, al);
  t->algo[al] = '\0';
  if (reco__registry_check_algo(t->algo) != 0)
    return cli_usage_error(cmd, "'%s' is neither a file nor ALGO[:VERSION]", arg), EXIT_USAGE;
  int active = 0, rc = reco__registry_active(dir, t->algo, &active);
  if (rc && rc != RECO_ENOTFOUND) return rc;
  if (colon) {
    if (!parse_version(colon + 1, &t->version))
      return cli_usage_error(cmd, "'%s': expected a version number after ':', e.g. %s:3", arg, t->algo), EXIT_USAGE;
  } else if (!active) {
    return reco__seterr(RECO_ENOTFOUND, "%s: no active version of %s; name one as %s:VERSION (see `reco models list`)",
                        dir, t->algo, t->algo);
  } else {
    t->version = active;
  }
  t->active = t->version == active;
  return reco__registry_path(dir, t->algo, t->version, t->path, sizeof t->path);
}

/* ---- list ---- */

static void usage_list(FILE *f) {
  fprintf(f,
          "Usage: reco models list [--dir D] [--json] [ALGO]\n"
          "List the model versions in the registry (of one algorithm when ALGO is given), with\n"
          "the metadata each file records. Reads only file headers: run `reco models verify` to\n"
          "check checksums.\n\n"
          "  -d, --dir D   registry directory (default $MODEL_PATH, else ./models)\n"
          "  --json        print one JSON object\n"
          "  -h, --help    this help\n");
}

static int models_list(int argc, char **argv) {
  static const struct option opts[] = {
      {"dir", required_argument, NULL, 'd'}, {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0}};
  const char *dir = default_dir();
  int json = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "d:jh", opts, NULL)) != -1) {
    switch (c) {
    case 'd': dir = optarg; break;
    case 'j': json = 1; break;
    case 'h': usage_list(stdout); return EXIT_OK;
    default: usage_list(stderr); return EXIT_USAGE;
    }
  }
  if (argc - optind > 1) return cli_usage_error("models list", "expected at most one ALGO");
  const char *algo = optind < argc ? argv[optind] : NULL;
  if (algo && reco__registry_check_algo(algo)) return cli_usage_error("models list", "%s", reco_last_error());
  reco_reg_entry *e;
  size_t n;
  int rc = reco__registry_list(dir, algo, &e, &n);
  if (rc) return cli_fail("models list", rc);
  char tbuf[64];
  if (json) {
    printf("{\"dir\": ");
    cli_json_str(stdout, dir);
    printf(", \"models\": [");
    for (size_t k = 0; k < n; k++) {
      printf("%s{\"algorithm\": ", k ? ", " : "");
      cli_json_str(stdout, e[k].algo);
      printf(", \"version\": %d, \"active\": %s, \"path\": ", e[k].version, e[k].active ? "true" : "false");
      cli_json_str(stdout, e[k].path);
      if (e[k].err) {
        printf(", \"error\": ");
        cli_json_str(stdout, e[k].error);
        printf("}");
        continue;
      }
      printf(", \"bytes\": %llu, \"trained_at_ms\": %lld, \"trained_at\": ", (unsigned long long)e[k].file_bytes,
             (long long)e[k].trained_at_ms);
      const char *iso = fmt_iso(e[k].trained_at_ms, tbuf, sizeof tbuf);
      if (iso) cli_json_str(stdout, iso);
      else printf("null");
      if (e[k].fit_s >= 0) printf(", \"fit_s\": %.6g", e[k].fit_s);
      else printf(", \"fit_s\": null");
      if (e[k].n_train >= 0) printf(", \"n_train\": %lld", (long long)e[k].n_train);
      else printf(", \"n_train\": null");
      printf(", \"n_users\": %d, \"n_items\": %d, \"fingerprint\": ", e[k].n_users, e[k].n_items);
      cli_json_str(stdout, e[k].fingerprint);
      printf(", \"params\": ");
      json_embed(stdout, e[k].params);
      printf(", \"metrics\": ");
      json_embed(stdout, e[k].metrics);
      printf(", \"error\": null}");
    }
    printf("]}\n");
  } else if (n == 0) {
    printf("no model versions under %s%s%s\n", dir, algo ? " for " : "", algo ? algo : "");
  } else {
    int aw = 9;
    for (size_t k = 0; k < n; k++)
      if ((int)strlen(e[k].algo) > aw) aw = (int)strlen(e[k].algo);
    printf("%-*s  %7s  %-6s  %-19s  %9s  %10s  %s\n", aw, "ALGORITHM", "VERSION", "ACTIVE", "TRAINED AT (UTC)", "FIT S",
           "TRAIN SIZE", "METRICS");
    for (size_t k = 0; k < n; k++) {
      char ver[16];
      snprintf(ver, sizeof ver, "v%d", e[k].version);
      if (e[k].err) {
        printf("%-*s  %7s  %-6s  unreadable: %s\n", aw, e[k].algo, ver, e[k].active ? "*" : "", e[k].error);
        continue;
      }
      char fit[32] = "-", size[32] = "-";
      if (e[k].fit_s >= 0) snprintf(fit, sizeof fit, "%.3f", e[k].fit_s);
      if (e[k].n_train >= 0) snprintf(size, sizeof size, "%lld", (long long)e[k].n_train);
      printf("%-*s  %7s  %-6s  %-19s  %9s  %10s  ", aw, e[k].algo, ver, e[k].active ? "*" : "",
             fmt_time(e[k].trained_at_ms, tbuf, sizeof tbuf), fit, size);
      print_metrics_brief(e[k].metrics);
      putchar('\n');
    }
  }
  reco__registry_list_free(e, n);
  return EXIT_OK;
}

/* ---- show ---- */

static void usage_show(FILE *f) {
  fprintf(f,
          "Usage: reco models show [--dir D] [--json] FILE|ALGO[:VERSION]\n"
          "Print everything a model file records: header, all metadata (parameters, id-map\n"
          "sizes, dataset fingerprint, training time, validation metrics) and its sections with\n"
          "their types and sizes. The whole file is read and its checksum verified.\n"
          "ALGO without a version means the active version in the registry.\n\n"
          "  -d, --dir D   registry directory (default $MODEL_PATH, else ./models)\n"
          "  --json        print one JSON object\n"
          "  -h, --help    this help\n");
}

static int models_show(int argc, char **argv) {
  static const struct option opts[] = {
      {"dir", required_argument, NULL, 'd'}, {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0}};
  const char *dir = default_dir();
  int json = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "d:jh", opts, NULL)) != -1) {
    switch (c) {
    case 'd': dir = optarg; break;
    case 'j': json = 1; break;
    case 'h': usage_show(stdout); return EXIT_OK;
    default: usage_show(stderr); return EXIT_USAGE;
    }
  }
  if (optind != argc - 1) return cli_usage_error("models show", "expected one FILE or ALGO[:VERSION]");
  target t;
  int rc = resolve("models show", dir, argv[optind], &t);
  if (rc == EXIT_USAGE) return EXIT_USAGE;
  if (rc) return cli_fail("models show", rc);
  reco_mf_reader *r;
  if ((rc = reco__mf_open(t.path, &r))) return cli_fail("models show", rc);
  const char *k, *v;
  reco_mf_section_info si;
  if (json) {
    printf("{\"path\": ");
    cli_json_str(stdout, t.path);
    printf(", \"algorithm\": ");
    cli_json_str(stdout, reco__mf_algo(r));
    if (t.version) printf(", \"version\": %d, \"active\": %s", t.version, t.active ? "true" : "false");
    printf(", \"format_version\": %u, \"bytes\": %llu, \"checksum\": \"xxh64:%016llx\", \"verified\": true",
           reco__mf_version(r), (unsigned long long)reco__mf_size(r), (unsigned long long)reco__mf_checksum(r));
    printf(", \"metadata\": {");
    for (size_t i = 0; reco__mf_meta_at(r, i, &k, &v); i++) {
      printf("%s", i ? ", " : "");
      cli_json_str(stdout, k);
      printf(": ");
      cli_json_str(stdout, v);
    }
    printf("}, \"sections\": [");
    for (size_t i = 0; reco__mf_section_at(r, i, &si); i++) {
      printf("%s{\"name\": ", i ? ", " : "");
      cli_json_str(stdout, si.name);
      printf(", \"dtype\": \"%s\", \"count\": %llu, \"bytes\": %llu, \"offset\": %llu}", reco__dtype_name(si.dtype),
             (unsigned long long)si.count, (unsigned long long)si.bytes, (unsigned long long)si.offset);
    }
    printf("]}\n");
  } else {
    printf("file         %s\n", t.path);
    printf("algorithm    %s\n", reco__mf_algo(r));
    if (t.version) printf("version      v%d%s\n", t.version, t.active ? " (active)" : "");
    printf("format       %u\n", reco__mf_version(r));
    printf("size         %llu bytes\n", (unsigned long long)reco__mf_size(r));
    printf("checksum     xxh64 %016llx (verified)\n", (unsigned long long)reco__mf_checksum(r));
    const char *tm = reco__mf_get_meta(r, "trained_at_ms");
    if (tm) {
      char tbuf[64];
      printf("trained at   %s UTC\n", fmt_time(strtoll(tm, NULL, 10), tbuf, sizeof tbuf));
    }
    printf("\nmetadata\n");
    int kw = 4;
    for (size_t i = 0; reco__mf_meta_at(r, i, &k, &v); i++)
      if ((int)strlen(k) > kw) kw = (int)strlen(k);
    for (size_t i = 0; reco__mf_meta_at(r, i, &k, &v); i++) {
      printf("  %-*s  ", kw, k);
      for (const char *p = v; *p; p++) { /* keep one line per key */
        if (*p == '\n') fputs("\\n", stdout);
        else if (*p == '\r') fputs("\\r", stdout);
        else putchar(*p);
      }
      putchar('\n');
    }
    int nw = 4;
    for (size_t i = 0; reco__mf_section_at(r, i, &si); i++)
      if ((int)strlen(si.name) > nw) nw = (int)strlen(si.name);
    printf("\nsections\n  %-*s  %-5s  %12s  %14s  %10s\n", nw, "NAME", "TYPE", "COUNT", "BYTES", "OFFSET");
    for (size_t i = 0; reco__mf_section_at(r, i, &si); i++)
      printf("  %-*s  %-5s  %12llu  %14llu  %10llu\n", nw, si.name, reco__dtype_name(si.dtype),
             (unsigned long long)si.count, (unsigned long long)si.bytes, (unsigned long long)si.offset);
  }
  reco__mf_close(r);
  return EXIT_OK;
}

/* ---- verify ---- */

static void usage_verify(FILE *f) {
  fprintf(f,
          "Usage: reco models verify [--dir D] [--json] [FILE|ALGO[:VERSION]]...\n"
          "Read each model file completely and check it: magic, format version, length, XXH64\n"
          "checksum, and that every section lies inside the file with a consistent type and size.\n"
          "With no argument, verifies every version in the registry. Exits 1 if any file fails.\n\n"
          "  -d, --dir D   registry directory (default $MODEL_PATH, else ./models)\n"
          "  --json        print one JSON object\n"
          "  -h, --help    this help\n");
}

static int verify_one(const char *path, int json, bool first) {
  reco_mf_reader *r;
  int rc = reco__mf_open(path, &r);
  if (json) {
    printf("%s{\"path\": ", first ? "" : ", ");
    cli_json_str(stdout, path);
    if (rc) {
      printf(", \"ok\": false, \"error\": ");
      cli_json_str(stdout, reco_last_error());
      printf(", \"code\": \"%s\"}", reco_err_name(rc));
    } else {
      printf(", \"ok\": true, \"algorithm\": ");
      cli_json_str(stdout, reco__mf_algo(r));
      printf(", \"format_version\": %u, \"bytes\": %llu, \"sections\": %zu, \"checksum\": \"xxh64:%016llx\"}",
             reco__mf_version(r), (unsigned long long)reco__mf_size(r), reco__mf_n_sections(r),
             (unsigned long long)reco__mf_checksum(r));
    }
  } else if (rc) {
    fflush(stdout);
    fprintf(stderr, "reco: models verify: %s\n", reco_last_error()[0] ? reco_last_error() : reco_strerror(rc));
  } else {
    printf("ok  %s (%s, format %u, %llu bytes, %zu sections, xxh64 %016llx)\n", path, reco__mf_algo(r),
           reco__mf_version(r), (unsigned long long)reco__mf_size(r), reco__mf_n_sections(r),
           (unsigned long long)reco__mf_checksum(r));
  }
  reco__mf_close(r);
  return rc;
}

static int models_verify(int argc, char **argv) {
  static const struct option opts[] = {
      {"dir", required_argument, NULL, 'd'}, {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0}};
  const char *dir = default_dir();
  int json = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "d:jh", opts, NULL)) != -1) {
    switch (c) {
    case 'd': dir = optarg; break;
    case 'j': json = 1; break;
    case 'h': usage_verify(stdout); return EXIT_OK;
    default: usage_verify(stderr); return EXIT_USAGE;
    }
  }
  int failed = 0, checked = 0;
  if (json) printf("{\"results\": [");
  if (optind == argc) {
    reco_reg_entry *e;
    size_t n;
    int rc = reco__registry_list(dir, NULL, &e, &n);
    if (rc) {
      if (json) printf("]}\n");
      return cli_fail("models verify", rc);
    }
    for (size_t k = 0; k < n; k++, checked++) failed += verify_one(e[k].path, json, k == 0) != 0;
    reco__registry_list_free(e, n);
    if (!n && !json) printf("no model versions under %s\n", dir);
  } else {
    for (int a = optind; a < argc; a++, checked++) {
      target t;
      int rc = resolve("models verify", dir, argv[a], &t);
      if (rc == EXIT_USAGE) {
        if (json) printf("]}\n");
        return EXIT_USAGE;
      }
      if (rc) {
        if (json) {
          printf("%s{\"arg\": ", a == optind ? "" : ", ");
          cli_json_str(stdout, argv[a]);
          printf(", \"ok\": false, \"error\": ");
          cli_json_str(stdout, reco_last_error());
          printf(", \"code\": \"%s\"}", reco_err_name(rc));
        } else {
          fprintf(stderr, "reco: models verify: %s\n", reco_last_error());
        }
        failed++;
        continue;
      }
      failed += verify_one(t.path, json, a == optind) != 0;
    }
  }
  if (json) printf("], \"checked\": %d, \"failed\": %d}\n", checked, failed);
  else if (checked > 1) printf("%d checked, %d failed\n", checked, failed);
  return failed ? EXIT_FAIL : EXIT_OK;
}

/* ---- activate, rollback, publish ---- */

static void usage_activate(FILE *f) {
  fprintf(f,
          "Usage: reco models activate [--dir D] [--json] ALGO VERSION\n"
          "Make VERSION (e.g. 3 or v3) the active version of ALGO, after verifying its file\n"
          "completely. A running `reco serve` picks it up on its next reload.\n\n"
          "  -d, --dir D   registry directory (default $MODEL_PATH, else ./models)\n"
          "  --json        print one JSON object\n"
          "  -h, --help    this help\n");
}

static void usage_rollback(FILE *f) {
  fprintf(f,
          "Usage: reco models rollback [--dir D] [--json] ALGO\n"
          "Activate the newest version of ALGO older than the active one whose file verifies\n"
          "(corrupt versions are skipped with a warning).\n\n"
          "  -d, --dir D   registry directory (default $MODEL_PATH, else ./models)\n"
          "  --json        print one JSON object\n"
          "  -h, --help    this help\n");
}

static void usage_publish(FILE *f) {
  fprintf(f,
          "Usage: reco models publish [--dir D] [--activate] [--json] FILE\n"
          "Verify the model file FILE and copy it into the registry as the next version of its\n"
          "algorithm (DIR/ALGO/vN.reco).\n\n"
          "  -d, --dir D     registry directory (default $MODEL_PATH, else ./models)\n"
          "  -a, --activate  make the new version the active one\n"
          "  --json          print one JSON object\n"
          "  -h, --help      this help\n");
}

enum { ACT_ACTIVATE, ACT_ROLLBACK, ACT_PUBLISH };

static int models_change(int what, int argc, char **argv) {
  static const struct option opts[] = {{"dir", required_argument, NULL, 'd'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"activate", no_argument, NULL, 'a'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0}};
  static const char *const names[] = {"models activate", "models rollback", "models publish"};
  static void (*const usages[])(FILE *) = {usage_activate, usage_rollback, usage_publish};
  const char *cmd = names[what], *dir = default_dir();
  int json = 0, activate = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, what == ACT_PUBLISH ? "d:jah" : "d:jh", opts, NULL)) != -1) {
    switch (c) {
    case 'd': dir = optarg; break;
    case 'j': json = 1; break;
    case 'a':
      if (what != ACT_PUBLISH) return cli_usage_error(cmd, "--activate applies to `reco models publish` only");
      activate = 1;
      break;
    case 'h': usages[what](stdout); return EXIT_OK;
    default: usages[what](stderr); return EXIT_USAGE;
    }
  }
  int want = what == ACT_ACTIVATE ? 2 : 1;
  if (argc - optind != want)
    return cli_usage_error(cmd, "expected %s", what == ACT_ACTIVATE ? "ALGO VERSION" : what == ACT_ROLLBACK ? "ALGO" : "FILE");
  const char *algo = argv[optind];
  int version = 0, before = 0, rc;
  if (what == ACT_PUBLISH) {
    rc = reco__registry_publish_file(dir, argv[optind], activate, &version);
    if (rc) return cli_fail(cmd, rc);
    reco_mf_reader *r;
    if ((rc = reco__mf_open_meta(argv[optind], &r))) return cli_fail(cmd, rc);
    char a[RECO_MF_NAME_MAX], path[4096];
    snprintf(a, sizeof a, "%s", reco__mf_algo(r));
    reco__mf_close(r);
    reco__registry_path(dir, a, version, path, sizeof path);
    if (json) {
      printf("{\"algorithm\": ");
      cli_json_str(stdout, a);
      printf(", \"version\": %d, \"active\": %s, \"path\": ", version, activate ? "true" : "false");
      cli_json_str(stdout, path);
      printf("}\n");
    } else {
      printf("published %s as %s v%d%s (%s)\n", argv[optind], a, version, activate ? ", active" : "", path);
    }
    return EXIT_OK;
  }
  if (reco__registry_check_algo(algo)) return cli_usage_error(cmd, "%s", reco_last_error());
  if (what == ACT_ACTIVATE && !parse_version(argv[optind + 1], &version))
    return cli_usage_error(cmd, "VERSION: expected a number such as 3 or v3, got '%s'", argv[optind + 1]);
  rc = reco__registry_active(dir, algo, &before);
  if (rc && rc != RECO_ENOTFOUND) return cli_fail(cmd, rc);
  rc = what == ACT_ACTIVATE ? reco__registry_activate(dir, algo, version) : reco__registry_rollback(dir, algo, &version);
  if (rc) return cli_fail(cmd, rc);
  if (json) {
    printf("{\"algorithm\": ");
    cli_json_str(stdout, algo);
    printf(", \"active\": %d, \"previous\": ", version);
    if (before) printf("%d}\n", before);
    else printf("null}\n");
  } else if (what == ACT_ACTIVATE) {
    if (before == version) printf("%s: v%d was already active\n", algo, version);
    else if (before) printf("%s: v%d is now active (was v%d)\n", algo, version, before);
    else printf("%s: v%d is now active\n", algo, version);
  } else {
    printf("%s: rolled back from v%d to v%d\n", algo, before, version);
  }
  return EXIT_OK;
}

static int models_activate(int argc, char **argv) { return models_change(ACT_ACTIVATE, argc, argv); }
static int models_rollback(int argc, char **argv) { return models_change(ACT_ROLLBACK, argc, argv); }
static int models_publish(int argc, char **argv) { return models_change(ACT_PUBLISH, argc, argv); }

static const cli_command k_models_commands[] = {
    {"list", models_list, "list model versions in the registry with their training metadata"},
    {"show", models_show, "print a model file's metadata and sections"},
    {"verify", models_verify, "check model files (checksum, bounds); exit 1 on corruption"},
    {"activate", models_activate, "make a version the active one"},
    {"rollback", models_rollback, "re-activate the newest valid version older than the active one"},
    {"publish", models_publish, "copy a model file into the registry as a new version"},
    {NULL, NULL, NULL},
};

int cmd_models(int argc, char **argv) { return cli_dispatch("reco models", k_models_commands, argc, argv); }
