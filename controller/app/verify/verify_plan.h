/*
 * verify_plan.h — the decisions of the verify controller (verify.h), as
 * pure functions over the JSON objects the informers cache and plain data:
 * whether a Backup has a verification to start, go on with or clean up;
 * whether it may be verified (Complete, every snapshot ready) and whether
 * its database is free (no other verification, no in-place Restore of it);
 * whether a scratch server's GTID position is the recorded one; and the
 * verdict from the checks' records.
 *
 * Invariants: nothing here does I/O, reads a clock or allocates; results
 * never depend on the order the cache listed objects in.
 *
 * Ownership: results borrow from the objects passed in. Thread-safety:
 * reentrant.
 */
#ifndef SNAPSTAGE_APP_VERIFY_PLAN_H
#define SNAPSTAGE_APP_VERIFY_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "app/api/api.h"
#include "app/scratch/scratch.h"

typedef enum {
	APP_VERIFY_PLAN_NOTHING,
	APP_VERIFY_PLAN_START,	  /* a new verify-now token */
	APP_VERIFY_PLAN_CONTINUE, /* a verification in progress */
	APP_VERIFY_PLAN_DELETED,  /* being deleted with our finalizer: clean up */
} app_verify_plan_need;

/* What `backup`, whose status.verification is `v`, needs. A Backup being
 * deleted needs only the clean-up (with our finalizer) or nothing; one in
 * progress (a phase other than Done) goes on, whatever the annotation says
 * now; otherwise a snapstage.io/verify-now value (non-empty, at most 256
 * bytes) other than v->token starts one. */
app_verify_plan_need app_verify_plan_todo(const json_t *backup,
					  const app_verification_status *v);

/* The volumes a verification restores: the entries of bst->snapshots with
 * a volume and a VolumeSnapshot name, in order, into vols (and the claim
 * each was cut from into claims[], NULL unknown; both APP_MAX_VOLUMES
 * long; vols[].source_claim NULL). Returns how many. */
size_t app_verify_plan_volumes(app_scratch_volume *vols, const char **claims,
			       const app_backup_status *bst);

/* The verify-now value of `backup`, or NULL (absent, empty, too long). */
const char *app_verify_plan_token(const json_t *backup);

/* Whether `backup` can be verified: phase Completed, condition Complete
 * True, Restorable not False, not being deleted, at least one snapshot
 * and every one readyToUse with its VolumeSnapshot's name. Otherwise
 * false with *why (static) saying which. */
bool app_verify_plan_source_ok(const json_t *backup, const char **why);

/* Why `backup` must wait (static text naming no one; *who borrows the
 * blocker's name), or NULL when its database is free: another Backup in
 * `backups` (same namespace, any order) of the same target (the same
 * spec.target.statefulSetName, or an equal podSelector) has a
 * verification in Restoring, Starting, Checking or CleaningUp; or a
 * Restore in `restores` (may be NULL) of mode InPlace that is not
 * Completed or Failed rolls that StatefulSet back. */
const char *app_verify_plan_busy(const json_t *backup, const json_t *backups,
				 const json_t *restores, const char **who);

/* Whether two GTID lists ("0-1-5,1-2-9") name the same positions: the same
 * domain-server-sequence triples, in any order, spaces ignored. NULL and ""
 * are the empty list. */
bool app_verify_plan_gtid_equal(const char *a, const char *b);

typedef enum {
	APP_VERIFY_CHECK_PASSED,
	APP_VERIFY_CHECK_FAILED,
	APP_VERIFY_CHECK_SKIPPED,
} app_verify_check_result;

const char *app_verify_check_result_name(app_verify_check_result r);

/* The position check: the recorded gtidSlavePos (a replica's) and
 * gtidBinlogPos, each when recorded, against the scratch server's
 * @@gtid_slave_pos and @@gtid_binlog_pos. SKIPPED when the Backup recorded
 * neither; FAILED names the first that differs with both values; `msg`
 * (cap bytes) says what was compared. */
app_verify_check_result app_verify_plan_position(char *msg, size_t cap,
						 const app_db_position *recorded,
						 const char *server_binlog_pos,
						 const char *server_slave_pos);

/* Sets v->result, v->reason and the message (into msg, cap bytes; v->message
 * points there) from v->checks: Failed with the reason of the first failed
 * check in order (ServerStart: ServerDidNotStart, CheckTable: TableCorrupt,
 * Position: PositionMismatch, User: CheckFailed) and its message, else
 * Passed with a summary. A verdict already set (a failure before any
 * check, e.g. SourceNotReady) is kept. */
void app_verify_plan_verdict(app_verification_status *v, char *msg, size_t cap);

#endif
