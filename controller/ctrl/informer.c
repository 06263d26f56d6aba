/*
 * informer.c — the reflector loop and its cache. See informer.h.
 *
 * One thread per informer runs: list (if needed) → watch → decide. The
 * decision after a watch ends is the heart of correctness:
 *   ended normally after a while   → watch again from the last version
 *   SS_EGONE (410)                 → list again, emit the differences
 *   anything else, or a very short
 *   watch that delivered nothing   → back off (jittered), then watch again
 *   a handler/store failure        → list again (the cache may have missed
 *                                    an event), after a backoff
 * Sleeping uses a condition variable so stop() interrupts it; a watch sees
 * the stop flag through kube_watch's cancel option.
 *
 * Several namespaces (opts.namespaces) get one reflector each — its own
 * thread, list, watch and resourceVersion (versions of different lists are
 * not comparable) — feeding the one store. A relist drops only missed
 * deletes of its own namespace, so a 410 in one namespace never empties
 * another's cache, and `apply` (a mutex) serializes each store change with
 * its notification, so handlers still see one event at a time, after the
 * cache has it, whichever reflector delivered it.
 */
#include "ctrl/informer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctrl/object.h"
#include "kube/rest.h"
#include "kube/watch.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"
#include "util/str.h"

#define MAX_HANDLERS 8
#define VERSION_MAX 128
#define HEALTHY_WATCH_NS (60 * SS_NS_PER_SEC)
#define SHORT_WATCH_NS SS_NS_PER_SEC

/* One list/watch loop: all namespaces (ns NULL), or one of several. */
typedef struct {
	ctrl_informer *inf;
	char *ns;
	pthread_t thread;
	bool started;
	bool listed;		   /* guarded by inf->lock */
	char last_rv[VERSION_MAX]; /* guarded by inf->lock */
	uint64_t rng;
	/* Per watch, touched only by this reflector's thread. */
	bool watch_broken;
	size_t watch_events;
} reflector;

struct ctrl_informer {
	ctrl_informer_opts opts;
	kube_resource resource;
	char *group, *version, *plural, *label_selector, *field_selector, *kind;
	char name[160]; /* "configmaps" or "backups.snapstage.io", for logs */
	ctrl_store *store;
	ctrl_handlers handlers[MAX_HANDLERS];
	size_t n_handlers;
	ctrl_counter *restarts;
	reflector *refl;
	size_t n_refl;
	size_t n_listed; /* reflectors that have listed once; guarded by lock */

	bool started;
	atomic_bool stop;
	atomic_bool synced;
	pthread_mutex_t lock; /* guards last_rv, listed, and the sleep/synced waits */
	pthread_cond_t wake;
	pthread_mutex_t apply; /* one store change + its notification at a time */
};

/* The reflectors: one per namespace of opts->namespaces, else one for
 * opts->ns (NULL: all namespaces). 0 or SS_ENOMEM / SS_EINVALID. */
static int make_reflectors(ctrl_informer *inf, const ctrl_informer_opts *opts)
{
	size_t i, n = opts->n_namespaces ? opts->n_namespaces : 1;
	uint64_t seed = (uint64_t)ss_clock_mono(ss_clock_system()) ^ (uint64_t)(uintptr_t)inf;

	if (opts->n_namespaces && (opts->ns || !opts->namespaces))
		return ss_error_set(SS_EINVALID,
				    "an informer takes ns or namespaces, not both");
	inf->refl = calloc(n, sizeof(*inf->refl));
	if (!inf->refl)
		return ss_error_set(SS_ENOMEM, "out of memory creating an informer");
	inf->n_refl = n;
	for (i = 0; i < n; i++) {
		const char *ns = opts->n_namespaces ? opts->namespaces[i] : opts->ns;

		if (opts->n_namespaces && (!ns || !*ns))
			return ss_error_set(SS_EINVALID, "an empty namespace to watch");
		inf->refl[i].inf = inf;
		inf->refl[i].rng = (seed + i * 0x9e3779b97f4a7c15ULL) | 1;
		if (ns && !(inf->refl[i].ns = ss_strdup(ns)))
			return ss_error_set(SS_ENOMEM, "out of memory creating an informer");
	}
	return 0;
}

static void free_reflectors(ctrl_informer *inf)
{
	size_t i;

	for (i = 0; inf->refl && i < inf->n_refl; i++)
		free(inf->refl[i].ns);
	free(inf->refl);
	inf->refl = NULL;
}

/* A default for every tunable of `o` not set. */
static void fill_defaults(ctrl_informer_opts *o)
{
	if (!o->clock)
		o->clock = ss_clock_system();
	if (o->page_size <= 0)
		o->page_size = 500;
	if (o->min_watch_timeout_s <= 0)
		o->min_watch_timeout_s = 300;
	if (o->max_watch_timeout_s < o->min_watch_timeout_s)
		o->max_watch_timeout_s = 2 * o->min_watch_timeout_s;
	if (o->backoff_initial_ns <= 0)
		o->backoff_initial_ns = 800 * SS_NS_PER_MS;
	if (o->backoff_max_ns <= 0)
		o->backoff_max_ns = 30 * SS_NS_PER_SEC;
}

int ctrl_informer_new(ctrl_informer **out, const ctrl_informer_opts *opts)
{
	ctrl_informer *inf;
	pthread_condattr_t attr;
	const kube_resource *r = opts->resource;
	int error;

	if (!opts->client || !r || !r->resource || !r->version)
		return ss_error_set(SS_EINVALID,
				    "an informer needs a client and a resource");
	inf = calloc(1, sizeof(*inf));
	if (!inf)
		return ss_error_set(SS_ENOMEM, "out of memory creating an informer");
	inf->opts = *opts;
	fill_defaults(&inf->opts);
	inf->group = ss_strdup(r->group ? r->group : "");
	inf->version = ss_strdup(r->version);
	inf->plural = ss_strdup(r->resource);
	inf->label_selector = ss_strdup(opts->label_selector);
	inf->field_selector = ss_strdup(opts->field_selector);
	inf->kind = ss_strdup(opts->kind);
	if (!inf->group || !inf->version || !inf->plural ||
	    (opts->label_selector && !inf->label_selector) ||
	    (opts->field_selector && !inf->field_selector) ||
	    (opts->kind && !inf->kind) || ctrl_store_new(&inf->store) < 0)
		goto nomem;
	error = make_reflectors(inf, opts);
	if (error < 0)
		goto fail;
	inf->resource =
		(kube_resource){ inf->group, inf->version, inf->plural, r->namespaced };
	snprintf(inf->name, sizeof(inf->name), "%s%s%s", inf->plural,
		 *inf->group ? "." : "", inf->group);
	if (opts->metrics)
		inf->restarts = ctrl_metrics_counter(
			opts->metrics, "snapstage_watch_restarts_total",
			"Watches restarted, by resource and reason (gone: relisted "
			"after 410; error: reconnected after a failure).",
			CTRL_LV("resource", "reason"));
	pthread_mutex_init(&inf->lock, NULL);
	pthread_mutex_init(&inf->apply, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&inf->wake, &attr);
	pthread_condattr_destroy(&attr);
	*out = inf;
	return 0;
nomem:
	error = ss_error_set(SS_ENOMEM, "out of memory creating an informer");
fail:
	free_reflectors(inf);
	ctrl_store_free(inf->store);
	free(inf->group);
	free(inf->version);
	free(inf->plural);
	free(inf->label_selector);
	free(inf->field_selector);
	free(inf->kind);
	free(inf);
	return error;
}

void ctrl_informer_free(ctrl_informer *inf)
{
	if (!inf)
		return;
	ctrl_informer_stop(inf);
	pthread_cond_destroy(&inf->wake);
	pthread_mutex_destroy(&inf->apply);
	pthread_mutex_destroy(&inf->lock);
	free_reflectors(inf);
	ctrl_store_free(inf->store);
	free(inf->group);
	free(inf->version);
	free(inf->plural);
	free(inf->label_selector);
	free(inf->field_selector);
	free(inf->kind);
	free(inf);
}

int ctrl_informer_add_index(ctrl_informer *inf, const char *name, ctrl_index_fn fn,
			    void *payload)
{
	return ctrl_store_add_index(inf->store, name, fn, payload);
}

int ctrl_informer_add_handlers(ctrl_informer *inf, const ctrl_handlers *handlers)
{
	if (inf->n_handlers == MAX_HANDLERS)
		return ss_error_set(SS_EINVALID,
				    "an informer has at most %d handler sets",
				    MAX_HANDLERS);
	inf->handlers[inf->n_handlers++] = *handlers;
	return 0;
}

ctrl_store *ctrl_informer_store(ctrl_informer *inf)
{
	return inf->store;
}

bool ctrl_informer_has_synced(ctrl_informer *inf)
{
	return atomic_load(&inf->synced);
}

int ctrl_informer_wait_synced(ctrl_informer *inf, int64_t timeout_ns)
{
	struct timespec until = ss_mono_deadline(timeout_ns);
	int rc = 0;

	pthread_mutex_lock(&inf->lock);
	while (!atomic_load(&inf->synced) && rc == 0)
		rc = pthread_cond_timedwait(&inf->wake, &inf->lock, &until);
	pthread_mutex_unlock(&inf->lock);
	if (!atomic_load(&inf->synced))
		return ss_error_set(SS_ETIMEOUT, "cache of %s not synced in time",
				    inf->name);
	return 0;
}

static void reflector_version(reflector *rf, char *buf, size_t cap)
{
	pthread_mutex_lock(&rf->inf->lock);
	ss_strlcpy(buf, rf->last_rv, cap);
	pthread_mutex_unlock(&rf->inf->lock);
}

void ctrl_informer_last_version(ctrl_informer *inf, char *buf, size_t cap)
{
	reflector_version(&inf->refl[0], buf, cap);
}

static void set_version(reflector *rf, const char *rv)
{
	if (!rv || !*rv)
		return;
	pthread_mutex_lock(&rf->inf->lock);
	ss_strlcpy(rf->last_rv, rv, sizeof(rf->last_rv));
	pthread_mutex_unlock(&rf->inf->lock);
}

/* Sleeps up to `ns` or until stop(). */
static void nap(ctrl_informer *inf, int64_t ns)
{
	struct timespec until = ss_mono_deadline(ns);
	int rc = 0;

	pthread_mutex_lock(&inf->lock);
	while (!atomic_load(&inf->stop) && rc == 0)
		rc = pthread_cond_timedwait(&inf->wake, &inf->lock, &until);
	pthread_mutex_unlock(&inf->lock);
}

static uint64_t next_random(reflector *rf)
{
	/* xorshift64: jitter needs spread, not cryptographic quality. */
	rf->rng ^= rf->rng << 13;
	rf->rng ^= rf->rng >> 7;
	rf->rng ^= rf->rng << 17;
	return rf->rng;
}

/* Waits the current backoff plus up to 100% jitter, then doubles it. */
static void back_off(reflector *rf, int64_t *backoff)
{
	ctrl_informer *inf = rf->inf;
	int64_t jitter = (int64_t)(next_random(rf) % (uint64_t)(*backoff + 1));

	nap(inf, *backoff + jitter);
	*backoff = *backoff * 2 > inf->opts.backoff_max_ns ? inf->opts.backoff_max_ns
							   : *backoff * 2;
}

/* What the cache keeps of an object (trimmed in place: list items and watch
 * events are ours to modify during their callbacks): managedFields dropped unless asked
 * for, and apiVersion/kind filled in when a list left them out. */
static void trim(ctrl_informer *inf, json_t *obj)
{
	json_t *meta = json_object_get(obj, "metadata");
	char api_version[128];

	if (!inf->opts.keep_managed_fields && meta)
		json_object_del(meta, "managedFields");
	if (inf->kind && !json_object_get(obj, "kind"))
		json_object_set_new(obj, "kind", json_string(inf->kind));
	if (!json_object_get(obj, "apiVersion")) {
		snprintf(api_version, sizeof(api_version), "%s%s%s", inf->group,
			 *inf->group ? "/" : "", inf->version);
		json_object_set_new(obj, "apiVersion", json_string(api_version));
	}
}

typedef enum { CHANGE_ADD, CHANGE_UPDATE, CHANGE_DELETE } change_kind;

static void notify(ctrl_informer *inf, change_kind kind, const json_t *old,
		   const json_t *now)
{
	size_t i;

	for (i = 0; i < inf->n_handlers; i++) {
		const ctrl_handlers *h = &inf->handlers[i];

		if (kind == CHANGE_ADD && h->on_add)
			h->on_add(h->payload, now);
		else if (kind == CHANGE_UPDATE && h->on_update)
			h->on_update(h->payload, old, now);
		else if (kind == CHANGE_DELETE && h->on_delete)
			h->on_delete(h->payload, old);
	}
}

static void count_restart(ctrl_informer *inf, const char *reason)
{
	ctrl_counter_inc(inf->restarts, CTRL_LV(inf->name, reason));
}

typedef struct {
	ctrl_informer *inf;
	json_t *seen; /* keys the list returned */
} relist_state;

/* Puts obj in the cache and tells the handlers, as one step (see apply). */
static int apply_put(ctrl_informer *inf, json_t *obj)
{
	json_t *old = NULL;
	int error;

	pthread_mutex_lock(&inf->apply);
	error = ctrl_store_put(inf->store, obj, &old);
	if (error == 0)
		notify(inf, old ? CHANGE_UPDATE : CHANGE_ADD, old, obj);
	pthread_mutex_unlock(&inf->apply);
	json_decref(old);
	return error;
}

/* Drops key from the cache and tells the handlers about `last` (the
 * watch's object) or, when NULL, the cached one; nothing if not cached. */
static void apply_delete(ctrl_informer *inf, const char *key, const json_t *last)
{
	json_t *old = NULL;

	pthread_mutex_lock(&inf->apply);
	ctrl_store_delete(inf->store, key, &old);
	if (last || old)
		notify(inf, CHANGE_DELETE, last ? last : old, NULL);
	pthread_mutex_unlock(&inf->apply);
	json_decref(old);
}

/* One listed item: cache it unless it is unchanged, and tell the handlers. */
static int on_list_item(json_t *item, void *payload)
{
	relist_state *st = payload;
	ctrl_informer *inf = st->inf;
	char key[CTRL_KEY_MAX];

	if (ctrl_key_of(key, sizeof(key), item) < 0)
		return 0; /* nameless: nothing to cache */
	if (json_object_set_new(st->seen, key, json_true()) < 0)
		return ss_error_set(SS_ENOMEM, "out of memory listing %s", inf->name);
	if (ctrl_store_has_version(inf->store, key, ctrl_meta(item, "resourceVersion")))
		return 0; /* unchanged while we were away */
	trim(inf, item);
	return apply_put(inf, item);
}

/* Whether cache key `key` is this reflector's to drop: any key when it
 * lists all namespaces (or the only one), else one of its namespace. */
static bool owns_key(const reflector *rf, const char *key)
{
	size_t len;

	if (!rf->ns || rf->inf->n_refl == 1)
		return true;
	len = strlen(rf->ns);
	return !strncmp(key, rf->ns, len) && key[len] == '/';
}

/* The first complete list of every reflector makes the informer synced. */
static void mark_listed(reflector *rf)
{
	ctrl_informer *inf = rf->inf;

	pthread_mutex_lock(&inf->lock);
	if (!rf->listed) {
		rf->listed = true;
		inf->n_listed++;
	}
	if (inf->n_listed == inf->n_refl && !atomic_load(&inf->synced)) {
		atomic_store(&inf->synced, true);
		pthread_cond_broadcast(&inf->wake);
	}
	pthread_mutex_unlock(&inf->lock);
}

/* Lists everything (of rf's namespace), page by page, into the cache; then
 * drops what the list no longer has (deletes missed while no watch was
 * open). A list that fails half way leaves real (if mixed) versions in the
 * cache and is retried. */
static int relist(reflector *rf)
{
	ctrl_informer *inf = rf->inf;
	relist_state st = { inf, json_object() };
	kube_list_opts lopts = { .label_selector = inf->label_selector,
				 .field_selector = inf->field_selector,
				 .limit = inf->opts.page_size,
				 .each_item = on_list_item,
				 .each_item_payload = &st };
	json_t *gone = NULL, *k;
	char *rv = NULL;
	size_t i, dropped = 0;
	int error;

	if (!st.seen)
		return ss_error_set(SS_ENOMEM, "out of memory listing %s", inf->name);
	error = kube_list_all(NULL, &rv, inf->opts.client, &inf->resource, rf->ns, &lopts);
	if (error == 0)
		error = ctrl_store_keys_not_in(&gone, inf->store, st.seen);
	if (error < 0)
		goto done;
	json_array_foreach(gone, i, k)
	{
		if (owns_key(rf, json_string_value(k))) {
			apply_delete(inf, json_string_value(k), NULL);
			dropped++;
		}
	}
	set_version(rf, rv);
	ss_log(SS_LOG_DEBUG, "listed", SS_LS("resource", inf->name),
	       SS_LS("namespace", rf->ns ? rf->ns : "(all)"), SS_LS("version", rv),
	       SS_LI("objects", ctrl_store_len(inf->store)),
	       SS_LI("missed_deletes", dropped));
	mark_listed(rf);
done:
	json_decref(st.seen);
	json_decref(gone);
	free(rv);
	return error;
}

static int on_watch_event(const kube_watch_event *ev, void *payload)
{
	reflector *rf = payload;
	ctrl_informer *inf = rf->inf;
	char key[CTRL_KEY_MAX];

	rf->watch_events++;
	if (ev->type == KUBE_WATCH_BOOKMARK) {
		set_version(rf, ev->resource_version);
		return 0;
	}
	if (ev->type == KUBE_WATCH_DELETED) {
		if (ctrl_key_of(key, sizeof(key), ev->object) == 0) {
			apply_delete(inf, key, ev->object);
			set_version(rf, ev->resource_version);
		}
		return 0;
	}
	/* ADDED or MODIFIED: the event's object becomes the cached one. */
	trim(inf, ev->object);
	if (apply_put(inf, ev->object) < 0) {
		rf->watch_broken = true;
		return SS_ERROR;
	}
	set_version(rf, ev->resource_version);
	return 0;
}

static int watch_once(reflector *rf)
{
	ctrl_informer *inf = rf->inf;
	char rv[VERSION_MAX];
	long span = inf->opts.max_watch_timeout_s - inf->opts.min_watch_timeout_s;
	kube_watch_opts wopts = {
		.resource_version = rv,
		.label_selector = inf->label_selector,
		.field_selector = inf->field_selector,
		.allow_bookmarks = true,
		.timeout_seconds =
			inf->opts.min_watch_timeout_s +
			(span > 0 ? (long)(next_random(rf) % (uint64_t)(span + 1)) : 0),
		.cancel = &inf->stop,
	};

	reflector_version(rf, rv, sizeof(rv));
	rf->watch_broken = false;
	rf->watch_events = 0;
	return kube_watch(inf->opts.client, &inf->resource, rf->ns, &wopts, on_watch_event,
			  rf);
}

/* The reflector's loop: list, watch, decide (see the top of this file). */
static void *run(void *arg)
{
	reflector *rf = arg;
	ctrl_informer *inf = rf->inf;
	const char *ns = rf->ns ? rf->ns : "(all)";
	int64_t backoff = inf->opts.backoff_initial_ns, started;
	bool need_list = true;
	int error;

	while (!atomic_load(&inf->stop)) {
		if (need_list) {
			error = relist(rf);
			if (atomic_load(&inf->stop))
				break;
			if (error < 0) {
				ss_log(SS_LOG_WARN, "list failed; will retry",
				       SS_LS("resource", inf->name), SS_LS("namespace", ns),
				       SS_LERR());
				back_off(rf, &backoff);
				continue;
			}
			need_list = false;
		}
		started = ss_clock_mono(inf->opts.clock);
		error = watch_once(rf);
		if (atomic_load(&inf->stop))
			break;
		if (ss_clock_mono(inf->opts.clock) - started > HEALTHY_WATCH_NS)
			backoff = inf->opts.backoff_initial_ns;
		if (error == SS_EGONE) {
			ss_log(SS_LOG_INFO, "watch version too old; relisting",
			       SS_LS("resource", inf->name), SS_LS("namespace", ns), SS_LERR());
			count_restart(inf, "gone");
			need_list = true;
			continue;
		}
		if (rf->watch_broken) {
			ss_log(SS_LOG_WARN, "cache update failed; relisting",
			       SS_LS("resource", inf->name), SS_LS("namespace", ns), SS_LERR());
			count_restart(inf, "error");
			need_list = true;
			back_off(rf, &backoff);
			continue;
		}
		if (error == 0 &&
		    (rf->watch_events > 0 ||
		     ss_clock_mono(inf->opts.clock) - started >= SHORT_WATCH_NS))
			continue; /* the server's timeout: watch on */
		if (error == 0)
			ss_error_set(SS_ERROR, "watch of %s ended at once with no events",
				     inf->name);
		ss_log(SS_LOG_WARN, "watch failed; reconnecting", SS_LS("resource", inf->name),
		       SS_LS("namespace", ns), SS_LERR());
		count_restart(inf, "error");
		back_off(rf, &backoff);
	}
	return NULL;
}

/* Sets the stop flag, wakes every nap and joins the reflectors started. */
static void stop_reflectors(ctrl_informer *inf)
{
	size_t i;

	pthread_mutex_lock(&inf->lock);
	atomic_store(&inf->stop, true);
	pthread_cond_broadcast(&inf->wake);
	pthread_mutex_unlock(&inf->lock);
	for (i = 0; i < inf->n_refl; i++) {
		if (inf->refl[i].started)
			pthread_join(inf->refl[i].thread, NULL);
		inf->refl[i].started = false;
	}
}

int ctrl_informer_start(ctrl_informer *inf)
{
	size_t i;

	if (inf->started)
		return ss_error_set(SS_EINVALID, "informer for %s already started",
				    inf->name);
	atomic_store(&inf->stop, false);
	for (i = 0; i < inf->n_refl; i++) {
		if (pthread_create(&inf->refl[i].thread, NULL, run, &inf->refl[i]) != 0) {
			stop_reflectors(inf);
			return ss_error_set(SS_ERROR,
					    "cannot start the informer thread for %s",
					    inf->name);
		}
		inf->refl[i].started = true;
	}
	inf->started = true;
	return 0;
}

void ctrl_informer_stop(ctrl_informer *inf)
{
	if (!inf->started)
		return;
	stop_reflectors(inf);
	inf->started = false;
}
