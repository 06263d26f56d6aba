/*
 * manager.h — runs a process's informers and controllers: probes and
 * metrics servers, leader election, and a clean shutdown on SIGTERM.
 *
 * The sequence (controller-runtime's manager is the reference):
 *   1. serve /metrics and /healthz, /readyz (ready = every informer synced);
 *   2. start every informer — on every replica, so a standby has a warm
 *      cache and can take over at once;
 *   3. with --leader-elect, campaign for the Lease; without, lead at once;
 *   4. once leading and the caches are synced, start every controller;
 *   5. then wait for one of:
 *        SIGTERM/SIGINT  stop the controllers (no new reconcile starts;
 *                        running ones get --shutdown-timeout to finish),
 *                        release the Lease so a successor takes over
 *                        without waiting, stop informers and servers, and
 *                        return 0. A second signal exits the process at
 *                        once (status 130).
 *        lease lost      stop the controllers' queues at once (no new
 *                        reconcile) and return SS_ECANCELLED: the caller
 *                        exits non-zero without waiting, as client-go's
 *                        processes do; a restart campaigns afresh.
 *
 * Signals: call ctrl_manager_block_signals() first thing in main, before
 * any thread exists, so SIGTERM/SIGINT reach only the manager's signal
 * thread (sigwait), never a random worker.
 *
 * Leadership fences writes: see ctrl_manager_write_gate.
 *
 * Ownership: the manager borrows the options, client, metrics, informers
 * and controllers; free them after ctrl_manager_free(). Thread-safety:
 * configure and run from the main thread; ctrl_manager_request_stop() and
 * ctrl_manager_is_leader() from any thread.
 */
#ifndef SNAPSTAGE_CTRL_MANAGER_H
#define SNAPSTAGE_CTRL_MANAGER_H

#include <stdbool.h>

#include "ctrl/controller.h"
#include "ctrl/httpserver.h"
#include "ctrl/informer.h"
#include "ctrl/metrics.h"
#include "ctrl/options.h"
#include "kube/client.h"

typedef struct ctrl_manager ctrl_manager;

typedef struct {
	const ctrl_options *options; /* required */
	kube_client *client;	     /* required */
	/* The Lease's own client, without a write gate (see
	 * ctrl_manager_write_gate); NULL: `client`. */
	kube_client *lease_client;
	ctrl_metrics *metrics;	     /* required: /metrics serves it */
	const char *identity;	     /* Lease holder; NULL: host name + random */
} ctrl_manager_opts;

/* Blocks SIGTERM and SIGINT in the calling thread and every thread it
 * creates later. */
void ctrl_manager_block_signals(void);

int ctrl_manager_new(ctrl_manager **out, const ctrl_manager_opts *opts);
/* Frees a manager whose run() returned (or never ran). NULL is ignored. */
void ctrl_manager_free(ctrl_manager *m);

/* Before run(). At most 16 of each. */
int ctrl_manager_add_informer(ctrl_manager *m, ctrl_informer *inf);
int ctrl_manager_add_controller(ctrl_manager *m, ctrl_controller *c);

/* The health checks behind /healthz and /readyz, for components to add
 * their own. Borrowed; lives as long as the manager. */
ctrl_health *ctrl_manager_health(ctrl_manager *m);

/* See the sequence above: 0 after a clean shutdown, SS_ECANCELLED when the
 * lease was lost, or an error from start-up (bind failure, …). */
int ctrl_manager_run(ctrl_manager *m);

/* Asks run() to shut down as a SIGTERM would. Any thread. */
void ctrl_manager_request_stop(ctrl_manager *m);

bool ctrl_manager_is_leader(ctrl_manager *m);

/* A kube_write_gate_fn (kube/client.h) for the controllers' client, with
 * the manager as payload: with --leader-elect, every write is refused
 * unless this process holds the Lease and renewed it within the renew
 * deadline (ctrl_leader_is_leader, on the monotonic clock), so a leader
 * that was stopped or starved past its Lease and has not noticed yet
 * cannot overwrite what its successor did; without --leader-elect, NULL
 * (allowed). The Lease needs its own client (opts.lease_client), which
 * this gate must not guard. Any thread. */
const char *ctrl_manager_write_gate(void *payload);

#endif
