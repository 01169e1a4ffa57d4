/* cli.h - shared helpers of the `reco` program: the command tables, error reporting, the
 * progress bar, and option parsing helpers. Only cmd/ prints. */
#ifndef RECO_CLI_H
#define RECO_CLI_H

#include "reco.h"

#include <stdbool.h>
#include <stdio.h>

/* Exit codes: 0 ok, 1 failure, 2 usage. */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

typedef struct cli_command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} cli_command;

/* Prints "reco: <what>: <detail or strerror>" to stderr and returns EXIT_FAIL. */
int cli_fail(const char *what, int rc);
/* Prints a usage error and the hint to run --help; returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Dispatches argv[1] among cmds (for `reco data ...`); prints a table on --help. */
int cli_dispatch(const char *prefix, const cli_command *cmds, int argc, char **argv);

/* Progress bar on stderr when it is a terminal (and --quiet not given); returns a reco_progress. */
reco_progress cli_progress(bool quiet);
/* Parses an integer or float option, reporting a usage error naming the option. */
bool cli_parse_int(const char *cmd, const char *opt, const char *s, long min, long max, long *out);
bool cli_parse_double(const char *cmd, const char *opt, const char *s, double *out);
/* Prints a JSON string literal (escaped) to f. */
void cli_json_str(FILE *f, const char *s);

int cmd_data(int argc, char **argv);
int cmd_data_info(int argc, char **argv);
int cmd_data_gen(int argc, char **argv);
int cmd_data_fetch(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_tune(int argc, char **argv);
int cmd_recommend(int argc, char **argv);
int cmd_models(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_import(int argc, char **argv);
/* import.c: when MODEL_PATH has no model and the store holds interactions, trains the models
 * from the store (and the catalogue at DEMO_DATA_PATH if one is there); *trained says whether
 * it did. Returns an exit code. */
struct srv_config;
int serve_train_from_store(const struct srv_config *cfg, bool *trained);

#endif
