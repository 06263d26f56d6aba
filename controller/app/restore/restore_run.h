/*
 * restore_run.h — internal to the Restore controller (restore.c,
 * restore_inplace.c, restore_replay.c, restore_replay_inplace.c): one
 * reconcile of one Restore as a ctrl/run.h run embedded in
 * app_restore_run, and the helpers every mode uses to report (status,
 * conditions, Events, metrics) and to end it. Not for other modules.
 *
 * Every step function here and in both modes follows ctrl/run.h's result
 * convention: it returns
 *   < 0            an error (ss_error_set where it was detected): the
 *                  reconcile ends with an error result and is retried;
 *   0              go on with the next step;
 *   CTRL_RUN_STOP  the reconcile ends here with r->run.result (set by
 *                  ctrl_run_stop(): done, or requeue after a wait).
 * A step that needs another value out takes an out parameter.
 *
 * Invariants:
 *   - strings in r->st borrow from JSON the run holds (r->run.obj, and
 *     what ctrl_run_hold() keeps) until it ends;
 *   - a run writes status through app_restore_write(), which writes only
 *     what changed (the encoder sets status.observedGeneration from the
 *     copy being written);
 *   - app_restore_fail() is the one way a Restore becomes Failed; for an
 *     in-place restore that has started replacing claims and has not got
 *     every new claim Bound it starts the rollback instead (restore.h).
 *
 * Thread-safety: a run belongs to one worker; the controller it points to
 * is shared and read-only after creation.
 */
#ifndef SNAPSTAGE_APP_RESTORE_RUN_H
#define SNAPSTAGE_APP_RESTORE_RUN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "app/api/api.h"
#include "app/restore/restore.h"
#include "app/restore/restore_check.h"
#include "app/restore/restore_plan.h"
#include "ctrl/controller.h"
#include "ctrl/events.h"
#include "ctrl/metrics.h"
#include "ctrl/run.h"

extern const kube_resource app_restore_claims_res;
extern const kube_resource app_restore_statefulsets;
extern const kube_resource app_restore_pvs;
extern const kube_resource app_restore_services;
extern const kube_resource app_restore_storage_classes;

struct app_restore_ctrl {
	app_restore_ctrl_opts o;
	ctrl_counter *m_total;
	ctrl_histogram *m_duration;
	ctrl_run_opts run_opts; /* every reconcile's run (ctrl/run.h) */
};

/* The source's volumes, each with what its VolumeSnapshot said when it was
 * checked (info is zero before app_restore_check_sources()). */
typedef struct {
	app_restore_volume v[APP_MAX_VOLUMES];
	app_restore_snapshot_info info[APP_MAX_VOLUMES];
	size_t n;
} app_restore_volumes;

/* One reconcile of one Restore: the run (ctrl/run.h: key, ns, name, now,
 * the latest copy of the Restore in run.obj, the message — which
 * st.message points at once set — and the condition of the next write)
 * and what the steps find. */
typedef struct {
	ctrl_run run;
	app_restore_ctrl *rc;
	json_t *backup;	   /* the source Backup, when it is one (held) */
	json_t *source_vs; /* the source VolumeSnapshot, for that source (held) */
	app_restore_spec spec;
	app_restore_status st;
	const char *gtid; /* the source's GTID position, or NULL */
	/* Whose the source's VolumeSnapshots must be (ownerReference uid):
	 * NULL: r->backup's; the Restore for an in-place point-in-time
	 * restore's replayed snapshots. */
	const json_t *snapshot_owner;
} app_restore_run;

/* Writes status (and the pending condition) when it changed; a failure is
 * logged ("writing restore status failed"). 0 or < 0. */
int app_restore_write(app_restore_run *r);

/* Holds `obj` (a new reference, stolen; NULL: nothing to hold) until the
 * run ends, for a caller that goes on using it: ctrl_run_hold(), and
 * SS_ENOMEM when that could not hold it (obj released then). 0 or < 0. */
int app_restore_hold(app_restore_run *r, json_t *obj);

/* Ends the Restore: Failed with `reason` and the message, an Event and the
 * metrics. An in-place restore goes through app_restore_in_place_fail()
 * (which may roll back first); a NewClaims one that has created claims
 * deletes those that never bound (uid precondition) first. CTRL_RUN_STOP
 * (done), or < 0. */
int app_restore_fail(app_restore_run *r, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Failed for good with the message already set (no rollback).
 * CTRL_RUN_STOP (done), or < 0. */
int app_restore_fail_final(app_restore_run *r, const char *reason);
/* Completed, with the message already set. CTRL_RUN_STOP (done), or < 0. */
int app_restore_complete(app_restore_run *r);

/* Deletes claim `pvc` (as read) with its uid as the precondition, so only
 * this incarnation goes; gone already is 0. 0 or < 0. */
int app_restore_delete_claim(app_restore_run *r, const json_t *pvc);

/* Whether timeoutSeconds have passed since the start. */
bool app_restore_timed_out(const app_restore_run *r);
/* Requeue after the poll interval with status written, or Failed Timeout
 * (through app_restore_fail) when timed out; the message says what it
 * waited for. CTRL_RUN_STOP, or < 0. */
int app_restore_wait(app_restore_run *r);

/* Checks every source VolumeSnapshot again (GET each): exists, belongs to
 * the Backup, readyToUse with a restoreSize. 0 with vols->info filled,
 * CTRL_RUN_STOP (Failed, or rolled back) when one is not, < 0 on an API
 * error. */
int app_restore_check_sources(app_restore_run *r, app_restore_volumes *vols);

/* The StorageClass a claim of class `name` (NULL: the default) gets, into
 * *out (held by the run; NULL when none). 0 or < 0. */
int app_restore_storage_class(const json_t **out, app_restore_run *r, const char *name);

/* Checks that every source snapshot's driver is the provisioner of
 * StorageClass `class_name` (NULL: the default). 0, CTRL_RUN_STOP
 * (Failed), or < 0. */
int app_restore_check_drivers(app_restore_run *r, const app_restore_volumes *vols,
			      const char *class_name, const char *where);

/* app_restore_check_drivers for vols' volume `i` alone. */
int app_restore_check_driver_of(app_restore_run *r, const app_restore_volumes *vols,
				size_t i, const char *class_name, const char *where);

/* The InPlace mode (restore_inplace.c). `vols` is NULL in the steps that
 * no longer read the source (ScalingUp and after, RollingBack).
 * CTRL_RUN_STOP, or < 0. */
int app_restore_in_place(app_restore_run *r, const app_restore_volumes *vols);
/* The in-place checks (restore.h "checks": the StatefulSet, its opt-in
 * annotation, shape, StorageClasses against `vols`, the Secrets, the
 * position r->gtid) without changing anything, then the StatefulSet's
 * name, uid, replicas and primary pinned in r->st (written by the
 * caller's next write). What a point-in-time restore in place runs before
 * it makes anything. 0, CTRL_RUN_STOP (failed) or < 0. */
int app_restore_in_place_precheck(app_restore_run *r, app_restore_volumes *vols);
/* The volumeClaimTemplate named `volume` of StatefulSet `sts` (borrowed
 * from sts), or NULL. Pure. */
const json_t *app_restore_claim_template(const json_t *sts, const char *volume);
/* Whether `step` is one an in-place restore rolls back from on failure:
 * ScalingDown and ReplacingClaims (before every new claim is Bound). */
bool app_restore_in_place_can_roll_back(app_restore_step step);
/* An in-place restore fails with `reason` and the message in
 * r->run.message: from a step it can roll back from it rolls back (step
 * RollingBack, then Failed with step RolledBack); otherwise Failed at
 * once, the message naming the old volumes it keeps. CTRL_RUN_STOP, or
 * < 0. */
int app_restore_in_place_fail(app_restore_run *r, const char *reason);

/* The NewClaims mode's steps 4-6 without the end: checks, claims in
 * status (phase Restoring), created, waited for. 0 once every claim is
 * Bound; CTRL_RUN_STOP (waiting, failed) or < 0. */
int app_restore_new_claims_bound(app_restore_run *r, app_restore_volumes *vols);

/* A point-in-time restore in mode NewClaims (restore_replay.c), from
 * status.replay.step. `vols` is the base's volumes up to RestoringBase,
 * NULL after (app_restore_replay_past_source). CTRL_RUN_STOP or < 0. */
int app_restore_replay(app_restore_run *r, app_restore_volumes *vols);
/* On failure of a point-in-time restore: deletes the scratch Pod, every
 * claim of this Restore in status.claims (uid preconditions; they hold a
 * partly replayed copy) and, in place, the replayed VolumeSnapshots,
 * noting it in the message. 0 or < 0 (the failure is tried again). Also
 * the end of a successful restore in place (its scratch objects go). */
int app_restore_replay_cleanup(app_restore_run *r);

/* Between restore_replay.c (the replay) and restore_replay_inplace.c
 * (its in-place end); both follow the result convention above. */

/* A copy of `text` the run holds (freed when it ends), or NULL (out of
 * memory). */
const char *app_restore_replay_keep(app_restore_run *r, const char *text);
/* Moves status.replay to `step` (its start time now), the message made
 * from fmt, and writes status: recorded before the step is acted on. 0 or
 * < 0. */
int app_restore_replay_enter(app_restore_run *r, app_replay_step step, const char *fmt,
			     ...) __attribute__((format(printf, 3, 4)));
/* Whether replay.timeoutSeconds have passed in the current step. */
bool app_restore_replay_timed_out(const app_restore_run *r);
/* Writes status and requeues: soon in a step's first seconds, then each
 * poll interval. CTRL_RUN_STOP or < 0. */
int app_restore_replay_wait(app_restore_run *r);

/* RestoringBase, in place: r->spec's claims become the Restore's scratch
 * claims (<restore>-scratch-<volume>, each in its volume's template's
 * StorageClass; the StatefulSet read, and held). NewClaims: nothing. 0,
 * CTRL_RUN_STOP (TargetChanged, InvalidSpec) or < 0. */
int app_restore_replay_inplace_claims(app_restore_run *r,
				      const app_restore_volumes *vols);
/* Done, in place: the replayed snapshots' names recorded with step
 * Snapshotting, before the first is made. 0 or < 0. */
int app_restore_replay_inplace_enter(app_restore_run *r);
/* Snapshotting: each made and waited for, then SafetyBackup. */
int app_restore_replay_inplace_snapshotting(app_restore_run *r);
/* SafetyBackup: made once, waited for until Complete, then InPlace. */
int app_restore_replay_inplace_safety(app_restore_run *r);
/* InPlace: restore_inplace.c from the replayed snapshots at the target. */
int app_restore_replay_inplace_run(app_restore_run *r);
/* Deletes the replayed snapshots this Restore owns (uid precondition); *n
 * counts those deleted. 0 or < 0. */
int app_restore_replay_inplace_delete_snapshots(app_restore_run *r, size_t *n);

#endif
