/*
 * leader.h — leader election with a coordination.k8s.io/v1 Lease, as
 * client-go's leaderelection with a LeaseLock does it.
 *
 * Candidates read the Lease every retry period. A candidate takes it when it
 * does not exist (create), when its holderIdentity is empty (released), or
 * when the record has not changed for leaseDurationSeconds as measured on the
 * candidate's own monotonic clock from the moment it last saw the record
 * change ("observed time"). The holder's timestamps are never compared with
 * the local clock, so clock skew between machines cannot make two leaders.
 * Every write is an update with the resourceVersion that was read, so of two
 * racing candidates one gets 409 Conflict and stays a follower.
 *
 * The leader renews every retry period. If no renewal succeeds within the
 * renew deadline (counted from the start of the last successful one) it has
 * lost: on_stopped_leading is called at once from a watchdog thread, even
 * while a renew request is still stuck in the network. As in client-go, a
 * lost or stopped elector does not campaign again; the process is expected
 * to stop its controllers and exit, or to create a new elector.
 *
 * Invariants: lease > renew deadline > retry period * 1.2 (checked by
 * ctrl_leader_new); ctrl_leader_is_leader() never reports leadership past
 * the renew deadline of the last successful write; callbacks are
 * serialised, on_stopped_leading comes only after on_started_leading, and
 * each is called at most once.
 *
 * Threads: ctrl_leader_start() runs two threads, one doing the API calls and
 * one enforcing the renew deadline. Callbacks run on those threads: they must
 * return quickly and must not call ctrl_leader_stop() or ctrl_leader_free().
 * ctrl_leader_is_leader() and ctrl_leader_identity() may be called from any
 * thread; start, stop and free from one controlling thread.
 *
 * Time: the clock (opts.clock) decides expiry and deadlines; waits between
 * attempts are real time. A fake clock is for the pure functions below.
 *
 * Ownership: the options are copied; the kube_client and ctrl_metrics are
 * borrowed and must outlive the elector.
 */
#ifndef SNAPSTAGE_CTRL_LEADER_H
#define SNAPSTAGE_CTRL_LEADER_H

#include <stdbool.h>
#include <stdint.h>

#include "ctrl/metrics.h"
#include "kube/client.h"
#include "util/clock.h"

/* Longest identity we write; longer holders read back are cut to
 * CTRL_LEASE_HOLDER_MAX - 1 bytes and so never equal our own. */
#define CTRL_LEADER_IDENTITY_MAX 128
#define CTRL_LEASE_HOLDER_MAX 256

typedef struct ctrl_leader ctrl_leader;

typedef struct {
	/* This candidate became the leader. */
	void (*on_started_leading)(void *payload);
	/* It stopped leading: lost the lease, or was stopped. */
	void (*on_stopped_leading)(void *payload);
	/* The Lease names a new (non-empty) holder; also called for ourselves.
	 * `identity` is borrowed for the duration of the call. */
	void (*on_new_leader)(const char *identity, void *payload);
	void *payload;
} ctrl_leader_callbacks;

typedef struct {
	kube_client *client;	     /* borrowed; required */
	const char *lease_namespace; /* required */
	const char *lease_name;	     /* required */
	const char *identity;	     /* NULL: "<hostname>_<16 random hex>" */
	int64_t lease_duration_ns;
	int64_t renew_deadline_ns;
	int64_t retry_period_ns;
	const ss_clock *clock; /* NULL: ss_clock_system() */
	ctrl_metrics *metrics; /* NULL: no snapstage_leader{lease} gauge */
	ctrl_leader_callbacks callbacks;
} ctrl_leader_opts;

#define CTRL_LEADER_OPTS_INIT                                                   \
	{                                                                       \
		NULL, NULL, NULL, NULL, 15 * SS_NS_PER_SEC, 10 * SS_NS_PER_SEC, \
			2 * SS_NS_PER_SEC, NULL, NULL,                          \
		{                                                               \
			NULL, NULL, NULL, NULL                                  \
		}                                                               \
	}

/* Checks and copies the options; SS_EINVALID names the bad one. No I/O. */
int ctrl_leader_new(ctrl_leader **out, const ctrl_leader_opts *opts);

/* Starts campaigning in the background. Once per elector. */
int ctrl_leader_start(ctrl_leader *le);

/* Stops the threads and waits for them. With `release`, a current leader
 * first writes an empty holder (leaseDurationSeconds 1) so a successor need
 * not wait for expiry; without it the Lease is left as a crashed process
 * would leave it. Calls on_stopped_leading if it was leading. Idempotent. */
void ctrl_leader_stop(ctrl_leader *le, bool release);

/* Stops (without release) if still running, then frees. NULL is ignored. */
void ctrl_leader_free(ctrl_leader *le);

/* True while this candidate holds the lease and its last successful write
 * is younger than the renew deadline. Any thread. */
bool ctrl_leader_is_leader(const ctrl_leader *le);

/* This candidate's identity; borrowed, lives as long as the elector. */
const char *ctrl_leader_identity(const ctrl_leader *le);

/* ---- The rules, as pure functions over plain data (no I/O). ---- */

/* The fields of a Lease's spec that take part in the election. Times are
 * wall-clock nanoseconds, 0 when absent; they are written for humans and
 * other tools and are never used to judge expiry. */
typedef struct {
	char holder[CTRL_LEASE_HOLDER_MAX]; /* "" when free */
	int64_t lease_duration_s;
	int64_t acquire_time_ns;
	int64_t renew_time_ns;
	int64_t transitions;
} ctrl_lease_record;

/* What a candidate has seen: the last record and the local monotonic time
 * at which it last changed. Zero-initialise before the first observation. */
typedef struct {
	ctrl_lease_record record;
	int64_t observed_mono_ns;
	bool valid;
} ctrl_lease_observed;

typedef enum {
	CTRL_LEASE_WAIT = 0, /* held by someone else and not expired */
	CTRL_LEASE_ACQUIRE,  /* free or expired: take it over */
	CTRL_LEASE_RENEW,    /* we hold it: refresh renewTime */
} ctrl_lease_action;

bool ctrl_lease_record_equal(const ctrl_lease_record *a, const ctrl_lease_record *b);

/* Takes `current` (just read from the server) into `seen`; the observed
 * time moves to `now_mono_ns` only when the record differs from the last
 * one seen. Returns true when it differed. */
bool ctrl_lease_observe(ctrl_lease_observed *seen, const ctrl_lease_record *current,
			int64_t now_mono_ns);

/* What to do about the observed record: WAIT if it names another holder and
 * observed time + its leaseDurationSeconds is still ahead of now; RENEW if
 * it names `identity`; ACQUIRE otherwise (empty holder, or expired). */
ctrl_lease_action ctrl_lease_decide(const ctrl_lease_observed *seen, const char *identity,
				    int64_t now_mono_ns);

/* The record to write for ACQUIRE or RENEW over `current`: holder
 * `identity`, renewTime now; RENEW keeps acquireTime and transitions,
 * ACQUIRE sets acquireTime now and counts one more transition. */
void ctrl_lease_next(ctrl_lease_record *out, const ctrl_lease_record *current,
		     ctrl_lease_action action, const char *identity,
		     int64_t lease_duration_s, int64_t now_real_ns);

/* The record a leader writes to give the lease up: empty holder,
 * leaseDurationSeconds 1, times now, transitions kept. */
void ctrl_lease_released(ctrl_lease_record *out, const ctrl_lease_record *current,
			 int64_t now_real_ns);

/* Lease spec <-> record. ctrl_lease_from_json: 0, or SS_EINVALID for a
 * malformed time or a non-object. ctrl_lease_spec_json: a new reference,
 * or NULL with SS_ENOMEM. */
int ctrl_lease_from_json(ctrl_lease_record *out, const json_t *lease);
json_t *ctrl_lease_spec_json(const ctrl_lease_record *rec);

/* Checks durations as client-go does: 0 or SS_EINVALID naming the rule. */
int ctrl_leader_check_durations(int64_t lease_ns, int64_t renew_ns, int64_t retry_ns);

#endif
