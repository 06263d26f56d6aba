/*
 * restore_replay_inplace.c — the in-place end of a point-in-time restore
 * (issue 19), after restore_replay.c has replayed the base into the
 * Restore's own scratch claims (<restore>-scratch-<volume>, each in its
 * volumeClaimTemplate's StorageClass) and shut the scratch server down:
 *   Snapshotting   a VolumeSnapshot of each scratch claim
 *                  (<restore>-replayed-<volume>, owned by the Restore),
 *                  readyToUse within replay.timeoutSeconds
 *                  (ReplaySnapshotFailed);
 *   SafetyBackup   a Backup of the target's current primary
 *                  (<restore>-safety: the base's spec with role Primary,
 *                  deliberately not owned, so it outlives the Restore),
 *                  Complete within replay.timeoutSeconds
 *                  (SafetyBackupFailed: the StatefulSet untouched);
 *   InPlace        restore_inplace.c's steps from the replayed snapshots,
 *                  the replicas set up at the target position.
 * Invariants: every name is deterministic and recorded in status before
 * the object is made, so a restarted controller finds, never duplicates;
 * a foreign object of such a name fails the Restore untouched; replayed
 * snapshots are deleted only with this Restore's uid as owner and as
 * precondition. Nothing here touches the StatefulSet before the safety
 * Backup is Complete.
 *
 * Thread-safety: one run per worker (restore_run.h).
 */
#include <stdlib.h>
#include <string.h>

#include "app/api/names.h"
#include "app/api/owner.h"
#include "app/api/volumesnapshot.h"
#include "app/restore/restore_plan.h"
#include "app/restore/restore_replay_plan.h"
#include "app/restore/restore_run.h"
#include "ctrl/conditions.h"
#include "ctrl/object.h"
#include "kube/rest.h"
#include "util/error.h"
#include "util/log.h"

/* The storageClassName of StatefulSet `sts`'s volumeClaimTemplate
 * `volume` (NULL: none, the cluster default). */
static const char *inplace_template_class(const json_t *sts, const char *volume)
{
	return json_string_value(json_object_get(
		json_object_get(app_restore_claim_template(sts, volume), "spec"),
		"storageClassName"));
}

/* In place, the replay's claims are scratch ones of the Restore's own
 * (app_restore_replay_name; restore.c marks them owned), each in the
 * StorageClass of its volume's template (they once all took the first
 * volume's: a binlog volume of another driver could not be restored).
 * 0, CTRL_RUN_STOP or < 0. NewClaims: the spec's claims, nothing to do. */
int app_restore_replay_inplace_claims(app_restore_run *r, const app_restore_volumes *vols)
{
	const char *sts_name = r->st.statefulset_name ? r->st.statefulset_name
						      : r->spec.statefulset_name;
	char name[APP_NAME_BUF];
	json_t *sts = NULL;
	size_t i;
	int rc;

	if (r->spec.mode != APP_MODE_IN_PLACE)
		return 0;
	rc = kube_get(&sts, r->rc->o.client, &app_restore_statefulsets, r->run.ns,
		      sts_name);
	if (rc == SS_ENOTFOUND)
		return app_restore_fail(r, "TargetChanged",
					"StatefulSet %s was deleted before the restore "
					"reached it",
					sts_name);
	if (rc < 0 || (rc = app_restore_hold(r, sts)) < 0)
		return rc;
	r->spec.storage_class = NULL;
	r->spec.n_claims = 0;
	for (i = 0; i < vols->n && i < APP_MAX_CLAIMS; i++) {
		if (app_restore_replay_name(name, APP_REPLAY_OBJ_SCRATCH_CLAIM,
					    r->run.name, vols->v[i].volume) < 0)
			return app_restore_fail(r, "InvalidSpec", "a scratch claim: %s",
						ss_error_last()->message);
		r->spec.claims[i].volume = vols->v[i].volume;
		r->spec.claims[i].name = app_restore_replay_keep(r, name);
		r->spec.claims[i].size_bytes = 0;
		r->spec.claims[i].storage_class =
			inplace_template_class(sts, vols->v[i].volume);
		if (r->spec.claims[i].name == NULL)
			return ss_error_set(SS_ENOMEM, "out of memory");
		r->spec.n_claims++;
	}
	return 0;
}

/* Done, in place: the replayed snapshots named (deterministic) and
 * recorded with step Snapshotting before the first is created. */
int app_restore_replay_inplace_enter(app_restore_run *r)
{
	char name[APP_NAME_BUF];
	size_t i;

	r->st.replay.n_snapshots = 0;
	for (i = 0; i < r->st.n_claims; i++) {
		if (app_restore_replay_name(name, APP_REPLAY_OBJ_SNAPSHOT, r->run.name,
					    r->st.claims[i].volume) < 0 ||
		    (r->st.replay.snapshots[i] = app_restore_replay_keep(r, name)) ==
			    NULL)
			return -1;
		r->st.replay.n_snapshots++;
	}
	return app_restore_replay_enter(
		r, APP_REPLAY_STEP_SNAPSHOTTING,
		"taking %zu VolumeSnapshot(s) of the claims replayed to %s",
		r->st.replay.n_snapshots, r->st.replay.target_position);
}

/* The base Backup's VolumeSnapshotClass into *out (NULL: the default,
 * also when the base is gone). 0 or < 0. */
static int inplace_snapshot_class(const char **out, app_restore_run *r)
{
	app_backup_spec bs;
	json_t *b = NULL;
	int rc = kube_get(&b, r->rc->o.client, &app_backups, r->run.ns,
			  r->st.source_backup);

	*out = NULL;
	if (rc == SS_ENOTFOUND)
		return 0;
	if (rc < 0 || (rc = app_restore_hold(r, b)) < 0)
		return rc;
	if (app_backup_spec_decode(&bs, b, NULL) == 0)
		*out = bs.snapshot.class_name;
	return 0;
}

/* Creates replayed snapshot i (of claim i). 0 (made or there) or < 0. */
static int inplace_create_snapshot(app_restore_run *r, size_t i, const char *klass)
{
	json_t *vs = NULL;
	int rc = app_restore_replay_snapshot(&vs, r->run.obj, r->st.replay.snapshots[i],
					     r->st.claims[i].name, r->st.claims[i].volume,
					     klass);

	if (rc < 0)
		return rc;
	rc = kube_create(NULL, r->rc->o.client, &app_volumesnapshots, r->run.ns, vs);
	json_decref(vs);
	if (rc == 0)
		ss_log(SS_LOG_INFO, "replayed snapshot created",
		       SS_LS("restore", r->run.key),
		       SS_LS("snapshot", r->st.replay.snapshots[i]));
	return rc == SS_EEXISTS ? 0 : rc;
}

/* Snapshotting: each replayed claim's VolumeSnapshot made and waited for
 * (replay.timeoutSeconds), then SafetyBackup. CTRL_RUN_STOP or < 0. */
int app_restore_replay_inplace_snapshotting(app_restore_run *r)
{
	const char *klass = NULL, *why = "", *first = NULL;
	char name[APP_NAME_BUF];
	size_t i, ready = 0, n = r->st.replay.n_snapshots;
	int rc = inplace_snapshot_class(&klass, r);

	for (i = 0; rc == 0 && i < n && i < r->st.n_claims; i++) {
		json_t *vs = NULL;
		app_replay_obj_state s;

		rc = kube_get(&vs, r->rc->o.client, &app_volumesnapshots, r->run.ns,
			      r->st.replay.snapshots[i]);
		if (rc == SS_ENOTFOUND)
			rc = inplace_create_snapshot(r, i, klass);
		else if (rc == 0)
			rc = app_restore_hold(r, vs);
		if (rc < 0)
			return rc;
		s = app_restore_replay_snapshot_state(vs, r->run.obj, &why);
		if (s == APP_REPLAY_OBJ_FOREIGN || s == APP_REPLAY_OBJ_FAILED)
			return app_restore_fail(
				r, "ReplaySnapshotFailed",
				"VolumeSnapshot %s of the replayed claim %s: %s",
				r->st.replay.snapshots[i], r->st.claims[i].name, why);
		ready += s == APP_REPLAY_OBJ_READY;
		if (s != APP_REPLAY_OBJ_READY && first == NULL)
			first = r->st.replay.snapshots[i];
	}
	if (ready == n && n > 0) {
		if (app_restore_replay_name(name, APP_REPLAY_OBJ_SAFETY_BACKUP,
					    r->run.name, NULL) < 0 ||
		    (r->st.replay.safety_backup = app_restore_replay_keep(r, name)) ==
			    NULL)
			return -1;
		return app_restore_replay_enter(
			r, APP_REPLAY_STEP_SAFETY_BACKUP,
			"%zu replayed snapshot(s) ready; taking the safety "
			"Backup %s of StatefulSet %s's primary first",
			n, name, r->st.statefulset_name);
	}
	if (app_restore_replay_timed_out(r))
		return app_restore_fail(r, "ReplaySnapshotFailed",
					"VolumeSnapshot %s was not readyToUse within "
					"replay.timeoutSeconds (%d s)",
					first ? first : "?",
					r->spec.replay.timeout_seconds);
	ctrl_run_message(&r->run,
			 "waiting for %zu of %zu replayed VolumeSnapshot(s) (%s: %s)",
			 n - ready, n, first ? first : "?", why);
	return app_restore_replay_wait(r);
}

/* Creates the safety Backup from the base Backup's spec. 0, CTRL_RUN_STOP
 * (SafetyBackupFailed) or < 0. */
static int inplace_create_safety(app_restore_run *r)
{
	json_t *base = NULL, *b = NULL;
	int rc = kube_get(&base, r->rc->o.client, &app_backups, r->run.ns,
			  r->st.source_backup);

	if (rc == SS_ENOTFOUND)
		return app_restore_fail(r, "SafetyBackupFailed",
					"the base Backup %s, whose target and connection "
					"the safety Backup copies, is gone",
					r->st.source_backup);
	if (rc < 0)
		return rc;
	rc = app_restore_replay_safety_backup(&b, r->run.obj, base,
					      r->st.replay.safety_backup);
	json_decref(base);
	if (rc == SS_EINVALID)
		return app_restore_fail(r, "SafetyBackupFailed", "%s",
					ss_error_last()->message);
	if (rc == 0) {
		rc = kube_create(NULL, r->rc->o.client, &app_backups, r->run.ns, b);
		json_decref(b);
	}
	if (rc == 0)
		ctrl_run_event(&r->run, CTRL_EVENT_NORMAL, "SafetyBackup",
			       "created Backup %s of StatefulSet %s's primary: the state "
			       "this restore replaces",
			       r->st.replay.safety_backup, r->st.statefulset_name);
	return rc == SS_EEXISTS ? 0 : rc;
}

/* SafetyBackupFailed with the safety Backup's own Failed reason and
 * message: they say what to fix (a lock that could not be taken, a
 * snapshot the storage refused). CTRL_RUN_STOP or < 0. */
static int inplace_safety_failed(app_restore_run *r, const json_t *b)
{
	const char *reason = ctrl_condition_get_reason(b, "Failed");
	const char *message = ctrl_condition_get_message(b, "Failed");

	return app_restore_fail(r, "SafetyBackupFailed",
				"the safety Backup %s failed (%s: %s)",
				r->st.replay.safety_backup, reason != NULL ? reason : "?",
				message != NULL ? message : "");
}

/* SafetyBackup: the Backup made once (deterministic name, recorded
 * before), waited for until Complete (replay.timeoutSeconds); then
 * InPlace. Failed or foreign: SafetyBackupFailed, the target untouched.
 * CTRL_RUN_STOP or < 0. */
int app_restore_replay_inplace_safety(app_restore_run *r)
{
	const char *name = r->st.replay.safety_backup, *why = "";
	json_t *b = NULL;
	int rc = kube_get(&b, r->rc->o.client, &app_backups, r->run.ns, name);

	if (rc == SS_ENOTFOUND) {
		rc = inplace_create_safety(r);
		return rc != 0 ? rc : app_restore_replay_wait(r);
	}
	if (rc < 0 || (rc = app_restore_hold(r, b)) < 0)
		return rc;
	switch (app_restore_replay_safety_state(b, r->run.obj, &why)) {
	case APP_REPLAY_OBJ_READY:
		return app_restore_replay_enter(
			r, APP_REPLAY_STEP_IN_PLACE,
			"the safety Backup %s is Complete; restoring "
			"StatefulSet %s in place to %s",
			name, r->st.statefulset_name, r->st.replay.target_position);
	case APP_REPLAY_OBJ_FAILED:
		/* Its own reason says what to fix (a Backup's conditions
		 * never carry a Secret-derived value). */
		if (ctrl_condition_is_true(b, "Failed"))
			return inplace_safety_failed(r, b);
		/* fall through */
	case APP_REPLAY_OBJ_FOREIGN:
		return app_restore_fail(r, "SafetyBackupFailed",
					"the safety Backup %s: %s", name, why);
	case APP_REPLAY_OBJ_WAIT: break;
	}
	if (app_restore_replay_timed_out(r))
		return app_restore_fail(r, "SafetyBackupFailed",
					"the safety Backup %s did not complete within "
					"replay.timeoutSeconds (%d s): %s",
					name, r->spec.replay.timeout_seconds, why);
	ctrl_run_message(&r->run, "waiting for the safety Backup %s: %s", name, why);
	return app_restore_replay_wait(r);
}

/* InPlace: the in-place machinery (restore_inplace.c) from the replayed
 * snapshots, the replicas set up from the target position.
 * CTRL_RUN_STOP or < 0. */
int app_restore_replay_inplace_run(app_restore_run *r)
{
	app_restore_volumes *vols = calloc(1, sizeof(*vols));
	size_t i;
	int rc;

	if (vols == NULL)
		return ss_error_set(SS_ENOMEM, "out of memory");
	for (i = 0; i < r->st.replay.n_snapshots && i < r->st.n_claims &&
		    vols->n < APP_MAX_VOLUMES;
	     i++) {
		vols->v[vols->n].volume = r->st.claims[i].volume;
		vols->v[vols->n].snapshot = r->st.replay.snapshots[i];
		vols->v[vols->n].restore_size_bytes = -1;
		vols->n++;
	}
	r->snapshot_owner = r->run.obj; /* the replayed snapshots are the Restore's */
	r->gtid = r->st.replay.target_position;
	rc = app_restore_in_place(r, vols);
	free(vols);
	return rc;
}

/* Deletes the replayed snapshots this Restore owns (uid precondition);
 * *n counts those deleted. 0 or < 0. */
int app_restore_replay_inplace_delete_snapshots(app_restore_run *r, size_t *n)
{
	kube_delete_opts d = KUBE_DELETE_OPTS_INIT;
	size_t i;
	int rc = 0;

	*n = 0;
	for (i = 0; rc == 0 && i < r->st.replay.n_snapshots; i++) {
		json_t *vs = NULL;

		rc = kube_get(&vs, r->rc->o.client, &app_volumesnapshots, r->run.ns,
			      r->st.replay.snapshots[i]);
		if (rc == SS_ENOTFOUND) {
			rc = 0;
			continue;
		}
		if (rc == 0 && app_owner_has_uid(vs, ctrl_meta(r->run.obj, "uid")) &&
		    ctrl_meta(vs, "deletionTimestamp") == NULL) {
			d.precondition_uid = ctrl_meta(vs, "uid");
			rc = kube_delete(NULL, r->rc->o.client, &app_volumesnapshots,
					 r->run.ns, r->st.replay.snapshots[i], &d);
			*n += rc == 0;
			if (rc == SS_ENOTFOUND || rc == SS_ECONFLICT)
				rc = 0;
		}
		json_decref(vs);
	}
	return rc;
}
