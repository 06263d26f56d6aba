/*
 * backup_plan.h — the decisions of the Backup controller, as pure
 * functions over plain data and the JSON objects the informers cache: which
 * server to lock (among the candidates of the target, api/target.h), what
 * the VolumeSnapshots look like, and what it makes of their status
 * (api/volumesnapshot.h reads it). Nothing here does I/O, reads a clock or
 * allocates except where a function returns JSON; the reconciler
 * (backup.c) does the talking and calls these to decide.
 *
 * Restorable reasons (app_backup_plan_restorable; condition Restorable of a
 * Complete Backup):
 *   SnapshotsReady       True: every listed VolumeSnapshot exists, is this
 *                        Backup's (ownerReference with its uid), has no
 *                        error and is readyToUse
 *   SnapshotMissing      False: a listed VolumeSnapshot is gone, or an
 *                        object of that name is not this Backup's (or the
 *                        Backup lists none). Final: a same-named new object
 *                        never has this Backup's uid
 *   SnapshotFailed       False: a listed VolumeSnapshot has status.error or
 *                        is no longer readyToUse (may turn True again)
 *
 * Failure reasons are the Backup's `Failed` condition reasons (docs/api.md;
 * the first five come from app_target_resolve, api/target.h):
 *   TargetNotFound       no pod matches the target (or its StatefulSet has none)
 *   TooManyPods          the target selects more than APP_TARGET_MAX_CANDIDATES
 *   TooManyVolumes       with none named, a pod has more than APP_MAX_VOLUMES
 *                        volumes backed by claims
 *   VolumeNotFound       a volume named in spec.target.volumes is not in the pod
 *   VolumeNotPVC         that volume (or, with none named, every volume) is
 *                        not backed by a PersistentVolumeClaim
 *   NoHealthyReplica     role Replica and no replica qualifies
 *   NoPrimary            role Primary, or PreferReplica without a healthy
 *                        replica, and no ready writable primary
 *   AuthenticationFailed every server that answered refused the credentials
 *   PrivilegeMissing     the account lacks a privilege the probe needs
 *   DatabaseUnreachable  no server answered (or the answers were other errors)
 *
 * Ownership: results borrow strings from the JSON objects they were
 * computed from (keep those alive) unless a field is an inline array.
 * Functions returning json_t ** give a new reference. Thread-safety:
 * reentrant; errors go to the calling thread's ss_error.
 */
#ifndef SNAPSTAGE_APP_BACKUP_PLAN_H
#define SNAPSTAGE_APP_BACKUP_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "app/api/api.h"
#include "app/api/target.h"
#include "app/api/volumesnapshot.h"
#include "app/db/db.h"
#include "util/clock.h"

#define APP_BACKUP_PLAN_MESSAGE_MAX 2048

/* What probing one candidate gave, and when it was last used. */
typedef struct {
	int rc;			       /* 0: verdict is valid; else the error code */
	char error[APP_DB_REASON_MAX]; /* rc != 0: the error message */
	app_db_verdict verdict;
	/* When the server's last lock session ended, on any clock that only
	 * goes forward: 0 never (or unknown), INT64_MAX while it is in one
	 * (turns.h: app_turns_last_used). Spreads the sessions. */
	int64_t last_used;
	/* The name of another Backup whose status says its lock session
	 * stopped this server's SQL threads (app_backup_plan_pause_claim), borrowed;
	 * NULL: none. Such a replica probes unhealthy (Slave_SQL_Running=No)
	 * but is busy, not broken: after a restart this process has no turn
	 * for that session, only the status says so. */
	const char *paused_by;
} app_backup_plan_probe;

/* Replication lags up to this many seconds count as the same health when
 * replicas are ranked: Seconds_Behind_Master has whole seconds and reads
 * 0 or 1 on a replica that keeps up, by when it is asked. */
#define APP_BACKUP_PLAN_LAG_SAME_SECONDS 1

typedef struct {
	int chosen;	    /* index into the candidates; -1 when none */
	const char *role;   /* "Replica" or "Primary" when chosen */
	bool fell_back;	    /* PreferReplica took the primary */
	const char *reason; /* chosen == -1: the Failed reason; NULL while
			       waits_for >= 0 */
	/* chosen == -1: the replica held by another Backup's stopped SQL
	 * threads (app_backup_plan_held) to wait for, as for a server in a lock
	 * session; -1: none (then the Backup fails with reason). */
	int waits_for;
	/* chosen == -1: why, naming each candidate and what it was; a
	 * fallback: the note for status.message and the Warning Event, naming
	 * why each replica did not qualify. "" otherwise. */
	char message[APP_BACKUP_PLAN_MESSAGE_MAX];
} app_backup_plan_choice;

/* Whether candidate c (probe p) is held by another Backup's lock session
 * rather than unhealthy: ready, probed, an unhealthy replica, and
 * p->paused_by names the Backup that stopped its SQL threads. */
bool app_backup_plan_held(const app_target_candidate *c, const app_backup_plan_probe *p);

/* The name (borrowed from `backups`) of the first Backup in `backups` (a
 * JSON array of Backup objects as the cache holds them; NULL: none) of
 * namespace `ns`, other than the one named `self`, whose status says its
 * lock session stopped the SQL threads of pod `pod`: status.sourcePod is
 * `pod` and status.lock.replicationPaused is true or status.phase is
 * Locked. NULL when none does. A restarted controller knows of a session
 * of the process before it only from this. */
const char *app_backup_plan_pause_claim(const json_t *backups, const char *ns,
					const char *self, const char *pod);

/* Chooses the server to lock. probes[i] belongs to cands->c[i] (cands->n
 * entries); only ready
 * candidates are considered (probes of others are ignored). A replica
 * qualifies when its verdict is HEALTHY_REPLICA; the best is the least lag
 * (lags up to APP_BACKUP_PLAN_LAG_SAME_SECONDS counting as 0), then among those
 * equally healthy the one used longest ago (the smallest last_used: never
 * used first, one in a lock session now last), then the lowest ordinal,
 * then the name — so sessions spread over equally healthy replicas, and the
 * same inputs always give the same choice. The primary is a ready candidate
 * whose verdict is PRIMARY (if several claim to be, the lowest ordinal).
 *   Replica        best replica, else NoHealthyReplica
 *   PreferReplica  best replica, else the primary with fell_back, else
 *                  NoPrimary (message says no replica qualified either)
 *   Primary        the primary, else NoPrimary
 * Replica and PreferReplica wait instead of failing or falling back when
 * no replica qualifies but one is held (app_backup_plan_held): chosen -1,
 * waits_for that replica (the lowest ordinal of those held), reason NULL
 * and the message naming it and its holder — the holder starts the SQL
 * threads again, so failing the Backup for good would lose it.
 * When nothing qualifies and every ready candidate's probe failed (at least
 * one ready), the reason is that of the failures instead: any SS_EFORBIDDEN
 * → PrivilegeMissing; else SS_EUNAUTHORIZED from at least one and every
 * other failure unreachable (SS_ETRANSPORT, SS_ETIMEOUT) →
 * AuthenticationFailed; otherwise DatabaseUnreachable. Every field of *out
 * is written. Returns out->chosen. */
int app_backup_plan_choose(app_backup_plan_choice *out,
			   const app_target_candidates *cands,
			   const app_backup_plan_probe *probes, app_role role);

/* Whether the Backup that chose `chosen` (app_backup_plan_choose) would take
 * candidate `other` instead, were `other` free: both are healthy replicas
 * of the same lag rank (see above; of two primaries the lowest ordinal is
 * always the one). A Backup whose choice is in a lock session waits for
 * every such candidate that is busy too. */
bool app_backup_plan_equally_good(const app_target_candidates *cands,
				  const app_backup_plan_probe *probes, int chosen,
				  int other);

/* Why a Backup status that records replicationPaused (the replica's SQL
 * threads stopped for its lock session and not started since) is so, in
 * words for the ReplicationResumed Event, from what the status records:
 * phase Locked — the lock session was interrupted (the process that ran it
 * ended); a lock acquired — the session ended but could not start them;
 * neither — the session ended before it took the lock. Static text. */
const char *app_backup_plan_paused_why(const app_backup_status *st);

/* What is known when a lock session did not see every cut in time. */
typedef struct {
	const char *ns;
	size_t n_snapshots;
	size_t uncut;		/* not seen cut */
	const char *deleted;	/* names of the session's snapshots someone
				   deleted meanwhile ("a, b"); NULL or "": none */
	const char *api_error;	/* the API error that used up the lock budget
				   (kube_deadline_set); NULL or "": none */
	int64_t stall_ms;	/* the longest the wait for the cut went without
				   running (it looks every 250 ms) */
	int timeout_seconds;	/* spec.lock.timeoutSeconds */
	int64_t held_ms;
} app_backup_plan_timeout_in;

/* A controller that did not run for this long while it held the lock
 * stalled (stopped, or starved of CPU). */
#define APP_BACKUP_PLAN_STALL_MS 1000

/* The Failed reason and message (into out, cap bytes) of such a session,
 * naming the cause that is known rather than blaming the storage: the
 * snapshots someone deleted (SnapshotLost), else LockTimeout because the
 * API server did not answer, because this controller stalled for
 * APP_BACKUP_PLAN_STALL_MS or more, or — only when none of those is known —
 * because the storage did not cut in time. Returns the static reason. */
const char *app_backup_plan_lock_timeout(char *out, size_t cap,
					 const app_backup_plan_timeout_in *in);

/* What the last look (a GET, or the informer's cache) found of one of a
 * lock session's VolumeSnapshots. */
typedef enum {
	APP_BACKUP_PLAN_VS_UNKNOWN = 0, /* the look failed */
	APP_BACKUP_PLAN_VS_PRESENT,	/* there, not being deleted */
	APP_BACKUP_PLAN_VS_DELETING,	/* there, with a deletionTimestamp */
	APP_BACKUP_PLAN_VS_ABSENT,	/* not found */
} app_backup_plan_vs_presence;

/* What a session that ended without every cut knows of one snapshot. */
typedef struct {
	bool created; /* our create returned success (or found it ours) */
	bool seen;    /* the informer's cache showed it during the session */
	app_backup_plan_vs_presence now;
} app_backup_plan_session_vs;

/* Whether the snapshot was deleted while the lock was held (SnapshotLost):
 * it is being deleted, or it is gone and is known to have existed — our
 * create of it succeeded or the cache showed it. One gone whose create
 * never completed (it timed out: the request may never have reached the
 * API server) was never known to exist, so its absence is the API server's
 * failure (LockTimeout), not a loss. */
bool app_backup_plan_session_vs_lost(const app_backup_plan_session_vs *s);

/* Whether a snapshot counts as cut: creationTime is set, or readyToUse is
 * true (a driver that skips creationTime). */
bool app_backup_plan_vs_is_cut(const app_vs_state *st);

/* Everything the VolumeSnapshot of one volume needs. */
typedef struct {
	const json_t *backup; /* the Backup object: name, namespace, uid, labels */
	const app_backup_spec *spec;
	const char *volume;
	const char *claim;
	const char *pod;
	const char *source_role;      /* "Replica" or "Primary"; NULL: left out */
	const app_db_position *position; /* read under the lock; NULL: unknown */
	/* The VolumeSnapshot's name, as status.snapshots[] records it; NULL:
	 * the name of the first attempt, app_name_backup_snapshot(backup,
	 * volume, 1). */
	const char *name;
} app_backup_plan_snapshot_in;

/* Builds the VolumeSnapshot (snapshot.storage.k8s.io/v1) for one volume:
 * name in->name in the Backup's namespace; labels APP_LABEL_BACKUP
 * (app_name_backup_label: the Backup's name, or a hashed value when the
 * name is over 63), APP_LABEL_SCHEDULE (copied from the Backup when it has
 * it), APP_LABEL_POD, APP_LABEL_CLAIM, APP_LABEL_VOLUME, and the copyable
 * spec.snapshot.labels (app_label_is_copyable); annotations: the position
 * and role keys above (positions that are empty/unknown are left out),
 * APP_ANNOTATION_LOCK_STAGE (spec.lock.stage), APP_ANNOTATION_BACKUP_NAME
 * and spec.snapshot.annotations; an ownerReference to the Backup
 * (controller true, blockOwnerDeletion true);
 * spec.source.persistentVolumeClaimName and spec.volumeSnapshotClassName
 * when the spec names a class. Values that are too long or invalid for a
 * label (a claim's name over 63) are left out of the labels (never
 * truncated into something else). A decoded spec has no key in snapstage's
 * prefix (InvalidSpec); should one get here anyway it is dropped, even
 * when snapstage leaves that key out, so it can never pose as the
 * position. The Backup must have a name, namespace and uid (SS_EINVALID). */
int app_backup_plan_snapshot_object(json_t **out, const app_backup_plan_snapshot_in *in);

/* Whether a Complete Backup can still be restored from. */
typedef struct {
	bool restorable;
	const char *reason; /* static: one of the APP_REASON_* above */
	/* Names the snapshot(s) at fault and what is wrong with each (cut
	 * with "..." when long); for True, how many are ready. */
	char message[APP_BACKUP_PLAN_MESSAGE_MAX];
} app_backup_plan_restorability;

/* Judges `backup` (a Backup object) by the VolumeSnapshots it lists in
 * status.snapshots[].volumeSnapshotName against `snapshots` (a JSON array
 * of VolumeSnapshot objects as the cache holds them, any order; NULL: none;
 * objects of other namespaces are ignored; a listed name absent from it is
 * deleted). A snapshot is this Backup's when an ownerReference carries the
 * Backup's uid. SnapshotMissing wins over SnapshotFailed; its message also
 * names the failed ones. A Backup listing no snapshot, or an entry without
 * a name, is SnapshotMissing. The caller decides that the Backup is
 * Complete; this does not look at its conditions. Every field of *out is
 * written on success; a Backup without a name, namespace or uid is
 * SS_EINVALID (*out untouched). */
int app_backup_plan_restorable(app_backup_plan_restorability *out, const json_t *backup,
			       const json_t *snapshots);

/* ---- attempts ------------------------------------------------------------ */

/* The pause before the next lock session after `failed` sessions that were
 * not trusted (1: 2 s, 2: 4 s, doubling, at most APP_BACKUP_PLAN_RETRY_MAX_NS; 0
 * or less: none). Why: the causes that end a session early — an API server
 * that refuses snapshot creates for a while (a new CRD its admission does
 * not know yet, a restart), a restarting mariadbd — last seconds, and
 * retrying at once used every attempt in under 100 ms. */
#define APP_BACKUP_PLAN_RETRY_BASE_NS (2 * SS_NS_PER_SEC)
#define APP_BACKUP_PLAN_RETRY_MAX_NS (30 * SS_NS_PER_SEC)
int64_t app_backup_plan_retry_backoff_ns(int failed);

/* When the next session may start, given that the last one ended at
 * `now_ns` (real time) after `failed` untrusted sessions: now + the
 * backoff, rounded up to a whole second (status.nextAttemptTime has
 * second resolution, and must never allow an earlier start). */
int64_t app_backup_plan_next_attempt_ns(int failed, int64_t now_ns);

/* How long a Pending Backup whose status says nextAttemptTime
 * `next_attempt_ns` (0: none) still waits at `now_ns`: 0 when it may start
 * now; never more than APP_BACKUP_PLAN_RETRY_MAX_NS, so a time far ahead (a clock
 * that was wrong, an edited status) cannot stall it for long. */
int64_t app_backup_plan_attempt_wait_ns(int64_t next_attempt_ns, int64_t now_ns);

/* What becomes of a lock session that an API error (`code`, an SS_E*)
 * ended while creating its snapshots, before every snapshot was asked for.
 * The stages are ended at once either way and its snapshots deleted. */
typedef struct {
	const char *reason; /* static: "SnapshotCreateFailed" */
	/* false when the API server called the VolumeSnapshot itself invalid
	 * (SS_EINVALID, SS_EUNSUPPORTED): the next session would send the same
	 * object, so the Backup fails at once; true otherwise (refused for a
	 * while, throttled, unavailable, no answer, a name taken by another
	 * owner: every session names its snapshots anew). */
	bool retry;
} app_backup_plan_session_error;
app_backup_plan_session_error app_backup_plan_session_error_decide(int code);

#endif
