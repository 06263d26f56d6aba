/*
 * restore_replay_plan.h — the decisions of a point-in-time restore (issue
 * 19, restore_replay.c), as pure functions: whether a named base Backup
 * can start a replay to the target, the exact GTID position a target
 * means on the replay source, which probed server is the replay source,
 * and what to do with a replay's progress.
 *
 * Invariants (MariaDB 10.11's START SLAVE UNTIL, measured: api/gtid.h):
 *   - A target names every domain the source holds events of after the
 *     base: a domain the UNTIL position leaves out is skipped whole,
 *     silently. A target that cannot name one exactly is refused.
 *   - A target's triple is never taken on trust where the source says
 *     otherwise: a GTID whose seq is the source's last in its domain must
 *     carry the server id the source logged it with; one past the
 *     source's end is not in its history. (A triple inside the history
 *     with a wrong server id cannot be seen here: the replay overshoots
 *     or ends elsewhere, which app_restore_replay_decide() and the exact
 *     finish (db/replay.h) refuse — nothing wrong is ever delivered.)
 *   - Server ids are never compared to order positions; seqs are.
 *
 * Failure reasons (the Restore's Failed condition):
 *   NoBaseBeforeTarget  the base's data is after the target
 *   TargetNotReached    the source's binlog does not reach the target
 *   TargetAmbiguous     the target cannot be named exactly in a domain
 *   InvalidSpec         inclusive: false with more than one GTID
 *   ReplaySourceNotFound  no single primary to replay from
 *   BinlogsPurged, ReplaySourceLost, ReplayFailed, ReplayMismatch, Timeout
 *                       from a replay's progress
 *   ReplaySnapshotFailed  InPlace: a replayed claim's VolumeSnapshot failed,
 *                       was not ready within replay.timeoutSeconds, or its
 *                       name is taken
 *   SafetyBackupFailed  InPlace: the safety Backup failed, did not complete
 *                       within replay.timeoutSeconds, or its name is taken;
 *                       the target was not touched
 *
 * Ownership: caller-owned structs; reasons are static strings; the
 * builders of objects (snapshot, safety Backup) return new references.
 * Thread-safety: reentrant.
 */
#ifndef SNAPSTAGE_APP_RESTORE_REPLAY_PLAN_H
#define SNAPSTAGE_APP_RESTORE_REPLAY_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/api/api.h"
#include "app/api/gtid.h"
#include "app/db/db.h"
#include "app/db/replay.h"

#include <jansson.h>

/* Whether Backup data at `base` (its recorded position) and `data_time_ns`
 * (its data time, 0 unknown) can start a replay to the target of `rp`:
 *   a time target: data time known and not after the target;
 *   a GTID target: in every domain the target names, the base's seq (a
 *   domain it lacks: 0) is at most the target's seq (inclusive) or below
 *   it (inclusive false: the replay stops just before it).
 * 0, or SS_EINVALID with *reason NoBaseBeforeTarget (InvalidSpec for a
 * GTID that does not parse) and why (cap bytes) for the message. */
int app_restore_replay_check_base(const app_replay_spec *rp, const app_gtid_pos *base,
				  int64_t data_time_ns, const char **reason, char *why,
				  size_t cap);

/* A time target after `now_ns` (the controller's clock) is refused at
 * once, before a claim or a scratch Pod is made: no binlog can hold it
 * yet. 0 (no time target, or not in the future), or SS_EINVALID with
 * *reason TargetNotReached and why (cap bytes). A target at or before now
 * that the source's binlog does not reach (its clock behind ours, or no
 * event since) is still caught when the target is resolved. */
int app_restore_replay_check_time(const app_replay_spec *rp, int64_t now_ns,
				  const char **reason, char *why, size_t cap);

/* The position of the schedule's base for a GTID target (what
 * app_restore_pick_base_gtid() compares Backups with): the GTIDs given,
 * each one seq lower for inclusive false. SS_EINVALID (reason InvalidSpec)
 * for a GTID that does not parse, several with inclusive false, or a seq
 * of 0 with it. */
int app_restore_replay_base_bound(app_gtid_pos *out, const app_replay_spec *rp,
				  const char **reason, char *why, size_t cap);

/* A GTID target resolved on the source whose binlog reaches `current`
 * (@@gtid_binlog_pos) and holds every event after `base`:
 *   inclusive: the source's current position with each domain the target
 *     names set to the target's GTID — the other domains replay to the
 *     source's end as it was when the target was resolved;
 *   inclusive false (exactly one GTID g): app_gtid_pos_before(current, g).
 * A named domain the source lacks, or a seq past its end, is
 * TargetNotReached; a GTID at the source's last seq of its domain with
 * another server id is TargetNotReached too (that triple is not in the
 * history: the message names the one that is); a result before the base
 * in any domain is NoBaseBeforeTarget. 0 with *out, or SS_EINVALID with
 * *reason and why. */
int app_restore_replay_gtid_target(app_gtid_pos *out, const app_replay_spec *rp,
				   const app_gtid_pos *base, const app_gtid_pos *current,
				   const char **reason, char *why, size_t cap);

/* Checks a resolved target against the source: every domain `current`
 * has past `base` (base seq lower, or no entry) is named by `target`
 * (else TargetAmbiguous: a time target before a domain's first event after
 * the base cannot say which server's event to stop before), and the
 * target is not before the base (NoBaseBeforeTarget). 0, or SS_EINVALID
 * with *reason and why. */
int app_restore_replay_target_complete(const app_gtid_pos *target, const app_gtid_pos *base,
				       const app_gtid_pos *current, const char **reason,
				       char *why, size_t cap);

/* The replay source among `n` probed members: the one kind says is
 * APP_DB_PRIMARY (kinds[i] for member i; APP_DB_UNKNOWN for one that could
 * not be probed). *idx on success; SS_ENOTFOUND with why when none or more
 * than one (reason ReplaySourceNotFound: name spec.replay.source.podName). */
int app_restore_replay_pick_primary(size_t *idx, const app_db_kind *kinds, size_t n,
				    char *why, size_t cap);

/* What the controller does with one look at the replay. */
typedef enum {
	APP_REPLAY_DO_WAIT,   /* running: look again */
	APP_REPLAY_DO_START,  /* not set up, or stopped short: (re)start */
	APP_REPLAY_DO_FINISH, /* the target is reached */
	APP_REPLAY_DO_FAIL,   /* *reason */
} app_replay_action;

/* Decides from `p` (NULL: no replay is set up on the scratch) against
 * `target`, `timed_out` meaning replay.timeoutSeconds have passed in step
 * Replaying:
 *   none set up: START; REACHED: FINISH;
 *   FAILED: STOPPED cause START (a restarted scratch forgets its UNTIL),
 *     BINLOGS_PURGED BinlogsPurged, SOURCE_LOST START again (MariaDB gave
 *     up its retries; the source may be back) or, timed out,
 *     ReplaySourceLost, anything else ReplayFailed;
 *   RUNNING: past the target's seq in a domain it names ReplayMismatch
 *     (a target triple the source logged under another server id: UNTIL
 *     never matched), timed out ReplaySourceLost when the IO thread is
 *     retrying a lost source (cause SOURCE_LOST), else Timeout; otherwise
 *     START while retrying a lost source (MariaDB retries the address it
 *     was given, and a source Pod made again may have another:
 *     app_replay_start() re-points a moved source and leaves a running one
 *     alone) and WAIT else — an IO thread stopped without an error has
 *     fetched everything up to the target (UNTIL master_gtid_pos stops it
 *     there) and is not a lost source. */
app_replay_action app_restore_replay_decide(const app_replay_progress *p,
					    const app_gtid_pos *target, bool timed_out,
					    const char **reason);

/* Whether a replay's progress (status.replay.reachedPosition,
 * relayLogBytes, the message) is written on this look: when none was
 * written yet (`last_ns` 0), or `interval_ns` or more have passed since
 * (a clock step back counts as due). Each status write wakes the Restore
 * at once, so writing on every look made a tight loop of looks and writes
 * (tests/bench/bench_pitr.sh: ~22 a second) instead of one per interval. */
bool app_restore_replay_progress_due(int64_t now_ns, int64_t last_ns,
				     int64_t interval_ns);

/* Whether a replay in `step` no longer reads its source Backup's snapshots
 * (its claims are Bound: Starting and after). */
bool app_restore_replay_past_source(app_replay_step step);

/* ---- InPlace (issue 19 step 5) --------------------------------------------
 * A point-in-time restore in mode InPlace replays into scratch claims of its
 * own, snapshots them, takes a safety Backup of the target as it is, and
 * runs the in-place machinery from the replayed snapshots. Its objects: */
typedef enum {
	APP_REPLAY_OBJ_SCRATCH_CLAIM, /* "<restore>-scratch-<volume>", owned */
	APP_REPLAY_OBJ_SNAPSHOT,      /* "<restore>-replayed-<volume>", owned */
	APP_REPLAY_OBJ_SAFETY_BACKUP  /* "<restore>-safety", NOT owned */
} app_replay_obj;

/* On the safety Backup: the Restore's name (left out when longer than a
 * label value) so `kubectl get backups -l` finds it; its uid is in
 * APP_ANNOTATION_RESTORE_UID (restore_plan.h). */
#define APP_LABEL_SAFETY_FOR "snapstage.io/safety-backup-for"

/* The name of `what` for Restore `restore` (and `volume`, ignored for the
 * safety Backup) into out (APP_NAME_BUF bytes): at most 63 characters,
 * shortened with a stable hash (app_name_join), so a restarted controller
 * finds the same objects. 0 or SS_EINVALID (an empty part). */
int app_restore_replay_name(char *out, app_replay_obj what, const char *restore,
			    const char *volume);

/* Marks the scratch claims `planned` (app_restore_claims_plan's array) as
 * the Restore's own: an ownerReference (controller) to `restore`, so
 * deleting the Restore deletes them, and the label APP_LABEL_SCRATCH =
 * "pitr". 0 or SS_EINVALID (restore without name/uid) / SS_ENOMEM. */
int app_restore_replay_own_claims(json_t *planned, const json_t *restore);

/* The VolumeSnapshot `name` of scratch claim `claim` (volume `volume`),
 * class `class_name` (NULL: the cluster default), owned by `restore`
 * (controller ownerReference), labelled APP_LABEL_SCRATCH = "pitr" and
 * with the volume label. A new object into *out; 0 or SS_EINVALID /
 * SS_ENOMEM. */
int app_restore_replay_snapshot(json_t **out, const json_t *restore, const char *name,
				const char *claim, const char *volume,
				const char *class_name);

/* What a replayed snapshot or the safety Backup says. */
typedef enum {
	APP_REPLAY_OBJ_WAIT,   /* not ready yet */
	APP_REPLAY_OBJ_READY,  /* readyToUse / Complete */
	APP_REPLAY_OBJ_FAILED, /* *why */
	APP_REPLAY_OBJ_FOREIGN /* not this Restore's: never used or deleted */
} app_replay_obj_state;

/* A replayed snapshot `vs` (NULL: missing, which is WAIT: it is created
 * again) of `restore`: FOREIGN without an ownerReference carrying the
 * Restore's uid; FAILED with a status error or being deleted; READY when
 * readyToUse with a restoreSize. */
app_replay_obj_state app_restore_replay_snapshot_state(const json_t *vs,
						       const json_t *restore,
						       const char **why);

/* The safety Backup `name` of `restore`: a copy of the base Backup's spec
 * (`base`: target, connection, snapshot class, lock) with target.role
 * Primary — the current primary's data is the state the rollback
 * overwrites — labelled APP_LABEL_SAFETY_FOR and annotated
 * APP_ANNOTATION_RESTORE_UID, and no ownerReference: it outlives the
 * Restore (it is what undoes the rollback). A new object into *out; 0 or
 * SS_EINVALID (no spec.target in the base, restore without name/uid) /
 * SS_ENOMEM. */
int app_restore_replay_safety_backup(json_t **out, const json_t *restore,
				     const json_t *base, const char *name);

/* The safety Backup `b` of `restore` (NULL: missing, WAIT: created again):
 * FOREIGN without APP_ANNOTATION_RESTORE_UID = the Restore's uid;
 * otherwise as app_restore_backup_state(): READY (Complete, every snapshot
 * ready), FAILED, WAIT. */
app_replay_obj_state
app_restore_replay_safety_state(const json_t *b, const json_t *restore, const char **why);

/* `msg` without a leading "<reason>: " (the db layer's messages start
 * with the reason word they fail with; the condition already carries it).
 * Returns a pointer into msg. */
const char *app_restore_replay_message(const char *msg, const char *reason);

#endif
