/*
 * store.h - the durable store of interactions and experiment assignments (src/store/).
 * SQLite is the embedded backend (sqlite.c); the write path's invariants are at the top of
 * that file. Writes go through one writer thread that group-commits; reads use their own
 * connections and never wait for the writer (WAL readers see the last committed state).
 * Every fallible function returns 0 or a negative RECO_E* code (RECO_ELIMIT: the write queue is
 * full, the caller answers 503 and the client retries).
 */
#ifndef RECO_STORE_H
#define RECO_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct reco_store reco_store;

/* One interaction. Strings are borrowed for the duration of the call; NULL = absent. */
typedef struct store_interaction {
  const char *user, *item, *type;
  double value;      /* the rating, or the type's weight */
  bool has_value;
  int64_t ts_ms;
  const char *session;
  int64_t position;
  bool has_position;
  const char *context_json; /* the request's context object as JSON text */
  const char *idem_key;     /* idempotency key: a second record with the same key stores nothing */
} store_interaction;

#define STORE_QUEUE_DEFAULT 65536

/* Opens (creating and migrating) the database at path; queue_cap bounds the pending writes. */
int store_open(const char *path, size_t queue_cap, reco_store **out);
/* Stops the writer after it has committed everything queued, then closes. NULL is a no-op. */
void store_close(reco_store *s);
/* The schema version the file is at. */
int store_schema_version(reco_store *s);
/* Group transactions committed since open, and the records they held (jobs / commits = batch size). */
void store_commit_stats(reco_store *s, int64_t *commits, int64_t *jobs);

/* Appends r and returns once the transaction holding it has committed (fsynced). *id is the new
 * row's id, or the first row's id when r->idem_key was seen before (*dup set). */
int store_append(reco_store *s, const store_interaction *r, int64_t *id, bool *dup);
/* The asynchronous variant, for servers that must not park a thread per write: queues the n
 * records as one job (they commit together, or none of them does) and returns at once: 0 when
 * queued, RECO_ELIMIT when the queue is full, RECO_ESTATE when closing (fn is then never
 * called). Once queued, fn(ctx, rc) is called exactly once, on the writer thread, after the
 * COMMIT (rc 0: ids[k] / dups[k] are set as store_append's) or after the write failed; it must
 * be quick and must not call into the store. recs (and their strings), ids and dups must stay
 * valid until fn has been called. */
typedef void (*store_done_fn)(void *ctx, int rc);
int store_append_async(reco_store *s, const store_interaction *recs, size_t n, int64_t *ids, bool *dups,
                       store_done_fn fn, void *ctx);
/* The variant of user in experiment: the one stored, else `proposed` (with its bucket) is stored
 * durably and returned. variant_out holds at least 128 bytes. */
int store_assign(reco_store *s, const char *experiment, const char *user, const char *proposed, double bucket,
                 char *variant_out, size_t variant_cap, double *bucket_out);

/* ---- reads (read connections; never block on the writer) ---- */
typedef struct store_user_summary {
  int64_t n;                   /* interactions stored */
  int64_t first_ts, last_ts;   /* ms; 0 when n == 0 */
} store_user_summary;
int store_user_summary_get(reco_store *s, const char *user, store_user_summary *out);
/* The user's most recent interactions, newest first, at most max: fn per row. */
typedef void (*store_row_fn)(void *ctx, const char *item, const char *type, double value, int64_t ts_ms);
int store_user_recent(reco_store *s, const char *user, int max, store_row_fn fn, void *ctx);
/* Every interaction in commit order (oldest first): fn(ctx, user, item, type, value). */
typedef void (*store_scan_fn)(void *ctx, const char *user, const char *item, const char *type, double value);
int store_scan(reco_store *s, store_scan_fn fn, void *ctx);
/* Totals over the whole store (for the counters at start-up). */
int store_counts(reco_store *s, int64_t *total, int64_t *clicks, int64_t *purchases);
/* PRAGMA integrity_check == "ok" */
int store_check(reco_store *s, bool *ok);

/* ---- the catalogue: item and user metadata as JSON documents (schema migration 2) ----
 * Writes go through the writer thread like interactions (durable when they return). */
enum { STORE_ITEMS = 0, STORE_USERS = 1 };
typedef struct store_doc {
  const char *id;
  const char *doc; /* a JSON object's text */
  bool available;  /* items only */
} store_doc;
/* Upserts docs[0..n) into the table in one transaction: all of them or none. */
int store_catalog_put(reco_store *s, int table, const store_doc *docs, size_t n);
/* Sets an item's availability; an item without a row gets one with an empty document. */
int store_item_set_available(reco_store *s, const char *id, bool available);
/* Removes a row; *found says whether there was one. */
int store_catalog_delete(reco_store *s, int table, const char *id, bool *found);
typedef void (*store_doc_fn)(void *ctx, const char *id, const char *doc, bool available, int64_t updated_ms);
/* One row by id (fn called once when found). */
int store_catalog_get(reco_store *s, int table, const char *id, store_doc_fn fn, void *ctx, bool *found);
/* Every item row (or only the unavailable ones). */
int store_items_scan(reco_store *s, bool unavailable_only, store_doc_fn fn, void *ctx);
/* ---- privacy, bulk import and retraining ---- */
/* Erases user (GDPR): deletes their interactions and experiment assignments and records the
 * erasure in erased_users, in one transaction through the writer (acknowledged after COMMIT).
 * The counts deleted are returned (may be NULL). */
int store_erase_user(reco_store *s, const char *user, int64_t *n_interactions, int64_t *n_assignments);
/* Appends n records in one transaction (`reco import`): returns after its COMMIT. */
int store_append_bulk(reco_store *s, const store_interaction *rows, size_t n);
/* One stored interaction with every column (strings valid during the callback; NULL = absent). */
typedef struct store_row {
  int64_t id;
  const char *user, *item, *type;
  double value;
  bool has_value;
  int64_t ts_ms;
  const char *session;
  int64_t position;
  bool has_position;
  const char *context_json, *idem_key;
} store_row;
/* Returns false to stop the scan early. */
typedef bool (*store_full_fn)(void *ctx, const store_row *r);
/* The user's interactions, oldest first, at most max. */
int store_user_rows(reco_store *s, const char *user, int64_t max, store_full_fn fn, void *ctx);
/* The newest (at most) max_rows interactions of the store, oldest first (the retrain's input). */
int store_scan_tail(reco_store *s, int64_t max_rows, store_full_fn fn, void *ctx);
typedef void (*store_assign_fn)(void *ctx, const char *experiment, const char *variant, double bucket, int64_t ts_ms);
int store_user_assignments(reco_store *s, const char *user, store_assign_fn fn, void *ctx);
/* Every erased user id with the time of its (latest) erasure. */
typedef void (*store_erased_fn)(void *ctx, const char *user, int64_t erased_at_ms);
int store_erased_scan(reco_store *s, store_erased_fn fn, void *ctx);

#endif
