/*
 * watch.h — streaming watches of any resource.
 *
 * kube_watch() opens GET …?watch=1 and calls back once per event, in the
 * order the server sent them, until the server ends the stream (its
 * timeoutSeconds), the callback asks to stop, or the caller cancels. It
 * blocks the calling thread; run one watch per thread.
 *
 * Resuming: start from a list's resourceVersion, or from the last event's
 * (BOOKMARK events only advance it). A resourceVersion the server no longer
 * has fails with SS_EGONE, whether the server says so with HTTP 410 or with
 * an in-stream ERROR event: the caller must list again.
 *
 * Each event line is bounded (max_event_bytes); a larger one fails with
 * SS_ETOOLARGE and ends the watch.
 *
 * Ownership: an event's object is borrowed for the callback's duration
 * (json_incref it to keep it); the callback may modify it, nothing reads it
 * afterwards. Thread-safety: as kube_client; `cancel` may be
 * set from any thread and is noticed within about a second.
 */
#ifndef SNAPSTAGE_KUBE_WATCH_H
#define SNAPSTAGE_KUBE_WATCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "kube/client.h"
#include "kube/status.h"

typedef enum {
	KUBE_WATCH_ADDED,
	KUBE_WATCH_MODIFIED,
	KUBE_WATCH_DELETED,
	KUBE_WATCH_BOOKMARK,
	KUBE_WATCH_ERROR,
} kube_watch_type;

typedef struct {
	kube_watch_type type;
	json_t *object;		      /* the object; for ERROR, the Status */
	const char *resource_version; /* the object's; borrowed from `object` */
	kube_status status;	      /* ERROR only: the decoded Status */
} kube_watch_event;

typedef struct {
	const char *resource_version; /* NULL or "": from now (with initial ADDEDs) */
	const char *label_selector;
	const char *field_selector;
	bool allow_bookmarks;
	long timeout_seconds;	/* server ends the stream after this; 0: its default */
	size_t max_event_bytes; /* 0: KUBE_WATCH_DEFAULT_MAX_EVENT */
	atomic_bool *cancel;	/* optional: set true to stop */
} kube_watch_opts;

#define KUBE_WATCH_DEFAULT_MAX_EVENT ((size_t)16 << 20)

/* Returns 0 to go on, non-zero to stop the watch with that value. */
typedef int (*kube_watch_cb)(const kube_watch_event *ev, void *payload);

/* 0 when the server closed the stream; SS_EGONE for a too-old
 * resourceVersion; the callback's non-zero value; SS_ECANCELLED; or an error.
 * ERROR events end the watch with their decoded code and are not passed to
 * the callback. */
int kube_watch(kube_client *c, const kube_resource *res, const char *ns,
	       const kube_watch_opts *opts, kube_watch_cb cb, void *payload);

/* Parses one line of a watch stream. On success the event holds a new
 * reference in `object`; release it with kube_watch_event_clear(). */
int kube_watch_event_parse(kube_watch_event *out, const char *line, size_t len);
void kube_watch_event_clear(kube_watch_event *ev);

const char *kube_watch_type_name(kube_watch_type type);

#endif
