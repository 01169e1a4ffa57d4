/*
 * content.c - the content-based model `content` (Lops, de Gemmis, Semeraro 2011, "Content-based
 * recommender systems: state of the art and trends"): items are described by their metadata
 * alone, a user by the items of their history, and items are ranked by how close their
 * descriptions are to those of the history.
 *
 * Item vectors. Every item becomes a bag of prefixed tokens, one vocabulary for all fields:
 *   w:word    title words (text.h: lower-cased, UTF-8 kept as bytes, stop words and one-letter
 *             words dropped, the "(1995)" year suffix removed: the year is the decade field)
 *   x:word    free-text words (same rules)
 *   g:label   categories / genres          t:label   tags (tf = times the tag was applied)
 *   d:1990s d:1995-2004   the year in two overlapping ten-year bins, one shifted by five years:
 *             years less than five apart share a token or two, ten or more apart none
 *   p:7 p:6.5 the price in two overlapping bins of floor(2 log2 price) (a factor sqrt 2 wide),
 *             one shifted by half a bin; "p:free" for a price of 0
 * Tokens found in fewer than `min_df` items, or in every described item, are dropped. A token's
 * weight is Salton & Buckley's (1988) tf-idf with sublinear term frequency,
 *   x_it = (1 + ln tf_it) * ln(N / df_t),   N = items with any token,
 * then each field's block is L2-normalised and scaled by the field's weight alpha_f, and
 *   normalize=fields (default): the vector is divided by sqrt(sum alpha_f^2) over the fields
 *     the catalogue has, so v_a . v_b = sum_f alpha_f^2 cos_f(a, b) / sum_f alpha_f^2, a
 *     weighted mean of per-field cosines in which a field one item lacks counts 0 (a tagged
 *     item is not pushed away from a genre profile by having tags; measured better on
 *     COLD-ITEM, TOPN-U1 and COLD-USER alike);
 *   normalize=item: the vector is L2-normalised, v_a . v_b the plain cosine.
 * Vectors come from the catalogue, never from interactions, so every index of the dataset's
 * item map gets one, including items nobody has interacted with (COLD-ITEM).
 *
 * Similar items. s_ab = v_a . v_b, computed sparse through the inverted index (the token ->
 * items transpose) with OpenMP over items and per-thread dense accumulators: the cost is
 * sum_t df_t^2, never n_items^2 pairs. The best `neighbours` are kept per item, equal
 * similarities ordered by a seeded permutation (not by index, which may carry the catalogue's
 * history); `similar` is a lookup in that table.
 *
 * Scoring a user view. History weights w_j: the interaction's value ("value"), the value minus
 * the view's mean ("centered": disliked items push away; a flat history falls back to equal
 * weights), or 1 ("binary"). Two scorers over the profile p = sum_j w_j v_j / sum_j |w_j|:
 *   scorer=neighbours (default): p . v_i with each history item's similarities pruned to its
 *     neighbour list, score_i = sum_{j: i in N(j)} w_j s_ji / sum_j |w_j|: only close matches
 *     count, so a sequel or a same-tag item beats the broad genre centroid (measured better on
 *     COLD-ITEM and TOPN-U1). Cost: |history| x neighbours.
 *   scorer=profile: the exact cosine(p, v_i) = p . v_i / |p|, accumulated through the inverted
 *     index into the caller's output array. The postings of the frequent tokens (the first
 *     `n_dense`: the vocabulary is sorted by document frequency) are walked once with the
 *     profile's merged weight, collected in a small stack array; rare tokens' postings are
 *     short and walked per history item. Since out_i = p . v_i for every item, |p|^2 =
 *     sum_j w_j out_j costs no extra pass.
 * Both then add pop_weight * pop_i + 1e-6 * pop_i, pop_i = ln(1 + users_i) / ln(1 + max users)
 * over the training interactions (in [0, 1]); the last term only breaks ties, so a history with
 * no overlap at all ranks by popularity. pop_weight defaults to 0: any prior pushes every item
 * nobody has interacted with below the rest (COLD-ITEM hit rate 0.025 at 0, 0 at 0.3).
 * No allocation per request.
 *
 * `explain` lists the history items whose contribution w_j v_j . v_i is largest (positive
 * only): the "because you liked X" of the API.
 *
 * Model file sections: vec_ptr/vec_tok/vec_val (the item vectors, CSR), nb_ptr/nb_idx/nb_sim
 * (neighbour lists), pop, idf and vocab (the token strings, NUL-separated, in token order: what
 * a server needs to describe an item added after training). The inverted index is rebuilt on
 * load.
 */
#include "knn_sim.h"
#include "text.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { F_TITLE = 0, F_TEXT, F_GENRE, F_TAG, F_DECADE, F_PRICE, F__COUNT };
enum { W_VALUE = 0, W_CENTERED, W_BINARY };
enum { S_PROFILE = 0, S_NEIGHBOURS };
enum { N_FIELDS = 0, N_ITEM };

static const char *const k_prefix[F__COUNT] = {"w:", "x:", "g:", "t:", "d:", "p:"};
static const char *const k_field_param[F__COUNT] = {"title_weight", "text_weight",   "genre_weight",
                                                     "tag_weight",   "decade_weight", "price_weight"};

static const reco_param_spec k_params[] = {
    {"title_weight", RECO_P_FLOAT, 1, 0, 100, NULL, "weight of the title words (0 = ignore the field)"},
    {"text_weight", RECO_P_FLOAT, 1, 0, 100, NULL, "weight of the free-text words"},
    {"genre_weight", RECO_P_FLOAT, 1, 0, 100, NULL, "weight of the categories / genres"},
    {"tag_weight", RECO_P_FLOAT, 1, 0, 100, NULL, "weight of the tags"},
    {"decade_weight", RECO_P_FLOAT, 0.5, 0, 100, NULL, "weight of the year (decade bins)"},
    {"price_weight", RECO_P_FLOAT, 0.5, 0, 100, NULL, "weight of the price bins"},
    {"normalize", RECO_P_ENUM, N_FIELDS, 0, 1, "fields|item",
     "fields: each field's block unit length, a missing field adds nothing; item: the whole vector unit length"},
    {"min_df", RECO_P_INT, 2, 1, 1e9, NULL, "tokens found in fewer items are dropped"},
    {"neighbours", RECO_P_INT, 50, 1, 100000, NULL, "most similar items kept per item (similar, scorer=neighbours)"},
    {"scorer", RECO_P_ENUM, S_NEIGHBOURS, 0, 1, "profile|neighbours",
     "profile: cosine to the history's mean vector; neighbours: mean similarity over the history's neighbour lists"},
    {"weights", RECO_P_ENUM, W_VALUE, 0, 2, "value|centered|binary", "history weights in the user profile"},
    {"pop_weight", RECO_P_FLOAT, 0, 0, 100, NULL, "popularity prior added to the score (popularity in [0, 1])"},
};

#define CONTENT_MAX_DENSE 512 /* frequent tokens merged per request on the stack */
#define CONTENT_DENSE_DF 16   /* a token is frequent from this many items */
#define CONTENT_TIE 1e-6f     /* popularity share of the score that only breaks ties */

typedef struct content_state {
  int32_t n_tokens, n_dense;
  /* item vectors (field-normalised tf-idf), CSR by item, tokens ascending */
  int64_t *vptr;
  int32_t *vtok;
  float *vval;
  /* the inverted index (derived): token -> items ascending */
  int64_t *tptr;
  int32_t *titem;
  float *tval;
  float *idf;   /* per token */
  char *vocab;  /* token strings, NUL-separated, token order */
  uint64_t vocab_len;
  float *pop;   /* per item, in [0, 1] */
  reco_knn_table nb;
  int weights, scorer;
  float pop_weight;
} content_state;

static void content_free(reco_model *m) {
  content_state *s = m->state;
  if (!s) return;
  void *arrays[] = {s->vptr, s->vtok, s->vval, s->tptr, s->titem, s->tval, s->idf, s->vocab, s->pop};
  for (size_t k = 0; k < RECO_ARRAY_LEN(arrays); k++) reco__free_aligned(arrays[k]);
  reco__knn_table_free(&s->nb);
  reco__free(s);
  m->state = NULL;
}

static void read_params(const reco_model *m, content_state *s) {
  s->weights = (int)reco__model_param(m, "weights");
  s->pop_weight = (float)reco__model_param(m, "pop_weight");
  s->scorer = (int)reco__model_param(m, "scorer");
}

static size_t nz(size_t n) { return n ? n : 1; }

/* ---- vocabulary and tf-idf vectors ---- */

typedef struct tok_ent {
  int32_t tok;
  uint8_t field;
  float tf;
} tok_ent;

typedef struct vocab_build {
  reco_idmap *voc;
  tok_ent *e;
  size_t n, cap;
} vocab_build;

static int vb_add(vocab_build *b, int field, const char *s, size_t len, float tf) {
  char key[2 + 256];
  if (len > sizeof key - 2) len = sizeof key - 2;
  memcpy(key, k_prefix[field], 2);
  memcpy(key + 2, s, len);
  int32_t t = reco__idmap_add(b->voc, key, len + 2);
  if (t < 0) return reco__seterr(t, "out of memory for the content vocabulary");
  if (RECO_GROW(b->e, b->cap, b->n + 1)) return RECO_ENOMEM;
  b->e[b->n++] = (tok_ent){t, (uint8_t)field, tf};
  return 0;
}

static int vb_words(vocab_build *b, int field, const char *s, size_t len) {
  const char *p = s, *end = s + len;
  char w[RECO_TEXT_WORD_MAX];
  size_t n;
  while ((n = reco__text_next_word(&p, end, w)) > 0) {
    if (n == 1 && !(w[0] >= '0' && w[0] <= '9')) continue; /* "s" of "schindler's" */
    if (reco__text_is_stopword(w, n)) continue;
    int rc = vb_add(b, field, w, n, 1);
    if (rc) return rc;
  }
  return 0;
}

static int vb_label(vocab_build *b, int field, const char *s, float tf) {
  char lab[256];
  size_t n = reco__text_label(s, strlen(s), lab, sizeof lab);
  return n ? vb_add(b, field, lab, n, tf) : 0;
}

/*
 * A number as two overlapping bins: the bin of width `step` that holds v, and the bin shifted
 * by half a step ("1990s" and "1995-2004" for 1997). Values less than half a step apart share
 * at least one token, values a step or more apart none, so the similarity falls off with the
 * distance at the price of two tokens (not three, as with neighbour bins).
 */
static int vb_bins(vocab_build *b, int field, double v, double step, bool years) {
  long lo = (long)floor(v / step), sh = (long)floor(v / step - 0.5);
  char t[48];
  int n = years ? snprintf(t, sizeof t, "%lds", lo * (long)step) : snprintf(t, sizeof t, "%ld", lo);
  int rc = vb_add(b, field, t, (size_t)n, 1);
  if (rc) return rc;
  n = years ? snprintf(t, sizeof t, "%ld-%ld", sh * (long)step + (long)step / 2, sh * (long)step + (long)step / 2 + (long)step - 1)
            : snprintf(t, sizeof t, "%ld.5", sh);
  return vb_add(b, field, t, (size_t)n, 1);
}

static int item_tokens(vocab_build *b, const reco_itemmeta *meta, int32_t i, const double *alpha) {
  int rc = 0;
  if (!meta || i >= meta->n_items) return 0;
  if (alpha[F_TITLE] > 0 && meta->title_off[i] >= 0) {
    const char *t = meta->text.buf + meta->title_off[i];
    rc = vb_words(b, F_TITLE, t, reco__text_strip_year(t, strlen(t)));
  }
  if (!rc && alpha[F_TEXT] > 0 && meta->desc_off[i] >= 0) {
    const char *t = meta->text.buf + meta->desc_off[i];
    rc = vb_words(b, F_TEXT, t, strlen(t));
  }
  if (alpha[F_GENRE] > 0 && meta->cat_ptr)
    for (int64_t p = meta->cat_ptr[i]; !rc && p < meta->cat_ptr[i + 1]; p++)
      rc = vb_label(b, F_GENRE, reco__idmap_str(meta->cats, meta->cat_idx[p]), 1);
  if (alpha[F_TAG] > 0 && meta->tag_ptr)
    for (int64_t p = meta->tag_ptr[i]; !rc && p < meta->tag_ptr[i + 1]; p++)
      rc = vb_label(b, F_TAG, reco__idmap_str(meta->tags, meta->tag_idx[p]), meta->tag_cnt ? (float)meta->tag_cnt[p] : 1);
  if (!rc && alpha[F_DECADE] > 0 && meta->year[i] > 0) rc = vb_bins(b, F_DECADE, meta->year[i], 10, true);
  if (!rc && alpha[F_PRICE] > 0 && isfinite(meta->price[i]) && meta->price[i] >= 0) {
    if (meta->price[i] == 0) rc = vb_add(b, F_PRICE, "free", 4, 1);
    else rc = vb_bins(b, F_PRICE, 2 * log2(meta->price[i]), 1, false);
  }
  return rc;
}

static int cmp_ent(const void *a, const void *b) {
  int32_t x = ((const tok_ent *)a)->tok, y = ((const tok_ent *)b)->tok;
  return x < y ? -1 : x > y;
}

/* Sorts e[a..b) by token and merges repeats (tf summed); returns the new end. */
static size_t merge_item(tok_ent *e, size_t a, size_t b) {
  if (b - a > 1) qsort(e + a, b - a, sizeof *e, cmp_ent);
  size_t w = a;
  for (size_t k = a; k < b; k++) {
    if (w > a && e[w - 1].tok == e[k].tok) {
      e[w - 1].tf += e[k].tf;
      continue;
    }
    e[w++] = e[k];
  }
  return w;
}

typedef struct df_ord {
  int32_t df, tok;
} df_ord;

static int cmp_df(const void *a, const void *b) {
  const df_ord *x = a, *y = b;
  if (x->df != y->df) return x->df > y->df ? -1 : 1;
  return x->tok < y->tok ? -1 : x->tok > y->tok;
}

/* Builds the inverted index from the item vectors, and the count of frequent tokens. */
static int build_inverted(content_state *s, int32_t n_items) {
  int32_t nt = s->n_tokens;
  size_t nnz = (size_t)s->vptr[n_items];
  s->tptr = reco__aligned_calloc(((size_t)nt + 1) * sizeof *s->tptr);
  s->titem = reco__aligned_alloc(nz(nnz) * sizeof *s->titem);
  s->tval = reco__aligned_alloc(nz(nnz) * sizeof *s->tval);
  int64_t *fill = reco__malloc(nz((size_t)nt) * sizeof *fill);
  if (!s->tptr || !s->titem || !s->tval || !fill) {
    reco__free(fill);
    return reco__seterr(RECO_ENOMEM, "out of memory for the content index");
  }
  for (size_t p = 0; p < nnz; p++) s->tptr[s->vtok[p] + 1]++;
  for (int32_t t = 0; t < nt; t++) s->tptr[t + 1] += s->tptr[t];
  memcpy(fill, s->tptr, (size_t)nt * sizeof *fill);
  for (int32_t i = 0; i < n_items; i++)
    for (int64_t p = s->vptr[i]; p < s->vptr[i + 1]; p++) {
      int64_t q = fill[s->vtok[p]]++;
      s->titem[q] = i;
      s->tval[q] = s->vval[p];
    }
  reco__free(fill);
  s->n_dense = 0;
  while (s->n_dense < nt && s->n_dense < CONTENT_MAX_DENSE &&
         s->tptr[s->n_dense + 1] - s->tptr[s->n_dense] >= CONTENT_DENSE_DF)
    s->n_dense++;
  return 0;
}

/*
 * Tokens of every item, then the vocabulary (kept tokens, sorted by document frequency) and
 * the unit tf-idf vectors. Single-threaded: the vocabulary map is shared.
 */
static int build_vectors(reco_model *m, content_state *s, const reco_dataset *train) {
  int32_t n = m->n_items;
  const reco_itemmeta *meta = train->meta;
  double alpha[F__COUNT];
  for (int f = 0; f < F__COUNT; f++) alpha[f] = reco__model_param(m, k_field_param[f]);
  int32_t min_df = (int32_t)reco__model_param(m, "min_df");
  vocab_build b = {reco__idmap_new(), NULL, 0, 0};
  size_t *eptr = reco__malloc((nz((size_t)n) + 1) * sizeof *eptr);
  int32_t *df = NULL, *newid = NULL;
  df_ord *ord = NULL;
  uint8_t *vfield = NULL;
  int normalize = (int)reco__model_param(m, "normalize");
  int rc = 0;
  if (!b.voc || !eptr) {
    rc = reco__seterr(RECO_ENOMEM, "out of memory for the content vocabulary");
    goto done;
  }
  /* 1. tokens per item, merged */
  eptr[0] = 0;
  int32_t n_docs = 0;
  for (int32_t i = 0; i < n && !rc; i++) {
    size_t a = b.n;
    rc = item_tokens(&b, meta, i, alpha);
    if (rc) break;
    b.n = merge_item(b.e, a, b.n);
    eptr[i + 1] = b.n;
    n_docs += b.n > a;
  }
  if (rc) goto done;
  /* 2. document frequencies; keep 1 <= min_df <= df < n_docs, sorted by df descending */
  int32_t nv = reco__idmap_size(b.voc);
  df = reco__calloc(nz((size_t)nv), sizeof *df);
  newid = reco__malloc(nz((size_t)nv) * sizeof *newid);
  ord = reco__malloc(nz((size_t)nv) * sizeof *ord);
  if (!df || !newid || !ord) {
    rc = reco__seterr(RECO_ENOMEM, "out of memory for the content vocabulary");
    goto done;
  }
  for (size_t k = 0; k < b.n; k++) df[b.e[k].tok]++;
  int32_t nt = 0;
  for (int32_t t = 0; t < nv; t++) {
    newid[t] = -1;
    if (df[t] >= min_df && df[t] < n_docs) ord[nt++] = (df_ord){df[t], t};
  }
  qsort(ord, (size_t)nt, sizeof *ord, cmp_df);
  s->n_tokens = nt;
  s->idf = reco__aligned_alloc(nz((size_t)nt) * sizeof *s->idf);
  size_t vlen = 0;
  for (int32_t k = 0; k < nt; k++) vlen += strlen(reco__idmap_str(b.voc, ord[k].tok)) + 1;
  s->vocab = reco__aligned_alloc(nz(vlen));
  if (!s->idf || !s->vocab) {
    rc = reco__seterr(RECO_ENOMEM, "out of memory for the content vocabulary");
    goto done;
  }
  s->vocab_len = vlen;
  vlen = 0;
  for (int32_t k = 0; k < nt; k++) {
    newid[ord[k].tok] = k;
    s->idf[k] = (float)log((double)n_docs / (double)ord[k].df);
    const char *str = reco__idmap_str(b.voc, ord[k].tok);
    size_t l = strlen(str) + 1;
    memcpy(s->vocab + vlen, str, l);
    vlen += l;
  }
  /* 3. weights: sublinear tf times idf; each field's block normalised and scaled by alpha_f;
   * the whole vector normalised ("item"), or divided by the norm of a fully described item
   * ("fields": the fields any item has) */
  s->vptr = reco__aligned_alloc(((size_t)n + 1) * sizeof *s->vptr);
  s->vtok = reco__aligned_alloc(nz(b.n) * sizeof *s->vtok);
  s->vval = reco__aligned_alloc(nz(b.n) * sizeof *s->vval);
  vfield = reco__malloc(nz(b.n));
  if (!s->vptr || !s->vtok || !s->vval || !vfield) {
    rc = reco__seterr(RECO_ENOMEM, "out of memory for the content vectors");
    goto done;
  }
  bool any[F__COUNT] = {0};
  int64_t w = 0;
  s->vptr[0] = 0;
  for (int32_t i = 0; i < n; i++) {
    size_t a = eptr[i], e = eptr[i + 1], kept = 0;
    for (size_t k = a; k < e; k++) {
      int32_t t = newid[b.e[k].tok];
      if (t < 0) continue;
      /* compact the kept entries to the front of the item's range; tf becomes the weight */
      tok_ent *d = &b.e[a + kept++];
      d->tf = (float)((1 + log(b.e[k].tf)) * s->idf[t]);
      d->tok = t;
      d->field = b.e[k].field;
    }
    if (kept > 1) qsort(b.e + a, kept, sizeof *b.e, cmp_ent);
    for (size_t k = 0; k < kept; k++, w++) {
      s->vtok[w] = b.e[a + k].tok;
      s->vval[w] = b.e[a + k].tf;
      vfield[w] = b.e[a + k].field;
      any[vfield[w]] = true;
    }
    s->vptr[i + 1] = w;
  }
  double full = 0;
  for (int f = 0; f < F__COUNT; f++) full += any[f] ? alpha[f] * alpha[f] : 0;
  for (int32_t i = 0; i < n; i++) {
    double ss[F__COUNT] = {0}, scale[F__COUNT], tot = 0;
    for (int64_t p = s->vptr[i]; p < s->vptr[i + 1]; p++) ss[vfield[p]] += (double)s->vval[p] * s->vval[p];
    for (int f = 0; f < F__COUNT; f++) {
      scale[f] = ss[f] > 0 ? alpha[f] / sqrt(ss[f]) : 0;
      tot += ss[f] > 0 ? alpha[f] * alpha[f] : 0;
    }
    double norm = normalize == N_ITEM ? tot : full;
    norm = norm > 0 ? 1 / sqrt(norm) : 0;
    for (int64_t p = s->vptr[i]; p < s->vptr[i + 1]; p++) s->vval[p] = (float)(s->vval[p] * scale[vfield[p]] * norm);
  }
done:
  reco__idmap_unref(b.voc);
  reco__free(b.e);
  reco__free(eptr);
  reco__free(df);
  reco__free(newid);
  reco__free(ord);
  reco__free(vfield);
  return rc;
}

static int build_pop(reco_model *m, content_state *s, const reco_dataset *train) {
  int32_t n = m->n_items;
  s->pop = reco__aligned_calloc(nz((size_t)n) * sizeof *s->pop);
  if (!s->pop) return reco__seterr(RECO_ENOMEM, "out of memory for the popularity prior");
  int64_t mx = 0;
  for (int32_t i = 0; i < n && i < train->n_items; i++) mx = RECO_MAX(mx, train->iptr[i + 1] - train->iptr[i]);
  if (mx == 0) return 0;
  double den = log1p((double)mx);
  for (int32_t i = 0; i < n && i < train->n_items; i++) s->pop[i] = (float)(log1p((double)(train->iptr[i + 1] - train->iptr[i])) / den);
  return 0;
}

/*
 * The `keep` items b != a with the largest positive v_a . v_b, for every item a, best first:
 * v_a . v_b accumulated through the inverted index into a dense per-thread array (reset
 * through the list of items touched), so the cost is sum_t df_t^2, never n^2 pairs. Items are
 * spread over OpenMP threads in blocks; progress is reported between blocks, from this thread.
 */
static int build_neighbours(const content_state *s, int32_t n, int keep, uint64_t seed, const reco_progress *pr,
                            reco_knn_table *out) {
  memset(out, 0, sizeof *out);
  if (keep > n - 1) keep = n > 1 ? n - 1 : 1;
  int nth = omp_get_max_threads();
  size_t slots = nz((size_t)n) * (size_t)keep;
  int32_t *slot_idx = reco__malloc(slots * sizeof *slot_idx), *len = reco__calloc(nz((size_t)n), sizeof *len);
  float *slot_sim = reco__malloc(slots * sizeof *slot_sim);
  float **acc = reco__calloc((size_t)nth, sizeof *acc);
  int32_t **touched = reco__calloc((size_t)nth, sizeof *touched);
  reco_topk *heap = reco__calloc((size_t)nth, sizeof *heap);
  /* equal similarities (items with the same description) are ordered by a seeded permutation
   * of the items, not by index, so the lists carry no accident of the catalogue's order */
  int32_t *rank = reco__malloc(nz((size_t)n) * sizeof *rank), *unrank = reco__malloc(nz((size_t)n) * sizeof *unrank);
  int rc = (!slot_idx || !len || !slot_sim || !acc || !touched || !heap || !rank || !unrank) ? RECO_ENOMEM : 0;
  if (!rc) {
    reco_rng r;
    reco__rng_seed(&r, seed ^ 0x636f6e74656e74ull);
    for (int32_t i = 0; i < n; i++) unrank[i] = i;
    reco__rng_shuffle_i32(&r, unrank, (size_t)n);
    for (int32_t i = 0; i < n; i++) rank[unrank[i]] = i;
  }
  for (int t = 0; !rc && t < nth; t++) {
    acc[t] = reco__calloc(nz((size_t)n), sizeof **acc);
    touched[t] = reco__malloc(nz((size_t)n) * sizeof **touched);
    if (!acc[t] || !touched[t] || reco__topk_init(&heap[t], keep)) rc = RECO_ENOMEM;
  }
  if (rc) {
    rc = reco__seterr(RECO_ENOMEM, "out of memory for the content neighbours");
    goto done;
  }
  const int32_t block = 1024;
  for (int32_t start = 0; start < n && !rc; start += block) {
    int32_t end = n - start > block ? start + block : n;
#pragma omp parallel for schedule(dynamic, 8) num_threads(nth)
    for (int32_t a = start; a < end; a++) {
      int th = omp_get_thread_num();
      float *ac = acc[th];
      int32_t *tc = touched[th], nt = 0;
      for (int64_t p = s->vptr[a]; p < s->vptr[a + 1]; p++) {
        int32_t t = s->vtok[p];
        float x = s->vval[p];
        for (int64_t q = s->tptr[t]; q < s->tptr[t + 1]; q++) {
          int32_t b = s->titem[q];
          if (ac[b] == 0) tc[nt++] = b;
          ac[b] += x * s->tval[q];
          if (ac[b] == 0) ac[b] = 1e-30f; /* stays "touched" */
        }
      }
      reco_topk *h = &heap[th];
      reco__topk_reset(h);
      for (int32_t k = 0; k < nt; k++) {
        int32_t b = tc[k];
        if (b != a && ac[b] > 1e-20f) reco__topk_push(h, ac[b], rank[b]);
        ac[b] = 0;
      }
      int m = reco__topk_sort(h);
      for (int k = 0; k < m; k++) slot_idx[(size_t)a * keep + (size_t)k] = unrank[h->id[k]];
      memcpy(slot_sim + (size_t)a * keep, h->score, (size_t)m * sizeof *slot_sim);
      len[a] = m;
    }
    rc = reco__progress(pr, "content-neighbours", end, n, NULL);
  }
  if (rc) goto done;
  out->n_rows = n;
  out->ptr = reco__aligned_alloc(((size_t)n + 1) * sizeof *out->ptr);
  if (out->ptr) {
    out->ptr[0] = 0;
    for (int32_t a = 0; a < n; a++) out->ptr[a + 1] = out->ptr[a] + len[a];
  }
  size_t nnz = out->ptr ? (size_t)out->ptr[n] : 0;
  out->idx = reco__aligned_alloc(nz(nnz) * sizeof *out->idx);
  out->sim = reco__aligned_alloc(nz(nnz) * sizeof *out->sim);
  if (!out->ptr || !out->idx || !out->sim) {
    rc = reco__seterr(RECO_ENOMEM, "out of memory for the content neighbours");
    goto done;
  }
  for (int32_t a = 0; a < n; a++) {
    memcpy(out->idx + out->ptr[a], slot_idx + (size_t)a * keep, (size_t)len[a] * sizeof *out->idx);
    memcpy(out->sim + out->ptr[a], slot_sim + (size_t)a * keep, (size_t)len[a] * sizeof *out->sim);
  }
done:
  if (rc) reco__knn_table_free(out);
  for (int t = 0; t < nth; t++) {
    if (acc) reco__free(acc[t]);
    if (touched) reco__free(touched[t]);
    if (heap) reco__topk_free(&heap[t]);
  }
  reco__free(acc);
  reco__free(touched);
  reco__free(heap);
  reco__free(slot_idx);
  reco__free(slot_sim);
  reco__free(len);
  reco__free(rank);
  reco__free(unrank);
  return rc;
}

static int content_fit(reco_model *m, const reco_dataset *train, const reco_progress *pr) {
  content_state *s = reco__calloc(1, sizeof *s);
  if (!s) return reco__seterr(RECO_ENOMEM, "out of memory for the content model");
  m->state = s;
  read_params(m, s);
  int rc = build_vectors(m, s, train);
  if (!rc) rc = build_inverted(s, m->n_items);
  if (!rc) rc = build_pop(m, s, train);
  if (!rc) rc = reco__progress(pr, "content-vectors", 1, 1, NULL);
  if (rc) return rc;
  return build_neighbours(s, m->n_items, (int)reco__model_param(m, "neighbours"), m->seed, pr, &s->nb);
}

/* ---- scoring ---- */

typedef struct view_weights {
  int mode;
  float mean;
} view_weights;

static view_weights weights_of(const content_state *s, const reco_model *m, const reco_user_view *v) {
  view_weights w = {s->weights, 0};
  if (!v->values) w.mode = W_BINARY;
  if (w.mode != W_CENTERED) return w;
  double sum = 0;
  size_t n = 0;
  float lo = INFINITY, hi = -INFINITY;
  for (size_t x = 0; x < v->n; x++) {
    if (v->items[x] < 0 || v->items[x] >= m->n_items) continue;
    float r = v->values[x];
    sum += r;
    n++;
    lo = RECO_MIN(lo, r);
    hi = RECO_MAX(hi, r);
  }
  if (n == 0 || !(hi - lo > 1e-6f)) w.mode = W_BINARY; /* flat history: no like/dislike to centre */
  else w.mean = (float)(sum / (double)n);
  return w;
}

static inline float weight_at(const view_weights *w, const reco_user_view *v, size_t x) {
  switch (w->mode) {
  case W_VALUE: return v->values[x];
  case W_CENTERED: return v->values[x] - w->mean;
  default: return 1.0f;
  }
}

/* score_i = sum_j w_j s_ji / sum_j |w_j| over the pruned neighbour lists (s_ji = 0 elsewhere). */
static int score_neighbours(const reco_model *m, const reco_user_view *v, float *out) {
  const content_state *s = m->state;
  int32_t n = m->n_items;
  memset(out, 0, (size_t)n * sizeof *out);
  view_weights vw = weights_of(s, m, v);
  double tot = 0;
  for (size_t x = 0; x < v->n; x++) {
    int32_t j = v->items[x];
    if (j < 0 || j >= n) continue;
    float wj = weight_at(&vw, v, x);
    tot += fabsf(wj);
    for (int64_t p = s->nb.ptr[j]; p < s->nb.ptr[j + 1]; p++) out[s->nb.idx[p]] += wj * s->nb.sim[p];
  }
  float inv = tot > 0 ? (float)(1 / tot) : 0.0f, pw = s->pop_weight + CONTENT_TIE;
  for (int32_t i = 0; i < n; i++) out[i] = out[i] * inv + pw * s->pop[i];
  return 0;
}

static int content_score(const reco_model *m, const reco_user_view *v, float *out) {
  const content_state *s = m->state;
  if (s->scorer == S_NEIGHBOURS) return score_neighbours(m, v, out);
  int32_t n = m->n_items;
  float dense[CONTENT_MAX_DENSE];
  memset(out, 0, (size_t)n * sizeof *out);
  memset(dense, 0, (size_t)s->n_dense * sizeof *dense);
  view_weights vw = weights_of(s, m, v);
  const int64_t *tptr = s->tptr;
  const int32_t *titem = s->titem;
  const float *tval = s->tval;
  /* p . v_i for every item: rare tokens per history item, frequent ones merged */
  for (size_t x = 0; x < v->n; x++) {
    int32_t j = v->items[x];
    if (j < 0 || j >= n) continue;
    float wj = weight_at(&vw, v, x);
    if (wj == 0) continue;
    for (int64_t p = s->vptr[j]; p < s->vptr[j + 1]; p++) {
      int32_t t = s->vtok[p];
      float c = wj * s->vval[p];
      if (t < s->n_dense) {
        dense[t] += c;
        continue;
      }
      for (int64_t q = tptr[t]; q < tptr[t + 1]; q++) out[titem[q]] += c * tval[q];
    }
  }
  for (int32_t t = 0; t < s->n_dense; t++) {
    float c = dense[t];
    if (c == 0) continue;
    for (int64_t q = tptr[t]; q < tptr[t + 1]; q++) out[titem[q]] += c * tval[q];
  }
  /* |p|^2 = sum_j w_j (p . v_j), read off the scores of the history items */
  double pp = 0;
  for (size_t x = 0; x < v->n; x++) {
    int32_t j = v->items[x];
    if (j >= 0 && j < n) pp += (double)weight_at(&vw, v, x) * out[j];
  }
  float inv = pp > 1e-12 ? (float)(1 / sqrt(pp)) : 0.0f, pw = s->pop_weight + CONTENT_TIE;
  const float *pop = s->pop;
  for (int32_t i = 0; i < n; i++) out[i] = out[i] * inv + pw * pop[i];
  return 0;
}

static int content_similar(const reco_model *m, int32_t item, int k, int32_t *out_items, float *out_scores) {
  const content_state *s = m->state;
  if (item < 0 || item >= m->n_items) return reco__seterr(RECO_ENOTFOUND, "item %d is unknown to the model", item);
  int64_t a = s->nb.ptr[item], n = s->nb.ptr[item + 1] - a;
  if (k < n) n = k > 0 ? k : 0;
  if (n > 0) {
    memcpy(out_items, s->nb.idx + a, (size_t)n * sizeof *out_items);
    if (out_scores) memcpy(out_scores, s->nb.sim + a, (size_t)n * sizeof *out_scores);
  }
  return (int)n;
}

/* v_a . v_b by merging the two sorted token lists. */
static double dot_items(const content_state *s, int32_t a, int32_t b) {
  int64_t p = s->vptr[a], pe = s->vptr[a + 1], q = s->vptr[b], qe = s->vptr[b + 1];
  double d = 0;
  while (p < pe && q < qe) {
    int32_t x = s->vtok[p], y = s->vtok[q];
    if (x == y) d += (double)s->vval[p++] * s->vval[q++];
    else if (x < y) p++;
    else q++;
  }
  return d;
}

/* History items by their contribution w_j cos(v_j, v_item), positive only, largest first
 * (a history item listed twice counts once, with its larger contribution). */
static int content_explain(const reco_model *m, const reco_user_view *v, int32_t item, int k, int32_t *out_items,
                           float *out_weights) {
  const content_state *s = m->state;
  if (item < 0 || item >= m->n_items) return reco__seterr(RECO_ENOTFOUND, "item %d is unknown to the model", item);
  if (k <= 0) return 0;
  view_weights vw = weights_of(s, m, v);
  reco_topk h;
  int rc = reco__topk_init(&h, k);
  if (rc) return rc;
  for (size_t x = 0; x < v->n; x++) {
    int32_t j = v->items[x];
    if (j < 0 || j >= m->n_items || j == item) continue;
    float c = (float)(weight_at(&vw, v, x) * dot_items(s, j, item));
    if (c > 0) reco__topk_push(&h, c, j);
  }
  int n = reco__topk_sort(&h), kept = 0;
  for (int y = 0; y < n; y++) {
    bool dup = false;
    for (int z = 0; z < kept && !dup; z++) dup = out_items[z] == h.id[y];
    if (dup) continue;
    out_items[kept] = h.id[y];
    if (out_weights) out_weights[kept] = h.score[y];
    kept++;
  }
  reco__topk_free(&h);
  return kept;
}

/* ---- save / load ---- */

static int content_save(const reco_model *m, reco_mf_writer *w) {
  const content_state *s = m->state;
  uint64_t nnz = (uint64_t)s->vptr[m->n_items];
  int rc;
  if ((rc = reco__mf_section(w, "vec_ptr", RECO_DT_I64, s->vptr, (uint64_t)m->n_items + 1)) ||
      (rc = reco__mf_section(w, "vec_tok", RECO_DT_I32, s->vtok, nnz)) ||
      (rc = reco__mf_section(w, "vec_val", RECO_DT_F32, s->vval, nnz)) ||
      (rc = reco__mf_section(w, "pop", RECO_DT_F32, s->pop, (uint64_t)m->n_items)) ||
      (rc = reco__mf_section(w, "idf", RECO_DT_F32, s->idf, (uint64_t)s->n_tokens)) ||
      (rc = reco__mf_section(w, "vocab", RECO_DT_BYTES, s->vocab, s->vocab_len)))
    return rc;
  return reco__knn_table_save(&s->nb, w, "nb");
}

static int content_load(reco_model *m, const reco_mf_reader *r) {
  content_state *s = reco__calloc(1, sizeof *s);
  if (!s) return reco__seterr(RECO_ENOMEM, "out of memory for the content model");
  m->state = s;
  read_params(m, s);
  int32_t n = m->n_items;
  uint64_t nt, nnz;
  int rc;
  if ((rc = reco__mf_copy(r, "idf", RECO_DT_F32, -1, (void **)&s->idf, &nt))) return rc;
  if (nt > INT32_MAX) return reco__seterr(RECO_EFORMAT, "section idf: too many tokens");
  s->n_tokens = (int32_t)nt;
  if ((rc = reco__mf_copy(r, "vocab", RECO_DT_BYTES, -1, (void **)&s->vocab, &s->vocab_len))) return rc;
  uint64_t zeros = 0;
  for (uint64_t k = 0; k < s->vocab_len; k++) zeros += s->vocab[k] == '\0';
  if (zeros != nt || (s->vocab_len && s->vocab[s->vocab_len - 1] != '\0'))
    return reco__seterr(RECO_EFORMAT, "section vocab does not hold %llu tokens", (unsigned long long)nt);
  if ((rc = reco__mf_copy(r, "vec_ptr", RECO_DT_I64, (int64_t)n + 1, (void **)&s->vptr, NULL))) return rc;
  if (s->vptr[0] != 0) return reco__seterr(RECO_EFORMAT, "section vec_ptr does not start at 0");
  for (int32_t i = 0; i < n; i++)
    if (s->vptr[i + 1] < s->vptr[i]) return reco__seterr(RECO_EFORMAT, "section vec_ptr is not monotone");
  nnz = (uint64_t)s->vptr[n];
  if ((rc = reco__mf_copy(r, "vec_tok", RECO_DT_I32, (int64_t)nnz, (void **)&s->vtok, NULL)) ||
      (rc = reco__mf_copy(r, "vec_val", RECO_DT_F32, (int64_t)nnz, (void **)&s->vval, NULL)) ||
      (rc = reco__mf_copy(r, "pop", RECO_DT_F32, n, (void **)&s->pop, NULL)))
    return rc;
  for (int32_t i = 0; i < n; i++)
    for (int64_t p = s->vptr[i]; p < s->vptr[i + 1]; p++)
      if (s->vtok[p] < 0 || s->vtok[p] >= s->n_tokens || (p > s->vptr[i] && s->vtok[p] <= s->vtok[p - 1]))
        return reco__seterr(RECO_EFORMAT, "section vec_tok: token out of range or out of order");
  if ((rc = reco__knn_table_load(&s->nb, r, "nb", n, n))) return rc;
  return build_inverted(s, n);
}

const reco_algo reco__algo_content = {
    .name = "content",
    .summary = "content-based: tf-idf item vectors from metadata, cosine to the history profile (Lops et al. 2011)",
    .caps = RECO_CAP_RANKING | RECO_CAP_SIMILAR | RECO_CAP_FOLDIN | RECO_CAP_CONTENT,
    .params = k_params,
    .n_params = RECO_ARRAY_LEN(k_params),
    .fit = content_fit,
    .score = content_score,
    .similar = content_similar,
    .explain = content_explain,
    .save = content_save,
    .load = content_load,
    .free_state = content_free,
};
