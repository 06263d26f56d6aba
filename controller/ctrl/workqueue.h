/*
 * workqueue.h — the rate-limiting work queue between informers and
 * reconcilers: keys ("ns/name") go in, each comes out to one worker at a
 * time, and failed keys come back later with per-key exponential backoff.
 *
 * Behaviour (client-go's rate-limiting workqueue is the reference):
 *   - A key is queued at most once (adding a queued key does nothing) and
 *     handed to at most one worker at a time: a key added while a worker
 *     holds it is queued again when that worker calls done().
 *   - add_after() keeps the key waiting until its ready time; a second
 *     add_after() for a waiting key keeps the earlier time.
 *   - add_rate_limited() waits the larger of the key's own backoff (5 ms
 *     doubling per failure up to 1000 s) and the shared token bucket's delay
 *     (10 per second, burst 100), like DefaultControllerRateLimiter.
 *     forget() resets the key's backoff; num_requeues() reads it.
 *
 * Shutdown — unlike client-go, where Get keeps handing out queued keys
 * until the queue is empty: after ctrl_workqueue_shutdown(), get() returns
 * SS_ECANCELLED at once even when keys remain, so no new work starts while
 * work in flight may finish (its done() still counts). Keys still queued
 * or waiting are dropped; the next leader or the next start relists anyway.
 * Adds after shutdown are ignored and return 0. ctrl_workqueue_drain()
 * waits, up to a deadline, until no key is being processed.
 *
 * Time: every decision reads the injected clock. Blocking waits use
 * pthread_cond_timedwait on CLOCK_MONOTONIC for the same length of time;
 * with a fake clock, advance it and call ctrl_workqueue_wake() so that
 * waiters look again, or use the non-blocking ctrl_workqueue_try_get().
 *
 * Memory is bounded per key: one entry of at most CTRL_KEY_MAX bytes of key
 * for a key that is queued, waiting, processing or has failures recorded.
 * (As in client-go, a key's failure count lives until forget().)
 *
 * Ownership: the queue copies keys; keys returned by get() belong to the
 * caller (free()). The clock is borrowed and must outlive the queue.
 * Thread-safety: every function may be called from any thread at once,
 * except ctrl_workqueue_free(), which must be the last call.
 */
#ifndef SNAPSTAGE_CTRL_WORKQUEUE_H
#define SNAPSTAGE_CTRL_WORKQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctrl/object.h"
#include "util/clock.h"

typedef struct ctrl_workqueue ctrl_workqueue;

typedef struct {
	const ss_clock *clock; /* NULL: ss_clock_system(); borrowed */
	int64_t base_delay_ns; /* first per-key backoff; 0: 5 ms */
	int64_t max_delay_ns;  /* per-key backoff cap; 0: 1000 s */
	int qps;	       /* shared token bucket refill per second; 0: 10 */
	int burst;	       /* shared token bucket size; 0: 100 */
} ctrl_workqueue_opts;

#define CTRL_WORKQUEUE_OPTS_INIT \
	{                        \
		NULL, 0, 0, 0, 0 \
	}

/* Counters since the queue was created, for metrics. */
typedef struct {
	size_t depth;		      /* keys ready to be handed out */
	size_t waiting;		      /* keys waiting for their ready time */
	size_t processing;	      /* keys held by workers */
	uint64_t adds_total;	      /* keys that entered the ready queue */
	uint64_t retries_total;	      /* add_rate_limited() calls */
	int64_t oldest_processing_ns; /* how long the longest-held key has been
				       * held; 0 when none is */
} ctrl_workqueue_stats;

/* `opts` may be NULL for the defaults. 0, or SS_EINVALID / SS_ENOMEM. */
int ctrl_workqueue_new(ctrl_workqueue **out, const ctrl_workqueue_opts *opts);

/* Frees the queue and every key in it. No thread may be using the queue
 * (blocked in get() or drain() included). NULL is ignored. */
void ctrl_workqueue_free(ctrl_workqueue *q);

/* Queues `key` unless it is already queued. 0, SS_EINVALID for an empty key
 * or one of CTRL_KEY_MAX bytes or more, SS_ENOMEM. */
int ctrl_workqueue_add(ctrl_workqueue *q, const char *key);

/* Queues `key` once `delay_ns` has passed (at once when <= 0). */
int ctrl_workqueue_add_after(ctrl_workqueue *q, const char *key, int64_t delay_ns);

/* Queues `key` after its backoff (see above) and counts a failure for it. */
int ctrl_workqueue_add_rate_limited(ctrl_workqueue *q, const char *key);

/* Stops tracking failures of `key`: its next backoff starts at the base. */
void ctrl_workqueue_forget(ctrl_workqueue *q, const char *key);

/* Failures counted for `key` since the last forget(). */
int ctrl_workqueue_num_requeues(ctrl_workqueue *q, const char *key);

/* Hands out the next ready key, blocking until there is one. *out is the
 * caller's (free()); the caller must call ctrl_workqueue_done() with it.
 * 0, or SS_ECANCELLED once the queue is shut down (*out untouched). */
int ctrl_workqueue_get(char **out, ctrl_workqueue *q);

/* Like get() without blocking: SS_ENOTFOUND when no key is ready now. */
int ctrl_workqueue_try_get(char **out, ctrl_workqueue *q);

/* Marks `key` (from get()) finished; queues it again if it was added while
 * it was being processed. */
void ctrl_workqueue_done(ctrl_workqueue *q, const char *key);

/* Makes blocked get() and drain() calls look at the clock again: call it
 * after advancing a fake clock. */
void ctrl_workqueue_wake(ctrl_workqueue *q);

/* See "Shutdown" above. Idempotent. */
void ctrl_workqueue_shutdown(ctrl_workqueue *q);
bool ctrl_workqueue_is_shut_down(ctrl_workqueue *q);

/* Waits until no key is being processed or the queue's clock reaches
 * `deadline_ns` (an absolute monotonic time on that clock). With a fake
 * clock the wait also ends after the same length of real time, so a clock
 * nobody advances cannot hang shutdown. 0, or SS_ETIMEOUT. */
int ctrl_workqueue_drain(ctrl_workqueue *q, int64_t deadline_ns);

void ctrl_workqueue_get_stats(ctrl_workqueue_stats *out, ctrl_workqueue *q);

#endif
