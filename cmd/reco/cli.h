/* cli.h - shared helpers of the `reco` program: the command tables, error reporting, the
 * progress bar, and option parsing helpers. Only cmd/ prints. */
#ifndef RECO_CLI_H
#define RECO_CLI_H

#include "reco.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
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
int cmd_similar(int argc, char **argv);

/* The recommend pipeline from the command line (recommend.c), shared by `reco recommend` and
 * `reco similar`: options, their help text and the run. */
#define CLI_MAX_CATEGORIES 32
#define CLI_RANK_OPT_BASE 300
typedef struct cli_rank {
  const char *cmd, *model_path, *data, *user, *history, *item;
  long k, offset, min_cf;
  int json, include_seen, cold, n_cats, n_xcats;
  const char *cats[CLI_MAX_CATEGORIES], *xcats[CLI_MAX_CATEGORIES];
  double diversity, novelty, min_rating, price_min, price_max; /* NAN = unset */
  const char *exclude, *boost, *pin, *bury, *session;          /* comma-separated lists */
  const char *ctx_model_path, *device, *location;
  int64_t when; /* INT64_MIN = now */
  double ctx_weight, sess_weight, half_life;
  const char *explore_model_path;
  long explore_slots;
} cli_rank;
extern const struct option cli_rank_long_opts[];
extern const char *const cli_rank_options_help;
void cli_rank_defaults(cli_rank *o, const char *cmd);
/* 1 = taken, 0 = not an option of the pipeline, -1 = usage error (printed). */
int cli_rank_option(cli_rank *o, int c, const char *arg);
/* The whole command line of `reco recommend` or `reco similar` (short options `shortopts`,
 * the pipeline's long options) into o, with its defaults for cmd. Returns -1 when parsed
 * (continue), else the exit code to return (--help printed by usage(stdout); a usage error). */
int cli_rank_parse(cli_rank *o, const char *cmd, int argc, char **argv, const char *shortopts, void (*usage)(FILE *));
int cli_rank_run(const cli_rank *o);
int cmd_models(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_import(int argc, char **argv);
/* import.c: when MODEL_PATH has no model and the store holds interactions, trains the models
 * from the store (and the catalogue at DEMO_DATA_PATH if one is there); *trained says whether
 * it did. Returns an exit code. */
struct srv_config;
int serve_train_from_store(const struct srv_config *cfg, bool *trained);

#endif
