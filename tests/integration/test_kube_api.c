/*
 * test_kube_api.c — the Kubernetes client against a real kube-apiserver and
 * etcd (hack/cluster.sh): every verb, pagination, conflicts, server-side
 * apply, the /status subresource, watches in order and resumed, a too-old
 * resourceVersion after etcd compaction, RBAC refusals, and each way of
 * authenticating (kubeconfig token, in-cluster token file + CA, a minted
 * ServiceAccount token, a client certificate).
 *
 * Each run works in a fresh namespace, so runs do not disturb each other.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster_env.h"
#include "testutil.h"

#include "kube/discovery.h"
#include "kube/rest.h"
#include "kube/watch.h"
#include "util/error.h"
#include "util/file.h"

static const kube_resource configmaps = { "", "v1", "configmaps", true };
static const kube_resource serviceaccounts = { "", "v1", "serviceaccounts", true };
static const kube_resource roles = { "rbac.authorization.k8s.io", "v1", "roles", true };
static const kube_resource rolebindings = { "rbac.authorization.k8s.io", "v1",
					    "rolebindings", true };
static const kube_resource crds = { "apiextensions.k8s.io", "v1",
				    "customresourcedefinitions", false };
static const kube_resource widgets = { "it.snapstage.io", "v1", "widgets", true };

static it_cluster cluster;
static kube_client *admin;
static char ns[64];

static const char *meta(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

static json_t *configmap(const char *name, const char *label, const char *value)
{
	return json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:s}}", "apiVersion", "v1",
			 "kind", "ConfigMap", "metadata", "name", name, "labels", "it",
			 label, "data", "a", value);
}

static int group_setup(void **state)
{
	(void)state;
	it_cluster_load(&cluster);
	admin = it_client_from_kubeconfig(cluster.kubeconfig);
	it_namespace_create(admin, "ss-it", ns, sizeof(ns));
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	it_namespace_delete(admin, ns);
	kube_client_free(admin);
	return 0;
}

static void test_create_get_list_paginated(void **state)
{
	kube_list_opts opts = { .label_selector = "it=page", .limit = 10 };
	json_t *page = NULL, *items = NULL, *got = NULL;
	char *rv = NULL;
	char name[32];
	int i;

	(void)state;
	for (i = 0; i < 25; i++) {
		json_t *cm;

		snprintf(name, sizeof(name), "page-%02d", i);
		cm = configmap(name, "page", name);
		IT_CHECK(kube_create(NULL, admin, &configmaps, ns, cm));
		if (i == 0) /* A second create of the same name. */
			assert_int_equal(kube_create(NULL, admin, &configmaps, ns, cm),
					 SS_EEXISTS);
		json_decref(cm);
	}
	IT_CHECK(kube_get(&got, admin, &configmaps, ns, "page-07"));
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(got, "data"), "a")),
		"page-07");
	json_decref(got);
	assert_int_equal(kube_get(NULL, admin, &configmaps, ns, "nope"), SS_ENOTFOUND);
	tu_assert_error(SS_ENOTFOUND, "configmaps \"nope\" not found");

	IT_CHECK(kube_list(&page, admin, &configmaps, ns, &opts));
	assert_int_equal(json_array_size(json_object_get(page, "items")), 10);
	assert_non_null(meta(page, "continue"));
	assert_true(strlen(meta(page, "continue")) > 0);
	json_decref(page);

	IT_CHECK(kube_list_all(&items, &rv, admin, &configmaps, ns, &opts));
	assert_int_equal(json_array_size(items), 25);
	assert_string_equal(meta(json_array_get(items, 24), "name"), "page-24");
	assert_true(strlen(rv) > 0);
	json_decref(items);
	free(rv);
}

static void test_update_stale_version_conflicts(void **state)
{
	json_t *cm = configmap("upd", "upd", "1"), *created = NULL, *updated = NULL;

	(void)state;
	IT_CHECK(kube_create(&created, admin, &configmaps, ns, cm));
	json_object_set_new(json_object_get(created, "data"), "a", json_string("2"));
	IT_CHECK(kube_update(&updated, admin, &configmaps, created));
	assert_string_not_equal(meta(updated, "resourceVersion"),
				meta(created, "resourceVersion"));
	/* `created` still carries the old resourceVersion. */
	json_object_set_new(json_object_get(created, "data"), "a", json_string("3"));
	assert_int_equal(kube_update(NULL, admin, &configmaps, created), SS_ECONFLICT);
	tu_assert_error(SS_ECONFLICT, "the object has been modified");
	assert_int_equal(ss_error_last()->http_status, 409);
	json_decref(cm);
	json_decref(created);
	json_decref(updated);
}

static const char *data_of(const json_t *cm, const char *key)
{
	return json_string_value(json_object_get(json_object_get(cm, "data"), key));
}

static void test_patches_and_server_side_apply(void **state)
{
	json_t *cm = configmap("patch", "patch", "1"), *out = NULL;
	json_t *merge = json_pack("{s:{s:s, s:n}}", "data", "b", "2", "a");
	json_t *jsonp = json_pack("[{s:s, s:s, s:s}]", "op", "add", "path", "/data/c",
				  "value", "3");
	json_t *apply_a = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion",
				    "v1", "kind", "ConfigMap", "metadata", "name",
				    "patch", "namespace", ns, "data", "d", "from-a");
	json_t *apply_b = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion",
				    "v1", "kind", "ConfigMap", "metadata", "name",
				    "patch", "namespace", ns, "data", "d", "from-b");
	kube_patch_opts by_a = { .field_manager = "manager-a" };
	kube_patch_opts by_b = { .field_manager = "manager-b" };

	(void)state;
	IT_CHECK(kube_create(NULL, admin, &configmaps, ns, cm));
	IT_CHECK(kube_patch(&out, admin, &configmaps, ns, "patch", KUBE_PATCH_MERGE,
			    merge, NULL));
	assert_null(data_of(out, "a"));
	assert_string_equal(data_of(out, "b"), "2");
	json_decref(out);
	IT_CHECK(kube_patch(&out, admin, &configmaps, ns, "patch", KUBE_PATCH_JSON, jsonp,
			    NULL));
	assert_string_equal(data_of(out, "c"), "3");
	json_decref(out);

	IT_CHECK(kube_patch(&out, admin, &configmaps, ns, "patch", KUBE_PATCH_APPLY,
			    apply_a, &by_a));
	assert_string_equal(data_of(out, "d"), "from-a");
	json_decref(out);
	/* Another manager claiming the same field conflicts… */
	assert_int_equal(kube_patch(NULL, admin, &configmaps, ns, "patch",
				    KUBE_PATCH_APPLY, apply_b, &by_b),
			 SS_ECONFLICT);
	tu_assert_error(SS_ECONFLICT, "manager-a");
	/* …unless it forces. */
	by_b.force = true;
	IT_CHECK(kube_patch(&out, admin, &configmaps, ns, "patch", KUBE_PATCH_APPLY,
			    apply_b, &by_b));
	assert_string_equal(data_of(out, "d"), "from-b");
	json_decref(out);
	/* Apply without a field manager is refused before any request. */
	assert_int_equal(kube_patch(NULL, admin, &configmaps, ns, "patch",
				    KUBE_PATCH_APPLY, apply_b, NULL),
			 SS_EINVALID);

	json_decref(cm);
	json_decref(merge);
	json_decref(jsonp);
	json_decref(apply_a);
	json_decref(apply_b);
}

static void test_dry_run_create_persists_nothing(void **state)
{
	json_t *cm = configmap("dry", "dry", "1"), *out = NULL;

	(void)state;
	IT_CHECK(kube_create_dry_run(&out, admin, &configmaps, ns, cm));
	assert_string_equal(meta(out, "name"), "dry");
	assert_int_equal(kube_get(NULL, admin, &configmaps, ns, "dry"), SS_ENOTFOUND);
	json_decref(out);
	json_decref(cm);
}

static void wait_served(const char *group, const char *version, const char *resource)
{
	int i;

	for (i = 0; i < 100; i++) {
		if (kube_discover_resource(NULL, admin, group, version, resource) == 0)
			return;
		it_sleep_ms(100);
	}
	print_error("%s\n", ss_error_last()->message);
	fail();
}

static void test_status_subresource_and_discovery(void **state)
{
	json_t *crd = json_loads(
		"{\"apiVersion\":\"apiextensions.k8s.io/"
		"v1\",\"kind\":\"CustomResourceDefinition\","
		"\"metadata\":{\"name\":\"widgets.it.snapstage.io\"},"
		"\"spec\":{\"group\":\"it.snapstage.io\",\"scope\":\"Namespaced\","
		"\"names\":{\"plural\":\"widgets\",\"singular\":\"widget\",\"kind\":"
		"\"Widget\"},"
		"\"versions\":[{\"name\":\"v1\",\"served\":true,\"storage\":true,"
		"\"subresources\":{\"status\":{}},"
		"\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\",\"properties\":{"
		"\"spec\":{\"type\":\"object\",\"properties\":{\"size\":{\"type\":"
		"\"integer\"}}},"
		"\"status\":{\"type\":\"object\",\"properties\":{\"phase\":{\"type\":"
		"\"string\"}}}}}}}]}}",
		0, NULL);
	json_t *w = json_pack("{s:s, s:s, s:{s:s}, s:{s:i}}", "apiVersion",
			      "it.snapstage.io/v1", "kind", "Widget", "metadata", "name",
			      "w1", "spec", "size", 1);
	json_t *created = NULL, *after = NULL;
	kube_resource_info info;
	int rc;

	(void)state;
	assert_non_null(crd);
	rc = kube_create(NULL, admin, &crds, NULL, crd);
	assert_true(rc == 0 || rc == SS_EEXISTS);
	wait_served("it.snapstage.io", "v1", "widgets");
	IT_CHECK(
		kube_discover_resource(&info, admin, "it.snapstage.io", "v1", "widgets"));
	assert_string_equal(info.kind, "Widget");
	assert_true(info.namespaced);
	IT_CHECK(kube_discover_resource(&info, admin, "", "v1", "configmaps"));
	assert_string_equal(info.kind, "ConfigMap");
	assert_int_equal(kube_discover_resource(NULL, admin, "snapshot.storage.k8s.io",
						"v1", "volumesnapshots"),
			 SS_ENOTFOUND);
	tu_assert_error(SS_ENOTFOUND, "does not serve snapshot.storage.k8s.io/v1");
	assert_int_equal(kube_discover_resource(NULL, admin, "", "v1", "gizmos"),
			 SS_ENOTFOUND);
	tu_assert_error(SS_ENOTFOUND, "serves core/v1 but not gizmos");

	/* A CRD freshly served may still refuse writes for a moment. */
	for (rc = -1; rc != 0;) {
		rc = kube_create(&created, admin, &widgets, ns, w);
		if (rc != 0 && rc != SS_ENOTFOUND)
			IT_CHECK(rc);
		if (rc != 0)
			it_sleep_ms(100);
	}
	/* Through /status only the status changes, never the spec. */
	json_object_set_new(created, "status", json_pack("{s:s}", "phase", "Ready"));
	json_object_set_new(json_object_get(created, "spec"), "size", json_integer(2));
	IT_CHECK(kube_update_status(&after, admin, &widgets, created));
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(after, "status"), "phase")),
			    "Ready");
	assert_int_equal(json_integer_value(
				 json_object_get(json_object_get(after, "spec"), "size")),
			 1);
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(after, "metadata"), "generation")),
			 1);
	json_decref(after);
	json_decref(created);
	json_decref(w);
	json_decref(crd);
}

static void test_delete_with_preconditions(void **state)
{
	json_t *cm = configmap("del", "del", "1"), *created = NULL;
	kube_delete_opts wrong = KUBE_DELETE_OPTS_INIT, right = KUBE_DELETE_OPTS_INIT;

	(void)state;
	IT_CHECK(kube_create(&created, admin, &configmaps, ns, cm));
	wrong.precondition_uid = "00000000-0000-0000-0000-000000000000";
	assert_int_equal(kube_delete(NULL, admin, &configmaps, ns, "del", &wrong),
			 SS_ECONFLICT);
	/* Kubernetes 1.20 words a failed UID precondition this way. */
	tu_assert_error(SS_ECONFLICT, "the UID in the precondition");
	right.precondition_uid = meta(created, "uid");
	right.propagation = KUBE_PROPAGATION_BACKGROUND;
	right.grace_period_seconds = 0;
	IT_CHECK(kube_delete(NULL, admin, &configmaps, ns, "del", &right));
	assert_int_equal(kube_get(NULL, admin, &configmaps, ns, "del"), SS_ENOTFOUND);
	assert_int_equal(kube_delete(NULL, admin, &configmaps, ns, "del", NULL),
			 SS_ENOTFOUND);
	json_decref(created);
	json_decref(cm);
}

/* --- watches ------------------------------------------------------------- */

typedef struct {
	char rv[64];
	char log[512];
	char added_rv[64];
	int rc;
} watch_run;

static int record(const kube_watch_event *ev, void *payload)
{
	watch_run *w = payload;
	size_t n = strlen(w->log);

	if (ev->type == KUBE_WATCH_BOOKMARK)
		return 0;
	snprintf(w->log + n, sizeof(w->log) - n, "%s%s", n ? " " : "",
		 kube_watch_type_name(ev->type));
	if (ev->type == KUBE_WATCH_ADDED)
		snprintf(w->added_rv, sizeof(w->added_rv), "%s", ev->resource_version);
	return ev->type == KUBE_WATCH_DELETED ? 1 : 0;
}

static void *watch_thread(void *p)
{
	watch_run *w = p;
	kube_watch_opts opts = { .resource_version = w->rv,
				 .label_selector = "it=watch",
				 .field_selector = "metadata.name=watched",
				 .allow_bookmarks = true,
				 .timeout_seconds = 30 };

	w->rc = kube_watch(admin, &configmaps, ns, &opts, record, w);
	return NULL;
}

static void test_watch_in_order_and_resume(void **state)
{
	json_t *list = NULL, *cm = configmap("watched", "watch", "1"), *created = NULL;
	json_t *other = configmap("unwatched", "watch", "1");
	json_t *patch = json_pack("{s:{s:s}}", "data", "a", "2");
	kube_list_opts opts = { .label_selector = "it=watch" };
	kube_watch_opts resume = { .label_selector = "it=watch", .timeout_seconds = 30 };
	watch_run live = { 0 }, again = { 0 };
	pthread_t t;

	(void)state;
	IT_CHECK(kube_list(&list, admin, &configmaps, ns, &opts));
	snprintf(live.rv, sizeof(live.rv), "%s", meta(list, "resourceVersion"));
	assert_int_equal(pthread_create(&t, NULL, watch_thread, &live), 0);
	it_sleep_ms(300);
	/* Same label, other name: the field selector keeps it out. */
	IT_CHECK(kube_create(NULL, admin, &configmaps, ns, other));
	IT_CHECK(kube_create(&created, admin, &configmaps, ns, cm));
	IT_CHECK(kube_patch(NULL, admin, &configmaps, ns, "watched", KUBE_PATCH_MERGE,
			    patch, NULL));
	IT_CHECK(kube_delete(NULL, admin, &configmaps, ns, "watched", NULL));
	pthread_join(t, NULL);
	assert_int_equal(live.rc, 1); /* stopped by the callback at DELETED */
	assert_string_equal(live.log, "ADDED MODIFIED DELETED");
	assert_string_equal(live.added_rv, meta(created, "resourceVersion"));

	/* Resuming from the ADDED event's version replays what followed it. */
	resume.resource_version = live.added_rv;
	resume.field_selector = "metadata.name=watched";
	assert_int_equal(kube_watch(admin, &configmaps, ns, &resume, record, &again), 1);
	assert_string_equal(again.log, "MODIFIED DELETED");
	json_decref(list);
	json_decref(cm);
	json_decref(other);
	json_decref(created);
	json_decref(patch);
}

static void test_too_old_resource_version_is_gone(void **state)
{
	kube_list_opts first = { .label_selector = "it=page", .limit = 5 };
	kube_list_opts next = { .label_selector = "it=page", .limit = 5 };
	kube_watch_opts old = { .resource_version = "1", .timeout_seconds = 10 };
	json_t *page = NULL, *patch = json_pack("{s:{s:s}}", "data", "a", "x");
	watch_run w = { 0 };
	char token[4096];

	(void)state;
	IT_CHECK(kube_list(&page, admin, &configmaps, ns, &first));
	snprintf(token, sizeof(token), "%s", meta(page, "continue"));
	json_decref(page);
	/* Move history forward, then compact it away, as the API server does
	 * every five minutes in a real cluster. */
	IT_CHECK(kube_patch(NULL, admin, &configmaps, ns, "page-00", KUBE_PATCH_MERGE,
			    patch, NULL));
	it_etcd_compact(&cluster);

	next.continue_token = token;
	assert_int_equal(kube_list(NULL, admin, &configmaps, ns, &next), SS_EGONE);
	tu_assert_error(SS_EGONE, "410");
	assert_int_equal(ss_error_last()->http_status, 410);

	/* Watches are served from the API server's watch cache, whose window
	 * on a young cluster can still reach back to revision 1. A restarted
	 * server rebuilds its caches at etcd's current revision, which is how a
	 * long-running controller meets this: its watch from an older version
	 * ends with an in-stream 410, not an HTTP status. The admin client's
	 * pooled connections died with the old server; it must reconnect. */
	it_apiserver_restart(&cluster);
	assert_int_equal(kube_watch(admin, &configmaps, ns, &old, record, &w), SS_EGONE);
	tu_assert_error(SS_EGONE, "too old resource version");
	assert_string_equal(w.log, "");
	json_decref(patch);
}

/* --- identities ---------------------------------------------------------- */

static void test_unprivileged_identity_is_forbidden(void **state)
{
	kube_client *nobody = it_client_from_kubeconfig(cluster.kubeconfig_unprivileged);
	json_t *cm = configmap("x", "x", "1");

	(void)state;
	assert_int_equal(kube_list(NULL, nobody, &configmaps, ns, NULL), SS_EFORBIDDEN);
	tu_assert_error(
		SS_EFORBIDDEN,
		"User \"snapstage-unprivileged\" cannot list resource \"configmaps\"");
	assert_int_equal(ss_error_last()->http_status, 403);
	assert_int_equal(kube_create(NULL, nobody, &configmaps, ns, cm), SS_EFORBIDDEN);
	json_decref(cm);
	kube_client_free(nobody);
}

static void copy_file(const char *from, const char *dir, const char *name)
{
	ss_buf b = SS_BUF_INIT(1 << 20);

	IT_CHECK(ss_file_read(&b, from, 1 << 20));
	tu_write(dir, name, ss_buf_cstr(&b));
	ss_buf_free(&b);
}

/* A client configured the way a Pod's would be: service host and port,
 * and a mounted token file, CA bundle and namespace. */
static kube_client *in_cluster_client(const char *sa_dir, const char *token)
{
	const char *hostport = strstr(cluster.apiserver_url, "://") + 3;
	const char *colon = strrchr(hostport, ':');
	char host[256];
	kube_config *cfg = NULL;
	kube_client *c = NULL;

	snprintf(host, sizeof(host), "%.*s", (int)(colon - hostport), hostport);
	tu_write(sa_dir, "token", token);
	tu_write(sa_dir, "namespace", ns);
	copy_file(cluster.ca_file, sa_dir, "ca.crt");
	IT_CHECK(kube_config_in_cluster(&cfg, host, colon + 1, sa_dir));
	IT_CHECK(kube_client_new(&c, cfg, NULL));
	assert_string_equal(kube_client_namespace(c), ns);
	kube_config_free(cfg);
	return c;
}

static void test_in_cluster_style_admin(void **state)
{
	char dir[512];
	ss_buf token = SS_BUF_INIT(4096);
	kube_client *c;

	(void)state;
	snprintf(dir, sizeof(dir), "%s", tu_mkdtemp());
	IT_CHECK(ss_file_read(&token, cluster.admin_token_file, 4096));
	c = in_cluster_client(dir, ss_buf_cstr(&token));
	IT_CHECK(kube_list(NULL, c, &configmaps, ns, NULL));
	kube_client_free(c);
	ss_buf_free(&token);
	tu_rmtree(dir);
}

static void test_service_account_token_and_rbac(void **state)
{
	json_t *sa = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind",
			       "ServiceAccount", "metadata", "name", "it-sa");
	json_t *treq = json_pack(
		"{s:s, s:s, s:{s:[s], s:i}}", "apiVersion", "authentication.k8s.io/v1",
		"kind", "TokenRequest", "spec", "audiences",
		"https://kubernetes.default.svc.cluster.local", "expirationSeconds", 600);
	json_t *role =
		json_pack("{s:s, s:s, s:{s:s}, s:[{s:[s], s:[s], s:[s]}]}", "apiVersion",
			  "rbac.authorization.k8s.io/v1", "kind", "Role", "metadata",
			  "name", "it-read", "rules", "apiGroups", "", "resources",
			  "configmaps", "verbs", "list");
	json_t *binding = json_pack(
		"{s:s, s:s, s:{s:s}, s:{s:s, s:s, s:s}, s:[{s:s, s:s, s:s}]}",
		"apiVersion", "rbac.authorization.k8s.io/v1", "kind", "RoleBinding",
		"metadata", "name", "it-read", "roleRef", "apiGroup",
		"rbac.authorization.k8s.io", "kind", "Role", "name", "it-read",
		"subjects", "kind", "ServiceAccount", "name", "it-sa", "namespace", ns);
	kube_request mint = { .method = "POST",
			      .resource = &serviceaccounts,
			      .ns = ns,
			      .name = "it-sa",
			      .subresource = "token",
			      .body = treq };
	json_t *minted = NULL;
	char dir[512], who[160];
	kube_client *c;
	int i, rc = -1;

	(void)state;
	snprintf(dir, sizeof(dir), "%s", tu_mkdtemp());
	IT_CHECK(kube_create(NULL, admin, &serviceaccounts, ns, sa));
	IT_CHECK(kube_request_do(&minted, admin, &mint));
	c = in_cluster_client(dir, json_string_value(json_object_get(
					   json_object_get(minted, "status"), "token")));
	assert_int_equal(kube_list(NULL, c, &configmaps, ns, NULL), SS_EFORBIDDEN);
	snprintf(who, sizeof(who), "system:serviceaccount:%s:it-sa", ns);
	tu_assert_error(SS_EFORBIDDEN, who);

	IT_CHECK(kube_create(NULL, admin, &roles, ns, role));
	IT_CHECK(kube_create(NULL, admin, &rolebindings, ns, binding));
	for (i = 0; i < 50 && rc != 0; i++) { /* RBAC is cached briefly */
		rc = kube_list(NULL, c, &configmaps, ns, NULL);
		if (rc != 0)
			it_sleep_ms(100);
	}
	IT_CHECK(rc);
	/* Allowed exactly what the role says: listing, not creating. */
	assert_int_equal(kube_create(NULL, c, &configmaps, ns, role), SS_EFORBIDDEN);

	kube_client_free(c);
	json_decref(minted);
	json_decref(sa);
	json_decref(treq);
	json_decref(role);
	json_decref(binding);
	tu_rmtree(dir);
}

static kube_client *client_from_yaml(const char *yaml)
{
	kube_config *cfg = NULL;
	kube_client *c = NULL;

	IT_CHECK(kube_config_from_string(&cfg, yaml, strlen(yaml), "it", "/", NULL));
	IT_CHECK(kube_client_new(&c, cfg, NULL));
	kube_config_free(cfg);
	return c;
}

static void test_client_certificate_and_tls_names(void **state)
{
	char yaml[4096];
	kube_client *c;

	(void)state;
	snprintf(
		yaml, sizeof(yaml),
		"current-context: x\n"
		"clusters: [{name: c, cluster: {server: '%s', certificate-authority: "
		"'%s', tls-server-name: kubernetes.default.svc}}]\n"
		"users: [{name: u, user: {client-certificate: '%s', client-key: '%s'}}]\n"
		"contexts: [{name: x, context: {cluster: c, user: u}}]\n",
		cluster.apiserver_url, cluster.ca_file, cluster.admin_cert_file,
		cluster.admin_key_file);
	c = client_from_yaml(yaml);
	IT_CHECK(kube_list(NULL, c, &configmaps, ns, NULL));
	kube_client_free(c);

	/* A name the serving certificate does not carry fails verification. */
	snprintf(yaml, sizeof(yaml),
		 "current-context: x\n"
		 "clusters: [{name: c, cluster: {server: '%s', certificate-authority: "
		 "'%s', tls-server-name: wrong.example}}]\n"
		 "contexts: [{name: x, context: {cluster: c}}]\n",
		 cluster.apiserver_url, cluster.ca_file);
	c = client_from_yaml(yaml);
	assert_int_equal(kube_list(NULL, c, &configmaps, ns, NULL), SS_ETRANSPORT);
	kube_client_free(c);

	/* So does a CA that did not sign the server's certificate. */
	snprintf(yaml, sizeof(yaml),
		 "current-context: x\n"
		 "clusters: [{name: c, cluster: {server: '%s', certificate-authority: "
		 "'%s'}}]\n"
		 "contexts: [{name: x, context: {cluster: c}}]\n",
		 cluster.apiserver_url, cluster.admin_cert_file);
	c = client_from_yaml(yaml);
	assert_int_equal(kube_list(NULL, c, &configmaps, ns, NULL), SS_ETRANSPORT);
	tu_assert_error(SS_ETRANSPORT, "GET /api/v1/namespaces/");
	kube_client_free(c);

	/* No credentials at all: the anonymous user is refused. */
	snprintf(yaml, sizeof(yaml),
		 "current-context: x\n"
		 "clusters: [{name: c, cluster: {server: '%s', certificate-authority: "
		 "'%s'}}]\n"
		 "contexts: [{name: x, context: {cluster: c}}]\n",
		 cluster.apiserver_url, cluster.ca_file);
	c = client_from_yaml(yaml);
	{
		int rc = kube_list(NULL, c, &configmaps, ns, NULL);

		assert_true(rc == SS_EUNAUTHORIZED || rc == SS_EFORBIDDEN);
	}
	kube_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_get_list_paginated),
		cmocka_unit_test(test_update_stale_version_conflicts),
		cmocka_unit_test(test_patches_and_server_side_apply),
		cmocka_unit_test(test_dry_run_create_persists_nothing),
		cmocka_unit_test(test_status_subresource_and_discovery),
		cmocka_unit_test(test_delete_with_preconditions),
		cmocka_unit_test(test_watch_in_order_and_resume),
		cmocka_unit_test(test_too_old_resource_version_is_gone),
		cmocka_unit_test(test_unprivileged_identity_is_forbidden),
		cmocka_unit_test(test_in_cluster_style_admin),
		cmocka_unit_test(test_service_account_token_and_rbac),
		cmocka_unit_test(test_client_certificate_and_tls_names),
	};
	int rc;

	kube_global_init();
	rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
	kube_global_cleanup();
	return rc;
}
