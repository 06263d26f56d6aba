/*
 * events.c — the event recorder. See events.h.
 *
 * Callers only copy an event into a ring of pointers under `mu` and signal
 * the sender; everything that talks to the API server — discovery, create,
 * patch, retries — runs on the sender thread, which also owns the dedup
 * cache, so the cache needs no lock. `enqueued` and `completed` count events
 * in and out; flush waits until `completed` reaches the `enqueued` it saw.
 *
 * The cache is a small array searched linearly by a 64-bit hash: a few
 * thousand entries at the rate controllers emit events cost nothing, and the
 * least recently used entry is the one replaced when it is full.
 */
#include "ctrl/events.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kube/discovery.h"
#include "kube/rest.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"
#include "util/str.h"

#define DEFAULT_QUEUE 1024
#define DEFAULT_CACHE 4096
#define DEFAULT_WINDOW (10 * 60 * SS_NS_PER_SEC)
#define SEND_ATTEMPTS 3
#define RETRY_BASE_NS (250 * SS_NS_PER_MS)

static const kube_resource events_v1 = { "events.k8s.io", "v1", "events", true };
static const kube_resource events_core = { "", "v1", "events", true };

typedef struct {
	char *key;
	uint64_t hash;
	char name[CTRL_EVENT_NAME_MAX + 1];
	char ns[64];
	int64_t count;
	int64_t last_seen_ns;
	uint64_t used;
} cache_entry;

struct ctrl_events {
	kube_client *client;
	const ss_clock *clock;
	char controller[254];
	char instance[CTRL_EVENT_REASON_MAX + 1];
	char component[254];
	ctrl_events_api api; /* as configured; resolved by the sender */
	int64_t window_ns;

	pthread_mutex_t mu;
	pthread_cond_t wake; /* sender: an event arrived, or stop */
	pthread_cond_t idle; /* flushers: an event was finished */
	ctrl_event **queue;
	size_t queue_cap, head, count;
	uint64_t enqueued, completed;
	bool stopping;
	bool dropping; /* inside a burst of drops */
	atomic_uint_fast64_t dropped;
	pthread_t sender;

	/* Sender thread only. */
	ctrl_events_api resolved;
	cache_entry *cache;
	size_t cache_cap, cache_len;
	uint64_t tick;
};

/* ---- pure parts ---- */

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one. Each byte
 * is read only after the previous one proved to be part of the sequence, so
 * a NUL stops it without reading beyond. */
static size_t utf8_sequence(const unsigned char *s)
{
	unsigned char lo = 0x80, hi = 0xBF;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		return (s[1] & 0xC0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		if (s[0] == 0xE0)
			lo = 0xA0; /* overlong */
		if (s[0] == 0xED)
			hi = 0x9F; /* surrogates */
		if (s[1] < lo || s[1] > hi)
			return 0;
		return (s[2] & 0xC0) == 0x80 ? 3 : 0;
	}
	if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		if (s[0] == 0xF0)
			lo = 0x90;
		if (s[0] == 0xF4)
			hi = 0x8F; /* beyond U+10FFFF */
		if (s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80 ||
		    (s[3] & 0xC0) != 0x80)
			return 0;
		return 4;
	}
	return 0;
}

size_t ctrl_event_truncate_utf8(char *dst, size_t cap, const char *src, size_t limit)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t in = 0, out = 0;

	if (cap == 0)
		return 0;
	if (limit >= cap)
		limit = cap - 1;
	while (s[in]) {
		size_t n = utf8_sequence(s + in);

		if (n == 0) {
			if (out + 1 > limit)
				break;
			dst[out++] = '?';
			in++;
			continue;
		}
		if (out + n > limit)
			break;
		memcpy(dst + out, s + in, n);
		out += n;
		in += n;
	}
	dst[out] = '\0';
	return out;
}

static int copy_field(char *dst, size_t cap, const char *value, const char *what,
		      bool required)
{
	if (!value || !*value) {
		if (required)
			return ss_error_set(SS_EINVALID, "event: the object has no %s",
					    what);
		dst[0] = '\0';
		return 0;
	}
	if (ss_strlcpy(dst, value, cap) >= cap)
		return ss_error_set(SS_EINVALID, "event: the object's %s is too long",
				    what);
	return 0;
}

int ctrl_event_ref_from_object(ctrl_event_ref *out, const json_t *obj)
{
	const json_t *meta = json_object_get(obj, "metadata");
	ctrl_event_ref ref;
	int error;

#define FIELD(dst, parent, key, required)                                                \
	do {                                                                             \
		error = copy_field(ref.dst, sizeof(ref.dst),                             \
				   json_string_value(json_object_get(parent, key)), key, \
				   required);                                            \
		if (error < 0)                                                           \
			return error;                                                    \
	} while (0)
	FIELD(api_version, obj, "apiVersion", true);
	FIELD(kind, obj, "kind", true);
	FIELD(name, meta, "name", true);
	FIELD(ns, meta, "namespace", false);
	FIELD(uid, meta, "uid", false);
	FIELD(resource_version, meta, "resourceVersion", false);
#undef FIELD
	*out = ref;
	return 0;
}

static int check_word(const char *value, const char *what)
{
	size_t n;

	if (!value || !*value)
		return ss_error_set(SS_EINVALID, "event: a %s is required", what);
	n = strlen(value);
	if (n > CTRL_EVENT_REASON_MAX)
		return ss_error_set(SS_EINVALID,
				    "event: %s '%.40s…' is longer than %d bytes", what,
				    value, CTRL_EVENT_REASON_MAX);
	return 0;
}

int ctrl_event_init(ctrl_event *out, const ctrl_event_ref *ref, ctrl_event_type type,
		    const char *reason, const char *action, const char *note,
		    int64_t now_real_ns)
{
	int error;

	if (!action)
		action = reason;
	error = check_word(reason, "reason");
	if (error < 0)
		return error;
	error = check_word(action, "action");
	if (error < 0)
		return error;
	if (!ref->name[0] || !ref->kind[0] || !ref->api_version[0])
		return ss_error_set(SS_EINVALID,
				    "event: the object needs apiVersion, kind and name");
	if (type != CTRL_EVENT_NORMAL && type != CTRL_EVENT_WARNING)
		return ss_error_set(SS_EINVALID, "event: type must be Normal or Warning");
	out->regarding = *ref;
	out->type = type;
	ctrl_event_truncate_utf8(out->reason, sizeof(out->reason), reason,
				 CTRL_EVENT_REASON_MAX);
	ctrl_event_truncate_utf8(out->action, sizeof(out->action), action,
				 CTRL_EVENT_REASON_MAX);
	ctrl_event_truncate_utf8(out->note, sizeof(out->note), note ? note : "",
				 CTRL_EVENT_NOTE_MAX);
	out->time_ns = now_real_ns;
	return 0;
}

static const char *type_name(ctrl_event_type type)
{
	return type == CTRL_EVENT_WARNING ? "Warning" : "Normal";
}

int ctrl_event_key(ss_buf *out, const ctrl_event *e)
{
	const ctrl_event_ref *r = &e->regarding;

	/* '|' cannot occur in a uid, type, reason or action that passes
	 * validation, and the note comes last, so keys cannot collide. */
	if (r->uid[0])
		return ss_buf_printf(out, "%s|%s|%s|%s|%s", r->uid, type_name(e->type),
				     e->reason, e->action, e->note);
	return ss_buf_printf(out, "%s/%s/%s|%s|%s|%s|%s", r->kind, r->ns, r->name,
			     type_name(e->type), e->reason, e->action, e->note);
}

void ctrl_event_name(char *out, size_t cap, const ctrl_event *e, int64_t now_real_ns)
{
	char suffix[24];
	size_t keep = strlen(e->regarding.name);
	int n;

	n = snprintf(suffix, sizeof(suffix), ".%016llx", (unsigned long long)now_real_ns);
	if (n < 0)
		n = 0;
	if (keep + (size_t)n > CTRL_EVENT_NAME_MAX)
		keep = CTRL_EVENT_NAME_MAX - (size_t)n;
	snprintf(out, cap, "%.*s%s", (int)keep, e->regarding.name, suffix);
}

const char *ctrl_event_namespace(const ctrl_event *e)
{
	return e->regarding.ns[0] ? e->regarding.ns : "default";
}

ctrl_event_decision ctrl_event_aggregate(int64_t last_seen_ns, int64_t now_ns,
					 int64_t window_ns)
{
	if (last_seen_ns == 0)
		return CTRL_EVENT_CREATE;
	if (now_ns - last_seen_ns > window_ns)
		return CTRL_EVENT_CREATE;
	return CTRL_EVENT_UPDATE;
}

static int set_str(json_t *obj, const char *key, const char *value)
{
	if (!value || !*value)
		return 0;
	return json_object_set_new(obj, key, json_string(value));
}

static json_t *ref_json(const ctrl_event_ref *r)
{
	json_t *o = json_object();
	int failed = 0;

	if (!o)
		return NULL;
	failed |= set_str(o, "apiVersion", r->api_version);
	failed |= set_str(o, "kind", r->kind);
	failed |= set_str(o, "name", r->name);
	failed |= set_str(o, "namespace", r->ns);
	failed |= set_str(o, "uid", r->uid);
	failed |= set_str(o, "resourceVersion", r->resource_version);
	if (failed) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *ctrl_event_object(const ctrl_event *e, ctrl_events_api api, const char *name,
			  const ctrl_event_source *src)
{
	char t[SS_TIME_RFC3339_MAX];
	json_t *obj = NULL, *ref = ref_json(&e->regarding);

	if (!ref)
		goto nomem;
	if (api == CTRL_EVENTS_API_CORE_V1) {
		ss_time_format(t, sizeof(t), e->time_ns);
		obj = json_pack(
			"{s:s, s:s, s:{s:s, s:s}, s:o, s:s, s:s, s:s, s:{s:s, s:s},"
			" s:s, s:s, s:i, s:s, s:s, s:s}",
			"apiVersion", "v1", "kind", "Event", "metadata", "name", name,
			"namespace", ctrl_event_namespace(e), "involvedObject", ref,
			"reason", e->reason, "message", e->note, "type",
			type_name(e->type), "source", "component", src->component, "host",
			src->instance, "firstTimestamp", t, "lastTimestamp", t, "count",
			1, "action", e->action, "reportingComponent", src->controller,
			"reportingInstance", src->instance);
	} else {
		ss_time_format_micro(t, sizeof(t), e->time_ns);
		obj = json_pack(
			"{s:s, s:s, s:{s:s, s:s}, s:s, s:s, s:s, s:s, s:s, s:o,"
			" s:s, s:s}",
			"apiVersion", "events.k8s.io/v1", "kind", "Event", "metadata",
			"name", name, "namespace", ctrl_event_namespace(e), "eventTime",
			t, "reportingController", src->controller, "reportingInstance",
			src->instance, "action", e->action, "reason", e->reason,
			"regarding", ref, "note", e->note, "type", type_name(e->type));
	}
	/* json_pack's "o" steals `ref` even when packing fails. */
	ref = NULL;
	if (obj)
		return obj;
nomem:
	json_decref(ref);
	ss_error_set(SS_ENOMEM, "out of memory building an Event");
	return NULL;
}

json_t *ctrl_event_update_patch(ctrl_events_api api, int64_t count, int64_t now_real_ns)
{
	char t[SS_TIME_RFC3339_MAX];
	json_t *patch;

	if (api == CTRL_EVENTS_API_CORE_V1)
		patch = json_pack("{s:I, s:s}", "count", (json_int_t)count,
				  "lastTimestamp",
				  ss_time_format(t, sizeof(t), now_real_ns));
	else
		patch = json_pack("{s:{s:I, s:s}}", "series", "count", (json_int_t)count,
				  "lastObservedTime",
				  ss_time_format_micro(t, sizeof(t), now_real_ns));
	if (!patch)
		ss_error_set(SS_ENOMEM, "out of memory building an Event patch");
	return patch;
}

/* ---- the dedup cache (sender thread) ---- */

static uint64_t fnv1a(const char *s)
{
	uint64_t h = UINT64_C(14695981039346656037);

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= UINT64_C(1099511628211);
	}
	return h;
}

static cache_entry *cache_find(ctrl_events *ev, const char *key, uint64_t hash)
{
	size_t i;

	for (i = 0; i < ev->cache_len; i++)
		if (ev->cache[i].hash == hash && strcmp(ev->cache[i].key, key) == 0)
			return &ev->cache[i];
	return NULL;
}

/* A slot for `key`: a free one, or the least recently used. */
static int cache_put(cache_entry **out, ctrl_events *ev, const char *key, uint64_t hash)
{
	cache_entry *slot = NULL;
	char *copy = ss_strdup(key);
	size_t i;

	if (!copy)
		return SS_ENOMEM;
	if (ev->cache_len < ev->cache_cap) {
		slot = &ev->cache[ev->cache_len++];
	} else {
		slot = &ev->cache[0];
		for (i = 1; i < ev->cache_len; i++)
			if (ev->cache[i].used < slot->used)
				slot = &ev->cache[i];
		free(slot->key);
	}
	memset(slot, 0, sizeof(*slot));
	slot->key = copy;
	slot->hash = hash;
	*out = slot;
	return 0;
}

/* ---- the sender ---- */

static const kube_resource *resource_for(ctrl_events_api api)
{
	return api == CTRL_EVENTS_API_CORE_V1 ? &events_core : &events_v1;
}

static int resolve_api(ctrl_events *ev)
{
	int error;

	if (ev->resolved != CTRL_EVENTS_API_AUTO)
		return 0;
	error = kube_discover_resource(NULL, ev->client, "events.k8s.io", "v1", "events");
	if (error == SS_ENOTFOUND)
		ev->resolved = CTRL_EVENTS_API_CORE_V1;
	else if (error < 0)
		return error;
	else
		ev->resolved = CTRL_EVENTS_API_EVENTS_V1;
	ss_log(SS_LOG_INFO, "events: recording through",
	       SS_LS("api", ev->resolved == CTRL_EVENTS_API_CORE_V1
				    ? "v1"
				    : "events.k8s.io/v1"));
	return 0;
}

static int create_event(ctrl_events *ev, const ctrl_event *e, const char *key,
			uint64_t hash)
{
	ctrl_event_source src = { ev->controller, ev->instance, ev->component };
	cache_entry *slot = NULL;
	char name[CTRL_EVENT_NAME_MAX + 1];
	json_t *obj = NULL;
	int64_t stamp = ss_clock_real(ev->clock);
	int error = 0, attempt;

	/* The name only has to be unique; on the rare clash take another. */
	for (attempt = 0; attempt < 3; attempt++) {
		ctrl_event_name(name, sizeof(name), e, stamp + attempt);
		json_decref(obj);
		obj = ctrl_event_object(e, ev->resolved, name, &src);
		if (!obj) {
			error = SS_ENOMEM;
			goto done;
		}
		error = kube_create(NULL, ev->client, resource_for(ev->resolved),
				    ctrl_event_namespace(e), obj);
		if (error != SS_EEXISTS)
			break;
	}
	if (error < 0)
		goto done;
	slot = cache_find(ev, key, hash);
	if (!slot && cache_put(&slot, ev, key, hash) < 0) {
		error = 0; /* the event is out; only its aggregation is lost */
		goto done;
	}
	ss_strlcpy(slot->name, name, sizeof(slot->name));
	ss_strlcpy(slot->ns, ctrl_event_namespace(e), sizeof(slot->ns));
	slot->count = 1;
	slot->last_seen_ns = e->time_ns;
	slot->used = ++ev->tick;
done:
	json_decref(obj);
	return error;
}

static int deliver(ctrl_events *ev, const ctrl_event *e)
{
	ss_buf key = SS_BUF_INIT(8192);
	cache_entry *entry;
	json_t *patch = NULL;
	uint64_t hash;
	int error;

	error = resolve_api(ev);
	if (error < 0)
		goto done;
	error = ctrl_event_key(&key, e);
	if (error < 0)
		goto done;
	hash = fnv1a(ss_buf_cstr(&key));
	entry = cache_find(ev, ss_buf_cstr(&key), hash);
	if (entry && ctrl_event_aggregate(entry->last_seen_ns, e->time_ns,
					  ev->window_ns) == CTRL_EVENT_UPDATE) {
		patch = ctrl_event_update_patch(ev->resolved, entry->count + 1,
						e->time_ns);
		if (!patch) {
			error = SS_ENOMEM;
			goto done;
		}
		error = kube_patch(NULL, ev->client, resource_for(ev->resolved),
				   entry->ns, entry->name, KUBE_PATCH_MERGE, patch, NULL);
		if (error == 0) {
			entry->count++;
			entry->last_seen_ns = e->time_ns;
			entry->used = ++ev->tick;
			goto done;
		}
		/* Expired by the server's event TTL: start a new one. */
		if (error != SS_ENOTFOUND)
			goto done;
	}
	error = create_event(ev, e, ss_buf_cstr(&key), hash);
done:
	json_decref(patch);
	ss_buf_free(&key);
	return error;
}

static bool transient(int error)
{
	return error == SS_ETRANSPORT || error == SS_ESERVER || error == SS_ETIMEOUT ||
	       error == SS_ETOOMANYREQUESTS;
}

/* Waits up to `ns` (real time) unless stopped; true when stopping. Called
 * with `mu` not held. */
static bool pause_unless_stopping(ctrl_events *ev, int64_t ns)
{
	struct timespec ts = ss_mono_deadline(ns);
	bool stopping;
	int rc = 0;

	pthread_mutex_lock(&ev->mu);
	while (!ev->stopping && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&ev->wake, &ev->mu, &ts);
	stopping = ev->stopping;
	pthread_mutex_unlock(&ev->mu);
	return stopping;
}

static void send_with_retries(ctrl_events *ev, const ctrl_event *e)
{
	int attempt, error = 0;

	for (attempt = 0; attempt < SEND_ATTEMPTS; attempt++) {
		if (attempt > 0 && pause_unless_stopping(ev, RETRY_BASE_NS << attempt))
			break;
		error = deliver(ev, e);
		if (error == 0 || !transient(error))
			break;
	}
	if (error < 0)
		ss_log(SS_LOG_WARN, "events: could not record event",
		       SS_LS("kind", e->regarding.kind),
		       SS_LS("namespace", e->regarding.ns),
		       SS_LS("name", e->regarding.name), SS_LS("reason", e->reason),
		       SS_LERR());
}

static void *sender_main(void *arg)
{
	ctrl_events *ev = arg;
	ctrl_event *e;

	pthread_mutex_lock(&ev->mu);
	for (;;) {
		while (!ev->stopping && ev->count == 0)
			pthread_cond_wait(&ev->wake, &ev->mu);
		if (ev->stopping)
			break;
		e = ev->queue[ev->head];
		ev->queue[ev->head] = NULL;
		ev->head = (ev->head + 1) % ev->queue_cap;
		ev->count--;
		pthread_mutex_unlock(&ev->mu);

		send_with_retries(ev, e);
		free(e);

		pthread_mutex_lock(&ev->mu);
		ev->completed++;
		pthread_cond_broadcast(&ev->idle);
	}
	pthread_mutex_unlock(&ev->mu);
	return NULL;
}

/* ---- public ---- */

static int copy_name(char *dst, size_t cap, const char *value, const char *fallback,
		     const char *what)
{
	if (!value || !*value)
		value = fallback;
	if (ss_strlcpy(dst, value, cap) >= cap)
		return ss_error_set(SS_EINVALID, "events: %s '%s' is too long", what,
				    value);
	return 0;
}

int ctrl_events_new(ctrl_events **out, const ctrl_events_opts *opts)
{
	ctrl_events *ev = NULL;
	pthread_condattr_t attr;
	char host[CTRL_EVENT_REASON_MAX + 1] = "";
	int error;

	if (!opts || !opts->client)
		return ss_error_set(SS_EINVALID, "events: a client is required");
	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return ss_error_set(SS_ENOMEM, "out of memory for an event recorder");
	if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
		ss_strlcpy(host, "snapstage", sizeof(host));
	error = copy_name(ev->controller, sizeof(ev->controller), opts->controller,
			  CTRL_EVENTS_CONTROLLER, "controller");
	if (error == 0)
		error = copy_name(ev->instance, sizeof(ev->instance), opts->instance,
				  host, "instance");
	if (error == 0)
		error = copy_name(ev->component, sizeof(ev->component), opts->component,
				  "snapstage", "component");
	if (error < 0)
		goto fail;
	ev->client = opts->client;
	ev->clock = opts->clock ? opts->clock : ss_clock_system();
	ev->api = opts->api;
	ev->resolved = opts->api;
	ev->window_ns =
		opts->dedup_window_ns > 0 ? opts->dedup_window_ns : DEFAULT_WINDOW;
	ev->queue_cap = opts->queue_size ? opts->queue_size : DEFAULT_QUEUE;
	ev->cache_cap = opts->cache_size ? opts->cache_size : DEFAULT_CACHE;
	ev->queue = calloc(ev->queue_cap, sizeof(*ev->queue));
	ev->cache = calloc(ev->cache_cap, sizeof(*ev->cache));
	if (!ev->queue || !ev->cache) {
		error = ss_error_set(SS_ENOMEM, "out of memory for an event recorder");
		goto fail;
	}
	atomic_init(&ev->dropped, 0);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&ev->wake, &attr);
	pthread_cond_init(&ev->idle, &attr);
	pthread_condattr_destroy(&attr);
	pthread_mutex_init(&ev->mu, NULL);
	if (pthread_create(&ev->sender, NULL, sender_main, ev) != 0) {
		pthread_cond_destroy(&ev->wake);
		pthread_cond_destroy(&ev->idle);
		pthread_mutex_destroy(&ev->mu);
		error = ss_error_set(SS_ERROR, "cannot start the event sender thread");
		goto fail;
	}
	*out = ev;
	return 0;
fail:
	free(ev->queue);
	free(ev->cache);
	free(ev);
	return error;
}

void ctrl_events_free(ctrl_events *ev)
{
	size_t i;

	if (!ev)
		return;
	pthread_mutex_lock(&ev->mu);
	ev->stopping = true;
	pthread_cond_broadcast(&ev->wake);
	pthread_cond_broadcast(&ev->idle);
	pthread_mutex_unlock(&ev->mu);
	pthread_join(ev->sender, NULL);
	for (i = 0; i < ev->count; i++)
		free(ev->queue[(ev->head + i) % ev->queue_cap]);
	for (i = 0; i < ev->cache_len; i++)
		free(ev->cache[i].key);
	free(ev->queue);
	free(ev->cache);
	pthread_cond_destroy(&ev->wake);
	pthread_cond_destroy(&ev->idle);
	pthread_mutex_destroy(&ev->mu);
	free(ev);
}

int ctrl_events_record_ref(ctrl_events *ev, const ctrl_event_ref *ref,
			   ctrl_event_type type, const char *reason, const char *action,
			   const char *note)
{
	ctrl_event *e = malloc(sizeof(*e));
	uint64_t dropped;
	bool first_drop = false, resumed = false;
	int error;

	if (!e)
		return ss_error_set(SS_ENOMEM, "out of memory for an event");
	error = ctrl_event_init(e, ref, type, reason, action, note,
				ss_clock_real(ev->clock));
	if (error < 0)
		goto fail;
	pthread_mutex_lock(&ev->mu);
	if (ev->stopping) {
		pthread_mutex_unlock(&ev->mu);
		error = ss_error_set(SS_ECANCELLED, "events: the recorder is stopping");
		goto fail;
	}
	if (ev->count == ev->queue_cap) {
		dropped = atomic_fetch_add(&ev->dropped, 1) + 1;
		first_drop = !ev->dropping;
		ev->dropping = true;
		pthread_mutex_unlock(&ev->mu);
		if (first_drop)
			ss_log(SS_LOG_WARN, "events: queue full, dropping events",
			       SS_LI("queue_size", ev->queue_cap),
			       SS_LI("dropped_total", dropped));
		error = ss_error_set(SS_ETOOLARGE, "event queue full: event %s dropped",
				     e->reason);
		goto fail;
	}
	resumed = ev->dropping;
	ev->dropping = false;
	ev->queue[(ev->head + ev->count) % ev->queue_cap] = e;
	ev->count++;
	ev->enqueued++;
	pthread_cond_signal(&ev->wake);
	pthread_mutex_unlock(&ev->mu);
	if (resumed)
		ss_log(SS_LOG_INFO, "events: queue accepting events again",
		       SS_LI("dropped_total", atomic_load(&ev->dropped)));
	return 0;
fail:
	free(e);
	return error;
}

int ctrl_events_record(ctrl_events *ev, const json_t *obj, ctrl_event_type type,
		       const char *reason, const char *action, const char *fmt, ...)
{
	/* Room for more than the note limit, so cutting is left to the UTF-8
	 * aware truncation rather than to vsnprintf. */
	char note[4 * CTRL_EVENT_NOTE_MAX];
	ctrl_event_ref ref;
	va_list ap;
	int error;

	error = ctrl_event_ref_from_object(&ref, obj);
	if (error < 0)
		return error;
	note[0] = '\0';
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(note, sizeof(note), fmt, ap);
		va_end(ap);
	}
	return ctrl_events_record_ref(ev, &ref, type, reason, action, note);
}

int ctrl_events_flush(ctrl_events *ev, int64_t timeout_ns)
{
	struct timespec ts = ss_mono_deadline(timeout_ns);
	uint64_t target;
	int rc = 0, error = 0;

	pthread_mutex_lock(&ev->mu);
	target = ev->enqueued;
	while (ev->completed < target && !ev->stopping && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&ev->idle, &ev->mu, &ts);
	if (ev->completed < target)
		error = ss_error_set(SS_ETIMEOUT,
				     "events: %llu event(s) still unsent after the flush "
				     "deadline",
				     (unsigned long long)(target - ev->completed));
	pthread_mutex_unlock(&ev->mu);
	return error;
}

uint64_t ctrl_events_dropped(const ctrl_events *ev)
{
	return atomic_load(&ev->dropped);
}
