/*
 * restore.c — the Restore reconciler: the run, the source, the NewClaims
 * mode; restore_inplace.c has the InPlace mode. See restore.h for the
 * steps, restore_check.h and restore_plan.h for the decisions.
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
 *   - strings in the run's status borrow from JSON the run keeps alive
 *     until it ends (app_restore_keep / app_restore_own).
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
#include "app/restore/restore_run.h"
#include "ctrl/conditions.h"
#include "ctrl/object.h"
#include "ctrl/writes.h"
#include "kube/rest.h"
#include "util/error.h"
#include "util/log.h"
#include "util/str.h"

const kube_resource app_restore_claims_res = { "", "v1", "persistentvolumeclaims", true };
const kube_resource app_restore_statefulsets = { "apps", "v1", "statefulsets", true };
const kube_resource app_restore_pvs = { "", "v1", "persistentvolumes", false };
const kube_resource app_restore_storage_classes = { "storage.k8s.io", "v1",
						    "storageclasses", false };

#define claims_res app_restore_claims_res

typedef app_restore_run run;
typedef app_restore_volumes volumes;

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

json_t *app_restore_keep(run *r, json_t *obj)
{
	if (obj == NULL)
		return NULL;
	if (r->n_keep == APP_RESTORE_KEEP_MAX) { /* a bug: the steps hold fewer */
		ss_log(SS_LOG_ERROR, "restore: too many objects held",
		       SS_LS("restore", r->key));
		abort();
	}
	r->keep[r->n_keep++] = obj;
	return obj;
}

const char *app_restore_own(run *r, const char *s)
{
	json_t *copy;

	if (s == NULL)
		return NULL;
	if (r->strings == NULL)
		r->strings = json_array();
	copy = json_string(s);
	if (r->strings == NULL || copy == NULL || json_array_append_new(r->strings, copy) != 0)
		return NULL;
	return json_string_value(copy);
}

static const char *mode_name(const run *r)
{
	return r->spec.mode == APP_MODE_IN_PLACE ? "InPlace" : "NewClaims";
}

void app_restore_event(run *r, ctrl_event_type type, const char *reason, const char *fmt,
		       ...)
{
	char note[1024];
	va_list ap;

	if (r->rc->o.events == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(note, sizeof(note), fmt, ap);
	va_end(ap);
	ctrl_events_record(r->rc->o.events, r->obj, type, reason, NULL, "%s", note);
}

void app_restore_vmessage(run *r, const char *fmt, va_list ap)
{
	vsnprintf(r->message, sizeof(r->message), fmt, ap);
	r->st.message = r->message;
}

void app_restore_message(run *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	app_restore_vmessage(r, fmt, ap);
	va_end(ap);
}

static int mutate_status(json_t *obj, void *payload)
{
	run *r = payload;
	json_t *gen = json_object_get(json_object_get(obj, "metadata"), "generation");
	int rc;

	r->st.observed_generation = json_is_integer(gen) ? json_integer_value(gen) : 0;
	rc = app_restore_status_encode(obj, &r->st);
	if (rc == 0 && r->cond_type) {
		ctrl_condition c = { r->cond_type, CTRL_CONDITION_TRUE, r->cond_reason,
				     r->message, -1 };

		rc = ctrl_condition_set(NULL, obj, &c, r->rc->o.clock);
	}
	if (rc == 0 && r->cond_remove)
		rc = ctrl_condition_remove(NULL, obj, r->cond_remove);
	return rc; /* ctrl_write_status writes nothing when status is unchanged */
}

int app_restore_write(run *r)
{
	ctrl_write_opts wo = CTRL_WRITE_OPTS_INIT;
	json_t *out = NULL;
	int rc;

	wo.start = r->obj;
	rc = ctrl_write_status(&out, r->rc->o.client, &app_restores, r->ns, r->name,
			       mutate_status, r, &wo);
	if (rc < 0) {
		ss_log(SS_LOG_WARN, "writing restore status failed",
		       SS_LS("restore", r->key), SS_LERR());
		return rc;
	}
	if (out != NULL)
		r->obj = app_restore_keep(r, out);
	return 0;
}

static void observe_finish(run *r, const char *result, const char *reason)
{
	const char *lv[] = { r->ns, mode_name(r), result, reason, NULL };
	const char *mlv[] = { r->ns, mode_name(r), NULL };

	ctrl_counter_inc(r->rc->m_total, lv);
	if (r->st.start_ns > 0 && r->st.completion_ns >= r->st.start_ns)
		ctrl_histogram_observe(r->rc->m_duration, mlv,
				       (double)(r->st.completion_ns - r->st.start_ns) /
					       1e9);
}

/* Whether the Restore has changed nothing yet: no claim created, nothing
 * scaled or deleted. */
static bool untouched(const run *r)
{
	if (r->spec.mode == APP_MODE_IN_PLACE)
		return r->st.step == APP_STEP_NONE;
	return r->st.phase != APP_RESTORE_RESTORING;
}

ctrl_result app_restore_fail_final(run *r, const char *reason)
{
	if (untouched(r)) {
		size_t len = strlen(r->message);

		snprintf(r->message + len, sizeof(r->message) - len, "; nothing was changed");
	}
	r->st.has_phase = true;
	r->st.phase = APP_RESTORE_FAILED;
	if (r->st.start_ns == 0)
		r->st.start_ns = r->now;
	r->st.completion_ns = r->now;
	r->cond_type = "Failed";
	r->cond_reason = reason;
	if (app_restore_write(r) < 0)
		return ctrl_result_error();
	ss_log(SS_LOG_WARN, "restore failed", SS_LS("restore", r->key),
	       SS_LS("reason", reason), SS_LS("message", r->message));
	app_restore_event(r, CTRL_EVENT_WARNING, "Failed", "%s: %s", reason, r->message);
	observe_finish(r, "failed", reason);
	return ctrl_result_done();
}

ctrl_result app_restore_complete(run *r)
{
	r->st.phase = APP_RESTORE_COMPLETED;
	r->st.completion_ns = r->now;
	r->cond_type = "Complete";
	r->cond_reason = "Restored";
	if (app_restore_write(r) < 0)
		return ctrl_result_error();
	ss_log(SS_LOG_INFO, "restore completed", SS_LS("restore", r->key),
	       SS_LS("message", r->message));
	app_restore_event(r, CTRL_EVENT_NORMAL, "Completed", "%s", r->message);
	observe_finish(r, "completed", "Restored");
	return ctrl_result_done();
}

int app_restore_delete_claim(run *r, const json_t *pvc)
{
	kube_delete_opts d = KUBE_DELETE_OPTS_INIT;
	int rc;

	d.precondition_uid = ctrl_meta(pvc, "uid");
	rc = kube_delete(NULL, r->rc->o.client, &claims_res, r->ns, ctrl_meta(pvc, "name"),
			 &d);
	if (rc == 0)
		ss_log(SS_LOG_INFO, "claim deleted", SS_LS("restore", r->key),
		       SS_LS("claim", ctrl_meta(pvc, "name")));
	return rc == SS_ENOTFOUND ? 0 : rc;
}

static int drop_unbound_claims(run *r);

ctrl_result app_restore_fail(run *r, const char *reason, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	app_restore_vmessage(r, fmt, ap);
	va_end(ap);
	if (r->spec.mode == APP_MODE_IN_PLACE)
		return app_restore_in_place_fail(r, reason);
	if (r->st.phase == APP_RESTORE_RESTORING && drop_unbound_claims(r) < 0)
		return ctrl_result_error(); /* tried again, never left behind */
	return app_restore_fail_final(r, reason);
}

bool app_restore_timed_out(const run *r)
{
	int64_t limit = (int64_t)r->spec.timeout_seconds * SS_NS_PER_SEC;

	return r->spec.timeout_seconds > 0 && r->now - r->st.start_ns > limit;
}

ctrl_result app_restore_wait(run *r)
{
	if (app_restore_timed_out(r)) {
		char what[APP_RESTORE_MSG_MAX];

		ss_strlcpy(what, r->message, sizeof(what));
		return app_restore_fail(r, "Timeout", "gave up after timeoutSeconds (%d): %s",
					r->spec.timeout_seconds, what);
	}
	if (app_restore_write(r) < 0)
		return ctrl_result_error();
	return ctrl_result_requeue_after(r->rc->o.poll_ns);
}

/* ---- step 3: the source ------------------------------------------------------ */

/* The volumes of a Backup's decoded status into *vols. */
static void backup_volumes(volumes *vols, const app_backup_status *bst)
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

/* The uid of the BackupSchedule the source names, borrowed from an object
 * the run keeps; NULL when there is no schedule store or no such schedule
 * (then the label alone says which Backups are its). */
static const char *schedule_uid(run *r)
{
	json_t *sched = NULL;
	char key[CTRL_KEY_MAX];

	if (r->rc->o.schedules == NULL ||
	    ctrl_key_join(key, sizeof(key), r->ns, r->spec.source_name) != 0 ||
	    ctrl_store_get(&sched, r->rc->o.schedules, key) != 0 || sched == NULL)
		return NULL;
	app_restore_keep(r, sched);
	return ctrl_meta(sched, "uid");
}

/* The Backup a scheduleName source means, into *name (borrowed from an
 * object the run keeps). SS_ENOTFOUND with the message when none. */
static int pick_from_schedule(const char **name, run *r)
{
	json_t *all = NULL, *mine;
	size_t i;
	int64_t data_ns = 0;

	if (ctrl_store_by_index(&all, r->rc->o.backups, APP_INDEX_SCHEDULE,
				r->spec.source_name) < 0)
		return -1;
	app_restore_keep(r, all);
	mine = app_restore_keep(r, json_array());
	if (mine == NULL)
		return ss_error_set(SS_ENOMEM, "out of memory");
	for (i = 0; i < json_array_size(all); i++) {
		const char *ns = ctrl_meta(json_array_get(all, i), "namespace");

		if (ns && strcmp(ns, r->ns) == 0)
			json_array_append(mine, json_array_get(all, i));
	}
	return app_restore_pick_backup(name, &data_ns, mine, r->spec.source_name,
				       schedule_uid(r), r->spec.has_point_in_time,
				       r->spec.point_in_time_ns, r->now);
}

/* The source's GTID position as the Backup recorded it. */
static const char *backup_gtid(const app_backup_status *bst)
{
	const char *g = bst->position.gtid_current_pos;

	if (g != NULL && g[0] != '\0')
		return g;
	return bst->source_role && strcmp(bst->source_role, "Primary") == 0
		       ? bst->position.gtid_binlog_pos
		       : bst->position.gtid_slave_pos;
}

/* Step 3 for a Backup source (backupName, or the one recorded or picked).
 * 0 with *vols when it can be restored from; otherwise a finished or
 * waiting result in *res and 1. A Backup that is no longer restorable
 * (a snapshot gone) goes on to the snapshot checks, which name the
 * snapshot. */
static int source_backup(volumes *vols, ctrl_result *res, run *r, const char *bname)
{
	app_backup_status bst;
	json_t *b = NULL;
	const char *why = NULL;
	int rc;

	rc = kube_get(&b, r->rc->o.client, &app_backups, r->ns, bname);
	if (rc == SS_ENOTFOUND) {
		*res = app_restore_fail(r, "SourceNotFound", "Backup %s/%s does not exist",
					r->ns, bname);
		return 1;
	}
	if (rc < 0) {
		*res = ctrl_result_error();
		return 1;
	}
	r->backup = app_restore_keep(r, b);
	switch (app_restore_backup_state(b, &why)) {
	case APP_SOURCE_OK: break;
	case APP_SOURCE_FAILED:
		if (ctrl_condition_is_false(b, "Restorable"))
			break; /* the snapshot checks say which is gone */
		*res = app_restore_fail(r, "SourceNotReady",
					"Backup %s cannot be restored: %s", bname, why);
		return 1;
	case APP_SOURCE_WAIT:
		app_restore_message(r, "waiting for Backup %s: %s", bname, why);
		*res = app_restore_wait(r);
		return 1;
	}
	app_backup_status_init(&bst);
	app_backup_status_decode(&bst, b);
	backup_volumes(vols, &bst);
	r->gtid = backup_gtid(&bst);
	if (vols->n == 0) {
		*res = app_restore_fail(r, "SourceNotReady",
					"Backup %s lists no VolumeSnapshots", bname);
		return 1;
	}
	return 0;
}

/* Step 3 for a volumeSnapshotName source: one volume, named by the
 * snapshot's snapstage.io/volume label (a snapshot snapstage made), else
 * "data". Missing before the restore started: SourceNotFound; one still
 * being cut is waited for; anything else is left to the checks (which
 * also catch it vanishing mid-restore). */
static int source_snapshot(volumes *vols, ctrl_result *res, run *r)
{
	const char *vsname = r->spec.source_name;
	app_vs_state vst;
	json_t *vs = NULL;
	const char *volume = NULL;
	int rc;

	rc = kube_get(&vs, r->rc->o.client, &app_volumesnapshots, r->ns, vsname);
	if (rc < 0 && rc != SS_ENOTFOUND) {
		*res = ctrl_result_error();
		return 1;
	}
	r->source_vs = app_restore_keep(r, vs);
	if (vs == NULL && r->st.phase != APP_RESTORE_RESTORING) {
		*res = app_restore_fail(r, "SourceNotFound",
					"VolumeSnapshot %s/%s does not exist", r->ns, vsname);
		return 1;
	}
	if (vs != NULL && app_vs_state_read(&vst, vs) == 0 && vst.error == NULL &&
	    !vst.ready_to_use && r->st.phase != APP_RESTORE_RESTORING &&
	    r->st.step == APP_STEP_NONE) {
		app_restore_message(r, "waiting for VolumeSnapshot %s to be readyToUse",
				    vsname);
		*res = app_restore_wait(r);
		return 1;
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

int app_restore_check_sources(ctrl_result *res, run *r, volumes *vols)
{
	const char *reason = NULL;
	size_t i;
	int rc;

	for (i = 0; i < vols->n; i++) {
		json_t *vs = NULL;

		rc = kube_get(&vs, r->rc->o.client, &app_volumesnapshots, r->ns,
			      vols->v[i].snapshot);
		if (rc < 0 && rc != SS_ENOTFOUND) {
			*res = ctrl_result_error();
			return rc;
		}
		app_restore_keep(r, vs);
		if (app_restore_check_snapshot(&vols->info[i], &reason, vols->v[i].snapshot,
					       vs, r->backup) < 0) {
			char what[APP_RESTORE_MSG_MAX];

			ss_strlcpy(what, ss_error_last()->message, sizeof(what));
			*res = app_restore_fail(r, reason, "%s", what);
			return 1;
		}
		vols->v[i].restore_size_bytes = vols->info[i].restore_size_bytes;
	}
	return 0;
}

int app_restore_storage_class(const json_t **out, run *r, const char *name)
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
		if (rc < 0)
			return rc;
		*out = app_restore_keep(r, got);
		return 0;
	}
	memset(&lo, 0, sizeof(lo));
	rc = kube_list(&got, r->rc->o.client, &app_restore_storage_classes, NULL, &lo);
	if (rc < 0)
		return rc;
	app_restore_keep(r, got);
	*out = app_restore_default_class(json_object_get(got, "items"));
	return 0;
}

int app_restore_check_drivers(ctrl_result *res, run *r, const volumes *vols,
			      const char *class_name, const char *where)
{
	const json_t *sc = NULL;
	const char *reason = NULL;
	size_t i;
	int rc;

	rc = app_restore_storage_class(&sc, r, class_name);
	if (rc < 0) {
		*res = ctrl_result_error();
		return rc;
	}
	for (i = 0; i < vols->n; i++) {
		json_t *content = NULL;

		rc = kube_get(&content, r->rc->o.client, &app_volumesnapshotcontents, NULL,
			      vols->info[i].content_name);
		if (rc < 0 && rc != SS_ENOTFOUND) {
			*res = ctrl_result_error();
			return rc;
		}
		app_restore_keep(r, content);
		if (app_restore_check_driver(&reason, vols->v[i].snapshot, content, sc,
					     class_name, where) < 0) {
			char what[APP_RESTORE_MSG_MAX];

			ss_strlcpy(what, ss_error_last()->message, sizeof(what));
			*res = app_restore_fail(r, reason, "%s", what);
			return 1;
		}
	}
	return 0;
}

/* ---- NewClaims ----------------------------------------------------------------- */

/* Nothing created yet: the claims must not exist unless this Restore made
 * them. 0, or 1 with *res. */
static int check_claims(ctrl_result *res, run *r, const json_t *planned)
{
	json_t *pvc;
	size_t i;
	int rc;

	json_array_foreach((json_t *)planned, i, pvc)
	{
		const char *cname = ctrl_meta(pvc, "name");
		json_t *have = NULL;
		bool ours;

		rc = kube_get(&have, r->rc->o.client, &claims_res, r->ns, cname);
		if (rc == SS_ENOTFOUND)
			continue;
		if (rc < 0) {
			*res = ctrl_result_error();
			return 1;
		}
		ours = app_restore_claim_is_ours(have, r->obj);
		json_decref(have);
		if (!ours) {
			*res = app_restore_fail(
				r, "ClaimExists",
				"PersistentVolumeClaim %s/%s already exists and was not "
				"made by this Restore",
				r->ns, cname);
			return 1;
		}
	}
	return 0;
}

/* Creates the planned claims that are not there yet. */
static int create_claims(ctrl_result *res, run *r, const json_t *planned)
{
	json_t *pvc;
	size_t i, made = 0;
	int rc;

	json_array_foreach((json_t *)planned, i, pvc)
	{
		const char *cname = ctrl_meta(pvc, "name");
		json_t *have = NULL;
		bool foreign;

		rc = kube_create(NULL, r->rc->o.client, &claims_res, r->ns, pvc);
		if (rc == 0) {
			made++;
			ss_log(SS_LOG_INFO, "claim created", SS_LS("restore", r->key),
			       SS_LS("claim", cname));
			continue;
		}
		if (rc != SS_EEXISTS) {
			*res = ctrl_result_error();
			return 1;
		}
		foreign = kube_get(&have, r->rc->o.client, &claims_res, r->ns, cname) == 0 &&
			  !app_restore_claim_is_ours(have, r->obj);
		json_decref(have);
		if (foreign) {
			*res = app_restore_fail(
				r, "ClaimExists",
				"PersistentVolumeClaim %s/%s was created by someone else "
				"while this Restore ran",
				r->ns, cname);
			return 1;
		}
	}
	if (made > 0)
		app_restore_event(r, CTRL_EVENT_NORMAL, "ClaimsCreated",
				  "created %zu PersistentVolumeClaim(s) from %s", made,
				  r->st.source_backup ? r->st.source_backup
						      : r->spec.source_name);
	return 0;
}

/* On failure: deletes (uid precondition) this Restore's claims that are not
 * Bound, and says in the message which were deleted and which stay. 0, or
 * < 0 when a delete failed (the failure is then tried again). */
static int drop_unbound_claims(run *r)
{
	char dropped[256] = "", kept[256] = "";
	size_t i, nd = 0, nk = 0, ld = 0, lk = 0;
	int rc;

	for (i = 0; i < r->st.n_claims; i++) {
		json_t *pvc = NULL;
		bool ours;

		rc = kube_get(&pvc, r->rc->o.client, &claims_res, r->ns, r->st.claims[i].name);
		if (rc == SS_ENOTFOUND)
			continue;
		if (rc < 0)
			return rc;
		ours = app_restore_claim_is_ours(pvc, r->obj);
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
			ss_list_append(dropped, sizeof(dropped), &ld, r->st.claims[i].name);
		}
		json_decref(pvc);
	}
	if (nd > 0 || nk > 0) {
		size_t len = strlen(r->message);

		snprintf(r->message + len, sizeof(r->message) - len,
			 "; deleted %zu claim(s) it made that never bound (%s); kept "
			 "%zu Bound (%s)",
			 nd, nd ? dropped : "none", nk, nk ? kept : "none");
	}
	return 0;
}

/* 0 when every claim is Bound; otherwise *res and 1. While waiting, the
 * sources are checked again so a snapshot deleted meanwhile fails at once
 * instead of at the timeout. */
static int claims_bound(ctrl_result *res, run *r, volumes *vols)
{
	size_t i, pending = 0;
	const char *first = NULL;

	for (i = 0; i < r->st.n_claims; i++) {
		json_t *pvc = NULL;
		int rc = kube_get(&pvc, r->rc->o.client, &claims_res, r->ns,
				  r->st.claims[i].name);
		app_claim_state cs;

		if (rc < 0 && rc != SS_ENOTFOUND) {
			*res = ctrl_result_error();
			return 1;
		}
		cs = rc == 0 ? app_restore_claim_state(pvc) : APP_CLAIM_LOST;
		json_decref(pvc);
		if (cs == APP_CLAIM_LOST) {
			*res = app_restore_fail(r, "ClaimLost", "PersistentVolumeClaim %s is %s",
						r->st.claims[i].name,
						rc == 0 ? "Lost" : "gone");
			return 1;
		}
		r->st.claims[i].bound = cs == APP_CLAIM_BOUND;
		if (cs == APP_CLAIM_PENDING && pending++ == 0)
			first = r->st.claims[i].name;
	}
	if (pending == 0)
		return 0;
	if (app_restore_check_sources(res, r, vols) != 0)
		return 1;
	app_restore_message(r, "waiting for %zu of %zu claims to be Bound (%s, ...)",
			    pending, r->st.n_claims, first);
	*res = app_restore_wait(r);
	return 1;
}

/* Records the planned claims in status (step 5, before any create). */
static void record_claims(run *r, const json_t *planned)
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

static ctrl_result new_claims(run *r, volumes *vols)
{
	app_restore_claims_in in;
	json_t *planned = NULL;
	const char *reason = NULL;
	ctrl_result res;

	/* 4: every check, before anything is created */
	if (r->st.phase != APP_RESTORE_RESTORING &&
	    (app_restore_check_sources(&res, r, vols) != 0 ||
	     app_restore_check_drivers(&res, r, vols, r->spec.storage_class,
				       "spec.target.newClaims") != 0))
		return res;
	memset(&in, 0, sizeof(in));
	in.restore = r->obj;
	in.spec = &r->spec;
	in.volumes = vols->v;
	in.n_volumes = vols->n;
	if (app_restore_claims_plan(&planned, &reason, &in) < 0)
		return app_restore_fail(r, reason ? reason : "InvalidSpec", "%s",
					ss_error_last()->message);
	app_restore_keep(r, planned);
	if (r->st.phase != APP_RESTORE_RESTORING && check_claims(&res, r, planned))
		return res;
	/* 5: the claims in status first */
	record_claims(r, planned);
	if (r->st.phase != APP_RESTORE_RESTORING) {
		r->st.has_phase = true;
		r->st.phase = APP_RESTORE_RESTORING;
		app_restore_message(r, "creating %zu claim(s) from %s", r->st.n_claims,
				    r->st.source_backup ? r->st.source_backup
							: r->spec.source_name);
		if (app_restore_write(r) < 0)
			return ctrl_result_error();
		app_restore_event(r, CTRL_EVENT_NORMAL, "Restoring", "%s", r->message);
	}
	if (create_claims(&res, r, planned))
		return res;
	/* 6 */
	if (claims_bound(&res, r, vols))
		return res;
	app_restore_message(r, "%zu claim(s) Bound, restored from %s", r->st.n_claims,
			    r->st.source_backup ? r->st.source_backup : r->spec.source_name);
	return app_restore_complete(r);
}

/* ---- one reconcile -------------------------------------------------------------- */

/* Step 1: the Restore from the API. 0 with r->obj and r->st; 1 with *res
 * when there is nothing to do. */
static int load(ctrl_result *res, run *r)
{
	json_t *cached = NULL, *obj = NULL;
	int err;

	*res = ctrl_result_done();
	if (ctrl_store_get(&cached, r->rc->o.restores, r->key) < 0 || cached == NULL ||
	    ctrl_key_split(r->key, r->ns, sizeof(r->ns), r->name, sizeof(r->name)) < 0) {
		json_decref(cached);
		return 1;
	}
	json_decref(cached);
	err = kube_get(&obj, r->rc->o.client, &app_restores, r->ns, r->name);
	if (err == SS_ENOTFOUND ||
	    (err == 0 && ctrl_meta(obj, "deletionTimestamp") != NULL)) {
		json_decref(obj);
		return 1;
	}
	if (err < 0) {
		*res = ctrl_result_error();
		return 1;
	}
	r->obj = app_restore_keep(r, obj);
	app_restore_status_init(&r->st);
	app_restore_status_decode(&r->st, r->obj);
	if (r->st.has_phase &&
	    (r->st.phase == APP_RESTORE_COMPLETED || r->st.phase == APP_RESTORE_FAILED))
		return 1;
	if (r->st.start_ns == 0)
		r->st.start_ns = r->now;
	if (r->st.message) {
		ss_strlcpy(r->message, r->st.message, sizeof(r->message));
		r->st.message = r->message;
	}
	return 0;
}

/* Step 2: the spec the Restore acts on — status.acceptedSpec once it has
 * started, so an edit later changes nothing (reported once per generation
 * as SpecChangeIgnored). 0, or 1 with *res. */
static int accept_spec(ctrl_result *res, run *r)
{
	const json_t *now = json_object_get(r->obj, "spec");
	const char *reason = NULL;
	json_t *view;

	if (r->st.accepted_spec == NULL) {
		r->st.accepted_spec = now;
		if (app_restore_spec_decode(&r->spec, r->obj, &reason) < 0) {
			r->st.accepted_spec = NULL;
			*res = app_restore_fail(r, reason ? reason : "InvalidSpec", "%s",
						ss_error_last()->message);
			return 1;
		}
		r->st.mode = mode_name(r);
		return 0;
	}
	view = app_restore_keep(r, json_pack("{s:O,s:O}", "metadata",
					     json_object_get(r->obj, "metadata"), "spec",
					     r->st.accepted_spec));
	if (view == NULL || app_restore_spec_decode(&r->spec, view, &reason) < 0) {
		*res = ctrl_result_error(); /* it decoded when it was accepted */
		return 1;
	}
	if (!json_equal(now, r->st.accepted_spec) &&
	    json_integer_value(json_object_get(json_object_get(r->obj, "metadata"),
					       "generation")) != r->st.observed_generation) {
		app_restore_spec edited;
		char what[256] = "";

		if (app_restore_spec_decode(&edited, r->obj, NULL) == 0)
			app_restore_pinned_changes(what, sizeof(what), &edited, &r->st);
		app_restore_event(r, CTRL_EVENT_WARNING, "SpecChangeIgnored",
				  "spec changed after the Restore started (%s); it goes on "
				  "with the spec it started with (status.acceptedSpec)",
				  what[0] ? what : "see status.acceptedSpec");
	}
	return 0;
}

/* Step 3: resolve the source (recorded once: status.sourceBackup). An
 * in-place restore past ReplacingClaims no longer reads it (the position
 * is pinned), so *need is false then. 0 with *vols, or 1 with *res. */
static int resolve_source(ctrl_result *res, run *r, volumes *vols)
{
	const char *bname;

	if (r->spec.source_kind == APP_SOURCE_VOLUME_SNAPSHOT)
		return source_snapshot(vols, res, r);
	bname = r->st.source_backup;
	if (bname == NULL && r->spec.source_kind == APP_SOURCE_BACKUP)
		bname = r->spec.source_name;
	if (bname == NULL) {
		if (pick_from_schedule(&bname, r) < 0) {
			*res = ss_error_last()->code != SS_ENOTFOUND
				       ? ctrl_result_error()
				       : app_restore_fail(r, "SourceNotFound", "%s",
							  ss_error_last()->message);
			return 1;
		}
		app_restore_event(r, CTRL_EVENT_NORMAL, "SourceChosen",
				  "restoring Backup %s of schedule %s", bname,
				  r->spec.source_name);
	}
	r->st.source_backup = bname;
	return source_backup(vols, res, r, bname);
}

static bool past_source(const run *r)
{
	return r->spec.mode == APP_MODE_IN_PLACE && r->st.step != APP_STEP_NONE &&
	       !app_restore_in_place_can_roll_back(r->st.step);
}

static ctrl_result reconcile(run *r)
{
	volumes *vols = NULL;
	ctrl_result res;
	size_t i;

	if (load(&res, r) || accept_spec(&res, r))
		return res;
	if (r->spec.mode == APP_MODE_IN_PLACE && !r->rc->o.enable_in_place)
		return app_restore_fail(r, "InPlaceRestoreDisabled",
					"the controller runs without "
					"--enable-in-place-restore");
	if (!r->st.has_phase) {
		r->st.has_phase = true;
		r->st.phase = APP_RESTORE_PENDING;
	}
	if (past_source(r))
		return app_restore_in_place(r, NULL);
	vols = calloc(1, sizeof(*vols));
	if (vols == NULL)
		return ctrl_result_error();
	if (resolve_source(&res, r, vols))
		goto done;
	r->st.n_source_snapshots = 0;
	for (i = 0; i < vols->n; i++)
		r->st.source_snapshots[r->st.n_source_snapshots++] = vols->v[i].snapshot;
	if (r->spec.mode == APP_MODE_IN_PLACE)
		res = app_restore_in_place(r, vols);
	else
		res = new_claims(r, vols);
done:
	free(vols);
	return res;
}

ctrl_result app_restore_reconcile(void *payload, const char *key)
{
	run *r = calloc(1, sizeof(*r));
	ctrl_result res;
	size_t i;

	if (r == NULL) {
		ss_error_set(SS_ENOMEM, "out of memory");
		return ctrl_result_error();
	}
	r->rc = payload;
	r->key = key;
	r->now = ss_clock_real(r->rc->o.clock);
	res = reconcile(r);
	for (i = 0; i < r->n_keep; i++)
		json_decref(r->keep[i]);
	json_decref(r->strings);
	free(r);
	return res;
}
