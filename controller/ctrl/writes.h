/*
 * writes.h — the writes a controller makes to objects it does not own
 * alone: read-modify-write with conflict retry, finalizers and owner
 * references.
 *
 * Every write is conditional on the resourceVersion just read, so a change
 * made by someone else in between is never overwritten: the server answers
 * 409 Conflict, and the write re-reads the latest object, applies the
 * caller's change again and retries, a bounded number of times with a short
 * jittered backoff. The change is a callback, not a finished object, for
 * exactly that reason — it must be re-applied to whatever is current.
 *
 *   ctrl_write_status()  PUTs /status: only status changes (spec, metadata
 *                        and generation stay as they are on the server);
 *   ctrl_write_object()  PUTs the object: spec and metadata (with a status
 *                        subresource, status changes are ignored there).
 *
 * A callback that changes nothing (or says CTRL_MUTATE_SKIP) costs one GET
 * and no write, so callers may state the desired result unconditionally.
 * For /status only a change to status counts, as nothing else would land.
 *
 * Finalizers: add one before the side effects it guards, remove it as the
 * very last step of cleanup. Adding a present one or removing an absent one
 * is a no-op without a write; an object being deleted accepts no new
 * finalizers (the API's rule, reported here as SS_EINVALID before asking).
 *
 * Under a request deadline (kube_deadline_set in kube/client.h) every GET
 * and PUT is bounded by it, and a conflict backoff that would reach it is
 * not taken: the write fails with SS_ETIMEOUT instead.
 *
 * Errors name the object, e.g. "update status of backups/ns/x: …", and keep
 * the code (SS_ENOTFOUND, SS_ECONFLICT after the last attempt, …), HTTP
 * status and reason of the failure underneath.
 *
 * Ownership: `json_t **out` receives a new reference (json_decref it),
 * written only on success; `out` may be NULL. Objects passed in are
 * borrowed; the pure helpers modify a `json_t *` the caller owns. The
 * callback's object is a private copy it may change freely but must not
 * keep. Thread-safety: as kube_client; the pure helpers are reentrant.
 */
#ifndef SNAPSTAGE_CTRL_WRITES_H
#define SNAPSTAGE_CTRL_WRITES_H

#include <stdbool.h>

#include <jansson.h>

#include "kube/client.h"
#include "kube/url.h"

/* Returned by a mutate callback: the object is already as wanted. */
#define CTRL_MUTATE_SKIP 1

/* Changes `obj` (a private copy of the latest object) as wanted. Returns 0
 * to write it, CTRL_MUTATE_SKIP for no write, or a negative ss_error_code
 * (with ss_error_set) to stop. Called once per attempt; keep it free of
 * side effects other than on obj, as it may run again after a conflict. */
typedef int (*ctrl_mutate_fn)(json_t *obj, void *payload);

typedef struct {
	int max_attempts;    /* writes tried in all, >= 1 */
	long backoff_ms;     /* wait after the first conflict; doubles */
	long max_backoff_ms; /* longest single wait */
	/* Borrowed; may be NULL. The object to start from instead of the first
	 * GET, such as the copy in an informer cache; it must be the same
	 * object (namespace and name). If it is stale, the first write
	 * conflicts and the retry reads the latest. */
	const json_t *start;
} ctrl_write_opts;

#define CTRL_WRITE_OPTS_INIT      \
	{                         \
		5, 10, 1000, NULL \
	}

/* GET ns/name (ns NULL for cluster scope), mutate, PUT /status (or the
 * object), retrying conflicts as above. *out is the object as written, or as
 * read when nothing needed writing. `opts` may be NULL for the defaults.
 * Fails with SS_ENOTFOUND when the object does not exist, SS_ECONFLICT when
 * every attempt met a newer version, the callback's code, or the API's. */
int ctrl_write_status(json_t **out, kube_client *c, const kube_resource *res,
		      const char *ns, const char *name, ctrl_mutate_fn mutate,
		      void *payload, const ctrl_write_opts *opts);
int ctrl_write_object(json_t **out, kube_client *c, const kube_resource *res,
		      const char *ns, const char *name, ctrl_mutate_fn mutate,
		      void *payload, const ctrl_write_opts *opts);

/* Adds or removes `finalizer` on the object in the API (ctrl_write_object).
 * *out is the object afterwards. Idempotent: no write when already so. */
int ctrl_write_add_finalizer(json_t **out, kube_client *c, const kube_resource *res,
			     const char *ns, const char *name, const char *finalizer,
			     const ctrl_write_opts *opts);
int ctrl_write_remove_finalizer(json_t **out, kube_client *c, const kube_resource *res,
				const char *ns, const char *name, const char *finalizer,
				const ctrl_write_opts *opts);

/* --- pure helpers on an object --------------------------------------------- */

/* Whether metadata.finalizers holds `finalizer` (false on malformed input). */
bool ctrl_finalizer_has(const json_t *obj, const char *finalizer);

/* Appends / removes `finalizer` in metadata.finalizers (an emptied list is
 * removed). *out_changed (may be NULL) tells whether obj changed. 0, or
 * SS_EINVALID (an empty name; finalizers present but not an array of
 * strings; adding to an object being deleted), or SS_ENOMEM. */
int ctrl_finalizer_add(bool *out_changed, json_t *obj, const char *finalizer);
int ctrl_finalizer_remove(bool *out_changed, json_t *obj, const char *finalizer);

/* Makes `owner` the controller of `child`: an ownerReferences entry with
 * the owner's apiVersion, kind, name and uid, controller and
 * blockOwnerDeletion true. An existing reference to the same uid is updated
 * in place; other owners are kept. A different controller owner is refused
 * with SS_ECONFLICT naming it; an owner without apiVersion, kind, name or
 * uid, or in another namespace than the child, with SS_EINVALID.
 * *out_changed (may be NULL) tells whether child changed. */
int ctrl_owner_set_controller(bool *out_changed, json_t *child, const json_t *owner);

/* The ownerReferences entry with controller: true, or NULL (also on
 * malformed input). Borrowed from obj. */
const json_t *ctrl_owner_controller(const json_t *obj);

#endif
