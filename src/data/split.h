/*
 * split.h - evaluation splits (all seeded and deterministic for a seed). A split marks each
 * COO interaction of a dataset with a part: 0 = train, 1 = validation, 2 = test; the parts are
 * then materialised with reco__ds_subset, sharing the dataset's id maps.
 */
#ifndef RECO_SPLIT_H
#define RECO_SPLIT_H

#include "dataset.h"

enum { RECO_PART_TRAIN = 0, RECO_PART_VALID = 1, RECO_PART_TEST = 2 };

/* Each interaction goes to test with probability frac. */
int reco__split_random(const reco_dataset *ds, double frac, uint64_t seed, uint8_t *part);
/* Per user: round(frac * n_u) of each user's interactions (at least one user keeps >= 1 train). */
int reco__split_user_ratio(const reco_dataset *ds, double frac, uint64_t seed, uint8_t *part);
/* k-fold: interactions shuffled with the seed, fold f of k is test. */
int reco__split_kfold(const reco_dataset *ds, int k, int fold, uint64_t seed, uint8_t *part);
/* Leave-one-out by time: each user's latest interaction (ties: larger item index is "later")
 * is test; with validation, the second latest is validation. Users with < 2 (3) stay in train. */
int reco__split_loo(const reco_dataset *ds, bool validation, uint8_t *part);
/* Global temporal: the latest frac of interactions by timestamp are test. */
int reco__split_temporal(const reco_dataset *ds, double frac, uint8_t *part);
/* Marks a seeded frac of the users (or items) in sel[] (n_users or n_items entries). */
int reco__split_pick(int32_t n, double frac, uint64_t seed, uint8_t *sel);

/* For each user in users[], n negatives (items the user never interacted with in ds), drawn
 * uniformly without replacement with the seed; out has n_users_listed * n entries. */
int reco__sample_negatives(const reco_dataset *ds, const int32_t *users, size_t n_users, int n, uint64_t seed,
                           int32_t *out);

#endif
