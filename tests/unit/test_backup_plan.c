/*
 * test_backup_plan.c — the Backup controller's pure decisions
 * (app/backup/backup_plan.h) and the shared rules they build on: which pods
 * and claims a target selects (app/api/target.h), which server is locked
 * and why not the others, what a VolumeSnapshot's status says
 * (app/api/volumesnapshot.h), whose an object is (app/api/owner.h), and
 * what the VolumeSnapshot snapstage creates looks like. Pods and
 * Backups are JSON as the API server serves them; targets and specs come
 * from app_backup_spec_decode(), as in the controller.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "app/api/api.h"
#include "app/api/names.h"
#include "app/api/owner.h"
#include "app/backup/backup_plan.h"
#include "util/error.h"

/* ---- building test objects ---------------------------------------------- */

static const char *get_str(const json_t *root, const char *a, const char *b,
			   const char *c)
{
	const json_t *v = json_object_get(root, a);

	if (b != NULL)
		v = json_object_get(v, b);
	if (c != NULL)
		v = json_object_get(v, c);
	return json_string_value(v);
}

/* A Running, Ready pod labelled app=mariadb, controlled by StatefulSet
 * `sts` (NULL: by nothing), with a claim volume "data" (claim
 * data-<name>), a ConfigMap volume "config" and a container port named
 * "mysql" on 3307. */
static json_t *pod_new(const char *name, const char *sts)
{
	char uid[96], claim[96];
	json_t *pod;

	snprintf(uid, sizeof(uid), "uid-%s", name);
	snprintf(claim, sizeof(claim), "data-%s", name);
	pod = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:{s:s}},"
			" s:{s:[{s:s, s:[{s:s, s:i}]}],"
			"    s:[{s:s, s:{s:s}}, {s:s, s:{s:s}}]},"
			" s:{s:s, s:s, s:[{s:s, s:s}, {s:s, s:s}]}}",
			"apiVersion", "v1", "kind", "Pod", "metadata", "name", name,
			"namespace", "db", "uid", uid, "labels", "app", "mariadb", "spec",
			"containers", "name", "mariadb", "ports", "name", "mysql",
			"containerPort", 3307, "volumes", "name", "config", "configMap",
			"name", "my-cnf", "name", "data", "persistentVolumeClaim",
			"claimName", claim, "status", "phase", "Running", "podIP",
			"10.0.0.7", "conditions", "type", "Initialized", "status", "True",
			"type", "Ready", "status", "True");
	assert_non_null(pod);
	if (sts != NULL)
		tu_json_set(pod, "metadata.ownerReferences",
			    json_pack("[{s:s, s:s, s:s, s:s, s:b, s:b}]", "apiVersion",
				      "apps/v1", "kind", "StatefulSet", "name", sts,
				      "uid", "uid-sts", "controller", 1,
				      "blockOwnerDeletion", 1));
	return pod;
}

/* A JSON array of the given pods (stolen), NULL-terminated. */
static json_t *pod_list(json_t *first, ...)
{
	json_t *list = json_array(), *p;
	va_list ap;

	va_start(ap, first);
	for (p = first; p != NULL; p = va_arg(ap, json_t *))
		json_array_append_new(list, p);
	va_end(ap);
	return list;
}

/* A Backup whose spec.target is `target` (JSON text without the
 * connection, which is added) and whose spec.snapshot is `snapshot` (NULL:
 * none), decoded into *spec. The caller keeps the returned object alive as
 * long as *spec is used. */
static json_t *backup_new(app_backup_spec *spec, const char *target, const char *snapshot)
{
	json_t *b =
		tu_json("{\"apiVersion\":\"snapstage.io/v1alpha1\",\"kind\":\"Backup\","
			"\"metadata\":{\"name\":\"adhoc\",\"namespace\":\"db\","
			"\"uid\":\"uid-backup\"},\"spec\":{}}");
	json_t *t = tu_json(target);
	const char *reason = NULL;

	if (json_object_get(t, "connection") == NULL)
		json_object_set_new(
			t, "connection",
			tu_json("{\"credentialsSecretRef\":{\"name\":\"mariadb-"
				"backup\"}}"));
	tu_json_set(b, "spec.target", t);
	if (snapshot != NULL)
		tu_json_set(b, "spec.snapshot", tu_json(snapshot));
	if (app_backup_spec_decode(spec, b, &reason) != 0)
		fail_msg("test Backup does not decode (%s): %s", reason,
			 ss_error_last()->message);
	return b;
}

static app_target_candidates *cands_new(void)
{
	app_target_candidates *c = malloc(sizeof(*c));

	assert_non_null(c);
	memset(c, 0x5a, sizeof(*c)); /* garbage: resolve must write what it reports */
	c->n = 77;
	return c;
}

static const char *const sts_target = "{\"statefulSetName\":\"mariadb\"}";

/* ---- resolving the target ----------------------------------------------- */

static void test_statefulset_takes_its_own_pods_in_ordinal_order(void **state)
{
	app_target_candidates *out = cands_new();
	app_backup_spec spec;
	json_t *b = backup_new(&spec, sts_target, NULL);
	json_t *not_controller = pod_new("mariadb-3", "mariadb");
	json_t *replicaset = pod_new("mariadb-4", NULL);
	json_t *kruise = pod_new("mariadb-6", "mariadb");
	json_t *pods;
	const char *reason = "unset";
	static const char *const order[] = { "mariadb-0", "mariadb-1", "mariadb-2",
					     "mariadb-10" };
	size_t i;

	(void)state;
	tu_json_set(not_controller, "metadata.ownerReferences[0].controller",
		    json_false());
	tu_json_set(replicaset, "metadata.ownerReferences",
		    json_pack("[{s:s, s:s, s:s, s:s, s:b}]", "apiVersion", "apps/v1",
			      "kind", "ReplicaSet", "name", "mariadb", "uid", "rs",
			      "controller", 1));
	tu_json_set(kruise, "metadata.ownerReferences[0].apiVersion",
		    json_string("apps.kruise.io/v1beta1"));
	pods = pod_list(pod_new("mariadb-2", "mariadb"), pod_new("mariadb-10", "mariadb"),
			pod_new("other-0", "other"), not_controller, replicaset,
			pod_new("mariadb-5", NULL), kruise,
			pod_new("mariadb-0", "mariadb"), pod_new("mariadb-1", "mariadb"),
			NULL);

	assert_int_equal(app_target_resolve(out, &spec.target, pods, &reason),
			 0);
	assert_null(reason);
	assert_int_equal(out->n, 4);
	for (i = 0; i < 4; i++) {
		const app_target_candidate *c = &out->c[i];
		char claim[64], uid[64];

		snprintf(claim, sizeof(claim), "data-%s", order[i]);
		snprintf(uid, sizeof(uid), "uid-%s", order[i]);
		assert_string_equal(c->pod, order[i]);
		assert_string_equal(c->uid, uid);
		assert_string_equal(c->ip, "10.0.0.7");
		assert_int_equal(c->port, 3307);
		assert_true(c->ready);
		assert_string_equal(c->not_ready_why, "");
		assert_int_equal(c->n_volumes, 1);
		assert_string_equal(c->volumes[0].volume, "data");
		assert_string_equal(c->volumes[0].claim, claim);
		/* borrowed from the pod, not copied */
		assert_ptr_not_equal(c->volumes[0].claim, c->volumes[0].claim_buf);
	}
	assert_int_equal(out->c[0].ordinal, 0);
	assert_int_equal(out->c[1].ordinal, 1);
	assert_int_equal(out->c[2].ordinal, 2);
	assert_int_equal(out->c[3].ordinal, 10);

	json_decref(pods);
	json_decref(b);
	free(out);
}

static void test_selector_takes_matching_pods_of_any_owner(void **state)
{
	app_target_candidates *out = cands_new();
	app_backup_spec spec;
	json_t *b = backup_new(
		&spec,
		"{\"podSelector\":{\"matchLabels\":{\"app\":\"mariadb\"},"
		"\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"NotIn\","
		"\"values\":[\"cache\"]}]}}",
		NULL);
	json_t *web = pod_new("web-0", "web");
	json_t *cache = pod_new("cache-0", "cache");
	json_t *deploy = pod_new("deploy-5", NULL);
	json_t *pods;
	const char *reason = NULL;

	(void)state;
	assert_true(spec.target.has_selector);
	tu_json_set(web, "metadata.labels.app", json_string("web"));
	tu_json_set(cache, "metadata.labels.tier", json_string("cache"));
	/* a ReplicaSet's pod: its "-5" is no ordinal */
	tu_json_set(deploy, "metadata.ownerReferences",
		    json_pack("[{s:s, s:s, s:s, s:s, s:b}]", "apiVersion", "apps/v1",
			      "kind", "ReplicaSet", "name", "deploy", "uid", "rs",
			      "controller", 1));
	pods = pod_list(pod_new("db-7", NULL), web, deploy,
			pod_new("mariadb-1", "mariadb"), cache, pod_new("zeta-0", "zeta"),
			NULL);

	assert_int_equal(app_target_resolve(out, &spec.target, pods, &reason),
			 0);
	assert_int_equal(out->n, 4);
	assert_string_equal(out->c[0].pod, "zeta-0");
	assert_int_equal(out->c[0].ordinal, 0);
	assert_string_equal(out->c[1].pod, "mariadb-1");
	assert_int_equal(out->c[1].ordinal, 1);
	/* no ordinal: last, by name */
	assert_string_equal(out->c[2].pod, "db-7");
	assert_int_equal(out->c[2].ordinal, -1);
	assert_string_equal(out->c[3].pod, "deploy-5");
	assert_int_equal(out->c[3].ordinal, -1);

	json_decref(pods);
	json_decref(b);
	free(out);
}

static void test_ordinals_sort_numerically(void **state)
{
	app_target_candidates *out = cands_new();
	app_backup_spec spec;
	json_t *b = backup_new(&spec, sts_target, NULL);
	json_t *pods = json_array();
	char name[32];
	int i;

	(void)state;
	for (i = 11; i >= 0; i--) {
		snprintf(name, sizeof(name), "mariadb-%d", i);
		json_array_append_new(pods, pod_new(name, "mariadb"));
	}
	/* not a StatefulSet's spelling of an ordinal: sorted with the unnumbered */
	json_array_append_new(pods, pod_new("mariadb-07", "mariadb"));
	json_array_append_new(pods, pod_new("mariadb-x", "mariadb"));

	assert_int_equal(app_target_resolve(out, &spec.target, pods, NULL), 0);
	assert_int_equal(out->n, 14);
	for (i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "mariadb-%d", i);
		assert_string_equal(out->c[i].pod, name);
		assert_int_equal(out->c[i].ordinal, i);
	}
	assert_string_equal(out->c[12].pod, "mariadb-07");
	assert_int_equal(out->c[12].ordinal, -1);
	assert_string_equal(out->c[13].pod, "mariadb-x");
	assert_int_equal(out->c[13].ordinal, -1);

	json_decref(pods);
	json_decref(b);
	free(out);
}

static void test_pods_being_deleted_are_skipped(void **state)
{
	app_target_candidates *out = cands_new();
	app_backup_spec spec;
	json_t *b = backup_new(&spec, sts_target, NULL);
	json_t *gone0 = pod_new("mariadb-0", "mariadb");
	json_t *gone1 = pod_new("mariadb-1", "mariadb");
	json_t *pods;
	const char *reason = NULL;

	(void)state;
	tu_json_set(gone0, "metadata.deletionTimestamp",
		    json_string("2026-11-23T03:00:00Z"));
	pods = pod_list(json_incref(gone0), pod_new("mariadb-2", "mariadb"), NULL);
	assert_int_equal(app_target_resolve(out, &spec.target, pods, &reason),
			 0);
	assert_int_equal(out->n, 1);
	assert_string_equal(out->c[0].pod, "mariadb-2");
	json_decref(pods);

	/* only pods being deleted: nothing to back up */
	tu_json_set(gone1, "metadata.deletionTimestamp",
		    json_string("2026-11-23T03:00:00Z"));
	pods = pod_list(gone0, gone1, NULL);
	out->n = 77;
	assert_int_equal(app_target_resolve(out, &spec.target, pods, &reason),
			 SS_ENOTFOUND);
	assert_string_equal(reason, "TargetNotFound");
	tu_assert_error(SS_ENOTFOUND, "StatefulSet mariadb has no pods except 2 being "
				      "deleted");
	assert_int_equal(out->n, 77);

	json_decref(pods);
	json_decref(b);
	free(out);
}

static void test_no_pods_is_target_not_found(void **state)
{
	app_target_candidates *out = cands_new();
	app_backup_spec spec, sel_spec;
	json_t *b = backup_new(&spec, sts_target, NULL);
	json_t *sel = backup_new(
		&sel_spec, "{\"podSelector\":{\"matchLabels\":{\"app\":\"nothing\"}}}",
		NULL);
	json_t *empty = json_array();
	json_t *pods = pod_list(pod_new("other-0", "other"), NULL);
	const char *reason = NULL;

	(void)state;
	assert_int_equal(app_target_resolve(out, &spec.target, empty, &reason),
			 SS_ENOTFOUND);
	assert_string_equal(reason, "TargetNotFound");
	tu_assert_error(SS_ENOTFOUND, "no pods of StatefulSet mariadb");
	assert_int_equal(app_target_resolve(out, &spec.target, NULL, &reason),
			 SS_ENOTFOUND);
	assert_int_equal(app_target_resolve(out, &spec.target, pods, &reason),
			 SS_ENOTFOUND);
	reason = NULL;
	assert_int_equal(
		app_target_resolve(out, &sel_spec.target, pods, &reason),
		SS_ENOTFOUND);
	assert_string_equal(reason, "TargetNotFound");
	tu_assert_error(SS_ENOTFOUND, "no pod in the namespace matches "
				      "spec.target.podSelector");
	assert_int_equal(out->n, 77); /* untouched on failure */

	/* a target that is neither (not decoded) */
	spec.target.has_selector = true;
	assert_int_equal(app_target_resolve(out, &spec.target, pods, &reason),
			 SS_EINVALID);
	assert_string_equal(reason, "InvalidSpec");

	json_decref(pods);
	json_decref(empty);
	json_decref(sel);
	json_decref(b);
	free(out);
}

static void test_readiness(void **state)
{
	static const struct {
		const char *path;
		const char *value; /* NULL: delete the field */
		const char *why;   /* "" : ready */
	} cases[] = {
		{ "status.phase", NULL, "" }, /* placeholder: the unchanged pod */
		{ "status.phase", "Pending", "phase Pending" },
		{ "status.phase", "Failed", "phase Failed" },
		{ "status.conditions[1].status", "False", "not Ready" },
		{ "status.conditions[1].status", "Unknown", "not Ready" },
		{ "status.conditions", NULL, "not Ready" },
		{ "status.podIP", NULL, "no pod IP" },
		{ "status.podIP", "", "no pod IP" },
		{ "status", NULL, "phase unknown" },
	};
	app_target_candidates *out = cands_new();
	app_backup_spec spec;
	json_t *b = backup_new(&spec, sts_target, NULL);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *pod = pod_new("mariadb-0", "mariadb");
		json_t *pods;

		if (i > 0)
			tu_json_set(pod, cases[i].path,
				    cases[i].value != NULL ? json_string(cases[i].value)
							   : NULL);
		pods = pod_list(pod, NULL);
		assert_int_equal(
			app_target_resolve(out, &spec.target, pods, NULL), 0);
		assert_int_equal(out->n, 1); /* ready or not, a candidate */
		if (out->c[0].ready != (cases[i].why[0] == '\0') ||
		    strcmp(out->c[0].not_ready_why, cases[i].why) != 0)
			fail_msg("case %zu (%s=%s): ready %d why \"%s\", want \"%s\"", i,
				 cases[i].path,
				 cases[i].value ? cases[i].value : "(none)",
				 out->c[0].ready, out->c[0].not_ready_why, cases[i].why);
		json_decref(pods);
	}
	json_decref(b);
	free(out);
}

static void test_pod_without_ip_has_null_ip(void **state)
{
	app_target_candidates *out = cands_new();
	app_backup_spec spec;
	json_t *b = backup_new(&spec, sts_target, NULL);
	json_t *pod = pod_new("mariadb-0", "mariadb");
	json_t *pods;

	(void)state;
	tu_json_set(pod, "status.podIP", json_string(""));
	pods = pod_list(pod, NULL);
	assert_int_equal(app_target_resolve(out, &spec.target, pods, NULL), 0);
	assert_null(out->c[0].ip);
	assert_false(out->c[0].ready);
	json_decref(pods);
	json_decref(b);
	free(out);
}

/* A pod with claim volumes data and logs, a ConfigMap, an emptyDir and a
 * generic ephemeral volume. */
static json_t *many_volume_pod(const char *name)
{
	json_t *pod = pod_new(name, "mariadb");

	tu_json_set(pod, "spec.volumes",
		    tu_json("[{\"name\":\"config\",\"configMap\":{\"name\":\"my-cnf\"}},"
			    "{\"name\":\"data\",\"persistentVolumeClaim\":{\"claimName\":"
			    "\"data-x\"}},"
			    "{\"name\":\"scratch\",\"emptyDir\":{}},"
			    "{\"name\":\"tmp\",\"ephemeral\":{\"volumeClaimTemplate\":{"
			    "\"spec\":"
			    "{\"accessModes\":[\"ReadWriteOnce\"]}}}},"
			    "{\"name\":\"logs\",\"persistentVolumeClaim\":{\"claimName\":"
			    "\"logs-x\"}},"
			    "{\"name\":\"host\",\"hostPath\":{\"path\":\"/srv\"}}]"));
	return pod;
}

static void test_named_volumes(void **state)
{
	app_target_candidates *out = cands_new();
	app_backup_spec spec;
	json_t *b = backup_new(&spec,
			       "{\"statefulSetName\":\"mariadb\",\"volumes\":[\"logs\","
			       "\"tmp\",\"data\"]}",
			       NULL);
	json_t *pods = pod_list(many_volume_pod("mariadb-0"), NULL);
	const char *reason = NULL;

	(void)state;
	assert_int_equal(app_target_resolve(out, &spec.target, pods, &reason),
			 0);
	assert_int_equal(out->c[0].n_volumes, 3);
	/* in the order named, not the pod's */
	assert_string_equal(out->c[0].volumes[0].volume, "logs");
	assert_string_equal(out->c[0].volumes[0].claim, "logs-x");
	assert_string_equal(out->c[0].volumes[1].volume, "tmp");
	assert_string_equal(out->c[0].volumes[1].claim, "mariadb-0-tmp");
	assert_ptr_equal(out->c[0].volumes[1].claim, out->c[0].volumes[1].claim_buf);
	assert_string_equal(out->c[0].volumes[2].volume, "data");
	assert_string_equal(out->c[0].volumes[2].claim, "data-x");
	json_decref(b);
	json_decref(pods);
	free(out);
}

static void test_named_volume_missing_or_not_a_claim(void **state)
{
	static const struct {
		const char *volumes;
		int rc;
		const char *reason;
		const char *fragment;
	} cases[] = {
		{ "[\"data\",\"binlog\"]", SS_ENOTFOUND, "VolumeNotFound",
		  "pod mariadb-0 has no volume \"binlog\" (named in spec.target.volumes; "
		  "its volumes: config, data, scratch, tmp, logs, host)" },
		{ "[\"scratch\"]", SS_EINVALID, "VolumeNotPVC",
		  "pod mariadb-0 volume \"scratch\" is not backed by a "
		  "PersistentVolumeClaim "
		  "(it is emptyDir)" },
		{ "[\"config\"]", SS_EINVALID, "VolumeNotPVC", "(it is configMap)" },
		{ "[\"host\"]", SS_EINVALID, "VolumeNotPVC", "(it is hostPath)" },
	};
	app_target_candidates *out = cands_new();
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char target[128];
		app_backup_spec spec;
		json_t *b, *pods;
		const char *reason = NULL;

		snprintf(target, sizeof(target),
			 "{\"statefulSetName\":\"mariadb\",\"volumes\":%s}",
			 cases[i].volumes);
		b = backup_new(&spec, target, NULL);
		/* mariadb-1 listed first: the error still names mariadb-0, the
		 * first candidate */
		pods = pod_list(many_volume_pod("mariadb-1"),
				many_volume_pod("mariadb-0"), NULL);
		assert_int_equal(
			app_target_resolve(out, &spec.target, pods, &reason),
			cases[i].rc);
		assert_string_equal(reason, cases[i].reason);
		tu_assert_error(cases[i].rc, cases[i].fragment);
		assert_int_equal(out->n, 77);
		json_decref(pods);
		json_decref(b);
	}
	free(out);
}

static void test_default_volumes_are_every_claim(void **state)
{
	app_target_candidates *out = cands_new();
	app_backup_spec spec;
	json_t *b = backup_new(&spec, sts_target, NULL);
	json_t *pods = pod_list(many_volume_pod("mariadb-0"), NULL);
	const char *reason = NULL;

	(void)state;
	assert_int_equal(app_target_resolve(out, &spec.target, pods, &reason),
			 0);
	assert_int_equal(out->c[0].n_volumes, 3);
	/* by volume name (spec order is data, tmp, logs); the ephemeral
	 * volume's claim is named by Kubernetes and still points at its own
	 * buffer after the sort */
	assert_string_equal(out->c[0].volumes[0].volume, "data");
	assert_string_equal(out->c[0].volumes[0].claim, "data-x");
	assert_string_equal(out->c[0].volumes[1].volume, "logs");
	assert_string_equal(out->c[0].volumes[1].claim, "logs-x");
	assert_string_equal(out->c[0].volumes[2].volume, "tmp");
	assert_string_equal(out->c[0].volumes[2].claim, "mariadb-0-tmp");
	assert_ptr_equal(out->c[0].volumes[2].claim, out->c[0].volumes[2].claim_buf);
	json_decref(pods);
	json_decref(b);
	free(out);
}

static void test_no_claim_at_all(void **state)
{
	app_target_candidates *out = cands_new();
	app_backup_spec spec;
	json_t *b = backup_new(&spec, sts_target, NULL);
	json_t *pod = pod_new("mariadb-0", "mariadb");
	json_t *pods;
	const char *reason = NULL;

	(void)state;
	tu_json_set(pod, "spec.volumes",
		    tu_json("[{\"name\":\"data\",\"emptyDir\":{}},"
			    "{\"name\":\"odd\",\"persistentVolumeClaim\":{}}]"));
	pods = pod_list(pod, NULL);
	assert_int_equal(app_target_resolve(out, &spec.target, pods, &reason),
			 SS_EINVALID);
	assert_string_equal(reason, "VolumeNotPVC");
	tu_assert_error(SS_EINVALID,
			"pod mariadb-0 has no volume backed by a PersistentVolumeClaim");
	json_decref(pods);

	/* no spec.volumes at all */
	pod = pod_new("mariadb-0", "mariadb");
	tu_json_set(pod, "spec.volumes", NULL);
	pods = pod_list(pod, NULL);
	assert_int_equal(app_target_resolve(out, &spec.target, pods, &reason),
			 SS_EINVALID);
	assert_string_equal(reason, "VolumeNotPVC");
	assert_int_equal(out->n, 77);
	json_decref(pods);
	json_decref(b);
	free(out);
}

static void test_too_many_claims_without_names(void **state)
{
	app_target_candidates *out = cands_new();
	app_backup_spec spec;
	json_t *b = backup_new(&spec, sts_target, NULL);
	json_t *pod = pod_new("mariadb-0", "mariadb");
	json_t *vols = json_array(), *pods;
	const char *reason = NULL;
	char name[16];
	int i;

	(void)state;
	for (i = 0; i <= APP_MAX_VOLUMES; i++) {
		snprintf(name, sizeof(name), "v%d", i);
		json_array_append_new(vols, json_pack("{s:s, s:{s:s}}", "name", name,
						      "persistentVolumeClaim",
						      "claimName", name));
	}
	tu_json_set(pod, "spec.volumes", vols);
	pods = pod_list(pod, NULL);
	assert_int_equal(app_target_resolve(out, &spec.target, pods, &reason),
			 SS_ETOOLARGE);
	assert_string_equal(reason, "TooManyVolumes");
	tu_assert_error(SS_ETOOLARGE, "pod mariadb-0 has more than 16 volumes");

	/* exactly the maximum fits */
	json_array_remove(vols, 0);
	assert_int_equal(app_target_resolve(out, &spec.target, pods, &reason),
			 0);
	assert_int_equal(out->c[0].n_volumes, APP_MAX_VOLUMES);
	/* by name: v1, v10 .. v16, v2 .. v9 */
	assert_string_equal(out->c[0].volumes[0].claim, "v1");
	assert_string_equal(out->c[0].volumes[1].claim, "v10");
	assert_string_equal(out->c[0].volumes[APP_MAX_VOLUMES - 1].claim, "v9");
	json_decref(pods);
	json_decref(b);
	free(out);
}

static void test_ephemeral_claim_name_too_long(void **state)
{
	app_target_candidates *out = cands_new();
	app_backup_spec spec;
	json_t *b = backup_new(&spec, sts_target, NULL);
	char name[260];
	json_t *pod, *pods;
	const char *reason = NULL;

	(void)state;
	memset(name, 'p', 240);
	snprintf(name + 240, sizeof(name) - 240, "-0");
	pod = pod_new(name, "mariadb");
	tu_json_set(pod, "spec.volumes",
		    tu_json("[{\"name\":\"scratchspace\",\"ephemeral\":{}}]"));
	pods = pod_list(pod, NULL);
	assert_int_equal(app_target_resolve(out, &spec.target, pods, &reason),
			 SS_EINVALID);
	assert_string_equal(reason, "VolumeNotPVC");
	tu_assert_error(SS_EINVALID, "is longer than 253 characters");
	json_decref(pods);
	json_decref(b);
	free(out);
}

static void test_port_resolution(void **state)
{
	app_target_candidates *out = cands_new();
	app_backup_spec spec, port_spec;
	json_t *b = backup_new(&spec, sts_target, NULL);
	json_t *pb =
		backup_new(&port_spec,
			   "{\"statefulSetName\":\"mariadb\",\"connection\":{"
			   "\"port\":3310,\"credentialsSecretRef\":{\"name\":\"s\"}}}",
			   NULL);
	json_t *second = pod_new("mariadb-1", "mariadb");
	json_t *unnamed = pod_new("mariadb-2", "mariadb");
	json_t *pods;

	(void)state;
	/* the "mysql" port in the second container */
	tu_json_set(
		second, "spec.containers",
		tu_json("[{\"name\":\"exporter\",\"ports\":[{\"name\":\"metrics\","
			"\"containerPort\":9104}]},"
			"{\"name\":\"mariadb\",\"ports\":[{\"name\":\"repl\","
			"\"containerPort\":4444},{\"name\":\"mysql\",\"containerPort\":"
			"3311}]}]"));
	/* no port named mysql */
	tu_json_set(unnamed, "spec.containers[0].ports[0].name", json_string("sql"));
	pods = pod_list(pod_new("mariadb-0", "mariadb"), second, unnamed, NULL);

	assert_int_equal(app_target_resolve(out, &spec.target, pods, NULL), 0);
	assert_int_equal(out->c[0].port, 3307);
	assert_int_equal(out->c[1].port, 3311);
	assert_int_equal(out->c[2].port, 3306);
	/* the spec's port wins over all */
	assert_int_equal(app_target_resolve(out, &port_spec.target, pods, NULL),
			 0);
	assert_int_equal(out->c[0].port, 3310);
	assert_int_equal(out->c[1].port, 3310);
	assert_int_equal(out->c[2].port, 3310);

	json_decref(pods);
	json_decref(pb);
	json_decref(b);
	free(out);
}

static void test_too_many_pods(void **state)
{
	app_target_candidates *out = cands_new();
	app_backup_spec spec;
	json_t *b = backup_new(&spec, sts_target, NULL);
	json_t *pods = json_array();
	const char *reason = NULL;
	char name[32];
	int i;

	(void)state;
	for (i = 0; i < APP_TARGET_MAX_CANDIDATES; i++) {
		snprintf(name, sizeof(name), "mariadb-%d", i);
		json_array_append_new(pods, pod_new(name, "mariadb"));
	}
	assert_int_equal(app_target_resolve(out, &spec.target, pods, &reason),
			 0);
	assert_int_equal(out->n, APP_TARGET_MAX_CANDIDATES);
	assert_string_equal(out->c[APP_TARGET_MAX_CANDIDATES - 1].pod, "mariadb-31");

	json_array_append_new(pods, pod_new("mariadb-32", "mariadb"));
	json_array_append_new(pods, pod_new("mariadb-33", "mariadb"));
	out->n = 77;
	assert_int_equal(app_target_resolve(out, &spec.target, pods, &reason),
			 SS_ETOOLARGE);
	assert_string_equal(reason, "TooManyPods");
	tu_assert_error(SS_ETOOLARGE, "StatefulSet mariadb selects 34 pods; snapstage "
				      "handles at most 32");
	assert_int_equal(out->n, 77);
	json_decref(pods);
	json_decref(b);
	free(out);
}

/* ---- choosing the server ------------------------------------------------ */

typedef struct {
	app_target_candidates *c;
	app_backup_plan_probe p[APP_TARGET_MAX_CANDIDATES];
} world;

static world *world_new(void)
{
	world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	w->c = calloc(1, sizeof(*w->c));
	assert_non_null(w->c);
	return w;
}

static void world_free(world *w)
{
	free(w->c);
	free(w);
}

static size_t add(world *w, const char *pod, int ordinal, bool ready)
{
	size_t i = w->c->n++;
	app_target_candidate *c = &w->c->c[i];

	c->pod = pod;
	c->ordinal = ordinal;
	c->ready = ready;
	if (!ready)
		snprintf(c->not_ready_why, sizeof(c->not_ready_why), "not Ready");
	/* a probe that must be ignored for a pod that is not ready */
	w->p[i].rc = 0;
	w->p[i].verdict.kind = ready ? APP_DB_UNKNOWN : APP_DB_HEALTHY_REPLICA;
	w->p[i].verdict.lag_seconds = 0;
	return i;
}

static size_t add_verdict(world *w, const char *pod, int ordinal, app_db_kind kind,
			  int64_t lag, const char *reason)
{
	size_t i = add(w, pod, ordinal, true);

	w->p[i].verdict.kind = kind;
	w->p[i].verdict.lag_seconds = lag;
	snprintf(w->p[i].verdict.reason, sizeof(w->p[i].verdict.reason), "%s", reason);
	return i;
}

static size_t add_failure(world *w, const char *pod, int ordinal, int rc,
			  const char *error)
{
	size_t i = add(w, pod, ordinal, true);

	w->p[i].rc = rc;
	snprintf(w->p[i].error, sizeof(w->p[i].error), "%s", error);
	/* a stale verdict a failed probe must not be judged by */
	w->p[i].verdict.kind = APP_DB_HEALTHY_REPLICA;
	return i;
}

static void assert_contains(const char *text, const char *fragment)
{
	if (strstr(text, fragment) == NULL)
		fail_msg("\"%s\" not in \"%s\"", fragment, text);
}

static void test_choose_best_replica(void **state)
{
	world *w = world_new();
	app_backup_plan_choice ch;
	static const app_role roles[] = { APP_ROLE_REPLICA, APP_ROLE_PREFER_REPLICA };
	size_t i;

	(void)state;
	add_verdict(w, "mariadb-0", 0, APP_DB_PRIMARY, -1, "writable");
	add_verdict(w, "mariadb-1", 1, APP_DB_HEALTHY_REPLICA, 5, "lag 5 s");
	add_verdict(w, "mariadb-2", 2, APP_DB_HEALTHY_REPLICA, 1, "lag 1 s");
	add_verdict(w, "mariadb-3", 3, APP_DB_HEALTHY_REPLICA, 1, "lag 1 s");
	add(w, "mariadb-4", 4, false); /* lag 0 but not ready */
	add_verdict(w, "mariadb-5", 5, APP_DB_UNHEALTHY_REPLICA, 0, "SQL thread stopped");

	for (i = 0; i < 2; i++) {
		memset(&ch, 0x5a, sizeof(ch));
		assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, roles[i]), 2);
		assert_int_equal(ch.chosen, 2);
		assert_string_equal(ch.role, "Replica");
		assert_false(ch.fell_back);
		assert_null(ch.reason);
		assert_string_equal(ch.message, "");
	}
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_PRIMARY), 0);
	assert_string_equal(ch.role, "Primary");
	assert_false(ch.fell_back);
	assert_null(ch.reason);
	world_free(w);
}

static void test_choose_ties(void **state)
{
	world *w = world_new();
	app_backup_plan_choice ch;

	(void)state;
	/* equal lag: the lowest ordinal, whatever the order given */
	add_verdict(w, "mariadb-3", 3, APP_DB_HEALTHY_REPLICA, 0, "");
	add_verdict(w, "mariadb-1", 1, APP_DB_HEALTHY_REPLICA, 0, "");
	add_verdict(w, "b", -1, APP_DB_HEALTHY_REPLICA, 0, "");
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_REPLICA), 1);
	world_free(w);

	/* no ordinals: the name; an ordinal beats none */
	w = world_new();
	add_verdict(w, "b", -1, APP_DB_HEALTHY_REPLICA, 2, "");
	add_verdict(w, "a", -1, APP_DB_HEALTHY_REPLICA, 2, "");
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_REPLICA), 1);
	add_verdict(w, "z-9", 9, APP_DB_HEALTHY_REPLICA, 2, "");
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_REPLICA), 2);
	/* less lag beats a lower ordinal */
	add_verdict(w, "zz", -1, APP_DB_HEALTHY_REPLICA, 1, "");
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_REPLICA), 3);
	/* an unknown lag ranks last */
	w->p[3].verdict.lag_seconds = -1;
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_REPLICA), 2);
	world_free(w);

	/* several primaries (a split brain): the lowest ordinal */
	w = world_new();
	add_verdict(w, "mariadb-2", 2, APP_DB_PRIMARY, -1, "");
	add_verdict(w, "mariadb-1", 1, APP_DB_PRIMARY, -1, "");
	add_verdict(w, "other", -1, APP_DB_PRIMARY, -1, "");
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_PRIMARY), 1);
	world_free(w);
}

/* Issue 15, point 9: of equally healthy replicas the one used longest ago
 * is taken (never used first, one in a session now last), so sessions
 * spread; health still comes first, and the same inputs give the same
 * choice in any order. */
static void test_choose_spreads_over_equally_healthy_replicas(void **state)
{
	world *w = world_new();
	app_backup_plan_choice ch;
	size_t r1, r2;

	(void)state;
	add_verdict(w, "mariadb-0", 0, APP_DB_PRIMARY, -1, "");
	r1 = add_verdict(w, "mariadb-1", 1, APP_DB_HEALTHY_REPLICA, 0, "");
	r2 = add_verdict(w, "mariadb-2", 2, APP_DB_HEALTHY_REPLICA, 0, "");
	/* neither used yet: the order of the pods */
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_REPLICA),
			 (int)r1);
	/* mariadb-1 used: mariadb-2, never used, is next */
	w->p[r1].last_used = 100;
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_REPLICA),
			 (int)r2);
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_PREFER_REPLICA),
			 (int)r2);
	/* then back to mariadb-1, used longer ago */
	w->p[r2].last_used = 200;
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_REPLICA),
			 (int)r1);
	/* one in a session now goes last */
	w->p[r1].last_used = INT64_MAX;
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_REPLICA),
			 (int)r2);
	/* both in sessions: the order of the pods */
	w->p[r2].last_used = INT64_MAX;
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_REPLICA),
			 (int)r1);
	/* lag 1 is as healthy as lag 0 ... */
	w->p[r1].last_used = 300;
	w->p[r2].last_used = 100;
	w->p[r2].verdict.lag_seconds = APP_BACKUP_PLAN_LAG_SAME_SECONDS;
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_REPLICA),
			 (int)r2);
	/* ... more is not: health first, however recently the other was used */
	w->p[r2].verdict.lag_seconds = APP_BACKUP_PLAN_LAG_SAME_SECONDS + 1;
	w->p[r2].last_used = 0;
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_REPLICA),
			 (int)r1);
	w->p[r1].last_used = INT64_MAX;
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_REPLICA),
			 (int)r1);
	/* an unknown lag ranks last, never used or not */
	w->p[r1].verdict.lag_seconds = -1;
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_REPLICA),
			 (int)r2);
	/* the primary is chosen by ordinal, not by use */
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_PRIMARY), 0);
	world_free(w);

	/* the same inputs in another order: the same replica */
	w = world_new();
	r2 = add_verdict(w, "mariadb-2", 2, APP_DB_HEALTHY_REPLICA, 1, "");
	r1 = add_verdict(w, "mariadb-1", 1, APP_DB_HEALTHY_REPLICA, 0, "");
	add_verdict(w, "mariadb-0", 0, APP_DB_PRIMARY, -1, "");
	w->p[r1].last_used = 100;
	w->p[r2].last_used = 100;
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_REPLICA),
			 (int)r1);
	w->p[r1].last_used = 101;
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_REPLICA),
			 (int)r2);
	world_free(w);
}

/* Which busy servers a Backup waits for besides its choice: replicas it
 * would take instead, were they free. */
static void test_equally_good(void **state)
{
	world *w = world_new();
	size_t p, r1, r2, r3, r4, r5, r6;

	(void)state;
	p = add_verdict(w, "mariadb-0", 0, APP_DB_PRIMARY, -1, "");
	r1 = add_verdict(w, "mariadb-1", 1, APP_DB_HEALTHY_REPLICA, 0, "");
	r2 = add_verdict(w, "mariadb-2", 2, APP_DB_HEALTHY_REPLICA, 1, "");
	r3 = add_verdict(w, "mariadb-3", 3, APP_DB_HEALTHY_REPLICA, 5, "");
	r4 = add(w, "mariadb-4", 4, false);
	r5 = add_failure(w, "mariadb-5", 5, SS_ETRANSPORT, "refused");
	r6 = add_verdict(w, "mariadb-6", 6, APP_DB_PRIMARY, -1, "");
	assert_true(app_backup_plan_equally_good(w->c, w->p, (int)r1, (int)r2));
	assert_true(app_backup_plan_equally_good(w->c, w->p, (int)r2, (int)r1));
	assert_false(app_backup_plan_equally_good(w->c, w->p, (int)r1, (int)r3));
	assert_false(app_backup_plan_equally_good(w->c, w->p, (int)r3, (int)r1));
	assert_false(app_backup_plan_equally_good(w->c, w->p, (int)r1, (int)r4));
	assert_false(app_backup_plan_equally_good(w->c, w->p, (int)r1, (int)r5));
	assert_false(app_backup_plan_equally_good(w->c, w->p, (int)r1, (int)r1));
	assert_false(app_backup_plan_equally_good(w->c, w->p, (int)r1, (int)p));
	/* two primaries: the lowest ordinal is taken, free or not */
	assert_false(app_backup_plan_equally_good(w->c, w->p, (int)p, (int)r6));
	assert_false(app_backup_plan_equally_good(w->c, w->p, -1, (int)r1));
	assert_false(app_backup_plan_equally_good(w->c, w->p, (int)r1, 99));
	world_free(w);
}

/* Issue 15, point 12: ReplicationResumed says "interrupted" only when the
 * status shows an interrupted session. */
static void test_paused_why(void **state)
{
	app_backup_status st;

	(void)state;
	app_backup_status_init(&st);
	st.lock.replication_paused = true;
	st.has_phase = true;
	st.phase = APP_BACKUP_LOCKED;
	assert_contains(app_backup_plan_paused_why(&st), "interrupted");
	/* the session took the lock and ended; START failed or END was not
	 * answered */
	st.phase = APP_BACKUP_FAILED;
	st.lock.acquired_ns = 1;
	assert_null(strstr(app_backup_plan_paused_why(&st), "interrupted"));
	assert_contains(app_backup_plan_paused_why(&st), "ended without starting them");
	st.phase = APP_BACKUP_UPLOADING;
	assert_null(strstr(app_backup_plan_paused_why(&st), "interrupted"));
	/* it stopped before the lock (the lock failed, START failed too) */
	st.phase = APP_BACKUP_FAILED;
	st.lock.acquired_ns = 0;
	assert_null(strstr(app_backup_plan_paused_why(&st), "interrupted"));
	assert_contains(app_backup_plan_paused_why(&st), "before it took the lock");
	st.has_phase = false;
	assert_contains(app_backup_plan_paused_why(&st), "before it took the lock");
}

/* Issue 15, point 12: a session that did not see every cut names the
 * cause it knows, and blames the storage only when it knows none. */
static void test_lock_timeout_words(void **state)
{
	app_backup_plan_timeout_in in = { "ns", 2, 1, NULL, NULL, 0, 3, 3012 };
	char msg[APP_BACKUP_PLAN_MESSAGE_MAX];

	(void)state;
	assert_string_equal(app_backup_plan_lock_timeout(msg, sizeof(msg), &in),
			    "LockTimeout");
	assert_string_equal(msg, "the storage did not cut 1 of 2 snapshot(s) within "
				 "lock.timeoutSeconds (3 s); the stages were ended after "
				 "3012 ms and the uncut snapshots deleted");
	/* the controller stalled: not the storage */
	in.stall_ms = APP_BACKUP_PLAN_STALL_MS;
	assert_string_equal(app_backup_plan_lock_timeout(msg, sizeof(msg), &in),
			    "LockTimeout");
	assert_contains(msg, "the controller did not run for 1000 ms while it held the "
			     "lock");
	assert_null(strstr(msg, "storage"));
	in.stall_ms = APP_BACKUP_PLAN_STALL_MS - 1;
	app_backup_plan_lock_timeout(msg, sizeof(msg), &in);
	assert_contains(msg, "the storage did not cut");
	/* the API server ran out the budget */
	in.api_error = "POST volumesnapshots: timed out";
	in.stall_ms = 5000;
	assert_string_equal(app_backup_plan_lock_timeout(msg, sizeof(msg), &in),
			    "LockTimeout");
	assert_contains(msg, "the API server did not answer in time (POST "
			     "volumesnapshots: timed out)");
	assert_null(strstr(msg, "storage"));
	/* a snapshot deleted under the lock: SnapshotLost, whatever else */
	in.deleted = "b-data-1, b-binlog-1";
	assert_string_equal(app_backup_plan_lock_timeout(msg, sizeof(msg), &in),
			    "SnapshotLost");
	assert_string_equal(msg, "VolumeSnapshot(s) b-data-1, b-binlog-1 of ns were "
				 "deleted while the lock was held; the stages were ended "
				 "after 3012 ms and the Backup's other snapshots deleted");
	in.deleted = "";
	assert_string_equal(app_backup_plan_lock_timeout(msg, sizeof(msg), &in),
			    "LockTimeout");
	/* bounded */
	app_backup_plan_lock_timeout(msg, 16, &in);
	assert_int_equal(strlen(msg), 15);
}

/* A session that ran out its budget creating its snapshots (a slow API
 * server: the POST never reached it) finds them absent afterwards: that is
 * no snapshot deleted under the lock, since none was known to exist, and
 * the Backup fails LockTimeout naming the API server, not SnapshotLost.
 * Absent counts as lost only after our create returned or the cache
 * showed it; being deleted always does. */
static void test_session_vs_lost(void **state)
{
	static const struct {
		bool created, seen;
		app_backup_plan_vs_presence now;
		bool lost;
	} cases[] = {
		/* the create timed out (or was never sent): not known to exist */
		{ false, false, APP_BACKUP_PLAN_VS_ABSENT, false },
		{ false, false, APP_BACKUP_PLAN_VS_PRESENT, false },
		{ false, false, APP_BACKUP_PLAN_VS_UNKNOWN, false },
		/* a delayed create landed, and someone deletes it */
		{ false, false, APP_BACKUP_PLAN_VS_DELETING, true },
		/* our create returned: gone now means deleted */
		{ true, false, APP_BACKUP_PLAN_VS_ABSENT, true },
		{ true, false, APP_BACKUP_PLAN_VS_DELETING, true },
		{ true, false, APP_BACKUP_PLAN_VS_PRESENT, false },
		{ true, false, APP_BACKUP_PLAN_VS_UNKNOWN, false },
		/* the cache showed it (a create whose answer was lost) */
		{ false, true, APP_BACKUP_PLAN_VS_ABSENT, true },
		{ true, true, APP_BACKUP_PLAN_VS_ABSENT, true },
		{ true, true, APP_BACKUP_PLAN_VS_PRESENT, false },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		app_backup_plan_session_vs vs = { cases[i].created, cases[i].seen,
						  cases[i].now };

		if (app_backup_plan_session_vs_lost(&vs) != cases[i].lost)
			fail_msg("case %zu (created %d, seen %d, now %d): lost %d, want "
				 "%d",
				 i, cases[i].created, cases[i].seen, (int)cases[i].now,
				 !cases[i].lost, cases[i].lost);
	}
}

static void test_choose_fallback_to_primary(void **state)
{
	world *w = world_new();
	app_backup_plan_choice ch;

	(void)state;
	add_verdict(w, "mariadb-0", 0, APP_DB_PRIMARY, -1,
		    "writable and replicates from no one");
	add_verdict(w, "mariadb-1", 1, APP_DB_UNHEALTHY_REPLICA, 412,
		    "lag 412 s > maxReplicationLagSeconds 300");
	add(w, "mariadb-2", 2, false);
	add_failure(w, "mariadb-3", 3, SS_ETRANSPORT,
		    "10.0.0.9:3306: connection refused");
	add_verdict(w, "mariadb-4", 4, APP_DB_UNKNOWN, -1,
		    "read_only is set but the server replicates from no one");

	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_PREFER_REPLICA),
			 0);
	assert_string_equal(ch.role, "Primary");
	assert_true(ch.fell_back);
	assert_null(ch.reason);
	assert_string_equal(
		ch.message,
		"no replica qualified, so the primary mariadb-0 is locked: "
		"mariadb-1: unhealthy replica: lag 412 s > maxReplicationLagSeconds 300; "
		"mariadb-2: not ready (not Ready); "
		"mariadb-3: 10.0.0.9:3306: connection refused; "
		"mariadb-4: neither primary nor replica: read_only is set but the server "
		"replicates from no one");

	/* role Replica does not fall back */
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_REPLICA), -1);
	assert_null(ch.role);
	assert_false(ch.fell_back);
	assert_string_equal(ch.reason, "NoHealthyReplica");
	assert_contains(ch.message, "no healthy replica within maxReplicationLagSeconds");
	assert_contains(ch.message,
			"mariadb-0: primary: writable and replicates from no one");
	assert_contains(ch.message, "mariadb-1: unhealthy replica: lag 412 s");
	assert_contains(ch.message, "mariadb-2: not ready (not Ready)");
	assert_contains(ch.message, "mariadb-3: 10.0.0.9:3306: connection refused");
	world_free(w);

	/* a lone primary */
	w = world_new();
	add_verdict(w, "solo", -1, APP_DB_PRIMARY, -1, "writable");
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_PREFER_REPLICA),
			 0);
	assert_true(ch.fell_back);
	assert_string_equal(ch.message, "no replica qualified, so the primary solo is "
					"locked: the target has no other pod");
	world_free(w);
}

static void test_choose_no_primary(void **state)
{
	world *w = world_new();
	app_backup_plan_choice ch;

	(void)state;
	add(w, "mariadb-0", 0, false); /* the primary, restarting */
	add_verdict(w, "mariadb-1", 1, APP_DB_HEALTHY_REPLICA, 0, "lag 0 s");
	add_verdict(w, "mariadb-2", 2, APP_DB_UNKNOWN, -1, "read_only");

	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_PRIMARY), -1);
	assert_string_equal(ch.reason, "NoPrimary");
	assert_contains(ch.message, "no ready writable primary (role Primary): "
				    "mariadb-0: not ready (not Ready); "
				    "mariadb-1: healthy replica: lag 0 s; "
				    "mariadb-2: neither primary nor replica: read_only");

	/* PreferReplica with neither */
	w->p[1].verdict.kind = APP_DB_UNHEALTHY_REPLICA;
	snprintf(w->p[1].verdict.reason, sizeof(w->p[1].verdict.reason),
		 "IO thread stopped");
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_PREFER_REPLICA),
			 -1);
	assert_string_equal(ch.reason, "NoPrimary");
	assert_false(ch.fell_back);
	assert_contains(ch.message, "no replica qualified and there is no ready writable "
				    "primary");
	assert_contains(ch.message, "mariadb-1: unhealthy replica: IO thread stopped");
	world_free(w);
}

/* The chaos soak (seed 5005): a controller killed while two lock sessions
 * had stopped the SQL threads of both replicas; its successor, knowing of
 * no session, saw two unhealthy replicas and failed the third Backup
 * NoHealthyReplica for good. A replica whose SQL threads another Backup's
 * status says it stopped is busy: the Backup waits for it. */
static void test_choose_waits_for_a_replica_another_backup_paused(void **state)
{
	static const char stopped[] =
		"replication from 10.0.0.5:3306: SQL thread not running "
		"(Slave_SQL_Running=No)";
	world *w = world_new();
	app_backup_plan_choice ch;
	size_t r1, r2;

	(void)state;
	add_verdict(w, "mariadb-0", 0, APP_DB_PRIMARY, -1, "writable");
	r1 = add_verdict(w, "mariadb-1", 1, APP_DB_UNHEALTHY_REPLICA, -1, stopped);
	r2 = add_verdict(w, "mariadb-2", 2, APP_DB_UNHEALTHY_REPLICA, -1, stopped);

	/* no Backup claims the pause: genuinely unhealthy, as before */
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_REPLICA), -1);
	assert_string_equal(ch.reason, "NoHealthyReplica");
	assert_int_equal(ch.waits_for, -1);
	assert_contains(ch.message, "mariadb-1: unhealthy replica: replication from");
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_PREFER_REPLICA),
			 0);
	assert_true(ch.fell_back);
	assert_int_equal(ch.waits_for, -1);

	/* mariadb-2 is another Backup's, mariadb-1 stopped for no Backup */
	w->p[r2].paused_by = "backup-b";
	assert_false(app_backup_plan_held(&w->c->c[r1], &w->p[r1]));
	assert_true(app_backup_plan_held(&w->c->c[r2], &w->p[r2]));
	memset(&ch, 0x5a, sizeof(ch));
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_REPLICA), -1);
	assert_int_equal(ch.waits_for, (int)r2);
	assert_null(ch.reason);
	assert_null(ch.role);
	assert_false(ch.fell_back);
	assert_contains(ch.message, "mariadb-2");
	assert_contains(ch.message, "backup-b");
	/* PreferReplica waits for it too rather than lock the primary, as it
	 * does for a replica in a session of this process */
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_PREFER_REPLICA),
			 -1);
	assert_int_equal(ch.waits_for, (int)r2);
	assert_null(ch.reason);
	assert_false(ch.fell_back);
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_PRIMARY), 0);
	assert_int_equal(ch.waits_for, -1);

	/* both claimed: the lowest ordinal */
	w->p[r1].paused_by = "backup-a";
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_REPLICA), -1);
	assert_int_equal(ch.waits_for, (int)r1);
	assert_contains(ch.message, "backup-a");

	/* a free healthy replica is taken rather than waited for */
	w->p[r2].verdict.kind = APP_DB_HEALTHY_REPLICA;
	w->p[r2].verdict.lag_seconds = 40;
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_REPLICA),
			 (int)r2);
	assert_int_equal(ch.waits_for, -1);
	world_free(w);
}

/* A claim counts only for a replica the probe saw stopped: not one whose
 * probe failed or that is not ready. */
static void test_choose_pause_claim_needs_a_probed_ready_replica(void **state)
{
	world *w = world_new();
	app_backup_plan_choice ch;
	size_t a, b, c;

	(void)state;
	a = add_failure(w, "mariadb-1", 1, SS_ETRANSPORT, "connection refused");
	b = add(w, "mariadb-2", 2, false);
	c = add_verdict(w, "mariadb-3", 3, APP_DB_UNHEALTHY_REPLICA, 500, "lag 500 s");
	w->p[a].paused_by = "backup-a";
	w->p[b].paused_by = "backup-b";
	w->p[b].verdict.kind = APP_DB_UNHEALTHY_REPLICA;
	assert_false(app_backup_plan_held(&w->c->c[a], &w->p[a]));
	assert_false(app_backup_plan_held(&w->c->c[b], &w->p[b]));
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_REPLICA), -1);
	assert_string_equal(ch.reason, "NoHealthyReplica");
	assert_int_equal(ch.waits_for, -1);
	w->p[c].paused_by = "backup-c";
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_REPLICA), -1);
	assert_int_equal(ch.waits_for, (int)c);
	world_free(w);
}

static void test_pause_claim(void **state)
{
	static const char text[] =
		"["
		"{\"metadata\":{\"namespace\":\"other\",\"name\":\"x\"},"
		" \"status\":{\"sourcePod\":\"mariadb-1\",\"lock\":{\"replicationPaused\":true}}},"
		"{\"metadata\":{\"namespace\":\"db\",\"name\":\"done\"},"
		" \"status\":{\"phase\":\"Uploading\",\"sourcePod\":\"mariadb-1\","
		"  \"lock\":{\"replicationPaused\":false}}},"
		"{\"metadata\":{\"namespace\":\"db\",\"name\":\"self\"},"
		" \"status\":{\"sourcePod\":\"mariadb-1\",\"lock\":{\"replicationPaused\":true}}},"
		"{\"metadata\":{\"namespace\":\"db\",\"name\":\"failed-paused\"},"
		" \"status\":{\"phase\":\"Failed\",\"sourcePod\":\"mariadb-1\","
		"  \"lock\":{\"replicationPaused\":true}}},"
		"{\"metadata\":{\"namespace\":\"db\",\"name\":\"locked\"},"
		" \"status\":{\"phase\":\"Locked\",\"sourcePod\":\"mariadb-2\"}},"
		"{\"metadata\":{\"namespace\":\"db\",\"name\":\"no-pod\"},"
		" \"status\":{\"phase\":\"Locked\",\"lock\":{\"replicationPaused\":true}}}"
		"]";
	json_t *list = json_loads(text, 0, NULL);

	(void)state;
	assert_non_null(list);
	assert_string_equal(app_backup_plan_pause_claim(list, "db", "self", "mariadb-1"),
			    "failed-paused");
	assert_string_equal(app_backup_plan_pause_claim(list, "db", NULL, "mariadb-1"),
			    "self");
	assert_string_equal(app_backup_plan_pause_claim(list, "db", "self", "mariadb-2"),
			    "locked");
	assert_null(app_backup_plan_pause_claim(list, "db", "self", "mariadb-0"));
	assert_string_equal(
		app_backup_plan_pause_claim(list, "other", "self", "mariadb-1"), "x");
	assert_null(app_backup_plan_pause_claim(list, "other", "x", "mariadb-1"));
	assert_null(app_backup_plan_pause_claim(NULL, "db", "self", "mariadb-1"));
	json_decref(list);
}

static void test_choose_when_every_probe_failed(void **state)
{
	static const struct {
		int rc[3];
		const char *reason;
		const char *head;
	} cases[] = {
		{ { SS_EUNAUTHORIZED, SS_EUNAUTHORIZED, SS_EUNAUTHORIZED },
		  "AuthenticationFailed",
		  "no server accepted the credentials" },
		/* the unreachable one could not have answered otherwise */
		{ { SS_EUNAUTHORIZED, SS_ETIMEOUT, SS_ETRANSPORT },
		  "AuthenticationFailed",
		  "no server accepted the credentials" },
		{ { SS_EUNAUTHORIZED, SS_EFORBIDDEN, SS_ETRANSPORT },
		  "PrivilegeMissing",
		  "the account lacks a privilege" },
		{ { SS_ETRANSPORT, SS_ETRANSPORT, SS_EFORBIDDEN },
		  "PrivilegeMissing",
		  "the account lacks a privilege" },
		{ { SS_ETRANSPORT, SS_ETIMEOUT, SS_ETRANSPORT },
		  "DatabaseUnreachable",
		  "no server could be probed" },
		/* an answer that is not about the credentials */
		{ { SS_EUNAUTHORIZED, SS_ETOOMANYREQUESTS, SS_EUNAUTHORIZED },
		  "DatabaseUnreachable",
		  "no server could be probed" },
		{ { SS_EUNSUPPORTED, SS_EUNSUPPORTED, SS_EUNSUPPORTED },
		  "DatabaseUnreachable",
		  "no server could be probed" },
	};
	static const app_role roles[] = { APP_ROLE_PREFER_REPLICA, APP_ROLE_REPLICA,
					  APP_ROLE_PRIMARY };
	size_t i, r;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (r = 0; r < 3; r++) {
			world *w = world_new();
			app_backup_plan_choice ch;

			add_failure(w, "mariadb-0", 0, cases[i].rc[0], "error zero");
			add_failure(w, "mariadb-1", 1, cases[i].rc[1], "error one");
			add(w, "mariadb-3", 3, false); /* not ready: not counted */
			add_failure(w, "mariadb-2", 2, cases[i].rc[2], "");
			assert_int_equal(
				app_backup_plan_choose(&ch, w->c, w->p, roles[r]), -1);
			if (strcmp(ch.reason, cases[i].reason) != 0)
				fail_msg("case %zu role %zu: reason %s, want %s", i, r,
					 ch.reason, cases[i].reason);
			assert_contains(ch.message, cases[i].head);
			assert_contains(ch.message, "mariadb-0: error zero");
			assert_contains(ch.message, "mariadb-1: error one");
			assert_contains(ch.message, "mariadb-3: not ready");
			/* no message: the code's name stands in */
			assert_contains(ch.message, "mariadb-2: ");
			world_free(w);
		}
	}
}

static void test_choose_partial_failures_keep_the_role_reason(void **state)
{
	world *w = world_new();
	app_backup_plan_choice ch;

	(void)state;
	add_failure(w, "mariadb-0", 0, SS_EUNAUTHORIZED, "access denied");
	add_verdict(w, "mariadb-1", 1, APP_DB_UNHEALTHY_REPLICA, 900, "lag 900 s");
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_REPLICA), -1);
	assert_string_equal(ch.reason, "NoHealthyReplica");
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_PREFER_REPLICA),
			 -1);
	assert_string_equal(ch.reason, "NoPrimary");
	world_free(w);

	/* nobody ready: nobody was probed, so nothing failed */
	w = world_new();
	add(w, "mariadb-0", 0, false);
	add(w, "mariadb-1", 1, false);
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_REPLICA), -1);
	assert_string_equal(ch.reason, "NoHealthyReplica");
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_PRIMARY), -1);
	assert_string_equal(ch.reason, "NoPrimary");
	assert_contains(ch.message, "mariadb-1: not ready (not Ready)");
	world_free(w);

	/* no candidates at all */
	w = world_new();
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_PREFER_REPLICA),
			 -1);
	assert_string_equal(ch.reason, "NoPrimary");
	assert_contains(ch.message, "the target has no pods");
	world_free(w);
}

static void test_choose_message_is_bounded(void **state)
{
	world *w = world_new();
	app_backup_plan_choice ch;
	char error[600];
	size_t i;

	(void)state;
	memset(error, 'e', sizeof(error) - 1);
	error[sizeof(error) - 1] = '\0';
	for (i = 0; i < APP_TARGET_MAX_CANDIDATES; i++)
		add_failure(w, "mariadb", (int)i, SS_ETRANSPORT, error);
	assert_int_equal(app_backup_plan_choose(&ch, w->c, w->p, APP_ROLE_REPLICA), -1);
	assert_string_equal(ch.reason, "DatabaseUnreachable");
	assert_int_equal(strlen(ch.message), APP_BACKUP_PLAN_MESSAGE_MAX - 1);
	assert_string_equal(ch.message + APP_BACKUP_PLAN_MESSAGE_MAX - 4, "...");
	world_free(w);
}

/* ---- a VolumeSnapshot's status ------------------------------------------- */

#define CUT_NS 1795402801123456789LL /* 2026-11-23T03:00:01.123456789Z */

/* The last snapshot read_vs() read: the state borrows its error text, so
 * it lives until the next read_vs() or read_vs_done(). */
static json_t *held_vs;

static void read_vs_done(void)
{
	json_decref(held_vs);
	held_vs = NULL;
}

static int read_vs(app_vs_state *st, const char *status)
{
	read_vs_done();
	held_vs = tu_json("{\"apiVersion\":\"snapshot.storage.k8s.io/v1\","
			  "\"kind\":\"VolumeSnapshot\",\"metadata\":{\"name\":\"vs\"}}");
	if (status != NULL)
		json_object_set_new(held_vs, "status", tu_json(status));
	return app_vs_state_read(st, held_vs);
}

static void assert_unset(const app_vs_state *st)
{
	assert_false(st->bound);
	assert_int_equal(st->creation_time_ns, 0);
	assert_false(st->ready_to_use);
	assert_int_equal(st->restore_size_bytes, -1);
	assert_null(st->error);
	assert_false(app_backup_plan_vs_is_cut(st));
}

static void test_vs_state_full(void **state)
{
	app_vs_state st;
	json_t *vs;

	(void)state;
	vs = tu_json("{\"metadata\":{\"name\":\"vs\"},\"status\":{"
		     "\"boundVolumeSnapshotContentName\":\"snapcontent-1\","
		     "\"creationTime\":\"2026-11-23T03:00:01.123456789Z\","
		     "\"readyToUse\":true,\"restoreSize\":\"1Gi\"}}");
	assert_int_equal(app_vs_state_read(&st, vs), 0);
	assert_true(st.bound);
	assert_int_equal(st.creation_time_ns, CUT_NS);
	assert_true(st.ready_to_use);
	assert_int_equal(st.restore_size_bytes, 1073741824LL);
	assert_null(st.error);
	assert_true(app_backup_plan_vs_is_cut(&st));
	json_decref(vs);

	/* a number for restoreSize, an offset time, an error with its message */
	assert_int_equal(read_vs(&st, "{\"creationTime\":\"2026-11-23T04:00:01+01:00\","
				      "\"readyToUse\":false,\"restoreSize\":5368709120,"
				      "\"error\":{\"time\":\"2026-11-23T03:00:02Z\","
				      "\"message\":\"driver: quota exceeded\"}}"),
			 0);
	assert_false(st.bound);
	assert_int_equal(st.creation_time_ns, 1795402801000000000LL);
	assert_int_equal(st.restore_size_bytes, 5368709120LL);
	assert_string_equal(st.error, "driver: quota exceeded");
	read_vs_done();
}

static void test_vs_state_partial(void **state)
{
	app_vs_state st;

	(void)state;
	/* cut, not yet uploaded */
	assert_int_equal(read_vs(&st, "{\"boundVolumeSnapshotContentName\":\"c\","
				      "\"creationTime\":\"2026-11-23T03:00:01Z\","
				      "\"readyToUse\":false}"),
			 0);
	assert_true(st.bound);
	assert_int_equal(st.creation_time_ns, 1795402801000000000LL);
	assert_false(st.ready_to_use);
	assert_int_equal(st.restore_size_bytes, -1);
	assert_true(app_backup_plan_vs_is_cut(&st));

	/* a driver that never sets creationTime */
	assert_int_equal(read_vs(&st, "{\"readyToUse\":true}"), 0);
	assert_int_equal(st.creation_time_ns, 0);
	assert_true(app_backup_plan_vs_is_cut(&st));

	/* bound only: not cut */
	assert_int_equal(read_vs(&st, "{\"boundVolumeSnapshotContentName\":\"c\"}"), 0);
	assert_true(st.bound);
	assert_false(app_backup_plan_vs_is_cut(&st));

	/* an error without a message is still an error */
	assert_int_equal(read_vs(&st, "{\"error\":{\"time\":\"2026-11-23T03:00:02Z\"}}"),
			 0);
	assert_non_null(st.error);
	assert_contains(st.error, "without a message");
	read_vs_done();
}

static void test_vs_state_empty(void **state)
{
	app_vs_state st;

	(void)state;
	memset(&st, 0x5a, sizeof(st));
	assert_int_equal(app_vs_state_read(&st, NULL), 0);
	assert_unset(&st);
	memset(&st, 0x5a, sizeof(st));
	assert_int_equal(read_vs(&st, NULL), 0);
	assert_unset(&st);
	memset(&st, 0x5a, sizeof(st));
	assert_int_equal(read_vs(&st, "{}"), 0);
	assert_unset(&st);
	memset(&st, 0x5a, sizeof(st));
	assert_int_equal(read_vs(&st, "null"), 0);
	assert_unset(&st);
	/* explicit nulls and an empty content name */
	memset(&st, 0x5a, sizeof(st));
	assert_int_equal(read_vs(&st, "{\"boundVolumeSnapshotContentName\":\"\","
				      "\"creationTime\":null,\"readyToUse\":null,"
				      "\"restoreSize\":null,\"error\":null}"),
			 0);
	assert_unset(&st);
	read_vs_done();
}

static void test_vs_state_bad(void **state)
{
	static const struct {
		const char *status;
		int rc;
		const char *fragment;
	} cases[] = {
		{ "{\"creationTime\":\"yesterday\"}", SS_EINVALID,
		  "VolumeSnapshot vs: status.creationTime: " },
		{ "{\"creationTime\":1795402801}", SS_EINVALID,
		  "VolumeSnapshot vs: status.creationTime is not a string" },
		{ "{\"creationTime\":\"1970-01-01T00:00:00Z\"}", SS_EINVALID,
		  "is not after 1970" },
		{ "{\"restoreSize\":\"lots\"}", SS_EINVALID,
		  "VolumeSnapshot vs: status.restoreSize: " },
		{ "{\"restoreSize\":-1}", SS_EINVALID,
		  "status.restoreSize: quantity -1 is "
		  "negative" },
		{ "{\"restoreSize\":true}", SS_EINVALID, "status.restoreSize" },
		{ "{\"readyToUse\":\"true\"}", SS_EINVALID,
		  "status.readyToUse is not a boolean" },
		{ "\"Ready\"", SS_EINVALID, "status is not an object" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		app_vs_state st;

		memset(&st, 0x5a, sizeof(st));
		st.restore_size_bytes = 42;
		assert_int_equal(read_vs(&st, cases[i].status), cases[i].rc);
		tu_assert_error(cases[i].rc, cases[i].fragment);
		assert_int_equal(st.restore_size_bytes, 42); /* untouched */
	}
	read_vs_done();
}

/* ---- the VolumeSnapshot ---------------------------------------------------- */

/* spec.snapshot with keys in snapstage's prefix, which the decoder refuses
 * (test_api.c): backup_forged() puts them into a decoded spec, to show the
 * plan never lets one pose as snapstage's own should it get that far. */
static const char *const full_snapshot_opts =
	"{\"volumeSnapshotClassName\":\"csi-snap\","
	"\"labels\":{\"team\":\"dba\",\"app.kubernetes.io/instance\":\"prod\","
	"\"kustomize.toolkit.fluxcd.io/name\":\"db\",\"snapstage.io/pod\":\"fake\","
	"\"snapstage.io/schedule\":\"spoof\",\"snapstage.io/other\":\"x\"},"
	"\"annotations\":{\"note\":\"hi\",\"snapstage.io/gtid-binlog-pos\":\"0-1-999\","
	"\"snapstage.io/gtid-slave-pos\":\"0-1-998\","
	"\"snapstage.io/backup-name\":\"spoof\"}}";

/* backup_new() without spec.snapshot, then spec->snapshot read from
 * `snapshot` (kept in the Backup object) without the decoder's checks. */
static json_t *backup_forged(app_backup_spec *spec, const char *target,
			     const char *snapshot)
{
	json_t *b = backup_new(spec, target, NULL);
	json_t *forged = tu_json(snapshot);

	json_object_set_new(b, "forged", forged);
	spec->snapshot.class_name =
		json_string_value(json_object_get(forged, "volumeSnapshotClassName"));
	spec->snapshot.labels = json_object_get(forged, "labels");
	spec->snapshot.annotations = json_object_get(forged, "annotations");
	return b;
}

static void test_snapshot_object_full(void **state)
{
	app_backup_spec spec;
	json_t *b = backup_forged(&spec, sts_target, full_snapshot_opts);
	char want_name[APP_NAME_BUF];
	app_db_position pos = { .gtid_binlog_pos = "0-1-42",
				.gtid_slave_pos = "0-1-41",
				.gtid_current_pos = "0-1-42",
				.binlog_file = "mysql-bin.000003",
				.binlog_position = 1234,
				.primary_binlog_file = "mysql-bin.000007",
				.primary_binlog_position = 5678 };
	app_backup_plan_snapshot_in in = { .backup = b,
					   .spec = &spec,
					   .volume = "data",
					   .claim = "data-mariadb-1",
					   .pod = "mariadb-1",
					   .source_role = "Replica",
					   .position = &pos };
	json_t *vs = NULL, *labels, *ann, *refs, *ref;
	const char *s;
	const json_t *v;

	(void)state;
	tu_json_set(b, "metadata.labels",
		    tu_json("{\"snapstage.io/schedule\":\"nightly\",\"owner\":\"me\"}"));
	assert_int_equal(app_backup_plan_snapshot_object(&vs, &in), 0);
	assert_non_null(vs);

	assert_string_equal(get_str(vs, "apiVersion", NULL, NULL),
			    "snapshot.storage.k8s.io/v1");
	assert_string_equal(get_str(vs, "kind", NULL, NULL), "VolumeSnapshot");
	/* no name given: attempt 1's */
	assert_int_equal(app_name_backup_snapshot(want_name, "adhoc", "data", 1), 0);
	assert_string_equal(get_str(vs, "metadata", "name", NULL), want_name);
	assert_string_equal(get_str(vs, "metadata", "namespace", NULL), "db");

	labels = json_object_get(json_object_get(vs, "metadata"), "labels");
	assert_string_equal(get_str(labels, "snapstage.io/backup", NULL, NULL), "adhoc");
	/* from the Backup's own label, not the spoof in spec.snapshot.labels */
	assert_string_equal(get_str(labels, "snapstage.io/schedule", NULL, NULL),
			    "nightly");
	assert_string_equal(get_str(labels, "snapstage.io/pod", NULL, NULL), "mariadb-1");
	assert_string_equal(get_str(labels, "snapstage.io/claim", NULL, NULL),
			    "data-mariadb-1");
	assert_string_equal(get_str(labels, "snapstage.io/volume", NULL, NULL), "data");
	assert_string_equal(get_str(labels, "team", NULL, NULL), "dba");
	/* GitOps tracking labels and the Backup's other labels stay behind */
	assert_null(json_object_get(labels, "app.kubernetes.io/instance"));
	assert_null(json_object_get(labels, "kustomize.toolkit.fluxcd.io/name"));
	assert_null(json_object_get(labels, "owner"));
	assert_null(json_object_get(labels, "snapstage.io/other"));
	assert_int_equal(json_object_size(labels), 6);

	ann = json_object_get(json_object_get(vs, "metadata"), "annotations");
	assert_string_equal(get_str(ann, "snapstage.io/gtid-binlog-pos", NULL, NULL),
			    "0-1-42");
	assert_string_equal(get_str(ann, "snapstage.io/gtid-slave-pos", NULL, NULL),
			    "0-1-41");
	assert_string_equal(get_str(ann, "snapstage.io/gtid-current-pos", NULL, NULL),
			    "0-1-42");
	assert_string_equal(get_str(ann, "snapstage.io/binlog-file", NULL, NULL),
			    "mysql-bin.000003");
	assert_string_equal(get_str(ann, "snapstage.io/binlog-position", NULL, NULL),
			    "1234");
	assert_string_equal(get_str(ann, "snapstage.io/primary-binlog-file", NULL, NULL),
			    "mysql-bin.000007");
	assert_string_equal(
		get_str(ann, "snapstage.io/primary-binlog-position", NULL, NULL), "5678");
	assert_string_equal(get_str(ann, "snapstage.io/source-role", NULL, NULL),
			    "Replica");
	assert_string_equal(get_str(ann, "snapstage.io/lock-stage", NULL, NULL),
			    "BLOCK_COMMIT"); /* the default */
	assert_string_equal(get_str(ann, "snapstage.io/backup-name", NULL, NULL),
			    "adhoc");
	assert_string_equal(get_str(ann, "note", NULL, NULL), "hi");
	assert_int_equal(json_object_size(ann), 11);

	refs = json_object_get(json_object_get(vs, "metadata"), "ownerReferences");
	assert_int_equal(json_array_size(refs), 1);
	ref = json_array_get(refs, 0);
	assert_string_equal(get_str(ref, "apiVersion", NULL, NULL),
			    "snapstage.io/v1alpha1");
	assert_string_equal(get_str(ref, "kind", NULL, NULL), "Backup");
	assert_string_equal(get_str(ref, "name", NULL, NULL), "adhoc");
	assert_string_equal(get_str(ref, "uid", NULL, NULL), "uid-backup");
	assert_true(json_is_true(json_object_get(ref, "controller")));
	assert_true(json_is_true(json_object_get(ref, "blockOwnerDeletion")));
	assert_int_equal(json_object_size(ref), 6);

	assert_string_equal(get_str(vs, "spec", "source", "persistentVolumeClaimName"),
			    "data-mariadb-1");
	assert_string_equal(get_str(vs, "spec", "volumeSnapshotClassName", NULL),
			    "csi-snap");
	assert_null(json_object_get(vs, "status"));

	/* every label is a string */
	json_object_foreach(labels, s, v)
	{
		assert_true(json_is_string(v));
	}
	json_decref(vs);
	json_decref(b);
}

static void test_snapshot_object_unknown_position_left_out(void **state)
{
	app_backup_spec spec;
	json_t *b = backup_forged(&spec, sts_target, full_snapshot_opts);
	app_db_position pos = { .gtid_binlog_pos = "0-1-5",
				.gtid_slave_pos = "",
				.gtid_current_pos = NULL,
				.binlog_file = "",
				.binlog_position = -1,
				.primary_binlog_file = NULL,
				.primary_binlog_position = -1 };
	app_backup_plan_snapshot_in in = { .backup = b,
					   .spec = &spec,
					   .volume = "data",
					   .claim = "data-mariadb-0",
					   .pod = "mariadb-0",
					   .source_role = "Primary",
					   .position = &pos };
	json_t *vs = NULL, *ann, *labels;

	(void)state;
	assert_int_equal(app_backup_plan_snapshot_object(&vs, &in), 0);
	ann = json_object_get(json_object_get(vs, "metadata"), "annotations");
	assert_string_equal(get_str(ann, "snapstage.io/gtid-binlog-pos", NULL, NULL),
			    "0-1-5");
	assert_string_equal(get_str(ann, "snapstage.io/source-role", NULL, NULL),
			    "Primary");
	assert_string_equal(get_str(ann, "note", NULL, NULL), "hi");
	/* the user's spec.snapshot annotation cannot pose as the position */
	assert_null(json_object_get(ann, "snapstage.io/gtid-slave-pos"));
	assert_null(json_object_get(ann, "snapstage.io/gtid-current-pos"));
	assert_null(json_object_get(ann, "snapstage.io/binlog-file"));
	assert_null(json_object_get(ann, "snapstage.io/binlog-position"));
	assert_null(json_object_get(ann, "snapstage.io/primary-binlog-file"));
	assert_null(json_object_get(ann, "snapstage.io/primary-binlog-position"));
	/* position, role, stage, name, note */
	assert_int_equal(json_object_size(ann), 5);
	/* no schedule label on the Backup: none on the snapshot, not the spoof */
	labels = json_object_get(json_object_get(vs, "metadata"), "labels");
	assert_null(json_object_get(labels, "snapstage.io/schedule"));
	json_decref(vs);

	/* no position at all */
	in.position = NULL;
	assert_int_equal(app_backup_plan_snapshot_object(&vs, &in), 0);
	ann = json_object_get(json_object_get(vs, "metadata"), "annotations");
	assert_null(json_object_get(ann, "snapstage.io/gtid-binlog-pos"));
	assert_int_equal(json_object_size(ann), 4); /* role, stage, name and note */
	json_decref(vs);
	json_decref(b);
}

static void test_snapshot_object_minimal(void **state)
{
	app_backup_spec spec;
	json_t *b = backup_new(&spec, sts_target, NULL);
	app_backup_plan_snapshot_in in = { .backup = b,
					   .spec = &spec,
					   .volume = "data",
					   .claim = "data-mariadb-0",
					   .pod = "mariadb-0" };
	json_t *vs = NULL, *meta;

	(void)state;
	assert_int_equal(app_backup_plan_snapshot_object(&vs, &in), 0);
	meta = json_object_get(vs, "metadata");
	/* no class: the cluster's default */
	assert_null(
		json_object_get(json_object_get(vs, "spec"), "volumeSnapshotClassName"));
	/* only the lock stage and the Backup's name, which are always known */
	assert_int_equal(json_object_size(json_object_get(meta, "annotations")), 2);
	assert_string_equal(get_str(meta, "annotations", "snapstage.io/lock-stage", NULL),
			    "BLOCK_COMMIT");
	assert_string_equal(get_str(meta, "annotations", "snapstage.io/backup-name", NULL),
			    "adhoc");
	assert_string_equal(get_str(meta, "labels", "snapstage.io/backup", NULL), "adhoc");
	assert_int_equal(json_object_size(json_object_get(meta, "labels")), 4);
	json_decref(vs);
	json_decref(b);
}

static void test_snapshot_object_long_values(void **state)
{
	app_backup_spec spec;
	json_t *b = backup_new(&spec, sts_target, NULL);
	char claim[80], backup[80];
	app_backup_plan_snapshot_in in = { .backup = b,
					   .spec = &spec,
					   .volume = "data",
					   .claim = claim,
					   .pod = "mariadb-0",
					   .source_role = "Replica" };
	json_t *vs = NULL, *labels;
	const char *name, *label;

	(void)state;
	memset(claim, 'c', 70);
	claim[70] = '\0';
	assert_int_equal(app_backup_plan_snapshot_object(&vs, &in), 0);
	labels = json_object_get(json_object_get(vs, "metadata"), "labels");
	/* too long for a label: left out, never cut */
	assert_null(json_object_get(labels, "snapstage.io/claim"));
	assert_string_equal(get_str(labels, "snapstage.io/pod", NULL, NULL), "mariadb-0");
	assert_string_equal(get_str(vs, "spec", "source", "persistentVolumeClaimName"),
			    claim);
	json_decref(vs);

	/* a long Backup name: the object name is shortened with a hash; the
	 * label still there, shortened by app_name_backup_label()'s rule; the
	 * whole name in the annotation and the ownerReference */
	memset(backup, 'b', 70);
	backup[70] = '\0';
	tu_json_set(b, "metadata.name", json_string(backup));
	in.claim = "data-mariadb-0";
	assert_int_equal(app_backup_plan_snapshot_object(&vs, &in), 0);
	name = get_str(vs, "metadata", "name", NULL);
	assert_true(strlen(name) <= 63);
	assert_true(strncmp(name, "bbbb", 4) == 0);
	labels = json_object_get(json_object_get(vs, "metadata"), "labels");
	label = get_str(labels, "snapstage.io/backup", NULL, NULL);
	assert_non_null(label);
	assert_int_equal(strlen(label), 63);
	assert_true(strncmp(label, "bbbb", 4) == 0 && strchr(label, '_') != NULL);
	assert_true(app_name_backup_label_matches(label, backup));
	assert_string_equal(get_str(vs, "metadata", "annotations",
				    "snapstage.io/backup-name"),
			    backup);
	assert_string_equal(
		get_str(json_array_get(json_object_get(json_object_get(vs, "metadata"),
						       "ownerReferences"),
				       0),
			"name", NULL, NULL),
		backup);
	json_decref(vs);
	json_decref(b);
}

/* The name status.snapshots records (a retry's, or one an older version
 * made) is the one used; none that is no object name. */
static void test_snapshot_object_given_name(void **state)
{
	app_backup_spec spec;
	json_t *b = backup_new(&spec, sts_target, NULL);
	app_backup_plan_snapshot_in in = { .backup = b,
					   .spec = &spec,
					   .volume = "data",
					   .claim = "data-mariadb-0",
					   .pod = "mariadb-0",
					   .name = "adhoc-r2-data" };
	json_t *vs = NULL;

	(void)state;
	assert_int_equal(app_backup_plan_snapshot_object(&vs, &in), 0);
	assert_string_equal(get_str(vs, "metadata", "name", NULL), "adhoc-r2-data");
	json_decref(vs);
	vs = NULL;
	in.name = "Adhoc data";
	assert_int_equal(app_backup_plan_snapshot_object(&vs, &in), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "\"Adhoc data\" is not a valid name");
	assert_null(vs);
	in.name = "";
	assert_int_equal(app_backup_plan_snapshot_object(&vs, &in), SS_EINVALID);
	assert_null(vs);
	json_decref(b);
}

static void test_is_owned_by(void **state)
{
	json_t *vs = tu_json("{\"metadata\":{\"ownerReferences\":["
			     "{\"kind\":\"Other\",\"uid\":\"u1\"},"
			     "{\"kind\":\"Backup\",\"uid\":\"u2\"}]}}");
	json_t *bare = tu_json("{\"metadata\":{\"name\":\"x\"}}");

	(void)state;
	assert_true(app_owner_has_uid(vs, "u2"));
	assert_true(app_owner_has_uid(vs, "u1"));
	assert_false(app_owner_has_uid(vs, "u3"));
	assert_false(app_owner_has_uid(vs, NULL));
	assert_false(app_owner_has_uid(vs, ""));
	assert_false(app_owner_has_uid(bare, "u2"));
	assert_false(app_owner_has_uid(NULL, "u2"));
	json_decref(vs);
	json_decref(bare);
}

/* The stage the spec asked for, over a user annotation of that key. */
static void test_snapshot_object_lock_stage(void **state)
{
	static const char *const stages[] = { "FLUSH", "BLOCK_DDL", "BLOCK_COMMIT" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(stages) / sizeof(stages[0]); i++) {
		app_backup_spec spec;
		json_t *b = tu_json("{\"apiVersion\":\"snapstage.io/v1alpha1\","
				    "\"kind\":\"Backup\",\"metadata\":{\"name\":"
				    "\"adhoc\",\"namespace\":\"db\",\"uid\":\"u\"},"
				    "\"spec\":{\"target\":{\"statefulSetName\":"
				    "\"mariadb\",\"connection\":{\"credentialsSecretRef"
				    "\":{\"name\":\"s\"}}}},"
				    "\"forged\":{\"snapstage.io/lock-stage\":\"NONE\"}}");
		app_backup_plan_snapshot_in in = { .backup = b,
						   .spec = &spec,
						   .volume = "data",
						   .claim = "data-mariadb-0",
						   .pod = "mariadb-0" };
		const char *reason = NULL;
		json_t *vs = NULL;

		tu_json_set(b, "spec.lock", json_pack("{s:s}", "stage", stages[i]));
		if (app_backup_spec_decode(&spec, b, &reason) != 0)
			fail_msg("stage %s: %s", stages[i], ss_error_last()->message);
		/* the decoder refuses the key: forged past it */
		spec.snapshot.annotations = json_object_get(b, "forged");
		assert_int_equal(app_backup_plan_snapshot_object(&vs, &in), 0);
		assert_string_equal(
			get_str(vs, "metadata", "annotations", APP_ANNOTATION_LOCK_STAGE),
			stages[i]);
		assert_int_equal(json_object_size(json_object_get(
					 json_object_get(vs, "metadata"), "annotations")),
				 2); /* the stage and the Backup's name */
		json_decref(vs);
		json_decref(b);
	}
}

static void test_snapshot_object_refuses_incomplete_input(void **state)
{
	app_backup_spec spec;
	json_t *b = backup_new(&spec, sts_target, NULL);
	app_backup_plan_snapshot_in in = { .backup = b,
					   .spec = &spec,
					   .volume = "data",
					   .claim = "data-mariadb-0",
					   .pod = "mariadb-0",
					   .source_role = "Replica" };
	json_t *vs = NULL;

	(void)state;
	tu_json_set(b, "metadata.uid", NULL);
	assert_int_equal(app_backup_plan_snapshot_object(&vs, &in), SS_EINVALID);
	tu_assert_error(SS_EINVALID, "Backup db/adhoc has uid none");
	assert_null(vs);

	tu_json_set(b, "metadata.uid", json_string("uid-backup"));
	in.claim = "";
	assert_int_equal(app_backup_plan_snapshot_object(&vs, &in), SS_EINVALID);
	assert_null(vs);
	in.claim = "data-mariadb-0";
	in.volume = NULL;
	assert_int_equal(app_backup_plan_snapshot_object(&vs, &in), SS_EINVALID);
	assert_null(vs);
	json_decref(b);
}

/* ---- whether a Complete Backup can be restored ------------------------------ */

/* A Complete Backup "adhoc" (uid uid-backup) listing `names` (NULL-ended). */
static json_t *complete_backup(const char *const *names)
{
	json_t *b = tu_json("{\"apiVersion\":\"snapstage.io/v1alpha1\","
			    "\"kind\":\"Backup\",\"metadata\":{\"name\":\"adhoc\","
			    "\"namespace\":\"db\",\"uid\":\"uid-backup\"},"
			    "\"status\":{\"conditions\":[{\"type\":\"Complete\","
			    "\"status\":\"True\",\"reason\":\"SnapshotsReady\"}]}}");
	json_t *list = json_array();

	for (; *names != NULL; names++)
		json_array_append_new(list, json_pack("{s:s, s:s, s:b}", "volume", "v",
						      "volumeSnapshotName", *names,
						      "readyToUse", 1));
	tu_json_set(b, "status.snapshots", list);
	return b;
}

/* A VolumeSnapshot `name` in namespace db owned by the Backup with `uid`,
 * with `status` (JSON text). */
static json_t *owned_vs(const char *name, const char *uid, const char *status)
{
	json_t *vs =
		json_pack("{s:s, s:s, s:{s:s, s:s, s:[{s:s, s:s, s:s, s:s, "
			  "s:b}]}}",
			  "apiVersion", "snapshot.storage.k8s.io/v1", "kind",
			  "VolumeSnapshot", "metadata", "name", name, "namespace", "db",
			  "ownerReferences", "apiVersion", "snapstage.io/v1alpha1",
			  "kind", "Backup", "name", "adhoc", "uid", uid, "controller", 1);

	assert_non_null(vs);
	json_object_set_new(vs, "status", tu_json(status));
	return vs;
}

#define READY "{\"readyToUse\":true,\"creationTime\":\"2026-11-23T03:00:01Z\"}"

static void test_restorable(void **state)
{
	static const char *const two[] = { "adhoc-data", "adhoc-logs", NULL };
	static const char *const none[] = { NULL };
	static const struct {
		const char *title;
		const char *const *listed;
		const char *logs_uid; /* the owner uid of adhoc-logs; NULL: deleted */
		const char *logs_status;
		bool want;
		const char *reason;
		const char *fragment; /* in the message */
	} cases[] = {
		{ "all present", two, "uid-backup", READY, true, "SnapshotsReady",
		  "2 VolumeSnapshot(s) exist and are ready to use" },
		{ "one deleted", two, NULL, NULL, false, "SnapshotMissing",
		  "VolumeSnapshot adhoc-logs was deleted" },
		{ "one of a different owner uid", two, "uid-older-adhoc", READY, false,
		  "SnapshotMissing",
		  "VolumeSnapshot adhoc-logs is not this Backup's: another object of "
		  "that name, owned by Backup adhoc (uid uid-older-adhoc)" },
		{ "one with an error", two, "uid-backup",
		  "{\"readyToUse\":true,\"error\":{\"message\":\"disk gone\"}}", false,
		  "SnapshotFailed", "VolumeSnapshot adhoc-logs failed: disk gone" },
		{ "readyToUse false", two, "uid-backup", "{\"readyToUse\":false}", false,
		  "SnapshotFailed", "VolumeSnapshot adhoc-logs is no longer readyToUse" },
		{ "no snapshots listed", none, "uid-backup", READY, false,
		  "SnapshotMissing", "the Backup lists no VolumeSnapshots" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *b = complete_backup(cases[i].listed);
		json_t *snaps = json_array();
		app_backup_plan_restorability out;

		json_array_append_new(snaps, owned_vs("adhoc-data", "uid-backup", READY));
		if (cases[i].logs_uid != NULL)
			json_array_append_new(snaps,
					      owned_vs("adhoc-logs", cases[i].logs_uid,
						       cases[i].logs_status));
		/* another namespace's object of that name never counts */
		json_array_append_new(snaps, owned_vs("adhoc-logs", "uid-backup", READY));
		tu_json_set(json_array_get(snaps, json_array_size(snaps) - 1),
			    "metadata.namespace", json_string("other"));
		memset(&out, 0x5a, sizeof(out));
		assert_int_equal(app_backup_plan_restorable(&out, b, snaps), 0);
		if (out.restorable != cases[i].want)
			fail_msg("%s: restorable %d, want %d (%s)", cases[i].title,
				 out.restorable, cases[i].want, out.message);
		assert_string_equal(out.reason, cases[i].reason);
		assert_contains(out.message, cases[i].fragment);
		json_decref(snaps);
		json_decref(b);
	}
}

/* Missing wins over failed and both are named; no cache at all is every
 * snapshot deleted; a Backup without a uid cannot be judged. */
static void test_restorable_mixed_and_bad_input(void **state)
{
	static const char *const two[] = { "adhoc-data", "adhoc-logs", NULL };
	json_t *b = complete_backup(two);
	json_t *snaps = json_array();
	app_backup_plan_restorability out;

	(void)state;
	json_array_append_new(
		snaps, owned_vs("adhoc-data", "uid-backup", "{\"readyToUse\":false}"));
	assert_int_equal(app_backup_plan_restorable(&out, b, snaps), 0);
	assert_false(out.restorable);
	assert_string_equal(out.reason, "SnapshotMissing");
	assert_string_equal(out.message,
			    "VolumeSnapshot adhoc-logs was deleted; VolumeSnapshot "
			    "adhoc-data is no longer readyToUse");

	assert_int_equal(app_backup_plan_restorable(&out, b, NULL), 0);
	assert_string_equal(out.reason, "SnapshotMissing");
	assert_string_equal(out.message, "VolumeSnapshot adhoc-data was deleted; "
					 "VolumeSnapshot adhoc-logs was deleted");

	/* an entry without a name */
	tu_json_set(b, "status.snapshots[1].volumeSnapshotName", NULL);
	json_array_append_new(snaps, owned_vs("adhoc-logs", "uid-backup", READY));
	json_array_set_new(snaps, 0, owned_vs("adhoc-data", "uid-backup", READY));
	assert_int_equal(app_backup_plan_restorable(&out, b, snaps), 0);
	assert_string_equal(out.reason, "SnapshotMissing");
	assert_string_equal(out.message, "status.snapshots[1] names no VolumeSnapshot");

	tu_json_set(b, "metadata.uid", NULL);
	memset(&out, 0x5a, sizeof(out));
	assert_int_equal(app_backup_plan_restorable(&out, b, snaps), SS_EINVALID);
	assert_int_equal(out.message[0], 0x5a); /* untouched */
	json_decref(snaps);
	json_decref(b);
}

/* ---- attempts ---------------------------------------------------------------- */

static void test_retry_backoff(void **state)
{
	const int64_t S = SS_NS_PER_SEC;

	(void)state;
	assert_int_equal(app_backup_plan_retry_backoff_ns(-1), 0);
	assert_int_equal(app_backup_plan_retry_backoff_ns(0), 0);
	assert_int_equal(app_backup_plan_retry_backoff_ns(1), 2 * S);
	assert_int_equal(app_backup_plan_retry_backoff_ns(2), 4 * S);
	assert_int_equal(app_backup_plan_retry_backoff_ns(3), 8 * S);
	assert_int_equal(app_backup_plan_retry_backoff_ns(4), 16 * S);
	assert_int_equal(app_backup_plan_retry_backoff_ns(5), 30 * S); /* the bound */
	assert_int_equal(app_backup_plan_retry_backoff_ns(1000), 30 * S);
	assert_int_equal(app_backup_plan_retry_backoff_ns(2147483647), 30 * S);
}

static void test_next_attempt_rounds_up_to_the_second(void **state)
{
	const int64_t S = SS_NS_PER_SEC, t = 1765000000 * S;

	(void)state;
	/* status.nextAttemptTime has second resolution: never earlier. */
	assert_int_equal(app_backup_plan_next_attempt_ns(1, t), t + 2 * S);
	assert_int_equal(app_backup_plan_next_attempt_ns(1, t + 1), t + 3 * S);
	assert_int_equal(app_backup_plan_next_attempt_ns(2, t + S - 1), t + 5 * S);
	assert_int_equal(app_backup_plan_next_attempt_ns(2, t + S / 2), t + 5 * S);
	/* The session after the last one allowed still gets a pause. */
	assert_true(app_backup_plan_next_attempt_ns(3, t) >= t + 8 * S);
}

static void test_attempt_wait(void **state)
{
	const int64_t S = SS_NS_PER_SEC, t = 1765000000 * S;

	(void)state;
	assert_int_equal(app_backup_plan_attempt_wait_ns(0, t), 0); /* none set */
	assert_int_equal(app_backup_plan_attempt_wait_ns(-5, t), 0);
	assert_int_equal(app_backup_plan_attempt_wait_ns(t, t), 0);
	assert_int_equal(app_backup_plan_attempt_wait_ns(t - S, t), 0); /* past */
	assert_int_equal(app_backup_plan_attempt_wait_ns(t + 2 * S, t), 2 * S);
	assert_int_equal(app_backup_plan_attempt_wait_ns(t + 1, t), 1);
	/* Far ahead (a wrong clock, an edited status): bounded. */
	assert_int_equal(app_backup_plan_attempt_wait_ns(t + 3600 * S, t), 30 * S);
	assert_int_equal(app_backup_plan_attempt_wait_ns(INT64_MAX, t), 30 * S);
	/* What retry_attempt writes, read back at once: the whole pause. */
	assert_int_equal(
		app_backup_plan_attempt_wait_ns(app_backup_plan_next_attempt_ns(1, t), t),
		2 * S);
}

static void test_session_error_decide(void **state)
{
	const int retried[] = { SS_EFORBIDDEN,	      SS_ESERVER,  SS_ETRANSPORT,
				SS_ETOOMANYREQUESTS, SS_ETIMEOUT, SS_EEXISTS,
				SS_EUNAUTHORIZED,    SS_ERROR,	  SS_ENOMEM,
				SS_ENOTFOUND,	      SS_ECONFLICT };
	app_backup_plan_session_error d;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(retried) / sizeof(retried[0]); i++) {
		d = app_backup_plan_session_error_decide(retried[i]);
		assert_string_equal(d.reason, "SnapshotCreateFailed");
		assert_true(d.retry);
	}
	d = app_backup_plan_session_error_decide(SS_EINVALID);
	assert_string_equal(d.reason, "SnapshotCreateFailed");
	assert_false(d.retry);
	assert_false(app_backup_plan_session_error_decide(SS_EUNSUPPORTED).retry);
}

/* status.nextAttemptTime is written and read back (second resolution),
 * and dropped again once a session starts (0). */
static void test_next_attempt_time_in_status(void **state)
{
	const int64_t S = SS_NS_PER_SEC;
	json_t *obj = json_object();
	app_backup_status st, back;

	(void)state;
	app_backup_status_init(&st);
	st.has_phase = true;
	st.phase = APP_BACKUP_PENDING;
	st.attempts = 1;
	st.next_attempt_ns = 1765000002 * S;
	assert_int_equal(app_backup_status_encode(obj, &st), 0);
	assert_string_equal(get_str(obj, "status", "nextAttemptTime", NULL),
			    "2025-12-06T05:46:42Z");
	assert_int_equal(app_backup_status_decode(&back, obj), 0);
	assert_int_equal(back.next_attempt_ns, st.next_attempt_ns);
	st.next_attempt_ns = 0;
	assert_int_equal(app_backup_status_encode(obj, &st), 0);
	assert_null(json_object_get(json_object_get(obj, "status"), "nextAttemptTime"));
	assert_int_equal(app_backup_status_decode(&back, obj), 0);
	assert_int_equal(back.next_attempt_ns, 0);
	json_decref(obj);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_statefulset_takes_its_own_pods_in_ordinal_order),
		cmocka_unit_test(test_selector_takes_matching_pods_of_any_owner),
		cmocka_unit_test(test_ordinals_sort_numerically),
		cmocka_unit_test(test_pods_being_deleted_are_skipped),
		cmocka_unit_test(test_no_pods_is_target_not_found),
		cmocka_unit_test(test_readiness),
		cmocka_unit_test(test_pod_without_ip_has_null_ip),
		cmocka_unit_test(test_named_volumes),
		cmocka_unit_test(test_named_volume_missing_or_not_a_claim),
		cmocka_unit_test(test_default_volumes_are_every_claim),
		cmocka_unit_test(test_no_claim_at_all),
		cmocka_unit_test(test_too_many_claims_without_names),
		cmocka_unit_test(test_ephemeral_claim_name_too_long),
		cmocka_unit_test(test_port_resolution),
		cmocka_unit_test(test_too_many_pods),
		cmocka_unit_test(test_choose_best_replica),
		cmocka_unit_test(test_choose_ties),
		cmocka_unit_test(test_choose_spreads_over_equally_healthy_replicas),
		cmocka_unit_test(test_equally_good),
		cmocka_unit_test(test_paused_why),
		cmocka_unit_test(test_lock_timeout_words),
		cmocka_unit_test(test_session_vs_lost),
		cmocka_unit_test(test_choose_fallback_to_primary),
		cmocka_unit_test(test_choose_no_primary),
		cmocka_unit_test(test_choose_waits_for_a_replica_another_backup_paused),
		cmocka_unit_test(test_choose_pause_claim_needs_a_probed_ready_replica),
		cmocka_unit_test(test_pause_claim),
		cmocka_unit_test(test_choose_when_every_probe_failed),
		cmocka_unit_test(test_choose_partial_failures_keep_the_role_reason),
		cmocka_unit_test(test_choose_message_is_bounded),
		cmocka_unit_test(test_vs_state_full),
		cmocka_unit_test(test_vs_state_partial),
		cmocka_unit_test(test_vs_state_empty),
		cmocka_unit_test(test_vs_state_bad),
		cmocka_unit_test(test_snapshot_object_full),
		cmocka_unit_test(test_snapshot_object_unknown_position_left_out),
		cmocka_unit_test(test_snapshot_object_minimal),
		cmocka_unit_test(test_snapshot_object_long_values),
		cmocka_unit_test(test_snapshot_object_given_name),
		cmocka_unit_test(test_is_owned_by),
		cmocka_unit_test(test_snapshot_object_lock_stage),
		cmocka_unit_test(test_snapshot_object_refuses_incomplete_input),
		cmocka_unit_test(test_restorable),
		cmocka_unit_test(test_restorable_mixed_and_bad_input),
		cmocka_unit_test(test_retry_backoff),
		cmocka_unit_test(test_next_attempt_rounds_up_to_the_second),
		cmocka_unit_test(test_attempt_wait),
		cmocka_unit_test(test_session_error_decide),
		cmocka_unit_test(test_next_attempt_time_in_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
