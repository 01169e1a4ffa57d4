/* similar.c - `reco similar`: items like a given item, through the recommend pipeline. The
 * item is the whole history of an anonymous view, so every member scores "users who had this
 * item" (item-kNN: its neighbours; factor models: the item folded in as a one-item history);
 * the pipeline then applies the same filters, rules, diversity and pagination as
 * `reco recommend`, and the anchor item itself is excluded as seen. */
#include <string.h>

#include "cli.h"

static void usage(FILE *f) {
  fprintf(f,
          "Usage: reco similar --model FILE --item ID [options]\n"
          "Items similar to ITEM, through the recommend pipeline.\n\n"
          "  --model FILE       a model file written by `reco train`\n"
          "  --item ID          the item's external id\n"
          "  --data PATH        the dataset: titles, and the metadata the filters need\n"
          "  -k, --k N          how many (default 10)\n"
          "  --offset N         skip the first N of the ranked list (pagination)\n"
          "%s"
          "  --json             JSON output\n"
          "  -h, --help         this help\n",
          cli_rank_options_help);
}

int cmd_similar(int argc, char **argv) {
  cli_rank o;
  int rc = cli_rank_parse(&o, "similar", argc, argv, "m:d:i:k:jh", usage);
  if (rc >= 0) return rc;
  if (!o.item) return cli_usage_error("similar", "--item is required");
  if (o.user || o.history || o.include_seen)
    return cli_usage_error("similar", "--user, --history and --include-seen are for `reco recommend`");
  return cli_rank_run(&o);
}
