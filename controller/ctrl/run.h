/*
 * run.h — one reconcile of one object, as a "run": the skeleton every
 * controller's reconcile shares, so a controller is a pure plan and a few
 * steps:
 *
 *   read the object → decide (the caller's pure plan) → write status once
 *   → Events and metrics → the result.
 *
 * A controller embeds a ctrl_run in its own per-reconcile state and:
 *   1. ctrl_run_init()  the key, the controller's handles (client, resource,
 *                       events, clock) and its status encoder;
 *   2. ctrl_run_read()  the object from the API, once the cache says it
 *                       exists; stops when it is gone or being deleted;
 *   3. its own steps    fill the kind's status struct (which the encoder
 *                       writes), the message (ctrl_run_message()) and the
 *                       condition to set (ctrl_run_condition());
 *   4. ctrl_run_write_status()  the status, written only if it changed;
 *   5. ctrl_run_event(), ctrl_run_observe_finish();
 *   6. ctrl_run_result() what the reconcile returns; ctrl_run_finish().
 *
 * The one result convention for step functions: a step returns `int`
 *   < 0            an error (ss_error_set where it was detected): the
 *                  reconcile ends with ctrl_result_error();
 *   0              go on with the next step;
 *   CTRL_RUN_STOP  the reconcile ends here, with the result recorded in
 *                  the run (ctrl_run_stop(): done, requeue after, handoff).
 * A step that needs another value out takes an out parameter. The
 * reconcile function alone turns the int into a ctrl_result, through
 * ctrl_run_result().
 *
 * Nothing here logs: log lines (their text and keys) stay with the
 * controller that knows what it was doing.
 *
 * Ownership: the run copies the options; the client, resource, events,
 * clock and payload are borrowed and must outlive it. run->obj is owned by
 * the run. An object it replaces (a status write) and objects handed to
 * ctrl_run_hold() are kept alive until ctrl_run_finish(), so strings a
 * kind's status or spec borrowed from them stay valid for the whole run.
 * Thread-safety: a run belongs to one worker thread; the Events recorder
 * and the metrics it reports to are thread-safe.
 */
#ifndef SNAPSTAGE_CTRL_RUN_H
#define SNAPSTAGE_CTRL_RUN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "ctrl/conditions.h"
#include "ctrl/controller.h"
#include "ctrl/events.h"
#include "ctrl/metrics.h"
#include "ctrl/object.h"
#include "ctrl/store.h"
#include "kube/client.h"
#include "kube/url.h"
#include "util/clock.h"

/* A step's "stop here": the run's result says what comes next. */
#define CTRL_RUN_STOP 1

/* The run's message buffer (status message, condition message). */
#define CTRL_RUN_MESSAGE_MAX 2048

/* Writes the kind's status (the caller's struct, `payload`) into `obj`, a
 * private copy of the latest object: every field it describes, and leaves
 * status.conditions to the run. 0, or a negative ss_error_code. Called
 * once per write attempt (again after a conflict): no side effects but on
 * obj. */
typedef int (*ctrl_run_encode_fn)(json_t *obj, void *payload);

typedef struct {
	kube_client *client;	       /* required */
	const kube_resource *resource; /* required: the kind, for /status */
	ctrl_events *events;	       /* NULL: no Events */
	const ss_clock *clock;	       /* NULL: ss_clock_system() */
	ctrl_run_encode_fn encode;     /* NULL: only the condition is written */
} ctrl_run_opts;

#define CTRL_RUN_OPTS_INIT                   \
	{                                    \
		NULL, NULL, NULL, NULL, NULL \
	}

typedef struct {
	ctrl_run_opts o;
	void *payload;	       /* passed to o.encode; borrowed */
	const char *key;       /* borrowed for the run */
	char ns[CTRL_KEY_MAX]; /* "" when cluster scoped */
	char name[CTRL_KEY_MAX];
	int64_t now;  /* the wall clock at ctrl_run_init() */
	json_t *obj;  /* the latest copy of the object (owned), or NULL */
	json_t *held; /* what the run keeps alive until it ends (owned) */
	/* The message: the condition's, and the kind's status.message when
	 * status_message is set (it is then pointed here by
	 * ctrl_run_message()). */
	char message[CTRL_RUN_MESSAGE_MAX];
	const char **status_message;
	/* The condition the next write sets (type NULL: none; its message is
	 * `message`), and one it removes (NULL: none). Both stay for the
	 * writes after it. */
	const char *cond_type;
	ctrl_condition_status cond_status;
	const char *cond_reason;
	const char *cond_remove;
	/* What the reconcile returns when a step stops it; done at init. */
	ctrl_result result;
} ctrl_run;

/* Starts a run of `key` (borrowed for the run): copies the options, splits
 * the key into ns and name, reads the clock into run->now. `payload` goes
 * to the encoder. 0, or SS_EINVALID for a key that names no object (a
 * reconcile has nothing to do then) or missing required options. Allocates
 * nothing; ctrl_run_finish() is safe after either. */
int ctrl_run_init(ctrl_run *run, const ctrl_run_opts *opts, const char *key,
		  void *payload);

/* Releases run->obj and everything held. The run may be initialised
 * again. */
void ctrl_run_finish(ctrl_run *run);

/* Step 1: the object as the API has it now (GET), into run->obj. With a
 * `cache` (may be NULL: not asked), the cache is asked first and an object
 * it does not hold is not read. 0 when read; CTRL_RUN_STOP (result done)
 * when the cache or the API has no such object, or it is being deleted
 * and `keep_deleting` is false (run->obj is then the object read); the
 * API's error (< 0) otherwise. A copy read before is held, not released. */
int ctrl_run_read(ctrl_run *run, ctrl_store *cache, bool keep_deleting);

/* Ends the reconcile with `res`: records it and returns CTRL_RUN_STOP, so
 * that a step reads `return ctrl_run_stop(run, ctrl_result_done());`. */
int ctrl_run_stop(ctrl_run *run, ctrl_result res);

/* The reconcile's result from the last step's return: an error for
 * rc < 0, else the run's result (done unless a step stopped otherwise). */
ctrl_result ctrl_run_result(const ctrl_run *run, int rc);

/* Makes `obj` (a new reference, stolen) the run's object, e.g. the copy a
 * PATCH returned. The previous one may be lent to the kind's status or
 * spec: it is held until the run ends, not released. 0, or SS_ENOMEM (obj
 * released, the previous one still the run's) when it cannot be held. */
int ctrl_run_replace(ctrl_run *run, json_t *obj);

/* Keeps `obj` (a new reference, stolen) alive until the run ends and
 * returns it; NULL for NULL, or when out of memory (obj released then).
 * Strings that must live as long as the run: ctrl_run_hold(run,
 * json_string(s)). */
json_t *ctrl_run_hold(ctrl_run *run, json_t *obj);

/* Sets run->message (cut to CTRL_RUN_MESSAGE_MAX - 1 bytes) and points
 * *status_message at it when set. No argument may point into
 * run->message. */
void ctrl_run_message(ctrl_run *run, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void ctrl_run_vmessage(ctrl_run *run, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* The condition the next status write sets: `type` with `status` and
 * `reason` (static strings, or strings that outlive the run) and the
 * message in run->message as it is at the write. */
void ctrl_run_condition(ctrl_run *run, const char *type, ctrl_condition_status status,
			const char *reason);
/* A condition type the next status write removes (after setting one). */
void ctrl_run_condition_remove(ctrl_run *run, const char *type);

/* Writes the status: the encoder's fields, then the pending condition set
 * and the removal, to /status of run->obj (its resourceVersion first; a
 * conflict re-reads, ctrl/writes.h), and only when that changes anything.
 * On success the object written (or read) becomes run->obj; the previous
 * one is held until the run ends. 0, or the write's error (the object
 * gone is SS_ENOTFOUND) with run->obj unchanged; nothing is logged. */
int ctrl_run_write_status(ctrl_run *run);

/* Records an Event about run->obj (none without an events recorder or an
 * object): the note formatted into at most 1023 bytes. Never waits. */
void ctrl_run_event(ctrl_run *run, ctrl_event_type type, const char *reason,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A finished object's metrics: `total` counted with label values `lv`, and
 * (end - start) in seconds observed in `duration` with `duration_lv` when
 * start_ns > 0 and end_ns >= start_ns. NULL families are ignored. */
void ctrl_run_observe_finish(ctrl_counter *total, const char *const *lv,
			     ctrl_histogram *duration, const char *const *duration_lv,
			     int64_t start_ns, int64_t end_ns);

#endif
