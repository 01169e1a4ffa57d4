/*
 * synth.h - deterministic synthetic datasets for three domains: e-commerce, streaming, news.
 *
 * The model of the world (synth.c explains each step and its constants):
 *   - categories (e-commerce departments, film genres, news topics), each with a centroid in a
 *     k-dimensional taste space and a share of the catalogue;
 *   - items: one to three categories, a unit latent vector near their categories' centroids, a
 *     hidden quality, and a Zipf-like popularity (a random rank, exponent ~1); news articles
 *     also have a publication time and a short life;
 *   - users: drawn from a few dozen taste archetypes; each has a sparse Dirichlet preference
 *     over categories and a latent vector near the archetype's, a log-normal activity level and
 *     a period of activity;
 *   - behaviour: sessions of events spread over the time span; each item choice is O(1): a
 *     popularity draw, a continuation of the session (a category of the previous item, tilted
 *     towards it), or a category from the user's preference, then the best of a few candidates
 *     drawn from that category's popularity alias table by affinity (user . item);
 *   - events: e-commerce view -> click -> cart -> purchase funnel (plus ratings after some
 *     purchases when explicit ratings are on), streaming explicit 1-5 ratings driven by affinity
 *     and quality (or implicit views valued by completion), news clicks on recent articles.
 *
 * Determinism: every random stream is seeded from (seed, purpose, index), users are generated
 * in parallel into slices fixed before the parallel loop, so the same parameters give the same
 * dataset, and byte-identical files, for any number of threads. (Across machines the same
 * holds when libm and the compiler's floating-point contraction agree: choices depend on
 * exp/log/pow results, so an x86-64 build with FMA and one without may differ.)
 *
 * Files written by reco__synth_write (read back by the "reco" format loader, load.h):
 *   interactions.csv  user,item,value,timestamp,type   (type: view/click/cart/purchase/rating)
 *   items.csv         item,title,category,tags,price,year,text   (category, tags: '|' separated)
 *   users.csv         user,segment   (generally: one column per key of the user attributes)
 * With context on, interactions.csv has two more columns, device and location.
 * Quoting follows RFC 4180. The items' average star rating (e-commerce and streaming) has no
 * column of its own: it leads the text as "rating=4.3 reviews=812. ..." (reco__synth_text_rating).
 */
#ifndef RECO_SYNTH_H
#define RECO_SYNTH_H

#include "dataset.h"

typedef enum {
  RECO_SYNTH_ECOMMERCE = 0,
  RECO_SYNTH_STREAMING,
  RECO_SYNTH_NEWS,
  RECO_SYNTH__COUNT
} reco_synth_domain;

#define RECO_SYNTH_MAX_CATEGORIES 64
#define RECO_SYNTH_MAX_DIM 64

typedef struct reco_synth_params {
  reco_synth_domain domain;
  int32_t n_users, n_items;
  int64_t n_interactions; /* exact number of events generated */
  uint64_t seed;
  int n_categories;      /* 1..64; names beyond the domain's list are "category-N" */
  bool explicit_ratings; /* streaming: 1-5 ratings (else views valued by completion);
                            e-commerce: a rating after some purchases; news: ignored */
  int dim;               /* latent taste dimensions, 2..64 */
  int n_archetypes;      /* taste archetypes users are drawn from (>= 1) */
  double zipf;           /* popularity exponent: weight of rank r is (r + 1)^-zipf */
  double p_popular;      /* an item choice follows global popularity alone */
  double p_continue;     /* ... continues the session's previous item */
  double p_explore;      /* ... explores a uniformly random category */
  double affinity;       /* archetype taste sharpness: item weight popularity x exp(affinity v.q) */
  int candidates;        /* candidates drawn per choice, the best by affinity is taken (>= 1) */
  double taste_noise;    /* 0..1: how far a user's vector strays from the archetype's */
  int64_t t_start;       /* unix seconds of the span's start */
  int32_t span_days;     /* length of the time span */
  int threads;           /* 0 = reco_get_threads(); the output does not depend on it */
  bool context;          /* per-interaction device and location (dataset ctx columns) */
  double context_effect; /* 0..1: share of category choices drawn from the session's context
                            cell (device x time of day) instead of the user's taste; 0 = none */
} reco_synth_params;

/* Fills *p with the domain's defaults (documented in synth.c and `reco data gen --help`). */
void reco__synth_defaults(reco_synth_params *p, reco_synth_domain d);
/* "ecommerce", "streaming", "news"; parse returns -1 when unknown ("e-commerce" accepted). */
const char *reco__synth_domain_name(reco_synth_domain d);
int reco__synth_domain_parse(const char *s);
/* RECO_EINVAL with a message naming the first bad field, or 0. */
int reco__synth_check(const reco_synth_params *p);

/* Generates a finalized dataset with item metadata and user segments. pr may be NULL. */
int reco__synth_generate(const reco_synth_params *p, const reco_progress *pr, reco_dataset **out);

/* Writes any finalized dataset as a "reco" folder (created if missing; files replaced
 * atomically through a temporary name): interactions.csv, items.csv when the dataset has item
 * metadata, users.csv when it has user attributes. */
int reco__synth_write(const reco_dataset *ds, const char *dir);

/* The average star rating at the head of an item text ("rating=4.3 ..."), or NAN. */
float reco__synth_text_rating(const char *text);

#endif
