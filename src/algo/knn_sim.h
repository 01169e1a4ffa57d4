/*
 * knn_sim.h - sparse similarity tables for the neighbourhood models (knn.c): for every row of a
 * CSR matrix (items over users for item-kNN, users over items for user-kNN), the `keep` most
 * similar other rows, best first. Computed row by row from the co-occurrences found through
 * the transposed matrix, so the cost is sum over columns of (column length)^2, never
 * n_rows^2; rows are spread over OpenMP threads and every thread keeps its own dense
 * accumulators. The formulas are in knn_sim.c.
 */
#ifndef RECO_KNN_SIM_H
#define RECO_KNN_SIM_H

#include "algo.h"

/* The order matches the enum text below (a parameter's value is an index into it). */
typedef enum {
  RECO_KNN_COSINE = 0,
  RECO_KNN_ADJCOS,
  RECO_KNN_PEARSON,
  RECO_KNN_PEARSON_BASELINE,
  RECO_KNN_JACCARD,
  RECO_KNN_MSD
} reco_knn_kind;
#define RECO_KNN_SIM_CHOICES "cosine|adjusted_cosine|pearson|pearson_baseline|jaccard|msd"

/* A CSR matrix whose rows are compared. val may be NULL (every entry 1). */
typedef struct reco_knn_mat {
  int32_t n_rows;
  const int64_t *ptr;
  const int32_t *idx;
  const float *val;
} reco_knn_mat;

typedef struct reco_knn_opts {
  reco_knn_kind kind;
  int keep;        /* neighbours kept per row */
  int min_support; /* common columns needed for a pair to count */
  double shrink;   /* multiply by n / (n + shrink) ((n-1)/(n-1+shrink) for pearson_baseline) */
  double alpha;    /* cosine only: asymmetric exponent (0.5 = symmetric cosine) */
  double power;    /* kept positive similarities raised to this power (1 = unchanged) */
  bool positive;   /* keep only similarities > 0 */
} reco_knn_opts;

/* Neighbour lists: row r's neighbours are idx[ptr[r] .. ptr[r+1]), best first. */
typedef struct reco_knn_table {
  int32_t n_rows;
  int64_t *ptr;
  int32_t *idx;
  float *sim;
} reco_knn_table;

/*
 * Builds the table for the rows of `rows`, whose transpose is `cols` (same values, so
 * cols->n_rows is the number of columns of `rows`). Progress is reported between blocks of
 * rows (never from a worker thread), so a cancel stops the build within one block.
 */
int reco__knn_build(const reco_knn_mat *rows, const reco_knn_mat *cols, const reco_knn_opts *o, const reco_progress *pr,
                    const char *stage, reco_knn_table *out);
void reco__knn_table_free(reco_knn_table *t);
/* out row b lists every a with b in in's row a, with in's similarity, best first. n_cols is
 * the number of distinct targets (rows of out). */
int reco__knn_table_transpose(const reco_knn_table *in, int32_t n_cols, reco_knn_table *out);
size_t reco__knn_table_bytes(const reco_knn_table *t);
/* Sections "<prefix>_ptr", "<prefix>_idx", "<prefix>_sim"; load checks every index. */
int reco__knn_table_save(const reco_knn_table *t, reco_mf_writer *w, const char *prefix);
int reco__knn_table_load(reco_knn_table *t, const reco_mf_reader *r, const char *prefix, int32_t n_rows,
                         int32_t n_targets);

/*
 * Similarity from the statistics of one pair over their common columns (n of them):
 * sxy = sum x*y, sxx, syy, sx, sy; na, nb = row lengths; for cosine, norm_a = |a|^(2 alpha)
 * and norm_b = |b|^(2 (1 - alpha)) (the full row norms when alpha = 0.5). Shrinkage is
 * applied; the power is not (it is applied to the kept neighbours).
 */
double reco__knn_finish(const reco_knn_opts *o, double n, double sxy, double sxx, double syy, double sx, double sy,
                        double na, double nb, double norm_a, double norm_b);

/* Binary search of a sorted index array; position or -1. */
static inline int64_t reco__knn_find(const int32_t *idx, int64_t lo, int64_t hi, int32_t key) {
  hi--;
  while (lo <= hi) {
    int64_t mid = (lo + hi) >> 1;
    int32_t c = idx[mid];
    if (c == key) return mid;
    if (c < key)
      lo = mid + 1;
    else
      hi = mid - 1;
  }
  return -1;
}

#endif
