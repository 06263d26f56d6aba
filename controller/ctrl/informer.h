/*
 * informer.h — a reflector and its cache for one resource: list, then
 * watch from the list's resourceVersion, keeping a ctrl_store equal to the
 * API server's view and telling handlers what changed.
 *
 * Behaviour (client-go's reflector is the reference):
 *   - The first list is paginated; the watch starts at its resourceVersion
 *     with bookmarks, each with a random timeout between min and max so many
 *     watches do not reconnect together.
 *   - A watch that ends normally is reopened at once from the last version
 *     seen. A 410 Gone — HTTP or in-stream — means the version is no longer
 *     served: list again and emit the differences, including deletes that
 *     happened while the watch was down (counted in
 *     snapstage_watch_restarts_total{resource,reason="gone"}).
 *   - Any other failure (server down, transport error, 5xx) waits with
 *     jittered exponential backoff (800 ms doubling to 30 s, reset after a
 *     watch that lived a minute) and retries, counted with reason="error".
 *   - has_synced() turns true after the first complete list and stays true.
 *   - A list of namespaces (opts.namespaces) runs one list/watch per
 *     namespace, each with its own resourceVersion, into the one cache; the
 *     informer has synced once each has listed, a 410 relists only that
 *     namespace, and handlers still get one event at a time. This is how a
 *     controller allowed into only some namespaces (a Role in each, no
 *     cluster-wide list) watches them all.
 *   - By default metadata.managedFields is dropped before caching: a
 *     controller never reads it and it is often the largest part of an
 *     object. `keep_managed_fields` keeps it.
 *
 * Handlers run on an informer thread (a namespace's, with several), one
 * event at a time, after the cache has been updated, so a handler reading
 * the cache sees the new state.
 * They must be quick (enqueue a key); they receive borrowed objects.
 *
 * Ownership: the informer borrows the client, resource, metrics and clock
 * (they must outlive it) and copies strings. Cache reads return new
 * references to shared, read-only objects (see store.h). Thread-safety:
 * configuration (add_index, add_handlers) before start(); everything else
 * from any thread; stop() waits for the informer's thread.
 */
#ifndef SNAPSTAGE_CTRL_INFORMER_H
#define SNAPSTAGE_CTRL_INFORMER_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "ctrl/metrics.h"
#include "ctrl/store.h"
#include "kube/client.h"
#include "kube/url.h"
#include "util/clock.h"

typedef struct ctrl_informer ctrl_informer;

typedef struct {
	kube_client *client;
	const kube_resource *resource;
	const char *ns; /* NULL: all namespaces (unless namespaces is set) */
	/* Several namespaces, n_namespaces > 0 (then ns must be NULL); the
	 * strings are copied. */
	const char *const *namespaces;
	size_t n_namespaces;
	const char *label_selector;
	const char *field_selector;
	/* The resource's kind ("ConfigMap"): lists of built-in resources leave
	 * it out of their items; the cache fills it in. NULL: leave as is. */
	const char *kind;
	long page_size;		    /* 0: 500 */
	long min_watch_timeout_s;   /* 0: 300 */
	long max_watch_timeout_s;   /* 0: 600 */
	int64_t backoff_initial_ns; /* 0: 800 ms */
	int64_t backoff_max_ns;	    /* 0: 30 s */
	bool keep_managed_fields;
	ctrl_metrics *metrics; /* optional */
	const ss_clock *clock; /* NULL: the system clock */
} ctrl_informer_opts;

typedef struct {
	void (*on_add)(void *payload, const json_t *obj);
	void (*on_update)(void *payload, const json_t *old, const json_t *now);
	/* `obj` is the last state known: the watch's DELETED object, or after
	 * a relist, the cached object whose delete was missed. */
	void (*on_delete)(void *payload, const json_t *obj);
	void *payload;
} ctrl_handlers;

int ctrl_informer_new(ctrl_informer **out, const ctrl_informer_opts *opts);
/* Stops (if running) and frees. */
void ctrl_informer_free(ctrl_informer *inf);

/* Before start(): indexes on the cache, and handlers (several allowed). */
int ctrl_informer_add_index(ctrl_informer *inf, const char *name, ctrl_index_fn fn,
			    void *payload);
int ctrl_informer_add_handlers(ctrl_informer *inf, const ctrl_handlers *handlers);

/* Starts the informer's thread. */
int ctrl_informer_start(ctrl_informer *inf);
/* Asks the thread to stop and waits for it (a watch notices within about a
 * second; a list in flight finishes or times out first). Idempotent. */
void ctrl_informer_stop(ctrl_informer *inf);

bool ctrl_informer_has_synced(ctrl_informer *inf);
/* Waits up to timeout_ns (real time) for the first sync: 0 or SS_ETIMEOUT. */
int ctrl_informer_wait_synced(ctrl_informer *inf, int64_t timeout_ns);

/* The cache, for reads (see store.h; never modify what it returns). */
ctrl_store *ctrl_informer_store(ctrl_informer *inf);

/* The resourceVersion the informer has seen last ("" before the first list;
 * with several namespaces, the first one's); copied into buf. For tests and
 * debugging. */
void ctrl_informer_last_version(ctrl_informer *inf, char *buf, size_t cap);

#endif
