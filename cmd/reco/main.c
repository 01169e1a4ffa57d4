/* main.c - the `reco` program: one table of subcommands; each lives in its own file. */
#include "cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"

static const cli_command k_commands[] = {
    {"data", cmd_data, "fetch, generate and inspect datasets"},
    {"train", cmd_train, "train a model and save it (optionally into a registry)"},
    {"eval", cmd_eval, "evaluate algorithms with a protocol of EVALUATION.md"},
    {"tune", cmd_tune, "search an algorithm's parameters on a validation split"},
    {"recommend", cmd_recommend, "top-N recommendations for a user from a saved model"},
    {"similar", cmd_similar, "items similar to an item, through the recommend pipeline"},
    {"models", cmd_models, "list, inspect, activate and roll back model versions"},
    {"serve", cmd_serve, "serve recommendations over HTTP (trains a demo on first run)"},
    {"import", cmd_import, "load a dataset's interactions into the interaction store"},
    {NULL, NULL, NULL},
};

static void log_to_stderr(int level, const char *msg, void *ud) {
  static const char *const names[] = {"error", "warning", "info", "debug"};
  (void)ud;
  fprintf(stderr, "reco: %s: %s\n", names[level & 3], msg);
}

int cli_fail(const char *what, int rc) {
  const char *d = reco_last_error();
  if (d && *d) fprintf(stderr, "reco: %s: %s\n", what, d);
  else fprintf(stderr, "reco: %s: %s\n", what, reco_strerror(rc));
  return EXIT_FAIL;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "reco %s: ", cmd);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nTry 'reco %s --help'.\n", cmd);
  return EXIT_USAGE;
}

int cli_dispatch(const char *prefix, const cli_command *cmds, int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    FILE *f = argc < 2 ? stderr : stdout;
    fprintf(f, "Usage: %s <command> [options]\n\nCommands:\n", prefix);
    for (const cli_command *c = cmds; c->name; c++) fprintf(f, "  %-11s %s\n", c->name, c->summary);
    fprintf(f, "\nRun '%s <command> --help' for a command's options.\n", prefix);
    return argc < 2 ? EXIT_USAGE : EXIT_OK;
  }
  for (const cli_command *c = cmds; c->name; c++)
    if (!strcmp(argv[1], c->name)) return c->run(argc - 1, argv + 1);
  fprintf(stderr, "%s: unknown command '%s'\nTry '%s --help'.\n", prefix, argv[1], prefix);
  return EXIT_USAGE;
}

typedef struct bar_state {
  double last, start;
  int drawn;
} bar_state;

static int draw_bar(void *ud, const char *stage, double done, double total, const char *info) {
  bar_state *b = ud;
  double now = reco__now();
  if (b->start == 0) b->start = now;
  bool finished = total > 0 && done >= total;
  if (!finished && now - b->last < 0.1) return 0;
  if (!finished && now - b->start < 1.0) return 0; /* only for work that takes over a second */
  b->last = now;
  int width = 30, fill = total > 0 ? (int)(width * (done / total)) : 0;
  if (fill > width) fill = width;
  char bar[64];
  memset(bar, '#', (size_t)fill);
  memset(bar + fill, '.', (size_t)(width - fill));
  bar[width] = '\0';
  fprintf(stderr, "\r\033[K%-14s [%s] %5.1f%% %s", stage, bar, total > 0 ? 100.0 * done / total : 0.0, info ? info : "");
  if (finished) fputc('\n', stderr);
  b->drawn = 1;
  return 0;
}

reco_progress cli_progress(bool quiet) {
  static bar_state state;
  reco_progress p = {NULL, NULL};
  if (!quiet && isatty(STDERR_FILENO)) {
    p.fn = draw_bar;
    p.ud = &state;
  }
  return p;
}

bool cli_parse_int(const char *cmd, const char *opt, const char *s, long min, long max, long *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end || v < min || v > max) {
    cli_usage_error(cmd, "%s: expected an integer in [%ld, %ld], got '%s'", opt, min, max, s);
    return false;
  }
  *out = v;
  return true;
}

bool cli_parse_double(const char *cmd, const char *opt, const char *s, double *out) {
  char *end;
  double v = strtod(s, &end);
  if (*s == '\0' || *end) {
    cli_usage_error(cmd, "%s: expected a number, got '%s'", opt, s);
    return false;
  }
  *out = v;
  return true;
}

void cli_json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
    switch (*p) {
    case '"': fputs("\\\"", f); break;
    case '\\': fputs("\\\\", f); break;
    case '\n': fputs("\\n", f); break;
    case '\r': fputs("\\r", f); break;
    case '\t': fputs("\\t", f); break;
    default:
      if (*p < 0x20) fprintf(f, "\\u%04x", *p);
      else fputc(*p, f);
    }
  }
  fputc('"', f);
}

int main(int argc, char **argv) {
  reco_set_log(log_to_stderr, NULL, getenv("RECO_DEBUG") ? RECO_LOG_DEBUG : RECO_LOG_WARN);
  if (argc >= 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))) {
    printf("reco %s\n", RECO_VERSION);
    return EXIT_OK;
  }
  return cli_dispatch("reco", k_commands, argc, argv);
}
