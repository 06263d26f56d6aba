/*
 * store.h — the informer cache: Kubernetes objects keyed by
 * "namespace/name", with secondary indexes, shared read-only.
 *
 * Objects enter the store whole and are never modified once inside: an update
 * replaces the stored object with a new one. So readers may hold a reference
 * (json_incref'd by the read functions) to an object and read it from any
 * thread while the store moves on; jansson's reference counts are atomic.
 * Never modify an object obtained from the store: json_deep_copy() it first.
 *
 * An index maps each object to zero or more string values (its label value,
 * its owners' uids, …); by_index() answers "which objects have value V".
 *
 * Mutations report what changed (the previous object) instead of calling
 * back, so the informer can notify its handlers after the store's lock is
 * released — handlers may then read the store.
 *
 * Ownership: functions taking `json_t *obj` to keep it say "steals" (the
 * store takes over the caller's reference); every `json_t **out` is a new
 * reference the caller json_decref()s. Thread-safety: every function may be
 * called from any thread (a reader/writer lock); index registration must
 * happen before the store is shared.
 */
#ifndef SNAPSTAGE_CTRL_STORE_H
#define SNAPSTAGE_CTRL_STORE_H

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

/* Stores `obj` (steals the reference) under its key. *old_out (if not NULL)
 * receives the object it replaced, or NULL. On failure obj is released. */
int ctrl_store_put(ctrl_store *s, json_t *obj, json_t **old_out);

/* Removes `key`. *old_out (if not NULL) receives the removed object, or NULL
 * when the key was not there (which is not an error). */
int ctrl_store_delete(ctrl_store *s, const char *key, json_t **old_out);

typedef enum {
	CTRL_CHANGE_ADD,
	CTRL_CHANGE_UPDATE,
	CTRL_CHANGE_DELETE,
} ctrl_change_kind;

/* One difference found by ctrl_store_replace(): `old` is NULL for an add,
 * `now` is NULL for a delete. Both are references owned by the change. */
typedef struct {
	ctrl_change_kind kind;
	json_t *old;
	json_t *now;
} ctrl_change;

/* Makes the store hold exactly `items` (a JSON array; each item's reference
 * is taken with json_incref, the array stays the caller's), as after a
 * relist. *changes_out receives a malloc'd array of the differences — added
 * keys, keys whose resourceVersion changed, and keys no longer present (the
 * deletes missed while a watch was down) — and *n_out its length; release
 * it with ctrl_changes_free(). Items without a name are skipped. */
int ctrl_store_replace(ctrl_store *s, const json_t *items, ctrl_change **changes_out,
		       size_t *n_out);
void ctrl_changes_free(ctrl_change *changes, size_t n);

/* Reads: new references, or SS_ENOTFOUND / SS_EINVALID (unknown index). */
int ctrl_store_get(json_t **out, ctrl_store *s, const char *key);
/* A JSON array of every object (in key order). */
int ctrl_store_list(json_t **out, ctrl_store *s);
/* A JSON array of the objects whose index `name` has `value` (key order). */
int ctrl_store_by_index(json_t **out, ctrl_store *s, const char *name, const char *value);
size_t ctrl_store_len(ctrl_store *s);

#endif
