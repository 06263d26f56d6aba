/*
 * restore_inplace.c — the InPlace mode of the Restore controller: a
 * primary/replica StatefulSet rolled back to a Backup under the same claim
 * names. restore.h lists the steps; inplace_plan.h says why the old
 * volumes are kept and how they are given back.
 *
 * Invariants:
 *   - every check passes before the first change (checks());
 *   - the target is pinned at the start (name, uid, replicas, primary) and
 *     a StatefulSet of that name with another uid is never touched
 *     (TargetChanged);
 *   - a claim is deleted only when it is the recorded old claim (uid
 *     precondition) whose volume is set to Retain, or this Restore's own;
 *   - the StatefulSet is scaled up only onto claims that exist: the
 *     restored ones, all Bound (ScalingUp), or the old ones given back
 *     (RolledBack); never onto claims its controller would create empty;
 *   - each member's replication set-up is recorded before the member is
 *     opened for writes or started, and never run twice.
 *
 * Thread-safety: as restore.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/api/api.h"
#include "app/api/index.h"
#include "app/api/target.h"
#include "app/db/credentials.h"
#include "app/db/mariadb.h"
#include "app/db/replication_input.h"
#include "app/restore/inplace_plan.h"
#include "app/restore/restore_check.h"
#include "app/restore/restore_plan.h"
#include "app/restore/restore_run.h"
#include "ctrl/object.h"
#include "kube/quantity.h"
#include "kube/rest.h"
#include "util/error.h"
#include "util/log.h"
#include "util/str.h"

typedef app_restore_run run;
typedef app_restore_volumes volumes;

#define claims_res app_restore_claims_res
#define ALLOW_ANNOTATION "snapstage.io/in-place-restore"
#define ALLOW_VALUE "allowed"
/* How often a blocked rollback is tried again. */
#define BLOCKED_RETRY_NS (30 * SS_NS_PER_SEC)

static const char *step_name(app_restore_step step)
{
	switch (step) {
	case APP_STEP_SCALING_DOWN: return "ScalingDown";
	case APP_STEP_REPLACING_CLAIMS: return "ReplacingClaims";
	case APP_STEP_SCALING_UP: return "ScalingUp";
	case APP_STEP_CONFIGURING_REPLICATION: return "ConfiguringReplication";
	case APP_STEP_RELEASING_OLD_VOLUMES: return "ReleasingOldVolumes";
	case APP_STEP_DONE: return "Done";
	case APP_STEP_ROLLING_BACK: return "RollingBack";
	case APP_STEP_ROLLED_BACK: return "RolledBack";
	case APP_STEP_NONE: break;
	}
	return "None";
}

bool app_restore_in_place_can_roll_back(app_restore_step step)
{
	return step == APP_STEP_SCALING_DOWN || step == APP_STEP_REPLACING_CLAIMS;
}

/* Records `step` in status before it is taken, with an Event. */
static int enter_step(run *r, app_restore_step step, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int enter_step(run *r, app_restore_step step, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	app_restore_vmessage(r, fmt, ap);
	va_end(ap);
	r->st.step = step;
	if (app_restore_write(r) < 0)
		return -1;
	ss_log(SS_LOG_INFO, "restore step", SS_LS("restore", r->key),
	       SS_LS("step", step_name(step)));
	app_restore_event(r, CTRL_EVENT_NORMAL, step_name(step), "%s", r->message);
	return 0;
}

static const char *sts_name(const run *r)
{
	return r->st.statefulset_name ? r->st.statefulset_name : r->spec.statefulset_name;
}

static int scale(run *r, int replicas)
{
	kube_patch_opts po = { 0 };
	json_t *patch = json_pack("{s:{s:i}}", "spec", "replicas", replicas);
	int rc;

	if (patch == NULL)
		return ss_error_set(SS_ENOMEM, "out of memory");
	po.subresource = "scale";
	rc = kube_patch(NULL, r->rc->o.client, &app_restore_statefulsets, r->ns, sts_name(r),
			KUBE_PATCH_MERGE, patch, &po);
	json_decref(patch);
	return rc;
}

static int patch_pv(run *r, const char *pv, json_t *patch)
{
	kube_patch_opts po = { 0 };
	int rc;

	if (patch == NULL)
		return ss_error_set(SS_ENOMEM, "out of memory");
	rc = kube_patch(NULL, r->rc->o.client, &app_restore_pvs, NULL, pv, KUBE_PATCH_MERGE,
			patch, &po);
	json_decref(patch);
	return rc;
}

/* GET of a claim or PV into *out (NULL when not found; kept by the run). */
static int get_kept(json_t **out, run *r, const kube_resource *res, const char *ns,
		    const char *name)
{
	json_t *got = NULL;
	int rc = kube_get(&got, r->rc->o.client, res, ns, name);

	*out = NULL;
	if (rc == SS_ENOTFOUND)
		return 0;
	if (rc < 0)
		return rc;
	*out = app_restore_keep(r, got);
	return 0;
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
		if (ss_streq(ctrl_meta(t, "name"), name))
			return t;
	}
	return NULL;
}

/* "pv-a, pv-b" of the old volumes kept, for a message. */
static void kept_volumes(char *buf, size_t cap, const run *r)
{
	size_t i, len = 0;

	buf[0] = '\0';
	for (i = 0; i < r->st.n_volumes; i++)
		if (r->st.volumes[i].old_volume_name != NULL)
			ss_list_append(buf, cap, &len, r->st.volumes[i].old_volume_name);
}

/* Appends what was kept to the message. */
static void note_kept(run *r)
{
	char kept[512];
	size_t len = strlen(r->message);

	kept_volumes(kept, sizeof(kept), r);
	if (kept[0] != '\0')
		snprintf(r->message + len, sizeof(r->message) - len,
			 "; the old PersistentVolumes are kept with reclaim policy "
			 "Retain: %s",
			 kept);
}

/* ---- the target ---------------------------------------------------------------- */

static ctrl_result target_changed(run *r, const char *what)
{
	char w[256];

	ss_strlcpy(w, what, sizeof(w));
	app_restore_message(r, "StatefulSet %s %s during the restore (step %s); nothing more "
			       "is touched",
			    sts_name(r), w, step_name(r->st.step));
	note_kept(r);
	return app_restore_fail_final(r, "TargetChanged");
}

/* The StatefulSet, checked against what was pinned. 0 with *sts, or 1 with
 * *res. */
static int target(json_t **sts, ctrl_result *res, run *r)
{
	char what[160];
	const char *uid;
	int rc;

	rc = get_kept(sts, r, &app_restore_statefulsets, r->ns, sts_name(r));
	if (rc < 0) {
		*res = ctrl_result_error();
		return 1;
	}
	if (*sts == NULL) {
		*res = r->st.statefulset_uid == NULL
			       ? app_restore_fail(r, "StatefulSetNotFound",
						  "StatefulSet %s/%s does not exist", r->ns,
						  sts_name(r))
			       : target_changed(r, "was deleted");
		return 1;
	}
	uid = ctrl_meta(*sts, "uid");
	if (r->st.statefulset_uid != NULL && !ss_streq(uid, r->st.statefulset_uid)) {
		snprintf(what, sizeof(what), "was replaced (uid %s, was %s)", uid ? uid : "?",
			 r->st.statefulset_uid);
		*res = target_changed(r, what);
		return 1;
	}
	return 0;
}

/* ---- the checks, before anything changes --------------------------------------- */

static int check_fail(ctrl_result *res, run *r, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int check_fail(ctrl_result *res, run *r, const char *reason, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	app_restore_vmessage(r, fmt, ap);
	va_end(ap);
	*res = app_restore_fail_final(r, reason);
	return 1;
}

/* The StatefulSet's shape: opted in, a size we handle, the primary one of
 * its members, every backed-up volume one of its templates. */
static int check_target(ctrl_result *res, run *r, const json_t *sts, const volumes *vols,
			int replicas)
{
	size_t i;

	if (!ss_streq(ctrl_annotation(sts, ALLOW_ANNOTATION), ALLOW_VALUE))
		return check_fail(res, r, "InPlaceRestoreNotAllowed",
				  "StatefulSet %s does not allow in-place restores: whoever "
				  "may edit it must annotate it %s=%s first",
				  sts_name(r), ALLOW_ANNOTATION, ALLOW_VALUE);
	if (replicas < 1 || replicas > APP_MAX_MEMBERS ||
	    (size_t)replicas * vols->n > APP_MAX_INPLACE_CLAIMS)
		return check_fail(res, r, "InvalidSpec",
				  "StatefulSet %s has %d replicas x %zu volumes; an in-place "
				  "restore handles 1 to %d members and at most %d claims",
				  sts_name(r), replicas, vols->n, APP_MAX_MEMBERS,
				  APP_MAX_INPLACE_CLAIMS);
	if (r->spec.primary_ordinal >= replicas)
		return check_fail(res, r, "InvalidSpec",
				  "spec.target.inPlace.primaryOrdinal: %d, but StatefulSet "
				  "%s has %d replicas",
				  r->spec.primary_ordinal, sts_name(r), replicas);
	for (i = 0; i < vols->n; i++)
		if (claim_template(sts, vols->v[i].volume) == NULL)
			return check_fail(res, r, "InvalidSpec",
					  "the source's volume %s is not a "
					  "volumeClaimTemplate of StatefulSet %s",
					  vols->v[i].volume, sts_name(r));
	return 0;
}

/* Every source snapshot against the StorageClass of its template. */
static int check_storage(ctrl_result *res, run *r, const json_t *sts, volumes *vols)
{
	char where[320];
	size_t i;
	int rc;

	rc = app_restore_check_sources(res, r, vols);
	for (i = 0; rc == 0 && i < vols->n; i++) {
		const json_t *t = claim_template(sts, vols->v[i].volume);
		volumes one;

		memset(&one, 0, sizeof(one));
		one.v[0] = vols->v[i];
		one.info[0] = vols->info[i];
		one.n = 1;
		snprintf(where, sizeof(where), "the volumeClaimTemplate %s of StatefulSet %s",
			 vols->v[i].volume, sts_name(r));
		rc = app_restore_check_drivers(
			res, r, &one,
			json_string_value(json_object_get(json_object_get(t, "spec"),
							  "storageClassName")),
			where);
	}
	return rc != 0;
}

/* The replication credentials of spec.target.inPlace (set only). */
static int read_replication_credentials(app_credentials *out, run *r, const char **reason)
{
	app_connection repl;

	memset(&repl, 0, sizeof(repl));
	repl.credentials = r->spec.replication_credentials;
	return app_credentials_read(out, r->rc->o.client, r->ns, &repl, reason);
}

/* The Secrets ConfiguringReplication reads, and what it feeds MariaDB. */
static int check_credentials(ctrl_result *res, run *r, int replicas)
{
	app_credentials cred;
	const char *reason = NULL;
	int rc;

	if (app_credentials_read(&cred, r->rc->o.client, r->ns, &r->spec.connection,
				 &reason) < 0)
		goto failed;
	app_credentials_free(&cred);
	if (replicas == 1)
		return 0;
	if (!r->spec.has_replication_credentials)
		return check_fail(res, r, "InvalidSpec",
				  "spec.target.inPlace.replicationCredentialsSecretRef: "
				  "required: StatefulSet %s has %d replicas",
				  sts_name(r), replicas);
	if (read_replication_credentials(&cred, r, &reason) < 0)
		goto failed;
	rc = app_replication_credentials_check(cred.user, cred.password);
	app_credentials_free(&cred);
	if (rc < 0)
		return check_fail(res, r, "SecretValueInvalid",
				  "Secret %s: %s",
				  r->spec.replication_credentials.name,
				  ss_error_last()->message);
	return 0;
failed:
	if (reason == NULL) {
		*res = ctrl_result_error();
		return 1;
	}
	return check_fail(res, r, reason, "%s",
			  ss_error_last()->message);
}

/* The position the members are set up from: there when needed, well
 * formed, and exact unless the spec accepts otherwise. */
static int check_position(ctrl_result *res, run *r, int replicas)
{
	bool have = r->gtid != NULL && r->gtid[0] != '\0';

	if (!have && replicas > 1)
		return check_fail(res, r, "SourceNotReady",
				  "the source recorded no GTID position, so the replicas "
				  "could not be started where the data ends");
	if (!have)
		return 0;
	if (app_gtid_pos_check(r->gtid) < 0)
		return check_fail(res, r, "InvalidPosition",
				  "the source's GTID position is not usable: %s",
				  ss_error_last()->message);
	if (!r->spec.accept_inexact_position &&
	    !app_restore_position_exact(r->backup, r->backup ? NULL : r->source_vs))
		return check_fail(res, r, "PositionNotExact",
				  "the source was not cut at lock stage BLOCK_COMMIT, so its "
				  "GTID position %s is not exactly its data's; set "
				  "spec.target.inPlace.acceptInexactPosition to use it "
				  "anyway",
				  r->gtid);
	return 0;
}

/* Step "checks", then the pins and ScalingDown. */
static int start(ctrl_result *res, run *r, const json_t *sts, volumes *vols)
{
	int replicas = (int)json_integer_value(
		json_object_get(json_object_get(sts, "spec"), "replicas"));

	if (check_target(res, r, sts, vols, replicas) || check_storage(res, r, sts, vols) ||
	    check_credentials(res, r, replicas) || check_position(res, r, replicas))
		return 1;
	r->st.has_phase = true;
	r->st.phase = APP_RESTORE_RESTORING;
	r->st.statefulset_name = r->spec.statefulset_name;
	r->st.statefulset_uid = ctrl_meta(sts, "uid");
	r->st.original_replicas = replicas;
	r->st.primary_ordinal = r->spec.primary_ordinal;
	r->st.gtid_position = r->gtid;
	if (enter_step(r, APP_STEP_SCALING_DOWN, "scaling StatefulSet %s from %d to 0 replicas",
		       sts_name(r), replicas) < 0) {
		*res = ctrl_result_error();
		return 1;
	}
	return 0;
}

/* ---- ScalingDown ---------------------------------------------------------------- */

/* How many Pods the StatefulSet owns (by controller reference and uid). */
static int owned_pods(size_t *n, run *r)
{
	json_t *pods = NULL, *pod;
	size_t i;

	if (r->rc->o.pods == NULL)
		return ss_error_set(SS_EINVALID, "restore controller: no Pod cache");
	if (ctrl_store_by_index(&pods, r->rc->o.pods, APP_INDEX_NAMESPACE, r->ns) < 0)
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
			if (ss_streq(json_string_value(json_object_get(ref, "kind")),
				     "StatefulSet") &&
			    ss_streq(json_string_value(json_object_get(ref, "name")),
				     sts_name(r)))
				(*n)++;
		}
	}
	json_decref(pods);
	return 0;
}

/* Records every claim about to be replaced and the volume it holds. */
static int record_volumes(run *r, const volumes *vols)
{
	char cname[320];
	int ord;
	size_t i;

	r->st.n_volumes = 0;
	for (ord = 0; ord < r->st.original_replicas; ord++) {
		for (i = 0; i < vols->n; i++) {
			app_inplace_volume *v = &r->st.volumes[r->st.n_volumes++];
			json_t *pvc = NULL, *pv = NULL;
			int rc;

			snprintf(cname, sizeof(cname), "%s-%s-%d", vols->v[i].volume,
				 sts_name(r), ord);
			memset(v, 0, sizeof(*v));
			v->claim = app_restore_own(r, cname);
			v->volume = vols->v[i].volume;
			v->ordinal = ord;
			rc = get_kept(&pvc, r, &claims_res, r->ns, cname);
			if (rc < 0)
				return rc;
			v->old_claim_uid = ctrl_meta(pvc, "uid");
			v->old_volume_name = json_string_value(
				json_object_get(json_object_get(pvc, "spec"), "volumeName"));
			if (v->old_volume_name == NULL || v->old_volume_name[0] == '\0') {
				v->old_volume_name = NULL;
				continue;
			}
			rc = get_kept(&pv, r, &app_restore_pvs, NULL, v->old_volume_name);
			if (rc < 0)
				return rc;
			v->old_reclaim_policy = pv ? app_inplace_reclaim_policy(pv) : NULL;
		}
	}
	return 0;
}

static ctrl_result scaling_down(run *r, const volumes *vols)
{
	size_t n = 0;

	if (scale(r, 0) < 0 || owned_pods(&n, r) < 0)
		return ctrl_result_error();
	if (n > 0) {
		app_restore_message(r, "waiting for %zu Pod(s) of %s to be gone", n,
				    sts_name(r));
		return app_restore_wait(r);
	}
	if (record_volumes(r, vols) < 0 ||
	    enter_step(r, APP_STEP_REPLACING_CLAIMS,
		       "replacing %zu claim(s) of %d member(s) with %s; their old volumes "
		       "are kept until the restore has succeeded",
		       r->st.n_volumes, r->st.original_replicas,
		       r->st.source_backup ? r->st.source_backup : r->spec.source_name) < 0)
		return ctrl_result_error();
	return ctrl_result_requeue_after(0);
}

/* ---- ReplacingClaims ------------------------------------------------------------- */

/* Makes sure the old volume of `v` is set to Retain. 0 when it is (or there
 * is none), < 0 on an error. */
static int retain_old(run *r, const app_inplace_volume *v)
{
	json_t *pv = NULL;
	int rc;

	if (v->old_volume_name == NULL)
		return 0;
	rc = get_kept(&pv, r, &app_restore_pvs, NULL, v->old_volume_name);
	if (rc < 0 || pv == NULL || ss_streq(app_inplace_reclaim_policy(pv), "Retain"))
		return rc;
	rc = patch_pv(r, v->old_volume_name, app_inplace_policy_patch("Retain"));
	if (rc == 0)
		ss_log(SS_LOG_INFO, "old volume retained", SS_LS("restore", r->key),
		       SS_LS("volume", v->old_volume_name), SS_LS("claim", v->claim));
	return rc;
}

/* The restored claim of slot `v` from its snapshot, like the template. */
static int create_restored(run *r, const json_t *sts, const app_inplace_volume *v,
			   const volumes *vols)
{
	const json_t *tmpl = claim_template(sts, v->volume);
	const json_t *tspec = json_object_get(tmpl, "spec"), *mode;
	const char *req = json_string_value(json_object_get(
		json_object_get(json_object_get(tspec, "resources"), "requests"), "storage"));
	app_restore_spec spec = r->spec;
	app_restore_claims_in in;
	json_t *planned = NULL;
	const char *reason = NULL;
	size_t i, k;
	int rc;

	for (k = 0; k < vols->n && !ss_streq(vols->v[k].volume, v->volume); k++)
		;
	if (k == vols->n || tmpl == NULL)
		return ss_error_set(SS_EINVALID, "volume %s is not in the source", v->volume);
	spec.n_claims = 1;
	spec.claims[0].volume = v->volume;
	spec.claims[0].name = v->claim;
	spec.claims[0].size_bytes = 0;
	if (req && kube_quantity_parse(&spec.claims[0].size_bytes, req) != 0)
		spec.claims[0].size_bytes = 0;
	spec.storage_class = json_string_value(json_object_get(tspec, "storageClassName"));
	spec.n_access_modes = 0;
	json_array_foreach(json_object_get(tspec, "accessModes"), i, mode)
	{
		if (json_is_string(mode) && spec.n_access_modes < APP_MAX_ACCESS_MODES)
			spec.access_modes[spec.n_access_modes++] = json_string_value(mode);
	}
	if (spec.n_access_modes == 0)
		spec.access_modes[spec.n_access_modes++] = "ReadWriteOnce";
	spec.claim_labels = json_object_get(json_object_get(tmpl, "metadata"), "labels");
	spec.claim_annotations = NULL;
	memset(&in, 0, sizeof(in));
	in.restore = r->obj;
	in.spec = &spec;
	in.volumes = &vols->v[k];
	in.n_volumes = 1;
	rc = app_restore_claims_plan(&planned, &reason, &in);
	if (rc < 0)
		return rc;
	rc = kube_create(NULL, r->rc->o.client, &claims_res, r->ns, json_array_get(planned, 0));
	json_decref(planned);
	if (rc == 0)
		ss_log(SS_LOG_INFO, "claim created", SS_LS("restore", r->key),
		       SS_LS("claim", v->claim));
	return rc == SS_EEXISTS ? 0 : rc; /* looked at again next time */
}

/* One slot: 0 when its restored claim is Bound, 1 to wait, 2 when the
 * restore failed (*res), < 0 on an error. */
static int replace_slot(ctrl_result *res, run *r, const json_t *sts,
			const app_inplace_volume *v, const volumes *vols)
{
	json_t *pvc = NULL;
	int rc = get_kept(&pvc, r, &claims_res, r->ns, v->claim);

	if (rc < 0)
		return rc;
	switch (app_inplace_slot_kind(pvc, v, r->obj)) {
	case APP_SLOT_OLD:
		/* Its data must outlive the claim: Retain first, then delete. */
		if ((rc = retain_old(r, v)) < 0 || (rc = app_restore_delete_claim(r, pvc)) < 0)
			return rc;
		return 1;
	case APP_SLOT_DELETING: return 1;
	case APP_SLOT_GONE: return (rc = create_restored(r, sts, v, vols)) < 0 ? rc : 1;
	case APP_SLOT_OURS:
		switch (app_restore_claim_state(pvc)) {
		case APP_CLAIM_BOUND: return 0;
		case APP_CLAIM_PENDING: return 1;
		case APP_CLAIM_LOST: break;
		}
		*res = app_restore_fail(r, "ClaimLost",
					"the restored claim %s is Lost", v->claim);
		return 2;
	case APP_SLOT_REATTACHED:
	case APP_SLOT_FOREIGN: break;
	}
	*res = app_restore_fail(r, "ClaimExists",
				"claim %s was created by someone else during the restore",
				v->claim);
	return 2;
}

static ctrl_result replacing_claims(run *r, const json_t *sts, volumes *vols)
{
	ctrl_result res;
	size_t i, bound = 0;
	const char *first = NULL;
	int rc;

	/* The snapshots again: one deleted since the checks rolls back now
	 * rather than at the timeout. */
	if (app_restore_check_sources(&res, r, vols) != 0)
		return res;
	for (i = 0; i < r->st.n_volumes; i++) {
		rc = replace_slot(&res, r, sts, &r->st.volumes[i], vols);
		if (rc < 0)
			return ctrl_result_error();
		if (rc == 2)
			return res;
		if (rc == 0)
			bound++;
		else if (first == NULL)
			first = r->st.volumes[i].claim;
	}
	if (bound < r->st.n_volumes) {
		app_restore_message(r, "%zu of %zu restored claims Bound (waiting for %s)",
				    bound, r->st.n_volumes, first);
		return app_restore_wait(r);
	}
	if (enter_step(r, APP_STEP_SCALING_UP,
		       "all %zu restored claims Bound; scaling StatefulSet %s back to %d "
		       "replicas",
		       r->st.n_volumes, sts_name(r), r->st.original_replicas) < 0)
		return ctrl_result_error();
	return ctrl_result_requeue_after(0);
}

/* ---- ScalingUp and ConfiguringReplication ------------------------------------------ */

/* The members' Pods resolved (ip, port, readiness), sorted by ordinal. */
static int members(app_target_candidates *out, run *r)
{
	app_target t;
	json_t *pods = NULL;
	const char *reason = NULL;

	memset(&t, 0, sizeof(t));
	t.statefulset_name = sts_name(r);
	if (ctrl_store_by_index(&pods, r->rc->o.pods, APP_INDEX_NAMESPACE, r->ns) < 0)
		return -1;
	app_restore_keep(r, pods); /* the candidates borrow from the Pods */
	return app_target_resolve(out, &t, pods, &reason);
}

/* Every restored claim still there: the StatefulSet must not make an
 * empty one in its place. 0, 1 with *res, < 0. */
static int claims_present(ctrl_result *res, run *r)
{
	size_t i;

	for (i = 0; i < r->st.n_volumes; i++) {
		json_t *pvc = NULL;
		int rc = get_kept(&pvc, r, &claims_res, r->ns, r->st.volumes[i].claim);

		if (rc < 0)
			return rc;
		if (app_inplace_slot_kind(pvc, &r->st.volumes[i], r->obj) != APP_SLOT_OURS) {
			*res = app_restore_fail(r, "ClaimLost",
						"the restored claim %s is gone; the "
						"StatefulSet is not scaled up onto an "
						"empty volume",
						r->st.volumes[i].claim);
			return 1;
		}
	}
	return 0;
}

static ctrl_result scaling_up(run *r, app_target_candidates *m)
{
	ctrl_result res;
	char msg[1024];
	size_t i, ready = 0;
	int rc;

	if ((rc = claims_present(&res, r)) != 0)
		return rc < 0 ? ctrl_result_error() : res;
	if (scale(r, r->st.original_replicas) < 0)
		return ctrl_result_error();
	if (members(m, r) == 0)
		for (i = 0; i < m->n; i++)
			ready += m->c[i].ready;
	if (ready < (size_t)r->st.original_replicas) {
		app_restore_message(r, "waiting for %d Pod(s) of %s to be Ready (%zu are)",
				    r->st.original_replicas, sts_name(r), ready);
		return app_restore_wait(r);
	}
	app_inplace_configuring_message(msg, sizeof(msg), sts_name(r), r->st.primary_ordinal,
					r->st.original_replicas, r->st.gtid_position,
					r->spec.connection.tls_mode);
	if (enter_step(r, APP_STEP_CONFIGURING_REPLICATION, "%s", msg) < 0)
		return ctrl_result_error();
	return ctrl_result_requeue_after(0);
}

/* Adds ordinal `o` to the configured members and writes it down. */
static int record_configured(run *r, int o)
{
	if (!app_inplace_is_configured(&r->st, o) && r->st.n_configured < APP_MAX_MEMBERS)
		r->st.configured[r->st.n_configured++] = o;
	return app_restore_write(r);
}

/* One member: set up once (recorded), then opened for writes (primary) or
 * started (replica) — both repeatable. `src` NULL: the primary. */
static int configure_member(run *r, const app_target_candidate *c,
			    const app_credentials *cred, const app_db_replication_source *src)
{
	const char *gtid = r->st.gtid_position;
	app_db_target t;
	app_db *db = NULL;
	int rc;

	app_credentials_db_target(&t, &r->spec.connection, cred, c->ip, c->port);
	rc = app_db_connect(&db, &t);
	if (rc == 0 && !app_inplace_is_configured(&r->st, c->ordinal)) {
		rc = src ? app_db_restore_as_replica(db, src, gtid)
			 : app_db_restore_as_primary(db, gtid);
		if (rc == 0)
			rc = record_configured(r, c->ordinal);
		if (rc == 0)
			ss_log(SS_LOG_INFO, "replication configured", SS_LS("restore", r->key),
			       SS_LS("pod", c->pod), SS_LS("role", src ? "replica" : "primary"),
			       SS_LS("gtid", gtid ? gtid : ""));
	}
	if (rc == 0)
		rc = src ? app_db_replication_start(db) : app_db_set_read_only(db, false);
	app_db_close(db);
	return rc;
}

/* 0 when every member is set up, 1 to wait, < 0 on an error. */
static int configure_replication(run *r, const app_target_candidates *m)
{
	app_credentials cred, repl;
	const app_target_candidate *primary = NULL;
	const char *reason = NULL;
	size_t i;
	int rc;

	memset(&repl, 0, sizeof(repl));
	for (i = 0; i < m->n; i++)
		if (m->c[i].ordinal == r->st.primary_ordinal)
			primary = &m->c[i];
	if (primary == NULL || !primary->ready) {
		app_restore_message(r, "waiting for the primary %s-%d to be Ready",
				    sts_name(r), r->st.primary_ordinal);
		return 1;
	}
	rc = app_credentials_read(&cred, r->rc->o.client, r->ns, &r->spec.connection, &reason);
	if (rc < 0)
		return rc;
	if (r->st.original_replicas > 1)
		rc = read_replication_credentials(&repl, r, &reason);
	if (rc == 0)
		rc = configure_member(r, primary, &cred, NULL);
	for (i = 0; rc == 0 && i < m->n; i++) {
		/* The Restore's TLS mode for replication too; the replica
		 * verifies with its server's own CA file (mariadb.h). */
		app_db_replication_source src = { primary->ip, primary->port, repl.user,
						  repl.password, r->spec.connection.tls_mode,
						  NULL };

		if (&m->c[i] == primary || m->c[i].ordinal >= r->st.original_replicas)
			continue;
		rc = configure_member(r, &m->c[i], &cred, &src);
	}
	app_credentials_free(&cred);
	app_credentials_free(&repl);
	return rc;
}

static ctrl_result configuring(run *r, app_target_candidates *m)
{
	int rc;

	if (members(m, r) < 0)
		return ctrl_result_error();
	rc = configure_replication(r, m);
	if (rc < 0) {
		ss_log(SS_LOG_WARN, "configuring replication failed", SS_LS("restore", r->key),
		       SS_LERR());
		app_restore_message(r, "configuring replication: %s", ss_error_last()->message);
	}
	if (rc != 0)
		return app_restore_wait(r);
	if (enter_step(r, APP_STEP_RELEASING_OLD_VOLUMES,
		       "replication set up; giving the old volumes their reclaim policy "
		       "back") < 0)
		return ctrl_result_error();
	return ctrl_result_requeue_after(0);
}

/* ---- ReleasingOldVolumes ----------------------------------------------------------- */

/* Puts back the old policy of each old volume still released by its old
 * claim (uid); one bound again or gone is left alone. */
static int release_old(run *r, bool bound_too)
{
	size_t i;
	int rc;

	for (i = 0; i < r->st.n_volumes; i++) {
		const app_inplace_volume *v = &r->st.volumes[i];
		json_t *pv = NULL;
		app_oldpv_kind k;

		if (v->old_volume_name == NULL || v->old_reclaim_policy == NULL)
			continue;
		if ((rc = get_kept(&pv, r, &app_restore_pvs, NULL, v->old_volume_name)) < 0)
			return rc;
		k = app_inplace_oldpv_kind(pv, v, r->ns);
		if (k != APP_OLDPV_RELEASED && !(bound_too && k == APP_OLDPV_BOUND_SLOT))
			continue;
		if (ss_streq(app_inplace_reclaim_policy(pv), v->old_reclaim_policy))
			continue;
		rc = patch_pv(r, v->old_volume_name,
			      app_inplace_policy_patch(v->old_reclaim_policy));
		if (rc < 0 && rc != SS_ENOTFOUND)
			return rc;
	}
	return 0;
}

static ctrl_result releasing(run *r)
{
	if (release_old(r, false) < 0)
		return ctrl_result_error();
	r->st.step = APP_STEP_DONE;
	app_restore_message(r, "StatefulSet %s restored from %s: %d member(s), %s-%d the "
			       "primary; the old volumes got their reclaim policy back",
			    sts_name(r),
			    r->st.source_backup ? r->st.source_backup : r->spec.source_name,
			    r->st.original_replicas, sts_name(r), r->st.primary_ordinal);
	return app_restore_complete(r);
}

/* ---- RollingBack ------------------------------------------------------------------- */

/* Gives slot `v` its old volume back. 0 when it has it, 1 to wait, 2 when
 * blocked (why in `why`), < 0 on an error. */
static int rollback_gone(run *r, const json_t *sts, const app_inplace_volume *v, char *why,
			 size_t cap)
{
	json_t *pv = NULL, *pvc = NULL;
	int rc;

	if (v->old_volume_name == NULL)
		return 0; /* it had no volume: the StatefulSet makes one, as before */
	if ((rc = get_kept(&pv, r, &app_restore_pvs, NULL, v->old_volume_name)) < 0)
		return rc;
	switch (app_inplace_oldpv_kind(pv, v, r->ns)) {
	case APP_OLDPV_GONE:
		snprintf(why, cap, "the old volume %s of claim %s is gone", v->old_volume_name,
			 v->claim);
		return 2;
	case APP_OLDPV_TAKEN:
		snprintf(why, cap, "the old volume %s of claim %s is bound to another claim",
			 v->old_volume_name, v->claim);
		return 2;
	case APP_OLDPV_RELEASED:
	case APP_OLDPV_BOUND_SLOT:
		rc = patch_pv(r, v->old_volume_name, app_inplace_prebind_patch(v, r->ns));
		return rc < 0 ? rc : 1;
	case APP_OLDPV_FREE: break;
	}
	rc = app_inplace_reattach_claim(&pvc, v, pv, claim_template(sts, v->volume), r->obj,
					r->ns);
	if (rc == 0) {
		rc = kube_create(NULL, r->rc->o.client, &claims_res, r->ns, pvc);
		json_decref(pvc);
	}
	if (rc == 0)
		ss_log(SS_LOG_INFO, "old volume reattached", SS_LS("restore", r->key),
		       SS_LS("claim", v->claim), SS_LS("volume", v->old_volume_name));
	return rc < 0 && rc != SS_EEXISTS ? rc : 1;
}

static int rollback_slot(run *r, const json_t *sts, const app_inplace_volume *v, char *why,
			 size_t cap)
{
	json_t *pvc = NULL;
	const char *vol;
	int rc = get_kept(&pvc, r, &claims_res, r->ns, v->claim);

	if (rc < 0)
		return rc;
	switch (app_inplace_slot_kind(pvc, v, r->obj)) {
	case APP_SLOT_OLD: return 0;
	case APP_SLOT_OURS: return (rc = app_restore_delete_claim(r, pvc)) < 0 ? rc : 1;
	case APP_SLOT_DELETING: return 1;
	case APP_SLOT_GONE: return rollback_gone(r, sts, v, why, cap);
	case APP_SLOT_REATTACHED:
	case APP_SLOT_FOREIGN: break;
	}
	vol = json_string_value(json_object_get(json_object_get(pvc, "spec"), "volumeName"));
	if (v->old_volume_name != NULL && ss_streq(vol, v->old_volume_name))
		return app_restore_claim_state(pvc) == APP_CLAIM_BOUND ? 0 : 1;
	snprintf(why, cap,
		 "claim %s (uid %s) is neither the old claim nor this Restore's; delete it "
		 "to let the rollback give the old volume back",
		 v->claim, ctrl_meta(pvc, "uid") ? ctrl_meta(pvc, "uid") : "?");
	return 2;
}

/* Blocked: scaled down, a condition that says what to do, tried again. */
static ctrl_result rollback_blocked(run *r, const char *why)
{
	char w[512];

	ss_strlcpy(w, why, sizeof(w));
	app_restore_message(r, "rolling back after %s: blocked: %s; StatefulSet %s stays at 0 "
			       "replicas (never started on empty volumes) and the rollback is "
			       "tried again every %d s",
			    r->st.failure_reason, w, sts_name(r),
			    (int)(BLOCKED_RETRY_NS / SS_NS_PER_SEC));
	r->cond_type = "RollbackBlocked";
	r->cond_reason = "OldVolumeUnavailable";
	if (app_restore_write(r) < 0)
		return ctrl_result_error();
	app_restore_event(r, CTRL_EVENT_WARNING, "RollbackBlocked", "%s", r->message);
	return ctrl_result_requeue_after(BLOCKED_RETRY_NS);
}

static ctrl_result rolling_back(run *r)
{
	char why[512] = "";
	json_t *sts = NULL;
	ctrl_result res;
	size_t i, done = 0;
	int rc;

	if (target(&sts, &res, r))
		return res;
	for (i = 0; i < r->st.n_volumes; i++) {
		rc = rollback_slot(r, sts, &r->st.volumes[i], why, sizeof(why));
		if (rc < 0)
			return ctrl_result_error();
		if (rc == 2)
			return rollback_blocked(r, why);
		done += rc == 0;
	}
	if (done < r->st.n_volumes) {
		app_restore_message(r, "rolling back after %s: %zu of %zu claims have their old "
				       "volume back",
				    r->st.failure_reason, done, r->st.n_volumes);
		if (app_restore_write(r) < 0)
			return ctrl_result_error();
		return ctrl_result_requeue_after(r->rc->o.poll_ns);
	}
	if (release_old(r, true) < 0 || scale(r, r->st.original_replicas) < 0)
		return ctrl_result_error(); /* tried again: never "scaled back" untrue */
	r->st.step = APP_STEP_ROLLED_BACK;
	r->cond_remove = "RollbackBlocked";
	if (r->st.n_volumes == 0)
		app_restore_message(r, "%s; rolled back: no claim had been replaced, "
				       "StatefulSet %s is at %d replicas again",
				    r->st.failure_message ? r->st.failure_message : "failed",
				    sts_name(r), r->st.original_replicas);
	else
		app_restore_message(r, "%s; rolled back: StatefulSet %s has its old "
				       "volumes (%zu claims) and %d replicas again",
				    r->st.failure_message ? r->st.failure_message : "failed",
				    sts_name(r), r->st.n_volumes, r->st.original_replicas);
	return app_restore_fail_final(r, r->st.failure_reason ? r->st.failure_reason
							       : "Failed");
}

ctrl_result app_restore_in_place_fail(run *r, const char *reason)
{
	if (!app_restore_in_place_can_roll_back(r->st.step)) {
		if (r->st.step != APP_STEP_NONE)
			note_kept(r);
		return app_restore_fail_final(r, reason);
	}
	r->st.failure_reason = reason;
	r->st.failure_message = app_restore_own(r, r->message);
	r->st.step = APP_STEP_ROLLING_BACK;
	app_restore_message(r, "rolling back after %s: %s", reason,
			    r->st.failure_message ? r->st.failure_message : "");
	if (app_restore_write(r) < 0)
		return ctrl_result_error();
	ss_log(SS_LOG_WARN, "restore rolling back", SS_LS("restore", r->key),
	       SS_LS("reason", reason));
	app_restore_event(r, CTRL_EVENT_WARNING, "RollingBack", "%s", r->message);
	return rolling_back(r);
}

/* ---- the mode ------------------------------------------------------------------------ */

ctrl_result app_restore_in_place(run *r, const volumes *vols_in)
{
	app_target_candidates *m = NULL;
	volumes *vols = (volumes *)vols_in;
	json_t *sts = NULL;
	ctrl_result res;

	if (r->st.step == APP_STEP_ROLLING_BACK)
		return rolling_back(r);
	if (target(&sts, &res, r))
		return res;
	if (r->st.gtid_position != NULL)
		r->gtid = r->st.gtid_position;
	switch (r->st.step) {
	case APP_STEP_NONE:
		if (start(&res, r, sts, vols))
			return res;
		return scaling_down(r, vols);
	case APP_STEP_SCALING_DOWN: return scaling_down(r, vols);
	case APP_STEP_REPLACING_CLAIMS: return replacing_claims(r, sts, vols);
	case APP_STEP_RELEASING_OLD_VOLUMES: return releasing(r);
	case APP_STEP_SCALING_UP:
	case APP_STEP_CONFIGURING_REPLICATION: break;
	default: return ctrl_result_done();
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return ctrl_result_error();
	res = r->st.step == APP_STEP_SCALING_UP ? scaling_up(r, m) : configuring(r, m);
	free(m);
	return res;
}
