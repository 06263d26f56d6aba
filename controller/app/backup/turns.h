/*
 * turns.h — what the Backup controller keeps about each MariaDB
 * server between reconciles: whose turn it is (one lock session per server
 * at once), which Backups wait for a turn and in what order, when each
 * server's last lock session ended, and its latest probe. No I/O and no
 * clock: every time is passed in (monotonic nanoseconds), so each decision
 * is unit-tested (tests/unit/test_backup_turns.c).
 *
 * Servers and Backups are named by their keys ("namespace/pod",
 * "namespace/name").
 *
 * Turns. app_turns_take() gives a free server to one Backup; when the
 * server is busy the Backup is put on the wait list instead, waiting for
 * that server and for the other servers it named that are busy too (any
 * of them ending its session may let it go on). app_turns_give_back() ends
 * a turn and wakes the first waiter (FIFO: the order in which Backups first
 * waited) of that server, whose key the caller queues. A woken Backup
 * that does not take that server (it took another, failed, was deleted)
 * passes the wake on at the end of its reconcile (app_turns_end()), so a
 * free server never sits idle while a Backup waits for it. Between wakes a
 * waiting Backup is not looked at (app_turns_begin() says skip) unless its
 * spec changed or `patience` passed since it queued: the safety net for a
 * wake that got lost.
 *
 * Probes. A probe's verdict is kept for opts.probe_ttl_ns (default
 * APP_TURNS_PROBE_TTL_NS, 3 s) under the server's key and an identity the
 * caller builds from everything that can change the verdict but the
 * server's own state (the pod's uid and address, the connection spec, the
 * lag bound); it never contains a Secret's value. So N Backups of one
 * target that reconcile within that time open one probe connection per
 * server, not N. A verdict that old is only used to choose: the caller
 * probes the chosen server again on the connection it locks with, and
 * decides a failure or a fallback to the primary only on fresh probes.
 *
 * Last use. app_turns_last_used() says when a server's last lock session
 * ended (0: never in this process; INT64_MAX: in one now), for
 * app_backup_plan_choose() to spread sessions over equally healthy replicas.
 *
 * Bounds: APP_TURNS_MAX_BUSY servers in a session at once,
 * opts.max_servers remembered servers (the least recently used is
 * forgotten, never a busy one), opts.max_waiters waiting Backups (past
 * that a Backup is not registered: the caller retries after its patience),
 * APP_TURNS_MAX_WAIT_SERVERS servers per waiter.
 *
 * Ownership: the object copies every string it is given; free it with
 * app_turns_free(). Thread-safety: every function may be called from any
 * thread at once (one mutex inside, never held while calling out).
 */
#ifndef SNAPSTAGE_APP_TURNS_H
#define SNAPSTAGE_APP_TURNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/db/db.h"
#include "util/clock.h"

#define APP_TURNS_PROBE_TTL_NS (3 * SS_NS_PER_SEC)
#define APP_TURNS_MAX_BUSY 256
#define APP_TURNS_MAX_WAIT_SERVERS 8
#define APP_TURNS_IDENTITY_MAX 1024

typedef struct app_turns app_turns;

typedef struct {
	size_t max_servers;   /* 0: 512 */
	size_t max_waiters;   /* 0: 4096 */
	int64_t probe_ttl_ns; /* 0: APP_TURNS_PROBE_TTL_NS */
} app_turns_opts;

/* `opts` may be NULL for the defaults. 0 or SS_ENOMEM. */
int app_turns_new(app_turns **out, const app_turns_opts *opts);
void app_turns_free(app_turns *t);

/* ---- turns --------------------------------------------------------------- */

typedef enum {
	APP_TURNS_TAKEN,  /* the server is the holder's until give_back */
	APP_TURNS_QUEUED, /* busy: the holder waits (registered, see above) */
	APP_TURNS_RETRY,  /* busy, but another server it named is free now:
			     choose again at once (not registered) */
	APP_TURNS_FULL,	  /* busy, and the wait list (or, for a free server,
			     the busy table) is full: not registered */
} app_turns_outcome;

typedef struct {
	const char *holder;	       /* the Backup's key */
	const app_db_verdict *verdict; /* what the server was when chosen */
	const char *const *also;       /* other servers it would take (the
					  ones busy when it probed) */
	size_t n_also;
	int64_t generation; /* the Backup's metadata.generation */
	int64_t now;
} app_turns_want;

/* Takes `server` for want->holder, or registers the holder as waiting
 * (keeping its place if it waited before). On APP_TURNS_QUEUED `other`
 * (cap bytes; may be NULL) gets the key of the Backup that holds
 * `server`. */
app_turns_outcome app_turns_take(app_turns *t, const char *server,
				 const app_turns_want *want, char *other, size_t cap);

/* Registers want->holder as waiting for `server` and want->also, as
 * app_turns_take() does for a busy server, whatever the state of the
 * turns: for servers held by what no turn here records (after a restart,
 * another Backup's status says its lock session stopped their SQL threads;
 * backup_plan.h: app_backup_plan_held). app_turns_wake() wakes it when that
 * holder lets go. APP_TURNS_QUEUED, or APP_TURNS_FULL (not registered). */
app_turns_outcome app_turns_wait(app_turns *t, const char *server,
				 const app_turns_want *want);

/* A hold on `server` that is not a turn ended (the stopped SQL threads of
 * an interrupted session were started again): when no turn holds `server`,
 * wakes its first waiter as app_turns_give_back() does — true and its key
 * in `woken` (cap bytes), which the caller queues. Never ends a turn. */
bool app_turns_wake(app_turns *t, const char *server, char *woken, size_t cap);

/* If `server` is in a session now: true and the verdict its holder chose
 * it with (*out may be NULL). */
bool app_turns_busy(app_turns *t, const char *server, app_db_verdict *out);

/* Ends the turn on `server` (nothing if it is free). With `session_ran`
 * its last use becomes `now` (a take that ended before any session does
 * not count). Wakes the first waiter of `server`: true and its key in
 * `woken` (cap bytes), which the caller queues. */
bool app_turns_give_back(app_turns *t, const char *server, bool session_ran, int64_t now,
			 char *woken, size_t cap);

/* At the start of a reconcile of `key`: true when it waits, has not been
 * woken, its generation is `generation` and less than `patience_ns` passed
 * since it queued — the reconcile should stop here and look again after
 * *left_ns. Otherwise false, and the Backup counts as being looked at
 * until app_turns_end(). Pass generation -1 for a Backup that is gone or
 * being deleted. */
bool app_turns_begin(app_turns *t, const char *key, int64_t generation, int64_t now,
		     int64_t patience_ns, int64_t *left_ns);

/* At the end of a reconcile that app_turns_begin() let through: forgets
 * `key` unless it queued again. When it had been woken for a server it
 * did not take (`taken`: the server it took, or NULL) and that server is
 * still free, wakes that server's next waiter: true and its key in
 * `woken`. */
bool app_turns_end(app_turns *t, const char *key, const char *taken, char *woken,
		   size_t cap);

/* How many Backups wait (woken ones included). */
size_t app_turns_waiting(app_turns *t);

/* When `server`'s last lock session ended: 0 if never (that this process
 * remembers), INT64_MAX while it is in one. */
int64_t app_turns_last_used(app_turns *t, const char *server);

/* ---- probes ---------------------------------------------------------------- */

/* Remembers a successful probe of `server` made at `now` with `identity`
 * (at most APP_TURNS_IDENTITY_MAX - 1 bytes; longer: not remembered). */
void app_turns_probe_put(app_turns *t, const char *server, const char *identity,
			 const app_db_verdict *verdict, int64_t now);

/* A probe of `server` with this identity younger than the TTL: true and
 * its verdict in *out. */
bool app_turns_probe_get(app_turns *t, const char *server, const char *identity,
			 int64_t now, app_db_verdict *out);

/* Forgets the probe of `server` (it turned out wrong). */
void app_turns_probe_drop(app_turns *t, const char *server);

#endif
