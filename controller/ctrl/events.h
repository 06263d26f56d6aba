/*
 * events.h — recording Kubernetes Events about objects, without ever making
 * a caller wait for the API server.
 *
 * ctrl_events_record() copies the event into a bounded queue and returns; one
 * sender thread drains the queue. When the queue is full the event is
 * dropped and counted (one log line per burst of drops). Events go to
 * events.k8s.io/v1 when the server serves it (asked once, lazily, by the
 * sender), else to core/v1.
 *
 * Repeats are aggregated as kubectl and client-go expect: the same (object
 * uid, type, reason, action, note) seen again within the window updates the
 * existing Event — events.k8s.io/v1 `series {count, lastObservedTime}`,
 * core/v1 `count` and `lastTimestamp` (merge patches) — instead of creating
 * a new one. The dedup cache holds at most `cache_size` entries and forgets
 * the least recently used.
 *
 * Invariants: notes are cut to CTRL_EVENT_NOTE_MAX bytes on a UTF-8
 * boundary (invalid bytes become '?'), reasons and actions are at most
 * CTRL_EVENT_REASON_MAX bytes; an Event's name is "<object-name>.<16 hex>",
 * at most 253 bytes, in the object's namespace ("default" for cluster-scoped
 * objects).
 *
 * Threads: ctrl_events_record() and ctrl_events_dropped() may be called
 * from any thread; flush and free from one controlling thread. The dedup
 * cache belongs to the sender thread.
 *
 * Ownership: options are copied; the kube_client is borrowed and must
 * outlive the recorder. Objects passed to record are borrowed for the call.
 */
#ifndef SNAPSTAGE_CTRL_EVENTS_H
#define SNAPSTAGE_CTRL_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kube/client.h"
#include "util/buf.h"
#include "util/clock.h"

/* events.k8s.io/v1 validation limits (NoteLengthLimit and friends). */
#define CTRL_EVENT_NOTE_MAX 1024
#define CTRL_EVENT_REASON_MAX 128
#define CTRL_EVENT_NAME_MAX 253

#define CTRL_EVENTS_CONTROLLER "snapstage.io/snapstage"

typedef enum {
	CTRL_EVENT_NORMAL = 0,
	CTRL_EVENT_WARNING = 1,
} ctrl_event_type;

typedef enum {
	CTRL_EVENTS_API_AUTO = 0,  /* discover: events.k8s.io/v1 if served */
	CTRL_EVENTS_API_EVENTS_V1, /* events.k8s.io/v1 */
	CTRL_EVENTS_API_CORE_V1,   /* core/v1 */
} ctrl_events_api;

/* The object an event is about ("regarding" / "involvedObject"). */
typedef struct {
	char api_version[320];
	char kind[64];
	char name[254];
	char ns[64]; /* "" for cluster-scoped objects */
	char uid[64];
	char resource_version[64];
} ctrl_event_ref;

/* One event as queued: copies, already validated and truncated. */
typedef struct {
	ctrl_event_ref regarding;
	ctrl_event_type type;
	char reason[CTRL_EVENT_REASON_MAX + 1];
	char action[CTRL_EVENT_REASON_MAX + 1];
	char note[CTRL_EVENT_NOTE_MAX + 1];
	int64_t time_ns; /* wall clock when recorded */
} ctrl_event;

typedef struct ctrl_events ctrl_events;

typedef struct {
	kube_client *client;	 /* borrowed; required */
	const char *controller;	 /* reportingController; NULL: CTRL_EVENTS_CONTROLLER */
	const char *instance;	 /* reportingInstance; NULL: the host name */
	const char *component;	 /* core/v1 source.component; NULL: "snapstage" */
	const ss_clock *clock;	 /* NULL: ss_clock_system() */
	ctrl_events_api api;	 /* which API to write to */
	size_t queue_size;	 /* events waiting to be sent; 0: 1024 */
	size_t cache_size;	 /* dedup entries; 0: 4096 */
	int64_t dedup_window_ns; /* 0: 10 minutes */
} ctrl_events_opts;

#define CTRL_EVENTS_OPTS_INIT                                               \
	{                                                                   \
		NULL, NULL, NULL, NULL, NULL, CTRL_EVENTS_API_AUTO, 0, 0, 0 \
	}

/* Copies the options and starts the sender thread. No API calls. */
int ctrl_events_new(ctrl_events **out, const ctrl_events_opts *opts);

/* Stops the sender (after the event it is sending, if any), drops what is
 * still queued and frees everything. Call ctrl_events_flush() first to
 * deliver the queue. NULL is ignored. */
void ctrl_events_free(ctrl_events *ev);

/* Queues an event about `obj` (a Kubernetes object with apiVersion, kind
 * and metadata.name). `action` NULL means the same as `reason`. 0 when
 * queued; SS_EINVALID for a missing reason, an over-long reason or action,
 * or an object without the fields above; SS_ETOOLARGE when the queue is
 * full and the event was dropped. Never waits for I/O. */
int ctrl_events_record(ctrl_events *ev, const json_t *obj, ctrl_event_type type,
		       const char *reason, const char *action, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
int ctrl_events_record_ref(ctrl_events *ev, const ctrl_event_ref *ref,
			   ctrl_event_type type, const char *reason, const char *action,
			   const char *note);

/* Waits until everything queued so far has been sent (or given up on):
 * 0, or SS_ETIMEOUT after `timeout_ns`. */
int ctrl_events_flush(ctrl_events *ev, int64_t timeout_ns);

/* Events dropped because the queue was full, since ctrl_events_new(). */
uint64_t ctrl_events_dropped(const ctrl_events *ev);

/* ---- Pure parts, exposed for tests (no I/O, reentrant). ---- */

/* Fills `out` from an object's apiVersion, kind and metadata: 0, or
 * SS_EINVALID naming what is missing or too long. */
int ctrl_event_ref_from_object(ctrl_event_ref *out, const json_t *obj);

/* Copies at most `limit` bytes of `src` into `dst` (cap > limit), cut on a
 * UTF-8 character boundary; invalid bytes become '?'. Returns the number of
 * bytes written. */
size_t ctrl_event_truncate_utf8(char *dst, size_t cap, const char *src, size_t limit);

/* Validates and fills an event: 0 or SS_EINVALID. */
int ctrl_event_init(ctrl_event *out, const ctrl_event_ref *ref, ctrl_event_type type,
		    const char *reason, const char *action, const char *note,
		    int64_t now_real_ns);

/* The dedup key "uid|type|reason|action|note" (the object's namespace/name
 * stands in for a missing uid). Appends to `out`. */
int ctrl_event_key(ss_buf *out, const ctrl_event *e);

/* "<object-name>.<16 hex of now_real_ns>", cut to CTRL_EVENT_NAME_MAX. */
void ctrl_event_name(char *out, size_t cap, const ctrl_event *e, int64_t now_real_ns);

/* The namespace an Event about `e` lives in. Borrowed from e. */
const char *ctrl_event_namespace(const ctrl_event *e);

/* What a repeat turns into: a new Event, or an update of the one recorded
 * at `last_seen_ns` (0: none). */
typedef enum {
	CTRL_EVENT_CREATE = 0,
	CTRL_EVENT_UPDATE,
} ctrl_event_decision;

ctrl_event_decision ctrl_event_aggregate(int64_t last_seen_ns, int64_t now_ns,
					 int64_t window_ns);

/* Identity of the writer, copied into every Event. */
typedef struct {
	const char *controller;
	const char *instance;
	const char *component;
} ctrl_event_source;

/* A new Event object to create (new reference, or NULL with SS_ENOMEM). */
json_t *ctrl_event_object(const ctrl_event *e, ctrl_events_api api, const char *name,
			  const ctrl_event_source *src);

/* The merge patch that records the `count`-th occurrence (count >= 2) at
 * now_real_ns on an existing Event (new reference, or NULL). */
json_t *ctrl_event_update_patch(ctrl_events_api api, int64_t count, int64_t now_real_ns);

#endif
