/*
 * target.c — see target.h.
 *
 * Layout: reading a Pod (owner, ordinal, readiness, port, volumes); the
 * candidates of a target. Results never depend on the order the cache
 * listed the pods in: candidates are sorted before any check that can
 * fail, so the same world always gives the same error.
 */
#include "app/api/target.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/api/names.h"
#include "app/api/owner.h"
#include "ctrl/object.h"
#include "util/error.h"
#include "util/str.h"

#define ORDINAL_MAX 99999999 /* far beyond any StatefulSet's size */
#define VOLUME_LIST_MAX 160  /* the pod's volume names in a VolumeNotFound message */

/* ---- reading a Pod ------------------------------------------------------ */

static const char *str_at(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static const json_t *at2(const json_t *obj, const char *a, const char *b)
{
	return json_object_get(json_object_get(obj, a), b);
}

/* Whether the pod's controller is a StatefulSet (any name when `name` is
 * NULL). Only the "apps" group's: spec.target.statefulSetName names an
 * apps/v1 StatefulSet, and another group's kind of that name (OpenKruise's
 * apps.kruise.io) is not what the user pointed at. */
static bool owned_by_statefulset(const json_t *pod, const char *name)
{
	const json_t *ref = app_owner_controller(pod);
	const char *api = str_at(ref, "apiVersion");

	if (ref == NULL || !ss_streq(str_at(ref, "kind"), "StatefulSet") ||
	    !ss_str_has_prefix(api != NULL ? api : "", "apps/"))
		return false;
	return name == NULL || ss_streq(str_at(ref, "name"), name);
}

/* The trailing "-N" of a StatefulSet pod's name, or -1. A StatefulSet
 * writes the ordinal in plain decimal, so leading zeros mean it is not one. */
static int name_ordinal(const char *name)
{
	const char *dash = strrchr(name, '-');
	const char *p;
	int64_t v = 0;

	if (dash == NULL || dash[1] == '\0' || (dash[1] == '0' && dash[2] != '\0'))
		return -1;
	for (p = dash + 1; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p - '0');
		if (v > ORDINAL_MAX)
			return -1;
	}
	return (int)v;
}

static bool being_deleted(const json_t *pod)
{
	const json_t *ts = at2(pod, "metadata", "deletionTimestamp");

	return ts != NULL && !json_is_null(ts);
}

static bool pod_selected(const json_t *pod, const app_target *t)
{
	if (t->statefulset_name != NULL)
		return owned_by_statefulset(pod, t->statefulset_name);
	return app_selector_matches(&t->selector, at2(pod, "metadata", "labels"));
}

/* Running, Ready True and an IP; otherwise one phrase saying what is
 * missing, the first that applies. */
static void pod_readiness(app_target_candidate *c, const json_t *pod)
{
	const json_t *status = json_object_get(pod, "status");
	const char *phase = str_at(status, "phase");
	const json_t *cond;
	bool ready = false;
	size_t i;

	json_array_foreach(json_object_get(status, "conditions"), i, cond)
	{
		if (ss_streq(str_at(cond, "type"), "Ready"))
			ready = ss_streq(str_at(cond, "status"), "True");
	}
	c->ready = false;
	if (!ss_streq(phase, "Running"))
		snprintf(c->not_ready_why, sizeof(c->not_ready_why), "phase %s",
			 phase != NULL ? phase : "unknown");
	else if (!ready)
		snprintf(c->not_ready_why, sizeof(c->not_ready_why), "not Ready");
	else if (c->ip == NULL)
		snprintf(c->not_ready_why, sizeof(c->not_ready_why), "no pod IP");
	else
		c->ready = true;
	if (c->ready)
		c->not_ready_why[0] = '\0';
}

/* spec.target.connection.port, else the first container port named
 * "mysql", else 3306. */
static int pod_port(const json_t *pod, const app_target *t)
{
	const json_t *container, *port;
	size_t i, j;

	if (t->connection.port > 0)
		return t->connection.port;
	json_array_foreach(at2(pod, "spec", "containers"), i, container)
	{
		json_array_foreach(json_object_get(container, "ports"), j, port)
		{
			json_int_t p = json_integer_value(
				json_object_get(port, "containerPort"));

			if (ss_streq(str_at(port, "name"), "mysql") && p >= 1 &&
			    p <= 65535)
				return (int)p;
		}
	}
	return APP_DEFAULT_MYSQL_PORT;
}

/* What backs a pod volume, for messages: its first key besides "name". */
static const char *volume_source(const json_t *vol)
{
	const char *key;
	const json_t *v;

	json_object_foreach((json_t *)vol, key, v)
	{
		if (strcmp(key, "name") != 0)
			return key;
	}
	return "nothing";
}

static const json_t *find_volume(const json_t *pod, const char *name)
{
	const json_t *vol;
	size_t i;

	json_array_foreach(at2(pod, "spec", "volumes"), i, vol)
	{
		if (ss_streq(str_at(vol, "name"), name))
			return vol;
	}
	return NULL;
}

/* Fills `out` when `vol` is backed by a claim: a persistentVolumeClaim's
 * claimName, or the claim Kubernetes makes for a generic ephemeral volume.
 * Returns 1 if so, 0 if not (`why` says what backs it), or SS_EINVALID for
 * an ephemeral claim whose name cannot exist. */
static int volume_claim(app_target_volume *out, const char *pod, const json_t *vol,
			const char **why)
{
	const char *name = str_at(vol, "name");
	const char *claim =
		str_at(json_object_get(vol, "persistentVolumeClaim"), "claimName");
	int n;

	out->volume = name;
	out->claim = NULL;
	out->claim_buf[0] = '\0';
	if (claim != NULL && *claim != '\0') {
		out->claim = claim;
		return 1;
	}
	if (json_object_get(vol, "persistentVolumeClaim") != NULL) {
		*why = "persistentVolumeClaim without a claimName";
		return 0;
	}
	if (!json_is_object(json_object_get(vol, "ephemeral"))) {
		*why = volume_source(vol);
		return 0;
	}
	n = snprintf(out->claim_buf, sizeof(out->claim_buf), "%s-%s", pod, name);
	if (n < 0 || (size_t)n > APP_NAME_MAX)
		return ss_error_set(
			SS_EINVALID,
			"pod %s volume \"%s\": the ephemeral volume's claim "
			"name \"%s-%s\" is longer than %d characters, so no such "
			"claim can exist",
			pod, name, pod, name, APP_NAME_MAX);
	out->claim = out->claim_buf;
	return 1;
}

/* Orders default volumes by name: a StatefulSet controller adds its claim
 * templates to the pod in map order, so "spec order" differs from pod to
 * pod, and Backups of one StatefulSet would list their snapshots in
 * different orders. */
static void sort_volumes(app_target_candidate *c)
{
	bool eph[APP_MAX_VOLUMES];
	size_t i, j;

	for (i = 0; i < c->n_volumes; i++)
		eph[i] = c->volumes[i].claim == c->volumes[i].claim_buf;
	for (i = 1; i < c->n_volumes; i++) {
		for (j = i;
		     j > 0 && strcmp(c->volumes[j - 1].volume, c->volumes[j].volume) > 0;
		     j--) {
			app_target_volume tv = c->volumes[j];
			bool te = eph[j];

			c->volumes[j] = c->volumes[j - 1];
			eph[j] = eph[j - 1];
			c->volumes[j - 1] = tv;
			eph[j - 1] = te;
		}
	}
	for (i = 0; i < c->n_volumes; i++)
		if (eph[i])
			c->volumes[i].claim = c->volumes[i].claim_buf;
}

/* "a, b, c" of the pod's volume names, cut to fit. */
static void volume_names(char *buf, size_t cap, const json_t *pod)
{
	const json_t *vol;
	size_t i, len = 0;

	buf[0] = '\0';
	json_array_foreach(at2(pod, "spec", "volumes"), i, vol)
	{
		const char *name = str_at(vol, "name");

		if (name != NULL && !ss_list_append(buf, cap, &len, name))
			return;
	}
	if (len == 0)
		snprintf(buf, cap, "none");
}

/* The volumes spec.target.volumes names, in its order: each must exist
 * and be backed by a claim. */
static int named_volumes(app_target_candidate *c, const json_t *pod, const app_target *t,
			 const char **reason)
{
	const char *why = NULL;
	const json_t *vol;
	size_t i;
	int rc;

	for (i = 0; i < t->n_volumes && i < APP_MAX_VOLUMES; i++) {
		char have[VOLUME_LIST_MAX];

		vol = find_volume(pod, t->volumes[i]);
		if (vol == NULL) {
			*reason = "VolumeNotFound";
			volume_names(have, sizeof(have), pod);
			return ss_error_set(SS_ENOTFOUND,
					    "pod %s has no volume \"%s\" (named in "
					    "spec.target.volumes; its volumes: %s)",
					    c->pod, t->volumes[i], have);
		}
		rc = volume_claim(&c->volumes[c->n_volumes], c->pod, vol, &why);
		if (rc == 0) {
			*reason = "VolumeNotPVC";
			return ss_error_set(
				SS_EINVALID,
				"pod %s volume \"%s\" is not backed by a "
				"PersistentVolumeClaim (it is %s), so it cannot "
				"be snapshotted",
				c->pod, t->volumes[i], why);
		}
		if (rc < 0) {
			*reason = "VolumeNotPVC";
			return rc;
		}
		c->n_volumes++;
	}
	return 0;
}

/* None named: every volume backed by a claim, by name (see sort_volumes);
 * there must be one. */
static int claimed_volumes(app_target_candidate *c, const json_t *pod, const char **reason)
{
	const char *why = NULL;
	const json_t *vol;
	size_t i;
	int rc;

	json_array_foreach(at2(pod, "spec", "volumes"), i, vol)
	{
		app_target_volume v;

		rc = volume_claim(&v, c->pod, vol, &why);
		if (rc < 0) {
			*reason = "VolumeNotPVC";
			return rc;
		}
		if (rc == 0)
			continue;
		if (c->n_volumes == APP_MAX_VOLUMES) {
			*reason = "TooManyVolumes";
			return ss_error_set(SS_ETOOLARGE,
					    "pod %s has more than %d volumes backed by "
					    "claims; name the ones to snapshot in "
					    "spec.target.volumes",
					    c->pod, APP_MAX_VOLUMES);
		}
		c->volumes[c->n_volumes] = v;
		/* claim_buf moved with the copy: point at the copy's. */
		if (v.claim == v.claim_buf)
			c->volumes[c->n_volumes].claim =
				c->volumes[c->n_volumes].claim_buf;
		c->n_volumes++;
	}
	sort_volumes(c);
	if (c->n_volumes == 0) {
		*reason = "VolumeNotPVC";
		return ss_error_set(
			SS_EINVALID,
			"pod %s has no volume backed by a PersistentVolumeClaim, "
			"so there is nothing to snapshot",
			c->pod);
	}
	return 0;
}

static int pod_volumes(app_target_candidate *c, const json_t *pod, const app_target *t,
		       const char **reason)
{
	c->n_volumes = 0;
	if (t->n_volumes > 0)
		return named_volumes(c, pod, t, reason);
	return claimed_volumes(c, pod, reason);
}

/* Fills `c` from `pod`: 0, or an error with *reason set. */
static int candidate_fill(app_target_candidate *c, const json_t *pod, const app_target *t,
			  const char **reason)
{
	const char *ip = str_at(json_object_get(pod, "status"), "podIP");

	memset(c, 0, sizeof(*c));
	c->pod = ctrl_meta(pod, "name");
	c->uid = ctrl_meta(pod, "uid");
	c->ip = ip != NULL && *ip != '\0' ? ip : NULL;
	c->port = pod_port(pod, t);
	c->ordinal = owned_by_statefulset(pod, NULL) ? name_ordinal(c->pod) : -1;
	pod_readiness(c, pod);
	return pod_volumes(c, pod, t, reason);
}

/* ---- the candidates of a target ---------------------------------------- */

typedef struct {
	const json_t *pod;
	const char *name;
	int ordinal;
} pod_key;

int app_target_order(int ord_a, const char *name_a, int ord_b, const char *name_b)
{
	if (ord_a != ord_b) {
		if (ord_a < 0)
			return 1;
		if (ord_b < 0)
			return -1;
		return ord_a < ord_b ? -1 : 1;
	}
	return strcmp(name_a, name_b);
}

static int pod_key_cmp(const void *a, const void *b)
{
	const pod_key *x = a, *y = b;

	return app_target_order(x->ordinal, x->name, y->ordinal, y->name);
}

static void describe_target(char *buf, size_t cap, const app_target *t)
{
	if (t->statefulset_name != NULL)
		snprintf(buf, cap, "StatefulSet %s", t->statefulset_name);
	else
		snprintf(buf, cap, "spec.target.podSelector");
}

/* The pods `t` selects that are not being deleted, into keys (the first
 * APP_TARGET_MAX_CANDIDATES); *total counts all of them, *deleting those
 * being deleted. Returns how many are in keys. */
static size_t select_pods(pod_key *keys, size_t *total, size_t *deleting,
			  const json_t *pods, const app_target *t)
{
	const json_t *pod;
	size_t i, n = 0;

	*total = *deleting = 0;
	json_array_foreach((json_t *)pods, i, pod)
	{
		const char *name = ctrl_meta(pod, "name");

		if (name == NULL || !pod_selected(pod, t))
			continue;
		if (being_deleted(pod)) {
			(*deleting)++;
			continue;
		}
		if (n < APP_TARGET_MAX_CANDIDATES) {
			keys[n].pod = pod;
			keys[n].name = name;
			keys[n].ordinal =
				owned_by_statefulset(pod, NULL) ? name_ordinal(name) : -1;
			n++;
		}
		(*total)++;
	}
	return n;
}

/* No pod to take: SS_ENOTFOUND, saying why as well as it can. */
static int no_pods(const char *what, size_t deleting, const app_target *t)
{
	if (deleting > 0)
		return ss_error_set(SS_ENOTFOUND, "%s has no pods except %zu being deleted",
				    what, deleting);
	if (t->statefulset_name != NULL)
		return ss_error_set(SS_ENOTFOUND,
				    "no pods of %s in the namespace (does the "
				    "StatefulSet exist, and is it scaled to zero?)",
				    what);
	return ss_error_set(SS_ENOTFOUND, "no pod in the namespace matches %s", what);
}

int app_target_resolve(app_target_candidates *out, const app_target *target,
		       const json_t *pods, const char **out_reason)
{
	pod_key keys[APP_TARGET_MAX_CANDIDATES];
	app_target_candidate check;
	const char *reason = NULL;
	char what[APP_NAME_BUF + 16];
	size_t i, n, total, deleting;
	int rc = 0;

	if ((target->statefulset_name != NULL) == target->has_selector) {
		reason = "InvalidSpec";
		rc = ss_error_set(SS_EINVALID,
				  "spec.target: give exactly one of statefulSetName and "
				  "podSelector");
		goto done;
	}
	describe_target(what, sizeof(what), target);
	n = select_pods(keys, &total, &deleting, pods, target);
	if (total > APP_TARGET_MAX_CANDIDATES) {
		reason = "TooManyPods";
		rc = ss_error_set(SS_ETOOLARGE,
				  "%s selects %zu pods; snapstage handles at most %d: "
				  "narrow the selector",
				  what, total, APP_TARGET_MAX_CANDIDATES);
		goto done;
	}
	if (n == 0) {
		reason = "TargetNotFound";
		rc = no_pods(what, deleting, target);
		goto done;
	}
	qsort(keys, n, sizeof(keys[0]), pod_key_cmp);
	/* Check every pod before writing *out, so a failure leaves it as it
	 * was; the second pass cannot fail. */
	for (i = 0; i < n; i++) {
		rc = candidate_fill(&check, keys[i].pod, target, &reason);
		if (rc != 0)
			goto done;
	}
	for (i = 0; i < n; i++)
		(void)candidate_fill(&out->c[i], keys[i].pod, target, &reason);
	out->n = n;
	reason = NULL;
done:
	if (out_reason != NULL)
		*out_reason = reason;
	return rc;
}
