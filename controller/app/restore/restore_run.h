/*
 * restore_run.h — internal to the Restore controller (restore.c,
 * restore_inplace.c): one reconcile of one Restore as a `run`, and the
 * helpers both modes use to report (status, conditions, Events, metrics)
 * and to end it. Not for other modules.
 *
 * Invariants:
 *   - strings in r->st borrow from JSON the run holds (app_restore_keep)
 *     or copies (app_restore_own) until it ends;
 *   - a run writes status through app_restore_write(), which writes only
 *     what changed;
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

#define APP_RESTORE_MSG_MAX 2048
#define APP_RESTORE_KEEP_MAX 48

extern const kube_resource app_restore_claims_res;
extern const kube_resource app_restore_statefulsets;
extern const kube_resource app_restore_pvs;
extern const kube_resource app_restore_storage_classes;

struct app_restore_ctrl {
	app_restore_ctrl_opts o;
	ctrl_counter *m_total;
	ctrl_histogram *m_duration;
};

/* The source's volumes, each with what its VolumeSnapshot said when it was
 * checked (info is zero before app_restore_check_sources()). */
typedef struct {
	app_restore_volume v[APP_MAX_VOLUMES];
	app_restore_snapshot_info info[APP_MAX_VOLUMES];
	size_t n;
} app_restore_volumes;

typedef struct {
	app_restore_ctrl *rc;
	const char *key;
	char ns[CTRL_KEY_MAX];
	char name[CTRL_KEY_MAX];
	int64_t now;
	json_t *obj;	    /* the Restore, latest copy (also in keep) */
	json_t *backup;	    /* the source Backup, when it is one */
	json_t *source_vs;  /* the source VolumeSnapshot, for that source */
	json_t *strings;    /* copies app_restore_own() made */
	json_t *keep[APP_RESTORE_KEEP_MAX];
	size_t n_keep;
	app_restore_spec spec;
	app_restore_status st;
	const char *gtid; /* the source's GTID position, or NULL */
	const char *cond_type; /* a condition to set True with the next write */
	const char *cond_reason;
	const char *cond_remove; /* a condition to remove with the next write */
	char message[APP_RESTORE_MSG_MAX];
} app_restore_run;

/* Holds `obj` (a new reference) until the run ends; returns it. */
json_t *app_restore_keep(app_restore_run *r, json_t *obj);
/* A copy of `s` that lives as long as the run (NULL for NULL, and on out
 * of memory, which the next status write then reports). */
const char *app_restore_own(app_restore_run *r, const char *s);

void app_restore_event(app_restore_run *r, ctrl_event_type type, const char *reason,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Sets status.message (no argument may point into r->message). */
void app_restore_message(app_restore_run *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void app_restore_vmessage(app_restore_run *r, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* Writes status (and the pending condition) when it changed. 0 or < 0. */
int app_restore_write(app_restore_run *r);

/* Ends the Restore: Failed with `reason` and the message, an Event and the
 * metrics. An in-place restore goes through app_restore_in_place_fail()
 * (which may roll back first); a NewClaims one that has created claims
 * deletes those that never bound (uid precondition) first. */
ctrl_result app_restore_fail(app_restore_run *r, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Failed for good with the message already set (no rollback). */
ctrl_result app_restore_fail_final(app_restore_run *r, const char *reason);
/* Completed, with the message already set. */
ctrl_result app_restore_complete(app_restore_run *r);

/* Deletes claim `pvc` (as read) with its uid as the precondition, so only
 * this incarnation goes; gone already is 0. 0 or < 0. */
int app_restore_delete_claim(app_restore_run *r, const json_t *pvc);

/* Whether timeoutSeconds have passed since the start. */
bool app_restore_timed_out(const app_restore_run *r);
/* Requeue after the poll interval with status written, or Failed Timeout
 * (through app_restore_fail) when timed out; the message says what it
 * waited for. */
ctrl_result app_restore_wait(app_restore_run *r);

/* Checks every source VolumeSnapshot again (GET each): exists, belongs to
 * the Backup, readyToUse with a restoreSize. 0 with vols->info filled, 1
 * with *res (Failed, or rolled back) when one is not, < 0 on an API error
 * (*res an error result). */
int app_restore_check_sources(ctrl_result *res, app_restore_run *r,
			      app_restore_volumes *vols);

/* The StorageClass a claim of class `name` (NULL: the default) gets, into
 * *out (kept by the run; NULL when none). 0 or < 0. */
int app_restore_storage_class(const json_t **out, app_restore_run *r, const char *name);

/* Checks that every source snapshot's driver is the provisioner of
 * StorageClass `class_name` (NULL: the default). 0, 1 with *res (Failed),
 * < 0 with *res an error result. */
int app_restore_check_drivers(ctrl_result *res, app_restore_run *r,
			      const app_restore_volumes *vols, const char *class_name,
			      const char *where);

/* The InPlace mode (restore_inplace.c). `vols` is NULL in the steps that
 * no longer read the source (ScalingUp and after, RollingBack). */
ctrl_result app_restore_in_place(app_restore_run *r, const app_restore_volumes *vols);
/* Whether `step` is one an in-place restore rolls back from on failure:
 * ScalingDown and ReplacingClaims (before every new claim is Bound). */
bool app_restore_in_place_can_roll_back(app_restore_step step);
/* An in-place restore fails with `reason` and the message in r->message:
 * from a step it can roll back from it rolls back (step RollingBack, then
 * Failed with step RolledBack); otherwise Failed at once, the message
 * naming the old volumes it keeps. */
ctrl_result app_restore_in_place_fail(app_restore_run *r, const char *reason);

#endif
