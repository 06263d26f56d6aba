/*
 * writes.c — conditional writes with conflict retry, finalizers and owner
 * references. See writes.h.
 *
 * One loop serves /status and the object: read (or start from the caller's
 * copy), let the callback change a deep copy, compare, PUT with the
 * resourceVersion that was read. The identity fields (name, namespace,
 * resourceVersion) are put back from the read object before the PUT, so a
 * callback can neither make the write unconditional nor aim it at another
 * object.
 *
 * The backoff sleeps the calling thread; with the defaults the worst case
 * is about 10+20+40+80 ms. Jitter comes from a per-thread xorshift state so
 * that controllers racing on one object do not retry in lockstep. Under a
 * request deadline (kube_deadline_set) a backoff that would reach it is not
 * slept: the write fails with SS_ETIMEOUT at once (every GET and PUT is
 * bounded by the client itself).
 */
#include "ctrl/writes.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctrl/object.h"
#include "kube/rest.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"
#include "util/str.h"

/* "resource/ns/name" or "resource/name" for messages. */
#define TARGET_MAX (CTRL_KEY_MAX + 128)

static void describe(char *buf, size_t cap, const kube_resource *res, const char *ns,
		     const char *name)
{
	if (ns && *ns)
		snprintf(buf, cap, "%s/%s/%s", res->resource, ns, name ? name : "");
	else
		snprintf(buf, cap, "%s/%s", res->resource, name ? name : "");
}

static void describe_object(char *buf, size_t cap, const json_t *obj)
{
	if (ctrl_key_of(buf, cap, obj) != 0)
		snprintf(buf, cap, "(unnamed object)");
}

/* Puts "<verb> <target>: " in front of the last error, keeping its code,
 * HTTP status, reason and Retry-After. */
static int wrap_error(int code, const char *verb, const char *target, int attempts)
{
	const ss_error *last = ss_error_last();
	char reason[SS_ERROR_REASON_MAX];
	long http = last->http_status;
	int retry_after = last->retry_after_seconds;

	ss_strlcpy(reason, last->reason, sizeof(reason));
	if (code == SS_ECONFLICT && attempts > 1)
		return ss_error_set_http(code, http, reason[0] ? reason : NULL,
					 retry_after,
					 "%s %s: gave up after %d attempts: %s", verb,
					 target, attempts, last->message);
	return ss_error_set_http(code, http, reason[0] ? reason : NULL, retry_after,
				 "%s %s: %s", verb, target, last->message);
}

static uint64_t next_random(void)
{
	static _Thread_local uint64_t state;

	if (state == 0)
		state = ((uint64_t)ss_clock_mono(ss_clock_system()) ^
			 (uint64_t)(uintptr_t)&state) |
			1;
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

/* Sleeps between half and all of `ms`; SS_ETIMEOUT, without sleeping,
 * when that would reach this thread's request deadline. */
static int sleep_jittered(long ms)
{
	int64_t full = (int64_t)ms * SS_NS_PER_MS, half = full / 2;
	int64_t ns = half + (half > 0 ? (int64_t)(next_random() % (uint64_t)half) : 0);
	struct timespec ts = { (time_t)(ns / SS_NS_PER_SEC), (long)(ns % SS_NS_PER_SEC) };
	int error = kube_deadline_check_wait(ns, "retrying a conflict");

	if (error < 0)
		return error;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	return 0;
}

/* The object to apply the change to: a private copy of opts->start on the
 * first attempt, else the server's latest. */
static int read_current(json_t **out, kube_client *c, const kube_resource *res,
			const char *ns, const char *name, const json_t *start)
{
	json_t *copy;

	if (!start)
		return kube_get(out, c, res, ns, name);
	if (!ss_streq(ctrl_meta(start, "name"), name) ||
	    (res->namespaced && !ss_streq(ctrl_meta(start, "namespace"), ns)))
		return ss_error_set(
			SS_EINVALID, "the start object is %s/%s, not the one to write",
			ctrl_meta(start, "namespace") ? ctrl_meta(start, "namespace")
						      : "",
			ctrl_meta(start, "name") ? ctrl_meta(start, "name") : "");
	copy = json_deep_copy(start);
	if (!copy)
		return ss_error_set(SS_ENOMEM, "out of memory");
	*out = copy;
	return 0;
}

/* Restores the fields that make the PUT conditional and address it. */
static int pin_identity(json_t *work, const json_t *current)
{
	static const char *const fields[] = { "name", "namespace", "resourceVersion" };
	json_t *meta = json_object_get(work, "metadata");
	json_t *cur_meta = json_object_get(current, "metadata");
	size_t i;

	if (!json_is_object(meta))
		return ss_error_set(SS_EINVALID, "the change removed metadata");
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		json_t *value = json_object_get(cur_meta, fields[i]);

		if (!value)
			json_object_del(meta, fields[i]);
		else if (json_object_set(meta, fields[i], value) != 0)
			return ss_error_set(SS_ENOMEM, "out of memory");
	}
	if (!json_is_string(json_object_get(meta, "resourceVersion")))
		return ss_error_set(SS_EINVALID,
				    "the object has no metadata.resourceVersion, so the "
				    "write cannot be conditional");
	return 0;
}

static bool same(const json_t *a, const json_t *b)
{
	return (!a && !b) || json_equal(a, b);
}

/* Whether the write would change nothing. /status ignores everything but
 * status, so only status counts there. */
static bool unchanged(const json_t *work, const json_t *cur, bool status)
{
	if (status)
		return same(json_object_get(work, "status"),
			    json_object_get(cur, "status"));
	return same(work, cur);
}

/* One conditional write across its attempts. */
typedef struct {
	kube_client *c;
	const kube_resource *res;
	const char *ns; /* NULL for a cluster-scoped resource */
	const char *name;
	ctrl_mutate_fn mutate;
	void *payload;
	bool status;		 /* PUT to /status */
	char target[TARGET_MAX]; /* for messages */
} write_job;

/* The attempts and backoff of `opts`, a default for each field not set. */
static void write_limits(int *max_attempts, long *backoff, long *max_backoff,
			 const ctrl_write_opts *opts)
{
	static const ctrl_write_opts defaults = CTRL_WRITE_OPTS_INIT;

	*max_attempts =
		opts->max_attempts > 0 ? opts->max_attempts : defaults.max_attempts;
	*backoff = opts->backoff_ms > 0 ? opts->backoff_ms : defaults.backoff_ms;
	*max_backoff =
		opts->max_backoff_ms > 0 ? opts->max_backoff_ms : defaults.max_backoff_ms;
	if (*backoff > *max_backoff)
		*backoff = *max_backoff;
}

/* One attempt: read (or copy `start`), change a copy, compare, PUT. 0 with
 * *written the server's answer, or the object read when there is nothing
 * to write; else the error, *put_failed saying whether it is the PUT's. */
static int write_once(json_t **written, bool *put_failed, const write_job *j,
		      const json_t *start)
{
	json_t *cur = NULL, *work = NULL;
	int error;

	*put_failed = false;
	error = read_current(&cur, j->c, j->res, j->ns, j->name, start);
	if (error != 0)
		goto cleanup;
	work = json_deep_copy(cur);
	if (!work) {
		error = ss_error_set(SS_ENOMEM, "out of memory");
		goto cleanup;
	}
	error = j->mutate(work, j->payload);
	if (error < 0)
		goto cleanup;
	if (error == CTRL_MUTATE_SKIP || (error == 0 && unchanged(work, cur, j->status))) {
		*written = cur; /* already as wanted: no write */
		cur = NULL;
		error = 0;
		goto cleanup;
	}
	if (error != 0) {
		error = ss_error_set(SS_EINVALID, "the change callback returned %d", error);
		goto cleanup;
	}
	error = pin_identity(work, cur);
	if (error != 0)
		goto cleanup;
	if (j->status)
		error = kube_update_status(written, j->c, j->res, work);
	else
		error = kube_update(written, j->c, j->res, work);
	*put_failed = error != 0;
cleanup:
	json_decref(cur);
	json_decref(work);
	return error;
}

/* Writes until an attempt is not refused with a conflict, or attempts run
 * out, with a jittered, doubling backoff between attempts. */
static int write_loop(json_t **out, kube_client *c, const kube_resource *res,
		      const char *ns, const char *name, ctrl_mutate_fn mutate,
		      void *payload, const ctrl_write_opts *opts, bool status)
{
	static const ctrl_write_opts defaults = CTRL_WRITE_OPTS_INIT;
	write_job j = { c, res, res->namespaced ? ns : NULL, name, mutate, payload, status,
			"" };
	json_t *written = NULL;
	int max_attempts, attempt = 0, error = 0;
	long backoff, max_backoff;
	bool put_failed = false; /* the error, if any, is the PUT's */

	if (!opts)
		opts = &defaults;
	write_limits(&max_attempts, &backoff, &max_backoff, opts);
	describe(j.target, sizeof(j.target), res, j.ns, name);
	if (!name || !*name || (res->namespaced && (!j.ns || !*j.ns)) || !mutate) {
		error = ss_error_set(SS_EINVALID, "a name%s and a change are required",
				     res->namespaced ? ", a namespace" : "");
		goto cleanup;
	}
	for (attempt = 1;; attempt++) {
		error = write_once(&written, &put_failed, &j,
				   attempt == 1 ? opts->start : NULL);
		if (!put_failed || error != SS_ECONFLICT || attempt >= max_attempts)
			goto cleanup;
		ss_log(SS_LOG_DEBUG, "write conflict, retrying", SS_LS("object", j.target),
		       SS_LB("status", status), SS_LI("attempt", attempt),
		       SS_LI("backoff_ms", backoff));
		error = sleep_jittered(backoff);
		if (error < 0)
			goto cleanup;
		backoff = backoff > max_backoff / 2 ? max_backoff : backoff * 2;
	}
cleanup:
	if (error != 0) {
		json_decref(written);
		/* "gave up after N attempts" only for the PUT's own conflict. */
		return wrap_error(error, status ? "update status of" : "update", j.target,
				  put_failed ? attempt : 0);
	}
	if (out)
		*out = written;
	else
		json_decref(written);
	return 0;
}

int ctrl_write_status(json_t **out, kube_client *c, const kube_resource *res,
		      const char *ns, const char *name, ctrl_mutate_fn mutate,
		      void *payload, const ctrl_write_opts *opts)
{
	return write_loop(out, c, res, ns, name, mutate, payload, opts, true);
}

int ctrl_write_object(json_t **out, kube_client *c, const kube_resource *res,
		      const char *ns, const char *name, ctrl_mutate_fn mutate,
		      void *payload, const ctrl_write_opts *opts)
{
	return write_loop(out, c, res, ns, name, mutate, payload, opts, false);
}

/* --- finalizers -------------------------------------------------------------- */

typedef struct {
	const char *finalizer;
} finalizer_change;

static int add_finalizer_cb(json_t *obj, void *payload)
{
	const finalizer_change *fc = payload;
	bool changed = false;
	int error = ctrl_finalizer_add(&changed, obj, fc->finalizer);

	if (error != 0)
		return error;
	return changed ? 0 : CTRL_MUTATE_SKIP;
}

static int remove_finalizer_cb(json_t *obj, void *payload)
{
	const finalizer_change *fc = payload;
	bool changed = false;
	int error = ctrl_finalizer_remove(&changed, obj, fc->finalizer);

	if (error != 0)
		return error;
	return changed ? 0 : CTRL_MUTATE_SKIP;
}

int ctrl_write_add_finalizer(json_t **out, kube_client *c, const kube_resource *res,
			     const char *ns, const char *name, const char *finalizer,
			     const ctrl_write_opts *opts)
{
	finalizer_change fc = { finalizer };

	return write_loop(out, c, res, ns, name, add_finalizer_cb, &fc, opts, false);
}

int ctrl_write_remove_finalizer(json_t **out, kube_client *c, const kube_resource *res,
				const char *ns, const char *name, const char *finalizer,
				const ctrl_write_opts *opts)
{
	finalizer_change fc = { finalizer };

	return write_loop(out, c, res, ns, name, remove_finalizer_cb, &fc, opts, false);
}

/* metadata.finalizers for writing: *out is the array or NULL when absent
 * (or JSON null). SS_EINVALID when it is anything but an array of strings. */
static int writable_finalizers(json_t **out, json_t *obj, const char *finalizer,
			       const char *what)
{
	json_t *meta = json_object_get(obj, "metadata"), *list, *item;
	char key[CTRL_KEY_MAX];
	size_t i;

	describe_object(key, sizeof(key), obj);
	if (!finalizer || !*finalizer)
		return ss_error_set(SS_EINVALID, "%s on %s: a finalizer name is required",
				    what, key);
	if (!json_is_object(meta))
		return ss_error_set(SS_EINVALID, "%s on %s: the object has no metadata",
				    what, key);
	list = json_object_get(meta, "finalizers");
	if (list && !json_is_null(list) && !json_is_array(list))
		goto bad;
	json_array_foreach(list, i, item)
	{
		if (!json_is_string(item))
			goto bad;
	}
	*out = json_is_array(list) ? list : NULL;
	return 0;
bad:
	return ss_error_set(SS_EINVALID,
			    "%s on %s: metadata.finalizers is not a list of strings",
			    what, key);
}

bool ctrl_finalizer_has(const json_t *obj, const char *finalizer)
{
	json_t *list = json_object_get(json_object_get(obj, "metadata"), "finalizers");
	json_t *item;
	size_t i;

	if (!finalizer)
		return false;
	json_array_foreach(list, i, item)
	{
		if (ss_streq(json_string_value(item), finalizer))
			return true;
	}
	return false;
}

int ctrl_finalizer_add(bool *out_changed, json_t *obj, const char *finalizer)
{
	const char *what = "add finalizer";
	json_t *list = NULL, *fresh = NULL;
	char key[CTRL_KEY_MAX];
	bool changed = false;
	int error;

	error = writable_finalizers(&list, obj, finalizer, what);
	if (error != 0 || ctrl_finalizer_has(obj, finalizer))
		goto done;
	/* The API refuses new finalizers once deletion has begun; say so in
	 * words that name the object instead of sending a doomed write. */
	if (ctrl_meta(obj, "deletionTimestamp")) {
		describe_object(key, sizeof(key), obj);
		error = ss_error_set(SS_EINVALID,
				     "%s %s on %s: the object is being deleted; no new "
				     "finalizers can be added",
				     what, finalizer, key);
		goto done;
	}
	if (list) {
		if (json_array_append_new(list, json_string(finalizer)) != 0)
			error = ss_error_set(SS_ENOMEM, "out of memory");
	} else {
		fresh = json_pack("[s]", finalizer);
		if (!fresh || json_object_set_new(json_object_get(obj, "metadata"),
						  "finalizers", fresh) != 0)
			error = ss_error_set(SS_ENOMEM, "out of memory");
	}
	changed = error == 0;
done:
	if (error == 0 && out_changed)
		*out_changed = changed;
	return error;
}

int ctrl_finalizer_remove(bool *out_changed, json_t *obj, const char *finalizer)
{
	json_t *list = NULL;
	bool changed = false;
	size_t i = 0;
	int error;

	error = writable_finalizers(&list, obj, finalizer, "remove finalizer");
	if (error != 0)
		return error;
	while (i < json_array_size(list)) {
		if (ss_streq(json_string_value(json_array_get(list, i)), finalizer)) {
			json_array_remove(list, i);
			changed = true;
		} else {
			i++;
		}
	}
	/* An empty list and no list mean the same; leave no empty husk. */
	if (changed && json_array_size(list) == 0)
		json_object_del(json_object_get(obj, "metadata"), "finalizers");
	if (out_changed)
		*out_changed = changed;
	return 0;
}

/* --- owner references -------------------------------------------------------- */

const json_t *ctrl_owner_controller(const json_t *obj)
{
	json_t *refs =
		json_object_get(json_object_get(obj, "metadata"), "ownerReferences");
	json_t *ref;
	size_t i;

	json_array_foreach(refs, i, ref)
	{
		if (json_is_true(json_object_get(ref, "controller")))
			return ref;
	}
	return NULL;
}

static const char *str_field(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s && *s ? s : NULL;
}

static int check_owner(const json_t *child, const json_t *owner, const char *key)
{
	const char *owner_ns = ctrl_meta(owner, "namespace");
	const char *child_ns = ctrl_meta(child, "namespace");

	if (!str_field(owner, "apiVersion") || !str_field(owner, "kind") ||
	    !ctrl_meta(owner, "name") || !*ctrl_meta(owner, "name") ||
	    !ctrl_meta(owner, "uid") || !*ctrl_meta(owner, "uid"))
		return ss_error_set(
			SS_EINVALID,
			"set controller of %s: the owner needs apiVersion, kind, "
			"metadata.name and metadata.uid",
			key);
	if (!json_is_object(json_object_get(child, "metadata")))
		return ss_error_set(SS_EINVALID,
				    "set controller of %s: the object has no metadata",
				    key);
	/* Owners must live in the child's namespace (or be cluster scoped). */
	if (owner_ns && *owner_ns && child_ns && *child_ns && strcmp(owner_ns, child_ns))
		return ss_error_set(SS_EINVALID,
				    "set controller of %s: the owner is in namespace %s; "
				    "owner references cannot cross namespaces",
				    key, owner_ns);
	return 0;
}

/* The place of the reference to `uid` in `refs` (*at, -1 if none), or
 * SS_ECONFLICT when another owner is the controller. */
static int find_owner_ref(long *at, const json_t *refs, const char *uid, const char *key)
{
	const json_t *item;
	size_t i;

	*at = -1;
	json_array_foreach(refs, i, item)
	{
		const char *item_uid = str_field(item, "uid");

		if (ss_streq(item_uid, uid)) {
			*at = (long)i;
		} else if (json_is_true(json_object_get(item, "controller"))) {
			return ss_error_set(
				SS_ECONFLICT,
				"set controller of %s: it is already controlled by %s %s "
				"(uid %s)",
				key,
				str_field(item, "kind") ? str_field(item, "kind") : "?",
				str_field(item, "name") ? str_field(item, "name") : "?",
				item_uid ? item_uid : "?");
		}
	}
	return 0;
}

int ctrl_owner_set_controller(bool *out_changed, json_t *child, const json_t *owner)
{
	json_t *meta, *refs, *ref, *fresh = NULL;
	const char *uid = ctrl_meta(owner, "uid");
	char key[CTRL_KEY_MAX];
	bool changed = false;
	long at;
	int error;

	describe_object(key, sizeof(key), child);
	error = check_owner(child, owner, key);
	if (error != 0)
		return error;
	meta = json_object_get(child, "metadata");
	refs = json_object_get(meta, "ownerReferences");
	if (refs && !json_is_null(refs) && !json_is_array(refs))
		return ss_error_set(
			SS_EINVALID,
			"set controller of %s: metadata.ownerReferences is not a "
			"list",
			key);
	error = find_owner_ref(&at, refs, uid, key);
	if (error != 0)
		return error;
	ref = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "apiVersion",
			str_field(owner, "apiVersion"), "kind", str_field(owner, "kind"),
			"name", ctrl_meta(owner, "name"), "uid", uid, "controller", 1,
			"blockOwnerDeletion", 1);
	if (!ref)
		return ss_error_set(SS_ENOMEM, "out of memory");
	if (at >= 0 && json_equal(json_array_get(refs, (size_t)at), ref)) {
		json_decref(ref);
	} else {
		/* Each *_new call below takes ref, also when it fails. */
		if (at >= 0) {
			error = json_array_set_new(refs, (size_t)at, ref);
		} else if (json_is_array(refs)) {
			error = json_array_append_new(refs, ref);
		} else {
			fresh = json_array();
			if (!fresh)
				json_decref(ref);
			error = !fresh || json_array_append_new(fresh, ref) ||
				json_object_set(meta, "ownerReferences", fresh);
			json_decref(fresh);
		}
		if (error != 0)
			return ss_error_set(SS_ENOMEM, "out of memory");
		changed = true;
	}
	if (out_changed)
		*out_changed = changed;
	return 0;
}
