/*
 * restore_inplace.c — the InPlace mode of the Restore controller: a
 * primary/replica StatefulSet rolled back to a Backup under the same claim
 * names. restore.h lists the steps; inplace_plan.h says why the old
 * volumes are kept and how they are given back. Each step function follows
 * restore_run.h's result convention (< 0 error, 0 go on, CTRL_RUN_STOP).
 *
 * Invariants:
 *   - every check passes before the first change (restore_inplace_start());
 *   - each step is recorded in status.inPlace.step before it is taken
 *     (restore_inplace_enter_step()), so a restarted controller resumes it;
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
#include "app/db/db.h"
#include "app/db/replication_input.h"
#include "app/restore/inplace_plan.h"
#include "app/restore/restore_check.h"
#include "app/restore/restore_plan.h"
#include "app/restore/restore_run.h"
#include "ctrl/object.h"
#include "ctrl/run.h"
#include "kube/quantity.h"
#include "kube/rest.h"
#include "util/error.h"
#include "util/log.h"
#include "util/str.h"

#define claims_res app_restore_claims_res
#define ALLOW_ANNOTATION "snapstage.io/in-place-restore"
#define ALLOW_VALUE "allowed"
/* How often a blocked rollback is tried again. */
#define BLOCKED_RETRY_NS (30 * SS_NS_PER_SEC)

static const char *restore_inplace_step_name(app_restore_step step)
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

/* Records `step` in status before it is taken, with an Event. 0 or < 0
 * (nothing of the step taken then). */
static int restore_inplace_enter_step(app_restore_run *r, app_restore_step step,
				      const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int restore_inplace_enter_step(app_restore_run *r, app_restore_step step,
				      const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	ctrl_run_vmessage(&r->run, fmt, ap);
	va_end(ap);
	r->st.step = step;
	rc = app_restore_write(r);
	if (rc < 0)
		return rc;
	ss_log(SS_LOG_INFO, "restore step", SS_LS("restore", r->run.key),
	       SS_LS("step", restore_inplace_step_name(step)));
	ctrl_run_event(&r->run, CTRL_EVENT_NORMAL, restore_inplace_step_name(step), "%s",
		       r->run.message);
	return 0;
}

/* A step entered: the reconcile ends and comes back at once for it.
 * CTRL_RUN_STOP, or enter_step's error. */
static int restore_inplace_next(app_restore_run *r, int entered)
{
	if (entered < 0)
		return entered;
	return ctrl_run_stop(&r->run, ctrl_result_requeue_after(0));
}

static const char *restore_inplace_sts_name(const app_restore_run *r)
{
	return r->st.statefulset_name ? r->st.statefulset_name : r->spec.statefulset_name;
}

static int restore_inplace_scale(app_restore_run *r, int replicas)
{
	kube_patch_opts po = { 0 };
	json_t *patch = json_pack("{s:{s:i}}", "spec", "replicas", replicas);
	int rc;

	if (patch == NULL)
		return ss_error_set(SS_ENOMEM, "out of memory");
	po.subresource = "scale";
	rc = kube_patch(NULL, r->rc->o.client, &app_restore_statefulsets, r->run.ns,
			restore_inplace_sts_name(r), KUBE_PATCH_MERGE, patch, &po);
	json_decref(patch);
	return rc;
}

static int restore_inplace_patch_pv(app_restore_run *r, const char *pv, json_t *patch)
{
	kube_patch_opts po = { 0 };
	int rc;

	if (patch == NULL)
		return ss_error_set(SS_ENOMEM, "out of memory");
	rc = kube_patch(NULL, r->rc->o.client, &app_restore_pvs, NULL, pv,
			KUBE_PATCH_MERGE, patch, &po);
	json_decref(patch);
	return rc;
}

/* GET of a claim or PV into *out (NULL when not found; held by the run). */
static int restore_inplace_get(json_t **out, app_restore_run *r, const kube_resource *res,
			       const char *ns, const char *name)
{
	json_t *got = NULL;
	int rc = kube_get(&got, r->rc->o.client, res, ns, name);

	*out = NULL;
	if (rc == SS_ENOTFOUND)
		return 0;
	if (rc < 0 || (rc = app_restore_hold(r, got)) < 0)
		return rc;
	*out = got;
	return 0;
}

const json_t *app_restore_claim_template(const json_t *sts, const char *name)
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
static void restore_inplace_kept_volumes(char *buf, size_t cap, const app_restore_run *r)
{
	size_t i, len = 0;

	buf[0] = '\0';
	for (i = 0; i < r->st.n_volumes; i++)
		if (r->st.volumes[i].old_volume_name != NULL)
			ss_list_append(buf, cap, &len, r->st.volumes[i].old_volume_name);
}

/* Appends what was kept to the message. */
static void restore_inplace_note_kept(app_restore_run *r)
{
	char kept[512];
	size_t len = strlen(r->run.message);

	restore_inplace_kept_volumes(kept, sizeof(kept), r);
	if (kept[0] != '\0')
		snprintf(r->run.message + len, sizeof(r->run.message) - len,
			 "; the old PersistentVolumes are kept with reclaim policy "
			 "Retain: %s",
			 kept);
}

/* ---- the target ---------------------------------------------------------------- */

/* Ends the Restore (TargetChanged): the pinned StatefulSet is gone or was
 * replaced. CTRL_RUN_STOP, or < 0. */
static int restore_inplace_target_changed(app_restore_run *r, const char *what)
{
	char w[256];

	ss_strlcpy(w, what, sizeof(w));
	ctrl_run_message(&r->run,
			 "StatefulSet %s %s during the restore (step %s); nothing more "
			 "is touched",
			 restore_inplace_sts_name(r), w,
			 restore_inplace_step_name(r->st.step));
	restore_inplace_note_kept(r);
	return app_restore_fail_final(r, "TargetChanged");
}

/* The StatefulSet, checked against what was pinned, into *sts (held). 0,
 * CTRL_RUN_STOP or < 0. */
static int restore_inplace_target(json_t **sts, app_restore_run *r)
{
	char what[160];
	const char *uid;
	int rc;

	rc = restore_inplace_get(sts, r, &app_restore_statefulsets, r->run.ns,
				 restore_inplace_sts_name(r));
	if (rc < 0)
		return rc;
	if (*sts == NULL) {
		if (r->st.statefulset_uid == NULL)
			return app_restore_fail(r, "StatefulSetNotFound",
						"StatefulSet %s/%s does not exist",
						r->run.ns, restore_inplace_sts_name(r));
		return restore_inplace_target_changed(r, "was deleted");
	}
	uid = ctrl_meta(*sts, "uid");
	if (r->st.statefulset_uid != NULL && !ss_streq(uid, r->st.statefulset_uid)) {
		snprintf(what, sizeof(what), "was replaced (uid %s, was %s)",
			 uid ? uid : "?", r->st.statefulset_uid);
		return restore_inplace_target_changed(r, what);
	}
	return 0;
}

/* ---- the checks, before anything changes --------------------------------------- */

/* A check failed: Failed for good with `reason` (nothing was changed).
 * CTRL_RUN_STOP, or < 0. */
static int restore_inplace_check_fail(app_restore_run *r, const char *reason,
				      const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int restore_inplace_check_fail(app_restore_run *r, const char *reason,
				      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctrl_run_vmessage(&r->run, fmt, ap);
	va_end(ap);
	return app_restore_fail_final(r, reason);
}

/* The StatefulSet's shape: opted in, a size we handle, the primary one of
 * its members, every backed-up volume one of its templates. */
static int restore_inplace_check_target(app_restore_run *r, const json_t *sts,
					const app_restore_volumes *vols, int replicas)
{
	size_t i;

	if (!ss_streq(ctrl_annotation(sts, ALLOW_ANNOTATION), ALLOW_VALUE))
		return restore_inplace_check_fail(
			r, "InPlaceRestoreNotAllowed",
			"StatefulSet %s does not allow in-place restores: whoever "
			"may edit it must annotate it %s=%s first",
			restore_inplace_sts_name(r), ALLOW_ANNOTATION, ALLOW_VALUE);
	if (replicas < 1 || replicas > APP_MAX_MEMBERS ||
	    (size_t)replicas * vols->n > APP_MAX_INPLACE_CLAIMS)
		return restore_inplace_check_fail(
			r, "InvalidSpec",
			"StatefulSet %s has %d replicas x %zu volumes; an in-place "
			"restore handles 1 to %d members and at most %d claims",
			restore_inplace_sts_name(r), replicas, vols->n, APP_MAX_MEMBERS,
			APP_MAX_INPLACE_CLAIMS);
	if (r->spec.primary_ordinal >= replicas)
		return restore_inplace_check_fail(
			r, "InvalidSpec",
			"spec.target.inPlace.primaryOrdinal: %d, but StatefulSet "
			"%s has %d replicas",
			r->spec.primary_ordinal, restore_inplace_sts_name(r), replicas);
	for (i = 0; i < vols->n; i++)
		if (app_restore_claim_template(sts, vols->v[i].volume) == NULL)
			return restore_inplace_check_fail(
				r, "InvalidSpec",
				"the source's volume %s is not a "
				"volumeClaimTemplate of StatefulSet %s",
				vols->v[i].volume, restore_inplace_sts_name(r));
	return 0;
}

/* Every source snapshot against the StorageClass of its template. */
static int restore_inplace_check_storage(app_restore_run *r, const json_t *sts,
					 app_restore_volumes *vols)
{
	char where[320];
	size_t i;
	int rc;

	rc = app_restore_check_sources(r, vols);
	for (i = 0; rc == 0 && i < vols->n; i++) {
		const json_t *t = app_restore_claim_template(sts, vols->v[i].volume);

		snprintf(where, sizeof(where),
			 "the volumeClaimTemplate %s of StatefulSet %s",
			 vols->v[i].volume, restore_inplace_sts_name(r));
		rc = app_restore_check_driver_of(
			r, vols, i,
			json_string_value(json_object_get(json_object_get(t, "spec"),
							  "storageClassName")),
			where);
	}
	return rc;
}

/* The replication credentials of spec.target.inPlace (set only). */
static int restore_inplace_read_replication_credentials(app_credentials *out,
							app_restore_run *r,
							const char **reason)
{
	app_connection repl;

	memset(&repl, 0, sizeof(repl));
	repl.credentials = r->spec.replication_credentials;
	return app_credentials_read(out, r->rc->o.client, r->run.ns, &repl, reason);
}

/* The Secrets ConfiguringReplication reads, and what it feeds MariaDB. */
static int restore_inplace_check_credentials(app_restore_run *r, int replicas)
{
	app_credentials cred;
	const char *reason = NULL;
	int rc;

	if (app_credentials_read(&cred, r->rc->o.client, r->run.ns, &r->spec.connection,
				 &reason) < 0)
		goto failed;
	app_credentials_free(&cred);
	if (replicas == 1)
		return 0;
	if (!r->spec.has_replication_credentials)
		return restore_inplace_check_fail(
			r, "InvalidSpec",
			"spec.target.inPlace.replicationCredentialsSecretRef: "
			"required: StatefulSet %s has %d replicas",
			restore_inplace_sts_name(r), replicas);
	if (restore_inplace_read_replication_credentials(&cred, r, &reason) < 0)
		goto failed;
	rc = app_replication_credentials_check(cred.user, cred.password);
	app_credentials_free(&cred);
	if (rc < 0)
		return restore_inplace_check_fail(
			r, "SecretValueInvalid", "Secret %s: %s",
			r->spec.replication_credentials.name, ss_error_last()->message);
	return 0;
failed:
	if (reason == NULL)
		return -1; /* the API's error: tried again */
	return restore_inplace_check_fail(r, reason, "%s", ss_error_last()->message);
}

/* The position the members are set up from: there when needed, well
 * formed, and exact unless the spec accepts otherwise. */
static int restore_inplace_check_position(app_restore_run *r, int replicas)
{
	bool have = r->gtid != NULL && r->gtid[0] != '\0';

	if (!have && replicas > 1)
		return restore_inplace_check_fail(
			r, "SourceNotReady",
			"the source recorded no GTID position, so the replicas "
			"could not be started where the data ends");
	if (!have)
		return 0;
	if (app_gtid_pos_check(r->gtid) < 0)
		return restore_inplace_check_fail(
			r, "InvalidPosition",
			"the source's GTID position is not usable: %s",
			ss_error_last()->message);
	/* A replayed position is exact by construction: Finishing checked the
	 * server's GTID state equals it (the base was checked here before). */
	if (!r->spec.accept_inexact_position &&
	    !(r->spec.replay.enabled && r->st.replay.step == APP_REPLAY_STEP_IN_PLACE) &&
	    !app_restore_position_exact(r->backup, r->backup ? NULL : r->source_vs))
		return restore_inplace_check_fail(
			r, "PositionNotExact",
			"the source was not cut at lock stage BLOCK_COMMIT, so its "
			"GTID position %s is not exactly its data's; set "
			"spec.target.inPlace.acceptInexactPosition to use it "
			"anyway",
			r->gtid);
	return 0;
}

/* The StatefulSet's governing Service, which must give its Pods the DNS
 * name `host` (inplace_plan.h): a name that never resolves would leave
 * the replicas unable to connect after the restore. 0, CTRL_RUN_STOP or
 * < 0. */
static int restore_inplace_check_service(app_restore_run *r, const json_t *sts,
					 const char *svc_name, const char *host)
{
	const char *why = NULL;
	json_t *svc = NULL;
	int rc = restore_inplace_get(&svc, r, &app_restore_services, r->run.ns, svc_name);

	if (rc < 0)
		return rc;
	if (app_inplace_service_names_pods(svc, sts, &why))
		return 0;
	return restore_inplace_check_fail(
		r, "InvalidSpec",
		"the replicas would replicate from %s, but Service %s (StatefulSet %s's "
		"spec.serviceName) gives it no DNS name: %s; fix the Service, or set "
		"spec.target.inPlace.replicationHost: PodIP to use the primary's Pod IP",
		host, svc_name, restore_inplace_sts_name(r), why);
}

/* What the replicas will replicate from (spec replicationHost), pinned in
 * r->st: the primary Pod's DNS name (inplace_plan.h), which survives the
 * Pod's restarts where its IP does not; NULL for PodIP, and with no
 * replica to configure. 0, CTRL_RUN_STOP (no DNS name to give) or < 0. */
static int restore_inplace_pin_host(app_restore_run *r, const json_t *sts, int replicas)
{
	const char *svc = json_string_value(
		json_object_get(json_object_get(sts, "spec"), "serviceName"));
	char host[256];
	int rc;

	r->st.replication_host = NULL;
	if (r->spec.replication_host == APP_REPL_HOST_POD_IP || replicas < 2)
		return 0;
	if (app_inplace_replication_host(host, sizeof(host), restore_inplace_sts_name(r),
					 r->spec.primary_ordinal, svc, r->run.ns) < 0)
		return restore_inplace_check_fail(
			r, "InvalidSpec",
			"%s; set spec.target.inPlace.replicationHost: PodIP to use the "
			"primary's Pod IP",
			ss_error_last()->message);
	rc = restore_inplace_check_service(r, sts, svc, host);
	if (rc != 0)
		return rc;
	r->st.replication_host =
		json_string_value(ctrl_run_hold(&r->run, json_string(host)));
	if (r->st.replication_host == NULL)
		return ss_error_set(SS_ENOMEM, "out of memory");
	return 0;
}

/* Step "checks" on StatefulSet `sts`, then its pins in r->st (not
 * written). 0, CTRL_RUN_STOP (a check failed) or < 0. */
static int restore_inplace_checks(app_restore_run *r, const json_t *sts,
				  app_restore_volumes *vols)
{
	int replicas = (int)json_integer_value(
		json_object_get(json_object_get(sts, "spec"), "replicas"));
	int rc;

	rc = restore_inplace_check_target(r, sts, vols, replicas);
	if (rc == 0)
		rc = restore_inplace_check_storage(r, sts, vols);
	if (rc == 0)
		rc = restore_inplace_check_credentials(r, replicas);
	if (rc == 0)
		rc = restore_inplace_check_position(r, replicas);
	if (rc == 0)
		rc = restore_inplace_pin_host(r, sts, replicas);
	if (rc != 0)
		return rc;
	r->st.statefulset_name = r->spec.statefulset_name;
	r->st.statefulset_uid = ctrl_meta(sts, "uid");
	r->st.original_replicas = replicas;
	r->st.primary_ordinal = r->spec.primary_ordinal;
	return 0;
}

int app_restore_in_place_precheck(app_restore_run *r, app_restore_volumes *vols)
{
	json_t *sts = NULL;
	int rc = restore_inplace_target(&sts, r);

	return rc != 0 ? rc : restore_inplace_checks(r, sts, vols);
}

/* Step "checks", then the pins recorded with ScalingDown. 0 (ScalingDown
 * entered), CTRL_RUN_STOP (a check failed) or < 0. */
static int restore_inplace_start(app_restore_run *r, const json_t *sts,
				 app_restore_volumes *vols)
{
	int rc = restore_inplace_checks(r, sts, vols);

	if (rc != 0)
		return rc;
	r->st.has_phase = true;
	r->st.phase = APP_RESTORE_RESTORING;
	r->st.gtid_position = r->gtid;
	return restore_inplace_enter_step(
		r, APP_STEP_SCALING_DOWN, "scaling StatefulSet %s from %d to 0 replicas",
		restore_inplace_sts_name(r), r->st.original_replicas);
}

/* ---- ScalingDown ---------------------------------------------------------------- */

/* How many Pods the StatefulSet owns (by controller reference and uid). */
static int restore_inplace_owned_pods(size_t *n, app_restore_run *r)
{
	json_t *pods = NULL, *pod;
	size_t i;

	if (r->rc->o.pods == NULL)
		return ss_error_set(SS_EINVALID, "restore controller: no Pod cache");
	if (ctrl_store_by_index(&pods, r->rc->o.pods, APP_INDEX_NAMESPACE, r->run.ns) < 0)
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
				     restore_inplace_sts_name(r)))
				(*n)++;
		}
	}
	json_decref(pods);
	return 0;
}

/* Records slot `v` (member `ord`, volume `volume`): its claim and the
 * volume that claim holds with its reclaim policy. 0 or < 0. */
static int restore_inplace_record_slot(app_restore_run *r, app_inplace_volume *v,
				       const char *volume, int ord)
{
	char cname[320];
	json_t *pvc = NULL, *pv = NULL;
	int rc;

	snprintf(cname, sizeof(cname), "%s-%s-%d", volume, restore_inplace_sts_name(r),
		 ord);
	memset(v, 0, sizeof(*v));
	v->claim = json_string_value(ctrl_run_hold(&r->run, json_string(cname)));
	v->volume = volume;
	v->ordinal = ord;
	rc = restore_inplace_get(&pvc, r, &claims_res, r->run.ns, cname);
	if (rc < 0)
		return rc;
	v->old_claim_uid = ctrl_meta(pvc, "uid");
	v->old_volume_name = json_string_value(
		json_object_get(json_object_get(pvc, "spec"), "volumeName"));
	if (v->old_volume_name == NULL || v->old_volume_name[0] == '\0') {
		v->old_volume_name = NULL;
		return 0;
	}
	rc = restore_inplace_get(&pv, r, &app_restore_pvs, NULL, v->old_volume_name);
	if (rc < 0)
		return rc;
	v->old_reclaim_policy = pv ? app_inplace_reclaim_policy(pv) : NULL;
	return 0;
}

/* Records every claim about to be replaced and the volume it holds. */
static int restore_inplace_record_volumes(app_restore_run *r,
					  const app_restore_volumes *vols)
{
	int ord, rc;
	size_t i;

	r->st.n_volumes = 0;
	for (ord = 0; ord < r->st.original_replicas; ord++) {
		for (i = 0; i < vols->n; i++) {
			rc = restore_inplace_record_slot(
				r, &r->st.volumes[r->st.n_volumes++], vols->v[i].volume,
				ord);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

/* ScalingDown: to 0, wait until the Pods are gone, record the slots, then
 * ReplacingClaims. CTRL_RUN_STOP or < 0. */
static int restore_inplace_scaling_down(app_restore_run *r,
					const app_restore_volumes *vols)
{
	size_t n = 0;
	int rc;

	rc = restore_inplace_scale(r, 0);
	if (rc == 0)
		rc = restore_inplace_owned_pods(&n, r);
	if (rc < 0)
		return rc;
	if (n > 0) {
		ctrl_run_message(&r->run, "waiting for %zu Pod(s) of %s to be gone", n,
				 restore_inplace_sts_name(r));
		return app_restore_wait(r);
	}
	rc = restore_inplace_record_volumes(r, vols);
	if (rc < 0)
		return rc;
	rc = restore_inplace_enter_step(
		r, APP_STEP_REPLACING_CLAIMS,
		"replacing %zu claim(s) of %d member(s) with %s; their old volumes "
		"are kept until the restore has succeeded",
		r->st.n_volumes, r->st.original_replicas,
		r->spec.replay.enabled ? "the replayed snapshots"
		: r->st.source_backup  ? r->st.source_backup
				       : r->spec.source_name);
	return restore_inplace_next(r, rc);
}

/* ---- ReplacingClaims ------------------------------------------------------------- */

/* Makes sure the old volume of `v` is set to Retain. 0 when it is (or there
 * is none), < 0 on an error. */
static int restore_inplace_retain_old(app_restore_run *r, const app_inplace_volume *v)
{
	json_t *pv = NULL;
	int rc;

	if (v->old_volume_name == NULL)
		return 0;
	rc = restore_inplace_get(&pv, r, &app_restore_pvs, NULL, v->old_volume_name);
	if (rc < 0 || pv == NULL || ss_streq(app_inplace_reclaim_policy(pv), "Retain"))
		return rc;
	rc = restore_inplace_patch_pv(r, v->old_volume_name,
				      app_inplace_policy_patch("Retain"));
	if (rc == 0)
		ss_log(SS_LOG_INFO, "old volume retained", SS_LS("restore", r->run.key),
		       SS_LS("volume", v->old_volume_name), SS_LS("claim", v->claim));
	return rc;
}

/* The spec of the restored claim of slot `v`, into *spec: the Restore's,
 * with one claim like the template `tmpl` (size, class, access modes,
 * labels). */
static void restore_inplace_restored_spec(app_restore_spec *spec,
					  const app_restore_run *r, const json_t *tmpl,
					  const app_inplace_volume *v)
{
	const json_t *tspec = json_object_get(tmpl, "spec"), *mode;
	const char *req = json_string_value(json_object_get(
		json_object_get(json_object_get(tspec, "resources"), "requests"),
		"storage"));
	size_t i;

	*spec = r->spec;
	spec->n_claims = 1;
	spec->claims[0].volume = v->volume;
	spec->claims[0].name = v->claim;
	spec->claims[0].size_bytes = 0;
	spec->claims[0].storage_class = NULL; /* the template's, below */
	if (req && kube_quantity_parse(&spec->claims[0].size_bytes, req) != 0)
		spec->claims[0].size_bytes = 0;
	spec->storage_class =
		json_string_value(json_object_get(tspec, "storageClassName"));
	spec->n_access_modes = 0;
	json_array_foreach(json_object_get(tspec, "accessModes"), i, mode)
	{
		if (json_is_string(mode) && spec->n_access_modes < APP_MAX_ACCESS_MODES)
			spec->access_modes[spec->n_access_modes++] =
				json_string_value(mode);
	}
	if (spec->n_access_modes == 0)
		spec->access_modes[spec->n_access_modes++] = "ReadWriteOnce";
	spec->claim_labels = json_object_get(json_object_get(tmpl, "metadata"), "labels");
	spec->claim_annotations = NULL;
}

/* The restored claim of slot `v` from its snapshot, like the template. */
static int restore_inplace_create_restored(app_restore_run *r, const json_t *sts,
					   const app_inplace_volume *v,
					   const app_restore_volumes *vols)
{
	const json_t *tmpl = app_restore_claim_template(sts, v->volume);
	app_restore_spec spec;
	app_restore_claims_in in;
	json_t *planned = NULL;
	const char *reason = NULL;
	size_t k;
	int rc;

	for (k = 0; k < vols->n && !ss_streq(vols->v[k].volume, v->volume); k++)
		;
	if (k == vols->n || tmpl == NULL)
		return ss_error_set(SS_EINVALID, "volume %s is not in the source",
				    v->volume);
	restore_inplace_restored_spec(&spec, r, tmpl, v);
	memset(&in, 0, sizeof(in));
	in.restore = r->run.obj;
	in.spec = &spec;
	in.volumes = &vols->v[k];
	in.n_volumes = 1;
	rc = app_restore_claims_plan(&planned, &reason, &in);
	if (rc < 0)
		return rc;
	rc = kube_create(NULL, r->rc->o.client, &claims_res, r->run.ns,
			 json_array_get(planned, 0));
	json_decref(planned);
	if (rc == 0)
		ss_log(SS_LOG_INFO, "claim created", SS_LS("restore", r->run.key),
		       SS_LS("claim", v->claim));
	return rc == SS_EEXISTS ? 0 : rc; /* looked at again next time */
}

/* One slot, moved on: *bound when its restored claim is Bound. 0 (go on,
 * Bound or to wait), CTRL_RUN_STOP when the restore failed (ClaimLost,
 * ClaimExists), < 0 on an error. */
static int restore_inplace_replace_slot(bool *bound, app_restore_run *r,
					const json_t *sts, const app_inplace_volume *v,
					const app_restore_volumes *vols)
{
	json_t *pvc = NULL;
	int rc = restore_inplace_get(&pvc, r, &claims_res, r->run.ns, v->claim);

	*bound = false;
	if (rc < 0)
		return rc;
	switch (app_inplace_slot_kind(pvc, v, r->run.obj)) {
	case APP_SLOT_OLD:
		/* Its data must outlive the claim: Retain first, then delete. */
		if ((rc = restore_inplace_retain_old(r, v)) < 0)
			return rc;
		return app_restore_delete_claim(r, pvc);
	case APP_SLOT_DELETING: return 0;
	case APP_SLOT_GONE: return restore_inplace_create_restored(r, sts, v, vols);
	case APP_SLOT_OURS:
		switch (app_restore_claim_state(pvc)) {
		case APP_CLAIM_BOUND: *bound = true; return 0;
		case APP_CLAIM_PENDING: return 0;
		case APP_CLAIM_LOST: break;
		}
		return app_restore_fail(r, "ClaimLost", "the restored claim %s is Lost",
					v->claim);
	case APP_SLOT_REATTACHED:
	case APP_SLOT_FOREIGN: break;
	}
	return app_restore_fail(r, "ClaimExists",
				"claim %s was created by someone else during the restore",
				v->claim);
}

/* ReplacingClaims: the snapshots again, then each slot moved on, until
 * every restored claim is Bound; then ScalingUp. CTRL_RUN_STOP or < 0. */
static int restore_inplace_replacing_claims(app_restore_run *r, const json_t *sts,
					    app_restore_volumes *vols)
{
	size_t i, bound = 0;
	const char *first = NULL;
	int rc;

	/* The snapshots again: one deleted since the checks rolls back now
	 * rather than at the timeout. */
	rc = app_restore_check_sources(r, vols);
	if (rc != 0)
		return rc;
	for (i = 0; i < r->st.n_volumes; i++) {
		bool is_bound;

		rc = restore_inplace_replace_slot(&is_bound, r, sts, &r->st.volumes[i],
						  vols);
		if (rc != 0)
			return rc;
		if (is_bound)
			bound++;
		else if (first == NULL)
			first = r->st.volumes[i].claim;
	}
	if (bound < r->st.n_volumes) {
		ctrl_run_message(&r->run,
				 "%zu of %zu restored claims Bound (waiting for %s)",
				 bound, r->st.n_volumes, first);
		return app_restore_wait(r);
	}
	rc = restore_inplace_enter_step(
		r, APP_STEP_SCALING_UP,
		"all %zu restored claims Bound; scaling StatefulSet "
		"%s back to %d replicas",
		r->st.n_volumes, restore_inplace_sts_name(r), r->st.original_replicas);
	return restore_inplace_next(r, rc);
}

/* ---- ScalingUp and ConfiguringReplication ------------------------------------------ */

/* The members' Pods resolved (ip, port, readiness), sorted by ordinal. */
static int restore_inplace_members(app_target_candidates *out, app_restore_run *r)
{
	app_target t;
	json_t *pods = NULL;
	const char *reason = NULL;
	int rc;

	memset(&t, 0, sizeof(t));
	t.statefulset_name = restore_inplace_sts_name(r);
	if (ctrl_store_by_index(&pods, r->rc->o.pods, APP_INDEX_NAMESPACE, r->run.ns) < 0)
		return -1;
	rc = app_restore_hold(r, pods); /* the candidates borrow from the Pods */
	if (rc < 0)
		return rc;
	return app_target_resolve(out, &t, pods, &reason);
}

/* Every restored claim still there: the StatefulSet must not make an
 * empty one in its place. 0, CTRL_RUN_STOP (ClaimLost) or < 0. */
static int restore_inplace_claims_present(app_restore_run *r)
{
	size_t i;

	for (i = 0; i < r->st.n_volumes; i++) {
		json_t *pvc = NULL;
		int rc = restore_inplace_get(&pvc, r, &claims_res, r->run.ns,
					     r->st.volumes[i].claim);

		if (rc < 0)
			return rc;
		if (app_inplace_slot_kind(pvc, &r->st.volumes[i], r->run.obj) !=
		    APP_SLOT_OURS)
			return app_restore_fail(r, "ClaimLost",
						"the restored claim %s is gone; the "
						"StatefulSet is not scaled up onto an "
						"empty volume",
						r->st.volumes[i].claim);
	}
	return 0;
}

/* ScalingUp: onto the restored claims, back to originalReplicas, wait until
 * every Pod is Ready; then ConfiguringReplication. CTRL_RUN_STOP or < 0. */
static int restore_inplace_scaling_up(app_restore_run *r, app_target_candidates *m)
{
	char msg[1024];
	size_t i, ready = 0;
	int rc;

	rc = restore_inplace_claims_present(r);
	if (rc == 0)
		rc = restore_inplace_scale(r, r->st.original_replicas);
	if (rc != 0)
		return rc;
	if (restore_inplace_members(m, r) == 0)
		for (i = 0; i < m->n; i++)
			ready += m->c[i].ready;
	if (ready < (size_t)r->st.original_replicas) {
		ctrl_run_message(
			&r->run, "waiting for %d Pod(s) of %s to be Ready (%zu are)",
			r->st.original_replicas, restore_inplace_sts_name(r), ready);
		return app_restore_wait(r);
	}
	app_inplace_configuring_message(msg, sizeof(msg), restore_inplace_sts_name(r),
					r->st.primary_ordinal, r->st.original_replicas,
					r->st.gtid_position, r->st.replication_host,
					r->spec.connection.tls_mode);
	rc = restore_inplace_enter_step(r, APP_STEP_CONFIGURING_REPLICATION, "%s", msg);
	return restore_inplace_next(r, rc);
}

/* Adds ordinal `o` to the configured members and writes it down. */
static int restore_inplace_record_configured(app_restore_run *r, int o)
{
	if (!app_inplace_is_configured(&r->st, o) && r->st.n_configured < APP_MAX_MEMBERS)
		r->st.configured[r->st.n_configured++] = o;
	return app_restore_write(r);
}

/* One member: set up once (recorded), then opened for writes (primary) or
 * started (replica) — both repeatable. `src` NULL: the primary. */
static int restore_inplace_configure_member(app_restore_run *r,
					    const app_target_candidate *c,
					    const app_credentials *cred,
					    const app_db_replication_source *src)
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
			rc = restore_inplace_record_configured(r, c->ordinal);
		if (rc == 0)
			ss_log(SS_LOG_INFO, "replication configured",
			       SS_LS("restore", r->run.key), SS_LS("pod", c->pod),
			       SS_LS("role", src ? "replica" : "primary"),
			       SS_LS("gtid", gtid ? gtid : ""));
	}
	if (rc == 0)
		rc = src ? app_db_replication_start(db) : app_db_set_read_only(db, false);
	app_db_close(db);
	return rc;
}

/* Every member set up: the primary first, then the others pointed at it.
 * 0 with *waiting false when every member is set up, or true to wait (the
 * message says for what); < 0 on an error. */
static int restore_inplace_configure_replication(bool *waiting, app_restore_run *r,
						 const app_target_candidates *m)
{
	app_credentials cred, repl;
	const app_target_candidate *primary = NULL;
	const char *reason = NULL;
	size_t i;
	int rc;

	*waiting = false;
	memset(&repl, 0, sizeof(repl));
	for (i = 0; i < m->n; i++)
		if (m->c[i].ordinal == r->st.primary_ordinal)
			primary = &m->c[i];
	if (primary == NULL || !primary->ready) {
		ctrl_run_message(&r->run, "waiting for the primary %s-%d to be Ready",
				 restore_inplace_sts_name(r), r->st.primary_ordinal);
		*waiting = true;
		return 0;
	}
	rc = app_credentials_read(&cred, r->rc->o.client, r->run.ns, &r->spec.connection,
				  &reason);
	if (rc < 0)
		return rc;
	if (r->st.original_replicas > 1)
		rc = restore_inplace_read_replication_credentials(&repl, r, &reason);
	if (rc == 0)
		rc = restore_inplace_configure_member(r, primary, &cred, NULL);
	for (i = 0; rc == 0 && i < m->n; i++) {
		/* The Restore's TLS mode for replication too; the replica
		 * verifies with its server's own CA file (db.h). The host
		 * pinned at the start, else (PodIP) the primary's IP now. */
		app_db_replication_source src = { r->st.replication_host != NULL
							  ? r->st.replication_host
							  : primary->ip,
						  primary->port,
						  repl.user,
						  repl.password,
						  r->spec.connection.tls_mode,
						  NULL };

		if (&m->c[i] == primary || m->c[i].ordinal >= r->st.original_replicas)
			continue;
		rc = restore_inplace_configure_member(r, &m->c[i], &cred, &src);
	}
	app_credentials_free(&cred);
	app_credentials_free(&repl);
	return rc;
}

/* ConfiguringReplication: every member set up, waited for while it cannot
 * be (a failure is logged and waited on until the timeout); then
 * ReleasingOldVolumes. CTRL_RUN_STOP or < 0. */
static int restore_inplace_configuring(app_restore_run *r, app_target_candidates *m)
{
	bool waiting = false;
	int rc;

	rc = restore_inplace_members(m, r);
	if (rc < 0)
		return rc;
	rc = restore_inplace_configure_replication(&waiting, r, m);
	if (rc < 0) {
		ss_log(SS_LOG_WARN, "configuring replication failed",
		       SS_LS("restore", r->run.key), SS_LERR());
		ctrl_run_message(&r->run, "configuring replication: %s",
				 ss_error_last()->message);
	}
	if (rc != 0 || waiting)
		return app_restore_wait(r);
	rc = restore_inplace_enter_step(
		r, APP_STEP_RELEASING_OLD_VOLUMES,
		"replication set up; giving the old volumes their "
		"reclaim policy back");
	return restore_inplace_next(r, rc);
}

/* ---- ReleasingOldVolumes ----------------------------------------------------------- */

/* Puts back the old policy of each old volume still released by its old
 * claim (uid); one bound again or gone is left alone. */
static int restore_inplace_release_old(app_restore_run *r, bool bound_too)
{
	size_t i;
	int rc;

	for (i = 0; i < r->st.n_volumes; i++) {
		const app_inplace_volume *v = &r->st.volumes[i];
		json_t *pv = NULL;
		app_oldpv_kind k;

		if (v->old_volume_name == NULL || v->old_reclaim_policy == NULL)
			continue;
		rc = restore_inplace_get(&pv, r, &app_restore_pvs, NULL,
					 v->old_volume_name);
		if (rc < 0)
			return rc;
		k = app_inplace_oldpv_kind(pv, v, r->run.ns);
		if (k != APP_OLDPV_RELEASED && !(bound_too && k == APP_OLDPV_BOUND_SLOT))
			continue;
		if (ss_streq(app_inplace_reclaim_policy(pv), v->old_reclaim_policy))
			continue;
		rc = restore_inplace_patch_pv(
			r, v->old_volume_name,
			app_inplace_policy_patch(v->old_reclaim_policy));
		if (rc < 0 && rc != SS_ENOTFOUND)
			return rc;
	}
	return 0;
}

/* A point-in-time restore's scratch claims and replayed snapshots have
 * done their part once the restored claims run: deleted (uid checks). */
static int restore_inplace_replay_done(app_restore_run *r)
{
	ctrl_run_message(&r->run, "cleaning up");
	return app_restore_replay_cleanup(r);
}

/* ReleasingOldVolumes: the old volumes get their policy back; then Done
 * and Completed. CTRL_RUN_STOP or < 0. */
static int restore_inplace_releasing(app_restore_run *r)
{
	int rc;

	rc = restore_inplace_release_old(r, false);
	if (rc == 0 && r->spec.replay.enabled)
		rc = restore_inplace_replay_done(r);
	if (rc < 0)
		return rc;
	r->st.step = APP_STEP_DONE;
	if (r->spec.replay.enabled)
		ctrl_run_message(
			&r->run,
			"StatefulSet %s restored to %s (base Backup %s, "
			"replayed from Pod %s): %d member(s), %s-%d the primary; "
			"the state before is in the safety Backup %s",
			restore_inplace_sts_name(r), r->st.replay.target_position,
			r->st.source_backup, r->st.replay.source_pod,
			r->st.original_replicas, restore_inplace_sts_name(r),
			r->st.primary_ordinal, r->st.replay.safety_backup);
	else
		ctrl_run_message(&r->run,
				 "StatefulSet %s restored from %s: %d member(s), %s-%d "
				 "the primary; the old volumes got their reclaim policy "
				 "back",
				 restore_inplace_sts_name(r),
				 r->st.source_backup ? r->st.source_backup
						     : r->spec.source_name,
				 r->st.original_replicas, restore_inplace_sts_name(r),
				 r->st.primary_ordinal);
	return app_restore_complete(r);
}

/* ---- RollingBack ------------------------------------------------------------------- */

/* Blocked: scaled down, a condition that says what to do (the message
 * `fmt`, cut to 511 bytes), tried again. CTRL_RUN_STOP or < 0. */
static int restore_inplace_rollback_blocked(app_restore_run *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int restore_inplace_rollback_blocked(app_restore_run *r, const char *fmt, ...)
{
	char w[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(w, sizeof(w), fmt, ap);
	va_end(ap);
	ctrl_run_message(&r->run,
			 "rolling back after %s: blocked: %s; StatefulSet %s stays at 0 "
			 "replicas (never started on empty volumes) and the rollback is "
			 "tried again every %d s",
			 r->st.failure_reason, w, restore_inplace_sts_name(r),
			 (int)(BLOCKED_RETRY_NS / SS_NS_PER_SEC));
	ctrl_run_condition(&r->run, "RollbackBlocked", CTRL_CONDITION_TRUE,
			   "OldVolumeUnavailable");
	rc = app_restore_write(r);
	if (rc < 0)
		return rc;
	ctrl_run_event(&r->run, CTRL_EVENT_WARNING, "RollbackBlocked", "%s",
		       r->run.message);
	return ctrl_run_stop(&r->run, ctrl_result_requeue_after(BLOCKED_RETRY_NS));
}

/* Gives slot `v`, whose claim is gone, its old volume back. 0 with *back
 * when it has it (or had none), else going on; CTRL_RUN_STOP when blocked
 * (the old volume gone or bound elsewhere); < 0 on an error. */
static int restore_inplace_rollback_gone(bool *back, app_restore_run *r,
					 const json_t *sts, const app_inplace_volume *v)
{
	json_t *pv = NULL, *pvc = NULL;
	int rc;

	*back = v->old_volume_name == NULL;
	if (*back)
		return 0; /* it had no volume: the StatefulSet makes one, as before */
	rc = restore_inplace_get(&pv, r, &app_restore_pvs, NULL, v->old_volume_name);
	if (rc < 0)
		return rc;
	switch (app_inplace_oldpv_kind(pv, v, r->run.ns)) {
	case APP_OLDPV_GONE:
		return restore_inplace_rollback_blocked(
			r, "the old volume %s of claim %s is gone", v->old_volume_name,
			v->claim);
	case APP_OLDPV_TAKEN:
		return restore_inplace_rollback_blocked(
			r, "the old volume %s of claim %s is bound to another claim",
			v->old_volume_name, v->claim);
	case APP_OLDPV_RELEASED:
	case APP_OLDPV_BOUND_SLOT:
		rc = restore_inplace_patch_pv(r, v->old_volume_name,
					      app_inplace_prebind_patch(v, r->run.ns));
		return rc < 0 ? rc : 0;
	case APP_OLDPV_FREE: break;
	}
	rc = app_inplace_reattach_claim(&pvc, v, pv,
					app_restore_claim_template(sts, v->volume),
					r->run.obj, r->run.ns);
	if (rc == 0) {
		rc = kube_create(NULL, r->rc->o.client, &claims_res, r->run.ns, pvc);
		json_decref(pvc);
	}
	if (rc == 0)
		ss_log(SS_LOG_INFO, "old volume reattached", SS_LS("restore", r->run.key),
		       SS_LS("claim", v->claim), SS_LS("volume", v->old_volume_name));
	return rc < 0 && rc != SS_EEXISTS ? rc : 0;
}

/* One slot of the rollback: 0 with *back when the slot has its old claim
 * or old volume (Bound) again, else going on; CTRL_RUN_STOP when blocked;
 * < 0 on an error. */
static int restore_inplace_rollback_slot(bool *back, app_restore_run *r,
					 const json_t *sts, const app_inplace_volume *v)
{
	json_t *pvc = NULL;
	const char *vol;
	int rc = restore_inplace_get(&pvc, r, &claims_res, r->run.ns, v->claim);

	*back = false;
	if (rc < 0)
		return rc;
	switch (app_inplace_slot_kind(pvc, v, r->run.obj)) {
	case APP_SLOT_OLD: *back = true; return 0;
	case APP_SLOT_OURS: return app_restore_delete_claim(r, pvc);
	case APP_SLOT_DELETING: return 0;
	case APP_SLOT_GONE: return restore_inplace_rollback_gone(back, r, sts, v);
	case APP_SLOT_REATTACHED:
	case APP_SLOT_FOREIGN: break;
	}
	vol = json_string_value(
		json_object_get(json_object_get(pvc, "spec"), "volumeName"));
	if (v->old_volume_name != NULL && ss_streq(vol, v->old_volume_name)) {
		*back = app_restore_claim_state(pvc) == APP_CLAIM_BOUND;
		return 0;
	}
	return restore_inplace_rollback_blocked(
		r,
		"claim %s (uid %s) is neither the old claim nor this Restore's; delete "
		"it "
		"to let the rollback give the old volume back",
		v->claim, ctrl_meta(pvc, "uid") ? ctrl_meta(pvc, "uid") : "?");
}

/* The rollback done: the old volumes their policy back, scaled to
 * originalReplicas, RollbackBlocked removed, then Failed with step
 * RolledBack. CTRL_RUN_STOP or < 0. */
static int restore_inplace_rolled_back(app_restore_run *r)
{
	const char *failed = r->st.failure_message ? r->st.failure_message : "failed";
	int rc;

	rc = restore_inplace_release_old(r, true);
	if (rc == 0)
		rc = restore_inplace_scale(r, r->st.original_replicas);
	if (rc < 0)
		return rc; /* tried again: never "scaled back" untrue */
	r->st.step = APP_STEP_ROLLED_BACK;
	ctrl_run_condition_remove(&r->run, "RollbackBlocked");
	if (r->st.n_volumes == 0)
		ctrl_run_message(&r->run,
				 "%s; rolled back: no claim had been replaced, "
				 "StatefulSet %s is at %d replicas again",
				 failed, restore_inplace_sts_name(r),
				 r->st.original_replicas);
	else
		ctrl_run_message(&r->run,
				 "%s; rolled back: StatefulSet %s has its old "
				 "volumes (%zu claims) and %d replicas again",
				 failed, restore_inplace_sts_name(r), r->st.n_volumes,
				 r->st.original_replicas);
	return app_restore_fail_final(r, r->st.failure_reason ? r->st.failure_reason
							      : "Failed");
}

/* RollingBack: each slot its old claim or volume back, until every one
 * has it. CTRL_RUN_STOP or < 0. */
static int restore_inplace_rolling_back(app_restore_run *r)
{
	json_t *sts = NULL;
	size_t i, done = 0;
	int rc;

	rc = restore_inplace_target(&sts, r);
	if (rc != 0)
		return rc;
	for (i = 0; i < r->st.n_volumes; i++) {
		bool back;

		rc = restore_inplace_rollback_slot(&back, r, sts, &r->st.volumes[i]);
		if (rc != 0)
			return rc;
		done += back;
	}
	if (done < r->st.n_volumes) {
		ctrl_run_message(
			&r->run,
			"rolling back after %s: %zu of %zu claims have their old "
			"volume back",
			r->st.failure_reason, done, r->st.n_volumes);
		rc = app_restore_write(r);
		if (rc < 0)
			return rc;
		return ctrl_run_stop(&r->run,
				     ctrl_result_requeue_after(r->rc->o.poll_ns));
	}
	return restore_inplace_rolled_back(r);
}

int app_restore_in_place_fail(app_restore_run *r, const char *reason)
{
	int rc;

	if (!app_restore_in_place_can_roll_back(r->st.step)) {
		if (r->st.step != APP_STEP_NONE)
			restore_inplace_note_kept(r);
		return app_restore_fail_final(r, reason);
	}
	r->st.failure_reason = reason;
	r->st.failure_message =
		json_string_value(ctrl_run_hold(&r->run, json_string(r->run.message)));
	r->st.step = APP_STEP_ROLLING_BACK;
	ctrl_run_message(&r->run, "rolling back after %s: %s", reason,
			 r->st.failure_message ? r->st.failure_message : "");
	rc = app_restore_write(r);
	if (rc < 0)
		return rc;
	ss_log(SS_LOG_WARN, "restore rolling back", SS_LS("restore", r->run.key),
	       SS_LS("reason", reason));
	ctrl_run_event(&r->run, CTRL_EVENT_WARNING, "RollingBack", "%s", r->run.message);
	return restore_inplace_rolling_back(r);
}

/* ---- the mode ------------------------------------------------------------------------
 */

/* ScalingUp or ConfiguringReplication, with the members' candidates. */
static int restore_inplace_with_members(app_restore_run *r)
{
	app_target_candidates *m = calloc(1, sizeof(*m));
	int rc;

	if (m == NULL)
		return -1;
	if (r->st.step == APP_STEP_SCALING_UP)
		rc = restore_inplace_scaling_up(r, m);
	else
		rc = restore_inplace_configuring(r, m);
	free(m);
	return rc;
}

int app_restore_in_place(app_restore_run *r, const app_restore_volumes *vols_in)
{
	app_restore_volumes *vols = (app_restore_volumes *)vols_in;
	json_t *sts = NULL;
	int rc;

	if (r->st.step == APP_STEP_ROLLING_BACK)
		return restore_inplace_rolling_back(r);
	rc = restore_inplace_target(&sts, r);
	if (rc != 0)
		return rc;
	if (r->st.gtid_position != NULL)
		r->gtid = r->st.gtid_position;
	switch (r->st.step) {
	case APP_STEP_NONE:
		rc = restore_inplace_start(r, sts, vols);
		if (rc != 0)
			return rc;
		return restore_inplace_scaling_down(r, vols);
	case APP_STEP_SCALING_DOWN: return restore_inplace_scaling_down(r, vols);
	case APP_STEP_REPLACING_CLAIMS:
		return restore_inplace_replacing_claims(r, sts, vols);
	case APP_STEP_RELEASING_OLD_VOLUMES: return restore_inplace_releasing(r);
	case APP_STEP_SCALING_UP:
	case APP_STEP_CONFIGURING_REPLICATION: return restore_inplace_with_members(r);
	default: return ctrl_run_stop(&r->run, ctrl_result_done());
	}
}
