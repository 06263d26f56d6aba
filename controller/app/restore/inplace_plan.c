/*
 * inplace_plan.c — see inplace_plan.h.
 *
 * Identity is by uid throughout: names are reused by design here (a slot's
 * claim name outlives every claim under it), so a name alone never makes
 * an object ours.
 */
#include "app/restore/inplace_plan.h"

#include <stdio.h>
#include <string.h>

#include "app/restore/restore_plan.h"
#include "ctrl/object.h"
#include "util/error.h"
#include "util/str.h"

app_slot_kind app_inplace_slot_kind(const json_t *pvc, const app_inplace_volume *v,
				    const json_t *restore)
{
	const char *uid;

	if (pvc == NULL)
		return APP_SLOT_GONE;
	if (ctrl_meta(pvc, "deletionTimestamp") != NULL)
		return APP_SLOT_DELETING;
	uid = ctrl_meta(pvc, "uid");
	if (v->old_claim_uid != NULL && ss_streq(uid, v->old_claim_uid))
		return APP_SLOT_OLD;
	if (app_restore_claim_is_ours(pvc, restore))
		return APP_SLOT_OURS;
	if (ctrl_meta(restore, "uid") != NULL &&
	    ss_streq(ctrl_annotation(pvc, APP_ANNOTATION_REATTACHED),
		     ctrl_meta(restore, "uid")))
		return APP_SLOT_REATTACHED;
	return APP_SLOT_FOREIGN;
}

static const json_t *inplace_plan_pv_spec(const json_t *pv)
{
	return json_object_get(pv, "spec");
}

app_oldpv_kind app_inplace_oldpv_kind(const json_t *pv, const app_inplace_volume *v,
				      const char *ns)
{
	const json_t *ref;
	const char *uid, *name, *rns;

	if (pv == NULL || ctrl_meta(pv, "deletionTimestamp") != NULL)
		return APP_OLDPV_GONE;
	ref = json_object_get(inplace_plan_pv_spec(pv), "claimRef");
	if (ref == NULL || json_is_null(ref))
		return APP_OLDPV_FREE;
	uid = json_string_value(json_object_get(ref, "uid"));
	name = json_string_value(json_object_get(ref, "name"));
	rns = json_string_value(json_object_get(ref, "namespace"));
	if (uid != NULL && v->old_claim_uid != NULL && strcmp(uid, v->old_claim_uid) == 0)
		return APP_OLDPV_RELEASED;
	if (!ss_streq(name, v->claim) || !ss_streq(rns, ns))
		return APP_OLDPV_TAKEN;
	return uid == NULL || *uid == '\0' ? APP_OLDPV_FREE : APP_OLDPV_BOUND_SLOT;
}

const char *app_inplace_reclaim_policy(const json_t *pv)
{
	const char *p = json_string_value(json_object_get(
		inplace_plan_pv_spec(pv), "persistentVolumeReclaimPolicy"));

	return p != NULL ? p : "Delete";
}

json_t *app_inplace_policy_patch(const char *policy)
{
	return json_pack("{s:{s:s}}", "spec", "persistentVolumeReclaimPolicy", policy);
}

json_t *app_inplace_prebind_patch(const app_inplace_volume *v, const char *ns)
{
	/* null deletes a key in a merge patch: the uid and resourceVersion of
	 * the old claim go, kind/apiVersion stay. */
	return json_pack("{s:{s:{s:s,s:s,s:n,s:n}}}", "spec", "claimRef", "namespace", ns,
			 "name", v->claim, "uid", "resourceVersion");
}

static int inplace_plan_copy_key(json_t *to, const json_t *from, const char *key)
{
	json_t *v = json_object_get(from, key);

	if (v == NULL)
		return 0;
	return json_object_set_new(to, key, json_deep_copy(v));
}

static json_t *inplace_plan_reattach_metadata(const app_inplace_volume *v,
					      const json_t *tmpl, const json_t *restore,
					      const char *ns)
{
	const json_t *labels = json_object_get(json_object_get(tmpl, "metadata"), "labels");
	json_t *md = json_pack("{s:s,s:s,s:{s:s}}", "name", v->claim, "namespace", ns,
			       "annotations", APP_ANNOTATION_REATTACHED,
			       ctrl_meta(restore, "uid"));

	if (md != NULL && json_is_object(labels) &&
	    json_object_set_new(md, "labels", json_deep_copy(labels)) != 0) {
		json_decref(md);
		return NULL;
	}
	return md;
}

/* The claim's spec: the PV by name, its class (an empty class is a class,
 * "no class", and must match too), modes and capacity. */
static json_t *inplace_plan_reattach_spec(const json_t *pv)
{
	const json_t *ps = inplace_plan_pv_spec(pv);
	const char *cls = json_string_value(json_object_get(ps, "storageClassName"));
	json_t *spec = json_pack("{s:s,s:s,s:{s:{s:O}}}", "volumeName", ctrl_meta(pv, "name"),
				 "storageClassName", cls != NULL ? cls : "", "resources",
				 "requests", "storage",
				 json_object_get(json_object_get(ps, "capacity"), "storage"));

	if (spec != NULL && (inplace_plan_copy_key(spec, ps, "accessModes") != 0 ||
			     inplace_plan_copy_key(spec, ps, "volumeMode") != 0)) {
		json_decref(spec);
		return NULL;
	}
	return spec;
}

int app_inplace_reattach_claim(json_t **out, const app_inplace_volume *v, const json_t *pv,
			       const json_t *tmpl, const json_t *restore, const char *ns)
{
	const json_t *cap = json_object_get(
		json_object_get(inplace_plan_pv_spec(pv), "capacity"), "storage");
	const char *pv_name = ctrl_meta(pv, "name");
	json_t *pvc = NULL, *md = NULL, *spec = NULL;
	int rc = SS_ENOMEM;

	if (!json_is_string(cap) || pv_name == NULL || ctrl_meta(restore, "uid") == NULL)
		return ss_error_set(SS_EINVALID,
				    "PersistentVolume %s has no name or capacity",
				    pv_name ? pv_name : "?");
	md = inplace_plan_reattach_metadata(v, tmpl, restore, ns);
	spec = inplace_plan_reattach_spec(pv);
	pvc = json_pack("{s:s,s:s}", "apiVersion", "v1", "kind", "PersistentVolumeClaim");
	if (md == NULL || spec == NULL || pvc == NULL ||
	    json_object_set(pvc, "metadata", md) != 0 ||
	    json_object_set(pvc, "spec", spec) != 0)
		goto done;
	*out = pvc;
	pvc = NULL;
	rc = 0;
done:
	json_decref(md);
	json_decref(spec);
	json_decref(pvc);
	return rc == 0 ? 0 : ss_error_set(rc, "out of memory");
}

/* How replication wired by the Restore protects itself (db.h). */
static const char *inplace_plan_replication_tls(app_tls_mode tls)
{
	switch (tls) {
	case APP_TLS_REQUIRED: return "over TLS, unverified (tls.mode Required)";
	case APP_TLS_VERIFY_CA:
		return "over TLS, the primary's certificate checked against the "
		       "servers' own CA (tls.mode VerifyCA)";
	case APP_TLS_VERIFY_IDENTITY:
		return "over TLS, the primary's certificate and address checked "
		       "against the servers' own CA (tls.mode VerifyIdentity)";
	case APP_TLS_PREFERRED: return "without TLS (tls.mode Preferred)";
	case APP_TLS_DISABLED: break;
	}
	return "without TLS (tls.mode Disabled)";
}

void app_inplace_configuring_message(char *buf, size_t cap, const char *sts, int primary,
				     int replicas, const char *gtid, const char *host,
				     app_tls_mode tls)
{
	bool have = gtid != NULL && gtid[0] != '\0';

	if (replicas <= 1 && have)
		snprintf(buf, cap, "opening %s-%d, the only member, as the primary; its binary "
			 "log starts at the Backup's GTID position %s", sts, primary, gtid);
	else if (replicas <= 1)
		snprintf(buf, cap, "opening %s-%d, the only member, as the primary; the "
			 "Backup recorded no GTID position, so its binary log starts "
			 "empty", sts, primary);
	else
		snprintf(buf, cap,
			 "making %s-%d the primary and the other %d member%s its "
			 "replicas from GTID %s, replicating from %s%s %s",
			 sts, primary, replicas - 1, replicas == 2 ? "" : "s",
			 have ? gtid : "(none recorded)", host != NULL ? host : "its Pod IP",
			 host != NULL ? "" : " (replicationHost PodIP)",
			 inplace_plan_replication_tls(tls));
}

int app_inplace_replication_host(char *buf, size_t cap, const char *sts, int primary,
				 const char *service, const char *ns)
{
	int n;

	if (service == NULL || service[0] == '\0')
		return ss_error_set(SS_EINVALID,
				    "StatefulSet %s has no spec.serviceName, so its Pods "
				    "have no DNS names for the replicas to replicate from",
				    sts);
	n = snprintf(buf, cap, "%s-%d.%s.%s.svc", sts, primary, service, ns);
	if (n < 0 || (size_t)n >= cap || n > 253)
		return ss_error_set(SS_ETOOLARGE,
				    "the primary's DNS name %s-%d.%s.%s.svc is longer than "
				    "the 253 characters DNS allows",
				    sts, primary, service, ns);
	return 0;
}

bool app_inplace_is_configured(const app_restore_status *st, int o)
{
	size_t i;

	for (i = 0; i < st->n_configured; i++)
		if (st->configured[i] == o)
			return true;
	return false;
}

bool app_inplace_service_names_pods(const json_t *svc, const json_t *sts, const char **why)
{
	const json_t *spec = json_object_get(svc, "spec"), *sel, *labels;
	const char *key;
	const json_t *v;

	labels = json_object_get(json_object_get(json_object_get(json_object_get(sts, "spec"),
								  "template"),
						 "metadata"),
				 "labels");
	sel = json_object_get(spec, "selector");
	*why = NULL;
	if (svc == NULL)
		*why = "no such Service";
	else if (!ss_streq(json_string_value(json_object_get(spec, "clusterIP")), "None"))
		*why = "the Service is not headless (clusterIP None), and only a headless "
		       "Service gives Pods DNS names";
	else if (json_object_size(sel) == 0)
		*why = "the Service has no selector, so it does not take the Pods";
	json_object_foreach((json_t *)sel, key, v)
	{
		if (*why == NULL &&
		    !ss_streq(json_string_value(json_object_get(labels, key)),
			      json_string_value(v)))
			*why = "the Service's selector does not take the StatefulSet's Pods";
	}
	return *why == NULL;
}
