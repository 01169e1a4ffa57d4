/* rng.c - xoshiro256** (Blackman & Vigna 2018) seeded by splitmix64; normal, gamma, shuffle,
 * and Vose's alias method for O(1) sampling from a fixed discrete distribution. */
#include "base.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void reco__rng_seed(reco_rng *r, uint64_t seed) {
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

double reco__rng_normal(reco_rng *r) {
  /* Box-Muller; one value per call keeps the generator stateless beyond s[]. */
  double u1 = reco__rng_uniform(r), u2 = reco__rng_uniform(r);
  if (u1 < 1e-300) u1 = 1e-300;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

double reco__rng_gamma(reco_rng *r, double shape) {
  /* Marsaglia & Tsang 2000; shape < 1 via the boost Gamma(a+1) * U^(1/a). */
  if (shape < 1.0) {
    double u = reco__rng_uniform(r);
    return reco__rng_gamma(r, shape + 1.0) * pow(u > 0 ? u : 1e-300, 1.0 / shape);
  }
  double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
  for (;;) {
    double x, v;
    do {
      x = reco__rng_normal(r);
      v = 1.0 + c * x;
    } while (v <= 0);
    v = v * v * v;
    double u = reco__rng_uniform(r);
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
    if (log(u > 0 ? u : 1e-300) < 0.5 * x * x + d * (1.0 - v + log(v))) return d * v;
  }
}

void reco__rng_shuffle_i32(reco_rng *r, int32_t *a, size_t n) {
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)reco__rng_below(r, i);
    int32_t t = a[i - 1];
    a[i - 1] = a[j];
    a[j] = t;
  }
}

int reco__alias_init(reco_alias *a, const double *w, int32_t n) {
  a->n = n;
  a->prob = reco__malloc((size_t)n * sizeof *a->prob);
  a->alias = reco__malloc((size_t)n * sizeof *a->alias);
  double *p = reco__malloc((size_t)n * sizeof *p);
  int32_t *small = reco__malloc((size_t)n * sizeof *small), *large = reco__malloc((size_t)n * sizeof *large);
  if (!a->prob || !a->alias || !p || !small || !large || n <= 0) {
    reco__free(p);
    reco__free(small);
    reco__free(large);
    reco__alias_free(a);
    return n <= 0 ? reco__seterr(RECO_EINVAL, "alias table over no outcomes") : reco__seterr(RECO_ENOMEM, "alias table");
  }
  double sum = 0;
  for (int32_t i = 0; i < n; i++) sum += w[i] > 0 ? w[i] : 0;
  int32_t ns = 0, nl = 0;
  for (int32_t i = 0; i < n; i++) {
    p[i] = sum > 0 ? (w[i] > 0 ? w[i] : 0) * n / sum : 1.0;
    if (p[i] < 1.0) small[ns++] = i;
    else large[nl++] = i;
  }
  while (ns && nl) {
    int32_t s = small[--ns], l = large[--nl];
    a->prob[s] = (float)p[s];
    a->alias[s] = l;
    p[l] = (p[l] + p[s]) - 1.0;
    if (p[l] < 1.0) small[ns++] = l;
    else large[nl++] = l;
  }
  while (nl) {
    int32_t l = large[--nl];
    a->prob[l] = 1.0f;
    a->alias[l] = l;
  }
  while (ns) {
    int32_t s = small[--ns];
    a->prob[s] = 1.0f;
    a->alias[s] = s;
  }
  reco__free(p);
  reco__free(small);
  reco__free(large);
  return 0;
}

void reco__alias_free(reco_alias *a) {
  reco__free(a->prob);
  reco__free(a->alias);
  a->prob = NULL;
  a->alias = NULL;
}
