/*
 * test_informer.c — a controller over ConfigMaps (informer → workqueue →
 * reconcile) against the real API server must end up seeing exactly the
 * API's final state:
 *   - after creates, updates and deletes while it watches;
 *   - after etcd is compacted and the API server restarted, with more
 *     changes (deletes among them) made while its watch is down: it must
 *     relist (a 410, counted in snapstage_watch_restarts_total{reason=gone})
 *     and lose no delete;
 *   - over a list of namespaces (one list/watch each, one cache): it sees
 *     exactly the listed namespaces' objects, never another's, and a relist
 *     after a 410 drops only deletes of its own namespace (no delete is
 *     ever reported for an object of the other listed namespace that still
 *     exists).
 *
 * The reconciler keeps a "model" — what the controller believes — from the
 * informer's cache; the test compares it with a fresh list from the API.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cluster_env.h"
#include "testutil.h"

#include "ctrl/controller.h"
#include "ctrl/informer.h"
#include "ctrl/object.h"
#include "kube/rest.h"
#include "util/error.h"

static const kube_resource configmaps = { "", "v1", "configmaps", true };

static it_cluster cluster;
static kube_client *admin;
static char ns[64], noise_ns[64], ns_b[64];

/* The namespaces the informer under test watches (truth() lists them). */
static const char *watched[2];
static size_t n_watched;

/* What the controller believes: "ns/name" -> data.a, every key it has seen
 * deleted, and every key a delete handler was called for. Guarded by `lock`
 * (reconciles run on two workers). */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *model, *deleted, *delete_events;
static ctrl_informer *informer;

static ctrl_result reconcile(void *payload, const char *key)
{
	char kns[CTRL_KEY_MAX], name[CTRL_KEY_MAX];
	json_t *obj = NULL;

	(void)payload;
	if (ctrl_key_split(key, kns, sizeof(kns), name, sizeof(name)) < 0)
		return ctrl_result_error();
	pthread_mutex_lock(&lock);
	if (ctrl_store_get(&obj, ctrl_informer_store(informer), key) == 0) {
		json_object_set(model, key,
				json_object_get(json_object_get(obj, "data"), "a"));
		json_object_del(deleted, key);
	} else {
		json_object_del(model, key);
		json_object_set_new(deleted, key, json_true());
	}
	pthread_mutex_unlock(&lock);
	json_decref(obj);
	return ctrl_result_done();
}

static void put_cm(const char *in_ns, const char *name, const char *value)
{
	json_t *cm = json_pack("{s:s, s:s, s:{s:s}, s:{s:s}}", "apiVersion", "v1", "kind",
			       "ConfigMap", "metadata", "name", name, "data", "a", value);
	json_t *patch = json_pack("{s:{s:s}}", "data", "a", value);
	int rc = kube_create(NULL, admin, &configmaps, in_ns, cm);

	if (rc == SS_EEXISTS)
		rc = kube_patch(NULL, admin, &configmaps, in_ns, name, KUBE_PATCH_MERGE,
				patch, NULL);
	IT_CHECK(rc);
	json_decref(cm);
	json_decref(patch);
}

static void delete_cm(const char *name)
{
	IT_CHECK(kube_delete(NULL, admin, &configmaps, ns, name, NULL));
}

/* The API's truth as "ns/name" -> data.a, over the watched namespaces. */
static json_t *truth(void)
{
	json_t *items = NULL, *item, *map = json_object();
	char key[CTRL_KEY_MAX];
	size_t i, w;

	for (w = 0; w < n_watched; w++) {
		IT_CHECK(kube_list_all(&items, NULL, admin, &configmaps, watched[w], NULL));
		json_array_foreach(items, i, item)
		{
			IT_CHECK(ctrl_key_of(key, sizeof(key), item));
			json_object_set(map, key,
					json_object_get(json_object_get(item, "data"), "a"));
		}
		json_decref(items);
		items = NULL;
	}
	return map;
}

/* Waits until the model equals the truth; fails after `seconds`. */
static void wait_converged(int seconds)
{
	json_t *want = truth();
	int i;
	bool same = false;

	for (i = 0; i < seconds * 10 && !same; i++) {
		pthread_mutex_lock(&lock);
		same = json_equal(model, want);
		pthread_mutex_unlock(&lock);
		if (!same)
			it_sleep_ms(100);
	}
	if (!same) {
		char *a, *b;

		pthread_mutex_lock(&lock);
		a = json_dumps(model, JSON_SORT_KEYS | JSON_COMPACT);
		pthread_mutex_unlock(&lock);
		b = json_dumps(want, JSON_SORT_KEYS | JSON_COMPACT);
		print_error("not converged after %d s:\n model %s\n truth %s\n", seconds,
			    a, b);
		free(a);
		free(b);
		json_decref(want);
		fail();
	}
	json_decref(want);
}

static bool seen_deleted_in(const char *in_ns, const char *name)
{
	char key[CTRL_KEY_MAX];
	bool yes;

	IT_CHECK(ctrl_key_join(key, sizeof(key), in_ns, name));
	pthread_mutex_lock(&lock);
	yes = json_object_get(deleted, key) != NULL;
	pthread_mutex_unlock(&lock);
	return yes;
}

static bool seen_deleted(const char *name)
{
	return seen_deleted_in(ns, name);
}

/* A handler beside the controller's: every delete the informer reports,
 * at once (a reconcile might run only after a wrong delete was undone). */
static void record_delete(void *payload, const json_t *obj)
{
	char key[CTRL_KEY_MAX];

	(void)payload;
	if (ctrl_key_of(key, sizeof(key), obj) < 0)
		return;
	pthread_mutex_lock(&lock);
	json_object_set_new(delete_events, key, json_true());
	pthread_mutex_unlock(&lock);
}

/* Keys of the model or of reported deletes in namespace `in_ns`. */
static size_t keys_in(const json_t *map, const char *in_ns)
{
	const char *key;
	json_t *v;
	size_t n = 0, len = strlen(in_ns);

	pthread_mutex_lock(&lock);
	json_object_foreach((json_t *)map, key, v)
	{
		if (!strncmp(key, in_ns, len) && key[len] == '/')
			n++;
	}
	pthread_mutex_unlock(&lock);
	return n;
}

static void reset_model(void)
{
	pthread_mutex_lock(&lock);
	json_object_clear(model);
	json_object_clear(deleted);
	json_object_clear(delete_events);
	pthread_mutex_unlock(&lock);
}

static int group_setup(void **state)
{
	(void)state;
	it_cluster_load(&cluster);
	admin = it_client_from_kubeconfig(cluster.kubeconfig);
	it_namespace_create(admin, "ss-inf", ns, sizeof(ns));
	it_namespace_create(admin, "ss-noise", noise_ns, sizeof(noise_ns));
	it_namespace_create(admin, "ss-inf-b", ns_b, sizeof(ns_b));
	model = json_object();
	deleted = json_object();
	delete_events = json_object();
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (!admin)
		return 0;
	it_namespace_delete(admin, ns);
	it_namespace_delete(admin, noise_ns);
	it_namespace_delete(admin, ns_b);
	kube_client_free(admin);
	json_decref(model);
	json_decref(deleted);
	json_decref(delete_events);
	return 0;
}

static void test_converges_through_restart_and_compaction(void **state)
{
	ctrl_metrics *metrics = NULL;
	ctrl_controller *controller = NULL;
	ctrl_controller_opts copts = CTRL_CONTROLLER_OPTS_INIT;
	ctrl_informer_opts iopts = { 0 };
	ctrl_handlers handlers;
	char name[32];
	int i;

	(void)state;
	reset_model();
	watched[0] = ns;
	n_watched = 1;
	for (i = 0; i < 6; i++) { /* there before the informer starts */
		snprintf(name, sizeof(name), "early-%d", i);
		put_cm(ns, name, "0");
	}
	IT_CHECK(ctrl_metrics_new(&metrics));
	copts.name = "configmaps";
	copts.workers = 2;
	copts.reconcile = reconcile;
	copts.metrics = metrics;
	IT_CHECK(ctrl_controller_new(&controller, &copts));
	iopts.client = admin;
	iopts.resource = &configmaps;
	iopts.ns = ns;
	iopts.kind = "ConfigMap";
	iopts.page_size = 4; /* several pages even for a small test */
	iopts.metrics = metrics;
	iopts.backoff_max_ns = SS_NS_PER_SEC;
	IT_CHECK(ctrl_informer_new(&informer, &iopts));
	handlers = ctrl_controller_key_handlers(controller);
	IT_CHECK(ctrl_informer_add_handlers(informer, &handlers));
	IT_CHECK(ctrl_informer_start(informer));
	IT_CHECK(ctrl_informer_wait_synced(informer, 30 * SS_NS_PER_SEC));
	IT_CHECK(ctrl_controller_start(controller));
	wait_converged(20);

	/* Changes while it watches. */
	for (i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "live-%d", i);
		put_cm(ns, name, "1");
	}
	for (i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "live-%d", i);
		put_cm(ns, name, "2");
	}
	delete_cm("early-0");
	delete_cm("live-11");
	wait_converged(20);
	assert_true(seen_deleted("early-0"));
	assert_true(seen_deleted("live-11"));

	/* History moves on elsewhere, etcd forgets it, the API server restarts:
	 * the informer's version is now older than anything served. */
	put_cm(noise_ns, "noise", "x");
	it_etcd_compact(&cluster);
	it_apiserver_restart(&cluster);
	/* Changes the informer has not seen: it is reconnecting. */
	delete_cm("early-1");
	delete_cm("early-2");
	delete_cm("live-10");
	put_cm(ns, "live-0", "3");
	put_cm(ns, "after-restart", "4");
	wait_converged(30);
	assert_true(seen_deleted("early-1"));
	assert_true(seen_deleted("early-2"));
	assert_true(seen_deleted("live-10"));
	assert_true(ctrl_metrics_value(metrics, "snapstage_watch_restarts_total",
				       CTRL_LV("configmaps", "gone")) >= 1);
	print_message("watch restarts: gone=%.0f error=%.0f\n",
		      ctrl_metrics_value(metrics, "snapstage_watch_restarts_total",
					 CTRL_LV("configmaps", "gone")),
		      ctrl_metrics_value(metrics, "snapstage_watch_restarts_total",
					 CTRL_LV("configmaps", "error")));

	/* And it keeps watching after the relist. */
	delete_cm("early-3");
	put_cm(ns, "last", "5");
	wait_converged(20);
	assert_true(seen_deleted("early-3"));

	assert_int_equal(
		ctrl_controller_stop(controller, ss_clock_mono(ss_clock_system()) +
							 5 * SS_NS_PER_SEC),
		0);
	ctrl_informer_free(informer);
	informer = NULL;
	ctrl_controller_free(controller);
	ctrl_metrics_free(metrics);
}

/* One informer over namespaces ns and ns_b (not noise_ns). */
static void test_several_namespaces(void **state)
{
	ctrl_metrics *metrics = NULL;
	ctrl_controller *controller = NULL;
	ctrl_controller_opts copts = CTRL_CONTROLLER_OPTS_INIT;
	ctrl_informer_opts iopts = { 0 };
	ctrl_handlers handlers, deletes = { NULL, NULL, record_delete, NULL };
	const char *names[2];
	char name[32];
	int i;

	(void)state;
	reset_model();
	names[0] = watched[0] = ns;
	names[1] = watched[1] = ns_b;
	n_watched = 2;
	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "multi-%d", i);
		put_cm(ns, name, "a");
		put_cm(ns_b, name, "b");
		put_cm(noise_ns, name, "noise");
	}
	IT_CHECK(ctrl_metrics_new(&metrics));
	copts.name = "configmaps";
	copts.workers = 2;
	copts.reconcile = reconcile;
	copts.metrics = metrics;
	IT_CHECK(ctrl_controller_new(&controller, &copts));
	iopts.client = admin;
	iopts.resource = &configmaps;
	iopts.namespaces = names;
	iopts.n_namespaces = 2;
	iopts.kind = "ConfigMap";
	iopts.page_size = 3;
	iopts.metrics = metrics;
	iopts.backoff_max_ns = SS_NS_PER_SEC;
	IT_CHECK(ctrl_informer_new(&informer, &iopts));
	handlers = ctrl_controller_key_handlers(controller);
	IT_CHECK(ctrl_informer_add_handlers(informer, &handlers));
	IT_CHECK(ctrl_informer_add_handlers(informer, &deletes));
	IT_CHECK(ctrl_informer_start(informer));
	IT_CHECK(ctrl_informer_wait_synced(informer, 30 * SS_NS_PER_SEC));
	IT_CHECK(ctrl_controller_start(controller));
	wait_converged(20);
	assert_true(keys_in(model, ns) >= 5);
	assert_true(keys_in(model, ns_b) >= 5);

	/* Changes in all three while it watches. */
	put_cm(ns_b, "multi-0", "b2");
	put_cm(noise_ns, "noise-live", "x");
	IT_CHECK(kube_delete(NULL, admin, &configmaps, ns_b, "multi-1", NULL));
	delete_cm("multi-1");
	wait_converged(20);
	assert_true(seen_deleted_in(ns_b, "multi-1"));
	assert_true(seen_deleted_in(ns, "multi-1"));

	/* Both watches' versions expire; while they reconnect, deletes in ns
	 * only. Each relist must drop ns's deleted object and nothing of ns_b. */
	it_etcd_compact(&cluster);
	it_apiserver_restart(&cluster);
	delete_cm("multi-2");
	put_cm(ns_b, "multi-3", "b3");
	wait_converged(30);
	assert_true(seen_deleted("multi-2"));
	assert_true(ctrl_metrics_value(metrics, "snapstage_watch_restarts_total",
				       CTRL_LV("configmaps", "gone")) >= 1);
	/* ns_b lost exactly one object (multi-1); no delete was ever reported
	 * for another of its objects, and nothing of noise_ns was seen. */
	assert_int_equal(keys_in(delete_events, ns_b), 1);
	assert_int_equal(keys_in(delete_events, ns), 2);
	assert_int_equal(keys_in(model, noise_ns), 0);
	assert_int_equal(keys_in(delete_events, noise_ns), 0);
	print_message("several namespaces: %zu + %zu objects, gone=%.0f\n",
		      keys_in(model, ns), keys_in(model, ns_b),
		      ctrl_metrics_value(metrics, "snapstage_watch_restarts_total",
					 CTRL_LV("configmaps", "gone")));

	assert_int_equal(
		ctrl_controller_stop(controller, ss_clock_mono(ss_clock_system()) +
							 5 * SS_NS_PER_SEC),
		0);
	ctrl_informer_free(informer);
	informer = NULL;
	ctrl_controller_free(controller);
	ctrl_metrics_free(metrics);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_converges_through_restart_and_compaction),
		cmocka_unit_test(test_several_namespaces),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
