/*
 * restore.c — the Restore reconciler: the run, the source, the NewClaims
 * mode; restore_inplace.c has the InPlace mode. See restore.h for the
 * steps, restore_check.h and restore_plan.h for the decisions. A
 * reconcile is a ctrl/run.h run (restore_run.h), its steps (restore_steps)
 * in that header's result convention.
 *
 * Invariants:
 *   - nothing is created, scaled or deleted before every check passed:
 *     the source's VolumeSnapshots (each exists, is the Backup's, is
 *     readyToUse with a restoreSize), the target StorageClass's provisioner
 *     against their driver, and the mode's own checks;
 *   - the Restore acts on status.acceptedSpec, the spec as it was at its
 *     start; an edit later is reported (SpecChangeIgnored) and ignored;
 *   - the claims are in status (phase Restoring) before the first create;
 *   - a claim is only ever created under the name the plan gives, carrying
 *     this Restore's name and uid; an existing claim without them is never
 *     touched; a failed NewClaims restore deletes (uid precondition) only
 *     its own claims that never bound — a Bound one may be the last copy
 *     of the data once a snapshot is gone, so it stays;
 *   - strings in the run's status borrow from JSON the run holds until it
 *     ends (r->run.obj and ctrl_run_hold()).
 *
 * Thread-safety: reconciles of different Restores run in parallel on the
 * controller's workers; they share only the metrics and the client.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/api/api.h"
#include "app/api/index.h"
#include "app/api/volumesnapshot.h"
#include "app/restore/restore.h"
#include "app/restore/restore_check.h"
#include "app/restore/restore_plan.h"
#include "app/restore/restore_replay_plan.h"
#include "app/restore/restore_run.h"
#include "ctrl/conditions.h"
#include "ctrl/object.h"
#include "ctrl/run.h"
#include "kube/rest.h"
#include "util/error.h"
#include "util/log.h"
#include "util/str.h"

const kube_resource app_restore_claims_res = { "", "v1", "persistentvolumeclaims", true };
const kube_resource app_restore_statefulsets = { "apps", "v1", "statefulsets", true };
const kube_resource app_restore_pvs = { "", "v1", "persistentvolumes", false };
const kube_resource app_restore_services = { "", "v1", "services", true };
const kube_resource app_restore_storage_classes = { "storage.k8s.io", "v1",
						    "storageclasses", false };

#define claims_res app_restore_claims_res

static int restore_encode_status(json_t *obj, void *payload);

int app_restore_ctrl_new(app_restore_ctrl **out, const app_restore_ctrl_opts *opts)
{
	static const char *const total_labels[] = { "namespace", "mode", "result",
						    "reason", NULL };
	static const char *const mode_labels[] = { "namespace", "mode", NULL };
	static const double buckets[] = { 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600 };
	app_restore_ctrl *rc;

	if (!opts || !opts->client || !opts->restores || !opts->backups)
		return ss_error_set(SS_EINVALID,
				    "restore controller: client and caches are required");
	rc = calloc(1, sizeof(*rc));
	if (rc == NULL)
		return ss_error_set(SS_ENOMEM, "restore controller: out of memory");
	rc->o = *opts;
	if (rc->o.clock == NULL)
		rc->o.clock = ss_clock_system();
	if (rc->o.poll_ns <= 0)
		rc->o.poll_ns = 2 * SS_NS_PER_SEC;
	rc->run_opts.client = rc->o.client;
	rc->run_opts.resource = &app_restores;
	rc->run_opts.events = rc->o.events;
	rc->run_opts.clock = rc->o.clock;
	rc->run_opts.encode = restore_encode_status;
	if (opts->metrics) {
		rc->m_total = ctrl_metrics_counter(
			opts->metrics, "snapstage_restores_total",
			"Restores finished, by mode, result and reason.", total_labels);
		rc->m_duration = ctrl_metrics_histogram(
			opts->metrics, "snapstage_restore_duration_seconds",
			"From the start of a Restore to Completed or Failed.",
			mode_labels, buckets, sizeof(buckets) / sizeof(buckets[0]));
		if (!rc->m_total || !rc->m_duration) {
			app_restore_ctrl_free(rc);
			return ss_error_last()->code < 0 ? ss_error_last()->code
							 : SS_EEXISTS;
		}
	}
	*out = rc;
	return 0;
}

void app_restore_ctrl_free(app_restore_ctrl *rc)
{
	free(rc);
}

/* ---- the run ---------------------------------------------------------------- */

static const char *restore_mode_name(const app_restore_run *r)
{
	return r->spec.mode == APP_MODE_IN_PLACE ? "InPlace" : "NewClaims";
}

/* The run's status encoder (the condition is the run's): the generation
 * observed is that of the copy being written. */
static int restore_encode_status(json_t *obj, void *payload)
{
	app_restore_run *r = payload;
	json_t *gen = json_object_get(json_object_get(obj, "metadata"), "generation");

	r->st.observed_generation = json_is_integer(gen) ? json_integer_value(gen) : 0;
	return app_restore_status_encode(obj, &r->st);
}

int app_restore_write(app_restore_run *r)
{
	int rc = ctrl_run_write_status(&r->run);

	if (rc < 0)
		ss_log(SS_LOG_WARN, "writing restore status failed",
		       SS_LS("restore", r->run.key), SS_LERR());
	return rc;
}

int app_restore_hold(app_restore_run *r, json_t *obj)
{
	if (obj != NULL && ctrl_run_hold(&r->run, obj) == NULL)
		return ss_error_set(SS_ENOMEM, "out of memory");
	return 0;
}

static void restore_observe_finish(app_restore_run *r, const char *result,
				   const char *reason)
{
	const char *lv[] = { r->run.ns, restore_mode_name(r), result, reason, NULL };
	const char *mlv[] = { r->run.ns, restore_mode_name(r), NULL };

	ctrl_run_observe_finish(r->rc->m_total, lv, r->rc->m_duration, mlv,
				r->st.start_ns, r->st.completion_ns);
}

/* Whether the Restore has changed nothing yet: no claim created, nothing
 * scaled or deleted. */
static bool restore_untouched(const app_restore_run *r)
{
	if (r->spec.mode == APP_MODE_IN_PLACE)
		return r->st.step == APP_STEP_NONE;
	return r->st.phase != APP_RESTORE_RESTORING;
}

int app_restore_fail_final(app_restore_run *r, const char *reason)
{
	size_t len;
	int rc;

	/* In place, a point-in-time restore's scratch objects go whatever
	 * happened to the target (rolled back, or failed after it). */
	if (r->spec.replay.enabled && r->spec.mode == APP_MODE_IN_PLACE &&
	    (rc = app_restore_replay_cleanup(r)) < 0)
		return rc;
	len = strlen(r->run.message);
	if (restore_untouched(r) && r->spec.replay.enabled &&
	    r->spec.mode == APP_MODE_IN_PLACE)
		snprintf(r->run.message + len, sizeof(r->run.message) - len,
			 "; StatefulSet %s was not touched",
			 r->spec.statefulset_name ? r->spec.statefulset_name : "?");
	else if (restore_untouched(r))
		snprintf(r->run.message + len, sizeof(r->run.message) - len,
			 "; nothing was changed");
	r->st.has_phase = true;
	r->st.phase = APP_RESTORE_FAILED;
	if (r->st.start_ns == 0)
		r->st.start_ns = r->run.now;
	r->st.completion_ns = r->run.now;
	ctrl_run_condition(&r->run, "Failed", CTRL_CONDITION_TRUE, reason);
	rc = app_restore_write(r);
	if (rc < 0)
		return rc;
	ss_log(SS_LOG_WARN, "restore failed", SS_LS("restore", r->run.key),
	       SS_LS("reason", reason), SS_LS("message", r->run.message));
	ctrl_run_event(&r->run, CTRL_EVENT_WARNING, "Failed", "%s: %s", reason,
		       r->run.message);
	restore_observe_finish(r, "failed", reason);
	return ctrl_run_stop(&r->run, ctrl_result_done());
}

int app_restore_complete(app_restore_run *r)
{
	int rc;

	r->st.phase = APP_RESTORE_COMPLETED;
	r->st.completion_ns = r->run.now;
	ctrl_run_condition(&r->run, "Complete", CTRL_CONDITION_TRUE, "Restored");
	rc = app_restore_write(r);
	if (rc < 0)
		return rc;
	ss_log(SS_LOG_INFO, "restore completed", SS_LS("restore", r->run.key),
	       SS_LS("message", r->run.message));
	ctrl_run_event(&r->run, CTRL_EVENT_NORMAL, "Completed", "%s", r->run.message);
	restore_observe_finish(r, "completed", "Restored");
	return ctrl_run_stop(&r->run, ctrl_result_done());
}

int app_restore_delete_claim(app_restore_run *r, const json_t *pvc)
{
	kube_delete_opts d = KUBE_DELETE_OPTS_INIT;
	int rc;

	d.precondition_uid = ctrl_meta(pvc, "uid");
	rc = kube_delete(NULL, r->rc->o.client, &claims_res, r->run.ns,
			 ctrl_meta(pvc, "name"), &d);
	if (rc == 0)
		ss_log(SS_LOG_INFO, "claim deleted", SS_LS("restore", r->run.key),
		       SS_LS("claim", ctrl_meta(pvc, "name")));
	return rc == SS_ENOTFOUND ? 0 : rc;
}

static int restore_claims_drop_unbound(app_restore_run *r);

int app_restore_fail(app_restore_run *r, const char *reason, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	ctrl_run_vmessage(&r->run, fmt, ap);
	va_end(ap);
	if (r->spec.mode == APP_MODE_IN_PLACE)
		return app_restore_in_place_fail(r, reason);
	if (r->st.phase == APP_RESTORE_RESTORING && r->spec.replay.enabled) {
		rc = app_restore_replay_cleanup(r);
		if (rc < 0)
			return rc;
	} else if (r->st.phase == APP_RESTORE_RESTORING) {
		rc = restore_claims_drop_unbound(r);
		if (rc < 0)
			return rc; /* tried again, never left behind */
	}
	return app_restore_fail_final(r, reason);
}

bool app_restore_timed_out(const app_restore_run *r)
{
	int64_t limit = (int64_t)r->spec.timeout_seconds * SS_NS_PER_SEC;

	return r->spec.timeout_seconds > 0 && r->run.now - r->st.start_ns > limit;
}

int app_restore_wait(app_restore_run *r)
{
	int64_t waited;
	int rc;

	if (app_restore_timed_out(r)) {
		char what[CTRL_RUN_MESSAGE_MAX];

		ss_strlcpy(what, r->run.message, sizeof(what));
		return app_restore_fail(r, "Timeout",
					"gave up after timeoutSeconds (%d): %s",
					r->spec.timeout_seconds, what);
	}
	rc = app_restore_write(r);
	if (rc < 0)
		return rc;
	/* A replay waits in its step (RestoringBase: claims binding), any
	 * other Restore since it began. */
	waited = r->run.now - (r->st.replay.step != APP_REPLAY_STEP_NONE
				       ? r->st.replay.step_start_ns
				       : r->st.start_ns);
	return ctrl_run_stop(&r->run, ctrl_result_requeue_after(app_restore_poll_after(
					      waited, r->rc->o.poll_ns)));
}

/* ---- step 3: the source ------------------------------------------------------ */

/* The volumes of a Backup's decoded status into *vols. */
static void restore_backup_volumes(app_restore_volumes *vols,
				   const app_backup_status *bst)
{
	size_t i;

	vols->n = 0;
	for (i = 0; i < bst->n_snapshots && vols->n < APP_MAX_VOLUMES; i++) {
		if (bst->snapshots[i].volume == NULL ||
		    bst->snapshots[i].volume_snapshot_name == NULL)
			continue;
		vols->v[vols->n].volume = bst->snapshots[i].volume;
		vols->v[vols->n].snapshot = bst->snapshots[i].volume_snapshot_name;
		vols->v[vols->n].restore_size_bytes =
			bst->snapshots[i].restore_size_bytes;
		vols->n++;
	}
}

/* The uid of the BackupSchedule the source names into *uid, borrowed from
 * an object the run holds; NULL when there is no schedule store or no such
 * schedule (then the label alone says which Backups are its). 0 or < 0. */
static int restore_schedule_uid(const char **uid, app_restore_run *r)
{
	json_t *sched = NULL;
	char key[CTRL_KEY_MAX];
	int rc;

	*uid = NULL;
	if (r->rc->o.schedules == NULL ||
	    ctrl_key_join(key, sizeof(key), r->run.ns, r->spec.source_name) != 0 ||
	    ctrl_store_get(&sched, r->rc->o.schedules, key) != 0 || sched == NULL)
		return 0;
	rc = app_restore_hold(r, sched);
	if (rc < 0)
		return rc;
	*uid = ctrl_meta(sched, "uid");
	return 0;
}

/* The base of a point-in-time restore among the schedule's Backups
 * `mine`: for a time target the newest whose data is not after it, for a
 * GTID target the newest whose position is nowhere past it (the GTID's
 * predecessor for inclusive false). SS_ENOTFOUND with the message when
 * none; SS_EINVALID for a target that does not parse. */
static int restore_pick_base(const char **name, app_restore_run *r, const json_t *mine,
			     const char *uid)
{
	app_gtid_pos bound;
	const char *reason = NULL;
	char why[256];

	if (r->spec.replay.has_time)
		return app_restore_pick_backup(name, NULL, mine, r->spec.source_name, uid,
					       true, r->spec.replay.time_ns, r->run.now);
	if (app_restore_replay_base_bound(&bound, &r->spec.replay, &reason, why,
					  sizeof(why)) < 0)
		return -1;
	return app_restore_pick_base_gtid(name, mine, r->spec.source_name, uid, &bound);
}

/* The Backup a scheduleName source means, into *name (borrowed from an
 * object the run holds). SS_ENOTFOUND with the message when none. */
static int restore_pick_from_schedule(const char **name, app_restore_run *r)
{
	json_t *all = NULL, *mine;
	const char *uid = NULL;
	size_t i;
	int64_t data_ns = 0;
	int rc;

	if (ctrl_store_by_index(&all, r->rc->o.backups, APP_INDEX_SCHEDULE,
				r->spec.source_name) < 0)
		return -1;
	rc = app_restore_hold(r, all);
	if (rc < 0)
		return rc;
	mine = ctrl_run_hold(&r->run, json_array());
	if (mine == NULL)
		return ss_error_set(SS_ENOMEM, "out of memory");
	for (i = 0; i < json_array_size(all); i++) {
		const char *ns = ctrl_meta(json_array_get(all, i), "namespace");

		if (ns && strcmp(ns, r->run.ns) == 0)
			json_array_append(mine, json_array_get(all, i));
	}
	rc = restore_schedule_uid(&uid, r);
	if (rc < 0)
		return rc;
	if (r->spec.replay.enabled)
		return restore_pick_base(name, r, mine, uid);
	return app_restore_pick_backup(name, &data_ns, mine, r->spec.source_name, uid,
				       r->spec.has_point_in_time,
				       r->spec.point_in_time_ns, r->run.now);
}

/* Step 3 for a Backup source (backupName, or the one recorded or picked).
 * 0 with *vols when it can be restored from; otherwise CTRL_RUN_STOP
 * (failed, or waiting) or < 0. A Backup that is no longer restorable
 * (a snapshot gone) goes on to the snapshot checks, which name the
 * snapshot. */
static int restore_source_backup(app_restore_volumes *vols, app_restore_run *r,
				 const char *bname)
{
	app_backup_status bst;
	json_t *b = NULL;
	const char *why = NULL;
	int rc;

	rc = kube_get(&b, r->rc->o.client, &app_backups, r->run.ns, bname);
	if (rc == SS_ENOTFOUND)
		return app_restore_fail(r, "SourceNotFound",
					"Backup %s/%s does not exist", r->run.ns, bname);
	if (rc < 0 || (rc = app_restore_hold(r, b)) < 0)
		return rc;
	r->backup = b;
	switch (app_restore_backup_state(b, &why)) {
	case APP_SOURCE_OK: break;
	case APP_SOURCE_FAILED:
		if (ctrl_condition_is_false(b, "Restorable"))
			break; /* the snapshot checks say which is gone */
		return app_restore_fail(r, "SourceNotReady",
					"Backup %s cannot be restored: %s", bname, why);
	case APP_SOURCE_WAIT:
		ctrl_run_message(&r->run, "waiting for Backup %s: %s", bname, why);
		return app_restore_wait(r);
	}
	app_backup_status_init(&bst);
	app_backup_status_decode(&bst, b);
	restore_backup_volumes(vols, &bst);
	r->gtid = app_backup_status_gtid(&bst);
	if (vols->n == 0)
		return app_restore_fail(r, "SourceNotReady",
					"Backup %s lists no VolumeSnapshots", bname);
	return 0;
}

/* Step 3 for a volumeSnapshotName source: one volume, named by the
 * snapshot's snapstage.io/volume label (a snapshot snapstage made), else
 * "data". Missing before the restore started: SourceNotFound; one still
 * being cut is waited for; anything else is left to the checks (which
 * also catch it vanishing mid-restore). 0, CTRL_RUN_STOP or < 0. */
static int restore_source_snapshot(app_restore_volumes *vols, app_restore_run *r)
{
	const char *vsname = r->spec.source_name;
	app_vs_state vst;
	json_t *vs = NULL;
	const char *volume = NULL;
	int rc;

	rc = kube_get(&vs, r->rc->o.client, &app_volumesnapshots, r->run.ns, vsname);
	if (rc < 0 && rc != SS_ENOTFOUND)
		return rc;
	rc = app_restore_hold(r, vs);
	if (rc < 0)
		return rc;
	r->source_vs = vs;
	if (vs == NULL && r->st.phase != APP_RESTORE_RESTORING)
		return app_restore_fail(r, "SourceNotFound",
					"VolumeSnapshot %s/%s does not exist", r->run.ns,
					vsname);
	if (vs != NULL && app_vs_state_read(&vst, vs) == 0 && vst.error == NULL &&
	    !vst.ready_to_use && r->st.phase != APP_RESTORE_RESTORING &&
	    r->st.step == APP_STEP_NONE) {
		ctrl_run_message(&r->run,
				 "waiting for VolumeSnapshot %s to be readyToUse",
				 vsname);
		return app_restore_wait(r);
	}
	if (vs != NULL) {
		volume = ctrl_label(vs, APP_LABEL_VOLUME);
		r->gtid = ctrl_annotation(vs, APP_ANNOTATION_GTID_CURRENT_POS);
	}
	vols->v[0].volume = volume ? volume : "data";
	vols->v[0].snapshot = vsname;
	vols->v[0].restore_size_bytes = -1;
	vols->n = 1;
	return 0;
}

int app_restore_check_sources(app_restore_run *r, app_restore_volumes *vols)
{
	const char *reason = NULL;
	size_t i;
	int rc;

	for (i = 0; i < vols->n; i++) {
		json_t *vs = NULL;

		rc = kube_get(&vs, r->rc->o.client, &app_volumesnapshots, r->run.ns,
			      vols->v[i].snapshot);
		if (rc < 0 && rc != SS_ENOTFOUND)
			return rc;
		rc = app_restore_hold(r, vs);
		if (rc < 0)
			return rc;
		if (app_restore_check_snapshot(
			    &vols->info[i], &reason, vols->v[i].snapshot, vs,
			    r->snapshot_owner ? r->snapshot_owner : r->backup) < 0) {
			char what[CTRL_RUN_MESSAGE_MAX];

			ss_strlcpy(what, ss_error_last()->message, sizeof(what));
			return app_restore_fail(r, reason, "%s", what);
		}
		vols->v[i].restore_size_bytes = vols->info[i].restore_size_bytes;
	}
	return 0;
}

int app_restore_storage_class(const json_t **out, app_restore_run *r, const char *name)
{
	json_t *got = NULL;
	kube_list_opts lo;
	int rc;

	*out = NULL;
	if (name != NULL) {
		rc = kube_get(&got, r->rc->o.client, &app_restore_storage_classes, NULL,
			      name);
		if (rc == SS_ENOTFOUND)
			return 0;
		if (rc < 0 || (rc = app_restore_hold(r, got)) < 0)
			return rc;
		*out = got;
		return 0;
	}
	memset(&lo, 0, sizeof(lo));
	rc = kube_list(&got, r->rc->o.client, &app_restore_storage_classes, NULL, &lo);
	if (rc < 0 || (rc = app_restore_hold(r, got)) < 0)
		return rc;
	*out = app_restore_default_class(json_object_get(got, "items"));
	return 0;
}

int app_restore_check_drivers(app_restore_run *r, const app_restore_volumes *vols,
			      const char *class_name, const char *where)
{
	const json_t *sc = NULL;
	const char *reason = NULL;
	size_t i;
	int rc;

	rc = app_restore_storage_class(&sc, r, class_name);
	if (rc < 0)
		return rc;
	for (i = 0; i < vols->n; i++) {
		json_t *content = NULL;

		rc = kube_get(&content, r->rc->o.client, &app_volumesnapshotcontents,
			      NULL, vols->info[i].content_name);
		if (rc < 0 && rc != SS_ENOTFOUND)
			return rc;
		rc = app_restore_hold(r, content);
		if (rc < 0)
			return rc;
		if (app_restore_check_driver(&reason, vols->v[i].snapshot, content, sc,
					     class_name, where) < 0) {
			char what[CTRL_RUN_MESSAGE_MAX];

			ss_strlcpy(what, ss_error_last()->message, sizeof(what));
			return app_restore_fail(r, reason, "%s", what);
		}
	}
	return 0;
}

int app_restore_check_driver_of(app_restore_run *r, const app_restore_volumes *vols,
				size_t i, const char *class_name, const char *where)
{
	app_restore_volumes one;

	memset(&one, 0, sizeof(one));
	one.v[0] = vols->v[i];
	one.info[0] = vols->info[i];
	one.n = 1;
	return app_restore_check_drivers(r, &one, class_name, where);
}

/* ---- NewClaims ----------------------------------------------------------------- */

/* Step 4's last check, nothing created yet: the claims must not exist
 * unless this Restore made them. 0, CTRL_RUN_STOP (ClaimExists) or < 0. */
static int restore_claims_check(app_restore_run *r, const json_t *planned)
{
	json_t *pvc;
	size_t i;
	int rc;

	json_array_foreach((json_t *)planned, i, pvc)
	{
		const char *cname = ctrl_meta(pvc, "name");
		json_t *have = NULL;
		bool ours;

		rc = kube_get(&have, r->rc->o.client, &claims_res, r->run.ns, cname);
		if (rc == SS_ENOTFOUND)
			continue;
		if (rc < 0)
			return rc;
		ours = app_restore_claim_is_ours(have, r->run.obj);
		json_decref(have);
		if (!ours)
			return app_restore_fail(
				r, "ClaimExists",
				"PersistentVolumeClaim %s/%s already exists and was not "
				"made by this Restore",
				r->run.ns, cname);
	}
	return 0;
}

/* Step 5, second half: creates the planned claims that are not there yet.
 * 0, CTRL_RUN_STOP (ClaimExists) or < 0. */
static int restore_claims_create(app_restore_run *r, const json_t *planned)
{
	json_t *pvc;
	size_t i, made = 0;
	int rc;

	json_array_foreach((json_t *)planned, i, pvc)
	{
		const char *cname = ctrl_meta(pvc, "name");
		json_t *have = NULL;
		bool foreign;

		rc = kube_create(NULL, r->rc->o.client, &claims_res, r->run.ns, pvc);
		if (rc == 0) {
			made++;
			ss_log(SS_LOG_INFO, "claim created", SS_LS("restore", r->run.key),
			       SS_LS("claim", cname));
			continue;
		}
		if (rc != SS_EEXISTS)
			return rc;
		rc = kube_get(&have, r->rc->o.client, &claims_res, r->run.ns, cname);
		foreign = rc == 0 && !app_restore_claim_is_ours(have, r->run.obj);
		json_decref(have);
		if (foreign)
			return app_restore_fail(
				r, "ClaimExists",
				"PersistentVolumeClaim %s/%s was created by someone else "
				"while this Restore ran",
				r->run.ns, cname);
	}
	if (made > 0)
		ctrl_run_event(&r->run, CTRL_EVENT_NORMAL, "ClaimsCreated",
			       "created %zu PersistentVolumeClaim(s) from %s", made,
			       r->st.source_backup ? r->st.source_backup
						   : r->spec.source_name);
	return 0;
}

/* On failure: deletes (uid precondition) this Restore's claims that are not
 * Bound, and says in the message which were deleted and which stay. 0, or
 * < 0 when a delete failed (the failure is then tried again). */
static int restore_claims_drop_unbound(app_restore_run *r)
{
	char dropped[256] = "", kept[256] = "";
	size_t i, nd = 0, nk = 0, ld = 0, lk = 0;
	int rc;

	for (i = 0; i < r->st.n_claims; i++) {
		json_t *pvc = NULL;
		bool ours;

		rc = kube_get(&pvc, r->rc->o.client, &claims_res, r->run.ns,
			      r->st.claims[i].name);
		if (rc == SS_ENOTFOUND)
			continue;
		if (rc < 0)
			return rc;
		ours = app_restore_claim_is_ours(pvc, r->run.obj);
		if (ours && app_restore_claim_state(pvc) == APP_CLAIM_BOUND) {
			nk++;
			ss_list_append(kept, sizeof(kept), &lk, r->st.claims[i].name);
		} else if (ours) {
			rc = app_restore_delete_claim(r, pvc);
			if (rc < 0) {
				json_decref(pvc);
				return rc;
			}
			nd++;
			ss_list_append(dropped, sizeof(dropped), &ld,
				       r->st.claims[i].name);
		}
		json_decref(pvc);
	}
	if (nd > 0 || nk > 0) {
		size_t len = strlen(r->run.message);

		snprintf(r->run.message + len, sizeof(r->run.message) - len,
			 "; deleted %zu claim(s) it made that never bound (%s); kept "
			 "%zu Bound (%s)",
			 nd, nd ? dropped : "none", nk, nk ? kept : "none");
	}
	return 0;
}

/* Step 6: 0 when every claim is Bound; otherwise CTRL_RUN_STOP (waiting,
 * or failed) or < 0. While waiting, the sources are checked again so a
 * snapshot deleted meanwhile fails at once instead of at the timeout. */
static int restore_claims_bound(app_restore_run *r, app_restore_volumes *vols)
{
	size_t i, pending = 0;
	const char *first = NULL;
	int rc;

	for (i = 0; i < r->st.n_claims; i++) {
		json_t *pvc = NULL;
		app_claim_state cs;

		rc = kube_get(&pvc, r->rc->o.client, &claims_res, r->run.ns,
			      r->st.claims[i].name);
		if (rc < 0 && rc != SS_ENOTFOUND)
			return rc;
		cs = rc == 0 ? app_restore_claim_state(pvc) : APP_CLAIM_LOST;
		json_decref(pvc);
		if (cs == APP_CLAIM_LOST)
			return app_restore_fail(
				r, "ClaimLost", "PersistentVolumeClaim %s is %s",
				r->st.claims[i].name, rc == 0 ? "Lost" : "gone");
		r->st.claims[i].bound = cs == APP_CLAIM_BOUND;
		if (cs == APP_CLAIM_PENDING && pending++ == 0)
			first = r->st.claims[i].name;
	}
	if (pending == 0)
		return 0;
	rc = app_restore_check_sources(r, vols);
	if (rc != 0)
		return rc;
	ctrl_run_message(&r->run, "waiting for %zu of %zu claims to be Bound (%s, ...)",
			 pending, r->st.n_claims, first);
	return app_restore_wait(r);
}

/* Records the planned claims in status (step 5, before any create). */
static void restore_claims_record(app_restore_run *r, const json_t *planned)
{
	json_t *pvc;
	size_t i;

	r->st.n_claims = 0;
	json_array_foreach((json_t *)planned, i, pvc)
	{
		const json_t *ds =
			json_object_get(json_object_get(pvc, "spec"), "dataSource");
		app_claim_status *cs = &r->st.claims[r->st.n_claims];

		if (r->st.n_claims == APP_MAX_CLAIMS)
			break;
		cs->name = ctrl_meta(pvc, "name");
		cs->volume = ctrl_label(pvc, APP_LABEL_VOLUME);
		cs->volume_snapshot_name = json_string_value(json_object_get(ds, "name"));
		cs->bound = false; /* step 6 reads it again */
		r->st.n_claims++;
	}
}

/* Whether a spec claim has a class of its own (only the scratch claims of
 * an in-place point-in-time restore: api.h). */
static bool restore_claims_own_classes(const app_restore_run *r)
{
	size_t i;

	for (i = 0; i < r->spec.n_claims; i++)
		if (r->spec.claims[i].storage_class != NULL)
			return true;
	return false;
}

/* Each source snapshot against the class its claim asks for: the spec
 * claim's own, else spec.storage_class. 0, CTRL_RUN_STOP or < 0. */
static int restore_claims_check_each(app_restore_run *r, const app_restore_volumes *vols)
{
	char where[320];
	size_t i, j;
	int rc = 0;

	for (i = 0; rc == 0 && i < vols->n; i++) {
		const char *cls = r->spec.storage_class;

		for (j = 0; j < r->spec.n_claims; j++)
			if (ss_streq(r->spec.claims[j].volume, vols->v[i].volume) &&
			    r->spec.claims[j].storage_class != NULL)
				cls = r->spec.claims[j].storage_class;
		snprintf(where, sizeof(where), "the claim of volume %s", vols->v[i].volume);
		rc = app_restore_check_driver_of(r, vols, i, cls, where);
	}
	return rc;
}

/* Step 4 before the claims are planned: the snapshots and the target
 * StorageClass, once (not again after phase Restoring). 0,
 * CTRL_RUN_STOP or < 0. */
static int restore_claims_check_source(app_restore_run *r, app_restore_volumes *vols)
{
	int rc;

	if (r->st.phase == APP_RESTORE_RESTORING)
		return 0;
	rc = app_restore_check_sources(r, vols);
	if (rc == 0 && !restore_claims_own_classes(r))
		rc = app_restore_check_drivers(r, vols, r->spec.storage_class,
					       "spec.target.newClaims");
	else if (rc == 0)
		rc = restore_claims_check_each(r, vols);
	return rc;
}

/* The claims of the restore (restore_plan.h), held by the run, into
 * *planned. 0, CTRL_RUN_STOP (InvalidSpec, SourceNotReady) or < 0. */
static int restore_claims_plan(const json_t **planned, app_restore_run *r,
			       const app_restore_volumes *vols)
{
	app_restore_claims_in in;
	json_t *out = NULL;
	const char *reason = NULL;
	int rc;

	memset(&in, 0, sizeof(in));
	in.restore = r->run.obj;
	in.spec = &r->spec;
	in.volumes = vols->v;
	in.n_volumes = vols->n;
	if (app_restore_claims_plan(&out, &reason, &in) < 0)
		return app_restore_fail(r, reason ? reason : "InvalidSpec", "%s",
					ss_error_last()->message);
	rc = app_restore_hold(r, out);
	/* in place, the replay's claims are scratch: the Restore's own */
	if (rc == 0 && r->spec.replay.enabled && r->spec.mode == APP_MODE_IN_PLACE)
		rc = app_restore_replay_own_claims(out, r->run.obj);
	if (rc < 0)
		return rc;
	*planned = out;
	return 0;
}

/* Step 5, first half: phase Restoring with the claims in status, written
 * before the first create, with an Event. 0 or < 0. */
static int restore_claims_start(app_restore_run *r, const json_t *planned)
{
	int rc;

	restore_claims_record(r, planned);
	if (r->st.phase == APP_RESTORE_RESTORING)
		return 0;
	r->st.has_phase = true;
	r->st.phase = APP_RESTORE_RESTORING;
	ctrl_run_message(&r->run, "creating %zu claim(s) from %s", r->st.n_claims,
			 r->st.source_backup ? r->st.source_backup : r->spec.source_name);
	rc = app_restore_write(r);
	if (rc < 0)
		return rc;
	ctrl_run_event(&r->run, CTRL_EVENT_NORMAL, "Restoring", "%s", r->run.message);
	return 0;
}

int app_restore_new_claims_bound(app_restore_run *r, app_restore_volumes *vols)
{
	const json_t *planned = NULL;
	int rc;

	/* 4: every check, before anything is created */
	rc = restore_claims_check_source(r, vols);
	if (rc == 0)
		rc = restore_claims_plan(&planned, r, vols);
	if (rc == 0 && r->st.phase != APP_RESTORE_RESTORING)
		rc = restore_claims_check(r, planned);
	/* 5: the claims in status first, then created */
	if (rc == 0)
		rc = restore_claims_start(r, planned);
	if (rc == 0)
		rc = restore_claims_create(r, planned);
	/* 6 */
	if (rc == 0)
		rc = restore_claims_bound(r, vols);
	return rc;
}

/* The NewClaims mode, steps 4-6 (restore.h). CTRL_RUN_STOP or < 0. */
static int restore_new_claims(app_restore_run *r, app_restore_volumes *vols)
{
	int rc = app_restore_new_claims_bound(r, vols);

	if (rc != 0)
		return rc;
	ctrl_run_message(&r->run, "%zu claim(s) Bound, restored from %s", r->st.n_claims,
			 r->st.source_backup ? r->st.source_backup : r->spec.source_name);
	return app_restore_complete(r);
}

/* ---- one reconcile -------------------------------------------------------------- */

/* Step 1: the Restore from the API (the cache only says it exists), its
 * status into r->st. 0; CTRL_RUN_STOP (done) when there is nothing to do:
 * gone, being deleted, finished; or < 0. */
static int restore_load(app_restore_run *r)
{
	int rc;

	rc = ctrl_run_read(&r->run, r->rc->o.restores, false);
	if (rc != 0)
		return rc;
	app_restore_status_init(&r->st);
	app_restore_status_decode(&r->st, r->run.obj);
	if (r->st.has_phase &&
	    (r->st.phase == APP_RESTORE_COMPLETED || r->st.phase == APP_RESTORE_FAILED))
		return ctrl_run_stop(&r->run, ctrl_result_done());
	if (r->st.start_ns == 0)
		r->st.start_ns = r->run.now;
	if (r->st.message) {
		ss_strlcpy(r->run.message, r->st.message, sizeof(r->run.message));
		r->st.message = r->run.message;
	}
	return 0;
}

/* Step 2 at the start: the spec decoded (InvalidSpec, NotAcknowledged
 * fail) and accepted as status.acceptedSpec with status.mode. 0,
 * CTRL_RUN_STOP or < 0. */
static int restore_accept_first(app_restore_run *r)
{
	const char *reason = NULL;

	r->st.accepted_spec = json_object_get(r->run.obj, "spec");
	if (app_restore_spec_decode(&r->spec, r->run.obj, &reason) < 0) {
		r->st.accepted_spec = NULL;
		return app_restore_fail(r, reason ? reason : "InvalidSpec", "%s",
					ss_error_last()->message);
	}
	r->st.mode = restore_mode_name(r);
	return 0;
}

/* Step 2: the spec the Restore acts on — status.acceptedSpec once it has
 * started, so an edit later changes nothing (reported once per generation
 * as SpecChangeIgnored). 0, CTRL_RUN_STOP or < 0. */
static int restore_accept_spec(app_restore_run *r)
{
	const json_t *now = json_object_get(r->run.obj, "spec");
	const json_t *meta = json_object_get(r->run.obj, "metadata");
	app_restore_spec edited;
	char what[256] = "";
	json_t *view;

	if (r->st.accepted_spec == NULL)
		return restore_accept_first(r);
	view = ctrl_run_hold(&r->run, json_pack("{s:O,s:O}", "metadata", meta, "spec",
						r->st.accepted_spec));
	if (view == NULL || app_restore_spec_decode(&r->spec, view, NULL) < 0)
		return -1; /* it decoded when it was accepted */
	if (json_equal(now, r->st.accepted_spec) ||
	    json_integer_value(json_object_get(meta, "generation")) ==
		    r->st.observed_generation)
		return 0;
	if (app_restore_spec_decode(&edited, r->run.obj, NULL) == 0)
		app_restore_pinned_changes(what, sizeof(what), &edited, &r->st);
	ctrl_run_event(&r->run, CTRL_EVENT_WARNING, "SpecChangeIgnored",
		       "spec changed after the Restore started (%s); it goes on "
		       "with the spec it started with (status.acceptedSpec)",
		       what[0] ? what : "see status.acceptedSpec");
	return 0;
}

/* Step 3: resolve the source (recorded once: status.sourceBackup) into
 * *vols. 0, CTRL_RUN_STOP or < 0. */
static int restore_resolve_source(app_restore_run *r, app_restore_volumes *vols)
{
	const char *bname;

	if (r->spec.source_kind == APP_SOURCE_VOLUME_SNAPSHOT)
		return restore_source_snapshot(vols, r);
	bname = r->st.source_backup;
	if (bname == NULL && r->spec.source_kind == APP_SOURCE_BACKUP)
		bname = r->spec.source_name;
	if (bname == NULL) {
		if (restore_pick_from_schedule(&bname, r) < 0) {
			int code = ss_error_last()->code;

			if (code != SS_ENOTFOUND)
				return -1;
			return app_restore_fail(r,
						r->spec.replay.enabled
							? "NoBaseBeforeTarget"
							: "SourceNotFound",
						"%s", ss_error_last()->message);
		}
		ctrl_run_event(&r->run, CTRL_EVENT_NORMAL, "SourceChosen",
			       "restoring Backup %s of schedule %s", bname,
			       r->spec.source_name);
	}
	r->st.source_backup = bname;
	return restore_source_backup(vols, r, bname);
}

/* An in-place restore past ReplacingClaims no longer reads the source
 * (the position is pinned). */
static bool restore_past_source(const app_restore_run *r)
{
	return r->spec.mode == APP_MODE_IN_PLACE && r->st.step != APP_STEP_NONE &&
	       !app_restore_in_place_can_roll_back(r->st.step);
}

/* Steps 3-6 with the source: resolved, its snapshots recorded in status,
 * then the mode. CTRL_RUN_STOP or < 0. */
static int restore_from_source(app_restore_run *r)
{
	app_restore_volumes *vols = calloc(1, sizeof(*vols));
	size_t i;
	int rc;

	if (vols == NULL)
		return -1;
	rc = restore_resolve_source(r, vols);
	if (rc != 0)
		goto cleanup;
	r->st.n_source_snapshots = 0;
	for (i = 0; i < vols->n; i++)
		r->st.source_snapshots[r->st.n_source_snapshots++] = vols->v[i].snapshot;
	if (r->spec.replay.enabled)
		rc = app_restore_replay(r, vols);
	else if (r->spec.mode == APP_MODE_IN_PLACE)
		rc = app_restore_in_place(r, vols);
	else
		rc = restore_new_claims(r, vols);
cleanup:
	free(vols);
	return rc;
}

/* What a point-in-time restore refuses before anything is touched (in
 * place, --enable-in-place-restore was checked before; the in-place
 * checks run when it is accepted, restore_replay.c). 0 or CTRL_RUN_STOP. */
static int restore_replay_refusals(app_restore_run *r)
{
	app_gtid_pos bound;
	const char *reason = NULL;
	char why[256];

	if (!r->spec.replay.has_time &&
	    app_restore_replay_base_bound(&bound, &r->spec.replay, &reason, why,
					  sizeof(why)) < 0)
		return app_restore_fail(r, reason, "%s", why);
	return 0;
}

/* A time target still in the future, before the Restore has begun:
 * TargetNotReached with nothing made. 0 or CTRL_RUN_STOP. */
static int restore_replay_not_yet(app_restore_run *r)
{
	const char *reason = NULL;
	char why[256];

	if (app_restore_replay_check_time(&r->spec.replay, r->run.now, &reason, why,
					  sizeof(why)) == 0)
		return 0;
	return app_restore_fail(r, reason, "%s", why);
}

/* Steps 1-6 (restore.h), in the convention of ctrl/run.h: each step
 * returns < 0 (retried), 0 (go on) or CTRL_RUN_STOP (the run's result). */
static int restore_steps(app_restore_run *r)
{
	int rc;

	/* 1 */
	rc = restore_load(r);
	/* 2 */
	if (rc == 0)
		rc = restore_accept_spec(r);
	if (rc != 0)
		return rc;
	if (r->spec.mode == APP_MODE_IN_PLACE && !r->rc->o.enable_in_place)
		return app_restore_fail(r, "InPlaceRestoreDisabled",
					"the controller runs without "
					"--enable-in-place-restore");
	if (r->spec.replay.enabled && !r->rc->o.enable_replay)
		return app_restore_fail(r, "PointInTimeRestoreDisabled",
					"the controller runs without "
					"--enable-point-in-time-restore");
	if (r->spec.replay.enabled && !r->st.has_phase &&
	    (rc = restore_replay_not_yet(r)) != 0)
		return rc;
	if (r->spec.replay.enabled && (rc = restore_replay_refusals(r)) != 0)
		return rc;
	if (!r->st.has_phase) {
		r->st.has_phase = true;
		r->st.phase = APP_RESTORE_PENDING;
	}
	if (restore_past_source(r))
		return app_restore_in_place(r, NULL);
	if (r->spec.replay.enabled && app_restore_replay_past_source(r->st.replay.step))
		return app_restore_replay(r, NULL);
	/* 3-6 */
	return restore_from_source(r);
}

ctrl_result app_restore_reconcile(void *payload, const char *key)
{
	app_restore_ctrl *rc = payload;
	app_restore_run *r = calloc(1, sizeof(*r));
	ctrl_result res;
	int err;

	if (r == NULL) {
		ss_error_set(SS_ENOMEM, "out of memory");
		return ctrl_result_error();
	}
	r->rc = rc;
	err = ctrl_run_init(&r->run, &rc->run_opts, key, r);
	r->run.status_message = &r->st.message; /* ctrl_run_message() sets it */
	if (err == 0)
		err = restore_steps(r);
	else
		err = ctrl_run_stop(&r->run, ctrl_result_done()); /* no such key */
	res = ctrl_run_result(&r->run, err);
	ctrl_run_finish(&r->run);
	free(r);
	return res;
}
