/* data.c - `reco data`: the dataset subcommands. */
#include "cli.h"

static const cli_command k_data_commands[] = {
    {"fetch", cmd_data_fetch, "download a MovieLens dataset (verified by SHA-256) into the cache"},
    {"gen", cmd_data_gen, "generate a synthetic dataset (ecommerce, streaming or news)"},
    {"info", cmd_data_info, "load a dataset and print its counts"},
    {NULL, NULL, NULL},
};

int cmd_data(int argc, char **argv) { return cli_dispatch("reco data", k_data_commands, argc, argv); }
