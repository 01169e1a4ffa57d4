/*
 * model.c - model lifecycle common to every algorithm: creation with defaults, parameters,
 * fit with timing and metadata, generic top-k recommendation, save and load through the model
 * file (the algorithm writes its own sections; this file writes the common metadata).
 */
#include "algo.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int reco__model_new(const char *name, reco_model **out) {
  *out = NULL;
  const reco_algo *a = reco__algo_find(name);
  if (!a) return reco__seterr(RECO_ENOTFOUND, "unknown algorithm '%s' (see `reco train --list`)", name);
  return reco__model_new_algo(a, out);
}

int reco__model_new_algo(const reco_algo *a, reco_model **out) {
  *out = NULL;
  reco_model *m = reco__calloc(1, sizeof *m);
  if (!m) return reco__seterr(RECO_ENOMEM, "out of memory for a model");
  m->algo = a;
  for (int k = 0; k < a->n_params && k < RECO_MAX_PARAMS; k++) m->params[k] = a->params[k].def;
  m->seed = 42;
  m->threads = reco_get_threads();
  *out = m;
  return 0;
}

static int param_index(const reco_algo *a, const char *key) {
  for (int k = 0; k < a->n_params; k++)
    if (strcmp(a->params[k].name, key) == 0) return k;
  return -1;
}

double reco__model_param(const reco_model *m, const char *key) {
  int k = param_index(m->algo, key);
  if (k < 0) {
    reco__log(RECO_LOG_ERROR, "internal: %s has no parameter %s", m->algo->name, key);
    abort();
  }
  return m->params[k];
}

int reco__model_set(reco_model *m, const char *key, const char *value) {
  const reco_algo *a = m->algo;
  if (strcmp(key, "seed") == 0) {
    char *end;
    unsigned long long s = strtoull(value, &end, 10);
    if (*value == '\0' || *end) return reco__seterr(RECO_EINVAL, "%s.seed: expected an integer, got '%s'", a->name, value);
    m->seed = s;
    return 0;
  }
  int k = param_index(a, key);
  if (k < 0) {
    char names[512] = "";
    for (int j = 0; j < a->n_params; j++) {
      strncat(names, j ? ", " : "", sizeof names - strlen(names) - 1);
      strncat(names, a->params[j].name, sizeof names - strlen(names) - 1);
    }
    return reco__seterr(RECO_EINVAL, "%s has no parameter '%s' (it has: %s)", a->name, key, names[0] ? names : "none");
  }
  const reco_param_spec *p = &a->params[k];
  double v;
  if (p->type == RECO_P_ENUM) {
    const char *c = p->choices;
    int idx = 0;
    size_t len = strlen(value);
    for (;;) {
      const char *bar = strchr(c, '|');
      size_t cl = bar ? (size_t)(bar - c) : strlen(c);
      if (cl == len && strncmp(c, value, len) == 0) break;
      if (!bar) return reco__seterr(RECO_EINVAL, "%s.%s: '%s' is not one of %s", a->name, key, value, p->choices);
      c = bar + 1;
      idx++;
    }
    v = idx;
  } else if (p->type == RECO_P_BOOL) {
    if (!strcmp(value, "true") || !strcmp(value, "1") || !strcmp(value, "yes")) v = 1;
    else if (!strcmp(value, "false") || !strcmp(value, "0") || !strcmp(value, "no")) v = 0;
    else return reco__seterr(RECO_EINVAL, "%s.%s: expected true or false, got '%s'", a->name, key, value);
  } else {
    char *end;
    v = strtod(value, &end);
    if (*value == '\0' || *end || !isfinite(v))
      return reco__seterr(RECO_EINVAL, "%s.%s: expected a number, got '%s'", a->name, key, value);
    if (p->type == RECO_P_INT && v != floor(v))
      return reco__seterr(RECO_EINVAL, "%s.%s: expected an integer, got '%s'", a->name, key, value);
  }
  if (v < p->min || v > p->max)
    return reco__seterr(RECO_ERANGE, "%s.%s: %s is outside [%g, %g]", a->name, key, value, p->min, p->max);
  m->params[k] = v;
  return 0;
}

int reco__model_params_json(const reco_model *m, char *buf, size_t len) {
  size_t o = 0;
  o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "{");
  for (int k = 0; k < m->algo->n_params; k++) {
    const reco_param_spec *p = &m->algo->params[k];
    const char *sep = k ? ", " : "";
    if (p->type == RECO_P_ENUM) {
      const char *c = p->choices;
      for (int j = 0; j < (int)m->params[k] && strchr(c, '|'); j++) c = strchr(c, '|') + 1;
      const char *bar = strchr(c, '|');
      int cl = bar ? (int)(bar - c) : (int)strlen(c);
      o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "%s\"%s\": \"%.*s\"", sep, p->name, cl, c);
    } else if (p->type == RECO_P_BOOL) {
      o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "%s\"%s\": %s", sep, p->name, m->params[k] ? "true" : "false");
    } else {
      o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "%s\"%s\": %.10g", sep, p->name, m->params[k]);
    }
  }
  o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "}");
  return o < len ? 0 : reco__seterr(RECO_ELIMIT, "parameter text longer than %zu bytes", len);
}

int reco__model_curve_add(reco_model *m, const reco_progress *p, int epoch, int epochs, double loss, double valid) {
  if (m->n_curve < RECO_MAX_CURVE) {
    m->curve_loss[m->n_curve] = (float)loss;
    m->curve_valid[m->n_curve] = (float)valid;
    m->n_curve++;
  }
  char info[96];
  if (isnan(valid)) snprintf(info, sizeof info, "epoch %d/%d loss %.5g", epoch, epochs, loss);
  else snprintf(info, sizeof info, "epoch %d/%d loss %.5g valid %.5g", epoch, epochs, loss, valid);
  return reco__progress(p, m->algo->name, epoch, epochs, info);
}

int reco__model_fit(reco_model *m, const reco_dataset *train, const reco_progress *progress) {
  if (!train->finalized) return reco__seterr(RECO_ESTATE, "dataset not finalized");
  if (m->state && m->algo->free_state) m->algo->free_state(m);
  m->state = NULL;
  m->n_users = train->n_users;
  m->n_items = train->n_items;
  m->vmin = train->vmin;
  m->vmax = train->vmax;
  m->global_mean = train->vmean;
  m->n_train = train->n;
  m->fingerprint = reco__ds_fingerprint(train);
  m->threads = reco_get_threads();
  m->n_curve = 0;
  m->fit_info[0] = '\0';
  reco__idmap_unref(m->user_ids);
  reco__idmap_unref(m->item_ids);
  m->user_ids = reco__idmap_ref(train->users);
  m->item_ids = reco__idmap_ref(train->items);
  double t0 = reco__now();
  int rc = m->algo->fit(m, train, progress);
  m->fit_s = reco__now() - t0;
  m->trained_at_ms = reco__wall_ms();
  return rc;
}

void reco__model_free(reco_model *m) {
  if (!m) return;
  if (m->algo->free_state) m->algo->free_state(m);
  reco__idmap_unref(m->user_ids);
  reco__idmap_unref(m->item_ids);
  reco__free(m);
}

float reco__model_predict(const reco_model *m, int32_t user, int32_t item) {
  float p;
  if (!m->algo->predict) p = (float)m->global_mean;
  else p = m->algo->predict(m, user, item);
  if (!(p >= m->vmin)) p = m->vmin; /* also maps NaN to the minimum */
  if (p > m->vmax) p = m->vmax;
  return p;
}

int reco__model_recommend(const reco_model *m, const reco_user_view *v, const int32_t *exclude, size_t n_exclude,
                          int k, float *scratch, reco_topk *heap, int32_t *out_items, float *out_scores) {
  if (!m->algo->score) return reco__seterr(RECO_EUNSUPPORTED, "%s cannot rank items", m->algo->name);
  int rc = m->algo->score(m, v, scratch);
  if (rc) return rc;
  reco__topk_reset(heap);
  if (heap->k < k) return reco__seterr(RECO_EINVAL, "heap smaller than k");
  int saved = heap->k;
  heap->k = k;
  size_t e = 0;
  for (int32_t i = 0; i < m->n_items; i++) {
    if (e < n_exclude && exclude[e] == i) {
      e++;
      continue;
    }
    while (e < n_exclude && exclude[e] < i) e++;
    if (e < n_exclude && exclude[e] == i) {
      e++;
      continue;
    }
    reco__topk_push(heap, scratch[i], i);
  }
  int n = reco__topk_sort(heap);
  for (int j = 0; j < n; j++) {
    out_items[j] = heap->id[j];
    if (out_scores) out_scores[j] = heap->score[j];
  }
  heap->k = saved;
  return n;
}

/* ---- save / load: common metadata, then the algorithm's sections ---- */

/* The external ids of indices 0..n-1 as one NUL-separated byte section, so that a model file
 * alone can answer for "user_12" (the serving layer's id maps may have grown since). */
static int save_ids(reco_mf_writer *w, const char *name, const reco_idmap *map, int32_t n) {
  if (!map || reco__idmap_size(map) < n) return 0;
  size_t total = 0;
  for (int32_t k = 0; k < n; k++) total += strlen(reco__idmap_str(map, k)) + 1;
  char *buf = reco__malloc(total ? total : 1);
  if (!buf) return reco__seterr(RECO_ENOMEM, "out of memory saving ids");
  size_t o = 0;
  for (int32_t k = 0; k < n; k++) {
    const char *s = reco__idmap_str(map, k);
    size_t l = strlen(s) + 1;
    memcpy(buf + o, s, l);
    o += l;
  }
  int rc = reco__mf_section(w, name, RECO_DT_BYTES, buf, total);
  reco__free(buf);
  return rc;
}

static int load_ids(const reco_mf_reader *r, const char *path, const char *name, int32_t n, reco_idmap **out) {
  const void *data;
  uint64_t len;
  *out = NULL;
  int rc = reco__mf_get(r, name, RECO_DT_BYTES, &data, &len);
  if (rc == RECO_ENOTFOUND) return 0;
  if (rc) return rc;
  reco_idmap *map = reco__idmap_new();
  if (!map) return reco__seterr(RECO_ENOMEM, "out of memory loading ids");
  const char *s = data, *end = s + len;
  while (s < end) {
    const char *z = memchr(s, '\0', (size_t)(end - s));
    if (!z) break;
    int32_t idx = reco__idmap_add(map, s, (size_t)(z - s));
    if (idx < 0) {
      reco__idmap_unref(map);
      return idx;
    }
    s = z + 1;
  }
  if (s != end || reco__idmap_size(map) != n) {
    reco__idmap_unref(map);
    return reco__seterr(RECO_EFORMAT, "%s: section %s does not hold %d distinct ids", path, name, n);
  }
  *out = map;
  return 0;
}

/* The model as a file writer: common metadata, exact parameters, id maps, the algorithm's sections. */
static int model_writer(const reco_model *m, reco_mf_writer **out) {
  *out = NULL;
  if (!m->algo->save) return reco__seterr(RECO_EUNSUPPORTED, "%s models cannot be saved", m->algo->name);
  reco_mf_writer *w;
  int rc = reco__mf_writer_new(m->algo->name, &w);
  if (rc) return rc;
  char pj[2048];
  reco__model_params_json(m, pj, sizeof pj);
  if ((rc = reco__mf_meta(w, "params", "%s", pj)) || (rc = reco__mf_meta(w, "n_users", "%d", m->n_users)) ||
      (rc = reco__mf_meta(w, "n_items", "%d", m->n_items)) || (rc = reco__mf_meta(w, "vmin", "%.9g", m->vmin)) ||
      (rc = reco__mf_meta(w, "vmax", "%.9g", m->vmax)) || (rc = reco__mf_meta(w, "global_mean", "%.17g", m->global_mean)) ||
      (rc = reco__mf_meta(w, "fingerprint", "%016llx", (unsigned long long)m->fingerprint)) ||
      (rc = reco__mf_meta(w, "trained_at_ms", "%lld", (long long)m->trained_at_ms)) ||
      (rc = reco__mf_meta(w, "fit_s", "%.6f", m->fit_s)) || (rc = reco__mf_meta(w, "n_train", "%zu", m->n_train)) ||
      (rc = reco__mf_meta(w, "seed", "%llu", (unsigned long long)m->seed)) ||
      (rc = reco__mf_meta(w, "metrics", "%s", m->metrics)) || (rc = reco__mf_meta(w, "fit_info", "%s", m->fit_info)))
    goto fail;
  /* the raw parameter vector, exact, so a load restores bit-identical behaviour */
  if ((rc = reco__mf_section(w, "_params", RECO_DT_F64, m->params, (uint64_t)m->algo->n_params))) goto fail;
  if ((rc = save_ids(w, "_user_ids", m->user_ids, m->n_users)) || (rc = save_ids(w, "_item_ids", m->item_ids, m->n_items)))
    goto fail;
  if ((rc = m->algo->save(m, w))) goto fail;
  *out = w;
  return 0;
fail:
  reco__mf_writer_free(w);
  return rc;
}

int reco__model_save(const reco_model *m, const char *path) {
  reco_mf_writer *w;
  int rc = model_writer(m, &w);
  if (rc) return rc;
  rc = reco__mf_commit(w, path);
  reco__mf_writer_free(w);
  return rc;
}

int reco__model_save_mem(const reco_model *m, void **buf, size_t *len) {
  reco_mf_writer *w;
  *buf = NULL;
  *len = 0;
  int rc = model_writer(m, &w);
  if (rc) return rc;
  rc = reco__mf_commit_mem(w, buf, len);
  reco__mf_writer_free(w);
  return rc;
}

static int meta_num(const reco_mf_reader *r, const char *path, const char *key, double *out) {
  const char *s = reco__mf_get_meta(r, key);
  char *end;
  if (!s) return reco__seterr(RECO_EFORMAT, "%s: model metadata lacks '%s'", path, key);
  *out = strtod(s, &end);
  if (end == s) return reco__seterr(RECO_EFORMAT, "%s: model metadata '%s' is not a number", path, key);
  return 0;
}

/* A model from an opened, verified file; `a` (optional) is the algorithm the caller expects, which
 * also spares the table lookup (the hybrid loads its members this way). Closes r. */
static int model_from_reader(const reco_algo *a, reco_mf_reader *r, const char *path, reco_model **out) {
  *out = NULL;
  int rc;
  reco_model *m = NULL;
  if (a && strcmp(a->name, reco__mf_algo(r)) != 0)
    rc = reco__seterr(RECO_EFORMAT, "%s: holds a %s model, %s expected", path, reco__mf_algo(r), a->name);
  else
    rc = a ? reco__model_new_algo(a, &m) : reco__model_new(reco__mf_algo(r), &m);
  if (rc) {
    if (!strstr(reco_last_error(), path)) reco__seterr(rc, "%s: %s", path, reco_last_error());
    goto fail;
  }
  double nu = 0, ni = 0, vmin = 0, vmax = 0, gm = 0, fit_s = 0, ntr = 0, tms = 0;
  if ((rc = meta_num(r, path, "n_users", &nu)) || (rc = meta_num(r, path, "n_items", &ni)) ||
      (rc = meta_num(r, path, "vmin", &vmin)) || (rc = meta_num(r, path, "vmax", &vmax)) ||
      (rc = meta_num(r, path, "global_mean", &gm)) || (rc = meta_num(r, path, "fit_s", &fit_s)) ||
      (rc = meta_num(r, path, "n_train", &ntr)) || (rc = meta_num(r, path, "trained_at_ms", &tms)))
    goto fail;
  if (nu < 0 || ni < 0 || nu > INT32_MAX || ni > INT32_MAX) {
    rc = reco__seterr(RECO_EFORMAT, "%s: bad id-map sizes", path);
    goto fail;
  }
  m->n_users = (int32_t)nu;
  m->n_items = (int32_t)ni;
  m->vmin = (float)vmin;
  m->vmax = (float)vmax;
  m->global_mean = gm;
  m->fit_s = fit_s;
  m->n_train = (size_t)ntr;
  m->trained_at_ms = (int64_t)tms;
  const char *s;
  if ((s = reco__mf_get_meta(r, "fingerprint"))) m->fingerprint = strtoull(s, NULL, 16);
  if ((s = reco__mf_get_meta(r, "seed"))) m->seed = strtoull(s, NULL, 10);
  if ((s = reco__mf_get_meta(r, "metrics"))) snprintf(m->metrics, sizeof m->metrics, "%s", s);
  if ((s = reco__mf_get_meta(r, "fit_info"))) snprintf(m->fit_info, sizeof m->fit_info, "%s", s);
  const void *pv;
  uint64_t np;
  if ((rc = reco__mf_get(r, "_params", RECO_DT_F64, &pv, &np))) {
    reco__seterr(rc, "%s: %s", path, reco_last_error());
    goto fail;
  }
  if (np != (uint64_t)m->algo->n_params) {
    rc = reco__seterr(RECO_EVERSION, "%s: %s model has %llu parameters, this build expects %d", path, m->algo->name,
                      (unsigned long long)np, m->algo->n_params);
    goto fail;
  }
  memcpy(m->params, pv, np * sizeof(double));
  if ((rc = load_ids(r, path, "_user_ids", m->n_users, &m->user_ids)) ||
      (rc = load_ids(r, path, "_item_ids", m->n_items, &m->item_ids)))
    goto fail;
  if (!m->algo->load) {
    rc = reco__seterr(RECO_EUNSUPPORTED, "%s models cannot be loaded", m->algo->name);
    goto fail;
  }
  if ((rc = m->algo->load(m, r))) {
    if (!strstr(reco_last_error(), path)) reco__seterr(rc, "%s: %s", path, reco_last_error());
    goto fail;
  }
  reco__mf_close(r);
  *out = m;
  return 0;
fail:
  reco__model_free(m);
  reco__mf_close(r);
  return rc;
}

int reco__model_load(const char *path, reco_model **out) {
  *out = NULL;
  reco_mf_reader *r;
  int rc = reco__mf_open(path, &r);
  return rc ? rc : model_from_reader(NULL, r, path, out);
}

int reco__model_load_mem(const reco_algo *a, const void *buf, size_t len, const char *what, reco_model **out) {
  *out = NULL;
  reco_mf_reader *r;
  int rc = reco__mf_open_mem(buf, len, what, &r);
  return rc ? rc : model_from_reader(a, r, what, out);
}
