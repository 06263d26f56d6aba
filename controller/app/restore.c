/*
 * restore.c — the Restore reconciler; see restore.h for the steps and
 * restore_plan.h for the decisions.
 *
 * Invariants:
 *   - nothing is created before every check of step 4 passed, so a bad
 *     input changes nothing;
 *   - the claims are in status (phase Restoring) before the first create;
 *   - a claim is only ever created under the name the plan gives, carrying
 *     this Restore's name and uid, and an existing claim without them is
 *     never touched;
 *   - strings in the run's status borrow from JSON the run keeps alive
 *     until it ends (every object it read or wrote is held in `keep`).
 *
 * Thread-safety: reconciles of different Restores run in parallel on the
 * controller's workers; they share only the metrics and the client.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/api.h"
#include "app/backup.h"
#include "app/backup_plan.h"
#include "app/credentials.h"
#include "app/mariadb.h"
#include "app/names.h"
#include "app/restore.h"
#include "app/restore_plan.h"
#include "app/schedule.h"
#include "ctrl/conditions.h"
#include "ctrl/object.h"
#include "ctrl/writes.h"
#include "kube/quantity.h"
#include "kube/rest.h"
#include "util/error.h"
#include "util/log.h"
#include "util/str.h"

static const kube_resource claims_res = { "", "v1", "persistentvolumeclaims", true };
static const kube_resource statefulsets = { "apps", "v1", "statefulsets", true };
static const kube_resource storage_classes = { "storage.k8s.io", "v1", "storageclasses",
					       false };

#define MSG_MAX 2048
#define KEEP_MAX 32

struct app_restore_ctrl {
	app_restore_ctrl_opts o;
	ctrl_counter *m_total;
	ctrl_histogram *m_duration;
};

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

/* ---- one reconcile --------------------------------------------------------- */

typedef struct {
	app_restore_ctrl *rc;
	const char *key;
	char ns[CTRL_KEY_MAX];
	char name[CTRL_KEY_MAX];
	int64_t now;
	json_t *obj; /* the Restore, latest copy (also in keep) */
	json_t *keep[KEEP_MAX];
	size_t n_keep;
	app_restore_spec spec;
	app_restore_status st;
	const char *gtid;      /* the source's GTID position (InPlace), or NULL */
	const char *cond_type; /* a condition to set with the next write */
	const char *cond_reason;
	char message[MSG_MAX];
} run;

/* Holds `obj` (a new reference) until the run ends; returns it. */
static json_t *keep(run *r, json_t *obj)
{
	if (obj == NULL)
		return NULL;
	if (r->n_keep == KEEP_MAX) { /* a bug: the steps hold fewer */
		ss_log(SS_LOG_ERROR, "restore: too many objects held",
		       SS_LS("restore", r->key));
		abort();
	}
	r->keep[r->n_keep++] = obj;
	return obj;
}

static const char *mode_name(const run *r)
{
	return r->spec.mode == APP_MODE_IN_PLACE ? "InPlace" : "NewClaims";
}

static void event(run *r, ctrl_event_type type, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void event(run *r, ctrl_event_type type, const char *reason, const char *fmt, ...)
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

static void vset_message(run *r, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
static void vset_message(run *r, const char *fmt, va_list ap)
{
	vsnprintf(r->message, sizeof(r->message), fmt, ap);
	r->st.message = r->message;
}

static void set_message(run *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_message(run *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset_message(r, fmt, ap);
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
	return rc; /* ctrl_write_status writes nothing when status is unchanged */
}

static int write_status(run *r)
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
		r->obj = keep(r, out);
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

static int scale(run *r, int replicas);

/* Ends the Restore: Failed with `reason`, the message, an Event and the
 * metrics; an in-place one between ScalingDown and ScalingUp is scaled
 * back to originalReplicas. No argument may point into r->message. */
static ctrl_result fail(run *r, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static ctrl_result fail(run *r, const char *reason, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset_message(r, fmt, ap);
	va_end(ap);
	r->st.has_phase = true;
	r->st.phase = APP_RESTORE_FAILED;
	if (r->st.start_ns == 0)
		r->st.start_ns = r->now;
	r->st.completion_ns = r->now;
	r->cond_type = "Failed";
	r->cond_reason = reason;
	if (write_status(r) < 0)
		return ctrl_result_error();
	/* A failed in-place restore never leaves the StatefulSet scaled down. */
	if (r->spec.mode == APP_MODE_IN_PLACE && r->st.original_replicas >= 0 &&
	    r->st.step >= APP_STEP_SCALING_DOWN && r->st.step <= APP_STEP_SCALING_UP &&
	    scale(r, r->st.original_replicas) < 0)
		ss_log(SS_LOG_WARN, "scaling back after a failure failed",
		       SS_LS("restore", r->key), SS_LERR());
	ss_log(SS_LOG_WARN, "restore failed", SS_LS("restore", r->key),
	       SS_LS("reason", reason), SS_LS("message", r->message));
	event(r, CTRL_EVENT_WARNING, "Failed", "%s: %s", reason, r->message);
	observe_finish(r, "failed", reason);
	return ctrl_result_done();
}

/* Waits: status Pending or Restoring with the message; looked at again
 * after the poll interval, or Failed with `reason` once timeoutSeconds
 * have passed since the start. */
static ctrl_result wait_or_time_out(run *r, const char *reason)
{
	int64_t limit = (int64_t)r->spec.timeout_seconds * SS_NS_PER_SEC;

	if (r->spec.timeout_seconds > 0 && r->now - r->st.start_ns > limit) {
		char what[MSG_MAX];

		ss_strlcpy(what, r->message, sizeof(what));
		return fail(r, reason, "gave up after timeoutSeconds (%d): %s",
			    r->spec.timeout_seconds, what);
	}
	if (write_status(r) < 0)
		return ctrl_result_error();
	return ctrl_result_requeue_after(r->rc->o.poll_ns);
}

/* ---- step 3: the source ----------------------------------------------------- */

typedef struct {
	app_restore_volume v[APP_MAX_VOLUMES];
	size_t n;
} volumes;

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
	keep(r, all);
	mine = keep(r, json_array());
	if (mine == NULL)
		return ss_error_set(SS_ENOMEM, "out of memory");
	for (i = 0; i < json_array_size(all); i++) {
		const char *ns = ctrl_meta(json_array_get(all, i), "namespace");

		if (ns && strcmp(ns, r->ns) == 0)
			json_array_append(mine, json_array_get(all, i));
	}
	return app_restore_pick_backup(name, &data_ns, mine, r->spec.source_name,
				       r->spec.has_point_in_time,
				       r->spec.point_in_time_ns, r->now);
}

/* Step 3 for a Backup source (backupName, or the one recorded or picked).
 * 0 with *vols when it can be restored from; otherwise a finished or
 * waiting result in *res and 1. */
static int source_backup(volumes *vols, ctrl_result *res, run *r, const char *bname)
{
	app_backup_status bst;
	json_t *b = NULL;
	const char *why = NULL;
	int rc;

	rc = kube_get(&b, r->rc->o.client, &app_backups, r->ns, bname);
	if (rc == SS_ENOTFOUND) {
		*res = fail(r, "SourceNotFound", "Backup %s/%s does not exist", r->ns,
			    bname);
		return 1;
	}
	if (rc < 0) {
		*res = ctrl_result_error();
		return 1;
	}
	keep(r, b);
	switch (app_restore_backup_state(b, &why)) {
	case APP_SOURCE_OK: break;
	case APP_SOURCE_FAILED:
		*res = fail(r, "SourceNotReady", "Backup %s cannot be restored: %s",
			    bname, why);
		return 1;
	case APP_SOURCE_WAIT:
		set_message(r, "waiting for Backup %s: %s", bname, why);
		*res = wait_or_time_out(r, "SourceNotReady");
		return 1;
	}
	app_backup_status_init(&bst);
	app_backup_status_decode(&bst, b);
	backup_volumes(vols, &bst);
	r->gtid = bst.position.gtid_current_pos;
	if (r->gtid == NULL || r->gtid[0] == '\0')
		r->gtid = bst.source_role && strcmp(bst.source_role, "Primary") == 0
				  ? bst.position.gtid_binlog_pos
				  : bst.position.gtid_slave_pos;
	if (vols->n == 0) {
		*res = fail(r, "SourceNotReady", "Backup %s lists no VolumeSnapshots",
			    bname);
		return 1;
	}
	return 0;
}

/* Step 3 for a volumeSnapshotName source: one volume, named by the
 * snapshot's snapstage.io/volume label (a snapshot snapstage made), else
 * "data". */
static int source_snapshot(volumes *vols, ctrl_result *res, run *r)
{
	const char *vsname = r->spec.source_name;
	app_plan_vs_state vst;
	json_t *vs = NULL;
	const char *volume;
	int rc;

	rc = kube_get(&vs, r->rc->o.client, &app_volumesnapshots, r->ns, vsname);
	if (rc == SS_ENOTFOUND) {
		*res = fail(r, "SourceNotFound", "VolumeSnapshot %s/%s does not exist",
			    r->ns, vsname);
		return 1;
	}
	if (rc < 0) {
		*res = ctrl_result_error();
		return 1;
	}
	keep(r, vs);
	if (app_plan_vs_state_read(&vst, vs) < 0) {
		*res = fail(r, "SourceNotReady", "VolumeSnapshot %s: %s", vsname,
			    ss_error_last()->message);
		return 1;
	}
	if (vst.error) {
		*res = fail(r, "SourceNotReady", "VolumeSnapshot %s failed: %s", vsname,
			    vst.error);
		return 1;
	}
	if (!vst.ready_to_use) {
		set_message(r, "waiting for VolumeSnapshot %s to be readyToUse", vsname);
		*res = wait_or_time_out(r, "SourceNotReady");
		return 1;
	}
	volume = ctrl_label(vs, APP_LABEL_VOLUME);
	r->gtid = ctrl_annotation(vs, APP_ANNOTATION_GTID_CURRENT_POS);
	vols->v[0].volume = volume ? volume : "data";
	vols->v[0].snapshot = vsname;
	vols->v[0].restore_size_bytes = vst.restore_size_bytes;
	vols->n = 1;
	return 0;
}

/* ---- steps 4-6: new claims ---------------------------------------------------- */

/* Step 4: nothing created yet; fails the Restore (1 with *res) on the
 * first check that does not pass. */
static int check_claims(ctrl_result *res, run *r, const json_t *planned)
{
	json_t *pvc;
	size_t i;
	int rc;

	if (r->spec.storage_class != NULL) {
		json_t *sc = NULL;

		rc = kube_get(&sc, r->rc->o.client, &storage_classes, NULL,
			      r->spec.storage_class);
		json_decref(sc);
		if (rc == SS_ENOTFOUND) {
			*res = fail(
				r, "StorageClassNotFound",
				"spec.target.newClaims.storageClassName: StorageClass %s "
				"does not exist",
				r->spec.storage_class);
			return 1;
		}
		if (rc < 0) {
			*res = ctrl_result_error();
			return 1;
		}
	}
	json_array_foreach((json_t *)planned, i, pvc)
	{
		const char *cname = ctrl_meta(pvc, "name");
		json_t *have = NULL;

		rc = kube_get(&have, r->rc->o.client, &claims_res, r->ns, cname);
		if (rc == SS_ENOTFOUND)
			continue;
		if (rc < 0) {
			*res = ctrl_result_error();
			return 1;
		}
		if (!app_restore_claim_is_ours(have, r->obj)) {
			json_decref(have);
			*res = fail(
				r, "ClaimExists",
				"PersistentVolumeClaim %s/%s already exists and was not "
				"made by this Restore; nothing was created",
				r->ns, cname);
			return 1;
		}
		json_decref(have);
	}
	return 0;
}

/* Step 5: creates the planned claims that are not there yet. */
static int create_claims(ctrl_result *res, run *r, const json_t *planned)
{
	json_t *pvc;
	size_t i, made = 0;
	int rc;

	json_array_foreach((json_t *)planned, i, pvc)
	{
		const char *cname = ctrl_meta(pvc, "name");
		json_t *have = NULL;

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
		if (kube_get(&have, r->rc->o.client, &claims_res, r->ns, cname) == 0 &&
		    !app_restore_claim_is_ours(have, r->obj)) {
			json_decref(have);
			*res = fail(
				r, "ClaimExists",
				"PersistentVolumeClaim %s/%s was created by someone else "
				"while this Restore ran",
				r->ns, cname);
			return 1;
		}
		json_decref(have);
	}
	if (made > 0)
		event(r, CTRL_EVENT_NORMAL, "ClaimsCreated",
		      "created %zu PersistentVolumeClaim(s) from %s", made,
		      r->st.source_backup ? r->st.source_backup : r->spec.source_name);
	return 0;
}

/* Step 6: 0 when every claim is Bound; otherwise *res and 1. */
static int claims_bound(ctrl_result *res, run *r)
{
	size_t i, pending = 0;
	const char *first = NULL;

	for (i = 0; i < r->st.n_claims; i++) {
		json_t *pvc = NULL;
		int rc = kube_get(&pvc, r->rc->o.client, &claims_res, r->ns,
				  r->st.claims[i].name);

		if (rc < 0 && rc != SS_ENOTFOUND) {
			*res = ctrl_result_error();
			return 1;
		}
		switch (rc == 0 ? app_restore_claim_state(pvc) : APP_CLAIM_LOST) {
		case APP_CLAIM_BOUND: r->st.claims[i].bound = true; break;
		case APP_CLAIM_LOST:
			json_decref(pvc);
			*res = fail(r, "ClaimLost", "PersistentVolumeClaim %s is %s",
				    r->st.claims[i].name, rc == 0 ? "Lost" : "gone");
			return 1;
		case APP_CLAIM_PENDING:
			r->st.claims[i].bound = false;
			pending++;
			if (first == NULL)
				first = r->st.claims[i].name;
			break;
		}
		json_decref(pvc);
	}
	if (pending == 0)
		return 0;
	set_message(r, "waiting for %zu of %zu claims to be Bound (%s, ...)", pending,
		    r->st.n_claims, first);
	*res = wait_or_time_out(r, "Timeout");
	return 1;
}

static ctrl_result new_claims(run *r, const volumes *vols)
{
	app_restore_claims_in in;
	json_t *planned = NULL, *pvc;
	const char *reason = NULL;
	ctrl_result res;
	size_t i;

	memset(&in, 0, sizeof(in));
	in.restore = r->obj;
	in.spec = &r->spec;
	in.volumes = vols->v;
	in.n_volumes = vols->n;
	if (app_restore_claims_plan(&planned, &reason, &in) < 0)
		return fail(r, reason ? reason : "InvalidSpec", "%s",
			    ss_error_last()->message);
	keep(r, planned);
	if (r->st.phase != APP_RESTORE_RESTORING && check_claims(&res, r, planned))
		return res;
	/* 5: the claims in status first. */
	r->st.n_claims = 0;
	json_array_foreach(planned, i, pvc)
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
	if (r->st.phase != APP_RESTORE_RESTORING) {
		r->st.has_phase = true;
		r->st.phase = APP_RESTORE_RESTORING;
		set_message(r, "creating %zu claim(s) from %s", r->st.n_claims,
			    r->st.source_backup ? r->st.source_backup
						: r->spec.source_name);
		if (write_status(r) < 0)
			return ctrl_result_error();
		event(r, CTRL_EVENT_NORMAL, "Restoring", "%s", r->message);
	}
	if (create_claims(&res, r, planned))
		return res;
	/* 6 */
	if (claims_bound(&res, r))
		return res;
	r->st.phase = APP_RESTORE_COMPLETED;
	r->st.completion_ns = r->now;
	set_message(r, "%zu claim(s) Bound, restored from %s", r->st.n_claims,
		    r->st.source_backup ? r->st.source_backup : r->spec.source_name);
	r->cond_type = "Complete";
	r->cond_reason = "Restored";
	if (write_status(r) < 0)
		return ctrl_result_error();
	ss_log(SS_LOG_INFO, "restore completed", SS_LS("restore", r->key),
	       SS_LS("message", r->message));
	event(r, CTRL_EVENT_NORMAL, "Completed", "%s", r->message);
	observe_finish(r, "completed", "Restored");
	return ctrl_result_done();
}

/* ---- InPlace ---------------------------------------------------------------------- */

static const char *step_name(app_restore_step step)
{
	switch (step) {
	case APP_STEP_SCALING_DOWN: return "ScalingDown";
	case APP_STEP_REPLACING_CLAIMS: return "ReplacingClaims";
	case APP_STEP_SCALING_UP: return "ScalingUp";
	case APP_STEP_CONFIGURING_REPLICATION: return "ConfiguringReplication";
	case APP_STEP_DONE: return "Done";
	case APP_STEP_NONE: break;
	}
	return "None";
}

/* Records `step` in status before it is taken, with an Event. */
static int enter_step(run *r, app_restore_step step, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int enter_step(run *r, app_restore_step step, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset_message(r, fmt, ap);
	va_end(ap);
	r->st.step = step;
	if (write_status(r) < 0)
		return -1;
	ss_log(SS_LOG_INFO, "restore step", SS_LS("restore", r->key),
	       SS_LS("step", step_name(step)));
	event(r, CTRL_EVENT_NORMAL, step_name(step), "%s", r->message);
	return 0;
}

static int scale(run *r, int replicas)
{
	kube_patch_opts po = { 0 };
	json_t *patch = json_pack("{s:{s:i}}", "spec", "replicas", replicas);
	int rc;

	if (patch == NULL)
		return ss_error_set(SS_ENOMEM, "out of memory");
	po.subresource = "scale";
	rc = kube_patch(NULL, r->rc->o.client, &statefulsets, r->ns,
			r->spec.statefulset_name, KUBE_PATCH_MERGE, patch, &po);
	json_decref(patch);
	return rc;
}

/* Times out a step: Failed Timeout, and the StatefulSet back at its size. */
static ctrl_result in_place_wait(run *r)
{
	int64_t limit = (int64_t)r->spec.timeout_seconds * SS_NS_PER_SEC;

	if (r->spec.timeout_seconds > 0 && r->now - r->st.start_ns > limit) {
		char what[MSG_MAX];

		ss_strlcpy(what, r->message, sizeof(what));
		return fail(r, "Timeout",
			    "gave up after timeoutSeconds (%d) in step %s: %s; the "
			    "StatefulSet is scaled back to %d",
			    r->spec.timeout_seconds, step_name(r->st.step), what,
			    r->st.original_replicas);
	}
	if (write_status(r) < 0)
		return ctrl_result_error();
	return ctrl_result_requeue_after(r->rc->o.poll_ns);
}

/* The template of volume `name` in StatefulSet `sts`, or NULL. */
static const json_t *claim_template(const json_t *sts, const char *name)
{
	const json_t *t;
	size_t i;

	json_array_foreach(
		json_object_get(json_object_get(sts, "spec"), "volumeClaimTemplates"), i,
		t)
	{
		const char *n = ctrl_meta(t, "name");

		if (n && strcmp(n, name) == 0)
			return t;
	}
	return NULL;
}

/* The credentials of spec.target.inPlace.replicationCredentialsSecretRef
 * (app_credentials_read(); set only). */
static int read_replication_credentials(app_credentials *out, run *r, const char **reason)
{
	app_connection repl;

	memset(&repl, 0, sizeof(repl));
	repl.credentials = r->spec.replication_credentials;
	return app_credentials_read(out, r->rc->o.client, r->ns, &repl, reason);
}

/* The checks before anything is changed; 1 with *res when one fails. */
static int in_place_checks(ctrl_result *res, run *r, const json_t *sts,
			   const volumes *vols, int replicas)
{
	app_credentials cred;
	const char *reason = NULL;
	size_t i;

	for (i = 0; i < vols->n; i++) {
		if (claim_template(sts, vols->v[i].volume) == NULL) {
			*res = fail(
				r, "InvalidSpec",
				"the source's volume %s is not a volumeClaimTemplate of "
				"StatefulSet %s",
				vols->v[i].volume, r->spec.statefulset_name);
			return 1;
		}
	}
	if (app_credentials_read(&cred, r->rc->o.client, r->ns, &r->spec.connection,
				 &reason) < 0) {
		*res = reason ? fail(r, reason, "%s", ss_error_last()->message)
			      : ctrl_result_error();
		return 1;
	}
	app_credentials_free(&cred);
	if (replicas > 1) {
		if (!r->spec.has_replication_credentials) {
			*res = fail(
				r, "InvalidSpec",
				"spec.target.inPlace.replicationCredentialsSecretRef: "
				"required: StatefulSet %s has %d replicas",
				r->spec.statefulset_name, replicas);
			return 1;
		}
		if (read_replication_credentials(&cred, r, &reason) < 0) {
			*res = reason ? fail(r, reason, "%s", ss_error_last()->message)
				      : ctrl_result_error();
			return 1;
		}
		app_credentials_free(&cred);
		if (r->gtid == NULL || r->gtid[0] == '\0') {
			*res = fail(
				r, "SourceNotReady",
				"the source recorded no GTID position, so the replicas "
				"could not be started where the data ends");
			return 1;
		}
	}
	return 0;
}

/* The Pods of the StatefulSet in the namespace (any state). */
static int sts_pods(json_t **out, run *r)
{
	if (r->rc->o.pods == NULL)
		return ss_error_set(SS_EINVALID, "restore controller: no Pod cache");
	return ctrl_store_by_index(out, r->rc->o.pods, APP_INDEX_NAMESPACE, r->ns);
}

/* How many Pods the StatefulSet owns (by controller reference). */
static int owned_pods(size_t *n, run *r)
{
	json_t *pods = NULL, *pod;
	size_t i;

	if (sts_pods(&pods, r) < 0)
		return -1;
	*n = 0;
	json_array_foreach(pods, i, pod)
	{
		const json_t *ref;
		size_t j;

		json_array_foreach(json_object_get(json_object_get(pod, "metadata"),
						   "ownerReferences"),
				   j, ref)
		{
			const char *kind =
				json_string_value(json_object_get(ref, "kind"));
			const char *name =
				json_string_value(json_object_get(ref, "name"));

			if (kind && name && strcmp(kind, "StatefulSet") == 0 &&
			    strcmp(name, r->spec.statefulset_name) == 0)
				(*n)++;
		}
	}
	json_decref(pods);
	return 0;
}

/* ReplacingClaims for one claim; 0 when it is ours now, 1 to wait, <0. */
static int replace_claim(run *r, const json_t *sts, const app_restore_volume *v,
			 int ordinal)
{
	const json_t *tmpl = claim_template(sts, v->volume);
	const json_t *tspec = json_object_get(tmpl, "spec");
	char cname[254];
	app_restore_spec spec = r->spec;
	app_restore_claims_in in;
	json_t *have = NULL, *planned = NULL;
	const char *reason = NULL;
	const json_t *mode;
	size_t i;
	int rc;

	if ((size_t)snprintf(cname, sizeof(cname), "%s-%s-%d", v->volume,
			     r->spec.statefulset_name, ordinal) >= sizeof(cname))
		return ss_error_set(SS_ETOOLARGE, "claim name %s-%s-%d is too long",
				    v->volume, r->spec.statefulset_name, ordinal);
	rc = kube_get(&have, r->rc->o.client, &claims_res, r->ns, cname);
	if (rc < 0 && rc != SS_ENOTFOUND)
		return rc;
	if (rc == 0) {
		bool ours = app_restore_claim_is_ours(have, r->obj);
		bool deleting = ctrl_meta(have, "deletionTimestamp") != NULL;

		json_decref(have);
		if (ours)
			return 0;
		if (!deleting) {
			kube_delete_opts d = KUBE_DELETE_OPTS_INIT;

			rc = kube_delete(NULL, r->rc->o.client, &claims_res, r->ns, cname,
					 &d);
			if (rc < 0 && rc != SS_ENOTFOUND)
				return rc;
			ss_log(SS_LOG_INFO, "claim deleted", SS_LS("restore", r->key),
			       SS_LS("claim", cname));
		}
		set_message(r, "waiting for the old claim %s to be deleted", cname);
		return 1;
	}
	/* Gone: create it from the snapshot like the template would. */
	spec.n_claims = 1;
	spec.claims[0].volume = v->volume;
	spec.claims[0].name = cname;
	spec.claims[0].size_bytes = 0;
	{
		const char *req = json_string_value(json_object_get(
			json_object_get(json_object_get(tspec, "resources"), "requests"),
			"storage"));
		int64_t bytes = 0;

		if (req && kube_quantity_parse(&bytes, req) == 0 && bytes > 0)
			spec.claims[0].size_bytes = bytes;
	}
	spec.storage_class =
		json_string_value(json_object_get(tspec, "storageClassName"));
	spec.n_access_modes = 0;
	json_array_foreach(json_object_get(tspec, "accessModes"), i, mode)
	{
		if (json_is_string(mode) && spec.n_access_modes < APP_MAX_ACCESS_MODES)
			spec.access_modes[spec.n_access_modes++] =
				json_string_value(mode);
	}
	if (spec.n_access_modes == 0)
		spec.access_modes[spec.n_access_modes++] = "ReadWriteOnce";
	spec.claim_labels = json_object_get(json_object_get(tmpl, "metadata"), "labels");
	spec.claim_annotations = NULL;
	memset(&in, 0, sizeof(in));
	in.restore = r->obj;
	in.spec = &spec;
	in.volumes = v;
	in.n_volumes = 1;
	rc = app_restore_claims_plan(&planned, &reason, &in);
	if (rc < 0)
		return rc;
	rc = kube_create(NULL, r->rc->o.client, &claims_res, r->ns,
			 json_array_get(planned, 0));
	json_decref(planned);
	if (rc == SS_EEXISTS)
		return 1; /* looked at again next time */
	if (rc < 0)
		return rc;
	ss_log(SS_LOG_INFO, "claim created", SS_LS("restore", r->key),
	       SS_LS("claim", cname));
	return 0;
}

/* The members' Pods resolved (ip, port, readiness), sorted by ordinal. */
static int members(app_plan_candidates *out, run *r)
{
	app_target t;
	json_t *pods = NULL;
	const char *reason = NULL;
	int rc;

	memset(&t, 0, sizeof(t));
	t.statefulset_name = r->spec.statefulset_name;
	if (sts_pods(&pods, r) < 0)
		return -1;
	keep(r, pods); /* the candidates borrow from the Pods */
	rc = app_plan_candidates_resolve(out, &t, pods, &reason);
	return rc;
}

/* ConfiguringReplication: 0 when done, 1 to look again, <0 on an error. */
static int configure_replication(run *r, const app_plan_candidates *m)
{
	app_credentials cred, repl_cred;
	const app_plan_candidate *primary = NULL;
	const char *reason = NULL;
	size_t i;
	int rc;

	memset(&repl_cred, 0, sizeof(repl_cred));
	for (i = 0; i < m->n; i++)
		if (m->c[i].ordinal == r->spec.primary_ordinal)
			primary = &m->c[i];
	if (primary == NULL || !primary->ready) {
		set_message(r, "waiting for the primary %s-%d to be Ready",
			    r->spec.statefulset_name, r->spec.primary_ordinal);
		return 1;
	}
	rc = app_credentials_read(&cred, r->rc->o.client, r->ns, &r->spec.connection,
				  &reason);
	if (rc < 0)
		return rc;
	if (r->spec.has_replication_credentials) {
		rc = read_replication_credentials(&repl_cred, r, &reason);
		if (rc < 0)
			goto done;
	}
	for (i = 0; i < m->n; i++) {
		const app_plan_candidate *c = &m->c[i];
		app_db_target t;
		app_db *db = NULL;
		bool changed = false;

		if (c != primary && repl_cred.user == NULL)
			continue; /* one member: nothing replicates */
		app_credentials_db_target(&t, &r->spec.connection, &cred, c->ip, c->port);
		rc = app_db_connect(&db, &t);
		if (rc == 0 && c == primary) {
			rc = app_db_restore_as_primary(db, r->gtid, &changed);
		} else if (rc == 0) {
			app_db_replication_source src = { primary->ip, primary->port,
							  repl_cred.user,
							  repl_cred.password };

			rc = app_db_restore_as_replica(db, &src, r->gtid, &changed);
		}
		app_db_close(db);
		if (rc < 0)
			goto done;
		if (changed)
			ss_log(SS_LOG_INFO, "replication configured",
			       SS_LS("restore", r->key), SS_LS("pod", c->pod),
			       SS_LS("role", c == primary ? "primary" : "replica"),
			       SS_LS("gtid", r->gtid ? r->gtid : ""));
	}
done:
	app_credentials_free(&cred);
	app_credentials_free(&repl_cred);
	return rc;
}

static ctrl_result in_place(run *r, const volumes *vols)
{
	app_plan_candidates *m = NULL;
	json_t *sts = NULL;
	ctrl_result res;
	size_t i, n;
	int replicas, ord, rc;

	rc = kube_get(&sts, r->rc->o.client, &statefulsets, r->ns,
		      r->spec.statefulset_name);
	if (rc == SS_ENOTFOUND)
		return fail(r, "StatefulSetNotFound", "StatefulSet %s/%s does not exist",
			    r->ns, r->spec.statefulset_name);
	if (rc < 0)
		return ctrl_result_error();
	keep(r, sts);
	replicas = (int)json_integer_value(
		json_object_get(json_object_get(sts, "spec"), "replicas"));
	/* checks, then ScalingDown */
	if (r->st.step == APP_STEP_NONE) {
		if (in_place_checks(&res, r, sts, vols, replicas))
			return res;
		if (r->spec.primary_ordinal >= replicas)
			return fail(
				r, "InvalidSpec",
				"spec.target.inPlace.primaryOrdinal: %d, but StatefulSet "
				"%s has %d replicas",
				r->spec.primary_ordinal, r->spec.statefulset_name,
				replicas);
		r->st.has_phase = true;
		r->st.phase = APP_RESTORE_RESTORING;
		r->st.original_replicas = replicas;
		if (enter_step(r, APP_STEP_SCALING_DOWN,
			       "scaling StatefulSet %s from %d to 0 replicas",
			       r->spec.statefulset_name, replicas) < 0)
			return ctrl_result_error();
	}
	if (r->st.step == APP_STEP_SCALING_DOWN) {
		if (scale(r, 0) < 0)
			return ctrl_result_error();
		if (owned_pods(&n, r) < 0)
			return ctrl_result_error();
		if (n > 0) {
			set_message(r, "waiting for %zu Pod(s) of %s to be gone", n,
				    r->spec.statefulset_name);
			return in_place_wait(r);
		}
		if (enter_step(r, APP_STEP_REPLACING_CLAIMS,
			       "replacing the claims of %d member(s) with %s",
			       r->st.original_replicas,
			       r->st.source_backup ? r->st.source_backup
						   : r->spec.source_name) < 0)
			return ctrl_result_error();
	}
	if (r->st.step == APP_STEP_REPLACING_CLAIMS) {
		bool waiting = false;

		for (ord = 0; ord < r->st.original_replicas; ord++) {
			for (i = 0; i < vols->n; i++) {
				rc = replace_claim(r, sts, &vols->v[i], ord);
				if (rc < 0)
					return ctrl_result_error();
				if (rc == 1)
					waiting = true;
			}
		}
		if (waiting)
			return in_place_wait(r);
		if (enter_step(r, APP_STEP_SCALING_UP,
			       "scaling StatefulSet %s back to %d replicas",
			       r->spec.statefulset_name, r->st.original_replicas) < 0)
			return ctrl_result_error();
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return ctrl_result_error();
	if (r->st.step == APP_STEP_SCALING_UP) {
		size_t ready = 0;

		if (scale(r, r->st.original_replicas) < 0) {
			res = ctrl_result_error();
			goto done;
		}
		if (members(m, r) == 0)
			for (i = 0; i < m->n; i++)
				ready += m->c[i].ready;
		if (ready < (size_t)r->st.original_replicas) {
			set_message(
				r, "waiting for %d Pod(s) of %s to be Ready (%zu are)",
				r->st.original_replicas, r->spec.statefulset_name, ready);
			res = in_place_wait(r);
			goto done;
		}
		if (enter_step(
			    r, APP_STEP_CONFIGURING_REPLICATION,
			    "making %s-%d the primary and the others its replicas from "
			    "GTID %s",
			    r->spec.statefulset_name, r->spec.primary_ordinal,
			    r->gtid ? r->gtid : "(none)") < 0) {
			res = ctrl_result_error();
			goto done;
		}
	}
	if (r->st.step == APP_STEP_CONFIGURING_REPLICATION) {
		if (members(m, r) < 0) {
			res = ctrl_result_error();
			goto done;
		}
		rc = configure_replication(r, m);
		if (rc == 1) {
			res = in_place_wait(r);
			goto done;
		}
		if (rc < 0) {
			ss_log(SS_LOG_WARN, "configuring replication failed",
			       SS_LS("restore", r->key), SS_LERR());
			set_message(r, "configuring replication: %s",
				    ss_error_last()->message);
			res = in_place_wait(r);
			goto done;
		}
	}
	r->st.step = APP_STEP_DONE;
	r->st.phase = APP_RESTORE_COMPLETED;
	r->st.completion_ns = r->now;
	set_message(r, "StatefulSet %s restored from %s: %d member(s), %s-%d the primary",
		    r->spec.statefulset_name,
		    r->st.source_backup ? r->st.source_backup : r->spec.source_name,
		    r->st.original_replicas, r->spec.statefulset_name,
		    r->spec.primary_ordinal);
	r->cond_type = "Complete";
	r->cond_reason = "Restored";
	if (write_status(r) < 0) {
		res = ctrl_result_error();
		goto done;
	}
	ss_log(SS_LOG_INFO, "restore completed", SS_LS("restore", r->key),
	       SS_LS("message", r->message));
	event(r, CTRL_EVENT_NORMAL, "Completed", "%s", r->message);
	observe_finish(r, "completed", "Restored");
	res = ctrl_result_done();
done:
	free(m);
	return res;
}

ctrl_result app_restore_reconcile(void *payload, const char *key)
{
	app_restore_ctrl *rc = payload;
	run *r = calloc(1, sizeof(*r));
	json_t *cached = NULL, *obj = NULL;
	const char *reason = NULL, *bname = NULL;
	volumes vols;
	ctrl_result res;
	size_t i;
	int err;

	if (r == NULL) {
		ss_error_set(SS_ENOMEM, "out of memory");
		return ctrl_result_error();
	}
	r->rc = rc;
	r->key = key;
	r->now = ss_clock_real(rc->o.clock);
	memset(&vols, 0, sizeof(vols));
	/* 1 */
	if (ctrl_store_get(&cached, rc->o.restores, key) < 0 || cached == NULL ||
	    ctrl_key_split(key, r->ns, sizeof(r->ns), r->name, sizeof(r->name)) < 0) {
		json_decref(cached);
		res = ctrl_result_done();
		goto done;
	}
	json_decref(cached);
	err = kube_get(&obj, rc->o.client, &app_restores, r->ns, r->name);
	if (err == SS_ENOTFOUND ||
	    (err == 0 && ctrl_meta(obj, "deletionTimestamp") != NULL)) {
		json_decref(obj);
		res = ctrl_result_done();
		goto done;
	}
	if (err < 0) {
		res = ctrl_result_error();
		goto done;
	}
	r->obj = keep(r, obj);
	app_restore_status_init(&r->st);
	app_restore_status_decode(&r->st, r->obj);
	if (r->st.has_phase &&
	    (r->st.phase == APP_RESTORE_COMPLETED || r->st.phase == APP_RESTORE_FAILED)) {
		res = ctrl_result_done();
		goto done;
	}
	if (r->st.start_ns == 0)
		r->st.start_ns = r->now;
	if (r->st.message) {
		ss_strlcpy(r->message, r->st.message, sizeof(r->message));
		r->st.message = r->message;
	}
	/* 2 */
	if (app_restore_spec_decode(&r->spec, r->obj, &reason) < 0) {
		res = fail(r, reason ? reason : "InvalidSpec", "%s",
			   ss_error_last()->message);
		goto done;
	}
	if (r->spec.mode == APP_MODE_IN_PLACE) {
		if (!rc->o.enable_in_place) {
			res = fail(
				r, "InPlaceRestoreDisabled",
				"the controller runs without --enable-in-place-restore; "
				"nothing was changed");
			goto done;
		}
	}
	if (!r->st.has_phase) {
		r->st.has_phase = true;
		r->st.phase = APP_RESTORE_PENDING;
	}
	/* 3 */
	if (r->spec.source_kind == APP_SOURCE_VOLUME_SNAPSHOT) {
		if (source_snapshot(&vols, &res, r))
			goto done;
	} else {
		bname = r->st.source_backup;
		if (bname == NULL && r->spec.source_kind == APP_SOURCE_BACKUP)
			bname = r->spec.source_name;
		if (bname == NULL) {
			if (pick_from_schedule(&bname, r) < 0) {
				if (ss_error_last()->code != SS_ENOTFOUND) {
					res = ctrl_result_error();
					goto done;
				}
				res = fail(r, "SourceNotFound", "%s",
					   ss_error_last()->message);
				goto done;
			}
			r->st.source_backup = bname;
			event(r, CTRL_EVENT_NORMAL, "SourceChosen",
			      "restoring Backup %s of schedule %s", bname,
			      r->spec.source_name);
		}
		r->st.source_backup = bname;
		if (source_backup(&vols, &res, r, bname))
			goto done;
	}
	r->st.n_source_snapshots = 0;
	for (i = 0; i < vols.n; i++)
		r->st.source_snapshots[r->st.n_source_snapshots++] = vols.v[i].snapshot;
	/* 4-6 */
	if (r->spec.mode == APP_MODE_IN_PLACE)
		res = in_place(r, &vols);
	else
		res = new_claims(r, &vols);
done:
	for (i = 0; i < r->n_keep; i++)
		json_decref(r->keep[i]);
	free(r);
	return res;
}
