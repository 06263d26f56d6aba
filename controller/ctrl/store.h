/*
 * store.h — the informer cache: Kubernetes objects keyed by
 * "namespace/name", with secondary indexes.
 *
 * Objects are kept as compact serialized JSON, not as jansson trees: a
 * parsed ConfigMap with a 1 KiB value costs about 3.7 KiB in jansson and
 * 1.5 KiB as text, and an operator caches Pods, claims and snapshots of a
 * whole cluster. Every read parses a fresh, private copy (a few
 * microseconds for a typical object), so callers own what they read and may
 * modify it: there is no shared object anyone could corrupt.
 *
 * An index maps each object to zero or more string values (its label value,
 * its owners' uids, …); by_index() answers "which objects have value V".
 *
 * Mutations report what they replaced (the previous object, parsed) instead
 * of calling back, so the informer can notify its handlers after the store's
 * lock is released — handlers may then read the store.
 *
 * Ownership: objects passed in are borrowed (serialized on the way in);
 * every `json_t **out` is a new reference the caller json_decref()s.
 * Thread-safety: every function may be called from any thread (a
 * reader/writer lock); index registration must happen before the store is
 * shared.
 */
#ifndef SNAPSTAGE_CTRL_STORE_H
#define SNAPSTAGE_CTRL_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

typedef struct ctrl_store ctrl_store;

/* Appends the object's index values (JSON strings) to `values`. Returns 0,
 * or a negative code to skip indexing this object (logged). Must be pure. */
typedef int (*ctrl_index_fn)(const json_t *obj, json_t *values, void *payload);

int ctrl_store_new(ctrl_store **out);
void ctrl_store_free(ctrl_store *s);

/* Registers an index under `name` before the store is used. */
int ctrl_store_add_index(ctrl_store *s, const char *name, ctrl_index_fn fn,
			 void *payload);

/* Ready-made index functions. by_label's payload is the label's name (a
 * string that must outlive the store); by_owner indexes every
 * ownerReferences[].uid; by_namespace, metadata.namespace. */
int ctrl_index_by_label(const json_t *obj, json_t *values, void *payload);
int ctrl_index_by_owner(const json_t *obj, json_t *values, void *payload);
int ctrl_index_by_namespace(const json_t *obj, json_t *values, void *payload);

/* Stores a copy of `obj` under its key. *old_out (if not NULL) receives the
 * object it replaced, or NULL. SS_EINVALID when obj has no name. */
int ctrl_store_put(ctrl_store *s, const json_t *obj, json_t **old_out);

/* Removes `key`. *old_out (if not NULL) receives the removed object, or NULL
 * when the key was not there (which is not an error). */
int ctrl_store_delete(ctrl_store *s, const char *key, json_t **old_out);

/* True when `key` is cached at exactly resourceVersion `rv` (a relist uses
 * it to skip what did not change while its watch was down). */
bool ctrl_store_has_version(ctrl_store *s, const char *key, const char *rv);

/* A JSON array of the cached keys that are not members of the object
 * `keep` — after a relist, the deletes a watch missed. Sorted. */
int ctrl_store_keys_not_in(json_t **out, ctrl_store *s, const json_t *keep);

/* Reads: new, private objects; SS_ENOTFOUND / SS_EINVALID (unknown index). */
int ctrl_store_get(json_t **out, ctrl_store *s, const char *key);
/* A JSON array of every object, in key order. */
int ctrl_store_list(json_t **out, ctrl_store *s);
/* A JSON array of the objects whose index `name` has `value` (key order). */
int ctrl_store_by_index(json_t **out, ctrl_store *s, const char *name, const char *value);
size_t ctrl_store_len(ctrl_store *s);

#endif
