/*
 * protocol.h - the evaluation protocols of EVALUATION.md (RATE-U1, RATE-5F, TOPN-U1,
 * TOPN-U1-GE4, LOO, SEQ, COLD-USER, COLD-ITEM, GIVEN): data preparation, fitting each algorithm,
 * and measuring it. Results are plain structs; the CLI formats them (text, JSON, CSV).
 */
#ifndef RECO_PROTOCOL_H
#define RECO_PROTOCOL_H

#include "../algo/algo.h"
#include "metrics.h"

#define RECO_EVAL_MAX_METRICS 40

typedef struct reco_eval_opts {
  const char *protocol;  /* id, case-insensitive */
  const char *data;      /* dataset folder or file */
  const char *train_path, *test_path, *neg_path; /* GIVEN */
  const char *const *sets; /* "algo.key=value" (or "key=value" for every algorithm) */
  int n_sets;
  uint64_t seed;
  int k;                 /* cut-off, default 10 */
  int n_neg;             /* sampled negatives (LOO 99, SEQ 100 by default when 0) */
  double frac;           /* held-out share for COLD-USER / COLD-ITEM (default 0.1) */
  reco_progress progress;
} reco_eval_opts;

typedef struct reco_eval_metric {
  char name[32];
  double value;
} reco_eval_metric;

typedef struct reco_eval_result {
  char algo[32];
  char params[2048];
  reco_eval_metric metrics[RECO_EVAL_MAX_METRICS];
  int n_metrics;
  size_t users;
  double fit_s, predict_s;
  double recommend_us; /* median wall time of one user's top-k (score + select), microseconds */
  int rc;              /* 0, or the error that stopped this algorithm */
  char error[256];
} reco_eval_result;

typedef struct reco_eval_report {
  char protocol[16];
  char data[512];
  int32_t users, items;
  size_t interactions;
  int folds;
  int k;
  reco_eval_result *results;
  int n_results;
} reco_eval_report;

/* Runs the protocol for each algorithm. A failing algorithm records its error in its result
 * (rc, error) and the others still run; data preparation errors fail the whole call. */
int reco__eval_run(const reco_eval_opts *o, const char *const *algos, int n_algos, reco_eval_report *out);
void reco__eval_report_free(reco_eval_report *r);
/* Applies the opts' --set values that concern m's algorithm. */
int reco__eval_apply_sets(reco_model *m, const char *const *sets, int n_sets);
double reco__eval_metric(const reco_eval_result *r, const char *name); /* NAN when absent */



/* Fits `algo` on a seeded 90/10 per-user split of ds and writes its validation metrics as a
 * JSON object into out (RMSE/MAE for rating models; P/Recall/NDCG/MAP@10 for rankers). */
int reco__eval_validate(const reco_dataset *ds, const char *algo, const char *const *sets, int n_sets, uint64_t seed,
                        char *out, size_t len);
#endif
