/*
 * test_scratch.c — the scratch server's pure planning (app/scratch/scratch.h):
 * the Pod made from a realistic StatefulSet (compared whole against the
 * Pod written out by hand, so an extra or missing field fails), the
 * claims restored from a Backup's snapshots, names (long ones cut to 63
 * with a stable hash), whether an object is ours, and the state of a Pod
 * read from status as a kubelet writes it, with its one-line reason.
 *
 * Test JSON is written with single quotes (J() swaps them for double
 * quotes), so no test text may contain an apostrophe.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "app/api/dec.h"
#include "app/scratch/scratch.h"
#include "util/error.h"

#define GI INT64_C(1073741824)

/* ---- building test objects ---------------------------------------------- */

/* Parses JSON written with ' for ". The caller owns the result. */
static json_t *J(const char *text)
{
	char *copy = strdup(text);
	json_t *v;
	char *p;

	assert_non_null(copy);
	for (p = copy; *p != '\0'; p++) {
		if (*p == '\'')
			*p = '"';
	}
	v = tu_json(copy);
	free(copy);
	return v;
}

/* Fails with both texts unless `actual` equals `expected` (J syntax). */
static void assert_json_is(const json_t *actual, const char *expected)
{
	json_t *want = J(expected);
	char *a, *w;

	if (!json_equal((json_t *)actual, want)) {
		a = json_dumps(actual, JSON_SORT_KEYS | JSON_COMPACT);
		w = json_dumps(want, JSON_SORT_KEYS | JSON_COMPACT);
		print_error("got:  %s\nwant: %s\n", a != NULL ? a : "(null)", w);
		free(a);
		free(w);
		json_decref(want);
		fail();
	}
	json_decref(want);
}

static json_t *owner_named(const char *name)
{
	json_t *b = J("{'apiVersion': 'snapstage.io/v1alpha1', 'kind': 'Backup',"
		      " 'metadata': {'namespace': 'db', 'uid': 'uid-backup'}}");

	tu_json_set(b, "metadata.name", json_string(name));
	return b;
}

/* The StatefulSet of a MariaDB replica set as a chart would write it: an
 * exporter sidecar first, the server second with a named mysql port on
 * 3307, two claim templates, a ConfigMap and a shared claim. */
static const char *const STS =
	"{'apiVersion': 'apps/v1', 'kind': 'StatefulSet',"
	" 'metadata': {'name': 'mariadb', 'namespace': 'db', 'uid': 'uid-sts',"
	"  'labels': {'app': 'mariadb'}},"
	" 'spec': {'serviceName': 'mariadb', 'replicas': 3,"
	"  'selector': {'matchLabels': {'app': 'mariadb'}},"
	"  'template': {"
	"   'metadata': {'labels': {'app': 'mariadb', 'app.kubernetes.io/instance': "
	"'prod'},"
	"    'annotations': {'prometheus.io/scrape': 'true'}},"
	"   'spec': {'nodeName': 'node-1', 'hostname': 'mariadb-0', 'subdomain': "
	"'mariadb',"
	"    'serviceAccountName': 'mariadb',"
	"    'readinessGates': [{'conditionType': 'example.com/in-rotation'}],"
	"    'affinity': {"
	"     'podAntiAffinity': {'requiredDuringSchedulingIgnoredDuringExecution': ["
	"      {'labelSelector': {'matchLabels': {'app': 'mariadb'}},"
	"       'topologyKey': 'kubernetes.io/hostname'}]},"
	"     'nodeAffinity': {'requiredDuringSchedulingIgnoredDuringExecution':"
	"      {'nodeSelectorTerms': [{'matchExpressions': [{'key': 'disk',"
	"       'operator': 'In', 'values': ['ssd']}]}]}}},"
	"    'initContainers': [{'name': 'init-config', 'image': 'busybox',"
	"     'command': ['sh', '-c', 'cp /cfg/* /etc/mysql/conf.d/'],"
	"     'volumeMounts': [{'name': 'config', 'mountPath': '/cfg'}]}],"
	"    'containers': ["
	"     {'name': 'exporter', 'image': 'prom/mysqld-exporter:v0.15.1',"
	"      'ports': [{'name': 'metrics', 'containerPort': 9104}],"
	"      'readinessProbe': {'httpGet': {'path': '/metrics', 'port': 9104}},"
	"      'livenessProbe': {'httpGet': {'path': '/', 'port': 9104}}},"
	"     {'name': 'mariadb', 'image': 'mariadb:11.4',"
	"      'args': ['--log-bin=mysql-bin', '--log-slave-updates'],"
	"      'ports': [{'name': 'mysql', 'containerPort': 3307}],"
	"      'env': [{'name': 'MARIADB_ROOT_PASSWORD', 'valueFrom': {'secretKeyRef':"
	"       {'name': 'mariadb-secret', 'key': 'root-password'}}}],"
	"      'resources': {'requests': {'cpu': '2', 'memory': '8Gi'},"
	"       'limits': {'memory': '8Gi'}},"
	"      'volumeMounts': [{'name': 'data', 'mountPath': '/var/lib/mysql'},"
	"       {'name': 'binlog', 'mountPath': '/var/lib/binlog'},"
	"       {'name': 'config', 'mountPath': '/etc/mysql/conf.d'},"
	"       {'name': 'shared', 'mountPath': '/shared'}],"
	"      'readinessProbe': {'exec': {'command': ['healthcheck.sh',"
	"       '--replication_io', '--replication_sql']}, 'periodSeconds': 10},"
	"      'livenessProbe': {'exec': {'command': ['healthcheck.sh', '--connect']}},"
	"      'startupProbe': {'exec': {'command': ['healthcheck.sh', '--connect']},"
	"       'failureThreshold': 30}}],"
	"    'volumes': [{'name': 'config', 'configMap': {'name': 'mariadb-config'}},"
	"     {'name': 'shared', 'persistentVolumeClaim': {'claimName': "
	"'live-shared'}}]}},"
	"  'volumeClaimTemplates': ["
	"   {'metadata': {'name': 'data'}, 'spec': {'accessModes': ['ReadWriteOnce'],"
	"    'resources': {'requests': {'storage': '10Gi'}}}},"
	"   {'metadata': {'name': 'binlog'}, 'spec': {'accessModes': ['ReadWriteOnce'],"
	"    'resources': {'requests': {'storage': '5Gi'}}}}]}}";

/* The Pod expected from STS for Backup nightly-202611230300 with volumes
 * data and shared (binlog not backed up) and RESOURCES. */
#define RESOURCES \
	"{'requests': {'cpu': '500m', 'memory': '1Gi'}, 'limits': {'memory': '1Gi'}}"
static const char *const POD =
	"{'apiVersion': 'v1', 'kind': 'Pod',"
	" 'metadata': {'name': 'nightly-202611230300-verify', 'namespace': 'db',"
	"  'labels': {'snapstage.io/scratch': 'verify',"
	"   'snapstage.io/backup': 'nightly-202611230300'},"
	"  'ownerReferences': [{'apiVersion': 'snapstage.io/v1alpha1', 'kind': 'Backup',"
	"   'name': 'nightly-202611230300', 'uid': 'uid-backup', 'controller': true,"
	"   'blockOwnerDeletion': true}]},"
	" 'spec': {'serviceAccountName': 'mariadb',"
	"  'affinity': {"
	"   'nodeAffinity': {'requiredDuringSchedulingIgnoredDuringExecution':"
	"    {'nodeSelectorTerms': [{'matchExpressions': [{'key': 'disk',"
	"     'operator': 'In', 'values': ['ssd']}]}]}}},"
	"  'initContainers': [{'name': 'init-config', 'image': 'busybox',"
	"   'command': ['sh', '-c', 'cp /cfg/* /etc/mysql/conf.d/'],"
	"   'volumeMounts': [{'name': 'config', 'mountPath': '/cfg'}]}],"
	"  'containers': ["
	"   {'name': 'exporter', 'image': 'prom/mysqld-exporter:v0.15.1',"
	"    'ports': [{'name': 'metrics', 'containerPort': 9104}],"
	"    'readinessProbe': {'tcpSocket': {'port': 3307}, 'periodSeconds': 2}},"
	"   {'name': 'mariadb', 'image': 'mariadb:11.4',"
	"    'args': ['--log-bin=mysql-bin', '--log-slave-updates', "
	"'--skip-slave-start', '--myisam-recover-options=OFF', "
	"'--aria-recover-options=OFF'],"
	"    'ports': [{'name': 'mysql', 'containerPort': 3307}],"
	"    'env': [{'name': 'MARIADB_ROOT_PASSWORD', 'valueFrom': {'secretKeyRef':"
	"     {'name': 'mariadb-secret', 'key': 'root-password'}}}],"
	"    'resources': " RESOURCES ","
	"    'volumeMounts': [{'name': 'data', 'mountPath': '/var/lib/mysql'},"
	"     {'name': 'binlog', 'mountPath': '/var/lib/binlog'},"
	"     {'name': 'config', 'mountPath': '/etc/mysql/conf.d'},"
	"     {'name': 'shared', 'mountPath': '/shared'}],"
	"    'readinessProbe': {'tcpSocket': {'port': 3307}, 'periodSeconds': 2},"
	"    'terminationMessagePolicy': 'FallbackToLogsOnError'}],"
	"  'volumes': [{'name': 'config', 'configMap': {'name': 'mariadb-config'}},"
	"   {'name': 'shared', 'persistentVolumeClaim':"
	"    {'claimName': 'nightly-202611230300-verify-shared'}},"
	"   {'name': 'data', 'persistentVolumeClaim':"
	"    {'claimName': 'nightly-202611230300-verify-data'}},"
	"   {'name': 'binlog', 'emptyDir': {}}]}}";

/* The Backup's volumes: data (10Gi, from claim data-mariadb-1) and shared
 * (restoreSize unknown, its claim asking 20Gi, ReadWriteMany). */
typedef struct {
	json_t *owner, *data_claim, *shared_claim;
	app_scratch_for f;
	app_scratch_volume v[2];
} world;

static void world_init(world *w, const char *owner_name)
{
	w->owner = owner_named(owner_name);
	w->data_claim = J("{'metadata': {'name': 'data-mariadb-1', 'namespace': 'db'},"
			  " 'spec': {'accessModes': ['ReadWriteOnce'],"
			  "  'storageClassName': 'fast-ssd',"
			  "  'resources': {'requests': {'storage': '10Gi'}}}}");
	w->shared_claim = J("{'metadata': {'name': 'live-shared', 'namespace': 'db'},"
			    " 'spec': {'accessModes': ['ReadWriteMany', 'ReadOnlyMany'],"
			    "  'storageClassName': 'nfs',"
			    "  'resources': {'requests': {'storage': '20Gi'}}}}");
	w->f.owner = w->owner;
	w->f.purpose = "verify";
	w->v[0] = (app_scratch_volume){ "data", "nightly-202611230300-data-33bf9bede2",
					10 * GI, w->data_claim, NULL };
	w->v[1] =
		(app_scratch_volume){ "shared", "nightly-202611230300-shared-0123456789",
				      -1, w->shared_claim, NULL };
}

static void world_free(world *w)
{
	json_decref(w->owner);
	json_decref(w->data_claim);
	json_decref(w->shared_claim);
}

/* The Pod planned from `sts_text` (J syntax) for `w`, `resources` (J, may
 * be NULL). Fails the test when planning fails. */
static json_t *plan_pod(world *w, json_t *sts, const char *resources)
{
	json_t *res = resources != NULL ? J(resources) : NULL;
	json_t *pod = NULL;

	if (app_scratch_pod_plan(&pod, &w->f, sts, w->v, 2, res) != 0)
		fail_msg("pod plan: %s", ss_error_last()->message);
	json_decref(res);
	return pod;
}

static const json_t *container(const json_t *pod, size_t i)
{
	return json_array_get(json_object_get(json_object_get(pod, "spec"), "containers"),
			      i);
}

/* ---- the Pod --------------------------------------------------------------- */

/* The whole Pod: our labels only, the owner, every volume mapped (the
 * ConfigMap kept, the template claim the Backup lacks an emptyDir, the
 * live shared claim replaced), node affinity kept and anti-affinity gone,
 * the probes, the main (second) container's args, resources, policy. */
static void test_pod_from_statefulset(void **state)
{
	world w;
	json_t *sts = J(STS), *pod;

	(void)state;
	world_init(&w, "nightly-202611230300");
	pod = plan_pod(&w, sts, RESOURCES);
	assert_json_is(pod, POD);
	/* the input is not changed */
	assert_json_is(sts, STS);
	json_decref(pod);

	/* Without resources the template's stay. */
	pod = plan_pod(&w, sts, NULL);
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(json_object_get(container(pod, 1), "resources"),
					"requests"),
			"memory")),
		"8Gi");
	json_decref(pod);
	json_decref(sts);
	world_free(&w);
}

/* A volume with claim_name set mounts that claim (the Restore's own, for
 * point-in-time restore); the others keep the scratch claim, and a
 * template volume the caller did not list stays an emptyDir. */
static void test_pod_named_claims(void **state)
{
	world w;
	json_t *sts = J(STS), *pod;
	const json_t *vols, *vol;
	size_t i, seen = 0;

	(void)state;
	world_init(&w, "r1");
	w.f.purpose = "pitr";
	w.v[0].claim_name = "restored-data";
	pod = plan_pod(&w, sts, NULL);
	vols = json_object_get(json_object_get(pod, "spec"), "volumes");
	json_array_foreach(vols, i, vol)
	{
		const char *name = json_string_value(json_object_get(vol, "name"));
		const char *claim = json_string_value(json_object_get(
			json_object_get(vol, "persistentVolumeClaim"), "claimName"));

		if (strcmp(name, "data") == 0) {
			assert_string_equal(claim, "restored-data");
			seen++;
		} else if (strcmp(name, "shared") == 0) {
			assert_string_equal(claim, "r1-pitr-shared");
			seen++;
		} else if (strcmp(name, "binlog") == 0) {
			assert_null(claim);
			assert_non_null(json_object_get(vol, "emptyDir"));
			seen++;
		}
	}
	assert_int_equal(seen, 3);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_object_get(pod, "metadata"), "labels"),
				    "snapstage.io/scratch")),
			    "pitr");
	json_decref(pod);
	json_decref(sts);
	world_free(&w);
}

/* --skip-slave-start is added once: not when present, in either spelling
 * MariaDB accepts; and to an empty args list when there is none. */
static void test_pod_args_once(void **state)
{
	static const char *const given[] = { "--skip-slave-start", "--skip_slave_start" };
	world w;
	json_t *sts, *pod;
	size_t i;

	(void)state;
	world_init(&w, "b1");
	for (i = 0; i < 2; i++) {
		sts = J(STS);
		tu_json_set(sts, "spec.template.spec.containers[1].args[1]",
			    json_string(given[i]));
		pod = plan_pod(&w, sts, NULL);
		assert_json_is(json_object_get(container(pod, 1), "args"),
			       i == 0 ? "['--log-bin=mysql-bin', '--skip-slave-start', "
					"'--myisam-recover-options=OFF', "
					"'--aria-recover-options=OFF']"
				      : "['--log-bin=mysql-bin', '--skip_slave_start', "
					"'--myisam-recover-options=OFF', "
					"'--aria-recover-options=OFF']");
		json_decref(pod);
		json_decref(sts);
	}
	/* a near miss is no skip */
	sts = J(STS);
	tu_json_set(sts, "spec.template.spec.containers[1].args[1]",
		    json_string("--skip-slave-start-x"));
	pod = plan_pod(&w, sts, NULL);
	assert_int_equal(json_array_size(json_object_get(container(pod, 1), "args")), 5);
	json_decref(pod);
	json_decref(sts);

	sts = J(STS);
	tu_json_set(sts, "spec.template.spec.containers[1].args", NULL);
	pod = plan_pod(&w, sts, NULL);
	assert_json_is(json_object_get(container(pod, 1), "args"),
		       "['--skip-slave-start', '--myisam-recover-options=OFF', "
		       "'--aria-recover-options=OFF']");
	json_decref(pod);
	json_decref(sts);
	/* a recover option the template sets is kept as it is */
	sts = J(STS);
	tu_json_set(sts, "spec.template.spec.containers[1].args[1]",
		    json_string("--myisam_recover_options=BACKUP"));
	pod = plan_pod(&w, sts, NULL);
	assert_json_is(json_object_get(container(pod, 1), "args"),
		       "['--log-bin=mysql-bin', '--myisam_recover_options=BACKUP', "
		       "'--skip-slave-start', '--aria-recover-options=OFF']");
	json_decref(pod);
	json_decref(sts);
	world_free(&w);
}

/* The main container without a port named mysql: the one named mariadb,
 * else the first; the probe on 3306. */
static void test_pod_main_container(void **state)
{
	world w;
	json_t *sts, *pod;

	(void)state;
	world_init(&w, "b1");
	/* the port decides before the name: a server container named
	 * otherwise behind a sidecar named mysql */
	sts = J(STS);
	tu_json_set(sts, "spec.template.spec.containers[0].name", json_string("mysql"));
	tu_json_set(sts, "spec.template.spec.containers[1].name", json_string("server"));
	pod = plan_pod(&w, sts, NULL);
	assert_json_is(
		json_object_get(container(pod, 1), "args"),
		"['--log-bin=mysql-bin', '--log-slave-updates', '--skip-slave-start', "
		"'--myisam-recover-options=OFF', '--aria-recover-options=OFF']");
	assert_null(json_object_get(container(pod, 0), "args"));
	json_decref(pod);
	json_decref(sts);

	sts = J(STS);
	tu_json_set(sts, "spec.template.spec.containers[1].ports", NULL);
	pod = plan_pod(&w, sts, NULL);
	assert_json_is(json_object_get(container(pod, 1), "readinessProbe"),
		       "{'tcpSocket': {'port': 3306}, 'periodSeconds': 2}");
	assert_non_null(json_object_get(container(pod, 1), "args"));
	assert_null(json_object_get(container(pod, 0), "args"));
	json_decref(pod);

	/* renamed: neither a mysql port nor a known name, so the first */
	tu_json_set(sts, "spec.template.spec.containers[1].name", json_string("server"));
	pod = plan_pod(&w, sts, NULL);
	assert_json_is(json_object_get(container(pod, 0), "args"),
		       "['--skip-slave-start', '--myisam-recover-options=OFF', "
		       "'--aria-recover-options=OFF']");
	assert_string_equal(json_string_value(json_object_get(
				    container(pod, 0), "terminationMessagePolicy")),
			    "FallbackToLogsOnError");
	assert_null(json_object_get(container(pod, 1), "terminationMessagePolicy"));
	/* the main container gets a readiness probe even without one; the
	 * other had one, replaced; neither keeps liveness or startup */
	assert_json_is(json_object_get(container(pod, 0), "readinessProbe"),
		       "{'tcpSocket': {'port': 3306}, 'periodSeconds': 2}");
	assert_json_is(json_object_get(container(pod, 1), "readinessProbe"),
		       "{'tcpSocket': {'port': 3306}, 'periodSeconds': 2}");
	assert_null(json_object_get(container(pod, 1), "livenessProbe"));
	assert_null(json_object_get(container(pod, 1), "startupProbe"));
	json_decref(pod);
	json_decref(sts);
	world_free(&w);
}

/* A template with no volumes at all: the claim templates still appear,
 * mapped; a template volume of a claim template's name is replaced; an
 * ephemeral volume is a claim too. */
static void test_pod_volumes_from_claim_templates(void **state)
{
	world w;
	json_t *sts, *pod;

	(void)state;
	world_init(&w, "b1");
	sts = J(STS);
	tu_json_set(sts, "spec.template.spec.volumes", NULL);
	pod = plan_pod(&w, sts, NULL);
	assert_json_is(json_object_get(json_object_get(pod, "spec"), "volumes"),
		       "[{'name': 'data', 'persistentVolumeClaim': {'claimName': "
		       "'b1-verify-data'}}, {'name': 'binlog', 'emptyDir': {}}]");
	json_decref(pod);

	tu_json_set(sts, "spec.template.spec.volumes",
		    J("[{'name': 'binlog', 'hostPath': {'path': '/x'}},"
		      " {'name': 'shared', 'ephemeral': {'volumeClaimTemplate': {}}},"
		      " {'name': 'tmp', 'ephemeral': {'volumeClaimTemplate': {}}}]"));
	pod = plan_pod(&w, sts, NULL);
	assert_json_is(json_object_get(json_object_get(pod, "spec"), "volumes"),
		       "[{'name': 'binlog', 'emptyDir': {}},"
		       " {'name': 'shared', 'persistentVolumeClaim': {'claimName': "
		       "'b1-verify-shared'}},"
		       " {'name': 'tmp', 'emptyDir': {}},"
		       " {'name': 'data', 'persistentVolumeClaim': {'claimName': "
		       "'b1-verify-data'}}]");
	json_decref(pod);
	json_decref(sts);
	world_free(&w);
}

/* No template, no containers, another namespace, a bad owner: refused. */
static void test_pod_invalid(void **state)
{
	world w;
	json_t *sts, *pod = NULL;
	app_scratch_for bad;

	(void)state;
	world_init(&w, "b1");
	sts = J(STS);
	tu_json_set(sts, "spec.template.spec.containers", J("[]"));
	assert_int_equal(app_scratch_pod_plan(&pod, &w.f, sts, w.v, 2, NULL),
			 SS_EINVALID);
	tu_assert_error(SS_EINVALID,
			"StatefulSet mariadb has no pod template with containers");
	tu_json_set(sts, "spec.template", NULL);
	assert_int_equal(app_scratch_pod_plan(&pod, &w.f, sts, w.v, 2, NULL),
			 SS_EINVALID);
	json_decref(sts);

	sts = J(STS);
	tu_json_set(sts, "metadata.namespace", json_string("other"));
	assert_int_equal(app_scratch_pod_plan(&pod, &w.f, sts, w.v, 2, NULL),
			 SS_EINVALID);
	tu_assert_error(SS_EINVALID, "in namespace other, not in db");
	tu_json_set(sts, "metadata.namespace", json_string("db"));

	bad = w.f;
	bad.purpose = "Verify!";
	assert_int_equal(app_scratch_pod_plan(&pod, &bad, sts, w.v, 2, NULL),
			 SS_EINVALID);
	tu_json_set(w.owner, "metadata.uid", NULL);
	assert_int_equal(app_scratch_pod_plan(&pod, &w.f, sts, w.v, 2, NULL),
			 SS_EINVALID);
	tu_assert_error(SS_EINVALID, "uid none");
	assert_null(pod);
	json_decref(sts);
	world_free(&w);
}

/* ---- names ----------------------------------------------------------------- */

static void test_names(void **state)
{
	char a[APP_NAME_BUF], b[APP_NAME_BUF], c[APP_NAME_BUF], long_name[80];
	json_t *o1, *o2;
	app_scratch_for f1, f2;

	(void)state;
	/* 60 characters: "<owner>-verify" is 67 */
	memset(long_name, 'x', 60);
	long_name[60] = '\0';
	o1 = owner_named(long_name);
	long_name[59] = 'y';
	o2 = owner_named(long_name);
	f1 = (app_scratch_for){ o1, "verify" };
	f2 = (app_scratch_for){ o2, "verify" };

	assert_int_equal(app_scratch_pod_name(a, sizeof(a), &f1), 0);
	assert_int_equal(strlen(a), 63);
	assert_true(app_dec_is_dns_label(a));
	assert_int_equal(app_scratch_pod_name(b, sizeof(b), &f1), 0);
	assert_string_equal(a, b); /* stable */
	assert_int_equal(app_scratch_pod_name(c, sizeof(c), &f2), 0);
	assert_string_not_equal(a, c); /* same 54-character prefix, other hash */
	assert_memory_equal(a, c, 54);

	assert_int_equal(app_scratch_claim_name(a, sizeof(a), &f1, "data"), 0);
	assert_int_equal(app_scratch_claim_name(b, sizeof(b), &f1, "binlog"), 0);
	assert_int_equal(strlen(a), 63);
	assert_true(app_dec_is_dns_label(a) && app_dec_is_dns_label(b));
	assert_string_not_equal(a, b);
	assert_int_equal(app_scratch_claim_name(c, sizeof(c), &f1, "data"), 0);
	assert_string_equal(a, c);

	/* short: the natural names */
	tu_json_set(o1, "metadata.name", json_string("b1"));
	assert_int_equal(app_scratch_pod_name(a, sizeof(a), &f1), 0);
	assert_string_equal(a, "b1-verify");
	assert_int_equal(app_scratch_claim_name(a, sizeof(a), &f1, "data"), 0);
	assert_string_equal(a, "b1-verify-data");

	assert_int_equal(app_scratch_pod_name(a, 63, &f1), SS_EINVALID);
	assert_int_equal(app_scratch_claim_name(a, sizeof(a), &f1, ""), SS_EINVALID);
	f1.purpose = NULL;
	assert_int_equal(app_scratch_pod_name(a, sizeof(a), &f1), SS_EINVALID);
	json_decref(o1);
	json_decref(o2);
}

/* ---- claims ---------------------------------------------------------------- */

static void test_claims(void **state)
{
	world w;
	json_t *claims = NULL;

	(void)state;
	world_init(&w, "nightly-202611230300");
	assert_int_equal(app_scratch_claims_plan(&claims, &w.f, w.v, 2, NULL), 0);
	assert_json_is(
		claims,
		"[{'apiVersion': 'v1', 'kind': 'PersistentVolumeClaim',"
		"  'metadata': {'name': 'nightly-202611230300-verify-data', 'namespace': "
		"'db',"
		"   'labels': {'snapstage.io/scratch': 'verify',"
		"    'snapstage.io/backup': 'nightly-202611230300', "
		"'snapstage.io/volume': "
		"'data'},"
		"   'ownerReferences': [{'apiVersion': 'snapstage.io/v1alpha1', 'kind': "
		"'Backup',"
		"    'name': 'nightly-202611230300', 'uid': 'uid-backup', 'controller': "
		"true,"
		"    'blockOwnerDeletion': true}]},"
		"  'spec': {'accessModes': ['ReadWriteOnce'], 'storageClassName': "
		"'fast-ssd',"
		"   'resources': {'requests': {'storage': '10Gi'}},"
		"   'dataSource': {'apiGroup': 'snapshot.storage.k8s.io', 'kind': "
		"'VolumeSnapshot',"
		"    'name': 'nightly-202611230300-data-33bf9bede2'}}},"
		" {'apiVersion': 'v1', 'kind': 'PersistentVolumeClaim',"
		"  'metadata': {'name': 'nightly-202611230300-verify-shared', "
		"'namespace': "
		"'db',"
		"   'labels': {'snapstage.io/scratch': 'verify',"
		"    'snapstage.io/backup': 'nightly-202611230300', "
		"'snapstage.io/volume': "
		"'shared'},"
		"   'ownerReferences': [{'apiVersion': 'snapstage.io/v1alpha1', 'kind': "
		"'Backup',"
		"    'name': 'nightly-202611230300', 'uid': 'uid-backup', 'controller': "
		"true,"
		"    'blockOwnerDeletion': true}]},"
		"  'spec': {'accessModes': ['ReadWriteMany', 'ReadOnlyMany'], "
		"'storageClassName': 'nfs',"
		"   'resources': {'requests': {'storage': '20Gi'}},"
		"   'dataSource': {'apiGroup': 'snapshot.storage.k8s.io', 'kind': "
		"'VolumeSnapshot',"
		"    'name': 'nightly-202611230300-shared-0123456789'}}}]");
	json_decref(claims);

	/* the class override; a source claim gone: RWO, the default class */
	w.v[1].source_claim = NULL;
	w.v[1].restore_size_bytes = 1536 * 1024 * 1024;
	assert_int_equal(app_scratch_claims_plan(&claims, &w.f, w.v, 2, "scratch-class"),
			 0);
	assert_json_is(json_object_get(json_array_get(claims, 0), "spec"),
		       "{'accessModes': ['ReadWriteOnce'], 'storageClassName': "
		       "'scratch-class',"
		       " 'resources': {'requests': {'storage': '10Gi'}},"
		       " 'dataSource': {'apiGroup': 'snapshot.storage.k8s.io',"
		       "  'kind': 'VolumeSnapshot', 'name': "
		       "'nightly-202611230300-data-33bf9bede2'}}");
	assert_json_is(json_object_get(json_array_get(claims, 1), "spec"),
		       "{'accessModes': ['ReadWriteOnce'], 'storageClassName': "
		       "'scratch-class',"
		       " 'resources': {'requests': {'storage': '1536Mi'}},"
		       " 'dataSource': {'apiGroup': 'snapshot.storage.k8s.io',"
		       "  'kind': 'VolumeSnapshot', 'name': "
		       "'nightly-202611230300-shared-0123456789'}}");
	json_decref(claims);
	claims = NULL;
	assert_int_equal(app_scratch_claims_plan(&claims, &w.f, w.v, 2, NULL), 0);
	assert_null(json_object_get(json_object_get(json_array_get(claims, 1), "spec"),
				    "storageClassName"));
	json_decref(claims);
	world_free(&w);
}

/* No size known, no volumes, a volume twice or without snapshot, an
 * owner without uid: refused, nothing returned. */
static void test_claims_invalid(void **state)
{
	world w;
	json_t *claims = NULL;

	(void)state;
	world_init(&w, "b1");
	w.v[1].source_claim = NULL;
	assert_int_equal(app_scratch_claims_plan(&claims, &w.f, w.v, 2, NULL),
			 SS_EINVALID);
	tu_assert_error(SS_EINVALID,
			"volume \"shared\": the size of VolumeSnapshot "
			"nightly-202611230300-shared-0123456789 is not known");
	w.v[1].source_claim = w.data_claim;
	w.v[1].restore_size_bytes = 0;
	tu_json_set(w.data_claim, "spec.resources", NULL);
	assert_int_equal(app_scratch_claims_plan(&claims, &w.f, w.v, 2, NULL),
			 SS_EINVALID);
	tu_assert_error(SS_EINVALID, "requests no size");
	w.v[1].restore_size_bytes = GI;

	assert_int_equal(app_scratch_claims_plan(&claims, &w.f, w.v, 0, NULL),
			 SS_EINVALID);
	w.v[1].volume = "data";
	assert_int_equal(app_scratch_claims_plan(&claims, &w.f, w.v, 2, NULL),
			 SS_EINVALID);
	tu_assert_error(SS_EINVALID, "listed twice");
	w.v[1].volume = "shared";
	w.v[1].snapshot = NULL;
	assert_int_equal(app_scratch_claims_plan(&claims, &w.f, w.v, 2, NULL),
			 SS_EINVALID);
	w.v[1].snapshot = "s";
	tu_json_set(w.owner, "metadata.uid", NULL);
	assert_int_equal(app_scratch_claims_plan(&claims, &w.f, w.v, 2, NULL),
			 SS_EINVALID);
	assert_null(claims);
	world_free(&w);
}

/* An owner name over 63 characters is no label value: the backup label is
 * left out, the rest stays. */
static void test_claims_long_owner(void **state)
{
	char name[80];
	world w;
	json_t *claims = NULL;

	(void)state;
	memset(name, 'b', 70);
	name[70] = '\0';
	world_init(&w, name);
	assert_int_equal(app_scratch_claims_plan(&claims, &w.f, w.v, 1, NULL), 0);
	assert_json_is(
		json_object_get(json_object_get(json_array_get(claims, 0), "metadata"),
				"labels"),
		"{'snapstage.io/scratch': 'verify', 'snapstage.io/volume': 'data'}");
	assert_int_equal(
		strlen(json_string_value(json_object_get(
			json_object_get(json_array_get(claims, 0), "metadata"), "name"))),
		63);
	json_decref(claims);
	world_free(&w);
}

/* ---- ours? ----------------------------------------------------------------- */

static void test_is_ours(void **state)
{
	world w;
	json_t *claims = NULL, *pod, *sts = J(STS), *other;
	app_scratch_for pitr;

	(void)state;
	world_init(&w, "b1");
	pod = plan_pod(&w, sts, NULL);
	assert_int_equal(app_scratch_claims_plan(&claims, &w.f, w.v, 1, NULL), 0);
	assert_true(app_scratch_is_ours(pod, &w.f));
	assert_true(app_scratch_is_ours(json_array_get(claims, 0), &w.f));

	/* another purpose of the same owner */
	pitr = w.f;
	pitr.purpose = "pitr";
	assert_false(app_scratch_is_ours(pod, &pitr));
	/* a Backup of the same name made anew: another uid */
	other = owner_named("b1");
	tu_json_set(other, "metadata.uid", json_string("uid-new"));
	pitr = (app_scratch_for){ other, "verify" };
	assert_false(app_scratch_is_ours(pod, &pitr));
	/* the live StatefulSet and an object without our label */
	assert_false(app_scratch_is_ours(sts, &w.f));
	tu_json_set(pod, "metadata.labels", NULL);
	assert_false(app_scratch_is_ours(pod, &w.f));
	assert_false(app_scratch_is_ours(NULL, &w.f));

	json_decref(other);
	json_decref(pod);
	json_decref(claims);
	json_decref(sts);
	world_free(&w);
}

/* ---- the Pod's state ------------------------------------------------------- */

/* A scratch Pod (main container mariadb, second) with `status` (J). */
static json_t *pod_with_status(const char *status)
{
	json_t *pod = J("{'metadata': {'name': 'b1-verify', 'namespace': 'db'},"
			" 'spec': {'containers': [{'name': 'exporter'},"
			"  {'name': 'mariadb', 'ports': [{'name': 'mysql', "
			"'containerPort': 3306}]}]}}");

	if (status != NULL)
		tu_json_set(pod, "status", J(status));
	return pod;
}

static app_scratch_state state_of(const char *status, char *why, size_t cap)
{
	json_t *pod = pod_with_status(status);
	app_scratch_state st = app_scratch_pod_state(pod, why, cap);

	json_decref(pod);
	return st;
}

static void test_state_starting(void **state)
{
	char why[256];

	(void)state;
	assert_int_equal(state_of(NULL, why, sizeof(why)), APP_SCRATCH_STARTING);
	assert_string_equal(why, "the Pod has no status yet");

	assert_int_equal(
		state_of("{'phase': 'Pending', 'conditions': [{'type': 'PodScheduled',"
			 " 'status': 'False', 'reason': 'Unschedulable', 'message':"
			 " '0/3 nodes are available: 3 Insufficient memory.'}]}",
			 why, sizeof(why)),
		APP_SCRATCH_STARTING);
	assert_string_equal(why,
			    "not scheduled: Unschedulable: 0/3 nodes are available: 3 "
			    "Insufficient memory.");

	assert_int_equal(
		state_of("{'phase': 'Pending', 'conditions': [{'type': 'PodScheduled',"
			 " 'status': 'True'}, {'type': 'Ready', 'status': 'False'}],"
			 " 'containerStatuses': [{'name': 'exporter', 'restartCount': 0,"
			 "  'state': {'waiting': {'reason': 'ContainerCreating'}}},"
			 " {'name': 'mariadb', 'restartCount': 0,"
			 "  'state': {'waiting': {'reason': 'ContainerCreating'}}}]}",
			 why, sizeof(why)),
		APP_SCRATCH_STARTING);
	assert_string_equal(why, "container mariadb: ContainerCreating");

	/* init container still running */
	assert_int_equal(
		state_of("{'phase': 'Pending', 'initContainerStatuses': [{'name': "
			 "'init-config',"
			 " 'restartCount': 0, 'state': {'running': {}}}],"
			 " 'containerStatuses': [{'name': 'mariadb', 'state': {'waiting':"
			 " {'reason': 'PodInitializing'}}}]}",
			 why, sizeof(why)),
		APP_SCRATCH_STARTING);
	assert_string_equal(why, "init container init-config: running");

	/* running, probe not passing yet (InnoDB recovery) */
	assert_int_equal(
		state_of("{'phase': 'Running', 'podIP': '10.1.0.7', 'conditions':"
			 " [{'type': 'Ready', 'status': 'False'}], 'containerStatuses':"
			 " [{'name': 'mariadb', 'ready': false, 'restartCount': 0,"
			 "  'state': {'running': {'startedAt': "
			 "'2026-11-23T03:00:00Z'}}}]}",
			 why, sizeof(why)),
		APP_SCRATCH_STARTING);
	assert_string_equal(why, "container mariadb: running, not Ready yet");

	/* Ready but no IP yet */
	assert_int_equal(state_of("{'phase': 'Running', 'conditions': [{'type': 'Ready',"
				  " 'status': 'True'}]}",
				  why, sizeof(why)),
			 APP_SCRATCH_STARTING);
}

static void test_state_ready(void **state)
{
	char why[64];

	(void)state;
	assert_int_equal(
		state_of("{'phase': 'Running', 'podIP': '10.1.0.7', 'conditions':"
			 " [{'type': 'PodScheduled', 'status': 'True'},"
			 "  {'type': 'Ready', 'status': 'True'}], 'containerStatuses':"
			 " [{'name': 'mariadb', 'ready': true, 'restartCount': 0,"
			 "  'state': {'running': {}}}]}",
			 why, sizeof(why)),
		APP_SCRATCH_READY);
	assert_string_equal(why, "Ready");
	/* why may be NULL */
	assert_int_equal(state_of("{'podIP': '10.1.0.7', 'conditions':"
				  " [{'type': 'Ready', 'status': 'True'}]}",
				  NULL, 0),
			 APP_SCRATCH_READY);
}

/* The server's log as FallbackToLogsOnError leaves it: many lines, the
 * cause at the end. */
static char *server_log(void)
{
	size_t cap = 8192, len = 0;
	char *log = malloc(cap);
	int i;

	assert_non_null(log);
	for (i = 0; i < 40; i++)
		len += (size_t)snprintf(log + len, cap - len,
					"2026-11-23  3:00:01 0 [Note] InnoDB: note %d\n",
					i);
	snprintf(log + len, cap - len,
		 "2026-11-23  3:00:02 0 [ERROR] InnoDB: Page [page id: space=5, page "
		 "number=3] log sequence number 99 is in the future!\r\n\n"
		 "2026-11-23  3:00:02 0 [ERROR] Aborting\n");
	return log;
}

static void test_state_crashloop(void **state)
{
	json_t *pod = pod_with_status(
		"{'phase': 'Running', 'podIP': '10.1.0.7', 'conditions':"
		" [{'type': 'Ready', 'status': 'False', 'reason': 'ContainersNotReady'}],"
		" 'containerStatuses': [{'name': 'exporter', 'ready': true, "
		"'restartCount': 0,"
		"  'state': {'running': {}}},"
		" {'name': 'mariadb', 'ready': false, 'restartCount': 4,"
		"  'state': {'waiting': {'reason': 'CrashLoopBackOff', 'message':"
		"   'back-off 1m20s restarting failed container=mariadb "
		"pod=b1-verify_db'}},"
		"  'lastState': {'terminated': {'exitCode': 1, 'reason': 'Error'}}}]}");
	const char *head = "container mariadb: CrashLoopBackOff (restarts: 4); last exit "
			   "code 1 (Error): ...";
	const char *end = " | 2026-11-23  3:00:02 0 [ERROR] InnoDB: "
			  "Page [page id: space=5, page number=3] log sequence number 99 "
			  "is in the future! | 2026-11-23  3:00:02 0 [ERROR] Aborting";
	char why[256], big[4096], *log = server_log();

	(void)state;
	tu_json_set(pod, "status.containerStatuses[1].lastState.terminated.message",
		    json_string(log));
	assert_int_equal(app_scratch_pod_state(pod, why, sizeof(why)),
			 APP_SCRATCH_FAILING);
	/* one line, bounded, the end of the log kept */
	assert_null(strchr(why, '\n'));
	assert_null(strchr(why, '\r'));
	assert_int_equal(strlen(why), sizeof(why) - 1);
	assert_memory_equal(why, head, strlen(head));
	assert_string_equal(why + strlen(why) - strlen(end), end);

	/* with room: all of it, the line breaks shown as " | " */
	assert_int_equal(app_scratch_pod_state(pod, big, sizeof(big)),
			 APP_SCRATCH_FAILING);
	assert_non_null(strstr(big,
			       "(Error): 2026-11-23  3:00:01 0 [Note] InnoDB: note 0 | "
			       "2026-11-23  3:00:01 0 [Note] InnoDB: note 1 | "));
	assert_null(strstr(big, "..."));
	assert_string_equal(big + strlen(big) - strlen(end), end);

	/* exited, not restarted yet: FAILING with the exit itself */
	tu_json_set(pod, "status.containerStatuses[1].state",
		    J("{'terminated': {'exitCode': 137, 'reason': 'OOMKilled'}}"));
	tu_json_set(pod, "status.containerStatuses[1].lastState", NULL);
	assert_int_equal(app_scratch_pod_state(pod, why, sizeof(why)),
			 APP_SCRATCH_FAILING);
	assert_string_equal(why,
			    "container mariadb: terminated (restarts: 4); exit code 137 "
			    "(OOMKilled)");
	free(log);
	json_decref(pod);
}

/* Config errors and failing init containers are FAILING too, with the
 * waiting message. */
static void test_state_config_error(void **state)
{
	char why[256];

	(void)state;
	assert_int_equal(
		state_of("{'phase': 'Pending', 'containerStatuses': [{'name': 'mariadb',"
			 " 'restartCount': 0, 'state': {'waiting': {'reason':"
			 " 'CreateContainerConfigError', 'message':"
			 " 'secret \\u0022mariadb-secret\\u0022 not found'}}}]}",
			 why, sizeof(why)),
		APP_SCRATCH_FAILING);
	assert_string_equal(why, "container mariadb: CreateContainerConfigError: secret "
				 "\"mariadb-secret\" not found");
	/* the main container is reported first, wherever it is listed */
	assert_int_equal(
		state_of("{'phase': 'Running', 'containerStatuses': [{'name': 'exporter',"
			 " 'restartCount': 3, 'state': {'waiting': {'reason': "
			 "'CrashLoopBackOff'}}},"
			 " {'name': 'mariadb', 'restartCount': 0, 'state': {'waiting':"
			 " {'reason': 'ImagePullBackOff', 'message': 'Back-off pulling "
			 "image"
			 " mariadb:11.4'}}}]}",
			 why, sizeof(why)),
		APP_SCRATCH_FAILING);
	assert_string_equal(why, "container mariadb: ImagePullBackOff: Back-off pulling "
				 "image mariadb:11.4");
	/* a sidecar failing alone is reported too */
	assert_int_equal(
		state_of("{'phase': 'Running', 'containerStatuses': [{'name': 'exporter',"
			 " 'restartCount': 3, 'state': {'waiting': {'reason': "
			 "'CrashLoopBackOff'}}},"
			 " {'name': 'mariadb', 'restartCount': 0, 'state': {'running': "
			 "{}}}]}",
			 why, sizeof(why)),
		APP_SCRATCH_FAILING);
	assert_string_equal(why, "container exporter: CrashLoopBackOff (restarts: 3)");
	assert_int_equal(
		state_of("{'phase': 'Pending', 'initContainerStatuses': [{'name': "
			 "'init-config', 'restartCount': 2, 'state': {'waiting': "
			 "{'reason':"
			 " 'CrashLoopBackOff'}}, 'lastState': {'terminated': "
			 "{'exitCode': 2,"
			 " 'reason': 'Error', 'message': 'cp: cannot stat\\n'}}}]}",
			 why, sizeof(why)),
		APP_SCRATCH_FAILING);
	assert_string_equal(why,
			    "init container init-config: CrashLoopBackOff (restarts: 2); "
			    "last exit code 2 (Error): cp: cannot stat");
}

static void test_state_gone(void **state)
{
	json_t *pod =
		pod_with_status("{'phase': 'Running', 'podIP': '10.1.0.7', "
				"'conditions': [{'type': 'Ready', 'status': 'True'}]}");
	char why[128];

	(void)state;
	tu_json_set(pod, "metadata.deletionTimestamp",
		    json_string("2026-11-23T03:10:00Z"));
	assert_int_equal(app_scratch_pod_state(pod, why, sizeof(why)), APP_SCRATCH_GONE);
	assert_string_equal(why, "the Pod is being deleted");
	json_decref(pod);

	assert_int_equal(state_of("{'phase': 'Failed', 'reason': 'Evicted', 'message':"
				  " 'The node was low on resource: memory.'}",
				  why, sizeof(why)),
			 APP_SCRATCH_GONE);
	assert_string_equal(why,
			    "the Pod is Failed: Evicted: The node was low on resource: "
			    "memory.");
	assert_int_equal(state_of("{'phase': 'Succeeded'}", why, sizeof(why)),
			 APP_SCRATCH_GONE);
	assert_int_equal(app_scratch_pod_state(NULL, why, sizeof(why)), APP_SCRATCH_GONE);
}

/* Whatever the room, `why` is terminated, within cap, one line and valid
 * UTF-8 (jansson refuses anything else, as the API server would): the cut
 * never splits a character, at either end. */
static void test_why_bounds(void **state)
{
	json_t *pod = pod_with_status(
		"{'phase': 'Running', 'containerStatuses': [{'name': 'mariadb',"
		" 'restartCount': 1, 'state': {'waiting': {'reason': "
		"'CrashLoopBackOff'}},"
		" 'lastState': {'terminated': {'exitCode': 1}}}]}");
	char why[200], line[512];
	size_t cap, i;

	(void)state;
	line[0] = '\0';
	for (i = 0; i < 60; i++) /* 2-, 3- and 4-byte characters, and breaks */
		snprintf(line + strlen(line), sizeof(line) - strlen(line), "%s",
			 i % 4 == 0   ? "\xc3\xa9"
			 : i % 4 == 1 ? "\xe2\x82\xac"
			 : i % 4 == 2 ? "\xf0\x9f\x98\x80"
				      : "\n");
	tu_json_set(pod, "status.containerStatuses[0].lastState.terminated.message",
		    json_string(line));
	for (cap = 1; cap < sizeof(why); cap++) {
		json_t *s;

		memset(why, 'Z', sizeof(why));
		app_scratch_pod_state(pod, why, cap);
		assert_true(strlen(why) < cap);
		assert_null(strchr(why, '\n'));
		s = json_string(why);
		if (s == NULL)
			fail_msg("cap %zu: not UTF-8: %s", cap, why);
		json_decref(s);
	}
	/* the waiting message (a head) is cut on a boundary too */
	tu_json_set(pod, "status.containerStatuses[0].lastState", NULL);
	tu_json_set(pod, "status.containerStatuses[0].state.waiting.message",
		    json_string(line));
	for (cap = 1; cap < sizeof(why); cap++) {
		json_t *s;

		app_scratch_pod_state(pod, why, cap);
		assert_true(strlen(why) < cap);
		s = json_string(why);
		if (s == NULL)
			fail_msg("cap %zu: not UTF-8: %s", cap, why);
		json_decref(s);
	}
	json_decref(pod);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pod_from_statefulset),
		cmocka_unit_test(test_pod_args_once),
		cmocka_unit_test(test_pod_named_claims),
		cmocka_unit_test(test_pod_main_container),
		cmocka_unit_test(test_pod_volumes_from_claim_templates),
		cmocka_unit_test(test_pod_invalid),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_claims),
		cmocka_unit_test(test_claims_invalid),
		cmocka_unit_test(test_claims_long_owner),
		cmocka_unit_test(test_is_ours),
		cmocka_unit_test(test_state_starting),
		cmocka_unit_test(test_state_ready),
		cmocka_unit_test(test_state_crashloop),
		cmocka_unit_test(test_state_config_error),
		cmocka_unit_test(test_state_gone),
		cmocka_unit_test(test_why_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
