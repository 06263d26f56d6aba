/*
 * controller.h — a controller: a workqueue of keys and N worker threads
 * that call one reconcile function per key, and act on what it returns.
 *
 * The loop (controller-runtime's controller is the reference):
 *   - a worker takes a key (never one another worker holds), calls
 *     reconcile(payload, key) and then, by result:
 *       done           forget the key's backoff;
 *       requeue after  forget the backoff, queue the key again after the
 *                      delay (at once when it is <= 0);
 *       error          log the thread's ss_error_last() with the key, count
 *                      it, queue the key again with backoff (workqueue.h).
 *   - informer event handlers feed the queue through
 *     ctrl_controller_queue().
 *
 * A lane (opts.lane_workers > 0): a second queue with workers of its own
 * for the reconciles that block for long (a Backup's lock session), so
 * that they never hold the workers every other key needs. A reconcile
 * that would block returns ctrl_result_handoff(): the key moves to the
 * lane, whose reconcile (opts.lane_reconcile) then owns it — an add of
 * that key to the main queue is passed on to the lane's, or, while a lane
 * worker reconciles it, held until that reconcile ends — until a lane
 * reconcile returns done (the key is the main queue's again, and queued
 * there at once if an add was held) or requeue after d (also after d); an
 * error keeps it in the lane, with backoff (at once if an add was held).
 * A key is never reconciled by both pools at once: ownership changes only
 * as the owning side's reconcile returns. Keys wait in the lane's queue
 * for a lane worker, FIFO, taking no main worker meanwhile.
 *
 * Metrics, when a registry is given (names from ctrl/metrics.h; the lane's
 * series carry its own name):
 *   snapstage_reconcile_total{controller,result}   success|requeue|error|
 *                                                  handoff
 *   snapstage_reconcile_errors_total{controller}
 *   snapstage_reconcile_duration_seconds{controller}
 *   snapstage_workqueue_depth{name}, snapstage_workqueue_adds_total{name},
 *   snapstage_workqueue_retries_total{name}        (name = controller name)
 * The workqueue series are brought up to date by a collector, i.e. when
 * the registry renders; the reconcile series as each reconcile ends.
 *
 * Stopping: ctrl_controller_stop() shuts the queue down, so no new
 * reconcile starts and keys still queued are dropped, then waits for the
 * reconciles in flight until the deadline. If they all finished it joins
 * the workers and returns 0. Otherwise it returns SS_ETIMEOUT and leaves
 * the late reconciles running: each finishes in its own time (its requeue
 * is ignored, its metrics and log line are still written) and its worker
 * then exits. The controller and everything it borrows (payload, metrics,
 * clock) must stay alive meanwhile; the intended next step is to exit the
 * process. stop() may be called again to wait more, and returns 0 once
 * the late reconciles are done.
 *
 * Ownership: the controller copies its name and owns its queue and its
 * lane; it borrows the payload, metrics registry and clock, which must
 * outlive it. Start, stop and free act on the lane too.
 * Thread-safety: ctrl_controller_queue() and the queue itself may be used
 * from any thread; new/start/stop/free are called from one thread (main).
 * reconcile runs on up to `workers` threads at once, lane_reconcile on up
 * to `lane_workers`, never twice at once for one key (not even one in
 * each).
 */
#ifndef SNAPSTAGE_CTRL_CONTROLLER_H
#define SNAPSTAGE_CTRL_CONTROLLER_H

#include <stdint.h>

#include "ctrl/informer.h"
#include "ctrl/metrics.h"
#include "ctrl/workqueue.h"
#include "util/clock.h"

#define CTRL_CONTROLLER_MAX_WORKERS 64

typedef enum {
	CTRL_RESULT_DONE = 0,
	CTRL_RESULT_REQUEUE_AFTER,
	CTRL_RESULT_ERROR,
	CTRL_RESULT_HANDOFF,
} ctrl_result_kind;

typedef struct {
	ctrl_result_kind kind;
	int64_t after_ns; /* CTRL_RESULT_REQUEUE_AFTER only */
} ctrl_result;

static inline ctrl_result ctrl_result_done(void)
{
	return (ctrl_result){ CTRL_RESULT_DONE, 0 };
}

static inline ctrl_result ctrl_result_requeue_after(int64_t after_ns)
{
	return (ctrl_result){ CTRL_RESULT_REQUEUE_AFTER, after_ns };
}

/* Return this right after the failing call, so that this thread's last
 * error (ss_error_last()) still describes it. */
static inline ctrl_result ctrl_result_error(void)
{
	return (ctrl_result){ CTRL_RESULT_ERROR, 0 };
}

/* Moves the key to the controller's lane (see above), where lane_reconcile
 * takes it up. From a controller without a lane, or from the lane itself,
 * it is an error. */
static inline ctrl_result ctrl_result_handoff(void)
{
	return (ctrl_result){ CTRL_RESULT_HANDOFF, 0 };
}

/* Brings the world in line with the object named by `key`. Runs on a
 * worker thread; `key` is borrowed for the call. */
typedef ctrl_result (*ctrl_reconcile_fn)(void *payload, const char *key);

typedef struct ctrl_controller ctrl_controller;

typedef struct {
	const char *name;	     /* required: logs and metric labels */
	int workers;		     /* 1..CTRL_CONTROLLER_MAX_WORKERS; 0: 1 */
	ctrl_reconcile_fn reconcile; /* required */
	void *payload;		     /* passed to reconcile */
	ctrl_metrics *metrics;	     /* NULL: no metrics */
	const ss_clock *clock;	     /* NULL: ss_clock_system() */
	/* Backoff and token bucket tuning; NULL: the defaults. Its clock is
	 * ignored in favour of `clock`. */
	const ctrl_workqueue_opts *queue;
	/* The lane: 0..CTRL_CONTROLLER_MAX_WORKERS workers (0: none); then
	 * lane_name (logs, metric labels) and lane_reconcile (with the same
	 * payload) are required. */
	int lane_workers;
	const char *lane_name;
	ctrl_reconcile_fn lane_reconcile;
} ctrl_controller_opts;

#define CTRL_CONTROLLER_OPTS_INIT                                    \
	{                                                            \
		NULL, 0, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL \
	}

/* 0, SS_EINVALID (bad options), SS_EEXISTS (a metric of ours is already
 * registered with another shape) or SS_ENOMEM. Free the
 * result with ctrl_controller_free(). */
int ctrl_controller_new(ctrl_controller **out, const ctrl_controller_opts *opts);

/* The controller's queue, for event handlers. Borrowed; lives as long as
 * the controller. */
ctrl_workqueue *ctrl_controller_queue(ctrl_controller *c);

/* The lane's queue, or NULL without a lane. Borrowed, as above. Adding a
 * key here directly bypasses ownership: use the main queue. */
ctrl_workqueue *ctrl_controller_lane_queue(ctrl_controller *c);

/* Informer handlers that queue the key (namespace/name) of every object
 * added, updated or deleted: the usual watch of a controller on its own
 * kind. A deleted object's reconcile finds it gone in the cache. */
ctrl_handlers ctrl_controller_key_handlers(ctrl_controller *c);

/* Starts the workers. 0, SS_EINVALID when already started, or SS_ERROR
 * when a thread cannot be created (none is left running). */
int ctrl_controller_start(ctrl_controller *c);

/* See "Stopping" above. `deadline_ns` is an absolute monotonic time on the
 * controller's clock. 0, or SS_ETIMEOUT. A controller never started stops
 * at once. */
int ctrl_controller_stop(ctrl_controller *c, int64_t deadline_ns);

/* Frees a controller whose workers have been joined (never started, or
 * stop() returned 0). One that still has workers is stopped without
 * waiting; if reconciles are still running after a timed-out stop, it is
 * deliberately leaked (and a warning logged) rather than freed under them.
 * NULL is ignored. */
void ctrl_controller_free(ctrl_controller *c);

#endif
